//! The assembler: eBPF assembly text to [`Insn`]s.
//!
//! What it is: a line-oriented assembler for two syntaxes, decided per line
//! by its shape, so one file may mix them:
//!
//! - **LLVM's BPF syntax**, as `llvm-mc-19 -triple bpfel -mcpu=v4` accepts it
//!   and `llvm-objdump-19 -d` prints it: `r0 = 0x1`, `w2 <<= 0x8`,
//!   `r0 = 0x1122334455667788 ll`, `r1 = -r1`, `r1 = (s8)r2`,
//!   `r0 = be16 r0` / `le32` / `bswap64`, `w1 s/= -0x3`,
//!   `r1 = *(s8 *)(r2 + 0x3)` (`wN` or `rN` for unsigned sub-64-bit loads),
//!   `*(u32 *)(r10 - 0x4) = w1` (or `r1`, or an immediate),
//!   `if w1 s< w2 goto -0x5`, `goto +0x3`, `gotol +0x3`, `may_goto +0x0`,
//!   `call 0x1`, `callx r2`, `exit`, `lock *(u64 *)(r1 + 0x8) += r2`
//!   (`|=`, `&=`, `^=`; `u32` with `wN`),
//!   `r0 = atomic_fetch_add((u64 *)(r1 + 0x8), r0)` (`_or`, `_and`, `_xor`),
//!   `r0 = xchg_64(r1 + 0x8, r0)`, `w0 = xchg32_32(r1 + 0x8, w0)`,
//!   `r0 = cmpxchg_64(r1 + 0x8, r0, r2)`, `w0 = cmpxchg32_32(r1 + 0x8, w0, w2)`,
//!   `r0 = *(u8 *)skb[0x4]`, `r0 = *(u16 *)skb[r1]`, `ld_pseudo r1, 0x2, 0x3`.
//!   Numbers read as llvm-mc reads them (`0x` hex, `0b` binary, a leading
//!   `0` octal); a jump offset may be written with or without its sign.
//! - **The conformance suite's syntax** (uBPF's): `mov32 %r0, 1`,
//!   `ldxw %r1, [%r2+4]`, `stxdw [%r10-8], %r0`, `stb [%r1+2], 0x7`,
//!   `jeq %r1, 0, label`, `jne32 %r1, %r2, +3`, `ja +2`, `ja32 label`,
//!   `lddw %r0, 0x1122334455667788`, `neg %r0`, `be16`/`le32`/`bswap64`
//!   (also `swap64`) `%r0`, `movsx832 %r0, %r1` (`movsx{8,16,32}{32,64}`),
//!   `ldxsb`/`ldxsh`/`ldxsw`, `lock [fetch] add|or|and|xor[32] [%r1+8], %r2`,
//!   `lock xchg[32]`, `lock cmpxchg[32]`, `call 5`, `call local func1`,
//!   `call %r2` (callx), `exit`, and uBPF's packet loads `ldabsw 0x4`,
//!   `ldindh %r1, 0x4`. Numbers are `0x` hex or decimal. As in the suite's
//!   own assembler, a jump to the undefined label `exit` goes to the first
//!   `exit` instruction.
//!
//! Both syntaxes share labels (`name:` on its own line or before an
//! instruction; any jump, `gotol`, `may_goto` or `call` target may be a
//! label, which makes `call label` a bpf-to-bpf call as in llvm-mc) and
//! comments (`#`, `//`, `;`). A 32-bit immediate may be spelled signed or
//! unsigned (`0xffffffff` is `-1`, as both llvm-mc and the suite read it);
//! anything that does not fit its field is an error, never truncated.
//!
//! What `llvm-objdump -dr` prints around instructions is accepted too, so
//! its output reassembles: slot numbers (`      12:\t`), raw bytes, target
//! annotations (`goto +0x3 <LBB0_2>`), symbol headers
//! (`0000000000000000 <xdp_prog>:`, a label), and the `file format`,
//! `Disassembly of section` and relocation lines (ignored; relocations are
//! the loader's business, so `r1 = 0x0 ll` stays 0).
//!
//! **bpfx extensions**, for what LLVM's text cannot say losslessly (bpfx's
//! disassembler prints these, so that `assemble(disassemble(x)) == x`):
//! - `call local +0x3`, `call local -0x2`, `call local <label>`: a
//!   bpf-to-bpf call (`src_reg = 1`), which llvm-objdump prints as a plain
//!   `call imm`, indistinguishable from a helper call.
//! - `call kfunc 0x1234` and `call kfunc 0x1234, 0x1`: a kernel function
//!   call (`src_reg = 2`, `imm` the BTF id, `off` the module index).
//! - `ld_pseudo r2, 0x2, 0x3, 0x10`: an optional fourth operand to LLVM's
//!   `ld_pseudo dst, src, imm`, the high half of the 64-bit immediate (a
//!   map value offset, a BTF module fd), which LLVM drops.
//! - `r0 = *(u16 *)skb[r1 + 0x4]` (or `- 0x4`): an indirect packet load with
//!   a non-zero `imm`, which LLVM prints as `skb[r1]`.
//!
//! What it is not: no directives (`.text`, `.globl`: an error), no
//! relocations or symbols other than labels, no expressions; one
//! instruction per line. It checks each instruction's encoding constraints
//! (registers, widths, field ranges), not whether the program is safe.

mod conformance;
mod cursor;
mod error;
mod labels;
mod lexer;
mod lines;
mod llvm;

pub use error::{AsmError, AsmErrorKind, Found, Operand};

use cursor::{Cursor, LabelRef, Syntax, Target};
use lexer::{Kind, Token};
use lines::Shape;

use crate::{CallTarget, HelperId, Insn};

/// Assembles `source` (either syntax, line by line) into instructions.
/// Errors carry the 1-based line and column; the caller prefixes the file name.
pub fn assemble(source: &str) -> Result<Vec<Insn>, AsmError> {
    let mut program = labels::Program::default();
    for (index, line) in source.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        match lines::shape(line) {
            Shape::Skip => {}
            Shape::Symbol { name, column } => program.define(name, line_no, column)?,
            Shape::Text { text, column } => {
                let tokens =
                    lexer::lex(text, column).map_err(|(column, kind)| AsmError { line: line_no, column, kind })?;
                let end_column = column.saturating_add(u32::try_from(text.chars().count()).unwrap_or(u32::MAX));
                let mut c = Cursor::new(tokens, line_no, end_column, Syntax::Llvm);
                while let (Some(name), Some(colon)) = (c.peek(), c.peek_at(1)) {
                    if name.kind != Kind::Ident || colon.text != ":" {
                        break;
                    }
                    program.define(name.text, line_no, name.column)?;
                    c.advance();
                    c.advance();
                }
                if !c.at_end() {
                    let stmt = instruction(&mut c)?;
                    c.finish()?;
                    program.push(stmt);
                }
            }
        }
    }
    program.finish()
}

/// A parsed instruction, whose branch offset waits for `target` when it
/// names a label.
#[derive(Debug)]
struct Stmt {
    insn: Insn,
    target: Option<LabelRef>,
}

impl Stmt {
    fn plain(insn: Insn) -> Stmt {
        Stmt { insn, target: None }
    }

    /// A branch whose offset is `target`'s, or 0 until its label resolves.
    fn branch(target: Target, build: impl FnOnce(i32) -> Insn) -> Stmt {
        match target {
            Target::Offset(off) => Stmt::plain(build(off)),
            Target::Label(label) => Stmt { insn: build(0), target: Some(label) },
        }
    }
}

/// Reads one instruction, choosing the syntax by its first tokens.
fn instruction(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    let Some(first) = c.peek() else { return Err(c.expected("instruction")) };
    match (first.kind, first.text) {
        (Kind::Ident, "call") => call(c),
        (Kind::Ident, "exit") => {
            c.advance();
            Ok(Stmt::plain(Insn::Exit))
        }
        (Kind::Ident, "lock") if c.peek_at(1).is_none_or(|t| t.text != "*") => conformance_instruction(c, first),
        (Kind::Ident, "if" | "goto" | "gotol" | "may_goto" | "callx" | "ld_pseudo" | "lock") | (Kind::Punct, "*") => {
            llvm::instruction(c, first.text)
        }
        (Kind::Ident, name) if cursor::llvm_reg(name).is_some() => llvm::instruction(c, name),
        (Kind::Ident, name) if name.starts_with('.') => {
            Err(c.error(AsmErrorKind::UnsupportedDirective(name.to_owned())))
        }
        (Kind::Ident, _) => conformance_instruction(c, first),
        _ => Err(c.expected("instruction or label")),
    }
}

fn conformance_instruction(c: &mut Cursor<'_>, mnemonic: Token<'_>) -> Result<Stmt, AsmError> {
    c.syntax = Syntax::Conformance;
    c.advance();
    conformance::instruction(c, mnemonic)
}

/// `call` in either syntax: `call 0x1` (helper), `call label` and
/// `call local <offset|label>` (bpf-to-bpf), `call kfunc <btf id>[, <module>]`,
/// `call %r2` (the conformance suite's callx).
fn call(c: &mut Cursor<'_>) -> Result<Stmt, AsmError> {
    c.advance();
    if c.at_percent_reg() {
        c.syntax = Syntax::Conformance;
        return Ok(Stmt::plain(Insn::Callx { reg: c.percent_reg()? }));
    }
    let keyword = c.peek().filter(|t| t.kind == Kind::Ident && c.peek_at(1).is_some()).map(|t| t.text);
    match keyword {
        Some("local") => {
            c.advance();
            let target = c.target(Operand::WideJumpOffset)?;
            Ok(Stmt::branch(target, |off| Insn::Call(CallTarget::Local(off))))
        }
        Some("kfunc") => {
            c.advance();
            let btf_id = c.imm32()? as u32;
            let module = if c.eat(",") {
                let value = c.value("kfunc module index")?;
                c.check(&value, Operand::KfuncModule)? as i16
            } else {
                0
            };
            Ok(Stmt::plain(Insn::Call(CallTarget::Kfunc { btf_id, module })))
        }
        _ if c.at_value() => Ok(Stmt::plain(Insn::Call(CallTarget::Helper(HelperId(c.imm32()? as u32))))),
        _ => {
            let target = c.target(Operand::WideJumpOffset)?;
            Ok(Stmt::branch(target, |off| Insn::Call(CallTarget::Local(off))))
        }
    }
}
