//! Maps with the kernel's semantics.
//!
//! What it is: one type per kernel map family, behind the [`Map`] trait,
//! created from a [`MapSpec`] by [`create`] with the kernel's creation
//! checks, and answering each operation with the kernel's result: the same
//! errno for the same case, as Linux 6.12's source has it and as the running
//! kernel answers (`tests/maps.rs` replays operations on real maps through
//! bpf(2) and compares). Two sides:
//!
//! - the program side (`prog_*`, [`Map::push`], [`Map::pop`], [`Map::peek`]
//!   and the typed `as_*` views): what the helpers call. Lookups return a
//!   pointer into map memory; per-CPU maps act on the value of the `cpu`
//!   given;
//! - the user side ([`Map::lookup`], [`Map::update`], [`Map::delete`],
//!   [`Map::lookup_and_delete`], [`Map::next_key`], [`Map::dump`]): what
//!   bpf(2) does, for users and the CLI. Values are copies; per-CPU maps read
//!   and write every CPU's value at once, each rounded up to 8 bytes
//!   ([`Map::user_value_size`]). Where the kernel's answer depends on the
//!   CPU the syscall runs on (per-CPU LRU lists), the user side is CPU 0.
//!
//! What it is not: it knows nothing of programs, packets, devices or BTF. A
//! prog array holds program *indices* the runtime resolves, a devmap holds
//! ifindexes nobody checks, a map-in-map holds inner map *indices*. Values
//! never hold a spin lock, so `BPF_F_LOCK` fails with `-EINVAL` as it does
//! in the kernel for such values.
//!
//! Memory: every map keeps its values in memory allocated once, when the map
//! is created (as the kernel's preallocated maps do), and never moved. A
//! pointer a program got from a lookup stays inside the map's memory
//! ([`Map::memory`]) for as long as the map lives, so the engines check
//! accesses against a region table built once per load. What that memory
//! holds after a delete follows the kernel: a preallocated hash map reuses a
//! freed slot at once (a stale pointer then sees the new entry's value, as in
//! the kernel); a `BPF_F_NO_PREALLOC` one (and an LPM trie) keeps freed
//! slots out of use until [`Map::end_run`] (the kernel's RCU grace period),
//! unless it has nothing else left. Bookkeeping sized by `max_entries` costs
//! memory only where used, and a map too large to allocate is an `ENOMEM`
//! [`CreateError`], not an abort.

mod array;
mod bloom;
mod fd_array;
mod hash;
mod list;
mod lpm;
mod mem;
mod perf;
mod queue;
mod redirect;
mod ringbuf;

use std::fmt;
use std::ptr::NonNull;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

pub use array::ArrayMap;
pub use bloom::BloomFilter;
pub use fd_array::FdArray;
pub use hash::HashTable;
pub use lpm::LpmTrie;
pub use perf::{PerfEvent, PerfEventArray};
pub use queue::QueueStack;
pub use redirect::{RedirectMap, RedirectTarget};
pub use ringbuf::RingBuf;

/// Flags and constants of the kernel's uapi (`linux/bpf.h`), by their names.
pub mod flags {
    /// Update flags (`bpf_map_update_elem`, `BPF_MAP_UPDATE_ELEM`).
    pub const BPF_ANY: u64 = 0;
    pub const BPF_NOEXIST: u64 = 1;
    pub const BPF_EXIST: u64 = 2;
    pub const BPF_F_LOCK: u64 = 4;

    /// Map creation flags (`map_flags`).
    pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
    pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
    pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
    pub const BPF_F_RDONLY: u32 = 1 << 3;
    pub const BPF_F_WRONLY: u32 = 1 << 4;
    pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
    pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
    pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
    pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
    pub const BPF_F_CLONE: u32 = 1 << 9;
    pub const BPF_F_MMAPABLE: u32 = 1 << 10;
    pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
    pub const BPF_F_INNER_MAP: u32 = 1 << 12;
    /// The kernel's `BPF_F_ACCESS_MASK`.
    pub const BPF_F_ACCESS_MASK: u32 = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;

    /// Ring buffer output/submit/discard flags.
    pub const BPF_RB_NO_WAKEUP: u64 = 1 << 0;
    pub const BPF_RB_FORCE_WAKEUP: u64 = 1 << 1;
    /// `bpf_ringbuf_query` selectors.
    pub const BPF_RB_AVAIL_DATA: u64 = 0;
    pub const BPF_RB_RING_SIZE: u64 = 1;
    pub const BPF_RB_CONS_POS: u64 = 2;
    pub const BPF_RB_PROD_POS: u64 = 3;
    /// Ring buffer record header bits and size.
    pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
    pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
    pub const BPF_RINGBUF_HDR_SZ: u32 = 8;

    /// `bpf_perf_event_output` flags.
    pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
    pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
    pub const BPF_F_CTXLEN_MASK: u64 = 0xf_ffff << 32;

    /// `bpf_redirect_map` flags (the low two bits are the action on a miss).
    pub const BPF_F_BROADCAST: u64 = 1 << 3;
    pub const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;
}

/// The kernel's `MAX_TAIL_CALL_CNT`: how many tail calls one run may make.
pub const MAX_TAIL_CALL_CNT: u32 = 33;

/// The page size ring buffer sizes are multiples of (4 KiB, as on x86-64).
pub const PAGE_SIZE: u32 = 4096;

/// Why a map operation failed, with the kernel's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// `-ENOENT`: no such key (or an empty queue/stack/ring).
    #[error("no such entry (ENOENT)")]
    NotFound,
    /// `-EEXIST`: `BPF_NOEXIST` and the key exists.
    #[error("entry exists (EEXIST)")]
    Exists,
    /// `-E2BIG`: the map is full (or an index is past `max_entries`).
    #[error("map is full (E2BIG)")]
    Full,
    /// `-EINVAL`: bad flags, sizes or operation for this map type.
    #[error("invalid argument (EINVAL)")]
    Invalid,
    /// `-ENOMEM`: no room (a ring buffer without space for a record).
    #[error("out of memory (ENOMEM)")]
    NoMem,
    /// `-EBUSY`: the operation is refused while in use.
    #[error("busy (EBUSY)")]
    Busy,
    /// `-EPERM`: the map's access flags forbid it (`BPF_F_RDONLY`, ...).
    #[error("operation not permitted (EPERM)")]
    Perm,
    /// `-ENOSPC`: an LPM trie is full.
    #[error("no space left (ENOSPC)")]
    NoSpace,
    /// `-ENODEV`: a cpumap key names a CPU that does not exist.
    #[error("no such device (ENODEV)")]
    NoDevice,
    /// `-EOVERFLOW`: a cpumap queue size is too large.
    #[error("value too large (EOVERFLOW)")]
    Overflow,
    /// `-EAGAIN`: no room in a ring buffer for `bpf_ringbuf_output`.
    #[error("try again (EAGAIN)")]
    Again,
    /// `-EOPNOTSUPP`: the operation does not apply to this map type.
    #[error("operation not supported (EOPNOTSUPP)")]
    OpNotSupp,
    /// `-ENOTSUPP` (524, kernel-internal): the map type has no such operation.
    #[error("operation not supported (ENOTSUPP)")]
    NotSupp,
}

impl MapError {
    /// The negative errno a helper returns for this error.
    pub const fn errno(self) -> i64 {
        -(match self {
            MapError::Perm => 1,
            MapError::NotFound => 2,
            MapError::Again => 11,
            MapError::NoMem => 12,
            MapError::Busy => 16,
            MapError::Exists => 17,
            MapError::NoDevice => 19,
            MapError::Invalid => 22,
            MapError::NoSpace => 28,
            MapError::Full => 7,
            MapError::Overflow => 75,
            MapError::OpNotSupp => 95,
            MapError::NotSupp => 524,
        })
    }

    /// The error for a positive errno value, if it is one maps return.
    pub fn from_errno(errno: i32) -> Option<MapError> {
        ALL_ERRORS.iter().copied().find(|e| e.errno() == -i64::from(errno))
    }
}

const ALL_ERRORS: [MapError; 13] = [
    MapError::NotFound,
    MapError::Exists,
    MapError::Full,
    MapError::Invalid,
    MapError::NoMem,
    MapError::Busy,
    MapError::Perm,
    MapError::NoSpace,
    MapError::NoDevice,
    MapError::Overflow,
    MapError::Again,
    MapError::OpNotSupp,
    MapError::NotSupp,
];

/// The result of a map operation.
pub type MapResult<T> = Result<T, MapError>;

/// A map the kernel would refuse to create, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot create map `{name}` ({map_type}): {rule}")]
pub struct CreateError {
    pub name: String,
    pub map_type: MapType,
    /// The rule broken, e.g. `key_size must be 4, not 8`.
    pub rule: String,
    /// What the kernel's `BPF_MAP_CREATE` returns for it.
    #[source]
    pub error: MapError,
}

/// A span of map memory that programs may address: the region the engines
/// check accesses against. `stride` is the size of one value (one CPU's, in
/// per-CPU maps; 8-byte aligned), for fault messages that name the element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapMemory {
    pub base: *mut u8,
    pub len: usize,
    pub stride: usize,
    /// Read-only to programs (`.rodata`, `BPF_F_RDONLY_PROG`).
    pub read_only: bool,
}

/// One key and its value, as the user side sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    /// [`Map::user_value_size`] bytes: every CPU's value for per-CPU maps.
    pub value: Vec<u8>,
}

/// A map: the operations of the kernel's `struct bpf_map_ops` that bpfx
/// uses, split into the program side and the user side (see the module
/// documentation). Type-specific operations are reached through the `as_*`
/// views, which return `None` for other map types.
///
/// Keys and values are passed as slices of exactly the sizes the map was
/// created with (the runtime reads `key_size` bytes from the program's
/// pointer); other lengths are refused with [`MapError::Invalid`] (or a
/// `None` lookup), never a panic.
pub trait Map: fmt::Debug + Send {
    /// What the map was created from.
    fn spec(&self) -> &MapSpec;

    /// How many CPUs per-CPU values exist for.
    fn cpus(&self) -> u32;

    /// The memory programs may address through pointers this map hands out,
    /// if it hands any out. Fixed for the map's life.
    fn memory(&self) -> Option<MapMemory>;

    /// Size of a value on the user side: `round_up(value_size, 8) * cpus`
    /// for per-CPU maps, 4 for fd-holding maps, else `value_size`.
    fn user_value_size(&self) -> usize {
        user_value_size(self.spec(), self.cpus())
    }

    // Program side.

    /// `bpf_map_lookup_elem`: the value for `key` (this `cpu`'s for per-CPU
    /// maps), or `None`. For an LRU map this counts as a use. For a
    /// map-in-map the value is the inner map's index (see
    /// [`Map::inner_map`]).
    fn prog_lookup(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>>;

    /// `bpf_map_lookup_percpu_elem`: `cpu`'s value in a per-CPU map; `None`
    /// for other maps or a `cpu` that does not exist.
    fn prog_lookup_percpu(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        let _ = (key, cpu);
        None
    }

    /// `bpf_map_update_elem` with `value_size` bytes (this `cpu`'s value for
    /// per-CPU maps; a new per-CPU entry gets zeroes for the other CPUs).
    fn prog_update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()>;

    /// `bpf_map_delete_elem`.
    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()>;

    /// `bpf_map_push_elem` (queue, stack, bloom filter); `BPF_MAP_UPDATE_ELEM`
    /// on those maps does the same.
    fn push(&mut self, value: &[u8], flags: u64) -> MapResult<()> {
        let _ = (value, flags);
        Err(MapError::Invalid)
    }

    /// `bpf_map_pop_elem` (queue, stack) into `value`;
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` on those maps does the same. When
    /// there is nothing ([`MapError::NotFound`]) `value` is zeroed: the
    /// kernel clears the program's buffer, so the helper copies it back
    /// either way.
    fn pop(&mut self, value: &mut [u8]) -> MapResult<()> {
        let _ = value;
        Err(MapError::Invalid)
    }

    /// `bpf_map_peek_elem`: copies the next value of a queue or stack into
    /// `value`; for a bloom filter `value` is the input, and the answer is
    /// `Ok` (maybe present) or [`MapError::NotFound`] (certainly absent).
    /// `BPF_MAP_LOOKUP_ELEM` on those maps does the same. An empty queue or
    /// stack zeroes `value`, as [`Map::pop`] does.
    fn peek(&self, value: &mut [u8]) -> MapResult<()> {
        let _ = value;
        Err(MapError::Invalid)
    }

    /// For a map-in-map, the index of the inner map stored under `key`.
    fn inner_map(&self, key: &[u8]) -> Option<u32> {
        let _ = key;
        None
    }

    /// The ring buffer view (reserve/submit/discard/output/query, consumer).
    fn as_ringbuf(&mut self) -> Option<&mut RingBuf> {
        None
    }

    /// The perf event array view (output, collected events).
    fn as_perf_event_array(&mut self) -> Option<&mut PerfEventArray> {
        None
    }

    /// The prog array view (tail call targets).
    fn as_prog_array(&self) -> Option<&FdArray> {
        None
    }

    /// The redirect view of a devmap, devmap_hash, cpumap or xskmap.
    fn as_redirect(&self) -> Option<&RedirectMap> {
        None
    }

    // User side (bpf(2)).

    /// `BPF_MAP_LOOKUP_ELEM`: a copy of [`Map::user_value_size`] bytes. Does
    /// not count as a use for LRU maps (as the kernel's syscall path).
    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>>;

    /// `BPF_MAP_UPDATE_ELEM` with [`Map::user_value_size`] bytes.
    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()>;

    /// `BPF_MAP_DELETE_ELEM`.
    fn delete(&mut self, key: &[u8]) -> MapResult<()>;

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (hash maps; queue and stack pop).
    fn lookup_and_delete(&mut self, key: &[u8]) -> MapResult<Vec<u8>> {
        let _ = key;
        Err(MapError::NotSupp)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key`, or the first key when
    /// `key` is `None` or not in the map; [`MapError::NotFound`] after the
    /// last.
    fn next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>>;

    /// A user-side value split per CPU: each CPU's `value_size` bytes for a
    /// per-CPU map (without the padding to 8), else the value itself.
    fn values_per_cpu<'v>(&self, value: &'v [u8]) -> Vec<&'v [u8]> {
        let size = self.spec().value_size as usize;
        let percpu =
            matches!(self.spec().map_type, MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash);
        if percpu && size != 0 {
            value.chunks(round_up8(size)).map(|v| &v[..size.min(v.len())]).collect()
        } else {
            vec![value]
        }
    }

    /// Every entry, in [`Map::next_key`] order (what `bpftool map dump`
    /// shows). Maps without keys (queue, stack) list their values in the
    /// order they would be popped, with empty keys.
    fn dump(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut key = None;
        while let Ok(next) = self.next_key(key.as_deref()) {
            if let Ok(value) = self.lookup(&next) {
                entries.push(Entry { key: next.clone(), value });
            }
            key = Some(next);
        }
        entries
    }

    /// The run is over: slots freed during it may be reused, and ring buffer
    /// records a faulted run left reserved are discarded.
    fn end_run(&mut self) {}

    /// Whether [`Map::end_run`] has anything to do for this map: asked once,
    /// when the runtime creates it, so a run visits only the maps that do.
    fn ends_runs(&self) -> bool {
        false
    }
}

/// Creates a map from its spec with `cpus` CPUs (per-CPU maps hold one
/// value per CPU; 1 gives deterministic replays), applying the kernel's
/// creation checks for its type.
pub fn create(spec: &MapSpec, cpus: u32) -> Result<Box<dyn Map>, CreateError> {
    let check = Check { spec };
    if cpus == 0 {
        return Err(check.fail(MapError::Invalid, "the number of cpus must be at least 1"));
    }
    Ok(match spec.map_type {
        MapType::Array | MapType::PercpuArray => Box::new(ArrayMap::new(spec, cpus)?),
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash | MapType::HashOfMaps => {
            Box::new(HashTable::new(spec, cpus)?)
        }
        MapType::LpmTrie => Box::new(LpmTrie::new(spec, cpus)?),
        MapType::ProgArray | MapType::ArrayOfMaps => Box::new(FdArray::new(spec, cpus)?),
        MapType::PerfEventArray => Box::new(PerfEventArray::new(spec, cpus)?),
        MapType::Ringbuf => Box::new(RingBuf::new(spec, cpus)?),
        MapType::Queue | MapType::Stack => Box::new(QueueStack::new(spec, cpus)?),
        MapType::BloomFilter => Box::new(BloomFilter::new(spec, cpus)?),
        MapType::Devmap | MapType::DevmapHash | MapType::Cpumap | MapType::Xskmap => {
            Box::new(RedirectMap::new(spec, cpus)?)
        }
        MapType::Unspec => return Err(check.fail(MapError::Invalid, "map type 0 (unspec) is no map type")),
        other => return Err(check.fail(MapError::NotSupp, format!("bpfx does not implement {other} maps"))),
    })
}

fn user_value_size(spec: &MapSpec, cpus: u32) -> usize {
    match spec.map_type {
        MapType::PercpuHash | MapType::LruPercpuHash | MapType::PercpuArray | MapType::PercpuCgroupStorage => {
            round_up8(spec.value_size as usize) * cpus as usize
        }
        MapType::ProgArray
        | MapType::PerfEventArray
        | MapType::CgroupArray
        | MapType::ArrayOfMaps
        | MapType::HashOfMaps => 4,
        _ => spec.value_size as usize,
    }
}

pub(crate) const fn round_up8(n: usize) -> usize {
    (n + 7) & !7
}

/// The kernel's `PCPU_MIN_UNIT_SIZE`: the largest per-CPU value.
pub(crate) const PCPU_MIN_UNIT_SIZE: usize = 32 << 10;

/// The kernel's `KMALLOC_MAX_SIZE` on x86-64 (4 MiB).
pub(crate) const KMALLOC_MAX_SIZE: u64 = 4 << 20;

/// Creation checks, failing with the spec's name in the error.
pub(crate) struct Check<'a> {
    pub(crate) spec: &'a MapSpec,
}

impl Check<'_> {
    pub(crate) fn fail(&self, error: MapError, rule: impl Into<String>) -> CreateError {
        CreateError { name: self.spec.name.clone(), map_type: self.spec.map_type, rule: rule.into(), error }
    }

    /// Fails with `-EINVAL` and `rule` unless `ok`.
    pub(crate) fn require(&self, ok: bool, rule: impl FnOnce() -> String) -> Result<(), CreateError> {
        if ok { Ok(()) } else { Err(self.fail(MapError::Invalid, rule())) }
    }

    /// Fails with `-EINVAL` if any flag outside `allowed` is set, or both
    /// `BPF_F_RDONLY_PROG` and `BPF_F_WRONLY_PROG` (`bpf_map_flags_access_ok`).
    pub(crate) fn flags(&self, allowed: u32) -> Result<(), CreateError> {
        let extra = self.spec.flags & !allowed;
        self.require(extra == 0, || format!("map_flags {extra:#x} are not allowed for this type"))?;
        for (a, b, names) in [
            (flags::BPF_F_RDONLY_PROG, flags::BPF_F_WRONLY_PROG, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG"),
            (flags::BPF_F_RDONLY, flags::BPF_F_WRONLY, "BPF_F_RDONLY and BPF_F_WRONLY"),
        ] {
            self.require(self.spec.flags & (a | b) != a | b, || format!("{names} exclude each other"))?;
        }
        Ok(())
    }

    pub(crate) fn key_size(&self, want: u32) -> Result<(), CreateError> {
        let got = self.spec.key_size;
        self.require(got == want, || format!("key_size must be {want}, not {got}"))
    }

    pub(crate) fn value_size(&self, want: u32) -> Result<(), CreateError> {
        let got = self.spec.value_size;
        self.require(got == want, || format!("value_size must be {want}, not {got}"))
    }

    pub(crate) fn nonzero_value_size(&self) -> Result<(), CreateError> {
        self.require(self.spec.value_size != 0, || "value_size must not be 0".into())
    }

    pub(crate) fn nonzero_max_entries(&self) -> Result<(), CreateError> {
        self.require(self.spec.max_entries != 0, || "max_entries must not be 0".into())
    }

    /// No initial data unless the type takes it (global data arrays).
    pub(crate) fn no_initial_data(&self) -> Result<(), CreateError> {
        self.require(self.spec.initial_data.is_none(), || "only array maps take initial data".into())
    }

    /// Allocates `len` zeroed bytes, failing with `-ENOMEM` as the kernel
    /// does when its allocation fails.
    pub(crate) fn slab(&self, len: Option<usize>) -> Result<mem::Slab, CreateError> {
        len.and_then(mem::Slab::new)
            .ok_or_else(|| self.fail(MapError::NoMem, format!("cannot allocate {} bytes", len.unwrap_or(usize::MAX))))
    }
}

/// The syscall's checks before a write: `BPF_F_RDONLY` maps refuse it, and
/// `BPF_F_LOCK` needs a spin lock in the value, which bpfx maps never have
/// (they carry no BTF).
pub(crate) fn user_write_ok(spec: &MapSpec, flags: u64) -> MapResult<()> {
    if spec.flags & flags::BPF_F_RDONLY != 0 {
        return Err(MapError::Perm);
    }
    if flags & flags::BPF_F_LOCK != 0 {
        return Err(MapError::Invalid);
    }
    Ok(())
}

/// The syscall's checks before a read: `BPF_F_WRONLY` maps refuse it.
pub(crate) fn user_read_ok(spec: &MapSpec) -> MapResult<()> {
    if spec.flags & flags::BPF_F_WRONLY != 0 { Err(MapError::Perm) } else { Ok(()) }
}

/// `Invalid` unless `data` is exactly `len` bytes.
pub(crate) fn sized(data: &[u8], len: usize) -> MapResult<()> {
    if data.len() == len { Ok(()) } else { Err(MapError::Invalid) }
}

/// A `u32` index key (arrays and their kin).
pub(crate) fn index_key(key: &[u8]) -> MapResult<u32> {
    key.try_into().map(u32::from_ne_bytes).map_err(|_| MapError::Invalid)
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub(crate) fn spec(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapSpec {
        MapSpec { name: "test".into(), map_type, key_size, value_size, max_entries, flags, ..MapSpec::default() }
    }

    pub(crate) fn k32(i: u32) -> [u8; 4] {
        i.to_ne_bytes()
    }

    /// Reads `len` bytes at a pointer a map handed out.
    pub(crate) fn read_ptr(p: NonNull<u8>, len: usize) -> Vec<u8> {
        // SAFETY: tests only pass pointers a live map returned for a value of
        // at least `len` bytes.
        unsafe { std::slice::from_raw_parts(p.as_ptr(), len).to_vec() }
    }

    /// Writes `data` at a pointer a map handed out, as a program would.
    pub(crate) fn write_ptr(p: NonNull<u8>, data: &[u8]) {
        // SAFETY: as in `read_ptr`; the map is not otherwise borrowed while
        // the test writes.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr(), data.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::flags::BPF_ANY;
    use super::test_util::spec;
    use super::*;

    #[test]
    fn errnos_are_the_kernels() {
        assert_eq!(MapError::Full.errno(), -7);
        assert_eq!(MapError::NotSupp.errno(), -524);
        for e in ALL_ERRORS {
            assert_eq!(MapError::from_errno(-e.errno() as i32), Some(e));
        }
        assert_eq!(MapError::from_errno(3), None);
    }

    #[test]
    fn unsupported_types_and_zero_cpus_are_refused_with_context() {
        let err = create(&spec(MapType::Sockmap, 4, 4, 1, 0), 1).unwrap_err();
        assert_eq!(err.error, MapError::NotSupp);
        assert_eq!(err.to_string(), "cannot create map `test` (sockmap): bpfx does not implement sockmap maps");
        let err = create(&spec(MapType::Array, 4, 4, 1, 0), 0).unwrap_err();
        assert_eq!(err.error, MapError::Invalid);
    }

    #[test]
    fn maps_too_large_to_allocate_are_errors_and_large_ones_cost_nothing_until_used() {
        // 2^31 slots of 4 KiB: 8 TiB, which no allocator grants.
        for t in [MapType::Hash, MapType::Array, MapType::LruHash] {
            let err = create(&spec(t, 4, 4096, 1 << 31, 0), 1).unwrap_err();
            assert_eq!(err.error, MapError::NoMem, "{t}");
        }
        // Bookkeeping for 2^24 entries is allocated but not touched.
        let last = ((1u32 << 24) - 1).to_ne_bytes();
        for (t, lookup) in [
            (MapType::Hash, MapError::NotFound),
            (MapType::ProgArray, MapError::NotFound),
            (MapType::DevmapHash, MapError::NotFound),
            (MapType::PerfEventArray, MapError::NotSupp),
        ] {
            let mut m = create(&spec(t, 4, 4, 1 << 24, 0), 1).unwrap();
            assert_eq!(m.lookup(&last), Err(lookup), "{t}");
            if t != MapType::PerfEventArray {
                m.update(&last, &7u32.to_ne_bytes(), BPF_ANY).unwrap();
                assert_eq!(m.lookup(&last).unwrap(), 7u32.to_ne_bytes(), "{t}");
            }
        }
    }

    #[test]
    fn per_cpu_values_split_without_padding() {
        let m = create(&spec(MapType::PercpuArray, 4, 3, 1, 0), 2).unwrap();
        let value = m.lookup(&[0; 4]).unwrap();
        assert_eq!(value.len(), 16);
        assert_eq!(m.values_per_cpu(&value), [&[0u8; 3][..], &[0; 3]]);
        let m = create(&spec(MapType::Array, 4, 3, 1, 0), 2).unwrap();
        assert_eq!(m.values_per_cpu(&[1, 2, 3]), [&[1u8, 2, 3][..]]);
    }

    #[test]
    fn user_value_sizes() {
        let s = spec(MapType::PercpuHash, 4, 12, 1, 0);
        assert_eq!(user_value_size(&s, 3), 48);
        assert_eq!(user_value_size(&spec(MapType::Hash, 4, 12, 1, 0), 3), 12);
    }
}
