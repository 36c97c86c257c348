//! Test support: corpus programs (assembly with a header of directives, or
//! C built by clang-19) as `Program`s, and the running kernel's verdict on
//! them.

use std::path::{Path, PathBuf};

use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, assemble};
use bpfx_loader::Object;
use bpfx_loader::kernel::{
    Bpf, BtfPolicy, KernelError, LogLevel, ObjectLoadOptions, ProgLoadOptions, ProgramSelection,
};

/// A deterministic byte stream for generated case `seed`
/// ([`bpfx_testkit::generate::bytes`]; the proofs and soundness tests
/// generate programs, the corpus test, which compiles this module too,
/// does not).
#[allow(dead_code)]
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    bpfx_testkit::generate::bytes(seed, len)
}

pub fn corpus_dir() -> PathBuf {
    bpfx_testkit::corpus::dir()
}

/// Every corpus file with the given extension, sorted by name.
pub fn corpus_files(ext: &str) -> Vec<PathBuf> {
    let files = bpfx_testkit::corpus::files(ext);
    assert!(!files.is_empty(), "no .{ext} files in {}", corpus_dir().display());
    files
}

/// An assembly corpus program and its header's expectations.
pub struct AsmCase {
    pub name: String,
    pub program: Program,
    /// `; expect: CODE`: the diagnostic code bpfx must give, if it rejects.
    pub expect: Option<String>,
}

/// Reads a corpus `.s` file ([`bpfx_testkit::corpus::read_asm`] reads the
/// program from its header) and its `; expect: CODE` line.
pub fn read_asm(path: &Path) -> Result<AsmCase, String> {
    let program = bpfx_testkit::corpus::read_asm(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let expect = text
        .lines()
        .map(str::trim)
        .take_while(|l| l.starts_with(';'))
        .filter_map(|l| l.trim_start_matches(';').split_once(':'))
        .find(|(key, _)| key.trim() == "expect")
        .map(|(_, value)| value.trim().to_owned());
    Ok(AsmCase { name: program.name.clone(), program, expect })
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
    let bytes = bpfx_testkit::corpus::build_c(path, &out_dir)?;
    let object = bpfx_loader::Object::load(&bytes, &bpfx_loader::LoadOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let expect = text.lines().enumerate().find_map(|(i, l)| {
        let code = l.split("// error: ").nth(1)?;
        Some(CExpect { code: code.trim().to_owned(), line: i as u32 + 1 })
    });
    Ok((object, expect))
}

/// Whether clang-19 can build the C corpus here; the reason when not.
pub fn clang_available() -> Result<(), String> {
    match bpfx_testkit::corpus::clang_missing() {
        Some(why) => Err(format!("{why}; scripts/install-deps installs clang-19 and libbpf-dev")),
        None => Ok(()),
    }
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
