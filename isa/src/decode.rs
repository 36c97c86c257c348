//! Raw slots to typed instructions, refusing what the kernel refuses at
//! this level (unknown opcodes, reserved fields set, bad registers, a split
//! `lddw`). Semantic rules — reachability, types, bounds — are the
//! verifier's.

use std::fmt;

use crate::insn::*;
use crate::opcode as op;
use crate::raw::{RawInsn, SLOT_SIZE, slots_from_bytes};
use crate::reg::{InsnIdx, Reg};

/// A field of an instruction slot, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Dst,
    Src,
    Off,
    Imm,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Dst => "dst_reg",
            Field::Src => "src_reg",
            Field::Off => "off",
            Field::Imm => "imm",
        })
    }
}

/// Why a slot does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("invalid opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("invalid register r{reg} in {field}")]
    InvalidRegister { field: Field, reg: u8 },
    #[error("reserved field {field} is {value:#x} in opcode {code:#04x}, must be 0")]
    ReservedField { code: u8, field: Field, value: i64 },
    #[error("invalid {field} {value:#x} for opcode {code:#04x}")]
    InvalidField { code: u8, field: Field, value: i64 },
    #[error("lddw is missing its second slot")]
    TruncatedLdImm64,
    #[error("second slot of lddw is not zero but for its imm (code {code:#04x}, regs {regs:#04x}, off {off})")]
    BadLdImm64Tail { code: u8, regs: u8, off: i16 },
    #[error("length {0} bytes is not a multiple of 8")]
    PartialSlot(usize),
}

/// A slot that does not decode, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at insn {at} (byte {:#x})", at.byte_offset())]
pub struct DecodeError {
    pub at: InsnIdx,
    pub kind: DecodeErrorKind,
}

/// Decodes a whole program from its bytes.
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    let slots = slots_from_bytes(bytes).map_err(|len| DecodeError {
        at: InsnIdx((len / SLOT_SIZE) as u32),
        kind: DecodeErrorKind::PartialSlot(len),
    })?;
    decode_slots(&slots)
}

/// Decodes a whole program from its slots.
pub fn decode_slots(slots: &[RawInsn]) -> Result<Vec<Insn>, DecodeError> {
    let mut insns = Vec::with_capacity(slots.len());
    let mut at = 0;
    while at < slots.len() {
        let insn = decode_at(slots, at).map_err(|kind| DecodeError { at: InsnIdx(at as u32), kind })?;
        at += insn.slots();
        insns.push(insn);
    }
    Ok(insns)
}

/// Decodes the instruction that starts at slot `at`.
pub fn decode_at(slots: &[RawInsn], at: usize) -> Result<Insn, DecodeErrorKind> {
    let raw = slots[at];
    let d = Fields(raw);
    match raw.code & op::CLASS_MASK {
        op::ALU => d.alu(Width::W32),
        op::ALU64 => d.alu(Width::W64),
        op::JMP => d.jmp(Width::W64),
        op::JMP32 => d.jmp(Width::W32),
        op::LDX => d.ldx(),
        op::ST => d.st(),
        op::STX => d.stx(),
        op::LD if raw.code == op::LD_IMM64 => {
            let next = slots.get(at + 1).ok_or(DecodeErrorKind::TruncatedLdImm64)?;
            d.ld_imm64(next)
        }
        op::LD => d.ld_packet(),
        _ => unreachable!("the class is three bits"),
    }
}

/// Field checks over one raw slot.
struct Fields(RawInsn);

impl Fields {
    fn unknown(&self) -> DecodeErrorKind {
        DecodeErrorKind::UnknownOpcode(self.0.code)
    }

    fn reg(&self, field: Field) -> Result<Reg, DecodeErrorKind> {
        let n = match field {
            Field::Dst => self.0.dst,
            Field::Src => self.0.src,
            _ => unreachable!("only register fields name registers"),
        };
        Reg::new(n).ok_or(DecodeErrorKind::InvalidRegister { field, reg: n })
    }

    fn dst(&self) -> Result<Reg, DecodeErrorKind> {
        self.reg(Field::Dst)
    }

    fn src(&self) -> Result<Reg, DecodeErrorKind> {
        self.reg(Field::Src)
    }

    /// Requires each of `fields` to be zero.
    fn zero(&self, fields: &[Field]) -> Result<(), DecodeErrorKind> {
        for &field in fields {
            let value = match field {
                Field::Dst => i64::from(self.0.dst),
                Field::Src => i64::from(self.0.src),
                Field::Off => i64::from(self.0.off),
                Field::Imm => i64::from(self.0.imm),
            };
            if value != 0 {
                return Err(DecodeErrorKind::ReservedField { code: self.0.code, field, value });
            }
        }
        Ok(())
    }

    fn invalid(&self, field: Field, value: i64) -> DecodeErrorKind {
        DecodeErrorKind::InvalidField { code: self.0.code, field, value }
    }

    fn size(&self) -> Size {
        match self.0.code & op::SIZE_MASK {
            op::SIZE_B => Size::B,
            op::SIZE_H => Size::H,
            op::SIZE_W => Size::W,
            _ => Size::DW,
        }
    }

    /// The second operand: a register for `BPF_X` (imm must be zero), an
    /// immediate for `BPF_K` (src_reg must be zero).
    fn operand(&self) -> Result<Src, DecodeErrorKind> {
        if self.0.code & op::SRC_X != 0 {
            self.zero(&[Field::Imm])?;
            Ok(Src::Reg(self.src()?))
        } else {
            self.zero(&[Field::Src])?;
            Ok(Src::Imm(self.0.imm))
        }
    }

    fn alu(&self, width: Width) -> Result<Insn, DecodeErrorKind> {
        let r = self.0;
        let operation = r.code & op::OP_MASK;
        let dst = self.dst()?;
        match operation {
            op::ALU_NEG => {
                if r.code & op::SRC_X != 0 {
                    return Err(self.unknown());
                }
                self.zero(&[Field::Src, Field::Off, Field::Imm])?;
                Ok(Insn::Neg { width, dst })
            }
            op::ALU_END => {
                self.zero(&[Field::Src, Field::Off])?;
                let kind = match (width, r.code & op::SRC_X != 0) {
                    (Width::W32, false) => Endian::ToLe,
                    (Width::W32, true) => Endian::ToBe,
                    (Width::W64, false) => Endian::Swap,
                    (Width::W64, true) => return Err(self.unknown()),
                };
                let bits = SwapBits::from_bits(r.imm).ok_or_else(|| self.invalid(Field::Imm, r.imm.into()))?;
                Ok(Insn::Endian { kind, bits, dst })
            }
            _ => {
                let op = AluOp::from_encoding(operation, r.off).ok_or_else(|| {
                    if AluOp::from_encoding(operation, 0).is_some() {
                        self.invalid(Field::Off, r.off.into())
                    } else {
                        self.unknown()
                    }
                })?;
                let src = self.operand()?;
                let sign_extending = matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32);
                if sign_extending && (matches!(src, Src::Imm(_)) || (op == AluOp::MovSx32 && width == Width::W32)) {
                    return Err(self.invalid(Field::Off, r.off.into()));
                }
                Ok(Insn::Alu { width, op, dst, src })
            }
        }
    }

    fn jmp(&self, width: Width) -> Result<Insn, DecodeErrorKind> {
        let r = self.0;
        let operation = r.code & op::OP_MASK;
        let by_reg = r.code & op::SRC_X != 0;
        match (operation, width) {
            (op::JMP_JA, _) if by_reg => Err(self.unknown()),
            (op::JMP_JA, Width::W64) => {
                self.zero(&[Field::Dst, Field::Src, Field::Imm])?;
                Ok(Insn::Ja { off: r.off.into(), wide: false })
            }
            (op::JMP_JA, Width::W32) => {
                self.zero(&[Field::Dst, Field::Src, Field::Off])?;
                Ok(Insn::Ja { off: r.imm, wide: true })
            }
            (op::JMP_CALL | op::JMP_EXIT | op::JMP_JCOND, Width::W32) => Err(self.unknown()),
            (op::JMP_CALL, Width::W64) if by_reg => {
                self.zero(&[Field::Src, Field::Off, Field::Imm])?;
                Ok(Insn::Callx { reg: self.dst()? })
            }
            (op::JMP_CALL, Width::W64) => {
                self.zero(&[Field::Dst])?;
                let target = match r.src {
                    0 => {
                        self.zero(&[Field::Off])?;
                        CallTarget::Helper(HelperId(r.imm as u32))
                    }
                    op::PSEUDO_CALL => {
                        self.zero(&[Field::Off])?;
                        CallTarget::Local(r.imm)
                    }
                    op::PSEUDO_KFUNC_CALL => CallTarget::Kfunc { btf_id: r.imm as u32, module: r.off },
                    other => return Err(self.invalid(Field::Src, other.into())),
                };
                Ok(Insn::Call(target))
            }
            (op::JMP_EXIT, Width::W64) => {
                if by_reg {
                    return Err(self.unknown());
                }
                self.zero(&[Field::Dst, Field::Src, Field::Off, Field::Imm])?;
                Ok(Insn::Exit)
            }
            (op::JMP_JCOND, Width::W64) => {
                if by_reg {
                    return Err(self.unknown());
                }
                if r.src != op::MAY_GOTO {
                    return Err(self.invalid(Field::Src, r.src.into()));
                }
                self.zero(&[Field::Dst, Field::Imm])?;
                Ok(Insn::MayGoto { off: r.off })
            }
            _ => {
                let cond = JmpCond::from_encoding(operation, 0).ok_or_else(|| self.unknown())?;
                let dst = self.dst()?;
                let src = self.operand()?;
                Ok(Insn::Jump { width, cond, dst, src, off: r.off })
            }
        }
    }

    fn ldx(&self) -> Result<Insn, DecodeErrorKind> {
        let size = self.size();
        let signed = match self.0.code & op::MODE_MASK {
            op::MODE_MEM => false,
            op::MODE_MEMSX if size != Size::DW => true,
            _ => return Err(self.unknown()),
        };
        self.zero(&[Field::Imm])?;
        Ok(Insn::Load { size, signed, dst: self.dst()?, src: self.src()?, off: self.0.off })
    }

    fn st(&self) -> Result<Insn, DecodeErrorKind> {
        if self.0.code & op::MODE_MASK != op::MODE_MEM {
            return Err(self.unknown());
        }
        self.zero(&[Field::Src])?;
        Ok(Insn::Store { size: self.size(), dst: self.dst()?, off: self.0.off, src: Src::Imm(self.0.imm) })
    }

    fn stx(&self) -> Result<Insn, DecodeErrorKind> {
        let size = self.size();
        let (dst, src, off) = (self.dst()?, self.src()?, self.0.off);
        match self.0.code & op::MODE_MASK {
            op::MODE_MEM => {
                self.zero(&[Field::Imm])?;
                Ok(Insn::Store { size, dst, off, src: Src::Reg(src) })
            }
            op::MODE_ATOMIC if matches!(size, Size::W | Size::DW) => {
                let op = AtomicOp::from_imm(self.0.imm).ok_or_else(|| self.invalid(Field::Imm, self.0.imm.into()))?;
                Ok(Insn::Atomic { size, op, dst, src, off })
            }
            _ => Err(self.unknown()),
        }
    }

    fn ld_imm64(&self, next: &RawInsn) -> Result<Insn, DecodeErrorKind> {
        let r = self.0;
        self.zero(&[Field::Off])?;
        if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
            return Err(DecodeErrorKind::BadLdImm64Tail {
                code: next.code,
                regs: next.dst | (next.src << 4),
                off: next.off,
            });
        }
        let kind = LdImm64Kind::from_src(r.src).ok_or_else(|| self.invalid(Field::Src, r.src.into()))?;
        if !kind.uses_high_half() && next.imm != 0 {
            return Err(DecodeErrorKind::ReservedField { code: r.code, field: Field::Imm, value: next.imm.into() });
        }
        let imm = u64::from(r.imm as u32) | (u64::from(next.imm as u32) << 32);
        Ok(Insn::LdImm64 { dst: self.dst()?, kind, imm })
    }

    fn ld_packet(&self) -> Result<Insn, DecodeErrorKind> {
        let size = self.size();
        if size == Size::DW {
            return Err(self.unknown());
        }
        let mode = match self.0.code & op::MODE_MASK {
            op::MODE_ABS => {
                self.zero(&[Field::Src])?;
                PacketLoad::Abs
            }
            op::MODE_IND => PacketLoad::Ind(self.src()?),
            _ => return Err(self.unknown()),
        };
        self.zero(&[Field::Dst, Field::Off])?;
        Ok(Insn::PacketLoad { mode, size, imm: self.0.imm })
    }
}
