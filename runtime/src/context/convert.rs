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
//! instruction is added, jump offsets and line info stay valid; and since
//! every rewrite changes its instruction, the rewritten accesses are the
//! instructions where the two programs differ. [`convert_proven`] carries
//! the verifier's facts over only when those are the accesses the verifier
//! saw through the context pointer ([`Proven::carried_to`]).
//!
//! The kernel converts an access by the type its verifier gave the base
//! register (`PTR_TO_CTX`), so the accesses are found the way that type
//! travels: a forward dataflow that follows the context pointer through
//! register copies, through 8-byte spills and fills at constant offsets
//! from any pointer into any frame's stack (`r10`, copies of it moved by
//! constants, a caller's stack pointer passed as an argument), into
//! bpf-to-bpf calls and out of them (each call site analysed in a frame of
//! its own, as the kernel verifies each call with its caller's state), into
//! the callbacks `bpf_loop` and `bpf_for_each_map_elem` run (with their
//! `callback_ctx` argument, round after round until the caller's stack
//! stops changing), and into global functions (analysed once, alone, as the
//! kernel does: the context where a caller passes it, every other pointer
//! seen as memory, not as the caller's stack).
//!
//! What it is not: a verifier. It walks every edge and joins what reaches
//! an instruction, where the kernel walks each path with exact values, so
//! where the two could differ it refuses rather than guesses: an access
//! through a register that is the context on some paths and something else
//! on others ([`ConvertError::Ambiguous`]; the kernel refuses one
//! instruction used with different pointers too, but it does not visit
//! branches it proves dead), through a moved context pointer, a callback
//! that is not one known function, and calls nested deeper than the
//! kernel allows. Through a stack pointer whose offset is unknown here
//! (moved by a register that holds no known number), a fill joins every
//! slot of its frame and a store may have overwritten any of them, so a
//! context pointer spilled in that frame is refused where it is then
//! dereferenced; so is one stored through a pointer into a frame that has
//! returned. Everything else is left to the engines' region checks.

use std::collections::HashMap;

use bpfx_isa::abi::ProgType;
use bpfx_isa::abi::{CtxAccess, CtxValue, ctx_access, ctx_layout};
use bpfx_isa::{
    AluOp, AtomicOp, CallTarget, HelperId, Insn, InsnIdx, LdImm64Kind, Program, Proven, Reg, Size, Src, Width,
};

use super::{skb_ctx, xdp_ctx};
use crate::region::{FRAME_SIZE, MAX_FRAMES};

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
    /// A jump, call or function reference leaves the program.
    #[error("branch target outside the program at insn {at}")]
    BadTarget { at: InsnIdx },
    /// A helper that calls back gets something that may be a function but
    /// is not one known function.
    #[error("the callback in {reg} is not one known function at insn {at}")]
    Callback { at: InsnIdx, reg: Reg },
    /// A call would make more frames than the kernel allows (or recurse).
    #[error("the call at insn {at} nests more than {MAX_FRAMES} frames deep")]
    TooDeep { at: InsnIdx },
    /// The analysis did not settle within its budget.
    #[error("too many call paths to follow the context pointer through ({visits} instructions visited)")]
    TooComplex { visits: usize },
}

/// Whether `prog_type` runs on a packet context bpfx converts
/// ([`ProgType::runs_on_packet`]).
pub fn converts(prog_type: ProgType) -> bool {
    prog_type.runs_on_packet()
}

/// `program` with its context accesses rewritten for bpfx's context
/// regions. Programs of other types come back unchanged.
pub fn convert(program: &Program) -> Result<Program, ConvertError> {
    let mut out = program.clone();
    if !converts(program.prog_type) {
        return Ok(out);
    }
    for (i, at) in ctx_accesses(program)? {
        out.insns[i] = rewrite(program.prog_type, at, program.insns[i])?;
    }
    Ok(out)
}

/// [`convert`], and the verifier's facts about `program` for the result:
/// `None` unless `proven` was proved for `program` and, for a program type
/// bpfx converts, the conversion rewrote exactly the accesses the verifier
/// saw through the context pointer ([`Proven::carried_to`]). Without facts
/// the program runs with every access checked; with facts for another
/// program an unchecked access would land where nothing was proved.
pub fn convert_proven(program: &Program, proven: &Proven) -> Result<(Program, Option<Proven>), ConvertError> {
    let converted = convert(program)?;
    let facts = if !proven.is_for(program) {
        None
    } else if converts(program.prog_type) {
        proven.carried_to(&converted)
    } else {
        Some(proven.clone())
    };
    Ok((converted, facts))
}

/// What a register or an 8-byte stack slot holds, as far as following the
/// context pointer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// A number, or a pointer to memory other than a stack.
    Other,
    /// A number known here (so that `r2 = -16; r2 += r10` is followed).
    Num(i64),
    /// The context pointer moved by a known offset (0: the pointer itself).
    Ctx(i32),
    /// The context pointer moved by an unknown offset.
    CtxVar,
    /// Frame `.0`'s stack pointer (its `r10`) moved by `.1`.
    Stack(u8, i32),
    /// Somewhere in frame `.0`'s stack, or not a stack pointer at all.
    StackVar(u8),
    /// The function starting at this instruction (by position).
    Func(usize),
    /// Not the context; maybe a function or a pointer into any frame.
    Unknown,
    /// The context on some paths, something else on others.
    Mixed,
}

impl Val {
    fn join(self, other: Val) -> Val {
        use Val::*;
        if self == other {
            return self;
        }
        match (self, other) {
            (Mixed, _) | (_, Mixed) => Mixed,
            (Ctx(_) | CtxVar, Ctx(_) | CtxVar) => CtxVar,
            (Ctx(_) | CtxVar, _) | (_, Ctx(_) | CtxVar) => Mixed,
            (Other | Num(_), Other | Num(_)) => Other,
            (Stack(f, _) | StackVar(f), Stack(g, _) | StackVar(g)) if f == g => StackVar(f),
            (Stack(f, _) | StackVar(f), Other | Num(_)) | (Other | Num(_), Stack(f, _) | StackVar(f)) => StackVar(f),
            _ => Unknown,
        }
    }

    /// `self`, or `Unknown` for a pointer into frame `depth` or above.
    fn unless_above(self, depth: usize) -> Val {
        match self {
            Val::Stack(f, _) | Val::StackVar(f) if usize::from(f) >= depth => Val::Unknown,
            v => v,
        }
    }

    /// `self + src` (`self - src` when `sub`), as the kernel's pointer
    /// arithmetic types it.
    fn add(self, src: Val, sub: bool) -> Val {
        use Val::*;
        let k = match src {
            Num(n) => Some(if sub { n.checked_neg() } else { Some(n) }).flatten(),
            _ => None,
        };
        let moved = |o: i32| k.and_then(|k| i32::try_from(i64::from(o) + k).ok());
        match (self, src) {
            (Num(a), Num(b)) => Num(if sub { a.wrapping_sub(b) } else { a.wrapping_add(b) }),
            // The distance between two pointers is a number.
            (Ctx(_) | CtxVar | Stack(..), Ctx(_) | CtxVar | Stack(..)) if sub => Other,
            (Ctx(o), _) => moved(o).map_or(CtxVar, Ctx),
            (Stack(f, o), _) => moved(o).map_or(StackVar(f), |o| Stack(f, o)),
            (CtxVar | StackVar(_) | Unknown | Mixed, _) => self,
            (Num(_), _) if !sub => src.add(self, false),
            (Other, Ctx(_) | CtxVar) if !sub => CtxVar,
            (Other, Stack(f, _) | StackVar(f)) if !sub => StackVar(f),
            (Other, Unknown | Mixed) if !sub => src,
            _ => Other,
        }
    }
}

/// Stack slots per frame: 512 bytes in 8-byte spills.
const SLOTS: usize = FRAME_SIZE as usize / 8;

/// Instructions visited before the analysis gives up (the kernel's own
/// budget is a million; a program it accepts needs far fewer visits here).
const BUDGET: usize = 1 << 22;

/// One function activation: its registers (the caller's callee-saved ones
/// while a callee runs) and its stack slots.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    regs: [Val; Reg::COUNT],
    stack: [Val; SLOTS],
}

impl Frame {
    /// Frame number `depth` entered with `args` in r1..r5.
    fn entry(depth: usize, args: [Val; 5]) -> Frame {
        let mut regs = [Val::Other; Reg::COUNT];
        regs[1..6].copy_from_slice(&args);
        regs[Reg::R10.index()] = Val::Stack(depth as u8, 0);
        Frame { regs, stack: [Val::Other; SLOTS] }
    }
}

/// Every live frame, the running one last.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    frames: Vec<Frame>,
}

impl State {
    fn top(&self) -> &Frame {
        self.frames.last().expect("a state has a frame")
    }

    fn top_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state has a frame")
    }

    fn reg(&self, r: Reg) -> Val {
        self.top().regs[r.index()]
    }

    fn set(&mut self, r: Reg, v: Val) {
        self.top_mut().regs[r.index()] = v;
    }

    /// What a call leaves in r0..r5: a number in r0, nothing in the others.
    fn clobber_caller_saved(&mut self) {
        self.top_mut().regs[..6].fill(Val::Other);
    }

    fn join(&mut self, other: &State) -> bool {
        let mut changed = false;
        for (a, b) in self.frames.iter_mut().zip(&other.frames) {
            for (x, &y) in a.regs.iter_mut().chain(a.stack.iter_mut()).zip(b.regs.iter().chain(&b.stack)) {
                let j = x.join(y);
                changed |= j != *x;
                *x = j;
            }
        }
        changed
    }

    /// The frames an access through `base`, at an offset not known here,
    /// may reach.
    fn frames_reached(&self, base: Val) -> std::ops::Range<usize> {
        match base {
            Val::StackVar(f) => usize::from(f).min(self.frames.len())..(usize::from(f) + 1).min(self.frames.len()),
            Val::Unknown | Val::Mixed => 0..self.frames.len(),
            _ => 0..0,
        }
    }

    /// What an 8-byte (`wide`) or narrower load through `base + off` gives.
    fn load(&self, base: Val, off: i16, wide: bool) -> Val {
        if !wide {
            return Val::Other;
        }
        if let Val::Stack(f, o) = base {
            return match (self.frames.get(usize::from(f)), slot(i64::from(o) + i64::from(off))) {
                (Some(frame), Some(k)) => frame.stack[k],
                _ => Val::Other,
            };
        }
        let mut v = Val::Other;
        for f in self.frames_reached(base) {
            v = self.frames[f].stack.iter().fold(v, |v, &s| v.join(s));
        }
        v
    }

    /// A store of `v` (`Other` unless it is an 8-byte register spill) of
    /// `bytes` bytes through `base + off`.
    fn store(&mut self, base: Val, off: i16, bytes: usize, v: Val) {
        if let Val::Stack(f, o) = base {
            let Some(frame) = self.frames.get_mut(usize::from(f)) else { return };
            let addr = i64::from(o) + i64::from(off);
            // Every slot the bytes touch; one written whole keeps the value,
            // one written in part holds no pointer any more.
            let first = addr.div_euclid(8) * 8;
            for s in (first..addr + bytes as i64).step_by(8) {
                if let Some(k) = slot(s) {
                    frame.stack[k] = if s == addr && bytes == 8 { v } else { Val::Other };
                }
            }
            return;
        }
        for f in self.frames_reached(base) {
            for s in &mut self.frames[f].stack {
                *s = s.join(v);
            }
        }
    }

    /// Forgets where pointers into the frames above the live ones pointed:
    /// those frames were popped, and the next call reuses their memory.
    fn forget_popped_frames(&mut self) {
        let depth = self.frames.len();
        for frame in &mut self.frames {
            for v in frame.regs.iter_mut().chain(frame.stack.iter_mut()) {
                *v = v.unless_above(depth);
            }
        }
    }
}

/// The stack slot of an 8-byte access at `r10 + off`.
fn slot(off: i64) -> Option<usize> {
    (off < 0 && off >= -(SLOTS as i64) * 8 && off % 8 == 0).then(|| ((-off) / 8 - 1) as usize)
}

/// How a function was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Entry {
    /// The program's entry.
    Main,
    /// A bpf-to-bpf call at `site` of chain `caller`.
    Call { caller: usize, site: usize },
    /// A callback the helper call at `site` of chain `caller` runs.
    Callback { caller: usize, site: usize },
    /// A global function, entered alone.
    Global,
}

/// For a helper that runs a callback in place (the one in its r2): the
/// argument of the callback that gets the caller's r3, `callback_ctx` (r2
/// for `bpf_loop`, r4 for `bpf_for_each_map_elem`, whose others are a
/// number, the map, a key and a value). The runtime's helpers
/// (`basic::bpf_loop`, `map::for_each_map_elem`) pass them so, as the
/// kernel's `set_loop_callback_state` and `map_set_for_each_callback_args`
/// type them.
fn callback_ctx_arg(helper: HelperId) -> Option<usize> {
    match helper.name()? {
        "loop" => Some(1),
        "for_each_map_elem" => Some(3),
        _ => None,
    }
}

/// The arguments a callback gets from a helper call in `caller`, whose
/// `callback_ctx` goes in argument `ctx_arg`.
fn callback_args(ctx_arg: usize, caller: &Frame) -> [Val; 5] {
    let mut args = [Val::Other; 5];
    args[ctx_arg] = caller.regs[Reg::R3.index()];
    args
}

/// The forward dataflow over every way each function is reached (see the
/// module docs).
struct Flow<'p> {
    insns: &'p [Insn],
    /// The slot of each instruction, and the instruction at each slot.
    slots: Vec<InsnIdx>,
    index_of: Vec<Option<usize>>,
    /// Per instruction: a global function starts there.
    global: Vec<bool>,
    /// How each chain (a function reached one way) was entered, and where.
    chains: Vec<(Entry, usize)>,
    chain_of: HashMap<(Entry, usize), usize>,
    /// The state reaching each instruction of each chain.
    states: HashMap<(usize, usize), State>,
    work: Vec<(usize, usize)>,
}

impl<'p> Flow<'p> {
    fn new(program: &'p Program) -> Flow<'p> {
        let insns = &program.insns[..];
        let slots: Vec<InsnIdx> = bpfx_isa::with_slots(insns).map(|(at, _)| at).collect();
        let mut index_of = vec![None; program.slot_count()];
        for (i, at) in slots.iter().enumerate() {
            index_of[at.index()] = Some(i);
        }
        let mut global = vec![false; insns.len()];
        for f in program.func_info.iter().filter(|f| f.global) {
            if let Some(Some(i)) = index_of.get(f.at.index()) {
                global[*i] = true;
            }
        }
        Flow {
            insns,
            slots,
            index_of,
            global,
            chains: Vec::new(),
            chain_of: HashMap::new(),
            states: HashMap::new(),
            work: Vec::new(),
        }
    }

    /// The instruction (by position) the one at position `i` jumps to,
    /// calls or refers to.
    fn target(&self, i: usize) -> Result<usize, ConvertError> {
        let off = self.insns[i].branch_offset().unwrap_or(0);
        let t = i64::from(self.slots[i].0) + self.insns[i].slots() as i64 + off;
        usize::try_from(t)
            .ok()
            .and_then(|t| self.index_of.get(t).copied().flatten())
            .ok_or(ConvertError::BadTarget { at: self.slots[i] })
    }

    fn chain(&mut self, entry: Entry, at: usize) -> usize {
        *self.chain_of.entry((entry, at)).or_insert_with(|| {
            self.chains.push((entry, at));
            self.chains.len() - 1
        })
    }

    fn flow(&mut self, chain: usize, at: usize, s: State) {
        if at >= self.insns.len() {
            return;
        }
        match self.states.get_mut(&(chain, at)) {
            Some(old) => {
                if old.join(&s) {
                    self.work.push((chain, at));
                }
            }
            None => {
                self.states.insert((chain, at), s);
                self.work.push((chain, at));
            }
        }
    }

    /// Enters function `target` from the call `entry` names (in state `s`)
    /// with `args`, in a new frame.
    fn enter(&mut self, entry: Entry, target: usize, s: &State, args: [Val; 5]) -> Result<(), ConvertError> {
        let (Entry::Call { site, .. } | Entry::Callback { site, .. }) = entry else { return Ok(()) };
        if s.frames.len() >= MAX_FRAMES as usize {
            return Err(ConvertError::TooDeep { at: self.slots[site] });
        }
        let chain = self.chain(entry, target);
        let mut entered = s.clone();
        entered.frames.push(Frame::entry(s.frames.len(), args));
        self.flow(chain, target, entered);
        Ok(())
    }

    fn run(&mut self) -> Result<(), ConvertError> {
        if self.insns.is_empty() {
            return Ok(());
        }
        let main = self.chain(Entry::Main, 0);
        let args = [Val::Ctx(0), Val::Other, Val::Other, Val::Other, Val::Other];
        self.flow(main, 0, State { frames: vec![Frame::entry(0, args)] });
        let mut visits = 0;
        while let Some((chain, i)) = self.work.pop() {
            visits += 1;
            if visits > BUDGET {
                return Err(ConvertError::TooComplex { visits });
            }
            let Some(s) = self.states.get(&(chain, i)) else { continue };
            self.step(chain, i, s.clone())?;
        }
        Ok(())
    }

    /// The transfer function of instruction `i` of `chain` from state `s`.
    fn step(&mut self, chain: usize, i: usize, mut s: State) -> Result<(), ConvertError> {
        match self.insns[i] {
            Insn::Alu { width, op, dst, src } => {
                let src = match src {
                    Src::Reg(r) => s.reg(r),
                    Src::Imm(k) => Val::Num(i64::from(k)),
                };
                let v = match (width, op, src) {
                    (Width::W64, AluOp::Mov, _) => src,
                    (Width::W64, AluOp::Add | AluOp::Sub, _) => s.reg(dst).add(src, op == AluOp::Sub),
                    (Width::W32, AluOp::Mov, Val::Num(n)) => Val::Num(i64::from(n as u32)),
                    _ => Val::Other,
                };
                s.set(dst, v);
            }
            Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => s.set(dst, Val::Other),
            Insn::LdImm64 { dst, kind, imm } => {
                let v = match kind {
                    LdImm64Kind::Func => Val::Func(self.target(i)?),
                    LdImm64Kind::Imm => Val::Num(imm as i64),
                    _ => Val::Other,
                };
                s.set(dst, v);
            }
            Insn::Load { size, dst, src, off, .. } => {
                let v = s.load(s.reg(src), off, size == Size::DW);
                s.set(dst, v);
            }
            Insn::Store { size, dst, off, src } => {
                let v = match src {
                    Src::Reg(r) if size == Size::DW => s.reg(r),
                    _ => Val::Other,
                };
                s.store(s.reg(dst), off, size.bytes(), v);
            }
            Insn::Atomic { size, op, dst, src, off } => {
                // The old value is read as a load reads it; the memory then
                // holds a number.
                let base = s.reg(dst);
                let old = s.load(base, off, size == Size::DW);
                s.store(base, off, size.bytes(), Val::Other);
                if op.fetches() {
                    s.set(if op == AtomicOp::CmpXchg { Reg::R0 } else { src }, old);
                }
            }
            Insn::Ja { .. } => {
                let t = self.target(i)?;
                self.flow(chain, t, s);
                return Ok(());
            }
            Insn::Jump { .. } | Insn::MayGoto { .. } => {
                let t = self.target(i)?;
                self.flow(chain, t, s.clone());
            }
            Insn::Call(CallTarget::Local(_)) => {
                let t = self.target(i)?;
                let top = s.top();
                let args = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5].map(|r| top.regs[r.index()]);
                if !self.global[t] {
                    return self.enter(Entry::Call { caller: chain, site: i }, t, &s, args);
                }
                // The kernel types a global function's arguments from its
                // prototype: the context stays the context, any other
                // pointer is memory the function cannot follow back.
                let args = args.map(|v| match v {
                    Val::Ctx(_) | Val::CtxVar | Val::Mixed => v,
                    _ => Val::Other,
                });
                let g = self.chain(Entry::Global, t);
                self.flow(g, t, State { frames: vec![Frame::entry(0, args)] });
                s.clobber_caller_saved();
            }
            Insn::Call(CallTarget::Helper(id)) => {
                if let (Some(ctx_arg), Val::Func(t)) = (callback_ctx_arg(id), s.reg(Reg::R2)) {
                    self.enter(Entry::Callback { caller: chain, site: i }, t, &s, callback_args(ctx_arg, s.top()))?;
                }
                s.clobber_caller_saved();
            }
            Insn::Call(CallTarget::Kfunc { .. }) | Insn::Callx { .. } | Insn::PacketLoad { .. } => {
                s.clobber_caller_saved()
            }
            Insn::Exit => return self.exit(chain, s),
        }
        self.flow(chain, i + 1, s);
        Ok(())
    }

    /// A function of `chain` returns in state `s`.
    fn exit(&mut self, chain: usize, mut s: State) -> Result<(), ConvertError> {
        let (entry, start) = self.chains[chain];
        let (Entry::Call { caller, site } | Entry::Callback { caller, site }) = entry else { return Ok(()) };
        let callee = s.frames.pop().expect("a called function has its frame");
        s.forget_popped_frames();
        // The next round of a callback starts from what this one left in
        // the caller; a callback returns a number to its helper, a function
        // whatever it has in r0.
        if let (Entry::Callback { .. }, Insn::Call(CallTarget::Helper(id))) = (entry, self.insns[site])
            && let Some(ctx_arg) = callback_ctx_arg(id)
        {
            self.enter(entry, start, &s, callback_args(ctx_arg, s.top()))?;
        }
        s.clobber_caller_saved();
        if let Entry::Call { .. } = entry {
            s.set(Reg::R0, callee.regs[0].unless_above(s.frames.len()));
        }
        self.flow(caller, site + 1, s);
        Ok(())
    }

    /// The instructions (by position) that access the context on every
    /// visit, with their slots; an error for one that does on some visits
    /// only, or through a moved context pointer, or a callback that cannot
    /// be told.
    fn attribute(&self) -> Result<Vec<(usize, InsnIdx)>, ConvertError> {
        const CTX: u8 = 1;
        const NOT_CTX: u8 = 2;
        const MOVED: u8 = 4;
        const UNTOLD: u8 = 8;
        // Per instruction: what the register it goes through held in each
        // chain (the callback register, for a helper that calls back).
        let mut seen = vec![0u8; self.insns.len()];
        for (&(_, i), s) in &self.states {
            let Some(reg) = through(&self.insns[i]) else { continue };
            seen[i] |= match (self.insns[i], s.reg(reg)) {
                (Insn::Call(_), Val::Unknown | Val::Mixed) => UNTOLD,
                (Insn::Call(_), _) => 0,
                (_, Val::Ctx(0)) => CTX,
                (_, Val::Ctx(_) | Val::CtxVar) => MOVED,
                (_, Val::Mixed) => CTX | NOT_CTX,
                _ => NOT_CTX,
            };
        }
        let mut found = Vec::new();
        for (i, &bits) in seen.iter().enumerate() {
            let (at, Some(reg)) = (self.slots[i], through(&self.insns[i])) else { continue };
            if bits & UNTOLD != 0 {
                return Err(ConvertError::Callback { at, reg });
            }
            if bits & (CTX | NOT_CTX) == CTX | NOT_CTX {
                return Err(ConvertError::Ambiguous { at, reg });
            }
            if bits & MOVED != 0 {
                return Err(ConvertError::Modified { at, reg });
            }
            if bits & CTX != 0 {
                found.push((i, at));
            }
        }
        Ok(found)
    }
}

/// The register a memory access goes through, or the one holding the
/// callback of a helper that calls back.
fn through(insn: &Insn) -> Option<Reg> {
    match *insn {
        Insn::Load { src, .. } => Some(src),
        Insn::Store { dst, .. } | Insn::Atomic { dst, .. } => Some(dst),
        Insn::Call(CallTarget::Helper(id)) => callback_ctx_arg(id).map(|_| Reg::R2),
        _ => None,
    }
}

/// The instructions (by position in `program.insns`) that access the
/// context, with their slots.
fn ctx_accesses(program: &Program) -> Result<Vec<(usize, InsnIdx)>, ConvertError> {
    let mut flow = Flow::new(program);
    flow.run()?;
    flow.attribute()
}

/// The instruction `insn` at `at` becomes for bpfx's context region.
fn rewrite(prog_type: ProgType, at: InsnIdx, insn: Insn) -> Result<Insn, ConvertError> {
    let (off, size, access) = match insn {
        Insn::Load { size, signed, off, .. } => (off, size, CtxAccess::Read { signed }),
        Insn::Store { size, off, .. } | Insn::Atomic { size, off, .. } => (off, size, CtxAccess::Write),
        _ => return Ok(insn),
    };
    let bytes = size.bytes() as u32;
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
    use bpfx_isa::abi::ctx_layout;
    use bpfx_isa::{FuncInfo, assemble};

    fn program(prog_type: ProgType, source: &str) -> Program {
        Program::new("t", prog_type, assemble(source).expect("assembles"))
    }

    /// The positions of the instructions conversion rewrote.
    fn rewritten(p: &Program) -> Vec<usize> {
        let c = convert(p).unwrap_or_else(|e| panic!("converts: {e}"));
        (0..p.insns.len()).filter(|&i| c.insns[i] != p.insns[i]).collect()
    }

    fn load(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::Load { size, signed: false, dst, src, off }
    }

    #[test]
    fn pointer_fields_become_64_bit_loads_and_scalars_move() {
        let p = program(
            ProgType::Xdp,
            "r6 = r1\nr2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\nr4 = *(u32 *)(r1 + 12)\nr0 = 2\nexit",
        );
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[1], load(Size::DW, Reg::R2, Reg::R6, 0));
        assert_eq!(c.insns[2], load(Size::DW, Reg::R3, Reg::R6, 8));
        assert_eq!(c.insns[3], load(Size::W, Reg::R4, Reg::R1, 32));
    }

    #[test]
    fn spilled_and_passed_context_pointers_are_followed() {
        let p = program(
            ProgType::SchedCls,
            "*(u64 *)(r10 - 8) = r1\nr1 = 0\nr7 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r7 + 8)\nr1 = r7\ncall local +1\nexit\nr0 = *(u32 *)(r1 + 0)\nexit",
        );
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[3], load(Size::W, Reg::R0, Reg::R7, 32));
        assert_eq!(c.insns[7], load(Size::W, Reg::R0, Reg::R1, 24));
    }

    #[test]
    fn spills_through_copies_of_the_frame_pointer_are_followed() {
        let p = program(
            ProgType::SchedCls,
            "
            r2 = r10
            *(u64 *)(r2 - 8) = r1
            r3 = *(u64 *)(r10 - 8)
            r4 = *(u32 *)(r3 + 76)
            r2 += -16
            r5 = -24
            r5 += r10
            *(u64 *)(r5 + 0) = r3
            r6 = *(u64 *)(r2 - 8)
            r0 = *(u32 *)(r6 + 0)
            *(u32 *)(r2 - 8) = r0
            r6 = *(u64 *)(r10 - 24)
            r0 = *(u32 *)(r6 + 0)
            exit",
        );
        assert_eq!(rewritten(&p), [3, 9], "data and len through the copies; nothing once a narrow store hit the spill");
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[3], load(Size::DW, Reg::R4, Reg::R3, 0));
        assert_eq!(c.insns[9], load(Size::W, Reg::R0, Reg::R6, 24));
    }

    #[test]
    fn a_callback_gets_the_context_through_its_callback_ctx() {
        // bpf_loop(4, cb, &(struct { void *ctx; }){ ctx }, 0), as
        // tests/progs/loop_cb.c does; the callback reads data_end.
        let (p, _) = loop_program();
        assert_eq!(rewritten(&p), [10]);
        assert_eq!(convert(&p).unwrap().insns[10], load(Size::DW, Reg::R0, Reg::R3, 8));

        // bpf_for_each_map_elem hands callback_ctx over in r4.
        let p = program(
            ProgType::Xdp,
            "
            *(u64 *)(r10 - 8) = r1
            ld_pseudo r1, 1, 0
            ld_pseudo r2, 4, 7
            r3 = r10
            r3 += -8
            r4 = 0
            call 164
            r0 = 2
            exit
            r5 = *(u64 *)(r4 + 0)
            r0 = *(u32 *)(r5 + 12)
            r0 = *(u32 *)(r2 + 0)
            r0 = 0
            exit",
        );
        assert_eq!(rewritten(&p), [10], "ingress_ifindex; the key in r2 is not the context");
    }

    #[test]
    fn callees_reach_their_callers_stack_and_return_the_context() {
        let p = program(
            ProgType::Xdp,
            "
            r6 = r1
            r1 = r10
            r1 += -8
            r2 = r6
            call local f
            r7 = *(u64 *)(r10 - 8)
            r2 = *(u32 *)(r7 + 16)
            r3 = *(u32 *)(r0 + 0)
            exit
            f:
            *(u64 *)(r1 + 0) = r2
            r0 = r2
            exit",
        );
        assert_eq!(rewritten(&p), [6, 7], "rx_queue_index through the caller's slot, data through the return value");
    }

    #[test]
    fn a_global_function_gets_the_context_but_not_its_callers_stack() {
        let mut p = program(
            ProgType::Xdp,
            "
            *(u64 *)(r10 - 8) = r1
            r2 = r10
            r2 += -8
            call local g
            r0 = 2
            exit
            g:
            *(u64 *)(r10 - 8) = r1
            r3 = *(u64 *)(r2 + 0)
            r0 = *(u32 *)(r3 + 0)
            r0 = *(u32 *)(r1 + 12)
            exit",
        );
        p.func_info = [(0, false), (6, true)]
            .map(|(at, global)| FuncInfo { at: InsnIdx(at), name: format!("f{at}"), btf_type_id: 0, global, sig: None })
            .to_vec();
        // The kernel types a global function's pointer argument as memory:
        // what it loads from it is a number, whatever the caller spilled.
        assert_eq!(rewritten(&p), [9]);
        p.func_info[1].global = false;
        assert_eq!(rewritten(&p), [8, 9], "a static function follows its caller's stack");
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
    }

    #[test]
    fn what_cannot_be_told_apart_is_refused() {
        let p = program(ProgType::Xdp, "if r2 == 0 goto +1\nr1 = r10\nr0 = *(u32 *)(r1 - 8)\nexit");
        assert_eq!(convert(&p), Err(ConvertError::Ambiguous { at: InsnIdx(2), reg: Reg::R1 }));
        let p = program(ProgType::Xdp, "r1 += 4\nr0 = *(u32 *)(r1 + 0)\nexit");
        assert_eq!(convert(&p), Err(ConvertError::Modified { at: InsnIdx(1), reg: Reg::R1 }));
        let p = program(ProgType::Xdp, "r1 += 4\nr1 += -4\nr0 = *(u32 *)(r1 + 0)\nexit");
        assert_eq!(rewritten(&p), [2], "moved back, the context pointer is itself again");
        // One function, called with the context and with a stack pointer.
        let p = program(
            ProgType::Xdp,
            "call local f\nr1 = r10\nr1 += -8\ncall local f\nr0 = 2\nexit\nf:\nr0 = *(u32 *)(r1 + 0)\nexit",
        );
        assert_eq!(convert(&p), Err(ConvertError::Ambiguous { at: InsnIdx(6), reg: Reg::R1 }));
        // A spill another store may have overwritten, at an offset not known here.
        let p = program(
            ProgType::Xdp,
            "*(u64 *)(r10 - 8) = r1\nr2 = r10\nr2 += r3\nr4 = 0\n*(u64 *)(r2 - 16) = r4\nr5 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r5 + 0)\nexit",
        );
        assert_eq!(convert(&p), Err(ConvertError::Ambiguous { at: InsnIdx(6), reg: Reg::R5 }));
        // A callback that is one of two functions.
        let p = program(
            ProgType::Xdp,
            "
            if r1 == 0 goto +3
            ld_pseudo r2, 4, 9
            goto +2
            ld_pseudo r2, 4, 7
            r1 = 1
            r3 = 0
            r4 = 0
            call 181
            exit
            r0 = 0
            exit",
        );
        assert_eq!(convert(&p), Err(ConvertError::Callback { at: InsnIdx(9), reg: Reg::R2 }));
        // A callback that reads its second word through a stack pointer in
        // the first round and through the context (it stored there) in the
        // next: one instruction, two kinds of pointer.
        let p = program(
            ProgType::Xdp,
            "
            *(u64 *)(r10 - 16) = r1
            r2 = r10
            r2 += -32
            *(u64 *)(r10 - 8) = r2
            r3 = r10
            r3 += -16
            r1 = 4
            ld_pseudo r2, 4, 5
            r4 = 0
            call 181
            r0 = 2
            exit
            r3 = *(u64 *)(r2 + 8)
            r0 = *(u32 *)(r3 + 12)
            r4 = *(u64 *)(r2 + 0)
            *(u64 *)(r2 + 8) = r4
            r0 = 0
            exit",
        );
        assert_eq!(convert(&p), Err(ConvertError::Ambiguous { at: InsnIdx(14), reg: Reg::R3 }));
        // A pointer into a function's frame, left behind when it returned:
        // a store through it may reach any frame.
        let p = program(
            ProgType::Xdp,
            "
            r6 = r1
            r1 = r10
            r1 += -8
            call local f
            r3 = *(u64 *)(r10 - 8)
            *(u64 *)(r3 + 0) = r6
            r4 = *(u64 *)(r10 - 16)
            r0 = *(u32 *)(r4 + 0)
            exit
            f:
            r2 = r10
            r2 += -8
            *(u64 *)(r1 + 0) = r2
            exit",
        );
        assert_eq!(convert(&p), Err(ConvertError::Ambiguous { at: InsnIdx(7), reg: Reg::R4 }));
        let p = program(ProgType::Xdp, "f:\ncall local f\nexit");
        assert_eq!(convert(&p), Err(ConvertError::TooDeep { at: InsnIdx(0) }));
    }

    #[test]
    fn sixteen_bit_kernel_fields_get_sixteen_bit_stores() {
        let p = program(ProgType::SchedCls, "*(u32 *)(r1 + 72) = r2\n*(u32 *)(r1 + 8) = r2\nexit");
        let c = convert(&p).unwrap();
        assert_eq!(c.insns[0], Insn::Store { size: Size::H, dst: Reg::R1, off: 96, src: Src::Reg(Reg::R2) });
        assert_eq!(c.insns[1], Insn::Store { size: Size::W, dst: Reg::R1, off: 32, src: Src::Reg(Reg::R2) });
    }

    /// `convert_proven` and `Proven::carried_to` tell the rewritten accesses
    /// by the instructions that differ: every rewrite must change its
    /// instruction.
    #[test]
    fn every_rewrite_changes_its_instruction() {
        let mut rewrites = 0;
        for prog_type in ProgType::ALL.iter().copied().filter(|&t| converts(t)) {
            let size_of = ctx_layout(prog_type).map_or(0, |l| l.size);
            for off in 0..i16::try_from(size_of).expect("small") {
                for size in Size::ALL {
                    let accesses = [
                        load(size, Reg::R0, Reg::R1, off),
                        Insn::Load { size, signed: true, dst: Reg::R0, src: Reg::R1, off },
                        Insn::Store { size, dst: Reg::R1, off, src: Src::Reg(Reg::R2) },
                    ];
                    for insn in accesses {
                        if let Ok(new) = rewrite(prog_type, InsnIdx(0), insn) {
                            assert_ne!(new, insn, "{prog_type}: {insn}");
                            rewrites += 1;
                        }
                    }
                }
            }
        }
        assert!(rewrites > 100, "only {rewrites} accesses were rewritten");
    }

    /// A program whose `bpf_loop` callback reads the context through its
    /// `callback_ctx`, with facts as the verifier records them (every access
    /// safe; the callback's second load through the context).
    fn loop_program() -> (Program, Proven) {
        let p = program(
            ProgType::Xdp,
            "
            *(u64 *)(r10 - 16) = r1
            r3 = r10
            r3 += -16
            r1 = 4
            ld_pseudo r2, 4, 5
            r4 = 0
            call 181
            r0 = 2
            exit
            r3 = *(u64 *)(r2 + 0)
            r0 = *(u32 *)(r3 + 4)
            r0 = 0
            exit",
        );
        let mut proven = Proven::new(&p);
        for at in [0, 10, 11] {
            proven.add_safe_access(InsnIdx(at));
        }
        proven.add_context_access(InsnIdx(11));
        (p, proven)
    }

    #[test]
    fn facts_carry_over_when_the_conversion_rewrote_what_the_verifier_saw() {
        let (p, proven) = loop_program();
        let (converted, facts) = convert_proven(&p, &proven).unwrap();
        assert_eq!(converted, convert(&p).unwrap());
        let facts = facts.expect("the conversion agrees with the verifier");
        assert!(facts.is_for(&converted));
        assert_eq!(facts.safe_access_count(), 3);

        // The verifier saw another context access: not the program proved.
        let mut more = proven.clone();
        more.add_context_access(InsnIdx(10));
        assert_eq!(convert_proven(&p, &more).unwrap().1, None);
        let mut fewer = Proven::new(&p);
        fewer.add_safe_access(InsnIdx(11));
        assert_eq!(convert_proven(&p, &fewer).unwrap().1, None);
        // Facts about another program never carry.
        let mut other = p.clone();
        other.insns[7] = Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(1) };
        assert_eq!(convert_proven(&other, &proven).unwrap().1, None);
    }

    #[test]
    fn a_program_type_without_conversion_keeps_its_facts() {
        let p = program(ProgType::Kprobe, "r0 = *(u64 *)(r1 + 0)\nexit");
        let mut proven = Proven::new(&p);
        proven.add_context_access(InsnIdx(0));
        let (converted, facts) = convert_proven(&p, &proven).unwrap();
        assert_eq!((converted, facts), (p, Some(proven)));
    }
}
