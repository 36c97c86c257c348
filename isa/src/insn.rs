//! The typed view of an instruction.
//!
//! Each operation family is described once, in a table below (encoding,
//! LLVM's operator, the conformance suite's mnemonic); the decoder, encoder,
//! assembler and disassembler all read these tables, so a new operation is a
//! new row and every `match` over it stops compiling until it is handled.

use crate::reg::Reg;

/// Defines an operation enum from a table of
/// `Variant = (opcode bits, off), "llvm operator", "mnemonic"` rows.
macro_rules! op_table {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = ($code:expr, $off:expr), $llvm:literal, $mnemonic:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every operation, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The operation bits of the opcode and the `off` field that select it.
            pub const fn encoding(self) -> (u8, i16) {
                match self { $($name::$variant => ($code, $off),)* }
            }

            /// The operation that opcode bits `code` and `off` select, if any.
            pub fn from_encoding(code: u8, off: i16) -> Option<Self> {
                Self::ALL.iter().copied().find(|op| op.encoding() == (code, off))
            }

            /// The operator in LLVM's BPF assembly syntax.
            pub const fn llvm_op(self) -> &'static str {
                match self { $($name::$variant => $llvm,)* }
            }

            /// The mnemonic in the conformance suite's (uBPF) syntax.
            pub const fn mnemonic(self) -> &'static str {
                match self { $($name::$variant => $mnemonic,)* }
            }
        }
    };
}

op_table! {
    /// A two-operand ALU operation (`dst = dst OP src`, or a move).
    pub enum AluOp {
        Add = (0x00, 0), "+=", "add";
        Sub = (0x10, 0), "-=", "sub";
        Mul = (0x20, 0), "*=", "mul";
        /// Unsigned division; division by zero yields 0.
        Div = (0x30, 0), "/=", "div";
        /// Signed division (v4); division by zero yields 0, `MIN / -1` is `MIN`.
        SDiv = (0x30, 1), "s/=", "sdiv";
        Or = (0x40, 0), "|=", "or";
        And = (0x50, 0), "&=", "and";
        Lsh = (0x60, 0), "<<=", "lsh";
        Rsh = (0x70, 0), ">>=", "rsh";
        /// Unsigned modulo; modulo by zero leaves `dst` unchanged.
        Mod = (0x90, 0), "%=", "mod";
        /// Signed modulo (v4); the result has the dividend's sign.
        SMod = (0x90, 1), "s%=", "smod";
        Xor = (0xa0, 0), "^=", "xor";
        Mov = (0xb0, 0), "=", "mov";
        /// Move, sign-extending the source's low 8 bits (v4).
        MovSx8 = (0xb0, 8), "= (s8)", "movsx8";
        /// Move, sign-extending the source's low 16 bits (v4).
        MovSx16 = (0xb0, 16), "= (s16)", "movsx16";
        /// Move, sign-extending the source's low 32 bits (v4, 64-bit only).
        MovSx32 = (0xb0, 32), "= (s32)", "movsx32";
        Arsh = (0xc0, 0), "s>>=", "arsh";
    }
}

op_table! {
    /// The condition of a conditional jump.
    pub enum JmpCond {
        Eq = (0x10, 0), "==", "jeq";
        Gt = (0x20, 0), ">", "jgt";
        Ge = (0x30, 0), ">=", "jge";
        /// Jump if `dst & src != 0`.
        Set = (0x40, 0), "&", "jset";
        Ne = (0x50, 0), "!=", "jne";
        Sgt = (0x60, 0), "s>", "jsgt";
        Sge = (0x70, 0), "s>=", "jsge";
        Lt = (0xa0, 0), "<", "jlt";
        Le = (0xb0, 0), "<=", "jle";
        Slt = (0xc0, 0), "s<", "jslt";
        Sle = (0xd0, 0), "s<=", "jsle";
    }
}

impl JmpCond {
    /// Evaluates the condition on operands already narrowed to the jump's
    /// width (`width` says how to read their sign).
    pub fn holds(self, width: Width, a: u64, b: u64) -> bool {
        let (sa, sb) = match width {
            Width::W32 => (i64::from(a as i32), i64::from(b as i32)),
            Width::W64 => (a as i64, b as i64),
        };
        let (a, b) = match width {
            Width::W32 => (u64::from(a as u32), u64::from(b as u32)),
            Width::W64 => (a, b),
        };
        match self {
            JmpCond::Eq => a == b,
            JmpCond::Gt => a > b,
            JmpCond::Ge => a >= b,
            JmpCond::Set => a & b != 0,
            JmpCond::Ne => a != b,
            JmpCond::Sgt => sa > sb,
            JmpCond::Sge => sa >= sb,
            JmpCond::Lt => a < b,
            JmpCond::Le => a <= b,
            JmpCond::Slt => sa < sb,
            JmpCond::Sle => sa <= sb,
        }
    }
}

op_table! {
    /// An atomic read-modify-write (the `imm` of `BPF_STX | BPF_ATOMIC`).
    /// The `off` column is unused (0); the operation is the `imm` value.
    pub enum AtomicOp {
        Add = (0x00, 0), "+=", "add";
        Or = (0x40, 0), "|=", "or";
        And = (0x50, 0), "&=", "and";
        Xor = (0xa0, 0), "^=", "xor";
        FetchAdd = (0x01, 0), "atomic_fetch_add", "fetch add";
        FetchOr = (0x41, 0), "atomic_fetch_or", "fetch or";
        FetchAnd = (0x51, 0), "atomic_fetch_and", "fetch and";
        FetchXor = (0xa1, 0), "atomic_fetch_xor", "fetch xor";
        /// Exchange: `src = xchg(mem, src)`.
        Xchg = (0xe1, 0), "xchg", "xchg";
        /// Compare-and-exchange: `r0 = cmpxchg(mem, r0, src)`.
        CmpXchg = (0xf1, 0), "cmpxchg", "cmpxchg";
    }
}

impl AtomicOp {
    /// Whether the old memory value is written back to a register.
    pub const fn fetches(self) -> bool {
        !matches!(self, AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor)
    }

    /// The `imm` field that encodes the operation.
    pub const fn imm(self) -> i32 {
        self.encoding().0 as i32
    }

    /// The operation that `imm` encodes, if any.
    pub fn from_imm(imm: i32) -> Option<Self> {
        u8::try_from(imm).ok().and_then(|code| Self::from_encoding(code, 0))
    }
}

/// The width of an ALU or JMP operation: the `BPF_ALU`/`BPF_JMP32` classes
/// work on the low 32 bits (an ALU32 result zero-extends), `BPF_ALU64`/`BPF_JMP`
/// on all 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    W32,
    W64,
}

/// The size of a memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

    /// The access size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The C type LLVM's syntax uses for an access of this size.
    pub const fn c_type(self, signed: bool) -> &'static str {
        match (self, signed) {
            (Size::B, false) => "u8",
            (Size::H, false) => "u16",
            (Size::W, false) => "u32",
            (Size::DW, false) => "u64",
            (Size::B, true) => "s8",
            (Size::H, true) => "s16",
            (Size::W, true) => "s32",
            (Size::DW, true) => "s64",
        }
    }

    /// The suffix the conformance syntax gives this size (`ldxb`, `stdw`).
    pub const fn suffix(self) -> &'static str {
        match self {
            Size::B => "b",
            Size::H => "h",
            Size::W => "w",
            Size::DW => "dw",
        }
    }
}

/// The second operand of an ALU operation, conditional jump or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Src {
    Reg(Reg),
    Imm(i32),
}

/// What a byte-swap instruction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// `le16/32/64`: convert from host (little-endian) order — on a
    /// little-endian machine, truncation to the width.
    ToLe,
    /// `be16/32/64`: convert to big-endian order.
    ToBe,
    /// `bswap16/32/64` (v4, `BPF_ALU64 | BPF_END`): unconditional swap.
    Swap,
}

impl Endian {
    pub const ALL: [Endian; 3] = [Endian::ToLe, Endian::ToBe, Endian::Swap];

    /// The mnemonic's stem in both syntaxes: `le`, `be`, `bswap`.
    pub const fn name(self) -> &'static str {
        match self {
            Endian::ToLe => "le",
            Endian::ToBe => "be",
            Endian::Swap => "bswap",
        }
    }

    /// Reads a full mnemonic such as `be16` or `bswap64`.
    pub fn from_mnemonic(m: &str) -> Option<(Endian, SwapBits)> {
        Self::ALL.into_iter().find_map(|kind| {
            let bits = m.strip_prefix(kind.name())?;
            if bits.starts_with(['+', '-']) {
                return None;
            }
            Some((kind, SwapBits::from_bits(bits.parse().ok()?)?))
        })
    }
}

/// The width of a byte swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwapBits {
    B16 = 16,
    B32 = 32,
    B64 = 64,
}

impl SwapBits {
    pub const fn bits(self) -> u32 {
        self as u32
    }

    pub fn from_bits(bits: i32) -> Option<Self> {
        match bits {
            16 => Some(SwapBits::B16),
            32 => Some(SwapBits::B32),
            64 => Some(SwapBits::B64),
            _ => None,
        }
    }
}

/// What the 64-bit immediate of an `lddw` means (its `src_reg`, the
/// kernel's `BPF_PSEUDO_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LdImm64Kind {
    /// A plain 64-bit constant.
    Imm = 0,
    /// `BPF_PSEUDO_MAP_FD`: the low half is a map fd; loads the map pointer.
    MapFd = 1,
    /// `BPF_PSEUDO_MAP_VALUE`: a map fd (low half) and an offset into its
    /// value (high half); loads the address of that byte.
    MapValue = 2,
    /// `BPF_PSEUDO_BTF_ID`: a kernel variable by BTF id (low half), in the
    /// BTF object the high half names (0: vmlinux).
    BtfId = 3,
    /// `BPF_PSEUDO_FUNC`: the address of a subprogram, the low half being
    /// its offset in slots from the lddw's second slot (the kernel's `i +
    /// imm + 1`, as for a call; libbpf and clang's objects count so).
    Func = 4,
    /// `BPF_PSEUDO_MAP_IDX`: like `MapFd`, with an index into the fd array.
    MapIdx = 5,
    /// `BPF_PSEUDO_MAP_IDX_VALUE`: like `MapValue`, with a map index.
    MapIdxValue = 6,
}

impl LdImm64Kind {
    pub const ALL: [LdImm64Kind; 7] = [
        LdImm64Kind::Imm,
        LdImm64Kind::MapFd,
        LdImm64Kind::MapValue,
        LdImm64Kind::BtfId,
        LdImm64Kind::Func,
        LdImm64Kind::MapIdx,
        LdImm64Kind::MapIdxValue,
    ];

    pub fn from_src(src: u8) -> Option<Self> {
        Self::ALL.get(usize::from(src)).copied()
    }

    /// Whether the high half of the immediate carries meaning; where it does
    /// not, the kernel requires it to be zero.
    pub const fn uses_high_half(self) -> bool {
        matches!(self, LdImm64Kind::Imm | LdImm64Kind::MapValue | LdImm64Kind::BtfId | LdImm64Kind::MapIdxValue)
    }
}

/// What a `call` instruction calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// A helper function by the kernel's id (`src_reg = 0`).
    Helper(HelperId),
    /// A bpf-to-bpf call (`src_reg = BPF_PSEUDO_CALL`): `imm` slots after
    /// the next instruction.
    Local(i32),
    /// A kernel function by BTF id (`src_reg = BPF_PSEUDO_KFUNC_CALL`);
    /// `module` is the `off` field, an index into the fd array of module BTFs
    /// (0: vmlinux).
    Kfunc { btf_id: u32, module: i16 },
}

/// A helper function's id, in the kernel's numbering (`BPF_FUNC_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HelperId(pub u32);

/// A legacy packet load (`BPF_LD | BPF_ABS/IND`), which reads network-order
/// data from the socket buffer in r6 into r0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketLoad {
    /// `r0 = ntoh(*(size *)(skb->data + imm))`.
    Abs,
    /// `r0 = ntoh(*(size *)(skb->data + src + imm))`.
    Ind(Reg),
}

/// One eBPF instruction, decoded.
///
/// Jump and call offsets are kept as encoded: in slots, relative to the
/// slot after the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Insn {
    /// `dst = dst OP src` (or `dst = src` for the moves).
    Alu { width: Width, op: AluOp, dst: Reg, src: Src },
    /// `dst = -dst`.
    Neg { width: Width, dst: Reg },
    /// Byte swap of `dst`'s low `bits` bits.
    Endian { kind: Endian, bits: SwapBits, dst: Reg },
    /// `lddw`: a 64-bit immediate in two slots.
    LdImm64 { dst: Reg, kind: LdImm64Kind, imm: u64 },
    /// `dst = *(size *)(src + off)`, sign-extending if `signed` (v4).
    Load { size: Size, signed: bool, dst: Reg, src: Reg, off: i16 },
    /// `*(size *)(dst + off) = src` (`BPF_ST` for an immediate, `BPF_STX` for
    /// a register).
    Store { size: Size, dst: Reg, off: i16, src: Src },
    /// An atomic read-modify-write on `*(size *)(dst + off)` (W or DW).
    Atomic { size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16 },
    /// An unconditional jump. `wide` is the v4 `gotol` (`BPF_JMP32 | BPF_JA`)
    /// whose offset lives in `imm`; otherwise `off` holds it.
    Ja { off: i32, wide: bool },
    /// `if dst COND src goto +off`.
    Jump { width: Width, cond: JmpCond, dst: Reg, src: Src, off: i16 },
    /// `may_goto +off`: taken once the loop budget the kernel keeps on the
    /// stack runs out.
    MayGoto { off: i16 },
    /// `call`.
    Call(CallTarget),
    /// `callx reg`: a helper whose id is in `reg` (the `callx` conformance
    /// group; the kernel does not accept it).
    Callx { reg: Reg },
    /// `exit`: return r0 from the current function.
    Exit,
    /// A legacy packet load into r0.
    PacketLoad { mode: PacketLoad, size: Size, imm: i32 },
}

impl Insn {
    /// The number of 8-byte slots the instruction takes (2 for `lddw`).
    pub const fn slots(&self) -> usize {
        match self {
            Insn::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The slot-relative target of a jump, local call or function
    /// reference: the offset to add to the index of the slot after the
    /// instruction (`at + slots() + offset`). `None` for other instructions.
    pub fn branch_offset(&self) -> Option<i64> {
        match *self {
            Insn::Ja { off, .. } => Some(i64::from(off)),
            Insn::Jump { off, .. } | Insn::MayGoto { off } => Some(i64::from(off)),
            Insn::Call(CallTarget::Local(off)) => Some(i64::from(off)),
            // The kernel counts from the lddw's second slot (`i + imm + 1`),
            // one before the next instruction.
            Insn::LdImm64 { kind: LdImm64Kind::Func, imm, .. } => Some(i64::from(imm as u32 as i32) - 1),
            _ => None,
        }
    }
}
