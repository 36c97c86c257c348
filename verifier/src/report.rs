//! What verification returns: a verdict, the diagnostics that explain a
//! rejection, and statistics like the kernel's `BPF_LOG_STATS`.

use std::fmt;
use std::time::Duration;

use bpfx_isa::{InsnIdx, Proven};

/// The verdict on a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected,
}

macro_rules! codes {
    ($($(#[$m:meta])* $variant:ident = $text:literal,)*) => {
        /// A diagnostic's stable code: scripts and CI match on these, so a
        /// code is never renamed or reused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$m])* $variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as text (`pkt-bounds`).
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }
        }
    };
}

codes! {
    /// A jump out of its function, into an `lddw`, or a fall-through.
    Cfg = "cfg",
    Unreachable = "unreachable",
    /// An instruction bpfx or the kernel does not accept in a program.
    BadInsn = "bad-insn",
    /// A register read before it was written.
    UninitReg = "uninit-reg",
    /// A write to r10.
    FramePointer = "frame-pointer",
    /// Arithmetic the kernel forbids on a pointer.
    PtrArith = "ptr-arith",
    /// Memory access through something that is not a pointer to memory.
    BadDeref = "bad-deref",
    /// A pointer that may be null used before a null check.
    NullDeref = "null-deref",
    /// A packet access not proven below `data_end`.
    PktBounds = "pkt-bounds",
    /// A map value access outside the value.
    MapBounds = "map-bounds",
    /// A memory access outside the memory a helper returned.
    MemBounds = "mem-bounds",
    /// A stack access outside the frame, misaligned, or of uninitialised bytes.
    StackAccess = "stack-access",
    /// A pointer spilled or filled by part.
    SpillSize = "spill-size",
    /// A context field the program type may not access this way.
    CtxAccess = "ctx-access",
    /// One memory instruction reached with the context (or a socket) on one
    /// path and another kind of pointer on another.
    MixedPointers = "mixed-pointers",
    /// A packet write where the program type may only read.
    PktWrite = "pkt-write",
    /// An offset from a variable that is not bounded.
    Unbounded = "unbounded",
    /// An unknown helper, or one this program type may not call.
    HelperUnavailable = "helper-unavailable",
    GplOnly = "gpl-only",
    /// A helper argument of the wrong kind or size.
    HelperArg = "helper-arg",
    /// A call to a global function whose arguments its BTF prototype does
    /// not allow, or a prototype the kernel refuses.
    FuncArg = "func-arg",
    /// A map passed to a helper that does not work on its type.
    MapHelper = "map-helper",
    /// A map reference to a map the program does not have.
    BadMap = "bad-map",
    DivByZero = "div-by-zero",
    BadShift = "bad-shift",
    /// A return value outside what the program type allows.
    ReturnRange = "return-range",
    /// A stack pointer returned to the caller.
    ReturnStack = "return-stack",
    /// A reserved ring buffer record neither submitted nor discarded.
    RefLeak = "ref-leak",
    /// A loop the analysis shows never ends.
    InfiniteLoop = "infinite-loop",
    /// The 1,000,000 processed instruction budget, or too many pending branches.
    TooComplex = "too-complex",
    /// Calls nested too deeply, or frames using more than 512 bytes of stack.
    CallDepth = "call-depth",
    /// What only a loader with CAP_BPF may do: other program types, calls to
    /// other functions, loops.
    Privileged = "privileged",
    /// An attach target the kernel refuses (a disabled LSM hook).
    AttachTarget = "attach-target",
    /// A construct bpfx does not model yet (the kernel may accept it).
    Unsupported = "unsupported",
}

/// A source position from the program's line info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub text: String,
}

/// A conditional jump on the path to a diagnostic, and which way it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    pub at: InsnIdx,
    pub taken: bool,
}

/// Why a program was rejected, where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub at: InsnIdx,
    /// The instruction's disassembly.
    pub insn: String,
    pub source: Option<SourceLine>,
    /// What is wrong, in the kernel's terms (`invalid access to packet, off=34 size=4, R2 r=14`).
    pub message: String,
    /// One sentence with the likely fix.
    pub help: String,
    /// Registers and stack of the current frame at the instruction.
    pub state: String,
    /// The conditional jumps that led here, oldest first (at most the last 32).
    pub branches: Vec<Branch>,
}

/// Verification statistics, like the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Instructions interpreted, over all paths.
    pub processed: u64,
    /// States recorded for pruning.
    pub total_states: u64,
    /// The most states recorded at once.
    pub peak_states: u64,
    /// Paths cut short because a recorded state covered them.
    pub pruned: u64,
    /// Stack bytes of the deepest call chain.
    pub stack_depth: u32,
    pub time: Duration,
}

/// The result of verifying one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub program: String,
    pub verdict: Verdict,
    /// Empty when accepted; the first error when rejected (like the kernel,
    /// verification stops there).
    pub diagnostics: Vec<Diagnostic>,
    pub stats: Stats,
    /// What was proved, for the engines: `Some` exactly when accepted (see
    /// the crate documentation for what it holds and leaves out).
    pub proven: Option<Proven>,
}

impl Report {
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accepted
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error[{}]: {}", self.code.as_str(), self.message)?;
        match &self.source {
            Some(src) => {
                writeln!(f, "  --> {}:{}:{} (insn {}: {})", src.file, src.line, src.column, self.at, self.insn)?
            }
            None => writeln!(f, "  --> insn {}: {}", self.at, self.insn)?,
        }
        if let Some(src) = &self.source
            && !src.text.trim().is_empty()
        {
            writeln!(f, "   | {}", src.text.trim_end())?;
        }
        if !self.state.is_empty() {
            writeln!(f, "  state: {}", self.state)?;
        }
        if !self.branches.is_empty() {
            let path: Vec<String> = self
                .branches
                .iter()
                .map(|b| format!("{}:{}", b.at, if b.taken { "taken" } else { "not taken" }))
                .collect();
            writeln!(f, "  path: {}", path.join(" -> "))?;
        }
        write!(f, "  help: {}", self.help)
    }
}
