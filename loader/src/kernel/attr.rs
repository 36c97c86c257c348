//! The kernel's `union bpf_attr` (and the `bpf_*_info` structs), one
//! `#[repr(C)]` struct per command group, each a prefix of the kernel's
//! layout from Linux 6.12's `include/uapi/linux/bpf.h`.
//!
//! A prefix is enough: the kernel copies the `size` bytes it is given and
//! treats the rest as zero, and refuses (E2BIG) only non-zero bytes beyond
//! what it knows. Padding is spelled out as fields, so every byte of a
//! struct is an initialised integer and the whole struct can be handed to
//! the kernel as bytes and written back by it.

/// A struct the kernel reads and writes as raw bytes.
///
/// # Safety
///
/// The type must be `#[repr(C)]`, without implicit padding, and made only
/// of integers and arrays of integers, so that every byte is initialised
/// and every bit pattern is a valid value.
pub(crate) unsafe trait Attr: Sized {
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: by the trait's contract every byte of `Self` is an
        // initialised integer byte and any bytes written are a valid
        // `Self`; the slice borrows `self` mutably for its lifetime.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast::<u8>(), size_of::<Self>()) }
    }
}

/// Declares a kernel struct; checks at compile time that its fields
/// leave no implicit padding.
macro_rules! kernel_struct {
    ($(#[$meta:meta])* pub(crate) struct $name:ident { $($(#[$fmeta:meta])* pub(crate) $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, Default)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub(crate) $field: $ty,)*
        }

        const _: () = assert!(size_of::<$name>() == 0 $(+ size_of::<$ty>())*, "implicit padding");

        // SAFETY: `#[repr(C)]`, no implicit padding (asserted above), and
        // every field is an integer or an array of integers.
        unsafe impl Attr for $name {}
    };
}

/// `BPF_OBJ_NAME_LEN`: object names are 15 characters and a NUL. The
/// structs below spell it `16`: rustc 1.95 fails with an internal error
/// ("broken MIR") on the named constant in a field type copied with
/// `..base` inside a closure.
pub(crate) const OBJ_NAME_LEN: usize = 16;

kernel_struct! {
    /// `BPF_MAP_CREATE`.
    pub(crate) struct MapCreateAttr {
        pub(crate) map_type: u32,
        pub(crate) key_size: u32,
        pub(crate) value_size: u32,
        pub(crate) max_entries: u32,
        pub(crate) map_flags: u32,
        pub(crate) inner_map_fd: u32,
        pub(crate) numa_node: u32,
        pub(crate) map_name: [u8; 16],
        pub(crate) map_ifindex: u32,
        pub(crate) btf_fd: u32,
        pub(crate) btf_key_type_id: u32,
        pub(crate) btf_value_type_id: u32,
        pub(crate) btf_vmlinux_value_type_id: u32,
        pub(crate) map_extra: u64,
        pub(crate) value_type_btf_obj_fd: i32,
        pub(crate) map_token_fd: i32,
    }
}

kernel_struct! {
    /// `BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM`, `BPF_MAP_GET_NEXT_KEY` (whose
    /// `next_key` is `value`) and `BPF_MAP_FREEZE` (`map_fd` alone).
    pub(crate) struct MapElemAttr {
        pub(crate) map_fd: u32,
        pub(crate) _pad0: u32,
        pub(crate) key: u64,
        pub(crate) value: u64,
        pub(crate) flags: u64,
    }
}

kernel_struct! {
    /// `BPF_PROG_LOAD`.
    pub(crate) struct ProgLoadAttr {
        pub(crate) prog_type: u32,
        pub(crate) insn_cnt: u32,
        pub(crate) insns: u64,
        pub(crate) license: u64,
        pub(crate) log_level: u32,
        pub(crate) log_size: u32,
        pub(crate) log_buf: u64,
        pub(crate) kern_version: u32,
        pub(crate) prog_flags: u32,
        pub(crate) prog_name: [u8; 16],
        pub(crate) prog_ifindex: u32,
        pub(crate) expected_attach_type: u32,
        pub(crate) prog_btf_fd: u32,
        pub(crate) func_info_rec_size: u32,
        pub(crate) func_info: u64,
        pub(crate) func_info_cnt: u32,
        pub(crate) line_info_rec_size: u32,
        pub(crate) line_info: u64,
        pub(crate) line_info_cnt: u32,
        pub(crate) attach_btf_id: u32,
        /// `attach_prog_fd` / `attach_btf_obj_fd`.
        pub(crate) attach_prog_fd: u32,
        pub(crate) core_relo_cnt: u32,
        pub(crate) fd_array: u64,
        pub(crate) core_relos: u64,
        pub(crate) core_relo_rec_size: u32,
        /// Output: the whole log's size, NUL included.
        pub(crate) log_true_size: u32,
        pub(crate) prog_token_fd: i32,
        pub(crate) _pad0: u32,
    }
}

kernel_struct! {
    /// `BPF_OBJ_PIN`, `BPF_OBJ_GET`.
    pub(crate) struct ObjAttr {
        pub(crate) pathname: u64,
        pub(crate) bpf_fd: u32,
        pub(crate) file_flags: u32,
        pub(crate) path_fd: i32,
        pub(crate) _pad0: u32,
    }
}

kernel_struct! {
    /// `BPF_PROG_TEST_RUN` (the union's `test` member).
    pub(crate) struct TestRunAttr {
        pub(crate) prog_fd: u32,
        pub(crate) retval: u32,
        pub(crate) data_size_in: u32,
        pub(crate) data_size_out: u32,
        pub(crate) data_in: u64,
        pub(crate) data_out: u64,
        pub(crate) repeat: u32,
        pub(crate) duration: u32,
        pub(crate) ctx_size_in: u32,
        pub(crate) ctx_size_out: u32,
        pub(crate) ctx_in: u64,
        pub(crate) ctx_out: u64,
        pub(crate) flags: u32,
        pub(crate) cpu: u32,
        pub(crate) batch_size: u32,
        pub(crate) _pad0: u32,
    }
}

kernel_struct! {
    /// `BPF_{PROG,MAP,BTF}_GET_NEXT_ID`.
    pub(crate) struct GetIdAttr {
        pub(crate) start_id: u32,
        pub(crate) next_id: u32,
        pub(crate) open_flags: u32,
    }
}

kernel_struct! {
    /// `BPF_OBJ_GET_INFO_BY_FD` (the union's `info` member).
    pub(crate) struct InfoAttr {
        pub(crate) bpf_fd: u32,
        pub(crate) info_len: u32,
        pub(crate) info: u64,
    }
}

kernel_struct! {
    /// `BPF_BTF_LOAD`.
    pub(crate) struct BtfLoadAttr {
        pub(crate) btf: u64,
        pub(crate) btf_log_buf: u64,
        pub(crate) btf_size: u32,
        pub(crate) btf_log_size: u32,
        pub(crate) btf_log_level: u32,
        /// Output: the whole log's size, NUL included.
        pub(crate) btf_log_true_size: u32,
        pub(crate) btf_flags: u32,
        pub(crate) btf_token_fd: i32,
    }
}

kernel_struct! {
    /// The head of `struct bpf_prog_info`, through `name`.
    pub(crate) struct ProgInfoRaw {
        pub(crate) prog_type: u32,
        pub(crate) id: u32,
        pub(crate) tag: [u8; 8],
        pub(crate) jited_prog_len: u32,
        pub(crate) xlated_prog_len: u32,
        pub(crate) jited_prog_insns: u64,
        pub(crate) xlated_prog_insns: u64,
        pub(crate) load_time: u64,
        pub(crate) created_by_uid: u32,
        pub(crate) nr_map_ids: u32,
        pub(crate) map_ids: u64,
        pub(crate) name: [u8; 16],
    }
}

kernel_struct! {
    /// `struct bpf_map_info`, through `map_extra`.
    pub(crate) struct MapInfoRaw {
        pub(crate) map_type: u32,
        pub(crate) id: u32,
        pub(crate) key_size: u32,
        pub(crate) value_size: u32,
        pub(crate) max_entries: u32,
        pub(crate) map_flags: u32,
        pub(crate) name: [u8; 16],
        pub(crate) ifindex: u32,
        pub(crate) btf_vmlinux_value_type_id: u32,
        pub(crate) netns_dev: u64,
        pub(crate) netns_ino: u64,
        pub(crate) btf_id: u32,
        pub(crate) btf_key_type_id: u32,
        pub(crate) btf_value_type_id: u32,
        pub(crate) btf_vmlinux_id: u32,
        pub(crate) map_extra: u64,
    }
}

kernel_struct! {
    /// `BPF_MAP_LOOKUP_BATCH` (the union's `batch` member).
    pub(crate) struct MapBatchAttr {
        pub(crate) in_batch: u64,
        pub(crate) out_batch: u64,
        pub(crate) keys: u64,
        pub(crate) values: u64,
        pub(crate) count: u32,
        pub(crate) map_fd: u32,
        pub(crate) elem_flags: u64,
        pub(crate) flags: u64,
    }
}

kernel_struct! {
    /// The head of `struct bpf_btf_info`, through `id`.
    pub(crate) struct BtfInfoRaw {
        pub(crate) btf: u64,
        pub(crate) btf_size: u32,
        pub(crate) id: u32,
    }
}

kernel_struct! {
    /// `struct bpf_func_info`: the BTF `FUNC` a subprogram starts with.
    pub(crate) struct FuncInfoRaw {
        pub(crate) insn_off: u32,
        pub(crate) type_id: u32,
    }
}

kernel_struct! {
    /// `struct bpf_line_info`: the source line an instruction comes from.
    pub(crate) struct LineInfoRaw {
        pub(crate) insn_off: u32,
        pub(crate) file_name_off: u32,
        pub(crate) line_off: u32,
        pub(crate) line_col: u32,
    }
}

/// A pointer as the kernel's `__aligned_u64` fields carry it; empty slices
/// are NULL, so the kernel never reads through a dangling pointer.
pub(crate) fn ptr<T>(s: &[T]) -> u64 {
    if s.is_empty() { 0 } else { s.as_ptr() as u64 }
}

/// A mutable buffer as a pointer field; empty is NULL.
pub(crate) fn ptr_mut<T>(s: &mut [T]) -> u64 {
    if s.is_empty() { 0 } else { s.as_mut_ptr() as u64 }
}

#[cfg(test)]
pub(super) mod tests {
    //! Every field offset, struct size and constant checked against the C
    //! compiler's view of the kernel's own header, when the kernel source
    //! is on the machine.

    use super::*;
    use std::mem::offset_of;
    use std::path::Path;
    use std::process::Command;

    const HEADER: &str = "/usr/src/linux-source-6.12/include/uapi/linux/bpf.h";

    /// `(C expression, Rust value)` pairs.
    fn layout() -> Vec<(String, usize)> {
        macro_rules! fields {
            ($c:literal, $rust:ty, [$($cf:literal => $rf:ident),* $(,)?]) => {
                vec![$((concat!("offsetof(", $c, ", ", $cf, ")").to_owned(), offset_of!($rust, $rf)),)*]
            };
        }
        let mut checks = Vec::new();
        checks.extend(fields!("union bpf_attr", MapCreateAttr, [
            "map_type" => map_type, "key_size" => key_size, "value_size" => value_size,
            "max_entries" => max_entries, "map_flags" => map_flags, "inner_map_fd" => inner_map_fd,
            "numa_node" => numa_node, "map_name" => map_name, "map_ifindex" => map_ifindex,
            "btf_fd" => btf_fd, "btf_key_type_id" => btf_key_type_id, "btf_value_type_id" => btf_value_type_id,
            "btf_vmlinux_value_type_id" => btf_vmlinux_value_type_id, "map_extra" => map_extra,
            "value_type_btf_obj_fd" => value_type_btf_obj_fd, "map_token_fd" => map_token_fd,
        ]));
        checks.extend(fields!("union bpf_attr", MapElemAttr, [
            "map_fd" => map_fd, "key" => key, "value" => value, "next_key" => value, "flags" => flags,
        ]));
        checks.extend(fields!("union bpf_attr", ProgLoadAttr, [
            "prog_type" => prog_type, "insn_cnt" => insn_cnt, "insns" => insns, "license" => license,
            "log_level" => log_level, "log_size" => log_size, "log_buf" => log_buf,
            "kern_version" => kern_version, "prog_flags" => prog_flags, "prog_name" => prog_name,
            "prog_ifindex" => prog_ifindex, "expected_attach_type" => expected_attach_type,
            "prog_btf_fd" => prog_btf_fd, "func_info_rec_size" => func_info_rec_size, "func_info" => func_info,
            "func_info_cnt" => func_info_cnt, "line_info_rec_size" => line_info_rec_size,
            "line_info" => line_info, "line_info_cnt" => line_info_cnt, "attach_btf_id" => attach_btf_id,
            "attach_prog_fd" => attach_prog_fd, "attach_btf_obj_fd" => attach_prog_fd,
            "core_relo_cnt" => core_relo_cnt, "fd_array" => fd_array, "core_relos" => core_relos,
            "core_relo_rec_size" => core_relo_rec_size, "log_true_size" => log_true_size,
            "prog_token_fd" => prog_token_fd,
        ]));
        checks.extend(fields!("union bpf_attr", ObjAttr, [
            "pathname" => pathname, "bpf_fd" => bpf_fd, "file_flags" => file_flags, "path_fd" => path_fd,
        ]));
        checks.extend(fields!("union bpf_attr", TestRunAttr, [
            "test.prog_fd" => prog_fd, "test.retval" => retval, "test.data_size_in" => data_size_in,
            "test.data_size_out" => data_size_out, "test.data_in" => data_in, "test.data_out" => data_out,
            "test.repeat" => repeat, "test.duration" => duration, "test.ctx_size_in" => ctx_size_in,
            "test.ctx_size_out" => ctx_size_out, "test.ctx_in" => ctx_in, "test.ctx_out" => ctx_out,
            "test.flags" => flags, "test.cpu" => cpu, "test.batch_size" => batch_size,
        ]));
        checks.extend(fields!("union bpf_attr", GetIdAttr, [
            "start_id" => start_id, "prog_id" => start_id, "map_id" => start_id, "btf_id" => start_id,
            "next_id" => next_id, "open_flags" => open_flags,
        ]));
        checks.extend(fields!("union bpf_attr", InfoAttr, [
            "info.bpf_fd" => bpf_fd, "info.info_len" => info_len, "info.info" => info,
        ]));
        checks.extend(fields!("union bpf_attr", BtfLoadAttr, [
            "btf" => btf, "btf_log_buf" => btf_log_buf, "btf_size" => btf_size, "btf_log_size" => btf_log_size,
            "btf_log_level" => btf_log_level, "btf_log_true_size" => btf_log_true_size,
            "btf_flags" => btf_flags, "btf_token_fd" => btf_token_fd,
        ]));
        checks.extend(fields!("struct bpf_prog_info", ProgInfoRaw, [
            "type" => prog_type, "id" => id, "tag" => tag, "jited_prog_len" => jited_prog_len,
            "xlated_prog_len" => xlated_prog_len, "jited_prog_insns" => jited_prog_insns,
            "xlated_prog_insns" => xlated_prog_insns, "load_time" => load_time,
            "created_by_uid" => created_by_uid, "nr_map_ids" => nr_map_ids, "map_ids" => map_ids,
            "name" => name,
        ]));
        checks.extend(fields!("struct bpf_map_info", MapInfoRaw, [
            "type" => map_type, "id" => id, "key_size" => key_size, "value_size" => value_size,
            "max_entries" => max_entries, "map_flags" => map_flags, "name" => name, "ifindex" => ifindex,
            "btf_vmlinux_value_type_id" => btf_vmlinux_value_type_id, "netns_dev" => netns_dev,
            "netns_ino" => netns_ino, "btf_id" => btf_id, "btf_key_type_id" => btf_key_type_id,
            "btf_value_type_id" => btf_value_type_id, "btf_vmlinux_id" => btf_vmlinux_id, "map_extra" => map_extra,
        ]));
        checks.extend(fields!("union bpf_attr", MapBatchAttr, [
            "batch.in_batch" => in_batch, "batch.out_batch" => out_batch, "batch.keys" => keys,
            "batch.values" => values, "batch.count" => count, "batch.map_fd" => map_fd,
            "batch.elem_flags" => elem_flags, "batch.flags" => flags,
        ]));
        checks.extend(fields!("struct bpf_btf_info", BtfInfoRaw, ["btf" => btf, "btf_size" => btf_size, "id" => id]));
        checks.extend(fields!("struct bpf_func_info", FuncInfoRaw, ["insn_off" => insn_off, "type_id" => type_id]));
        checks.extend(fields!("struct bpf_line_info", LineInfoRaw, [
            "insn_off" => insn_off, "file_name_off" => file_name_off, "line_off" => line_off,
            "line_col" => line_col,
        ]));
        // Each struct ends where the kernel's last field it covers ends
        // (rounded up to the union's 8-byte alignment), so no field is cut.
        let ends: [(&str, usize); 14] = [
            ("ALIGN8(offsetof(union bpf_attr, map_token_fd) + 4)", size_of::<MapCreateAttr>()),
            ("ALIGN8(offsetof(union bpf_attr, flags) + 8)", size_of::<MapElemAttr>()),
            ("ALIGN8(offsetof(union bpf_attr, prog_token_fd) + 4)", size_of::<ProgLoadAttr>()),
            ("ALIGN8(offsetof(union bpf_attr, path_fd) + 4)", size_of::<ObjAttr>()),
            ("ALIGN8(offsetof(union bpf_attr, test.batch_size) + 4)", size_of::<TestRunAttr>()),
            ("offsetof(union bpf_attr, open_flags) + 4", size_of::<GetIdAttr>()),
            ("sizeof(((union bpf_attr *)0)->info)", size_of::<InfoAttr>()),
            ("offsetof(union bpf_attr, btf_token_fd) + 4", size_of::<BtfLoadAttr>()),
            ("offsetof(struct bpf_prog_info, name) + 16", size_of::<ProgInfoRaw>()),
            ("offsetof(struct bpf_map_info, map_extra) + 8", size_of::<MapInfoRaw>()),
            ("sizeof(((union bpf_attr *)0)->batch)", size_of::<MapBatchAttr>()),
            ("offsetof(struct bpf_btf_info, id) + 4", size_of::<BtfInfoRaw>()),
            ("sizeof(struct bpf_func_info)", size_of::<FuncInfoRaw>()),
            ("sizeof(struct bpf_line_info)", size_of::<LineInfoRaw>()),
        ];
        checks.extend(ends.map(|(c, rust)| (c.to_owned(), rust)));
        use crate::kernel::{Cmd, LogLevel};
        use bpfx_isa::abi::{AttachType, MapType, ProgType};
        let cmds = [
            ("BPF_MAP_CREATE", Cmd::MapCreate),
            ("BPF_MAP_LOOKUP_ELEM", Cmd::MapLookupElem),
            ("BPF_MAP_UPDATE_ELEM", Cmd::MapUpdateElem),
            ("BPF_MAP_DELETE_ELEM", Cmd::MapDeleteElem),
            ("BPF_MAP_GET_NEXT_KEY", Cmd::MapGetNextKey),
            ("BPF_PROG_LOAD", Cmd::ProgLoad),
            ("BPF_OBJ_PIN", Cmd::ObjPin),
            ("BPF_OBJ_GET", Cmd::ObjGet),
            ("BPF_PROG_TEST_RUN", Cmd::ProgTestRun),
            ("BPF_PROG_GET_NEXT_ID", Cmd::ProgGetNextId),
            ("BPF_MAP_GET_NEXT_ID", Cmd::MapGetNextId),
            ("BPF_PROG_GET_FD_BY_ID", Cmd::ProgGetFdById),
            ("BPF_MAP_GET_FD_BY_ID", Cmd::MapGetFdById),
            ("BPF_OBJ_GET_INFO_BY_FD", Cmd::ObjGetInfoByFd),
            ("BPF_BTF_LOAD", Cmd::BtfLoad),
            ("BPF_BTF_GET_FD_BY_ID", Cmd::BtfGetFdById),
            ("BPF_MAP_FREEZE", Cmd::MapFreeze),
            ("BPF_BTF_GET_NEXT_ID", Cmd::BtfGetNextId),
            ("BPF_MAP_LOOKUP_BATCH", Cmd::MapLookupBatch),
        ];
        for (c, cmd) in cmds {
            assert_eq!(c, cmd.name());
            checks.push((c.to_owned(), cmd.value() as usize));
        }
        // The isa tables this module passes to the kernel by number.
        let upper = |prefix: &str, name: &str| format!("{prefix}{}", name.to_uppercase());
        checks.extend(ProgType::ALL.iter().map(|t| (upper("BPF_PROG_TYPE_", t.name()), t.value() as usize)));
        checks.extend(MapType::ALL.iter().map(|t| (upper("BPF_MAP_TYPE_", t.name()), t.value() as usize)));
        checks.extend(AttachType::ALL.iter().map(|t| (upper("BPF_", t.name()), t.value() as usize)));
        checks.extend([
            ("BPF_OBJ_NAME_LEN".to_owned(), OBJ_NAME_LEN),
            // `BPF_LOG_*` live in the kernel-internal bpf_verifier.h; the
            // uapi documents the stats bit as 4 next to `log_level`.
            ("1 | 4".to_owned(), LogLevel::Level1.bits() as usize),
            ("2 | 4".to_owned(), LogLevel::Level2.bits() as usize),
        ]);
        checks
    }

    #[test]
    fn layouts_match_the_kernel_header() {
        let checks = layout();
        if !Path::new(HEADER).exists() {
            eprintln!("layouts_match_the_kernel_header: skipped, {HEADER} is absent ({} checks not run)", checks.len());
            return;
        }
        let preamble = format!("#include \"{HEADER}\"\n#define ALIGN8(x) (((x) + 7) / 8 * 8)\n");
        compare_with_c("attr-layout", &preamble, &checks);
    }

    /// Compiles a C program that includes `preamble` and prints each check's
    /// expression, and asserts each value is the one bpfx uses: the way the
    /// layout tests read the kernel's headers rather than trust a copy.
    pub(in crate::kernel) fn compare_with_c(name: &str, preamble: &str, checks: &[(String, usize)]) {
        let dir = std::env::temp_dir().join(format!("bpfx-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = format!("#include <stdio.h>\n#include <stddef.h>\n{preamble}int main(void) {{\n");
        for (expr, _) in checks {
            c.push_str(&format!("    printf(\"%zu\\n\", (size_t)({expr}));\n"));
        }
        c.push_str("    return 0;\n}\n");
        let (src, exe) = (dir.join("layout.c"), dir.join("layout"));
        std::fs::write(&src, c).unwrap();
        let cc = ["cc", "clang-19", "gcc"]
            .into_iter()
            .find(|cc| Command::new(cc).arg("--version").output().is_ok_and(|o| o.status.success()))
            .expect("a C compiler (cc, clang-19 or gcc) to read the kernel headers");
        let built = Command::new(cc).arg("-w").arg("-o").arg(&exe).arg(&src).output().unwrap();
        assert!(built.status.success(), "{cc} failed:\n{}", String::from_utf8_lossy(&built.stderr));
        let out = Command::new(&exe).output().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let kernel: Vec<usize> = String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(kernel.len(), checks.len());
        let wrong: Vec<String> = checks
            .iter()
            .zip(&kernel)
            .filter(|((_, rust), c)| rust != *c)
            .map(|((expr, rust), c)| format!("{expr}: kernel {c}, bpfx {rust}"))
            .collect();
        assert!(wrong.is_empty(), "layouts differ from the headers ({name}):\n{}", wrong.join("\n"));
    }

    #[test]
    fn byte_view_covers_the_whole_struct() {
        let mut attr = MapElemAttr { map_fd: 0x11223344, flags: u64::MAX, ..Default::default() };
        let bytes = attr.bytes_mut();
        assert_eq!(bytes.len(), 32);
        assert_eq!(&bytes[..4], &0x11223344u32.to_ne_bytes());
        assert_eq!(&bytes[24..], &[0xff; 8]);
    }
}
