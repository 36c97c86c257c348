//! `bpfx load PROG --live`: one program of an ELF object into the running
//! kernel — with its maps, BTF, global data and tail-call targets, as
//! libbpf loads it — then `--map-set` entries written, the program
//! attached (`--attach`) and pinned (`--pin`), and the kernel's ids
//! printed. A failure part-way leaves nothing behind: what was pinned is
//! unpinned, and the program, maps and link, no longer held, are freed.
//!
//! A link lives only as long as something holds it, so an attachment is
//! always pinned: under `--pin DIR` when given, else under
//! `/sys/fs/bpf/bpfx/<program>`. `bpfx detach` takes it off.
//!
//! Exit 0 when loaded (and attached), 1 when the kernel's verifier rejects
//! the program (its log shown, annotated with the C source), 2 for bad
//! input or when the kernel refuses otherwise (privileges, a busy hook, a
//! missing interface).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use bpfx_live::KernelRejection;
use bpfx_loader::kernel::{
    AttachPoint, Attachment, Bpf, DEFAULT_BPFFS, KernelError, LoadedObject, ObjectLoadOptions, ProgramSelection,
    is_bpffs, prepare_pin_path,
};
use bpfx_loader::{LoadOptions, Object};
use serde_json::json;

use crate::{live, output};

/// Loads a program into the running kernel, and attaches or pins it
#[derive(clap::Args)]
pub struct Args {
    /// An ELF object
    prog: PathBuf,
    /// The program, by function name (needed when the object has several)
    #[arg(short = 'p', long = "program")]
    program: Option<String>,
    /// Confirms the program goes into the running kernel (bpf(2), root)
    #[arg(long, required = true)]
    live: bool,
    /// Attaches it: xdp:IFACE[:auto|native|generic] or tc:IFACE:ingress|egress
    #[arg(long, value_name = "HOOK")]
    attach: Option<String>,
    /// Pins the program (`DIR/prog`), its link (`DIR/link`) and its maps
    /// (`DIR/maps/NAME`) in directory DIR on bpffs, mounting bpffs at
    /// /sys/fs/bpf when it is missing
    #[arg(long, value_name = "DIR")]
    pin: Option<PathBuf>,
    /// Where maps the object marks LIBBPF_PIN_BY_NAME are pinned by name,
    /// or reused when a compatible map is pinned there already (as libbpf;
    /// default /sys/fs/bpf). They stay after `bpfx detach`: other programs
    /// share them
    #[arg(long, value_name = "DIR")]
    pin_root: Option<PathBuf>,
    /// Sets a map entry after loading (hex key and value)
    #[arg(long = "map-set", value_name = "NAME:KEYHEX:VALUEHEX")]
    map_set: Vec<String>,
    /// Print one JSON document
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let name = args.prog.display();
    let point = args.attach.as_deref().map(parse_hook).transpose()?;
    let bytes = std::fs::read(&args.prog).with_context(|| format!("{name}"))?;
    let object = Object::load(&bytes, &LoadOptions::default()).with_context(|| format!("{name}"))?;
    let program = match (&args.program, object.programs()) {
        (Some(p), programs) => programs.iter().find(|x| &x.name == p),
        (None, [one]) => Some(one),
        (None, _) => None,
    };
    let Some(program) = program else {
        let names: Vec<String> = object.programs().iter().map(|p| format!("{} ({})", p.name, p.section)).collect();
        bail!("{name}: choose one program with -p; the object has {}", names.join(", "));
    };
    let bpf = Bpf::new();
    let pin_root = args.pin_root.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_BPFFS));
    let options = ObjectLoadOptions { pin_root: Some(pin_root), ..ObjectLoadOptions::default() };
    let loaded = match bpf.load_object(&object, ProgramSelection::Named(&[&program.name]), &options) {
        Ok(loaded) => loaded,
        Err(KernelError::Rejected(rejected)) => {
            let rejection = KernelRejection::new(program, *rejected);
            if args.json {
                let doc = json!({ "program": program.name, "kernel": live::rejection_json(program, &rejection) });
                output::stdout(format!("{doc:#}\n").as_bytes())?;
            } else {
                eprint!("{}", live::rejection_text(program, &rejection));
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("{name}: loading `{}` into the kernel", program.name)));
        }
    };
    if let Some(e) = loaded.btf_dropped() {
        eprintln!("note: the kernel refused the object's BTF, so it was loaded without it: {e}");
    }
    for slot in loaded.empty_slots() {
        eprintln!("note: prog array `{}` slot {} stays empty: `{}` was not loaded", slot.map, slot.slot, slot.program);
    }
    // Maps this load pinned by name come off again if a later step fails;
    // the ones it found pinned are never removed.
    let mut pins = Pins::default();
    pins.made.extend(loaded.pinned_by_name().iter().filter(|p| !p.reused).map(|p| p.path.clone()));
    let prog = loaded.prog(&program.name).ok_or_else(|| anyhow!("{name}: `{}` was not loaded", program.name))?;
    for set in &args.map_set {
        live::map_set(loaded.maps(), set)?;
    }
    let attachment = match &point {
        Some(point) => Some(bpf.attach(prog, point).with_context(|| format!("{name}: attaching `{}`", program.name))?),
        None => None,
    };
    let pin_dir = args
        .pin
        .clone()
        .or_else(|| attachment.as_ref().and_then(Attachment::link).map(|_| default_pin_dir(&program.name)));
    let done = (|| {
        if let Some(dir) = &pin_dir {
            pins.pin_all(&loaded, &program.name, attachment.as_ref(), dir)
                .with_context(|| format!("pinning in {}", dir.display()))?;
        }
        report(args, &loaded, &program.name, point.as_ref(), attachment.as_ref(), &pins)
    })();
    match done {
        Ok(()) => {
            pins.keep();
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // A link would come off once closed, but a tc filter made
            // through netlink stays until removed.
            if let Some(a) = attachment {
                a.detach().with_context(|| format!("{e:#}; and then detaching again"))?;
            }
            Err(e)
        }
    }
}

/// `xdp:IFACE[:auto|native|generic]` or `tc:IFACE:ingress|egress`, its
/// interface looked up in this network namespace.
pub fn parse_hook(spec: &str) -> anyhow::Result<AttachPoint> {
    Ok(AttachPoint::parse(spec)?)
}

fn default_pin_dir(program: &str) -> PathBuf {
    Path::new(DEFAULT_BPFFS).join("bpfx").join(program)
}

/// The pins made so far; dropped before [`Pins::keep`], they are removed
/// again (a failure part-way).
#[derive(Default)]
struct Pins {
    made: Vec<PathBuf>,
    dir: Option<PathBuf>,
    kept: bool,
}

impl Pins {
    fn pin_all(
        &mut self,
        loaded: &LoadedObject,
        program: &str,
        attachment: Option<&Attachment>,
        dir: &Path,
    ) -> anyhow::Result<()> {
        if dir.exists() {
            bail!("{} exists; unpin what is there first (bpfx detach --pin {})", dir.display(), dir.display());
        }
        if dir.starts_with(DEFAULT_BPFFS) && !is_bpffs(Path::new(DEFAULT_BPFFS)).unwrap_or(false) {
            eprintln!(
                "note: {DEFAULT_BPFFS} is not a bpf filesystem here, so bpfx mounts one; under `ip netns exec`, \
                 which gives the command a private /sys, that mount and the pins in it vanish when bpfx exits and \
                 the program comes off again (use `nsenter --net=/run/netns/NAME` instead)"
            );
        }
        prepare_pin_path(&dir.join("prog"))?;
        self.dir = Some(dir.to_owned());
        let bpf = Bpf::new();
        let prog = loaded.prog(program).ok_or_else(|| anyhow!("`{program}` was not loaded"))?;
        self.pin(&dir.join("prog"), |p| bpf.pin(prog.fd(), p))?;
        if let Some(link) = attachment.and_then(Attachment::link) {
            self.pin(&dir.join("link"), |p| link.pin(p))?;
        }
        if !loaded.maps().is_empty() {
            std::fs::create_dir(dir.join("maps")).with_context(|| format!("{}/maps", dir.display()))?;
            self.made.push(dir.join("maps"));
        }
        for map in loaded.maps() {
            // bpffs refuses dots in names (`.bss`, `.rodata`): libbpf's
            // renaming.
            let name = map.spec().name.replace('.', "_");
            self.pin(&dir.join("maps").join(name), |p| bpf.pin(map.fd(), p))?;
        }
        Ok(())
    }

    fn pin(&mut self, path: &Path, pin: impl FnOnce(&Path) -> Result<(), KernelError>) -> anyhow::Result<()> {
        pin(path).with_context(|| format!("{}", path.display()))?;
        self.made.push(path.to_owned());
        Ok(())
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Files first, then the directories they were in, newest first.
        for path in self.made.iter().rev().chain(&self.dir) {
            let _ = if path.is_dir() { std::fs::remove_dir(path) } else { std::fs::remove_file(path) };
        }
    }
}

fn report(
    args: &Args,
    loaded: &LoadedObject,
    program: &str,
    point: Option<&AttachPoint>,
    attachment: Option<&Attachment>,
    pins: &Pins,
) -> anyhow::Result<()> {
    let prog = loaded.prog(program).ok_or_else(|| anyhow!("`{program}` was not loaded"))?;
    let info = prog.info()?;
    let tag: String = info.tag.iter().map(|b| format!("{b:02x}")).collect();
    let mut maps = Vec::new();
    for map in loaded.maps() {
        maps.push((map.spec().name.clone(), map.info()?.id));
    }
    let reused: Vec<&Path> = loaded.pinned_by_name().iter().filter(|p| p.reused).map(|p| p.path.as_path()).collect();
    let attached = point.zip(attachment).map(|(point, a)| match a {
        Attachment::Link(link) => (point.to_string(), format!("link id {}", link.id())),
        Attachment::TcFilter(filter) => (point.to_string(), format!("{filter}")),
    });
    if args.json {
        let doc = json!({
            "program": { "name": program, "id": info.id, "tag": tag, "type": prog.prog_type().name() },
            "maps": maps.iter().map(|(n, id)| json!({ "name": n, "id": id })).collect::<Vec<_>>(),
            "attached": attached.as_ref().map(|(at, by)| json!({ "at": at, "by": by })),
            "link_id": attachment.and_then(Attachment::link).map(|l| l.id()),
            "pinned": pins.made.iter().filter(|p| !p.is_dir()).map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "reused_pins": reused.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "processed_insns": prog.log().stats.map(|s| s.insns_processed),
        });
        output::stdout(format!("{doc:#}\n").as_bytes())?;
        return Ok(());
    }
    let mut text = format!("{program}: loaded, prog id {} (tag {tag}, {})\n", info.id, prog.prog_type().name());
    for (name, id) in &maps {
        text.push_str(&format!("  map {name}: id {id}\n"));
    }
    if let Some((at, by)) = &attached {
        text.push_str(&format!("attached: {at}, {by}\n"));
    }
    for path in pins.made.iter().filter(|p| !p.is_dir()) {
        text.push_str(&format!("pinned: {}\n", path.display()));
    }
    for path in &reused {
        text.push_str(&format!("reused: {} (pinned by name, shared)\n", path.display()));
    }
    output::stdout(text.as_bytes())
}
