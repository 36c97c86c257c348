//! Program contexts: the uapi struct each program type receives in r1
//! (`struct xdp_md`, `struct __sk_buff`, `struct pt_regs`, ...), its field
//! layout, and which accesses the kernel allows per program type (the
//! `*_is_valid_access` callbacks of Linux 6.12's `net/core/filter.c` and
//! `kernel/trace/bpf_trace.c`), including the fields whose loads the kernel
//! rewrites into pointers (`data`, `data_end`, `data_meta`).
//!
//! What it is not: it does not rewrite loads or build contexts; the verifier
//! asks [`ctx_access`] whether an access is allowed and what it yields, and
//! the runtime lays contexts out from [`CtxLayout`].

use super::ProgType;

/// A field of a context struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtxField {
    pub name: &'static str,
    pub offset: u32,
    /// The field's size in bytes (an array field such as `cb[5]` as a whole).
    pub size: u32,
}

impl CtxField {
    const fn new(name: &'static str, offset: u32, size: u32) -> Self {
        CtxField { name, offset, size }
    }

    /// Whether byte range `[off, off + len)` lies inside the field.
    pub const fn covers(&self, off: u32, len: u32) -> bool {
        off >= self.offset && off + len <= self.offset + self.size
    }
}

/// A context struct as the program sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtxLayout {
    /// The C struct's name (`xdp_md`).
    pub name: &'static str,
    /// `sizeof` the struct.
    pub size: u32,
    /// Named fields, in offset order. Tracing contexts whose shape depends
    /// on the attach point have none.
    pub fields: &'static [CtxField],
}

impl CtxLayout {
    /// The field containing byte `off`, if any.
    pub fn field_at(&self, off: u32) -> Option<&'static CtxField> {
        self.fields.iter().find(|f| f.covers(off, 1))
    }
}

/// `struct xdp_md`.
pub const XDP_MD: CtxLayout = CtxLayout {
    name: "xdp_md",
    size: 24,
    fields: &[
        CtxField::new("data", 0, 4),
        CtxField::new("data_end", 4, 4),
        CtxField::new("data_meta", 8, 4),
        CtxField::new("ingress_ifindex", 12, 4),
        CtxField::new("rx_queue_index", 16, 4),
        CtxField::new("egress_ifindex", 20, 4),
    ],
};

/// `struct __sk_buff`.
pub const SK_BUFF: CtxLayout = CtxLayout {
    name: "__sk_buff",
    size: 192,
    fields: &[
        CtxField::new("len", 0, 4),
        CtxField::new("pkt_type", 4, 4),
        CtxField::new("mark", 8, 4),
        CtxField::new("queue_mapping", 12, 4),
        CtxField::new("protocol", 16, 4),
        CtxField::new("vlan_present", 20, 4),
        CtxField::new("vlan_tci", 24, 4),
        CtxField::new("vlan_proto", 28, 4),
        CtxField::new("priority", 32, 4),
        CtxField::new("ingress_ifindex", 36, 4),
        CtxField::new("ifindex", 40, 4),
        CtxField::new("tc_index", 44, 4),
        CtxField::new("cb", 48, 20),
        CtxField::new("hash", 68, 4),
        CtxField::new("tc_classid", 72, 4),
        CtxField::new("data", 76, 4),
        CtxField::new("data_end", 80, 4),
        CtxField::new("napi_id", 84, 4),
        CtxField::new("family", 88, 4),
        CtxField::new("remote_ip4", 92, 4),
        CtxField::new("local_ip4", 96, 4),
        CtxField::new("remote_ip6", 100, 16),
        CtxField::new("local_ip6", 116, 16),
        CtxField::new("remote_port", 132, 4),
        CtxField::new("local_port", 136, 4),
        CtxField::new("data_meta", 140, 4),
        CtxField::new("flow_keys", 144, 8),
        CtxField::new("tstamp", 152, 8),
        CtxField::new("wire_len", 160, 4),
        CtxField::new("gso_segs", 164, 4),
        CtxField::new("sk", 168, 8),
        CtxField::new("gso_size", 176, 4),
        CtxField::new("tstamp_type", 180, 1),
        CtxField::new("hwtstamp", 184, 8),
    ],
};

/// x86-64's `struct pt_regs` (21 registers), the context of kprobes.
pub const PT_REGS: CtxLayout = CtxLayout { name: "pt_regs", size: 168, fields: &[] };

/// A tracepoint's record (`PERF_MAX_TRACE_SIZE`); its first 8 bytes, the
/// common header, are not readable.
pub const TRACEPOINT: CtxLayout = CtxLayout { name: "tracepoint record", size: 8192, fields: &[] };

/// A raw tracepoint's arguments: up to `MAX_BPF_FUNC_ARGS` (12) u64s.
pub const RAW_TRACEPOINT: CtxLayout = CtxLayout { name: "bpf_raw_tracepoint_args", size: 96, fields: &[] };

/// The context layout of a program type, if bpfx knows it.
pub fn ctx_layout(prog_type: ProgType) -> Option<&'static CtxLayout> {
    Some(match prog_type {
        ProgType::Xdp => &XDP_MD,
        ProgType::SocketFilter | ProgType::SchedCls | ProgType::SchedAct | ProgType::CgroupSkb => &SK_BUFF,
        ProgType::Kprobe => &PT_REGS,
        ProgType::Tracepoint => &TRACEPOINT,
        ProgType::RawTracepoint => &RAW_TRACEPOINT,
        _ => return None,
    })
}

/// What a context load yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtxValue {
    /// A plain value.
    Scalar,
    /// The start of packet data (`data`), rewritten to a pointer.
    PacketData,
    /// The end of packet data (`data_end`).
    PacketEnd,
    /// The start of packet metadata (`data_meta`).
    PacketMeta,
    /// `__sk_buff.sk`: a socket pointer that may be null.
    SockCommonOrNull,
}

/// The kind of a context access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtxAccess {
    /// A load; `signed` for a sign-extending load (v4 `ldsx`).
    Read {
        signed: bool,
    },
    Write,
}

/// Whether a program of `prog_type` may access `size` bytes of its context
/// at `off`, and what a load yields. `None` when the kernel refuses the
/// access (or bpfx does not know the program type).
pub fn ctx_access(prog_type: ProgType, off: i64, size: u32, access: CtxAccess) -> Option<CtxValue> {
    let layout = ctx_layout(prog_type)?;
    let off = u32::try_from(off).ok().filter(|&o| o < layout.size)?;
    if size == 0 || off % size != 0 {
        return None;
    }
    let read = matches!(access, CtxAccess::Read { .. });
    match prog_type {
        ProgType::Xdp => xdp_access(off, size, access),
        ProgType::SocketFilter | ProgType::SchedCls | ProgType::SchedAct | ProgType::CgroupSkb => {
            skb_access(prog_type, off, size, access)
        }
        ProgType::Kprobe => (read && off + size <= layout.size).then_some(CtxValue::Scalar),
        ProgType::Tracepoint => (read && off >= 8).then_some(CtxValue::Scalar),
        ProgType::RawTracepoint => read.then_some(CtxValue::Scalar),
        _ => None,
    }
}

fn field(layout: &CtxLayout, name: &str) -> CtxField {
    *layout.fields.iter().find(|f| f.name == name).unwrap_or(&CtxField::new("", u32::MAX, 0))
}

fn in_field(off: u32, name: &str) -> bool {
    let f = field(&SK_BUFF, name);
    f.covers(off, 1)
}

fn in_fields(off: u32, first: &str, last: &str) -> bool {
    let (a, b) = (field(&SK_BUFF, first), field(&SK_BUFF, last));
    off >= a.offset && off < b.offset + b.size
}

fn xdp_access(off: u32, size: u32, access: CtxAccess) -> Option<CtxValue> {
    // egress_ifindex needs the BPF_XDP_DEVMAP attach type, which bpfx's
    // programs do not carry yet; writes are for offloaded programs only.
    if off == 20 || size != 4 {
        return None;
    }
    let signed = match access {
        CtxAccess::Write => return None,
        CtxAccess::Read { signed } => signed,
    };
    let value = match off {
        0 => CtxValue::PacketData,
        4 => CtxValue::PacketEnd,
        8 => CtxValue::PacketMeta,
        _ => CtxValue::Scalar,
    };
    (!signed || value == CtxValue::Scalar).then_some(value)
}

fn skb_access(prog_type: ProgType, off: u32, size: u32, access: CtxAccess) -> Option<CtxValue> {
    let write = access == CtxAccess::Write;
    let tc = matches!(prog_type, ProgType::SchedCls | ProgType::SchedAct);
    let mut value = CtxValue::Scalar;
    match prog_type {
        ProgType::SocketFilter => {
            let refused = ["tc_classid", "data", "data_meta", "data_end", "tstamp", "wire_len", "hwtstamp"];
            if refused.iter().any(|f| in_field(off, f)) || in_fields(off, "family", "local_port") {
                return None;
            }
            if write && !in_field(off, "cb") {
                return None;
            }
        }
        ProgType::CgroupSkb => {
            if ["tc_classid", "data_meta", "wire_len"].iter().any(|f| in_field(off, f)) {
                return None;
            }
            let writable = ["mark", "priority", "cb", "tstamp"];
            if write && !writable.iter().any(|f| in_field(off, f)) {
                return None;
            }
        }
        _ if tc => {
            let writable = ["mark", "tc_index", "priority", "tc_classid", "cb", "tstamp", "queue_mapping"];
            if write && !writable.iter().any(|f| in_field(off, f)) {
                return None;
            }
            if in_fields(off, "family", "local_port") {
                return None;
            }
            if in_field(off, "tstamp_type") {
                return (size == 1).then_some(CtxValue::Scalar);
            }
        }
        _ => return None,
    }
    if in_field(off, "data") {
        value = CtxValue::PacketData;
    } else if in_field(off, "data_end") {
        value = CtxValue::PacketEnd;
    } else if in_field(off, "data_meta") {
        value = CtxValue::PacketMeta;
    }
    let signed = matches!(access, CtxAccess::Read { signed: true });
    let u32_full = size == 4;
    if in_field(off, "cb") {
        return (off + size <= 68).then_some(CtxValue::Scalar);
    }
    if value != CtxValue::Scalar {
        return (!signed && u32_full).then_some(value);
    }
    if in_fields(off, "remote_ip4", "local_ip6") {
        return u32_full.then_some(CtxValue::Scalar);
    }
    if in_field(off, "flow_keys") || in_field(off, "tstamp_type") || (181..184).contains(&off) {
        return None;
    }
    if in_field(off, "hwtstamp") {
        return (!write && size == 8).then_some(CtxValue::Scalar);
    }
    if in_field(off, "tstamp") {
        return (size == 8).then_some(CtxValue::Scalar);
    }
    if in_field(off, "sk") {
        return (!write && size == 8).then_some(CtxValue::SockCommonOrNull);
    }
    // Other u32 fields: whole writes, narrow power-of-two reads.
    if write { u32_full } else { size <= 4 && size.is_power_of_two() }.then_some(CtxValue::Scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_data_pointers_are_whole_u32_reads() {
        let read = CtxAccess::Read { signed: false };
        assert_eq!(ctx_access(ProgType::Xdp, 0, 4, read), Some(CtxValue::PacketData));
        assert_eq!(ctx_access(ProgType::Xdp, 4, 4, read), Some(CtxValue::PacketEnd));
        assert_eq!(ctx_access(ProgType::Xdp, 0, 8, read), None);
        assert_eq!(ctx_access(ProgType::Xdp, 2, 2, read), None);
        assert_eq!(ctx_access(ProgType::Xdp, 12, 4, CtxAccess::Write), None);
        assert_eq!(ctx_access(ProgType::Xdp, 24, 4, read), None);
    }

    #[test]
    fn skb_rules_differ_per_program_type() {
        let read = CtxAccess::Read { signed: false };
        assert_eq!(ctx_access(ProgType::SchedCls, 76, 4, read), Some(CtxValue::PacketData));
        assert_eq!(ctx_access(ProgType::SocketFilter, 76, 4, read), None);
        assert_eq!(ctx_access(ProgType::SocketFilter, 48, 4, CtxAccess::Write), Some(CtxValue::Scalar));
        assert_eq!(ctx_access(ProgType::SocketFilter, 8, 4, CtxAccess::Write), None);
        assert_eq!(ctx_access(ProgType::SchedCls, 8, 4, CtxAccess::Write), Some(CtxValue::Scalar));
        assert_eq!(ctx_access(ProgType::SchedCls, 0, 2, read), Some(CtxValue::Scalar));
        assert_eq!(ctx_access(ProgType::SchedCls, 0, 8, read), None);
        assert_eq!(ctx_access(ProgType::SchedCls, 152, 8, read), Some(CtxValue::Scalar));
    }

    #[test]
    fn layouts_are_in_offset_order_and_fit() {
        for layout in [&XDP_MD, &SK_BUFF] {
            for pair in layout.fields.windows(2) {
                assert!(pair[0].offset + pair[0].size <= pair[1].offset, "{}: {:?}", layout.name, pair);
            }
            let last = layout.fields.last().unwrap();
            assert!(last.offset + last.size <= layout.size);
        }
    }
}
