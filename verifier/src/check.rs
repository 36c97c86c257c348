//! The abstract interpreter: walks every path of the program from its
//! first instruction, one state at a time, checking each instruction
//! against the kernel's rules; records states at pruning points and drops
//! a path as soon as a recorded, fully explored state covers it.

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
}

pub(crate) fn verify(prog: &Program, opts: &Options) -> Report {
    let start = Instant::now();
    let (verdict, diagnostics, mut stats) = match Cfg::build(prog) {
        Err(e) => {
            let help = e.help.unwrap_or_else(|| cfg_help(e.code));
            let d = diagnostic(prog, e.at, e.code, e.message, help, String::new(), None);
            (Verdict::Rejected, vec![d], Stats::default())
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
            };
            match v.check_load().and_then(|()| v.run()).and_then(|()| v.check_stack_depth()) {
                Ok(()) => (Verdict::Accepted, Vec::new(), v.stats),
                Err(e) => {
                    let (f, st) = *e;
                    let (at, state, path) = match &st {
                        Some(st) => (st.pc, st.describe(), st.path.clone()),
                        None => (InsnIdx(0), String::new(), None),
                    };
                    let d = diagnostic(prog, at, f.code, f.message, f.help, state, path);
                    (Verdict::Rejected, vec![d], v.stats)
                }
            }
        }
    };
    stats.time = start.elapsed();
    Report { program: prog.name.clone(), verdict, diagnostics, stats }
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

    fn run(&mut self) -> Result<(), Box<(Fail, Option<State>)>> {
        let mut init = State {
            pc: InsnIdx(0),
            frames: vec![Frame::new(0, None, InsnIdx(0))],
            refs: Vec::new(),
            path: None,
            parent: None,
        };
        init.frames[0].regs[1] = RegState::pointer(RegType::Ctx);
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
                if self.cfg.prune[st.pc.index()] {
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

    /// `is_state_visited`: prunes `st` if a complete recorded state covers
    /// it, detects a loop back to an identical state, and records `st`.
    fn visit(&mut self, st: &mut State) -> Visit {
        let pc = st.pc.index();
        let live = self.cfg.live[pc] | (1 << 10);
        let uninit_ok = self.opts.privileged;
        let mut add = true;
        let mut i = 0;
        while i < self.at_insn[pc].len() {
            let e = self.at_insn[pc][i];
            let ex = &mut self.explored[e];
            if ex.branches > 0 {
                if ex.state.same_as(st) {
                    return Visit::Loop;
                }
                // Inside a loop, record a state only now and then: each
                // iteration differs, and a state per iteration would make
                // every later lookup slower.
                if self.since_add.0 < 20 && self.since_add.1 < 100 {
                    add = false;
                }
            } else if subsumes(&ex.state, st, live, uninit_ok) {
                ex.hits += 1;
                return Visit::Prune;
            }
            if add {
                ex.misses += 1;
            }
            // A state that keeps missing is unlikely to help: stop comparing with it.
            if ex.misses > ex.hits * 3 + 3 {
                self.at_insn[pc].remove(i);
                self.listed -= 1;
                continue;
            }
            i += 1;
        }
        if !add {
            return Visit::Go;
        }
        let e = self.explored.len();
        let mut saved = st.clone();
        saved.path = None;
        self.explored.push(Explored { state: saved, branches: 1, parent: st.parent, hits: 0, misses: 0 });
        self.at_insn[pc].push(e);
        st.parent = Some(e);
        self.since_add = (0, 0);
        self.stats.total_states += 1;
        self.listed += 1;
        self.stats.peak_states = self.stats.peak_states.max(self.listed);
        Visit::Go
    }

    fn release(&mut self, mut parent: Option<usize>) {
        while let Some(e) = parent {
            let ex = &mut self.explored[e];
            ex.branches -= 1;
            if ex.branches > 0 {
                break;
            }
            parent = ex.parent;
        }
    }

    /// The combined stack of the deepest chain of calls (`check_max_stack_depth`).
    fn check_stack_depth(&mut self) -> Result<(), Box<(Fail, Option<State>)>> {
        // The kernel's JIT rounds each frame to 16 bytes.
        let frame_size = |d: i64| (d + 15) / 16 * 16;
        let mut callees: Vec<Vec<usize>> = vec![Vec::new(); self.cfg.funcs.len()];
        for (s, insn) in self.cfg.by_slot.iter().enumerate() {
            if let Some(Insn::Call(CallTarget::Local(off))) = insn {
                let target = InsnIdx((s as i64 + 1 + i64::from(*off)) as u32);
                let (from, to) = (self.func_index(InsnIdx(s as u32)), self.func_index(target));
                callees[from].push(to);
            }
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
                let value = match src {
                    Src::Reg(r) => Some(self.read(st, r)?),
                    Src::Imm(_) => None,
                };
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
            Insn::Call(CallTarget::Helper(id)) => self.helper_call(st, id)?,
            Insn::Call(CallTarget::Local(off)) => {
                let target = InsnIdx((i64::from(next.0) + i64::from(off)) as u32);
                if let Some(f) = self.prog.func_info.iter().find(|f| f.at == target && f.global) {
                    return fail(
                        Code::Unsupported,
                        format!("call to global function {} is not supported by bpfx", f.name),
                        "the kernel verifies a global function alone, from its BTF argument types; bpfx does not yet, so the kernel decides this one (a `static` function is verified at each call)",
                    );
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
                if self.cfg.funcs.len() > 1 {
                    return fail(
                        Code::BadInsn,
                        "BPF_LD_[ABS|IND] instructions cannot be mixed with bpf-to-bpf calls",
                        "use bpf_skb_load_bytes instead of legacy packet loads in programs with functions",
                    );
                }
                if st.reg(Reg::R6).ty != RegType::Ctx {
                    return fail(
                        Code::BadInsn,
                        "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
                        "legacy packet loads read the skb in r6; keep the context in r6",
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
            }
        }
        st.pc = next;
        Ok(Flow::Next)
    }

    fn ld_imm64(&mut self, pc: InsnIdx, kind: LdImm64Kind, imm: u64) -> Res<RegState> {
        let lo = imm as u32;
        Ok(match kind {
            LdImm64Kind::Imm => RegState::constant(imm),
            LdImm64Kind::MapFd | LdImm64Kind::MapIdx => {
                self.map(lo)?;
                RegState::pointer(RegType::MapPtr { map: lo })
            }
            LdImm64Kind::MapValue | LdImm64Kind::MapIdxValue => {
                let m = self.map(lo)?;
                let off = (imm >> 32) as u32;
                if !matches!(m.map_type, MapType::Array) {
                    return fail(
                        Code::BadMap,
                        format!("map '{}' ({}) does not allow direct value access", m.name, m.map_type),
                        "only array maps (global data) can be addressed directly",
                    );
                }
                if off >= m.value_size {
                    return fail(
                        Code::MapBounds,
                        format!("invalid access to map value pointer, value_size={} off={off}", m.value_size),
                        "the address lies past the end of the map value",
                    );
                }
                RegState { off: off as i32, ..RegState::pointer(RegType::MapValue { map: lo }) }
            }
            LdImm64Kind::Func => {
                let target = InsnIdx((i64::from(pc.0) + 2 + i64::from(lo as i32)) as u32);
                RegState::pointer(RegType::Func { at: target })
            }
            LdImm64Kind::BtfId => {
                return fail(
                    Code::Unsupported,
                    "ld_imm64 of a kernel variable (BTF id) is not supported by bpfx",
                    "bpfx does not model kernel variables yet; the kernel decides this one",
                );
            }
        })
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

    fn alu(&mut self, st: &mut State, width: Width, op: AluOp, dst: Reg, src: Src) -> Res<()> {
        Self::write_check(dst)?;
        let srcv = match src {
            Src::Reg(r) => self.read(st, r)?,
            Src::Imm(i) => RegState::constant(match width {
                Width::W64 => i as i64 as u64,
                Width::W32 => u64::from(i as u32),
            }),
        };
        match op {
            AluOp::Mov => {
                let v = match width {
                    Width::W64 => {
                        if let Src::Reg(r) = src
                            && srcv.is_scalar()
                            && srcv.id == 0
                            && srcv.var.value().is_none()
                        {
                            let id = self.new_id();
                            st.reg_mut(r).id = id;
                            RegState { id, ..srcv }
                        } else {
                            srcv
                        }
                    }
                    Width::W32 if srcv.is_scalar() => RegState::scalar(srcv.var.zext32()),
                    Width::W32 => {
                        if !self.opts.privileged {
                            return fail(
                                Code::PtrArith,
                                format!("R{} partial copy of pointer", src_reg(src)),
                                "copying the low half of a pointer leaks it",
                            );
                        }
                        RegState::scalar(Scalar::UNKNOWN.zext32())
                    }
                };
                *st.reg_mut(dst) = v;
            }
            AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
                let bytes = match op {
                    AluOp::MovSx8 => 1,
                    AluOp::MovSx16 => 2,
                    _ => 4,
                };
                let var = if srcv.is_scalar() { srcv.var } else { Scalar::UNKNOWN };
                *st.reg_mut(dst) = RegState::scalar(var.movsx(bytes, width));
            }
            _ => {
                let dstv = self.read(st, dst)?;
                if matches!(op, AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod) && src == Src::Imm(0) {
                    return fail(
                        Code::DivByZero,
                        "div by zero",
                        "dividing by the constant 0 is refused; remove the division or divide by a non-zero constant",
                    );
                }
                let bits = if width == Width::W64 { 64 } else { 32 };
                if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh)
                    && let Src::Imm(i) = src
                    && (i < 0 || i >= bits)
                {
                    return fail(
                        Code::BadShift,
                        format!("invalid shift {i}"),
                        format!("a {bits}-bit shift amount must be in 0..{bits}"),
                    );
                }
                if dstv.ty.is_pointer() || srcv.ty.is_pointer() {
                    let v = self.ptr_alu(width, op, dst, dstv, srcv)?;
                    *st.reg_mut(dst) = v;
                } else {
                    let var = match width {
                        Width::W64 => Scalar::alu64(op, &dstv.var, &srcv.var),
                        Width::W32 => Scalar::alu32(op, &dstv.var, &srcv.var),
                    };
                    *st.reg_mut(dst) = RegState::scalar(var);
                }
            }
        }
        Ok(())
    }

    fn ptr_alu(&mut self, width: Width, op: AluOp, dst: Reg, dstv: RegState, srcv: RegState) -> Res<RegState> {
        let d = dst.num();
        let help = "only add or subtract a bounded number to or from a pointer, on the full 64-bit register";
        if width == Width::W32 {
            return fail(Code::PtrArith, format!("R{d} 32-bit pointer arithmetic prohibited"), help);
        }
        if dstv.ty.is_pointer() && srcv.ty.is_pointer() {
            if op == AluOp::Sub && self.opts.privileged {
                return Ok(RegState::unknown());
            }
            return fail(
                Code::PtrArith,
                format!("R{d} pointer {} pointer prohibited", op.llvm_op()),
                "pointers can only be subtracted from each other (privileged), never combined otherwise",
            );
        }
        let (ptr, scalar) = if dstv.ty.is_pointer() { (dstv, srcv) } else { (srcv, dstv) };
        if !dstv.ty.is_pointer() && op == AluOp::Sub {
            return fail(
                Code::PtrArith,
                format!("R{d} tried to subtract pointer from scalar"),
                "subtract the number from the pointer, not the pointer from the number",
            );
        }
        match op {
            AluOp::Add | AluOp::Sub => {}
            AluOp::And | AluOp::Or | AluOp::Xor => {
                return fail(
                    Code::PtrArith,
                    format!("R{d} bitwise operator {} on pointer prohibited", op.llvm_op()),
                    help,
                );
            }
            _ => {
                return fail(
                    Code::PtrArith,
                    format!("R{d} pointer arithmetic with {} operator prohibited", op.llvm_op()),
                    help,
                );
            }
        }
        if ptr.ty.may_be_null() {
            return fail(
                Code::NullDeref,
                format!("R{d} pointer arithmetic on {} prohibited, null-check it first", ptr.ty.name()),
                "compare the pointer with NULL (`if (!p) return ...`) before computing with it",
            );
        }
        if matches!(ptr.ty, RegType::PacketEnd | RegType::SockCommon | RegType::Func { .. })
            || (matches!(ptr.ty, RegType::MapPtr { .. }) && !scalar.var.is_zero())
        {
            return fail(
                Code::PtrArith,
                format!("R{d} pointer arithmetic on {} prohibited", ptr.ty.name()),
                format!(
                    "a {} pointer cannot be moved; derive pointers from data, not data_end or a map",
                    ptr.ty.name()
                ),
            );
        }
        if op == AluOp::Sub && matches!(ptr.ty, RegType::Stack { .. }) {
            return fail(
                Code::PtrArith,
                format!("R{d} subtraction from stack pointer"),
                "add a negative offset to a stack pointer (`r1 += -8`) instead of subtracting",
            );
        }
        let mut r = ptr;
        if let Some(c) = scalar.var.value() {
            let c = c as i64;
            if !(-MAX_VAR_OFF < c && c < MAX_VAR_OFF) {
                return fail(
                    Code::PtrArith,
                    format!("math between {} pointer and {c} is not allowed", ptr.ty.name()),
                    "the offset is far outside any object",
                );
            }
            let off = if op == AluOp::Add { i64::from(ptr.off) + c } else { i64::from(ptr.off) - c };
            if !(-MAX_VAR_OFF < off && off < MAX_VAR_OFF) {
                return fail(
                    Code::PtrArith,
                    format!("{} pointer offset {off} is not allowed", ptr.ty.name()),
                    "the offset is far outside any object",
                );
            }
            r.off = off as i32;
            return Ok(r);
        }
        if scalar.var.smin == i64::MIN {
            return fail(
                Code::Unbounded,
                format!("math between {} pointer and register with unbounded min value is not allowed", ptr.ty.name()),
                format!(
                    "bound the offset first, for example `if (off > 64) return ...` or `off &= 0x3f`, before adding it to the {} pointer",
                    ptr.ty.name()
                ),
            );
        }
        if scalar.var.smin <= -MAX_VAR_OFF {
            return fail(
                Code::Unbounded,
                format!("value {} makes {} pointer be out of bounds", scalar.var.smin, ptr.ty.name()),
                "bound the offset before adding it to the pointer",
            );
        }
        if matches!(ptr.ty, RegType::Stack { .. }) && !self.opts.privileged {
            return fail(
                Code::PtrArith,
                format!("R{d} variable stack access prohibited for !root"),
                "unprivileged programs may only use constant stack offsets",
            );
        }
        r.var = Scalar::alu64(op, &ptr.var, &scalar.var);
        if matches!(ptr.ty, RegType::Packet | RegType::PacketMeta) {
            r.id = self.new_id();
            r.range = 0;
        }
        Ok(r)
    }

    /// Checks a load (`value` None) or store through `ptr_reg + off`;
    /// returns the loaded value.
    fn mem_access(
        &mut self,
        st: &mut State,
        ptr_reg: Reg,
        off: i16,
        size: usize,
        access: Access,
        value: Option<(Option<RegState>, Option<i32>)>,
    ) -> Res<RegState> {
        let p = self.read(st, ptr_reg)?;
        let rn = ptr_reg.num();
        let off = i64::from(off);
        let write = access == Access::Write;
        let signed = matches!(access, Access::Read { signed: true });
        let sized = |v: Scalar| if signed { v.sign_extend(size) } else { v.truncate(size) };
        match p.ty {
            RegType::NotInit => unreachable_uninit(ptr_reg),
            RegType::Scalar => fail(
                Code::BadDeref,
                format!("R{rn} invalid mem access 'scalar'"),
                format!(
                    "R{rn} holds a number, not a pointer; memory is reached only through pointers the verifier tracks (context, stack, packet, map values)"
                ),
            ),
            RegType::Ctx => {
                if p.off != 0 || !p.var.is_zero() {
                    return fail(
                        Code::CtxAccess,
                        format!("dereference of modified ctx ptr R{rn} off={} disallowed", p.off),
                        "read context fields at constant offsets from the unmodified context pointer (r1 at entry)",
                    );
                }
                let kind = if write { CtxAccess::Write } else { CtxAccess::Read { signed } };
                match ctx_access(self.prog.prog_type, off, size as u32, kind) {
                    None => fail(
                        Code::CtxAccess,
                        format!("invalid bpf_context access off={off} size={size}"),
                        format!(
                            "{} programs may not {} {size} bytes at offset {off} of their context; check the field and its size in the uapi struct",
                            self.prog.prog_type,
                            if write { "write" } else { "read" }
                        ),
                    ),
                    Some(v) => Ok(match (write, v) {
                        (true, _) => RegState::NOT_INIT,
                        (false, CtxValue::Scalar) => RegState::scalar(sized(Scalar::UNKNOWN)),
                        (false, CtxValue::PacketData) => RegState::pointer(RegType::Packet),
                        (false, CtxValue::PacketEnd) => RegState::pointer(RegType::PacketEnd),
                        (false, CtxValue::PacketMeta) => RegState::pointer(RegType::PacketMeta),
                        (false, CtxValue::SockCommonOrNull) => {
                            RegState { id: self.new_id(), ..RegState::pointer(RegType::SockCommonOrNull) }
                        }
                    }),
                }
            }
            RegType::Stack { frame } => self.stack_access(st, p, frame as usize, rn, off, size, access, value),
            RegType::Packet | RegType::PacketMeta => {
                if write && !self.pkt_writable() {
                    return fail(
                        Code::PktWrite,
                        "cannot write into packet",
                        format!(
                            "{} programs may only read packet data; use a helper such as bpf_skb_store_bytes where the type allows it",
                            self.prog.prog_type
                        ),
                    );
                }
                if p.var.smin < 0 {
                    return fail(
                        Code::PktBounds,
                        format!("R{rn} min value is negative, either use unsigned index or do a if (index >=0) check."),
                        "the packet offset may be negative; use an unsigned type or check that it is >= 0",
                    );
                }
                let o = off + i64::from(p.off);
                if o < 0 || o + size as i64 > i64::from(p.range) {
                    let end = o + size as i64;
                    let what = if p.ty == RegType::Packet { "data_end" } else { "data" };
                    let base = if p.ty == RegType::Packet { "data" } else { "data_meta" };
                    let var =
                        if p.var.value() == Some(0) { String::new() } else { " (plus its variable offset)".into() };
                    return fail(
                        Code::PktBounds,
                        format!(
                            "invalid access to packet, off={o} size={size}, R{rn}(id={},off={},r={})",
                            p.id, p.off, p.range
                        ),
                        if o < 0 {
                            format!("the access starts before {base}; packet pointers may only move forward")
                        } else {
                            format!(
                                "packet {} of {size} bytes at offset {o}{var} is not proven below {what}; add `if ({base} + {end} > {what}) return ...` (comparing the same pointer you access through) before this line",
                                if write { "write" } else { "read" }
                            )
                        },
                    );
                }
                Ok(if write { RegState::NOT_INIT } else { RegState::scalar(sized(Scalar::UNKNOWN)) })
            }
            RegType::MapValue { map } => {
                let m = self.map(map)?;
                if write && m.flags & MAP_RDONLY_PROG != 0 {
                    return fail(
                        Code::MapBounds,
                        format!("write into map forbidden, value_size={} off={off} size={size}", m.value_size),
                        format!("map '{}' is read-only for programs", m.name),
                    );
                }
                if !write && m.flags & MAP_WRONLY_PROG != 0 {
                    return fail(
                        Code::MapBounds,
                        format!("read from map forbidden, value_size={} off={off} size={size}", m.value_size),
                        format!("map '{}' is write-only for programs", m.name),
                    );
                }
                self.region(
                    &p,
                    rn,
                    off,
                    size as u64,
                    u64::from(m.value_size),
                    Code::MapBounds,
                    &format!("map value of '{}'", m.name),
                )?;
                Ok(if write { RegState::NOT_INIT } else { RegState::scalar(sized(Scalar::UNKNOWN)) })
            }
            RegType::Mem { size: mem } => {
                self.region(&p, rn, off, size as u64, u64::from(mem), Code::MemBounds, "memory")?;
                Ok(if write { RegState::NOT_INIT } else { RegState::scalar(sized(Scalar::UNKNOWN)) })
            }
            ty if ty.may_be_null() => fail(
                Code::NullDeref,
                format!("R{rn} invalid mem access '{}'", ty.name()),
                format!("R{rn} may be NULL here; check it (`if (!p) return ...`) before this access"),
            ),
            ty => fail(
                Code::BadDeref,
                format!("R{rn} invalid mem access '{}'", ty.name()),
                format!("a {} pointer cannot be dereferenced", ty.name()),
            ),
        }
    }

    fn pkt_writable(&self) -> bool {
        matches!(
            self.prog.prog_type,
            ProgType::Xdp
                | ProgType::SchedCls
                | ProgType::SchedAct
                | ProgType::LwtXmit
                | ProgType::SkSkb
                | ProgType::SkMsg
        )
    }

    /// Bounds of an access to `limit` bytes through a pointer with a
    /// variable offset (`check_mem_region_access`).
    #[allow(clippy::too_many_arguments)]
    fn region(&self, p: &RegState, rn: u8, off: i64, size: u64, limit: u64, code: Code, what: &str) -> Res<()> {
        let o = off + i64::from(p.off);
        let msg = |o: i64| match code {
            Code::MapBounds => format!("invalid access to map value, value_size={limit} off={o} size={size}"),
            _ => format!("invalid access to memory, mem_size={limit} off={o} size={size}"),
        };
        if p.var.smin < 0 && (p.var.smin == i64::MIN || o + p.var.smin < 0) {
            return fail(
                code,
                format!("R{rn} min value is negative, either use unsigned index or do a if (index >=0) check."),
                format!("the offset into the {what} may be negative; use an unsigned index or check `idx >= 0`"),
            );
        }
        let lo = o + p.var.smin.max(0).min(p.var.smin.max(i64::MIN / 2));
        if lo < 0 || (lo as u64).saturating_add(size) > limit {
            return fail(
                code,
                msg(lo),
                format!("the {what} is {limit} bytes; an access of {size} bytes at offset {lo} does not fit"),
            );
        }
        if p.var.umax >= MAX_VAR_OFF as u64 {
            return fail(
                Code::Unbounded,
                format!("R{rn} unbounded memory access, make sure to bounds check any such access"),
                format!("bound the index into the {what} first, e.g. `if (idx >= N) return ...`"),
            );
        }
        let hi = o + p.var.umax as i64;
        if hi < 0 || (hi as u64).saturating_add(size) > limit {
            return fail(
                code,
                format!("R{rn} max value is outside of the allowed memory range"),
                format!(
                    "the {what} is {limit} bytes, but the offset may reach {hi}; check `if (idx > {}) return ...` first",
                    (limit as i64 - size as i64 - o).max(0)
                ),
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn stack_access(
        &mut self,
        st: &mut State,
        p: RegState,
        frame: usize,
        rn: u8,
        off: i64,
        size: usize,
        access: Access,
        value: Option<(Option<RegState>, Option<i32>)>,
    ) -> Res<RegState> {
        let write = access == Access::Write;
        let signed = matches!(access, Access::Read { signed: true });
        let base = off + i64::from(p.off);
        let dir = if write { "write to" } else { "read from" };
        let Some(v) = p.var.value() else {
            return self.stack_var_access(st, p, frame, rn, base, size, write);
        };
        let o = base + v as i64;
        if o % size as i64 != 0 {
            return fail(
                Code::StackAccess,
                format!("misaligned stack access off {o} size {size}"),
                format!("stack accesses of {size} bytes must be {size}-byte aligned"),
            );
        }
        if o < -STACK_SIZE || o + size as i64 > 0 {
            return fail(
                Code::StackAccess,
                format!("invalid {dir} stack R{rn} off={o} size={size}"),
                "the stack is the 512 bytes below r10: offsets -512..-1",
            );
        }
        let func = self.func_index(st.frames[frame].func);
        self.depth[func] = self.depth[func].max(-o);
        let (spi, b) = locate(o);
        let cur_frame = st.frames.len() - 1;
        let privileged = self.opts.privileged;
        if write {
            let (reg, imm) = value.unwrap_or((None, None));
            let slot = st.frames[frame].slot_mut(spi);
            if !privileged && slot.bytes[0] == ByteKind::Spill && !slot.spill.is_scalar() && size != SLOT {
                return fail(
                    Code::SpillSize,
                    "attempt to corrupt spilled pointer on stack",
                    "do not overwrite part of a spilled pointer",
                );
            }
            match (reg, imm) {
                (Some(r), _) if r.is_scalar() && b == 0 => {
                    let fits = r.var.umax.checked_shr(8 * size as u32).unwrap_or(0) == 0 || size == SLOT;
                    let mut saved = r;
                    if !fits {
                        saved.id = 0;
                    }
                    spill(slot, saved, size);
                }
                (None, Some(i)) if b == 0 => spill(slot, RegState::constant(i as i64 as u64), size),
                (Some(r), _) if r.ty.is_pointer() => {
                    if size != SLOT {
                        return fail(
                            Code::SpillSize,
                            "invalid size of register spill",
                            "pointers are spilled to the stack whole: 8 bytes, 8-byte aligned",
                        );
                    }
                    if frame != cur_frame && matches!(r.ty, RegType::Stack { .. }) {
                        return fail(
                            Code::StackAccess,
                            "cannot spill pointers to stack into stack frame of the caller",
                            "a function may not store pointers to its own stack into its caller's stack",
                        );
                    }
                    spill(slot, r, size);
                }
                (r, i) => {
                    let zero = r.is_some_and(|r| r.is_null()) || i == Some(0);
                    let kind = if zero { ByteKind::Zero } else { ByteKind::Misc };
                    for k in b..b + size {
                        slot.bytes[k] = kind;
                    }
                }
            }
            return Ok(RegState::NOT_INIT);
        }
        let slot = st.frames[frame].slot(spi);
        let loaded = if slot.bytes[0] == ByteKind::Spill {
            let spill_size = slot.bytes.iter().take_while(|k| **k == ByteKind::Spill).count();
            if size == SLOT && spill_size == SLOT {
                if !privileged && frame != cur_frame && !slot.spill.is_scalar() {
                    return fail(Code::SpillSize, "leaking pointer from stack", "");
                }
                slot.spill
            } else {
                if !slot.spill.is_scalar() {
                    return fail(
                        Code::SpillSize,
                        "invalid size of register fill",
                        "a spilled pointer must be filled whole: 8 bytes at the offset it was spilled to",
                    );
                }
                if size <= spill_size && b == 0 {
                    let mut r = slot.spill;
                    if r.var.umax.checked_shr(8 * size as u32).unwrap_or(0) != 0 {
                        r.id = 0;
                    }
                    r
                } else {
                    let mut spill_cnt = 0;
                    let mut zero_cnt = 0;
                    for k in b..b + size {
                        match slot.bytes[k] {
                            ByteKind::Spill => spill_cnt += 1,
                            ByteKind::Zero => zero_cnt += 1,
                            ByteKind::Misc => {}
                            ByteKind::Invalid if privileged => {}
                            ByteKind::Invalid => return uninit_stack(o, k - b, size),
                        }
                    }
                    if (spill_cnt == size && slot.spill.var.is_zero()) || zero_cnt == size {
                        RegState::constant(0)
                    } else {
                        RegState::unknown()
                    }
                }
            }
        } else {
            let mut zero_cnt = 0;
            for k in b..b + size {
                match slot.bytes[k] {
                    ByteKind::Zero => zero_cnt += 1,
                    ByteKind::Invalid if !privileged => return uninit_stack(o, k - b, size),
                    _ => {}
                }
            }
            if zero_cnt == size { RegState::constant(0) } else { RegState::unknown() }
        };
        if loaded.is_scalar() && size < SLOT {
            let var = if signed { loaded.var.sign_extend(size) } else { loaded.var.truncate(size) };
            let id = if var == loaded.var { loaded.id } else { 0 };
            return Ok(RegState { var, id, ..loaded });
        }
        Ok(loaded)
    }

    /// A stack access whose offset is a range (privileged only).
    #[allow(clippy::too_many_arguments)]
    fn stack_var_access(
        &mut self,
        st: &mut State,
        p: RegState,
        frame: usize,
        rn: u8,
        base: i64,
        size: usize,
        write: bool,
    ) -> Res<RegState> {
        if !self.opts.privileged {
            return fail(
                Code::StackAccess,
                format!("R{rn} variable stack access prohibited for !root"),
                "unprivileged programs may only use constant stack offsets",
            );
        }
        if p.var.smin == i64::MIN || p.var.smax >= MAX_VAR_OFF || p.var.smin <= -MAX_VAR_OFF {
            return fail(
                Code::Unbounded,
                format!("R{rn} unbounded indirect variable offset stack access"),
                "bound the stack index before using it",
            );
        }
        let (lo, hi) = (base + p.var.smin, base + p.var.smax + size as i64);
        if lo < -STACK_SIZE || hi > 0 {
            return fail(
                Code::StackAccess,
                format!(
                    "invalid variable-offset {} stack R{rn} var_off={} off={base} size={size}",
                    if write { "write to" } else { "read from" },
                    p.var.t
                ),
                "the whole range of offsets must stay within the 512-byte stack",
            );
        }
        let func = self.func_index(st.frames[frame].func);
        self.depth[func] = self.depth[func].max(-lo);
        for o in lo..hi {
            let (spi, b) = locate(o);
            let slot = st.frames[frame].slot_mut(spi);
            if write {
                if slot.bytes[0] == ByteKind::Spill {
                    for k in slot.bytes.iter_mut() {
                        if *k == ByteKind::Spill {
                            *k = ByteKind::Misc;
                        }
                    }
                }
                slot.bytes[b] = ByteKind::Misc;
            }
        }
        Ok(if write { RegState::NOT_INIT } else { RegState::scalar(Scalar::UNKNOWN.truncate(size)) })
    }

    fn atomic(&mut self, st: &mut State, size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16) -> Res<()> {
        let v = self.read(st, src)?;
        if op == AtomicOp::CmpXchg {
            self.read(st, Reg::R0)?;
        }
        let p = self.read(st, dst)?;
        if matches!(
            p.ty,
            RegType::Ctx | RegType::Packet | RegType::PacketMeta | RegType::PacketEnd | RegType::SockCommon
        ) {
            return fail(
                Code::BadDeref,
                format!("BPF_ATOMIC stores into R{} {} is not allowed", dst.num(), p.ty.name()),
                "atomic operations work on the stack and map values only",
            );
        }
        if v.ty.is_pointer() && !self.opts.privileged {
            return fail(Code::PtrArith, format!("R{} leaks addr into mem", src.num()), "");
        }
        // Atomic accesses must be aligned whatever the memory.
        let at = p.var.value().map(|v| i64::from(off) + i64::from(p.off) + v as i64);
        if at.is_none_or(|a| a % size.bytes() as i64 != 0) {
            return fail(
                Code::BadDeref,
                format!("misaligned value access off {}+{off} size {}", p.off, size.bytes()),
                format!("atomic operations need a {}-byte aligned address", size.bytes()),
            );
        }
        self.mem_access(st, dst, off, size.bytes(), Access::Read { signed: false }, None)?;
        self.mem_access(st, dst, off, size.bytes(), Access::Write, Some((Some(RegState::unknown()), None)))?;
        if op.fetches() {
            let r = if op == AtomicOp::CmpXchg { Reg::R0 } else { src };
            *st.reg_mut(r) = RegState::scalar(Scalar::UNKNOWN.truncate(size.bytes()));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn jump(
        &mut self,
        st: &mut State,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Src,
        next: InsnIdx,
        target: InsnIdx,
    ) -> Res<Flow> {
        let a = self.read(st, dst)?;
        let b = match src {
            Src::Reg(r) => self.read(st, r)?,
            Src::Imm(i) => RegState::constant(match width {
                Width::W64 => i as i64 as u64,
                Width::W32 => u64::from(i as u32),
            }),
        };
        let pc = st.pc;
        let go = |st: &mut State, taken: bool| {
            st.path = Some(push_step(st.path.take(), pc, taken));
            st.pc = if taken { target } else { next };
        };
        if a.is_scalar() && b.is_scalar() {
            if let Some(taken) = Scalar::branch_taken(cond, width, &a.var, &b.var) {
                go(st, taken);
                return Ok(Flow::Next);
            }
            let same = src == Src::Reg(dst);
            let mut other = st.clone();
            let (mut ta, mut tb, mut fa, mut fb) = (a.var, b.var, a.var, b.var);
            let taken_ok = Scalar::refine(cond, width, true, &mut ta, &mut tb);
            let fall_ok = Scalar::refine(cond, width, false, &mut fa, &mut fb);
            if !same {
                apply(&mut other, dst, a.id, ta);
                apply(st, dst, a.id, fa);
                if let Src::Reg(r) = src {
                    apply(&mut other, r, b.id, tb);
                    apply(st, r, b.id, fb);
                }
            }
            return Ok(match (taken_ok, fall_ok) {
                (true, true) => {
                    go(&mut other, true);
                    go(st, false);
                    Flow::Fork(Box::new(other))
                }
                (true, false) => {
                    *st = other;
                    go(st, true);
                    Flow::Next
                }
                _ => {
                    go(st, false);
                    Flow::Next
                }
            });
        }
        // A null check of a pointer that may be null.
        if matches!(cond, JmpCond::Eq | JmpCond::Ne) && width == Width::W64 {
            let (ptr, other_reg) = if a.ty.may_be_null() && b.is_null() {
                (Some((dst, a)), true)
            } else if let (true, Src::Reg(r)) = (b.ty.may_be_null() && a.is_null(), src) {
                (Some((r, b)), true)
            } else {
                (None, false)
            };
            if let (Some((_, p)), true) = (ptr, other_reg) {
                let mut other = st.clone();
                let null_when_taken = cond == JmpCond::Eq;
                mark_null(&mut other, p, null_when_taken);
                mark_null(st, p, !null_when_taken);
                go(&mut other, true);
                go(st, false);
                return Ok(Flow::Fork(Box::new(other)));
            }
            let not_null = |r: &RegState| matches!(r.ty, RegType::MapValue { .. } | RegType::Mem { .. });
            if (not_null(&a) && b.is_null()) || (not_null(&b) && a.is_null()) {
                go(st, cond == JmpCond::Ne);
                return Ok(Flow::Next);
            }
        }
        if width == Width::W64
            && let Src::Reg(sr) = src
            && let Some((pkt_reg, pkt, open, when_taken)) = pkt_compare(cond, dst, &a, sr, &b)
        {
            let mut other = st.clone();
            let proven = if when_taken { &mut other } else { &mut *st };
            let _ = pkt_reg;
            good_pkt_pointers(proven, &pkt, open);
            go(&mut other, true);
            go(st, false);
            return Ok(Flow::Fork(Box::new(other)));
        }
        if !self.opts.privileged {
            return fail(
                Code::PtrArith,
                format!("R{} pointer comparison prohibited", dst.num()),
                "unprivileged programs may compare pointers only with packet bounds or NULL",
            );
        }
        let mut other = st.clone();
        go(&mut other, true);
        go(st, false);
        Ok(Flow::Fork(Box::new(other)))
    }

    fn exit(&mut self, st: &mut State) -> Res<Flow> {
        if st.frames.len() > 1 {
            let r0 = st.cur().regs[0];
            if matches!(r0.ty, RegType::Stack { .. }) {
                return fail(
                    Code::ReturnStack,
                    "cannot return stack pointer to the caller",
                    "a function's stack is gone once it returns; return a value, or write through a pointer the caller passes",
                );
            }
            let callee = st.frames.pop().expect("more than one frame");
            st.cur_mut().regs[0] = r0;
            st.pc = InsnIdx(callee.callsite.map_or(0, |c| c.0) + 1);
            return Ok(Flow::Next);
        }
        let r0 = self.read(st, Reg::R0)?;
        if let Some(&(id, at)) = st.refs.first() {
            return fail(
                Code::RefLeak,
                format!("Unreleased reference id={id} alloc_insn={at}"),
                format!("the ring buffer record reserved at insn {at} must be submitted or discarded on every path"),
            );
        }
        if r0.ty.is_pointer() && !self.opts.privileged {
            return fail(Code::ReturnRange, "R0 leaks addr as return value", "return a number, not a pointer");
        }
        if let Some((lo, hi, bits32)) = self.return_range() {
            if !r0.is_scalar() {
                return fail(
                    Code::ReturnRange,
                    format!("At program exit the register R0 is not a known value ({})", r0.ty.name()),
                    format!("{} programs must return a number in [{lo}, {hi}]", self.prog.prog_type),
                );
            }
            let (smin, smax) =
                if bits32 { (i64::from(r0.var.s32min), i64::from(r0.var.s32max)) } else { (r0.var.smin, r0.var.smax) };
            if smin < lo || smax > hi {
                return fail(
                    Code::ReturnRange,
                    format!(
                        "At program exit the register R0 has smin={smin} smax={smax} should have been in [{lo}, {hi}]"
                    ),
                    format!(
                        "{} programs must return a value in [{lo}, {hi}]; return one of those constants on every path",
                        self.prog.prog_type
                    ),
                );
            }
        }
        Ok(Flow::Done)
    }

    /// The return values the kernel allows (`check_return_code`), if it
    /// checks, and whether it checks only the low 32 bits.
    fn return_range(&self) -> Option<(i64, i64, bool)> {
        if self.prog.prog_type == ProgType::Lsm {
            let hook = lsm::hook(&self.prog.section).map(lsm::returns);
            return if self.prog.expected_attach_type == Some(AttachType::LsmCgroup) {
                Some(if hook == Some(HookReturn::Void) { (1, 1, false) } else { (0, 1, false) })
            } else {
                match hook {
                    Some(HookReturn::Void) => None,
                    Some(HookReturn::Bool) => Some((0, 1, true)),
                    // Without a hook name the strictest rule is the safe one.
                    Some(HookReturn::Errno) | None => Some((-4095, 0, true)),
                }
            };
        }
        let range = match self.prog.prog_type {
            ProgType::CgroupSkb if self.prog.expected_attach_type == Some(AttachType::CgroupInetEgress) => Some((0, 3)),
            ProgType::CgroupSockAddr => {
                use AttachType::*;
                Some(match self.prog.expected_attach_type {
                    Some(
                        CgroupUdp4Recvmsg
                        | CgroupUdp6Recvmsg
                        | CgroupUnixRecvmsg
                        | CgroupInet4Getpeername
                        | CgroupInet6Getpeername
                        | CgroupUnixGetpeername
                        | CgroupInet4Getsockname
                        | CgroupInet6Getsockname
                        | CgroupUnixGetsockname,
                    ) => (1, 1),
                    Some(CgroupInet4Bind | CgroupInet6Bind) => (0, 3),
                    _ => (0, 1),
                })
            }
            ProgType::CgroupSkb
            | ProgType::CgroupSock
            | ProgType::SockOps
            | ProgType::CgroupDevice
            | ProgType::CgroupSysctl
            | ProgType::CgroupSockopt => Some((0, 1)),
            ProgType::Kprobe if self.prog.expected_attach_type == Some(AttachType::TraceKprobeSession) => Some((0, 1)),
            ProgType::SkLookup => Some((0, 1)),
            ProgType::Netfilter => Some((0, 1)),
            _ => None,
        };
        range.map(|(lo, hi)| (lo, hi, false))
    }

    fn helper_call(&mut self, st: &mut State, id: HelperId) -> Res<()> {
        let pc = st.pc;
        let Some(name) = id.name() else {
            return fail(
                Code::HelperUnavailable,
                format!("invalid func unknown#{}", id.0),
                "no helper has this number in the kernel",
            );
        };
        let Some(proto) = proto(id) else {
            return fail(
                Code::Unsupported,
                format!("helper bpf_{name}#{} is not modelled by bpfx", id.0),
                "bpfx does not know this helper's prototype yet; the kernel decides this one",
            );
        };
        if !proto.available_to(self.prog.prog_type) {
            return fail(
                Code::HelperUnavailable,
                format!("program of this type cannot use helper bpf_{name}#{}", id.0),
                format!(
                    "{} programs cannot call bpf_{name}; see the helper's man page for the program types that can",
                    self.prog.prog_type
                ),
            );
        }
        if proto.gpl_only && !gpl_compatible(&self.prog.license) {
            return fail(
                Code::GplOnly,
                "cannot call GPL-restricted function from non-GPL compatible program",
                format!("bpf_{name} is GPL-only; declare `char LICENSE[] SEC(\"license\") = \"GPL\";`"),
            );
        }
        let mut map: Option<u32> = None;
        // The memory argument waiting for its size: register, value, whether
        // the helper writes it, whether NULL is allowed.
        let mut mem: Option<(Reg, RegState, bool, bool)> = None;
        let mut alloc_size = 0u32;
        let mut release: Option<u32> = None;
        for (i, &kind) in proto.args.iter().enumerate() {
            let r = Reg::new(i as u8 + 1).expect("at most five arguments");
            let rn = r.num();
            let v = self.read(st, r)?;
            let expected = |what: &str| -> Res<()> {
                fail(
                    Code::HelperArg,
                    format!("R{rn} type={} expected={what}", v.ty.name()),
                    format!("argument {rn} of bpf_{name} must be {what}"),
                )
            };
            if kind != ArgKind::Anything
                && matches!(v.ty, RegType::Packet | RegType::PacketMeta)
                && !self.helper_takes_packet(name)
            {
                return fail(
                    Code::HelperArg,
                    "helper access to the packet is not allowed",
                    format!(
                        "bpf_{name} cannot take a packet pointer in {} programs; copy the bytes to the stack first",
                        self.prog.prog_type
                    ),
                );
            }
            match kind {
                ArgKind::Anything => {
                    if v.ty.is_pointer() && !self.opts.privileged {
                        return fail(Code::HelperArg, format!("R{rn} leaks addr into helper function"), "");
                    }
                }
                ArgKind::ConstMapPtr => {
                    let RegType::MapPtr { map: m } = v.ty else { return expected("map_ptr") };
                    self.map_compatible(id, name, m)?;
                    let mt = self.map(m)?.map_type;
                    // These lookups return a map, a socket (with a reference to
                    // release) or an AF_XDP socket, not a map value.
                    if proto.ret == RetKind::MapValueOrNull
                        && matches!(
                            mt,
                            MapType::ArrayOfMaps
                                | MapType::HashOfMaps
                                | MapType::Sockmap
                                | MapType::Sockhash
                                | MapType::Xskmap
                        )
                    {
                        return fail(
                            Code::Unsupported,
                            format!("lookup in {mt} map is not supported by bpfx"),
                            "bpfx does not model the maps and sockets these lookups return yet; the kernel decides this one",
                        );
                    }
                    map = Some(m);
                }
                ArgKind::MapKey | ArgKind::MapValue | ArgKind::UninitMapValue => {
                    let Some(m) = map else {
                        return fail(Code::HelperArg, "invalid map_ptr to access map->key", "pass the map first");
                    };
                    let spec = self.map(m)?;
                    let size = if kind == ArgKind::MapKey { spec.key_size } else { spec.value_size };
                    self.helper_mem(st, r, v, u64::from(size), kind == ArgKind::UninitMapValue, name)?;
                }
                ArgKind::ReadMem | ArgKind::ReadMemOrNull | ArgKind::WriteMem => {
                    mem = Some((r, v, kind == ArgKind::WriteMem, kind == ArgKind::ReadMemOrNull));
                }
                ArgKind::ConstSize | ArgKind::ConstSizeOrZero => {
                    if !v.is_scalar() {
                        return expected("scalar");
                    }
                    if v.var.smin < 0 {
                        return fail(
                            Code::HelperArg,
                            format!("R{rn} min value is negative, either use unsigned or 'var &= const'"),
                            format!("the size passed to bpf_{name} may be negative; use an unsigned size or mask it"),
                        );
                    }
                    if v.var.umin == 0 && kind == ArgKind::ConstSize {
                        return fail(
                            Code::HelperArg,
                            format!("R{rn} invalid zero-sized read: u64=[{},{}]", v.var.umin, v.var.umax),
                            format!("the size passed to bpf_{name} may be 0; check `if (len == 0) return ...` first"),
                        );
                    }
                    if v.var.umax >= MAX_VAR_SIZE {
                        return fail(
                            Code::Unbounded,
                            format!("R{rn} unbounded memory access, use 'var &= const' or 'if (var < const)'"),
                            format!("bound the size passed to bpf_{name}, e.g. `if (len > sizeof(buf)) return ...`"),
                        );
                    }
                    match mem.take() {
                        // NULL with a size that is surely 0 (`check_helper_mem_access`).
                        Some((_, mv, _, true)) if mv.is_null() && v.var.umax == 0 => {}
                        Some((mr, mv, w, _)) => self.helper_mem(st, mr, mv, v.var.umax, w, name)?,
                        None => {}
                    }
                }
                ArgKind::ConstAllocSizeOrZero => {
                    let Some(size) = v.var.value().filter(|_| v.is_scalar()) else {
                        return fail(
                            Code::HelperArg,
                            format!("R{rn} is not a known constant'"),
                            format!("the size passed to bpf_{name} must be a compile-time constant"),
                        );
                    };
                    alloc_size = size as u32;
                }
                ArgKind::Ctx => {
                    if v.ty != RegType::Ctx {
                        return expected("ctx");
                    }
                    if v.off != 0 || !v.var.is_zero() {
                        return fail(
                            Code::HelperArg,
                            format!("dereference of modified ctx ptr R{rn} off={} disallowed", v.off),
                            "pass the context pointer unmodified",
                        );
                    }
                }
                ArgKind::RingbufMemRelease => {
                    if !matches!(v.ty, RegType::Mem { .. }) || v.ref_id == 0 {
                        return expected("ringbuf_mem");
                    }
                    if v.off != 0 || !v.var.is_zero() {
                        return fail(
                            Code::HelperArg,
                            format!("R{rn} must have zero offset when passed to release func"),
                            "pass the pointer bpf_ringbuf_reserve returned, unmodified",
                        );
                    }
                    release = Some(v.ref_id);
                }
                ArgKind::Func | ArgKind::StackOrNull => {
                    return fail(
                        Code::Unsupported,
                        format!("callback helper bpf_{name} is not supported by bpfx"),
                        "bpfx does not verify callbacks yet; the kernel decides this one",
                    );
                }
            }
        }
        if let Some(ref_id) = release {
            st.refs.retain(|&(id, _)| id != ref_id);
            let privileged = self.opts.privileged;
            st.for_each_reg(|r| {
                if r.ref_id == ref_id {
                    *r = if privileged { RegState::unknown() } else { RegState::NOT_INIT };
                }
            });
        }
        // A tail call from a subprogram comes back to its caller after the
        // target program ran, and that one may have moved the packet (the
        // kernel since 6.12; a tail call from the main program never comes
        // back to a packet pointer).
        if proto.changes_pkt_data || (name == "tail_call" && st.frames.len() > 1) {
            let privileged = self.opts.privileged;
            st.for_each_reg(|r| {
                if matches!(r.ty, RegType::Packet | RegType::PacketMeta | RegType::PacketEnd) {
                    *r = if privileged { RegState::unknown() } else { RegState::NOT_INIT };
                }
            });
        }
        let r0 = self.ret_value(proto, map, alloc_size, st, pc);
        let frame = st.cur_mut();
        for r in 1..=5 {
            frame.regs[r] = RegState::NOT_INIT;
        }
        frame.regs[0] = r0;
        Ok(())
    }

    fn ret_value(
        &mut self,
        proto: &HelperProto,
        map: Option<u32>,
        alloc_size: u32,
        st: &mut State,
        pc: InsnIdx,
    ) -> RegState {
        match proto.ret {
            RetKind::Integer => RegState::unknown(),
            RetKind::Void => RegState::NOT_INIT,
            RetKind::MapValueOrNull => {
                RegState { id: self.new_id(), ..RegState::pointer(RegType::MapValueOrNull { map: map.unwrap_or(0) }) }
            }
            RetKind::RingbufMemOrNull => {
                let ref_id = self.new_id();
                st.refs.push((ref_id, pc));
                RegState { id: self.new_id(), ref_id, ..RegState::pointer(RegType::MemOrNull { size: alloc_size }) }
            }
        }
    }

    /// A helper's access to `size` bytes (at most) through `v`
    /// (`check_helper_mem_access`); `write` for memory the helper fills.
    fn helper_mem(&mut self, st: &mut State, r: Reg, v: RegState, size: u64, write: bool, name: &str) -> Res<()> {
        let rn = r.num();
        match v.ty {
            RegType::Stack { frame } => {
                let frame = frame as usize;
                let base = i64::from(v.off);
                if v.var.smin == i64::MIN || v.var.smax >= MAX_VAR_OFF {
                    return fail(
                        Code::Unbounded,
                        format!("R{rn} unbounded indirect variable offset stack access"),
                        "bound the stack offset first",
                    );
                }
                if v.var.value().is_none() && !self.opts.privileged {
                    return fail(Code::StackAccess, format!("R{rn} variable stack access prohibited for !root"), "");
                }
                let (lo, hi) = (base + v.var.smin, base + v.var.smax + size as i64);
                // Even a zero-sized access must start inside the stack.
                if !(-STACK_SIZE..=-1).contains(&lo) || hi > 0 {
                    let what = if v.var.value().is_some() { "" } else { "variable-offset " };
                    return fail(
                        Code::StackAccess,
                        format!("invalid {what}indirect access to stack R{rn} off={lo} size={size}"),
                        format!(
                            "the {size} bytes bpf_{name} accesses through R{rn} must lie within the 512-byte stack"
                        ),
                    );
                }
                let func = self.func_index(st.frames[frame].func);
                self.depth[func] = self.depth[func].max(-lo);
                let privileged = self.opts.privileged;
                for o in lo..hi {
                    let (spi, b) = locate(o);
                    let slot = st.frames[frame].slot_mut(spi);
                    if write {
                        if slot.bytes[0] == ByteKind::Spill {
                            for k in slot.bytes.iter_mut() {
                                *k = if *k == ByteKind::Spill { ByteKind::Misc } else { *k };
                            }
                        }
                        slot.bytes[b] = ByteKind::Misc;
                        continue;
                    }
                    let ok = match slot.bytes[b] {
                        ByteKind::Misc | ByteKind::Zero => true,
                        ByteKind::Invalid => privileged,
                        ByteKind::Spill => slot.spill.is_scalar() || privileged,
                    };
                    if !ok {
                        return fail(
                            Code::StackAccess,
                            format!("invalid indirect read from stack R{rn} off {lo}+{} size {size}", o - lo),
                            format!(
                                "bpf_{name} reads {size} bytes at fp{lo}, but byte fp{o} was never written; initialise the whole buffer (e.g. `= {{}}` or __builtin_memset) first"
                            ),
                        );
                    }
                }
                Ok(())
            }
            RegType::Packet | RegType::PacketMeta => {
                if write && !self.pkt_writable() {
                    return fail(Code::PktWrite, "cannot write into packet", "");
                }
                let o = i64::from(v.off);
                if v.var.smin < 0 || o < 0 || o + size as i64 > i64::from(v.range) {
                    return fail(
                        Code::PktBounds,
                        format!(
                            "invalid access to packet, off={o} size={size}, R{rn}(id={},off={},r={})",
                            v.id, v.off, v.range
                        ),
                        format!(
                            "bpf_{name} accesses {size} bytes of packet at offset {o}, which is not proven below data_end; check `if (p + {} > data_end) return ...` first",
                            o + size as i64
                        ),
                    );
                }
                Ok(())
            }
            RegType::MapValue { map } => {
                let m = self.map(map)?;
                if write && m.flags & MAP_RDONLY_PROG != 0 {
                    return fail(Code::MapBounds, "write into map forbidden", "");
                }
                if !write && m.flags & MAP_WRONLY_PROG != 0 {
                    return fail(
                        Code::MapBounds,
                        "read from map forbidden",
                        format!("map '{}' is write-only for programs", m.name),
                    );
                }
                self.region(
                    &v,
                    rn,
                    0,
                    size,
                    u64::from(m.value_size),
                    Code::MapBounds,
                    &format!("map value of '{}'", m.name),
                )
            }
            RegType::Mem { size: mem } => self.region(&v, rn, 0, size, u64::from(mem), Code::MemBounds, "memory"),
            ty if ty.may_be_null() => fail(
                Code::NullDeref,
                format!("R{rn} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem", ty.name()),
                format!("R{rn} may be NULL; check it before passing it to bpf_{name}"),
            ),
            ty => fail(
                Code::HelperArg,
                format!("R{rn} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem", ty.name()),
                format!(
                    "argument {rn} of bpf_{name} must point to memory: the stack, a map value or checked packet data"
                ),
            ),
        }
    }

    /// Which helpers work on which map types (`check_map_func_compatibility`),
    /// both ways: what the map type allows, and what the helper needs.
    fn map_compatible(&self, id: HelperId, name: &str, map: u32) -> Res<()> {
        let mt = self.map(map)?.map_type;
        use MapType::*;
        let h = name;
        let sockmap_update = || matches!(h, "map_update_elem" | "map_delete_elem") && self.may_update_sockmap(h);
        let by_map = match mt {
            ProgArray => h == "tail_call",
            PerfEventArray => {
                matches!(
                    h,
                    "perf_event_read" | "perf_event_output" | "skb_output" | "perf_event_read_value" | "xdp_output"
                )
            }
            Ringbuf => matches!(
                h,
                "ringbuf_output"
                    | "ringbuf_reserve"
                    | "ringbuf_query"
                    | "ringbuf_reserve_dynptr"
                    | "ringbuf_submit_dynptr"
                    | "ringbuf_discard_dynptr"
            ),
            UserRingbuf => h == "user_ringbuf_drain",
            StackTrace => h == "get_stackid",
            CgroupArray => matches!(h, "skb_under_cgroup" | "current_task_under_cgroup"),
            CgroupStorage | PercpuCgroupStorage => h == "get_local_storage",
            Devmap | DevmapHash | Xskmap => matches!(h, "redirect_map" | "map_lookup_elem"),
            Cpumap => h == "redirect_map",
            ArrayOfMaps | HashOfMaps => h == "map_lookup_elem",
            Sockmap => {
                matches!(
                    h,
                    "sk_redirect_map"
                        | "sock_map_update"
                        | "msg_redirect_map"
                        | "sk_select_reuseport"
                        | "map_lookup_elem"
                ) || sockmap_update()
            }
            Sockhash => {
                matches!(
                    h,
                    "sk_redirect_hash"
                        | "sock_hash_update"
                        | "msg_redirect_hash"
                        | "sk_select_reuseport"
                        | "map_lookup_elem"
                ) || sockmap_update()
            }
            ReuseportSockarray => h == "sk_select_reuseport",
            Queue | Stack => matches!(h, "map_peek_elem" | "map_pop_elem" | "map_push_elem"),
            SkStorage => matches!(h, "sk_storage_get" | "sk_storage_delete" | "kptr_xchg"),
            InodeStorage => matches!(h, "inode_storage_get" | "inode_storage_delete" | "kptr_xchg"),
            TaskStorage => matches!(h, "task_storage_get" | "task_storage_delete" | "kptr_xchg"),
            CgrpStorage => matches!(h, "cgrp_storage_get" | "cgrp_storage_delete" | "kptr_xchg"),
            BloomFilter => matches!(h, "map_peek_elem" | "map_push_elem"),
            _ => true,
        };
        let by_helper = match h {
            "tail_call" => mt == ProgArray,
            "perf_event_read" | "perf_event_output" | "perf_event_read_value" | "skb_output" | "xdp_output" => {
                mt == PerfEventArray
            }
            "ringbuf_output"
            | "ringbuf_reserve"
            | "ringbuf_query"
            | "ringbuf_reserve_dynptr"
            | "ringbuf_submit_dynptr"
            | "ringbuf_discard_dynptr" => mt == Ringbuf,
            "user_ringbuf_drain" => mt == UserRingbuf,
            "get_stackid" => mt == StackTrace,
            "current_task_under_cgroup" | "skb_under_cgroup" => mt == CgroupArray,
            "redirect_map" => matches!(mt, Devmap | DevmapHash | Cpumap | Xskmap),
            "sk_redirect_map" | "msg_redirect_map" | "sock_map_update" => mt == Sockmap,
            "sk_redirect_hash" | "msg_redirect_hash" | "sock_hash_update" => mt == Sockhash,
            "get_local_storage" => matches!(mt, CgroupStorage | PercpuCgroupStorage),
            "sk_select_reuseport" => matches!(mt, ReuseportSockarray | Sockmap | Sockhash),
            "map_pop_elem" => matches!(mt, Queue | Stack),
            "map_peek_elem" | "map_push_elem" => matches!(mt, Queue | Stack | BloomFilter),
            "map_lookup_percpu_elem" => matches!(mt, PercpuArray | PercpuHash | LruPercpuHash),
            "sk_storage_get" | "sk_storage_delete" => mt == SkStorage,
            "inode_storage_get" | "inode_storage_delete" => mt == InodeStorage,
            "task_storage_get" | "task_storage_delete" => mt == TaskStorage,
            "cgrp_storage_get" | "cgrp_storage_delete" => mt == CgrpStorage,
            _ => true,
        };
        if by_map && by_helper {
            return Ok(());
        }
        if matches!(mt, Sockmap | Sockhash) && matches!(h, "map_update_elem" | "map_delete_elem") {
            return fail(
                Code::MapHelper,
                "cannot update sockmap in this context",
                format!(
                    "{} programs may hold a locked socket, so they cannot change a {mt} with bpf_{h}",
                    self.prog.prog_type
                ),
            );
        }
        fail(
            Code::MapHelper,
            format!("cannot pass map_type {} into func bpf_{name}#{}", mt.value(), id.0),
            format!("bpf_{name} does not work on {mt} maps"),
        )
    }

    /// Whether this program may change a sockmap or sockhash with the
    /// generic update and delete helpers (`may_update_sockmap`): only where
    /// no locked socket can be in hand.
    fn may_update_sockmap(&self, helper: &str) -> bool {
        match self.prog.prog_type {
            ProgType::Tracing => self.prog.expected_attach_type == Some(AttachType::TraceIter),
            ProgType::SockOps => helper == "map_delete_elem",
            ProgType::SocketFilter
            | ProgType::SchedCls
            | ProgType::SchedAct
            | ProgType::Xdp
            | ProgType::SkReuseport
            | ProgType::FlowDissector
            | ProgType::SkLookup => true,
            _ => false,
        }
    }

    /// Whether a helper argument may point into the packet
    /// (`may_access_direct_pkt_data` with the helper's `pkt_access`).
    fn helper_takes_packet(&self, helper: &str) -> bool {
        use ProgType::*;
        match self.prog.prog_type {
            CgroupSockopt => true,
            LwtIn | LwtOut | LwtSeg6local | SkReuseport | FlowDissector | CgroupSkb | SchedCls | SchedAct | Xdp
            | LwtXmit | SkSkb | SkMsg => matches!(
                helper,
                "map_lookup_elem"
                    | "map_update_elem"
                    | "map_delete_elem"
                    | "map_push_elem"
                    | "map_lookup_percpu_elem"
                    | "csum_diff"
                    | "sk_lookup_tcp"
                    | "sk_lookup_udp"
                    | "skc_lookup_tcp"
                    | "sock_map_update"
                    | "sock_hash_update"
                    | "tcp_check_syncookie"
                    | "tcp_gen_syncookie"
                    | "tcp_raw_check_syncookie_ipv4"
                    | "tcp_raw_check_syncookie_ipv6"
                    | "tcp_raw_gen_syncookie_ipv4"
                    | "tcp_raw_gen_syncookie_ipv6"
            ),
            _ => false,
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

fn uninit_stack(o: i64, i: usize, size: usize) -> Res<RegState> {
    fail(
        Code::StackAccess,
        format!("invalid read from stack off {o}+{i} size {size}"),
        format!("stack byte fp{} is read before it is written; initialise the variable first", o + i as i64),
    )
}

fn gpl_compatible(license: &str) -> bool {
    matches!(license, "GPL" | "GPL v2" | "GPL and additional rights" | "Dual BSD/GPL" | "Dual MIT/GPL" | "Dual MPL/GPL")
}

/// Diagnostics show the last 32 decisions; the list is cut back to them
/// when it reaches 64, so that it stays short on long paths.
fn push_step(prev: Option<Rc<Step>>, at: InsnIdx, taken: bool) -> Rc<Step> {
    let len = prev.as_ref().map_or(0, |p| p.len) + 1;
    if len < 64 {
        return Rc::new(Step { at, taken, prev, len });
    }
    let mut recent = vec![(at, taken)];
    let mut cur = prev;
    while let Some(s) = cur {
        if recent.len() == 32 {
            break;
        }
        recent.push((s.at, s.taken));
        cur = s.prev.clone();
    }
    let mut path: Option<Rc<Step>> = None;
    for (i, (at, taken)) in recent.into_iter().rev().enumerate() {
        path = Some(Rc::new(Step { at, taken, prev: path, len: i + 1 }));
    }
    path.expect("at least one step")
}

/// Stores `r` as the spilled register of `slot`, `size` bytes from its base.
fn spill(slot: &mut crate::state::Slot, r: RegState, size: usize) {
    for (k, byte) in slot.bytes.iter_mut().enumerate() {
        if k < size {
            *byte = ByteKind::Spill;
        } else if *byte == ByteKind::Spill {
            *byte = ByteKind::Misc;
        }
    }
    slot.spill = r;
}

/// Writes a refined scalar back to `r` and every register linked to it.
fn apply(st: &mut State, r: Reg, id: u32, var: Scalar) {
    st.reg_mut(r).var = var;
    if id == 0 {
        return;
    }
    st.for_each_reg(|x| {
        if x.is_scalar() && x.id == id {
            x.var = var;
        }
    });
}

/// After a null check: every copy of `p` becomes null (a scalar 0) or
/// the pointer it was.
fn mark_null(st: &mut State, p: RegState, is_null: bool) {
    let (id, ref_id) = (p.id, p.ref_id);
    if is_null && ref_id != 0 {
        st.refs.retain(|&(r, _)| r != ref_id);
    }
    st.for_each_reg(|r| {
        if r.ty.may_be_null() && r.id == id && id != 0 {
            if is_null {
                *r = RegState::constant(0);
            } else {
                r.ty = r.ty.not_null();
            }
        }
    });
}

/// A comparison of a packet pointer with `data_end` (or of a metadata
/// pointer with `data`): the pointer, whether the bound is strict, and
/// whether the taken branch (or the fall-through) proves it.
fn pkt_compare(cond: JmpCond, dr: Reg, d: &RegState, sr: Reg, s: &RegState) -> Option<(Reg, RegState, bool, bool)> {
    let ends = |p: RegType, e: RegType| {
        matches!((p, e), (RegType::Packet, RegType::PacketEnd) | (RegType::PacketMeta, RegType::Packet))
    };
    // Only a comparison with the bound itself (data_end, or data for
    // metadata) proves a range.
    let plain = |r: &RegState| r.off == 0 && r.var.is_zero();
    if ends(d.ty, s.ty) && plain(s) {
        // `if pkt OP end`.
        let (open, when_taken) = match cond {
            JmpCond::Gt => (false, false),
            JmpCond::Lt => (true, true),
            JmpCond::Ge => (true, false),
            JmpCond::Le => (false, true),
            _ => return None,
        };
        Some((dr, *d, open, when_taken))
    } else if ends(s.ty, d.ty) && plain(d) {
        // `if end OP pkt`.
        let (open, when_taken) = match cond {
            JmpCond::Gt => (true, true),
            JmpCond::Lt => (false, false),
            JmpCond::Ge => (false, true),
            JmpCond::Le => (true, false),
            _ => return None,
        };
        Some((sr, *s, open, when_taken))
    } else {
        None
    }
}

/// `find_good_pkt_pointers`: every packet pointer sharing `pkt`'s id is
/// safe up to `pkt`'s offset.
fn good_pkt_pointers(st: &mut State, pkt: &RegState, open: bool) {
    if pkt.off < 0 || (pkt.off == 0 && open) {
        return;
    }
    if pkt.var.umax > MAX_PACKET_OFF || pkt.var.umax + pkt.off as u64 > MAX_PACKET_OFF {
        return;
    }
    let range = pkt.off as u32 + u32::from(open);
    let (ty, id) = (pkt.ty, pkt.id);
    st.for_each_reg(|r| {
        if r.ty == ty && r.id == id {
            r.range = r.range.max(range);
        }
    });
}
