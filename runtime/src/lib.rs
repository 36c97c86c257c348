//! `bpfx-runtime`: the contract between bpfx's engines.
//!
//! What it is: everything the interpreter and the JIT must agree on — the
//! memory regions a program may touch, maps with the kernel's semantics,
//! helpers by the kernel's ids, and the [`Engine`] trait.
//!
//! What it is not: an engine. It never executes instructions, and it never
//! makes a syscall (the kernel path lives in `bpfx-loader`).

pub mod maps;
