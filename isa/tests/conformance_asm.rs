//! The conformance suite's programs through the assembler: every `-- asm`
//! section of `../shared/conformance/*.data` assembles, matches the file's
//! `-- raw` encoding where it has one, survives encode -> decode, and
//! reassembles from the disassembler's text to the same instructions.

use std::path::{Path, PathBuf};

use bpfx_isa::*;

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance");

/// One test file's sections, by name (`asm`, `raw`, `result`, ...).
struct TestFile {
    path: PathBuf,
    sections: Vec<(String, String)>,
}

impl TestFile {
    fn read(path: PathBuf) -> TestFile {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.trim_start().strip_prefix("--") {
                sections.push((name.trim().to_owned(), String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        TestFile { path, sections }
    }

    fn section(&self, name: &str) -> Option<&str> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, body)| body.as_str())
    }

    fn name(&self) -> String {
        self.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}

/// The suite's files, or `None` (with the reason printed) when the shared
/// folder is absent.
fn suite() -> Option<Vec<TestFile>> {
    let dir = Path::new(SUITE);
    if !dir.is_dir() {
        eprintln!("SKIPPED: conformance suite not found at {} (the shared folder is absent)", dir.display());
        return None;
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the suite's folder")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{} exists but holds no .data file", dir.display());
    Some(paths.into_iter().map(TestFile::read).collect())
}

/// The `-- raw` section's 64-bit little-endian words, as bytes.
fn raw_bytes(file: &TestFile, raw: &str) -> Vec<u8> {
    let slots: Vec<RawInsn> = raw
        .split_whitespace()
        .map(|word| {
            let hex = word.strip_prefix("0x").unwrap_or_else(|| panic!("{}: raw word {word}", file.name()));
            RawInsn::from_u64(u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{}: {word}: {e}", file.name())))
        })
        .collect();
    slots_to_bytes(&slots)
}

#[test]
fn every_conformance_program_assembles_and_round_trips() {
    let Some(files) = suite() else { return };
    let (mut programs, mut raw_checked, mut insns_total) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let Some(source) = file.section("asm") else { continue };
        programs += 1;
        let insns = match asm::assemble(source) {
            Ok(insns) => insns,
            Err(e) => {
                failures.push(format!("{}: -- asm {e}", file.name()));
                continue;
            }
        };
        insns_total += insns.len();
        let bytes = encode_bytes(&insns);
        if let Some(raw) = file.section("raw") {
            raw_checked += 1;
            if bytes != raw_bytes(file, raw) {
                failures.push(format!(
                    "{}: assembled {bytes:02x?}, -- raw says {:02x?}",
                    file.name(),
                    raw_bytes(file, raw)
                ));
            }
        }
        match decode_bytes(&bytes) {
            Ok(decoded) if decoded == insns => {}
            Ok(decoded) => failures.push(format!("{}: decodes to {decoded:?}, assembled {insns:?}", file.name())),
            Err(e) => failures.push(format!("{}: assembled program does not decode: {e}", file.name())),
        }
    }
    eprintln!(
        "conformance asm: {programs} programs ({insns_total} instructions) from {} files assembled, \
         {raw_checked} checked against their -- raw section",
        files.len()
    );
    assert!(failures.is_empty(), "{} of {programs} programs failed:\n{}", failures.len(), failures.join("\n"));
    assert!(programs > 0, "no -- asm section found in {} files", files.len());
    assert!(raw_checked > 0, "no -- raw section found: the encoding check ran on nothing");
}

/// `assemble(disassemble(x)) == x` over every instruction of the suite.
#[test]
fn conformance_programs_reassemble_from_their_disassembly() {
    let Some(files) = suite() else { return };
    let mut checked = 0;
    for file in &files {
        let Some(source) = file.section("asm") else { continue };
        let insns = asm::assemble(source).unwrap_or_else(|e| panic!("{}: {e}", file.name()));
        let text: String = insns.iter().map(|insn| format!("{insn}\n")).collect();
        let again = asm::assemble(&text).unwrap_or_else(|e| panic!("{}: {e} in\n{text}", file.name()));
        assert_eq!(again, insns, "{}: the disassembly\n{text}reassembles differently", file.name());
        checked += insns.len();
    }
    eprintln!("conformance asm: {checked} instructions reassembled from their disassembly");
    assert!(checked > 0);
}
