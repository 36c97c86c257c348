//! Test support: corpus programs (assembly with a header of directives, or
//! C built by clang-19) as `Program`s, and the running kernel's verdict on
//! them.

use std::path::{Path, PathBuf};

use bpfx_isa::abi::{AttachType, MapType, ProgType};
use bpfx_isa::{MapSpec, Program, assemble};
use bpfx_loader::Object;
use bpfx_loader::kernel::{
    Bpf, BtfPolicy, KernelError, LogLevel, ObjectLoadOptions, ProgLoadOptions, ProgramSelection,
};

/// A deterministic byte stream (xorshift64*) for generated case `seed`
/// (the proofs and soundness tests generate programs; the corpus test,
/// which compiles this module too, does not).
#[allow(dead_code)]
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every corpus file with the given extension, sorted by name.
pub fn corpus_files(ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus is readable")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// An assembly corpus program and its header's expectations.
pub struct AsmCase {
    pub name: String,
    pub program: Program,
    /// `; expect: CODE`: the diagnostic code bpfx must give, if it rejects.
    pub expect: Option<String>,
}

/// Reads a corpus `.s` file. Its leading comment lines set the program:
/// `; type: xdp`, `; license: GPL` (the default), `; attach: NAME`,
/// `; map: NAME TYPE key=K value=V entries=N [flags=F]` (map `i` is the
/// `i`-th such line, `ld_pseudo rN, 1, i` loads it), `; expect: CODE`.
pub fn read_asm(path: &Path) -> Result<AsmCase, String> {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let insns = assemble(&text).map_err(|e| format!("{}:{e}", path.display()))?;
    let mut program = Program::new(name.clone(), ProgType::SocketFilter, insns);
    program.license = "GPL".into();
    let mut expect = None;
    for line in text.lines().map(str::trim).take_while(|l| l.starts_with(';')) {
        let Some((key, value)) = line.trim_start_matches(';').split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "type" => {
                program.prog_type =
                    ProgType::from_name(value).ok_or_else(|| format!("{}: unknown type {value}", path.display()))?
            }
            "license" => program.license = value.to_owned(),
            "attach" => {
                program.expected_attach_type = Some(
                    AttachType::from_name(value)
                        .ok_or_else(|| format!("{}: unknown attach {value}", path.display()))?,
                )
            }
            "expect" => expect = Some(value.to_owned()),
            "map" => program.maps.push(parse_map(value).map_err(|e| format!("{}: {e}", path.display()))?),
            _ => {}
        }
    }
    Ok(AsmCase { name, program, expect })
}

fn parse_map(text: &str) -> Result<MapSpec, String> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or("map without a name")?.to_owned();
    let ty = words.next().ok_or("map without a type")?;
    let map_type = MapType::from_name(ty).ok_or_else(|| format!("unknown map type {ty}"))?;
    let mut spec = MapSpec { name, map_type, ..MapSpec::default() };
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| format!("bad map field {w}"))?;
        let v: u32 = if let Some(hex) = v.strip_prefix("0x") { u32::from_str_radix(hex, 16) } else { v.parse() }
            .map_err(|_| format!("bad number in {w}"))?;
        match k {
            "key" => spec.key_size = v,
            "value" => spec.value_size = v,
            "entries" => spec.max_entries = v,
            "flags" => spec.flags = v,
            _ => return Err(format!("unknown map field {k}")),
        }
    }
    Ok(spec)
}

/// The kernel's verdict on a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelVerdict {
    Accepted,
    /// Rejected, with the last line of the verifier's log (or the errno).
    Rejected(String),
    /// The program's maps could not be created, so the program was never
    /// looked at (a map type only a privileged loader may create).
    MapsRefused(String),
}

/// Whether bpf(2) works here; the reason when it does not.
pub fn kernel_available() -> Result<(), String> {
    let probe = Program::new("probe", ProgType::SocketFilter, assemble("r0 = 0\nexit").expect("probe assembles"));
    match Bpf::new().load(&probe, &ProgLoadOptions::default()) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot load a trivial program: {e}")),
    }
}

/// Loads `program` into the running kernel and unloads it.
pub fn kernel_verdict(program: &Program) -> Result<KernelVerdict, String> {
    let options = ProgLoadOptions { log_level: LogLevel::Stats, ..ProgLoadOptions::default() };
    verdict_of(&program.name, Bpf::new().load(program, &options).map(drop))
}

/// Loads the program `name` of `object` as libbpf would (with the object's
/// BTF, so its func info says which functions are global) and unloads it.
pub fn kernel_verdict_in_object(object: &Object, name: &str) -> Result<KernelVerdict, String> {
    let options = ObjectLoadOptions { btf: BtfPolicy::Require, log_level: LogLevel::Stats, ..Default::default() };
    verdict_of(name, Bpf::new().load_object(object, ProgramSelection::Named(&[name]), &options).map(drop))
}

fn verdict_of(name: &str, loaded: Result<(), KernelError>) -> Result<KernelVerdict, String> {
    match loaded {
        Ok(()) => Ok(KernelVerdict::Accepted),
        Err(KernelError::Rejected(r)) => Ok(KernelVerdict::Rejected(r.log.error_message().unwrap_or_default())),
        Err(KernelError::Syscall(e)) if e.call == bpfx_loader::kernel::Cmd::ProgLoad => {
            Ok(KernelVerdict::Rejected(format!("{}", e.errno)))
        }
        Err(KernelError::Syscall(e)) if e.call == bpfx_loader::kernel::Cmd::MapCreate => {
            Ok(KernelVerdict::MapsRefused(format!("{}", e.errno)))
        }
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// A corpus C program's expected rejection: `// error: CODE` on the line
/// bpfx must point at.
pub struct CExpect {
    pub code: String,
    pub line: u32,
}

/// Builds a corpus `.c` file with clang-19 as a BPF developer would
/// (`-O2 -g -target bpf`, against the system's uapi and libbpf headers) and
/// reads it; also returns the expected rejection, if any.
pub fn build_c(path: &Path) -> Result<(Object, Option<CExpect>), String> {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("prog");
    let obj = out_dir.join(format!("{stem}.o"));
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = std::process::Command::new("clang-19")
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf", "-I", &multiarch, "-c"])
        .arg(path)
        .arg("-o")
        .arg(&obj)
        .status()
        .map_err(|e| format!("clang-19: {e}"))?;
    if !status.success() {
        return Err(format!("{}: clang-19 failed", path.display()));
    }
    let bytes = std::fs::read(&obj).map_err(|e| format!("{}: {e}", obj.display()))?;
    let object = bpfx_loader::Object::load(&bytes, &bpfx_loader::LoadOptions::default())
        .map_err(|e| format!("{}: {e}", obj.display()))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let expect = text.lines().enumerate().find_map(|(i, l)| {
        let code = l.split("// error: ").nth(1)?;
        Some(CExpect { code: code.trim().to_owned(), line: i as u32 + 1 })
    });
    Ok((object, expect))
}

/// Whether clang-19 can build the C corpus here; the reason when not.
pub fn clang_available() -> Result<(), String> {
    match std::process::Command::new("clang-19").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => return Err("clang-19 not found; scripts/install-deps installs it".into()),
    }
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        return Err("/usr/include/bpf/bpf_helpers.h not found; scripts/install-deps installs libbpf-dev".into());
    }
    Ok(())
}

/// `kernel.unprivileged_bpf_disabled`, which must be 0 for a loader
/// without capabilities to load anything.
const UNPRIV_SYSCTL: &str = "/proc/sys/kernel/unprivileged_bpf_disabled";

/// Lets loaders without capabilities use bpf(2) while it lives, by setting
/// `kernel.unprivileged_bpf_disabled` to 0, and puts the old value back
/// when dropped. 1 cannot be undone (the kernel makes it permanent), so
/// it is never written; a machine at 1 cannot run these checks.
pub struct UnprivilegedBpf {
    old: String,
}

impl UnprivilegedBpf {
    pub fn enable() -> Result<UnprivilegedBpf, String> {
        let old = std::fs::read_to_string(UNPRIV_SYSCTL).map_err(|e| format!("{UNPRIV_SYSCTL}: {e}"))?;
        let old = old.trim().to_owned();
        match old.as_str() {
            "0" => {}
            "1" => return Err(format!("{UNPRIV_SYSCTL} is 1, which the kernel keeps until reboot")),
            _ => std::fs::write(UNPRIV_SYSCTL, "0").map_err(|e| format!("cannot write 0 to {UNPRIV_SYSCTL}: {e}"))?,
        }
        Ok(UnprivilegedBpf { old })
    }
}

impl Drop for UnprivilegedBpf {
    fn drop(&mut self) {
        if self.old != "0"
            && let Err(e) = std::fs::write(UNPRIV_SYSCTL, &self.old)
        {
            eprintln!("could not restore {UNPRIV_SYSCTL} to {}: {e}", self.old);
        }
    }
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two (capabilities 0-31
/// and 32-63).
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// Clears the calling thread's effective capabilities (capabilities are
/// per thread, so the rest of the test process keeps its own).
fn drop_effective_caps() -> Result<(), String> {
    let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two `__user_cap_data_struct`s for version 3
    // into `data`, which has room for exactly two.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) } != 0 {
        return Err(format!("capget: {}", std::io::Error::last_os_error()));
    }
    for d in &mut data {
        d.effective = 0;
    }
    // SAFETY: as above; capset reads the two structs. pid 0 is this
    // thread only.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) } != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The kernel's verdict on `program` for a loader without any capability:
/// loaded from a thread whose effective capabilities are dropped, while
/// `guard` lets unprivileged loaders in.
pub fn kernel_verdict_unprivileged(_guard: &UnprivilegedBpf, program: &Program) -> Result<KernelVerdict, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            drop_effective_caps()?;
            kernel_verdict(program)
        })
        .join()
        .map_err(|_| format!("{}: the unprivileged loader thread panicked", program.name))?
    })
}
