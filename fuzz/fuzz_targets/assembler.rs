//! The assembler on arbitrary text: an error or instructions, never a
//! panic; what it assembles encodes, decodes back to the same instructions
//! and reassembles from its disassembly.
#![no_main]

use bpfx_isa::{asm, decode_bytes, encode_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(insns) = asm::assemble(text) else { return };
    let bytes = encode_bytes(&insns);
    assert_eq!(decode_bytes(&bytes).expect("assembled code decodes"), insns);
    let listing: String = insns.iter().map(|i| format!("{i}\n")).collect();
    if let Ok(again) = asm::assemble(&listing) {
        assert_eq!(encode_bytes(&again), bytes, "{listing}");
    }
});
