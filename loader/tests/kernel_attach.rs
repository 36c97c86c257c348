//! Attaching and detaching against the running kernel, on a veth pair
//! between two network namespaces (testkit's [`VethPair`]): XDP in generic
//! and native mode, tcx on both sides, the netlink (cls_bpf) path, links
//! pinned and detached by a later handle, and the errors a user meets.
//! Traffic is `ping` from one namespace to the other; what the programs
//! see is read from their counter maps, and what is attached is also asked
//! of `ip` and `tc`. Each test checks at its end that its programs, maps
//! and links are gone from the kernel.
//!
//! These tests need root (bpf(2), network namespaces, mounting bpffs) and
//! iproute2; where they are missing the tests fail saying so.

#![cfg(target_os = "linux")]

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{MapSpec, Program, assemble};
use bpfx_loader::kernel::*;
use bpfx_testkit::netns::{Side, VethPair};

#[path = "support/bpffs.rs"]
mod bpffs;
use bpffs::Bpffs;

/// The kernel, or a failure saying why it cannot be reached.
fn bpf() -> Bpf {
    let bpf = Bpf::new();
    if let Err(e) = bpf.ids(ObjKind::Link) {
        panic!("the kernel is unavailable to these tests ({e}); they need bpf(2) as root");
    }
    bpf
}

const XDP_PASS: i32 = 2;
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;
/// `TCX_NEXT` (`TC_ACT_UNSPEC`): a tcx program's "go on"; `TC_ACT_OK`
/// would end the tc layer there, before any cls_bpf filter.
const TCX_NEXT: i32 = -1;

/// A program that counts the packets it sees in its map's slot 0, then
/// returns `verdict`.
fn counter(name: &str, prog_type: ProgType, verdict: i32) -> Program {
    let source = format!(
        "*(u32 *)(r10 - 4) = 0\n\
         r2 = r10\n\
         r2 += -4\n\
         ld_pseudo r1, 1, 0\n\
         call 1\n\
         if r0 == 0 goto out\n\
         r1 = *(u64 *)(r0 + 0)\n\
         r1 += 1\n\
         *(u64 *)(r0 + 0) = r1\n\
         out:\n\
         r0 = {verdict}\n\
         exit"
    );
    let mut p = Program::new(name, prog_type, assemble(&source).unwrap());
    p.maps = vec![MapSpec {
        name: format!("{name}_n"),
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..MapSpec::default()
    }];
    p
}

/// A loaded counter: the program, its map, and the ids to check for leaks.
struct Counter {
    prog: Prog,
    map: Map,
}

impl Counter {
    fn load(bpf: &Bpf, program: &Program) -> Counter {
        let (prog, mut maps) = bpf.load(program, &ProgLoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        Counter { prog, map: maps.remove(0) }
    }

    fn count(&self) -> u64 {
        let value = self.map.lookup(&0u32.to_ne_bytes()).unwrap().expect("an array has slot 0");
        u64::from_ne_bytes(value.try_into().unwrap())
    }

    fn ids(&self) -> Objects {
        Objects { progs: vec![self.prog.info().unwrap().id], maps: vec![self.map.info().unwrap().id], links: vec![] }
    }
}

/// Kernel objects a test made, which must be gone when it ends.
#[derive(Default)]
struct Objects {
    progs: Vec<u32>,
    maps: Vec<u32>,
    links: Vec<u32>,
}

impl Objects {
    /// Waits until none of the objects is listed by the kernel's id
    /// iterators (programs and maps are freed after an RCU grace period).
    fn assert_gone(&self, bpf: &Bpf) {
        let start = Instant::now();
        loop {
            let left: Vec<String> =
                [(ObjKind::Prog, &self.progs), (ObjKind::Map, &self.maps), (ObjKind::Link, &self.links)]
                    .into_iter()
                    .flat_map(|(kind, ids)| {
                        let live = bpf.ids(kind).unwrap();
                        ids.iter().filter(move |id| live.contains(id)).map(move |id| format!("{kind:?} {id}"))
                    })
                    .collect();
            if left.is_empty() {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "still in the kernel after 10 s: {left:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `program args...` inside the namespace of `side`, which must succeed.
fn run(pair: &VethPair, side: Side, program: &str, args: &[&str]) -> String {
    let out = pair.exec(side, program, args).unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn link_of(attachment: Attachment) -> Link {
    match attachment {
        Attachment::Link(link) => link,
        other => panic!("expected a link, got {other:?}"),
    }
}

// ---- XDP ----

/// Attaches a counter in `mode` on `veth-a`, pings it from `b`, detaches
/// it, pings again: packets are counted only while it is attached, and
/// `ip` reports the program in the expected hook.
fn xdp_counts_while_attached(tag: &str, mode: XdpMode, ip_word: &str) {
    let bpf = bpf();
    let pair = VethPair::new(tag).unwrap();
    let counter = Counter::load(&bpf, &counter("xdp_count", ProgType::Xdp, XDP_PASS));
    let mut objects = counter.ids();
    let (link, ifindex) = pair.in_ns(Side::A, || {
        let point = AttachPoint::xdp("veth-a", mode).unwrap();
        (link_of(bpf.attach(&counter.prog, &point).unwrap()), point.ifindex())
    });
    objects.links.push(link.id());
    assert_eq!(link.info().target, LinkTarget::Xdp { ifindex });
    assert_eq!(link.info().prog_id, objects.progs[0]);
    let shown = run(&pair, Side::A, "ip", &["-d", "link", "show", "dev", "veth-a"]);
    let prog_id = objects.progs[0];
    assert!(shown.contains(&format!("{ip_word} ")) && shown.contains(&format!("id {prog_id}")), "{shown}");

    assert!(pair.ping(Side::B, 3).unwrap(), "the program passes everything");
    let seen = counter.count();
    assert!(seen >= 3, "3 echo requests crossed veth-a, the program counted {seen}");

    link.detach().unwrap();
    let shown = run(&pair, Side::A, "ip", &["-d", "link", "show", "dev", "veth-a"]);
    assert!(!shown.contains(&format!("id {prog_id}")), "still attached after detach: {shown}");
    assert!(pair.ping(Side::B, 2).unwrap());
    assert_eq!(counter.count(), seen, "a detached program counted packets");
    drop(counter);
    objects.assert_gone(&bpf);
}

#[test]
fn xdp_generic_counts_traffic_until_detached() {
    xdp_counts_while_attached("xdp-generic", XdpMode::Generic, "xdpgeneric");
}

#[test]
fn xdp_native_on_veth_counts_traffic_until_detached() {
    // `ip` shows a driver-mode program as `prog/xdp`.
    xdp_counts_while_attached("xdp-native", XdpMode::Native, "prog/xdp");
}

#[test]
fn native_xdp_on_a_driver_without_it_says_generic_works() {
    let bpf = bpf();
    let pair = VethPair::new("xdp-lo").unwrap();
    let counter = Counter::load(&bpf, &counter("xdp_lo", ProgType::Xdp, XDP_PASS));
    let objects = counter.ids();
    let err = pair.in_ns(Side::A, || {
        let point = AttachPoint::xdp("lo", XdpMode::Native).unwrap();
        bpf.attach(&counter.prog, &point).unwrap_err()
    });
    assert!(matches!(err, AttachError::NativeXdpUnsupported { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the driver of `lo` (ifindex 1) does not support native xdp; generic mode (xdp:lo:generic) works on any \
         interface"
    );
    drop(counter);
    objects.assert_gone(&bpf);
}

#[test]
fn a_second_xdp_program_is_refused_naming_the_first() {
    let bpf = bpf();
    let pair = VethPair::new("xdp-busy").unwrap();
    let first = Counter::load(&bpf, &counter("xdp_first", ProgType::Xdp, XDP_PASS));
    let second = Counter::load(&bpf, &counter("xdp_second", ProgType::Xdp, XDP_PASS));
    let mut objects = first.ids();
    let more = second.ids();
    objects.progs.extend(more.progs);
    objects.maps.extend(more.maps);
    pair.in_ns(Side::A, || {
        let generic = AttachPoint::xdp("veth-a", XdpMode::Generic).unwrap();
        let link = link_of(bpf.attach(&first.prog, &generic).unwrap());
        objects.links.push(link.id());
        let first_id = objects.progs[0];
        // The same hook (EBUSY), and the other mode (EEXIST: one mode at
        // a time): both say what holds the device.
        for mode in [XdpMode::Generic, XdpMode::Native] {
            let point = AttachPoint::xdp("veth-a", mode).unwrap();
            let err = bpf.attach(&second.prog, &point).unwrap_err();
            let AttachError::Busy { holder, .. } = &err else { panic!("{mode:?}: {err:?}") };
            assert_eq!(
                holder,
                &format!("prog {first_id} `xdp_first` in generic mode, attached by link {}", link.id()),
                "{mode:?}"
            );
            assert!(err.to_string().starts_with(&format!("xdp {} on `veth-a`", mode.name())), "{err}");
        }
        drop(link);
    });
    drop((first, second));
    objects.assert_gone(&bpf);
}

// ---- tc ----

/// What a tc attach made, once detached.
#[derive(Debug)]
enum Made {
    Link(LinkInfo),
    Filter(TcFilter),
}

/// A counting drop program at `direction` of `veth-a`, attached by
/// `backend`: pings from `b` fail while it is there (echo requests dropped
/// on the way in, replies on the way out), and pass once it is detached.
fn tc_drops_while_attached(bpf: &Bpf, tag: &str, direction: TcDirection, backend: TcBackend) -> Made {
    let pair = VethPair::new(tag).unwrap();
    assert!(pair.ping(Side::B, 1).unwrap(), "the pair does not work before any program");
    let counter = Counter::load(bpf, &counter("tc_drop", ProgType::SchedCls, TC_ACT_SHOT));
    let mut objects = counter.ids();
    let options = AttachOptions { tc: backend };
    let attachment = pair.in_ns(Side::A, || {
        let point = AttachPoint::tc("veth-a", direction).unwrap();
        bpf.attach_with(&counter.prog, &point, &options).unwrap()
    });
    assert!(!pair.ping(Side::B, 2).unwrap(), "ping got through a dropping program");
    assert!(counter.count() >= 2, "the program saw {} packets", counter.count());
    let made = match attachment {
        Attachment::Link(link) => {
            let info = link.info();
            objects.links.push(info.id);
            link.detach().unwrap();
            Made::Link(info)
        }
        Attachment::TcFilter(filter) => {
            let shown = run(&pair, Side::A, "tc", &["filter", "show", "dev", "veth-a", direction.name()]);
            assert!(shown.contains("tc_drop") && shown.contains("direct-action"), "{shown}");
            assert!(shown.contains(&format!("id {}", objects.progs[0])), "{shown}");
            let kept = filter.clone();
            pair.in_ns(Side::A, || filter.detach()).unwrap();
            let shown = run(&pair, Side::A, "tc", &["filter", "show", "dev", "veth-a", direction.name()]);
            assert!(!shown.contains("tc_drop"), "the filter survived: {shown}");
            Made::Filter(kept)
        }
    };
    let seen = counter.count();
    assert!(pair.ping(Side::B, 2).unwrap(), "ping fails after detaching {made:?}");
    assert_eq!(counter.count(), seen, "a detached program counted packets");
    drop(counter);
    objects.assert_gone(bpf);
    made
}

#[test]
fn tcx_ingress_drops_until_detached() {
    let made = tc_drops_while_attached(&bpf(), "tcx-in", TcDirection::Ingress, TcBackend::Auto);
    let Made::Link(info) = made else { panic!("linux 6.6+ has tcx, got {made:?}") };
    assert!(matches!(info.target, LinkTarget::Tcx { attach_type: 46, .. }), "{info:?}");
}

#[test]
fn tcx_egress_drops_until_detached() {
    let made = tc_drops_while_attached(&bpf(), "tcx-out", TcDirection::Egress, TcBackend::Tcx);
    let Made::Link(info) = made else { panic!("{made:?}") };
    assert!(matches!(info.target, LinkTarget::Tcx { attach_type: 47, .. }), "{info:?}");
}

/// A kernel without tcx, as far as bpfx can tell: `BPF_LINK_CREATE`
/// fails with EINVAL (what a 6.5 kernel answers for an unknown attach
/// type); every other call reaches the kernel.
struct NoTcx;

// SAFETY: every descriptor is the one the kernel returned.
unsafe impl Syscall for NoTcx {
    fn bpf(&self, call: &mut BpfCall<'_>) -> std::io::Result<i32> {
        match call.cmd() {
            Cmd::LinkCreate => Err(std::io::Error::from_raw_os_error(Errno::EINVAL.0)),
            _ => call.forward(),
        }
    }
}

#[test]
fn netlink_filters_drop_until_removed() {
    let kernel = bpf();
    let old_kernel = Bpf::with_syscall(std::sync::Arc::new(NoTcx));
    // Ingress by the fallback of a kernel without tcx, egress by choice.
    let cases = [
        ("nl-in", &old_kernel, TcDirection::Ingress, TcBackend::Auto),
        ("nl-out", &kernel, TcDirection::Egress, TcBackend::Netlink),
    ];
    for (tag, bpf, direction, backend) in cases {
        let made = tc_drops_while_attached(bpf, tag, direction, backend);
        let Made::Filter(filter) = made else { panic!("{made:?}") };
        assert_eq!((filter.prio, filter.handle, filter.name.as_str()), (0xc000, 1, "tc_drop"));
        assert_eq!(filter.direction, direction);
    }
    // Told to use tcx, the old kernel's refusal is the error.
    let pair = VethPair::new("nl-tcx").unwrap();
    let counter = Counter::load(&kernel, &counter("tc_tcx_only", ProgType::SchedCls, TC_ACT_OK));
    let objects = counter.ids();
    let err = pair.in_ns(Side::A, || {
        let point = AttachPoint::tc("veth-a", TcDirection::Ingress).unwrap();
        old_kernel.attach_with(&counter.prog, &point, &AttachOptions { tc: TcBackend::Tcx }).unwrap_err()
    });
    assert!(err.to_string().contains("(tcx needs Linux 6.6)"), "{err}");
    drop(counter);
    objects.assert_gone(&kernel);
}

/// A tc program that counts and returns `verdict`.
fn tc_counter(bpf: &Bpf, verdict: i32) -> Counter {
    Counter::load(bpf, &counter("tc_count", ProgType::SchedCls, verdict))
}

#[test]
fn a_later_handle_removes_tcx_links_and_netlink_filters_at_a_point() {
    let bpf = bpf();
    let fs = Bpffs::mount("tc-later");
    let pair = VethPair::new("tc-later").unwrap();
    let (tcx, filter) = (tc_counter(&bpf, TCX_NEXT), tc_counter(&bpf, TC_ACT_OK));
    let mut objects = tcx.ids();
    let more = filter.ids();
    objects.progs.extend(more.progs);
    objects.maps.extend(more.maps);
    let pin = fs.0.join("tcx");
    let (link_id, point) = pair.in_ns(Side::A, || {
        let point = AttachPoint::tc("veth-a", TcDirection::Ingress).unwrap();
        let link = link_of(bpf.attach(&tcx.prog, &point).unwrap());
        link.pin(&pin).unwrap();
        let options = AttachOptions { tc: TcBackend::Netlink };
        let Attachment::TcFilter(_) = bpf.attach_with(&filter.prog, &point, &options).unwrap() else { panic!() };
        (link.id(), point)
    });
    objects.links.push(link_id);
    assert!(pair.ping(Side::B, 2).unwrap());
    assert!(tcx.count() >= 2 && filter.count() >= 2, "tcx {} filter {}", tcx.count(), filter.count());

    let later = Bpf::new();
    let detached = pair.in_ns(Side::A, || later.detach_with_pins(&point, &fs.0).unwrap());
    assert_eq!(detached.len(), 2, "{detached:?}");
    assert!(
        matches!(&detached[0], Detached::Link { id, unpinned, .. } if *id == link_id && unpinned == std::slice::from_ref(&pin)),
        "{detached:?}"
    );
    assert!(matches!(&detached[1], Detached::TcFilter(f) if f.name == "tc_count"), "{detached:?}");
    let (a, b) = (tcx.count(), filter.count());
    assert!(pair.ping(Side::B, 2).unwrap());
    assert_eq!((tcx.count(), filter.count()), (a, b), "programs still run after detach");
    let again = pair.in_ns(Side::A, || later.detach(&point).unwrap_err());
    assert_eq!(
        again.to_string(),
        format!("nothing is attached at tc ingress on `veth-a` (ifindex {})", point.ifindex())
    );
    drop((tcx, filter));
    objects.assert_gone(&bpf);
}

// ---- pinning ----

#[test]
fn a_pinned_link_outlives_its_handles_and_a_later_handle_detaches_it() {
    let bpf = bpf();
    let fs = Bpffs::mount("pin");
    let pair = VethPair::new("pin").unwrap();
    let counter = Counter::load(&bpf, &counter("xdp_pinned", ProgType::Xdp, XDP_PASS));
    let mut objects = counter.ids();
    let pin = fs.0.join("deep/er/link");
    let point = pair.in_ns(Side::A, || {
        let point = AttachPoint::xdp("veth-a", XdpMode::Generic).unwrap();
        let link = link_of(bpf.attach(&counter.prog, &point).unwrap());
        link.pin(&pin).unwrap();
        point
    });
    assert!(pin.exists(), "pinning made the missing directories");
    let Counter { prog, map } = counter;
    drop(prog);
    assert!(pair.ping(Side::B, 2).unwrap());
    let count = |map: &Map| u64::from_ne_bytes(map.lookup(&0u32.to_ne_bytes()).unwrap().unwrap().try_into().unwrap());
    let seen = count(&map);
    assert!(seen >= 2, "the pinned link's program counted {seen}");

    // A later process: a new handle, the pin, and the point.
    let later = Bpf::new();
    let reopened = later.open_pinned_link(&pin).unwrap();
    objects.links.push(reopened.id());
    assert_eq!(reopened.info().prog_id, objects.progs[0]);
    drop(reopened);
    bpf.pin(map.fd(), &fs.0.join("map")).unwrap();
    let err = later.open_pinned_link(&fs.0.join("map")).unwrap_err();
    assert_eq!(err.to_string(), format!("{} is not a pinned link", fs.0.join("map").display()));
    unpin(&fs.0.join("map")).unwrap();

    // Displayed inside the namespace, where the ifindex has its name.
    let (detached, shown) = pair.in_ns(Side::A, || {
        let detached = later.detach_with_pins(&point, &fs.0).unwrap();
        let shown = detached.iter().map(Detached::to_string).collect::<Vec<_>>();
        (detached, shown)
    });
    let [Detached::Link { id, prog_id, unpinned, .. }] = detached.as_slice() else { panic!("{detached:?}") };
    assert_eq!((*id, *prog_id), (objects.links[0], objects.progs[0]));
    assert_eq!(unpinned, std::slice::from_ref(&pin));
    assert_eq!(
        shown,
        [format!(
            "link {id} (prog {prog_id}) at xdp generic on `veth-a` (ifindex {}), unpinned {}",
            point.ifindex(),
            pin.display()
        )]
    );
    assert!(!pin.exists());
    assert!(pair.ping(Side::B, 2).unwrap());
    assert_eq!(count(&map), seen, "the detached program still counts");
    drop(map);
    objects.assert_gone(&bpf);
}

#[test]
fn a_later_handle_removes_xdp_attached_by_netlink() {
    let bpf = bpf();
    let fs = Bpffs::mount("ip-xdp");
    let pair = VethPair::new("ip-xdp").unwrap();
    let counter = Counter::load(&bpf, &counter("xdp_by_ip", ProgType::Xdp, XDP_PASS));
    let objects = counter.ids();
    let pinned = fs.0.join("prog");
    bpf.pin(counter.prog.fd(), &pinned).unwrap();
    run(&pair, Side::A, "ip", &["link", "set", "dev", "veth-a", "xdpgeneric", "pinned", pinned.to_str().unwrap()]);
    unpin(&pinned).unwrap();
    assert!(pair.ping(Side::B, 2).unwrap());
    assert!(counter.count() >= 2);
    let detached = pair.in_ns(Side::A, || {
        let point = AttachPoint::xdp("veth-a", XdpMode::Auto).unwrap();
        Bpf::new().detach(&point).unwrap()
    });
    assert_eq!(detached.len(), 1, "{detached:?}");
    let Detached::XdpProg { mode, prog_id, .. } = &detached[0] else { panic!("{detached:?}") };
    assert_eq!((*mode, *prog_id), (XdpMode::Generic, objects.progs[0]));
    assert!(
        detached[0].to_string().starts_with(&format!("prog {} attached without a link at xdp generic on", prog_id))
    );
    let shown = run(&pair, Side::A, "ip", &["link", "show", "dev", "veth-a"]);
    assert!(!shown.contains("xdpgeneric"), "{shown}");
    drop(counter);
    objects.assert_gone(&bpf);
}

// ---- errors ----

#[test]
fn attach_errors_name_what_is_wrong() {
    let bpf = bpf();
    let err = AttachPoint::xdp("eth9", XdpMode::Auto).unwrap_err();
    assert_eq!(err.to_string(), "no network interface `eth9`");
    let err = AttachPoint::tc("bad\0name", TcDirection::Ingress).unwrap_err();
    assert!(matches!(err, AttachError::NoInterface { .. }), "{err:?}");

    let pair = VethPair::new("errors").unwrap();
    let xdp = Counter::load(&bpf, &counter("xdp_wrong", ProgType::Xdp, XDP_PASS));
    let objects = xdp.ids();
    pair.in_ns(Side::A, || {
        let point = AttachPoint::tc("veth-a", TcDirection::Egress).unwrap();
        let err = bpf.attach(&xdp.prog, &point).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot attach `xdp_wrong` to tc egress on `veth-a` (ifindex {}): it is a xdp program, tc egress \
                 on `veth-a` (ifindex {0}) takes sched_cls or sched_act programs",
                point.ifindex()
            )
        );
        let gone = AttachPoint::Xdp { ifindex: 4_000_000, mode: XdpMode::Generic };
        let err = bpf.attach(&xdp.prog, &gone).unwrap_err();
        assert_eq!(err.to_string(), "no network interface with ifindex 4000000 in this network namespace");
        // Nothing there: no xdp program, no tcx link, not even a clsact
        // qdisc to hold filters.
        for point in [AttachPoint::xdp("veth-a", XdpMode::Auto), AttachPoint::tc("veth-a", TcDirection::Egress)] {
            let err = bpf.detach(&point.unwrap()).unwrap_err();
            assert!(matches!(err, AttachError::NothingAttached { .. }), "{err:?}");
        }
    });
    // The interface is in namespace `a`, not in this test's.
    assert!(matches!(AttachPoint::xdp("veth-a", XdpMode::Auto), Err(AttachError::NoInterface { .. })));

    // Without privileges: the kernel's EPERM, explained.
    let denied = Bpf::with_syscall(std::sync::Arc::new(Deny));
    let err = pair.in_ns(Side::A, || {
        let point = AttachPoint::xdp("veth-a", XdpMode::Generic).unwrap();
        denied.attach(&xdp.prog, &point).unwrap_err()
    });
    assert!(matches!(&err, AttachError::Attach { source, .. } if source.errno == Errno::EPERM), "{err:?}");
    assert!(err.to_string().contains("needs root, or CAP_BPF"), "{err}");
    drop(xdp);
    objects.assert_gone(&bpf);
}

/// A syscall refusing every call as an unprivileged caller sees it.
struct Deny;

// SAFETY: it never returns a descriptor.
unsafe impl Syscall for Deny {
    fn bpf(&self, _: &mut BpfCall<'_>) -> std::io::Result<i32> {
        Err(std::io::Error::from_raw_os_error(Errno::EPERM.0))
    }
}

#[test]
fn pins_outside_bpffs_make_no_directories() {
    let bpf = bpf();
    let outside = std::env::temp_dir().join(format!("bpfx-attach-nodir-{}", std::process::id())).join("x/y");
    let spec = MapSpec {
        name: "pin_probe".into(),
        map_type: MapType::Array,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..MapSpec::default()
    };
    let map = bpf.create_map(&spec).unwrap();
    let err = bpf.pin(map.fd(), &outside).unwrap_err();
    assert!(err.to_string().contains("ENOENT"), "{err}");
    assert!(!outside.parent().unwrap().exists(), "a directory was made outside bpffs");
}

#[test]
fn a_pin_under_sys_fs_bpf_mounts_bpffs_there_when_it_is_missing() {
    let bpf = bpf();
    let before = std::fs::read_link("/proc/thread-self/ns/mnt").unwrap();
    // A thread of its own in a private mount namespace: whatever is
    // mounted there is this thread's alone and goes with it.
    std::thread::spawn(move || {
        // SAFETY: unshare and mount change only this thread's mount
        // namespace; every string is a NUL-terminated literal.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS), 0, "{}", std::io::Error::last_os_error());
            assert_ne!(std::fs::read_link("/proc/thread-self/ns/mnt").unwrap(), before, "still in the host's mounts");
            // Nothing mounted here may propagate back to the host.
            let private = libc::MS_REC | libc::MS_PRIVATE;
            assert_eq!(libc::mount(c"none".as_ptr(), c"/".as_ptr(), std::ptr::null(), private, std::ptr::null()), 0);
            // Whatever the host has at /sys/fs/bpf, this namespace starts
            // without a bpffs there.
            let tmpfs = c"tmpfs".as_ptr();
            assert_eq!(libc::mount(tmpfs, c"/sys/fs/bpf".as_ptr(), tmpfs, 0, std::ptr::null()), 0);
        }
        let root = Path::new(DEFAULT_BPFFS);
        assert!(!is_bpffs(root).unwrap());
        let spec = MapSpec {
            name: "sysfs_pin".into(),
            map_type: MapType::Array,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..MapSpec::default()
        };
        let map = bpf.create_map(&spec).unwrap();
        let pin = root.join("bpfx-test/sub/map");
        bpf.pin(map.fd(), &pin).unwrap();
        assert!(is_bpffs(root).unwrap(), "pinning did not mount bpffs on {DEFAULT_BPFFS}");
        let fd = bpf.get_pinned(&pin).unwrap();
        assert_eq!(bpf.map_info(fd.as_fd()).unwrap().name, "sysfs_pin");
    })
    .join()
    .unwrap();
    assert!(!std::path::Path::new("/sys/fs/bpf/bpfx-test").exists(), "the pin is visible outside the namespace");
}
