//! Maps with the kernel's semantics.
//!
//! Every map keeps its values in memory allocated once, when the map is
//! created (as the kernel's preallocated maps do), so a value's address is
//! stable for as long as the map lives: a pointer a program got from a
//! lookup stays valid for the rest of the run even if the entry is deleted,
//! and the engines can check accesses against a fixed set of regions.

use bpfx_isa::MapSpec;

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
}

impl MapError {
    /// The negative errno a helper returns for this error.
    pub const fn errno(self) -> i64 {
        -(match self {
            MapError::NotFound => 2,
            MapError::Exists => 17,
            MapError::Full => 7,
            MapError::Invalid => 22,
            MapError::NoMem => 12,
            MapError::Busy => 16,
        })
    }
}

/// A span of map memory that programs may address: the region the engines
/// check accesses against. `stride` is the size of one value slot (for
/// fault messages that name the element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapMemory {
    pub base: *mut u8,
    pub len: usize,
    pub stride: usize,
    /// Read-only to programs (`.rodata`, `BPF_F_RDONLY_PROG`).
    pub read_only: bool,
}

/// The result of a map operation.
pub type MapResult<T> = Result<T, MapError>;
