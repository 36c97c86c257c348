//! `bpfx asm`: the bytes it writes are llvm-mc-19's for the same source, and
//! its output disassembles back to the source's instructions.

use crate::{bpfx, failure, scratch, success, tool};

const SOURCE: &str = "\
r1 = 0x2a
w2 = -0x3
r3 = 0x1122334455667788 ll
if w1 s> w2 goto +0x2
r0 = atomic_fetch_add((u64 *)(r10 - 0x8), r0)
r2 = bswap32 r2
call 0x5
exit
";

#[test]
fn asm_writes_llvm_mc_s_bytes_next_to_the_input() {
    let dir = scratch("asm_writes_llvm_mc_s_bytes_next_to_the_input");
    std::fs::write(dir.join("prog.s"), SOURCE).unwrap();
    tool(&dir, "llvm-mc-19", &["-triple", "bpfel", "-mcpu=v4", "-filetype=obj", "-o", "prog.o", "prog.s"]);
    tool(&dir, "llvm-objcopy-19", &["--dump-section=.text=llvm.bin", "prog.o", "copy.o"]);
    let llvm = std::fs::read(dir.join("llvm.bin")).unwrap();

    assert_eq!(success(bpfx(&dir, &["asm", "prog.s"])), "");
    assert_eq!(std::fs::read(dir.join("prog.bin")).unwrap(), llvm, "default output: prog.bin");
    success(bpfx(&dir, &["asm", "prog.s", "-o", "out.bin"]));
    assert_eq!(std::fs::read(dir.join("out.bin")).unwrap(), llvm, "-o out.bin");
    let out = bpfx(&dir, &["asm", "prog.s", "-o", "-"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, llvm, "-o - writes the bytes to stdout");
}

#[test]
fn assembled_bytes_disassemble_to_the_source() {
    let dir = scratch("assembled_bytes_disassemble_to_the_source");
    std::fs::write(dir.join("prog.s"), SOURCE).unwrap();
    success(bpfx(&dir, &["asm", "prog.s"]));
    let from_bin = success(bpfx(&dir, &["disasm", "prog.bin"]));
    let from_source = success(bpfx(&dir, &["disasm", "prog.s"]));
    assert_eq!(from_bin, from_source);
    let texts: Vec<&str> = from_bin.lines().map(|l| l.split_once(":\t").unwrap().1).collect();
    assert_eq!(texts, SOURCE.lines().collect::<Vec<_>>());
}

#[test]
fn asm_refuses_to_overwrite_its_input() {
    let dir = scratch("asm_refuses_to_overwrite_its_input");
    std::fs::write(dir.join("prog.bin"), SOURCE).unwrap();
    let stderr = failure(bpfx(&dir, &["asm", "prog.bin"]), 2);
    assert_eq!(stderr, "prog.bin: refusing to overwrite the input with its bytecode (give -o)\n");
    assert_eq!(std::fs::read_to_string(dir.join("prog.bin")).unwrap(), SOURCE);
}
