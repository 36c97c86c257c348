//! End-to-end tests of `bpfx run`: results and instruction counts in text
//! and JSON, `--mem` as `r1`/`r2`, assembly, raw bytecode and clang-built
//! ELF objects (maps, `bpf_printk`, tail calls through a prog array), and
//! the exit codes of faults, budget exhaustion, refused helpers and bad
//! usage.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bpfx_isa::{asm, encode_bytes};

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bpfx(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfx")).args(args).current_dir(dir).output().expect("bpfx runs")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("bpfx prints UTF-8")
}

/// Asserts that bpfx succeeded quietly and returns its stdout.
fn success(out: Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    text(&out.stdout).to_string()
}

/// Asserts that bpfx exited with `code` and nothing on stdout; returns stderr.
fn failure(out: Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    text(&out.stderr).to_string()
}

fn json(out: Output, code: i32) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// Writes `source` (assembly) as `name` in `dir`.
fn write(dir: &Path, name: &str, source: &str) {
    std::fs::write(dir.join(name), source).unwrap();
}

#[test]
fn prints_r0_and_the_instructions_executed() {
    let dir = scratch("r0");
    write(&dir, "add.s", "mov32 %r0, 0\nmov32 %r1, 2\nadd32 %r0, 1\nadd32 %r0, %r1\nexit\n");
    assert_eq!(success(bpfx(&dir, &["run", "add.s"])), "r0 = 0x3 (3)\ninsns = 5\n");
    let doc = json(bpfx(&dir, &["run", "add.s", "--json", "--type", "raw", "--engine", "interp"]), 0);
    assert_eq!(doc["r0"], 3);
    assert_eq!(doc["insns"], 5);
    assert_eq!(doc["engine"], "interp");
}

#[test]
fn mem_is_r1_and_its_length_r2() {
    let dir = scratch("mem");
    write(&dir, "len.s", "mov %r0, %r2\nexit\n");
    write(&dir, "load.s", "ldxh %r0, [%r1+1]\nstb [%r1], 0x7f\nexit\n");
    let doc = json(bpfx(&dir, &["run", "len.s", "--mem", "00 00 00 01 00 00 00 02", "--json"]), 0);
    assert_eq!(doc["r0"], 8);
    let doc = json(bpfx(&dir, &["run", "load.s", "--mem", "aabbccdd", "--json"]), 0);
    assert_eq!(doc["r0"], 0xccbb);
    assert_eq!(doc["mem"], "7fbbccdd", "the memory as the program left it");
    assert_eq!(json(bpfx(&dir, &["run", "len.s", "--json"]), 0)["r0"], 0);
}

#[test]
fn raw_bytecode_runs_like_its_assembly() {
    let dir = scratch("bin");
    let source = "lddw %r0, 0x1122334455667788\nrsh %r0, 8\nexit\n";
    write(&dir, "p.s", source);
    std::fs::write(dir.join("p.bin"), encode_bytes(&asm::assemble(source).unwrap())).unwrap();
    let from_asm = success(bpfx(&dir, &["run", "p.s"]));
    assert_eq!(from_asm, "r0 = 0x11223344556677 (4822678189205111)\ninsns = 3\n");
    assert_eq!(success(bpfx(&dir, &["run", "p.bin"])), from_asm);
}

#[test]
fn a_fault_exits_1_naming_the_instruction_and_the_region() {
    let dir = scratch("fault");
    write(&dir, "oob.s", "mov %r0, 0\nldxw %r0, [%r1+2]\nexit\n");
    let err = failure(bpfx(&dir, &["run", "oob.s", "--mem", "00 01 02 03"]), 1);
    assert!(err.contains("fault: out-of-bounds load of 4 bytes"), "{err}");
    assert!(err.contains("(nearest: context at offset 2 of 4) at insn 1"), "{err}");
    let doc = json(bpfx(&dir, &["run", "oob.s", "--mem", "00 01 02 03", "--json"]), 1);
    assert_eq!(doc["fault"]["at"], 1);
    assert_eq!(doc["insns"], 1);
    assert!(doc.get("r0").is_none());
}

#[test]
fn an_endless_loop_exhausts_the_budget() {
    let dir = scratch("budget");
    write(&dir, "loop.s", "mov %r0, 0\nloop:\nadd %r0, 1\nja loop\n");
    let err = failure(bpfx(&dir, &["run", "loop.s"]), 1);
    assert!(err.contains("instruction budget of 1000000 exhausted at insn 2"), "{err}");
}

#[test]
fn helpers_bpfx_lacks_are_refused_at_load() {
    let dir = scratch("helpers");
    write(&dir, "stackid.s", "call 27\nexit\n");
    write(&dir, "unknown.s", "call 999\nexit\n");
    let err = failure(bpfx(&dir, &["run", "stackid.s"]), 1);
    assert!(err.contains("helper 27 (bpf_get_stackid) is not provided by bpfx at insn 0"), "{err}");
    let err = failure(bpfx(&dir, &["run", "unknown.s"]), 1);
    assert!(err.contains("unknown helper 999 at insn 0"), "{err}");
}

#[test]
fn bad_input_exits_2() {
    let dir = scratch("usage");
    write(&dir, "p.s", "exit\n");
    assert!(failure(bpfx(&dir, &["run", "p.s", "--mem", "0g"]), 2).contains("--mem"));
    assert!(failure(bpfx(&dir, &["run", "missing.s"]), 2).contains("missing.s"));
    assert!(
        failure(bpfx(&dir, &["run", "p.s", "-p", "main"]), 2).contains("-p and -s select a program of an ELF object")
    );
    failure(bpfx(&dir, &["run", "p.s", "--type", "bogus"]), 2);
}

/// Compiles C source with clang-19 as a BPF developer would.
fn compile(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, source).unwrap();
    let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let out = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", &multiarch, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("clang-19 runs (scripts/install-deps installs it)");
    assert!(out.status.success(), "clang-19: {}", text(&out.stderr));
    obj
}

const MAPS_AND_PRINTK: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} totals SEC(".maps");

SEC("socket")
int sum(unsigned char *mem)
{
    __u32 key = 0;
    __u64 *total = bpf_map_lookup_elem(&totals, &key);
    if (!total)
        return -1;
    *total += mem[0] + mem[1];
    bpf_printk("total %d", (int)*total);
    return *total;
}

SEC("tc")
int seven(void *ctx)
{
    return 7;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn elf_programs_use_maps_and_print() {
    let dir = scratch("elf");
    compile(&dir, "prog", MAPS_AND_PRINTK);
    let out = success(bpfx(&dir, &["run", "prog.o", "-p", "sum", "--mem", "02 03"]));
    assert_eq!(out.lines().next(), Some("r0 = 0x5 (5)"));
    assert!(out.ends_with("trace: total 5\n"), "{out}");
    let doc = json(bpfx(&dir, &["run", "prog.o", "-s", "tc", "--json"]), 0);
    assert_eq!(doc["r0"], 7);
    let err = failure(bpfx(&dir, &["run", "prog.o"]), 2);
    assert!(err.contains("several programs") && err.contains("sum (socket)") && err.contains("seven (tc)"), "{err}");
    let err = failure(bpfx(&dir, &["run", "prog.o", "-p", "nine"]), 2);
    assert!(err.contains("no such program"), "{err}");
}

const TAIL_CALL: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int target(void *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, int (void *));
} jumps SEC(".maps") = {
    .values = { [2] = (void *)&target },
};

SEC("socket")
int target(void *ctx)
{
    return 42;
}

SEC("socket")
int entry(unsigned char *mem)
{
    bpf_tail_call(mem, &jumps, mem[0]);
    return 1;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn elf_tail_calls_go_through_the_objects_prog_array() {
    let dir = scratch("tail");
    compile(&dir, "tail", TAIL_CALL);
    assert_eq!(json(bpfx(&dir, &["run", "tail.o", "-p", "entry", "--mem", "02", "--json"]), 0)["r0"], 42);
    assert_eq!(json(bpfx(&dir, &["run", "tail.o", "-p", "entry", "--mem", "01", "--json"]), 0)["r0"], 1);
}

#[test]
fn a_packet_program_run_on_raw_bytes_keeps_every_check() {
    // The verifier proves this read against the packet; on `--mem` bytes
    // the "packet pointers" are whatever the bytes say (here 0x1000 and
    // 0x2000), so the JIT must not take the proof: the read faults cleanly
    // on both engines instead of reading host memory.
    let dir = scratch("raw-packet");
    compile(
        &dir,
        "checked",
        r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int checked(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

    if (data + 24 > end)
        return XDP_PASS;
    return data[23] == 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"#,
    );
    for engine in ["jit", "interp"] {
        let args = ["run", "checked.o", "--type", "raw", "--mem", "0010000000200000", "--engine", engine, "--json"];
        let doc = json(bpfx(&dir, &args), 1);
        assert!(doc["fault"]["message"].as_str().is_some_and(|m| m.contains("0x1017")), "{engine}: {doc}");
        assert!(doc.get("proven_accesses").is_none(), "{engine}: {doc}");
    }
}
