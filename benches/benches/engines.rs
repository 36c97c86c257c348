//! bpfx's interpreter and rbpf's on the same bytecode, in one run:
//! groups `bpfx-interp/<program>` and `rbpf-interp/<program>`.

use std::hint::black_box;

use bpfx_benches::*;
use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, encode_bytes};
use bpfx_runtime::{Context, Engine, Runtime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bpfx_interp(c: &mut Criterion, name: &str, source: &str, insns: u64, mut ctx: Context) {
    let mut rt = Runtime::default();
    let mut interp = Interpreter::new();
    let prog = interp.load(&mut rt, &Program::new(name, ProgType::Unspec, assemble(source))).unwrap();
    let mut group = c.benchmark_group(format!("bpfx-interp/{name}"));
    group.throughput(Throughput::Elements(insns));
    group.bench_function("run", |b| b.iter(|| black_box(interp.run(&mut rt, prog, &mut ctx).unwrap())));
    group.finish();
}

fn alu_loop(c: &mut Criterion) {
    bpfx_interp(c, "alu-loop", ALU_LOOP, ALU_LOOP_INSNS, Context::raw(&[]));
    let bytes = encode_bytes(&assemble(ALU_LOOP));
    let vm = rbpf::EbpfVmNoData::new(Some(&bytes)).unwrap();
    let mut group = c.benchmark_group("rbpf-interp/alu-loop");
    group.throughput(Throughput::Elements(ALU_LOOP_INSNS));
    group.bench_function("run", |b| b.iter(|| black_box(vm.execute_program().unwrap())));
    group.finish();
}

fn packet_parser(c: &mut Criterion) {
    bpfx_interp(c, "packet-parser", PACKET_PARSER, PACKET_PARSER_INSNS, Context::xdp(&packet(), 1, 0));
    let bytes = encode_bytes(&assemble(PACKET_PARSER));
    let p = packet();
    let mbuff = rbpf_mbuff(&p);
    let vm = rbpf::EbpfVmMbuff::new(Some(&bytes)).unwrap();
    let mut group = c.benchmark_group("rbpf-interp/packet-parser");
    group.throughput(Throughput::Elements(PACKET_PARSER_INSNS));
    group.bench_function("run", |b| b.iter(|| black_box(vm.execute_program(&p, &mbuff).unwrap())));
    group.finish();
}

criterion_group!(benches, alu_loop, packet_parser);
criterion_main!(benches);
