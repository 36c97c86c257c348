//! The ELF loader on arbitrary bytes: an error or an object, never a panic.
#![no_main]

use bpfx_loader::{LoadOptions, Object};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = Object::load(data, &LoadOptions::default()) {
        let _ = object.programs();
    }
});
