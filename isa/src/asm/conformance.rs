//! The conformance suite's (uBPF's) assembly syntax: `mnemonic operands`,
//! registers `%rN`, memory operands `[%rN+off]`, e.g. `ldxw %r1, [%r2+4]`,
//! `jne32 %r1, %r2, +3`, `lock fetch add32 [%r10-8], %r1`.

use super::Stmt;
use super::cursor::Cursor;
use super::error::{AsmError, AsmErrorKind, Operand};
use super::lexer::Token;
use crate::{AluOp, AtomicOp, Endian, Insn, JmpCond, LdImm64Kind, PacketLoad, Reg, Size, Src, SwapBits, Width};

/// Parses the instruction whose mnemonic is `mnemonic` (already consumed).
pub(super) fn instruction(c: &mut Cursor<'_>, mnemonic: Token<'_>) -> Result<Stmt, AsmError> {
    let m = mnemonic.text;
    let (line, column) = (c.line, mnemonic.column);
    let unknown = || AsmError { line, column, kind: AsmErrorKind::UnknownMnemonic(m.to_owned()) };
    match m {
        "lddw" => {
            let dst = c.percent_reg()?;
            c.expect(",")?;
            let imm = c.imm64()?;
            return Ok(Stmt::plain(Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm }));
        }
        "ja" | "ja32" => {
            let wide = m == "ja32";
            let target = c.target(if wide { Operand::WideJumpOffset } else { Operand::JumpOffset })?;
            return Ok(Stmt::branch(target, |off| Insn::Ja { off, wide }));
        }
        "neg" | "neg32" => {
            let width = if m == "neg" { Width::W64 } else { Width::W32 };
            return Ok(Stmt::plain(Insn::Neg { width, dst: c.percent_reg()? }));
        }
        "lock" => return atomic(c),
        _ => {}
    }
    if let Some((kind, bits)) = endian(m) {
        return Ok(Stmt::plain(Insn::Endian { kind, bits, dst: c.percent_reg()? }));
    }
    if let Some(stmt) = memory(c, m) {
        return stmt;
    }
    let (base, width, suffix) = split_width(m);
    let plain_width = suffix != Some(64);
    if let Some(cond) = JmpCond::ALL.iter().copied().find(|cond| cond.mnemonic() == base && plain_width) {
        let (dst, src) = two_operands(c)?;
        c.expect(",")?;
        let target = c.target(Operand::JumpOffset)?;
        return Ok(Stmt::branch(target, |off| Insn::Jump { width, cond, dst, src, off: off as i16 }));
    }
    let op = AluOp::ALL.iter().copied().find(|op| op.mnemonic() == base).ok_or_else(unknown)?;
    let sign_extending = matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32);
    // `movsx` names its width explicitly (`movsx832`, `movsx864`); the
    // others are 64-bit unless suffixed `32`, and never `64`.
    let valid =
        if sign_extending { suffix.is_some() && (op, width) != (AluOp::MovSx32, Width::W32) } else { plain_width };
    if !valid {
        return Err(unknown());
    }
    let dst = c.percent_reg()?;
    c.expect(",")?;
    let src = if sign_extending { Src::Reg(c.percent_reg()?) } else { operand(c)? };
    Ok(Stmt::plain(Insn::Alu { width, op, dst, src }))
}

/// A mnemonic's operation, width and width suffix: `32` selects 32 bits,
/// `64` (only valid for `movsx`) or none 64.
fn split_width(m: &str) -> (&str, Width, Option<u8>) {
    if let Some(base) = m.strip_suffix("32") {
        (base, Width::W32, Some(32))
    } else if let Some(base) = m.strip_suffix("64") {
        (base, Width::W64, Some(64))
    } else {
        (m, Width::W64, None)
    }
}

/// `le16`..`le64`, `be16`..`be64`, `bswap16`..`bswap64` (also spelled
/// `swap16`..`swap64` by some of the suite's files).
fn endian(m: &str) -> Option<(Endian, SwapBits)> {
    match m.strip_prefix("swap") {
        Some(bits) => Endian::from_mnemonic(&format!("bswap{bits}")),
        None => Endian::from_mnemonic(m),
    }
}

/// Loads, stores and legacy packet loads, by their size suffix: `ldx{b,h,w,dw}`,
/// `ldxs{b,h,w}`, `st{..}`, `stx{..}`, `ldabs{b,h,w}`, `ldind{b,h,w}`.
/// `None` when `m` is none of them.
fn memory(c: &mut Cursor<'_>, m: &str) -> Option<Result<Stmt, AsmError>> {
    // `ldxdw` also ends in `w`: try every size, keep the one whose prefix is valid.
    let (prefix, size) = Size::ALL.iter().find_map(|&size| {
        let prefix = m.strip_suffix(size.suffix())?;
        let valid = match prefix {
            "ldx" | "st" | "stx" => true,
            "ldxs" | "ldabs" | "ldind" => size != Size::DW,
            _ => false,
        };
        valid.then_some((prefix, size))
    })?;
    let parse = |c: &mut Cursor<'_>| -> Result<Stmt, AsmError> {
        let insn = match prefix {
            "ldx" | "ldxs" => {
                let dst = c.percent_reg()?;
                c.expect(",")?;
                let (src, off) = address(c)?;
                Insn::Load { size, signed: prefix == "ldxs", dst, src, off }
            }
            "st" | "stx" => {
                let (dst, off) = address(c)?;
                c.expect(",")?;
                let src = if prefix == "stx" { Src::Reg(c.percent_reg()?) } else { Src::Imm(c.imm32()?) };
                Insn::Store { size, dst, off, src }
            }
            "ldabs" => Insn::PacketLoad { mode: PacketLoad::Abs, size, imm: c.imm32()? },
            _ => {
                let src = c.percent_reg()?;
                c.expect(",")?;
                Insn::PacketLoad { mode: PacketLoad::Ind(src), size, imm: c.imm32()? }
            }
        };
        Ok(Stmt::plain(insn))
    };
    Some(parse(c))
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn address(c: &mut Cursor<'_>) -> Result<(Reg, i16), AsmError> {
    c.expect("[")?;
    let base = c.percent_reg()?;
    let off = c.mem_offset(true)?;
    c.expect("]")?;
    Ok((base, off))
}

/// A register or a 32-bit immediate.
fn operand(c: &mut Cursor<'_>) -> Result<Src, AsmError> {
    if c.at_percent_reg() { Ok(Src::Reg(c.percent_reg()?)) } else { Ok(Src::Imm(c.imm32()?)) }
}

fn two_operands(c: &mut Cursor<'_>) -> Result<(Reg, Src), AsmError> {
    let dst = c.percent_reg()?;
    c.expect(",")?;
    Ok((dst, operand(c)?))
}

/// `lock [fetch] add|or|and|xor[32] [%rN+off], %rM`, `lock xchg[32] ...`,
/// `lock cmpxchg[32] ...`.
fn atomic(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    let first = c.ident("atomic operation")?;
    let (name, column) = if first.text == "fetch" {
        let op = c.ident("atomic operation")?;
        (format!("fetch {}", op.text), op.column)
    } else {
        (first.text.to_owned(), first.column)
    };
    let (base, width, suffix) = split_width(&name);
    let op = AtomicOp::ALL
        .iter()
        .copied()
        .find(|op| op.mnemonic() == base && suffix != Some(64))
        .ok_or_else(|| c.error_at(column, AsmErrorKind::UnknownMnemonic(format!("lock {name}"))))?;
    let size = if width == Width::W32 { Size::W } else { Size::DW };
    let (dst, off) = address(c)?;
    c.expect(",")?;
    let src = c.percent_reg()?;
    Ok(Stmt::plain(Insn::Atomic { size, op, dst, src, off }))
}
