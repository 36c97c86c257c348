//! Helpers by the kernel's ids, behind one table both engines call.
//!
//! Each helper is written once as a safe function,
//! `fn(&mut Runtime, [u64; 5]) -> Result<u64, Fault>`, and called through
//! an `extern "C"` thunk ([`crate::helper_fn!`]) with the [`HelperFn`]
//! signature, which the interpreter calls through a function pointer and
//! the JIT calls directly: the very same code in both engines. A thunk never
//! unwinds — a fault (or a panic in a user's helper) is written into the VM
//! context and the engine leaves through its one exit path.
//!
//! Helpers check every pointer argument against the region table, as the
//! engines check loads and stores, so a bad argument is a fault naming the
//! helper, never a host crash.

mod basic;
mod map;
mod net;
mod print;

use std::panic::{AssertUnwindSafe, catch_unwind};

pub use bpfx_isa::HelperId;

use crate::fault::Fault;
use crate::runtime::Runtime;
use crate::vmctx::{HelperFn, VmCtx};

/// A helper as written: the runtime and `r1`..`r5`, returning `r0`.
pub type SafeHelper = fn(&mut Runtime, [u64; 5]) -> Result<u64, Fault>;

/// Makes the `extern "C"` thunk of a [`SafeHelper`]: `helper_fn!(id, path)`
/// is a [`HelperFn`] that runs `path` as helper `id` (the id names the
/// helper in the faults it raises).
#[macro_export]
macro_rules! helper_fn {
    ($id:expr, $f:path) => {{
        unsafe extern "C" fn thunk(vm: *mut $crate::VmCtx, r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64 {
            let id: $crate::helpers::HelperId = $id;
            let f: $crate::helpers::SafeHelper = $f;
            // SAFETY: engines call helpers with the live context of the run.
            unsafe { $crate::helpers::dispatch(vm, id, [r1, r2, r3, r4, r5], f) }
        }
        thunk as $crate::HelperFn
    }};
}

/// Runs a safe helper for a thunk: reaches the runtime through `vm`, and
/// turns an error or a panic into a fault in the context.
///
/// # Safety
/// `vm` must be the live context of a run begun by
/// [`Runtime::run_repeated`], not otherwise borrowed while the helper runs.
#[inline(always)]
pub unsafe fn dispatch(vm: *mut VmCtx, id: HelperId, args: [u64; 5], f: SafeHelper) -> u64 {
    // SAFETY: the caller passes the live context, whose `runtime` points to
    // the runtime the run began on, borrowed by nothing else meanwhile.
    let rt = unsafe { &mut *(*vm).runtime };
    rt.vm = vm;
    rt.helper = id;
    let fault = match catch_unwind(AssertUnwindSafe(|| f(rt, args))) {
        Ok(Ok(r0)) => return r0,
        Ok(Err(fault)) => fault,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_string());
            Fault::HelperPanicked { helper: id, message }
        }
    };
    // SAFETY: as above; the runtime borrow has ended.
    unsafe { (*vm).raise(fault, None) }
}

/// Defines [`BUILTINS`] from `id name => function` rows; a test checks each
/// name against the ABI table.
macro_rules! builtins {
    ($($id:literal $name:ident => $f:path;)*) => {
        /// Every built-in helper: id, kernel name (without `bpf_`), thunk.
        pub const BUILTINS: &[(HelperId, &str, HelperFn)] = &[
            $( (HelperId($id), stringify!($name), $crate::helper_fn!(HelperId($id), $f)), )*
        ];
    };
}

builtins! {
    1 map_lookup_elem => map::lookup_elem;
    2 map_update_elem => map::update_elem;
    3 map_delete_elem => map::delete_elem;
    4 probe_read => basic::probe_read_kernel;
    5 ktime_get_ns => basic::ktime_get_ns;
    6 trace_printk => print::trace_printk;
    7 get_prandom_u32 => basic::get_prandom_u32;
    8 get_smp_processor_id => basic::get_smp_processor_id;
    9 skb_store_bytes => net::skb_store_bytes;
    10 l3_csum_replace => net::l3_csum_replace;
    11 l4_csum_replace => net::l4_csum_replace;
    12 tail_call => map::tail_call;
    14 get_current_pid_tgid => basic::get_current_pid_tgid;
    15 get_current_uid_gid => basic::get_current_uid_gid;
    16 get_current_comm => basic::get_current_comm;
    18 skb_vlan_push => net::skb_vlan_push;
    19 skb_vlan_pop => net::skb_vlan_pop;
    23 redirect => net::redirect;
    25 perf_event_output => map::perf_event_output;
    26 skb_load_bytes => net::skb_load_bytes;
    28 csum_diff => net::csum_diff;
    34 get_hash_recalc => net::get_hash_recalc;
    41 set_hash_invalid => net::set_hash_invalid;
    42 get_numa_node_id => basic::get_numa_node_id;
    44 xdp_adjust_head => net::xdp_adjust_head;
    45 probe_read_str => basic::probe_read_kernel_str;
    48 set_hash => net::set_hash;
    51 redirect_map => map::redirect_map;
    54 xdp_adjust_meta => net::xdp_adjust_meta;
    65 xdp_adjust_tail => net::xdp_adjust_tail;
    68 skb_load_bytes_relative => net::skb_load_bytes_relative;
    87 map_push_elem => map::push_elem;
    88 map_pop_elem => map::pop_elem;
    89 map_peek_elem => map::peek_elem;
    93 spin_lock => basic::spin_lock;
    94 spin_unlock => basic::spin_unlock;
    112 probe_read_user => basic::probe_read_user;
    113 probe_read_kernel => basic::probe_read_kernel;
    114 probe_read_user_str => basic::probe_read_user_str;
    115 probe_read_kernel_str => basic::probe_read_kernel_str;
    125 ktime_get_boot_ns => basic::ktime_get_boot_ns;
    130 ringbuf_output => map::ringbuf_output;
    131 ringbuf_reserve => map::ringbuf_reserve;
    132 ringbuf_submit => map::ringbuf_submit;
    133 ringbuf_discard => map::ringbuf_discard;
    134 ringbuf_query => map::ringbuf_query;
    160 ktime_get_coarse_ns => basic::ktime_get_coarse_ns;
    164 for_each_map_elem => map::for_each_map_elem;
    165 snprintf => print::snprintf;
    181 loop => basic::bpf_loop;
    188 xdp_get_buff_len => net::xdp_get_buff_len;
    189 xdp_load_bytes => net::xdp_load_bytes;
    190 xdp_store_bytes => net::xdp_store_bytes;
    195 map_lookup_percpu_elem => map::lookup_percpu_elem;
}

/// Negative errnos helpers return, as `r0` values.
pub(crate) mod errno {
    pub const ENOENT: u64 = -2i64 as u64;
    pub const E2BIG: u64 = -7i64 as u64;
    pub const ENOMEM: u64 = -12i64 as u64;
    pub const EFAULT: u64 = -14i64 as u64;
    pub const EINVAL: u64 = -22i64 as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_carry_the_kernels_names_and_ids() {
        for &(id, name, _) in BUILTINS {
            assert_eq!(id.name(), Some(name), "helper {}", id.0);
        }
        let mut ids: Vec<u32> = BUILTINS.iter().map(|b| b.0.0).collect();
        ids.dedup();
        assert_eq!(ids.len(), BUILTINS.len(), "ids are listed once, in order");
    }
}
