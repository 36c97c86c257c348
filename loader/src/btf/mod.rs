//! BTF, the BPF Type Format: the `.BTF` section of an object (its types,
//! the source lines and function names `.BTF.ext` points into) and the
//! kernel's own (`/sys/kernel/btf/vmlinux`), against which CO-RE relocations
//! are resolved.
//!
//! [`Btf::parse`] reads every kind of Linux 6.12 (`INT` to `ENUM64`,
//! `DECL_TAG` and `TYPE_TAG` included) and checks what later steps rely on —
//! every type reference names a type, every name offset a string — so that
//! the accessors below never fail on a parsed blob. [`Btf::to_bytes`] writes
//! the same layout back (what `BPF_BTF_LOAD` takes).

mod ext;

use std::fmt;

pub use ext::{BtfExt, CoreRelo, CoreReloKind, ExtSection, FuncInfoRec, LineInfoRec};

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;
/// How deep a chain of modifiers, typedefs or arrays is followed before the
/// type is deemed cyclic (libbpf's limit).
const MAX_DEPTH: u32 = 32;
/// Pointers are 64-bit in BPF.
const PTR_SIZE: u64 = 8;

/// A type's id in its BTF; 0 is `void`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TypeId(pub u32);

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0)
    }
}

/// A parsed BTF blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Btf {
    flags: u8,
    /// Index 0 is `void`, which the encoding leaves implicit.
    types: Vec<BtfType>,
    strings: Vec<u8>,
}

/// One type: its name (an offset in the string table, 0 for none) and
/// what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfType {
    pub name_off: u32,
    pub kind: Kind,
}

/// `BTF_INT_*` encoding bits.
pub const INT_SIGNED: u8 = 1;
pub const INT_CHAR: u8 = 2;
pub const INT_BOOL: u8 = 4;

/// `BTF_VAR_*` linkage.
pub const VAR_STATIC: u32 = 0;
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;
pub const VAR_GLOBAL_EXTERN: u32 = 2;

/// `BTF_FUNC_*` linkage.
pub const FUNC_STATIC: u16 = 0;
pub const FUNC_GLOBAL: u16 = 1;
pub const FUNC_EXTERN: u16 = 2;

/// What a type is (`BTF_KIND_*`), with its kind-specific data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int(Int),
    Ptr(TypeId),
    Array(Array),
    Struct(Composite),
    Union(Composite),
    Enum(Enum),
    /// A forward declaration, of a union if `union`, else of a struct.
    Fwd {
        union: bool,
    },
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func {
        proto: TypeId,
        linkage: u16,
    },
    FuncProto(FuncProto),
    Var {
        ty: TypeId,
        linkage: u32,
    },
    Datasec(Datasec),
    Float {
        size: u32,
    },
    /// A `btf_decl_tag` on `ty`, or on its member or parameter
    /// `component_idx` (-1 for the type itself).
    DeclTag {
        ty: TypeId,
        component_idx: i32,
    },
    TypeTag(TypeId),
    Enum64(Enum),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int {
    pub size: u32,
    /// `INT_SIGNED`, `INT_CHAR`, `INT_BOOL` bits.
    pub encoding: u8,
    /// Bit offset of the value (a deprecated way to write bitfields).
    pub offset: u8,
    pub bits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array {
    pub elem: TypeId,
    pub index: TypeId,
    pub nelems: u32,
}

/// A struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite {
    pub size: u32,
    /// Whether member offsets carry bitfield sizes (`kind_flag`).
    pub bitfields: bool,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub name_off: u32,
    pub ty: TypeId,
    pub bit_offset: u32,
    /// 0 unless the member is a bitfield.
    pub bitfield_size: u32,
}

/// An `ENUM` or `ENUM64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enum {
    pub size: u32,
    pub signed: bool,
    pub values: Vec<EnumValue>,
}

/// An enumerator. An `ENUM`'s 32-bit value is sign-extended, as libbpf
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumValue {
    pub name_off: u32,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncProto {
    pub ret: TypeId,
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name_off: u32,
    pub ty: TypeId,
}

/// A data section's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasec {
    pub size: u32,
    pub vars: Vec<VarSecinfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecinfo {
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

impl Kind {
    /// The kernel's number for the kind (`BTF_KIND_*`).
    pub fn number(&self) -> u32 {
        match self {
            Kind::Void => 0,
            Kind::Int(_) => 1,
            Kind::Ptr(_) => 2,
            Kind::Array(_) => 3,
            Kind::Struct(_) => 4,
            Kind::Union(_) => 5,
            Kind::Enum(_) => 6,
            Kind::Fwd { .. } => 7,
            Kind::Typedef(_) => 8,
            Kind::Volatile(_) => 9,
            Kind::Const(_) => 10,
            Kind::Restrict(_) => 11,
            Kind::Func { .. } => 12,
            Kind::FuncProto(_) => 13,
            Kind::Var { .. } => 14,
            Kind::Datasec(_) => 15,
            Kind::Float { .. } => 16,
            Kind::DeclTag { .. } => 17,
            Kind::TypeTag(_) => 18,
            Kind::Enum64(_) => 19,
        }
    }

    /// The kind's name as bpftool prints it (`STRUCT`, `ENUM64`).
    pub fn name(&self) -> &'static str {
        KIND_NAMES[self.number() as usize]
    }

    /// The type a modifier, typedef, pointer, var or tag refers to.
    pub fn referenced(&self) -> Option<TypeId> {
        match *self {
            Kind::Ptr(ty)
            | Kind::Typedef(ty)
            | Kind::Volatile(ty)
            | Kind::Const(ty)
            | Kind::Restrict(ty)
            | Kind::TypeTag(ty)
            | Kind::Var { ty, .. }
            | Kind::DeclTag { ty, .. } => Some(ty),
            Kind::Func { proto, .. } => Some(proto),
            _ => None,
        }
    }

    pub fn is_composite(&self) -> bool {
        matches!(self, Kind::Struct(_) | Kind::Union(_))
    }

    pub fn is_any_enum(&self) -> bool {
        matches!(self, Kind::Enum(_) | Kind::Enum64(_))
    }

    /// A struct's or union's members; empty for other kinds.
    pub fn members(&self) -> &[Member] {
        match self {
            Kind::Struct(c) | Kind::Union(c) => &c.members,
            _ => &[],
        }
    }

    /// An enum's enumerators; empty for other kinds.
    pub fn enumerators(&self) -> &[EnumValue] {
        match self {
            Kind::Enum(e) | Kind::Enum64(e) => &e.values,
            _ => &[],
        }
    }

    /// The number of members, enumerators, parameters or variables (`vlen`).
    pub fn vlen(&self) -> usize {
        match self {
            Kind::Struct(c) | Kind::Union(c) => c.members.len(),
            Kind::Enum(e) | Kind::Enum64(e) => e.values.len(),
            Kind::FuncProto(p) => p.params.len(),
            Kind::Datasec(d) => d.vars.len(),
            _ => 0,
        }
    }
}

const KIND_NAMES: [&str; 20] = [
    "UNKN",
    "INT",
    "PTR",
    "ARRAY",
    "STRUCT",
    "UNION",
    "ENUM",
    "FWD",
    "TYPEDEF",
    "VOLATILE",
    "CONST",
    "RESTRICT",
    "FUNC",
    "FUNC_PROTO",
    "VAR",
    "DATASEC",
    "FLOAT",
    "DECL_TAG",
    "TYPE_TAG",
    "ENUM64",
];

/// Why a BTF blob does not parse. `offset` is a byte offset in the blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {offset:#x}: {kind}")]
pub struct BtfError {
    pub offset: usize,
    pub kind: BtfErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfErrorKind {
    #[error("bad magic {0:#x} (BTF starts with 0xeb9f)")]
    BadMagic(u16),
    #[error("big-endian BTF (bpfx reads little-endian objects)")]
    BigEndian,
    #[error("unsupported version {0}")]
    Version(u8),
    #[error("header length {0} is shorter than the 24-byte header")]
    HeaderLen(u32),
    #[error("{what} ({len:#x} bytes at {start:#x}) lies past the end of the data ({size:#x} bytes)")]
    OutOfBounds { what: &'static str, start: usize, len: usize, size: usize },
    #[error("the string table does not start with an empty string")]
    FirstString,
    #[error("string offset {off:#x} of {what} is outside the string table or not NUL-terminated UTF-8")]
    BadString { what: String, off: u32 },
    #[error("type {id} has unknown kind {kind}")]
    UnknownKind { id: TypeId, kind: u32 },
    #[error("type {id} ({kind}) refers to type {target}, but there are {count} types")]
    BadReference { id: TypeId, kind: &'static str, target: TypeId, count: usize },
    #[error("type {id} ({kind}): {reason}")]
    BadType { id: TypeId, kind: &'static str, reason: String },
    #[error("{0}")]
    Ext(String),
}

fn err(offset: usize, kind: BtfErrorKind) -> BtfError {
    BtfError { offset, kind }
}

/// Little-endian reads at checked offsets.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&self, at: usize, len: usize, what: &'static str) -> Result<&'a [u8], BtfError> {
        at.checked_add(len)
            .and_then(|end| self.data.get(at..end))
            .ok_or_else(|| err(at, BtfErrorKind::OutOfBounds { what, start: at, len, size: self.data.len() }))
    }

    fn u32(&self, at: usize, what: &'static str) -> Result<u32, BtfError> {
        let b = self.bytes(at, 4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16(&self, at: usize, what: &'static str) -> Result<u16, BtfError> {
        let b = self.bytes(at, 2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
}

impl Btf {
    /// Parses a BTF blob (a `.BTF` section or `/sys/kernel/btf/vmlinux`).
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let r = Reader { data };
        let magic = r.u16(0, "header")?;
        if magic == MAGIC.swap_bytes() {
            return Err(err(0, BtfErrorKind::BigEndian));
        }
        if magic != MAGIC {
            return Err(err(0, BtfErrorKind::BadMagic(magic)));
        }
        let header = r.bytes(0, HEADER_LEN, "header")?;
        let (version, flags) = (header[2], header[3]);
        if version != 1 {
            return Err(err(2, BtfErrorKind::Version(version)));
        }
        let hdr_len = r.u32(4, "header")?;
        if (hdr_len as usize) < HEADER_LEN {
            return Err(err(4, BtfErrorKind::HeaderLen(hdr_len)));
        }
        let section = |at: usize, what: &'static str| -> Result<(usize, usize), BtfError> {
            let off = r.u32(at, "header")? as usize;
            let len = r.u32(at + 4, "header")? as usize;
            let start = (hdr_len as usize).saturating_add(off);
            r.bytes(start, len, what)?;
            Ok((start, len))
        };
        let (type_start, type_len) = section(8, "type section")?;
        let (str_start, str_len) = section(16, "string section")?;
        let strings = data[str_start..str_start + str_len].to_vec();
        if strings.first().is_some_and(|&b| b != 0) {
            return Err(err(str_start, BtfErrorKind::FirstString));
        }
        let mut btf = Btf { flags, types: vec![BtfType { name_off: 0, kind: Kind::Void }], strings };
        let types = Reader { data: &data[type_start..type_start + type_len] };
        let mut offsets = vec![0];
        let mut at = 0;
        while at < type_len {
            let id = TypeId(btf.types.len() as u32);
            let (ty, len) = parse_type(&types, at, id).map_err(|e| BtfError { offset: type_start + e.offset, ..e })?;
            offsets.push(type_start + at);
            btf.types.push(ty);
            at += len;
        }
        btf.check(&offsets)?;
        Ok(btf)
    }

    /// Checks every reference and name; `offsets` are the types' positions.
    fn check(&self, offsets: &[usize]) -> Result<(), BtfError> {
        let count = self.types.len();
        for (i, ty) in self.types.iter().enumerate().skip(1) {
            let id = TypeId(i as u32);
            let at = offsets[i];
            let kind = ty.kind.name();
            let reference = |target: TypeId| {
                if (target.0 as usize) < count {
                    Ok(())
                } else {
                    Err(err(at, BtfErrorKind::BadReference { id, kind, target, count }))
                }
            };
            let name = |off: u32, what: &dyn Fn() -> String| match self.str_at(off) {
                Some(_) => Ok(()),
                None => Err(err(at, BtfErrorKind::BadString { what: what(), off })),
            };
            name(ty.name_off, &|| format!("type {id}"))?;
            if let Some(target) = ty.kind.referenced() {
                reference(target)?;
            }
            match &ty.kind {
                Kind::Array(a) => {
                    reference(a.elem)?;
                    reference(a.index)?;
                }
                Kind::Struct(c) | Kind::Union(c) => {
                    for (m, member) in c.members.iter().enumerate() {
                        reference(member.ty)?;
                        name(member.name_off, &|| format!("member {m} of type {id}"))?;
                    }
                }
                Kind::Enum(e) | Kind::Enum64(e) => {
                    for (v, value) in e.values.iter().enumerate() {
                        name(value.name_off, &|| format!("enumerator {v} of type {id}"))?;
                    }
                }
                Kind::FuncProto(p) => {
                    reference(p.ret)?;
                    for (n, param) in p.params.iter().enumerate() {
                        reference(param.ty)?;
                        name(param.name_off, &|| format!("parameter {n} of type {id}"))?;
                    }
                }
                Kind::Datasec(d) => {
                    for var in &d.vars {
                        reference(var.ty)?;
                    }
                }
                _ => {}
            }
            if let Kind::Func { proto, .. } = ty.kind
                && !matches!(self.types[proto.0 as usize].kind, Kind::FuncProto(_))
            {
                let reason = format!("its prototype {proto} is not a FUNC_PROTO");
                return Err(err(at, BtfErrorKind::BadType { id, kind, reason }));
            }
        }
        Ok(())
    }

    /// The number of types, `void` included (the next free id).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether the blob holds no type beyond `void`.
    pub fn is_empty(&self) -> bool {
        self.types.len() == 1
    }

    /// Every type with its id, `void` first.
    pub fn types(&self) -> impl Iterator<Item = (TypeId, &BtfType)> {
        self.types.iter().enumerate().map(|(i, t)| (TypeId(i as u32), t))
    }

    /// The type `id`, if there is one.
    pub fn get(&self, id: TypeId) -> Option<&BtfType> {
        self.types.get(id.0 as usize)
    }

    /// The type `id`'s kind; `void` for an id past the end (parsing proved
    /// every reference inside the blob valid).
    pub fn kind(&self, id: TypeId) -> &Kind {
        self.get(id).map_or(&Kind::Void, |t| &t.kind)
    }

    /// The type `id`'s name; empty when anonymous.
    pub fn name(&self, id: TypeId) -> &str {
        self.get(id).and_then(|t| self.str_at(t.name_off)).unwrap_or("")
    }

    /// The string at `off` in the string table.
    pub fn str_at(&self, off: u32) -> Option<&str> {
        let rest = self.strings.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// The raw string table.
    pub fn strings(&self) -> &[u8] {
        &self.strings
    }

    /// Follows `const`, `volatile`, `restrict`, `typedef` and `type_tag` from
    /// `id` to the first other type.
    pub fn skip_mods_and_typedefs(&self, mut id: TypeId) -> TypeId {
        for _ in 0..MAX_DEPTH {
            match *self.kind(id) {
                Kind::Typedef(next) | Kind::Volatile(next) | Kind::Const(next) | Kind::Restrict(next) => id = next,
                Kind::TypeTag(next) => id = next,
                _ => return id,
            }
        }
        id
    }

    /// The size in bytes of a value of type `id` (libbpf's
    /// `btf__resolve_size`); `None` for a type without one (void, a function,
    /// a forward declaration) or a reference cycle.
    pub fn resolve_size(&self, mut id: TypeId) -> Option<u64> {
        let mut scale: u64 = 1;
        for _ in 0..MAX_DEPTH {
            let size = match self.kind(id) {
                Kind::Int(i) => u64::from(i.size),
                Kind::Struct(c) | Kind::Union(c) => u64::from(c.size),
                Kind::Enum(e) | Kind::Enum64(e) => u64::from(e.size),
                Kind::Datasec(d) => u64::from(d.size),
                Kind::Float { size } => u64::from(*size),
                Kind::Ptr(_) => PTR_SIZE,
                Kind::Typedef(next)
                | Kind::Volatile(next)
                | Kind::Const(next)
                | Kind::Restrict(next)
                | Kind::TypeTag(next)
                | Kind::Var { ty: next, .. }
                | Kind::DeclTag { ty: next, .. } => {
                    id = *next;
                    continue;
                }
                Kind::Array(a) => {
                    scale = scale.checked_mul(u64::from(a.nelems))?;
                    id = a.elem;
                    continue;
                }
                Kind::Void | Kind::Fwd { .. } | Kind::Func { .. } | Kind::FuncProto(_) => return None,
            };
            let total = scale.checked_mul(size)?;
            return (total <= u64::from(u32::MAX)).then_some(total);
        }
        None
    }

    /// The alignment of type `id` in bytes (libbpf's `btf__align_of`).
    pub fn align_of(&self, id: TypeId) -> Option<u64> {
        self.align_of_depth(id, MAX_DEPTH)
    }

    fn align_of_depth(&self, id: TypeId, depth: u32) -> Option<u64> {
        let depth = depth.checked_sub(1)?;
        match self.kind(id) {
            Kind::Int(i) => Some(u64::from(i.size).clamp(1, PTR_SIZE)),
            Kind::Enum(e) | Kind::Enum64(e) => Some(u64::from(e.size).clamp(1, PTR_SIZE)),
            Kind::Float { size } => Some(u64::from(*size).clamp(1, PTR_SIZE)),
            Kind::Ptr(_) => Some(PTR_SIZE),
            Kind::Typedef(next)
            | Kind::Volatile(next)
            | Kind::Const(next)
            | Kind::Restrict(next)
            | Kind::TypeTag(next)
            | Kind::Var { ty: next, .. } => self.align_of_depth(*next, depth),
            Kind::Array(a) => self.align_of_depth(a.elem, depth),
            Kind::Struct(c) | Kind::Union(c) => {
                let mut align = 1;
                for m in &c.members {
                    let a = self.align_of_depth(m.ty, depth)?;
                    // A member placed off its natural alignment means the
                    // struct is packed.
                    if m.bitfield_size == 0 && u64::from(m.bit_offset) % (a * 8) != 0 {
                        return Some(1);
                    }
                    align = align.max(a);
                }
                Some(align)
            }
            _ => None,
        }
    }

    /// The first type named `name` of the kind numbered `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: u32) -> Option<TypeId> {
        self.types().find(|(id, t)| t.kind.number() == kind && self.name(*id) == name).map(|(id, _)| id)
    }

    /// Replaces type `id` (which must exist) — the loader fills in data
    /// sections' sizes and variables' offsets, as libbpf does before handing
    /// BTF to the kernel.
    pub(crate) fn set_kind(&mut self, id: TypeId, kind: Kind) {
        if let Some(t) = self.types.get_mut(id.0 as usize) {
            t.kind = kind;
        }
    }

    /// Renames type `id` (which must exist) to the string at `name_off`:
    /// the kernel path renames what it rewrites for an older kernel.
    pub(crate) fn set_name_off(&mut self, id: TypeId, name_off: u32) {
        if let Some(t) = self.types.get_mut(id.0 as usize) {
            t.name_off = name_off;
        }
    }

    /// Appends `name` to the string table; returns its offset.
    pub(crate) fn add_string(&mut self, name: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend(name.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends a type; returns its id.
    pub(crate) fn add_type(&mut self, ty: BtfType) -> TypeId {
        self.types.push(ty);
        TypeId(self.types.len() as u32 - 1)
    }

    /// The blob in BTF's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut types = Vec::new();
        for ty in &self.types[1..] {
            encode_type(ty, &mut types);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + types.len() + self.strings.len());
        out.extend(MAGIC.to_le_bytes());
        out.extend([1, self.flags]);
        for word in [HEADER_LEN as u32, 0, types.len() as u32, types.len() as u32, self.strings.len() as u32] {
            out.extend(word.to_le_bytes());
        }
        out.extend(types);
        out.extend(&self.strings);
        out
    }
}

/// Parses the type at `at`; returns it and its encoded length.
fn parse_type(r: &Reader<'_>, at: usize, id: TypeId) -> Result<(BtfType, usize), BtfError> {
    let name_off = r.u32(at, "type")?;
    let info = r.u32(at + 4, "type")?;
    let size_or_type = r.u32(at + 8, "type")?;
    let vlen = (info & 0xffff) as usize;
    let kind_number = (info >> 24) & 0x1f;
    let kind_flag = info >> 31 == 1;
    let body = at + TYPE_LEN;
    let records = |size: usize| -> Result<usize, BtfError> {
        let len = vlen * size;
        r.bytes(body, len, "type")?;
        Ok(len)
    };
    let ty = TypeId(size_or_type);
    let (kind, extra) = match kind_number {
        1 => {
            let word = r.u32(body, "type")?;
            let int = Int {
                size: size_or_type,
                encoding: ((word >> 24) & 0xf) as u8,
                offset: ((word >> 16) & 0xff) as u8,
                bits: (word & 0xff) as u8,
            };
            (Kind::Int(int), 4)
        }
        2 => (Kind::Ptr(ty), 0),
        3 => {
            let array = Array {
                elem: TypeId(r.u32(body, "type")?),
                index: TypeId(r.u32(body + 4, "type")?),
                nelems: r.u32(body + 8, "type")?,
            };
            (Kind::Array(array), 12)
        }
        4 | 5 => {
            let len = records(12)?;
            let members = (0..vlen)
                .map(|i| {
                    let m = body + i * 12;
                    let offset = r.u32(m + 8, "type")?;
                    let (bit_offset, bitfield_size) =
                        if kind_flag { (offset & 0xff_ffff, offset >> 24) } else { (offset, 0) };
                    Ok(Member {
                        name_off: r.u32(m, "type")?,
                        ty: TypeId(r.u32(m + 4, "type")?),
                        bit_offset,
                        bitfield_size,
                    })
                })
                .collect::<Result<Vec<_>, BtfError>>()?;
            let composite = Composite { size: size_or_type, bitfields: kind_flag, members };
            (if kind_number == 4 { Kind::Struct(composite) } else { Kind::Union(composite) }, len)
        }
        6 => {
            let len = records(8)?;
            let values = (0..vlen)
                .map(|i| {
                    let v = body + i * 8;
                    let value = r.u32(v + 4, "type")? as i32;
                    Ok(EnumValue { name_off: r.u32(v, "type")?, value: i64::from(value) as u64 })
                })
                .collect::<Result<Vec<_>, BtfError>>()?;
            (Kind::Enum(Enum { size: size_or_type, signed: kind_flag, values }), len)
        }
        7 => (Kind::Fwd { union: kind_flag }, 0),
        8 => (Kind::Typedef(ty), 0),
        9 => (Kind::Volatile(ty), 0),
        10 => (Kind::Const(ty), 0),
        11 => (Kind::Restrict(ty), 0),
        12 => (Kind::Func { proto: ty, linkage: vlen as u16 }, 0),
        13 => {
            let len = records(8)?;
            let params = (0..vlen)
                .map(|i| {
                    let p = body + i * 8;
                    Ok(Param { name_off: r.u32(p, "type")?, ty: TypeId(r.u32(p + 4, "type")?) })
                })
                .collect::<Result<Vec<_>, BtfError>>()?;
            (Kind::FuncProto(FuncProto { ret: ty, params }), len)
        }
        14 => (Kind::Var { ty, linkage: r.u32(body, "type")? }, 4),
        15 => {
            let len = records(12)?;
            let vars = (0..vlen)
                .map(|i| {
                    let v = body + i * 12;
                    Ok(VarSecinfo {
                        ty: TypeId(r.u32(v, "type")?),
                        offset: r.u32(v + 4, "type")?,
                        size: r.u32(v + 8, "type")?,
                    })
                })
                .collect::<Result<Vec<_>, BtfError>>()?;
            (Kind::Datasec(Datasec { size: size_or_type, vars }), len)
        }
        16 => (Kind::Float { size: size_or_type }, 0),
        17 => (Kind::DeclTag { ty, component_idx: r.u32(body, "type")? as i32 }, 4),
        18 => (Kind::TypeTag(ty), 0),
        19 => {
            let len = records(12)?;
            let values = (0..vlen)
                .map(|i| {
                    let v = body + i * 12;
                    let lo = u64::from(r.u32(v + 4, "type")?);
                    let hi = u64::from(r.u32(v + 8, "type")?);
                    Ok(EnumValue { name_off: r.u32(v, "type")?, value: hi << 32 | lo })
                })
                .collect::<Result<Vec<_>, BtfError>>()?;
            (Kind::Enum64(Enum { size: size_or_type, signed: kind_flag, values }), len)
        }
        kind => return Err(err(at, BtfErrorKind::UnknownKind { id, kind })),
    };
    Ok((BtfType { name_off, kind }, TYPE_LEN + extra))
}

fn encode_type(ty: &BtfType, out: &mut Vec<u8>) {
    let mut words = vec![ty.name_off];
    let info = |vlen: usize, kind_flag: bool| -> u32 {
        (u32::from(kind_flag) << 31) | (ty.kind.number() << 24) | (vlen as u32 & 0xffff)
    };
    match &ty.kind {
        Kind::Void => return,
        Kind::Int(i) => {
            words.extend([info(0, false), i.size]);
            words.push((u32::from(i.encoding) << 24) | (u32::from(i.offset) << 16) | u32::from(i.bits));
        }
        Kind::Ptr(t) | Kind::Typedef(t) | Kind::Volatile(t) | Kind::Const(t) | Kind::Restrict(t) | Kind::TypeTag(t) => {
            words.extend([info(0, false), t.0]);
        }
        Kind::Array(a) => words.extend([info(0, false), 0, a.elem.0, a.index.0, a.nelems]),
        Kind::Struct(c) | Kind::Union(c) => {
            words.extend([info(c.members.len(), c.bitfields), c.size]);
            for m in &c.members {
                let offset = if c.bitfields { (m.bitfield_size << 24) | m.bit_offset } else { m.bit_offset };
                words.extend([m.name_off, m.ty.0, offset]);
            }
        }
        Kind::Enum(e) => {
            words.extend([info(e.values.len(), e.signed), e.size]);
            for v in &e.values {
                words.extend([v.name_off, v.value as u32]);
            }
        }
        Kind::Enum64(e) => {
            words.extend([info(e.values.len(), e.signed), e.size]);
            for v in &e.values {
                words.extend([v.name_off, v.value as u32, (v.value >> 32) as u32]);
            }
        }
        Kind::Fwd { union } => words.extend([info(0, *union), 0]),
        Kind::Func { proto, linkage } => words.extend([info(usize::from(*linkage), false), proto.0]),
        Kind::FuncProto(p) => {
            words.extend([info(p.params.len(), false), p.ret.0]);
            for param in &p.params {
                words.extend([param.name_off, param.ty.0]);
            }
        }
        Kind::Var { ty: t, linkage } => words.extend([info(0, false), t.0, *linkage]),
        Kind::Datasec(d) => {
            words.extend([info(d.vars.len(), false), d.size]);
            for v in &d.vars {
                words.extend([v.ty.0, v.offset, v.size]);
            }
        }
        Kind::Float { size } => words.extend([info(0, false), *size]),
        Kind::DeclTag { ty: t, component_idx } => words.extend([info(0, false), t.0, *component_idx as u32]),
    }
    out.extend(words.iter().flat_map(|w| w.to_le_bytes()));
}

/// The length of `name` without its flavor suffix (`task_struct___old` ->
/// `task_struct`): CO-RE matches types by this essential part.
pub fn essential_name_len(name: &str) -> usize {
    let b = name.as_bytes();
    let n = b.len();
    if n >= 5 {
        for i in (0..=n - 5).rev() {
            let flavor = b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_';
            if flavor {
                return i + 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_are_cut_at_the_last_triple_underscore() {
        assert_eq!(essential_name_len("task_struct___old"), 11);
        assert_eq!(essential_name_len("a___b___c"), 5);
        assert_eq!(essential_name_len("task_struct"), 11);
        assert_eq!(essential_name_len("x____y"), 6, "four underscores are not a flavor");
        assert_eq!(essential_name_len("___x"), 4);
        assert_eq!(essential_name_len(""), 0);
    }
}
