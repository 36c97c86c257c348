//! LLVM's BPF assembly syntax (`r0 = 0x1`, `if w1 s< w2 goto -0x5`), as
//! llvm-mc-19 accepts it and llvm-objdump-19 prints it, with bpfx's
//! extensions for what that syntax cannot say (see the module doc of
//! [`crate::asm`]).

use super::Stmt;
use super::cursor::{Cursor, llvm_reg, reg_name, width_name};
use super::error::{AsmError, AsmErrorKind, Found, Operand};
use super::lexer::Kind;
use crate::{AluOp, AtomicOp, Endian, Insn, JmpCond, LdImm64Kind, PacketLoad, Reg, Size, Src, Width};

/// Parses one instruction whose first token `first` says it is LLVM syntax.
pub(super) fn instruction(c: &mut Cursor<'_>, first: &str) -> Result<Stmt, AsmError> {
    match first {
        "if" => jump(c),
        "goto" | "gotol" | "may_goto" => {
            c.advance();
            let wide = first == "gotol";
            let target = c.target(if wide { Operand::WideJumpOffset } else { Operand::JumpOffset })?;
            Ok(Stmt::branch(target, |off| match first {
                "may_goto" => Insn::MayGoto { off: off as i16 },
                _ => Insn::Ja { off, wide },
            }))
        }
        "callx" => {
            c.advance();
            Ok(Stmt::plain(Insn::Callx { reg: c.llvm_reg_of(Width::W64)? }))
        }
        "ld_pseudo" => ld_pseudo(c),
        "lock" => atomic_store(c),
        "*" => store(c),
        _ => assignment(c),
    }
}

/// `if dst COND src goto target`.
fn jump(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    c.advance();
    let (dst, width) = c.llvm_reg()?;
    let cond = match c.peek() {
        Some(t) if t.kind == Kind::Punct => JmpCond::ALL.iter().copied().find(|cond| cond.llvm_op() == t.text),
        _ => None,
    }
    .ok_or_else(|| c.expected("comparison operator"))?;
    c.advance();
    let src = operand(c, width)?;
    c.expect("goto")?;
    let target = c.target(Operand::JumpOffset)?;
    Ok(Stmt::branch(target, |off| Insn::Jump { width, cond, dst, src, off: off as i16 }))
}

/// A register of `width` or a 32-bit immediate.
fn operand(c: &mut Cursor<'_>, width: Width) -> Result<Src, AsmError> {
    if c.at_value() { Ok(Src::Imm(c.imm32()?)) } else { Ok(Src::Reg(c.llvm_reg_of(width)?)) }
}

/// `ld_pseudo dst, src, imm` (LLVM) `[, high]` (bpfx: the high half of the
/// 64-bit immediate, for the kinds that use it).
fn ld_pseudo(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    c.advance();
    let dst = c.llvm_reg_of(Width::W64)?;
    c.expect(",")?;
    let src = c.value("ld_pseudo source")?;
    let kind = LdImm64Kind::from_src(c.check(&src, Operand::PseudoSource)? as u8)
        .ok_or_else(|| c.error_at(src.column, AsmErrorKind::InvalidNumber(src.text.clone())))?;
    c.expect(",")?;
    let low = c.imm32()? as u32;
    let high_column = c.column();
    let high = if c.eat(",") { c.imm32()? as u32 } else { 0 };
    if high != 0 && !kind.uses_high_half() {
        return Err(c.error_at(high_column, AsmErrorKind::UnusedHighHalf { kind, high }));
    }
    let imm = u64::from(low) | (u64::from(high) << 32);
    Ok(Stmt::plain(Insn::LdImm64 { dst, kind, imm }))
}

/// `*(type *)` — the cast that starts a memory operand; returns the size and
/// whether the type is signed.
fn cast(c: &mut Cursor<'_>) -> Result<(Size, bool), AsmError> {
    c.expect("(")?;
    let ty = c.ident("access type (u8, u16, u32, u64, s8, s16, s32)")?;
    let sized = Size::ALL
        .iter()
        .flat_map(|&size| [(size, false), (size, true)])
        .find(|&(size, signed)| size.c_type(signed) == ty.text)
        .ok_or_else(|| c.expected_at(ty, "access type (u8, u16, u32, u64, s8, s16, s32)"))?;
    c.expect("*")?;
    c.expect(")")?;
    Ok(sized)
}

/// `reg + off` or `reg - off` (the inside of a memory operand's parentheses).
fn address(c: &mut Cursor<'_>) -> Result<(Reg, i16), AsmError> {
    let base = c.llvm_reg_of(Width::W64)?;
    let off = c.mem_offset(false)?;
    Ok((base, off))
}

/// `(reg + off)`.
fn paren_address(c: &mut Cursor<'_>) -> Result<(Reg, i16), AsmError> {
    c.expect("(")?;
    let address = address(c)?;
    c.expect(")")?;
    Ok(address)
}

/// The register of a sub-64-bit load or store, which LLVM writes either as
/// `wN` or `rN`; 64-bit accesses take `rN` only.
fn data_reg(c: &mut Cursor<'_>, size: Size) -> Result<Reg, AsmError> {
    if size == Size::DW { c.llvm_reg_of(Width::W64) } else { Ok(c.llvm_reg()?.0) }
}

/// `*(u32 *)(r10 - 0x4) = r1` or `= imm`.
fn store(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    c.advance();
    let type_column = c.peek_at(1).map_or(c.column(), |t| t.column);
    let (size, signed) = cast(c)?;
    if signed {
        return Err(c.error_at(type_column, expected_type("unsigned access type", size, signed)));
    }
    let (dst, off) = paren_address(c)?;
    c.expect("=")?;
    let src = if c.at_value() { Src::Imm(c.imm32()?) } else { Src::Reg(data_reg(c, size)?) };
    Ok(Stmt::plain(Insn::Store { size, dst, off, src }))
}

fn expected_type(expected: &str, size: Size, signed: bool) -> AsmErrorKind {
    AsmErrorKind::Expected { expected: expected.into(), found: Found::Token(size.c_type(signed).into()) }
}

/// The size of an atomic access: u32 or u64.
fn atomic_cast(c: &mut Cursor<'_>) -> Result<Size, AsmError> {
    let type_column = c.peek_at(1).map_or(c.column(), |t| t.column);
    match cast(c)? {
        (size @ (Size::W | Size::DW), false) => Ok(size),
        (size, signed) => Err(c.error_at(type_column, expected_type("u32 or u64", size, signed))),
    }
}

/// `lock *(u64 *)(r1 + 0x8) += r2` (u32 with `wN`; LLVM also takes `rN`).
fn atomic_store(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    c.advance();
    c.expect("*")?;
    let size = atomic_cast(c)?;
    let (dst, off) = paren_address(c)?;
    let op = match c.peek() {
        Some(t) if t.kind == Kind::Punct => {
            AtomicOp::ALL.iter().copied().find(|op| !op.fetches() && op.llvm_op() == t.text)
        }
        _ => None,
    }
    .ok_or_else(|| c.expected("atomic operator (+=, |=, &=, ^=)"))?;
    c.advance();
    let src = data_reg(c, size)?;
    Ok(Stmt::plain(Insn::Atomic { size, op, dst, src, off }))
}

/// The destination register of an assignment, with where it was written.
#[derive(Clone, Copy)]
struct Dst {
    reg: Reg,
    width: Width,
    column: u32,
}

impl Dst {
    /// Requires the destination to be `want` (what the error calls `expected`).
    fn require(self, c: &Cursor<'_>, want: (Reg, Width), expected: impl Into<String>) -> Result<(), AsmError> {
        if (self.reg, self.width) == want {
            return Ok(());
        }
        let found = Found::Token(reg_name(self.reg, self.width));
        Err(c.error_at(self.column, AsmErrorKind::Expected { expected: expected.into(), found }))
    }

    /// Requires a 64-bit destination.
    fn require_w64(self, c: &Cursor<'_>) -> Result<(), AsmError> {
        if self.width == Width::W64 { Ok(()) } else { self.require(c, (self.reg, Width::W64), width_name(Width::W64)) }
    }
}

/// Everything that starts with a destination register.
fn assignment(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    let column = c.column();
    let (dst, width) = c.llvm_reg()?;
    let target = Dst { reg: dst, width, column };
    let Some(op_token) = c.advance().filter(|t| t.kind == Kind::Punct) else {
        return Err(c.expected("assignment operator"));
    };
    if op_token.text != "=" {
        let op = AluOp::ALL
            .iter()
            .copied()
            .find(|op| op.llvm_op() == op_token.text)
            .ok_or_else(|| c.expected_at(op_token, "assignment operator"))?;
        let src = operand(c, width)?;
        return Ok(Stmt::plain(Insn::Alu { width, op, dst, src }));
    }
    let next = c.peek();
    if c.next_is("-") && c.peek_at(1).is_some_and(|t| t.kind == Kind::Ident) {
        c.advance();
        c.same_reg(dst, width)?;
        return Ok(Stmt::plain(Insn::Neg { width, dst }));
    }
    if c.at_value() {
        return if c.peek_at(if c.next_is("-") || c.next_is("+") { 2 } else { 1 }).is_some_and(|t| t.text == "ll") {
            target.require_w64(c)?;
            let imm = c.imm64()?;
            c.expect("ll")?;
            Ok(Stmt::plain(Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm }))
        } else {
            Ok(Stmt::plain(Insn::Alu { width, op: AluOp::Mov, dst, src: Src::Imm(c.imm32()?) }))
        };
    }
    match next {
        Some(t) if t.text == "(" => sign_extending_move(c, dst, width),
        Some(t) if t.text == "*" => load(c, target),
        Some(t) if t.kind == Kind::Ident && llvm_reg(t.text).is_none() => {
            c.advance();
            call_like(c, t.text, target).unwrap_or_else(|| Err(c.expected_at(t, "register, immediate or operation")))
        }
        _ => Ok(Stmt::plain(Insn::Alu { width, op: AluOp::Mov, dst, src: Src::Reg(c.llvm_reg_of(width)?) })),
    }
}

/// `r1 = (s8)r2`, `w1 = (s16)w2`.
fn sign_extending_move(c: &mut Cursor<'_>, dst: Reg, width: Width) -> Result<Stmt, AsmError> {
    c.advance();
    let ty = c.ident("s8, s16 or s32")?;
    let spelled = format!("= ({})", ty.text);
    let op = AluOp::ALL
        .iter()
        .copied()
        .filter(|&op| width == Width::W64 || op != AluOp::MovSx32)
        .find(|op| op.llvm_op() == spelled)
        .ok_or_else(|| {
            c.expected_at(ty, if width == Width::W64 { "s8, s16 or s32" } else { "s8 or s16 (with wN registers)" })
        })?;
    c.expect(")")?;
    let src = c.llvm_reg_of(width)?;
    Ok(Stmt::plain(Insn::Alu { width, op, dst, src: Src::Reg(src) }))
}

/// `r1 = *(u8 *)(r2 + 0x3)`, or a legacy packet load `r0 = *(u16 *)skb[...]`.
fn load(c: &mut Cursor<'_>, dst: Dst) -> Result<Stmt, AsmError> {
    c.advance();
    let type_column = c.peek_at(1).map_or(c.column(), |t| t.column);
    let (size, signed) = cast(c)?;
    if c.next_is("skb") {
        return packet_load(c, dst, size, signed, type_column);
    }
    if signed || size == Size::DW {
        dst.require_w64(c)?;
    }
    let dst = dst.reg;
    if signed && size == Size::DW {
        return Err(c.error_at(type_column, expected_type("s8, s16 or s32", size, signed)));
    }
    let (src, off) = paren_address(c)?;
    Ok(Stmt::plain(Insn::Load { size, signed, dst, src, off }))
}

/// `r0 = *(u8 *)skb[0x4]` (absolute), `r0 = *(u16 *)skb[r1]` (indirect;
/// bpfx also takes `skb[r1 + 0x4]` for an indirect load with an offset,
/// which LLVM cannot write).
fn packet_load(c: &mut Cursor<'_>, dst: Dst, size: Size, signed: bool, type_column: u32) -> Result<Stmt, AsmError> {
    dst.require(c, (Reg::R0, Width::W64), "`r0` (packet loads write r0)")?;
    if signed || size == Size::DW {
        return Err(c.error_at(type_column, expected_type("u8, u16 or u32", size, signed)));
    }
    c.advance();
    c.expect("[")?;
    let (mode, imm) = if c.at_value() {
        (PacketLoad::Abs, c.imm32()?)
    } else {
        let src = c.llvm_reg_of(Width::W64)?;
        let imm = if c.next_is("]") { 0 } else { packet_offset(c)? };
        (PacketLoad::Ind(src), imm)
    };
    c.expect("]")?;
    Ok(Stmt::plain(Insn::PacketLoad { mode, size, imm }))
}

/// `+ imm` or `- imm` after the register of an indirect packet load.
fn packet_offset(c: &mut Cursor<'_>) -> Result<i32, AsmError> {
    let negative = if c.eat("+") {
        false
    } else if c.eat("-") {
        true
    } else {
        return Err(c.expected("`]`, or `+`/`-` and an offset"));
    };
    if c.at_value() && (c.next_is("-") || c.next_is("+")) {
        return Err(c.expected("offset"));
    }
    let mut value = c.value("offset")?;
    if negative {
        value.value = -value.value;
        value.text.insert(0, '-');
    }
    Ok(c.check(&value, Operand::Imm32)? as u32 as i32)
}

/// The right-hand sides that start with a name: byte swaps and the
/// fetching atomics. `None` when `name` is none of them.
fn call_like(c: &mut Cursor<'_>, name: &str, dst: Dst) -> Option<Result<Stmt, AsmError>> {
    if let Some(result) = endian(c, name, dst) {
        return Some(result);
    }
    let (op, size) = AtomicOp::ALL.iter().copied().filter(|op| op.fetches()).find_map(|op| {
        let llvm = op.llvm_op();
        if llvm.starts_with("atomic_") {
            (name == llvm).then_some((op, None))
        } else if name == format!("{llvm}_64") {
            Some((op, Some(Size::DW)))
        } else if name == format!("{llvm}32_32") {
            Some((op, Some(Size::W)))
        } else {
            None
        }
    })?;
    Some(fetch_atomic(c, op, size, dst))
}

/// `r0 = be16 r0`, `r0 = le32 r0`, `r0 = bswap64 r0`.
fn endian(c: &mut Cursor<'_>, name: &str, dst: Dst) -> Option<Result<Stmt, AsmError>> {
    let (kind, bits) = Endian::from_mnemonic(name)?;
    let mut parse = || {
        dst.require_w64(c)?;
        c.same_reg(dst.reg, Width::W64)?;
        Ok(Stmt::plain(Insn::Endian { kind, bits, dst: dst.reg }))
    };
    Some(parse())
}

/// `r0 = atomic_fetch_add((u64 *)(r1 + 0x8), r0)`, `w0 = xchg32_32(r1 + 0x8, w0)`,
/// `r0 = cmpxchg_64(r1 + 0x8, r0, r2)`. `size` is known from the name for
/// xchg and cmpxchg, from the cast for the others.
fn fetch_atomic(c: &mut Cursor<'_>, op: AtomicOp, size: Option<Size>, dst: Dst) -> Result<Stmt, AsmError> {
    c.expect("(")?;
    let (size, (base, off)) = match size {
        Some(size) => (size, address(c)?),
        None => (atomic_cast(c)?, paren_address(c)?),
    };
    let width = if size == Size::W { Width::W32 } else { Width::W64 };
    if dst.width != width {
        dst.require(c, (dst.reg, width), width_name(width))?;
    }
    c.expect(",")?;
    let src = if op == AtomicOp::CmpXchg {
        // cmpxchg compares with r0 and loads the old value into r0.
        let r0 = reg_name(Reg::R0, width);
        dst.require(c, (Reg::R0, width), format!("`{r0}` (cmpxchg returns in {r0})"))?;
        c.same_reg(Reg::R0, width)?;
        c.expect(",")?;
        c.llvm_reg_of(width)?
    } else {
        c.same_reg(dst.reg, width)?;
        dst.reg
    };
    c.expect(")")?;
    Ok(Stmt::plain(Insn::Atomic { size, op, dst: base, src, off }))
}

#[cfg(test)]
mod tests {
    use super::super::assemble;

    #[test]
    fn lddw_needs_a_64_bit_register() {
        let err = assemble("w0 = 1 ll").unwrap_err();
        assert_eq!(err.to_string(), "1:1: expected 64-bit register `rN`, found `w0`");
    }
}
