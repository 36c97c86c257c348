//! `bpfx verify`: every program of an object (or the one named) through
//! bpfx's verifier, reported as text, JSON or SARIF 2.1.0. Exit 0 when all
//! are accepted, 1 when any is rejected, 2 for bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bpfx_isa::Program;
use bpfx_isa::abi::ProgType;
use bpfx_loader::{LoadOptions, Object};
use bpfx_verifier::{Code, Diagnostic, Options, Report, verify};
use serde_json::{Value, json};

use crate::input::{self, Prog};
use crate::output;

#[derive(clap::Args)]
/// Verify programs offline with bpfx's verifier (the kernel's rules)
pub struct Args {
    /// An ELF object, assembly (.s) or raw bytecode
    prog: PathBuf,
    /// Only the program with this function name
    #[arg(short = 'p', long = "program")]
    program: Option<String>,
    /// Only the programs of this section
    #[arg(short = 's', long)]
    section: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Judge as the kernel does for an unprivileged loader
    #[arg(long)]
    unprivileged: bool,
    /// The program type of assembly or bytecode input (the kernel's name: xdp, sched_cls, socket_filter, ...)
    #[arg(long = "type", default_value = "socket_filter")]
    prog_type: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let programs = select(args)?;
    let opts = Options { privileged: !args.unprivileged, ..Options::default() };
    let reports: Vec<Report> = programs.iter().map(|p| verify(p, &opts)).collect();
    let text = match args.format {
        Format::Text => text(&reports),
        Format::Json => format!("{:#}\n", json!({ "programs": reports.iter().map(report_json).collect::<Vec<_>>() })),
        Format::Sarif => format!("{:#}\n", sarif(&args.prog, &reports)),
    };
    output::stdout(text.as_bytes())?;
    Ok(if reports.iter().all(Report::accepted) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn select(args: &Args) -> anyhow::Result<Vec<Program>> {
    let name = args.prog.display();
    match input::read(&args.prog)? {
        Prog::Insns(insns) => {
            if args.program.is_some() || args.section.is_some() {
                bail!("{name}: -p and -s select programs of an ELF object");
            }
            let Some(prog_type) = ProgType::from_name(&args.prog_type) else {
                bail!("{name}: unknown program type `{}`", args.prog_type);
            };
            let stem = args.prog.file_stem().map_or_else(|| "prog".into(), |s| s.to_string_lossy().into_owned());
            let mut program = Program::new(stem, prog_type, insns);
            program.license = "GPL".into();
            Ok(vec![program])
        }
        Prog::Object(_) => {
            let bytes = std::fs::read(&args.prog).with_context(|| format!("{name}"))?;
            let object = Object::load(&bytes, &LoadOptions::default()).with_context(|| format!("{name}"))?;
            let chosen: Vec<Program> = object
                .programs()
                .iter()
                .filter(|p| args.program.as_ref().is_none_or(|n| &p.name == n))
                .filter(|p| args.section.as_ref().is_none_or(|s| &p.section == s))
                .cloned()
                .collect();
            if chosen.is_empty() {
                let names: Vec<String> =
                    object.programs().iter().map(|p| format!("{} ({})", p.name, p.section)).collect();
                bail!("{name}: no such program; the object has {}", names.join(", "));
            }
            Ok(chosen)
        }
    }
}

fn text(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        let s = &r.stats;
        let stats = format!(
            "processed {} insns, {} states (peak {}), stack {} bytes, {:.3} ms",
            s.processed,
            s.total_states,
            s.peak_states,
            s.stack_depth,
            s.time.as_secs_f64() * 1e3
        );
        if r.accepted() {
            out.push_str(&format!("{}: accepted ({stats})\n", r.program));
        } else {
            out.push_str(&format!("{}: rejected ({stats})\n", r.program));
            for d in &r.diagnostics {
                out.push_str(&format!("{d}\n"));
            }
        }
    }
    out
}

fn diagnostic_json(d: &Diagnostic) -> Value {
    json!({
        "code": d.code.as_str(),
        "insn": d.at.0,
        "disasm": d.insn,
        "source": d.source.as_ref().map(|s| json!({ "file": s.file, "line": s.line, "column": s.column, "text": s.text })),
        "message": d.message,
        "help": d.help,
        "state": d.state,
        "branches": d.branches.iter().map(|b| json!({ "insn": b.at.0, "taken": b.taken })).collect::<Vec<_>>(),
    })
}

fn report_json(r: &Report) -> Value {
    json!({
        "program": r.program,
        "verdict": if r.accepted() { "accepted" } else { "rejected" },
        "diagnostics": r.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
        "stats": {
            "processed_insns": r.stats.processed,
            "total_states": r.stats.total_states,
            "peak_states": r.stats.peak_states,
            "pruned": r.stats.pruned,
            "stack_depth": r.stats.stack_depth,
            "time_us": r.stats.time.as_micros() as u64,
        },
    })
}

/// A SARIF 2.1.0 log: one result per diagnostic, located at the C source
/// line when the program has line info, else at the input file.
fn sarif(input: &Path, reports: &[Report]) -> Value {
    let rules: Vec<Value> = Code::ALL.iter().map(|c| json!({ "id": c.as_str() })).collect();
    let mut results = Vec::new();
    for r in reports {
        for d in &r.diagnostics {
            let physical = match &d.source {
                Some(s) => json!({
                    "artifactLocation": { "uri": s.file },
                    "region": { "startLine": s.line.max(1), "startColumn": s.column.max(1) },
                }),
                None => json!({ "artifactLocation": { "uri": input.display().to_string() } }),
            };
            results.push(json!({
                "ruleId": d.code.as_str(),
                "level": "error",
                "message": { "text": format!("{}: {} (insn {}: {}). {}", r.program, d.message, d.at, d.insn, d.help) },
                "locations": [{
                    "physicalLocation": physical,
                    "logicalLocations": [{ "name": r.program, "kind": "function" }],
                }],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "bpfx", "informationUri": "https://example.invalid/bpfx", "rules": rules } },
            "results": results,
        }],
    })
}
