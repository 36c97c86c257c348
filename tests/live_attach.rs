//! End-to-end tests of `bpfx load --live --attach` and `bpfx detach` on
//! real interfaces: a veth pair between two network namespaces the test
//! creates (removed when it ends, also on failure), so traffic never
//! leaves them. The drop-ICMP XDP program (`xdp_parse`) attached on one
//! end stops ping while TCP and UDP get through; detaching restores ping.
//! Every test checks the kernel holds no more of the test programs'
//! programs, maps or links afterwards than before (the kernel's id
//! iterators, by name: other processes may use the kernel meanwhile). They need root, as
//! CI has; without it they fail saying so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bpfx_loader::kernel::{Bpf, ObjKind};
use bpfx_loader::{LoadOptions, Object};
use bpfx_testkit::netns::{Side, VethPair};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The line of `tests/progs/xdp_reject.c` with the unchecked packet read.
fn reject_line() -> usize {
    let source = std::fs::read_to_string(format!("{ROOT}/tests/progs/xdp_reject.c")).expect("reads xdp_reject.c");
    1 + source.lines().position(|l| l.contains("return data[23]")).expect("the unchecked read")
}

/// The kernel's object counts are global: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn build_progs() {
    let status = Command::new(format!("{ROOT}/tests/build-progs.sh")).status().expect("runs tests/build-progs.sh");
    assert!(status.success(), "tests/build-progs.sh failed");
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bpfx"));
    cmd.args(args).current_dir(ROOT);
    cmd
}

/// `bpfx args...` run from inside the namespace of `side` (network
/// namespace only: bpffs stays the host's).
fn bpfx_in(pair: &VethPair, side: Side, args: &[&str]) -> Output {
    pair.in_ns(side, || command(args).output().expect("bpfx runs"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The objects these tests load: the programs and maps of the test
/// programs they use, by the names the kernel keeps (other processes may
/// use the kernel at the same time, so only ours are counted).
fn ours() -> (Vec<String>, Vec<String>) {
    let (mut progs, mut maps) = (Vec::new(), Vec::new());
    for name in ["xdp_parse", "xdp_count", "tc_rewrite", "xdp_reject", "legacy_maps"] {
        let bytes = std::fs::read(format!("{ROOT}/tests/build/{name}.o")).expect("reads a test object");
        let object = Object::load(&bytes, &LoadOptions::default()).expect("loads a test object");
        progs.extend(object.programs().iter().map(|p| p.name.chars().take(15).collect::<String>()));
        maps.extend(object.maps().iter().map(|m| m.name.chars().take(15).collect::<String>()));
    }
    (progs, maps)
}

/// The ids of our programs, maps and links (a link by its program) in the
/// kernel.
fn objects() -> [Vec<u32>; 3] {
    let bpf = Bpf::new();
    let ids = |kind| {
        bpf.ids(kind).unwrap_or_else(|e| panic!("these tests need root and bpf(2); listing kernel objects failed: {e}"))
    };
    let (prog_names, map_names) = ours();
    let prog_name =
        |id| bpf.open_by_id(ObjKind::Prog, id).and_then(|fd| bpf.prog_info(fd.as_fd())).ok().map(|i| i.name);
    let map_name = |id| bpf.open_by_id(ObjKind::Map, id).and_then(|fd| bpf.map_info(fd.as_fd())).ok().map(|i| i.name);
    let link_prog =
        |id| bpf.open_by_id(ObjKind::Link, id).and_then(|fd| bpf.link_info(fd.as_fd())).ok().map(|i| i.prog_id);
    let progs: Vec<u32> =
        ids(ObjKind::Prog).into_iter().filter(|&id| prog_name(id).is_some_and(|n| prog_names.contains(&n))).collect();
    let maps =
        ids(ObjKind::Map).into_iter().filter(|&id| map_name(id).is_some_and(|n| map_names.contains(&n))).collect();
    let links =
        ids(ObjKind::Link).into_iter().filter(|&id| link_prog(id).is_some_and(|p| progs.contains(&p))).collect();
    [progs, maps, links]
}

/// Runs `test` with a fresh veth pair and asserts that the kernel holds
/// the same objects afterwards (freeing is deferred in the kernel: give it
/// a moment).
fn with_pair(tag: &str, test: impl FnOnce(&VethPair)) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    build_progs();
    let before = objects();
    {
        let pair = VethPair::new(tag).expect("creates the namespaces and veth pair (needs root and iproute2)");
        test(&pair);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = objects();
    while after != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        after = objects();
    }
    assert_eq!(after, before, "kernel objects leaked (programs, maps, links)");
}

/// Whether a TCP connection from `a` to `b` carries a message across.
fn tcp_works(pair: &VethPair) -> bool {
    let to = SocketAddr::from((pair.addr(Side::B), 7777));
    let listener = pair.in_ns(Side::B, || TcpListener::bind(to).expect("binds in b"));
    let client = pair.in_ns(Side::A, || TcpStream::connect_timeout(&to, Duration::from_secs(2)));
    let Ok(mut client) = client else { return false };
    let (mut server, _) = listener.accept().expect("accepts");
    client.write_all(b"hello").expect("writes");
    server.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut got = [0u8; 5];
    server.read_exact(&mut got).is_ok() && &got == b"hello"
}

/// Whether a UDP datagram from `a` reaches `b`.
fn udp_works(pair: &VethPair) -> bool {
    let to = SocketAddr::from((pair.addr(Side::B), 7778));
    let server = pair.in_ns(Side::B, || UdpSocket::bind(to).expect("binds in b"));
    server.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let client = pair.in_ns(Side::A, || UdpSocket::bind((pair.addr(Side::A), 0)).expect("binds in a"));
    client.send_to(b"ping", to).expect("sends");
    let mut got = [0u8; 4];
    server.recv_from(&mut got).is_ok_and(|(n, _)| &got[..n] == b"ping")
}

#[test]
fn drop_icmp_xdp_stops_ping_lets_tcp_and_udp_through_and_detach_restores_ping() {
    with_pair("xdp", |pair| {
        assert!(pair.ping(Side::A, 2).unwrap(), "ping works before anything is attached");
        let out = bpfx_in(pair, Side::B, &["load", "tests/build/xdp_parse.o", "--live", "--attach", "xdp:veth-b"]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.starts_with("xdp_parse: loaded, prog id "), "{shown}");
        assert!(shown.contains("\nattached: xdp auto on `veth-b` (ifindex "), "{shown}");
        assert!(shown.contains("\npinned: /sys/fs/bpf/bpfx/xdp_parse/link\n"), "{shown}");

        assert!(!pair.ping(Side::A, 3).unwrap(), "the program drops ICMP");
        assert!(tcp_works(pair), "TCP gets through");
        assert!(udp_works(pair), "UDP gets through");

        let out = bpfx_in(pair, Side::B, &["detach", "xdp:veth-b"]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.starts_with("detached: link "), "{shown}");
        assert!(shown.contains("unpinned: /sys/fs/bpf/bpfx/xdp_parse/prog\n"), "{shown}");
        assert!(!Path::new("/sys/fs/bpf/bpfx/xdp_parse").exists(), "detach removes the pins");
        assert!(pair.ping(Side::A, 2).unwrap(), "ping works again after detach");
    });
}

#[test]
fn tc_programs_attach_pin_where_told_and_detach_by_pin() {
    let dir = format!("/sys/fs/bpf/bpfx-test-{}", std::process::id());
    with_pair("tc", |pair| {
        let args = ["load", "tests/build/tc_rewrite.o", "--live", "--attach", "tc:veth-b:ingress", "--pin", &dir];
        let out = bpfx_in(pair, Side::B, &args);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.contains("\nattached: tc ingress on `veth-b` (ifindex "), "{shown}");
        assert!(Path::new(&dir).join("link").exists() && Path::new(&dir).join("prog").exists(), "{shown}");
        assert!(pair.ping(Side::A, 2).unwrap(), "tc_rewrite passes traffic");

        let out = bpfx_in(pair, Side::B, &["detach", "--pin", &dir]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.starts_with("detached: link "), "{shown}");
        assert!(!Path::new(&dir).exists(), "{shown}");
        let out = bpfx_in(pair, Side::B, &["detach", "tc:veth-b:ingress"]);
        assert_eq!(out.status.code(), Some(2), "nothing is left to detach: {}", text(&out));
        assert!(text(&out).contains("nothing is attached at tc ingress on `veth-b`"), "{}", text(&out));
    });
}

#[test]
fn a_missing_interface_is_named_and_nothing_is_loaded() {
    with_pair("noif", |pair| {
        let out = bpfx_in(pair, Side::B, &["load", "tests/build/xdp_parse.o", "--live", "--attach", "xdp:nope0"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("no network interface `nope0`"), "{}", text(&out));
    });
}

#[test]
fn a_busy_hook_is_explained_and_the_second_load_leaves_nothing() {
    with_pair("busy", |pair| {
        let first = bpfx_in(pair, Side::B, &["load", "tests/build/xdp_count.o", "--live", "--attach", "xdp:veth-b"]);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let after_first = objects();
        let second = bpfx_in(pair, Side::B, &["load", "tests/build/xdp_parse.o", "--live", "--attach", "xdp:veth-b"]);
        let shown = text(&second);
        assert_eq!(second.status.code(), Some(2), "{shown}");
        assert!(shown.contains("is taken: prog ") && shown.contains("`xdp_count`"), "names the holder: {shown}");
        assert!(!Path::new("/sys/fs/bpf/bpfx/xdp_parse").exists(), "no pins of the failed load");
        let deadline = Instant::now() + Duration::from_secs(5);
        while objects() != after_first && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(objects(), after_first, "the failed load left nothing");
        let out = bpfx_in(pair, Side::B, &["detach", "xdp:veth-b"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    });
}

#[test]
fn a_pin_that_fails_part_way_undoes_the_attachment() {
    let dir = format!("/sys/fs/bpf/bpfx-taken-{}", std::process::id());
    std::fs::create_dir_all(&dir).expect("a pin directory already there");
    with_pair("pin", |pair| {
        let args = ["load", "tests/build/xdp_parse.o", "--live", "--attach", "xdp:veth-b", "--pin", &dir];
        let out = bpfx_in(pair, Side::B, &args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(&format!("{dir} exists")), "{}", text(&out));
        assert!(pair.ping(Side::A, 2).unwrap(), "nothing stays attached");
    });
    std::fs::remove_dir(&dir).expect("the directory is left as it was");
}

#[test]
fn a_kernel_rejection_shows_the_source_line_and_exits_1() {
    with_pair("reject", |pair| {
        let out = bpfx_in(pair, Side::B, &["load", "tests/build/xdp_reject.o", "--live", "--attach", "xdp:veth-b"]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(shown.contains("the kernel rejected it (EACCES) at insn "), "{shown}");
        assert!(shown.contains(&format!("xdp_reject.c:{}:", reject_line())), "{shown}");
        assert!(pair.ping(Side::A, 1).unwrap(), "nothing attached");
    });
}

#[test]
fn without_root_load_says_what_it_needs() {
    build_progs();
    let out = command(&["load", "tests/build/xdp_count.o", "--live"]).uid(65534).gid(65534).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("EPERM") && text(&out).contains("root"), "{}", text(&out));
}

#[test]
fn load_needs_live_to_go_into_the_kernel() {
    let out = command(&["load", "tests/build/xdp_count.o"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--live"), "{}", text(&out));
}

#[test]
fn load_writes_map_entries_pins_without_attaching_and_reports_ids_as_json() {
    let dir = format!("/sys/fs/bpf/bpfx-mapset-{}", std::process::id());
    with_pair("mapset", |pair| {
        let args = [
            "load",
            "tests/build/xdp_count.o",
            "--live",
            "--pin",
            &dir,
            "--map-set",
            "counts:11000000:2a00000000000000",
            "--json",
        ];
        let out = bpfx_in(pair, Side::B, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert_eq!(doc["program"]["name"], "xdp_count");
        assert!(doc["program"]["id"].as_u64().is_some_and(|id| objects()[0].contains(&(id as u32))), "{doc}");
        assert_eq!(doc["attached"], serde_json::Value::Null);
        assert_eq!(doc["pinned"], serde_json::json!([format!("{dir}/prog"), format!("{dir}/maps/counts")]));

        // A later process finds the map by its pin, with the entry written.
        let bpf = Bpf::new();
        let map = bpf.open_map(bpf.get_pinned(Path::new(&format!("{dir}/maps/counts"))).unwrap()).unwrap();
        assert_eq!(map.lookup(&[0x11, 0, 0, 0]).unwrap(), Some(vec![0x2a, 0, 0, 0, 0, 0, 0, 0]));
        drop(map);

        let out = bpfx_in(pair, Side::B, &["detach", "--pin", &dir]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(!Path::new(&dir).exists());
    });
}

#[test]
fn maps_pinned_by_name_are_shared_between_loads_and_outlive_detach() {
    let root = format!("/sys/fs/bpf/bpfx-byname-{}", std::process::id());
    let dir = format!("/sys/fs/bpf/bpfx-byname-prog-{}", std::process::id());
    let pinned = format!("{root}/pinned_totals");
    with_pair("byname", |pair| {
        let load = |root: &str, extra: &[&str]| {
            let args = [&["load", "tests/build/legacy_maps.o", "--live", "--pin-root", root, "--json"][..], extra];
            bpfx_in(pair, Side::B, &args.concat())
        };
        let doc = |out: &Output| -> serde_json::Value {
            assert_eq!(out.status.code(), Some(0), "{}", text(out));
            serde_json::from_slice(&out.stdout).expect("one JSON document")
        };
        let map_id = |doc: &serde_json::Value| {
            doc["maps"].as_array().unwrap().iter().find(|m| m["name"] == "pinned_totals").unwrap()["id"].clone()
        };
        let first = doc(&load(&root, &["--pin", &dir, "--map-set", "pinned_totals:01000000:0500000000000000"]));
        assert!(first["pinned"].as_array().unwrap().contains(&pinned.clone().into()), "{first}");
        assert_eq!(first["reused_pins"], serde_json::json!([]));
        let out = bpfx_in(pair, Side::B, &["detach", "--pin", &dir]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(Path::new(&pinned).exists(), "a map pinned by name outlives the program's detach");

        let second = doc(&load(&root, &[]));
        assert_eq!(second["reused_pins"], serde_json::json!([pinned]), "{second}");
        assert_eq!(map_id(&second), map_id(&first), "the second load shares the pinned map");
        let bpf = Bpf::new();
        let map = bpf.open_map(bpf.get_pinned(Path::new(&pinned)).unwrap()).unwrap();
        assert_eq!(map.lookup(&[1, 0, 0, 0]).unwrap(), Some(vec![5, 0, 0, 0, 0, 0, 0, 0]), "contents kept");
        drop(map);

        // A failure after the load takes the pins it made with it.
        let fresh = format!("{root}-failed");
        let out = load(&fresh, &["--map-set", "no_such_map:00:00"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(!Path::new(&format!("{fresh}/pinned_totals")).exists(), "{}", text(&out));

        std::fs::remove_file(&pinned).expect("unpins the shared map");
        for d in [&root, &fresh] {
            let _ = std::fs::remove_dir(d);
        }
    });
}
