//! The VM context: the one `#[repr(C)]` struct both engines run against.
//!
//! The runtime allocates one for its life, with its region table; a run
//! ([`crate::Runtime::run_repeated`]) resets a few fields and the context's
//! regions, and the engine passes its address to every helper. Compiled
//! code reads the fields listed in
//! [`offsets`] at fixed offsets; everything after them is Rust-side state
//! only the runtime touches. After every helper call an engine reads
//! [`VmCtx::status`]: anything but [`status::RUNNING`] sends it to its one
//! exit path (a fault to report, or a tail call to make).

use std::ffi::c_void;

use bpfx_isa::InsnIdx;

use crate::fault::Fault;
use crate::region::{FRAME_SIZE, MAX_FRAMES, Region, STACK_REGION};
use crate::runtime::Runtime;

/// A helper as both engines call it: the VM context, then `r1`..`r5`;
/// returns `r0`. It never unwinds: a fault is written into the context and
/// `status` set to [`status::FAULT`].
///
/// # Safety
/// `vm` must point to the live context of the running program.
pub type HelperFn = unsafe extern "C" fn(vm: *mut VmCtx, r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64;

/// How a helper (`bpf_loop`, `bpf_for_each_map_elem`) calls back into the
/// program: the engine runs the subprogram at `target` (a code address from
/// `lddw` of a `BPF_PSEUDO_FUNC`) with `r1`..`r5` in a new frame, and
/// returns its `r0`, or sets `status` like a helper.
///
/// # Safety
/// `vm` must point to the live context of the running program.
pub type CallbackFn =
    unsafe extern "C" fn(vm: *mut VmCtx, target: u64, r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64;

/// Values of [`VmCtx::status`].
pub mod status {
    /// Nothing to report.
    pub const RUNNING: u32 = 0;
    /// A helper faulted: [`super::VmCtx::fault`] says why.
    pub const FAULT: u32 = 1;
    /// `bpf_tail_call` succeeded: continue in
    /// [`super::VmCtx::tail_call_target`], in the current frame.
    pub const TAIL_CALL: u32 = 2;
}

/// A map as compiled code may see it: its handle (what `lddw` of a map
/// loads) and where its values live.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSlot {
    /// The value programs hold for this map ([`crate::Runtime::map_handle`]).
    pub handle: u64,
    /// First byte of the map's memory, 0 if it has none.
    pub base: u64,
    /// The map's memory in bytes.
    pub len: u64,
    /// The kernel's `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub key_size: u32,
}

/// The context of one run. Fields up to `runtime` are the engines'
/// contract; their offsets are in [`offsets`].
#[repr(C)]
pub struct VmCtx {
    /// One of [`status`]'s values.
    pub status: u32,
    /// Entries in `regions`.
    pub region_count: u32,
    /// The region table; entry [`crate::region::STACK_REGION`] is the stack.
    pub regions: *mut Region,
    /// Helpers by kernel id, `None` where nothing is registered (what
    /// `callx` consults; direct calls are resolved at load).
    pub helpers: *const Option<HelperFn>,
    /// Entries in `helpers`.
    pub helper_count: u32,
    /// Entries in `maps`.
    pub map_count: u32,
    /// The runtime's maps by [`crate::region::MapId`].
    pub maps: *const MapSlot,
    /// `r10` of the outermost frame: frame `n` has `r10 = stack_top - n * 512`.
    pub stack_top: u64,
    /// Instructions a run may execute.
    pub insn_budget: u64,
    /// Instructions executed so far; an engine stores its count here before
    /// calling a helper (a callback continues it) and reloads it after.
    pub insn_count: u64,
    /// The program `bpf_tail_call` chose, when `status` is `TAIL_CALL`.
    pub tail_call_target: u32,
    /// Tail calls made so far in this run.
    pub tail_call_count: u32,
    /// The engine's entry for callbacks, and its state.
    pub callback: Option<CallbackFn>,
    pub callback_env: *mut c_void,
    /// The runtime the helpers act on.
    pub runtime: *mut Runtime,
    /// Where a fault inside a callback happened, when one did (`u32::MAX`
    /// otherwise): the engine reports it rather than the helper's call site.
    pub fault_at: u32,
    /// The CPU runs pretend to be on ([`crate::Config::cpu`]): which value of
    /// a per-CPU map a lookup gets.
    pub cpu: u32,
    /// Why the run faulted, when `status` is `FAULT`.
    pub fault: Option<Fault>,
}

impl VmCtx {
    /// Records a fault for the engine to report, as a helper or a callback
    /// entry does instead of unwinding: `at` names the instruction when it
    /// is not the call site (a fault inside a callback). Without one, a
    /// position an inner callback recorded stands: the helper that ran the
    /// callback re-raises its fault, which happened there. Returns the `r0`
    /// the caller hands back, which the engine discards.
    pub fn raise(&mut self, fault: Fault, at: Option<InsnIdx>) -> u64 {
        self.fault = Some(fault);
        if let Some(at) = at {
            self.fault_at = at.0;
        }
        self.status = status::FAULT;
        0
    }

    /// Sets the stack region to the live frames `0..=depth` (frame 0 at
    /// the top, each below the one that called it): what both engines do
    /// on a call, a return and a callback.
    ///
    /// # Safety
    /// `regions` must be the live run's region table (it always holds the
    /// stack at [`STACK_REGION`]).
    #[inline(always)]
    pub unsafe fn set_frames(&mut self, depth: u32) {
        let len = (u64::from(depth) + 1) * FRAME_SIZE;
        // SAFETY: the caller's contract.
        unsafe {
            let r = self.regions.add(STACK_REGION);
            (*r).start = self.stack_top - len;
            (*r).len = len;
        }
    }

    /// `r10` in frame `depth`: the top of its 512 bytes.
    pub fn frame_top(&self, depth: u32) -> u64 {
        self.stack_top - u64::from(depth) * FRAME_SIZE
    }

    /// The frame a callback that a helper makes runs in: one below the
    /// deepest live frame. `Err` when none is left: the call-depth fault is
    /// raised and `Err` holds what the callback entry returns.
    ///
    /// # Safety
    /// As [`VmCtx::set_frames`].
    pub unsafe fn callback_frame(&mut self) -> Result<u32, u64> {
        // SAFETY: the caller's contract.
        let caller = unsafe { ((*self.regions.add(STACK_REGION)).len / FRAME_SIZE) as u32 - 1 };
        if caller + 1 >= MAX_FRAMES {
            return Err(self.raise(Fault::CallDepth { max: MAX_FRAMES }, None));
        }
        Ok(caller + 1)
    }
}

/// Byte offsets of the [`VmCtx`] and [`Region`] fields compiled code uses
/// (checked against `offset_of!` in a test).
pub mod offsets {
    pub const STATUS: i32 = 0;
    pub const REGION_COUNT: i32 = 4;
    pub const REGIONS: i32 = 8;
    pub const HELPERS: i32 = 16;
    pub const HELPER_COUNT: i32 = 24;
    pub const MAP_COUNT: i32 = 28;
    pub const MAPS: i32 = 32;
    pub const STACK_TOP: i32 = 40;
    pub const INSN_BUDGET: i32 = 48;
    pub const INSN_COUNT: i32 = 56;
    pub const TAIL_CALL_TARGET: i32 = 64;
    pub const TAIL_CALL_COUNT: i32 = 68;
    pub const CALLBACK: i32 = 72;
    pub const CALLBACK_ENV: i32 = 80;
    pub const RUNTIME: i32 = 88;
    pub const FAULT_AT: i32 = 96;
    pub const CPU: i32 = 100;

    /// [`crate::region::Region`].
    pub mod region {
        pub const START: i32 = 0;
        pub const LEN: i32 = 8;
        pub const WRITABLE: i32 = 16;
        /// The stride of the region table.
        pub const SIZE: i32 = size_of::<crate::region::Region>() as i32;
    }

    /// [`crate::vmctx::MapSlot`].
    pub mod map_slot {
        pub const HANDLE: i32 = 0;
        pub const BASE: i32 = 8;
        pub const LEN: i32 = 16;
        pub const MAP_TYPE: i32 = 24;
        pub const VALUE_SIZE: i32 = 28;
        pub const MAX_ENTRIES: i32 = 32;
        pub const KEY_SIZE: i32 = 36;
        pub const SIZE: i32 = 40;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn offsets_match_the_layout() {
        let vm = [
            (offsets::STATUS, offset_of!(VmCtx, status)),
            (offsets::REGION_COUNT, offset_of!(VmCtx, region_count)),
            (offsets::REGIONS, offset_of!(VmCtx, regions)),
            (offsets::HELPERS, offset_of!(VmCtx, helpers)),
            (offsets::HELPER_COUNT, offset_of!(VmCtx, helper_count)),
            (offsets::MAP_COUNT, offset_of!(VmCtx, map_count)),
            (offsets::MAPS, offset_of!(VmCtx, maps)),
            (offsets::STACK_TOP, offset_of!(VmCtx, stack_top)),
            (offsets::INSN_BUDGET, offset_of!(VmCtx, insn_budget)),
            (offsets::INSN_COUNT, offset_of!(VmCtx, insn_count)),
            (offsets::TAIL_CALL_TARGET, offset_of!(VmCtx, tail_call_target)),
            (offsets::TAIL_CALL_COUNT, offset_of!(VmCtx, tail_call_count)),
            (offsets::CALLBACK, offset_of!(VmCtx, callback)),
            (offsets::CALLBACK_ENV, offset_of!(VmCtx, callback_env)),
            (offsets::RUNTIME, offset_of!(VmCtx, runtime)),
            (offsets::FAULT_AT, offset_of!(VmCtx, fault_at)),
            (offsets::CPU, offset_of!(VmCtx, cpu)),
        ];
        for (i, (declared, actual)) in vm.into_iter().enumerate() {
            assert_eq!(declared as usize, actual, "VmCtx field {i}");
        }
        assert_eq!(offsets::region::START as usize, offset_of!(Region, start));
        assert_eq!(offsets::region::LEN as usize, offset_of!(Region, len));
        assert_eq!(offsets::region::WRITABLE as usize, offset_of!(Region, writable));
        assert_eq!(offsets::map_slot::HANDLE as usize, offset_of!(MapSlot, handle));
        assert_eq!(offsets::map_slot::BASE as usize, offset_of!(MapSlot, base));
        assert_eq!(offsets::map_slot::LEN as usize, offset_of!(MapSlot, len));
        assert_eq!(offsets::map_slot::MAP_TYPE as usize, offset_of!(MapSlot, map_type));
        assert_eq!(offsets::map_slot::VALUE_SIZE as usize, offset_of!(MapSlot, value_size));
        assert_eq!(offsets::map_slot::MAX_ENTRIES as usize, offset_of!(MapSlot, max_entries));
        assert_eq!(offsets::map_slot::KEY_SIZE as usize, offset_of!(MapSlot, key_size));
        assert_eq!(offsets::map_slot::SIZE as usize, size_of::<MapSlot>());
    }
}
