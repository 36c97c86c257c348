//! The one place bpfx enters the kernel: `bpf(2)` behind the [`Syscall`]
//! trait, so a test can stand between bpfx and the kernel.

use std::fmt;
use std::io;

/// A `bpf(2)` command (`enum bpf_cmd`), the ones bpfx issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cmd {
    MapCreate,
    MapLookupElem,
    MapUpdateElem,
    MapDeleteElem,
    MapGetNextKey,
    ProgLoad,
    ObjPin,
    ObjGet,
    ProgTestRun,
    ProgGetNextId,
    MapGetNextId,
    ProgGetFdById,
    MapGetFdById,
    ObjGetInfoByFd,
    BtfLoad,
    BtfGetFdById,
    MapFreeze,
    BtfGetNextId,
    MapLookupBatch,
    ProgQuery,
    LinkCreate,
    LinkGetFdById,
    LinkGetNextId,
    LinkDetach,
}

impl Cmd {
    /// The kernel's number for the command.
    pub const fn value(self) -> u32 {
        match self {
            Cmd::MapCreate => 0,
            Cmd::MapLookupElem => 1,
            Cmd::MapUpdateElem => 2,
            Cmd::MapDeleteElem => 3,
            Cmd::MapGetNextKey => 4,
            Cmd::ProgLoad => 5,
            Cmd::ObjPin => 6,
            Cmd::ObjGet => 7,
            Cmd::ProgTestRun => 10,
            Cmd::ProgGetNextId => 11,
            Cmd::MapGetNextId => 12,
            Cmd::ProgGetFdById => 13,
            Cmd::MapGetFdById => 14,
            Cmd::ObjGetInfoByFd => 15,
            Cmd::BtfLoad => 18,
            Cmd::BtfGetFdById => 19,
            Cmd::MapFreeze => 22,
            Cmd::BtfGetNextId => 23,
            Cmd::MapLookupBatch => 24,
            Cmd::ProgQuery => 16,
            Cmd::LinkCreate => 28,
            Cmd::LinkGetFdById => 30,
            Cmd::LinkGetNextId => 31,
            Cmd::LinkDetach => 34,
        }
    }

    /// The kernel's name for the command (`BPF_PROG_LOAD`).
    pub const fn name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "BPF_MAP_CREATE",
            Cmd::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Cmd::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Cmd::MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            Cmd::MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            Cmd::ProgLoad => "BPF_PROG_LOAD",
            Cmd::ObjPin => "BPF_OBJ_PIN",
            Cmd::ObjGet => "BPF_OBJ_GET",
            Cmd::ProgTestRun => "BPF_PROG_TEST_RUN",
            Cmd::ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            Cmd::MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            Cmd::ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            Cmd::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Cmd::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::BtfLoad => "BPF_BTF_LOAD",
            Cmd::BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            Cmd::MapFreeze => "BPF_MAP_FREEZE",
            Cmd::BtfGetNextId => "BPF_BTF_GET_NEXT_ID",
            Cmd::MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            Cmd::ProgQuery => "BPF_PROG_QUERY",
            Cmd::LinkCreate => "BPF_LINK_CREATE",
            Cmd::LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            Cmd::LinkGetNextId => "BPF_LINK_GET_NEXT_ID",
            Cmd::LinkDetach => "BPF_LINK_DETACH",
        }
    }

    /// Whether a successful call returns a new file descriptor.
    pub const fn returns_fd(self) -> bool {
        matches!(
            self,
            Cmd::MapCreate
                | Cmd::ProgLoad
                | Cmd::ObjGet
                | Cmd::BtfLoad
                | Cmd::ProgGetFdById
                | Cmd::MapGetFdById
                | Cmd::BtfGetFdById
                | Cmd::LinkCreate
                | Cmd::LinkGetFdById
        )
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `bpf(2)` call on its way to the kernel: the command and the
/// `union bpf_attr` bytes bpfx built for it.
///
/// The bytes can be read but not changed: they hold pointers to buffers
/// bpfx sized for this very call, and only [`BpfCall::forward`] hands them
/// to the kernel.
pub struct BpfCall<'a> {
    cmd: Cmd,
    attr: &'a mut [u8],
}

impl<'a> BpfCall<'a> {
    pub(crate) fn new(cmd: Cmd, attr: &'a mut [u8]) -> Self {
        BpfCall { cmd, attr }
    }

    pub fn cmd(&self) -> Cmd {
        self.cmd
    }

    /// The attribute as bpfx built it (after [`BpfCall::forward`]: as the
    /// kernel left it).
    pub fn attr(&self) -> &[u8] {
        self.attr
    }

    /// Makes the real `bpf(2)` call: the new descriptor or the command's
    /// non-negative result, or the errno.
    pub fn forward(&mut self) -> io::Result<i32> {
        let len = libc::c_uint::try_from(self.attr.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
        // SAFETY: the attribute is one of the crate's `#[repr(C)]` layouts
        // of `union bpf_attr`, built for this command: every pointer in it
        // names a live buffer owned by the caller and at least as large as
        // the size field beside it, and the kernel writes only to those
        // buffers and to the `len` bytes of the attribute itself.
        let ret = unsafe { libc::syscall(libc::SYS_bpf, self.cmd.value() as libc::c_int, self.attr.as_mut_ptr(), len) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
    }
}

/// What every `bpf(2)` call of [`super::Bpf`] goes through: the real kernel
/// ([`Kernel`]) or a test's stand-in, which may inspect calls, fail them
/// with an errno of its choosing or forward them.
///
/// # Safety
///
/// For a command that [returns a descriptor](Cmd::returns_fd), an
/// `Ok(fd)` must be a descriptor the caller may own and close: the one
/// [`BpfCall::forward`] returned, or one the implementation opened and
/// gives up.
pub unsafe trait Syscall: Send + Sync {
    fn bpf(&self, call: &mut BpfCall<'_>) -> io::Result<i32>;
}

/// The running kernel: every call is forwarded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kernel;

// SAFETY: every descriptor comes from the kernel through `forward`.
unsafe impl Syscall for Kernel {
    fn bpf(&self, call: &mut BpfCall<'_>) -> io::Result<i32> {
        call.forward()
    }
}
