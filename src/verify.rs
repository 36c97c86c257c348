//! `bpfx verify`: every program of an object (or the one named) through
//! bpfx's verifier, reported as text, JSON or SARIF 2.1.0. Exit 0 when all
//! are accepted, 1 when any is rejected, 2 for bad input.
//!
//! `--live` also loads each program into the running kernel and puts its
//! verdict, statistics and (for a rejection) its log, annotated with the C
//! source, beside bpfx's; exit 1 also when the two disagree or the kernel
//! rejects. Not reaching the kernel (no privileges, no bpf(2)) is exit 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bpfx_isa::Program;
use bpfx_isa::abi::ProgType;
use bpfx_live::{KernelVerdict, judge, judge_in_object};
use bpfx_loader::kernel::{Bpf, ProgLoadOptions, VerifierLog};
use bpfx_loader::{LoadOptions, Object};
use bpfx_verifier::{Code, Diagnostic, Options, Report, verify};
use serde_json::{Value, json};

use crate::input::{self, Prog};
use crate::{live, output};

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
    /// Also load each program into the running kernel (bpf(2), needs root)
    /// and show its verdict beside bpfx's
    #[arg(long)]
    live: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.live && args.unprivileged {
        bail!(
            "--live with --unprivileged: the kernel judges the loader bpfx runs as (root, for --live), so its \
             verdict would be a privileged one beside bpfx's unprivileged one; --unprivileged is offline only"
        );
    }
    let (object, programs) = select(args)?;
    let opts = Options { privileged: !args.unprivileged, ..Options::default() };
    let reports: Vec<Report> = programs.iter().map(|p| verify(p, &opts)).collect();
    let kernel = if args.live { Some(judge_all(args, object.as_ref(), &programs)?) } else { None };
    let text = match args.format {
        Format::Text => text(&programs, &reports, kernel.as_deref()),
        Format::Json => {
            let docs: Vec<Value> = reports
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut doc = report_json(r);
                    if let Some(k) = &kernel {
                        doc["kernel"] = kernel_json(&programs[i], &k[i]);
                        doc["agree"] = (k[i].accepted() == r.accepted()).into();
                    }
                    doc
                })
                .collect();
            format!("{:#}\n", json!({ "programs": docs }))
        }
        Format::Sarif => format!("{:#}\n", sarif(&args.prog, &programs, &reports, kernel.as_deref())),
    };
    output::stdout(text.as_bytes())?;
    let kernel_ok = kernel.as_ref().is_none_or(|k| k.iter().zip(&reports).all(|(k, r)| k.accepted() && r.accepted()));
    Ok(if reports.iter().all(Report::accepted) && kernel_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The kernel's verdict on each program; reaching the kernel failing is
/// an error (exit 2), not a verdict.
fn judge_all(args: &Args, object: Option<&Object>, programs: &[Program]) -> anyhow::Result<Vec<KernelVerdict>> {
    let bpf = Bpf::new();
    programs
        .iter()
        .map(|p| {
            match object {
                Some(object) => judge_in_object(&bpf, object, p),
                None => judge(&bpf, p, &ProgLoadOptions::default()),
            }
            .with_context(|| format!("{}: --live: loading `{}` into the kernel", args.prog.display(), p.name))
        })
        .collect()
}

/// The programs to verify and, for an ELF object, the object they are in.
fn select(args: &Args) -> anyhow::Result<(Option<Object>, Vec<Program>)> {
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
            Ok((None, vec![program]))
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
            Ok((Some(object), chosen))
        }
    }
}

fn text(programs: &[Program], reports: &[Report], kernel: Option<&[KernelVerdict]>) -> String {
    let mut out = String::new();
    for (i, r) in reports.iter().enumerate() {
        let s = &r.stats;
        let stats = format!(
            "processed {} insns, {} states (peak {}), stack {} bytes, {:.3} ms",
            s.processed,
            s.total_states,
            s.peak_states,
            s.stack_depth,
            s.time.as_secs_f64() * 1e3
        );
        let verdict = if r.accepted() { "accepted" } else { "rejected" };
        match kernel.map(|k| &k[i]) {
            None => out.push_str(&format!("{}: {verdict} ({stats})\n", r.program)),
            Some(k) => {
                out.push_str(&format!("{}: bpfx {verdict} ({stats})\n", r.program));
                let verdict = if k.accepted() { "accepted" } else { "rejected" };
                out.push_str(&format!("{}: kernel {verdict} ({})\n", r.program, kernel_stats(k.log())));
                if k.accepted() != r.accepted() {
                    out.push_str(&format!("{}: bpfx and the kernel disagree\n", r.program));
                }
            }
        }
        for d in &r.diagnostics {
            out.push_str(&format!("{d}\n"));
        }
        if let Some(KernelVerdict::Rejected(rejection)) = kernel.map(|k| &k[i]) {
            out.push_str(&live::rejection_text(&programs[i], rejection));
        }
    }
    out
}

/// The kernel's `BPF_LOG_STATS` figures as one phrase.
fn kernel_stats(log: &VerifierLog) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &log.stats {
        parts
            .push(format!("processed {} insns, {} states (peak {})", s.insns_processed, s.total_states, s.peak_states));
    }
    if !log.stack_depth.is_empty() {
        let depth: Vec<String> = log.stack_depth.iter().map(u32::to_string).collect();
        parts.push(format!("stack {} bytes", depth.join("+")));
    }
    if let Some(us) = log.verification_time_usec {
        parts.push(format!("{:.3} ms", us as f64 / 1e3));
    }
    if parts.is_empty() { "no statistics in the log".into() } else { parts.join(", ") }
}

fn kernel_json(program: &Program, k: &KernelVerdict) -> Value {
    let log = k.log();
    let stats = json!({
        "processed_insns": log.stats.map(|s| s.insns_processed),
        "total_states": log.stats.map(|s| s.total_states),
        "peak_states": log.stats.map(|s| s.peak_states),
        "stack_depth": log.stack_depth,
        "time_us": log.verification_time_usec,
    });
    match k {
        KernelVerdict::Accepted { .. } => json!({ "verdict": "accepted", "stats": stats }),
        KernelVerdict::Rejected(r) => {
            let mut doc = live::rejection_json(program, r);
            doc["stats"] = stats;
            doc
        }
    }
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
fn sarif(input: &Path, programs: &[Program], reports: &[Report], kernel: Option<&[KernelVerdict]>) -> Value {
    let mut rules: Vec<Value> = Code::ALL.iter().map(|c| json!({ "id": c.as_str() })).collect();
    if kernel.is_some() {
        rules.push(json!({ "id": "kernel-rejected" }));
    }
    let mut results = Vec::new();
    for r in reports {
        for d in &r.diagnostics {
            let physical = physical(input, d.source.as_ref().map(|s| (s.file.as_str(), s.line, s.column)));
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
    for (program, k) in programs.iter().zip(kernel.unwrap_or_default()) {
        let KernelVerdict::Rejected(r) = k else { continue };
        let physical = physical(input, r.source.as_ref().map(|s| (s.file.as_str(), s.line, s.column)));
        let at = r.at.map_or_else(String::new, |at| format!(" at insn {at}"));
        results.push(json!({
            "ruleId": "kernel-rejected",
            "level": "error",
            "message": { "text": format!("{}: the kernel rejected it ({}){at}: {}", program.name, r.errno, r.message.as_deref().unwrap_or("").replace('\n', "; ")) },
            "locations": [{
                "physicalLocation": physical,
                "logicalLocations": [{ "name": program.name, "kind": "function" }],
            }],
        }));
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

/// A SARIF physical location: the C source line (file, line, column) when
/// known, else the input file.
fn physical(input: &Path, source: Option<(&str, u32, u32)>) -> Value {
    match source {
        Some((file, line, column)) => json!({
            "artifactLocation": { "uri": file },
            "region": { "startLine": line.max(1), "startColumn": column.max(1) },
        }),
        None => json!({ "artifactLocation": { "uri": input.display().to_string() } }),
    }
}
