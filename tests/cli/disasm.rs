//! `bpfx disasm` on every test object: line by line against
//! `llvm-objdump-19 -dr --no-show-raw-insn` (the differences allowed are
//! exactly those of `tests/support/llvm_forms.rs`), against the golden
//! listings in `tests/golden/`, and reassembled by bpfx's assembler.

use std::collections::BTreeMap;
use std::path::Path;

use bpfx_isa::assemble;
use bpfx_isa::disasm::Listing;
use bpfx_loader::Object;
use similar::TextDiff;

use crate::elf::{self, Elf, slot};
use crate::llvm_forms::{Objdump, objdump_line};
use crate::{bpfx, progs, root, scratch, success, tool};

const MOV_R0_1: u64 = 0x0000_0001_0000_00b7;
const EXIT: u64 = 0x0000_0000_0000_0095;

fn listing(object: &Path) -> String {
    let name = object.file_name().unwrap().to_str().unwrap();
    success(bpfx(object.parent().unwrap(), &["disasm", name]))
}

fn objdump(object: &Path, extra: &[&str]) -> Vec<String> {
    let name = object.file_name().unwrap().to_str().unwrap();
    let args: Vec<&str> = ["-dr", "--no-show-raw-insn"].iter().chain(extra).copied().chain([name]).collect();
    tool(object.parent().unwrap(), "llvm-objdump-19", &args).lines().map(str::to_string).collect()
}

/// Whether a listing line is an instruction (`      12:\t...`).
fn is_insn_line(line: &str) -> bool {
    line.split_once(":\t").is_some_and(|(slot, _)| {
        let slot = slot.trim_start();
        !slot.is_empty() && slot.bytes().all(|b| b.is_ascii_digit())
    })
}

/// An instruction line without objdump's jump-target annotation (`<f+0x10>`).
fn strip_annotation(line: &str) -> &str {
    match line.rsplit_once(" <") {
        Some((insn, annotation)) if annotation.ends_with('>') => insn,
        _ => line,
    }
}

/// Which rule of `llvm_forms` a differing line was matched by.
fn rule(bpfx: &str, objdump: &str, source: Objdump) -> &'static str {
    match source {
        Objdump::Alu32 => "32-bit atomic (objdump --mattr=+alu32)",
        Objdump::Default if bpfx.contains("call local ") => "call local",
        Objdump::Default if bpfx.contains("call kfunc ") => "call kfunc",
        Objdump::Default if bpfx.contains("ld_pseudo") => "ld_pseudo high half",
        Objdump::Default if bpfx != objdump => "skb[reg + imm]",
        Objdump::Default => "identical",
    }
}

/// Compares bpfx's listing of `object` with objdump's, line by line,
/// counting instructions per rule of `llvm_forms`; mismatches go to `failures`.
fn compare_with_objdump(object: &Path, rules: &mut BTreeMap<&'static str, usize>, failures: &mut Vec<String>) {
    let ours = listing(object);
    let ours: Vec<&str> = ours.lines().collect();
    let default = objdump(object, &[]);
    let alu32 = objdump(object, &["--mattr=+alu32"]);
    if ours.len() != default.len() {
        failures.push(format!("{}: bpfx lists {} lines, objdump {}", object.display(), ours.len(), default.len()));
        return;
    }
    for (i, line) in ours.iter().enumerate() {
        let (source, expected) = objdump_line(line);
        let theirs = match source {
            Objdump::Default => &default[i],
            Objdump::Alu32 => &alu32[i],
        };
        if *theirs != expected {
            failures.push(format!(
                "{}:{}:\n  bpfx:    {line:?}\n  expects: {expected:?}\n  objdump: {theirs:?}",
                object.display(),
                i + 1
            ));
        }
        if is_insn_line(line) {
            *rules.entry(rule(line, theirs, source)).or_default() += 1;
        }
    }
}

#[test]
fn listing_matches_llvm_objdump_on_every_test_object() {
    let objects = progs::objects(root());
    let mut rules = BTreeMap::new();
    let mut failures = Vec::new();
    for object in &objects {
        compare_with_objdump(object, &mut rules, &mut failures);
    }
    assert!(failures.is_empty(), "bpfx's listing differs from llvm-objdump-19's:\n{}", failures.join("\n"));
    let insns: usize = rules.values().sum();
    eprintln!("{} objects, {insns} instructions compared with llvm-objdump-19: {rules:?}", objects.len());
}

/// What clang never emits but objdump has a rule for: a section without
/// symbols, a first symbol past the section start, several symbols on one
/// slot, labels, jumps before the start and past the end, a relocation
/// without a symbol and one of an unknown type.
#[test]
fn listing_matches_llvm_objdump_on_crafted_objects() {
    let dir = scratch("listing_matches_llvm_objdump_on_crafted_objects");
    let mut elf = Elf::default();
    let goto = |off| slot(0x05, 0, 0, off, 0);
    elf.code(".text", &[MOV_R0_1, goto(-3), goto(0), EXIT]);
    let xdp = elf.code("xdp", &[slot(0x18, 1, 0, 0, 0), 0, goto(1), slot(0x85, 0, 1, 0, -1), goto(-5), goto(9), EXIT]);
    let tc = elf.code("tc", &[MOV_R0_1, goto(1), goto(-2), EXIT]);
    elf.symbol("prog", xdp, 0, 56, elf::STT_FUNC, elf::STB_GLOBAL);
    elf.symbol("b_label", xdp, 24, 0, elf::STT_NOTYPE, elf::STB_LOCAL);
    elf.symbol("a_label", xdp, 24, 0, elf::STT_NOTYPE, elf::STB_LOCAL);
    elf.symbol("LBB2_1", tc, 16, 0, elf::STT_NOTYPE, elf::STB_LOCAL);
    let helper = elf.symbol("helper", 0, 0, 0, elf::STT_NOTYPE, elf::STB_GLOBAL);
    elf.rel(xdp, &[(0, 99, 0), (24, elf::R_BPF_64_32, helper)]);
    std::fs::write(dir.join("crafted.o"), elf.build()).unwrap();

    let (mut rules, mut failures) = (BTreeMap::new(), Vec::new());
    compare_with_objdump(&dir.join("crafted.o"), &mut rules, &mut failures);
    assert!(failures.is_empty(), "bpfx's listing differs from llvm-objdump-19's:\n{}", failures.join("\n"));
}

#[test]
fn listing_matches_the_golden_files() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let golden_dir = root().join("tests/golden");
    let objects = progs::objects(root());
    let mut failures = Vec::new();
    for object in &objects {
        let ours = listing(object);
        let golden = golden_dir.join(object.with_extension("txt").file_name().unwrap());
        if bless {
            std::fs::write(&golden, &ours).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != ours {
            let diff = TextDiff::from_lines(&expected, &ours)
                .unified_diff()
                .header(&golden.display().to_string(), "bpfx disasm")
                .to_string();
            failures.push(diff);
        }
    }
    let stale: Vec<String> = std::fs::read_dir(&golden_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|golden| !objects.iter().any(|o| o.file_stem() == golden.file_stem()))
        .map(|golden| format!("{} has no test program", golden.display()))
        .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\nlistings differ from tests/golden: rerun with BLESS=1 to accept",
        failures.join("\n")
    );
}

/// Each instruction's text, and each section's whole listing (symbol
/// headers, annotations, relocation lines and all), assemble back to the
/// very same instructions.
#[test]
fn every_instruction_of_every_object_reassembles() {
    let mut count = 0;
    for path in progs::objects(root()) {
        let object = Object::parse(&std::fs::read(&path).unwrap()).unwrap();
        for section in object.sections() {
            for insn in section.insns() {
                let text = insn.to_string();
                assert_eq!(assemble(&text).map_err(|e| e.to_string()), Ok(vec![*insn]), "{text:?}");
                count += 1;
            }
            let mut listing = Listing::new(section.insns());
            for symbol in section.symbols() {
                listing = listing.label(symbol.at, &symbol.name);
            }
            let text = listing.to_string();
            let context = format!("{} section {}", path.display(), section.name());
            assert_eq!(assemble(&text).map_err(|e| e.to_string()).as_deref(), Ok(section.insns()), "{context}");
        }
    }
    eprintln!("{count} instructions reassembled");
}

/// A raw `.bin` (a section's bytes, as llvm-objcopy-19 extracts them) lists
/// as its section does, without headers, annotations or relocations.
#[test]
fn raw_bytecode_lists_like_its_section() {
    let dir = scratch("raw_bytecode_lists_like_its_section");
    let object = progs::objects(root()).into_iter().find(|o| o.ends_with("xdp_parse.o")).unwrap();
    let copy = dir.join("copy.o");
    let dump = format!("--dump-section=xdp={}", dir.join("xdp.bin").display());
    tool(&dir, "llvm-objcopy-19", &[&dump, object.to_str().unwrap(), copy.to_str().unwrap()]);
    let ours = success(bpfx(&dir, &["disasm", "xdp.bin"]));

    let objdump = objdump(&object, &[]);
    let start = objdump.iter().position(|l| l == "Disassembly of section xdp:").unwrap();
    let expected: Vec<String> = objdump[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("Disassembly of section"))
        .filter(|l| is_insn_line(l))
        .map(|l| strip_annotation(l).to_string())
        .collect();
    assert_eq!(ours.lines().collect::<Vec<_>>(), expected);
}

/// Assembly is assembled, then listed: the same text as llvm-mc-19's object
/// of the same source lists with objdump.
#[test]
fn assembly_lists_like_llvm_mc_assembles_it() {
    let dir = scratch("assembly_lists_like_llvm_mc_assembles_it");
    let source = "\
r1 = 0x2a
w2 = -0x3
r3 = 0x1122334455667788 ll
if r1 > r2 goto +0x1
*(u32 *)(r10 - 0x4) = r1
lock *(u64 *)(r10 - 0x10) += r1
r0 = *(u16 *)(r10 - 0x4)
call 0x5
exit
";
    std::fs::write(dir.join("prog.s"), source).unwrap();
    tool(&dir, "llvm-mc-19", &["-triple", "bpfel", "-filetype=obj", "-o", "prog.o", "prog.s"]);
    let ours = success(bpfx(&dir, &["disasm", "prog.s"]));
    let theirs = tool(&dir, "llvm-objdump-19", &["-d", "--no-show-raw-insn", "prog.o"]);
    let expected: Vec<&str> = theirs.lines().filter(|l| is_insn_line(l)).map(strip_annotation).collect();
    assert_eq!(ours.lines().collect::<Vec<_>>(), expected);
}
