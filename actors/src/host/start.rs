//! Starting and stopping: the checks a plugin passes before it is admitted
//! (name, namespace, ABI, libraries), its environment and instances, its
//! route in the broker; unloading and shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::sync::oneshot;
use wasp_protocol::{Address, ApiVersion};
use wasp_runtime::manifest::{Manifest, ManifestKind};
use wasp_runtime::{AuditKind, Family, Grants, Instance, Limits, PluginEnv, PluginImage, Problem};

use crate::Error;
use crate::actor::{Member, PluginActor, PluginArgs, PluginMsg};
use crate::broker::Port;
use crate::broker::Route;
use crate::mailbox::Mailbox;
use crate::metrics::PluginCounters;
use crate::namespace;
use crate::pool::InstancePool;

use super::Host;
use super::handles::PluginRef;
use super::permissions::Decided;

/// The port an actor answers a [`Host::ask_each`] on.
pub(super) type Reply = oneshot::Sender<Result<(), wasp_runtime::Error>>;

impl Host {
    pub(super) fn check_name(&self, name: &str) -> Result<(), Error> {
        self.check_name_in(name, None)
    }

    /// Refuses a name that breaks the rule of [`Address`], is taken, or
    /// clashes with a hybrid plugin's namespace ([`namespace::clash`]): a
    /// first look, before anything is compiled; the look that counts is
    /// made again as the plugin is registered ([`Host::admit`]).
    pub(super) fn check_name_in(&self, name: &str, family: Option<&Family>) -> Result<(), Error> {
        Address::plugin(name).map_err(|e| Error::InvalidName { name: name.to_owned(), reason: e.to_string() })?;
        if self.inner.broker.is_routed(name) {
            return Err(Error::AlreadyLoaded(name.to_owned()));
        }
        self.check_namespace(name, family)
    }

    /// [`namespace::clash`] against every loaded plugin.
    pub(super) fn check_namespace(&self, name: &str, family: Option<&Family>) -> Result<(), Error> {
        let loaded = self.inner.broker.families();
        match namespace::clash(loaded.iter().map(|(n, f)| (&**n, f.as_ref())), name, family) {
            Some(reason) => Err(Error::InvalidName { name: name.to_owned(), reason }),
            None => Ok(()),
        }
    }

    /// Registers a started plugin's route under its name, unless the name
    /// was taken, or came to clash with a hybrid plugin's namespace, while
    /// it started: one load at a time passes here, so two loads cannot both
    /// pass the check and then both register.
    pub(super) fn admit(&self, name: &Arc<str>, route: Route) -> Result<(), Error> {
        let _one_at_a_time = self.inner.admission.lock();
        self.check_namespace(name, route.family.as_ref())?;
        self.inner.broker.add_route(name.clone(), route).map_err(|_| Error::AlreadyLoaded(name.to_string()))
    }

    /// The limits a plugin runs under: its manifest's requests within the
    /// host's.
    pub(super) fn limits_for(&self, manifest: &Manifest) -> Limits {
        manifest.limits.apply(&self.inner.limits)
    }

    /// The admission checks on a manifest ([`Host::check_api`],
    /// [`Host::check_uses`]).
    pub(super) fn check_manifest(&self, manifest: &Manifest) -> Result<(), Error> {
        Self::check_api(manifest)?;
        self.check_uses(manifest)
    }

    /// Refuses a manifest written for an ABI major version this host does
    /// not speak, or needing a Cargo feature this build lacks.
    fn check_api(manifest: &Manifest) -> Result<(), Error> {
        wasp_runtime::features::check_manifest(manifest)?;
        if ApiVersion::CURRENT.accepts(manifest.api).is_err() {
            return Err(wasp_runtime::Error::Invalid {
                plugin: manifest.name.clone(),
                problems: vec![Problem::UnsupportedAbi { plugin: manifest.api, host: ApiVersion::CURRENT }],
            }
            .into());
        }
        Ok(())
    }

    /// Refuses a manifest that `uses` a library this host lacks, or has
    /// only in versions the manifest does not accept (audited as a refused
    /// load).
    fn check_uses(&self, manifest: &Manifest) -> Result<(), Error> {
        let name = &manifest.name;
        // A `wasp-node` has no engine to run WASM libraries in.
        if !manifest.uses.is_empty() && manifest.kind == ManifestKind::Native && self.inner.nodes.isolates(name) {
            let e = Error::Unsupported(format!(
                "plugin `{name}` uses shared libraries, which plugins running out of process cannot reach yet; \
                 run it in process or drop `uses`"
            ));
            self.audit(name, AuditKind::LoadRefused { code: e.code() }, format!("plugin `{name}` refused: {e}"));
            return Err(e);
        }
        if let Err(e) = self.inner.libraries.resolve(&manifest.name, &manifest.uses) {
            let name = &manifest.name;
            self.audit(name, AuditKind::LoadRefused { code: e.code() }, format!("plugin `{name}` refused: {e}"));
            return Err(e.into());
        }
        Ok(())
    }

    /// What an instance of the plugin `manifest` describes runs in.
    pub(super) fn plugin_env(&self, manifest: &Manifest, grants: &Grants, family: Option<Family>) -> PluginEnv {
        let name: Arc<str> = Arc::from(manifest.name.as_str());
        let mut config = manifest.config.clone();
        if let Some(overrides) = self.inner.config.get(family.as_ref().map_or(&*name, Family::name)) {
            config.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let router = Port::open(self.inner.broker.clone(), 0);
        let limits = self.limits_for(manifest);
        PluginEnv {
            log_rate: self.inner.broker.log_rate(&name, limits.log_rate),
            name,
            router,
            limits,
            grants: grants.clone(),
            services: self.inner.services.clone(),
            config: Arc::new(config),
            family,
            // `check_uses` refused the manifest at load if this fails.
            libraries: self.inner.libraries.resolve(&manifest.name, &manifest.uses).unwrap_or_default(),
        }
    }

    /// Creates a running instance of `image`: its `on_load` runs.
    pub(super) async fn instantiate(
        &self,
        manifest: &Manifest,
        image: &PluginImage,
        grants: &Grants,
        family: Option<Family>,
    ) -> Result<Instance, Error> {
        let env = self.plugin_env(manifest, grants, family);
        let name = env.name.clone();
        let broker = &self.inner.broker;
        image.instantiate(&self.inner.engine, env).await.map_err(|e| {
            // Timers its `on_load` may have set have nowhere to go.
            broker.cancel_timers(&name);
            self.audit(&name, AuditKind::Fault { code: e.code() }, format!("plugin `{name}` failed to start: {e}"));
            e.into()
        })
    }

    /// Starts the actor for `image` (one per instance for a pool), with
    /// permissions already decided.
    pub(super) async fn start(
        &self,
        manifest: Manifest,
        image: PluginImage,
        decided: &Decided,
        family: Option<Family>,
        origin: Option<PathBuf>,
    ) -> Result<PluginRef, Error> {
        let name: Arc<str> = Arc::from(manifest.name.as_str());
        let (granted, refused, grants) = (decided.granted.clone(), decided.refused.clone(), decided.grants.clone());
        let broker = &self.inner.broker;
        let limits = self.limits_for(&manifest);
        // A component of a hybrid plugin runs one instance.
        let size = if family.is_some() { 1 } else { manifest.pool_size(&self.inner.limits) };
        let counters = Arc::new(PluginCounters::default());
        let pool = (size > 1).then(|| Arc::new(InstancePool::new(size, image.clone())));
        let mut actors: Vec<ActorRef<PluginMsg>> = Vec::with_capacity(size);
        for index in 0..size {
            let started = async {
                let instance = match &pool {
                    Some(_) => self.instantiate_member(&manifest, &image, &grants, index).await?,
                    None => self.instantiate(&manifest, &image, &grants, family.clone()).await?,
                };
                counters.record_memory(instance.memory_size() as u64);
                let args = PluginArgs {
                    name: name.clone(),
                    instance,
                    counters: counters.clone(),
                    broker: Arc::downgrade(broker),
                    member: pool.as_ref().map(|pool| Member { pool: pool.clone(), index }),
                };
                let (actor, _join) = Actor::spawn(None, PluginActor, args)
                    .await
                    .map_err(|e| Error::Actor(format!("cannot start plugin `{name}`: {e}")))?;
                Ok::<_, Error>(actor)
            };
            match started.await {
                Ok(actor) => actors.push(actor),
                Err(e) => {
                    // The instances started so far go, with their timers.
                    for actor in &actors {
                        actor.stop(None);
                    }
                    broker.cancel_timers(&name);
                    return Err(e);
                }
            }
        }
        if let Some(pool) = &pool {
            pool.set_members(actors.clone());
        }
        // Known once started, for a library that runs in another process.
        let abi = image.abi_version();
        let route = Route {
            actor: actors[0].clone(),
            mailbox: Mailbox::new(limits.mailbox_depth, limits.mailbox_bytes),
            max_message_size: limits.max_message_size,
            counters,
            kind: image.kind(),
            version: Arc::from(manifest.version.as_str()),
            grants,
            family,
            manifest: Arc::new(manifest),
            origin: origin.map(Arc::from),
            pool,
            identity: decided.identity.clone(),
            hears_cancel: crate::broker::hears_cancel(&image),
        };
        if let Err(e) = self.admit(&name, route) {
            for actor in &actors {
                actor.stop(None);
            }
            // Timers its `on_load` set have nowhere to go; under a name
            // already loaded they are the loaded plugin's.
            if !matches!(e, Error::AlreadyLoaded(_)) {
                broker.cancel_timers(&name);
            }
            return Err(e);
        }
        tracing::info!(target: "wasp::host", plugin = %name, kind = image.kind().as_str(), instances = size, "plugin loaded");
        Ok(PluginRef {
            name: name.to_string(),
            kind: image.kind(),
            abi,
            granted,
            refused,
            components: Vec::new(),
            identity: decided.identity.clone(),
        })
    }

    /// What instance `index` of a pool runs in: the plugin's environment,
    /// with a router that brings its own completions back to it.
    pub(super) fn member_env(&self, manifest: &Manifest, grants: &Grants, index: usize) -> PluginEnv {
        let mut env = self.plugin_env(manifest, grants, None);
        env.router = Port::open(self.inner.broker.clone(), index);
        env
    }

    /// [`Host::instantiate`] for instance `index` of a pool.
    pub(super) async fn instantiate_member(
        &self,
        manifest: &Manifest,
        image: &PluginImage,
        grants: &Grants,
        index: usize,
    ) -> Result<Instance, Error> {
        let env = self.member_env(manifest, grants, index);
        let name = env.name.clone();
        image.instantiate(&self.inner.engine, env).await.map_err(|e| {
            self.audit(&name, AuditKind::Fault { code: e.code() }, format!("plugin `{name}` failed to start: {e}"));
            e.into()
        })
    }

    /// Sends each actor the message `ask` makes of a reply port, then waits
    /// for every answer: all are asked before any is awaited, so that the
    /// instances of a pool do the work together. `doing` says what in the
    /// error of an actor that stops first ("plugin `x` stopped while
    /// `doing`").
    pub(super) async fn ask_each<F>(
        plugin: &str,
        doing: &str,
        asks: impl IntoIterator<Item = (ActorRef<PluginMsg>, F)>,
    ) -> Result<(), Error>
    where
        F: FnOnce(Reply) -> PluginMsg,
    {
        let mut waits = Vec::new();
        for (actor, ask) in asks {
            let (tx, rx) = oneshot::channel();
            actor.cast(ask(tx)).map_err(|e| Error::Actor(format!("plugin `{plugin}`: {e}")))?;
            waits.push(rx);
        }
        for rx in waits {
            rx.await.map_err(|_| Error::Actor(format!("plugin `{plugin}` stopped while {doing}")))??;
        }
        Ok(())
    }

    /// Unloads a plugin. New messages to it are refused at once; those
    /// already queued are still handled, then the actor stops.
    pub async fn unload(&self, name: &str) -> Result<(), Error> {
        self.unload_one(name).await?;
        // A hybrid plugin's other components go with it.
        for part in self.inner.broker.parts_of(name) {
            self.unload_one(&part).await?;
        }
        Ok(())
    }

    pub(super) async fn unload_one(&self, name: &str) -> Result<(), Error> {
        let route = self.inner.broker.route(name).ok_or_else(|| Error::NotLoaded(name.to_owned()))?;
        self.inner.broker.remove_plugin(name);
        self.unwatch(name);
        // A pool's instances each finish what they hold; those still busy
        // take what waits for the pool.
        for actor in route.actors() {
            actor
                .drain_and_wait(Some(Duration::from_secs(60)))
                .await
                .map_err(|e| Error::Actor(format!("stopping plugin `{name}`: {e}")))?;
        }
        tracing::info!(target: "wasp::host", plugin = %name, "plugin unloaded");
        Ok(())
    }

    /// Unloads every plugin.
    pub async fn shutdown(&self) {
        for name in self.inner.broker.route_names() {
            let _ = self.unload(&name).await;
        }
    }
}
