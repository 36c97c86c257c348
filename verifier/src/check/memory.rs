//! Loads, stores and atomics through context, packet, map value and memory pointers (`check_mem_access`).

use super::*;

impl<'p> Verifier<'p> {
    /// Checks a load (`value` None) or store through `ptr_reg + off`;
    /// returns the loaded value. A safe access counts towards the facts
    /// about its instruction.
    pub(super) fn mem_access(
        &mut self,
        st: &mut State,
        ptr_reg: Reg,
        off: i16,
        size: usize,
        access: Access,
        value: Option<(Option<RegState>, Option<i32>)>,
    ) -> Res<RegState> {
        let p = self.read(st, ptr_reg)?;
        let loaded = self.check_mem_access(st, p, ptr_reg, off, size, access, value)?;
        self.same_pointer_kind(st.pc, p.ty)?;
        self.proofs.access(self.prog, st.pc, &p, access == Access::Write);
        Ok(loaded)
    }

    /// The kernel's `save_aux_ptr_type`: the context and sockets are
    /// accessed by instructions the kernel rewrites for that pointer kind,
    /// so an instruction that reaches one of them on some path must reach
    /// the same kind on every path.
    fn same_pointer_kind(&mut self, at: InsnIdx, ty: RegType) -> Res<()> {
        // The kernel's base types: which map, frame or size does not count.
        let kind = match ty {
            RegType::Stack { .. } => RegType::Stack { frame: 0 },
            RegType::MapValue { .. } => RegType::MapValue { map: 0 },
            RegType::MapKey { .. } => RegType::MapKey { map: 0 },
            RegType::Mem { .. } => RegType::Mem { size: 0 },
            other => other,
        };
        let rewritten = |t: RegType| matches!(t, RegType::Ctx | RegType::SockCommon);
        let first = *self.pointer_kinds.entry(at).or_insert(kind);
        if first != kind && (rewritten(first) || rewritten(kind)) {
            return fail(
                Code::MixedPointers,
                "same insn cannot be used with different pointers".to_string(),
                "this access reaches the context (or a socket) on one path and other memory on another; the kernel \
                 rewrites context accesses per instruction, so give each path its own access",
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_mem_access(
        &mut self,
        st: &mut State,
        p: RegState,
        ptr_reg: Reg,
        off: i16,
        size: usize,
        access: Access,
        value: Option<(Option<RegState>, Option<i32>)>,
    ) -> Res<RegState> {
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
                // cgroup_skb reads packet pointers and writes tstamp only with
                // CAP_BPF.
                let needs_cap_bpf = self.prog.prog_type == ProgType::CgroupSkb
                    && ((SKB_DATA..SKB_DATA_END + 4).contains(&off)
                        || (write && (SKB_TSTAMP..SKB_TSTAMP + 8).contains(&off)));
                let access = if needs_cap_bpf && !self.opts.privileged {
                    None
                } else {
                    ctx_access(self.prog.prog_type, off, size as u32, kind)
                };
                match access {
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
            RegType::MapKey { map } => {
                if write {
                    return fail(
                        Code::BadDeref,
                        format!("write to change key R{rn} not allowed"),
                        "a map's keys are read-only; copy the key to the stack to change it",
                    );
                }
                let m = self.map(map)?;
                self.region(&p, rn, off, size as u64, u64::from(m.key_size), Code::MemBounds, "map key")?;
                Ok(RegState::scalar(sized(Scalar::UNKNOWN)))
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

    pub(super) fn pkt_writable(&self) -> bool {
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
    pub(super) fn region(
        &self,
        p: &RegState,
        rn: u8,
        off: i64,
        size: u64,
        limit: u64,
        code: Code,
        what: &str,
    ) -> Res<()> {
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

    pub(super) fn atomic(&mut self, st: &mut State, size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16) -> Res<()> {
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
}
