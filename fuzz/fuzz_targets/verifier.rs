//! The verifier on generated programs: a report, never a panic.
#![no_main]

use arbitrary::Unstructured;
use bpfx_testkit::generate;
use bpfx_verifier::{Options, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = generate::program(&mut Unstructured::new(data)) else { return };
    let _ = verify(&g.program, &Options { max_processed: 100_000, ..Options::default() });
});
