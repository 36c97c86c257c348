//! Replay throughput: packets per second through `examples/xdp_count.c`
//! (an XDP parser counting into a map) over a generated capture of
//! 1,000,000 frames (IPv4 TCP/UDP/ICMP, IPv6, ARP), read from pcap bytes
//! and replayed on each engine, context building and conversion included,
//! the program loaded as `bpfx run --pcap` loads it (verified, the JIT
//! given the verifier's facts).
//! Groups: `interp/replay-1m`, `jit/replay-1m`.

use std::process::Command;
use std::time::Duration;

use bpfx_interpreter::Interpreter;
use bpfx_jit::Jit;
use bpfx_loader::{LoadOptions, Object};
use bpfx_runtime::replay::{CaptureFormat, Frame, Outcome, Replayer, read_capture, write_capture};
use bpfx_runtime::{Engine, Runtime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PACKETS: usize = 1_000_000;

fn capture() -> Vec<u8> {
    let kinds: [(u16, u8); 5] = [(0x0800, 6), (0x0800, 17), (0x0800, 1), (0x86dd, 6), (0x0806, 0)];
    let frames: Vec<(Frame, String)> = (0..PACKETS)
        .map(|i| {
            let (ethertype, proto) = kinds[i % kinds.len()];
            let mut f = vec![0u8; 64 + (i % 7) * 100];
            f[..6].copy_from_slice(&[0, 1, 2, 3, 4, 5]);
            f[12..14].copy_from_slice(&ethertype.to_be_bytes());
            f[14] = if ethertype == 0x86dd { 0x60 } else { 0x45 };
            f[14 + 6] = proto;
            f[14 + 9] = proto;
            (
                Frame { timestamp: Duration::from_micros(i as u64), orig_len: f.len() as u32, data: f.into() },
                String::new(),
            )
        })
        .collect();
    let mut out = Vec::new();
    write_capture(&mut out, CaptureFormat::Pcap, &frames).expect("writes the capture");
    out
}

type MakeEngine = fn() -> Box<dyn Engine>;

fn replay(c: &mut Criterion) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let built = Command::new(format!("{root}/tests/build-progs.sh")).status().expect("runs build-progs.sh");
    assert!(built.success());
    let bytes = std::fs::read(format!("{root}/tests/build/xdp_count.o")).expect("xdp_count.o");
    let object = Object::load(&bytes, &LoadOptions::default()).expect("loads");
    let program = object.programs()[0].clone();
    let pcap = capture();
    let engines: [(&str, MakeEngine); 2] =
        [("interp", || Box::new(Interpreter::new())), ("jit", || Box::new(Jit::new().expect("jit")))];
    for (name, make) in engines {
        let mut group = c.benchmark_group(format!("{name}/replay-1m"));
        group.sample_size(10).throughput(Throughput::Elements(PACKETS as u64));
        group.bench_function("xdp_count", |b| {
            b.iter(|| {
                let frames = read_capture(&pcap).expect("reads").frames;
                let mut rt = Runtime::default();
                let mut engine = make();
                // As `bpfx run --pcap` loads it: converted, the JIT given the
                // verifier's facts.
                let prog = bpfx_benches::load(engine.as_mut(), &mut rt, &program).expect("loads").prog;
                let mut r = Replayer::new(engine.as_ref(), &mut rt, prog, program.prog_type);
                let mut ran = 0usize;
                for f in &frames {
                    if let Outcome::Ran(_) = r.run(&f.data).expect("runs") {
                        ran += 1;
                    }
                }
                assert_eq!(ran, PACKETS);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, replay);
criterion_main!(benches);
