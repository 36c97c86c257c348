//! The facts the verifier proves for the engines (`Report::proven`): which
//! accesses need no run-time check, and which map each map helper call
//! receives. Held against the corpus (every accepted program gets facts
//! for itself, every rejected one none), against targeted programs (each
//! pointer kind, one instruction reaching two kinds, call sites given one
//! map or two), and against the runtime itself: the accesses the verifier
//! saw through the context pointer are the ones the runtime's conversion
//! rewrites (so the facts carry over to every corpus and test program, and
//! to none converted otherwise), every context access the verifier marks
//! lands inside the context region the runtime builds, and every map value
//! it marks inside its map's memory.

#[allow(dead_code)]
mod support;

use std::path::Path;

use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{FuncInfo, Insn, InsnIdx, MapIdx, MapSpec, Program, Proven, assemble};
use bpfx_loader::{LoadOptions, Object};
use bpfx_runtime::context::convert::{convert, convert_proven, converts};
use bpfx_runtime::region::CONTEXT_REGION;
use bpfx_runtime::{Context, Engine, Exit, Runtime};
use bpfx_verifier::{Code, Options, verify};
use support::{build_c, clang_available, corpus_dir, corpus_files, read_asm};

fn program(prog_type: ProgType, maps: &[MapSpec], text: &str) -> Program {
    let mut p = Program::new("t", prog_type, assemble(text).expect("test program assembles"));
    p.license = "GPL".into();
    p.maps = maps.to_vec();
    p
}

fn map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapSpec {
    MapSpec { name: map_type.name().into(), map_type, key_size, value_size, max_entries, flags, ..MapSpec::default() }
}

/// The facts of a program the verifier must accept.
fn facts(p: &Program) -> Proven {
    let report = verify(p, &Options::default());
    match (report.proven, report.diagnostics.first()) {
        (Some(proven), None) => proven,
        (_, Some(d)) => panic!("{} was rejected:\n{d}", p.name),
        (None, None) => panic!("{} was accepted without facts", p.name),
    }
}

/// The slots of the program's loads, stores and atomics, in order.
fn accesses(p: &Program) -> Vec<InsnIdx> {
    p.slots()
        .filter(|(_, i)| matches!(i, Insn::Load { .. } | Insn::Store { .. } | Insn::Atomic { .. }))
        .map(|(at, _)| at)
        .collect()
}

/// Whether each access of `p` (in order) is marked safe.
fn marks(p: &Program) -> Vec<bool> {
    let proven = facts(p);
    accesses(p).into_iter().map(|at| proven.access_is_safe(at)).collect()
}

/// The slot of the `n`-th call of `p`.
fn call_slot(p: &Program, n: usize) -> InsnIdx {
    p.slots().filter(|(_, i)| matches!(i, Insn::Call(_))).nth(n).map(|(at, _)| at).expect("the call exists")
}

/// Declares static functions at these slots, as BTF func info would (a
/// callback's address needs it).
fn static_funcs(p: &mut Program, starts: &[u32]) {
    p.func_info = [0]
        .iter()
        .chain(starts)
        .map(|&at| FuncInfo { at: InsnIdx(at), name: format!("f{at}"), btf_type_id: 0, global: false, sig: None })
        .collect();
}

#[test]
fn a_packet_read_after_its_check_is_marked_and_without_it_is_refused() {
    let p = program(
        ProgType::Xdp,
        &[],
        "
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 14
        if r4 > r3 goto +2
        r0 = *(u8 *)(r2 + 13)
        exit
        r0 = 1
        exit",
    );
    assert_eq!(marks(&p), [true, true, true], "the loads of data and data_end, the packet read");
    let unchecked = program(ProgType::Xdp, &[], "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 13)\nexit");
    let report = verify(&unchecked, &Options::default());
    assert!(!report.accepted() && report.proven.is_none());
}

#[test]
fn one_access_through_a_packet_pointer_or_a_map_value_is_marked() {
    let p = program(
        ProgType::Xdp,
        &[map(MapType::Array, 4, 16, 4, 0)],
        "
        *(u32 *)(r10 - 4) = 0
        r6 = r1
        r2 = r10
        r2 += -4
        ld_pseudo r1, 1, 0
        call 1
        r7 = *(u32 *)(r6 + 0)
        r8 = *(u32 *)(r6 + 4)
        r3 = r7
        r3 += 8
        if r3 > r8 goto +5
        if r0 != 0 goto +1
        r0 = r7
        r0 = *(u64 *)(r0 + 0)
        r0 = 2
        exit
        r0 = 1
        exit",
    );
    assert_eq!(marks(&p), [true, true, true, true], "the key, data, data_end, the packet or value read");
}

#[test]
fn a_callbacks_map_key_is_helper_scratch_and_clears_the_mark_where_it_is_read() {
    let mut p = program(
        ProgType::Xdp,
        &[map(MapType::Hash, 4, 8, 4, 0)],
        "
        ld_pseudo r1, 1, 0
        ld_pseudo r2, 4, 6
        r3 = 0
        r4 = 0
        call 164
        r0 = 2
        exit
        r0 = *(u32 *)(r3 + 0)
        r4 = r3
        if r0 > 5 goto +1
        r4 = r2
        r0 = *(u32 *)(r4 + 0)
        r0 = *(u32 *)(r2 + 0)
        *(u64 *)(r3 + 0) = r0
        r0 = 0
        exit",
    );
    static_funcs(&mut p, &[9]);
    assert_eq!(marks(&p), [true, false, false, true], "value read, value-or-key read, key read, value write");
}

#[test]
fn map_values_are_marked_for_reads_and_for_writes_where_the_map_is_writable() {
    let maps = [map(MapType::Array, 4, 16, 4, 0), map(MapType::Array, 4, 8, 1, 1 << 7)];
    let p = program(
        ProgType::Xdp,
        &maps,
        "
        *(u32 *)(r10 - 4) = 0
        r2 = r10
        r2 += -4
        ld_pseudo r1, 1, 0
        call 1
        if r0 == 0 goto +2
        r1 = 7
        *(u64 *)(r0 + 8) = r1
        ld_pseudo r1, 2, 1, 0
        r0 = *(u64 *)(r1 + 0)
        r0 = 2
        exit",
    );
    assert_eq!(marks(&p), [true, true, true], "the key, the value write, the read-only value read");
    let write_ro = program(ProgType::Xdp, &maps, "ld_pseudo r1, 2, 1, 0\n*(u64 *)(r1 + 0) = 1\nr0 = 2\nexit");
    assert!(verify(&write_ro, &Options::default()).proven.is_none(), "the verifier refuses the write itself");
}

#[test]
fn ring_buffer_records_are_marked() {
    let p = program(
        ProgType::SocketFilter,
        &[map(MapType::Ringbuf, 0, 0, 4096, 0)],
        "
        ld_pseudo r1, 1, 0
        r2 = 16
        r3 = 0
        call 131
        if r0 == 0 goto +5
        r1 = 7
        *(u64 *)(r0 + 8) = r1
        r1 = r0
        r2 = 0
        call 132
        r0 = 0
        exit",
    );
    assert_eq!(marks(&p), [true]);
}

#[test]
fn a_call_gets_its_map_when_every_path_passes_the_same_one() {
    let maps = [map(MapType::Array, 4, 8, 4, 0), map(MapType::Array, 4, 8, 4, 0)];
    let p = program(
        ProgType::SocketFilter,
        &maps,
        "
        r6 = r1
        *(u32 *)(r10 - 4) = 0
        ld_pseudo r1, 1, 0
        r0 = *(u32 *)(r6 + 0)
        if r0 > 100 goto +2
        ld_pseudo r1, 1, 1
        r2 = r10
        r2 += -4
        call 1
        r2 = r10
        r2 += -4
        ld_pseudo r1, 1, 1
        call 1
        call 5
        r0 = 0
        exit",
    );
    let proven = facts(&p);
    assert_eq!(proven.call_map(call_slot(&p, 0)), None, "two maps reach the first lookup");
    assert_eq!(proven.call_map(call_slot(&p, 1)), Some(MapIdx(1)));
    assert_eq!(proven.call_map(call_slot(&p, 2)), None, "bpf_ktime_get_ns takes no map");
}

#[test]
fn legacy_packet_loads_are_never_marked() {
    let p = program(ProgType::SocketFilter, &[], "r6 = r1\nr0 = *(u16 *)skb[12]\nr0 = *(u32 *)(r6 + 0)\nexit");
    let proven = facts(&p);
    assert!(!proven.access_is_safe(InsnIdx(1)));
    assert!(proven.access_is_safe(InsnIdx(2)), "the context load beside it is");
    assert_eq!(proven.safe_access_count(), 1);
}

#[test]
fn a_callee_writing_its_callers_frame_is_marked() {
    let p = program(
        ProgType::SocketFilter,
        &[],
        "
        r1 = r10
        r1 += -8
        call local +2
        r0 = *(u64 *)(r10 - 8)
        exit
        r2 = 5
        *(u64 *)(r1 + 0) = r2
        r0 = 0
        exit",
    );
    assert_eq!(marks(&p), [true, true]);
}

#[test]
fn context_accesses_are_marked_only_in_the_types_the_runtime_converts() {
    let xdp = program(ProgType::Xdp, &[], "r0 = *(u32 *)(r1 + 16)\nr0 = 2\nexit");
    assert_eq!(marks(&xdp), [true]);
    let tc_write = program(ProgType::SchedCls, &[], "r2 = 1\n*(u32 *)(r1 + 8) = r2\nr0 = 0\nexit");
    assert_eq!(marks(&tc_write), [true]);
    let kprobe = program(ProgType::Kprobe, &[], "r0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit");
    assert_eq!(marks(&kprobe), [false], "a kprobe runs on raw --mem bytes");
}

/// The same program, spilling the context through r10 or through a copy of
/// it; then it writes the `cb` words where a context access the runtime
/// left unconverted would read `data` and `data_end` (at 76 and 80 of its
/// context region), and stores into the packet through them.
fn spilled_context(through: &str) -> Program {
    program(
        ProgType::SchedCls,
        &[],
        &format!(
            "
            r6 = 4096
            *(u32 *)(r1 + 52) = r6
            r6 = 8192
            *(u32 *)(r1 + 56) = r6
            r2 = r10
            *(u64 *)({through} - 8) = r1
            r3 = *(u64 *)(r10 - 8)
            r4 = *(u32 *)(r3 + 76)
            r5 = *(u32 *)(r3 + 80)
            r0 = r4
            r0 += 14
            if r0 > r5 goto +2
            r6 = 7
            *(u8 *)(r4 + 13) = r6
            r0 = 0
            exit"
        ),
    )
}

/// The slots of the accesses the verifier saw through the context pointer.
fn context_slots(proven: &Proven) -> Vec<InsnIdx> {
    proven.context_accesses().collect()
}

#[test]
fn a_spill_through_a_copy_of_r10_keeps_its_facts_across_the_conversion() {
    for through in ["r10", "r2"] {
        let p = spilled_context(through);
        let proven = facts(&p);
        assert_eq!(marks(&p), [true; 7], "through {through}");
        assert_eq!(context_slots(&proven), [1, 3, 7, 8].map(InsnIdx), "through {through}");
        let (converted, carried) = convert_proven(&p, &proven).expect("converts");
        let carried = carried.unwrap_or_else(|| panic!("through {through}: the conversion disagrees"));
        assert_eq!(carried.safe_access_count(), 7);
        // And the converted program does what the proof says: the store
        // lands in the packet.
        let mut rt = Runtime::default();
        let mut engine = Interpreter::new();
        let prog = engine.load(&mut rt, &converted).expect("loads");
        let mut ctx = Context::skb(&[0; 64], 1);
        let run = engine.run(&mut rt, prog, &mut ctx).expect("runs");
        assert_eq!(run.exit, Exit::Return(0), "through {through}");
        assert_eq!(ctx.data_out()[13], 7, "through {through}");
    }
}

#[test]
fn a_program_the_runtime_converts_otherwise_gets_no_facts() {
    // The verifier never visits the context read the branch skips (r0 is
    // 0); the conversion, which does not evaluate branches, rewrites it.
    let p = program(
        ProgType::Xdp,
        &[],
        "
        r2 = 0
        *(u64 *)(r10 - 8) = r2
        r0 = 0
        if r0 == 0 goto +1
        r0 = *(u32 *)(r1 + 12)
        r0 = *(u64 *)(r10 - 8)
        r0 = 2
        exit",
    );
    let proven = facts(&p);
    assert_eq!(marks(&p), [true, false, true], "the skipped read is never visited");
    assert_eq!(context_slots(&proven), []);
    let (converted, carried) = convert_proven(&p, &proven).expect("converts");
    assert_ne!(converted.insns[4], p.insns[4]);
    assert_eq!(carried, None);
}

#[test]
fn an_access_through_the_context_on_some_paths_only_is_refused() {
    let p = program(
        ProgType::Xdp,
        &[],
        "
        r2 = r10
        r2 += -8
        r3 = 0
        *(u64 *)(r2 + 0) = r3
        r3 = *(u32 *)(r1 + 12)
        if r3 == 0 goto +1
        r2 = r1
        r0 = *(u32 *)(r2 + 0)
        r0 = 2
        exit",
    );
    // The kernel refuses an instruction used with the context and another
    // kind of pointer (it rewrites context accesses per instruction), and so
    // does bpfx: no facts, and the conversion refuses it too.
    let report = verify(&p, &Options::default());
    assert_eq!(report.diagnostics.first().map(|d| d.code), Some(Code::MixedPointers), "{report:?}");
    assert!(report.proven.is_none());
    assert!(convert(&p).is_err(), "the conversion refuses it too");
}

#[test]
fn memory_a_global_function_receives_is_not_marked() {
    if let Err(why) = clang_available() {
        eprintln!("proven: global function test skipped: {why}");
        return;
    }
    let (object, _) = build_c(&corpus_dir().join("c_global_func_mem.c")).expect("builds");
    let p = object.programs().iter().find(|p| p.name == "global_mem").expect("the program is in the object");
    let swap = p.func_info.iter().find(|f| f.name == "swap").expect("swap has func info").at;
    let proven = facts(p);
    let (inside, outside): (Vec<InsnIdx>, Vec<InsnIdx>) = accesses(p).into_iter().partition(|&at| at >= swap);
    assert!(!inside.is_empty() && inside.iter().all(|&at| !proven.access_is_safe(at)));
    assert!(outside.iter().all(|&at| proven.access_is_safe(at)), "the caller's stack and context accesses are");
}

/// Facts for every program `programs` yields: `Some` exactly when accepted,
/// and for that very program; returns (accepted, accesses, marked), marked
/// counting the facts the engines get once the runtime converted the
/// program, and the programs whose facts the conversion withholds (it
/// rewrote other accesses than the verifier saw through the context, or
/// refuses the program), with why.
fn check_facts(
    programs: impl IntoIterator<Item = (String, Program)>,
    failures: &mut Vec<String>,
) -> ([usize; 3], Vec<String>) {
    let mut counts = [0; 3];
    let mut withheld = Vec::new();
    for (name, p) in programs {
        let report = verify(&p, &Options::default());
        match (report.accepted(), &report.proven) {
            (true, Some(proven)) if proven.is_for(&p) => {
                counts[0] += 1;
                counts[1] += accesses(&p).len();
                match convert_proven(&p, proven) {
                    Ok((_, Some(carried))) => counts[2] += carried.safe_access_count(),
                    Ok((_, None)) => withheld.push(format!("{name}: the conversion rewrote other accesses")),
                    Err(e) => withheld.push(format!("{name}: the conversion refuses it: {e}")),
                }
            }
            (true, Some(_)) => failures.push(format!("{name}: facts for another program")),
            (true, None) => failures.push(format!("{name}: accepted without facts")),
            (false, Some(_)) => failures.push(format!("{name}: rejected with facts")),
            (false, None) => {}
        }
    }
    (counts, withheld)
}

fn share([accepted, accesses, marked]: [usize; 3], what: &str) -> String {
    let pct = if accesses == 0 { 0.0 } else { 100.0 * marked as f64 / accesses as f64 };
    format!("{marked} of {accesses} accesses marked safe ({pct:.1}%) in {accepted} accepted {what}")
}

#[test]
fn accepted_programs_and_only_they_get_facts_for_themselves() {
    let mut failures = Vec::new();
    let mut corpus = Vec::new();
    for path in corpus_files("s") {
        match read_asm(&path) {
            Ok(c) => corpus.push((c.name, c.program)),
            Err(e) => failures.push(e),
        }
    }
    let c_corpus = clang_available().map(|()| corpus_files("c"));
    for path in c_corpus.as_deref().unwrap_or_default() {
        match build_c(path) {
            Ok((object, _)) => corpus.extend(object.programs().iter().map(|p| (p.name.clone(), p.clone()))),
            Err(e) => failures.push(e),
        }
    }
    let (counts, withheld) = check_facts(corpus, &mut failures);
    eprintln!("proven: corpus: {}", share(counts, "corpus programs"));
    assert!(counts[2] > 0, "no access of the corpus was marked");
    // The runtime's conversion finds the context accesses where the
    // verifier sees them, so no program the compiler made loses its facts.
    failures.extend(withheld);
    match test_programs() {
        Ok(programs) => {
            let (counts, withheld) = check_facts(programs, &mut failures);
            eprintln!("proven: tests/progs: {}", share(counts, "test programs"));
            failures.extend(withheld);
        }
        Err(why) => eprintln!("proven: tests/progs skipped: {why}"),
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The C test programs of `tests/progs`, built by `tests/build-progs.sh`.
fn test_programs() -> Result<Vec<(String, Program)>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(root.join("tests/build-progs.sh"))
        .output()
        .map_err(|e| format!("tests/build-progs.sh: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let mut programs = Vec::new();
    let mut objects: Vec<_> = std::fs::read_dir(root.join("tests/build"))
        .map_err(|e| format!("tests/build: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    objects.sort();
    for path in objects {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // The big-endian object is there to be refused.
        let Ok(object) = Object::load(&bytes, &LoadOptions::default()) else { continue };
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
        programs.extend(object.programs().iter().map(|p| (format!("{stem}/{}", p.name), p.clone())));
    }
    Ok(programs)
}

/// A load or store of `bytes` bytes at `r1 + off`, as assembly: the
/// unsigned and (below 8 bytes) sign-extending loads, and a store of a
/// register; with whether it writes.
fn context_accesses(off: i16, ty: &str, bytes: usize) -> Vec<(String, bool)> {
    let at = if off < 0 { format!("r1 - {}", -off) } else { format!("r1 + {off}") };
    let mut forms = vec![(format!("r0 = *({ty} *)({at})"), false)];
    if bytes < 8 {
        forms.push((format!("r0 = *(s{} *)({at})", &ty[1..]), false));
    }
    forms.push((format!("r2 = 0\n*({ty} *)({at}) = r2"), true));
    forms
}

/// For every program type: each context access the verifier accepts is
/// marked exactly when the runtime converts the type's context
/// (`bpfx_runtime::context::convert::converts`), and then, converted, lies
/// inside the context region the runtime builds (writable for a store)
/// and runs there without a fault.
#[test]
fn every_marked_context_access_lands_in_the_runtimes_context_region() {
    let frame: Vec<u8> = [[0u8; 12].as_slice(), &[0x08, 0x00], &[0x45; 50]].concat();
    let mut converted_types = 0;
    for prog_type in ProgType::ALL.iter().copied() {
        let converts = converts(prog_type);
        let mut accepted = 0;
        for off in -8i16..232 {
            for (ty, bytes) in [("u8", 1), ("u16", 2), ("u32", 4), ("u64", 8)] {
                for (access, write) in context_accesses(off, ty, bytes) {
                    let p = program(prog_type, &[], &format!("{access}\nr0 = 0\nexit"));
                    let Some(proven) = verify(&p, &Options::default()).proven else { continue };
                    accepted += 1;
                    let at = accesses(&p)[0];
                    assert_eq!(proven.access_is_safe(at), converts, "{prog_type}: {access}");
                    assert_eq!(context_slots(&proven), [at], "{prog_type}: {access}");
                    if !converts {
                        continue;
                    }
                    let (converted, carried) =
                        convert_proven(&p, &proven).unwrap_or_else(|e| panic!("{prog_type}: {access}: {e}"));
                    assert!(carried.is_some_and(|c| c.access_is_safe(at)), "{prog_type}: {access}: facts withheld");
                    let (new_off, new_size) = match converted.insns[usize::from(write)] {
                        Insn::Load { size, off, .. } | Insn::Store { size, off, .. } => (off, size.bytes()),
                        other => panic!("{prog_type}: {access} became {other}"),
                    };
                    let mut rt = Runtime::default();
                    let mut engine = Interpreter::new();
                    let id = engine.load(&mut rt, &converted).expect("loads");
                    let mut ctx = Context::test_run(prog_type, &frame).expect("a context for the frame");
                    let run = engine.run(&mut rt, id, &mut ctx).expect("runs");
                    let region = rt.regions()[CONTEXT_REGION];
                    let end = i64::from(new_off) + new_size as i64;
                    assert!(
                        new_off >= 0 && end as u64 <= region.len && (!write || region.writable != 0),
                        "{prog_type}: {access} becomes {new_size} bytes at {new_off}, outside the {}-byte context region (writable: {})",
                        region.len,
                        region.writable
                    );
                    assert_eq!(run.exit, Exit::Return(0), "{prog_type}: {access}");
                }
            }
        }
        if converts {
            assert!(accepted > 0, "{prog_type}: no context access was accepted");
            converted_types += 1;
            eprintln!("proven: {prog_type}: {accepted} context accesses accepted, each marked and inside the region");
        }
    }
    assert_eq!(converted_types, 5, "xdp, sched_cls, sched_act, socket_filter and cgroup_skb are converted");
}

/// A lookup in `spec`'s map with a zero key, then (if found) a read of the
/// value's last byte and, with `write`, a store into its first.
fn lookup_program(spec: &MapSpec, write: bool) -> Program {
    let store = if write { "*(u8 *)(r0 + 0) = r1" } else { "r1 += 0" };
    program(
        ProgType::Xdp,
        std::slice::from_ref(spec),
        &format!(
            "
            *(u64 *)(r10 - 8) = 0
            r2 = r10
            r2 += -8
            ld_pseudo r1, 1, 0
            call 1
            if r0 == 0 goto +2
            r1 = *(u8 *)(r0 + {})
            {store}
            r0 = 2
            exit",
            spec.value_size - 1
        ),
    )
}

/// For every map type: where the verifier marks a value access, each value
/// the runtime's map hands out (every key, every CPU) lies wholly inside
/// the map's memory, the region engines check against, and that memory is
/// writable where a write is marked.
#[test]
fn every_marked_map_value_lies_in_its_maps_memory() {
    const CPUS: u32 = 4;
    const ENTRIES: u32 = 4;
    let mut marked_types = Vec::new();
    for map_type in MapType::ALL.iter().copied() {
        for read_only in [false, true] {
            let (key_size, mut flags) = match map_type {
                // struct bpf_lpm_trie_key: a prefix length, then 4 bytes.
                MapType::LpmTrie => (8, 1),
                _ => (4, 0),
            };
            if read_only {
                flags |= 1 << 7;
            }
            let spec = map(map_type, key_size, 13, ENTRIES, flags);
            let (read, write) = (lookup_program(&spec, false), lookup_program(&spec, true));
            let read_marked =
                verify(&read, &Options::default()).proven.is_some_and(|p| p.access_is_safe(accesses(&read)[1]));
            let write_marked =
                verify(&write, &Options::default()).proven.is_some_and(|p| p.access_is_safe(accesses(&write)[2]));
            if !read_marked {
                assert!(!write_marked, "{map_type}: a write is marked but not a read");
                continue;
            }
            marked_types.push(format!("{map_type}{}", if read_only { " (read-only)" } else { "" }));
            let mut m = bpfx_runtime::maps::create(&spec, CPUS).unwrap_or_else(|e| panic!("{map_type}: {e}"));
            let keys: Vec<Vec<u8>> = (0..ENTRIES as u8)
                .map(|i| if map_type == MapType::LpmTrie { vec![32, 0, 0, 0, 10, 0, 0, i] } else { vec![i, 0, 0, 0] })
                .collect();
            let value = vec![0x5a; m.user_value_size()];
            for key in &keys {
                m.update(key, &value, 0).unwrap_or_else(|e| panic!("{map_type}: update: {e}"));
            }
            let memory = m.memory().unwrap_or_else(|| panic!("{map_type}: values but no memory"));
            assert!(!write_marked || !memory.read_only, "{map_type}: a write is marked into read-only memory");
            let (base, end) = (memory.base as u64, memory.base as u64 + memory.len as u64);
            let mut seen = 0;
            for key in &keys {
                for cpu in 0..CPUS {
                    let Some(at) = m.prog_lookup(key, cpu) else { continue };
                    let at = at.as_ptr() as u64;
                    assert!(
                        base <= at && at + u64::from(spec.value_size) <= end,
                        "{map_type}: a value at {at:#x} is not inside the map's memory {base:#x}..{end:#x}"
                    );
                    seen += 1;
                }
            }
            assert!(seen >= keys.len(), "{map_type}: lookups found {seen} values");
        }
    }
    eprintln!("proven: map values marked for {}", marked_types.join(", "));
    assert!(marked_types.iter().any(|t| t == "array") && marked_types.iter().any(|t| t == "hash"));
}

/// XDP programs that move the context pointer around as compilers do and
/// as the runtime's conversion must follow: copies, spills and fills
/// through r10 and through copies of it, calls that get the context or a
/// pointer to their caller's stack (and write the context there), and
/// `bpf_loop` callbacks that get it in their `callback_ctx`; context reads
/// through whichever register, on paths split by random numbers (so that
/// no branch is dead: the conversion, which joins paths, refuses an access
/// a dead path would make ambiguous).
mod flows {
    use arbitrary::{Result, Unstructured};

    /// Registers that hold the context, stack pointers or numbers.
    const HOLDERS: [&str; 4] = ["r1", "r6", "r7", "r8"];

    pub fn program(u: &mut Unstructured) -> Result<String> {
        let mut lines: Vec<String> =
            ["r0 = 0", "r6 = r1", "r7 = r10", "r7 += -16", "r8 = r10", "r8 += -24"].map(String::from).to_vec();
        // Spills of the context and of stack pointers for the fills and
        // the functions to find.
        lines.extend(
            ["r6", "r6", "r8", "r7"].iter().enumerate().map(|(k, r)| format!("*(u64 *)(r10 - {}) = {r}", 8 * (k + 1))),
        );
        // A line per slot but for `ld_pseudo`, whose callback target is
        // fixed up once the program's length is known.
        let mut callbacks = Vec::new();
        let ops = u.int_in_range(3..=14)?;
        let mut labels = 0;
        for op in 0..ops {
            let a = *u.choose(&HOLDERS)?;
            let b = *u.choose(&HOLDERS)?;
            let k = 8 * u.int_in_range(1..=4)?;
            let far = 8 * u.int_in_range(2..=4)?;
            match u.int_in_range(0..=10)? {
                0 | 1 => lines.push(format!("{a} = {b}")),
                2 => lines.extend([format!("{a} = r10"), format!("{a} += -{far}")]),
                3 => lines.push(format!("*(u64 *)(r10 - {k}) = {b}")),
                4 => lines.push(format!("*(u64 *)({a} + 0) = {b}")),
                5 => lines.push(format!("{a} = *(u64 *)(r10 - {k})")),
                6 => lines.push(format!("{a} = *(u64 *)({b} + 0)")),
                7 => lines.push(format!("r0 = *(u32 *)({a} + 12)")),
                8 if op + 1 < ops => {
                    // A fresh number for each branch, so that no two are
                    // correlated and no path is dead.
                    labels += 1;
                    lines.extend([
                        "call 7".into(),
                        "r1 = r10".into(),
                        "r1 += -32".into(),
                        format!("if r0 == 0 goto L{labels}"),
                    ]);
                    let to = u.int_in_range(op + 1..=ops)?;
                    callbacks.push((to, format!("L{labels}:")));
                }
                9 => {
                    let sub = if u.arbitrary()? { "reads" } else { "writes" };
                    lines.extend([
                        format!("r1 = {b}"),
                        "r2 = r10".into(),
                        format!("r2 += -{far}"),
                        format!("call local {sub}"),
                        "r1 = r10".into(),
                        "r1 += -32".into(),
                    ]);
                }
                _ => lines.extend([
                    "r1 = 2".into(),
                    "ld_pseudo r2, 4, CALLBACK".into(),
                    "r3 = r10".into(),
                    format!("r3 += -{far}"),
                    "r4 = 0".into(),
                    "call 181".into(),
                    "r1 = r10".into(),
                    "r1 += -32".into(),
                ]),
            }
            for (_, label) in callbacks.iter().filter(|(to, _)| *to == op + 1) {
                lines.push(label.clone());
            }
        }
        lines.extend(["r0 = 2", "exit"].map(String::from));
        // Functions, those called only (the kernel refuses unreachable
        // code): one reads the context through r1 and a spill of its
        // caller's through r2; one spills r1 there; the callback reads its
        // callback_ctx's first word as the context.
        let called = |name: &str, lines: &[String]| lines.iter().any(|l| l == &format!("call local {name}"));
        if called("reads", &lines) {
            lines.extend(
                ["reads:", "r0 = *(u32 *)(r1 + 12)", "r3 = *(u64 *)(r2 + 0)", "r0 = *(u32 *)(r3 + 12)", "exit"]
                    .map(String::from),
            );
        }
        if called("writes", &lines) {
            lines.extend(["writes:", "*(u64 *)(r2 + 0) = r1", "r0 = 0", "exit"].map(String::from));
        }
        let slot = |lines: &[String]| -> usize {
            lines.iter().filter(|l| !l.ends_with(':')).map(|l| if l.starts_with("ld_pseudo") { 2 } else { 1 }).sum()
        };
        let callback = slot(&lines);
        if lines.iter().any(|l| l.contains("CALLBACK")) {
            lines.extend(
                ["callback:", "r3 = *(u64 *)(r2 + 0)", "r0 = *(u32 *)(r3 + 12)", "r0 = 0", "exit"].map(String::from),
            );
        }
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("CALLBACK") {
                let at = slot(&lines[..i]);
                text.push_str(&line.replace("CALLBACK", &(callback - at - 1).to_string()));
            } else {
                text.push_str(line);
            }
            text.push('\n');
        }
        Ok(text)
    }
}

/// Generated programs moving the context pointer around: wherever the
/// verifier accepts one, the runtime's conversion rewrites exactly the
/// accesses the verifier saw through the context pointer, so the facts
/// carry over (unless the verifier saw an access through the context on
/// some paths only, which the kernel refuses and the conversion cannot
/// rewrite either), and the converted program runs without a fault.
#[test]
fn the_conversion_rewrites_what_the_verifier_saw_through_the_context() {
    const CASES: u64 = 6000;
    let (mut accepted, mut carried) = (0, 0);
    // Context accesses the facts carried, and those in called functions.
    let (mut context, mut in_functions) = (0, 0);
    for seed in 0..CASES {
        let data = support::bytes(seed, 128);
        let Ok(text) = flows::program(&mut arbitrary::Unstructured::new(&data)) else { continue };
        let insns = assemble(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let mut p = Program::new("flows", ProgType::Xdp, insns);
        p.license = "GPL".into();
        // The functions, by the slot of the line after their label.
        let mut slot = 0;
        let mut starts = Vec::new();
        for line in text.lines() {
            match line {
                "reads:" | "writes:" | "callback:" => starts.push(slot),
                l if l.starts_with("ld_pseudo") => slot += 2,
                l if !l.ends_with(':') => slot += 1,
                _ => {}
            }
        }
        static_funcs(&mut p, &starts);
        let report = verify(&p, &Options::default());
        let Some(proven) = report.proven else { continue };
        accepted += 1;
        let (converted, facts) = convert_proven(&p, &proven)
            .unwrap_or_else(|e| panic!("seed {seed}: the conversion refuses it: {e}\n{text}"));
        let Some(facts) = facts else {
            let ours: Vec<InsnIdx> =
                p.slots().zip(&converted.insns).filter(|((_, a), b)| a != b).map(|((at, _), _)| at).collect();
            panic!(
                "seed {seed}: the verifier saw the context at {:?}, the conversion rewrote {ours:?}\n{text}",
                context_slots(&proven)
            );
        };
        carried += 1;
        context += context_slots(&facts).len();
        in_functions += context_slots(&facts).iter().filter(|&&at| starts.first().is_some_and(|&f| at.0 >= f)).count();
        let mut rt = Runtime::default();
        let mut engine = Interpreter::new();
        let id = engine.load(&mut rt, &converted).expect("loads");
        let mut ctx = Context::xdp(&[0x45; 64], 1, 0);
        let run = engine.run(&mut rt, id, &mut ctx).expect("runs");
        assert!(matches!(run.exit, Exit::Return(_)), "seed {seed}: {}\n{text}", run.exit);
    }
    eprintln!(
        "proven: {accepted} of {CASES} generated context flows accepted: {carried} converted as the verifier saw them ({context} context accesses, {in_functions} in callees and callbacks)"
    );
    assert!(in_functions > 100 && context - in_functions > 100, "too few accepted programs read the context");
}
