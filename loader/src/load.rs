//! [`Object::load`]: an object as libbpf would load it — BTF fixed up, maps
//! defined, externs resolved, CO-RE relocations applied against the target
//! kernel's BTF, programs linked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bpfx_isa::{Insn, InsnIdx, MapSpec, Program, with_slots};

use crate::btf::{
    Btf, BtfError, BtfErrorKind, BtfExt, BtfType, FUNC_GLOBAL, Kind, TypeId, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN,
    VAR_STATIC,
};
use crate::co_re::{self, Candidates};
use crate::error::LoadError;
use crate::externs::{self, Extern, ExternKind, KconfigSource};
use crate::link::{self, Linker};
use crate::maps::{self, KCONFIG_SECTION, Origin};
use crate::object::{Binding, CodeSection, ElfSymbol, Object, Parser, SymbolKind};

/// The running kernel's BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const KSYMS_SECTION: &str = ".ksyms";
/// `STV_INTERNAL` and `STV_HIDDEN`: a global the kernel must see as static.
const STV_INTERNAL: u8 = 1;
const STV_HIDDEN: u8 = 2;

/// How to load an object.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The BTF CO-RE relocations and `__ksym` externs are resolved against;
    /// read only if the object has some.
    pub target: TargetBtf,
    /// Values of `.kconfig` externs by name, as a kernel `.config` spells
    /// them (`CONFIG_HZ` -> `250`, `CONFIG_BPF_JIT` -> `y`, `CONFIG_X` ->
    /// `"text"`, `LINUX_KERNEL_VERSION` -> `395264`); they take precedence
    /// over `kconfig_source`.
    pub kconfig: BTreeMap<String, String>,
    pub kconfig_source: KconfigSource,
    /// Whether an unresolved strong extern is an error (libbpf's rule) or
    /// left zero.
    pub require_externs: bool,
}

impl Default for LoadOptions {
    /// libbpf's behaviour on the running kernel.
    fn default() -> Self {
        LoadOptions {
            target: TargetBtf::Kernel,
            kconfig: BTreeMap::new(),
            kconfig_source: KconfigSource::Kernel,
            require_externs: true,
        }
    }
}

impl LoadOptions {
    /// The object as compiled, reading nothing from the machine: CO-RE
    /// relocations keep the compiler's values, externs nobody gave stay
    /// zero. For inspecting objects (`bpfx info`), not for running them.
    pub fn as_compiled() -> Self {
        LoadOptions {
            target: TargetBtf::AsCompiled,
            kconfig: BTreeMap::new(),
            kconfig_source: KconfigSource::None,
            require_externs: false,
        }
    }
}

/// The BTF an object is relocated against.
#[derive(Debug, Clone, Default)]
pub enum TargetBtf {
    /// [`VMLINUX_BTF`].
    #[default]
    Kernel,
    /// A raw BTF file (a copy of another kernel's `vmlinux` BTF).
    File(PathBuf),
    Btf(Arc<Btf>),
    /// None: CO-RE relocations are left as compiled.
    AsCompiled,
}

impl TargetBtf {
    fn read(&self) -> Result<Option<Arc<Btf>>, LoadError> {
        let read = |path: PathBuf| -> Result<Arc<Btf>, LoadError> {
            let bytes = std::fs::read(&path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
            Btf::parse(&bytes).map(Arc::new).map_err(|source| LoadError::TargetBtf { path, source })
        };
        match self {
            TargetBtf::Kernel => read(PathBuf::from(VMLINUX_BTF)).map(Some),
            TargetBtf::File(path) => read(path.clone()).map(Some),
            TargetBtf::Btf(btf) => Ok(Some(btf.clone())),
            TargetBtf::AsCompiled => Ok(None),
        }
    }
}

/// What [`Object::load`] adds to the ELF structure.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    btf: Option<Btf>,
    btf_ext: Option<BtfExt>,
    maps: Vec<MapSpec>,
    programs: Vec<Program>,
    externs: Vec<Extern>,
    core: CoreSummary,
}

/// How the object's CO-RE relocations went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreSummary {
    /// The relocations in `.BTF.ext`.
    pub relocations: usize,
    /// Those applied against a target (0 when loaded as compiled).
    pub applied: usize,
    /// Those whose target was missing, leaving a poisoned instruction.
    pub poisoned: usize,
}

impl Object {
    /// Loads an object as libbpf would: parses its BTF, collects its maps
    /// and externs, resolves CO-RE relocations and `__ksym` externs against
    /// `options.target`, fills `.kconfig` values, and links each program
    /// with its subprograms.
    pub fn load(bytes: &[u8], options: &LoadOptions) -> Result<Object, LoadError> {
        let parser = Parser::new(bytes)?;
        let mut object = parser.object()?;
        let symbols = parser.elf_symbols()?;
        let mut btf = match parser.find_section(".BTF") {
            Some(i) => Some(Btf::parse(parser.data(i)?).map_err(|source| btf_error(".BTF", source))?),
            None => None,
        };
        let btf_ext = match (parser.find_section(".BTF.ext"), &btf) {
            (Some(i), Some(btf)) => Some(BtfExt::parse(parser.data(i)?, btf).map_err(|e| btf_error(".BTF.ext", e))?),
            (Some(_), None) => {
                let source = BtfError { offset: 0, kind: BtfErrorKind::Ext("the object has no .BTF section".into()) };
                return Err(btf_error(".BTF.ext", source));
            }
            (None, _) => None,
        };
        let (mut externs, kconfig_size) = externs::collect(&symbols, btf.as_ref())?;
        if let Some(btf) = &mut btf {
            fixup_datasecs(&parser, &symbols, btf, &externs, kconfig_size)?;
        }
        let mut maps = maps::collect(&parser, &symbols, btf.as_ref(), kconfig_size)?;
        let functions = link::functions(&object.sections)?;
        let is_program = |shndx: usize, value: u64| {
            functions.iter().any(|f| {
                f.entry && object.sections[f.section].index().0 as usize == shndx && u64::from(f.start.0) * 8 == value
            })
        };
        maps::initial_slots(&parser, &symbols, btf.as_ref(), &mut maps, is_program)?;

        externs::resolve_kconfig(&mut externs, &options.kconfig, &options.kconfig_source, options.require_externs)?;
        if let Some(map) = maps.iter_mut().find(|m| m.origin == Origin::Kconfig) {
            let data = map.spec.initial_data.get_or_insert_with(Vec::new);
            for ext in &externs {
                if let ExternKind::Kconfig { offset, value: Some(value), .. } = &ext.kind {
                    data[*offset as usize..*offset as usize + value.len()].copy_from_slice(value);
                }
            }
        }

        let core_relos = btf_ext.as_ref().map_or(0, |e| e.core_relos.iter().map(|s| s.records.len()).sum());
        let has_ksyms = externs.iter().any(|e| matches!(e.kind, ExternKind::Ksym { .. }));
        let target = if core_relos > 0 || has_ksyms { options.target.read()? } else { None };
        if let (Some(target), Some(btf)) = (&target, &btf) {
            externs::resolve_ksyms(&mut externs, btf, target)?;
        } else if has_ksyms && options.require_externs {
            let strong = externs.iter().find(|e| matches!(e.kind, ExternKind::Ksym { .. }) && !e.weak);
            if let Some(ext) = strong {
                return Err(LoadError::Extern { name: ext.name.clone(), reason: "no target BTF to find it in".into() });
            }
        }

        let mut section_insns: Vec<Vec<Insn>> = object.sections.iter().map(|s| s.insns().to_vec()).collect();
        let mut core = CoreSummary { relocations: core_relos, ..CoreSummary::default() };
        if let (Some(target), Some(btf), Some(ext)) = (&target, &btf, &btf_ext) {
            (core.applied, core.poisoned) = apply_core(&object.sections, &mut section_insns, btf, ext, target)?;
        }

        let license = object.license.clone().unwrap_or_default();
        let linker = Linker {
            sections: &object.sections,
            section_insns: &section_insns,
            maps: &maps,
            externs: &externs,
            btf: btf.as_ref(),
            btf_ext: btf_ext.as_ref(),
            license: &license,
            kernel_version: object.version.unwrap_or(0),
        };
        let programs = linker.programs(&functions)?;
        let maps = maps.into_iter().map(|m| m.spec).collect();
        object.loaded = Some(Box::new(Loaded { btf, btf_ext, maps, programs, externs, core }));
        Ok(object)
    }

    /// The programs (entry points), in section then offset order; empty
    /// for an object from [`Object::parse`].
    pub fn programs(&self) -> &[Program] {
        self.loaded.as_ref().map_or(&[], |l| &l.programs)
    }

    /// The program whose function is `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs().iter().find(|p| p.name == name)
    }

    /// The maps, in libbpf's order (legacy, `.maps`, global data,
    /// `.kconfig`), with unique names. Each program carries those it uses
    /// (see [`Program::maps`]); a map's name identifies it here.
    pub fn maps(&self) -> &[MapSpec] {
        self.loaded.as_ref().map_or(&[], |l| &l.maps)
    }

    /// The object's BTF, with data sections' sizes and variables' offsets
    /// filled in as the kernel needs them.
    pub fn btf(&self) -> Option<&Btf> {
        self.loaded.as_ref().and_then(|l| l.btf.as_ref())
    }

    pub fn btf_ext(&self) -> Option<&BtfExt> {
        self.loaded.as_ref().and_then(|l| l.btf_ext.as_ref())
    }

    /// The `.kconfig` and `.ksyms` externs, kconfig ones first in layout
    /// order, with their values.
    pub fn externs(&self) -> &[Extern] {
        self.loaded.as_ref().map_or(&[], |l| &l.externs)
    }

    pub fn core_summary(&self) -> CoreSummary {
        self.loaded.as_ref().map_or(CoreSummary::default(), |l| l.core)
    }
}

fn btf_error(section: &str, source: BtfError) -> LoadError {
    LoadError::Btf { section: section.into(), source }
}

/// libbpf's `btf_fixup_datasec` and extern rewriting: clang leaves data
/// sections' sizes and global variables' offsets 0 for the loader to fill
/// from the ELF; externs become allocated variables at their place in the
/// `.kconfig` map, as the kernel accepts no extern variables.
fn fixup_datasecs(
    parser: &Parser<'_>,
    symbols: &[ElfSymbol],
    btf: &mut Btf,
    externs: &[Extern],
    kconfig_size: u32,
) -> Result<(), LoadError> {
    let datasecs: Vec<TypeId> =
        btf.types().filter(|(_, t)| matches!(t.kind, Kind::Datasec(_))).map(|(id, _)| id).collect();
    for id in datasecs {
        let name = btf.name(id).to_string();
        let Kind::Datasec(mut sec) = btf.kind(id).clone() else { continue };
        let bad = |reason: String| LoadError::BadDatasec { datasec: name.clone(), reason };
        if name == KCONFIG_SECTION {
            sec.size = kconfig_size;
            for var in &mut sec.vars {
                let var_name = btf.name(var.ty).to_string();
                let ext = externs.iter().find(|e| e.name == var_name);
                let Some(ExternKind::Kconfig { offset, .. }) = ext.map(|e| &e.kind) else {
                    return Err(bad(format!("variable {var_name} is no kconfig extern")));
                };
                var.offset = *offset;
                set_linkage(btf, var.ty, VAR_GLOBAL_ALLOCATED);
            }
        } else if name == KSYMS_SECTION {
            // The kernel accepts no extern variables or functions: as
            // libbpf, each variable becomes an allocated 4-byte one, each
            // function a global one (its unnamed parameters named) whose
            // entry here is a dummy variable.
            let int = btf.types().find(|(_, t)| matches!(t.kind, Kind::Int(i) if i.bits == 32)).map(|(id, _)| id);
            let int = int.unwrap_or_default();
            let mut dummy: Option<(TypeId, u32)> = None;
            let mut offset = 0;
            for var in &mut sec.vars {
                match btf.kind(var.ty).clone() {
                    Kind::Var { .. } => btf.set_kind(var.ty, Kind::Var { ty: int, linkage: VAR_GLOBAL_ALLOCATED }),
                    Kind::Func { proto, .. } => {
                        let (dummy_id, dummy_name) = *dummy.get_or_insert_with(|| {
                            let name_off = btf.add_string("dummy_ksym");
                            let ty = Kind::Var { ty: int, linkage: VAR_GLOBAL_ALLOCATED };
                            (btf.add_type(BtfType { name_off, kind: ty }), name_off)
                        });
                        btf.set_kind(var.ty, Kind::Func { proto, linkage: FUNC_GLOBAL });
                        if let Kind::FuncProto(mut p) = btf.kind(proto).clone() {
                            for param in p.params.iter_mut().filter(|p| p.name_off == 0 && p.ty.0 != 0) {
                                param.name_off = dummy_name;
                            }
                            btf.set_kind(proto, Kind::FuncProto(p));
                        }
                        var.ty = dummy_id;
                    }
                    _ => {}
                }
                var.offset = offset;
                var.size = 4;
                offset += 4;
            }
            sec.size = offset;
        } else if sec.size == 0 {
            let section =
                parser.find_section(&name).ok_or_else(|| bad("the object has no ELF section of that name".into()))?;
            sec.size =
                u32::try_from(parser.header(section).sh_size).map_err(|_| bad("the section is too large".into()))?;
            for var in &mut sec.vars {
                let Kind::Var { linkage, .. } = *btf.kind(var.ty) else {
                    return Err(bad(format!("entry {} is a {}, not a VAR", var.ty, btf.kind(var.ty).name())));
                };
                if linkage == VAR_STATIC || linkage == VAR_GLOBAL_EXTERN {
                    continue;
                }
                let var_name = btf.name(var.ty).to_string();
                let sym = symbols
                    .iter()
                    .find(|s| {
                        s.kind == SymbolKind::Object
                            && matches!(s.binding, Binding::Global | Binding::Weak)
                            && s.name == var_name
                    })
                    .ok_or_else(|| bad(format!("no symbol for variable {var_name}")))?;
                var.offset = u32::try_from(sym.value).map_err(|_| bad(format!("variable {var_name} is too far")))?;
                if matches!(sym.visibility, STV_HIDDEN | STV_INTERNAL) {
                    set_linkage(btf, var.ty, VAR_STATIC);
                }
            }
        }
        sec.vars.sort_by_key(|v| v.offset);
        btf.set_kind(id, Kind::Datasec(sec));
    }
    Ok(())
}

fn set_linkage(btf: &mut Btf, var: TypeId, linkage: u32) {
    if let Kind::Var { ty, .. } = *btf.kind(var) {
        btf.set_kind(var, Kind::Var { ty, linkage });
    }
}

/// Applies the CO-RE relocations of `.BTF.ext` to the code sections'
/// instructions. Returns how many were applied and how many poisoned.
fn apply_core(
    sections: &[CodeSection],
    insns: &mut [Vec<Insn>],
    btf: &Btf,
    ext: &BtfExt,
    target: &Btf,
) -> Result<(usize, usize), LoadError> {
    let candidates = Candidates::new(target);
    let (mut applied, mut poisoned) = (0, 0);
    for relos in &ext.core_relos {
        let k = sections.iter().position(|s| s.name() == relos.section).ok_or_else(|| LoadError::Core {
            section: relos.section.clone(),
            index: 0,
            kind: "",
            at: InsnIdx(0),
            reason: "no code section of that name".into(),
        })?;
        let starts: Vec<InsnIdx> = with_slots(&insns[k]).map(|(at, _)| at).collect();
        // Last first: poisoning an lddw turns one instruction into two, which
        // shifts only the instructions after it.
        let mut order: Vec<usize> = (0..relos.records.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(relos.records[i].insn_off));
        for i in order {
            let relo = &relos.records[i];
            let at = InsnIdx(relo.insn_off / 8);
            let fail = |reason: String| LoadError::Core {
                section: relos.section.clone(),
                index: i,
                kind: relo.kind.name(),
                at,
                reason,
            };
            let index = starts
                .binary_search(&at)
                .ok()
                .filter(|_| relo.insn_off.is_multiple_of(8))
                .ok_or_else(|| fail("not at an instruction".into()))?;
            if co_re::relocate(btf, &candidates, relo, &mut insns[k], index).map_err(fail)? {
                poisoned += 1;
            }
            applied += 1;
        }
    }
    Ok((applied, poisoned))
}
