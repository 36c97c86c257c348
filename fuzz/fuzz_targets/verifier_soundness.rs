//! Verifier soundness: a program the verifier accepts never faults on the
//! interpreter (running out of the instruction budget aside, which is a
//! limit of the run, not of the program).
#![no_main]

use arbitrary::Unstructured;
use bpfx_interpreter::Interpreter;
use bpfx_runtime::{Exit, Fault};
use bpfx_testkit::{diff, generate};
use bpfx_verifier::{Options, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = generate::program(&mut Unstructured::new(data)) else { return };
    if !verify(&g.program, &Options { max_processed: 100_000, ..Options::default() }).accepted() {
        return;
    }
    let out = diff::outcome(&mut Interpreter::new(), &g.program, &g.input, &generate::setup());
    for run in &out.runs {
        if let Exit::Fault { at, fault } = &run.exit {
            assert!(matches!(fault, Fault::BudgetExhausted { .. }), "accepted program faulted at {at}: {fault}");
        }
    }
});
