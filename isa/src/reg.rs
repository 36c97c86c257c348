//! Registers and instruction indices.

use std::fmt;

/// One of the eleven eBPF registers, `r0`..=`r10`.
///
/// `r10` is the read-only frame pointer; that rule belongs to the verifier,
/// so a `Reg` may name it in any position the encoding allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The frame pointer.
    pub const R10: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;

    /// The register numbered `n`, if there is one.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// The register's number, 0..=10.
    pub const fn num(self) -> u8 {
        self.0
    }

    /// The register's number as an index, for register files.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// All registers in order.
    pub fn all() -> impl Iterator<Item = Reg> {
        (0..=10).map(Reg)
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// The index of an instruction slot in a program: what the kernel's verifier
/// log calls an instruction number. A 16-byte `lddw` takes two slots, so
/// indices are not dense in instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InsnIdx(pub u32);

impl InsnIdx {
    /// The slot index as a `usize`, for indexing slot tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The byte offset of this slot in the program's encoding.
    pub const fn byte_offset(self) -> usize {
        self.0 as usize * crate::SLOT_SIZE
    }

    /// The slot `delta` slots away (`delta` may be negative), if it is not
    /// before the start of the program.
    pub fn offset(self, delta: i64) -> Option<InsnIdx> {
        let target = i64::from(self.0).checked_add(delta)?;
        u32::try_from(target).ok().map(InsnIdx)
    }
}

impl fmt::Display for InsnIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
