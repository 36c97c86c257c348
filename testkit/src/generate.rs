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
use bpfx_runtime::Config;

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
    Setup { config: Config { insn_budget: BUDGET, ..Config::default() }, suite_helper_5: false, runs: 2 }
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
