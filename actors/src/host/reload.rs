//! Replacing running code: hot reload and its file watching, reload from
//! a path or bytes, restarts.

#[cfg(feature = "hot-reload")]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasp_protocol::{ApiVersion, ErrorCode, WireError};
#[cfg(feature = "hot-reload")]
use wasp_runtime::manifest::FILE_NAME;
use wasp_runtime::manifest::Manifest;
use wasp_runtime::{AuditKind, Grants, PluginEnv, PluginImage, PluginKind};

use crate::Error;
use crate::actor::{PluginMsg, Replacement};
use crate::broker::Route;
use crate::metrics::PluginState;
use crate::pool::InstancePool;
#[cfg(feature = "hot-reload")]
use crate::watch::Watcher;

use super::Host;
use super::handles::PluginRef;
use super::load::{Found, Imaged, Read, locate_path};
use super::source::{Code, Place, entry_file_name, kind_of};

impl Host {
    /// Watches a plugin loaded from files when the host hot-reloads.
    pub(super) async fn watch_if_hot(&self, plugin: &PluginRef) {
        if self.inner.hot_reload
            && let Err(e) = self.watch(plugin.name()).await
        {
            tracing::warn!(target: "wasp::reload", plugin = plugin.name(), "hot reload is off for this plugin: {e}");
        }
    }

    /// Watches a plugin's files — its `plugin.toml` and its module or
    /// library — and [reloads](Host::reload) it when they change: the new
    /// code is compiled and validated in the background, the old instance
    /// hands its state to the new one (`on_unload` → `on_load`), and
    /// messages queued meanwhile go to the new code. A reload that fails
    /// leaves the old code running and is reported as an
    /// [`AuditKind::ReloadFailed`] event ([`Host::audit_events`]) with the
    /// reason; a successful one as [`AuditKind::Reloaded`].
    ///
    /// Only plugins loaded from a file or folder can be watched; hybrid
    /// plugins cannot (they are not reloadable). Watching a plugin again
    /// is harmless. [`HostBuilder::hot_reload`](crate::HostBuilder::hot_reload) watches every plugin
    /// loaded from files.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`], [`Error::Unsupported`] for a plugin that has no
    /// files or cannot reload, an I/O error starting the watcher, and
    /// [`wasp_runtime::Error::FeatureDisabled`] in a build without the
    /// `hot-reload` feature.
    pub async fn watch(&self, name: &str) -> Result<(), Error> {
        self.watch_files(name).await
    }

    #[cfg(not(feature = "hot-reload"))]
    async fn watch_files(&self, name: &str) -> Result<(), Error> {
        Err(wasp_runtime::Error::FeatureDisabled {
            what: format!("watching plugin `{name}` for hot reload"),
            feature: "hot-reload",
        }
        .into())
    }

    #[cfg(feature = "hot-reload")]
    async fn watch_files(&self, name: &str) -> Result<(), Error> {
        let files = self.plugin_files(name).await?;
        let watcher = match self.inner.watcher.get() {
            Some(w) => w.clone(),
            None => {
                let started = Watcher::start(Arc::downgrade(&self.inner), self.inner.debounce)?;
                self.inner.watcher.get_or_init(|| started).clone()
            }
        };
        watcher.watch(name, files)
    }

    /// Stops watching a plugin's files ([`Host::watch`]).
    pub fn unwatch(&self, name: &str) {
        #[cfg(not(feature = "hot-reload"))]
        let _ = name;
        #[cfg(feature = "hot-reload")]
        if let Some(watcher) = self.inner.watcher.get() {
            watcher.forget(name);
        }
    }

    /// The files a watched plugin reloads from: its manifest (if it has
    /// one) and its entry file, with canonical folders.
    #[cfg(feature = "hot-reload")]
    pub(super) async fn plugin_files(&self, name: &str) -> Result<Vec<PathBuf>, Error> {
        let route = self.route(name)?;
        self.reloadable(name, &route)?;
        if route.kind == PluginKind::InProcess {
            return Err(Error::Unsupported(format!(
                "plugin `{name}` runs in process: its code is the app's, there is no file to watch"
            )));
        }
        let (manifest_file, entry) = match route.origin.as_deref() {
            Some(origin) => {
                let found = locate_path(origin).await?;
                let entry = match found.place {
                    Place::File(entry) => entry,
                    // A hybrid's folder.
                    Place::Hybrid | Place::Code(_) => found.manifest.dir.clone().unwrap_or_default(),
                };
                (found.manifest.dir.map(|d| d.join(FILE_NAME)), entry)
            }
            None => match (route.manifest.dir.as_deref(), route.manifest.entry_path()) {
                (Some(dir), Some(entry)) => (Some(dir.join(FILE_NAME)), entry),
                _ => {
                    return Err(Error::Unsupported(format!(
                        "plugin `{name}` was not loaded from a file (bytes, or in process): there is nothing to watch"
                    )));
                }
            },
        };
        let mut files = Vec::new();
        for file in manifest_file.into_iter().chain([entry]) {
            let (Some(dir), Some(file_name)) = (file.parent(), file.file_name()) else { continue };
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            let dir = tokio::fs::canonicalize(dir)
                .await
                .map_err(|e| Error::Environment(format!("cannot watch {}: {e}", dir.display())))?;
            files.push(dir.join(file_name));
        }
        Ok(files)
    }

    /// A watched plugin's files changed: reload it (a failure is audited),
    /// then follow the files its manifest names now.
    #[cfg(feature = "hot-reload")]
    pub(crate) async fn reload_watched(&self, name: &str) {
        if self.route(name).is_err() {
            return;
        }
        if self.reload(name).await.is_ok()
            && let Some(watcher) = self.inner.watcher.get()
            && watcher.watches(name)
            && let Ok(files) = self.plugin_files(name).await
            && let Err(e) = watcher.watch(name, files)
        {
            tracing::warn!(target: "wasp::reload", plugin = name, "{e}");
        }
    }

    /// Restarts a plugin fresh, between two messages: its memory starts
    /// over, its timers stop, its `on_load` runs again, deferred requests
    /// are answered `plugin_crashed`; messages queued behind the restart go
    /// to the new instance. Directories granted with `fs.*` since the plugin
    /// started become visible. A quarantined plugin is restarted with
    /// [`Host::lift_quarantine`] instead.
    pub async fn restart(&self, plugin: &str) -> Result<(), Error> {
        let route = self.route(plugin)?;
        if route.counters.state() == PluginState::Quarantined {
            return Err(Error::Wire(WireError::new(
                ErrorCode::Unavailable,
                format!("plugin `{plugin}` is quarantined; lift the quarantine to restart it"),
            )));
        }
        Self::ask_each(plugin, "restarting", route.actors().into_iter().map(|actor| (actor, PluginMsg::Restart))).await
    }

    /// Reloads a plugin's code without losing a message or its state: the
    /// file is read, compiled and validated again in the background, and the
    /// permissions its (possibly changed) manifest asks for are decided
    /// again, while the old instance goes on handling messages. Then,
    /// between two messages, the plugin's actor asks the old instance for
    /// its state (`on_unload`), starts the new code with it (`on_load`
    /// finds it in `Context::restored`), and swaps: everything queued
    /// meanwhile goes to the new instance, requests the old one deferred are
    /// answered `unavailable`, its timers are stopped and its topic
    /// subscriptions replaced by those the new `on_load` makes. A
    /// quarantine ends (a quarantined instance is not asked for its state).
    ///
    /// A plugin loaded from a path ([`Host::load`]) is read from that path
    /// again (a changed `plugin.toml` included). One loaded from a manifest
    /// value is read from the manifest's entry; one loaded from bytes needs
    /// [`Host::reload_bytes`]; an in-process plugin restarts with its state
    /// handed over. A component of a hybrid plugin cannot be reloaded on its
    /// own: unload and load the hybrid. [`Host::watch`] reloads a plugin
    /// whenever its files change.
    ///
    /// If the new code is refused, the old instance refuses to hand over its
    /// state, or the new `on_load` fails, the old instance keeps running
    /// with its state and subscriptions, the error is returned, and an
    /// [`AuditKind::ReloadFailed`] event records it. A trap in the old
    /// instance's `on_unload` is a fault like any other: the reload fails
    /// and the plugin restarts under supervision, without its state.
    pub async fn reload(&self, name: &str) -> Result<PluginRef, Error> {
        let result = self.reload_from_origin(name).await;
        self.audit_reload_failure(name, &result);
        result
    }

    /// Audits a failed reload of a loaded plugin as
    /// [`AuditKind::ReloadFailed`] (its old code runs on).
    pub(super) fn audit_reload_failure(&self, name: &str, result: &Result<PluginRef, Error>) {
        if let Err(e) = result
            && !matches!(e, Error::NotLoaded(_))
        {
            let message = format!("plugin `{name}` was not reloaded, its old code runs on: {e}");
            self.audit(name, AuditKind::ReloadFailed { code: e.code() }, message);
        }
    }

    pub(super) async fn reload_from_origin(&self, name: &str) -> Result<PluginRef, Error> {
        let route = self.route(name)?;
        self.reloadable(name, &route)?;
        if let Some(origin) = route.origin.as_deref() {
            let mut found = locate_path(origin).await?;
            name.clone_into(&mut found.manifest.name);
            if let Place::Hybrid = found.place {
                return Err(Error::Unsupported(format!(
                    "`{}` is now a hybrid plugin; unload `{name}` and load it again",
                    origin.display()
                )));
            }
            return self.replace(&route, self.read(found).await?).await;
        }
        if route.kind == PluginKind::InProcess {
            // Same code, fresh instance, state handed over.
            if let Some(pool) = &route.pool {
                self.swap_in_pool(pool, &route.manifest, pool.image(), &route.grants).await?;
            } else {
                self.swap_in(&route, name, None, self.plugin_env(&route.manifest, &route.grants, None)).await?;
            }
            self.audit(name, AuditKind::Reloaded, format!("plugin `{name}` was reloaded (in-process)"));
            return Ok(self.plugin_ref(name, &route, None));
        }
        let manifest = (*route.manifest).clone();
        match manifest.entry_path().filter(|_| manifest.dir.is_some()) {
            Some(entry) => {
                let found = Found { manifest, place: Place::File(entry), origin: None, seal: None };
                self.replace(&route, self.read(found).await?).await
            }
            None => Err(Error::Unsupported(format!(
                "plugin `{name}` was loaded from bytes; reload it with `Host::reload_bytes`"
            ))),
        }
    }

    /// [`Host::reload`] from bytes (a WASM module or a native library), under
    /// the manifest the plugin runs with now.
    pub async fn reload_bytes(&self, name: &str, bytes: &[u8]) -> Result<PluginRef, Error> {
        let result = self.reload_from_bytes(name, bytes).await;
        self.audit_reload_failure(name, &result);
        result
    }

    pub(super) async fn reload_from_bytes(&self, name: &str, bytes: &[u8]) -> Result<PluginRef, Error> {
        let route = self.route(name)?;
        self.reloadable(name, &route)?;
        let mut manifest = (*route.manifest).clone();
        manifest.kind = kind_of(bytes);
        let code = Code::Bytes(bytes.to_vec(), entry_file_name(&manifest));
        let found = Found { manifest, place: Place::Code(code), origin: None, seal: None };
        self.replace(&route, self.read(found).await?).await
    }

    pub(super) fn reloadable(&self, name: &str, route: &Route) -> Result<(), Error> {
        if let Some(family) = &route.family {
            let family = family.name();
            return Err(Error::Unsupported(format!(
                "`{name}` is a component of the hybrid plugin `{family}`; unload `{family}` and load it again"
            )));
        }
        Ok(())
    }

    /// Validates and starts new code for a running plugin, then swaps it
    /// in; its permissions are decided for the new code's identity.
    pub(super) async fn replace(&self, route: &Route, read: Read) -> Result<PluginRef, Error> {
        self.check_manifest(&read.manifest)?;
        let Imaged { manifest, image, identity, .. } = self.image_of(read, None).await?;
        let name = manifest.name.clone();
        let decided = self.decide(&manifest, &identity).await?;
        let broker = &self.inner.broker;
        // Between two messages, the actor asks the old instance for its
        // state, starts this code with it, and swaps; the old code runs on
        // if anything fails.
        match &route.pool {
            Some(pool) => self.swap_in_pool(pool, &manifest, image.clone(), &decided.grants).await?,
            None => {
                let env = self.plugin_env(&manifest, &decided.grants, None);
                self.swap_in(route, &name, Some(image.clone()), env).await?;
            }
        }
        broker.update_route(&name, |live| {
            live.kind = image.kind();
            live.version = Arc::from(manifest.version.as_str());
            live.grants = decided.grants.clone();
            live.manifest = Arc::new(manifest);
            live.identity = decided.identity.clone();
            live.hears_cancel = crate::broker::hears_cancel(&image);
        });
        let message = format!("plugin `{name}` was reloaded ({})", image.kind());
        self.audit(&name, AuditKind::Reloaded, message);
        tracing::info!(target: "wasp::host", plugin = %name, kind = image.kind().as_str(), "plugin reloaded");
        let route = self.route(&name)?;
        let mut plugin = self.plugin_ref(&name, &route, image.abi_version());
        plugin.granted = decided.granted;
        plugin.refused = decided.refused;
        Ok(plugin)
    }

    /// Has the plugin's actor replace its instance, between two messages,
    /// with one of `image` (`None`: the running code) that starts from the
    /// old instance's state.
    pub(super) async fn swap_in(
        &self,
        route: &Route,
        name: &str,
        image: Option<PluginImage>,
        env: PluginEnv,
    ) -> Result<(), Error> {
        let next = Replacement { image, engine: self.inner.engine.clone(), env };
        let ask = move |tx| PluginMsg::Replace(Box::new(next), tx);
        Self::ask_each(name, "reloading", [(route.actor.clone(), ask)]).await
    }

    /// A pool's reload: every instance of `image` is started first, with no
    /// state (a pool keeps none worth handing over); if one fails, they all
    /// go and the old code runs on with its subscriptions and timers. Then
    /// each instance's actor swaps its new instance in between two
    /// messages, running the old one's `on_unload` as a flush.
    pub(super) async fn swap_in_pool(
        &self,
        pool: &InstancePool,
        manifest: &Manifest,
        image: PluginImage,
        grants: &Grants,
    ) -> Result<(), Error> {
        let name = manifest.name.as_str();
        let broker = &self.inner.broker;
        let subscriptions = broker.take_plugin_subscriptions(name);
        let timers = broker.timer_ids(name);
        // The new code's `on_load`s set their own timers; the old ones go if they start.
        broker.retire_timers(&timers, true);
        let mut fresh = Vec::with_capacity(pool.size());
        for index in 0..pool.size() {
            let env = self.member_env(manifest, grants, index);
            match image.instantiate(&self.inner.engine, env).await {
                Ok(instance) => fresh.push(instance),
                Err(e) => {
                    for mut instance in fresh {
                        instance.abandon();
                    }
                    broker.cancel_timers_by(name, &timers, false);
                    broker.retire_timers(&timers, false);
                    broker.restore_plugin_subscriptions(name, subscriptions);
                    return Err(e.into());
                }
            }
        }
        broker.cancel_timers_by(name, &timers, true);
        pool.set_image(image);
        let asks = pool.members().iter().cloned().zip(fresh);
        Self::ask_each(
            name,
            "reloading",
            asks.map(|(actor, instance)| (actor, move |tx| PluginMsg::Swap(Box::new(instance), tx))),
        )
        .await
    }

    pub(super) fn plugin_ref(&self, name: &str, route: &Route, abi: Option<ApiVersion>) -> PluginRef {
        PluginRef {
            name: name.to_owned(),
            kind: route.kind,
            identity: route.identity.clone(),
            abi,
            granted: route.grants.list(),
            refused: Vec::new(),
            components: Vec::new(),
        }
    }
}
