//! Whole loads of the C test programs: every object links into consistent
//! programs; subprograms, callbacks, global data and kconfig externs behave
//! on the interpreter as libbpf's load of the same object behaves in the
//! kernel.

use std::collections::BTreeMap;
use std::process::Command;

use bpfx_isa::abi::{AttachType, ProgType};
use bpfx_isa::{CallTarget, Insn, InsnIdx, LdImm64Kind};
use bpfx_loader::{ExternKind, KconfigSource, LoadError, LoadOptions, Object, section_def};

use crate::libbpf::Libbpf;
use crate::{Interp, load, object_path, progs, read, root, u64s};

/// Every program of every test object: its type is its section's, its maps
/// are the object's, its references land on instructions, and its func and
/// line info are ordered and start at 0.
#[test]
fn every_test_object_links_into_consistent_programs() {
    let mut programs = 0;
    for path in progs::objects(&root()) {
        let object =
            Object::load(&read(&path), &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!object.programs().is_empty(), "{}: no programs", path.display());
        for p in object.programs() {
            let context = format!("{} {}", path.display(), p.name);
            let def = section_def(&p.section).unwrap_or_else(|| panic!("{context}: section {} unknown", p.section));
            assert_eq!((p.prog_type, p.expected_attach_type), (def.prog_type, def.expected_attach_type), "{context}");
            assert_eq!(p.license, "GPL", "{context}");
            for m in &p.maps {
                assert_eq!(object.maps().iter().find(|o| o.name == m.name), Some(m), "{context}: map {}", m.name);
            }
            let starts: Vec<InsnIdx> = p.slots().map(|(at, _)| at).collect();
            for (at, insn) in p.slots() {
                if let Some(rel) = insn.branch_offset() {
                    let target = InsnIdx((i64::from(at.0) + insn.slots() as i64 + rel) as u32);
                    assert!(starts.contains(&target), "{context}: {insn:?} at {at} lands off an instruction");
                    if matches!(insn, Insn::Call(CallTarget::Local(_)) | Insn::LdImm64 { kind: LdImm64Kind::Func, .. })
                    {
                        assert!(
                            p.func_info.iter().any(|f| f.at == target),
                            "{context}: {insn:?} at {at} calls no function"
                        );
                    }
                }
                if let Insn::LdImm64 { kind: LdImm64Kind::MapFd | LdImm64Kind::MapValue, imm, .. } = insn {
                    assert!((*imm as u32 as usize) < p.maps.len(), "{context}: {insn:?} at {at}");
                }
            }
            assert_eq!(p.func_info.first().map(|f| f.at), Some(InsnIdx(0)), "{context}");
            assert_eq!(p.func_info[0].name, p.name, "{context}");
            assert!(p.func_info.is_sorted_by_key(|f| f.at) && p.line_info.is_sorted_by_key(|l| l.at), "{context}");
            assert!(p.line_info.iter().all(|l| l.file.ends_with(".c") && l.line > 0), "{context}");
            programs += 1;
        }
    }
    eprintln!("{programs} programs");
}

#[test]
fn several_programs_in_one_section_are_separate_programs() {
    let object = load("calls");
    let names: Vec<(&str, &str, ProgType, Option<AttachType>)> = object
        .programs()
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.prog_type, p.expected_attach_type))
        .collect();
    assert_eq!(
        names,
        [
            ("xdp_calls", "xdp", ProgType::Xdp, Some(AttachType::Xdp)),
            ("xdp_callbacks", "xdp", ProgType::Xdp, Some(AttachType::Xdp))
        ]
    );
}

/// The function names of a program, in the order the kernel lists them
/// (`bpftool prog dump xlated` heads each function with its prototype).
fn kernel_functions(libbpf: &Libbpf, program: &str) -> Vec<String> {
    libbpf
        .xlated(program)
        .lines()
        .filter(|l| l.ends_with("):"))
        .map(|l| l.split('(').next().unwrap().rsplit(' ').next().unwrap().to_string())
        .collect()
}

/// Subprograms are appended depth-first from their first reference, as
/// libbpf does (the kernel's listing of libbpf's load has the same order),
/// and calls and callbacks compute what libbpf's load computes in the
/// kernel.
#[test]
fn subprograms_and_callbacks_link_and_run_as_libbpfs() {
    let object = load("calls");
    let libbpf = Libbpf::load(&object_path("calls"));
    for p in object.programs() {
        let ours: Vec<&str> = p.func_info.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(ours, kernel_functions(&libbpf, &p.name), "{}", p.name);
    }
    let mut interp = Interp::default();
    for p in object.programs() {
        interp.load(p);
    }
    let weights = [3u64, 0, 2, 5];
    for (key, w) in weights.iter().enumerate() {
        interp.update("weights", &(key as u32).to_le_bytes(), &w.to_le_bytes());
        libbpf.update("weights", &(key as u32).to_le_bytes(), &w.to_le_bytes());
    }
    for input in [0u32, 5, 7, 15] {
        interp.update(".data", &0u32.to_le_bytes(), &input.to_le_bytes());
        libbpf.update("calls_data", &0u32.to_le_bytes(), &input.to_le_bytes());
        let calls = interp.run("xdp_calls");
        assert_eq!(calls, 25 + 2 * u64::from(input), "sum_squares(3, 4) + twice({input})");
        let squares: u64 = (0..u64::from(input & 15)).map(|i| i * i).sum();
        let weighted: u64 = weights.iter().enumerate().map(|(k, w)| w * (k as u64 + 1)).sum();
        let callbacks = interp.run("xdp_callbacks");
        assert_eq!(callbacks, squares + weighted + 1000 * (u64::from(input & 15) + 4), "input {input}");
        assert_eq!((calls, callbacks), (u64::from(libbpf.run("xdp_calls")), u64::from(libbpf.run("xdp_callbacks"))));
    }
}

/// Global data sections are maps with their initial contents; after runs,
/// their values are those of libbpf's maps after the same runs.
#[test]
fn global_data_is_mapped_and_updated_as_libbpf_does() {
    let object = load("globals");
    let names: Vec<(&str, u32, u32)> = object.maps().iter().map(|m| (m.name.as_str(), m.value_size, m.flags)).collect();
    let program = object.program("xdp_globals").unwrap();
    let mut interp = Interp::default();
    interp.load(program);
    let libbpf = Libbpf::load(&object_path("globals"));
    for (length, class) in [(50u32, 1), (150, 2), (250, 3), (7, 1)] {
        let key = 0u32.to_le_bytes();
        let data = interp.lookup(".data", &key);
        let at = symbol_offset(&object, ".data", "length");
        let mut value = data.clone();
        value[at..at + 4].copy_from_slice(&length.to_le_bytes());
        interp.update(".data", &key, &value);
        libbpf.update("globals_data", &key, &value);
        assert_eq!(interp.run("xdp_globals"), class, "length {length}");
        assert_eq!(libbpf.run("xdp_globals"), class as u32, "length {length}");
    }
    for (ours, theirs) in [(".data", "globals_data"), (".bss", "globals_bss"), (".data.custom", "_data_custom")] {
        assert_eq!(interp.lookup(ours, &[0; 4]), libbpf.lookup(theirs, &[0; 4]), "{ours}");
    }
    let bss = u64s(&interp.lookup(".bss", &[0; 4]));
    assert_eq!(bss, [4], "hits");
    assert_eq!(interp.lookup(".data.custom", &[0; 4]), 11u32.to_le_bytes(), "custom");
    // In section order; read-only sections are read-only to programs;
    // .rodata.cst8 (the table) holds no variable, so it is not mmapable
    // (libbpf 1.5's rule; bpftool's libbpf 1.1 maps it mmapable).
    assert_eq!(
        names,
        [
            (".rodata", 4, 0x480),
            (".rodata.limits", 8, 0x480),
            (".data", 16, 0x400),
            (".data.custom", 4, 0x400),
            (".rodata.cst8", 8, 0x80),
            (".bss", 8, 0x400)
        ]
    );
    let rodata = object.maps().iter().find(|m| m.name == ".rodata").unwrap();
    assert_eq!(rodata.initial_data.as_deref(), Some(&3u32.to_le_bytes()[..]), "scale");
}

/// The offset of variable `var` in data section `section`, from the
/// object's BTF.
fn symbol_offset(object: &Object, section: &str, var: &str) -> usize {
    let btf = object.btf().unwrap();
    btf.types()
        .find_map(|(id, t)| match &t.kind {
            bpfx_loader::btf::Kind::Datasec(d) if btf.name(id) == section => {
                d.vars.iter().find(|v| btf.name(v.ty) == var).map(|v| v.offset as usize)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {var} in {section}"))
}

/// The running kernel's configuration, by `zcat /proc/config.gz`.
fn kernel_config() -> BTreeMap<String, String> {
    let out = Command::new("zcat").arg("/proc/config.gz").output().expect("zcat runs");
    assert!(out.status.success(), "this kernel exposes no /proc/config.gz");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn kconfig_results(options: &LoadOptions) -> Vec<u64> {
    let object = Object::load(&read(&object_path("kconfig")), options).unwrap();
    let mut interp = Interp::default();
    interp.load(object.program("xdp_kconfig").unwrap());
    assert_eq!(interp.run("xdp_kconfig"), 2);
    u64s(&interp.lookup(".bss", &[0; 4]))
}

#[test]
fn kconfig_externs_take_the_running_kernels_values_as_libbpf_does() {
    let ours = kconfig_results(&LoadOptions::default());
    let config = kernel_config();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let v: Vec<u64> = release.split(|c: char| !c.is_ascii_digit()).take(3).map(|p| p.parse().unwrap()).collect();
    assert_eq!(ours[0], (v[0] << 16) + (v[1] << 8) + v[2].min(255), "LINUX_KERNEL_VERSION of {release}");
    let tristate = |name: &str| match config.get(name).map(String::as_str) {
        Some("y") => 1,
        Some("m") => 2,
        _ => 0,
    };
    assert_eq!(ours[1], tristate("CONFIG_BPF_SYSCALL"));
    assert_eq!(ours[2], tristate("CONFIG_NET_CLS_ACT"));
    assert_eq!(ours[3], config["CONFIG_HZ"].parse::<u64>().unwrap());
    assert_eq!(ours[4], 0, "a weak extern no kernel has");
    let hostname = config["CONFIG_DEFAULT_HOSTNAME"].trim_matches('"');
    let mut expected = [0u8; 8];
    let len = hostname.len().min(7);
    expected[..len].copy_from_slice(&hostname.as_bytes()[..len]);
    assert_eq!(ours[5].to_le_bytes(), expected, "CONFIG_DEFAULT_HOSTNAME");

    let libbpf = Libbpf::load(&object_path("kconfig"));
    assert_eq!(libbpf.run("xdp_kconfig"), 2);
    assert_eq!(ours, u64s(&libbpf.lookup("kconfig_bss", &[0; 4])));
}

#[test]
fn kconfig_values_given_by_the_user_win() {
    let mut options = LoadOptions::default();
    for (k, v) in [("CONFIG_HZ", "1000"), ("CONFIG_BPFX_NO_SUCH_OPTION", "0x10"), ("LINUX_KERNEL_VERSION", "0x50f00")] {
        options.kconfig.insert(k.into(), v.into());
    }
    options.kconfig.insert("CONFIG_DEFAULT_HOSTNAME".into(), "\"a-very-long-name\"".into());
    let r = kconfig_results(&options);
    assert_eq!((r[0], r[3], r[4]), (0x50f00, 1000, 16));
    assert_eq!(&r[5].to_le_bytes(), b"a-very-\0", "truncated to 7 bytes and a NUL");

    let config = root().join("target").join("bpfx-test-kconfig");
    std::fs::write(
        &config,
        "CONFIG_BPF_SYSCALL=y\nCONFIG_NET_CLS_ACT=m\nCONFIG_HZ=100\nCONFIG_DEFAULT_HOSTNAME=\"x\"\n",
    )
    .unwrap();
    let options = LoadOptions { kconfig_source: KconfigSource::File(config.clone()), ..LoadOptions::default() };
    let r = kconfig_results(&options);
    std::fs::remove_file(&config).unwrap();
    assert_eq!((r[1], r[2], r[3], r[5]), (1, 2, 100, u64::from(b'x')));
}

#[test]
fn bad_kconfig_values_are_refused_naming_the_extern() {
    let bytes = read(&object_path("kconfig"));
    let cases = [
        ("CONFIG_BPF_SYSCALL", "m", "implies tristate or char"),
        ("CONFIG_HZ", "y", "implies bool, tristate or char"),
        ("CONFIG_HZ", "0x100000000", "doesn't fit in 4 bytes"),
        ("CONFIG_HZ", "12abc", "isn't a valid integer"),
        ("CONFIG_BPF_SYSCALL", "2", "isn't boolean compatible"),
        ("CONFIG_DEFAULT_HOSTNAME", "5", "implies integer"),
        ("CONFIG_HZ", "\"x\"", "implies char array"),
    ];
    for (name, value, message) in cases {
        let mut options = LoadOptions::default();
        options.kconfig.insert(name.into(), value.into());
        match Object::load(&bytes, &options) {
            Err(e @ LoadError::Extern { .. }) => {
                let text = e.to_string();
                assert!(
                    text.starts_with(&format!("extern {name}: ")) && text.contains(message),
                    "{name}={value}: {text}"
                );
            }
            other => panic!("{name}={value}: {other:?}"),
        }
    }
    let none = LoadOptions { kconfig_source: KconfigSource::None, ..LoadOptions::default() };
    match Object::load(&bytes, &none) {
        Err(e @ LoadError::Extern { .. }) => assert!(e.to_string().contains("strong extern not resolved"), "{e}"),
        other => panic!("{other:?}"),
    }
    let compiled = Object::load(&bytes, &LoadOptions::as_compiled()).unwrap();
    let unset =
        compiled.externs().iter().filter(|e| matches!(&e.kind, ExternKind::Kconfig { value: None, .. })).count();
    assert_eq!(unset, 6, "as compiled, no extern has a value");
}

/// Program types, expected attach types and flags come from section names
/// alone (every program of `sections.c` is also loaded by the kernel, in
/// `kernel`).
#[test]
fn section_names_give_types_attach_types_and_flags() {
    let object = load("sections");
    assert_eq!(object.programs().len(), 35);
    let of = |name: &str| {
        let p = object.program(name).unwrap_or_else(|| panic!("{name}"));
        (p.prog_type, p.expected_attach_type, p.prog_flags)
    };
    assert_eq!(of("p_socket"), (ProgType::SocketFilter, None, 0));
    assert_eq!(of("p_tcx_ingress"), (ProgType::SchedCls, Some(AttachType::TcxIngress), 0));
    assert_eq!(of("p_tc_egress"), (ProgType::SchedCls, Some(AttachType::TcxEgress), 0));
    assert_eq!(of("p_kretprobe"), (ProgType::Kprobe, None, 0));
    assert_eq!(of("p_tp"), (ProgType::Tracepoint, None, 0));
    assert_eq!(of("p_raw_tp_w"), (ProgType::RawTracepointWritable, None, 0));
    assert_eq!(of("p_xdp_frags"), (ProgType::Xdp, Some(AttachType::Xdp), bpfx_loader::BPF_F_XDP_HAS_FRAGS));
    assert_eq!(of("p_xdp_cpumap"), (ProgType::Xdp, Some(AttachType::XdpCpumap), 0));
    assert_eq!(of("p_cgroup_skb_egress"), (ProgType::CgroupSkb, Some(AttachType::CgroupInetEgress), 0));
    assert_eq!(of("p_cgroup_sendmsg6"), (ProgType::CgroupSockAddr, Some(AttachType::CgroupUdp6Sendmsg), 0));
    assert_eq!(of("p_sk_skb_parser"), (ProgType::SkSkb, Some(AttachType::SkSkbStreamParser), 0));
    assert_eq!(of("p_syscall"), (ProgType::Syscall, None, bpfx_loader::BPF_F_SLEEPABLE));
}
