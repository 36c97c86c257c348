//! An object's BTF made loadable by the running kernel, as libbpf does
//! before `BPF_BTF_LOAD`: each BTF kind newer than some kernels is probed
//! (a tiny BTF holding just that kind is offered to the kernel) and, where
//! the kernel refuses it, rewritten into an older kind of the same encoded
//! size, so every type keeps its id and the func/line info and map type ids
//! that refer to the BTF stay valid.
//!
//! What it is not: the object-level fixups the kernel needs on every
//! version (data section sizes and variable offsets from the ELF, `.kconfig`
//! and `.ksyms` externs turned into allocated variables) are done when the
//! object is loaded ([`crate::Object::load`]); this module only adapts the
//! result to what one kernel knows.

use crate::btf::{
    Btf, BtfType, Composite, Enum, EnumValue, FUNC_GLOBAL, FUNC_STATIC, Int, Kind, Member, TypeId, VAR_GLOBAL_ALLOCATED,
};

use super::Bpf;
use super::btf::BtfLoadOptions;
use super::error::KernelError;

/// The BTF kinds and flags a kernel accepts, each newer than the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtfFeatures {
    /// `FUNC` and `FUNC_PROTO` (Linux 5.0).
    pub func: bool,
    /// `VAR` and `DATASEC` (5.2).
    pub datasec: bool,
    /// `FUNC` with global linkage (5.6).
    pub func_global: bool,
    /// `FLOAT` (5.13).
    pub float: bool,
    /// `DECL_TAG` (5.16).
    pub decl_tag: bool,
    /// `TYPE_TAG` (5.17).
    pub type_tag: bool,
    /// `ENUM64` (6.0).
    pub enum64: bool,
}

impl BtfFeatures {
    /// Every feature: a kernel of Linux 6.0 or later.
    pub const ALL: BtfFeatures = BtfFeatures {
        func: true,
        datasec: true,
        func_global: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    };

    /// None: BTF as Linux 4.18 took it (ints, pointers, arrays, structs,
    /// unions, enums, forward declarations, typedefs and modifiers).
    pub const NONE: BtfFeatures = BtfFeatures {
        func: false,
        datasec: false,
        func_global: false,
        float: false,
        decl_tag: false,
        type_tag: false,
        enum64: false,
    };

    /// Asks the kernel of `bpf`: one `BPF_BTF_LOAD` of a minimal BTF per
    /// feature. A refusal (EINVAL, E2BIG: a kind the kernel does not know)
    /// means the feature is missing; any other failure (no privileges, no
    /// bpf(2)) is an error.
    pub fn probe(bpf: &Bpf) -> Result<BtfFeatures, KernelError> {
        let accepts = |blob: Vec<u8>| match bpf.load_btf(&blob, &BtfLoadOptions::default()) {
            Ok(_) => Ok(true),
            Err(KernelError::BtfRejected { .. }) => Ok(false),
            Err(KernelError::Syscall(e)) if matches!(e.errno.0, libc::EINVAL | libc::E2BIG) => Ok(false),
            Err(e) => Err(e),
        };
        Ok(BtfFeatures {
            func: accepts(probe_func(FUNC_STATIC))?,
            datasec: accepts(probe_datasec())?,
            func_global: accepts(probe_func(FUNC_GLOBAL))?,
            float: accepts(probe_float())?,
            decl_tag: accepts(probe_decl_tag())?,
            type_tag: accepts(probe_type_tag())?,
            enum64: accepts(probe_enum64())?,
        })
    }
}

/// What [`sanitize`] rewrote: counts by the feature that was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sanitized {
    pub funcs: usize,
    pub datasecs: usize,
    pub global_funcs: usize,
    pub floats: usize,
    pub decl_tags: usize,
    pub type_tags: usize,
    pub enum64s: usize,
}

impl Sanitized {
    /// Whether nothing was rewritten.
    pub fn is_empty(&self) -> bool {
        *self == Sanitized::default()
    }
}

/// Rewrites every type of `btf` that `features` lacks, libbpf's way, each
/// into a kind of the same encoded size (so ids and offsets do not move):
/// `VAR` -> 1-byte `INT`, `DATASEC` -> `STRUCT` (dots in its name made
/// underscores), `FUNC_PROTO` -> `ENUM`, `FUNC` -> `TYPEDEF` (or a global
/// `FUNC` -> static), `FLOAT` -> an empty `STRUCT` of its size, `DECL_TAG`
/// -> unnamed 1-byte `INT`, `TYPE_TAG` -> `CONST`, `ENUM64` -> `UNION` of
/// 8-byte integers (one type appended for them).
pub fn sanitize(btf: &mut Btf, features: &BtfFeatures) -> Sanitized {
    let mut done = Sanitized::default();
    let byte = Kind::Int(Int { size: 1, encoding: 0, offset: 0, bits: 8 });
    let mut enum64_member: Option<TypeId> = None;
    let mut param_name: Option<u32> = None;
    let ids: Vec<TypeId> = btf.types().map(|(id, _)| id).collect();
    for id in ids {
        let kind = btf.kind(id).clone();
        let new = match kind {
            Kind::Var { .. } if !features.datasec => {
                done.datasecs += 1;
                byte.clone()
            }
            Kind::Datasec(sec) if !features.datasec => {
                done.datasecs += 1;
                let members = sec
                    .vars
                    .iter()
                    .map(|v| Member {
                        name_off: btf.get(v.ty).map_or(0, |t| t.name_off),
                        ty: v.ty,
                        bit_offset: v.offset.saturating_mul(8),
                        bitfield_size: 0,
                    })
                    .collect();
                let name = btf.name(id).replace('.', "_");
                let name_off = btf.add_string(&name);
                btf.set_name_off(id, name_off);
                Kind::Struct(Composite { size: sec.size, bitfields: false, members })
            }
            Kind::FuncProto(proto) if !features.func => {
                done.funcs += 1;
                // An enumerator needs a name; unnamed parameters share one.
                let mut unnamed = || *param_name.get_or_insert_with(|| btf.add_string("__param"));
                let values = proto
                    .params
                    .iter()
                    .map(|p| EnumValue {
                        name_off: if p.name_off == 0 { unnamed() } else { p.name_off },
                        value: u64::from(p.ty.0),
                    })
                    .collect();
                Kind::Enum(Enum { size: 4, signed: false, values })
            }
            Kind::Func { proto, .. } if !features.func => {
                done.funcs += 1;
                Kind::Typedef(proto)
            }
            Kind::Func { proto, linkage } if linkage == FUNC_GLOBAL && !features.func_global => {
                done.global_funcs += 1;
                Kind::Func { proto, linkage: FUNC_STATIC }
            }
            Kind::Float { size } if !features.float => {
                done.floats += 1;
                Kind::Struct(Composite { size, bitfields: false, members: Vec::new() })
            }
            Kind::DeclTag { .. } if !features.decl_tag => {
                done.decl_tags += 1;
                btf.set_name_off(id, 0);
                byte.clone()
            }
            Kind::TypeTag(ty) if !features.type_tag => {
                done.type_tags += 1;
                Kind::Const(ty)
            }
            Kind::Enum64(e) if !features.enum64 => {
                done.enum64s += 1;
                let member = *enum64_member.get_or_insert_with(|| {
                    let name_off = btf.add_string("enum64_placeholder");
                    let kind = Kind::Int(Int { size: 8, encoding: 0, offset: 0, bits: 64 });
                    btf.add_type(BtfType { name_off, kind })
                });
                let members = e.values.iter().map(|v| Member {
                    name_off: v.name_off,
                    ty: member,
                    bit_offset: 0,
                    bitfield_size: 0,
                });
                Kind::Union(Composite { size: e.size, bitfields: false, members: members.collect() })
            }
            _ => continue,
        };
        btf.set_kind(id, new);
    }
    done
}

/// A raw BTF blob of `types` (each already encoded) and `strings` (which
/// start with the empty name).
fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
    const HEADER_LEN: u32 = 24;
    let type_len = (types.len() * 4) as u32;
    let mut out = Vec::new();
    out.extend(0xeb9fu16.to_le_bytes());
    out.extend([1u8, 0]);
    for word in [HEADER_LEN, 0, type_len, type_len, strings.len() as u32] {
        out.extend(word.to_le_bytes());
    }
    for word in types {
        out.extend(word.to_le_bytes());
    }
    out.extend(strings);
    out
}

/// `info`: kind, vlen and kind_flag as BTF packs them.
const fn info(kind: u32, vlen: u32, kind_flag: bool) -> u32 {
    (kind << 24) | vlen | ((kind_flag as u32) << 31)
}

/// `[1] int` (4 bytes, signed, 32 bits) named at string offset 1.
const INT: [u32; 4] = [1, info(1, 0, false), 4, (1 << 24) | 32];

fn probe_func(linkage: u16) -> Vec<u8> {
    let mut types = INT.to_vec();
    // [2] FUNC_PROTO int (int x)  [3] FUNC f
    types.extend([0, info(13, 1, false), 1, 5, 1]);
    types.extend([7, info(12, u32::from(linkage), false), 2]);
    blob(&types, b"\0int\0x\0f\0")
}

fn probe_datasec() -> Vec<u8> {
    let mut types = INT.to_vec();
    // [2] VAR x int, global   [3] DATASEC .data: x at 0, 4 bytes
    types.extend([5, info(14, 0, false), 1, VAR_GLOBAL_ALLOCATED]);
    types.extend([7, info(15, 1, false), 4, 2, 0, 4]);
    blob(&types, b"\0int\0x\0.data\0")
}

fn probe_float() -> Vec<u8> {
    blob(&[1, info(16, 0, false), 4], b"\0float\0")
}

fn probe_decl_tag() -> Vec<u8> {
    let mut types = INT.to_vec();
    // [2] VAR x int   [3] DECL_TAG tag on x
    types.extend([5, info(14, 0, false), 1, VAR_GLOBAL_ALLOCATED]);
    types.extend([7, info(17, 0, false), 2, u32::MAX]);
    blob(&types, b"\0int\0x\0tag\0")
}

fn probe_type_tag() -> Vec<u8> {
    let mut types = INT.to_vec();
    // [2] TYPE_TAG tag -> int   [3] PTR -> [2]
    types.extend([5, info(18, 0, false), 1]);
    types.extend([0, info(2, 0, false), 2]);
    blob(&types, b"\0int\0tag\0")
}

fn probe_enum64() -> Vec<u8> {
    // [1] ENUM64 e (8 bytes): v = 1 << 40
    blob(&[1, info(19, 1, false), 8, 3, 0, 1 << 8], b"\0e\0v\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_parse_as_the_kind_they_probe() {
        let kinds = |b: Vec<u8>| -> Vec<&'static str> {
            Btf::parse(&b).unwrap().types().skip(1).map(|(_, t)| t.kind.name()).collect()
        };
        assert_eq!(kinds(probe_func(FUNC_GLOBAL)), ["INT", "FUNC_PROTO", "FUNC"]);
        assert_eq!(kinds(probe_datasec()), ["INT", "VAR", "DATASEC"]);
        assert_eq!(kinds(probe_float()), ["FLOAT"]);
        assert_eq!(kinds(probe_decl_tag()), ["INT", "VAR", "DECL_TAG"]);
        assert_eq!(kinds(probe_type_tag()), ["INT", "TYPE_TAG", "PTR"]);
        assert_eq!(kinds(probe_enum64()), ["ENUM64"]);
        let e = Btf::parse(&probe_enum64()).unwrap();
        assert_eq!(e.kind(TypeId(1)).enumerators()[0].value, 1 << 40);
    }

    #[test]
    fn sanitizing_keeps_every_id_and_the_encoded_size() {
        let mut types = probe_func(FUNC_GLOBAL);
        let original = Btf::parse(&types).unwrap();
        let mut btf = original.clone();
        let done = sanitize(&mut btf, &BtfFeatures { func: false, ..BtfFeatures::ALL });
        assert_eq!(done, Sanitized { funcs: 2, ..Sanitized::default() });
        assert_eq!(btf.len(), original.len());
        assert_eq!(*btf.kind(TypeId(3)), Kind::Typedef(TypeId(2)));
        assert!(matches!(btf.kind(TypeId(2)), Kind::Enum(e) if e.values[0].value == 1));
        types = btf.to_bytes();
        assert_eq!(types.len(), original.to_bytes().len());

        let mut all = BtfFeatures::ALL;
        let mut same = original.clone();
        assert!(sanitize(&mut same, &all).is_empty());
        assert_eq!(same, original);
        all.func_global = false;
        assert_eq!(sanitize(&mut same, &all).global_funcs, 1);
        assert_eq!(*same.kind(TypeId(3)), Kind::Func { proto: TypeId(2), linkage: FUNC_STATIC });
    }

    #[test]
    fn datasecs_become_structs_with_their_variables_as_members() {
        let mut btf = Btf::parse(&probe_datasec()).unwrap();
        sanitize(&mut btf, &BtfFeatures::NONE);
        assert_eq!(btf.name(TypeId(3)), "_data");
        let Kind::Struct(s) = btf.kind(TypeId(3)) else { panic!("{:?}", btf.kind(TypeId(3))) };
        assert_eq!((s.size, s.members.len()), (4, 1));
        assert_eq!((btf.str_at(s.members[0].name_off), s.members[0].ty), (Some("x"), TypeId(2)));
        assert!(matches!(btf.kind(TypeId(2)), Kind::Int(i) if i.size == 1));
    }

    #[test]
    fn enum64_becomes_a_union_of_an_appended_integer() {
        let mut btf = Btf::parse(&probe_enum64()).unwrap();
        assert_eq!(sanitize(&mut btf, &BtfFeatures::NONE).enum64s, 1);
        assert_eq!(btf.len(), 3, "void, the union, the placeholder");
        let Kind::Union(u) = btf.kind(TypeId(1)) else { panic!("{:?}", btf.kind(TypeId(1))) };
        assert_eq!((u.size, u.members[0].ty), (8, TypeId(2)));
        assert!(matches!(btf.kind(TypeId(2)), Kind::Int(i) if i.bits == 64));
    }
}
