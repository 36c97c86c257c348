//! Bad input and bad usage: exit code 2, the error on stderr naming the file
//! and what in it is at fault, nothing on stdout, never a panic.

use std::path::Path;

use bpfx_isa::decode::Field;
use bpfx_isa::{DecodeError, DecodeErrorKind, InsnIdx, assemble};

use crate::elf::{Elf, slot};
use crate::{bpfx, failure, progs, root, scratch, stdout};

const MOV_R0_1: u64 = 0x0000_0001_0000_00b7;
const EXIT: u64 = 0x0000_0000_0000_0095;
const LDDW: u8 = 0x18;

fn bytes(slots: &[u64]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The name of each decode error kind: the match makes a new kind fail to
/// compile here until it has a crafted case below.
fn kind_name(kind: &DecodeErrorKind) -> &'static str {
    match kind {
        DecodeErrorKind::UnknownOpcode(_) => "unknown opcode",
        DecodeErrorKind::InvalidRegister { .. } => "invalid register",
        DecodeErrorKind::ReservedField { .. } => "reserved field",
        DecodeErrorKind::InvalidField { .. } => "invalid field",
        DecodeErrorKind::TruncatedLdImm64 => "lddw without second slot",
        DecodeErrorKind::BadLdImm64Tail { .. } => "lddw bad second slot",
        DecodeErrorKind::PartialSlot(_) => "partial slot",
    }
}

const KIND_NAMES: [&str; 7] = [
    "unknown opcode",
    "invalid register",
    "reserved field",
    "invalid field",
    "lddw without second slot",
    "lddw bad second slot",
    "partial slot",
];

/// One crafted program per way a slot fails to decode, with the error
/// (kind and instruction index) it must produce.
fn decode_cases() -> Vec<(&'static str, Vec<u8>, DecodeError)> {
    let err = |at, kind| DecodeError { at: InsnIdx(at), kind };
    let mut partial = bytes(&[MOV_R0_1]);
    partial.extend([0x95, 0, 0, 0]);
    vec![
        (
            "unknown_opcode",
            bytes(&[MOV_R0_1, slot(0xff, 0, 0, 0, 0), EXIT]),
            err(1, DecodeErrorKind::UnknownOpcode(0xff)),
        ),
        (
            "register_11",
            bytes(&[slot(0xb7, 11, 0, 0, 1), EXIT]),
            err(0, DecodeErrorKind::InvalidRegister { field: Field::Dst, reg: 11 }),
        ),
        (
            "src_register_12",
            bytes(&[MOV_R0_1, slot(0xbf, 1, 12, 0, 0), EXIT]),
            err(1, DecodeErrorKind::InvalidRegister { field: Field::Src, reg: 12 }),
        ),
        (
            "reserved_imm_of_exit",
            bytes(&[MOV_R0_1, slot(0x95, 0, 0, 0, 1)]),
            err(1, DecodeErrorKind::ReservedField { code: 0x95, field: Field::Imm, value: 1 }),
        ),
        (
            "byte_swap_width_17",
            bytes(&[MOV_R0_1, slot(0xd4, 0, 0, 0, 17), EXIT]),
            err(1, DecodeErrorKind::InvalidField { code: 0xd4, field: Field::Imm, value: 17 }),
        ),
        (
            "atomic_op_2",
            bytes(&[MOV_R0_1, slot(0xdb, 1, 2, 0, 2), EXIT]),
            err(1, DecodeErrorKind::InvalidField { code: 0xdb, field: Field::Imm, value: 2 }),
        ),
        ("lddw_last_slot", bytes(&[MOV_R0_1, slot(LDDW, 0, 0, 0, 1)]), err(1, DecodeErrorKind::TruncatedLdImm64)),
        (
            "lddw_second_slot_is_exit",
            bytes(&[slot(LDDW, 0, 0, 0, 1), EXIT, EXIT]),
            err(0, DecodeErrorKind::BadLdImm64Tail { code: 0x95, regs: 0, off: 0 }),
        ),
        ("twelve_bytes", partial, err(1, DecodeErrorKind::PartialSlot(12))),
    ]
}

#[test]
fn each_decode_error_kind_is_reported_with_its_instruction() {
    let dir = scratch("each_decode_error_kind_is_reported_with_its_instruction");
    let cases = decode_cases();
    for name in KIND_NAMES {
        assert!(cases.iter().any(|(_, _, e)| kind_name(&e.kind) == name), "no crafted case for {name}");
    }
    for (name, bytes, error) in cases {
        let file = format!("{name}.bin");
        std::fs::write(dir.join(&file), bytes).unwrap();
        let stderr = failure(bpfx(&dir, &["disasm", &file]), 2);
        assert_eq!(stderr, format!("{file}: {error}\n"), "{}", kind_name(&error.kind));
    }
}

#[test]
fn an_undecodable_instruction_in_an_object_names_its_section() {
    let dir = scratch("an_undecodable_instruction_in_an_object_names_its_section");
    let mut elf = Elf::default();
    elf.code(".text", &[MOV_R0_1, EXIT]);
    elf.code("xdp", &[MOV_R0_1, MOV_R0_1, slot(LDDW, 0, 0, 0, 1), 0, slot(0xdb, 1, 2, 0, 0x42), EXIT]);
    std::fs::write(dir.join("bad.o"), elf.build()).unwrap();
    let stderr = failure(bpfx(&dir, &["disasm", "bad.o"]), 2);
    assert_eq!(stderr, "bad.o: section xdp: invalid imm 0x42 for opcode 0xdb at insn 4 (byte 0x20)\n");
}

#[test]
fn corrupt_truncated_and_foreign_objects_are_refused() {
    let dir = scratch("corrupt_truncated_and_foreign_objects_are_refused");
    let object = std::fs::read(&progs::objects(root())[0]).unwrap();
    let shoff = u64::from_le_bytes(object[40..48].try_into().unwrap());
    std::fs::write(dir.join("truncated.o"), &object[..object.len() / 2]).unwrap();
    let mut corrupt = object.clone();
    corrupt[5] = 9;
    std::fs::write(dir.join("corrupt.o"), corrupt).unwrap();
    let mut x86 = object.clone();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes());
    std::fs::write(dir.join("x86.o"), x86).unwrap();
    let big_endian = progs::big_endian_object(root());

    let big_endian = big_endian.to_str().unwrap();
    let cases = [
        (
            "truncated.o",
            format!(
                "section header table at {shoff:#x} ({:#x} bytes) lies past the end of the file ({:#x} bytes)",
                u64::from(u16::from_le_bytes([object[60], object[61]])) * 64,
                object.len() / 2
            ),
        ),
        ("corrupt.o", "invalid ELF identification: class 2, data encoding 9".to_string()),
        ("x86.o", "not a BPF object: e_machine is 62 (EM_BPF is 247)".to_string()),
        (
            big_endian,
            "big-endian ELF object: bpfx reads little-endian BPF objects (clang -target bpf on a little-endian host, or bpfel)"
                .to_string(),
        ),
    ];
    for (file, message) in cases {
        let stderr = failure(bpfx(&dir, &["disasm", file]), 2);
        assert_eq!(stderr, format!("{file}: {message}\n"));
    }
}

#[test]
fn bad_assembly_is_reported_at_its_line_and_column() {
    let dir = scratch("bad_assembly_is_reported_at_its_line_and_column");
    let source = "r0 = 0x1\nr1 += r2\nr3 = *(u32 *)(r11 + 0x4)\nexit\n";
    std::fs::write(dir.join("prog.s"), source).unwrap();
    let error = assemble(source).unwrap_err();
    let column = source.lines().nth(2).unwrap().find("r11").unwrap() + 1;
    assert_eq!((error.line, error.column as usize), (3, column), "the assembler points at r11: {error}");
    for command in ["disasm", "asm"] {
        let stderr = failure(bpfx(&dir, &[command, "prog.s"]), 2);
        assert_eq!(stderr, format!("prog.s:{error}\n"), "bpfx {command}");
    }
    assert!(!dir.join("prog.bin").exists(), "asm wrote output for bad input");
}

#[test]
fn unreadable_input_is_reported_with_the_file_name() {
    let dir = scratch("unreadable_input_is_reported_with_the_file_name");
    let stderr = failure(bpfx(&dir, &["disasm", "missing.o"]), 2);
    assert!(stderr.starts_with("missing.o: No such file or directory"), "{stderr}");
    std::fs::write(dir.join("latin1.s"), b"r0 = 0x1 # caf\xe9\nexit\n").unwrap();
    let stderr = failure(bpfx(&dir, &["asm", "latin1.s"]), 2);
    assert!(stderr.starts_with("latin1.s: not UTF-8 text"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for args in [&[][..], &["disasm"], &["frobnicate"], &["disasm", "--bogus", "x.o"], &["asm", "x.s", "-o"]] {
        let stderr = failure(bpfx(dir, args), 2);
        assert!(stderr.starts_with("error: ") || stderr.contains("Usage: bpfx"), "bpfx {args:?}: {stderr}");
    }
    let help = bpfx(dir, &["disasm", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("ELF object"));
}
