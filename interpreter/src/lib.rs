//! `bpfx-interpreter`: bpfx's reference engine.
//!
//! What it is: an interpreter of every instruction of RFC 9669 (v1–v4,
//! atomics, `may_goto`, `callx`, legacy packet loads) with the exact
//! semantics the RFC and the kernel give them: division by zero yields 0,
//! modulo by zero leaves the dividend, `INT_MIN / -1` does not trap, shift
//! amounts are masked, every 32-bit result is zero-extended. Every load and
//! store is checked against the runtime's region table; a bad access is a
//! [`bpfx_runtime::Fault`], never undefined behaviour.
//!
//! It pre-decodes a program once, at load, into a flat array of
//! specialised operations with resolved targets and constants; running it
//! is one `match` per instruction with no allocation, hashing or dynamic
//! dispatch (helpers are called through the runtime's function pointers,
//! the same ones the JIT calls).
//!
//! What it is not: a verifier. It runs whatever it is given, and the region
//! checks and the instruction budget keep an unverified program from
//! harming the host or running forever.

mod decode;
mod exec;

use bpfx_isa::Program;
use bpfx_runtime::{Context, Engine, LoadError, ProgId, RunError, RunResult, Runtime, RuntimeBinding};

use decode::Code;

/// The interpreter: programs loaded into runtimes, by id.
#[derive(Debug, Default)]
pub struct Interpreter {
    runtime: RuntimeBinding,
    programs: Vec<Option<Code>>,
}

impl Interpreter {
    pub fn new() -> Interpreter {
        Interpreter::default()
    }

    fn code(&self, id: ProgId) -> Option<&Code> {
        self.programs.get(id.0 as usize)?.as_ref()
    }
}

impl Engine for Interpreter {
    fn name(&self) -> &'static str {
        "interp"
    }

    fn load(&mut self, rt: &mut Runtime, program: &Program) -> Result<ProgId, LoadError> {
        self.runtime.bind(rt)?;
        bpfx_runtime::code::check_targets(program)?;
        let linked = rt.link(program)?;
        let code = decode::decode(program, rt, &linked)?;
        let index = linked.id.0 as usize;
        if self.programs.len() <= index {
            self.programs.resize_with(index + 1, || None);
        }
        self.programs[index] = Some(code);
        Ok(linked.id)
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
        let env = self as *const Interpreter as *mut std::ffi::c_void;
        // SAFETY: the interpreter reaches the runtime only through the VM
        // context; the callback entry takes this interpreter, which
        // outlives the runs.
        let top = exec::Top { interp: self, code, prog, args: [0; 5] };
        unsafe { rt.run_repeated(ctx, repeat, runs, exec::callback_entry, env, top) }
    }
}
