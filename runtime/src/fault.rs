//! How a run ends: [`Exit`], and the [`Fault`] values both engines produce.
//!
//! Faults are values, compared with `==` by differential tests; their text
//! is for people. Every fault an engine reports is one of these, with the
//! instruction it happened at, so the interpreter and the JIT can be held to
//! the very same outcome.

use std::fmt;

use bpfx_isa::{HelperId, InsnIdx};

use crate::region::RegionKind;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The program returned this `r0`.
    Return(u64),
    /// The program stopped on a fault at instruction slot `at` (of the
    /// program running at the time: after a tail call, the callee).
    Fault { at: InsnIdx, fault: Fault },
}

impl Exit {
    /// The returned `r0`, if the run did not fault.
    pub fn r0(&self) -> Option<u64> {
        match self {
            Exit::Return(r0) => Some(*r0),
            Exit::Fault { .. } => None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Return(r0) => write!(f, "returned {r0:#x}"),
            Exit::Fault { at, fault } => write!(f, "{fault} at insn {at}"),
        }
    }
}

/// Who touched memory, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// A load instruction.
    Load,
    /// A store instruction.
    Store,
    /// An atomic read-modify-write instruction.
    Atomic,
    /// A helper reading an argument's memory.
    HelperRead(HelperId),
    /// A helper writing into an argument's memory.
    HelperWrite(HelperId),
}

impl AccessKind {
    /// Whether the access writes (and so needs a writable region).
    pub const fn writes(self) -> bool {
        matches!(self, AccessKind::Store | AccessKind::Atomic | AccessKind::HelperWrite(_))
    }
}

/// One memory access: what, and how many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access {
    pub kind: AccessKind,
    pub size: u64,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.size == 1 { "" } else { "s" };
        match self.kind {
            AccessKind::Load => write!(f, "load of {} byte{plural}", self.size),
            AccessKind::Store => write!(f, "store of {} byte{plural}", self.size),
            AccessKind::Atomic => write!(f, "atomic access of {} byte{plural}", self.size),
            AccessKind::HelperRead(id) => write!(f, "read of {} byte{plural} by {}", self.size, helper_display(id)),
            AccessKind::HelperWrite(id) => write!(f, "write of {} byte{plural} by {}", self.size, helper_display(id)),
        }
    }
}

/// The region an address was nearest to, and where in it the address fell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nearest {
    pub kind: RegionKind,
    /// The address relative to the region's reference point: its first byte,
    /// except for the stack, where it is the current frame pointer (`r10`),
    /// so offsets read as they are written (`-520`).
    pub offset: i64,
    /// The region's size in bytes.
    pub len: u64,
}

impl fmt::Display for Nearest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RegionKind::Stack => write!(f, "stack at r10{:+}", self.offset),
            kind => write!(f, "{kind} at offset {} of {}", self.offset, self.len),
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// An access outside every region the program may touch (or running
    /// past the end of the one it was nearest).
    #[error("out-of-bounds {access} at {addr:#x}{}", nearest_suffix(nearest))]
    OutOfBounds { access: Access, addr: u64, nearest: Option<Nearest> },
    /// A write into a region the program may only read.
    #[error("{access} at {addr:#x} into read-only {region}")]
    ReadOnly { access: Access, addr: u64, region: Nearest },
    /// The run executed its whole instruction budget.
    #[error("instruction budget of {budget} exhausted")]
    BudgetExhausted { budget: u64 },
    /// A `callx` named a helper id with nothing registered for it.
    #[error("call to unknown helper {id}{}", name_suffix(*id))]
    UnknownHelper { id: u64 },
    /// libbpf's poisoned call ([`HelperId::CORE_POISON`]) was reached: the
    /// instruction it replaced had a CO-RE relocation with no target in the
    /// kernel's BTF. The kernel's verifier rejects such a program; bpfx
    /// loads it (the call is usually dead code behind a
    /// `bpf_core_field_exists` guard) and stops here if it runs.
    #[error("reached an instruction whose CO-RE relocation failed (libbpf's poisoned call {:#x})", HelperId::CORE_POISON.0)]
    CoreRelocation,
    /// A bpf-to-bpf call past the kernel's limit of eight frames.
    #[error("call depth exceeds {max} frames")]
    CallDepth { max: u32 },
    /// Execution ran past the program's last instruction.
    #[error("fell off the end of the program")]
    FellOffEnd,
    /// A helper refused an argument no verified program could pass (a map
    /// handle that is not one, a pointer of the wrong kind).
    #[error("{}: {reason}", helper_display(*helper))]
    BadHelperArg { helper: HelperId, reason: String },
    /// A helper (a user-registered one) panicked; the panic was caught.
    #[error("{} panicked: {message}", helper_display(*helper))]
    HelperPanicked { helper: HelperId, message: String },
    /// A helper was given a callback that is not a function of a program
    /// loaded in the engine.
    #[error("callback {target:#x} is not a function of a loaded program")]
    BadCallback { target: u64 },
    /// A legacy packet load (`ld_abs`/`ld_ind`) in a program whose context
    /// has no packet.
    #[error("legacy packet load without a packet")]
    NoPacket,
}

fn nearest_suffix(nearest: &Option<Nearest>) -> String {
    match nearest {
        Some(n) => format!(" (nearest: {n})"),
        None => " (no region)".to_string(),
    }
}

fn name_suffix(id: u64) -> String {
    u32::try_from(id).ok().and_then(|id| HelperId(id).name()).map(|n| format!(" (bpf_{n})")).unwrap_or_default()
}

/// `helper 1 (bpf_map_lookup_elem)`.
pub(crate) fn helper_display(id: HelperId) -> String {
    match id.name() {
        Some(name) => format!("helper {} (bpf_{name})", id.0),
        None => format!("helper {}", id.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_as_sentences() {
        let f = Fault::OutOfBounds {
            access: Access { kind: AccessKind::Load, size: 4 },
            addr: 0x1000,
            nearest: Some(Nearest { kind: RegionKind::Packet, offset: 62, len: 64 }),
        };
        assert_eq!(f.to_string(), "out-of-bounds load of 4 bytes at 0x1000 (nearest: packet at offset 62 of 64)");
        let exit = Exit::Fault { at: InsnIdx(7), fault: f };
        assert!(exit.to_string().ends_with("at insn 7"));
        let stack = Nearest { kind: RegionKind::Stack, offset: -520, len: 512 };
        assert_eq!(stack.to_string(), "stack at r10-520");
        let f = Fault::UnknownHelper { id: 1 };
        assert_eq!(f.to_string(), "call to unknown helper 1 (bpf_map_lookup_elem)");
        let a = Access { kind: AccessKind::HelperRead(HelperId(1)), size: 1 };
        assert_eq!(a.to_string(), "read of 1 byte by helper 1 (bpf_map_lookup_elem)");
    }
}
