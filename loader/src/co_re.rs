//! CO-RE ("compile once, run everywhere") relocations: an instruction that
//! reads a field, a type's size or id, or an enum's value, as the program's
//! own BTF describes them, is patched with what the target BTF (the running
//! kernel's) says.
//!
//! The rules are libbpf's (`relo_core.c`), so a program relocates here
//! exactly as it would when libbpf loads it:
//! - the access string (`0:2:1`) walks the local type through members and
//!   array elements; anonymous members are crossed transparently;
//! - candidates are the target types of the same kind whose names match
//!   up to a `___flavor` suffix; a candidate matches if every named member
//!   on the path exists (searched recursively through anonymous members)
//!   with a compatible type;
//! - all matching candidates must agree, else the relocation is ambiguous
//!   (an error); none matching is an answer too: "does not exist", 0 for
//!   existence and type checks, a poisoned instruction for the others
//!   (`call 0xbad2310`, which the kernel's verifier reports if reached);
//! - the patch checks that the instruction holds the local value before
//!   replacing it, and resizes a load when an unsigned field or a pointer
//!   changed size.

use std::collections::HashMap;

use bpfx_isa::{CallTarget, HelperId, Insn, LdImm64Kind, Size, Src};

use crate::btf::{Btf, INT_SIGNED, Kind, TypeId, essential_name_len};
use crate::btf::{CoreRelo, CoreReloKind};

/// The helper id of a poisoned instruction: `0xbad2310`, "bad relo".
pub const POISON_HELPER: HelperId = HelperId::CORE_POISON;
/// libbpf's limit on an access string's length.
const MAX_SPEC_LEN: usize = 64;
/// Recursion limit of the type comparisons.
const MAX_LEVEL: i32 = 32;

/// Target types by essential name, built once per target.
pub(crate) struct Candidates<'a> {
    target: &'a Btf,
    by_name: HashMap<&'a str, Vec<TypeId>>,
}

impl<'a> Candidates<'a> {
    pub(crate) fn new(target: &'a Btf) -> Self {
        let mut by_name: HashMap<&str, Vec<TypeId>> = HashMap::new();
        for (id, _) in target.types() {
            let name = target.name(id);
            if !name.is_empty() {
                by_name.entry(&name[..essential_name_len(name)]).or_default().push(id);
            }
        }
        Candidates { target, by_name }
    }

    /// The target types a local type may relocate to.
    fn of(&self, local: &Btf, id: TypeId) -> Vec<TypeId> {
        let name = local.name(id);
        let local_kind = local.kind(id);
        self.by_name
            .get(&name[..essential_name_len(name)])
            .map(|ids| ids.iter().copied().filter(|&t| kinds_compat(local_kind, self.target.kind(t))).collect())
            .unwrap_or_default()
    }
}

fn kinds_compat(a: &Kind, b: &Kind) -> bool {
    a.number() == b.number() || (a.is_any_enum() && b.is_any_enum())
}

/// One step of an access path: a member (`name` set) of struct `type_id`,
/// or element `idx` of an array (whose element type is `type_id`).
#[derive(Debug, Clone, Copy)]
struct Accessor<'a> {
    type_id: TypeId,
    idx: u32,
    name: Option<&'a str>,
}

/// An access path resolved in one BTF.
#[derive(Debug, Clone)]
struct Spec<'a> {
    btf: &'a Btf,
    root: TypeId,
    /// The named members and array indices.
    accessors: Vec<Accessor<'a>>,
    /// Every step, anonymous members included.
    raw_len: usize,
    bit_offset: u64,
}

/// What relocating one instruction comes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Resolution {
    orig_val: u64,
    new_val: u64,
    poison: bool,
    validate: bool,
    fail_memsz_adjust: bool,
    orig_size: u32,
    new_size: u32,
    orig_type: TypeId,
    new_type: TypeId,
}

/// Computes and applies relocation `relo` to `insns` (a code section;
/// `index` is the instruction `relo` names). Returns whether the
/// instruction was poisoned; an `Err` is the reason the object cannot be
/// loaded, as libbpf would refuse it.
pub(crate) fn relocate(
    local: &Btf,
    candidates: &Candidates<'_>,
    relo: &CoreRelo,
    insns: &mut Vec<Insn>,
    index: usize,
) -> Result<bool, String> {
    let res = resolve(local, candidates, relo)?;
    patch(insns, index, &res)?;
    Ok(res.poison)
}

fn resolve(local: &Btf, candidates: &Candidates<'_>, relo: &CoreRelo) -> Result<Resolution, String> {
    let spec_str = local.str_at(relo.access_str_off).unwrap_or("");
    let local_spec = parse_spec(local, relo.type_id, spec_str, relo.kind)?;
    if relo.kind == CoreReloKind::TypeIdLocal {
        return Ok(Resolution {
            orig_val: u64::from(relo.type_id.0),
            new_val: u64::from(relo.type_id.0),
            ..Default::default()
        });
    }
    if local.name(relo.type_id).is_empty() {
        return Err("relocations of anonymous types are not supported".into());
    }
    let mut chosen: Option<(Resolution, Spec<'_>)> = None;
    for cand in candidates.of(local, relo.type_id) {
        let Some(cand_spec) = match_spec(&local_spec, relo.kind, candidates.target, cand)? else { continue };
        let res = calc(relo.kind, &local_spec, Some(&cand_spec))?;
        match &chosen {
            None => chosen = Some((res, cand_spec)),
            Some((_, spec)) if spec.bit_offset != cand_spec.bit_offset => {
                return Err(format!("field offset ambiguity: {} != {}", cand_spec.bit_offset, spec.bit_offset));
            }
            Some((first, _)) if first.poison != res.poison || first.new_val != res.new_val => {
                return Err(format!(
                    "relocation decision ambiguity between target types: {} != {}",
                    res.new_val, first.new_val
                ));
            }
            Some(_) => {}
        }
    }
    match chosen {
        Some((res, _)) => Ok(res),
        None => calc(relo.kind, &local_spec, None),
    }
}

/// libbpf's `bpf_core_parse_spec`.
fn parse_spec<'a>(btf: &'a Btf, root: TypeId, spec_str: &str, kind: CoreReloKind) -> Result<Spec<'a>, String> {
    let bad = |why: &str| format!("access string {spec_str:?} on type {root}: {why}");
    let mut spec = Spec { btf, root, accessors: Vec::new(), raw_len: 0, bit_offset: 0 };
    if let CoreReloKind::Unknown(k) = kind {
        return Err(format!("unrecognized CO-RE relocation kind {k}"));
    }
    if spec_str.is_empty() || spec_str.starts_with(':') {
        return Err(bad("empty or malformed"));
    }
    if kind.is_type_based() {
        return if spec_str == "0" { Ok(spec) } else { Err(bad("a type relocation's access string must be \"0\"")) };
    }
    let raw: Vec<u32> = spec_str
        .split(':')
        .map(|part| part.parse::<u32>().ok().filter(|&i| i <= i32::MAX as u32))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("not a list of indices"))?;
    if raw.len() > MAX_SPEC_LEN {
        return Err(bad("too long"));
    }
    spec.raw_len = raw.len();
    let mut id = btf.skip_mods_and_typedefs(root);
    spec.accessors.push(Accessor { type_id: id, idx: raw[0], name: None });
    if kind.is_enumval_based() {
        let values = btf.kind(id).enumerators();
        if !btf.kind(id).is_any_enum() || raw.len() > 1 || raw[0] as usize >= values.len() {
            return Err(bad("not an enumerator of an enum"));
        }
        spec.accessors[0].name = Some(btf.str_at(values[raw[0] as usize].name_off).unwrap_or(""));
        return Ok(spec);
    }
    let size = btf.resolve_size(id).ok_or_else(|| bad("the root type has no size"))?;
    spec.bit_offset = u64::from(raw[0]) * size * 8;
    for &idx in &raw[1..] {
        id = btf.skip_mods_and_typedefs(id);
        let kind = btf.kind(id);
        if kind.is_composite() {
            let member = kind.members().get(idx as usize).ok_or_else(|| bad("member index out of range"))?;
            spec.bit_offset += u64::from(member.bit_offset);
            if member.name_off != 0 {
                let name =
                    btf.str_at(member.name_off).filter(|n| !n.is_empty()).ok_or_else(|| bad("bad member name"))?;
                spec.accessors.push(Accessor { type_id: id, idx, name: Some(name) });
            }
            id = member.ty;
        } else if let Kind::Array(array) = kind {
            let elem = btf.skip_mods_and_typedefs(array.elem);
            let flex = spec.accessors.last().is_some_and(|prev| is_flex_array(btf, prev, array.nelems));
            if !flex && idx >= array.nelems {
                return Err(bad("array index out of range"));
            }
            spec.accessors.push(Accessor { type_id: elem, idx, name: None });
            let size = btf.resolve_size(elem).ok_or_else(|| bad("an array element has no size"))?;
            spec.bit_offset += u64::from(idx) * size * 8;
            id = elem;
        } else {
            return Err(bad(&format!("steps into a {}", kind.name())));
        }
    }
    Ok(spec)
}

/// An array of no elements that is the last member of the struct `prev`
/// steps into.
fn is_flex_array(btf: &Btf, prev: &Accessor<'_>, nelems: u32) -> bool {
    prev.name.is_some() && nelems == 0 && prev.idx as usize + 1 == btf.kind(prev.type_id).vlen()
}

/// libbpf's `bpf_core_spec_match`: the target spec, if candidate `cand`
/// matches.
fn match_spec<'a>(
    local: &Spec<'_>,
    kind: CoreReloKind,
    target: &'a Btf,
    cand: TypeId,
) -> Result<Option<Spec<'a>>, String> {
    let mut spec = Spec { btf: target, root: cand, accessors: Vec::new(), raw_len: 0, bit_offset: 0 };
    if kind == CoreReloKind::TypeMatches {
        return Ok(types_match(local.btf, local.root, target, cand, false, MAX_LEVEL)?.then_some(spec));
    }
    if kind.is_type_based() {
        return Ok(types_are_compat(local.btf, local.root, target, cand).then_some(spec));
    }
    if kind.is_enumval_based() {
        let id = target.skip_mods_and_typedefs(cand);
        let local_name = local.accessors[0].name.unwrap_or("");
        let len = essential_name_len(local_name);
        for (i, value) in target.kind(id).enumerators().iter().enumerate() {
            let name = target.str_at(value.name_off).unwrap_or("");
            if essential_name_len(name) == len && name.as_bytes()[..len] == local_name.as_bytes()[..len] {
                spec.accessors.push(Accessor { type_id: id, idx: i as u32, name: Some(name) });
                spec.raw_len = 1;
                return Ok(Some(spec));
            }
        }
        return Ok(None);
    }
    let mut targ_id = cand;
    for (i, acc) in local.accessors.iter().enumerate() {
        targ_id = target.skip_mods_and_typedefs(targ_id);
        if acc.name.is_some() {
            match match_member(local.btf, acc, target, targ_id, &mut spec)? {
                Some(next) => targ_id = next,
                None => return Ok(None),
            }
            continue;
        }
        if i > 0 {
            let Kind::Array(array) = target.kind(targ_id) else { return Ok(None) };
            let flex = spec.accessors.last().is_some_and(|prev| is_flex_array(target, prev, array.nelems));
            if !flex && acc.idx >= array.nelems {
                return Ok(None);
            }
            targ_id = target.skip_mods_and_typedefs(array.elem);
        }
        if spec.raw_len == MAX_SPEC_LEN {
            return Err("too deep struct/union/array nesting".into());
        }
        spec.accessors.push(Accessor { type_id: targ_id, idx: acc.idx, name: None });
        spec.raw_len += 1;
        let size = target.resolve_size(targ_id).ok_or_else(|| format!("target type {targ_id} has no size"))?;
        spec.bit_offset += u64::from(acc.idx) * size * 8;
    }
    Ok(Some(spec))
}

/// libbpf's `bpf_core_match_member`: finds the member `local_acc` names in
/// target composite `targ_id`, searching anonymous members recursively;
/// returns the member's type.
fn match_member<'a>(
    local: &Btf,
    local_acc: &Accessor<'_>,
    target: &'a Btf,
    targ_id: TypeId,
    spec: &mut Spec<'a>,
) -> Result<Option<TypeId>, String> {
    let targ_id = target.skip_mods_and_typedefs(targ_id);
    let targ_kind = target.kind(targ_id);
    if !targ_kind.is_composite() {
        return Ok(None);
    }
    let local_member = local.kind(local_acc.type_id).members()[local_acc.idx as usize];
    let local_name = local_acc.name.unwrap_or("");
    for (i, m) in targ_kind.members().iter().enumerate() {
        if spec.raw_len == MAX_SPEC_LEN {
            return Err("too deep struct/union/array nesting".into());
        }
        spec.bit_offset += u64::from(m.bit_offset);
        spec.raw_len += 1;
        let name = target.str_at(m.name_off).unwrap_or("");
        if name.is_empty() {
            if let Some(found) = match_member(local, local_acc, target, m.ty, spec)? {
                return Ok(Some(found));
            }
        } else if name == local_name {
            if !fields_are_compat(local, local_member.ty, target, m.ty) {
                spec.bit_offset -= u64::from(m.bit_offset);
                spec.raw_len -= 1;
                return Ok(None);
            }
            spec.accessors.push(Accessor { type_id: targ_id, idx: i as u32, name: Some(name) });
            return Ok(Some(m.ty));
        }
        spec.bit_offset -= u64::from(m.bit_offset);
        spec.raw_len -= 1;
    }
    Ok(None)
}

/// libbpf's `bpf_core_fields_are_compat`.
fn fields_are_compat(local: &Btf, local_id: TypeId, target: &Btf, targ_id: TypeId) -> bool {
    let (mut local_id, mut targ_id) = (local_id, targ_id);
    for _ in 0..MAX_LEVEL {
        local_id = local.skip_mods_and_typedefs(local_id);
        targ_id = target.skip_mods_and_typedefs(targ_id);
        let (lk, tk) = (local.kind(local_id), target.kind(targ_id));
        if lk.is_composite() && tk.is_composite() {
            return true;
        }
        if !kinds_compat(lk, tk) {
            return false;
        }
        match (lk, tk) {
            (Kind::Ptr(_), _) | (Kind::Float { .. }, _) => return true,
            (Kind::Fwd { .. } | Kind::Enum(_) | Kind::Enum64(_), _) => {
                let (ln, tn) = (local.name(local_id), target.name(targ_id));
                let (ll, tl) = (essential_name_len(ln), essential_name_len(tn));
                return ll == 0 || tl == 0 || (ll == tl && ln.as_bytes()[..ll] == tn.as_bytes()[..tl]);
            }
            (Kind::Int(a), Kind::Int(b)) => return a.offset == 0 && b.offset == 0,
            (Kind::Array(a), Kind::Array(b)) => {
                local_id = a.elem;
                targ_id = b.elem;
            }
            _ => return false,
        }
    }
    false
}

/// libbpf's `bpf_core_types_are_compat` (type existence, size and id
/// relocations; kfunc and `__ksym` prototypes).
pub(crate) fn types_are_compat(local: &Btf, local_id: TypeId, target: &Btf, targ_id: TypeId) -> bool {
    compat_at_level(local, local_id, target, targ_id, MAX_LEVEL) == Some(true)
}

/// `None` when the comparison recursed too deep.
fn compat_at_level(local: &Btf, local_id: TypeId, target: &Btf, targ_id: TypeId, level: i32) -> Option<bool> {
    if !kinds_compat(local.kind(local_id), target.kind(targ_id)) {
        return Some(false);
    }
    let (mut local_id, mut targ_id) = (local_id, targ_id);
    for _ in 0..MAX_LEVEL {
        local_id = local.skip_mods_and_typedefs(local_id);
        targ_id = target.skip_mods_and_typedefs(targ_id);
        let (lk, tk) = (local.kind(local_id), target.kind(targ_id));
        if !kinds_compat(lk, tk) {
            return Some(false);
        }
        match (lk, tk) {
            (Kind::Void | Kind::Struct(_) | Kind::Union(_) | Kind::Enum(_) | Kind::Enum64(_) | Kind::Fwd { .. }, _) => {
                return Some(true);
            }
            (Kind::Int(a), Kind::Int(b)) => return Some(a.offset == 0 && b.offset == 0),
            (Kind::Ptr(a), Kind::Ptr(b)) => {
                local_id = *a;
                targ_id = *b;
            }
            (Kind::Array(a), Kind::Array(b)) => {
                local_id = a.elem;
                targ_id = b.elem;
            }
            (Kind::FuncProto(a), Kind::FuncProto(b)) => {
                if a.params.len() != b.params.len() {
                    return Some(false);
                }
                for (pa, pb) in a.params.iter().zip(&b.params) {
                    if level <= 0 {
                        return None;
                    }
                    let la = local.skip_mods_and_typedefs(pa.ty);
                    let tb = target.skip_mods_and_typedefs(pb.ty);
                    if !compat_at_level(local, la, target, tb, level - 1)? {
                        return Some(false);
                    }
                }
                local_id = a.ret;
                targ_id = b.ret;
            }
            _ => return Some(false),
        }
    }
    None
}

/// Whether two names match up to their flavor suffixes (an empty target
/// name matches only an empty local one).
fn names_match(local: &str, target: &str) -> bool {
    if target.is_empty() {
        return local.is_empty();
    }
    let (ll, tl) = (essential_name_len(local), essential_name_len(target));
    ll == tl && local.as_bytes()[..ll] == target.as_bytes()[..tl]
}

/// libbpf's `__bpf_core_types_match` (`TYPE_MATCHES`); an `Err` when the
/// comparison recursed too deep.
fn types_match(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    targ_id: TypeId,
    behind_ptr: bool,
    level: i32,
) -> Result<bool, String> {
    let too_deep = || "type match recursed too deep".to_string();
    if level <= 0 {
        return Err(too_deep());
    }
    let (mut local_id, mut targ_id, mut behind_ptr) = (local_id, targ_id, behind_ptr);
    for _ in 0..MAX_LEVEL {
        local_id = local.skip_mods_and_typedefs(local_id);
        targ_id = target.skip_mods_and_typedefs(targ_id);
        if !names_match(local.name(local_id), target.name(targ_id)) {
            return Ok(false);
        }
        let (lk, tk) = (local.kind(local_id), target.kind(targ_id));
        let same = lk.number() == tk.number();
        match lk {
            Kind::Void => return Ok(same),
            Kind::Fwd { union: local_union } => {
                return Ok(match tk {
                    Kind::Fwd { union } => union == local_union,
                    Kind::Struct(_) => behind_ptr && !local_union,
                    Kind::Union(_) => behind_ptr && *local_union,
                    _ => false,
                });
            }
            Kind::Enum(le) | Kind::Enum64(le) => {
                let (Kind::Enum(te) | Kind::Enum64(te)) = tk else { return Ok(false) };
                if le.size != te.size || le.values.len() > te.values.len() {
                    return Ok(false);
                }
                let all = le.values.iter().all(|lv| {
                    let ln = local.str_at(lv.name_off).unwrap_or("");
                    te.values.iter().any(|tv| names_match(ln, target.str_at(tv.name_off).unwrap_or("")))
                });
                return Ok(all);
            }
            Kind::Struct(lc) | Kind::Union(lc) => {
                if behind_ptr {
                    return Ok(same || matches!(tk, Kind::Fwd { union } if *union == matches!(lk, Kind::Union(_))));
                }
                if !same {
                    return Ok(false);
                }
                let tm = tk.members();
                if lc.members.len() > tm.len() {
                    return Ok(false);
                }
                for lm in &lc.members {
                    let ln = local.str_at(lm.name_off).unwrap_or("");
                    let mut matched = false;
                    for m in tm {
                        if !names_match(ln, target.str_at(m.name_off).unwrap_or("")) {
                            continue;
                        }
                        if types_match(local, lm.ty, target, m.ty, behind_ptr, level - 1)? {
                            matched = true;
                            break;
                        }
                    }
                    if !matched {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            Kind::Int(li) => {
                let Kind::Int(ti) = tk else { return Ok(false) };
                return Ok(li.size == ti.size && li.encoding & INT_SIGNED == ti.encoding & INT_SIGNED);
            }
            Kind::Ptr(next) => {
                let Kind::Ptr(tnext) = tk else { return Ok(false) };
                behind_ptr = true;
                local_id = *next;
                targ_id = *tnext;
            }
            Kind::Array(la) => {
                let Kind::Array(ta) = tk else { return Ok(false) };
                if la.nelems != ta.nelems {
                    return Ok(false);
                }
                local_id = la.elem;
                targ_id = ta.elem;
            }
            Kind::FuncProto(lp) => {
                let Kind::FuncProto(tp) = tk else { return Ok(false) };
                if lp.params.len() != tp.params.len() {
                    return Ok(false);
                }
                for (a, b) in lp.params.iter().zip(&tp.params) {
                    if !types_match(local, a.ty, target, b.ty, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                local_id = lp.ret;
                targ_id = tp.ret;
            }
            _ => return Ok(false),
        }
    }
    Err(too_deep())
}

/// libbpf's `bpf_core_calc_relo`: the local and target values. `target` is
/// `None` when no candidate matched.
fn calc(kind: CoreReloKind, local: &Spec<'_>, target: Option<&Spec<'_>>) -> Result<Resolution, String> {
    let mut res = Resolution { validate: true, ..Default::default() };
    let outcome = if kind.is_field_based() {
        let local_field = field_value(kind, Some(local))?;
        let target_field = field_value(kind, target)?;
        match (local_field, target_field) {
            (Some(l), Some(t)) => {
                res.orig_val = l.value;
                res.orig_size = l.size;
                res.orig_type = l.type_id;
                res.validate = l.validate;
                res.new_val = t.value;
                res.new_size = t.size;
                res.new_type = t.type_id;
                if res.orig_size != res.new_size {
                    let (orig, new) =
                        (local.btf.kind(res.orig_type), target.map_or(&Kind::Void, |t| t.btf.kind(res.new_type)));
                    let both_ptrs = matches!((orig, new), (Kind::Ptr(_), Kind::Ptr(_)));
                    let both_unsigned = matches!((orig, new), (Kind::Int(a), Kind::Int(b)) if a.encoding != INT_SIGNED && b.encoding != INT_SIGNED);
                    res.fail_memsz_adjust = !both_ptrs && !both_unsigned;
                }
                Some(())
            }
            (Some(l), None) => {
                res.orig_val = l.value;
                res.validate = l.validate;
                None
            }
            _ => None,
        }
    } else if kind.is_type_based() {
        res.orig_val = type_value(kind, Some(local))?;
        res.new_val = type_value(kind, target)?;
        if kind == CoreReloKind::TypeIdTarget {
            // The id in the instruction may have changed in linking.
            res.validate = false;
        }
        Some(())
    } else {
        res.orig_val = enum_value(kind, Some(local)).ok_or("no enumerator value")?;
        enum_value(kind, target).map(|v| res.new_val = v)
    };
    res.poison = outcome.is_none();
    Ok(res)
}

struct Field {
    value: u64,
    /// The field's size for a load or store (0 for a bitfield).
    size: u32,
    type_id: TypeId,
    validate: bool,
}

/// libbpf's `bpf_core_calc_field_relo`; `Ok(None)` asks for poisoning.
fn field_value(kind: CoreReloKind, spec: Option<&Spec<'_>>) -> Result<Option<Field>, String> {
    let field = |value: u64| Field { value, size: 0, type_id: TypeId(0), validate: true };
    if kind == CoreReloKind::FieldExists {
        return Ok(Some(field(u64::from(spec.is_some()))));
    }
    let Some(spec) = spec else { return Ok(None) };
    let btf = spec.btf;
    let Some(acc) = spec.accessors.last() else { return Err("empty access path".into()) };
    if acc.name.is_none() {
        let size = btf.resolve_size(acc.type_id).ok_or("array element has no size")?;
        return match kind {
            CoreReloKind::FieldByteOffset => {
                Ok(Some(Field { value: spec.bit_offset / 8, size: size as u32, type_id: acc.type_id, validate: true }))
            }
            CoreReloKind::FieldByteSize => Ok(Some(field(size))),
            _ => Err(format!("{} cannot be applied to an array element", kind.name())),
        };
    }
    let parent = btf.kind(acc.type_id);
    let member = parent.members()[acc.idx as usize];
    let field_type = btf.skip_mods_and_typedefs(member.ty);
    let mt = btf.kind(field_type);
    let bit_off = spec.bit_offset;
    let mut bit_sz = u64::from(member.bitfield_size);
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        let mut sz = btf.resolve_size(field_type).ok_or("bitfield type has no size")?;
        if sz == 0 {
            return Err("bitfield of a zero-sized type".into());
        }
        let mut off = bit_off / 8 / sz * sz;
        while bit_off + bit_sz - off * 8 > sz * 8 {
            if sz >= 8 {
                return Err("bitfield can't be read with a 64-bit load".into());
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        (byte_off, byte_sz) = (off, sz);
    } else {
        byte_sz = btf.resolve_size(field_type).ok_or("field type has no size")?;
        byte_off = bit_off / 8;
        bit_sz = byte_sz * 8;
    }
    let mut out = Field { value: 0, size: 0, type_id: TypeId(0), validate: !bitfield };
    match kind {
        CoreReloKind::FieldByteOffset => {
            out.value = byte_off;
            if !bitfield {
                out.size = byte_sz as u32;
                out.type_id = field_type;
            }
        }
        CoreReloKind::FieldByteSize => out.value = byte_sz,
        CoreReloKind::FieldSigned => {
            out.value = u64::from(match mt {
                Kind::Enum(e) | Kind::Enum64(e) => e.signed,
                Kind::Int(i) => i.encoding & INT_SIGNED != 0,
                _ => false,
            });
            out.validate = true;
        }
        CoreReloKind::FieldLshiftU64 => out.value = 64 - (bit_off + bit_sz - byte_off * 8),
        CoreReloKind::FieldRshiftU64 => {
            out.value = 64 - bit_sz;
            out.validate = true;
        }
        _ => return Err(format!("{} is not a field relocation", kind.name())),
    }
    Ok(Some(out))
}

/// libbpf's `bpf_core_calc_type_relo`: 0 when the type does not exist.
fn type_value(kind: CoreReloKind, spec: Option<&Spec<'_>>) -> Result<u64, String> {
    let Some(spec) = spec else { return Ok(0) };
    match kind {
        CoreReloKind::TypeIdTarget => Ok(u64::from(spec.root.0)),
        CoreReloKind::TypeExists | CoreReloKind::TypeMatches => Ok(1),
        CoreReloKind::TypeSize => {
            spec.btf.resolve_size(spec.root).ok_or_else(|| format!("type {} has no size", spec.root))
        }
        _ => Err(format!("{} is not a type relocation", kind.name())),
    }
}

/// libbpf's `bpf_core_calc_enumval_relo`; `None` asks for poisoning.
fn enum_value(kind: CoreReloKind, spec: Option<&Spec<'_>>) -> Option<u64> {
    match kind {
        CoreReloKind::EnumvalExists => Some(u64::from(spec.is_some())),
        _ => {
            let acc = spec?.accessors.first()?;
            spec?.btf.kind(acc.type_id).enumerators().get(acc.idx as usize).map(|v| v.value)
        }
    }
}

fn poison() -> Insn {
    Insn::Call(CallTarget::Helper(POISON_HELPER))
}

/// libbpf's `bpf_core_patch_insn`.
fn patch(insns: &mut Vec<Insn>, index: usize, res: &Resolution) -> Result<(), String> {
    let insn = insns[index];
    match insn {
        Insn::Alu { width, op, dst, src: Src::Imm(imm) } => {
            if res.poison {
                insns[index] = poison();
                return Ok(());
            }
            if res.validate && i64::from(imm) as u64 != res.orig_val {
                return Err(format!("unexpected ALU value: got {imm}, expected {} -> {}", res.orig_val, res.new_val));
            }
            insns[index] = Insn::Alu { width, op, dst, src: Src::Imm(res.new_val as i32) };
        }
        Insn::Load { size, signed, dst, src, off } => {
            insns[index] = match mem_patch(size, off, res)? {
                Some((size, off)) => Insn::Load { size, signed, dst, src, off },
                None => poison(),
            };
        }
        Insn::Store { size, dst, off, src } => {
            insns[index] = match mem_patch(size, off, res)? {
                Some((size, off)) => Insn::Store { size, dst, off, src },
                None => poison(),
            };
        }
        Insn::Atomic { size, op, dst, src, off } => {
            insns[index] = match mem_patch(size, off, res)? {
                Some((size, off)) => Insn::Atomic { size, op, dst, src, off },
                None => poison(),
            };
        }
        Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm } => {
            if res.poison {
                insns.splice(index..=index, [poison(), poison()]);
                return Ok(());
            }
            if res.validate && imm != res.orig_val {
                return Err(format!("unexpected lddw value: got {imm}, expected {} -> {}", res.orig_val, res.new_val));
            }
            insns[index] = Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm: res.new_val };
        }
        other => return Err(format!("trying to relocate an instruction it does not apply to: {other:?}")),
    }
    Ok(())
}

/// The new size and offset of a load or store; `None` to poison it.
fn mem_patch(size: Size, off: i16, res: &Resolution) -> Result<Option<(Size, i16)>, String> {
    if res.poison {
        return Ok(None);
    }
    if res.validate && i64::from(off) as u64 != res.orig_val {
        return Err(format!("unexpected memory offset: got {off}, expected {} -> {}", res.orig_val, res.new_val));
    }
    if res.new_val > i16::MAX as u64 {
        return Err(format!("offset {} is too big for a memory access", res.new_val));
    }
    if res.fail_memsz_adjust {
        // The field changed size and is neither a pointer nor an unsigned
        // integer: no load reads it correctly.
        return Ok(None);
    }
    let mut new_size = size;
    if res.new_size != res.orig_size {
        if size.bytes() as u32 != res.orig_size {
            return Err(format!("unexpected memory size: got {}, expected {}", size.bytes(), res.orig_size));
        }
        new_size = Size::ALL
            .into_iter()
            .find(|s| s.bytes() as u32 == res.new_size)
            .ok_or_else(|| format!("invalid new memory size {}", res.new_size))?;
    }
    Ok(Some((new_size, res.new_val as i16)))
}
