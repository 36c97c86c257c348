//! Errors of the kernel path, each with the kernel's errno and, where the
//! cause can be known, what to do about it.

use std::fmt;
use std::io;

use bpfx_isa::InsnIdx;

use super::log::VerifierLog;
use super::sys::Cmd;

/// A positive errno as the kernel returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const E2BIG: Errno = Errno(libc::E2BIG);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const ENOSPC: Errno = Errno(libc::ENOSPC);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    /// The kernel-internal `ENOTSUPP` (524) some bpf(2) paths leak to user
    /// space, distinct from `EOPNOTSUPP`.
    pub const ENOTSUPP: Errno = Errno(524);

    /// The errno of an I/O error from a syscall (EIO when it has none).
    pub fn of(err: &io::Error) -> Errno {
        Errno(err.raw_os_error().unwrap_or(libc::EIO))
    }

    /// The symbolic name (`EPERM`), for the errnos bpf(2) returns.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::ESRCH => "ESRCH",
            libc::EINTR => "EINTR",
            libc::EIO => "EIO",
            libc::ENXIO => "ENXIO",
            libc::E2BIG => "E2BIG",
            libc::EBADF => "EBADF",
            libc::EAGAIN => "EAGAIN",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EEXIST => "EEXIST",
            libc::EXDEV => "EXDEV",
            libc::ENODEV => "ENODEV",
            libc::ENOTDIR => "ENOTDIR",
            libc::EINVAL => "EINVAL",
            libc::ENFILE => "ENFILE",
            libc::EMFILE => "EMFILE",
            libc::EFBIG => "EFBIG",
            libc::ENOSPC => "ENOSPC",
            libc::ERANGE => "ERANGE",
            libc::ENAMETOOLONG => "ENAMETOOLONG",
            libc::ENOSYS => "ENOSYS",
            libc::ELOOP => "ELOOP",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::EOVERFLOW => "EOVERFLOW",
            524 => "ENOTSUPP",
            _ => return None,
        })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// A `bpf(2)` call that failed, with the errno and, when it can be told,
/// why (`needs root, or CAP_BPF ...`).
#[derive(Debug, thiserror::Error)]
#[error("bpf({call}) failed with {errno}: {explanation}")]
pub struct SyscallError {
    pub call: Cmd,
    pub errno: Errno,
    /// What the errno means for this call.
    pub explanation: String,
    #[source]
    pub source: io::Error,
}

impl SyscallError {
    /// The error of `call`, explained from the command and errno alone.
    pub fn new(call: Cmd, source: io::Error) -> Self {
        SyscallError::with_cause(call, source, None)
    }

    /// The error of `call`, with a cause the caller could tell from what it
    /// asked for (`key_size must be 4 for an array map`).
    pub fn with_cause(call: Cmd, source: io::Error, cause: Option<String>) -> Self {
        let errno = Errno::of(&source);
        let explanation = cause.unwrap_or_else(|| explain(call, errno));
        SyscallError { call, errno, explanation, source }
    }
}

/// Everything the kernel path can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    #[error(transparent)]
    Syscall(#[from] SyscallError),

    /// The verifier refused the program; the log says why.
    #[error("{0}")]
    Rejected(Box<Rejected>),

    /// The kernel refused the BTF; its log says why.
    #[error("the kernel rejected the btf with {errno}: {message}")]
    BtfRejected { errno: Errno, message: String, log: String },

    /// The log did not fit in the largest buffer allowed; `log` is what
    /// the kernel kept (its end, which holds the verdict) and `needed` the
    /// size the kernel asked for, when it said.
    #[error("bpf({call}): the kernel's log is larger than the limit of {limit} bytes")]
    LogTooLarge { call: Cmd, limit: u32, needed: Option<u32>, log: String },

    #[error("insn {at} refers to map {index}, but the program has {count} maps")]
    MapIndex { at: InsnIdx, index: u32, count: usize },

    #[error("the program has {slots} instruction slots, more than bpf(2) can describe")]
    TooManyInsns { slots: usize },

    #[error("{what} of map `{map}` is {len} bytes, the map's is {expected}")]
    Size { map: String, what: &'static str, len: usize, expected: usize },

    #[error("the kernel's map type {value} is unknown to bpfx")]
    UnknownMapType { value: u32 },

    #[error("{what} contains a nul byte")]
    Nul { what: &'static str },

    #[error("{what} of {len} bytes is more than bpf(2) can pass")]
    TooLong { what: &'static str, len: usize },

    #[error("cannot read the possible cpus from {path}: {reason}")]
    PossibleCpus { path: &'static str, reason: String },

    #[error("bpf(BPF_PROG_TEST_RUN): the context out is {needed} bytes, more than the {capacity} bytes asked for")]
    CtxOutTooSmall { capacity: usize, needed: usize },

    /// A pin path could not be readied (bpffs mount, directories).
    #[error(transparent)]
    Bpffs(#[from] super::bpffs::BpffsError),

    /// A step of an object's load failed: `what` names the map, program
    /// or BTF.
    #[error("{what}")]
    InObject { what: String, source: Box<KernelError> },

    #[error("the object has no program `{name}` (it has: {available})")]
    NoSuchProgram { name: String, available: String },

    #[error("{wanted_by} refers to map `{name}`, which the object does not define")]
    NoSuchMap { name: String, wanted_by: String },

    /// bpffs refuses pin names with a dot.
    #[error("cannot pin at {}: bpf filesystems refuse names containing '.'", path.display())]
    PinName { path: std::path::PathBuf },

    /// A map pinned by name differs from the object's definition.
    #[error("the pinned map has {field} {pinned}, map `{map}` of the object has {wanted}")]
    Incompatible { map: String, field: &'static str, pinned: u32, wanted: u32 },
}

impl KernelError {
    /// The error at the bottom of [`KernelError::InObject`] wrappers.
    pub fn root(&self) -> &KernelError {
        match self {
            KernelError::InObject { source, .. } => source.root(),
            e => e,
        }
    }
}

/// A program the kernel's verifier refused.
#[derive(Debug)]
pub struct Rejected {
    /// The name it was loaded as.
    pub name: String,
    pub errno: Errno,
    /// The whole log, parsed.
    pub log: VerifierLog,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the kernel's verifier rejected `{}` with {}", self.name, self.errno)?;
        if let Some(at) = self.log.error_insn() {
            write!(f, " at insn {at}")?;
        }
        match self.log.error_message() {
            Some(message) => write!(f, ": {}", message.replace('\n', "; ")),
            None => Ok(()),
        }
    }
}

/// What `errno` from `call` usually means.
fn explain(call: Cmd, errno: Errno) -> String {
    let text = match (call, errno.0) {
        (Cmd::ObjPin, libc::EPERM) => {
            return format!(
                "pinning needs a path on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf); or {}",
                privileges()
            );
        }
        (Cmd::MapUpdateElem | Cmd::MapDeleteElem, libc::EPERM) => {
            return format!("the map is frozen (read-only from user space); or {}", privileges());
        }
        (_, libc::EPERM | libc::EACCES) => return privileges(),
        (Cmd::ProgLoad, libc::E2BIG) => {
            "the program is longer than the kernel accepts (1000000 slots for a privileged loader, 4096 \
             otherwise), or the attribute has bytes this kernel does not know"
        }
        (Cmd::MapCreate, libc::E2BIG) => "the key, the value or max_entries is larger than this map type allows",
        (Cmd::MapUpdateElem, libc::E2BIG) => "the map is full (max_entries reached)",
        (_, libc::E2BIG) => "the attribute has bytes this kernel does not know (bpfx is newer than the kernel)",
        (Cmd::ProgLoad, libc::EINVAL) => {
            "the kernel refused the program before verifying it: the program type, expected attach type, \
             flags or name are not valid for this kernel"
        }
        (Cmd::ProgTestRun, libc::EINVAL) => {
            "the program type refuses this input: a packet shorter than an ethernet header (14 bytes) or \
             longer than a page, a context it does not accept, or flags, cpu or repeat it does not support"
        }
        (Cmd::MapCreate, libc::EINVAL) => "the kernel refuses this combination of map type, sizes and flags",
        (Cmd::MapUpdateElem, libc::EINVAL) => "the update flags are not valid for this map",
        (Cmd::MapLookupElem | Cmd::MapUpdateElem | Cmd::MapDeleteElem, libc::ENOENT) => "no such key",
        (Cmd::ObjGet, libc::ENOENT) => "nothing is pinned at that path",
        (Cmd::ObjPin, libc::EEXIST) => "something is already pinned at that path",
        (Cmd::MapUpdateElem, libc::EEXIST) => "the key exists and BPF_NOEXIST was asked",
        (Cmd::ProgTestRun, libc::ENOTSUP | 524) => "this program type cannot be test-run",
        (_, libc::EOPNOTSUPP | 524) => "the operation is not supported for this object type",
        (_, libc::EBADF) => "not a valid bpf object descriptor",
        (_, libc::EFAULT) => "the kernel could not read or write a buffer (a bug in bpfx)",
        (_, libc::ENOMEM) => "the kernel is out of memory for this object (or, before Linux 5.11, RLIMIT_MEMLOCK)",
        (_, libc::ENOSYS) => "this kernel has no bpf(2) (CONFIG_BPF_SYSCALL is off)",
        (_, libc::EBUSY) => "the object is busy",
        (_, libc::EAGAIN) => "interrupted; try again",
        _ => "the kernel gave no further reason",
    };
    text.to_owned()
}

/// Capability bits (`include/uapi/linux/capability.h`).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Why a call was not permitted: what bpf(2) needs and what this process
/// has (uid and effective capabilities, from `/proc/self/status`).
fn privileges() -> String {
    let mut need = "needs root, or CAP_BPF (+ CAP_PERFMON for tracing programs and pointer arithmetic, + \
                    CAP_NET_ADMIN for networking programs and test runs)"
        .to_owned();
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled");
    if let Some(setting) = sysctl.as_deref().map(str::trim).ok().filter(|s| *s != "0") {
        need.push_str(&format!(
            "; kernel.unprivileged_bpf_disabled is {setting}, so bpf(2) refuses any caller without them"
        ));
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return need;
    };
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let uid = field("Uid:").and_then(|u| u.split_whitespace().nth(1)).unwrap_or("?");
    let Some(caps) = field("CapEff:").and_then(|c| u64::from_str_radix(c, 16).ok()) else {
        return format!("{need}; this process runs as euid {uid}");
    };
    let missing: Vec<&str> = [
        (CAP_BPF, "CAP_BPF"),
        (CAP_PERFMON, "CAP_PERFMON"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ]
    .into_iter()
    .filter(|(bit, _)| caps & (1 << bit) == 0)
    .map(|(_, name)| name)
    .collect();
    if missing.is_empty() {
        format!(
            "{need}; this process runs as euid {uid} with all of these, so the refusal is not about them: the \
             kernel's lockdown, a security module, or a program this kernel does not let anyone load (a tracing \
             program on a kernel without BPF trampolines)"
        )
    } else {
        format!("{need}; this process runs as euid {uid} without {}", missing.join(", "))
    }
}
