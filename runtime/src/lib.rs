//! `bpfx-runtime`: the contract between bpfx's engines.
//!
//! What it is: everything the interpreter and the JIT must agree on — the
//! memory regions a program may touch ([`region`]), the `#[repr(C)]` VM
//! context compiled code reads ([`vmctx`]), maps with the kernel's
//! semantics ([`maps`]), helpers by the kernel's ids behind one table of
//! `extern "C"` functions ([`helpers`]), program contexts ([`context`]),
//! faults ([`Fault`], [`Exit`]) and the [`Engine`] trait.
//!
//! What it is not: an engine. It never executes instructions (a helper
//! that calls back into the program goes through the engine's callback
//! entry), and it never makes a syscall (the kernel path lives in
//! `bpfx-loader`).

pub mod buffer;
pub mod code;
pub mod config;
pub mod context;
mod engine;
mod fault;
pub mod helpers;
pub mod maps;
pub mod region;
pub mod replay;
mod runtime;
pub mod vmctx;

pub use config::{Clock, Config, DEFAULT_INSN_BUDGET, ProbeMemory, Task};
pub use context::{Context, ContextKind, Packet, Refused, SkbFields};
pub use engine::{Engine, LoadError, ProgId, Returned, RunError, RunResult, RuntimeBinding, Stop, TopRun};
pub use fault::{Access, AccessKind, Exit, Fault, Nearest};
pub use region::{FRAME_SIZE, MAX_FRAMES, MapId, Region, RegionKind};
pub use runtime::{Linked, MAP_HANDLE_BASE, ProgInfo, Redirect, Runtime};
pub use vmctx::{CallbackFn, HelperFn, MapSlot, VmCtx};
