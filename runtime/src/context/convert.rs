//! Context-access conversion: what the kernel's verifier does to a
//! program's loads and stores through its context pointer before it runs.
//!
//! A program compiled against the uapi headers reads `struct xdp_md` or
//! `struct __sk_buff`; bpfx's context regions ([`super::xdp_ctx`],
//! [`super::skb_ctx`]) hold the uapi struct verbatim at a fixed offset
//! (`UAPI`) behind 64-bit packet pointers. [`convert`] finds every access
//! through the context pointer, refuses the ones the kernel refuses for the
//! program type (the table in `bpfx_isa::abi::ctx`), and rewrites the rest
//! one for one: a scalar field moves by `UAPI` (narrow loads keep their
//! byte offset), a `u32` pointer field (`data`, `data_end`, `data_meta`)
//! becomes a 64-bit load of the real pointer, and a store into a 16-bit
//! kernel field (`tc_index`, `tc_classid`, `queue_mapping`) becomes a
//! 16-bit store, so reading it back gives what the kernel gives. Since no
//! instruction is added, jump offsets and line info stay valid.
//!
//! Which registers hold the context pointer is found by a forward dataflow
//! over the control-flow graph (registers, 8-byte stack spills through
//! `r10`, arguments of local calls), as the kernel's verifier tracks
//! `PTR_TO_CTX`. What it is not: a verifier. Accesses it cannot attribute
//! (a pointer that is the context on some paths only) are refused rather
//! than guessed; everything else is left to the engines' region checks.

use bpfx_isa::abi::ProgType;
use bpfx_isa::abi::{CtxAccess, CtxValue, ctx_access, ctx_layout};
use bpfx_isa::{CallTarget, Insn, InsnIdx, PacketLoad, Program, Reg, Size, Src};

use super::{skb_ctx, xdp_ctx};

/// Why a program's context accesses cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The kernel refuses this access for the program type.
    #[error(
        "invalid bpf_context access off={off} size={size} ({what} of {field}) in a {prog_type} program at insn {at}"
    )]
    Refused { at: InsnIdx, prog_type: ProgType, off: i64, size: u32, what: &'static str, field: String },
    /// The register holds the context pointer on some paths only.
    #[error("{reg} is the context pointer on some paths only, at insn {at}")]
    Ambiguous { at: InsnIdx, reg: Reg },
    /// The context pointer plus an offset is dereferenced.
    #[error("dereference of a modified context pointer {reg} at insn {at}")]
    Modified { at: InsnIdx, reg: Reg },
    /// A jump or call leaves the program.
    #[error("branch target outside the program at insn {at}")]
    BadTarget { at: InsnIdx },
}

/// Whether `prog_type` runs on a packet context bpfx converts.
pub fn converts(prog_type: ProgType) -> bool {
    matches!(
        prog_type,
        ProgType::Xdp | ProgType::SchedCls | ProgType::SchedAct | ProgType::SocketFilter | ProgType::CgroupSkb
    )
}

/// `program` with its context accesses rewritten for bpfx's context
/// regions. Programs of other types come back unchanged.
pub fn convert(program: &Program) -> Result<Program, ConvertError> {
    let mut out = program.clone();
    if !converts(program.prog_type) {
        return Ok(out);
    }
    let accesses = ctx_accesses(&program.insns)?;
    for (i, at) in accesses {
        out.insns[i] = rewrite(program.prog_type, at, program.insns[i])?;
    }
    Ok(out)
}

/// What a register or stack slot holds, as far as the context goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// The context pointer itself.
    Ctx,
    /// The context pointer plus a non-zero or unknown offset.
    CtxMoved,
    /// Anything else.
    Other,
    /// The context on some paths, something else on others.
    Mixed,
}

impl Val {
    fn join(self, other: Val) -> Val {
        match (self, other) {
            (a, b) if a == b => a,
            _ => Val::Mixed,
        }
    }
}

/// Stack slots tracked per frame: 512 bytes in 8-byte spills.
const SLOTS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    regs: [Val; Reg::COUNT],
    stack: [Val; SLOTS],
}

impl State {
    fn entry(args: [Val; 5]) -> State {
        let mut regs = [Val::Other; Reg::COUNT];
        regs[1..6].copy_from_slice(&args);
        State { regs, stack: [Val::Other; SLOTS] }
    }

    fn join(&mut self, other: &State) -> bool {
        let before = self.clone();
        for (a, b) in self.regs.iter_mut().zip(other.regs) {
            *a = a.join(b);
        }
        for (a, b) in self.stack.iter_mut().zip(other.stack) {
            *a = a.join(b);
        }
        *self != before
    }

    fn set(&mut self, r: Reg, v: Val) {
        self.regs[r.index()] = v;
    }

    fn get(&self, r: Reg) -> Val {
        self.regs[r.index()]
    }

    fn clobber_caller_saved(&mut self) {
        for r in 0..6 {
            self.regs[r] = Val::Other;
        }
    }
}

/// The stack slot `r10 + off` names for an 8-byte access.
fn slot(off: i16) -> Option<usize> {
    let off = i32::from(off);
    (off < 0 && off >= -(SLOTS as i32) * 8 && off % 8 == 0).then(|| ((-off) / 8 - 1) as usize)
}

/// The instructions (by position in `insns`) that access the context, with
/// their slots.
fn ctx_accesses(insns: &[Insn]) -> Result<Vec<(usize, InsnIdx)>, ConvertError> {
    let slots: Vec<InsnIdx> = bpfx_isa::with_slots(insns).map(|(at, _)| at).collect();
    let total = insns.iter().map(Insn::slots).sum::<usize>();
    let mut index_of = vec![None; total];
    for (i, at) in slots.iter().enumerate() {
        index_of[at.0 as usize] = Some(i);
    }
    let target = |i: usize, off: i64| -> Result<usize, ConvertError> {
        let at = slots[i];
        let t = i64::from(at.0) + insns[i].slots() as i64 + off;
        usize::try_from(t).ok().and_then(|t| index_of.get(t).copied().flatten()).ok_or(ConvertError::BadTarget { at })
    };
    let mut states: Vec<Option<State>> = vec![None; insns.len()];
    let mut work = vec![0usize];
    states[0] = Some(State::entry([Val::Ctx, Val::Other, Val::Other, Val::Other, Val::Other]));
    let flow = |states: &mut Vec<Option<State>>, work: &mut Vec<usize>, to: usize, s: &State| match &mut states[to] {
        Some(old) => {
            if old.join(s) {
                work.push(to);
            }
        }
        slot @ None => {
            *slot = Some(s.clone());
            work.push(to);
        }
    };
    while let Some(i) = work.pop() {
        let Some(mut s) = states[i].clone() else { continue };
        let insn = insns[i];
        let next = i + 1;
        match insn {
            Insn::Alu { width, op, dst, src } => {
                let v = match (op, src) {
                    (bpfx_isa::AluOp::Mov, Src::Reg(r)) if width == bpfx_isa::Width::W64 => s.get(r),
                    (bpfx_isa::AluOp::Add | bpfx_isa::AluOp::Sub, _) if s.get(dst) == Val::Ctx => Val::CtxMoved,
                    _ => Val::Other,
                };
                s.set(dst, v);
            }
            Insn::Neg { dst, .. } | Insn::Endian { dst, .. } | Insn::LdImm64 { dst, .. } => s.set(dst, Val::Other),
            Insn::Load { size, dst, src, off, .. } => {
                let v = match (src == Reg::R10, size, slot(off)) {
                    (true, Size::DW, Some(k)) => s.stack[k],
                    _ => Val::Other,
                };
                s.set(dst, v);
            }
            Insn::Store { size, dst, off, src } => {
                if dst == Reg::R10 {
                    let v = match src {
                        Src::Reg(r) if size == Size::DW => s.get(r),
                        _ => Val::Other,
                    };
                    // A narrower store overwrites part of a spilled pointer.
                    let first = i32::from(off).div_euclid(8) * 8;
                    let last = (i32::from(off) + size_bytes(size) as i32 - 1).div_euclid(8) * 8;
                    for o in [first, last] {
                        if let Some(k) = i16::try_from(o).ok().and_then(slot) {
                            s.stack[k] = if o == i32::from(off) { v } else { Val::Other };
                        }
                    }
                }
            }
            Insn::Atomic { op, src, .. } => {
                if op.fetches() {
                    if op == bpfx_isa::AtomicOp::CmpXchg {
                        s.set(Reg::R0, Val::Other);
                    } else {
                        s.set(src, Val::Other);
                    }
                }
            }
            Insn::Ja { off, .. } => {
                let t = target(i, i64::from(off))?;
                flow(&mut states, &mut work, t, &s);
                continue;
            }
            Insn::Jump { off, .. } | Insn::MayGoto { off } => {
                let t = target(i, i64::from(off))?;
                flow(&mut states, &mut work, t, &s);
            }
            Insn::Call(CallTarget::Local(off)) => {
                let t = target(i, i64::from(off))?;
                let args = [s.regs[1], s.regs[2], s.regs[3], s.regs[4], s.regs[5]];
                flow(&mut states, &mut work, t, &State::entry(args));
                s.clobber_caller_saved();
            }
            Insn::Call(_) | Insn::Callx { .. } => s.clobber_caller_saved(),
            Insn::PacketLoad { mode, .. } => {
                let _: PacketLoad = mode;
                s.clobber_caller_saved();
            }
            Insn::Exit => continue,
        }
        if next < insns.len() {
            flow(&mut states, &mut work, next, &s);
        }
    }
    let mut found = Vec::new();
    for (i, insn) in insns.iter().enumerate() {
        let Some(s) = &states[i] else { continue };
        let base = match *insn {
            Insn::Load { src, .. } => src,
            Insn::Store { dst, .. } | Insn::Atomic { dst, .. } => dst,
            _ => continue,
        };
        match s.get(base) {
            Val::Ctx => found.push((i, slots[i])),
            Val::Mixed => return Err(ConvertError::Ambiguous { at: slots[i], reg: base }),
            Val::CtxMoved => return Err(ConvertError::Modified { at: slots[i], reg: base }),
            Val::Other => {}
        }
    }
    Ok(found)
}

fn size_bytes(size: Size) -> u32 {
    match size {
        Size::B => 1,
        Size::H => 2,
        Size::W => 4,
        Size::DW => 8,
    }
}

/// The instruction `insn` at `at` becomes for bpfx's context region.
fn rewrite(prog_type: ProgType, at: InsnIdx, insn: Insn) -> Result<Insn, ConvertError> {
    let (off, size, access) = match insn {
        Insn::Load { size, signed, off, .. } => (off, size, CtxAccess::Read { signed }),
        Insn::Store { size, off, .. } | Insn::Atomic { size, off, .. } => (off, size, CtxAccess::Write),
        _ => return Ok(insn),
    };
    let bytes = size_bytes(size);
    let layout = ctx_layout(prog_type);
    let field = layout
        .and_then(|l| u32::try_from(off).ok().and_then(|o| l.field_at(o)))
        .map_or_else(|| layout.map_or("context", |l| l.name).to_string(), |f| f.name.to_string());
    let refused =
        |what| ConvertError::Refused { at, prog_type, off: i64::from(off), size: bytes, what, field: field.clone() };
    if matches!(insn, Insn::Atomic { .. }) {
        return Err(refused("atomic update"));
    }
    let what = if access == CtxAccess::Write { "write" } else { "read" };
    let value = ctx_access(prog_type, i64::from(off), bytes, access).ok_or_else(|| refused(what))?;
    let xdp = prog_type == ProgType::Xdp;
    let pointer = |slot: usize| i16::try_from(slot).expect("context slots are small");
    let moved = if xdp { xdp_ctx::UAPI } else { skb_ctx::UAPI };
    Ok(match (insn, value) {
        (Insn::Load { dst, src, .. }, CtxValue::PacketData) => Insn::Load {
            size: Size::DW,
            signed: false,
            dst,
            src,
            off: pointer(if xdp { xdp_ctx::DATA } else { skb_ctx::DATA }),
        },
        (Insn::Load { dst, src, .. }, CtxValue::PacketEnd) => Insn::Load {
            size: Size::DW,
            signed: false,
            dst,
            src,
            off: pointer(if xdp { xdp_ctx::DATA_END } else { skb_ctx::DATA_END }),
        },
        (Insn::Load { dst, src, .. }, CtxValue::PacketMeta) => Insn::Load {
            size: Size::DW,
            signed: false,
            dst,
            src,
            off: pointer(if xdp { xdp_ctx::DATA_META } else { skb_ctx::DATA_META }),
        },
        (Insn::Load { size, signed, dst, src, off }, _) => {
            Insn::Load { size, signed, dst, src, off: off + pointer(moved) }
        }
        (Insn::Store { size, dst, off, src }, _) => {
            let narrow = ["tc_index", "tc_classid", "queue_mapping"].contains(&field.as_str()) && size == Size::W;
            Insn::Store { size: if narrow { Size::H } else { size }, dst, off: off + pointer(moved), src }
        }
        (other, _) => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfx_isa::assemble;

    fn program(prog_type: ProgType, source: &str) -> Program {
        Program::new("t", prog_type, assemble(source).expect("assembles"))
    }

    #[test]
    fn pointer_fields_become_64_bit_loads_and_scalars_move() {
        let p = program(
            ProgType::Xdp,
            "r6 = r1\nr2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\nr4 = *(u32 *)(r1 + 12)\nr0 = 2\nexit",
        );
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[1], Insn::Load { size: Size::DW, signed: false, dst: Reg::R2, src: Reg::R6, off: 0 });
        assert_eq!(c.insns[2], Insn::Load { size: Size::DW, signed: false, dst: Reg::R3, src: Reg::R6, off: 8 });
        assert_eq!(c.insns[3], Insn::Load { size: Size::W, signed: false, dst: Reg::R4, src: Reg::R1, off: 32 });
    }

    #[test]
    fn spilled_and_passed_context_pointers_are_followed() {
        let p = program(
            ProgType::SchedCls,
            "*(u64 *)(r10 - 8) = r1\nr1 = 0\nr7 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r7 + 8)\nr1 = r7\ncall local +1\nexit\nr0 = *(u32 *)(r1 + 0)\nexit",
        );
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[3], Insn::Load { size: Size::W, signed: false, dst: Reg::R0, src: Reg::R7, off: 32 });
        assert_eq!(c.insns[7], Insn::Load { size: Size::W, signed: false, dst: Reg::R0, src: Reg::R1, off: 24 });
    }

    #[test]
    fn refused_accesses_name_the_field() {
        let p = program(ProgType::SocketFilter, "r0 = *(u32 *)(r1 + 76)\nexit");
        let e = convert(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid bpf_context access off=76 size=4 (read of data) in a socket_filter program at insn 0"
        );
        let p = program(ProgType::Xdp, "*(u32 *)(r1 + 12) = r0\nexit");
        assert!(matches!(convert(&p), Err(ConvertError::Refused { .. })));
        let p = program(ProgType::Xdp, "if r2 == 0 goto +1\nr1 = r10\nr0 = *(u32 *)(r1 - 8)\nexit");
        assert_eq!(convert(&p), Err(ConvertError::Ambiguous { at: InsnIdx(2), reg: Reg::R1 }));
        let p = program(ProgType::Xdp, "r1 += 4\nr0 = *(u32 *)(r1 + 0)\nexit");
        assert_eq!(convert(&p), Err(ConvertError::Modified { at: InsnIdx(1), reg: Reg::R1 }));
    }

    #[test]
    fn sixteen_bit_kernel_fields_get_sixteen_bit_stores() {
        let p = program(ProgType::SchedCls, "*(u32 *)(r1 + 72) = r2\n*(u32 *)(r1 + 8) = r2\nexit");
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[0], Insn::Store { size: Size::H, dst: Reg::R1, off: 96, src: Src::Reg(Reg::R2) });
        assert_eq!(c.insns[1], Insn::Store { size: Size::W, dst: Reg::R1, off: 32, src: Src::Reg(Reg::R2) });
    }
}
