//! Execution for wasp plugins: engine, loader, scheduler, host API and backends.
//!
//! This crate runs plugins; it knows nothing of actors or routing (that is
//! `wasp-actors`). Its pieces:
//!
//! - [`Engine`]: one wasmtime engine with epoch interruption and its ticker;
//! - [`WasmPlugin::compile`]: validation before anything runs (format, size,
//!   ABI version, imports, exports), then compilation, or loading the code
//!   from the [`ModuleCache`];
//! - [`Schedule`]: time slices; a guest yields every slice and traps when its
//!   per-message CPU budget ([`Limits::cpu_budget`]) is spent;
//! - [`ComponentPlugin::compile`]: a WebAssembly component targeting the
//!   `wasp:plugin` WIT world (`wit/plugin.wit`), checked the same way;
//! - [`NativePlugin::open`]: a native plugin library (`.so`, `.dll`,
//!   `.dylib`), checked before it is loaded;
//! - [`Instance`]: one running plugin, WASM ([`WasmInstance`]), native
//!   library ([`NativeInstance`]) or in process ([`InProcessInstance`]),
//!   behind one interface;
//! - [`InProcessPlugin`]: the seam through which a Rust value runs in
//!   process (`wasp-actors` adapts the SDK's `Plugin` to it: this crate
//!   does not depend on the SDK);
//! - [`Library`]: a shared library module, compiled once and instantiated
//!   into each plugin that `uses` it ([`Libraries`]);
//! - [`Router`]: the seam through which a running plugin reaches the world;
//! - [`RemoteImage`] / [`RemoteInstance`]: the seam for plugins that run in
//!   another process.
//!
//! Every backend speaks the message model of `wasp-protocol`
//! ([`MessageKind`](wasp_protocol::MessageKind),
//! [`LogLevel`](wasp_protocol::LogLevel),
//! [`HostApi`](wasp_protocol::HostApi), the ABI's numbers and native
//! tables), the same types the SDK hands plugin authors.
//!
//! # Cargo features
//!
//! All on by default; without any, the crate runs WebAssembly modules and
//! in-process plugins only. What needs a missing feature fails with
//! [`Error::FeatureDisabled`] naming it ([`features::check_manifest`] refuses
//! a manifest that asks for one), never with a panic or silence.
//!
//! | feature | adds | pulls in |
//! | --- | --- | --- |
//! | `native` | native plugin libraries: `NativePlugin`, `NativeInstance` | `libloading`, `object` |
//! | `http` | the `http.fetch` service (`services::http`) | `reqwest` (rustls) |
//! | `storage` | the `kv.*` service (`services::storage`) | `redb` |
//! | `profiling` | [`Engine::start_profile`] / [`Engine::finish_profile`] | wasmtime's `profiling` |
//! | `debugger` | debug mode ([`Engine::with_debug`]): plugin code registered with the GDB JIT interface | wasmtime's `debug-builtins` (C: `gdbjit.c`) |
//! | `components` | component-model plugins: `ComponentPlugin`, `ComponentInstance` | nothing new |
//! | `libraries` | shared WASM libraries: [`Library::compile`] | nothing new |
//!
//! `docs/features.md` says what each one costs and what fails without it.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod cache;
#[cfg(feature = "components")]
mod component;
mod delivery;
mod engine;
mod env;
mod error;
mod family;
pub mod features;
mod grants;
mod hostcalls;
mod identity;
mod inprocess;
mod instance;
mod kind;
mod library;
mod lifecycle;
mod limits;
mod loader;
pub mod locate;
pub mod manifest;
#[cfg(feature = "native")]
mod native;
mod plugin_file;
mod rate;
mod remote;
mod router;
mod scheduler;
pub mod services;
pub mod signature;
mod text;
pub mod units;
mod wasm;

pub use audit::{AuditEvent, AuditKind, MAX_AUDIT_FIELD, MAX_AUDIT_MESSAGE};
pub use cache::{CacheStats, ModuleCache};
#[cfg(feature = "components")]
pub use component::{ComponentInstance, ComponentPlugin, WORLD_PACKAGE, WORLD_VERSION, WorldVersion};
pub use engine::{Engine, EngineOptions, Pool};
pub use env::PluginEnv;
pub use error::{Error, Problem};
pub use family::Family;
pub use grants::{GrantSet, Grants, Revocation};
pub use hostcalls::rules;
pub use identity::Identity;
pub use inprocess::{InProcessInstance, InProcessPlugin, PluginFactory};
pub use instance::{Instance, PluginImage};
pub use kind::PluginKind;
pub use library::{Libraries, Library, LibraryRequirement, LibraryVersion, LinkedLibraries};
pub use lifecycle::Unloaded;
pub use limits::Limits;
pub use loader::declared::{Declared, Import as DeclaredImport, Item as DeclaredItem};
pub use loader::{FileKind, WasmPlugin};
pub use manifest::{Component, LimitRequests, Manifest, ManifestKind};
#[cfg(feature = "native")]
pub use native::{MAX_STRANDED_THREADS, NativeInstance, NativePlugin};
pub use plugin_file::{
    MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, open_plugin_file, read_plugin_file, read_plugin_file_async,
};
pub use rate::{LogAdmission, LogRate};
pub use remote::{RemoteFuture, RemoteImage, RemoteInstance};
pub use router::{Answer, BoxFuture, Inbound, Progress, ReplyTo, Router, TimerSpec};
pub use scheduler::Schedule;
pub use services::Services;
pub use text::{MAX_ERROR_TEXT, bound_error, truncate, truncated};
pub use wasm::WasmInstance;

// The README's Rust examples compile and run as doc tests, so what crates.io
// shows is what works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
