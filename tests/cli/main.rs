//! End-to-end tests of the `bpfx` CLI: its listings against llvm-objdump-19
//! and golden files, assembly, and its errors and exit codes on bad input.

#[path = "../support/elf.rs"]
mod elf;
#[path = "../support/llvm_forms.rs"]
mod llvm_forms;
#[path = "../support/progs.rs"]
mod progs;

mod asm;
mod disasm;
mod errors;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `bpfx` with `args` in `dir`.
pub fn bpfx(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfx")).args(args).current_dir(dir).output().expect("bpfx runs")
}

/// Runs a tool that must succeed, returning its stdout.
pub fn tool(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e} (scripts/install-deps installs llvm-19)"));
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("tools print UTF-8")
}

pub fn stdout(out: &Output) -> &str {
    std::str::from_utf8(&out.stdout).expect("bpfx prints UTF-8")
}

pub fn stderr(out: &Output) -> &str {
    std::str::from_utf8(&out.stderr).expect("bpfx prints UTF-8")
}

/// Asserts that bpfx succeeded and returns its stdout.
pub fn success(out: Output) -> String {
    assert_eq!(out.status.code(), Some(0), "bpfx failed: {}", stderr(&out));
    assert!(out.stderr.is_empty(), "bpfx succeeded but wrote to stderr: {}", stderr(&out));
    stdout(&out).to_string()
}

/// Asserts that bpfx failed with exit code `code`, printing nothing on
/// stdout, and returns its stderr.
pub fn failure(out: Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    assert!(out.stdout.is_empty(), "bpfx failed but wrote to stdout: {}", stdout(&out));
    stderr(&out).to_string()
}
