//! `bpfx-isa`: the eBPF instruction set as data.
//!
//! What it is: the typed instruction ([`Insn`]) and its lossless
//! encoding to and from the kernel's 8-byte slots ([`decode`], [`encode`]),
//! the kernel ABI as tables ([`abi`]: helper ids and names, program and map
//! types), and the [`Program`] the verifier and engines receive.
//!
//! What it is not: it executes nothing, reads no files and makes no
//! syscalls. Decoding refuses what the kernel refuses *per instruction*
//! (unknown opcodes, reserved fields, bad registers, a split `lddw`);
//! whether a program is safe is the verifier's question.

pub mod abi;
pub mod asm;
pub mod decode;
pub mod disasm;
pub mod encode;
mod insn;
pub mod opcode;
mod program;
mod proven;
mod raw;
mod reg;

pub use asm::{AsmError, assemble};
pub use decode::{DecodeError, DecodeErrorKind, decode_bytes, decode_slots};
pub use encode::{encode_bytes, encode_slots};
pub use insn::*;
pub use program::{FuncInfo, FuncSig, LineInfo, MapIdx, MapSpec, ParamType, Pinning, Program, with_slots};
pub use proven::Proven;
pub use raw::{RawInsn, SLOT_SIZE, slots_from_bytes, slots_to_bytes};
pub use reg::{InsnIdx, Reg};
