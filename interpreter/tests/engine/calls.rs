//! Calls: tail calls through prog arrays (with the kernel's limit of 33),
//! callbacks (`bpf_loop`, `bpf_for_each_map_elem`), and what registers
//! hold across calls.

use bpfx_isa::InsnIdx;
use bpfx_isa::abi::MapType;
use bpfx_runtime::maps::flags::BPF_ANY;
use bpfx_runtime::{Config, Context, Engine, Exit, Fault, ProgId, Runtime};

use crate::{MakeEngine, map, program, r0, run, run_with};

crate::tests![
    tail_call_continues_in_the_target,
    tail_call_misses_fall_through,
    tail_calls_stop_after_33,
    a_tail_call_below_the_entry_leaves_r1_to_r5_as_they_were,
    bpf_loop_calls_back_until_told_to_stop,
    bpf_loop_refuses_bad_arguments,
    a_fault_in_a_callback_is_reported_where_it_happened,
    the_budget_counts_callbacks,
    a_callback_takes_a_frame_of_its_own,
    a_callback_writes_its_own_stack,
    for_each_map_elem_visits_every_element,
    registers_across_helper_calls,
];

/// An entry program that tail-calls `jumps[key]` with its context, and
/// returns the helper's result if that fails.
fn entry(key: u32) -> String {
    format!("ld_pseudo r2, 1, 0\nr3 = {key}\ncall 12\nexit")
}

/// Loads `target` and `entry(key)`, with `jumps[1]` = `target`.
fn tail_setup(make: MakeEngine, key: u32) -> (Box<dyn Engine>, Runtime, ProgId, ProgId) {
    let mut rt = Runtime::default();
    let mut engine = make();
    let target = engine.load(&mut rt, &program("r0 = 42\nr0 += r1\nexit", Vec::new())).unwrap();
    let jumps = map("jumps", MapType::ProgArray, 4, 4, 4);
    let entry = engine.load(&mut rt, &program(&entry(key), vec![jumps])).unwrap();
    let id = rt.map_id("jumps").unwrap();
    rt.map_mut(id).unwrap().update(&1u32.to_ne_bytes(), &target.0.to_ne_bytes(), BPF_ANY).unwrap();
    (engine, rt, target, entry)
}

fn tail_call_continues_in_the_target(make: MakeEngine) {
    let (engine, mut rt, target, entry) = tail_setup(make, 1);
    let mut ctx = Context::raw(&[]);
    let r = engine.run(&mut rt, entry, &mut ctx).unwrap();
    assert_eq!(r.exit, Exit::Return(42), "r1 (the context, 0 for empty memory) is kept");
    assert_eq!(r.prog, target);
    assert_eq!(r.insns, 3 + 3, "three instructions of the entry, three of the target");
    let mut ctx = Context::raw(&[1]);
    let r = engine.run(&mut rt, entry, &mut ctx).unwrap();
    assert!(r.exit.r0().unwrap() > 42, "the target saw the context pointer in r1");
}

fn tail_call_misses_fall_through(make: MakeEngine) {
    for key in [0, 3, 4, 1 << 31] {
        let (engine, mut rt, _, entry) = tail_setup(make, key);
        let r = engine.run(&mut rt, entry, &mut Context::raw(&[])).unwrap();
        assert_eq!(r.exit, Exit::Return(-2i64 as u64), "key {key}: -ENOENT, then on");
        assert_eq!(r.prog, entry);
    }
}

/// A subprogram that tail-calls: when the target's frame exits into the
/// caller, `r0` is the target's and `r1`..`r5` are the subprogram's at the
/// tail call, also through a chain of tail calls (bpfx's rule: the
/// kernel's verifier refuses to read them after the call).
fn a_tail_call_below_the_entry_leaves_r1_to_r5_as_they_were(make: MakeEngine) {
    let caller = "
        call sub
        r3 *= 100
        r4 *= 1000
        r5 *= 10000
        r0 += r1
        r0 += r3
        r0 += r4
        r0 += r5
        exit
    sub:
        ld_pseudo r2, 1, 0
        r3 = 1
        r4 = 4
        r5 = 5
        call 12
        r0 = 99
        exit";
    let sets = "r1 = 11\nr2 = 12\nr3 = 13\nr4 = 14\nr5 = 15\nr0 = 7\nexit";
    let hands_on = "r3 = 2\nr4 = 40\nr5 = 50\nld_pseudo r2, 1, 0\ncall 12\nexit";
    for chain in [vec![sets], vec![hands_on, sets]] {
        let mut rt = Runtime::default();
        let mut engine = make();
        let jumps = map("jumps", MapType::ProgArray, 4, 4, 4);
        let entry = engine.load(&mut rt, &program(caller, vec![jumps.clone()])).unwrap();
        let id = rt.map_id("jumps").unwrap();
        for (key, src) in (1u32..).zip(&chain) {
            let target = engine.load(&mut rt, &program(src, vec![jumps.clone()])).unwrap();
            rt.map_mut(id).unwrap().update(&key.to_ne_bytes(), &target.0.to_ne_bytes(), BPF_ANY).unwrap();
        }
        let r = engine.run(&mut rt, entry, &mut Context::raw(&[])).unwrap();
        // r1 is the context: 0 for empty memory.
        assert_eq!(r.exit, Exit::Return(7 + 100 + 4000 + 50000), "through {} tail calls", chain.len());
    }
}

fn tail_calls_stop_after_33(make: MakeEngine) {
    // Counts its runs in an array, then tail-calls itself.
    let source = "
        r6 = r1
        *(u32 *)(r10 - 4) = 0
        ld_pseudo r1, 1, 0
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r7 = *(u64 *)(r0 + 0)
        r7 += 1
        *(u64 *)(r0 + 0) = r7
        r1 = r6
        ld_pseudo r2, 1, 1
        r3 = 0
        call 12
        r0 = r7
    out:
        exit";
    let maps = vec![map("runs", MapType::Array, 4, 8, 1), map("self", MapType::ProgArray, 4, 4, 1)];
    let mut rt = Runtime::default();
    let mut engine = make();
    let prog = engine.load(&mut rt, &program(source, maps)).unwrap();
    let id = rt.map_id("self").unwrap();
    rt.map_mut(id).unwrap().update(&0u32.to_ne_bytes(), &prog.0.to_ne_bytes(), BPF_ANY).unwrap();
    let r = engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap();
    assert_eq!(r.exit, Exit::Return(34), "the first run and 33 tail calls");
    let r = engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap();
    assert_eq!(r.exit, Exit::Return(68), "the limit is per run");
}

/// `bpf_loop(n, cb, &sum, flags)` where the callback adds its index to
/// `sum` and stops when the index is `stop`; returns `sum << 8 | calls`.
fn looping(n: &str, stop: u32, flags: u32) -> String {
    // The callback is at slot 14: the lddw at slot 2 names it by `2 + 1 + 11`.
    format!(
        "
        *(u64 *)(r10 - 8) = 0
        r1 = {n}
        ld_pseudo r2, 4, 11
        r3 = r10
        r3 += -8
        r4 = {flags}
        call 181
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r6
        exit
        exit
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 != {stop} goto +1
        r0 = 1
        exit"
    )
}

fn bpf_loop_calls_back_until_told_to_stop(make: MakeEngine) {
    assert_eq!(r0(make, &looping("10", 99, 0)), 45 << 8 | 10);
    assert_eq!(r0(make, &looping("10", 3, 0)), 6 << 8 | 4, "stops after the call that returned 1");
    assert_eq!(r0(make, &looping("0", 99, 0)), 0);
}

fn bpf_loop_refuses_bad_arguments(make: MakeEngine) {
    let errno = |r0: u64| (r0 & 0xff) as u8 as i8;
    assert_eq!(errno(r0(make, &looping("10", 99, 1))), -22, "flags must be 0: -EINVAL");
    assert_eq!(errno(r0(make, &looping("0x800001", 99, 0))), -7, "more than 1 << 23 loops: -E2BIG");
}

fn a_fault_in_a_callback_is_reported_where_it_happened(make: MakeEngine) {
    let source = looping("3", 99, 0).replace("r3 = *(u64 *)(r2 + 0)", "r3 = *(u64 *)(r2 + 4096)");
    let out = run(make, &program(&source, Vec::new()), Context::raw(&[]));
    let Exit::Fault { at, fault: Fault::OutOfBounds { .. } } = out.exit else { panic!("{}", out.exit) };
    assert_eq!(at, InsnIdx(14), "the callback's load, not the bpf_loop call");
    assert_eq!(out.insns, 6, "the caller's six instructions before the call, which did not complete");
}

/// `depth` nested bpf-to-bpf calls below the program's frame, the deepest
/// calling `bpf_loop` once with a callback that returns 0, then returning
/// what `bpf_loop` did through its own stack frame.
fn nested_loop(depth: u32) -> String {
    // The callback is at slot 16: the lddw at slot 8 names it by `8 + 1 + 7`.
    format!(
        "
        r6 = {}
        call local f
        exit
    f:
        if r6 == 0 goto +3
        r6 += -1
        call local f
        exit
        r1 = 1
        ld_pseudo r2, 4, 7
        r3 = 0
        r4 = 0
        call 181
        *(u64 *)(r10 - 8) = r0
        r0 = *(u64 *)(r10 - 8)
        exit
        r0 = 0
        exit",
        depth - 1
    )
}

fn a_callback_takes_a_frame_of_its_own(make: MakeEngine) {
    // Frames 1 to 6 are calls, the callback frame 7: the eighth and last.
    // After it, the caller's frame is live again for its store and load.
    assert_eq!(r0(make, &nested_loop(6)), 1, "bpf_loop ran its one iteration");
    // With frame 7 a call, the callback would need a ninth: the fault is
    // the bpf_loop call's.
    let out = run(make, &program(&nested_loop(7), Vec::new()), Context::raw(&[]));
    assert_eq!(out.exit, Exit::Fault { at: InsnIdx(12), fault: Fault::CallDepth { max: 8 } });
}

fn a_callback_writes_its_own_stack(make: MakeEngine) {
    // The callback stores its running sum at `r10 - 8` of its own frame
    // instead of through the pointer to the caller's `r10 - 8`, which
    // stays 0.
    let source = looping("3", 99, 0).replace("*(u64 *)(r2 + 0) = r3", "*(u64 *)(r10 - 8) = r3");
    assert_eq!(r0(make, &source), 3, "the caller's sum untouched, three calls");
}

fn the_budget_counts_callbacks(make: MakeEngine) {
    let config = Config { insn_budget: 1000, ..Config::default() };
    let out = run_with(make, config, &program(&looping("1000", 2000, 0), Vec::new()), Context::raw(&[]));
    let Exit::Fault { fault: Fault::BudgetExhausted { budget: 1000 }, .. } = out.exit else { panic!("{}", out.exit) };
    // The callback has no back-edge: its entries are the checks. Seven
    // instructions to the call and six per round have started 1,003 when
    // the 167th entry finds the budget spent; the faulting `bpf_loop`
    // call does not count as completed.
    assert_eq!(out.insns, 7 + 6 * 166 - 1);
    let out = run(make, &program(&looping("100", 200, 0), Vec::new()), Context::raw(&[]));
    // Six before the call and the call, six callback instructions per
    // loop, five after.
    assert_eq!(out.insns, 7 + 100 * 6 + 5);
}

fn for_each_map_elem_visits_every_element(make: MakeEngine) {
    // Sums `key * 100 + value` over the array; the callback is at slot 14,
    // which the lddw at slot 3 names by `3 + 1 + 10`.
    let source = "
        *(u64 *)(r10 - 8) = 0
        ld_pseudo r1, 1, 0
        ld_pseudo r2, 4, 10
        r3 = r10
        r3 += -8
        r4 = 0
        call 164
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r6
        exit
        r6 = *(u32 *)(r2 + 0)
        r6 *= 100
        r7 = *(u64 *)(r3 + 0)
        r6 += r7
        r7 = *(u64 *)(r4 + 0)
        r7 += r6
        *(u64 *)(r4 + 0) = r7
        r0 = 0
        exit";
    let mut rt = Runtime::default();
    let mut engine = make();
    let prog = engine.load(&mut rt, &program(source, vec![map("a", MapType::Array, 4, 8, 3)])).unwrap();
    let id = rt.map_id("a").unwrap();
    for (k, v) in [(0u32, 10u64), (1, 20), (2, 30)] {
        rt.map_mut(id).unwrap().update(&k.to_ne_bytes(), &v.to_ne_bytes(), BPF_ANY).unwrap();
    }
    let r = engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap();
    assert_eq!(r.exit, Exit::Return((300 + 60) << 8 | 3));
}

fn registers_across_helper_calls(make: MakeEngine) {
    // After a helper call r1-r5 keep their values (both engines promise
    // it; the kernel leaves them unspecified, so verified programs never
    // read them).
    let source = "
        r1 = 11
        r2 = 22
        r3 = 33
        r4 = 44
        r5 = 55
        r6 = 66
        call 8
        r0 += r1
        r0 += r2
        r0 += r3
        r0 += r4
        r0 += r5
        r0 += r6
        exit";
    assert_eq!(r0(make, source), 11 + 22 + 33 + 44 + 55 + 66);
}
