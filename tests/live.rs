//! End-to-end tests of `--live` on `bpfx verify` and `bpfx run --pcap`:
//! the kernel's verdict and results beside bpfx's, differences reported
//! with the packet index and both values, rejections shown at the C source
//! line, and the message when the kernel cannot be reached. They need
//! root and bpf(2), as CI has; without them they fail saying so.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The line of `tests/progs/xdp_reject.c` with the unchecked packet read.
fn reject_line() -> usize {
    let source = std::fs::read_to_string(format!("{ROOT}/tests/progs/xdp_reject.c")).expect("reads xdp_reject.c");
    1 + source.lines().position(|l| l.contains("return data[23]")).expect("the unchecked read")
}

fn build_progs() {
    let status = Command::new(format!("{ROOT}/tests/build-progs.sh")).status().expect("runs tests/build-progs.sh");
    assert!(status.success(), "tests/build-progs.sh failed");
}

fn command(args: &[&str]) -> Command {
    build_progs();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bpfx"));
    cmd.args(args).current_dir(ROOT);
    cmd
}

fn bpfx(args: &[&str]) -> Output {
    let out = command(args).output().expect("bpfx runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("needs root") && !stderr.contains("CAP_BPF"),
        "--live cannot reach the kernel here (these tests need root and bpf(2)): {stderr}"
    );
    out
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn live_replays_of_the_packet_programs_match_the_kernel() {
    for (object, program) in [
        ("tests/build/xdp_count.o", "xdp_count"),
        ("tests/build/xdp_parse.o", "xdp_parse"),
        ("tests/build/tc_rewrite.o", "tc_rewrite"),
        ("tests/build/socket_filter.o", "socket_filter"),
        ("tests/build/ctx_fields.o", "tc_fields"),
        ("tests/build/global_data.o", "xdp_global"),
        ("tests/build/calls.o", "xdp_calls"),
        ("tests/build/calls.o", "xdp_callbacks"),
        ("tests/build/loop_cb.o", "xdp_loop"),
        ("tests/build/btf_maps.o", "xdp_maps_all"),
    ] {
        for engine in ["interp", "jit"] {
            let out = bpfx(&[
                "run",
                object,
                "-p",
                program,
                "--pcap",
                "examples/traffic.pcap",
                "--live",
                "--json",
                "--engine",
                engine,
            ]);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(0), "{program} on {engine}: {stdout}\n{stderr}");
            let lines = json_lines(&out);
            let (rows, last) = lines.split_at(lines.len() - 1);
            for row in rows {
                let kernel = &row["kernel"];
                assert!(kernel.is_object(), "{program}: every row carries the kernel's: {row}");
                assert_eq!(kernel["retval"], row["retval"], "{program}: {row}");
                assert!(row.get("differences").is_none(), "{program}: {row}");
            }
            let live = &last[0]["summary"]["live"];
            assert_eq!(live["compared"], rows.len(), "{program}: {live}");
            assert_eq!((&live["differing"], &live["map_differences"]), (&0.into(), &Value::Array(vec![])), "{live}");
            let skipped: Vec<&Value> = live["maps_not_compared"].as_array().unwrap().iter().collect();
            let names = |v: &Value| -> Vec<String> {
                v.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| !skipped.contains(&&Value::from(k.as_str())))
                    .cloned()
                    .collect()
            };
            assert_eq!(
                names(&last[0]["kernel_maps"]),
                names(&last[0]["maps"]),
                "{program}: the kernel's maps are listed"
            );
            let unlistable = if program == "xdp_maps_all" { 3 } else { 0 };
            assert_eq!(skipped.len(), unlistable, "{program}: queue, stack and bloom filter only: {live}");
        }
    }
}

#[test]
fn a_difference_is_reported_with_its_packet_index_and_both_values() {
    let out = bpfx(&["run", "tests/build/xdp_clock.o", "--pcap", "examples/traffic.pcap", "--live"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "a difference exits 1: {stdout}\n{stderr}");
    assert!(stderr.starts_with("packet 0: retval: bpfx 2 (XDP_PASS), kernel 1 (XDP_DROP)\n"), "{stderr}");
    assert!(stderr.contains("\npacket 27: retval: "), "every packet differs: {stderr}");
    assert!(stdout.contains("kernel: 28 packets through BPF_PROG_TEST_RUN, 0 identical, 28 differ\n"), "{stdout}");
    assert!(stdout.contains("kernel: map late key 00000000: bpfx 1c00000000000000, kernel absent\n"), "{stdout}");
    assert!(stdout.contains("kernel: map late key 01000000: bpfx absent, kernel 1c00000000000000\n"), "{stdout}");

    let out = bpfx(&["run", "tests/build/xdp_clock.o", "--pcap", "examples/traffic.pcap", "--live", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(
        lines[3]["differences"][0],
        serde_json::json!({ "what": "retval", "bpfx": "2 (XDP_PASS)", "kernel": "1 (XDP_DROP)" })
    );
    assert_eq!(lines[3]["kernel"]["action"], "XDP_DROP");
    assert_eq!(lines.last().unwrap()["summary"]["live"]["differing"], 28);
}

#[test]
fn verify_live_puts_the_kernels_verdict_and_statistics_beside_bpfx() {
    let out = bpfx(&["verify", "tests/build/xdp_count.o", "--live"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("xdp_count: bpfx accepted (processed "), "{stdout}");
    assert!(lines[1].starts_with("xdp_count: kernel accepted (processed "), "{stdout}");
    assert!(lines[1].contains(" states (peak ") && lines[1].ends_with(" ms)"), "{stdout}");

    let out = bpfx(&["verify", "tests/build/xdp_count.o", "--live", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let program = &doc["programs"][0];
    assert_eq!((&program["kernel"]["verdict"], &program["agree"]), (&"accepted".into(), &true.into()), "{doc}");
    assert!(program["kernel"]["stats"]["processed_insns"].as_u64().is_some_and(|n| n > 0), "{doc}");
}

#[test]
fn verify_live_shows_a_kernel_rejection_at_the_source_line() {
    let out = bpfx(&["verify", "tests/build/xdp_reject.o", "--live"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("xdp_unchecked: kernel rejected ("), "{stdout}");
    assert!(!stdout.contains("disagree"), "both reject it: {stdout}");
    assert!(stdout.contains("xdp_unchecked: the kernel rejected it (EACCES) at insn "), "{stdout}");
    assert!(stdout.contains("invalid access to packet"), "{stdout}");
    assert!(stdout.contains(&format!("xdp_reject.c:{}:", reject_line())), "the source line of the read: {stdout}");
    assert!(stdout.contains("| return data[23] == 1 ? XDP_DROP : XDP_PASS;"), "{stdout}");
    assert!(stdout.contains("kernel log:\n"), "{stdout}");
    assert!(stdout.contains("  ; return data[23] == 1 ? XDP_DROP : XDP_PASS; @ "), "the log is annotated: {stdout}");

    let out = bpfx(&["verify", "tests/build/xdp_reject.o", "--live", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kernel = &doc["programs"][0]["kernel"];
    assert_eq!((&kernel["verdict"], &kernel["errno_name"]), (&"rejected".into(), &"EACCES".into()), "{doc}");
    assert_eq!(kernel["source"]["line"], reject_line(), "{doc}");
    assert_eq!(doc["programs"][0]["agree"], true);

    let out = bpfx(&["verify", "tests/build/xdp_reject.o", "--live", "--format", "sarif"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let kernel = results.iter().find(|r| r["ruleId"] == "kernel-rejected").expect("a kernel result");
    assert_eq!(kernel["locations"][0]["physicalLocation"]["region"]["startLine"], reject_line());
}

#[test]
fn live_replay_of_a_program_the_kernel_rejects_shows_why() {
    let out = bpfx(&["run", "tests/build/xdp_reject.o", "--pcap", "examples/traffic.pcap", "--live"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("xdp_unchecked: the kernel rejected it (EACCES)"), "{stderr}");
    assert!(stdout.is_empty(), "no replay: {stdout}");
}

#[test]
fn without_privileges_live_says_what_it_needs_and_exits_2() {
    for args in [
        &["verify", "tests/build/xdp_count.o", "--live"][..],
        &["run", "tests/build/xdp_count.o", "--pcap", "examples/traffic.pcap", "--live"][..],
    ] {
        // uid 65534 (nobody), no capabilities.
        let out = command(args).uid(65534).gid(65534).output().expect("bpfx runs as nobody");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains("--live: loading `xdp_count` into the kernel"), "{stderr}");
        assert!(stderr.contains("EPERM") && stderr.contains("root"), "{stderr}");
    }
}

#[test]
fn repeated_runs_accumulate_as_in_the_kernel() {
    // Fields, maps, a packet rewritten once and then left (tc_rewrite's
    // later runs take its early return) and metadata grown by every run
    // until the kernel's 32 bytes refuse more (xdp_fields'
    // bpf_xdp_adjust_meta of 8 bytes, six runs).
    for (object, program) in [
        ("tests/build/ctx_fields.o", "tc_fields"),
        ("tests/build/xdp_count.o", "xdp_count"),
        ("tests/build/tc_rewrite.o", "tc_rewrite"),
        ("tests/build/ctx_fields.o", "xdp_fields"),
    ] {
        let args =
            ["run", object, "-p", program, "--pcap", "examples/traffic.pcap", "--live", "--json", "--repeat", "6"];
        let out = bpfx(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{program}: {stdout}\n{stderr}");
        let lines = json_lines(&out);
        let (rows, last) = lines.split_at(lines.len() - 1);
        assert!(rows.iter().all(|r| r["ns_per_run"].as_u64().is_some() && r["kernel"]["ns"].is_u64()), "{rows:?}");
        assert_eq!(last[0]["summary"]["live"]["differing"], 0, "{}", last[0]);
    }
}

#[test]
fn live_and_unprivileged_together_are_refused_with_the_reason() {
    let out = bpfx(&["verify", "tests/build/xdp_count.o", "--live", "--unprivileged"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--unprivileged is offline only"), "{stderr}");
}

/// Every program of every test object, judged by bpfx and by the kernel
/// through `bpfx verify --live`: they agree, or bpfx says what it does not
/// model yet ("unsupported") — it never accepts what the kernel rejects.
#[test]
fn verify_live_agrees_with_the_kernel_on_every_test_program() {
    build_progs();
    let dir = std::path::Path::new(ROOT).join("tests/build");
    let mut objects: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/build")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "o") && !p.to_string_lossy().contains("bpfeb"))
        .collect();
    objects.sort();
    let (mut agree, mut unsupported) = (0, Vec::new());
    for object in &objects {
        let out = bpfx(&["verify", &object.to_string_lossy(), "--live", "--format", "json"]);
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", object.display(), String::from_utf8_lossy(&out.stderr)));
        for p in doc["programs"].as_array().unwrap() {
            let name = format!("{}:{}", object.file_name().unwrap().to_string_lossy(), p["program"].as_str().unwrap());
            if p["agree"] == true {
                agree += 1;
                continue;
            }
            let codes: Vec<&str> =
                p["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
            assert_eq!(p["verdict"], "rejected", "{name}: bpfx accepts what the kernel rejects: {p}");
            assert_eq!(codes, ["unsupported"], "{name}: bpfx rejects what the kernel accepts: {p}");
            unsupported.push(name);
        }
    }
    eprintln!(
        "{agree} programs: same verdict as the kernel; unsupported by bpfx (the kernel accepts): {unsupported:?}"
    );
    assert!(agree > 0);
}
