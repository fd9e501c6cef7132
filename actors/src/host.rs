//! `Host`: the facade an application holds to load plugins and talk to them.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ractor::Actor;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::mpsc;
use wasp_protocol::{Address, ApiVersion, ErrorCode, HOST, WireError, codec, validate_topic};
use wasp_runtime::{Engine, Limits, PluginFactory, PluginImage, Router, Schedule, WasmPlugin};
use wasp_sdk::Plugin;

use crate::Error;
use crate::actor::{PluginActor, PluginArgs};
use crate::broker::{Broker, Route};
use crate::metrics::{HostMetrics, PluginCounters, PluginInfo, PluginState};
use crate::topics::Event;

/// Configures and builds a [`Host`].
///
/// | knob | default |
/// | --- | --- |
/// | [`schedule`](HostBuilder::schedule) | epoch tick 1 ms, slice 10 ms |
/// | [`limits`](HostBuilder::limits) | [`Limits::default`] |
/// | [`cpu_budget`](HostBuilder::cpu_budget) | 1 s per message |
/// | [`request_timeout`](HostBuilder::request_timeout) | 30 s |
/// | [`event_capacity`](HostBuilder::event_capacity) | 1,024 events per host subscription |
#[derive(Debug, Clone, Default)]
pub struct HostBuilder {
    schedule: Schedule,
    limits: Limits,
    event_capacity: Option<usize>,
}

impl HostBuilder {
    /// Epoch tick and time slice for WASM plugins.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Every limit at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// CPU time one message may take in a WASM plugin before it is stopped
    /// and its caller answered `deadline_exceeded`.
    pub fn cpu_budget(mut self, budget: Duration) -> Self {
        self.limits.cpu_budget = budget;
        self
    }

    /// How long a request waits when its caller sets no timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = timeout;
        self
    }

    /// Messages a plugin's mailbox holds before senders get `busy`.
    pub fn mailbox_depth(mut self, depth: usize) -> Self {
        self.limits.mailbox_depth = depth;
        self
    }

    /// Events buffered per host subscription before further ones are
    /// dropped (and counted as dead letters).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = Some(capacity);
        self
    }

    /// Builds the host: one wasmtime engine and its epoch ticker.
    ///
    /// Plugins run as tasks of the ambient tokio runtime, which must be the
    /// multi-thread flavor: an in-process plugin waiting on a request parks
    /// its worker with `block_in_place`.
    pub fn build(self) -> Result<Host, Error> {
        if let Ok(handle) = tokio::runtime::Handle::try_current()
            && handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
        {
            return Err(Error::Environment(
                "wasp needs tokio's multi-thread runtime; with #[tokio::main] or #[tokio::test] add flavor = \"multi_thread\"".into(),
            ));
        }
        let engine = Engine::new(self.schedule)?;
        let broker = Broker::new(self.limits.request_timeout);
        Ok(Host {
            inner: Arc::new(Inner {
                engine,
                broker,
                limits: self.limits,
                event_capacity: self.event_capacity.unwrap_or(1024),
                host: Arc::from(HOST),
            }),
        })
    }
}

/// The wasp host: loads plugins as actors and routes messages to them.
///
/// Cheap to clone, `Send + Sync`: keep one in Tauri's managed state and use
/// it from any command or task. Every request gets exactly one answer — the
/// reply, or a [`WireError`] with a stable code.
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

struct Inner {
    engine: Engine,
    broker: Arc<Broker>,
    limits: Limits,
    event_capacity: usize,
    host: Arc<str>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("plugins", &self.inner.broker.routes.len()).finish_non_exhaustive()
    }
}

/// A loaded plugin's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    name: String,
    kind: &'static str,
    abi: Option<ApiVersion>,
}

impl PluginRef {
    /// The address to send to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `wasm` or `in-process`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// For WASM plugins, the ABI version the module was built for.
    pub fn abi_version(&self) -> Option<ApiVersion> {
        self.abi
    }
}

/// Events on a topic pattern, for the host. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    rx: mpsc::Receiver<Event>,
    broker: Weak<Broker>,
}

impl Subscription {
    /// The next event; `None` once the host is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            broker.remove_host_subscriptions(&[self.id]);
        }
    }
}

fn name_from_path(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default()
}

impl Host {
    /// Starts configuring a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Loads a WASM plugin file, named after the file's stem
    /// (`plugins/echo.wasm` → `echo`).
    pub async fn load(&self, path: impl AsRef<Path>) -> Result<PluginRef, Error> {
        let path = path.as_ref();
        self.load_as(&name_from_path(path), path).await
    }

    /// Loads a WASM plugin file under the given name.
    pub async fn load_as(&self, name: &str, path: impl AsRef<Path>) -> Result<PluginRef, Error> {
        let path = path.as_ref();
        self.check_name(name)?;
        let bytes =
            tokio::fs::read(path).await.map_err(|source| wasp_runtime::Error::Io { path: path.to_owned(), source })?;
        self.load_bytes(name, &bytes).await
    }

    /// Loads a WASM plugin from bytes. Validation happens before any guest
    /// code runs: a file that is not WASM, breaks the ABI, or asks for a
    /// major ABI version this host does not speak is refused with an error
    /// naming the problem.
    pub async fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<PluginRef, Error> {
        self.check_name(name)?;
        let engine = self.inner.engine.clone();
        let limits = self.inner.limits.clone();
        let (owned_name, owned) = (name.to_owned(), bytes.to_vec());
        // Compiling takes milliseconds of CPU: keep it off the async workers.
        let plugin = tokio::task::spawn_blocking(move || WasmPlugin::compile(&engine, &owned_name, &owned, &limits))
            .await
            .map_err(|e| Error::Actor(format!("compile task failed: {e}")))??;
        let abi = Some(plugin.abi_version());
        self.spawn(name, PluginImage::Wasm(plugin), abi).await
    }

    /// Registers a plugin type in process (no WASM), created with `Default`.
    pub async fn register<P: Plugin + Default>(&self, name: &str) -> Result<PluginRef, Error> {
        self.register_with(name, P::default).await
    }

    /// Registers a plugin in process, created (and re-created after a panic)
    /// by `factory`.
    pub async fn register_with<P: Plugin>(
        &self,
        name: &str,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<PluginRef, Error> {
        self.check_name(name)?;
        let factory: PluginFactory = Arc::new(move || Box::new(factory()) as Box<dyn Plugin>);
        self.spawn(name, PluginImage::InProcess(factory), None).await
    }

    fn check_name(&self, name: &str) -> Result<(), Error> {
        Address::plugin(name).map_err(|e| Error::InvalidName { name: name.to_owned(), reason: e.to_string() })?;
        if self.inner.broker.routes.contains_key(name) {
            return Err(Error::AlreadyLoaded(name.to_owned()));
        }
        Ok(())
    }

    async fn spawn(&self, name: &str, image: PluginImage, abi: Option<ApiVersion>) -> Result<PluginRef, Error> {
        let broker = &self.inner.broker;
        let router: Arc<dyn Router> = broker.clone();
        let name: Arc<str> = Arc::from(name);
        let instance = image.instantiate(&self.inner.engine, name.clone(), router, self.inner.limits.clone()).await?;
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = Arc::new(PluginCounters::default());
        let args = PluginArgs { name: name.clone(), instance, queued: queued.clone(), counters: counters.clone() };
        let (actor, _join) = Actor::spawn(None, PluginActor, args)
            .await
            .map_err(|e| Error::Actor(format!("cannot start plugin `{name}`: {e}")))?;
        let route = Route {
            actor: actor.clone(),
            queued,
            mailbox_depth: self.inner.limits.mailbox_depth,
            counters,
            kind: image.kind(),
        };
        match broker.routes.entry(name.clone()) {
            dashmap::Entry::Occupied(_) => {
                actor.stop(None);
                return Err(Error::AlreadyLoaded(name.to_string()));
            }
            dashmap::Entry::Vacant(slot) => {
                slot.insert(route);
            }
        }
        tracing::info!(target: "wasp::host", plugin = %name, kind = image.kind(), "plugin loaded");
        Ok(PluginRef { name: name.to_string(), kind: image.kind(), abi })
    }

    /// Unloads a plugin. New messages to it are refused at once; those
    /// already queued are still handled, then the actor stops.
    pub async fn unload(&self, name: &str) -> Result<(), Error> {
        let route = self
            .inner
            .broker
            .routes
            .get(name)
            .map(|r| r.value().clone())
            .ok_or_else(|| Error::NotLoaded(name.to_owned()))?;
        self.inner.broker.remove_plugin(name);
        route
            .actor
            .drain_and_wait(Some(Duration::from_secs(60)))
            .await
            .map_err(|e| Error::Actor(format!("stopping plugin `{name}`: {e}")))?;
        tracing::info!(target: "wasp::host", plugin = %name, "plugin unloaded");
        Ok(())
    }

    /// Unloads every plugin.
    pub async fn shutdown(&self) {
        let names: Vec<String> = self.inner.broker.routes.iter().map(|r| r.key().to_string()).collect();
        for name in names {
            let _ = self.unload(&name).await;
        }
    }

    fn check_outbound(&self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        validate_topic(topic).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad topic: {e}")))?;
        let max = self.inner.limits.max_message_size;
        if payload.len() > max {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!("payload of {} bytes exceeds the limit of {max} bytes", payload.len()),
            ));
        }
        Ok(())
    }

    /// Sends a request with a MessagePack payload and waits for the answer,
    /// at most the configured request timeout.
    pub async fn request(&self, to: &str, topic: &str, payload: Vec<u8>) -> Result<Vec<u8>, WireError> {
        self.request_with_timeout(to, topic, payload, self.inner.limits.request_timeout).await
    }

    /// [`Host::request`] with an explicit timeout. If the timeout passes (or
    /// the future is dropped), the late answer is discarded and counted in
    /// [`HostMetrics::late_replies`].
    pub async fn request_with_timeout(
        &self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, WireError> {
        self.check_outbound(topic, &payload)?;
        let broker = &self.inner.broker;
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let rx = broker.start_request(self.inner.host.clone(), to, topic, payload, timeout);
        Broker::await_answer(rx, to, timeout).await
    }

    /// A typed request: encodes `value`, decodes the reply as `R`.
    pub async fn call<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        to: &str,
        topic: &str,
        value: &T,
    ) -> Result<R, WireError> {
        let reply = self.request(to, topic, codec::encode(value, self.inner.limits.max_message_size)?).await?;
        Ok(codec::decode(&reply, self.inner.limits.max_message_size)?)
    }

    /// Sends a one-way message with a MessagePack payload.
    pub fn send(&self, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(topic, &payload)?;
        self.inner.broker.send_from(self.inner.host.clone(), to, topic, payload)
    }

    /// Publishes to every subscriber of `topic`, plugins and host alike.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(topic, &payload)?;
        self.inner.broker.publish_from(HOST, topic, payload);
        Ok(())
    }

    /// Receives plugin publishes matching `pattern` (a topic, or a prefix
    /// ending in `*`) and plugin sends to `host` on matching topics.
    pub fn subscribe(&self, pattern: &str) -> Result<Subscription, WireError> {
        validate_topic(pattern).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad pattern: {e}")))?;
        let (id, rx) = self.inner.broker.subscribe_host(pattern, self.inner.event_capacity);
        Ok(Subscription { id, rx, broker: Arc::downgrade(&self.inner.broker) })
    }

    /// A snapshot of every loaded plugin, sorted by name.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        let mut list: Vec<PluginInfo> = self
            .inner
            .broker
            .routes
            .iter()
            .map(|r| {
                let c = &r.counters;
                let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
                PluginInfo {
                    name: r.key().to_string(),
                    kind: r.kind,
                    state: if c.failed.load(Ordering::Relaxed) { PluginState::Failed } else { PluginState::Running },
                    queued: r.queued.load(Ordering::Relaxed) as u64,
                    handled: load(&c.handled),
                    faults: load(&c.faults),
                    restarts: load(&c.restarts),
                    refused: load(&c.refused),
                    expired: load(&c.expired),
                    busy_micros: load(&c.busy_nanos) / 1000,
                    memory_bytes: load(&c.memory),
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Broker-wide counters.
    pub fn metrics(&self) -> HostMetrics {
        self.inner.broker.counters.snapshot()
    }
}
