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
    Ctx,
    /// The context pointer moved by an offset.
    CtxMoved,
    Other,
    /// The context on some paths, something else on others.
    Mixed,
}

impl Val {
    fn join(self, other: Val) -> Val {
        if self == other { self } else { Val::Mixed }
    }
}

/// Spill slots conversion follows per frame (512 bytes of 8).
const SLOTS: usize = 64;

#[derive(Clone, PartialEq, Eq)]
struct Flow {
    regs: [Val; Reg::COUNT],
    stack: [Val; SLOTS],
}

impl Flow {
    fn entry(args: [Val; 5]) -> Flow {
        let mut regs = [Val::Other; Reg::COUNT];
        regs[1..6].copy_from_slice(&args);
        Flow { regs, stack: [Val::Other; SLOTS] }
    }

    /// Joins `other` in; whether anything changed.
    fn join(&mut self, other: &Flow) -> bool {
        let mut changed = false;
        for (a, b) in self.regs.iter_mut().chain(self.stack.iter_mut()).zip(other.regs.iter().chain(&other.stack)) {
            let j = a.join(*b);
            changed |= j != *a;
            *a = j;
        }
        changed
    }

    fn clobber_caller_saved(&mut self) {
        self.regs[..6].fill(Val::Other);
    }
}

/// The spill slot of an 8-byte access at `r10 + off`.
fn slot(off: i32) -> Option<usize> {
    (off < 0 && off >= -(SLOTS as i32) * 8 && off % 8 == 0).then(|| ((-off) / 8 - 1) as usize)
}

/// Per slot of `insns`: whether conversion rewrites the instruction there
/// as a context access. `None` when conversion refuses the program (an
/// access through a pointer that is the context on some paths only, or
/// through a moved one; a jump out of the program): the runtime then runs
/// nothing.
pub(crate) fn rewritten(insns: &[Insn]) -> Option<Vec<bool>> {
    let starts: Vec<usize> = bpfx_isa::with_slots(insns).map(|(at, _)| at.index()).collect();
    let total = insns.iter().map(Insn::slots).sum::<usize>();
    let mut index_of = vec![None; total];
    for (i, &s) in starts.iter().enumerate() {
        index_of[s] = Some(i);
    }
    let target = |i: usize, off: i64| -> Option<usize> {
        let t = starts[i] as i64 + insns[i].slots() as i64 + off;
        usize::try_from(t).ok().and_then(|t| index_of.get(t).copied().flatten())
    };
    let mut flows: Vec<Option<Flow>> = vec![None; insns.len()];
    let mut work = Vec::new();
    if !insns.is_empty() {
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
            *none = Some(f.clone());
            work.push(to);
        }
    };
    while let Some(i) = work.pop() {
        let Some(mut f) = flows[i].clone() else { continue };
        match insns[i] {
            Insn::Alu { width, op, dst, src } => {
                let v = match (op, src) {
                    (AluOp::Mov, Src::Reg(r)) if width == Width::W64 => f.regs[r.index()],
                    (AluOp::Add | AluOp::Sub, _) if f.regs[dst.index()] == Val::Ctx => Val::CtxMoved,
                    _ => Val::Other,
                };
                f.regs[dst.index()] = v;
            }
            Insn::Neg { dst, .. } | Insn::Endian { dst, .. } | Insn::LdImm64 { dst, .. } => {
                f.regs[dst.index()] = Val::Other
            }
            Insn::Load { size, dst, src, off, .. } => {
                f.regs[dst.index()] = match (src, size, slot(i32::from(off))) {
                    (Reg::R10, Size::DW, Some(k)) => f.stack[k],
                    _ => Val::Other,
                };
            }
            Insn::Store { size, dst: Reg::R10, off, src } => {
                let v = match src {
                    Src::Reg(r) if size == Size::DW => f.regs[r.index()],
                    _ => Val::Other,
                };
                // A narrower store over part of a spill leaves no pointer.
                let off = i32::from(off);
                let first = off.div_euclid(8) * 8;
                let last = (off + size.bytes() as i32 - 1).div_euclid(8) * 8;
                for o in [first, last] {
                    if let Some(k) = slot(o) {
                        f.stack[k] = if o == off { v } else { Val::Other };
                    }
                }
            }
            Insn::Store { .. } => {}
            Insn::Atomic { op, src, .. } => {
                if op.fetches() {
                    let r = if op == AtomicOp::CmpXchg { Reg::R0 } else { src };
                    f.regs[r.index()] = Val::Other;
                }
            }
            Insn::Ja { off, .. } => {
                let t = target(i, i64::from(off))?;
                send(&mut flows, &mut work, t, &f);
                continue;
            }
            Insn::Jump { off, .. } | Insn::MayGoto { off } => {
                let t = target(i, i64::from(off))?;
                send(&mut flows, &mut work, t, &f);
            }
            Insn::Call(CallTarget::Local(off)) => {
                let t = target(i, i64::from(off))?;
                let args = [f.regs[1], f.regs[2], f.regs[3], f.regs[4], f.regs[5]];
                send(&mut flows, &mut work, t, &Flow::entry(args));
                f.clobber_caller_saved();
            }
            Insn::Call(_) | Insn::Callx { .. } | Insn::PacketLoad { .. } => f.clobber_caller_saved(),
            Insn::Exit => continue,
        }
        if i + 1 < insns.len() {
            send(&mut flows, &mut work, i + 1, &f);
        }
    }
    let mut out = vec![false; total];
    for (i, insn) in insns.iter().enumerate() {
        let Some(f) = &flows[i] else { continue };
        let base = match *insn {
            Insn::Load { src, .. } => src,
            Insn::Store { dst, .. } | Insn::Atomic { dst, .. } => dst,
            _ => continue,
        };
        match f.regs[base.index()] {
            Val::Ctx => out[starts[i]] = true,
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
        match (convert(&p), rewritten(insns)) {
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
                rewrites += rewritten(insns).map_or(0, |r| r.iter().filter(|&&r| r).count());
            }
        }
        assert!(corpus > 0 && rewrites > 0, "nothing was compared");
    }
}
