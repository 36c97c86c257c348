//! libbpf as the oracle: bpftool (which links libbpf) loads a test object
//! into the running kernel — libbpf doing its own map creation, relocation
//! and CO-RE — into a private bpffs mount, runs its programs with
//! `BPF_PROG_TEST_RUN`, and reads its maps, for the tests to compare with
//! bpfx's load of the same object.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// An object loaded by libbpf; unloaded (and its bpffs unmounted) on drop.
pub struct Libbpf {
    dir: PathBuf,
}

fn bpftool(args: &[&str]) -> String {
    let out = Command::new("bpftool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running bpftool: {e} (scripts/install-deps installs it)"));
    assert!(
        out.status.success(),
        "bpftool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("bpftool prints UTF-8")
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    all.extend(args);
    serde_json::from_str(&bpftool(&all)).expect("bpftool -j prints JSON")
}

impl Libbpf {
    /// Loads every program and map of `object`.
    pub fn load(object: &Path) -> Libbpf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let stem = object.file_stem().unwrap().to_string_lossy();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libbpf").join(format!(
            "{stem}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir).status().expect("mount runs");
        assert!(status.success(), "mounting a bpffs at {} (the tests run as root)", dir.display());
        let libbpf = Libbpf { dir };
        let (progs, maps) = (libbpf.dir.join("progs"), libbpf.dir.join("maps"));
        let (object, progs, maps) = (object.to_str().unwrap(), progs.to_str().unwrap(), maps.to_str().unwrap());
        bpftool(&["prog", "loadall", object, progs, "pinmaps", maps]);
        libbpf
    }

    /// Runs program `name` (`bpftool prog run`) on a zeroed 64-byte
    /// packet, which the test programs ignore; its return value.
    pub fn run(&self, name: &str) -> u32 {
        let input = self.dir.with_extension("in");
        std::fs::write(&input, [0u8; 64]).unwrap();
        let prog = self.dir.join("progs").join(name);
        let out = json(&["prog", "run", "pinned", prog.to_str().unwrap(), "data_in", input.to_str().unwrap()]);
        out["retval"].as_u64().expect("a return value") as u32
    }

    /// The kernel's listing of program `name` (`bpftool prog dump xlated`).
    pub fn xlated(&self, name: &str) -> String {
        let prog = self.dir.join("progs").join(name);
        bpftool(&["prog", "dump", "xlated", "pinned", prog.to_str().unwrap()])
    }

    /// The maps libbpf created, by pin name (libbpf's map name, with dots
    /// made underscores): `bpftool map show` of each.
    pub fn maps(&self) -> Vec<(String, Value)> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("maps"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.into_iter().map(|n| (n.clone(), json(&["map", "show", "pinned", self.pin(&n).as_str()]))).collect()
    }

    /// The value at `key` of the map pinned as `pin`.
    pub fn lookup(&self, pin: &str, key: &[u8]) -> Vec<u8> {
        let mut args = vec!["map".to_string(), "lookup".into(), "pinned".into(), self.pin(pin), "key".into()];
        args.extend(key.iter().map(|b| b.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = json(&args);
        out["value"].as_array().expect("a value").iter().map(hex_byte).collect()
    }

    /// Sets the value at `key` of the map pinned as `pin`.
    pub fn update(&self, pin: &str, key: &[u8], value: &[u8]) {
        let mut args = vec!["map".to_string(), "update".into(), "pinned".into(), self.pin(pin), "key".into()];
        args.extend(key.iter().map(|b| b.to_string()));
        args.push("value".into());
        args.extend(value.iter().map(|b| b.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bpftool(&args);
    }

    fn pin(&self, name: &str) -> String {
        self.dir.join("maps").join(name).to_string_lossy().into_owned()
    }
}

fn hex_byte(b: &Value) -> u8 {
    let text = b.as_str().expect("a hex byte");
    u8::from_str_radix(text.trim_start_matches("0x"), 16).expect("a hex byte")
}

impl Drop for Libbpf {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("in"));
    }
}
