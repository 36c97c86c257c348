//! Replay against the kernel: every packet program of the C test programs
//! runs over the captures in `../shared/pcaps` and over frames made here,
//! once on bpfx (converted context, interpreter and JIT) and once through
//! `BPF_PROG_TEST_RUN` on this machine (`bpfx_live`, what `--live` uses),
//! and each packet must give the same refusal errno, retval, output packet
//! and `__sk_buff` fields, and the maps the same contents at the end. There is no skip: without bpf(2)
//! (not root, no kernel support) the test fails saying so.

use std::path::PathBuf;
use std::process::Command;

use bpfx_interpreter::Interpreter;
use bpfx_isa::Program;
use bpfx_jit::Jit;
use bpfx_live::{LiveReplayer, compare_with_kernel};
use bpfx_loader::kernel::{Bpf, KernelError, ProgLoadOptions};
use bpfx_loader::{LoadOptions, Object};
use bpfx_runtime::context::convert::convert;
use bpfx_runtime::replay::{self, Outcome, Replayer};
use bpfx_runtime::{Engine, Runtime};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Packets taken from each shared capture (the largest has thousands).
const PER_CAPTURE: usize = 400;

/// (object, program) pairs: every packet program the tests and examples
/// build.
const PROGRAMS: &[(&str, &str)] = &[
    ("xdp_count.o", "xdp_count"),
    ("xdp_parse.o", "xdp_parse"),
    ("tc_rewrite.o", "tc_rewrite"),
    ("socket_filter.o", "socket_filter"),
    ("ctx_fields.o", "xdp_fields"),
    ("ctx_fields.o", "tc_fields"),
    ("ctx_fields.o", "socket_fields"),
    ("ctx_fields.o", "cgroup_fields"),
];

fn build_progs() {
    let status = Command::new(format!("{ROOT}/tests/build-progs.sh")).status().expect("runs tests/build-progs.sh");
    assert!(status.success(), "tests/build-progs.sh failed");
}

fn program(object: &str, name: &str) -> Program {
    let bytes = std::fs::read(format!("{ROOT}/tests/build/{object}")).expect("reads the object");
    let obj = Object::load(&bytes, &LoadOptions::default()).expect("loads the object");
    obj.programs().iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{object} has no {name}")).clone()
}

/// Frames made here: the kernel's edges (short frames, truncated IP
/// headers, oversized frames) and ordinary traffic of every kind the
/// programs tell apart.
fn generated() -> Vec<Vec<u8>> {
    let eth = |dst: [u8; 6], ethertype: u16, body: &[u8]| {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    let ipv4 = |proto: u8, payload: &[u8]| {
        let total = (20 + payload.len()) as u16;
        let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend_from_slice(payload);
        h
    };
    let mut udp53 = vec![0x9c, 0x40, 0, 53, 0, 0, 0, 0];
    udp53.extend_from_slice(&[0x11; 40]);
    let unicast = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
    let mut frames = vec![
        vec![],
        vec![0xff; 13],
        eth(unicast, 0x0800, &[]),
        eth(unicast, 0x0800, &[0x45; 19]),
        eth(unicast, 0x0800, &ipv4(17, &[])),
        eth(unicast, 0x86dd, &[0x60; 39]),
        eth(unicast, 0x86dd, &[0x60; 40]),
        eth([0xff; 6], 0x0806, &[0; 28]),
        eth([0x01, 0, 0x5e, 0, 0, 1], 0x0800, &ipv4(1, &[8, 0, 0, 0, 0, 0, 0, 0])),
        eth([0; 6], 0x0800, &ipv4(6, &[0; 20])),
        eth(unicast, 0x0800, &ipv4(17, &udp53)),
        eth(unicast, 0x002e, &[0xff, 0xff, 0, 0]),
        eth(unicast, 0x002e, &[0xaa, 0xaa, 3, 0]),
        eth(unicast, 0x8100, &[0, 5, 0x08, 0x00, 0x45, 0, 0, 20]),
        eth(unicast, 0x0800, &ipv4(17, &vec![7; 3400])),
        eth(unicast, 0x0800, &ipv4(17, &vec![7; 3700])),
    ];
    for len in [14usize, 33, 34, 60, 61, 101, 201, 1514] {
        let mut f = eth(unicast, 0x0800, &ipv4(6, &vec![0x5a; len.saturating_sub(34)]));
        f.truncate(len);
        frames.push(f);
    }
    frames
}

/// The frames of every Ethernet capture in ../shared/pcaps.
fn shared() -> Vec<(String, Vec<Vec<u8>>)> {
    let dir = PathBuf::from(format!("{ROOT}/../shared/pcaps"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIPPED: {} is absent; the shared captures were not replayed", dir.display());
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    let mut all = Vec::new();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match replay::read_capture(&std::fs::read(path).unwrap()) {
            Ok(c) => all.push((name, c.frames.into_iter().take(PER_CAPTURE).map(|f| f.data.into_owned()).collect())),
            Err(e) => eprintln!("{name}: not replayed: {e}"),
        }
    }
    all
}

struct Tally {
    compared: usize,
    refused: usize,
    unmodelled: usize,
}

/// Replays `frames` through `program` on `engine` and the kernel, asserting
/// agreement packet by packet and on the maps at the end.
fn compare(engine: &mut dyn Engine, program: &Program, source: &str, frames: &[Vec<u8>], tally: &mut Tally) {
    let options = ProgLoadOptions { license: Some("GPL"), ..ProgLoadOptions::default() };
    let (kprog, kmaps) = match Bpf::new().load(program, &options) {
        Ok(loaded) => loaded,
        Err(KernelError::Syscall(e)) => panic!(
            "the kernel comparison cannot run: bpf(2) failed ({e}); it needs root and a kernel with BPF_PROG_TEST_RUN"
        ),
        Err(e) => panic!("the kernel refused {}: {e}", program.name),
    };
    let mut rt = Runtime::default();
    let converted = convert(program).unwrap_or_else(|e| panic!("{}: {e}", program.name));
    let prog = engine.load(&mut rt, &converted).unwrap_or_else(|e| panic!("{}: {e}", program.name));
    let engine_name = engine.name();
    let replayer = Replayer::new(engine, &mut rt, prog, program.prog_type);
    let mut live = LiveReplayer::new(replayer, &kprog, program.prog_type);
    for (i, frame) in frames.iter().enumerate() {
        let at = format!("{} ({}) on {source} packet {i} ({} bytes)", program.name, engine_name, frame.len());
        let compared = live.run(frame).unwrap_or_else(|e| panic!("{at}: {e}"));
        let differences: Vec<String> = compared.differences.iter().map(ToString::to_string).collect();
        assert!(differences.is_empty(), "{at}: {}", differences.join("; "));
        match (&compared.bpfx, &compared.kernel) {
            // A multi-buffer XDP frame, which bpfx refuses: the kernel does
            // not get it either, so the maps stay comparable.
            (_, None) => tally.unmodelled += 1,
            (Outcome::Refused(_), Some(_)) => tally.refused += 1,
            (Outcome::Ran(r), Some(_)) => {
                assert!(r.exit.r0().is_some(), "{at}: bpfx faulted: {}", r.exit);
                tally.compared += 1;
            }
        }
    }
    let ours = replay::map_contents(live.bpfx().runtime());
    let comparison = compare_with_kernel(&ours, &kmaps).expect("reads the kernel's maps");
    assert_eq!(comparison.differences, [], "{} on {source}: maps", program.name);
}

fn each_program(make: &dyn Fn() -> Box<dyn Engine>) -> Tally {
    build_progs();
    let mut sources = vec![("generated".to_string(), generated())];
    sources.extend(shared());
    let mut tally = Tally { compared: 0, refused: 0, unmodelled: 0 };
    for (object, name) in PROGRAMS {
        let p = program(object, name);
        for (source, frames) in &sources {
            compare(make().as_mut(), &p, source, frames, &mut tally);
        }
    }
    eprintln!(
        "{} programs: {} packet runs identical to the kernel's, {} refusals with the kernel's errno, {} multi-buffer XDP frames not modelled",
        PROGRAMS.len(),
        tally.compared,
        tally.refused,
        tally.unmodelled
    );
    tally
}

#[test]
fn interpreter_replays_agree_with_the_kernel() {
    let tally = each_program(&|| Box::new(Interpreter::new()));
    assert!(tally.compared > 0 && tally.refused > 0);
}

#[test]
fn jit_replays_agree_with_the_kernel() {
    let tally = each_program(&|| Box::new(Jit::new().expect("the jit starts")));
    assert!(tally.compared > 0 && tally.refused > 0);
}
