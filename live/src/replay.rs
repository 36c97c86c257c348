//! Each packet through a bpfx engine and through the kernel's
//! `BPF_PROG_TEST_RUN`, one after the other, each side keeping its own maps
//! across packets, and the two results compared field by field: refusal
//! errno, return value, output packet and, for socket-buffer programs, the
//! `__sk_buff` the kernel copies back.
//!
//! The kernel gets a frame exactly as bpfx's [`Context::test_run`] does
//! (the whole Ethernet frame; for socket-buffer programs a zeroed
//! `__sk_buff` in and out). A frame bpfx does not model — a multi-buffer
//! XDP frame, larger than one page — is not sent to the kernel either, so
//! that both sides' maps stay comparable; [`Compared::kernel`] is `None`
//! for it.

use std::fmt;
use std::time::Duration;

use bpfx_isa::abi::ProgType;
use bpfx_isa::abi::SK_BUFF;
use bpfx_loader::kernel::{Errno, KernelError, Prog, TestRun};
use bpfx_runtime::replay::{self, Outcome, Ran, Replayer};
use bpfx_runtime::{Context, Exit, RunError};

/// `EOPNOTSUPP`: bpfx's refusal of a frame it does not model.
const NOT_MODELLED: i32 = 95;

/// A replay could not go on: one side failed otherwise than by refusing
/// the frame.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("bpfx: {0}")]
    Bpfx(#[from] RunError),
    #[error("the kernel: {0}")]
    Kernel(#[from] KernelError),
}

/// The kernel's result for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelOutcome {
    /// `BPF_PROG_TEST_RUN` refused the frame.
    Refused {
        errno: Errno,
        reason: String,
    },
    Ran(KernelRan),
}

/// One run in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRan {
    pub retval: u32,
    pub data_out: Vec<u8>,
    /// Whether the output packet differs from the input as the program
    /// got it.
    pub changed: bool,
    /// The `__sk_buff` after the run (socket-buffer programs).
    pub ctx_out: Option<Vec<u8>>,
    /// The kernel's own timing of a run (the mean, with a repeat).
    pub duration_ns: u32,
}

impl KernelRan {
    /// A 4-byte `__sk_buff` field the kernel copied back (`mark`,
    /// `priority`, ...), or `None` without one.
    pub fn skb_u32(&self, field: &str) -> Option<u32> {
        let f = SK_BUFF.fields.iter().find(|f| f.name == field)?;
        let bytes = self.ctx_out.as_ref()?.get(f.offset as usize..f.offset as usize + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }

    /// `cb[5]` of the `__sk_buff` after the run.
    pub fn skb_cb(&self) -> Option<[u32; 5]> {
        let cb = SK_BUFF.fields.iter().find(|f| f.name == "cb")?;
        let bytes = self.ctx_out.as_ref()?.get(cb.offset as usize..(cb.offset + cb.size) as usize)?;
        Some(std::array::from_fn(|i| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap_or_default())))
    }
}

/// One field that differs: its name and each side's value, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub what: String,
    pub bpfx: String,
    pub kernel: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: bpfx {}, kernel {}", self.what, self.bpfx, self.kernel)
    }
}

/// One frame on both sides.
#[derive(Debug, Clone)]
pub struct Compared {
    pub bpfx: Outcome,
    /// bpfx's mean time of a run.
    pub bpfx_per_run: Duration,
    /// `None` when the frame is one bpfx does not model and so was not
    /// sent to the kernel.
    pub kernel: Option<KernelOutcome>,
    /// Empty when the two agree.
    pub differences: Vec<Difference>,
}

/// Replays frames through a bpfx engine and a program loaded in the kernel.
pub struct LiveReplayer<'a> {
    bpfx: Replayer<'a>,
    kernel: &'a Prog,
    prog_type: ProgType,
    repeat: u32,
}

impl<'a> LiveReplayer<'a> {
    /// `bpfx` runs the program on bpfx's side; `kernel` is the same program
    /// loaded in the kernel, with its own maps.
    pub fn new(bpfx: Replayer<'a>, kernel: &'a Prog, prog_type: ProgType) -> Self {
        LiveReplayer { bpfx, kernel, prog_type, repeat: 1 }
    }

    /// Runs each frame `repeat` times on both sides, as
    /// `BPF_PROG_TEST_RUN`'s `repeat` does (see [`Replayer::run_repeated`]).
    pub fn with_repeat(self, repeat: u32) -> Self {
        LiveReplayer { repeat: repeat.max(1), ..self }
    }

    /// bpfx's side, for its runtime's maps.
    pub fn bpfx(&mut self) -> &mut Replayer<'a> {
        &mut self.bpfx
    }

    /// Runs `frame` on both sides and compares.
    pub fn run(&mut self, frame: &[u8]) -> Result<Compared, LiveError> {
        let (ours, per_run) = self.bpfx.run_repeated(frame, u64::from(self.repeat))?;
        if matches!(&ours, Outcome::Refused(r) if r.errno == NOT_MODELLED) {
            return Ok(Compared { bpfx: ours, bpfx_per_run: per_run, kernel: None, differences: Vec::new() });
        }
        let kernel = self.kernel_run(frame)?;
        let differences = differences(self.prog_type, &ours, &kernel);
        Ok(Compared { bpfx: ours, bpfx_per_run: per_run, kernel: Some(kernel), differences })
    }

    fn kernel_run(&self, frame: &[u8]) -> Result<KernelOutcome, LiveError> {
        let skb = self.prog_type != ProgType::Xdp;
        let ctx_in = vec![0u8; SK_BUFF.size as usize];
        let run = TestRun {
            ctx_in: skb.then_some(&ctx_in[..]),
            ctx_out_capacity: if skb { ctx_in.len() } else { 0 },
            repeat: self.repeat,
            ..TestRun::packet(frame)
        };
        match self.kernel.test_run(&run) {
            Ok(out) => {
                let before = Context::test_run(self.prog_type, frame).map(|c| c.data_out()).unwrap_or_default();
                Ok(KernelOutcome::Ran(KernelRan {
                    retval: out.retval,
                    changed: out.data_out != before,
                    data_out: out.data_out,
                    ctx_out: out.ctx_out,
                    duration_ns: out.duration_ns,
                }))
            }
            Err(KernelError::Syscall(e)) => Ok(KernelOutcome::Refused { errno: e.errno, reason: e.to_string() }),
            Err(e) => Err(e.into()),
        }
    }
}

/// Every field in which the two results differ.
pub fn differences(prog_type: ProgType, ours: &Outcome, kernel: &KernelOutcome) -> Vec<Difference> {
    let diff = |what: &str, bpfx: String, kernel: String| Difference { what: what.into(), bpfx, kernel };
    let ran = |k: &KernelRan| format!("ran, retval {} ({})", k.retval, replay::action(prog_type, k.retval));
    match (ours, kernel) {
        (Outcome::Refused(r), KernelOutcome::Refused { errno, .. }) if r.errno == errno.0 => Vec::new(),
        (Outcome::Refused(r), KernelOutcome::Refused { errno, reason }) => {
            vec![diff("refusal", format!("errno {} ({})", r.errno, r.reason), format!("{} ({reason})", errno))]
        }
        (Outcome::Refused(r), KernelOutcome::Ran(k)) => {
            vec![diff("outcome", format!("refused the frame (errno {}: {})", r.errno, r.reason), ran(k))]
        }
        (Outcome::Ran(r), KernelOutcome::Refused { errno, reason }) => {
            vec![diff("outcome", format!("ran, retval {}", r.retval), format!("refused the frame ({errno}: {reason})"))]
        }
        (Outcome::Ran(r), KernelOutcome::Ran(k)) => ran_differences(prog_type, r, k),
    }
}

fn ran_differences(prog_type: ProgType, r: &Ran, k: &KernelRan) -> Vec<Difference> {
    let mut out = Vec::new();
    let diff = |what: &str, bpfx: String, kernel: String| Difference { what: what.into(), bpfx, kernel };
    if let Exit::Fault { .. } = r.exit {
        out.push(diff("exit", r.exit.to_string(), format!("returned {}", k.retval)));
        return out;
    }
    if r.retval != k.retval {
        let shown = |v: u32| format!("{v} ({})", replay::action(prog_type, v));
        out.push(diff("retval", shown(r.retval), shown(k.retval)));
    }
    if let Some((bpfx, kernel)) = packet_difference(&r.data_out, &k.data_out) {
        out.push(diff("data_out", bpfx, kernel));
    }
    if let (Some(ours), Some(theirs)) = (&r.skb_ctx_out, &k.ctx_out) {
        for field in SK_BUFF.fields {
            let range = field.offset as usize..(field.offset + field.size) as usize;
            let (a, b) = (ours.get(range.clone()), theirs.get(range));
            if a != b {
                let hex = |v: Option<&[u8]>| v.map_or_else(|| "absent".to_owned(), hex);
                out.push(diff(&format!("__sk_buff.{}", field.name), hex(a), hex(b)));
            }
        }
    }
    out
}

/// Where two packets first differ, each side described as its length and
/// its byte there; `None` when they are the same.
pub fn packet_difference(a: &[u8], b: &[u8]) -> Option<(String, String)> {
    if a == b {
        return None;
    }
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let side = |p: &[u8]| match p.get(at) {
        Some(byte) => format!("{} bytes, byte {at} = {byte:#04x}", p.len()),
        None => format!("{} bytes", p.len()),
    };
    Some((side(a), side(b)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use bpfx_runtime::Refused;

    use super::*;

    fn ran(retval: u32, data_out: &[u8], skb: Option<Vec<u8>>) -> Ran {
        Ran {
            exit: Exit::Return(u64::from(retval)),
            insns: 3,
            retval,
            data_out: data_out.to_vec(),
            changed: false,
            out: None,
            skb: None,
            skb_ctx_out: skb,
            redirect: None,
        }
    }

    fn kernel(retval: u32, data_out: &[u8], ctx_out: Option<Vec<u8>>) -> KernelOutcome {
        KernelOutcome::Ran(KernelRan { retval, data_out: data_out.to_vec(), changed: false, ctx_out, duration_ns: 9 })
    }

    #[test]
    fn equal_results_have_no_differences() {
        let d = differences(ProgType::Xdp, &Outcome::Ran(ran(2, &[1, 2], None)), &kernel(2, &[1, 2], None));
        assert_eq!(d, []);
    }

    #[test]
    fn retval_and_packet_differences_are_named_with_both_values() {
        let d = differences(ProgType::Xdp, &Outcome::Ran(ran(2, &[1, 2, 3], None)), &kernel(1, &[1, 9, 3, 4], None));
        let text: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "retval: bpfx 2 (XDP_PASS), kernel 1 (XDP_DROP)",
                "data_out: bpfx 3 bytes, byte 1 = 0x02, kernel 4 bytes, byte 1 = 0x09",
            ]
        );
    }

    #[test]
    fn skb_fields_are_compared_by_name() {
        let mut ours = vec![0u8; SK_BUFF.size as usize];
        let theirs = ours.clone();
        ours[8] = 7;
        let d = differences(
            ProgType::SchedCls,
            &Outcome::Ran(ran(0, &[], Some(ours))),
            &kernel(0, &[], Some(theirs.clone())),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].what.as_str(), d[0].bpfx.as_str(), d[0].kernel.as_str()),
            ("__sk_buff.mark", "07000000", "00000000")
        );
        let k = KernelRan { retval: 0, data_out: vec![], changed: false, ctx_out: Some(theirs), duration_ns: 0 };
        assert_eq!((k.skb_u32("mark"), k.skb_cb()), (Some(0), Some([0; 5])));
    }

    #[test]
    fn refusals_compare_by_errno() {
        let refused = |errno| Outcome::Refused(Refused { errno, reason: "too short".into() });
        let k = KernelOutcome::Refused { errno: Errno(22), reason: "EINVAL".into() };
        assert_eq!(differences(ProgType::Xdp, &refused(22), &k), []);
        assert_eq!(differences(ProgType::Xdp, &refused(7), &k)[0].what, "refusal");
        assert_eq!(differences(ProgType::Xdp, &refused(22), &kernel(2, &[], None))[0].what, "outcome");
    }
}
