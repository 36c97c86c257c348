//! Splits one line of instruction text into tokens, each with its column.

use super::error::AsmErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A name: mnemonic, register (`r1`, `w1`), label, keyword.
    Ident,
    /// Digits and letters starting with a digit; read by the parser, which
    /// knows the syntax's radix rules.
    Number,
    /// A conformance-syntax register, `%r1`.
    Percent,
    /// An operator or punctuation, from [`PUNCTS`].
    Punct,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// 1-based character column in the source line.
    pub column: u32,
}

/// Operators and punctuation, longest first so that the first match is the
/// longest. The `s`-prefixed ones are LLVM's signed operators (`s>>=`,
/// `if r1 s< r2`); an `s` only starts one where a token starts, so `skb` and
/// labels beginning with `s` still lex as names.
const PUNCTS: &[&str] = &[
    "s>>=", "<<=", ">>=", "s/=", "s%=", "s<=", "s>=", "+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "==", "!=", "<=",
    ">=", "s<", "s>", "<", ">", "=", "&", "+", "-", "*", "(", ")", "[", "]", ",", ":",
];

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '$')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$')
}

/// Lexes `text`, whose first character is at column `first_column`.
/// On failure returns the column and the error.
pub(super) fn lex(text: &str, first_column: u32) -> Result<Vec<Token<'_>>, (u32, AsmErrorKind)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut column = first_column;
    let take_while = |start: usize, pred: fn(char) -> bool| {
        text[start..].char_indices().find(|&(_, c)| !pred(c)).map_or(text.len(), |(i, _)| start + i)
    };
    while let Some(&(start, c)) = chars.peek() {
        let rest = &text[start..];
        let (kind, end) = if c.is_whitespace() {
            chars.next();
            column = column.saturating_add(1);
            continue;
        } else if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            (Kind::Punct, start + p.len())
        } else if c == '%' && rest[1..].starts_with(is_name_start) {
            (Kind::Percent, take_while(start + 1, is_name_char))
        } else if c.is_ascii_digit() {
            (Kind::Number, take_while(start, is_name_char))
        } else if is_name_start(c) {
            (Kind::Ident, take_while(start, is_name_char))
        } else {
            return Err((column, AsmErrorKind::UnexpectedChar(c)));
        };
        let token = Token { kind, text: &text[start..end], column };
        tokens.push(token);
        while chars.peek().is_some_and(|&(i, _)| i < end) {
            chars.next();
            column = column.saturating_add(1);
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str, u32)> {
        lex(text, 1).unwrap().into_iter().map(|t| (t.kind, t.text, t.column)).collect()
    }

    #[test]
    fn signed_operators_lex_as_one_token_but_names_starting_with_s_do_not() {
        assert_eq!(
            kinds("if w1 s< w2 goto skb"),
            [
                (Kind::Ident, "if", 1),
                (Kind::Ident, "w1", 4),
                (Kind::Punct, "s<", 7),
                (Kind::Ident, "w2", 10),
                (Kind::Ident, "goto", 13),
                (Kind::Ident, "skb", 18),
            ]
        );
        assert_eq!(kinds("r1 s>>= 3")[1], (Kind::Punct, "s>>=", 4));
    }

    #[test]
    fn conformance_registers_and_memory_operands() {
        assert_eq!(
            kinds("stxdw [%r10-8], %r0"),
            [
                (Kind::Ident, "stxdw", 1),
                (Kind::Punct, "[", 7),
                (Kind::Percent, "%r10", 8),
                (Kind::Punct, "-", 12),
                (Kind::Number, "8", 13),
                (Kind::Punct, "]", 14),
                (Kind::Punct, ",", 15),
                (Kind::Percent, "%r0", 17),
            ]
        );
        assert_eq!(kinds("r1 %= r2")[1], (Kind::Punct, "%=", 4));
    }

    #[test]
    fn stray_characters_are_reported_with_their_column() {
        assert_eq!(lex("r0 = @", 5).unwrap_err(), (10, AsmErrorKind::UnexpectedChar('@')));
    }
}
