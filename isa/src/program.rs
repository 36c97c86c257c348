//! A program as the engines and the verifier receive it.

use crate::abi::{MapType, ProgType};
use crate::insn::Insn;
use crate::reg::InsnIdx;

/// A map a program refers to. Instructions name maps by their index in
/// [`Program::maps`] (`lddw` with [`crate::LdImm64Kind::MapFd`] or
/// [`crate::LdImm64Kind::MapValue`], the index in the low half), as the kernel's
/// instructions name them by fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// Initial contents of the value of key 0, for global data (`.data`,
    /// `.rodata`, `.bss`) turned into single-entry arrays.
    pub initial_data: Option<Vec<u8>>,
}

/// An index into [`Program::maps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapIdx(pub u32);

/// A verifiable, runnable program: its instructions and what they refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The program's function name (or a name given by the user).
    pub name: String,
    pub prog_type: ProgType,
    pub insns: Vec<Insn>,
    pub maps: Vec<MapSpec>,
}

impl Program {
    /// A program of `prog_type` with no maps.
    pub fn new(name: impl Into<String>, prog_type: ProgType, insns: Vec<Insn>) -> Self {
        Program { name: name.into(), prog_type, insns, maps: Vec::new() }
    }

    /// Each instruction with the index of its first slot.
    pub fn slots(&self) -> impl Iterator<Item = (InsnIdx, &Insn)> {
        with_slots(&self.insns)
    }

    /// The program's length in slots (what the kernel calls `insn_cnt`).
    pub fn slot_count(&self) -> usize {
        self.insns.iter().map(Insn::slots).sum()
    }
}

/// Pairs each instruction of a sequence with the index of its first slot.
pub fn with_slots(insns: &[Insn]) -> impl Iterator<Item = (InsnIdx, &Insn)> {
    insns.iter().scan(0u32, |next, insn| {
        let at = InsnIdx(*next);
        *next += insn.slots() as u32;
        Some((at, insn))
    })
}
