//! [`HostBuilder`]: what a host is configured with, and building it.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(feature = "hot-reload")]
use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use wasp_protocol::{HOST, codec};
#[cfg(feature = "http")]
use wasp_runtime::services::http::HttpClient;
#[cfg(feature = "storage")]
use wasp_runtime::services::storage::Storage;
use wasp_runtime::{Engine, EngineOptions, Libraries, Library, Limits, ModuleCache, Pool, Schedule, Services};

use crate::broker::Broker;
use crate::decisions::Decisions;
use crate::policy::Policy;
use crate::{Error, Supervision};

use super::{Host, Inner};

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
/// | [`pooling_allocator`](HostBuilder::pooling_allocator) | 1,000 WASM instances, then on demand |
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

/// How long a plugin's files must be quiet before it reloads, by default
/// ([`HostBuilder::hot_reload_debounce`]).
const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(150);

/// The default size of the pooling allocator ([`HostBuilder::pooling_allocator`]).
const DEFAULT_POOL: u32 = 1000;

impl HostBuilder {
    /// Hot reload: every plugin loaded from a file or folder
    /// ([`Host::load`] of a path or a manifest, [`Host::load_all`]) is
    /// [watched](Host::watch), and reloaded when its module, library or
    /// `plugin.toml` changes. Off by default; [`Host::watch`] watches one
    /// plugin either way. Without the `hot-reload` feature,
    /// [`build`](HostBuilder::build) refuses a host with hot reload on.
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
    /// default; slower to compile and to run. Needs the `debugger` feature
    /// (on by default): without it, [`HostBuilder::build`] in debug mode
    /// fails with [`wasp_runtime::Error::FeatureDisabled`].
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
    pub fn pooling_allocator(mut self, total_instances: u32) -> Self {
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
    /// A Tauri app passes its app-data directory. Without the `storage`
    /// feature there is no database: decisions are kept in memory, and
    /// plugins asking for `storage` are refused at load.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Whether plugins may make outbound HTTP requests at all (each host
    /// still needs a `net:<host>` grant). On by default; without the `http`
    /// feature there is no client, and plugins asking for `net:` are
    /// refused at load.
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
    ///
    /// # Errors
    ///
    /// [`Error::Environment`] outside a multi-thread tokio runtime, an
    /// engine, library or database that cannot be made, and
    /// [`wasp_runtime::Error::FeatureDisabled`] for hot reload in a build
    /// without the `hot-reload` feature.
    pub fn build(self) -> Result<Host, Error> {
        if self.hot_reload {
            wasp_runtime::features::require_of(cfg!(feature = "hot-reload"), "hot-reload", || {
                "hot reload (`HostBuilder::hot_reload`)".to_owned()
            })?;
        }
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
        #[cfg(feature = "storage")]
        let storage = match &self.data_dir {
            Some(dir) => Some(Storage::open(&dir.join("wasp.redb")).map_err(|e| Error::Storage(e.to_string()))?),
            None => None,
        };
        #[cfg(feature = "http")]
        let http = if self.no_http { None } else { Some(HttpClient::new(self.limits.request_timeout)?) };
        #[cfg(feature = "storage")]
        let decisions = Decisions::new(storage.clone());
        #[cfg(not(feature = "storage"))]
        let decisions = Decisions::default();
        let services = Services {
            #[cfg(feature = "storage")]
            storage,
            #[cfg(feature = "http")]
            http,
            data_root: self.data_dir.as_ref().map(|d| d.join("plugins")),
        };
        let broker = Broker::new(self.limits.request_timeout, self.supervision);
        #[cfg(feature = "out-of-process")]
        let binary = self.nodes.binary.clone().unwrap_or_else(crate::node::default_binary);
        #[cfg(feature = "out-of-process")]
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
                debounce: self.debounce.unwrap_or(DEFAULT_DEBOUNCE),
                #[cfg(feature = "hot-reload")]
                watcher: OnceLock::new(),
                libraries,
                nodes: self.nodes,
                #[cfg(feature = "out-of-process")]
                cluster,
            }),
        })
    }
}

/// Reads and compiles the libraries of [`HostBuilder::library`] and
/// [`HostBuilder::libraries`], in the order given (a folder's files by name).
pub(super) fn compile_libraries(
    engine: &Engine,
    sources: &[(PathBuf, bool)],
    limits: &Limits,
) -> Result<Libraries, Error> {
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
