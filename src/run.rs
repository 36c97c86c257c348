//! `bpfx run PROG`: runs a program on an engine and prints what it
//! returned. A `raw` program gets `r1` = the `--mem` bytes and `r2` their
//! length (the conformance suite's convention).
//!
//! Text output is `r0` and the instruction count, then any
//! `bpf_trace_printk` lines; `--json` prints one document with `r0`,
//! `insns`, `engine`, `trace` and `mem` (the memory as the program left
//! it, in hex). A fault goes to stderr (in `--json`, into the document) and
//! exits 1, as does a program refused at load.
//!
//! `--engine jit` adds `"compile_ns"` to the document; `--engine both` runs
//! the interpreter and the JIT, each in its own runtime, and exits 1 when
//! their results (`r0` or fault, instruction count, memory, trace) differ.
//! `--repeat N` runs the program N times on the same input (rewrites
//! accumulate, as with `BPF_PROG_TEST_RUN`'s repeat; a run that faults
//! ends the repetition) and reports the last run, with `"ns_per_run"`: the
//! mean time of one run, loading excluded.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use bpfx_interpreter::Interpreter;
use bpfx_isa::Program;
use bpfx_isa::abi::ProgType;
use bpfx_jit::Jit;
use bpfx_loader::{LoadOptions, Object};
use bpfx_runtime::{Context, Engine, Exit, RunResult, Runtime};

use crate::input::{self, Prog};
use crate::output;
use bpfx_prove::{Loaded, Loading};

/// Runs a program and prints its result.
#[derive(clap::Args)]
pub struct Args {
    /// An ELF object (.o), raw bytecode (.bin) or assembly (.s).
    prog: PathBuf,
    /// The program to run, by function name (ELF objects).
    #[arg(short = 'p', long = "program", value_name = "PROGRAM")]
    program: Option<String>,
    /// The program to run, by its section (ELF objects).
    #[arg(short = 's', long = "section", value_name = "SECTION", conflicts_with = "program")]
    section: Option<String>,
    /// The program's context (default: the ELF section's program type, else
    /// raw).
    #[arg(long = "type", value_enum)]
    pub(crate) kind: Option<Kind>,
    /// The engine to run it on.
    #[arg(long, value_enum, default_value_t = EngineKind::Interp)]
    pub(crate) engine: EngineKind,
    /// Runs the program this many times on the same input (each packet,
    /// with --pcap) and reports the mean time of a run.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    pub(crate) repeat: u64,
    /// A raw program's input memory, as hex bytes (`01 02 ff` or `0102ff`).
    #[arg(long, value_name = "HEX", conflicts_with = "pcap")]
    mem: Option<String>,
    /// Replays a pcap or pcapng capture of Ethernet frames through the
    /// program, one run per packet (see README, "Replaying captures").
    #[arg(long, value_name = "IN")]
    pub(crate) pcap: Option<PathBuf>,
    /// Writes the packets the program passed, as it left them (pcapng with
    /// the verdict as a comment when OUT ends in .pcapng).
    #[arg(long, value_name = "OUT", requires = "pcap")]
    pub(crate) out: Option<PathBuf>,
    /// Sets a map entry before the replay (hex key and value).
    #[arg(long = "map-set", value_name = "NAME:KEYHEX:VALUEHEX", requires = "pcap")]
    pub(crate) map_set: Vec<String>,
    /// Stops the replay at the first packet whose run faults.
    #[arg(long, requires = "pcap")]
    pub(crate) stop_on_fault: bool,
    /// Also runs every packet in the running kernel (BPF_PROG_TEST_RUN,
    /// its own maps) and reports where it differs from bpfx.
    #[arg(long, requires = "pcap")]
    pub(crate) live: bool,
    /// Checks every memory access at run time, even those bpfx's verifier
    /// proved safe (by default the JIT trusts the verifier's proofs, as the
    /// kernel's JIT does, for programs it accepts).
    #[arg(long)]
    pub(crate) check_all: bool,
    /// Print one JSON document.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Program contexts `run` provides.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// `r1` = the `--mem` bytes, `r2` = their length.
    Raw,
    /// `struct xdp_md` over each packet (with --pcap).
    Xdp,
    /// `struct __sk_buff` of a tc (sched_cls) program (with --pcap).
    Tc,
    /// `struct __sk_buff` of a socket filter (with --pcap).
    Socket,
    /// `struct __sk_buff` of a cgroup_skb program (with --pcap).
    CgroupSkb,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EngineKind {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT.
    Jit,
    /// Both, each in its own runtime, compared.
    Both,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Xdp => "xdp",
            Kind::Tc => "tc",
            Kind::Socket => "socket",
            Kind::CgroupSkb => "cgroup-skb",
        }
    }

    /// The program type of a packet context.
    pub(crate) fn prog_type(self) -> Option<ProgType> {
        match self {
            Kind::Raw => None,
            Kind::Xdp => Some(ProgType::Xdp),
            Kind::Tc => Some(ProgType::SchedCls),
            Kind::Socket => Some(ProgType::SocketFilter),
            Kind::CgroupSkb => Some(ProgType::CgroupSkb),
        }
    }
}

/// What one engine's runs produced.
struct Ran {
    engine: &'static str,
    result: RunResult,
    trace: Vec<String>,
    mem: Vec<u8>,
    compile_ns: Option<u64>,
    /// Accesses the engine ran unchecked, proved safe by the verifier.
    proven_accesses: Option<usize>,
    ns_per_run: f64,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(pcap) = &args.pcap {
        let (object, program, others) = select(args)?;
        return crate::replay::replay(args, pcap, object.as_ref(), program, others);
    }
    if args.kind.is_some_and(|k| k != Kind::Raw) {
        bail!("--type {} needs --pcap", args.kind.map_or("raw", Kind::name));
    }
    let mem = match &args.mem {
        Some(hex) => parse_hex(hex).context("--mem")?,
        None => Vec::new(),
    };
    let (_, program, others) = select(args)?;
    let ran = match args.engine {
        EngineKind::Interp => execute(args, &mut Interpreter::new(), &program, &others, &mem)?,
        EngineKind::Jit => execute(args, &mut jit()?, &program, &others, &mem)?,
        EngineKind::Both => {
            let interp = execute(args, &mut Interpreter::new(), &program, &others, &mem)?;
            let jit = execute(args, &mut jit()?, &program, &others, &mem)?;
            match (interp, jit) {
                (Ok(a), Ok(b)) => {
                    let same = (&a.result.exit, a.result.insns, &a.trace, &a.mem)
                        == (&b.result.exit, b.result.insns, &b.trace, &b.mem);
                    if !same {
                        return differ(args, &program.name, &a, &b);
                    }
                    Ok(Ran { engine: "both", compile_ns: b.compile_ns, ..a })
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
    };
    let Ran { engine, result, trace, mem: left, compile_ns, proven_accesses, ns_per_run } = match ran {
        Ok(ran) => ran,
        Err((name, reason)) => return refused(args, &name, &reason),
    };
    if args.json {
        let mut doc = serde_json::json!({
            "engine": engine,
            "insns": result.insns,
            "trace": trace,
            "mem": hex(&left),
        });
        if let Some(ns) = compile_ns {
            doc["compile_ns"] = ns.into();
        }
        if let Some(n) = proven_accesses {
            doc["proven_accesses"] = n.into();
        }
        if args.repeat > 1 {
            doc["ns_per_run"] = ns_per_run.into();
        }
        match &result.exit {
            Exit::Return(r0) => doc["r0"] = (*r0).into(),
            Exit::Fault { at, fault } => {
                doc["fault"] = serde_json::json!({ "at": at.0, "message": fault.to_string() });
            }
        }
        output::stdout(format!("{doc:#}\n").as_bytes())?;
        return Ok(if result.exit.r0().is_some() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    match result.exit {
        Exit::Return(r0) => {
            let mut text = format!("r0 = {r0:#x} ({r0})\ninsns = {}\n", result.insns);
            if args.repeat > 1 {
                text.push_str(&format!("ns_per_run = {ns_per_run:.1}\n"));
            }
            for line in &trace {
                text.push_str(&format!("trace: {}\n", line.trim_end_matches('\n')));
            }
            output::stdout(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Exit::Fault { .. } => {
            for line in &trace {
                eprintln!("trace: {}", line.trim_end_matches('\n'));
            }
            eprintln!("{}: fault: {} (after {} instructions)", program.name, result.exit, result.insns);
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn jit() -> anyhow::Result<Jit> {
    Jit::new().map_err(|e| anyhow!("--engine jit: {e}"))
}

/// Loads the program (and the ones its prog arrays name) on `engine` in a
/// fresh runtime and runs it `--repeat` times; `Err` names a program
/// refused at load and why.
fn execute(
    args: &Args,
    engine: &mut dyn Engine,
    program: &Program,
    others: &[Program],
    mem: &[u8],
) -> anyhow::Result<Result<Ran, (String, String)>> {
    let mut rt = Runtime::default();
    let loading = Loading { convert: false, trust_verifier: !args.check_all };
    let Loaded { prog, proven_accesses } = match loading.load(engine, &mut rt, program) {
        Ok(loaded) => loaded,
        Err(e) => return Ok(Err((program.name.clone(), e.to_string()))),
    };
    let compile_ns = engine.compile_ns();
    // Programs the selected one may tail-call: those the object's prog
    // arrays name.
    let named: Vec<&str> = program.maps.iter().flat_map(|m| m.initial_slots.iter().map(|(_, n)| n.as_str())).collect();
    for other in others.iter().filter(|p| named.contains(&p.name.as_str())) {
        if let Err(e) = loading.load(engine, &mut rt, other) {
            return Ok(Err((other.name.clone(), e.to_string())));
        }
    }
    if let Err(e) = rt.apply_initial_slots() {
        return Ok(Err((program.name.clone(), e.to_string())));
    }
    let mut ctx = Context::raw(mem);
    let start = std::time::Instant::now();
    let (result, runs) = engine.run_repeated(&mut rt, prog, &mut ctx, args.repeat).map_err(|e| anyhow!("{e}"))?;
    let ns_per_run = start.elapsed().as_nanos() as f64 / runs as f64;
    let trace = rt.take_trace();
    Ok(Ok(Ran { engine: engine.name(), result, trace, mem: ctx.mem(), compile_ns, proven_accesses, ns_per_run }))
}

/// The engines disagreed: exit 1, both results on stderr (or in the JSON
/// document).
fn differ(args: &Args, name: &str, a: &Ran, b: &Ran) -> anyhow::Result<ExitCode> {
    let show = |r: &Ran| format!("{} after {} instructions, mem {}", r.result.exit, r.result.insns, hex(&r.mem));
    if args.json {
        let doc = serde_json::json!({
            "engine": "both",
            "error": format!("{name}: the engines disagree"),
            "interp": show(a),
            "jit": show(b),
        });
        output::stdout(format!("{doc:#}\n").as_bytes())?;
    } else {
        eprintln!("{name}: the engines disagree\n  interp: {}\n  jit:    {}", show(a), show(b));
    }
    Ok(ExitCode::FAILURE)
}

/// A program refused at load: exit 1, the reason on stderr (or in the
/// JSON document).
fn refused(args: &Args, name: &str, reason: &str) -> anyhow::Result<ExitCode> {
    if args.json {
        let doc = serde_json::json!({ "error": format!("{name}: {reason}") });
        output::stdout(format!("{doc:#}\n").as_bytes())?;
    } else {
        eprintln!("{name}: refused: {reason}");
    }
    Ok(ExitCode::FAILURE)
}

/// The program to run and, for an object, the object and its other
/// programs.
fn select(args: &Args) -> anyhow::Result<(Option<Object>, Program, Vec<Program>)> {
    let name = args.prog.display();
    match input::read(&args.prog)? {
        Prog::Insns(insns) => {
            if args.program.is_some() || args.section.is_some() {
                bail!("{name}: -p and -s select a program of an ELF object");
            }
            let stem = args.prog.file_stem().map_or_else(|| "prog".into(), |s| s.to_string_lossy().into_owned());
            Ok((None, Program::new(stem, ProgType::Unspec, insns), Vec::new()))
        }
        Prog::Object(_) => {
            let bytes = std::fs::read(&args.prog).with_context(|| format!("{name}"))?;
            let object = Object::load(&bytes, &LoadOptions::default()).with_context(|| format!("{name}"))?;
            let programs = object.programs();
            let chosen: Vec<&Program> = match (&args.program, &args.section) {
                (Some(p), _) => programs.iter().filter(|x| &x.name == p).collect(),
                (None, Some(s)) => programs.iter().filter(|x| &x.section == s).collect(),
                (None, None) => programs.iter().collect(),
            };
            let names =
                || programs.iter().map(|p| format!("{} ({})", p.name, p.section)).collect::<Vec<_>>().join(", ");
            let program = match chosen.as_slice() {
                [one] => (*one).clone(),
                [] if programs.is_empty() => bail!("{name}: the object has no programs"),
                [] => bail!("{name}: no such program; the object has {}", names()),
                _ => bail!("{name}: the object has several programs, choose one with -p or -s: {}", names()),
            };
            let others = programs.iter().filter(|p| p.name != program.name).cloned().collect();
            Ok((Some(object), program, others))
        }
    }
}

/// Hex bytes, with optional whitespace between them.
pub(crate) fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits in `{text}`");
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s: String = pair.iter().collect();
            u8::from_str_radix(&s, 16).map_err(|_| anyhow!("`{s}` is not a hex byte"))
        })
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_reads_hex_with_or_without_spaces() {
        assert_eq!(parse_hex("00 01 ff").unwrap(), [0, 1, 255]);
        assert_eq!(parse_hex("0001ff\n").unwrap(), [0, 1, 255]);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert!(parse_hex("0").is_err());
        assert!(parse_hex("zz").is_err());
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }
}
