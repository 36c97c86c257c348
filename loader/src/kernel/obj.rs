//! Commands on kernel objects of any kind: pinning on bpffs (mounting it
//! and making directories first when needed), info by fd, and the id
//! iterators that list every object the kernel holds (programs, maps, btf,
//! links).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Bpf;
use super::attr::{Attr, GetIdAttr, InfoAttr, ObjAttr, ptr};
use super::bpffs::prepare_pin_path;
use super::error::{KernelError, SyscallError};
use super::sys::Cmd;

/// A kind of kernel object with an id space of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjKind {
    Prog,
    Map,
    Btf,
    Link,
}

impl ObjKind {
    fn next_id_cmd(self) -> Cmd {
        match self {
            ObjKind::Prog => Cmd::ProgGetNextId,
            ObjKind::Map => Cmd::MapGetNextId,
            ObjKind::Btf => Cmd::BtfGetNextId,
            ObjKind::Link => Cmd::LinkGetNextId,
        }
    }

    fn fd_by_id_cmd(self) -> Cmd {
        match self {
            ObjKind::Prog => Cmd::ProgGetFdById,
            ObjKind::Map => Cmd::MapGetFdById,
            ObjKind::Btf => Cmd::BtfGetFdById,
            ObjKind::Link => Cmd::LinkGetFdById,
        }
    }
}

impl Bpf {
    /// `BPF_OBJ_PIN`: the object of `fd` at `path`, on a bpf filesystem.
    /// A path under `/sys/fs/bpf` gets bpffs mounted there first if it is
    /// not; missing directories on bpffs are created
    /// ([`prepare_pin_path`]).
    pub fn pin(&self, fd: BorrowedFd<'_>, path: &Path) -> Result<(), KernelError> {
        // bpffs keeps names with a dot for its own files (`maps.debug`) and
        // answers a bare EPERM; say why instead.
        if path.file_name().is_some_and(|n| n.as_encoded_bytes().contains(&b'.')) {
            return Err(KernelError::PinName { path: path.to_owned() });
        }
        prepare_pin_path(path)?;
        let path = c_path(path)?;
        let mut attr =
            ObjAttr { pathname: ptr(path.as_bytes_with_nul()), bpf_fd: fd.as_raw_fd() as u32, ..ObjAttr::default() };
        self.call(Cmd::ObjPin, &mut attr).map_err(|e| SyscallError::new(Cmd::ObjPin, e))?;
        Ok(())
    }

    /// `BPF_OBJ_GET`: a new descriptor for the object pinned at `path`.
    pub fn get_pinned(&self, path: &Path) -> Result<OwnedFd, KernelError> {
        let path = c_path(path)?;
        let mut attr = ObjAttr { pathname: ptr(path.as_bytes_with_nul()), ..ObjAttr::default() };
        Ok(self.call_fd(Cmd::ObjGet, &mut attr).map_err(|e| SyscallError::new(Cmd::ObjGet, e))?)
    }

    /// The ids of every object of `kind` in the kernel, ascending
    /// (`BPF_*_GET_NEXT_ID`, which needs CAP_SYS_ADMIN).
    pub fn ids(&self, kind: ObjKind) -> Result<Vec<u32>, KernelError> {
        let cmd = kind.next_id_cmd();
        let mut ids = Vec::new();
        let mut start = 0;
        loop {
            let mut attr = GetIdAttr { start_id: start, ..GetIdAttr::default() };
            match self.call(cmd, &mut attr) {
                // Ids only grow; anything else would loop forever.
                Ok(_) if attr.next_id > start => {
                    ids.push(attr.next_id);
                    start = attr.next_id;
                }
                Ok(_) => return Ok(ids),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(ids),
                Err(e) => return Err(SyscallError::new(cmd, e).into()),
            }
        }
    }

    /// `BPF_*_GET_FD_BY_ID`: a new descriptor for the object of `kind`
    /// with `id` (needs CAP_SYS_ADMIN); ENOENT once it is gone.
    pub fn open_by_id(&self, kind: ObjKind, id: u32) -> Result<OwnedFd, KernelError> {
        let cmd = kind.fd_by_id_cmd();
        let mut attr = GetIdAttr { start_id: id, ..GetIdAttr::default() };
        Ok(self.call_fd(cmd, &mut attr).map_err(|e| SyscallError::new(cmd, e))?)
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` into the head of an info struct (the
    /// kernel fills as much as it is given).
    pub(crate) fn info<T: Attr + Default>(&self, fd: BorrowedFd<'_>) -> Result<T, KernelError> {
        let mut info = T::default();
        let bytes = info.bytes_mut();
        let info_len =
            u32::try_from(bytes.len()).map_err(|_| KernelError::TooLong { what: "info", len: bytes.len() })?;
        let mut attr = InfoAttr { bpf_fd: fd.as_raw_fd() as u32, info_len, info: bytes.as_mut_ptr() as u64 };
        self.call(Cmd::ObjGetInfoByFd, &mut attr).map_err(|e| SyscallError::new(Cmd::ObjGetInfoByFd, e))?;
        Ok(info)
    }
}

fn c_path(path: &Path) -> Result<CString, KernelError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| KernelError::Nul { what: "the pin path" })
}
