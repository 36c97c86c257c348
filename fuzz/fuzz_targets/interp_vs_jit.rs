//! Interpreter vs JIT on generated programs and inputs: any difference in
//! what the runs leave behind is a bug (see `bpfx_testkit::diff`).
#![no_main]

use arbitrary::Unstructured;
use bpfx_testkit::{diff, generate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = generate::program(&mut Unstructured::new(data)) else { return };
    if let Err(d) = diff::check(&g.program, &g.input, &generate::setup()) {
        panic!("{d}");
    }
});
