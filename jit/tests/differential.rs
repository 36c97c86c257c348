//! The JIT against the interpreter: generated programs (proptest over the
//! testkit's generator, fixed seed, bounded cases), the regression inputs
//! fuzzing found (`tests/regressions/*.bin`), and hand-written programs for
//! what generation does not reach (tail calls, deep recursion, budgets
//! spent in callbacks). Generated programs run again on a JIT loaded with
//! facts: with the verifier's, whenever it accepts one (as a raw, an XDP
//! and a tc program, as its soundness test judges them), and, when the
//! program ran without a fault, with every access marked safe (true of
//! such a run). Unchecked accesses and inline lookups must leave exactly
//! what the checked ones and the helper left.

use arbitrary::Unstructured;
use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{InsnIdx, MapSpec, Program, Proven, asm};
use bpfx_jit::Jit;
use bpfx_runtime::{Config, Context, ContextKind, Engine, Exit, Fault, LoadError, RunError, Runtime};
use bpfx_testkit::diff::{self, Input, Setup};
use bpfx_testkit::{generate, proven};
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, RngSeed};

/// Checks one generated program; `Ok(true)` when it also ran with every
/// access unchecked.
fn check_bytes(bytes: &[u8]) -> Result<bool, String> {
    let Ok(g) = generate::program(&mut Unstructured::new(bytes)) else { return Ok(false) };
    let setup = generate::setup();
    let interp = diff::check(&g.program, &g.input, &setup)?;
    check_verified(&g)?;
    if !diff::never_faulted(&interp) {
        return Ok(false);
    }
    let all = diff::every_access_safe(&g.program);
    let jit = diff::outcome_proven(&mut Jit::new().expect("host"), &g.program, Some(&all), &g.input, &setup);
    match diff::judge(&g.program, &g.input, &setup, &interp, &jit) {
        Some(d) => Err(format!("with every access unchecked: {d}")),
        None => Ok(true),
    }
}

/// Runs the raw, XDP and tc forms of a generated program that the verifier
/// accepts on the JIT with its facts; returns how many it accepted.
fn check_verified(g: &generate::Generated) -> Result<usize, String> {
    let Input::Raw(mem) = &g.input else { return Err("the generator gave a program no raw input".into()) };
    let retyped = |prog_type| Program { prog_type, ..g.program.clone() };
    let mut accepted = 0;
    for (program, input) in [
        (g.program.clone(), g.input.clone()),
        (retyped(ProgType::Xdp), Input::Xdp(mem.clone())),
        (retyped(ProgType::SchedCls), Input::Skb(mem.clone())),
    ] {
        let ran = proven::check(&program, &input, &generate::setup())
            .map_err(|d| format!("as {}: {d}", program.prog_type))?;
        accepted += usize::from(ran.is_some());
    }
    Ok(accepted)
}

proptest! {
    #![proptest_config(PropConfig { cases: 256, rng_seed: RngSeed::Fixed(0x6270_6678), ..PropConfig::default() })]

    #[test]
    fn generated_programs_agree(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(d) = check_bytes(&bytes) {
            prop_assert!(false, "{d}");
        }
    }
}

/// The proptest above cannot say how many of its cases ran with facts;
/// this one counts, so that generation drifting towards programs that
/// always fault cannot leave the unchecked path untested.
#[test]
fn many_generated_programs_run_with_every_access_unchecked() {
    let cases = 300;
    let mut unchecked = 0;
    for seed in 0..cases {
        match check_bytes(&generate::bytes(seed, 1024)) {
            Ok(ran) => unchecked += usize::from(ran),
            Err(d) => panic!("seed {seed}: {d}"),
        }
    }
    assert!(unchecked >= 60, "only {unchecked} of {cases} generated programs ran without a fault");
}

/// The verifier accepts few generated programs (one in a few hundred),
/// and short ones most: this runs many short ones so that dozens of
/// accepted ones run with its facts.
#[test]
fn generated_programs_the_verifier_accepts_agree_with_its_facts() {
    let cases = 3000;
    let mut verified = 0;
    for seed in 0..cases {
        let Ok(g) = generate::program(&mut Unstructured::new(&generate::bytes(seed, 16 + (seed as usize % 5) * 4)))
        else {
            continue;
        };
        match check_verified(&g) {
            Ok(n) => verified += n,
            Err(d) => panic!("seed {seed}: {d}"),
        }
    }
    assert!(verified >= 20, "the verifier accepted only {verified} forms of {cases} generated programs");
}

#[test]
fn facts_for_another_program_are_refused() {
    let p = program("r0 = *(u8 *)(r1 + 0)\nexit");
    let mut proven = Proven::new(&p);
    proven.add_safe_access(InsnIdx(0));
    let other = program("r0 = *(u8 *)(r1 + 1)\nexit");
    let mut rt = Runtime::default();
    let mut jit = Jit::new().expect("host");
    assert_eq!(jit.load_proven(&mut rt, &other, &proven), Err(LoadError::ProofMismatch));
    let prog = jit.load_proven(&mut rt, &p, &proven).expect("facts for this very program are taken");
    let r = jit.run(&mut rt, prog, &mut Context::raw(&[7])).expect("runs");
    assert_eq!((r.exit, r.insns), (Exit::Return(7), 2));
}

/// Bytes of code the JIT compiles for `p` without facts and with every
/// access marked safe, after checking that both run `mem` to `r0` and
/// memory `want`.
fn code_sizes(p: &Program, mem: &[u8], want: (Exit, Vec<u8>)) -> (usize, usize) {
    let proven = diff::every_access_safe(p);
    let size = |facts: Option<&Proven>| {
        let mut rt = Runtime::default();
        let mut jit = Jit::new().expect("host");
        let prog = match facts {
            Some(f) => jit.load_proven(&mut rt, p, f),
            None => jit.load(&mut rt, p),
        }
        .expect("loads");
        let mut ctx = Context::raw(mem);
        let r = jit.run(&mut rt, prog, &mut ctx).expect("runs");
        assert_eq!((r.exit, ctx.mem()), want);
        jit.code_bytes(prog).expect("compiled")
    };
    (size(None), size(Some(&proven)))
}

#[test]
fn proven_accesses_compile_without_their_checks() {
    let p = program(
        "r2 = *(u8 *)(r1 + 0)\nr3 = *(u8 *)(r1 + 1)\n*(u8 *)(r1 + 2) = r2\nr0 = *(u8 *)(r1 + 3)\nr0 += r3\nexit",
    );
    let (checked, unchecked) = code_sizes(&p, &[1, 2, 3, 4], (Exit::Return(6), vec![1, 2, 1, 4]));
    assert!(unchecked * 2 < checked, "{unchecked} bytes with facts, {checked} without");
}

#[test]
fn proven_atomics_compile_without_the_alignment_test() {
    // In the frame, so checked or not the access has no region check: what
    // the facts remove is the test that sends unaligned atomics to Rust.
    let p = program("r1 = 3\n*(u64 *)(r10 - 8) = 4\nlock *(u64 *)(r10 - 8) += r1\nr0 = *(u64 *)(r10 - 8)\nexit");
    let (checked, unchecked) = code_sizes(&p, &[], (Exit::Return(7), vec![]));
    assert!(unchecked < checked, "{unchecked} bytes with facts, {checked} without");
}

#[test]
fn regression_inputs_agree() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("the regressions folder is in the repository") {
        let path = entry.expect("a readable entry").path();
        let bytes = std::fs::read(&path).expect("a readable input");
        if let Err(d) = check_bytes(&bytes) {
            panic!("{}: {d}", path.display());
        }
        seen += 1;
    }
    assert!(seen > 0, "{dir} holds no input");
}

fn program(src: &str) -> Program {
    Program::new("t", ProgType::Unspec, asm::assemble(src).expect("test programs assemble"))
}

fn agree(p: &Program, input: Input, setup: &Setup) -> diff::Outcome {
    diff::check(p, &input, setup).unwrap_or_else(|d| panic!("{d}"))
}

/// Jumps over one instruction compile to selects (the skipped instruction
/// computed either way): each jump taken and not, over every kind of
/// instruction a select may skip, with the instructions counted as the
/// interpreter counts them.
#[test]
fn jumps_over_one_instruction_agree_both_ways() {
    let p = program(
        "
        r0 = 0
        r2 = *(u8 *)(r1 + 0)
        r3 = *(u8 *)(r1 + 1)
        if r2 > 5 goto +1
        r0 = 7
        if w3 == 0 goto +1
        r0 += r3
        if r2 & 1 goto +1
        r0 = -r0
        if r3 s< 2 goto +1
        r0 = be16 r0
        if r2 != r3 goto +2
        r0 = 0x1122334455 ll
        if r2 == 9 goto +1
        w0 <<= 3
        *(u64 *)(r1 + 8) = r0
        exit",
    );
    let mut counts = std::collections::BTreeSet::new();
    for (a, b) in [(0, 0), (6, 0), (1, 3), (6, 6), (2, 2), (9, 1), (7, 200)] {
        let mut mem = vec![0u8; 16];
        mem[..2].copy_from_slice(&[a, b]);
        let out = agree(&p, Input::Raw(mem), &Setup::default());
        assert_eq!(out.load, Ok(()));
        counts.insert(out.runs[0].insns);
    }
    assert!(counts.len() > 3, "the inputs take the jumps different ways: {counts:?}");
}

/// `r <<= 32; r >>= 32` (clang's `u32` cast without 32-bit ALU
/// instructions) compiles to a zero extension, or to nothing after a
/// 32-bit load or operation: the low halves of a 64-bit value, of loads
/// of each width and of a 32-bit sum, and a shifted value read before the
/// shift back.
#[test]
fn zero_extensions_by_shifts_agree() {
    let p = program(
        "
        r2 = *(u64 *)(r1 + 0)
        r2 <<= 32
        r2 >>= 32
        r3 = *(u32 *)(r1 + 4)
        r3 <<= 32
        r3 >>= 32
        r4 = *(u16 *)(r1 + 6)
        r4 <<= 32
        r4 >>= 32
        w5 = *(u32 *)(r1 + 0)
        w5 += -1
        r5 <<= 32
        r5 >>= 32
        r6 = *(u64 *)(r1 + 0)
        r6 <<= 32
        *(u64 *)(r1 + 8) = r6
        r6 >>= 32
        r0 = r2
        r0 ^= r3
        r0 += r4
        r0 ^= r5
        r0 += r6
        *(u64 *)(r1 + 16) = r2
        *(u64 *)(r1 + 24) = r5
        exit",
    );
    for word in [0u64, 1, 0xffff_ffff, 0x1_0000_0000, 0x8000_0000_8000_0001, u64::MAX] {
        let mut mem = vec![0u8; 32];
        mem[..8].copy_from_slice(&word.to_le_bytes());
        let out = agree(&p, Input::Raw(mem), &Setup::default());
        let Exit::Return(r0) = out.runs[0].exit else { panic!("{}", out.runs[0].exit) };
        let low = word & 0xffff_ffff;
        let expect = (low ^ (word >> 32)).wrapping_add((word >> 48) & 0xffff) ^ (low.wrapping_sub(1) & 0xffff_ffff);
        assert_eq!(r0, expect.wrapping_add(low), "word {word:#x}");
    }
}

#[test]
fn endless_loops_end_with_the_same_budget_fault() {
    let p = program("r0 = 0\nloop:\nr0 += 1\nif r0 != 0 goto loop\nexit");
    let setup = Setup { config: Config { insn_budget: 1000, ..Config::default() }, ..Setup::default() };
    let out = agree(&p, Input::Raw(vec![]), &setup);
    assert!(matches!(out.runs[0].exit, Exit::Fault { fault: Fault::BudgetExhausted { budget: 1000 }, .. }));
}

#[test]
fn recursion_stops_at_eight_frames() {
    let p = program("call f\nexit\nf:\nr0 += 1\ncall f\nexit");
    let out = agree(&p, Input::Raw(vec![]), &Setup::default());
    assert!(matches!(out.runs[0].exit, Exit::Fault { fault: Fault::CallDepth { max: 8 }, .. }));
}

#[test]
fn callbacks_run_in_their_own_frame_and_their_faults_name_their_insn() {
    // bpf_loop(n, cb, r10, 0), where cb writes its index into the caller's
    // frame at r10 - 8 * (index + 1): in the two live frames for n <= 128, then a fault
    // inside the callback, reported at the callback's store.
    let main = asm::assemble("r1 = 4\nr2 = 0 ll\nr3 = r10\nr4 = 0\ncall 181\nr0 = *(u64 *)(r10 - 32)\nexit")
        .expect("assembles");
    let cb = asm::assemble("r3 = r1\nr3 += 1\nr3 *= 8\nr4 = r2\nr4 -= r3\n*(u64 *)(r4 + 0) = r1\nr0 = 0\nexit")
        .expect("assembles");
    for n in [4, 64, 128, 129, 140] {
        let mut insns = main.clone();
        insns[0] = bpfx_isa::Insn::Alu {
            width: bpfx_isa::Width::W64,
            op: bpfx_isa::AluOp::Mov,
            dst: bpfx_isa::Reg::R1,
            src: bpfx_isa::Src::Imm(n),
        };
        // The lddw is at slot 1; the callback starts after `main`'s slots.
        let slots: usize = main.iter().map(|i| i.slots()).sum();
        insns[1] = bpfx_isa::Insn::LdImm64 {
            dst: bpfx_isa::Reg::R2,
            kind: bpfx_isa::LdImm64Kind::Func,
            imm: (slots as u64) - 1 - 1,
        };
        insns.extend(cb.iter().copied());
        let p = Program::new("t", ProgType::Unspec, insns);
        let out = agree(&p, Input::Raw(vec![]), &Setup::default());
        match n {
            4 => assert_eq!(out.runs[0].exit, Exit::Return(3)),
            _ if n <= 128 => assert!(out.runs[0].exit.r0().is_some()),
            _ => assert!(matches!(out.runs[0].exit, Exit::Fault { fault: Fault::OutOfBounds { .. }, .. })),
        }
    }
}

/// A run names the program whose frame exited: without a tail call, the
/// one it started, whichever it was loaded as (the JIT's code writes the
/// name only when it may make a tail call).
#[test]
fn runs_name_the_program_they_started() {
    let engines: [Box<dyn Engine>; 2] =
        [Box::new(bpfx_interpreter::Interpreter::new()), Box::new(Jit::new().expect("host"))];
    for mut engine in engines {
        let mut rt = Runtime::default();
        let ids = ["r0 = 1\nexit", "r0 = 2\nexit"].map(|src| engine.load(&mut rt, &program(src)).expect("loads"));
        for id in ids.into_iter().rev() {
            let ran = engine.run(&mut rt, id, &mut Context::raw(&[])).expect("runs");
            assert_eq!(ran.prog, id);
            let (ran, _) = engine.run_repeated(&mut rt, id, &mut Context::raw(&[]), 3).expect("runs");
            assert_eq!(ran.prog, id);
        }
    }
}

/// Programs in one runtime, each able to tail-call the others through a
/// prog array holding them in order (`ld_pseudo r2, 1, 0`), the first run
/// twice on 48 bytes of memory, on the interpreter or on the JIT.
fn tail_call_outcome(engine: &mut dyn Engine, programs: &[&str]) -> diff::Outcome {
    let mut rt = Runtime::default();
    let array = MapSpec {
        name: "progs".into(),
        map_type: MapType::ProgArray,
        key_size: 4,
        value_size: 4,
        max_entries: programs.len() as u32,
        ..MapSpec::default()
    };
    let ids: Vec<_> = programs
        .iter()
        .map(|src| {
            let mut p = program(src);
            p.maps = vec![array.clone()];
            engine.load(&mut rt, &p).expect("loads")
        })
        .collect();
    let map = rt.map_id("progs").expect("bound");
    for (key, id) in (0u32..).zip(&ids) {
        rt.map_mut(map).expect("exists").update(&key.to_le_bytes(), &id.0.to_le_bytes(), 0).expect("stores");
    }
    let mut ctx = Context::raw(&(1..=48).collect::<Vec<u8>>());
    let runs: Vec<_> = (0..2).map(|_| engine.run(&mut rt, ids[0], &mut ctx).expect("runs")).collect();
    diff::Outcome {
        load: Ok(()),
        runs,
        mem: ctx.mem(),
        packet: None,
        maps: rt.maps().map(|(_, m)| m.dump()).collect(),
        trace: rt.take_trace(),
        redirect: rt.redirect(),
        layout: diff::Layout::new(rt.regions()),
    }
}

fn tail_calls_agree_on(programs: &[&str]) {
    let interp = tail_call_outcome(&mut bpfx_interpreter::Interpreter::new(), programs);
    let jit = tail_call_outcome(&mut Jit::new().expect("host"), programs);
    if let Some(d) = diff::difference(&interp, &jit) {
        panic!("tail calls through {programs:#?}: {d}");
    }
}

#[test]
fn tail_calls_agree() {
    let first = "r6 = r1\n*(u64 *)(r10 - 8) = 7\nld_pseudo r2, 1, 0\nr3 = 1\ncall 12\nr0 = 99\nexit";
    for second in [
        "r0 = *(u32 *)(r6 + 0)\nr0 += r3\nexit",
        "r0 = *(u64 *)(r10 - 8)\nexit",
        "r0 = *(u64 *)(r6 + 8)\nexit",
        "r0 = 0\nloop:\nif r0 == 0 goto loop\nexit",
    ] {
        tail_calls_agree_on(&[first, second]);
    }
}

/// A tail call from a subprogram: the callee's exit returns to the
/// subprogram's caller, which then stores `r1`..`r5` (the values bpfx
/// specifies where the kernel's verifier would refuse the reads) — also
/// when the callee itself tail-calls from its entry frame, and when the
/// tail call is from the entry frame, whose `r1`..`r5` no one sees.
#[test]
fn tail_calls_from_a_subprogram_agree() {
    let caller = "
        r6 = r1
        call sub
        *(u64 *)(r6 + 0) = r1
        *(u64 *)(r6 + 8) = r2
        *(u64 *)(r6 + 16) = r3
        *(u64 *)(r6 + 24) = r4
        *(u64 *)(r6 + 32) = r5
        exit
    sub:
        r1 = r6
        ld_pseudo r2, 1, 0
        r3 = 1
        call 12
        r0 = 99
        exit";
    let sets = "r1 = 11\nr2 = 12\nr3 = 13\nr4 = 14\nr5 = 15\nr0 = 1\nexit";
    let hands_on = "r5 = 25\nld_pseudo r2, 1, 0\nr3 = 2\ncall 12\nexit";
    // One that changes some registers and only reads others, which come
    // back as they were handed.
    let sets_some = "r2 = 12\nr0 = r4\nr0 += r3\nexit";
    tail_calls_agree_on(&[caller, sets]);
    tail_calls_agree_on(&[caller, sets_some]);
    tail_calls_agree_on(&[caller, hands_on, sets]);
    tail_calls_agree_on(&["r6 = r1\nld_pseudo r2, 1, 0\nr3 = 1\ncall 12\nexit", sets]);
}

/// Looks up the `u32` key at `mem[0]` in the array `m` (4 entries of 12
/// bytes: a stride of 16) and bumps the value's first word; after the call
/// stores `r1`, `r2 - r10` and `r3`..`r5` into `mem[8..48]`, which a helper
/// call leaves as they were. Returns the new word, or 99 on a miss.
const ARRAY_LOOKUP: &str = "
    r6 = r1
    r1 = *(u32 *)(r6 + 0)
    *(u32 *)(r10 - 4) = r1
    ld_pseudo r1, 5, 0
    r2 = r10
    r2 += -4
    r3 = 3
    r4 = 4
    r5 = 5
    call 1
    *(u64 *)(r6 + 8) = r1
    r2 -= r10
    *(u64 *)(r6 + 16) = r2
    *(u64 *)(r6 + 24) = r3
    *(u64 *)(r6 + 32) = r4
    *(u64 *)(r6 + 40) = r5
    if r0 == 0 goto miss
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
    r1 = *(u32 *)(r0 + 8)
    r1 += 7
    *(u32 *)(r0 + 8) = r1
    r0 = *(u64 *)(r0 + 0)
    exit
miss:
    r0 = 99
    exit
";

fn array_lookup_program(map_type: MapType) -> Program {
    let mut p = program(ARRAY_LOOKUP);
    p.maps =
        vec![MapSpec { name: "m".into(), map_type, key_size: 4, value_size: 12, max_entries: 4, ..MapSpec::default() }];
    p
}

/// Facts for [`ARRAY_LOOKUP`]: every access safe (true for the keys the
/// tests use, the misses included: they touch no value) and the call's map.
fn array_lookup_facts(p: &Program) -> Proven {
    let mut proven = diff::every_access_safe(p);
    let call = p.slots().find(|(_, i)| matches!(i, bpfx_isa::Insn::Call(_))).expect("a call").0;
    proven.add_call_map(call, bpfx_isa::MapIdx(0));
    proven
}

#[test]
fn inline_array_lookups_agree_with_the_helper() {
    for map_type in [MapType::Array, MapType::PercpuArray, MapType::Hash] {
        let p = array_lookup_program(map_type);
        let proven = array_lookup_facts(&p);
        // A per-CPU array's value is the run's CPU's: the last of three
        // CPUs as well as the first (the final maps are compared too).
        let configs = [Config::default(), Config { cpus: 3, cpu: 2, ..Config::default() }];
        for (key, config) in [0u32, 3, 4, u32::MAX].into_iter().flat_map(|k| configs.clone().map(|c| (k, c))) {
            let mut mem = vec![0u8; 48];
            mem[..4].copy_from_slice(&key.to_le_bytes());
            let input = Input::Raw(mem);
            let setup = Setup { runs: 3, config, ..Setup::default() };
            let interp = diff::outcome(&mut bpfx_interpreter::Interpreter::new(), &p, &input, &setup);
            let jit = diff::outcome_proven(&mut Jit::new().expect("host"), &p, Some(&proven), &input, &setup);
            if let Some(d) = diff::judge(&p, &input, &setup, &interp, &jit) {
                panic!("{map_type} key {key} cpu {}: {d}", setup.config.cpu);
            }
            let hit = key < 4 && map_type != MapType::Hash;
            let r0: Vec<u64> = interp.runs.iter().map(|r| r.exit.r0().expect("returns")).collect();
            assert_eq!(r0, if hit { vec![1, 2, 3] } else { vec![99; 3] }, "{map_type} key {key}");
        }
    }
}

/// A mock `bpf_map_lookup_elem` that never finds anything.
fn lookup_misses(_: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(0)
}

#[test]
fn array_lookups_with_facts_compile_inline() {
    let size = |p: &Program, facts: Option<&Proven>, mock: bool| {
        let mut rt = Runtime::default();
        if mock {
            let f = bpfx_runtime::helper_fn!(bpfx_isa::HelperId(1), lookup_misses);
            rt.register_helper(bpfx_isa::HelperId(1), f).expect("registers");
        }
        let mut jit = Jit::new().expect("host");
        let prog = match facts {
            Some(f) => jit.load_proven(&mut rt, p, f),
            None => jit.load(&mut rt, p),
        }
        .expect("loads");
        let r = jit.run(&mut rt, prog, &mut Context::raw(&[0; 48])).expect("runs");
        (r.exit.r0(), jit.code_bytes(prog).expect("compiled"))
    };
    let array = array_lookup_program(MapType::Array);
    let facts = array_lookup_facts(&array);
    let only_accesses = diff::every_access_safe(&array);
    let (r0, inline) = size(&array, Some(&facts), false);
    let (_, called) = size(&array, Some(&only_accesses), false);
    assert_eq!(r0, Some(1));
    assert!(inline + 64 < called, "inline lookup {inline} bytes, helper call {called}");
    // A mock registered for the helper is called, not bypassed (and,
    // handed the VM context, might even make a tail call: more code).
    let (r0, mocked) = size(&array, Some(&facts), true);
    assert_eq!(r0, Some(99));
    assert!(mocked >= called, "mocked helper call {mocked} bytes, built-in {called}");
    // A per-CPU array's lookup is inline too; a hash map's stays a call.
    let percpu = array_lookup_program(MapType::PercpuArray);
    let (r0, percpu_inline) = size(&percpu, Some(&array_lookup_facts(&percpu)), false);
    assert_eq!(r0, Some(1));
    assert!(percpu_inline + 64 < called, "inline per-CPU lookup {percpu_inline} bytes, helper call {called}");
    let hash = array_lookup_program(MapType::Hash);
    assert_eq!(size(&hash, Some(&array_lookup_facts(&hash)), false).1, called);
}

/// The JIT reads a frame slot this basic block stored back from the
/// stored value; every other write that may reach the slot must be seen.
#[test]
fn frame_loads_see_every_write_to_the_slot() {
    for source in [
        // Through another pointer into the frame.
        "r1 = 7\n*(u64 *)(r10 - 8) = r1\nr2 = r10\nr2 += -8\nr3 = 9\n*(u64 *)(r2 + 0) = r3\nr0 = *(u64 *)(r10 - 8)\nexit",
        // A narrower store into the slot, then the whole slot.
        "r1 = -1\n*(u64 *)(r10 - 8) = r1\n*(u8 *)(r10 - 5) = 0\nr0 = *(u64 *)(r10 - 8)\nexit",
        // A wider store over a narrower slot, then the narrow slot.
        "r1 = 0x1ff\n*(u16 *)(r10 - 8) = r1\nr1 = 0x1234567890 ll\n*(u64 *)(r10 - 8) = r1\nr0 = *(u16 *)(r10 - 8)\nexit",
        // The same slot read narrower, signed and unsigned.
        "r1 = -2\n*(u32 *)(r10 - 8) = r1\nr0 = *(u32 *)(r10 - 8)\nr2 = *(s32 *)(r10 - 8)\nr0 += r2\nexit",
        // An atomic on the slot.
        "r1 = 5\n*(u64 *)(r10 - 8) = r1\nr2 = 3\nlock *(u64 *)(r10 - 8) += r2\nr0 = *(u64 *)(r10 - 8)\nexit",
        // A helper writing the slot (bpf_probe_read_kernel of the input).
        "r6 = r1\nr1 = 0\n*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -8\nr2 = 8\nr3 = r6\ncall 113\nr0 = *(u64 *)(r10 - 8)\nexit",
        // A callee's frame is another frame: the caller's slot is intact.
        "r1 = 4\n*(u64 *)(r10 - 8) = r1\ncall f\nr0 = *(u64 *)(r10 - 8)\nexit\nf:\nr1 = 6\n*(u64 *)(r10 - 8) = r1\nr0 = 0\nexit",
    ] {
        let out = agree(&program(source), Input::Raw((1..=8).collect()), &Setup::default());
        assert!(out.runs[0].exit.r0().is_some(), "{source}: {}", out.runs[0].exit);
    }
}

#[test]
fn a_packet_program_with_facts_runs_only_on_its_own_context() {
    // Facts about packet and context accesses hold on the context the
    // verifier judged; on raw bytes the program's "packet pointers" would be
    // whatever the bytes say, so such a run is refused rather than made
    // unchecked.
    let p = Program::new("xdp", ProgType::Xdp, asm::assemble("r0 = 2\nexit").unwrap());
    let mut rt = Runtime::default();
    let mut jit = Jit::new().expect("host");
    let prog = jit.load_proven(&mut rt, &p, &Proven::new(&p)).expect("loads");
    let err = jit.run(&mut rt, prog, &mut Context::raw(&[0; 16])).unwrap_err();
    assert_eq!(err, RunError::WrongContext { prog, expected: ContextKind::Xdp, given: ContextKind::Raw });
    let r = jit.run(&mut rt, prog, &mut Context::xdp(&[0; 64], 1, 0)).expect("its own context");
    assert_eq!(r.exit, Exit::Return(2));
    let unproven = jit.load(&mut rt, &p).expect("loads");
    assert!(jit.run(&mut rt, unproven, &mut Context::raw(&[0; 16])).is_ok(), "without facts every access is checked");
}
