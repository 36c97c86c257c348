//! Programs run with the facts bpfx's verifier proved: the interpreter
//! (every access checked) against the JIT loaded with the verifier's
//! [`Proven`] (the proved accesses unchecked, array lookups inline) — the
//! evidence that what the facts let the JIT drop changes nothing.

use bpfx_interpreter::Interpreter;
use bpfx_isa::{Program, Proven};
use bpfx_jit::Jit;
use bpfx_runtime::context::convert::convert_proven;
use bpfx_verifier::{Options, verify};

use crate::diff::{
    Input, Order, Outcome, Setup, difference, judge, layout_dependent_all, outcome, outcome_proven, outcomes,
    outcomes_in,
};

/// A program the verifier accepted, as the engines run it.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The program with its context accesses converted for bpfx's packet
    /// contexts (for the program types the runtime converts), as the CLI
    /// loads it.
    pub program: Program,
    /// The verifier's facts, carried to that program.
    pub proven: Proven,
}

/// What the verifier's facts about a program come to for the engines.
#[derive(Debug, Clone)]
pub enum Facts {
    /// The verifier rejected the program.
    Rejected,
    /// It accepted the program, but its facts do not carry over to the
    /// program converted for bpfx's contexts (the CLI then runs it with
    /// every access checked).
    Withheld,
    Verified(Box<Verified>),
}

/// What the engines run when the verifier accepts `program`: the program
/// converted and the facts carried to it, as the CLI loads them. `Err`
/// when the runtime cannot convert a program the verifier accepted.
pub fn verified(program: &Program) -> Result<Facts, String> {
    let Some(proven) = verify(program, &Options::default()).proven else { return Ok(Facts::Rejected) };
    let (program, proven) = convert_proven(program, &proven)
        .map_err(|e| format!("the verifier accepted a program the runtime refuses: {e}"))?;
    Ok(proven.map_or(Facts::Withheld, |proven| Facts::Verified(Box::new(Verified { program, proven }))))
}

/// Runs `program` on the interpreter and on the JIT with the verifier's
/// facts, when there are facts to run with (`Ok(None)` when not);
/// `Err` names the first difference the layout does not explain.
pub fn check(program: &Program, input: &Input, setup: &Setup) -> Result<Option<(Verified, Outcome)>, String> {
    let Facts::Verified(v) = verified(program)? else { return Ok(None) };
    let v = *v;
    let interp = outcome(&mut Interpreter::new(), &v.program, input, setup);
    let mut jit = Jit::new().map_err(|e| e.to_string())?;
    let with_facts = outcome_proven(&mut jit, &v.program, Some(&v.proven), input, setup);
    match judge(&v.program, input, setup, &interp, &with_facts) {
        Some(d) => Err(format!("with the verifier's facts ({} accesses unchecked): {d}", v.proven.safe_access_count())),
        None => Ok(Some((v, interp))),
    }
}

/// How a comparison over a sequence of inputs came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    /// Both engines left the same after every input.
    Same,
    /// They differed, and so does the interpreter from itself with its
    /// regions elsewhere: the program's results depend on where memory
    /// lies (it compares pointers into different regions, say), and the
    /// engines cannot be compared on it.
    LayoutDependent,
}

/// Runs a verified program on each input in turn (one load per engine, map
/// state carrying over) on the interpreter and on the JIT with the facts;
/// `Err` names the first input whose outcomes differ in a way the layout
/// does not explain.
pub fn compare(v: &Verified, inputs: &[Input], setup: &Setup) -> Result<Compared, String> {
    let interp_all = |order| outcomes_in(&mut Interpreter::new(), &v.program, None, inputs, setup, order);
    let interp = interp_all(Order::RuntimeFirst);
    let mut jit = Jit::new().map_err(|e| e.to_string())?;
    let with_facts = outcomes(&mut jit, &v.program, Some(&v.proven), inputs, setup);
    let Some((k, d)) = interp.iter().zip(&with_facts).enumerate().find_map(|(k, (a, b))| Some((k, difference(a, b)?)))
    else {
        return Ok(Compared::Same);
    };
    if layout_dependent_all(&interp, interp_all) {
        return Ok(Compared::LayoutDependent);
    }
    Err(format!("input {k} ({:02x?}): {d}", inputs[k]))
}
