//! `bpfx-loader`: BPF ELF objects as clang builds them (`clang -target bpf`).
//!
//! What it is: [`Object::parse`] reads an ELF64 little-endian `EM_BPF`
//! relocatable object into its executable sections — each with its decoded
//! instructions, the symbols defined in it and the relocations that apply to
//! it — and its license. Every malformed input (not ELF, 32-bit, big-endian,
//! another machine, truncated, bad indices, undecodable instructions) is a
//! [`LoadError`] naming the section and offset; parsing never panics.
//!
//! What it is not (yet): the loader issue grows this crate into programs,
//! maps, BTF and CO-RE relocation on top of the same [`Object`]; the bpf(2)
//! path will live in its own `kernel` module. It executes nothing.

mod error;
#[cfg(target_os = "linux")]
pub mod kernel;
mod object;

pub use error::LoadError;
pub use object::{Binding, CodeSection, Object, RelocKind, RelocSymbol, Relocation, SectionIndex, Symbol, SymbolKind};
