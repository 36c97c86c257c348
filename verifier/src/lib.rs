//! `bpfx-verifier`: the kernel's safety rules for eBPF programs, checked
//! offline by abstract interpretation, with diagnostics a person can act on.
//!
//! What it is: [`verify`] takes an [`bpfx_isa::Program`] and returns a
//! [`Report`] — a verdict, the diagnostic that explains a rejection (the
//! instruction, its disassembly, the source line when the program has line
//! info, the register and stack state, the branch decisions that led
//! there, a stable [`Code`] and a sentence with the likely fix) and
//! statistics like the kernel's (`processed`, total and peak states, time).
//! It follows Linux 6.12's verifier: the control-flow checks first, then
//! every path with scalar ranges and known bits ([`scalar::Scalar`]),
//! typed pointers (context, stack, packet with proven ranges, map values
//! with null checks, ring buffer records), per-slot stack tracking with
//! spills, helper prototypes and context rules from `bpfx_isa::abi`,
//! bpf-to-bpf calls, global functions (each verified once, alone, from its
//! BTF prototype: integers, enums, the context and nullable pointers to
//! sized memory; call sites checked against the prototype), callbacks of
//! `bpf_loop` and `bpf_for_each_map_elem` (verified round after round from
//! the helper's call until the state there repeats, changing numbers
//! widened), state pruning
//! and the 1,000,000-instruction budget, LSM return values by hook. With
//! `Options { privileged: false }` it applies what the kernel asks of a
//! loader without capabilities: the program types, helpers and context
//! fields it may use, no calls or loops, no pointer leaks or comparisons,
//! initialised stack, and the Spectre v1 rules on pointer arithmetic.
//!
//! For an accepted program the report also carries what was proved, in the
//! form engines consume ([`Report::proven`], a [`bpfx_isa::Proven`]): the
//! loads, stores and atomics that stay inside their region on every path,
//! and the map each map helper call receives on every path. An engine
//! drops the run-time checks of those accesses, as the kernel's JIT does,
//! so an access is marked only where bpfx's runtime lays the region out at
//! least as the verifier bounded it: the stack; the context, packet and
//! packet metadata of the program types whose context the runtime converts
//! (XDP, tc, socket filters, cgroup_skb); values of arrays, hashes
//! (per-CPU, LRU) and LPM tries; ring buffer records. Left out, always
//! checked: the context of other program types (a raw `--mem` buffer of
//! unknown size), map keys handed to callbacks (helper scratch), memory a
//! global function receives, values of other map types, the legacy packet
//! loads. The facts also name the accesses made through the context
//! pointer, so that they carry over to the runtime's converted program only
//! when the conversion rewrote exactly those (`Proven::carried_to`).
//!
//! What it is not: it executes nothing (no engine is a dependency) and
//! makes no syscalls; the kernel's verdict is asked by the tests, through
//! `bpfx_loader::kernel`, for a loader with and without capabilities. Not
//! modelled yet (reported as [`Code::Unsupported`], never as accepted):
//! kfuncs, callbacks of other helpers (timers, `bpf_find_vma`),
//! BTF-typed pointers, global functions
//! with `arg:` tags or struct pointers in program types whose context
//! struct bpfx does not know, lookups returning sockets or maps (sockmap,
//! sockhash, xskmap, maps of maps), `BPF_F_STRICT_ALIGNMENT`, helpers
//! without a prototype row in `bpfx_isa::abi`.

mod cfg;
mod check;
mod lsm;
mod proof;
mod report;
pub mod scalar;
mod state;
pub mod tnum;

pub use report::{Branch, Code, Diagnostic, Report, SourceLine, Stats, Verdict};

use bpfx_isa::Program;

/// How to judge a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Judge as the kernel does for a fully privileged loader (CAP_BPF,
    /// CAP_PERFMON, CAP_SYS_ADMIN); `false` applies the unprivileged rules.
    pub privileged: bool,
    /// The processed-instruction budget (the kernel's 1,000,000).
    pub max_processed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { privileged: true, max_processed: 1_000_000 }
    }
}

/// Verifies `prog`, exploring every path as the kernel's verifier does.
pub fn verify(prog: &Program, opts: &Options) -> Report {
    check::verify(prog, opts)
}
