//! Faults: every one a value with the instruction it happened at, never a
//! crash — bad accesses (naming the nearest region), writes to read-only
//! memory, dead frames, running off the end, call depth, the budget,
//! unknown helpers (at load and through `callx`), bad helper arguments and
//! panicking helpers.

use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{HelperId, Insn, InsnIdx, Program};
use bpfx_runtime::maps::flags::BPF_F_RDONLY_PROG;
use bpfx_runtime::{
    Access, AccessKind, Config, Context, Exit, Fault, LoadError, MapId, Nearest, RegionKind, Runtime, helper_fn,
};

use crate::{MakeEngine, map, program, run, run_with};

crate::tests![
    oob_load_names_the_region_and_offset,
    stack_accesses_outside_the_frame,
    stores_to_read_only_regions,
    null_pointer,
    a_returned_frame_is_dead,
    running_off_the_end,
    call_depth_is_eight_frames,
    budget_stops_an_endless_loop_at_its_jump,
    budget_is_checked_at_back_edges_and_calls,
    budget_stops_a_jump_to_itself_at_insn_0,
    a_poisoned_core_call_loads_and_faults_only_when_reached,
    helpers_bpfx_lacks_are_refused_at_load,
    callx_of_an_unknown_helper,
    targets_outside_the_program_are_refused_at_load,
    bad_helper_arguments,
    a_panicking_helper_is_a_fault,
    an_engine_serves_one_runtime,
];

fn fault(exit: &Exit) -> (InsnIdx, &Fault) {
    match exit {
        Exit::Fault { at, fault } => (*at, fault),
        other => panic!("expected a fault, got {other}"),
    }
}

fn oob_load_names_the_region_and_offset(make: MakeEngine) {
    let p = program("r0 = 0\nr0 = *(u32 *)(r1 + 2)\nexit", Vec::new());
    let out = run(make, &p, Context::raw(&[1, 2, 3, 4]));
    let (at, f) = fault(&out.exit);
    assert_eq!(at, InsnIdx(1));
    let Fault::OutOfBounds { access, nearest, .. } = f else { panic!("{f}") };
    assert_eq!(*access, Access { kind: AccessKind::Load, size: 4 });
    assert_eq!(*nearest, Some(Nearest { kind: RegionKind::Context, offset: 2, len: 4 }));
    assert_eq!(out.insns, 1, "the faulting load is not counted");
    assert!(f.to_string().starts_with("out-of-bounds load of 4 bytes at 0x"), "{f}");
}

fn stack_accesses_outside_the_frame(make: MakeEngine) {
    let above = run(make, &program("*(u64 *)(r10 + 0) = 1\nexit", Vec::new()), Context::raw(&[]));
    let Fault::OutOfBounds { access, nearest, .. } = fault(&above.exit).1 else { panic!() };
    assert_eq!(access.kind, AccessKind::Store);
    assert_eq!(*nearest, Some(Nearest { kind: RegionKind::Stack, offset: 0, len: 512 }));
    let below = run(make, &program("r0 = *(u64 *)(r10 - 520)\nexit", Vec::new()), Context::raw(&[]));
    let Fault::OutOfBounds { nearest, .. } = fault(&below.exit).1 else { panic!() };
    assert_eq!(nearest.unwrap().offset, -520);
    assert_eq!(nearest.unwrap().to_string(), "stack at r10-520");
    let inside =
        run(make, &program("*(u64 *)(r10 - 512) = 7\nr0 = *(u64 *)(r10 - 512)\nexit", Vec::new()), Context::raw(&[]));
    assert_eq!(inside.r0(), 7);
}

fn stores_to_read_only_regions(make: MakeEngine) {
    let xdp = run(make, &program("*(u32 *)(r1 + 0) = 0\nexit", Vec::new()), Context::xdp(&[0; 64], 1, 0));
    let (at, f) = fault(&xdp.exit);
    assert_eq!(at, InsnIdx(0));
    let Fault::ReadOnly { access, region, .. } = f else { panic!("{f}") };
    assert_eq!(*access, Access { kind: AccessKind::Store, size: 4 });
    assert_eq!((region.kind, region.offset), (RegionKind::Context, 0));
    let mut rodata = map(".rodata", MapType::Array, 4, 8, 1);
    rodata.flags = BPF_F_RDONLY_PROG;
    rodata.initial_data = Some(vec![5, 0, 0, 0, 0, 0, 0, 0]);
    let p = program("ld_pseudo r1, 2, 0, 0\nr0 = *(u64 *)(r1 + 0)\n*(u64 *)(r1 + 0) = r0\nexit", vec![rodata]);
    let out = run(make, &p, Context::raw(&[]));
    let (at, f) = fault(&out.exit);
    assert_eq!(at, InsnIdx(3));
    let Fault::ReadOnly { region, .. } = f else { panic!("{f}") };
    assert_eq!(region.kind, RegionKind::Map(MapId(0)));
    assert_eq!(out.insns, 2, "the load of the read-only value ran");
}

fn null_pointer(make: MakeEngine) {
    let out = run(make, &program("r0 = *(u8 *)(r0 + 0)\nexit", Vec::new()), Context::raw(&[]));
    let Fault::OutOfBounds { addr, .. } = fault(&out.exit).1 else { panic!() };
    assert_eq!(*addr, 0);
}

fn a_returned_frame_is_dead(make: MakeEngine) {
    // The callee returns a pointer into its own frame; after the return
    // that frame is gone.
    let source = "
        call local frame
        r0 = *(u64 *)(r0 + 0)
        exit
    frame:
        *(u64 *)(r10 - 8) = 3
        r0 = r10
        r0 += -8
        exit";
    let out = run(make, &program(source, Vec::new()), Context::raw(&[]));
    let (at, f) = fault(&out.exit);
    assert_eq!(at, InsnIdx(1));
    let Fault::OutOfBounds { nearest, .. } = f else { panic!("{f}") };
    assert_eq!(*nearest, Some(Nearest { kind: RegionKind::Stack, offset: -520, len: 512 }));
    // While the callee runs, its caller's frame is reachable.
    let source = "
        *(u64 *)(r10 - 8) = 11
        r1 = r10
        r1 += -8
        call local read
        exit
    read:
        r0 = *(u64 *)(r1 + 0)
        exit";
    assert_eq!(run(make, &program(source, Vec::new()), Context::raw(&[])).r0(), 11);
}

fn running_off_the_end(make: MakeEngine) {
    let out = run(make, &program("r0 = 1\nr0 += 1", Vec::new()), Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(2), fault: Fault::FellOffEnd });
    assert_eq!(out.insns, 2);
}

fn call_depth_is_eight_frames(make: MakeEngine) {
    // Each frame adds 1 to r0 and calls the next; the kernel allows eight
    // frames, the program's and seven nested calls.
    let source = "
        r0 = 0
        call local f
        exit
    f:
        r0 += 1
        call local f
        exit";
    let out = run(make, &program(source, Vec::new()), Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(4), fault: Fault::CallDepth { max: 8 } });
    // mov and call in frame 0, add and call in frames 1 to 6, and frame
    // 7's add: its call would make a ninth frame.
    assert_eq!(out.insns, 2 + 6 * 2 + 1);
    let nested = "
        call local a
        exit
    a:
        call local b
        r0 += 1
        exit
    b:
        r0 = 40
        exit";
    assert_eq!(run(make, &program(nested, Vec::new()), Context::raw(&[])).r0(), 41);
}

fn budget(n: u64) -> Config {
    Config { insn_budget: n, ..Config::default() }
}

fn budget_stops_an_endless_loop_at_its_jump(make: MakeEngine) {
    let p = program("r0 = 0\nloop:\nr0 += 1\ngoto loop", Vec::new());
    let out = run_with(make, budget(100), &p, Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(2), fault: Fault::BudgetExhausted { budget: 100 } });
    assert_eq!(out.insns, 100, "mov and 49 rounds of add + goto, then the 50th add");
    let default = run(make, &p, Context::raw(&[]));
    assert_eq!(default.exit, Exit::Fault { at: InsnIdx(2), fault: Fault::BudgetExhausted { budget: 1_000_000 } });
    assert_eq!(default.insns, 1_000_000);
}

/// The stopping jump is the program's first instruction: nothing before it
/// to blame (an interpreter once computed `pc - 1` there).
fn budget_stops_a_jump_to_itself_at_insn_0(make: MakeEngine) {
    let p = program("goto -1", Vec::new());
    let out = run_with(make, budget(10), &p, Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(0), fault: Fault::BudgetExhausted { budget: 10 } });
    assert_eq!(out.insns, 10);
}

fn budget_is_checked_at_back_edges_and_calls(make: MakeEngine) {
    // Straight-line code cannot loop: it runs to its end past the budget.
    let p = program("r0 = 1\nr0 += 1\nr0 += 1\nr0 += 1\nexit", Vec::new());
    let out = run_with(make, budget(2), &p, Context::raw(&[]));
    assert_eq!((out.r0(), out.insns), (4, 5));
    // Nor can forward jumps, taken or not, conditional or not.
    let p = program("r0 = 1\nr0 += 1\nif r0 == 2 goto +1\nr0 = 9\ngoto +1\nr0 = 8\nr0 += 1\nexit", Vec::new());
    let out = run_with(make, budget(1), &p, Context::raw(&[]));
    assert_eq!((out.r0(), out.insns), (3, 6));
    // A call past the budget does not happen.
    let p = program("r0 = 1\nr0 += 1\nr0 += 1\ncall local f\nexit\nf:\nexit", Vec::new());
    let out = run_with(make, budget(2), &p, Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(3), fault: Fault::BudgetExhausted { budget: 2 } });
    assert_eq!(out.insns, 3);
    // Exactly the budget is allowed.
    let p = program("r0 = 2\nloop:\nr0 += -1\nif r0 != 0 goto loop\nexit", Vec::new());
    let out = run_with(make, budget(6), &p, Context::raw(&[]));
    assert_eq!((out.r0(), out.insns), (0, 6));
}

fn helpers_bpfx_lacks_are_refused_at_load(make: MakeEngine) {
    let mut rt = Runtime::default();
    let mut engine = make();
    let err = engine.load(&mut rt, &program("r0 = 0\ncall 27\nexit", Vec::new())).unwrap_err();
    assert_eq!(err, LoadError::UnknownHelper { at: InsnIdx(1), id: HelperId(27) });
    assert_eq!(err.to_string(), "helper 27 (bpf_get_stackid) is not provided by bpfx at insn 1");
    let err = engine.load(&mut rt, &program("call 999\nexit", Vec::new())).unwrap_err();
    assert_eq!(err.to_string(), "unknown helper 999 at insn 0");
    rt.unregister_helper(HelperId(5));
    let err = engine.load(&mut rt, &program("call 5\nexit", Vec::new())).unwrap_err();
    assert_eq!(err, LoadError::UnknownHelper { at: InsnIdx(0), id: HelperId(5) });
    let empty = Program::new("empty", ProgType::Unspec, Vec::new());
    assert_eq!(engine.load(&mut rt, &empty).unwrap_err(), LoadError::Empty);
}

/// libbpf's poisoned call loads (the kernel accepts it where it is dead) and
/// stops the run at its own instruction if reached.
fn a_poisoned_core_call_loads_and_faults_only_when_reached(make: MakeEngine) {
    let guarded = format!("r0 = *(u8 *)(r1 + 0x0)\nif r0 == 0x0 goto +0x1\ncall {:#x}\nexit", HelperId::CORE_POISON.0);
    let p = program(&guarded, Vec::new());
    assert_eq!(run(make, &p, Context::raw(&[0])).r0(), 0);
    let out = run(make, &p, Context::raw(&[7]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(2), fault: Fault::CoreRelocation });
}

fn callx_of_an_unknown_helper(make: MakeEngine) {
    let out = run(make, &program("r2 = 999\ncallx r2\nexit", Vec::new()), Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(1), fault: Fault::UnknownHelper { id: 999 } });
    let known = run(make, &program("r2 = 8\ncallx r2\nexit", Vec::new()), Context::raw(&[]));
    assert_eq!(known.r0(), 0, "callx 8 is bpf_get_smp_processor_id, CPU 0");
}

fn targets_outside_the_program_are_refused_at_load(make: MakeEngine) {
    let mut rt = Runtime::default();
    let mut engine = make();
    let far = Program::new("far", ProgType::Unspec, vec![Insn::Ja { off: 5, wide: false }, Insn::Exit]);
    assert_eq!(
        engine.load(&mut rt, &far).unwrap_err(),
        LoadError::BadTarget { at: InsnIdx(0), what: "jump", target: 6 }
    );
    // A jump into the second slot of an lddw.
    let split = program("goto +1\nr0 = 0x1122334455667788 ll\nexit", Vec::new());
    let mut split = split;
    split.insns[0] = Insn::Ja { off: 1, wide: false };
    assert!(matches!(engine.load(&mut rt, &split), Err(LoadError::BadTarget { at: InsnIdx(0), target: 2, .. })));
}

fn bad_helper_arguments(make: MakeEngine) {
    let not_a_map = run(make, &program("r1 = 1234\nr2 = r10\ncall 1\nexit", Vec::new()), Context::raw(&[]));
    assert_eq!(
        not_a_map.exit,
        Exit::Fault {
            at: InsnIdx(2),
            fault: Fault::BadHelperArg { helper: HelperId(1), reason: "0x4d2 is not a map".into() }
        }
    );
    let hash = map("h", MapType::Hash, 4, 8, 4);
    let bad_key = run(make, &program("ld_pseudo r1, 1, 0\nr2 = 0\ncall 1\nexit", vec![hash]), Context::raw(&[]));
    let (at, f) = fault(&bad_key.exit);
    assert_eq!(at, InsnIdx(3));
    let Fault::OutOfBounds { access, addr, .. } = f else { panic!("{f}") };
    assert_eq!(*access, Access { kind: AccessKind::HelperRead(HelperId(1)), size: 4 });
    assert_eq!(*addr, 0);
    assert!(f.to_string().starts_with("out-of-bounds read of 4 bytes by helper 1 (bpf_map_lookup_elem) at 0x0"), "{f}");
    assert_eq!(bad_key.insns, 2);
}

fn panicking(_: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    panic!("mock gave up")
}

fn a_panicking_helper_is_a_fault(make: MakeEngine) {
    let mut rt = Runtime::default();
    rt.register_helper(HelperId(5), helper_fn!(HelperId(5), panicking)).unwrap();
    let mut engine = make();
    let prog = engine.load(&mut rt, &program("r0 = 1\ncall 5\nexit", Vec::new())).unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap();
    std::panic::set_hook(hook);
    assert_eq!(
        out.exit,
        Exit::Fault {
            at: InsnIdx(1),
            fault: Fault::HelperPanicked { helper: HelperId(5), message: "mock gave up".into() }
        }
    );
    // The runtime is usable afterwards.
    let ok = engine.load(&mut rt, &program("r0 = 9\nexit", Vec::new())).unwrap();
    assert_eq!(engine.run(&mut rt, ok, &mut Context::raw(&[])).unwrap().exit, Exit::Return(9));
}

fn an_engine_serves_one_runtime(make: MakeEngine) {
    let (mut a, mut b) = (Runtime::default(), Runtime::default());
    let mut engine = make();
    let p = program("r0 = 1\nexit", Vec::new());
    let prog = engine.load(&mut a, &p).unwrap();
    assert_eq!(engine.load(&mut b, &p), Err(LoadError::OtherRuntime));
    assert_eq!(engine.run(&mut b, prog, &mut Context::raw(&[])), Err(bpfx_runtime::RunError::OtherRuntime));
    assert_eq!(engine.run(&mut a, prog, &mut Context::raw(&[])).unwrap().exit, Exit::Return(1));
    let fresh = make();
    assert_eq!(fresh.run(&mut a, prog, &mut Context::raw(&[])), Err(bpfx_runtime::RunError::UnknownProgram(prog)));
}
