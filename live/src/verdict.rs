//! The kernel's verdict on a program, read so that a person can act on
//! it: the error, the instruction it stopped at, and the C source line of
//! that instruction (from the program's BTF line info).

use bpfx_isa::{InsnIdx, LineInfo, Program};
use bpfx_loader::Object;
use bpfx_loader::kernel::{
    Bpf, Errno, KernelError, LogLevel, ObjectLoadOptions, ProgLoadOptions, ProgramSelection, Rejected, VerifierLog,
};

/// What the running kernel's verifier said about a program.
#[derive(Debug)]
pub enum KernelVerdict {
    /// Loaded; the log holds the statistics.
    Accepted {
        log: VerifierLog,
    },
    Rejected(Box<KernelRejection>),
}

impl KernelVerdict {
    pub fn accepted(&self) -> bool {
        matches!(self, KernelVerdict::Accepted { .. })
    }

    pub fn log(&self) -> &VerifierLog {
        match self {
            KernelVerdict::Accepted { log } => log,
            KernelVerdict::Rejected(r) => &r.log,
        }
    }
}

/// A rejection, with the error placed in the program.
#[derive(Debug)]
pub struct KernelRejection {
    pub errno: Errno,
    /// The verifier's error (its last lines, without states).
    pub message: Option<String>,
    /// The instruction the verifier stopped at.
    pub at: Option<InsnIdx>,
    /// That instruction's source line, when the program has line info.
    pub source: Option<LineInfo>,
    pub log: VerifierLog,
}

impl KernelRejection {
    /// Reads `rejected` as a rejection of `program`.
    pub fn new(program: &Program, rejected: Rejected) -> Self {
        let at = rejected.log.error_insn();
        KernelRejection {
            errno: rejected.errno,
            message: rejected.log.error_message(),
            at,
            source: at.and_then(|at| program.line_at(at)).cloned(),
            log: rejected.log,
        }
    }
}

/// Loads a bare `program` (with fresh maps, no BTF) into the kernel to hear its verdict,
/// then unloads it. An error is the kernel path failing (no privileges,
/// a map the kernel refuses), not a verdict.
pub fn judge(bpf: &Bpf, program: &Program, options: &ProgLoadOptions<'_>) -> Result<KernelVerdict, KernelError> {
    let options = ProgLoadOptions { log_level: LogLevel::Level1, ..*options };
    match bpf.load(program, &options) {
        Ok((prog, _maps)) => Ok(KernelVerdict::Accepted { log: prog.log().clone() }),
        Err(KernelError::Rejected(rejected)) => {
            Ok(KernelVerdict::Rejected(Box::new(KernelRejection::new(program, *rejected))))
        }
        Err(e) => Err(e),
    }
}

/// Loads `program` of `object` into the kernel as libbpf would — the
/// object's BTF with it, so the kernel's log carries the source lines —
/// to hear its verdict, then unloads it. An error is the kernel path
/// failing (no privileges, a map or BTF the kernel refuses), not a verdict.
pub fn judge_in_object(bpf: &Bpf, object: &Object, program: &Program) -> Result<KernelVerdict, KernelError> {
    let options = ObjectLoadOptions { log_level: LogLevel::Level1, ..ObjectLoadOptions::default() };
    match bpf.load_object(object, ProgramSelection::Named(&[&program.name]), &options) {
        Ok(loaded) => {
            let log = loaded.prog(&program.name).map(|p| p.log().clone()).unwrap_or_default();
            Ok(KernelVerdict::Accepted { log })
        }
        Err(KernelError::Rejected(rejected)) => {
            Ok(KernelVerdict::Rejected(Box::new(KernelRejection::new(program, *rejected))))
        }
        Err(e) => Err(e),
    }
}

/// The kernel's log with the C source line written above the first
/// instruction of each line, as the kernel itself does when it was given
/// the line info (lines it already wrote are not repeated).
pub fn annotated_log(log: &VerifierLog, program: &Program) -> String {
    let mut out = String::with_capacity(log.text.len());
    let mut shown: Option<(String, u32)> = None;
    for (at, line) in log.lines() {
        if let Some((_, place)) = line.strip_prefix("; ").and_then(|l| l.rsplit_once(" @ ")) {
            shown = place.rsplit_once(':').and_then(|(file, n)| Some((basename(file).to_owned(), n.parse().ok()?)));
        } else if let Some(source) = at.and_then(|at| program.line_at(at)).filter(|l| l.line != 0) {
            // The kernel writes the file's base name only.
            let place = (basename(&source.file).to_owned(), source.line);
            if shown.as_ref() != Some(&place) {
                out.push_str(&format!("; {} @ {}:{}\n", source.source.trim(), source.file, source.line));
                shown = Some(place);
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use bpfx_isa::abi::ProgType;

    use super::*;

    fn line(at: u32, line: u32, source: &str) -> LineInfo {
        LineInfo {
            at: InsnIdx(at),
            file: "prog.c".into(),
            line,
            column: 1,
            source: source.into(),
            file_name_off: 0,
            line_off: 0,
        }
    }

    fn program() -> Program {
        let mut p = Program::new("p", ProgType::Xdp, Vec::new());
        p.line_info = vec![line(0, 10, "void *data = ctx->data;"), line(2, 12, "return *(u32 *)data;")];
        p
    }

    #[test]
    fn each_source_line_is_written_once_above_its_first_instruction() {
        let log = VerifierLog::parse(
            "0: R1=ctx() R10=fp0\n0: (61) r2 = *(u32 *)(r1 +0)\n1: (bf) r0 = r2\n2: (61) r0 = *(u32 *)(r2 +0)\n\
             invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)\n"
                .to_owned(),
        );
        let want = "0: R1=ctx() R10=fp0\n\
                    ; void *data = ctx->data; @ prog.c:10\n0: (61) r2 = *(u32 *)(r1 +0)\n1: (bf) r0 = r2\n\
                    ; return *(u32 *)data; @ prog.c:12\n2: (61) r0 = *(u32 *)(r2 +0)\n\
                    invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)\n";
        assert_eq!(annotated_log(&log, &program()), want);
    }

    #[test]
    fn source_lines_the_kernel_wrote_are_not_repeated() {
        let text = "; void *data = ctx->data; @ prog.c:10\n0: (61) r2 = *(u32 *)(r1 +0)\n1: (bf) r0 = r2\n";
        let log = VerifierLog::parse(text.to_owned());
        assert_eq!(annotated_log(&log, &program()), text);
        let mut deep = program();
        deep.line_info[0].file = "/src/xdp/prog.c".into();
        assert_eq!(annotated_log(&log, &deep), text, "the kernel writes base names");
    }

    #[test]
    fn a_program_without_line_info_keeps_its_log() {
        let text = "0: (b7) r0 = 0\n1: (95) exit\nprocessed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let log = VerifierLog::parse(text.to_owned());
        let bare = Program::new("p", ProgType::Xdp, Vec::new());
        assert_eq!(annotated_log(&log, &bare), text);
    }
}
