//! `BPF_MAP_TYPE_BLOOM_FILTER` (the kernel's `bloom_filter.c`): a keyless
//! set answering "maybe present" or "certainly absent", fed with push and
//! queried with peek.
//!
//! The bit array is sized as the kernel sizes it, and values are hashed
//! with the kernel's `jhash` (Bob Jenkins' lookup3) seeded with the hash
//! function's number, so a filter answers exactly as a kernel filter made
//! with `BPF_F_ZERO_SEED` does; the kernel otherwise picks a random seed,
//! which bpfx never does, for replays to be deterministic.
//!
//! The number of hash functions comes from `map_extra` in the kernel, which
//! [`MapSpec`] does not carry: bpfx uses the kernel's default, 5.

use std::ptr::NonNull;

use bpfx_isa::MapSpec;

use super::flags::*;
use super::{Check, CreateError, Entry, KMALLOC_MAX_SIZE, Map, MapError, MapMemory, MapResult, sized, user_write_ok};

/// The kernel's default number of hash functions.
const NR_HASH_FUNCS: u32 = 5;

/// A bloom filter; see the module documentation.
#[derive(Debug)]
pub struct BloomFilter {
    spec: MapSpec,
    cpus: u32,
    /// The bit count minus one (a power of two minus one).
    mask: u32,
    bits: Vec<u64>,
}

impl BloomFilter {
    /// The kernel's `bloom_map_alloc_check` and `bloom_map_alloc`.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<BloomFilter, CreateError> {
        let check = Check { spec };
        if u64::from(spec.value_size) > KMALLOC_MAX_SIZE {
            return Err(check.fail(MapError::Full, format!("value_size {} is too large", spec.value_size)));
        }
        check.key_size(0)?;
        check.nonzero_value_size()?;
        check.nonzero_max_entries()?;
        check.flags(BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK)?;
        check.no_initial_data()?;
        // n * k / ln 2 bits, with 7/5 for 1/ln 2, rounded up to a power of
        // two of at least 64; 2^32 bits when that overflows.
        let bits = spec
            .max_entries
            .checked_mul(NR_HASH_FUNCS)
            .and_then(|n| (n / 5).checked_mul(7))
            .filter(|&n| n <= 1 << 31)
            .map(|n| n.max(64).next_power_of_two());
        let mask = bits.map_or(u32::MAX, |n| n - 1);
        let words = (u64::from(mask) + 1).div_ceil(64) as usize;
        let mut storage = Vec::new();
        storage
            .try_reserve_exact(words)
            .map_err(|_| check.fail(MapError::NoMem, format!("cannot allocate {} bits", u64::from(mask) + 1)))?;
        storage.resize(words, 0);
        Ok(BloomFilter { spec: spec.clone(), cpus, mask, bits: storage })
    }

    fn positions<'a>(&self, value: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
        let mask = self.mask;
        (0..NR_HASH_FUNCS).map(move |i| jhash(value, i) & mask)
    }
}

impl Map for BloomFilter {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        None
    }

    fn prog_lookup(&mut self, _key: &[u8], _cpu: u32) -> Option<NonNull<u8>> {
        None
    }

    fn prog_update(&mut self, _key: &[u8], _value: &[u8], _flags: u64, _cpu: u32) -> MapResult<()> {
        Err(MapError::Invalid)
    }

    fn prog_delete(&mut self, _key: &[u8]) -> MapResult<()> {
        Err(MapError::OpNotSupp)
    }

    /// Adds a value; only `BPF_ANY` is accepted.
    fn push(&mut self, value: &[u8], flags: u64) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        if flags != BPF_ANY {
            return Err(MapError::Invalid);
        }
        for h in self.positions(value).collect::<Vec<_>>() {
            self.bits[h as usize / 64] |= 1 << (h % 64);
        }
        Ok(())
    }

    fn pop(&mut self, _value: &mut [u8]) -> MapResult<()> {
        Err(MapError::OpNotSupp)
    }

    /// `Ok` if `value` may have been pushed, [`MapError::NotFound`] if it
    /// certainly was not.
    fn peek(&self, value: &mut [u8]) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        let present = self.positions(value).all(|h| self.bits[h as usize / 64] & (1 << (h % 64)) != 0);
        if present { Ok(()) } else { Err(MapError::NotFound) }
    }

    /// `BPF_MAP_LOOKUP_ELEM` on a bloom filter takes the value to test as
    /// input, which this signature cannot: use [`Map::peek`].
    fn lookup(&self, _key: &[u8]) -> MapResult<Vec<u8>> {
        Err(MapError::Invalid)
    }

    /// A push, as `BPF_MAP_UPDATE_ELEM` on a bloom filter.
    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        sized(key, 0)?;
        user_write_ok(&self.spec, flags)?;
        self.push(value, flags)
    }

    fn delete(&mut self, _key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        Err(MapError::OpNotSupp)
    }

    fn next_key(&self, _key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        Err(MapError::OpNotSupp)
    }

    /// Nothing to show: a bloom filter cannot list what it holds.
    fn dump(&self) -> Vec<Entry> {
        Vec::new()
    }
}

/// The kernel's `jhash(key, len, initval)` (lookup3's `hashlittle` with the
/// kernel's handling of the last block) on a little-endian machine, which
/// is also what its `jhash2` gives for whole words.
pub(crate) fn jhash(key: &[u8], initval: u32) -> u32 {
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c) ^ c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a) ^ a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b) ^ b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c) ^ c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a) ^ a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b) ^ b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    fn fin(a: &mut u32, b: &mut u32, c: &mut u32) {
        *c = (*c ^ *b).wrapping_sub(b.rotate_left(14));
        *a = (*a ^ *c).wrapping_sub(c.rotate_left(11));
        *b = (*b ^ *a).wrapping_sub(a.rotate_left(25));
        *c = (*c ^ *b).wrapping_sub(b.rotate_left(16));
        *a = (*a ^ *c).wrapping_sub(c.rotate_left(4));
        *b = (*b ^ *a).wrapping_sub(a.rotate_left(14));
        *c = (*c ^ *b).wrapping_sub(b.rotate_left(24));
    }
    let word = |bytes: &[u8]| {
        let mut w = [0u8; 4];
        w[..bytes.len()].copy_from_slice(bytes);
        u32::from_le_bytes(w)
    };
    let init = 0xdead_beef_u32.wrapping_add(key.len() as u32).wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = key;
    while rest.len() > 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return c;
    }
    let part = |from: usize| word(&rest[from.min(rest.len())..(from + 4).min(rest.len())]);
    a = a.wrapping_add(part(0));
    b = b.wrapping_add(part(4));
    c = c.wrapping_add(part(8));
    fin(&mut a, &mut b, &mut c);
    c
}

#[cfg(test)]
mod tests {
    use super::super::create;
    use super::super::test_util::*;
    use super::*;
    use bpfx_isa::abi::MapType;

    #[test]
    fn creation_rules_and_sizing() {
        let bad = |key, value, max, flags| create(&spec(MapType::BloomFilter, key, value, max, flags), 1).unwrap_err();
        assert_eq!(bad(4, 4, 1, 0).error, MapError::Invalid);
        assert_eq!(bad(0, 0, 1, 0).error, MapError::Invalid);
        assert_eq!(bad(0, 4, 0, 0).error, MapError::Invalid);
        assert_eq!(bad(0, 4, 1, BPF_F_NO_PREALLOC).error, MapError::Invalid);
        let small = BloomFilter::new(&spec(MapType::BloomFilter, 0, 4, 1, 0), 1).unwrap();
        assert_eq!(small.mask, 63);
        let mid = BloomFilter::new(&spec(MapType::BloomFilter, 0, 4, 100, 0), 1).unwrap();
        assert_eq!(mid.mask, 1023);
    }

    #[test]
    fn pushed_values_are_found_others_mostly_not() {
        let mut m = create(&spec(MapType::BloomFilter, 0, 4, 100, 0), 1).unwrap();
        for v in 0..100u32 {
            m.push(&v.to_ne_bytes(), BPF_ANY).unwrap();
        }
        assert!((0..100u32).all(|v| m.peek(&mut v.to_ne_bytes()).is_ok()));
        let false_positives = (1000..2000u32).filter(|v| m.peek(&mut v.to_ne_bytes()).is_ok()).count();
        assert!(false_positives < 100, "{false_positives} false positives in 1000");
        assert_eq!(m.push(&[0; 4], BPF_EXIST), Err(MapError::Invalid));
        assert_eq!(m.update(&[], &[1; 4], BPF_ANY), Ok(()));
        assert_eq!(m.delete(&[]), Err(MapError::OpNotSupp));
        assert_eq!(m.pop(&mut [0; 4]), Err(MapError::OpNotSupp));
        assert_eq!(m.next_key(None), Err(MapError::OpNotSupp));
    }

    #[test]
    fn jhash_known_values() {
        // lookup3's published test vectors for hashlittle, which the
        // kernel's jhash equals on little-endian machines.
        assert_eq!(jhash(b"", 0), 0xdeadbeef);
        assert_eq!(jhash(b"", 0xdeadbeef), 0xbd5b7dde);
        assert_eq!(jhash(b"Four score and seven years ago", 0), 0x17770551);
        assert_eq!(jhash(b"Four score and seven years ago", 1), 0xcd628161);
    }
}
