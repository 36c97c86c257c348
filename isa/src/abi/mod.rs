//! The kernel's ABI as data: helper ids and names, program types, map types.
//! Each is one table that the loader, verifier, runtime and engines share.

mod helpers;
mod types;

pub use types::{MapType, ProgType};
