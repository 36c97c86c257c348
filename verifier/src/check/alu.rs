//! ALU instructions on scalars and pointers (`adjust_scalar_min_max_vals`, `adjust_ptr_min_max_vals`), and `lddw`.

use super::*;

impl<'p> Verifier<'p> {
    pub(super) fn ld_imm64(&mut self, pc: InsnIdx, kind: LdImm64Kind, imm: u64) -> Res<RegState> {
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
                let target = InsnIdx((i64::from(pc.0) + 1 + i64::from(lo as i32)) as u32);
                // The kernel must see from BTF that a callback is static.
                if self.prog.func_info.is_empty() {
                    return fail(
                        Code::BadInsn,
                        "missing btf func_info",
                        "a function's address (a callback) needs the program's BTF func info; load the object with its BTF",
                    );
                }
                if let Some(f) = self.global_at(target) {
                    return fail(
                        Code::BadInsn,
                        "callback function not static",
                        format!("make {}() `static`: a callback must not be a global function", f.name),
                    );
                }
                if target == InsnIdx(0) {
                    return fail(
                        Code::BadInsn,
                        "callback function cannot be the main program",
                        "pass the address of a subprogram, not of the program itself",
                    );
                }
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

    pub(super) fn alu(&mut self, st: &mut State, width: Width, op: AluOp, dst: Reg, src: Src) -> Res<()> {
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
                    // A number below 2^32 is the same after a 32-bit move, so the
                    // copy stays linked to its source, as a 64-bit one does.
                    Width::W32 if srcv.is_scalar() && srcv.var.umax <= u64::from(u32::MAX) => {
                        let mut v = RegState { var: srcv.var.zext32(), ..srcv };
                        if let Src::Reg(r) = src
                            && v.id == 0
                            && v.var.value().is_none()
                        {
                            v.id = self.new_id();
                            st.reg_mut(r).id = v.id;
                        }
                        v
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
                    let v = self.ptr_alu(st.pc, width, op, dst, src, dstv, srcv)?;
                    *st.reg_mut(dst) = v;
                } else {
                    // Unprivileged, an addition of registers is masked if it
                    // ever adds to a pointer; every path through it must agree
                    // (`sanitize_val_alu`).
                    if !self.opts.privileged
                        && matches!(op, AluOp::Add | AluOp::Sub)
                        && let Src::Reg(_) = src
                        && *self.alu_paths.entry(st.pc).or_insert(AluPath::SCALARS) != AluPath::SCALARS
                    {
                        let verb = if op == AluOp::Add { "add" } else { "sub" };
                        return fail(
                            Code::PtrArith,
                            format!(
                                "R{} tried to {verb} from different maps, paths or scalars, pointer arithmetic with it prohibited for !root",
                                dst.num()
                            ),
                            "without CAP_PERFMON, an instruction that adds to a pointer on one path may not add numbers on another",
                        );
                    }
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn ptr_alu(
        &mut self,
        at: InsnIdx,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Src,
        dstv: RegState,
        srcv: RegState,
    ) -> Res<RegState> {
        let d = dst.num();
        let help = "only add or subtract a bounded number to or from a pointer, on the full 64-bit register";
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
        if width == Width::W32 {
            // A privileged subtraction on the low halves makes a number
            // that says nothing of the pointer.
            if op == AluOp::Sub && self.opts.privileged {
                return Ok(RegState::unknown());
            }
            return fail(Code::PtrArith, format!("R{d} 32-bit pointer arithmetic prohibited"), help);
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
        } else {
            self.var_ptr_alu(op, d, &ptr, &scalar, &mut r)?;
        }
        if !self.opts.privileged {
            self.unprivileged_ptr_alu(at, op, d, src, dstv.ty.is_pointer(), &ptr, &scalar, &r)?;
        }
        Ok(r)
    }

    /// Pointer plus or minus a scalar that is not a known constant.
    fn var_ptr_alu(&mut self, op: AluOp, d: u8, ptr: &RegState, scalar: &RegState, r: &mut RegState) -> Res<()> {
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
        Ok(())
    }

    /// The Spectre v1 rules for a loader without CAP_PERFMON: arithmetic
    /// with a register operand is masked at run time, so the pointer must
    /// be one the kernel can mask (stack, map value), the operand's sign
    /// known, and every path through the instruction must need the same
    /// mask (`sanitize_ptr_alu`); and the result must point inside its
    /// object (`sanitize_check_bounds`).
    #[allow(clippy::too_many_arguments)]
    fn unprivileged_ptr_alu(
        &mut self,
        at: InsnIdx,
        op: AluOp,
        d: u8,
        src: Src,
        ptr_is_dst: bool,
        ptr: &RegState,
        scalar: &RegState,
        result: &RegState,
    ) -> Res<()> {
        const ERR: &str = "pointer arithmetic with it prohibited for !root";
        let help = "without CAP_PERFMON, pointer arithmetic must stay inside its object on every path, with the same bounds at each instruction";
        if let Src::Reg(s) = src {
            if !matches!(ptr.ty, RegType::Stack { .. } | RegType::MapValue { .. }) {
                return fail(Code::PtrArith, format!("R{d} has pointer with unsupported alu operation, {ERR}"), help);
            }
            let known = scalar.var.value().is_some();
            if !known && (scalar.var.smin < 0) != (scalar.var.smax < 0) {
                let rn = if ptr_is_dst { s.num() } else { d };
                return fail(Code::PtrArith, format!("R{rn} has unknown scalar with mixed signed bounds, {ERR}"), help);
            }
            let negative = scalar.var.smin < 0;
            let mask_to_left = (op == AluOp::Add && negative) || (op == AluOp::Sub && !negative);
            let limit = |p: &RegState| -> Option<i64> {
                let (limit, max) = match p.ty {
                    RegType::Stack { .. } => {
                        (-(p.var.value()? as i64 + i64::from(p.off)), STACK_SIZE + i64::from(mask_to_left))
                    }
                    RegType::MapValue { map } => {
                        let bound = if mask_to_left { p.var.smin } else { i64::try_from(p.var.umax).ok()? };
                        (bound + i64::from(p.off), i64::from(self.prog.maps.get(map as usize)?.value_size))
                    }
                    _ => return None,
                };
                (0..max).contains(&limit).then_some(limit)
            };
            let (Some(before), Some(after)) = (limit(ptr), limit(result)) else {
                let verb = if op == AluOp::Add { "add" } else { "sub" };
                return fail(Code::PtrArith, format!("R{d} tried to {verb} beyond pointer bounds, {ERR}"), help);
            };
            let path = AluPath { pointer: true, negative, known, ptr_is_dst, limit: (before - after).abs() };
            if *self.alu_paths.entry(at).or_insert(path) != path {
                let verb = if op == AluOp::Add { "add" } else { "sub" };
                return fail(
                    Code::PtrArith,
                    format!("R{d} tried to {verb} from different maps, paths or scalars, {ERR}"),
                    help,
                );
            }
        }
        match result.ty {
            RegType::Stack { .. } => {
                let Some(v) = result.var.value() else {
                    return fail(Code::PtrArith, format!("R{d} variable stack access prohibited for !root"), help);
                };
                let off = v as i64 + i64::from(result.off);
                if !(-STACK_SIZE..0).contains(&off) {
                    return fail(
                        Code::PtrArith,
                        format!("R{d} stack pointer arithmetic goes out of range, prohibited for !root; off={off}"),
                        help,
                    );
                }
            }
            RegType::MapValue { map } => {
                let size = i64::from(self.map(map)?.value_size);
                let off = i64::from(result.off);
                let inside = i64::try_from(result.var.umax).is_ok_and(|umax| off + umax < size)
                    && result.var.smin > i64::MIN
                    && off + result.var.smin >= 0;
                if !inside {
                    return fail(
                        Code::PtrArith,
                        format!("R{d} pointer arithmetic of map value goes out of range, prohibited for !root"),
                        help,
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}
