//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY` (the kernel's
//! `arraymap.c`): `max_entries` zero-initialised values indexed by a `u32`
//! key, every element always present (so no delete, and `BPF_NOEXIST`
//! always fails).

use std::ptr::NonNull;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

use super::fd_array::array_next_key;
use super::flags::*;
use super::mem::Slab;
use super::{
    Check, CreateError, Map, MapError, MapMemory, MapResult, PCPU_MIN_UNIT_SIZE, index_key, round_up8, sized,
    user_read_ok, user_write_ok,
};

/// An array or per-CPU array. The value of index `i` on CPU `c` lives at
/// `(i * copies + c) * stride` (`copies` is the CPU count, or 1 for a plain
/// array), `stride`
/// being `value_size` rounded up to 8.
#[derive(Debug)]
pub struct ArrayMap {
    spec: MapSpec,
    cpus: u32,
    /// Values per index: `cpus` for a per-CPU array, else 1.
    copies: u32,
    percpu: bool,
    stride: usize,
    values: Slab,
}

impl ArrayMap {
    /// The kernel's `array_map_alloc_check` and `array_map_alloc`.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<ArrayMap, CreateError> {
        let check = Check { spec };
        let percpu = spec.map_type == MapType::PercpuArray;
        let mut allowed = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
        if !percpu {
            allowed |= BPF_F_MMAPABLE | BPF_F_INNER_MAP;
        }
        check.nonzero_max_entries()?;
        check.key_size(4)?;
        check.nonzero_value_size()?;
        check.flags(allowed)?;
        check.require(!percpu || spec.flags & BPF_F_NUMA_NODE == 0, || "per-cpu arrays take no numa node".into())?;
        let stride = round_up8(spec.value_size as usize);
        if spec.value_size > i32::MAX as u32 || (percpu && stride > PCPU_MIN_UNIT_SIZE) {
            return Err(check.fail(MapError::Full, format!("value_size {} is too large", spec.value_size)));
        }
        // The kernel rounds the element count up to a power of two (to bound
        // speculation), which overflows past 2^31.
        if spec.max_entries > 1 << 31 {
            return Err(check.fail(MapError::Full, format!("max_entries {} is too large", spec.max_entries)));
        }
        let copies = if percpu { cpus } else { 1 };
        let len = (spec.max_entries as usize).checked_mul(copies as usize).and_then(|n| n.checked_mul(stride));
        let mut values = check.slab(len)?;
        if let Some(data) = &spec.initial_data {
            check.require(data.len() <= spec.value_size as usize, || {
                format!("initial data of {} bytes is larger than value_size {}", data.len(), spec.value_size)
            })?;
            values.write(0, data);
        }
        Ok(ArrayMap { spec: spec.clone(), cpus, copies, percpu, stride, values })
    }

    fn offset(&self, index: u32, cpu: u32) -> usize {
        (index as usize * self.copies as usize + cpu as usize) * self.stride
    }

    /// The checks of `array_map_update_elem` (program side, and the user
    /// side of plain arrays).
    fn update_flags(&self, index: u32, flags: u64) -> MapResult<()> {
        if flags & !BPF_F_LOCK > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        if index >= self.spec.max_entries {
            return Err(MapError::Full);
        }
        if flags & BPF_NOEXIST != 0 {
            return Err(MapError::Exists);
        }
        if flags & BPF_F_LOCK != 0 {
            return Err(MapError::Invalid);
        }
        Ok(())
    }
}

impl Map for ArrayMap {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        Some(self.values.memory(self.stride, self.spec.flags & BPF_F_RDONLY_PROG != 0))
    }

    fn prog_lookup(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        let cpu = if self.percpu { cpu } else { 0 };
        self.prog_lookup_percpu_inner(key, cpu)
    }

    fn prog_lookup_percpu(&mut self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        if !self.percpu {
            return None;
        }
        self.prog_lookup_percpu_inner(key, cpu)
    }

    fn prog_update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> MapResult<()> {
        let index = index_key(key)?;
        sized(value, self.spec.value_size as usize)?;
        self.update_flags(index, flags)?;
        let cpu = if self.percpu { cpu } else { 0 };
        if cpu >= self.copies {
            return Err(MapError::Invalid);
        }
        self.values.write(self.offset(index, cpu), value);
        Ok(())
    }

    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()> {
        index_key(key)?;
        Err(MapError::Invalid)
    }

    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        let index = index_key(key)?;
        if index >= self.spec.max_entries {
            return Err(MapError::NotFound);
        }
        // Per-CPU values come out whole (rounded up to 8), as the kernel
        // copies them; a plain array's value is exactly `value_size`.
        let len = if self.percpu { self.stride * self.copies as usize } else { self.spec.value_size as usize };
        let mut out = vec![0; len];
        self.values.read(self.offset(index, 0), &mut out);
        Ok(out)
    }

    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        user_write_ok(&self.spec, flags)?;
        if !self.percpu {
            return self.prog_update(key, value, flags, 0);
        }
        let index = index_key(key)?;
        sized(value, self.user_value_size())?;
        // `bpf_percpu_array_update`: stricter on flags than the program side.
        if flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        if index >= self.spec.max_entries {
            return Err(MapError::Full);
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
        self.values.write(self.offset(index, 0), value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        self.prog_delete(key)
    }

    fn next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        user_read_ok(&self.spec)?;
        array_next_key(key, self.spec.max_entries)
    }
}

impl ArrayMap {
    fn prog_lookup_percpu_inner(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        let index = index_key(key).ok()?;
        if index >= self.spec.max_entries || cpu >= self.copies {
            return None;
        }
        Some(self.values.ptr(self.offset(index, cpu)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Entry, create};
    use super::*;

    #[test]
    fn creation_rules() {
        let bad = |key, value, max, flags| create(&spec(MapType::Array, key, value, max, flags), 1).unwrap_err();
        assert_eq!(bad(8, 4, 1, 0).rule, "key_size must be 4, not 8");
        assert_eq!(bad(4, 0, 1, 0).error, MapError::Invalid);
        assert_eq!(bad(4, 4, 0, 0).rule, "max_entries must not be 0");
        assert_eq!(bad(4, 4, 1, BPF_F_NO_PREALLOC).error, MapError::Invalid);
        assert_eq!(bad(4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG).error, MapError::Invalid);
        assert_eq!(bad(4, u32::MAX, 1, 0).error, MapError::Full);
        let percpu = create(&spec(MapType::PercpuArray, 4, 4, 1, BPF_F_MMAPABLE), 1).unwrap_err();
        assert_eq!(percpu.error, MapError::Invalid);
        let big = create(&spec(MapType::PercpuArray, 4, 32 * 1024 + 1, 1, 0), 1).unwrap_err();
        assert_eq!(big.error, MapError::Full);
        assert!(create(&spec(MapType::Array, 4, 4, 1, BPF_F_MMAPABLE | BPF_F_RDONLY_PROG), 1).is_ok());
    }

    #[test]
    fn kernel_update_and_delete_semantics() {
        let mut m = create(&spec(MapType::Array, 4, 4, 2, 0), 1).unwrap();
        assert_eq!(m.lookup(&k32(1)).unwrap(), [0; 4]);
        assert_eq!(m.update(&k32(1), &[1, 2, 3, 4], BPF_ANY), Ok(()));
        assert_eq!(m.update(&k32(1), &[5; 4], BPF_EXIST), Ok(()));
        assert_eq!(m.lookup(&k32(1)).unwrap(), [5; 4]);
        assert_eq!(m.update(&k32(0), &[1; 4], BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k32(2), &[1; 4], BPF_ANY), Err(MapError::Full));
        assert_eq!(m.update(&k32(2), &[1; 4], BPF_NOEXIST), Err(MapError::Full));
        assert_eq!(m.update(&k32(0), &[1; 4], 3), Err(MapError::Invalid));
        assert_eq!(m.update(&k32(0), &[1; 4], BPF_F_LOCK), Err(MapError::Invalid));
        assert_eq!(m.prog_update(&k32(0), &[1; 4], BPF_F_LOCK | BPF_NOEXIST, 0), Err(MapError::Exists));
        assert_eq!(m.delete(&k32(0)), Err(MapError::Invalid));
        assert_eq!(m.lookup(&k32(2)), Err(MapError::NotFound));
        assert!(m.prog_lookup(&k32(2), 0).is_none());
        assert_eq!(m.update(&k32(0), &[1; 3], BPF_ANY), Err(MapError::Invalid));
    }

    #[test]
    fn pointers_alias_the_values_and_stay_put() {
        let mut m = create(&spec(MapType::Array, 4, 12, 3, 0), 1).unwrap();
        let mem = m.memory().unwrap();
        assert_eq!((mem.len, mem.stride, mem.read_only), (48, 16, false));
        let p = m.prog_lookup(&k32(2), 0).unwrap();
        assert_eq!(p.as_ptr() as usize, mem.base as usize + 32);
        write_ptr(p, &[9; 12]);
        assert_eq!(m.lookup(&k32(2)).unwrap(), [9; 12]);
        m.update(&k32(2), &[7; 12], BPF_ANY).unwrap();
        assert_eq!(read_ptr(p, 12), [7; 12]);
        assert_eq!(m.prog_lookup(&k32(2), 0), Some(p));
    }

    #[test]
    fn next_key_walks_indices_and_restarts_on_bad_keys() {
        let m = create(&spec(MapType::Array, 4, 4, 3, 0), 1).unwrap();
        assert_eq!(m.next_key(None).unwrap(), k32(0));
        assert_eq!(m.next_key(Some(&k32(1))).unwrap(), k32(2));
        assert_eq!(m.next_key(Some(&k32(2))), Err(MapError::NotFound));
        assert_eq!(m.next_key(Some(&k32(7))).unwrap(), k32(0));
        assert_eq!(m.dump().len(), 3);
        assert_eq!(m.dump()[2], Entry { key: k32(2).to_vec(), value: vec![0; 4] });
    }

    #[test]
    fn percpu_values_are_per_cpu() {
        let mut m = create(&spec(MapType::PercpuArray, 4, 4, 2, 0), 3).unwrap();
        assert_eq!(m.user_value_size(), 24);
        m.prog_update(&k32(1), &[1; 4], BPF_ANY, 2).unwrap();
        let p = m.prog_lookup(&k32(1), 0).unwrap();
        write_ptr(p, &[5; 4]);
        let all = m.lookup(&k32(1)).unwrap();
        assert_eq!(all, [[5, 5, 5, 5, 0, 0, 0, 0], [0; 8], [1, 1, 1, 1, 0, 0, 0, 0]].concat());
        assert_eq!(read_ptr(m.prog_lookup_percpu(&k32(1), 2).unwrap(), 4), [1; 4]);
        assert!(m.prog_lookup_percpu(&k32(1), 3).is_none());
        // The user side writes all CPUs, padding included, and is stricter
        // about flags than the program side.
        let value: Vec<u8> = (0..24).collect();
        m.update(&k32(0), &value, BPF_EXIST).unwrap();
        assert_eq!(m.lookup(&k32(0)).unwrap(), value);
        assert_eq!(m.update(&k32(0), &value, BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k32(0), &value[..4], BPF_ANY), Err(MapError::Invalid));
        assert_eq!(read_ptr(m.prog_lookup(&k32(0), 1).unwrap(), 4), [8, 9, 10, 11]);
    }

    #[test]
    fn global_data_and_access_flags() {
        let mut s = spec(MapType::Array, 4, 6, 1, BPF_F_RDONLY_PROG);
        s.initial_data = Some(vec![1, 2, 3]);
        let m = create(&s, 1).unwrap();
        assert_eq!(m.lookup(&k32(0)).unwrap(), [1, 2, 3, 0, 0, 0]);
        assert!(m.memory().unwrap().read_only);
        s.initial_data = Some(vec![0; 7]);
        assert_eq!(create(&s, 1).unwrap_err().error, MapError::Invalid);
        let mut ro = create(&spec(MapType::Array, 4, 4, 1, BPF_F_RDONLY), 1).unwrap();
        assert_eq!(ro.update(&k32(0), &[0; 4], BPF_ANY), Err(MapError::Perm));
        assert_eq!(ro.prog_update(&k32(0), &[1; 4], BPF_ANY, 0), Ok(()));
        let wo = create(&spec(MapType::Array, 4, 4, 1, BPF_F_WRONLY), 1).unwrap();
        assert_eq!(wo.lookup(&k32(0)), Err(MapError::Perm));
        assert_eq!(wo.next_key(None), Err(MapError::Perm));
    }
}
