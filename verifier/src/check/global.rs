//! Global functions (`BTF_FUNC_GLOBAL`): the kernel verifies each one
//! once, alone, with arguments typed from its BTF prototype
//! (`btf_prepare_func_args`), after the main program and only if some
//! verified code calls it; a call site checks its arguments against the
//! prototype (`btf_check_func_arg_match`) and gets an unknown number back.

use bpfx_isa::{FuncInfo, ParamType};

use super::helpers::MemUse;

use super::*;

/// What a global function's argument is, as the kernel types it.
#[derive(Clone, Copy)]
pub(super) enum GlobalArg {
    Scalar,
    Ctx,
    /// `PTR_TO_MEM | PTR_MAYBE_NULL` of the pointee's size.
    MemOrNull {
        size: u32,
    },
}

/// `struct`s a pointer argument may name to mean the context of `prog_type`
/// (the uapi name and the kernel's, `btf_is_projection_of`); `None` where
/// bpfx does not know the kernel's canonical context type.
fn ctx_struct_names(prog_type: ProgType) -> Option<[&'static str; 2]> {
    use ProgType::*;
    match prog_type {
        Xdp => Some(["xdp_md", "xdp_buff"]),
        SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit | LwtSeg6local | SkSkb => {
            Some(["__sk_buff", "sk_buff"])
        }
        _ => None,
    }
}

impl<'p> Verifier<'p> {
    /// The global function starting at `at`, if there is one.
    pub(super) fn global_at(&self, at: InsnIdx) -> Option<&'p FuncInfo> {
        self.prog.func_info.iter().find(|f| f.at == at && f.global)
    }

    /// The argument types of global function `f`, or why bpfx cannot tell
    /// them (or the kernel refuses the prototype).
    pub(super) fn global_args(&self, f: &FuncInfo) -> Res<Vec<GlobalArg>> {
        let unsupported = |why: String| {
            fail(
                Code::Unsupported,
                format!("global function {}: {why} is not supported by bpfx", f.name),
                "the kernel types a global function's arguments from its BTF prototype; bpfx reads integers, enums, the context and pointers to sized types, so the kernel decides this one",
            )
        };
        let Some(sig) = &f.sig else {
            return unsupported("a function without a BTF prototype".into());
        };
        if !sig.returns_scalar {
            return fail(
                Code::FuncArg,
                format!("Global function {}() doesn't return scalar. Only those are supported.", f.name),
                "a global function must return an integer or an enum; make it `static` or change its return type",
            );
        }
        if sig.params.len() > 5 {
            return fail(
                Code::FuncArg,
                format!("Global function {}() with {} > 5 args. Buggy compiler.", f.name, sig.params.len()),
                "a function takes at most five arguments",
            );
        }
        let ctx = ctx_struct_names(self.prog.prog_type);
        let mut args = Vec::new();
        for (i, p) in sig.params.iter().enumerate() {
            args.push(match p {
                ParamType::Scalar => GlobalArg::Scalar,
                ParamType::Pointer { to_struct: Some(name), .. } if ctx.is_some_and(|c| c.contains(&name.as_str())) => {
                    GlobalArg::Ctx
                }
                ParamType::Pointer { to_struct: Some(_), .. } if ctx.is_none() => {
                    return unsupported(format!("a struct pointer argument #{i} in a {} program", self.prog.prog_type));
                }
                ParamType::Pointer { size: Some(size), .. } if *size > 0 => GlobalArg::MemOrNull { size: *size },
                ParamType::Pointer { .. } => {
                    return unsupported(format!("argument #{i}, a pointer to a type without size"));
                }
                ParamType::Other => return unsupported(format!("the type (or arg: tag) of argument #{i}")),
            });
        }
        Ok(args)
    }

    /// A call to global function `f` at `st.pc`: the arguments checked
    /// against its prototype, the function queued for verifying, the
    /// caller-saved registers cleared and r0 an unknown number.
    pub(super) fn global_call(&mut self, st: &mut State, f: &'p FuncInfo) -> Res<()> {
        let args = self.global_args(f)?;
        let bad = |why: String, help: String| {
            fail(Code::FuncArg, format!("Caller passes invalid args into func ('{}'): {why}", f.name), help)
        };
        for (i, arg) in args.iter().enumerate() {
            let r = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5][i];
            let v = *st.reg(r);
            match arg {
                GlobalArg::Scalar if !v.is_scalar() => {
                    return bad(
                        format!("R{} is not a scalar", r.num()),
                        format!("argument {} of {}() is an integer; pass a number", i + 1, f.name),
                    );
                }
                GlobalArg::Scalar => {}
                GlobalArg::Ctx => {
                    if v.ty != RegType::Ctx {
                        return bad(
                            format!("arg#{i} expects pointer to ctx"),
                            format!(
                                "argument {} of {}() is the program's context; pass the context pointer",
                                i + 1,
                                f.name
                            ),
                        );
                    }
                    if v.off != 0 || v.var.value() != Some(0) {
                        return bad(
                            format!("dereference of modified ctx ptr R{} off={} disallowed", r.num(), v.off),
                            "pass the context pointer itself, not a pointer into it".into(),
                        );
                    }
                }
                GlobalArg::MemOrNull { size } => {
                    if v.is_null() {
                        continue;
                    }
                    let checked = RegState { ty: v.ty.not_null(), ..v };
                    let name = f.name.as_str();
                    // The kernel checks the memory as the callee may use it:
                    // read and written, `size` bytes.
                    let as_read = self.helper_mem(st, r, checked, u64::from(*size), MemUse::Read, name);
                    let both =
                        as_read.and_then(|()| self.helper_mem(st, r, checked, u64::from(*size), MemUse::Write, name));
                    if let Err(e) = both {
                        return bad(
                            e.message,
                            format!(
                                "argument {} of {}() points to {size} bytes the function may read and write; pass a pointer to that much memory (or NULL)",
                                i + 1,
                                f.name
                            ),
                        );
                    }
                }
            }
        }
        if !self.global_seen.contains(&f.at) {
            self.global_seen.insert(f.at);
            self.global_queue.push(f.at);
        }
        if self.func_changes_pkt_data(self.func_index(f.at)) {
            let privileged = self.opts.privileged;
            st.for_each_reg(|r| {
                if matches!(r.ty, RegType::Packet | RegType::PacketMeta | RegType::PacketEnd) {
                    *r = if privileged { RegState::unknown() } else { RegState::NOT_INIT };
                }
            });
        }
        let frame = st.cur_mut();
        for r in 1..=5 {
            frame.regs[r] = RegState::NOT_INIT;
        }
        frame.regs[0] = RegState::unknown();
        Ok(())
    }

    /// The state a global function starts in: its arguments as its
    /// prototype types them, the others uninitialised.
    pub(super) fn global_entry(&mut self, f: &FuncInfo) -> Res<State> {
        let args = self.global_args(f)?;
        let mut frame = Frame::new(0, None, f.at);
        for (i, arg) in args.iter().enumerate() {
            frame.regs[i + 1] = match arg {
                GlobalArg::Scalar => RegState::unknown(),
                GlobalArg::Ctx => RegState::pointer(RegType::Ctx),
                GlobalArg::MemOrNull { size } => {
                    RegState { id: self.new_id(), ..RegState::pointer(RegType::MemOrNull { size: *size }) }
                }
            };
        }
        Ok(State { pc: f.at, frames: vec![frame], refs: Vec::new(), path: None, parent: None })
    }

    /// Whether function `func` (index into `cfg.funcs`) or one it calls
    /// may call a helper that moves packet data (the kernel's
    /// `changes_pkt_data`, merged from callees).
    fn func_changes_pkt_data(&self, func: usize) -> bool {
        let mut seen = vec![false; self.cfg.funcs.len()];
        let mut todo = vec![func];
        while let Some(f) = todo.pop() {
            if std::mem::replace(&mut seen[f], true) {
                continue;
            }
            let start = self.cfg.funcs[f].index();
            let end = self.cfg.funcs.get(f + 1).map_or(self.cfg.by_slot.len(), |e| e.index());
            for s in start..end {
                match self.cfg.by_slot[s] {
                    // A tail call counts too: the program it runs may move
                    // the packet before control comes back.
                    Some(Insn::Call(CallTarget::Helper(id)))
                        if proto(*id).is_some_and(|p| p.changes_pkt_data) || id.name() == Some("tail_call") =>
                    {
                        return true;
                    }
                    // A callback's helper call moves the packet under the
                    // function that passed it, so function references count
                    // as calls.
                    Some(insn @ (Insn::Call(CallTarget::Local(_)) | Insn::LdImm64 { kind: LdImm64Kind::Func, .. })) => {
                        let off = insn.branch_offset().unwrap_or(0);
                        let target = InsnIdx((s as i64 + insn.slots() as i64 + off) as u32);
                        todo.push(self.func_index(target));
                    }
                    _ => {}
                }
            }
        }
        false
    }
}
