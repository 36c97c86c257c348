//! The differential oracle: one program, one input, run on the interpreter
//! (the reference) and on the JIT, each in a fresh runtime; everything a
//! run leaves behind is compared as values.
//!
//! Two runtimes put their stacks, contexts and maps at different host
//! addresses, so a value computed from an address (a pointer a program
//! returns or stores, the address of a bad access, a negated or truncated
//! pointer) differs between them by where the allocator put its region:
//! two values agree when they are equal or differ by exactly one region's
//! displacement ([`Layout`]), in 64 or in 32 bits. Which region is nearest
//! to an address outside all of them is the allocator's choice too, and is
//! compared only for addresses inside one.

use bpfx_interpreter::Interpreter;
use bpfx_isa::{HelperId, Program};
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
}

impl Input {
    fn context(&self) -> Context {
        match self {
            Input::Raw(mem) => Context::raw(mem),
            Input::Xdp(packet) => Context::xdp(packet, 1, 0),
            Input::Skb(packet) => Context::skb(packet, 1),
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
}

impl Default for Setup {
    fn default() -> Setup {
        Setup { config: Config::default(), suite_helper_5: false, runs: 1 }
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
    let mut rt = Runtime::new(setup.config.clone());
    if setup.suite_helper_5 {
        rt.register_helper(HelperId(5), helper_fn!(HelperId(5), suite_helper_5))
            .expect("helper 5 fits the helper table");
    }
    let mut ctx = input.context();
    let mut out = Outcome {
        load: Ok(()),
        runs: Vec::new(),
        mem: Vec::new(),
        packet: None,
        maps: Vec::new(),
        trace: Vec::new(),
        redirect: None,
        layout: Layout { spans: Vec::new() },
    };
    match engine.load(&mut rt, program) {
        Ok(prog) => {
            for _ in 0..setup.runs {
                out.runs.push(engine.run(&mut rt, prog, &mut ctx).expect("the program was loaded by this engine"));
            }
        }
        Err(e) => out.load = Err(e),
    }
    out.mem = ctx.mem();
    out.packet = ctx.packet().map(|p| (p.bytes(), p.metadata()));
    out.maps = rt.maps().map(|(_, m)| m.dump()).collect();
    out.trace = rt.take_trace();
    out.redirect = rt.redirect();
    out.layout = Layout::new(rt.regions());
    out
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
/// that region is long; for any other address they must agree exactly.
fn same_nearest(a: &Option<Nearest>, b: &Option<Nearest>) -> bool {
    /// How far beyond a region an address may fall and still be near it.
    const NEAR: u64 = 4096;
    let wild = |n: &Nearest| n.offset.unsigned_abs() > n.len.saturating_add(NEAR);
    match (a, b) {
        (Some(x), Some(y)) => x == y || (wild(x) && wild(y)),
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
    /// one region's displacement, in 64 or 32 bits.
    fn same(&self, a: u64, b: u64) -> bool {
        let d = b.wrapping_sub(a);
        a == b
            || self.0.iter().filter(|&&m| m != 0).any(|&m| {
                (-16i64..=16).filter(|&k| k != 0).any(|k| {
                    let km = m.wrapping_mul(k as u64);
                    d == km || d as u32 == km as u32
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

    fn same_bytes(&self, a: &[u8], b: &[u8]) -> bool {
        let word = |m: &[u8], i: usize| {
            let mut w = [0u8; 8];
            let end = (i + 8).min(m.len());
            w[..end - i].copy_from_slice(&m[i..end]);
            u64::from_le_bytes(w)
        };
        a.len() == b.len() && (0..a.len()).step_by(8).all(|i| self.same(word(a, i), word(b, i)))
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

/// Runs `program` on both engines; `Err` names the first difference.
pub fn check(program: &Program, input: &Input, setup: &Setup) -> Result<Outcome, String> {
    let (interp, jit) = both(program, input, setup);
    difference(&interp, &jit).map_or(Ok(interp), Err)
}

/// The first difference between the interpreter's outcome and the JIT's.
pub fn difference(interp: &Outcome, jit: &Outcome) -> Option<String> {
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
    checks.into_iter().find(|c| !c.1).map(|(what, _, a, b)| format!("{what} differ:\n  interp: {a}\n  jit:    {b}"))
}

#[cfg(test)]
mod tests {
    use bpfx_runtime::RegionKind;

    use super::*;

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
    }
}
