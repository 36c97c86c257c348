//! BTF objects in the kernel: `BPF_BTF_LOAD` of raw BTF bytes, with the
//! kernel's BTF log.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::Bpf;
use super::attr::{BtfInfoRaw, BtfLoadAttr, ptr, ptr_mut};
use super::error::{Errno, KernelError, SyscallError};
use super::log::{DEFAULT_LOG_LIMIT, DEFAULT_LOG_START, with_growing_log};
use super::sys::Cmd;

/// How to load BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtfLoadOptions {
    /// `btf_log_level`: 0 asks for no log, 1 for the kernel's checks of
    /// each type, 2 for more; a rejection is always retried with level 1
    /// to get its reason.
    pub log_level: u32,
    pub log_start: u32,
    pub log_limit: u32,
}

impl Default for BtfLoadOptions {
    fn default() -> Self {
        BtfLoadOptions { log_level: 0, log_start: DEFAULT_LOG_START, log_limit: DEFAULT_LOG_LIMIT }
    }
}

/// A BTF object in the kernel, closed when dropped.
#[derive(Debug)]
pub struct Btf {
    fd: OwnedFd,
    bpf: Bpf,
    log: String,
}

impl Bpf {
    /// `BPF_BTF_LOAD` of raw BTF (header, types, strings).
    pub fn load_btf(&self, bytes: &[u8], options: &BtfLoadOptions) -> Result<Btf, KernelError> {
        let btf_size =
            u32::try_from(bytes.len()).map_err(|_| KernelError::TooLong { what: "btf", len: bytes.len() })?;
        let attempt = |log_level: u32| {
            let call = |log: &mut [u8]| {
                let mut attr = BtfLoadAttr { btf: ptr(bytes), btf_size, ..BtfLoadAttr::default() };
                if log_level != 0 {
                    attr.btf_log_buf = ptr_mut(log);
                    attr.btf_log_size = log.len() as u32;
                    attr.btf_log_level = log_level;
                }
                let result = self.call_fd(Cmd::BtfLoad, &mut attr);
                (result, attr.btf_log_true_size)
            };
            if log_level == 0 {
                Ok((call(&mut []).0, String::new()))
            } else {
                with_growing_log(Cmd::BtfLoad, options.log_start, options.log_limit, call)
            }
        };
        let (result, log) = attempt(options.log_level)?;
        let (result, log) = match result {
            Err(e) if options.log_level == 0 && rejection(&e) => attempt(1)?,
            other => (other, log),
        };
        match result {
            Ok(fd) => Ok(Btf { fd, bpf: self.clone(), log }),
            Err(e) if rejection(&e) && !log.trim().is_empty() => {
                let message = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_owned();
                Err(KernelError::BtfRejected { errno: Errno::of(&e), message, log })
            }
            Err(e) => Err(SyscallError::new(Cmd::BtfLoad, e).into()),
        }
    }
}

impl Bpf {
    /// The id of the BTF object of `fd` (one opened by id).
    pub fn btf_id(&self, fd: BorrowedFd<'_>) -> Result<u32, KernelError> {
        Ok(self.info::<BtfInfoRaw>(fd)?.id)
    }
}

/// Errnos with which the kernel refuses the BTF itself (and says why in
/// the log), rather than the call.
fn rejection(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::E2BIG | libc::ENOTSUP))
}

impl Btf {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The kernel's log of the load (empty at log level 0).
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The BTF object's id.
    pub fn id(&self) -> Result<u32, KernelError> {
        self.bpf.btf_id(self.fd())
    }
}
