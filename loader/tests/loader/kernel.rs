//! bpfx's linked programs in the running kernel (through this crate's
//! `kernel` module): the kernel's verifier accepts every program of every
//! test object with its func and line info against the object's BTF as
//! bpfx fixed it up, and a test run gives what the interpreter gives.

use bpfx_isa::{CallTarget, Insn};
use bpfx_loader::btf::TypeId;
use bpfx_loader::kernel::{Bpf, BtfLoadOptions, KernelError, ProgLoadOptions, TestRun, UpdateFlags};
use bpfx_loader::{ExternKind, LoadOptions, Object, POISON_HELPER};

use crate::libbpf::Libbpf;
use crate::{Interp, load, progs, read, root};

#[test]
fn the_kernel_accepts_every_program_as_bpfx_links_it_but_those_meant_to_be_rejected() {
    let bpf = Bpf::new();
    let mut loaded = 0;
    for path in progs::objects(&root()) {
        let object = Object::load(&read(&path), &LoadOptions::default()).unwrap();
        let btf = object.btf().map(|b| {
            bpf.load_btf(&b.to_bytes(), &BtfLoadOptions::default())
                .unwrap_or_else(|e| panic!("{}: the kernel refuses the BTF: {e}", path.display()))
        });
        let rejected = progs::expects_rejection(&root(), &path);
        for program in object.programs() {
            let options = ProgLoadOptions { btf: btf.as_ref(), ..ProgLoadOptions::default() };
            match bpf.load(program, &options) {
                Ok(_) if rejected => {
                    panic!("{} {}: loaded, but its source expects a rejection", path.display(), program.name)
                }
                Ok(_) => loaded += 1,
                Err(KernelError::Rejected(_)) if rejected => {}
                Err(e) => panic!("{} {}: {e}", path.display(), program.name),
            }
        }
    }
    eprintln!("{loaded} programs loaded");
}

/// Programs that read no context return in the kernel what they return on
/// the interpreter, and leave their maps alike.
#[test]
fn test_runs_in_the_kernel_equal_the_interpreters() {
    let bpf = Bpf::new();
    let cases = [
        ("calls", "xdp_calls"),
        ("calls", "xdp_callbacks"),
        ("globals", "xdp_globals"),
        ("kconfig", "xdp_kconfig"),
        ("core", "xdp_core"),
        ("btf_maps", "xdp_maps_all"),
        ("legacy_maps", "legacy"),
    ];
    for (name, prog) in cases {
        let object = load(name);
        let program = object.program(prog).unwrap();
        assert!(!program.insns.contains(&Insn::Call(CallTarget::Helper(POISON_HELPER))));
        let btf = bpf.load_btf(&object.btf().unwrap().to_bytes(), &BtfLoadOptions::default()).unwrap();
        let (kernel, maps) =
            bpf.load(program, &ProgLoadOptions { btf: Some(&btf), ..ProgLoadOptions::default() }).unwrap();
        let mut interp = Interp::default();
        interp.load(program);
        if let Some(data) = maps.iter().find(|m| m.spec().name == ".data") {
            let value = interp.lookup(".data", &[0; 4]);
            data.update(&[0; 4], &value, UpdateFlags::ANY).unwrap();
        }
        for _ in 0..2 {
            let ours = interp.run(prog);
            let theirs = kernel.test_run(&TestRun::packet(&[0; 64])).unwrap().retval;
            assert_eq!(ours, u64::from(theirs), "{name} {prog}");
        }
        for map in maps.iter().filter(|m| m.spec().name.starts_with('.')) {
            let theirs = map.lookup(&[0; 4]).unwrap().unwrap();
            assert_eq!(interp.lookup(&map.spec().name, &[0; 4]), theirs, "{name} {prog} {}", map.spec().name);
        }
    }
}

/// kfuncs are found by name in the kernel's BTF and called by id; a weak
/// one no kernel has is a null address. The kernel runs bpfx's link as it
/// runs libbpf's.
#[test]
fn kfuncs_are_called_by_their_id_in_the_kernels_btf() {
    let object = load("ksyms");
    let program = object.program("xdp_ksyms").unwrap();
    let vmlinux = bpfx_loader::btf::Btf::parse(&read(bpfx_loader::VMLINUX_BTF.as_ref())).unwrap();
    let kfuncs: Vec<&str> = program
        .insns
        .iter()
        .filter_map(|i| match i {
            Insn::Call(CallTarget::Kfunc { btf_id, module: 0 }) => Some(vmlinux.name(TypeId(*btf_id))),
            _ => None,
        })
        .collect();
    assert_eq!(kfuncs, ["bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_next", "bpf_iter_num_destroy"]);
    let missing = object.externs().iter().find(|e| e.name == "bpfx_no_such_kfunc").unwrap();
    assert!(missing.weak && matches!(missing.kind, ExternKind::Ksym { function: true, target_id: None, .. }));

    let bpf = Bpf::new();
    let btf = bpf.load_btf(&object.btf().unwrap().to_bytes(), &BtfLoadOptions::default()).unwrap();
    let (kernel, maps) = bpf.load(program, &ProgLoadOptions { btf: Some(&btf), ..ProgLoadOptions::default() }).unwrap();
    assert_eq!(kernel.test_run(&TestRun::packet(&[0; 64])).unwrap().retval, 2);
    let value = |name: &str| maps.iter().find(|m| m.spec().name == name).unwrap().lookup(&[0; 4]).unwrap().unwrap();
    let libbpf = Libbpf::load(&crate::object_path("ksyms"));
    assert_eq!(libbpf.run("xdp_ksyms"), 2);
    assert_eq!(value(".bss"), 45u64.to_le_bytes(), "0 + 1 + ... + 9");
    assert_eq!(value(".bss"), libbpf.lookup("ksyms_bss", &[0; 4]));
    assert_eq!(value(".data"), libbpf.lookup("ksyms_data", &[0; 4]), "input and has_missing (0)");
}
