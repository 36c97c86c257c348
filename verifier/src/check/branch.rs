//! Conditional jumps: dead-branch detection, bounds refined on each side, null checks, packet ranges proven by comparisons with `data_end` (`check_cond_jmp_op`).

use super::*;

impl<'p> Verifier<'p> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn jump(
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
}

/// Diagnostics show the last 32 decisions; the list is cut back to them
/// when it reaches 64, so that it stays short on long paths.
pub(super) fn push_step(prev: Option<Rc<Step>>, at: InsnIdx, taken: bool) -> Rc<Step> {
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

/// Writes a refined scalar back to `r` and every register linked to it.
pub(super) fn apply(st: &mut State, r: Reg, id: u32, var: Scalar) {
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
pub(super) fn mark_null(st: &mut State, p: RegState, is_null: bool) {
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
pub(super) fn pkt_compare(
    cond: JmpCond,
    dr: Reg,
    d: &RegState,
    sr: Reg,
    s: &RegState,
) -> Option<(Reg, RegState, bool, bool)> {
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
pub(super) fn good_pkt_pointers(st: &mut State, pkt: &RegState, open: bool) {
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
