//! Function and program exit: frames popped, references left unreleased, the return values each program type allows (`check_return_code`).

use super::*;

impl<'p> Verifier<'p> {
    pub(super) fn exit(&mut self, st: &mut State) -> Res<Flow> {
        if st.frames.len() > 1 {
            let r0 = st.cur().regs[0];
            if matches!(r0.ty, RegType::Stack { .. }) {
                return fail(
                    Code::ReturnStack,
                    "cannot return stack pointer to the caller",
                    "a function's stack is gone once it returns; return a value, or write through a pointer the caller passes",
                );
            }
            if let Some(refs) = st.cur().callback_refs {
                return self.exit_callback(st, refs);
            }
            let callee = st.frames.pop().expect("more than one frame");
            st.cur_mut().regs[0] = r0;
            st.pc = InsnIdx(callee.callsite.map_or(0, |c| c.0) + 1);
            return Ok(Flow::Next);
        }
        let r0 = self.read(st, Reg::R0)?;
        let global = st.frames[0].func != InsnIdx(0);
        if let Some(&(id, at)) = st.refs.first() {
            return fail(
                Code::RefLeak,
                format!("Unreleased reference id={id} alloc_insn={at}"),
                format!("the ring buffer record reserved at insn {at} must be submitted or discarded on every path"),
            );
        }
        if r0.ty.is_pointer() && !self.opts.privileged {
            return fail(Code::ReturnRange, "R0 leaks addr as return value", "return a number, not a pointer");
        }
        // A global function returns to callers that take r0 as a number.
        if global {
            if !r0.is_scalar() {
                return fail(
                    Code::ReturnRange,
                    format!("At subprogram exit the register R0 is not a scalar value ({})", r0.ty.name()),
                    "a global function returns a number; return an integer, not a pointer",
                );
            }
            return Ok(Flow::Done);
        }
        if let Some((lo, hi, bits32)) = self.return_range() {
            if !r0.is_scalar() {
                return fail(
                    Code::ReturnRange,
                    format!("At program exit the register R0 is not a known value ({})", r0.ty.name()),
                    format!("{} programs must return a number in [{lo}, {hi}]", self.prog.prog_type),
                );
            }
            let (smin, smax) =
                if bits32 { (i64::from(r0.var.s32min), i64::from(r0.var.s32max)) } else { (r0.var.smin, r0.var.smax) };
            if smin < lo || smax > hi {
                return fail(
                    Code::ReturnRange,
                    format!(
                        "At program exit the register R0 has smin={smin} smax={smax} should have been in [{lo}, {hi}]"
                    ),
                    format!(
                        "{} programs must return a value in [{lo}, {hi}]; return one of those constants on every path",
                        self.prog.prog_type
                    ),
                );
            }
        }
        Ok(Flow::Done)
    }

    /// The return values the kernel allows (`check_return_code`), if it
    /// checks, and whether it checks only the low 32 bits.
    pub(super) fn return_range(&self) -> Option<(i64, i64, bool)> {
        if self.prog.prog_type == ProgType::Lsm {
            let hook = lsm::hook(&self.prog.section).map(lsm::returns);
            return if self.prog.expected_attach_type == Some(AttachType::LsmCgroup) {
                Some(if hook == Some(HookReturn::Void) { (1, 1, false) } else { (0, 1, false) })
            } else {
                match hook {
                    Some(HookReturn::Void) => None,
                    Some(HookReturn::Bool) => Some((0, 1, true)),
                    // Without a hook name the strictest rule is the safe one.
                    Some(HookReturn::Errno) | None => Some((-4095, 0, true)),
                }
            };
        }
        let range = match self.prog.prog_type {
            ProgType::CgroupSkb if self.prog.expected_attach_type == Some(AttachType::CgroupInetEgress) => Some((0, 3)),
            ProgType::CgroupSockAddr => {
                use AttachType::*;
                Some(match self.prog.expected_attach_type {
                    Some(
                        CgroupUdp4Recvmsg
                        | CgroupUdp6Recvmsg
                        | CgroupUnixRecvmsg
                        | CgroupInet4Getpeername
                        | CgroupInet6Getpeername
                        | CgroupUnixGetpeername
                        | CgroupInet4Getsockname
                        | CgroupInet6Getsockname
                        | CgroupUnixGetsockname,
                    ) => (1, 1),
                    Some(CgroupInet4Bind | CgroupInet6Bind) => (0, 3),
                    _ => (0, 1),
                })
            }
            ProgType::CgroupSkb
            | ProgType::CgroupSock
            | ProgType::SockOps
            | ProgType::CgroupDevice
            | ProgType::CgroupSysctl
            | ProgType::CgroupSockopt => Some((0, 1)),
            ProgType::Kprobe if self.prog.expected_attach_type == Some(AttachType::TraceKprobeSession) => Some((0, 1)),
            ProgType::SkLookup => Some((0, 1)),
            ProgType::Netfilter => Some((0, 1)),
            _ => None,
        };
        range.map(|(lo, hi)| (lo, hi, false))
    }
}
