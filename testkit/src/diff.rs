//! The differential oracle: one program, one input, run on the interpreter
//! (the reference) and on the JIT, each in a fresh runtime; everything a
//! run leaves behind is compared as values.
//!
//! Two runtimes put their stacks, contexts and maps at different host
//! addresses, so a value computed from an address (a pointer a program
//! returns or stores, the address of a bad access, a negated or truncated
//! pointer) differs between them by where the allocator put its region:
//! two values agree when they are equal or differ by exactly one region's
//! displacement ([`Layout`]), in 64 or in 32 bits (and the low bits of
//! pointers stored or truncated). Which region is nearest to an address
//! outside all of them is the allocator's choice too, and is compared only
//! for addresses inside one.
//!
//! Some programs mix a pointer's bits in ways no displacement explains
//! (`r1 & w1`, a pointer's byte swapped): their outcome depends on where
//! memory lies. When the engines differ, [`check`] runs the interpreter
//! again with its regions elsewhere; if the interpreter then differs from
//! itself, the case is inconclusive, not a failure.

use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::ProgType;
use bpfx_isa::{HelperId, Insn, Program, Proven};
use bpfx_jit::Jit;
use bpfx_runtime::maps::Entry;
use bpfx_runtime::region::{FRAME_SIZE, MAX_FRAMES, STACK_REGION};
use bpfx_runtime::{
    Config, Context, Engine, Exit, Fault, LoadError, Nearest, Redirect, Region, RunResult, Runtime, helper_fn,
};

/// What a program runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `r1` = these bytes, `r2` = their length (the conformance suite's
    /// convention).
    Raw(Vec<u8>),
    /// An XDP packet.
    Xdp(Vec<u8>),
    /// A socket buffer (tc, socket filter).
    Skb(Vec<u8>),
    /// An Ethernet frame in the context `BPF_PROG_TEST_RUN` gives a
    /// program of this type ([`Context::test_run`]); the frame must be one
    /// it takes.
    TestRun(ProgType, Vec<u8>),
}

impl Input {
    fn context(&self) -> Context {
        match self {
            Input::Raw(mem) => Context::raw(mem),
            Input::Xdp(packet) => Context::xdp(packet, 1, 0),
            Input::Skb(packet) => Context::skb(packet, 1),
            Input::TestRun(prog_type, frame) => Context::test_run(*prog_type, frame)
                .unwrap_or_else(|r| panic!("a test input the {prog_type} test run refuses: {}", r.reason)),
        }
    }
}

/// How runs are set up.
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: Config,
    /// Registers the conformance suite's helper 5 (returns its first
    /// argument) in place of `bpf_ktime_get_ns`.
    pub suite_helper_5: bool,
    /// Runs per engine, on the same runtime and input (map state and
    /// rewrites accumulate, as with `--repeat`).
    pub runs: usize,
    /// Makes the runs with one [`Engine::run_repeated`] call (which stops
    /// at a fault, and whose last run is the only result recorded) rather
    /// than one [`Engine::run`] each.
    pub repeated: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup { config: Config::default(), suite_helper_5: false, runs: 1, repeated: false }
    }
}

/// Everything one engine's runs left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub load: Result<(), LoadError>,
    pub runs: Vec<RunResult>,
    /// The raw input as the last run left it.
    pub mem: Vec<u8>,
    /// The packet and its metadata as the last run left them.
    pub packet: Option<(Vec<u8>, Vec<u8>)>,
    pub maps: Vec<Vec<Entry>>,
    pub trace: Vec<String>,
    pub redirect: Option<Redirect>,
    /// Where the regions were (not compared: it is the allocator's).
    pub layout: Layout,
}

/// The conformance suite's helper 5: returns its first argument.
fn suite_helper_5(_: &mut Runtime, [r1, ..]: [u64; 5]) -> Result<u64, Fault> {
    Ok(r1)
}

/// Loads and runs `program` on `engine` in a fresh runtime.
pub fn outcome(engine: &mut dyn Engine, program: &Program, input: &Input, setup: &Setup) -> Outcome {
    outcome_proven(engine, program, None, input, setup)
}

/// [`outcome`], loading with the verifier's facts ([`Engine::load_proven`])
/// when `proven` is given.
pub fn outcome_proven(
    engine: &mut dyn Engine,
    program: &Program,
    proven: Option<&Proven>,
    input: &Input,
    setup: &Setup,
) -> Outcome {
    let mut outs = outcomes(engine, program, proven, std::slice::from_ref(input), setup);
    outs.pop().expect("one outcome per input")
}

/// Loads `program` on `engine` once, in a fresh runtime, and runs it on
/// each input in turn (`setup.runs` times each, map state carrying over
/// from one to the next): what each input's runs left behind.
pub fn outcomes(
    engine: &mut dyn Engine,
    program: &Program,
    proven: Option<&Proven>,
    inputs: &[Input],
    setup: &Setup,
) -> Vec<Outcome> {
    outcomes_in(engine, program, proven, inputs, setup, Order::RuntimeFirst)
}

/// Which is allocated first: the runtime (its stack and maps) or the
/// inputs' contexts. Flipping it moves the regions relative to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    RuntimeFirst,
    ContextsFirst,
}

/// [`outcomes`], allocating in the given order.
pub fn outcomes_in(
    engine: &mut dyn Engine,
    program: &Program,
    proven: Option<&Proven>,
    inputs: &[Input],
    setup: &Setup,
    order: Order,
) -> Vec<Outcome> {
    let mut contexts: Vec<Context> =
        if order == Order::ContextsFirst { inputs.iter().map(Input::context).collect() } else { Vec::new() };
    let mut rt = Runtime::new(setup.config.clone());
    if order == Order::RuntimeFirst {
        contexts = inputs.iter().map(Input::context).collect();
    }
    if setup.suite_helper_5 {
        rt.register_helper(HelperId(5), helper_fn!(HelperId(5), suite_helper_5))
            .expect("helper 5 fits the helper table");
    }
    let loaded = match proven {
        Some(proven) => engine.load_proven(&mut rt, program, proven),
        None => engine.load(&mut rt, program),
    }
    .and_then(|prog| rt.apply_initial_slots().map(|()| prog));
    let mut outs = Vec::with_capacity(inputs.len());
    for mut ctx in contexts {
        let mut runs = Vec::new();
        let loaded_here = "the program was loaded by this engine";
        match loaded {
            Ok(prog) if setup.repeated => {
                let (last, _) = engine.run_repeated(&mut rt, prog, &mut ctx, setup.runs as u64).expect(loaded_here);
                runs.push(last);
            }
            Ok(prog) => {
                for _ in 0..setup.runs {
                    runs.push(engine.run(&mut rt, prog, &mut ctx).expect(loaded_here));
                }
            }
            Err(_) => {}
        }
        outs.push(Outcome {
            load: loaded.clone().map(drop),
            runs,
            mem: ctx.mem(),
            packet: ctx.packet().map(|p| (p.bytes(), p.metadata())),
            maps: rt.maps().map(|(_, m)| m.dump()).collect(),
            trace: rt.take_trace(),
            redirect: rt.redirect(),
            layout: Layout::new(rt.regions()),
        });
    }
    outs
}

/// Where a runtime's regions were in its last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    spans: Vec<(u64, u64)>,
}

impl Layout {
    pub fn new(regions: &[Region]) -> Layout {
        let mut spans: Vec<(u64, u64)> = regions.iter().map(|r| (r.start, r.len)).collect();
        // The whole stack, not just the frames live when the run ended.
        if let Some(stack) = spans.get_mut(STACK_REGION) {
            let top = stack.0 + stack.1;
            let len = u64::from(MAX_FRAMES) * FRAME_SIZE;
            *stack = (top - len, len);
        }
        Layout { spans }
    }

    fn inside(&self, v: u64) -> bool {
        self.spans.iter().any(|&(start, len)| v.wrapping_sub(start) < len)
    }
}

/// Whether two runs name the same region nearest to a faulting address.
/// The nearest region is a function of the address and of where the
/// runtime's regions happen to lie, so two runtimes may name different
/// ones for a wild address — one further from its nearest region than
/// that region is long, in either run (an address near a region in one
/// layout and far from every region in the other is tied to no region);
/// for any other address they must agree exactly.
fn same_nearest(a: &Option<Nearest>, b: &Option<Nearest>) -> bool {
    /// How far beyond a region an address may fall and still be near it.
    const NEAR: u64 = 4096;
    let wild = |n: &Nearest| n.offset.unsigned_abs() > n.len.saturating_add(NEAR);
    match (a, b) {
        (Some(x), Some(y)) => x == y || wild(x) || wild(y),
        (x, y) => x == y,
    }
}

/// How two runs' regions moved: one displacement per region.
struct Moves(Vec<u64>);

impl Moves {
    fn new(a: &Layout, b: &Layout) -> Moves {
        Moves(a.spans.iter().zip(&b.spans).map(|(x, y)| y.0.wrapping_sub(x.0)).collect())
    }

    /// Whether `a` (from the first run) and `b` (the second) are the same
    /// value, up to a small multiple (a pointer doubled, negated, shifted) of
    /// one region's displacement, in 64 or 32 bits — or in 16 or 8 bits
    /// for a small difference: a pointer's low bits, zero- or
    /// sign-extended (`(s16)r10`, or `(s16)w10` in 32 bits), move by the
    /// displacement modulo their width, give or take one wrap.
    fn same(&self, a: u64, b: u64) -> bool {
        let d = b.wrapping_sub(a);
        // In 32 bits only for two 32-bit values (upper halves zero).
        let narrow = (a | b) >> 32 == 0;
        let small = |bits: u32| {
            (d as i64).unsigned_abs() < 1 << bits || (narrow && (d as u32 as i32).unsigned_abs() < 1 << bits)
        };
        a == b
            || self.0.iter().filter(|&&m| m != 0).any(|&m| {
                (-16i64..=16).filter(|&k| k != 0).any(|k| {
                    let km = m.wrapping_mul(k as u64);
                    d == km
                        || d as u32 == km as u32
                        || [8, 16].into_iter().any(|bits| small(bits) && (d ^ km) & ((1 << bits) - 1) == 0)
                })
            })
    }

    fn same_text(&self, a: &str, b: &str) -> bool {
        let (wa, wb): (Vec<&str>, Vec<&str>) = (a.split(' ').collect(), b.split(' ').collect());
        let hex = |w: &str| {
            let digits = w.strip_prefix("0x")?.trim_end_matches([',', ')', ':']);
            u64::from_str_radix(digits, 16).ok()
        };
        wa.len() == wb.len()
            && wa.iter().zip(&wb).all(|(x, y)| match (hex(x), hex(y)) {
                (Some(u), Some(v)) => self.same(u, v),
                _ => x == y,
            })
    }

    /// Whether two memories hold the same bytes, up to pointers (or their
    /// low bytes: a program may store 1, 2 or 4 bytes of one, at any
    /// offset) moved by a region's displacement.
    fn same_bytes(&self, a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut p = 0;
        while p < a.len() {
            if a[p] == b[p] {
                p += 1;
                continue;
            }
            match self.moved_window_end(a, b, p) {
                Some(end) => p = end,
                None => return false,
            }
        }
        true
    }

    /// The end of the furthest-reaching window of 1, 2, 4 or 8 bytes that
    /// holds byte `p` and over which `b` is `a` moved as [`Moves::same`]
    /// allows (modulo the window's width).
    fn moved_window_end(&self, a: &[u8], b: &[u8], p: usize) -> Option<usize> {
        let word = |m: &[u8], o: usize, n: usize| {
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(&m[o..o + n]);
            u64::from_le_bytes(w)
        };
        (p.saturating_sub(7)..=p)
            .flat_map(|o| [8, 4, 2, 1].map(move |n| (o, n)))
            .filter(|&(o, n)| o + n > p && o + n <= a.len())
            .filter(|&(o, n)| {
                let (x, y) = (word(a, o, n), word(b, o, n));
                if n == 8 {
                    return self.same(x, y);
                }
                let mask = (1u64 << (8 * n)) - 1;
                let d = y.wrapping_sub(x) & mask;
                self.0
                    .iter()
                    .filter(|&&m| m != 0)
                    .any(|&m| (-16i64..=16).filter(|&k| k != 0).any(|k| m.wrapping_mul(k as u64) & mask == d))
            })
            .map(|(o, n)| o + n)
            .max()
    }

    fn same_exit(&self, a: &Exit, b: &Exit, first: &Layout) -> bool {
        match (a, b) {
            (Exit::Return(x), Exit::Return(y)) => self.same(*x, *y),
            (Exit::Fault { at: p, fault: f }, Exit::Fault { at: q, fault: g }) => {
                p == q
                    && match (f, g) {
                        (
                            Fault::OutOfBounds { access: x, addr: u, nearest: n },
                            Fault::OutOfBounds { access: y, addr: v, nearest: m },
                        ) => x == y && self.same(*u, *v) && (!first.inside(*u) || same_nearest(n, m)),
                        (
                            Fault::ReadOnly { access: x, addr: u, region: n },
                            Fault::ReadOnly { access: y, addr: v, region: m },
                        ) => x == y && self.same(*u, *v) && n == m,
                        (
                            Fault::BadHelperArg { helper: x, reason: r },
                            Fault::BadHelperArg { helper: y, reason: t },
                        ) => x == y && self.same_text(r, t),
                        _ => f == g,
                    }
            }
            _ => false,
        }
    }

    fn same_runs(&self, a: &[RunResult], b: &[RunResult], first: &Layout) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.insns == y.insns && x.prog == y.prog && self.same_exit(&x.exit, &y.exit, first))
    }
}

/// Both engines' outcomes.
pub fn both(program: &Program, input: &Input, setup: &Setup) -> (Outcome, Outcome) {
    let interp = outcome(&mut Interpreter::new(), program, input, setup);
    let mut jit = Jit::new().expect("the host runs the JIT");
    let jit = outcome(&mut jit, program, input, setup);
    (interp, jit)
}

/// Runs `program` on both engines; `Err` names the first difference the
/// layout does not explain (see the module docs).
pub fn check(program: &Program, input: &Input, setup: &Setup) -> Result<Outcome, String> {
    let (interp, jit) = both(program, input, setup);
    judge(program, input, setup, &interp, &jit).map_or(Ok(interp), Err)
}

/// The first difference between the interpreter's outcome of `program` on
/// `input` and another engine's, unless the interpreter's own outcome
/// changes with where its regions lie, or the JIT, its regions moved the
/// same ways, comes out as the interpreter did (then the two compute the
/// same function of the layout, and the layouts the interpreter's reruns
/// tried only missed the one the other engine had).
pub fn judge(program: &Program, input: &Input, setup: &Setup, interp: &Outcome, other: &Outcome) -> Option<String> {
    let d = difference(interp, other)?;
    let rerun = |engine: &mut dyn Engine, order| {
        let mut outs = outcomes_in(engine, program, None, std::slice::from_ref(input), setup, order);
        outs.pop().expect("one outcome per input")
    };
    if layout_dependent(interp, |order| rerun(&mut Interpreter::new(), order)) {
        return None;
    }
    let jit = |order| rerun(&mut Jit::new().expect("the host runs the JIT"), order);
    let jit_agrees_elsewhere = any_moved(jit, |out| difference(interp, &out).is_none());
    (!jit_agrees_elsewhere).then_some(d)
}

/// Whether `test` holds for any of the outcomes `rerun` makes with the
/// regions moved: in the other order, then behind live blocks of the
/// sizes a runtime allocates, which take the places the previous runtimes
/// freed so that the next one lands elsewhere.
fn any_moved<T>(rerun: impl Fn(Order) -> T, test: impl Fn(T) -> bool) -> bool {
    test(rerun(Order::ContextsFirst))
        || [(24, 8), (64, 8), (520, 4), (4104, 2), (65_544, 1)].into_iter().any(|(size, count)| {
            let _taken: Vec<Vec<u8>> = (0..count).map(|_| vec![1u8; size]).collect();
            test(rerun(Order::RuntimeFirst))
        })
}

/// Whether the interpreter's outcome `first`, made again by `rerun` with
/// the regions moved, comes out different: then where memory lies decides
/// it (a pointer compared with one into another region, its bits mixed
/// into data), and a difference from another engine proves nothing.
pub fn layout_dependent(first: &Outcome, rerun: impl Fn(Order) -> Outcome) -> bool {
    let first = std::slice::from_ref(first);
    layout_dependent_all(first, |order| vec![rerun(order)])
}

/// [`layout_dependent`] for the outcomes of a sequence of inputs: whether
/// any of them comes out different when `rerun` makes them again.
pub fn layout_dependent_all(first: &[Outcome], rerun: impl Fn(Order) -> Vec<Outcome>) -> bool {
    any_moved(rerun, |again| first.iter().zip(&again).any(|(a, b)| difference(a, b).is_some()))
}

/// Facts that call every memory access of `program` safe. They hold for
/// any run that does not fault — every access it makes stays in its
/// region — so a JIT loaded with them must leave exactly what the
/// interpreter left on such a run: what tests of unchecked accesses use
/// where the verifier does not judge the program.
pub fn every_access_safe(program: &Program) -> Proven {
    let mut proven = Proven::new(program);
    for (at, insn) in program.slots() {
        if matches!(insn, Insn::Load { .. } | Insn::Store { .. } | Insn::Atomic { .. }) {
            proven.add_safe_access(at);
        }
    }
    proven
}

/// Whether every run of an outcome loaded and returned (none faulted).
pub fn never_faulted(out: &Outcome) -> bool {
    out.load.is_ok() && out.runs.iter().all(|r| r.exit.r0().is_some())
}

/// The first difference between `setup.runs` runs of `program` made one
/// [`Engine::run`] at a time and the same runs made by one
/// [`Engine::run_repeated`] call, each on a fresh engine from `engine`: the
/// last run's result and everything the runs left must be the same. Runs
/// stop at the first fault, as a repetition does. `None` too when the
/// separate runs come out different with the regions moved (where memory
/// lies decides the outcome: the two ways of running allocate
/// differently, so their layouts differ).
pub fn repeat_difference(
    engine: &dyn Fn() -> Box<dyn Engine>,
    program: &Program,
    input: &Input,
    setup: &Setup,
) -> Option<String> {
    let first = outcome(&mut *engine(), program, input, setup);
    let runs = first.runs.iter().position(|r| r.exit.r0().is_none()).map_or(setup.runs, |k| k + 1);
    let upto = Setup { runs, repeated: false, ..setup.clone() };
    let separate_in = |order| {
        let mut outs = outcomes_in(&mut *engine(), program, None, std::slice::from_ref(input), &upto, order);
        let mut out = outs.pop().expect("one outcome per input");
        out.runs.drain(..out.runs.len().saturating_sub(1));
        out
    };
    let separate = separate_in(Order::RuntimeFirst);
    let repeated = outcome(&mut *engine(), program, input, &Setup { repeated: true, ..upto.clone() });
    let d = named_difference(&separate, &repeated, ["separate", "repeated"])?;
    let moved = any_moved(separate_in, |again| named_difference(&separate, &again, ["", ""]).is_some());
    (!moved).then_some(d)
}

/// The first difference between the interpreter's outcome and the JIT's.
pub fn difference(interp: &Outcome, jit: &Outcome) -> Option<String> {
    named_difference(interp, jit, ["interp", "jit"])
}

/// The first difference between two outcomes, named `names`.
fn named_difference(interp: &Outcome, jit: &Outcome, names: [&str; 2]) -> Option<String> {
    let moves = Moves::new(&interp.layout, &jit.layout);
    let maps_same = interp.maps.len() == jit.maps.len()
        && interp.maps.iter().zip(&jit.maps).all(|(a, b)| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.key == y.key && moves.same_bytes(&x.value, &y.value))
        });
    let packet_same = match (&interp.packet, &jit.packet) {
        (Some((p, m)), Some((q, n))) => moves.same_bytes(p, q) && moves.same_bytes(m, n),
        (a, b) => a == b,
    };
    let checks: [(&str, bool, String, String); 7] = [
        ("load", interp.load == jit.load, format!("{:?}", interp.load), format!("{:?}", jit.load)),
        (
            "runs",
            moves.same_runs(&interp.runs, &jit.runs, &interp.layout),
            format!("{:?}", interp.runs),
            format!("{:?}", jit.runs),
        ),
        (
            "memory",
            moves.same_bytes(&interp.mem, &jit.mem),
            format!("{:02x?}", interp.mem),
            format!("{:02x?}", jit.mem),
        ),
        ("packet", packet_same, format!("{:02x?}", interp.packet), format!("{:02x?}", jit.packet)),
        ("maps", maps_same, format!("{:?}", interp.maps), format!("{:?}", jit.maps)),
        ("trace", interp.trace == jit.trace, format!("{:?}", interp.trace), format!("{:?}", jit.trace)),
        ("redirect", interp.redirect == jit.redirect, format!("{:?}", interp.redirect), format!("{:?}", jit.redirect)),
    ];
    let [x, y] = names;
    let width = x.len().max(y.len()) + 1;
    checks.into_iter().find(|c| !c.1).map(|(what, _, a, b)| {
        format!("{what} differ:\n  {:width$} {a}\n  {:width$} {b}", format!("{x}:"), format!("{y}:"))
    })
}

#[cfg(test)]
mod tests {
    use bpfx_runtime::RegionKind;

    use super::*;

    #[test]
    fn memories_agree_up_to_moved_pointers_and_their_low_bytes() {
        let moves = Moves(vec![0, 0x1_2340]);
        let ptr: u64 = 0x7f00_0000_1000;
        let moved = ptr + 0x1_2340;
        let mut a = vec![0xaa; 24];
        let mut b = a.clone();
        a[3..11].copy_from_slice(&ptr.to_le_bytes());
        b[3..11].copy_from_slice(&moved.to_le_bytes());
        a[12..14].copy_from_slice(&(ptr as u16).to_le_bytes());
        b[12..14].copy_from_slice(&(moved as u16).to_le_bytes());
        assert!(moves.same_bytes(&a, &b), "a pointer at an odd offset, and its low half-word");
        b[20] ^= 1;
        assert!(!moves.same_bytes(&a, &b), "a byte off by one is no pointer's move");
        assert!(!Moves(vec![0, 0]).same_bytes(&a[..20], &b[..20]), "nothing moved, nothing may differ");
    }

    #[test]
    fn sign_extended_low_bits_of_a_pointer_agree() {
        let moves = Moves(vec![0x1_2340]);
        let sext16 = |p: u64| p as u16 as i16 as i64 as u64;
        let ptr: u64 = 0x7f00_0000_7000;
        assert!(moves.same(sext16(ptr), sext16(ptr + 0x1_2340)), "the low half-word wrapped past 0x7fff");
        // `w0 = (s16)w1`: sign-extended to 32 bits, the upper half zero.
        let sext16_32 = |p: u64| u64::from(p as u16 as i16 as i32 as u32);
        assert!(moves.same(sext16_32(ptr), sext16_32(ptr + 0x1_2340)), "in 32 bits");
        assert!(!moves.same(sext16(ptr), sext16(ptr) + 0x10_0000), "a difference wider than 16 bits");
        assert!(!moves.same(5, 6));
    }

    #[test]
    fn nearest_regions_must_agree_unless_the_address_is_wild() {
        let at = |kind, offset| Some(Nearest { kind, offset, len: 64 });
        let packet = at(RegionKind::Packet, 70);
        assert!(same_nearest(&packet, &packet));
        assert!(!same_nearest(&packet, &at(RegionKind::Packet, 71)), "an address near its region is placed exactly");
        assert!(!same_nearest(&packet, &at(RegionKind::Stack, 70)));
        let far = at(RegionKind::Packet, 1 << 20);
        assert!(
            same_nearest(&far, &at(RegionKind::Stack, -(1 << 30))),
            "a wild address is nearest to whatever lies near"
        );
        assert!(!same_nearest(&far, &None));
        assert!(
            same_nearest(&far, &at(RegionKind::Stack, -4000)),
            "near the stack in one layout, far from everything in the other"
        );
    }
}
