//! The bench programs compute the same results, and execute the counts of
//! instructions the benches are named for, on bpfx's interpreter and on
//! rbpf's.

use bpfx_benches::*;
use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, encode_bytes};
use bpfx_runtime::{Context, Engine, Exit, Runtime};

fn bpfx(source: &str, ctx: &mut Context) -> (Exit, u64) {
    let mut rt = Runtime::default();
    let mut interp = Interpreter::new();
    let prog = interp.load(&mut rt, &Program::new("bench", ProgType::Unspec, assemble(source))).unwrap();
    let r = interp.run(&mut rt, prog, ctx).unwrap();
    (r.exit, r.insns)
}

#[test]
fn alu_loop_agrees_with_rbpf() {
    let bytes = encode_bytes(&assemble(ALU_LOOP));
    let (exit, insns) = bpfx(ALU_LOOP, &mut Context::raw(&[]));
    assert_eq!(insns, ALU_LOOP_INSNS);
    let vm = rbpf::EbpfVmNoData::new(Some(&bytes)).unwrap();
    let theirs = vm.execute_program().unwrap();
    assert_eq!(exit, Exit::Return(theirs));
}

#[test]
fn packet_parser_agrees_with_rbpf() {
    let bytes = encode_bytes(&assemble(PACKET_PARSER));
    assert_eq!(bytes.len() as u64 / 8, PACKET_PARSER_INSNS);
    let (exit, insns) = bpfx(PACKET_PARSER, &mut Context::xdp(&packet(), 1, 0));
    assert_eq!(exit, Exit::Return(2));
    assert_eq!(insns, PACKET_PARSER_INSNS);
    let mut other = packet();
    other[37] = 54;
    assert_eq!(bpfx(PACKET_PARSER, &mut Context::xdp(&other, 1, 0)).0, Exit::Return(1));
    let p = packet();
    let vm = rbpf::EbpfVmMbuff::new(Some(&bytes)).unwrap();
    assert_eq!(vm.execute_program(&p, &rbpf_mbuff(&p)).unwrap(), 2);
    assert_eq!(vm.execute_program(&other, &rbpf_mbuff(&other)).unwrap(), 1);
}
