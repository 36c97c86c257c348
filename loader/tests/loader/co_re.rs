//! CO-RE relocation of `tests/progs/core.c` against the running kernel:
//! the relocated program reads a packet through local views of kernel
//! structs on the interpreter, and its results are compared with the
//! packet, with the kernel's BTF, and with libbpf's relocation of the same
//! object run in the kernel.

use bpfx_isa::{CallTarget, Insn};
use bpfx_loader::btf::{Btf, Kind};
use bpfx_loader::{LoadOptions, Object, POISON_HELPER, TargetBtf, VMLINUX_BTF};

use crate::libbpf::Libbpf;
use crate::{Interp, load, object_path, read, tcp_syn, u64s};

/// The results `xdp_core` leaves in `.bss` after a run.
fn bpfx_results() -> Vec<u64> {
    let object = load("core");
    let data = object.maps().iter().find(|m| m.name == ".data").expect("a .data map");
    assert_eq!(data.initial_data.as_deref(), Some(&tcp_syn()[..]), "the packet");
    let mut interp = Interp::default();
    interp.load(object.program("xdp_core").expect("xdp_core"));
    assert_eq!(interp.run("xdp_core"), 2, "XDP_PASS");
    u64s(&interp.lookup(".bss", &0u32.to_le_bytes()))
}

#[test]
fn relocated_reads_see_the_packet_as_the_kernel_lays_out_its_headers() {
    let r = bpfx_results();
    let packet = tcp_syn();
    let le16 = |at: usize| u64::from(u16::from_le_bytes([packet[at], packet[at + 1]]));
    assert_eq!(r[0], le16(12), "ethhdr.h_proto");
    assert_eq!(r[1], 64, "iphdr.ttl");
    assert_eq!(r[2], 6, "iphdr.protocol");
    assert_eq!(r[3], u64::from(u32::from_le_bytes([10, 0, 0, 1])), "iphdr.saddr, inside anonymous members");
    assert_eq!((r[4], r[5]), (4, 5), "iphdr.version and ihl bitfields");
    assert_eq!((r[6], r[7]), (1, 5), "tcphdr.syn and doff bitfields");
    assert_eq!(r[22], le16(16), "iphdr.tot_len");
    assert_eq!((r[8], r[9]), (0, 1), "field existence");
    assert_eq!((r[10], r[11]), (1, 0), "type existence");
    assert_eq!(r[15], 0, "a missing enumerator");
    assert_eq!(r[17], 4, "size of saddr");
    assert_eq!(r[20], 3, "offset of h_dest[3]");
    assert_eq!(r[21], 0, "doff is unsigned");
    assert_eq!((r[18], r[19]), (0, 1), "type matches: iphdr___bpfx has a member too many, in_addr___same none");
}

#[test]
fn type_sizes_ids_offsets_and_enum_values_are_the_kernels() {
    let r = bpfx_results();
    let vmlinux = Btf::parse(&read(VMLINUX_BTF.as_ref())).expect("the kernel's BTF parses");
    let task = vmlinux.find_by_name_kind("task_struct", 4).expect("task_struct");
    let pid = vmlinux.kind(task).members().iter().find(|m| vmlinux.str_at(m.name_off) == Some("pid")).unwrap();
    assert_eq!(r[13], u64::from(pid.bit_offset / 8), "offsetof(struct task_struct, pid)");
    assert_eq!(r[16], u64::from(task.0), "task_struct's id in the kernel's BTF");
    let iphdr = vmlinux.find_by_name_kind("iphdr", 4).expect("iphdr");
    assert_eq!(r[12], vmlinux.resolve_size(iphdr).unwrap(), "sizeof(struct iphdr)");
    let ringbuf = vmlinux
        .types()
        .flat_map(|(_, t)| t.kind.enumerators().to_vec())
        .find(|v| vmlinux.str_at(v.name_off) == Some("BPF_MAP_TYPE_RINGBUF"))
        .expect("BPF_MAP_TYPE_RINGBUF");
    assert_eq!(r[14], ringbuf.value, "BPF_MAP_TYPE_RINGBUF");
    assert!(matches!(vmlinux.kind(task), Kind::Struct(_)));
}

/// libbpf relocates the same object; the kernel runs it on the same packet.
#[test]
fn results_equal_libbpfs_relocation_run_by_the_kernel() {
    let ours = bpfx_results();
    let libbpf = Libbpf::load(&object_path("core"));
    assert_eq!(libbpf.run("xdp_core"), 2);
    let theirs = u64s(&libbpf.lookup("core_bss", &0u32.to_le_bytes()));
    assert_eq!(ours, theirs);
}

/// A read of a field the kernel lacks becomes libbpf's poisoned call; its
/// guard makes it dead, so the kernel accepts the program.
#[test]
fn a_missing_field_poisons_its_read() {
    let object = load("core");
    let guarded = object.program("xdp_core_guarded").unwrap();
    let poisoned = guarded.insns.iter().filter(|i| **i == Insn::Call(CallTarget::Helper(POISON_HELPER))).count();
    assert_eq!(poisoned, 1);
    let summary = object.core_summary();
    assert_eq!(summary.poisoned, 1);
    assert_eq!(summary.applied, summary.relocations);
    let libbpf = Libbpf::load(&object_path("core"));
    assert_eq!(libbpf.run("xdp_core_guarded"), 64, "the ttl");
}

/// Loaded as compiled, the instructions keep clang's local offsets.
#[test]
fn as_compiled_keeps_the_local_layout() {
    let bytes = read(&object_path("core"));
    let compiled = Object::load(&bytes, &LoadOptions::as_compiled()).unwrap();
    let relocated =
        Object::load(&bytes, &LoadOptions { target: TargetBtf::File(VMLINUX_BTF.into()), ..LoadOptions::default() })
            .unwrap();
    let (a, b) = (compiled.program("xdp_core").unwrap(), relocated.program("xdp_core").unwrap());
    assert_eq!(a.insns.len(), b.insns.len());
    assert!(a.insns != b.insns, "relocation changes instructions");
    assert_eq!(compiled.core_summary().applied, 0);
    let section = compiled.sections().iter().find(|s| s.name() == "xdp").unwrap();
    // Only the lddw of global data differs from the section as compiled.
    for (ours, raw) in a.insns.iter().zip(section.insns()) {
        assert!(ours == raw || matches!((ours, raw), (Insn::LdImm64 { .. }, Insn::LdImm64 { .. })), "{ours:?} {raw:?}");
    }
}
