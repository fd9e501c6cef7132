//! Everything a plugin instance gets from its host.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::router::Router;
use crate::services::Services;
use crate::{Family, Grants, Limits, LinkedLibraries, LogRate};

/// What the host hands a plugin instance: its name, where its messages go,
/// its limits, its live grants, the host services and its configuration.
#[derive(Clone)]
pub struct PluginEnv {
    /// The plugin's address.
    pub name: Arc<str>,
    /// Where everything the plugin sends goes.
    pub router: Arc<dyn Router>,
    /// Its effective limits (the manifest's requests, capped by the host).
    pub limits: Limits,
    /// Its live permissions.
    pub grants: Grants,
    /// The host's services (storage, HTTP, data directories).
    pub services: Services,
    /// Configuration values, each MessagePack-encoded, read with `config.get`.
    pub config: Arc<BTreeMap<String, Vec<u8>>>,
    /// For a component of a hybrid plugin, its family: it may message the
    /// plugin's other components (exactly the addresses the hybrid
    /// registered) without `send:` or `request:` permissions.
    pub family: Option<Family>,
    /// The shared libraries its manifest `uses`, resolved by the host: what
    /// its `library:<name>/<function>` calls reach.
    pub libraries: LinkedLibraries,
    /// Its log-line budget, shared by its instances and by the host's lines
    /// about it ([`LogRate`]).
    pub log_rate: Arc<LogRate>,
}

impl std::fmt::Debug for PluginEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEnv")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

impl PluginEnv {
    /// An environment with no permissions, default limits, no services and
    /// no configuration.
    pub fn new(name: impl Into<Arc<str>>, router: Arc<dyn Router>) -> Self {
        Self {
            name: name.into(),
            router,
            limits: Limits::default(),
            grants: Grants::default(),
            services: Services::default(),
            config: Arc::default(),
            family: None,
            libraries: LinkedLibraries::default(),
            log_rate: Arc::default(),
        }
    }
}
