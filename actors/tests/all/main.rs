//! Integration tests for wasp's core: real wasmtime, real example plugins
//! built for wasm32, and their in-process twins.
//!
//! One binary for the whole crate (each extra test binary re-links
//! wasmtime); one module per concern.

mod abi_edges;
mod abi_wat;
mod bundle_load;
mod common;
mod components;
mod debugging;
mod doorman;
mod faults;
mod hostile;
mod hot_reload;
mod import_boundary;
mod libraries;
mod lifecycle;
mod loading;
mod messaging;
mod module_cache;
mod native;
mod native_c;
mod permissions;
mod pooling_allocator;
mod pools;
mod reload;
mod scheduling;
mod services;
mod supervision;
mod tap;
mod windows;
