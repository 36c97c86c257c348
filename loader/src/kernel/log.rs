//! The kernel verifier's log, read: its closing statistics and, for a
//! rejected program, the error and the instruction the verifier was at.
//!
//! The shapes read are those `kernel/bpf/verifier.c` prints:
//! `12: (61) r2 = *(u32 *)(r1 +4)` for an instruction (slot index, opcode),
//! `12: R1=ctx() ...` for a state, `; source @ file.c:3` for a source line,
//! then `verification time 5 usec`, `stack depth 0+8` (with
//! `BPF_LOG_STATS`) and
//! `processed N insns (limit L) max_states_per_insn M total_states T
//! peak_states P mark_read R`.

use std::io;

use bpfx_isa::InsnIdx;

use super::error::KernelError;
use super::sys::Cmd;

/// The largest log the kernel accepts (`UINT_MAX >> 2`).
pub const KERNEL_MAX_LOG_SIZE: u32 = u32::MAX >> 2;

/// How large a log buffer grows by default before bpfx gives up: enough
/// for a level-2 log of a program far past the usual sizes.
pub const DEFAULT_LOG_LIMIT: u32 = 16 << 20;

/// The first buffer: most logs of level 1 fit.
pub const DEFAULT_LOG_START: u32 = 64 << 10;

/// Runs `call` with a log buffer that starts at `start` bytes and grows
/// (to the size the kernel says it needs, or double) while the kernel
/// reports ENOSPC for a log that did not fit, up to `limit`. Returns the
/// call's last result and its log.
pub(crate) fn with_growing_log<T>(
    cmd: Cmd,
    start: u32,
    limit: u32,
    mut call: impl FnMut(&mut [u8]) -> (io::Result<T>, u32),
) -> Result<(io::Result<T>, String), KernelError> {
    let limit = limit.clamp(1, KERNEL_MAX_LOG_SIZE);
    // The kernel refuses a log buffer under 128 bytes on older versions.
    let mut size = start.clamp(128.min(limit), limit);
    loop {
        let mut buf = vec![0u8; size as usize];
        let (result, true_size) = call(&mut buf);
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let text = String::from_utf8_lossy(&buf[..end]).into_owned();
        let no_space = matches!(&result, Err(e) if e.raw_os_error() == Some(libc::ENOSPC));
        // Kernels before 6.4 do not report the true size; a full buffer
        // with ENOSPC is then the sign of a cut log.
        let cut = no_space && (true_size > size || (true_size == 0 && end + 1 >= buf.len()));
        if !cut {
            return Ok((result, text));
        }
        if size >= limit {
            let needed = (true_size > size).then_some(true_size);
            return Err(KernelError::LogTooLarge { call: cmd, limit, needed, log: text });
        }
        size = size.saturating_mul(2).max(true_size).min(limit);
    }
}

/// `processed N insns ...`: how much work the verifier did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifierStats {
    /// Instructions the verifier walked (a slot counts once per visit).
    pub insns_processed: u64,
    /// The complexity limit it walked them under.
    pub insn_limit: u64,
    pub max_states_per_insn: u64,
    pub total_states: u64,
    pub peak_states: u64,
    pub mark_read: u64,
}

/// A verifier log and what bpfx reads from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifierLog {
    /// The log as the kernel wrote it.
    pub text: String,
    pub stats: Option<VerifierStats>,
    /// `verification time N usec` (with `BPF_LOG_STATS`).
    pub verification_time_usec: Option<u64>,
    /// `stack depth 0+8`: bytes of stack per subprogram (with `BPF_LOG_STATS`).
    pub stack_depth: Vec<u32>,
}

impl VerifierLog {
    pub fn parse(text: String) -> Self {
        let mut log = VerifierLog { text, ..VerifierLog::default() };
        for line in log.text.lines() {
            if let Some(rest) = line.strip_prefix("verification time ") {
                log.verification_time_usec = rest.strip_suffix(" usec").and_then(|n| n.parse().ok());
            } else if let Some(rest) = line.strip_prefix("stack depth ") {
                log.stack_depth = rest.split('+').map_while(|d| d.trim().parse().ok()).collect();
            } else if line.starts_with("processed ") {
                log.stats = parse_stats(line);
            }
        }
        log
    }

    /// The error a rejected program's log ends with: the lines after the
    /// last instruction the verifier printed, up to the statistics, states
    /// and source lines left out. For an accepted program this is
    /// whatever the log ends with, so ask only of a rejected one.
    pub fn error_message(&self) -> Option<String> {
        let body = self.body();
        let start = body.iter().rposition(|l| insn_line(l).is_some()).map_or(0, |i| i + 1);
        let lines: Vec<&str> = body[start..].iter().copied().filter(|l| !is_context(l)).collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The slot the verifier was at when it stopped: the last instruction
    /// line of the log (`12: (61) ...`); without one (the checks before
    /// the walk, or a log without instructions), the first `insn N` the
    /// error names (`unreachable insn 2`, `back-edge from insn 3 to 1`).
    pub fn error_insn(&self) -> Option<InsnIdx> {
        self.body().iter().rev().find_map(|l| insn_line(l)).or_else(|| {
            let message = self.error_message()?;
            let words: Vec<&str> = message.split_whitespace().collect();
            words.windows(2).find(|w| w[0] == "insn").and_then(|w| w[1].trim_end_matches(',').parse().ok()).map(InsnIdx)
        })
    }

    /// Every instruction line: its slot and the verifier's text for it.
    pub fn insn_lines(&self) -> impl Iterator<Item = (InsnIdx, &str)> {
        self.text.lines().filter_map(|l| Some((insn_line(l)?, l)))
    }

    /// Every line of the log with the slot it shows, when it is an
    /// instruction line.
    pub fn lines(&self) -> impl Iterator<Item = (Option<InsnIdx>, &str)> {
        self.text.lines().map(|l| (insn_line(l), l))
    }

    /// The log without its closing statistics lines.
    fn body(&self) -> Vec<&str> {
        let lines: Vec<&str> = self.text.lines().collect();
        let end = lines.iter().position(|l| is_stats(l)).unwrap_or(lines.len());
        lines[..end].to_vec()
    }
}

/// `12: (61) ...` is slot 12; `12: R1=...` (a state) is not an
/// instruction line.
fn insn_line(line: &str) -> Option<InsnIdx> {
    let (idx, rest) = line.split_once(": (")?;
    if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The opcode in hex, as `(61)` or `(bf)`.
    let (code, _) = rest.split_once(')')?;
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    idx.parse().ok().map(InsnIdx)
}

fn is_stats(line: &str) -> bool {
    line.starts_with("verification time ") || line.starts_with("stack depth ") || line.starts_with("processed ")
}

/// Lines around an error that are not the error: register states, source
/// lines, precision tracking, path markers, subprogram starts and the
/// liveness listing of level 2.
fn is_context(line: &str) -> bool {
    let numbered =
        |l: &str| l.split_once(':').is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    numbered(line.trim_start())
        || line.starts_with("; ")
        || line.starts_with("mark_precise: ")
        || line.starts_with("from ")
        || line.starts_with("last_idx ")
        || line.starts_with("regs=")
        || line.starts_with("func#")
        || line.starts_with("Live regs before insn:")
        || line.trim().is_empty()
}

/// `processed 5 insns (limit 1000000) max_states_per_insn 0 total_states 0
/// peak_states 0 mark_read 0`.
fn parse_stats(line: &str) -> Option<VerifierStats> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| -> Option<u64> {
        let at = words.iter().position(|w| *w == key)?;
        words.get(at + 1)?.trim_start_matches('(').trim_end_matches(')').parse().ok()
    };
    Some(VerifierStats {
        insns_processed: after("processed")?,
        insn_limit: after("(limit").or_else(|| after("limit"))?,
        max_states_per_insn: after("max_states_per_insn")?,
        total_states: after("total_states")?,
        peak_states: after("peak_states")?,
        mark_read: after("mark_read")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insn_lines_are_slot_and_opcode() {
        assert_eq!(insn_line("12: (61) r2 = *(u32 *)(r1 +4)"), Some(InsnIdx(12)));
        assert_eq!(insn_line("0: (bf) r0 = r2"), Some(InsnIdx(0)));
        assert_eq!(insn_line("12: R1=ctx() R10=fp0"), None);
        assert_eq!(insn_line("from 3 to 5: (bf)"), None);
        assert_eq!(insn_line("; return 0; @ x.c:3"), None);
        assert_eq!(insn_line("12: (zz) nope"), None);
    }

    #[test]
    fn statistics_lines_are_read() {
        let log = VerifierLog::parse(
            "verification time 17 usec\nstack depth 8+0+16\n\
             processed 5 insns (limit 1000000) max_states_per_insn 1 total_states 2 peak_states 3 mark_read 4\n"
                .to_owned(),
        );
        assert_eq!(log.verification_time_usec, Some(17));
        assert_eq!(log.stack_depth, [8, 0, 16]);
        let want = VerifierStats {
            insns_processed: 5,
            insn_limit: 1_000_000,
            max_states_per_insn: 1,
            total_states: 2,
            peak_states: 3,
            mark_read: 4,
        };
        assert_eq!(log.stats, Some(want));
    }

    #[test]
    fn truncated_and_foreign_text_reads_as_nothing() {
        let log = VerifierLog::parse("processed five insns\nverification time x usec\n".to_owned());
        assert_eq!((log.stats, log.verification_time_usec), (None, None));
        assert_eq!(VerifierLog::parse(String::new()).error_message(), None);
    }
}
