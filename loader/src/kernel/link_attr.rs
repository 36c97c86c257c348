//! The `union bpf_attr` layouts of the link and query commands, and the
//! head of `struct bpf_link_info`, as prefixes of Linux 6.12's
//! `include/uapi/linux/bpf.h` (see [`super::attr`] for why a prefix is
//! enough). Padding is spelled out so every byte is an initialised integer.

use super::attr::Attr;

/// Implements [`Attr`] for plain kernel structs, after checking at compile
/// time that their fields leave no implicit padding.
macro_rules! attr_structs {
    ($($name:ident: [$($ty:ty),* $(,)?];)*) => {$(
        const _: () = assert!(size_of::<$name>() == 0 $(+ size_of::<$ty>())*, "implicit padding");
        // SAFETY: `#[repr(C)]`, no implicit padding (asserted above), and
        // every field is an integer.
        unsafe impl Attr for $name {}
    )*};
}

/// `BPF_LINK_CREATE`, with the `tcx` member of its trailing union.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkCreateAttr {
    pub(crate) prog_fd: u32,
    /// `target_fd` / `target_ifindex`.
    pub(crate) target_ifindex: u32,
    pub(crate) attach_type: u32,
    /// For XDP, the `XDP_FLAGS_*` mode bits.
    pub(crate) flags: u32,
    /// `tcx.relative_fd` / `tcx.relative_id`.
    pub(crate) relative_fd: u32,
    pub(crate) _pad0: u32,
    pub(crate) expected_revision: u64,
}

/// `BPF_LINK_DETACH`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkDetachAttr {
    pub(crate) link_fd: u32,
}

/// `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProgQueryAttr {
    /// `target_fd` / `target_ifindex`.
    pub(crate) target_ifindex: u32,
    pub(crate) attach_type: u32,
    pub(crate) query_flags: u32,
    pub(crate) attach_flags: u32,
    pub(crate) prog_ids: u64,
    /// In: the capacity of `prog_ids` and `link_ids`; out: how many there are.
    pub(crate) count: u32,
    pub(crate) _pad0: u32,
    pub(crate) prog_attach_flags: u64,
    pub(crate) link_ids: u64,
    pub(crate) link_attach_flags: u64,
    pub(crate) revision: u64,
}

/// The head of `struct bpf_link_info`, with the first two words of its
/// union (`xdp.ifindex`; `tcx.ifindex`, `tcx.attach_type`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkInfoRaw {
    pub(crate) link_type: u32,
    pub(crate) id: u32,
    pub(crate) prog_id: u32,
    pub(crate) _pad0: u32,
    pub(crate) ifindex: u32,
    pub(crate) attach_type: u32,
}

attr_structs! {
    LinkCreateAttr: [u32, u32, u32, u32, u32, u32, u64];
    LinkDetachAttr: [u32];
    ProgQueryAttr: [u32, u32, u32, u32, u64, u32, u32, u64, u64, u64, u64];
    LinkInfoRaw: [u32, u32, u32, u32, u32, u32];
}

/// `BPF_LINK_TYPE_XDP`, `BPF_LINK_TYPE_TCX` (`enum bpf_link_type`).
pub(crate) const LINK_TYPE_XDP: u32 = 6;
pub(crate) const LINK_TYPE_TCX: u32 = 11;

/// `XDP_FLAGS_SKB_MODE`, `XDP_FLAGS_DRV_MODE` (`linux/if_link.h`).
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// `BPF_FS_MAGIC` (`linux/magic.h`): `statfs` of a bpf filesystem.
pub(crate) const BPF_FS_MAGIC: u32 = 0xcafe4a11;

#[cfg(test)]
mod tests {
    //! Every offset, size and constant above, and the rtnetlink constants
    //! of `netlink.rs`, checked against the C compiler's view of the
    //! kernel's headers, when the kernel source is on the machine.

    use std::mem::offset_of;
    use std::path::Path;

    use super::*;
    use crate::kernel::Cmd;
    use crate::kernel::attr::tests::compare_with_c;

    const UAPI: &str = "/usr/src/linux-source-6.12/include/uapi/linux";

    fn checks() -> Vec<(String, usize)> {
        let mut checks: Vec<(String, usize)> = Vec::new();
        let mut field = |c: &str, rust: usize| checks.push((c.to_owned(), rust));
        field("offsetof(union bpf_attr, link_create.prog_fd)", offset_of!(LinkCreateAttr, prog_fd));
        field("offsetof(union bpf_attr, link_create.target_ifindex)", offset_of!(LinkCreateAttr, target_ifindex));
        field("offsetof(union bpf_attr, link_create.attach_type)", offset_of!(LinkCreateAttr, attach_type));
        field("offsetof(union bpf_attr, link_create.flags)", offset_of!(LinkCreateAttr, flags));
        field("offsetof(union bpf_attr, link_create.tcx.relative_fd)", offset_of!(LinkCreateAttr, relative_fd));
        field("offsetof(union bpf_attr, link_create.tcx.relative_id)", offset_of!(LinkCreateAttr, relative_fd));
        field(
            "offsetof(union bpf_attr, link_create.tcx.expected_revision)",
            offset_of!(LinkCreateAttr, expected_revision),
        );
        field("offsetof(union bpf_attr, link_create.tcx.expected_revision) + 8", size_of::<LinkCreateAttr>());
        field("offsetof(union bpf_attr, link_detach.link_fd)", offset_of!(LinkDetachAttr, link_fd));
        field("sizeof(((union bpf_attr *)0)->link_detach)", size_of::<LinkDetachAttr>());
        field("offsetof(union bpf_attr, query.target_ifindex)", offset_of!(ProgQueryAttr, target_ifindex));
        field("offsetof(union bpf_attr, query.attach_type)", offset_of!(ProgQueryAttr, attach_type));
        field("offsetof(union bpf_attr, query.query_flags)", offset_of!(ProgQueryAttr, query_flags));
        field("offsetof(union bpf_attr, query.attach_flags)", offset_of!(ProgQueryAttr, attach_flags));
        field("offsetof(union bpf_attr, query.prog_ids)", offset_of!(ProgQueryAttr, prog_ids));
        field("offsetof(union bpf_attr, query.count)", offset_of!(ProgQueryAttr, count));
        field("offsetof(union bpf_attr, query.prog_attach_flags)", offset_of!(ProgQueryAttr, prog_attach_flags));
        field("offsetof(union bpf_attr, query.link_ids)", offset_of!(ProgQueryAttr, link_ids));
        field("offsetof(union bpf_attr, query.link_attach_flags)", offset_of!(ProgQueryAttr, link_attach_flags));
        field("offsetof(union bpf_attr, query.revision)", offset_of!(ProgQueryAttr, revision));
        field("sizeof(((union bpf_attr *)0)->query)", size_of::<ProgQueryAttr>());
        field("offsetof(union bpf_attr, link_id)", 0);
        field("offsetof(struct bpf_link_info, type)", offset_of!(LinkInfoRaw, link_type));
        field("offsetof(struct bpf_link_info, id)", offset_of!(LinkInfoRaw, id));
        field("offsetof(struct bpf_link_info, prog_id)", offset_of!(LinkInfoRaw, prog_id));
        field("offsetof(struct bpf_link_info, xdp.ifindex)", offset_of!(LinkInfoRaw, ifindex));
        field("offsetof(struct bpf_link_info, tcx.ifindex)", offset_of!(LinkInfoRaw, ifindex));
        field("offsetof(struct bpf_link_info, tcx.attach_type)", offset_of!(LinkInfoRaw, attach_type));
        field("offsetof(struct bpf_link_info, tcx.attach_type) + 4", size_of::<LinkInfoRaw>());
        field("BPF_LINK_TYPE_XDP", LINK_TYPE_XDP as usize);
        field("BPF_LINK_TYPE_TCX", LINK_TYPE_TCX as usize);
        field("XDP_FLAGS_SKB_MODE", XDP_FLAGS_SKB_MODE as usize);
        field("XDP_FLAGS_DRV_MODE", XDP_FLAGS_DRV_MODE as usize);
        field("BPF_FS_MAGIC", BPF_FS_MAGIC as usize);
        {
            use crate::kernel::netlink::*;
            let consts: [(&str, u32); 33] = [
                ("NLMSG_ERROR", NLMSG_ERROR.into()),
                ("NLMSG_DONE", NLMSG_DONE.into()),
                ("RTM_GETLINK", RTM_GETLINK.into()),
                ("RTM_SETLINK", RTM_SETLINK.into()),
                ("RTM_NEWQDISC", RTM_NEWQDISC.into()),
                ("RTM_NEWTFILTER", RTM_NEWTFILTER.into()),
                ("RTM_DELTFILTER", RTM_DELTFILTER.into()),
                ("RTM_GETTFILTER", RTM_GETTFILTER.into()),
                ("NLM_F_REQUEST", NLM_F_REQUEST.into()),
                ("NLM_F_ACK", NLM_F_ACK.into()),
                ("NLM_F_EXCL", NLM_F_EXCL.into()),
                ("NLM_F_CREATE", NLM_F_CREATE.into()),
                ("NLM_F_DUMP", NLM_F_DUMP.into()),
                ("NLM_F_ACK_TLVS", NLM_F_ACK_TLVS.into()),
                ("NLMSGERR_ATTR_MSG", NLMSGERR_ATTR_MSG.into()),
                ("NETLINK_CAP_ACK", NETLINK_CAP_ACK as u32),
                ("NETLINK_EXT_ACK", NETLINK_EXT_ACK as u32),
                ("NLA_F_NESTED", NLA_F_NESTED.into()),
                ("IFLA_XDP", IFLA_XDP.into()),
                ("IFLA_XDP_FD", IFLA_XDP_FD.into()),
                ("IFLA_XDP_FLAGS", IFLA_XDP_FLAGS.into()),
                ("IFLA_XDP_DRV_PROG_ID", IFLA_XDP_DRV_PROG_ID.into()),
                ("IFLA_XDP_SKB_PROG_ID", IFLA_XDP_SKB_PROG_ID.into()),
                ("TCA_KIND", TCA_KIND.into()),
                ("TCA_OPTIONS", TCA_OPTIONS.into()),
                ("TCA_BPF_FD", TCA_BPF_FD.into()),
                ("TCA_BPF_NAME", TCA_BPF_NAME.into()),
                ("TCA_BPF_FLAGS", TCA_BPF_FLAGS.into()),
                ("TCA_BPF_ID", TCA_BPF_ID.into()),
                ("TCA_BPF_FLAG_ACT_DIRECT", TCA_BPF_FLAG_ACT_DIRECT),
                ("TC_H_CLSACT", TC_H_CLSACT),
                ("TC_H_MIN_INGRESS", TC_H_MIN_INGRESS),
                ("TC_H_MIN_EGRESS", TC_H_MIN_EGRESS),
            ];
            for (c, rust) in consts {
                field(c, rust as usize);
            }
            field("ETH_P_ALL", ETH_P_ALL.into());
            field("sizeof(struct nlmsghdr)", 16);
            field("sizeof(struct tcmsg)", 20);
            field("sizeof(struct ifinfomsg)", 16);
            field("sizeof(struct nlattr)", 4);
            field("sizeof(struct nlmsgerr)", 4 + 16);
        }
        for cmd in [Cmd::ProgQuery, Cmd::LinkCreate, Cmd::LinkGetFdById, Cmd::LinkGetNextId, Cmd::LinkDetach] {
            field(cmd.name(), cmd.value() as usize);
        }
        checks
    }

    #[test]
    fn link_layouts_match_the_kernel_headers() {
        let checks = checks();
        if !Path::new(UAPI).exists() {
            eprintln!(
                "link_layouts_match_the_kernel_headers: skipped, {UAPI} is absent ({} checks not run)",
                checks.len()
            );
            return;
        }
        // bpf.h from the kernel source, as attr.rs reads it; the netlink
        // headers (stable uapi) from the system, whose own includes they
        // agree with.
        let mut preamble = format!("#include \"{UAPI}/bpf.h\"\n");
        for header in ["if_link", "magic", "netlink", "rtnetlink", "pkt_sched", "pkt_cls", "if_ether"] {
            preamble.push_str(&format!("#include <linux/{header}.h>\n"));
        }
        compare_with_c("link-layout", &preamble, &checks);
    }
}
