//! What both engines agree on about a program's code before translating
//! it: its jumps, calls and function references land on instructions, and
//! the value a function reference (`lddw` of a `BPF_PSEUDO_FUNC`) loads.

use bpfx_isa::{Insn, Program};

use crate::engine::LoadError;

/// Instructions a program may have: the ordinal field of a code address.
pub const MAX_INSNS: usize = 1 << 24;

/// A code address is `CODE_TAG | prog << 24 | ordinal`: bits 46..64 the
/// tag, then 22 bits of program id and 24 of the instruction's ordinal. No
/// region holds such an address, so a program cannot read or write through
/// one, and a program that looks at one sees the same value on every engine.
const CODE_TAG: u64 = 0xffff_c000_0000_0000;
const TAG_SHIFT: u32 = 46;
const PROG_BITS: u32 = 22;

/// The code address of instruction `ordinal` of program `prog` (ids past
/// 22 bits wrap; a runtime holds far fewer programs).
pub fn code_addr(prog: u32, ordinal: usize) -> u64 {
    CODE_TAG | (u64::from(prog) & ((1 << PROG_BITS) - 1)) << 24 | ordinal as u64
}

/// The program and instruction ordinal a code address names.
pub fn code_addr_parts(addr: u64) -> Option<(u32, usize)> {
    if addr >> TAG_SHIFT != CODE_TAG >> TAG_SHIFT {
        return None;
    }
    Some((((addr >> 24) & ((1 << PROG_BITS) - 1)) as u32, (addr & (MAX_INSNS as u64 - 1)) as usize))
}

/// Checks control flow: every jump, call and function reference lands on
/// an instruction of the program ([`Insn::branch_offset`] counts from the
/// instruction after it).
pub fn check_targets(program: &Program) -> Result<(), LoadError> {
    if program.insns.len() >= MAX_INSNS {
        return Err(LoadError::TooLarge { slots: program.slot_count(), max: MAX_INSNS - 1 });
    }
    let mut starts = vec![false; program.slot_count()];
    for (at, _) in program.slots() {
        starts[at.index()] = true;
    }
    for (at, insn) in program.slots() {
        if let Some(rel) = insn.branch_offset() {
            let target = i64::from(at.0) + insn.slots() as i64 + rel;
            let lands = usize::try_from(target).ok().and_then(|t| starts.get(t).copied()).unwrap_or(false);
            if !lands {
                let what = match insn {
                    Insn::Call(_) => "call",
                    Insn::LdImm64 { .. } => "function reference",
                    _ => "jump",
                };
                return Err(LoadError::BadTarget { at, what, target });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_addresses_round_trip_and_name_no_data() {
        let addr = code_addr(3, 17);
        assert_eq!(code_addr_parts(addr), Some((3, 17)));
        assert_eq!(code_addr_parts(0x7fff_0000_1000), None);
    }
}
