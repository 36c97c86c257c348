//! A bpf filesystem mounted by bpfx on a fresh directory for one test
//! (so pins never touch the host's /sys/fs/bpf), unmounted when dropped.

use std::path::PathBuf;
use std::process::Command;

use bpfx_loader::kernel::{is_bpffs, mount_bpffs};

pub struct Bpffs(pub PathBuf);

impl Bpffs {
    /// Mounts one for `test`; `mount_bpffs` is checked on the way (it
    /// mounts where there is none, and not twice).
    pub fn mount(test: &str) -> Bpffs {
        let dir = std::env::temp_dir().join(format!("bpfx-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!is_bpffs(&dir).unwrap());
        assert!(mount_bpffs(&dir).unwrap(), "mounted");
        assert!(is_bpffs(&dir).unwrap());
        assert!(!mount_bpffs(&dir).unwrap(), "a second mount on a bpffs");
        Bpffs(dir)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
