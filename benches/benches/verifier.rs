//! bpfx's verifier beside the kernel's on the same programs: criterion
//! groups `verifier/<program>`, and for each the kernel's own verification
//! time as `BPF_LOG_STATS` reports it (printed, since the kernel times
//! itself). Programs: the larger C programs of the verifier's corpus and the
//! test programs, built with clang-19, and the corpus's long bounded loop.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, assemble};
use bpfx_loader::kernel::{Bpf, KernelError, LogLevel, ProgLoadOptions};
use bpfx_loader::{LoadOptions, Object};
use bpfx_verifier::{Options, verify};
use criterion::{Criterion, criterion_group, criterion_main};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The C sources benched: the test programs' parser and the corpus's.
const C_SOURCES: &[&str] = &[
    "tests/progs/xdp_parse.c",
    "verifier/tests/corpus/c_xdp_parse_ok.c",
    "verifier/tests/corpus/c_tc_loop_bounded.c",
    "verifier/tests/corpus/c_array_index_checked.c",
];

fn build(src: &str) -> Option<PathBuf> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verifier-bench");
    std::fs::create_dir_all(&out).ok()?;
    let obj = out.join(Path::new(src).with_extension("o").file_name()?);
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let ok = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-I", &multiarch, "-c"])
        .arg(Path::new(ROOT).join(src))
        .arg("-o")
        .arg(&obj)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(obj)
}

fn programs() -> Vec<Program> {
    let mut out = Vec::new();
    for src in C_SOURCES {
        let Some(obj) = build(src) else {
            eprintln!("verifier bench: {src} skipped, clang-19 cannot build it here");
            continue;
        };
        let bytes = std::fs::read(&obj).expect("built object is readable");
        let object = Object::load(&bytes, &LoadOptions::default()).expect("built object loads");
        out.extend(object.programs().iter().cloned());
    }
    let text = std::fs::read_to_string(Path::new(ROOT).join("verifier/tests/corpus/loop_large_bounded.s"))
        .expect("corpus is readable");
    let mut lp = Program::new("loop_large_bounded", ProgType::SocketFilter, assemble(&text).expect("assembles"));
    lp.license = "GPL".into();
    out.push(lp);
    out
}

/// The kernel's own verification time and processed instructions.
fn kernel_stats(program: &Program) -> String {
    let options = ProgLoadOptions { log_level: LogLevel::Stats, ..ProgLoadOptions::default() };
    let log = match Bpf::new().load(program, &options) {
        Ok((prog, _maps)) => prog.log().clone(),
        Err(KernelError::Rejected(r)) => r.log,
        Err(e) => return format!("not loaded: {e}"),
    };
    let time = log.verification_time_usec.map_or("?".into(), |t| t.to_string());
    let processed = log.stats.map_or("?".into(), |s| s.insns_processed.to_string());
    format!("{time} us, {processed} insns processed")
}

fn verifier(c: &mut Criterion) {
    for program in programs() {
        let report = verify(&program, &Options::default());
        eprintln!(
            "verifier/{}: bpfx {} ({} insns processed, {} us once); kernel: {}",
            program.name,
            if report.accepted() { "accepts" } else { "rejects" },
            report.stats.processed,
            report.stats.time.as_micros(),
            kernel_stats(&program)
        );
        c.bench_function(&format!("verifier/{}", program.name), |b| {
            b.iter(|| black_box(verify(black_box(&program), &Options::default())))
        });
    }
}

criterion_group!(benches, verifier);
criterion_main!(benches);
