//! Stack accesses: fixed and variable offsets, spills and fills of registers, uninitialised reads (`check_stack_read`, `check_stack_write`).

use super::*;

impl<'p> Verifier<'p> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stack_access(
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
            // Without CAP_BPF a scalar written to the stack is plain data:
            // its bounds are not kept for a later fill.
            match (reg, imm) {
                (Some(r), _) if r.is_scalar() && b == 0 && privileged => {
                    let fits = r.var.umax.checked_shr(8 * size as u32).unwrap_or(0) == 0 || size == SLOT;
                    let mut saved = r;
                    if !fits {
                        saved.id = 0;
                    }
                    spill(slot, saved, size);
                }
                (None, Some(i)) if b == 0 && privileged => spill(slot, RegState::constant(i as i64 as u64), size),
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
                    // Plain data over part of a spill leaves no register to
                    // fill: its other bytes are data too.
                    for k in slot.bytes.iter_mut().filter(|k| **k == ByteKind::Spill) {
                        *k = ByteKind::Misc;
                    }
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
    pub(super) fn stack_var_access(
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
}

pub(super) fn uninit_stack(o: i64, i: usize, size: usize) -> Res<RegState> {
    fail(
        Code::StackAccess,
        format!("invalid read from stack off {o}+{i} size {size}"),
        format!("stack byte fp{} is read before it is written; initialise the variable first", o + i as i64),
    )
}

/// Stores `r` as the spilled register of `slot`, `size` bytes from its base.
pub(super) fn spill(slot: &mut crate::state::Slot, r: RegState, size: usize) {
    for (k, byte) in slot.bytes.iter_mut().enumerate() {
        if k < size {
            *byte = ByteKind::Spill;
        } else if *byte == ByteKind::Spill {
            *byte = ByteKind::Misc;
        }
    }
    slot.spill = r;
}
