//! Tristate numbers: a 64-bit value whose bits are each 0, 1 or unknown
//! (`value` holds the known ones, `mask` marks the unknown ones), with the
//! arithmetic the kernel's verifier uses to follow bits through ALU ops.

/// Known and unknown bits of a value. Invariant: `value & mask == 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tnum {
    pub value: u64,
    pub mask: u64,
}

impl Tnum {
    pub const UNKNOWN: Tnum = Tnum { value: 0, mask: u64::MAX };

    pub const fn constant(value: u64) -> Tnum {
        Tnum { value, mask: 0 }
    }

    /// The smallest tnum holding every value in `min..=max`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum { value: min & !delta, mask: delta }
    }

    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// The largest value the tnum allows.
    pub const fn max(self) -> u64 {
        self.value | self.mask
    }

    pub fn plus(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum { value: sv & !mu, mask: mu }
    }

    pub fn minus(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum { value: dv & !mu, mask: mu }
    }

    pub fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum { value: v, mask: alpha & beta & !v }
    }

    pub fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum { value: v, mask: mu & !v }
    }

    pub fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    /// Long multiplication, one bit of `self` at a time: a known one adds
    /// `b`, an unknown bit adds "zero or `b`" (all of `b`'s possible bits
    /// become unknown).
    pub fn times(self, b: Tnum) -> Tnum {
        let known = self.value.wrapping_mul(b.value);
        let (mut a, mut b) = (self, b);
        let mut unknown = Tnum::constant(0);
        while a.value | a.mask != 0 {
            if a.value & 1 != 0 {
                unknown = unknown.plus(Tnum { value: 0, mask: b.mask });
            } else if a.mask & 1 != 0 {
                unknown = unknown.plus(Tnum { value: 0, mask: b.value | b.mask });
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(known).plus(unknown)
    }

    pub const fn lshift(self, s: u32) -> Tnum {
        Tnum { value: self.value << s, mask: self.mask << s }
    }

    pub const fn rshift(self, s: u32) -> Tnum {
        Tnum { value: self.value >> s, mask: self.mask >> s }
    }

    pub const fn arshift(self, s: u32) -> Tnum {
        Tnum { value: ((self.value as i64) >> s) as u64, mask: ((self.mask as i64) >> s) as u64 }
    }

    /// The values both tnums allow.
    pub fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    /// Whether `b`'s values are all values of `self`.
    pub const fn contains(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        b.value & !self.mask == self.value
    }

    /// Whether no value satisfies both (some bit is known differently).
    pub const fn disjoint(self, b: Tnum) -> bool {
        (self.value ^ b.value) & !(self.mask | b.mask) != 0
    }

    /// The low 32 bits, zero-extended.
    pub const fn subreg(self) -> Tnum {
        Tnum { value: self.value as u32 as u64, mask: self.mask as u32 as u64 }
    }

    /// The low 32 bits, sign-extended (an unknown bit 31 makes the upper
    /// half unknown).
    pub const fn subreg_sext(self) -> Tnum {
        Tnum { value: self.value as u32 as i32 as i64 as u64, mask: self.mask as u32 as i32 as i64 as u64 }
    }

    /// `self` with its low 32 bits replaced by `low`'s.
    pub const fn with_subreg(self, low: Tnum) -> Tnum {
        Tnum {
            value: (self.value & !0xffff_ffff) | (low.value & 0xffff_ffff),
            mask: (self.mask & !0xffff_ffff) | (low.mask & 0xffff_ffff),
        }
    }
}

impl std::fmt::Display for Tnum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member(t: Tnum, x: u64) -> bool {
        x & !t.mask == t.value
    }

    /// A tnum and one of its members.
    fn tnum_and_member() -> impl Strategy<Value = (Tnum, u64)> {
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(v, m, pick)| {
            let t = Tnum { value: v & !m, mask: m };
            (t, t.value | (pick & m))
        })
    }

    proptest! {
        #[test]
        fn ops_contain_every_concrete_result((a, x) in tnum_and_member(), (b, y) in tnum_and_member(), s in 0u32..64) {
            prop_assert!(member(a.plus(b), x.wrapping_add(y)));
            prop_assert!(member(a.minus(b), x.wrapping_sub(y)));
            prop_assert!(member(a.times(b), x.wrapping_mul(y)));
            prop_assert!(member(a.and(b), x & y));
            prop_assert!(member(a.or(b), x | y));
            prop_assert!(member(a.xor(b), x ^ y));
            prop_assert!(member(a.lshift(s), x << s));
            prop_assert!(member(a.rshift(s), x >> s));
            prop_assert!(member(a.arshift(s), ((x as i64) >> s) as u64));
            prop_assert!(member(a.subreg_sext(), x as u32 as i32 as i64 as u64));
        }

        #[test]
        fn range_contains_its_bounds(a in any::<u64>(), b in any::<u64>()) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t = Tnum::range(lo, hi);
            prop_assert!(member(t, lo) && member(t, hi));
        }
    }
}
