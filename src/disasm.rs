//! `bpfx disasm PROG`: a listing in the shape of `llvm-objdump-19 -dr
//! --no-show-raw-insn` (for an object: file and section headers, symbol
//! headers, jump annotations, relocation lines naming their symbol).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bpfx_isa::InsnIdx;
use bpfx_isa::disasm::Listing;
use bpfx_loader::{CodeSection, Object};

use crate::input::{self, Prog};
use crate::output;

/// Disassembles a program: an ELF object, raw bytecode or assembly.
#[derive(clap::Args)]
pub struct Args {
    /// An ELF object (.o), raw bytecode (.bin) or assembly (.s).
    prog: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = match input::read(&args.prog)? {
        Prog::Object(object) => object_listing(&args.prog, &object),
        Prog::Insns(insns) => Listing::new(&insns).to_string(),
    };
    output::stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The listing of every non-empty executable section, as objdump prints it.
fn object_listing(path: &Path, object: &Object) -> String {
    let mut out = format!("\n{}:\tfile format elf64-bpf\n", path.display());
    for section in object.sections().iter().filter(|s| !s.insns().is_empty()) {
        out.push_str(&format!("\nDisassembly of section {}:\n{}", section.name(), section_listing(section)));
    }
    out
}

fn section_listing(section: &CodeSection) -> String {
    // objdump lists an instruction's CO-RE relocation before its ELF ones.
    let core = section.core_notes().iter().map(|(at, text)| (*at, format!("CO-RE {text}")));
    let notes: Vec<(InsnIdx, String)> = core
        .chain(section.relocations().iter().map(|r| {
            // objdump's name for "no symbol" (symbol 0).
            (r.at, format!("{}\t{}", r.kind, r.symbol.as_ref().map_or("*ABS*", |s| s.name.as_str())))
        }))
        .collect();
    let mut listing = Listing::new(section.insns());
    // objdump names the start of a section after it when no symbol does.
    if section.symbols_at(InsnIdx(0)).next().is_none() {
        listing = listing.label(InsnIdx(0), section.name());
    }
    for symbol in section.symbols() {
        listing = listing.label(symbol.at, &symbol.name);
    }
    for (at, text) in &notes {
        listing = listing.note(*at, text);
    }
    listing.to_string()
}
