//! Scalar values as the verifier knows them: a [`Tnum`] of known bits plus
//! unsigned and signed ranges at 64 and 32 bits, kept consistent with each
//! other by [`Scalar::sync`] (the kernel's bounds deduction), moved through
//! ALU operations and narrowed on both sides of conditional jumps.

use bpfx_isa::{AluOp, JmpCond, Width};

use crate::tnum::Tnum;

/// What is known about a scalar's value. Every field is a sound
/// over-approximation of the same set of 64-bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    pub t: Tnum,
    pub umin: u64,
    pub umax: u64,
    pub smin: i64,
    pub smax: i64,
    pub u32min: u32,
    pub u32max: u32,
    pub s32min: i32,
    pub s32max: i32,
}

const LOW32: u64 = 0xffff_ffff;

impl Scalar {
    pub const UNKNOWN: Scalar = Scalar {
        t: Tnum::UNKNOWN,
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        u32min: 0,
        u32max: u32::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
    };

    pub fn constant(v: u64) -> Scalar {
        Scalar {
            t: Tnum::constant(v),
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            u32min: v as u32,
            u32max: v as u32,
            s32min: v as i32,
            s32max: v as i32,
        }
    }

    /// Values in `min..=max` (unsigned).
    pub fn urange(min: u64, max: u64) -> Scalar {
        let mut s = Scalar { umin: min, umax: max, ..Scalar::UNKNOWN };
        s.sync();
        s
    }

    /// The value, if it is known.
    pub fn value(&self) -> Option<u64> {
        self.t.is_const().then_some(self.t.value)
    }

    /// The low 32 bits, if they are known.
    pub fn value32(&self) -> Option<u32> {
        self.t.subreg().is_const().then_some(self.t.value as u32)
    }

    pub fn is_zero(&self) -> bool {
        self.value() == Some(0)
    }

    /// Whether every value of `cur` is a value of `self`.
    pub fn contains(&self, cur: &Scalar) -> bool {
        self.umin <= cur.umin
            && cur.umax <= self.umax
            && self.smin <= cur.smin
            && cur.smax <= self.smax
            && self.u32min <= cur.u32min
            && cur.u32max <= self.u32max
            && self.s32min <= cur.s32min
            && cur.s32max <= self.s32max
            && self.t.contains(cur.t)
    }

    /// Tightens every field from the others; `false` if they contradict
    /// each other (no value is possible: the path is dead).
    pub fn sync(&mut self) -> bool {
        for _ in 0..2 {
            if !self.deduce() {
                return false;
            }
        }
        self.valid()
    }

    fn valid(&self) -> bool {
        self.umin <= self.umax
            && self.smin <= self.smax
            && self.u32min <= self.u32max
            && self.s32min <= self.s32max
            && self.t.value & self.t.mask == 0
            && self.t.value <= self.umax
            && self.t.max() >= self.umin
    }

    fn deduce(&mut self) -> bool {
        const SIGN: u64 = 1 << 63;
        let t = self.t;
        self.umin = self.umin.max(t.value);
        self.umax = self.umax.min(t.max());
        self.smin = self.smin.max((t.value | (t.mask & SIGN)) as i64);
        self.smax = self.smax.min((t.value | (t.mask & !SIGN)) as i64);
        let t32 = t.subreg();
        self.u32min = self.u32min.max(t32.value as u32);
        self.u32max = self.u32max.min(t32.max() as u32);
        self.s32min = self.s32min.max((t32.value | (t32.mask & 0x8000_0000)) as u32 as i32);
        self.s32max = self.s32max.min((t32.value | (t32.mask & 0x7fff_ffff)) as u32 as i32);

        // 64-bit ranges within one 2^32 window say what the low half is.
        if self.umin >> 32 == self.umax >> 32 {
            self.intersect_u32(self.umin as u32, self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.intersect_s32(self.umin as i32, self.umax as i32);
            }
        }
        if self.smin >> 32 == self.smax >> 32 {
            if (self.smin as u32) <= (self.smax as u32) {
                self.intersect_u32(self.smin as u32, self.smax as u32);
            }
            if (self.smin as i32) <= (self.smax as i32) {
                self.intersect_s32(self.smin as i32, self.smax as i32);
            }
        }
        // A range that does not cross the sign boundary reads the same
        // signed and unsigned.
        if (self.u32min as i32) <= (self.u32max as i32) {
            self.intersect_s32(self.u32min as i32, self.u32max as i32);
        }
        if (self.s32min as u32) <= (self.s32max as u32) {
            self.intersect_u32(self.s32min as u32, self.s32max as u32);
        } else if self.u32max < self.s32min as u32 {
            // A signed range across the sign boundary is two unsigned
            // pieces, [0, s32max] and [s32min, 2^32); an unsigned range
            // meeting only one of them keeps that one.
            self.s32min = self.s32min.max(self.u32min as i32);
            self.u32max = self.u32max.min(self.s32max as u32);
        } else if (self.s32max as u32) < self.u32min {
            self.s32max = self.s32max.min(self.u32max as i32);
            self.u32min = self.u32min.max(self.s32min as u32);
        }
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if (self.smin as u64) <= (self.smax as u64) {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        } else if self.umax < self.smin as u64 {
            // As for 32 bits: the unsigned range meets only the positive
            // piece [0, smax], or only the negative one below.
            self.smin = self.smin.max(self.umin as i64);
            self.umax = self.umax.min(self.smax as u64);
        } else if (self.smax as u64) < self.umin {
            self.smax = self.smax.min(self.umax as i64);
            self.umin = self.umin.max(self.smin as u64);
        }
        // With the upper half fixed, the low half's range refines the whole.
        if self.umin >> 32 == self.umax >> 32 && self.u32min <= self.u32max {
            let high = self.umin & !LOW32;
            self.umin = self.umin.max(high | u64::from(self.u32min));
            self.umax = self.umax.min(high | u64::from(self.u32max));
        }
        if self.smin >> 32 == self.smax >> 32 && self.u32min <= self.u32max {
            let high = (self.smin as u64) & !LOW32;
            self.smin = self.smin.max((high | u64::from(self.u32min)) as i64);
            self.smax = self.smax.min((high | u64::from(self.u32max)) as i64);
        }
        if self.umin > self.umax || self.u32min > self.u32max {
            return false;
        }
        let range = Tnum::range(self.umin, self.umax);
        if self.t.disjoint(range) {
            return false;
        }
        self.t = self.t.intersect(range);
        let range32 = Tnum::range(u64::from(self.u32min), u64::from(self.u32max));
        if self.t.subreg().disjoint(range32) {
            return false;
        }
        self.t = self.t.with_subreg(self.t.subreg().intersect(range32));
        true
    }

    fn intersect_u32(&mut self, min: u32, max: u32) {
        self.u32min = self.u32min.max(min);
        self.u32max = self.u32max.min(max);
    }

    fn intersect_s32(&mut self, min: i32, max: i32) {
        self.s32min = self.s32min.max(min);
        self.s32max = self.s32max.min(max);
    }

    /// The low 32 bits as a 64-bit value (what an ALU32 result or a
    /// `w` register move leaves).
    pub fn zext32(&self) -> Scalar {
        let mut s = Scalar {
            t: self.t.subreg(),
            umin: u64::from(self.u32min),
            umax: u64::from(self.u32max),
            smin: i64::from(self.u32min),
            smax: i64::from(self.u32max),
            ..*self
        };
        s.sync();
        s
    }

    /// The low 32 bits sign-extended to 64.
    fn sext32(&self) -> Scalar {
        let mut s = Scalar {
            t: self.t.subreg_sext(),
            umin: 0,
            umax: u64::MAX,
            smin: i64::from(self.s32min),
            smax: i64::from(self.s32max),
            ..*self
        };
        s.sync();
        s
    }

    /// The value narrowed to its low `bytes` bytes, zero-extended (a load
    /// or fill of that size).
    pub fn truncate(&self, bytes: usize) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        let bits = 8 * bytes as u32;
        let mask = (1u64 << bits) - 1;
        let (umin, umax) =
            if self.umin >> bits == self.umax >> bits { (self.umin & mask, self.umax & mask) } else { (0, mask) };
        let mut s = Scalar { t: self.t.and(Tnum::constant(mask)), umin, umax, ..Scalar::UNKNOWN };
        s.sync();
        s
    }

    /// The value's low `bytes` bytes, sign-extended to 64 bits.
    pub fn sign_extend(&self, bytes: usize) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        let bits = 8 * bytes as u32;
        let low = self.truncate(bytes);
        let half = 1u64 << (bits - 1);
        let t = low.t.lshift(64 - bits).arshift(64 - bits);
        let (smin, smax) = if low.umax < half {
            (low.umin as i64, low.umax as i64)
        } else if low.umin >= half {
            ((low.umin as i64) - (1i64 << bits), (low.umax as i64) - (1i64 << bits))
        } else {
            (-(half as i64), half as i64 - 1)
        };
        let mut s = Scalar { t, smin, smax, ..Scalar::UNKNOWN };
        s.sync();
        s
    }

    /// `a OP b` on 64 bits.
    pub fn alu64(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
        let mut r = alu64_core(op, a, b);
        let low_bits_agree = match op {
            AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor => true,
            AluOp::Lsh => b.value().is_some_and(|s| s < 32),
            _ => false,
        };
        if low_bits_agree {
            let r32 = Scalar::alu32(op, a, b);
            r.intersect_u32(r32.u32min, r32.u32max);
            r.intersect_s32(r32.s32min, r32.s32max);
        }
        if !r.sync() {
            return Scalar::UNKNOWN;
        }
        r
    }

    /// `a OP b` on the low 32 bits, zero-extended.
    pub fn alu32(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
        let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
        if shift && b.value32().is_none_or(|s| s >= 32) {
            return Scalar::UNKNOWN.zext32();
        }
        let (b_zext, b_sext) = if shift {
            let s = Scalar::constant(u64::from(b.value32().unwrap_or(0)));
            (s, s)
        } else {
            (b.zext32(), b.sext32())
        };
        let by_zext = (op != AluOp::Arsh).then(|| alu64_core(op, &a.zext32(), &b_zext));
        let by_sext = (op != AluOp::Rsh).then(|| alu64_core(op, &a.sext32(), &b_sext));
        let mut r = Scalar::UNKNOWN;
        if let Some(z) = by_zext {
            r.t = r.t.intersect(z.t.subreg());
            if z.umin >> 32 == z.umax >> 32 {
                r.intersect_u32(z.umin as u32, z.umax as u32);
            }
        }
        if let Some(s) = by_sext {
            let low = s.t.subreg();
            r.t = if by_zext.is_some() { r.t.subreg().intersect(low) } else { low };
            if s.smin >= i64::from(i32::MIN) && s.smax <= i64::from(i32::MAX) {
                r.intersect_s32(s.smin as i32, s.smax as i32);
            }
        }
        r.t = r.t.subreg();
        if !r.sync() {
            return Scalar::UNKNOWN.zext32();
        }
        r.zext32()
    }

    /// Sign-extends the low `bytes` bytes (`movsx`); for `w` registers the
    /// result's low 32 bits, zero-extended.
    pub fn movsx(&self, bytes: usize, width: Width) -> Scalar {
        let r = self.sign_extend(bytes);
        match width {
            Width::W64 => r,
            Width::W32 => r.zext32(),
        }
    }

    /// Whether `a COND b` at `width` is always (`Some(true)`) or never
    /// (`Some(false)`) true.
    pub fn branch_taken(cond: JmpCond, width: Width, a: &Scalar, b: &Scalar) -> Option<bool> {
        let (x, y) = (View::of(a, width), View::of(b, width));
        let (tx, ty) = match width {
            Width::W64 => (a.t, b.t),
            Width::W32 => (a.t.subreg(), b.t.subreg()),
        };
        match cond {
            JmpCond::Eq | JmpCond::Ne => {
                let eq = if tx.is_const() && ty.is_const() {
                    Some(tx.value == ty.value)
                } else if x.umin > y.umax || x.umax < y.umin || x.smin > y.smax || x.smax < y.smin || tx.disjoint(ty) {
                    Some(false)
                } else {
                    None
                };
                eq.map(|eq| eq == (cond == JmpCond::Eq))
            }
            JmpCond::Gt => decide(x.umin > y.umax, x.umax <= y.umin),
            JmpCond::Ge => decide(x.umin >= y.umax, x.umax < y.umin),
            JmpCond::Lt => decide(x.umax < y.umin, x.umin >= y.umax),
            JmpCond::Le => decide(x.umax <= y.umin, x.umin > y.umax),
            JmpCond::Sgt => decide(x.smin > y.smax, x.smax <= y.smin),
            JmpCond::Sge => decide(x.smin >= y.smax, x.smax < y.smin),
            JmpCond::Slt => decide(x.smax < y.smin, x.smin >= y.smax),
            JmpCond::Sle => decide(x.smax <= y.smin, x.smin > y.smax),
            JmpCond::Set => decide(tx.value & ty.value != 0, tx.max() & ty.max() == 0),
        }
    }

    /// Narrows `a` and `b` to the values for which `a COND b` is `taken`;
    /// `false` when no values remain.
    pub fn refine(cond: JmpCond, width: Width, taken: bool, a: &mut Scalar, b: &mut Scalar) -> bool {
        let rel = Rel::of(cond, taken);
        let (mut x, mut y) = (View::of(a, width), View::of(b, width));
        let (umax_lim, smin_lim, smax_lim) = match width {
            Width::W64 => (u64::MAX, i64::MIN, i64::MAX),
            Width::W32 => (u64::from(u32::MAX), i64::from(i32::MIN), i64::from(i32::MAX)),
        };
        let mut set_bits = None;
        match rel {
            Rel::Eq => {
                let (umin, umax) = (x.umin.max(y.umin), x.umax.min(y.umax));
                let (smin, smax) = (x.smin.max(y.smin), x.smax.min(y.smax));
                x = View { umin, umax, smin, smax };
                y = x;
                let (ta, tb) = match width {
                    Width::W64 => (a.t, b.t),
                    Width::W32 => (a.t.subreg(), b.t.subreg()),
                };
                if ta.disjoint(tb) {
                    return false;
                }
                let t = ta.intersect(tb);
                match width {
                    Width::W64 => (a.t, b.t) = (t, t),
                    Width::W32 => (a.t, b.t) = (a.t.with_subreg(t), b.t.with_subreg(t)),
                }
            }
            Rel::Ne => {
                exclude(&mut x, &y, umax_lim, smin_lim, smax_lim);
                let x0 = x;
                exclude(&mut y, &x0, umax_lim, smin_lim, smax_lim);
            }
            Rel::Lt(strict) => {
                let d = u64::from(strict);
                if y.umax < d || x.umin > umax_lim - d {
                    return false;
                }
                x.umax = x.umax.min(y.umax - d);
                y.umin = y.umin.max(x.umin + d);
            }
            Rel::Gt(strict) => {
                let d = u64::from(strict);
                if x.umax < d || y.umin > umax_lim - d {
                    return false;
                }
                y.umax = y.umax.min(x.umax - d);
                x.umin = x.umin.max(y.umin + d);
            }
            Rel::Slt(strict) => {
                let d = i64::from(strict);
                if y.smax < smin_lim + d || x.smin > smax_lim - d {
                    return false;
                }
                x.smax = x.smax.min(y.smax - d);
                y.smin = y.smin.max(x.smin + d);
            }
            Rel::Sgt(strict) => {
                let d = i64::from(strict);
                if x.smax < smin_lim + d || y.smin > smax_lim - d {
                    return false;
                }
                y.smax = y.smax.min(x.smax - d);
                x.smin = x.smin.max(y.smin + d);
            }
            Rel::Set(is_set) => set_bits = Some(is_set),
        }
        x.store(a, width);
        y.store(b, width);
        if let Some(is_set) = set_bits {
            let bits = match width {
                Width::W64 => b.value(),
                Width::W32 => b.value32().map(u64::from),
            };
            if let Some(bits) = bits {
                if is_set && bits.is_power_of_two() {
                    a.t = a.t.or(Tnum::constant(bits));
                } else if !is_set {
                    a.t = a.t.and(Tnum::constant(!bits));
                }
            }
        }
        a.sync() && b.sync()
    }
}

fn decide(always: bool, never: bool) -> Option<bool> {
    if always {
        Some(true)
    } else if never {
        Some(false)
    } else {
        None
    }
}

/// Removes a constant `y` from the ends of `x`'s ranges.
fn exclude(x: &mut View, y: &View, umax_lim: u64, smin_lim: i64, smax_lim: i64) {
    if y.umin != y.umax {
        return;
    }
    let c = y.umin;
    if x.umin == c && c < umax_lim {
        x.umin += 1;
    } else if x.umax == c && c > 0 {
        x.umax -= 1;
    }
    let sc = y.smin;
    if x.smin == sc && sc < smax_lim {
        x.smin += 1;
    } else if x.smax == sc && sc > smin_lim {
        x.smax -= 1;
    }
    if x.umin > x.umax || x.smin > x.smax {
        // Both ends were `c`: the value is exactly `c` and `!=` fails. Keep
        // an empty range so that `sync` reports the dead path.
        x.umin = 1;
        x.umax = 0;
    }
}

/// The relation a taken (or not taken) jump establishes.
#[derive(Clone, Copy)]
enum Rel {
    Eq,
    Ne,
    /// `a < b` (strict) or `a <= b`, unsigned.
    Lt(bool),
    Gt(bool),
    Slt(bool),
    Sgt(bool),
    /// `a & b != 0` (`true`) or `== 0`.
    Set(bool),
}

impl Rel {
    fn of(cond: JmpCond, taken: bool) -> Rel {
        use JmpCond::*;
        match (cond, taken) {
            (Eq, true) | (Ne, false) => Rel::Eq,
            (Ne, true) | (Eq, false) => Rel::Ne,
            (Lt, true) | (Ge, false) => Rel::Lt(true),
            (Le, true) | (Gt, false) => Rel::Lt(false),
            (Gt, true) | (Le, false) => Rel::Gt(true),
            (Ge, true) | (Lt, false) => Rel::Gt(false),
            (Slt, true) | (Sge, false) => Rel::Slt(true),
            (Sle, true) | (Sgt, false) => Rel::Slt(false),
            (Sgt, true) | (Sle, false) => Rel::Sgt(true),
            (Sge, true) | (Slt, false) => Rel::Sgt(false),
            (Set, taken) => Rel::Set(taken),
        }
    }
}

/// The ranges of one width of a scalar, widened to 64-bit types.
#[derive(Clone, Copy)]
struct View {
    umin: u64,
    umax: u64,
    smin: i64,
    smax: i64,
}

impl View {
    fn of(s: &Scalar, width: Width) -> View {
        match width {
            Width::W64 => View { umin: s.umin, umax: s.umax, smin: s.smin, smax: s.smax },
            Width::W32 => View {
                umin: u64::from(s.u32min),
                umax: u64::from(s.u32max),
                smin: i64::from(s.s32min),
                smax: i64::from(s.s32max),
            },
        }
    }

    fn store(self, s: &mut Scalar, width: Width) {
        match width {
            Width::W64 => (s.umin, s.umax, s.smin, s.smax) = (self.umin, self.umax, self.smin, self.smax),
            Width::W32 => {
                // An empty range stays empty when narrowed to u32.
                if self.umin > self.umax || self.smin > self.smax {
                    (s.u32min, s.u32max) = (1, 0);
                    return;
                }
                (s.u32min, s.u32max) = (self.umin as u32, self.umax as u32);
                (s.s32min, s.s32max) = (self.smin as i32, self.smax as i32);
            }
        }
    }
}

/// The 64-bit fields of `a OP b` (the 32-bit ones are left unknown).
fn alu64_core(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    let mut r = Scalar::UNKNOWN;
    let shift = b.value().filter(|&s| s < 64).map(|s| s as u32);
    match op {
        AluOp::Add => {
            r.t = a.t.plus(b.t);
            if let (Some(lo), Some(hi)) = (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax)) {
                (r.umin, r.umax) = (lo, hi);
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax)) {
                (r.smin, r.smax) = (lo, hi);
            }
        }
        AluOp::Sub => {
            r.t = a.t.minus(b.t);
            if a.umin >= b.umax {
                (r.umin, r.umax) = (a.umin - b.umax, a.umax - b.umin);
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin)) {
                (r.smin, r.smax) = (lo, hi);
            }
        }
        AluOp::Mul => {
            r.t = a.t.times(b.t);
            if a.umax <= LOW32 && b.umax <= LOW32 {
                (r.umin, r.umax) = (a.umin * b.umin, a.umax * b.umax);
            }
        }
        AluOp::And => {
            r.t = a.t.and(b.t);
            r.umax = a.umax.min(b.umax);
        }
        AluOp::Or => {
            r.t = a.t.or(b.t);
            r.umin = a.umin.max(b.umin);
        }
        AluOp::Xor => r.t = a.t.xor(b.t),
        AluOp::Lsh => {
            if let Some(s) = shift {
                r.t = a.t.lshift(s);
                if a.umax.leading_zeros() >= s {
                    (r.umin, r.umax) = (a.umin << s, a.umax << s);
                }
            }
        }
        AluOp::Rsh => {
            if let Some(s) = shift {
                r.t = a.t.rshift(s);
                (r.umin, r.umax) = (a.umin >> s, a.umax >> s);
            }
        }
        AluOp::Arsh => {
            if let Some(s) = shift {
                r.t = a.t.arshift(s);
                (r.smin, r.smax) = (a.smin >> s, a.smax >> s);
            }
        }
        AluOp::Div
        | AluOp::SDiv
        | AluOp::Mod
        | AluOp::SMod
        | AluOp::Mov
        | AluOp::MovSx8
        | AluOp::MovSx16
        | AluOp::MovSx32 => {}
    }
    if !r.sync() {
        return Scalar::UNKNOWN;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member(s: &Scalar, x: u64) -> bool {
        s.umin <= x
            && x <= s.umax
            && s.smin <= x as i64
            && x as i64 <= s.smax
            && s.u32min <= x as u32
            && x as u32 <= s.u32max
            && s.s32min <= x as i32
            && x as i32 <= s.s32max
            && x & !s.t.mask == s.t.value
    }

    /// A scalar (a range around a point, sometimes a constant) and a member.
    fn scalar_and_member() -> impl Strategy<Value = (Scalar, u64)> {
        (any::<u64>(), 0u64..300, 0u64..300, any::<bool>(), any::<bool>()).prop_map(|(x, below, above, small, k)| {
            let x = if small { x % 64 } else { x };
            if k {
                return (Scalar::constant(x), x);
            }
            (Scalar::urange(x.saturating_sub(below), x.saturating_add(above)), x)
        })
    }

    fn concrete(op: AluOp, width: Width, x: u64, y: u64) -> Option<u64> {
        let r = match width {
            Width::W64 => match op {
                AluOp::Add => x.wrapping_add(y),
                AluOp::Sub => x.wrapping_sub(y),
                AluOp::Mul => x.wrapping_mul(y),
                AluOp::And => x & y,
                AluOp::Or => x | y,
                AluOp::Xor => x ^ y,
                AluOp::Lsh => x.checked_shl(y as u32).filter(|_| y < 64)?,
                AluOp::Rsh => x.checked_shr(y as u32).filter(|_| y < 64)?,
                AluOp::Arsh => ((x as i64).checked_shr(y as u32).filter(|_| y < 64)?) as u64,
                _ => return None,
            },
            Width::W32 => {
                let (x, y) = (x as u32, y as u32);
                u64::from(match op {
                    AluOp::Add => x.wrapping_add(y),
                    AluOp::Sub => x.wrapping_sub(y),
                    AluOp::Mul => x.wrapping_mul(y),
                    AluOp::And => x & y,
                    AluOp::Or => x | y,
                    AluOp::Xor => x ^ y,
                    AluOp::Lsh if y < 32 => x << y,
                    AluOp::Rsh if y < 32 => x >> y,
                    AluOp::Arsh if y < 32 => ((x as i32) >> y) as u32,
                    _ => return None,
                })
            }
        };
        Some(r)
    }

    const OPS: [AluOp; 9] =
        [AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::And, AluOp::Or, AluOp::Xor, AluOp::Lsh, AluOp::Rsh, AluOp::Arsh];

    proptest! {
        #[test]
        fn alu_results_contain_the_concrete_result(
            (a, x) in scalar_and_member(), (b, y) in scalar_and_member(), op in 0usize..9, w64 in any::<bool>()
        ) {
            let op = OPS[op];
            let width = if w64 { Width::W64 } else { Width::W32 };
            if let Some(z) = concrete(op, width, x, y) {
                let r = match width {
                    Width::W64 => Scalar::alu64(op, &a, &b),
                    Width::W32 => Scalar::alu32(op, &a, &b),
                };
                prop_assert!(member(&r, z), "{op:?} {width:?} {a:?} {b:?} x={x:#x} y={y:#x} z={z:#x} -> {r:?}");
            }
        }

        #[test]
        fn refinement_keeps_the_values_that_satisfy_the_branch(
            (a, x) in scalar_and_member(), (b, y) in scalar_and_member(), cond in 0usize..11, w64 in any::<bool>()
        ) {
            let cond = JmpCond::ALL[cond];
            let width = if w64 { Width::W64 } else { Width::W32 };
            let (nx, ny) = match width { Width::W64 => (x, y), Width::W32 => (x & LOW32, y & LOW32) };
            let holds = cond.holds(width, nx, ny);
            if let Some(t) = Scalar::branch_taken(cond, width, &a, &b) {
                prop_assert_eq!(t, holds);
            }
            let (mut a2, mut b2) = (a, b);
            prop_assert!(Scalar::refine(cond, width, holds, &mut a2, &mut b2), "{cond:?} {width:?} lost x={x:#x} y={y:#x}");
            prop_assert!(member(&a2, x) && member(&b2, y), "{cond:?} {width:?} {a2:?} {b2:?} x={x:#x} y={y:#x}");
        }

        #[test]
        fn narrowing_contains_the_concrete_value((a, x) in scalar_and_member(), bytes in 0usize..4) {
            let bytes = [1, 2, 4, 8][bytes];
            let mask = if bytes == 8 { u64::MAX } else { (1u64 << (8 * bytes)) - 1 };
            prop_assert!(member(&a.truncate(bytes), x & mask));
            let shift = 64 - 8 * bytes as u32;
            prop_assert!(member(&a.sign_extend(bytes), (((x << shift) as i64) >> shift) as u64));
        }
    }

    #[test]
    fn constants_fold_and_branches_decide() {
        let r = Scalar::alu64(AluOp::Add, &Scalar::constant(40), &Scalar::constant(2));
        assert_eq!(r.value(), Some(42));
        let r = Scalar::alu32(AluOp::Sub, &Scalar::constant(0), &Scalar::constant(1));
        assert_eq!(r.value(), Some(0xffff_ffff));
        let small = Scalar::urange(0, 10);
        assert_eq!(Scalar::branch_taken(JmpCond::Gt, Width::W64, &small, &Scalar::constant(10)), Some(false));
        assert_eq!(Scalar::branch_taken(JmpCond::Gt, Width::W64, &small, &Scalar::constant(5)), None);
        let (mut a, mut b) = (Scalar::UNKNOWN, Scalar::constant(100));
        assert!(Scalar::refine(JmpCond::Gt, Width::W64, false, &mut a, &mut b));
        assert_eq!((a.umin, a.umax), (0, 100));
    }
}
