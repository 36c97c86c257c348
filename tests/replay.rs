//! End-to-end tests of `bpfx run --pcap`: the README's example, the JSON
//! Lines shape, output captures, and the exit codes of captures bpfx cannot
//! replay. Results per packet are held against the kernel in
//! `tests/replay_kernel.rs`; here the counts come from the capture itself.

use std::path::PathBuf;
use std::process::{Command, Output};

use bpfx_runtime::replay::{CaptureFormat, read_capture};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay").join(test);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn bpfx(args: &[&str]) -> Output {
    let status = Command::new(format!("{ROOT}/tests/build-progs.sh")).status().expect("runs tests/build-progs.sh");
    assert!(status.success());
    Command::new(env!("CARGO_BIN_EXE_bpfx")).args(args).current_dir(ROOT).output().expect("bpfx runs")
}

fn traffic_len() -> usize {
    read_capture(&std::fs::read(format!("{ROOT}/examples/traffic.pcap")).unwrap()).unwrap().frames.len()
}

#[test]
fn the_example_replays_with_a_summary_and_map_contents() {
    let out = bpfx(&["run", "tests/build/xdp_count.o", "--pcap", "examples/traffic.pcap"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("packets: {}\n", traffic_len())), "{text}");
    assert!(text.contains("XDP_DROP: ") && text.contains("XDP_PASS: ") && text.contains("\nmap counts:\n"), "{text}");
}

#[test]
fn json_lines_have_one_object_per_packet_then_the_maps() {
    let out =
        bpfx(&["run", "tests/build/ctx_fields.o", "-p", "tc_fields", "--pcap", "examples/traffic.pcap", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(lines.len(), traffic_len() + 1);
    for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(line["i"], i);
        assert!(line["action"].as_str().unwrap().starts_with("TC_ACT_"), "{line}");
        assert_eq!(line["tc_classid"], 2, "a 16-bit field keeps its low half");
        assert_eq!(line["cb"].as_array().unwrap().len(), 5);
        assert!(line["data_out"].is_string(), "the program flips a byte of every frame");
    }
    let last = lines.last().unwrap();
    assert!(last["maps"]["seen"].as_array().is_some_and(|e| !e.is_empty() && e[0]["key"].is_string()), "{last}");
    assert_eq!(last["summary"]["packets"], traffic_len());
}

#[test]
fn out_writes_passed_packets_with_verdict_comments() {
    let dir = scratch("out");
    let out_path = dir.join("passed.pcapng");
    let out = bpfx(&[
        "run",
        "tests/build/xdp_count.o",
        "--pcap",
        "examples/traffic.pcap",
        "--out",
        out_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let passes = stdout.lines().filter(|l| l.contains("\"action\":\"XDP_PASS\"")).count();
    assert!(!stdout.contains("\"data_out\""), "xdp_count changes no packet: no row carries data_out");
    let bytes = std::fs::read(&out_path).unwrap();
    let written = read_capture(&bytes).unwrap();
    assert_eq!(written.format, CaptureFormat::Pcapng);
    assert_eq!(written.frames.len(), passes);
    let bytes = std::fs::read(&out_path).unwrap();
    assert!(bytes.windows(8).any(|w| w == b"XDP_PASS"), "verdict comments");
}

#[test]
fn map_set_fills_entries_before_the_replay() {
    let out = bpfx(&[
        "run",
        "tests/build/xdp_count.o",
        "--pcap",
        "examples/traffic.pcap",
        "--map-set",
        "counts:ff000000:0500000000000000",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("  ff000000 = 0500000000000000\n"));
    let bad = bpfx(&["run", "tests/build/xdp_count.o", "--pcap", "examples/traffic.pcap", "--map-set", "nope:00:00"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn unreadable_captures_exit_2_naming_the_problem() {
    let dir = scratch("bad");
    let traffic = std::fs::read(format!("{ROOT}/examples/traffic.pcap")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("empty.pcap", Vec::new(), "the file is empty"),
        ("cut.pcap", traffic[..traffic.len() - 3].to_vec(), "cut off inside record"),
        ("text.pcap", b"not a capture at all".to_vec(), "not a pcap or pcapng capture"),
    ];
    for (name, bytes, message) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = bpfx(&["run", "tests/build/xdp_count.o", "--pcap", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sll = format!("{ROOT}/../shared/pcaps/tcp-handshake-nano.pcap");
    if std::path::Path::new(&sll).exists() {
        let out = bpfx(&["run", "tests/build/xdp_count.o", "--pcap", &sll]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("LINUX_SLL (113)"));
    } else {
        eprintln!("SKIPPED: {sll} is absent; the foreign link type case did not run");
    }
}

#[test]
fn refused_context_accesses_exit_1() {
    let out = bpfx(&[
        "run",
        "tests/build/ctx_fields.o",
        "-p",
        "tc_fields",
        "--type",
        "socket",
        "--pcap",
        "examples/traffic.pcap",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid bpf_context access"));
}

#[test]
fn engine_both_replays_on_the_interpreter_and_the_jit_and_compares_every_packet() {
    for (object, program) in [("tests/build/xdp_parse.o", "xdp_parse"), ("tests/build/ctx_fields.o", "tc_fields")] {
        let args = ["run", object, "-p", program, "--pcap", "examples/traffic.pcap", "--engine", "both"];
        let out = bpfx(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("\nengines: interp and jit differ on 0 packets; their maps are identical\n"), "{text}");
        let out = bpfx(&[&args[..], &["--json"]].concat());
        let last: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
        assert_eq!(last["summary"]["engines"], serde_json::json!({ "differing": 0, "maps_differ": false }));
        assert_eq!(last["summary"]["packets"], traffic_len());
    }
}

#[test]
fn repeat_runs_each_packet_n_times_on_the_same_buffer() {
    let once = bpfx(&["run", "tests/build/xdp_count.o", "--pcap", "examples/traffic.pcap", "--json"]);
    let four = bpfx(&["run", "tests/build/xdp_count.o", "--pcap", "examples/traffic.pcap", "--json", "--repeat", "4"]);
    assert_eq!((once.status.code(), four.status.code()), (Some(0), Some(0)));
    let lines = |out: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (once, four) = (lines(&once), lines(&four));
    // A little-endian u64 in hex.
    let count = |v: &serde_json::Value| {
        let hex = v["value"].as_str().unwrap();
        (0..8).rev().fold(0u64, |n, i| n << 8 | u64::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
    };
    let counts =
        |doc: &serde_json::Value| doc["maps"]["counts"].as_array().unwrap().iter().map(count).collect::<Vec<_>>();
    let (a, b) = (counts(once.last().unwrap()), counts(four.last().unwrap()));
    assert_eq!(b, a.iter().map(|n| n * 4).collect::<Vec<_>>(), "every run counts");
    assert!(four[0]["ns_per_run"].as_u64().is_some() && once[0].get("ns_per_run").is_none(), "{}", four[0]);
}

/// The per-packet rows of a `--json` replay, without the timing fields.
fn rows(out: &Output) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    rows.pop();
    for row in &mut rows {
        row.as_object_mut().unwrap().retain(|k, _| !k.starts_with("ns"));
    }
    rows
}

#[test]
fn the_jit_drops_the_checks_the_verifier_proved_and_gives_the_same_results() {
    for (object, program) in [("tests/build/xdp_parse.o", "xdp_parse"), ("tests/build/ctx_fields.o", "tc_fields")] {
        let run = |extra: &[&str]| {
            let args = [&["run", object, "-p", program, "--pcap", "examples/traffic.pcap", "--json"][..], extra];
            let out = bpfx(&args.concat());
            assert_eq!(out.status.code(), Some(0), "{object} {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
            out
        };
        let (proven, checked, interp) =
            (run(&["--engine", "jit"]), run(&["--engine", "jit", "--check-all"]), run(&["--engine", "interp"]));
        let summary = |out: &Output| -> serde_json::Value {
            let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
            serde_json::from_str::<serde_json::Value>(&last).unwrap()["summary"].clone()
        };
        assert!(summary(&proven)["proven_accesses"].as_u64().is_some_and(|n| n > 0), "{}", summary(&proven));
        assert!(summary(&checked).get("proven_accesses").is_none(), "--check-all gives the engine no facts");
        assert_eq!(rows(&proven), rows(&checked), "{object}: unchecked and checked runs differ");
        assert_eq!(rows(&proven), rows(&interp), "{object}: the JIT and the interpreter differ");
    }
}

#[test]
fn a_program_the_verifier_rejects_runs_with_every_access_checked() {
    // xdp_reject reads byte 23 without proving the packet that long: on a
    // 20-byte frame that read is out of bounds, and must fault cleanly on
    // the JIT as on the interpreter rather than read past the packet.
    let dir = scratch("rejected");
    let short =
        bpfx_runtime::replay::Frame { timestamp: Default::default(), orig_len: 20, data: vec![0xaa; 20].into() };
    let pcap = dir.join("short.pcap");
    let mut bytes = Vec::new();
    bpfx_runtime::replay::write_capture(&mut bytes, CaptureFormat::Pcap, &[(short, String::new())]).unwrap();
    std::fs::write(&pcap, bytes).unwrap();
    for engine in ["jit", "interp"] {
        let out =
            bpfx(&["run", "tests/build/xdp_reject.o", "--pcap", pcap.to_str().unwrap(), "--engine", engine, "--json"]);
        assert_eq!(out.status.code(), Some(1), "{engine}: a faulting run exits 1");
        let lines: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let fault = &lines[0]["fault"];
        let message = fault["message"].as_str().unwrap_or_else(|| panic!("{engine}: {}", lines[0]));
        assert!(message.contains("packet") && message.contains("23"), "{engine}: {message}");
        assert!(fault["at"].is_u64(), "{engine}: the fault names its instruction: {fault}");
        assert!(lines[1]["summary"].get("proven_accesses").is_none(), "{engine}: {}", lines[1]);
    }
}
