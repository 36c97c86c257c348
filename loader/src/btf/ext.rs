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
