//! The public conformance suite (`../shared/conformance/*.data`, read in
//! place) on every engine: one named test per (engine, file), e.g.
//! `interp/conformance/alu64-arith`. Each file's program (its `-- raw` words, else its
//! `-- asm`) runs with `r1` pointing at its `-- mem` bytes and `r2` their
//! length, and must return its `-- result`. Files that call helper 5 get
//! the suite's own helper 5 (returning its first argument) registered, as
//! the suite requires.

use std::path::Path;

use bpfx_isa::abi::ProgType;
use bpfx_isa::{CallTarget, HelperId, Insn, Program};
use bpfx_runtime::{Context, Exit, Fault, Runtime, helper_fn};
use bpfx_testkit::conformance;
use libtest_mimic::{Failed, Trial};

use crate::MakeEngine;

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance");

/// The suite's helper 5: returns its first argument.
fn suite_helper_5(_: &mut Runtime, [r1, ..]: [u64; 5]) -> Result<u64, Fault> {
    Ok(r1)
}

fn run_case(path: &Path, make: MakeEngine) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let case = conformance::parse(&text)?;
    let mut rt = Runtime::default();
    let calls_5 =
        case.insns.iter().any(|i| matches!(i, Insn::Call(CallTarget::Helper(HelperId(5))) | Insn::Callx { .. }));
    if calls_5 {
        rt.register_helper(HelperId(5), helper_fn!(HelperId(5), suite_helper_5))
            .map_err(|id| format!("helper {id:?}"))?;
    }
    let mut engine = make();
    let program = Program::new("conformance", ProgType::Unspec, case.insns);
    let prog = engine.load(&mut rt, &program).map_err(|e| format!("load: {e}"))?;
    let mut ctx = Context::raw(&case.mem);
    let result = engine.run(&mut rt, prog, &mut ctx).map_err(|e| format!("run: {e}"))?;
    match result.exit {
        Exit::Return(r0) if r0 == case.expected => Ok(()),
        Exit::Return(r0) => Err(format!("r0 = {r0:#x}, expected {:#x}", case.expected).into()),
        Exit::Fault { .. } => Err(format!("{}, expected r0 = {:#x}", result.exit, case.expected).into()),
    }
}

/// One trial per (engine, file); none, with the reason printed, when the
/// suite is absent.
pub fn trials(engines: &[(&'static str, MakeEngine)]) -> Vec<Trial> {
    let Some(files) = conformance::files(Path::new(SUITE)) else { return Vec::new() };
    assert!(!files.is_empty(), "{SUITE} holds no .data file");
    let mut trials = Vec::new();
    for &(engine, make) in engines {
        for path in &files {
            let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            let path = path.clone();
            trials.push(Trial::test(format!("{engine}/conformance/{stem}"), move || run_case(&path, make)));
        }
    }
    trials
}
