//! The verifier's corpus (`verifier/tests/corpus`) as programs, for tests
//! outside the verifier that run what it accepts: assembly files with a
//! header of directives, and C files built with clang-19.
//!
//! An assembly file's leading comment lines set the program: `; type:
//! xdp`, `; license: GPL` (the default), `; attach: NAME`, `; map: NAME
//! TYPE key=K value=V entries=N [flags=F]` (map `i` is the `i`-th such
//! line), `; expect: CODE` (a rejection, not needed here).

use std::path::{Path, PathBuf};

use bpfx_isa::abi::{AttachType, MapType, ProgType};
use bpfx_isa::{MapSpec, Program, assemble};

/// Where the corpus is, from a crate of this workspace.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier/tests/corpus")
}

/// Every corpus file with the extension `ext`, sorted by name; empty when
/// the corpus is not there.
pub fn files(ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir()) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
    files.sort();
    files
}

/// Reads a corpus assembly file as a program named after it.
pub fn read_asm(path: &Path) -> Result<Program, String> {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let insns = assemble(&text).map_err(|e| format!("{}:{e}", path.display()))?;
    let mut program = Program::new(name, ProgType::SocketFilter, insns);
    program.license = "GPL".into();
    let bad = |what: &str, value: &str| format!("{}: unknown {what} {value}", path.display());
    for line in text.lines().map(str::trim).take_while(|l| l.starts_with(';')) {
        let Some((key, value)) = line.trim_start_matches(';').split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "type" => program.prog_type = ProgType::from_name(value).ok_or_else(|| bad("type", value))?,
            "license" => value.clone_into(&mut program.license),
            "attach" => {
                program.expected_attach_type = Some(AttachType::from_name(value).ok_or_else(|| bad("attach", value))?)
            }
            "map" => program.maps.push(map(value).map_err(|e| format!("{}: {e}", path.display()))?),
            _ => {}
        }
    }
    Ok(program)
}

fn map(text: &str) -> Result<MapSpec, String> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or("map without a name")?.to_owned();
    let ty = words.next().ok_or("map without a type")?;
    let map_type = MapType::from_name(ty).ok_or_else(|| format!("unknown map type {ty}"))?;
    let mut spec = MapSpec { name, map_type, ..MapSpec::default() };
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| format!("bad map field {w}"))?;
        let v = match v.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => v.parse(),
        }
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

/// Why C files cannot be built here, if they cannot.
pub fn clang_missing() -> Option<String> {
    match std::process::Command::new("clang-19").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => return Some("clang-19 not found".into()),
    }
    (!Path::new("/usr/include/bpf/bpf_helpers.h").exists()).then(|| "libbpf's headers are not installed".into())
}

/// Builds a corpus C file with clang-19 as a BPF developer would (`-O2 -g
/// -target bpf`, against the system's uapi and libbpf headers) into
/// `out_dir`; returns the object's bytes.
pub fn build_c(path: &Path, out_dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
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
    std::fs::read(&obj).map_err(|e| format!("{}: {e}", obj.display()))
}
