//! The run loop: one `match` over pre-decoded ops, registers in a local
//! array, every load and store checked against the region table.

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::Relaxed;

use bpfx_isa::{AtomicOp, HelperId, InsnIdx};
use bpfx_runtime::region::{self, FRAME_SIZE, MAX_FRAMES, PACKET_REGION};
use bpfx_runtime::vmctx::status;
use bpfx_runtime::{Access, AccessKind, Fault, ProgId, Region, Returned, Stop, TopRun, VmCtx};

use crate::Interpreter;
use crate::decode::{Code, Kind, NO_REG, Op};
use bpfx_runtime::code::code_addr_parts;

/// The kernel's `BPF_MAX_LOOPS`: `may_goto` jumps once a run has passed it
/// this many times.
const BPF_MAX_LOOPS: u64 = 8 * 1024 * 1024;

/// A caller's state, saved by a bpf-to-bpf call.
#[derive(Clone, Copy)]
struct Frame<'a> {
    code: &'a Code,
    prog: ProgId,
    ret: usize,
    saved: [u64; 4],
    /// `r1`..`r5` at the first tail call made in the callee's frame: what
    /// they are when that frame exits back to this one (see
    /// [`bpfx_runtime::Engine`]).
    tail: Option<[u64; 5]>,
}

/// The region that holds `size` bytes at `addr`, if one does and (for a
/// write) is writable: the rule of [`region::check`], without building a
/// fault.
#[inline(always)]
fn find(regions: &[Region], addr: u64, size: u64, write: bool) -> Option<usize> {
    let i = regions.iter().position(|r| r.contains(addr, size))?;
    (!write || regions[i].writable != 0).then_some(i)
}

/// The size and kind of a load or store op's access.
fn access_of(kind: Kind) -> (u64, AccessKind) {
    match kind {
        Kind::LdxB | Kind::LdxSB => (1, AccessKind::Load),
        Kind::LdxH | Kind::LdxSH => (2, AccessKind::Load),
        Kind::LdxW | Kind::LdxSW => (4, AccessKind::Load),
        Kind::LdxDW => (8, AccessKind::Load),
        Kind::StB | Kind::StxB => (1, AccessKind::Store),
        Kind::StH | Kind::StxH => (2, AccessKind::Store),
        Kind::StW | Kind::StxW => (4, AccessKind::Store),
        Kind::StDW | Kind::StxDW => (8, AccessKind::Store),
        other => unreachable!("{other:?} does not access memory in the hot loop"),
    }
}

/// The fault for an access [`find`] refused.
#[cold]
#[inline(never)]
fn access_fault(regions: &[Region], addr: u64, kind: AccessKind, size: u64) -> Fault {
    match region::check(regions, addr, Access { kind, size }) {
        Err(fault) => fault,
        Ok(()) => unreachable!("check and find apply the same rule"),
    }
}

/// The state the hot loop runs on. It loads the scalars into registers on
/// entry and stores them back when it hands control back.
pub(crate) struct Hot {
    pub regs: [u64; 16],
    /// The next op.
    pub pc: usize,
    /// The budget left: the budget minus the instructions started. It may
    /// go below zero; taken back-edges and calls check it.
    pub left: i64,
    pub ops: *const Op,
    pub regions: *const Region,
    pub region_count: usize,
    /// The address of the access [`Event::Access`] reports.
    pub fault_addr: u64,
}

/// Why the hot loop handed control back (small, so it comes back in a
/// register; the details are in [`Hot`] and the op).
#[derive(Clone, Copy)]
pub(crate) enum Event {
    /// An op the hot loop does not run (calls, exits, atomics, ...): the
    /// one before `pc`.
    Slow,
    /// The load or store before `pc` touched `fault_addr`, which [`find`]
    /// refused.
    Access,
    /// The back-edge at `pc` found the budget spent (and did not run).
    Budget,
}

/// Runs ALU, jump, load and store ops until one it does not run.
///
/// # Safety
/// `hot.ops` must be a program's ops with `hot.pc` one of its indices, and
/// `hot.regions` the run's region table.
#[inline(never)]
unsafe fn hot_loop(hot: &mut Hot) -> Event {
    // SAFETY (for the block): as the function's contract; every target was
    // checked at load and the final `FellOff` op is a slow one, so `pc`
    // stays an op index.
    unsafe {
        let ops = hot.ops;
        let regions = std::slice::from_raw_parts(hot.regions, hot.region_count);
        let regs = &mut hot.regs;
        let mut ip = ops.add(hot.pc);
        let mut left = hot.left;
        macro_rules! leave {
            ($event:expr) => {{
                hot.pc = ip.offset_from(ops) as usize;
                hot.left = left;
                return $event;
            }};
        }
        // The region the op hit last is tried first; regions never overlap,
        // so this finds the same region the full rule does.
        macro_rules! mem {
            ($addr:expr, $size:expr, $write:expr) => {{
                let addr: u64 = $addr;
                let hint = &(*ip.sub(1)).hint;
                let fast = match regions.get(hint.load(Relaxed) as usize) {
                    Some(r) => r.contains(addr, $size) && (!$write || r.writable != 0),
                    None => false,
                };
                if !fast {
                    match find(regions, addr, $size, $write) {
                        Some(i) => hint.store(u8::try_from(i).unwrap_or(0), Relaxed),
                        None => {
                            hot.fault_addr = addr;
                            leave!(Event::Access);
                        }
                    }
                }
                addr
            }};
        }
        macro_rules! load {
            ($ty:ty, $d:expr, $s:expr, $off:expr, $conv:expr) => {{
                let addr = mem!(regs[$s].wrapping_add($off), size_of::<$ty>() as u64, false);
                regs[$d] = $conv((addr as *const $ty).read_unaligned());
            }};
        }
        macro_rules! store {
            ($ty:ty, $d:expr, $off:expr, $v:expr) => {{
                let addr = mem!(regs[$d].wrapping_add($off), size_of::<$ty>() as u64, true);
                (addr as *mut $ty).write_unaligned($v as $ty);
            }};
        }
        // A jump back (to itself or before) past the budget stops; `ip`
        // is already past the jump, so its target is behind `ip`. Forward
        // jumps cannot loop and are not checked.
        macro_rules! jump_if {
            ($cond:expr, $target:expr) => {{
                if $cond {
                    let target: usize = $target;
                    if left < 0 && ops.add(target) < ip {
                        ip = ip.sub(1);
                        leave!(Event::Budget);
                    }
                    ip = ops.add(target);
                }
            }};
        }
        // The dispatch is written out twice, so the branch predictor keeps
        // two indirect jumps, each with its own history (on the benches,
        // one copy or four were slower).
        macro_rules! step {
            () => {{
                left -= 1;
                let op = &*ip;
                ip = ip.add(1);
                // Fields are read where an arm uses them, not before the
                // dispatch: fewer loads on the path every op takes.
                macro_rules! d {
                    () => {
                        (op.dst & 15) as usize
                    };
                }
                macro_rules! s {
                    () => {
                        (op.src & 15) as usize
                    };
                }
                macro_rules! imm {
                    () => {
                        op.imm
                    };
                }
                macro_rules! off {
                    () => {
                        op.off as i64 as u64
                    };
                }
                macro_rules! target {
                    () => {
                        op.off as usize
                    };
                }
                match op.kind {
                    Kind::Add64I => regs[d!()] = regs[d!()].wrapping_add(imm!()),
                    Kind::Add64R => regs[d!()] = regs[d!()].wrapping_add(regs[s!()]),
                    Kind::Sub64I => regs[d!()] = regs[d!()].wrapping_sub(imm!()),
                    Kind::Sub64R => regs[d!()] = regs[d!()].wrapping_sub(regs[s!()]),
                    Kind::Mul64I => regs[d!()] = regs[d!()].wrapping_mul(imm!()),
                    Kind::Mul64R => regs[d!()] = regs[d!()].wrapping_mul(regs[s!()]),
                    Kind::Div64I => regs[d!()] = div64(regs[d!()], imm!()),
                    Kind::Div64R => regs[d!()] = div64(regs[d!()], regs[s!()]),
                    Kind::SDiv64I => regs[d!()] = sdiv64(regs[d!()], imm!()),
                    Kind::SDiv64R => regs[d!()] = sdiv64(regs[d!()], regs[s!()]),
                    Kind::Mod64I => regs[d!()] = mod64(regs[d!()], imm!()),
                    Kind::Mod64R => regs[d!()] = mod64(regs[d!()], regs[s!()]),
                    Kind::SMod64I => regs[d!()] = smod64(regs[d!()], imm!()),
                    Kind::SMod64R => regs[d!()] = smod64(regs[d!()], regs[s!()]),
                    Kind::Or64I => regs[d!()] |= imm!(),
                    Kind::Or64R => regs[d!()] |= regs[s!()],
                    Kind::And64I => regs[d!()] &= imm!(),
                    Kind::And64R => regs[d!()] &= regs[s!()],
                    Kind::Xor64I => regs[d!()] ^= imm!(),
                    Kind::Xor64R => regs[d!()] ^= regs[s!()],
                    Kind::Lsh64I => regs[d!()] <<= imm!() & 63,
                    Kind::Lsh64R => regs[d!()] <<= regs[s!()] & 63,
                    Kind::Rsh64I => regs[d!()] >>= imm!() & 63,
                    Kind::Rsh64R => regs[d!()] >>= regs[s!()] & 63,
                    Kind::Arsh64I => regs[d!()] = ((regs[d!()] as i64) >> (imm!() & 63)) as u64,
                    Kind::Arsh64R => regs[d!()] = ((regs[d!()] as i64) >> (regs[s!()] & 63)) as u64,
                    Kind::Mov64I => regs[d!()] = imm!(),
                    Kind::Mov64R => regs[d!()] = regs[s!()],
                    Kind::MovSx8_64 => regs[d!()] = regs[s!()] as i8 as i64 as u64,
                    Kind::MovSx16_64 => regs[d!()] = regs[s!()] as i16 as i64 as u64,
                    Kind::MovSx32_64 => regs[d!()] = regs[s!()] as i32 as i64 as u64,
                    Kind::Add32I => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_add(imm!() as u32)),
                    Kind::Add32R => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_add(regs[s!()] as u32)),
                    Kind::Sub32I => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_sub(imm!() as u32)),
                    Kind::Sub32R => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_sub(regs[s!()] as u32)),
                    Kind::Mul32I => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_mul(imm!() as u32)),
                    Kind::Mul32R => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_mul(regs[s!()] as u32)),
                    Kind::Div32I => regs[d!()] = div32(regs[d!()], imm!()),
                    Kind::Div32R => regs[d!()] = div32(regs[d!()], regs[s!()]),
                    Kind::SDiv32I => regs[d!()] = sdiv32(regs[d!()], imm!()),
                    Kind::SDiv32R => regs[d!()] = sdiv32(regs[d!()], regs[s!()]),
                    Kind::Mod32I => regs[d!()] = mod32(regs[d!()], imm!()),
                    Kind::Mod32R => regs[d!()] = mod32(regs[d!()], regs[s!()]),
                    Kind::SMod32I => regs[d!()] = smod32(regs[d!()], imm!()),
                    Kind::SMod32R => regs[d!()] = smod32(regs[d!()], regs[s!()]),
                    Kind::Or32I => regs[d!()] = u64::from(regs[d!()] as u32 | imm!() as u32),
                    Kind::Or32R => regs[d!()] = u64::from(regs[d!()] as u32 | regs[s!()] as u32),
                    Kind::And32I => regs[d!()] = u64::from(regs[d!()] as u32 & imm!() as u32),
                    Kind::And32R => regs[d!()] = u64::from(regs[d!()] as u32 & regs[s!()] as u32),
                    Kind::Xor32I => regs[d!()] = u64::from(regs[d!()] as u32 ^ imm!() as u32),
                    Kind::Xor32R => regs[d!()] = u64::from(regs[d!()] as u32 ^ regs[s!()] as u32),
                    Kind::Lsh32I => regs[d!()] = u64::from((regs[d!()] as u32) << (imm!() & 31)),
                    Kind::Lsh32R => regs[d!()] = u64::from((regs[d!()] as u32) << (regs[s!()] & 31)),
                    Kind::Rsh32I => regs[d!()] = u64::from((regs[d!()] as u32) >> (imm!() & 31)),
                    Kind::Rsh32R => regs[d!()] = u64::from((regs[d!()] as u32) >> (regs[s!()] & 31)),
                    Kind::Arsh32I => regs[d!()] = u64::from(((regs[d!()] as i32) >> (imm!() & 31)) as u32),
                    Kind::Arsh32R => regs[d!()] = u64::from(((regs[d!()] as i32) >> (regs[s!()] & 31)) as u32),
                    Kind::Mov32R => regs[d!()] = u64::from(regs[s!()] as u32),
                    Kind::MovSx8_32 => regs[d!()] = u64::from(regs[s!()] as i8 as i32 as u32),
                    Kind::MovSx16_32 => regs[d!()] = u64::from(regs[s!()] as i16 as i32 as u32),
                    Kind::Neg64 => regs[d!()] = regs[d!()].wrapping_neg(),
                    Kind::Neg32 => regs[d!()] = u64::from((regs[d!()] as u32).wrapping_neg()),
                    Kind::Zext16 => regs[d!()] &= 0xffff,
                    Kind::Zext32 => regs[d!()] &= 0xffff_ffff,
                    Kind::Swap16 => regs[d!()] = u64::from((regs[d!()] as u16).swap_bytes()),
                    Kind::Swap32 => regs[d!()] = u64::from((regs[d!()] as u32).swap_bytes()),
                    Kind::Swap64 => regs[d!()] = regs[d!()].swap_bytes(),
                    Kind::LdxB => load!(u8, d!(), s!(), off!(), u64::from),
                    Kind::LdxH => load!(u16, d!(), s!(), off!(), u64::from),
                    Kind::LdxW => load!(u32, d!(), s!(), off!(), u64::from),
                    Kind::LdxDW => load!(u64, d!(), s!(), off!(), |v| v),
                    Kind::LdxSB => load!(i8, d!(), s!(), off!(), |v: i8| v as i64 as u64),
                    Kind::LdxSH => load!(i16, d!(), s!(), off!(), |v: i16| v as i64 as u64),
                    Kind::LdxSW => load!(i32, d!(), s!(), off!(), |v: i32| v as i64 as u64),
                    Kind::StB => store!(u8, d!(), off!(), imm!()),
                    Kind::StH => store!(u16, d!(), off!(), imm!()),
                    Kind::StW => store!(u32, d!(), off!(), imm!()),
                    Kind::StDW => store!(u64, d!(), off!(), imm!()),
                    Kind::StxB => store!(u8, d!(), off!(), regs[s!()]),
                    Kind::StxH => store!(u16, d!(), off!(), regs[s!()]),
                    Kind::StxW => store!(u32, d!(), off!(), regs[s!()]),
                    Kind::StxDW => store!(u64, d!(), off!(), regs[s!()]),
                    Kind::Ja => jump_if!(true, target!()),
                    Kind::Jeq64I => jump_if!(regs[d!()] == imm!(), target!()),
                    Kind::Jeq64R => jump_if!(regs[d!()] == regs[s!()], target!()),
                    Kind::Jgt64I => jump_if!(regs[d!()] > imm!(), target!()),
                    Kind::Jgt64R => jump_if!(regs[d!()] > regs[s!()], target!()),
                    Kind::Jge64I => jump_if!(regs[d!()] >= imm!(), target!()),
                    Kind::Jge64R => jump_if!(regs[d!()] >= regs[s!()], target!()),
                    Kind::Jset64I => jump_if!(regs[d!()] & imm!() != 0, target!()),
                    Kind::Jset64R => jump_if!(regs[d!()] & regs[s!()] != 0, target!()),
                    Kind::Jne64I => jump_if!(regs[d!()] != imm!(), target!()),
                    Kind::Jne64R => jump_if!(regs[d!()] != regs[s!()], target!()),
                    Kind::Jsgt64I => jump_if!(regs[d!()] as i64 > imm!() as i64, target!()),
                    Kind::Jsgt64R => jump_if!(regs[d!()] as i64 > regs[s!()] as i64, target!()),
                    Kind::Jsge64I => jump_if!(regs[d!()] as i64 >= imm!() as i64, target!()),
                    Kind::Jsge64R => jump_if!(regs[d!()] as i64 >= regs[s!()] as i64, target!()),
                    Kind::Jlt64I => jump_if!(regs[d!()] < imm!(), target!()),
                    Kind::Jlt64R => jump_if!(regs[d!()] < regs[s!()], target!()),
                    Kind::Jle64I => jump_if!(regs[d!()] <= imm!(), target!()),
                    Kind::Jle64R => jump_if!(regs[d!()] <= regs[s!()], target!()),
                    Kind::Jslt64I => jump_if!((regs[d!()] as i64) < imm!() as i64, target!()),
                    Kind::Jslt64R => jump_if!((regs[d!()] as i64) < regs[s!()] as i64, target!()),
                    Kind::Jsle64I => jump_if!(regs[d!()] as i64 <= imm!() as i64, target!()),
                    Kind::Jsle64R => jump_if!(regs[d!()] as i64 <= regs[s!()] as i64, target!()),
                    Kind::Jeq32I => jump_if!(regs[d!()] as u32 == imm!() as u32, target!()),
                    Kind::Jeq32R => jump_if!(regs[d!()] as u32 == regs[s!()] as u32, target!()),
                    Kind::Jgt32I => jump_if!(regs[d!()] as u32 > imm!() as u32, target!()),
                    Kind::Jgt32R => jump_if!(regs[d!()] as u32 > regs[s!()] as u32, target!()),
                    Kind::Jge32I => jump_if!(regs[d!()] as u32 >= imm!() as u32, target!()),
                    Kind::Jge32R => jump_if!(regs[d!()] as u32 >= regs[s!()] as u32, target!()),
                    Kind::Jset32I => jump_if!(regs[d!()] as u32 & imm!() as u32 != 0, target!()),
                    Kind::Jset32R => jump_if!(regs[d!()] as u32 & regs[s!()] as u32 != 0, target!()),
                    Kind::Jne32I => jump_if!(regs[d!()] as u32 != imm!() as u32, target!()),
                    Kind::Jne32R => jump_if!(regs[d!()] as u32 != regs[s!()] as u32, target!()),
                    Kind::Jsgt32I => jump_if!(regs[d!()] as i32 > imm!() as i32, target!()),
                    Kind::Jsgt32R => jump_if!(regs[d!()] as i32 > regs[s!()] as i32, target!()),
                    Kind::Jsge32I => jump_if!(regs[d!()] as i32 >= imm!() as i32, target!()),
                    Kind::Jsge32R => jump_if!(regs[d!()] as i32 >= regs[s!()] as i32, target!()),
                    Kind::Jlt32I => jump_if!((regs[d!()] as u32) < imm!() as u32, target!()),
                    Kind::Jlt32R => jump_if!((regs[d!()] as u32) < regs[s!()] as u32, target!()),
                    Kind::Jle32I => jump_if!(regs[d!()] as u32 <= imm!() as u32, target!()),
                    Kind::Jle32R => jump_if!(regs[d!()] as u32 <= regs[s!()] as u32, target!()),
                    Kind::Jslt32I => jump_if!((regs[d!()] as i32) < imm!() as i32, target!()),
                    Kind::Jslt32R => jump_if!((regs[d!()] as i32) < regs[s!()] as i32, target!()),
                    Kind::Jsle32I => jump_if!(regs[d!()] as i32 <= imm!() as i32, target!()),
                    Kind::Jsle32R => jump_if!(regs[d!()] as i32 <= regs[s!()] as i32, target!()),
                    // Listed rather than `_`, so the jump table covers every
                    // kind and needs no range check.
                    Kind::AtomicW
                    | Kind::AtomicDW
                    | Kind::MayGoto
                    | Kind::CallHelper
                    | Kind::CallLocal
                    | Kind::Callx
                    | Kind::Exit
                    | Kind::PacketLoad
                    | Kind::FellOff => leave!(Event::Slow),
                }
            }};
        }
        loop {
            step!();
            step!();
        }
    }
}

/// A program's run from its start in frame 0, as the runtime's run
/// protocol makes it ([`bpfx_runtime::Runtime::run_repeated`]).
pub(crate) struct Top<'a> {
    pub interp: &'a Interpreter,
    pub code: &'a Code,
    pub prog: ProgId,
    /// `r1`..`r5` for every run.
    pub args: [u64; 5],
}

impl TopRun for Top<'_> {
    type Stop = Stop;

    #[inline(always)]
    unsafe fn begin(&mut self, _vm: *mut VmCtx, args: [u64; 5]) {
        self.args = args;
    }

    #[inline(always)]
    unsafe fn run(&mut self, vm: *mut VmCtx) -> Result<Returned, Stop> {
        // SAFETY: as the trait's contract, which is `exec`'s (which sets
        // the stack region at frame 0 and counts from `insn_count`).
        unsafe {
            (*vm).insn_count = 0;
            let (r0, last) = self.interp.exec(vm, self.code, self.prog, 0, self.args, 0)?;
            Ok(Returned { r0, last, insns: (*vm).insn_count })
        }
    }
}

impl Interpreter {
    /// Runs `code` from op `pc` in frame `base` (0 for a program's entry, a
    /// deeper one for a callback) until that frame exits; returns `r0` and
    /// the program it exited from (another after a tail call).
    /// Keeps `vm.insn_count` (instructions started) current across helper
    /// calls and leaves the instructions completed there at the end.
    ///
    /// The budget is checked at every taken back-edge (a jump to itself or
    /// an earlier instruction), call and callback entry: once the run has
    /// started more instructions than its budget, the next of these stops
    /// it (without running) with [`Fault::BudgetExhausted`]. Code without
    /// back-edges or calls cannot loop, so this bounds every run, at the
    /// cost of one check per loop round rather than one per instruction
    /// (the JIT checks at the same points).
    ///
    /// # Safety
    /// `vm` must be the live context of a run begun on the runtime the
    /// program was loaded into, with its region table in place.
    #[inline]
    pub(crate) unsafe fn exec<'a>(
        &'a self,
        vm: *mut VmCtx,
        code: &'a Code,
        prog: ProgId,
        pc: usize,
        args: [u64; 5],
        base: u32,
    ) -> Result<(u64, ProgId), Stop> {
        // SAFETY (for the block): the caller passes the live context, with
        // its region table in place.
        unsafe {
            let stack_top = (*vm).stack_top;
            let budget = (*vm).insn_budget.min(i64::MAX as u64) as i64;
            let mut hot = Hot {
                regs: [0; 16],
                pc,
                left: budget.saturating_sub((*vm).insn_count as i64),
                ops: code.ops.as_ptr(),
                regions: (*vm).regions,
                region_count: (*vm).region_count as usize,
                fault_addr: 0,
            };
            hot.regs[1..6].copy_from_slice(&args);
            hot.regs[10] = stack_top - u64::from(base) * FRAME_SIZE;
            (*vm).set_frames(base);
            if hot.left < 0 {
                (*vm).insn_count = (budget - hot.left) as u64;
                let fault = Fault::BudgetExhausted { budget: (*vm).insn_budget };
                return Err(Stop { at: code.at(pc), fault, prog });
            }
            let event = hot_loop(&mut hot);
            // Most runs end here: the entry frame exits without having
            // called anything, and the slow path's setup is not needed.
            if let Event::Slow = event
                && (*hot.ops.add(hot.pc - 1)).kind == Kind::Exit
            {
                (*vm).insn_count = (budget - hot.left) as u64;
                return Ok((hot.regs[0], prog));
            }
            self.exec_slow(vm, code, prog, hot, event, base)
        }
    }

    /// The rest of [`Interpreter::exec`]: handles `first`, then every op the
    /// hot loop hands back (calls, exits, helpers, atomics, faults).
    ///
    /// # Safety
    /// As [`Interpreter::exec`]; `hot` is that run's state.
    #[inline(never)]
    unsafe fn exec_slow<'a>(
        &'a self,
        vm: *mut VmCtx,
        mut code: &'a Code,
        mut prog: ProgId,
        mut hot: Hot,
        first: Event,
        base: u32,
    ) -> Result<(u64, ProgId), Stop> {
        // SAFETY (for the block): as in `exec`; the helper table too stays in
        // place, and helpers change region entries only in place.
        unsafe {
            let regions_ptr = (*vm).regions;
            let regions = std::slice::from_raw_parts(regions_ptr, (*vm).region_count as usize);
            let stack_top = (*vm).stack_top;
            let budget = (*vm).insn_budget.min(i64::MAX as u64) as i64;
            let mut depth = base;
            let mut frames = [const { MaybeUninit::<Frame>::uninit() }; MAX_FRAMES as usize];
            let mut loops = BPF_MAX_LOOPS;
            let mut event = first;

            // The op at `hot.pc - 1` stopped the run without completing.
            macro_rules! stop {
                ($fault:expr) => {{
                    (*vm).insn_count = (budget - hot.left - 1) as u64;
                    return Err(Stop { at: code.at(hot.pc - 1), fault: $fault, prog });
                }};
            }
            macro_rules! check_budget {
                () => {{
                    if hot.left < 0 {
                        stop!(Fault::BudgetExhausted { budget: (*vm).insn_budget });
                    }
                }};
            }
            macro_rules! after_call {
                ($r0:expr, $helper:expr) => {{
                    let r0 = $r0;
                    hot.left = budget - (*vm).insn_count as i64;
                    match (*vm).status {
                        status::RUNNING => hot.regs[0] = r0,
                        status::TAIL_CALL => {
                            (*vm).status = status::RUNNING;
                            let target = ProgId((*vm).tail_call_target);
                            let Some(next) = self.code(target) else {
                                stop!(Fault::BadHelperArg {
                                    helper: $helper,
                                    reason: format!("tail call target program {target} is not loaded in this engine"),
                                });
                            };
                            check_budget!();
                            if depth > base {
                                // SAFETY: the call that entered frame
                                // `depth` wrote its caller's record.
                                let caller = frames[(depth - 1 - base) as usize].assume_init_mut();
                                let r = &hot.regs;
                                caller.tail.get_or_insert([r[1], r[2], r[3], r[4], r[5]]);
                            }
                            code = next;
                            hot.ops = code.ops.as_ptr();
                            prog = target;
                            hot.pc = 0;
                            hot.regs[0] = 0;
                        }
                        _ => {
                            (*vm).status = status::RUNNING;
                            let fault = (*vm).fault.take().expect("a faulted helper records its fault");
                            let at = match (*vm).fault_at {
                                u32::MAX => code.at(hot.pc - 1),
                                at => InsnIdx(at),
                            };
                            (*vm).fault_at = u32::MAX;
                            (*vm).insn_count = (*vm).insn_count.saturating_sub(1);
                            return Err(Stop { at, fault, prog });
                        }
                    }
                }};
            }

            loop {
                // A budget stop leaves `pc` on the jump that did not run, which
                // may be op 0: it is handled before `pc - 1` is formed.
                if let Event::Budget = event {
                    (*vm).insn_count = (budget - hot.left - 1) as u64;
                    let fault = Fault::BudgetExhausted { budget: (*vm).insn_budget };
                    return Err(Stop { at: code.at(hot.pc), fault, prog });
                }
                let op = &*hot.ops.add(hot.pc - 1);
                if let Event::Access = event {
                    let (size, kind) = access_of(op.kind);
                    stop!(access_fault(regions, hot.fault_addr, kind, size))
                }
                let d = (op.dst & 15) as usize;
                let s = (op.src & 15) as usize;
                let imm = op.imm;
                let off = op.off as i64 as u64;
                let target = op.off as usize;
                match op.kind {
                    Kind::AtomicW | Kind::AtomicDW => {
                        let size = if op.kind == Kind::AtomicDW { 8 } else { 4 };
                        let addr = hot.regs[d].wrapping_add(off);
                        if find(regions, addr, size, true).is_none() {
                            stop!(access_fault(regions, addr, AccessKind::Atomic, size));
                        }
                        atomic(AtomicOp::ALL[imm as usize], addr, size == 8, &mut hot.regs, s);
                    }
                    Kind::MayGoto => {
                        if loops == 0 {
                            if target < hot.pc {
                                check_budget!();
                            }
                            hot.pc = target;
                        } else {
                            loops -= 1;
                        }
                    }
                    Kind::CallHelper => {
                        let f = code.helpers[imm as usize];
                        (*vm).insn_count = (budget - hot.left) as u64;
                        let r = &hot.regs;
                        let r0 = f(vm, r[1], r[2], r[3], r[4], r[5]);
                        after_call!(r0, HelperId(op.off as u32));
                    }
                    Kind::Callx => {
                        let id = hot.regs[d];
                        let f = usize::try_from(id)
                            .ok()
                            .filter(|&i| i < (*vm).helper_count as usize)
                            .and_then(|i| *(*vm).helpers.add(i));
                        let Some(f) = f else { stop!(Fault::UnknownHelper { id }) };
                        (*vm).insn_count = (budget - hot.left) as u64;
                        let r = &hot.regs;
                        let r0 = f(vm, r[1], r[2], r[3], r[4], r[5]);
                        after_call!(r0, HelperId(id as u32));
                    }
                    Kind::CallLocal => {
                        check_budget!();
                        if depth + 1 >= MAX_FRAMES {
                            stop!(Fault::CallDepth { max: MAX_FRAMES });
                        }
                        let r = &hot.regs;
                        frames[(depth - base) as usize] = MaybeUninit::new(Frame {
                            code,
                            prog,
                            ret: hot.pc,
                            saved: [r[6], r[7], r[8], r[9]],
                            tail: None,
                        });
                        depth += 1;
                        hot.regs[10] = stack_top - u64::from(depth) * FRAME_SIZE;
                        (*vm).set_frames(depth);
                        hot.pc = target;
                    }
                    Kind::Exit => {
                        if depth == base {
                            (*vm).insn_count = (budget - hot.left) as u64;
                            return Ok((hot.regs[0], prog));
                        }
                        depth -= 1;
                        // SAFETY: frame `depth` was written by the call that
                        // entered the frame now exiting.
                        let f = frames[(depth - base) as usize].assume_init();
                        [hot.regs[6], hot.regs[7], hot.regs[8], hot.regs[9]] = f.saved;
                        if let Some(r) = f.tail {
                            hot.regs[1..6].copy_from_slice(&r);
                        }
                        code = f.code;
                        hot.ops = code.ops.as_ptr();
                        prog = f.prog;
                        hot.pc = f.ret;
                        hot.regs[10] = stack_top - u64::from(depth) * FRAME_SIZE;
                        (*vm).set_frames(depth);
                    }
                    Kind::PacketLoad => {
                        let packet = regions[PACKET_REGION];
                        if packet.start == 0 {
                            stop!(Fault::NoPacket);
                        }
                        let index = if op.src == NO_REG { 0 } else { hot.regs[s] };
                        let at = index.wrapping_add(imm);
                        let size = op.off as u64;
                        if !packet.contains(packet.start.wrapping_add(at), size) || (at as i64) < 0 {
                            // As the kernel: a packet load out of bounds ends the program with 0.
                            (*vm).insn_count = (budget - hot.left) as u64;
                            return Ok((0, prog));
                        }
                        let mut bytes = [0u8; 4];
                        let src = packet.start.wrapping_add(at) as *const u8;
                        std::ptr::copy_nonoverlapping(src, bytes.as_mut_ptr(), size as usize);
                        hot.regs[0] = match size {
                            1 => u64::from(bytes[0]),
                            2 => u64::from(u16::from_be_bytes([bytes[0], bytes[1]])),
                            _ => u64::from(u32::from_be_bytes(bytes)),
                        };
                    }
                    Kind::FellOff => stop!(Fault::FellOffEnd),
                    _ => unreachable!("the hot loop runs {:?}", op.kind),
                }
                event = hot_loop(&mut hot);
            }
        }
    }
}

fn div64(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(0)
}

fn sdiv64(a: u64, b: u64) -> u64 {
    if b == 0 { 0 } else { (a as i64).wrapping_div(b as i64) as u64 }
}

fn mod64(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { a % b }
}

fn smod64(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { (a as i64).wrapping_rem(b as i64) as u64 }
}

fn div32(a: u64, b: u64) -> u64 {
    u64::from((a as u32).checked_div(b as u32).unwrap_or(0))
}

fn sdiv32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as i32, b as i32);
    u64::from(if b == 0 { 0 } else { a.wrapping_div(b) as u32 })
}

fn mod32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as u32, b as u32);
    u64::from(if b == 0 { a } else { a % b })
}

fn smod32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as i32, b as i32);
    u64::from(if b == 0 { a as u32 } else { a.wrapping_rem(b) as u32 })
}

/// An atomic read-modify-write at `addr` (checked by the caller). Runs are
/// single-threaded, so plain reads and writes are atomic enough; what
/// matters is which register gets the old value.
///
/// # Safety
/// `addr` must have passed the region check for a write of the width.
#[cold]
unsafe fn atomic(op: AtomicOp, addr: u64, wide: bool, regs: &mut [u64; 16], s: usize) {
    // SAFETY: the caller checked `addr` against a writable region.
    let old = unsafe {
        if wide { (addr as *const u64).read_unaligned() } else { u64::from((addr as *const u32).read_unaligned()) }
    };
    let src = regs[s];
    let new = match op {
        AtomicOp::Add | AtomicOp::FetchAdd => Some(old.wrapping_add(src)),
        AtomicOp::Or | AtomicOp::FetchOr => Some(old | src),
        AtomicOp::And | AtomicOp::FetchAnd => Some(old & src),
        AtomicOp::Xor | AtomicOp::FetchXor => Some(old ^ src),
        AtomicOp::Xchg => Some(src),
        AtomicOp::CmpXchg => {
            let expected = if wide { regs[0] } else { u64::from(regs[0] as u32) };
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
    match op {
        AtomicOp::CmpXchg => regs[0] = old,
        op if op.fetches() => regs[s] = old,
        _ => {}
    }
}

/// The interpreter's entry for helpers that call back into the program:
/// runs the subprogram `target` names in a new frame below the current one.
///
/// # Safety
/// `vm` must be the live context of a run of this interpreter (its
/// `callback_env` the interpreter).
pub(crate) unsafe extern "C" fn callback_entry(
    vm: *mut VmCtx,
    target: u64,
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
) -> u64 {
    // SAFETY: `run` set `callback_env` to the interpreter, which outlives
    // the run, and `vm` is the live context.
    unsafe {
        let interp = &*((*vm).callback_env as *const Interpreter);
        let found = code_addr_parts(target)
            .and_then(|(prog, op)| Some((prog, op, interp.code(ProgId(prog)).filter(|c| op < c.ops.len())?)));
        let Some((prog, op, code)) = found else { return (*vm).raise(Fault::BadCallback { target }, None) };
        let depth = match (*vm).callback_frame() {
            Ok(depth) => depth,
            Err(r0) => return r0,
        };
        let result = interp.exec(vm, code, ProgId(prog), op, [r1, r2, r3, r4, r5], depth);
        (*vm).set_frames(depth - 1);
        match result {
            Ok((r0, _)) => r0,
            Err(stop) => (*vm).raise(stop.fault, Some(stop.at)),
        }
    }
}
