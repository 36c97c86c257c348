//! A cursor over one line's tokens, with the operand readers both syntaxes
//! share: numbers, registers, jump targets.

use super::error::{AsmError, AsmErrorKind, Found, Operand};
use super::lexer::{Kind, Token};
use crate::{Reg, Width};

/// Which syntax a line is in; it decides how numbers with a leading `0` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// LLVM's: `0x` hex, `0b` binary, a leading `0` octal, as llvm-mc reads them.
    Llvm,
    /// The conformance suite's: `0x` hex, else decimal (leading zeros included).
    Conformance,
}

/// A number as written, with its position for range errors.
#[derive(Debug, Clone)]
pub(super) struct Value {
    pub value: i128,
    pub text: String,
    pub column: u32,
}

/// Where a jump or call goes: a numeric offset (already range-checked) or a
/// label, resolved once the whole source is read.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Offset(i32),
    Label(LabelRef),
}

/// A use of a label.
#[derive(Debug, Clone)]
pub(super) struct LabelRef {
    pub name: String,
    pub line: u32,
    pub column: u32,
    /// The conformance suite's assembler lets an undefined `exit` name the
    /// first `exit` instruction; its tests rely on that.
    pub exit_fallback: bool,
}

pub(super) struct Cursor<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    pub line: u32,
    /// The column just past the last token, for errors at the end of the line.
    end_column: u32,
    pub syntax: Syntax,
}

impl<'a> Cursor<'a> {
    pub fn new(tokens: Vec<Token<'a>>, line: u32, end_column: u32, syntax: Syntax) -> Self {
        Cursor { tokens, pos: 0, line, end_column, syntax }
    }

    pub fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    pub fn peek_at(&self, ahead: usize) -> Option<Token<'a>> {
        self.tokens.get(self.pos + ahead).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    pub fn advance(&mut self) -> Option<Token<'a>> {
        let token = self.peek()?;
        self.pos += 1;
        Some(token)
    }

    /// The column of the next token (or of the end of the line).
    pub fn column(&self) -> u32 {
        self.peek().map_or(self.end_column, |t| t.column)
    }

    pub fn error_at(&self, column: u32, kind: AsmErrorKind) -> AsmError {
        AsmError { line: self.line, column, kind }
    }

    /// An error at the next token.
    pub fn error(&self, kind: AsmErrorKind) -> AsmError {
        self.error_at(self.column(), kind)
    }

    /// "expected `what`, found <the next token>".
    pub fn expected(&self, what: impl Into<String>) -> AsmError {
        let found = self.peek().map_or(Found::EndOfLine, |t| Found::Token(t.text.to_owned()));
        self.error(AsmErrorKind::Expected { expected: what.into(), found })
    }

    /// "expected `what`, found `token`" at an already consumed token.
    pub fn expected_at(&self, token: Token<'_>, what: impl Into<String>) -> AsmError {
        let found = Found::Token(token.text.to_owned());
        self.error_at(token.column, AsmErrorKind::Expected { expected: what.into(), found })
    }

    pub fn next_is(&self, text: &str) -> bool {
        self.peek().is_some_and(|t| t.text == text && t.kind != Kind::Number)
    }

    /// Consumes the next token if its text is `text`.
    pub fn eat(&mut self, text: &str) -> bool {
        let found = self.next_is(text);
        if found {
            self.pos += 1;
        }
        found
    }

    pub fn expect(&mut self, text: &str) -> Result<(), AsmError> {
        if self.eat(text) { Ok(()) } else { Err(self.expected(format!("`{text}`"))) }
    }

    pub fn ident(&mut self, what: &str) -> Result<Token<'a>, AsmError> {
        match self.peek() {
            Some(t) if t.kind == Kind::Ident => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Requires the line to be over.
    pub fn finish(&self) -> Result<(), AsmError> {
        if self.at_end() { Ok(()) } else { Err(self.expected("end of line")) }
    }

    /// Whether the next token is a number, optionally signed.
    pub fn at_value(&self) -> bool {
        let first_number = |ahead| self.peek_at(ahead).is_some_and(|t| t.kind == Kind::Number);
        first_number(0) || ((self.next_is("-") || self.next_is("+")) && first_number(1))
    }

    /// A number with an optional sign.
    pub fn value(&mut self, what: &str) -> Result<Value, AsmError> {
        let column = self.column();
        let negative = self.eat("-");
        if !negative {
            self.eat("+");
        }
        let token = match self.peek() {
            Some(t) if t.kind == Kind::Number => t,
            _ => return Err(self.expected(what)),
        };
        self.pos += 1;
        let magnitude = parse_number(token.text, self.syntax)
            .ok_or_else(|| self.error_at(token.column, AsmErrorKind::InvalidNumber(token.text.to_owned())))?;
        let sign = if negative { "-" } else { "" };
        let value = if negative { -magnitude } else { magnitude };
        Ok(Value { value, text: format!("{sign}{}", token.text), column })
    }

    /// Checks `value` against `what`'s range.
    pub fn check(&self, value: &Value, what: Operand) -> Result<i128, AsmError> {
        let (min, max) = what.bounds();
        if (min..=max).contains(&value.value) {
            Ok(value.value)
        } else {
            Err(self.error_at(value.column, AsmErrorKind::OutOfRange { what, value: value.text.clone() }))
        }
    }

    /// A 32-bit immediate; unsigned spellings wrap (`0xffffffff` is -1).
    pub fn imm32(&mut self) -> Result<i32, AsmError> {
        let value = self.value("immediate")?;
        Ok(self.check(&value, Operand::Imm32)? as u32 as i32)
    }

    /// A 64-bit immediate; unsigned spellings wrap.
    pub fn imm64(&mut self) -> Result<u64, AsmError> {
        let value = self.value("immediate")?;
        Ok(self.check(&value, Operand::Imm64)? as u64)
    }

    /// `+ n` or `- n` after a base register, as a memory offset; nothing
    /// means 0 when `optional`.
    pub fn mem_offset(&mut self, optional: bool) -> Result<i16, AsmError> {
        let column = self.column();
        let negative = if self.eat("+") {
            false
        } else if self.eat("-") {
            true
        } else if optional {
            return Ok(0);
        } else {
            return Err(self.expected("`+` or `-` and an offset"));
        };
        if !self.peek().is_some_and(|t| t.kind == Kind::Number) {
            return Err(self.expected("offset"));
        }
        let mut value = self.value("offset")?;
        if negative {
            value.value = -value.value;
            value.text.insert(0, '-');
        }
        value.column = column;
        Ok(self.check(&value, Operand::MemOffset)? as i16)
    }

    /// A jump target: a signed or unsigned offset, or a label.
    pub fn target(&mut self, what: Operand) -> Result<Target, AsmError> {
        if self.at_value() {
            let value = self.value("jump target")?;
            return Ok(Target::Offset(self.check(&value, what)? as i32));
        }
        let label = self.ident("jump offset or label")?;
        if llvm_reg(label.text).is_some() {
            return Err(self.expected_at(label, "jump offset or label"));
        }
        Ok(Target::Label(LabelRef {
            name: label.text.to_owned(),
            line: self.line,
            column: label.column,
            exit_fallback: self.syntax == Syntax::Conformance,
        }))
    }

    /// An LLVM register, `rN` or `wN`.
    pub fn llvm_reg(&mut self) -> Result<(Reg, Width), AsmError> {
        let Some(token) = self.peek().filter(|t| t.kind == Kind::Ident) else {
            return Err(self.expected("register"));
        };
        match llvm_reg(token.text) {
            Some(Ok(reg)) => {
                self.pos += 1;
                Ok(reg)
            }
            Some(Err(())) => Err(self.error(AsmErrorKind::InvalidRegister(token.text.to_owned()))),
            None => Err(self.expected("register")),
        }
    }

    /// An LLVM register of the given width: `r` for 64 bits, `w` for 32.
    pub fn llvm_reg_of(&mut self, width: Width) -> Result<Reg, AsmError> {
        let column = self.column();
        let (reg, found) = self.llvm_reg()?;
        if found != width {
            let found = Found::Token(reg_name(reg, found));
            return Err(self.error_at(column, AsmErrorKind::Expected { expected: width_name(width).into(), found }));
        }
        Ok(reg)
    }

    /// An LLVM register that must be `reg` of `width` (`r0 = -r0`, the
    /// fetched register of an atomic).
    pub fn same_reg(&mut self, reg: Reg, width: Width) -> Result<(), AsmError> {
        let column = self.column();
        let (found, found_width) = self.llvm_reg()?;
        if (found, found_width) != (reg, width) {
            let expected = format!("`{}`", reg_name(reg, width));
            let found = Found::Token(reg_name(found, found_width));
            return Err(self.error_at(column, AsmErrorKind::Expected { expected, found }));
        }
        Ok(())
    }

    /// A conformance-syntax register, `%rN`.
    pub fn percent_reg(&mut self) -> Result<Reg, AsmError> {
        match self.peek() {
            Some(t) if t.kind == Kind::Percent => match llvm_reg(&t.text[1..]) {
                Some(Ok((reg, Width::W64))) => {
                    self.pos += 1;
                    Ok(reg)
                }
                Some(Err(())) => Err(self.error(AsmErrorKind::InvalidRegister(t.text.to_owned()))),
                _ => Err(self.expected("register")),
            },
            _ => Err(self.expected("register")),
        }
    }

    pub fn at_percent_reg(&self) -> bool {
        self.peek().is_some_and(|t| t.kind == Kind::Percent)
    }
}

/// Whether `text` is register-shaped (`r…`/`w…` and digits); `Err` when it
/// names no register (`r11`).
pub(super) fn llvm_reg(text: &str) -> Option<Result<(Reg, Width), ()>> {
    let width = match text.as_bytes().first()? {
        b'r' => Width::W64,
        b'w' => Width::W32,
        _ => return None,
    };
    let digits = &text[1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(reg_number(digits).map(|reg| (reg, width)).ok_or(()))
}

fn reg_number(digits: &str) -> Option<Reg> {
    if digits.len() > 2 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    Reg::new(digits.parse().ok()?)
}

pub(super) fn reg_name(reg: Reg, width: Width) -> String {
    match width {
        Width::W64 => format!("r{}", reg.num()),
        Width::W32 => format!("w{}", reg.num()),
    }
}

pub(super) fn width_name(width: Width) -> &'static str {
    match width {
        Width::W64 => "64-bit register `rN`",
        Width::W32 => "32-bit register `wN`",
    }
}

/// Reads an unsigned number in `syntax`'s radix rules.
fn parse_number(text: &str, syntax: Syntax) -> Option<i128> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex, 16)
    } else if let (Syntax::Llvm, Some(bin)) = (syntax, lower.strip_prefix("0b")) {
        (bin, 2)
    } else if syntax == Syntax::Llvm && lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(i128::from).or_else(|| {
        // Beyond 64 bits only to say "out of range" rather than "invalid".
        u128::from_str_radix(digits, radix).ok().and_then(|v| i128::try_from(v).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_each_syntaxs_radix_rules() {
        assert_eq!(parse_number("017", Syntax::Llvm), Some(0o17));
        assert_eq!(parse_number("017", Syntax::Conformance), Some(17));
        assert_eq!(parse_number("0b101", Syntax::Llvm), Some(5));
        assert_eq!(parse_number("0xFFffFFff", Syntax::Conformance), Some(0xffff_ffff));
        assert_eq!(parse_number("0x1ffffffffffffffff", Syntax::Llvm), Some(0x1_ffff_ffff_ffff_ffff));
        assert_eq!(parse_number("0x", Syntax::Llvm), None);
        assert_eq!(parse_number("12ab", Syntax::Llvm), None);
        assert_eq!(parse_number("09", Syntax::Llvm), None);
    }

    #[test]
    fn register_names() {
        assert_eq!(llvm_reg("r10"), Some(Ok((Reg::R10, Width::W64))));
        assert_eq!(llvm_reg("w0"), Some(Ok((Reg::R0, Width::W32))));
        assert_eq!(llvm_reg("r11"), Some(Err(())));
        assert_eq!(llvm_reg("r01"), Some(Err(())));
        assert_eq!(llvm_reg("ret"), None);
        assert_eq!(llvm_reg("r"), None);
    }
}
