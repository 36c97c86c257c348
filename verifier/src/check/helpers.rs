//! Helper calls: prototypes, argument kinds and sizes, memory the helper reads or writes, which maps each helper takes (`check_helper_call`, `check_func_arg`, `check_map_func_compatibility`).

use super::*;

/// How a helper uses the memory an argument points to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum MemUse {
    Read,
    /// Writes at most the size it is given (a size known only as a range).
    Write,
    /// Writes exactly the size it is given.
    Fill,
}

impl<'p> Verifier<'p> {
    /// A helper call; for a helper that runs a callback in place
    /// (`bpf_loop`), also the state that enters the callback.
    pub(super) fn helper_call(&mut self, st: &mut State, id: HelperId) -> Res<Option<Box<State>>> {
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
        if !self.opts.privileged && !self.unprivileged_helper(name) {
            return fail(
                Code::Privileged,
                format!("program of this type cannot use helper bpf_{name}#{} without CAP_BPF", id.0),
                format!("bpf_{name} is for loaders with CAP_BPF or CAP_PERFMON"),
            );
        }
        if proto.gpl_only && !gpl_compatible(&self.prog.license) {
            return fail(
                Code::GplOnly,
                "cannot call GPL-restricted function from non-GPL compatible program",
                format!("bpf_{name} is GPL-only; declare `char LICENSE[] SEC(\"license\") = \"GPL\";`"),
            );
        }
        if name == "tail_call" && st.frames.iter().any(|f| f.callback_refs.is_some()) {
            return fail(
                Code::Unsupported,
                "bpf_tail_call in a callback is not supported by bpfx",
                "the kernel decides this one",
            );
        }
        let mut map: Option<u32> = None;
        // The memory argument waiting for its size: register, value, whether
        // the helper writes it, whether NULL is allowed.
        let mut mem: Option<(Reg, RegState, bool, bool)> = None;
        let mut alloc_size = 0u32;
        let mut release: Option<u32> = None;
        let mut callback: Option<InsnIdx> = None;
        // A lookup that cannot miss: an array's index known and in range.
        let mut cannot_miss = false;
        for (i, &kind) in proto.args.iter().enumerate() {
            let r = Reg::new(i as u8 + 1).expect("at most five arguments");
            let rn = r.num();
            let v = self.read(st, r)?;
            let expected = |what: &str| Fail {
                code: Code::HelperArg,
                message: format!("R{rn} type={} expected={what}", v.ty.name()),
                help: format!("argument {rn} of bpf_{name} must be {what}"),
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
                    let RegType::MapPtr { map: m } = v.ty else { return Err(expected("map_ptr")) };
                    self.map_compatible(id, name, m)?;
                    // Unprivileged tail calls are bounded by the map's size at
                    // run time, so each call site must always use one map.
                    if !self.opts.privileged && name == "tail_call" && *self.tail_call_maps.entry(pc).or_insert(m) != m
                    {
                        return fail(
                            Code::MapHelper,
                            "tail_call abusing map_ptr",
                            "without CAP_BPF each tail call instruction must use the same program array on every path",
                        );
                    }
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
                    if i == 0 {
                        self.proofs.call(pc, m);
                    }
                }
                ArgKind::MapKey | ArgKind::MapValue | ArgKind::UninitMapValue => {
                    let Some(m) = map else {
                        return fail(Code::HelperArg, "invalid map_ptr to access map->key", "pass the map first");
                    };
                    let spec = self.map(m)?;
                    let size = if kind == ArgKind::MapKey { spec.key_size } else { spec.value_size };
                    let usage = if kind == ArgKind::UninitMapValue { MemUse::Fill } else { MemUse::Read };
                    let (map_type, max_entries) = (spec.map_type, spec.max_entries);
                    self.helper_mem(st, r, v, u64::from(size), usage, name)?;
                    // Only for a loader with CAP_BPF, as the kernel.
                    if kind == ArgKind::MapKey
                        && self.opts.privileged
                        && name == "map_lookup_elem"
                        && matches!(map_type, MapType::Array | MapType::PercpuArray)
                    {
                        cannot_miss = constant_key(st, &v, size).is_some_and(|k| k < u64::from(max_entries));
                    }
                }
                ArgKind::ReadMem | ArgKind::ReadMemOrNull | ArgKind::WriteMem => {
                    mem = Some((r, v, kind == ArgKind::WriteMem, kind == ArgKind::ReadMemOrNull));
                }
                ArgKind::ConstSize | ArgKind::ConstSizeOrZero => {
                    if !v.is_scalar() {
                        return Err(expected("scalar"));
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
                        Some((mr, mv, w, _)) => {
                            let usage = match (w, v.var.value()) {
                                (false, _) => MemUse::Read,
                                (true, Some(_)) => MemUse::Fill,
                                (true, None) => MemUse::Write,
                            };
                            self.helper_mem(st, mr, mv, v.var.umax, usage, name)?
                        }
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
                        return Err(expected("ctx"));
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
                        return Err(expected("ringbuf_mem"));
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
                ArgKind::Func => {
                    let RegType::Func { at } = v.ty else { return Err(expected("func")) };
                    callback = Some(at);
                }
                ArgKind::StackOrNull => {
                    if !v.is_null() && !matches!(v.ty, RegType::Stack { .. }) {
                        return Err(expected("fp"));
                    }
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
        // The callback's entry is taken from the caller's registers before
        // the call clobbers them; it comes back to this call when it returns.
        let entered = match callback {
            Some(at) => Some(self.enter_callback(st, at, map)?),
            None => None,
        };
        let r0 = match map {
            // Since Linux 6.14 the kernel's verifier knows such a lookup
            // returns a value, and does not walk the NULL branch (6.12's
            // sources, which the tables follow, do not yet).
            Some(map) if cannot_miss => RegState::pointer(RegType::MapValue { map }),
            _ => self.ret_value(proto, map, alloc_size, st, pc),
        };
        let frame = st.cur_mut();
        for r in 1..=5 {
            frame.regs[r] = RegState::NOT_INIT;
        }
        frame.regs[0] = r0;
        Ok(entered)
    }

    pub(super) fn ret_value(
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
    /// (`check_helper_mem_access`).
    pub(super) fn helper_mem(
        &mut self,
        st: &mut State,
        r: Reg,
        v: RegState,
        size: u64,
        usage: MemUse,
        name: &str,
    ) -> Res<()> {
        let rn = r.num();
        let write = usage != MemUse::Read;
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
                // Only a fill of a known place may meet uninitialised bytes
                // (`raw_mode`); the kernel checks any other write as a read,
                // since the helper may write less than the range.
                let fill = usage == MemUse::Fill && v.var.value().is_some();
                for o in lo..hi {
                    let (spi, b) = locate(o);
                    let slot = st.frames[frame].slot_mut(spi);
                    let mark = |slot: &mut crate::state::Slot| {
                        if slot.bytes[0] == ByteKind::Spill {
                            for k in slot.bytes.iter_mut() {
                                *k = if *k == ByteKind::Spill { ByteKind::Misc } else { *k };
                            }
                        }
                        slot.bytes[b] = ByteKind::Misc;
                    };
                    if fill {
                        mark(slot);
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
                    if write {
                        mark(slot);
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
            RegType::MapKey { map } => {
                if write {
                    return fail(
                        Code::HelperArg,
                        format!("R{rn} cannot write into map_key"),
                        format!("bpf_{name} writes through R{rn}, and a map's keys are read-only"),
                    );
                }
                let m = self.map(map)?;
                self.region(&v, rn, 0, size, u64::from(m.key_size), Code::MemBounds, "map key")
            }
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
    pub(super) fn map_compatible(&self, id: HelperId, name: &str, map: u32) -> Res<()> {
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
    pub(super) fn may_update_sockmap(&self, helper: &str) -> bool {
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

    /// The helpers a loader without capabilities gets
    /// (`bpf_base_func_proto` before its capability checks, and what
    /// `sk_filter_func_proto` and `cg_skb_func_proto` add). A helper a
    /// newer kernel also allows is refused: the stricter answer.
    fn unprivileged_helper(&self, helper: &str) -> bool {
        let base = matches!(
            helper,
            "map_lookup_elem"
                | "map_update_elem"
                | "map_delete_elem"
                | "map_push_elem"
                | "map_pop_elem"
                | "map_peek_elem"
                | "map_lookup_percpu_elem"
                | "get_prandom_u32"
                | "get_smp_processor_id"
                | "get_numa_node_id"
                | "tail_call"
                | "ktime_get_ns"
                | "ktime_get_boot_ns"
                | "ktime_get_tai_ns"
                | "ringbuf_output"
                | "ringbuf_reserve"
                | "ringbuf_submit"
                | "ringbuf_discard"
                | "ringbuf_query"
                | "strncmp"
                | "strtol"
                | "strtoul"
                | "get_current_pid_tgid"
                | "get_ns_current_pid_tgid"
        );
        let sk_filter = matches!(
            helper,
            "skb_load_bytes" | "skb_load_bytes_relative" | "get_socket_cookie" | "get_socket_uid" | "perf_event_output"
        );
        let cg_skb = self.prog.prog_type == ProgType::CgroupSkb
            && matches!(
                helper,
                "sk_fullsock"
                    | "sk_storage_get"
                    | "sk_storage_delete"
                    | "skb_cgroup_id"
                    | "skb_ancestor_cgroup_id"
                    | "sk_cgroup_id"
                    | "sk_ancestor_cgroup_id"
                    | "sk_lookup_tcp"
                    | "sk_lookup_udp"
                    | "sk_release"
                    | "skc_lookup_tcp"
                    | "tcp_sock"
                    | "get_listener_sock"
                    | "skb_ecn_set_ce"
            );
        base || sk_filter || cg_skb
    }

    /// Whether a helper argument may point into the packet
    /// (`may_access_direct_pkt_data` with the helper's `pkt_access`).
    pub(super) fn helper_takes_packet(&self, helper: &str) -> bool {
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

pub(super) fn gpl_compatible(license: &str) -> bool {
    matches!(license, "GPL" | "GPL v2" | "GPL and additional rights" | "Dual BSD/GPL" | "Dual MIT/GPL" | "Dual MPL/GPL")
}

/// The value of a `size`-byte map key on the stack at `key`, when the
/// verifier knows it (the kernel's `get_constant_map_key`): bytes stored as
/// zeros, or a spilled constant of exactly the key's size at the start of
/// its slot.
fn constant_key(st: &State, key: &RegState, size: u32) -> Option<u64> {
    let RegType::Stack { frame } = key.ty else { return None };
    let off = i64::from(key.off).checked_add(key.var.value()? as i64)?;
    if !(-STACK_SIZE..0).contains(&off) {
        return None;
    }
    let (spi, b) = locate(off);
    let slot = st.frames.get(usize::from(frame))?.slot(spi);
    let size = size as usize;
    let run = |kind: ByteKind| slot.bytes[b..].iter().take_while(|&&k| k == kind).count();
    if run(ByteKind::Zero) >= size {
        return Some(0);
    }
    let spilled_scalar = slot.bytes[0] == ByteKind::Spill && slot.spill.is_scalar();
    if spilled_scalar && run(ByteKind::Spill) == size {
        return slot.spill.var.value();
    }
    None
}
