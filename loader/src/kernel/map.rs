//! Kernel maps: `BPF_MAP_CREATE` from a [`MapSpec`] and the element
//! commands on the map's fd.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

use super::attr::{MapBatchAttr, MapCreateAttr, MapElemAttr, MapInfoRaw, ptr, ptr_mut};
use super::btf::Btf;
use super::error::{KernelError, SyscallError};
use super::sys::Cmd;
use super::{Bpf, name_text, obj_name};

/// `BPF_MAP_UPDATE_ELEM` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpdateFlags(pub u64);

impl UpdateFlags {
    /// `BPF_ANY`: create or replace.
    pub const ANY: UpdateFlags = UpdateFlags(0);
    /// `BPF_NOEXIST`: create only.
    pub const NOEXIST: UpdateFlags = UpdateFlags(1);
    /// `BPF_EXIST`: replace only.
    pub const EXIST: UpdateFlags = UpdateFlags(2);
    /// `BPF_F_LOCK`: update under the value's `bpf_spin_lock`.
    pub const LOCK: UpdateFlags = UpdateFlags(4);
}

/// What a map needs beyond its [`MapSpec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MapOptions<'a> {
    /// The object's BTF, loaded, which [`MapSpec::btf_key_type_id`] and
    /// [`MapSpec::btf_value_type_id`] refer to. Without it (or without a
    /// value type id) the map is created by sizes alone.
    pub btf: Option<&'a Btf>,
    /// For a map of maps: a map like the ones it will hold, instead of one
    /// made from [`MapSpec::inner_map`] for the creation only.
    pub inner_map: Option<&'a Map>,
}

/// `BPF_F_NUMA_NODE`: `numa_node` is meaningful.
const F_NUMA_NODE: u32 = 1 << 2;

/// A map as the kernel's `BPF_OBJ_GET_INFO_BY_FD` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// The kernel's map type number ([`MapType::from_value`] names it).
    pub map_type: u32,
    /// The map's id, unique while the map lives.
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// The name the kernel keeps (at most 15 characters).
    pub name: String,
    /// The id of the BTF object its key and value types are in; 0 for a
    /// map created without BTF.
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub map_extra: u64,
}

/// One entry of a map as user space reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub key: Vec<u8>,
    /// The value; for a per-CPU map, every possible CPU's in CPU order,
    /// each padded to 8 bytes ([`Map::cpu_values`] splits them).
    pub value: Vec<u8>,
}

/// A map in the kernel, closed when dropped (the kernel frees it once no
/// program uses it either).
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    bpf: Bpf,
    spec: MapSpec,
    value_len: usize,
}

impl Bpf {
    /// `BPF_MAP_CREATE` for `spec`, then its initial data (if any) written
    /// at key 0. The name is cut to what the kernel keeps. Initial slots
    /// of maps of maps and program arrays and pinning are left to the
    /// caller, which knows the other objects.
    pub fn create_map(&self, spec: &MapSpec) -> Result<Map, KernelError> {
        self.create_map_with(spec, &MapOptions::default())
    }

    /// [`Bpf::create_map`] with BTF types, an inner map or `map_extra`.
    pub fn create_map_with(&self, spec: &MapSpec, options: &MapOptions<'_>) -> Result<Map, KernelError> {
        let mut attr = MapCreateAttr {
            map_type: spec.map_type.value(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            map_name: obj_name(&spec.name),
            map_extra: spec.map_extra,
            ..MapCreateAttr::default()
        };
        if let Some(node) = spec.numa_node {
            attr.numa_node = node;
            attr.map_flags |= F_NUMA_NODE;
        }
        // The template only shapes the outer map: the kernel copies what it
        // needs, so a template made here is closed right after.
        let template = match (options.inner_map, &spec.inner_map) {
            (None, Some(inner)) => {
                Some(self.create_map_with(inner, &MapOptions { btf: options.btf, inner_map: None })?)
            }
            _ => None,
        };
        if let Some(inner) = options.inner_map.or(template.as_ref()) {
            attr.inner_map_fd = inner.fd.as_raw_fd() as u32;
        }
        if let Some(btf) = options.btf.filter(|_| spec.btf_value_type_id != 0) {
            attr.btf_fd = btf.fd().as_raw_fd() as u32;
            attr.btf_key_type_id = spec.btf_key_type_id;
            attr.btf_value_type_id = spec.btf_value_type_id;
        }
        let fd = self.call_fd(Cmd::MapCreate, &mut attr).map_err(|e| {
            let cause = (e.raw_os_error() == Some(libc::EINVAL)).then(|| einval_cause(spec, options)).flatten();
            SyscallError::with_cause(Cmd::MapCreate, e, cause)
        })?;
        let value_len = user_value_len(spec.map_type, spec.value_size)?;
        let map = Map { fd, bpf: self.clone(), spec: spec.clone(), value_len };
        if let Some(data) = &spec.initial_data {
            map.write_initial_data(data)?;
        }
        Ok(map)
    }

    /// The map of `fd` (one pinned by name) taken for `spec`, as libbpf
    /// reuses a pinned map: only when the kernel's map has the type, sizes,
    /// entries and flags `spec` asks for; its contents are left as they are.
    pub fn reuse_map(&self, fd: OwnedFd, spec: &MapSpec) -> Result<Map, KernelError> {
        let info = self.map_info(fd.as_fd())?;
        let fields = [
            ("type", info.map_type, spec.map_type.value()),
            ("key_size", info.key_size, spec.key_size),
            ("value_size", info.value_size, spec.value_size),
            ("max_entries", info.max_entries, spec.max_entries),
            ("map_flags", info.map_flags, spec.flags),
        ];
        if let Some(&(field, pinned, wanted)) = fields.iter().find(|(_, pinned, wanted)| pinned != wanted) {
            return Err(KernelError::Incompatible { map: spec.name.clone(), field, pinned, wanted });
        }
        let value_len = user_value_len(spec.map_type, spec.value_size)?;
        Ok(Map { fd, bpf: self.clone(), spec: spec.clone(), value_len })
    }

    /// What the kernel says about the map of `fd` (a pinned one, one
    /// opened by id).
    pub fn map_info(&self, fd: BorrowedFd<'_>) -> Result<MapInfo, KernelError> {
        let raw: MapInfoRaw = self.info(fd)?;
        Ok(MapInfo {
            map_type: raw.map_type,
            id: raw.id,
            key_size: raw.key_size,
            value_size: raw.value_size,
            max_entries: raw.max_entries,
            map_flags: raw.map_flags,
            name: name_text(&raw.name),
            btf_id: raw.btf_id,
            btf_key_type_id: raw.btf_key_type_id,
            btf_value_type_id: raw.btf_value_type_id,
            map_extra: raw.map_extra,
        })
    }

    /// A handle on an existing map (pinned, or opened by id), its spec
    /// read back from the kernel.
    pub fn open_map(&self, fd: OwnedFd) -> Result<Map, KernelError> {
        let info = self.map_info(fd.as_fd())?;
        let map_type =
            MapType::from_value(info.map_type).ok_or(KernelError::UnknownMapType { value: info.map_type })?;
        let spec = MapSpec {
            name: info.name,
            map_type,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            flags: info.map_flags,
            ..MapSpec::default()
        };
        let value_len = user_value_len(map_type, spec.value_size)?;
        Ok(Map { fd, bpf: self.clone(), spec, value_len })
    }

    /// Every map of `specs`, in order, their BTF types from `btf`; on a
    /// failure the maps created so far are closed.
    pub fn create_maps(&self, specs: &[MapSpec], btf: Option<&Btf>) -> Result<Vec<Map>, KernelError> {
        specs.iter().map(|spec| self.create_map_with(spec, &MapOptions { btf, inner_map: None })).collect()
    }
}

impl Map {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The spec it was created from.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The bytes of a value as user space reads and writes it: for a
    /// per-CPU map, one value per possible CPU, each rounded up to 8 bytes.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// The value at `key`, `None` when there is none.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KernelError> {
        self.check_key(key)?;
        let mut value = vec![0u8; self.value_len];
        let mut attr = self.elem_attr(key, ptr_mut(&mut value), 0);
        match self.bpf.call(Cmd::MapLookupElem, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(SyscallError::new(Cmd::MapLookupElem, e).into()),
        }
    }

    /// Sets the value at `key` (all CPUs' values for a per-CPU map).
    pub fn update(&self, key: &[u8], value: &[u8], flags: UpdateFlags) -> Result<(), KernelError> {
        self.check_key(key)?;
        self.check_len("value", value.len(), self.value_len)?;
        let mut attr = self.elem_attr(key, ptr(value), flags.0);
        self.bpf.call(Cmd::MapUpdateElem, &mut attr).map_err(|e| SyscallError::new(Cmd::MapUpdateElem, e))?;
        Ok(())
    }

    /// Deletes `key`; whether it was there.
    pub fn delete(&self, key: &[u8]) -> Result<bool, KernelError> {
        self.check_key(key)?;
        let mut attr = self.elem_attr(key, 0, 0);
        match self.bpf.call(Cmd::MapDeleteElem, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(SyscallError::new(Cmd::MapDeleteElem, e).into()),
        }
    }

    /// The key after `key` in the kernel's order (the first with `None`,
    /// or with a key not in the map); `None` after the last.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, KernelError> {
        if let Some(key) = key {
            self.check_key(key)?;
        }
        let mut next = vec![0u8; self.spec.key_size as usize];
        let mut attr = self.elem_attr(key.unwrap_or_default(), ptr_mut(&mut next), 0);
        match self.bpf.call(Cmd::MapGetNextKey, &mut attr) {
            Ok(_) => Ok(Some(next)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(SyscallError::new(Cmd::MapGetNextKey, e).into()),
        }
    }

    /// Every key, in the kernel's order (a map changed meanwhile may skip
    /// or repeat keys, as in the kernel).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, KernelError> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        while let Some(next) = self.next_key(keys.last().map(Vec::as_slice))? {
            keys.push(next);
        }
        Ok(keys)
    }

    /// Every entry, in the kernel's order: `BPF_MAP_LOOKUP_BATCH` where the
    /// map type has it, else a key walk with one lookup per key (an entry
    /// deleted between the two is left out). For comparing a map's
    /// contents with the interpreter's after a run.
    pub fn dump(&self) -> Result<Vec<MapEntry>, KernelError> {
        match self.dump_batch() {
            Err(KernelError::Syscall(e)) if batch_unsupported(e.errno.0) => {}
            other => return other,
        }
        let keys = self.keys().map_err(|e| match e {
            KernelError::Syscall(e) if !has_keys(self.spec.map_type) => {
                let cause = format!("a {} map has no keys to walk, so it cannot be dumped", self.spec.map_type);
                KernelError::Syscall(SyscallError::with_cause(e.call, e.source, Some(cause)))
            }
            e => e,
        })?;
        let mut entries = Vec::new();
        for key in keys {
            if let Some(value) = self.lookup(&key)? {
                entries.push(MapEntry { key, value });
            }
        }
        Ok(entries)
    }

    /// `BPF_MAP_LOOKUP_BATCH` until the kernel says the map is done.
    fn dump_batch(&self) -> Result<Vec<MapEntry>, KernelError> {
        let key_size = self.spec.key_size as usize;
        // A batch of the whole map, or of 256 entries for larger ones.
        let mut chunk = self.spec.max_entries.clamp(1, 256);
        // The position token is the kernel's (a bucket or an index, at most
        // a key's size); a key-sized buffer of at least 8 bytes holds it.
        let token_len = key_size.max(8);
        let (mut token, mut next) = (vec![0u8; token_len], vec![0u8; token_len]);
        let mut entries = Vec::new();
        let mut first = true;
        loop {
            let mut keys = vec![0u8; key_size * chunk as usize];
            let mut values = vec![0u8; self.value_len * chunk as usize];
            let mut attr = MapBatchAttr {
                in_batch: if first { 0 } else { ptr(&token) },
                out_batch: ptr_mut(&mut next),
                keys: ptr_mut(&mut keys),
                values: ptr_mut(&mut values),
                count: chunk,
                map_fd: self.raw_fd(),
                ..MapBatchAttr::default()
            };
            let result = self.bpf.call(Cmd::MapLookupBatch, &mut attr);
            let done = match result {
                Ok(_) => false,
                // ENOENT: this batch (possibly empty) was the last.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
                // A hash bucket holds more entries than the batch has room
                // for: the same batch again, larger.
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && chunk < self.spec.max_entries => {
                    chunk = chunk.saturating_mul(2).min(self.spec.max_entries);
                    continue;
                }
                Err(e) => return Err(SyscallError::new(Cmd::MapLookupBatch, e).into()),
            };
            let count = (attr.count as usize).min(chunk as usize);
            for i in 0..count {
                entries.push(MapEntry {
                    key: keys[i * key_size..(i + 1) * key_size].to_vec(),
                    value: values[i * self.value_len..(i + 1) * self.value_len].to_vec(),
                });
            }
            if done {
                return Ok(entries);
            }
            std::mem::swap(&mut token, &mut next);
            first = false;
        }
    }

    /// A value as [`Map::lookup`] or [`Map::dump`] gave it, split into one
    /// value per possible CPU for a per-CPU map (each `value_size` bytes,
    /// the padding left out); the value alone otherwise.
    pub fn cpu_values<'v>(&self, value: &'v [u8]) -> Vec<&'v [u8]> {
        if !per_cpu(self.spec.map_type) {
            return vec![value];
        }
        let size = self.spec.value_size as usize;
        value.chunks(size.next_multiple_of(8).max(1)).map(|c| &c[..size.min(c.len())]).collect()
    }

    /// `BPF_MAP_FREEZE`: user space can no longer write the map (programs
    /// still can, unless it was created `BPF_F_RDONLY_PROG`).
    pub fn freeze(&self) -> Result<(), KernelError> {
        let mut attr = MapElemAttr { map_fd: self.raw_fd(), ..MapElemAttr::default() };
        self.bpf.call(Cmd::MapFreeze, &mut attr).map_err(|e| SyscallError::new(Cmd::MapFreeze, e))?;
        Ok(())
    }

    /// What the kernel says about the map.
    pub fn info(&self) -> Result<MapInfo, KernelError> {
        self.bpf.map_info(self.fd())
    }

    fn raw_fd(&self) -> u32 {
        self.fd.as_raw_fd() as u32
    }

    fn elem_attr(&self, key: &[u8], value: u64, flags: u64) -> MapElemAttr {
        MapElemAttr { map_fd: self.raw_fd(), key: ptr(key), value, flags, ..MapElemAttr::default() }
    }

    /// The kernel reads `key_size` bytes from the key pointer: a key of
    /// any other length never reaches it.
    fn check_key(&self, key: &[u8]) -> Result<(), KernelError> {
        self.check_len("key", key.len(), self.spec.key_size as usize)
    }

    fn check_len(&self, what: &'static str, len: usize, expected: usize) -> Result<(), KernelError> {
        if len == expected {
            Ok(())
        } else {
            Err(KernelError::Size { map: self.spec.name.clone(), what, len, expected })
        }
    }

    /// Global data: `data` (zero-padded to the value size) at key 0.
    fn write_initial_data(&self, data: &[u8]) -> Result<(), KernelError> {
        self.check_len("key", 4, self.spec.key_size as usize)?;
        if data.len() > self.value_len {
            return Err(KernelError::Size {
                map: self.spec.name.clone(),
                what: "initial data",
                len: data.len(),
                expected: self.value_len,
            });
        }
        let mut value = data.to_vec();
        value.resize(self.value_len, 0);
        self.update(&0u32.to_ne_bytes(), &value, UpdateFlags::ANY)
    }
}

/// The errnos of a map type without batch operations: the kernel's
/// internal ENOTSUPP, or EOPNOTSUPP / EINVAL from older kernels.
fn batch_unsupported(errno: i32) -> bool {
    matches!(errno, 524 | libc::EOPNOTSUPP | libc::EINVAL)
}

/// Whether user space can walk the map's keys (`BPF_MAP_GET_NEXT_KEY`):
/// queues, stacks, bloom filters, ring buffers, arenas and local storage
/// have none.
fn has_keys(map_type: MapType) -> bool {
    use MapType::*;
    !matches!(
        map_type,
        Queue
            | Stack
            | BloomFilter
            | Ringbuf
            | UserRingbuf
            | Arena
            | SkStorage
            | InodeStorage
            | TaskStorage
            | CgrpStorage
    )
}

/// Whether user space sees one value per possible CPU.
fn per_cpu(map_type: MapType) -> bool {
    matches!(
        map_type,
        MapType::PercpuHash | MapType::PercpuArray | MapType::LruPercpuHash | MapType::PercpuCgroupStorage
    )
}

fn user_value_len(map_type: MapType, value_size: u32) -> Result<usize, KernelError> {
    if !per_cpu(map_type) {
        return Ok(value_size as usize);
    }
    Ok((value_size as usize).next_multiple_of(8) * possible_cpus()? as usize)
}

const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// The number of possible CPUs (`num_possible_cpus()`), from
/// `/sys/devices/system/cpu/possible` (`0-3,8-11`): the count of per-CPU
/// values the kernel copies to and from user space.
pub fn possible_cpus() -> Result<u32, KernelError> {
    static CPUS: OnceLock<Result<u32, String>> = OnceLock::new();
    CPUS.get_or_init(|| {
        let text = std::fs::read_to_string(POSSIBLE).map_err(|e| e.to_string())?;
        count_cpu_list(text.trim()).ok_or_else(|| format!("not a cpu list: {:?}", text.trim()))
    })
    .clone()
    .map_err(|reason| KernelError::PossibleCpus { path: POSSIBLE, reason })
}

/// The number of CPUs in a list such as `0-3,8-11` or `0`.
fn count_cpu_list(list: &str) -> Option<u32> {
    let mut count = 0u32;
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (u32, u32) = (lo.parse().ok()?, hi.parse().ok()?);
        count = count.checked_add(hi.checked_sub(lo)?.checked_add(1)?)?;
    }
    (count > 0).then_some(count)
}

/// The attribute a map type is known to refuse with EINVAL, if `spec`
/// breaks one of those rules (`kernel/bpf/*map*.c`'s alloc checks).
fn einval_cause(spec: &MapSpec, options: &MapOptions<'_>) -> Option<String> {
    use MapType::*;
    let t = spec.map_type;
    let array = matches!(t, Array | PercpuArray | ProgArray | PerfEventArray | CgroupArray | ArrayOfMaps);
    let hash = matches!(t, Hash | PercpuHash | LruHash | LruPercpuHash | HashOfMaps);
    if array && spec.key_size != 4 {
        return Some(format!("key_size must be 4 for a {t} map, not {}", spec.key_size));
    }
    if matches!(t, ProgArray | PerfEventArray | CgroupArray | ArrayOfMaps | HashOfMaps) && spec.value_size != 4 {
        return Some(format!("value_size must be 4 (a descriptor) for a {t} map, not {}", spec.value_size));
    }
    if hash && spec.key_size == 0 {
        return Some(format!("key_size must not be 0 for a {t} map"));
    }
    if (array || hash || t == LpmTrie) && spec.value_size == 0 {
        return Some(format!("value_size must not be 0 for a {t} map"));
    }
    if (array || hash || matches!(t, LpmTrie | Queue | Stack | Ringbuf)) && spec.max_entries == 0 {
        return Some(format!("max_entries must not be 0 for a {t} map"));
    }
    if matches!(t, Queue | Stack) && spec.key_size != 0 {
        return Some(format!("key_size must be 0 for a {t} map, not {}", spec.key_size));
    }
    if t == Ringbuf && (spec.key_size != 0 || spec.value_size != 0) {
        return Some("key_size and value_size must be 0 for a ringbuf map".to_owned());
    }
    if t == Ringbuf && !(spec.max_entries.is_power_of_two() && spec.max_entries.is_multiple_of(page_size())) {
        return Some(format!(
            "max_entries {} of a ringbuf map must be a power of 2 multiple of the page size",
            spec.max_entries
        ));
    }
    if t == LpmTrie && spec.flags & 1 == 0 {
        return Some("an lpm_trie map must be created with BPF_F_NO_PREALLOC (flags 0x1)".to_owned());
    }
    if let Some(cause) = flags_cause(spec) {
        return Some(cause);
    }
    if matches!(t, ArrayOfMaps | HashOfMaps) && options.inner_map.is_none() && spec.inner_map.is_none() {
        return Some(format!("a {t} map needs an inner map (MapSpec::inner_map or MapOptions::inner_map)"));
    }
    None
}

/// The `BPF_F_*` map flags a map type refuses (the checks of each type's
/// `map_alloc_check`).
fn flags_cause(spec: &MapSpec) -> Option<String> {
    use MapType::*;
    const NO_PREALLOC: u32 = 1 << 0;
    const NO_COMMON_LRU: u32 = 1 << 1;
    const NUMA_NODE: u32 = 1 << 2;
    const ACCESS: u32 = (1 << 3) | (1 << 4) | (1 << 7) | (1 << 8);
    const ZERO_SEED: u32 = 1 << 6;
    const MMAPABLE: u32 = 1 << 10;
    const PRESERVE_ELEMS: u32 = 1 << 11;
    const INNER_MAP: u32 = 1 << 12;
    const LINK: u32 = 1 << 13;
    const PATH_FD: u32 = 1 << 14;
    const VTYPE_BTF_OBJ_FD: u32 = 1 << 15;
    const TOKEN_FD: u32 = 1 << 16;
    const SEGV_ON_FAULT: u32 = 1 << 17;
    const NO_USER_CONV: u32 = 1 << 18;
    const KNOWN: u32 = NO_PREALLOC
        | NO_COMMON_LRU
        | NUMA_NODE
        | ACCESS
        | ZERO_SEED
        | MMAPABLE
        | PRESERVE_ELEMS
        | INNER_MAP
        | LINK
        | PATH_FD
        | VTYPE_BTF_OBJ_FD
        | TOKEN_FD
        | SEGV_ON_FAULT
        | NO_USER_CONV;
    let (t, flags) = (spec.map_type, spec.flags);
    let unknown = flags & !KNOWN;
    if unknown != 0 {
        return Some(format!("map_flags {unknown:#x} are not BPF_F_* flags this kernel knows (map_flags {flags:#x})"));
    }
    let hash = matches!(t, Hash | PercpuHash | LruHash | LruPercpuHash | HashOfMaps);
    let storage = matches!(t, SkStorage | InodeStorage | TaskStorage | CgrpStorage);
    let array = matches!(t, Array | PercpuArray | ProgArray | PerfEventArray | CgroupArray | ArrayOfMaps);
    // (flag, its name, whether this map type takes it, which types do)
    let rules = [
        (NO_PREALLOC, "BPF_F_NO_PREALLOC", hash || storage || t == LpmTrie, "hash, lpm_trie and local storage maps"),
        (NO_COMMON_LRU, "BPF_F_NO_COMMON_LRU", matches!(t, LruHash | LruPercpuHash), "lru hash maps"),
        (MMAPABLE, "BPF_F_MMAPABLE", matches!(t, Array | Arena), "array and arena maps"),
        (INNER_MAP, "BPF_F_INNER_MAP", array, "array maps"),
        (PRESERVE_ELEMS, "BPF_F_PRESERVE_ELEMS", t == PerfEventArray, "perf_event_array maps"),
    ];
    if let Some((flag, name, _, takes)) = rules.iter().find(|(flag, _, ok, _)| flags & flag != 0 && !ok) {
        return Some(format!("map_flags has {name} ({flag:#x}), which only {takes} take, not a {t} map"));
    }
    if storage && flags & NO_PREALLOC == 0 {
        return Some(format!("a {t} map must be created with BPF_F_NO_PREALLOC (flags {NO_PREALLOC:#x})"));
    }
    if t == Arena && flags & MMAPABLE == 0 {
        return Some(format!("an arena map must be created with BPF_F_MMAPABLE (flags {MMAPABLE:#x})"));
    }
    None
}

fn page_size() -> u32 {
    // SAFETY: sysconf reads a constant of the running system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_every_cpu() {
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("0-1"), Some(2));
        assert_eq!(count_cpu_list("0-3,8-11"), Some(8));
        assert_eq!(count_cpu_list("0,2,4"), Some(3));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
    }
}
