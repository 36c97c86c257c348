//! `bpfx-prove`: where bpfx's verifier and its engines meet.
//!
//! What it is: the one place that composes them, for the CLI, the benches
//! and the differential tests alike. Before a program is loaded, the
//! verifier judges it as root's kernel would; when it accepts, its facts
//! ([`Proven`]) go to the engine, and the JIT drops the run-time checks of
//! the accesses proved safe — what the kernel's JIT does after its
//! verifier. The facts go with the program the engine runs, after the
//! runtime's context conversion, only when the conversion rewrote exactly
//! the accesses the verifier saw through the context pointer
//! (`convert_proven`). A program the verifier rejects, or whose facts do
//! not carry over, still runs, with every access checked: offline, a fault
//! is a report, not a crash.
//!
//! What it is not: a verifier or an engine. The engines never depend on
//! the verifier, and the verifier never on the engines; only this crate
//! (and what uses it) depends on both.

use bpfx_isa::{Program, Proven};
use bpfx_runtime::context::convert::{ConvertError, convert, convert_proven, converts};
use bpfx_runtime::{Engine, LoadError, ProgId, Runtime};
use bpfx_verifier::{Options, verify};

/// `program` as the engines run it, and the verifier's facts carried to
/// it: judged by the verifier when `verify_first` (the facts are `None`
/// when it was not asked, rejected the program, or its facts do not carry
/// over), its context accesses converted when `convert_ctx` (for the
/// program types the runtime converts).
fn prepare(
    program: &Program,
    verify_first: bool,
    convert_ctx: bool,
) -> Result<(Program, Option<Proven>), ConvertError> {
    let proven = verify_first.then(|| verify(program, &Options::default()).proven).flatten();
    Ok(match (convert_ctx, proven) {
        (true, Some(proven)) => convert_proven(program, &proven)?,
        (true, None) => (convert(program)?, None),
        (false, proven) => (program.clone(), proven),
    })
}

/// How programs are handed to an engine.
#[derive(Debug, Clone, Copy)]
pub struct Loading {
    /// Rewrite context accesses for bpfx's packet contexts first (the
    /// program runs on a packet's test-run context, not on raw bytes).
    pub convert: bool,
    /// Give the engine the verifier's facts when it accepts the program
    /// (`bpfx run --check-all` does not).
    pub trust_verifier: bool,
}

/// A program on an engine, and how many of its accesses go unchecked.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub prog: ProgId,
    /// Accesses the verifier proved safe, when its facts were given.
    pub proven_accesses: Option<usize>,
}

/// Why a program could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadingError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl Loading {
    /// How `bpfx run` loads a program that runs on a packet context.
    pub const PACKET: Loading = Loading { convert: true, trust_verifier: true };

    /// Loads `program` on `engine` into `rt`.
    pub fn load(self, engine: &mut dyn Engine, rt: &mut Runtime, program: &Program) -> Result<Loaded, LoadingError> {
        // Only an engine with checks to drop (the JIT) is told anything; the
        // interpreter checks every access whatever it is told. The facts
        // hold only on the context the verifier judged: a packet program
        // run on raw bytes gets none (its "packet pointers" are whatever
        // the bytes say).
        let right_context = self.convert || !converts(program.prog_type);
        let uses_facts = self.trust_verifier && right_context && engine.uses_facts();
        let (program, proven) = prepare(program, uses_facts, self.convert)?;
        let prog = match &proven {
            Some(proven) => engine.load_proven(rt, &program, proven),
            None => engine.load(rt, &program),
        }?;
        Ok(Loaded { prog, proven_accesses: proven.as_ref().map(Proven::safe_access_count) })
    }
}

#[cfg(test)]
mod tests {
    use bpfx_interpreter::Interpreter;
    use bpfx_isa::abi::ProgType;
    use bpfx_isa::asm;
    use bpfx_jit::Jit;

    use super::*;

    /// An XDP program the verifier accepts, with two proved packet reads.
    fn xdp() -> Program {
        let source = "r2 = *(u32 *)(r1 + 0)
            r3 = *(u32 *)(r1 + 4)
            r0 = 2
            r4 = r2
            r4 += 1
            if r4 > r3 goto out
            r0 = *(u8 *)(r2 + 0)
            out:
            exit";
        let mut p = Program::new("xdp", ProgType::Xdp, asm::assemble(source).expect("assembles"));
        p.license = "GPL".into();
        p
    }

    fn proven_accesses(loading: Loading, engine: &mut dyn Engine, program: &Program) -> Option<usize> {
        loading.load(engine, &mut Runtime::default(), program).expect("loads").proven_accesses
    }

    #[test]
    fn facts_go_only_to_an_engine_that_uses_them_on_the_right_context() {
        let (p, jit) = (xdp(), || Jit::new().expect("the host runs the JIT"));
        assert_eq!(proven_accesses(Loading::PACKET, &mut jit(), &p), Some(3), "the context reads and the packet read");
        let raw = Loading { convert: false, trust_verifier: true };
        assert_eq!(proven_accesses(raw, &mut jit(), &p), None, "a packet program on raw bytes");
        let check_all = Loading { trust_verifier: false, ..Loading::PACKET };
        assert_eq!(proven_accesses(check_all, &mut jit(), &p), None, "--check-all");
        let interp = proven_accesses(Loading::PACKET, &mut Interpreter::new(), &p);
        assert_eq!(interp, None, "the interpreter checks anyway");
    }

    #[test]
    fn a_rejected_program_still_loads_with_every_access_checked() {
        let mut p = xdp();
        // Read the packet without the bounds check.
        p.insns.retain(|i| !matches!(i, bpfx_isa::Insn::Jump { .. }));
        assert!(verify(&p, &Options::default()).proven.is_none(), "the verifier rejects it");
        let mut jit = Jit::new().expect("the host runs the JIT");
        assert_eq!(proven_accesses(Loading::PACKET, &mut jit, &p), None);
    }
}
