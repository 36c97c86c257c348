//! Why an object does not load.

use std::path::PathBuf;

use bpfx_isa::{DecodeError, InsnIdx};

use crate::btf::BtfError;

/// Why an object does not load. Positions are byte offsets in the file or
/// in the named section; the caller adds the file name.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not an ELF object (starts with {0:02x?})")]
    NotElf(Vec<u8>),
    #[error("invalid ELF identification: class {class}, data encoding {data}")]
    BadIdent { class: u8, data: u8 },
    #[error("32-bit ELF object: BPF objects are ELF64")]
    NotElf64,
    #[error(
        "big-endian ELF object: bpfx reads little-endian BPF objects (clang -target bpf on a little-endian host, or bpfel)"
    )]
    BigEndian,
    #[error("not a BPF object: e_machine is {0} (EM_BPF is 247)")]
    NotBpf(u16),
    #[error("{what} at {offset:#x} ({size:#x} bytes) lies past the end of the file ({file_len:#x} bytes)")]
    Truncated { what: String, offset: u64, size: u64, file_len: usize },
    /// A table goblin could not parse, with what it was.
    #[error("malformed {what}")]
    Malformed {
        what: String,
        #[source]
        source: goblin::error::Error,
    },
    #[error("{what} names section {index}, but the object has {count} sections")]
    BadSectionIndex { what: String, index: u64, count: usize },
    #[error("{what} has name offset {offset:#x}, outside its string table")]
    BadName { what: String, offset: usize },
    #[error(
        "section {section}: symbol {name} at {offset:#x} is not on an instruction boundary (section size {size:#x})"
    )]
    BadSymbol { section: String, name: String, offset: u64, size: u64 },
    #[error("section {section}: relocation {index} at {offset:#x} is not on an instruction in the section")]
    BadRelocOffset { section: String, index: usize, offset: u64 },
    #[error("section {section}: relocation {index} names symbol {symbol}, but the symbol table has {count}")]
    BadRelocSymbol { section: String, index: usize, symbol: usize, count: usize },
    #[error("section {section}")]
    Decode {
        section: String,
        #[source]
        source: DecodeError,
    },
    #[error("license section is not a NUL-terminated UTF-8 string")]
    BadLicense,
    #[error("version section is {0} bytes, not 4")]
    BadVersion(usize),
    #[error("section {section} {source}")]
    Btf {
        section: String,
        #[source]
        source: BtfError,
    },
    /// A `DATASEC` of the object's BTF that does not describe its ELF section.
    #[error("BTF data section {datasec}: {reason}")]
    BadDatasec { datasec: String, reason: String },
    #[error("section {section}: map {name} at {offset:#x}: {reason}")]
    BadMap { section: String, name: String, offset: u64, reason: String },
    #[error("section {section}: relocation {index} at {offset:#x} has unknown type {r_type}")]
    UnknownRelocation { section: String, index: usize, offset: u64, r_type: u32 },
    #[error("section {section}: relocation {index} at {offset:#x} against {symbol}: {reason}")]
    BadRelocation { section: String, index: usize, offset: u64, symbol: String, reason: String },
    #[error("section {section}: program {name}: {reason}")]
    BadProgram { section: String, name: String, reason: String },
    #[error("extern {name}: {reason}")]
    Extern { name: String, reason: String },
    /// A CO-RE relocation that cannot be applied (libbpf refuses the object
    /// for these; one whose target is merely missing poisons the
    /// instruction instead).
    #[error("section {section}: CO-RE relocation {index} ({kind}) at insn {at}: {reason}")]
    Core { section: String, index: usize, kind: &'static str, at: InsnIdx, reason: String },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("target BTF {path} {source}")]
    TargetBtf {
        path: PathBuf,
        #[source]
        source: BtfError,
    },
    #[error("{what} is needed, but {reason}")]
    Unavailable { what: &'static str, reason: String },
}
