//! The bpf filesystem: finding it, mounting it where it is expected but
//! missing, and making the directories a pin path needs.
//!
//! What it is not: a manager of pins. Pinning itself is `BPF_OBJ_PIN`
//! ([`super::Bpf::pin`]); this module only prepares the path.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::link_attr::BPF_FS_MAGIC;

/// Where bpffs lives by convention, and where bpfx mounts it when it is
/// not there.
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf";

/// What can go wrong preparing a pin path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BpffsError {
    #[error("cannot mount a bpf filesystem on {}: {source}", path.display())]
    Mount { path: PathBuf, source: io::Error },

    #[error("cannot create {} on the bpf filesystem: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("cannot read the filesystem of {}: {source}", path.display())]
    Statfs { path: PathBuf, source: io::Error },
}

/// Whether `path` is on a bpf filesystem (`statfs` magic `BPF_FS_MAGIC`).
pub fn is_bpffs(path: &Path) -> Result<bool, BpffsError> {
    let statfs_err = |source| BpffsError::Statfs { path: path.to_owned(), source };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| statfs_err(io::Error::from_raw_os_error(libc::EINVAL)))?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` has room for the
    // struct statfs(2) fills in.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(statfs_err(io::Error::last_os_error()));
    }
    // SAFETY: statfs succeeded, so it initialised the struct.
    let st = unsafe { st.assume_init() };
    // `f_type`'s width differs between architectures; the magic is 32 bits.
    Ok(st.f_type as u32 == BPF_FS_MAGIC)
}

/// Mounts a bpf filesystem on the directory `dir` unless one is there
/// already; `true` when it mounted one.
pub fn mount_bpffs(dir: &Path) -> Result<bool, BpffsError> {
    if is_bpffs(dir)? {
        return Ok(false);
    }
    let mount_err = |source| BpffsError::Mount { path: dir.to_owned(), source };
    let target =
        CString::new(dir.as_os_str().as_bytes()).map_err(|_| mount_err(io::Error::from_raw_os_error(libc::EINVAL)))?;
    // SAFETY: every argument is a NUL-terminated string that outlives the
    // call; no mount data is passed besides the mode.
    let ret =
        unsafe { libc::mount(c"bpf".as_ptr(), target.as_ptr(), c"bpf".as_ptr(), 0, c"mode=0700".as_ptr().cast()) };
    if ret != 0 {
        return Err(mount_err(io::Error::last_os_error()));
    }
    Ok(true)
}

/// Readies `path` for a pin: under [`DEFAULT_BPFFS`], bpffs is mounted
/// there if it is not; the missing directories of the path are created
/// when the deepest existing one is on bpffs (elsewhere the pin fails, and
/// its error says why, rather than directories appearing on some other
/// filesystem).
pub fn prepare_pin_path(path: &Path) -> Result<(), BpffsError> {
    let default = Path::new(DEFAULT_BPFFS);
    if path.starts_with(default) && default.is_dir() {
        mount_bpffs(default)?;
    }
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    let Some(existing) = parent.ancestors().find(|a| a.is_dir()) else {
        return Ok(());
    };
    if is_bpffs(existing)? {
        std::fs::create_dir_all(parent).map_err(|source| BpffsError::CreateDir { path: parent.to_owned(), source })?;
    }
    Ok(())
}
