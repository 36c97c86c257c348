//! `Object::parse` on clang-19's objects of the C test programs, and on
//! malformed objects: each is refused with a typed error naming what is at
//! fault, and no corruption makes the parser panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfx_isa::{CallTarget, DecodeErrorKind, Insn, InsnIdx, LdImm64Kind, encode_bytes, with_slots};
use bpfx_loader::{Binding, LoadError, Object, RelocKind, SymbolKind};

use crate::elf::{self, Elf, slot};
use crate::{progs, read, root};

/// A section's bytes as llvm-objcopy-19 extracts them.
fn section_bytes(object: &Path, section: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sections");
    std::fs::create_dir_all(&dir).unwrap();
    let stem = object.file_stem().unwrap().to_string_lossy();
    let dump = dir.join(format!("{stem}.{}.bin", section.replace('/', "_")));
    let copy = dir.join(format!("{stem}.copy.o"));
    let out = Command::new("llvm-objcopy-19")
        .arg(format!("--dump-section={section}={}", dump.display()))
        .arg(object)
        .arg(&copy)
        .output()
        .expect("llvm-objcopy-19 runs (scripts/install-deps installs llvm-19)");
    assert!(out.status.success(), "llvm-objcopy-19: {}", String::from_utf8_lossy(&out.stderr));
    read(&dump)
}

const MOV_R0_1: u64 = 0x0000_0001_0000_00b7;
const EXIT: u64 = 0x0000_0000_0000_0095;

/// An object with one XDP section `[r0 = 1, exit]`, a function symbol and a license.
fn minimal() -> Elf {
    let mut elf = Elf::default();
    let xdp = elf.code("xdp", &[MOV_R0_1, EXIT]);
    elf.section("license", elf::SHT_PROGBITS, elf::SHF_ALLOC | elf::SHF_WRITE, b"GPL\0");
    elf.symbol("prog", xdp, 0, 16, elf::STT_FUNC, elf::STB_GLOBAL);
    elf
}

#[test]
fn every_test_object_loads_and_its_sections_encode_back_to_their_bytes() {
    let mut insns = 0;
    let objects = progs::objects(&root());
    for path in &objects {
        let object = Object::parse(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(object.license(), Some("GPL"), "{}", path.display());
        assert!(object.sections().iter().any(|s| !s.insns().is_empty()), "{}: no code", path.display());
        for section in object.sections().iter().filter(|s| !s.insns().is_empty()) {
            let context = format!("{} section {}", path.display(), section.name());
            assert_eq!(encode_bytes(section.insns()), section_bytes(path, section.name()), "{context}");
            insns += section.insns().len();
            let at: Vec<(InsnIdx, &Insn)> = with_slots(section.insns()).collect();
            for reloc in section.relocations() {
                let insn = at.iter().find(|(slot, _)| *slot == reloc.at).map(|(_, insn)| insn);
                // clang relocates an lddw's immediate (maps, data, functions) and a call's.
                match reloc.kind {
                    RelocKind::Bpf64_64 => assert!(matches!(insn, Some(Insn::LdImm64 { .. })), "{context}: {reloc:?}"),
                    RelocKind::Bpf64_32 => assert!(matches!(insn, Some(Insn::Call(_))), "{context}: {reloc:?}"),
                    other => panic!("{context}: unexpected relocation kind {other}"),
                }
            }
            for symbol in section.symbols() {
                assert!(at.iter().any(|(slot, _)| *slot == symbol.at), "{context}: {symbol:?}");
            }
        }
    }
    eprintln!("{} objects, {insns} instructions", objects.len());
}

#[test]
fn symbols_and_relocations_are_found_by_slot() {
    let mut elf = Elf::default();
    let lddw = [slot(0x18, 1, 0, 0, 0), 0];
    let text = elf.code(".text", &[MOV_R0_1, EXIT]);
    let xdp = elf.code("xdp", &[lddw[0], lddw[1], slot(0x85, 0, 1, 0, -1), EXIT, slot(0x18, 2, 0, 0, 0), 0]);
    let text_sym = elf.symbol("", text, 0, 0, elf::STT_SECTION, elf::STB_LOCAL);
    elf.symbol("sub", text, 0, 16, elf::STT_FUNC, elf::STB_LOCAL);
    elf.symbol("prog", xdp, 0, 32, elf::STT_FUNC, elf::STB_GLOBAL);
    elf.symbol("after_call", xdp, 24, 0, elf::STT_NOTYPE, elf::STB_LOCAL);
    let map = elf.symbol("counts", 0, 0, 0, elf::STT_NOTYPE, elf::STB_GLOBAL);
    elf.rel(xdp, &[(16, elf::R_BPF_64_32, text_sym), (0, elf::R_BPF_64_64, map), (32, 99, 0)]);
    let object = Object::parse(&elf.build()).unwrap();

    assert_eq!(object.sections().len(), 2);
    let text = object.section(".text").unwrap();
    assert_eq!(text.symbols().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["sub"]);
    let xdp = object.section("xdp").unwrap();
    let prog = xdp.symbols_at(InsnIdx(0)).next().unwrap();
    assert_eq!(
        (prog.name.as_str(), prog.kind, prog.binding, prog.size),
        ("prog", SymbolKind::Func, Binding::Global, 32)
    );
    assert_eq!(xdp.symbols_at(InsnIdx(3)).next().unwrap().name, "after_call");
    assert!(matches!(xdp.insns()[0], Insn::LdImm64 { kind: LdImm64Kind::Imm, .. }));
    assert!(matches!(xdp.insns()[1], Insn::Call(CallTarget::Local(-1))));

    let relocs = xdp.relocations();
    assert_eq!(relocs.iter().map(|r| r.at).collect::<Vec<_>>(), [InsnIdx(0), InsnIdx(2), InsnIdx(4)], "by slot");
    let absolute = xdp.relocations_at(InsnIdx(4)).next().unwrap();
    assert_eq!((absolute.kind, &absolute.symbol), (RelocKind::Other(99), &None), "symbol 0 is no symbol");
    let map_reloc = xdp.relocations_at(InsnIdx(0)).next().unwrap();
    let map = map_reloc.symbol.as_ref().unwrap();
    assert_eq!((map_reloc.kind, map.name.as_str(), map.section), (RelocKind::Bpf64_64, "counts", None));
    let call = xdp.relocations_at(InsnIdx(2)).next().unwrap();
    let callee = call.symbol.as_ref().unwrap();
    assert_eq!((call.kind, callee.kind), (RelocKind::Bpf64_32, SymbolKind::Section));
    assert_eq!(callee.name, ".text", "a section symbol is named after its section");
    assert_eq!(callee.section, Some(text.index()));
    assert_eq!(object.license(), None);
}

#[test]
fn an_instruction_that_does_not_decode_names_its_section_and_slot() {
    let mut elf = Elf::default();
    elf.code("xdp", &[slot(0x18, 0, 0, 0, 1), 0, MOV_R0_1, slot(0xff, 0, 0, 0, 0), EXIT]);
    match Object::parse(&elf.build()) {
        Err(LoadError::Decode { section, source }) => {
            assert_eq!(section, "xdp");
            assert_eq!((source.at, source.kind), (InsnIdx(3), DecodeErrorKind::UnknownOpcode(0xff)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn symbols_must_be_on_instruction_boundaries() {
    for value in [4, 8, 40] {
        let mut elf = Elf::default();
        let xdp = elf.code("xdp", &[slot(0x18, 0, 0, 0, 1), 0, EXIT]);
        elf.symbol("odd", xdp, value, 0, elf::STT_NOTYPE, elf::STB_LOCAL);
        // 4: mid-slot; 8: the second slot of lddw; 40: past the end.
        match Object::parse(&elf.build()) {
            Err(LoadError::BadSymbol { section, name, offset, size }) => {
                assert_eq!((section.as_str(), name.as_str(), offset, size), ("xdp", "odd", value, 24));
            }
            other => panic!("symbol at {value}: {other:?}"),
        }
    }
}

#[test]
fn relocations_must_name_a_slot_and_a_symbol() {
    let mut elf = minimal();
    elf.rel(1, &[(16, elf::R_BPF_64_64, 1)]);
    assert!(matches!(Object::parse(&elf.build()), Err(LoadError::BadRelocOffset { index: 0, offset: 16, .. })));
    let mut elf = minimal();
    elf.rel(1, &[(0, elf::R_BPF_64_64, 1), (8, elf::R_BPF_64_64, 7)]);
    match Object::parse(&elf.build()) {
        Err(LoadError::BadRelocSymbol { section, index: 1, symbol: 7, count: 2 }) => assert_eq!(section, "xdp"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_bpf_32_bit_big_endian_and_non_elf_inputs_are_refused() {
    let bytes = Elf::default().machine(62).build();
    assert!(matches!(Object::parse(&bytes), Err(LoadError::NotBpf(62))));
    let mut bytes = minimal().build();
    bytes[4] = 1;
    assert!(matches!(Object::parse(&bytes), Err(LoadError::NotElf64)));
    let big = read(&progs::big_endian_object(&root()));
    assert!(matches!(Object::parse(&big), Err(LoadError::BigEndian)));
    match Object::parse(b"r0 = 1\nexit\n") {
        Err(e @ LoadError::NotElf(_)) => assert_eq!(e.to_string(), "not an ELF object (starts with [72, 30, 20, 3d])"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_license_must_be_utf8() {
    let mut elf = Elf::default();
    elf.code("xdp", &[MOV_R0_1, EXIT]);
    elf.section("license", elf::SHT_PROGBITS, elf::SHF_ALLOC, b"G\xffL\0");
    assert!(matches!(Object::parse(&elf.build()), Err(LoadError::BadLicense)));
}

/// Every prefix of a real object is refused as truncated, naming what was cut.
#[test]
fn truncated_objects_are_refused_with_what_was_cut() {
    let bytes = read(&progs::objects(&root())[0]);
    for len in 0..bytes.len() {
        match Object::parse(&bytes[..len]) {
            Err(LoadError::NotElf(_)) => assert!(len < 4),
            Err(LoadError::Truncated { what, file_len, offset, size }) => {
                assert_eq!(file_len, len);
                assert!(offset + size > len as u64, "{what} at {offset:#x}+{size:#x} fits in {len} bytes");
                let expected = match len {
                    ..16 => "ELF identification",
                    16..64 => "ELF header",
                    _ => "section header table",
                };
                assert_eq!(what, expected, "prefix of {len} bytes");
            }
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
}

/// A section whose contents lie past the end of the file.
#[test]
fn section_contents_past_the_end_of_the_file_are_refused() {
    let mut bytes = minimal().build();
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    // Section 1 (xdp): its sh_size is at byte 32 of its header.
    let size_at = shoff + 64 + 32;
    bytes[size_at..size_at + 8].copy_from_slice(&0x10_0000u64.to_le_bytes());
    match Object::parse(&bytes) {
        Err(e @ LoadError::Truncated { .. }) => {
            assert!(
                e.to_string().starts_with("section xdp at 0x40 (0x100000 bytes) lies past the end of the file"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// Random corruption of real objects yields objects or errors, never a panic.
#[test]
fn corrupted_objects_never_panic() {
    let objects: Vec<Vec<u8>> = progs::objects(&root()).iter().map(|p| read(p)).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut refused, mut loaded) = (0, 0);
    for round in 0..20_000 {
        let mut bytes = objects[round % objects.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        match Object::parse(&bytes) {
            Ok(_) => loaded += 1,
            Err(_) => refused += 1,
        }
    }
    eprintln!("corrupted objects: {loaded} loaded, {refused} refused");
    assert!(refused > 0 && loaded > 0);
}
