//! Helper prototypes: what each helper takes and returns, as the kernel
//! declares it in its `struct bpf_func_proto`s (Linux 6.12:
//! `kernel/bpf/helpers.c`, `net/core/filter.c`, `kernel/trace/bpf_trace.c`,
//! `kernel/bpf/ringbuf.c`), whether it is GPL-only, whether it may move
//! packet data, and which program types may call it (the `*_func_proto`
//! callbacks, for a fully privileged loader). Where a later kernel widened
//! a helper's availability and the test machine's kernel (6.18) shows it —
//! `get_current_pid_tgid` and `get_current_uid_gid` for every program type —
//! the row follows the kernel the corpus asks.
//!
//! What it is not: the helpers themselves (the runtime's) or the argument
//! checks (the verifier's). A helper without a row here is one bpfx does
//! not model yet; [`proto`] returns `None` for it.

use super::ProgType;
use crate::insn::HelperId;

/// An argument kind (`enum bpf_arg_type`, with its flags folded in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `ARG_ANYTHING`: any initialised value, scalar or pointer.
    Anything,
    /// `ARG_CONST_MAP_PTR`: a map pointer from `lddw`.
    ConstMapPtr,
    /// `ARG_PTR_TO_MAP_KEY`: readable memory of the map's key size.
    MapKey,
    /// `ARG_PTR_TO_MAP_VALUE`: readable memory of the map's value size.
    MapValue,
    /// `ARG_PTR_TO_MAP_VALUE | MEM_UNINIT`: writable memory of the value size.
    UninitMapValue,
    /// `ARG_PTR_TO_MEM | MEM_RDONLY`: readable memory whose size is the next argument.
    ReadMem,
    /// `ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY`: readable memory or null.
    ReadMemOrNull,
    /// `ARG_PTR_TO_UNINIT_MEM`: memory the helper fills, sized by the next argument.
    WriteMem,
    /// `ARG_CONST_SIZE`: a bounded size, greater than zero.
    ConstSize,
    /// `ARG_CONST_SIZE_OR_ZERO`: a bounded size, possibly zero.
    ConstSizeOrZero,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`: a constant allocation size.
    ConstAllocSizeOrZero,
    /// `ARG_PTR_TO_CTX`: the program's context, unmodified.
    Ctx,
    /// `ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`: a reserved ring buffer record.
    RingbufMemRelease,
    /// `ARG_PTR_TO_FUNC`: a callback subprogram (`lddw` of a function).
    Func,
    /// `ARG_PTR_TO_STACK_OR_NULL`: a stack pointer or null.
    StackOrNull,
}

/// A return kind (`enum bpf_return_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetKind {
    /// `RET_INTEGER`: a scalar.
    Integer,
    /// `RET_VOID`: r0 is left unreadable.
    Void,
    /// `RET_PTR_TO_MAP_VALUE_OR_NULL`.
    MapValueOrNull,
    /// `RET_PTR_TO_RINGBUF_MEM_OR_NULL`: a reserved record to submit or discard,
    /// sized by the constant second argument.
    RingbufMemOrNull,
}

/// Families of program types that share the kernel's `*_func_proto` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Every program type (`bpf_base_func_proto`, privileged).
    Base,
    /// Socket filters and cgroup skb (`sk_filter_func_proto`).
    SocketFilter,
    /// tc classifiers and actions (`tc_cls_act_func_proto`).
    Tc,
    /// XDP (`xdp_func_proto`).
    Xdp,
    /// Kprobes, tracepoints, raw tracepoints, perf events (`bpf_tracing_func_proto`).
    Tracing,
}

impl Family {
    /// Whether a program of `prog_type` may use helpers of this family.
    pub fn includes(self, prog_type: ProgType) -> bool {
        use ProgType::*;
        match self {
            Family::Base => true,
            Family::SocketFilter => matches!(prog_type, SocketFilter | CgroupSkb | SchedCls | SchedAct),
            Family::Tc => matches!(prog_type, SchedCls | SchedAct),
            Family::Xdp => prog_type == Xdp,
            Family::Tracing => matches!(prog_type, Kprobe | Tracepoint | RawTracepoint | PerfEvent),
        }
    }
}

/// A helper's prototype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperProto {
    pub id: HelperId,
    pub ret: RetKind,
    /// r1, r2, ... in order; the helper ignores registers past the last.
    pub args: &'static [ArgKind],
    /// Refused to programs whose license is not GPL-compatible.
    pub gpl_only: bool,
    /// May move or resize packet data (`bpf_helper_changes_pkt_data`): every
    /// packet pointer is invalid after the call.
    pub changes_pkt_data: bool,
    /// The program-type families that may call it.
    pub families: &'static [Family],
}

impl HelperProto {
    /// Whether a program of `prog_type` may call this helper.
    pub fn available_to(&self, prog_type: ProgType) -> bool {
        self.families.iter().any(|f| f.includes(prog_type))
    }
}

macro_rules! protos {
    ($($id:literal $name:ident: ($($arg:ident),*) -> $ret:ident $(, $flag:ident)* in [$($fam:ident),*];)*) => {
        const PROTOS: &[HelperProto] = &[$(
            HelperProto {
                id: HelperId($id),
                ret: RetKind::$ret,
                args: &[$(ArgKind::$arg),*],
                gpl_only: protos!(@flag gpl $($flag)*),
                changes_pkt_data: protos!(@flag pkt $($flag)*),
                families: &[$(Family::$fam),*],
            },
        )*];

        #[cfg(test)]
        const NAMES: &[(u32, &str)] = &[$(($id, stringify!($name)),)*];
    };
    (@flag gpl gpl $($rest:ident)*) => { true };
    (@flag pkt pkt $($rest:ident)*) => { true };
    (@flag $want:ident $other:ident $($rest:ident)*) => { protos!(@flag $want $($rest)*) };
    (@flag $want:ident) => { false };
}

protos! {
    1 map_lookup_elem: (ConstMapPtr, MapKey) -> MapValueOrNull in [Base];
    2 map_update_elem: (ConstMapPtr, MapKey, MapValue, Anything) -> Integer in [Base];
    3 map_delete_elem: (ConstMapPtr, MapKey) -> Integer in [Base];
    4 probe_read: (WriteMem, ConstSizeOrZero, Anything) -> Integer, gpl in [Tracing];
    5 ktime_get_ns: () -> Integer in [Base];
    6 trace_printk: (ReadMem, ConstSize) -> Integer, gpl in [Base];
    7 get_prandom_u32: () -> Integer in [Base];
    8 get_smp_processor_id: () -> Integer in [Base];
    9 skb_store_bytes: (Ctx, Anything, ReadMem, ConstSize, Anything) -> Integer, pkt in [Tc];
    10 l3_csum_replace: (Ctx, Anything, Anything, Anything, Anything) -> Integer, pkt in [Tc];
    11 l4_csum_replace: (Ctx, Anything, Anything, Anything, Anything) -> Integer, pkt in [Tc];
    12 tail_call: (Ctx, ConstMapPtr, Anything) -> Void in [Base];
    13 clone_redirect: (Ctx, Anything, Anything) -> Integer, pkt in [Tc];
    14 get_current_pid_tgid: () -> Integer in [Base];
    15 get_current_uid_gid: () -> Integer in [Base];
    16 get_current_comm: (WriteMem, ConstSize) -> Integer in [Tracing];
    17 get_cgroup_classid: (Ctx) -> Integer in [Tc];
    18 skb_vlan_push: (Ctx, Anything, Anything) -> Integer, pkt in [Tc];
    19 skb_vlan_pop: (Ctx) -> Integer, pkt in [Tc];
    23 redirect: (Anything, Anything) -> Integer in [Tc, Xdp];
    25 perf_event_output: (Ctx, ConstMapPtr, Anything, ReadMem, ConstSizeOrZero) -> Integer, gpl in [SocketFilter, Xdp, Tracing];
    26 skb_load_bytes: (Ctx, Anything, WriteMem, ConstSize) -> Integer in [SocketFilter];
    28 csum_diff: (ReadMemOrNull, ConstSizeOrZero, ReadMemOrNull, ConstSizeOrZero, Anything) -> Integer in [Tc, Xdp];
    31 skb_change_proto: (Ctx, Anything, Anything) -> Integer, pkt in [Tc];
    32 skb_change_type: (Ctx, Anything) -> Integer in [Tc];
    34 get_hash_recalc: (Ctx) -> Integer in [Tc];
    35 get_current_task: () -> Integer, gpl in [Base];
    38 skb_change_tail: (Ctx, Anything, Anything) -> Integer, pkt in [Tc];
    39 skb_pull_data: (Ctx, Anything) -> Integer, pkt in [Tc];
    41 set_hash_invalid: (Ctx) -> Integer in [Tc];
    42 get_numa_node_id: () -> Integer in [Base];
    43 skb_change_head: (Ctx, Anything, Anything) -> Integer, pkt in [Tc];
    44 xdp_adjust_head: (Ctx, Anything) -> Integer, pkt in [Xdp];
    48 set_hash: (Ctx, Anything) -> Integer in [Tc];
    50 skb_adjust_room: (Ctx, Anything, Anything, Anything) -> Integer, pkt in [Tc];
    51 redirect_map: (ConstMapPtr, Anything, Anything) -> Integer in [Xdp];
    54 xdp_adjust_meta: (Ctx, Anything) -> Integer, pkt in [Xdp];
    65 xdp_adjust_tail: (Ctx, Anything) -> Integer, pkt in [Xdp];
    87 map_push_elem: (ConstMapPtr, MapValue, Anything) -> Integer in [Base];
    88 map_pop_elem: (ConstMapPtr, UninitMapValue) -> Integer in [Base];
    89 map_peek_elem: (ConstMapPtr, UninitMapValue) -> Integer in [Base];
    112 probe_read_user: (WriteMem, ConstSizeOrZero, Anything) -> Integer, gpl in [Base];
    113 probe_read_kernel: (WriteMem, ConstSizeOrZero, Anything) -> Integer, gpl in [Base];
    114 probe_read_user_str: (WriteMem, ConstSizeOrZero, Anything) -> Integer, gpl in [Base];
    115 probe_read_kernel_str: (WriteMem, ConstSizeOrZero, Anything) -> Integer, gpl in [Base];
    125 ktime_get_boot_ns: () -> Integer in [Base];
    130 ringbuf_output: (ConstMapPtr, ReadMem, ConstSizeOrZero, Anything) -> Integer in [Base];
    131 ringbuf_reserve: (ConstMapPtr, ConstAllocSizeOrZero, Anything) -> RingbufMemOrNull in [Base];
    132 ringbuf_submit: (RingbufMemRelease, Anything) -> Void in [Base];
    133 ringbuf_discard: (RingbufMemRelease, Anything) -> Void in [Base];
    134 ringbuf_query: (ConstMapPtr, Anything) -> Integer in [Base];
    164 for_each_map_elem: (ConstMapPtr, Func, StackOrNull, Anything) -> Integer in [Base];
    181 loop: (Anything, Func, StackOrNull, Anything) -> Integer in [Base];
    195 map_lookup_percpu_elem: (ConstMapPtr, MapKey, Anything) -> MapValueOrNull in [Base];
    208 ktime_get_tai_ns: () -> Integer in [Base];
}

/// The prototype of helper `id`, if bpfx models it.
pub fn proto(id: HelperId) -> Option<&'static HelperProto> {
    PROTOS.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_the_helper_table_ids() {
        for (id, name) in NAMES {
            assert_eq!(HelperId(*id).name(), Some(*name), "prototype row {id}");
        }
        for pair in PROTOS.windows(2) {
            assert!(pair[0].id < pair[1].id, "rows out of order at {:?}", pair[1].id);
        }
    }

    #[test]
    fn availability_follows_the_families() {
        let redirect_map = proto(HelperId(51)).unwrap();
        assert!(redirect_map.available_to(ProgType::Xdp));
        assert!(!redirect_map.available_to(ProgType::SchedCls));
        assert!(proto(HelperId(1)).unwrap().available_to(ProgType::Kprobe));
        assert!(proto(HelperId(4)).unwrap().gpl_only);
        assert!(proto(HelperId(44)).unwrap().changes_pkt_data);
        assert!(!proto(HelperId(1)).unwrap().changes_pkt_data);
    }
}
