//! Programs in the kernel: `BPF_PROG_LOAD` of a [`Program`], its map
//! references turned into the fds of maps created for it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use bpfx_isa::abi::{AttachType, ProgType};
use bpfx_isa::{AluOp, Insn, LdImm64Kind, Program, Reg, Src, Width, encode_slots, slots_to_bytes};

use super::attr::{Attr, FuncInfoRaw, InfoAttr, LineInfoRaw, ProgInfoRaw, ProgLoadAttr, ptr, ptr_mut};
use super::btf::Btf;
use super::error::{Errno, KernelError, Rejected, SyscallError};
use super::log::{DEFAULT_LOG_LIMIT, DEFAULT_LOG_START, VerifierLog, with_growing_log};
use super::map::Map;
use super::sys::Cmd;
use super::{Bpf, name_text, obj_name};

/// How much the verifier writes to its log. Every level adds
/// `BPF_LOG_STATS`, so the statistics are always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// The statistics and, for a rejected program, the error only.
    Stats,
    /// `BPF_LOG_LEVEL1`: also the instructions and states of the path
    /// that failed.
    #[default]
    Level1,
    /// `BPF_LOG_LEVEL2`: every instruction of every path with its state.
    Level2,
}

impl LogLevel {
    /// The `log_level` bits.
    pub const fn bits(self) -> u32 {
        const STATS: u32 = 4;
        match self {
            LogLevel::Stats => STATS,
            LogLevel::Level1 => 1 | STATS,
            LogLevel::Level2 => 2 | STATS,
        }
    }
}

/// How to load a program. What the [`Program`] says (license, expected
/// attach type, flags) is used unless overridden here.
#[derive(Debug, Clone, Copy)]
pub struct ProgLoadOptions<'a> {
    /// The license instead of [`Program::license`].
    pub license: Option<&'a str>,
    /// The name to load as, instead of the program's (cut to 15 allowed
    /// characters either way).
    pub name: Option<&'a str>,
    /// The expected attach type instead of the program's.
    pub expected_attach_type: Option<AttachType>,
    /// `prog_flags` instead of the program's (`BPF_F_STRICT_ALIGNMENT`,
    /// `BPF_F_XDP_HAS_FRAGS`, ...).
    pub prog_flags: Option<u32>,
    pub log_level: LogLevel,
    /// The log buffer's first size and the most it may grow to.
    pub log_start: u32,
    pub log_limit: u32,
    /// The object's BTF, loaded: the program's func and line info (and its
    /// maps' key and value types) refer to it. Without it they are not
    /// passed.
    pub btf: Option<&'a Btf>,
    /// Whether the program's func and line info are passed with `btf`
    /// (true by default); off for a kernel without `FUNC` support, whose
    /// BTF had its functions rewritten ([`super::sanitize`]).
    pub func_info: bool,
}

impl Default for ProgLoadOptions<'_> {
    fn default() -> Self {
        ProgLoadOptions {
            license: None,
            name: None,
            expected_attach_type: None,
            prog_flags: None,
            log_level: LogLevel::default(),
            log_start: DEFAULT_LOG_START,
            log_limit: DEFAULT_LOG_LIMIT,
            btf: None,
            func_info: true,
        }
    }
}

/// A program the kernel accepted, closed when dropped.
#[derive(Debug)]
pub struct Prog {
    fd: OwnedFd,
    pub(crate) bpf: Bpf,
    name: String,
    prog_type: ProgType,
    log: VerifierLog,
}

/// A program as the kernel's `BPF_OBJ_GET_INFO_BY_FD` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    /// The kernel's program type number ([`ProgType::from_value`] names it).
    pub prog_type: u32,
    /// The program's id, unique while the program lives.
    pub id: u32,
    /// The kernel's hash of the instructions.
    pub tag: [u8; 8],
    /// The name the kernel keeps (at most 15 characters).
    pub name: String,
    /// Bytes of instructions after the kernel's rewrites, and of JIT code.
    pub xlated_len: u32,
    pub jited_len: u32,
}

/// How often a load interrupted by a signal (EAGAIN) is tried again.
const EAGAIN_RETRIES: usize = 5;

impl Bpf {
    /// Creates the program's maps, then loads it with them (see
    /// [`Bpf::load_program`]); on any failure nothing stays in the kernel.
    pub fn load(&self, program: &Program, options: &ProgLoadOptions<'_>) -> Result<(Prog, Vec<Map>), KernelError> {
        let maps = self.create_maps(&program.maps, options.btf)?;
        let prog = self.load_program(program, &maps, options)?;
        Ok((prog, maps))
    }

    /// What the kernel says about the program of `fd` (a pinned one, one
    /// opened by id).
    pub fn prog_info(&self, fd: BorrowedFd<'_>) -> Result<ProgInfo, KernelError> {
        let raw: ProgInfoRaw = self.info(fd)?;
        Ok(ProgInfo {
            prog_type: raw.prog_type,
            id: raw.id,
            tag: raw.tag,
            name: name_text(&raw.name),
            xlated_len: raw.xlated_prog_len,
            jited_len: raw.jited_prog_len,
        })
    }

    /// `BPF_PROG_LOAD` of `program`, whose `lddw` map references
    /// (`MapFd`, `MapValue`: the index into [`Program::maps`] in the low
    /// half) become the fds of `maps[index]`; the `MapIdx` kinds index the
    /// same maps through the fd array. The log grows until it fits.
    pub fn load_program(
        &self,
        program: &Program,
        maps: &[Map],
        options: &ProgLoadOptions<'_>,
    ) -> Result<Prog, KernelError> {
        let fds: Vec<RawFd> = maps.iter().map(|m| m.fd().as_raw_fd()).collect();
        self.load_program_fds(program, &fds, options)
    }

    /// [`Bpf::load_program`] with the maps given by their descriptors, in
    /// the order of [`Program::maps`] (maps an object shares between its
    /// programs).
    pub(crate) fn load_program_fds(
        &self,
        program: &Program,
        fds: &[RawFd],
        options: &ProgLoadOptions<'_>,
    ) -> Result<Prog, KernelError> {
        let code = slots_to_bytes(&with_map_fds(program, fds)?);
        let insn_cnt = u32::try_from(code.len() / bpfx_isa::SLOT_SIZE)
            .map_err(|_| KernelError::TooManyInsns { slots: code.len() / bpfx_isa::SLOT_SIZE })?;
        let license = options.license.unwrap_or(&program.license);
        let license = CString::new(license).map_err(|_| KernelError::Nul { what: "the license" })?;
        let name = options.name.unwrap_or(&program.name);
        let (func_info, line_info) = match options.btf {
            Some(_) if options.func_info => btf_records(program),
            _ => (Vec::new(), Vec::new()),
        };
        let base = ProgLoadAttr {
            prog_type: program.prog_type.value(),
            insn_cnt,
            insns: ptr(&code),
            license: ptr(license.as_bytes_with_nul()),
            kern_version: program.kernel_version,
            prog_flags: options.prog_flags.unwrap_or(program.prog_flags),
            prog_name: obj_name(name),
            expected_attach_type: options
                .expected_attach_type
                .or(program.expected_attach_type)
                .map_or(0, |t| t.value()),
            prog_btf_fd: options.btf.map_or(0, |b| b.fd().as_raw_fd() as u32),
            func_info_rec_size: if func_info.is_empty() { 0 } else { size_of::<FuncInfoRaw>() as u32 },
            func_info: ptr(&func_info),
            func_info_cnt: count(&func_info)?,
            line_info_rec_size: if line_info.is_empty() { 0 } else { size_of::<LineInfoRaw>() as u32 },
            line_info: ptr(&line_info),
            line_info_cnt: count(&line_info)?,
            fd_array: ptr(fds),
            ..ProgLoadAttr::default()
        };
        let call = |log: &mut [u8]| {
            let mut attr = ProgLoadAttr {
                log_level: options.log_level.bits(),
                log_size: log.len() as u32,
                log_buf: ptr_mut(log),
                ..base
            };
            let mut result = self.call_fd(Cmd::ProgLoad, &mut attr);
            for _ in 0..EAGAIN_RETRIES {
                if !matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EAGAIN)) {
                    break;
                }
                attr.log_true_size = 0;
                result = self.call_fd(Cmd::ProgLoad, &mut attr);
            }
            (result, attr.log_true_size)
        };
        let (result, text) = with_growing_log(Cmd::ProgLoad, options.log_start, options.log_limit, call)?;
        let log = VerifierLog::parse(text);
        match result {
            Ok(fd) => Ok(Prog { fd, bpf: self.clone(), name: name.to_owned(), prog_type: program.prog_type, log }),
            Err(e) if !log.text.trim().is_empty() && !is_privilege(&e) => {
                Err(KernelError::Rejected(Box::new(Rejected { name: name.to_owned(), errno: Errno::of(&e), log })))
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let cause = self.einval_cause(program, &base);
                Err(SyscallError::with_cause(Cmd::ProgLoad, e, cause).into())
            }
            Err(e) => Err(SyscallError::new(Cmd::ProgLoad, e).into()),
        }
    }

    /// Which field made the kernel refuse a load with EINVAL before its
    /// verifier ran (the log is empty then): the expected attach type by
    /// the kernel's own rules (`bpf_prog_load_check_attach`), else what
    /// loads of `r0 = 0; exit` of the same type tell — the program type
    /// itself, or the flags.
    fn einval_cause(&self, program: &Program, attr: &ProgLoadAttr) -> Option<String> {
        let t = program.prog_type;
        let attach = AttachType::from_value(attr.expected_attach_type);
        if let Some(valid) = valid_attach_types(t) {
            let ok = attach.is_some_and(|a| valid.contains(&a))
                // The kernel reads 0 as "the first" for a cgroup_sock program.
                || (t == ProgType::CgroupSock && attr.expected_attach_type == 0);
            if !ok {
                let names: Vec<&str> = valid.iter().map(|a| a.name()).collect();
                let given = attach.map_or_else(|| attr.expected_attach_type.to_string(), |a| a.name().to_owned());
                return Some(format!(
                    "expected_attach_type {given} is not valid for a {t} program, which takes {}",
                    names.join(", ")
                ));
            }
        }
        // The smallest program of the type, with what the kernel checks
        // before verifying, added one field at a time.
        let code = slots_to_bytes(&encode_slots(&[
            Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(0) },
            Insn::Exit,
        ]));
        let license = c"GPL";
        let minimal = ProgLoadAttr {
            prog_type: attr.prog_type,
            insn_cnt: 2,
            insns: ptr(&code),
            license: ptr(license.to_bytes_with_nul()),
            expected_attach_type: if valid_attach_types(t).is_some() { attr.expected_attach_type } else { 0 },
            ..ProgLoadAttr::default()
        };
        // Refused before the verifier ran: EINVAL with nothing in the log
        // (a verifier that ran, for a type needing more than this probe
        // gives, writes why).
        let refused = |probe: ProgLoadAttr| {
            let mut log = [0u8; 256];
            let mut probe =
                ProgLoadAttr { log_level: 1, log_size: log.len() as u32, log_buf: ptr_mut(&mut log), ..probe };
            let result = self.call_fd(Cmd::ProgLoad, &mut probe);
            matches!(result, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) && log[0] == 0
        };
        if refused(minimal) {
            return Some(format!("this kernel does not know or does not build in program type {t} ({})", t.value()));
        }
        if attr.prog_flags != 0 && refused(ProgLoadAttr { prog_flags: attr.prog_flags, ..minimal }) {
            return Some(format!("prog_flags {:#x} are not valid for a {t} program on this kernel", attr.prog_flags));
        }
        if attr.expected_attach_type != minimal.expected_attach_type
            && refused(ProgLoadAttr { expected_attach_type: attr.expected_attach_type, ..minimal })
        {
            let given = attach.map_or_else(|| attr.expected_attach_type.to_string(), |a| a.name().to_owned());
            return Some(format!("expected_attach_type {given} is not valid for a {t} program on this kernel"));
        }
        None
    }
}

/// The expected attach types the kernel requires of a program type; `None`
/// for the types that take any (most ignore it).
fn valid_attach_types(t: ProgType) -> Option<&'static [AttachType]> {
    use AttachType::*;
    Some(match t {
        ProgType::CgroupSock => {
            &[CgroupInetSockCreate, CgroupInetSockRelease, CgroupInet4PostBind, CgroupInet6PostBind]
        }
        ProgType::CgroupSockAddr => &[
            CgroupInet4Bind,
            CgroupInet6Bind,
            CgroupInet4Connect,
            CgroupInet6Connect,
            CgroupUnixConnect,
            CgroupInet4Getpeername,
            CgroupInet6Getpeername,
            CgroupUnixGetpeername,
            CgroupInet4Getsockname,
            CgroupInet6Getsockname,
            CgroupUnixGetsockname,
            CgroupUdp4Sendmsg,
            CgroupUdp6Sendmsg,
            CgroupUnixSendmsg,
            CgroupUdp4Recvmsg,
            CgroupUdp6Recvmsg,
            CgroupUnixRecvmsg,
        ],
        ProgType::CgroupSkb => &[CgroupInetIngress, CgroupInetEgress],
        ProgType::CgroupSockopt => &[CgroupSetsockopt, CgroupGetsockopt],
        ProgType::SkLookup => &[SkLookup],
        ProgType::SkReuseport => &[SkReuseportSelect, SkReuseportSelectOrMigrate],
        ProgType::Netfilter => &[Netfilter],
        _ => return None,
    })
}

fn is_privilege(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EPERM)
}

/// The program's func and line info as `BPF_PROG_LOAD` takes them.
fn btf_records(program: &Program) -> (Vec<FuncInfoRaw>, Vec<LineInfoRaw>) {
    let funcs = program.func_info.iter().map(|f| FuncInfoRaw { insn_off: f.at.0, type_id: f.btf_type_id }).collect();
    let lines = program
        .line_info
        .iter()
        .map(|l| LineInfoRaw {
            insn_off: l.at.0,
            file_name_off: l.file_name_off,
            line_off: l.line_off,
            // The kernel's BPF_LINE_INFO_LINE_NUM / _LINE_COL: 22 bits of
            // line above 10 bits of column.
            line_col: (l.line << 10) | l.column.min(0x3ff),
        })
        .collect();
    (funcs, lines)
}

fn count<T>(records: &[T]) -> Result<u32, KernelError> {
    u32::try_from(records.len()).map_err(|_| KernelError::TooLong { what: "btf info", len: records.len() })
}

/// The program's slots with each map reference's index replaced by its
/// map's fd; an index with no map is an error naming the instruction.
fn with_map_fds(program: &Program, fds: &[RawFd]) -> Result<Vec<bpfx_isa::RawInsn>, KernelError> {
    let mut slots = encode_slots(&program.insns);
    for (at, insn) in program.slots() {
        let Insn::LdImm64 { kind, imm, .. } = *insn else { continue };
        let index = imm as u32;
        let fd = match kind {
            LdImm64Kind::MapFd | LdImm64Kind::MapValue | LdImm64Kind::MapIdx | LdImm64Kind::MapIdxValue => {
                fds.get(index as usize).ok_or(KernelError::MapIndex { at, index, count: fds.len() })?
            }
            _ => continue,
        };
        if matches!(kind, LdImm64Kind::MapFd | LdImm64Kind::MapValue) {
            slots[at.index()].imm = *fd;
        }
    }
    Ok(slots)
}

impl Prog {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The name it was loaded as (before the kernel's cut).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }

    /// The verifier's log of the load.
    pub fn log(&self) -> &VerifierLog {
        &self.log
    }

    /// What the kernel says about the program.
    pub fn info(&self) -> Result<ProgInfo, KernelError> {
        self.bpf.prog_info(self.fd())
    }

    /// The ids of the maps the program uses, as the kernel recorded them.
    pub fn map_ids(&self) -> Result<Vec<u32>, KernelError> {
        let count = self.bpf.info::<ProgInfoRaw>(self.fd())?.nr_map_ids;
        let mut ids = vec![0u32; count as usize];
        let mut raw = ProgInfoRaw { nr_map_ids: count, map_ids: ptr_mut(&mut ids), ..ProgInfoRaw::default() };
        let bytes = raw.bytes_mut();
        let mut attr = InfoAttr {
            bpf_fd: self.fd.as_raw_fd() as u32,
            info_len: bytes.len() as u32,
            info: bytes.as_mut_ptr() as u64,
        };
        self.bpf.call(Cmd::ObjGetInfoByFd, &mut attr).map_err(|e| SyscallError::new(Cmd::ObjGetInfoByFd, e))?;
        // Maps added since the first call are not in the buffer.
        ids.truncate(raw.nr_map_ids.min(count) as usize);
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfx_isa::InsnIdx;

    fn lddw(kind: LdImm64Kind, imm: u64) -> Insn {
        Insn::LdImm64 { dst: Reg::R1, kind, imm }
    }

    #[test]
    fn map_references_become_fds_at_their_slots() {
        let mov = Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(0) };
        let insns = vec![
            mov,
            lddw(LdImm64Kind::MapFd, 1),
            lddw(LdImm64Kind::MapValue, 8 << 32),
            lddw(LdImm64Kind::Imm, 1),
            lddw(LdImm64Kind::MapIdx, 1),
            Insn::Exit,
        ];
        let program = Program::new("p", ProgType::Xdp, insns);
        let slots = with_map_fds(&program, &[30, 31]).unwrap();
        let imms: Vec<(u8, i32)> = slots.iter().map(|s| (s.src, s.imm)).collect();
        assert_eq!(imms, [(0, 0), (1, 31), (0, 0), (2, 30), (0, 8), (0, 1), (0, 0), (5, 1), (0, 0), (0, 0)]);
    }

    #[test]
    fn a_reference_past_the_maps_names_its_slot() {
        let program =
            Program::new("p", ProgType::Xdp, vec![lddw(LdImm64Kind::Imm, 7), lddw(LdImm64Kind::MapFd, 2), Insn::Exit]);
        let err = with_map_fds(&program, &[30]).unwrap_err();
        assert!(matches!(err, KernelError::MapIndex { at: InsnIdx(2), index: 2, count: 1 }), "{err:?}");
        assert_eq!(err.to_string(), "insn 2 refers to map 2, but the program has 1 maps");
    }
}
