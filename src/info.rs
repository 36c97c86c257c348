//! `bpfx info PROG [--json]`: what a user checks first about an object —
//! its programs (name, section, type, expected attach type, instruction
//! count), maps (name, type, sizes, entries, flags, initial data), license,
//! externs and BTF (as prepared for the kernel: data sections sized, extern
//! declarations rewritten as libbpf rewrites them) — read as compiled,
//! without the machine's kernel.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bpfx_isa::{MapSpec, Pinning, Program};
use bpfx_loader::{ExternKind, LoadOptions, Object};
use serde_json::{Value, json};

use crate::input::{self, Prog};
use crate::output;

/// Describes a program: an ELF object (.o), raw bytecode (.bin) or assembly (.s).
#[derive(clap::Args)]
pub struct Args {
    /// An ELF object (.o), raw bytecode (.bin) or assembly (.s).
    prog: PathBuf,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let doc = match input::read(&args.prog)? {
        Prog::Object(_) => {
            let bytes = std::fs::read(&args.prog).with_context(|| format!("{}", args.prog.display()))?;
            // As compiled: CO-RE and kconfig values are the machine's
            // business, not the object's description.
            let object = Object::load(&bytes, &LoadOptions::as_compiled())
                .with_context(|| format!("{}", args.prog.display()))?;
            object_doc(&args.prog, &object)
        }
        Prog::Insns(insns) => {
            let stem = args.prog.file_stem().map_or_else(|| "prog".into(), |s| s.to_string_lossy().into_owned());
            let program = Program::new(stem, bpfx_isa::abi::ProgType::Unspec, insns);
            json!({
                "file": args.prog.display().to_string(),
                "format": "instructions",
                "programs": [program_doc(&program)],
                "maps": [],
            })
        }
    };
    let text = if args.json { format!("{doc:#}\n") } else { text(&doc) };
    output::stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn object_doc(path: &Path, object: &Object) -> Value {
    let externs: Vec<Value> = object
        .externs()
        .iter()
        .map(|e| {
            let kind = match e.kind {
                ExternKind::Kconfig { .. } => "kconfig",
                ExternKind::Ksym { function: true, .. } => "kfunc",
                ExternKind::Ksym { function: false, .. } => "ksym",
            };
            json!({ "name": e.name, "kind": kind, "weak": e.weak })
        })
        .collect();
    let btf = object.btf().map(|btf| {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, t) in btf.types().skip(1) {
            *kinds.entry(t.kind.name()).or_default() += 1;
        }
        json!({ "types": btf.len() - 1, "string_bytes": btf.strings().len(), "kinds": kinds })
    });
    let btf_ext = object.btf_ext().map(|ext| {
        let func_info: usize = ext.func_info.iter().map(|s| s.records.len()).sum();
        let line_info: usize = ext.line_info.iter().map(|s| s.records.len()).sum();
        json!({
            "func_info": func_info,
            "line_info": line_info,
            "core_relocations": object.core_summary().relocations,
        })
    });
    json!({
        "file": path.display().to_string(),
        "format": "elf",
        "license": object.license(),
        "version": object.version(),
        "programs": object.programs().iter().map(program_doc).collect::<Vec<_>>(),
        "maps": object.maps().iter().map(map_doc).collect::<Vec<_>>(),
        "externs": externs,
        "btf": btf,
        "btf_ext": btf_ext,
    })
}

fn program_doc(p: &Program) -> Value {
    json!({
        "name": p.name,
        "section": p.section,
        "type": p.prog_type.name(),
        "expected_attach_type": p.expected_attach_type.map(|t| t.name()),
        "prog_flags": p.prog_flags,
        "insns": p.slot_count(),
        "functions": p.func_info.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        "maps": p.maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
    })
}

fn map_doc(m: &MapSpec) -> Value {
    json!({
        "name": m.name,
        "type": m.map_type.name(),
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "flags": m.flags,
        "initial_data_size": m.initial_data.as_ref().map(Vec::len),
        "btf_key_type_id": m.btf_key_type_id,
        "btf_value_type_id": m.btf_value_type_id,
        "pinning": match m.pinning {
            Pinning::None => "none",
            Pinning::ByName => "by_name",
        },
        "numa_node": m.numa_node,
        "map_extra": m.map_extra,
        "inner_map": m.inner_map.as_deref().map(map_doc),
        "initial_slots": m.initial_slots.iter().map(|(i, name)| json!({ "index": i, "name": name })).collect::<Vec<_>>(),
    })
}

/// The document as aligned text tables.
fn text(doc: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let _ = writeln!(out, "{}", s(&doc["file"]));
    if doc["format"] == "elf" {
        let _ = writeln!(out, "license: {}", s(&doc["license"]));
        if !doc["version"].is_null() {
            let _ = writeln!(out, "version: {:#x}", doc["version"].as_u64().unwrap_or(0));
        }
    }
    let programs: Vec<Vec<String>> = doc["programs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                s(&p["name"]),
                if p["section"] == "" { "-".into() } else { s(&p["section"]) },
                s(&p["type"]),
                s(&p["expected_attach_type"]),
                s(&p["insns"]),
            ]
        })
        .collect();
    out.push_str("\nprograms:\n");
    table(&mut out, &["NAME", "SECTION", "TYPE", "ATTACH", "INSNS"], &programs);
    let maps: Vec<Vec<String>> = doc["maps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                s(&m["name"]),
                s(&m["type"]),
                s(&m["key_size"]),
                s(&m["value_size"]),
                s(&m["max_entries"]),
                format!("{:#x}", m["flags"].as_u64().unwrap_or(0)),
                s(&m["initial_data_size"]),
            ]
        })
        .collect();
    if !maps.is_empty() {
        out.push_str("\nmaps:\n");
        table(&mut out, &["NAME", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "DATA"], &maps);
    }
    if let Some(externs) = doc["externs"].as_array().filter(|e| !e.is_empty()) {
        let rows: Vec<Vec<String>> = externs
            .iter()
            .map(|e| vec![s(&e["name"]), s(&e["kind"]), if e["weak"] == true { "weak".into() } else { "-".into() }])
            .collect();
        out.push_str("\nexterns:\n");
        table(&mut out, &["NAME", "KIND", "WEAK"], &rows);
    }
    if doc["format"] == "elf" {
        out.push('\n');
        match &doc["btf"] {
            Value::Null => out.push_str("btf: none\n"),
            btf => {
                let _ = writeln!(out, "btf: {} types, {} bytes of strings", btf["types"], btf["string_bytes"]);
            }
        }
        if let ext @ Value::Object(_) = &doc["btf_ext"] {
            let _ = writeln!(
                out,
                "btf.ext: {} func info, {} line info, {} CO-RE relocations",
                ext["func_info"], ext["line_info"], ext["core_relocations"]
            );
        }
    }
    out
}

/// Rows under a header, columns padded to their widest cell.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    out.push_str(&line(header.to_vec()));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
}
