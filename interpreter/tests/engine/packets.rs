//! Packet contexts and their helpers: XDP's head, tail and metadata
//! adjustment and byte access; socket-buffer byte access, checksums, VLAN
//! tags and hashes; redirects; perf output with packet bytes; legacy
//! packet loads. Programs read bpfx's context structs directly (pointers as
//! 64-bit fields: data at 0, data_end at 8, data_meta at 16).

use bpfx_isa::InsnIdx;
use bpfx_isa::abi::MapType;
use bpfx_runtime::context::skb_ctx;
use bpfx_runtime::maps::flags::BPF_ANY;
use bpfx_runtime::{Context, Exit, Fault, MapId, Redirect, Runtime};

use crate::{MakeEngine, map, program, run};

crate::tests![
    xdp_context_points_at_the_packet,
    xdp_adjust_head_moves_the_packet_start,
    xdp_adjust_tail_and_meta,
    xdp_load_and_store_bytes,
    redirects,
    skb_load_and_store_bytes,
    skb_load_bytes_relative_to_headers,
    l3_and_l4_checksum_replacement,
    vlan_push_and_pop,
    hashes,
    perf_output_with_packet_bytes,
    legacy_packet_loads,
];

fn frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// `data_end - data` of an XDP or skb context.
const LEN: &str = "r2 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r1 + 8)\nr0 -= r2\n";

fn xdp_context_points_at_the_packet(make: MakeEngine) {
    let source =
        format!("{LEN}r3 = *(u8 *)(r2 + 5)\nr0 <<= 8\nr0 |= r3\nr3 = *(u32 *)(r1 + 32)\nr0 <<= 8\nr0 |= r3\nexit");
    let out = run(make, &program(&source, Vec::new()), Context::xdp(&frame(64), 9, 0));
    assert_eq!(out.r0(), 64 << 16 | 5 << 8 | 9, "length, byte 5, ingress ifindex");
    let past = format!("{LEN}r0 = *(u8 *)(r2 + 64)\nexit");
    let out = run(make, &program(&past, Vec::new()), Context::xdp(&frame(64), 1, 0));
    let Exit::Fault { at: InsnIdx(3), fault: Fault::OutOfBounds { nearest: Some(n), .. } } = out.exit else {
        panic!("{}", out.exit)
    };
    assert_eq!((n.to_string()), "packet at offset 64 of 64");
}

fn xdp_adjust_head_moves_the_packet_start(make: MakeEngine) {
    // Grow by 4 bytes, write them, then return the new length and r0 of
    // the helper.
    let source = "
        r6 = r1
        r2 = -4
        call 44
        r7 = r0
        r2 = *(u64 *)(r6 + 0)
        *(u32 *)(r2 + 0) = 0xaabbccdd
        r0 = *(u64 *)(r6 + 8)
        r0 -= r2
        r0 <<= 8
        r0 |= r7
        exit";
    let out = run(make, &program(source, Vec::new()), Context::xdp(&frame(20), 1, 0));
    assert_eq!(out.r0(), 24 << 8);
    let packet = out.ctx.packet().unwrap().bytes();
    assert_eq!(packet[..4], [0xdd, 0xcc, 0xbb, 0xaa]);
    assert_eq!(packet[4..], frame(20)[..]);
    // The kernel's limits: no deeper than the xdp_frame at the start of
    // the headroom, and at least an Ethernet header left.
    let adjust = |delta: i32, len: usize| {
        let source = format!("r2 = {delta}\ncall 44\nexit");
        let out = run(make, &program(&source, Vec::new()), Context::xdp(&frame(len), 1, 0));
        (out.r0() as i64, out.ctx.packet().unwrap().len())
    };
    assert_eq!(adjust(-216, 20), (0, 236), "256 bytes of headroom less a 40-byte xdp_frame");
    assert_eq!(adjust(-217, 20), (-22, 20));
    assert_eq!(adjust(6, 20), (0, 14));
    assert_eq!(adjust(7, 20), (-22, 20));
    // An old data pointer does not reach bytes the packet no longer has.
    let stale = "r6 = r1\nr7 = *(u64 *)(r6 + 0)\nr2 = 6\ncall 44\nr0 = *(u8 *)(r7 + 0)\nexit";
    let out = run(make, &program(stale, Vec::new()), Context::xdp(&frame(20), 1, 0));
    let Exit::Fault { at: InsnIdx(4), fault: Fault::OutOfBounds { .. } } = out.exit else { panic!("{}", out.exit) };
}

fn xdp_adjust_tail_and_meta(make: MakeEngine) {
    let tail = |delta: i32| {
        let source = format!("r2 = {delta}\ncall 65\nexit");
        let out = run(make, &program(&source, Vec::new()), Context::xdp(&frame(60), 1, 0));
        (out.r0() as i64, out.ctx.packet().unwrap().bytes())
    };
    let (r0, grown) = tail(8);
    assert_eq!((r0, grown.len()), (0, 68));
    assert_eq!(grown[60..], [0; 8], "grown bytes are zeroed");
    assert_eq!(tail(-46).0, 0, "down to an Ethernet header");
    assert_eq!(tail(-47).0, -22);
    assert_eq!(tail(4096).0, -22, "not past the frame's tailroom");
    // Metadata: 8 bytes in front of the packet, written and read back.
    let source = "
        r6 = r1
        r2 = -8
        call 54
        r7 = r0
        r2 = *(u64 *)(r6 + 16)
        r3 = *(u64 *)(r6 + 0)
        r3 -= r2
        *(u64 *)(r2 + 0) = 0x1122
        r0 = r3
        r0 <<= 8
        r0 |= r7
        exit";
    let out = run(make, &program(source, Vec::new()), Context::xdp(&frame(60), 1, 0));
    assert_eq!(out.r0(), 8 << 8);
    let p = out.ctx.packet().unwrap();
    assert_eq!(p.metadata(), 0x1122u64.to_le_bytes());
    assert_eq!(p.bytes(), frame(60));
    let meta = |delta: i32| {
        let source = format!("r2 = {delta}\ncall 54\nexit");
        run(make, &program(&source, Vec::new()), Context::xdp(&frame(60), 1, 0)).r0() as i64
    };
    assert_eq!(meta(-6), -13, "metadata comes in 4-byte units: -EACCES");
    assert_eq!(meta(-260), -22, "not into the xdp_frame at the start of the headroom");
    assert_eq!(meta(4), -22, "not past data");
}

fn xdp_load_and_store_bytes(make: MakeEngine) {
    let source = "
        r6 = r1
        r2 = 10
        r3 = r10
        r3 += -8
        r4 = 4
        call 189
        r7 = r0
        r1 = r6
        r2 = 0
        r3 = r10
        r3 += -8
        r4 = 4
        call 190
        r7 <<= 8
        r7 |= r0
        r1 = r6
        r2 = 58
        r3 = r10
        r3 += -8
        r4 = 4
        call 189
        r7 <<= 8
        r0 &= 0xff
        r7 |= r0
        call 188
        r0 <<= 24
        r0 |= r7
        exit";
    let out = run(make, &program(source, Vec::new()), Context::xdp(&frame(60), 1, 0));
    assert_eq!(out.r0(), 60 << 24 | 0xea, "ok, ok, -EINVAL past the end (low byte 0xea); length 60");
    let p = out.ctx.packet().unwrap().bytes();
    assert_eq!(p[..4], [10, 11, 12, 13]);
}

fn redirects(make: MakeEngine) {
    let xdp = |flags: u64| {
        let out = run(
            make,
            &program(&format!("r1 = 7\nr2 = {flags}\ncall 23\nexit"), Vec::new()),
            Context::xdp(&frame(60), 1, 0),
        );
        (out.r0(), out.rt.redirect())
    };
    assert_eq!(xdp(0), (4, Some(Redirect::Ifindex { ifindex: 7, flags: 0 })), "XDP_REDIRECT");
    assert_eq!(xdp(1).0, 0, "any flag: XDP_ABORTED");
    let tc = |flags: u64| {
        let out = run(
            make,
            &program(&format!("r1 = 7\nr2 = {flags}\ncall 23\nexit"), Vec::new()),
            Context::skb(&frame(60), 1),
        );
        out.r0()
    };
    assert_eq!((tc(0), tc(1), tc(2)), (7, 7, 2), "TC_ACT_REDIRECT, with BPF_F_INGRESS, else TC_ACT_SHOT");
    let via_map = |key: u32, flags: u64| {
        let mut rt = Runtime::default();
        let mut engine = make();
        let devmap = map("ports", MapType::Devmap, 4, 4, 8);
        let p = program(&format!("ld_pseudo r1, 1, 0\nr2 = {key}\nr3 = {flags}\ncall 51\nexit"), vec![devmap]);
        let prog = engine.load(&mut rt, &p).unwrap();
        let id = rt.map_id("ports").unwrap();
        rt.map_mut(id).unwrap().update(&3u32.to_ne_bytes(), &12u32.to_ne_bytes(), BPF_ANY).unwrap();
        let r = engine.run(&mut rt, prog, &mut Context::xdp(&frame(60), 1, 0)).unwrap();
        (r.exit.r0().unwrap(), rt.redirect())
    };
    assert_eq!(via_map(3, 0), (4, Some(Redirect::Map { map: MapId(0), key: 3, flags: 0 })));
    assert_eq!(via_map(4, 2), (2, None), "a miss returns the flags' action (XDP_PASS)");
    assert_eq!(via_map(4, 0x100), (0, None), "unknown flags: XDP_ABORTED");
}

/// Runs `source` on an skb of `packet`; `r6` is the context.
fn skb(make: MakeEngine, source: &str, packet: &[u8]) -> (i64, Vec<u8>, Context) {
    let out = run(make, &program(&format!("r6 = r1\n{source}"), Vec::new()), Context::skb(packet, 1));
    let bytes = out.ctx.packet().unwrap().bytes();
    (out.r0() as i64, bytes, out.ctx)
}

fn skb_load_and_store_bytes(make: MakeEngine) {
    let load = |off: u32, len: u32| {
        let source = format!(
            "r1 = -1\n*(u64 *)(r10 - 8) = r1\nr1 = r6\nr2 = {off}\nr3 = r10\nr3 += -8\nr4 = {len}\ncall 26\nr1 = *(u64 *)(r10 - 8)\n*(u64 *)(r10 - 16) = r1\nexit"
        );
        skb(make, &source, &frame(40)).0
    };
    assert_eq!(load(36, 4), 0);
    assert_eq!(load(37, 4), -14, "past the end: -EFAULT");
    let source = "
        *(u32 *)(r10 - 4) = 0x04030201
        r1 = r6
        r2 = 2
        r3 = r10
        r3 += -4
        r4 = 4
        r5 = 2
        call 9
        r7 = r0
        r1 = r6
        r2 = 38
        r3 = r10
        r3 += -4
        r4 = 4
        r5 = 0
        call 9
        r7 <<= 8
        r0 &= 0xff
        r0 |= r7
        exit";
    let (r0, bytes, _) = skb(make, source, &frame(40));
    assert_eq!(r0, 0xf2, "stored, then -EFAULT (0xf2) past the end");
    assert_eq!(bytes[..8], [0, 1, 1, 2, 3, 4, 6, 7]);
    let bad_flags = "r1 = r6\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 1\nr5 = 4\ncall 9\nexit";
    assert_eq!(skb(make, bad_flags, &frame(40)).0, -22);
}

fn skb_load_bytes_relative_to_headers(make: MakeEngine) {
    let load = |off: u32, start: u32| {
        let source = format!(
            "r1 = r6\nr2 = {off}\nr3 = r10\nr3 += -8\nr4 = 2\nr5 = {start}\ncall 68\nr1 = *(u16 *)(r10 - 8)\nr0 <<= 16\nr0 |= r1\nexit"
        );
        let (r0, _, _) = skb(make, &source, &frame(40));
        (r0 >> 16, r0 & 0xffff)
    };
    assert_eq!(load(0, 0), (0, 0x0100), "from the MAC header");
    assert_eq!(load(0, 1), (0, 0x0f0e), "from the network header, after 14 bytes");
    assert_eq!(load(25, 1), (-14, 0), "past the end: -EFAULT, the buffer zeroed");
    assert_eq!(load(0, 2), (-14, 0), "an unknown header: -EFAULT");
}

/// An IPv4/UDP frame with a valid header checksum.
fn ipv4_udp() -> Vec<u8> {
    let mut p = vec![0u8; 14 + 20 + 8];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14..34].copy_from_slice(&[0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = ip_checksum(&p[14..34]);
    p[24..26].copy_from_slice(&sum.to_be_bytes());
    p[34..42].copy_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0x12, 0x34]);
    p
}

/// RFC 1071 over big-endian words: the checksum to store.
fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn l3_and_l4_checksum_replacement(make: MakeEngine) {
    // Rewrite the destination address 10.0.0.2 -> 192.168.1.9 and fix the
    // IP checksum with bpf_l3_csum_replace (size 4), as a NAT would.
    let new_addr = u32::from_ne_bytes([192, 168, 1, 9]);
    let old_addr = u32::from_ne_bytes([10, 0, 0, 2]);
    let source = format!(
        "*(u32 *)(r10 - 4) = {new_addr}\nr1 = r6\nr2 = 30\nr3 = r10\nr3 += -4\nr4 = 4\nr5 = 0\ncall 9\nr1 = r6\nr2 = 24\nr3 = {old_addr}\nr4 = {new_addr}\nr5 = 4\ncall 10\nexit"
    );
    let (r0, bytes, _) = skb(make, &source, &ipv4_udp());
    assert_eq!(r0, 0);
    assert_eq!(bytes[30..34], [192, 168, 1, 9]);
    let mut header = bytes[14..34].to_vec();
    header[10..12].copy_from_slice(&[0, 0]);
    assert_eq!(u16::from_be_bytes([bytes[24], bytes[25]]), ip_checksum(&header), "checksum recomputed");
    // A 2-byte replacement (the TTL/protocol word) and a diff from csum_diff.
    let source = "
        r1 = r6
        r2 = 24
        r3 = 0x1140
        r4 = 0x113f
        r5 = 2
        call 10
        exit";
    let (_, bytes, _) = skb(make, source, &ipv4_udp());
    let mut header = bytes[14..34].to_vec();
    assert_eq!(header[8..10], [64, 17], "the program changed only the checksum");
    header[8] = 63;
    header[10..12].copy_from_slice(&[0, 0]);
    assert_eq!(u16::from_be_bytes([bytes[24], bytes[25]]), ip_checksum(&header), "as if the TTL were 63");
    // l4: a zero UDP checksum stays zero with BPF_F_MARK_MANGLED_0.
    let mut zero_sum = ipv4_udp();
    zero_sum[40..42].copy_from_slice(&[0, 0]);
    let source = format!("r1 = r6\nr2 = 40\nr3 = {old_addr}\nr4 = {new_addr}\nr5 = 0x34\ncall 11\nexit");
    let (r0, bytes, _) = skb(make, &source, &zero_sum);
    assert_eq!((r0, &bytes[40..42]), (0, &[0u8, 0][..]));
    let (r0, bytes, _) = skb(make, &source, &ipv4_udp());
    assert_eq!(r0, 0);
    assert_ne!(bytes[40..42], [0x12, 0x34], "a non-zero checksum is updated");
    let odd = "r1 = r6\nr2 = 25\nr3 = 0\nr4 = 0\nr5 = 2\ncall 10\nexit";
    assert_eq!(skb(make, odd, &ipv4_udp()).0, -14, "an odd offset: -EFAULT");
    let bad = "r1 = r6\nr2 = 24\nr3 = 0\nr4 = 0\nr5 = 0x100\ncall 10\nexit";
    assert_eq!(skb(make, bad, &ipv4_udp()).0, -22);
}

fn vlan_push_and_pop(make: MakeEngine) {
    let field = |ctx: &Context, off| ctx.skb_field(off).unwrap();
    // The first tag goes out of band; the packet is unchanged.
    let push = "r1 = r6\nr2 = 0x81\nr3 = 100\ncall 18\nexit";
    let (r0, bytes, ctx) = skb(make, push, &ipv4_udp());
    assert_eq!((r0, bytes), (0, ipv4_udp()));
    assert_eq!(
        (field(&ctx, skb_ctx::VLAN_PRESENT), field(&ctx, skb_ctx::VLAN_TCI), field(&ctx, skb_ctx::VLAN_PROTO)),
        (1, 100, 0x0081)
    );
    // A second push moves the first tag into the packet.
    let twice = "r1 = r6\nr2 = 0x81\nr3 = 100\ncall 18\nr1 = r6\nr2 = 0xa888\nr3 = 200\ncall 18\nexit";
    let (_, bytes, ctx) = skb(make, twice, &ipv4_udp());
    assert_eq!(bytes.len(), ipv4_udp().len() + 4);
    assert_eq!(bytes[12..18], [0x81, 0x00, 0, 100, 0x08, 0x00]);
    assert_eq!((field(&ctx, skb_ctx::VLAN_TCI), field(&ctx, skb_ctx::VLAN_PROTO)), (200, 0xa888));
    assert_eq!(field(&ctx, skb_ctx::PROTOCOL), 0x0081, "the outer ethertype");
    // Popping twice undoes both.
    let all = format!("{}\nr1 = r6\ncall 19\nr1 = r6\ncall 19\nexit", twice.trim_end_matches("exit"));
    let (r0, bytes, ctx) = skb(make, &all, &ipv4_udp());
    assert_eq!((r0, bytes), (0, ipv4_udp()));
    assert_eq!(field(&ctx, skb_ctx::VLAN_PRESENT), 0);
    // An unknown protocol becomes 802.1Q.
    let (_, _, ctx) = skb(make, "r1 = r6\nr2 = 0x1234\nr3 = 5\ncall 18\nexit", &ipv4_udp());
    assert_eq!(field(&ctx, skb_ctx::VLAN_PROTO), 0x0081);
}

fn hashes(make: MakeEngine) {
    let recalc = "r1 = r6\ncall 34\nexit";
    let (a, _, ctx) = skb(make, recalc, &ipv4_udp());
    assert_ne!(a, 0);
    assert_eq!(field_hash(&ctx), a as u32, "the hash is kept in the context");
    assert_eq!(skb(make, recalc, &ipv4_udp()).0, a, "the same flow hashes the same");
    let mut other = ipv4_udp();
    other[29] = 9;
    assert_ne!(skb(make, recalc, &other).0, a, "another source address");
    let set = "r1 = r6\nr2 = 0x5eed\ncall 48\nr1 = r6\ncall 34\nexit";
    assert_eq!(skb(make, set, &ipv4_udp()).0, 0x5eed);
    let invalid = "r1 = r6\nr2 = 0x5eed\ncall 48\nr1 = r6\ncall 41\nr1 = r6\ncall 34\nexit";
    assert_eq!(skb(make, invalid, &ipv4_udp()).0, a, "recomputed after bpf_set_hash_invalid");
    let wrong_ctx = run(make, &program("call 34\nexit", Vec::new()), Context::raw(&[]));
    let Exit::Fault { fault: Fault::BadHelperArg { .. }, .. } = wrong_ctx.exit else { panic!("{}", wrong_ctx.exit) };
}

fn field_hash(ctx: &Context) -> u32 {
    ctx.skb_field(skb_ctx::HASH).unwrap()
}

fn perf_output_with_packet_bytes(make: MakeEngine) {
    let mut rt = Runtime::default();
    let mut engine = make();
    let events = map("events", MapType::PerfEventArray, 4, 4, 4);
    // 4 bytes from the stack, then the first 6 packet bytes (BPF_F_CTXLEN_MASK).
    let source = "
        r6 = r1
        *(u32 *)(r10 - 4) = 0x64636261
        r1 = r6
        ld_pseudo r2, 1, 0
        r3 = 0x6ffffffff ll
        r4 = r10
        r4 += -4
        r5 = 4
        call 25
        exit";
    let prog = engine.load(&mut rt, &program(source, vec![events])).unwrap();
    let r = engine.run(&mut rt, prog, &mut Context::xdp(&frame(60), 1, 0)).unwrap();
    assert_eq!(r.exit, Exit::Return(0));
    let id = rt.map_id("events").unwrap();
    let perf = rt.map_mut(id).unwrap().as_perf_event_array().unwrap();
    let events = perf.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].cpu, &events[0].data[..]), (0, &b"abcd\x00\x01\x02\x03\x04\x05"[..]));
}

fn legacy_packet_loads(make: MakeEngine) {
    let source = "r6 = r1\nr0 = *(u16 *)skb[12]\nr7 = r0\nr1 = 2\nr0 = *(u8 *)skb[r1 + 0x14]\nr7 <<= 8\nr0 |= r7\nexit";
    let out = run(make, &program(source, Vec::new()), Context::skb(&ipv4_udp(), 1));
    assert_eq!(out.r0(), 0x0800 << 8 | 64, "network order; ind adds the register");
    let past = "r6 = r1\nr0 = *(u32 *)skb[40]\nr0 = 5\nexit";
    let out = run(make, &program(past, Vec::new()), Context::skb(&ipv4_udp(), 1));
    assert_eq!((out.exit, out.insns), (Exit::Return(0), 2), "out of bounds ends the program with 0");
    let raw = run(make, &program(past, Vec::new()), Context::raw(&[0; 64]));
    assert_eq!(raw.exit, Exit::Fault { at: InsnIdx(1), fault: Fault::NoPacket });
}
