//! The control-flow checks the kernel makes before it interprets anything
//! (`check_subprogs`, `check_cfg`): every jump lands on an instruction
//! inside its function and not inside an `lddw`, no function falls off its
//! end, every instruction is reachable, calls go to function starts. Also
//! the facts the interpreter needs: where functions start, where states are
//! worth recording (pruning points), and which registers are live.

use bpfx_isa::{CallTarget, Insn, InsnIdx, LdImm64Kind, Program, Reg};

use crate::report::Code;

/// The program's instructions by slot, and what the checks found.
pub struct Cfg<'p> {
    /// `by_slot[s]`: the instruction starting at slot `s` (`None` for the
    /// second slot of an `lddw`).
    pub by_slot: Vec<Option<&'p Insn>>,
    /// Function starts, ascending; the first is 0.
    pub funcs: Vec<InsnIdx>,
    /// Slots where states are recorded and compared.
    pub prune: Vec<bool>,
    /// Registers possibly read before written from each slot on.
    pub live: Vec<u16>,
}

/// A control-flow error: what, and where.
pub struct CfgError {
    pub code: Code,
    pub at: InsnIdx,
    pub message: String,
    /// The likely fix, where the usual one (a misplaced jump) is not it.
    pub help: Option<String>,
}

fn err(code: Code, at: usize, message: String) -> CfgError {
    CfgError { code, at: InsnIdx(at as u32), message, help: None }
}

/// The slots control may go to after `insn` at `at` (not following calls
/// into their callees), `None` meaning "off the end of the program".
fn successors(insn: &Insn, at: usize) -> Vec<i64> {
    let next = at as i64 + insn.slots() as i64;
    match insn {
        Insn::Exit => vec![],
        Insn::Ja { .. } => vec![next + insn.branch_offset().unwrap_or(0)],
        Insn::Jump { .. } | Insn::MayGoto { .. } => vec![next, next + insn.branch_offset().unwrap_or(0)],
        _ => vec![next],
    }
}

impl<'p> Cfg<'p> {
    /// `privileged`: the loader has CAP_BPF; without it the kernel refuses
    /// calls to other functions and loops.
    pub fn build(prog: &'p Program, privileged: bool) -> Result<Cfg<'p>, CfgError> {
        let n = prog.slot_count();
        if n == 0 {
            return Err(err(Code::Cfg, 0, "the program has no instructions".into()));
        }
        let mut by_slot = vec![None; n];
        for (at, insn) in prog.slots() {
            by_slot[at.index()] = Some(insn);
        }
        let target_of = |at: usize, insn: &Insn| -> Option<i64> {
            let next = at as i64 + insn.slots() as i64;
            insn.branch_offset().map(|o| next + o)
        };

        // Functions: the program, targets of local calls and of `lddw` of
        // a function.
        let mut funcs = vec![0usize];
        for (at, insn) in by_slot.iter().enumerate() {
            let Some(insn) = insn else { continue };
            if !privileged
                && matches!(
                    insn,
                    Insn::Call(CallTarget::Local(_) | CallTarget::Kfunc { .. })
                        | Insn::LdImm64 { kind: LdImm64Kind::Func, .. }
                )
            {
                return Err(CfgError {
                    help: Some(
                        "an unprivileged program is a single function; mark the callee `static __always_inline`".into(),
                    ),
                    ..err(
                        Code::Privileged,
                        at,
                        "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN"
                            .into(),
                    )
                });
            }
            let is_func_ref =
                matches!(insn, Insn::Call(CallTarget::Local(_)) | Insn::LdImm64 { kind: LdImm64Kind::Func, .. });
            if !is_func_ref {
                continue;
            }
            let t = target_of(at, insn).unwrap_or(-1);
            if t < 0 || t >= n as i64 || by_slot[t as usize].is_none() {
                return Err(err(
                    Code::Cfg,
                    at,
                    format!("call or function reference to slot {t} is not an instruction"),
                ));
            }
            funcs.push(t as usize);
        }
        funcs.sort_unstable();
        funcs.dedup();
        let func_of = |s: usize| funcs.partition_point(|&f| f <= s) - 1;

        // Without func info the kernel cannot tell what a subprogram
        // returns, and both of these can end it with a return value of
        // their own (`check_abnormal_return`).
        if prog.func_info.is_empty() {
            for (at, insn) in by_slot.iter().enumerate().filter(|(at, _)| func_of(*at) > 0) {
                let what = match insn {
                    Some(Insn::PacketLoad { .. }) => "LD_ABS",
                    Some(Insn::Call(CallTarget::Helper(h))) if h.name() == Some("tail_call") => "tail_call",
                    _ => continue,
                };
                return Err(CfgError {
                    help: Some(format!(
                        "load the program with its BTF func info, or move {what} into the main program"
                    )),
                    ..err(Code::Cfg, at, format!("{what} is not allowed in subprogs without BTF"))
                });
            }
        }
        // With func info, the function must return an int (`check_btf_func`);
        // and no callback may lead to an LD_ABS, which the kernel checks on
        // the call graph and bpfx leaves to it.
        let has_callbacks =
            by_slot.iter().flatten().any(|i| matches!(i, Insn::LdImm64 { kind: LdImm64Kind::Func, .. }));
        for (at, insn) in by_slot.iter().enumerate().filter(|(at, _)| func_of(*at) > 0) {
            let what = match insn {
                Some(Insn::PacketLoad { .. }) => "LD_ABS",
                Some(Insn::Call(CallTarget::Helper(h))) if h.name() == Some("tail_call") => "tail_call",
                _ => continue,
            };
            let start = InsnIdx(funcs[func_of(at)] as u32);
            let sig = prog.func_info.iter().find(|f| f.at == start).map(|f| f.sig.as_ref());
            match sig {
                // Without func info, the check above has spoken.
                None => {}
                Some(Some(sig)) if !sig.returns_scalar => {
                    return Err(CfgError {
                        help: Some(format!(
                            "{what} may end the function with a return value of its own, so the function must return an int"
                        )),
                        ..err(Code::BadInsn, at, format!("{what} is only allowed in functions that return 'int'."))
                    });
                }
                Some(Some(_)) if what == "tail_call" || !has_callbacks => {}
                Some(_) => {
                    return Err(CfgError {
                        help: Some("bpfx judges LD_ABS and tail calls in subprograms with a BTF prototype, and LD_ABS in programs without callbacks; the kernel decides this one".into()),
                        ..err(Code::Unsupported, at, format!("{what} in this subprogram is not supported by bpfx"))
                    });
                }
            }
        }

        let mut prune = vec![false; n];
        for (at, insn) in by_slot.iter().enumerate() {
            let Some(insn) = insn else { continue };
            if matches!(insn, Insn::Jump { .. } | Insn::Ja { .. } | Insn::MayGoto { .. }) {
                let f = func_of(at);
                let end = funcs.get(f + 1).copied().unwrap_or(n) as i64;
                for t in successors(insn, at) {
                    if t < funcs[f] as i64 || t >= end {
                        return Err(err(Code::Cfg, at, format!("jump out of range from insn {at} to {t}")));
                    }
                    if by_slot[t as usize].is_none() {
                        return Err(err(Code::Cfg, at, format!("jump into the middle of ldimm64 insn {}", t - 1)));
                    }
                    prune[t as usize] = true;
                }
            }
            if matches!(insn, Insn::Call(_)) && at + 1 < n {
                prune[at + 1] = true;
            }
            // A callback returns to the helper call that runs it, which
            // is where its iterations are found to converge.
            if calls_callback(insn) {
                prune[at] = true;
            }
        }
        // The last instruction of each function must not fall through.
        for (f, &start) in funcs.iter().enumerate() {
            let end = funcs.get(f + 1).copied().unwrap_or(n);
            let last = (start..end).rev().find(|&s| by_slot[s].is_some()).unwrap_or(start);
            if let Some(insn) = by_slot[last]
                && !matches!(insn, Insn::Exit | Insn::Ja { .. })
            {
                return Err(err(Code::Cfg, last, format!("last insn is not an exit or jmp (insn {last})")));
            }
        }

        // Reachability, from the program start and following calls.
        let mut seen = vec![false; n];
        let mut work = vec![0usize];
        while let Some(s) = work.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            let Some(insn) = by_slot[s] else { continue };
            for t in successors(insn, s) {
                work.push(t as usize);
            }
            if matches!(insn, Insn::Call(CallTarget::Local(_)) | Insn::LdImm64 { kind: LdImm64Kind::Func, .. })
                && let Some(t) = target_of(s, insn)
            {
                work.push(t as usize);
            }
        }
        if let Some(s) = (0..n).find(|&s| by_slot[s].is_some() && !seen[s]) {
            return Err(err(Code::Unreachable, s, format!("unreachable insn {s}")));
        }
        if !privileged && let Some((from, to)) = back_edge(&by_slot) {
            return Err(CfgError {
                help: Some("unprivileged programs may not loop; unroll the loop with a constant bound".into()),
                ..err(Code::Privileged, from, format!("back-edge from insn {from} to {to}"))
            });
        }

        let live = liveness(&by_slot, &funcs);
        Ok(Cfg { by_slot, funcs: funcs.into_iter().map(|f| InsnIdx(f as u32)).collect(), prune, live })
    }
}

fn bit(r: Reg) -> u16 {
    1 << r.num()
}

const ARGS: u16 = 0b11_1110;
const CALLER_SAVED: u16 = 0b11_1111;

/// Registers read and written by one instruction (calls read every
/// argument register, which over-approximates what is live).
fn uses_defs(insn: &Insn) -> (u16, u16) {
    use bpfx_isa::{AluOp, Src};
    let src_bit = |s: &Src| if let Src::Reg(r) = s { bit(*r) } else { 0 };
    match insn {
        Insn::Alu { op: AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32, dst, src, .. } => {
            (src_bit(src), bit(*dst))
        }
        Insn::Alu { dst, src, .. } => (bit(*dst) | src_bit(src), bit(*dst)),
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => (bit(*dst), bit(*dst)),
        Insn::LdImm64 { dst, .. } => (0, bit(*dst)),
        Insn::Load { dst, src, .. } => (bit(*src), bit(*dst)),
        Insn::Store { dst, src, .. } => (bit(*dst) | src_bit(src), 0),
        Insn::Atomic { op, dst, src, .. } => {
            let cmpxchg = *op == bpfx_isa::AtomicOp::CmpXchg;
            let uses = bit(*dst) | bit(*src) | if cmpxchg { bit(Reg::R0) } else { 0 };
            let defs = if cmpxchg {
                bit(Reg::R0)
            } else if op.fetches() {
                bit(*src)
            } else {
                0
            };
            (uses, defs)
        }
        Insn::Jump { dst, src, .. } => (bit(*dst) | src_bit(src), 0),
        Insn::Ja { .. } | Insn::MayGoto { .. } => (0, 0),
        Insn::Call(_) | Insn::Callx { .. } => {
            (ARGS | if let Insn::Callx { reg } = insn { bit(*reg) } else { 0 }, CALLER_SAVED)
        }
        Insn::Exit => (bit(Reg::R0), 0),
        Insn::PacketLoad { mode, .. } => {
            let ind = if let bpfx_isa::PacketLoad::Ind(r) = mode { bit(*r) } else { 0 };
            (bit(Reg::R6) | ind, CALLER_SAVED)
        }
    }
}

/// Backward may-liveness of registers within each function.
/// An edge of a depth-first walk from the start back to an instruction
/// still on the walk's path (`check_cfg`): the program has a loop.
fn back_edge(by_slot: &[Option<&Insn>]) -> Option<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; by_slot.len()];
    // Each entry: an instruction and how many of its successors are done.
    let mut path = vec![(0usize, 0usize)];
    mark[0] = Mark::OnPath;
    while let Some(&mut (at, ref mut next)) = path.last_mut() {
        let succ = by_slot[at].map(|insn| successors(insn, at)).unwrap_or_default();
        let Some(&t) = succ.get(*next) else {
            mark[at] = Mark::Done;
            path.pop();
            continue;
        };
        *next += 1;
        let Some(t) = usize::try_from(t).ok().filter(|&t| t < by_slot.len()) else { continue };
        match mark[t] {
            Mark::OnPath => return Some((at, t)),
            Mark::New => {
                mark[t] = Mark::OnPath;
                path.push((t, 0));
            }
            Mark::Done => {}
        }
    }
    None
}

fn liveness(by_slot: &[Option<&Insn>], funcs: &[usize]) -> Vec<u16> {
    let n = by_slot.len();
    let mut live = vec![0u16; n];
    let func_of = |s: usize| funcs.partition_point(|&f| f <= s) - 1;
    let mut changed = true;
    while changed {
        changed = false;
        for s in (0..n).rev() {
            let Some(insn) = by_slot[s] else { continue };
            let f = func_of(s);
            let end = funcs.get(f + 1).copied().unwrap_or(n) as i64;
            let mut out = 0u16;
            for t in successors(insn, s) {
                if t >= 0 && t < end {
                    out |= live[t as usize];
                }
            }
            let (uses, defs) = uses_defs(insn);
            let new = uses | (out & !defs);
            if new != live[s] {
                live[s] = new;
                changed = true;
            }
        }
    }
    live
}

/// Whether `insn` calls a helper that runs a callback in place
/// (`is_sync_callback_calling_insn`) — of those, bpfx models `bpf_loop`
/// and `bpf_for_each_map_elem`.
pub fn calls_callback(insn: &Insn) -> bool {
    matches!(insn, Insn::Call(CallTarget::Helper(id)) if matches!(id.name(), Some("loop" | "for_each_map_elem")))
}
