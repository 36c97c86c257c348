//! The kernel's ABI as data: helper ids, names and prototypes, program
//! types, attach types, context layouts, map types. Each is one table that
//! the loader, verifier, runtime and engines share.

mod ctx;
mod helpers;
mod proto;
mod types;

pub use ctx::{
    CtxAccess, CtxField, CtxLayout, CtxValue, PT_REGS, RAW_TRACEPOINT, SK_BUFF, TRACEPOINT, XDP_MD, ctx_access,
    ctx_layout,
};
pub use proto::{ArgKind, Family, HelperProto, RetKind, proto};
pub use types::{AttachType, MapType, ProgType};
