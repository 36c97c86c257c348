//! Which instructions the runtime's context conversion rewrites: a
//! restatement of the analysis in `bpfx_runtime::context::convert`
//! (`runtime/src/context/convert.rs`, `ctx_accesses`), which the verifier
//! cannot call (it depends on no engine or runtime).
//!
//! Why the verifier needs it: conversion moves every access it attributes
//! to the context (by `UAPI`, or onto the 64-bit packet pointers), and it
//! attributes accesses by its own path-insensitive dataflow, not by the
//! verifier's types. Where the two disagree, an access the verifier proved
//! on the stack runs at another offset, or a context load the verifier
//! turned into a packet pointer reads other bytes; facts proved for one
//! program would then describe another. The verifier gives no facts for
//! such a program (see `super::Proofs`).
//!
//! The restatement is exact, transfer function for transfer function; a
//! test holds it against the runtime's own conversion (every corpus program
//! and thousands of generated ones).

use bpfx_isa::{AluOp, AtomicOp, CallTarget, Insn, Reg, Size, Src, Width};

/// What a register or 8-byte stack slot holds, as conversion sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    Other = 0,
    Ctx = 1,
    /// The context pointer moved by an offset.
    CtxMoved = 2,
    /// The context on some paths, something else on others.
    Mixed = 3,
}

/// Spill slots conversion follows per frame (512 bytes of 8).
const SLOTS: usize = 64;

/// Where the registers' and the stack slots' values sit in a [`Flow`].
const STACK: usize = Reg::COUNT;

/// The value of every register and spill slot, two bits each (the low bit
/// in `lo`, the high bit in `hi`), so that joining two flows is a few
/// word operations: a location where they differ becomes `Mixed` (both
/// bits set). The verifier runs this for every program it accepts, so it
/// must cost little next to verification itself.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Flow {
    lo: u128,
    hi: u128,
}

impl Flow {
    fn entry(args: [Val; 5]) -> Flow {
        let mut f = Flow { lo: 0, hi: 0 };
        for (r, v) in args.into_iter().enumerate() {
            f.set(r + 1, v);
        }
        f
    }

    fn get(&self, at: usize) -> Val {
        match ((self.hi >> at) & 1, (self.lo >> at) & 1) {
            (0, 0) => Val::Other,
            (0, _) => Val::Ctx,
            (_, 0) => Val::CtxMoved,
            _ => Val::Mixed,
        }
    }

    fn set(&mut self, at: usize, v: Val) {
        let bit = 1u128 << at;
        let v = v as u8;
        self.lo = if v & 1 != 0 { self.lo | bit } else { self.lo & !bit };
        self.hi = if v & 2 != 0 { self.hi | bit } else { self.hi & !bit };
    }

    fn reg(&self, r: Reg) -> Val {
        self.get(r.index())
    }

    fn set_reg(&mut self, r: Reg, v: Val) {
        self.set(r.index(), v);
    }

    /// Joins `other` in; whether anything changed.
    fn join(&mut self, other: &Flow) -> bool {
        let differ = (self.lo ^ other.lo) | (self.hi ^ other.hi);
        let joined = Flow { lo: self.lo | differ, hi: self.hi | differ };
        let changed = joined != *self;
        *self = joined;
        changed
    }

    fn clobber_caller_saved(&mut self) {
        let regs = !0b11_1111u128;
        self.lo &= regs;
        self.hi &= regs;
    }
}

/// The spill slot of an 8-byte access at `r10 + off`.
fn slot(off: i32) -> Option<usize> {
    (off < 0 && off >= -(SLOTS as i32) * 8 && off % 8 == 0).then(|| ((-off) / 8 - 1) as usize)
}

/// Per slot of the program (`by_slot`: each slot's instruction, `None` for
/// the second half of an `lddw`): whether conversion rewrites the
/// instruction there as a context access. `None` when conversion refuses
/// the program (an access through a pointer that is the context on some
/// paths only, or through a moved one; a jump out of the program): the
/// runtime then runs nothing.
pub(crate) fn rewritten(by_slot: &[Option<&Insn>]) -> Option<Vec<bool>> {
    let total = by_slot.len();
    let target = |s: usize, insn: &Insn, off: i64| -> Option<usize> {
        let t = s as i64 + insn.slots() as i64 + off;
        usize::try_from(t).ok().filter(|&t| by_slot.get(t).is_some_and(Option::is_some))
    };
    let mut flows: Vec<Option<Flow>> = vec![None; total];
    let mut work = Vec::new();
    if total > 0 {
        flows[0] = Some(Flow::entry([Val::Ctx, Val::Other, Val::Other, Val::Other, Val::Other]));
        work.push(0);
    }
    let send = |flows: &mut Vec<Option<Flow>>, work: &mut Vec<usize>, to: usize, f: &Flow| match &mut flows[to] {
        Some(old) => {
            if old.join(f) {
                work.push(to);
            }
        }
        none => {
            *none = Some(*f);
            work.push(to);
        }
    };
    // Slots stand for the runtime's instruction indices: the order is the
    // same, so the work list visits what the runtime's visits.
    while let Some(i) = work.pop() {
        let (Some(mut f), Some(insn)) = (flows[i], by_slot[i]) else { continue };
        match *insn {
            Insn::Alu { width, op, dst, src } => {
                let v = match (op, src) {
                    (AluOp::Mov, Src::Reg(r)) if width == Width::W64 => f.reg(r),
                    (AluOp::Add | AluOp::Sub, _) if f.reg(dst) == Val::Ctx => Val::CtxMoved,
                    _ => Val::Other,
                };
                f.set_reg(dst, v);
            }
            Insn::Neg { dst, .. } | Insn::Endian { dst, .. } | Insn::LdImm64 { dst, .. } => f.set_reg(dst, Val::Other),
            Insn::Load { size, dst, src, off, .. } => {
                let v = match (src, size, slot(i32::from(off))) {
                    (Reg::R10, Size::DW, Some(k)) => f.get(STACK + k),
                    _ => Val::Other,
                };
                f.set_reg(dst, v);
            }
            Insn::Store { size, dst: Reg::R10, off, src } => {
                let v = match src {
                    Src::Reg(r) if size == Size::DW => f.reg(r),
                    _ => Val::Other,
                };
                // A narrower store over part of a spill leaves no pointer.
                let off = i32::from(off);
                let first = off.div_euclid(8) * 8;
                let last = (off + size.bytes() as i32 - 1).div_euclid(8) * 8;
                for o in [first, last] {
                    if let Some(k) = slot(o) {
                        f.set(STACK + k, if o == off { v } else { Val::Other });
                    }
                }
            }
            Insn::Store { .. } => {}
            Insn::Atomic { op, src, .. } => {
                if op.fetches() {
                    let r = if op == AtomicOp::CmpXchg { Reg::R0 } else { src };
                    f.set_reg(r, Val::Other);
                }
            }
            Insn::Ja { off, .. } => {
                let t = target(i, insn, i64::from(off))?;
                send(&mut flows, &mut work, t, &f);
                continue;
            }
            Insn::Jump { off, .. } | Insn::MayGoto { off } => {
                let t = target(i, insn, i64::from(off))?;
                send(&mut flows, &mut work, t, &f);
            }
            Insn::Call(CallTarget::Local(off)) => {
                let t = target(i, insn, i64::from(off))?;
                let args = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5].map(|r| f.reg(r));
                send(&mut flows, &mut work, t, &Flow::entry(args));
                f.clobber_caller_saved();
            }
            Insn::Call(_) | Insn::Callx { .. } | Insn::PacketLoad { .. } => f.clobber_caller_saved(),
            Insn::Exit => continue,
        }
        let next = i + insn.slots();
        if next < total {
            send(&mut flows, &mut work, next, &f);
        }
    }
    let mut out = vec![false; total];
    for (i, (insn, f)) in by_slot.iter().zip(&flows).enumerate() {
        let (Some(insn), Some(f)) = (insn, f) else { continue };
        let base = match **insn {
            Insn::Load { src, .. } => src,
            Insn::Store { dst, .. } | Insn::Atomic { dst, .. } => dst,
            _ => continue,
        };
        match f.reg(base) {
            Val::Ctx => out[i] = true,
            Val::Other => {}
            Val::Mixed | Val::CtxMoved => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;
    use bpfx_isa::Program;
    use bpfx_isa::abi::ProgType;
    use bpfx_runtime::context::convert::{ConvertError, convert};

    /// Whether [`rewritten`] says what the runtime's conversion does to
    /// `insns` as a program of `prog_type`.
    fn agree(insns: &[Insn], prog_type: ProgType) -> Result<(), String> {
        let p = Program::new("p", prog_type, insns.to_vec());
        let by_slot = by_slot(insns);
        match (convert(&p), rewritten(&by_slot)) {
            (Ok(c), Some(mine)) => {
                for ((at, insn), new) in p.slots().zip(&c.insns) {
                    if (insn != new) != mine[at.index()] {
                        return Err(format!("insn {at} ({insn}): the runtime made it {new}"));
                    }
                }
                Ok(())
            }
            // The runtime stops at the first access it attributes to the
            // context but the kernel would refuse.
            (Err(ConvertError::Refused { at, .. }), Some(mine)) if mine[at.index()] => Ok(()),
            (
                Err(ConvertError::Ambiguous { .. } | ConvertError::Modified { .. } | ConvertError::BadTarget { .. }),
                None,
            ) => Ok(()),
            (theirs, mine) => Err(format!("the runtime: {:?}; the restatement: {mine:?}", theirs.map(|_| ()))),
        }
    }

    fn by_slot(insns: &[Insn]) -> Vec<Option<&Insn>> {
        let mut out = Vec::new();
        for insn in insns {
            out.push(Some(insn));
            out.extend((1..insn.slots()).map(|_| None));
        }
        out
    }

    /// A deterministic byte stream (xorshift64*) for one case.
    fn bytes(seed: u64, len: usize) -> Vec<u8> {
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

    /// A program from `u` made of what moves a context pointer around:
    /// copies, arithmetic, spills and fills through r10 and through other
    /// registers, narrow stores over spills, atomics, helper and local
    /// calls, jumps, and loads and stores through any of r0-r5.
    fn context_flow(u: &mut Unstructured) -> arbitrary::Result<Vec<Insn>> {
        use bpfx_isa::{AluOp, HelperId, Width};
        let len = u.int_in_range(2..=24)?;
        let mut insns = Vec::with_capacity(len + 1);
        // Few registers, few slots and mostly whole spills, so that values
        // meet again often.
        let reg = |u: &mut Unstructured| -> arbitrary::Result<Reg> {
            Ok(if u.ratio(1, 4)? { Reg::R10 } else { Reg::new(u.int_in_range(0..=3)?).expect("a register") })
        };
        let size = |u: &mut Unstructured| -> arbitrary::Result<Size> {
            Ok(if u.arbitrary()? { Size::DW } else { Size::ALL[u.choose_index(4)?] })
        };
        let stack_off = |u: &mut Unstructured| -> arbitrary::Result<i16> {
            Ok(if u.ratio(3, 4)? { -8 * u.int_in_range(1..=4)? } else { -u.int_in_range(1..=32)? })
        };
        while insns.len() < len {
            let left = (len - insns.len()) as i16;
            insns.push(match u.int_in_range(0..=11)? {
                0 | 1 => {
                    let (dst, src) = (reg(u)?, reg(u)?);
                    let width = if u.ratio(1, 4)? { Width::W32 } else { Width::W64 };
                    Insn::Alu { width, op: AluOp::Mov, dst, src: Src::Reg(src) }
                }
                2 => {
                    let op = if u.arbitrary()? { AluOp::Add } else { AluOp::Sub };
                    Insn::Alu { width: Width::W64, op, dst: reg(u)?, src: Src::Imm(u.int_in_range(-8..=8)?) }
                }
                3 | 4 => {
                    let dst = reg(u)?;
                    Insn::Store { size: size(u)?, dst, off: stack_off(u)?, src: Src::Reg(reg(u)?) }
                }
                5 | 6 => {
                    let src = reg(u)?;
                    Insn::Load { size: size(u)?, signed: false, dst: reg(u)?, src, off: stack_off(u)? }
                }
                7 => {
                    let dst = reg(u)?;
                    Insn::Load { size: size(u)?, signed: false, dst, src: reg(u)?, off: u.int_in_range(0..=3)? * 4 }
                }
                8 => {
                    let op = AtomicOp::ALL[u.choose_index(AtomicOp::ALL.len())?];
                    Insn::Atomic { size: Size::DW, op, dst: reg(u)?, src: reg(u)?, off: stack_off(u)? & !7 }
                }
                9 => Insn::Call(CallTarget::Helper(HelperId(u.int_in_range(1..=8)?))),
                10 => Insn::Jump {
                    width: Width::W64,
                    cond: bpfx_isa::JmpCond::Eq,
                    dst: reg(u)?,
                    src: Src::Imm(0),
                    off: u.int_in_range(0..=left - 1)?,
                },
                _ => Insn::Call(CallTarget::Local(i32::from(u.int_in_range(0..=left - 1)?))),
            });
        }
        insns.push(Insn::Exit);
        Ok(insns)
    }

    #[test]
    fn the_restatement_agrees_with_the_runtimes_conversion() {
        let mut programs: Vec<(String, Vec<Insn>)> = Vec::new();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
        for e in std::fs::read_dir(dir).expect("the corpus is readable").flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "s") {
                let text = std::fs::read_to_string(&path).expect("corpus file is readable");
                let insns = bpfx_isa::assemble(&text).expect("corpus file assembles");
                programs.push((path.display().to_string(), insns));
            }
        }
        let corpus = programs.len();
        for seed in 0..20_000u64 {
            let data = bytes(seed, 512);
            if let Ok(g) = bpfx_testkit::generate::program(&mut Unstructured::new(&data)) {
                programs.push((format!("generated program {seed}"), g.program.insns));
            }
        }
        for seed in 0..20_000u64 {
            let data = bytes(seed ^ 0x5eed, 256);
            if let Ok(insns) = context_flow(&mut Unstructured::new(&data)) {
                programs.push((format!("context flow {seed}"), insns));
            }
        }
        let mut rewrites = 0;
        for (name, insns) in &programs {
            for prog_type in [ProgType::Xdp, ProgType::SchedCls] {
                if let Err(why) = agree(insns, prog_type) {
                    panic!("{name} as {prog_type}: {why}");
                }
                rewrites += rewritten(&by_slot(insns)).map_or(0, |r| r.iter().filter(|&&r| r).count());
            }
        }
        assert!(corpus > 0 && rewrites > 0, "nothing was compared");
    }
}
