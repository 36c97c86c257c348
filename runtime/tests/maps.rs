//! bpfx's maps against the running kernel's: the same creation attributes
//! and the same sequences of bpf(2) operations on a real map and on a bpfx
//! map must give the same errnos and the same values.
//!
//! The kernel is reached through raw `bpf(2)` calls (this test is the one
//! place in the crate that makes syscalls); where bpf(2) is not permitted
//! (not root, or a kernel without it) each test says so on stderr and
//! checks nothing else.

use std::collections::BTreeSet;

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;
use bpfx_runtime::maps::flags::*;
use bpfx_runtime::maps::{Map, MapError, create};

mod kernel {
    //! A minimal bpf(2) client: `union bpf_attr` as bytes at the uapi
    //! offsets.

    use std::io;

    const SYS_BPF: i64 = 321;
    const MAP_CREATE: i64 = 0;
    const MAP_LOOKUP_ELEM: i64 = 1;
    const MAP_UPDATE_ELEM: i64 = 2;
    const MAP_DELETE_ELEM: i64 = 3;
    const MAP_GET_NEXT_KEY: i64 = 4;
    const MAP_LOOKUP_AND_DELETE_ELEM: i64 = 21;
    const PROG_LOAD: i64 = 5;
    const PROG_TEST_RUN: i64 = 10;
    const PROG_TYPE_XDP: u32 = 6;

    unsafe extern "C" {
        fn syscall(number: i64, ...) -> i64;
        fn close(fd: i32) -> i32;
        fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32;
    }

    /// Keeps the calling thread on CPU 0, as bpfx's user side acts as CPU 0.
    pub fn pin_to_cpu0() -> Result<(), Errno> {
        let mask = [1u64; 16];
        // SAFETY: the mask is a live buffer of the size passed; pid 0 is
        // the calling thread.
        if unsafe { sched_setaffinity(0, std::mem::size_of_val(&mask), mask.as_ptr()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }

    /// A positive errno.
    pub type Errno = i32;

    struct Attr([u8; 128]);

    impl Default for Attr {
        fn default() -> Attr {
            Attr([0; 128])
        }
    }

    impl Attr {
        fn u32(mut self, off: usize, v: u32) -> Attr {
            self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
            self
        }

        fn u64(mut self, off: usize, v: u64) -> Attr {
            self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
            self
        }

        fn call(&mut self, cmd: i64) -> Result<i64, Errno> {
            // SAFETY: bpf(2) reads (and for some commands writes) at most
            // `size` bytes of the attribute, which is ours, and the buffers
            // its pointers name, which the callers keep alive and sized as
            // the map requires.
            let r = unsafe { syscall(SYS_BPF, cmd, self.0.as_mut_ptr(), self.0.len() as u32) };
            if r < 0 { Err(io::Error::last_os_error().raw_os_error().unwrap_or(0)) } else { Ok(r) }
        }
    }

    fn ptr(b: &[u8]) -> u64 {
        if b.is_empty() { 0 } else { b.as_ptr() as u64 }
    }

    /// A kernel map, closed on drop.
    pub struct KMap {
        fd: u32,
        key_size: usize,
        value_size: usize,
    }

    impl KMap {
        /// `BPF_MAP_CREATE`; `value_size` is what the user side reads and
        /// writes (all CPUs' values for per-CPU maps).
        pub fn create(
            map_type: u32,
            key_size: u32,
            value_size: u32,
            max_entries: u32,
            flags: u32,
            map_extra: u64,
            user_value_size: usize,
        ) -> Result<KMap, Errno> {
            let fd = Attr::default()
                .u32(0, map_type)
                .u32(4, key_size)
                .u32(8, value_size)
                .u32(12, max_entries)
                .u32(16, flags)
                .u64(64, map_extra)
                .call(MAP_CREATE)?;
            Ok(KMap { fd: fd as u32, key_size: key_size as usize, value_size: user_value_size })
        }

        pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
            let out = vec![0u8; self.value_size];
            Attr::default().u32(0, self.fd).u64(8, ptr(key)).u64(16, out.as_ptr() as u64).call(MAP_LOOKUP_ELEM)?;
            Ok(out)
        }

        /// `BPF_MAP_LOOKUP_ELEM` with the value as input (bloom filters).
        pub fn lookup_value(&self, value: &[u8]) -> Result<(), Errno> {
            let v = value.to_vec();
            Attr::default().u32(0, self.fd).u64(16, v.as_ptr() as u64).call(MAP_LOOKUP_ELEM).map(drop)
        }

        pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
            Attr::default()
                .u32(0, self.fd)
                .u64(8, ptr(key))
                .u64(16, value.as_ptr() as u64)
                .u64(24, flags)
                .call(MAP_UPDATE_ELEM)
                .map(drop)
        }

        pub fn delete(&self, key: &[u8]) -> Result<(), Errno> {
            Attr::default().u32(0, self.fd).u64(8, ptr(key)).call(MAP_DELETE_ELEM).map(drop)
        }

        pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
            let out = vec![0u8; self.value_size];
            Attr::default()
                .u32(0, self.fd)
                .u64(8, ptr(key))
                .u64(16, out.as_ptr() as u64)
                .call(MAP_LOOKUP_AND_DELETE_ELEM)?;
            Ok(out)
        }

        pub fn next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, Errno> {
            let out = vec![0u8; self.key_size];
            Attr::default()
                .u32(0, self.fd)
                .u64(8, key.map_or(0, ptr))
                .u64(16, out.as_ptr() as u64)
                .call(MAP_GET_NEXT_KEY)?;
            Ok(out)
        }
    }

    impl Drop for KMap {
        fn drop(&mut self) {
            // SAFETY: `fd` is a descriptor this value owns.
            unsafe { close(self.fd as i32) };
        }
    }

    impl KMap {
        pub fn fd(&self) -> u32 {
            self.fd
        }
    }

    /// A loaded XDP program, closed on drop.
    pub struct Prog {
        fd: u32,
    }

    impl Prog {
        /// `BPF_PROG_LOAD` of raw instructions; the verifier's log in the
        /// error when it refuses them.
        pub fn load_xdp(insns: &[[u8; 8]]) -> Result<Prog, String> {
            let license = b"GPL\0";
            let log = vec![0u8; 64 * 1024];
            let fd = Attr::default()
                .u32(0, PROG_TYPE_XDP)
                .u32(4, insns.len() as u32)
                .u64(8, insns.as_ptr() as u64)
                .u64(16, license.as_ptr() as u64)
                .u32(24, 1)
                .u32(28, log.len() as u32)
                .u64(32, log.as_ptr() as u64)
                .call(PROG_LOAD)
                .map_err(|e| {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    format!("errno {e}: {}", String::from_utf8_lossy(&log[..end]))
                })?;
            Ok(Prog { fd: fd as u32 })
        }

        /// `BPF_PROG_TEST_RUN` once on a 64-byte packet: the program's r0.
        pub fn run(&self) -> Result<u32, Errno> {
            let packet = [0u8; 64];
            let mut attr =
                Attr::default().u32(0, self.fd).u32(8, packet.len() as u32).u64(16, packet.as_ptr() as u64).u32(32, 1);
            attr.call(PROG_TEST_RUN)?;
            Ok(u32::from_ne_bytes(attr.0[4..8].try_into().expect("4 bytes")))
        }
    }

    impl Drop for Prog {
        fn drop(&mut self) {
            // SAFETY: `fd` is a descriptor this value owns.
            unsafe { close(self.fd as i32) };
        }
    }
}

/// Just enough of an assembler for the programs below, in raw encoding.
mod asm {
    pub type Insn = [u8; 8];

    pub fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        let mut b = [0; 8];
        b[0] = op;
        b[1] = dst | (src << 4);
        b[2..4].copy_from_slice(&off.to_le_bytes());
        b[4..8].copy_from_slice(&imm.to_le_bytes());
        b
    }

    pub fn mov(dst: u8, imm: i32) -> Insn {
        insn(0xb7, dst, 0, 0, imm)
    }

    pub fn mov_reg(dst: u8, src: u8) -> Insn {
        insn(0xbf, dst, src, 0, 0)
    }

    /// `dst = r10 + off`: a pointer into the stack.
    pub fn stack_ptr(dst: u8, off: i32) -> [Insn; 2] {
        [mov_reg(dst, 10), insn(0x07, dst, 0, 0, off)]
    }

    /// `*(u32 *)(r10 + off) = imm`.
    pub fn st_w(off: i16, imm: u32) -> Insn {
        insn(0x62, 10, 0, off, imm as i32)
    }

    /// `dst = map` (`lddw` with `BPF_PSEUDO_MAP_FD`).
    pub fn ld_map(dst: u8, fd: u32) -> [Insn; 2] {
        [insn(0x18, dst, 1, 0, fd as i32), insn(0, 0, 0, 0, 0)]
    }

    pub fn call(helper: i32) -> Insn {
        insn(0x85, 0, 0, 0, helper)
    }

    /// `if dst != imm goto +off`.
    pub fn jne(dst: u8, imm: i32, off: i16) -> Insn {
        insn(0x55, dst, 0, off, imm)
    }

    pub fn exit() -> Insn {
        insn(0x95, 0, 0, 0, 0)
    }
}

use asm::*;
use kernel::{Errno, KMap, Prog};

/// The kernel's number of possible CPUs: per-CPU values on the user side
/// come one per possible CPU, so bpfx maps compared with the kernel's use
/// as many.
fn possible_cpus() -> u32 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_else(|_| "0".into());
    let last = text.trim().rsplit(['-', ',']).next().unwrap_or("0");
    last.parse::<u32>().map_or(1, |n| n + 1)
}

/// Whether bpf(2) works here; says why not when it does not.
fn kernel_available(test: &str) -> bool {
    match KMap::create(MapType::Array.value(), 4, 4, 1, 0, 0, 4) {
        Ok(_) => true,
        Err(errno) => {
            eprintln!("{test}: skipped, bpf(2) map creation fails here (errno {errno})");
            false
        }
    }
}

fn spec(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapSpec {
    MapSpec { name: "difftest".into(), map_type, key_size, value_size, max_entries, flags, ..MapSpec::default() }
}

/// A kernel map and a bpfx map from one spec.
struct Pair {
    k: KMap,
    b: Box<dyn Map>,
    log: Vec<String>,
}

fn errno<T>(r: Result<T, MapError>) -> Result<T, Errno> {
    r.map_err(|e| -e.errno() as Errno)
}

impl Pair {
    fn new(s: &MapSpec) -> Pair {
        let b = create(s, possible_cpus()).unwrap_or_else(|e| panic!("bpfx refuses {s:?}: {e}"));
        let k =
            KMap::create(s.map_type.value(), s.key_size, s.value_size, s.max_entries, s.flags, 0, b.user_value_size())
                .unwrap_or_else(|e| panic!("the kernel refuses {s:?}: errno {e}"));
        Pair { k, b, log: Vec::new() }
    }

    fn same<T: PartialEq + std::fmt::Debug>(&mut self, what: String, k: Result<T, Errno>, b: Result<T, Errno>) {
        self.log.push(format!("{what} -> {k:?}"));
        assert_eq!(b, k, "bpfx and the kernel differ on {what}; operations so far:\n{}", self.log.join("\n"));
    }

    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) {
        let (k, b) = (self.k.update(key, value, flags), errno(self.b.update(key, value, flags)));
        self.same(format!("update {key:02x?} {value:02x?} flags {flags}"), k, b);
    }

    fn lookup(&mut self, key: &[u8]) {
        let (k, b) = (self.k.lookup(key), errno(self.b.lookup(key)));
        self.same(format!("lookup {key:02x?}"), k, b);
    }

    fn delete(&mut self, key: &[u8]) {
        let (k, b) = (self.k.delete(key), errno(self.b.delete(key)));
        self.same(format!("delete {key:02x?}"), k, b);
    }

    fn lookup_and_delete(&mut self, key: &[u8]) {
        let (k, b) = (self.k.lookup_and_delete(key), errno(self.b.lookup_and_delete(key)));
        self.same(format!("lookup_and_delete {key:02x?}"), k, b);
    }

    /// Every key, by walking next_key from nothing; in order when `ordered`
    /// (arrays, LPM tries), as a set otherwise (a hash map's order depends
    /// on the kernel's random seed).
    fn keys(&mut self, ordered: bool) {
        let mut k = walk(&|key| self.k.next_key(key));
        let mut b = walk(&|key| errno(self.b.next_key(key)));
        if !ordered {
            k.0.sort();
            b.0.sort();
        }
        self.same("walk of next_key".into(), Ok(k), Ok(b));
    }
}

/// A `next_key` operation, of either side.
type NextKey<'a> = dyn Fn(Option<&[u8]>) -> Result<Vec<u8>, Errno> + 'a;

/// Every key `next` gives from nothing, and the error that ended the walk.
fn walk(next: &NextKey) -> (Vec<Vec<u8>>, Errno) {
    let mut keys = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    loop {
        match next(key.as_deref()) {
            Ok(k) => {
                keys.push(k.clone());
                key = Some(k);
            }
            Err(e) => return (keys, e),
        }
    }
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Update flags, including ones the kernel refuses.
    fn flags(&mut self) -> u64 {
        [BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3, BPF_F_LOCK, BPF_F_LOCK | BPF_EXIST][self.below(7) as usize]
    }
}

#[test]
fn creation_rules_match_the_kernel() {
    if !kernel_available("creation_rules_match_the_kernel") {
        return;
    }
    use MapType::*;
    let cases: &[(MapType, u32, u32, u32, u32)] = &[
        (Unspec, 4, 4, 1, 0),
        (Array, 4, 4, 1, 0),
        (Array, 8, 4, 1, 0),
        (Array, 4, 0, 1, 0),
        (Array, 4, 4, 0, 0),
        (Array, 4, 4, 1, BPF_F_NO_PREALLOC),
        (Array, 4, 4, 1, BPF_F_MMAPABLE | BPF_F_RDONLY_PROG),
        (Array, 4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
        (Array, 4, 4, 1, BPF_F_RDONLY | BPF_F_WRONLY),
        (Array, 4, 4, 1, BPF_F_PRESERVE_ELEMS),
        (PercpuArray, 4, 4, 1, BPF_F_MMAPABLE),
        (PercpuArray, 4, 32 * 1024 + 1, 1, 0),
        (Hash, 0, 4, 1, 0),
        (Hash, 4, 0, 1, 0),
        (Hash, 4, 4, 0, 0),
        (Hash, 4, 4, 1, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED),
        (Hash, 4, 4, 1, BPF_F_NO_COMMON_LRU),
        (Hash, 4, 4, 1, BPF_F_MMAPABLE),
        (LruHash, 4, 4, 1, BPF_F_NO_PREALLOC),
        (LruHash, 4, 4, 3, BPF_F_NO_COMMON_LRU),
        (LruPercpuHash, 4, 4, 3, 0),
        (PercpuHash, 4, 32 * 1024 + 1, 1, 0),
        (HashOfMaps, 4, 8, 1, 0),
        (LpmTrie, 8, 4, 1, 0),
        (LpmTrie, 8, 4, 1, BPF_F_NO_PREALLOC),
        (LpmTrie, 4, 4, 1, BPF_F_NO_PREALLOC),
        (LpmTrie, 261, 4, 1, BPF_F_NO_PREALLOC),
        (LpmTrie, 260, 4, 1, BPF_F_NO_PREALLOC),
        (LpmTrie, 8, 0, 1, BPF_F_NO_PREALLOC),
        (ProgArray, 4, 4, 4, 0),
        (ProgArray, 4, 8, 4, 0),
        (ProgArray, 4, 4, 4, BPF_F_RDONLY_PROG),
        (PerfEventArray, 4, 4, 4, BPF_F_PRESERVE_ELEMS),
        (Ringbuf, 0, 0, 4096, 0),
        (Ringbuf, 0, 0, 4096 * 3, 0),
        (Ringbuf, 0, 0, 2048, 0),
        (Ringbuf, 4, 0, 4096, 0),
        (Ringbuf, 0, 0, 4096, BPF_F_NO_PREALLOC),
        (Queue, 0, 4, 4, 0),
        (Queue, 4, 4, 4, 0),
        (Stack, 0, 0, 4, 0),
        (Stack, 0, 4, 4, BPF_F_NO_PREALLOC),
        (Queue, 0, (4 << 20) + 1, 1, 0),
        (BloomFilter, 0, 4, 100, 0),
        (BloomFilter, 4, 4, 100, 0),
        (BloomFilter, 0, 4, 0, 0),
        (Devmap, 4, 4, 4, 0),
        (Devmap, 4, 8, 4, 0),
        (Devmap, 4, 12, 4, 0),
        (Devmap, 4, 4, 4, BPF_F_RDONLY_PROG),
        (DevmapHash, 4, 8, 4, 0),
        (Cpumap, 4, 4, 4, 0),
        (Cpumap, 4, 8, 4, BPF_F_RDONLY),
        (Cpumap, 4, 12, 4, 0),
        (Xskmap, 4, 4, 4, 0),
        (Xskmap, 4, 8, 4, 0),
    ];
    let cpus = possible_cpus();
    let mut differ = Vec::new();
    for &(t, key, value, max, flags) in cases {
        let kernel = KMap::create(t.value(), key, value, max, flags, 0, 0).map(drop);
        let bpfx = create(&spec(t, key, value, max, flags), cpus).map(drop).map_err(|e| -e.error.errno() as Errno);
        if kernel != bpfx {
            differ.push(format!(
                "{t} key {key} value {value} max {max} flags {flags:#x}: kernel {kernel:?}, bpfx {bpfx:?}"
            ));
        }
    }
    assert!(differ.is_empty(), "creation differs from the kernel:\n{}", differ.join("\n"));
}

#[test]
fn array_and_percpu_array_match_the_kernel() {
    if !kernel_available("array_and_percpu_array_match_the_kernel") {
        return;
    }
    for t in [MapType::Array, MapType::PercpuArray] {
        let mut rng = Rng(0x5eed_0001);
        let mut p = Pair::new(&spec(t, 4, 6, 4, 0));
        let vlen = p.b.user_value_size();
        for _ in 0..300 {
            let key = (rng.below(6) as u32).to_ne_bytes();
            match rng.below(4) {
                0 | 1 => {
                    let (value, flags) = (rng.bytes(vlen), rng.flags());
                    p.update(&key, &value, flags)
                }
                2 => p.lookup(&key),
                _ => p.delete(&key),
            }
        }
        p.keys(true);
        p.lookup_and_delete(&0u32.to_ne_bytes());
    }
}

#[test]
fn hash_family_matches_the_kernel_until_lru_eviction() {
    if !kernel_available("hash_family_matches_the_kernel_until_lru_eviction") {
        return;
    }
    let kinds = [
        (MapType::Hash, 0),
        (MapType::Hash, BPF_F_NO_PREALLOC),
        (MapType::PercpuHash, 0),
        (MapType::PercpuHash, BPF_F_NO_PREALLOC),
        // LRU maps evict differently (see `hash.rs`); with more room than
        // keys nothing is evicted and both must agree on everything else.
        // The kernel's common LRU list may evict early when the caller
        // moves between CPUs; per-CPU lists do not.
        (MapType::LruHash, BPF_F_NO_COMMON_LRU),
        (MapType::LruPercpuHash, BPF_F_NO_COMMON_LRU),
    ];
    for (t, flags) in kinds {
        let lru = matches!(t, MapType::LruHash | MapType::LruPercpuHash);
        let (max, domain) = if lru { (64, 6) } else { (4, 7) };
        let mut rng = Rng(0x5eed_0002 + u64::from(flags));
        let mut p = Pair::new(&spec(t, 3, 5, max, flags));
        let vlen = p.b.user_value_size();
        for _ in 0..400 {
            let key = vec![rng.below(domain) as u8; 3];
            match rng.below(6) {
                0..=2 => {
                    let (value, flags) = (rng.bytes(vlen), rng.flags());
                    p.update(&key, &value, flags)
                }
                3 => p.lookup(&key),
                4 => p.delete(&key),
                _ => p.lookup_and_delete(&key),
            }
            if rng.below(20) == 0 {
                p.keys(false);
            }
        }
        p.keys(false);
        // A key of another size, as the API (not the syscall) can be given.
        assert_eq!(p.b.lookup(&[0; 2]), Err(MapError::Invalid));
    }
}

#[test]
fn lru_evicts_the_oldest_as_the_kernel_which_may_evict_more() {
    if !kernel_available("lru_evicts_the_oldest_as_the_kernel_which_may_evict_more") {
        return;
    }
    kernel::pin_to_cpu0().expect("sched_setaffinity");
    let keys = |next: &NextKey| -> BTreeSet<u32> {
        walk(next).0.iter().map(|k| u32::from_ne_bytes(k[..4].try_into().unwrap())).collect()
    };
    // Per-CPU lists give every CPU max_entries / cpus entries.
    for (max, flags, extra) in [(4, 0, 2), (16, 0, 2), (4, BPF_F_NO_COMMON_LRU, 2), (200, 0, 2)] {
        let s = spec(MapType::LruHash, 4, 4, max, flags);
        let p = Pair::new(&s);
        let mut b = p.b;
        for i in 0..max + extra {
            p.k.update(&i.to_ne_bytes(), &[0; 4], BPF_ANY).unwrap();
            b.update(&i.to_ne_bytes(), &[0; 4], BPF_ANY).unwrap();
        }
        let kernel = keys(&|k| p.k.next_key(k));
        let bpfx = keys(&|k| errno(b.next_key(k)));
        let room = if flags == 0 { max } else { max / possible_cpus() };
        let newest: BTreeSet<u32> = (max + extra - room..max + extra).collect();
        assert_eq!(bpfx, newest, "bpfx keeps exactly the newest {room}");
        // The kernel evicts from an inactive list in batches: it keeps the
        // newest entries too, but may keep fewer (on this machine, 14 of 16
        // and 152 of 200; all 4 of 4).
        assert!(kernel.is_subset(&bpfx), "max {max} flags {flags:#x}: kernel keeps {kernel:?}, bpfx {bpfx:?}");
        if max == 4 {
            assert_eq!(kernel, bpfx);
        }
    }
}

#[test]
fn lpm_trie_matches_the_kernel_including_next_key_order() {
    if !kernel_available("lpm_trie_matches_the_kernel_including_next_key_order") {
        return;
    }
    let mut rng = Rng(0x5eed_0003);
    let mut p = Pair::new(&spec(MapType::LpmTrie, 6, 4, 12, BPF_F_NO_PREALLOC));
    for _ in 0..600 {
        // Prefix lengths 0..=17 (17 is past the 16 data bits), data from a
        // small set so prefixes nest and collide.
        let len = rng.below(18) as u32;
        let data = [[0x0a, 0x00], [0x0a, 0x80], [0x0b, 0xff], [0xc0, 0xa8], [0x0a, 0x01]][rng.below(5) as usize];
        let key = [&len.to_ne_bytes()[..], &data].concat();
        match rng.below(5) {
            0 | 1 => {
                let (value, flags) = (rng.bytes(4), rng.flags());
                p.update(&key, &value, flags)
            }
            2 => p.lookup(&key),
            3 => p.delete(&key),
            _ => p.keys(true),
        }
    }
    p.keys(true);
}

#[test]
fn queue_and_stack_match_the_kernel() {
    if !kernel_available("queue_and_stack_match_the_kernel") {
        return;
    }
    for t in [MapType::Queue, MapType::Stack] {
        let mut rng = Rng(0x5eed_0004);
        let mut p = Pair::new(&spec(t, 0, 3, 4, 0));
        for _ in 0..300 {
            match rng.below(5) {
                0 | 1 => {
                    let (value, flags) = (rng.bytes(3), rng.flags());
                    p.update(&[], &value, flags)
                }
                2 => p.lookup(&[]),
                3 => p.lookup_and_delete(&[]),
                _ => p.delete(&[]),
            }
        }
        let (k, b) = (p.k.next_key(None), errno(p.b.next_key(None)));
        p.same("next_key".into(), k, b);
    }
}

#[test]
fn bloom_filter_answers_as_a_zero_seed_kernel_filter() {
    if !kernel_available("bloom_filter_answers_as_a_zero_seed_kernel_filter") {
        return;
    }
    // 6-byte values take jhash's byte path, 8-byte ones its word path.
    for value_size in [6u32, 8] {
        let s = spec(MapType::BloomFilter, 0, value_size, 50, BPF_F_ZERO_SEED);
        let k = KMap::create(s.map_type.value(), 0, value_size, 50, s.flags, 0, value_size as usize).unwrap();
        let mut b = create(&s, 1).unwrap();
        let mut rng = Rng(0x5eed_0005);
        for _ in 0..50 {
            let v = rng.bytes(value_size as usize);
            assert_eq!(k.update(&[], &v, BPF_ANY), errno(b.push(&v, BPF_ANY)));
        }
        let mut answers = BTreeSet::new();
        for _ in 0..2000 {
            let mut v = rng.bytes(value_size as usize);
            let kernel = k.lookup_value(&v);
            assert_eq!(errno(b.peek(&mut v)), kernel, "bloom filter answers differ for {v:02x?}");
            answers.insert(kernel);
        }
        // Some answers were false positives: the hashes, not just the
        // emptiness, are the kernel's.
        assert_eq!(answers.len(), 2, "expected both answers among 2000 probes");
        assert_eq!(k.update(&[], &[0; 8][..value_size as usize], BPF_EXIST), Err(22));
        assert_eq!(errno(b.push(&[0; 8][..value_size as usize], BPF_EXIST)), Err(22));
    }
}

#[test]
fn devmap_cpumap_xskmap_and_fd_arrays_match_the_kernel_where_no_object_is_named() {
    if !kernel_available("devmap_cpumap_xskmap_and_fd_arrays_match_the_kernel_where_no_object_is_named") {
        return;
    }
    let k32 = |v: u32| v.to_ne_bytes();
    // ifindex 1 is the loopback device, which exists in every namespace.
    let mut dev = Pair::new(&spec(MapType::Devmap, 4, 4, 4, 0));
    dev.update(&k32(1), &k32(1), BPF_ANY);
    dev.update(&k32(1), &k32(1), BPF_NOEXIST);
    dev.update(&k32(4), &k32(1), BPF_ANY);
    dev.update(&k32(1), &k32(1), 3);
    dev.lookup(&k32(1));
    dev.lookup(&k32(2));
    dev.update(&k32(1), &k32(0), BPF_ANY);
    dev.lookup(&k32(1));
    dev.delete(&k32(2));
    dev.delete(&k32(7));
    dev.keys(true);

    let mut hash = Pair::new(&spec(MapType::DevmapHash, 4, 4, 2, 0));
    hash.update(&k32(100), &k32(1), BPF_EXIST);
    hash.update(&k32(100), &k32(1), BPF_NOEXIST);
    hash.update(&k32(200), &k32(1), BPF_ANY);
    hash.update(&k32(300), &k32(1), BPF_ANY);
    hash.update(&k32(300), &k32(0), BPF_ANY);
    hash.lookup(&k32(200));
    hash.delete(&k32(300));
    hash.delete(&k32(100));
    hash.keys(false);

    let cpus = possible_cpus();
    let mut cpu = Pair::new(&spec(MapType::Cpumap, 4, 4, cpus + 1, 0));
    cpu.update(&k32(0), &k32(192), BPF_ANY);
    cpu.update(&k32(0), &k32(16385), BPF_ANY);
    cpu.update(&k32(cpus), &k32(192), BPF_ANY);
    cpu.update(&k32(cpus + 1), &k32(192), BPF_ANY);
    cpu.update(&k32(0), &k32(192), BPF_NOEXIST);
    cpu.lookup(&k32(0));
    cpu.update(&k32(0), &k32(0), BPF_ANY);
    cpu.lookup(&k32(0));
    cpu.delete(&k32(0));
    cpu.delete(&k32(cpus + 1));

    // Without sockets, only what needs none: errors for bad keys and flags.
    let mut xsk = Pair::new(&spec(MapType::Xskmap, 4, 4, 4, 0));
    xsk.update(&k32(9), &k32(0), BPF_ANY);
    xsk.update(&k32(0), &k32(0), 3);
    xsk.lookup(&k32(0));
    xsk.delete(&k32(0));
    xsk.delete(&k32(9));
    xsk.keys(true);

    // Without programs or perf events, the same for the fd arrays (an
    // array of maps needs an inner map template to be created at all).
    for t in [MapType::ProgArray, MapType::PerfEventArray] {
        let mut fds = Pair::new(&spec(t, 4, 4, 4, 0));
        fds.update(&k32(0), &k32(0), BPF_EXIST);
        fds.update(&k32(9), &k32(0), BPF_ANY);
        fds.lookup(&k32(9));
        fds.delete(&k32(9));
        fds.keys(true);
    }
}

#[test]
fn ring_buffer_refuses_the_element_operations_as_the_kernel() {
    if !kernel_available("ring_buffer_refuses_the_element_operations_as_the_kernel") {
        return;
    }
    let mut p = Pair::new(&spec(MapType::Ringbuf, 0, 0, 4096, 0));
    let (k, b) = (p.k.next_key(None), errno(p.b.next_key(None)));
    p.same("next_key".into(), k, b);
    p.delete(&[]);
}

/// What a helper returns to the program for a map operation's result.
fn helper_r0(r: Result<(), MapError>) -> u32 {
    r.map_or_else(|e| e.errno() as u32, |()| 0)
}

/// A program that calls `bpf_map_update_elem(map, &key, &value, flags)`
/// with a `u32` key and a `u64` value, and returns its result.
fn update_prog(map: &KMap, key: u32, value: u64, flags: u32) -> Prog {
    let mut p = vec![st_w(-4, key), st_w(-16, value as u32), st_w(-12, (value >> 32) as u32)];
    p.extend(ld_map(1, map.fd()));
    p.extend(stack_ptr(2, -4));
    p.extend(stack_ptr(3, -16));
    p.extend([mov(4, flags as i32), call(2), exit()]);
    Prog::load_xdp(&p).unwrap_or_else(|e| panic!("the kernel refuses the update program: {e}"))
}

#[test]
fn program_side_updates_match_the_kernel() {
    if !kernel_available("program_side_updates_match_the_kernel") {
        return;
    }
    // Per-CPU values are written on the CPU the program runs on: CPU 0,
    // as for the bpfx side.
    kernel::pin_to_cpu0().expect("sched_setaffinity");
    for (t, max) in [
        (MapType::Array, 2),
        (MapType::PercpuArray, 2),
        (MapType::Hash, 2),
        (MapType::PercpuHash, 2),
        (MapType::LruHash, 64),
        (MapType::LruPercpuHash, 64),
    ] {
        let mut rng = Rng(0x5eed_0006);
        let mut p = Pair::new(&spec(t, 4, 8, max, 0));
        let vlen = p.b.user_value_size();
        for step in 0..60 {
            let key = rng.below(3) as u32;
            match rng.below(6) {
                0 => {
                    // Set every CPU's value from the user side, so a later
                    // program write shows which CPUs it touched.
                    let (value, flags) = (rng.bytes(vlen), [BPF_ANY, BPF_EXIST][rng.below(2) as usize]);
                    p.update(&key.to_ne_bytes(), &value, flags);
                    continue;
                }
                // Freed slots come back with the other CPUs' old values,
                // which an insert from a program must clear.
                1 => {
                    p.delete(&key.to_ne_bytes());
                    continue;
                }
                _ => {}
            }
            let (value, flags) = (rng.next(), rng.below(8) as u32);
            let kernel = update_prog(&p.k, key, value, flags).run();
            let bpfx = helper_r0(p.b.prog_update(&key.to_ne_bytes(), &value.to_ne_bytes(), u64::from(flags), 0));
            p.same(format!("{t} step {step}: program update {key} {value:#x} flags {flags}"), kernel, Ok(bpfx));
            for k in 0..3u32 {
                p.lookup(&k.to_ne_bytes());
            }
        }
        p.keys(t == MapType::Array || t == MapType::PercpuArray);
    }
}

#[test]
fn program_side_queue_operations_match_the_kernel() {
    if !kernel_available("program_side_queue_operations_match_the_kernel") {
        return;
    }
    for t in [MapType::Queue, MapType::Stack] {
        let mut p = Pair::new(&spec(t, 0, 8, 2, 0));
        for (step, flags) in [0, 0, 0, 1, 2, 3, 4, 2, 0].into_iter().enumerate() {
            let value = 0x1111 * (step as u64 + 1);
            let mut prog = vec![st_w(-8, value as u32), st_w(-4, 0)];
            prog.extend(ld_map(1, p.k.fd()));
            prog.extend(stack_ptr(2, -8));
            prog.extend([mov(3, flags), call(87), exit()]);
            let kernel = Prog::load_xdp(&prog).unwrap().run();
            let bpfx = helper_r0(p.b.push(&value.to_ne_bytes(), flags as u64));
            p.same(format!("{t} push {value:#x} flags {flags}"), kernel, Ok(bpfx));
        }
        for _ in 0..3 {
            p.lookup_and_delete(&[]);
        }
        // Popping from an empty map clears the program's buffer: the
        // program returns what its buffer holds after the pop.
        let mut prog = vec![st_w(-8, 0xdead_beef), st_w(-4, 0x1234_5678)];
        prog.extend(ld_map(1, p.k.fd()));
        prog.extend(stack_ptr(2, -8));
        prog.extend([call(88), insn(0x61, 0, 10, -8, 0), exit()]);
        let kernel = Prog::load_xdp(&prog).unwrap().run();
        let mut buffer = 0x1234_5678_dead_beef_u64.to_ne_bytes();
        assert_eq!(p.b.pop(&mut buffer), Err(MapError::NotFound));
        assert_eq!(kernel, Ok(u32::from_ne_bytes(buffer[..4].try_into().unwrap())), "{t}: buffer after an empty pop");
    }
}

#[test]
fn ring_buffer_fills_and_reports_as_the_kernels() {
    if !kernel_available("ring_buffer_fills_and_reports_as_the_kernels") {
        return;
    }
    let s = spec(MapType::Ringbuf, 0, 0, 4096, 0);
    let k = KMap::create(s.map_type.value(), 0, 0, 4096, 0, 0, 0).unwrap();
    let mut b = create(&s, 1).unwrap();
    let output = |flags: i32| {
        let mut p = vec![st_w(-8, 0xabcd), st_w(-4, 0)];
        p.extend(ld_map(1, k.fd()));
        p.extend(stack_ptr(2, -8));
        p.extend([mov(3, 8), mov(4, flags), call(130), exit()]);
        Prog::load_xdp(&p).unwrap()
    };
    let query = |which: i32| {
        let mut p = ld_map(1, k.fd()).to_vec();
        p.extend([mov(2, which), call(134), exit()]);
        Prog::load_xdp(&p).unwrap()
    };
    // A reservation with flags fails; one without is discarded.
    let reserve = |flags: i32| {
        let mut p = ld_map(1, k.fd()).to_vec();
        p.extend([mov(2, 16), mov(3, flags), call(131), jne(0, 0, 2), mov(0, 0), exit()]);
        p.extend([mov_reg(1, 0), mov(2, 0), call(133), mov(0, 1), exit()]);
        Prog::load_xdp(&p).unwrap()
    };
    let rb = b.as_ringbuf().unwrap();
    assert_eq!(reserve(1).run(), Ok(u32::from(rb.reserve(16, 1).is_some())));
    let sample = rb.reserve(16, 0).unwrap();
    rb.discard(sample.as_ptr() as u64, 0).unwrap();
    assert_eq!(reserve(0).run(), Ok(1));
    assert_eq!(output(4).run(), Ok(helper_r0(rb.output(&[0; 8], 4))));
    let (out, out_no_wakeup) = (output(0), output(BPF_RB_NO_WAKEUP as i32));
    let mut n = 0;
    loop {
        let prog = if n % 2 == 0 { &out } else { &out_no_wakeup };
        let flags = if n % 2 == 0 { 0 } else { BPF_RB_NO_WAKEUP };
        let (kernel, bpfx) = (prog.run().unwrap(), helper_r0(rb.output(&0xabcdu64.to_ne_bytes(), flags)));
        assert_eq!(kernel, bpfx, "output {n}");
        if kernel != 0 {
            assert_eq!(kernel, MapError::Again.errno() as u32);
            break;
        }
        n += 1;
    }
    assert!(n > 200, "only {n} records fit");
    for which in [BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS, 7] {
        assert_eq!(query(which as i32).run(), Ok(rb.query(which) as u32), "query {which}");
    }
}
