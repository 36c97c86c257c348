//! `Engine::run_repeated` on both engines: N runs made by one call leave
//! exactly what N `Engine::run` calls leave — the last result, memory,
//! packet, maps, trace and redirect — on generated programs (every
//! instruction class, helpers, callbacks, faults) and on what the
//! runtime resets between runs (the tail-call limit) and keeps (a packet
//! moved by `bpf_xdp_adjust_head`); and a fault ends the repetition.

use arbitrary::Unstructured;
use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{Insn, LdImm64Kind, MapSpec, Program, asm};
use bpfx_jit::Jit;
use bpfx_runtime::{Context, Engine, Exit, Fault, ProgId, Runtime};
use bpfx_testkit::diff::{self, Input, Setup};
use bpfx_testkit::generate;

/// Makes a fresh engine.
type NewEngine = &'static dyn Fn() -> Box<dyn Engine>;

fn engines() -> [(&'static str, NewEngine); 2] {
    [("interp", &|| Box::new(Interpreter::new())), ("jit", &|| Box::new(Jit::new().expect("the host runs the JIT")))]
}

fn same_as_separate_runs(program: &Program, input: &Input, setup: &Setup) {
    for (name, engine) in engines() {
        if let Some(d) = diff::repeat_difference(engine, program, input, setup) {
            panic!("{name}, {}: {d}", program.name);
        }
    }
}

#[test]
fn repeated_generated_programs_leave_what_separate_runs_leave() {
    let setup = Setup { runs: 3, ..generate::setup() };
    let mut made = 0;
    for seed in 0..150 {
        let Ok(g) = generate::program(&mut Unstructured::new(&generate::bytes(seed, 1024))) else { continue };
        same_as_separate_runs(&g.program, &g.input, &setup);
        // On a packet too, where legacy packet loads end runs from any
        // frame.
        let Input::Raw(mem) = &g.input else { panic!("the generator gave a program no raw input") };
        let tc = Program { prog_type: ProgType::SchedCls, ..g.program.clone() };
        same_as_separate_runs(&tc, &Input::Skb(mem.clone()), &setup);
        made += 1;
    }
    assert!(made >= 100, "only {made} of 150 seeds made a program");
}

/// `p` loaded by each engine into a fresh runtime, its prog arrays'
/// initial slots filled.
fn loaded(p: &Program) -> Vec<(&'static str, Box<dyn Engine>, Runtime, ProgId)> {
    engines()
        .into_iter()
        .map(|(name, engine)| {
            let mut rt = Runtime::default();
            let mut engine = engine();
            let prog = engine.load(&mut rt, p).expect("loads");
            rt.apply_initial_slots().expect("the program is loaded");
            (name, engine, rt, prog)
        })
        .collect()
}

fn program(prog_type: ProgType, src: &str) -> Program {
    Program::new("t", prog_type, asm::assemble(src).expect("test programs assemble"))
}

/// Counts its runs in the first input byte and tail-calls itself: a run
/// makes 33 tail calls (the kernel's limit, per run), then the failed call
/// falls through and returns the count.
fn self_tail_call() -> Program {
    let mut p = program(
        ProgType::Unspec,
        "r6 = r1
         r2 = *(u8 *)(r6 + 0)
         r2 += 1
         *(u8 *)(r6 + 0) = r2
         r2 = 0 ll
         r3 = 0
         call 12
         r0 = *(u8 *)(r6 + 0)
         exit",
    );
    for insn in &mut p.insns {
        if let Insn::LdImm64 { kind, .. } = insn {
            *kind = LdImm64Kind::MapIdx;
        }
    }
    p.maps = vec![MapSpec {
        name: "progs".into(),
        map_type: MapType::ProgArray,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        initial_slots: vec![(0, "t".into())],
        ..MapSpec::default()
    }];
    p
}

#[test]
fn every_repeated_run_gets_its_own_tail_calls() {
    let p = self_tail_call();
    same_as_separate_runs(&p, &Input::Raw(vec![0]), &Setup { runs: 3, ..Setup::default() });
    for (name, engine, mut rt, prog) in loaded(&p) {
        let (last, runs) = engine.run_repeated(&mut rt, prog, &mut Context::raw(&[0]), 3).expect("runs");
        assert_eq!((last.exit, runs), (Exit::Return(3 * 34), 3), "{name}");
    }
}

#[test]
fn a_tail_call_leaves_no_register_to_the_next_run() {
    // `r0` = `r6` as the program starts: 0 in a run, 5 in the instance the
    // first run tail-calls (a tail call keeps the registers). Only that
    // first run tail-calls; the second must start with `r6` 0 again.
    let mut p = self_tail_call();
    p.insns = asm::assemble(
        "r0 = r6
         r6 = 5
         r7 = *(u8 *)(r1 + 0)
         if r7 != 0 goto out
         r7 = 1
         *(u8 *)(r1 + 0) = r7
         r2 = 0 ll
         r3 = 0
         call 12
         out:
         exit",
    )
    .expect("assembles");
    for insn in &mut p.insns {
        if let Insn::LdImm64 { kind, .. } = insn {
            *kind = LdImm64Kind::MapIdx;
        }
    }
    same_as_separate_runs(&p, &Input::Raw(vec![0]), &Setup { runs: 2, ..Setup::default() });
    for (name, engine, mut rt, prog) in loaded(&p) {
        let mut ctx = Context::raw(&[0]);
        assert_eq!(engine.run(&mut rt, prog, &mut ctx).expect("runs").exit, Exit::Return(5), "{name}");
        let mut ctx = Context::raw(&[0]);
        let (last, runs) = engine.run_repeated(&mut rt, prog, &mut ctx, 2).expect("runs");
        assert_eq!((last.exit, runs), (Exit::Return(0), 2), "{name}");
    }
}

#[test]
fn a_packet_moved_by_one_run_is_where_the_next_starts() {
    // Each run takes two bytes off the front and returns the new length
    // (bpfx's XDP context holds the packet's start and end as its first
    // two 64-bit words, which `xdp_md`'s fields are converted to).
    let p = program(
        ProgType::Xdp,
        "r6 = r1
         r2 = 2
         call 44
         r2 = *(u64 *)(r6 + 8)
         r1 = *(u64 *)(r6 + 0)
         r2 -= r1
         r0 = r2
         exit",
    );
    let input = Input::Xdp((0..64).collect());
    same_as_separate_runs(&p, &input, &Setup { runs: 5, ..Setup::default() });
    for (name, engine, mut rt, prog) in loaded(&p) {
        let mut ctx = Context::xdp(&(0..64).collect::<Vec<u8>>(), 1, 0);
        let (last, runs) = engine.run_repeated(&mut rt, prog, &mut ctx, 5).expect("runs");
        assert_eq!((last.exit, runs), (Exit::Return(54), 5), "{name}");
    }
}

#[test]
fn a_run_ended_inside_a_call_leaves_the_next_one_in_frame_zero() {
    // A stack slot counts the runs (the stack is not cleared between
    // runs). The first run ends inside a call: a legacy packet load out of
    // bounds returns 0 from the whole run, whatever the frame. The second
    // writes below frame 0, which must fault as in a run of its own.
    let p = program(
        ProgType::SchedCls,
        "r6 = r1
         r2 = *(u64 *)(r10 - 8)
         r2 += 1
         *(u64 *)(r10 - 8) = r2
         if r2 == 1 goto first
         *(u64 *)(r10 - 520) = r2
         r0 = 9
         exit
         first:
         call sub
         r0 = 7
         exit
         sub:
         r0 = *(u32 *)skb[60000]
         exit",
    );
    same_as_separate_runs(&p, &Input::Skb(vec![0; 60]), &Setup { runs: 2, ..Setup::default() });
    for (name, engine, mut rt, prog) in loaded(&p) {
        let (last, runs) = engine.run_repeated(&mut rt, prog, &mut Context::skb(&[0; 60], 1), 2).expect("runs");
        assert_eq!(runs, 2, "{name}");
        assert!(matches!(last.exit, Exit::Fault { fault: Fault::OutOfBounds { .. }, .. }), "{name}: {:?}", last.exit);
    }
}

#[test]
fn a_fault_ends_the_repetition() {
    // Counts runs in the first input byte; the third run reads past the
    // input's end.
    let p = program(
        ProgType::Unspec,
        "r2 = *(u8 *)(r1 + 0)
         r2 += 1
         *(u8 *)(r1 + 0) = r2
         r1 += r2
         r0 = *(u8 *)(r1 + 0)
         exit",
    );
    same_as_separate_runs(&p, &Input::Raw(vec![0, 5, 6]), &Setup { runs: 10, ..Setup::default() });
    for (name, engine, mut rt, prog) in loaded(&p) {
        let mut ctx = Context::raw(&[0, 5, 6]);
        let (last, runs) = engine.run_repeated(&mut rt, prog, &mut ctx, 10).expect("runs");
        assert_eq!(runs, 3, "{name}: {:?}", last.exit);
        assert!(matches!(last.exit, Exit::Fault { fault: Fault::OutOfBounds { .. }, .. }), "{name}: {:?}", last.exit);
        assert_eq!(ctx.mem(), [3, 5, 6], "{name}");
    }
}
