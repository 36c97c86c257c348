//! Attaching programs to network interfaces, and taking them off again.
//!
//! What it is: XDP through `BPF_LINK_CREATE` (generic, native, or the
//! kernel's choice), tc through tcx links (`BPF_TCX_INGRESS`/`EGRESS`,
//! Linux 6.6 and later) with a fallback to a cls_bpf filter in
//! direct-action mode under a clsact qdisc (rtnetlink) when the kernel has
//! no tcx, or when asked; [`Link`] handles that can be pinned on bpffs (so
//! the attachment outlives the process) and detached; and
//! [`Bpf::detach`], which finds whatever is attached at a point — links by
//! the id iterator, netlink XDP programs, cls_bpf filters — for a process
//! that did not attach it.
//!
//! What it is not: a tc or ip replacement. It attaches one program per
//! call, does not order tcx programs (each is appended), and knows nothing
//! of cgroups, tracing or other attach points. Interfaces are those of the
//! calling thread's network namespace; attach from a thread inside another
//! namespace (`setns`) to reach its interfaces.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use bpfx_isa::abi::{AttachType, ProgType};

use super::bpffs::{DEFAULT_BPFFS, is_bpffs};
use super::error::{Errno, KernelError, SyscallError};
use super::link_attr::{
    LINK_TYPE_TCX, LINK_TYPE_XDP, LinkCreateAttr, LinkDetachAttr, LinkInfoRaw, ProgQueryAttr, XDP_FLAGS_DRV_MODE,
    XDP_FLAGS_SKB_MODE,
};
use super::netlink::{BpfFilter, NlError, Rtnl, TC_H_CLSACT, TC_H_MIN_EGRESS, TC_H_MIN_INGRESS};
use super::obj::ObjKind;
use super::prog::Prog;
use super::sys::Cmd;
use super::{Bpf, attr::ptr_mut};

/// Which XDP hook of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum XdpMode {
    /// The kernel's choice: native when the driver supports it, else
    /// generic.
    #[default]
    Auto,
    /// In the driver (`XDP_FLAGS_DRV_MODE`); not every driver has it.
    Native,
    /// On the generic receive path (`XDP_FLAGS_SKB_MODE`), any device.
    Generic,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            XdpMode::Auto => 0,
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }
}

/// Which side of a device a tc program sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcDirection {
    Ingress,
    Egress,
}

impl TcDirection {
    fn tcx_attach_type(self) -> AttachType {
        match self {
            TcDirection::Ingress => AttachType::TcxIngress,
            TcDirection::Egress => AttachType::TcxEgress,
        }
    }

    /// The clsact qdisc's class for this side (`TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_*)`).
    fn clsact_parent(self) -> u32 {
        let minor = match self {
            TcDirection::Ingress => TC_H_MIN_INGRESS,
            TcDirection::Egress => TC_H_MIN_EGRESS,
        };
        (TC_H_CLSACT & 0xffff_0000) | minor
    }

    pub const fn name(self) -> &'static str {
        match self {
            TcDirection::Ingress => "ingress",
            TcDirection::Egress => "egress",
        }
    }
}

/// Where a program is attached: a hook of a network interface of the
/// calling thread's network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachPoint {
    Xdp { ifindex: u32, mode: XdpMode },
    Tc { ifindex: u32, direction: TcDirection },
}

impl AttachPoint {
    /// XDP on the interface named `iface`.
    pub fn xdp(iface: &str, mode: XdpMode) -> Result<AttachPoint, AttachError> {
        Ok(AttachPoint::Xdp { ifindex: ifindex(iface)?, mode })
    }

    /// tc on the interface named `iface`.
    pub fn tc(iface: &str, direction: TcDirection) -> Result<AttachPoint, AttachError> {
        Ok(AttachPoint::Tc { ifindex: ifindex(iface)?, direction })
    }

    /// The point a command line names: `xdp:IFACE` (the kernel picks the
    /// mode), `xdp:IFACE:native|generic|auto`, `tc:IFACE:ingress|egress`;
    /// the interface is looked up in the calling thread's namespace.
    pub fn parse(spec: &str) -> Result<AttachPoint, AttachError> {
        let bad = |reason: &str| AttachError::BadSpec { spec: spec.to_owned(), reason: reason.to_owned() };
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            ["xdp", iface] => AttachPoint::xdp(iface, XdpMode::Auto),
            ["xdp", iface, mode] => {
                let mode = match *mode {
                    "auto" => XdpMode::Auto,
                    "native" => XdpMode::Native,
                    "generic" => XdpMode::Generic,
                    _ => return Err(bad("the xdp mode is one of auto, native, generic")),
                };
                AttachPoint::xdp(iface, mode)
            }
            ["tc", iface, direction] => {
                let direction = match *direction {
                    "ingress" => TcDirection::Ingress,
                    "egress" => TcDirection::Egress,
                    _ => return Err(bad("the tc direction is ingress or egress")),
                };
                AttachPoint::tc(iface, direction)
            }
            ["tc", _] => Err(bad("tc needs a direction: tc:IFACE:ingress or tc:IFACE:egress")),
            _ => Err(bad("expected xdp:IFACE[:auto|native|generic] or tc:IFACE:ingress|egress")),
        }
    }

    pub fn ifindex(&self) -> u32 {
        match *self {
            AttachPoint::Xdp { ifindex, .. } | AttachPoint::Tc { ifindex, .. } => ifindex,
        }
    }
}

/// `xdp generic on `veth0` (ifindex 4)`; the name as the calling thread's
/// namespace knows the index now.
impl fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachPoint::Xdp { mode, .. } => write!(f, "xdp {} on ", mode.name())?,
            AttachPoint::Tc { direction, .. } => write!(f, "tc {} on ", direction.name())?,
        }
        f.write_str(&iface_label(self.ifindex()))
    }
}

/// The index of the network interface named `name` in the calling
/// thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32, AttachError> {
    let missing = || AttachError::NoInterface { name: name.to_owned() };
    let c = CString::new(name).map_err(|_| missing())?;
    // SAFETY: `c` is a NUL-terminated string alive for the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}

/// The name of interface `ifindex`, if the namespace has one.
fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let name = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name to `buf`.
    Some(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

fn iface_label(ifindex: u32) -> String {
    match ifname(ifindex) {
        Some(name) => format!("`{name}` (ifindex {ifindex})"),
        None => format!("ifindex {ifindex}"),
    }
}

/// How tc programs are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcBackend {
    /// A tcx link, or a cls_bpf filter when the kernel has no tcx.
    #[default]
    Auto,
    /// A tcx link only.
    Tcx,
    /// A cls_bpf filter (direct action) under a clsact qdisc, added if
    /// missing, as `tc filter add ... bpf da` does.
    Netlink,
}

/// Choices of [`Bpf::attach_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    pub tc: TcBackend,
}

/// What a link is attached to, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTarget {
    /// An XDP link; ifindex 0 once detached or its device is gone.
    Xdp { ifindex: u32 },
    /// A tcx link; ifindex 0 once detached.
    Tcx { ifindex: u32, attach_type: u32 },
    /// Another kind of link (`enum bpf_link_type`).
    Other { link_type: u32 },
}

/// A link as `BPF_OBJ_GET_INFO_BY_FD` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    pub id: u32,
    /// The program it runs (0 once detached, for some link types).
    pub prog_id: u32,
    pub target: LinkTarget,
}

impl LinkInfo {
    fn from_raw(raw: &LinkInfoRaw) -> LinkInfo {
        let target = match raw.link_type {
            LINK_TYPE_XDP => LinkTarget::Xdp { ifindex: raw.ifindex },
            LINK_TYPE_TCX => LinkTarget::Tcx { ifindex: raw.ifindex, attach_type: raw.attach_type },
            link_type => LinkTarget::Other { link_type },
        };
        LinkInfo { id: raw.id, prog_id: raw.prog_id, target }
    }

    fn is_at(&self, point: &AttachPoint) -> bool {
        match (self.target, *point) {
            (LinkTarget::Xdp { ifindex }, AttachPoint::Xdp { ifindex: at, .. }) => ifindex == at,
            (LinkTarget::Tcx { ifindex, attach_type }, AttachPoint::Tc { ifindex: at, direction }) => {
                ifindex == at && attach_type == direction.tcx_attach_type().value()
            }
            _ => false,
        }
    }
}

/// A bpf link: a program attached for as long as the link lives. Dropping
/// the handle closes the descriptor, which detaches the program unless the
/// link is pinned (or another descriptor to it is open).
#[derive(Debug)]
pub struct Link {
    fd: OwnedFd,
    bpf: Bpf,
    info: LinkInfo,
}

impl Link {
    fn new(bpf: &Bpf, fd: OwnedFd) -> Result<Link, KernelError> {
        let info = bpf.link_info(fd.as_fd())?;
        Ok(Link { fd, bpf: bpf.clone(), info })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The kernel's id of the link, unique while it lives.
    pub fn id(&self) -> u32 {
        self.info.id
    }

    /// The link as it was when this handle was made.
    pub fn info(&self) -> LinkInfo {
        self.info
    }

    /// Pins the link at `path` on bpffs (see [`Bpf::pin`]): the program
    /// stays attached after this process exits, until [`Link::detach`] or
    /// [`Bpf::detach`] (or [`unpin`] and the last descriptor closing).
    pub fn pin(&self, path: &Path) -> Result<(), KernelError> {
        self.bpf.pin(self.fd(), path)
    }

    /// `BPF_LINK_DETACH`: the program comes off now, even while the link
    /// is pinned or open elsewhere (those then hold a defunct link).
    pub fn detach(self) -> Result<(), AttachError> {
        let mut attr = LinkDetachAttr { link_fd: self.fd.as_raw_fd() as u32 };
        self.bpf.call(Cmd::LinkDetach, &mut attr).map_err(|e| AttachError::Detach {
            what: format!("link {}", self.info.id),
            source: SyscallError::new(Cmd::LinkDetach, e),
        })?;
        Ok(())
    }
}

/// Removes the pin at `path` (a file on bpffs); the object lives on while
/// anything else holds it.
pub fn unpin(path: &Path) -> Result<(), AttachError> {
    std::fs::remove_file(path).map_err(|source| AttachError::Unpin { path: path.to_owned(), source })
}

/// A cls_bpf filter bpfx added through rtnetlink. It stays in the kernel
/// (holding its program) until removed, like one `tc filter add` made:
/// dropping this value does not remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcFilter {
    pub ifindex: u32,
    pub direction: TcDirection,
    pub prio: u16,
    pub handle: u32,
    pub prog_id: u32,
    /// The name the filter carries (the program's).
    pub name: String,
}

impl TcFilter {
    fn new(ifindex: u32, direction: TcDirection, f: BpfFilter) -> TcFilter {
        TcFilter { ifindex, direction, prio: f.prio, handle: f.handle, prog_id: f.prog_id, name: f.name }
    }

    fn point(&self) -> AttachPoint {
        AttachPoint::Tc { ifindex: self.ifindex, direction: self.direction }
    }

    /// Removes the filter (from the calling thread's network namespace).
    pub fn detach(self) -> Result<(), AttachError> {
        let point = self.point();
        let mut rtnl = Rtnl::open().map_err(|e| netlink_error("open", &point, e.into()))?;
        rtnl.del_filter(self.ifindex, self.direction.clsact_parent(), self.prio, self.handle)
            .map_err(|e| netlink_error("delete filter", &point, e))
    }
}

impl fmt::Display for TcFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cls_bpf filter prio {} handle {:#x} (prog {} `{}`) at {}",
            self.prio,
            self.handle,
            self.prog_id,
            self.name,
            self.point()
        )
    }
}

/// What [`Bpf::attach`] made.
#[derive(Debug)]
pub enum Attachment {
    Link(Link),
    /// tc through netlink, the kernel having no tcx or bpfx being told so.
    TcFilter(TcFilter),
}

impl Attachment {
    pub fn link(&self) -> Option<&Link> {
        match self {
            Attachment::Link(link) => Some(link),
            Attachment::TcFilter(_) => None,
        }
    }

    /// Takes the program off (a link: `BPF_LINK_DETACH`; a filter: removed).
    pub fn detach(self) -> Result<(), AttachError> {
        match self {
            Attachment::Link(link) => link.detach(),
            Attachment::TcFilter(filter) => filter.detach(),
        }
    }
}

/// One thing [`Bpf::detach`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached {
    /// A link, detached; its pins found on bpffs were removed.
    Link {
        id: u32,
        prog_id: u32,
        point: AttachPoint,
        unpinned: Vec<PathBuf>,
    },
    /// An XDP program attached without a link (by netlink: `ip link set
    /// ... xdp`).
    XdpProg {
        ifindex: u32,
        mode: XdpMode,
        prog_id: u32,
    },
    TcFilter(TcFilter),
}

impl fmt::Display for Detached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detached::Link { id, prog_id, point, unpinned } => {
                write!(f, "link {id} (prog {prog_id}) at {point}")?;
                for path in unpinned {
                    write!(f, ", unpinned {}", path.display())?;
                }
                Ok(())
            }
            Detached::XdpProg { ifindex, mode, prog_id } => {
                write!(
                    f,
                    "prog {prog_id} attached without a link at {}",
                    AttachPoint::Xdp { ifindex: *ifindex, mode: *mode }
                )
            }
            Detached::TcFilter(filter) => filter.fmt(f),
        }
    }
}

/// Why attaching or detaching failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    #[error("no network interface `{name}`")]
    NoInterface { name: String },

    #[error("bad attach point `{spec}`: {reason}")]
    BadSpec { spec: String, reason: String },

    #[error("no network interface with ifindex {ifindex} in this network namespace")]
    NoIfindex { ifindex: u32 },

    #[error("cannot attach `{prog}` to {point}: it is a {prog_type} program, {point} takes {expected} programs")]
    WrongProgType { prog: String, point: String, prog_type: &'static str, expected: &'static str },

    #[error(
        "the driver of {iface} does not support native xdp; generic mode (xdp:{name}:generic) works on any interface"
    )]
    NativeXdpUnsupported { iface: String, name: String },

    /// Something holds the attach point; `holder` says what.
    #[error("{point} is taken: {holder}")]
    Busy { point: String, holder: String, source: SyscallError },

    #[error("cannot attach to {point}: {source}")]
    Attach { point: String, source: SyscallError },

    #[error("netlink {op} at {point} failed with {errno}: {message}")]
    Netlink { op: &'static str, point: String, errno: Errno, message: String, source: io::Error },

    #[error("nothing is attached at {point}")]
    NothingAttached { point: String },

    #[error("cannot detach {what}: {source}")]
    Detach { what: String, source: SyscallError },

    #[error("{} is not a pinned link", path.display())]
    NotALink { path: PathBuf },

    #[error("cannot unpin {}: {source}", path.display())]
    Unpin { path: PathBuf, source: io::Error },

    #[error(transparent)]
    Kernel(#[from] KernelError),
}

fn netlink_error(op: &'static str, point: &AttachPoint, e: NlError) -> AttachError {
    let errno = Errno::of(&e.source);
    let message = e.message.unwrap_or_else(|| e.source.to_string());
    AttachError::Netlink { op, point: point.to_string(), errno, message, source: e.source }
}

impl Bpf {
    /// Attaches `prog` at `point` the default way (tc: tcx, else netlink).
    pub fn attach(&self, prog: &Prog, point: &AttachPoint) -> Result<Attachment, AttachError> {
        self.attach_with(prog, point, &AttachOptions::default())
    }

    /// Attaches `prog` at `point`.
    pub fn attach_with(
        &self,
        prog: &Prog,
        point: &AttachPoint,
        options: &AttachOptions,
    ) -> Result<Attachment, AttachError> {
        if ifname(point.ifindex()).is_none() {
            return Err(AttachError::NoIfindex { ifindex: point.ifindex() });
        }
        let (expected, fits): (&str, &[ProgType]) = match point {
            AttachPoint::Xdp { .. } => ("xdp", &[ProgType::Xdp]),
            AttachPoint::Tc { .. } => ("sched_cls or sched_act", &[ProgType::SchedCls, ProgType::SchedAct]),
        };
        if !fits.contains(&prog.prog_type()) {
            return Err(AttachError::WrongProgType {
                prog: prog.name().to_owned(),
                point: point.to_string(),
                prog_type: prog.prog_type().name(),
                expected,
            });
        }
        match *point {
            AttachPoint::Xdp { ifindex, mode } => {
                let mut attr = LinkCreateAttr {
                    prog_fd: prog.fd().as_raw_fd() as u32,
                    target_ifindex: ifindex,
                    attach_type: AttachType::Xdp.value(),
                    flags: mode.flags(),
                    ..LinkCreateAttr::default()
                };
                let fd = self.call_fd(Cmd::LinkCreate, &mut attr).map_err(|e| self.xdp_attach_error(point, prog, e))?;
                Ok(Attachment::Link(Link::new(self, fd)?))
            }
            AttachPoint::Tc { ifindex, direction } => {
                if options.tc != TcBackend::Netlink {
                    let mut attr = LinkCreateAttr {
                        prog_fd: prog.fd().as_raw_fd() as u32,
                        target_ifindex: ifindex,
                        attach_type: direction.tcx_attach_type().value(),
                        ..LinkCreateAttr::default()
                    };
                    match self.call_fd(Cmd::LinkCreate, &mut attr) {
                        Ok(fd) => return Ok(Attachment::Link(Link::new(self, fd)?)),
                        Err(e) if options.tc == TcBackend::Auto && no_tcx(&e) => {}
                        Err(e) => return Err(attach_error(point, prog, e)),
                    }
                }
                self.attach_cls_bpf(prog, ifindex, direction).map(Attachment::TcFilter)
            }
        }
    }

    /// A clsact qdisc (if missing) and a cls_bpf filter in front of the
    /// others, as `tc` would add it.
    fn attach_cls_bpf(&self, prog: &Prog, ifindex: u32, direction: TcDirection) -> Result<TcFilter, AttachError> {
        let point = AttachPoint::Tc { ifindex, direction };
        let nl = |op| move |e| netlink_error(op, &point, e);
        let prog_id = prog.info()?.id;
        let mut rtnl = Rtnl::open().map_err(|e| nl("open")(e.into()))?;
        rtnl.add_clsact(ifindex).map_err(nl("add clsact qdisc"))?;
        let parent = direction.clsact_parent();
        let existing = rtnl.bpf_filters(ifindex, parent).map_err(nl("list filters"))?;
        // tc's own choice: the first filter gets 49152, each later one the
        // priority just before the first (it runs first).
        let prio = match existing.iter().map(|f| f.prio).min() {
            None => 0xc000,
            Some(1) => existing.iter().map(|f| f.prio).max().map_or(0xc000, |p| p.saturating_add(1)),
            Some(min) => min - 1,
        };
        const HANDLE: u32 = 1;
        rtnl.add_bpf_filter(ifindex, parent, prio, HANDLE, prog.fd(), prog.name()).map_err(nl("add filter"))?;
        let added = rtnl.bpf_filters(ifindex, parent).map_err(nl("list filters"))?;
        let filter = added.into_iter().find(|f| f.prio == prio && f.handle == HANDLE && f.prog_id == prog_id);
        Ok(TcFilter::new(
            ifindex,
            direction,
            filter.unwrap_or(BpfFilter { prio, handle: HANDLE, prog_id, name: prog.name().to_owned() }),
        ))
    }

    fn xdp_attach_error(&self, point: &AttachPoint, prog: &Prog, e: io::Error) -> AttachError {
        let AttachPoint::Xdp { ifindex, mode } = *point else { return attach_error(point, prog, e) };
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) if mode == XdpMode::Native => AttachError::NativeXdpUnsupported {
                iface: iface_label(ifindex),
                name: ifname(ifindex).unwrap_or_else(|| ifindex.to_string()),
            },
            Some(libc::EBUSY | libc::EEXIST) => AttachError::Busy {
                point: point.to_string(),
                holder: self.xdp_holder(ifindex),
                source: SyscallError::with_cause(
                    Cmd::LinkCreate,
                    e,
                    Some("another xdp program is attached to the device (one per device)".to_owned()),
                ),
            },
            _ => attach_error(point, prog, e),
        }
    }

    /// What runs in XDP on the device, for an EBUSY message.
    fn xdp_holder(&self, ifindex: u32) -> String {
        let Ok(progs) = Rtnl::open().map_err(NlError::from).and_then(|mut r| r.xdp_progs(ifindex)) else {
            return "another xdp program (netlink could not say which)".to_owned();
        };
        let links = self.links().unwrap_or_default();
        let mut held = Vec::new();
        for (mode, prog_id) in [(XdpMode::Native, progs.drv), (XdpMode::Generic, progs.skb)] {
            if prog_id == 0 {
                continue;
            }
            let by = match links.iter().find(|(_, i)| i.prog_id == prog_id && i.target == LinkTarget::Xdp { ifindex }) {
                Some((_, info)) => format!("link {}", info.id),
                None => "netlink, without a link".to_owned(),
            };
            held.push(format!("prog {prog_id}{} in {} mode, attached by {by}", self.prog_label(prog_id), mode.name()));
        }
        if held.is_empty() { "another xdp program".to_owned() } else { held.join("; ") }
    }

    /// ` `name`` of a program by id, or nothing when it cannot be read.
    fn prog_label(&self, id: u32) -> String {
        self.open_by_id(ObjKind::Prog, id)
            .and_then(|fd| self.prog_info(fd.as_fd()))
            .map(|info| format!(" `{}`", info.name))
            .unwrap_or_default()
    }

    /// What the kernel says about the link of `fd`.
    pub fn link_info(&self, fd: BorrowedFd<'_>) -> Result<LinkInfo, KernelError> {
        Ok(LinkInfo::from_raw(&self.info::<LinkInfoRaw>(fd)?))
    }

    /// The link pinned at `path`, as a handle of this process.
    pub fn open_pinned_link(&self, path: &Path) -> Result<Link, AttachError> {
        let fd = self.get_pinned(path)?;
        if !is_link_fd(fd.as_fd()) {
            return Err(AttachError::NotALink { path: path.to_owned() });
        }
        Ok(Link::new(self, fd)?)
    }

    /// Every link in the kernel, opened, with its info; links that vanish
    /// while being listed are left out.
    fn links(&self) -> Result<Vec<(OwnedFd, LinkInfo)>, KernelError> {
        let mut links = Vec::new();
        for id in self.ids(ObjKind::Link)? {
            let Ok(fd) = self.open_by_id(ObjKind::Link, id) else { continue };
            if let Ok(info) = self.link_info(fd.as_fd()) {
                links.push((fd, info));
            }
        }
        Ok(links)
    }

    /// Removes what is attached at `point` in the calling thread's network
    /// namespace, whoever attached it: links (detached, and their pins
    /// under `/sys/fs/bpf` removed), XDP programs attached without a link,
    /// cls_bpf filters. For [`XdpMode::Auto`] both XDP modes are cleared.
    /// Nothing there is an error ([`AttachError::NothingAttached`]).
    pub fn detach(&self, point: &AttachPoint) -> Result<Vec<Detached>, AttachError> {
        self.detach_with_pins(point, Path::new(DEFAULT_BPFFS))
    }

    /// [`Bpf::detach`], looking for the links' pins under `pins` (a bpffs
    /// directory) instead of `/sys/fs/bpf`.
    pub fn detach_with_pins(&self, point: &AttachPoint, pins: &Path) -> Result<Vec<Detached>, AttachError> {
        if ifname(point.ifindex()).is_none() {
            return Err(AttachError::NoIfindex { ifindex: point.ifindex() });
        }
        let links = self.links()?;
        let detached = match *point {
            AttachPoint::Xdp { ifindex, mode } => self.detach_xdp(ifindex, mode, &links, pins)?,
            AttachPoint::Tc { ifindex, direction } => self.detach_tc(ifindex, direction, &links, pins)?,
        };
        if detached.is_empty() {
            return Err(AttachError::NothingAttached { point: point.to_string() });
        }
        Ok(detached)
    }

    fn detach_xdp(
        &self,
        ifindex: u32,
        mode: XdpMode,
        links: &[(OwnedFd, LinkInfo)],
        pins: &Path,
    ) -> Result<Vec<Detached>, AttachError> {
        let point = AttachPoint::Xdp { ifindex, mode };
        let mut rtnl = Rtnl::open().map_err(|e| netlink_error("open", &point, e.into()))?;
        let progs = rtnl.xdp_progs(ifindex).map_err(|e| netlink_error("get link", &point, e))?;
        let mut detached = Vec::new();
        for (at, prog_id) in [(XdpMode::Native, progs.drv), (XdpMode::Generic, progs.skb)] {
            if prog_id == 0 || (mode != XdpMode::Auto && mode != at) {
                continue;
            }
            // The link, if any: ifindex alone could be another namespace's
            // device, but the program running here pins it down.
            let link = links.iter().find(|(_, i)| i.prog_id == prog_id && i.target == LinkTarget::Xdp { ifindex });
            match link {
                Some((fd, info)) => detached.push(self.detach_link(fd.as_fd(), info, point, pins)?),
                None => {
                    rtnl.xdp_detach(ifindex, at.flags()).map_err(|e| netlink_error("detach xdp", &point, e))?;
                    detached.push(Detached::XdpProg { ifindex, mode: at, prog_id });
                }
            }
        }
        Ok(detached)
    }

    fn detach_tc(
        &self,
        ifindex: u32,
        direction: TcDirection,
        links: &[(OwnedFd, LinkInfo)],
        pins: &Path,
    ) -> Result<Vec<Detached>, AttachError> {
        let point = AttachPoint::Tc { ifindex, direction };
        let mut detached = Vec::new();
        // The query answers for this namespace's device; the id iterator
        // alone could not tell two namespaces' ifindex 2 apart.
        for link_id in self.tcx_link_ids(ifindex, direction)? {
            if let Some((fd, info)) = links.iter().find(|(_, i)| i.id == link_id && i.is_at(&point)) {
                detached.push(self.detach_link(fd.as_fd(), info, point, pins)?);
            }
        }
        let mut rtnl = Rtnl::open().map_err(|e| netlink_error("open", &point, e.into()))?;
        let parent = direction.clsact_parent();
        let filters = match rtnl.bpf_filters(ifindex, parent) {
            Ok(filters) => filters,
            // No clsact qdisc: no filters.
            Err(e) if matches!(e.source.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => Vec::new(),
            Err(e) => return Err(netlink_error("list filters", &point, e)),
        };
        for f in filters {
            rtnl.del_filter(ifindex, parent, f.prio, f.handle)
                .map_err(|e| netlink_error("delete filter", &point, e))?;
            detached.push(Detached::TcFilter(TcFilter::new(ifindex, direction, f)));
        }
        Ok(detached)
    }

    /// The ids of the tcx links at a side of a device (`BPF_PROG_QUERY`);
    /// none on a kernel without tcx.
    fn tcx_link_ids(&self, ifindex: u32, direction: TcDirection) -> Result<Vec<u32>, AttachError> {
        let mut capacity = 16u32;
        loop {
            let mut prog_ids = vec![0u32; capacity as usize];
            let mut link_ids = vec![0u32; capacity as usize];
            let mut attr = ProgQueryAttr {
                target_ifindex: ifindex,
                attach_type: direction.tcx_attach_type().value(),
                prog_ids: ptr_mut(&mut prog_ids),
                link_ids: ptr_mut(&mut link_ids),
                count: capacity,
                ..ProgQueryAttr::default()
            };
            match self.call(Cmd::ProgQuery, &mut attr) {
                Ok(_) => {
                    link_ids.truncate(attr.count.min(capacity) as usize);
                    link_ids.retain(|&id| id != 0);
                    return Ok(link_ids);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && attr.count > capacity => capacity = attr.count,
                Err(e) if no_tcx(&e) => return Ok(Vec::new()),
                Err(e) => return Err(KernelError::from(SyscallError::new(Cmd::ProgQuery, e)).into()),
            }
        }
    }

    fn detach_link(
        &self,
        fd: BorrowedFd<'_>,
        info: &LinkInfo,
        point: AttachPoint,
        pins: &Path,
    ) -> Result<Detached, AttachError> {
        let mut attr = LinkDetachAttr { link_fd: fd.as_raw_fd() as u32 };
        self.call(Cmd::LinkDetach, &mut attr).map_err(|e| AttachError::Detach {
            what: format!("link {}", info.id),
            source: SyscallError::new(Cmd::LinkDetach, e),
        })?;
        let mut unpinned = Vec::new();
        for path in self.link_pins(pins, info.id) {
            unpin(&path)?;
            unpinned.push(path);
        }
        Ok(Detached::Link { id: info.id, prog_id: info.prog_id, point, unpinned })
    }

    /// The pins of link `id` under the bpffs directory `root`; unreadable
    /// entries are passed over (a pin there is simply not found).
    fn link_pins(&self, root: &Path, id: u32) -> Vec<PathBuf> {
        let mut found = Vec::new();
        if !is_bpffs(root).unwrap_or(false) {
            return found;
        }
        let mut dirs = vec![root.to_owned()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(path),
                    Ok(t) if t.is_file() => {
                        let Ok(fd) = self.get_pinned(&path) else { continue };
                        if is_link_fd(fd.as_fd()) && self.link_info(fd.as_fd()).is_ok_and(|i| i.id == id) {
                            found.push(path);
                        }
                    }
                    _ => {}
                }
            }
        }
        found.sort();
        found
    }
}

/// Whether `fd` is a bpf link (its anonymous inode says so).
fn is_link_fd(fd: BorrowedFd<'_>) -> bool {
    // The kernel names a link's inode `bpf_link` when it is created and
    // `bpf-link` when it is opened again (BPF_OBJ_GET, GET_FD_BY_ID).
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .is_ok_and(|target| matches!(target.to_str(), Some("anon_inode:bpf_link" | "anon_inode:bpf-link")))
}

/// The errnos of a kernel that does not know tcx (or a link type).
fn no_tcx(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | 524))
}

fn attach_error(point: &AttachPoint, prog: &Prog, e: io::Error) -> AttachError {
    let cause = match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => None,
        Some(libc::ENODEV) => {
            Some(format!("no device with ifindex {} (removed, or in another network namespace)", point.ifindex()))
        }
        Some(libc::EINVAL) => Some(match point {
            AttachPoint::Xdp { mode, .. } => format!(
                "the kernel refused a field: the program `{}` (expected attach type), the flags {:#x} ({} mode) \
                 or the ifindex",
                prog.name(),
                mode.flags(),
                mode.name()
            ),
            AttachPoint::Tc { direction, .. } => format!(
                "the kernel refused a field: the attach type {} (tcx needs Linux 6.6) for the program `{}`, or \
                 the ifindex",
                direction.tcx_attach_type().name(),
                prog.name()
            ),
        }),
        Some(libc::EOPNOTSUPP | 524) => Some("this kernel cannot attach here (no tcx before Linux 6.6)".to_owned()),
        _ => None,
    };
    AttachError::Attach { point: point.to_string(), source: SyscallError::with_cause(Cmd::LinkCreate, e, cause) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_points_parse_from_their_command_line_form() {
        let lo = ifindex("lo").unwrap();
        let cases = [
            ("xdp:lo", AttachPoint::Xdp { ifindex: lo, mode: XdpMode::Auto }),
            ("xdp:lo:generic", AttachPoint::Xdp { ifindex: lo, mode: XdpMode::Generic }),
            ("xdp:lo:native", AttachPoint::Xdp { ifindex: lo, mode: XdpMode::Native }),
            ("tc:lo:ingress", AttachPoint::Tc { ifindex: lo, direction: TcDirection::Ingress }),
            ("tc:lo:egress", AttachPoint::Tc { ifindex: lo, direction: TcDirection::Egress }),
        ];
        for (spec, point) in cases {
            assert_eq!(AttachPoint::parse(spec).unwrap(), point, "{spec}");
        }
        assert_eq!(
            AttachPoint::parse("tc:lo:generic").unwrap_err().to_string(),
            "bad attach point `tc:lo:generic`: the tc direction is ingress or egress"
        );
        assert_eq!(
            AttachPoint::parse("tc:lo").unwrap_err().to_string(),
            "bad attach point `tc:lo`: tc needs a direction: tc:IFACE:ingress or tc:IFACE:egress"
        );
        assert_eq!(
            AttachPoint::parse("cgroup:/sys").unwrap_err().to_string(),
            "bad attach point `cgroup:/sys`: expected xdp:IFACE[:auto|native|generic] or tc:IFACE:ingress|egress"
        );
        assert_eq!(AttachPoint::parse("xdp:eth9").unwrap_err().to_string(), "no network interface `eth9`");
    }

    #[test]
    fn tc_sides_are_the_clsact_classes_tc_shows() {
        // `tc filter show dev X ingress` lists parent ffff:fff2.
        assert_eq!(TcDirection::Ingress.clsact_parent(), 0xffff_fff2);
        assert_eq!(TcDirection::Egress.clsact_parent(), 0xffff_fff3);
    }
}
