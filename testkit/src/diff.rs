//! The differential oracle: one program, one input, run on the interpreter
//! (the reference) and on the JIT, each in a fresh runtime; everything a
//! run leaves behind is compared as values.

use bpfx_interpreter::Interpreter;
use bpfx_isa::{HelperId, Program};
use bpfx_jit::Jit;
use bpfx_runtime::maps::Entry;
use bpfx_runtime::{Config, Context, Engine, Fault, LoadError, Redirect, RunResult, Runtime, helper_fn};

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
    out
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
    let fields: [(&str, String, String); 7] = [
        ("load", format!("{:?}", interp.load), format!("{:?}", jit.load)),
        ("runs", format!("{:?}", interp.runs), format!("{:?}", jit.runs)),
        ("memory", format!("{:02x?}", interp.mem), format!("{:02x?}", jit.mem)),
        ("packet", format!("{:02x?}", interp.packet), format!("{:02x?}", jit.packet)),
        ("maps", format!("{:?}", interp.maps), format!("{:?}", jit.maps)),
        ("trace", format!("{:?}", interp.trace), format!("{:?}", jit.trace)),
        ("redirect", format!("{:?}", interp.redirect), format!("{:?}", jit.redirect)),
    ];
    if interp == jit {
        return None;
    }
    match fields.into_iter().find(|(_, a, b)| a != b) {
        Some((what, a, b)) => Some(format!("{what} differ:\n  interp: {a}\n  jit:    {b}")),
        None => Some(format!("outcomes differ:\n  interp: {interp:?}\n  jit:    {jit:?}")),
    }
}
