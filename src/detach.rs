//! `bpfx detach`: undoes `bpfx load --live`. With a hook, takes off
//! whatever is attached there (links, XDP programs attached without one,
//! cls_bpf filters), whoever attached it; with `--pin DIR`, detaches the
//! link pinned in DIR and removes the pins bpfx made there. Either way,
//! the pins `bpfx load` made for a link it detaches go too, so the
//! program and its maps leave the kernel.
//!
//! Exit 0 when something was detached or unpinned, 2 when there was
//! nothing to undo or the kernel refused.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bpfx_loader::kernel::{Bpf, DEFAULT_BPFFS, Detached};

use crate::load::parse_hook;
use crate::output;

/// Detaches what `bpfx load` attached and removes its pins
#[derive(clap::Args)]
pub struct Args {
    /// The hook: xdp:IFACE[:auto|native|generic] or tc:IFACE:ingress|egress
    #[arg(value_name = "HOOK", required_unless_present = "pin")]
    hook: Option<String>,
    /// The directory `bpfx load --pin` (or --attach) pinned into
    #[arg(long, value_name = "DIR")]
    pin: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let bpf = Bpf::new();
    let mut text = String::new();
    if let Some(hook) = &args.hook {
        let point = parse_hook(hook)?;
        let ours = pinned_links(&bpf);
        let detached = bpf.detach(&point).with_context(|| format!("detaching {hook}"))?;
        for d in &detached {
            text.push_str(&format!("detached: {d}\n"));
            let Detached::Link { id, .. } = d else { continue };
            for (_, dir) in ours.iter().filter(|(link, _)| link == id) {
                for path in remove_layout(dir)? {
                    text.push_str(&format!("unpinned: {}\n", path.display()));
                }
            }
        }
    }
    if let Some(dir) = &args.pin {
        if !dir.is_dir() {
            bail!("{}: no such pin directory", dir.display());
        }
        let link = dir.join("link");
        if link.exists() {
            let l = bpf.open_pinned_link(&link).with_context(|| format!("{}", link.display()))?;
            let id = l.id();
            l.detach().with_context(|| format!("{}", link.display()))?;
            text.push_str(&format!("detached: link {id} pinned at {}\n", link.display()));
        }
        for path in remove_layout(dir)? {
            text.push_str(&format!("unpinned: {}\n", path.display()));
        }
    }
    output::stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The links `bpfx load` pinned in its default place
/// (`/sys/fs/bpf/bpfx/<program>/link`): their ids and directories.
fn pinned_links(bpf: &Bpf) -> Vec<(u32, PathBuf)> {
    let root = Path::new(DEFAULT_BPFFS).join("bpfx");
    let Ok(entries) = std::fs::read_dir(&root) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let link = bpf.open_pinned_link(&dir.join("link")).ok()?;
            Some((link.id(), dir))
        })
        .collect()
}

/// Removes the pins of bpfx's layout in `dir` (`link`, `prog`,
/// `maps/NAME`) and then `dir` if that left it empty; returns the pins
/// removed.
fn remove_layout(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let maps = dir.join("maps");
    if maps.is_dir() {
        let entries = std::fs::read_dir(&maps).with_context(|| format!("{}", maps.display()))?;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            std::fs::remove_file(&path).with_context(|| format!("unpinning {}", path.display()))?;
            removed.push(path);
        }
        std::fs::remove_dir(&maps).with_context(|| format!("{}", maps.display()))?;
    }
    for name in ["link", "prog"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("unpinning {}", path.display()))?;
            removed.push(path);
        }
    }
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        std::fs::remove_dir(dir).with_context(|| format!("{}", dir.display()))?;
    }
    Ok(removed)
}
