//! Map helpers through programs, one map type at a time: lookups that
//! hand out pointers programs write through, updates with each flag and
//! its errno, deletes, per-CPU values, LPM matches, queues and stacks,
//! ring buffers, maps of maps and bloom filters.

use bpfx_isa::MapSpec;
use bpfx_isa::abi::MapType;
use bpfx_runtime::maps::flags::{BPF_ANY, BPF_F_NO_PREALLOC};
use bpfx_runtime::{Config, Context, Engine, Exit, MapId, Runtime};

use crate::{MakeEngine, map, program};

crate::tests![
    array_values_are_written_through_pointers,
    hash_updates_follow_their_flags,
    percpu_values_belong_to_the_configured_cpu,
    lru_hash_makes_room,
    lpm_trie_finds_the_longest_prefix,
    queue_and_stack_push_pop_peek,
    ring_buffer_records,
    map_of_maps_lookups,
    bloom_filter_membership,
];

/// `r0 = helper(map 0, &key)` where `key` (a u32) is on the stack.
fn with_key(helper: u32, key: u32) -> String {
    format!("*(u32 *)(r10 - 4) = {key}\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall {helper}\n")
}

/// `r0 = update(map 0, &key, &value, flags)` with u32 key and u64 value.
fn update(key: u32, value: u64, flags: u64) -> String {
    format!(
        "*(u32 *)(r10 - 4) = {key}\nr1 = {value} ll\n*(u64 *)(r10 - 16) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nr4 = {flags}\ncall 2\n"
    )
}

/// A runtime with `spec` created, an engine, and a runner of snippets on
/// that runtime (each a program using `spec` as map 0).
struct Bench {
    rt: Runtime,
    engine: Box<dyn Engine>,
    spec: MapSpec,
}

impl Bench {
    fn new(make: MakeEngine, spec: MapSpec, config: Config) -> Bench {
        let mut rt = Runtime::new(config);
        rt.create_map(&spec).unwrap_or_else(|e| panic!("{e}"));
        Bench { rt, engine: make(), spec }
    }

    fn run(&mut self, source: &str) -> u64 {
        let p = program(&format!("{source}\nexit"), vec![self.spec.clone()]);
        let prog = self.engine.load(&mut self.rt, &p).unwrap_or_else(|e| panic!("{e}"));
        match self.engine.run(&mut self.rt, prog, &mut Context::raw(&[])).unwrap().exit {
            Exit::Return(r0) => r0,
            fault => panic!("{fault}"),
        }
    }

    fn errno(&mut self, source: &str) -> i64 {
        self.run(source) as i64
    }

    fn id(&self) -> MapId {
        self.rt.map_id(&self.spec.name).unwrap()
    }

    fn user_lookup(&self, key: u32) -> Option<Vec<u8>> {
        self.rt.map(self.id()).unwrap().lookup(&key.to_ne_bytes()).ok()
    }
}

fn array_values_are_written_through_pointers(make: MakeEngine) {
    let mut b = Bench::new(make, map("a", MapType::Array, 4, 8, 4), Config::default());
    let write = format!("{}if r0 == 0 goto +2\nr1 = 99\n*(u64 *)(r0 + 0) = r1\nr0 = 1", with_key(1, 2));
    assert_eq!(b.run(&write), 1);
    assert_eq!(b.user_lookup(2), Some(99u64.to_ne_bytes().to_vec()));
    assert_eq!(b.run(&with_key(1, 4)), 0, "past max_entries: NULL");
    assert_eq!(b.errno(&update(1, 5, 1)), -17, "BPF_NOEXIST on an array: -EEXIST");
    assert_eq!(b.errno(&update(1, 5, 2)), 0, "BPF_EXIST");
    assert_eq!(b.errno(&update(4, 5, 0)), -7, "index past max_entries: -E2BIG");
    assert_eq!(b.errno(&with_key(3, 1)), -22, "array elements cannot be deleted: -EINVAL");
    assert_eq!(b.user_lookup(1), Some(5u64.to_ne_bytes().to_vec()));
    // The same pointer across runs: values live in memory allocated once.
    let ptr = b.run(&with_key(1, 2));
    assert_eq!(b.run(&with_key(1, 2)), ptr);
}

fn hash_updates_follow_their_flags(make: MakeEngine) {
    for flags in [0, BPF_F_NO_PREALLOC] {
        let mut spec = map("h", MapType::Hash, 4, 8, 2);
        spec.flags = flags;
        let mut b = Bench::new(make, spec, Config::default());
        assert_eq!(b.run(&with_key(1, 7)), 0, "missing: NULL");
        assert_eq!(b.errno(&update(7, 70, 2)), -2, "BPF_EXIST on a missing key: -ENOENT");
        assert_eq!(b.errno(&update(7, 70, 1)), 0, "BPF_NOEXIST");
        assert_eq!(b.errno(&update(7, 71, 1)), -17, "BPF_NOEXIST on a present key: -EEXIST");
        assert_eq!(b.errno(&update(8, 80, 0)), 0);
        assert_eq!(b.errno(&update(9, 90, 0)), -7, "full: -E2BIG");
        assert_eq!(b.errno(&update(7, 72, 2)), 0, "BPF_EXIST replaces");
        let read = format!("{}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)", with_key(1, 7));
        assert_eq!(b.run(&read), 72);
        assert_eq!(b.errno(&with_key(3, 7)), 0);
        assert_eq!(b.errno(&with_key(3, 7)), -2, "deleting twice: -ENOENT");
        assert_eq!(b.errno(&update(9, 90, 4)), -22, "BPF_F_LOCK without a lock: -EINVAL");
        assert_eq!(b.errno(&update(9, 90, 0)), 0, "room again");
        assert_eq!(b.user_lookup(9), Some(90u64.to_ne_bytes().to_vec()));
    }
}

fn percpu_values_belong_to_the_configured_cpu(make: MakeEngine) {
    let config = Config { cpu: 1, cpus: 2, ..Config::default() };
    let mut b = Bench::new(make, map("p", MapType::PercpuArray, 4, 8, 1), config);
    let write = format!("{}r1 = 33\n*(u64 *)(r0 + 0) = r1\nr0 = 0", with_key(1, 0));
    b.run(&write);
    let both = b.user_lookup(0).unwrap();
    assert_eq!(both, [0u64.to_ne_bytes(), 33u64.to_ne_bytes()].concat(), "CPU 0's value, CPU 1's value");
    let other = "*(u32 *)(r10 - 4) = 0\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = 0\ncall 195\nr1 = 44\n*(u64 *)(r0 + 0) = r1\nr0 = 0";
    b.run(other);
    assert_eq!(b.user_lookup(0).unwrap()[..8], 44u64.to_ne_bytes(), "bpf_map_lookup_percpu_elem reaches CPU 0");
    let missing = "*(u32 *)(r10 - 4) = 0\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = 2\ncall 195";
    assert_eq!(b.run(missing), 0, "a CPU that does not exist: NULL");
}

fn lru_hash_makes_room(make: MakeEngine) {
    let mut b = Bench::new(make, map("l", MapType::LruHash, 4, 8, 64), Config::default());
    for k in 0..200 {
        assert_eq!(b.errno(&update(k, u64::from(k), 0)), 0, "an LRU map never refuses for lack of room");
    }
    let count = b.rt.map(b.id()).unwrap().dump().len();
    assert!(count <= 64 && count > 0, "{count} entries");
    assert!(b.user_lookup(199).is_some(), "the newest entry stays");
}

fn lpm_trie_finds_the_longest_prefix(make: MakeEngine) {
    let mut spec = map("routes", MapType::LpmTrie, 8, 8, 16);
    spec.flags = BPF_F_NO_PREALLOC;
    let mut b = Bench::new(make, spec, Config::default());
    let id = b.id();
    let key = |prefix: u32, addr: [u8; 4]| [prefix.to_ne_bytes(), addr].concat();
    let m = b.rt.map_mut(id).unwrap();
    m.update(&key(8, [10, 0, 0, 0]), &1u64.to_ne_bytes(), BPF_ANY).unwrap();
    m.update(&key(16, [10, 1, 0, 0]), &2u64.to_ne_bytes(), BPF_ANY).unwrap();
    let lookup = |addr: [u8; 4]| {
        format!(
            "*(u32 *)(r10 - 8) = 32\n*(u32 *)(r10 - 4) = {}\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall 1\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)",
            u32::from_ne_bytes(addr)
        )
    };
    assert_eq!(b.run(&lookup([10, 1, 2, 3])), 2);
    assert_eq!(b.run(&lookup([10, 2, 0, 0])), 1);
    assert_eq!(b.run(&lookup([11, 0, 0, 0])), 0);
}

fn queue_and_stack_push_pop_peek(make: MakeEngine) {
    let push = |v: u64, flags: u64| {
        format!("r1 = {v}\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\nr3 = {flags}\ncall 87")
    };
    let take = |helper: u32| {
        format!("ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall {helper}\nif r0 != 0 goto +1\nr0 = *(u64 *)(r10 - 8)")
    };
    for (map_type, first) in [(MapType::Queue, 1), (MapType::Stack, 3)] {
        let mut b = Bench::new(make, map("q", map_type, 0, 8, 3), Config::default());
        for v in 1..=3 {
            assert_eq!(b.errno(&push(v, 0)), 0);
        }
        assert_eq!(b.errno(&push(4, 0)), -7, "{map_type}: full: -E2BIG");
        assert_eq!(b.run(&take(89)), first, "{map_type}: peek");
        assert_eq!(b.run(&take(88)), first, "{map_type}: pop");
        assert_eq!(b.errno(&push(5, 2)), 0, "{map_type}: BPF_EXIST makes room");
        let mut rest: Vec<u64> = (0..3).map(|_| b.run(&take(88))).collect();
        rest.sort();
        assert_eq!(b.errno(&take(88)) & 0xff, 0xfe, "{map_type}: empty: -ENOENT");
        assert!(rest.contains(&5), "{map_type}: {rest:?}");
    }
}

fn ring_buffer_records(make: MakeEngine) {
    let mut b = Bench::new(make, map("rb", MapType::Ringbuf, 0, 0, 4096), Config::default());
    // Reserve 8 bytes, fill, submit; reserve and discard; output 4 bytes.
    let source = "
        ld_pseudo r1, 1, 0
        r2 = 8
        r3 = 0
        call 131
        if r0 == 0 goto out
        r1 = 0x1111111111111111 ll
        *(u64 *)(r0 + 0) = r1
        r1 = r0
        r2 = 0
        call 132
        ld_pseudo r1, 1, 0
        r2 = 8
        r3 = 0
        call 131
        if r0 == 0 goto out
        r1 = r0
        r2 = 0
        call 133
        *(u32 *)(r10 - 4) = 0x22222222
        ld_pseudo r1, 1, 0
        r2 = r10
        r2 += -4
        r3 = 4
        r4 = 0
        call 130
        ld_pseudo r1, 1, 0
        r2 = 0
        call 134
    out:";
    assert_eq!(b.run(source), 16 + 16 + 16, "three records of header and data, rounded to 8");
    let id = b.id();
    let ring = b.rt.map_mut(id).unwrap().as_ringbuf().unwrap();
    assert_eq!(ring.drain(), [vec![0x11; 8], vec![0x22; 4]], "the discarded record is skipped");
    let too_big = "ld_pseudo r1, 1, 0\nr2 = 8192\nr3 = 0\ncall 131";
    assert_eq!(b.run(too_big), 0, "no room: NULL");
}

fn map_of_maps_lookups(make: MakeEngine) {
    let mut rt = Runtime::default();
    let mut engine = make();
    let inner = map("inner", MapType::Array, 4, 8, 1);
    let mut outer = map("outer", MapType::ArrayOfMaps, 4, 4, 2);
    outer.inner_map = Some(Box::new(inner.clone()));
    let source = format!(
        "{}if r0 == 0 goto out\nr1 = r0\nr2 = r10\nr2 += -4\n*(u32 *)(r10 - 4) = 0\ncall 1\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 + 0)\nout:\nexit",
        with_key(1, 1)
    );
    let prog = engine.load(&mut rt, &program(&source, vec![outer, inner])).unwrap();
    let (outer_id, inner_id) = (rt.map_id("outer").unwrap(), rt.map_id("inner").unwrap());
    rt.map_mut(inner_id).unwrap().update(&0u32.to_ne_bytes(), &6u64.to_ne_bytes(), BPF_ANY).unwrap();
    let run = |rt: &mut Runtime| engine.run(rt, prog, &mut Context::raw(&[])).unwrap().exit;
    assert_eq!(run(&mut rt), Exit::Return(0), "an empty slot: NULL");
    rt.map_mut(outer_id).unwrap().update(&1u32.to_ne_bytes(), &inner_id.0.to_ne_bytes(), BPF_ANY).unwrap();
    assert_eq!(run(&mut rt), Exit::Return(6));
}

fn bloom_filter_membership(make: MakeEngine) {
    let mut spec = map("seen", MapType::BloomFilter, 0, 8, 64);
    spec.map_extra = 3;
    let mut b = Bench::new(make, spec, Config::default());
    let op = |helper: u32, v: u64| {
        format!("r1 = {v}\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\nr3 = 0\ncall {helper}")
    };
    assert_eq!(b.errno(&op(89, 42)), -2, "certainly absent");
    assert_eq!(b.errno(&op(87, 42)), 0);
    assert_eq!(b.errno(&op(89, 42)), 0, "maybe present");
}
