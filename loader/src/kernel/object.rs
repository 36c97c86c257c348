//! A whole object into the kernel, as libbpf loads one
//! (`bpf_object__load`): its BTF (sanitised for the running kernel), each
//! map once, shared by every program that uses it, global data written and
//! `.rodata`/`.kconfig` frozen, map-in-map slots filled, each selected
//! program loaded with its func and line info, then program-array slots
//! (tail-call targets) filled.
//!
//! Maps marked `LIBBPF_PIN_BY_NAME` are pinned (or reused) by name under a
//! pin root when the caller gives one ([`ObjectLoadOptions::pin_root`]).
//!
//! What it is not: it attaches nothing, pins nothing else, and decides
//! nothing about a program; the kernel's verdicts and logs are handed back as given.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use bpfx_isa::abi::MapType;
use bpfx_isa::{MapSpec, Pinning, Program};

use super::Bpf;
use super::btf::{Btf, BtfLoadOptions};
use super::error::{Errno, KernelError};
use super::log::{DEFAULT_LOG_LIMIT, DEFAULT_LOG_START, VerifierLog};
use super::map::{Map, MapOptions, UpdateFlags};
use super::prog::{LogLevel, Prog, ProgLoadOptions};
use super::sanitize::{BtfFeatures, Sanitized, sanitize};
use super::sys::Cmd;
use crate::Object;

/// `BPF_F_RDONLY_PROG`: programs only read the map.
const F_RDONLY_PROG: u32 = 1 << 7;

/// Which of an object's programs to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramSelection<'a> {
    /// Every program, and every map of the object (what `bpftool prog
    /// loadall` does).
    All,
    /// The programs of these function names, and only the maps they use
    /// (with the maps those hold, for a map of maps).
    Named(&'a [&'a str]),
}

/// What to do with the object's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BtfPolicy {
    /// Load it; if the kernel refuses it, load the object without BTF (no
    /// map types, func or line info), as libbpf does, and say so in
    /// [`LoadedObject::btf_dropped`].
    #[default]
    Load,
    /// Load it; a refusal is an error.
    Require,
    /// Load the object without BTF.
    Skip,
}

/// How to load an object.
#[derive(Debug, Clone)]
pub struct ObjectLoadOptions {
    pub btf: BtfPolicy,
    /// Where the maps the object marks `LIBBPF_PIN_BY_NAME` live, pinned by
    /// their names (libbpf's `pin_root_path`, `/sys/fs/bpf` by default): a
    /// compatible map pinned there already is reused, contents and all, and
    /// a missing one is created and pinned. `None` creates them like any
    /// other map and pins nothing, for loads that judge or test-run a
    /// program and must leave nothing behind (and must not touch a map
    /// other programs share).
    pub pin_root: Option<PathBuf>,
    /// What the kernel's BTF support is; `None` asks the kernel
    /// ([`BtfFeatures::probe`]).
    pub btf_features: Option<BtfFeatures>,
    /// The verifier's log level for each program.
    pub log_level: LogLevel,
    pub log_start: u32,
    pub log_limit: u32,
}

impl Default for ObjectLoadOptions {
    fn default() -> Self {
        ObjectLoadOptions {
            btf: BtfPolicy::default(),
            pin_root: None,
            btf_features: None,
            log_level: LogLevel::default(),
            log_start: DEFAULT_LOG_START,
            log_limit: DEFAULT_LOG_LIMIT,
        }
    }
}

/// A program-array slot the object fills with a program that was not
/// selected, left empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptySlot {
    pub map: String,
    pub slot: u32,
    pub program: String,
}

/// A map the object marks `LIBBPF_PIN_BY_NAME`, as the load found or left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedByName {
    pub map: String,
    pub path: PathBuf,
    /// The map was pinned there already and is shared, not created.
    pub reused: bool,
}

/// An object in the kernel: its programs, maps and BTF, each closed when
/// this is dropped (the kernel frees a map once no program holds it, and no
/// pin: maps pinned by name outlive the object, as with libbpf).
#[derive(Debug)]
pub struct LoadedObject {
    progs: Vec<Prog>,
    maps: Vec<Map>,
    pinned_by_name: Vec<PinnedByName>,
    btf: Option<Btf>,
    btf_dropped: Option<KernelError>,
    sanitized: Sanitized,
    maps_without_btf: Vec<(String, KernelError)>,
    empty_slots: Vec<EmptySlot>,
}

impl Bpf {
    /// Loads `object` (from [`Object::load`]) into the kernel: see the
    /// module's documentation for the steps. A failure at any step closes
    /// everything created before it; a program the verifier refuses is
    /// [`KernelError::Rejected`] with its log, any other failure is
    /// [`KernelError::InObject`] naming the map, program or BTF.
    pub fn load_object(
        &self,
        object: &Object,
        which: ProgramSelection<'_>,
        options: &ObjectLoadOptions,
    ) -> Result<LoadedObject, KernelError> {
        let programs = select(object, which)?;
        let specs = needed_maps(object, &programs, which)?;
        let mut loaded = LoadedObject {
            progs: Vec::new(),
            maps: Vec::new(),
            pinned_by_name: Vec::new(),
            btf: None,
            btf_dropped: None,
            sanitized: Sanitized::default(),
            maps_without_btf: Vec::new(),
            empty_slots: Vec::new(),
        };
        let mut func_info = true;
        if let Some(btf) = object.btf().filter(|_| options.btf != BtfPolicy::Skip) {
            let features = match options.btf_features {
                Some(features) => features,
                None => BtfFeatures::probe(self).map_err(|e| in_object("btf feature probe", e))?,
            };
            let mut btf = btf.clone();
            loaded.sanitized = sanitize(&mut btf, &features);
            func_info = features.func;
            match self.load_btf(&btf.to_bytes(), &BtfLoadOptions::default()) {
                Ok(kernel_btf) => loaded.btf = Some(kernel_btf),
                // libbpf's rule: BTF is optional unless asked for.
                Err(e) if options.btf == BtfPolicy::Load => loaded.btf_dropped = Some(e),
                Err(e) => return Err(in_object("the object's btf", e)),
            }
        }

        // Pins this load makes are removed if a later step fails.
        let mut new_pins = NewPins::default();
        for spec in &specs {
            let pin = options.pin_root.as_ref().filter(|_| spec.pinning == Pinning::ByName).map(|r| r.join(&spec.name));
            let map = match pin {
                Some(path) => self.pinned_object_map(spec, path, &mut loaded, &mut new_pins)?,
                None => self.create_object_map(spec, &mut loaded)?,
            };
            loaded.maps.push(map);
        }
        for outer in
            loaded.maps.iter().filter(|m| matches!(m.spec().map_type, MapType::ArrayOfMaps | MapType::HashOfMaps))
        {
            for (slot, name) in &outer.spec().initial_slots {
                let inner = loaded.map(name).ok_or_else(|| KernelError::NoSuchMap {
                    name: name.clone(),
                    wanted_by: format!("slot {slot} of map `{}`", outer.spec().name),
                })?;
                let fd = inner.fd().as_raw_fd() as u32;
                outer
                    .update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), UpdateFlags::ANY)
                    .map_err(|e| in_object(&format!("slot {slot} of map `{}`", outer.spec().name), e))?;
            }
        }

        for program in &programs {
            let fds: Vec<RawFd> = program
                .maps
                .iter()
                .map(|spec| {
                    loaded.map(&spec.name).map(|m| m.fd().as_raw_fd()).ok_or_else(|| KernelError::NoSuchMap {
                        name: spec.name.clone(),
                        wanted_by: format!("program `{}`", program.name),
                    })
                })
                .collect::<Result<_, _>>()?;
            let prog_options = ProgLoadOptions {
                log_level: options.log_level,
                log_start: options.log_start,
                log_limit: options.log_limit,
                btf: loaded.btf.as_ref(),
                func_info,
                ..ProgLoadOptions::default()
            };
            let prog = self.load_program_fds(program, &fds, &prog_options).map_err(|e| match e {
                KernelError::Rejected(_) => e,
                e => in_object(&format!("program `{}`", program.name), e),
            })?;
            loaded.progs.push(prog);
        }

        for array in loaded.maps.iter().filter(|m| m.spec().map_type == MapType::ProgArray) {
            for (slot, name) in &array.spec().initial_slots {
                let Some(prog) = loaded.prog(name) else {
                    if object.program(name).is_some() {
                        let map = array.spec().name.clone();
                        loaded.empty_slots.push(EmptySlot { map, slot: *slot, program: name.clone() });
                        continue;
                    }
                    return Err(KernelError::NoSuchProgram { name: name.clone(), available: names(object) });
                };
                let fd = prog.fd().as_raw_fd() as u32;
                array
                    .update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), UpdateFlags::ANY)
                    .map_err(|e| in_object(&format!("slot {slot} of map `{}`", array.spec().name), e))?;
            }
        }
        new_pins.keep();
        Ok(loaded)
    }

    /// A map the object pins by name at `path`: the one pinned there when
    /// it is compatible (libbpf's reuse), else a new one, pinned.
    fn pinned_object_map(
        &self,
        spec: &MapSpec,
        path: PathBuf,
        loaded: &mut LoadedObject,
        new_pins: &mut NewPins,
    ) -> Result<Map, KernelError> {
        let what = || format!("map `{}` (pinned by name at {})", spec.name, path.display());
        let reused = path.exists();
        let map = if reused {
            let fd = self.get_pinned(&path).map_err(|e| in_object(&what(), e))?;
            self.reuse_map(fd, spec).map_err(|e| in_object(&what(), e))?
        } else {
            let map = self.create_object_map(spec, loaded)?;
            self.pin(map.fd(), &path).map_err(|e| in_object(&what(), e))?;
            new_pins.0.push(path.clone());
            map
        };
        loaded.pinned_by_name.push(PinnedByName { map: spec.name.clone(), path, reused });
        Ok(map)
    }

    /// One map of an object, with its BTF types when the BTF loaded (and
    /// without them if the kernel refuses them for this map, as libbpf
    /// retries), its global data written, read-only global data frozen.
    fn create_object_map(&self, spec: &MapSpec, loaded: &mut LoadedObject) -> Result<Map, KernelError> {
        let what = || format!("map `{}`", spec.name);
        let with_btf = MapOptions { btf: loaded.btf.as_ref(), inner_map: None };
        let map = match self.create_map_with(spec, &with_btf) {
            Err(KernelError::Syscall(e))
                if e.call == Cmd::MapCreate
                    && with_btf.btf.is_some()
                    && spec.btf_value_type_id != 0
                    && btf_refusal(e.errno) =>
            {
                let map = self.create_map_with(spec, &MapOptions::default()).map_err(|e| in_object(&what(), e))?;
                loaded.maps_without_btf.push((spec.name.clone(), e.into()));
                map
            }
            other => other.map_err(|e| in_object(&what(), e))?,
        };
        if spec.name.starts_with('.') && spec.flags & F_RDONLY_PROG != 0 {
            map.freeze().map_err(|e| in_object(&what(), e))?;
        }
        Ok(map)
    }
}

/// Pins made by a load still in progress: removed when dropped before
/// [`NewPins::keep`], so a failed load leaves no pin behind.
#[derive(Default)]
struct NewPins(Vec<PathBuf>);

impl NewPins {
    fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for NewPins {
    fn drop(&mut self) {
        for path in &self.0 {
            // Best effort: the load's own error is the one to report.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl LoadedObject {
    /// The maps pinned by name (with [`ObjectLoadOptions::pin_root`]), in
    /// the object's order.
    pub fn pinned_by_name(&self) -> &[PinnedByName] {
        &self.pinned_by_name
    }

    /// The loaded programs, in the object's order.
    pub fn progs(&self) -> &[Prog] {
        &self.progs
    }

    /// The program loaded for function `name`.
    pub fn prog(&self, name: &str) -> Option<&Prog> {
        self.progs.iter().find(|p| p.name() == name)
    }

    /// The maps, in the object's order.
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// The map named `name` in the object (`.rodata`, `m_hash`).
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.spec().name == name)
    }

    /// The object's BTF in the kernel; `None` when it has none, it was
    /// skipped, or the kernel refused it ([`LoadedObject::btf_dropped`]).
    pub fn btf(&self) -> Option<&Btf> {
        self.btf.as_ref()
    }

    /// Why the object was loaded without its BTF, when the kernel refused it.
    pub fn btf_dropped(&self) -> Option<&KernelError> {
        self.btf_dropped.as_ref()
    }

    /// What the BTF sanitiser rewrote for this kernel.
    pub fn btf_sanitized(&self) -> Sanitized {
        self.sanitized
    }

    /// Maps the kernel refused with their BTF types, created without them,
    /// and the refusal.
    pub fn maps_without_btf(&self) -> &[(String, KernelError)] {
        &self.maps_without_btf
    }

    /// Program-array slots left empty because their program was not
    /// selected.
    pub fn empty_slots(&self) -> &[EmptySlot] {
        &self.empty_slots
    }

    /// Each program's name and verifier log.
    pub fn logs(&self) -> impl Iterator<Item = (&str, &VerifierLog)> {
        self.progs.iter().map(|p| (p.name(), p.log()))
    }
}

/// The errnos of a map creation the map's BTF types may have caused.
fn btf_refusal(errno: Errno) -> bool {
    matches!(errno.0, libc::EINVAL | libc::EOPNOTSUPP | 524)
}

fn in_object(what: &str, source: KernelError) -> KernelError {
    KernelError::InObject { what: what.to_owned(), source: Box::new(source) }
}

fn names(object: &Object) -> String {
    object.programs().iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The programs `which` names, in the object's order.
fn select<'o>(object: &'o Object, which: ProgramSelection<'_>) -> Result<Vec<&'o Program>, KernelError> {
    match which {
        ProgramSelection::All => Ok(object.programs().iter().collect()),
        ProgramSelection::Named(wanted) => {
            if let Some(missing) = wanted.iter().find(|n| object.program(n).is_none()) {
                return Err(KernelError::NoSuchProgram { name: (*missing).to_owned(), available: names(object) });
            }
            Ok(object.programs().iter().filter(|p| wanted.contains(&p.name.as_str())).collect())
        }
    }
}

/// The maps to create, in the object's order: all of them, or those the
/// programs use and the maps those hold in their initial slots.
fn needed_maps<'o>(
    object: &'o Object,
    programs: &[&Program],
    which: ProgramSelection<'_>,
) -> Result<Vec<&'o MapSpec>, KernelError> {
    if which == ProgramSelection::All {
        return Ok(object.maps().iter().collect());
    }
    let mut wanted: BTreeSet<&str> = programs.iter().flat_map(|p| p.maps.iter().map(|m| m.name.as_str())).collect();
    let mut todo: Vec<&str> = wanted.iter().copied().collect();
    while let Some(name) = todo.pop() {
        let spec = object.maps().iter().find(|m| m.name == name).ok_or_else(|| KernelError::NoSuchMap {
            name: name.to_owned(),
            wanted_by: "the selected programs".to_owned(),
        })?;
        if matches!(spec.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
            for (_, inner) in &spec.initial_slots {
                if wanted.insert(inner) {
                    todo.push(inner);
                }
            }
        }
    }
    Ok(object.maps().iter().filter(|m| wanted.contains(m.name.as_str())).collect())
}
