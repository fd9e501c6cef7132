//! The host: the facade an application holds to load plugins and talk to
//! them, in rooms:
//!
//! | room | what it holds |
//! | --- | --- |
//! | [`builder`] | [`HostBuilder`]: configuration, and building a host |
//! | [`handles`] | [`PluginRef`], [`Prepared`], [`Subscription`]: what the host hands back |
//! | [`source`] | [`Load`]: what to load, its options and naming rules |
//! | [`load`] | the load pipeline — locate → read → image → decide → start — for every source |
//! | [`start`] | admission checks, environments, instances, routes; unload and shutdown |
//! | [`permissions`] | deciding permissions at load, granting and revoking at run time |
//! | [`reload`] | hot reload and watching, reloads, restarts |
//! | [`messaging`] | requests, sends, publishes, subscriptions, as the host or as a plugin |
//! | [`serve`] | the app's own functions, which plugins call |
//! | [`introspection`] | metrics, the audit log, the tap, profiles |

mod builder;
mod handles;
mod introspection;
mod load;
mod messaging;
mod permissions;
mod reload;
mod serve;
mod source;
mod start;

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
#[cfg(feature = "hot-reload")]
use std::sync::OnceLock;
use std::time::Duration;

use wasp_runtime::{AuditEvent, AuditKind, Engine, Libraries, Limits, Services};

use crate::Error;
use crate::broker::{Broker, Route};
use crate::decisions::Decisions;
use crate::policy::Policy;
#[cfg(feature = "hot-reload")]
use crate::watch::Watcher;

pub use builder::HostBuilder;
pub use handles::{PluginRef, Prepared, Subscription};
pub use source::Load;

/// The wasp host: loads plugins as actors and routes messages to them.
///
/// Cheap to clone, `Send + Sync`: keep one in Tauri's managed state and use
/// it from any command or task. Every request gets exactly one answer — the
/// reply, or a [`WireError`](wasp_protocol::WireError) with a stable code.
///
/// ```
/// # use wasp_actors::Host;
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder().build()?;
/// let err = host.request("nobody", "ping", vec![0xc0]).await.unwrap_err();
/// assert_eq!(err.code, wasp_protocol::ErrorCode::NotFound);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    engine: Engine,
    broker: Arc<Broker>,
    limits: Limits,
    event_capacity: usize,
    event_bytes: usize,
    host: Arc<str>,
    policy: Policy,
    services: Services,
    config: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// Remembered decisions, by plugin name and identity.
    decisions: Decisions,
    /// Held while a plugin's route is checked and registered ([`Host::admit`]).
    admission: Mutex<()>,
    /// Whether plugins loaded from files are watched.
    hot_reload: bool,
    /// Quiet time before a watched plugin reloads.
    #[cfg_attr(
        not(feature = "hot-reload"),
        allow(dead_code, reason = "kept as configured; only the watcher reads it")
    )]
    debounce: Duration,
    /// The file watcher, started by the first [`Host::watch`].
    #[cfg(feature = "hot-reload")]
    watcher: OnceLock<Arc<Watcher>>,
    /// The shared libraries plugins may `use`.
    libraries: Libraries,
    /// Which native plugins run out of process.
    nodes: crate::node::NodeConfig,
    /// The host's end of the cluster of `wasp-node` processes.
    #[cfg(feature = "out-of-process")]
    cluster: Arc<crate::node::Cluster>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("plugins", &self.inner.broker.route_count()).finish_non_exhaustive()
    }
}

impl Host {
    /// Starts configuring a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    #[cfg(feature = "hot-reload")]
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    fn audit(&self, plugin: &str, kind: AuditKind, message: String) {
        self.inner.broker.record_audit(AuditEvent::new(plugin, kind, message));
    }

    fn route(&self, name: &str) -> Result<Route, Error> {
        self.inner.broker.route(name).ok_or_else(|| Error::NotLoaded(name.to_owned()))
    }
}
