//! `bpfx asm FILE.s [-o FILE.bin]`: assembly text to raw bytecode.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bpfx_isa::encode_bytes;

use crate::{input, output};

/// Assembles a file into raw bytecode (8-byte little-endian slots).
#[derive(clap::Args)]
pub struct Args {
    /// The assembly file (LLVM's BPF syntax or the conformance suite's).
    file: PathBuf,
    /// Where to write the bytecode; `-` for stdout. Default: FILE with the
    /// extension `.bin`, next to it.
    #[arg(short, long, value_name = "FILE.bin")]
    output: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let bytes = encode_bytes(&input::assemble_file(&args.file, &text)?);
    let out = args.output.clone().unwrap_or_else(|| args.file.with_extension("bin"));
    if out.as_os_str() == "-" {
        output::stdout(&bytes)?;
    } else if out == args.file {
        bail!("{}: refusing to overwrite the input with its bytecode (give -o)", out.display());
    } else {
        std::fs::write(&out, bytes).with_context(|| format!("{}", out.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
