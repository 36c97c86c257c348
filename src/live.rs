//! `--live`: what the command line shows of the kernel beside bpfx — the
//! kernel's rejection with its log annotated with the C source, the
//! kernel's row beside each replayed packet, the comparison's tally.

use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use bpfx_isa::Program;
use bpfx_isa::abi::{MapType, ProgType};
use bpfx_live::{KernelOutcome, KernelRejection, MapComparison, annotated_log, compare_with_kernel};
use bpfx_loader::Object;
use bpfx_loader::kernel::{
    Bpf, KernelError, LoadedObject, Map, ObjectLoadOptions, Prog, ProgLoadOptions, ProgramSelection, UpdateFlags,
    possible_cpus,
};
use bpfx_runtime::replay::{self, MapContents, is_per_cpu};
use serde_json::{Value, json};

use crate::output;
use crate::replay::parse_map_set;
use crate::run::{Args, hex};

/// The program loaded in the kernel for a live replay, with its maps.
pub enum Loaded {
    /// From its ELF object, as libbpf loads it.
    Object { object: LoadedObject, name: String },
    /// A bare program with fresh maps.
    Program { prog: Prog, maps: Vec<Map> },
}

impl Loaded {
    pub fn prog(&self) -> &Prog {
        match self {
            Loaded::Object { object, name } => object.prog(name).expect("load_for_replay checked the program is there"),
            Loaded::Program { prog, .. } => prog,
        }
    }

    pub fn maps(&self) -> &[Map] {
        match self {
            Loaded::Object { object, .. } => object.maps(),
            Loaded::Program { maps, .. } => maps,
        }
    }
}

/// The kernel's answer to a load for a live replay.
pub enum Kernel {
    Loaded(Box<Loaded>),
    /// The kernel rejected the program (already reported); the exit code.
    Rejected(ExitCode),
}

/// Loads `program` for a live replay: from `object` when given (its BTF,
/// and the programs its prog arrays name as tail-call targets, loaded with
/// it), else bare with fresh maps. A rejection is reported here; failing
/// to reach the kernel is an error.
pub fn load_for_replay(args: &Args, object: Option<&Object>, program: &Program) -> anyhow::Result<Kernel> {
    let bpf = Bpf::new();
    let loaded = match object {
        Some(object) => {
            let mut names: Vec<&str> = vec![&program.name];
            let prog_arrays = program.maps.iter().filter(|m| m.map_type == MapType::ProgArray);
            names.extend(prog_arrays.flat_map(|m| m.initial_slots.iter().map(|(_, n)| n.as_str())));
            let options = ObjectLoadOptions::default();
            bpf.load_object(object, ProgramSelection::Named(&names), &options)
                .map(|object| Loaded::Object { object, name: program.name.clone() })
        }
        None => {
            if let Some(map) =
                program.maps.iter().find(|m| m.map_type == MapType::ProgArray && !m.initial_slots.is_empty())
            {
                bail!(
                    "--live: `{}` fills prog array `{}` with tail-call targets, which only an ELF object's \
                     replay loads (this program was given with --type)",
                    program.name,
                    map.name
                );
            }
            bpf.load(program, &ProgLoadOptions::default()).map(|(prog, maps)| Loaded::Program { prog, maps })
        }
    };
    match loaded {
        Ok(Loaded::Object { object, .. }) if object.prog(&program.name).is_none() => {
            bail!("--live: the kernel loaded the object without `{}`", program.name)
        }
        Ok(loaded) => Ok(Kernel::Loaded(Box::new(loaded))),
        Err(KernelError::Rejected(rejected)) => {
            let rejection = KernelRejection::new(program, *rejected);
            if args.json {
                output::stdout(format!("{}\n", json!({ "kernel": rejection_json(program, &rejection) })).as_bytes())?;
            } else {
                eprint!("{}", rejection_text(program, &rejection));
            }
            Ok(Kernel::Rejected(ExitCode::FAILURE))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("--live: loading `{}` into the kernel", program.name))),
    }
}

/// `--map-set NAME:KEYHEX:VALUEHEX` on the kernel's copy of the map; a
/// per-CPU value given once goes to every CPU.
pub fn map_set(maps: &[Map], set: &str) -> anyhow::Result<()> {
    let (name, key, mut value) = parse_map_set(set)?;
    let map = maps
        .iter()
        .find(|m| m.spec().name == name)
        .ok_or_else(|| anyhow!("--map-set: the kernel's program has no map `{name}`"))?;
    let spec = map.spec();
    if is_per_cpu(spec.map_type) && value.len() == spec.value_size as usize {
        let stride = value.len().div_ceil(8) * 8;
        let cpus = possible_cpus()? as usize;
        let mut all = vec![0u8; stride * cpus];
        for chunk in all.chunks_mut(stride) {
            chunk[..value.len()].copy_from_slice(&value);
        }
        value = all;
    }
    map.update(&key, &value, UpdateFlags::ANY).map_err(|e| anyhow!("--map-set `{set}` in the kernel: {e}"))
}

/// bpfx's maps beside the kernel's after a replay.
pub fn compare_maps(ours: &[MapContents], kernel: &Loaded) -> anyhow::Result<MapComparison> {
    compare_with_kernel(ours, kernel.maps()).context("--live: reading the kernel's maps")
}

/// Adds the kernel's result (`"kernel"`, in the shape of bpfx's row) and
/// the differences to a packet's JSON row.
pub fn annotate_row(
    line: &mut Value,
    prog_type: ProgType,
    kernel: Option<&KernelOutcome>,
    differences: &[bpfx_live::Difference],
) {
    line["kernel"] = match kernel {
        None => json!({ "skipped": "bpfx does not model this frame (multi-buffer XDP), so the kernel did not run it" }),
        Some(KernelOutcome::Refused { errno, reason }) => json!({ "errno": errno.0, "error": reason }),
        Some(KernelOutcome::Ran(k)) => {
            let mut row = json!({
                "retval": k.retval,
                "action": replay::action(prog_type, k.retval),
                "ns": k.duration_ns,
            });
            if k.changed {
                row["data_out"] = hex(&k.data_out).into();
            }
            if let (Some(mark), Some(priority), Some(cb)) = (k.skb_u32("mark"), k.skb_u32("priority"), k.skb_cb()) {
                row["mark"] = mark.into();
                row["priority"] = priority.into();
                row["cb"] = cb.to_vec().into();
            }
            row
        }
    };
    if !differences.is_empty() {
        line["differences"] = differences
            .iter()
            .map(|d| json!({ "what": d.what, "bpfx": d.bpfx, "kernel": d.kernel }))
            .collect::<Vec<_>>()
            .into();
    }
}

/// How the packets of a live replay compared.
#[derive(Default)]
pub struct Tally {
    pub compared: u64,
    pub differing: u64,
    pub unmodelled: u64,
}

impl Tally {
    pub fn add(&mut self, kernel: Option<&KernelOutcome>, differences: &[bpfx_live::Difference]) {
        match kernel {
            None => self.unmodelled += 1,
            Some(_) => {
                self.compared += 1;
                self.differing += u64::from(!differences.is_empty());
            }
        }
    }

    pub fn json(&self, maps: &MapComparison) -> Value {
        json!({
            "compared": self.compared,
            "differing": self.differing,
            "not_modelled": self.unmodelled,
            "maps_not_compared": maps.not_compared,
            "map_differences": maps.differences.iter().map(|d| json!({
                "map": d.map,
                "key": hex(&d.key),
                "bpfx": d.bpfx.as_deref().map(hex),
                "kernel": d.kernel.as_deref().map(hex),
                "summed_over_cpus": d.summed,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn text(&self, maps: &MapComparison) -> String {
        let mut out = format!(
            "kernel: {} packets through BPF_PROG_TEST_RUN, {} identical, {} differ\n",
            self.compared,
            self.compared - self.differing,
            self.differing
        );
        if self.unmodelled > 0 {
            out.push_str(&format!(
                "kernel: {} multi-buffer XDP frames not compared (bpfx does not model them)\n",
                self.unmodelled
            ));
        }
        for d in &maps.differences {
            let value = |v: &Option<Vec<u8>>| v.as_deref().map_or_else(|| "absent".to_owned(), hex);
            let summed = if d.summed { " (summed over CPUs)" } else { "" };
            out.push_str(&format!(
                "kernel: map {} key {}: bpfx {}, kernel {}{summed}\n",
                d.map,
                hex(&d.key),
                value(&d.bpfx),
                value(&d.kernel)
            ));
        }
        if maps.differences.is_empty() {
            out.push_str("kernel: maps identical\n");
        }
        if !maps.not_compared.is_empty() {
            out.push_str(&format!(
                "kernel: maps not compared (the kernel lists them only by emptying them): {}\n",
                maps.not_compared.join(", ")
            ));
        }
        out
    }
}

/// A kernel rejection as a person reads it: the error at its instruction
/// and source line, then the kernel's log with the source written in.
pub fn rejection_text(program: &Program, r: &KernelRejection) -> String {
    let mut out = format!("{}: the kernel rejected it ({})", program.name, r.errno);
    if let Some(at) = r.at {
        out.push_str(&format!(" at insn {at}"));
    }
    out.push_str(&format!(": {}\n", r.message.as_deref().unwrap_or("(the log gives no reason)").replace('\n', "; ")));
    if let Some(s) = &r.source {
        out.push_str(&format!("  --> {}:{}:{}\n   | {}\n", s.file, s.line, s.column, s.source.trim()));
    }
    out.push_str("kernel log:\n");
    for line in annotated_log(&r.log, program).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

pub fn rejection_json(program: &Program, r: &KernelRejection) -> Value {
    json!({
        "verdict": "rejected",
        "errno": r.errno.0,
        "errno_name": r.errno.to_string(),
        "insn": r.at.map(|a| a.0),
        "message": r.message,
        "source": r.source.as_ref().map(|s| json!({ "file": s.file, "line": s.line, "column": s.column, "text": s.source.trim() })),
        "log": annotated_log(&r.log, program),
    })
}
