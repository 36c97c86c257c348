//! Programs from unstructured bytes, for differential testing: every
//! instruction class (ALU32/64 with the operands that matter — 0, -1,
//! `INT_MIN`, shift amounts past the width —, byte swaps, `lddw`, loads and
//! stores on the stack, the context and map values, atomics, conditional
//! and backward jumps, `may_goto`, bpf-to-bpf calls with recursion, helper
//! calls, `callx`, `bpf_loop` callbacks, legacy packet loads) in programs
//! that always decode and load. They need not be safe: bad accesses, deep
//! recursion and endless loops end in faults the engines must agree on,
//! which a small instruction budget keeps quick.
//!
//! The same bytes always give the same program, so a fuzz input or a
//! proptest case reproduces exactly.

use arbitrary::{Result, Unstructured};
use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{
    AluOp, AtomicOp, CallTarget, Endian, HelperId, Insn, JmpCond, LdImm64Kind, MapSpec, PacketLoad, Program, Reg, Size,
    Src, SwapBits, Width,
};
use bpfx_runtime::{Config, Context};

use crate::diff::{Input, Setup};

/// A generated test: the program and what it runs on.
#[derive(Debug, Clone)]
pub struct Generated {
    pub program: Program,
    pub input: Input,
}

/// The budget generated programs run with: enough for their loops, small
/// enough that an endless one ends at once.
pub const BUDGET: u64 = 4096;

/// How generated programs are run.
pub fn setup() -> Setup {
    Setup { config: Config { insn_budget: BUDGET, ..Config::default() }, runs: 2, ..Setup::default() }
}

/// An instruction whose jump, call or function reference names an item of
/// a function, resolved to slot offsets once the layout is known.
#[derive(Debug, Clone, Copy)]
enum Item {
    Plain(Insn),
    /// A jump to item `to` of the same function.
    Jump(Insn, usize),
    /// A call or `lddw` of function `f` (its first item).
    Func(Insn, usize),
}

const IMMS: [i32; 10] = [0, 1, -1, i32::MIN, i32::MAX, 31, 32, 63, 64, 0x1234_5678];
const HELPERS: [u32; 5] = [7, 8, 5, 1, 2];

fn reg(u: &mut Unstructured, max: u8) -> Result<Reg> {
    Ok(Reg::new(u.int_in_range(0..=max)?).expect("register numbers up to 10 are valid"))
}

fn imm(u: &mut Unstructured) -> Result<i32> {
    if u.ratio(1, 2)? { Ok(IMMS[u.choose_index(IMMS.len())?]) } else { u.arbitrary() }
}

fn width(u: &mut Unstructured) -> Result<Width> {
    Ok(if u.arbitrary()? { Width::W64 } else { Width::W32 })
}

fn src(u: &mut Unstructured) -> Result<Src> {
    Ok(if u.arbitrary()? { Src::Reg(reg(u, 10)?) } else { Src::Imm(imm(u)?) })
}

fn size(u: &mut Unstructured) -> Result<Size> {
    Ok(Size::ALL[u.choose_index(4)?])
}

/// A base register and offset: mostly the stack or the context, in bounds
/// or near them, sometimes anything.
fn place(u: &mut Unstructured, size: Size) -> Result<(Reg, i16)> {
    let bytes = size.bytes() as i16;
    Ok(match u.int_in_range(0..=9)? {
        0..=4 => (Reg::R10, -bytes * u.int_in_range(1..=512 / bytes)?),
        5..=6 => (Reg::R1, bytes * u.int_in_range(-1..=9)?),
        7 => (Reg::R0, bytes * u.int_in_range(-1..=2)?),
        _ => (reg(u, 10)?, u.arbitrary()?),
    })
}

fn alu(u: &mut Unstructured) -> Result<Insn> {
    let width = width(u)?;
    let mut op = AluOp::ALL[u.choose_index(AluOp::ALL.len())?];
    if width == Width::W32 && op == AluOp::MovSx32 {
        op = AluOp::Mov;
    }
    let src =
        if matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32) { Src::Reg(reg(u, 10)?) } else { src(u)? };
    Ok(Insn::Alu { width, op, dst: reg(u, 9)?, src })
}

/// One function's items; `funcs` is how many functions there are.
fn function(u: &mut Unstructured, funcs: usize) -> Result<Vec<Item>> {
    let len = u.int_in_range(1..=24)?;
    let mut items = Vec::with_capacity(len + 8);
    while items.len() < len {
        let to = |u: &mut Unstructured| u.int_in_range(0..=len);
        let item = match u.int_in_range(0..=99)? {
            0..=29 => Item::Plain(alu(u)?),
            30..=32 => Item::Plain(Insn::Neg { width: width(u)?, dst: reg(u, 9)? }),
            33..=35 => {
                let kind = Endian::ALL[u.choose_index(3)?];
                let bits = [SwapBits::B16, SwapBits::B32, SwapBits::B64][u.choose_index(3)?];
                Item::Plain(Insn::Endian { kind, bits, dst: reg(u, 9)? })
            }
            36..=38 => Item::Plain(Insn::LdImm64 { dst: reg(u, 9)?, kind: LdImm64Kind::Imm, imm: u.arbitrary()? }),
            39..=48 => {
                let size = size(u)?;
                let (src, off) = place(u, size)?;
                let signed = size != Size::DW && u.ratio(1, 4)?;
                Item::Plain(Insn::Load { size, signed, dst: reg(u, 9)?, src, off })
            }
            49..=57 => {
                let size = size(u)?;
                let (dst, off) = place(u, size)?;
                Item::Plain(Insn::Store { size, dst, off, src: src(u)? })
            }
            58..=61 => {
                let size = if u.arbitrary()? { Size::W } else { Size::DW };
                let (dst, off) = place(u, size)?;
                let op = AtomicOp::ALL[u.choose_index(AtomicOp::ALL.len())?];
                Item::Plain(Insn::Atomic { size, op, dst, src: reg(u, 9)?, off })
            }
            62..=75 => {
                let cond = JmpCond::ALL[u.choose_index(JmpCond::ALL.len())?];
                Item::Jump(Insn::Jump { width: width(u)?, cond, dst: reg(u, 10)?, src: src(u)?, off: 0 }, to(u)?)
            }
            76..=78 => Item::Jump(Insn::Ja { off: 0, wide: u.arbitrary()? }, to(u)?),
            79 => Item::Jump(Insn::MayGoto { off: 0 }, to(u)?),
            80..=83 if funcs > 1 => {
                let callee = u.int_in_range(1..=funcs - 1)?;
                Item::Func(Insn::Call(CallTarget::Local(0)), callee)
            }
            84..=88 => {
                let id = HELPERS[u.choose_index(HELPERS.len())?];
                if id == 1 || id == 2 {
                    // A map helper on a key at the top of the frame.
                    items.push(Item::Plain(Insn::Store {
                        size: Size::W,
                        dst: Reg::R10,
                        off: -4,
                        src: Src::Imm(u.int_in_range(0..=4)?),
                    }));
                    items.push(Item::Plain(Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R2,
                        src: Src::Reg(Reg::R10),
                    }));
                    items.push(Item::Plain(Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Add,
                        dst: Reg::R2,
                        src: Src::Imm(-4),
                    }));
                    items.push(Item::Plain(Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R3,
                        src: Src::Reg(Reg::R2),
                    }));
                    items.push(Item::Plain(Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R4,
                        src: Src::Imm(0),
                    }));
                    let map = u.int_in_range(0..=1)?;
                    items.push(Item::Plain(Insn::LdImm64 { dst: Reg::R1, kind: LdImm64Kind::MapIdx, imm: map }));
                }
                Item::Plain(Insn::Call(CallTarget::Helper(HelperId(id))))
            }
            89..=90 if funcs > 1 => {
                // bpf_loop(nr, callback, ctx, 0).
                items.push(Item::Plain(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: Reg::R1,
                    src: Src::Imm(u.int_in_range(0..=6)?),
                }));
                let callee = u.int_in_range(1..=funcs - 1)?;
                items.push(Item::Func(Insn::LdImm64 { dst: Reg::R2, kind: LdImm64Kind::Func, imm: 0 }, callee));
                items.push(Item::Plain(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: Reg::R3,
                    src: Src::Reg(Reg::R10),
                }));
                items.push(Item::Plain(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: Reg::R4,
                    src: Src::Imm(0),
                }));
                Item::Plain(Insn::Call(CallTarget::Helper(HelperId(181))))
            }
            91 => {
                items.push(Item::Plain(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: Reg::R9,
                    src: Src::Imm([7, 8, 3, 300][u.choose_index(4)?]),
                }));
                Item::Plain(Insn::Callx { reg: Reg::R9 })
            }
            92 => {
                let mode = if u.arbitrary()? { PacketLoad::Abs } else { PacketLoad::Ind(reg(u, 9)?) };
                let size = [Size::B, Size::H, Size::W][u.choose_index(3)?];
                Item::Plain(Insn::PacketLoad { mode, size, imm: u.int_in_range(-2..=70)? })
            }
            93..=95 => Item::Plain(Insn::Exit),
            _ => Item::Plain(Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: reg(u, 9)?, src: Src::Imm(imm(u)?) }),
        };
        items.push(item);
    }
    // Jumps may name the item one past the body: the final exit.
    let end = items.len();
    for item in &mut items {
        if let Item::Jump(_, to) = item {
            *to = (*to).min(end);
        }
    }
    items.push(Item::Plain(Insn::Exit));
    Ok(items)
}

/// A program (and its input) from `u`.
pub fn program(u: &mut Unstructured) -> Result<Generated> {
    let funcs = u.int_in_range(1..=3)?;
    let bodies = (0..funcs).map(|_| function(u, funcs)).collect::<Result<Vec<_>>>()?;
    // Slot of each item of each function.
    let mut slots = Vec::with_capacity(funcs);
    let mut next = 0i64;
    for body in &bodies {
        let mut s = Vec::with_capacity(body.len());
        for item in body {
            s.push(next);
            let insn = match item {
                Item::Plain(i) | Item::Jump(i, _) | Item::Func(i, _) => i,
            };
            next += insn.slots() as i64;
        }
        slots.push(s);
    }
    let mut insns = Vec::new();
    for (f, body) in bodies.iter().enumerate() {
        for (k, item) in body.iter().enumerate() {
            let at = slots[f][k];
            let insn = match *item {
                Item::Plain(insn) => insn,
                Item::Jump(insn, to) => {
                    let rel = slots[f][to] - (at + 1);
                    match insn {
                        Insn::Ja { wide: true, .. } => Insn::Ja { off: rel as i32, wide: true },
                        Insn::Ja { .. } => Insn::Ja { off: rel as i32, wide: false },
                        Insn::Jump { width, cond, dst, src, .. } => {
                            Insn::Jump { width, cond, dst, src, off: rel as i16 }
                        }
                        _ => Insn::MayGoto { off: rel as i16 },
                    }
                }
                Item::Func(insn, callee) => {
                    let target = slots[callee][0];
                    match insn {
                        Insn::LdImm64 { dst, .. } => {
                            let imm = (target - at - 1) as i32 as u32 as u64;
                            Insn::LdImm64 { dst, kind: LdImm64Kind::Func, imm }
                        }
                        _ => Insn::Call(CallTarget::Local((target - (at + 1)) as i32)),
                    }
                }
            };
            insns.push(insn);
        }
    }
    let mut program = Program::new("generated", ProgType::Unspec, insns);
    let map = |name: &str, map_type| MapSpec {
        name: name.into(),
        map_type,
        key_size: 4,
        value_size: 16,
        max_entries: 4,
        ..MapSpec::default()
    };
    program.maps = vec![map("array", MapType::Array), map("hash", MapType::Hash)];
    let len = u.int_in_range(0..=64)?;
    let mem = (0..len).map(|_| u.arbitrary()).collect::<Result<Vec<u8>>>()?;
    Ok(Generated { program, input: Input::Raw(mem) })
}

/// A deterministic byte stream (xorshift64*): the same `seed` always gives
/// the same bytes, so a test over them reproduces.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Ethernet frames to run packet programs on: what parsers meet (IPv4 UDP
/// and TCP, with and without IP options, ICMP, IPv6 TCP and UDP, ARP, a
/// VLAN tag), each cut short at every header boundary, and random frames
/// of random lengths with and without a plausible IP header, 14 to 1,514
/// bytes (an XDP test run takes all of them; see [`test_runs`]).
pub fn frames() -> Vec<Vec<u8>> {
    fn eth(ethertype: u16, rest: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(rest);
        f
    }
    fn ipv4(proto: u8, options: usize, l4: &[u8]) -> Vec<u8> {
        let ihl = 5 + options / 4;
        let total = (ihl * 4 + l4.len()) as u16;
        let mut h = vec![0x40 | ihl as u8, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend(std::iter::repeat_n(1, options));
        h.extend_from_slice(l4);
        h
    }
    fn ipv6(next: u8, l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0, 0, l4.len() as u8, next, 64];
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h.extend_from_slice(l4);
        h
    }
    let dns = [&[0x9c, 0x40, 0, 53, 0, 20, 0, 0][..], &[0xab; 12]].concat();
    let udp = [0x9c, 0x41, 0x1f, 0x90, 0, 8, 0, 0];
    let syn = [&[0x9c, 0x42, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0][..], &[0; 6]].concat();
    let icmp = [8, 0, 0xf7, 0xff, 0, 1, 0, 1];
    let arp = [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1];
    let mut vlan = vec![0, 5, 0x08, 0x00];
    vlan.extend_from_slice(&ipv4(17, 0, &dns));
    let whole = [
        eth(0x0800, &ipv4(17, 0, &dns)),
        eth(0x0800, &ipv4(6, 0, &syn)),
        eth(0x0800, &ipv4(6, 12, &syn)),
        eth(0x0800, &ipv4(1, 0, &icmp)),
        eth(0x86dd, &ipv6(6, &syn)),
        eth(0x86dd, &ipv6(17, &udp)),
        eth(0x0806, &arp),
        eth(0x8100, &vlan),
    ];
    let mut frames = Vec::new();
    for f in &whole {
        // Cut at every header boundary a parser checks against data_end.
        for cut in [14, 15, 18, 33, 34, 35, 38, 41, 42, 53, 54, 61, 62, 74] {
            if cut < f.len() {
                frames.push(f[..cut].to_vec());
            }
        }
        let mut padded = f.clone();
        padded.resize(padded.len().max(60), 0);
        frames.push(padded);
    }
    for seed in 0..24u64 {
        let len = 14 + (bytes(seed, 2).iter().map(|&b| usize::from(b)).sum::<usize>() % 300);
        let mut f = bytes(1000 + seed, len);
        match seed % 3 {
            0 => f[12..14].copy_from_slice(&[0x08, 0x00]),
            1 => f[12..14].copy_from_slice(&[0x86, 0xdd]),
            _ => {}
        }
        if seed % 3 == 0 && len > 14 {
            f[14] = 0x45;
        }
        frames.push(f);
    }
    let mut big = eth(0x0800, &ipv4(17, 0, &dns));
    big.resize(1514, 0x5a);
    frames.push(big);
    frames
}

/// [`frames`] as inputs of a program of `prog_type`: those its test run
/// takes (the kernel refuses an skb whose IP header is cut short).
pub fn test_runs(prog_type: ProgType) -> Vec<Input> {
    frames()
        .into_iter()
        .filter(|f| Context::test_run(prog_type, f).is_ok())
        .map(|f| Input::TestRun(prog_type, f))
        .collect()
}
