//! Helpers about the world, through programs: clocks, randomness, CPU and
//! task identity, probing a memory image, `bpf_trace_printk`,
//! `bpf_snprintf`, spin locks, `bpf_csum_diff`, and user-registered
//! helpers.

use bpfx_isa::HelperId;
use bpfx_isa::abi::MapType;
use bpfx_runtime::{Clock, Config, Context, Exit, Fault, ProbeMemory, Runtime, Task, helper_fn};

use crate::{MakeEngine, map, program, run, run_with};

crate::tests![
    clocks_are_virtual_and_settable,
    prandom_is_seeded,
    cpu_numa_and_task_identity,
    current_comm_is_truncated_and_padded,
    probe_reads_see_only_the_image,
    probe_read_str_copies_strings,
    trace_printk_formats_and_captures,
    trace_printk_refuses_bad_formats,
    snprintf_writes_and_measures,
    spin_locks_pair_up,
    csum_diff_is_a_ones_complement_sum,
    user_helpers_replace_built_ins,
];

/// Runs `source` on 64 bytes of memory (`r6` = `r1` is the memory) and
/// returns the memory as left, as little-endian `u64`s.
fn words(make: MakeEngine, config: Config, source: &str) -> Vec<u64> {
    let out = run_with(make, config, &program(&format!("r6 = r1\n{source}"), Vec::new()), Context::raw(&[0; 64]));
    assert!(out.exit.r0().is_some(), "{}", out.exit);
    out.ctx.mem().chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn clocks_are_virtual_and_settable(make: MakeEngine) {
    let source = "
        call 5
        *(u64 *)(r6 + 0) = r0
        call 5
        *(u64 *)(r6 + 8) = r0
        call 125
        *(u64 *)(r6 + 16) = r0
        call 160
        *(u64 *)(r6 + 24) = r0
        exit";
    let w = words(make, Config::default(), source);
    assert_eq!(w[..4], [1_000_000_000, 1_000_001_000, 1_000_002_000, 1_000_000_000]);
    let fixed = Config { clock: Clock::Virtual { start_ns: 9_000_001, step_ns: 0 }, ..Config::default() };
    assert_eq!(words(make, fixed, source)[..4], [9_000_001, 9_000_001, 9_000_001, 8_000_000]);
    // A replay sets the clock per packet.
    let mut rt = Runtime::default();
    let mut engine = make();
    let prog = engine.load(&mut rt, &program("call 5\nexit", Vec::new())).unwrap();
    rt.set_time_ns(77);
    assert_eq!(engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap().exit, Exit::Return(77));
    let host = Config { clock: Clock::Host { start_ns: 0 }, ..Config::default() };
    let w = words(make, host, source);
    assert!(w[0] <= w[1], "the host clock is monotonic");
}

fn prandom_is_seeded(make: MakeEngine) {
    let source = "
        call 7
        *(u64 *)(r6 + 0) = r0
        call 7
        *(u64 *)(r6 + 8) = r0
        call 7
        *(u64 *)(r6 + 16) = r0
        exit";
    let seeded = |seed| words(make, Config { seed, ..Config::default() }, source)[..3].to_vec();
    let a = seeded(1);
    assert_eq!(a, seeded(1));
    assert_ne!(a, seeded(2));
    assert!(a.iter().all(|&v| v <= u64::from(u32::MAX)), "32-bit values: {a:x?}");
    assert!(a[0] != a[1] && a[1] != a[2], "{a:x?}");
}

fn cpu_numa_and_task_identity(make: MakeEngine) {
    let config = Config {
        cpu: 3,
        cpus: 4,
        numa_node: 1,
        task: Task { pid: 100, tgid: 200, uid: 1001, gid: 1002, comm: "nginx".into() },
        ..Config::default()
    };
    let source = "
        call 8
        *(u64 *)(r6 + 0) = r0
        call 42
        *(u64 *)(r6 + 8) = r0
        call 14
        *(u64 *)(r6 + 16) = r0
        call 15
        *(u64 *)(r6 + 24) = r0
        exit";
    assert_eq!(words(make, config, source)[..4], [3, 1, 200 << 32 | 100, 1002 << 32 | 1001]);
}

fn current_comm_is_truncated_and_padded(make: MakeEngine) {
    let config = Config { task: Task { comm: "a-very-long-task-name".into(), ..Task::default() }, ..Config::default() };
    // Fill with 0xff first, so padding shows.
    let source = "
        r1 = -1
        *(u64 *)(r6 + 0) = r1
        *(u64 *)(r6 + 8) = r1
        *(u64 *)(r6 + 16) = r1
        r1 = r6
        r2 = 16
        call 16
        *(u64 *)(r6 + 24) = r0
        r1 = r6
        r1 += 16
        r2 = 3
        call 16
        exit";
    let out = run_with(make, config, &program(&format!("r6 = r1\n{source}"), Vec::new()), Context::raw(&[0; 32]));
    assert_eq!(out.r0(), 0);
    let mem = out.ctx.mem();
    assert_eq!(&mem[..16], b"a-very-long-tas\0", "TASK_COMM_LEN is 16");
    assert_eq!(&mem[16..20], b"a-\0\xff", "size 3: two bytes and the NUL, the rest untouched");
}

fn image() -> ProbeMemory {
    let mut m = ProbeMemory::default();
    m.insert(0xffff_8000_0000_1000, b"kernel says hi\0".to_vec());
    m
}

fn probe_reads_see_only_the_image(make: MakeEngine) {
    let config = Config { kernel_memory: image(), user_memory: image(), ..Config::default() };
    let source = "
        r1 = -1
        *(u64 *)(r6 + 8) = r1
        r1 = r6
        r2 = 6
        r3 = 0xffff80000000 ll
        r3 <<= 16
        r3 |= 0x1007
        call 113
        *(u64 *)(r6 + 16) = r0
        r1 = r6
        r1 += 8
        r2 = 8
        r3 = 0x10
        call 113
        *(u64 *)(r6 + 24) = r0
        r1 = r6
        r1 += 32
        r2 = 4
        r3 = 0xffff80000000 ll
        r3 <<= 16
        r3 |= 0x1000
        call 112
        *(u64 *)(r6 + 40) = r0
        r1 = r6
        r1 += 48
        r2 = 3
        call 4
        exit";
    let out = run_with(make, config, &program(&format!("r6 = r1\n{source}"), Vec::new()), Context::raw(&[0; 64]));
    let mem = out.ctx.mem();
    assert_eq!(&mem[..6], b"says h");
    assert_eq!(&mem[8..16], [0; 8], "a failed probe zeroes its buffer");
    assert_eq!(u64::from_le_bytes(mem[16..24].try_into().unwrap()), 0);
    assert_eq!(u64::from_le_bytes(mem[24..32].try_into().unwrap()) as i64, -14, "-EFAULT");
    assert_eq!(&mem[32..36], b"kern", "bpf_probe_read_user reads the user image");
    assert_eq!(out.r0(), 0);
    assert_eq!(&mem[48..51], b"ker", "bpf_probe_read is the kernel probe");
}

fn probe_read_str_copies_strings(make: MakeEngine) {
    let config = Config { kernel_memory: image(), ..Config::default() };
    let read = |size: u32| {
        let source =
            format!("r6 = r1\nr1 = r6\nr2 = {size}\nr3 = 0xffff80000000 ll\nr3 <<= 16\nr3 |= 0x1007\ncall 115\nexit");
        let out = run_with(make, config.clone(), &program(&source, Vec::new()), Context::raw(&[0xaa; 12]));
        (out.r0() as i64, out.ctx.mem())
    };
    assert_eq!(read(12), (8, b"says hi\0\xaa\xaa\xaa\xaa".to_vec()), "length with the NUL; the rest untouched");
    assert_eq!(read(4), (4, b"say\0\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa".to_vec()), "truncated, NUL-terminated");
    let source = "r6 = r1\nr1 = r6\nr2 = 4\nr3 = 0x20\ncall 114\nexit";
    let out = run_with(make, config, &program(source, Vec::new()), Context::raw(&[0xaa; 4]));
    assert_eq!((out.r0() as i64, out.ctx.mem()), (-14, vec![0; 4]));
}

/// `bpf_trace_printk(mem, len, a, b, c)` with `mem` = `fmt` and a string at
/// offset 32 (for `%s`); returns `r0` and the trace.
fn printk(make: MakeEngine, fmt: &str, args: [&str; 3]) -> (i64, Vec<String>) {
    let mut mem = fmt.as_bytes().to_vec();
    mem.push(0);
    mem.resize(32, 0);
    mem.extend_from_slice(b"str\0");
    let source =
        format!("r6 = r1\nr2 = {}\nr3 = {}\nr4 = {}\nr5 = {}\ncall 6\nexit", fmt.len() + 1, args[0], args[1], args[2]);
    let mut out = run(make, &program(&source, Vec::new()), Context::raw(&mem));
    let r0 = out.r0() as i64;
    (r0, out.rt.take_trace())
}

fn trace_printk_formats_and_captures(make: MakeEngine) {
    let (r0, trace) = printk(make, "a=%d b=%u s=%s\n", ["-5", "-5", "r1\nr5 += 32"]);
    assert_eq!(trace, ["a=-5 b=4294967291 s=str\n"]);
    assert_eq!(r0, trace[0].len() as i64);
    let (_, trace) = printk(make, "%llx|%5d|%-4i|", ["-1", "42", "7"]);
    assert_eq!(trace, ["ffffffffffffffff|   42|7   |"]);
    let (_, trace) = printk(make, "%05u|%+d|% d", ["5", "5", "5"]);
    assert_eq!(trace, ["00005|+5| 5"]);
    let (_, trace) = printk(make, "%x %X %ld%%", ["0xbeef", "0xbeef", "-3"]);
    assert_eq!(trace, ["beef BEEF -3%"]);
    let (_, trace) = printk(make, "%c! %lu", ["0x41", "-1", "0"]);
    assert_eq!(trace, ["A! 18446744073709551615"]);
}

fn trace_printk_refuses_bad_formats(make: MakeEngine) {
    for fmt in ["%q", "%d %d %d %d", "%sok", "%5.2d"] {
        let (r0, trace) = printk(make, fmt, ["1", "2", "3"]);
        assert_eq!((r0, trace.len()), (-22, 0), "{fmt}");
    }
}

fn snprintf_writes_and_measures(make: MakeEngine) {
    // The format at 0, its two arguments (u64s) at 16, the output at 32;
    // the %s argument points at the format itself.
    let snprintf = |size: u32| {
        let mut mem = b"%d-%s\0".to_vec();
        mem.resize(16, 0);
        mem.extend_from_slice(&(-12i64 as u64).to_le_bytes());
        mem.extend_from_slice(&[0; 8]);
        mem.extend_from_slice(&[0xee; 16]);
        let source = format!(
            "r6 = r1\n*(u64 *)(r6 + 24) = r6\nr1 = r6\nr1 += 32\nr2 = {size}\nr3 = r6\nr4 = r6\nr4 += 16\nr5 = 16\ncall 165\nexit"
        );
        let out = run(make, &program(&source, Vec::new()), Context::raw(&mem));
        (out.r0() as i64, out.ctx.mem()[32..48].to_vec())
    };
    assert_eq!(snprintf(16), (10, b"-12-%d-%s\0\xee\xee\xee\xee\xee\xee".to_vec()), "the length with the NUL");
    assert_eq!(snprintf(4), (10, b"-12\0\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee".to_vec()));
}

fn spin_locks_pair_up(make: MakeEngine) {
    let locked = "
        *(u32 *)(r10 - 4) = 0
        ld_pseudo r1, 1, 0
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r6 = r0
        r1 = r6
        call 93
        r7 = *(u32 *)(r6 + 0)
        r1 = r6
        call 94
        r0 = *(u32 *)(r6 + 0)
        r0 <<= 8
        r0 |= r7
    out:
        exit";
    let lock_map = || vec![map("locks", MapType::Array, 4, 8, 1)];
    let out = run(make, &program(locked, lock_map()), Context::raw(&[]));
    assert_eq!(out.r0(), 1, "held while locked, free after");
    let twice = locked.replace("r7 = *(u32 *)(r6 + 0)", "r1 = r6\ncall 93");
    let out = run(make, &program(&twice, lock_map()), Context::raw(&[]));
    let Exit::Fault { fault: Fault::BadHelperArg { helper, reason }, .. } = out.exit else { panic!("{}", out.exit) };
    assert_eq!(helper, HelperId(93));
    assert!(reason.contains("already held"), "{reason}");
    let unheld = locked.replace("call 93\n", "r0 = 0\n");
    let out = run(make, &program(&unheld, lock_map()), Context::raw(&[]));
    let Exit::Fault { fault: Fault::BadHelperArg { helper, .. }, .. } = out.exit else { panic!("{}", out.exit) };
    assert_eq!(helper, HelperId(94));
}

/// RFC 1071: the ones' complement sum of 16-bit words, folded.
fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = bytes.chunks(2).map(|w| u64::from(u16::from_le_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn csum_diff_is_a_ones_complement_sum(make: MakeEngine) {
    let mem: Vec<u8> = (1..=16u8).map(|b| b.wrapping_mul(37)).collect();
    let diff = |from: u32, to: u32, seed: u32| {
        let source = format!("r1 = r1\nr2 = {from}\nr3 = r1\nr3 += 8\nr4 = {to}\nr5 = {seed}\ncall 28\nexit");
        run(make, &program(&source, Vec::new()), Context::raw(&mem)).r0()
    };
    let folded = |v: u64| ones_sum(&(v as u32).to_le_bytes());
    let inverted: Vec<u8> = mem[..8].iter().map(|b| !b).collect();
    let expected = ones_sum(&[inverted.as_slice(), &mem[8..16]].concat());
    assert_eq!(folded(diff(8, 8, 0)), expected);
    assert_eq!(folded(diff(0, 8, 0)), ones_sum(&mem[8..16]), "pushing data");
    assert_eq!(folded(diff(0, 4, 0x1234)), ones_sum(&[&mem[8..12], &[0x34, 0x12][..]].concat()), "with a seed");
    assert_eq!(diff(3, 4, 0) as i64, -22, "sizes must be multiples of 4");
    assert_eq!(diff(0, 0, 7), 7, "nothing to sum leaves the seed");
}

fn answer(rt: &mut Runtime, [r1, ..]: [u64; 5]) -> Result<u64, Fault> {
    let calls: &mut u64 = rt.user_data::<u64>().expect("the test set a counter");
    *calls += 1;
    Ok(r1 * 2 + *calls)
}

fn user_helpers_replace_built_ins(make: MakeEngine) {
    let mut rt = Runtime::default();
    rt.set_user_data(Box::new(0u64));
    rt.register_helper(HelperId(5), helper_fn!(HelperId(5), answer)).unwrap();
    assert_eq!(rt.register_helper(HelperId(4096), helper_fn!(HelperId(4096), answer)), Err(HelperId(4096)));
    let mut engine = make();
    let prog = engine.load(&mut rt, &program("r1 = 20\ncall 5\nexit", Vec::new())).unwrap();
    assert_eq!(engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap().exit, Exit::Return(41));
    assert_eq!(engine.run(&mut rt, prog, &mut Context::raw(&[])).unwrap().exit, Exit::Return(42));
    assert_eq!(*rt.user_data::<u64>().unwrap(), 2);
}
