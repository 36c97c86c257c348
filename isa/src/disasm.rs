//! Instructions to text, in LLVM's BPF assembly syntax as `llvm-objdump-19 -d
//! --no-show-raw-insn` prints it, and listings in objdump's shape.
//!
//! What it is: `Display` for [`Insn`] and [`Listing`], a slot-numbered listing
//! with symbol headers, jump-target annotations and relocation notes. The
//! text of every instruction form is checked against `llvm-objdump-19` by
//! `isa/tests/disasm.rs`.
//!
//! Where LLVM's text drops information, bpfx prints its own forms so that
//! the assembler (`crate::asm`) reads back exactly the same instruction:
//!
//! | instruction                          | llvm-objdump-19          | bpfx                          |
//! |--------------------------------------|--------------------------|-------------------------------|
//! | bpf-to-bpf call (`src_reg` 1)        | `call 0x3`               | `call local +0x3`             |
//! | kfunc call (`src_reg` 2)             | `call 0x1234`            | `call kfunc 0x1234[, 0x1]`    |
//! | `lddw` with a pseudo `src_reg`       | `ld_pseudo r2, 0x2, 0x3` | `ld_pseudo r2, 0x2, 0x3, 0x10` when the high half is non-zero |
//! | `BPF_IND` packet load with an `imm`  | `r0 = *(u8 *)skb[r3]`    | `r0 = *(u8 *)skb[r3 + 0x4]`   |
//!
//! 32-bit atomics other than a plain `lock ... += r2` are printed in the form
//! objdump uses with `--mattr=+alu32` (`w2 = atomic_fetch_add((u32 *)(r1 +
//! 0x0), w2)`): without that feature objdump prints `<unknown>` for them, or
//! drops the fetch flag of `atomic_fetch_add`.
//!
//! What it is not: an assembler (that is `crate::asm`), and not ELF-aware:
//! symbols and relocations come from the caller as slot-indexed text.

use std::fmt;

use crate::insn::*;
use crate::program::with_slots;
use crate::raw::SLOT_SIZE;
use crate::reg::{InsnIdx, Reg};

/// A signed immediate as LLVM prints it: `0x3`, `-0x3`.
struct Hex(i64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 { write!(f, "-{:#x}", self.0.unsigned_abs()) } else { write!(f, "{:#x}", self.0) }
    }
}

/// A relative offset with its sign always shown: `+0x3`, `-0x2`, `+0x0`.
struct Rel(i64);

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 { write!(f, "-{:#x}", self.0.unsigned_abs()) } else { write!(f, "+{:#x}", self.0) }
    }
}

/// A memory operand's base and offset: `r10 - 0x4`, `r1 + 0x0`.
struct Addr(Reg, i16);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.1 < 0 { '-' } else { '+' };
        write!(f, "{} {sign} {:#x}", self.0, self.1.unsigned_abs())
    }
}

/// A register as an operation of `width` names it: `w1` or `r1`.
struct WReg(Width, Reg);

impl fmt::Display for WReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Width::W32 => write!(f, "w{}", self.1.num()),
            Width::W64 => write!(f, "r{}", self.1.num()),
        }
    }
}

struct Operand(Width, Src);

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Src::Reg(reg) => WReg(self.0, reg).fmt(f),
            Src::Imm(imm) => Hex(imm.into()).fmt(f),
        }
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Alu { width, op, dst, src } => {
                let dst = WReg(width, dst);
                let src = Operand(width, src);
                match op {
                    // LLVM writes the sign-extension as a cast glued to the source.
                    AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => write!(f, "{dst} {}{src}", op.llvm_op()),
                    _ => write!(f, "{dst} {} {src}", op.llvm_op()),
                }
            }
            Insn::Neg { width, dst } => write!(f, "{0} = -{0}", WReg(width, dst)),
            Insn::Endian { kind, bits, dst } => {
                write!(f, "{dst} = {}{} {dst}", kind.name(), bits.bits())
            }
            Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm } => write!(f, "{dst} = {} ll", Hex(imm as i64)),
            Insn::LdImm64 { dst, kind, imm } => {
                // objdump separates the mnemonic with a tab here, unlike every other form.
                write!(f, "ld_pseudo\t{dst}, {:#x}, {:#x}", kind as u8, imm as u32)?;
                match (imm >> 32) as u32 {
                    0 => Ok(()),
                    high => write!(f, ", {high:#x}"),
                }
            }
            Insn::Load { size, signed, dst, src, off } => {
                write!(f, "{dst} = *({} *)({})", size.c_type(signed), Addr(src, off))
            }
            Insn::Store { size, dst, off, src } => {
                write!(f, "*({} *)({}) = {}", size.c_type(false), Addr(dst, off), Operand(Width::W64, src))
            }
            Insn::Atomic { size, op, dst, src, off } => atomic(f, size, op, Addr(dst, off), src),
            Insn::Ja { off, wide: false } => write!(f, "goto {}", Rel(off.into())),
            Insn::Ja { off, wide: true } => write!(f, "gotol {}", Rel(off.into())),
            Insn::Jump { width, cond, dst, src, off } => {
                write!(f, "if {} {} {} goto {}", WReg(width, dst), cond.llvm_op(), Operand(width, src), Rel(off.into()))
            }
            Insn::MayGoto { off } => write!(f, "may_goto {}", Rel(off.into())),
            Insn::Call(CallTarget::Helper(HelperId(id))) => write!(f, "call {}", Hex((id as i32).into())),
            Insn::Call(CallTarget::Local(off)) => write!(f, "call local {}", Rel(off.into())),
            Insn::Call(CallTarget::Kfunc { btf_id, module }) => {
                write!(f, "call kfunc {}", Hex((btf_id as i32).into()))?;
                if module != 0 { write!(f, ", {}", Hex(module.into())) } else { Ok(()) }
            }
            Insn::Callx { reg } => write!(f, "callx {reg}"),
            Insn::Exit => f.write_str("exit"),
            Insn::PacketLoad { mode, size, imm } => {
                write!(f, "r0 = *({} *)skb[", size.c_type(false))?;
                match mode {
                    PacketLoad::Abs => write!(f, "{}]", Hex(imm.into())),
                    PacketLoad::Ind(reg) if imm == 0 => write!(f, "{reg}]"),
                    PacketLoad::Ind(reg) => {
                        let sign = if imm < 0 { '-' } else { '+' };
                        write!(f, "{reg} {sign} {:#x}]", imm.unsigned_abs())
                    }
                }
            }
        }
    }
}

fn atomic(f: &mut fmt::Formatter<'_>, size: Size, op: AtomicOp, addr: Addr, src: Reg) -> fmt::Result {
    let ty = size.c_type(false);
    // objdump's default (non-alu32) decoder knows only the 32-bit plain add,
    // and names its source with an `r`; every other 32-bit atomic has only
    // the alu32 form, with `w` registers.
    let (width, suffix) = match size {
        Size::DW => (Width::W64, "_64"),
        _ => (Width::W32, "32_32"),
    };
    let reg = WReg(width, src);
    match op {
        AtomicOp::Add if size != Size::DW => write!(f, "lock *({ty} *)({addr}) {} {src}", op.llvm_op()),
        AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => {
            write!(f, "lock *({ty} *)({addr}) {} {reg}", op.llvm_op())
        }
        AtomicOp::FetchAdd | AtomicOp::FetchOr | AtomicOp::FetchAnd | AtomicOp::FetchXor => {
            write!(f, "{reg} = {}(({ty} *)({addr}), {reg})", op.llvm_op())
        }
        AtomicOp::Xchg => write!(f, "{reg} = {}{suffix}({addr}, {reg})", op.llvm_op()),
        AtomicOp::CmpXchg => {
            let r0 = WReg(width, Reg::R0);
            write!(f, "{r0} = {}{suffix}({addr}, {r0}, {reg})", op.llvm_op())
        }
    }
}

/// The slot a jump lands on, as objdump computes it: in bytes, wrapping, so a
/// jump before the start of the program lands near `u64::MAX`.
fn jump_target(at: InsnIdx, insn: &Insn) -> Option<u64> {
    let off = match *insn {
        Insn::Ja { off, .. } => i64::from(off),
        Insn::Jump { off, .. } | Insn::MayGoto { off } => i64::from(off),
        // objdump annotates branches only, not calls or `lddw` of a function.
        _ => return None,
    };
    let next = (at.byte_offset() + insn.slots() * SLOT_SIZE) as u64;
    Some(next.wrapping_add((off as u64).wrapping_mul(SLOT_SIZE as u64)))
}

/// A slot-numbered listing of a sequence of instructions, in the shape of
/// `llvm-objdump -dr --no-show-raw-insn`'s body of a section:
///
/// ```text
///
/// 0000000000000000 <prog>:
///        0:   r1 = 0x0 ll
///             0000000000000000:  R_BPF_64_64  counts
///        2:   if r0 == 0x0 goto +0x1 <prog+0x20>
/// ```
///
/// (objdump's separators, reproduced exactly, are tabs: after the slot
/// number's colon, before a note and between a relocation's type and symbol.)
///
/// Labels name slots: each gets a header line, and jumps are annotated with
/// the last label at or before their target (`<name>` or `<name+0xbytes>`).
/// Several labels on one slot behave as in objdump: the greatest name wins.
/// Notes are printed after the instruction that covers their slot, prefixed
/// by the slot's byte offset (relocations, in objdump's format).
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    insns: &'a [Insn],
    labels: Vec<(InsnIdx, &'a str)>,
    notes: Vec<(InsnIdx, &'a str)>,
}

impl<'a> Listing<'a> {
    pub fn new(insns: &'a [Insn]) -> Self {
        Listing { insns, labels: Vec::new(), notes: Vec::new() }
    }

    /// Names slot `at` (a function symbol or a label).
    pub fn label(mut self, at: InsnIdx, name: &'a str) -> Self {
        self.labels.push((at, name));
        self
    }

    /// Adds a note for slot `at`, such as `R_BPF_64_64\tcounts`.
    pub fn note(mut self, at: InsnIdx, text: &'a str) -> Self {
        self.notes.push((at, text));
        self
    }
}

/// The label objdump prints in slot `at`'s header, if any: of the labels
/// (sorted by slot, then name) on that slot, the last.
fn header<'a>(labels: &[(InsnIdx, &'a str)], at: InsnIdx) -> Option<&'a str> {
    let end = labels.partition_point(|&(slot, _)| slot <= at);
    labels[..end].last().filter(|(slot, _)| *slot == at).map(|&(_, name)| name)
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut labels = self.labels.clone();
        labels.sort();
        let mut notes = self.notes.clone();
        notes.sort_by_key(|&(at, _)| at);
        let mut notes = notes.into_iter().peekable();
        let last = self.insns.len().checked_sub(1);
        for (n, (at, insn)) in with_slots(self.insns).enumerate() {
            if let Some(name) = header(&labels, at) {
                write!(f, "\n{:016x} <{name}>:\n", at.byte_offset())?;
            }
            write!(f, "{:>8}:\t{insn}", at.0)?;
            if let Some(target) = jump_target(at, insn) {
                let end = labels.partition_point(|&(slot, _)| slot.byte_offset() as u64 <= target);
                if let Some(&(slot, name)) = labels[..end].last() {
                    match target.wrapping_sub(slot.byte_offset() as u64) {
                        0 => write!(f, " <{name}>")?,
                        delta => write!(f, " <{name}+{delta:#x}>")?,
                    }
                }
            }
            writeln!(f)?;
            let covered = at.0 + insn.slots() as u32;
            while let Some((slot, text)) = notes.next_if(|&(slot, _)| slot.0 < covered || Some(n) == last) {
                writeln!(f, "\t\t{:016x}:  {text}", slot.byte_offset())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_follow_the_instruction_covering_their_slot() {
        let insns = [Insn::LdImm64 { dst: Reg::R1, kind: LdImm64Kind::Imm, imm: 0 }, Insn::Exit];
        let listing = Listing::new(&insns).note(InsnIdx(1), "second slot").label(InsnIdx(0), "f").to_string();
        assert_eq!(
            listing,
            "\n0000000000000000 <f>:\n       0:\tr1 = 0x0 ll\n\t\t0000000000000008:  second slot\n       2:\texit\n"
        );
    }
}
