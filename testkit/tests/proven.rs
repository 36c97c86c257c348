//! The JIT loaded with the verifier's facts against the interpreter, on
//! the programs bpfx's verifier accepts: its corpus (`verifier/tests/corpus`,
//! assembly and C) and the repository's C test programs and examples
//! (`tests/build/*.o`, built by `tests/build-progs.sh`). Each packet
//! program runs on every test frame its test run takes
//! ([`generate::test_runs`]) in turn, twice
//! each, on one runtime per engine (map state carries over), and both
//! engines must leave the same results, packets and maps after every frame.
//! Programs of types without a test-run context are counted, not run.

use std::path::Path;

use bpfx_isa::abi::MapType;
use bpfx_isa::{CallTarget, HelperId, Insn, Program};
use bpfx_loader::{LoadOptions, Object};
use bpfx_runtime::context::convert::converts;
use bpfx_testkit::diff::Setup;
use bpfx_testkit::proven::{Compared, Facts};
use bpfx_testkit::{corpus, generate, proven};

/// What the programs of one test came to.
#[derive(Debug, Default)]
struct Tally {
    programs: usize,
    /// Of a type with no test-run context.
    other_types: usize,
    rejected: usize,
    /// Accepted, but the facts do not carry over to the converted program.
    withheld: usize,
    compared: usize,
    /// Accesses the JIT ran unchecked, over the compared programs.
    unchecked: usize,
    /// Lookups in a plain array the facts name (compiled inline).
    inline_lookups: usize,
    /// Programs whose results depend on where memory lies.
    layout_dependent: Vec<String>,
}

impl Tally {
    fn judge(&mut self, program: &Program) -> Result<(), String> {
        self.programs += 1;
        if !converts(program.prog_type) {
            self.other_types += 1;
            return Ok(());
        }
        let v = match proven::verified(program).map_err(|e| format!("{}: {e}", program.name))? {
            Facts::Verified(v) => v,
            Facts::Rejected => {
                self.rejected += 1;
                return Ok(());
            }
            Facts::Withheld => {
                self.withheld += 1;
                return Ok(());
            }
        };
        self.compared += 1;
        self.unchecked += v.proven.safe_access_count();
        self.inline_lookups += v
            .program
            .slots()
            .filter(|(_, i)| **i == Insn::Call(CallTarget::Helper(HelperId(1))))
            .filter_map(|(at, _)| v.proven.call_map(at))
            .filter(|m| v.program.maps.get(m.0 as usize).is_some_and(|m| m.map_type == MapType::Array))
            .count();
        let inputs = generate::test_runs(program.prog_type);
        let setup = Setup { runs: 2, ..Setup::default() };
        match proven::compare(&v, &inputs, &setup).map_err(|e| format!("{}: {e}", program.name))? {
            Compared::Same => {}
            Compared::LayoutDependent => self.layout_dependent.push(program.name.clone()),
        }
        Ok(())
    }

    fn report(&self, what: &str) {
        eprintln!(
            "{what}: {} programs, {} compared with {} accesses unchecked and {} array lookups inline; \
             {} rejected by the verifier, {} accepted with facts that do not carry over to the converted \
             program, {} of types with no test-run context; \
             results depending on where memory lies (not compared): {:?}",
            self.programs,
            self.compared,
            self.unchecked,
            self.inline_lookups,
            self.rejected,
            self.withheld,
            self.other_types,
            self.layout_dependent
        );
    }
}

fn judge_object(tally: &mut Tally, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let object = Object::load(bytes, &LoadOptions::default()).map_err(|e| format!("{}: {e}", path.display()))?;
    object.programs().iter().try_for_each(|p| tally.judge(p).map_err(|e| format!("{}: {e}", path.display())))
}

#[test]
fn the_assembly_corpus_runs_the_same_with_the_verifiers_facts() {
    let files = corpus::files("s");
    if files.is_empty() {
        eprintln!("SKIPPED: no assembly corpus at {}", corpus::dir().display());
        return;
    }
    let mut tally = Tally::default();
    for path in &files {
        let program = corpus::read_asm(path).unwrap_or_else(|e| panic!("{e}"));
        tally.judge(&program).unwrap_or_else(|e| panic!("{e}"));
    }
    tally.report("assembly corpus");
    assert!(tally.compared >= 60 && tally.unchecked >= 60, "too little was compared: {tally:?}");
}

#[test]
fn the_c_corpus_runs_the_same_with_the_verifiers_facts() {
    let files = corpus::files("c");
    if files.is_empty() {
        eprintln!("SKIPPED: no C corpus at {}", corpus::dir().display());
        return;
    }
    if let Some(why) = corpus::clang_missing() {
        eprintln!("SKIPPED: the C corpus needs clang-19 and libbpf's headers: {why}");
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("proven-corpus");
    let mut tally = Tally::default();
    for path in &files {
        let bytes = corpus::build_c(path, &out).unwrap_or_else(|e| panic!("{e}"));
        judge_object(&mut tally, path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    tally.report("C corpus");
    assert!(tally.compared >= 5 && tally.unchecked >= 20, "too little was compared: {tally:?}");
}

#[test]
fn the_test_programs_run_the_same_with_the_verifiers_facts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Some(why) = corpus::clang_missing() {
        eprintln!("SKIPPED: tests/build-progs.sh needs clang-19 and libbpf's headers: {why}");
        return;
    }
    let built = std::process::Command::new(root.join("tests/build-progs.sh")).status().expect("runs build-progs.sh");
    assert!(built.success(), "tests/build-progs.sh failed");
    let mut objects: Vec<_> = std::fs::read_dir(root.join("tests/build"))
        .expect("tests/build was just built")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    objects.sort();
    let mut tally = Tally::default();
    let mut refused = Vec::new();
    for path in &objects {
        let bytes = std::fs::read(path).expect("a built object is readable");
        if let Err(e) = Object::load(&bytes, &LoadOptions::default()) {
            refused.push(format!("{}: {e}", path.display()));
            continue;
        }
        judge_object(&mut tally, path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    tally.report("test programs");
    eprintln!("objects the loader refuses (not run): {refused:#?}");
    assert!(tally.compared >= 5 && tally.inline_lookups >= 1, "too little was compared: {tally:?}");
}
