//! `BPF_MAP_TYPE_PROG_ARRAY` and `BPF_MAP_TYPE_ARRAY_OF_MAPS` (the
//! kernel's fd arrays in `arraymap.c`): `max_entries` slots indexed by a
//! `u32`, each empty or naming an object. The kernel stores what a file
//! descriptor refers to; bpfx stores the index the runtime gives it: a
//! program index for a prog array (the tail call targets), a map index for
//! an array of maps.

use std::ptr::NonNull;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

use super::flags::*;
use super::mem::{Slab, Table};
use super::{Check, CreateError, Map, MapError, MapMemory, MapResult, index_key, sized, user_read_ok, user_write_ok};

/// A prog array or array of maps; see the module documentation.
#[derive(Debug)]
pub struct FdArray {
    spec: MapSpec,
    cpus: u32,
    /// Whether each slot holds an index (1) or not (0).
    present: Table,
    /// The indices, as `u32`s: also what a program's lookup in an array of
    /// maps points at (read-only to programs).
    values: Slab,
}

impl FdArray {
    /// The kernel's `fd_array_map_alloc_check`: a `u32` key and value, no
    /// program access flags, else the array rules.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<FdArray, CreateError> {
        let check = Check { spec };
        check.value_size(4)?;
        check.require(spec.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) == 0, || {
            "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG are not allowed for this type".into()
        })?;
        check.nonzero_max_entries()?;
        check.key_size(4)?;
        check.flags(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)?;
        check.no_initial_data()?;
        let values = check.slab((spec.max_entries as usize).checked_mul(4))?;
        let present = Table::new(spec.max_entries as usize)
            .ok_or_else(|| check.fail(MapError::NoMem, "cannot allocate the slots"))?;
        Ok(FdArray { spec: spec.clone(), cpus, present, values })
    }

    /// The program index at `index` of a prog array: the target of
    /// `bpf_tail_call(ctx, map, index)`, `None` if out of range or empty
    /// (then the tail call falls through). The runtime counts tail calls
    /// against [`super::MAX_TAIL_CALL_CNT`].
    pub fn get(&self, index: u32) -> Option<u32> {
        if index >= self.spec.max_entries || self.present.get(index) == 0 {
            return None;
        }
        let mut v = [0; 4];
        self.values.read(index as usize * 4, &mut v);
        Some(u32::from_ne_bytes(v))
    }

    fn remove(&mut self, key: &[u8]) -> MapResult<()> {
        let index = index_key(key)?;
        if index >= self.spec.max_entries {
            return Err(MapError::Full);
        }
        self.get(index).ok_or(MapError::NotFound)?;
        self.present.set(index, 0);
        Ok(())
    }
}

impl Map for FdArray {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        (self.spec.map_type == MapType::ArrayOfMaps).then(|| self.values.memory(4, true))
    }

    /// For an array of maps, the address of the inner map's index; `None`
    /// for a prog array (the kernel's lookup fails there too).
    fn prog_lookup(&mut self, key: &[u8], _cpu: u32) -> Option<NonNull<u8>> {
        if self.spec.map_type != MapType::ArrayOfMaps {
            return None;
        }
        let index = index_key(key).ok()?;
        self.get(index)?;
        Some(self.values.ptr(index as usize * 4))
    }

    fn prog_update(&mut self, _key: &[u8], _value: &[u8], _flags: u64, _cpu: u32) -> MapResult<()> {
        Err(MapError::NotSupp)
    }

    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()> {
        self.remove(key)
    }

    fn inner_map(&self, key: &[u8]) -> Option<u32> {
        if self.spec.map_type != MapType::ArrayOfMaps {
            return None;
        }
        self.get(index_key(key).ok()?)
    }

    fn as_prog_array(&self) -> Option<&FdArray> {
        (self.spec.map_type == MapType::ProgArray).then_some(self)
    }

    /// The stored index (the kernel returns the program's or map's id).
    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        let index = index_key(key)?;
        self.get(index).map(|v| v.to_ne_bytes().to_vec()).ok_or(MapError::NotFound)
    }

    /// Stores a program or map index; only `BPF_ANY` is accepted.
    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        user_write_ok(&self.spec, flags)?;
        let index = index_key(key)?;
        sized(value, 4)?;
        if flags != BPF_ANY {
            return Err(MapError::Invalid);
        }
        if index >= self.spec.max_entries {
            return Err(MapError::Full);
        }
        self.values.write(index as usize * 4, value);
        self.present.set(index, 1);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        self.remove(key)
    }

    fn next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        array_next_key(key, self.spec.max_entries)
    }

    /// Only the filled slots (a lookup of an empty one fails).
    fn dump(&self) -> Vec<super::Entry> {
        (0..self.spec.max_entries)
            .filter_map(|i| self.get(i).map(|v| (i, v)))
            .map(|(i, v)| super::Entry { key: i.to_ne_bytes().to_vec(), value: v.to_ne_bytes().to_vec() })
            .collect()
    }
}

/// `array_map_get_next_key`: indices in order, restarting at 0 from a
/// missing or out-of-range key.
pub(crate) fn array_next_key(key: Option<&[u8]>, max_entries: u32) -> MapResult<Vec<u8>> {
    let index = key.map(index_key).transpose()?.unwrap_or(u32::MAX);
    let next = if index >= max_entries {
        0
    } else if index == max_entries - 1 {
        return Err(MapError::NotFound);
    } else {
        index + 1
    };
    Ok(next.to_ne_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::create;
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn creation_rules() {
        let bad = |t, value, flags| create(&spec(t, 4, value, 4, flags), 1).unwrap_err();
        assert_eq!(bad(MapType::ProgArray, 8, 0).rule, "value_size must be 4, not 8");
        assert_eq!(bad(MapType::ProgArray, 4, BPF_F_RDONLY_PROG).error, MapError::Invalid);
        assert_eq!(bad(MapType::ArrayOfMaps, 4, BPF_F_MMAPABLE).error, MapError::Invalid);
        assert_eq!(create(&spec(MapType::ProgArray, 4, 4, 0, 0), 1).unwrap_err().error, MapError::Invalid);
    }

    #[test]
    fn prog_array_holds_tail_call_targets() {
        let mut m = create(&spec(MapType::ProgArray, 4, 4, 4, 0), 1).unwrap();
        m.update(&k32(2), &7u32.to_ne_bytes(), BPF_ANY).unwrap();
        assert_eq!(m.update(&k32(2), &7u32.to_ne_bytes(), BPF_EXIST), Err(MapError::Invalid));
        assert_eq!(m.update(&k32(2), &7u32.to_ne_bytes(), BPF_NOEXIST), Err(MapError::Invalid));
        assert_eq!(m.update(&k32(4), &7u32.to_ne_bytes(), BPF_ANY), Err(MapError::Full));
        let pa = m.as_prog_array().unwrap();
        assert_eq!((pa.get(2), pa.get(1), pa.get(99)), (Some(7), None, None));
        assert_eq!(m.lookup(&k32(2)).unwrap(), 7u32.to_ne_bytes());
        assert_eq!(m.lookup(&k32(1)), Err(MapError::NotFound));
        assert!(m.prog_lookup(&k32(2), 0).is_none());
        assert!(m.memory().is_none());
        assert_eq!(m.dump().len(), 1);
        assert_eq!(m.next_key(Some(&k32(2))).unwrap(), k32(3));
        assert_eq!(m.delete(&k32(1)), Err(MapError::NotFound));
        assert_eq!(m.delete(&k32(9)), Err(MapError::Full));
        m.delete(&k32(2)).unwrap();
        assert_eq!(m.as_prog_array().unwrap().get(2), None);
    }

    #[test]
    fn array_of_maps_holds_inner_map_indices() {
        let mut m = create(&spec(MapType::ArrayOfMaps, 4, 4, 2, 0), 1).unwrap();
        assert!(m.as_prog_array().is_none());
        m.update(&k32(1), &5u32.to_ne_bytes(), BPF_ANY).unwrap();
        assert_eq!(m.inner_map(&k32(1)), Some(5));
        assert_eq!(m.inner_map(&k32(0)), None);
        let p = m.prog_lookup(&k32(1), 0).unwrap();
        assert_eq!(read_ptr(p, 4), 5u32.to_ne_bytes());
        assert!(m.prog_lookup(&k32(0), 0).is_none());
        assert!(m.memory().unwrap().read_only);
    }
}
