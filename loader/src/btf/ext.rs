//! `.BTF.ext`: per code section, the functions (`func_info`), source lines
//! (`line_info`) and CO-RE relocations of its instructions, by byte offset
//! in the section, naming types and strings of the object's `.BTF`.

use super::{Btf, BtfError, BtfErrorKind, Kind, Reader, TypeId, err};

const MAGIC: u16 = 0xeb9f;
/// The header up to and including the line info's offset and length.
const MIN_HEADER_LEN: u32 = 24;
/// The header with the CO-RE relocations' offset and length.
const CORE_HEADER_LEN: u32 = 32;

/// A parsed `.BTF.ext`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    pub func_info: Vec<ExtSection<FuncInfoRec>>,
    pub line_info: Vec<ExtSection<LineInfoRec>>,
    pub core_relos: Vec<ExtSection<CoreRelo>>,
}

/// The records of one code section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtSection<T> {
    pub section: String,
    pub records: Vec<T>,
}

/// `bpf_func_info` as the object stores it: a byte offset in the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfoRec {
    pub insn_off: u32,
    pub type_id: TypeId,
}

/// `bpf_line_info`: strings in the object's BTF; `line_col` is the line
/// shifted left by 10, or'ed with the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfoRec {
    pub insn_off: u32,
    pub file_name_off: u32,
    pub line_off: u32,
    pub line_col: u32,
}

impl LineInfoRec {
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }

    pub fn column(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

/// `bpf_core_relo`: the instruction at `insn_off` accesses, by the access
/// string (`0:1:2`, indices of members and array elements), something of
/// local type `type_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    pub insn_off: u32,
    pub type_id: TypeId,
    pub access_str_off: u32,
    pub kind: CoreReloKind,
}

/// `enum bpf_core_relo_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreReloKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLshiftU64,
    FieldRshiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
    Unknown(u32),
}

impl CoreReloKind {
    pub fn from_u32(kind: u32) -> Self {
        use CoreReloKind::*;
        const KINDS: [CoreReloKind; 13] = [
            FieldByteOffset,
            FieldByteSize,
            FieldExists,
            FieldSigned,
            FieldLshiftU64,
            FieldRshiftU64,
            TypeIdLocal,
            TypeIdTarget,
            TypeExists,
            TypeSize,
            EnumvalExists,
            EnumvalValue,
            TypeMatches,
        ];
        KINDS.get(kind as usize).copied().unwrap_or(Unknown(kind))
    }

    /// libbpf's short name (`byte_off`, `type_exists`).
    pub fn name(self) -> &'static str {
        use CoreReloKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
            Unknown(_) => "unknown",
        }
    }

    pub fn is_field_based(self) -> bool {
        use CoreReloKind::*;
        matches!(self, FieldByteOffset | FieldByteSize | FieldExists | FieldSigned | FieldLshiftU64 | FieldRshiftU64)
    }

    pub fn is_type_based(self) -> bool {
        use CoreReloKind::*;
        matches!(self, TypeIdLocal | TypeIdTarget | TypeExists | TypeSize | TypeMatches)
    }

    pub fn is_enumval_based(self) -> bool {
        matches!(self, CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue)
    }
}

impl BtfExt {
    /// Parses `.BTF.ext`, whose strings and types are those of `btf`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let r = Reader { data };
        let magic = r.u16(0, "header")?;
        if magic == MAGIC.swap_bytes() {
            return Err(err(0, BtfErrorKind::BigEndian));
        }
        if magic != MAGIC {
            return Err(err(0, BtfErrorKind::BadMagic(magic)));
        }
        let version = r.bytes(2, 1, "header")?[0];
        if version != 1 {
            return Err(err(2, BtfErrorKind::Version(version)));
        }
        let hdr_len = r.u32(4, "header")?;
        if hdr_len < MIN_HEADER_LEN {
            return Err(err(4, BtfErrorKind::HeaderLen(hdr_len)));
        }
        r.bytes(0, hdr_len as usize, "header")?;
        let mut ext = BtfExt::default();
        let sub = |at: usize| -> Result<(usize, usize), BtfError> {
            let off = r.u32(at, "header")? as usize;
            let len = r.u32(at + 4, "header")? as usize;
            Ok(((hdr_len as usize).saturating_add(off), len))
        };
        let (start, len) = sub(8)?;
        ext.func_info = parse_records(&r, start, len, 8, "func_info", btf, |r, at| {
            let rec = FuncInfoRec { insn_off: r.u32(at, "func_info")?, type_id: TypeId(r.u32(at + 4, "func_info")?) };
            if !matches!(btf.kind(rec.type_id), Kind::Func { .. }) {
                let what = format!("func_info record names type {}, which is not a FUNC", rec.type_id);
                return Err(err(at, BtfErrorKind::Ext(what)));
            }
            Ok(rec)
        })?;
        let (start, len) = sub(16)?;
        ext.line_info = parse_records(&r, start, len, 16, "line_info", btf, |r, at| {
            let rec = LineInfoRec {
                insn_off: r.u32(at, "line_info")?,
                file_name_off: r.u32(at + 4, "line_info")?,
                line_off: r.u32(at + 8, "line_info")?,
                line_col: r.u32(at + 12, "line_info")?,
            };
            for (what, off) in [("line_info file name", rec.file_name_off), ("line_info source", rec.line_off)] {
                if btf.str_at(off).is_none() {
                    return Err(err(at, BtfErrorKind::BadString { what: what.into(), off }));
                }
            }
            Ok(rec)
        })?;
        if hdr_len >= CORE_HEADER_LEN {
            let (start, len) = sub(24)?;
            ext.core_relos = parse_records(&r, start, len, 16, "core_relo", btf, |r, at| {
                let rec = CoreRelo {
                    insn_off: r.u32(at, "core_relo")?,
                    type_id: TypeId(r.u32(at + 4, "core_relo")?),
                    access_str_off: r.u32(at + 8, "core_relo")?,
                    kind: CoreReloKind::from_u32(r.u32(at + 12, "core_relo")?),
                };
                if btf.get(rec.type_id).is_none() {
                    let what = format!("CO-RE relocation names type {}, past the last type", rec.type_id);
                    return Err(err(at, BtfErrorKind::Ext(what)));
                }
                if btf.str_at(rec.access_str_off).is_none() {
                    let what = "CO-RE access string".to_string();
                    return Err(err(at, BtfErrorKind::BadString { what, off: rec.access_str_off }));
                }
                Ok(rec)
            })?;
        }
        Ok(ext)
    }
}

/// One info kind: a record size, then per section its name, count and
/// records. Records may be longer than bpfx knows (newer fields); the known
/// prefix is read.
fn parse_records<T>(
    r: &Reader<'_>,
    start: usize,
    len: usize,
    min_rec_size: u32,
    what: &'static str,
    btf: &Btf,
    record: impl Fn(&Reader<'_>, usize) -> Result<T, BtfError>,
) -> Result<Vec<ExtSection<T>>, BtfError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let data = Reader { data: r.bytes(start, len, what)? };
    let shift = |e: BtfError| BtfError { offset: start + e.offset, ..e };
    let rec_size = data.u32(0, what).map_err(shift)?;
    if rec_size < min_rec_size || rec_size % 4 != 0 {
        let reason = format!("{what} record size {rec_size} (at least {min_rec_size}, a multiple of 4)");
        return Err(err(start, BtfErrorKind::Ext(reason)));
    }
    let mut sections = Vec::new();
    let mut at = 4;
    while at < len {
        let name_off = data.u32(at, what).map_err(shift)?;
        let count = data.u32(at + 4, what).map_err(shift)? as usize;
        let section = btf.str_at(name_off).filter(|s| !s.is_empty()).ok_or_else(|| {
            err(start + at, BtfErrorKind::BadString { what: format!("{what} section"), off: name_off })
        })?;
        at += 8;
        let size = count.saturating_mul(rec_size as usize);
        data.bytes(at, size, what).map_err(shift)?;
        let records =
            (0..count).map(|i| record(&data, at + i * rec_size as usize).map_err(shift)).collect::<Result<_, _>>()?;
        at += size;
        sections.push(ExtSection { section: section.to_string(), records });
    }
    Ok(sections)
}

impl CoreRelo {
    /// The relocation as `llvm-objdump -dr` describes it: `<byte_off> [8]
    /// struct ethhdr::h_proto (0:2)`, `<type_size> [7] struct foo`,
    /// `<enumval_value> [5] enum foo::V = 2`; when the record does not fit
    /// the types, `<kind> [id] 'access' <why>`.
    pub fn describe(&self, btf: &Btf) -> String {
        let spec_str = btf.str_at(self.access_str_off).unwrap_or("");
        let kind = match self.kind {
            CoreReloKind::Unknown(k) => format!("<reloc kind #{k}>"),
            k => format!("<{}>", k.name()),
        };
        let fail = |why: String| format!("{kind} [{}] '{spec_str}' <{why}>", self.type_id.0);
        let mut raw = Vec::new();
        let mut rest = spec_str;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let Some(value) = rest[..digits].parse::<u32>().ok() else {
                return fail("spec string is not a number".into());
            };
            raw.push(value);
            rest = &rest[digits..];
            match rest.strip_prefix(':') {
                Some(after) => rest = after,
                None if rest.is_empty() => {}
                None => {
                    let c = rest.chars().next().unwrap_or(' ');
                    return fail(format!("unexpected spec string delimiter: '{c}'"));
                }
            }
        }
        let anon = |off: u32, idx: u32| match btf.str_at(off).filter(|s| !s.is_empty()) {
            Some(name) => name.to_string(),
            None => format!("<anon {idx}>"),
        };
        let mut out = format!("{kind} [{}]", self.type_id.0);
        let mut id = self.type_id;
        let Some(mut ty) = btf.get(id) else { return fail(format!("unknown type id: {}", id.0)) };
        for depth in 0.. {
            let next = match ty.kind {
                Kind::Const(next) => Some((" const".to_string(), next)),
                Kind::Volatile(next) => Some((" volatile".to_string(), next)),
                Kind::Restrict(next) => Some((" restrict".to_string(), next)),
                Kind::TypeTag(next) => {
                    Some((format!(" type_tag(\"{}\")", btf.str_at(ty.name_off).unwrap_or("")), next))
                }
                _ => None,
            };
            let Some((text, next)) = next else { break };
            if depth >= 32 {
                return fail("modifiers chain is too long".into());
            }
            out.push_str(&text);
            id = next;
            ty = match btf.get(id) {
                Some(t) => t,
                None => return fail(format!("unknown type id: {} in modifiers chain", id.0)),
            };
        }
        if id.0 == 0 {
            out.push_str(" void");
        } else {
            out.push_str(match ty.kind {
                Kind::Typedef(_) => " typedef",
                Kind::Struct(_) => " struct",
                Kind::Union(_) => " union",
                Kind::Enum(_) | Kind::Enum64(_) => " enum",
                Kind::Fwd { union: true } => " fwd union",
                Kind::Fwd { union: false } => " fwd struct",
                _ => "",
            });
            out.push(' ');
            out.push_str(&anon(ty.name_off, id.0));
        }
        if self.kind.is_type_based() {
            return if raw == [0] { out } else { fail("unexpected type-based relocation spec: should be '0'".into()) };
        }
        out.push_str("::");
        let skip = |mut id: TypeId| {
            for _ in 0..32 {
                match btf.kind(id) {
                    Kind::Const(n) | Kind::Volatile(n) | Kind::Restrict(n) | Kind::TypeTag(n) | Kind::Typedef(n) => {
                        id = *n
                    }
                    _ => break,
                }
            }
            id
        };
        if self.kind.is_enumval_based() {
            let id = skip(id);
            if raw.len() != 1 {
                return fail("unexpected enumval relocation spec size".into());
            }
            let idx = raw[0];
            let (Kind::Enum(e) | Kind::Enum64(e)) = btf.kind(id) else {
                return fail(format!("unexpected type kind for enum relocation: {}", btf.kind(id).number()));
            };
            let Some(value) = e.values.get(idx as usize) else { return fail(format!("bad value index: {idx}")) };
            out.push_str(&anon(value.name_off, idx));
            let shown = if e.signed { (value.value as i64).to_string() } else { value.value.to_string() };
            out.push_str(&format!(" = {shown}"));
            return out;
        }
        if !self.kind.is_field_based() {
            return fail(format!(
                "unknown relocation kind: {}",
                match self.kind {
                    CoreReloKind::Unknown(k) => k,
                    _ => 0,
                }
            ));
        }
        if raw.is_empty() {
            return fail("field spec too short".into());
        }
        if raw[0] != 0 {
            out.push_str(&format!("[{}]", raw[0]));
        }
        for (i, &idx) in raw.iter().enumerate().skip(1) {
            id = skip(id);
            match btf.kind(id) {
                Kind::Struct(c) | Kind::Union(c) => {
                    let Some(member) = c.members.get(idx as usize) else {
                        return fail(format!("member index {idx} for spec sub-string {i} is out of range"));
                    };
                    if i != 1 || raw[0] != 0 {
                        out.push('.');
                    }
                    out.push_str(&anon(member.name_off, idx));
                    if btf.get(member.ty).is_none() {
                        return fail(format!("unknown member type id {} for spec sub-string {i}", member.ty.0));
                    }
                    id = member.ty;
                }
                Kind::Array(a) => {
                    out.push_str(&format!("[{idx}]"));
                    if btf.get(a.elem).is_none() {
                        return fail(format!("unknown element type id {} for spec sub-string {i}", a.elem.0));
                    }
                    id = a.elem;
                }
                other => return fail(format!("unexpected type kind {} for spec sub-string {i}", other.number())),
            }
        }
        out.push_str(&format!(" ({spec_str})"));
        out
    }
}
