//! `bpfx-testkit`: what bpfx's differential tests and fuzz targets share.
//!
//! What it is: the reader of the conformance suite's `.data` files
//! ([`conformance`]) and of the verifier's corpus ([`corpus`]), the oracle
//! that runs one program on the interpreter and on the JIT and compares
//! everything they leave behind ([`diff`]), the same with the JIT loaded
//! with the verifier's facts ([`proven`]), and a generator of programs
//! from unstructured bytes and of test frames ([`generate`]), which both
//! proptest (with a fixed seed in `cargo test`) and cargo-fuzz drive; and a
//! pair of network namespaces joined by a veth for tests that attach
//! programs to interfaces ([`netns`], Linux).
//!
//! What it is not: part of any engine. Only tests, fuzz targets and benches
//! depend on it.

pub mod conformance;
pub mod corpus;
pub mod diff;
pub mod generate;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod proven;
