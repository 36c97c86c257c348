//! The ELF object: its sections, symbols, relocations and license.
//!
//! goblin reads the fixed-layout tables; every offset, size and index it is
//! handed has been bounds-checked here first, so that a malformed object is
//! reported with the section and offset at fault.

use std::fmt;

use bpfx_isa::{Insn, InsnIdx, SLOT_SIZE, decode_bytes, with_slots};
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::section_header::{SHF_EXECINSTR, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_SYMTAB};
use goblin::elf::sym::{STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FILE, STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION};
use goblin::elf::{Elf, RelocSection, SectionHeader, Symtab};
use goblin::strtab::Strtab;

use crate::btf::{Btf, BtfExt};
use crate::error::LoadError;

const EM_BPF: u16 = 247;
const ELF64_HEADER_SIZE: usize = 64;
const ELF64_SHDR_SIZE: u64 = 64;
const ELF64_SYM_SIZE: usize = 24;
/// `e_shstrndx` value meaning "the index is in section 0's `sh_link`".
const SHN_XINDEX: u16 = 0xffff;
const LICENSE_SECTION: &str = "license";
const VERSION_SECTION: &str = "version";

/// The index of a section in the object's section header table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SectionIndex(pub u32);

/// A BPF ELF object: from [`Object::parse`], its ELF structure; from
/// [`Object::load`](crate::Object::load), also its BTF, maps and linked
/// programs.
#[derive(Debug, Clone)]
pub struct Object {
    pub(crate) sections: Vec<CodeSection>,
    pub(crate) license: Option<String>,
    pub(crate) version: Option<u32>,
    pub(crate) loaded: Option<Box<crate::load::Loaded>>,
}

/// An executable section: its instructions and what names or patches them.
#[derive(Debug, Clone)]
pub struct CodeSection {
    name: String,
    index: SectionIndex,
    insns: Vec<Insn>,
    symbols: Vec<Symbol>,
    relocations: Vec<Relocation>,
    core_notes: Vec<(InsnIdx, String)>,
}

/// A symbol defined in a code section (functions, and labels hand-written
/// assembly leaves as `NOTYPE` symbols); section and file symbols are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub at: InsnIdx,
    /// The symbol's size in bytes (a function's length; 0 for a label).
    pub size: u64,
    pub kind: SymbolKind,
    pub binding: Binding,
}

/// A symbol's type (`STT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    NoType,
    Object,
    Func,
    Section,
    File,
    Other(u8),
}

/// A symbol's binding (`STB_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    Local,
    Global,
    Weak,
    Other(u8),
}

/// A relocation of one slot of a code section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// The slot it patches.
    pub at: InsnIdx,
    pub kind: RelocKind,
    /// The symbol it refers to; `None` for symbol 0 (an absolute value).
    pub symbol: Option<RelocSymbol>,
    /// The explicit addend of a `SHT_RELA` entry; clang writes `SHT_REL`
    /// (the addend is the instruction's immediate).
    pub addend: Option<i64>,
}

/// The symbol a relocation refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelocSymbol {
    /// Its name; for a section symbol, the section's name (as objdump shows
    /// it).
    pub name: String,
    pub kind: SymbolKind,
    pub binding: Binding,
    /// The section it is defined in; `None` for an undefined (extern) or
    /// absolute symbol.
    pub section: Option<SectionIndex>,
    pub value: u64,
}

/// A relocation type (`R_BPF_*`, LLVM's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelocKind {
    None,
    /// `lddw`: the 64-bit immediate (map, global data, function address).
    Bpf64_64,
    Abs64,
    Abs32,
    NoDyld32,
    /// `call`: a bpf-to-bpf call's 32-bit immediate (or a kfunc's).
    Bpf64_32,
    Other(u32),
}

impl RelocKind {
    fn from_type(r_type: u32) -> Self {
        match r_type {
            0 => RelocKind::None,
            1 => RelocKind::Bpf64_64,
            2 => RelocKind::Abs64,
            3 => RelocKind::Abs32,
            4 => RelocKind::NoDyld32,
            10 => RelocKind::Bpf64_32,
            other => RelocKind::Other(other),
        }
    }
}

impl fmt::Display for RelocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelocKind::None => "R_BPF_NONE",
            RelocKind::Bpf64_64 => "R_BPF_64_64",
            RelocKind::Abs64 => "R_BPF_64_ABS64",
            RelocKind::Abs32 => "R_BPF_64_ABS32",
            RelocKind::NoDyld32 => "R_BPF_64_NODYLD32",
            RelocKind::Bpf64_32 => "R_BPF_64_32",
            // objdump's name for a type it does not know.
            RelocKind::Other(_) => "Unknown",
        })
    }
}

/// A symbol table entry, as the loader's later stages read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfSymbol {
    pub index: usize,
    /// Its name; a section symbol's is its section's.
    pub name: String,
    pub kind: SymbolKind,
    pub binding: Binding,
    /// `STV_*`.
    pub visibility: u8,
    /// `st_shndx`: 0 for an undefined (extern) symbol.
    pub shndx: usize,
    pub value: u64,
    pub size: u64,
}

/// A relocation entry of any section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawRelocation {
    /// Its position in its relocation section.
    pub index: usize,
    pub offset: u64,
    pub kind: RelocKind,
    pub symbol: usize,
}

impl SymbolKind {
    fn from_type(st_type: u8) -> Self {
        match st_type {
            STT_NOTYPE => SymbolKind::NoType,
            STT_OBJECT => SymbolKind::Object,
            STT_FUNC => SymbolKind::Func,
            STT_SECTION => SymbolKind::Section,
            STT_FILE => SymbolKind::File,
            other => SymbolKind::Other(other),
        }
    }
}

impl Binding {
    fn from_bind(st_bind: u8) -> Self {
        match st_bind {
            STB_LOCAL => Binding::Local,
            STB_GLOBAL => Binding::Global,
            STB_WEAK => Binding::Weak,
            other => Binding::Other(other),
        }
    }
}

impl Object {
    /// Parses an object's ELF structure: its code sections (instructions,
    /// symbols, relocations as they are in the file), license and version.
    /// Nothing is linked: [`Object::programs`] and [`Object::maps`] are
    /// empty; [`Object::load`](crate::Object::load) does the rest.
    pub fn parse(bytes: &[u8]) -> Result<Object, LoadError> {
        Parser::new(bytes)?.object()
    }

    /// The executable sections, in section header order (empty ones included).
    pub fn sections(&self) -> &[CodeSection] {
        &self.sections
    }

    /// The executable section named `name`.
    pub fn section(&self, name: &str) -> Option<&CodeSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The contents of the `license` section, up to its NUL.
    pub fn license(&self) -> Option<&str> {
        self.license.as_deref()
    }

    /// The `version` section: the kernel version the object was built for
    /// (`kern_version`), which old kernels checked for kprobes.
    pub fn version(&self) -> Option<u32> {
        self.version
    }
}

impl CodeSection {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn index(&self) -> SectionIndex {
        self.index
    }

    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The symbols defined in the section, ordered by slot, then name.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The relocations of the section, ordered by slot.
    pub fn relocations(&self) -> &[Relocation] {
        &self.relocations
    }

    /// The symbols at slot `at`.
    pub fn symbols_at(&self, at: InsnIdx) -> impl Iterator<Item = &Symbol> {
        self.symbols.iter().filter(move |s| s.at == at)
    }

    /// The relocations of slot `at`.
    pub fn relocations_at(&self, at: InsnIdx) -> impl Iterator<Item = &Relocation> {
        self.relocations.iter().filter(move |r| r.at == at)
    }

    /// The CO-RE relocations of `.BTF.ext` that apply to the section, by
    /// slot, described as `llvm-objdump -dr` describes them (`<byte_off>
    /// [8] struct ethhdr::h_proto (0:2)`). Empty when the object has no
    /// BTF, or BTF that does not parse (listings do not need it; loading
    /// reports it).
    pub fn core_notes(&self) -> &[(InsnIdx, String)] {
        &self.core_notes
    }
}

/// The section header table and the string tables, once checked.
pub(crate) struct Parser<'a> {
    bytes: &'a [u8],
    ctx: Ctx,
    headers: Vec<SectionHeader>,
    names: Vec<&'a str>,
    symtab: Symtab<'a>,
    strtab: Strtab<'a>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, LoadError> {
        check_ident(bytes)?;
        if bytes.len() < ELF64_HEADER_SIZE {
            return Err(truncated("ELF header", 0, ELF64_HEADER_SIZE as u64, bytes));
        }
        let header = Elf::parse_header(bytes).map_err(|source| malformed("ELF header", source))?;
        if header.e_machine != EM_BPF {
            return Err(LoadError::NotBpf(header.e_machine));
        }
        let ctx = Ctx::new(Container::Big, Endian::Little);
        let headers = section_headers(bytes, header.e_shoff, header.e_shnum, header.e_shentsize, ctx)?;
        let mut parser =
            Parser { bytes, ctx, headers, names: Vec::new(), symtab: Symtab::default(), strtab: Strtab::default() };
        if parser.headers.is_empty() {
            return Ok(parser);
        }
        let shstrndx = match header.e_shstrndx {
            SHN_XINDEX => u64::from(parser.headers[0].sh_link),
            index => u64::from(index),
        };
        let shstrtab = parser.strings(shstrndx, "e_shstrndx", "section name table")?;
        parser.names = (0..parser.headers.len())
            .map(|i| {
                let offset = parser.headers[i].sh_name;
                shstrtab.get_at(offset).ok_or_else(|| LoadError::BadName { what: format!("section {i}"), offset })
            })
            .collect::<Result<_, _>>()?;
        if let Some(i) = parser.headers.iter().position(|h| h.sh_type == SHT_SYMTAB) {
            let data = parser.data(i)?;
            if !data.is_empty() {
                let count = data.len() / ELF64_SYM_SIZE;
                parser.symtab =
                    Symtab::parse(data, 0, count, ctx).map_err(|source| malformed("symbol table", source))?;
            }
            let link = u64::from(parser.headers[i].sh_link);
            parser.strtab = parser.strings(link, "the symbol table's sh_link", "symbol name table")?;
        }
        Ok(parser)
    }

    pub(crate) fn object(&self) -> Result<Object, LoadError> {
        let mut sections: Vec<CodeSection> = (0..self.headers.len())
            .filter(|&i| self.headers[i].sh_flags & u64::from(SHF_EXECINSTR) != 0)
            .map(|i| self.code_section(i))
            .collect::<Result<_, _>>()?;
        self.describe_core_relocations(&mut sections);
        let license = match self.names.iter().position(|&n| n == LICENSE_SECTION) {
            Some(i) => {
                let data = self.data(i)?;
                let text = data.split(|&b| b == 0).next().unwrap_or_default();
                Some(std::str::from_utf8(text).map_err(|_| LoadError::BadLicense)?.to_string())
            }
            None => None,
        };
        let version = match self.find_section(VERSION_SECTION) {
            Some(i) => {
                let data = self.data(i)?;
                let word: [u8; 4] = data.try_into().map_err(|_| LoadError::BadVersion(data.len()))?;
                Some(u32::from_le_bytes(word))
            }
            None => None,
        };
        Ok(Object { sections, license, version, loaded: None })
    }

    fn code_section(&self, i: usize) -> Result<CodeSection, LoadError> {
        let name = self.names[i].to_string();
        let data = self.data(i)?;
        let insns = decode_bytes(data).map_err(|source| LoadError::Decode { section: name.clone(), source })?;
        let starts: Vec<InsnIdx> = with_slots(&insns).map(|(at, _)| at).collect();
        let end = InsnIdx((data.len() / SLOT_SIZE) as u32);
        let symbols = self.symbols_in(i, &name, &starts, end)?;
        let relocations = self.relocations_of(i, &name, end)?;
        Ok(CodeSection { name, index: SectionIndex(i as u32), insns, symbols, relocations, core_notes: Vec::new() })
    }

    fn symbols_in(&self, i: usize, section: &str, starts: &[InsnIdx], end: InsnIdx) -> Result<Vec<Symbol>, LoadError> {
        let mut symbols = Vec::new();
        for (n, sym) in self.symtab.iter().enumerate() {
            let kind = SymbolKind::from_type(sym.st_type());
            if sym.st_shndx != i || matches!(kind, SymbolKind::Section | SymbolKind::File) {
                continue;
            }
            let name = self.symbol_name(n, sym.st_name)?;
            let at = slot_of(sym.st_value).filter(|at| *at == end || starts.binary_search(at).is_ok());
            let at = at.ok_or_else(|| LoadError::BadSymbol {
                section: section.to_string(),
                name: name.to_string(),
                offset: sym.st_value,
                size: end.byte_offset() as u64,
            })?;
            let binding = Binding::from_bind(sym.st_bind());
            symbols.push(Symbol { name: name.to_string(), at, size: sym.st_size, kind, binding });
        }
        symbols.sort_by(|a, b| (a.at, &a.name).cmp(&(b.at, &b.name)));
        Ok(symbols)
    }

    fn relocations_of(&self, i: usize, section: &str, end: InsnIdx) -> Result<Vec<Relocation>, LoadError> {
        let mut relocations = Vec::new();
        for (r, header) in self.headers.iter().enumerate() {
            let is_rela = header.sh_type == SHT_RELA;
            if !(is_rela || header.sh_type == SHT_REL) || header.sh_info as usize != i {
                continue;
            }
            let data = self.data(r)?;
            let table = RelocSection::parse(data, 0, data.len(), is_rela, self.ctx)
                .map_err(|source| malformed(&format!("relocation section {}", self.names[r]), source))?;
            for (index, reloc) in table.iter().enumerate() {
                let at = slot_of(reloc.r_offset).filter(|at| *at < end).ok_or_else(|| LoadError::BadRelocOffset {
                    section: section.to_string(),
                    index,
                    offset: reloc.r_offset,
                })?;
                let symbol = match reloc.r_sym {
                    0 => None,
                    n => Some(self.reloc_symbol(n).ok_or_else(|| LoadError::BadRelocSymbol {
                        section: section.to_string(),
                        index,
                        symbol: n,
                        count: self.symtab.len(),
                    })??),
                };
                relocations.push(Relocation {
                    at,
                    kind: RelocKind::from_type(reloc.r_type),
                    symbol,
                    addend: reloc.r_addend,
                });
            }
        }
        relocations.sort_by_key(|r| r.at);
        Ok(relocations)
    }

    /// Symbol `n` (not 0) as a relocation target; `None` when there is no such symbol.
    fn reloc_symbol(&self, n: usize) -> Option<Result<RelocSymbol, LoadError>> {
        let sym = self.symtab.get(n)?;
        let kind = SymbolKind::from_type(sym.st_type());
        let defined = sym.st_shndx != 0 && sym.st_shndx < self.headers.len();
        let name = match kind {
            SymbolKind::Section if defined => Ok(self.names[sym.st_shndx]),
            SymbolKind::Section => Err(LoadError::BadSectionIndex {
                what: format!("section symbol {n}"),
                index: sym.st_shndx as u64,
                count: self.headers.len(),
            }),
            _ => self.symbol_name(n, sym.st_name),
        };
        Some(name.map(|name| RelocSymbol {
            name: name.to_string(),
            kind,
            binding: Binding::from_bind(sym.st_bind()),
            section: defined.then_some(SectionIndex(sym.st_shndx as u32)),
            value: sym.st_value,
        }))
    }

    /// Fills the sections' [`CodeSection::core_notes`].
    fn describe_core_relocations(&self, sections: &mut [CodeSection]) {
        let data = |name: &str| self.find_section(name).and_then(|i| self.data(i).ok());
        let (Some(btf), Some(ext)) = (data(".BTF"), data(".BTF.ext")) else { return };
        let Ok(btf) = Btf::parse(btf) else { return };
        let Ok(ext) = BtfExt::parse(ext, &btf) else { return };
        for relos in &ext.core_relos {
            let Some(section) = sections.iter_mut().find(|s| s.name == relos.section) else { continue };
            for relo in relos.records.iter().filter(|r| r.insn_off.is_multiple_of(8)) {
                section.core_notes.push((InsnIdx(relo.insn_off / 8), relo.describe(&btf)));
            }
            section.core_notes.sort_by_key(|(at, _)| *at);
        }
    }

    /// The number of sections, the null section 0 included.
    pub(crate) fn section_count(&self) -> usize {
        self.headers.len()
    }

    pub(crate) fn section_name(&self, i: usize) -> &'a str {
        self.names.get(i).copied().unwrap_or("")
    }

    pub(crate) fn header(&self, i: usize) -> &SectionHeader {
        &self.headers[i]
    }

    /// The first section named `name`.
    pub(crate) fn find_section(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|&n| n == name)
    }

    /// Every symbol but the null one, section and file symbols included.
    pub(crate) fn elf_symbols(&self) -> Result<Vec<ElfSymbol>, LoadError> {
        self.symtab
            .iter()
            .enumerate()
            .skip(1)
            .map(|(index, sym)| {
                let kind = SymbolKind::from_type(sym.st_type());
                let name = match kind {
                    SymbolKind::Section => self.section_name(sym.st_shndx).to_string(),
                    _ => self.symbol_name(index, sym.st_name)?.to_string(),
                };
                Ok(ElfSymbol {
                    index,
                    name,
                    kind,
                    binding: Binding::from_bind(sym.st_bind()),
                    visibility: sym.st_other & 0x3,
                    shndx: sym.st_shndx,
                    value: sym.st_value,
                    size: sym.st_size,
                })
            })
            .collect()
    }

    /// The relocations that apply to section `target` (by any relocation
    /// section), in table order: offset, type and symbol index.
    pub(crate) fn raw_relocations(&self, target: usize) -> Result<Vec<RawRelocation>, LoadError> {
        let mut relocations = Vec::new();
        for (r, header) in self.headers.iter().enumerate() {
            let is_rela = header.sh_type == SHT_RELA;
            if !(is_rela || header.sh_type == SHT_REL) || header.sh_info as usize != target {
                continue;
            }
            let data = self.data(r)?;
            let table = RelocSection::parse(data, 0, data.len(), is_rela, self.ctx)
                .map_err(|source| malformed(&format!("relocation section {}", self.names[r]), source))?;
            relocations.extend(table.iter().enumerate().map(|(index, reloc)| RawRelocation {
                index,
                offset: reloc.r_offset,
                kind: RelocKind::from_type(reloc.r_type),
                symbol: reloc.r_sym,
            }));
        }
        Ok(relocations)
    }

    fn symbol_name(&self, n: usize, offset: usize) -> Result<&'a str, LoadError> {
        self.strtab.get_at(offset).ok_or_else(|| LoadError::BadName { what: format!("symbol {n}"), offset })
    }

    /// The string table in section `index`, which `what` names.
    fn strings(&self, index: u64, what: &str, table: &str) -> Result<Strtab<'a>, LoadError> {
        let i = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.headers.len())
            .ok_or_else(|| LoadError::BadSectionIndex { what: what.to_string(), index, count: self.headers.len() })?;
        let data = self.data(i)?;
        Strtab::parse(data, 0, data.len(), 0).map_err(|source| malformed(table, source))
    }

    /// Section `i`'s bytes, checked to lie within the file.
    pub(crate) fn data(&self, i: usize) -> Result<&'a [u8], LoadError> {
        let header = &self.headers[i];
        if header.sh_type == SHT_NOBITS {
            return Ok(&[]);
        }
        let what = || match self.names.get(i) {
            Some(name) => format!("section {name}"),
            None => format!("section {i}"),
        };
        let range = usize::try_from(header.sh_offset)
            .ok()
            .zip(usize::try_from(header.sh_size).ok())
            .and_then(|(start, size)| Some(start..start.checked_add(size)?));
        range
            .and_then(|range| self.bytes.get(range))
            .ok_or_else(|| truncated(&what(), header.sh_offset, header.sh_size, self.bytes))
    }
}

fn check_ident(bytes: &[u8]) -> Result<(), LoadError> {
    const EI_NIDENT: usize = 16;
    const EI_CLASS: usize = 4;
    const EI_DATA: usize = 5;
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err(LoadError::NotElf(bytes.iter().take(4).copied().collect()));
    }
    if bytes.len() < EI_NIDENT {
        return Err(truncated("ELF identification", 0, EI_NIDENT as u64, bytes));
    }
    match (bytes[EI_CLASS], bytes[EI_DATA]) {
        (1, _) => Err(LoadError::NotElf64),
        (2, 1) => Ok(()),
        (2, 2) => Err(LoadError::BigEndian),
        (class, data) => Err(LoadError::BadIdent { class, data }),
    }
}

/// The section header table, checked to lie within the file.
fn section_headers(
    bytes: &[u8],
    shoff: u64,
    shnum: u16,
    shentsize: u16,
    ctx: Ctx,
) -> Result<Vec<SectionHeader>, LoadError> {
    if shoff == 0 {
        return Ok(Vec::new());
    }
    if u64::from(shentsize) != ELF64_SHDR_SIZE {
        let source = goblin::error::Error::Malformed(format!("e_shentsize is {shentsize}, expected {ELF64_SHDR_SIZE}"));
        return Err(malformed("ELF header", source));
    }
    // With more than 0xff00 sections the count is in section 0 (goblin reads
    // it); check at least that one header fits.
    let size = u64::from(shnum.max(1)) * ELF64_SHDR_SIZE;
    if shoff.checked_add(size).is_none_or(|end| end > bytes.len() as u64) {
        return Err(truncated("section header table", shoff, size, bytes));
    }
    SectionHeader::parse(bytes, shoff as usize, usize::from(shnum), ctx)
        .map_err(|source| malformed("section header table", source))
}

/// The slot at byte offset `offset`, if it is on a slot boundary.
fn slot_of(offset: u64) -> Option<InsnIdx> {
    if !offset.is_multiple_of(SLOT_SIZE as u64) {
        return None;
    }
    u32::try_from(offset / SLOT_SIZE as u64).ok().map(InsnIdx)
}

fn truncated(what: &str, offset: u64, size: u64, bytes: &[u8]) -> LoadError {
    LoadError::Truncated { what: what.to_string(), offset, size, file_len: bytes.len() }
}

fn malformed(what: &str, source: goblin::error::Error) -> LoadError {
    LoadError::Malformed { what: what.to_string(), source }
}
