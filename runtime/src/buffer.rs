//! Memory programs address directly: stacks, packets, context structs.
//!
//! A [`Buffer`] is zeroed, 8-byte aligned memory allocated once and never
//! moved. Programs hold raw pointers into it, so the runtime never forms a
//! Rust reference to the whole block while a run is live: every access goes
//! through the base pointer, as the program's own do.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;

const ALIGN: usize = 8;

/// Zeroed memory at a fixed address.
pub struct Buffer {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Buffer` owns its allocation exclusively, like a `Box<[u8]>`.
unsafe impl Send for Buffer {}

impl Buffer {
    /// `len` zeroed bytes.
    pub fn zeroed(len: usize) -> Buffer {
        if len == 0 {
            return Buffer { base: NonNull::<u64>::dangling().cast(), len: 0 };
        }
        let layout = Layout::from_size_align(len, ALIGN).unwrap_or_else(|_| handle_alloc_error(Layout::new::<u64>()));
        // SAFETY: `layout` has a non-zero size, as `alloc_zeroed` requires.
        let base = unsafe { alloc_zeroed(layout) };
        match NonNull::new(base) {
            Some(base) => Buffer { base, len },
            None => handle_alloc_error(layout),
        }
    }

    /// `len` zeroed bytes in `spare`'s memory when it has that length
    /// (cleared: reused without a trip through the allocator), or new.
    pub(crate) fn zeroed_reusing(spare: &mut Option<Buffer>, len: usize) -> Buffer {
        match spare.take() {
            Some(mut b) if b.len == len => {
                b.fill(0, len, 0);
                b
            }
            _ => Buffer::zeroed(len),
        }
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Buffer {
        let mut b = Buffer::zeroed(bytes.len());
        b.write(0, bytes);
        b
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of byte `off` (at most `len`).
    #[inline]
    pub fn ptr(&self, off: usize) -> *mut u8 {
        assert!(off <= self.len, "buffer offset {off:#x} past its end {:#x}", self.len);
        // SAFETY: `off <= len`: inside the allocation or one past its end.
        unsafe { self.base.as_ptr().add(off) }
    }

    /// The host address of byte `off`, as programs see it.
    #[inline]
    pub fn addr(&self, off: usize) -> u64 {
        self.ptr(off) as u64
    }

    /// A copy of `len` bytes from `off`.
    pub fn to_vec(&self, off: usize, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.read(off, &mut out);
        out
    }

    pub fn read(&self, off: usize, out: &mut [u8]) {
        self.check(off, out.len());
        // SAFETY: `check` proved the range is inside the allocation; `out`
        // is a separate Rust buffer.
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr().add(off), out.as_mut_ptr(), out.len()) }
    }

    pub fn write(&mut self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        // SAFETY: as in `read`, with the buffers' roles swapped.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(off), data.len()) }
    }

    /// Moves `len` bytes from `from` to `to`; the ranges may overlap.
    pub fn copy_within(&mut self, from: usize, to: usize, len: usize) {
        self.check(from, len);
        self.check(to, len);
        // SAFETY: both ranges are inside the allocation; `copy` allows overlap.
        unsafe { std::ptr::copy(self.base.as_ptr().add(from), self.base.as_ptr().add(to), len) }
    }

    pub fn fill(&mut self, off: usize, len: usize, byte: u8) {
        self.check(off, len);
        // SAFETY: `check` proved the range is inside the allocation.
        unsafe { std::ptr::write_bytes(self.base.as_ptr().add(off), byte, len) }
    }

    pub fn read_u64(&self, off: usize) -> u64 {
        let mut b = [0; 8];
        self.read(off, &mut b);
        u64::from_le_bytes(b)
    }

    pub fn write_u64(&mut self, off: usize, v: u64) {
        self.write(off, &v.to_le_bytes());
    }

    pub fn read_u32(&self, off: usize) -> u32 {
        let mut b = [0; 4];
        self.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    pub fn write_u32(&mut self, off: usize, v: u32) {
        self.write(off, &v.to_le_bytes());
    }

    fn check(&self, off: usize, len: usize) {
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.len),
            "buffer access {off:#x}+{len:#x} past its end {:#x}",
            self.len
        );
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        let layout = Layout::from_size_align(self.len, ALIGN).expect("layout was valid at allocation");
        // SAFETY: `base` came from `alloc_zeroed` with this layout; freed once.
        unsafe { dealloc(self.base.as_ptr(), layout) }
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({:#x} bytes at {:p})", self.len, self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_zeroed_and_bounded() {
        let mut b = Buffer::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let p = b.ptr(0);
        assert_eq!(p as usize % ALIGN, 0);
        b.copy_within(0, 1, 4);
        assert_eq!(b.to_vec(0, 6), [1, 1, 2, 3, 4, 6]);
        b.fill(0, 2, 0xaa);
        b.write_u32(4, 0x0102_0304);
        assert_eq!(b.read_u32(4), 0x0102_0304);
        assert_eq!(b.to_vec(0, 2), [0xaa, 0xaa]);
        assert_eq!(b.ptr(0), p);
        assert!(Buffer::zeroed(0).is_empty());
        assert_eq!(Buffer::zeroed(16).read_u64(8), 0);
    }
}
