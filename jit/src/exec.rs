//! Running compiled code: the state a compiled function runs on, and the
//! cold Rust functions it calls to record faults, make tail calls and take
//! callbacks — each mirroring what the interpreter does at the same point.

use bpfx_isa::{AtomicOp, HelperId, InsnIdx};
use bpfx_runtime::region::{self, MAX_FRAMES};
use bpfx_runtime::vmctx::status;
use bpfx_runtime::{Access, AccessKind, Fault, ProgId, Region, Returned, Stop, TopRun, VmCtx};

use crate::Jit;
use crate::compile::Compiled;
use bpfx_runtime::code::code_addr_parts;

/// The kernel's `BPF_MAX_LOOPS`: `may_goto` jumps once a run has passed it
/// this many times (the interpreter's count, per nested run).
pub(crate) const BPF_MAX_LOOPS: u64 = 8 * 1024 * 1024;

/// What a compiled function returns.
pub(crate) mod code {
    /// The entry frame exited; `r0` is in [`super::ExecState::out`].
    pub const RETURN: u32 = 0;
    /// A fault, recorded in [`super::ExecState::stop`].
    pub const FAULT: u32 = 1;
    /// A legacy packet load out of bounds ended the whole run with 0 (as
    /// the kernel does), whatever the frame.
    pub const ABORT: u32 = 2;
}

/// A compiled program, given the state it starts from and leaves. (The VM
/// context is a constant in its code: the runtime's, whose address is
/// fixed for its life.)
pub(crate) type CompiledFn = unsafe extern "C" fn(st: *mut ExecState) -> Exited;

/// What a compiled function returns, in two registers: what it did (a
/// [`code`]), and the instructions it started (not set after
/// [`code::FAULT`], whose stop holds the count). In a register rather than
/// the state, a run does not load the count back.
#[repr(C)]
pub(crate) struct Exited {
    pub code: u32,
    pub used: i64,
}

/// The state of one nested run (the program's entry, a callback or a tail
/// call), shared with compiled code at the offsets in [`offsets`].
#[repr(C)]
pub(crate) struct ExecState {
    /// `r0`..`r10` at entry (`r0` always 0, and compiled code does not
    /// read it; `r10` the top of frame `depth`, set by whoever starts the
    /// function, so compiled code reads it rather than working it out).
    /// Compiled code never writes them, so a state reruns from them.
    pub regs: [u64; 11],
    /// Out: `r0` when the entry frame exits. For a tail call, `r0`..`r9`
    /// handed to the callee, and `r1`..`r5` as the caller's frame goes on
    /// with them. During a run, also where a helper call parks the
    /// arguments read after it.
    pub out: [u64; 10],
    /// Instructions the run had executed when this function started (0
    /// for a run's entry).
    pub counted: i64,
    /// Instructions the function may start before the budget stops it:
    /// the run's budget (clamped to `i64::MAX`) minus `counted`.
    pub limit: i64,
    /// `may_goto` passes left before it jumps.
    pub loops: u64,
    /// The frame depth the entry runs in; for a tail call, the caller's.
    /// Compiled code only reads it.
    pub depth: u32,
    /// Which of the program's entry points to start at.
    pub entry: u32,
    /// The program that runs, and out, the program whose frame exited
    /// (another after a tail call: code that may make one writes it at
    /// every exit, and other code leaves it as it came).
    pub last: u32,
    /// Boxed: a run that returns never touches it, and the state (built on
    /// every run) stays small.
    pub stop: Option<Box<Stop>>,
}

/// Byte offsets of [`ExecState`]'s fields compiled code uses.
pub(crate) mod offsets {
    pub const REGS: i32 = 0;
    pub const OUT: i32 = 88;
    pub const COUNTED: i32 = 168;
    pub const LIMIT: i32 = 176;
    pub const LOOPS: i32 = 184;
    pub const DEPTH: i32 = 192;
    pub const ENTRY: i32 = 196;
    pub const LAST: i32 = 200;
}

/// Kinds of fault [`raise`] records.
pub(crate) mod kind {
    pub const BUDGET: i64 = 0;
    pub const FELL_OFF: i64 = 1;
    pub const CALL_DEPTH: i64 = 2;
    pub const UNKNOWN_HELPER: i64 = 3;
    pub const NO_PACKET: i64 = 4;
    /// A helper returned with `status` FAULT.
    pub const HELPER: i64 = 5;
}

/// A fault site as compiled code passes it: the program in the high half,
/// the instruction's slot in the low.
pub(crate) fn site(prog: ProgId, at: InsnIdx) -> i64 {
    (i64::from(prog.0) << 32) | i64::from(at.0)
}

fn unsite(site: i64) -> (ProgId, InsnIdx) {
    (ProgId((site as u64 >> 32) as u32), InsnIdx(site as u32))
}

/// Runs `code` from its entry `st.entry` with `st`; returns what the code
/// did.
///
/// # Safety
/// A run must be in progress on the runtime `code` was loaded into (whose
/// VM context the code uses), its stack region holding frames
/// `0..=st.depth` (compiled code does not set it at entry).
#[inline(always)]
unsafe fn call(code: &Compiled, st: &mut ExecState) -> Exited {
    // SAFETY: the compiled function reads and writes only the VM context,
    // `st`, the run's memory through checked accesses, and the program's
    // hints.
    unsafe { (code.func)(st) }
}

/// A program's run from its start in frame 0, as the runtime's run
/// protocol makes it ([`Runtime::run_repeated`]).
///
/// [`Runtime::run_repeated`]: bpfx_runtime::Runtime::run_repeated
pub(crate) struct Top<'a> {
    code: &'a Compiled,
    /// Kept from run to run: compiled code leaves the entry registers, the
    /// count it starts from, its limit and the depth as they were, so a
    /// run resets only the `may_goto` count. (`entry` is 0 throughout,
    /// `r0` in `out` is written at every exit, `last` at every exit of
    /// code that may have changed it by a tail call, and a run that
    /// faults, which takes `stop`, is the last.)
    st: ExecState,
}

impl<'a> Top<'a> {
    pub(crate) fn new(code: &'a Compiled, prog: ProgId) -> Top<'a> {
        let st = ExecState {
            regs: [0; 11],
            out: [0; 10],
            counted: 0,
            limit: 0,
            loops: 0,
            depth: 0,
            entry: 0,
            last: prog.0,
            stop: None,
        };
        Top { code, st }
    }
}

impl TopRun for Top<'_> {
    type Stop = Box<Stop>;

    #[inline(always)]
    unsafe fn begin(&mut self, vm: *mut VmCtx, args: [u64; 5]) {
        // SAFETY: as the trait's contract.
        let (budget, r10) = unsafe { ((*vm).insn_budget, (*vm).frame_top(0)) };
        self.st.regs[1..6].copy_from_slice(&args);
        self.st.regs[10] = r10;
        self.st.limit = budget.min(i64::MAX as u64) as i64;
    }

    #[inline(always)]
    unsafe fn run(&mut self, vm: *mut VmCtx) -> Result<Returned, Box<Stop>> {
        let st = &mut self.st;
        st.loops = BPF_MAX_LOOPS;
        // SAFETY: as the trait's contract, which is `call`'s for frame 0:
        // the stack region is at frame 0 when the runs begin, and every
        // run but an aborted one returns from frame 0.
        unsafe {
            let exited = call(self.code, st);
            if exited.code != code::RETURN
                && let Some(stop) = stopped(vm, exited.code, st)
            {
                return Err(stop);
            }
            finish(exited, st)
        }
    }
}

/// [`Top`]'s run after a fault (its stop) or an abort (which returns),
/// out of the way of the runs that return.
///
/// # Safety
/// `vm` must be a live context.
#[cold]
#[inline(never)]
unsafe fn stopped(vm: *mut VmCtx, code: u32, st: &mut ExecState) -> Option<Box<Stop>> {
    if code == code::ABORT {
        // SAFETY: as the function's contract.
        unsafe { (*vm).set_frames(0) };
        return None;
    }
    Some(st.stop.take().expect("a faulting run records its stop"))
}

/// The outcome of a nested run (a fault recorded its count).
#[inline(always)]
fn finish(exited: Exited, st: &mut ExecState) -> Result<Returned, Box<Stop>> {
    match exited.code {
        code::FAULT => Err(st.stop.take().expect("a faulting run records its stop")),
        _ => Ok(Returned { r0: st.out[0], last: ProgId(st.last), insns: (st.counted + exited.used) as u64 }),
    }
}

/// Records a stop and sets the instruction count the interpreter reports
/// for it (the stopping instruction not counted).
///
/// # Safety
/// `vm` and `st` must be the live context and state.
unsafe fn stop(vm: *mut VmCtx, st: *mut ExecState, site: i64, used: i64, fault: Fault) -> u32 {
    let (prog, at) = unsite(site);
    // SAFETY: as the function's contract.
    unsafe {
        (*vm).insn_count = ((*st).counted + used - 1) as u64;
        (*st).stop = Some(Box::new(Stop { at, fault, prog }));
    }
    code::FAULT
}

/// The slow half of an inline region check: finds the region holding the
/// access (and records it as the instruction's hint), or records the fault.
/// `packed` is the size in bits 0..8 and the kind (0 load, 1 store, 2
/// atomic) above.
///
/// # Safety
/// `vm` and `st` must be the live context and state, `hint` the access's
/// hint byte.
pub(crate) unsafe extern "C" fn access_slow(
    st: *mut ExecState,
    vm: *mut VmCtx,
    addr: u64,
    packed: u64,
    hint: *mut u8,
    site: i64,
    used: i64,
) -> u32 {
    // SAFETY: as the function's contract; the region table is the run's.
    unsafe {
        let regions: &[Region] = std::slice::from_raw_parts((*vm).regions, (*vm).region_count as usize);
        let size = packed & 0xff;
        let kind = match packed >> 8 {
            0 => AccessKind::Load,
            1 => AccessKind::Store,
            _ => AccessKind::Atomic,
        };
        let found = regions.iter().position(|r| r.contains(addr, size));
        if let Some(i) = found
            && (!kind.writes() || regions[i].writable != 0)
        {
            *hint = i as u8;
            return 0;
        }
        let fault = match region::check(regions, addr, Access { kind, size }) {
            Err(fault) => fault,
            Ok(()) => region::violation(regions, addr, Access { kind, size }),
        };
        stop(vm, st, site, used, fault)
    }
}

/// Records a fault of kind `kind` (see [`kind`]) at `site`; `a` is the
/// helper id of an unknown-helper fault.
///
/// The state comes first, as in every function compiled code calls with
/// it: compiled code gets it in the first argument's register, and a call
/// that wanted that register for something else would have the register
/// allocator move the state out of it, and back, around a loop whose
/// budget check may call here.
///
/// # Safety
/// `vm` and `st` must be the live context and state.
pub(crate) unsafe extern "C" fn raise(
    st: *mut ExecState,
    vm: *mut VmCtx,
    kind: i64,
    site: i64,
    a: u64,
    used: i64,
) -> u32 {
    // SAFETY: as the function's contract.
    unsafe {
        let fault = match kind {
            kind::BUDGET => Fault::BudgetExhausted { budget: (*vm).insn_budget },
            kind::FELL_OFF => Fault::FellOffEnd,
            kind::CALL_DEPTH => Fault::CallDepth { max: MAX_FRAMES },
            kind::UNKNOWN_HELPER => Fault::UnknownHelper { id: a },
            kind::NO_PACKET => Fault::NoPacket,
            _ => {
                let (prog, at) = unsite(site);
                (*vm).status = status::RUNNING;
                let fault = (*vm).fault.take().unwrap_or(Fault::BadHelperArg {
                    helper: HelperId(a as u32),
                    reason: "helper faulted without saying why".into(),
                });
                let at = match (*vm).fault_at {
                    u32::MAX => at,
                    at => InsnIdx(at),
                };
                (*vm).fault_at = u32::MAX;
                (*vm).insn_count = (*vm).insn_count.saturating_sub(1);
                (*st).stop = Some(Box::new(Stop { at, fault, prog }));
                return code::FAULT;
            }
        };
        stop(vm, st, site, used, fault)
    }
}

/// Makes the tail call a helper asked for: runs the target program from its
/// start in the caller's frame `depth`, with the registers compiled code
/// stored in `st`'s `out` (`r0` zeroed). On [`code::RETURN`] `st` holds the
/// callee's `r0` in `out` (where `r1`..`r5` stay as the caller stored them:
/// a frame below goes on with them, see [`bpfx_runtime::Engine`]) and its
/// loop count, and the caller goes on with the count returned (its own
/// `used` plus the callee's), as if its frame exited.
///
/// # Safety
/// `vm` and `st` must be the live context and state of a run of this JIT.
pub(crate) unsafe extern "C" fn tail_call(
    st: *mut ExecState,
    vm: *mut VmCtx,
    site: i64,
    used: i64,
    helper: u64,
    depth: u64,
) -> Exited {
    // SAFETY: as the function's contract; `callback_env` is the JIT, which
    // outlives the run.
    unsafe {
        (*vm).status = status::RUNNING;
        let jit = &*((*vm).callback_env as *const Jit);
        let target = ProgId((*vm).tail_call_target);
        let fault = |fault| Exited { code: stop(vm, st, site, used, fault), used };
        let Some(next) = jit.code(target) else {
            let reason = format!("tail call target program {target} is not loaded in this engine");
            return fault(Fault::BadHelperArg { helper: HelperId(helper as u32), reason });
        };
        if used > (*st).limit {
            return fault(Fault::BudgetExhausted { budget: (*vm).insn_budget });
        }
        let s = &mut *st;
        let mut inner = ExecState {
            regs: with_r10(s.out, (*vm).frame_top(depth as u32)),
            out: [0; 10],
            counted: s.counted + used,
            limit: s.limit - used,
            loops: s.loops,
            depth: depth as u32,
            entry: 0,
            last: target.0,
            stop: None,
        };
        let exited = call(next, &mut inner);
        s.out[0] = inner.out[0];
        s.loops = inner.loops;
        s.last = inner.last;
        s.stop = inner.stop;
        Exited { code: exited.code, used: used + exited.used }
    }
}

/// The JIT's entry for helpers that call back into the program: runs the
/// subprogram `target` names in a new frame below the current one.
///
/// # Safety
/// `vm` must be the live context of a run of this JIT (its `callback_env`
/// the JIT).
pub(crate) unsafe extern "C" fn callback_entry(
    vm: *mut VmCtx,
    target: u64,
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
) -> u64 {
    // SAFETY: `run` set `callback_env` to the JIT, which outlives the run,
    // and `vm` is the live context.
    unsafe {
        let jit = &*((*vm).callback_env as *const Jit);
        let found = code_addr_parts(target).and_then(|(prog, op)| {
            let code = jit.code(ProgId(prog))?;
            Some((code, code.entry_of(op)?))
        });
        let Some((code, (entry, at))) = found else { return (*vm).raise(Fault::BadCallback { target }, None) };
        let depth = match (*vm).callback_frame() {
            Ok(depth) => depth,
            Err(r0) => return r0,
        };
        let budget = (*vm).insn_budget.min(i64::MAX as u64) as i64;
        let counted = (*vm).insn_count as i64;
        let limit = budget.saturating_sub(counted);
        // The budget is checked at a callback's entry, before its first
        // instruction (compiled code does not check at entry points).
        if limit < 0 {
            return (*vm).raise(Fault::BudgetExhausted { budget: (*vm).insn_budget }, Some(at));
        }
        let st = ExecState {
            regs: [0, r1, r2, r3, r4, r5, 0, 0, 0, 0, (*vm).frame_top(depth)],
            out: [0; 10],
            counted,
            limit,
            loops: BPF_MAX_LOOPS,
            depth,
            entry,
            last: 0,
            stop: None,
        };
        let mut st = st;
        (*vm).set_frames(depth);
        let exited = call(code, &mut st);
        (*vm).set_frames(depth - 1);
        match finish(exited, &mut st) {
            Ok(returned) => {
                (*vm).insn_count = returned.insns;
                returned.r0
            }
            Err(stop) => (*vm).raise(stop.fault, Some(stop.at)),
        }
    }
}

/// `r0`..`r9`, then `r10`.
fn with_r10(regs: [u64; 10], r10: u64) -> [u64; 11] {
    std::array::from_fn(|r| regs.get(r).copied().unwrap_or(r10))
}

/// An atomic operation at an address that is not aligned to its size,
/// which the host's atomic instructions may refuse: done as the interpreter
/// does it (runs are single-threaded). Returns the old value (zero-extended
/// for 32 bits); compiled code updates the registers.
///
/// # Safety
/// `addr` must have passed the region check for a write of the width.
pub(crate) unsafe extern "C" fn atomic_unaligned(addr: u64, op: u64, wide: u64, src: u64, r0: u64) -> u64 {
    let op = AtomicOp::ALL[op as usize % AtomicOp::ALL.len()];
    let wide = wide != 0;
    // SAFETY: the caller checked `addr` against a writable region.
    let old = unsafe {
        if wide { (addr as *const u64).read_unaligned() } else { u64::from((addr as *const u32).read_unaligned()) }
    };
    let new = match op {
        AtomicOp::Add | AtomicOp::FetchAdd => Some(old.wrapping_add(src)),
        AtomicOp::Or | AtomicOp::FetchOr => Some(old | src),
        AtomicOp::And | AtomicOp::FetchAnd => Some(old & src),
        AtomicOp::Xor | AtomicOp::FetchXor => Some(old ^ src),
        AtomicOp::Xchg => Some(src),
        AtomicOp::CmpXchg => {
            let expected = if wide { r0 } else { u64::from(r0 as u32) };
            (old == expected).then_some(src)
        }
    };
    if let Some(new) = new {
        // SAFETY: as above.
        unsafe {
            if wide {
                (addr as *mut u64).write_unaligned(new);
            } else {
                (addr as *mut u32).write_unaligned(new as u32);
            }
        }
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn offsets_match_the_layout() {
        assert_eq!(offsets::REGS as usize, offset_of!(ExecState, regs));
        assert_eq!(offsets::OUT as usize, offset_of!(ExecState, out));
        assert_eq!(offsets::COUNTED as usize, offset_of!(ExecState, counted));
        assert_eq!(offsets::LIMIT as usize, offset_of!(ExecState, limit));
        assert_eq!(offsets::LOOPS as usize, offset_of!(ExecState, loops));
        assert_eq!(offsets::DEPTH as usize, offset_of!(ExecState, depth));
        assert_eq!(offsets::ENTRY as usize, offset_of!(ExecState, entry));
        assert_eq!(offsets::LAST as usize, offset_of!(ExecState, last));
    }

    #[test]
    fn sites_round_trip() {
        let s = site(ProgId(7), InsnIdx(0xffff_fffe));
        assert_eq!(unsite(s), (ProgId(7), InsnIdx(0xffff_fffe)));
    }
}
