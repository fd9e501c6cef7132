//! One `wasp-node` child process: started, connected to, watched, killed.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorId, ActorRef, MessagingErr, RpcReplyPort, rpc::CallResult};
use ractor_cluster::NodeServerMessage;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, watch};
use wasp_protocol::{ApiVersion, ErrorCode, WireError};
use wasp_runtime::{Error as RuntimeError, PluginEnv};

use super::gateway::{Gateway, GatewayState};
use super::wire::{self, GatewayMsg, NodeMsg, Start, Started, WireLimits};
use super::{NodeImage, Notify, Pending, Shared, fail_all};

/// What happens when a node's process ends (or its connection is lost).
struct Exit {
    pending: Pending,
    notify: Arc<parking_lot::Mutex<Option<Notify>>>,
    gateway: ActorRef<GatewayMsg>,
}

impl Exit {
    /// Answers what the plugin held, stops its gateway, and (when it ended
    /// by itself) tells the plugin's actor.
    fn ended(self, plugin: &str, how: String, by_itself: bool, exited: &watch::Sender<Option<String>>) {
        let _ = exited.send(Some(how.clone()));
        let crashed = RuntimeError::Remote { plugin: plugin.to_owned(), code: ErrorCode::PluginCrashed, message: how };
        fail_all(&self.pending, &crashed.to_wire());
        self.gateway.stop(None);
        if by_itself {
            let notify = self.notify.lock().clone();
            if let Some(notify) = notify {
                notify(crashed.to_string());
            }
        }
    }
}

/// How long a node may take to start listening, and to be found.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running node, as the host holds it. Dropping it kills the process.
pub(crate) struct Process {
    node: ActorRef<NodeMsg>,
    pid: Option<u32>,
    exited: watch::Receiver<Option<String>>,
    kill: Option<oneshot::Sender<()>>,
}

fn failed(name: &str, message: String) -> RuntimeError {
    RuntimeError::Remote { plugin: name.to_owned(), code: ErrorCode::Unavailable, message }
}

impl Process {
    /// Starts a node for `image`, connects to it, and starts the plugin in
    /// it (its `on_load` runs there). Returns the library's ABI version.
    pub(crate) async fn spawn(
        image: &Arc<NodeImage>,
        env: &PluginEnv,
        shared: &Shared,
        restored: Option<Vec<u8>>,
    ) -> Result<(Self, ApiVersion), RuntimeError> {
        let name = &*env.name;
        let cluster = &image.cluster;
        let token = cluster.token();
        let key = wire::new_key().map_err(|e| failed(name, e.message))?;
        let state = GatewayState {
            name: env.name.clone(),
            router: env.router.clone(),
            shared: shared.clone(),
            storage: env.services.storage.clone(),
            quota: env.limits.storage_quota,
            timer_bytes: env.limits.timer_bytes,
            max_timers: env.limits.max_timers,
            max_message_size: env.limits.max_message_size,
            log_rate: env.log_rate.clone(),
            grants: env.grants.clone(),
            family: env.family.clone(),
            key: key.clone(),
        };
        let (gateway, _) = Actor::spawn(None, Gateway, state)
            .await
            .map_err(|e| failed(name, format!("cannot start its gateway: {e}")))?;
        ractor::pg::join(wire::gateway_group(&token), vec![gateway.get_cell()]);
        let exit = Exit { pending: shared.pending.clone(), notify: shared.notify.clone(), gateway: gateway.clone() };
        let connected = match image.remote {
            None => Self::launch(image, env, &token, exit).await,
            Some(addr) => Self::attach(image, env, addr, exit).await,
        };
        let started = match connected {
            Ok(process) => process.start(image, env, &token, key, restored).await,
            Err(e) => Err(e),
        };
        if started.is_err() {
            gateway.stop(None);
        }
        started
    }

    /// Starts a child `wasp-node` and connects to it.
    async fn launch(image: &Arc<NodeImage>, env: &PluginEnv, token: &str, exit: Exit) -> Result<Self, RuntimeError> {
        let name = &*env.name;
        let cluster = &image.cluster;
        let mut child = tokio::process::Command::new(&cluster.binary)
            .arg("--token")
            .arg(token)
            .arg("--watch-stdin")
            .env(wire::COOKIE_ENV, &cluster.cookie)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(name, format!("cannot start `{}`: {e}", cluster.binary.display())))?;
        let pid = child.id();
        let stdout = child.stdout.take();
        // The node exits when this pipe closes: the host went away.
        let stdin = child.stdin.take();
        let listening = async {
            let mut lines = BufReader::new(stdout?).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix(wire::LISTENING) {
                    return Some((addr.trim().parse::<std::net::SocketAddr>().ok()?, lines));
                }
            }
            None
        };
        let addr = match tokio::time::timeout(START_TIMEOUT, listening).await {
            Ok(Some((addr, mut lines))) => {
                // What the plugin prints goes on being read (a closed pipe
                // would make its next `println!` panic), into the log.
                let plugin = env.name.clone();
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::info!(target: "wasp::node", plugin = %plugin, "{line}");
                    }
                });
                addr
            }
            Ok(None) => {
                let status = child.wait().await.ok();
                return Err(failed(name, format!("its node did not start ({})", describe(status))));
            }
            Err(_) => return Err(failed(name, "its node did not start listening in time".into())),
        };
        let server = cluster.server().await?;
        ractor_cluster::client_connect(&server, addr)
            .await
            .map_err(|e| failed(name, format!("cannot connect to its node at {addr}: {e}")))?;
        let group = wire::node_group(token);
        let since = Instant::now();
        let cell = loop {
            if let Some(cell) = member_at(&server, &group, addr).await {
                break cell;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(failed(name, format!("its node ended before it joined ({})", describe(Some(status)))));
            }
            if since.elapsed() > START_TIMEOUT {
                return Err(failed(name, format!("its node at {addr} never joined the cluster")));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let node: ActorRef<NodeMsg> = cell.into();
        let (exited_tx, exited) = watch::channel(None);
        let (kill, killed) = oneshot::channel::<()>();
        let plugin = env.name.clone();
        tokio::spawn(async move {
            let (reason, by_itself) = tokio::select! {
                status = child.wait() => (describe(status.ok()), true),
                _ = killed => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    ("it was stopped by the host".to_owned(), false)
                }
            };
            drop(stdin);
            tracing::warn!(target: "wasp::node", plugin = %plugin, pid = ?pid, "its node process ended: {reason}");
            exit.ended(&plugin, format!("its node process ended: {reason}"), by_itself, &exited_tx);
        });
        Ok(Self { node, pid, exited, kill: Some(kill) })
    }

    /// Connects to a `wasp-node` someone else started, at `addr`, that was
    /// given the plugin's name as its token.
    async fn attach(
        image: &Arc<NodeImage>,
        env: &PluginEnv,
        addr: std::net::SocketAddr,
        exit: Exit,
    ) -> Result<Self, RuntimeError> {
        let name = &*env.name;
        let group = wire::node_group(name);
        let server = image.cluster.server().await?;
        if member_at(&server, &group, addr).await.is_none() {
            ractor_cluster::client_connect(&server, addr)
                .await
                .map_err(|e| failed(name, format!("cannot connect to its node at {addr}: {e}")))?;
        }
        let since = Instant::now();
        let cell = loop {
            if let Some(cell) = member_at(&server, &group, addr).await {
                break cell;
            }
            if since.elapsed() > START_TIMEOUT {
                return Err(failed(name, format!("no node with token `{name}` joined from {addr}")));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let node: ActorRef<NodeMsg> = cell.into();
        let (exited_tx, exited) = watch::channel(None);
        let (kill, killed) = oneshot::channel::<()>();
        let plugin = env.name.clone();
        let stop = node.clone();
        tokio::spawn(async move {
            // The node's actor leaves its group when the connection closes.
            // Gone for 200 ms: a group can be empty for a moment while
            // ractor_cluster resynchronises it.
            let lost = async {
                let mut missing = 0;
                while missing < 10 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    missing = if member_at(&server, &group, addr).await.is_none() { missing + 1 } else { 0 };
                }
            };
            let (how, by_itself) = tokio::select! {
                () = lost => (format!("the connection to its node at {addr} was lost"), true),
                _ = killed => {
                    let _ = stop.cast(NodeMsg::Stop(Vec::new()));
                    ("it was stopped by the host".to_owned(), false)
                }
            };
            tracing::warn!(target: "wasp::node", plugin = %plugin, %addr, "{how}");
            exit.ended(&plugin, how, by_itself, &exited_tx);
        });
        Ok(Self { node, pid: None, exited, kill: Some(kill) })
    }

    /// Starts the plugin in the connected node (its `on_load` runs there).
    async fn start(
        self,
        image: &Arc<NodeImage>,
        env: &PluginEnv,
        token: &str,
        key: String,
        restored: Option<Vec<u8>>,
    ) -> Result<(Self, ApiVersion), RuntimeError> {
        let name = &*env.name;
        let cluster = &image.cluster;
        let process = self;
        let start = Start {
            gateway: wire::gateway_group(token),
            name: name.to_owned(),
            file_name: image.file_name.clone(),
            library: image.library.to_vec(),
            limits: WireLimits::from(&env.limits),
            grants: (*env.grants.snapshot().1).clone(),
            config: env.config.iter().map(|(k, v)| (k.clone(), serde_bytes::ByteBuf::from(v.clone()))).collect(),
            family: env
                .family
                .as_ref()
                .map(|f| (f.name().to_owned(), f.members().iter().map(|m| m.to_string()).collect())),
            restored: restored.map(serde_bytes::ByteBuf::from),
            http: cluster.http,
            data_root: env.services.data_root.as_ref().map(|p| p.to_string_lossy().into_owned()),
            key,
        };
        let bytes = wire::encode(&start);
        let reply = process.call(|port| NodeMsg::Start(bytes, port)).await.map_err(|how| RuntimeError::Remote {
            plugin: name.to_owned(),
            code: ErrorCode::PluginCrashed,
            message: how,
        })?;
        let started: Started = wire::decode("start answer", &reply).map_err(|e| failed(name, e.message))?;
        match started {
            Ok(abi) => Ok((process, abi)),
            Err(fault) if fault.code == ErrorCode::PluginCrashed || fault.code == ErrorCode::Unavailable => {
                Err(RuntimeError::Remote { plugin: name.to_owned(), code: fault.code, message: fault.message })
            }
            Err(fault) => Err(RuntimeError::LoadFailed {
                plugin: name.to_owned(),
                error: WireError::new(fault.code, fault.message),
            }),
        }
    }

    /// How the process ended, if it has.
    pub(crate) fn exited(&self) -> Option<String> {
        self.exited.borrow().clone()
    }

    /// The process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Calls the node's actor; `Err` says how the process ended meanwhile.
    pub(crate) async fn call(&self, msg: impl FnOnce(RpcReplyPort<Vec<u8>>) -> NodeMsg) -> Result<Vec<u8>, String> {
        let mut exited = self.exited.clone();
        let mut later = self.exited.clone();
        let call = self.node.call(msg, None);
        tokio::select! {
            biased;
            result = call => match result {
                Ok(CallResult::Success(reply)) => Ok(reply),
                other => {
                    // The session closed: the process is going; say how it went.
                    let how = tokio::time::timeout(Duration::from_secs(5), async {
                        later.wait_for(Option::is_some).await.map(|h| h.clone().unwrap_or_default())
                    })
                    .await;
                    match how {
                        Ok(Ok(how)) => Err(how),
                        _ => Err(match other {
                            Err(MessagingErr::SendErr(_)) | Err(MessagingErr::ChannelClosed) => "its node is unreachable".into(),
                            _ => "its node did not answer".into(),
                        }),
                    }
                }
            },
            how = async { exited.wait_for(Option::is_some).await.map(|h| h.clone().unwrap_or_default()) } => {
                Err(how.unwrap_or_default())
            }
        }
    }

    /// Kills the process and waits until it is gone.
    pub(crate) async fn kill(mut self) {
        let mut exited = self.exited.clone();
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let _ = exited.wait_for(Option::is_some).await;
    }

    /// Kills the process without waiting.
    pub(crate) fn kill_now(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

/// The member of `group` that lives on the node this host dialed at
/// `addr`, if it has joined. Any node holding the cookie may join any
/// group; only the one at the address the host connected to runs the
/// plugin.
async fn member_at(server: &ActorRef<NodeServerMessage>, group: &str, addr: std::net::SocketAddr) -> Option<ActorCell> {
    let members = ractor::pg::get_members(&group.to_owned());
    if members.is_empty() {
        return None;
    }
    let Ok(CallResult::Success(sessions)) = server.call(NodeServerMessage::GetSessions, None).await else {
        return None;
    };
    let here = addr.to_string();
    let nodes: Vec<_> = sessions.values().filter(|s| s.peer_addr == here).map(|s| s.node_id).collect();
    members.into_iter().find(|m| matches!(m.get_id(), ActorId::Remote { node_id, .. } if nodes.contains(&node_id)))
}

/// How a process ended, in words.
fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else { return "its exit status is unknown".into() };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                7 => " (SIGBUS)",
                4 => " (SIGILL)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        #[cfg(windows)]
        Some(code) if code as u32 == 0xC000_0005 => "access violation (0xC0000005)".into(),
        #[cfg(windows)]
        Some(code) if code as u32 == 0xC000_0409 => "fast fail / abort (0xC0000409)".into(),
        Some(code) => format!("exit code {code}"),
        None => "it ended".into(),
    }
}
