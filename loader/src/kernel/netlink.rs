//! rtnetlink, the little of it attaching needs: the clsact qdisc and
//! cls_bpf filters in direct-action mode (tc before tcx, or when tcx is
//! not wanted), and the XDP state of a device (which programs it runs, and
//! removing one attached without a link).
//!
//! What it is not: a general netlink library. Messages are built and read
//! as bytes here; only the attributes bpfx sends or reads are known.
//! Every request acts on the network namespace of the calling thread.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Message types (`linux/rtnetlink.h`, `linux/netlink.h`).
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
pub(crate) const RTM_NEWQDISC: u16 = 36;
pub(crate) const RTM_NEWTFILTER: u16 = 44;
pub(crate) const RTM_DELTFILTER: u16 = 45;
pub(crate) const RTM_GETTFILTER: u16 = 46;

/// Header flags.
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
/// In an error message: the kernel appended attributes (`NLMSGERR_ATTR_*`).
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;
pub(crate) const NETLINK_CAP_ACK: i32 = 10;
pub(crate) const NETLINK_EXT_ACK: i32 = 11;
pub(crate) const NLA_F_NESTED: u16 = 1 << 15;

/// `IFLA_XDP` and its nested attributes (`linux/if_link.h`).
pub(crate) const IFLA_XDP: u16 = 43;
pub(crate) const IFLA_XDP_FD: u16 = 1;
pub(crate) const IFLA_XDP_FLAGS: u16 = 3;
pub(crate) const IFLA_XDP_DRV_PROG_ID: u16 = 5;
pub(crate) const IFLA_XDP_SKB_PROG_ID: u16 = 6;

/// Traffic control (`linux/rtnetlink.h`, `linux/pkt_sched.h`,
/// `linux/pkt_cls.h`).
pub(crate) const TCA_KIND: u16 = 1;
pub(crate) const TCA_OPTIONS: u16 = 2;
pub(crate) const TCA_BPF_FD: u16 = 6;
pub(crate) const TCA_BPF_NAME: u16 = 7;
pub(crate) const TCA_BPF_FLAGS: u16 = 8;
pub(crate) const TCA_BPF_ID: u16 = 11;
pub(crate) const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
pub(crate) const TC_H_CLSACT: u32 = 0xffff_fff1;
pub(crate) const TC_H_MIN_INGRESS: u32 = 0xfff2;
pub(crate) const TC_H_MIN_EGRESS: u32 = 0xfff3;
/// `ETH_P_ALL`, which filters carry in network byte order.
pub(crate) const ETH_P_ALL: u16 = 0x0003;

const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const RECV_BUF: usize = 64 * 1024;

/// A request the kernel refused: its errno and, when it gave one, its
/// extended-ack message (`Underlying driver does not support XDP in native
/// mode`).
#[derive(Debug)]
pub(crate) struct NlError {
    pub(crate) source: io::Error,
    pub(crate) message: Option<String>,
}

impl From<io::Error> for NlError {
    fn from(source: io::Error) -> Self {
        NlError { source, message: None }
    }
}

/// A cls_bpf filter as a dump lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BpfFilter {
    pub(crate) prio: u16,
    pub(crate) handle: u32,
    pub(crate) prog_id: u32,
    pub(crate) name: String,
}

/// The programs a device runs in each XDP mode (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XdpProgs {
    pub(crate) skb: u32,
    pub(crate) drv: u32,
}

/// A `NETLINK_ROUTE` socket in the calling thread's network namespace.
pub(crate) struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    pub(crate) fn open() -> io::Result<Rtnl> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Both are best effort: without them errors come without the
        // kernel's message, and with the request echoed back.
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let on: libc::c_int = 1;
            // SAFETY: `on` is a live c_int and its size is passed.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_NETLINK,
                    opt,
                    (&on as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        Ok(Rtnl { fd, seq: 0 })
    }

    /// Adds the clsact qdisc to the device; `false` when it already had one.
    pub(crate) fn add_clsact(&mut self, ifindex: u32) -> Result<bool, NlError> {
        let mut msg = Msg::new(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &tcmsg(ifindex, 0xffff_0000, TC_H_CLSACT, 0));
        msg.attr(TCA_KIND, b"clsact\0");
        match self.request(msg) {
            Ok(_) => Ok(true),
            Err(e) if e.source.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds a cls_bpf filter in direct-action mode at `parent` (the
    /// clsact's ingress or egress) with the program of `prog`.
    pub(crate) fn add_bpf_filter(
        &mut self,
        ifindex: u32,
        parent: u32,
        prio: u16,
        handle: u32,
        prog: BorrowedFd<'_>,
        name: &str,
    ) -> Result<(), NlError> {
        let mut msg =
            Msg::new(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &tcmsg(ifindex, handle, parent, filter_info(prio)));
        msg.attr(TCA_KIND, b"bpf\0");
        msg.nest(TCA_OPTIONS, |m| {
            m.attr(TCA_BPF_FD, &(prog.as_raw_fd() as u32).to_ne_bytes());
            let mut name = name.as_bytes().to_vec();
            name.push(0);
            m.attr(TCA_BPF_NAME, &name);
            m.attr(TCA_BPF_FLAGS, &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes());
        });
        self.request(msg).map(drop)
    }

    /// The cls_bpf filters at `parent` of the device.
    pub(crate) fn bpf_filters(&mut self, ifindex: u32, parent: u32) -> Result<Vec<BpfFilter>, NlError> {
        let msg = Msg::new(RTM_GETTFILTER, NLM_F_DUMP, &tcmsg(ifindex, 0, parent, 0));
        let mut filters = Vec::new();
        for reply in self.request(msg)? {
            let Some(tc) = reply.get(..20) else { continue };
            let handle = u32_at(tc, 8);
            let info = u32_at(tc, 16);
            let mut is_bpf = false;
            let mut found = None;
            for (ty, data) in attrs(&reply[20..]) {
                match ty {
                    TCA_KIND => is_bpf = data.strip_suffix(b"\0").unwrap_or(data) == b"bpf",
                    TCA_OPTIONS => {
                        let (mut prog_id, mut name) = (None, String::new());
                        for (ty, data) in attrs(data) {
                            match ty {
                                TCA_BPF_ID if data.len() >= 4 => prog_id = Some(u32_at(data, 0)),
                                TCA_BPF_NAME => name = c_text(data),
                                _ => {}
                            }
                        }
                        found = prog_id.map(|prog_id| (prog_id, name));
                    }
                    _ => {}
                }
            }
            if let (true, Some((prog_id, name))) = (is_bpf, found) {
                filters.push(BpfFilter { prio: (info >> 16) as u16, handle, prog_id, name });
            }
        }
        Ok(filters)
    }

    pub(crate) fn del_filter(&mut self, ifindex: u32, parent: u32, prio: u16, handle: u32) -> Result<(), NlError> {
        let mut msg = Msg::new(RTM_DELTFILTER, 0, &tcmsg(ifindex, handle, parent, filter_info(prio)));
        msg.attr(TCA_KIND, b"bpf\0");
        self.request(msg).map(drop)
    }

    /// The programs the device runs in generic and native XDP mode.
    pub(crate) fn xdp_progs(&mut self, ifindex: u32) -> Result<XdpProgs, NlError> {
        let msg = Msg::new(RTM_GETLINK, 0, &ifinfomsg(ifindex));
        let mut progs = XdpProgs::default();
        for reply in self.request(msg)? {
            for (ty, data) in attrs(reply.get(16..).unwrap_or_default()) {
                if ty != IFLA_XDP {
                    continue;
                }
                for (ty, data) in attrs(data) {
                    match ty {
                        IFLA_XDP_SKB_PROG_ID if data.len() >= 4 => progs.skb = u32_at(data, 0),
                        IFLA_XDP_DRV_PROG_ID if data.len() >= 4 => progs.drv = u32_at(data, 0),
                        _ => {}
                    }
                }
            }
        }
        Ok(progs)
    }

    /// Removes the program attached without a link in the XDP mode of
    /// `mode_flags` (`XDP_FLAGS_SKB_MODE` or `XDP_FLAGS_DRV_MODE`).
    pub(crate) fn xdp_detach(&mut self, ifindex: u32, mode_flags: u32) -> Result<(), NlError> {
        let mut msg = Msg::new(RTM_SETLINK, 0, &ifinfomsg(ifindex));
        msg.nest(IFLA_XDP, |m| {
            m.attr(IFLA_XDP_FD, &(-1i32).to_ne_bytes());
            m.attr(IFLA_XDP_FLAGS, &mode_flags.to_ne_bytes());
        });
        self.request(msg).map(drop)
    }

    /// Sends one request and gathers the replies up to its acknowledgement
    /// (or, for a dump, its end).
    fn request(&mut self, msg: Msg) -> Result<Vec<Vec<u8>>, NlError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        // SAFETY: `bytes` is a live buffer of the length passed; the kernel
        // reads it only during the call.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error().into());
        }
        let mut replies = Vec::new();
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            // SAFETY: `buf` is a live, writable buffer of the length passed.
            let got = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if got < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            let mut rest = &buf[..got as usize];
            while rest.len() >= NLMSG_HDRLEN {
                let len = (u32_at(rest, 0) as usize).clamp(NLMSG_HDRLEN, rest.len());
                let (ty, flags, msg_seq) = (u16_at(rest, 4), u16_at(rest, 6), u32_at(rest, 8));
                let body = &rest[NLMSG_HDRLEN..len];
                rest = &rest[align4(len).min(rest.len())..];
                if msg_seq != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        let errno = if body.len() >= 4 { i32::from_ne_bytes(body[..4].try_into().unwrap()) } else { 0 };
                        if errno == 0 {
                            return Ok(replies);
                        }
                        return Err(NlError {
                            source: io::Error::from_raw_os_error(-errno),
                            message: ext_ack(flags, body),
                        });
                    }
                    _ => replies.push(body.to_vec()),
                }
            }
        }
    }
}

/// The kernel's message in an error reply: with `NETLINK_CAP_ACK` the
/// error code and the request's header come first, then the attributes.
fn ext_ack(flags: u16, body: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let capped = 4 + NLMSG_HDRLEN;
    attrs(body.get(capped..)?).find(|(ty, _)| *ty == NLMSGERR_ATTR_MSG).map(|(_, data)| c_text(data))
}

/// A request being built: header, family header, attributes.
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(ty: u16, flags: u16, family_header: &[u8]) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(family_header);
        Msg { buf }
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = NLA_HDRLEN + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
    }

    fn nest(&mut self, ty: u16, fill: impl FnOnce(&mut Msg)) {
        let start = self.buf.len();
        self.attr(ty | NLA_F_NESTED, &[]);
        fill(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// `struct tcmsg`.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..12].copy_from_slice(&handle.to_ne_bytes());
    m[12..16].copy_from_slice(&parent.to_ne_bytes());
    m[16..20].copy_from_slice(&info.to_ne_bytes());
    m
}

/// `struct ifinfomsg` naming one device.
fn ifinfomsg(ifindex: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m
}

/// A filter's `tcm_info`: priority above, protocol (network order) below.
fn filter_info(prio: u16) -> u32 {
    (u32::from(prio) << 16) | u32::from(ETH_P_ALL.to_be())
}

/// The attributes in `bytes`, types without the nested and byte-order flags.
fn attrs(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if bytes.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16_at(bytes, 0));
        if len < NLA_HDRLEN || len > bytes.len() {
            return None;
        }
        let item = (u16_at(bytes, 2) & 0x3fff, &bytes[NLA_HDRLEN..len]);
        bytes = &bytes[align4(len).min(bytes.len())..];
        Some(item)
    })
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn c_text(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_carry_their_total_length() {
        let mut msg = Msg::new(RTM_SETLINK, 0, &ifinfomsg(7));
        msg.nest(IFLA_XDP, |m| {
            m.attr(IFLA_XDP_FD, &(-1i32).to_ne_bytes());
            m.attr(TCA_BPF_NAME, b"ab\0");
        });
        let bytes = msg.finish(9);
        assert_eq!(u32_at(&bytes, 0) as usize, bytes.len());
        assert_eq!(u32_at(&bytes, 8), 9);
        assert_eq!(u16_at(&bytes, 6), NLM_F_REQUEST | NLM_F_ACK);
        let outer: Vec<_> = attrs(&bytes[32..]).collect();
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].0, IFLA_XDP);
        let inner: Vec<_> = attrs(outer[0].1).collect();
        assert_eq!(inner, [(IFLA_XDP_FD, &[0xff; 4][..]), (TCA_BPF_NAME, &b"ab\0"[..])]);
    }

    #[test]
    fn attributes_past_the_end_stop_the_walk() {
        let bytes = [8u8, 0, 1, 0, 1, 2, 3, 4, 200, 0, 2, 0, 0, 0];
        let seen: Vec<_> = attrs(&bytes).collect();
        assert_eq!(seen, [(1, &[1u8, 2, 3, 4][..])]);
    }
}
