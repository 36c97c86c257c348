//! Why an object does not load.

use bpfx_isa::DecodeError;

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
}
