//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: slots of perf events that
//! `bpf_perf_event_output` writes samples to; here the samples are
//! collected as [`PerfEvent`]s for the caller to take.
//!
//! In the kernel a slot holds a perf event the user opened on some CPU, and
//! output from another CPU than the event's fails with `-EOPNOTSUPP`. bpfx
//! has no perf events; it behaves as if the user had done what libbpf's
//! `perf_buffer` does: open one event per CPU, on that CPU, at the index of
//! that CPU. So slots `0..cpus` start open, slot `i` belongs to CPU `i`, and
//! the user side can close (delete) and reopen (update) slots.

use std::collections::BTreeSet;
use std::ptr::NonNull;

use bpfx_isa::MapSpec;

use super::fd_array::array_next_key;
use super::flags::*;
use super::{Check, CreateError, Entry, Map, MapError, MapMemory, MapResult, index_key, sized, user_write_ok};

/// One sample written by `bpf_perf_event_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfEvent {
    /// The CPU the program ran on (the one the event belongs to).
    pub cpu: u32,
    /// The raw sample: the program's data, then any context bytes the
    /// helper appended (`BPF_F_CTXLEN_MASK`).
    pub data: Vec<u8>,
}

/// A perf event array; see the module documentation.
#[derive(Debug)]
pub struct PerfEventArray {
    spec: MapSpec,
    cpus: u32,
    /// The slots holding an (emulated) event.
    open: BTreeSet<u32>,
    events: Vec<PerfEvent>,
}

impl PerfEventArray {
    /// The fd array rules, plus `BPF_F_PRESERVE_ELEMS`.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<PerfEventArray, CreateError> {
        let check = Check { spec };
        check.value_size(4)?;
        check.require(spec.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) == 0, || {
            "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG are not allowed for this type".into()
        })?;
        check.nonzero_max_entries()?;
        check.key_size(4)?;
        check.flags(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS)?;
        check.no_initial_data()?;
        let open = (0..spec.max_entries.min(cpus)).collect();
        Ok(PerfEventArray { spec: spec.clone(), cpus, open, events: Vec::new() })
    }

    /// `bpf_perf_event_output` from a program running on `cpu`: the slot is
    /// `flags & BPF_F_INDEX_MASK`, or `cpu` for `BPF_F_CURRENT_CPU`.
    /// The helper checks the other flag bits (which differ between its
    /// variants) and appends any context bytes to `data`.
    /// [`MapError::Full`] for an index past `max_entries`,
    /// [`MapError::NotFound`] for a closed slot, [`MapError::OpNotSupp`] for
    /// another CPU's slot.
    pub fn output(&mut self, cpu: u32, flags: u64, data: &[u8]) -> MapResult<()> {
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => u64::from(cpu),
            i => i,
        };
        if index >= u64::from(self.spec.max_entries) {
            return Err(MapError::Full);
        }
        if !self.open.contains(&(index as u32)) {
            return Err(MapError::NotFound);
        }
        if index != u64::from(cpu) {
            return Err(MapError::OpNotSupp);
        }
        self.events.push(PerfEvent { cpu, data: data.to_vec() });
        Ok(())
    }

    /// The samples written so far, in order; takes them out.
    pub fn take_events(&mut self) -> Vec<PerfEvent> {
        std::mem::take(&mut self.events)
    }

    /// The samples written so far, in order.
    pub fn events(&self) -> &[PerfEvent] {
        &self.events
    }
}

impl Map for PerfEventArray {
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
        Err(MapError::NotSupp)
    }

    fn prog_delete(&mut self, key: &[u8]) -> MapResult<()> {
        let index = index_key(key)?;
        if index >= self.spec.max_entries {
            return Err(MapError::Full);
        }
        if self.open.remove(&index) { Ok(()) } else { Err(MapError::NotFound) }
    }

    fn as_perf_event_array(&mut self) -> Option<&mut PerfEventArray> {
        Some(self)
    }

    /// The kernel cannot read perf event fds back (`-ENOTSUPP`).
    fn lookup(&self, key: &[u8]) -> MapResult<Vec<u8>> {
        index_key(key)?;
        Err(MapError::NotSupp)
    }

    /// Opens slot `key`'s event; the value (a perf event fd in the kernel)
    /// is not kept. Only `BPF_ANY` is accepted.
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
        self.open.insert(index);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> MapResult<()> {
        user_write_ok(&self.spec, BPF_ANY)?;
        self.prog_delete(key)
    }

    fn next_key(&self, key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        array_next_key(key, self.spec.max_entries)
    }

    /// Nothing to show: the slots hold events, not values.
    fn dump(&self) -> Vec<Entry> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::create;
    use super::super::test_util::*;
    use super::*;
    use bpfx_isa::abi::MapType;

    #[test]
    fn output_follows_the_kernels_slot_rules() {
        let mut m = create(&spec(MapType::PerfEventArray, 4, 4, 4, 0), 2).unwrap();
        let p = m.as_perf_event_array().unwrap();
        p.output(1, BPF_F_CURRENT_CPU, b"one").unwrap();
        p.output(0, 0, b"zero").unwrap();
        assert_eq!(p.output(0, 1, b"x"), Err(MapError::OpNotSupp));
        assert_eq!(p.output(0, 2, b"x"), Err(MapError::NotFound));
        assert_eq!(p.output(0, 4, b"x"), Err(MapError::Full));
        assert_eq!(p.output(7, BPF_F_CURRENT_CPU, b"x"), Err(MapError::Full));
        assert_eq!(
            p.take_events(),
            [PerfEvent { cpu: 1, data: b"one".to_vec() }, PerfEvent { cpu: 0, data: b"zero".to_vec() }]
        );
        assert!(p.events().is_empty());
        m.delete(&k32(0)).unwrap();
        assert_eq!(m.delete(&k32(0)), Err(MapError::NotFound));
        assert_eq!(m.as_perf_event_array().unwrap().output(0, BPF_F_CURRENT_CPU, b"x"), Err(MapError::NotFound));
        m.update(&k32(0), &[0; 4], BPF_ANY).unwrap();
        assert_eq!(m.update(&k32(0), &[0; 4], BPF_EXIST), Err(MapError::Invalid));
        assert!(m.as_perf_event_array().unwrap().output(0, BPF_F_CURRENT_CPU, b"x").is_ok());
        assert_eq!(m.lookup(&k32(0)), Err(MapError::NotSupp));
        assert_eq!(m.next_key(None).unwrap(), k32(0));
        assert!(m.dump().is_empty());
    }

    #[test]
    fn creation_rules() {
        assert!(create(&spec(MapType::PerfEventArray, 4, 4, 1, BPF_F_PRESERVE_ELEMS), 1).is_ok());
        let err = create(&spec(MapType::PerfEventArray, 4, 8, 1, 0), 1).unwrap_err();
        assert_eq!(err.error, MapError::Invalid);
    }
}
