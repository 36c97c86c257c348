//! The disassembler against `llvm-objdump-19`: every instruction form, with
//! edge immediates and offsets, is encoded, assembled into an ELF object by
//! `llvm-mc-19` (as `.quad` data in `.text`), disassembled by objdump and
//! compared line by line — labels, jump annotations and all — with bpfx's
//! listing of the same instructions. The only allowed differences are the
//! ones `tests/support/llvm_forms.rs` states.

#[path = "../../tests/support/llvm_forms.rs"]
mod llvm_forms;

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfx_isa::disasm::Listing;
use bpfx_isa::*;
use llvm_forms::{Objdump, objdump_line};

const IMMS: [i32; 6] = [0, 1, -1, 0x1234, i32::MAX, i32::MIN];
const OFFS: [i16; 5] = [0, 1, -1, i16::MAX, i16::MIN];

fn reg(n: usize) -> Reg {
    Reg::new((n % Reg::COUNT) as u8).unwrap()
}

/// Every instruction form bpfx decodes, each with several operand values.
fn every_form() -> Vec<Insn> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut next_reg = || {
        n += 1;
        reg(n)
    };
    for width in [Width::W64, Width::W32] {
        for &op in AluOp::ALL {
            let sign_extending = matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32);
            if op == AluOp::MovSx32 && width == Width::W32 {
                continue;
            }
            out.push(Insn::Alu { width, op, dst: next_reg(), src: Src::Reg(next_reg()) });
            if !sign_extending {
                out.extend(IMMS.map(|imm| Insn::Alu { width, op, dst: next_reg(), src: Src::Imm(imm) }));
            }
        }
        out.push(Insn::Neg { width, dst: next_reg() });
        for &cond in JmpCond::ALL {
            out.push(Insn::Jump { width, cond, dst: next_reg(), src: Src::Reg(next_reg()), off: 2 });
            for (imm, off) in IMMS.iter().zip(OFFS.iter().cycle()) {
                out.push(Insn::Jump { width, cond, dst: next_reg(), src: Src::Imm(*imm), off: *off });
            }
        }
    }
    for kind in [Endian::ToLe, Endian::ToBe, Endian::Swap] {
        for bits in [SwapBits::B16, SwapBits::B32, SwapBits::B64] {
            out.push(Insn::Endian { kind, bits, dst: next_reg() });
        }
    }
    for kind in LdImm64Kind::ALL {
        for imm in [0, 1, u64::MAX, 0x1_0000_1234, 0x8000_0000_0000_0000, 0xffff_ffff] {
            let imm = if kind.uses_high_half() { imm } else { imm & 0xffff_ffff };
            out.push(Insn::LdImm64 { dst: next_reg(), kind, imm });
        }
    }
    for size in Size::ALL {
        for off in OFFS {
            out.push(Insn::Load { size, signed: false, dst: next_reg(), src: next_reg(), off });
            if size != Size::DW {
                out.push(Insn::Load { size, signed: true, dst: next_reg(), src: next_reg(), off });
            }
            out.push(Insn::Store { size, dst: next_reg(), off, src: Src::Reg(next_reg()) });
        }
        for (imm, off) in IMMS.iter().zip(OFFS.iter().cycle()) {
            out.push(Insn::Store { size, dst: next_reg(), off: *off, src: Src::Imm(*imm) });
        }
    }
    for size in [Size::W, Size::DW] {
        for (&op, off) in AtomicOp::ALL.iter().zip(OFFS.iter().cycle()) {
            out.push(Insn::Atomic { size, op, dst: next_reg(), src: next_reg(), off: *off });
        }
    }
    for off in [0, 1, -1, 3, i32::from(i16::MAX), i32::from(i16::MIN)] {
        out.push(Insn::Ja { off, wide: false });
    }
    for off in [0, 5, -5, i32::MAX, i32::MIN] {
        out.push(Insn::Ja { off, wide: true });
    }
    out.extend(OFFS.map(|off| Insn::MayGoto { off }));
    for imm in IMMS {
        out.push(Insn::Call(CallTarget::Helper(HelperId(imm as u32))));
        out.push(Insn::Call(CallTarget::Local(imm)));
        out.push(Insn::Call(CallTarget::Kfunc { btf_id: imm as u32, module: 0 }));
    }
    out.push(Insn::Call(CallTarget::Kfunc { btf_id: 0x1234, module: 1 }));
    out.push(Insn::Call(CallTarget::Kfunc { btf_id: 7, module: -1 }));
    out.extend((0..Reg::COUNT).map(|n| Insn::Callx { reg: reg(n) }));
    for size in [Size::B, Size::H, Size::W] {
        for imm in IMMS {
            out.push(Insn::PacketLoad { mode: PacketLoad::Abs, size, imm });
            out.push(Insn::PacketLoad { mode: PacketLoad::Ind(next_reg()), size, imm });
        }
    }
    out.push(Insn::Exit);
    out
}

/// Labels at instruction boundaries: one alone, two on one slot (objdump
/// shows the greater name), one on the last instruction.
fn labels(insns: &[Insn]) -> Vec<(InsnIdx, String)> {
    let starts: Vec<InsnIdx> = with_slots(insns).map(|(at, _)| at).collect();
    vec![
        (starts[10], "zeta".to_string()),
        (starts[starts.len() / 2], "alpha".to_string()),
        (starts[starts.len() / 2], "beta".to_string()),
        (starts[starts.len() - 1], "LBB0_2".to_string()),
    ]
}

fn tool(name: &str) -> Command {
    let found =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()));
    assert!(found, "{name} not found on PATH: scripts/install-deps installs llvm-19");
    Command::new(name)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("objdump prints UTF-8")
}

/// Assembles the instructions' bytes, with the labels, into an object.
fn object(dir: &Path, insns: &[Insn], labels: &[(InsnIdx, String)]) -> PathBuf {
    let mut asm = String::from(".text\n");
    for (at, insn) in with_slots(insns) {
        for (_, name) in labels.iter().filter(|(slot, _)| *slot == at) {
            asm.push_str(&format!("{name}:\n"));
        }
        for slot in insn.encode() {
            asm.push_str(&format!(".quad {:#018x}\n", slot.to_u64()));
        }
    }
    let source = dir.join("forms.s");
    let object = dir.join("forms.o");
    std::fs::write(&source, asm).unwrap();
    run(tool("llvm-mc-19").args(["-triple", "bpfel", "-filetype=obj", "-o"]).arg(&object).arg(&source));
    object
}

/// objdump's listing of `.text`, from the line after its section header.
fn objdump(object: &Path, extra: &[&str]) -> Vec<String> {
    let out = run(tool("llvm-objdump-19").args(["-d", "--no-show-raw-insn"]).args(extra).arg(object));
    let (_, body) = out.split_once("Disassembly of section .text:\n").expect("objdump lists .text");
    body.lines().map(str::to_string).collect()
}

#[test]
fn every_form_prints_as_llvm_objdump_does() {
    let insns = every_form();
    let labels = labels(&insns);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("disasm-forms");
    std::fs::create_dir_all(&dir).unwrap();
    let object = object(&dir, &insns, &labels);
    let default = objdump(&object, &[]);
    let alu32 = objdump(&object, &["--mattr=+alu32"]);

    // No symbol at the start of .text: objdump names it after the section.
    let mut listing = Listing::new(&insns).label(InsnIdx(0), ".text");
    for (at, name) in &labels {
        listing = listing.label(*at, name);
    }
    let ours: Vec<String> = listing.to_string().lines().map(str::to_string).collect();

    assert_eq!(ours.len(), default.len(), "bpfx and objdump list a different number of lines");
    let mut mismatches = Vec::new();
    for (i, line) in ours.iter().enumerate() {
        let (source, expected) = objdump_line(line);
        let theirs = match source {
            Objdump::Default => &default[i],
            Objdump::Alu32 => &alu32[i],
        };
        if *theirs != expected {
            mismatches
                .push(format!("  bpfx:    {line:?}\n  expects: {expected:?}\n  objdump: {theirs:?} ({source:?})"));
        }
    }
    let compared = insns.len();
    assert!(mismatches.is_empty(), "{} of {compared} lines differ:\n{}", mismatches.len(), mismatches.join("\n"));
    eprintln!("{compared} instruction forms print as llvm-objdump-19 prints them");
}

/// The bpfx-only forms must differ from LLVM's text exactly where LLVM's
/// loses information, and the mapping must recover LLVM's text.
#[test]
fn bpfx_forms_are_lossless_where_llvm_is_not() {
    let cases = [
        (Insn::Call(CallTarget::Local(3)), "call local +0x3", "call 0x3"),
        (Insn::Call(CallTarget::Local(-2)), "call local -0x2", "call -0x2"),
        (Insn::Call(CallTarget::Kfunc { btf_id: 0x1234, module: 0 }), "call kfunc 0x1234", "call 0x1234"),
        (Insn::Call(CallTarget::Kfunc { btf_id: 0x1234, module: 1 }), "call kfunc 0x1234, 0x1", "call 0x1234"),
        (
            Insn::LdImm64 { dst: Reg::R2, kind: LdImm64Kind::MapValue, imm: 0x10_0000_0003 },
            "ld_pseudo\tr2, 0x2, 0x3, 0x10",
            "ld_pseudo\tr2, 0x2, 0x3",
        ),
        (
            Insn::PacketLoad { mode: PacketLoad::Ind(Reg::R3), size: Size::H, imm: -4 },
            "r0 = *(u16 *)skb[r3 - 0x4]",
            "r0 = *(u16 *)skb[r3]",
        ),
    ];
    for (insn, bpfx, llvm) in cases {
        assert_eq!(insn.to_string(), bpfx);
        assert_eq!(objdump_line(&format!("       0:\t{bpfx}")), (Objdump::Default, format!("       0:\t{llvm}")));
    }
}
