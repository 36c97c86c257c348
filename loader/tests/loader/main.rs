//! bpfx-loader's integration tests: the ELF layer on crafted and clang-19
//! objects (`object`), and whole loads of the C test programs (`load`,
//! `core`, `maps`), each run on the interpreter and compared with what
//! libbpf and the running kernel make of the same object (`libbpf`, through
//! bpftool).

#[path = "../../../tests/support/elf.rs"]
mod elf;
#[path = "../../../tests/support/progs.rs"]
mod progs;

mod co_re;
mod errors;
mod kernel;
mod libbpf;
mod load;
mod maps;
mod object;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use bpfx_interpreter::Interpreter;
use bpfx_isa::Program;
use bpfx_loader::{LoadOptions, Object};
use bpfx_runtime::{Context, Engine, Exit, ProgId, Runtime};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The built object of test program `name` (`tests/progs/NAME.c`).
pub fn object_path(name: &str) -> PathBuf {
    progs::objects(&root())
        .into_iter()
        .find(|p| p.file_stem().is_some_and(|s| s == name))
        .unwrap_or_else(|| panic!("no test program {name}"))
}

/// Test program `name`, loaded for the running kernel.
pub fn load(name: &str) -> Object {
    let path = object_path(name);
    Object::load(&read(&path), &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compiles C `source` as the build script compiles the test programs;
/// returns the object's bytes. For malformed definitions the test programs
/// do not hold.
pub fn compile(name: &str, source: &str) -> Vec<u8> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compiled");
    std::fs::create_dir_all(&dir).unwrap();
    let stem = format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let (src, obj) = (dir.join(format!("{stem}.c")), dir.join(format!("{stem}.o")));
    std::fs::write(&src, source).unwrap();
    let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let out = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", &multiarch, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("clang-19 runs (scripts/install-deps installs it)");
    assert!(out.status.success(), "clang-19 {}: {}", src.display(), String::from_utf8_lossy(&out.stderr));
    read(&obj)
}

/// The interpreter and its runtime, with programs loaded by name.
#[derive(Default)]
pub struct Interp {
    pub rt: Runtime,
    engine: Interpreter,
    ids: Vec<(String, ProgId)>,
}

impl Interp {
    /// Loads `program`; its maps join the runtime's, shared by name.
    pub fn load(&mut self, program: &Program) -> ProgId {
        let id = self.engine.load(&mut self.rt, program).unwrap_or_else(|e| panic!("loading {}: {e}", program.name));
        self.ids.push((program.name.clone(), id));
        id
    }

    /// Runs program `name`, which reads no context (the test programs take
    /// their input from global data); returns r0.
    pub fn run(&mut self, name: &str) -> u64 {
        let id = self.id(name);
        let mut ctx = Context::raw(&[]);
        let result = self.engine.run(&mut self.rt, id, &mut ctx).unwrap_or_else(|e| panic!("running {name}: {e}"));
        match result.exit {
            Exit::Return(r0) => r0,
            fault => panic!("{name} faulted: {fault}"),
        }
    }

    pub fn id(&self, name: &str) -> ProgId {
        self.ids.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} is not loaded")).1
    }

    /// Sets the value at `key` of map `map`.
    pub fn update(&mut self, map: &str, key: &[u8], value: &[u8]) {
        let id = self.rt.map_id(map).unwrap_or_else(|| panic!("no map {map}"));
        self.rt.map_mut(id).unwrap().update(key, value, 0).unwrap_or_else(|e| panic!("{map}: update {key:02x?}: {e}"));
    }

    /// The value at `key` of map `map`.
    pub fn lookup(&self, map: &str, key: &[u8]) -> Vec<u8> {
        let id = self.rt.map_id(map).unwrap_or_else(|| panic!("no map {map}"));
        self.rt.map(id).unwrap().lookup(key).unwrap_or_else(|e| panic!("{map}: lookup {key:02x?}: {e}"))
    }
}

/// An Ethernet + IPv4 + TCP SYN packet, 10.0.0.1:1234 -> 10.0.0.2:80, TTL
/// 64, padded to 64 bytes: `packet` of `tests/progs/core.c`.
pub fn tcp_syn() -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p.extend([0x08, 0x00]);
    p.extend([0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend(1234u16.to_be_bytes());
    p.extend(80u16.to_be_bytes());
    p.extend(1u32.to_be_bytes());
    p.extend(0u32.to_be_bytes());
    p.extend([0x50, 0x02]);
    p.extend(1000u16.to_be_bytes());
    p.extend([0, 0, 0, 0]);
    p.resize(64, 0);
    p
}

/// `bytes` as little-endian u64s.
pub fn u64s(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks(8).map(|c| u64::from_le_bytes(c.try_into().expect("whole u64s"))).collect()
}
