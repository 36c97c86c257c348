//! The C test programs, built by `tests/build-progs.sh` (once per test
//! process) into `tests/build/`.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds the test programs and returns their objects (little-endian, one
/// per source in `tests/progs/` and `examples/`), in name order. `root` is
/// the repository's root.
pub fn objects(root: &Path) -> Vec<PathBuf> {
    build(root);
    let mut objects: Vec<PathBuf> = ["tests/progs", "examples"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("reading {dir}: {e}")))
        .map(|entry| entry.expect("listing test programs").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .map(|src| build_dir(root).join(src.with_extension("o").file_name().expect("a source has a name")))
        .collect();
    objects.sort();
    assert!(!objects.is_empty(), "no test programs found");
    objects
}

/// Whether the source of `object` marks it as a program the kernel's
/// verifier must reject (a line `// expect: rejected by the verifier`):
/// the test programs that show rejections.
pub fn expects_rejection(root: &Path, object: &Path) -> bool {
    let name = object.with_extension("c");
    let name = name.file_name().expect("an object has a name");
    ["tests/progs", "examples"]
        .iter()
        .map(|dir| root.join(dir).join(name))
        .find(|src| src.exists())
        .and_then(|src| std::fs::read_to_string(src).ok())
        .is_some_and(|text| text.lines().any(|l| l.trim() == "// expect: rejected by the verifier"))
}

/// The big-endian build of `examples/xdp_count.c`.
pub fn big_endian_object(root: &Path) -> PathBuf {
    build(root);
    build_dir(root).join("xdp_count.bpfeb.o")
}

pub fn build_dir(root: &Path) -> PathBuf {
    root.join("tests/build")
}

fn build(root: &Path) {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = root.join("tests/build-progs.sh");
        let status = Command::new("bash").arg(&script).status().unwrap_or_else(|e| panic!("running {script:?}: {e}"));
        assert!(status.success(), "{} failed (its message is above)", script.display());
    });
}
