//! The `bpfx` command line: argument parsing, output formatting and exit
//! codes, nothing a library user would need (that lives in the crates).
//!
//! Exit codes (design.md's CLI contract): a command returns the code of its
//! outcome — 0, or 1 when the program was rejected, a run faulted, or
//! engines or the kernel disagreed; an `Err` is bad usage or unreadable
//! input, exit 2, as are clap's usage errors. Errors go to stderr, results
//! to stdout.

mod asm;
mod detach;
mod disasm;
mod info;
mod input;
mod live;
mod load;
mod output;
mod replay;
mod run;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bpfx", version, about = "An eBPF toolchain for BPF programs built by clang")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Disasm(disasm::Args),
    Asm(asm::Args),
    Info(info::Args),
    Run(run::Args),
    Verify(verify::Args),
    Load(load::Args),
    Detach(detach::Args),
}

/// Exit code for bad usage or unreadable input.
const EXIT_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Disasm(args) => disasm::run(&args),
        Command::Asm(args) => asm::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Detach(args) => detach::run(&args),
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("{err:#}");
        ExitCode::from(EXIT_INPUT)
    })
}
