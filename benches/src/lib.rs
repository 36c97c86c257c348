//! The programs bpfx's benches run, shared with the tests that check every
//! engine computes the same results on them, and how the benches load them
//! onto bpfx's engines ([`load`]: as the CLI does, with the verifier's facts
//! when it accepts the program).
//!
//! The programs are written in LLVM's BPF syntax and assembled by
//! `bpfx-isa`; the benches hand the very same bytecode to each engine,
//! but for the packet parser's first two loads, which each engine gets in
//! the form it reads a packet's bounds in ([`PACKET_PARSER_XDP`] for bpfx,
//! [`PACKET_PARSER`] for rbpf).

use bpfx_isa::{Insn, Program, asm};
pub use bpfx_prove::Loaded;
use bpfx_prove::Loading;
use bpfx_runtime::{Engine, Runtime};

/// A loop of 1,000 iterations of five ALU and jump instructions: 5,003
/// instructions executed. Returns a checksum of the loop's values.
pub const ALU_LOOP: &str = "
    r0 = 0
    r1 = 1000
loop:
    r0 += r1
    r0 ^= 0x5a5a
    r0 <<= 1
    r1 -= 1
    if r1 != 0 goto loop
    exit
";

/// Instructions [`ALU_LOOP`] executes.
pub const ALU_LOOP_INSNS: u64 = 5003;

/// The parser, after `head` has put the packet's start in `r2` and its end
/// in `r3`.
macro_rules! packet_parser {
    ($head:literal) => {
        concat!(
            $head,
            "    r0 = 0
    r4 = r2
    r4 += 14
    if r4 > r3 goto out
    r5 = *(u16 *)(r2 + 12)
    if r5 != 0x8 goto out
    r4 = r2
    r4 += 34
    if r4 > r3 goto out
    r5 = *(u8 *)(r2 + 14)
    r5 &= 0xf
    if r5 != 5 goto out
    r5 = *(u8 *)(r2 + 23)
    if r5 != 17 goto out
    r4 = r2
    r4 += 42
    if r4 > r3 goto out
    r6 = *(u32 *)(r2 + 26)
    r5 = *(u16 *)(r2 + 36)
    r5 = be16 r5
    r0 = 1
    if r5 != 53 goto out
    r0 = 2
out:
    exit
"
        )
    };
}

/// A 26-instruction packet parser: Ethernet, IPv4 (no options), UDP, then
/// the destination port. `r1` points at a context whose first two 64-bit
/// words are the packet's start and end (bpfx's XDP context; rbpf's
/// metadata buffer laid out the same way, [`rbpf_mbuff`]). Returns 2 for UDP to port
/// 53, 1 for other UDP, 0 for anything else; on [`packet`] it runs every
/// one of its instructions.
pub const PACKET_PARSER: &str = packet_parser!("\n    r2 = *(u64 *)(r1 + 0x0)\n    r3 = *(u64 *)(r1 + 0x8)\n");

/// Instructions [`PACKET_PARSER`] has, and executes on [`packet`].
pub const PACKET_PARSER_INSNS: u64 = 26;

/// [`PACKET_PARSER`] as a C compiler emits it for an XDP program: the
/// packet's start and end are the `u32` fields `data` and `data_end` of
/// `struct xdp_md`, which the runtime turns into loads of the real
/// pointers (as the kernel does), so that the verifier can prove the
/// packet reads. The same 26 instructions otherwise.
pub const PACKET_PARSER_XDP: &str = packet_parser!("\n    r2 = *(u32 *)(r1 + 0x0)\n    r3 = *(u32 *)(r1 + 0x4)\n");

/// A 64-byte Ethernet/IPv4/UDP frame to port 53.
pub fn packet() -> [u8; 64] {
    let mut p = [0u8; 64];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[16..18].copy_from_slice(&50u16.to_be_bytes());
    p[22] = 64;
    p[23] = 17;
    p[26..30].copy_from_slice(&[10, 0, 0, 1]);
    p[30..34].copy_from_slice(&[10, 0, 0, 2]);
    p[34..36].copy_from_slice(&40000u16.to_be_bytes());
    p[36..38].copy_from_slice(&53u16.to_be_bytes());
    p[38..40].copy_from_slice(&30u16.to_be_bytes());
    p
}

/// rbpf's metadata buffer for `packet`: its start and end addresses, the
/// layout [`PACKET_PARSER`] reads.
pub fn rbpf_mbuff(packet: &[u8]) -> [u8; 16] {
    let start = packet.as_ptr() as u64;
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&start.to_le_bytes());
    m[8..].copy_from_slice(&(start + packet.len() as u64).to_le_bytes());
    m
}

/// Assembles one of the programs above.
pub fn assemble(source: &str) -> Vec<Insn> {
    asm::assemble(source).unwrap_or_else(|e| panic!("bench program does not assemble: {e}"))
}

/// Loads `program` onto `engine` as `bpfx run --pcap` does
/// ([`bpfx_prove::Loading::PACKET`]): the verifier judges it first, and when
/// it accepts, its facts go to the engine (the JIT then drops the checks of
/// the accesses proved safe and inlines array lookups); packet programs
/// have their context accesses converted for bpfx's contexts. `Err` says
/// why the program cannot be loaded.
pub fn load(engine: &mut dyn Engine, rt: &mut Runtime, program: &Program) -> Result<Loaded, String> {
    Loading::PACKET.load(engine, rt, program).map_err(|e| format!("{}: {e}", program.name))
}
