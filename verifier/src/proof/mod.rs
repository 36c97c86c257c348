//! What the walk proves for the engines: the facts of an accepted program
//! as a [`Proven`] (the memory accesses that need no run-time check, the
//! map each map helper call receives).
//!
//! The verifier checks each access against the kernel's notion of its
//! pointer's region; an engine skips its check against bpfx's runtime
//! regions. So an access is marked only where the two are known to agree,
//! kind by kind, as the runtime lays its regions out
//! (`runtime/src/region.rs`, `runtime.rs`, `context/`, `maps/`):
//!
//! - stack: the runtime's stack region covers every live frame, 512 bytes
//!   each, and the verifier bounds an access within its frame's 512 bytes;
//! - context, packet and packet metadata: only in the program types whose
//!   context the runtime builds and converts ([`ProgType::runs_on_packet`];
//!   every other type runs on raw `--mem` bytes); the context region holds the uapi struct (read-only for XDP, where the kernel
//!   allows no write), the packet regions are `data..data_end` and
//!   `data_meta..data`, which is what the verifier's ranges are proved
//!   against;
//! - map values of arrays, hashes (per-CPU, LRU) and LPM tries: a value
//!   lies inside its map's memory, which is writable unless
//!   `BPF_F_RDONLY_PROG` (and the verifier refuses writes then);
//! - ring buffer records: inside the ring's memory, writable.
//!
//! Not marked: map keys handed to callbacks (helper scratch), memory a
//! global function receives (it may be any of the above, and is checked
//! only by the caller), sockets, the context of any other program type
//! (a raw program's `--mem` bytes have no size the verifier knows), maps
//! of other types, and the legacy packet loads, which the engines always
//! check. One visit of an access with an unmarked kind clears the mark
//! for good; a path cut short by pruning is covered by the state that
//! subsumed it, whose pointers have the same kinds.
//!
//! The facts also say which accesses went through the context pointer
//! (on every visit, or on some only). The runtime rewrites context
//! accesses before a program runs, as the kernel does, and the facts carry
//! over to the rewritten program only when it rewrote exactly those
//! ([`Proven::carried_to`]); a program it attributes otherwise runs with
//! every access checked, since it is not the program proved.

use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{InsnIdx, MapIdx, Program, Proven};

use crate::state::{RegState, RegType};

/// `BPF_F_RDONLY_PROG`: the runtime makes the map's memory read-only.
const MAP_RDONLY_PROG: u32 = 1 << 7;

/// The map the visits of one helper call passed in `r1`, so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallMap {
    Never,
    Always(u32),
    /// Two visits passed different maps: no fact, whatever later visits
    /// pass.
    Varies,
}

impl CallMap {
    fn see(&mut self, map: u32) {
        *self = match *self {
            CallMap::Never => CallMap::Always(map),
            CallMap::Always(m) if m == map => CallMap::Always(m),
            _ => CallMap::Varies,
        };
    }
}

/// What the visits of one access showed, as bits: whether some visit was
/// safe, some not, and whether the pointer was the context (the walk
/// refuses an access that reaches the context on some visits only, as the
/// kernel does, so in an accepted program that is every visit).
mod seen {
    pub const SAFE: u8 = 1;
    pub const UNSAFE: u8 = 2;
    pub const CTX: u8 = 4;
}

/// The facts gathered during one verification.
pub(crate) struct Proofs {
    /// Per slot: what the visits of the access there showed ([`seen`]).
    accesses: Vec<u8>,
    /// Per slot: the map in `r1` at every visit of a map helper call.
    calls: Vec<CallMap>,
}

impl Proofs {
    pub(crate) fn new(prog: &Program) -> Proofs {
        let slots = prog.slot_count();
        Proofs { accesses: vec![0; slots], calls: vec![CallMap::Never; slots] }
    }

    /// One visit of the access at `at` through `p` (the pointer before the
    /// access), which the verifier found safe by the kernel's rules.
    pub(crate) fn access(&mut self, prog: &Program, at: InsnIdx, p: &RegState, write: bool) {
        let safe = match p.ty {
            RegType::Stack { .. } => true,
            // The runtime's XDP context region is read-only.
            RegType::Ctx => prog.prog_type.runs_on_packet() && !(write && prog.prog_type == ProgType::Xdp),
            RegType::Packet | RegType::PacketMeta => prog.prog_type.runs_on_packet(),
            RegType::MapValue { map } => prog.maps.get(map as usize).is_some_and(|m| {
                matches!(
                    m.map_type,
                    MapType::Array
                        | MapType::PercpuArray
                        | MapType::Hash
                        | MapType::PercpuHash
                        | MapType::LruHash
                        | MapType::LruPercpuHash
                        | MapType::LpmTrie
                ) && !(write && m.flags & MAP_RDONLY_PROG != 0)
            }),
            // Only a ring buffer record holds a reference: memory a global
            // function receives has none.
            RegType::Mem { .. } => p.ref_id != 0,
            _ => false,
        };
        if let Some(bits) = self.accesses.get_mut(at.index()) {
            *bits |= if safe { seen::SAFE } else { seen::UNSAFE };
            if p.ty == RegType::Ctx {
                *bits |= seen::CTX;
            }
        }
    }

    /// One visit of the helper call at `at`, whose first argument is map
    /// `map` (an index into the program's maps).
    pub(crate) fn call(&mut self, at: InsnIdx, map: u32) {
        if let Some(seen) = self.calls.get_mut(at.index()) {
            seen.see(map);
        }
    }

    /// The facts, for `prog` once it was accepted.
    pub(crate) fn finish(self, prog: &Program) -> Proven {
        let mut proven = Proven::new(prog);
        for (s, &bits) in self.accesses.iter().enumerate() {
            let at = InsnIdx(s as u32);
            if bits & (seen::SAFE | seen::UNSAFE) == seen::SAFE {
                proven.add_safe_access(at);
            }
            if bits & seen::CTX != 0 {
                proven.add_context_access(at);
            }
        }
        for (s, seen) in self.calls.iter().enumerate() {
            if let CallMap::Always(map) = *seen {
                proven.add_call_map(InsnIdx(s as u32), MapIdx(map));
            }
        }
        proven
    }
}
