//! Integration tests for wasp's core: real wasmtime, real example plugins
//! built for wasm32, and their in-process twins.
//!
//! One binary for the whole crate (each extra test binary re-links
//! wasmtime); one module per concern. A module that needs one of the
//! crate's Cargo features is compiled only with it (`scripts/test` also runs
//! this binary with `--no-default-features`).

// Without every feature, the tests that need a missing one are left out,
// and the imports and helpers only they use go unused.
#![cfg_attr(
    not(all(
        feature = "native",
        feature = "out-of-process",
        feature = "http",
        feature = "storage",
        feature = "hot-reload",
        feature = "profiling",
        feature = "components",
        feature = "libraries"
    )),
    allow(unused_imports, dead_code)
)]

mod abi_edges;
mod abi_wat;
mod app_functions;
mod bundle_load;
mod common;
#[cfg(feature = "components")]
mod components;
#[cfg(feature = "profiling")]
mod debugging;
#[cfg(feature = "out-of-process")]
mod doorman;
mod faults;
mod features;
mod hostile;
#[cfg(feature = "hot-reload")]
mod hot_reload;
mod import_boundary;
#[cfg(feature = "libraries")]
mod libraries;
mod lifecycle;
mod loading;
mod messaging;
mod module_cache;
#[cfg(feature = "native")]
mod native;
#[cfg(feature = "native")]
mod native_c;
mod permissions;
mod pooling_allocator;
mod pools;
mod reload;
mod scheduling;
#[cfg(all(feature = "storage", feature = "http"))]
mod services;
mod supervision;
mod tap;
#[cfg(feature = "native")]
mod windows;
