//! `bpfx_loader::kernel` against the running kernel: maps, program loads
//! (accepted and rejected, with their logs), test runs, BTF, pinning, and
//! that nothing stays behind in the kernel.
//!
//! These tests need bpf(2): root, or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN
//! and CAP_SYS_ADMIN (for the id iterators). Where it is not available
//! they fail, saying why: a kernel test that passes without a kernel
//! would check nothing.

#![cfg(target_os = "linux")]

use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bpfx_isa::abi::{AttachType, MapType, ProgType};
use bpfx_isa::{FuncInfo, InsnIdx, LineInfo, MapSpec, Program, assemble};
use bpfx_loader::kernel::*;

#[path = "support/bpffs.rs"]
mod bpffs;
use bpffs::Bpffs;

/// The kernel, or a failure saying why it cannot be reached.
fn bpf() -> Bpf {
    let bpf = Bpf::new();
    if let Err(e) = bpf.create_map(&spec("probe", MapType::Array, 4, 4, 1)) {
        panic!(
            "the kernel is unavailable to these tests ({e}); they need bpf(2) as root, or with CAP_BPF, \
             CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN"
        );
    }
    bpf
}

fn spec(name: &str, map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec { name: name.into(), map_type, key_size, value_size, max_entries, ..MapSpec::default() }
}

fn program(name: &str, prog_type: ProgType, source: &str) -> Program {
    Program::new(name, prog_type, assemble(source).unwrap_or_else(|e| panic!("{source}: {e}")))
}

fn load(bpf: &Bpf, program: &Program) -> Prog {
    bpf.load_program(program, &[], &ProgLoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// An ethernet frame of `len` bytes: broadcast to 02:00:00:00:00:01,
/// IPv4 ethertype, then a counting payload.
fn frame(len: usize) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    f.extend((0..len.saturating_sub(14)).map(|i| i as u8));
    f.truncate(len);
    f
}

/// Waits until `gone` holds: the kernel frees programs (and the maps they
/// hold) after an RCU grace period, not at close.
fn eventually(what: &str, mut gone: impl FnMut() -> bool) {
    let start = Instant::now();
    while !gone() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what} still there after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A call as the kernel left it: command, attribute, errno.
type Recorded = (Cmd, Vec<u8>, Option<i32>);

/// A syscall that forwards every call and keeps a copy of each.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Recorded>>,
}

// SAFETY: every descriptor is the one the kernel returned.
unsafe impl Syscall for Recorder {
    fn bpf(&self, call: &mut BpfCall<'_>) -> io::Result<i32> {
        let result = call.forward();
        let errno = result.as_ref().err().and_then(io::Error::raw_os_error);
        self.calls.lock().unwrap().push((call.cmd(), call.attr().to_vec(), errno));
        result
    }
}

/// A syscall that fails every call with one errno.
struct Deny(i32);

// SAFETY: it never returns a descriptor.
unsafe impl Syscall for Deny {
    fn bpf(&self, _: &mut BpfCall<'_>) -> io::Result<i32> {
        Err(io::Error::from_raw_os_error(self.0))
    }
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap())
}

// ---- programs and test runs ----

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

#[test]
fn xdp_programs_return_their_verdicts() {
    let bpf = bpf();
    let packet = frame(64);
    for (verdict, source) in [(XDP_PASS, "r0 = 2\nexit"), (XDP_DROP, "r0 = 1\nexit")] {
        let prog = load(&bpf, &program("xdp_verdict", ProgType::Xdp, source));
        let out = prog.test_run(&TestRun::packet(&packet)).unwrap();
        assert_eq!(out.retval, verdict);
        assert_eq!(out.data_out, packet, "an xdp program that writes nothing returns the packet unchanged");
        assert_eq!((out.data_size_out, out.truncated), (64, false));
    }
}

#[test]
fn xdp_packet_writes_come_back_in_data_out() {
    let bpf = bpf();
    let prog = load(
        &bpf,
        &program(
            "xdp_rewrite",
            ProgType::Xdp,
            "r2 = *(u32 *)(r1 + 0)\n\
             r3 = *(u32 *)(r1 + 4)\n\
             r4 = r2\n\
             r4 += 20\n\
             if r4 > r3 goto short\n\
             *(u8 *)(r2 + 0) = 0xab\n\
             r0 = 2\n\
             exit\n\
             short:\n\
             r0 = 1\n\
             exit",
        ),
    );
    let packet = frame(60);
    let out = prog.test_run(&TestRun { repeat: 3, ..TestRun::packet(&packet) }).unwrap();
    assert_eq!(out.retval, XDP_PASS);
    let mut want = packet.clone();
    want[0] = 0xab;
    assert_eq!(out.data_out, want);
    // A 14-byte packet is too short for the bounds check: the program drops.
    let out = prog.test_run(&TestRun::packet(&frame(14))).unwrap();
    assert_eq!((out.retval, out.data_out), (XDP_DROP, frame(14)));
}

#[test]
fn skb_programs_see_the_packet_from_their_layer() {
    let bpf = bpf();
    // skb->len: a socket filter runs after the ethernet header is pulled,
    // a tc program before.
    let socket = load(&bpf, &program("sock_len", ProgType::SocketFilter, "r0 = *(u32 *)(r1 + 0)\nexit"));
    let tc = load(&bpf, &program("tc_len", ProgType::SchedCls, "r0 = *(u32 *)(r1 + 0)\nexit"));
    for len in [34, 60, 1500] {
        let packet = frame(len);
        let run = TestRun::packet(&packet);
        let out = socket.test_run(&run).unwrap_or_else(|e| panic!("{len}: {e}"));
        assert_eq!(out.retval as usize, len - 14, "a socket filter's skb->len of a {len}-byte frame");
        // The kernel pushes the ethernet header back for data_out, zeroed.
        let mut zeroed = packet.clone();
        zeroed[..14].fill(0);
        assert_eq!(out.data_out, zeroed, "a socket filter's data_out");
        let out = tc.test_run(&run).unwrap_or_else(|e| panic!("{len}: {e}"));
        assert_eq!(out.retval as usize, len, "a tc program's skb->len of a {len}-byte frame");
        assert_eq!(out.data_out, packet, "a tc program's data_out");
    }
}

#[test]
fn a_tc_program_sees_the_protocol_and_writes_the_mark() {
    let bpf = bpf();
    // __sk_buff: protocol at 16 (network order), mark at 8.
    let protocol = load(&bpf, &program("tc_proto", ProgType::SchedCls, "r0 = *(u32 *)(r1 + 16)\nexit"));
    let packet = frame(64);
    let out = protocol.test_run(&TestRun::packet(&packet)).unwrap();
    assert_eq!(out.retval, u32::from(u16::from_ne_bytes([packet[12], packet[13]])));

    let mark = load(
        &bpf,
        &program("tc_mark", ProgType::SchedCls, "r2 = *(u32 *)(r1 + 8)\nr2 += 1\n*(u32 *)(r1 + 8) = r2\nr0 = 2\nexit"),
    );
    let mut ctx = vec![0u8; 12];
    ctx[8..12].copy_from_slice(&41u32.to_ne_bytes());
    let run = TestRun { ctx_in: Some(&ctx), ctx_out_capacity: 1024, ..TestRun::packet(&packet) };
    let out = mark.test_run(&run).unwrap();
    assert_eq!(out.retval, 2, "TC_ACT_SHOT");
    let ctx_out = out.ctx_out.expect("the context comes back");
    assert!(ctx_out.len() > 12 && ctx_out.len() < 1024, "ctx_out is the kernel's __sk_buff: {} bytes", ctx_out.len());
    assert_eq!(u32_at(&ctx_out, 8), 42);

    let small = TestRun { ctx_out_capacity: 8, ..run };
    match mark.test_run(&small) {
        Err(KernelError::CtxOutTooSmall { capacity: 8, needed }) => assert_eq!(needed, ctx_out.len()),
        other => panic!("expected CtxOutTooSmall, got {other:?}"),
    }
}

#[test]
fn an_output_packet_larger_than_its_room_is_cut_not_lost() {
    let bpf = bpf();
    let prog = load(&bpf, &program("xdp_pass", ProgType::Xdp, "r0 = 2\nexit"));
    let packet = frame(64);
    let out = prog.test_run(&TestRun { data_out_capacity: 10, ..TestRun::packet(&packet) }).unwrap();
    assert_eq!(out.retval, XDP_PASS, "the run's result survives the kernel's ENOSPC");
    assert!(out.truncated);
    assert_eq!(out.data_size_out, 64);
    assert_eq!(out.data_out, &packet[..10]);
    let none = prog.test_run(&TestRun { data_out_capacity: 0, ..TestRun::packet(&packet) }).unwrap();
    assert!(none.data_out.is_empty() && !none.truncated);
}

#[test]
fn test_run_errors_name_the_call() {
    let bpf = bpf();
    let prog = load(&bpf, &program("tc_short", ProgType::SchedCls, "r0 = 0\nexit"));
    let cases = [
        (frame(4), "a packet of 4 bytes is shorter than an ethernet header (14 bytes)"),
        (frame(14), "an IPv4 frame needs its 20-byte header after the ethernet header (34 bytes), this one has 14"),
    ];
    for (packet, cause) in cases {
        let err = prog.test_run(&TestRun::packet(&packet)).unwrap_err();
        let KernelError::Syscall(e) = &err else { panic!("{err:?}") };
        assert_eq!((e.call, e.errno), (Cmd::ProgTestRun, Errno::EINVAL));
        assert_eq!(err.to_string(), format!("bpf(BPF_PROG_TEST_RUN) failed with EINVAL: {cause}"));
    }
    let packet = frame(64);
    let on_cpu = TestRun { flags: 1, ..TestRun::packet(&packet) };
    let err = prog.test_run(&on_cpu).unwrap_err();
    assert!(err.to_string().ends_with("takes no flags, cpu or batch size"), "{err}");
}

// ---- maps referenced by programs ----

#[test]
fn map_references_become_the_fds_of_the_maps_created_for_them() {
    let bpf = bpf();
    let mut p = program(
        "map_write",
        ProgType::Xdp,
        "*(u32 *)(r10 - 4) = 0\n\
         r2 = r10\n\
         r2 += -4\n\
         ld_pseudo r1, 1, 1\n\
         call 1\n\
         if r0 == 0 goto out\n\
         r1 = 42\n\
         *(u64 *)(r0 + 0) = r1\n\
         out:\n\
         r0 = 2\n\
         exit",
    );
    // Index 1 is the array: index 0 is a decoy a wrong mapping would hit.
    p.maps = vec![spec("decoy", MapType::Hash, 4, 8, 4), spec("counter", MapType::Array, 4, 8, 1)];
    let (prog, maps) = bpf.load(&p, &ProgLoadOptions::default()).unwrap();
    assert_eq!(maps[1].lookup(&0u32.to_ne_bytes()).unwrap(), Some(vec![0; 8]));
    let out = prog.test_run(&TestRun::packet(&frame(64))).unwrap();
    assert_eq!(out.retval, XDP_PASS);
    assert_eq!(maps[1].lookup(&0u32.to_ne_bytes()).unwrap(), Some(42u64.to_ne_bytes().to_vec()));
    assert_eq!(maps[0].keys().unwrap(), Vec::<Vec<u8>>::new());
}

#[test]
fn global_data_is_written_frozen_and_read_through_a_value_pointer() {
    let bpf = bpf();
    let mut rodata = spec(".rodata", MapType::Array, 4, 8, 1);
    rodata.flags = 0x80; // BPF_F_RDONLY_PROG
    rodata.initial_data = Some(vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let mut p = program("rodata_read", ProgType::Xdp, "ld_pseudo r1, 2, 0, 4\nr0 = *(u32 *)(r1 + 0)\nexit");
    p.maps = vec![rodata];
    let maps = bpf.create_maps(&p.maps, None).unwrap();
    maps[0].freeze().unwrap();
    let prog = bpf.load_program(&p, &maps, &ProgLoadOptions::default()).unwrap();
    let out = prog.test_run(&TestRun::packet(&frame(64))).unwrap();
    assert_eq!(out.retval, u32::from_ne_bytes([5, 6, 7, 8]), "the value at offset 4 of the initial data");

    let err = maps[0].update(&0u32.to_ne_bytes(), &[0; 8], UpdateFlags::ANY).unwrap_err();
    let KernelError::Syscall(e) = &err else { panic!("{err:?}") };
    assert_eq!(e.errno, Errno::EPERM);
    assert!(err.to_string().contains("frozen"), "{err}");
}

#[test]
fn a_map_index_past_the_maps_is_refused_before_the_kernel() {
    let bpf = Bpf::with_syscall(Arc::new(Deny(libc::ENOSYS)));
    let p = program("bad_index", ProgType::Xdp, "r0 = 0\nld_pseudo r1, 1, 3\nexit");
    let err = bpf.load_program(&p, &[], &ProgLoadOptions::default()).unwrap_err();
    assert!(matches!(err, KernelError::MapIndex { at: InsnIdx(1), index: 3, count: 0 }), "{err:?}");
}

// ---- rejections and the verifier log ----

fn rejection(bpf: &Bpf, source: &str, level: LogLevel) -> Rejected {
    let p = program("rejected", ProgType::Xdp, source);
    match bpf.load_program(&p, &[], &ProgLoadOptions { log_level: level, ..Default::default() }) {
        Err(KernelError::Rejected(r)) => *r,
        other => panic!("{source}: expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_rejection_carries_the_errno_the_insn_and_the_log() {
    let bpf = bpf();
    let r = rejection(&bpf, "r0 = r2\nexit", LogLevel::Level1);
    assert_eq!(r.errno, Errno::EACCES);
    assert_eq!(r.log.error_insn(), Some(InsnIdx(0)));
    assert_eq!(r.log.error_message().as_deref(), Some("R2 !read_ok"));
    assert!(r.log.text.contains("0: (bf) r0 = r2"), "{}", r.log.text);
    let shown = KernelError::Rejected(Box::new(r)).to_string();
    assert_eq!(shown, "the kernel's verifier rejected `rejected` with EACCES at insn 0: R2 !read_ok");

    // After an lddw (two slots) the index is a slot index, as in the log.
    let source = "r1 = 0x1 ll\nr0 = 0\n*(u64 *)(r10 - 520) = r1\nexit";
    let r = rejection(&bpf, source, LogLevel::Level1);
    assert_eq!((r.errno, r.log.error_insn()), (Errno::EACCES, Some(InsnIdx(3))));
    let message = r.log.error_message().unwrap();
    assert!(message.starts_with("invalid write to stack R10 off=-520"), "{message}");
    let stats = r.log.stats.expect("a rejected program's log ends with its statistics");
    assert_eq!(stats.insns_processed, 3);

    // The statistics level alone still says what went wrong, not where.
    let r = rejection(&bpf, source, LogLevel::Stats);
    assert_eq!(r.log.error_message(), Some(message));
    assert_eq!(r.log.insn_lines().count(), 0);
}

#[test]
fn multi_line_errors_and_errors_before_the_walk_are_read() {
    let bpf = bpf();
    let packet_overrun = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 8\n\
                          if r4 > r3 goto out\nr0 = *(u8 *)(r2 + 9)\nexit\nout:\nr0 = 2\nexit";
    for level in [LogLevel::Level1, LogLevel::Level2] {
        let r = rejection(&bpf, packet_overrun, level);
        assert_eq!((r.errno, r.log.error_insn()), (Errno::EACCES, Some(InsnIdx(5))), "{level:?}");
        let message = r.log.error_message().unwrap();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 2, "{level:?}: {message}");
        assert!(lines[0].starts_with("invalid access to packet, off=9 size=1"), "{message}");
        // The error is the text between the last instruction and the
        // statistics, exactly as the kernel wrote it.
        let text = &r.log.text;
        let after = &text[text.rfind("5: (71)").unwrap()..];
        assert!(after.contains(&format!("{}\n{}\n", lines[0], lines[1])), "{text}");
    }
    // The control-flow check runs before any instruction is walked (level
    // 2 prints the subprogram's start, `func#0 @0`, before it).
    for level in [LogLevel::Level1, LogLevel::Level2] {
        let r = rejection(&bpf, "r0 = 0\ngoto +1\nr0 = 1\nexit", level);
        assert_eq!(r.errno, Errno::EINVAL);
        assert_eq!(r.log.error_message().as_deref(), Some("unreachable insn 2"), "{level:?}");
        assert_eq!(r.log.error_insn(), Some(InsnIdx(2)));
        assert_eq!(r.log.stats.map(|s| s.insns_processed), Some(0));
        let r = rejection(&bpf, "r0 = 0\nif r0 == 0 goto +5\nexit", level);
        assert_eq!(r.log.error_message().as_deref(), Some("jump out of range from insn 1 to 7"), "{level:?}");
        assert_eq!(r.log.error_insn(), Some(InsnIdx(1)));
    }
    // Precision tracking (level 2) prints between the instructions; the
    // error still comes out alone.
    let r = rejection(&bpf, "r1 = 5\nr0 = r10\nr0 += r1\nr0 = *(u64 *)(r0 - 16)\nexit", LogLevel::Level2);
    assert!(r.log.text.contains("mark_precise: "), "{}", r.log.text);
    assert_eq!(r.log.error_insn(), Some(InsnIdx(3)));
    assert_eq!(r.log.error_message().as_deref(), Some("misaligned stack access off 0+5+-16 size 8"));
}

#[test]
fn a_map_value_overrun_is_reported_at_its_load() {
    let bpf = bpf();
    let mut p = program(
        "value_overrun",
        ProgType::Xdp,
        "*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nld_pseudo r1, 1, 0\ncall 1\n\
         if r0 == 0 goto out\nr0 = *(u64 *)(r0 + 8)\nout:\nr0 = 2\nexit",
    );
    p.maps = vec![spec("small", MapType::Array, 4, 8, 1)];
    let Err(KernelError::Rejected(r)) = bpf.load(&p, &ProgLoadOptions::default()) else { panic!("accepted") };
    // Slot 7: the lddw at 3 takes slots 3 and 4.
    assert_eq!((r.errno, r.log.error_insn()), (Errno::EACCES, Some(InsnIdx(7))));
    let message = r.log.error_message().unwrap();
    assert!(message.starts_with("invalid access to map value, value_size=8 off=8 size=8"), "{message}");
}

#[test]
fn statistics_of_an_accepted_program_are_read() {
    let bpf = bpf();
    let straight: String = (0..10).map(|i| format!("r0 = {i}\n")).collect::<String>() + "*(u64 *)(r10 - 8) = r0\nexit";
    let prog = load(&bpf, &program("straight", ProgType::Xdp, &straight));
    let log = prog.log();
    let stats = log.stats.expect("stats");
    assert_eq!(stats.insns_processed, 12, "a straight line is walked once: {}", log.text);
    assert_eq!(stats.insn_limit, 1_000_000);
    assert_eq!((stats.total_states, stats.peak_states), (0, 0), "{}", log.text);
    assert_eq!(log.stack_depth, [8]);
    assert!(log.verification_time_usec.is_some(), "{}", log.text);

    // A branch makes the verifier keep states; the parsed numbers are the
    // ones on the line.
    let branchy = "r0 = 0\nr2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nif r2 > r3 goto a\nr0 = 1\na:\n\
                   if r2 == r3 goto b\nr0 += 2\nb:\nexit";
    let prog = load(&bpf, &program("branchy", ProgType::Xdp, branchy));
    let line = prog.log().text.lines().find(|l| l.starts_with("processed ")).unwrap().to_owned();
    let s = prog.log().stats.unwrap();
    let rebuilt = format!(
        "processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read {}",
        s.insns_processed, s.insn_limit, s.max_states_per_insn, s.total_states, s.peak_states, s.mark_read
    );
    assert_eq!(line, rebuilt);
    assert!(s.insns_processed > 7, "both sides of each branch are walked: {line}");
}

#[test]
fn the_log_buffer_grows_until_the_whole_log_fits() {
    let recorder = Arc::new(Recorder::default());
    let bpf = Bpf::with_syscall(recorder.clone());
    drop(self::bpf());
    let long: String = "r0 = 0\n".to_owned() + &"r0 += 1\n".repeat(300) + "exit";
    let p = program("long_log", ProgType::Xdp, &long);
    let options = ProgLoadOptions { log_level: LogLevel::Level2, log_start: 4096, ..Default::default() };
    let prog = bpf.load_program(&p, &[], &options).unwrap();
    let log = prog.log();
    assert!(log.text.len() > 4096, "a level-2 log of 300 additions is long: {} bytes", log.text.len());
    assert!(log.text.contains("\n0: (b7) r0 = 0"), "the log is whole, from its first instruction");
    assert!(log.text.contains("301: (95) exit"), "and to its last");
    assert_eq!(log.stats.map(|s| s.insns_processed), Some(302));

    let calls = recorder.calls.lock().unwrap();
    // `log_size` at 28, `log_true_size` at 140 of the PROG_LOAD attribute.
    let loads: Vec<(u32, u32, Option<i32>)> = calls
        .iter()
        .filter(|(cmd, ..)| *cmd == Cmd::ProgLoad)
        .map(|(_, attr, errno)| (u32_at(attr, 28), u32_at(attr, 140), *errno))
        .collect();
    assert!(loads.len() >= 2, "{loads:?}");
    assert_eq!(loads[0].0, 4096);
    assert_eq!(loads[0].2, Some(libc::ENOSPC), "the first buffer is too small");
    let last = loads.last().unwrap();
    assert_eq!(last.2, None, "the last load succeeds");
    assert!(last.0 as usize > log.text.len(), "{loads:?}");
    assert_eq!(last.1 as usize, log.text.len() + 1, "the kernel's true size is the text and its nul");
}

#[test]
fn a_log_beyond_the_limit_is_an_error_with_its_end() {
    let bpf = bpf();
    let long: String = "r0 = 0\n".to_owned() + &"r0 += 1\n".repeat(300) + "exit";
    let p = program("long_log", ProgType::Xdp, &long);
    let options =
        ProgLoadOptions { log_level: LogLevel::Level2, log_start: 1024, log_limit: 2048, ..Default::default() };
    match bpf.load_program(&p, &[], &options) {
        Err(KernelError::LogTooLarge { call: Cmd::ProgLoad, limit: 2048, needed: Some(needed), log }) => {
            assert!(needed > 2048);
            assert!(log.len() < 2048 && log.contains("processed 302 insns"), "the log's end is kept: {log}");
        }
        other => panic!("expected LogTooLarge, got {other:?}"),
    }
}

#[test]
fn the_expected_attach_type_reaches_the_verifier() {
    let bpf = bpf();
    // xdp_md.egress_ifindex (offset 20) exists only for devmap programs.
    let p = program("egress", ProgType::Xdp, "r0 = *(u32 *)(r1 + 20)\nexit");
    let r = match bpf.load_program(&p, &[], &ProgLoadOptions::default()) {
        Err(KernelError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert!(r.log.error_message().unwrap().contains("invalid bpf_context access"), "{}", r.log.text);
    let devmap = ProgLoadOptions { expected_attach_type: Some(AttachType::XdpDevmap), ..Default::default() };
    bpf.load_program(&p, &[], &devmap).unwrap();
}

#[test]
fn names_are_cut_as_the_kernel_keeps_them() {
    let bpf = bpf();
    let p = program("a_program-with a long name", ProgType::Xdp, "r0 = 2\nexit");
    let prog = load(&bpf, &p);
    let info = prog.info().unwrap();
    assert_eq!(info.name, "a_program_with_");
    assert_eq!(info.prog_type, ProgType::Xdp.value());
    assert!(info.id > 0 && info.xlated_len > 0);
    let map = bpf.create_map(&spec("map/with:odd chars", MapType::Hash, 4, 4, 1)).unwrap();
    let info = map.info().unwrap();
    assert_eq!((info.name.as_str(), info.map_type, info.key_size), ("map_with_odd_ch", MapType::Hash.value(), 4));
}

// ---- maps from user space ----

#[test]
fn array_maps_update_lookup_and_iterate() {
    let bpf = bpf();
    let map = bpf.create_map(&spec("arr", MapType::Array, 4, 8, 4)).unwrap();
    let key = |k: u32| k.to_ne_bytes();
    assert_eq!(map.lookup(&key(2)).unwrap(), Some(vec![0; 8]), "array values exist from the start");
    map.update(&key(2), &7u64.to_ne_bytes(), UpdateFlags::ANY).unwrap();
    assert_eq!(map.lookup(&key(2)).unwrap(), Some(7u64.to_ne_bytes().to_vec()));
    assert_eq!(map.lookup(&key(4)).unwrap(), None, "past max_entries");
    assert_eq!(map.next_key(None).unwrap(), Some(key(0).to_vec()));
    assert_eq!(map.next_key(Some(&key(3))).unwrap(), None);
    assert_eq!(map.keys().unwrap(), (0..4).map(|k| key(k).to_vec()).collect::<Vec<_>>());
    let err = map.update(&key(1), &[0; 8], UpdateFlags::NOEXIST).unwrap_err();
    assert!(matches!(&err, KernelError::Syscall(e) if e.errno == Errno::EEXIST), "{err:?}");
    let err = map.delete(&key(1)).unwrap_err();
    assert!(matches!(&err, KernelError::Syscall(e) if e.errno == Errno::EINVAL), "arrays cannot delete: {err:?}");
    let err = map.lookup(&[0; 8]).unwrap_err();
    assert_eq!(err.to_string(), "key of map `arr` is 8 bytes, the map's is 4");
}

#[test]
fn hash_maps_update_lookup_delete_and_fill_up() {
    let bpf = bpf();
    let map = bpf.create_map(&spec("hash", MapType::Hash, 8, 4, 3)).unwrap();
    let key = |k: u64| k.to_ne_bytes();
    assert_eq!(map.next_key(None).unwrap(), None, "an empty hash has no first key");
    for k in [10, 20, 30] {
        map.update(&key(k), &(k as u32).to_ne_bytes(), UpdateFlags::NOEXIST).unwrap();
    }
    let mut keys = map.keys().unwrap();
    keys.sort();
    assert_eq!(keys, [key(10).to_vec(), key(20).to_vec(), key(30).to_vec()]);
    let err = map.update(&key(40), &[0; 4], UpdateFlags::ANY).unwrap_err();
    let KernelError::Syscall(e) = &err else { panic!("{err:?}") };
    assert_eq!(e.errno, Errno::E2BIG);
    assert!(err.to_string().contains("the map is full"), "{err}");
    let err = map.update(&key(40), &[0; 4], UpdateFlags::EXIST).unwrap_err();
    assert!(matches!(&err, KernelError::Syscall(e) if e.errno == Errno::ENOENT), "{err:?}");
    assert!(map.delete(&key(20)).unwrap());
    assert!(!map.delete(&key(20)).unwrap());
    assert_eq!(map.lookup(&key(20)).unwrap(), None);
    map.update(&key(40), &40u32.to_ne_bytes(), UpdateFlags::ANY).unwrap();
    assert_eq!(map.lookup(&key(40)).unwrap(), Some(40u32.to_ne_bytes().to_vec()));
    // A key not in the map starts the walk over.
    assert!(map.next_key(Some(&key(99))).unwrap().is_some());
}

#[test]
fn per_cpu_values_are_one_per_possible_cpu() {
    let bpf = bpf();
    let cpus = possible_cpus().unwrap() as usize;
    let listed = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    assert!(cpus >= 1, "{listed}");
    let map = bpf.create_map(&spec("pcpu", MapType::PercpuArray, 4, 4, 2)).unwrap();
    assert_eq!(map.value_len(), 8 * cpus, "4-byte values rounded up to 8, times {cpus} cpus ({listed})");
    let value: Vec<u8> = (0..cpus).flat_map(|c| (c as u64 + 100).to_ne_bytes()).collect();
    map.update(&1u32.to_ne_bytes(), &value, UpdateFlags::ANY).unwrap();
    let back = map.lookup(&1u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(back, value);
    let err = map.update(&1u32.to_ne_bytes(), &[0; 4], UpdateFlags::ANY).unwrap_err();
    assert!(matches!(err, KernelError::Size { what: "value", len: 4, .. }), "{err:?}");
}

#[test]
fn invalid_map_attributes_are_explained() {
    let bpf = bpf();
    let mut lpm = spec("lpm", MapType::LpmTrie, 8, 4, 4);
    lpm.flags = 0;
    let cases = [
        (spec("a", MapType::Array, 8, 4, 1), "key_size must be 4"),
        (spec("h", MapType::Hash, 0, 4, 1), "key_size must not be 0"),
        (spec("a", MapType::Array, 4, 0, 1), "value_size must not be 0"),
        (spec("h", MapType::Hash, 4, 4, 0), "max_entries must not be 0"),
        (spec("q", MapType::Queue, 4, 4, 4), "key_size must be 0"),
        (spec("r", MapType::Ringbuf, 0, 0, 1000), "power of 2 multiple of the page size"),
        (spec("pa", MapType::ProgArray, 4, 8, 4), "value_size must be 4"),
        (lpm, "BPF_F_NO_PREALLOC"),
    ];
    for (spec, cause) in cases {
        let err = bpf.create_map(&spec).unwrap_err();
        let KernelError::Syscall(e) = &err else { panic!("{spec:?}: {err:?}") };
        assert_eq!((e.call, e.errno), (Cmd::MapCreate, Errno::EINVAL), "{spec:?}");
        assert!(err.to_string().contains(cause), "{spec:?}: {err}");
    }
}

#[test]
fn a_map_of_maps_holds_inner_maps_by_id() {
    let bpf = bpf();
    let inner_spec = spec("inner", MapType::Array, 4, 4, 1);
    let inner = bpf.create_map(&inner_spec).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&inner.fd()) as u32;
    // The template given as a map, or made from the spec's inner map.
    let by_map = MapOptions { inner_map: Some(&inner), ..Default::default() };
    let outer_spec = spec("outer", MapType::ArrayOfMaps, 4, 4, 2);
    let with_inner = MapSpec { inner_map: Some(Box::new(inner_spec)), ..outer_spec.clone() };
    for outer in [bpf.create_map_with(&outer_spec, &by_map).unwrap(), bpf.create_map(&with_inner).unwrap()] {
        outer.update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), UpdateFlags::ANY).unwrap();
        let id = outer.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
        assert_eq!(u32::from_ne_bytes(id.try_into().unwrap()), inner.info().unwrap().id);
    }
    let err = bpf.create_map(&outer_spec).unwrap_err();
    assert!(err.to_string().contains("needs an inner map"), "{err}");
}

// ---- BTF ----

/// Raw BTF: the header, `types`, then `strings`.
fn btf(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut b = Vec::new();
    b.extend(0xeb9fu16.to_ne_bytes());
    b.extend([1, 0]); // version 1, no flags
    for field in [24, 0, type_len, type_len, strings.len() as u32] {
        b.extend(field.to_ne_bytes());
    }
    b.extend(types.iter().flat_map(|t| t.to_ne_bytes()));
    b.extend(strings);
    b
}

const STRINGS: &[u8] = b"\0int\0prog\0prog.c\0return XDP_PASS;\0";

/// [1] int, [2] int (void) prototype, [3] static function `prog`.
fn program_btf() -> Vec<u8> {
    const INT: u32 = 1 << 24;
    const FUNC: u32 = 12 << 24;
    const FUNC_PROTO: u32 = 13 << 24;
    btf(&[1, INT, 4, (1 << 24) | 32, 0, FUNC_PROTO, 1, 5, FUNC, 2], STRINGS)
}

#[test]
fn btf_loads_and_describes_maps_and_programs() {
    let bpf = bpf();
    let loaded = bpf.load_btf(&program_btf(), &BtfLoadOptions { log_level: 1, ..Default::default() }).unwrap();
    assert!(loaded.id().unwrap() > 0);
    assert!(loaded.log().contains("[1] INT int"), "the kernel's btf log lists the types: {}", loaded.log());

    let typed = MapSpec { btf_key_type_id: 1, btf_value_type_id: 1, ..spec("typed", MapType::Array, 4, 4, 1) };
    let options = MapOptions { btf: Some(&loaded), ..Default::default() };
    let map = bpf.create_map_with(&typed, &options).unwrap();
    assert_eq!(map.info().unwrap().value_size, 4);
    // The kernel checks the types against the sizes: an 8-byte value is
    // not an int.
    let wrong = MapSpec { value_size: 8, ..typed };
    let err = bpf.create_map_with(&wrong, &options).unwrap_err();
    assert!(matches!(&err, KernelError::Syscall(e) if e.errno == Errno::EINVAL), "{err:?}");

    let mut p = program("prog", ProgType::Xdp, "r0 = 2\nexit");
    p.func_info = vec![FuncInfo { at: InsnIdx(0), name: "prog".into(), btf_type_id: 3, global: true, sig: None }];
    p.line_info = vec![LineInfo {
        at: InsnIdx(0),
        file: "prog.c".into(),
        line: 3,
        column: 5,
        source: "return XDP_PASS;".into(),
        file_name_off: 10,
        line_off: 17,
    }];
    let options = ProgLoadOptions { log_level: LogLevel::Level2, btf: Some(&loaded), ..Default::default() };
    let prog = bpf.load_program(&p, &[], &options).unwrap();
    assert!(prog.log().text.contains("; return XDP_PASS; @ prog.c:3"), "source lines in the log: {}", prog.log().text);
    // Without the BTF, the same program loads without its records.
    let prog =
        bpf.load_program(&p, &[], &ProgLoadOptions { log_level: LogLevel::Level2, ..Default::default() }).unwrap();
    assert!(!prog.log().text.contains("; return"), "{}", prog.log().text);
}

#[test]
fn rejected_btf_carries_the_kernels_reason() {
    let bpf = bpf();
    // The int's name offset points past the strings.
    let bad = btf(&[100, 1 << 24, 4, (1 << 24) | 32], STRINGS);
    for level in [0, 1] {
        match bpf.load_btf(&bad, &BtfLoadOptions { log_level: level, ..Default::default() }) {
            Err(KernelError::BtfRejected { errno, message, log }) => {
                assert_eq!(errno, Errno::EINVAL);
                assert!(message.contains("name_off"), "{message}\n{log}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

// ---- pinning ----

#[test]
fn pinned_objects_are_found_again_by_path() {
    let bpf = bpf();
    let fs = Bpffs::mount("pin");
    let map = bpf.create_map(&spec("pinned", MapType::Array, 4, 4, 1)).unwrap();
    let prog = load(&bpf, &program("pinned", ProgType::Xdp, "r0 = 2\nexit"));
    bpf.pin(map.fd(), &fs.0.join("map")).unwrap();
    bpf.pin(prog.fd(), &fs.0.join("prog")).unwrap();
    let map_fd = bpf.get_pinned(&fs.0.join("map")).unwrap();
    assert_eq!(bpf.map_info(map_fd.as_fd()).unwrap().id, map.info().unwrap().id);
    let reopened = bpf.open_map(map_fd).unwrap();
    assert_eq!((reopened.spec().name.as_str(), reopened.spec().map_type), ("pinned", MapType::Array));
    map.update(&0u32.to_ne_bytes(), &9u32.to_ne_bytes(), UpdateFlags::ANY).unwrap();
    assert_eq!(reopened.lookup(&0u32.to_ne_bytes()).unwrap(), Some(9u32.to_ne_bytes().to_vec()));
    let prog_fd = bpf.get_pinned(&fs.0.join("prog")).unwrap();
    assert_eq!(bpf.prog_info(prog_fd.as_fd()).unwrap().id, prog.info().unwrap().id);

    let err = bpf.pin(map.fd(), &fs.0.join("map")).unwrap_err();
    assert!(matches!(&err, KernelError::Syscall(e) if e.errno == Errno::EEXIST), "{err:?}");
    let err = bpf.get_pinned(&fs.0.join("absent")).unwrap_err();
    assert!(err.to_string().contains("nothing is pinned at that path"), "{err}");
    let outside = std::env::temp_dir().join(format!("bpfx-not-bpffs-{}", std::process::id()));
    let err = bpf.pin(map.fd(), &outside).unwrap_err();
    assert!(err.to_string().contains("bpf filesystem"), "{err}");
    // The kernel answers a bare EPERM for a name with a dot (`bpftool map
    // pin` gets the same); bpfx says why before asking.
    let err = bpf.pin(map.fd(), &fs.0.join(".bss")).unwrap_err();
    assert!(matches!(err, KernelError::PinName { .. }) && err.to_string().contains("'.'"), "{err}");
    assert!(!fs.0.join(".bss").exists());
}

// ---- nothing left behind ----

fn has_map_named(bpf: &Bpf, name: &str) -> bool {
    bpf.ids(ObjKind::Map).unwrap().into_iter().any(|id| {
        // A map may go between listing and opening.
        bpf.open_by_id(ObjKind::Map, id).is_ok_and(|fd| bpf.map_info(fd.as_fd()).is_ok_and(|i| i.name == name))
    })
}

#[test]
fn dropped_objects_leave_the_kernel() {
    let bpf = bpf();
    let mut p = program("leak_check", ProgType::Xdp, "ld_pseudo r1, 1, 0\nr0 = 2\nexit");
    p.maps = vec![spec("leak_check", MapType::Hash, 4, 4, 1)];
    let (prog, maps) = bpf.load(&p, &ProgLoadOptions::default()).unwrap();
    let btf = bpf.load_btf(&program_btf(), &BtfLoadOptions::default()).unwrap();
    let prog_id = prog.info().unwrap().id;
    let map_id = maps[0].info().unwrap().id;
    let btf_id = btf.id().unwrap();
    assert!(bpf.ids(ObjKind::Prog).unwrap().contains(&prog_id));
    assert!(bpf.ids(ObjKind::Map).unwrap().contains(&map_id));
    assert!(bpf.ids(ObjKind::Btf).unwrap().contains(&btf_id));
    drop((prog, maps, btf));
    eventually("the program", || !bpf.ids(ObjKind::Prog).unwrap().contains(&prog_id));
    eventually("the map", || !bpf.ids(ObjKind::Map).unwrap().contains(&map_id));
    eventually("the btf", || !bpf.ids(ObjKind::Btf).unwrap().contains(&btf_id));
}

#[test]
fn a_failure_part_way_leaves_nothing_behind() {
    let bpf = bpf();
    let name = format!("pw{}", std::process::id());
    // The second map is invalid: the first must not survive the failure.
    let mut p = program("part_way", ProgType::Xdp, "r0 = 2\nexit");
    p.maps = vec![spec(&name, MapType::Hash, 4, 4, 1), spec("bad", MapType::Array, 8, 4, 1)];
    let err = bpf.load(&p, &ProgLoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("key_size must be 4"), "{err}");
    eventually("the first map", || !has_map_named(&bpf, &name));

    // A rejected program: its maps go too.
    let mut p = program("part_way", ProgType::Xdp, "ld_pseudo r1, 1, 0\nr0 = r2\nexit");
    p.maps = vec![spec(&name, MapType::Hash, 4, 4, 1)];
    assert!(matches!(bpf.load(&p, &ProgLoadOptions::default()), Err(KernelError::Rejected(_))));
    eventually("the rejected program's map", || !has_map_named(&bpf, &name));
}

// ---- privileges ----

#[test]
fn a_denied_call_says_what_it_needs() {
    let bpf = Bpf::with_syscall(Arc::new(Deny(libc::EPERM)));
    let err = bpf.create_map(&spec("denied", MapType::Array, 4, 4, 1)).unwrap_err();
    let KernelError::Syscall(e) = &err else { panic!("{err:?}") };
    assert_eq!((e.call, e.errno), (Cmd::MapCreate, Errno::EPERM));
    assert_eq!(std::error::Error::source(&err).map(|s| s.to_string()), Some(e.source.to_string()));
    let shown = err.to_string();
    assert!(shown.starts_with("bpf(BPF_MAP_CREATE) failed with EPERM: needs root, or CAP_BPF"), "{shown}");
    assert!(shown.contains("this process runs as euid"), "{shown}");
}

const UNPRIVILEGED: &str = "BPFX_KERNEL_TEST_UNPRIVILEGED";

/// Run as root, this test runs itself again as `nobody`; there, bpf(2)
/// must refuse and the error must say why.
#[test]
fn an_unprivileged_caller_is_told_why() {
    if std::env::var_os(UNPRIVILEGED).is_some() {
        let bpf = Bpf::new();
        let err = bpf
            .load_program(&program("unpriv", ProgType::Xdp, "r0 = 2\nexit"), &[], &ProgLoadOptions::default())
            .unwrap_err();
        let KernelError::Syscall(e) = &err else { panic!("{err:?}") };
        assert_eq!(e.errno, Errno::EPERM);
        println!("unprivileged: {err}");
        return;
    }
    drop(bpf());
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "an_unprivileged_caller_is_told_why", "--nocapture", "--test-threads=1"])
        .env(UNPRIVILEGED, "1")
        .current_dir(Path::new("/"))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "as nobody:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("unprivileged: ").map(|(_, e)| e))
        .unwrap_or_else(|| panic!("no error from the child:\n{stdout}"));
    assert!(line.starts_with("bpf(BPF_PROG_LOAD) failed with EPERM: needs root, or CAP_BPF"), "{line}");
    assert!(line.contains("euid 65534 without CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN"), "{line}");
}
