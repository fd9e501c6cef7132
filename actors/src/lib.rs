//! Concurrency for wasp: plugin actors, the broker, and the [`Host`] facade.
//!
//! Every loaded plugin is a ractor actor that owns its instance and handles
//! one message at a time. The broker routes MessagePack payloads between the
//! host and plugins: requests with exactly one answer, one-way sends, and
//! publish/subscribe topics. [`Host`] is the cheap, cloneable handle an
//! application (or a Tauri command) holds.
//!
//! ```
//! use wasp_actors::{Host, Load};
//! use wasp_sdk::prelude::*;
//!
//! #[derive(Default)]
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
//!         let name: String = msg.decode()?;
//!         Reply::encode(&format!("hello, {name}"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::builder().build()?;
//! host.load(Load::in_process(Greeter::default).named("greeter")).await?;
//! let reply: String = host.call("greeter", "greet", &"wasp").await?;
//! assert_eq!(reply, "hello, wasp");
//! # host.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Cargo features
//!
//! All on by default. A Tauri app that runs only WebAssembly modules and
//! in-process plugins depends on this crate (or `tauri-plugin-wasp`) with
//! `default-features = false` and adds back what it uses. What needs a
//! missing feature fails with `wasp_runtime::Error::FeatureDisabled`, naming
//! it, when it is asked for (a load, a builder knob), never with a panic or
//! silence.
//!
//! | feature | adds | pulls in |
//! | --- | --- | --- |
//! | `native` | native plugin libraries | `libloading`, `object` |
//! | `out-of-process` | native plugins in `wasp-node` children ([`HostBuilder::out_of_process`], [`node`]) | ractor's `cluster`, `ractor_cluster` (TCP, TLS, protobuf); implies `native`, `storage` |
//! | `http` | the `http.fetch` service (permission `net:`) | `reqwest` |
//! | `storage` | the `kv.*` service, decisions kept in `wasp.redb` | `redb` |
//! | `hot-reload` | [`HostBuilder::hot_reload`], [`Host::watch`] | `notify` |
//! | `profiling` | [`Host::profile`] | wasmtime's `profiling` |
//! | `debugger` | debug mode ([`HostBuilder::debug`]) for gdb and lldb | wasmtime's `debug-builtins` (C) |
//! | `components` | component-model plugins | nothing new |
//! | `libraries` | shared WASM libraries ([`HostBuilder::library`]) | nothing new |
//!
//! Without `out-of-process`, ractor keeps its blanket `Message` impl: the
//! local message path carries none of the cluster's hooks
//! (`docs/performance.md`, "ractor's `cluster` feature"). `docs/features.md`
//! has the details.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod actor;
mod audit;
mod broker;
mod decisions;
mod error;
mod exceptions;
mod host;
mod identity;
pub mod in_process;
mod mailbox;
mod metrics;
mod namespace;
pub mod node;
mod policy;
mod pool;
mod supervision;
mod tap;
mod timers;
mod topics;
mod waits;
#[cfg(feature = "hot-reload")]
mod watch;

pub use broker::AppCall;
pub use error::Error;
pub use host::{Host, HostBuilder, Load, PluginRef, Prepared, Subscription};
pub use metrics::{HostMetrics, PluginInfo, PluginState};
pub use policy::{AskRequest, Decision, IdentityChange, Policy};
pub use supervision::Supervision;
pub use tap::{Tap, TapKind, TapOutcome, TapRecord};
pub use topics::{Event, topic_matches};
pub use wasp_protocol::Permission;
pub use wasp_runtime::manifest::{LimitRequests, Manifest, ManifestError, ManifestKind};
pub use wasp_runtime::{AuditEvent, AuditKind, CacheStats, Identity, Limits, ModuleCache, PluginKind, Schedule};

// The README's Rust examples compile and run as doc tests, so what crates.io
// shows is what works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
