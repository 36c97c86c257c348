//! What a source line is before any instruction parsing: blank or comment,
//! one of the lines `llvm-objdump -dr` prints around instructions, or
//! instruction text (possibly behind objdump's slot number and raw bytes,
//! and before its target annotation).

/// A source line's shape.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shape<'a> {
    /// Nothing to assemble: blank, comment, `file format`, `Disassembly of
    /// section`, or a relocation line.
    Skip,
    /// objdump's symbol header, `0000000000000000 <xdp_prog>:`, which
    /// defines a label at the next instruction.
    Symbol { name: &'a str, column: u32 },
    /// Labels and/or an instruction: `text` starts at character `column`.
    Text { text: &'a str, column: u32 },
}

/// Classifies one line.
pub(super) fn shape(line: &str) -> Shape<'_> {
    let line = strip_comment(line).trim_end();
    let trimmed = line.trim_start();
    if trimmed.is_empty() || is_banner(trimmed) || is_relocation(trimmed) {
        return Shape::Skip;
    }
    // Every piece below is a subslice of `line`; its column is where it starts.
    let column_of = |s: &str| {
        let chars = line[..s.as_ptr() as usize - line.as_ptr() as usize].chars().count();
        u32::try_from(chars).unwrap_or(u32::MAX).saturating_add(1)
    };
    if let Some(name) = symbol_header(trimmed) {
        return Shape::Symbol { name, column: column_of(name) };
    }
    let text = strip_raw_bytes(strip_slot_number(trimmed));
    let text = strip_annotation(text).trim();
    if text.is_empty() {
        return Shape::Skip;
    }
    Shape::Text { text, column: column_of(text) }
}

/// Cuts a comment: `#` (the conformance suite, llvm-mc), `//` (llvm-mc) or
/// `;` (objdump's interleaved source lines).
fn strip_comment(line: &str) -> &str {
    let end = [line.find('#'), line.find("//"), line.find(';')].into_iter().flatten().min();
    end.map_or(line, |end| &line[..end])
}

/// `prog.o:\tfile format elf64-bpf` and `Disassembly of section .text:`.
fn is_banner(line: &str) -> bool {
    if line.starts_with("Disassembly of section ") && line.ends_with(':') {
        return true;
    }
    line.find("file format ").is_some_and(|at| line[..at].trim_end().ends_with(':'))
}

/// `0000000000000020:  R_BPF_64_64\tcounters`.
fn is_relocation(line: &str) -> bool {
    let Some((offset, rest)) = line.split_once(':') else { return false };
    !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_hexdigit()) && rest.trim_start().starts_with("R_")
}

/// The name in `0000000000000000 <name>:`.
fn symbol_header(line: &str) -> Option<&str> {
    let (address, rest) = line.split_once(' ')?;
    if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let name = rest.strip_prefix('<')?.strip_suffix(">:")?;
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// objdump's `      12:\t` slot number.
fn strip_slot_number(line: &str) -> &str {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    match line[digits..].strip_prefix(':') {
        Some(rest) if digits > 0 && (rest.is_empty() || rest.starts_with(char::is_whitespace)) => rest.trim_start(),
        _ => line,
    }
}

/// objdump's raw instruction bytes (`b7 00 00 00 01 00 00 00`), 8 or 16 of
/// them, which precede the text unless `--no-show-raw-insn` is given.
fn strip_raw_bytes(text: &str) -> &str {
    let mut rest = text;
    let mut count = 0;
    while rest.len() >= 2
        && rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit)
        && rest[2..].chars().next().is_none_or(char::is_whitespace)
    {
        rest = rest[2..].trim_start();
        count += 1;
    }
    if count == 8 || count == 16 { rest } else { text }
}

/// objdump's target annotation after a branch: `goto +0x3 <LBB0_2>`,
/// `<.text+0x58>`. No instruction ends in `>` otherwise.
fn strip_annotation(text: &str) -> &str {
    if !text.ends_with('>') {
        return text;
    }
    let start = text.char_indices().rev().find(|&(i, c)| c == '<' && text[..i].ends_with(char::is_whitespace));
    start.map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objdump_decorations_are_recognised() {
        assert_eq!(shape("prog.o:\tfile format elf64-bpf"), Shape::Skip);
        assert_eq!(shape("Disassembly of section xdp:"), Shape::Skip);
        assert_eq!(shape("\t\t0000000000000020:  R_BPF_64_64\tcounters"), Shape::Skip);
        assert_eq!(shape("; int k = ctx->ingress_ifindex;"), Shape::Skip);
        assert_eq!(shape("0000000000000000 <xdp_prog>:"), Shape::Symbol { name: "xdp_prog", column: 19 });
        assert_eq!(
            shape("       8:\tif r1 > 0x3 goto +0x2 <.text+0x58>"),
            Shape::Text { text: "if r1 > 0x3 goto +0x2", column: 11 }
        );
        assert_eq!(
            shape("       4:\t18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x0 ll"),
            Shape::Text { text: "r1 = 0x0 ll", column: 59 }
        );
        assert_eq!(shape("      13:\tbe 00 00 00 00 00 00 00\tr0 = 0x1"), Shape::Text { text: "r0 = 0x1", column: 35 });
    }

    #[test]
    fn instruction_text_is_left_alone() {
        assert_eq!(shape("  if r1 < r2 goto +1 # back"), Shape::Text { text: "if r1 < r2 goto +1", column: 3 });
        assert_eq!(shape("be16 %r0"), Shape::Text { text: "be16 %r0", column: 1 });
        assert_eq!(shape("LBB0_2:"), Shape::Text { text: "LBB0_2:", column: 1 });
        assert_eq!(shape("ab cd"), Shape::Text { text: "ab cd", column: 1 });
    }
}
