//! Shows what a fuzz or proptest input generates and what each engine did
//! with it: `cargo run -p bpfx-testkit --example triage -- FILE` (the raw
//! input) or `-- --bytes 0,216,176` (proptest's shrunk list).

use arbitrary::Unstructured;
use bpfx_testkit::{diff, generate};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bytes = match args.as_slice() {
        [flag, list] if flag == "--bytes" => {
            list.split(',').map(|b| b.trim().parse::<u8>().expect("a byte")).collect::<Vec<u8>>()
        }
        [path] => std::fs::read(path).expect("a readable input"),
        _ => {
            eprintln!("usage: triage FILE | triage --bytes 1,2,3");
            std::process::exit(2);
        }
    };
    let g = generate::program(&mut Unstructured::new(&bytes)).expect("generation never runs out of bytes");
    for (at, insn) in g.program.slots() {
        println!("{at:>4}: {insn}");
    }
    println!("input: {:02x?}", g.input);
    let (interp, jit) = diff::both(&g.program, &g.input, &generate::setup());
    println!("interp: {:?}\njit:    {:?}", interp.runs, jit.runs);
    match diff::difference(&interp, &jit) {
        Some(d) => println!("{d}"),
        None => println!("agree"),
    }
}
