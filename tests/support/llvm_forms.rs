//! The one statement of where bpfx's disassembly may differ from
//! `llvm-objdump-19 -d --no-show-raw-insn`, shared by the tests that compare
//! them (`isa/tests/disasm.rs` over every instruction form, the CLI's golden
//! tests over every test object).
//!
//! Each rule names an instruction whose LLVM text loses information
//! (bpfx prints a lossless form the assembler reads back), or one that
//! objdump's default decoder cannot print (32-bit atomics, which objdump
//! prints only with `--mattr=+alu32`). Everything else must be identical.

/// Which objdump run prints the line bpfx's line must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objdump {
    /// `llvm-objdump-19 -d --no-show-raw-insn`.
    Default,
    /// The same with `--mattr=+alu32`.
    Alu32,
}

/// The line objdump prints for a line of bpfx's listing, and which run
/// prints it. Listing lines that are not instructions map to themselves.
pub fn objdump_line(bpfx: &str) -> (Objdump, String) {
    let Some((slot, text)) = bpfx.split_once(":\t").filter(|(slot, _)| is_slot(slot)) else {
        return (Objdump::Default, bpfx.to_string());
    };
    let (source, text) = objdump_text(text);
    (source, format!("{slot}:\t{text}"))
}

fn is_slot(s: &str) -> bool {
    let s = s.trim_start();
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The instruction text (after the slot number) objdump prints for bpfx's.
fn objdump_text(text: &str) -> (Objdump, String) {
    // A bpf-to-bpf call: objdump prints the bare offset, unsigned ones without
    // their `+` (`call local +0x3` is `call 0x3`).
    if let Some(off) = text.strip_prefix("call local ") {
        return (Objdump::Default, format!("call {}", off.strip_prefix('+').unwrap_or(off)));
    }
    // A kfunc call: objdump prints the BTF id only, not the module index.
    if let Some(rest) = text.strip_prefix("call kfunc ") {
        let id = rest.split(',').next().unwrap_or(rest);
        return (Objdump::Default, format!("call {id}"));
    }
    // `lddw` with a pseudo source: objdump drops the high half of the immediate.
    if let Some(operands) = text.strip_prefix("ld_pseudo\t") {
        let kept: Vec<&str> = operands.split(", ").take(3).collect();
        return (Objdump::Default, format!("ld_pseudo\t{}", kept.join(", ")));
    }
    // An indirect packet load: objdump drops the immediate added to the register.
    if let Some((head, index)) = text.split_once("skb[")
        && let Some((reg, _)) = index.split_once(' ')
        && reg.starts_with('r')
    {
        return (Objdump::Default, format!("{head}skb[{reg}]"));
    }
    let atomic32 = text.contains("(u32 *)") && (text.starts_with("lock ") || text.contains("atomic_fetch_"));
    let plain_add = text.starts_with("lock ") && text.contains(" += r");
    if (atomic32 && !plain_add) || text.contains("xchg32_32(") {
        return (Objdump::Alu32, text.to_string());
    }
    (Objdump::Default, text.to_string())
}
