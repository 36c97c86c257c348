//! `bpfx run PROG --pcap IN`: replays a capture through a program and
//! prints what became of each packet.
//!
//! Text output is a summary (packets, verdict counts, refused frames,
//! faults, instructions, time) and the final non-zero map contents; each
//! fault goes to stderr with its packet index. `--json` prints JSON Lines:
//! one object per packet, then one `{"maps": .., "summary": ..}` object
//! (the shape README.md documents; scripts depend on it). Exit 0 when every
//! run completed, 1 when the program was refused or a run faulted, 2 for an
//! unreadable or foreign capture.
//!
//! `--repeat N` runs each packet N times on one context; `--engine both`
//! holds the JIT's runs against the interpreter's; `--live` holds the
//! kernel's (`BPF_PROG_TEST_RUN`) against bpfx's. Any difference is
//! reported with its packet index and exits 1.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use bpfx_interpreter::Interpreter;
use bpfx_isa::Program;
use bpfx_isa::abi::MapType;
use bpfx_live::replay::packet_difference;
use bpfx_live::{Difference, LiveReplayer};
use bpfx_loader::Object;
use bpfx_runtime::context::convert::converts;
use bpfx_runtime::maps::flags::BPF_ANY;
use bpfx_runtime::replay::{self, CaptureFormat, Frame, MapContents, MapValue, Outcome, Replayer};
use bpfx_runtime::{Engine, Exit, Redirect, Runtime};
use serde_json::{Value, json};

use crate::live::{self, Kernel};
use crate::output;
use crate::run::{Args, EngineKind, hex, jit, parse_hex};
use bpfx_prove::{Loaded, Loading};

/// Replays at least this many packets before a progress bar is worth it.
const PROGRESS_MIN: usize = 10_000;

pub fn replay(
    args: &Args,
    pcap: &Path,
    object: Option<&Object>,
    program: Program,
    others: Vec<Program>,
) -> anyhow::Result<ExitCode> {
    let prog_type = match args.kind.and_then(|k| k.prog_type()) {
        Some(t) => t,
        None if converts(program.prog_type) => program.prog_type,
        None => bail!(
            "{}: a {} program has no packet context; replay takes xdp, tc, socket filter and cgroup_skb programs (--type)",
            program.name,
            program.prog_type
        ),
    };
    let bytes = std::fs::read(pcap).with_context(|| format!("{}", pcap.display()))?;
    let capture = replay::read_capture(&bytes).with_context(|| format!("{}", pcap.display()))?;
    let out_format = args.out.as_ref().map(|o| match o.extension().and_then(|e| e.to_str()) {
        Some("pcapng") => CaptureFormat::Pcapng,
        _ => CaptureFormat::Pcap,
    });
    let (mut rt, mut twin_rt) = (Runtime::default(), Runtime::default());
    // --engine both: the interpreter's run is the one reported, the JIT's
    // (in its own runtime) is held against it packet by packet.
    let (mut engine, mut twin): (Box<dyn Engine>, Option<Box<dyn Engine>>) = match args.engine {
        EngineKind::Interp => (Box::new(Interpreter::new()), None),
        EngineKind::Jit => (Box::new(jit()?), None),
        EngineKind::Both => (Box::new(Interpreter::new()), Some(Box::new(jit()?))),
    };
    let with_type = |p: &Program| Program { prog_type, ..p.clone() };
    let loaded = load(args, engine.as_mut(), &mut rt, &with_type(&program), &others).and_then(|main| {
        let twin =
            twin.as_mut().map(|t| load(args, t.as_mut(), &mut twin_rt, &with_type(&program), &others)).transpose()?;
        Ok((main, twin))
    });
    let (Loaded { prog, proven_accesses }, twin_prog) = match loaded {
        Ok(progs) => progs,
        Err(reason) => {
            if args.json {
                output::stdout(format!("{}\n", json!({ "error": reason })).as_bytes())?;
            } else {
                eprintln!("refused: {reason}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let kernel = if args.live {
        // The object as it is, BTF and tail-call targets included, unless
        // --type changed what the program is.
        let object = object.filter(|_| prog_type == program.prog_type);
        Some(live::load_for_replay(args, object, &with_type(&program))?)
    } else {
        None
    };
    let kernel = match kernel {
        Some(Kernel::Loaded(k)) => Some(k),
        Some(Kernel::Rejected(code)) => return Ok(code),
        None => None,
    };
    for set in &args.map_set {
        map_set(&mut rt, set)?;
        if twin.is_some() {
            map_set(&mut twin_rt, set)?;
        }
        if let Some(k) = &kernel {
            live::map_set(k.maps(), set)?;
        }
    }

    let progress = (std::io::stderr().is_terminal() && capture.frames.len() >= PROGRESS_MIN).then(|| {
        let bar = indicatif::ProgressBar::new(capture.frames.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} packets {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let replayer = Replayer::new(engine.as_ref(), &mut rt, prog, prog_type);
    let mut side = match &kernel {
        Some(k) => {
            let repeat = u32::try_from(args.repeat).context("--repeat")?;
            Side::Live(LiveReplayer::new(replayer, k.prog(), prog_type).with_repeat(repeat))
        }
        None => Side::Offline(replayer),
    };
    let mut twin =
        twin.as_deref().zip(twin_prog.map(|l| l.prog)).map(|(e, p)| Replayer::new(e, &mut twin_rt, p, prog_type));
    let mut tally = live::Tally::default();
    let mut engines_differ = 0u64;
    let mut lines = String::new();
    let mut written: Vec<(Frame, String)> = Vec::new();
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    let (mut faults, mut refused, mut insns, mut ran) = (0u64, 0u64, 0u64, 0u64);
    let truncated = capture.frames.iter().filter(|f| f.truncated()).count();
    let start = Instant::now();
    for (i, frame) in capture.frames.iter().enumerate() {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        let (outcome, per_run, compared) = match &mut side {
            Side::Offline(r) => {
                let (outcome, per_run) =
                    r.run_repeated(&frame.data, args.repeat).map_err(|e| anyhow!("packet {i}: {e}"))?;
                (outcome, per_run, None)
            }
            Side::Live(l) => {
                let c = l.run(&frame.data).map_err(|e| anyhow!("packet {i}: {e}"))?;
                (c.bpfx, c.bpfx_per_run, Some((c.kernel, c.differences)))
            }
        };
        let mut line = json!({ "i": i, "len": frame.data.len() });
        if args.repeat > 1 && matches!(outcome, Outcome::Ran(_)) {
            line["ns_per_run"] = (per_run.as_nanos() as u64).into();
        }
        if let Some((kernel, differences)) = &compared {
            tally.add(kernel.as_ref(), differences);
            live::annotate_row(&mut line, prog_type, kernel.as_ref(), differences);
            if !args.json {
                for d in differences {
                    eprintln!("packet {i}: {d}");
                }
            }
        }
        if let Some(twin) = &mut twin {
            let (theirs, _) =
                twin.run_repeated(&frame.data, args.repeat).map_err(|e| anyhow!("packet {i} on the jit: {e}"))?;
            let differences = engine_differences(&outcome, &theirs);
            if !differences.is_empty() {
                engines_differ += 1;
                if !args.json {
                    for d in &differences {
                        eprintln!("packet {i}: engines differ: {}", engine_text(d));
                    }
                }
                line["engine_differences"] = differences
                    .iter()
                    .map(|d| json!({ "what": d.what, "interp": d.bpfx, "jit": d.kernel }))
                    .collect::<Vec<_>>()
                    .into();
            }
        }
        let mut stop = false;
        match outcome {
            Outcome::Refused(r) => {
                refused += 1;
                line["errno"] = r.errno.into();
                line["error"] = r.reason.into();
            }
            Outcome::Ran(r) => {
                ran += 1;
                insns += r.insns;
                match &r.exit {
                    Exit::Return(_) => {
                        let action = replay::action(prog_type, r.retval);
                        line["retval"] = r.retval.into();
                        line["action"] = action.clone().into();
                        if let Some(target) = r.redirect.filter(|_| action.ends_with("REDIRECT")) {
                            line["redirect"] = redirect(&target).into();
                        }
                        *verdicts.entry(action.clone()).or_default() += 1;
                        if let Some(out) = r.out {
                            written.push((Frame { data: out.into(), ..frame.clone() }, action));
                        }
                    }
                    Exit::Fault { at, fault } => {
                        faults += 1;
                        line["fault"] = json!({ "at": at.0, "message": fault.to_string() });
                        if !args.json {
                            eprintln!("packet {i}: fault: {} (after {} instructions)", r.exit, r.insns);
                        }
                        stop = args.stop_on_fault;
                    }
                }
                if r.changed {
                    line["data_out"] = hex(&r.data_out).into();
                }
                if let Some(skb) = r.skb {
                    line["mark"] = skb.mark.into();
                    line["priority"] = skb.priority.into();
                    line["tc_classid"] = skb.tc_classid.into();
                    line["cb"] = skb.cb.to_vec().into();
                }
            }
        }
        if args.json {
            lines.push_str(&line.to_string());
            lines.push('\n');
            if lines.len() > 1 << 16 {
                output::stdout(lines.as_bytes())?;
                lines.clear();
            }
        }
        if stop {
            break;
        }
    }
    let elapsed = start.elapsed();
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let maps = replay::map_contents(side.runtime());
    let twin_maps_differ = twin.as_mut().map(|t| replay::map_contents(t.runtime()) != maps);
    let map_comparison = match &kernel {
        Some(k) => Some(live::compare_maps(&maps, k)?),
        None => None,
    };
    if let (Some(path), Some(format)) = (&args.out, out_format) {
        let file = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        replay::write_capture(&mut w, format, &written).with_context(|| format!("{}", path.display()))?;
        std::io::Write::flush(&mut w).with_context(|| format!("{}", path.display()))?;
    }
    let packets = capture.frames.len();
    let summary = json!({
        "packets": packets,
        "ran": ran,
        "verdicts": verdicts,
        "refused": refused,
        "faults": faults,
        "truncated_in_capture": truncated,
        "insns": insns,
        "ns": elapsed.as_nanos() as u64,
        "written": args.out.as_ref().map(|_| written.len()),
    });
    let mut summary = summary;
    if let Some(n) = proven_accesses {
        summary["proven_accesses"] = n.into();
    }
    if let Some(comparison) = &map_comparison {
        summary["live"] = tally.json(comparison);
    }
    if let Some(maps_differ) = twin_maps_differ {
        summary["engines"] = json!({ "differing": engines_differ, "maps_differ": maps_differ });
    }
    if args.json {
        let mut doc = json!({ "maps": maps_json(&maps), "summary": summary });
        if let Some(comparison) = &map_comparison {
            doc["kernel_maps"] = maps_json(&comparison.kernel);
        }
        lines.push_str(&doc.to_string());
        lines.push('\n');
        output::stdout(lines.as_bytes())?;
    } else {
        let mut text = format!("packets: {packets}\n");
        for (action, n) in &verdicts {
            text.push_str(&format!("  {action}: {n}\n"));
        }
        if refused > 0 {
            text.push_str(&format!("refused: {refused} (frames BPF_PROG_TEST_RUN would refuse)\n"));
        }
        text.push_str(&format!("faults: {faults}\n"));
        if truncated > 0 {
            text.push_str(&format!("truncated in capture: {truncated} (the program saw the captured bytes only)\n"));
        }
        let per = |total: f64| if ran == 0 { 0.0 } else { total / ran as f64 };
        text.push_str(&format!("insns: {insns} ({:.1} per packet)\n", per(insns as f64)));
        // The whole loop: with --live or --engine both, the other side's
        // runs are in it too.
        let sides = match (args.live, args.engine) {
            (true, EngineKind::Both) => ", bpfx's two engines and the kernel together",
            (true, _) => ", bpfx and the kernel together",
            (false, EngineKind::Both) => ", both engines together",
            (false, _) => "",
        };
        text.push_str(&format!(
            "time: {:.3} ms ({:.0} ns per packet{sides})\n",
            elapsed.as_secs_f64() * 1e3,
            per(elapsed.as_nanos() as f64)
        ));
        if let Some(path) = &args.out {
            text.push_str(&format!("written: {} packets to {}\n", written.len(), path.display()));
        }
        for m in &maps {
            text.push_str(&format!("map {}:\n", m.name));
            for (k, v) in &m.entries {
                match v {
                    MapValue::Single(v) => text.push_str(&format!("  {} = {}\n", hex(k), hex(v))),
                    MapValue::PerCpu(vs) => text.push_str(&format!(
                        "  {} = [{}]\n",
                        hex(k),
                        vs.iter().map(|v| hex(v)).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }
        if let Some(comparison) = &map_comparison {
            text.push_str(&tally.text(comparison));
        }
        if let Some(maps_differ) = twin_maps_differ {
            text.push_str(&format!(
                "engines: interp and jit differ on {engines_differ} packets; their maps {}\n",
                if maps_differ { "differ" } else { "are identical" }
            ));
        }
        output::stdout(text.as_bytes())?;
    }
    let differ = map_comparison.is_some_and(|c| !c.differences.is_empty())
        || tally.differing > 0
        || engines_differ > 0
        || twin_maps_differ == Some(true);
    Ok(if faults > 0 || differ { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Loads `program` (already given the replay's type) and the programs its
/// prog arrays name on `engine` into `rt`; `Err` says which was refused
/// and why.
fn load(
    args: &Args,
    engine: &mut dyn Engine,
    rt: &mut Runtime,
    program: &Program,
    others: &[Program],
) -> Result<Loaded, String> {
    let loading = Loading { convert: true, trust_verifier: !args.check_all };
    let loaded = loading.load(engine, rt, program).map_err(|e| format!("{}: {e}", program.name))?;
    let prog_arrays = program.maps.iter().filter(|m| m.map_type == MapType::ProgArray);
    let named: Vec<&str> = prog_arrays.flat_map(|m| m.initial_slots.iter().map(|(_, n)| n.as_str())).collect();
    for other in others.iter().filter(|p| named.contains(&p.name.as_str())) {
        loading.load(engine, rt, other).map_err(|e| format!("{}: {e}", other.name))?;
    }
    rt.apply_initial_slots().map_err(|e| format!("{}: {e}", program.name))?;
    Ok(loaded)
}

/// Where the interpreter's and the JIT's results for one packet differ
/// (as [`Difference`]s whose two sides are the interpreter's and the
/// JIT's).
fn engine_differences(a: &Outcome, b: &Outcome) -> Vec<Difference> {
    let diff = |what: &str, x: String, y: String| Difference { what: what.into(), bpfx: x, kernel: y };
    match (a, b) {
        _ if a == b => Vec::new(),
        (Outcome::Ran(x), Outcome::Ran(y)) => {
            let mut out = Vec::new();
            if x.exit != y.exit {
                out.push(diff("exit", x.exit.to_string(), y.exit.to_string()));
            }
            if x.insns != y.insns {
                out.push(diff("insns", x.insns.to_string(), y.insns.to_string()));
            }
            if let Some((p, q)) = packet_difference(&x.data_out, &y.data_out) {
                out.push(diff("data_out", p, q));
            }
            if x.skb_ctx_out != y.skb_ctx_out || x.redirect != y.redirect || x.out != y.out {
                out.push(diff("context or redirect", format!("{:?}", x.skb), format!("{:?}", y.skb)));
            }
            out
        }
        _ => vec![diff("outcome", format!("{a:?}"), format!("{b:?}"))],
    }
}

/// An engine difference as text: the interpreter's side, then the JIT's.
fn engine_text(d: &Difference) -> String {
    format!("{}: interp {}, jit {}", d.what, d.bpfx, d.kernel)
}

/// bpfx alone, or bpfx beside the kernel.
enum Side<'a> {
    Offline(Replayer<'a>),
    Live(LiveReplayer<'a>),
}

impl Side<'_> {
    fn runtime(&mut self) -> &mut Runtime {
        match self {
            Side::Offline(r) => r.runtime(),
            Side::Live(l) => l.bpfx().runtime(),
        }
    }
}

/// Maps as the JSON summary lists them: name -> entries.
fn maps_json(maps: &[MapContents]) -> Value {
    let mut doc = serde_json::Map::new();
    for m in maps {
        let entries: Vec<Value> = m
            .entries
            .iter()
            .map(|(k, v)| match v {
                MapValue::Single(v) => json!({ "key": hex(k), "value": hex(v) }),
                MapValue::PerCpu(vs) => {
                    json!({ "key": hex(k), "per_cpu": vs.iter().map(|v| hex(v)).collect::<Vec<_>>() })
                }
            })
            .collect();
        doc.insert(m.name.clone(), entries.into());
    }
    doc.into()
}

/// `--map-set NAME:KEYHEX:VALUEHEX`. A per-CPU map's value may be given
/// once for every CPU.
fn map_set(rt: &mut Runtime, set: &str) -> anyhow::Result<()> {
    let (name, key, mut value) = parse_map_set(set)?;
    let id = rt.map_id(name).ok_or_else(|| anyhow!("--map-set: the program has no map `{name}`"))?;
    let map = rt.map_mut(id).ok_or_else(|| anyhow!("--map-set: no map `{name}`"))?;
    let per_cpu = map.user_value_size();
    if value.len() == map.spec().value_size as usize && per_cpu > value.len() {
        let one = map.spec().value_size as usize;
        let slot = one.div_ceil(8) * 8;
        let mut all = vec![0u8; per_cpu];
        for chunk in all.chunks_mut(slot) {
            chunk[..one].copy_from_slice(&value);
        }
        value = all;
    }
    map.update(&key, &value, BPF_ANY).map_err(|e| anyhow!("--map-set `{set}`: {e}"))
}

/// `NAME:KEYHEX:VALUEHEX` read as the map's name, key and value.
pub(crate) fn parse_map_set(set: &str) -> anyhow::Result<(&str, Vec<u8>, Vec<u8>)> {
    let mut parts = set.splitn(3, ':');
    let (Some(name), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("--map-set `{set}`: expected NAME:KEYHEX:VALUEHEX");
    };
    let key = parse_hex(key).with_context(|| format!("--map-set `{set}`: key"))?;
    let value = parse_hex(value).with_context(|| format!("--map-set `{set}`: value"))?;
    Ok((name, key, value))
}

fn redirect(r: &Redirect) -> String {
    match r {
        Redirect::Ifindex { ifindex, .. } => format!("ifindex {ifindex}"),
        Redirect::Map { map, key, .. } => format!("map {} key {key}", map.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_differences_name_each_field() {
        let ran = |r0: u64, insns: u64, data: &[u8]| {
            Outcome::Ran(replay::Ran {
                exit: Exit::Return(r0),
                insns,
                retval: r0 as u32,
                data_out: data.to_vec(),
                changed: false,
                out: None,
                skb: None,
                skb_ctx_out: None,
                redirect: None,
            })
        };
        assert_eq!(engine_differences(&ran(2, 5, &[1]), &ran(2, 5, &[1])), []);
        let found: Vec<String> =
            engine_differences(&ran(2, 5, &[1, 2]), &ran(1, 6, &[1, 3])).iter().map(engine_text).collect();
        assert_eq!(
            found,
            [
                "exit: interp returned 0x2, jit returned 0x1",
                "insns: interp 5, jit 6",
                "data_out: interp 2 bytes, byte 1 = 0x02, jit 2 bytes, byte 1 = 0x03",
            ]
        );
    }

    #[test]
    fn redirect_targets_are_named() {
        assert_eq!(redirect(&Redirect::Ifindex { ifindex: 3, flags: 0 }), "ifindex 3");
    }
}
