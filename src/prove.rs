//! Loading a program onto an engine for `bpfx run`, with what bpfx's
//! verifier proved about it.
//!
//! The engines never depend on the verifier; this is where the two meet.
//! Before a program is loaded, the verifier judges it as root's kernel
//! would; when it accepts, its facts ([`Proven`]) go to the engine, and the
//! JIT drops the run-time checks of the accesses proved safe — what the
//! kernel's JIT does after its verifier. The facts go with the program
//! the engine runs, after the runtime's context conversion, only when the
//! conversion rewrote exactly the accesses the verifier saw through the
//! context pointer (`convert_proven`). A program the verifier rejects, or
//! whose facts do not carry over, still runs, with every access checked:
//! offline, a fault is a report, not a crash. `--check-all` keeps every check for any program (to tell a
//! verifier bug from a program bug).

use bpfx_isa::{Program, Proven};
use bpfx_runtime::context::convert::{convert, convert_proven, converts};
use bpfx_runtime::{Engine, ProgId, Runtime};
use bpfx_verifier::{Options, verify};

/// How programs are handed to an engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loading {
    /// Rewrite context accesses for bpfx's packet contexts first (replays).
    pub convert: bool,
    /// Give the engine the verifier's facts when it accepts the program.
    pub trust_verifier: bool,
}

/// A program on an engine, and how many of its accesses went unchecked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loaded {
    pub prog: ProgId,
    /// Accesses the verifier proved safe, when its facts were given.
    pub proven_accesses: Option<usize>,
}

impl Loading {
    /// Loads `program` on `engine` into `rt`; `Err` says why it was refused.
    pub fn load(self, engine: &mut dyn Engine, rt: &mut Runtime, program: &Program) -> Result<Loaded, String> {
        // Only an engine with checks to drop (the JIT) is told anything; the
        // interpreter checks every access whatever it is told. The facts
        // hold only on the context the verifier judged: a packet program
        // run on raw `--mem` bytes gets none (its "packet pointers" are
        // whatever the bytes say).
        let right_context = self.convert || !converts(program.prog_type);
        let uses_facts = self.trust_verifier && right_context && engine.uses_facts();
        let proven = uses_facts.then(|| verify(program, &Options::default()).proven).flatten();
        // Facts cross the conversion only when it rewrote exactly the
        // accesses the verifier saw through the context pointer.
        let (program, proven) = match (self.convert, proven) {
            (true, Some(proven)) => convert_proven(program, &proven).map_err(|e| e.to_string())?,
            (true, None) => (convert(program).map_err(|e| e.to_string())?, None),
            (false, proven) => (program.clone(), proven),
        };
        let loaded = match &proven {
            Some(proven) => engine.load_proven(rt, &program, proven),
            None => engine.load(rt, &program),
        };
        let prog = loaded.map_err(|e| e.to_string())?;
        Ok(Loaded { prog, proven_accesses: proven.as_ref().map(Proven::safe_access_count) })
    }
}
