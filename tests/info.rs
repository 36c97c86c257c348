//! End-to-end tests of `bpfx info`: every test object described in JSON as
//! the loader loads it (types counted against bpftool's dump of the same
//! BTF), the text tables, non-ELF inputs, and exit code 2 with the file,
//! section and offset on malformed objects.

#[path = "support/elf.rs"]
mod elf;
#[path = "support/progs.rs"]
mod progs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bpfx_loader::{LoadOptions, Object};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("info").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bpfx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfx")).args(args).output().expect("bpfx runs")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("bpfx prints UTF-8")
}

fn success(out: Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    text(&out.stdout).to_string()
}

fn failure(out: Output) -> String {
    assert_eq!(out.status.code(), Some(2), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    text(&out.stderr).to_string()
}

fn info_json(path: &Path) -> Value {
    let out = success(bpfx(&["info", path.to_str().unwrap(), "--json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The number of types `bpftool btf dump file` lists.
fn bpftool_type_count(path: &Path) -> u64 {
    let out = Command::new("bpftool").args(["btf", "dump", "file"]).arg(path).output().expect("bpftool runs");
    assert!(out.status.success(), "bpftool: {}", text(&out.stderr));
    text(&out.stdout).lines().filter(|l| l.starts_with('[')).count() as u64
}

#[test]
fn every_test_object_is_described_as_the_loader_loads_it() {
    for path in progs::objects(root()) {
        let doc = info_json(&path);
        let object = Object::load(&std::fs::read(&path).unwrap(), &LoadOptions::as_compiled()).unwrap();
        let context = path.display().to_string();
        assert_eq!(doc["license"], "GPL", "{context}");
        let programs = doc["programs"].as_array().unwrap();
        assert_eq!(programs.len(), object.programs().len(), "{context}");
        for (p, ours) in programs.iter().zip(object.programs()) {
            assert_eq!(p["name"], ours.name.as_str(), "{context}");
            assert_eq!(p["section"], ours.section.as_str(), "{context}");
            assert_eq!(p["type"], ours.prog_type.name(), "{context}");
            assert_eq!(p["insns"], ours.slot_count() as u64, "{context}");
            assert_eq!(p["functions"][0], ours.name.as_str(), "{context}");
        }
        let maps = doc["maps"].as_array().unwrap();
        assert_eq!(maps.len(), object.maps().len(), "{context}");
        for (m, ours) in maps.iter().zip(object.maps()) {
            assert_eq!(m["name"], ours.name.as_str(), "{context}");
            assert_eq!(m["type"], ours.map_type.name(), "{context}");
            assert_eq!(
                (m["key_size"].as_u64(), m["value_size"].as_u64()),
                (Some(ours.key_size.into()), Some(ours.value_size.into()))
            );
            assert_eq!(
                (m["max_entries"].as_u64(), m["flags"].as_u64()),
                (Some(ours.max_entries.into()), Some(ours.flags.into()))
            );
            assert_eq!(
                m["initial_data_size"].as_u64(),
                ours.initial_data.as_ref().map(|d| d.len() as u64),
                "{context}"
            );
        }
        // The BTF as prepared for the kernel: kfunc externs get one
        // `dummy_ksym` variable, as libbpf adds.
        let kfuncs = doc["externs"].as_array().unwrap().iter().any(|e| e["kind"] == "kfunc");
        let expected = bpftool_type_count(&path) + u64::from(kfuncs);
        assert_eq!(doc["btf"]["types"].as_u64(), Some(expected), "{context}");
    }
}

/// `str_len` from the header of an object's raw `.BTF` section, as
/// llvm-objcopy extracts it. clang records the build directory among the
/// strings, so the figure depends on where the checkout lives.
fn btf_string_bytes(path: &Path) -> u32 {
    let dir = scratch("btf_string_bytes");
    let raw = dir.join("btf.raw");
    let out = Command::new("llvm-objcopy-19")
        .arg(format!("--dump-section=.BTF={}", raw.display()))
        .arg(path)
        .arg(dir.join("copy.o"))
        .output()
        .expect("llvm-objcopy-19 runs");
    assert!(out.status.success(), "llvm-objcopy-19: {}", text(&out.stderr));
    let header = std::fs::read(&raw).expect("dumped .BTF");
    u32::from_le_bytes(header[20..24].try_into().unwrap())
}

#[test]
fn the_text_lists_programs_maps_externs_and_btf() {
    let dir = root().join("tests/build");
    progs::objects(root());
    let out = success(bpfx(&["info", dir.join("calls.o").to_str().unwrap()]));
    let expected = format!(
        "{}/calls.o
license: GPL

programs:
  NAME           SECTION  TYPE  ATTACH  INSNS
  xdp_calls      xdp      xdp   xdp     21
  xdp_callbacks  xdp      xdp   xdp     55

maps:
  NAME     TYPE   KEY  VALUE  MAX_ENTRIES  FLAGS  DATA
  weights  array  4    8      4            0x0    -
  .data    array  4    4      1            0x400  4

btf: 42 types, {} bytes of strings
btf.ext: 7 func info, 40 line info, 0 CO-RE relocations
",
        dir.display(),
        btf_string_bytes(&dir.join("calls.o"))
    );
    assert_eq!(out, expected);
    let kconfig = success(bpfx(&["info", dir.join("kconfig.o").to_str().unwrap()]));
    assert!(
        kconfig.contains(
            "\nexterns:\n  NAME                        KIND     WEAK\n  CONFIG_BPFX_NO_SUCH_OPTION  kconfig  weak\n"
        ),
        "{kconfig}"
    );
    let core = info_json(&dir.join("core.o"));
    let listing =
        Command::new("llvm-objdump-19").arg("-dr").arg(dir.join("core.o")).output().expect("llvm-objdump-19 runs");
    let relocations = text(&listing.stdout).lines().filter(|l| l.contains(":  CO-RE <")).count();
    assert_eq!(
        core["btf_ext"]["core_relocations"].as_u64(),
        Some(relocations as u64),
        "as llvm-objdump-19 counts them"
    );
    let maps = info_json(&dir.join("btf_maps.o"));
    let outer = maps["maps"].as_array().unwrap().iter().find(|m| m["name"] == "m_array_of_maps").unwrap();
    assert_eq!(outer["inner_map"]["type"], "array");
    assert_eq!(outer["initial_slots"][1]["name"], "m_inner_b");
}

#[test]
fn assembly_and_raw_bytecode_are_one_program() {
    let dir = scratch("asm");
    let source = dir.join("two.s");
    std::fs::write(&source, "r0 = 1\nexit\n").unwrap();
    let doc = info_json(&source);
    assert_eq!(doc["format"], "instructions");
    assert_eq!((doc["programs"][0]["name"].as_str(), doc["programs"][0]["insns"].as_u64()), (Some("two"), Some(2)));
    let out = success(bpfx(&["info", source.to_str().unwrap()]));
    assert!(
        out.ends_with("programs:\n  NAME  SECTION  TYPE    ATTACH  INSNS\n  two   -        unspec  -       2\n"),
        "{out}"
    );
}

#[test]
fn malformed_objects_exit_2_naming_file_section_and_offset() {
    let dir = scratch("malformed");
    let mut elf = elf::Elf::default();
    let xdp = elf.code("xdp", &[0x0000_0000_0000_0118, 0, 0x95]);
    elf.symbol("prog", xdp, 0, 24, elf::STT_FUNC, elf::STB_GLOBAL);
    elf.rel(xdp, &[(0, 42, 1)]);
    let path = dir.join("unknown_reloc.o");
    std::fs::write(&path, elf.build()).unwrap();
    let err = failure(bpfx(&["info", path.to_str().unwrap()]));
    assert_eq!(err, format!("{}: section xdp: relocation 0 at 0x0 has unknown type 42\n", path.display()));
    let truncated = dir.join("truncated.o");
    let bytes = std::fs::read(progs::objects(root())[0].clone()).unwrap();
    std::fs::write(&truncated, &bytes[..100]).unwrap();
    let err = failure(bpfx(&["info", truncated.to_str().unwrap()]));
    assert!(err.starts_with(&format!("{}: section header table at 0x", truncated.display())), "{err}");
    let err = failure(bpfx(&["info", dir.join("missing.o").to_str().unwrap()]));
    assert!(err.contains("missing.o"), "{err}");
}
