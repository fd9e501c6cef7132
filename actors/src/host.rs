//! `Host`: the facade an application holds to load plugins and talk to them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::{broadcast, mpsc, oneshot};
use wasp_protocol::{Address, ApiVersion, ErrorCode, HOST, Permission, WireError, codec, validate_topic};
use wasp_runtime::manifest::{FILE_NAME, Manifest, ManifestKind};
use wasp_runtime::services::http::HttpClient;
use wasp_runtime::services::storage::Storage;
use wasp_runtime::signature::{Seal, read_bundle_manifest};
use wasp_runtime::{
    AuditEvent, AuditKind, Engine, EngineOptions, Family, GrantSet, Grants, Identity, Instance, Libraries, Library,
    Limits, ModuleCache, NativePlugin, PluginEnv, PluginFactory, PluginImage, PluginKind, Pool, Problem, Router,
    Schedule, Services,
};
use wasp_sdk::Plugin;

use crate::actor::{Member, PluginActor, PluginArgs, PluginMsg, Replacement};
use crate::broker::{Broker, Route};
use crate::decisions::Decisions;
use crate::exceptions::{self, RefusedBy};
use crate::identity::{Origin, publisher};
use crate::mailbox::Mailbox;
use crate::metrics::{HostMetrics, PluginCounters, PluginInfo, PluginState};
use crate::namespace;
use crate::policy::{AskRequest, Decision, IdentityChange, Policy};
use crate::pool::{InstancePool, MemberRouter};
use crate::topics::{Event, EventBudget, HostFilter};
use crate::watch::Watcher;
use crate::{Error, Supervision};

/// Configures and builds a [`Host`].
///
/// | knob | default |
/// | --- | --- |
/// | [`schedule`](HostBuilder::schedule) | epoch tick 1 ms, slice 10 ms |
/// | [`limits`](HostBuilder::limits) | [`Limits::default`] |
/// | [`cpu_budget`](HostBuilder::cpu_budget) | 1 s per message |
/// | [`request_timeout`](HostBuilder::request_timeout) | 30 s |
/// | [`event_capacity`](HostBuilder::event_capacity) | 1,024 events per host subscription |
/// | [`event_bytes`](HostBuilder::event_bytes) | 16 MiB of payloads per host subscription |
/// | [`policy`](HostBuilder::policy) | deny every permission |
/// | [`supervision`](HostBuilder::supervision) | [`Supervision::default`] |
/// | [`data_dir`](HostBuilder::data_dir) | none: no plugin storage, no `$DATA` directories, decisions kept in memory |
/// | [`http`](HostBuilder::http) | on (still needs `net:<host>` grants) |
/// | [`module_cache`](HostBuilder::module_cache) | on, in [`ModuleCache::default_dir`] (e.g. `~/.cache/wasp/modules`) |
/// | [`instance_pool`](HostBuilder::instance_pool) | 1,000 WASM instances, then on demand |
/// | [`library`](HostBuilder::library), [`libraries`](HostBuilder::libraries) | none: a plugin that `uses` a library is refused |
/// | [`max_instances`](HostBuilder::max_instances) | 64 instances per pooled plugin (`docs/pools.md`) |
/// | [`out_of_process`](HostBuilder::out_of_process) | none: native plugins run in the host's process |
/// | [`node_binary`](HostBuilder::node_binary) | `$WASP_NODE`, else `wasp-node` beside the running executable |
/// | [`remote_node`](HostBuilder::remote_node) | none: out-of-process plugins run in the host's own children |
/// | [`node_cookie`](HostBuilder::node_cookie) | a fresh random 256-bit cookie per host |
#[derive(Debug, Clone, Default)]
pub struct HostBuilder {
    schedule: Schedule,
    limits: Limits,
    event_capacity: Option<usize>,
    event_bytes: Option<usize>,
    policy: Policy,
    supervision: Supervision,
    data_dir: Option<PathBuf>,
    no_http: bool,
    config: HashMap<String, BTreeMap<String, Vec<u8>>>,
    debug: bool,
    hot_reload: bool,
    debounce: Option<Duration>,
    /// `None`: the platform's folder; `Some(None)`: no cache.
    module_cache: Option<Option<PathBuf>>,
    /// `None`: [`DEFAULT_POOL`].
    pool: Option<u32>,
    /// Shared library files, and folders of them, to compile at build.
    libraries: Vec<(PathBuf, bool)>,
    /// Native plugins that run in a `wasp-node` child process.
    nodes: crate::node::NodeConfig,
}

/// The default of [`HostBuilder::event_bytes`].
const DEFAULT_EVENT_BYTES: usize = 16 << 20;

/// The default size of the instance pool ([`HostBuilder::instance_pool`]).
const DEFAULT_POOL: u32 = 1000;

impl HostBuilder {
    /// Hot reload: every plugin loaded from a file or folder
    /// ([`Host::load`], [`Host::load_as`], [`Host::load_manifest`]) is
    /// [watched](Host::watch), and reloaded when its module, library or
    /// `plugin.toml` changes. Off by default; [`Host::watch`] watches one
    /// plugin either way.
    pub fn hot_reload(mut self, enabled: bool) -> Self {
        self.hot_reload = enabled;
        self
    }

    /// How long a watched plugin's files must be quiet before it reloads
    /// (default 150 ms), so that a build writing a file in several steps
    /// reloads it once.
    pub fn hot_reload_debounce(mut self, quiet: Duration) -> Self {
        self.debounce = Some(quiet);
        self
    }

    /// Debug mode for WASM plugins: they are compiled without optimization,
    /// with their DWARF debug info translated and registered with the GDB
    /// JIT interface, so that gdb or lldb attached to the app can break in
    /// and step through plugin functions (docs/debugging.md). Off by
    /// default; slower to compile and to run.
    pub fn debug(mut self, enabled: bool) -> Self {
        self.debug = enabled;
        self
    }

    /// Keeps compiled WASM plugins in `dir` ([`ModuleCache`]): a plugin
    /// loaded again, by this process or a later one, skips compiling (tens
    /// to hundreds of milliseconds) and loads its machine code instead
    /// (under a millisecond). Entries are checked before use; a bad one is
    /// deleted and the plugin compiled again; a folder that cannot be
    /// written only costs the speed-up. On by default, in
    /// [`ModuleCache::default_dir`] (the platform's cache folder); tests
    /// that count hits give each host its own folder.
    pub fn module_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.module_cache = Some(Some(dir.into()));
        self
    }

    /// How many WASM plugin instances wasmtime's pooling allocator holds
    /// (default 1,000); `0` turns the pool off. Each slot is sized from
    /// [`limits`](HostBuilder::limits) (`max_memory`, `max_table_elements`)
    /// as they are when the host is built, and keeps its guard region, so
    /// about 4 GiB of address space (not memory) is reserved per slot when
    /// the host is built. Instances beyond the pool, and every instance of
    /// a host that cannot reserve the pool, are allocated on demand: the
    /// pool makes starting and restarting plugins cheaper, never refuses
    /// one.
    pub fn instance_pool(mut self, total_instances: u32) -> Self {
        self.pool = Some(total_instances);
        self
    }

    /// Offers the shared library module in the file `path` to plugins that
    /// name it in their manifest's `uses` (`docs/libraries.md`). It is
    /// validated and compiled (or taken from the [module cache](Self::module_cache))
    /// once, by [`build`](Self::build), which fails if it is not a valid
    /// library; every plugin that uses it gets its own instance of that code.
    pub fn library(mut self, path: impl Into<PathBuf>) -> Self {
        self.libraries.push((path.into(), false));
        self
    }

    /// Offers every `*.wasm` file in the folder `dir` as a shared library
    /// module, as [`library`](Self::library) does for one.
    pub fn libraries(mut self, dir: impl Into<PathBuf>) -> Self {
        self.libraries.push((dir.into(), true));
        self
    }

    /// No module cache: every load compiles.
    pub fn no_module_cache(mut self) -> Self {
        self.module_cache = Some(None);
        self
    }

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

    /// Payload bytes a plugin's mailbox holds before senders get `busy`
    /// ([`Limits::mailbox_bytes`], default 64 MiB).
    pub fn mailbox_bytes(mut self, bytes: usize) -> Self {
        self.limits.mailbox_bytes = bytes;
        self
    }

    /// The most instances one plugin may run behind its address
    /// ([`Limits::max_instances`], default 64): a manifest's `instances`
    /// or `stateless = true` gets at most this many (`docs/pools.md`). `1`
    /// turns instance pools off.
    pub fn max_instances(mut self, n: usize) -> Self {
        self.limits.max_instances = n;
        self
    }

    /// Events buffered per host subscription before further ones are
    /// dropped (and counted as dead letters).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = Some(capacity);
        self
    }

    /// Payload bytes buffered per host subscription (UI ones included)
    /// before further events are dropped and counted as dead letters;
    /// default 16 MiB. An empty subscription takes one event of any size.
    pub fn event_bytes(mut self, bytes: usize) -> Self {
        self.event_bytes = Some(bytes);
        self
    }

    /// Decides which requested permissions plugins get ([`Policy`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Restart backoff and quarantine thresholds.
    pub fn supervision(mut self, supervision: Supervision) -> Self {
        self.supervision = supervision;
        self
    }

    /// Where the host keeps its database (`wasp.redb`: plugin key-value
    /// stores and remembered permission decisions) and plugins' own
    /// directories (`plugins/<name>/`, the `$DATA` of `fs.*` permissions).
    /// A Tauri app passes its app-data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Whether plugins may make outbound HTTP requests at all (each host
    /// still needs a `net:<host>` grant). On by default.
    pub fn http(mut self, enabled: bool) -> Self {
        self.no_http = !enabled;
        self
    }

    /// A configuration value for `plugin`, read with `config.get`; it
    /// overrides the manifest's `[config]` value of the same key.
    ///
    /// # Errors
    ///
    /// [`Error::Environment`] for a value that does not encode, or whose
    /// arrays and maps nest deeper than
    /// [`codec::MAX_DEPTH`](wasp_protocol::codec::MAX_DEPTH) (no plugin
    /// could decode it).
    pub fn config<T: Serialize + ?Sized>(mut self, plugin: &str, key: &str, value: &T) -> Result<Self, Error> {
        let bytes = codec::to_payload(value)
            .and_then(|bytes| codec::check(&bytes).map(|()| bytes))
            .map_err(|e| Error::Environment(format!("config `{key}`: {e}")))?;
        self.config.entry(plugin.to_owned()).or_default().insert(key.to_owned(), bytes);
        Ok(self)
    }

    /// Runs the native plugin `name` out of process: in a child `wasp-node`
    /// process of its own, reached through `ractor_cluster` on loopback.
    /// A crash or an abort in the plugin then ends only that process: the
    /// requests it held are answered `plugin_crashed`, and it is restarted
    /// under the [`supervision`](HostBuilder::supervision) rules. Its
    /// messages, host calls and permissions are the same as in process.
    /// Call once per plugin; see `docs/distributed.md`.
    pub fn out_of_process(mut self, name: impl Into<String>) -> Self {
        self.nodes.names.insert(name.into());
        self
    }

    /// Runs every native plugin out of process ([`HostBuilder::out_of_process`]).
    pub fn all_native_out_of_process(mut self, enabled: bool) -> Self {
        self.nodes.all = enabled;
        self
    }

    /// The `wasp-node` executable that runs out-of-process plugins. Default:
    /// the `WASP_NODE` environment variable, else `wasp-node` (`wasp-node.exe`
    /// on Windows) in the folder of the running executable, where a Tauri
    /// bundle or `cargo build` puts it.
    pub fn node_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.nodes.binary = Some(path.into());
        self
    }

    /// Runs the native plugin `name` in a `wasp-node` that someone else
    /// started — on another machine, say — listening at `addr`
    /// (`wasp-node --token <name> --listen <addr>`, with the same
    /// [`node_cookie`](HostBuilder::node_cookie) in its `WASP_NODE_COOKIE`).
    /// The host connects to it instead of starting a child; if the
    /// connection is lost, what the plugin held is answered
    /// `plugin_crashed` and the restarts reconnect. Read the limits of this
    /// path (no TLS, the cookie is the only authentication) in
    /// `docs/distributed.md` before using it.
    pub fn remote_node(mut self, name: impl Into<String>, addr: std::net::SocketAddr) -> Self {
        self.nodes.remote.insert(name.into(), addr);
        self
    }

    /// The secret every node of this host must present
    /// ([`remote_node`](HostBuilder::remote_node)). Default: a fresh random
    /// 256-bit cookie, handed to the host's own child nodes.
    pub fn node_cookie(mut self, cookie: impl Into<String>) -> Self {
        self.nodes.cookie = Some(cookie.into());
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
        let module_cache = match self.module_cache {
            Some(choice) => choice,
            None => {
                let dir = ModuleCache::default_dir();
                if dir.is_none() {
                    tracing::info!(target: "wasp::cache", "no cache folder in the environment (HOME, XDG_CACHE_HOME, LOCALAPPDATA): plugins are compiled at every load");
                }
                dir
            }
        };
        let pool = Some(Pool::new(self.pool.unwrap_or(DEFAULT_POOL), &self.limits));
        let engine = Engine::with_options(self.schedule, EngineOptions { debug: self.debug, module_cache, pool })?;
        let libraries = compile_libraries(&engine, &self.libraries, &self.limits)?;
        let storage = match &self.data_dir {
            Some(dir) => Some(Storage::open(&dir.join("wasp.redb")).map_err(|e| Error::Storage(e.to_string()))?),
            None => None,
        };
        let http = if self.no_http { None } else { Some(HttpClient::new(self.limits.request_timeout)?) };
        let decisions = Decisions::new(storage.clone());
        let services = Services { storage, http, data_root: self.data_dir.as_ref().map(|d| d.join("plugins")) };
        let broker = Broker::new(self.limits.request_timeout, self.supervision);
        let binary = self.nodes.binary.clone().unwrap_or_else(crate::node::default_binary);
        let cluster = Arc::new(crate::node::Cluster::new(binary, self.nodes.cookie.clone(), !self.no_http)?);
        Ok(Host {
            inner: Arc::new(Inner {
                engine,
                broker,
                limits: self.limits,
                event_capacity: self.event_capacity.unwrap_or(1024),
                event_bytes: self.event_bytes.unwrap_or(DEFAULT_EVENT_BYTES),
                host: Arc::from(HOST),
                policy: self.policy,
                services,
                config: self.config,
                decisions,
                admission: Mutex::default(),
                hot_reload: self.hot_reload,
                debounce: self.debounce.unwrap_or(crate::watch::DEFAULT_DEBOUNCE),
                watcher: OnceLock::new(),
                libraries,
                nodes: self.nodes,
                cluster,
            }),
        })
    }
}

/// Reads and compiles the libraries of [`HostBuilder::library`] and
/// [`HostBuilder::libraries`], in the order given (a folder's files by name).
fn compile_libraries(engine: &Engine, sources: &[(PathBuf, bool)], limits: &Limits) -> Result<Libraries, Error> {
    let io = |path: &Path, source: std::io::Error| wasp_runtime::Error::Io { path: path.to_owned(), source };
    let mut files = Vec::new();
    for (path, folder) in sources {
        if *folder {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| io(path, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut libraries = Libraries::default();
    for file in files {
        let bytes = wasp_runtime::read_plugin_file(&file, limits.max_module_size as u64, "max_module_size")?;
        let library = Library::compile(engine, &file.display().to_string(), &bytes)?;
        tracing::debug!(target: "wasp::library", library = library.name(), version = %library.version(), file = %file.display(), "library ready");
        libraries.add(library)?;
    }
    Ok(libraries)
}

/// A plugin of [`Host::load_all`] between its two passes.
enum Staged {
    /// Validated and compiled, waiting to start.
    Image(Box<(Manifest, PluginImage, Identity)>),
    /// A hybrid plugin, loaded whole in the second pass.
    Hybrid,
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
    debounce: Duration,
    /// The file watcher, started by the first [`Host::watch`].
    watcher: OnceLock<Arc<Watcher>>,
    /// The shared libraries plugins may `use`.
    libraries: Libraries,
    /// Which native plugins run out of process.
    nodes: crate::node::NodeConfig,
    /// The host's end of the cluster of `wasp-node` processes.
    cluster: Arc<crate::node::Cluster>,
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
    granted: Vec<Permission>,
    refused: Vec<Permission>,
    components: Vec<String>,
    identity: Identity,
}

/// A plugin validated and compiled once by [`Host::prepare`], ready to
/// start any number of times with [`Host::load_prepared`]. Cheap to clone:
/// the compiled code is shared.
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: ManifestKind,
    image: PluginImage,
    /// The identity of its code (unsigned: bytes carry no signature).
    code: Identity,
}

impl Prepared {
    /// `"wasm"` or `"native"`.
    pub fn kind(&self) -> &'static str {
        self.image.kind()
    }

    /// The ABI version the plugin was built for.
    pub fn abi_version(&self) -> Option<ApiVersion> {
        self.image.abi_version()
    }
}

/// A plugin's permissions, decided once (for every component of a hybrid).
struct Decided {
    granted: Vec<Permission>,
    refused: Vec<Permission>,
    grants: Grants,
    /// Who they were decided for.
    identity: Identity,
}

impl PluginRef {
    /// The address to send to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `wasm`, `native`, `in-process` or `hybrid`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// For WASM and native plugins, the ABI version they were built for.
    pub fn abi_version(&self) -> Option<ApiVersion> {
        self.abi
    }

    /// The requested permissions it was granted at load.
    pub fn granted(&self) -> &[Permission] {
        &self.granted
    }

    /// The requested permissions it was refused at load.
    pub fn refused(&self) -> &[Permission] {
        &self.refused
    }

    /// For a hybrid plugin, the addresses of its components other than the
    /// first (which answers at [`name`](Self::name)): `<name>.<component>`.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// Who the plugin is: the hash of its code, and the trusted publisher
    /// key that signed its bundle, if one did. Its remembered permission
    /// decisions belong to this identity (`docs/security.md`, "Identity").
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// Events on a topic pattern, for the host. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    rx: mpsc::Receiver<Event>,
    /// The bytes waiting in it, given back as events are taken.
    budget: Arc<EventBudget>,
    broker: Weak<Broker>,
}

impl Subscription {
    /// The next event; `None` once the host is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        let event = self.rx.recv().await?;
        self.budget.give(event.payload.len());
        Some(event)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        let event = self.rx.try_recv().ok()?;
        self.budget.give(event.payload.len());
        Some(event)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            broker.remove_host_subscriptions(&[self.id]);
        }
    }
}

impl Host {
    /// Starts configuring a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Loads a plugin from `path`:
    ///
    /// - a directory: its `plugin.toml`, and the entry file it names;
    /// - a `.toml` file: that manifest, and its entry file;
    /// - a `.wasm` file: with the `plugin.toml` beside it if that manifest's
    ///   `entry` is this file; otherwise with no manifest — named after the
    ///   file's stem (`plugins/echo.wasm` → `echo`), default limits, and no
    ///   permissions.
    ///
    /// The manifest's requested permissions are decided by the host's
    /// [`Policy`] before the plugin starts.
    pub async fn load(&self, path: impl AsRef<Path>) -> Result<PluginRef, Error> {
        let (manifest, entry, seal) = locate(path.as_ref()).await?;
        self.load_entry(manifest, &entry, Some(path.as_ref()), seal.as_ref()).await
    }

    /// [`Host::load`] under another name (the manifest's is ignored).
    pub async fn load_as(&self, name: &str, path: impl AsRef<Path>) -> Result<PluginRef, Error> {
        let (mut manifest, entry, seal) = locate(path.as_ref()).await?;
        name.clone_into(&mut manifest.name);
        self.load_entry(manifest, &entry, Some(path.as_ref()), seal.as_ref()).await
    }

    /// Loads the plugin a manifest describes, reading its entry file. A
    /// manifest value carries no text to check a signature against: the
    /// plugin is unsigned (load its folder with [`Host::load`] to have its
    /// signature checked).
    pub async fn load_manifest(&self, manifest: Manifest) -> Result<PluginRef, Error> {
        if manifest.kind == ManifestKind::Hybrid {
            return self.load_hybrid(manifest, None).await;
        }
        let entry = manifest.entry_path().ok_or_else(|| {
            Error::Runtime(wasp_runtime::Error::Internal(format!(
                "manifest of `{}` names no entry file; in-process plugins are registered with `Host::register_manifest`",
                manifest.name
            )))
        })?;
        self.load_entry(manifest, &entry, None, None).await
    }

    async fn load_entry(
        &self,
        manifest: Manifest,
        entry: &Path,
        origin: Option<&Path>,
        seal: Option<&Seal>,
    ) -> Result<PluginRef, Error> {
        if manifest.kind == ManifestKind::Hybrid {
            return self.load_hybrid(manifest, seal).await;
        }
        self.check_name(&manifest.name)?;
        let limits = manifest.limits.apply(&self.inner.limits);
        let bytes = read_entry(&manifest.name, entry, manifest.kind, &limits).await?;
        let file_name = entry.file_name().map(|f| f.to_string_lossy().into_owned());
        let origin = origin.map(absolute);
        let plugin = self.load_image(manifest, bytes, file_name, origin, seal).await?;
        self.watch_if_hot(&plugin).await;
        Ok(plugin)
    }

    /// Watches a plugin loaded from files when the host hot-reloads.
    async fn watch_if_hot(&self, plugin: &PluginRef) {
        if self.inner.hot_reload
            && let Err(e) = self.watch(plugin.name()).await
        {
            tracing::warn!(target: "wasp::reload", plugin = plugin.name(), "hot reload is off for this plugin: {e}");
        }
    }

    /// Loads several plugins, each as [`Host::load`] would, and returns each
    /// path with its outcome, in the order given.
    ///
    /// Their files are read, validated and compiled in parallel (as many
    /// compiled at once as the machine has cores; a plugin found in the
    /// [module cache](HostBuilder::module_cache) is not compiled at all),
    /// each within [`Limits::load_timeout`]; each then starts as soon as it
    /// and every plugin before it are ready, in the order given, so a
    /// plugin that talks to an earlier one in `on_load` finds it running,
    /// as with successive [`Host::load`] calls. Hybrid plugins are loaded
    /// in that second pass. One plugin failing does not stop the others,
    /// and one slow to read or compile holds up those after it for at most
    /// `load_timeout`, when it fails with
    /// [`LoadTimedOut`](wasp_runtime::Error::LoadTimedOut); a file that
    /// could block a reader (a FIFO, a device) is refused at once.
    pub async fn load_all<P: AsRef<Path>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> Vec<(PathBuf, Result<PluginRef, Error>)> {
        let paths: Vec<PathBuf> = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        let permits = std::thread::available_parallelism().map_or(2, usize::from);
        let gate = Arc::new(tokio::sync::Semaphore::new(permits));
        let limit = self.inner.limits.load_timeout;
        let mut staging = Vec::with_capacity(paths.len());
        for path in &paths {
            let (host, path, gate) = (self.clone(), path.clone(), gate.clone());
            let (tx, rx) = oneshot::channel();
            tokio::spawn(async move {
                let staged = match tokio::time::timeout(limit, host.stage(&path, &gate)).await {
                    Ok(staged) => staged,
                    Err(_) => {
                        let plugin = path.display().to_string();
                        let e = wasp_runtime::Error::LoadTimedOut { plugin: plugin.clone(), limit };
                        host.audit(&plugin, AuditKind::LoadRefused { code: e.code() }, format!("{e}"));
                        Err(e.into())
                    }
                };
                let _ = tx.send(staged);
            });
            staging.push(rx);
        }
        let mut outcomes = Vec::with_capacity(paths.len());
        for (path, staged) in paths.into_iter().zip(staging) {
            let outcome = match staged.await {
                Err(_) => Err(Error::Actor(format!("the load task of {} failed", path.display()))),
                Ok(Err(e)) => Err(e),
                Ok(Ok(Staged::Hybrid)) => self.load(&path).await,
                Ok(Ok(Staged::Image(staged))) => {
                    let (manifest, image, identity) = *staged;
                    match self.start_image(manifest, image, Some(absolute(&path)), identity).await {
                        Ok(plugin) => {
                            self.watch_if_hot(&plugin).await;
                            Ok(plugin)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            outcomes.push((path, outcome));
        }
        outcomes
    }

    /// The first, parallel half of [`Host::load_all`] for one path: find,
    /// read, validate and compile (holding a permit of `gate` to compile).
    async fn stage(&self, path: &Path, gate: &tokio::sync::Semaphore) -> Result<Staged, Error> {
        let (manifest, entry, seal) = locate(path).await?;
        if manifest.kind == ManifestKind::Hybrid {
            return Ok(Staged::Hybrid);
        }
        self.check_name(&manifest.name)?;
        let limits = manifest.limits.apply(&self.inner.limits);
        let bytes = read_entry(&manifest.name, &entry, manifest.kind, &limits).await?;
        let publisher = self.publisher(&manifest.name, seal.as_ref(), &[&bytes])?;
        let file_name = entry.file_name().map(|f| f.to_string_lossy().into_owned());
        let _permit = gate.acquire().await;
        let (image, code) = self.image(&manifest.name, manifest.kind, bytes, file_name, limits).await?;
        Ok(Staged::Image(Box::new((manifest, image, with_publisher(code, publisher)))))
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
    /// is harmless. [`HostBuilder::hot_reload`] watches every plugin
    /// loaded from files.
    pub async fn watch(&self, name: &str) -> Result<(), Error> {
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
        if let Some(watcher) = self.inner.watcher.get() {
            watcher.forget(name);
        }
    }

    /// The files a watched plugin reloads from: its manifest (if it has
    /// one) and its entry file, with canonical folders.
    async fn plugin_files(&self, name: &str) -> Result<Vec<PathBuf>, Error> {
        let route = self.route(name)?;
        self.reloadable(name, &route)?;
        if route.kind == "in-process" {
            return Err(Error::Unsupported(format!(
                "plugin `{name}` runs in process: its code is the app's, there is no file to watch"
            )));
        }
        let (manifest_file, entry) = match route.origin.as_deref() {
            Some(origin) => {
                let (manifest, entry, _) = locate(origin).await?;
                (manifest.dir.map(|d| d.join(FILE_NAME)), entry)
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

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// A watched plugin's files changed: reload it (a failure is audited),
    /// then follow the files its manifest names now.
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

    /// Loads a plugin from bytes, with no manifest: default limits and no
    /// permissions. The bytes may be a WebAssembly module or a native
    /// library for this platform (told apart by their magic bytes).
    /// Validation happens before any plugin code runs: a file that is
    /// neither, breaks the ABI, or asks for a major ABI version this host
    /// does not speak is refused with an error naming the problem.
    pub async fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<PluginRef, Error> {
        let mut manifest =
            Manifest::new(name).map_err(|e| Error::InvalidName { name: name.into(), reason: e.message })?;
        manifest.kind = match PluginKind::detect(bytes) {
            PluginKind::Elf | PluginKind::Pe | PluginKind::MachO => ManifestKind::Native,
            _ => ManifestKind::Wasm,
        };
        self.load_bytes_with(manifest, bytes).await
    }

    /// Loads a plugin from bytes, described by `manifest` (its kind, name,
    /// permissions, limits and configuration; its `entry` is not read).
    pub async fn load_bytes_with(&self, manifest: Manifest, bytes: &[u8]) -> Result<PluginRef, Error> {
        let file_name = manifest.entry_path().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        self.load_image(manifest, bytes.to_vec(), file_name, None, None).await
    }

    /// Validates and compiles a WASM module (or checks and maps a native
    /// library) once, without starting it: [`Host::load_prepared`] then
    /// starts it under as many names as the application wants, each start
    /// skipping the reading, hashing and compiling of the bytes. For a
    /// host that runs many copies of one plugin (one per document, per
    /// connection, per tenant …).
    ///
    /// `manifest` gives the kind (`wasm` or `native`), the name used in
    /// errors and audit events, and the limits the module is checked
    /// against (its size); its permissions and configuration are not used
    /// here, but those of each manifest given to `load_prepared`.
    ///
    /// ```
    /// # use wasp_actors::{Host, Manifest, ManifestKind};
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let host = Host::builder().build()?;
    /// let bytes = wat::parse_str(r#"(module
    ///     (@custom "wasp:abi" "1.0")
    ///     (memory (export "memory") 1)
    ///     (func (export "wasp_alloc") (param i32) (result i32) i32.const 1024)
    ///     (func (export "wasp_dealloc") (param i32 i32))
    ///     (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0))"#)?;
    /// let manifest = |name: &str| -> Result<Manifest, Box<dyn std::error::Error>> {
    ///     let mut m = Manifest::new(name)?;
    ///     m.kind = ManifestKind::Wasm;
    ///     Ok(m)
    /// };
    /// let prepared = host.prepare(&manifest("worker")?, &bytes).await?;
    /// for i in 0..3 {
    ///     host.load_prepared(manifest(&format!("worker-{i}"))?, &prepared).await?;
    /// }
    /// assert_eq!(host.plugins().len(), 3);
    /// # host.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn prepare(&self, manifest: &Manifest, bytes: &[u8]) -> Result<Prepared, Error> {
        let name = &manifest.name;
        if manifest.kind == ManifestKind::Hybrid {
            return Err(Error::Unsupported(format!(
                "plugin `{name}` is a hybrid of several files; load it from its folder or plugin.toml"
            )));
        }
        let file_name = manifest.entry_path().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        let limits = manifest.limits.apply(&self.inner.limits);
        let (image, code) = self.image(name, manifest.kind, bytes.to_vec(), file_name, limits).await?;
        Ok(Prepared { kind: manifest.kind, image, code })
    }

    /// Starts a plugin [prepared](Host::prepare) earlier, described by
    /// `manifest` (its name, permissions, limits and configuration; its
    /// kind must be the prepared one's, its `entry` is not read). Like
    /// [`Host::load_bytes_with`], without reading or compiling anything:
    /// the plugin's permissions are decided, its actor started and its
    /// instance made from the prepared code.
    pub async fn load_prepared(&self, manifest: Manifest, prepared: &Prepared) -> Result<PluginRef, Error> {
        if manifest.kind != prepared.kind {
            return Err(Error::Unsupported(format!(
                "plugin `{}` has kind `{}` in its manifest, but the prepared plugin is `{}`",
                manifest.name,
                manifest.kind.as_str(),
                prepared.kind.as_str()
            )));
        }
        let publisher = self.publisher(&manifest.name, None, &[])?;
        let identity = with_publisher(prepared.code.clone(), publisher);
        self.start_image(manifest, prepared.image.clone(), None, identity).await
    }

    /// Validates, then starts, a WASM module or a native library (with
    /// its bundle's seal when read from a folder).
    async fn load_image(
        &self,
        manifest: Manifest,
        bytes: Vec<u8>,
        file_name: Option<String>,
        origin: Option<PathBuf>,
        seal: Option<&Seal>,
    ) -> Result<PluginRef, Error> {
        let name = manifest.name.clone();
        self.check_name(&name)?;
        if manifest.kind == ManifestKind::Hybrid {
            return Err(Error::Unsupported(format!(
                "plugin `{name}` is a hybrid of several files; load it from its folder or plugin.toml"
            )));
        }
        let limits = manifest.limits.apply(&self.inner.limits);
        let publisher = self.publisher(&name, seal, &[&bytes])?;
        let (image, code) = self.image(&name, manifest.kind, bytes, file_name, limits).await?;
        self.start_image(manifest, image, origin, with_publisher(code, publisher)).await
    }

    /// Starts a validated WASM module or native library: checks the
    /// manifest's API, decides its permissions, starts its actor.
    async fn start_image(
        &self,
        manifest: Manifest,
        image: PluginImage,
        origin: Option<PathBuf>,
        identity: Identity,
    ) -> Result<PluginRef, Error> {
        self.check_name(&manifest.name)?;
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let decided = self.decide(&manifest, &identity).await?;
        self.start(manifest, image, &decided, None, origin).await
    }

    /// The trusted publisher a plugin's code comes from: its bundle's
    /// signature checked against the policy (`seal` is `None` for bytes
    /// and manifest values). Refusals and signatures are audited.
    fn publisher(
        &self,
        name: &str,
        seal: Option<&Seal>,
        files: &[&[u8]],
    ) -> Result<Option<wasp_runtime::signature::PublisherKey>, Error> {
        let origin = seal.map_or(Origin::Unsealed, Origin::Bundle);
        publisher(&self.inner.policy, name, origin, files, |kind, message| self.audit(name, kind, message))
    }

    /// Validates and prepares one plugin file: compiles a WASM module, or
    /// checks and maps a native library; with the identity of its code. A
    /// refusal is audited.
    async fn image(
        &self,
        name: &str,
        kind: ManifestKind,
        bytes: Vec<u8>,
        file_name: Option<String>,
        limits: Limits,
    ) -> Result<(PluginImage, Identity), Error> {
        let native = match kind {
            ManifestKind::Wasm => false,
            ManifestKind::Native => true,
            _ => {
                return Err(Error::Unsupported(format!(
                    "plugin `{name}` is an in-process plugin; register it with `Host::register_manifest`"
                )));
            }
        };
        let file_name = file_name.unwrap_or_else(|| {
            use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
            if native { format!("{DLL_PREFIX}{name}{DLL_SUFFIX}") } else { format!("{name}.wasm") }
        });
        let engine = self.inner.engine.clone();
        let timeout = limits.load_timeout;
        // Compiling (or mapping a library) takes milliseconds of CPU and
        // file I/O: keep it off the async workers.
        let task_name = name.to_owned();
        let cluster = (native && self.inner.nodes.isolates(name)).then(|| self.inner.cluster.clone());
        let remote = self.inner.nodes.remote.get(name).copied();
        let work = tokio::task::spawn_blocking(move || {
            let code = Identity::of_code(&bytes);
            let image = if let Some(cluster) = cluster {
                // Checked here, loaded only in its own process.
                NativePlugin::check(&task_name, &bytes).map(|()| {
                    PluginImage::Remote(Arc::new(crate::node::NodeImage {
                        name: task_name.clone(),
                        file_name,
                        library: Arc::new(bytes),
                        abi: OnceLock::new(),
                        cluster,
                        remote,
                    }))
                })
            } else if native {
                NativePlugin::open(&task_name, &file_name, &bytes).map(PluginImage::Native)
            } else {
                PluginImage::compile_wasm(&engine, &task_name, &bytes, &limits)
            };
            image.map(|image| (image, code))
        });
        // A compilation cannot be stopped: past the deadline it finishes
        // on its blocking thread and its result is dropped.
        let image = match tokio::time::timeout(timeout, work).await {
            Ok(done) => done.map_err(|e| Error::Actor(format!("load task failed: {e}")))?,
            Err(_) => Err(wasp_runtime::Error::LoadTimedOut { plugin: name.to_owned(), limit: timeout }),
        };
        image.map_err(|e| {
            self.audit(name, AuditKind::LoadRefused { code: e.code() }, format!("plugin `{name}` refused: {e}"));
            e.into()
        })
    }

    /// Loads a hybrid plugin: every component is validated first, the
    /// permissions are decided once, then each component starts as its own
    /// actor sharing them. If one fails to start, the others are unloaded.
    async fn load_hybrid(&self, manifest: Manifest, seal: Option<&Seal>) -> Result<PluginRef, Error> {
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let entries = manifest.component_entries();
        let family = Family::new(manifest.name.as_str(), entries.iter().map(|(address, _, _)| address.as_str()));
        for (address, _, _) in &entries {
            self.check_name_in(address, Some(&family))?;
        }
        let limits = manifest.limits.apply(&self.inner.limits);
        let mut files = Vec::new();
        for (address, component, path) in &entries {
            files.push(read_entry(address, path, component.kind, &limits).await?);
        }
        let signed: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
        let publisher = self.publisher(&manifest.name, seal, &signed)?;
        let mut images = Vec::new();
        let mut codes = Vec::new();
        for ((address, component, path), bytes) in entries.iter().zip(files) {
            let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned());
            let (image, code) = self.image(address, component.kind, bytes, file_name, limits.clone()).await?;
            images.push((address.clone(), component.kind, image));
            codes.push((component.name.as_str(), code));
        }
        let code = Identity::of_parts(codes.iter().map(|(name, code)| (*name, code)));
        let identity = with_publisher(code, publisher);
        let decided = self.decide(&manifest, &identity).await?;
        let mut started: Vec<PluginRef> = Vec::new();
        for (address, kind, image) in images {
            let mut part = manifest.clone();
            part.name = address;
            part.kind = kind;
            part.components.clear();
            match self.start(part, image, &decided, Some(family.clone()), None).await {
                Ok(plugin) => started.push(plugin),
                Err(e) => {
                    for plugin in started.iter().rev() {
                        let _ = self.unload_one(plugin.name()).await;
                    }
                    return Err(e);
                }
            }
        }
        let mut main = started.remove(0);
        main.kind = "hybrid";
        main.components = started.into_iter().map(|p| p.name).collect();
        Ok(main)
    }

    /// Registers a plugin type in process (no WASM), created with `Default`,
    /// with no manifest: default limits and no permissions.
    pub async fn register<P: Plugin + Default>(&self, name: &str) -> Result<PluginRef, Error> {
        self.register_with(name, P::default).await
    }

    /// Registers a plugin in process, created (and re-created after a panic)
    /// by `factory`, with no manifest.
    pub async fn register_with<P: Plugin>(
        &self,
        name: &str,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<PluginRef, Error> {
        let manifest = Manifest::new(name).map_err(|e| Error::InvalidName { name: name.into(), reason: e.message })?;
        self.register_manifest(manifest, factory).await
    }

    /// Registers a plugin in process, described by `manifest`: the same
    /// permissions, limits and configuration as its WASM form would get.
    pub async fn register_manifest<P: Plugin>(
        &self,
        manifest: Manifest,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<PluginRef, Error> {
        self.check_name(&manifest.name)?;
        let factory: PluginFactory = Arc::new(move || Box::new(factory()) as Box<dyn Plugin>);
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let decided = self.decide(&manifest, &Identity::in_process()).await?;
        self.start(manifest, PluginImage::InProcess(factory), &decided, None, None).await
    }

    fn check_name(&self, name: &str) -> Result<(), Error> {
        self.check_name_in(name, None)
    }

    /// Refuses a name that breaks the rule of [`Address`], is taken, or
    /// clashes with a hybrid plugin's namespace ([`namespace::clash`]): a
    /// first look, before anything is compiled; the look that counts is
    /// made again as the plugin is registered ([`Host::admit`]).
    fn check_name_in(&self, name: &str, family: Option<&Family>) -> Result<(), Error> {
        Address::plugin(name).map_err(|e| Error::InvalidName { name: name.to_owned(), reason: e.to_string() })?;
        if self.inner.broker.routes.contains_key(name) {
            return Err(Error::AlreadyLoaded(name.to_owned()));
        }
        self.check_namespace(name, family)
    }

    /// [`namespace::clash`] against every loaded plugin.
    fn check_namespace(&self, name: &str, family: Option<&Family>) -> Result<(), Error> {
        let loaded: Vec<(Arc<str>, Option<Family>)> =
            self.inner.broker.routes.iter().map(|r| (r.key().clone(), r.value().family.clone())).collect();
        match namespace::clash(loaded.iter().map(|(n, f)| (&**n, f.as_ref())), name, family) {
            Some(reason) => Err(Error::InvalidName { name: name.to_owned(), reason }),
            None => Ok(()),
        }
    }

    /// Registers a started plugin's route under its name, unless the name
    /// was taken, or came to clash with a hybrid plugin's namespace, while
    /// it started: one load at a time passes here, so two loads cannot both
    /// pass the check and then both register.
    fn admit(&self, name: &Arc<str>, route: Route) -> Result<(), Error> {
        let _one_at_a_time = lock(&self.inner.admission);
        self.check_namespace(name, route.family.as_ref())?;
        match self.inner.broker.routes.entry(name.clone()) {
            dashmap::Entry::Occupied(_) => Err(Error::AlreadyLoaded(name.to_string())),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(route);
                Ok(())
            }
        }
    }

    /// Forgets every remembered permission decision about `plugin`,
    /// under every identity it had, and the identity last loaded under its
    /// name: its next load decides everything afresh (asking the user
    /// again). For a host that refuses plugins whose identity changed
    /// ([`IdentityChange::Refuse`]), this is how a new release is let in.
    /// A loaded plugin keeps its permissions until it is reloaded.
    ///
    /// # Errors
    ///
    /// [`Error::Wire`] when the host's database fails.
    pub async fn forget_decisions(&self, plugin: &str) -> Result<(), Error> {
        self.inner.decisions.forget(plugin).await
    }

    fn audit(&self, plugin: &str, kind: AuditKind, message: String) {
        self.inner.broker.record_audit(AuditEvent::new(plugin, kind, message));
    }

    /// Decides each requested permission (see [`Policy`]) for the plugin
    /// known as `identity`: decisions remembered about another identity of
    /// the same name do not apply (`docs/security.md`, "Identity").
    async fn decide(&self, manifest: &Manifest, identity: &Identity) -> Result<Decided, Error> {
        let name = &manifest.name;
        let policy = &self.inner.policy;
        let key = identity.key();
        let recalled = self.inner.decisions.recall(name, key).await?;
        let previous = recalled.last_identity.filter(|p| p != key);
        if let Some(previous) = &previous {
            let message = format!(
                "plugin `{name}` changed since it last loaded: it was {}, it is now {identity}; \
                 what was decided about it before does not apply",
                Identity::abbreviate(previous)
            );
            let kind = AuditKind::IdentityChanged { previous: previous.clone(), current: key.to_owned() };
            self.audit(name, kind, message);
            if policy.identity_change() == IdentityChange::Refuse {
                let e = Error::IdentityChanged {
                    plugin: name.clone(),
                    previous: previous.clone(),
                    current: key.to_owned(),
                };
                self.audit(name, AuditKind::LoadRefused { code: e.code() }, format!("plugin `{name}` refused: {e}"));
                return Err(e);
            }
        }
        let (mut granted, mut refused) = (Vec::new(), Vec::new());
        for wanted in &manifest.permissions {
            let rule = policy.rule(name, wanted);
            let (decision, by) = if rule == Some(Decision::Deny) {
                (Decision::Deny, "policy")
            } else if let Some(&d) = recalled.decisions.get(&wanted.to_string()) {
                (d, "stored")
            } else if rule == Some(Decision::Allow) {
                (Decision::Allow, "policy")
            } else {
                let question = AskRequest {
                    plugin: name.clone(),
                    version: manifest.version.clone(),
                    permission: wanted.clone(),
                    description: manifest.description.clone(),
                    identity: key.to_owned(),
                    publisher: identity.publisher.clone(),
                    previous_identity: previous.clone(),
                };
                match policy.ask_about(question).await {
                    Some(Some(d)) => {
                        self.inner.decisions.remember(name, key, wanted, d).await?;
                        (d, "ask")
                    }
                    Some(None) => (Decision::Deny, "unanswered"),
                    None => (Decision::Deny, "default"),
                }
            };
            let by = by.to_owned();
            match decision {
                Decision::Allow => {
                    let message = format!("plugin `{name}` was granted `{wanted}` ({by})");
                    self.audit(name, AuditKind::Granted { permission: wanted.clone(), by }, message);
                    granted.push(wanted.clone());
                }
                Decision::Deny => {
                    let message = format!("plugin `{name}` was refused `{wanted}` ({by})");
                    self.audit(name, AuditKind::Revoked { permission: wanted.clone(), by }, message);
                    refused.push(wanted.clone());
                }
            }
        }
        self.inner.decisions.loaded(name, key).await?;
        let excepted = self.narrow(name, &mut granted, &mut refused, &recalled.decisions);
        let grants = Grants::from_set(GrantSet::new(granted.clone(), excepted));
        Ok(Decided { granted, refused, grants, identity: identity.clone() })
    }

    /// The refusals narrower than a granted permission — remembered ones
    /// and the policy's `deny` rules — made exceptions to it, or for a
    /// directory the grant taken back ([`exceptions::narrow`]); audited at
    /// each load, so that the log says why they are refused.
    fn narrow(
        &self,
        name: &str,
        granted: &mut Vec<Permission>,
        refused: &mut Vec<Permission>,
        remembered: &HashMap<String, Decision>,
    ) -> Vec<Permission> {
        let stored = remembered
            .iter()
            .filter(|(_, decision)| **decision == Decision::Deny)
            .filter_map(|(text, _)| text.parse::<Permission>().ok())
            .map(|p| (p, RefusedBy::Stored));
        let denied = self.inner.policy.denials(name).into_iter().map(|p| (p, RefusedBy::Policy));
        let narrowed = exceptions::narrow(granted, denied.chain(stored).collect());
        for (dir, denial) in narrowed.withdrawn {
            let message = format!(
                "plugin `{name}` was refused `{dir}` (policy): the policy denies `{denial}`, and a directory is \
                 granted whole"
            );
            self.audit(name, AuditKind::Revoked { permission: dir.clone(), by: "policy".into() }, message);
            refused.push(dir);
        }
        let mut excepted = Vec::with_capacity(narrowed.excepted.len());
        for (p, by, broader) in narrowed.excepted {
            let broader: Vec<String> = broader.iter().map(|g| format!("`{g}`")).collect();
            let by = by.as_str();
            let message = format!("plugin `{name}` keeps `{p}` refused ({by}), an exception to {}", broader.join(", "));
            self.audit(name, AuditKind::Revoked { permission: p.clone(), by: by.into() }, message);
            excepted.push(p);
        }
        excepted
    }

    /// Refuses a manifest written for an ABI major version this host does not speak.
    fn check_api(manifest: &Manifest) -> Result<(), Error> {
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

    /// The shared libraries this host offers ([`HostBuilder::library`]).
    pub fn libraries(&self) -> &Libraries {
        &self.inner.libraries
    }

    /// What an instance of the plugin `manifest` describes runs in.
    fn plugin_env(&self, manifest: &Manifest, grants: &Grants, family: Option<Family>) -> PluginEnv {
        let name: Arc<str> = Arc::from(manifest.name.as_str());
        let mut config = manifest.config.clone();
        if let Some(overrides) = self.inner.config.get(family.as_ref().map_or(&*name, Family::name)) {
            config.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let router: Arc<dyn Router> = self.inner.broker.clone();
        let limits = manifest.limits.apply(&self.inner.limits);
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
    async fn instantiate(
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
    async fn start(
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
        let limits = manifest.limits.apply(&self.inner.limits);
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
        tracing::info!(target: "wasp::host", plugin = %name, kind = image.kind(), instances = size, "plugin loaded");
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
    fn member_env(&self, manifest: &Manifest, grants: &Grants, index: usize) -> PluginEnv {
        let mut env = self.plugin_env(manifest, grants, None);
        env.router = Arc::new(MemberRouter { broker: self.inner.broker.clone(), member: index });
        env
    }

    /// [`Host::instantiate`] for instance `index` of a pool.
    async fn instantiate_member(
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

    fn route(&self, name: &str) -> Result<Route, Error> {
        self.inner.broker.routes.get(name).map(|r| r.value().clone()).ok_or_else(|| Error::NotLoaded(name.to_owned()))
    }

    /// Grants `permission` to a loaded plugin now; it takes effect on the
    /// plugin's next host call. The decision is remembered (across restarts
    /// when the host has a data directory).
    ///
    /// It lifts the exceptions it covers ([`Host::revoke`]): granting
    /// `request:*` again allows `request:vault` again. For a component of
    /// a hybrid plugin, the grant is the whole plugin's, and remembered
    /// under the plugin's name.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`], a malformed permission, or the database
    /// failing to remember the decision.
    pub async fn grant(&self, plugin: &str, permission: &str) -> Result<(), Error> {
        let permission: Permission = permission.parse()?;
        let route = self.route(plugin)?;
        let identity = route.family.as_ref().map_or(plugin, Family::name);
        route.grants.grant(permission.clone());
        // Refusals it overrides must not come back at the next load.
        let key = route.identity.key();
        let overridden: Vec<Permission> = self
            .inner
            .decisions
            .recall(identity, key)
            .await?
            .decisions
            .into_iter()
            .filter(|(_, decision)| *decision == Decision::Deny)
            .filter_map(|(text, _)| text.parse::<Permission>().ok())
            .filter(|p| permission.covers(p))
            .collect();
        for p in overridden.iter().chain(std::iter::once(&permission)) {
            self.inner.decisions.remember(identity, key, p, Decision::Allow).await?;
        }
        let message = format!("plugin `{plugin}` was granted `{permission}` (host)");
        self.audit(plugin, AuditKind::Granted { permission, by: "host".into() }, message);
        Ok(())
    }

    /// Takes `permission` away from a loaded plugin: every permission it
    /// holds that `permission` covers goes (`send:*` takes `send:echo`), and
    /// if it holds a broader one that covers `permission` (`request:*` for
    /// `request:vault`), `permission` becomes an exception to it: refused,
    /// while the rest of the broader grant stays. It takes effect on the
    /// plugin's next host call — including the events of its subscriptions
    /// and timers. A revoked `fs.*` directory disappears before the
    /// plugin's next message. The decision is remembered (for a component
    /// of a hybrid plugin, under the plugin's name: its permissions are the
    /// whole plugin's), exceptions included; the audit event says what the
    /// plugin lost.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`], a malformed permission, the database failing
    /// to remember the decision, or `invalid_argument` ([`Error::Wire`]),
    /// changing nothing, for a directory inside one the plugin holds (a
    /// directory is granted whole; the error names the broader grant).
    pub async fn revoke(&self, plugin: &str, permission: &str) -> Result<(), Error> {
        let permission: Permission = permission.parse()?;
        let route = self.route(plugin)?;
        let identity = route.family.as_ref().map_or(plugin, Family::name);
        let revocation = route.grants.revoke(&permission)?;
        for p in revocation.removed.iter().chain(std::iter::once(&permission)) {
            self.inner.decisions.remember(identity, route.identity.key(), p, Decision::Deny).await?;
        }
        let list = |ps: &[Permission]| ps.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        let message = match (&revocation.removed[..], &revocation.narrowed[..]) {
            ([], []) => format!(
                "plugin `{plugin}` held nothing `{permission}` covers; it is refused `{permission}` from now on (host)"
            ),
            (removed, []) if removed == [permission.clone()] => format!("plugin `{plugin}` lost `{permission}` (host)"),
            (removed, []) => format!("plugin `{plugin}` lost {} (host revoked `{permission}`)", list(removed)),
            (removed, broader) => {
                let others: Vec<Permission> = removed.iter().filter(|p| **p != permission).cloned().collect();
                let also = if others.is_empty() { String::new() } else { format!(" and {}", list(&others)) };
                format!(
                    "plugin `{plugin}` lost `{permission}`{also} (host); it keeps {} except `{permission}`",
                    list(broader)
                )
            }
        };
        self.audit(plugin, AuditKind::Revoked { permission, by: "host".into() }, message);
        Ok(())
    }

    /// The exceptions to a loaded plugin's permissions: those revoked while
    /// a broader one it holds still covers them ([`Host::revoke`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`].
    pub fn exceptions(&self, plugin: &str) -> Result<Vec<Permission>, Error> {
        Ok(self.route(plugin)?.grants.exceptions())
    }

    /// The permissions a loaded plugin holds now.
    pub fn permissions(&self, plugin: &str) -> Result<Vec<Permission>, Error> {
        Ok(self.route(plugin)?.grants.list())
    }

    /// Whether a loaded plugin holds a permission covering `permission`.
    pub fn permits(&self, plugin: &str, permission: &Permission) -> bool {
        self.route(plugin).is_ok_and(|r| r.grants.allows(permission))
    }

    /// Lifts a plugin's quarantine: it is restarted fresh (its timers
    /// stopped, its failure and violation counts cleared) and takes
    /// messages again.
    pub async fn lift_quarantine(&self, plugin: &str) -> Result<(), Error> {
        let route = self.route(plugin)?;
        if route.counters.state() != PluginState::Quarantined {
            return Err(Error::NotQuarantined(plugin.to_owned()));
        }
        // Every instance first, so that nothing queued after the lift runs
        // on an instance that has not been restarted.
        let mut waits = Vec::new();
        for actor in route.actors() {
            let (tx, rx) = oneshot::channel();
            actor.cast(PluginMsg::Lift(tx)).map_err(|e| Error::Actor(format!("plugin `{plugin}`: {e}")))?;
            waits.push(rx);
        }
        for rx in waits {
            rx.await.map_err(|_| Error::Actor(format!("plugin `{plugin}` stopped while lifting its quarantine")))??;
        }
        Ok(())
    }

    /// Samples the WASM plugin `plugin` for `duration` with wasmtime's guest
    /// profiler and returns the profile: JSON in the Firefox profiler's
    /// processed format, to open at <https://profiler.firefox.com>. While
    /// the plugin runs, its stack is sampled at every epoch tick (1 ms by
    /// default); a plugin not being profiled pays nothing for it. Only time
    /// the plugin spends running shows up: send it work meanwhile.
    ///
    /// Fails for a plugin that is not loaded or not WASM.
    pub async fn profile(&self, plugin: &str, duration: Duration) -> Result<Vec<u8>, Error> {
        let route = self.route(plugin)?;
        if route.kind != "wasm" {
            return Err(Error::Unsupported(format!(
                "plugin `{plugin}` is {}; only WASM plugins can be profiled",
                route.kind
            )));
        }
        let engine = &self.inner.engine;
        engine.start_profile(plugin)?;
        /// Ends the profile if the caller stops waiting.
        struct Stop<'a>(&'a Engine, &'a str, bool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                if !self.2 {
                    let _ = self.0.finish_profile(self.1);
                }
            }
        }
        let mut stop = Stop(engine, plugin, false);
        tokio::time::sleep(duration).await;
        stop.2 = true;
        Ok(engine.finish_profile(plugin)?)
    }

    /// The cache of compiled WASM plugins ([`HostBuilder::module_cache`]),
    /// with its counters; `None` when the host has none.
    pub fn module_cache(&self) -> Option<&ModuleCache> {
        self.inner.engine.module_cache()
    }

    /// How many WASM instances the host's pool holds
    /// ([`HostBuilder::instance_pool`]); `None` when it has no pool (turned
    /// off, or its address space could not be reserved).
    pub fn instance_pool(&self) -> Option<u32> {
        self.inner.engine.pool_size()
    }

    /// Whether WASM plugins are compiled for a native debugger
    /// ([`HostBuilder::debug`]).
    pub fn debug(&self) -> bool {
        self.inner.engine.debug()
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
        let mut waits = Vec::new();
        for actor in route.actors() {
            let (tx, rx) = oneshot::channel();
            actor.cast(PluginMsg::Restart(tx)).map_err(|e| Error::Actor(format!("plugin `{plugin}`: {e}")))?;
            waits.push(rx);
        }
        for rx in waits {
            rx.await.map_err(|_| Error::Actor(format!("plugin `{plugin}` stopped while restarting")))??;
        }
        Ok(())
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
    fn audit_reload_failure(&self, name: &str, result: &Result<PluginRef, Error>) {
        if let Err(e) = result
            && !matches!(e, Error::NotLoaded(_))
        {
            let message = format!("plugin `{name}` was not reloaded, its old code runs on: {e}");
            self.audit(name, AuditKind::ReloadFailed { code: e.code() }, message);
        }
    }

    async fn reload_from_origin(&self, name: &str) -> Result<PluginRef, Error> {
        let route = self.route(name)?;
        self.reloadable(name, &route)?;
        if let Some(origin) = route.origin.as_deref() {
            let (mut manifest, entry, seal) = locate(origin).await?;
            name.clone_into(&mut manifest.name);
            if manifest.kind == ManifestKind::Hybrid {
                return Err(Error::Unsupported(format!(
                    "`{}` is now a hybrid plugin; unload `{name}` and load it again",
                    origin.display()
                )));
            }
            let limits = manifest.limits.apply(&self.inner.limits);
            let bytes = read_entry(name, &entry, manifest.kind, &limits).await?;
            let file_name = entry.file_name().map(|f| f.to_string_lossy().into_owned());
            return self.replace(&route, manifest, bytes, file_name, seal.as_ref()).await;
        }
        if route.kind == "in-process" {
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
                let limits = manifest.limits.apply(&self.inner.limits);
                let bytes = read_entry(name, &entry, manifest.kind, &limits).await?;
                let file_name = entry.file_name().map(|f| f.to_string_lossy().into_owned());
                self.replace(&route, manifest, bytes, file_name, None).await
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

    async fn reload_from_bytes(&self, name: &str, bytes: &[u8]) -> Result<PluginRef, Error> {
        let route = self.route(name)?;
        self.reloadable(name, &route)?;
        let mut manifest = (*route.manifest).clone();
        manifest.kind = match PluginKind::detect(bytes) {
            PluginKind::Elf | PluginKind::Pe | PluginKind::MachO => ManifestKind::Native,
            _ => ManifestKind::Wasm,
        };
        let file_name = manifest.entry_path().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        self.replace(&route, manifest, bytes.to_vec(), file_name, None).await
    }

    fn reloadable(&self, name: &str, route: &Route) -> Result<(), Error> {
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
    async fn replace(
        &self,
        route: &Route,
        manifest: Manifest,
        bytes: Vec<u8>,
        file_name: Option<String>,
        seal: Option<&Seal>,
    ) -> Result<PluginRef, Error> {
        let name = manifest.name.clone();
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let limits = manifest.limits.apply(&self.inner.limits);
        let publisher = self.publisher(&name, seal, &[&bytes])?;
        let (image, code) = self.image(&name, manifest.kind, bytes, file_name, limits).await?;
        let decided = self.decide(&manifest, &with_publisher(code, publisher)).await?;
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
        if let Some(mut live) = broker.routes.get_mut(name.as_str()) {
            live.kind = image.kind();
            live.version = Arc::from(manifest.version.as_str());
            live.grants = decided.grants.clone();
            live.manifest = Arc::new(manifest);
            live.identity = decided.identity.clone();
        }
        let message = format!("plugin `{name}` was reloaded ({})", image.kind());
        self.audit(&name, AuditKind::Reloaded, message);
        tracing::info!(target: "wasp::host", plugin = %name, kind = image.kind(), "plugin reloaded");
        let route = self.route(&name)?;
        let mut plugin = self.plugin_ref(&name, &route, image.abi_version());
        plugin.granted = decided.granted;
        plugin.refused = decided.refused;
        Ok(plugin)
    }

    /// Has the plugin's actor replace its instance, between two messages,
    /// with one of `image` (`None`: the running code) that starts from the
    /// old instance's state.
    async fn swap_in(
        &self,
        route: &Route,
        name: &str,
        image: Option<PluginImage>,
        env: PluginEnv,
    ) -> Result<(), Error> {
        let next = Replacement { image, engine: self.inner.engine.clone(), env };
        let (tx, rx) = oneshot::channel();
        route
            .actor
            .cast(PluginMsg::Replace(Box::new(next), tx))
            .map_err(|e| Error::Actor(format!("plugin `{name}`: {e}")))?;
        rx.await.map_err(|_| Error::Actor(format!("plugin `{name}` stopped while reloading")))??;
        Ok(())
    }

    /// A pool's reload: every instance of `image` is started first, with no
    /// state (a pool keeps none worth handing over); if one fails, they all
    /// go and the old code runs on with its subscriptions and timers. Then
    /// each instance's actor swaps its new instance in between two
    /// messages, running the old one's `on_unload` as a flush.
    async fn swap_in_pool(
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
        let mut waits = Vec::new();
        for (actor, instance) in pool.members().iter().zip(fresh) {
            let (tx, rx) = oneshot::channel();
            actor
                .cast(PluginMsg::Swap(Box::new(instance), tx))
                .map_err(|e| Error::Actor(format!("plugin `{name}`: {e}")))?;
            waits.push(rx);
        }
        for rx in waits {
            rx.await.map_err(|_| Error::Actor(format!("plugin `{name}` stopped while reloading")))??;
        }
        Ok(())
    }

    fn plugin_ref(&self, name: &str, route: &Route, abi: Option<ApiVersion>) -> PluginRef {
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

    /// The folder of a loaded plugin's UI panel (its manifest's `ui`), if
    /// it has one.
    /// Only a folder that really lies inside the manifest's folder counts:
    /// a `ui` that is (or passes through) a symbolic link out of it is none.
    pub fn ui_dir(&self, plugin: &str) -> Option<PathBuf> {
        let manifest = self.inner.broker.routes.get(plugin).map(|r| r.manifest.clone())?;
        let ui = std::fs::canonicalize(manifest.ui_path()?).ok()?;
        let home = std::fs::canonicalize(manifest.dir.as_deref()?).ok()?;
        (ui.starts_with(&home) && ui != home).then_some(ui)
    }

    /// Every audit event from now on: denied calls, exceeded limits, faults,
    /// restarts, quarantines, grants. A receiver that falls more than 1,024
    /// events behind skips the oldest (it gets `RecvError::Lagged`).
    pub fn audit_events(&self) -> broadcast::Receiver<AuditEvent> {
        self.inner.broker.audit.subscribe()
    }

    /// The most recent audit events (up to 1,024), oldest first.
    pub fn audit_log(&self) -> Vec<AuditEvent> {
        self.inner.broker.audit.recent()
    }

    /// Opens a message tap: from now until it is dropped, every message the
    /// broker routes — requests, sends, publishes (once per subscriber),
    /// `request_async` replies, timer events, from the host or between
    /// plugins — arrives on it as a [`TapRecord`](crate::TapRecord) with its
    /// size, its wait in the mailbox, its handling time and its outcome.
    ///
    /// While no tap is open, routing pays one atomic load for the feature.
    /// Taps are independent; each may fall 4,096 records behind before it
    /// skips the oldest ([`Tap::missed`](crate::Tap::missed)).
    pub fn tap(&self) -> crate::Tap {
        self.inner.broker.tap.open()
    }

    /// How many [`Tap`](crate::Tap)s are open now.
    pub fn open_taps(&self) -> usize {
        self.inner.broker.tap.open_count()
    }

    /// Unloads a plugin. New messages to it are refused at once; those
    /// already queued are still handled, then the actor stops.
    pub async fn unload(&self, name: &str) -> Result<(), Error> {
        self.unload_one(name).await?;
        // A hybrid plugin's other components go with it.
        let parts: Vec<String> = self
            .inner
            .broker
            .routes
            .iter()
            .filter(|r| r.value().family.as_ref().is_some_and(|f| f.name() == name))
            .map(|r| r.key().to_string())
            .collect();
        for part in parts {
            self.unload_one(&part).await?;
        }
        Ok(())
    }

    async fn unload_one(&self, name: &str) -> Result<(), Error> {
        let route = self
            .inner
            .broker
            .routes
            .get(name)
            .map(|r| r.value().clone())
            .ok_or_else(|| Error::NotLoaded(name.to_owned()))?;
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
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        let broker = &self.inner.broker;
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let rx = broker.start_request(self.inner.host.clone(), to, topic, payload, timeout);
        Broker::await_answer(rx, to, timeout).await
    }

    /// A typed request: encodes `value`, decodes the reply as `R`.
    ///
    /// # Errors
    ///
    /// Those of [`Host::request`]; `invalid_message` for a reply that is not
    /// exactly one MessagePack value (trailing bytes included, as `wasp run`
    /// refuses them), nests deeper than
    /// [`codec::MAX_DEPTH`](wasp_protocol::codec::MAX_DEPTH), or is not an `R`.
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
        check_address(to)?;
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
        self.subscribe_inner(pattern, HostFilter::All)
    }

    /// Like [`Host::subscribe`], for a user interface: a plugin's events
    /// arrive only if it holds `ui:<topic>` (the host's own always do).
    /// `tauri-plugin-wasp` subscribes webviews this way.
    pub fn subscribe_ui(&self, pattern: &str) -> Result<Subscription, WireError> {
        self.subscribe_inner(pattern, HostFilter::Ui)
    }

    /// Checks that `plugin` may do `kind` on `target`, as its host calls
    /// would be checked: a plugin may always message itself and the other
    /// components of its hybrid. A refusal is audited against the plugin.
    fn check_acting(&self, plugin: &str, kind: &str, target: &str) -> Result<(), WireError> {
        let route = self.route(plugin).map_err(|e| e.to_wire())?;
        let own = matches!(kind, "send" | "request")
            && (target == plugin || route.family.as_ref().is_some_and(|f| f.is_sibling(plugin, target)));
        // A panel may listen to its plugin's own topics as well as those it subscribes to.
        let listens = kind == "subscribe" && route.grants.allows_parts("publish", Some(target));
        if own || listens || route.grants.allows_parts(kind, Some(target)) {
            return Ok(());
        }
        let wanted = Permission::from_parts(kind, Some(target)).unwrap_or(Permission::Log);
        let err = WireError::new(
            ErrorCode::PermissionDenied,
            format!("plugin `{plugin}` lacks the permission `{wanted}` (asked by its UI)"),
        )
        .with_context(wanted.to_string());
        self.audit(plugin, AuditKind::PermissionDenied { permission: wanted }, err.message.clone());
        Err(err)
    }

    /// [`Host::request`] on behalf of `plugin` — for its UI panel: checked
    /// against the plugin's permissions (`request:<to>`, its own address
    /// always allowed), and seen by `to` as coming from `plugin`.
    pub async fn request_as(
        &self,
        plugin: &str,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, WireError> {
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        self.check_acting(plugin, "request", to)?;
        let broker = &self.inner.broker;
        let timeout = timeout.unwrap_or(self.inner.limits.request_timeout);
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let rx = broker.start_request(Arc::from(plugin), to, topic, payload, timeout);
        Broker::await_answer(rx, to, timeout).await
    }

    /// [`Host::send`] on behalf of `plugin` (`send:<to>`).
    pub fn send_as(&self, plugin: &str, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        self.check_acting(plugin, "send", to)?;
        self.inner.broker.send_from(Arc::from(plugin), to, topic, payload)
    }

    /// [`Host::publish`] on behalf of `plugin` (`publish:<topic>`).
    pub fn publish_as(&self, plugin: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(topic, &payload)?;
        self.check_acting(plugin, "publish", topic)?;
        self.inner.broker.publish_from(plugin, topic, payload);
        Ok(())
    }

    /// [`Host::subscribe`] on behalf of `plugin`: it needs `subscribe:` or
    /// `publish:` for the pattern (a panel may follow its plugin's own topics).
    pub fn subscribe_as(&self, plugin: &str, pattern: &str) -> Result<Subscription, WireError> {
        validate_topic(pattern).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad pattern: {e}")))?;
        self.check_acting(plugin, "subscribe", pattern)?;
        // Checked again on every event: a revoked grant ends the flow.
        self.subscribe_inner(pattern, HostFilter::AsPlugin(Arc::from(plugin)))
    }

    fn subscribe_inner(&self, pattern: &str, filter: HostFilter) -> Result<Subscription, WireError> {
        validate_topic(pattern).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad pattern: {e}")))?;
        let (capacity, bytes) = (self.inner.event_capacity, self.inner.event_bytes);
        let (id, rx, budget) = self.inner.broker.subscribe_host(pattern, capacity, bytes, filter);
        Ok(Subscription { id, rx, budget, broker: Arc::downgrade(&self.inner.broker) })
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
                let lines = self.inner.broker.log_rate_of(r.key());
                PluginInfo {
                    name: r.key().to_string(),
                    kind: r.kind,
                    version: r.version.to_string(),
                    state: c.state(),
                    quarantine_reason: lock(&c.quarantine_reason).clone(),
                    permissions: r.grants.list().iter().map(ToString::to_string).collect(),
                    exceptions: r.grants.exceptions().iter().map(ToString::to_string).collect(),
                    has_ui: r.manifest.ui.is_some(),
                    queued: r.mailbox.messages() as u64,
                    queued_bytes: r.mailbox.bytes() as u64,
                    instances: r.pool.as_ref().map_or(1, |p| p.size()),
                    idle_instances: r.pool.as_ref().map(|p| p.idle()),
                    // Acquire: what the actor counted before `handled` (actor.rs) is seen.
                    handled: c.handled.load(Ordering::Acquire),
                    faults: load(&c.faults),
                    restarts: load(&c.restarts),
                    refused: load(&c.refused),
                    expired: load(&c.expired),
                    denied: load(&c.denied),
                    violations: load(&c.violations),
                    dropped: load(&c.dropped),
                    busy_micros: load(&c.busy_nanos) / 1000,
                    memory_bytes: load(&c.memory),
                    memory_peak_bytes: load(&c.memory_peak),
                    log_lines: lines.as_ref().map_or(0, |l| l.written()),
                    log_lines_dropped: lines.as_ref().map_or(0, |l| l.dropped()),
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Host-wide counters, and every plugin's.
    pub fn metrics(&self) -> HostMetrics {
        let mut metrics = self.inner.broker.counters.snapshot(self.plugins());
        metrics.audit_log_bytes = self.inner.broker.audit.bytes() as u64;
        metrics
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Refuses an address that is neither `host` nor a valid plugin name before
/// anything is looked up or checked with it (a page may send anything).
fn check_address(to: &str) -> Result<(), WireError> {
    Address::parse(to).map(drop).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad address: {e}")))
}

/// Finds the manifest, the entry file and, when there is a manifest file,
/// the bundle's seal (what its signature covers) for [`Host::load`].
async fn locate(path: &Path) -> Result<(Manifest, PathBuf, Option<Seal>), Error> {
    let is_dir = tokio::fs::metadata(path).await.map(|m| m.is_dir()).unwrap_or(false);
    let manifest_path = if is_dir {
        Some(path.join(FILE_NAME))
    } else if path.extension().is_some_and(|e| e == "toml") {
        Some(path.to_owned())
    } else {
        None
    };
    if let Some(manifest_path) = manifest_path {
        let (manifest, seal) = read_manifest(manifest_path).await?;
        if manifest.kind == ManifestKind::Hybrid {
            let dir = manifest.dir.clone().unwrap_or_default();
            return Ok((manifest, dir, Some(seal)));
        }
        let entry = manifest.entry_path().ok_or_else(|| {
            Error::Runtime(wasp_runtime::Error::Internal(format!(
                "manifest of `{}` names no entry file",
                manifest.name
            )))
        })?;
        return Ok((manifest, entry, Some(seal)));
    }
    let beside = path.parent().map(|dir| dir.join(FILE_NAME));
    if let Some(beside) = beside
        && tokio::fs::try_exists(&beside).await.unwrap_or(false)
    {
        let (manifest, seal) = read_manifest(beside).await?;
        let same = |p: &Path| p.file_name() == path.file_name();
        if manifest.entry.as_deref().is_some_and(same) {
            return Ok((manifest, path.to_owned(), Some(seal)));
        }
    }
    let native = path.extension().is_some_and(|e| e == "so" || e == "dll" || e == "dylib");
    let mut stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    if native && let Some(bare) = stem.strip_prefix(std::env::consts::DLL_PREFIX).filter(|s| !s.is_empty()) {
        stem = bare.to_owned();
    }
    let mut manifest =
        Manifest::new(&stem).map_err(|e| Error::InvalidName { name: stem.clone(), reason: e.message })?;
    manifest.kind = if native { ManifestKind::Native } else { ManifestKind::Wasm };
    Ok((manifest, path.to_owned(), None))
}

/// Reads a plugin's entry file: a regular file within the size limit of
/// its kind, read within `load_timeout`.
async fn read_entry(plugin: &str, entry: &Path, kind: ManifestKind, limits: &Limits) -> Result<Vec<u8>, Error> {
    let (limit, limit_name) = match kind {
        ManifestKind::Native => (limits.max_native_size, "max_native_size"),
        _ => (limits.max_module_size, "max_module_size"),
    };
    let read = wasp_runtime::read_plugin_file_async(entry, limit as u64, limit_name);
    match tokio::time::timeout(limits.load_timeout, read).await {
        Ok(bytes) => Ok(bytes?),
        Err(_) => {
            Err(wasp_runtime::Error::LoadTimedOut { plugin: plugin.to_owned(), limit: limits.load_timeout }.into())
        }
    }
}

/// `path` made absolute against the working directory, so a later reload
/// finds it wherever the process has moved.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Reads a manifest file with its seal (see [`read_bundle_manifest`]).
async fn read_manifest(path: PathBuf) -> Result<(Manifest, Seal), Error> {
    tokio::task::spawn_blocking(move || read_bundle_manifest(&path))
        .await
        .map_err(|e| Error::Actor(format!("manifest task failed: {e}")))?
        .map_err(Error::from)
}

/// A plugin's identity: its code's, known by its publisher when trusted.
fn with_publisher(code: Identity, publisher: Option<wasp_runtime::signature::PublisherKey>) -> Identity {
    match publisher {
        Some(key) => code.signed_by(key),
        None => code,
    }
}
