//! The public conformance suite's format: a `.data` file holds a program
//! (`-- asm` or `-- raw`), the memory `r1` points at (`-- mem`, hex bytes)
//! and the expected `r0` (`-- result`), or an expected error.

use std::path::{Path, PathBuf};

use bpfx_isa::{Insn, RawInsn, asm, decode_slots};

/// What one file asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub insns: Vec<Insn>,
    pub mem: Vec<u8>,
    pub expected: u64,
}

/// One test file, split into its sections.
struct Sections(Vec<(String, String)>);

impl Sections {
    fn parse(text: &str) -> Sections {
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some((_, name)) = line.split_once("--") {
                sections.push((name.trim().to_owned(), String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                let line = line.split('#').next().unwrap_or("");
                body.push_str(line);
                body.push('\n');
            }
        }
        Sections(sections)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_str())
    }
}

fn parse_number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| e.to_string()),
        None => match t.strip_prefix('-') {
            Some(dec) => dec.parse::<u64>().map(|v| v.wrapping_neg()).map_err(|e| e.to_string()),
            None => t.parse::<u64>().map_err(|e| e.to_string()),
        },
    };
    parsed.map_err(|e| format!("bad number `{t}`: {e}"))
}

/// Reads a file's text into a [`Case`].
pub fn parse(text: &str) -> Result<Case, String> {
    let file = Sections::parse(text);
    if let Some(error) = file.get("error") {
        return Err(format!("expects an error ({}), which this runner does not check", error.trim()));
    }
    let insns = match file.get("raw") {
        Some(raw) => {
            let slots = raw
                .split_whitespace()
                .map(|w| parse_number(w).map(RawInsn::from_u64))
                .collect::<Result<Vec<_>, _>>()?;
            decode_slots(&slots).map_err(|e| format!("raw section: {e}"))?
        }
        None => {
            let source = file.get("asm").ok_or("no asm or raw section")?;
            asm::assemble(source).map_err(|e| format!("asm section: {e}"))?
        }
    };
    let mem = match file.get("mem") {
        Some(hex) => hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).map_err(|e| format!("mem byte `{b}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let expected = parse_number(file.get("result").ok_or("no result section")?)?;
    Ok(Case { insns, mem, expected })
}

/// The suite's `.data` files in `dir`, sorted; `None` (after saying so on
/// stderr) when the folder is absent.
pub fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    if !dir.is_dir() {
        eprintln!("SKIPPED: conformance suite not found at {} (the shared folder is absent)", dir.display());
        return None;
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    paths.sort();
    Some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_numbers_and_memory() {
        let case = parse("-- asm\nmov %r0, 1 # one\nexit\n-- mem\n01 ff\n-- result\n0x1\n").unwrap();
        assert_eq!(case.insns.len(), 2);
        assert_eq!(case.mem, [1, 0xff]);
        assert_eq!(case.expected, 1);
        assert_eq!(parse_number("-1"), Ok(u64::MAX));
        assert!(parse("-- asm\nexit\n-- error\nbad\n").unwrap_err().contains("expects an error"));
    }
}
