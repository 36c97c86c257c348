//! Objects `Object::load` refuses: each error names the section, the
//! offset or symbol at fault and why; and no corruption of a real object
//! makes a load panic.

use std::sync::{Arc, OnceLock};

use bpfx_loader::btf::{Btf, BtfErrorKind, TypeId};
use bpfx_loader::{KconfigSource, LoadError, LoadOptions, Object, TargetBtf, VMLINUX_BTF};
use proptest::prelude::*;

use crate::elf::{self, Elf, slot};
use crate::{progs, read, root};

const EXIT: u64 = 0x0000_0000_0000_0095;
const MOV_R0_1: u64 = 0x0000_0001_0000_00b7;
const LDDW: u64 = 0x0000_0000_0000_0118;

fn load(elf: Elf) -> Result<Object, LoadError> {
    Object::load(&elf.build(), &LoadOptions::as_compiled())
}

/// An XDP program `prog` of `slots`, with a license.
fn xdp_object(slots: &[u64]) -> (Elf, u16) {
    let mut elf = Elf::default();
    let xdp = elf.code("xdp", slots);
    elf.section("license", elf::SHT_PROGBITS, elf::SHF_ALLOC | elf::SHF_WRITE, b"GPL\0");
    elf.symbol("prog", xdp, 0, 8 * slots.len() as u64, elf::STT_FUNC, elf::STB_GLOBAL);
    (elf, xdp)
}

#[test]
fn an_unknown_relocation_type_names_its_section_and_offset() {
    let (mut elf, xdp) = xdp_object(&[LDDW, 0, EXIT]);
    elf.rel(xdp, &[(0, 42, 1)]);
    match load(elf) {
        Err(e @ LoadError::UnknownRelocation { .. }) => {
            assert_eq!(e.to_string(), "section xdp: relocation 0 at 0x0 has unknown type 42")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn relocations_that_do_not_fit_their_instruction_are_refused() {
    let (mut elf, xdp) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.rel(xdp, &[(8, elf::R_BPF_64_64, 1)]);
    match load(elf) {
        Err(e @ LoadError::BadRelocation { .. }) => {
            assert_eq!(
                e.to_string(),
                "section xdp: relocation 0 at 0x8 against prog: R_BPF_64_64 applies to a plain lddw only"
            )
        }
        other => panic!("{other:?}"),
    }
    let (mut elf, xdp) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.rel(xdp, &[(0, 2, 1)]);
    assert!(
        matches!(load(elf), Err(LoadError::BadRelocation { reason, .. }) if reason == "R_BPF_64_ABS64 does not apply to an instruction")
    );
}

#[test]
fn a_relocation_to_a_missing_symbol_is_refused() {
    let (mut elf, xdp) = xdp_object(&[LDDW, 0, EXIT]);
    let missing = elf.symbol("nowhere", 0, 0, 0, elf::STT_NOTYPE, elf::STB_GLOBAL);
    elf.rel(xdp, &[(0, elf::R_BPF_64_64, missing)]);
    match load(elf) {
        Err(e @ LoadError::Extern { .. }) => {
            assert_eq!(e.to_string(), "extern nowhere: the object has no BTF to describe it")
        }
        other => panic!("{other:?}"),
    }
    // A symbol in a section that is neither code, maps nor data.
    let (mut elf, xdp) = xdp_object(&[LDDW, 0, EXIT]);
    let license = elf.symbol("LICENSE", 2, 0, 4, 1, elf::STB_GLOBAL);
    elf.rel(xdp, &[(0, elf::R_BPF_64_64, license)]);
    match load(elf) {
        Err(LoadError::BadRelocation { section, symbol, reason, .. }) => {
            assert_eq!((section.as_str(), symbol.as_str()), ("xdp", "LICENSE"));
            assert_eq!(reason, "the symbol is in a section that is neither code, maps nor global data");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn calls_must_land_on_a_function() {
    // `call +1` lands on the exit after it, which starts no function.
    let (elf, _) = xdp_object(&[slot(0x85, 0, 1, 0, 1), MOV_R0_1, EXIT]);
    match load(elf) {
        Err(e @ LoadError::BadProgram { .. }) => assert_eq!(
            e.to_string(),
            "section xdp: program prog: function prog calls or references slot 2 of section xdp, where no function starts"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn programs_must_be_global_and_whole_slots() {
    let mut elf = Elf::default();
    let xdp = elf.code("xdp", &[MOV_R0_1, EXIT]);
    elf.symbol("hidden", xdp, 0, 16, elf::STT_FUNC, elf::STB_LOCAL);
    assert!(
        matches!(load(elf), Err(LoadError::BadProgram { name, reason, .. }) if name == "hidden" && reason.contains("static"))
    );
    let mut elf = Elf::default();
    let xdp = elf.code("xdp", &[LDDW, 0, EXIT]);
    elf.symbol("prog", xdp, 0, 8, elf::STT_FUNC, elf::STB_GLOBAL);
    assert!(matches!(load(elf), Err(LoadError::BadProgram { reason, .. }) if reason.contains("inside an instruction")));
}

#[test]
fn a_version_section_is_four_bytes() {
    let (mut elf, _) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.section("version", elf::SHT_PROGBITS, elf::SHF_ALLOC, &[1, 2, 3]);
    assert!(matches!(load(elf), Err(LoadError::BadVersion(3))));
    let (mut elf, _) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.section("version", elf::SHT_PROGBITS, elf::SHF_ALLOC, &0x060c00u32.to_le_bytes());
    let object = load(elf).unwrap();
    assert_eq!((object.version(), object.programs()[0].kernel_version), (Some(0x060c00), 0x060c00));
}

/// A BTF blob: the header, then `types` (12-byte records and their
/// extras), then `strings`.
fn btf(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let types: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for word in [24u32, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
        out.extend(word.to_le_bytes());
    }
    out.extend(types);
    out.extend(strings);
    out
}

fn btf_error(blob: &[u8]) -> (String, u64, BtfErrorKind) {
    let (mut elf, _) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.section(".BTF", elf::SHT_PROGBITS, 0, blob);
    match load(elf) {
        Err(e @ LoadError::Btf { .. }) => {
            let LoadError::Btf { section, source } = &e else { unreachable!() };
            assert!(e.to_string().starts_with(&format!("section {section} at {:#x}: ", source.offset)), "{e}");
            (section.clone(), source.offset as u64, source.kind.clone())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_btf_is_refused_with_its_offset() {
    const PTR: u32 = 2 << 24;
    const INT: u32 = 1 << 24;
    let ok = btf(&[1, INT, 4, 32], b"\0int\0");
    assert!(Btf::parse(&ok).is_ok());
    let mut bad_magic = ok.clone();
    bad_magic[0] = 0;
    assert_eq!(btf_error(&bad_magic), (".BTF".into(), 0, BtfErrorKind::BadMagic(0xeb00)));
    let mut big = ok.clone();
    big.swap(0, 1);
    assert_eq!(btf_error(&big).2, BtfErrorKind::BigEndian);
    let (_, offset, kind) = btf_error(&btf(&[1, INT, 4, 32, 0, PTR, 9], b"\0int\0"));
    assert_eq!(offset, 24 + 16, "the second type");
    assert_eq!(kind, BtfErrorKind::BadReference { id: TypeId(2), kind: "PTR", target: TypeId(9), count: 3 });
    let (_, _, kind) = btf_error(&btf(&[77, INT, 4, 32], b"\0int\0"));
    assert_eq!(kind, BtfErrorKind::BadString { what: "type [1]".into(), off: 77 });
    let (_, offset, kind) = btf_error(&btf(&[0, 31 << 24, 0], b"\0"));
    assert_eq!((offset, kind), (24, BtfErrorKind::UnknownKind { id: TypeId(1), kind: 31 }));
    let truncated = &ok[..ok.len() - 3];
    assert!(matches!(btf_error(truncated).2, BtfErrorKind::OutOfBounds { what: "string section", .. }));
    let (_, _, kind) = btf_error(&btf(&[0, (4 << 24) | 2, 8, 0, 1, 0], b"\0"));
    assert!(matches!(kind, BtfErrorKind::OutOfBounds { what: "type", .. }), "a struct of 2 members with room for 0");
}

/// A `.BTF.ext` without `.BTF`, and one whose records name a missing type.
#[test]
fn bad_btf_ext_is_refused() {
    let (mut elf, _) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.section(".BTF.ext", elf::SHT_PROGBITS, 0, &[0x9f, 0xeb, 1, 0, 32, 0, 0, 0]);
    assert!(matches!(load(elf), Err(LoadError::Btf { section, .. }) if section == ".BTF.ext"));
    let mut ext = vec![0x9f, 0xeb, 1, 0];
    for word in [24u32, 0, 20, 0, 0] {
        ext.extend(word.to_le_bytes());
    }
    for word in [8u32, 1, 1, 0, 5] {
        ext.extend(word.to_le_bytes());
    }
    let (mut elf, _) = xdp_object(&[MOV_R0_1, EXIT]);
    elf.section(".BTF", elf::SHT_PROGBITS, 0, &btf(&[], b"\0xdp\0"));
    elf.section(".BTF.ext", elf::SHT_PROGBITS, 0, &ext);
    match load(elf) {
        Err(e @ LoadError::Btf { .. }) => assert!(e.to_string().contains("func_info record names type [5]"), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// The running kernel's BTF, parsed once for the whole test process.
fn vmlinux() -> Arc<Btf> {
    static BTF: OnceLock<Arc<Btf>> = OnceLock::new();
    BTF.get_or_init(|| Arc::new(Btf::parse(&read(VMLINUX_BTF.as_ref())).unwrap())).clone()
}

/// The ranges of the sections of an ELF64 object (offset, size), read
/// from its section header table.
fn section_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let word = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0usize, |v, &b| v << 8 | usize::from(b));
    let (shoff, shnum) = (word(0x28, 8), word(0x3c, 2));
    (0..shnum).map(|i| (word(shoff + i * 64 + 0x18, 8), word(shoff + i * 64 + 0x20, 8))).filter(|r| r.1 > 0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Corrupting bytes of any section of a real object (code, BTF, its
    /// extension, relocations, maps, symbols) gives a load or an error,
    /// never a panic.
    #[test]
    fn corrupted_objects_load_or_fail_but_never_panic(
        object in 0usize..64,
        section in 0usize..64,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::weighted(0.1, any::<usize>()),
    ) {
        static OBJECTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let objects = OBJECTS.get_or_init(|| progs::objects(&root()).iter().map(|p| read(p)).collect());
        let mut bytes = objects[object % objects.len()].clone();
        let ranges = section_ranges(&bytes);
        let (start, len) = ranges[section % ranges.len()];
        for (at, byte) in edits {
            bytes[start + at % len] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % bytes.len());
        }
        let options = LoadOptions {
            target: TargetBtf::Btf(vmlinux()),
            kconfig_source: KconfigSource::None,
            require_externs: false,
            ..LoadOptions::default()
        };
        let _ = Object::load(&bytes, &options);
    }
}
