//! `BPF_PROG_TEST_RUN`: a loaded program run by the kernel on a packet
//! and context bpfx supplies.

use std::os::fd::AsRawFd;

use bpfx_isa::abi::ProgType;

use super::attr::{TestRunAttr, ptr, ptr_mut};
use super::error::{KernelError, SyscallError};
use super::prog::Prog;
use super::sys::Cmd;

/// Room for the output packet beyond the input's length: a program may
/// grow the packet (`bpf_xdp_adjust_tail`, `bpf_skb_change_tail`), up to
/// about 64 KiB for an skb and the frags of a page-sized buffer for XDP.
pub const DEFAULT_DATA_OUT_SLACK: usize = 128 << 10;

/// One test run's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRun<'a> {
    /// The packet (`data_in`); empty for program types that take none.
    pub data_in: &'a [u8],
    /// Bytes of room for the output packet; 0 asks for none.
    pub data_out_capacity: usize,
    /// The context (`struct __sk_buff`, `struct xdp_md`, ...), if given.
    pub ctx_in: Option<&'a [u8]>,
    /// Bytes of room for the context after the run; 0 asks for none.
    pub ctx_out_capacity: usize,
    /// Runs back to back (0 and 1 both run once); the duration is their
    /// average.
    pub repeat: u32,
    /// `BPF_F_TEST_RUN_ON_CPU` (with `cpu`), `BPF_F_TEST_XDP_LIVE_FRAMES`.
    pub flags: u32,
    pub cpu: u32,
    /// Frames per batch with `BPF_F_TEST_XDP_LIVE_FRAMES`.
    pub batch_size: u32,
}

impl<'a> TestRun<'a> {
    /// A run on `packet`, with room for any output packet and no context.
    pub fn packet(packet: &'a [u8]) -> Self {
        TestRun {
            data_in: packet,
            data_out_capacity: packet.len() + DEFAULT_DATA_OUT_SLACK,
            ctx_in: None,
            ctx_out_capacity: 0,
            repeat: 1,
            flags: 0,
            cpu: 0,
            batch_size: 0,
        }
    }
}

/// What a test run gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value (r0, as the kernel's `u32`).
    pub retval: u32,
    /// Nanoseconds per run, as the kernel measured.
    pub duration_ns: u32,
    /// The packet after the run, cut to the capacity asked for.
    pub data_out: Vec<u8>,
    /// The output packet's whole length, as the kernel reports it.
    pub data_size_out: u32,
    /// Whether the output packet was longer than the room given for it
    /// (`data_out` then holds its beginning).
    pub truncated: bool,
    /// The context after the run (`None` when none was asked for, or when
    /// the packet did not fit: the kernel then stops before the context).
    pub ctx_out: Option<Vec<u8>>,
}

impl Prog {
    /// `BPF_PROG_TEST_RUN` of this program on `run`.
    ///
    /// An output packet longer than [`TestRun::data_out_capacity`] is not
    /// an error: the kernel still ran the program once and reports its
    /// result, so the output is cut and [`TestRunOutput::truncated`] says
    /// so; running again would run the program twice, with twice its
    /// effects on maps.
    pub fn test_run(&self, run: &TestRun<'_>) -> Result<TestRunOutput, KernelError> {
        let mut data_out = vec![0u8; run.data_out_capacity];
        let mut ctx_out = vec![0u8; run.ctx_out_capacity];
        let ctx_in = run.ctx_in.unwrap_or_default();
        let size = |what: &'static str, len: usize| u32::try_from(len).map_err(|_| KernelError::TooLong { what, len });
        // The kernel copies a whole packet when `data_size_out` is 0, so a
        // buffer always goes with its size, and no size means no buffer.
        let mut attr = TestRunAttr {
            prog_fd: self.fd().as_raw_fd() as u32,
            data_size_in: size("the packet", run.data_in.len())?,
            data_size_out: size("the output packet room", data_out.len())?,
            data_in: ptr(run.data_in),
            data_out: ptr_mut(&mut data_out),
            repeat: run.repeat,
            ctx_size_in: size("the context", ctx_in.len())?,
            ctx_size_out: size("the output context room", ctx_out.len())?,
            ctx_in: ptr(ctx_in),
            ctx_out: ptr_mut(&mut ctx_out),
            flags: run.flags,
            cpu: run.cpu,
            batch_size: run.batch_size,
            ..TestRunAttr::default()
        };
        let result = self.bpf.call(Cmd::ProgTestRun, &mut attr);
        let data_size_out = attr.data_size_out;
        let data_cut = run.data_out_capacity > 0 && data_size_out as usize > run.data_out_capacity;
        match result {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && data_cut => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && attr.ctx_size_out as usize > run.ctx_out_capacity => {
                return Err(KernelError::CtxOutTooSmall {
                    capacity: run.ctx_out_capacity,
                    needed: attr.ctx_size_out as usize,
                });
            }
            Err(e) => {
                let cause =
                    (e.raw_os_error() == Some(libc::EINVAL)).then(|| einval_cause(self.prog_type(), run)).flatten();
                return Err(SyscallError::with_cause(Cmd::ProgTestRun, e, cause).into());
            }
        }
        data_out.truncate((data_size_out as usize).min(run.data_out_capacity));
        let ctx_out = (run.ctx_out_capacity > 0 && !data_cut).then(|| {
            ctx_out.truncate((attr.ctx_size_out as usize).min(run.ctx_out_capacity));
            ctx_out
        });
        Ok(TestRunOutput {
            retval: attr.retval,
            duration_ns: attr.duration,
            data_out,
            data_size_out,
            truncated: data_cut,
            ctx_out,
        })
    }
}

/// The input the kernel's skb test run refuses with EINVAL, if `run` is
/// such an input (`bpf_prog_test_run_skb` in `net/bpf/test_run.c`).
fn einval_cause(prog_type: ProgType, run: &TestRun<'_>) -> Option<String> {
    use ProgType::*;
    const ETH_HLEN: usize = 14;
    let len = run.data_in.len();
    if matches!(
        prog_type,
        Xdp | SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit | LwtSeg6local
    ) && len < ETH_HLEN
    {
        return Some(format!("a packet of {len} bytes is shorter than an ethernet header ({ETH_HLEN} bytes)"));
    }
    if !matches!(prog_type, SocketFilter | SchedCls | SchedAct | CgroupSkb | LwtIn | LwtOut | LwtXmit | LwtSeg6local) {
        return None;
    }
    if run.flags != 0 || run.cpu != 0 || run.batch_size != 0 {
        return Some("a test run of an skb program takes no flags, cpu or batch size".to_owned());
    }
    // The kernel reads the network header of IPv4 and IPv6 frames.
    let (name, header) = match u16::from_be_bytes([run.data_in[12], run.data_in[13]]) {
        0x0800 => ("IPv4", 20),
        0x86dd => ("IPv6", 40),
        _ => return None,
    };
    (len < ETH_HLEN + header).then(|| {
        format!(
            "an {name} frame needs its {header}-byte header after the ethernet header ({} bytes), this one has {len}",
            ETH_HLEN + header
        )
    })
}
