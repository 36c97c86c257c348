//! The [`Engine`] trait every bpfx engine implements, and what loading and
//! running report.

use std::fmt;

use bpfx_isa::{HelperId, InsnIdx, Program, Proven};

use crate::context::Context;
use crate::fault::Exit;
use crate::maps::CreateError;
use crate::runtime::Runtime;

/// A program loaded into a [`Runtime`]: what prog arrays hold and
/// [`Engine::run`] takes. Ids are shared by every engine using the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgId(pub u32);

impl fmt::Display for ProgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub exit: Exit,
    /// Instructions executed to completion (a faulting one is not counted;
    /// `lddw` counts once).
    pub insns: u64,
    /// The program running when the run ended (differs from the one started
    /// after a tail call).
    pub prog: ProgId,
}

impl RunResult {
    /// A run that returned `r0` from `prog`'s frame. Engines build their
    /// results through this and [`RunResult::faulted`]: with the fault's
    /// construction out of line, a return writes only the fields it sets,
    /// rather than copying the whole fault payload from wherever the
    /// compiler kept it (which stalls on store forwarding every run).
    #[inline(always)]
    pub fn returned(r0: u64, insns: u64, prog: ProgId) -> RunResult {
        RunResult { exit: Exit::Return(r0), insns, prog }
    }

    /// A run that stopped as `stop` says.
    #[cold]
    #[inline(never)]
    pub fn faulted(stop: Stop, insns: u64) -> RunResult {
        RunResult { exit: Exit::Fault { at: stop.at, fault: stop.fault }, insns, prog: stop.prog }
    }
}

/// Why a run stopped other than by returning: what an engine's run reports
/// to [`Runtime::run_repeated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub at: InsnIdx,
    pub fault: crate::Fault,
    /// The program running (another than the one started after a tail call).
    pub prog: ProgId,
}

/// The top-level runs of an engine's program, as [`Runtime::run_repeated`]
/// makes them: each from frame 0 with `r1`..`r5` = the `args` of
/// [`TopRun::begin`]. (A trait rather than closures so that its methods are
/// inlined into the loop.)
pub trait TopRun {
    /// How the engine reports a stop.
    type Stop: Into<Stop>;

    /// Takes the context's `r1`..`r5` and the VM context's settings
    /// before the first run.
    ///
    /// # Safety
    /// `vm` must be the live context of a run begun on the runtime the
    /// program was loaded into.
    unsafe fn begin(&mut self, vm: *mut crate::VmCtx, args: [u64; 5]);

    /// Runs the program once. A run counts its instructions from 0 (a stop
    /// leaves those started before it in the VM context's `insn_count`)
    /// and starts in frame 0 whatever frame the one before ended in; the
    /// runtime resets the rest of the VM context (after a run that called
    /// no helper, there is nothing else to reset).
    ///
    /// # Safety
    /// As [`TopRun::begin`], which was called first.
    unsafe fn run(&mut self, vm: *mut crate::VmCtx) -> Result<Returned, Self::Stop>;
}

/// A run of [`TopRun::run`] that returned. The count comes back here
/// rather than in the VM context: a repetition then works it out only for
/// the run it reports.
#[derive(Debug, Clone, Copy)]
pub struct Returned {
    pub r0: u64,
    /// The program whose frame exited (another after a tail call).
    pub last: ProgId,
    /// Instructions the run executed.
    pub insns: u64,
}

impl From<Box<Stop>> for Stop {
    fn from(stop: Box<Stop>) -> Stop {
        *stop
    }
}

/// An engine: loads programs into a runtime and runs them.
///
/// Both engines must produce the same [`RunResult`] (and leave the same
/// memory, maps and output behind) for the same program, runtime state and
/// context; the interpreter is the reference. Where the kernel leaves a
/// value unspecified, bpfx specifies one, and every engine keeps to it:
///
/// - at entry, `r1`..`r5` come from the context ([`Context`]), `r10` is the
///   top of frame 0, every other register is 0; stack memory is not cleared
///   between runs (a verified program never reads what it did not write);
/// - after a helper call `r1`..`r5` keep their values; a bpf-to-bpf callee
///   starts with the caller's registers (and `r10` of its own frame) and
///   `r6`..`r9` are restored when it returns; a callback starts with `r1`..`r5`
///   from the helper and the other registers 0;
/// - a tail call keeps the registers and frame, with `r0` = 0; when the
///   frame it was made in (below a run's entry frame) exits back to its
///   caller, `r1`..`r5` there are what they were at the frame's first
///   tail call, as after a helper call (the kernel's verifier refuses to
///   read them after any call): an engine then hands back only `r0`;
/// - the instruction budget is checked at every taken back-edge (a jump,
///   conditional or not, or a `may_goto`, whose target is the jump itself
///   or an earlier instruction), every bpf-to-bpf call, tail call and
///   callback entry: the first of these after the run has started more
///   instructions than its budget stops it, unexecuted, with
///   [`crate::Fault::BudgetExhausted`]. Forward jumps are not checked:
///   code without back-edges or calls cannot loop, so every run still
///   ends, and a program without loops pays for no check;
/// - [`RunResult::insns`] counts the instructions that completed.
pub trait Engine {
    /// A short name (`interp`, `jit`) for reports and test names.
    fn name(&self) -> &'static str;

    /// Checks and prepares `program`: binds its maps in `rt` (creating the
    /// ones not there yet), resolves its helpers, and gives it an id. An
    /// engine serves the runtime it first loaded into.
    fn load(&mut self, rt: &mut Runtime, program: &Program) -> Result<ProgId, LoadError>;

    /// [`Engine::load`] for a program bpfx's verifier accepted, with what it
    /// proved: an engine may drop the runtime checks `proven` makes
    /// redundant, and must give the same results as without them. Facts for
    /// another program are refused ([`LoadError::ProofMismatch`]). Engines
    /// that check everything anyway (the interpreter) ignore them.
    fn load_proven(&mut self, rt: &mut Runtime, program: &Program, proven: &Proven) -> Result<ProgId, LoadError> {
        if !proven.is_for(program) {
            return Err(LoadError::ProofMismatch);
        }
        self.load(rt, program)
    }

    /// Runs a program loaded by this engine on `ctx`.
    fn run(&self, rt: &mut Runtime, prog: ProgId, ctx: &mut Context) -> Result<RunResult, RunError> {
        self.run_counted(rt, prog, ctx, 1, &mut 0)
    }

    /// Runs a program `repeat` times (at least once) on `ctx`, as
    /// `BPF_PROG_TEST_RUN`'s `repeat` does: each run starts from the packet,
    /// context and maps the one before left, and the checks and set-up a
    /// run needs are made once for all of them ([`Runtime::run_repeated`]),
    /// so timing the call measures what the runs cost. A run that faults
    /// ends the repetition. Returns the last run's result and the number of
    /// runs made.
    fn run_repeated(
        &self,
        rt: &mut Runtime,
        prog: ProgId,
        ctx: &mut Context,
        repeat: u64,
    ) -> Result<(RunResult, u64), RunError> {
        let mut runs = 0;
        let result = self.run_counted(rt, prog, ctx, repeat, &mut runs)?;
        Ok((result, runs))
    }

    /// What [`Engine::run`] and [`Engine::run_repeated`] are made of (an
    /// engine implements this one, inlined into both: in `run`, the loop
    /// of a single run folds away): `runs` is set to the number of runs.
    fn run_counted(
        &self,
        rt: &mut Runtime,
        prog: ProgId,
        ctx: &mut Context,
        repeat: u64,
        runs: &mut u64,
    ) -> Result<RunResult, RunError>;

    /// Whether [`Engine::load_proven`] makes use of the verifier's facts
    /// (drops checks, inlines lookups): callers need not verify for an
    /// engine that checks everything anyway.
    fn uses_facts(&self) -> bool {
        false
    }

    /// Nanoseconds the last successful [`Engine::load`] spent compiling,
    /// for an engine that compiles (`--json`'s `"compile_ns"`).
    fn compile_ns(&self) -> Option<u64> {
        None
    }
}

/// Why a program cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("program has no instructions")]
    Empty,
    /// Verifier facts handed to [`Engine::load_proven`] were proved for
    /// another program.
    #[error("the verifier's facts were proved for another program (instructions, type or maps differ)")]
    ProofMismatch,
    /// A call to a helper id that has nothing registered.
    #[error("{} at insn {at}", unknown_helper(*id))]
    UnknownHelper { at: InsnIdx, id: HelperId },
    #[error("kernel function calls (kfunc btf id {btf_id}) are not supported at insn {at}")]
    Kfunc { at: InsnIdx, btf_id: u32 },
    /// `lddw` of a kernel variable by BTF id.
    #[error("lddw of a kernel btf id is not supported at insn {at}")]
    BtfId { at: InsnIdx },
    #[error("lddw names map {idx}, but the program has {count} maps, at insn {at}")]
    NoSuchMap { at: InsnIdx, idx: u32, count: usize },
    /// `lddw` of a map value on a map with no single directly addressable value.
    #[error("lddw of a value of map `{map}` ({map_type}), which has no direct value, at insn {at}")]
    NoDirectValue { at: InsnIdx, map: String, map_type: String },
    #[error("lddw of offset {off} in the value of map `{map}`, whose values are {value_size} bytes, at insn {at}")]
    ValueOffset { at: InsnIdx, map: String, off: u32, value_size: u32 },
    /// A jump, call or function reference outside the program, or into the
    /// middle of an `lddw`.
    #[error("{what} target {target} is outside the program or inside an lddw at insn {at}")]
    BadTarget { at: InsnIdx, what: &'static str, target: i64 },
    #[error(transparent)]
    CreateMap(#[from] CreateError),
    /// A map of the same name already exists in the runtime with another
    /// definition.
    #[error("map `{name}` already exists with a different definition")]
    MapConflict { name: String },
    #[error("program has {slots} slots, more than {max}")]
    TooLarge { slots: usize, max: usize },
    /// The engine already serves another runtime (program ids are per
    /// runtime).
    #[error("this engine serves another runtime; use one engine per runtime")]
    OtherRuntime,
    /// A compiling engine's code generator refused the translated program
    /// (an engine bug, or a limit of the code generator).
    #[error("code generation failed: {reason}")]
    Compile { reason: String },
    /// A map declares an initial slot naming a program (prog array) or map
    /// (map of maps) that is not loaded.
    #[error("slot {index} of map `{map}` names `{name}`, which is not loaded")]
    UnresolvedSlot { map: String, index: u32, name: String },
    /// A map refused one of its declared initial slots.
    #[error("cannot fill slot {index} of map `{map}`")]
    SlotUpdate {
        map: String,
        index: u32,
        #[source]
        source: crate::maps::MapError,
    },
}

/// The runtime an engine's programs belong to. Program ids, map handles
/// and the addresses an engine resolved at load are that runtime's, so an
/// engine serves one runtime and refuses every other: one piece of code
/// that both engines keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeBinding(Option<u64>);

impl RuntimeBinding {
    /// Checks `rt` before a load, binding the engine to it on the first.
    pub fn bind(&mut self, rt: &Runtime) -> Result<(), LoadError> {
        match self.0 {
            Some(id) if id != rt.id() => Err(LoadError::OtherRuntime),
            _ => {
                self.0 = Some(rt.id());
                Ok(())
            }
        }
    }

    /// Checks `rt` before a run of `prog`.
    pub fn check(&self, rt: &Runtime, prog: ProgId) -> Result<(), RunError> {
        match self.0 {
            Some(id) if id == rt.id() => Ok(()),
            Some(_) => Err(RunError::OtherRuntime),
            None => Err(RunError::UnknownProgram(prog)),
        }
    }
}

fn unknown_helper(id: HelperId) -> String {
    match id.name() {
        Some(name) => format!("helper {} (bpf_{name}) is not provided by bpfx", id.0),
        None => format!("unknown helper {}", id.0),
    }
}

/// Why a run could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("program {0} is not loaded in this engine")]
    UnknownProgram(ProgId),
    #[error("this engine serves another runtime; use one engine per runtime")]
    OtherRuntime,
    /// A program loaded with the verifier's facts about its packet context
    /// run on another kind of context, where those facts do not hold.
    #[error("program {prog} was proved for a {expected:?} context, not the {given:?} context it was given")]
    WrongContext { prog: ProgId, expected: crate::ContextKind, given: crate::ContextKind },
}
