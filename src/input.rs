//! Reading a program argument: an ELF object (by its magic), assembly text
//! (by a `.s`/`.S`/`.asm` extension) or otherwise raw bytecode.

use std::path::Path;

use anyhow::{Context, anyhow};
use bpfx_isa::{Insn, assemble, decode_bytes};
use bpfx_loader::Object;

const ELF_MAGIC: &[u8] = b"\x7fELF";

/// A program as read from the command line.
pub enum Prog {
    Object(Object),
    /// Raw bytecode or assembled text: instructions without sections.
    Insns(Vec<Insn>),
}

/// Reads and decodes (or assembles) the program at `path`. Errors name the
/// file and, below it, the section, instruction or line at fault.
pub fn read(path: &Path) -> anyhow::Result<Prog> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("{name}"))?;
    if bytes.starts_with(ELF_MAGIC) {
        return Object::parse(&bytes).map(Prog::Object).with_context(|| format!("{name}"));
    }
    if is_assembly(path) {
        return assemble_file(path, &bytes).map(Prog::Insns);
    }
    decode_bytes(&bytes).map(Prog::Insns).with_context(|| format!("{name}"))
}

/// Assembles the text of `path`; errors read `FILE:LINE:COLUMN: message`.
pub fn assemble_file(path: &Path, bytes: &[u8]) -> anyhow::Result<Vec<Insn>> {
    let name = path.display();
    let text = std::str::from_utf8(bytes).map_err(|e| anyhow!("{name}: not UTF-8 text: {e}"))?;
    assemble(text).map_err(|e| anyhow!("{name}:{e}"))
}

fn is_assembly(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "s" || ext == "S" || ext == "asm")
}
