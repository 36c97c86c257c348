//! `BPF_MAP_TYPE_QUEUE` and `BPF_MAP_TYPE_STACK` (the kernel's
//! `queue_stack_maps.c`): keyless FIFO or LIFO of up to `max_entries`
//! values, used through push/pop/peek. Programs get copies, never pointers,
//! so the values are not program-addressable memory.

use std::ptr::NonNull;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;

use super::flags::*;
use super::mem::Slab;
use super::{Check, CreateError, Entry, KMALLOC_MAX_SIZE, Map, MapError, MapMemory, MapResult, sized, user_write_ok};

/// A queue or a stack: a ring of `max_entries + 1` value slots, `head`
/// where the next push goes, `tail` the oldest value, as in the kernel.
#[derive(Debug)]
pub struct QueueStack {
    spec: MapSpec,
    cpus: u32,
    stack: bool,
    values: Slab,
    head: u32,
    tail: u32,
    /// `max_entries + 1`.
    size: u32,
}

impl QueueStack {
    /// The kernel's `queue_stack_map_alloc_check`.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<QueueStack, CreateError> {
        let check = Check { spec };
        check.nonzero_max_entries()?;
        check.key_size(0)?;
        check.nonzero_value_size()?;
        check.flags(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)?;
        check.no_initial_data()?;
        // Linux 6.12 also refused max_entries >= U32_MAX / value_size with
        // E2BIG; the 6.18 kernel these maps were checked against does not.
        if u64::from(spec.value_size) > KMALLOC_MAX_SIZE {
            return Err(check.fail(MapError::Full, format!("value_size {} is too large", spec.value_size)));
        }
        let size = spec.max_entries + 1;
        let values = check.slab((size as usize).checked_mul(spec.value_size as usize))?;
        Ok(QueueStack {
            spec: spec.clone(),
            cpus,
            stack: spec.map_type == MapType::Stack,
            values,
            head: 0,
            tail: 0,
            size,
        })
    }

    fn wrap(&self, i: u32) -> u32 {
        if i >= self.size { i - self.size } else { i }
    }

    fn len(&self) -> u32 {
        self.wrap(self.head + self.size - self.tail)
    }

    /// The slot the next pop or peek reads.
    fn next_slot(&self) -> u32 {
        if self.stack { self.wrap(self.head + self.size - 1) } else { self.tail }
    }

    fn read(&self, slot: u32, out: &mut [u8]) {
        self.values.read(slot as usize * self.spec.value_size as usize, out);
    }

    fn get(&mut self, value: &mut [u8], delete: bool) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        if self.head == self.tail {
            // The kernel clears the caller's buffer when there is nothing.
            value.fill(0);
            return Err(MapError::NotFound);
        }
        let slot = self.next_slot();
        self.read(slot, value);
        if delete {
            if self.stack {
                self.head = slot;
            } else {
                self.tail = self.wrap(self.tail + 1);
            }
        }
        Ok(())
    }
}

impl Map for QueueStack {
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
        Err(MapError::Invalid)
    }

    /// Adds a value; when full, fails with [`MapError::Full`] unless
    /// `flags` has `BPF_EXIST`, which drops the oldest value to make room
    /// (for a stack too: the bottom one).
    fn push(&mut self, value: &[u8], flags: u64) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        if flags & BPF_NOEXIST != 0 || flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        if self.wrap(self.head + 1) == self.tail {
            if flags & BPF_EXIST == 0 {
                return Err(MapError::Full);
            }
            self.tail = self.wrap(self.tail + 1);
        }
        self.values.write(self.head as usize * self.spec.value_size as usize, value);
        self.head = self.wrap(self.head + 1);
        Ok(())
    }

    /// Takes the oldest (queue) or newest (stack) value; on
    /// [`MapError::NotFound`] `value` is zeroed, as the kernel does.
    fn pop(&mut self, value: &mut [u8]) -> MapResult<()> {
        self.get(value, true)
    }

    fn peek(&self, value: &mut [u8]) -> MapResult<()> {
        sized(value, self.spec.value_size as usize)?;
        if self.head == self.tail {
            value.fill(0);
            return Err(MapError::NotFound);
        }
        self.read(self.next_slot(), value);
        Ok(())
    }

    /// A peek, as `BPF_MAP_LOOKUP_ELEM` on these maps.
    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        sized(key, 0)?;
        super::user_read_ok(&self.spec)?;
        let mut value = vec![0; self.spec.value_size as usize];
        self.peek(&mut value)?;
        Ok(value)
    }

    /// A push, as `BPF_MAP_UPDATE_ELEM` on these maps.
    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> MapResult<()> {
        sized(key, 0)?;
        user_write_ok(&self.spec, flags)?;
        self.push(value, flags)
    }

    fn delete(&mut self, _key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        Err(MapError::Invalid)
    }

    /// A pop, as `BPF_MAP_LOOKUP_AND_DELETE_ELEM` on these maps.
    fn lookup_and_delete(&mut self, key: &[u8]) -> MapResult<Vec<u8>> {
        sized(key, 0)?;
        super::user_read_ok(&self.spec)?;
        user_write_ok(&self.spec, BPF_ANY)?;
        let mut value = vec![0; self.spec.value_size as usize];
        self.pop(&mut value)?;
        Ok(value)
    }

    fn next_key(&self, _key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        Err(MapError::Invalid)
    }

    /// The values in the order pops would return them, with empty keys.
    fn dump(&self) -> Vec<Entry> {
        (0..self.len())
            .map(|i| {
                let slot =
                    if self.stack { (self.head + 2 * self.size - 1 - i) % self.size } else { self.wrap(self.tail + i) };
                let mut value = vec![0; self.spec.value_size as usize];
                self.read(slot, &mut value);
                Entry { key: Vec::new(), value }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Map, create};
    use super::*;

    fn values(m: &dyn Map) -> Vec<u8> {
        m.dump().iter().map(|e| e.value[0]).collect()
    }

    #[test]
    fn creation_rules() {
        let bad = |key, value, max| create(&spec(MapType::Queue, key, value, max, 0), 1).unwrap_err();
        assert_eq!(bad(4, 4, 1).rule, "key_size must be 0, not 4");
        assert_eq!(bad(0, 0, 1).error, MapError::Invalid);
        assert_eq!(bad(0, 4, 0).error, MapError::Invalid);
        assert_eq!(bad(0, (4 << 20) + 1, 1).error, MapError::Full);
        let err = create(&spec(MapType::Stack, 0, 4, 1, BPF_F_NO_PREALLOC), 1).unwrap_err();
        assert_eq!(err.error, MapError::Invalid);
    }

    #[test]
    fn queue_is_fifo_and_full_behaviour() {
        let mut m = create(&spec(MapType::Queue, 0, 1, 3, 0), 1).unwrap();
        for v in 1..=3 {
            m.push(&[v], BPF_ANY).unwrap();
        }
        assert_eq!(m.push(&[4], BPF_ANY), Err(MapError::Full));
        assert_eq!(m.push(&[4], BPF_NOEXIST), Err(MapError::Invalid));
        assert_eq!(m.push(&[4], 4), Err(MapError::Invalid));
        assert_eq!(values(&*m), [1, 2, 3]);
        // BPF_EXIST makes room by dropping the oldest.
        m.push(&[4], BPF_EXIST).unwrap();
        assert_eq!(values(&*m), [2, 3, 4]);
        let mut v = [0];
        m.peek(&mut v).unwrap();
        assert_eq!(v, [2]);
        m.pop(&mut v).unwrap();
        assert_eq!(v, [2]);
        assert_eq!(m.lookup_and_delete(&[]).unwrap(), [3]);
        assert_eq!(m.lookup(&[]).unwrap(), [4]);
        m.update(&[], &[5], BPF_ANY).unwrap();
        assert_eq!(values(&*m), [4, 5]);
        m.pop(&mut v).unwrap();
        m.pop(&mut v).unwrap();
        v = [9];
        assert_eq!(m.pop(&mut v), Err(MapError::NotFound));
        assert_eq!(v, [0]);
        v = [9];
        assert_eq!(m.peek(&mut v), Err(MapError::NotFound));
        assert_eq!(v, [0]);
        assert_eq!(m.delete(&[]), Err(MapError::Invalid));
        assert_eq!(m.next_key(None), Err(MapError::Invalid));
        assert!(m.prog_lookup(&[], 0).is_none());
    }

    #[test]
    fn stack_is_lifo_and_exist_drops_the_bottom() {
        let mut m = create(&spec(MapType::Stack, 0, 1, 3, 0), 1).unwrap();
        for v in 1..=3 {
            m.push(&[v], BPF_ANY).unwrap();
        }
        assert_eq!(values(&*m), [3, 2, 1]);
        m.push(&[4], BPF_EXIST).unwrap();
        assert_eq!(values(&*m), [4, 3, 2]);
        let mut v = [0];
        m.pop(&mut v).unwrap();
        assert_eq!(v, [4]);
        m.push(&[5], BPF_ANY).unwrap();
        m.push(&[6], BPF_EXIST).unwrap();
        assert_eq!(values(&*m), [6, 5, 3]);
        for want in [6, 5, 3] {
            m.pop(&mut v).unwrap();
            assert_eq!(v, [want]);
        }
        assert_eq!(m.pop(&mut v), Err(MapError::NotFound));
    }
}
