//! Soundness: whenever bpfx accepts a generated program, running it in the
//! interpreter (the reference engine, every access checked) never faults.
//! Programs come from `bpfx_testkit::generate` over bytes from a fixed
//! seed, so a failure reproduces; an input that ever turns up a fault is to
//! be saved as a file in `tests/soundness/`, which is replayed first.

use arbitrary::Unstructured;
use bpfx_interpreter::Interpreter;
use bpfx_runtime::{Config, Exit};
use bpfx_testkit::diff::{Setup, outcome};
use bpfx_testkit::generate;
use bpfx_verifier::{Options, verify};

/// Generated programs tried per test run.
const CASES: u64 = 50_000;

/// A deterministic byte stream (xorshift64*) for one case.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Checks one input; `Some(true)` when bpfx accepted the program.
fn check(data: &[u8]) -> Result<Option<bool>, String> {
    let Ok(g) = generate::program(&mut Unstructured::new(data)) else { return Ok(None) };
    let report = verify(&g.program, &Options::default());
    if !report.accepted() {
        return Ok(Some(false));
    }
    // The kernel's budget bounds every path the verifier explored.
    let setup =
        Setup { config: Config { insn_budget: 1_000_000, ..Config::default() }, suite_helper_5: false, runs: 2 };
    let out = outcome(&mut Interpreter::new(), &g.program, &g.input, &setup);
    let listing = bpfx_isa::disasm::Listing::new(&g.program.insns).to_string();
    if let Err(e) = &out.load {
        return Err(format!("bpfx accepted a program the interpreter refuses to load: {e}\n{listing}"));
    }
    for run in &out.runs {
        if let Exit::Fault { .. } = run.exit {
            return Err(format!("bpfx accepted a program that faults: {}\n{listing}", run.exit));
        }
    }
    Ok(Some(true))
}

#[test]
fn accepted_programs_never_fault_in_the_interpreter() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/soundness");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).expect("regression input is readable");
            if let Err(why) = check(&data) {
                panic!("{}: {why}", e.path().display());
            }
        }
    }
    let mut accepted = 0;
    for seed in 0..CASES {
        let data = bytes(seed, 512);
        match check(&data) {
            Ok(Some(true)) => accepted += 1,
            Ok(_) => {}
            Err(why) => panic!("seed {seed}: {why}"),
        }
    }
    eprintln!("soundness: {accepted} of {CASES} generated programs accepted; none faulted");
    assert!(accepted > 0, "no generated program was accepted, so nothing was checked");
}
