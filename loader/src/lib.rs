//! `bpfx-loader`: BPF ELF objects as clang builds them (`clang -target bpf`)
//! for libbpf, taken as libbpf takes them.
//!
//! What it is:
//! - [`Object::parse`] reads an ELF64 little-endian `EM_BPF` relocatable
//!   object's structure: executable sections (decoded instructions, the
//!   symbols defined in them, their relocations and CO-RE relocations),
//!   license and version — what a listing needs;
//! - [`Object::load`] also reads its BTF ([`btf`]: `.BTF`, `.BTF.ext`) and
//!   prepares it for the kernel as libbpf does, collects its maps (legacy
//!   `maps`, BTF-defined `.maps`, global data, `.kconfig`) as
//!   [`bpfx_isa::MapSpec`]s, resolves `.kconfig` and `.ksyms` externs,
//!   applies CO-RE relocations against the target kernel's BTF, and links
//!   each program into a [`bpfx_isa::Program`]: its type from the section
//!   name by libbpf's conventions ([`section_def`]), subprograms appended
//!   in libbpf's order, the maps it uses with `lddw`s indexing them, func
//!   and line info. [`LoadOptions`] chooses the target BTF and kconfig
//!   values; [`LoadOptions::as_compiled`] reads nothing from the machine.
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
