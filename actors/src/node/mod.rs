//! Native plugins out of process: each runs in a child `wasp-node` process,
//! reached through `ractor_cluster` (ractor's distributed actors over TCP on
//! loopback), so a crash or an abort in the plugin ends only that process.
//!
//! The host side of one plugin is a `NodeInstance` (what the plugin's
//! actor holds, in place of an in-process instance) and a gateway actor
//! through which the plugin's host calls come back to the broker. The
//! [`wire`] module is the protocol both sides speak, from `wasp-cluster`
//! (which the `wasp-node` crate, the other side, shares without linking
//! the host). See `docs/distributed.md`.
//!
//! Only with the `out-of-process` feature (ractor's `cluster`); without it
//! only the configuration (`NodeConfig`) remains, and a plugin it names is refused at load.

#[cfg(feature = "out-of-process")]
pub use wasp_cluster::{doorman, wire};

#[cfg(feature = "out-of-process")]
mod gateway;
#[cfg(feature = "out-of-process")]
mod process;

#[cfg(feature = "out-of-process")]
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
#[cfg(feature = "out-of-process")]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(feature = "out-of-process")]
use std::sync::{Arc, OnceLock};

#[cfg(feature = "out-of-process")]
use ractor::ActorRef;
#[cfg(feature = "out-of-process")]
use ractor_cluster::NodeServerMessage;
#[cfg(feature = "out-of-process")]
use wasp_protocol::{ApiVersion, ErrorCode, WireError};
#[cfg(feature = "out-of-process")]
use wasp_runtime::{
    Error as RuntimeError, Inbound, PluginEnv, RemoteFuture, RemoteImage, RemoteInstance, ReplyTo, Unloaded,
};

#[cfg(feature = "out-of-process")]
use self::process::Process;
#[cfg(feature = "out-of-process")]
use self::wire::{Delivery, Handled, NodeMsg};

/// Which native plugins run out of process, and with which `wasp-node`.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeConfig {
    /// Plugin names that run in a `wasp-node`.
    pub(crate) names: HashSet<String>,
    /// Every native plugin runs in a `wasp-node`.
    pub(crate) all: bool,
    /// The `wasp-node` executable; `None`: [`default_binary`].
    pub(crate) binary: Option<PathBuf>,
    /// Plugins that run in a node someone else started, by address.
    pub(crate) remote: HashMap<String, std::net::SocketAddr>,
    /// The cluster's cookie; `None`: a fresh random one.
    pub(crate) cookie: Option<String>,
}

impl NodeConfig {
    pub(crate) fn isolates(&self, name: &str) -> bool {
        self.all || self.names.contains(name) || self.remote.contains_key(name)
    }
}

#[cfg(feature = "out-of-process")]
/// Where the host looks for `wasp-node` when none was configured: the
/// `WASP_NODE` environment variable, else beside the running executable.
pub(crate) fn default_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WASP_NODE") {
        return PathBuf::from(path);
    }
    let name = format!("wasp-node{}", std::env::consts::EXE_SUFFIX);
    match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(name),
        Err(_) => PathBuf::from(name),
    }
}

#[cfg(feature = "out-of-process")]
/// The host's end of the cluster: one `NodeServer`, started with the first
/// node, and the cookie every node of this host must present.
pub(crate) struct Cluster {
    binary: PathBuf,
    cookie: String,
    server: tokio::sync::OnceCell<ActorRef<NodeServerMessage>>,
    /// Whether the host offers outbound HTTP (a node offers it too).
    http: bool,
}

#[cfg(feature = "out-of-process")]
impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("binary", &self.binary).finish_non_exhaustive()
    }
}

#[cfg(feature = "out-of-process")]
impl Cluster {
    pub(crate) fn new(binary: PathBuf, cookie: Option<String>, http: bool) -> Result<Self, crate::Error> {
        let cookie = match cookie {
            Some(cookie) => cookie,
            None => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| crate::Error::Environment(format!("no randomness for the node cookie: {e}")))?;
                secret.iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        Ok(Self { binary, cookie, server: tokio::sync::OnceCell::new(), http })
    }

    async fn server(&self) -> Result<ActorRef<NodeServerMessage>, RuntimeError> {
        self.server
            .get_or_try_init(|| async {
                let server = ractor_cluster::NodeServer::new(
                    0,
                    self.cookie.clone(),
                    // Unique per host: several hosts may share a process.
                    format!("wasp-host-{}", self.token()),
                    "127.0.0.1".into(),
                    None,
                    None,
                )
                .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
                // A reply may be as large as a plugin's messages may be.
                .with_max_inbound_frame_size(wire::MAX_FRAME);
                let (server, _) = ractor::Actor::spawn(None, server, ())
                    .await
                    .map_err(|e| RuntimeError::Internal(format!("cannot start the cluster's node server: {e}")))?;
                // A host dials its nodes; nothing may dial it.
                doorman::Doorman::guard(&server, doorman::Inbound::Refuse);
                Ok(server)
            })
            .await
            .cloned()
    }

    /// A name for one node, unique in this process: `ractor::pg` groups
    /// are process-wide, shared by every host of the process.
    fn token(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(feature = "out-of-process")]
/// A native library that runs in a `wasp-node`: what the host keeps of it
/// (its bytes, checked but never loaded here).
pub(crate) struct NodeImage {
    pub(crate) name: String,
    pub(crate) file_name: String,
    pub(crate) library: Arc<Vec<u8>>,
    pub(crate) abi: OnceLock<ApiVersion>,
    pub(crate) cluster: Arc<Cluster>,
    /// A node someone else started, at this address; `None`: a child.
    pub(crate) remote: Option<std::net::SocketAddr>,
}

#[cfg(feature = "out-of-process")]
impl std::fmt::Debug for NodeImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeImage").field("name", &self.name).field("abi", &self.abi.get()).finish_non_exhaustive()
    }
}

#[cfg(feature = "out-of-process")]
/// Requests the plugin has been handed and not answered yet, by id.
pub(crate) type Pending = Arc<Mutex<HashMap<u64, ReplyTo>>>;

#[cfg(feature = "out-of-process")]
/// Answers every request in `pending` with `error`.
pub(crate) fn fail_all(pending: &Pending, error: &WireError) {
    let drained: Vec<ReplyTo> = pending.lock().drain().map(|(_, r)| r).collect();
    for reply in drained {
        reply.send(Err(error.clone()));
    }
}

#[cfg(feature = "out-of-process")]
impl RemoteImage for NodeImage {
    fn kind(&self) -> wasp_runtime::PluginKind {
        wasp_runtime::PluginKind::Native
    }

    fn abi_version(&self) -> Option<ApiVersion> {
        self.abi.get().copied()
    }

    fn instantiate(
        &self,
        env: PluginEnv,
        restored: Option<Vec<u8>>,
    ) -> RemoteFuture<'_, Result<Box<dyn RemoteInstance>, RuntimeError>> {
        Box::pin(async move {
            let image = Arc::new(NodeImage {
                name: self.name.clone(),
                file_name: self.file_name.clone(),
                library: self.library.clone(),
                abi: self.abi.clone(),
                cluster: self.cluster.clone(),
                remote: self.remote,
            });
            let shared = Shared {
                pending: Pending::default(),
                quarantined: Arc::new(AtomicBool::new(false)),
                notify: Arc::default(),
            };
            let (process, abi) = Process::spawn(&image, &env, &shared, restored).await?;
            let _ = image.abi.set(abi);
            let _ = self.abi.set(abi);
            let sent = env.grants.revision();
            Ok(Box::new(NodeInstance { image, env, process: Some(process), shared, sent_grants: sent })
                as Box<dyn RemoteInstance>)
        })
    }
}

#[cfg(feature = "out-of-process")]
/// What the instance shares with its gateway and its process watcher.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) pending: Pending,
    pub(crate) quarantined: Arc<AtomicBool>,
    /// Told when the process ends by itself.
    pub(crate) notify: Arc<Mutex<Option<Notify>>>,
}

#[cfg(feature = "out-of-process")]
/// What to call, with how it ended, when a node's process ends by itself.
pub(crate) type Notify = Arc<dyn Fn(String) + Send + Sync>;

#[cfg(feature = "out-of-process")]
/// One plugin instance in a `wasp-node`, as its actor sees it.
pub(crate) struct NodeInstance {
    image: Arc<NodeImage>,
    env: PluginEnv,
    process: Option<Process>,
    shared: Shared,
    /// The grants revision the node last heard of.
    sent_grants: u64,
}

#[cfg(feature = "out-of-process")]
impl std::fmt::Debug for NodeInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeInstance")
            .field("plugin", &self.env.name)
            .field("pid", &self.process.as_ref().and_then(Process::pid))
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "out-of-process")]
impl NodeInstance {
    fn crashed(&self, how: &str) -> RuntimeError {
        RuntimeError::Remote {
            plugin: self.env.name.to_string(),
            code: ErrorCode::PluginCrashed,
            message: how.to_owned(),
        }
    }

    fn gone(&self) -> RuntimeError {
        self.crashed("its node process is gone")
    }

    async fn handle_inner(&mut self, msg: Inbound) -> Result<(), RuntimeError> {
        let Some(process) = &self.process else {
            if let Some(reply) = msg.reply {
                reply.send(Err(self.gone().to_wire()));
            }
            return Err(self.gone());
        };
        let (revision, granted) = self.env.grants.snapshot();
        let grants = (revision != self.sent_grants).then(|| (*granted).clone());
        self.sent_grants = revision;
        let delivery = Delivery {
            kind: msg.kind,
            id: msg.id,
            from: msg.from.to_string(),
            topic: msg.topic.to_string(),
            payload: msg.payload.into(),
            wants_reply: msg.reply.is_some(),
            deadline_ms: msg
                .deadline
                .map(|d| d.saturating_duration_since(std::time::Instant::now()).as_millis() as u64),
            grants,
        };
        if let Some(reply) = msg.reply {
            self.shared.pending.lock().insert(msg.id, reply);
        }
        let bytes = wire::encode(&delivery);
        let handled: Handled = match process.call(|port| NodeMsg::Deliver(bytes, port)).await {
            Ok(reply) => wire::decode("handled", &reply).map_err(|e| self.crashed(&e.message))?,
            Err(how) => {
                // The process ended mid-message: what it held is answered.
                fail_all(&self.shared.pending, &self.crashed(&how).to_wire());
                return Err(self.crashed(&how));
            }
        };
        gateway::resolve(&self.shared.pending, handled.answers);
        match handled.fault {
            None => Ok(()),
            Some(fault) => Err(RuntimeError::Remote {
                plugin: self.env.name.to_string(),
                code: fault.code,
                message: fault.message,
            }),
        }
    }

    async fn unload_inner(&mut self) -> Result<Unloaded, RuntimeError> {
        let Some(process) = &self.process else { return Err(self.gone()) };
        let reply = process.call(|port| NodeMsg::Unload(Vec::new(), port)).await.map_err(|how| self.crashed(&how))?;
        let unloaded: wire::Unloaded = wire::decode("unload answer", &reply).map_err(|e| self.crashed(&e.message))?;
        match unloaded {
            Ok(state) => Ok(state.map(|s| s.map(serde_bytes::ByteBuf::into_vec))),
            Err(fault) => Err(RuntimeError::Remote {
                plugin: self.env.name.to_string(),
                code: fault.code,
                message: fault.message,
            }),
        }
    }

    async fn recycle_inner(&mut self) -> Result<(), RuntimeError> {
        if let Some(process) = self.process.take() {
            process.kill().await;
        }
        fail_all(&self.shared.pending, &self.crashed("the plugin was restarted").to_wire());
        self.shared.quarantined.store(false, Ordering::Release);
        let (process, _) = Process::spawn(&self.image, &self.env, &self.shared, None).await?;
        self.sent_grants = self.env.grants.revision();
        self.process = Some(process);
        Ok(())
    }
}

#[cfg(feature = "out-of-process")]
impl RemoteInstance for NodeInstance {
    fn handle(&mut self, msg: Inbound) -> RemoteFuture<'_, Result<(), RuntimeError>> {
        Box::pin(self.handle_inner(msg))
    }

    fn unload(&mut self) -> RemoteFuture<'_, Result<Unloaded, RuntimeError>> {
        Box::pin(self.unload_inner())
    }

    fn recycle(&mut self) -> RemoteFuture<'_, Result<(), RuntimeError>> {
        Box::pin(self.recycle_inner())
    }

    fn quarantined(&self) -> bool {
        self.shared.quarantined.load(Ordering::Acquire)
    }

    fn abandon(&mut self) {
        let error = WireError::new(ErrorCode::Unavailable, format!("plugin `{}` was stopped", self.env.name));
        fail_all(&self.shared.pending, &error);
        if let Some(process) = self.process.take() {
            process.kill_now();
        }
    }

    fn image(&self) -> Arc<dyn RemoteImage> {
        self.image.clone()
    }

    fn on_exit(&mut self, notify: Notify) {
        *self.shared.notify.lock() = Some(notify);
    }

    fn exited(&self) -> Option<String> {
        match &self.process {
            Some(process) => process.exited(),
            None => Some("its node process is gone".into()),
        }
    }
}

#[cfg(feature = "out-of-process")]
impl Drop for NodeInstance {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill_now();
        }
    }
}
