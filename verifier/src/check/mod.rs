//! The abstract interpreter: walks every path of the program from its
//! first instruction, one state at a time, checking each instruction
//! against the kernel's rules; records states at pruning points and drops
//! a path as soon as a recorded, fully explored state covers it.
//!
//! This module holds the walk itself (`run`, `step`) and what every rule
//! shares; the rules live by subject: [`alu`], [`memory`] (context,
//! packet, map value accesses and atomics), [`stack`], [`helpers`] (calls
//! and their arguments), [`branch`] (conditional jumps and what they
//! prove), [`exit`] (returns and return ranges) and [`prune`].

mod alu;
mod branch;
mod callback;
mod exit;
mod global;
mod helpers;
mod memory;
mod prune;
mod stack;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use bpfx_isa::abi::{
    ArgKind, AttachType, CtxAccess, CtxValue, HelperProto, MapType, ProgType, RetKind, ctx_access, proto,
};
use bpfx_isa::{
    AluOp, AtomicOp, CallTarget, HelperId, Insn, InsnIdx, JmpCond, LdImm64Kind, PacketLoad, Program, Reg, Size, Src,
    Width,
};

use crate::Options;
use crate::cfg::Cfg;
use crate::lsm::{self, HookReturn};
use crate::proof::Proofs;
use crate::report::{Branch, Code, Diagnostic, Report, SourceLine, Stats, Verdict};
use crate::scalar::Scalar;
use crate::state::{ByteKind, Frame, RegState, RegType, SLOT, STACK_SIZE, State, Step, locate, subsumes};

/// Offsets beyond this are never valid (`BPF_MAX_VAR_OFF`).
const MAX_VAR_OFF: i64 = 1 << 29;
/// Sizes beyond this are never valid (`BPF_MAX_VAR_SIZ`).
const MAX_VAR_SIZE: u64 = 1 << 29;
/// The kernel's `MAX_CALL_FRAMES`.
const MAX_FRAMES: usize = 8;
/// The kernel's `BPF_COMPLEXITY_LIMIT_JMP_SEQ`: pending branches at once.
const MAX_PENDING: usize = 8192;
/// Packet offsets beyond this are never proven (`MAX_PACKET_OFF`).
const MAX_PACKET_OFF: u64 = 0xffff;
/// `__sk_buff`'s `data`, `data_end` and `tstamp`.
const SKB_DATA: i64 = 76;
const SKB_DATA_END: i64 = 80;
const SKB_TSTAMP: i64 = 152;
/// `BPF_MAXINSNS`: the longest program a loader without CAP_BPF may load.
const MAX_UNPRIVILEGED_INSNS: usize = 4096;
/// `BPF_F_STRICT_ALIGNMENT`: every access aligned to its size.
const BPF_F_STRICT_ALIGNMENT: u32 = 1;
/// `BPF_F_RDONLY_PROG`: the program may only read the map.
const MAP_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_WRONLY_PROG`: the program may only write the map.
const MAP_WRONLY_PROG: u32 = 1 << 8;

/// Why the current path is unsafe.
pub(crate) struct Fail {
    code: Code,
    message: String,
    help: String,
}

fn fail<T>(code: Code, message: impl Into<String>, help: impl Into<String>) -> Result<T, Fail> {
    Err(Fail { code, message: message.into(), help: help.into() })
}

type Res<T> = Result<T, Fail>;

/// What happens after an instruction.
enum Flow {
    Next,
    /// Continue, and explore this other state later.
    Fork(Box<State>),
    /// The path ended at the program's exit.
    Done,
}

/// A memory access's direction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read { signed: bool },
    Write,
}

/// A recorded state: `branches` counts the paths from it still being
/// explored; at 0 it is complete and may stand for later states.
struct Explored {
    state: State,
    branches: u32,
    parent: Option<usize>,
    hits: u32,
    misses: u32,
}

pub(crate) struct Verifier<'p> {
    prog: &'p Program,
    cfg: Cfg<'p>,
    opts: Options,
    explored: Vec<Explored>,
    at_insn: Vec<Vec<usize>>,
    stats: Stats,
    next_id: u32,
    /// Deepest stack offset used, per function (index into `cfg.funcs`).
    depth: Vec<i64>,
    /// Jumps and instructions processed since a state was last recorded.
    since_add: (u64, u64),
    /// States currently compared against (the kernel's peak_states counts these).
    listed: u64,
    /// Unprivileged: what each pointer arithmetic instruction with a
    /// register operand saw first (`alu_state`, `alu_limit`); a later path
    /// that differs is refused.
    alu_paths: HashMap<InsnIdx, AluPath>,
    /// Unprivileged: the map each tail call saw first.
    tail_call_maps: HashMap<InsnIdx, u32>,
    /// Whether states are compared for pruning. Off for unprivileged
    /// programs with register-operand additions: every path must reach
    /// each pointer arithmetic instruction, so that paths disagreeing on
    /// its masking are seen (the kernel's `explore_alu_limits`).
    prune: bool,
    /// Global functions called from verified code, to verify alone after
    /// the main program (the kernel's `called` and `verified` marks).
    global_queue: Vec<InsnIdx>,
    global_seen: HashSet<InsnIdx>,
    /// What the walk proves for the engines, gathered visit by visit.
    proofs: Proofs,
    /// The pointer kind each memory instruction saw first (the kernel's
    /// `insn_aux_data.ptr_type`).
    pointer_kinds: HashMap<InsnIdx, RegType>,
}

/// What an unprivileged pointer arithmetic instruction saw on one path:
/// the kernel's `alu_state` and `alu_limit`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct AluPath {
    /// Whether an operand was a pointer (both were numbers otherwise).
    pointer: bool,
    negative: bool,
    known: bool,
    ptr_is_dst: bool,
    limit: i64,
}

impl AluPath {
    const SCALARS: AluPath = AluPath { pointer: false, negative: false, known: false, ptr_is_dst: false, limit: 0 };
}

pub(crate) fn verify(prog: &Program, opts: &Options) -> Report {
    let start = Instant::now();
    let (verdict, diagnostics, mut stats, proven) = match Cfg::build(prog, opts.privileged) {
        Err(e) => {
            let help = e.help.unwrap_or_else(|| cfg_help(e.code));
            let d = diagnostic(prog, e.at, e.code, e.message, help, String::new(), None);
            (Verdict::Rejected, vec![d], Stats::default(), None)
        }
        Ok(cfg) => {
            let n = cfg.by_slot.len();
            let funcs = cfg.funcs.len();
            let mut v = Verifier {
                prog,
                cfg,
                opts: *opts,
                explored: Vec::new(),
                at_insn: vec![Vec::new(); n],
                stats: Stats::default(),
                next_id: 0,
                depth: vec![0; funcs],
                since_add: (0, 0),
                listed: 0,
                alu_paths: HashMap::new(),
                tail_call_maps: HashMap::new(),
                global_queue: Vec::new(),
                global_seen: HashSet::new(),
                proofs: Proofs::new(prog),
                pointer_kinds: HashMap::new(),
                prune: opts.privileged
                    || !prog
                        .insns
                        .iter()
                        .any(|i| matches!(i, Insn::Alu { op: AluOp::Add | AluOp::Sub, src: Src::Reg(_), .. })),
            };
            match v.check_load().and_then(|()| v.run()).and_then(|()| v.check_stack_depth()) {
                Ok(()) => (Verdict::Accepted, Vec::new(), v.stats, Some(v.proofs.finish(prog))),
                Err(e) => {
                    let (f, st) = *e;
                    let (at, state, path) = match &st {
                        Some(st) => (st.pc, st.describe(), st.path.clone()),
                        None => (InsnIdx(0), String::new(), None),
                    };
                    let d = diagnostic(prog, at, f.code, f.message, f.help, state, path);
                    (Verdict::Rejected, vec![d], v.stats, None)
                }
            }
        }
    };
    stats.time = start.elapsed();
    Report { program: prog.name.clone(), verdict, diagnostics, stats, proven }
}

fn cfg_help(code: Code) -> String {
    match code {
        Code::Unreachable => "remove the dead code, or the jump that skips it; the kernel refuses instructions no path reaches".into(),
        _ => "every jump must land on an instruction of its own function and every function must end in exit or a jump; this is usually an assembler or linker mistake".into(),
    }
}

fn diagnostic(
    prog: &Program,
    at: InsnIdx,
    code: Code,
    message: String,
    help: String,
    state: String,
    path: Option<Rc<Step>>,
) -> Diagnostic {
    let insn =
        bpfx_isa::with_slots(&prog.insns).find(|(s, _)| *s == at).map(|(_, i)| i.to_string()).unwrap_or_default();
    let source = prog.line_at(at).map(|l| SourceLine {
        file: l.file.clone(),
        line: l.line,
        column: l.column,
        text: l.source.clone(),
    });
    let mut branches = Vec::new();
    let mut step = path;
    while let Some(s) = step {
        if branches.len() == 32 {
            break;
        }
        branches.push(Branch { at: s.at, taken: s.taken });
        step = s.prev.clone();
    }
    branches.reverse();
    Diagnostic { code, at, insn, source, message, help, state, branches }
}

fn reg_name(r: Reg) -> String {
    format!("R{}", r.num())
}

impl<'p> Verifier<'p> {
    fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn func_index(&self, at: InsnIdx) -> usize {
        self.cfg.funcs.partition_point(|&f| f <= at).saturating_sub(1)
    }

    /// What the kernel refuses before it looks at the instructions: LSM
    /// hooks no program may attach to; and what bpfx cannot judge.
    fn check_load(&self) -> Result<(), Box<(Fail, Option<State>)>> {
        let refuse = |code, message: String, help: String| Err(Box::new((Fail { code, message, help }, None)));
        if self.prog.prog_flags & BPF_F_STRICT_ALIGNMENT != 0 {
            return refuse(
                Code::Unsupported,
                "BPF_F_STRICT_ALIGNMENT is not supported by bpfx".into(),
                "bpfx checks alignment as the kernel does on x86 without the flag; the kernel decides this one".into(),
            );
        }
        if !self.opts.privileged && !matches!(self.prog.prog_type, ProgType::SocketFilter | ProgType::CgroupSkb) {
            return refuse(
                Code::Privileged,
                format!("{} programs load only with CAP_BPF", self.prog.prog_type),
                "without capabilities only socket_filter and cgroup_skb programs may be loaded".into(),
            );
        }
        if !self.opts.privileged && self.prog.slot_count() > MAX_UNPRIVILEGED_INSNS {
            return refuse(
                Code::Privileged,
                format!(
                    "the program has {} instructions; without CAP_BPF at most {MAX_UNPRIVILEGED_INSNS}",
                    self.prog.slot_count()
                ),
                "split the program with tail calls, or load it with CAP_BPF".into(),
            );
        }
        if self.prog.prog_type == ProgType::Lsm {
            match lsm::hook(&self.prog.section) {
                None => {
                    return refuse(
                        Code::Unsupported,
                        format!("no LSM hook is named by section '{}'", self.prog.section),
                        "an LSM program's return values depend on its hook; name it as SEC(\"lsm/HOOK\")".into(),
                    );
                }
                Some(hook) if lsm::disabled(hook) => {
                    return refuse(
                        Code::AttachTarget,
                        format!("attach_btf_id points to disabled hook bpf_lsm_{hook}"),
                        format!("the kernel lets no BPF program attach to the {hook} hook"),
                    );
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The main program, then each global function it (or another one
    /// verified) calls, in function order, each alone from its prototype
    /// (`do_check_main`, `do_check_subprogs`).
    fn run(&mut self) -> Result<(), Box<(Fail, Option<State>)>> {
        let mut init = State {
            pc: InsnIdx(0),
            frames: vec![Frame::new(0, None, InsnIdx(0))],
            refs: Vec::new(),
            path: None,
            parent: None,
        };
        init.frames[0].regs[1] = RegState::pointer(RegType::Ctx);
        self.walk(init)?;
        while !self.global_queue.is_empty() {
            self.global_queue.sort_unstable_by(|a, b| b.cmp(a));
            let Some(at) = self.global_queue.pop() else { break };
            let Some(f) = self.global_at(at) else { continue };
            let init = self.global_entry(f).map_err(|e| Box::new((e, None)))?;
            // Each function's walk starts afresh: the kernel frees the
            // explored states between them.
            self.explored.clear();
            self.at_insn.iter_mut().for_each(Vec::clear);
            self.listed = 0;
            self.since_add = (0, 0);
            self.walk(init)?;
        }
        Ok(())
    }

    /// Every path from `init`.
    fn walk(&mut self, init: State) -> Result<(), Box<(Fail, Option<State>)>> {
        let mut pending = vec![init];
        while let Some(mut st) = pending.pop() {
            loop {
                self.stats.processed += 1;
                self.since_add.1 += 1;
                if self.stats.processed > self.opts.max_processed {
                    let f = Fail {
                        code: Code::TooComplex,
                        message: format!("BPF program is too large. Processed {} insn", self.stats.processed),
                        help: "the analysis explored too many paths; bound loops with small constants, split the program with tail calls, or move work into bpf_loop".into(),
                    };
                    return Err(Box::new((f, Some(st))));
                }
                if self.prune && self.cfg.prune[st.pc.index()] {
                    match self.visit(&mut st) {
                        Visit::Go => {}
                        Visit::Prune => {
                            self.stats.pruned += 1;
                            self.release(st.parent);
                            break;
                        }
                        Visit::Loop => {
                            let f = Fail {
                                code: Code::InfiniteLoop,
                                message: format!("infinite loop detected at insn {}", st.pc),
                                help: "this loop comes back to the same state, so it never ends; make the loop variable change on every iteration and bound it".into(),
                            };
                            return Err(Box::new((f, Some(st))));
                        }
                    }
                }
                match self.step(&mut st) {
                    Err(f) => return Err(Box::new((f, Some(st)))),
                    Ok(Flow::Next) => {}
                    Ok(Flow::Done) => {
                        self.release(st.parent);
                        break;
                    }
                    Ok(Flow::Fork(other)) => {
                        if pending.len() >= MAX_PENDING {
                            let f = Fail {
                                code: Code::TooComplex,
                                message: format!("The sequence of {MAX_PENDING} jumps is too complex."),
                                help: "too many branches are pending at once; simplify the conditions or split the program".into(),
                            };
                            return Err(Box::new((f, Some(st))));
                        }
                        if let Some(p) = other.parent {
                            self.explored[p].branches += 1;
                        }
                        pending.push(*other);
                    }
                }
            }
        }
        Ok(())
    }

    /// The combined stack of the deepest chain of calls (`check_max_stack_depth`).
    fn check_stack_depth(&mut self) -> Result<(), Box<(Fail, Option<State>)>> {
        // The kernel's JIT rounds each frame to 16 bytes.
        let frame_size = |d: i64| (d + 15) / 16 * 16;
        let mut callees: Vec<Vec<usize>> = vec![Vec::new(); self.cfg.funcs.len()];
        for (s, insn) in self.cfg.by_slot.iter().enumerate() {
            // A function reference (a callback) counts as a call, as the
            // kernel counts it.
            let target = match insn {
                Some(insn @ (Insn::Call(CallTarget::Local(_)) | Insn::LdImm64 { kind: LdImm64Kind::Func, .. })) => {
                    InsnIdx((s as i64 + insn.slots() as i64 + insn.branch_offset().unwrap_or(0)) as u32)
                }
                _ => continue,
            };
            let (from, to) = (self.func_index(InsnIdx(s as u32)), self.func_index(target));
            callees[from].push(to);
        }
        // The deepest chain of calls (a recursive one never ends, so it
        // stops as soon as it is longer than the kernel allows).
        fn deepest(f: usize, callees: &[Vec<usize>], size: &[i64], chain: usize) -> (i64, usize) {
            if chain > MAX_FRAMES {
                return (0, chain);
            }
            let mut best = (0, chain);
            for &g in &callees[f] {
                let d = deepest(g, callees, size, chain + 1);
                if d.1 > MAX_FRAMES || d.0 > best.0 {
                    best = d;
                }
                if best.1 > MAX_FRAMES {
                    break;
                }
            }
            (size[f] + best.0, best.1)
        }
        let size: Vec<i64> = self.depth.iter().map(|&d| frame_size(d)).collect();
        let (total, frames) = deepest(0, &callees, &size, 1);
        self.stats.stack_depth = total as u32;
        if frames > MAX_FRAMES {
            let f = Fail {
                code: Code::CallDepth,
                message: format!("the call stack of {frames} frames is too deep !"),
                help: "functions may nest at most 8 deep, and a function that calls itself is never allowed".into(),
            };
            return Err(Box::new((f, None)));
        }
        if total > STACK_SIZE {
            let f = Fail {
                code: Code::CallDepth,
                message: format!("combined stack size of {frames} calls is {total}. Too large"),
                help: "the functions of the deepest call chain use more than 512 bytes of stack together; move large locals into a per-CPU array map".into(),
            };
            return Err(Box::new((f, None)));
        }
        Ok(())
    }

    fn read(&self, st: &State, r: Reg) -> Res<RegState> {
        let v = *st.reg(r);
        if !v.is_init() {
            let help = if r == Reg::R0 {
                "r0 holds no value here; set the return value on every path before exit".to_string()
            } else {
                format!("{r} is read before anything was written to it on this path; initialise it first")
            };
            return fail(Code::UninitReg, format!("{} !read_ok", reg_name(r)), help);
        }
        Ok(v)
    }

    fn write_check(r: Reg) -> Res<()> {
        if r == Reg::R10 {
            return fail(
                Code::FramePointer,
                "frame pointer is read only",
                "r10 is the frame pointer and cannot be written; use another register",
            );
        }
        Ok(())
    }

    fn step(&mut self, st: &mut State) -> Res<Flow> {
        let pc = st.pc;
        let Some(insn) = self.cfg.by_slot[pc.index()] else {
            return fail(Code::Cfg, format!("jump into the middle of ldimm64 insn {}", pc.0 - 1), cfg_help(Code::Cfg));
        };
        let next = InsnIdx(pc.0 + insn.slots() as u32);
        if matches!(insn, Insn::Jump { .. } | Insn::Ja { .. } | Insn::Call(_) | Insn::MayGoto { .. }) {
            self.since_add.0 += 1;
        }
        match *insn {
            Insn::Alu { width, op, dst, src } => self.alu(st, width, op, dst, src)?,
            Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => {
                Self::write_check(dst)?;
                let v = self.read(st, dst)?;
                if v.ty.is_pointer() && !self.opts.privileged {
                    return fail(
                        Code::PtrArith,
                        format!("R{} pointer arithmetic prohibited", dst.num()),
                        "negating or byte-swapping a pointer is not allowed",
                    );
                }
                *st.reg_mut(dst) = RegState::unknown();
            }
            Insn::LdImm64 { dst, kind, imm } => {
                Self::write_check(dst)?;
                let v = self.ld_imm64(pc, kind, imm)?;
                *st.reg_mut(dst) = v;
            }
            Insn::Load { size, signed, dst, src, off } => {
                Self::write_check(dst)?;
                let v = self.mem_access(st, src, off, size.bytes(), Access::Read { signed }, None)?;
                *st.reg_mut(dst) = v;
            }
            Insn::Store { size, dst, off, src } => {
                let mut value = match src {
                    Src::Reg(r) => Some(self.read(st, r)?),
                    Src::Imm(_) => None,
                };
                // A whole-slot spill links the register and its stack copy,
                // so what a branch learns of one holds for the other
                // (`assign_scalar_id_before_mov`).
                let base = st.reg(dst);
                if let (Src::Reg(r), Some(v), RegType::Stack { .. }, Some(at)) =
                    (src, value.as_mut(), base.ty, base.var.value())
                    && self.opts.privileged
                    && (at as i64 + i64::from(base.off) + i64::from(off)) % SLOT as i64 == 0
                    && v.is_scalar()
                    && v.id == 0
                    && v.var.value().is_none()
                    && (size.bytes() == SLOT || v.var.umax >> (8 * size.bytes()) == 0)
                {
                    v.id = self.new_id();
                    st.reg_mut(r).id = v.id;
                }
                if let (Some(v), false) = (value, self.opts.privileged)
                    && v.ty.is_pointer()
                    && !matches!(st.reg(dst).ty, RegType::Stack { .. })
                {
                    return fail(
                        Code::PtrArith,
                        format!("R{} leaks addr into mem", src_reg(src)),
                        "an unprivileged program may not store pointers outside its stack",
                    );
                }
                let imm = if let Src::Imm(i) = src { Some(i) } else { None };
                self.mem_access(st, dst, off, size.bytes(), Access::Write, Some((value, imm)))?;
            }
            Insn::Atomic { size, op, dst, src, off } => self.atomic(st, size, op, dst, src, off)?,
            Insn::Ja { .. } => {
                st.pc = InsnIdx((i64::from(next.0) + insn.branch_offset().unwrap_or(0)) as u32);
                return Ok(Flow::Next);
            }
            Insn::Jump { width, cond, dst, src, off } => {
                let target = InsnIdx((i64::from(next.0) + i64::from(off)) as u32);
                return self.jump(st, width, cond, dst, src, next, target);
            }
            Insn::MayGoto { off } => {
                let target = InsnIdx((i64::from(next.0) + i64::from(off)) as u32);
                let mut other = st.clone();
                other.pc = target;
                st.pc = next;
                return Ok(Flow::Fork(Box::new(other)));
            }
            Insn::Call(CallTarget::Helper(id)) => {
                if let Some(callback) = self.helper_call(st, id)? {
                    st.pc = next;
                    return Ok(Flow::Fork(callback));
                }
            }
            Insn::Call(CallTarget::Local(off)) => {
                let target = InsnIdx((i64::from(next.0) + i64::from(off)) as u32);
                if let Some(f) = self.global_at(target) {
                    self.global_call(st, f)?;
                    st.pc = next;
                    return Ok(Flow::Next);
                }
                if st.frames.len() >= MAX_FRAMES {
                    return fail(
                        Code::CallDepth,
                        format!("the call stack of {} frames is too deep", st.frames.len() + 1),
                        "calls nest more than 8 deep (or recurse); the kernel allows no recursion",
                    );
                }
                let mut callee = Frame::new(st.frames.len() as u8, Some(pc), target);
                let caller = st.cur_mut();
                for r in 1..=5 {
                    callee.regs[r] = caller.regs[r];
                }
                for r in 0..=5 {
                    caller.regs[r] = RegState::NOT_INIT;
                }
                st.frames.push(callee);
                st.pc = target;
                return Ok(Flow::Next);
            }
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                return fail(
                    Code::Unsupported,
                    format!("kfunc call (btf id {btf_id}) is not supported by bpfx"),
                    "bpfx does not model kernel functions yet; the kernel decides this one",
                );
            }
            Insn::Callx { reg } => {
                return fail(
                    Code::BadInsn,
                    format!("unknown opcode 8d (callx {reg})"),
                    "the kernel does not accept indirect calls",
                );
            }
            Insn::Exit => return self.exit(st),
            Insn::PacketLoad { mode, size, .. } => {
                if !matches!(self.prog.prog_type, ProgType::SocketFilter | ProgType::SchedCls | ProgType::SchedAct) {
                    return fail(
                        Code::BadInsn,
                        "BPF_LD_[ABS|IND] instructions not allowed for this program type",
                        "legacy packet loads work in socket filters and tc programs only; read the packet through data/data_end instead",
                    );
                }
                // A failed load ends the program (or function) at once, so no
                // reference may be held across it.
                if let Some(&(id, at)) = st.refs.first() {
                    return fail(
                        Code::RefLeak,
                        format!("BPF_LD_[ABS|IND] cannot be mixed with socket references (id={id} alloc_insn={at})"),
                        "release the reference before a legacy packet load",
                    );
                }
                let r6 = *st.reg(Reg::R6);
                if r6.ty != RegType::Ctx {
                    return fail(
                        Code::BadInsn,
                        "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
                        "legacy packet loads read the skb in r6; keep the context in r6",
                    );
                }
                if r6.off != 0 || !r6.var.is_zero() {
                    return fail(
                        Code::CtxAccess,
                        format!("dereference of modified ctx ptr R6 off={} disallowed", r6.off),
                        "keep the unmodified context pointer in r6 for a legacy packet load",
                    );
                }
                if let PacketLoad::Ind(r) = mode {
                    let v = self.read(st, r)?;
                    if !v.is_scalar() {
                        return fail(
                            Code::BadInsn,
                            format!("R{} type={} expected=scalar", r.num(), v.ty.name()),
                            "the index of an indirect packet load must be a number",
                        );
                    }
                }
                let _ = size;
                let frame = st.cur_mut();
                for r in 1..=5 {
                    frame.regs[r] = RegState::NOT_INIT;
                }
                frame.regs[0] = RegState::unknown();
                // In a called function, a failed load returns 0 from it
                // (the kernel's rewrite has a hidden exit there).
                if st.frames.len() > 1 {
                    let mut loaded = st.clone();
                    loaded.pc = next;
                    st.cur_mut().regs[0] = RegState::constant(0);
                    self.exit(st)?;
                    return Ok(Flow::Fork(Box::new(loaded)));
                }
            }
        }
        st.pc = next;
        Ok(Flow::Next)
    }

    fn map(&self, idx: u32) -> Res<&'p bpfx_isa::MapSpec> {
        match self.prog.maps.get(idx as usize) {
            Some(m) => Ok(m),
            None => fail(
                Code::BadMap,
                format!("fd {idx} is not pointing to valid bpf_map"),
                "the instruction names a map the program does not have; check the map relocations",
            ),
        }
    }
}

enum Visit {
    Go,
    Prune,
    Loop,
}

fn src_reg(src: Src) -> u8 {
    if let Src::Reg(r) = src { r.num() } else { 0 }
}

fn unreachable_uninit(r: Reg) -> Res<RegState> {
    fail(Code::UninitReg, format!("{} !read_ok", reg_name(r)), format!("{r} is read before anything was written to it"))
}
