//! The hash family (the kernel's `hashtab.c`): `BPF_MAP_TYPE_HASH`,
//! `PERCPU_HASH`, `LRU_HASH`, `LRU_PERCPU_HASH` and `HASH_OF_MAPS`.
//!
//! Values live in slots of one [`Slab`]. A plain hash has `max_entries`
//! slots plus one spare per CPU, like the kernel's `extra_elems`: updating an
//! existing key writes the new value into the spare and keeps the old slot
//! as the next spare, so a pointer a program holds to the old value keeps
//! seeing it (until that CPU's next replacement), as in the kernel. Per-CPU
//! and LRU kinds update in place.
//!
//! Iteration ([`Map::next_key`]) follows insertion order, which replacing a
//! value does not change. The kernel walks its buckets instead, in an order
//! that depends on a random hash seed, so no program can rely on it.
//!
//! LRU: a real least-recently-used order over program lookups and updates
//! (user-side lookups do not count, as in the kernel). Inserting into a full
//! map evicts the least recently used entry, and only that one. The
//! kernel's LRU approximates this: it evicts from an inactive list in
//! batches (filling a 16-entry map with 18 keys leaves 14 there, 200 with
//! 202 leaves 152; `tests/maps.rs` checks the kernel keeps a subset of what
//! bpfx keeps), keeps per-CPU free lists, and may evict before the map is
//! full or evict entries used recently. It also takes a fresh node for every
//! update, so updating an existing key of a full map, or a failed update
//! (say `BPF_EXIST` on a missing key), may evict there, never here. With
//! `BPF_F_NO_COMMON_LRU` each CPU has its own list and its own share of the
//! entries, as in the kernel; the user side acts as CPU 0.

use std::collections::HashMap as StdHashMap;
use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::ptr::NonNull;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

use super::flags::*;
use super::list::{SlotList, SlotPool};
use super::mem::Slab;
use super::{
    Check, CreateError, KMALLOC_MAX_SIZE, Map, MapError, MapMemory, MapResult, PCPU_MIN_UNIT_SIZE, round_up8, sized,
    user_read_ok, user_write_ok,
};

/// A fixed-seed hasher: the same operations give the same map on every run.
type Index = StdHashMap<Box<[u8]>, u32, BuildHasherDefault<DefaultHasher>>;

/// A map of the hash family; see the module documentation.
#[derive(Debug)]
pub struct HashTable {
    spec: MapSpec,
    cpus: u32,
    percpu: bool,
    lru: bool,
    /// `value_size` rounded up to 8: one CPU's value.
    stride: usize,
    /// The bytes of one slot: `stride` times the CPUs it holds values for.
    slot_size: usize,
    values: Slab,
    /// The key of each occupied slot, `key_size` bytes per slot.
    keys: Slab,
    index: Index,
    /// Free slots per LRU domain (one domain unless `BPF_F_NO_COMMON_LRU`;
    /// domain `d` owns slots `d * share..(d + 1) * share`).
    free: Vec<SlotPool>,
    share: u32,
    /// Slots freed in a `BPF_F_NO_PREALLOC` map, kept out of use until the
    /// run ends.
    deferred: VecDeque<u32>,
    prealloc: bool,
    /// The spare slot of each CPU (plain hash and hash of maps only).
    spare: Vec<u32>,
    /// Occupied slots in insertion order.
    order: SlotList,
    /// Per LRU domain, its occupied slots from most to least recently used.
    recency: Vec<SlotList>,
}

impl HashTable {
    /// The kernel's `htab_map_alloc_check` and `htab_map_alloc`.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<HashTable, CreateError> {
        let check = Check { spec };
        let t = spec.map_type;
        let percpu = matches!(t, MapType::PercpuHash | MapType::LruPercpuHash);
        let lru = matches!(t, MapType::LruHash | MapType::LruPercpuHash);
        let percpu_lru = spec.flags & BPF_F_NO_COMMON_LRU != 0;
        let prealloc = spec.flags & BPF_F_NO_PREALLOC == 0;
        if t == MapType::HashOfMaps {
            check.value_size(4)?;
        }
        check.flags(BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED)?;
        check.require(lru || !percpu_lru, || "BPF_F_NO_COMMON_LRU needs an LRU map".into())?;
        if lru && !prealloc {
            return Err(check.fail(MapError::NotSupp, "LRU maps must be preallocated (no BPF_F_NO_PREALLOC)"));
        }
        check.require(spec.flags & BPF_F_NUMA_NODE == 0 || !(percpu || percpu_lru), || {
            "per-cpu maps take no numa node".into()
        })?;
        check.nonzero_max_entries()?;
        check.require(spec.key_size != 0, || "key_size must not be 0".into())?;
        check.nonzero_value_size()?;
        check.no_initial_data()?;
        let stride = round_up8(spec.value_size as usize);
        if u64::from(spec.key_size) + u64::from(spec.value_size) >= KMALLOC_MAX_SIZE - 48
            || (percpu && stride > PCPU_MIN_UNIT_SIZE)
        {
            return Err(check.fail(MapError::Full, "key_size + value_size is too large"));
        }
        let mut spec = spec.clone();
        let domains = if percpu_lru { cpus } else { 1 };
        if percpu_lru {
            // Every CPU's list gets the same share, at least one entry.
            let rounded = u64::from(spec.max_entries).div_ceil(u64::from(cpus)) * u64::from(cpus);
            spec.max_entries = u32::try_from(rounded).unwrap_or(spec.max_entries / cpus * cpus);
        }
        if spec.max_entries > 1 << 31 {
            return Err(check.fail(MapError::Full, format!("max_entries {} is too large", spec.max_entries)));
        }
        let spares = if percpu || lru { 0 } else { cpus };
        let max = spec.max_entries as usize;
        let slots = max + spares as usize;
        let slot_size = stride * if percpu { cpus as usize } else { 1 };
        let values = check.slab(slots.checked_mul(slot_size))?;
        let keys = check.slab(slots.checked_mul(spec.key_size as usize))?;
        // A prealloc map's spares sit outside the free lists; without
        // prealloc every slot is in one pool.
        let pooled = if prealloc { max } else { slots } as u32;
        let share = (pooled / domains).max(1);
        let lists = |n| (0..n).map(|_| SlotList::new(slots)).collect::<Option<Vec<_>>>();
        let no_lists = || check.fail(MapError::NoMem, "cannot allocate the entry lists");
        Ok(HashTable {
            cpus,
            percpu,
            lru,
            stride,
            slot_size,
            values,
            keys,
            index: Index::default(),
            free: (0..domains).map(|d| SlotPool::new(d * share, (d + 1) * share)).collect(),
            share,
            deferred: VecDeque::new(),
            prealloc,
            spare: if prealloc { (max as u32..slots as u32).collect() } else { Vec::new() },
            order: SlotList::new(slots).ok_or_else(no_lists)?,
            recency: lists(if lru { domains } else { 0 }).ok_or_else(no_lists)?,
            spec,
        })
    }

    fn domain(&self, slot: u32) -> usize {
        if self.free.len() == 1 { 0 } else { (slot / self.share) as usize }
    }

    fn key_at(&self, slot: u32) -> Vec<u8> {
        let mut key = vec![0; self.spec.key_size as usize];
        self.keys.read(slot as usize * key.len(), &mut key);
        key
    }

    fn set_key(&mut self, slot: u32, key: &[u8]) {
        self.keys.write(slot as usize * key.len(), key);
    }

    fn offset(&self, slot: u32, cpu: u32) -> usize {
        slot as usize * self.slot_size + if self.percpu { cpu as usize * self.stride } else { 0 }
    }

    fn find(&self, key: &[u8]) -> Option<u32> {
        if key.len() != self.spec.key_size as usize {
            return None;
        }
        self.index.get(key).copied()
    }

    /// The LRU domain an operation on `cpu` allocates from.
    fn domain_of_cpu(&self, cpu: u32) -> usize {
        if self.free.len() == 1 { 0 } else { cpu as usize % self.free.len() }
    }

    fn touch(&mut self, slot: u32) {
        if self.lru {
            let d = self.domain(slot);
            self.recency[d].move_to_front(slot);
        }
    }

    /// A slot for a new entry, evicting in an LRU map; `None` when full.
    fn alloc(&mut self, cpu: u32) -> Option<u32> {
        let d = self.domain_of_cpu(cpu);
        if self.index.len() >= self.spec.max_entries as usize && !self.lru {
            return None;
        }
        if let Some(slot) = self.free[d].take().or_else(|| self.deferred.pop_front()) {
            return Some(slot);
        }
        let victim = self.recency[d].last()?;
        self.unlink(victim);
        self.free[d].take()
    }

    /// Removes the entry in `slot` and frees the slot.
    fn unlink(&mut self, slot: u32) {
        let key = self.key_at(slot);
        self.index.remove(key.as_slice());
        self.order.remove(slot);
        let d = self.domain(slot);
        if self.lru {
            self.recency[d].remove(slot);
        }
        if self.prealloc {
            self.free[d].release(slot);
        } else {
            self.deferred.push_back(slot);
        }
    }

    /// Writes a value: one CPU's (`Some(cpu)`, zeroing the other CPUs'
    /// values of a new per-CPU entry) or, from the user side, every CPU's.
    fn write_value(&mut self, slot: u32, value: &[u8], cpu: Option<u32>, new: bool) {
        match cpu {
            Some(cpu) => {
                if new && self.percpu {
                    self.values.zero(self.offset(slot, 0), self.slot_size);
                }
                self.values.write(self.offset(slot, cpu), value);
            }
            None => self.values.write(self.offset(slot, 0), value),
        }
    }

    /// The update shared by both sides; `cpu` is `None` for the user side's
    /// all-CPU write (and CPU 0's spare and LRU list).
    fn upsert(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: Option<u32>) -> MapResult<()> {
        sized(key, self.spec.key_size as usize)?;
        let plain = !self.percpu && !self.lru;
        // `htab_map_update_elem` tolerates BPF_F_LOCK (then wants a spin
        // lock, which bpfx values never have); the others refuse it outright.
        if (plain && flags & !BPF_F_LOCK > BPF_EXIST) || (!plain && flags > BPF_EXIST) || flags & BPF_F_LOCK != 0 {
            return Err(MapError::Invalid);
        }
        let old = self.find(key);
        match (old, flags) {
            (Some(_), BPF_NOEXIST) => return Err(MapError::Exists),
            (None, BPF_EXIST) => return Err(MapError::NotFound),
            _ => {}
        }
        let on = cpu.unwrap_or(0);
        if on >= self.cpus {
            return Err(MapError::Invalid);
        }
        match old {
            Some(slot) if !self.spare.is_empty() => {
                let new = self.spare[on as usize];
                self.spare[on as usize] = slot;
                self.set_key(new, key);
                self.write_value(new, value, cpu, false);
                self.order.replace(slot, new);
                *self.index.get_mut(key).expect("the key was found") = new;
            }
            Some(slot) => {
                self.write_value(slot, value, cpu, false);
                self.touch(slot);
            }
            None => {
                let slot = self.alloc(on).ok_or(MapError::Full)?;
                self.set_key(slot, key);
                self.write_value(slot, value, cpu, true);
                self.order.push_back(slot);
                if self.lru {
                    let d = self.domain(slot);
                    self.recency[d].push_front(slot);
                }
                self.index.insert(key.into(), slot);
            }
        }
        Ok(())
    }

    fn lookup_ptr(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        if cpu >= self.cpus {
            return None;
        }
        let slot = self.find(key)?;
        self.touch(slot);
        Some(self.values.ptr(self.offset(slot, cpu)))
    }

    fn user_copy(&self, slot: u32) -> Vec<u8> {
        let len = if self.percpu { self.slot_size } else { self.spec.value_size as usize };
        let mut out = vec![0; len];
        self.values.read(self.offset(slot, 0), &mut out);
        out
    }
}

impl Map for HashTable {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        let read_only = self.spec.flags & BPF_F_RDONLY_PROG != 0 || self.spec.map_type == MapType::HashOfMaps;
        Some(self.values.memory(self.stride, read_only))
    }

    fn prog_lookup(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        self.lookup_ptr(key, if self.percpu { cpu } else { 0 })
    }

    fn prog_lookup_percpu(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        if !self.percpu {
            return None;
        }
        self.lookup_ptr(key, cpu)
    }

    fn prog_update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        self.upsert(key, value, flags, Some(cpu))
    }

    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()> {
        sized(key, self.spec.key_size as usize)?;
        let slot = self.find(key).ok_or(MapError::NotFound)?;
        self.unlink(slot);
        Ok(())
    }

    fn inner_map(&self, key: &[u8]) -> Option<u32> {
        if self.spec.map_type != MapType::HashOfMaps {
            return None;
        }
        let mut id = [0; 4];
        self.values.read(self.offset(self.find(key)?, 0), &mut id);
        Some(u32::from_ne_bytes(id))
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        sized(key, self.spec.key_size as usize)?;
        self.find(key).map(|slot| self.user_copy(slot)).ok_or(MapError::NotFound)
    }

    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        user_write_ok(&self.spec, flags)?;
        sized(value, self.user_value_size())?;
        self.upsert(key, value, flags, if self.percpu { None } else { Some(0) })
    }

    fn delete(&mut self, key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        self.prog_delete(key)
    }

    fn lookup_and_delete(&mut self, key: &[u8]) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        user_write_ok(&self.spec, BPF_ANY)?;
        if self.spec.map_type == MapType::HashOfMaps {
            return Err(MapError::NotSupp);
        }
        let value = self.lookup(key)?;
        self.prog_delete(key)?;
        Ok(value)
    }

    fn next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        if let Some(key) = key {
            sized(key, self.spec.key_size as usize)?;
        }
        let next = match key.and_then(|k| self.find(k)) {
            Some(slot) => self.order.next(slot),
            None => self.order.first(),
        };
        next.map(|slot| self.key_at(slot)).ok_or(MapError::NotFound)
    }

    fn end_run(&mut self) {
        // Drained in place: the queue keeps its allocation for the next run.
        for slot in self.deferred.drain(..) {
            self.free[0].release(slot);
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

    fn keys(m: &dyn Map) -> Vec<u32> {
        m.dump().iter().map(|e| u32::from_ne_bytes(e.key[..4].try_into().unwrap())).collect()
    }

    #[test]
    fn creation_rules() {
        let bad = |t, key, value, max, flags| create(&spec(t, key, value, max, flags), 2).unwrap_err();
        assert_eq!(bad(MapType::Hash, 0, 4, 1, 0).rule, "key_size must not be 0");
        assert_eq!(bad(MapType::Hash, 4, 0, 1, 0).error, MapError::Invalid);
        assert_eq!(bad(MapType::Hash, 4, 4, 0, 0).error, MapError::Invalid);
        assert_eq!(bad(MapType::Hash, 4, 4, 1, BPF_F_NO_COMMON_LRU).error, MapError::Invalid);
        assert_eq!(bad(MapType::Hash, 4, 4, 1, BPF_F_MMAPABLE).error, MapError::Invalid);
        assert_eq!(bad(MapType::LruHash, 4, 4, 1, BPF_F_NO_PREALLOC).error, MapError::NotSupp);
        assert_eq!(bad(MapType::HashOfMaps, 4, 8, 1, 0).rule, "value_size must be 4, not 8");
        assert_eq!(bad(MapType::Hash, 4, 4 << 20, 1, 0).error, MapError::Full);
        assert_eq!(bad(MapType::PercpuHash, 4, 32 * 1024 + 1, 1, 0).error, MapError::Full);
        // Per-CPU LRU lists share max_entries evenly: 5 entries on 2 CPUs become 6.
        let m = create(&spec(MapType::LruHash, 4, 4, 5, BPF_F_NO_COMMON_LRU), 2).unwrap();
        assert_eq!(m.spec().max_entries, 6);
    }

    #[test]
    fn flags_and_full_map() {
        let mut m = create(&spec(MapType::Hash, 4, 4, 2, 0), 1).unwrap();
        assert_eq!(m.update(&k32(1), &[1; 4], BPF_EXIST), Err(MapError::NotFound));
        assert_eq!(m.update(&k32(1), &[1; 4], BPF_NOEXIST), Ok(()));
        assert_eq!(m.update(&k32(1), &[1; 4], BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k32(2), &[2; 4], BPF_ANY), Ok(()));
        assert_eq!(m.update(&k32(3), &[3; 4], BPF_ANY), Err(MapError::Full));
        // Replacing a key of a full map succeeds.
        assert_eq!(m.update(&k32(2), &[4; 4], BPF_ANY), Ok(()));
        assert_eq!(m.update(&k32(2), &[5; 4], BPF_EXIST), Ok(()));
        assert_eq!(m.lookup(&k32(2)).unwrap(), [5; 4]);
        assert_eq!(m.update(&k32(2), &[5; 4], 3), Err(MapError::Invalid));
        assert_eq!(m.update(&k32(2), &[5; 4], BPF_F_LOCK), Err(MapError::Invalid));
        assert_eq!(m.prog_update(&k32(9), &[5; 4], BPF_F_LOCK | BPF_NOEXIST, 0), Err(MapError::Invalid));
        assert_eq!(m.delete(&k32(3)), Err(MapError::NotFound));
        assert_eq!(m.delete(&k32(1)), Ok(()));
        assert_eq!(m.lookup(&k32(1)), Err(MapError::NotFound));
        assert_eq!(m.update(&k32(3), &[3; 4], BPF_ANY), Ok(()));
        assert_eq!(m.lookup_and_delete(&k32(3)).unwrap(), [3; 4]);
        assert_eq!(m.lookup_and_delete(&k32(3)), Err(MapError::NotFound));
        assert_eq!(m.lookup(&[0; 3]), Err(MapError::Invalid));
    }

    #[test]
    fn replaced_values_stay_visible_through_old_pointers() {
        let mut m = create(&spec(MapType::Hash, 4, 4, 1, 0), 1).unwrap();
        m.update(&k32(7), &[1; 4], BPF_ANY).unwrap();
        let old = m.prog_lookup(&k32(7), 0).unwrap();
        m.prog_update(&k32(7), &[2; 4], BPF_ANY, 0).unwrap();
        let new = m.prog_lookup(&k32(7), 0).unwrap();
        assert_ne!(old, new);
        assert_eq!((read_ptr(old, 4), read_ptr(new, 4)), (vec![1; 4], vec![2; 4]));
        // Every pointer stays inside the map's memory.
        let mem = m.memory().unwrap();
        for p in [old, new] {
            let off = p.as_ptr() as usize - mem.base as usize;
            assert!(off + 4 <= mem.len);
        }
    }

    #[test]
    fn prealloc_reuses_freed_slots_at_once_no_prealloc_after_the_run() {
        let mut m = create(&spec(MapType::Hash, 4, 4, 4, 0), 1).unwrap();
        m.update(&k32(1), &[1; 4], BPF_ANY).unwrap();
        let p = m.prog_lookup(&k32(1), 0).unwrap();
        m.delete(&k32(1)).unwrap();
        m.update(&k32(2), &[2; 4], BPF_ANY).unwrap();
        assert_eq!(read_ptr(p, 4), [2; 4]);

        let mut m = create(&spec(MapType::Hash, 4, 4, 4, BPF_F_NO_PREALLOC), 1).unwrap();
        m.update(&k32(1), &[1; 4], BPF_ANY).unwrap();
        let p = m.prog_lookup(&k32(1), 0).unwrap();
        m.delete(&k32(1)).unwrap();
        m.update(&k32(2), &[2; 4], BPF_ANY).unwrap();
        assert_eq!(read_ptr(p, 4), [1; 4]);
        m.end_run();
        m.delete(&k32(2)).unwrap();
        for k in 3..7 {
            m.update(&k32(k), &[k as u8; 4], BPF_ANY).unwrap();
        }
        assert_eq!(m.update(&k32(7), &[0; 4], BPF_ANY), Err(MapError::Full));
        assert_eq!(keys(&*m), [3, 4, 5, 6]);
    }

    #[test]
    fn next_key_follows_insertion_order_and_restarts_on_missing_keys() {
        let mut m = create(&spec(MapType::Hash, 4, 4, 8, 0), 1).unwrap();
        assert_eq!(m.next_key(None), Err(MapError::NotFound));
        for k in [5, 3, 9] {
            m.update(&k32(k), &[0; 4], BPF_ANY).unwrap();
        }
        m.update(&k32(3), &[1; 4], BPF_ANY).unwrap();
        assert_eq!(keys(&*m), [5, 3, 9]);
        assert_eq!(m.next_key(Some(&k32(3))).unwrap(), k32(9));
        assert_eq!(m.next_key(Some(&k32(9))), Err(MapError::NotFound));
        assert_eq!(m.next_key(Some(&k32(4))).unwrap(), k32(5));
        // Deleting while iterating, the common user-space idiom.
        let mut key = None;
        while let Ok(next) = m.next_key(key.as_deref()) {
            m.delete(&next).unwrap();
            key = Some(next);
        }
        assert!(m.dump().is_empty());
    }

    #[test]
    fn percpu_hash() {
        let mut m = create(&spec(MapType::PercpuHash, 4, 4, 2, 0), 2).unwrap();
        m.prog_update(&k32(1), &[7; 4], BPF_ANY, 1).unwrap();
        assert_eq!(m.lookup(&k32(1)).unwrap(), [[0; 8], [7, 7, 7, 7, 0, 0, 0, 0]].concat());
        let p0 = m.prog_lookup(&k32(1), 0).unwrap();
        write_ptr(p0, &[3; 4]);
        // Updating an existing entry from a program touches that CPU only.
        m.prog_update(&k32(1), &[8; 4], BPF_EXIST, 1).unwrap();
        assert_eq!(m.lookup(&k32(1)).unwrap(), [[3, 3, 3, 3, 0, 0, 0, 0], [8, 8, 8, 8, 0, 0, 0, 0]].concat());
        assert_eq!(read_ptr(m.prog_lookup_percpu(&k32(1), 1).unwrap(), 4), [8; 4]);
        assert!(m.prog_lookup_percpu(&k32(1), 2).is_none());
        let all: Vec<u8> = (0..16).collect();
        m.update(&k32(2), &all, BPF_NOEXIST).unwrap();
        assert_eq!(m.lookup(&k32(2)).unwrap(), all);
        assert_eq!(m.update(&k32(3), &all, BPF_ANY), Err(MapError::Full));
        assert_eq!(m.update(&k32(2), &all[..8], BPF_ANY), Err(MapError::Invalid));
        assert_eq!(m.update(&k32(2), &all, BPF_F_LOCK), Err(MapError::Invalid));
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut m = create(&spec(MapType::LruHash, 4, 4, 3, 0), 1).unwrap();
        for k in 1..=3 {
            m.prog_update(&k32(k), &[k as u8; 4], BPF_ANY, 0).unwrap();
        }
        // Use 1, then a user-side lookup of 2 (which does not count).
        assert!(m.prog_lookup(&k32(1), 0).is_some());
        m.lookup(&k32(2)).unwrap();
        m.prog_update(&k32(4), &[4; 4], BPF_ANY, 0).unwrap();
        assert_eq!(keys(&*m), [1, 3, 4]);
        // Updating 3 makes it recent; 1 is now the oldest.
        m.prog_update(&k32(3), &[9; 4], BPF_EXIST, 0).unwrap();
        m.prog_update(&k32(5), &[5; 4], BPF_NOEXIST, 0).unwrap();
        assert_eq!(keys(&*m), [3, 4, 5]);
        // Failed updates evict nothing.
        assert_eq!(m.prog_update(&k32(6), &[6; 4], BPF_EXIST, 0), Err(MapError::NotFound));
        assert_eq!(m.prog_update(&k32(4), &[6; 4], BPF_NOEXIST, 0), Err(MapError::Exists));
        assert_eq!(keys(&*m), [3, 4, 5]);
        m.delete(&k32(4)).unwrap();
        m.prog_update(&k32(6), &[6; 4], BPF_ANY, 0).unwrap();
        assert_eq!(keys(&*m), [3, 5, 6]);
        assert_eq!(m.lookup(&k32(3)).unwrap(), [9; 4]);
    }

    #[test]
    fn lru_percpu_lists_evict_per_cpu() {
        let mut m = create(&spec(MapType::LruPercpuHash, 4, 4, 4, BPF_F_NO_COMMON_LRU), 2).unwrap();
        for k in 0..2 {
            m.prog_update(&k32(k), &[1; 4], BPF_ANY, 0).unwrap();
        }
        m.prog_update(&k32(10), &[1; 4], BPF_ANY, 1).unwrap();
        // CPU 0's list holds two entries: a third evicts CPU 0's oldest.
        m.prog_update(&k32(2), &[1; 4], BPF_ANY, 0).unwrap();
        assert_eq!(keys(&*m), [1, 10, 2]);
        m.prog_update(&k32(11), &[1; 4], BPF_ANY, 1).unwrap();
        assert_eq!(keys(&*m), [1, 10, 2, 11]);
        assert_eq!(m.lookup(&k32(11)).unwrap(), [[0; 8], [1, 1, 1, 1, 0, 0, 0, 0]].concat());
    }

    #[test]
    fn hash_of_maps_holds_inner_map_indices() {
        let mut m = create(&spec(MapType::HashOfMaps, 4, 4, 2, 0), 1).unwrap();
        m.update(&k32(1), &3u32.to_ne_bytes(), BPF_ANY).unwrap();
        assert_eq!(m.inner_map(&k32(1)), Some(3));
        assert_eq!(m.inner_map(&k32(2)), None);
        assert!(m.memory().unwrap().read_only);
        assert_eq!(m.lookup_and_delete(&k32(1)), Err(MapError::NotSupp));
    }
}
