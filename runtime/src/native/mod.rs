//! The native backend: plugins built as dynamic libraries (`.so`, `.dll`,
//! `.dylib`) with `export_plugin!`, loaded with the system's loader.
//!
//! Native plugins are trusted code: they share the host's address space and
//! cannot be preempted. What wasp still gives them is the same host API,
//! checked the same way as for WASM ([`HostCalls`](crate::hostcalls)),
//! panics caught at the boundary, and a watchdog that answers the caller
//! `deadline_exceeded` when a call overruns its budget.

mod calls;
mod instance;
mod library;

pub use instance::{MAX_STRANDED_THREADS, NativeInstance};
pub use library::NativePlugin;
