//! `bpf_trace_printk` and `bpf_snprintf`: the kernel's restricted printf
//! (`bpf_bprintf_prepare`): flags `0 +-`, a width, and `%d %i %u %x %X`
//! with `l`/`ll`, `%c`, `%s`, `%p` (`%px %pK %ps %pS`, `%pks %pus`,
//! `%pI4 %pi4 %pI6 %pi6`) and `%%`. Anything else is `-EINVAL`.
//!
//! `%p` prints the address in hex (what `%px` prints; the kernel hashes a
//! plain `%p` with a per-boot key). `%ps`/`%pS` print the address too: bpfx
//! has no kernel symbols.

use super::errno::EINVAL;
use crate::fault::Fault;
use crate::runtime::Runtime;

/// The kernel's `MAX_BPRINTF_BUF`: `bpf_trace_printk` output is cut there.
const MAX_BPRINTF_BUF: usize = 1024;
/// The kernel's `MAX_BPRINTF_VARARGS`.
const MAX_BPRINTF_VARARGS: u64 = 12;
/// The kernel's `MAX_TRACE_PRINTK_VARARGS`.
const MAX_TRACE_PRINTK_VARARGS: usize = 3;
/// Room for string arguments (`MAX_BPRINTF_BIN_ARGS`).
const MAX_STRING: usize = 512;

/// `long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)`: formats up
/// to three arguments into the runtime's trace; returns the formatted
/// length.
pub(crate) fn trace_printk(rt: &mut Runtime, [fmt, fmt_size, a1, a2, a3]: [u64; 5]) -> Result<u64, Fault> {
    let fmt = rt.read_mem(fmt, u64::from(fmt_size as u32))?;
    let Some(end) = fmt.iter().position(|&b| b == 0) else { return Ok(EINVAL) };
    let args = [a1, a2, a3];
    let Ok(text) = format(rt, &fmt[..end], &args[..MAX_TRACE_PRINTK_VARARGS]) else { return Ok(EINVAL) };
    let len = text.len();
    let kept = &text[..len.min(MAX_BPRINTF_BUF - 1)];
    rt.push_trace(String::from_utf8_lossy(kept).into_owned());
    Ok(len as u64)
}

/// `long bpf_snprintf(char *str, u32 str_size, const char *fmt, u64 *data, u32 data_len)`:
/// writes at most `str_size - 1` bytes and a NUL; returns the length the
/// whole string needs, NUL included.
pub(crate) fn snprintf(rt: &mut Runtime, [out, size, fmt, data, data_len]: [u64; 5]) -> Result<u64, Fault> {
    let (size, data_len) = (u64::from(size as u32), u64::from(data_len as u32));
    if data_len % 8 != 0 || data_len > MAX_BPRINTF_VARARGS * 8 || (data_len != 0 && data == 0) {
        return Ok(EINVAL);
    }
    let fmt = read_c_string(rt, fmt, usize::MAX).ok_or_else(|| rt.bad_arg("format is not a string in memory"))?;
    let args: Vec<u64> = rt
        .read_mem(data, data_len)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect();
    let Ok(text) = format(rt, &fmt, &args) else { return Ok(EINVAL) };
    rt.check_mem(out, size, true)?;
    if size > 0 {
        let n = text.len().min(size as usize - 1);
        let mut bytes = text[..n].to_vec();
        bytes.push(0);
        rt.write_mem(out, &bytes)?;
    }
    Ok(text.len() as u64 + 1)
}

/// A NUL-terminated string from program memory (or the kernel image), at
/// most `max` bytes without its NUL.
fn read_c_string(rt: &Runtime, addr: u64, max: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = addr;
    loop {
        let byte = match rt.check_mem(at, 1, false) {
            // SAFETY: `check_mem` proved the byte lies in a region the
            // runtime or a map owns for the whole run.
            Ok(()) => unsafe { *(at as *const u8) },
            Err(_) => rt.config().kernel_memory.byte(at)?,
        };
        if byte == 0 || out.len() == max {
            return Some(out);
        }
        out.push(byte);
        at = at.checked_add(1)?;
    }
}

fn user_c_string(rt: &Runtime, addr: u64) -> Option<Vec<u8>> {
    let mem = &rt.config().user_memory;
    let mut out = Vec::new();
    while out.len() < MAX_STRING - 1 {
        match mem.byte(addr.checked_add(out.len() as u64)?)? {
            0 => break,
            b => out.push(b),
        }
    }
    Some(out)
}

/// A format the kernel refuses.
struct BadFormat;

#[derive(Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
}

impl Spec {
    fn pad(&self, body: &[u8], sign: &[u8], numeric: bool) -> Vec<u8> {
        let len = body.len() + sign.len();
        let fill = self.width.saturating_sub(len);
        let mut out = Vec::with_capacity(len + fill);
        if self.left {
            out.extend(sign);
            out.extend(body);
            out.extend(std::iter::repeat_n(b' ', fill));
        } else if self.zero && numeric {
            out.extend(sign);
            out.extend(std::iter::repeat_n(b'0', fill));
            out.extend(body);
        } else {
            out.extend(std::iter::repeat_n(b' ', fill));
            out.extend(sign);
            out.extend(body);
        }
        out
    }
}

/// Formats `fmt` with `args`, as `bpf_bprintf_prepare` + `bstr_printf`.
fn format(rt: &Runtime, fmt: &[u8], args: &[u64]) -> Result<Vec<u8>, BadFormat> {
    let mut out = Vec::new();
    let mut next = 0;
    let mut i = 0;
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    while i < fmt.len() {
        let c = fmt[i];
        if c.is_ascii() && !(c.is_ascii_graphic() || c == b' ' || c.is_ascii_whitespace()) {
            return Err(BadFormat);
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            out.push(b'%');
            i += 2;
            continue;
        }
        let arg = *args.get(next).ok_or(BadFormat)?;
        next += 1;
        i += 1;
        if !at(i).is_ascii() {
            return Err(BadFormat);
        }
        let mut spec = Spec::default();
        loop {
            match at(i) {
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b'-' => spec.left = true,
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        while at(i).is_ascii_digit() {
            spec.width = spec.width.saturating_mul(10).saturating_add(usize::from(at(i) - b'0'));
            i += 1;
        }
        let ends_word = |c: u8| c == 0 || c.is_ascii_whitespace() || c.is_ascii_punctuation();
        match at(i) {
            b'p' => {
                let kind = at(i + 1);
                if ends_word(kind) {
                    out.extend(spec.pad(format!("{arg:016x}").as_bytes(), b"", true));
                    i += 1;
                } else if (kind == b'k' || kind == b'u') && at(i + 2) == b's' {
                    if !ends_word(at(i + 3)) {
                        return Err(BadFormat);
                    }
                    let s = if kind == b'k' { read_c_string(rt, arg, MAX_STRING - 1) } else { user_c_string(rt, arg) };
                    out.extend(spec.pad(&s.unwrap_or_default(), b"", false));
                    i += 3;
                } else if matches!(kind, b'K' | b'x' | b's' | b'S') {
                    out.extend(spec.pad(format!("{arg:016x}").as_bytes(), b"", true));
                    i += 2;
                } else if (kind == b'i' || kind == b'I') && matches!(at(i + 2), b'4' | b'6') {
                    let v6 = at(i + 2) == b'6';
                    let bytes = read_bytes(rt, arg, if v6 { 16 } else { 4 });
                    let text = match (v6, kind) {
                        (false, b'I') => bytes.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("."),
                        (false, _) => bytes.iter().map(|b| format!("{b:03}")).collect::<Vec<_>>().join("."),
                        (true, b'I') => {
                            bytes.chunks(2).map(|w| format!("{:02x}{:02x}", w[0], w[1])).collect::<Vec<_>>().join(":")
                        }
                        (true, _) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
                    };
                    out.extend(spec.pad(text.as_bytes(), b"", false));
                    i += 3;
                } else {
                    return Err(BadFormat);
                }
            }
            b's' => {
                if !ends_word(at(i + 1)) {
                    return Err(BadFormat);
                }
                let s = read_c_string(rt, arg, MAX_STRING - 1).unwrap_or_default();
                out.extend(spec.pad(&s, b"", false));
                i += 1;
            }
            b'c' => {
                out.extend(spec.pad(&[arg as u8], b"", false));
                i += 1;
            }
            _ => {
                let mut long = 0;
                while at(i) == b'l' && long < 2 {
                    long += 1;
                    i += 1;
                }
                let wide = long > 0;
                let (body, sign): (String, &[u8]) = match at(i) {
                    b'd' | b'i' => {
                        let v = if wide { arg as i64 } else { i64::from(arg as i32) };
                        let sign: &[u8] = if v < 0 {
                            b"-"
                        } else if spec.plus {
                            b"+"
                        } else if spec.space {
                            b" "
                        } else {
                            b""
                        };
                        (v.unsigned_abs().to_string(), sign)
                    }
                    b'u' => ((if wide { arg } else { u64::from(arg as u32) }).to_string(), b""),
                    b'x' => (format!("{:x}", if wide { arg } else { u64::from(arg as u32) }), b""),
                    b'X' => (format!("{:X}", if wide { arg } else { u64::from(arg as u32) }), b""),
                    _ => return Err(BadFormat),
                };
                out.extend(spec.pad(body.as_bytes(), sign, true));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// `len` bytes for `%pI4`/`%pI6`: from program memory or the kernel image,
/// zeroes where neither has them (as the kernel's failed copy).
fn read_bytes(rt: &Runtime, addr: u64, len: u64) -> Vec<u8> {
    rt.read_mem(addr, len)
        .ok()
        .or_else(|| rt.config().kernel_memory.read(addr, len as usize))
        .unwrap_or_else(|| vec![0; len as usize])
}
