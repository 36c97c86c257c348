//! [`Proven`]: what bpfx's verifier proved about one program, in the form
//! engines consume.
//!
//! The verifier and the engines never depend on each other (the CLI
//! composes them), so the facts an engine may rely on travel as data
//! defined here: the verifier produces them, an engine's `load_proven`
//! takes them. They are what the kernel's JIT relies on after its
//! verifier: an access the verifier proved inside its region needs no
//! runtime check, and a helper call whose map argument is one known map
//! can be specialised (the kernel inlines array lookups this way).
//!
//! The facts belong to the exact program they were proved for: a
//! [`Proven`] records the instructions, program type and map shapes it
//! was made from, and [`Proven::is_for`] must hold before an engine uses
//! it. Facts for another program would turn unchecked accesses into host
//! memory corruption.

use std::collections::{BTreeMap, BTreeSet};

use crate::abi::{AttachType, MapType, ProgType};
use crate::{Insn, InsnIdx, MapIdx, Program};

/// The shape of a map as far as proofs about it go: what the verifier
/// bounded accesses and lookups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MapShape {
    map_type: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
}

/// Facts the verifier proved about one program (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    prog_type: ProgType,
    expected_attach_type: Option<AttachType>,
    insns: Vec<Insn>,
    maps: Vec<MapShape>,
    /// Memory accesses (loads, stores, atomics; by slot index) that stay
    /// inside one region, writable when they write, on every path that
    /// reaches them.
    safe_accesses: BTreeSet<InsnIdx>,
    /// Helper calls whose `r1` is the same map on every path.
    call_maps: BTreeMap<InsnIdx, MapIdx>,
    /// Accesses made through the context pointer: what a context
    /// conversion rewrites. The verifier refuses an access that reaches the
    /// context on some paths only, as the kernel does.
    context_accesses: BTreeSet<InsnIdx>,
}

impl Proven {
    /// No facts yet about `program`.
    pub fn new(program: &Program) -> Proven {
        Proven {
            prog_type: program.prog_type,
            expected_attach_type: program.expected_attach_type,
            insns: program.insns.clone(),
            maps: program
                .maps
                .iter()
                .map(|m| MapShape {
                    map_type: m.map_type,
                    key_size: m.key_size,
                    value_size: m.value_size,
                    max_entries: m.max_entries,
                    flags: m.flags,
                })
                .collect(),
            safe_accesses: BTreeSet::new(),
            call_maps: BTreeMap::new(),
            context_accesses: BTreeSet::new(),
        }
    }

    /// Whether these facts were proved for `program`: the same
    /// instructions, program type, expected attach type and map shapes.
    pub fn is_for(&self, program: &Program) -> bool {
        let subject = Proven::new(program);
        self.prog_type == subject.prog_type
            && self.expected_attach_type == subject.expected_attach_type
            && self.insns == subject.insns
            && self.maps == subject.maps
    }

    /// These facts for `rewritten`, the program they were proved for with
    /// its context accesses converted (the runtime's conversion turns a
    /// `u32` load of `xdp_md.data` into a load of the real pointer, moves
    /// scalar fields): `Some` only when `rewritten` has the same program
    /// type, attach type, map shapes and instruction slots, differs from
    /// the proved program exactly at the accesses seen through the context
    /// pointer (each still a load, store or atomic through the same
    /// registers). Anything else — a context access left as it was, or
    /// another instruction changed — is not the program proved, and its
    /// unchecked accesses could land anywhere.
    pub fn carried_to(&self, rewritten: &Program) -> Option<Proven> {
        let subject = Proven::new(rewritten);
        let same_frame = self.prog_type == subject.prog_type
            && self.expected_attach_type == subject.expected_attach_type
            && self.maps == subject.maps
            && self.insns.len() == subject.insns.len();
        if !same_frame {
            return None;
        }
        let mut changed = BTreeSet::new();
        for ((at, old), new) in crate::with_slots(&self.insns).zip(&subject.insns) {
            if old == new {
                continue;
            }
            let same_access = match (*old, *new) {
                (Insn::Load { dst, src, .. }, Insn::Load { dst: d, src: s, .. }) => (dst, src) == (d, s),
                (Insn::Store { dst, src, .. }, Insn::Store { dst: d, src: s, .. }) => (dst, src) == (d, s),
                (Insn::Atomic { dst, src, .. }, Insn::Atomic { dst: d, src: s, .. }) => (dst, src) == (d, s),
                _ => false,
            };
            if !same_access {
                return None;
            }
            changed.insert(at);
        }
        (changed == self.context_accesses).then(|| Proven {
            safe_accesses: self.safe_accesses.clone(),
            call_maps: self.call_maps.clone(),
            context_accesses: self.context_accesses.clone(),
            ..subject
        })
    }

    /// Records that the access at `at` stays inside its region on every path.
    pub fn add_safe_access(&mut self, at: InsnIdx) {
        self.safe_accesses.insert(at);
    }

    /// Records that the helper call at `at` always receives map `map` in `r1`.
    pub fn add_call_map(&mut self, at: InsnIdx, map: MapIdx) {
        self.call_maps.insert(at, map);
    }

    /// Records that every visit of the access at `at` went through the
    /// context pointer.
    pub fn add_context_access(&mut self, at: InsnIdx) {
        self.context_accesses.insert(at);
    }

    /// The accesses made through the context pointer on every visit.
    pub fn context_accesses(&self) -> impl Iterator<Item = InsnIdx> + '_ {
        self.context_accesses.iter().copied()
    }

    /// Whether the access at `at` was proved to stay inside its region.
    pub fn access_is_safe(&self, at: InsnIdx) -> bool {
        self.safe_accesses.contains(&at)
    }

    /// The map the helper call at `at` always receives, when proved.
    pub fn call_map(&self, at: InsnIdx) -> Option<MapIdx> {
        self.call_maps.get(&at).copied()
    }

    /// How many accesses were proved safe.
    pub fn safe_access_count(&self) -> usize {
        self.safe_accesses.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    fn program(source: &str) -> Program {
        Program::new("p", ProgType::Xdp, assemble(source).unwrap())
    }

    #[test]
    fn facts_hold_only_for_the_program_they_were_proved_for() {
        let p = program("r0 = *(u32 *)(r1 + 0)\nexit");
        let mut proven = Proven::new(&p);
        proven.add_safe_access(InsnIdx(0));
        assert!(proven.is_for(&p));
        assert!(proven.access_is_safe(InsnIdx(0)) && !proven.access_is_safe(InsnIdx(1)));

        let other_insns = program("r0 = *(u32 *)(r1 + 4)\nexit");
        assert!(!proven.is_for(&other_insns));
        let mut other_type = p.clone();
        other_type.prog_type = ProgType::SocketFilter;
        assert!(!proven.is_for(&other_type));
        let mut other_attach = p.clone();
        other_attach.expected_attach_type = Some(AttachType::XdpDevmap);
        assert!(!proven.is_for(&other_attach));
    }

    /// Facts for an XDP program reading `data` (slot 0, through the
    /// context) and a stack slot (slot 1), as the verifier records them.
    fn xdp_facts() -> (Program, Proven) {
        let p = program("r0 = *(u32 *)(r1 + 0)\nr2 = *(u64 *)(r10 - 8)\nexit");
        let mut proven = Proven::new(&p);
        proven.add_safe_access(InsnIdx(0));
        proven.add_safe_access(InsnIdx(1));
        proven.add_call_map(InsnIdx(2), MapIdx(0));
        proven.add_context_access(InsnIdx(0));
        (p, proven)
    }

    #[test]
    fn facts_carry_to_a_rewrite_of_exactly_the_context_accesses() {
        let (p, proven) = xdp_facts();
        assert_eq!(proven.context_accesses().collect::<Vec<_>>(), [InsnIdx(0)]);
        let rewritten = program("r0 = *(u64 *)(r1 + 0)\nr2 = *(u64 *)(r10 - 8)\nexit");
        let carried = proven.carried_to(&rewritten).expect("the rewrite touches the context access only");
        assert!(carried.is_for(&rewritten) && !carried.is_for(&p));
        assert!(carried.access_is_safe(InsnIdx(0)) && carried.access_is_safe(InsnIdx(1)));
        assert_eq!(carried.call_map(InsnIdx(2)), Some(MapIdx(0)));
        assert_eq!(carried.context_accesses().collect::<Vec<_>>(), [InsnIdx(0)]);
    }

    #[test]
    fn facts_do_not_carry_to_any_other_rewrite() {
        let (p, proven) = xdp_facts();
        assert_eq!(proven.carried_to(&p), None, "nothing rewritten: the context access reads the uapi offset");
        for (why, source) in [
            ("a stack access rewritten instead", "r0 = *(u32 *)(r1 + 0)\nr2 = *(u64 *)(r10 - 16)\nexit"),
            ("a stack access rewritten too", "r0 = *(u64 *)(r1 + 0)\nr2 = *(u64 *)(r10 - 16)\nexit"),
            ("through another register", "r0 = *(u64 *)(r2 + 0)\nr2 = *(u64 *)(r10 - 8)\nexit"),
            ("no longer a load", "r0 = 0\nr2 = *(u64 *)(r10 - 8)\nexit"),
            ("an instruction more", "r0 = *(u64 *)(r1 + 0)\nr2 = *(u64 *)(r10 - 8)\nexit\nexit"),
        ] {
            assert_eq!(proven.carried_to(&program(source)), None, "{why}");
        }
        let rewritten = program("r0 = *(u64 *)(r1 + 0)\nr2 = *(u64 *)(r10 - 8)\nexit");
        let mut other_type = rewritten.clone();
        other_type.prog_type = ProgType::SchedCls;
        assert_eq!(proven.carried_to(&other_type), None, "another program type");
        assert!(proven.carried_to(&rewritten).is_some());
    }

    #[test]
    fn a_map_of_another_shape_voids_the_facts() {
        let mut p = program("r0 = 0\nexit");
        p.maps.push(crate::MapSpec {
            name: "m".into(),
            map_type: MapType::Array,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            ..Default::default()
        });
        let proven = Proven::new(&p);
        let mut bigger = p.clone();
        bigger.maps[0].max_entries = 8;
        assert!(proven.is_for(&p) && !proven.is_for(&bigger));
        let mut renamed = p.clone();
        renamed.maps[0].name = "n".into();
        assert!(proven.is_for(&renamed), "a map's name is not part of what was proved");
    }
}
