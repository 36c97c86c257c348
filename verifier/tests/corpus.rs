//! The kernel-agreement corpus: every program in `tests/corpus` is judged
//! by bpfx and by this machine's kernel (loaded through bpf(2)), and the
//! verdicts must agree, except for the cases listed in
//! `tests/known-gaps.txt` — which must still disagree, so that the list
//! stays current. Prints the agreement and the unsound accepts (bpfx
//! accepts what the kernel rejects). Skipped, saying why, where bpf(2) is
//! not allowed.

mod support;

use std::collections::BTreeMap;
use std::rc::Rc;

use bpfx_isa::Program;
use bpfx_isa::abi::ProgType;
use bpfx_loader::Object;
use bpfx_verifier::{Options, verify};
use support::{
    KernelVerdict, UnprivilegedBpf, build_c, clang_available, corpus_dir, corpus_files, kernel_available,
    kernel_verdict, kernel_verdict_in_object, kernel_verdict_unprivileged, read_asm,
};

fn known_gaps() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus_dir().join("../known-gaps.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('#') {
            Some((name, why)) => (name.trim().to_owned(), why.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// A corpus program and what bpfx's diagnostic must say when it rejects.
struct Case {
    name: String,
    program: Program,
    code: Option<String>,
    /// The source line the diagnostic must point at (C programs).
    line: Option<u32>,
    /// The object a C program came from: the kernel is asked with its BTF.
    object: Option<Rc<Object>>,
}

fn cases(failures: &mut Vec<String>) -> Vec<Case> {
    let mut cases = Vec::new();
    for path in corpus_files("s") {
        match read_asm(&path) {
            Ok(c) => cases.push(Case { name: c.name, program: c.program, code: c.expect, line: None, object: None }),
            Err(e) => failures.push(e),
        }
    }
    if let Err(why) = clang_available() {
        eprintln!("corpus: the C programs are skipped: {why}");
        return cases;
    }
    for path in corpus_files("c") {
        match build_c(&path) {
            Ok((object, expect)) => {
                let object = Rc::new(object);
                for program in object.programs().iter().cloned() {
                    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
                    let (code, line) = match &expect {
                        Some(e) => (Some(e.code.clone()), Some(e.line)),
                        None => (None, None),
                    };
                    cases.push(Case { name, program, code, line, object: Some(Rc::clone(&object)) });
                }
            }
            Err(e) => failures.push(e),
        }
    }
    cases
}

#[test]
fn bpfx_agrees_with_the_kernel_on_the_corpus() {
    if let Err(why) = kernel_available() {
        eprintln!("corpus: skipped, the kernel cannot be asked: {why}");
        return;
    }
    let gaps = known_gaps();
    let mut failures = Vec::new();
    let (mut total, mut agree, mut unsound, mut kernel_rejects) = (0, 0, Vec::new(), 0);
    for case in cases(&mut failures) {
        let report = verify(&case.program, &Options::default());
        let asked = match &case.object {
            Some(object) => kernel_verdict_in_object(object, &case.program.name),
            None => kernel_verdict(&case.program),
        };
        let kernel = match asked {
            Ok(KernelVerdict::MapsRefused(why)) => {
                failures.push(format!("{}: the kernel refused its maps: {why}", case.name));
                continue;
            }
            Ok(k) => k,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        total += 1;
        let bpfx_ok = report.accepted();
        let kernel_ok = kernel == KernelVerdict::Accepted;
        kernel_rejects += usize::from(!kernel_ok);
        let bpfx_said = report.diagnostics.first().map(|d| format!("[{}] {}", d.code.as_str(), d.message));
        if bpfx_ok == kernel_ok {
            agree += 1;
            if gaps.contains_key(&case.name) {
                failures.push(format!("{}: listed in known-gaps.txt but bpfx now agrees; remove it", case.name));
            }
        } else {
            if bpfx_ok {
                unsound.push(case.name.clone());
            }
            if !gaps.contains_key(&case.name) {
                failures.push(format!(
                    "{}: bpfx {} but the kernel {}{}",
                    case.name,
                    bpfx_said.clone().map_or("accepts".to_string(), |d| format!("rejects: {d}")),
                    if kernel_ok { "accepts" } else { "rejects" },
                    match &kernel {
                        KernelVerdict::Rejected(why) | KernelVerdict::MapsRefused(why) => format!(": {why}"),
                        KernelVerdict::Accepted => String::new(),
                    }
                ));
            }
        }
        if let (Some(code), false) = (&case.code, bpfx_ok) {
            let got = report.diagnostics.first().map(|d| d.code.as_str()).unwrap_or("");
            if got != code {
                failures.push(format!(
                    "{}: expected diagnostic {code}, bpfx gave {}",
                    case.name,
                    bpfx_said.clone().unwrap_or_default()
                ));
            }
            let at = report.diagnostics.first().and_then(|d| d.source.as_ref()).map(|s| s.line);
            if case.line.is_some() && at != case.line {
                failures.push(format!(
                    "{}: the diagnostic should point at line {:?}, it points at {at:?}",
                    case.name, case.line
                ));
            }
        }
    }
    let pct = if total == 0 { 0.0 } else { 100.0 * agree as f64 / total as f64 };
    eprintln!(
        "corpus: {agree}/{total} programs agree with the kernel ({pct:.1}%); the kernel rejects {kernel_rejects}; unsound accepts: {} {:?}",
        unsound.len(),
        unsound
    );
    for name in gaps.keys() {
        if !corpus_files("s").iter().any(|p| p.file_stem().is_some_and(|s| s == name.as_str())) {
            failures.push(format!("{name}: listed in known-gaps.txt but not in the corpus"));
        }
    }
    assert!(failures.is_empty(), "{} corpus failures:\n{}", failures.len(), failures.join("\n"));
}

/// bpfx's unprivileged verdicts (`Options { privileged: false }`) against
/// the kernel's for a loader without capabilities, on every assembly
/// corpus program of the types such a loader may load (socket_filter,
/// cgroup_skb; the others are refused before any verifying).
#[test]
fn bpfx_unprivileged_agrees_with_the_kernel() {
    if let Err(why) = kernel_available() {
        eprintln!("corpus (unprivileged): skipped, the kernel cannot be asked: {why}");
        return;
    }
    let guard = match UnprivilegedBpf::enable() {
        Ok(g) => g,
        Err(why) => {
            eprintln!("corpus (unprivileged): skipped, unprivileged loaders cannot use bpf(2) here: {why}");
            return;
        }
    };
    let opts = Options { privileged: false, ..Options::default() };
    let mut failures = Vec::new();
    let (mut total, mut kernel_rejects, mut only_privileged, mut maps_refused) = (0, 0, 0, 0);
    for path in corpus_files("s") {
        let case = match read_asm(&path) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if !matches!(case.program.prog_type, ProgType::SocketFilter | ProgType::CgroupSkb) {
            continue;
        }
        let kernel = match kernel_verdict_unprivileged(&guard, &case.program) {
            // A map type only privileged loaders may create: no program
            // verdict to compare with.
            Ok(KernelVerdict::MapsRefused(_)) => {
                maps_refused += 1;
                continue;
            }
            Ok(k) => k,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        total += 1;
        let report = verify(&case.program, &opts);
        let (bpfx_ok, kernel_ok) = (report.accepted(), kernel == KernelVerdict::Accepted);
        kernel_rejects += usize::from(!kernel_ok);
        only_privileged += usize::from(!kernel_ok && verify(&case.program, &Options::default()).accepted());
        if bpfx_ok != kernel_ok {
            failures.push(format!(
                "{}: unprivileged, bpfx {} but the kernel {}",
                case.name,
                report.diagnostics.first().map_or("accepts".into(), |d| format!(
                    "rejects: [{}] {}",
                    d.code.as_str(),
                    d.message
                )),
                match &kernel {
                    KernelVerdict::Accepted => "accepts".into(),
                    KernelVerdict::Rejected(why) | KernelVerdict::MapsRefused(why) => format!("rejects: {why}"),
                }
            ));
        }
    }
    drop(guard);
    eprintln!(
        "corpus (unprivileged): {total} programs compared, the kernel rejects {kernel_rejects} ({only_privileged} of them load with privileges); {maps_refused} not compared (their maps need privileges)"
    );
    assert!(failures.is_empty(), "{} unprivileged failures:\n{}", failures.len(), failures.join("\n"));
}
