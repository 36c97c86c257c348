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
//! The XDP and socket-buffer context structs here are bpfx's own layouts
//! (pointers as 64-bit fields, like the kernel's `struct xdp_buff`), not the
//! uapi `struct xdp_md` / `struct __sk_buff`: programs built against the
//! uapi headers reach them through context-access rewriting, as the
//! kernel's verifier does, which comes with the program-context work.

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

/// Field offsets of bpfx's XDP context struct (the ctx region of an XDP
/// run; read-only to programs).
pub mod xdp_ctx {
    pub const DATA: usize = 0;
    pub const DATA_END: usize = 8;
    pub const DATA_META: usize = 16;
    pub const DATA_HARD_START: usize = 24;
    pub const INGRESS_IFINDEX: usize = 32;
    pub const RX_QUEUE_INDEX: usize = 36;
    pub const EGRESS_IFINDEX: usize = 40;
    pub const FRAME_SZ: usize = 44;
    pub const SIZE: usize = 48;
}

/// Field offsets of bpfx's socket-buffer context struct (the ctx region of
/// a tc / socket-filter run; read-only to programs).
pub mod skb_ctx {
    pub const DATA: usize = 0;
    pub const DATA_END: usize = 8;
    pub const DATA_META: usize = 16;
    /// Packet length in bytes.
    pub const LEN: usize = 24;
    /// The ethertype, in network order in the low 16 bits (as `__sk_buff`).
    pub const PROTOCOL: usize = 28;
    /// Whether an out-of-band (hardware-accelerated) VLAN tag is present.
    pub const VLAN_PRESENT: usize = 32;
    pub const VLAN_TCI: usize = 36;
    /// The tag's protocol, in network order in the low 16 bits.
    pub const VLAN_PROTO: usize = 40;
    /// The flow hash; 0 when not computed.
    pub const HASH: usize = 44;
    pub const MARK: usize = 48;
    pub const PRIORITY: usize = 52;
    pub const IFINDEX: usize = 56;
    pub const INGRESS_IFINDEX: usize = 60;
    pub const SIZE: usize = 64;
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
}

impl Packet {
    /// `bytes` at [`XDP_PACKET_HEADROOM`] in a frame of at least a page.
    pub fn new(bytes: &[u8]) -> Packet {
        let frame = MIN_FRAME.max(XDP_PACKET_HEADROOM + bytes.len() + SKB_SHARED_INFO_SIZE);
        let mut buf = Buffer::zeroed(frame);
        buf.write(XDP_PACKET_HEADROOM, bytes);
        let data = XDP_PACKET_HEADROOM;
        Packet { buf, meta: data, data, end: data + bytes.len(), hard_end: frame - SKB_SHARED_INFO_SIZE }
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

/// The input of one run. The runtime holds it while the program runs;
/// afterwards the caller reads the memory or packet as the program left it.
#[derive(Debug)]
pub struct Context {
    kind: ContextKind,
    /// The raw input bytes, or the context struct.
    ctx: Buffer,
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
        Context { kind: ContextKind::Raw, ctx: Buffer::from_bytes(mem), packet: None }
    }

    /// An XDP context over a copy of `packet`, received on `ifindex`, queue
    /// `rx_queue`.
    pub fn xdp(packet: &[u8], ifindex: u32, rx_queue: u32) -> Context {
        let mut c =
            Context { kind: ContextKind::Xdp, ctx: Buffer::zeroed(xdp_ctx::SIZE), packet: Some(Packet::new(packet)) };
        c.ctx.write_u32(xdp_ctx::INGRESS_IFINDEX, ifindex);
        c.ctx.write_u32(xdp_ctx::RX_QUEUE_INDEX, rx_queue);
        c.sync();
        c
    }

    /// A socket-buffer context over a copy of `packet` (an Ethernet frame),
    /// received on `ifindex`.
    pub fn skb(packet: &[u8], ifindex: u32) -> Context {
        let mut c =
            Context { kind: ContextKind::Skb, ctx: Buffer::zeroed(skb_ctx::SIZE), packet: Some(Packet::new(packet)) };
        c.ctx.write_u32(skb_ctx::IFINDEX, ifindex);
        c.ctx.write_u32(skb_ctx::INGRESS_IFINDEX, ifindex);
        c.sync_protocol();
        c.sync();
        c
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
        let writable_ctx = self.kind == ContextKind::Raw;
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
                self.ctx.write_u64(skb_ctx::DATA_END, end);
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
