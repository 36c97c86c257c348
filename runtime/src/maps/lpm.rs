//! `BPF_MAP_TYPE_LPM_TRIE` (the kernel's `lpm_trie.c`): longest-prefix
//! match over keys `struct bpf_lpm_trie_key { u32 prefixlen; u8 data[]; }`
//! (`prefixlen` in host order, `data` in network bit order: bit 0 is the
//! high bit of `data[0]`).
//!
//! Entries are kept in a B-tree whose order is the kernel trie's postorder
//! (what `BPF_MAP_GET_NEXT_KEY` walks: more specific prefixes before the
//! prefixes containing them, the 0 branch before the 1 branch), plus a count
//! of entries per prefix length, so a lookup tries the lengths present from
//! the longest down. Values live in slots of one slab; an update allocates a
//! new slot and, like the kernel's RCU-freed nodes, freed slots are reused
//! only after [`Map::end_run`] unless nothing else is free.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::ptr::NonNull;

use bpfx_isa::MapSpec;

use super::flags::*;
use super::list::SlotPool;
use super::mem::Slab;
use super::{
    Check, CreateError, KMALLOC_MAX_SIZE, Map, MapError, MapMemory, MapResult, round_up8, sized, user_read_ok,
    user_write_ok,
};

/// The kernel's `LPM_DATA_SIZE_MAX`: at most 256 bytes of prefix data.
const DATA_SIZE_MAX: u32 = 256;

/// The kernel's `LPM_VAL_SIZE_MAX` (`sizeof(struct lpm_trie_node)` is 40).
const VALUE_SIZE_MAX: u64 = KMALLOC_MAX_SIZE - DATA_SIZE_MAX as u64 - 40;

/// A prefix: its length and its data with the bits past the length cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    len: u32,
    bits: Box<[u8]>,
}

impl Prefix {
    fn new(len: u32, data: &[u8]) -> Prefix {
        let mut bits: Box<[u8]> = data.into();
        for (i, b) in bits.iter_mut().enumerate() {
            let keep = len.saturating_sub(i as u32 * 8).min(8);
            *b &= !(0xffu8.checked_shr(keep).unwrap_or(0));
        }
        Prefix { len, bits }
    }
}

impl Ord for Prefix {
    /// The trie's postorder: where two prefixes first differ (within the
    /// shorter one), the 0 bit first; if one contains the other, the longer
    /// (more specific) first.
    fn cmp(&self, other: &Self) -> Ordering {
        let common = self.len.min(other.len) as usize;
        for (i, (a, b)) in self.bits.iter().zip(other.bits.iter()).enumerate().take(common.div_ceil(8)) {
            let mut diff = a ^ b;
            let left = common - i * 8;
            if left < 8 {
                diff &= !(0xffu8 >> left);
            }
            if diff != 0 {
                let first = 0x80u8 >> diff.leading_zeros();
                return if a & first == 0 { Ordering::Less } else { Ordering::Greater };
            }
        }
        other.len.cmp(&self.len)
    }
}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An LPM trie; see the module documentation.
#[derive(Debug)]
pub struct LpmTrie {
    spec: MapSpec,
    cpus: u32,
    stride: usize,
    max_prefixlen: u32,
    values: Slab,
    /// Each entry's slot.
    entries: BTreeMap<Prefix, u32>,
    /// How many entries have each prefix length.
    lens: BTreeMap<u32, usize>,
    /// The key of each slot as last written (the kernel keeps the data bits
    /// past the prefix length as given, and returns them from next_key).
    keys: Slab,
    free: SlotPool,
    deferred: VecDeque<u32>,
}

impl LpmTrie {
    /// The kernel's `trie_alloc`: `BPF_F_NO_PREALLOC` is required, keys of
    /// 4 + 1..=256 bytes, values of 1..=`LPM_VAL_SIZE_MAX` bytes.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<LpmTrie, CreateError> {
        let check = Check { spec };
        check.nonzero_max_entries()?;
        check.require(spec.flags & BPF_F_NO_PREALLOC != 0, || "LPM tries need BPF_F_NO_PREALLOC".into())?;
        check.flags(BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)?;
        check.require((5..=4 + DATA_SIZE_MAX).contains(&spec.key_size), || {
            format!("key_size must be 4 + 1..=256 (prefixlen and data), not {}", spec.key_size)
        })?;
        check.require((1..=VALUE_SIZE_MAX).contains(&u64::from(spec.value_size)), || {
            format!("value_size must be 1..={VALUE_SIZE_MAX}, not {}", spec.value_size)
        })?;
        check.no_initial_data()?;
        let stride = round_up8(spec.value_size as usize);
        // One spare slot per CPU, so a replacement never lacks one.
        let slots = (spec.max_entries as usize).checked_add(cpus as usize);
        let values = check.slab(slots.and_then(|n| n.checked_mul(stride)))?;
        let keys = check.slab(slots.and_then(|n| n.checked_mul(spec.key_size as usize)))?;
        let slots = slots.unwrap_or(0) as u32;
        Ok(LpmTrie {
            spec: spec.clone(),
            cpus,
            stride,
            max_prefixlen: (spec.key_size - 4) * 8,
            values,
            entries: BTreeMap::new(),
            lens: BTreeMap::new(),
            keys,
            free: SlotPool::new(0, slots),
            deferred: VecDeque::new(),
        })
    }

    /// The prefix length and data of a key; `None` if too short or long.
    fn split<'k>(&self, key: &'k [u8]) -> Option<(u32, &'k [u8])> {
        if key.len() != self.spec.key_size as usize {
            return None;
        }
        let (len, data) = key.split_at(4);
        Some((u32::from_ne_bytes(len.try_into().ok()?), data))
    }

    /// The longest stored prefix of `key`'s first `prefixlen` bits.
    fn longest_match(&self, key: &[u8]) -> Option<u32> {
        let (len, data) = self.split(key)?;
        if len > self.max_prefixlen {
            return None;
        }
        self.lens.range(..=len).rev().find_map(|(&l, _)| self.entries.get(&Prefix::new(l, data)).copied())
    }

    fn key_at(&self, slot: u32) -> Vec<u8> {
        let mut key = vec![0; self.spec.key_size as usize];
        self.keys.read(slot as usize * key.len(), &mut key);
        key
    }

    fn release(&mut self, slot: u32) {
        self.deferred.push_back(slot);
    }

    fn remove(&mut self, prefix: &Prefix) -> Option<u32> {
        let slot = self.entries.remove(prefix)?;
        if let Some(n) = self.lens.get_mut(&prefix.len) {
            *n -= 1;
            if *n == 0 {
                self.lens.remove(&prefix.len);
            }
        }
        Some(slot)
    }
}

impl Map for LpmTrie {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        Some(self.values.memory(self.stride, self.spec.flags & BPF_F_RDONLY_PROG != 0))
    }

    fn prog_lookup(&mut self, key: &[u8], _cpu: u32) -> Option<NonNull<u8>> {
        let slot = self.longest_match(key)?;
        Some(self.values.ptr(slot as usize * self.stride))
    }

    fn prog_update(&mut self, key: &[u8], value: &[u8], flags: u64, _cpu: u32) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        let (len, data) = self.split(key).ok_or(MapError::Invalid)?;
        if flags > BPF_EXIST || len > self.max_prefixlen {
            return Err(MapError::Invalid);
        }
        let prefix = Prefix::new(len, data);
        let old = self.entries.get(&prefix).copied();
        match (old, flags) {
            (Some(_), BPF_NOEXIST) => return Err(MapError::Exists),
            (None, BPF_EXIST) => return Err(MapError::NotFound),
            (None, _) if self.entries.len() >= self.spec.max_entries as usize => return Err(MapError::NoSpace),
            _ => {}
        }
        let slot = self.free.take().or_else(|| self.deferred.pop_front()).ok_or(MapError::NoMem)?;
        self.values.write(slot as usize * self.stride, value);
        self.keys.write(slot as usize * key.len(), key);
        if let Some(old) = old {
            self.release(old);
        } else {
            *self.lens.entry(len).or_default() += 1;
        }
        self.entries.insert(prefix, slot);
        Ok(())
    }

    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()> {
        let (len, data) = self.split(key).ok_or(MapError::Invalid)?;
        if len > self.max_prefixlen {
            return Err(MapError::Invalid);
        }
        let slot = self.remove(&Prefix::new(len, data)).ok_or(MapError::NotFound)?;
        self.release(slot);
        Ok(())
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        sized(key, self.spec.key_size as usize)?;
        let slot = self.longest_match(key).ok_or(MapError::NotFound)?;
        let mut out = vec![0; self.spec.value_size as usize];
        self.values.read(slot as usize * self.stride, &mut out);
        Ok(out)
    }

    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        user_write_ok(&self.spec, flags)?;
        self.prog_update(key, value, flags, 0)
    }

    fn delete(&mut self, key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        self.prog_delete(key)
    }

    fn next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        if let Some(key) = key {
            sized(key, self.spec.key_size as usize)?;
        }
        // A missing or malformed key restarts from the first entry.
        let from = key
            .and_then(|k| self.split(k))
            .filter(|&(len, _)| len <= self.max_prefixlen)
            .map(|(len, data)| Prefix::new(len, data))
            .filter(|p| self.entries.contains_key(p));
        let next = match from {
            Some(p) => self.entries.range(p..).nth(1),
            None => self.entries.iter().next(),
        };
        next.map(|(_, &slot)| self.key_at(slot)).ok_or(MapError::NotFound)
    }

    fn end_run(&mut self) {
        // Drained in place: the queue keeps its allocation for the next run.
        for slot in self.deferred.drain(..) {
            self.free.release(slot);
        }
    }

    fn ends_runs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Map, create};
    use super::*;
    use bpfx_isa::abi::MapType;

    fn key(len: u32, data: &[u8]) -> Vec<u8> {
        [&len.to_ne_bytes()[..], data].concat()
    }

    fn v4(len: u32, a: [u8; 4]) -> Vec<u8> {
        key(len, &a)
    }

    fn trie(data_size: u32, max: u32) -> Box<dyn Map> {
        create(&spec(MapType::LpmTrie, 4 + data_size, 4, max, BPF_F_NO_PREALLOC), 1).unwrap()
    }

    fn get(m: &dyn Map, k: &[u8]) -> Option<u32> {
        m.lookup(k).ok().map(|v| u32::from_ne_bytes(v.try_into().unwrap()))
    }

    #[test]
    fn creation_rules() {
        let bad = |key, value, flags| create(&spec(MapType::LpmTrie, key, value, 1, flags), 1).unwrap_err();
        assert_eq!(bad(8, 4, 0).rule, "LPM tries need BPF_F_NO_PREALLOC");
        assert_eq!(bad(4, 4, BPF_F_NO_PREALLOC).error, MapError::Invalid);
        assert_eq!(bad(261, 4, BPF_F_NO_PREALLOC).error, MapError::Invalid);
        assert_eq!(bad(8, 0, BPF_F_NO_PREALLOC).error, MapError::Invalid);
        assert_eq!(bad(8, 4, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED).error, MapError::Invalid);
        assert!(create(&spec(MapType::LpmTrie, 260, 4, 1, BPF_F_NO_PREALLOC), 1).is_ok());
    }

    #[test]
    fn ipv4_longest_prefix_match() {
        let mut m = trie(4, 8);
        m.update(&v4(8, [10, 0, 0, 0]), &8u32.to_ne_bytes(), BPF_ANY).unwrap();
        m.update(&v4(16, [10, 1, 0, 0]), &16u32.to_ne_bytes(), BPF_ANY).unwrap();
        m.update(&v4(24, [10, 1, 2, 0]), &24u32.to_ne_bytes(), BPF_ANY).unwrap();
        m.update(&v4(0, [0; 4]), &0u32.to_ne_bytes(), BPF_ANY).unwrap();
        assert_eq!(get(&*m, &v4(32, [10, 1, 2, 3])), Some(24));
        assert_eq!(get(&*m, &v4(32, [10, 1, 3, 3])), Some(16));
        assert_eq!(get(&*m, &v4(32, [10, 2, 3, 3])), Some(8));
        assert_eq!(get(&*m, &v4(32, [11, 2, 3, 3])), Some(0));
        // The key's own prefix length bounds the match.
        assert_eq!(get(&*m, &v4(20, [10, 1, 2, 3])), Some(16));
        assert_eq!(get(&*m, &v4(33, [10, 1, 2, 3])), None);
        let p = m.prog_lookup(&v4(32, [10, 1, 2, 9]), 0).unwrap();
        assert_eq!(read_ptr(p, 4), 24u32.to_ne_bytes());
        m.delete(&v4(0, [0; 4])).unwrap();
        assert_eq!(get(&*m, &v4(32, [11, 2, 3, 3])), None);
        assert!(m.prog_lookup(&v4(32, [11, 2, 3, 3]), 0).is_none());
    }

    #[test]
    fn ipv6_longest_prefix_match() {
        let mut m = trie(16, 4);
        let net = |len, prefix: &[u8]| {
            let mut a = [0u8; 16];
            a[..prefix.len()].copy_from_slice(prefix);
            key(len, &a)
        };
        m.update(&net(32, &[0x20, 0x01, 0x0d, 0xb8]), &1u32.to_ne_bytes(), BPF_ANY).unwrap();
        m.update(&net(48, &[0x20, 0x01, 0x0d, 0xb8, 0, 1]), &2u32.to_ne_bytes(), BPF_ANY).unwrap();
        m.update(&net(127, &[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe]), &3u32.to_ne_bytes(), 0)
            .unwrap();
        let host = |last: u8| {
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[15] = last;
            key(128, &a)
        };
        assert_eq!(get(&*m, &host(0xff)), Some(3));
        assert_eq!(get(&*m, &host(0xfe)), Some(3));
        assert_eq!(get(&*m, &host(0xfd)), Some(2));
        assert_eq!(get(&*m, &net(128, &[0x20, 0x01, 0x0d, 0xb8, 0, 2])), Some(1));
        assert_eq!(get(&*m, &net(128, &[0x20, 0x01, 0x0d, 0xb9])), None);
    }

    #[test]
    fn flags_full_and_errors() {
        let mut m = trie(4, 2);
        let one = 1u32.to_ne_bytes();
        assert_eq!(m.update(&v4(8, [10, 0, 0, 0]), &one, BPF_EXIST), Err(MapError::NotFound));
        m.update(&v4(8, [10, 0, 0, 0]), &one, BPF_NOEXIST).unwrap();
        // Bits past the prefix length do not make a different key.
        assert_eq!(m.update(&v4(8, [10, 9, 9, 9]), &one, BPF_NOEXIST), Err(MapError::Exists));
        m.update(&v4(16, [10, 1, 0, 0]), &one, BPF_ANY).unwrap();
        assert_eq!(m.update(&v4(24, [10, 1, 1, 0]), &one, BPF_ANY), Err(MapError::NoSpace));
        assert_eq!(m.update(&v4(24, [10, 1, 1, 0]), &one, BPF_EXIST), Err(MapError::NotFound));
        assert_eq!(m.update(&v4(8, [10, 0, 0, 0]), &2u32.to_ne_bytes(), BPF_EXIST), Ok(()));
        assert_eq!(m.update(&v4(33, [10, 0, 0, 0]), &one, BPF_ANY), Err(MapError::Invalid));
        assert_eq!(m.update(&v4(8, [10, 0, 0, 0]), &one, 3), Err(MapError::Invalid));
        assert_eq!(m.update(&v4(8, [10, 0, 0, 0]), &one, BPF_F_LOCK), Err(MapError::Invalid));
        assert_eq!(m.delete(&v4(33, [0; 4])), Err(MapError::Invalid));
        assert_eq!(m.delete(&v4(24, [10, 1, 0, 0])), Err(MapError::NotFound));
        assert_eq!(m.update(&[0; 7], &one, BPF_ANY), Err(MapError::Invalid));
    }

    #[test]
    fn next_key_is_the_tries_postorder() {
        // The example of the kernel's lpm_trie.c: more specific first.
        let mut m = trie(4, 8);
        for k in
            [v4(16, [192, 168, 0, 0]), v4(24, [192, 168, 0, 0]), v4(24, [192, 168, 128, 0]), v4(24, [192, 168, 1, 0])]
        {
            m.update(&k, &[0; 4], BPF_ANY).unwrap();
        }
        let order: Vec<_> = m.dump().into_iter().map(|e| e.key).collect();
        assert_eq!(
            order,
            [v4(24, [192, 168, 0, 0]), v4(24, [192, 168, 1, 0]), v4(24, [192, 168, 128, 0]), v4(16, [192, 168, 0, 0])]
        );
        assert_eq!(m.next_key(Some(&v4(16, [192, 168, 0, 0]))), Err(MapError::NotFound));
        assert_eq!(m.next_key(Some(&v4(8, [1, 0, 0, 0]))).unwrap(), v4(24, [192, 168, 0, 0]));
        assert_eq!(m.next_key(Some(&v4(99, [1, 0, 0, 0]))).unwrap(), v4(24, [192, 168, 0, 0]));
    }

    #[test]
    fn replaced_values_keep_their_old_slot_until_the_run_ends() {
        let mut m = trie(4, 1);
        m.update(&v4(8, [10, 0, 0, 0]), &1u32.to_ne_bytes(), BPF_ANY).unwrap();
        let old = m.prog_lookup(&v4(32, [10, 0, 0, 1]), 0).unwrap();
        m.prog_update(&v4(8, [10, 0, 0, 0]), &2u32.to_ne_bytes(), BPF_ANY, 0).unwrap();
        assert_eq!(read_ptr(old, 4), 1u32.to_ne_bytes());
        // Only two slots exist (one entry, one spare): with nothing else
        // free, the old slot comes back into use.
        m.prog_update(&v4(8, [10, 0, 0, 0]), &3u32.to_ne_bytes(), BPF_ANY, 0).unwrap();
        assert_eq!(read_ptr(old, 4), 3u32.to_ne_bytes());
        assert_eq!(get(&*m, &v4(8, [10, 0, 0, 0])), Some(3));
        m.end_run();
        // Data bits past the prefix come back from next_key as last written.
        m.update(&v4(8, [10, 7, 7, 7]), &[0; 4], BPF_EXIST).unwrap();
        assert_eq!(m.next_key(None).unwrap(), v4(8, [10, 7, 7, 7]));
    }

    #[test]
    fn postorder_comparison() {
        let p = |len, a: [u8; 2]| Prefix::new(len, &a);
        assert_eq!(p(3, [0xff, 0xff]).bits.as_ref(), [0xe0, 0]);
        assert_eq!(p(9, [0xff, 0xff]).bits.as_ref(), [0xff, 0x80]);
        assert!(p(9, [0, 0]) < p(8, [0, 0]));
        assert!(p(9, [0, 0]) < p(9, [0, 0x80]));
        assert!(p(9, [0, 0x80]) < p(8, [0, 0]));
        assert!(p(9, [0, 0x80]) < p(1, [0x80, 0]));
        assert!(p(16, [0x80, 1]) < p(1, [0x80, 0]));
        assert!(p(1, [0x80, 0]) < p(0, [0, 0]));
        assert_eq!(p(12, [1, 0x2f]).cmp(&p(12, [1, 0x20])), Ordering::Equal);
    }
}
