//! The kernel's maps read in the shape bpfx reports its own
//! ([`MapContents`]), and the two compared entry by entry.
//!
//! Per-CPU values cannot be compared CPU by CPU: bpfx runs every packet on
//! CPU 0, the kernel on whichever CPU the calling thread was on. They are
//! compared as their sums over the CPUs, word by word (8-byte little-endian
//! words, a shorter tail as one smaller word): a counter's total.

use std::collections::{BTreeMap, BTreeSet};

use bpfx_isa::abi::MapType;
use bpfx_loader::kernel::{KernelError, Map, MapEntry, possible_cpus};
use bpfx_runtime::replay::{MapContents, MapValue, holds_data, is_per_cpu};

/// Whether user space can list a map of this type without changing it:
/// a queue or stack gives up its elements only by popping them, and a
/// bloom filter answers membership questions only.
pub fn listable(map_type: MapType) -> bool {
    holds_data(map_type) && !matches!(map_type, MapType::Queue | MapType::Stack | MapType::BloomFilter)
}

/// The kernel maps' entries whose values are not all zeros, in the order
/// of `maps`; maps with none, and maps that are not [`listable`], are left
/// out — as [`bpfx_runtime::replay::map_contents`] leaves out maps that
/// hold no data.
pub fn kernel_map_contents(maps: &[Map]) -> Result<Vec<MapContents>, KernelError> {
    let mut all = Vec::new();
    for map in maps {
        let spec = map.spec();
        if !listable(spec.map_type) {
            continue;
        }
        let per_cpu = is_per_cpu(spec.map_type);
        let cpus = if per_cpu { possible_cpus()? as usize } else { 1 };
        let size = spec.value_size as usize;
        let mut entries = Vec::new();
        for MapEntry { key, value } in map.dump()? {
            if value.iter().all(|&b| b == 0) {
                continue;
            }
            let value = if per_cpu {
                let stride = size.div_ceil(8) * 8;
                MapValue::PerCpu(value.chunks(stride).take(cpus).map(|c| c[..size.min(c.len())].to_vec()).collect())
            } else {
                MapValue::Single(value)
            };
            entries.push((key, value));
        }
        if !entries.is_empty() {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            all.push(MapContents { name: spec.name.clone(), entries });
        }
    }
    Ok(all)
}

/// One key whose value differs: `None` is an absent or all-zero entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDifference {
    pub map: String,
    pub key: Vec<u8>,
    pub bpfx: Option<Vec<u8>>,
    pub kernel: Option<Vec<u8>>,
    /// Whether the values are sums over CPUs.
    pub summed: bool,
}

/// bpfx's maps beside the kernel's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapComparison {
    /// The kernel's contents, as [`kernel_map_contents`] reads them.
    pub kernel: Vec<MapContents>,
    pub differences: Vec<MapDifference>,
    /// Maps the kernel cannot list (queues, stacks, bloom filters), left
    /// out of the comparison.
    pub not_compared: Vec<String>,
}

/// Reads the kernel's `maps` and compares them with bpfx's contents.
pub fn compare_with_kernel(ours: &[MapContents], maps: &[Map]) -> Result<MapComparison, KernelError> {
    let kernel = kernel_map_contents(maps)?;
    let not_compared: Vec<String> = maps
        .iter()
        .filter(|m| holds_data(m.spec().map_type) && !listable(m.spec().map_type))
        .map(|m| m.spec().name.clone())
        .collect();
    let ours: Vec<MapContents> = ours.iter().filter(|m| !not_compared.contains(&m.name)).cloned().collect();
    let differences = compare_maps(&ours, &kernel);
    Ok(MapComparison { kernel, differences, not_compared })
}

/// Every entry where bpfx's maps and the kernel's differ, by map name then
/// key.
pub fn compare_maps(bpfx: &[MapContents], kernel: &[MapContents]) -> Vec<MapDifference> {
    let (ours, theirs) = (by_name(bpfx), by_name(kernel));
    let names: BTreeSet<&String> = ours.keys().chain(theirs.keys()).copied().collect();
    let mut out = Vec::new();
    for name in names {
        let empty = BTreeMap::new();
        let a = ours.get(name).unwrap_or(&empty);
        let b = theirs.get(name).unwrap_or(&empty);
        let keys: BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let (x, y) = (a.get(key), b.get(key));
            let value = |v: Option<&(Vec<u8>, bool)>| v.map(|(v, _)| v.clone()).filter(|v| v.iter().any(|&b| b != 0));
            let (vx, vy) = (value(x), value(y));
            if vx != vy {
                let summed = x.or(y).is_some_and(|(_, summed)| *summed);
                out.push(MapDifference { map: name.clone(), key: key.clone(), bpfx: vx, kernel: vy, summed });
            }
        }
    }
    out
}

type Entries = BTreeMap<Vec<u8>, (Vec<u8>, bool)>;

fn by_name(maps: &[MapContents]) -> BTreeMap<&String, Entries> {
    maps.iter()
        .map(|m| {
            let entries = m
                .entries
                .iter()
                .map(|(k, v)| match v {
                    MapValue::Single(v) => (k.clone(), (v.clone(), false)),
                    MapValue::PerCpu(vs) => (k.clone(), (sum_over_cpus(vs), true)),
                })
                .collect();
            (&m.name, entries)
        })
        .collect()
}

/// The word-by-word wrapping sum of per-CPU values.
fn sum_over_cpus(values: &[Vec<u8>]) -> Vec<u8> {
    let len = values.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    for start in (0..len).step_by(8) {
        let end = (start + 8).min(len);
        let word = |v: &Vec<u8>| {
            let mut bytes = [0u8; 8];
            let have = v.get(start..end.min(v.len())).unwrap_or_default();
            bytes[..have.len()].copy_from_slice(have);
            u64::from_le_bytes(bytes)
        };
        let sum = values.iter().map(word).fold(0u64, u64::wrapping_add);
        out[start..end].copy_from_slice(&sum.to_le_bytes()[..end - start]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(name: &str, entries: Vec<(Vec<u8>, MapValue)>) -> MapContents {
        MapContents { name: name.into(), entries }
    }

    #[test]
    fn per_cpu_values_are_compared_as_their_sums() {
        let lane = |n: u8| vec![n, 0, 0, 0, 0, 0, 0, 0];
        let ours = [contents("counts", vec![(vec![1], MapValue::PerCpu(vec![lane(3), lane(0)]))])];
        // 3 + 0 against 1 + 2: the same total, whichever CPUs ran them.
        let theirs = [contents("counts", vec![(vec![1], MapValue::PerCpu(vec![lane(1), lane(2)]))])];
        assert_eq!(compare_maps(&ours, &theirs), []);
        let more = [contents("counts", vec![(vec![1], MapValue::PerCpu(vec![lane(4)]))])];
        let diff = compare_maps(&ours, &more);
        assert_eq!((diff.len(), diff[0].summed, diff[0].bpfx.clone()), (1, true, Some(lane(3))));
    }

    #[test]
    fn words_are_summed_with_a_short_tail_as_its_own_word() {
        let a = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 1];
        let b = vec![1, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(sum_over_cpus(&[a, b]), [0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn a_missing_entry_or_map_is_a_difference_with_none_on_its_side() {
        let ours = [contents("a", vec![(vec![0], MapValue::Single(vec![1])), (vec![1], MapValue::Single(vec![2]))])];
        let theirs = [contents("a", vec![(vec![1], MapValue::Single(vec![2]))]), contents("b", vec![])];
        let want = MapDifference { map: "a".into(), key: vec![0], bpfx: Some(vec![1]), kernel: None, summed: false };
        assert_eq!(compare_maps(&ours, &theirs), [want]);
        let only_kernel = [contents("c", vec![(vec![9], MapValue::Single(vec![0, 1]))])];
        let diff = compare_maps(&[], &only_kernel);
        assert_eq!((diff[0].map.as_str(), diff[0].bpfx.clone(), diff[0].kernel.clone()), ("c", None, Some(vec![0, 1])));
    }

    #[test]
    fn zero_values_equal_absent_entries() {
        let ours = [contents("a", vec![(vec![0], MapValue::Single(vec![0, 0]))])];
        assert_eq!(compare_maps(&ours, &[]), []);
    }
}
