//! A pair of network namespaces joined by a veth pair, for tests that
//! attach programs to real interfaces and send real traffic without
//! touching the host's network.
//!
//! What it is: [`VethPair::new`] makes namespaces `bpfx-<tag>-<pid>-a` and
//! `-b`, a veth between them (`veth-a` in `a`, `veth-b` in `b`), IPv4
//! addresses `10.200.<n>.1/24` and `.2/24`, everything up; commands run in
//! a namespace through `ip netns exec`, closures on a thread that entered
//! it (`setns`). Dropping the pair deletes both namespaces, and with them
//! the veth — also when the test panicked. Namespaces left by a killed run
//! of the same tag (their pid no longer running) are deleted first.
//!
//! What it is not: usable without root and iproute2's `ip`; when either is
//! missing, [`VethPair::new`] fails saying which.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU8, Ordering};

/// One end of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Two namespaces and the veth between them; see the module's doc.
#[derive(Debug)]
pub struct VethPair {
    names: [String; 2],
    subnet: u8,
}

/// Each pair of one process gets its own third octet, so their addresses
/// never look alike in a log.
static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);

impl VethPair {
    /// Creates the namespaces and the veth; `tag` (letters, digits, `-`)
    /// names them, so a killed run's leftovers can be recognised.
    pub fn new(tag: &str) -> io::Result<VethPair> {
        if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad tag `{tag}`: use [A-Za-z0-9-]")));
        }
        match Command::new("ip").arg("-V").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(io::Error::other(format!("`ip -V` failed: {}", text(&out.stderr)))),
            Err(e) => {
                return Err(io::Error::new(e.kind(), format!("iproute2's `ip` is needed for network namespaces: {e}")));
            }
        }
        remove_leftovers(tag)?;
        let pid = std::process::id();
        let subnet = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed);
        let pair = VethPair { names: [format!("bpfx-{tag}-{pid}-a"), format!("bpfx-{tag}-{pid}-b")], subnet };
        // From here on, `pair`'s drop removes whatever was made.
        for name in &pair.names {
            ip(&["netns", "add", name])?;
        }
        let [a, b] = &pair.names;
        ip(&["-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b])?;
        for side in [Side::A, Side::B] {
            let (ns, dev) = (pair.ns(side), pair.ifname(side));
            ip(&["-n", ns, "addr", "add", &format!("{}/24", pair.addr(side)), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// The namespace's name (for `ip netns exec`, `/run/netns/<name>`).
    pub fn ns(&self, side: Side) -> &str {
        &self.names[side as usize]
    }

    /// The veth end inside the namespace of `side`.
    pub fn ifname(&self, side: Side) -> &'static str {
        match side {
            Side::A => "veth-a",
            Side::B => "veth-b",
        }
    }

    /// The IPv4 address of the veth end of `side`.
    pub fn addr(&self, side: Side) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, if side == Side::A { 1 } else { 2 })
    }

    /// `ip netns exec <ns> program args...`, waited for; the output is
    /// returned whatever the exit status.
    pub fn exec(&self, side: Side, program: &str, args: &[&str]) -> io::Result<Output> {
        Command::new("ip").args(["netns", "exec", self.ns(side), program]).args(args).output()
    }

    /// `ping` from `from` to the other end: whether `count` echo requests
    /// (200 ms apart, one second's wait for the last) got any reply.
    pub fn ping(&self, from: Side, count: u32) -> io::Result<bool> {
        let to = self.addr(from.peer()).to_string();
        let out = self.exec(from, "ping", &["-c", &count.to_string(), "-i", "0.2", "-W", "1", "-q", &to])?;
        Ok(out.status.success())
    }

    /// Runs `f` on a new thread that entered the namespace of `side`
    /// (`setns(CLONE_NEWNET)`), so sockets, interface names and ifindexes
    /// it sees are the namespace's; a panic in `f` is resumed here.
    pub fn in_ns<T: Send>(&self, side: Side, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.ns(side));
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: `ns` is an open namespace file; setns changes
                // only this thread's network namespace.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    panic!("setns({path}): {}", io::Error::last_os_error());
                }
                f()
            });
            thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for name in &self.names {
            if netns_exists(name)
                && let Err(e) = ip(&["netns", "del", name])
            {
                eprintln!("VethPair: cannot delete network namespace {name}: {e}");
            }
        }
    }
}

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Deletes `bpfx-<tag>-<pid>-{a,b}` namespaces whose pid is not a running
/// process (or is this one: a recycled pid).
fn remove_leftovers(tag: &str) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else { return Ok(()) };
    let prefix = format!("bpfx-{tag}-");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let Some(pid) = rest.strip_suffix("-a").or_else(|| rest.strip_suffix("-b")) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let alive = pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            ip(&["netns", "del", &name])?;
        }
    }
    Ok(())
}

/// Runs `ip args...`; a failure carries its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!("`ip {}` failed: {}", args.join(" "), text(&out.stderr))))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_talks_only_through_its_veth_and_leaves_nothing_behind() {
        let pair = VethPair::new("testkit-self").unwrap();
        let names = [pair.ns(Side::A).to_owned(), pair.ns(Side::B).to_owned()];
        assert!(pair.ping(Side::A, 1).unwrap(), "a cannot reach b");
        assert!(pair.ping(Side::B, 1).unwrap(), "b cannot reach a");
        let index = |name: &'static str| {
            let c = std::ffi::CString::new(name).unwrap();
            // SAFETY: `c` is NUL-terminated and alive for the call.
            unsafe { libc::if_nametoindex(c.as_ptr()) }
        };
        assert_ne!(pair.in_ns(Side::A, || index("veth-a")), 0, "veth-a is not in namespace a");
        assert_eq!(pair.in_ns(Side::A, || index("veth-b")), 0, "veth-b leaked into namespace a");
        assert_eq!(index("veth-a"), 0, "veth-a is in this test's own namespace");
        let out = pair.exec(Side::B, "ip", &["-o", "-4", "addr", "show", "dev", "veth-b"]).unwrap();
        assert!(text(&out.stdout).contains(&format!("{}/24", pair.addr(Side::B))), "{}", text(&out.stdout));
        drop(pair);
        for name in names {
            assert!(!netns_exists(&name), "{name} survived the drop");
        }
    }

    #[test]
    fn a_panic_inside_a_namespace_reaches_the_caller_and_the_drop_still_cleans_up() {
        let pair = VethPair::new("testkit-panic").unwrap();
        let names = [pair.ns(Side::A).to_owned(), pair.ns(Side::B).to_owned()];
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _moved = pair;
            let _: () = _moved.in_ns(Side::A, || panic!("inside"));
        }));
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside"));
        for name in names {
            assert!(!netns_exists(&name), "{name} survived the panic");
        }
    }

    #[test]
    fn leftovers_of_a_dead_run_are_removed() {
        // A pid above the kernel's maximum (4194304) is never running.
        let stale = "bpfx-testkit-stale-4294967295-a";
        ip(&["netns", "add", stale]).unwrap();
        let pair = VethPair::new("testkit-stale").unwrap();
        assert!(!netns_exists(stale), "the stale namespace was kept");
        drop(pair);
    }

    #[test]
    fn bad_tags_are_refused() {
        let err = VethPair::new("a b").unwrap_err();
        assert_eq!(err.to_string(), "bad tag `a b`: use [A-Za-z0-9-]");
    }
}
