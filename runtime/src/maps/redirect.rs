//! The redirect targets of `bpf_redirect_map`: `BPF_MAP_TYPE_DEVMAP`,
//! `DEVMAP_HASH` (kernel `devmap.c`), `CPUMAP` (`cpumap.c`) and `XSKMAP`
//! (`net/xdp/xskmap.c`).
//!
//! bpfx has no devices, CPUs' backlogs or sockets: a map holds the values
//! users store (an ifindex, a queue size, a socket fd, and the optional
//! program fd) and [`RedirectMap::target`] tells the runtime where a packet
//! would go. Where the kernel resolves a value (an ifindex to a device, an
//! fd to a program or socket) and refuses ones that name nothing, bpfx
//! accepts any, except the values the kernel refuses in every case (ifindex
//! 0 in a devmap_hash, a cpumap queue size over 16384, a CPU past the
//! configured count). The kernel reads a program fd back as the program's
//! id; bpfx returns what was written.
//!
//! Values are read-only to programs (the kernel forces `BPF_F_RDONLY_PROG`
//! on devmaps); a program's lookup gets a pointer to the stored value.

use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::ptr::NonNull;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

use super::fd_array::array_next_key;
use super::flags::*;
use super::list::{SlotList, SlotPool};
use super::mem::{Slab, Table};
use super::{Check, CreateError, Map, MapError, MapMemory, MapResult, index_key, sized, user_read_ok, user_write_ok};

/// The kernel's `NR_CPUS` limit on a cpumap's size (8192 in common
/// distribution kernels).
const NR_CPUS: u32 = 8192;

/// The kernel's limit on a cpumap entry's queue size.
const CPUMAP_MAX_QSIZE: u32 = 16384;

/// Where `bpf_redirect_map` sends a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectTarget {
    /// Out of a device (devmap, devmap_hash), after the devmap program
    /// (the value's program fd as written, when positive) if any.
    Device { ifindex: u32, prog: Option<u32> },
    /// To a CPU's backlog (cpumap), with its queue size and program.
    Cpu { cpu: u32, qsize: u32, prog: Option<u32> },
    /// To an AF_XDP socket (xskmap): the socket fd as written.
    Socket { fd: u32 },
}

/// A devmap, devmap_hash, cpumap or xskmap; see the module documentation.
#[derive(Debug)]
pub struct RedirectMap {
    spec: MapSpec,
    cpus: u32,
    /// Values, 8 bytes per slot (the largest value is 8 bytes).
    values: Slab,
    /// Whether each slot holds an entry (1) or not (0).
    present: Table,
    /// devmap_hash only: each key's slot, each slot's key, free slots,
    /// insertion order.
    keys: StdHashMap<u32, u32, BuildHasherDefault<DefaultHasher>>,
    slot_keys: Table,
    free: SlotPool,
    order: SlotList,
}

const STRIDE: usize = 8;

impl RedirectMap {
    /// The kernel's `dev_map_alloc_check`, `cpu_map_alloc` and
    /// `xsk_map_alloc`.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<RedirectMap, CreateError> {
        let check = Check { spec };
        check.nonzero_max_entries()?;
        check.key_size(4)?;
        check.no_initial_data()?;
        let mut spec = spec.clone();
        match spec.map_type {
            MapType::Devmap | MapType::DevmapHash => {
                check.require(matches!(spec.value_size, 4 | 8), || {
                    format!("value_size must be 4 (ifindex) or 8 (ifindex, program fd), not {}", spec.value_size)
                })?;
                check.flags(BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY)?;
                check.require(spec.map_type == MapType::Devmap || spec.max_entries <= 1 << 31, || {
                    format!("max_entries {} is too large", spec.max_entries)
                })?;
                spec.flags |= BPF_F_RDONLY_PROG;
            }
            MapType::Cpumap => {
                check.require(matches!(spec.value_size, 4 | 8), || {
                    format!("value_size must be 4 (qsize) or 8 (qsize, program fd), not {}", spec.value_size)
                })?;
                check.flags(BPF_F_NUMA_NODE)?;
                if spec.max_entries > NR_CPUS {
                    return Err(check.fail(MapError::Full, format!("max_entries is over NR_CPUS ({NR_CPUS})")));
                }
            }
            _ => {
                check.value_size(4)?;
                check.flags(BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY)?;
            }
        }
        let slots = spec.max_entries as usize;
        let values = check.slab(slots.checked_mul(STRIDE))?;
        let hashed = if spec.map_type == MapType::DevmapHash { slots } else { 0 };
        let no_mem = || check.fail(MapError::NoMem, "cannot allocate the slots");
        Ok(RedirectMap {
            cpus,
            values,
            present: Table::new(slots).ok_or_else(no_mem)?,
            keys: StdHashMap::default(),
            slot_keys: Table::new(hashed).ok_or_else(no_mem)?,
            free: SlotPool::new(0, hashed as u32),
            order: SlotList::new(hashed).ok_or_else(no_mem)?,
            spec,
        })
    }

    fn hashed(&self) -> bool {
        self.spec.map_type == MapType::DevmapHash
    }

    /// The slot of `key`, if it holds an entry.
    fn slot(&self, key: u32) -> Option<u32> {
        let slot = if self.hashed() { *self.keys.get(&key)? } else { key };
        (slot < self.spec.max_entries && self.present.get(slot) == 1).then_some(slot)
    }

    fn value(&self, slot: u32) -> [u32; 2] {
        let mut v = [0; 8];
        self.values.read(slot as usize * STRIDE, &mut v);
        let word = |i: usize| u32::from_ne_bytes(v[i..i + 4].try_into().expect("4 bytes"));
        [word(0), if self.spec.value_size == 8 { word(4) } else { 0 }]
    }

    /// Where a redirect through `key` goes; `None` when nothing is there
    /// (the helper then returns the action in its flags' low bits).
    pub fn target(&self, key: u32) -> Option<RedirectTarget> {
        let slot = self.slot(key)?;
        let [first, fd] = self.value(slot);
        let prog = (fd as i32 > 0).then_some(fd);
        Some(match self.spec.map_type {
            MapType::Cpumap => RedirectTarget::Cpu { cpu: key, qsize: first, prog },
            MapType::Xskmap => RedirectTarget::Socket { fd: first },
            _ => RedirectTarget::Device { ifindex: first, prog },
        })
    }

    /// Every entry's key and target in key order (devmap_hash: insertion
    /// order), for `BPF_F_BROADCAST`.
    pub fn targets(&self) -> Vec<(u32, RedirectTarget)> {
        let keys: Vec<u32> = if self.hashed() {
            self.order.iter().map(|s| self.slot_keys.get(s)).collect()
        } else {
            (0..self.spec.max_entries).collect()
        };
        keys.into_iter().filter_map(|k| Some((k, self.target(k)?))).collect()
    }

    fn set(&mut self, slot: u32, value: &[u8]) {
        let mut v = [0; STRIDE];
        v[..value.len()].copy_from_slice(value);
        self.values.write(slot as usize * STRIDE, &v);
        self.present.set(slot, 1);
    }

    fn clear(&mut self, key: u32) -> bool {
        let Some(slot) = self.slot(key) else { return false };
        self.present.set(slot, 0);
        if self.hashed() {
            self.keys.remove(&key);
            self.order.remove(slot);
            self.free.release(slot);
        }
        true
    }

    fn put(&mut self, key: u32, value: &[u8], flags: u64) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        let word = |i: usize| value.get(i..i + 4).map_or(0, |w| u32::from_ne_bytes(w.try_into().expect("4 bytes")));
        let (first, fd) = (word(0), word(4));
        let exists = self.slot(key).is_some();
        match self.spec.map_type {
            MapType::Devmap => {
                array_flags(key, flags, self.spec.max_entries)?;
                if first == 0 {
                    // ifindex 0 empties the slot, if no program comes with it.
                    if fd as i32 > 0 {
                        return Err(MapError::Invalid);
                    }
                    self.clear(key);
                    return Ok(());
                }
                self.set(key, value);
            }
            MapType::DevmapHash => {
                if flags > BPF_EXIST || first == 0 {
                    return Err(MapError::Invalid);
                }
                if exists && flags & BPF_NOEXIST != 0 {
                    return Err(MapError::Exists);
                }
                let slot = match self.slot(key) {
                    Some(slot) => slot,
                    None => {
                        let slot = self.free.take().ok_or(MapError::Full)?;
                        self.keys.insert(key, slot);
                        self.slot_keys.set(slot, key);
                        self.order.push_back(slot);
                        slot
                    }
                };
                self.set(slot, value);
            }
            MapType::Cpumap => {
                array_flags(key, flags, self.spec.max_entries)?;
                if first > CPUMAP_MAX_QSIZE {
                    return Err(MapError::Overflow);
                }
                if key >= self.cpus {
                    return Err(MapError::NoDevice);
                }
                if first == 0 {
                    self.clear(key);
                    return Ok(());
                }
                self.set(key, value);
            }
            _ => {
                if flags > BPF_EXIST {
                    return Err(MapError::Invalid);
                }
                if key >= self.spec.max_entries {
                    return Err(MapError::Full);
                }
                match (exists, flags) {
                    (true, BPF_NOEXIST) => return Err(MapError::Exists),
                    (false, BPF_EXIST) => return Err(MapError::NotFound),
                    _ => self.set(key, value),
                }
            }
        }
        Ok(())
    }
}

/// The checks of the array-like redirect maps' updates.
fn array_flags(key: u32, flags: u64, max_entries: u32) -> MapResult<()> {
    if flags > BPF_EXIST {
        return Err(MapError::Invalid);
    }
    if key >= max_entries {
        return Err(MapError::Full);
    }
    if flags == BPF_NOEXIST {
        return Err(MapError::Exists);
    }
    Ok(())
}

impl Map for RedirectMap {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        Some(self.values.memory(STRIDE, true))
    }

    fn prog_lookup(&mut self, key: &[u8], _cpu: u32) -> Option<NonNull<u8>> {
        let slot = self.slot(index_key(key).ok()?)?;
        Some(self.values.ptr(slot as usize * STRIDE))
    }

    /// The verifier keeps programs from updating these maps; this applies
    /// the user side's rules.
    fn prog_update(&mut self, key: &[u8], value: &[u8], flags: u64, _cpu: u32) -> MapResult<()> {
        self.put(index_key(key)?, value, flags)
    }

    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()> {
        let key = index_key(key)?;
        if self.hashed() {
            return if self.clear(key) { Ok(()) } else { Err(MapError::NotFound) };
        }
        // The array kinds refuse keys out of range, and deleting an empty
        // slot succeeds.
        if key >= self.spec.max_entries {
            return Err(MapError::Invalid);
        }
        self.clear(key);
        Ok(())
    }

    fn as_redirect(&self) -> Option<&RedirectMap> {
        Some(self)
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        let key = index_key(key)?;
        if self.spec.map_type == MapType::Xskmap {
            return Err(MapError::OpNotSupp);
        }
        let slot = self.slot(key).ok_or(MapError::NotFound)?;
        let mut out = vec![0; self.spec.value_size as usize];
        self.values.read(slot as usize * STRIDE, &mut out);
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
        if !self.hashed() {
            return array_next_key(key, self.spec.max_entries);
        }
        let after = key.map(index_key).transpose()?.and_then(|k| self.slot(k));
        let next = match after {
            Some(slot) => self.order.next(slot),
            None => self.order.first(),
        };
        next.map(|slot| self.slot_keys.get(slot).to_ne_bytes().to_vec()).ok_or(MapError::NotFound)
    }

    /// Only the entries present (xskmap values cannot be read back, so an
    /// xskmap shows the socket fds as written).
    fn dump(&self) -> Vec<super::Entry> {
        self.targets()
            .into_iter()
            .filter_map(|(k, _)| {
                let slot = self.slot(k)?;
                let mut value = vec![0; self.spec.value_size as usize];
                self.values.read(slot as usize * STRIDE, &mut value);
                Some(super::Entry { key: k.to_ne_bytes().to_vec(), value })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::create;
    use super::super::test_util::*;
    use super::*;

    fn val(a: u32, b: u32) -> Vec<u8> {
        [a.to_ne_bytes(), b.to_ne_bytes()].concat()
    }

    #[test]
    fn creation_rules() {
        let bad = |t, value, max, flags| create(&spec(t, 4, value, max, flags), 2).unwrap_err();
        assert_eq!(bad(MapType::Devmap, 12, 1, 0).error, MapError::Invalid);
        assert_eq!(bad(MapType::Devmap, 4, 1, BPF_F_RDONLY_PROG).error, MapError::Invalid);
        assert_eq!(bad(MapType::Cpumap, 4, NR_CPUS + 1, 0).error, MapError::Full);
        assert_eq!(bad(MapType::Cpumap, 4, 1, BPF_F_RDONLY).error, MapError::Invalid);
        assert_eq!(bad(MapType::Xskmap, 8, 1, 0).error, MapError::Invalid);
        let m = create(&spec(MapType::Devmap, 4, 8, 4, 0), 1).unwrap();
        assert_ne!(m.spec().flags & BPF_F_RDONLY_PROG, 0);
        assert!(m.memory().unwrap().read_only);
    }

    #[test]
    fn devmap() {
        let mut m = create(&spec(MapType::Devmap, 4, 8, 4, 0), 1).unwrap();
        m.update(&k32(1), &val(7, 0), BPF_ANY).unwrap();
        m.update(&k32(2), &val(9, 3), BPF_EXIST).unwrap();
        assert_eq!(m.update(&k32(1), &val(7, 0), BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k32(4), &val(7, 0), BPF_ANY), Err(MapError::Full));
        assert_eq!(m.update(&k32(3), &val(0, 5), BPF_ANY), Err(MapError::Invalid));
        let r = m.as_redirect().unwrap();
        assert_eq!(r.target(1), Some(RedirectTarget::Device { ifindex: 7, prog: None }));
        assert_eq!(r.target(2), Some(RedirectTarget::Device { ifindex: 9, prog: Some(3) }));
        assert_eq!(r.target(0), None);
        assert_eq!(r.targets().len(), 2);
        assert_eq!(m.lookup(&k32(2)).unwrap(), val(9, 3));
        assert_eq!(m.lookup(&k32(0)), Err(MapError::NotFound));
        assert_eq!(read_ptr(m.prog_lookup(&k32(1), 0).unwrap(), 4), 7u32.to_ne_bytes());
        // ifindex 0 empties a slot; deleting an empty slot succeeds.
        m.update(&k32(1), &val(0, 0), BPF_ANY).unwrap();
        assert_eq!(m.as_redirect().unwrap().target(1), None);
        assert_eq!(m.delete(&k32(1)), Ok(()));
        assert_eq!(m.delete(&k32(4)), Err(MapError::Invalid));
        assert_eq!(m.next_key(Some(&k32(3))), Err(MapError::NotFound));
        assert_eq!(m.dump().len(), 1);
    }

    #[test]
    fn devmap_hash() {
        let mut m = create(&spec(MapType::DevmapHash, 4, 4, 2, 0), 1).unwrap();
        m.update(&k32(100), &k32(5), BPF_ANY).unwrap();
        // BPF_EXIST does not require the key to exist here.
        m.update(&k32(200), &k32(6), BPF_EXIST).unwrap();
        assert_eq!(m.update(&k32(300), &k32(6), BPF_ANY), Err(MapError::Full));
        assert_eq!(m.update(&k32(100), &k32(8), BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k32(100), &k32(0), BPF_ANY), Err(MapError::Invalid));
        m.update(&k32(100), &k32(8), BPF_ANY).unwrap();
        assert_eq!(m.as_redirect().unwrap().target(100), Some(RedirectTarget::Device { ifindex: 8, prog: None }));
        assert_eq!(m.next_key(None).unwrap(), k32(100));
        assert_eq!(m.next_key(Some(&k32(100))).unwrap(), k32(200));
        assert_eq!(m.next_key(Some(&k32(7))).unwrap(), k32(100));
        assert_eq!(m.delete(&k32(7)), Err(MapError::NotFound));
        m.delete(&k32(100)).unwrap();
        m.update(&k32(300), &k32(6), BPF_ANY).unwrap();
        assert_eq!(m.dump().iter().map(|e| e.key.clone()).collect::<Vec<_>>(), [k32(200), k32(300)]);
    }

    #[test]
    fn cpumap() {
        let mut m = create(&spec(MapType::Cpumap, 4, 4, 8, 0), 2).unwrap();
        m.update(&k32(1), &k32(192), BPF_ANY).unwrap();
        assert_eq!(m.update(&k32(2), &k32(192), BPF_ANY), Err(MapError::NoDevice));
        assert_eq!(m.update(&k32(1), &k32(16385), BPF_ANY), Err(MapError::Overflow));
        assert_eq!(m.update(&k32(8), &k32(1), BPF_ANY), Err(MapError::Full));
        assert_eq!(m.update(&k32(1), &k32(1), BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.as_redirect().unwrap().target(1), Some(RedirectTarget::Cpu { cpu: 1, qsize: 192, prog: None }));
        m.update(&k32(1), &k32(0), BPF_ANY).unwrap();
        assert_eq!(m.as_redirect().unwrap().target(1), None);
    }

    #[test]
    fn xskmap() {
        let mut m = create(&spec(MapType::Xskmap, 4, 4, 4, 0), 1).unwrap();
        assert_eq!(m.update(&k32(0), &k32(42), BPF_EXIST), Err(MapError::NotFound));
        m.update(&k32(0), &k32(42), BPF_NOEXIST).unwrap();
        assert_eq!(m.update(&k32(0), &k32(43), BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k32(4), &k32(43), BPF_ANY), Err(MapError::Full));
        assert_eq!(m.as_redirect().unwrap().target(0), Some(RedirectTarget::Socket { fd: 42 }));
        assert_eq!(m.lookup(&k32(0)), Err(MapError::OpNotSupp));
        assert!(m.prog_lookup(&k32(0), 0).is_some());
        assert!(m.prog_lookup(&k32(1), 0).is_none());
        assert_eq!(m.delete(&k32(1)), Ok(()));
        assert_eq!(m.delete(&k32(9)), Err(MapError::Invalid));
    }
}
