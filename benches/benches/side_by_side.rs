//! Every engine on the same bytecode, in one criterion run: groups
//! `<engine>/<program>` for `bpfx-jit`, `bpfx-interp`, `rbpf-interp` and
//! `rbpf-jit` (x86-64 only) on the 5,000-instruction ALU loop, the
//! 26-instruction packet parser over a 64-byte packet and `mov r0, 2;
//! exit`; and `bpfx-jit/compile-300`, the JIT's load of a 300-instruction
//! program. bpfx's engines load programs as the CLI does ([`load`]: with
//! the verifier's facts when it accepts them, which the JIT uses); the
//! packet parser is an XDP program for bpfx ([`PACKET_PARSER_XDP`]) and
//! reads rbpf's metadata buffer for rbpf. `BENCHMARKS.md` gives the method
//! and the latest ratios.

use std::hint::black_box;
use std::time::Instant;

use bpfx_benches::*;
use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, encode_bytes};
use bpfx_jit::Jit;
use bpfx_runtime::{Context, Engine, Runtime};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const MOV_RET: &str = "r0 = 2\nexit";

fn bpfx(c: &mut Criterion, engine: &mut dyn Engine, program: &Program, insns: u64, mut ctx: Context) {
    let mut rt = Runtime::default();
    let loaded = load(engine, &mut rt, program).unwrap();
    if engine.name() == "jit" {
        eprintln!("bpfx-jit/{}: accesses proved safe: {:?}", program.name, loaded.proven_accesses);
    }
    let prog = loaded.prog;
    let mut group = c.benchmark_group(format!("bpfx-{}/{}", engine.name(), program.name));
    group.throughput(Throughput::Elements(insns));
    // The run's fields as a caller reads them: black-boxing the whole
    // 80-byte result would add a copy of it (in 16-byte moves, over fields
    // written in 8-byte stores: a store-forwarding stall per run) that no
    // caller makes and rbpf's register-sized result does not pay.
    group.bench_function("run", |b| {
        b.iter(|| {
            let r = engine.run(&mut rt, prog, &mut ctx).unwrap();
            black_box((r.exit.r0(), r.insns))
        })
    });
    // The runs of one `run_repeated` call, as `BPF_PROG_TEST_RUN`'s repeat
    // makes them: the checks and set-up of a run once for all, then each
    // run on the context the one before left.
    group.bench_function("repeat", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let (r, runs) = engine.run_repeated(&mut rt, prog, &mut ctx, iters).unwrap();
            let elapsed = start.elapsed();
            assert_eq!(runs, iters, "{:?}", r.exit);
            black_box((r.exit.r0(), r.insns));
            elapsed
        })
    });
    group.finish();
}

fn both_bpfx(c: &mut Criterion, program: &Program, insns: u64, ctx: impl Fn() -> Context) {
    bpfx(c, &mut Jit::new().unwrap(), program, insns, ctx());
    bpfx(c, &mut Interpreter::new(), program, insns, ctx());
}

/// rbpf's interpreter and JIT on a program that reads no memory.
fn rbpf_no_data(c: &mut Criterion, name: &str, source: &str, insns: u64) {
    let bytes = encode_bytes(&assemble(source));
    let mut vm = rbpf::EbpfVmNoData::new(Some(&bytes)).unwrap();
    let mut group = c.benchmark_group(format!("rbpf-interp/{name}"));
    group.throughput(Throughput::Elements(insns));
    group.bench_function("run", |b| b.iter(|| black_box(vm.execute_program().unwrap())));
    group.finish();
    if cfg!(target_arch = "x86_64") {
        vm.jit_compile().unwrap();
        let mut group = c.benchmark_group(format!("rbpf-jit/{name}"));
        group.throughput(Throughput::Elements(insns));
        // SAFETY: rbpf's JIT runs the program it compiled; the program
        // touches no memory.
        group.bench_function("run", |b| b.iter(|| black_box(unsafe { vm.execute_program_jit() }.unwrap())));
        group.finish();
    }
}

fn alu_loop(c: &mut Criterion) {
    let program = Program::new("alu-loop", ProgType::Unspec, assemble(ALU_LOOP));
    both_bpfx(c, &program, ALU_LOOP_INSNS, || Context::raw(&[]));
    rbpf_no_data(c, "alu-loop", ALU_LOOP, ALU_LOOP_INSNS);
}

fn mov_ret(c: &mut Criterion) {
    let program = Program::new("mov-ret", ProgType::Unspec, assemble(MOV_RET));
    both_bpfx(c, &program, 2, || Context::raw(&[]));
    rbpf_no_data(c, "mov-ret", MOV_RET, 2);
}

fn packet_parser(c: &mut Criterion) {
    let program = Program::new("packet-parser", ProgType::Xdp, assemble(PACKET_PARSER_XDP));
    both_bpfx(c, &program, PACKET_PARSER_INSNS, || Context::xdp(&packet(), 1, 0));
    let bytes = encode_bytes(&assemble(PACKET_PARSER));
    let mut p = packet();
    let mut mbuff = rbpf_mbuff(&p);
    let mut vm = rbpf::EbpfVmMbuff::new(Some(&bytes)).unwrap();
    let mut group = c.benchmark_group("rbpf-interp/packet-parser");
    group.throughput(Throughput::Elements(PACKET_PARSER_INSNS));
    group.bench_function("run", |b| b.iter(|| black_box(vm.execute_program(&p, &mbuff).unwrap())));
    group.finish();
    if cfg!(target_arch = "x86_64") {
        vm.jit_compile().unwrap();
        let mut group = c.benchmark_group("rbpf-jit/packet-parser");
        group.throughput(Throughput::Elements(PACKET_PARSER_INSNS));
        // rbpf's JIT reads the packet through the metadata buffer's
        // pointers, which must point at this very packet.
        mbuff = rbpf_mbuff(&p);
        // SAFETY: the metadata buffer holds the packet's start and end; the
        // parser reads inside them.
        group.bench_function("run", |b| {
            b.iter(|| black_box(unsafe { vm.execute_program_jit(&mut p, &mut mbuff) }.unwrap()))
        });
        group.finish();
    }
}

/// A 300-instruction program: sixty blocks of ALU, stack and branch work.
fn program_300() -> Program {
    let mut source = String::from("r0 = 0\nr1 = 1\n");
    for i in 0..59 {
        source.push_str(&format!(
            "r{a} += {i}\n*(u64 *)(r10 - {off}) = r{a}\nr2 = *(u64 *)(r10 - {off})\nif r2 > {i} goto +1\nr0 ^= r2\n",
            a = 3 + i % 6,
            off = 8 * (1 + i % 60),
        ));
    }
    source.push_str("r0 += r1\nr0 += r2\nexit\n");
    let insns = assemble(&source);
    assert_eq!(insns.len(), 300);
    Program::new("p300", ProgType::Unspec, insns)
}

fn compile_300(c: &mut Criterion) {
    let program = program_300();
    let mut group = c.benchmark_group("bpfx-jit/compile-300");
    group.bench_function("load", |b| {
        b.iter_batched(
            || (Runtime::default(), Jit::new().unwrap()),
            // The engine and runtime go back to criterion, which drops
            // them outside the timing: unmapping the code is not compiling.
            |(mut rt, mut jit)| {
                let prog = jit.load(&mut rt, &program).unwrap();
                (black_box(prog), rt, jit)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, alu_loop, packet_parser, mov_ret, compile_300);
criterion_main!(benches);
