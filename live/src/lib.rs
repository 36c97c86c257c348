//! bpfx beside the running kernel: one program judged and run by bpfx and
//! by the kernel (through [`bpfx_loader::kernel`]), and where the two
//! differ — what `--live` on the command line shows.
//!
//! What it is: [`verdict`] reads the kernel's verdict on a program, its
//! error mapped back to the C source line through the program's line info
//! and its log annotated with the source; [`replay`] runs each packet of a
//! capture through a bpfx engine and through `BPF_PROG_TEST_RUN`, maps
//! carried in both, and compares them field by field; [`maps`] reads the
//! kernel's maps in the shape bpfx reports its own and compares the two.
//!
//! What it is not: it judges nothing itself — bpfx's verifier and engines
//! and the kernel do — and it does not attach programs or create kernel
//! objects beyond what it is given (the loader's kernel module does).
//! Linux only, like the kernel module it builds on.

pub mod maps;
pub mod replay;
pub mod verdict;

pub use maps::{MapComparison, MapDifference, compare_maps, compare_with_kernel, kernel_map_contents, listable};
pub use replay::{Compared, Difference, KernelOutcome, KernelRan, LiveError, LiveReplayer};
pub use verdict::{KernelRejection, KernelVerdict, annotated_log, judge, judge_in_object};
