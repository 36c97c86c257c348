//! The one allocation behind a map's values.
//!
//! A [`Slab`] is zeroed, 8-byte aligned memory allocated once and never
//! moved or resized. Programs receive raw pointers into it, so the map side
//! never forms a Rust reference to the whole block (which would invalidate
//! those pointers under Rust's aliasing rules): every access goes through
//! the base pointer, like the program's own accesses do.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

use super::MapMemory;

/// Alignment of every slab, and of every value slot within one (the kernel
/// rounds value sizes up to 8 so values are 8-byte aligned).
const ALIGN: usize = 8;

/// Zeroed memory that stays at one address for its whole life.
pub(crate) struct Slab {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Slab` owns its allocation exclusively, like a `Box<[u8]>`; the
// raw pointer is what makes it `!Send` by default, not shared ownership.
unsafe impl Send for Slab {}

impl Slab {
    /// `len` zeroed bytes, or `None` when the allocator refuses.
    pub(crate) fn new(len: usize) -> Option<Slab> {
        if len == 0 {
            return Some(Slab { base: NonNull::<u64>::dangling().cast(), len: 0 });
        }
        let layout = Layout::from_size_align(len, ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size, as `alloc_zeroed` requires.
        let base = unsafe { alloc_zeroed(layout) };
        NonNull::new(base).map(|base| Slab { base, len })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The address of byte `off`; `off` must be at most `len`.
    pub(crate) fn ptr(&self, off: usize) -> NonNull<u8> {
        assert!(off <= self.len, "slab offset {off:#x} past its end {:#x}", self.len);
        // SAFETY: `off <= len`, so the result is inside the allocation or one
        // past its end, and cannot be null.
        unsafe { self.base.add(off) }
    }

    /// Copies `out.len()` bytes from offset `off`.
    pub(crate) fn read(&self, off: usize, out: &mut [u8]) {
        self.check(off, out.len());
        // SAFETY: `check` proved `off..off + out.len()` lies in the
        // allocation; `out` is a distinct Rust buffer, so they cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr().add(off), out.as_mut_ptr(), out.len()) }
    }

    /// Copies `data` to offset `off`.
    pub(crate) fn write(&mut self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        // SAFETY: as in `read`, with the roles of the buffers swapped.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(off), data.len()) }
    }

    /// Sets `len` bytes from offset `off` to zero.
    pub(crate) fn zero(&mut self, off: usize, len: usize) {
        self.check(off, len);
        // SAFETY: `check` proved the range lies in the allocation.
        unsafe { std::ptr::write_bytes(self.base.as_ptr().add(off), 0, len) }
    }

    /// The slab as a region programs may address.
    pub(crate) fn memory(&self, stride: usize, read_only: bool) -> MapMemory {
        MapMemory { base: self.base.as_ptr(), len: self.len, stride, read_only }
    }

    /// The offset of `addr` in the slab, if it points inside it.
    pub(crate) fn offset_of(&self, addr: u64) -> Option<usize> {
        let off = addr.checked_sub(self.base.as_ptr() as u64)?;
        usize::try_from(off).ok().filter(|&off| off < self.len)
    }

    fn check(&self, off: usize, len: usize) {
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.len),
            "slab access {off:#x}+{len:#x} past its end {:#x}",
            self.len
        );
    }
}

/// A zero-initialised array of `u32` in a [`Slab`]: bookkeeping sized by
/// `max_entries`, allocated fallibly and costing memory only where written
/// (the allocator hands out untouched zero pages), so a map declared huge
/// but used lightly stays cheap, and one too large to allocate is an error,
/// not an abort.
#[derive(Debug)]
pub(crate) struct Table(Slab);

impl Table {
    pub(crate) fn new(len: usize) -> Option<Table> {
        Slab::new(len.checked_mul(4)?).map(Table)
    }

    pub(crate) fn get(&self, i: u32) -> u32 {
        let mut v = [0; 4];
        self.0.read(i as usize * 4, &mut v);
        u32::from_ne_bytes(v)
    }

    pub(crate) fn set(&mut self, i: u32, v: u32) {
        self.0.write(i as usize * 4, &v.to_ne_bytes());
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        let layout = Layout::from_size_align(self.len, ALIGN).expect("layout was valid at allocation");
        // SAFETY: `base` came from `alloc_zeroed` with this very layout and
        // is freed once, here.
        unsafe { dealloc(self.base.as_ptr(), layout) }
    }
}

impl std::fmt::Debug for Slab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slab({:#x} bytes at {:p})", self.len, self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_stable() {
        let mut slab = Slab::new(24).unwrap();
        let p = slab.ptr(8);
        assert_eq!(slab.ptr(0).as_ptr() as usize % ALIGN, 0);
        let mut buf = [0xffu8; 24];
        slab.read(0, &mut buf);
        assert_eq!(buf, [0; 24]);
        slab.write(8, &[1, 2, 3]);
        assert_eq!(slab.ptr(8), p);
        // SAFETY: `p` points at byte 8 of the live slab.
        assert_eq!(unsafe { p.read() }, 1);
        slab.zero(9, 1);
        let mut out = [0; 4];
        slab.read(8, &mut out);
        assert_eq!(out, [1, 0, 3, 0]);
        assert_eq!(slab.offset_of(p.as_ptr() as u64 + 1), Some(9));
        assert_eq!(slab.offset_of(p.as_ptr() as u64 + 16), None);
        assert_eq!(slab.offset_of(0), None);
    }

    #[test]
    fn table_starts_zeroed() {
        let mut t = Table::new(1 << 20).unwrap();
        assert_eq!(t.get(12345), 0);
        t.set(12345, 7);
        assert_eq!((t.get(12345), t.get(12344)), (7, 0));
        assert!(Table::new(usize::MAX / 2).is_none());
    }

    #[test]
    fn empty_slab() {
        let slab = Slab::new(0).unwrap();
        assert_eq!(slab.len(), 0);
        assert_eq!(slab.memory(8, false).len, 0);
    }
}
