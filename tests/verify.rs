//! End-to-end tests of `bpfx verify`: verdicts and exit codes, the text
//! diagnostic, JSON and SARIF 2.1.0 output (located at the C source line
//! the diagnostic names), program selection and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verify").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bpfx(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfx")).args(args).current_dir(dir).output().expect("bpfx runs")
}

fn stdout(out: &Output, code: i32) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(code), "stdout: {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    text
}

fn corpus(name: &str) -> String {
    format!("{}/verifier/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Builds a C corpus program into `dir`, or says why it cannot.
fn build_c(dir: &Path, name: &str) -> Option<PathBuf> {
    let obj = dir.join(name.replace(".c", ".o"));
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-I", &multiarch, "-c", &corpus(name), "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => Some(obj),
        _ => {
            eprintln!("verify: skipped, clang-19 cannot build {name} here");
            None
        }
    }
}

#[test]
fn an_accepted_program_exits_0() {
    let dir = scratch("accepted");
    let out = bpfx(&dir, &["verify", &corpus("xdp_pkt_checked.s"), "--type", "xdp"]);
    let text = stdout(&out, 0);
    assert!(text.starts_with("xdp_pkt_checked: accepted (processed "), "{text}");
}

#[test]
fn a_rejected_program_exits_1_with_the_instruction_state_path_and_fix() {
    let dir = scratch("rejected");
    let out = bpfx(&dir, &["verify", &corpus("xdp_pkt_off_by_one.s"), "--type", "xdp"]);
    let text = stdout(&out, 1);
    assert!(text.contains("error[pkt-bounds]: invalid access to packet, off=12 size=4"), "{text}");
    assert!(text.contains("--> insn 5: r0 = *(u32 *)(r2 + 0xc)"), "{text}");
    assert!(text.contains("state: R1=ctx R2=pkt(r=14)"), "{text}");
    assert!(text.contains("path: 4:not taken"), "{text}");
    assert!(text.contains("help: packet read of 4 bytes at offset 12 is not proven below data_end"), "{text}");
}

#[test]
fn the_program_type_decides_the_verdict_of_assembly() {
    let dir = scratch("type");
    // A socket filter may not read xdp_md.data as a packet pointer.
    let out = bpfx(&dir, &["verify", &corpus("xdp_pkt_checked.s"), "--type", "socket_filter"]);
    stdout(&out, 1);
    let out = bpfx(&dir, &["verify", &corpus("xdp_pkt_checked.s"), "--type", "no_such_type"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_holds_the_verdict_diagnostic_and_stats() {
    let dir = scratch("json");
    let out = bpfx(&dir, &["verify", &corpus("xdp_ptr_alu32.s"), "--type", "xdp", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out, 1)).expect("one JSON document");
    let prog = &doc["programs"][0];
    assert_eq!(prog["verdict"], "rejected");
    assert_eq!(prog["diagnostics"][0]["code"], "ptr-arith");
    assert!(prog["stats"]["processed_insns"].as_u64().unwrap() > 0);
}

#[test]
fn sarif_points_at_the_c_source_line() {
    let dir = scratch("sarif");
    let Some(obj) = build_c(&dir, "c_map_no_null_check.c") else { return };
    let source = std::fs::read_to_string(corpus("c_map_no_null_check.c")).unwrap();
    let line = source.lines().position(|l| l.contains("// error:")).unwrap() + 1;
    let out = bpfx(&dir, &["verify", obj.to_str().unwrap(), "--format", "sarif"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out, 1)).expect("one JSON document");
    assert_eq!(doc["version"], "2.1.0");
    let result = &doc["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "null-deref");
    let location = &result["locations"][0]["physicalLocation"];
    assert!(location["artifactLocation"]["uri"].as_str().unwrap().ends_with("c_map_no_null_check.c"));
    assert_eq!(location["region"]["startLine"], line as u64);

    let text = stdout(&bpfx(&dir, &["verify", obj.to_str().unwrap()]), 1);
    assert!(text.contains(&format!("c_map_no_null_check.c:{line}:")), "{text}");
    assert!(text.contains("*v += 1;"), "{text}");
}

#[test]
fn programs_are_selected_by_name_and_unknown_names_are_bad_input() {
    let dir = scratch("select");
    let Some(obj) = build_c(&dir, "c_map_counter.c") else { return };
    let obj = obj.to_str().unwrap();
    let text = stdout(&bpfx(&dir, &["verify", obj, "-p", "map_counter"]), 0);
    assert!(text.starts_with("map_counter: accepted"), "{text}");
    let out = bpfx(&dir, &["verify", obj, "-p", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such program; the object has map_counter (socket)"));
}

#[test]
fn unreadable_input_exits_2() {
    let dir = scratch("missing");
    let out = bpfx(&dir, &["verify", "missing.o"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
