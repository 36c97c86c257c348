//! Every engine against the same expectations: the public conformance
//! suite, then bpfx's own tests of faults, the budget, calls, tail calls,
//! callbacks, helpers and map helpers — each asserting the values a run
//! produces. One named test per (engine, test): `interp/faults/oob_load`,
//! `interp/conformance/add64`.
//!
//! The engine list holds both engines: every test runs on the interpreter
//! (the reference) and on the JIT alike.

mod calls;
mod conformance;
mod faults;
mod helpers;
mod kernel;
mod maps;
mod packets;

use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{MapSpec, Program, asm};
use bpfx_jit::Jit;
use bpfx_runtime::{Config, Context, Engine, Exit, ProgId, Runtime};
use libtest_mimic::{Arguments, Trial};

/// Makes a fresh engine.
pub type MakeEngine = fn() -> Box<dyn Engine>;

/// The engines every test runs on, by name.
fn engines() -> Vec<(&'static str, MakeEngine)> {
    vec![
        ("interp", || Box::new(Interpreter::new())),
        ("jit", || Box::new(Jit::new().expect("a Cranelift target for this host"))),
    ]
}

/// A test of one engine.
pub struct Test {
    pub name: &'static str,
    pub run: fn(MakeEngine),
}

/// `tests![a, b]`: the module's tests, by function name.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        pub const TESTS: &[$crate::Test] = &[$($crate::Test { name: stringify!($name), run: $name }),*];
    };
}

fn main() {
    let args = Arguments::from_args();
    let engines = engines();
    let mut trials = conformance::trials(&engines);
    let groups: [(&str, &[Test]); 6] = [
        ("faults", faults::TESTS),
        ("calls", calls::TESTS),
        ("helpers", helpers::TESTS),
        ("maps", maps::TESTS),
        ("packets", packets::TESTS),
        ("kernel", kernel::TESTS),
    ];
    for &(engine, make) in &engines {
        for (group, tests) in groups {
            for test in tests {
                let run = test.run;
                trials.push(Trial::test(format!("{engine}/{group}/{}", test.name), move || {
                    run(make);
                    Ok(())
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// A program from assembly (either syntax), with `maps`.
pub fn program(source: &str, maps: Vec<MapSpec>) -> Program {
    let insns = asm::assemble(source).unwrap_or_else(|e| panic!("test program: {e}"));
    let mut p = Program::new("test", ProgType::Unspec, insns);
    p.maps = maps;
    p
}

pub fn map(name: &str, map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec { name: name.into(), map_type, key_size, value_size, max_entries, ..MapSpec::default() }
}

/// What a run left: its result, and the runtime and context to inspect.
pub struct Outcome {
    pub exit: Exit,
    pub insns: u64,
    pub prog: ProgId,
    pub rt: Runtime,
    pub ctx: Context,
}

impl Outcome {
    /// `r0`, or a panic naming the fault.
    pub fn r0(&self) -> u64 {
        match &self.exit {
            Exit::Return(r0) => *r0,
            fault => panic!("expected a return, got {fault}"),
        }
    }
}

/// Loads `program` into a runtime with `config` and runs it on `ctx`.
pub fn run_with(make: MakeEngine, config: Config, program: &Program, ctx: Context) -> Outcome {
    let mut rt = Runtime::new(config);
    let mut engine = make();
    let prog = engine.load(&mut rt, program).unwrap_or_else(|e| panic!("load: {e}"));
    let mut ctx = ctx;
    let r = engine.run(&mut rt, prog, &mut ctx).expect("the program is loaded");
    Outcome { exit: r.exit, insns: r.insns, prog: r.prog, rt, ctx }
}

pub fn run(make: MakeEngine, program: &Program, ctx: Context) -> Outcome {
    run_with(make, Config::default(), program, ctx)
}

/// Runs assembly without maps on an empty raw context; returns `r0`.
pub fn r0(make: MakeEngine, source: &str) -> u64 {
    run(make, &program(source, Vec::new()), Context::raw(&[])).r0()
}
