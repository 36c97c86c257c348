//! `bpfx-jit`: bpfx's Cranelift JIT.
//!
//! What it is: an engine that translates a whole [`Program`] into one
//! native function per program, with the interpreter's exact semantics —
//! the same [`bpfx_runtime::Exit`] values, the same memory, map and
//! packet contents, the same faults at the same instruction index and the
//! same instruction counts. It runs against the same [`bpfx_runtime`] contract: the region
//! table (checked inline, with a per-instruction hint of the region hit
//! last, as the interpreter does), the very same helper functions, the
//! instruction budget (checked at every taken back-edge, call and callback
//! entry, the points where the interpreter checks it), bpf-to-bpf calls with a
//! frame stack and the stack region moved per frame, callbacks (`bpf_loop`,
//! `bpf_for_each_map_elem`) and tail calls.
//!
//! How: every instruction that starts a basic block gets a Cranelift block;
//! BPF registers are Cranelift variables; the instructions started are a
//! variable counted up from 0 at the function's entry, once per block by
//! the number of instructions it ran up to the point that observes it, and
//! compared with the state's limit where the budget is checked. A bad
//! access, a budget fault or a helper's fault calls a cold Rust function
//! that records the [`bpfx_runtime::Fault`] and the function returns: no
//! signal handler, no unwinding.
//!
//! With the facts of bpfx's verifier ([`Engine::load_proven`],
//! [`bpfx_isa::Proven`]), an access proved to stay inside its region is a
//! plain load or store, as in the kernel's JIT: no hint, no region lookup,
//! no writability check; and a `bpf_map_lookup_elem` whose map the
//! verifier pinned to one array or per-CPU array (the run's CPU read from
//! the VM context) is a bounds check and an address computed inline, as the
//! kernel's JIT does it (other maps, maps of maps and a helper a test
//! replaced keep the call). Every other access keeps its inline check.
//!
//! What it is not: a verifier. Like the interpreter it runs whatever it is
//! given, and checks every access nobody proved safe (it proves only
//! constant-offset accesses to the current frame of a program that never
//! writes `r10` itself). Facts are trusted: wrong ones turn unchecked
//! accesses into host memory corruption, which is why they must come from
//! bpfx's verifier for this very program.

mod compile;
mod dead;
mod exec;

use std::sync::Arc;

use bpfx_isa::{Program, Proven};
use bpfx_runtime::{Context, ContextKind, Engine, LoadError, ProgId, RunError, RunResult, Runtime, RuntimeBinding};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};

use compile::Compiled;

/// The JIT: programs compiled for runtimes, by id.
pub struct Jit {
    isa: OwnedTargetIsa,
    /// Compiled code holds the runtime's addresses: it runs on that runtime only.
    runtime: RuntimeBinding,
    programs: Vec<Option<Compiled>>,
    /// Nanoseconds the last [`Engine::load`] spent translating and
    /// compiling (linking the program into the runtime excluded).
    last_compile_ns: u64,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").field("programs", &self.programs.iter().flatten().count()).finish_non_exhaustive()
    }
}

/// Why the host cannot run the JIT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("cranelift does not support this host: {0}")]
    Unsupported(String),
}

impl Jit {
    /// A JIT for the host CPU.
    pub fn new() -> Result<Jit, HostError> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags.set(name, value).map_err(|e| HostError::Unsupported(format!("setting {name}: {e}")))
        };
        // Cranelift's e-graph optimiser cost as much as the rest of the
        // compile (and far more on chains of constant additions), for
        // what the translation now does itself where it matters: constant
        // additions folded, frame slots read back from what the block
        // stored, fault arguments off the hot path. Measured in
        // BENCHMARKS.md: the same or better run times, a third less
        // compile time.
        set(&mut flags, "opt_level", "none")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        // Nothing unwinds through compiled code: helpers and the fault
        // paths return normally.
        set(&mut flags, "unwind_info", "false")?;
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        let builder = cranelift_native::builder().map_err(|e| HostError::Unsupported(e.to_string()))?;
        let isa = builder.finish(settings::Flags::new(flags)).map_err(|e| HostError::Unsupported(e.to_string()))?;
        Ok(Jit { isa, runtime: RuntimeBinding::default(), programs: Vec::new(), last_compile_ns: 0 })
    }

    /// [`Engine::load`], trusting `proven` (already matched to `program`)
    /// where it has facts.
    fn load_with(&mut self, rt: &mut Runtime, program: &Program, proven: Option<&Proven>) -> Result<ProgId, LoadError> {
        self.runtime.bind(rt)?;
        bpfx_runtime::code::check_targets(program)?;
        let linked = rt.link(program)?;
        let start = std::time::Instant::now();
        let mut code = compile::compile(self.isa(), program, rt, &linked, proven)?;
        // Unchecked packet and context accesses hold only on the context the
        // verifier judged (a packet program run on raw bytes would take its
        // "packet pointers" from them).
        if proven.is_some() && program.prog_type.runs_on_packet() {
            code.context = Some(ContextKind::of(program.prog_type));
        }
        self.last_compile_ns = start.elapsed().as_nanos() as u64;
        let index = linked.id.0 as usize;
        if self.programs.len() <= index {
            self.programs.resize_with(index + 1, || None);
        }
        self.programs[index] = Some(code);
        Ok(linked.id)
    }

    /// Bytes of machine code compiled for `prog` (what dropped checks and
    /// inlined calls save shows here).
    pub fn code_bytes(&self, prog: ProgId) -> Option<usize> {
        self.code(prog).map(|c| c.code_bytes)
    }

    fn code(&self, id: ProgId) -> Option<&Compiled> {
        self.programs.get(id.0 as usize)?.as_ref()
    }

    fn isa(&self) -> OwnedTargetIsa {
        Arc::clone(&self.isa)
    }
}

impl Engine for Jit {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn load(&mut self, rt: &mut Runtime, program: &Program) -> Result<ProgId, LoadError> {
        self.load_with(rt, program, None)
    }

    fn load_proven(&mut self, rt: &mut Runtime, program: &Program, proven: &Proven) -> Result<ProgId, LoadError> {
        if !proven.is_for(program) {
            return Err(LoadError::ProofMismatch);
        }
        self.load_with(rt, program, Some(proven))
    }

    fn uses_facts(&self) -> bool {
        true
    }

    fn compile_ns(&self) -> Option<u64> {
        Some(self.last_compile_ns)
    }

    #[inline(always)]
    fn run_counted(
        &self,
        rt: &mut Runtime,
        prog: ProgId,
        ctx: &mut Context,
        repeat: u64,
        runs: &mut u64,
    ) -> Result<RunResult, RunError> {
        self.runtime.check(rt, prog)?;
        let code = self.code(prog).ok_or(RunError::UnknownProgram(prog))?;
        if let Some(expected) = code.context.filter(|&k| k != ctx.kind()) {
            return Err(RunError::WrongContext { prog, expected, given: ctx.kind() });
        }
        let env = self as *const Jit as *mut std::ffi::c_void;
        // SAFETY: compiled code reaches the runtime only through the VM
        // context; the callback entry takes this JIT, which outlives the
        // runs.
        unsafe { rt.run_repeated(ctx, repeat, runs, exec::callback_entry, env, exec::Top::new(code, prog)) }
    }
}
