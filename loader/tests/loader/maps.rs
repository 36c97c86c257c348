//! Map definitions: BTF-defined maps of every type as libbpf creates them,
//! legacy `struct bpf_map_def` maps, and definitions bpfx cannot
//! understand.

use bpfx_isa::abi::MapType;
use bpfx_isa::{MapSpec, Pinning};
use bpfx_loader::{LoadError, LoadOptions, Object};
use serde_json::Value;

use crate::libbpf::Libbpf;

const BPF_F_RDONLY_PROG: u32 = 1 << 7;
use crate::{Interp, compile, load, object_path};

/// Every map of `btf_maps.c` has the type, sizes, entries and flags of the
/// map libbpf creates for it in the running kernel.
#[test]
fn btf_maps_of_every_type_are_defined_as_libbpf_defines_them() {
    let object = load("btf_maps");
    let libbpf = Libbpf::load(&object_path("btf_maps"));
    let theirs = libbpf.maps();
    let mut types: Vec<MapType> = Vec::new();
    for spec in object.maps().iter().filter(|m| !m.name.starts_with('.')) {
        let (_, map) =
            theirs.iter().find(|(pin, _)| *pin == spec.name).unwrap_or_else(|| panic!("libbpf has no {}", spec.name));
        let their_type = match &map["type"] {
            Value::String(name) => MapType::from_name(name),
            Value::Number(n) => MapType::from_value(n.as_u64().unwrap() as u32),
            other => panic!("{other}"),
        };
        assert_eq!(Some(spec.map_type), their_type, "{}", spec.name);
        // The kernel makes device maps read-only to programs itself
        // (`dev_map_alloc`).
        let kernel_flags = match spec.map_type {
            MapType::Devmap | MapType::DevmapHash => BPF_F_RDONLY_PROG,
            _ => 0,
        };
        let fields = [
            ("bytes_key", spec.key_size),
            ("bytes_value", spec.value_size),
            ("max_entries", spec.max_entries),
            ("flags", spec.flags | kernel_flags),
        ];
        for (field, ours) in fields {
            assert_eq!(map[field].as_u64(), Some(u64::from(ours)), "{} {field}", spec.name);
        }
        types.push(spec.map_type);
    }
    types.sort();
    types.dedup();
    let missing: Vec<MapType> =
        MapType::ALL.iter().copied().filter(|t| !types.contains(t) && *t != MapType::Unspec).collect();
    assert_eq!(missing, [MapType::StructOps], "every map type but struct_ops");
}

#[test]
fn btf_map_attributes_inner_maps_and_initial_slots() {
    let object = load("btf_maps");
    let map = |name: &str| object.maps().iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name}"));
    let btf = object.btf().unwrap();
    let hash = map("m_hash");
    assert_eq!((btf.name(bpfx_loader::btf::TypeId(hash.btf_key_type_id)), hash.key_size), ("__u32", 4));
    assert_eq!(map("m_bloom_filter").map_extra, 3);
    assert_eq!(map("m_lpm_trie").flags, 1, "BPF_F_NO_PREALLOC");
    let outer = map("m_array_of_maps");
    let inner = outer.inner_map.as_deref().expect("an inner map definition");
    assert_eq!((inner.name.as_str(), inner.map_type, inner.max_entries), ("m_array_of_maps.inner", MapType::Array, 1));
    assert_eq!(outer.initial_slots, [(0, "m_inner_a".to_string()), (1, "m_inner_b".to_string())]);
    let hash_of_maps = map("m_hash_of_maps").inner_map.as_deref().unwrap();
    assert_eq!((hash_of_maps.map_type, hash_of_maps.value_size), (MapType::Hash, 4));
    assert_eq!(map("m_jump").initial_slots, [(1, "xdp_tail".to_string())]);
    assert!(map("m_prog_array").initial_slots.is_empty());
    // A program carries only the maps it uses, and the inner maps their
    // outer maps start with, in the object's order (the order of `.maps`,
    // then global data).
    let program = object.program("xdp_maps_all").unwrap();
    let used: Vec<&str> = program.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        used,
        [
            "m_inner_a",
            "m_inner_b",
            "m_array_of_maps",
            "m_jump",
            "m_hash",
            "m_array",
            "m_lru_hash",
            "m_lpm_trie",
            "m_queue",
            "m_stack",
            "m_bloom_filter",
            "m_ringbuf",
            "m_hash_of_maps",
            "m_percpu_array",
            ".bss"
        ]
    );
    assert!(object.program("xdp_tail").unwrap().maps.is_empty());
}

/// The program using the maps bpfx runs gives, on the interpreter, what
/// libbpf's load gives in the kernel; the initial slots of the program
/// array and the array of maps are set as libbpf sets them.
#[test]
fn map_operations_run_as_in_the_kernel() {
    let object = load("btf_maps");
    let mut interp = Interp::default();
    let tail = interp.load(object.program("xdp_tail").unwrap());
    interp.load(object.program("xdp_maps_all").unwrap());
    for (outer, slots) in object.maps().iter().map(|m| (m, &m.initial_slots)) {
        for (slot, name) in slots {
            let value = match outer.map_type {
                MapType::ProgArray if name == "xdp_tail" => tail.0,
                _ => interp.rt.map_id(name).unwrap_or_else(|| panic!("no map {name}")).0,
            };
            interp.update(&outer.name, &slot.to_le_bytes(), &value.to_le_bytes());
        }
    }
    let libbpf = Libbpf::load(&object_path("btf_maps"));
    let ours = interp.run("xdp_maps_all");
    assert_eq!(ours, 2047, "every operation worked");
    assert_eq!(u64::from(libbpf.run("xdp_maps_all")), ours);
    assert_eq!(interp.lookup("m_inner_b", &[0; 4]), 11u64.to_le_bytes(), "written through the array of maps");
    assert_eq!(libbpf.lookup("m_inner_b", &[0; 4]), 11u64.to_le_bytes());
    interp.update(".bss", &[0; 4], &1u32.to_le_bytes());
    libbpf.update("btf_maps_bss", &[0; 4], &1u32.to_le_bytes());
    assert_eq!((interp.run("xdp_maps_all"), libbpf.run("xdp_maps_all")), (40, 40), "the tail call");
}

/// Legacy `maps` definitions (which libbpf 1.x no longer reads, so their
/// expected values come from the C source) next to a BTF map with pinning
/// and a NUMA node.
#[test]
fn legacy_map_definitions_load_and_run() {
    let object = load("legacy_maps");
    let spec = |name: &str, map_type, key_size, value_size, max_entries, flags| MapSpec {
        name: name.into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        flags,
        ..MapSpec::default()
    };
    let maps = object.maps();
    assert_eq!(maps[0], spec("legacy_counts", MapType::Array, 4, 8, 4, 0));
    assert_eq!(maps[1], spec("legacy_lengths", MapType::Hash, 4, 4, 16, 1));
    let pinned = &maps[2];
    assert_eq!(
        (pinned.name.as_str(), pinned.pinning, pinned.numa_node, pinned.flags),
        ("pinned_totals", Pinning::ByName, Some(0), 4)
    );
    let mut interp = Interp::default();
    interp.load(object.program("legacy").unwrap());
    for (proto, len) in [(1u32, 100u32), (1, 50), (2, 7)] {
        let mut input = proto.to_le_bytes().to_vec();
        input.extend(len.to_le_bytes());
        interp.update(".bss", &[0; 4], &input);
        assert_eq!(interp.run("legacy"), 0);
    }
    assert_eq!(interp.lookup("legacy_counts", &1u32.to_le_bytes()), 2u64.to_le_bytes());
    assert_eq!(interp.lookup("legacy_lengths", &1u32.to_le_bytes()), 50u32.to_le_bytes());
    assert_eq!(interp.lookup("pinned_totals", &1u32.to_le_bytes()), 150u64.to_le_bytes());
    assert_eq!(interp.lookup("pinned_totals", &2u32.to_le_bytes()), 7u64.to_le_bytes());
}

fn map_error(source: &str) -> (String, String, String) {
    let bytes = compile("bad_map", source);
    match Object::load(&bytes, &LoadOptions::as_compiled()) {
        Err(e @ LoadError::BadMap { .. }) => {
            let LoadError::BadMap { section, name, reason, .. } = &e else { unreachable!() };
            assert!(e.to_string().starts_with(&format!("section {section}: map {name} at ")), "{e}");
            (section.clone(), name.clone(), reason.clone())
        }
        other => panic!("{source}: {other:?}"),
    }
}

/// Definitions bpfx cannot understand are refused, naming the section, the
/// map and why (libbpf refuses the same ones).
#[test]
fn map_definitions_bpfx_cannot_understand_are_refused() {
    let btf = |body: &str| {
        format!("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nstruct {{ {body} }} bad SEC(\".maps\");\n")
    };
    let cases = [
        ("__uint(type, BPF_MAP_TYPE_HASH); __uint(colour, 3);", "unknown field \"colour\""),
        ("__uint(max_entries, 3);", "the map type is not specified"),
        ("__uint(type, 99);", "unknown map type 99"),
        ("__uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 4); __type(key, __u64);", "conflicting key size 4 != 8"),
        ("__uint(type, BPF_MAP_TYPE_HASH); __uint(pinning, 7);", "invalid pinning value 7"),
        ("__uint(type, BPF_MAP_TYPE_HASH); int type2;", "unknown field \"type2\""),
        (
            "__uint(type, BPF_MAP_TYPE_HASH); __array(values, struct { __uint(type, 1); });",
            "values are for a map-in-map or a program array",
        ),
        ("int *type;", "type points to a INT, not an array (__uint)"),
    ];
    for (body, reason) in cases {
        let (section, name, got) = map_error(&btf(body));
        assert_eq!((section.as_str(), name.as_str(), got.as_str()), (".maps", "bad", reason), "{body}");
    }
    let legacy = "struct def { unsigned int t, k, v, m, f, extra; };\nstruct def a __attribute__((section(\"maps\"), used)) = { 1, 4, 4, 1, 0, 9 };\n";
    let (section, name, reason) = map_error(legacy);
    assert_eq!((section.as_str(), name.as_str()), ("maps", "a"));
    assert!(reason.contains("non-zero fields past struct bpf_map_def"), "{reason}");
    let unknown = "struct def { unsigned int t, k, v, m, f; };\nstruct def a __attribute__((section(\"maps\"), used)) = { 77, 4, 4, 1, 0 };\n";
    assert_eq!(map_error(unknown).2, "unknown map type 77");
}
