//! Packet replay: captures in, one run per packet, the packets as the
//! program left them out.
//!
//! [`read_capture`] reads pcap (micro- and nanosecond, either byte order)
//! and pcapng (per-interface link types) into Ethernet frames, keeping only
//! the captured bytes of a truncated record (`caplen < len`), so a program
//! reading past them fails its own bounds checks as it would on a snapped
//! frame. [`Replayer`] runs a loaded program once per frame on a context
//! built as `BPF_PROG_TEST_RUN` builds it ([`Context::test_run`]), with map
//! state carried from packet to packet, and names the verdict.
//! [`write_capture`] writes what passed, pcapng with the verdict as a
//! packet comment.
//!
//! What it is not: a traffic generator or a live path. Helpers that would
//! reach the outside world (redirects, FIB lookups) behave as the runtime
//! implements them for test runs; the verdict reports a redirect's target
//! but nothing is sent.

use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, Instant};

use bpfx_isa::abi::{MapType, ProgType};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapParser, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::{Block, PcapNgParser, PcapNgWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use crate::context::{Context, ETH_HLEN, Refused, SkbFields, Spare};
use crate::{Engine, Exit, ProgId, Redirect, RunError, Runtime};

/// A capture file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    Pcapng,
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub timestamp: Duration,
    /// The frame's length on the wire (`len`); more than `data.len()` when
    /// the capture truncated it.
    pub orig_len: u32,
    /// The captured bytes (`caplen` of them): borrowed from the capture
    /// read ([`read_capture`] copies nothing), or owned.
    pub data: Cow<'a, [u8]>,
}

impl Frame<'_> {
    /// Whether the capture kept fewer bytes than the wire carried.
    pub fn truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// A capture read whole, its frames borrowing the capture's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture<'a> {
    pub format: CaptureFormat,
    pub frames: Vec<Frame<'a>>,
}

/// Why a capture cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("the file is empty (0 bytes), not a pcap or pcapng capture")]
    Empty,
    #[error("not a pcap or pcapng capture (magic {magic:#010x})")]
    NotACapture { magic: u32 },
    #[error("bad {format} file header")]
    Header {
        format: &'static str,
        #[source]
        source: PcapError,
    },
    /// The file ends inside a record: a capture cut off while written.
    #[error("the file is cut off inside record {index} (at byte {offset:#x}, {left} bytes left)")]
    Cut { index: usize, offset: usize, left: usize },
    #[error("malformed record {index} at byte {offset:#x}")]
    Malformed {
        index: usize,
        offset: usize,
        #[source]
        source: PcapError,
    },
    /// A frame whose link type is not Ethernet.
    #[error(
        "packet {index} has link type {link:?} ({}), which does not carry ethernet frames; bpfx replays ethernet captures (link type 1)",
        u32::from(*link)
    )]
    LinkType { index: usize, link: DataLink },
    #[error("packet {index} names interface {interface}, which the capture does not describe")]
    NoInterface { index: usize, interface: u32 },
}

/// Reads a pcap or pcapng capture of Ethernet frames.
pub fn read_capture(bytes: &[u8]) -> Result<Capture<'_>, CaptureError> {
    if bytes.is_empty() {
        return Err(CaptureError::Empty);
    }
    let magic = bytes.get(..4).map_or(0, |m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    match magic {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => read_pcap(bytes),
        0x0a0d_0d0a => read_pcapng(bytes),
        _ => Err(CaptureError::NotACapture { magic }),
    }
}

fn record_error(index: usize, bytes: &[u8], rest: &[u8], source: PcapError) -> CaptureError {
    let offset = bytes.len() - rest.len();
    match source {
        PcapError::IncompleteBuffer => CaptureError::Cut { index, offset, left: rest.len() },
        source => CaptureError::Malformed { index, offset, source },
    }
}

fn read_pcap(bytes: &[u8]) -> Result<Capture<'_>, CaptureError> {
    let (mut rest, parser) =
        PcapParser::new(bytes).map_err(|source| CaptureError::Header { format: "pcap", source })?;
    let header = parser.header();
    let nanos = header.ts_resolution == TsResolution::NanoSecond;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let index = frames.len();
        let (next, raw) = parser.next_raw_packet(rest).map_err(|e| record_error(index, bytes, rest, e))?;
        if !is_ethernet(header.datalink) {
            return Err(CaptureError::LinkType { index, link: header.datalink });
        }
        let frac = if nanos { raw.ts_frac } else { raw.ts_frac.saturating_mul(1000) };
        let timestamp = Duration::new(u64::from(raw.ts_sec), 0) + Duration::from_nanos(u64::from(frac));
        frames.push(Frame { timestamp, orig_len: raw.orig_len, data: raw.data });
        rest = next;
    }
    Ok(Capture { format: CaptureFormat::Pcap, frames })
}

fn read_pcapng(bytes: &[u8]) -> Result<Capture<'_>, CaptureError> {
    let (mut rest, mut parser) =
        PcapNgParser::new(bytes).map_err(|source| CaptureError::Header { format: "pcapng", source })?;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let index = frames.len();
        let (next, block) = parser.next_block(rest).map_err(|e| record_error(index, bytes, rest, e))?;
        let (interface, frame) = match block {
            Block::EnhancedPacket(p) => {
                (p.interface_id, Frame { timestamp: p.timestamp, orig_len: p.original_len, data: p.data })
            }
            Block::SimplePacket(p) => (0, Frame { timestamp: Duration::ZERO, orig_len: p.original_len, data: p.data }),
            Block::Packet(p) => (
                u32::from(p.interface_id),
                Frame { timestamp: Duration::from_micros(p.timestamp), orig_len: p.original_len, data: p.data },
            ),
            _ => {
                rest = next;
                continue;
            }
        };
        let link = parser
            .interfaces()
            .get(interface as usize)
            .map(|i| i.linktype)
            .ok_or(CaptureError::NoInterface { index, interface })?;
        if !is_ethernet(link) {
            return Err(CaptureError::LinkType { index, link });
        }
        frames.push(frame);
        rest = next;
    }
    Ok(Capture { format: CaptureFormat::Pcapng, frames })
}

/// Whether a link type is Ethernet. The top bits of a pcap header's link
/// type field may carry the FCS length (`LINKTYPE_FCS_LEN`), which libpcap
/// masks off.
fn is_ethernet(link: DataLink) -> bool {
    u32::from(link) & 0x03ff_ffff == u32::from(DataLink::ETHERNET)
}

/// Writes `frames` as a capture of Ethernet frames; in pcapng each frame
/// carries its comment.
pub fn write_capture<W: Write>(out: W, format: CaptureFormat, frames: &[(Frame, String)]) -> Result<(), PcapError> {
    match format {
        CaptureFormat::Pcap => {
            let header = PcapHeader {
                datalink: DataLink::ETHERNET,
                ts_resolution: TsResolution::NanoSecond,
                snaplen: 262_144,
                endianness: Endianness::Little,
                ..PcapHeader::default()
            };
            let mut w = PcapWriter::with_header(out, header)?;
            for (f, _) in frames {
                w.write_packet(&PcapPacket::new(f.timestamp, f.orig_len.max(f.data.len() as u32), &f.data))?;
            }
        }
        CaptureFormat::Pcapng => {
            let mut w = PcapNgWriter::with_endianness(out, Endianness::Little)?;
            w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0))?;
            for (f, comment) in frames {
                let block = EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: f.timestamp,
                    original_len: f.orig_len.max(f.data.len() as u32),
                    data: Cow::Borrowed(&f.data),
                    options: vec![EnhancedPacketOption::Comment(Cow::Borrowed(comment))],
                };
                w.write_pcapng_block(block)?;
            }
        }
    }
    Ok(())
}

/// The name of a program's verdict: `XDP_PASS`, `TC_ACT_SHOT`, `KEEP 64`
/// (a socket filter keeps that many bytes; `DROP` for 0), `SK_PASS`.
pub fn action(prog_type: ProgType, retval: u32) -> String {
    const XDP: [&str; 5] = ["XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"];
    const TC: [&str; 10] = [
        "TC_ACT_UNSPEC",
        "TC_ACT_OK",
        "TC_ACT_RECLASSIFY",
        "TC_ACT_SHOT",
        "TC_ACT_PIPE",
        "TC_ACT_STOLEN",
        "TC_ACT_QUEUED",
        "TC_ACT_REPEAT",
        "TC_ACT_REDIRECT",
        "TC_ACT_TRAP",
    ];
    match prog_type {
        ProgType::Xdp => XDP.get(retval as usize).map_or_else(|| format!("XDP_UNKNOWN({retval})"), |s| s.to_string()),
        ProgType::SchedCls | ProgType::SchedAct => {
            let i = (retval as i32).wrapping_add(1);
            usize::try_from(i)
                .ok()
                .and_then(|i| TC.get(i))
                .map_or_else(|| format!("TC_ACT_UNKNOWN({})", retval as i32), |s| s.to_string())
        }
        ProgType::SocketFilter if retval == 0 => "DROP".to_string(),
        ProgType::SocketFilter => format!("KEEP {retval}"),
        ProgType::CgroupSkb if retval & 1 == 1 => "SK_PASS".to_string(),
        ProgType::CgroupSkb => "SK_DROP".to_string(),
        _ => retval.to_string(),
    }
}

/// Whether a packet goes on after this verdict (and so into the output
/// capture).
pub fn passes(prog_type: ProgType, retval: u32) -> bool {
    match prog_type {
        ProgType::Xdp => (2..=4).contains(&retval),
        // Shot, stolen, queued and trapped packets go no further.
        ProgType::SchedCls | ProgType::SchedAct => !matches!(retval as i32, 2 | 4 | 5 | 8),
        ProgType::SocketFilter => retval != 0,
        ProgType::CgroupSkb => retval & 1 == 1,
        _ => true,
    }
}

/// One packet's run.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub exit: Exit,
    pub insns: u64,
    /// `r0` as `BPF_PROG_TEST_RUN` reports it (32 bits); 0 after a fault.
    pub retval: u32,
    /// The packet as `BPF_PROG_TEST_RUN` returns it ([`Context::data_out`]).
    pub data_out: Vec<u8>,
    /// Whether the program changed the packet (bytes or bounds).
    pub changed: bool,
    /// The frame to write out, when the packet goes on: for socket
    /// filters and cgroup_skb the original Ethernet header in front of the
    /// packet, cut to a socket filter's keep length.
    pub out: Option<Vec<u8>>,
    /// The socket-buffer fields a program may write (skb programs).
    pub skb: Option<SkbFields>,
    /// The `__sk_buff` `BPF_PROG_TEST_RUN` returns for a zeroed one.
    pub skb_ctx_out: Option<Vec<u8>>,
    pub redirect: Option<Redirect>,
}

/// What became of one packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `BPF_PROG_TEST_RUN` would refuse the frame.
    Refused(Refused),
    Ran(Ran),
}

/// Runs one loaded program over packets, one run each, in one runtime.
pub struct Replayer<'a> {
    engine: &'a dyn Engine,
    rt: &'a mut Runtime,
    prog: ProgId,
    prog_type: ProgType,
    /// The last packet's context memory, for the next packet's.
    spare: Spare,
    /// The packet's bytes before its run, in memory kept from packet to
    /// packet (they are only compared with the bytes after).
    before: Vec<u8>,
}

impl<'a> Replayer<'a> {
    /// A replayer of `prog` (loaded by `engine` into `rt`, already
    /// converted by [`crate::context::convert`]) as a program of
    /// `prog_type`.
    pub fn new(engine: &'a dyn Engine, rt: &'a mut Runtime, prog: ProgId, prog_type: ProgType) -> Self {
        Replayer { engine, rt, prog, prog_type, spare: Spare::default(), before: Vec::new() }
    }

    pub fn runtime(&mut self) -> &mut Runtime {
        self.rt
    }

    /// Runs the program on `frame`.
    pub fn run(&mut self, frame: &[u8]) -> Result<Outcome, RunError> {
        self.runs(frame, 1, false).map(|(outcome, _)| outcome)
    }

    /// Runs the program `repeat` times (at least once) on one context made
    /// from `frame`, as `BPF_PROG_TEST_RUN`'s `repeat` does: each run gets
    /// the packet and context as the one before left them. Returns the
    /// last run's outcome and the mean time of a run (the context's set-up
    /// excluded). A run that faults ends the repetition.
    pub fn run_repeated(&mut self, frame: &[u8], repeat: u64) -> Result<(Outcome, Duration), RunError> {
        self.runs(frame, repeat, true)
    }

    /// [`Replayer::run_repeated`], reading the clock only when `timed` (a
    /// replay of single runs reads it for nothing, twice a packet).
    fn runs(&mut self, frame: &[u8], repeat: u64, timed: bool) -> Result<(Outcome, Duration), RunError> {
        let mut ctx = match Context::test_run_reusing(self.prog_type, frame, &mut self.spare) {
            Ok(ctx) => ctx,
            Err(refused) => return Ok((Outcome::Refused(refused), Duration::ZERO)),
        };
        ctx.data_out_into(&mut self.before);
        let start = timed.then(Instant::now);
        let (result, runs) = self.engine.run_repeated(self.rt, self.prog, &mut ctx, repeat)?;
        let per_run = start.map_or(Duration::ZERO, |start| start.elapsed().div_f64(runs as f64));
        let retval = result.exit.r0().map_or(0, |r0| r0 as u32);
        let data_out = ctx.data_out();
        let l3 = matches!(self.prog_type, ProgType::SocketFilter | ProgType::CgroupSkb);
        let out = (result.exit.r0().is_some() && passes(self.prog_type, retval)).then(|| {
            let bytes = ctx.packet().map(|p| p.bytes()).unwrap_or_default();
            if l3 {
                let keep = if self.prog_type == ProgType::SocketFilter { retval as usize } else { usize::MAX };
                let body = &bytes[..bytes.len().min(keep)];
                [&frame[..ETH_HLEN], body].concat()
            } else {
                bytes
            }
        });
        let ran = Ran {
            changed: data_out != self.before,
            exit: result.exit,
            insns: result.insns,
            retval,
            data_out,
            out,
            skb: ctx.skb_fields(),
            skb_ctx_out: ctx.skb_ctx_out(),
            redirect: self.rt.redirect(),
        };
        self.spare = ctx.into_spare();
        Ok((Outcome::Ran(ran), per_run))
    }
}

/// A map's value: one, or one per CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    Single(Vec<u8>),
    PerCpu(Vec<Vec<u8>>),
}

/// A map's entries whose values are not all zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapContents {
    pub name: String,
    pub entries: Vec<(Vec<u8>, MapValue)>,
}

/// Whether a map of this type holds data a run leaves behind, worth
/// listing after a replay: not programs, maps, events or records.
pub fn holds_data(map_type: MapType) -> bool {
    !matches!(
        map_type,
        MapType::ProgArray | MapType::PerfEventArray | MapType::ArrayOfMaps | MapType::HashOfMaps | MapType::Ringbuf
    )
}

/// Whether a map of this type holds one value per CPU.
pub fn is_per_cpu(map_type: MapType) -> bool {
    matches!(map_type, MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash)
}

/// The runtime's maps with their non-zero entries, in creation order;
/// maps with none (and maps that do not [hold data](holds_data)) are left
/// out.
pub fn map_contents(rt: &Runtime) -> Vec<MapContents> {
    let mut all = Vec::new();
    for (_, map) in rt.maps() {
        let spec = map.spec();
        if !holds_data(spec.map_type) {
            continue;
        }
        let percpu = is_per_cpu(spec.map_type);
        let entries: Vec<_> = map
            .dump()
            .into_iter()
            .filter(|e| e.value.iter().any(|&b| b != 0))
            .map(|e| {
                let value = if percpu {
                    MapValue::PerCpu(map.values_per_cpu(&e.value).into_iter().map(<[u8]>::to_vec).collect())
                } else {
                    MapValue::Single(e.value.clone())
                };
                (e.key, value)
            })
            .collect();
        if !entries.is_empty() {
            all.push(MapContents { name: spec.name.clone(), entries });
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(records: &[(&[u8], u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let frames: Vec<(Frame, String)> = records
            .iter()
            .map(|(d, len)| {
                (Frame { timestamp: Duration::from_micros(5), orig_len: *len, data: d.to_vec().into() }, String::new())
            })
            .collect();
        write_capture(&mut out, CaptureFormat::Pcap, &frames).unwrap();
        out
    }

    #[test]
    fn captures_round_trip_and_keep_truncated_records() {
        let bytes = pcap(&[(&[1; 20], 20), (&[2; 30], 100)]);
        let c = read_capture(&bytes).unwrap();
        assert_eq!(c.format, CaptureFormat::Pcap);
        assert_eq!(c.frames.len(), 2);
        assert!(c.frames[1].truncated());
        assert_eq!(*c.frames[1].data, [2; 30]);
        let mut ng = Vec::new();
        let frames: Vec<_> = c.frames.iter().map(|f| (f.clone(), "XDP_PASS".to_string())).collect();
        write_capture(&mut ng, CaptureFormat::Pcapng, &frames).unwrap();
        let back = read_capture(&ng).unwrap();
        assert_eq!(back.format, CaptureFormat::Pcapng);
        assert_eq!(
            back.frames.iter().map(|f| &f.data).collect::<Vec<_>>(),
            c.frames.iter().map(|f| &f.data).collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_cut_and_foreign_files_are_errors_with_positions() {
        assert!(matches!(read_capture(&[]), Err(CaptureError::Empty)));
        assert!(matches!(read_capture(b"hello world"), Err(CaptureError::NotACapture { .. })));
        let bytes = pcap(&[(&[1; 20], 20), (&[2; 30], 30)]);
        let cut = &bytes[..bytes.len() - 5];
        let e = read_capture(cut).unwrap_err();
        assert!(matches!(e, CaptureError::Cut { index: 1, left: 41, .. }), "{e}");
        assert_eq!(read_capture(&bytes[..24]).unwrap().frames.len(), 0);
        let mut sll = bytes.clone();
        sll[20..24].copy_from_slice(&113u32.to_le_bytes());
        let e = read_capture(&sll).unwrap_err();
        assert_eq!(
            e.to_string(),
            "packet 0 has link type LINUX_SLL (113), which does not carry ethernet frames; bpfx replays ethernet captures (link type 1)"
        );
    }

    #[test]
    fn verdicts_are_named() {
        assert_eq!(action(ProgType::Xdp, 2), "XDP_PASS");
        assert_eq!(action(ProgType::Xdp, 9), "XDP_UNKNOWN(9)");
        assert_eq!(action(ProgType::SchedCls, u32::MAX), "TC_ACT_UNSPEC");
        assert_eq!(action(ProgType::SchedCls, 2), "TC_ACT_SHOT");
        assert_eq!(action(ProgType::SocketFilter, 0), "DROP");
        assert_eq!(action(ProgType::SocketFilter, 64), "KEEP 64");
        assert!(!passes(ProgType::SchedCls, 2));
        assert!(passes(ProgType::Xdp, 3));
    }
}
