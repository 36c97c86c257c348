//! The abstract machine state: registers, stack slots and call frames, and
//! the subsumption test that lets a state already verified stand for a new
//! one at the same instruction.

use std::fmt::{self, Write as _};
use std::rc::Rc;

use bpfx_isa::{InsnIdx, Reg};

use crate::scalar::Scalar;

/// Bytes of stack a frame may use.
pub const STACK_SIZE: i64 = 512;
/// Bytes in a stack slot (one spilled register).
pub const SLOT: usize = 8;

/// What a register holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegType {
    NotInit,
    Scalar,
    Ctx,
    /// A pointer into the stack of frame `frame` (0: the program's).
    Stack {
        frame: u8,
    },
    Packet,
    PacketMeta,
    PacketEnd,
    /// A map, by its index in the program's maps.
    MapPtr {
        map: u32,
    },
    MapValue {
        map: u32,
    },
    MapValueOrNull {
        map: u32,
    },
    /// A key of a map, read-only (a `bpf_for_each_map_elem` callback's r2).
    MapKey {
        map: u32,
    },
    /// Memory of `size` bytes from a helper (a reserved ring buffer record).
    Mem {
        size: u32,
    },
    MemOrNull {
        size: u32,
    },
    /// `__sk_buff.sk`, which may be null.
    SockCommonOrNull,
    SockCommon,
    /// A subprogram's address (`lddw` of a function).
    Func {
        at: InsnIdx,
    },
}

impl RegType {
    pub fn is_pointer(self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }

    pub fn may_be_null(self) -> bool {
        matches!(self, RegType::MapValueOrNull { .. } | RegType::MemOrNull { .. } | RegType::SockCommonOrNull)
    }

    /// The type once a null check has passed.
    pub fn not_null(self) -> RegType {
        match self {
            RegType::MapValueOrNull { map } => RegType::MapValue { map },
            RegType::MemOrNull { size } => RegType::Mem { size },
            RegType::SockCommonOrNull => RegType::SockCommon,
            other => other,
        }
    }

    /// The kernel's name for the type, as its log prints it.
    pub fn name(self) -> &'static str {
        match self {
            RegType::NotInit => "?",
            RegType::Scalar => "scalar",
            RegType::Ctx => "ctx",
            RegType::Stack { .. } => "fp",
            RegType::Packet => "pkt",
            RegType::PacketMeta => "pkt_meta",
            RegType::PacketEnd => "pkt_end",
            RegType::MapPtr { .. } => "map_ptr",
            RegType::MapValue { .. } => "map_value",
            RegType::MapValueOrNull { .. } => "map_value_or_null",
            RegType::MapKey { .. } => "map_key",
            RegType::Mem { .. } => "mem",
            RegType::MemOrNull { .. } => "mem_or_null",
            RegType::SockCommonOrNull => "sock_common_or_null",
            RegType::SockCommon => "sock_common",
            RegType::Func { .. } => "func",
        }
    }
}

/// One register's abstract value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegState {
    pub ty: RegType,
    /// A pointer's fixed offset.
    pub off: i32,
    /// A scalar's value, or a pointer's variable offset.
    pub var: Scalar,
    /// Links copies: scalars refined together, pointers null-checked
    /// together, packet pointers sharing a proven range.
    pub id: u32,
    /// Packet pointers: bytes from the pointer's variable base known to be
    /// below `data_end` (or below `data` for metadata).
    pub range: u32,
    /// The acquired reference (ring buffer record) the pointer holds.
    pub ref_id: u32,
}

impl RegState {
    pub const NOT_INIT: RegState =
        RegState { ty: RegType::NotInit, off: 0, var: Scalar::UNKNOWN, id: 0, range: 0, ref_id: 0 };

    pub fn scalar(var: Scalar) -> RegState {
        RegState { ty: RegType::Scalar, var, ..RegState::NOT_INIT }
    }

    pub fn unknown() -> RegState {
        RegState::scalar(Scalar::UNKNOWN)
    }

    pub fn constant(v: u64) -> RegState {
        RegState::scalar(Scalar::constant(v))
    }

    pub fn pointer(ty: RegType) -> RegState {
        RegState { ty, var: Scalar::constant(0), ..RegState::NOT_INIT }
    }

    pub fn is_init(&self) -> bool {
        self.ty != RegType::NotInit
    }

    pub fn is_scalar(&self) -> bool {
        self.ty == RegType::Scalar
    }

    pub fn is_null(&self) -> bool {
        self.is_scalar() && self.var.is_zero()
    }
}

impl fmt::Display for RegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ty {
            RegType::NotInit => f.write_str("?"),
            RegType::Scalar => match self.var.value() {
                Some(v) => write!(f, "{}", v as i64),
                None => write_scalar(f, &self.var),
            },
            ty => {
                f.write_str(ty.name())?;
                let mut parts = Vec::new();
                if self.id != 0 {
                    parts.push(format!("id={}", self.id));
                }
                if self.off != 0 {
                    parts.push(format!("off={}", self.off));
                }
                if matches!(ty, RegType::Packet | RegType::PacketMeta) {
                    parts.push(format!("r={}", self.range));
                }
                if let RegType::MapValue { map }
                | RegType::MapValueOrNull { map }
                | RegType::MapPtr { map }
                | RegType::MapKey { map } = ty
                {
                    parts.push(format!("map={map}"));
                }
                if let RegType::Mem { size } | RegType::MemOrNull { size } = ty {
                    parts.push(format!("sz={size}"));
                }
                if self.var.value() != Some(0) {
                    let mut s = String::new();
                    let _ = write!(s, "var=");
                    parts.push(s + &scalar_text(&self.var));
                }
                if !parts.is_empty() {
                    write!(f, "({})", parts.join(","))?;
                }
                Ok(())
            }
        }
    }
}

fn scalar_text(s: &Scalar) -> String {
    let mut out = String::new();
    let _ = write_scalar(&mut out, s);
    out
}

fn write_scalar(f: &mut impl fmt::Write, s: &Scalar) -> fmt::Result {
    let mut parts = Vec::new();
    if s.smin != i64::MIN || s.smax != i64::MAX {
        parts.push(format!("smin={},smax={}", s.smin, s.smax));
    }
    if s.umin != 0 || s.umax != u64::MAX {
        parts.push(format!("umin={},umax={}", s.umin, s.umax));
    }
    if s.t.mask != u64::MAX {
        parts.push(format!("var_off={}", s.t));
    }
    if parts.is_empty() { f.write_str("scalar") } else { write!(f, "scalar({})", parts.join(",")) }
}

/// What a stack byte holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteKind {
    /// Never written.
    Invalid,
    /// Some scalar byte.
    Misc,
    Zero,
    /// Part of the spilled register of its slot.
    Spill,
}

/// An 8-byte stack slot. `bytes[i]` is the byte at the slot's lowest
/// address plus `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    pub bytes: [ByteKind; SLOT],
    /// The spilled register, meaningful while some byte is `Spill`.
    pub spill: RegState,
}

impl Slot {
    pub const EMPTY: Slot = Slot { bytes: [ByteKind::Invalid; SLOT], spill: RegState::NOT_INIT };

    pub fn has_spill(&self) -> bool {
        self.bytes.contains(&ByteKind::Spill)
    }
}

/// One function's activation: its registers and stack.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    pub regs: [RegState; Reg::COUNT],
    /// Slot `i` covers stack offsets `-8(i+1) .. -8i`; absent slots are
    /// never written.
    pub stack: Vec<Slot>,
    /// The call instruction that made this frame (`None` for the program).
    pub callsite: Option<InsnIdx>,
    /// The first instruction of the function.
    pub func: InsnIdx,
    /// For a callback's frame, the references held when it was entered:
    /// how many, and the last id given out then (it must release what it
    /// acquires, and only that, before it returns).
    pub callback_refs: Option<(u32, u32)>,
}

impl Frame {
    pub fn new(frameno: u8, callsite: Option<InsnIdx>, func: InsnIdx) -> Frame {
        let mut regs = [RegState::NOT_INIT; Reg::COUNT];
        regs[10] = RegState::pointer(RegType::Stack { frame: frameno });
        Frame { regs, stack: Vec::new(), callsite, func, callback_refs: None }
    }

    pub fn slot(&self, spi: usize) -> Slot {
        self.stack.get(spi).copied().unwrap_or(Slot::EMPTY)
    }

    pub fn slot_mut(&mut self, spi: usize) -> &mut Slot {
        if self.stack.len() <= spi {
            self.stack.resize(spi + 1, Slot::EMPTY);
        }
        &mut self.stack[spi]
    }
}

/// The slot and byte within it of stack offset `off` (in `-512..0`).
pub fn locate(off: i64) -> (usize, usize) {
    let from_top = (-off - 1) as usize;
    let spi = from_top / SLOT;
    (spi, SLOT - 1 - from_top % SLOT)
}

/// A conditional jump and the way the path went, for diagnostics.
#[derive(Debug)]
pub struct Step {
    pub at: InsnIdx,
    pub taken: bool,
    pub prev: Option<Rc<Step>>,
    /// Steps in the list up to this one.
    pub len: usize,
}

/// The whole abstract state at one instruction.
#[derive(Debug, Clone)]
pub struct State {
    pub pc: InsnIdx,
    pub frames: Vec<Frame>,
    /// Acquired references not yet released: id and where acquired.
    pub refs: Vec<(u32, InsnIdx)>,
    /// The branch decisions that led here, latest first.
    pub path: Option<Rc<Step>>,
    /// The nearest recorded ancestor in the explored-state arena.
    pub parent: Option<usize>,
}

impl State {
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("a state always has a frame")
    }

    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state always has a frame")
    }

    pub fn reg(&self, r: Reg) -> &RegState {
        &self.cur().regs[r.index()]
    }

    pub fn reg_mut(&mut self, r: Reg) -> &mut RegState {
        &mut self.cur_mut().regs[r.index()]
    }

    /// Every register and spilled register of every frame.
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut RegState)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut f);
            for slot in &mut frame.stack {
                if slot.has_spill() {
                    f(&mut slot.spill);
                }
            }
        }
    }

    /// Whether the two states are the same in every register and stack
    /// byte (an infinite loop when one is the other's ancestor).
    pub fn same_as(&self, other: &State) -> bool {
        self.frames == other.frames && self.refs == other.refs
    }

    /// The registers and stack of the current frame, for diagnostics.
    pub fn describe(&self) -> String {
        let frame = self.cur();
        let mut out = String::new();
        for (i, r) in frame.regs.iter().enumerate() {
            if r.is_init() {
                let _ = write!(out, "{}R{i}={r}", if out.is_empty() { "" } else { " " });
            }
        }
        for (spi, slot) in frame.stack.iter().enumerate() {
            let off = -8 * (spi as i64 + 1);
            if slot.has_spill() {
                let _ = write!(out, " fp{off}={}", slot.spill);
            } else if slot.bytes.iter().any(|b| *b != ByteKind::Invalid) {
                let text: String = slot
                    .bytes
                    .iter()
                    .rev()
                    .map(|b| match b {
                        ByteKind::Invalid => '?',
                        ByteKind::Misc => 'm',
                        ByteKind::Zero => '0',
                        ByteKind::Spill => 'r',
                    })
                    .collect();
                let _ = write!(out, " fp{off}={text}");
            }
        }
        out
    }
}

/// A consistent pairing of ids between an old and a new state.
#[derive(Default)]
struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    fn check(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 && cur == 0 {
            return true;
        }
        for &(o, c) in &self.0 {
            if o == old || c == cur {
                return o == old && c == cur;
            }
        }
        self.0.push((old, cur));
        true
    }
}

/// Whether everything `cur` may do from here, `old` was shown to do safely:
/// `old`'s values cover `cur`'s. `live` says which registers of the
/// innermost frame may still be read; `uninit_ok` that uninitialised stack
/// reads as unknown bytes (privileged mode).
pub fn subsumes(old: &State, cur: &State, live: u16, uninit_ok: bool) -> bool {
    if old.frames.len() != cur.frames.len() || old.refs.len() != cur.refs.len() {
        return false;
    }
    let mut ids = IdMap::default();
    if !old.refs.iter().zip(&cur.refs).all(|(o, c)| ids.check(o.0, c.0)) {
        return false;
    }
    let last = old.frames.len() - 1;
    for (i, (of, cf)) in old.frames.iter().zip(&cur.frames).enumerate() {
        if of.callsite != cf.callsite {
            return false;
        }
        for (r, (o, c)) in of.regs.iter().zip(&cf.regs).enumerate() {
            if i == last && live & (1 << r) == 0 {
                continue;
            }
            if !reg_subsumes(o, c, &mut ids) {
                return false;
            }
        }
        if !stack_subsumes(of, cf, &mut ids, uninit_ok) {
            return false;
        }
    }
    true
}

fn reg_subsumes(old: &RegState, cur: &RegState, ids: &mut IdMap) -> bool {
    match old.ty {
        RegType::NotInit => true,
        RegType::Scalar => {
            cur.ty == RegType::Scalar && old.var.contains(&cur.var) && (old.id == 0 || ids.check(old.id, cur.id))
        }
        RegType::Packet | RegType::PacketMeta => {
            cur.ty == old.ty
                && old.off == cur.off
                && old.range <= cur.range
                && old.var.contains(&cur.var)
                && ids.check(old.id, cur.id)
        }
        _ => {
            cur.ty == old.ty
                && old.off == cur.off
                && old.var.contains(&cur.var)
                && ids.check(old.id, cur.id)
                && ids.check(old.ref_id, cur.ref_id)
        }
    }
}

fn stack_subsumes(old: &Frame, cur: &Frame, ids: &mut IdMap, uninit_ok: bool) -> bool {
    for (spi, os) in old.stack.iter().enumerate() {
        let cs = cur.slot(spi);
        if os.has_spill() && os.bytes == cs.bytes && os.spill.ty != RegType::NotInit {
            if !reg_subsumes(&os.spill, &cs.spill, ids) {
                return false;
            }
            continue;
        }
        for (ob, cb) in os.bytes.iter().zip(&cs.bytes) {
            let ok = match ob {
                ByteKind::Invalid => true,
                ByteKind::Misc => match cb {
                    ByteKind::Misc | ByteKind::Zero => true,
                    ByteKind::Invalid => uninit_ok,
                    ByteKind::Spill => cs.spill.is_scalar(),
                },
                ByteKind::Zero => *cb == ByteKind::Zero,
                ByteKind::Spill => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_offsets_map_to_slots_and_bytes() {
        assert_eq!(locate(-1), (0, 7));
        assert_eq!(locate(-8), (0, 0));
        assert_eq!(locate(-9), (1, 7));
        assert_eq!(locate(-512), (63, 0));
    }
}
