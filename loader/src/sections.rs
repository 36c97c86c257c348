//! Program types from section names, by libbpf's conventions (its
//! `section_defs` table, libbpf 1.5): `SEC("xdp")`, `SEC("kprobe/do_sys_open")`.
//!
//! A pattern ending in `+` matches the bare name or the name followed by
//! `/` and anything (`kprobe`, `kprobe/f`, not `kprobex`); any other pattern
//! matches exactly. The first matching row wins, so the more specific rows
//! come first.
//!
//! This is libbpf's naming convention, not kernel ABI, so it lives in the
//! loader; the verifier and engines receive the resulting program type and
//! expected attach type on [`bpfx_isa::Program`].

use bpfx_isa::abi::{AttachType, ProgType};

/// `BPF_F_SLEEPABLE`.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS`.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// What a section name says about the programs in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionDef {
    /// The pattern that matched (`kprobe+`).
    pub pattern: &'static str,
    pub prog_type: ProgType,
    pub expected_attach_type: Option<AttachType>,
    /// `BPF_F_SLEEPABLE` and `BPF_F_XDP_HAS_FRAGS` as the name implies.
    pub prog_flags: u32,
}

const SLEEPABLE: u32 = BPF_F_SLEEPABLE;
const FRAGS: u32 = BPF_F_XDP_HAS_FRAGS;

macro_rules! defs {
    ($($pattern:literal => $prog:ident, $attach:expr, $flags:expr;)*) => {
        &[$(SectionDef { pattern: $pattern, prog_type: ProgType::$prog, expected_attach_type: $attach, prog_flags: $flags },)*]
    };
}

use AttachType as A;

const DEFS: &[SectionDef] = defs! {
    "socket" => SocketFilter, None, 0;
    "sk_reuseport/migrate" => SkReuseport, Some(A::SkReuseportSelectOrMigrate), 0;
    "sk_reuseport" => SkReuseport, Some(A::SkReuseportSelect), 0;
    "kprobe+" => Kprobe, None, 0;
    "uprobe+" => Kprobe, None, 0;
    "uprobe.s+" => Kprobe, None, SLEEPABLE;
    "kretprobe+" => Kprobe, None, 0;
    "uretprobe+" => Kprobe, None, 0;
    "uretprobe.s+" => Kprobe, None, SLEEPABLE;
    "kprobe.multi+" => Kprobe, Some(A::TraceKprobeMulti), 0;
    "kretprobe.multi+" => Kprobe, Some(A::TraceKprobeMulti), 0;
    "kprobe.session+" => Kprobe, Some(A::TraceKprobeSession), 0;
    "uprobe.multi+" => Kprobe, Some(A::TraceUprobeMulti), 0;
    "uretprobe.multi+" => Kprobe, Some(A::TraceUprobeMulti), 0;
    "uprobe.multi.s+" => Kprobe, Some(A::TraceUprobeMulti), SLEEPABLE;
    "uretprobe.multi.s+" => Kprobe, Some(A::TraceUprobeMulti), SLEEPABLE;
    "ksyscall+" => Kprobe, None, 0;
    "kretsyscall+" => Kprobe, None, 0;
    "usdt+" => Kprobe, None, 0;
    "usdt.s+" => Kprobe, None, SLEEPABLE;
    "tc/ingress" => SchedCls, Some(A::TcxIngress), 0;
    "tc/egress" => SchedCls, Some(A::TcxEgress), 0;
    "tcx/ingress" => SchedCls, Some(A::TcxIngress), 0;
    "tcx/egress" => SchedCls, Some(A::TcxEgress), 0;
    "tc" => SchedCls, None, 0;
    "classifier" => SchedCls, None, 0;
    "action" => SchedAct, None, 0;
    "netkit/primary" => SchedCls, Some(A::NetkitPrimary), 0;
    "netkit/peer" => SchedCls, Some(A::NetkitPeer), 0;
    "tracepoint+" => Tracepoint, None, 0;
    "tp+" => Tracepoint, None, 0;
    "raw_tracepoint+" => RawTracepoint, None, 0;
    "raw_tp+" => RawTracepoint, None, 0;
    "raw_tracepoint.w+" => RawTracepointWritable, None, 0;
    "raw_tp.w+" => RawTracepointWritable, None, 0;
    "tp_btf+" => Tracing, Some(A::TraceRawTp), 0;
    "fentry+" => Tracing, Some(A::TraceFentry), 0;
    "fmod_ret+" => Tracing, Some(A::ModifyReturn), 0;
    "fexit+" => Tracing, Some(A::TraceFexit), 0;
    "fentry.s+" => Tracing, Some(A::TraceFentry), SLEEPABLE;
    "fmod_ret.s+" => Tracing, Some(A::ModifyReturn), SLEEPABLE;
    "fexit.s+" => Tracing, Some(A::TraceFexit), SLEEPABLE;
    "freplace+" => Ext, None, 0;
    "lsm+" => Lsm, Some(A::LsmMac), 0;
    "lsm.s+" => Lsm, Some(A::LsmMac), SLEEPABLE;
    "lsm_cgroup+" => Lsm, Some(A::LsmCgroup), 0;
    "iter+" => Tracing, Some(A::TraceIter), 0;
    "iter.s+" => Tracing, Some(A::TraceIter), SLEEPABLE;
    "syscall" => Syscall, None, SLEEPABLE;
    "xdp.frags/devmap" => Xdp, Some(A::XdpDevmap), FRAGS;
    "xdp/devmap" => Xdp, Some(A::XdpDevmap), 0;
    "xdp.frags/cpumap" => Xdp, Some(A::XdpCpumap), FRAGS;
    "xdp/cpumap" => Xdp, Some(A::XdpCpumap), 0;
    "xdp.frags" => Xdp, Some(A::Xdp), FRAGS;
    "xdp" => Xdp, Some(A::Xdp), 0;
    "perf_event" => PerfEvent, None, 0;
    "lwt_in" => LwtIn, None, 0;
    "lwt_out" => LwtOut, None, 0;
    "lwt_xmit" => LwtXmit, None, 0;
    "lwt_seg6local" => LwtSeg6local, None, 0;
    "sockops" => SockOps, Some(A::CgroupSockOps), 0;
    "sk_skb/stream_parser" => SkSkb, Some(A::SkSkbStreamParser), 0;
    "sk_skb/stream_verdict" => SkSkb, Some(A::SkSkbStreamVerdict), 0;
    "sk_skb/verdict" => SkSkb, Some(A::SkSkbVerdict), 0;
    "sk_skb" => SkSkb, None, 0;
    "sk_msg" => SkMsg, Some(A::SkMsgVerdict), 0;
    "lirc_mode2" => LircMode2, Some(A::LircMode2), 0;
    "flow_dissector" => FlowDissector, Some(A::FlowDissector), 0;
    "cgroup_skb/ingress" => CgroupSkb, Some(A::CgroupInetIngress), 0;
    "cgroup_skb/egress" => CgroupSkb, Some(A::CgroupInetEgress), 0;
    "cgroup/skb" => CgroupSkb, None, 0;
    "cgroup/sock_create" => CgroupSock, Some(A::CgroupInetSockCreate), 0;
    "cgroup/sock_release" => CgroupSock, Some(A::CgroupInetSockRelease), 0;
    "cgroup/sock" => CgroupSock, Some(A::CgroupInetSockCreate), 0;
    "cgroup/post_bind4" => CgroupSock, Some(A::CgroupInet4PostBind), 0;
    "cgroup/post_bind6" => CgroupSock, Some(A::CgroupInet6PostBind), 0;
    "cgroup/bind4" => CgroupSockAddr, Some(A::CgroupInet4Bind), 0;
    "cgroup/bind6" => CgroupSockAddr, Some(A::CgroupInet6Bind), 0;
    "cgroup/connect4" => CgroupSockAddr, Some(A::CgroupInet4Connect), 0;
    "cgroup/connect6" => CgroupSockAddr, Some(A::CgroupInet6Connect), 0;
    "cgroup/connect_unix" => CgroupSockAddr, Some(A::CgroupUnixConnect), 0;
    "cgroup/sendmsg4" => CgroupSockAddr, Some(A::CgroupUdp4Sendmsg), 0;
    "cgroup/sendmsg6" => CgroupSockAddr, Some(A::CgroupUdp6Sendmsg), 0;
    "cgroup/sendmsg_unix" => CgroupSockAddr, Some(A::CgroupUnixSendmsg), 0;
    "cgroup/recvmsg4" => CgroupSockAddr, Some(A::CgroupUdp4Recvmsg), 0;
    "cgroup/recvmsg6" => CgroupSockAddr, Some(A::CgroupUdp6Recvmsg), 0;
    "cgroup/recvmsg_unix" => CgroupSockAddr, Some(A::CgroupUnixRecvmsg), 0;
    "cgroup/getpeername4" => CgroupSockAddr, Some(A::CgroupInet4Getpeername), 0;
    "cgroup/getpeername6" => CgroupSockAddr, Some(A::CgroupInet6Getpeername), 0;
    "cgroup/getpeername_unix" => CgroupSockAddr, Some(A::CgroupUnixGetpeername), 0;
    "cgroup/getsockname4" => CgroupSockAddr, Some(A::CgroupInet4Getsockname), 0;
    "cgroup/getsockname6" => CgroupSockAddr, Some(A::CgroupInet6Getsockname), 0;
    "cgroup/getsockname_unix" => CgroupSockAddr, Some(A::CgroupUnixGetsockname), 0;
    "cgroup/sysctl" => CgroupSysctl, Some(A::CgroupSysctl), 0;
    "cgroup/getsockopt" => CgroupSockopt, Some(A::CgroupGetsockopt), 0;
    "cgroup/setsockopt" => CgroupSockopt, Some(A::CgroupSetsockopt), 0;
    "cgroup/dev" => CgroupDevice, Some(A::CgroupDevice), 0;
    "struct_ops+" => StructOps, None, 0;
    "struct_ops.s+" => StructOps, None, SLEEPABLE;
    "sk_lookup" => SkLookup, Some(A::SkLookup), 0;
    "netfilter" => Netfilter, Some(A::Netfilter), 0;
};

/// What libbpf makes of a program in section `name`; `None` when no row
/// matches (libbpf then refuses to load the program unless told its type).
pub fn section_def(name: &str) -> Option<&'static SectionDef> {
    DEFS.iter().find(|def| matches(def.pattern, name))
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str) -> Option<(ProgType, Option<AttachType>, u32)> {
        section_def(name).map(|d| (d.prog_type, d.expected_attach_type, d.prog_flags))
    }

    #[test]
    fn names_map_to_libbpf_types() {
        assert_eq!(def("xdp"), Some((ProgType::Xdp, Some(AttachType::Xdp), 0)));
        assert_eq!(def("xdp.frags"), Some((ProgType::Xdp, Some(AttachType::Xdp), BPF_F_XDP_HAS_FRAGS)));
        assert_eq!(def("xdp/devmap"), Some((ProgType::Xdp, Some(AttachType::XdpDevmap), 0)));
        assert_eq!(def("tc"), Some((ProgType::SchedCls, None, 0)));
        assert_eq!(def("tcx/ingress"), Some((ProgType::SchedCls, Some(AttachType::TcxIngress), 0)));
        assert_eq!(def("classifier"), Some((ProgType::SchedCls, None, 0)));
        assert_eq!(def("socket"), Some((ProgType::SocketFilter, None, 0)));
        assert_eq!(def("cgroup_skb/ingress"), Some((ProgType::CgroupSkb, Some(AttachType::CgroupInetIngress), 0)));
        assert_eq!(def("cgroup/connect4"), Some((ProgType::CgroupSockAddr, Some(AttachType::CgroupInet4Connect), 0)));
        assert_eq!(def("sk_msg"), Some((ProgType::SkMsg, Some(AttachType::SkMsgVerdict), 0)));
        assert_eq!(def("sk_skb/stream_parser"), Some((ProgType::SkSkb, Some(AttachType::SkSkbStreamParser), 0)));
        assert_eq!(def("lsm.s/file_open"), Some((ProgType::Lsm, Some(AttachType::LsmMac), BPF_F_SLEEPABLE)));
        assert_eq!(def("syscall"), Some((ProgType::Syscall, None, BPF_F_SLEEPABLE)));
    }

    #[test]
    fn a_plus_pattern_needs_the_bare_name_or_a_slash() {
        assert_eq!(def("kprobe/do_unlinkat"), Some((ProgType::Kprobe, None, 0)));
        assert_eq!(def("kprobe"), Some((ProgType::Kprobe, None, 0)));
        assert_eq!(def("kprobex"), None);
        assert_eq!(def("tp/syscalls/sys_enter_openat"), Some((ProgType::Tracepoint, None, 0)));
        assert_eq!(def("raw_tp.w/x"), Some((ProgType::RawTracepointWritable, None, 0)));
        assert_eq!(def("fentry/tcp_v4_connect"), Some((ProgType::Tracing, Some(AttachType::TraceFentry), 0)));
        // Exact rows are exact: "xdp_foo" and "socket1" are not XDP or socket filters.
        assert_eq!(def("xdp_foo"), None);
        assert_eq!(def("socket1"), None);
        assert_eq!(def(".text"), None);
    }
}
