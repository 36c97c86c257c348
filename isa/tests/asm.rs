//! The assembler against LLVM's own tools: every LLVM-syntax form is
//! assembled by both bpfx and `llvm-mc-19` and the bytes compared;
//! `llvm-objdump-19` listings reassemble to the object's bytes; plus the
//! instruction each form gives, and every error kind with its position.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use bpfx_isa::asm::{AsmError, AsmErrorKind, Operand, assemble};
use bpfx_isa::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/asm");

/// Runs an LLVM tool, feeding it `input`; fails the test with an install
/// hint when the tool is missing.
fn run(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install llvm-19 (apt-get install llvm-19 clang-19)"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("the tool runs to completion");
    writer.join().expect("the writer thread does not panic").expect("the tool reads its input");
    assert!(output.status.success(), "{tool} {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// An object file assembled by llvm-mc-19.
fn llvm_mc_object(source: &str) -> Vec<u8> {
    run("llvm-mc-19", &["-triple", "bpfel", "-mcpu=v4", "-filetype=obj", "-o", "-", "-"], source.as_bytes())
}

/// The bytes of one section of an object.
fn section(object: &[u8], name: &str) -> Vec<u8> {
    let only = format!("--only-section={name}");
    run("llvm-objcopy-19", &["-O", "binary", &only, "-", "-"], object)
}

/// What llvm-mc-19 makes of `source`: the bytes of `.text`.
fn llvm_mc(source: &str) -> Vec<u8> {
    section(&llvm_mc_object(source), ".text")
}

fn objdump(object: &[u8], args: &[&str]) -> String {
    // objdump reads only files, so the object goes through one: its own per
    // call, since tests running in parallel list objects with the same flags.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("bpfx-asm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.o", CALLS.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, object).expect("write object");
    let out = Command::new("llvm-objdump-19")
        .args(args)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run llvm-objdump-19 ({e}): install llvm-19"));
    std::fs::remove_file(&path).ok();
    assert!(out.status.success(), "llvm-objdump-19 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("objdump prints utf-8")
}

fn bpfx(source: &str) -> Vec<Insn> {
    assemble(source).unwrap_or_else(|e| panic!("bpfx cannot assemble: {e}\n{source}"))
}

/// Compares bpfx's and LLVM's encodings slot by slot, naming the first
/// difference by both decodings.
fn assert_same_bytes(what: &str, ours: &[u8], llvm: &[u8]) {
    if ours == llvm {
        return;
    }
    let slots = |b: &[u8]| slots_from_bytes(b).expect("whole slots");
    let (ours_slots, llvm_slots) = (slots(ours), slots(llvm));
    let at = ours_slots.iter().zip(&llvm_slots).position(|(a, b)| a != b).unwrap_or(ours_slots.len());
    let show = |s: &[RawInsn]| {
        bpfx_isa::decode::decode_at(s, at).map_or_else(|e| format!("undecodable ({e})"), |i| format!("{i:?}"))
    };
    panic!(
        "{what}: bpfx and LLVM differ at slot {at} (bpfx {} slots, llvm {}):\n  bpfx: {:?} = {}\n  llvm: {:?} = {}",
        ours_slots.len(),
        llvm_slots.len(),
        ours_slots.get(at),
        if at < ours_slots.len() { show(&ours_slots) } else { "-".into() },
        llvm_slots.get(at),
        if at < llvm_slots.len() { show(&llvm_slots) } else { "-".into() },
    );
}

#[test]
fn llvm_corpus_assembles_as_llvm_mc_does() {
    let source = std::fs::read_to_string(Path::new(DATA).join("llvm.s")).expect("read llvm.s");
    let ours = encode_bytes(&bpfx(&source));
    assert_same_bytes("llvm.s", &ours, &llvm_mc(&source));
    eprintln!("llvm.s: {} slots identical to llvm-mc-19", ours.len() / SLOT_SIZE);
}

/// Every ALU operation, jump condition and access size, in each width and
/// operand kind, written from the op tables.
#[test]
fn every_table_operation_assembles_as_llvm_mc_does() {
    let mut lines = Vec::new();
    for width in [Width::W32, Width::W64] {
        let r = |n: u8| if width == Width::W32 { format!("w{n}") } else { format!("r{n}") };
        for op in AluOp::ALL {
            if let Some(cast) = op.llvm_op().strip_prefix("= ") {
                if !(width == Width::W32 && *op == AluOp::MovSx32) {
                    lines.push(format!("{} = {cast}{}", r(1), r(2)));
                }
                continue;
            }
            lines.push(format!("{} {} {}", r(1), op.llvm_op(), r(2)));
            lines.push(format!("{} {} -0x7", r(3), op.llvm_op()));
        }
        for cond in JmpCond::ALL {
            lines.push(format!("if {} {} {} goto +0x1", r(1), cond.llvm_op(), r(2)));
            lines.push(format!("if {} {} 0xffffffff goto -0x1", r(4), cond.llvm_op()));
        }
    }
    for size in Size::ALL {
        let (unsigned, signed) = (size.c_type(false), size.c_type(true));
        lines.push(format!("r1 = *({unsigned} *)(r2 - 0x10)"));
        lines.push(format!("*({unsigned} *)(r10 - 0x10) = r3"));
        lines.push(format!("*({unsigned} *)(r10 + 0x10) = -0x2"));
        if size != Size::DW {
            lines.push(format!("r1 = *({signed} *)(r2 + 0x10)"));
            lines.push(format!("r0 = *({unsigned} *)skb[0x10]"));
            lines.push(format!("r0 = *({unsigned} *)skb[r4]"));
        }
    }
    for op in AtomicOp::ALL {
        for (ty, r, suffix) in [("u64", 'r', "_64"), ("u32", 'w', "32_32")] {
            lines.push(match op {
                AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => {
                    format!("lock *({ty} *)(r1 + 0x8) {} {r}2", op.llvm_op())
                }
                AtomicOp::Xchg => format!("{r}2 = {}{suffix}(r1 + 0x8, {r}2)", op.llvm_op()),
                AtomicOp::CmpXchg => format!("{r}0 = {}{suffix}(r1 + 0x8, {r}0, {r}2)", op.llvm_op()),
                _ => format!("{r}2 = {}(({ty} *)(r1 + 0x8), {r}2)", op.llvm_op()),
            });
        }
    }
    let source = lines.join("\n");
    let insns = bpfx(&source);
    assert_eq!(insns.len(), lines.len(), "one instruction per line");
    assert_same_bytes("table forms", &encode_bytes(&insns), &llvm_mc(&source));
}

/// objdump prints a bpf-to-bpf call as `call imm`, the same text as a
/// helper call: the one loss in its syntax, which bpfx's `call local` form
/// avoids. Comparing a reassembled listing with its object forgives exactly that.
fn forget_call_kinds(insns: &[Insn]) -> Vec<Insn> {
    insns
        .iter()
        .map(|insn| match *insn {
            Insn::Call(CallTarget::Local(off)) => Insn::Call(CallTarget::Helper(HelperId(off as u32))),
            other => other,
        })
        .collect()
}

/// Reassembles objdump's listing of `object` (sections in listing order)
/// and compares it with the object's bytes.
fn assert_listing_reassembles(what: &str, object: &[u8], args: &[&str]) {
    let listing = objdump(object, args);
    let sections: Vec<&str> =
        listing.lines().filter_map(|l| l.strip_prefix("Disassembly of section ")?.strip_suffix(':')).collect();
    assert!(!sections.is_empty(), "{what}: objdump listed no section:\n{listing}");
    let bytes: Vec<u8> = sections.iter().flat_map(|name| section(object, name)).collect();
    let expected = decode_bytes(&bytes).expect("the object decodes");
    let ours = assemble(&listing).unwrap_or_else(|e| panic!("{what} {args:?}: {e}\n{listing}"));
    assert_eq!(forget_call_kinds(&ours), forget_call_kinds(&expected), "{what} {args:?}:\n{listing}");
}

#[test]
fn objdump_listings_of_the_corpus_reassemble() {
    let source = std::fs::read_to_string(Path::new(DATA).join("llvm.s")).expect("read llvm.s");
    let object = llvm_mc_object(&source);
    // Without --mcpu objdump cannot name 32-bit atomics other than `+=`.
    assert_listing_reassembles("llvm.s", &object, &["-dr", "--mcpu=v4"]);
    assert_listing_reassembles("llvm.s", &object, &["-d", "--mcpu=v4", "--no-show-raw-insn"]);
}

#[test]
fn objdump_listings_of_a_clang_object_reassemble() {
    let c = Path::new(DATA).join("prog.c");
    let out = std::env::temp_dir().join(format!("bpfx-asm-prog-{}.o", std::process::id()));
    let status = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-mcpu=v4", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run clang-19 ({e}): install clang-19"));
    assert!(status.success(), "clang-19 failed on {}", c.display());
    let object = std::fs::read(&out).expect("read the object");
    std::fs::remove_file(&out).ok();
    for args in [&["-dr"][..], &["-dr", "-S"], &["-d", "--mcpu=v4", "--no-show-raw-insn"], &["-dr", "-S", "-l"]] {
        assert_listing_reassembles("prog.c", &object, args);
    }
}

fn reg(n: u8) -> Reg {
    Reg::new(n).expect("a valid register number")
}

fn alu(width: Width, op: AluOp, dst: u8, src: Src) -> Insn {
    Insn::Alu { width, op, dst: reg(dst), src }
}

fn jump(width: Width, cond: JmpCond, dst: u8, src: Src, off: i16) -> Insn {
    Insn::Jump { width, cond, dst: reg(dst), src, off }
}

fn atomic(size: Size, op: AtomicOp, dst: u8, src: u8, off: i16) -> Insn {
    Insn::Atomic { size, op, dst: reg(dst), src: reg(src), off }
}

/// Each form in each syntax, and the instruction it stands for. (The LLVM
/// forms' encodings are also checked against llvm-mc above; this pins the
/// bpfx extensions and the conformance syntax, which llvm-mc cannot read.)
fn forms() -> Vec<(&'static str, Insn)> {
    use {Src::Imm, Src::Reg as R, Width::W32, Width::W64};
    let r = reg;
    vec![
        // LLVM syntax.
        ("r0 = 0x1", alu(W64, AluOp::Mov, 0, Imm(1))),
        ("w2 <<= 0x8", alu(W32, AluOp::Lsh, 2, Imm(8))),
        ("r1 = -0x3", alu(W64, AluOp::Mov, 1, Imm(-3))),
        ("w1 = 0xffffffff", alu(W32, AluOp::Mov, 1, Imm(-1))),
        ("w1 = w2", alu(W32, AluOp::Mov, 1, R(r(2)))),
        ("r1 s>>= r2", alu(W64, AluOp::Arsh, 1, R(r(2)))),
        ("w1 s/= -0x3", alu(W32, AluOp::SDiv, 1, Imm(-3))),
        ("r1 s%= r2", alu(W64, AluOp::SMod, 1, R(r(2)))),
        ("r1 = (s8)r2", alu(W64, AluOp::MovSx8, 1, R(r(2)))),
        ("w1 = (s16)w2", alu(W32, AluOp::MovSx16, 1, R(r(2)))),
        ("r1 = (s32)r2", alu(W64, AluOp::MovSx32, 1, R(r(2)))),
        ("r0 = -r0", Insn::Neg { width: W64, dst: r(0) }),
        ("w3 = -w3", Insn::Neg { width: W32, dst: r(3) }),
        ("r0 = be16 r0", Insn::Endian { kind: Endian::ToBe, bits: SwapBits::B16, dst: r(0) }),
        ("r2 = le32 r2", Insn::Endian { kind: Endian::ToLe, bits: SwapBits::B32, dst: r(2) }),
        ("r0 = bswap64 r0", Insn::Endian { kind: Endian::Swap, bits: SwapBits::B64, dst: r(0) }),
        ("r0 = 0x1122334455667788 ll", Insn::LdImm64 { dst: r(0), kind: LdImm64Kind::Imm, imm: 0x1122_3344_5566_7788 }),
        ("r0 = -0x1 ll", Insn::LdImm64 { dst: r(0), kind: LdImm64Kind::Imm, imm: u64::MAX }),
        ("ld_pseudo r1, 0x2, 0x3", Insn::LdImm64 { dst: r(1), kind: LdImm64Kind::MapValue, imm: 3 }),
        (
            "ld_pseudo\tr2, 0x2, 0x3, 0x10",
            Insn::LdImm64 { dst: r(2), kind: LdImm64Kind::MapValue, imm: 0x10_0000_0003 },
        ),
        ("ld_pseudo r1, 0x1, 0xffffffff", Insn::LdImm64 { dst: r(1), kind: LdImm64Kind::MapFd, imm: 0xffff_ffff }),
        ("r1 = *(u8 *)(r2 + 0x3)", Insn::Load { size: Size::B, signed: false, dst: r(1), src: r(2), off: 3 }),
        ("w1 = *(u16 *)(r2 - 0x3)", Insn::Load { size: Size::H, signed: false, dst: r(1), src: r(2), off: -3 }),
        ("r1 = *(s8 *)(r2 + 0x3)", Insn::Load { size: Size::B, signed: true, dst: r(1), src: r(2), off: 3 }),
        ("r1 = *(s32 *)(r2 + 0x3)", Insn::Load { size: Size::W, signed: true, dst: r(1), src: r(2), off: 3 }),
        ("*(u32 *)(r10 - 0x4) = r1", Insn::Store { size: Size::W, dst: r(10), off: -4, src: R(r(1)) }),
        ("*(u32 *)(r10 - 0x4) = w1", Insn::Store { size: Size::W, dst: r(10), off: -4, src: R(r(1)) }),
        ("*(u8 *)(r1 + 0x2) = 0x7", Insn::Store { size: Size::B, dst: r(1), off: 2, src: Imm(7) }),
        ("*(u64 *)(r1 + 0x2) = -0x1", Insn::Store { size: Size::DW, dst: r(1), off: 2, src: Imm(-1) }),
        ("if r1 > 0x3 goto +0x2", jump(W64, JmpCond::Gt, 1, Imm(3), 2)),
        ("if w1 s< w2 goto -0x5", jump(W32, JmpCond::Slt, 1, R(r(2)), -5)),
        ("if r1 & 0x1 goto +0x0", jump(W64, JmpCond::Set, 1, Imm(1), 0)),
        ("goto +0x3", Insn::Ja { off: 3, wide: false }),
        ("gotol +0x3", Insn::Ja { off: 3, wide: true }),
        ("gotol -0x80000000", Insn::Ja { off: i32::MIN, wide: true }),
        ("may_goto +0x0", Insn::MayGoto { off: 0 }),
        ("call 0x1", Insn::Call(CallTarget::Helper(HelperId(1)))),
        ("call -0x1", Insn::Call(CallTarget::Helper(HelperId(u32::MAX)))),
        ("call local +0x3", Insn::Call(CallTarget::Local(3))),
        ("call local -0x2", Insn::Call(CallTarget::Local(-2))),
        ("call kfunc 0x1234", Insn::Call(CallTarget::Kfunc { btf_id: 0x1234, module: 0 })),
        ("call kfunc 0x1234, 0x1", Insn::Call(CallTarget::Kfunc { btf_id: 0x1234, module: 1 })),
        ("call kfunc -0x1, -0x8000", Insn::Call(CallTarget::Kfunc { btf_id: u32::MAX, module: i16::MIN })),
        ("callx r2", Insn::Callx { reg: r(2) }),
        ("exit", Insn::Exit),
        ("lock *(u64 *)(r1 + 0x8) += r2", atomic(Size::DW, AtomicOp::Add, 1, 2, 8)),
        ("lock *(u32 *)(r1 + 0x8) ^= w2", atomic(Size::W, AtomicOp::Xor, 1, 2, 8)),
        ("r0 = atomic_fetch_add((u64 *)(r1 + 0x8), r0)", atomic(Size::DW, AtomicOp::FetchAdd, 1, 0, 8)),
        ("w3 = atomic_fetch_or((u32 *)(r1 - 0x8), w3)", atomic(Size::W, AtomicOp::FetchOr, 1, 3, -8)),
        ("r0 = xchg_64(r1 + 0x8, r0)", atomic(Size::DW, AtomicOp::Xchg, 1, 0, 8)),
        ("w4 = xchg32_32(r1 + 0x8, w4)", atomic(Size::W, AtomicOp::Xchg, 1, 4, 8)),
        ("r0 = cmpxchg_64(r1 + 0x8, r0, r2)", atomic(Size::DW, AtomicOp::CmpXchg, 1, 2, 8)),
        ("w0 = cmpxchg32_32(r1 + 0x8, w0, w2)", atomic(Size::W, AtomicOp::CmpXchg, 1, 2, 8)),
        ("r0 = *(u8 *)skb[0x4]", Insn::PacketLoad { mode: PacketLoad::Abs, size: Size::B, imm: 4 }),
        ("r0 = *(u16 *)skb[r1]", Insn::PacketLoad { mode: PacketLoad::Ind(r(1)), size: Size::H, imm: 0 }),
        ("r0 = *(u32 *)skb[r3 + 0x4]", Insn::PacketLoad { mode: PacketLoad::Ind(r(3)), size: Size::W, imm: 4 }),
        (
            "r0 = *(u8 *)skb[r3 - 0x80000000]",
            Insn::PacketLoad { mode: PacketLoad::Ind(r(3)), size: Size::B, imm: i32::MIN },
        ),
        // objdump's decorations around an instruction.
        ("      12:\tgoto +0x3 <LBB0_2>", Insn::Ja { off: 3, wide: false }),
        ("       8:\tif r1 < r2 goto +0x2 <.text+0x58>", jump(W64, JmpCond::Lt, 1, R(r(2)), 2)),
        ("       0:\tb7 00 00 00 01 00 00 00\tr0 = 0x1", alu(W64, AluOp::Mov, 0, Imm(1))),
        // The conformance suite's syntax.
        ("mov32 %r0, 1", alu(W32, AluOp::Mov, 0, Imm(1))),
        ("mov32 %r0, 0xffffffff", alu(W32, AluOp::Mov, 0, Imm(-1))),
        ("mov %r1, -1", alu(W64, AluOp::Mov, 1, Imm(-1))),
        ("add %r0, %r1", alu(W64, AluOp::Add, 0, R(r(1)))),
        ("arsh32 %r0, 3", alu(W32, AluOp::Arsh, 0, Imm(3))),
        ("sdiv32 %r0, -3", alu(W32, AluOp::SDiv, 0, Imm(-3))),
        ("smod %r0, %r1", alu(W64, AluOp::SMod, 0, R(r(1)))),
        ("movsx832 %r0, %r1", alu(W32, AluOp::MovSx8, 0, R(r(1)))),
        ("movsx1664 %r8, %r7", alu(W64, AluOp::MovSx16, 8, R(r(7)))),
        ("movsx3264 %r0, %r9", alu(W64, AluOp::MovSx32, 0, R(r(9)))),
        ("neg %r0", Insn::Neg { width: W64, dst: r(0) }),
        ("neg32 %r1", Insn::Neg { width: W32, dst: r(1) }),
        ("be16 %r0", Insn::Endian { kind: Endian::ToBe, bits: SwapBits::B16, dst: r(0) }),
        ("le32 %r0", Insn::Endian { kind: Endian::ToLe, bits: SwapBits::B32, dst: r(0) }),
        ("bswap64 %r0", Insn::Endian { kind: Endian::Swap, bits: SwapBits::B64, dst: r(0) }),
        ("swap16 %r3", Insn::Endian { kind: Endian::Swap, bits: SwapBits::B16, dst: r(3) }),
        (
            "lddw %r0, 0x1122334455667788",
            Insn::LdImm64 { dst: r(0), kind: LdImm64Kind::Imm, imm: 0x1122_3344_5566_7788 },
        ),
        ("lddw %r1, -1", Insn::LdImm64 { dst: r(1), kind: LdImm64Kind::Imm, imm: u64::MAX }),
        ("ldxw %r1, [%r2+4]", Insn::Load { size: Size::W, signed: false, dst: r(1), src: r(2), off: 4 }),
        ("ldxdw %r0, [%r1]", Insn::Load { size: Size::DW, signed: false, dst: r(0), src: r(1), off: 0 }),
        ("ldxsb %r0, [%r10-1]", Insn::Load { size: Size::B, signed: true, dst: r(0), src: r(10), off: -1 }),
        ("ldxsh %r0, [%r10-2]", Insn::Load { size: Size::H, signed: true, dst: r(0), src: r(10), off: -2 }),
        ("ldxsw %r0, [%r10-4]", Insn::Load { size: Size::W, signed: true, dst: r(0), src: r(10), off: -4 }),
        ("stxdw [%r10-8], %r0", Insn::Store { size: Size::DW, dst: r(10), off: -8, src: R(r(0)) }),
        ("stb [%r1+2], 0x7", Insn::Store { size: Size::B, dst: r(1), off: 2, src: Imm(7) }),
        ("sth [%r10-2], 0x8001", Insn::Store { size: Size::H, dst: r(10), off: -2, src: Imm(0x8001) }),
        ("jeq %r1, 0, +1", jump(W64, JmpCond::Eq, 1, Imm(0), 1)),
        ("jne32 %r1, %r2, +3", jump(W32, JmpCond::Ne, 1, R(r(2)), 3)),
        ("jset %r1, 0x80000000, -1", jump(W64, JmpCond::Set, 1, Imm(i32::MIN), -1)),
        ("jsle32 %r1, -2, 5", jump(W32, JmpCond::Sle, 1, Imm(-2), 5)),
        ("ja +2", Insn::Ja { off: 2, wide: false }),
        ("ja32 -2", Insn::Ja { off: -2, wide: true }),
        ("call 5", Insn::Call(CallTarget::Helper(HelperId(5)))),
        ("call %r2", Insn::Callx { reg: r(2) }),
        ("lock add [%r1+8], %r2", atomic(Size::DW, AtomicOp::Add, 1, 2, 8)),
        ("lock and32 [%r10-4], %r1", atomic(Size::W, AtomicOp::And, 10, 1, -4)),
        ("lock fetch add32 [%r10-4], %r1", atomic(Size::W, AtomicOp::FetchAdd, 10, 1, -4)),
        ("lock fetch xor [%r10-8], %r3", atomic(Size::DW, AtomicOp::FetchXor, 10, 3, -8)),
        ("lock xchg [%r10-8], %r1", atomic(Size::DW, AtomicOp::Xchg, 10, 1, -8)),
        ("lock cmpxchg32 [%r10-8], %r1", atomic(Size::W, AtomicOp::CmpXchg, 10, 1, -8)),
        ("ldabsw 0x4", Insn::PacketLoad { mode: PacketLoad::Abs, size: Size::W, imm: 4 }),
        ("ldindh %r1, 0x4", Insn::PacketLoad { mode: PacketLoad::Ind(r(1)), size: Size::H, imm: 4 }),
    ]
}

#[test]
fn every_form_gives_the_expected_instruction() {
    for (text, expected) in forms() {
        match assemble(text) {
            Ok(insns) => assert_eq!(insns, [expected], "{text:?}"),
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
}

/// What the disassembler prints for each of those instructions reads back
/// as the same instruction, bpfx extensions included.
#[test]
fn every_form_reassembles_from_its_disassembly() {
    for (_, insn) in forms() {
        let text = insn.to_string();
        assert_eq!(assemble(&text), Ok(vec![insn]), "{text:?}");
    }
}

#[test]
fn labels_resolve_forward_and_backward_in_slots() {
    let source = "\
start:
    lddw %r0, 1          # two slots
    jeq %r0, 1, done
back: r1 = 0x1 ll
    if r1 != 0x0 goto start
    ja32 back
    call local sub
    may_goto back
done:
    exit
sub:
    goto done
";
    let insns = bpfx(source);
    let offsets: Vec<Option<i64>> = insns.iter().map(Insn::branch_offset).collect();
    // Slots: lddw 0-1, jeq 2, r1 3-4, if 5, ja32 6, call 7, may_goto 8, exit 9, goto 10.
    assert_eq!(offsets, [None, Some(6), None, Some(-6), Some(-4), Some(2), Some(-6), None, Some(-2)]);
    assert!(matches!(insns[4], Insn::Ja { wide: true, .. }));
    assert_eq!(insns[5], Insn::Call(CallTarget::Local(2)));
    // `call label` (llvm-mc's spelling) is a local call too.
    assert_eq!(bpfx("call f\nf:\nexit"), [Insn::Call(CallTarget::Local(0)), Insn::Exit]);
}

#[test]
fn conformance_jumps_to_an_undefined_exit_label_go_to_the_first_exit() {
    let insns = bpfx("mov %r0, 1\njsge %r1, 0xffffffff, exit\nmov %r0, 2\nexit\nexit");
    assert_eq!(insns[1], jump(Width::W64, JmpCond::Sge, 1, Src::Imm(-1), 1));
    // Only in the suite's syntax: LLVM's `goto exit` names a label.
    assert_eq!(assemble("goto exit\nexit").unwrap_err().kind, AsmErrorKind::UndefinedLabel("exit".into()));
}

#[test]
fn branch_targets_out_of_range_are_errors() {
    let filler = "r0 = 0\n".repeat(40_000);
    let err = assemble(&format!("goto far\n{filler}far:\nexit")).unwrap_err();
    assert_eq!(err.to_string(), "1:6: jump offset 40000 out of range (-32768..=32767)");
    let err = assemble(&format!("top:\n{filler}  jeq %r1, 0, top")).unwrap_err();
    assert_eq!(err.to_string(), "40002:15: jump offset -40001 out of range (-32768..=32767)");
    // The wide forms reach.
    let insns = bpfx(&format!("gotol far\ncall local far\n{filler}far:\nexit"));
    assert_eq!(insns[0], Insn::Ja { off: 40_001, wide: true });
    assert_eq!(insns[1], Insn::Call(CallTarget::Local(40_000)));
}

#[test]
fn each_error_kind_names_its_line_and_column() {
    let found = |s: &str| bpfx_isa::asm::Found::Token(s.into());
    let expected = |what: &str, f| AsmErrorKind::Expected { expected: what.into(), found: f };
    let cases: Vec<(&str, (u32, u32), AsmErrorKind, &str)> = vec![
        ("exit\nmov %rx, 1", (2, 5), expected("register", found("%rx")), "2:5: expected register, found `%rx`"),
        (
            "r0 =",
            (1, 5),
            expected("register", bpfx_isa::asm::Found::EndOfLine),
            "1:5: expected register, found end of line",
        ),
        (
            "r1 += w2",
            (1, 7),
            expected("64-bit register `rN`", found("w2")),
            "1:7: expected 64-bit register `rN`, found `w2`",
        ),
        ("r0 = -r1", (1, 7), expected("`r0`", found("r1")), "1:7: expected `r0`, found `r1`"),
        ("  exit 1", (1, 8), expected("end of line", found("1")), "1:8: expected end of line, found `1`"),
        (
            "w1 = *(s8 *)(r1 + 0)",
            (1, 1),
            expected("64-bit register `rN`", found("w1")),
            "1:1: expected 64-bit register `rN`, found `w1`",
        ),
        (
            "r1 = cmpxchg_64(r1 + 8, r0, r2)",
            (1, 1),
            expected("`r0` (cmpxchg returns in r0)", found("r1")),
            "1:1: expected `r0` (cmpxchg returns in r0), found `r1`",
        ),
        ("foo %r1", (1, 1), AsmErrorKind::UnknownMnemonic("foo".into()), "1:1: unknown mnemonic `foo`"),
        ("add64 %r1, 1", (1, 1), AsmErrorKind::UnknownMnemonic("add64".into()), "1:1: unknown mnemonic `add64`"),
        (
            "movsx3232 %r1, %r2",
            (1, 1),
            AsmErrorKind::UnknownMnemonic("movsx3232".into()),
            "1:1: unknown mnemonic `movsx3232`",
        ),
        (
            "lock nand [%r1], %r2",
            (1, 6),
            AsmErrorKind::UnknownMnemonic("lock nand".into()),
            "1:6: unknown mnemonic `lock nand`",
        ),
        (
            "r11 = 1",
            (1, 1),
            AsmErrorKind::InvalidRegister("r11".into()),
            "1:1: invalid register `r11` (registers are r0 to r10)",
        ),
        (
            "mov %r1, %r12",
            (1, 10),
            AsmErrorKind::InvalidRegister("%r12".into()),
            "1:10: invalid register `%r12` (registers are r0 to r10)",
        ),
        ("r0 = 0xfg", (1, 6), AsmErrorKind::InvalidNumber("0xfg".into()), "1:6: invalid number `0xfg`"),
        ("r0 = @", (1, 6), AsmErrorKind::UnexpectedChar('@'), "1:6: unexpected character `@`"),
        (
            "r0 = 0x100000000",
            (1, 6),
            AsmErrorKind::OutOfRange { what: Operand::Imm32, value: "0x100000000".into() },
            "1:6: immediate 0x100000000 out of range (-0x80000000..=0xffffffff)",
        ),
        (
            "mov32 %r0, -2147483649",
            (1, 12),
            AsmErrorKind::OutOfRange { what: Operand::Imm32, value: "-2147483649".into() },
            "1:12: immediate -2147483649 out of range (-0x80000000..=0xffffffff)",
        ),
        (
            "lddw %r0, 0x10000000000000000",
            (1, 11),
            AsmErrorKind::OutOfRange { what: Operand::Imm64, value: "0x10000000000000000".into() },
            "1:11: 64-bit immediate 0x10000000000000000 out of range (-0x8000000000000000..=0xffffffffffffffff)",
        ),
        (
            "*(u8 *)(r1 + 0x8000) = 1",
            (1, 12),
            AsmErrorKind::OutOfRange { what: Operand::MemOffset, value: "0x8000".into() },
            "1:12: memory offset 0x8000 out of range (-0x8000..=0x7fff)",
        ),
        (
            "ldxb %r0, [%r1-32769]",
            (1, 15),
            AsmErrorKind::OutOfRange { what: Operand::MemOffset, value: "-32769".into() },
            "1:15: memory offset -32769 out of range (-0x8000..=0x7fff)",
        ),
        (
            "goto +40000",
            (1, 6),
            AsmErrorKind::OutOfRange { what: Operand::JumpOffset, value: "40000".into() },
            "1:6: jump offset 40000 out of range (-32768..=32767)",
        ),
        (
            "ld_pseudo r1, 7, 0",
            (1, 15),
            AsmErrorKind::OutOfRange { what: Operand::PseudoSource, value: "7".into() },
            "1:15: ld_pseudo source 7 out of range (0..=6)",
        ),
        (
            "call kfunc 1, 0x8000",
            (1, 15),
            AsmErrorKind::OutOfRange { what: Operand::KfuncModule, value: "0x8000".into() },
            "1:15: kfunc module index 0x8000 out of range (-32768..=32767)",
        ),
        (
            "exit\n\n  jeq %r1, 0, nowhere",
            (3, 15),
            AsmErrorKind::UndefinedLabel("nowhere".into()),
            "3:15: undefined label `nowhere`",
        ),
        (
            "a:\nexit\n  a:",
            (3, 3),
            AsmErrorKind::DuplicateLabel { name: "a".into(), first_line: 1 },
            "3:3: duplicate label `a` (first defined on line 1)",
        ),
        (
            "ld_pseudo r1, 1, 3, 0x4",
            (1, 19),
            AsmErrorKind::UnusedHighHalf { kind: LdImm64Kind::MapFd, high: 4 },
            "1:19: ld_pseudo source 1 (MapFd) has no high half, found 0x4",
        ),
        (
            "\t.globl xdp_prog",
            (1, 2),
            AsmErrorKind::UnsupportedDirective(".globl".into()),
            "1:2: unsupported directive `.globl`",
        ),
    ];
    for (source, (line, column), kind, message) in cases {
        let err = assemble(source).expect_err(source);
        assert_eq!(err, AsmError { line, column, kind }, "{source:?}");
        assert_eq!(err.to_string(), message, "{source:?}");
    }
}

/// Whether llvm-mc can write `insn` in its own syntax: not the bpfx
/// extensions (local and kfunc calls, `ld_pseudo`'s high half, an indirect
/// packet load's offset).
fn llvm_can_write(insn: &Insn) -> bool {
    match *insn {
        Insn::Call(CallTarget::Local(_) | CallTarget::Kfunc { .. }) => false,
        Insn::LdImm64 { kind, imm, .. } => kind == LdImm64Kind::Imm || imm >> 32 == 0,
        Insn::PacketLoad { mode: PacketLoad::Ind(_), imm, .. } => imm == 0,
        _ => true,
    }
}

/// The conformance syntax checked against llvm-mc: every instruction of the
/// suite, printed in LLVM syntax by bpfx's disassembler and assembled by
/// llvm-mc-19, encodes as bpfx encoded it from the suite's text.
#[test]
fn conformance_programs_encode_as_llvm_mc_encodes_their_llvm_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    if !dir.is_dir() {
        eprintln!("SKIPPED: conformance suite not found at {} (the shared folder is absent)", dir.display());
        return;
    }
    let mut insns = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("read the suite's folder") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "data") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a .data file");
        let asm: String = text
            .lines()
            .skip_while(|l| l.trim() != "-- asm")
            .skip(1)
            .take_while(|l| !l.trim_start().starts_with("--"))
            .map(|l| format!("{l}\n"))
            .collect();
        insns.extend(assemble(&asm).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        files += 1;
    }
    assert!(files > 0, "{} exists but holds no .data file", dir.display());
    let (writable, skipped): (Vec<Insn>, Vec<Insn>) = insns.into_iter().partition(llvm_can_write);
    let source: String = writable.iter().map(|insn| format!("{insn}\n")).collect();
    assert_same_bytes("conformance suite", &encode_bytes(&writable), &llvm_mc(&source));
    eprintln!(
        "conformance suite: {} instructions from {files} files encoded as llvm-mc-19 encodes them; \
         {} bpfx-only forms skipped: {skipped:?}",
        writable.len(),
        skipped.len()
    );
}

mod no_panic {
    use proptest::prelude::*;

    /// Pieces of both syntaxes, `|`-separated, so that random lines get deep into the parsers.
    const PIECES: &str = "r0|w1|r10|r11|%r1|%r|%w2|=|+=|s>>=|s<|-|+|*|(|)|[|]|,|:|<|>|u8|s32|u64|skb|ll|if|goto|gotol|\
        may_goto|call|callx|local|kfunc|exit|lock|fetch|add32|xchg|cmpxchg_64|atomic_fetch_or|be16|bswap64|ld_pseudo|\
        lddw|ldxsb|stdw|ja32|movsx832|jne32|0x|0x8000|0xffffffffffffffffff|-0x80000000|017|09|label|exit:|#|;|\t| |\
        12:|0000000000000000 <f>:|.text|\u{e9}";

    /// Errors point into the source: a line that exists, a column at most
    /// one past its end.
    fn check(source: &str) -> Result<(), TestCaseError> {
        if let Err(e) = bpfx_isa::asm::assemble(source) {
            let line = source.lines().nth(e.line as usize - 1);
            prop_assert!(line.is_some(), "{e} names no line of {source:?}");
            let width = line.map_or(0, |l| l.chars().count() as u32);
            prop_assert!(e.column >= 1 && e.column <= width + 1, "{e}: column outside {source:?}");
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn token_soup_never_panics(lines in prop::collection::vec(
            prop::collection::vec(prop::sample::select(PIECES.split('|').collect::<Vec<_>>()), 0..12), 1..6)
        ) {
            let source: Vec<String> = lines.iter().map(|line| line.join(" ")).collect();
            check(&source.join("\n"))?;
        }

        #[test]
        fn arbitrary_text_never_panics(source in "\\PC{0,80}(\n\\PC{0,40}){0,3}") {
            check(&source)?;
        }
    }
}
