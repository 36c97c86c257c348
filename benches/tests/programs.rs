//! The bench programs compute the same results, and execute the counts of
//! instructions the benches are named for, on bpfx's engines (loaded as the
//! benches load them) and on rbpf's interpreter.

use bpfx_benches::*;
use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, encode_bytes};
use bpfx_jit::Jit;
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

/// Makes a fresh engine (one serves one runtime).
type MakeEngine = fn() -> Box<dyn Engine>;

/// The XDP form of the packet parser on one of bpfx's engines, loaded as
/// the benches load it: its result, instructions run, and how many
/// accesses the verifier proved safe.
fn bpfx_xdp(make: MakeEngine, packet: &[u8]) -> (Exit, u64, Option<usize>) {
    let mut engine = make();
    let engine = engine.as_mut();
    let mut rt = Runtime::default();
    let program = Program::new("packet-parser", ProgType::Xdp, assemble(PACKET_PARSER_XDP));
    let loaded = load(engine, &mut rt, &program).unwrap();
    let r = engine.run(&mut rt, loaded.prog, &mut Context::xdp(packet, 1, 0)).unwrap();
    (r.exit, r.insns, loaded.proven_accesses)
}

#[test]
fn packet_parser_agrees_with_rbpf() {
    let bytes = encode_bytes(&assemble(PACKET_PARSER));
    assert_eq!(bytes.len() as u64 / 8, PACKET_PARSER_INSNS);
    assert_eq!(assemble(PACKET_PARSER_XDP).len() as u64, PACKET_PARSER_INSNS);
    let mut other = packet();
    other[37] = 54;
    // For the JIT, both context loads and all five packet loads are proved
    // safe; the interpreter, which checks every access anyway, is given no
    // facts.
    let engines: [(&str, MakeEngine, Option<usize>); 2] =
        [("interp", || Box::new(Interpreter::new()), None), ("jit", || Box::new(Jit::new().unwrap()), Some(7))];
    for (name, engine, proven) in engines {
        assert_eq!(bpfx_xdp(engine, &packet()), (Exit::Return(2), PACKET_PARSER_INSNS, proven), "{name}");
        assert_eq!(bpfx_xdp(engine, &other).0, Exit::Return(1), "{name}");
        assert_eq!(bpfx_xdp(engine, &other[..40]).0, Exit::Return(0), "{name}: a packet cut short");
    }
    let p = packet();
    let vm = rbpf::EbpfVmMbuff::new(Some(&bytes)).unwrap();
    assert_eq!(vm.execute_program(&p, &rbpf_mbuff(&p)).unwrap(), 2);
    assert_eq!(vm.execute_program(&other, &rbpf_mbuff(&other)).unwrap(), 1);
}
