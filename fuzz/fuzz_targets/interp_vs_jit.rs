//! Interpreter vs JIT on generated programs and inputs: any difference in
//! what the runs leave behind is a bug (see `bpfx_testkit::diff`). When the
//! verifier accepts the program, the JIT runs it a second time with the
//! verifier's facts (proved accesses unchecked, array lookups inlined), as
//! `bpfx run` loads it: a difference there is a JIT or a verifier bug.
#![no_main]

use arbitrary::Unstructured;
use bpfx_testkit::{diff, generate, proven};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = generate::program(&mut Unstructured::new(data)) else { return };
    let setup = generate::setup();
    if let Err(d) = diff::check(&g.program, &g.input, &setup) {
        panic!("{d}");
    }
    if let Err(d) = proven::check(&g.program, &g.input, &setup) {
        panic!("{d}");
    }
});
