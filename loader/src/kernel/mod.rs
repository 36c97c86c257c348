//! The kernel path: bpfx objects into the running kernel through `bpf(2)`
//! (Linux only).
//!
//! What it is: the kernel's `union bpf_attr` layouts as `#[repr(C)]`
//! structs (private, each checked field by field against the kernel's
//! header by a test), and on top of them maps ([`Map`]: create from a [`bpfx_isa::MapSpec`],
//! lookup, update, delete, next key, freeze), programs ([`Prog`]: load a
//! [`bpfx_isa::Program`] with its map references turned into map fds, the
//! verifier's log grown until it fits and read into a [`VerifierLog`];
//! [`Prog::test_run`]), BTF objects ([`Btf`]), whole objects as libbpf
//! loads them ([`Bpf::load_object`] into a [`LoadedObject`]: BTF sanitised
//! for this kernel, each map created once, tail-call slots filled), map
//! dumps ([`Map::dump`], batched), pinning on bpffs and the
//! kernel's object id iterators; attaching programs to network interfaces
//! (XDP, tcx, cls_bpf by rtnetlink) as [`Link`]s or [`TcFilter`]s, and
//! [`Bpf::detach`] of whatever is at an [`AttachPoint`]. Every kernel object is an
//! [`std::os::fd::OwnedFd`] inside its handle: dropping the
//! handle closes it, and an operation that fails part-way closes what it
//! had created. Errors ([`KernelError`]) carry the command, the errno and
//! what it means (privileges, sizes, the verifier's own words).
//!
//! What it is not: no libbpf and no aya. It does not parse ELF objects or
//! relocate them (the rest of the crate does), attaches only to network
//! interfaces, and decides nothing about a program: the kernel's verdict is
//! reported as the kernel gave it.
//!
//! Every call goes through one [`Syscall`] ([`Kernel`] by default), which
//! a test may replace with [`Bpf::with_syscall`] to watch calls, fail them
//! or forward them.

mod attr;
mod bpffs;
mod btf;
mod error;
mod link;
mod link_attr;
mod log;
mod map;
mod netlink;
mod obj;
mod object;
mod prog;
mod sanitize;
mod sys;
mod test_run;

use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

pub use bpffs::{BpffsError, DEFAULT_BPFFS, is_bpffs, mount_bpffs, prepare_pin_path};
pub use btf::{Btf, BtfLoadOptions};
pub use error::{Errno, KernelError, Rejected, SyscallError};
pub use link::{
    AttachError, AttachOptions, AttachPoint, Attachment, Detached, Link, LinkInfo, LinkTarget, TcBackend, TcDirection,
    TcFilter, XdpMode, ifindex, unpin,
};
pub use log::{DEFAULT_LOG_LIMIT, DEFAULT_LOG_START, KERNEL_MAX_LOG_SIZE, VerifierLog, VerifierStats};
pub use map::{Map, MapEntry, MapInfo, MapOptions, UpdateFlags, possible_cpus};
pub use obj::ObjKind;
pub use object::{BtfPolicy, EmptySlot, LoadedObject, ObjectLoadOptions, PinnedByName, ProgramSelection};
pub use prog::{LogLevel, Prog, ProgInfo, ProgLoadOptions};
pub use sanitize::{BtfFeatures, Sanitized, sanitize};
pub use sys::{BpfCall, Cmd, Kernel, Syscall};
pub use test_run::{DEFAULT_DATA_OUT_SLACK, TestRun, TestRunOutput};

use attr::Attr;

/// The entry to the kernel: every `bpf(2)` call of this module goes
/// through the [`Syscall`] of a `Bpf`. Cheap to clone; the objects it
/// creates keep a clone for their own calls.
#[derive(Clone)]
pub struct Bpf {
    sys: Arc<dyn Syscall>,
}

impl Bpf {
    /// The running kernel.
    pub fn new() -> Self {
        Bpf::with_syscall(Arc::new(Kernel))
    }

    /// Calls go to `sys` instead of straight to the kernel.
    pub fn with_syscall(sys: Arc<dyn Syscall>) -> Self {
        Bpf { sys }
    }

    /// The single way to `bpf(2)`.
    fn call<A: Attr>(&self, cmd: Cmd, attr: &mut A) -> io::Result<i32> {
        self.sys.bpf(&mut BpfCall::new(cmd, attr.bytes_mut()))
    }

    /// A call that returns a new descriptor, which the result owns.
    fn call_fd<A: Attr>(&self, cmd: Cmd, attr: &mut A) -> io::Result<OwnedFd> {
        let fd = self.call(cmd, attr)?;
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // SAFETY: `Syscall`'s contract: a descriptor a fd-returning command
        // gives back is the caller's to own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl Default for Bpf {
    fn default() -> Self {
        Bpf::new()
    }
}

impl fmt::Debug for Bpf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bpf").finish_non_exhaustive()
    }
}

/// The kernel's NUL-padded 16-byte object name: up to 15 characters, each
/// one the kernel allows (`[A-Za-z0-9_.]`), others replaced by `_`.
fn obj_name(name: &str) -> [u8; attr::OBJ_NAME_LEN] {
    let mut out = [0u8; attr::OBJ_NAME_LEN];
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    for (slot, c) in out[..attr::OBJ_NAME_LEN - 1].iter_mut().zip(name.chars()) {
        *slot = if allowed(c) { c as u8 } else { b'_' };
    }
    out
}

/// The text of a NUL-padded name the kernel returned.
fn name_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_to_fifteen_allowed_characters() {
        assert_eq!(&obj_name("xdp_prog"), b"xdp_prog\0\0\0\0\0\0\0\0");
        assert_eq!(&obj_name("a_very_long_program_name"), b"a_very_long_pro\0");
        assert_eq!(&obj_name(".rodata"), b".rodata\0\0\0\0\0\0\0\0\0");
        assert_eq!(&obj_name("tc/ingress-héllo"), b"tc_ingress_h_ll\0");
        assert_eq!(name_text(&obj_name("tc/ingress-héllo")), "tc_ingress_h_ll");
    }
}
