//! The object's maps, in libbpf's order: legacy `maps` definitions (`struct
//! bpf_map_def`), BTF-defined maps of `.maps`, global data sections
//! (`.data*`, `.rodata*`, `.bss*`) and the `.kconfig` externs' map.
//!
//! Each map remembers where it is defined (section and offset), which is how
//! relocations name it.

use bpfx_isa::abi::MapType;
use bpfx_isa::{MapSpec, Pinning};
use goblin::elf::section_header::{SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS};

use crate::btf::{Btf, Kind, Member, TypeId, VAR_GLOBAL_ALLOCATED, VAR_STATIC};
use crate::error::LoadError;
use crate::object::{ElfSymbol, Parser, RelocKind, SymbolKind};

pub(crate) const LEGACY_MAPS_SECTION: &str = "maps";
pub(crate) const BTF_MAPS_SECTION: &str = ".maps";
pub(crate) const KCONFIG_SECTION: &str = ".kconfig";

/// `BPF_F_RDONLY_PROG`.
const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`.
const BPF_F_MMAPABLE: u32 = 1 << 10;
/// Kernel configuration values are words and short strings; a layout
/// larger than this comes from a corrupt object.
const MAX_KCONFIG_SIZE: u32 = 1 << 16;
/// `sizeof(struct bpf_map_def)`: type, key_size, value_size, max_entries,
/// map_flags.
const MAP_DEF_SIZE: usize = 20;

/// A map and where the object defines it.
#[derive(Debug, Clone)]
pub(crate) struct ObjMap {
    pub spec: MapSpec,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A definition in the legacy `maps` section or in `.maps`, at `offset`
    /// (the symbol's value), `size` bytes long.
    Definition { section: usize, offset: u64, size: u64 },
    /// A global data section, whole.
    Data { section: usize },
    /// The `.kconfig` externs.
    Kconfig,
}

/// What kind of global data a section holds, by libbpf's naming.
pub(crate) fn is_data_section(parser: &Parser<'_>, i: usize) -> bool {
    let header = parser.header(i);
    let name = parser.section_name(i);
    let named = |base: &str| name == base || name.strip_prefix(base).is_some_and(|rest| rest.starts_with('.'));
    match header.sh_type {
        SHT_PROGBITS if header.sh_flags & u64::from(SHF_EXECINSTR) == 0 => named(".data") || named(".rodata"),
        SHT_NOBITS => named(".bss"),
        _ => false,
    }
}

/// Collects the maps. `kconfig_size` is the size of the `.kconfig` externs'
/// layout (0 when there are none).
pub(crate) fn collect(
    parser: &Parser<'_>,
    symbols: &[ElfSymbol],
    btf: Option<&Btf>,
    kconfig_size: u32,
) -> Result<Vec<ObjMap>, LoadError> {
    let mut maps = Vec::new();
    if let Some(section) = parser.find_section(LEGACY_MAPS_SECTION) {
        legacy_maps(parser, section, symbols, &mut maps)?;
    }
    if let Some(section) = parser.find_section(BTF_MAPS_SECTION) {
        let btf = btf.ok_or_else(|| LoadError::BadMap {
            section: BTF_MAPS_SECTION.into(),
            name: String::new(),
            offset: 0,
            reason: "the object has a .maps section but no BTF to describe it".into(),
        })?;
        btf_maps(parser, section, btf, &mut maps)?;
    }
    for i in 1..parser.section_count() {
        if is_data_section(parser, i) && parser.header(i).sh_size > 0 {
            maps.push(data_map(parser, i, btf)?);
        }
    }
    if kconfig_size > MAX_KCONFIG_SIZE {
        return Err(LoadError::BadMap {
            section: KCONFIG_SECTION.into(),
            name: KCONFIG_SECTION.into(),
            offset: 0,
            reason: format!("the externs take {kconfig_size} bytes, more than the {MAX_KCONFIG_SIZE} bpfx allows"),
        });
    }
    if kconfig_size > 0 {
        let datasec = btf.and_then(|b| datasec_id(b, KCONFIG_SECTION));
        let spec = MapSpec {
            name: KCONFIG_SECTION.into(),
            map_type: MapType::Array,
            key_size: 4,
            value_size: kconfig_size,
            max_entries: 1,
            flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
            initial_data: Some(vec![0; kconfig_size as usize]),
            btf_value_type_id: datasec.map_or(0, |id| id.0),
            ..MapSpec::default()
        };
        maps.push(ObjMap { spec, origin: Origin::Kconfig });
    }
    for (i, map) in maps.iter().enumerate() {
        if maps[..i].iter().any(|m| m.spec.name == map.spec.name) {
            let section = match map.origin {
                Origin::Definition { section, .. } | Origin::Data { section } => parser.section_name(section),
                Origin::Kconfig => KCONFIG_SECTION,
            };
            return Err(LoadError::BadMap {
                section: section.into(),
                name: map.spec.name.clone(),
                offset: 0,
                reason: "another map has the same name".into(),
            });
        }
    }
    Ok(maps)
}

/// `struct bpf_map_def` records, equally sized, one per symbol.
fn legacy_maps(
    parser: &Parser<'_>,
    section: usize,
    symbols: &[ElfSymbol],
    maps: &mut Vec<ObjMap>,
) -> Result<(), LoadError> {
    let data = parser.data(section)?;
    let defs: Vec<&ElfSymbol> =
        symbols.iter().filter(|s| s.shndx == section && s.kind != SymbolKind::Section).collect();
    let bad = |name: &str, offset: u64, reason: String| LoadError::BadMap {
        section: LEGACY_MAPS_SECTION.into(),
        name: name.to_string(),
        offset,
        reason,
    };
    if defs.is_empty() {
        return Ok(());
    }
    if data.is_empty() || !data.len().is_multiple_of(defs.len()) {
        let reason = format!("{} bytes cannot hold {} equally sized map definitions", data.len(), defs.len());
        return Err(bad("", 0, reason));
    }
    let def_size = data.len() / defs.len();
    for sym in defs {
        let start =
            usize::try_from(sym.value).ok().filter(|&s| s.checked_add(def_size).is_some_and(|e| e <= data.len()));
        let start = start.ok_or_else(|| {
            bad(&sym.name, sym.value, format!("a {def_size}-byte definition here lies past the section's end"))
        })?;
        let def = &data[start..start + def_size];
        if def.len() > MAP_DEF_SIZE && def[MAP_DEF_SIZE..].iter().any(|&b| b != 0) {
            let reason = "has non-zero fields past struct bpf_map_def's five, which bpfx does not know".into();
            return Err(bad(&sym.name, sym.value, reason));
        }
        let field = |i: usize| {
            let mut word = [0u8; 4];
            for (k, b) in word.iter_mut().enumerate() {
                *b = def.get(i * 4 + k).copied().unwrap_or(0);
            }
            u32::from_le_bytes(word)
        };
        let map_type = MapType::from_value(field(0))
            .filter(|t| *t != MapType::Unspec)
            .ok_or_else(|| bad(&sym.name, sym.value, format!("unknown map type {}", field(0))))?;
        let spec = MapSpec {
            name: sym.name.clone(),
            map_type,
            key_size: field(1),
            value_size: field(2),
            max_entries: field(3),
            flags: field(4),
            ..MapSpec::default()
        };
        maps.push(ObjMap { spec, origin: Origin::Definition { section, offset: sym.value, size: def_size as u64 } });
    }
    Ok(())
}

/// The variables of the `.maps` DATASEC, each a struct of `__uint`,
/// `__type` and `__array` members.
fn btf_maps(parser: &Parser<'_>, section: usize, btf: &Btf, maps: &mut Vec<ObjMap>) -> Result<(), LoadError> {
    let Some(datasec) = datasec_id(btf, BTF_MAPS_SECTION) else {
        return Err(LoadError::BadMap {
            section: BTF_MAPS_SECTION.into(),
            name: String::new(),
            offset: 0,
            reason: "the object's BTF has no DATASEC for .maps".into(),
        });
    };
    let Kind::Datasec(sec) = btf.kind(datasec) else { unreachable_datasec() };
    let size = parser.header(section).sh_size;
    for var in &sec.vars {
        let name = btf.name(var.ty).to_string();
        let bad = |reason: String| LoadError::BadMap {
            section: BTF_MAPS_SECTION.into(),
            name: name.clone(),
            offset: u64::from(var.offset),
            reason,
        };
        let Kind::Var { ty, linkage } = *btf.kind(var.ty) else {
            return Err(bad(format!("DATASEC entry {} is a {}, not a VAR", var.ty, btf.kind(var.ty).name())));
        };
        if linkage != VAR_GLOBAL_ALLOCATED && linkage != VAR_STATIC {
            return Err(bad(format!("unsupported linkage {linkage}")));
        }
        if u64::from(var.offset) + u64::from(var.size) > size {
            return Err(bad(format!("its {} bytes lie past the end of the section ({size:#x} bytes)", var.size)));
        }
        let def = btf.skip_mods_and_typedefs(ty);
        let spec = map_def(btf, &name, def, true).map_err(bad)?;
        let origin = Origin::Definition { section, offset: u64::from(var.offset), size: u64::from(var.size) };
        maps.push(ObjMap { spec, origin });
    }
    Ok(())
}

fn unreachable_datasec() -> ! {
    unreachable!("datasec_id returns DATASEC types only")
}

/// A map definition struct (libbpf's `parse_btf_map_def`, strict).
/// `outer` is false for the inner map of a map-in-map.
fn map_def(btf: &Btf, name: &str, def: TypeId, outer: bool) -> Result<MapSpec, String> {
    let Kind::Struct(def_struct) = btf.kind(def) else {
        return Err(format!("its definition is a {}, not a struct", btf.kind(def).name()));
    };
    let mut spec = MapSpec { name: name.to_string(), ..MapSpec::default() };
    let mut map_type = None;
    let members = &def_struct.members;
    for (i, m) in members.iter().enumerate() {
        let field = btf.str_at(m.name_off).unwrap_or("");
        let conflict = |what: &str, old: u32, new: u64| format!("conflicting {what} {old} != {new}");
        match field {
            "type" => {
                let value = field_int(btf, m, field)?;
                map_type = Some(MapType::from_value(value).ok_or_else(|| format!("unknown map type {value}"))?);
            }
            "max_entries" => spec.max_entries = field_int(btf, m, field)?,
            "map_flags" => spec.flags = field_int(btf, m, field)?,
            "numa_node" => spec.numa_node = Some(field_int(btf, m, field)?),
            "key_size" => {
                let size = field_int(btf, m, field)?;
                if spec.key_size != 0 && spec.key_size != size {
                    return Err(conflict("key size", spec.key_size, u64::from(size)));
                }
                spec.key_size = size;
            }
            "value_size" => {
                let size = field_int(btf, m, field)?;
                if spec.value_size != 0 && spec.value_size != size {
                    return Err(conflict("value size", spec.value_size, u64::from(size)));
                }
                spec.value_size = size;
            }
            "key" | "value" => {
                let Kind::Ptr(target) = *btf.kind(m.ty) else {
                    return Err(format!("{field} is a {}, not a pointer", btf.kind(m.ty).name()));
                };
                let size = btf.resolve_size(target).ok_or_else(|| format!("{field} type {target} has no size"))?;
                let (old, id) = if field == "key" {
                    (&mut spec.key_size, &mut spec.btf_key_type_id)
                } else {
                    (&mut spec.value_size, &mut spec.btf_value_type_id)
                };
                if *old != 0 && u64::from(*old) != size {
                    return Err(conflict(&format!("{field} size"), *old, size));
                }
                *old = size as u32;
                *id = target.0;
            }
            "values" => {
                let map_type = map_type.unwrap_or(MapType::Unspec);
                if !outer {
                    return Err("multi-level inner maps are not supported".into());
                }
                if i != members.len() - 1 {
                    return Err("values must be the last member".into());
                }
                let map_in_map = matches!(map_type, MapType::ArrayOfMaps | MapType::HashOfMaps);
                if !map_in_map && map_type != MapType::ProgArray {
                    return Err("values are for a map-in-map or a program array".into());
                }
                if spec.value_size != 0 && spec.value_size != 4 {
                    return Err(conflict("value size", spec.value_size, 4));
                }
                spec.value_size = 4;
                let Kind::Array(array) = *btf.kind(m.ty) else {
                    return Err("values is not a zero-sized array".into());
                };
                if array.nelems != 0 {
                    return Err("values is not a zero-sized array".into());
                }
                let Kind::Ptr(inner) = *btf.kind(btf.skip_mods_and_typedefs(array.elem)) else {
                    return Err("values' elements are not pointers".into());
                };
                let inner = btf.skip_mods_and_typedefs(inner);
                if map_in_map {
                    spec.inner_map = Some(Box::new(map_def(btf, &format!("{name}.inner"), inner, false)?));
                } else if !matches!(btf.kind(inner), Kind::FuncProto(_)) {
                    return Err("a program array's values must point to functions".into());
                }
            }
            "pinning" => {
                if !outer {
                    return Err("an inner map cannot be pinned".into());
                }
                spec.pinning = match field_int(btf, m, field)? {
                    0 => Pinning::None,
                    1 => Pinning::ByName,
                    other => return Err(format!("invalid pinning value {other}")),
                };
            }
            "map_extra" => spec.map_extra = field_long(btf, m, field)?,
            other => return Err(format!("unknown field {other:?}")),
        }
    }
    spec.map_type = match map_type {
        Some(t) if t != MapType::Unspec => t,
        _ => return Err("the map type is not specified".into()),
    };
    // Types whose keys and values the kernel will not describe by BTF:
    // libbpf drops their type ids (`bpf_object__create_map`).
    if matches!(
        spec.map_type,
        MapType::PerfEventArray
            | MapType::CgroupArray
            | MapType::StackTrace
            | MapType::ArrayOfMaps
            | MapType::HashOfMaps
            | MapType::Devmap
            | MapType::DevmapHash
            | MapType::Cpumap
            | MapType::Xskmap
            | MapType::Sockmap
            | MapType::Sockhash
            | MapType::Queue
            | MapType::Stack
            | MapType::Arena
    ) {
        spec.btf_key_type_id = 0;
        spec.btf_value_type_id = 0;
    }
    Ok(spec)
}

/// `__uint(name, value)`: a pointer to an array of `value` elements.
fn field_int(btf: &Btf, m: &Member, field: &str) -> Result<u32, String> {
    let Kind::Ptr(target) = *btf.kind(btf.skip_mods_and_typedefs(m.ty)) else {
        return Err(format!("{field} is not a pointer (__uint)"));
    };
    match btf.kind(target) {
        Kind::Array(a) => Ok(a.nelems),
        other => Err(format!("{field} points to a {}, not an array (__uint)", other.name())),
    }
}

/// `__ulong(name, value)`: an enum with one enumerator, or a `__uint`.
fn field_long(btf: &Btf, m: &Member, field: &str) -> Result<u64, String> {
    match btf.kind(btf.skip_mods_and_typedefs(m.ty)) {
        Kind::Ptr(_) => field_int(btf, m, field).map(u64::from),
        Kind::Enum(e) | Kind::Enum64(e) if e.values.len() == 1 => Ok(e.values[0].value),
        Kind::Enum(_) | Kind::Enum64(_) => Err(format!("{field} is an enum with other than one value")),
        other => Err(format!("{field} is a {}, neither a pointer nor an enum", other.name())),
    }
}

/// A global data section as a one-element array whose value is the
/// section's contents (none for `.bss`: zeros, as a new map holds).
fn data_map(parser: &Parser<'_>, i: usize, btf: Option<&Btf>) -> Result<ObjMap, LoadError> {
    let name = parser.section_name(i);
    let header = parser.header(i);
    let contents = match header.sh_type {
        SHT_NOBITS => None,
        _ => Some(parser.data(i)?.to_vec()),
    };
    let size = u32::try_from(header.sh_size).map_err(|_| LoadError::BadMap {
        section: name.into(),
        name: name.into(),
        offset: 0,
        reason: format!("{} bytes do not fit a map value", header.sh_size),
    })?;
    let read_only = name == ".rodata" || name.starts_with(".rodata.");
    let datasec = btf.and_then(|b| datasec_id(b, name));
    let mmapable = datasec.zip(btf).is_some_and(|(id, btf)| match btf.kind(id) {
        Kind::Datasec(d) => {
            d.vars.iter().any(|v| matches!(btf.kind(v.ty), Kind::Var { linkage, .. } if *linkage != VAR_STATIC))
        }
        _ => false,
    });
    let spec = MapSpec {
        name: name.into(),
        map_type: MapType::Array,
        key_size: 4,
        value_size: size,
        max_entries: 1,
        flags: if read_only { BPF_F_RDONLY_PROG } else { 0 } | if mmapable { BPF_F_MMAPABLE } else { 0 },
        initial_data: contents,
        btf_value_type_id: datasec.map_or(0, |id| id.0),
        ..MapSpec::default()
    };
    Ok(ObjMap { spec, origin: Origin::Data { section: i } })
}

/// The DATASEC named `name`.
pub(crate) fn datasec_id(btf: &Btf, name: &str) -> Option<TypeId> {
    btf.types().find(|(id, t)| matches!(t.kind, Kind::Datasec(_)) && btf.name(*id) == name).map(|(id, _)| id)
}

/// Applies `.rel.maps`: `values = { [i] = &x }` entries of map-in-maps and
/// program arrays become [`MapSpec::initial_slots`]. `programs` are the
/// entry-point functions by section and offset.
pub(crate) fn initial_slots(
    parser: &Parser<'_>,
    symbols: &[ElfSymbol],
    btf: Option<&Btf>,
    maps: &mut [ObjMap],
    is_program: impl Fn(usize, u64) -> bool,
) -> Result<(), LoadError> {
    let Some(section) = parser.find_section(BTF_MAPS_SECTION) else { return Ok(()) };
    let relocations = parser.raw_relocations(section)?;
    let bad = |index: usize, offset: u64, symbol: &str, reason: String| LoadError::BadRelocation {
        section: BTF_MAPS_SECTION.into(),
        index,
        offset,
        symbol: symbol.to_string(),
        reason,
    };
    for r in relocations {
        let sym = symbols.iter().find(|s| s.index == r.symbol);
        let sym_name = sym.map_or("", |s| s.name.as_str());
        if !matches!(r.kind, RelocKind::Abs64 | RelocKind::Bpf64_64) {
            let reason = format!("{} does not initialise a map slot", r.kind);
            return Err(bad(r.index, r.offset, sym_name, reason));
        }
        let sym = sym.ok_or_else(|| bad(r.index, r.offset, "", format!("no symbol {}", r.symbol)))?;
        let holder = maps.iter().position(|m| match m.origin {
            Origin::Definition { section: s, offset, size } => {
                s == section && offset <= r.offset && r.offset + 8 <= offset + size
            }
            _ => false,
        });
        let holder = holder.ok_or_else(|| bad(r.index, r.offset, sym_name, "no map is defined there".into()))?;
        let Origin::Definition { offset: map_offset, .. } = maps[holder].origin else { unreachable!("found above") };
        let spec = &maps[holder].spec;
        let map_in_map = matches!(spec.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps);
        if map_in_map {
            if sym.shndx != section {
                return Err(bad(r.index, r.offset, sym_name, "is not a BTF-defined map".into()));
            }
            if spec.map_type == MapType::HashOfMaps && spec.key_size != 4 {
                return Err(bad(r.index, r.offset, sym_name, "a hash of maps with values needs 4-byte keys".into()));
            }
        } else if spec.map_type == MapType::ProgArray {
            if !is_program(sym.shndx, sym.value) {
                return Err(bad(r.index, r.offset, sym_name, "is not an entry-point program".into()));
            }
        } else {
            return Err(bad(
                r.index,
                r.offset,
                sym_name,
                format!("map {} is not a map-in-map or program array", spec.name),
            ));
        }
        let values_at = btf
            .and_then(|btf| values_offset(btf, &spec.name))
            .ok_or_else(|| bad(r.index, r.offset, sym_name, format!("map {} has no values member", spec.name)))?;
        let rel = r.offset - map_offset;
        if rel < values_at || !(rel - values_at).is_multiple_of(8) {
            return Err(bad(r.index, r.offset, sym_name, "is not on a slot of values".into()));
        }
        let slot = u32::try_from((rel - values_at) / 8)
            .map_err(|_| bad(r.index, r.offset, sym_name, "slot index overflows".into()))?;
        maps[holder].spec.initial_slots.push((slot, sym.name.clone()));
    }
    for map in maps.iter_mut() {
        map.spec.initial_slots.sort();
    }
    Ok(())
}

/// The byte offset of the `values` member in the definition of map `name`.
fn values_offset(btf: &Btf, name: &str) -> Option<u64> {
    let datasec = datasec_id(btf, BTF_MAPS_SECTION)?;
    let Kind::Datasec(sec) = btf.kind(datasec) else { return None };
    let var = sec.vars.iter().find(|v| btf.name(v.ty) == name)?;
    let Kind::Var { ty, .. } = *btf.kind(var.ty) else { return None };
    let members = btf.kind(btf.skip_mods_and_typedefs(ty)).members();
    let last = members.last().filter(|m| btf.str_at(m.name_off) == Some("values"))?;
    Some(u64::from(last.bit_offset / 8))
}
