//! Typed instructions to raw slots: the inverse of [`crate::decode`].

use crate::insn::*;
use crate::opcode as op;
use crate::raw::{RawInsn, slots_to_bytes};
use crate::reg::Reg;

impl Insn {
    /// Appends the instruction's slots (one, or two for `lddw`) to `out`.
    pub fn encode_into(&self, out: &mut Vec<RawInsn>) {
        let raw = |code: u8, dst: Reg, src: u8, off: i16, imm: i32| RawInsn::new(code, dst.num(), src, off, imm);
        let zero = Reg::R0;
        match *self {
            Insn::Alu { width, op, dst, src } => {
                let (bits, off) = op.encoding();
                let (x, src, imm) = operand(src);
                out.push(raw(alu_class(width) | bits | x, dst, src, off, imm));
            }
            Insn::Neg { width, dst } => out.push(raw(alu_class(width) | op::ALU_NEG, dst, 0, 0, 0)),
            Insn::Endian { kind, bits, dst } => {
                let code = match kind {
                    Endian::ToLe => op::ALU | op::ALU_END,
                    Endian::ToBe => op::ALU | op::ALU_END | op::SRC_X,
                    Endian::Swap => op::ALU64 | op::ALU_END,
                };
                out.push(raw(code, dst, 0, 0, bits.bits() as i32));
            }
            Insn::LdImm64 { dst, kind, imm } => {
                out.push(raw(op::LD_IMM64, dst, kind as u8, 0, imm as u32 as i32));
                out.push(RawInsn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32));
            }
            Insn::Load { size, signed, dst, src, off } => {
                let mode = if signed { op::MODE_MEMSX } else { op::MODE_MEM };
                out.push(raw(op::LDX | mode | size_bits(size), dst, src.num(), off, 0));
            }
            Insn::Store { size, dst, off, src: Src::Imm(imm) } => {
                out.push(raw(op::ST | op::MODE_MEM | size_bits(size), dst, 0, off, imm));
            }
            Insn::Store { size, dst, off, src: Src::Reg(src) } => {
                out.push(raw(op::STX | op::MODE_MEM | size_bits(size), dst, src.num(), off, 0));
            }
            Insn::Atomic { size, op: atomic, dst, src, off } => {
                out.push(raw(op::STX | op::MODE_ATOMIC | size_bits(size), dst, src.num(), off, atomic.imm()));
            }
            Insn::Ja { off, wide: false } => out.push(raw(op::JMP | op::JMP_JA, zero, 0, off as i16, 0)),
            Insn::Ja { off, wide: true } => out.push(raw(op::JMP32 | op::JMP_JA, zero, 0, 0, off)),
            Insn::Jump { width, cond, dst, src, off } => {
                let class = match width {
                    Width::W32 => op::JMP32,
                    Width::W64 => op::JMP,
                };
                let (x, src, imm) = operand(src);
                out.push(raw(class | cond.encoding().0 | x, dst, src, off, imm));
            }
            Insn::MayGoto { off } => out.push(raw(op::JMP | op::JMP_JCOND, zero, op::MAY_GOTO, off, 0)),
            Insn::Call(target) => {
                let (src, off, imm) = match target {
                    CallTarget::Helper(HelperId(id)) => (0, 0, id as i32),
                    CallTarget::Local(rel) => (op::PSEUDO_CALL, 0, rel),
                    CallTarget::Kfunc { btf_id, module } => (op::PSEUDO_KFUNC_CALL, module, btf_id as i32),
                };
                out.push(raw(op::JMP | op::JMP_CALL, zero, src, off, imm));
            }
            Insn::Callx { reg } => out.push(raw(op::JMP | op::JMP_CALL | op::SRC_X, reg, 0, 0, 0)),
            Insn::Exit => out.push(raw(op::JMP | op::JMP_EXIT, zero, 0, 0, 0)),
            Insn::PacketLoad { mode, size, imm } => {
                let (mode, src) = match mode {
                    PacketLoad::Abs => (op::MODE_ABS, 0),
                    PacketLoad::Ind(reg) => (op::MODE_IND, reg.num()),
                };
                out.push(raw(op::LD | mode | size_bits(size), zero, src, 0, imm));
            }
        }
    }

    /// The instruction's slots.
    pub fn encode(&self) -> Vec<RawInsn> {
        let mut out = Vec::with_capacity(self.slots());
        self.encode_into(&mut out);
        out
    }
}

/// Encodes a sequence of instructions into slots.
pub fn encode_slots(insns: &[Insn]) -> Vec<RawInsn> {
    let mut out = Vec::with_capacity(insns.len());
    for insn in insns {
        insn.encode_into(&mut out);
    }
    out
}

/// Encodes a sequence of instructions into little-endian bytes.
pub fn encode_bytes(insns: &[Insn]) -> Vec<u8> {
    slots_to_bytes(&encode_slots(insns))
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => op::ALU,
        Width::W64 => op::ALU64,
    }
}

fn size_bits(size: Size) -> u8 {
    match size {
        Size::B => op::SIZE_B,
        Size::H => op::SIZE_H,
        Size::W => op::SIZE_W,
        Size::DW => op::SIZE_DW,
    }
}

/// The source bit, src_reg and imm for a second operand.
fn operand(src: Src) -> (u8, u8, i32) {
    match src {
        Src::Reg(reg) => (op::SRC_X, reg.num(), 0),
        Src::Imm(imm) => (0, 0, imm),
    }
}
