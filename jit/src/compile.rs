//! Translation of a [`Program`] to Cranelift IR, and its compilation.
//!
//! One native function per program, `fn(state) -> (code, count)` (see
//! [`crate::exec`]), with the VM context's address a constant in it. Its
//! entry block loads the state, then dispatches to one of the program's
//! entry points: its first instruction, or a subprogram a `lddw` of a
//! function names (a callback). bpf-to-bpf calls stay inside
//! the function: a call pushes the caller's `r6`..`r9` and a return-site
//! number on a frame stack in a stack slot, `exit` pops them and goes back
//! through a `br_table` of return sites — the interpreter's frames, so a
//! callee sees and leaves every register as it does there.
//!
//! Cranelift compiles without its e-graph optimiser (see [`crate::Jit::new`]);
//! the translation itself does what BPF code gains from: chains of
//! constant additions are one addition ([`Translator::add_const`]), a
//! frame slot a basic block stored is read back from the stored value
//! ([`Translator::remember_store`]), memory offsets stay in the memory
//! instruction, forward jumps carry no budget check and fault arguments
//! are set up off the path that goes on.

use std::collections::BTreeMap;

use bpfx_isa::abi::MapType;
use bpfx_isa::{
    AluOp, AtomicOp, CallTarget, Endian, HelperId, Insn, InsnIdx, JmpCond, LdImm64Kind, MapIdx, PacketLoad, Program,
    Proven, Reg, Size, Src, SwapBits, Width,
};
use bpfx_runtime::ContextKind;
use bpfx_runtime::region::{FRAME_SIZE, MAX_FRAMES, PACKET_REGION};
use bpfx_runtime::vmctx::{offsets as vmo, status};
use bpfx_runtime::{Linked, LoadError, ProgId, Runtime};
use cranelift_codegen::entity::SecondaryMap;
use cranelift_codegen::ir::condcodes::{CondCode, IntCC};
use cranelift_codegen::ir::{
    AbiParam, AtomicRmwOp, Block, BlockArg, Function, InstBuilder, InstructionData, JumpTableData, MemFlagsData,
    Opcode, Signature, StackSlotData, StackSlotKind, Type, UserFuncName, Value, types,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Module, default_libcall_names};

use crate::exec::{self, CompiledFn, kind, offsets as sto};
use bpfx_runtime::code::code_addr;

/// A compiled program.
pub(crate) struct Compiled {
    pub func: CompiledFn,
    /// Entry points by instruction ordinal: the entry index the function
    /// dispatches on, and the instruction's index.
    entries: BTreeMap<usize, (u32, InsnIdx)>,
    /// Per instruction, the region its access hit last (read and written by
    /// the compiled code; only ever a valid region index).
    _hints: Box<[u8]>,
    /// Bytes of machine code in the function.
    pub code_bytes: usize,
    /// The context kind the verifier's facts were proved for, when they
    /// cover context or packet accesses: runs on another are refused.
    pub context: Option<ContextKind>,
    module: Option<JITModule>,
}

impl Compiled {
    /// The entry index of the subprogram starting at instruction `op`, and
    /// the index of that instruction.
    pub(crate) fn entry_of(&self, op: usize) -> Option<(u32, InsnIdx)> {
        self.entries.get(&op).copied()
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the code is only reachable through `func`, which dies
            // with `self`; no run outlives the engine that owns it.
            unsafe { module.free_memory() };
        }
    }
}

/// The instruction ordinal of every slot that starts an instruction.
fn op_of_slot(program: &Program) -> Vec<Option<usize>> {
    let mut map = vec![None; program.slot_count() + 1];
    for (i, (at, _)) in program.slots().enumerate() {
        map[at.index()] = Some(i);
    }
    map[program.slot_count()] = None;
    map
}

/// Whether some instruction may write `r10`; if none does, `r10` is always
/// the frame pointer and an access within its frame needs no check.
fn writes_r10(insns: &[Insn]) -> bool {
    insns.iter().any(|insn| match *insn {
        Insn::Alu { dst, .. } | Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => dst == Reg::R10,
        Insn::LdImm64 { dst, .. } | Insn::Load { dst, .. } => dst == Reg::R10,
        Insn::Atomic { op, src, .. } => op.fetches() && op != AtomicOp::CmpXchg && src == Reg::R10,
        _ => false,
    })
}

/// Per instruction (and the end), whether code reaches it other than by
/// falling through: it is an entry, or a jump or call goes to it.
fn targeted(ops: &[(InsnIdx, Insn)], target_of: &dyn Fn(usize) -> usize, entries: &BTreeMap<usize, u32>) -> Vec<bool> {
    let mut targeted = vec![false; ops.len() + 1];
    for &e in entries.keys() {
        targeted[e] = true;
    }
    for (i, (_, insn)) in ops.iter().enumerate() {
        if matches!(insn, Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. } | Insn::Call(CallTarget::Local(_)))
        {
            targeted[target_of(i)] = true;
        }
    }
    targeted
}

/// Per instruction, whether it is a conditional jump over one instruction
/// that only sets a register from registers (an ALU op, division aside,
/// a negation, a byte swap or an `lddw`) and that nothing else jumps to:
/// clang's form of `x = cond ? a : x`. Such a jump compiles to a select
/// (the skipped instruction computed either way, which cannot fault),
/// so neither it nor its target splits a block: no branch to mispredict
/// at run time, and no diamond of three blocks for the register allocator.
fn selects(ops: &[(InsnIdx, Insn)], target_of: &dyn Fn(usize) -> usize, targeted: &[bool]) -> Vec<bool> {
    (0..ops.len())
        .map(|i| {
            matches!(ops[i].1, Insn::Jump { .. })
                && target_of(i) == i + 2
                && !targeted[i + 1]
                && selectable(&ops[i + 1].1).is_some()
        })
        .collect()
}

/// The register `insn` sets, when a select may skip it (see [`selects`]).
fn selectable(insn: &Insn) -> Option<Reg> {
    match *insn {
        Insn::Alu { op: AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod, .. } => None,
        Insn::Alu { dst, .. } | Insn::Neg { dst, .. } | Insn::Endian { dst, .. } | Insn::LdImm64 { dst, .. } => {
            (dst != Reg::R10).then_some(dst)
        }
        _ => None,
    }
}

/// A jump translated as a select, waiting for the instruction it skips.
struct Selecting {
    skipped: usize,
    /// Whether the jump is taken (the instruction skipped).
    taken: Value,
    /// The register the skipped instruction sets, and its value before.
    reg: Reg,
    before: Value,
}

/// Per instruction (and the end), the registers (`r0`..`r9`, bit `n` for
/// `rn`) whose value before it some path on may read before writing, by
/// backward liveness. `exit` reads `r0` (all an exit hands back); a call
/// that may make a tail call or enter a subprogram reads every register
/// (a caller frame sees what its callee left).
///
/// What is live at an entry point is all the entry block loads from the
/// state (without the e-graph optimiser, a load nobody reads would stay);
/// what is live after a helper call is all it keeps (see
/// [`Translator::helper_call`]).
fn liveness(ops: &[(InsnIdx, Insn)], target_of: &dyn Fn(usize) -> usize, tail_calls: &[bool]) -> Vec<u16> {
    const ALL: u16 = 0x3ff;
    const ARGS: u16 = 0x3e;
    let bit = |r: Reg| if r.num() < 10 { 1u16 << r.num() } else { 0 };
    let src_bit = |src: Src| if let Src::Reg(r) = src { bit(r) } else { 0 };
    let n = ops.len();
    // Per instruction: registers read, registers written, and whether it
    // may go on to the next one.
    let effects: Vec<(u16, u16, bool)> = ops
        .iter()
        .enumerate()
        .map(|(i, (_, insn))| match *insn {
            Insn::Alu { op: AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32, dst, src, .. } => {
                (src_bit(src), bit(dst), true)
            }
            Insn::Alu { dst, src, .. } => (bit(dst) | src_bit(src), bit(dst), true),
            Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => (bit(dst), bit(dst), true),
            Insn::LdImm64 { dst, .. } => (0, bit(dst), true),
            Insn::Load { dst, src, .. } => (bit(src), bit(dst), true),
            Insn::Store { dst, src, .. } => (bit(dst) | src_bit(src), 0, true),
            Insn::Atomic { op: AtomicOp::CmpXchg, dst, src, .. } => (bit(dst) | bit(src) | 1, 1, true),
            Insn::Atomic { op, dst, src, .. } => (bit(dst) | bit(src), if op.fetches() { bit(src) } else { 0 }, true),
            Insn::Jump { dst, src, .. } => (bit(dst) | src_bit(src), 0, true),
            Insn::Ja { .. } => (0, 0, false),
            Insn::MayGoto { .. } => (0, 0, true),
            Insn::Exit => (1, 0, false),
            Insn::Call(CallTarget::Local(_)) => (ALL, 0, false),
            Insn::Call(_) if tail_calls[i] => (ALL, 1, true),
            Insn::Call(_) => (ARGS, 1, true),
            Insn::Callx { .. } => (ALL, 1, true),
            Insn::PacketLoad { mode, .. } => (if let PacketLoad::Ind(r) = mode { bit(r) } else { 0 }, 1, true),
        })
        .collect();
    // Live registers before each instruction; past the end nothing is read.
    let mut live = vec![0u16; n + 1];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let (reads, writes, falls) = effects[i];
            let mut out = if falls { live[i + 1] } else { 0 };
            if matches!(ops[i].1, Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. }) {
                out |= live[target_of(i)];
            }
            let before = reads | (out & !writes);
            if before != live[i] {
                live[i] = before;
                changed = true;
            }
        }
    }
    live
}

/// `bpf_map_lookup_elem`.
const MAP_LOOKUP_ELEM: HelperId = HelperId(1);

/// A `bpf_map_lookup_elem` compiled inline: the call's map is a plain
/// array, whose values lie at `base + key * stride` for every key below
/// `max_entries`, in memory that never moves while the map lives (as long
/// as the runtime).
#[derive(Debug, Clone, Copy)]
struct ArrayLookup {
    base: u64,
    stride: u64,
    max_entries: u32,
    /// For a per-CPU array, the values each key has (one per CPU the map
    /// was made for): the value is the run's CPU's.
    per_cpu: Option<u32>,
}

/// `bpf_tail_call`.
const TAIL_CALL: HelperId = HelperId(12);

/// Whether calls of helper `id` in `rt` reach bpfx's own (a test may have
/// registered a mock in its place, which knowing what the built-in does
/// must not bypass).
fn builtin(rt: &Runtime, id: HelperId) -> bool {
    let builtin = bpfx_runtime::helpers::BUILTINS.iter().find(|(b, ..)| *b == id);
    match (builtin, rt.helper(id)) {
        (Some(&(_, _, builtin)), Some(f)) => builtin as usize == f as usize,
        _ => false,
    }
}

/// Whether the call `insn` may make a tail call: `bpf_tail_call`, any
/// `callx`, and any helper a user registered (it is handed the VM context);
/// bpfx's other helpers never do.
fn may_tail_call(rt: &Runtime, insn: &Insn) -> bool {
    match *insn {
        Insn::Call(CallTarget::Helper(id)) => id == TAIL_CALL || !builtin(rt, id),
        Insn::Callx { .. } => true,
        _ => false,
    }
}

/// The inline form of a lookup in the program's map `map`, when it is an
/// array or a per-CPU array (not an array of maps: its values are map
/// handles).
fn array_lookup(rt: &Runtime, linked: &Linked, map: MapIdx) -> Option<ArrayLookup> {
    let m = rt.map(*linked.maps.get(map.0 as usize)?)?;
    let per_cpu = match m.spec().map_type {
        MapType::Array => None,
        MapType::PercpuArray => Some(m.cpus()),
        _ => return None,
    };
    let memory = m.memory()?;
    Some(ArrayLookup {
        base: memory.base as u64,
        stride: memory.stride as u64,
        max_entries: m.spec().max_entries,
        per_cpu,
    })
}

/// Compiles a program that passed [`bpfx_runtime::code::check_targets`] and was linked as
/// `linked`, trusting `proven` (the verifier's facts about this very
/// program) where it has any.
pub(crate) fn compile(
    isa: OwnedTargetIsa,
    program: &Program,
    rt: &mut Runtime,
    linked: &Linked,
    proven: Option<&Proven>,
) -> Result<Compiled, LoadError> {
    let ops: Vec<(InsnIdx, Insn)> = program.slots().map(|(at, insn)| (at, *insn)).collect();
    let map = op_of_slot(program);
    let target_of = |i: usize| -> usize {
        let (at, insn) = &ops[i];
        let rel = insn.branch_offset().expect("a branch");
        let slot = (i64::from(at.0) + insn.slots() as i64 + rel) as usize;
        map[slot].expect("check_targets proved the target")
    };

    // Resolve every constant first: `lddw` values and helper functions.
    let mut consts = vec![0u64; ops.len()];
    let mut entries = BTreeMap::from([(0usize, 0u32)]);
    for (i, (at, insn)) in ops.iter().enumerate() {
        match *insn {
            Insn::LdImm64 { kind: LdImm64Kind::Func, .. } => {
                let t = target_of(i);
                let next = entries.len() as u32;
                entries.entry(t).or_insert(next);
                consts[i] = code_addr(linked.id.0, t);
            }
            Insn::LdImm64 { kind, imm, .. } => consts[i] = rt.ld_imm64(linked, *at, kind, imm)?,
            Insn::Call(CallTarget::Helper(id)) => {
                let f = rt.helper(id).ok_or(LoadError::UnknownHelper { at: *at, id })?;
                consts[i] = f as *const () as usize as u64;
            }
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => return Err(LoadError::Kfunc { at: *at, btf_id }),
            _ => {}
        }
    }

    // Lookups in a map the verifier proved each call receives, when it is
    // a plain array: the kernel's JIT inlines these too.
    let mut lookups = vec![None; ops.len()];
    if let Some(proven) = proven
        && builtin(rt, MAP_LOOKUP_ELEM)
    {
        for (i, (at, insn)) in ops.iter().enumerate() {
            if *insn == Insn::Call(CallTarget::Helper(MAP_LOOKUP_ELEM))
                && let Some(map) = proven.call_map(*at)
            {
                lookups[i] = array_lookup(rt, linked, map);
            }
        }
    }

    let tail_calls: Vec<bool> = ops.iter().map(|(_, insn)| may_tail_call(rt, insn)).collect();

    let hints = vec![0u8; ops.len()].into_boxed_slice();
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ptr));
    sig.returns.extend([AbiParam::new(I32), AbiParam::new(I64)]);
    let fail = |e: &dyn std::fmt::Display| LoadError::Compile { reason: e.to_string() };
    let id = module.declare_anonymous_function(&sig).map_err(|e| fail(&e))?;
    let vm = rt.vm_ctx_addr() as usize as i64;
    let mut ctx = module.make_context();
    ctx.func = Function::with_name_signature(UserFuncName::user(0, id.as_u32()), sig.clone());
    let mut fctx = FunctionBuilderContext::new();
    {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let live = liveness(&ops, &target_of, &tail_calls);
        let at_entries = entries.keys().fold(0, |acc, &e| acc | live[e]);
        let entry_live = std::array::from_fn(|r| at_entries & (1 << r) != 0);
        let known = Known { proven, lookups: &lookups, tail_calls: &tail_calls, entry_live, live: &live };
        let mut t =
            Translator::new(b, &ops, &consts, &entries, &hints, linked.id, program.slot_count(), &target_of, known, vm);
        t.translate();
        t.b.seal_all_blocks();
        t.b.finalize(module.target_config());
    }
    crate::dead::remove_dead_reads(&mut ctx.func);
    module.define_function(id, &mut ctx).map_err(|e| fail(&e))?;
    let code_bytes = ctx.compiled_code().map_or(0, |c| c.code_info().total_size as usize);
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| fail(&e))?;
    let raw = module.get_finalized_function(id);
    // SAFETY: the function was compiled with exactly `CompiledFn`'s
    // signature in the host's default calling convention; its two results
    // come back in the two registers System V x86-64 and AAPCS64 (the
    // Linux hosts bpfx runs on) return a two-word `#[repr(C)]` struct in,
    // which is `Exited`.
    let func = unsafe { std::mem::transmute::<*const u8, CompiledFn>(raw) };
    let entries = entries.into_iter().map(|(op, index)| (op, (index, ops[op].0))).collect();
    Ok(Compiled { func, entries, _hints: hints, code_bytes, context: None, module: Some(module) })
}

/// The BPF registers and the run state that changes as Cranelift variables.
struct Vars {
    regs: [Variable; 11],
    /// Instructions started since the function's entry (see
    /// [`Translator::used_now`]).
    used: Variable,
    loops: Variable,
    depth: Variable,
}

/// What the entry block loads once and nothing redefines: plain values,
/// usable anywhere since the entry block dominates every block. (As
/// variables they would cost the SSA builder a lookup at every use.)
struct Fixed {
    /// The run state (the function's parameter).
    st: Value,
    regions: Value,
    stack_top: Value,
    /// The frame depth the entry runs in.
    base: Value,
}

/// What is known at load that lets the translation drop work: the
/// verifier's facts, and what the runtime's helpers do.
struct Known<'a> {
    /// The facts, when the program was loaded with them.
    proven: Option<&'a Proven>,
    /// Per instruction, the inline form of a `bpf_map_lookup_elem` call.
    lookups: &'a [Option<ArrayLookup>],
    /// Per instruction, whether it is a call that may make a tail call
    /// (see [`may_tail_call`]).
    tail_calls: &'a [bool],
    /// The registers live at some entry point (see [`liveness`]).
    entry_live: [bool; 10],
    /// See [`liveness`].
    live: &'a [u16],
}

struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    ops: &'a [(InsnIdx, Insn)],
    consts: &'a [u64],
    entries: &'a BTreeMap<usize, u32>,
    hints: &'a [u8],
    prog: ProgId,
    slot_count: usize,
    target_of: &'a dyn Fn(usize) -> usize,
    known: Known<'a>,
    /// The runtime's VM context, whose address is fixed for its life (see
    /// [`Translator::vm`]).
    vm_addr: i64,
    v: Vars,
    f: Fixed,
    /// The Cranelift block of every instruction that starts a basic block.
    blocks: Vec<Option<Block>>,
    /// Instructions run in the current basic block and not yet added to
    /// `used`.
    pending: i64,
    /// Return sites: the instruction after each local call, in order.
    returns: Vec<usize>,
    frames: Option<cranelift_codegen::ir::StackSlot>,
    r10_fixed: bool,
    /// Whether the `may_goto` count can change or be handed on (a
    /// `may_goto`, or a call that may be a tail call): otherwise the state's
    /// count is neither loaded nor stored.
    keeps_loops: bool,
    /// Whether a call may be a tail call.
    may_tail_call: bool,
    helper_sig: cranelift_codegen::ir::SigRef,
    access_sig: cranelift_codegen::ir::SigRef,
    raise_sig: cranelift_codegen::ir::SigRef,
    tail_sig: cranelift_codegen::ir::SigRef,
    atomic_sig: cranelift_codegen::ir::SigRef,
    /// See [`Translator::raise_block`].
    raise_at: Option<Block>,
    /// Values made by [`Translator::add_const`]: each is its base plus its
    /// constant.
    sums: SecondaryMap<Value, Option<(Value, i64)>>,
    /// What the current basic block stored in the frame and nothing may
    /// have overwritten since, by offset and size (see
    /// [`Translator::remember_store`]).
    frame_values: Vec<(i16, Size, Value)>,
    /// See [`selects`].
    selects: Vec<bool>,
    /// See [`targeted`].
    targeted: Vec<bool>,
    /// Whether the block the translation enters next goes on counting
    /// from `pending` (see [`Translator::jump`]).
    carry: bool,
    selecting: Option<Selecting>,
}

const I64: Type = types::I64;
const I32: Type = types::I32;
/// Bytes of one saved frame: the return-site number, then `r6`..`r9`.
const FRAME_RECORD: i64 = 40;

fn mem() -> MemFlagsData {
    MemFlagsData::new()
}

fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

fn sig(call_conv: cranelift_codegen::isa::CallConv, params: usize, ret: Type) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend(std::iter::repeat_n(AbiParam::new(I64), params));
    s.returns.push(AbiParam::new(ret));
    s
}

impl<'a, 'f> Translator<'a, 'f> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        mut b: FunctionBuilder<'f>,
        ops: &'a [(InsnIdx, Insn)],
        consts: &'a [u64],
        entries: &'a BTreeMap<usize, u32>,
        hints: &'a [u8],
        prog: ProgId,
        slot_count: usize,
        target_of: &'a dyn Fn(usize) -> usize,
        known: Known<'a>,
        vm_addr: i64,
    ) -> Self {
        let cc = b.func.signature.call_conv;
        let helper_sig = b.import_signature(sig(cc, 6, I64));
        let access_sig = b.import_signature(sig(cc, 7, I32));
        let raise_sig = b.import_signature(sig(cc, 6, I32));
        let mut tail = sig(cc, 6, I32);
        tail.returns.push(AbiParam::new(I64));
        let tail_sig = b.import_signature(tail);
        let atomic_sig = b.import_signature(sig(cc, 5, I64));
        let mut var = || b.declare_var(I64);
        let v = Vars { regs: std::array::from_fn(|_| var()), used: var(), loops: var(), depth: var() };
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let st = b.block_params(entry)[0];
        let load = |b: &mut FunctionBuilder, base, off| b.ins().load(I64, trusted(), base, off);
        let vm = b.ins().iconst(I64, vm_addr);
        let f = Fixed {
            st,
            regions: load(&mut b, vm, vmo::REGIONS),
            stack_top: load(&mut b, vm, vmo::STACK_TOP),
            base: b.ins().uload32(trusted(), st, sto::DEPTH),
        };
        let insns: Vec<Insn> = ops.iter().map(|(_, i)| *i).collect();
        let may_tail_call = known.tail_calls.contains(&true);
        let keeps_loops = may_tail_call || insns.iter().any(|i| matches!(i, Insn::MayGoto { .. }));
        let targeted = targeted(ops, target_of, entries);
        Translator {
            b,
            ops,
            consts,
            entries,
            hints,
            prog,
            slot_count,
            target_of,
            known,
            vm_addr,
            v,
            f,
            blocks: Vec::new(),
            pending: 0,
            returns: Vec::new(),
            frames: None,
            r10_fixed: !writes_r10(&insns),
            keeps_loops,
            may_tail_call,
            helper_sig,
            access_sig,
            raise_sig,
            tail_sig,
            atomic_sig,
            raise_at: None,
            sums: SecondaryMap::new(),
            frame_values: Vec::new(),
            selects: selects(ops, target_of, &targeted),
            targeted,
            carry: false,
            selecting: None,
        }
    }

    fn site(&self, i: usize) -> i64 {
        let at = self.ops.get(i).map_or(InsnIdx(self.slot_count as u32), |(at, _)| *at);
        exec::site(self.prog, at)
    }

    fn get(&mut self, v: Variable) -> Value {
        self.b.use_var(v)
    }

    fn reg(&mut self, r: Reg) -> Value {
        self.b.use_var(self.v.regs[r.num() as usize])
    }

    fn set_reg(&mut self, r: Reg, value: Value) {
        self.b.def_var(self.v.regs[r.num() as usize], value);
    }

    fn iconst(&mut self, v: i64) -> Value {
        self.b.ins().iconst(I64, v)
    }

    /// The VM context's address, made where it is used: a constant, so
    /// that it never lives in a register across a call (which would take
    /// a callee-saved register, saved and restored on every run).
    fn vm(&mut self) -> Value {
        self.iconst(self.vm_addr)
    }

    /// Instructions started since the function's entry, up to and
    /// including the current one. Counted up from 0 rather than down from
    /// the budget: a path that calls no helper ends with a constant
    /// count, and nothing lives in a register from entry to exit for it.
    fn used_now(&mut self) -> Value {
        let u = self.get(self.v.used);
        self.add_const(u, self.pending)
    }

    /// Whether `used` is past what the budget lets this function start
    /// (the state's `limit`, loaded here: kept in a register it would
    /// live across calls).
    fn spent(&mut self, used: Value) -> Value {
        let st = self.f.st;
        let limit = self.b.ins().load(I64, trusted(), st, sto::LIMIT);
        self.b.ins().icmp(IntCC::SignedGreaterThan, used, limit)
    }

    /// `v + k`, folded into the constant of the sum that made `v` if one
    /// did: a chain of constant additions (a counter, a pointer walked in
    /// steps, the count added block by block) costs Cranelift's
    /// optimiser time that grows with its length, and is one addition.
    /// A constant plus `k` is a constant.
    fn add_const(&mut self, v: Value, k: i64) -> Value {
        let (base, k0) = self.sums[v].unwrap_or((v, 0));
        let k = k0.wrapping_add(k);
        if k == 0 {
            return base;
        }
        if let Some(c) = self.constant(base) {
            return self.iconst(c.wrapping_add(k));
        }
        let sum = self.b.ins().iadd_imm_s(base, k);
        self.sums[sum] = Some((base, k));
        sum
    }

    /// Finishes a jump translated as a select once the instruction it
    /// skips is translated: the register keeps its value before when the
    /// jump is taken, and the skipped instruction comes off `used`.
    fn select(&mut self, s: Selecting) {
        let after = self.reg(s.reg);
        let value = self.b.ins().select(s.taken, s.before, after);
        self.set_reg(s.reg, value);
        let used = self.get(self.v.used);
        let skipped = self.b.ins().uextend(I64, s.taken);
        let used = self.b.ins().isub(used, skipped);
        self.b.def_var(self.v.used, used);
    }

    /// Adds the current block's instructions to `used`. The blocks after
    /// count on from the value made here, not from the sum it folded: that
    /// would keep an older count live beside this one (in a loop, both
    /// across the back-edge, and a copy between them on every pass).
    fn flush(&mut self) {
        if self.pending != 0 {
            self.settle();
            self.pending = 0;
        }
    }

    /// Adds `pending` to `used` in this block alone: on a jump's edge,
    /// while the block after the jump goes on counting from `pending`.
    fn settle(&mut self) {
        let u = self.used_now();
        self.b.def_var(self.v.used, u);
    }

    /// Switches to a block whose predecessors are all translated, and seals
    /// it: the SSA builder then resolves variables in it by walking back
    /// instead of adding a block parameter per variable used.
    fn enter(&mut self, block: Block) {
        self.b.switch_to_block(block);
        self.b.seal_block(block);
    }

    /// Switches to a leader block, sealing it unless a predecessor comes
    /// `late` (is translated after it).
    fn enter_leader(&mut self, block: Block, late: bool) {
        self.b.switch_to_block(block);
        if !late {
            self.b.seal_block(block);
        }
    }

    fn cold_block(&mut self) -> Block {
        let block = self.b.create_block();
        self.b.set_cold_block(block);
        block
    }

    /// Calls [`exec::raise`] and returns its code from the function.
    fn raise(&mut self, kind: i64, i: usize, a: Value, used: Value) {
        let vm = self.vm();
        let st = self.f.st;
        let k = self.iconst(kind);
        let site = self.iconst(self.site(i));
        let f = self.iconst(exec::raise as *const () as usize as i64);
        let call = self.b.ins().call_indirect(self.raise_sig, f, &[st, vm, k, site, a, used]);
        let code = self.b.inst_results(call)[0];
        self.return_fault(code);
    }

    /// Branches to the shared cold block raising `kind` when `cond` holds,
    /// and goes on in a new block otherwise.
    fn fault_if(&mut self, cond: Value, kind: i64, i: usize, a: Option<Value>, used: Value) {
        let cont = self.b.create_block();
        self.fault_else(cond, kind, i, a, used, cont);
        self.enter(cont);
    }

    /// Branches to the shared cold block raising `kind` when `cond` holds,
    /// and to `next` otherwise. The fault's arguments are made on a cold
    /// edge of their own, not on the path that goes on (where the branch's
    /// arguments would be set up every time it is not taken).
    fn fault_else(&mut self, cond: Value, kind: i64, i: usize, a: Option<Value>, used: Value, next: Block) {
        let edge = self.cold_block();
        self.b.ins().brif(cond, edge, &[], next, &[]);
        self.enter(edge);
        let a = match a {
            Some(a) => a,
            None => self.iconst(0),
        };
        let k = self.iconst(kind);
        let site = self.iconst(self.site(i));
        let raise = self.raise_block();
        let args = [k, site, a, used].map(BlockArg::Value);
        self.b.ins().jump(raise, &args);
    }

    /// The one block that calls [`exec::raise`] with its parameters (kind,
    /// site, `a`, `used`): a block and a call per fault site would cost the
    /// compiler far more than the branch arguments do. Filled in at the end.
    fn raise_block(&mut self) -> Block {
        if let Some(block) = self.raise_at {
            return block;
        }
        let block = self.cold_block();
        for _ in 0..4 {
            self.b.append_block_param(block, I64);
        }
        self.raise_at = Some(block);
        block
    }

    fn fill_raise_block(&mut self) {
        let Some(block) = self.raise_at else { return };
        self.enter(block);
        let [kind, site, a, used] = [0, 1, 2, 3].map(|k| self.b.block_params(block)[k]);
        let f = self.iconst(exec::raise as *const () as usize as i64);
        let vm = self.vm();
        let st = self.f.st;
        let call = self.b.ins().call_indirect(self.raise_sig, f, &[st, vm, kind, site, a, used]);
        let code = self.b.inst_results(call)[0];
        self.return_fault(code);
    }

    /// Returns `code`, [`exec::code::FAULT`] or another a function that
    /// records faults returned: the count is not read after a fault (the
    /// fault recorded it), so it need not live across that call.
    fn return_fault(&mut self, code: Value) {
        let unread = self.iconst(0);
        self.b.ins().return_(&[code, unread]);
    }

    /// Points the stack region at frames `0..=depth`.
    fn set_stack(&mut self, depth: Value) {
        let regions = self.f.regions;
        let top = self.f.stack_top;
        let d1 = self.b.ins().iadd_imm_s(depth, 1);
        let len = self.b.ins().imul_imm_s(d1, FRAME_SIZE as i64);
        let start = self.b.ins().isub(top, len);
        self.b.ins().store(trusted(), start, regions, vmo::region::START);
        self.b.ins().store(trusted(), len, regions, vmo::region::LEN);
    }

    /// Sets `r10` and the stack region for frame `depth`.
    fn enter_frame(&mut self, depth: Value) {
        self.set_r10(depth);
        self.set_stack(depth);
    }

    /// Sets `r10` to the top of frame `depth`.
    fn set_r10(&mut self, depth: Value) {
        let top = self.f.stack_top;
        let off = self.b.ins().imul_imm_s(depth, FRAME_SIZE as i64);
        let r10 = self.b.ins().isub(top, off);
        self.set_reg(Reg::R10, r10);
    }

    /// `v` made again here when it is a constant, so that it need not live
    /// across a call (see [`Translator::helper_call`]).
    fn remade(&mut self, v: Value) -> Value {
        match self.constant(v) {
            Some(c) => self.iconst(c),
            None => v,
        }
    }

    /// `x` when `v` is `x << 32`: then `v >> 32` is `x`'s low half, zero
    /// extended (clang's `r <<= 32; r >>= 32`, a `u32` cast without
    /// 32-bit ALU instructions), which takes one instruction or none
    /// rather than two shifts.
    fn shifted_up_32(&self, v: Value) -> Option<Value> {
        let dfg = &self.b.func.dfg;
        match dfg.value_def(v).inst().map(|inst| dfg.insts[inst]) {
            Some(InstructionData::Binary { opcode: Opcode::Ishl, args: [x, k] }) if self.constant(k) == Some(32) => {
                Some(x)
            }
            _ => None,
        }
    }

    /// `x`'s low 32 bits, zero-extended: `x` itself when it was made
    /// zero-extended (a 32-bit or narrower load, a 32-bit operation).
    fn zero_extended(&mut self, x: Value) -> Value {
        let dfg = &self.b.func.dfg;
        let made = dfg.value_def(x).inst().map(|inst| dfg.insts[inst].opcode());
        if let Some(Opcode::Uload32 | Opcode::Uload16 | Opcode::Uload8 | Opcode::Uextend) = made {
            return x;
        }
        let low = self.b.ins().ireduce(I32, x);
        self.b.ins().uextend(I64, low)
    }

    /// The value of `v` when it is a 64-bit constant.
    fn constant(&self, v: Value) -> Option<i64> {
        let dfg = &self.b.func.dfg;
        match dfg.value_def(v).inst().map(|inst| dfg.insts[inst]) {
            Some(InstructionData::UnaryImm { opcode: Opcode::Iconst, imm }) if dfg.value_type(v) == I64 => {
                Some(imm.bits())
            }
            _ => None,
        }
    }

    /// Makes `r10` again, when nothing writes it (see
    /// [`Translator::helper_call`]).
    fn refresh_r10(&mut self) {
        if !self.r10_fixed {
            return;
        }
        if self.returns.is_empty() {
            self.load_entry_r10();
            return;
        }
        let depth = self.get(self.v.depth);
        let vm = self.vm();
        let top = self.b.ins().load(I64, trusted(), vm, vmo::STACK_TOP);
        let off = self.b.ins().imul_imm_s(depth, FRAME_SIZE as i64);
        let r10 = self.b.ins().isub(top, off);
        self.set_reg(Reg::R10, r10);
    }

    /// `r10` of the entry's frame, from the state.
    fn load_entry_r10(&mut self) {
        let r10 = self.b.ins().load(I64, trusted(), self.f.st, sto::REGS + 8 * 10);
        self.set_reg(Reg::R10, r10);
    }

    fn translate(&mut self) {
        let n = self.ops.len();
        // Basic block leaders.
        let mut leader = vec![false; n + 1];
        leader[0] = true;
        for &e in self.entries.keys() {
            leader[e] = true;
        }
        for (i, (_, insn)) in self.ops.iter().enumerate() {
            match insn {
                Insn::Jump { .. } if self.selects[i] => {}
                Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. } | Insn::Call(CallTarget::Local(_)) => {
                    leader[(self.target_of)(i)] = true;
                    leader[i + 1] = true;
                }
                Insn::Exit => leader[i + 1] = true,
                _ => {}
            }
            if let Insn::Call(CallTarget::Local(_)) = insn {
                self.returns.push(i + 1);
            }
        }
        // Leaders that a jump back, or a frame's return, reaches: their
        // predecessors are not all translated when translation reaches
        // them, so they are sealed only at the end.
        let mut late = vec![false; n + 1];
        for (i, (_, insn)) in self.ops.iter().enumerate() {
            if matches!(
                insn,
                Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. } | Insn::Call(CallTarget::Local(_))
            ) {
                let t = (self.target_of)(i);
                late[t] |= t <= i;
            }
        }
        for &r in &self.returns {
            late[r] = true;
        }
        self.blocks = leader.iter().map(|&l| l.then(|| self.b.create_block())).collect();
        if !self.returns.is_empty() {
            let size = (FRAME_RECORD * i64::from(MAX_FRAMES)) as u32;
            self.frames =
                Some(self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 3)));
        }

        self.entry_block();

        let mut open = false;
        for (i, &late) in late.iter().enumerate().take(n) {
            if let Some(block) = self.blocks[i] {
                if open {
                    self.flush();
                    self.b.ins().jump(block, &[]);
                }
                self.enter_leader(block, late);
                if !std::mem::take(&mut self.carry) {
                    self.pending = 0;
                }
                self.frame_values.clear();
                open = true;
            }
            debug_assert!(open, "every instruction after a terminator starts a block");
            self.pending += 1;
            open = self.insn(i);
            if let Some(select) = self.selecting.take_if(|s| s.skipped == i) {
                self.select(select);
            }
        }
        // Running past the last instruction.
        if let Some(block) = self.blocks[n] {
            if open {
                self.flush();
                self.b.ins().jump(block, &[]);
            }
            self.enter_leader(block, false);
            self.pending = 0;
            open = true;
        }
        if open {
            self.pending += 1;
            let used = self.used_now();
            let zero = self.iconst(0);
            self.raise(kind::FELL_OFF, n, zero, used);
        }
        self.fill_raise_block();
    }

    /// The rest of the entry block (which [`Translator::new`] started).
    fn entry_block(&mut self) {
        let st = self.f.st;
        let base = self.f.base;
        let load = |b: &mut FunctionBuilder, ty, base, off| b.ins().load(ty, trusted(), base, off);
        let used = self.iconst(0);
        let loops = if self.keeps_loops { load(&mut self.b, I64, st, sto::LOOPS) } else { self.iconst(0) };
        for (var, value) in [(self.v.used, used), (self.v.loops, loops), (self.v.depth, base)] {
            self.b.def_var(var, value);
        }
        for r in 0..10 {
            let live = r != 0 && self.known.entry_live[r];
            let value = if live { load(&mut self.b, I64, st, sto::REGS + 8 * r as i32) } else { self.iconst(0) };
            self.b.def_var(self.v.regs[r], value);
        }
        // Whoever starts the function (a run, a callback entry, a tail
        // call) has the stack region at the entry's frame already, and
        // `r10` in the state.
        self.load_entry_r10();
        // Then the entry point's first instruction. (Whoever starts a
        // callback's entry checks the budget first: a run starts with
        // budget left, and a tail call checks before it starts.)
        let mut by_index: Vec<(u32, usize)> = self.entries.iter().map(|(&op, &index)| (index, op)).collect();
        by_index.sort_unstable();
        let firsts: Vec<Block> =
            by_index.into_iter().map(|(_, op)| self.blocks[op].expect("entry points start blocks")).collect();
        if let [first] = firsts[..] {
            self.b.ins().jump(first, &[]);
        } else {
            let which = self.b.ins().uload32(trusted(), st, sto::ENTRY);
            let which = self.b.ins().ireduce(I32, which);
            let table = self.jump_table(&firsts);
            self.b.ins().br_table(which, table);
        }
    }

    /// Translates instruction `i`; returns whether its block is still open
    /// (the instruction may fall through).
    fn insn(&mut self, i: usize) -> bool {
        let insn = self.ops[i].1;
        match insn {
            Insn::Alu { width, op, dst, src } => self.alu(width, op, dst, src),
            Insn::Neg { width, dst } => {
                let a = self.reg(dst);
                let r = match width {
                    Width::W64 => self.b.ins().ineg(a),
                    Width::W32 => {
                        let a = self.b.ins().ireduce(I32, a);
                        let r = self.b.ins().ineg(a);
                        self.b.ins().uextend(I64, r)
                    }
                };
                self.set_reg(dst, r);
            }
            Insn::Endian { kind: e, bits, dst } => {
                let a = self.reg(dst);
                let r = match (e, bits) {
                    (Endian::ToLe, SwapBits::B16) => self.b.ins().band_imm_s(a, 0xffff),
                    (Endian::ToLe, SwapBits::B32) => self.b.ins().band_imm_s(a, 0xffff_ffff),
                    (Endian::ToLe, SwapBits::B64) => a,
                    (_, SwapBits::B16) => {
                        let h = self.b.ins().ireduce(types::I16, a);
                        let s = self.b.ins().bswap(h);
                        self.b.ins().uextend(I64, s)
                    }
                    (_, SwapBits::B32) => {
                        let w = self.b.ins().ireduce(I32, a);
                        let s = self.b.ins().bswap(w);
                        self.b.ins().uextend(I64, s)
                    }
                    (_, SwapBits::B64) => self.b.ins().bswap(a),
                };
                self.set_reg(dst, r);
            }
            Insn::LdImm64 { dst, .. } => {
                let c = self.iconst(self.consts[i] as i64);
                self.set_reg(dst, c);
            }
            Insn::Load { size, signed, dst, src, off } => {
                if let Some(value) = self.stored(src, off, size, signed) {
                    self.set_reg(dst, value);
                    return true;
                }
                let (addr, off) = self.checked_addr(i, src, off, size, 0);
                let f = mem();
                let ins = self.b.ins();
                let value = match (size, signed) {
                    (Size::B, false) => ins.uload8(I64, f, addr, off),
                    (Size::H, false) => ins.uload16(I64, f, addr, off),
                    (Size::W, false) => ins.uload32(f, addr, off),
                    (Size::DW, _) => ins.load(I64, f, addr, off),
                    (Size::B, true) => ins.sload8(I64, f, addr, off),
                    (Size::H, true) => ins.sload16(I64, f, addr, off),
                    (Size::W, true) => ins.sload32(f, addr, off),
                };
                self.set_reg(dst, value);
            }
            Insn::Store { size, dst, off, src } => {
                let value = match src {
                    Src::Reg(r) => self.reg(r),
                    Src::Imm(imm) => self.iconst(i64::from(imm)),
                };
                self.remember_store(dst, off, size, value);
                let (addr, off) = self.checked_addr(i, dst, off, size, 1);
                let f = mem();
                let ins = self.b.ins();
                match size {
                    Size::B => ins.istore8(f, value, addr, off),
                    Size::H => ins.istore16(f, value, addr, off),
                    Size::W => ins.istore32(f, value, addr, off),
                    Size::DW => ins.store(f, value, addr, off),
                };
            }
            Insn::Atomic { size, op, dst, src, off } => {
                self.frame_values.clear();
                self.atomic(i, size, op, dst, src, off);
            }
            Insn::Ja { .. } => {
                self.flush();
                let t = (self.target_of)(i);
                if t > i {
                    let t = self.blocks[t].expect("jump targets start blocks");
                    self.b.ins().jump(t, &[]);
                } else {
                    self.back_edge(i, t);
                }
                return false;
            }
            Insn::Jump { width, cond, dst, src, .. } if self.selects[i] => {
                let taken = self.condition(width, cond, dst, src);
                let reg = selectable(&self.ops[i + 1].1).expect("a select skips an instruction that sets a register");
                let before = self.reg(reg);
                self.selecting = Some(Selecting { skipped: i + 1, taken, reg, before });
            }
            Insn::Jump { width, cond, dst, src, .. } => {
                self.jump(i, width, cond, dst, src);
                return false;
            }
            Insn::MayGoto { .. } => {
                self.flush();
                let t = (self.target_of)(i);
                let next = self.blocks[i + 1].expect("the instruction after a jump starts a block");
                let loops = self.get(self.v.loops);
                let taken = self.b.create_block();
                let count = self.b.create_block();
                self.b.ins().brif(loops, count, &[], taken, &[]);
                self.enter(count);
                let l = self.b.ins().iadd_imm_s(loops, -1);
                self.b.def_var(self.v.loops, l);
                self.b.ins().jump(next, &[]);
                self.enter(taken);
                if t > i {
                    let t = self.blocks[t].expect("jump targets start blocks");
                    self.b.ins().jump(t, &[]);
                } else {
                    self.back_edge(i, t);
                }
                return false;
            }
            Insn::Call(CallTarget::Helper(_)) if self.known.lookups[i].is_some() => {
                let lookup = self.known.lookups[i].expect("matched above");
                self.inline_lookup(lookup);
            }
            Insn::Call(CallTarget::Helper(id)) => {
                let f = self.iconst(self.consts[i] as i64);
                let id = self.iconst(i64::from(id.0));
                return self.helper_call(i, f, id);
            }
            Insn::Call(CallTarget::Local(_)) => {
                self.local_call(i);
                return false;
            }
            Insn::Call(CallTarget::Kfunc { .. }) => unreachable!("refused at load"),
            Insn::Callx { reg } => {
                let id = self.reg(reg);
                let vm = self.vm();
                let count = self.b.ins().uload32(trusted(), vm, vmo::HELPER_COUNT);
                let outside = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, id, count);
                let used = self.used_now();
                self.fault_if(outside, kind::UNKNOWN_HELPER, i, Some(id), used);
                let table = self.b.ins().load(I64, trusted(), vm, vmo::HELPERS);
                let off = self.b.ins().imul_imm_s(id, 8);
                let slot = self.b.ins().iadd(table, off);
                let f = self.b.ins().load(I64, trusted(), slot, 0);
                let none = self.b.ins().icmp_imm_s(IntCC::Equal, f, 0);
                let used = self.used_now();
                self.fault_if(none, kind::UNKNOWN_HELPER, i, Some(id), used);
                return self.helper_call(i, f, id);
            }
            Insn::Exit => {
                self.flush();
                self.exit();
                return false;
            }
            Insn::PacketLoad { mode, size, imm } => self.packet_load(i, mode, size, imm),
        }
        true
    }

    /// A conditional jump (not a select). When only its fall-through
    /// reaches the next instruction, the block there goes on counting from
    /// `pending`, and the taken edge adds the count to `used` on its own:
    /// a chain of checks that falls through (a parser's) updates the
    /// count once, not at every check.
    fn jump(&mut self, i: usize, width: Width, cond: JmpCond, dst: Reg, src: Src) {
        let carry = !self.targeted[i + 1];
        if !carry {
            self.flush();
        }
        let (cc, a, b) = self.comparison(width, cond, dst, src);
        let t = (self.target_of)(i);
        let next = self.blocks[i + 1].expect("the instruction after a jump starts a block");
        if t > i {
            let c = self.b.ins().icmp(cc, a, b);
            let target = self.blocks[t].expect("jump targets start blocks");
            if carry {
                let edge = self.b.create_block();
                self.b.ins().brif(c, edge, &[], next, &[]);
                self.enter(edge);
                self.settle();
                self.b.ins().jump(target, &[]);
            } else {
                self.b.ins().brif(c, target, &[], next, &[]);
            }
        } else {
            // Cranelift lays out a branch's second target right after it:
            // a loop's check and back-edge go there, so a pass through the
            // loop takes one jump (back), not three (to the check, over
            // the check's cold fault path, back).
            let leave = self.b.ins().icmp(cc.complement(), a, b);
            let taken = self.b.create_block();
            self.b.ins().brif(leave, next, &[], taken, &[]);
            self.enter(taken);
            self.settle();
            self.back_edge(i, t);
        }
        self.carry = carry;
    }

    /// A taken jump from instruction `i` back to instruction `target` (at
    /// or before it): stops on a spent budget, as the interpreter does.
    /// Forward jumps cannot loop and jump unchecked.
    fn back_edge(&mut self, i: usize, target: usize) {
        let target = self.blocks[target].expect("jump targets start blocks");
        let used = self.get(self.v.used);
        let spent = self.spent(used);
        self.fault_else(spent, kind::BUDGET, i, None, used, target);
    }

    fn src_value(&mut self, width: Width, src: Src) -> Value {
        match (src, width) {
            (Src::Reg(r), _) => self.reg(r),
            (Src::Imm(imm), Width::W64) => self.iconst(i64::from(imm)),
            (Src::Imm(imm), Width::W32) => self.iconst(i64::from(imm as u32)),
        }
    }

    fn condition(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Src) -> Value {
        let (cc, a, b) = self.comparison(width, cond, dst, src);
        self.b.ins().icmp(cc, a, b)
    }

    /// The comparison a conditional jump makes: the jump is taken when
    /// `a cc b` holds.
    fn comparison(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Src) -> (IntCC, Value, Value) {
        let a = self.reg(dst);
        let b = self.src_value(width, src);
        let (a, b) = match width {
            Width::W64 => (a, b),
            Width::W32 => (self.b.ins().ireduce(I32, a), self.b.ins().ireduce(I32, b)),
        };
        let cc = match cond {
            JmpCond::Eq => IntCC::Equal,
            JmpCond::Ne => IntCC::NotEqual,
            JmpCond::Gt => IntCC::UnsignedGreaterThan,
            JmpCond::Ge => IntCC::UnsignedGreaterThanOrEqual,
            JmpCond::Lt => IntCC::UnsignedLessThan,
            JmpCond::Le => IntCC::UnsignedLessThanOrEqual,
            JmpCond::Sgt => IntCC::SignedGreaterThan,
            JmpCond::Sge => IntCC::SignedGreaterThanOrEqual,
            JmpCond::Slt => IntCC::SignedLessThan,
            JmpCond::Sle => IntCC::SignedLessThanOrEqual,
            JmpCond::Set => {
                let and = self.b.ins().band(a, b);
                let ty = self.b.func.dfg.value_type(and);
                let zero = self.b.ins().iconst(ty, 0);
                return (IntCC::NotEqual, and, zero);
            }
        };
        (cc, a, b)
    }

    fn alu(&mut self, width: Width, op: AluOp, dst: Reg, src: Src) {
        if let (Width::W64, AluOp::Add | AluOp::Sub, Src::Imm(imm)) = (width, op, src) {
            let a = self.reg(dst);
            let k = if op == AluOp::Add { i64::from(imm) } else { i64::from(imm).wrapping_neg() };
            let r = self.add_const(a, k);
            self.set_reg(dst, r);
            return;
        }
        if let (Width::W64, AluOp::Rsh, Src::Imm(32)) = (width, op, src) {
            let a = self.reg(dst);
            if let Some(low) = self.shifted_up_32(a) {
                let r = self.zero_extended(low);
                self.set_reg(dst, r);
                return;
            }
        }
        let a = self.reg(dst);
        let b = self.src_value(width, src);
        let r = match width {
            Width::W64 => self.alu_op(I64, op, a, b, src),
            Width::W32 => {
                let a32 = self.b.ins().ireduce(I32, a);
                let b32 = self.b.ins().ireduce(I32, b);
                let r = self.alu_op(I32, op, a32, b32, src);
                self.b.ins().uextend(I64, r)
            }
        };
        self.set_reg(dst, r);
    }

    /// `a OP b` in type `ty` with RFC 9669's semantics: no operation traps.
    fn alu_op(&mut self, ty: Type, op: AluOp, a: Value, b: Value, src: Src) -> Value {
        let ins = self.b.ins();
        match op {
            AluOp::Add => ins.iadd(a, b),
            AluOp::Sub => ins.isub(a, b),
            AluOp::Mul => ins.imul(a, b),
            AluOp::Or => ins.bor(a, b),
            AluOp::And => ins.band(a, b),
            AluOp::Xor => ins.bxor(a, b),
            // Cranelift's shifts take the amount modulo the width, as BPF's.
            AluOp::Lsh => ins.ishl(a, b),
            AluOp::Rsh => ins.ushr(a, b),
            AluOp::Arsh => ins.sshr(a, b),
            AluOp::Mov => b,
            AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
                let from = match op {
                    AluOp::MovSx8 => types::I8,
                    AluOp::MovSx16 => types::I16,
                    _ => I32,
                };
                if from == ty {
                    b
                } else {
                    let n = ins.ireduce(from, b);
                    self.b.ins().sextend(ty, n)
                }
            }
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => self.division(ty, op, a, b, src),
        }
    }

    /// Division and modulo: by zero, a quotient of 0 and a remainder of the
    /// dividend; `MIN / -1` is `MIN` (remainder 0) — Cranelift's own
    /// instructions would trap on both, so the divisor is made safe first.
    fn division(&mut self, ty: Type, op: AluOp, a: Value, b: Value, src: Src) -> Value {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let is_div = matches!(op, AluOp::Div | AluOp::SDiv);
        let bits = ty.bits();
        if let Src::Imm(imm) = src {
            // The divisor as the operation sees it.
            let d = if bits == 32 { i64::from(imm as u32 as i32) } else { i64::from(imm) };
            let zero = if bits == 32 { imm == 0 } else { d == 0 };
            if zero {
                return if is_div { self.b.ins().iconst(ty, 0) } else { a };
            }
            if signed && d == -1 {
                return if is_div { self.b.ins().ineg(a) } else { self.b.ins().iconst(ty, 0) };
            }
            let ins = self.b.ins();
            return match op {
                AluOp::Div => ins.udiv(a, b),
                AluOp::Mod => ins.urem(a, b),
                AluOp::SDiv => ins.sdiv(a, b),
                _ => ins.srem(a, b),
            };
        }
        let one = self.b.ins().iconst(ty, 1);
        let zero_v = self.b.ins().iconst(ty, 0);
        let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        if !signed {
            let safe = self.b.ins().select(is_zero, one, b);
            return if is_div {
                let q = self.b.ins().udiv(a, safe);
                self.b.ins().select(is_zero, zero_v, q)
            } else {
                let r = self.b.ins().urem(a, safe);
                self.b.ins().select(is_zero, a, r)
            };
        }
        let is_m1 = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let bad = self.b.ins().bor(is_zero, is_m1);
        let safe = self.b.ins().select(bad, one, b);
        if is_div {
            let q = self.b.ins().sdiv(a, safe);
            let neg = self.b.ins().ineg(a);
            let q = self.b.ins().select(is_m1, neg, q);
            self.b.ins().select(is_zero, zero_v, q)
        } else {
            let r = self.b.ins().srem(a, safe);
            let r = self.b.ins().select(is_m1, zero_v, r);
            self.b.ins().select(is_zero, a, r)
        }
    }

    /// Whether `size` bytes at `base + off` lie in the current frame, through
    /// an `r10` that nothing writes.
    fn in_frame(&self, base: Reg, off: i16, size: Size) -> bool {
        base == Reg::R10 && self.r10_fixed && off >= -(FRAME_SIZE as i16) && i64::from(off) + size.bytes() as i64 <= 0
    }

    /// Records a store of `value` (its low `size` bytes) to `base + off`:
    /// in the frame, what a later load of the same slot in this basic
    /// block reads back; anywhere else, it may have overwritten any of the
    /// frame (a pointer may point into it).
    fn remember_store(&mut self, base: Reg, off: i16, size: Size, value: Value) {
        if !self.in_frame(base, off, size) {
            self.frame_values.clear();
            return;
        }
        let end = i32::from(off) + size.bytes() as i32;
        self.frame_values.retain(|&(o, s, _)| i32::from(o) + s.bytes() as i32 <= i32::from(off) || end <= i32::from(o));
        self.frame_values.push((off, size, value));
    }

    /// What a load of `size` bytes at `base + off` reads when this basic
    /// block stored exactly that slot of the frame last (a spilled register
    /// filled again): the stored value, zero-extended from `size`.
    fn stored(&mut self, base: Reg, off: i16, size: Size, signed: bool) -> Option<Value> {
        if !self.in_frame(base, off, size) || (signed && size != Size::DW) {
            return None;
        }
        let &(_, _, value) = self.frame_values.iter().find(|&&(o, s, _)| o == off && s == size)?;
        Some(match size {
            Size::DW => value,
            _ => self.b.ins().band_imm_s(value, (1i64 << (8 * size.bytes())) - 1),
        })
    }

    /// The address of instruction `i`'s access (`size` bytes at `base +
    /// off`), checked against the region table unless it is known to be
    /// inside one, as a value and an offset to add to it (an unchecked
    /// access folds the offset into the memory instruction); `kind` is 0
    /// for a load, 1 for a store, 2 for an atomic.
    fn checked_addr(&mut self, i: usize, base: Reg, off: i16, size: Size, kind: u64) -> (Value, i32) {
        let bytes = size.bytes() as i64;
        let b = self.reg(base);
        if self.in_frame(base, off, size) {
            // Inside the current frame, which the stack region always holds.
            return (b, i32::from(off));
        }
        if self.known.proven.is_some_and(|p| p.access_is_safe(self.ops[i].0)) {
            // The verifier proved it inside its region (writable when it
            // writes) on every path: the check could never fail.
            return (b, i32::from(off));
        }
        let addr = self.b.ins().iadd_imm_s(b, i64::from(off));
        let hint_ptr = self.iconst(self.hints[i..].as_ptr() as i64);
        let hint = self.b.ins().uload8(I64, trusted(), hint_ptr, 0);
        let stride = self.b.ins().imul_imm_s(hint, i64::from(vmo::region::SIZE));
        let regions = self.f.regions;
        let r = self.b.ins().iadd(regions, stride);
        let start = self.b.ins().load(I64, trusted(), r, vmo::region::START);
        let len = self.b.ins().load(I64, trusted(), r, vmo::region::LEN);
        let rel = self.b.ins().isub(addr, start);
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, rel, len);
        let room = self.b.ins().isub(len, rel);
        let fits = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, room, bytes);
        let mut ok = self.b.ins().band(inside, fits);
        if kind != 0 {
            let w = self.b.ins().load(I64, trusted(), r, vmo::region::WRITABLE);
            let w = self.b.ins().icmp_imm_s(IntCC::NotEqual, w, 0);
            ok = self.b.ins().band(ok, w);
        }
        let slow = self.cold_block();
        let cont = self.b.create_block();
        self.b.ins().brif(ok, cont, &[], slow, &[]);
        self.enter(slow);
        let vm = self.vm();
        let st = self.f.st;
        let packed = self.iconst((kind << 8 | bytes as u64) as i64);
        let site = self.iconst(self.site(i));
        let used = self.used_now();
        let f = self.iconst(exec::access_slow as *const () as usize as i64);
        let call = self.b.ins().call_indirect(self.access_sig, f, &[st, vm, addr, packed, hint_ptr, site, used]);
        let code = self.b.inst_results(call)[0];
        let fault = self.cold_block();
        self.b.ins().brif(code, fault, &[], cont, &[]);
        self.enter(fault);
        self.return_fault(code);
        self.enter(cont);
        (addr, 0)
    }

    fn atomic(&mut self, i: usize, size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16) {
        // The verifier refuses an atomic access it cannot prove aligned to
        // its size from the start of its region (the stack or a map value,
        // which bpfx lays out 8-byte aligned): a proved one needs no test.
        let proven = self.known.proven.is_some_and(|p| p.access_is_safe(self.ops[i].0));
        let (addr, off) = self.checked_addr(i, dst, off, size, 2);
        let addr = if off == 0 { addr } else { self.b.ins().iadd_imm_s(addr, i64::from(off)) };
        let wide = size == Size::DW;
        let ty = if wide { I64 } else { I32 };
        let s = self.reg(src);
        let r0 = self.reg(Reg::R0);
        let aligned = self.b.create_block();
        let unaligned = (!proven).then(|| self.cold_block());
        let join = self.b.create_block();
        let old = self.b.append_block_param(join, I64);
        match unaligned {
            None => self.b.ins().jump(aligned, &[]),
            Some(unaligned) => {
                let low = self.b.ins().band_imm_s(addr, size.bytes() as i64 - 1);
                self.b.ins().brif(low, unaligned, &[], aligned, &[])
            }
        };

        self.enter(aligned);
        let narrow = |b: &mut FunctionBuilder, v: Value| if wide { v } else { b.ins().ireduce(I32, v) };
        let sv = narrow(&mut self.b, s);
        let f = mem();
        let got = match op {
            AtomicOp::CmpXchg => {
                let expected = narrow(&mut self.b, r0);
                self.b.ins().atomic_cas(f, addr, expected, sv)
            }
            _ => {
                let rmw = match op {
                    AtomicOp::Add | AtomicOp::FetchAdd => AtomicRmwOp::Add,
                    AtomicOp::Or | AtomicOp::FetchOr => AtomicRmwOp::Or,
                    AtomicOp::And | AtomicOp::FetchAnd => AtomicRmwOp::And,
                    AtomicOp::Xor | AtomicOp::FetchXor => AtomicRmwOp::Xor,
                    _ => AtomicRmwOp::Xchg,
                };
                self.b.ins().atomic_rmw(ty, f, rmw, addr, sv)
            }
        };
        let got = if wide { got } else { self.b.ins().uextend(I64, got) };
        self.b.ins().jump(join, &[BlockArg::Value(got)]);

        if let Some(unaligned) = unaligned {
            self.enter(unaligned);
            let index = AtomicOp::ALL.iter().position(|&o| o == op).expect("every AtomicOp is in ALL");
            let op_v = self.iconst(index as i64);
            let wide_v = self.iconst(i64::from(wide));
            let f = self.iconst(exec::atomic_unaligned as *const () as usize as i64);
            let call = self.b.ins().call_indirect(self.atomic_sig, f, &[addr, op_v, wide_v, s, r0]);
            let got = self.b.inst_results(call)[0];
            self.b.ins().jump(join, &[BlockArg::Value(got)]);
        }

        self.enter(join);
        match op {
            AtomicOp::CmpXchg => self.set_reg(Reg::R0, old),
            op if op.fetches() => self.set_reg(src, old),
            _ => {}
        }
    }

    /// A call to the helper `f` (id `id`, for messages) at instruction `i`.
    fn helper_call(&mut self, i: usize, f: Value, id: Value) -> bool {
        // Helpers may write the stack (through a pointer argument).
        self.frame_values.clear();
        let vm = self.vm();
        let st = self.f.st;
        // Loaded here, not at entry: without the e-graph optimiser an
        // unused load at entry would stay in every program.
        let counted = self.b.ins().load(I64, trusted(), st, sto::COUNTED);
        let used = self.used_now();
        let count = self.b.ins().iadd(counted, used);
        self.b.ins().store(trusted(), count, vm, vmo::INSN_COUNT);
        let args: Vec<Value> = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5].iter().map(|&r| self.reg(r)).collect();
        // The arguments that something after the call reads (they keep
        // their values), parked in the state's `out` meanwhile (which
        // hands back only `r0`).
        let kept: Vec<usize> =
            (1..6).filter(|&r| !self.known.tail_calls[i] && self.known.live[i + 1] & 1 << r != 0).collect();
        for &r in &kept {
            self.b.ins().store(trusted(), args[r - 1], st, sto::OUT + 8 * r as i32);
        }
        let call = self.b.ins().call_indirect(self.helper_sig, f, &[vm, args[0], args[1], args[2], args[3], args[4]]);
        let r0 = self.b.inst_results(call)[0];
        // The arguments kept, the count and `r10` are loaded again rather
        // than kept in registers: a value live across the call takes a
        // callee-saved register, saved and restored on every run, also on
        // the paths that make no call. (The state's address is the one
        // such value left: everything here is loaded through it.)
        for &r in &kept {
            let value = self.b.ins().load(I64, trusted(), st, sto::OUT + 8 * r as i32);
            self.b.def_var(self.v.regs[r], value);
        }
        self.refresh_r10();
        let id = self.remade(id);
        let counted = self.b.ins().load(I64, trusted(), st, sto::COUNTED);
        let vm = self.vm();
        let count = self.b.ins().load(I64, trusted(), vm, vmo::INSN_COUNT);
        let used = self.b.ins().isub(count, counted);
        self.b.def_var(self.v.used, used);
        self.pending = 0;
        let status = self.b.ins().uload32(trusted(), vm, vmo::STATUS);
        if !self.known.tail_calls[i] {
            // Only a fault can stop a helper that cannot tail-call.
            self.fault_if(status, kind::HELPER, i, Some(id), used);
            self.set_reg(Reg::R0, r0);
            return true;
        }
        let slow = self.cold_block();
        let cont = self.b.create_block();
        self.b.ins().brif(status, slow, &[], cont, &[]);

        self.enter(slow);
        let is_tail = self.b.ins().icmp_imm_s(IntCC::Equal, status, i64::from(status::TAIL_CALL));
        let tail = self.cold_block();
        let fault = self.cold_block();
        self.b.ins().brif(is_tail, tail, &[], fault, &[]);
        self.enter(fault);
        self.raise(kind::HELPER, i, id, used);

        self.enter(tail);
        let sp = self.f.st;
        let zero = self.iconst(0);
        self.b.ins().store(trusted(), zero, sp, sto::OUT);
        for r in 1..10 {
            let value = self.b.use_var(self.v.regs[r]);
            self.b.ins().store(trusted(), value, sp, sto::OUT + 8 * r as i32);
        }
        let depth = self.get(self.v.depth);
        let loops = self.get(self.v.loops);
        self.b.ins().store(trusted(), loops, sp, sto::LOOPS);
        let site = self.iconst(self.site(i));
        let tf = self.iconst(exec::tail_call as *const () as usize as i64);
        let call = self.b.ins().call_indirect(self.tail_sig, tf, &[sp, vm, site, used, id, depth]);
        let [code, used] = [0, 1].map(|k| self.b.inst_results(call)[k]);
        let back = self.b.create_block();
        let out = self.cold_block();
        self.b.ins().brif(code, out, &[], back, &[]);
        self.enter(out);
        self.b.ins().return_(&[code, used]);
        self.enter(back);
        for r in 0..6 {
            let value = self.b.ins().load(I64, trusted(), sp, sto::OUT + 8 * r);
            self.b.def_var(self.v.regs[r as usize], value);
        }
        self.b.def_var(self.v.used, used);
        let loops = self.b.ins().load(I64, trusted(), sp, sto::LOOPS);
        self.b.def_var(self.v.loops, loops);
        // The callee's frame exited: so did this one. At the entry frame,
        // the state already holds what the callee returned.
        self.exit_with(false);

        self.enter(cont);
        self.set_reg(Reg::R0, r0);
        true
    }

    /// `bpf_map_lookup_elem` on an array or per-CPU array, inline: `r0` = the value of
    /// the `u32` key at `r2` if it is below `max_entries`, else NULL, as the
    /// helper computes it. The key pointer needs no check: the verifier
    /// that named the map checked the call's arguments too. `r1`..`r5` keep
    /// their values, as after any helper call.
    fn inline_lookup(&mut self, l: ArrayLookup) {
        let r2 = self.reg(Reg::R2);
        let key = self.b.ins().uload32(mem(), r2, 0);
        let mut inside = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, key, i64::from(l.max_entries));
        // A per-CPU array keeps each key's values side by side, one per
        // CPU: `(key * copies + cpu) * stride`, as the helper computes it.
        let slot = match l.per_cpu {
            None => key,
            Some(copies) => {
                let vm = self.vm();
                let cpu = self.b.ins().uload32(trusted(), vm, vmo::CPU);
                let cpu_inside = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, cpu, i64::from(copies));
                inside = self.b.ins().band(inside, cpu_inside);
                let first = self.b.ins().imul_imm_s(key, i64::from(copies));
                self.b.ins().iadd(first, cpu)
            }
        };
        let off = self.b.ins().imul_imm_s(slot, l.stride as i64);
        let addr = self.b.ins().iadd_imm_s(off, l.base as i64);
        let null = self.iconst(0);
        let r0 = self.b.ins().select(inside, addr, null);
        self.set_reg(Reg::R0, r0);
    }

    fn local_call(&mut self, i: usize) {
        self.flush();
        let used = self.get(self.v.used);
        let spent = self.spent(used);
        self.fault_if(spent, kind::BUDGET, i, None, used);
        let depth = self.get(self.v.depth);
        let deep = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, depth, i64::from(MAX_FRAMES) - 1);
        self.fault_if(deep, kind::CALL_DEPTH, i, None, used);
        let site = self.returns.iter().position(|&r| r == i + 1).expect("every call has a return site");
        let frame = self.frame_addr(depth);
        let site = self.iconst(site as i64);
        self.b.ins().store(trusted(), site, frame, 0);
        for (k, r) in [Reg::R6, Reg::R7, Reg::R8, Reg::R9].into_iter().enumerate() {
            let value = self.reg(r);
            self.b.ins().store(trusted(), value, frame, 8 + 8 * k as i32);
        }
        let depth = self.b.ins().iadd_imm_s(depth, 1);
        self.b.def_var(self.v.depth, depth);
        self.enter_frame(depth);
        let target = self.blocks[(self.target_of)(i)].expect("call targets start blocks");
        self.b.ins().jump(target, &[]);
    }

    /// A jump table over `blocks` (at least one); an index past them goes
    /// to the first, though none is ever out of range.
    fn jump_table(&mut self, blocks: &[Block]) -> cranelift_codegen::ir::JumpTable {
        let no_args: &[BlockArg] = &[];
        let calls: Vec<_> = blocks.iter().map(|&blk| self.b.func.dfg.block_call(blk, no_args)).collect();
        let default = self.b.func.dfg.block_call(blocks[0], no_args);
        self.b.create_jump_table(JumpTableData::new(default, &calls))
    }

    fn frame_addr(&mut self, depth: Value) -> Value {
        let slot = self.frames.expect("a program with calls has a frame stack");
        let base = self.b.ins().stack_addr(I64, slot, 0);
        let off = self.b.ins().imul_imm_s(depth, FRAME_RECORD);
        self.b.ins().iadd(base, off)
    }

    /// `exit` (with `used` up to date): return from the function when the
    /// entry frame exits, else pop a frame and go back to its call.
    fn exit(&mut self) {
        self.exit_with(true);
    }

    /// [`Self::exit`]; `store` false returns from the entry frame leaving
    /// the state as a tail-called program filled it.
    fn exit_with(&mut self, store: bool) {
        if self.returns.is_empty() {
            self.ret_with(store);
            return;
        }
        let depth = self.get(self.v.depth);
        let base = self.f.base;
        let at_base = self.b.ins().icmp(IntCC::Equal, depth, base);
        let ret = self.b.create_block();
        let pop = self.b.create_block();
        self.b.ins().brif(at_base, ret, &[], pop, &[]);
        self.enter(ret);
        self.ret_with(store);
        self.enter(pop);
        let depth = self.b.ins().iadd_imm_s(depth, -1);
        self.b.def_var(self.v.depth, depth);
        let frame = self.frame_addr(depth);
        let site = self.b.ins().load(I64, trusted(), frame, 0);
        for (k, r) in [Reg::R6, Reg::R7, Reg::R8, Reg::R9].into_iter().enumerate() {
            let value = self.b.ins().load(I64, trusted(), frame, 8 + 8 * k as i32);
            self.set_reg(r, value);
        }
        self.enter_frame(depth);
        let site = self.b.ins().ireduce(I32, site);
        let blocks: Vec<Block> =
            self.returns.iter().map(|&r| self.blocks[r].expect("return sites start blocks")).collect();
        let table = self.jump_table(&blocks);
        self.b.ins().br_table(site, table);
    }

    /// Returns from the function with the count `used`: `r0` and the loop
    /// count into the state, unless a tail call's callee already did.
    fn ret_with(&mut self, store: bool) {
        let used = self.get(self.v.used);
        let code = self.b.ins().iconst(I32, i64::from(exec::code::RETURN));
        if !store {
            self.b.ins().return_(&[code, used]);
            return;
        }
        let st = self.f.st;
        let r0 = self.b.use_var(self.v.regs[0]);
        self.b.ins().store(trusted(), r0, st, sto::OUT);
        if self.keeps_loops {
            let loops = self.get(self.v.loops);
            self.b.ins().store(trusted(), loops, st, sto::LOOPS);
        }
        self.store_last(st);
        self.b.ins().return_(&[code, used]);
    }

    /// Records this program as the one whose frame exited, when it may
    /// make a tail call: the state names the program that runs, and only
    /// a tail call changes it.
    fn store_last(&mut self, st: Value) {
        if !self.may_tail_call {
            return;
        }
        let prog = self.b.ins().iconst(I32, i64::from(self.prog.0));
        self.b.ins().store(trusted(), prog, st, sto::LAST);
    }

    /// `ld_abs`/`ld_ind`: `r0` = the big-endian value at `index + imm` in
    /// the packet; out of bounds, the whole run returns 0.
    fn packet_load(&mut self, i: usize, mode: PacketLoad, size: Size, imm: i32) {
        let regions = self.f.regions;
        let region = vmo::region::SIZE * PACKET_REGION as i32;
        let start = self.b.ins().load(I64, trusted(), regions, region + vmo::region::START);
        let len = self.b.ins().load(I64, trusted(), regions, region + vmo::region::LEN);
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, start, 0);
        let used = self.used_now();
        self.fault_if(none, kind::NO_PACKET, i, None, used);
        let index = match mode {
            PacketLoad::Abs => self.iconst(0),
            PacketLoad::Ind(r) => self.reg(r),
        };
        let at = self.b.ins().iadd_imm_s(index, i64::from(imm));
        let bytes = size.bytes() as i64;
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, at, len);
        let room = self.b.ins().isub(len, at);
        let fits = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, room, bytes);
        let positive = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, at, 0);
        let ok = self.b.ins().band(inside, fits);
        let ok = self.b.ins().band(ok, positive);
        let abort = self.cold_block();
        let cont = self.b.create_block();
        self.b.ins().brif(ok, cont, &[], abort, &[]);
        self.enter(abort);
        let st = self.f.st;
        let zero = self.iconst(0);
        self.b.ins().store(trusted(), zero, st, sto::OUT);
        self.store_last(st);
        let code = self.b.ins().iconst(I32, i64::from(exec::code::ABORT));
        self.b.ins().return_(&[code, used]);
        self.enter(cont);
        let addr = self.b.ins().iadd(start, at);
        let f = mem();
        let value = match size {
            Size::B => self.b.ins().uload8(I64, f, addr, 0),
            Size::H => {
                let v = self.b.ins().load(types::I16, f, addr, 0);
                let v = self.b.ins().bswap(v);
                self.b.ins().uextend(I64, v)
            }
            _ => {
                let v = self.b.ins().load(I32, f, addr, 0);
                let v = self.b.ins().bswap(v);
                self.b.ins().uextend(I64, v)
            }
        };
        self.set_reg(Reg::R0, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfx_isa::abi::ProgType;

    /// The jumps of `src` that [`selects`] turns into selects, by op.
    fn selected(src: &str) -> Vec<usize> {
        let program = Program::new("t", ProgType::Unspec, bpfx_isa::asm::assemble(src).expect("assembles"));
        let ops: Vec<(InsnIdx, Insn)> = program.slots().map(|(at, insn)| (at, *insn)).collect();
        let map = op_of_slot(&program);
        let target_of = |i: usize| {
            let (at, insn) = &ops[i];
            let slot = i64::from(at.0) + insn.slots() as i64 + insn.branch_offset().expect("a branch");
            map[slot as usize].expect("a target")
        };
        let entries = BTreeMap::from([(0, 0)]);
        selects(&ops, &target_of, &targeted(&ops, &target_of, &entries))
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn a_jump_over_one_register_instruction_is_a_select() {
        assert_eq!(selected("if r1 > 5 goto +1\nr0 = 7\nexit"), [0]);
        assert_eq!(selected("if w1 == 0 goto +2\nr0 = 0x1122334455 ll\nexit"), [0]);
        assert_eq!(selected("if r1 & 1 goto +1\nr0 = be16 r0\nif r1 s< 2 goto +1\nr0 = -r0\nexit"), [0, 2]);
    }

    #[test]
    fn other_jumps_stay_branches() {
        // A division would be paid for on the path that skips it.
        assert!(selected("if r1 > 5 goto +1\nr0 /= r1\nexit").is_empty());
        // Memory and calls may fault or have effects.
        assert!(selected("if r1 > 5 goto +1\nr0 = *(u8 *)(r1 + 0)\nexit").is_empty());
        assert!(selected("if r1 > 5 goto +1\ncall 5\nexit").is_empty());
        // The skipped instruction starts a block another jump reaches.
        assert!(selected("if r1 > 7 goto +1\nif r1 > 5 goto +1\nr0 = 1\nexit").is_empty());
        assert!(selected("if r1 > 5 goto +1\nr0 = 1\nif r1 == 0 goto -2\nexit").is_empty());
        // Over more than one instruction, or backwards.
        assert!(selected("if r1 > 5 goto +2\nr0 = 1\nr0 += 1\nexit").is_empty());
    }
}
