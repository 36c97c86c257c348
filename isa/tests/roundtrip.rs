//! Encode/decode round trip over random valid instructions.

use bpfx_isa::*;
use proptest::prelude::*;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).unwrap())
}

fn src() -> impl Strategy<Value = Src> {
    prop_oneof![reg().prop_map(Src::Reg), any::<i32>().prop_map(Src::Imm)]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

fn alu() -> impl Strategy<Value = Insn> {
    (width(), prop::sample::select(AluOp::ALL), reg(), src(), reg()).prop_map(|(width, op, dst, src, sreg)| {
        match op {
            // Sign-extending moves take a register, and 32-bit sources only in ALU64.
            AluOp::MovSx32 => Insn::Alu { width: Width::W64, op, dst, src: Src::Reg(sreg) },
            AluOp::MovSx8 | AluOp::MovSx16 => Insn::Alu { width, op, dst, src: Src::Reg(sreg) },
            _ => Insn::Alu { width, op, dst, src },
        }
    })
}

fn ld_imm64() -> impl Strategy<Value = Insn> {
    (reg(), prop::sample::select(LdImm64Kind::ALL.to_vec()), any::<u64>()).prop_map(|(dst, kind, imm)| {
        let imm = if kind.uses_high_half() { imm } else { imm & 0xffff_ffff };
        Insn::LdImm64 { dst, kind, imm }
    })
}

fn call() -> impl Strategy<Value = Insn> {
    prop_oneof![
        any::<u32>().prop_map(|id| Insn::Call(CallTarget::Helper(HelperId(id)))),
        any::<i32>().prop_map(|off| Insn::Call(CallTarget::Local(off))),
        (any::<u32>(), any::<i16>()).prop_map(|(btf_id, module)| Insn::Call(CallTarget::Kfunc { btf_id, module })),
        reg().prop_map(|reg| Insn::Callx { reg }),
    ]
}

fn insn() -> impl Strategy<Value = Insn> {
    prop_oneof![
        alu(),
        (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        (
            prop::sample::select(vec![Endian::ToLe, Endian::ToBe, Endian::Swap]),
            prop::sample::select(vec![SwapBits::B16, SwapBits::B32, SwapBits::B64]),
            reg()
        )
            .prop_map(|(kind, bits, dst)| Insn::Endian { kind, bits, dst }),
        ld_imm64(),
        (size(), any::<bool>(), reg(), reg(), any::<i16>()).prop_map(|(size, signed, dst, src, off)| {
            Insn::Load { size, signed: signed && size != Size::DW, dst, src, off }
        }),
        (size(), reg(), any::<i16>(), src()).prop_map(|(size, dst, off, src)| Insn::Store { size, dst, off, src }),
        (any::<bool>(), prop::sample::select(AtomicOp::ALL), reg(), reg(), any::<i16>()).prop_map(
            |(dw, op, dst, src, off)| Insn::Atomic { size: if dw { Size::DW } else { Size::W }, op, dst, src, off }
        ),
        any::<i16>().prop_map(|off| Insn::Ja { off: off.into(), wide: false }),
        any::<i32>().prop_map(|off| Insn::Ja { off, wide: true }),
        (width(), prop::sample::select(JmpCond::ALL), reg(), src(), any::<i16>())
            .prop_map(|(width, cond, dst, src, off)| Insn::Jump { width, cond, dst, src, off }),
        any::<i16>().prop_map(|off| Insn::MayGoto { off }),
        call(),
        Just(Insn::Exit),
        (
            prop_oneof![Just(PacketLoad::Abs), reg().prop_map(PacketLoad::Ind)],
            prop::sample::select(vec![Size::B, Size::H, Size::W]),
            any::<i32>()
        )
            .prop_map(|(mode, size, imm)| Insn::PacketLoad { mode, size, imm }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_inverts_encode(insns in prop::collection::vec(insn(), 1..40)) {
        let bytes = encode_bytes(&insns);
        prop_assert_eq!(bytes.len(), insns.iter().map(Insn::slots).sum::<usize>() * SLOT_SIZE);
        prop_assert_eq!(decode_bytes(&bytes), Ok(insns));
    }

    /// Decoding any 16 bytes either fails or yields instructions that encode
    /// back to exactly those bytes: no information is dropped.
    #[test]
    fn encode_inverts_decode(words in prop::collection::vec(any::<u64>(), 1..8)) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        if let Ok(insns) = decode_bytes(&bytes) {
            prop_assert_eq!(encode_bytes(&insns), bytes);
        }
    }
}

/// Random words rarely decode; this walks every opcode byte with plausible
/// fields so the lossless property is checked on each valid opcode.
#[test]
fn every_valid_opcode_encodes_back_to_its_bytes() {
    let mut valid = 0;
    for code in 0..=255u8 {
        for (regs, off, imm) in [(0x00, 0, 0), (0x21, 0, 0), (0x01, 1, 0), (0x21, 8, 0), (0x01, 0, 16), (0x21, 4, 1)] {
            let slot = [code, regs, off, 0, imm, 0, 0, 0];
            let bytes: Vec<u8> = slot.iter().chain(&[0u8; 8]).copied().collect();
            if let Ok(insns) = decode_bytes(&bytes[..insns_len(code)]) {
                valid += 1;
                assert_eq!(encode_bytes(&insns), bytes[..insns_len(code)], "opcode {code:#04x}");
            }
        }
    }
    // Every class contributes: ALU/ALU64/JMP/JMP32/LD/LDX/ST/STX opcodes.
    assert!(valid > 150, "only {valid} opcode/field combinations decoded");
}

fn insns_len(code: u8) -> usize {
    if code == opcode::LD_IMM64 { 16 } else { 8 }
}
