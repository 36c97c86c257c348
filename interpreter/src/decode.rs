//! Pre-decoding: a [`Program`] becomes a flat array of [`Op`]s once, at
//! load, so running it needs no decoding, allocation or lookup.
//!
//! Each `Op` names one specialised operation ([`Kind`]: the width, the
//! operand kind and the operation folded into one byte, so the run loop is
//! a single `match`), with jump and call targets turned into op indices and
//! every constant resolved (map handles, map value addresses, helper
//! functions, callback addresses). A last `FellOff` op catches a program
//! that runs past its end.

use std::sync::atomic::AtomicU8;

use bpfx_isa::{
    AluOp, AtomicOp, CallTarget, Endian, Insn, InsnIdx, JmpCond, LdImm64Kind, PacketLoad, Program, Size, Src, SwapBits,
    Width,
};
use bpfx_runtime::code::code_addr;
use bpfx_runtime::{HelperFn, LoadError, Runtime};

macro_rules! kinds {
    ($($k:ident,)*) => {
        /// A specialised operation. `I` and `R` suffixes: immediate or
        /// register source; `64`/`32`: the width.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Kind { $($k,)* }
    };
}

kinds! {
    Add64I, Add64R, Sub64I, Sub64R, Mul64I, Mul64R, Div64I, Div64R, SDiv64I, SDiv64R,
    Mod64I, Mod64R, SMod64I, SMod64R, Or64I, Or64R, And64I, And64R, Xor64I, Xor64R,
    Lsh64I, Lsh64R, Rsh64I, Rsh64R, Arsh64I, Arsh64R, Mov64I, Mov64R, MovSx8_64, MovSx16_64, MovSx32_64,
    Add32I, Add32R, Sub32I, Sub32R, Mul32I, Mul32R, Div32I, Div32R, SDiv32I, SDiv32R,
    Mod32I, Mod32R, SMod32I, SMod32R, Or32I, Or32R, And32I, And32R, Xor32I, Xor32R,
    Lsh32I, Lsh32R, Rsh32I, Rsh32R, Arsh32I, Arsh32R, Mov32R, MovSx8_32, MovSx16_32,
    Neg64, Neg32, Zext16, Zext32, Swap16, Swap32, Swap64,
    LdxB, LdxH, LdxW, LdxDW, LdxSB, LdxSH, LdxSW,
    StB, StH, StW, StDW, StxB, StxH, StxW, StxDW,
    AtomicW, AtomicDW,
    Ja,
    Jeq64I, Jeq64R, Jgt64I, Jgt64R, Jge64I, Jge64R, Jset64I, Jset64R, Jne64I, Jne64R,
    Jsgt64I, Jsgt64R, Jsge64I, Jsge64R, Jlt64I, Jlt64R, Jle64I, Jle64R, Jslt64I, Jslt64R, Jsle64I, Jsle64R,
    Jeq32I, Jeq32R, Jgt32I, Jgt32R, Jge32I, Jge32R, Jset32I, Jset32R, Jne32I, Jne32R,
    Jsgt32I, Jsgt32R, Jsge32I, Jsge32R, Jlt32I, Jlt32R, Jle32I, Jle32R, Jslt32I, Jslt32R, Jsle32I, Jsle32R,
    MayGoto, CallHelper, CallLocal, Callx, Exit, PacketLoad, FellOff,
}

/// One pre-decoded operation. `off` is a memory offset, or the op index a
/// jump or local call goes to; `imm` an operand, or an index into
/// [`Code::helpers`] for a helper call.
#[derive(Debug)]
pub(crate) struct Op {
    pub kind: Kind,
    pub dst: u8,
    pub src: u8,
    /// For a load or store, the region it hit last, tried first next time:
    /// a program's accesses mostly stay in one region per instruction.
    pub hint: AtomicU8,
    pub off: i32,
    pub imm: u64,
}

/// A program ready to run.
#[derive(Debug)]
pub(crate) struct Code {
    pub ops: Vec<Op>,
    /// The slot index of each op, for faults (one more for `FellOff`).
    pub slots: Vec<InsnIdx>,
    /// The helpers the program calls, resolved at load.
    pub helpers: Vec<HelperFn>,
}

impl Code {
    pub(crate) fn at(&self, op: usize) -> InsnIdx {
        self.slots[op]
    }
}

fn op(kind: Kind, dst: u8, src: u8, off: i32, imm: u64) -> Op {
    Op { kind, dst, src, hint: AtomicU8::new(0), off, imm }
}

/// The op index of every slot that starts an instruction.
fn op_of_slot(program: &Program) -> Vec<Option<u32>> {
    let mut map = vec![None; program.slot_count() + 1];
    for (i, (at, _)) in program.slots().enumerate() {
        map[at.index()] = Some(i as u32);
    }
    map[program.slot_count()] = None;
    map
}

/// Pre-decodes a program that passed [`bpfx_runtime::code::check_targets`] and was linked as
/// program `prog` of `rt`.
pub(crate) fn decode(program: &Program, rt: &mut Runtime, linked: &bpfx_runtime::Linked) -> Result<Code, LoadError> {
    let map = op_of_slot(program);
    let target = |at: InsnIdx, insn: &Insn| -> i32 {
        let rel = insn.branch_offset().expect("a branch");
        let slot = (i64::from(at.0) + insn.slots() as i64 + rel) as usize;
        map[slot].expect("check_targets proved the target") as i32
    };
    let reg = |r: bpfx_isa::Reg| r.num();
    let mut ops = Vec::with_capacity(program.insns.len() + 1);
    let mut slots = Vec::with_capacity(program.insns.len() + 1);
    let mut helpers: Vec<HelperFn> = Vec::new();
    for (at, insn) in program.slots() {
        let o = match *insn {
            Insn::Alu { width, op: aop, dst, src } => alu(width, aop, reg(dst), src),
            Insn::Neg { width: Width::W64, dst } => op(Kind::Neg64, reg(dst), 0, 0, 0),
            Insn::Neg { width: Width::W32, dst } => op(Kind::Neg32, reg(dst), 0, 0, 0),
            Insn::Endian { kind, bits, dst } => {
                let k = match (kind, bits) {
                    (Endian::ToLe, SwapBits::B16) => Kind::Zext16,
                    (Endian::ToLe, SwapBits::B32) => Kind::Zext32,
                    // `le64` on a little-endian host changes nothing.
                    (Endian::ToLe, SwapBits::B64) => Kind::Or64I,
                    (_, SwapBits::B16) => Kind::Swap16,
                    (_, SwapBits::B32) => Kind::Swap32,
                    (_, SwapBits::B64) => Kind::Swap64,
                };
                op(k, reg(dst), 0, 0, 0)
            }
            Insn::LdImm64 { dst, kind, imm } => {
                let value = match kind {
                    LdImm64Kind::Func => {
                        let t = target(at, insn) as usize;
                        code_addr(linked.id.0, t)
                    }
                    _ => rt.ld_imm64(linked, at, kind, imm)?,
                };
                op(Kind::Mov64I, reg(dst), 0, 0, value)
            }
            Insn::Load { size, signed, dst, src, off } => {
                let k = match (size, signed) {
                    (Size::B, false) => Kind::LdxB,
                    (Size::H, false) => Kind::LdxH,
                    (Size::W, false) => Kind::LdxW,
                    (Size::DW, _) => Kind::LdxDW,
                    (Size::B, true) => Kind::LdxSB,
                    (Size::H, true) => Kind::LdxSH,
                    (Size::W, true) => Kind::LdxSW,
                };
                op(k, reg(dst), reg(src), off.into(), 0)
            }
            Insn::Store { size, dst, off, src } => match src {
                Src::Imm(imm) => {
                    let k = [Kind::StB, Kind::StH, Kind::StW, Kind::StDW][size as usize];
                    op(k, reg(dst), 0, off.into(), imm as i64 as u64)
                }
                Src::Reg(s) => {
                    let k = [Kind::StxB, Kind::StxH, Kind::StxW, Kind::StxDW][size as usize];
                    op(k, reg(dst), reg(s), off.into(), 0)
                }
            },
            Insn::Atomic { size, op: aop, dst, src, off } => {
                let k = if size == Size::DW { Kind::AtomicDW } else { Kind::AtomicW };
                op(k, reg(dst), reg(src), off.into(), atomic_index(aop))
            }
            Insn::Ja { .. } => op(Kind::Ja, 0, 0, target(at, insn), 0),
            Insn::Jump { width, cond, dst, src, off: _ } => {
                let (k, s, imm) = jump(width, cond, src);
                op(k, reg(dst), s, target(at, insn), imm)
            }
            Insn::MayGoto { .. } => op(Kind::MayGoto, 0, 0, target(at, insn), 0),
            Insn::Call(CallTarget::Helper(id)) => {
                let f = rt.helper(id).ok_or(LoadError::UnknownHelper { at, id })?;
                helpers.push(f);
                op(Kind::CallHelper, 0, 0, id.0 as i32, (helpers.len() - 1) as u64)
            }
            Insn::Call(CallTarget::Local(_)) => op(Kind::CallLocal, 0, 0, target(at, insn), 0),
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => return Err(LoadError::Kfunc { at, btf_id }),
            Insn::Callx { reg: r } => op(Kind::Callx, reg(r), 0, 0, 0),
            Insn::Exit => op(Kind::Exit, 0, 0, 0, 0),
            Insn::PacketLoad { mode, size, imm } => {
                let src = match mode {
                    PacketLoad::Abs => NO_REG,
                    PacketLoad::Ind(r) => reg(r),
                };
                op(Kind::PacketLoad, 0, src, size.bytes() as i32, imm as i64 as u64)
            }
        };
        ops.push(o);
        slots.push(at);
    }
    ops.push(op(Kind::FellOff, 0, 0, 0, 0));
    slots.push(InsnIdx(program.slot_count() as u32));
    Ok(Code { ops, slots, helpers })
}

/// The `src` of an `ld_abs` packet load (it has no index register).
pub(crate) const NO_REG: u8 = 0xff;

/// Atomic operations are rare: the run loop hands them to one function,
/// which finds the operation by its index in `AtomicOp::ALL`.
fn atomic_index(aop: AtomicOp) -> u64 {
    AtomicOp::ALL.iter().position(|&o| o == aop).expect("every AtomicOp is in ALL") as u64
}

/// A second operand as an op holds it: the source register, or the
/// immediate as the operation of `width` sees it — sign-extended for 64-bit
/// operations, its low half for 32-bit ones (which the run loop works on) —
/// and whether it is a register.
fn operand(width: Width, src: Src) -> (u8, u64, bool) {
    match src {
        Src::Reg(r) => (r.num(), 0, true),
        Src::Imm(i) => match width {
            Width::W64 => (0, i as i64 as u64, false),
            Width::W32 => (0, u64::from(i as u32), false),
        },
    }
}

fn alu(width: Width, aop: AluOp, dst: u8, src: Src) -> Op {
    use Kind::*;
    let (s, imm, is_reg) = operand(width, src);
    let pick = |i: Kind, r: Kind| if is_reg { r } else { i };
    let k = match (width, aop) {
        (Width::W64, AluOp::Add) => pick(Add64I, Add64R),
        (Width::W64, AluOp::Sub) => pick(Sub64I, Sub64R),
        (Width::W64, AluOp::Mul) => pick(Mul64I, Mul64R),
        (Width::W64, AluOp::Div) => pick(Div64I, Div64R),
        (Width::W64, AluOp::SDiv) => pick(SDiv64I, SDiv64R),
        (Width::W64, AluOp::Mod) => pick(Mod64I, Mod64R),
        (Width::W64, AluOp::SMod) => pick(SMod64I, SMod64R),
        (Width::W64, AluOp::Or) => pick(Or64I, Or64R),
        (Width::W64, AluOp::And) => pick(And64I, And64R),
        (Width::W64, AluOp::Xor) => pick(Xor64I, Xor64R),
        (Width::W64, AluOp::Lsh) => pick(Lsh64I, Lsh64R),
        (Width::W64, AluOp::Rsh) => pick(Rsh64I, Rsh64R),
        (Width::W64, AluOp::Arsh) => pick(Arsh64I, Arsh64R),
        (Width::W64, AluOp::Mov) => pick(Mov64I, Mov64R),
        (Width::W64, AluOp::MovSx8) => MovSx8_64,
        (Width::W64, AluOp::MovSx16) => MovSx16_64,
        (Width::W64, AluOp::MovSx32) => MovSx32_64,
        (Width::W32, AluOp::Add) => pick(Add32I, Add32R),
        (Width::W32, AluOp::Sub) => pick(Sub32I, Sub32R),
        (Width::W32, AluOp::Mul) => pick(Mul32I, Mul32R),
        (Width::W32, AluOp::Div) => pick(Div32I, Div32R),
        (Width::W32, AluOp::SDiv) => pick(SDiv32I, SDiv32R),
        (Width::W32, AluOp::Mod) => pick(Mod32I, Mod32R),
        (Width::W32, AluOp::SMod) => pick(SMod32I, SMod32R),
        (Width::W32, AluOp::Or) => pick(Or32I, Or32R),
        (Width::W32, AluOp::And) => pick(And32I, And32R),
        (Width::W32, AluOp::Xor) => pick(Xor32I, Xor32R),
        (Width::W32, AluOp::Lsh) => pick(Lsh32I, Lsh32R),
        (Width::W32, AluOp::Rsh) => pick(Rsh32I, Rsh32R),
        (Width::W32, AluOp::Arsh) => pick(Arsh32I, Arsh32R),
        // A 32-bit move of an immediate is a 64-bit move of its zero extension.
        (Width::W32, AluOp::Mov) => pick(Mov64I, Mov32R),
        (Width::W32, AluOp::MovSx8) => MovSx8_32,
        (Width::W32, AluOp::MovSx16) => MovSx16_32,
        // The decoder refuses a 32-bit movsx32; were one built by hand, it
        // is the plain 32-bit move it would be on the low half.
        (Width::W32, AluOp::MovSx32) => Mov32R,
    };
    op(k, dst, s, 0, imm)
}

fn jump(width: Width, cond: JmpCond, src: Src) -> (Kind, u8, u64) {
    use Kind::*;
    let (s, imm, is_reg) = operand(width, src);
    let pick = |i: Kind, r: Kind| if is_reg { r } else { i };
    let k = match (width, cond) {
        (Width::W64, JmpCond::Eq) => pick(Jeq64I, Jeq64R),
        (Width::W64, JmpCond::Gt) => pick(Jgt64I, Jgt64R),
        (Width::W64, JmpCond::Ge) => pick(Jge64I, Jge64R),
        (Width::W64, JmpCond::Set) => pick(Jset64I, Jset64R),
        (Width::W64, JmpCond::Ne) => pick(Jne64I, Jne64R),
        (Width::W64, JmpCond::Sgt) => pick(Jsgt64I, Jsgt64R),
        (Width::W64, JmpCond::Sge) => pick(Jsge64I, Jsge64R),
        (Width::W64, JmpCond::Lt) => pick(Jlt64I, Jlt64R),
        (Width::W64, JmpCond::Le) => pick(Jle64I, Jle64R),
        (Width::W64, JmpCond::Slt) => pick(Jslt64I, Jslt64R),
        (Width::W64, JmpCond::Sle) => pick(Jsle64I, Jsle64R),
        (Width::W32, JmpCond::Eq) => pick(Jeq32I, Jeq32R),
        (Width::W32, JmpCond::Gt) => pick(Jgt32I, Jgt32R),
        (Width::W32, JmpCond::Ge) => pick(Jge32I, Jge32R),
        (Width::W32, JmpCond::Set) => pick(Jset32I, Jset32R),
        (Width::W32, JmpCond::Ne) => pick(Jne32I, Jne32R),
        (Width::W32, JmpCond::Sgt) => pick(Jsgt32I, Jsgt32R),
        (Width::W32, JmpCond::Sge) => pick(Jsge32I, Jsge32R),
        (Width::W32, JmpCond::Lt) => pick(Jlt32I, Jlt32R),
        (Width::W32, JmpCond::Le) => pick(Jle32I, Jle32R),
        (Width::W32, JmpCond::Slt) => pick(Jslt32I, Jslt32R),
        (Width::W32, JmpCond::Sle) => pick(Jsle32I, Jsle32R),
    };
    (k, s, imm)
}
