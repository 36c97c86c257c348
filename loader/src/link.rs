//! From code sections to programs, as libbpf links them:
//! 1. every function (a `FUNC` symbol) gets its own copy of its
//!    instructions, with map, global data and extern references resolved
//!    (`lddw` of a map -> `MapFd`, of data -> `MapValue`, of a kconfig
//!    extern -> `MapValue` into `.kconfig`, of a kernel variable -> `BtfId`,
//!    a kfunc call -> `Kfunc`);
//! 2. each entry-point program (a global function outside `.text`) is laid
//!    out alone, and every function it calls or takes the address of is
//!    appended after it the first time it is referenced, depth-first (the
//!    order libbpf's `bpf_object__reloc_code` gives, so instruction numbers
//!    match the kernel's logs); call and function-address immediates are
//!    then rewritten relative to the new layout;
//! 3. the program's func and line info are gathered from `.BTF.ext` for
//!    each placed function.
//!
//! A program carries the maps it references ([`Program::maps`]: those its
//! `lddw`s name, and the maps a map-in-map among them starts with), in the
//! object's order, and its `lddw`s index that list. A map's name identifies
//! it in the object ([`Object::maps`](crate::Object::maps), where names are
//! unique), so programs of one object share a map by name. A program thus
//! loads without the object's unrelated maps.

use std::collections::HashMap;

use bpfx_isa::abi::MapType;
use bpfx_isa::{
    CallTarget, FuncInfo, FuncSig, Insn, InsnIdx, LdImm64Kind, LineInfo, MapSpec, ParamType, Program, with_slots,
};

use crate::btf::{Btf, BtfExt, FUNC_GLOBAL, Kind, TypeId};
use crate::error::LoadError;
use crate::externs::{Extern, ExternKind};
use crate::maps::{ObjMap, Origin};
use crate::object::{Binding, CodeSection, RelocKind, Relocation, SymbolKind};
use crate::sections::section_def;

const TEXT: &str = ".text";

/// A function: a `FUNC` symbol's instructions in a code section.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub name: String,
    /// Position in the object's code section list.
    pub section: usize,
    pub start: InsnIdx,
    /// One past its last slot.
    pub end: InsnIdx,
    /// An entry point (a program) rather than a subprogram.
    pub entry: bool,
}

/// A function's instructions with data references resolved, and its
/// references to other functions (by instruction index, target section and
/// slot) still to resolve.
struct Code {
    insns: Vec<Insn>,
    refs: Vec<Ref>,
}

/// A call or function address in a function's code.
#[derive(Debug, Clone, Copy)]
struct Ref {
    /// The instruction's index in the function's code.
    index: usize,
    /// Its slot, relative to the function's start.
    slot: u32,
    /// The target's code section and slot in that section.
    section: usize,
    target: InsnIdx,
}

/// Everything the linker reads.
pub(crate) struct Linker<'a> {
    pub sections: &'a [CodeSection],
    /// Each code section's instructions after CO-RE relocation.
    pub section_insns: &'a [Vec<Insn>],
    pub maps: &'a [ObjMap],
    pub externs: &'a [Extern],
    pub btf: Option<&'a Btf>,
    pub btf_ext: Option<&'a BtfExt>,
    pub license: &'a str,
    pub kernel_version: u32,
}

/// The functions of the object's code sections, in section then slot
/// order.
pub(crate) fn functions(sections: &[CodeSection]) -> Result<Vec<Function>, LoadError> {
    let mut functions = Vec::new();
    for (k, section) in sections.iter().enumerate() {
        let end = InsnIdx(with_slots(section.insns()).last().map_or(0, |(at, i)| at.0 + i.slots() as u32));
        let text = section.name() == TEXT;
        let funcs: Vec<_> = section.symbols().iter().filter(|s| s.kind == SymbolKind::Func).collect();
        if funcs.is_empty() && !text && end.0 > 0 {
            // Hand-written assembly may define no function symbol: the
            // section is one program, named after a global label at its
            // start if there is one.
            let name = section
                .symbols_at(InsnIdx(0))
                .find(|s| s.binding == Binding::Global)
                .map_or(section.name(), |s| s.name.as_str());
            functions.push(Function { name: name.to_string(), section: k, start: InsnIdx(0), end, entry: true });
            continue;
        }
        for (n, sym) in funcs.iter().enumerate() {
            let bad = |reason: String| LoadError::BadProgram {
                section: section.name().into(),
                name: sym.name.clone(),
                reason,
            };
            let next = funcs.get(n + 1).map_or(end, |f| f.at);
            let func_end =
                if sym.size == 0 {
                    next
                } else {
                    let slots = u32::try_from(sym.size / 8).ok().filter(|_| sym.size.is_multiple_of(8));
                    slots.and_then(|s| sym.at.0.checked_add(s)).map(InsnIdx).filter(|e| *e <= end).ok_or_else(|| {
                        bad(format!("its size {:#x} runs past the section or splits a slot", sym.size))
                    })?
                };
            let entry = !text;
            if entry && sym.binding == Binding::Local {
                return Err(bad("is static; programs must be global (as libbpf requires)".into()));
            }
            functions.push(Function { name: sym.name.clone(), section: k, start: sym.at, end: func_end, entry });
        }
    }
    Ok(functions)
}

impl Linker<'_> {
    /// Links every entry-point program.
    pub(crate) fn programs(&self, functions: &[Function]) -> Result<Vec<Program>, LoadError> {
        let codes = functions.iter().map(|f| self.code(f)).collect::<Result<Vec<_>, _>>()?;
        let by_start: HashMap<(usize, InsnIdx), usize> =
            functions.iter().enumerate().map(|(i, f)| ((f.section, f.start), i)).collect();
        functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.entry)
            .map(|(i, f)| self.program(functions, &codes, &by_start, i, f))
            .collect()
    }

    fn program(
        &self,
        functions: &[Function],
        codes: &[Code],
        by_start: &HashMap<(usize, InsnIdx), usize>,
        main: usize,
        f: &Function,
    ) -> Result<Program, LoadError> {
        let section = self.sections[f.section].name();
        let mut insns: Vec<Insn> = Vec::new();
        // Where each placed function starts: its first slot and the index
        // of its first instruction.
        let mut placed: HashMap<usize, (InsnIdx, usize)> = HashMap::new();
        place(main, &mut insns, &mut placed, codes);
        // Depth-first, as libbpf: a callee is placed at its first reference
        // and its own references are followed before the caller's next.
        let mut stack = vec![(main, 0)];
        while let Some((func, cursor)) = stack.last_mut() {
            let func = *func;
            let Some(&Ref { index, slot, section: target_section, target }) = codes[func].refs.get(*cursor) else {
                stack.pop();
                continue;
            };
            *cursor += 1;
            let callee = by_start.get(&(target_section, target)).copied().ok_or_else(|| LoadError::BadProgram {
                section: section.into(),
                name: f.name.clone(),
                reason: format!(
                    "function {} calls or references slot {target} of section {}, where no function starts",
                    functions[func].name,
                    self.sections[target_section].name()
                ),
            })?;
            let callee_at = match placed.get(&callee) {
                Some(&(at, _)) => at,
                None => {
                    stack.push((callee, 0));
                    place(callee, &mut insns, &mut placed, codes)
                }
            };
            let (at, first) = placed[&func];
            let slot = at.0 + slot;
            let rel =
                i32::try_from(i64::from(callee_at.0) - i64::from(slot) - 1).map_err(|_| LoadError::BadProgram {
                    section: section.into(),
                    name: f.name.clone(),
                    reason: "a call offset overflows".into(),
                })?;
            insns[first + index] = match insns[first + index] {
                Insn::LdImm64 { dst, .. } => Insn::LdImm64 { dst, kind: LdImm64Kind::Func, imm: u64::from(rel as u32) },
                _ => Insn::Call(CallTarget::Local(rel)),
            };
        }
        let def = section_def(section);
        let mut program =
            Program::new(f.name.clone(), def.map_or(bpfx_isa::abi::ProgType::Unspec, |d| d.prog_type), insns);
        program.maps = self.own_maps(&mut program.insns);
        program.section = section.to_string();
        program.expected_attach_type = def.and_then(|d| d.expected_attach_type);
        program.prog_flags = def.map_or(0, |d| d.prog_flags);
        program.license = self.license.to_string();
        program.kernel_version = self.kernel_version;
        let mut order: Vec<_> = placed.iter().map(|(&func, &(at, _))| (at, func)).collect();
        order.sort();
        for (at, func) in order {
            self.info(&functions[func], at, &mut program);
        }
        Ok(program)
    }

    /// The maps `insns` reference (closed over map-in-maps' initial
    /// slots), in object order; rewrites the `lddw`s to index them.
    fn own_maps(&self, insns: &mut [Insn]) -> Vec<MapSpec> {
        let mut used = vec![false; self.maps.len()];
        for insn in insns.iter() {
            if let Insn::LdImm64 { kind: LdImm64Kind::MapFd | LdImm64Kind::MapValue, imm, .. } = insn
                && let Some(u) = used.get_mut(*imm as u32 as usize)
            {
                *u = true;
            }
        }
        let mut pending: Vec<usize> = (0..used.len()).filter(|&i| used[i]).collect();
        while let Some(i) = pending.pop() {
            let spec = &self.maps[i].spec;
            if !matches!(spec.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
                continue;
            }
            for (_, name) in &spec.initial_slots {
                if let Some(j) = self.maps.iter().position(|m| &m.spec.name == name)
                    && !used[j]
                {
                    used[j] = true;
                    pending.push(j);
                }
            }
        }
        let mut index = vec![0u32; used.len()];
        let mut maps = Vec::new();
        for (i, m) in self.maps.iter().enumerate().filter(|(i, _)| used[*i]) {
            index[i] = maps.len() as u32;
            maps.push(m.spec.clone());
        }
        for insn in insns.iter_mut() {
            if let Insn::LdImm64 { kind: LdImm64Kind::MapFd | LdImm64Kind::MapValue, imm, .. } = insn
                && let Some(&new) = index.get(*imm as u32 as usize)
            {
                *imm = (*imm & !0xffff_ffff) | u64::from(new);
            }
        }
        maps
    }

    /// Appends the func and line info of `func`, placed at slot `at`.
    fn info(&self, func: &Function, at: InsnIdx, program: &mut Program) {
        let (Some(btf), Some(ext)) = (self.btf, self.btf_ext) else { return };
        let section = self.sections[func.section].name();
        let range = u64::from(func.start.0) * 8..u64::from(func.end.0) * 8;
        let place = |insn_off: u32| InsnIdx(at.0 + (insn_off / 8 - func.start.0));
        for records in ext.func_info.iter().filter(|s| s.section == section) {
            for rec in records.records.iter().filter(|r| range.contains(&u64::from(r.insn_off))) {
                program.func_info.push(FuncInfo {
                    at: place(rec.insn_off),
                    name: btf.name(rec.type_id).to_string(),
                    btf_type_id: rec.type_id.0,
                    global: matches!(btf.kind(rec.type_id), Kind::Func { linkage, .. } if *linkage == FUNC_GLOBAL),
                    sig: func_sig(btf, rec.type_id),
                });
            }
        }
        for records in ext.line_info.iter().filter(|s| s.section == section) {
            for rec in records.records.iter().filter(|r| range.contains(&u64::from(r.insn_off))) {
                program.line_info.push(LineInfo {
                    at: place(rec.insn_off),
                    file: btf.str_at(rec.file_name_off).unwrap_or("").to_string(),
                    line: rec.line(),
                    column: rec.column(),
                    source: btf.str_at(rec.line_off).unwrap_or("").to_string(),
                    file_name_off: rec.file_name_off,
                    line_off: rec.line_off,
                });
            }
        }
    }

    /// `func`'s instructions with its data references resolved.
    fn code(&self, func: &Function) -> Result<Code, LoadError> {
        let section = &self.sections[func.section];
        let all = &self.section_insns[func.section];
        let mut insns = Vec::new();
        let mut refs = Vec::new();
        let mut ended = false;
        for (at, insn) in with_slots(all) {
            if at < func.start {
                continue;
            }
            if at >= func.end {
                ended = at == func.end;
                break;
            }
            let mut insn = *insn;
            let index = insns.len();
            let slot = at.0 - func.start.0;
            let relocs: Vec<&Relocation> = section.relocations_at(at).collect();
            for reloc in &relocs {
                if let Some((target_section, target)) = self.relocate(section, reloc, &mut insn)? {
                    refs.push(Ref { index, slot, section: target_section, target });
                }
            }
            if relocs.is_empty() {
                match insn {
                    Insn::Call(CallTarget::Local(imm)) => {
                        let target = i64::from(at.0) + 1 + i64::from(imm);
                        let target = u32::try_from(target).map_err(|_| LoadError::BadProgram {
                            section: section.name().into(),
                            name: func.name.clone(),
                            reason: format!("the call at slot {at} targets before the section's start"),
                        })?;
                        refs.push(Ref { index, slot, section: func.section, target: InsnIdx(target) });
                    }
                    Insn::LdImm64 { kind: LdImm64Kind::Func, .. } => {
                        return Err(LoadError::BadProgram {
                            section: section.name().into(),
                            name: func.name.clone(),
                            reason: format!("the function address at slot {at} has no relocation"),
                        });
                    }
                    // libbpf hands an unrelocated map reference to the kernel
                    // as the fd it holds, which is no map of the object: an
                    // index past every map keeps it that way (the verifier
                    // and the kernel loader both refuse it).
                    Insn::LdImm64 { dst, kind: kind @ (LdImm64Kind::MapFd | LdImm64Kind::MapValue), imm } => {
                        insn = Insn::LdImm64 { dst, kind, imm: (imm & !0xffff_ffff) | u64::from(u32::MAX) };
                    }
                    _ => {}
                }
            }
            insns.push(insn);
        }
        let last = with_slots(all).last().map(|(at, i)| InsnIdx(at.0 + i.slots() as u32));
        if !ended && last != Some(func.end) {
            return Err(LoadError::BadProgram {
                section: section.name().into(),
                name: func.name.clone(),
                reason: format!("it ends at slot {}, inside an instruction", func.end),
            });
        }
        Ok(Code { insns, refs })
    }

    /// Applies one relocation of a code section to `insn`. Returns the
    /// code section and slot of the function it calls or takes the address
    /// of, if it does.
    fn relocate(
        &self,
        section: &CodeSection,
        reloc: &Relocation,
        insn: &mut Insn,
    ) -> Result<Option<(usize, InsnIdx)>, LoadError> {
        let index_in_table = section.relocations().iter().position(|r| std::ptr::eq(r, reloc)).unwrap_or(0);
        let symbol_name = reloc.symbol.as_ref().map_or("*ABS*", |s| s.name.as_str());
        let bad = |reason: String| LoadError::BadRelocation {
            section: section.name().into(),
            index: index_in_table,
            offset: reloc.at.byte_offset() as u64,
            symbol: symbol_name.to_string(),
            reason,
        };
        match reloc.kind {
            RelocKind::None => return Ok(None),
            RelocKind::Bpf64_64 | RelocKind::Bpf64_32 => {}
            RelocKind::Other(r_type) => {
                return Err(LoadError::UnknownRelocation {
                    section: section.name().into(),
                    index: index_in_table,
                    offset: reloc.at.byte_offset() as u64,
                    r_type,
                });
            }
            other => return Err(bad(format!("{other} does not apply to an instruction"))),
        }
        let Some(sym) = &reloc.symbol else { return Err(bad("it names no symbol".into())) };
        let code_section = |elf: crate::object::SectionIndex| self.sections.iter().position(|s| s.index() == elf);
        match (reloc.kind, *insn) {
            (RelocKind::Bpf64_32, Insn::Call(CallTarget::Local(imm))) => match sym.section {
                Some(elf) => {
                    let k = code_section(elf).ok_or_else(|| bad("a call to a symbol outside code".into()))?;
                    if !sym.value.is_multiple_of(8) {
                        return Err(bad(format!("the callee's offset {:#x} is not on a slot", sym.value)));
                    }
                    let target = i64::try_from(sym.value / 8).unwrap_or(i64::MAX) + i64::from(imm) + 1;
                    let target =
                        u32::try_from(target).map_err(|_| bad("the call targets outside its section".into()))?;
                    return Ok(Some((k, InsnIdx(target))));
                }
                None => {
                    let ext = self.extern_named(&sym.name).ok_or_else(|| bad("call to an undefined symbol".into()))?;
                    let ExternKind::Ksym { function: true, target_id, .. } = &ext.kind else {
                        return Err(bad("call to an extern that is not a function".into()));
                    };
                    *insn = Insn::Call(CallTarget::Kfunc { btf_id: target_id.unwrap_or(0), module: 0 });
                }
            },
            (RelocKind::Bpf64_32, _) => return Err(bad("R_BPF_64_32 applies to calls only".into())),
            (RelocKind::Bpf64_64, Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm }) => {
                let low = i64::from(imm as u32 as i32);
                let Some(elf) = sym.section else {
                    let ext = self.extern_named(&sym.name).ok_or_else(|| bad("undefined symbol".into()))?;
                    *insn = match &ext.kind {
                        ExternKind::Kconfig { offset, .. } => {
                            let map = self.maps.iter().position(|m| m.origin == Origin::Kconfig);
                            let map = map.ok_or_else(|| bad("no .kconfig map".into()))?;
                            Insn::LdImm64 {
                                dst,
                                kind: LdImm64Kind::MapValue,
                                imm: map as u64 | u64::from(*offset) << 32,
                            }
                        }
                        ExternKind::Ksym { function: false, target_id: Some(id), .. } => {
                            Insn::LdImm64 { dst, kind: LdImm64Kind::BtfId, imm: u64::from(*id) }
                        }
                        ExternKind::Ksym { function: false, target_id: None, .. } => {
                            Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm: 0 }
                        }
                        // `bpf_ksym_exists(kfunc)`: the kernel loads a
                        // kfunc's BTF id as its address.
                        ExternKind::Ksym { function: true, target_id: Some(id), .. } => {
                            Insn::LdImm64 { dst, kind: LdImm64Kind::BtfId, imm: u64::from(*id) }
                        }
                        ExternKind::Ksym { function: true, target_id: None, .. } => {
                            Insn::LdImm64 { dst, kind: LdImm64Kind::Imm, imm: 0 }
                        }
                    };
                    return Ok(None);
                };
                if let Some(k) = code_section(elf) {
                    let off = i64::try_from(sym.value).unwrap_or(i64::MAX) + low;
                    if off < 0 || off % 8 != 0 || sym.value % 8 != 0 {
                        return Err(bad(format!("function address {off:#x} is not on a slot")));
                    }
                    *insn = Insn::LdImm64 { dst, kind: LdImm64Kind::Func, imm: 0 };
                    return Ok(Some((k, InsnIdx((off / 8) as u32))));
                }
                let elf = elf.0 as usize;
                let found = self.maps.iter().enumerate().find_map(|(i, m)| match m.origin {
                    Origin::Definition { section, offset, .. } if section == elf => {
                        (offset == sym.value).then_some(Ok((i, None)))
                    }
                    Origin::Data { section } if section == elf => Some(Ok((i, Some((low + sym.value as i64) as u32)))),
                    _ => None,
                });
                let defined_here =
                    self.maps.iter().any(|m| matches!(m.origin, Origin::Definition { section, .. } if section == elf));
                let (map, value_off) = match found {
                    Some(found) => found?,
                    None if defined_here => return Err(bad(format!("no map is defined at offset {:#x}", sym.value))),
                    None => {
                        return Err(
                            bad("the symbol is in a section that is neither code, maps nor global data".into()),
                        );
                    }
                };
                *insn = match value_off {
                    None => Insn::LdImm64 { dst, kind: LdImm64Kind::MapFd, imm: map as u64 },
                    Some(off) => {
                        Insn::LdImm64 { dst, kind: LdImm64Kind::MapValue, imm: map as u64 | u64::from(off) << 32 }
                    }
                };
            }
            (RelocKind::Bpf64_64, _) => return Err(bad("R_BPF_64_64 applies to a plain lddw only".into())),
            _ => unreachable!("other kinds returned above"),
        }
        Ok(None)
    }

    fn extern_named(&self, name: &str) -> Option<&Extern> {
        self.externs.iter().find(|e| e.name == name)
    }
}

/// Appends function `func`'s code; returns its first slot.
fn place(func: usize, insns: &mut Vec<Insn>, placed: &mut HashMap<usize, (InsnIdx, usize)>, codes: &[Code]) -> InsnIdx {
    let at = InsnIdx(insns.iter().map(|i| i.slots() as u32).sum());
    placed.insert(func, (at, insns.len()));
    insns.extend_from_slice(&codes[func].insns);
    at
}

/// The prototype of the `FUNC` type `func` as the kernel's verifier reads
/// it for a global function (`btf_prepare_func_args`); `None` when `func`
/// is not a function with a prototype.
fn func_sig(btf: &Btf, func: TypeId) -> Option<FuncSig> {
    let Kind::Func { proto, .. } = *btf.kind(func) else { return None };
    let Kind::FuncProto(proto) = btf.kind(proto) else { return None };
    let is_scalar =
        |id: TypeId| matches!(btf.kind(btf.skip_mods_and_typedefs(id)), Kind::Int(_) | Kind::Enum(_) | Kind::Enum64(_));
    let tagged = |i: usize| {
        btf.types().any(|(_, t)| {
            matches!(t.kind, Kind::DeclTag { ty, component_idx } if ty == func && component_idx == i as i32)
                && btf.str_at(t.name_off).is_some_and(|n| n.starts_with("arg:"))
        })
    };
    let params = proto
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if tagged(i) {
                return ParamType::Other;
            }
            let ty = btf.skip_mods_and_typedefs(p.ty);
            match *btf.kind(ty) {
                Kind::Int(_) | Kind::Enum(_) | Kind::Enum64(_) => ParamType::Scalar,
                Kind::Ptr(to) => {
                    let to = btf.skip_mods_and_typedefs(to);
                    let to_struct = match btf.kind(to) {
                        Kind::Struct(_) => Some(btf.name(to).to_string()),
                        _ => None,
                    };
                    let size = btf.resolve_size(to).and_then(|s| u32::try_from(s).ok());
                    ParamType::Pointer { to_struct, size }
                }
                _ => ParamType::Other,
            }
        })
        .collect();
    Some(FuncSig { returns_scalar: is_scalar(proto.ret), params })
}
