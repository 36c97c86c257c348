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

    pub(super) fn ptr_alu(
        &mut self,
        width: Width,
        op: AluOp,
        dst: Reg,
        dstv: RegState,
        srcv: RegState,
    ) -> Res<RegState> {
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
}
