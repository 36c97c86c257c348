//! Callbacks run in place by a helper (`bpf_loop`): the kernel verifies
//! the callback as a call from the helper's call site, whose return comes
//! back to that same call, so that the walk goes round the loop until the
//! state at the call repeats (`push_callback_call`,
//! `set_loop_callback_state`, `prepare_func_exit`, and `is_state_visited`
//! at a `calls_callback` instruction). Numbers that change from one round
//! to the next are widened to unknown so that the rounds converge
//! (`widen_imprecise_scalars`; bpfx tracks no precision, so it widens every
//! such number, which can only lose precision).

use super::*;

/// The range a callback must return (`callback_ret_range`).
const CALLBACK_RET: (i64, i64) = (0, 1);

impl<'p> Verifier<'p> {
    /// The state entering callback `at` from the helper call `st` is at:
    /// `bpf_loop`'s callback gets an unknown index in r1 and the
    /// caller's r3 (`callback_ctx`) in r2; `bpf_for_each_map_elem`'s
    /// (on `map`) the map, a key and its value, then the caller's r3
    /// (`set_loop_callback_state`, `map_set_for_each_callback_args`).
    pub(super) fn enter_callback(&mut self, st: &State, at: InsnIdx, map: Option<u32>) -> Res<Box<State>> {
        if st.frames.len() >= MAX_FRAMES {
            return fail(
                Code::CallDepth,
                format!("the call stack of {} frames is too deep", st.frames.len() + 1),
                "calls nest more than 8 deep (or recurse); the kernel allows no recursion",
            );
        }
        let mut entered = st.clone();
        let mut callee = Frame::new(st.frames.len() as u8, Some(st.pc), at);
        callee.callback_refs = Some((st.refs.len() as u32, self.next_id));
        match map {
            None => {
                callee.regs[1] = RegState::unknown();
                callee.regs[2] = *st.reg(Reg::R3);
            }
            Some(map) => {
                let m = self.map(map)?;
                if !matches!(
                    m.map_type,
                    MapType::Array
                        | MapType::PercpuArray
                        | MapType::Hash
                        | MapType::PercpuHash
                        | MapType::LruHash
                        | MapType::LruPercpuHash
                ) {
                    return fail(
                        Code::MapHelper,
                        "callback function not allowed for map",
                        format!(
                            "bpf_for_each_map_elem walks array and hash maps; '{}' is a {} map",
                            m.name, m.map_type
                        ),
                    );
                }
                callee.regs[1] = RegState::pointer(RegType::MapPtr { map });
                callee.regs[2] = RegState::pointer(RegType::MapKey { map });
                callee.regs[3] = RegState::pointer(RegType::MapValue { map });
                callee.regs[4] = *st.reg(Reg::R3);
            }
        }
        entered.frames.push(callee);
        entered.pc = at;
        Ok(Box::new(entered))
    }

    /// A callback's `exit`: r0 a number in 0..=1, the references it took
    /// released; back to the helper call, with the numbers that changed
    /// since the loop's previous round at that call widened.
    pub(super) fn exit_callback(&mut self, st: &mut State, (entry_refs, last_id): (u32, u32)) -> Res<Flow> {
        let r0 = self.read(st, Reg::R0)?;
        if !r0.is_scalar() {
            return fail(
                Code::ReturnRange,
                "R0 not a scalar value",
                "a callback returns 0 (go on) or 1 (stop); return a number",
            );
        }
        let (lo, hi) = CALLBACK_RET;
        if r0.var.smin < lo || r0.var.smax > hi {
            return fail(
                Code::ReturnRange,
                format!(
                    "At callback return the register R0 has smin={} smax={} should have been in [{lo}, {hi}]",
                    r0.var.smin, r0.var.smax
                ),
                "a callback returns 0 (go on) or 1 (stop) on every path",
            );
        }
        if let Some(&(id, at)) = st.refs.iter().find(|&&(id, _)| id > last_id) {
            return fail(
                Code::RefLeak,
                format!("Unreleased reference id={id} alloc_insn={at}"),
                format!(
                    "the ring buffer record reserved at insn {at} must be submitted or discarded before the callback returns"
                ),
            );
        }
        if st.refs.len() < entry_refs as usize {
            return fail(
                Code::Unsupported,
                "a callback releasing its caller's reference is not supported by bpfx",
                "release references where they were acquired; the kernel decides this one",
            );
        }
        let callee = st.frames.pop().expect("a callback has a caller");
        st.pc = callee.callsite.unwrap_or(st.pc);
        self.widen(st);
        Ok(Flow::Next)
    }

    /// Widens the numbers of `st` that differ from the loop's previous
    /// round: the nearest recorded ancestor at the same call with the
    /// same frames.
    fn widen(&self, st: &mut State) {
        let mut e = st.parent;
        let prev = loop {
            let Some(i) = e else { return };
            let ex = &self.explored[i];
            if ex.state.pc == st.pc
                && ex.state.frames.len() == st.frames.len()
                && ex.state.frames.iter().zip(&st.frames).all(|(a, b)| a.callsite == b.callsite)
            {
                break &ex.state;
            }
            e = ex.parent;
        };
        for (old, cur) in prev.frames.iter().zip(st.frames.iter_mut()) {
            for (o, c) in old.regs.iter().zip(cur.regs.iter_mut()) {
                if o.is_scalar() && c.is_scalar() && o.var != c.var {
                    *c = RegState::unknown();
                }
            }
            for (spi, c) in cur.stack.iter_mut().enumerate() {
                let o = old.slot(spi);
                if c.has_spill()
                    && o.has_spill()
                    && c.spill.is_scalar()
                    && o.spill.is_scalar()
                    && o.spill.var != c.spill.var
                {
                    c.spill = RegState::unknown();
                }
            }
        }
    }
}
