//! Helpers against the running kernel: the same program runs through
//! `BPF_PROG_TEST_RUN` and on the engine, on the same packet, and must
//! return the same value and leave the same bytes (XDP: metadata and
//! packet). The programs reach the packet only through helpers, since
//! bpfx's context structs are not the kernel's until context rewriting
//! lands. Skipped, saying so, where bpf(2) is not permitted.

use bpfx_isa::abi::ProgType;
use bpfx_loader::kernel::{Bpf, Errno, KernelError, ProgLoadOptions, TestRun};
use bpfx_runtime::Context;

use crate::{MakeEngine, program, run};

crate::tests![
    csum_diff_matches_the_kernel,
    checksum_replacement_matches_the_kernel,
    skb_bytes_match_the_kernel,
    vlan_tags_match_the_kernel,
    xdp_adjustments_match_the_kernel,
];

/// What the kernel made of one run: `r0` (32 bits, as test runs report it)
/// and the bytes out.
fn kernel(prog_type: ProgType, source: &str, packet: &[u8]) -> Option<(u32, Vec<u8>)> {
    let mut p = program(source, Vec::new());
    p.prog_type = prog_type;
    let options = ProgLoadOptions { license: Some("GPL"), ..ProgLoadOptions::default() };
    let (prog, _maps) = match Bpf::new().load(&p, &options) {
        Ok(loaded) => loaded,
        Err(KernelError::Syscall(e)) if e.errno == Errno(EPERM) => {
            eprintln!("SKIPPED: bpf(2) is not permitted here ({e}); the kernel comparison did not run");
            return None;
        }
        Err(e) => panic!("the kernel refused the test program: {e}\n{source}"),
    };
    let out = prog.test_run(&TestRun::packet(packet)).unwrap_or_else(|e| panic!("test run: {e}"));
    Some((out.retval, out.data_out))
}

/// The errno of a caller without the right to use bpf(2).
const EPERM: i32 = 1;

/// Runs `source` on both and compares.
fn same(make: MakeEngine, prog_type: ProgType, source: &str, packet: &[u8]) {
    let Some((retval, data)) = kernel(prog_type, source, packet) else { return };
    let ctx = match prog_type {
        ProgType::Xdp => Context::xdp(packet, 1, 0),
        _ => Context::skb(packet, 1),
    };
    let out = run(make, &program(source, Vec::new()), ctx);
    let p = out.ctx.packet().expect("a packet context");
    let ours = [p.metadata(), p.bytes()].concat();
    assert_eq!(out.r0() as u32, retval, "r0\n{source}");
    assert_eq!(ours, data, "packet\n{source}");
}

fn frame() -> Vec<u8> {
    let mut p = vec![0u8; 14 + 20 + 8 + 6];
    p[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14..34].copy_from_slice(&[0x45, 0, 0, 34, 0x12, 0x34, 0x40, 0, 64, 17, 0xa5, 0x5a, 10, 0, 0, 1, 10, 0, 0, 2]);
    p[34..42].copy_from_slice(&[0x9c, 0x40, 0, 53, 0, 14, 0xbe, 0xef]);
    p[42..].copy_from_slice(b"hello!");
    p
}

fn csum_diff_matches_the_kernel(make: MakeEngine) {
    for (from, to, seed) in [(8, 8, 0u64), (0, 16, 0x1234), (16, 0, 0xffff_ffff), (4, 12, 7), (12, 4, 0x8000_0000)] {
        let source = format!(
            "
            r1 = 0x0102030405060708 ll
            *(u64 *)(r10 - 32) = r1
            r1 = 0xf1e2d3c4b5a69788 ll
            *(u64 *)(r10 - 24) = r1
            r1 = 0x1122334455667788 ll
            *(u64 *)(r10 - 16) = r1
            r1 = 0xffeeddccbbaa9988 ll
            *(u64 *)(r10 - 8) = r1
            r1 = r10
            r1 += -32
            r2 = {from}
            r3 = r10
            r3 += -16
            r4 = {to}
            r5 = {seed} ll
            call 28
            exit"
        );
        same(make, ProgType::SchedCls, &source, &frame());
    }
}

fn checksum_replacement_matches_the_kernel(make: MakeEngine) {
    let old = u32::from_ne_bytes([10, 0, 0, 2]);
    let new = u32::from_ne_bytes([192, 168, 1, 9]);
    let cases = [
        format!("r1 = r6\nr2 = 24\nr3 = {old}\nr4 = {new}\nr5 = 4\ncall 10"),
        "r1 = r6\nr2 = 24\nr3 = 0x1140\nr4 = 0x113f\nr5 = 2\ncall 10".to_string(),
        "r1 = r6\nr2 = 24\nr3 = 0\nr4 = 0x12345678\nr5 = 0\ncall 10".to_string(),
        format!("r1 = r6\nr2 = 40\nr3 = {old}\nr4 = {new}\nr5 = 0x14\ncall 11"),
        format!("r1 = r6\nr2 = 40\nr3 = {old}\nr4 = {old}\nr5 = 0x34\ncall 11"),
        "r1 = r6\nr2 = 40\nr3 = 0xbeef\nr4 = 0x4111\nr5 = 0x22\ncall 11".to_string(),
        "r1 = r6\nr2 = 40\nr3 = 0\nr4 = 0xfedcba98\nr5 = 0x60\ncall 11".to_string(),
        "r1 = r6\nr2 = 41\nr3 = 0\nr4 = 0\nr5 = 2\ncall 10".to_string(),
        "r1 = r6\nr2 = 24\nr3 = 0\nr4 = 0\nr5 = 0x80\ncall 10".to_string(),
    ];
    for case in cases {
        same(make, ProgType::SchedCls, &format!("r6 = r1\n{case}\nexit"), &frame());
    }
    let mut zero = frame();
    zero[40..42].copy_from_slice(&[0, 0]);
    same(
        make,
        ProgType::SchedCls,
        &format!("r6 = r1\nr1 = r6\nr2 = 40\nr3 = {old}\nr4 = {new}\nr5 = 0x34\ncall 11\nexit"),
        &zero,
    );
}

fn skb_bytes_match_the_kernel(make: MakeEngine) {
    let store = "
        r6 = r1
        r1 = 0x0807060504030201 ll
        *(u64 *)(r10 - 8) = r1
        r1 = r6
        r2 = 3
        r3 = r10
        r3 += -8
        r4 = 8
        r5 = 0
        call 9
        r7 = r0
        r1 = r6
        r2 = 44
        r3 = r10
        r3 += -8
        r4 = 8
        r5 = 0
        call 9
        r7 <<= 8
        r0 &= 0xff
        r7 |= r0
        r1 = r6
        r2 = 10
        r3 = r10
        r3 += -8
        r4 = 4
        r5 = 1
        call 68
        r7 <<= 8
        r0 &= 0xff
        r7 |= r0
        r1 = *(u32 *)(r10 - 8)
        r7 <<= 8
        r7 ^= r1
        r1 = r6
        r2 = 0
        r3 = r10
        r3 += -8
        r4 = 8
        call 26
        r1 = *(u64 *)(r10 - 8)
        r0 = r7
        r0 ^= r1
        exit";
    same(make, ProgType::SchedCls, store, &frame());
}

fn vlan_tags_match_the_kernel(make: MakeEngine) {
    let push_twice = "r6 = r1\nr1 = r6\nr2 = 0x81\nr3 = 100\ncall 18\nr1 = r6\nr2 = 0xa888\nr3 = 200\ncall 18\nexit";
    same(make, ProgType::SchedCls, push_twice, &frame());
    let pop_all = "r6 = r1\nr1 = r6\nr2 = 0x81\nr3 = 100\ncall 18\nr1 = r6\nr2 = 0xa888\nr3 = 200\ncall 18\nr1 = r6\ncall 19\nr1 = r6\ncall 19\nr1 = r6\ncall 19\nexit";
    same(make, ProgType::SchedCls, pop_all, &frame());
    let mut tagged = frame();
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    same(make, ProgType::SchedCls, "r6 = r1\nr1 = r6\ncall 19\nexit", &tagged);
}

fn xdp_adjustments_match_the_kernel(make: MakeEngine) {
    let cases = [
        "r2 = -4\ncall 44\nr1 = r6\nr2 = 0\nr3 = r10\nr3 += -8\n*(u64 *)(r10 - 8) = 0x5a5a\nr4 = 4\ncall 190\nr0 = 2",
        "r2 = 8\ncall 65\nr7 = r0\nr1 = r6\ncall 188\nr0 <<= 8\nr0 |= r7",
        "r2 = -10\ncall 65",
        "r2 = -200\ncall 65",
        "r2 = 300\ncall 44",
        "r2 = -8\ncall 54\nr7 = r0\nr1 = r6\nr2 = 2\ncall 44\nr0 <<= 8\nr0 |= r7",
        "r2 = -6\ncall 54",
        "r1 = r6\nr2 = 40\nr3 = r10\nr3 += -8\nr4 = 8\ncall 189\nr1 = r6\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\ncall 190\nr0 = 3",
        "r2 = 44\nr3 = r10\nr3 += -8\nr4 = 8\ncall 189",
    ];
    for case in cases {
        same(make, ProgType::Xdp, &format!("r6 = r1\n{case}\nexit"), &frame());
    }
}
