//! The public conformance suite (`../shared/conformance/*.data`, read in
//! place) on the JIT: one named test per file, `jit/<file>`. Each file's
//! program must return its `-- result` on the JIT, and leave exactly what
//! the interpreter leaves (result, instruction count, memory, maps), so the
//! suite checks the JIT against both the file and the reference engine —
//! and once more with every access unchecked (as if the verifier had
//! proved them all), which a run that does not fault allows.

use std::path::{Path, PathBuf};

use bpfx_isa::abi::ProgType;
use bpfx_isa::{CallTarget, HelperId, Insn, Program};
use bpfx_jit::Jit;
use bpfx_runtime::Exit;
use bpfx_testkit::conformance;
use bpfx_testkit::diff::{self, Input, Setup};
use libtest_mimic::{Arguments, Failed, Trial};

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance");

fn run_case(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let case = conformance::parse(&text)?;
    let suite_helper_5 =
        case.insns.iter().any(|i| matches!(i, Insn::Call(CallTarget::Helper(HelperId(5))) | Insn::Callx { .. }));
    let setup = Setup { suite_helper_5, ..Setup::default() };
    let program = Program::new("conformance", ProgType::Unspec, case.insns);
    let input = Input::Raw(case.mem);
    let (interp, jit) = diff::both(&program, &input, &setup);
    if let Some(d) = diff::difference(&interp, &jit) {
        return Err(d.into());
    }
    if diff::never_faulted(&interp) {
        let proven = diff::every_access_safe(&program);
        let mut engine = Jit::new().map_err(|e| e.to_string())?;
        let unchecked = diff::outcome_proven(&mut engine, &program, Some(&proven), &input, &setup);
        if let Some(d) = diff::difference(&interp, &unchecked) {
            return Err(format!("with every access unchecked: {d}").into());
        }
    }
    jit.load.map_err(|e| format!("load: {e}"))?;
    match &jit.runs[0].exit {
        Exit::Return(r0) if *r0 == case.expected => Ok(()),
        Exit::Return(r0) => Err(format!("r0 = {r0:#x}, expected {:#x}", case.expected).into()),
        exit @ Exit::Fault { .. } => Err(format!("{exit}, expected r0 = {:#x}", case.expected).into()),
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    if let Some(files) = conformance::files(Path::new(SUITE)) {
        assert!(!files.is_empty(), "{SUITE} holds no .data file");
        for path in files {
            let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            let path: PathBuf = path.clone();
            trials.push(Trial::test(format!("jit/{stem}"), move || run_case(&path)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
