//! Labels: where each is defined (in slots), and the patching of branch
//! offsets once every label is known.

use std::collections::HashMap;

use super::Stmt;
use super::error::{AsmError, AsmErrorKind, Operand};
use crate::{CallTarget, Insn};

/// The instructions read so far, each at its first slot, and the labels.
#[derive(Default)]
pub(super) struct Program {
    stmts: Vec<(u32, Stmt)>,
    /// Label name -> (slot, line of definition).
    labels: HashMap<String, (u32, u32)>,
    next_slot: u32,
    first_exit: Option<u32>,
}

impl Program {
    /// Defines `name` at the next instruction's slot.
    pub fn define(&mut self, name: &str, line: u32, column: u32) -> Result<(), AsmError> {
        if let Some(&(_, first_line)) = self.labels.get(name) {
            let kind = AsmErrorKind::DuplicateLabel { name: name.to_owned(), first_line };
            return Err(AsmError { line, column, kind });
        }
        self.labels.insert(name.to_owned(), (self.next_slot, line));
        Ok(())
    }

    pub fn push(&mut self, stmt: Stmt) {
        if stmt.insn == Insn::Exit && self.first_exit.is_none() {
            self.first_exit = Some(self.next_slot);
        }
        let slot = self.next_slot;
        self.next_slot = slot.saturating_add(stmt.insn.slots() as u32);
        self.stmts.push((slot, stmt));
    }

    /// Resolves every label use and returns the instructions.
    pub fn finish(self) -> Result<Vec<Insn>, AsmError> {
        let mut insns = Vec::with_capacity(self.stmts.len());
        for (slot, stmt) in self.stmts {
            let mut insn = stmt.insn;
            if let Some(label) = stmt.target {
                let error = |kind| AsmError { line: label.line, column: label.column, kind };
                let target = match (self.labels.get(&label.name), self.first_exit) {
                    (Some(&(target, _)), _) => target,
                    (None, Some(exit)) if label.exit_fallback && label.name == "exit" => exit,
                    (None, _) => return Err(error(AsmErrorKind::UndefinedLabel(label.name))),
                };
                let offset = i64::from(target) - i64::from(slot) - 1;
                set_offset(&mut insn, offset)
                    .map_err(|what| error(AsmErrorKind::OutOfRange { what, value: offset.to_string() }))?;
            }
            insns.push(insn);
        }
        Ok(insns)
    }
}

/// Writes a resolved branch offset into `insn`, if it fits its field.
fn set_offset(insn: &mut Insn, offset: i64) -> Result<(), Operand> {
    let narrow = || i16::try_from(offset).map_err(|_| Operand::JumpOffset);
    let wide = || i32::try_from(offset).map_err(|_| Operand::WideJumpOffset);
    match insn {
        Insn::Ja { off, wide: false } => *off = i32::from(narrow()?),
        Insn::Ja { off, wide: true } | Insn::Call(CallTarget::Local(off)) => *off = wide()?,
        Insn::Jump { off, .. } | Insn::MayGoto { off } => *off = narrow()?,
        // Only branches are given label targets.
        _ => {}
    }
    Ok(())
}
