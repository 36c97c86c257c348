//! A program as the engines and the verifier receive it.

use crate::abi::{AttachType, MapType, ProgType};
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
    /// `.rodata`, `.kconfig`) turned into single-entry arrays; `None` is
    /// zeros (`.bss`).
    pub initial_data: Option<Vec<u8>>,
    /// The key's type id in the object's BTF (`btf_key_type_id`); 0 when the
    /// map declares only a size.
    pub btf_key_type_id: u32,
    /// The value's type id in the object's BTF (`btf_value_type_id`; a
    /// `DATASEC` for global data); 0 when the map declares only a size.
    pub btf_value_type_id: u32,
    /// The definition of the maps a map-in-map holds, when the object gives
    /// one (`__array(values, struct {...})`).
    pub inner_map: Option<Box<MapSpec>>,
    /// Entries a map-in-map or program array starts with (`values = { [i] =
    /// &x }`): the index and the name of the map, or the program's function.
    pub initial_slots: Vec<(u32, String)>,
    pub pinning: Pinning,
    /// The NUMA node to allocate on (`BPF_F_NUMA_NODE`), when given.
    pub numa_node: Option<u32>,
    /// `map_extra` (a bloom filter's hash count, an arena's address).
    pub map_extra: u64,
}

impl Default for MapSpec {
    /// An unnamed `unspec` map of zero sizes, for `..MapSpec::default()`.
    fn default() -> Self {
        MapSpec {
            name: String::new(),
            map_type: MapType::Unspec,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            flags: 0,
            initial_data: None,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            inner_map: None,
            initial_slots: Vec::new(),
            pinning: Pinning::None,
            numa_node: None,
            map_extra: 0,
        }
    }
}

/// Where a map is pinned in bpffs (libbpf's `LIBBPF_PIN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pinning {
    #[default]
    None,
    /// Under the pin root (`/sys/fs/bpf` by default) by the map's name,
    /// reused if already there.
    ByName,
}

/// An index into [`Program::maps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapIdx(pub u32);

/// A function of a program (`bpf_func_info`): where it starts and its
/// `FUNC` type in the object's BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    pub at: InsnIdx,
    pub name: String,
    pub btf_type_id: u32,
    /// Whether the function is global (`BTF_FUNC_GLOBAL`): the kernel
    /// verifies a global function once, on its own, from its BTF argument
    /// types, not at each call with the caller's values.
    pub global: bool,
    /// The function's prototype as the kernel reads it from BTF, when the
    /// loader had the object's BTF (a global function is judged by it).
    pub sig: Option<FuncSig>,
}

/// A function's BTF prototype, in the terms the kernel's verifier uses for
/// a global function (`btf_prepare_func_args`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncSig {
    /// Whether the return type is an integer or an enum (the kernel
    /// verifies no global function returning anything else).
    pub returns_scalar: bool,
    pub params: Vec<ParamType>,
}

/// One parameter of a [`FuncSig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    /// An integer or an enum.
    Scalar,
    /// A pointer: the struct it points to, if it does (modifiers and
    /// typedefs skipped), and the pointee's size, if it has one.
    Pointer { to_struct: Option<String>, size: Option<u32> },
    /// Anything else: a `arg:` decl tag, a float or struct passed by value,
    /// a pointer the kernel reads by its tags.
    Other,
}

/// The source position of the instructions from `at` up to the next record
/// (`bpf_line_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInfo {
    pub at: InsnIdx,
    pub file: String,
    /// 1-based; 0 when the compiler gives none.
    pub line: u32,
    pub column: u32,
    /// The source line's text, as the compiler recorded it.
    pub source: String,
    /// The offsets of `file` and `source` in the string table of the
    /// object's BTF, for `BPF_PROG_LOAD`'s `line_info`.
    pub file_name_off: u32,
    pub line_off: u32,
}

/// A verifiable, runnable program: its instructions and what they refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The program's function name (or a name given by the user).
    pub name: String,
    pub prog_type: ProgType,
    pub insns: Vec<Insn>,
    pub maps: Vec<MapSpec>,
    /// The ELF section it came from (`xdp`, `kprobe/do_unlinkat`); empty
    /// for a program that did not come from an object.
    pub section: String,
    /// `expected_attach_type`, when the section names one.
    pub expected_attach_type: Option<AttachType>,
    /// `BPF_PROG_LOAD`'s `prog_flags` (`BPF_F_SLEEPABLE`,
    /// `BPF_F_XDP_HAS_FRAGS`).
    pub prog_flags: u32,
    /// The object's license (`GPL`); empty when it has none.
    pub license: String,
    /// The object's `version` section (`kern_version`), 0 when absent.
    pub kernel_version: u32,
    /// The program's functions, in instruction order, the first at 0; empty
    /// without BTF.
    pub func_info: Vec<FuncInfo>,
    /// Source positions, in instruction order; empty without BTF.
    pub line_info: Vec<LineInfo>,
}

impl Program {
    /// A program of `prog_type` with no maps.
    pub fn new(name: impl Into<String>, prog_type: ProgType, insns: Vec<Insn>) -> Self {
        Program {
            name: name.into(),
            prog_type,
            insns,
            maps: Vec::new(),
            section: String::new(),
            expected_attach_type: None,
            prog_flags: 0,
            license: String::new(),
            kernel_version: 0,
            func_info: Vec::new(),
            line_info: Vec::new(),
        }
    }

    /// Each instruction with the index of its first slot.
    pub fn slots(&self) -> impl Iterator<Item = (InsnIdx, &Insn)> {
        with_slots(&self.insns)
    }

    /// The program's length in slots (what the kernel calls `insn_cnt`).
    pub fn slot_count(&self) -> usize {
        self.insns.iter().map(Insn::slots).sum()
    }

    /// The source position of slot `at`: the last line record at or before it.
    pub fn line_at(&self, at: InsnIdx) -> Option<&LineInfo> {
        let after = self.line_info.partition_point(|l| l.at <= at);
        after.checked_sub(1).map(|i| &self.line_info[i])
    }

    /// The function slot `at` belongs to: the last function starting at or
    /// before it.
    pub fn func_at(&self, at: InsnIdx) -> Option<&FuncInfo> {
        let after = self.func_info.partition_point(|f| f.at <= at);
        after.checked_sub(1).map(|i| &self.func_info[i])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: u32, line: u32) -> LineInfo {
        LineInfo {
            at: InsnIdx(at),
            file: "a.c".into(),
            line,
            column: 1,
            source: String::new(),
            file_name_off: 0,
            line_off: 0,
        }
    }

    #[test]
    fn line_and_function_lookups_take_the_last_record_at_or_before() {
        let exit = Insn::Exit;
        let mut program = Program::new("p", ProgType::Xdp, vec![exit; 6]);
        program.line_info = vec![line(0, 10), line(2, 11), line(5, 12)];
        program.func_info = vec![
            FuncInfo { at: InsnIdx(0), name: "p".into(), btf_type_id: 3, global: true, sig: None },
            FuncInfo { at: InsnIdx(4), name: "f".into(), btf_type_id: 4, global: false, sig: None },
        ];
        let lines: Vec<u32> = (0..6).map(|i| program.line_at(InsnIdx(i)).unwrap().line).collect();
        assert_eq!(lines, [10, 10, 11, 11, 11, 12]);
        assert_eq!(program.func_at(InsnIdx(3)).unwrap().name, "p");
        assert_eq!(program.func_at(InsnIdx(4)).unwrap().name, "f");
        let bare = Program::new("q", ProgType::Xdp, vec![exit]);
        assert_eq!((bare.line_at(InsnIdx(0)), bare.func_at(InsnIdx(0))), (None, None));
    }
}
