//! What can go wrong while assembling, and where.

use std::fmt;

use crate::LdImm64Kind;

/// An assembly error at a 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {kind}")]
pub struct AsmError {
    pub line: u32,
    pub column: u32,
    pub kind: AsmErrorKind,
}

/// Why a line does not assemble.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// The parser wanted one thing and met another.
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: Found },
    #[error("unknown mnemonic `{0}`")]
    UnknownMnemonic(String),
    /// A register-shaped operand naming no eBPF register (`r11`, `%r15`).
    #[error("invalid register `{0}` (registers are r0 to r10)")]
    InvalidRegister(String),
    /// A number that does not lex as one (`0xfg`, `12ab`).
    #[error("invalid number `{0}`")]
    InvalidNumber(String),
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// A value that does not fit the field it goes to.
    #[error("{what} {value} out of range ({})", what.range())]
    OutOfRange { what: Operand, value: String },
    #[error("undefined label `{0}`")]
    UndefinedLabel(String),
    #[error("duplicate label `{name}` (first defined on line {first_line})")]
    DuplicateLabel { name: String, first_line: u32 },
    /// `ld_pseudo` with a high half for a source whose high half the kernel
    /// requires to be zero.
    #[error("ld_pseudo source {} ({kind:?}) has no high half, found {high:#x}", *kind as u8)]
    UnusedHighHalf { kind: LdImm64Kind, high: u32 },
    /// An assembler directive (`.text`, `.globl`): this assembler takes
    /// instructions and labels only.
    #[error("unsupported directive `{0}`")]
    UnsupportedDirective(String),
}

/// What the parser found where it expected something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Token(String),
    EndOfLine,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Token(text) => write!(f, "`{text}`"),
            Found::EndOfLine => f.write_str("end of line"),
        }
    }
}

/// An operand with a limited range, for [`AsmErrorKind::OutOfRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A 32-bit `imm`: signed or unsigned spellings are both accepted and
    /// wrap to the same bits (`0xffffffff` is `-1`), as LLVM and the
    /// conformance suite read them.
    Imm32,
    /// The 64-bit immediate of `lddw`, signed or unsigned.
    Imm64,
    /// The 16-bit `off` of a memory access.
    MemOffset,
    /// A jump offset kept in the 16-bit `off` field.
    JumpOffset,
    /// A jump or call offset kept in the 32-bit `imm` field (`gotol`, `call local`).
    WideJumpOffset,
    /// The source (`BPF_PSEUDO_*` kind) of `ld_pseudo`.
    PseudoSource,
    /// The module index (`off`) of a kfunc call.
    KfuncModule,
}

impl Operand {
    /// The operand's name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Operand::Imm32 => "immediate",
            Operand::Imm64 => "64-bit immediate",
            Operand::MemOffset => "memory offset",
            Operand::JumpOffset | Operand::WideJumpOffset => "jump offset",
            Operand::PseudoSource => "ld_pseudo source",
            Operand::KfuncModule => "kfunc module index",
        }
    }

    /// The inclusive range of accepted values.
    pub const fn bounds(self) -> (i128, i128) {
        match self {
            Operand::Imm32 => (i32::MIN as i128, u32::MAX as i128),
            Operand::Imm64 => (i64::MIN as i128, u64::MAX as i128),
            Operand::MemOffset | Operand::JumpOffset | Operand::KfuncModule => (i16::MIN as i128, i16::MAX as i128),
            Operand::WideJumpOffset => (i32::MIN as i128, i32::MAX as i128),
            Operand::PseudoSource => (0, LdImm64Kind::ALL.len() as i128 - 1),
        }
    }

    fn range(self) -> String {
        let (min, max) = self.bounds();
        match self {
            Operand::Imm32 | Operand::Imm64 | Operand::MemOffset => format!("-{:#x}..={max:#x}", min.unsigned_abs()),
            _ => format!("{min}..={max}"),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
