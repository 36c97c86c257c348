//! What an LSM program's hook allows it to return, from the hook's name in
//! the program's section (`lsm/file_mprotect`, `lsm.s/...`,
//! `lsm_cgroup/...`).
//!
//! The kernel reads the hook's prototype from its BTF; bpfx knows the
//! hooks by name instead (Linux 6.12's `lsm_hook_defs.h` and the renames
//! up to 6.18). A hook missing from the void list is judged as returning an
//! errno, which is the stricter rule: a program bpfx accepts is one the
//! kernel accepts. What it is not: a check that the hook exists (the
//! kernel's attach check, made at load time against its own BTF).

/// What a hook returns, which bounds what the program may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookReturn {
    /// Nothing: any value is allowed (`bpf_lsm_get_retval_range` has none).
    Void,
    /// A boolean: 0 or 1 (`bool_lsm_hooks`).
    Bool,
    /// 0 or a negative errno: [-4095, 0].
    Errno,
}

/// The hook named by the program's section, if it names one.
pub(crate) fn hook(section: &str) -> Option<&str> {
    ["lsm/", "lsm.s/", "lsm_cgroup/"].iter().find_map(|p| section.strip_prefix(p)).filter(|h| !h.is_empty())
}

/// Hooks BPF programs may not attach to (`bpf_lsm_disabled_hooks`): their
/// return values do not follow the errno convention or they run where a
/// program must not.
pub(crate) fn disabled(hook: &str) -> bool {
    const DISABLED: &[&str] = &[
        "vm_enough_memory",
        "inode_need_killpriv",
        "inode_getsecurity",
        "inode_listsecurity",
        "inode_copy_up_xattr",
        "getselfattr",
        "getprocattr",
        "setprocattr",
        "key_getsecurity",
        "audit_rule_match",
        "xfrm_decode_session",
        "ismaclabel",
    ];
    DISABLED.contains(&hook)
}

pub(crate) fn returns(hook: &str) -> HookReturn {
    const BOOL: &[&str] = &["xfrm_state_pol_flow_match", "audit_rule_known", "inode_xattr_skipcap"];
    // 6.12's void hooks, and 6.13+'s `*_getlsmprop` renames of the
    // `*_getsecid` ones.
    const VOID: &[&str] = &[
        "audit_rule_free",
        "backing_file_free",
        "bdev_free_security",
        "bpf_map_free",
        "bpf_prog_free",
        "bpf_token_free",
        "bprm_committed_creds",
        "bprm_committing_creds",
        "cred_free",
        "cred_getlsmprop",
        "cred_getsecid",
        "cred_transfer",
        "current_getlsmprop_subj",
        "current_getsecid_subj",
        "d_instantiate",
        "file_free_security",
        "file_release",
        "file_set_fowner",
        "inet_conn_established",
        "inet_csk_clone",
        "initramfs_populated",
        "inode_free_security",
        "inode_free_security_rcu",
        "inode_getlsmprop",
        "inode_getsecid",
        "inode_invalidate_secctx",
        "inode_post_create_tmpfile",
        "inode_post_remove_acl",
        "inode_post_removexattr",
        "inode_post_set_acl",
        "inode_post_setattr",
        "inode_post_setxattr",
        "ipc_getlsmprop",
        "ipc_getsecid",
        "key_post_create_or_update",
        "msg_msg_free_security",
        "msg_queue_free_security",
        "path_post_mknod",
        "release_secctx",
        "req_classify_flow",
        "sb_delete",
        "sb_free_mnt_opts",
        "sb_free_security",
        "sctp_sk_clone",
        "secmark_refcount_dec",
        "secmark_refcount_inc",
        "sem_free_security",
        "shm_free_security",
        "sk_clone_security",
        "sk_free_security",
        "sk_getsecid",
        "sock_graft",
        "task_free",
        "task_getlsmprop_obj",
        "task_getsecid_obj",
        "task_to_inode",
        "xfrm_policy_free_security",
        "xfrm_state_free_security",
    ];
    if BOOL.contains(&hook) {
        HookReturn::Bool
    } else if VOID.contains(&hook) {
        HookReturn::Void
    } else {
        HookReturn::Errno
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfx_loader::btf::Kind;

    /// The void list against the running kernel's BTF: every `bpf_lsm_*`
    /// function without a return type must be listed, and every listed hook
    /// the kernel has must return nothing.
    #[test]
    fn void_hooks_match_the_running_kernel() {
        let path = "/sys/kernel/btf/vmlinux";
        let Ok(bytes) = std::fs::read(path) else {
            eprintln!("lsm: skipped, {path} is not readable here");
            return;
        };
        let btf = bpfx_loader::btf::Btf::parse(&bytes).expect("the kernel's BTF parses");
        let mut checked = 0;
        for (id, _) in btf.types() {
            let Kind::Func { proto, .. } = btf.kind(id) else { continue };
            let Some(name) = btf.name(id).strip_prefix("bpf_lsm_") else { continue };
            let Kind::FuncProto(proto) = btf.kind(*proto) else { continue };
            // bpf_lsm_find_cgroup_shim is a kernel function, not a hook.
            if name == "find_cgroup_shim" {
                continue;
            }
            checked += 1;
            let void = proto.ret.0 == 0;
            assert_eq!(
                void,
                returns(name) == HookReturn::Void,
                "hook {name}: the kernel says void={void}, bpfx does not"
            );
        }
        assert!(checked > 100, "only {checked} LSM hooks found in {path}");
    }
}
