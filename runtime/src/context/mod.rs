//! Program contexts: what `r1` points to at entry, and the packet a run
//! works on.
//!
//! A [`Context`] owns the memory of one run's input — the `--mem` bytes of a
//! raw program, or a packet in a kernel-sized frame with XDP headroom and
//! tailroom — and the context struct programs read. It gives the runtime
//! the regions that memory adds to the table, and keeps what helpers change
//! (the packet's bounds, its hash, VLAN tag) in one place, so the caller
//! sees the packet as the program left it.
//!
//! The XDP and socket-buffer context regions hold the uapi struct
//! (`struct xdp_md`, `struct __sk_buff`) verbatim at offset `UAPI`, behind
//! the packet pointers as 64-bit fields (as the kernel's `struct xdp_buff`
//! holds them). Programs built against the uapi headers reach them through
//! [`convert`], which rewrites their context accesses as the kernel's
//! verifier does; [`Context::test_run`] builds a context the way
//! `BPF_PROG_TEST_RUN` builds it, so offline runs can be held against the
//! kernel's.

pub mod convert;

use bpfx_isa::abi::ProgType;

use crate::buffer::Buffer;
use crate::region::{Region, RegionKind};

/// Room in front of an XDP packet (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: usize = 256;
/// `sizeof(struct xdp_frame)` on 64-bit: the start of the headroom a
/// program may not move `data` or `data_meta` into.
pub const XDP_FRAME_SIZE: usize = 40;
/// Tailroom the kernel reserves for `struct skb_shared_info`.
pub const SKB_SHARED_INFO_SIZE: usize = 320;
/// The smallest frame a packet gets (a page, as `BPF_PROG_TEST_RUN` uses).
pub const MIN_FRAME: usize = 4096;
/// Bytes of an Ethernet header.
pub const ETH_HLEN: usize = 14;
/// Bytes of a VLAN tag.
pub const VLAN_HLEN: usize = 4;
/// The most metadata XDP allows in front of a packet.
pub const XDP_META_MAX: usize = 255;

/// Field offsets of bpfx's XDP context region (read-only to programs):
/// the packet pointers, then `struct xdp_md` at [`xdp_ctx::UAPI`], whose
/// own pointer fields (`u32`s) are never read, since conversion turns
/// their loads into loads of the 64-bit pointers.
pub mod xdp_ctx {
    pub const DATA: usize = 0;
    pub const DATA_END: usize = 8;
    pub const DATA_META: usize = 16;
    /// Where `struct xdp_md` starts: its scalar fields land on the offsets
    /// below, its pointer fields on the pointers' own slots.
    pub const UAPI: usize = 20;
    pub const DATA_HARD_START: usize = 24;
    pub const INGRESS_IFINDEX: usize = UAPI + 12;
    pub const RX_QUEUE_INDEX: usize = UAPI + 16;
    pub const EGRESS_IFINDEX: usize = UAPI + 20;
    pub const FRAME_SZ: usize = 44;
    pub const SIZE: usize = 48;
}

/// Field offsets of bpfx's socket-buffer context region (tc, socket
/// filter, cgroup_skb): the packet pointers, then `struct __sk_buff` at
/// [`skb_ctx::UAPI`]; each field below is `UAPI` plus its uapi offset.
pub mod skb_ctx {
    pub const DATA: usize = 0;
    pub const DATA_END: usize = 8;
    pub const DATA_META: usize = 16;
    /// Where `struct __sk_buff` starts.
    pub const UAPI: usize = 24;
    /// Packet length in bytes.
    pub const LEN: usize = UAPI;
    pub const PKT_TYPE: usize = UAPI + 4;
    pub const MARK: usize = UAPI + 8;
    pub const QUEUE_MAPPING: usize = UAPI + 12;
    /// The ethertype, in network order in the low 16 bits.
    pub const PROTOCOL: usize = UAPI + 16;
    /// Whether an out-of-band (hardware-accelerated) VLAN tag is present.
    pub const VLAN_PRESENT: usize = UAPI + 20;
    pub const VLAN_TCI: usize = UAPI + 24;
    /// The tag's protocol, in network order in the low 16 bits.
    pub const VLAN_PROTO: usize = UAPI + 28;
    pub const PRIORITY: usize = UAPI + 32;
    pub const INGRESS_IFINDEX: usize = UAPI + 36;
    pub const IFINDEX: usize = UAPI + 40;
    pub const TC_INDEX: usize = UAPI + 44;
    /// `cb[5]`.
    pub const CB: usize = UAPI + 48;
    /// The flow hash; 0 when not computed.
    pub const HASH: usize = UAPI + 68;
    pub const TC_CLASSID: usize = UAPI + 72;
    pub const NAPI_ID: usize = UAPI + 84;
    pub const FAMILY: usize = UAPI + 88;
    pub const REMOTE_IP4: usize = UAPI + 92;
    pub const LOCAL_IP4: usize = UAPI + 96;
    pub const REMOTE_IP6: usize = UAPI + 100;
    pub const LOCAL_IP6: usize = UAPI + 116;
    pub const TSTAMP: usize = UAPI + 152;
    pub const WIRE_LEN: usize = UAPI + 160;
    pub const GSO_SEGS: usize = UAPI + 164;
    pub const GSO_SIZE: usize = UAPI + 176;
    pub const HWTSTAMP: usize = UAPI + 184;
    /// `sizeof(struct __sk_buff)`.
    pub const UAPI_SIZE: usize = 192;
    pub const SIZE: usize = UAPI + UAPI_SIZE;
}

/// A packet in a frame with headroom and tailroom, as the kernel lays one
/// out: `meta <= data <= end <= hard_end <= frame length`.
#[derive(Debug)]
pub struct Packet {
    buf: Buffer,
    meta: usize,
    data: usize,
    end: usize,
    hard_end: usize,
    /// The widest `meta..end` the packet has had: outside it, the frame
    /// holds only zeros. Every write into the frame lands inside the
    /// bounds of the moment (a program's packet regions are those, and
    /// helpers write through the methods here, which widen this whenever
    /// they move a bound), so a frame reused for the next packet is
    /// cleared here only rather than whole.
    touched: (usize, usize),
}

impl Packet {
    /// `bytes` at [`XDP_PACKET_HEADROOM`] in a frame of at least a page.
    pub fn new(bytes: &[u8]) -> Packet {
        Packet::new_reusing(bytes, &mut None)
    }

    /// [`Packet::new`] in `spare`'s frame when it has the size needed
    /// (cleared where that packet may have written).
    fn new_reusing(bytes: &[u8], spare: &mut Option<Packet>) -> Packet {
        let frame = MIN_FRAME.max(XDP_PACKET_HEADROOM + bytes.len() + SKB_SHARED_INFO_SIZE);
        let mut buf = match spare.take() {
            Some(mut old) if old.buf.len() == frame => {
                let (lo, hi) = old.touched;
                old.buf.fill(lo, hi - lo, 0);
                old.buf
            }
            _ => Buffer::zeroed(frame),
        };
        buf.write(XDP_PACKET_HEADROOM, bytes);
        let (data, end) = (XDP_PACKET_HEADROOM, XDP_PACKET_HEADROOM + bytes.len());
        Packet { buf, meta: data, data, end, hard_end: frame - SKB_SHARED_INFO_SIZE, touched: (data, end) }
    }

    /// Takes the current bounds into [`Packet::touched`]; every method
    /// that moves a bound outward calls it before anything can write
    /// there.
    fn widen(&mut self) {
        self.touched = (self.touched.0.min(self.meta), self.touched.1.max(self.end));
    }

    /// The packet's bytes (`data..data_end`).
    pub fn bytes(&self) -> Vec<u8> {
        self.buf.to_vec(self.data, self.len())
    }

    /// The metadata in front of the packet (`data_meta..data`).
    pub fn metadata(&self) -> Vec<u8> {
        self.buf.to_vec(self.meta, self.data - self.meta)
    }

    pub fn len(&self) -> usize {
        self.end - self.data
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes between the frame's start and `data`.
    pub fn headroom(&self) -> usize {
        self.data
    }

    pub(crate) fn data_addr(&self) -> u64 {
        self.buf.addr(self.data)
    }

    pub(crate) fn end_addr(&self) -> u64 {
        self.buf.addr(self.end)
    }

    pub(crate) fn meta_addr(&self) -> u64 {
        self.buf.addr(self.meta)
    }

    pub(crate) fn frame_len(&self) -> usize {
        self.buf.len()
    }

    /// Copies `out.len()` bytes from `off` (relative to `data`); false when
    /// they are not all inside the packet.
    pub(crate) fn read(&self, off: u64, out: &mut [u8]) -> bool {
        match self.span(off, out.len()) {
            Some(at) => {
                self.buf.read(at, out);
                true
            }
            None => false,
        }
    }

    /// Writes `bytes` at `off` (relative to `data`); false when they do not
    /// all fit inside the packet.
    pub(crate) fn write(&mut self, off: u64, bytes: &[u8]) -> bool {
        match self.span(off, bytes.len()) {
            Some(at) => {
                self.buf.write(at, bytes);
                true
            }
            None => false,
        }
    }

    fn span(&self, off: u64, len: usize) -> Option<usize> {
        let off = usize::try_from(off).ok()?;
        let end = off.checked_add(len)?;
        (end <= self.len()).then_some(self.data + off)
    }

    /// `bpf_xdp_adjust_head`: moves `data` by `delta` (metadata moves with
    /// it). Errors are negative errnos.
    pub(crate) fn adjust_head(&mut self, delta: i64) -> Result<(), i64> {
        let metalen = self.data - self.meta;
        let new_data = self.data as i64 + delta;
        if new_data < (XDP_FRAME_SIZE + metalen) as i64 || new_data > (self.end - ETH_HLEN.min(self.end)) as i64 {
            return Err(EINVAL);
        }
        let new_data = new_data as usize;
        let new_meta = new_data - metalen;
        if metalen > 0 {
            self.buf.copy_within(self.meta, new_meta, metalen);
        }
        self.meta = new_meta;
        self.data = new_data;
        self.widen();
        Ok(())
    }

    /// `bpf_xdp_adjust_tail`: moves `data_end` by `delta`, zeroing what it
    /// grows into.
    pub(crate) fn adjust_tail(&mut self, delta: i64) -> Result<(), i64> {
        let new_end = self.end as i64 + delta;
        if new_end > self.hard_end as i64 || new_end < (self.data + ETH_HLEN) as i64 {
            return Err(EINVAL);
        }
        let new_end = new_end as usize;
        if new_end > self.end {
            self.buf.fill(self.end, new_end - self.end, 0);
        }
        self.end = new_end;
        self.widen();
        Ok(())
    }

    /// `bpf_xdp_adjust_meta`: moves `data_meta` by `delta`.
    pub(crate) fn adjust_meta(&mut self, delta: i64) -> Result<(), i64> {
        let new_meta = self.meta as i64 + delta;
        if new_meta < XDP_FRAME_SIZE as i64 || new_meta > self.data as i64 {
            return Err(EINVAL);
        }
        let metalen = self.data - new_meta as usize;
        if !metalen.is_multiple_of(4) || metalen > XDP_META_MAX {
            return Err(EACCES);
        }
        self.meta = new_meta as usize;
        self.widen();
        Ok(())
    }

    /// Opens `n` bytes at `off` (relative to `data`) by moving the bytes in
    /// front of it into the headroom (how a VLAN tag is inserted).
    pub(crate) fn insert(&mut self, off: usize, n: usize) -> bool {
        if off > self.len() || self.data < XDP_FRAME_SIZE + n {
            return false;
        }
        self.buf.copy_within(self.data, self.data - n, off);
        self.data -= n;
        self.meta = self.data;
        self.widen();
        true
    }

    /// Removes `n` bytes at `off` (relative to `data`) by moving the bytes
    /// in front of it up (how a VLAN tag is removed).
    pub(crate) fn remove(&mut self, off: usize, n: usize) -> bool {
        if off.checked_add(n).is_none_or(|end| end > self.len()) {
            return false;
        }
        self.buf.copy_within(self.data, self.data + n, off);
        self.data += n;
        self.meta = self.data;
        true
    }
}

const EINVAL: i64 = -22;
const EACCES: i64 = -13;

/// `dev->ifindex` of the loopback device, which test runs use.
pub const LOOPBACK_IFINDEX: u32 = 1;
/// `NET_SKB_PAD + NET_IP_ALIGN` on x86-64: the headroom of a test run's skb.
const SKB_HEADROOM: usize = 64;
const EINVAL_ERRNO: i32 = 22;
const EOPNOTSUPP_ERRNO: i32 = 95;
const PACKET_HOST: u32 = 0;
const PACKET_MULTICAST: u32 = 2;
const PACKET_OTHERHOST: u32 = 3;
const ETH_P_802_3_MIN: u16 = 0x0600;
const ETH_P_802_3: u16 = 0x0001;
const ETH_P_802_2: u16 = 0x0004;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;

/// A frame `BPF_PROG_TEST_RUN` would refuse, with the errno it refuses it
/// with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (errno {errno})")]
pub struct Refused {
    pub errno: i32,
    pub reason: String,
}

/// The socket-buffer fields a program may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkbFields {
    pub mark: u32,
    pub priority: u32,
    pub tc_index: u32,
    pub tc_classid: u32,
    pub queue_mapping: u32,
    pub cb: [u32; 5],
}

/// What kind of context a run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    /// `r1` = the input bytes, `r2` = their length (the conformance suite's
    /// convention).
    Raw,
    /// `r1` = bpfx's XDP context ([`xdp_ctx`]) over a packet.
    Xdp,
    /// `r1` = bpfx's socket-buffer context ([`skb_ctx`]) over a packet.
    Skb,
}

impl ContextKind {
    /// The context a program of `prog_type` runs on in bpfx: its packet
    /// context for the types that run on a packet, raw bytes otherwise.
    pub fn of(prog_type: ProgType) -> ContextKind {
        match prog_type {
            ProgType::Xdp => ContextKind::Xdp,
            t if t.runs_on_packet() => ContextKind::Skb,
            _ => ContextKind::Raw,
        }
    }
}

/// The input of one run. The runtime holds it while the program runs;
/// afterwards the caller reads the memory or packet as the program left it.
#[derive(Debug)]
pub struct Context {
    kind: ContextKind,
    /// The raw input bytes, or the context struct.
    ctx: Buffer,
    packet: Option<Packet>,
    /// The packet starts at the network header; the Ethernet header was
    /// taken off in front (socket filters, cgroup_skb).
    l3: bool,
    /// `data_end` stays 0 (cgroup_skb under `BPF_PROG_TEST_RUN`, which
    /// never computes it).
    no_data_end: bool,
}

/// The memory of a context done with, for the next to reuse
/// ([`Context::test_run_reusing`]).
#[derive(Debug, Default)]
pub struct Spare {
    ctx: Option<Buffer>,
    packet: Option<Packet>,
}

impl Default for Context {
    fn default() -> Self {
        Context::raw(&[])
    }
}

impl Context {
    /// A raw context over a copy of `mem`.
    pub fn raw(mem: &[u8]) -> Context {
        Context { kind: ContextKind::Raw, ctx: Buffer::from_bytes(mem), packet: None, l3: false, no_data_end: false }
    }

    /// An XDP context over a copy of `packet`, received on `ifindex`, queue
    /// `rx_queue`.
    pub fn xdp(packet: &[u8], ifindex: u32, rx_queue: u32) -> Context {
        Context::xdp_reusing(packet, ifindex, rx_queue, &mut Spare::default())
    }

    fn xdp_reusing(packet: &[u8], ifindex: u32, rx_queue: u32, spare: &mut Spare) -> Context {
        let mut c = Context {
            kind: ContextKind::Xdp,
            ctx: Buffer::zeroed_reusing(&mut spare.ctx, xdp_ctx::SIZE),
            packet: Some(Packet::new_reusing(packet, &mut spare.packet)),
            l3: false,
            no_data_end: false,
        };
        c.ctx.write_u32(xdp_ctx::INGRESS_IFINDEX, ifindex);
        c.ctx.write_u32(xdp_ctx::RX_QUEUE_INDEX, rx_queue);
        c.sync();
        c
    }

    /// A socket-buffer context over a copy of `packet` (an Ethernet frame),
    /// received on `ifindex`.
    pub fn skb(packet: &[u8], ifindex: u32) -> Context {
        Context::skb_reusing(packet, ifindex, &mut Spare::default())
    }

    fn skb_reusing(packet: &[u8], ifindex: u32, spare: &mut Spare) -> Context {
        let mut c = Context {
            kind: ContextKind::Skb,
            ctx: Buffer::zeroed_reusing(&mut spare.ctx, skb_ctx::SIZE),
            packet: Some(Packet::new_reusing(packet, &mut spare.packet)),
            l3: false,
            no_data_end: false,
        };
        c.ctx.write_u32(skb_ctx::IFINDEX, ifindex);
        c.ctx.write_u32(skb_ctx::INGRESS_IFINDEX, ifindex);
        c.sync_protocol();
        c.sync();
        c
    }

    /// The context `BPF_PROG_TEST_RUN` gives a program of `prog_type` for
    /// `frame` (an Ethernet frame) when called without a context: XDP on
    /// the loopback device's queue 0 with 256 bytes of headroom; skb
    /// programs with `protocol` and `pkt_type` from the Ethernet header as
    /// `eth_type_trans` sets them against the loopback device, `ifindex` 1,
    /// the socket's family and addresses from the IP header, tc programs
    /// seeing the frame from the Ethernet header and the others from the
    /// network header. Frames the kernel refuses are refused with its errno.
    pub fn test_run(prog_type: ProgType, frame: &[u8]) -> Result<Context, Refused> {
        Context::test_run_reusing(prog_type, frame, &mut Spare::default())
    }

    /// [`Context::test_run`] in the memory of a context done with
    /// ([`Context::into_spare`]) where it fits: a replay builds one context
    /// a packet, and a page allocated and freed per packet was a tenth of
    /// its time.
    pub fn test_run_reusing(prog_type: ProgType, frame: &[u8], spare: &mut Spare) -> Result<Context, Refused> {
        let refuse = |errno, reason: String| Err(Refused { errno, reason });
        if frame.len() < ETH_HLEN {
            return refuse(
                EINVAL_ERRNO,
                format!("a frame of {} bytes is shorter than an ethernet header", frame.len()),
            );
        }
        if prog_type == ProgType::Xdp {
            let linear = MIN_FRAME - XDP_PACKET_HEADROOM - SKB_SHARED_INFO_SIZE;
            if frame.len() > linear {
                let reason = format!(
                    "a frame of {} bytes is a multi-buffer XDP frame (over {linear} bytes), which bpfx does not model",
                    frame.len()
                );
                return refuse(EOPNOTSUPP_ERRNO, reason);
            }
            return Ok(Context::xdp_reusing(frame, LOOPBACK_IFINDEX, 0, spare));
        }
        let (tc, cgroup) = match prog_type {
            ProgType::SchedCls | ProgType::SchedAct => (true, false),
            ProgType::SocketFilter => (false, false),
            ProgType::CgroupSkb => (false, true),
            other => return refuse(EINVAL_ERRNO, format!("bpfx builds no packet context for {other} programs")),
        };
        let max = MIN_FRAME - SKB_HEADROOM - SKB_SHARED_INFO_SIZE;
        if frame.len() > max {
            return refuse(
                EINVAL_ERRNO,
                format!("a frame of {} bytes is over the {max} bytes of a test run's skb", frame.len()),
            );
        }
        let mut c = Context::skb_reusing(frame, LOOPBACK_IFINDEX, spare);
        c.ctx.write_u32(skb_ctx::INGRESS_IFINDEX, 0);
        let dst = &frame[..6];
        // The loopback device's address and broadcast address are both
        // zeros, so every group address, ff:ff:ff:ff:ff:ff too, is multicast.
        let pkt_type = if dst[0] & 1 == 1 {
            PACKET_MULTICAST
        } else if dst != [0; 6] {
            PACKET_OTHERHOST
        } else {
            PACKET_HOST
        };
        c.ctx.write_u32(skb_ctx::PKT_TYPE, pkt_type);
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let proto = if ethertype >= ETH_P_802_3_MIN {
            ethertype
        } else if frame.get(14..16) == Some(&[0xff, 0xff]) {
            ETH_P_802_3
        } else {
            ETH_P_802_2
        };
        c.ctx.write_u32(skb_ctx::PROTOCOL, u32::from(proto.to_be()));
        let l3 = &frame[ETH_HLEN..];
        match proto {
            ETH_P_IP if l3.len() < 20 => {
                return refuse(EINVAL_ERRNO, format!("an IPv4 frame of {} bytes has no whole IP header", frame.len()));
            }
            ETH_P_IPV6 if l3.len() < 40 => {
                return refuse(
                    EINVAL_ERRNO,
                    format!("an IPv6 frame of {} bytes has no whole IPv6 header", frame.len()),
                );
            }
            ETH_P_IP => {
                c.ctx.write_u32(skb_ctx::FAMILY, AF_INET);
                c.ctx.write(skb_ctx::LOCAL_IP4, &l3[12..16]);
                c.ctx.write(skb_ctx::REMOTE_IP4, &l3[16..20]);
            }
            ETH_P_IPV6 => {
                c.ctx.write_u32(skb_ctx::FAMILY, AF_INET6);
                c.ctx.write(skb_ctx::LOCAL_IP6, &l3[8..24]);
                c.ctx.write(skb_ctx::REMOTE_IP6, &l3[24..40]);
            }
            _ => {}
        }
        if !tc {
            let p = c.packet.as_mut().expect("an skb context has a packet");
            p.data += ETH_HLEN;
            p.meta = p.data;
            c.l3 = true;
            c.no_data_end = cgroup;
        }
        c.sync();
        let len = c.ctx.read_u32(skb_ctx::LEN);
        c.ctx.write_u32(skb_ctx::WIRE_LEN, len);
        Ok(c)
    }

    /// Gives up the context's memory for another to reuse.
    pub fn into_spare(self) -> Spare {
        Spare { ctx: Some(self.ctx), packet: self.packet }
    }

    /// The bytes `BPF_PROG_TEST_RUN` returns as `data_out`: for XDP the
    /// metadata and the packet, for tc the packet, for socket filters and
    /// cgroup_skb the packet behind an Ethernet header of zeros.
    pub fn data_out(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.data_out_into(&mut out);
        out
    }

    /// [`Context::data_out`] into `out`, replacing what it held: a replay
    /// takes the bytes before each run into memory it keeps.
    pub fn data_out_into(&self, out: &mut Vec<u8>) {
        out.clear();
        let Some(p) = &self.packet else {
            out.extend_from_slice(&self.mem());
            return;
        };
        // One copy per call. XDP's metadata lies right in front of the
        // packet.
        let (zeros, from) = match self.kind {
            ContextKind::Xdp => (0, p.meta),
            _ if self.l3 => (ETH_HLEN, p.data),
            _ => (0, p.data),
        };
        out.resize(zeros + p.end - from, 0);
        p.buf.read(from, &mut out[zeros..]);
    }

    /// The `struct __sk_buff` `BPF_PROG_TEST_RUN` returns as `ctx_out` when
    /// given a zeroed one: the fields its `convert_skb_to___skb` copies
    /// back. `None` for a context other than a socket buffer.
    pub fn skb_ctx_out(&self) -> Option<Vec<u8>> {
        if self.kind != ContextKind::Skb {
            return None;
        }
        let mut out = vec![0u8; skb_ctx::UAPI_SIZE];
        let copy = |out: &mut Vec<u8>, at: usize, len: usize| {
            let from = self.ctx.to_vec(at, len);
            out[at - skb_ctx::UAPI..at - skb_ctx::UAPI + len].copy_from_slice(&from);
        };
        for (at, len) in [
            (skb_ctx::MARK, 4),
            (skb_ctx::PRIORITY, 4),
            (skb_ctx::INGRESS_IFINDEX, 4),
            (skb_ctx::IFINDEX, 4),
            (skb_ctx::CB, 20),
            (skb_ctx::TSTAMP, 8),
            (skb_ctx::WIRE_LEN, 4),
            (skb_ctx::GSO_SEGS, 4),
            (skb_ctx::HWTSTAMP, 8),
        ] {
            copy(&mut out, at, len);
        }
        Some(out)
    }

    /// The socket-buffer fields a program may write, as it left them.
    pub fn skb_fields(&self) -> Option<SkbFields> {
        (self.kind == ContextKind::Skb).then(|| SkbFields {
            mark: self.ctx.read_u32(skb_ctx::MARK),
            priority: self.ctx.read_u32(skb_ctx::PRIORITY),
            tc_index: self.ctx.read_u32(skb_ctx::TC_INDEX),
            tc_classid: self.ctx.read_u32(skb_ctx::TC_CLASSID),
            queue_mapping: self.ctx.read_u32(skb_ctx::QUEUE_MAPPING),
            cb: std::array::from_fn(|i| self.ctx.read_u32(skb_ctx::CB + 4 * i)),
        })
    }

    pub fn kind(&self) -> ContextKind {
        self.kind
    }

    /// The raw input as the program left it (empty for packet contexts).
    pub fn mem(&self) -> Vec<u8> {
        match self.kind {
            ContextKind::Raw => self.ctx.to_vec(0, self.ctx.len()),
            _ => Vec::new(),
        }
    }

    /// The packet as the program left it.
    pub fn packet(&self) -> Option<&Packet> {
        self.packet.as_ref()
    }

    pub(crate) fn packet_mut(&mut self) -> Option<&mut Packet> {
        self.packet.as_mut()
    }

    /// `r1`..`r5` at entry.
    #[inline]
    pub(crate) fn entry_args(&self) -> [u64; 5] {
        match self.kind {
            ContextKind::Raw if self.ctx.is_empty() => [0; 5],
            ContextKind::Raw => [self.ctx.addr(0), self.ctx.len() as u64, 0, 0, 0],
            ContextKind::Xdp | ContextKind::Skb => [self.ctx.addr(0), 0, 0, 0, 0],
        }
    }

    /// The context, packet and metadata regions. Inlined: returned through
    /// memory from a call, the array is written in 8-byte stores and read
    /// back in 16-byte loads, which stalls every run on store forwarding.
    #[inline(always)]
    pub(crate) fn regions(&self) -> [Region; 3] {
        // Conversion refuses stores into fields the kernel does not let a
        // program write, so the socket buffer's region can be writable.
        let writable_ctx = self.kind != ContextKind::Xdp;
        let ctx = Region::new(RegionKind::Context, self.ctx.ptr(0), self.ctx.len(), writable_ctx);
        match &self.packet {
            Some(p) => [
                ctx,
                Region { start: p.data_addr(), len: p.len() as u64, writable: 1, kind: RegionKind::Packet },
                Region {
                    start: p.meta_addr(),
                    len: (p.data - p.meta) as u64,
                    writable: 1,
                    kind: RegionKind::PacketMeta,
                },
            ],
            None => [
                ctx,
                Region { start: 0, len: 0, writable: 0, kind: RegionKind::Packet },
                Region { start: 0, len: 0, writable: 0, kind: RegionKind::PacketMeta },
            ],
        }
    }

    /// Rewrites the context struct's packet pointers after the packet's
    /// bounds moved.
    pub(crate) fn sync(&mut self) {
        let Some(p) = &self.packet else { return };
        let (data, end, meta, start, frame) =
            (p.data_addr(), p.end_addr(), p.meta_addr(), p.buf.addr(0), p.frame_len());
        let len = p.len() as u32;
        match self.kind {
            ContextKind::Raw => {}
            ContextKind::Xdp => {
                self.ctx.write_u64(xdp_ctx::DATA, data);
                self.ctx.write_u64(xdp_ctx::DATA_END, end);
                self.ctx.write_u64(xdp_ctx::DATA_META, meta);
                self.ctx.write_u64(xdp_ctx::DATA_HARD_START, start);
                self.ctx.write_u32(xdp_ctx::FRAME_SZ, frame as u32);
            }
            ContextKind::Skb => {
                self.ctx.write_u64(skb_ctx::DATA, data);
                self.ctx.write_u64(skb_ctx::DATA_END, if self.no_data_end { 0 } else { end });
                self.ctx.write_u64(skb_ctx::DATA_META, data);
                self.ctx.write_u32(skb_ctx::LEN, len);
            }
        }
    }

    /// Sets an skb's protocol from its Ethernet header.
    pub(crate) fn sync_protocol(&mut self) {
        let mut ethertype = [0u8; 2];
        if let Some(p) = &self.packet
            && p.read(12, &mut ethertype)
        {
            self.ctx.write_u32(skb_ctx::PROTOCOL, u32::from(u16::from_ne_bytes(ethertype)));
        }
    }

    /// A 32-bit field of the context struct.
    pub(crate) fn field(&self, off: usize) -> u32 {
        self.ctx.read_u32(off)
    }

    pub(crate) fn set_field(&mut self, off: usize, v: u32) {
        self.ctx.write_u32(off, v);
    }

    /// A field of the socket-buffer struct, for callers inspecting a run.
    pub fn skb_field(&self, off: usize) -> Option<u32> {
        (self.kind == ContextKind::Skb && off + 4 <= skb_ctx::SIZE).then(|| self.ctx.read_u32(off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `0xee` wherever runs can write: over `meta..end` after
    /// each move of the bounds, which go out to their extremes and back;
    /// after each, the frame is all zeros outside `touched`.
    fn scribble(p: &mut Packet) {
        let fill = |p: &mut Packet| {
            p.buf.fill(p.meta, p.end - p.meta, 0xee);
            let frame = p.buf.to_vec(0, p.buf.len());
            let (lo, hi) = p.touched;
            assert!(frame[..lo].iter().chain(&frame[hi..]).all(|&b| b == 0), "a write outside {lo}..{hi}");
        };
        // Each outward move goes past every bound before it.
        let moves: [&dyn Fn(&mut Packet) -> bool; 6] = [
            &|p| p.insert(12, 8),
            &|p| p.adjust_head(XDP_FRAME_SIZE as i64 + 32 - p.data as i64).is_ok(),
            &|p| p.adjust_meta(-32).is_ok(),
            &|p| p.adjust_tail(p.hard_end as i64 - p.end as i64).is_ok(),
            &|p| p.remove(12, 4),
            &|p| p.adjust_tail(-64).is_ok(),
        ];
        fill(p);
        for m in moves {
            assert!(m(p), "each move is one a run can make");
            fill(p);
        }
        assert_eq!((p.touched.0, p.touched.1), (XDP_FRAME_SIZE, p.hard_end), "out to both extremes");
    }

    #[test]
    fn a_context_in_reused_memory_is_a_fresh_one() {
        let frame: Vec<u8> = (0..80).map(|i| if i == 12 { 8 } else { i as u8 }).collect();
        for prog_type in [ProgType::Xdp, ProgType::SchedCls, ProgType::SocketFilter] {
            let mut dirty = Context::test_run(prog_type, &[0xff; 200]).expect("a frame");
            dirty.ctx.fill(0, dirty.ctx.len(), 0xee);
            scribble(dirty.packet.as_mut().expect("a packet"));
            let mut spare = dirty.into_spare();
            let reused = Context::test_run_reusing(prog_type, &frame, &mut spare).expect("a frame");
            let fresh = Context::test_run(prog_type, &frame).expect("a frame");
            // The whole frame, headroom and tailroom too, and every field
            // of the context but the pointers, which follow the memory.
            let whole = |c: &Context| c.packet.as_ref().map(|p| p.buf.to_vec(0, p.buf.len()));
            assert_eq!(whole(&reused), whole(&fresh), "{prog_type}: the frame");
            let fields = |c: &Context| (c.skb_fields(), c.skb_ctx_out(), c.data_out());
            assert_eq!(fields(&reused), fields(&fresh), "{prog_type}: the fields");
            if prog_type == ProgType::Xdp {
                // `ingress_ifindex` to `frame_sz`, after the four pointers.
                let scalars =
                    |c: &Context| c.ctx.to_vec(xdp_ctx::INGRESS_IFINDEX, xdp_ctx::SIZE - xdp_ctx::INGRESS_IFINDEX);
                assert_eq!(scalars(&reused), scalars(&fresh), "xdp: the context struct");
            }
        }
    }

    #[test]
    fn xdp_head_tail_and_meta_follow_the_kernels_rules() {
        let mut p = Packet::new(&[0xab; 60]);
        assert_eq!(p.adjust_head(-(XDP_PACKET_HEADROOM as i64)), Err(EINVAL));
        assert_eq!(p.adjust_head(-(XDP_PACKET_HEADROOM as i64 - XDP_FRAME_SIZE as i64)), Ok(()));
        assert_eq!(p.len(), 60 + XDP_PACKET_HEADROOM - XDP_FRAME_SIZE);
        assert_eq!(p.adjust_head(p.len() as i64 - 13), Err(EINVAL));
        assert_eq!(p.adjust_head(p.len() as i64 - 14), Ok(()));
        assert_eq!(p.bytes(), [0xab; 14]);
        assert_eq!(p.adjust_tail(10), Ok(()));
        assert_eq!(p.bytes()[14..], [0; 10]);
        assert_eq!(p.adjust_tail(-11), Err(EINVAL));
        assert_eq!(p.adjust_meta(-6), Err(EACCES));
        assert_eq!(p.adjust_meta(-8), Ok(()));
        assert_eq!(p.metadata().len(), 8);
        assert_eq!(p.adjust_meta(1), Err(EACCES));
        assert_eq!(p.adjust_meta(9), Err(EINVAL));
        let mut big = Packet::new(&[1; 100]);
        assert_eq!(big.adjust_tail((big.hard_end - big.end) as i64 + 1), Err(EINVAL));
        assert_eq!(big.adjust_tail((big.hard_end - big.end) as i64), Ok(()));
    }

    #[test]
    fn insert_and_remove_keep_the_bytes_around_them() {
        let mut p = Packet::new(&[1, 2, 3, 4, 5, 6]);
        assert!(p.insert(2, 2));
        assert!(p.write(2, &[9, 9]));
        assert_eq!(p.bytes(), [1, 2, 9, 9, 3, 4, 5, 6]);
        assert!(p.remove(2, 2));
        assert_eq!(p.bytes(), [1, 2, 3, 4, 5, 6]);
        assert!(!p.remove(5, 2));
    }

    #[test]
    fn contexts_point_r1_at_their_memory() {
        let raw = Context::raw(&[1, 2, 3]);
        let [r1, r2, ..] = raw.entry_args();
        assert_eq!(raw.regions()[0].start, r1);
        assert_eq!(r2, 3);
        assert_eq!(Context::raw(&[]).entry_args(), [0; 5]);
        let xdp = Context::xdp(&[0; 64], 1, 0);
        let regions = xdp.regions();
        assert_eq!(xdp.ctx.read_u64(xdp_ctx::DATA), regions[1].start);
        assert_eq!(xdp.ctx.read_u64(xdp_ctx::DATA_END), regions[1].start + 64);
        let mut frame = [0u8; 20];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let skb = Context::skb(&frame, 3);
        assert_eq!(skb.skb_field(skb_ctx::PROTOCOL), Some(0x0008));
        assert_eq!(skb.skb_field(skb_ctx::LEN), Some(20));
    }
}
