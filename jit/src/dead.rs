//! Removing reads nothing uses, before Cranelift compiles a function.
//!
//! Cranelift's lowering skips a pure instruction whose value nothing uses,
//! but keeps every load; without its optimiser (see [`crate::Jit::new`])
//! nothing else removes them. The translation loads what the VM context
//! and run state hold where every block can reach it (the entry block),
//! and a program that never uses a value (`r10`, the region table, an entry
//! register it overwrites first) would still pay for the load on every
//! run. This pass removes such loads — only the non-trapping ones, which
//! read the engine's own state, never the program's memory — together
//! with the pure instructions that only they, or other dead ones, fed.

use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::{Function, Inst, Value, ValueDef};

/// Whether removing `inst` when nothing uses its results changes nothing:
/// a pure instruction, or a load that cannot trap.
fn removable(func: &Function, inst: Inst) -> bool {
    let data = &func.dfg.insts[inst];
    let op = data.opcode();
    let effects = op.can_trap()
        || op.can_store()
        || op.is_call()
        || op.is_branch()
        || op.is_terminator()
        || op.other_side_effects();
    if effects {
        return false;
    }
    !op.can_load() || data.memflags_data(&func.dfg).is_some_and(|f| f.trap_code().is_none())
}

/// Removes every removable instruction (see [`removable`]) of the entry
/// block whose results nothing uses, directly or through other removed
/// instructions. (The translation puts its state loads there; counting
/// uses of the entry block's values only keeps the pass cheap.)
pub(crate) fn remove_dead_reads(func: &mut Function) {
    let Some(entry) = func.layout.entry_block() else { return };
    let insts: Vec<Inst> = func.layout.block_insts(entry).collect();
    // Values are numbered as they are made, and the entry block's first.
    let Some(limit) = insts.iter().flat_map(|&i| func.dfg.inst_results(i)).map(|v| v.index()).max() else { return };
    let mut uses = vec![0u32; limit + 1];
    for block in func.layout.blocks() {
        for inst in func.layout.block_insts(block) {
            for v in func.dfg.inst_values(inst) {
                if let Some(n) = uses.get_mut(func.dfg.resolve_aliases(v).index()) {
                    *n += 1;
                }
            }
        }
    }
    let dead = |func: &Function, uses: &[u32], inst: Inst| {
        func.layout.inst_block(inst).is_some()
            && func.dfg.inst_results(inst).iter().all(|r| uses[r.index()] == 0)
            && removable(func, inst)
    };
    let mut work: Vec<Inst> = insts.into_iter().filter(|&i| dead(func, &uses, i)).collect();
    while let Some(inst) = work.pop() {
        if !dead(func, &uses, inst) {
            continue;
        }
        let args: Vec<Value> = func.dfg.inst_values(inst).map(|v| func.dfg.resolve_aliases(v)).collect();
        func.layout.remove_inst(inst);
        for v in args {
            if let Some(n) = uses.get_mut(v.index()) {
                *n -= 1;
                if *n == 0
                    && let ValueDef::Result(def, _) = func.dfg.value_def(v)
                {
                    work.push(def);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Signature, types};
    use cranelift_codegen::isa::CallConv;
    use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

    use super::*;

    /// `fn(p) -> i64`: loads `p[0]` (trusted), `p[8]` (may trap) and
    /// `p[16]` (trusted), adds one to the first, returns the third.
    fn function() -> Function {
        let mut sig = Signature::new(CallConv::SystemV);
        sig.params.push(AbiParam::new(types::I64));
        sig.returns.push(AbiParam::new(types::I64));
        let mut func = Function::with_name_signature(Default::default(), sig);
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut fctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let p = b.block_params(block)[0];
        let first = b.ins().load(types::I64, MemFlagsData::trusted(), p, 0);
        b.ins().iadd_imm_s(first, 1);
        b.ins().load(types::I64, MemFlagsData::new(), p, 8);
        let third = b.ins().load(types::I64, MemFlagsData::trusted(), p, 16);
        b.ins().return_(&[third]);
        b.finalize(crate::Jit::new().expect("the host runs the JIT").isa().frontend_config());
        func
    }

    fn opcodes(func: &Function) -> Vec<String> {
        let block = func.layout.entry_block().expect("an entry block");
        func.layout.block_insts(block).map(|i| func.dfg.insts[i].opcode().to_string()).collect()
    }

    #[test]
    fn unused_trusted_loads_go_with_what_only_they_fed() {
        let mut func = function();
        assert_eq!(opcodes(&func), ["load", "iconst", "iadd", "load", "load", "return"]);
        remove_dead_reads(&mut func);
        // The load that may trap stays: it could be the program's access.
        assert_eq!(opcodes(&func), ["load", "load", "return"]);
    }
}
