//! The opcode byte's fields, as the kernel's `linux/bpf_common.h` and
//! `linux/bpf.h` define them. Only `decode` and `encode` look at raw bits;
//! everything else works on [`crate::Insn`].

pub const CLASS_MASK: u8 = 0x07;
pub const LD: u8 = 0x00;
pub const LDX: u8 = 0x01;
pub const ST: u8 = 0x02;
pub const STX: u8 = 0x03;
pub const ALU: u8 = 0x04;
pub const JMP: u8 = 0x05;
pub const JMP32: u8 = 0x06;
pub const ALU64: u8 = 0x07;

/// ALU and JMP classes: operation (high nibble) and source (bit 3).
pub const OP_MASK: u8 = 0xf0;
pub const SRC_X: u8 = 0x08;

/// LD/LDX/ST/STX classes: size (bits 3-4) and mode (bits 5-7).
pub const SIZE_MASK: u8 = 0x18;
pub const MODE_MASK: u8 = 0xe0;
pub const SIZE_W: u8 = 0x00;
pub const SIZE_H: u8 = 0x08;
pub const SIZE_B: u8 = 0x10;
pub const SIZE_DW: u8 = 0x18;
pub const MODE_IMM: u8 = 0x00;
pub const MODE_ABS: u8 = 0x20;
pub const MODE_IND: u8 = 0x40;
pub const MODE_MEM: u8 = 0x60;
pub const MODE_MEMSX: u8 = 0x80;
pub const MODE_ATOMIC: u8 = 0xc0;

pub const ALU_NEG: u8 = 0x80;
pub const ALU_END: u8 = 0xd0;

pub const JMP_JA: u8 = 0x00;
pub const JMP_CALL: u8 = 0x80;
pub const JMP_EXIT: u8 = 0x90;
pub const JMP_JCOND: u8 = 0xe0;

/// `src_reg` values of `BPF_JMP | BPF_CALL`.
pub const PSEUDO_CALL: u8 = 1;
pub const PSEUDO_KFUNC_CALL: u8 = 2;

/// `src_reg` value of `BPF_JMP | BPF_JCOND` for `may_goto`.
pub const MAY_GOTO: u8 = 0;

/// `BPF_LD | BPF_IMM | BPF_DW`: the 16-byte load of a 64-bit immediate.
pub const LD_IMM64: u8 = LD | MODE_IMM | SIZE_DW;

/// Atomic operations (in `imm`); `FETCH` may be or-ed into add/or/and/xor.
pub const ATOMIC_FETCH: i32 = 0x01;
pub const ATOMIC_XCHG: i32 = 0xe0 | ATOMIC_FETCH;
pub const ATOMIC_CMPXCHG: i32 = 0xf0 | ATOMIC_FETCH;
pub const ATOMIC_LOAD_ACQ: i32 = 0x100;
pub const ATOMIC_STORE_REL: i32 = 0x110;
