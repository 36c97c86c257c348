//! State pruning (`is_state_visited`): recorded states at pruning points, loops back to an identical state, and the bookkeeping of fully explored ones.

use super::*;

impl<'p> Verifier<'p> {
    /// `is_state_visited`: prunes `st` if a complete recorded state covers
    /// it, detects a loop back to an identical state, and records `st`.
    pub(super) fn visit(&mut self, st: &mut State) -> Visit {
        let pc = st.pc.index();
        let live = self.cfg.live[pc] | (1 << 10);
        let uninit_ok = self.opts.privileged;
        let callback_site = self.cfg.by_slot[pc].is_some_and(crate::cfg::calls_callback);
        let mut add = true;
        let mut i = 0;
        while i < self.at_insn[pc].len() {
            let e = self.at_insn[pc][i];
            let ex = &mut self.explored[e];
            if ex.branches > 0 {
                // At a callback's call, a round that comes back to a state
                // the loop already holds adds nothing (the kernel prunes
                // here rather than calling it an infinite loop).
                if callback_site {
                    if subsumes(&ex.state, st, live, uninit_ok) {
                        ex.hits += 1;
                        return Visit::Prune;
                    }
                } else if ex.state.same_as(st) {
                    return Visit::Loop;
                }
                // Inside a loop, record a state only now and then: each
                // iteration differs, and a state per iteration would make
                // every later lookup slower.
                if !callback_site && self.since_add.0 < 20 && self.since_add.1 < 100 {
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

    pub(super) fn release(&mut self, mut parent: Option<usize>) {
        while let Some(e) = parent {
            let ex = &mut self.explored[e];
            ex.branches -= 1;
            if ex.branches > 0 {
                break;
            }
            parent = ex.parent;
        }
    }
}
