//! Whole objects into the running kernel (`Bpf::load_object`): every test
//! object gets the verdict libbpf gets for it (`bpftool prog loadall`),
//! maps are created once and shared, global data is written and read-only
//! data frozen, maps carry their BTF types, line info reaches the kernel's
//! log, a refused BTF falls back to none, a failure at any step leaves
//! nothing in the kernel, maps marked `LIBBPF_PIN_BY_NAME` are pinned and
//! reused as libbpf does, map dumps read every entry, and EINVALs name the
//! field at fault.
//!
//! These tests need bpf(2) as root (bpftool mounts a bpffs and the id
//! iterators need CAP_SYS_ADMIN). Where it is not available they fail,
//! saying why.

#![cfg(target_os = "linux")]

#[path = "support/bpffs.rs"]
mod bpffs;
#[path = "../../tests/support/progs.rs"]
mod progs;

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bpfx_isa::abi::{AttachType, MapType, ProgType};
use bpfx_isa::{Insn, LdImm64Kind, MapSpec, Program, assemble};
use bpfx_loader::kernel::*;
use bpfx_loader::{LoadOptions, Object};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The kernel, or a failure saying why it cannot be reached.
fn bpf() -> Bpf {
    let bpf = Bpf::new();
    let probe = MapSpec {
        name: "probe".into(),
        map_type: MapType::Array,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..MapSpec::default()
    };
    if let Err(e) = bpf.create_map(&probe).and_then(|_| bpf.ids(ObjKind::Map)) {
        panic!(
            "the kernel is unavailable to these tests ({e}); they need bpf(2) as root, or with CAP_BPF, \
             CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN"
        );
    }
    bpf
}

fn object_path(name: &str) -> PathBuf {
    progs::objects(&root())
        .into_iter()
        .find(|p| p.file_stem().is_some_and(|s| s == name))
        .unwrap_or_else(|| panic!("no test program {name}"))
}

fn object(name: &str) -> Object {
    let path = object_path(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Object::load(&bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_all(bpf: &Bpf, name: &str) -> LoadedObject {
    bpf.load_object(&object(name), ProgramSelection::All, &ObjectLoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Waits until `gone` holds: the kernel frees programs (and the maps they
/// hold) after an RCU grace period, not at close.
fn eventually(what: &str, mut gone: impl FnMut() -> bool) {
    let start = Instant::now();
    while !gone() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what} still there after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What libbpf makes of an object: `bpftool prog loadall` into a private
/// bpffs mount. `Ok((programs, maps))` it pinned when it loaded,
/// `Err(output)` when it did not.
fn bpftool_loadall(object: &Path) -> Result<(usize, usize), String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernel_object").join(format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir).status().expect("mount runs");
    assert!(status.success(), "mounting a bpffs at {} (these tests run as root)", dir.display());
    let out = Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(object)
        .arg(dir.join("progs"))
        .arg("pinmaps")
        .arg(dir.join("maps"))
        .output()
        .expect("bpftool runs (scripts/install-deps installs it)");
    let result = if out.status.success() {
        let count = |sub: &str| std::fs::read_dir(dir.join(sub)).map_or(0, |d| d.count());
        Ok((count("progs"), count("maps")))
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    assert!(Command::new("umount").arg(&dir).status().unwrap().success());
    std::fs::remove_dir(&dir).unwrap();
    result
}

#[test]
fn every_test_object_gets_the_kernels_verdict_as_libbpf_gets_it() {
    let bpf = bpf();
    let (mut compared, mut alone) = (Vec::new(), Vec::new());
    for path in progs::objects(&root()) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let object = object(&name);
        let ours = bpf.load_object(&object, ProgramSelection::All, &ObjectLoadOptions::default());
        if let Ok(loaded) = &ours {
            assert_eq!(loaded.progs().len(), object.programs().len(), "{name}");
            assert_eq!(loaded.maps().len(), object.maps().len(), "{name}");
            assert!(loaded.btf().is_some() && loaded.btf_dropped().is_none(), "{name}: the btf loads");
            assert!(loaded.btf_sanitized().is_empty(), "{name}: this kernel needs no sanitising");
            for (prog, log) in loaded.logs() {
                assert!(log.stats.is_some(), "{name} {prog}: the log has the verifier's statistics");
            }
        }
        match bpftool_loadall(&path) {
            Ok((progs, maps)) => {
                let loaded = ours.unwrap_or_else(|e| panic!("{name}: libbpf loads it, bpfx: {e}"));
                assert_eq!(loaded.progs().len(), progs, "{name}: programs libbpf pinned");
                assert_eq!(loaded.maps().len(), maps, "{name}: maps libbpf pinned");
                compared.push(name);
            }
            // libbpf refused the object itself (section names or legacy
            // maps libbpf 1.x no longer takes): the kernel was not asked.
            Err(out) if !out.contains("BPF program load failed") => {
                if let Err(e) = &ours {
                    panic!("{name}: {e}");
                }
                alone.push(name);
            }
            Err(out) => {
                let Err(KernelError::Rejected(rejected)) = ours else {
                    panic!("{name}: libbpf's load was refused ({out}), bpfx's gave {ours:?}");
                };
                assert!(out.contains(&format!("prog '{}': BPF program load failed", rejected.name)), "{name}: {out}");
                let message = rejected.log.error_message().expect("a rejection's log has its error");
                assert!(
                    out.contains(message.lines().next().unwrap()),
                    "{name}: `{message}` is not in libbpf's log:\n{out}"
                );
                compared.push(name);
            }
        }
    }
    eprintln!("compared with libbpf: {compared:?}; libbpf refuses to open, bpfx loaded: {alone:?}");
    assert!(compared.len() >= alone.len() && !compared.is_empty());
}

#[test]
fn a_map_used_by_several_programs_is_created_once() {
    let bpf = bpf();
    let mut shared_seen = 0;
    for path in progs::objects(&root()) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let object = object(&name);
        let Ok(loaded) = bpf.load_object(&object, ProgramSelection::All, &ObjectLoadOptions::default()) else {
            continue;
        };
        let ids: Vec<u32> = loaded.maps().iter().map(|m| m.info().unwrap().id).collect();
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "{name}: one kernel map per object map");
        for program in object.programs() {
            let used = loaded.prog(&program.name).unwrap().map_ids().unwrap();
            // The maps its instructions refer to (a map of maps' inner maps
            // travel with the program, but the kernel does not count them).
            let want: BTreeSet<u32> = program
                .insns
                .iter()
                .filter_map(|insn| match *insn {
                    Insn::LdImm64 { kind: LdImm64Kind::MapFd | LdImm64Kind::MapValue, imm, .. } => {
                        Some(&program.maps[imm as u32 as usize])
                    }
                    _ => None,
                })
                .map(|spec| loaded.map(&spec.name).unwrap().info().unwrap().id)
                .collect();
            assert_eq!(used.iter().copied().collect::<BTreeSet<_>>(), want, "{name} {}", program.name);
        }
        for spec in object.maps() {
            let users = object.programs().iter().filter(|p| p.maps.iter().any(|m| m.name == spec.name)).count();
            shared_seen += usize::from(users > 1);
        }
    }
    assert!(shared_seen > 0, "no test object shares a map between programs");
}

#[test]
fn global_data_is_written_and_read_only_data_frozen() {
    let bpf = bpf();
    for name in ["globals", "global_data", "kconfig"] {
        let object = object(name);
        let loaded = load_all(&bpf, name);
        for spec in object.maps().iter().filter(|m| m.name.starts_with('.')) {
            let map = loaded.map(&spec.name).unwrap();
            let value = map.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
            let mut want = spec.initial_data.clone().unwrap_or_default();
            want.resize(value.len(), 0);
            assert_eq!(value, want, "{name} {}", spec.name);
            let write = map.update(&0u32.to_ne_bytes(), &value, UpdateFlags::ANY);
            if spec.name.starts_with(".rodata") || spec.name == ".kconfig" {
                let Err(KernelError::Syscall(e)) = write else { panic!("{name} {}: {write:?}", spec.name) };
                assert_eq!(e.errno, Errno::EPERM, "{name} {}: frozen", spec.name);
            } else {
                write.unwrap_or_else(|e| panic!("{name} {}: {e}", spec.name));
            }
        }
    }
}

#[test]
fn maps_carry_the_objects_btf_types() {
    let bpf = bpf();
    let object = object("btf_maps");
    let loaded = load_all(&bpf, "btf_maps");
    let btf_id = loaded.btf().unwrap().id().unwrap();
    let mut typed = 0;
    for spec in object.maps() {
        let info = loaded.map(&spec.name).unwrap().info().unwrap();
        let refused = loaded.maps_without_btf().iter().any(|(n, _)| *n == spec.name);
        if spec.btf_value_type_id == 0 || refused {
            assert_eq!(info.btf_id, 0, "{}", spec.name);
            continue;
        }
        assert_eq!(
            (info.btf_id, info.btf_key_type_id, info.btf_value_type_id),
            (btf_id, spec.btf_key_type_id, spec.btf_value_type_id),
            "{}",
            spec.name
        );
        typed += 1;
    }
    assert!(typed >= 10, "only {typed} maps have btf types");
}

/// The kernel prints the source line of each instruction at log level 2
/// from the line info it was given: each `; text @ file.c:N` it prints is
/// line N of the C source.
#[test]
fn line_info_reaches_the_kernel() {
    let bpf = bpf();
    let options = ObjectLoadOptions { log_level: LogLevel::Level2, ..ObjectLoadOptions::default() };
    let source = std::fs::read_to_string(root().join("examples/xdp_count.c")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let loaded = bpf.load_object(&object("xdp_count"), ProgramSelection::All, &options).unwrap();
    let mut seen = 0;
    for (prog, log) in loaded.logs() {
        for line in log.text.lines().filter(|l| l.starts_with("; ")) {
            let (text, place) = line[2..].rsplit_once(" @ ").unwrap_or_else(|| panic!("{prog}: {line}"));
            let (file, number) = place.rsplit_once(':').unwrap();
            assert_eq!(file, "xdp_count.c", "{line}");
            let number: usize = number.parse().unwrap();
            assert_eq!(lines[number - 1].trim(), text.trim(), "{prog}: {line}");
            seen += 1;
        }
    }
    assert!(seen > 5, "the kernel printed {seen} source lines");
}

#[test]
fn selected_programs_bring_only_their_maps_and_tail_calls_are_filled() {
    let bpf = bpf();
    let object = object("btf_maps");
    let all = load_all(&bpf, "btf_maps");
    let jump = all.map("m_jump").unwrap();
    let tail_id = all.prog("xdp_tail").unwrap().info().unwrap().id;
    assert_eq!(jump.lookup(&1u32.to_ne_bytes()).unwrap().unwrap(), tail_id.to_ne_bytes(), "the slot holds xdp_tail");
    assert!(all.empty_slots().is_empty());
    let mode = all.map(".bss").unwrap();
    mode.update(&0u32.to_ne_bytes(), &1u32.to_ne_bytes(), UpdateFlags::ANY).unwrap();
    let run = all.prog("xdp_maps_all").unwrap().test_run(&TestRun::packet(&[0; 64])).unwrap();
    assert_eq!(run.retval, 40, "the tail call reached xdp_tail");

    let only =
        bpf.load_object(&object, ProgramSelection::Named(&["xdp_maps_all"]), &ObjectLoadOptions::default()).unwrap();
    assert_eq!(only.progs().len(), 1);
    let program = object.program("xdp_maps_all").unwrap();
    let mut want: BTreeSet<&str> = program.maps.iter().map(|m| m.name.as_str()).collect();
    want.extend(["m_inner_a", "m_inner_b"]);
    let got: BTreeSet<&str> = only.maps().iter().map(|m| m.spec().name.as_str()).collect();
    assert_eq!(got, want, "the program's maps and those its map of maps holds");
    assert_eq!(
        only.empty_slots(),
        [EmptySlot { map: "m_jump".into(), slot: 1, program: "xdp_tail".into() }],
        "xdp_tail was not selected"
    );

    let missing = bpf.load_object(&object, ProgramSelection::Named(&["nope"]), &ObjectLoadOptions::default());
    let Err(KernelError::NoSuchProgram { name, available }) = missing else { panic!("{missing:?}") };
    assert_eq!(name, "nope");
    assert!(available.contains("xdp_maps_all"), "{available}");
}

/// Which calls a [`Faulty`] fails: by the call's number, command and
/// attribute.
type FailIf = Box<dyn Fn(usize, Cmd, &[u8]) -> bool + Send + Sync>;

/// A syscall that forwards every call, records the id of every object it
/// creates, and fails the calls `fail_if` picks with `errno`.
struct Faulty {
    fail_if: FailIf,
    errno: i32,
    calls: Mutex<Vec<Cmd>>,
    created: Mutex<Vec<(ObjKind, u32)>>,
}

impl Faulty {
    fn new(errno: i32, fail_if: impl Fn(usize, Cmd, &[u8]) -> bool + Send + Sync + 'static) -> Arc<Faulty> {
        Arc::new(Faulty { fail_if: Box::new(fail_if), errno, calls: Mutex::default(), created: Mutex::default() })
    }

    /// Forwards every call.
    fn recorder() -> Arc<Faulty> {
        Faulty::new(0, |_, _, _| false)
    }

    /// Fails every call of `cmd`.
    fn failing(cmd: Cmd, errno: i32) -> Arc<Faulty> {
        Faulty::new(errno, move |_, c, _| c == cmd)
    }
}

// SAFETY: every descriptor is the one the kernel returned.
unsafe impl Syscall for Faulty {
    fn bpf(&self, call: &mut BpfCall<'_>) -> io::Result<i32> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(call.cmd());
            calls.len() - 1
        };
        if (self.fail_if)(n, call.cmd(), call.attr()) {
            return Err(io::Error::from_raw_os_error(self.errno));
        }
        let fd = call.forward()?;
        let kind = match call.cmd() {
            Cmd::MapCreate => Some(ObjKind::Map),
            Cmd::ProgLoad => Some(ObjKind::Prog),
            Cmd::BtfLoad => Some(ObjKind::Btf),
            _ => None,
        };
        if let Some(kind) = kind {
            let kernel = Bpf::new();
            // SAFETY: `fd` was just returned and is not closed before the
            // caller receives it.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let id = match kind {
                ObjKind::Map => kernel.map_info(borrowed).map(|i| i.id),
                ObjKind::Prog => kernel.prog_info(borrowed).map(|i| i.id),
                _ => kernel.btf_id(borrowed),
            };
            self.created.lock().unwrap().push((kind, id.expect("info of a new object")));
        }
        Ok(fd)
    }
}

fn assert_all_gone(bpf: &Bpf, created: &[(ObjKind, u32)], what: &str) {
    assert!(!created.is_empty(), "{what}: nothing was created");
    eventually(what, || created.iter().all(|(kind, id)| !bpf.ids(*kind).unwrap().contains(id)));
}

#[test]
fn a_failure_at_any_step_leaves_nothing_behind() {
    let bpf = bpf();
    let object = object("btf_maps");
    let options = ObjectLoadOptions::default();
    let counting = Faulty::recorder();
    let loaded = Bpf::with_syscall(counting.clone()).load_object(&object, ProgramSelection::All, &options).unwrap();
    drop(loaded);
    let calls = counting.calls.lock().unwrap().clone();
    assert_all_gone(&bpf, &counting.created.lock().unwrap(), "a dropped object");
    // The first and last call of each command in a row (BTF, maps, their
    // data, freeze, inner slots, programs, tail-call slots), and the last.
    let mut points: BTreeSet<usize> = BTreeSet::from([calls.len() - 1]);
    for i in 1..calls.len() {
        if calls[i] != calls[i - 1] {
            points.extend([i - 1, i]);
        }
    }
    // A BTF load that fails is no failure of the object's: feature probes
    // read it as a missing feature, the object's BTF is dropped.
    for at in points.into_iter().filter(|&at| calls[at] != Cmd::BtfLoad) {
        let faulty = Faulty::new(libc::E2BIG, move |n, _, _| n == at);
        let result = Bpf::with_syscall(faulty.clone()).load_object(&object, ProgramSelection::All, &options);
        let what = format!("failing call {at} ({:?})", calls[at]);
        let err = result.err().unwrap_or_else(|| panic!("{what}: the load succeeded"));
        match err.root() {
            KernelError::Syscall(e) => assert_eq!((e.call, e.errno), (calls[at], Errno::E2BIG), "{what}: {err}"),
            other => panic!("{what}: {other}"),
        }
        if at > 0 {
            assert_all_gone(&bpf, &faulty.created.lock().unwrap(), &what);
        }
    }
}

/// A program the verifier refuses takes the object's BTF and maps with it.
#[test]
fn a_rejected_program_leaves_nothing_behind() {
    let bpf = bpf();
    let recorder = Faulty::recorder();
    let result = Bpf::with_syscall(recorder.clone()).load_object(
        &object("xdp_reject"),
        ProgramSelection::All,
        &ObjectLoadOptions::default(),
    );
    let Err(KernelError::Rejected(rejected)) = result else { panic!("{result:?}") };
    assert_eq!(rejected.name, "xdp_unchecked");
    assert!(rejected.log.error_message().is_some(), "{}", rejected.log.text);
    let created = recorder.created.lock().unwrap();
    assert!(created.iter().any(|(kind, _)| *kind == ObjKind::Btf), "the object's btf was loaded first");
    assert_all_gone(&bpf, &created, "a rejected object");
}

#[test]
fn a_refused_btf_falls_back_to_loading_without_it() {
    bpf();
    // Maps of local storage and bpf_loop callbacks need btf: objects
    // without them.
    for name in ["xdp_count", "globals", "kconfig"] {
        let refusing = Faulty::failing(Cmd::BtfLoad, libc::EINVAL);
        let object = object(name);
        let loaded = Bpf::with_syscall(refusing)
            .load_object(&object, ProgramSelection::All, &ObjectLoadOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.btf().is_none());
        let dropped = loaded.btf_dropped().expect("the reason btf was dropped");
        assert!(
            matches!(dropped, KernelError::Syscall(e) if e.call == Cmd::BtfLoad && e.errno == Errno::EINVAL),
            "{dropped}"
        );
        assert!(loaded.btf_sanitized().funcs > 0, "{name}: every probe failed, so FUNC was rewritten");
        for map in loaded.maps() {
            assert_eq!(map.info().unwrap().btf_id, 0, "{name} {}", map.spec().name);
        }
        assert_eq!(loaded.progs().len(), object.programs().len());
    }

    let required = ObjectLoadOptions { btf: BtfPolicy::Require, ..ObjectLoadOptions::default() };
    let refusing = Faulty::failing(Cmd::BtfLoad, libc::EINVAL);
    let err =
        Bpf::with_syscall(refusing).load_object(&object("xdp_count"), ProgramSelection::All, &required).unwrap_err();
    assert!(matches!(err, KernelError::InObject { ref what, .. } if what.contains("btf")), "{err}");
}

/// Where the kernel refuses a map's BTF types, the map is created without
/// them (libbpf's retry) and the refusal is kept.
#[test]
fn a_map_whose_btf_types_are_refused_is_created_without_them() {
    let bpf = bpf();
    // `btf_value_type_id` of BPF_MAP_CREATE's attribute (the uapi's
    // offset, which the attr layout test checks against the header).
    const VALUE_TYPE_ID: usize = 56;
    let typed = |attr: &[u8]| attr[VALUE_TYPE_ID..VALUE_TYPE_ID + 4] != [0; 4];
    let refusing = Faulty::new(libc::EINVAL, move |_, cmd, attr| cmd == Cmd::MapCreate && typed(attr));
    let object = object("globals");
    let loaded =
        Bpf::with_syscall(refusing).load_object(&object, ProgramSelection::All, &ObjectLoadOptions::default()).unwrap();
    let typed_specs: Vec<&str> =
        object.maps().iter().filter(|m| m.btf_value_type_id != 0).map(|m| m.name.as_str()).collect();
    let retried: Vec<&str> = loaded.maps_without_btf().iter().map(|(name, _)| name.as_str()).collect();
    assert!(!retried.is_empty());
    assert_eq!(retried, typed_specs);
    for (name, refusal) in loaded.maps_without_btf() {
        assert!(matches!(refusal, KernelError::Syscall(e) if e.errno == Errno::EINVAL), "{name}: {refusal}");
        assert_eq!(loaded.map(name).unwrap().info().unwrap().btf_id, 0, "{name}");
    }
    assert!(loaded.btf().is_some(), "the object's btf itself loaded");
    let run = |l: &LoadedObject| l.prog("xdp_globals").unwrap().test_run(&TestRun::packet(&[0; 64])).unwrap().retval;
    assert_eq!(run(&loaded), run(&load_all(&bpf, "globals")));
}

/// BTF rewritten for a kernel without any of the newer kinds is still BTF
/// this kernel accepts, and every program loads with it (without func and
/// line info, which need `FUNC`).
#[test]
fn btf_sanitised_for_an_old_kernel_still_loads() {
    let bpf = bpf();
    let none = ObjectLoadOptions { btf_features: Some(BtfFeatures::NONE), ..ObjectLoadOptions::default() };
    let probed = BtfFeatures::probe(&bpf).unwrap();
    assert_eq!(probed, BtfFeatures::ALL, "Linux 6.x knows every kind");
    // Not `calls`: its bpf_loop callback needs func info, which needs FUNC.
    for name in ["btf_maps", "globals", "kconfig", "ksyms", "core", "xdp_count"] {
        let object = object(name);
        let loaded = bpf.load_object(&object, ProgramSelection::All, &none).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.btf_dropped().is_none(), "{name}: {:?}", loaded.btf_dropped());
        assert!(loaded.btf_sanitized().funcs > 0, "{name}");
        assert_eq!(loaded.progs().len(), object.programs().len(), "{name}");
    }
    // And the programs compute what they compute with the object's BTF.
    for (name, prog) in [("globals", "xdp_globals"), ("kconfig", "xdp_kconfig"), ("core", "xdp_core")] {
        let object = object(name);
        let retval = |options: &ObjectLoadOptions| {
            let loaded = bpf.load_object(&object, ProgramSelection::Named(&[prog]), options).unwrap();
            loaded.prog(prog).unwrap().test_run(&TestRun::packet(&[0; 64])).unwrap().retval
        };
        assert_eq!(retval(&none), retval(&ObjectLoadOptions::default()), "{name} {prog}");
    }
}

#[test]
fn map_dumps_read_every_entry_batched_or_key_by_key() {
    let bpf = bpf();
    let loaded = load_all(&bpf, "btf_maps");
    let run = loaded.prog("xdp_maps_all").unwrap().test_run(&TestRun::packet(&[0; 64])).unwrap();
    assert_ne!(run.retval, 0);

    let hash = loaded.map("m_hash").unwrap();
    for k in 2u32..8 {
        hash.update(&k.to_ne_bytes(), &u64::from(k * 10).to_ne_bytes(), UpdateFlags::ANY).unwrap();
    }
    let dumped = hash.dump().unwrap();
    let walked: Vec<MapEntry> = hash
        .keys()
        .unwrap()
        .into_iter()
        .map(|key| MapEntry { value: hash.lookup(&key).unwrap().unwrap(), key })
        .collect();
    let sorted = |mut v: Vec<MapEntry>| {
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    };
    assert_eq!(dumped.len(), 7, "key 1 from the program, 2..8 from here");
    assert_eq!(sorted(dumped), sorted(walked));

    let array = loaded.map("m_array").unwrap();
    let entries = array.dump().unwrap();
    assert_eq!(entries.len(), 4, "an array has every index");
    assert_eq!(entries[1].value, 2u64.to_ne_bytes(), "the program added 2 at index 1");

    let percpu = loaded.map("m_percpu_array").unwrap();
    let entries = percpu.dump().unwrap();
    let cpus = possible_cpus().unwrap() as usize;
    let values = percpu.cpu_values(&entries[0].value);
    assert_eq!(values.len(), cpus);
    let sum: u64 = values.iter().map(|v| u64::from_ne_bytes((*v).try_into().unwrap())).sum();
    assert_eq!(sum, 1, "one run added 1 on one cpu");

    // An lpm trie has no batch lookup: the dump walks its keys.
    let trie = loaded.map("m_lpm_trie").unwrap();
    let key = [24u32.to_ne_bytes(), [10, 0, 0, 0]].concat();
    trie.update(&key, &5u32.to_ne_bytes(), UpdateFlags::ANY).unwrap();
    assert_eq!(trie.dump().unwrap(), [MapEntry { key, value: 5u32.to_ne_bytes().to_vec() }]);

    // A queue or a ring buffer has no keys: the dump says so.
    for name in ["m_queue", "m_ringbuf"] {
        let err = loaded.map(name).unwrap().dump().unwrap_err();
        let KernelError::Syscall(e) = &err else { panic!("{name}: {err}") };
        assert!(e.explanation.ends_with("map has no keys to walk, so it cannot be dumped"), "{name}: {err}");
    }
}

#[test]
fn batch_lookups_are_used_where_the_map_type_has_them() {
    let recorder = Faulty::recorder();
    let bpf = Bpf::with_syscall(recorder.clone());
    let spec = MapSpec {
        name: "batched".into(),
        map_type: MapType::Hash,
        key_size: 4,
        value_size: 8,
        max_entries: 600,
        ..MapSpec::default()
    };
    let map = bpf.create_map(&spec).unwrap();
    for k in 0u32..300 {
        map.update(&k.to_ne_bytes(), &u64::from(k).to_ne_bytes(), UpdateFlags::ANY).unwrap();
    }
    recorder.calls.lock().unwrap().clear();
    let entries = map.dump().unwrap();
    let keys: BTreeSet<u32> = entries.iter().map(|e| u32::from_ne_bytes(e.key[..].try_into().unwrap())).collect();
    assert_eq!(keys, (0..300).collect());
    assert!(entries.iter().all(|e| e.value[..4] == e.key[..]));
    let calls = recorder.calls.lock().unwrap();
    assert!(calls.iter().all(|c| *c == Cmd::MapLookupBatch), "{calls:?}");
    assert!(calls.len() >= 2, "300 entries take more than one batch of 256");
}

fn program(name: &str, prog_type: ProgType, source: &str) -> Program {
    Program::new(name, prog_type, assemble(source).unwrap_or_else(|e| panic!("{source}: {e}")))
}

fn explanation(result: Result<impl std::fmt::Debug, KernelError>) -> String {
    match result {
        Err(KernelError::Syscall(e)) if e.errno == Errno::EINVAL => e.explanation,
        other => panic!("expected EINVAL, got {other:?}"),
    }
}

#[test]
fn einval_names_the_field_at_fault() {
    let bpf = bpf();
    let mut skb = program("skb", ProgType::CgroupSkb, "r0 = 1\nexit");
    skb.license = "GPL".into();
    skb.expected_attach_type = Some(AttachType::Xdp);
    let why = explanation(bpf.load_program(&skb, &[], &ProgLoadOptions::default()));
    assert!(why.starts_with("expected_attach_type xdp is not valid for a cgroup_skb program"), "{why}");

    let mut xdp = program("xdp", ProgType::Xdp, "r0 = 2\nexit");
    xdp.prog_flags = 1 << 30;
    let why = explanation(bpf.load_program(&xdp, &[], &ProgLoadOptions::default()));
    assert_eq!(why, "prog_flags 0x40000000 are not valid for a xdp program on this kernel");

    // A tracing program needs an attach target this probe does not give:
    // the kernel still knows the type, and the flags are found at fault.
    let mut tracing = program("fentry", ProgType::Tracing, "r0 = 0\nexit");
    tracing.prog_flags = 1 << 30;
    let why = explanation(bpf.load_program(&tracing, &[], &ProgLoadOptions::default()));
    assert_eq!(why, "prog_flags 0x40000000 are not valid for a tracing program on this kernel");

    let lru = MapSpec {
        name: "bad_flags".into(),
        map_type: MapType::Array,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        flags: 1 << 1,
        ..MapSpec::default()
    };
    let why = explanation(bpf.create_map(&lru));
    assert!(why.contains("BPF_F_NO_COMMON_LRU (0x2)") && why.contains("not a array map"), "{why}");
    let unknown = MapSpec { flags: 1 << 30, ..lru };
    let why = explanation(bpf.create_map(&unknown));
    assert!(why.starts_with("map_flags 0x40000000 are not BPF_F_* flags"), "{why}");
}

fn pin_by_name(fs: &bpffs::Bpffs) -> ObjectLoadOptions {
    ObjectLoadOptions { pin_root: Some(fs.0.clone()), ..ObjectLoadOptions::default() }
}

fn map_id(bpf: &Bpf, loaded: &LoadedObject, name: &str) -> u32 {
    bpf.map_info(loaded.map(name).unwrap().fd()).unwrap().id
}

#[test]
fn maps_pinned_by_name_are_pinned_then_reused_with_their_contents() {
    let bpf = bpf();
    let fs = bpffs::Bpffs::mount("pin-by-name");
    let object = object("legacy_maps");
    // A fresh bpffs holds the kernel's own iterators (`maps.debug`, ...).
    let entries = || -> BTreeSet<_> { std::fs::read_dir(&fs.0).unwrap().map(|e| e.unwrap().file_name()).collect() };
    let before = entries();
    let first = bpf.load_object(&object, ProgramSelection::All, &pin_by_name(&fs)).unwrap();
    let path = fs.0.join("pinned_totals");
    let pin = PinnedByName { map: "pinned_totals".into(), path: path.clone(), reused: false };
    assert_eq!(first.pinned_by_name(), [pin]);
    let added: Vec<_> = entries().difference(&before).cloned().collect();
    assert_eq!(added, ["pinned_totals"], "only the map marked for it is pinned");
    let id = map_id(&bpf, &first, "pinned_totals");
    let (key, value) = (2u32.to_ne_bytes(), 7u64.to_ne_bytes());
    first.map("pinned_totals").unwrap().update(&key, &value, UpdateFlags::ANY).unwrap();
    drop(first);

    let second = bpf.load_object(&object, ProgramSelection::All, &pin_by_name(&fs)).unwrap();
    assert!(second.pinned_by_name()[0].reused, "{:?}", second.pinned_by_name());
    assert_eq!(map_id(&bpf, &second, "pinned_totals"), id, "the pinned map itself is shared");
    let kept = second.map("pinned_totals").unwrap().lookup(&key).unwrap();
    assert_eq!(kept.as_deref(), Some(&value[..]), "a reused map keeps its contents");

    let unpinned = bpf.load_object(&object, ProgramSelection::All, &ObjectLoadOptions::default()).unwrap();
    assert!(unpinned.pinned_by_name().is_empty());
    assert_ne!(map_id(&bpf, &unpinned, "pinned_totals"), id, "without a pin root the map is the object's own");
}

#[test]
fn an_incompatible_pinned_map_is_refused_naming_the_field() {
    let bpf = bpf();
    let fs = bpffs::Bpffs::mount("pin-incompatible");
    let object = object("legacy_maps");
    let spec = object.maps().iter().find(|m| m.name == "pinned_totals").unwrap();
    let other = bpf.create_map(&MapSpec { max_entries: 32, ..spec.clone() }).unwrap();
    let path = fs.0.join("pinned_totals");
    bpf.pin(other.fd(), &path).unwrap();
    let recorder = Faulty::recorder();
    let err =
        Bpf::with_syscall(recorder.clone()).load_object(&object, ProgramSelection::All, &pin_by_name(&fs)).unwrap_err();
    let KernelError::Incompatible { map, field, pinned, wanted } = err.root() else { panic!("{err}") };
    assert_eq!((map.as_str(), *field, *pinned, *wanted), ("pinned_totals", "max_entries", 32, 64));
    assert!(err.to_string().contains(&path.display().to_string()), "the error names the pin: {err}");
    assert!(path.exists(), "a pin the load did not make stays");
    assert_all_gone(&bpf, &recorder.created.lock().unwrap(), "a refused object");
}

#[test]
fn a_failed_load_removes_the_pins_it_made_and_keeps_the_others() {
    let bpf = bpf();
    let fs = bpffs::Bpffs::mount("pin-failure");
    let object = object("legacy_maps");
    let path = fs.0.join("pinned_totals");
    let failing = Faulty::failing(Cmd::ProgLoad, libc::E2BIG);
    assert!(Bpf::with_syscall(failing).load_object(&object, ProgramSelection::All, &pin_by_name(&fs)).is_err());
    assert!(!path.exists(), "the pin made by the failed load was removed");

    let first = bpf.load_object(&object, ProgramSelection::All, &pin_by_name(&fs)).unwrap();
    let id = map_id(&bpf, &first, "pinned_totals");
    drop(first);
    let failing = Faulty::failing(Cmd::ProgLoad, libc::E2BIG);
    assert!(Bpf::with_syscall(failing).load_object(&object, ProgramSelection::All, &pin_by_name(&fs)).is_err());
    let fd = bpf.get_pinned(&path).expect("a pin the failed load reused stays");
    assert_eq!(bpf.map_info(fd.as_fd()).unwrap().id, id);
}
