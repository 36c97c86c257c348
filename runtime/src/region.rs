//! The region table: the spans of host memory a program may touch.
//!
//! Programs hold host addresses (as in the kernel); an access is allowed
//! when it lies wholly inside one region and, for a write, the region is
//! writable. The table is a plain `#[repr(C)]` array so a JIT can run the
//! same check inline ([`Region::contains`] is two compares) or skip it where
//! the verifier proved the access.
//!
//! The first regions are always the same: the stack, the context, the
//! packet and its metadata (see the `*_REGION` constants), then helper
//! scratch and the maps' memory. Region 0, the stack, is the one engines
//! update themselves: they move its start
//! on every bpf-to-bpf call and return, so a callee may reach its callers'
//! frames (pointers to them are passed down) but never a frame that is not
//! live.

use std::fmt;

use crate::fault::{Access, Fault, Nearest};

/// Bytes of stack a frame gets (the kernel's `MAX_BPF_STACK`).
pub const FRAME_SIZE: u64 = 512;

/// Frames a run may have at once: the program's and seven nested calls (the
/// kernel's `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: u32 = 8;

/// The index of the stack region in every table.
pub const STACK_REGION: usize = 0;
/// The indices of the context, packet and packet-metadata regions (the
/// last two are empty when the context has no packet).
pub const CONTEXT_REGION: usize = 1;
pub const PACKET_REGION: usize = 2;
pub const META_REGION: usize = 3;

/// An index into the runtime's maps (shared by every program loaded into
/// one [`crate::Runtime`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapId(pub u32);

impl fmt::Display for MapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a region holds, for fault messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// The live stack frames; offsets are reported from the current `r10`.
    Stack,
    /// The program's context (`r1` at entry): the `--mem` bytes of a raw
    /// program, the context struct of the others.
    Context,
    /// Packet data, `data..data_end`.
    Packet,
    /// XDP metadata in front of the packet, `data_meta..data`.
    PacketMeta,
    /// The memory of a map: its values, or its records for a ring buffer.
    Map(MapId),
    /// Read-only copies helpers hand to callbacks (the key argument of a
    /// `bpf_for_each_map_elem` callback).
    Scratch,
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Stack => f.write_str("stack"),
            RegionKind::Context => f.write_str("context"),
            RegionKind::Packet => f.write_str("packet"),
            RegionKind::PacketMeta => f.write_str("packet metadata"),
            RegionKind::Map(id) => write!(f, "map {id}"),
            RegionKind::Scratch => f.write_str("helper scratch"),
        }
    }
}

/// One span of memory a program may touch. The first three fields are the
/// engines' contract (offsets in [`crate::vmctx::offsets::region`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Host address of the first byte.
    pub start: u64,
    /// Length in bytes; 0 for a region that is currently empty.
    pub len: u64,
    /// Non-zero when programs may write it.
    pub writable: u64,
    pub kind: RegionKind,
}

impl Region {
    #[inline]
    pub fn new(kind: RegionKind, start: *const u8, len: usize, writable: bool) -> Region {
        Region { start: start as u64, len: len as u64, writable: u64::from(writable), kind }
    }

    /// Whether `size` bytes (at least one) from `addr` lie inside the region.
    #[inline(always)]
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        let off = addr.wrapping_sub(self.start);
        off < self.len && self.len - off >= size
    }

    /// Where `addr` falls relative to the region (see [`Nearest::offset`]).
    fn nearest(&self, addr: u64) -> Nearest {
        let base = match self.kind {
            RegionKind::Stack => self.start.wrapping_add(FRAME_SIZE),
            _ => self.start,
        };
        Nearest { kind: self.kind, offset: addr.wrapping_sub(base) as i64, len: self.len }
    }

    /// How far the access `addr..addr + size` is from the region, in bytes
    /// (0 when it overlaps).
    fn distance(&self, addr: u64, size: u64) -> u64 {
        let end = self.start.saturating_add(self.len);
        if addr.saturating_add(size) <= self.start {
            self.start - addr.saturating_add(size) + 1
        } else if addr >= end {
            addr - end + 1
        } else {
            0
        }
    }
}

/// Checks an access of `access.size` bytes at `addr` against `regions`: the
/// one rule both engines share. An access of 0 bytes touches nothing and is
/// always allowed.
#[inline(always)]
pub fn check(regions: &[Region], addr: u64, access: Access) -> Result<(), Fault> {
    if access.size == 0 {
        return Ok(());
    }
    for r in regions {
        if r.contains(addr, access.size) {
            if access.kind.writes() && r.writable == 0 {
                return Err(Fault::ReadOnly { access, addr, region: r.nearest(addr) });
            }
            return Ok(());
        }
    }
    Err(violation(regions, addr, access))
}

/// The fault for an access no region contains, naming the region it came
/// nearest to.
#[cold]
#[inline(never)]
pub fn violation(regions: &[Region], addr: u64, access: Access) -> Fault {
    let nearest =
        regions.iter().filter(|r| r.len > 0).min_by_key(|r| r.distance(addr, access.size)).map(|r| r.nearest(addr));
    Fault::OutOfBounds { access, addr, nearest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::AccessKind;

    fn load(size: u64) -> Access {
        Access { kind: AccessKind::Load, size }
    }

    #[test]
    fn contains_is_exact_at_both_ends_and_never_wraps() {
        let r = Region { start: 0x1000, len: 16, writable: 1, kind: RegionKind::Packet };
        assert!(r.contains(0x1000, 16));
        assert!(r.contains(0x100f, 1));
        assert!(!r.contains(0x100f, 2));
        assert!(!r.contains(0x0fff, 1));
        assert!(!r.contains(0x1010, 1));
        assert!(!r.contains(u64::MAX, 8));
        let empty = Region { len: 0, ..r };
        assert!(!empty.contains(0x1000, 1));
    }

    #[test]
    fn violations_name_the_nearest_region() {
        let regions = [
            Region { start: 0x8000, len: 1024, writable: 1, kind: RegionKind::Stack },
            Region { start: 0x1000, len: 64, writable: 1, kind: RegionKind::Packet },
            Region { start: 0x2000, len: 8, writable: 0, kind: RegionKind::Context },
        ];
        assert_eq!(check(&regions, 0x1000, load(8)), Ok(()));
        let fault = check(&regions, 0x103e, load(4)).unwrap_err();
        assert_eq!(
            fault,
            Fault::OutOfBounds {
                access: load(4),
                addr: 0x103e,
                nearest: Some(Nearest { kind: RegionKind::Packet, offset: 62, len: 64 })
            }
        );
        let Fault::OutOfBounds { nearest: Some(n), .. } = check(&regions, 0x7ff8, load(8)).unwrap_err() else {
            panic!("expected an out-of-bounds fault")
        };
        assert_eq!((n.kind, n.offset), (RegionKind::Stack, -520));
        let store = Access { kind: AccessKind::Store, size: 4 };
        assert!(matches!(check(&regions, 0x2000, store), Err(Fault::ReadOnly { .. })));
        assert_eq!(check(&regions, 0, Access { kind: AccessKind::Store, size: 0 }), Ok(()));
    }
}
