//! `BPF_MAP_TYPE_RINGBUF` (the kernel's `ringbuf.c`): a multi-record ring
//! of `max_entries` bytes that programs reserve, fill and submit (or
//! discard) records in, and that a consumer reads in order.
//!
//! Each record is an 8-byte header (`u32 len` with the busy and discard
//! bits, `u32 pg_off`) followed by the data, the whole rounded up to 8. The
//! kernel maps the data pages twice in a row so a record crossing the end
//! of the ring is contiguous for the program; here the ring's memory is
//! simply twice the ring size, and a record that crosses the end lives in
//! the second half, where the consumer reads it. Positions are the
//! kernel's: ever-growing byte counters whose low bits give the offset.
//!
//! `pg_off` holds the header's page number within the data (the kernel
//! stores the distance back to its control structure, which only it uses).

use std::ptr::NonNull;

use bpfx_isa::MapSpec;

use super::flags::*;
use super::mem::Slab;
use super::{Check, CreateError, Map, MapError, MapMemory, MapResult, PAGE_SIZE};

/// The kernel's `RINGBUF_MAX_RECORD_SZ`.
const MAX_RECORD_SIZE: u64 = u32::MAX as u64 / 4;

const HDR: u64 = BPF_RINGBUF_HDR_SZ as u64;

/// A ring buffer; see the module documentation.
#[derive(Debug)]
pub struct RingBuf {
    spec: MapSpec,
    cpus: u32,
    /// Ring size in bytes (a power of two).
    size: u64,
    data: Slab,
    consumer_pos: u64,
    producer_pos: u64,
    /// The oldest record that may still be busy (the kernel's `pending_pos`).
    pending_pos: u64,
    wakeups: u64,
}

impl RingBuf {
    /// The kernel's `ringbuf_map_alloc`: no key or value, a size that is a
    /// power of two and a multiple of the page size.
    pub fn new(spec: &MapSpec, cpus: u32) -> Result<RingBuf, CreateError> {
        let check = Check { spec };
        check.flags(BPF_F_NUMA_NODE)?;
        check.key_size(0)?;
        check.value_size(0)?;
        let size = spec.max_entries;
        check.require(size.is_power_of_two() && size.is_multiple_of(PAGE_SIZE), || {
            format!("max_entries {size} must be a power of two multiple of the page size ({PAGE_SIZE})")
        })?;
        check.no_initial_data()?;
        let data = check.slab((size as usize).checked_mul(2))?;
        Ok(RingBuf {
            spec: spec.clone(),
            cpus,
            size: u64::from(size),
            data,
            consumer_pos: 0,
            producer_pos: 0,
            pending_pos: 0,
            wakeups: 0,
        })
    }

    fn mask(&self) -> u64 {
        self.size - 1
    }

    fn header(&self, pos: u64) -> u32 {
        let mut len = [0; 4];
        self.data.read((pos & self.mask()) as usize, &mut len);
        u32::from_ne_bytes(len)
    }

    fn set_header(&mut self, pos: u64, len: u32) {
        let off = (pos & self.mask()) as usize;
        self.data.write(off, &len.to_ne_bytes());
        self.data.write(off + 4, &((off as u32) / PAGE_SIZE).to_ne_bytes());
    }

    /// The space a record with this header takes in the ring.
    fn footprint(len: u32) -> u64 {
        (u64::from(len & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) + HDR).next_multiple_of(8)
    }

    /// `bpf_ringbuf_reserve`: room for a `size`-byte record, marked busy
    /// until submitted or discarded; `None` (the helper's NULL) when flags
    /// are not 0, the record is too large, or there is no room.
    pub fn reserve(&mut self, size: u64, flags: u64) -> Option<NonNull<u8>> {
        if flags != 0 || size > MAX_RECORD_SIZE {
            return None;
        }
        let len = (size + HDR).next_multiple_of(8);
        if len > self.size {
            return None;
        }
        while self.producer_pos > self.pending_pos {
            let hdr = self.header(self.pending_pos);
            if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            self.pending_pos += Self::footprint(hdr);
        }
        let new_prod = self.producer_pos + len;
        // As the kernel: the producer stays less than a full ring ahead of
        // both the consumer and the oldest busy record.
        if new_prod - self.consumer_pos > self.mask() || new_prod - self.pending_pos > self.mask() {
            return None;
        }
        let pos = self.producer_pos;
        self.set_header(pos, size as u32 | BPF_RINGBUF_BUSY_BIT);
        self.producer_pos = new_prod;
        Some(self.data.ptr((pos & self.mask()) as usize + HDR as usize))
    }

    /// `bpf_ringbuf_submit`: publishes the record whose data starts at
    /// `sample` (an address [`RingBuf::reserve`] returned).
    /// [`MapError::Invalid`] if `sample` is not a busy record of this ring
    /// (which the verifier rules out).
    pub fn submit(&mut self, sample: u64, flags: u64) -> MapResult<()> {
        self.commit(sample, flags, false)
    }

    /// `bpf_ringbuf_discard`: drops the record; the consumer skips it.
    pub fn discard(&mut self, sample: u64, flags: u64) -> MapResult<()> {
        self.commit(sample, flags, true)
    }

    fn commit(&mut self, sample: u64, flags: u64, discard: bool) -> MapResult<()> {
        let off = self.data.offset_of(sample).ok_or(MapError::Invalid)? as u64;
        let hdr_off =
            off.checked_sub(HDR).filter(|o| o.is_multiple_of(8) && *o < self.size).ok_or(MapError::Invalid)?;
        let len = self.header(hdr_off);
        if len & BPF_RINGBUF_BUSY_BIT == 0 {
            return Err(MapError::Invalid);
        }
        let mut new_len = len ^ BPF_RINGBUF_BUSY_BIT;
        if discard {
            new_len |= BPF_RINGBUF_DISCARD_BIT;
        }
        self.data.write(hdr_off as usize, &new_len.to_ne_bytes());
        // The kernel wakes the consumer when forced, or when it has caught
        // up with this very record, unless told not to.
        if flags & BPF_RB_FORCE_WAKEUP != 0
            || (self.consumer_pos & self.mask() == hdr_off && flags & BPF_RB_NO_WAKEUP == 0)
        {
            self.wakeups += 1;
        }
        Ok(())
    }

    /// `bpf_ringbuf_output`: reserve, copy and submit in one step;
    /// [`MapError::Invalid`] for unknown flags, [`MapError::Again`] without
    /// room.
    pub fn output(&mut self, data: &[u8], flags: u64) -> MapResult<()> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Err(MapError::Invalid);
        }
        let sample = self.reserve(data.len() as u64, 0).ok_or(MapError::Again)?;
        let off = self.data.offset_of(sample.as_ptr() as u64).ok_or(MapError::Invalid)?;
        self.data.write(off, data);
        self.submit(sample.as_ptr() as u64, flags)
    }

    /// `bpf_ringbuf_query`: `BPF_RB_AVAIL_DATA`, `BPF_RB_RING_SIZE`,
    /// `BPF_RB_CONS_POS`, `BPF_RB_PROD_POS`; 0 for anything else.
    pub fn query(&self, flags: u64) -> u64 {
        match flags {
            BPF_RB_AVAIL_DATA => self.producer_pos - self.consumer_pos,
            BPF_RB_RING_SIZE => self.size,
            BPF_RB_CONS_POS => self.consumer_pos,
            BPF_RB_PROD_POS => self.producer_pos,
            _ => 0,
        }
    }

    /// Whether `addr` points into this ring's memory (how the runtime finds
    /// the ring of a `bpf_ringbuf_submit`, which names no map).
    pub fn contains(&self, addr: u64) -> bool {
        self.data.offset_of(addr).is_some()
    }

    /// The consumer: the next submitted record's data, skipping discarded
    /// ones; `None` when the ring is empty or the next record is still
    /// busy (records are consumed in order, as libbpf's `ring_buffer`).
    pub fn consume(&mut self) -> Option<Vec<u8>> {
        while self.consumer_pos < self.producer_pos {
            let hdr = self.header(self.consumer_pos);
            if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                return None;
            }
            let start = (self.consumer_pos & self.mask()) as usize + HDR as usize;
            self.consumer_pos += Self::footprint(hdr);
            if hdr & BPF_RINGBUF_DISCARD_BIT == 0 {
                let mut data = vec![0; hdr as usize];
                self.data.read(start, &mut data);
                return Some(data);
            }
        }
        None
    }

    /// Every record [`RingBuf::consume`] can read now, in order.
    pub fn drain(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.consume()).collect()
    }

    /// How many times the kernel would have woken the consumer.
    pub fn wakeups(&self) -> u64 {
        self.wakeups
    }
}

impl Map for RingBuf {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }

    fn memory(&self) -> Option<MapMemory> {
        Some(self.data.memory(self.data.len(), false))
    }

    fn prog_lookup(&mut self, _key: &[u8], _cpu: u32) -> Option<NonNull<u8>> {
        None
    }

    fn prog_update(&mut self, _key: &[u8], _value: &[u8], _flags: u64, _cpu: u32) -> MapResult<()> {
        Err(MapError::NotSupp)
    }

    fn prog_delete(&mut self, _key: &[u8]) -> MapResult<()> {
        Err(MapError::NotSupp)
    }

    fn as_ringbuf(&mut self) -> Option<&mut RingBuf> {
        Some(self)
    }

    fn lookup(&self, _key: &[u8]) -> MapResult<Vec<u8>> {
        Err(MapError::NotSupp)
    }

    fn update(&mut self, _key: &[u8], _value: &[u8], _flags: u64) -> MapResult<()> {
        Err(MapError::NotSupp)
    }

    fn delete(&mut self, _key: &[u8]) -> MapResult<()> {
        Err(MapError::NotSupp)
    }

    fn next_key(&self, _key: Option<&[u8]>) -> MapResult<Vec<u8>> {
        Err(MapError::NotSupp)
    }

    fn ends_runs(&self) -> bool {
        true
    }

    /// Records a faulted run left reserved are discarded, so the consumer
    /// is not blocked forever (a program the verifier accepted always
    /// releases them itself).
    fn end_run(&mut self) {
        let mut pos = self.consumer_pos;
        while pos < self.producer_pos {
            let hdr = self.header(pos);
            if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                self.data.write(
                    (pos & self.mask()) as usize,
                    &((hdr ^ BPF_RINGBUF_BUSY_BIT) | BPF_RINGBUF_DISCARD_BIT).to_ne_bytes(),
                );
            }
            pos += Self::footprint(hdr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Map, create};
    use super::*;
    use bpfx_isa::abi::MapType;

    fn ring(size: u32) -> Box<dyn Map> {
        create(&spec(MapType::Ringbuf, 0, 0, size, 0), 1).unwrap()
    }

    fn addr(p: NonNull<u8>) -> u64 {
        p.as_ptr() as u64
    }

    #[test]
    fn creation_rules() {
        let bad = |key, value, size, flags| create(&spec(MapType::Ringbuf, key, value, size, flags), 1).unwrap_err();
        assert_eq!(bad(0, 0, 4096 * 3, 0).error, MapError::Invalid);
        assert_eq!(bad(0, 0, 2048, 0).error, MapError::Invalid);
        assert_eq!(bad(0, 0, 0, 0).error, MapError::Invalid);
        assert_eq!(bad(4, 0, 4096, 0).rule, "key_size must be 0, not 4");
        assert_eq!(bad(0, 8, 4096, 0).error, MapError::Invalid);
        assert_eq!(bad(0, 0, 4096, BPF_F_NO_PREALLOC).error, MapError::Invalid);
        let mut m = ring(8192);
        assert_eq!(m.lookup(&[]), Err(MapError::NotSupp));
        assert_eq!(m.update(&[], &[], 0), Err(MapError::NotSupp));
        assert_eq!(m.next_key(None), Err(MapError::NotSupp));
        assert_eq!(m.memory().unwrap().len, 16384);
        assert_eq!(m.as_ringbuf().unwrap().query(BPF_RB_RING_SIZE), 8192);
    }

    #[test]
    fn reserve_submit_discard_and_consumer_order() {
        let mut m = ring(4096);
        let rb = m.as_ringbuf().unwrap();
        let a = rb.reserve(3, 0).unwrap();
        let b = rb.reserve(8, 0).unwrap();
        let c = rb.reserve(1, 0).unwrap();
        assert_eq!(addr(b) - addr(a), 16);
        assert_eq!(rb.query(BPF_RB_PROD_POS), 16 + 16 + 16);
        write_ptr(a, b"abc");
        write_ptr(b, b"12345678");
        write_ptr(c, b"z");
        // Header: the length with the busy bit, then the page offset.
        let hdr = read_ptr(NonNull::new((addr(a) - 8) as *mut u8).unwrap(), 8);
        assert_eq!(hdr, [(3 | BPF_RINGBUF_BUSY_BIT).to_ne_bytes(), 0u32.to_ne_bytes()].concat());
        // B is published first, but A is still busy: nothing to read yet.
        rb.submit(addr(b), 0).unwrap();
        assert_eq!(rb.consume(), None);
        rb.discard(addr(a), 0).unwrap();
        assert_eq!(rb.consume().unwrap(), b"12345678");
        assert_eq!(rb.consume(), None);
        rb.submit(addr(c), 0).unwrap();
        assert_eq!(rb.drain(), [b"z".to_vec()]);
        assert_eq!(rb.query(BPF_RB_AVAIL_DATA), 0);
        assert_eq!(rb.query(BPF_RB_CONS_POS), 48);
        assert_eq!(rb.query(99), 0);
        // Committing twice, or a pointer that is no record, is refused.
        assert_eq!(rb.submit(addr(c), 0), Err(MapError::Invalid));
        assert_eq!(rb.submit(addr(c) + 1, 0), Err(MapError::Invalid));
        assert_eq!(rb.submit(0, 0), Err(MapError::Invalid));
    }

    #[test]
    fn full_ring_and_flags() {
        let mut m = ring(4096);
        let rb = m.as_ringbuf().unwrap();
        assert!(rb.reserve(8, 1).is_none());
        assert!(rb.reserve(4096, 0).is_none());
        // A ring holds at most size - 1 bytes: 4088 of data do not fit.
        assert!(rb.reserve(4088, 0).is_none());
        let big = rb.reserve(4080, 0).unwrap();
        assert!(rb.reserve(0, 0).is_none());
        assert_eq!(rb.output(b"x", 0), Err(MapError::Again));
        assert_eq!(rb.output(b"x", 4), Err(MapError::Invalid));
        rb.submit(addr(big), BPF_RB_NO_WAKEUP).unwrap();
        assert_eq!(rb.wakeups(), 0);
        assert_eq!(rb.consume().unwrap().len(), 4080);
        rb.output(b"hello", 0).unwrap();
        assert_eq!(rb.wakeups(), 1);
        rb.output(b"hello", BPF_RB_FORCE_WAKEUP).unwrap();
        assert_eq!(rb.wakeups(), 2);
        rb.output(b"hello", 0).unwrap();
        assert_eq!(rb.wakeups(), 2);
        assert_eq!(rb.drain().len(), 3);
    }

    #[test]
    fn a_busy_record_bounds_how_far_the_producer_runs_ahead() {
        let mut m = ring(4096);
        let rb = m.as_ringbuf().unwrap();
        let first = rb.reserve(8, 0).unwrap();
        let mut n = 0;
        while let Some(p) = rb.reserve(8, 0) {
            rb.submit(addr(p), 0).unwrap();
            n += 1;
        }
        assert_eq!(n, 4096 / 16 - 2);
        // Consuming cannot pass the busy record, so nothing frees up.
        assert_eq!(rb.consume(), None);
        rb.submit(addr(first), 0).unwrap();
        assert_eq!(rb.drain().len(), n + 1);
        assert!(rb.reserve(8, 0).is_some());
    }

    #[test]
    fn records_wrap_around_contiguously() {
        let mut m = ring(4096);
        let rb = m.as_ringbuf().unwrap();
        rb.output(&[1; 4000], 0).unwrap();
        assert_eq!(rb.drain(), [vec![1; 4000]]);
        // 4008 bytes consumed: a 200-byte record starts 88 bytes before the
        // end and continues past it.
        let data: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let p = rb.reserve(200, 0).unwrap();
        write_ptr(p, &data);
        rb.submit(addr(p), 0).unwrap();
        let q = rb.reserve(16, 0).unwrap();
        write_ptr(q, &[7; 16]);
        rb.submit(addr(q), 0).unwrap();
        assert_eq!(rb.drain(), [data, vec![7; 16]]);
        assert_eq!(rb.query(BPF_RB_CONS_POS), 4008 + 208 + 24);
        for round in 0..1000u32 {
            rb.output(&round.to_ne_bytes(), 0).unwrap();
            assert_eq!(rb.consume().unwrap(), round.to_ne_bytes());
        }
    }

    #[test]
    fn end_run_discards_what_a_faulted_run_left_busy() {
        let mut m = ring(4096);
        let rb = m.as_ringbuf().unwrap();
        rb.reserve(8, 0).unwrap();
        rb.output(b"after", 0).unwrap();
        assert_eq!(rb.consume(), None);
        m.end_run();
        assert_eq!(m.as_ringbuf().unwrap().drain(), [b"after".to_vec()]);
    }
}
