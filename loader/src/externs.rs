//! Extern variables and functions: `.kconfig` externs (`extern u32
//! LINUX_KERNEL_VERSION __kconfig;`, `extern bool CONFIG_BPF_JIT __kconfig
//! __weak;`) laid out in a read-only map and filled from the kernel's
//! configuration or the user's values, and `.ksyms` externs (kernel
//! variables and kfuncs) found by name in the target BTF.
//!
//! The layout and value rules are libbpf's: externs sorted by decreasing
//! alignment, then increasing size, then name; `y`/`n`/`m` for bools,
//! tristates and chars, quoted strings for char arrays, integers checked to
//! fit; an unresolved extern is zero if weak and an error if not.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::btf::{Btf, FUNC_EXTERN, INT_BOOL, INT_SIGNED, Kind, TypeId, VAR_GLOBAL_EXTERN};
use crate::error::LoadError;
use crate::maps::KCONFIG_SECTION;
use crate::object::{Binding, ElfSymbol, SymbolKind};

const KSYMS_SECTION: &str = ".ksyms";
/// Values of an `enum libbpf_tristate`.
const TRI_NO: u64 = 0;
const TRI_YES: u64 = 1;
const TRI_MODULE: u64 = 2;

/// An extern the object declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extern {
    pub name: String,
    /// Declared `__weak`: zero when unresolved rather than an error.
    pub weak: bool,
    pub kind: ExternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternKind {
    /// A `.kconfig` value at `offset` in the `.kconfig` map.
    Kconfig { offset: u32, size: u32, ty: KconfigType, signed: bool, value: Option<Vec<u8>> },
    /// A `.ksyms` kernel variable (`type_id` its local type, 0 for
    /// `void`) or function, with its id in the target BTF once resolved.
    Ksym { function: bool, type_id: TypeId, target_id: Option<u32> },
}

/// The C types a kconfig extern may have (libbpf's `kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KconfigType {
    Bool,
    Char,
    Tristate,
    Int,
    CharArray,
}

impl Extern {
    pub fn is_kconfig(&self) -> bool {
        matches!(self.kind, ExternKind::Kconfig { .. })
    }
}

/// Finds the object's externs: undefined `NOTYPE` global or weak symbols,
/// each declared in a `.kconfig` or `.ksyms` DATASEC. Returns them in
/// libbpf's order with the kconfig layout and its size.
pub(crate) fn collect(symbols: &[ElfSymbol], btf: Option<&Btf>) -> Result<(Vec<Extern>, u32), LoadError> {
    let mut externs = Vec::new();
    for sym in symbols {
        let is_extern = sym.shndx == 0
            && matches!(sym.binding, Binding::Global | Binding::Weak)
            && sym.kind == SymbolKind::NoType
            && !sym.name.is_empty();
        if !is_extern {
            continue;
        }
        let fail = |reason: String| LoadError::Extern { name: sym.name.clone(), reason };
        let btf = btf.ok_or_else(|| fail("the object has no BTF to describe it".into()))?;
        let id = btf
            .types()
            .find(|(id, t)| {
                btf.name(*id) == sym.name
                    && match t.kind {
                        Kind::Var { linkage, .. } => linkage == VAR_GLOBAL_EXTERN,
                        Kind::Func { linkage, .. } => linkage == FUNC_EXTERN,
                        _ => false,
                    }
            })
            .map(|(id, _)| id)
            .ok_or_else(|| fail("no extern VAR or FUNC of that name in the object's BTF".into()))?;
        let section = btf
            .types()
            .find(|(_, t)| matches!(&t.kind, Kind::Datasec(d) if d.vars.iter().any(|v| v.ty == id)))
            .map(|(sec, _)| btf.name(sec))
            .ok_or_else(|| fail("its BTF is in no DATASEC".into()))?;
        let weak = sym.binding == Binding::Weak;
        let kind = match (section, btf.kind(id)) {
            (KCONFIG_SECTION, Kind::Var { ty, .. }) => {
                let size =
                    btf.resolve_size(*ty).filter(|&s| s > 0).ok_or_else(|| fail("its type has no size".into()))?;
                let (ty, signed) = kconfig_type(btf, *ty).ok_or_else(|| fail("its type is unsupported".into()))?;
                ExternKind::Kconfig { offset: 0, size: size as u32, ty, signed, value: None }
            }
            (KCONFIG_SECTION, _) => return Err(fail("extern functions are not allowed in .kconfig".into())),
            (KSYMS_SECTION, Kind::Var { ty, .. }) => {
                ExternKind::Ksym { function: false, type_id: btf.skip_mods_and_typedefs(*ty), target_id: None }
            }
            (KSYMS_SECTION, _) => ExternKind::Ksym { function: true, type_id: id, target_id: None },
            (other, _) => return Err(fail(format!("unrecognized extern section {other}"))),
        };
        externs.push((btf.align_of(id).unwrap_or(1), Extern { name: sym.name.clone(), weak, kind }));
    }
    externs.sort_by(|(align_a, a), (align_b, b)| {
        let rank = |e: &Extern| u8::from(!e.is_kconfig());
        let size = |e: &Extern| match e.kind {
            ExternKind::Kconfig { size, .. } => size,
            ExternKind::Ksym { .. } => 0,
        };
        rank(a).cmp(&rank(b)).then(align_b.cmp(align_a)).then(size(a).cmp(&size(b))).then(a.name.cmp(&b.name))
    });
    let mut end = 0u32;
    let mut out = Vec::with_capacity(externs.len());
    for (align, mut ext) in externs {
        if let ExternKind::Kconfig { offset, size, .. } = &mut ext.kind {
            *offset = end.next_multiple_of(align as u32);
            end = *offset + *size;
        }
        out.push(ext);
    }
    Ok((out, end))
}

/// libbpf's `find_kcfg_type`.
fn kconfig_type(btf: &Btf, ty: TypeId) -> Option<(KconfigType, bool)> {
    let id = btf.skip_mods_and_typedefs(ty);
    match btf.kind(id) {
        Kind::Int(i) if i.encoding & INT_BOOL != 0 => (i.size == 1).then_some((KconfigType::Bool, false)),
        Kind::Int(i) => {
            let signed = i.encoding & INT_SIGNED != 0;
            match i.size {
                1 => Some((KconfigType::Char, signed)),
                2 | 4 | 8 => Some((KconfigType::Int, signed)),
                _ => None,
            }
        }
        Kind::Enum(e) if e.size == 4 && btf.name(id) == "libbpf_tristate" => Some((KconfigType::Tristate, false)),
        Kind::Enum64(_) if btf.name(id) == "libbpf_tristate" => Some((KconfigType::Tristate, false)),
        Kind::Array(a) if a.nelems > 0 => {
            matches!(kconfig_type(btf, a.elem), Some((KconfigType::Char, _))).then_some((KconfigType::CharArray, false))
        }
        _ => None,
    }
}

/// Where kconfig values come from, beyond those given explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KconfigSource {
    /// The running kernel: `/boot/config-$(uname -r)`, else
    /// `/proc/config.gz`; its release from `/proc/sys/kernel/osrelease`.
    #[default]
    Kernel,
    /// A kernel `.config` file (gzip-compressed if it ends in `.gz`).
    File(std::path::PathBuf),
    /// Only the values given explicitly.
    None,
}

/// Sets the values of the kconfig externs. `values` are `NAME` -> `VALUE`
/// as a `.config` line spells them (`y`, `250`, `"text"`); they take
/// precedence over `source`, which is read only if some `CONFIG_` extern is
/// still unset. `LINUX_KERNEL_VERSION` comes from `values` or the kernel's
/// release. Unset strong externs are an error when `require` is set.
pub(crate) fn resolve_kconfig(
    externs: &mut [Extern],
    values: &BTreeMap<String, String>,
    source: &KconfigSource,
    require: bool,
) -> Result<(), LoadError> {
    for ext in externs.iter_mut() {
        if let Some(value) = values.get(&ext.name) {
            set_value(ext, value)?;
        }
    }
    for ext in externs.iter_mut().filter(|e| e.is_kconfig() && !is_set(e)) {
        let value = match ext.name.as_str() {
            "LINUX_KERNEL_VERSION" => match kernel_release(source) {
                Some(release) => Some(kernel_version(&release).ok_or_else(|| LoadError::Extern {
                    name: ext.name.clone(),
                    reason: format!("cannot read a version from kernel release {release:?}"),
                })?),
                None => None,
            },
            // Both hold on every kernel bpfx targets (5.15+, x86-64 and arm64).
            "LINUX_HAS_BPF_COOKIE" | "LINUX_HAS_SYSCALL_WRAPPER" => (source != &KconfigSource::None).then_some(1),
            name if name.starts_with("CONFIG_") => continue,
            name if name.starts_with("LINUX_") && ext.weak => continue,
            _ => {
                return Err(LoadError::Extern {
                    name: ext.name.clone(),
                    reason: "unrecognized virtual extern (libbpf knows CONFIG_* and LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER)".into(),
                });
            }
        };
        if let Some(value) = value {
            set_value(ext, &value.to_string())?;
        }
    }
    let unset_config = externs.iter().any(|e| e.is_kconfig() && !is_set(e) && e.name.starts_with("CONFIG_"));
    if unset_config && let Some(config) = read_config(source)? {
        for line in config.lines() {
            let Some((name, value)) = line.split_once('=') else { continue };
            if !name.starts_with("CONFIG_") || value.is_empty() {
                continue;
            }
            if let Some(ext) = externs.iter_mut().find(|e| e.name == name && e.is_kconfig() && !is_set(e)) {
                set_value(ext, value)?;
            }
        }
    }
    if require && let Some(ext) = externs.iter().find(|e| e.is_kconfig() && !is_set(e) && !e.weak) {
        return Err(LoadError::Extern { name: ext.name.clone(), reason: "strong extern not resolved".into() });
    }
    Ok(())
}

fn is_set(ext: &Extern) -> bool {
    matches!(&ext.kind, ExternKind::Kconfig { value: Some(_), .. })
}

/// Sets `ext` from a `.config` value.
fn set_value(ext: &mut Extern, value: &str) -> Result<(), LoadError> {
    let name = ext.name.clone();
    let fail = |reason: String| LoadError::Extern { name: name.clone(), reason };
    let ExternKind::Kconfig { size, ty, signed, value: slot, .. } = &mut ext.kind else {
        return Err(fail("is not a kconfig extern".into()));
    };
    let size = *size as usize;
    let mut bytes = vec![0u8; size];
    match value.as_bytes().first() {
        Some(&c @ (b'y' | b'n' | b'm')) if value.len() == 1 => match ty {
            KconfigType::Bool if c == b'm' => return Err(fail("value 'm' implies tristate or char type".into())),
            KconfigType::Bool => bytes[0] = u8::from(c == b'y'),
            KconfigType::Tristate => {
                let tri = match c {
                    b'y' => TRI_YES,
                    b'm' => TRI_MODULE,
                    _ => TRI_NO,
                };
                bytes.copy_from_slice(&tri.to_le_bytes()[..size]);
            }
            KconfigType::Char => bytes[0] = c,
            _ => return Err(fail(format!("value '{}' implies bool, tristate or char type", c as char))),
        },
        Some(b'"') => {
            if *ty != KconfigType::CharArray {
                return Err(fail(format!("value {value} implies char array type")));
            }
            let text = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| fail(format!("invalid string config {value}")))?;
            let len = text.len().min(size - 1);
            bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        }
        _ => {
            let number = parse_u64(value).ok_or_else(|| fail(format!("value {value:?} isn't a valid integer")))?;
            if !matches!(ty, KconfigType::Int | KconfigType::Char | KconfigType::Bool) {
                return Err(fail(format!("value {number} implies integer, char or boolean type")));
            }
            if *ty == KconfigType::Bool && number > 1 {
                return Err(fail(format!("value {number} isn't boolean compatible")));
            }
            let bits = size * 8;
            let fits = bits == 64
                || if *signed { number.wrapping_add(1 << (bits - 1)) < (1 << bits) } else { number >> bits == 0 };
            if !fits {
                return Err(fail(format!("value {number} doesn't fit in {size} bytes")));
            }
            bytes.copy_from_slice(&number.to_le_bytes()[..size]);
        }
    }
    *slot = Some(bytes);
    Ok(())
}

/// `strtoull(value, 0)`: decimal, `0x` hex or `0` octal, wholly consumed.
fn parse_u64(value: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
        (hex, 16)
    } else if value.len() > 1 && value.starts_with('0') {
        (&value[1..], 8)
    } else {
        (value, 10)
    };
    u64::from_str_radix(digits, radix).ok()
}

/// `KERNEL_VERSION(a, b, c)` of a release such as `6.18.44-fc-v595`.
pub(crate) fn kernel_version(release: &str) -> Option<u64> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok());
    let (a, b, c) = (next()?, next()?, next()?);
    Some((a << 16) + (b << 8) + c.min(255))
}

fn kernel_release(source: &KconfigSource) -> Option<String> {
    match source {
        KconfigSource::None => None,
        _ => std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
    }
}

/// The kernel configuration text `source` names, if it names one.
fn read_config(source: &KconfigSource) -> Result<Option<String>, LoadError> {
    let read = |path: &Path| -> Result<String, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.into(), source })?;
        if path.extension().is_some_and(|e| e == "gz") {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .map_err(|source| LoadError::Read { path: path.into(), source })?;
            Ok(text)
        } else {
            String::from_utf8(bytes).map_err(|e| LoadError::Read {
                path: path.into(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
        }
    };
    match source {
        KconfigSource::None => Ok(None),
        KconfigSource::File(path) => read(path).map(Some),
        KconfigSource::Kernel => {
            let boot = kernel_release(source).map(|r| Path::new("/boot").join(format!("config-{r}")));
            match boot.filter(|p| p.exists()) {
                Some(path) => read(&path).map(Some),
                None if Path::new("/proc/config.gz").exists() => read(Path::new("/proc/config.gz")).map(Some),
                None => Err(LoadError::Unavailable {
                    what: "the kernel configuration",
                    reason: "neither /boot/config-$(uname -r) nor /proc/config.gz exists".into(),
                }),
            }
        }
    }
}

/// Finds `.ksyms` externs in `target` by name: a variable's `VAR`, a
/// function's `FUNC`. Unresolved weak ones stay `None`.
pub(crate) fn resolve_ksyms(externs: &mut [Extern], local: &Btf, target: &Btf) -> Result<(), LoadError> {
    for ext in externs.iter_mut() {
        let ExternKind::Ksym { function, type_id, target_id } = &mut ext.kind else { continue };
        let wanted = if *function { 12 } else { 14 };
        let found = target.find_by_name_kind(&ext.name, wanted);
        let fail = |reason: String| LoadError::Extern { name: ext.name.clone(), reason };
        match found {
            Some(id) => {
                if !*function && type_id.0 == 0 {
                    return Err(fail(
                        "untyped __ksym externs need /proc/kallsyms addresses, which bpfx does not read".into(),
                    ));
                }
                let local_ty = if *function {
                    let Kind::Func { proto, .. } = local.kind(*type_id) else { return Err(fail("not a FUNC".into())) };
                    *proto
                } else {
                    *type_id
                };
                let target_ty = match target.kind(id) {
                    Kind::Var { ty, .. } => target.skip_mods_and_typedefs(*ty),
                    Kind::Func { proto, .. } => *proto,
                    _ => return Err(fail("not a VAR or FUNC in the target BTF".into())),
                };
                if !crate::co_re::types_are_compat(local, local_ty, target, target_ty) {
                    return Err(fail(format!("its type does not match the target's [{}]", id.0)));
                }
                *target_id = Some(id.0);
            }
            None if ext.weak => {}
            None => return Err(fail("not found in the target BTF".into())),
        }
    }
    Ok(())
}
