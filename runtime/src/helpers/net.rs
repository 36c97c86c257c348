//! Packet helpers: checksums, socket-buffer and XDP byte access, head and
//! tail adjustment, VLAN tags, flow hashes and redirects.
//!
//! They act on the run's packet (the context's), whatever `r1` holds: the
//! kernel's verifier only lets the context through, and bpfx's engines
//! share one context per run. Checksums follow the kernel's arithmetic
//! (`include/net/checksum.h`, x86-64's `csum_partial`) so the 16-bit
//! fields they leave match the kernel's bit for bit.

use super::errno::{EFAULT, EINVAL, ENOMEM};
use crate::context::{ContextKind, ETH_HLEN, VLAN_HLEN, skb_ctx};
use crate::fault::Fault;
use crate::runtime::{Redirect, Runtime};

const BPF_F_HDR_FIELD_MASK: u64 = 0xf;
const BPF_F_PSEUDO_HDR: u64 = 1 << 4;
const BPF_F_MARK_MANGLED_0: u64 = 1 << 5;
const BPF_F_MARK_ENFORCE: u64 = 1 << 6;
const BPF_F_IPV6: u64 = 1 << 7;
const BPF_F_RECOMPUTE_CSUM: u64 = 1 << 0;
const BPF_F_INVALIDATE_HASH: u64 = 1 << 1;
const BPF_F_INGRESS: u64 = 1 << 0;
const BPF_HDR_START_MAC: u64 = 0;
const BPF_HDR_START_NET: u64 = 1;
const CSUM_MANGLED_0: u16 = 0xffff;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
const XDP_ABORTED: u64 = 0;
const XDP_REDIRECT: u64 = 4;

// Ones' complement arithmetic, as the kernel's checksum.h.

fn csum_add(csum: u32, addend: u32) -> u32 {
    let res = csum.wrapping_add(addend);
    res.wrapping_add(u32::from(res < addend))
}

fn csum_sub(csum: u32, addend: u32) -> u32 {
    csum_add(csum, !addend)
}

fn csum16_add(csum: u16, addend: u16) -> u16 {
    let res = csum.wrapping_add(addend);
    res.wrapping_add(u16::from(res < addend))
}

fn csum_fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

fn csum_replace_by_diff(sum: u16, diff: u32) -> u16 {
    csum_fold(csum_add(diff, !u32::from(sum)))
}

fn csum_replace4(sum: u16, from: u32, to: u32) -> u16 {
    csum_fold(csum_add(csum_sub(!u32::from(sum), from), to))
}

fn csum_replace2(sum: u16, from: u16, to: u16) -> u16 {
    !csum16_add(csum16_add(!sum, !from), to)
}

/// x86-64's `csum_partial`: 64-bit words summed with end-around carry
/// (a short tail zero-extended), then folded to 32 bits.
pub(crate) fn csum_partial(bytes: &[u8], seed: u32) -> u32 {
    let mut sum = u128::from(seed);
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        sum += u128::from(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    sum += u128::from(u64::from_le_bytes(last));
    while sum >> 64 != 0 {
        sum = (sum & u128::from(u64::MAX)) + (sum >> 64);
    }
    let t = sum as u64;
    (t.wrapping_add(t.rotate_right(32)) >> 32) as u32
}

/// `s64 bpf_csum_diff(__be32 *from, u32 from_size, __be32 *to, u32 to_size, __wsum seed)`,
/// as Linux computes it since 6.13 (the kernel the tests compare with):
/// the ones' complement sum of `to` (plus the seed) minus that of `from`,
/// folded to 16 bits (not complemented) on every architecture.
pub(crate) fn csum_diff(rt: &mut Runtime, [from, from_size, to, to_size, seed]: [u64; 5]) -> Result<u64, Fault> {
    let (from_size, to_size) = (from_size as u32, to_size as u32);
    if (from_size | to_size) & 3 != 0 || u64::from(from_size) + u64::from(to_size) > 512 {
        return Ok(EINVAL);
    }
    let from = rt.read_mem(from, from_size.into())?;
    let to = rt.read_mem(to, to_size.into())?;
    let seed = seed as u32;
    let sum = match (from.is_empty(), to.is_empty()) {
        (false, false) => csum_sub(csum_partial(&to, seed), csum_partial(&from, 0)),
        (true, false) => csum_partial(&to, seed),
        (false, true) => !csum_partial(&from, !seed),
        (true, true) => seed,
    };
    Ok(u64::from(csum_from32to16(sum)))
}

/// The kernel's `csum_from32to16`: the two halves added with end-around
/// carry.
fn csum_from32to16(sum: u32) -> u16 {
    (sum.wrapping_add(sum.rotate_right(16)) >> 16) as u16
}

/// The run's packet, or a fault for a context without one.
fn packet_kind(rt: &Runtime, want: ContextKind) -> Result<(), Fault> {
    if rt.ctx().kind() == want && rt.ctx().packet().is_some() {
        Ok(())
    } else {
        Err(rt.bad_arg(format!("needs a {want:?} context, the run has a {:?} one", rt.ctx().kind())))
    }
}

fn read_packet(rt: &Runtime, off: u64, len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0; len];
    rt.ctx().packet()?.read(off, &mut out).then_some(out)
}

fn write_packet(rt: &mut Runtime, off: u64, bytes: &[u8]) -> bool {
    rt.ctx_mut().packet_mut().is_some_and(|p| p.write(off, bytes))
}

/// Replaces the 16-bit checksum at `offset` with `update(old)`.
fn update_csum(rt: &mut Runtime, offset: u64, update: impl FnOnce(u16) -> Result<u16, u64>) -> Result<u64, Fault> {
    let Some(old) = read_packet(rt, offset, 2) else { return Ok(EFAULT) };
    let old = u16::from_ne_bytes([old[0], old[1]]);
    match update(old) {
        Ok(new) => {
            write_packet(rt, offset, &new.to_ne_bytes());
            Ok(0)
        }
        Err(errno) => Ok(errno),
    }
}

/// `long bpf_l3_csum_replace(struct sk_buff *skb, u32 offset, u64 from, u64 to, u64 size)`.
pub(crate) fn l3_csum_replace(rt: &mut Runtime, [_, offset, from, to, flags]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    let offset = offset as u32;
    if flags & !BPF_F_HDR_FIELD_MASK != 0 {
        return Ok(EINVAL);
    }
    if offset > 0xffff || offset & 1 != 0 {
        return Ok(EFAULT);
    }
    update_csum(rt, offset.into(), |sum| match flags & BPF_F_HDR_FIELD_MASK {
        0 if from != 0 => Err(EINVAL),
        0 => Ok(csum_replace_by_diff(sum, to as u32)),
        2 => Ok(csum_replace2(sum, from as u16, to as u16)),
        4 => Ok(csum_replace4(sum, from as u32, to as u32)),
        _ => Err(EINVAL),
    })
}

/// `long bpf_l4_csum_replace(struct sk_buff *skb, u32 offset, u64 from, u64 to, u64 flags)`.
/// bpfx's packets carry no partial or complete checksum state
/// (`CHECKSUM_NONE`), so the pseudo-header flag changes nothing.
pub(crate) fn l4_csum_replace(rt: &mut Runtime, [_, offset, from, to, flags]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    let offset = offset as u32;
    let allowed = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6;
    if flags & !allowed != 0 {
        return Ok(EINVAL);
    }
    if offset > 0xffff || offset & 1 != 0 {
        return Ok(EFAULT);
    }
    let mangled_0 = flags & BPF_F_MARK_MANGLED_0 != 0;
    let enforce = flags & BPF_F_MARK_ENFORCE != 0;
    update_csum(rt, offset.into(), |sum| {
        if mangled_0 && !enforce && sum == 0 {
            return Ok(0);
        }
        let new = match flags & BPF_F_HDR_FIELD_MASK {
            0 if from != 0 => return Err(EINVAL),
            0 => csum_replace_by_diff(sum, to as u32),
            2 => csum_replace4(sum, u32::from(from as u16), u32::from(to as u16)),
            4 => csum_replace4(sum, from as u32, to as u32),
            _ => return Err(EINVAL),
        };
        Ok(if mangled_0 && new == 0 { CSUM_MANGLED_0 } else { new })
    })
}

/// `long bpf_skb_load_bytes(const void *skb, u32 offset, void *to, u32 len)`.
pub(crate) fn skb_load_bytes(rt: &mut Runtime, [_, offset, to, len, _]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    let len = len as u32 as usize;
    rt.check_mem(to, len as u64, true)?;
    match read_packet(rt, u64::from(offset as u32), len).filter(|_| offset as u32 <= i32::MAX as u32) {
        Some(bytes) => {
            rt.write_mem(to, &bytes)?;
            Ok(0)
        }
        None => {
            rt.write_mem(to, &vec![0; len])?;
            Ok(EFAULT)
        }
    }
}

/// `long bpf_skb_load_bytes_relative(const void *skb, u32 offset, void *to, u32 len, u32 start_header)`:
/// the MAC header is the packet's start, the network header follows the
/// Ethernet header.
pub(crate) fn skb_load_bytes_relative(rt: &mut Runtime, [_, offset, to, len, start]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    let (offset, len) = (offset as u32, len as u32 as usize);
    rt.check_mem(to, len as u64, true)?;
    let base = match start as u32 as u64 {
        BPF_HDR_START_MAC => Some(0),
        BPF_HDR_START_NET => Some(ETH_HLEN as u64),
        _ => None,
    };
    let bytes = base.filter(|_| offset <= 0xffff).and_then(|b| read_packet(rt, b + u64::from(offset), len));
    match bytes {
        Some(bytes) => {
            rt.write_mem(to, &bytes)?;
            Ok(0)
        }
        None => {
            rt.write_mem(to, &vec![0; len])?;
            Ok(EFAULT)
        }
    }
}

/// `long bpf_skb_store_bytes(struct sk_buff *skb, u32 offset, const void *from, u32 len, u64 flags)`.
/// bpfx keeps no running checksum, so `BPF_F_RECOMPUTE_CSUM` has nothing to
/// update.
pub(crate) fn skb_store_bytes(rt: &mut Runtime, [_, offset, from, len, flags]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    if flags & !(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH) != 0 {
        return Ok(EINVAL);
    }
    let offset = offset as u32;
    let bytes = rt.read_mem(from, u64::from(len as u32))?;
    if offset > i32::MAX as u32 || !write_packet(rt, offset.into(), &bytes) {
        return Ok(EFAULT);
    }
    if flags & BPF_F_INVALIDATE_HASH != 0 {
        rt.ctx_mut().set_field(skb_ctx::HASH, 0);
    }
    Ok(0)
}

/// `long bpf_xdp_load_bytes(struct xdp_buff *xdp_md, u32 offset, void *buf, u32 len)`.
pub(crate) fn xdp_load_bytes(rt: &mut Runtime, [_, offset, buf, len, _]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Xdp)?;
    let (offset, len) = (offset as u32, len as u32);
    if offset > 0xffff || len > 0xffff {
        return Ok(EFAULT);
    }
    rt.check_mem(buf, len.into(), true)?;
    let Some(bytes) = read_packet(rt, offset.into(), len as usize) else { return Ok(EINVAL) };
    rt.write_mem(buf, &bytes)?;
    Ok(0)
}

/// `long bpf_xdp_store_bytes(struct xdp_buff *xdp_md, u32 offset, void *buf, u32 len)`.
pub(crate) fn xdp_store_bytes(rt: &mut Runtime, [_, offset, buf, len, _]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Xdp)?;
    let (offset, len) = (offset as u32, len as u32);
    if offset > 0xffff || len > 0xffff {
        return Ok(EFAULT);
    }
    let bytes = rt.read_mem(buf, len.into())?;
    if !write_packet(rt, offset.into(), &bytes) {
        return Ok(EINVAL);
    }
    Ok(0)
}

/// `u64 bpf_xdp_get_buff_len(struct xdp_buff *xdp_md)` (bpfx's frames
/// have no fragments).
pub(crate) fn xdp_get_buff_len(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Xdp)?;
    Ok(rt.ctx().packet().map_or(0, |p| p.len() as u64))
}

fn adjust(
    rt: &mut Runtime,
    delta: u64,
    f: fn(&mut crate::context::Packet, i64) -> Result<(), i64>,
) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Xdp)?;
    let packet = rt.ctx_mut().packet_mut().expect("packet_kind checked");
    match f(packet, i64::from(delta as i32)) {
        Ok(()) => {
            rt.packet_moved();
            Ok(0)
        }
        Err(errno) => Ok(errno as u64),
    }
}

/// `long bpf_xdp_adjust_head(struct xdp_buff *xdp_md, int delta)`.
pub(crate) fn xdp_adjust_head(rt: &mut Runtime, [_, delta, ..]: [u64; 5]) -> Result<u64, Fault> {
    adjust(rt, delta, crate::context::Packet::adjust_head)
}

/// `long bpf_xdp_adjust_tail(struct xdp_buff *xdp_md, int delta)`.
pub(crate) fn xdp_adjust_tail(rt: &mut Runtime, [_, delta, ..]: [u64; 5]) -> Result<u64, Fault> {
    adjust(rt, delta, crate::context::Packet::adjust_tail)
}

/// `long bpf_xdp_adjust_meta(struct xdp_buff *xdp_md, int delta)`.
pub(crate) fn xdp_adjust_meta(rt: &mut Runtime, [_, delta, ..]: [u64; 5]) -> Result<u64, Fault> {
    adjust(rt, delta, crate::context::Packet::adjust_meta)
}

/// The ethertype at bytes 12..14 of the packet, in host order.
fn ethertype(rt: &Runtime) -> Option<u16> {
    read_packet(rt, 12, 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn is_vlan(proto: u16) -> bool {
    proto == ETH_P_8021Q || proto == ETH_P_8021AD
}

/// Removes the VLAN tag in the packet's payload; returns its TCI.
fn pop_payload_tag(rt: &mut Runtime) -> Option<u16> {
    let tci = read_packet(rt, 14, 2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
    let packet = rt.ctx_mut().packet_mut()?;
    if !packet.remove(12, VLAN_HLEN) {
        return None;
    }
    rt.ctx_mut().sync_protocol();
    Some(tci)
}

/// `long bpf_skb_vlan_push(struct sk_buff *skb, __be16 vlan_proto, u16 vlan_tci)`:
/// the tag goes out of band; one already there moves into the payload.
pub(crate) fn skb_vlan_push(rt: &mut Runtime, [_, proto, tci, ..]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    let mut proto = u16::from_be(proto as u16);
    if !is_vlan(proto) {
        proto = ETH_P_8021Q;
    }
    if rt.ctx().field(skb_ctx::VLAN_PRESENT) != 0 {
        let old_proto = u16::from_be(rt.ctx().field(skb_ctx::VLAN_PROTO) as u16);
        let old_tci = rt.ctx().field(skb_ctx::VLAN_TCI) as u16;
        let packet = rt.ctx_mut().packet_mut().expect("packet_kind checked");
        if packet.len() < ETH_HLEN || !packet.insert(12, VLAN_HLEN) {
            return Ok(ENOMEM);
        }
        let mut tag = [0u8; 4];
        tag[..2].copy_from_slice(&old_proto.to_be_bytes());
        tag[2..].copy_from_slice(&old_tci.to_be_bytes());
        write_packet(rt, 12, &tag);
        rt.ctx_mut().sync_protocol();
        rt.packet_moved();
    }
    rt.ctx_mut().set_field(skb_ctx::VLAN_PRESENT, 1);
    rt.ctx_mut().set_field(skb_ctx::VLAN_PROTO, u32::from(proto.to_be()));
    rt.ctx_mut().set_field(skb_ctx::VLAN_TCI, u32::from(tci as u16));
    Ok(0)
}

/// `long bpf_skb_vlan_pop(struct sk_buff *skb)`: drops the out-of-band tag
/// (or, without one, the payload's), then moves a payload tag out of band.
pub(crate) fn skb_vlan_pop(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    if rt.ctx().field(skb_ctx::VLAN_PRESENT) != 0 {
        rt.ctx_mut().set_field(skb_ctx::VLAN_PRESENT, 0);
        rt.ctx_mut().set_field(skb_ctx::VLAN_TCI, 0);
        rt.ctx_mut().set_field(skb_ctx::VLAN_PROTO, 0);
    } else {
        if !ethertype(rt).is_some_and(is_vlan) {
            return Ok(0);
        }
        if pop_payload_tag(rt).is_none() {
            return Ok(EINVAL);
        }
        rt.packet_moved();
    }
    let Some(proto) = ethertype(rt).filter(|p| is_vlan(*p)) else { return Ok(0) };
    let Some(tci) = pop_payload_tag(rt) else { return Ok(EINVAL) };
    rt.packet_moved();
    rt.ctx_mut().set_field(skb_ctx::VLAN_PRESENT, 1);
    rt.ctx_mut().set_field(skb_ctx::VLAN_PROTO, u32::from(proto.to_be()));
    rt.ctx_mut().set_field(skb_ctx::VLAN_TCI, u32::from(tci));
    Ok(0)
}

/// `u32 bpf_get_hash_recalc(struct sk_buff *skb)`: the packet's hash,
/// computed from its flow when not set. The kernel keys its flow hash with
/// a random per-boot secret; bpfx keys it with the runtime's seed, so only
/// its properties (equal flows, equal hashes; never 0) match the kernel's.
pub(crate) fn get_hash_recalc(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    let hash = rt.ctx().field(skb_ctx::HASH);
    if hash != 0 {
        return Ok(hash.into());
    }
    let packet = rt.ctx().packet().map(|p| p.bytes()).unwrap_or_default();
    let hash = flow_hash(&packet, rt.config().seed);
    rt.ctx_mut().set_field(skb_ctx::HASH, hash);
    Ok(hash.into())
}

/// FNV-1a over the seed and the flow's addresses, protocol and ports (the
/// whole frame when it is not IPv4 or IPv6); never 0.
fn flow_hash(frame: &[u8], seed: u64) -> u32 {
    let at = |r: std::ops::Range<usize>| frame.get(r).unwrap_or(&[]);
    let ethertype = u16::from_be_bytes([frame.get(12).copied().unwrap_or(0), frame.get(13).copied().unwrap_or(0)]);
    let mut key: Vec<u8> = seed.to_le_bytes().to_vec();
    match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(14).map_or(5, |b| b & 0xf)) * 4;
            key.extend(at(26..34));
            key.extend(at(23..24));
            key.extend(at(14 + ihl..14 + ihl + 4));
        }
        0x86dd => {
            key.extend(at(22..54));
            key.extend(at(20..21));
            key.extend(at(54..58));
        }
        _ => key.extend(frame),
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in key {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    if h == 0 { 1 } else { h }
}

/// `long bpf_set_hash(struct sk_buff *skb, u32 hash)`.
pub(crate) fn set_hash(rt: &mut Runtime, [_, hash, ..]: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    rt.ctx_mut().set_field(skb_ctx::HASH, hash as u32);
    Ok(0)
}

/// `void bpf_set_hash_invalid(struct sk_buff *skb)`.
pub(crate) fn set_hash_invalid(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    packet_kind(rt, ContextKind::Skb)?;
    rt.ctx_mut().set_field(skb_ctx::HASH, 0);
    Ok(0)
}

/// `long bpf_redirect(u32 ifindex, u64 flags)`: in XDP, `XDP_REDIRECT` (or
/// `XDP_ABORTED` for any flag); elsewhere, tc's `TC_ACT_REDIRECT` (or
/// `TC_ACT_SHOT` for flags other than `BPF_F_INGRESS`).
pub(crate) fn redirect(rt: &mut Runtime, [ifindex, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (ok, refused, allowed) = match rt.ctx().kind() {
        ContextKind::Xdp => (XDP_REDIRECT, XDP_ABORTED, 0),
        ContextKind::Skb | ContextKind::Raw => (TC_ACT_REDIRECT, TC_ACT_SHOT, BPF_F_INGRESS),
    };
    if flags & !allowed != 0 {
        return Ok(refused);
    }
    rt.set_redirect(Some(Redirect::Ifindex { ifindex: ifindex as u32, flags }));
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's definition: the ones' complement of the ones' complement
    /// sum of the 16-bit words.
    fn rfc1071(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for c in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn csum_partial_folds_to_the_rfc1071_checksum() {
        let header: Vec<u8> = (0..20u8).map(|i| i.wrapping_mul(37)).collect();
        let folded = u16::from_be(csum_fold(csum_partial(&header, 0)));
        assert_eq!(folded, rfc1071(&header));
        let odd: Vec<u8> = (0..12u8).collect();
        assert_eq!(u16::from_be(csum_fold(csum_partial(&odd, 0))), rfc1071(&odd));
    }

    #[test]
    fn incremental_updates_match_recomputing() {
        let mut header: Vec<u8> = vec![0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let sum = rfc1071(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        let stored = u16::from_ne_bytes([header[10], header[11]]);
        let old = u32::from_ne_bytes(header[16..20].try_into().unwrap());
        header[16..20].copy_from_slice(&[192, 168, 7, 9]);
        let new = u32::from_ne_bytes(header[16..20].try_into().unwrap());
        let updated = csum_replace4(stored, old, new);
        header[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(u16::from_be(updated), rfc1071(&header));
        let old16 = u16::from_ne_bytes([header[8], header[9]]);
        header[8] = 0x3f;
        let new16 = u16::from_ne_bytes([header[8], header[9]]);
        let updated2 = csum_replace2(updated, old16, new16);
        assert_eq!(u16::from_be(updated2), rfc1071(&header));
    }
}
