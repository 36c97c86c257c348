//! The public conformance suite (`../shared/conformance/*.data`, read in
//! place) on every engine: one named test per (engine, file), e.g.
//! `interp/conformance/alu64-arith`. Each file's program (its `-- raw` words, else its
//! `-- asm`) runs with `r1` pointing at its `-- mem` bytes and `r2` their
//! length, and must return its `-- result`. Files that call helper 5 get
//! the suite's own helper 5 (returning its first argument) registered, as
//! the suite requires.

use std::path::{Path, PathBuf};

use bpfx_isa::abi::ProgType;
use bpfx_isa::{CallTarget, HelperId, Insn, Program, RawInsn, asm, decode_slots};
use bpfx_runtime::{Context, Exit, Fault, Runtime, helper_fn};
use libtest_mimic::{Failed, Trial};

use crate::MakeEngine;

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance");

/// The suite's helper 5: returns its first argument.
fn suite_helper_5(_: &mut Runtime, [r1, ..]: [u64; 5]) -> Result<u64, Fault> {
    Ok(r1)
}

/// One test file, split into its sections.
struct TestFile {
    sections: Vec<(String, String)>,
}

impl TestFile {
    fn parse(text: &str) -> TestFile {
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some((_, name)) = line.split_once("--") {
                sections.push((name.trim().to_owned(), String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                let line = line.split('#').next().unwrap_or("");
                body.push_str(line);
                body.push('\n');
            }
        }
        TestFile { sections }
    }

    fn section(&self, name: &str) -> Option<&str> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_str())
    }
}

/// What a file asks for.
struct Case {
    insns: Vec<Insn>,
    mem: Vec<u8>,
    expected: u64,
}

fn parse_number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| e.to_string()),
        None => match t.strip_prefix('-') {
            Some(dec) => dec.parse::<u64>().map(|v| v.wrapping_neg()).map_err(|e| e.to_string()),
            None => t.parse::<u64>().map_err(|e| e.to_string()),
        },
    };
    parsed.map_err(|e| format!("bad number `{t}`: {e}"))
}

fn case(text: &str) -> Result<Case, String> {
    let file = TestFile::parse(text);
    if let Some(error) = file.section("error") {
        return Err(format!("expects an error ({}), which this runner does not check", error.trim()));
    }
    let insns = match file.section("raw") {
        Some(raw) => {
            let slots = raw
                .split_whitespace()
                .map(|w| parse_number(w).map(RawInsn::from_u64))
                .collect::<Result<Vec<_>, _>>()?;
            decode_slots(&slots).map_err(|e| format!("raw section: {e}"))?
        }
        None => {
            let source = file.section("asm").ok_or("no asm or raw section")?;
            asm::assemble(source).map_err(|e| format!("asm section: {e}"))?
        }
    };
    let mem = match file.section("mem") {
        Some(hex) => hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).map_err(|e| format!("mem byte `{b}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let expected = parse_number(file.section("result").ok_or("no result section")?)?;
    Ok(Case { insns, mem, expected })
}

fn run_case(path: &Path, make: MakeEngine) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let case = case(&text)?;
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

fn suite_files() -> Option<Vec<PathBuf>> {
    let dir = Path::new(SUITE);
    if !dir.is_dir() {
        eprintln!("SKIPPED: conformance suite not found at {} (the shared folder is absent)", dir.display());
        return None;
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    paths.sort();
    Some(paths)
}

/// One trial per (engine, file); none, with the reason printed, when the
/// suite is absent.
pub fn trials(engines: &[(&'static str, MakeEngine)]) -> Vec<Trial> {
    let Some(files) = suite_files() else { return Vec::new() };
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
