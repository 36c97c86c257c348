//! `bpfx-loader`: BPF ELF objects as clang builds them (`clang -target bpf`)
//! for libbpf, taken as libbpf takes them.
//!
//! What it is:
//! - [`Object::parse`] reads an ELF64 little-endian `EM_BPF` relocatable
//!   object's structure: executable sections (decoded instructions, the
//!   symbols defined in them, their relocations), license and version;
//! - [`Object::load`] also reads its BTF ([`btf`]: `.BTF`, `.BTF.ext`),
//!   collects its maps (legacy `maps`, BTF-defined `.maps`, global data,
//!   `.kconfig`) as [`bpfx_isa::MapSpec`]s, resolves externs, applies CO-RE
//!   relocations against the target kernel's BTF, and links each program
//!   (an [`bpfx_isa::Program`]: its type from the section name by libbpf's
//!   conventions, subprograms appended, map references as indices into
//!   [`Object::maps`], func and line info).
//!
//! Every malformed input (not ELF, 32-bit, big-endian, another machine,
//! truncated, bad indices, undecodable instructions, unknown relocations,
//! bad map definitions, bad BTF) is a [`LoadError`] naming the section and
//! offset; loading never panics.
//!
//! What it is not: it executes nothing and makes no syscalls outside the
//! `kernel` module; it reads files only when a load needs the target's
//! BTF (`/sys/kernel/btf/vmlinux`) or kernel configuration.

pub mod btf;
mod co_re;
mod error;
mod externs;
#[cfg(target_os = "linux")]
pub mod kernel;
mod link;
mod load;
mod maps;
mod object;
mod sections;

pub use co_re::POISON_HELPER;
pub use error::LoadError;
pub use externs::{Extern, ExternKind, KconfigSource, KconfigType};
pub use load::{CoreSummary, LoadOptions, TargetBtf, VMLINUX_BTF};
pub use object::{Binding, CodeSection, Object, RelocKind, RelocSymbol, Relocation, SectionIndex, Symbol, SymbolKind};
pub use sections::{BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, SectionDef, section_def};
