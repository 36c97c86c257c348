//! The 8-byte instruction slot as encoded (`struct bpf_insn`).

/// The size of one instruction slot in bytes.
pub const SLOT_SIZE: usize = 8;

/// One encoded instruction slot: `struct bpf_insn` from `linux/bpf.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RawInsn {
    pub code: u8,
    /// Destination register: the low nibble of the second byte.
    pub dst: u8,
    /// Source register: the high nibble of the second byte.
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl RawInsn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        RawInsn { code, dst, src, off, imm }
    }

    /// Reads a slot from its little-endian bytes.
    pub fn from_bytes(b: [u8; SLOT_SIZE]) -> Self {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The slot's little-endian bytes. Register numbers are truncated to
    /// their nibble, as the encoding has no room for more.
    pub fn to_bytes(self) -> [u8; SLOT_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [self.code, (self.dst & 0x0f) | (self.src << 4), off[0], off[1], imm[0], imm[1], imm[2], imm[3]]
    }

    /// The slot as the 64-bit little-endian word the conformance suite's
    /// `-- raw` sections list.
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    pub fn from_u64(word: u64) -> Self {
        Self::from_bytes(word.to_le_bytes())
    }
}

/// Splits a byte string into slots; `Err(len)` when the length is not a
/// multiple of the slot size.
pub fn slots_from_bytes(bytes: &[u8]) -> Result<Vec<RawInsn>, usize> {
    let chunks = bytes.chunks_exact(SLOT_SIZE);
    if !chunks.remainder().is_empty() {
        return Err(bytes.len());
    }
    Ok(chunks.map(|c| RawInsn::from_bytes(c.try_into().expect("chunks_exact yields slot-sized chunks"))).collect())
}

/// Joins slots into their byte encoding.
pub fn slots_to_bytes(slots: &[RawInsn]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_byte_layout_matches_struct_bpf_insn() {
        // lddw r0, ... from the conformance suite's lddw.data `-- raw` section.
        let raw = RawInsn::from_u64(0x5566778800000018);
        assert_eq!(raw, RawInsn::new(0x18, 0, 0, 0, 0x55667788));
        let mov = RawInsn::new(0xbf, 1, 10, -8, 0);
        assert_eq!(mov.to_bytes(), [0xbf, 0xa1, 0xf8, 0xff, 0, 0, 0, 0]);
        assert_eq!(RawInsn::from_bytes(mov.to_bytes()), mov);
    }

    #[test]
    fn lengths_that_are_not_whole_slots_are_refused() {
        assert_eq!(slots_from_bytes(&[0; 12]), Err(12));
        assert_eq!(slots_from_bytes(&[0; 16]).unwrap().len(), 2);
    }
}
