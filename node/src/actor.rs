//! The node's actor: owns the one plugin instance this process runs.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use wasp_cluster::wire::{self, Answers, Delivery, Fault, GatewayMsg, Handled, NodeMsg, Start, Started, Unloaded};
use wasp_protocol::ErrorCode;
use wasp_runtime::services::http::HttpClient;
use wasp_runtime::{
    Answer, Family, Grants, Inbound, Limits, NativeInstance, NativePlugin, PluginEnv, ReplyTo, Services,
};

use crate::router::NodeRouter;

/// How long a node looks for its host's gateway once asked to start.
const FIND_GATEWAY: Duration = Duration::from_secs(10);

/// The actor; its state is [`NodeState`].
pub(crate) struct NodeActor;

/// The instance, once started, and where its answers go.
pub(crate) struct NodeState {
    running: Option<Running>,
}

struct Running {
    instance: NativeInstance,
    grants: Grants,
    outbox: Outbox,
}

/// Where the plugin's answers go: into the reply to the message being
/// handled, or (a deferred answer given later) straight to the gateway.
#[derive(Clone)]
struct Outbox {
    gateway: ActorRef<GatewayMsg>,
    /// The instance's key, which the gateway asks of every document.
    key: Arc<str>,
    batch: Arc<Mutex<Option<Answers>>>,
}

impl Outbox {
    fn reply_to(&self, id: u64) -> ReplyTo {
        let outbox = self.clone();
        ReplyTo::new(move |answer: Answer| outbox.answer(id, answer))
    }

    fn answer(&self, id: u64, answer: Answer) {
        let answer = answer.map(serde_bytes::ByteBuf::from);
        let mut batch = self.batch.lock();
        match batch.as_mut() {
            Some(answers) => answers.push((id, answer)),
            None => {
                drop(batch);
                let answers = wire::encode(&vec![(id, answer)]);
                let _ = self.gateway.cast(GatewayMsg::Answer(wire::seal(&self.key, answers)));
            }
        }
    }

    fn open(&self) {
        *self.batch.lock() = Some(Vec::new());
    }

    fn close(&self) -> Answers {
        self.batch.lock().take().unwrap_or_default()
    }
}

fn fault(code: ErrorCode, message: impl Into<String>) -> Fault {
    Fault { code, message: message.into() }
}

impl Actor for NodeActor {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<NodeMsg>, (): ()) -> Result<NodeState, ActorProcessingErr> {
        Ok(NodeState { running: None })
    }

    async fn handle(&self, _: ActorRef<NodeMsg>, msg: NodeMsg, st: &mut NodeState) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::Start(bytes, port) => {
                let started: Started = st.start(&bytes).await;
                reply(port, &started);
            }
            NodeMsg::Deliver(bytes, port) => {
                let handled = st.deliver(&bytes).await;
                reply(port, &handled);
            }
            NodeMsg::Stop(_) => st.running = None,
            NodeMsg::Unload(_, port) => {
                let unloaded: Unloaded = match st.running.as_mut() {
                    None => Err(fault(ErrorCode::Unavailable, "the plugin has not started")),
                    Some(running) => match running.instance.unload().await {
                        Ok(state) => Ok(state.map(|s| s.map(serde_bytes::ByteBuf::from))),
                        Err(e) => Err(Fault::of(&e)),
                    },
                };
                reply(port, &unloaded);
            }
        }
        Ok(())
    }
}

fn reply<T: serde::Serialize>(port: RpcReplyPort<Vec<u8>>, value: &T) {
    let _ = port.send(wire::encode(value));
}

/// Finds the host's gateway for this instance among the cluster's groups.
async fn find_gateway(group: &str) -> Option<ActorCell> {
    let since = Instant::now();
    loop {
        if let Some(cell) = ractor::pg::get_members(&group.to_owned()).into_iter().next() {
            return Some(cell);
        }
        if since.elapsed() > FIND_GATEWAY {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl NodeState {
    async fn start(&mut self, bytes: &[u8]) -> Started {
        if self.running.is_some() {
            return Err(fault(ErrorCode::Internal, "this node already runs a plugin"));
        }
        let start: Start = wire::decode("start", bytes).map_err(|e| fault(e.code, e.message))?;
        let gateway: ActorRef<GatewayMsg> = find_gateway(&start.gateway)
            .await
            .ok_or_else(|| fault(ErrorCode::Unavailable, "this node cannot find its host's gateway"))?
            .into();
        let (name, file_name, library) = (start.name.clone(), start.file_name.clone(), start.library);
        let plugin = tokio::task::spawn_blocking(move || NativePlugin::open(&name, &file_name, &library))
            .await
            .map_err(|e| fault(ErrorCode::Internal, format!("the load task failed: {e}")))?
            .map_err(|e| Fault::of(&e))?;
        let limits = Limits::from(&start.limits);
        let http = if start.http { HttpClient::new(limits.request_timeout).ok() } else { None };
        let grants = Grants::from_set(start.grants);
        let key: Arc<str> = Arc::from(start.key.as_str());
        let router =
            Arc::new(NodeRouter { gateway: gateway.clone(), key: key.clone(), rt: tokio::runtime::Handle::current() });
        let log_rate = Arc::new(wasp_runtime::LogRate::new(limits.log_rate));
        let env = PluginEnv {
            name: Arc::from(start.name.as_str()),
            router,
            limits,
            grants: grants.clone(),
            // The plugin's key-value store is the host's database, which one
            // process holds: `kv.*` calls go to the host (`NodeRouter::storage`).
            services: Services { storage: None, http, data_root: start.data_root.map(Into::into) },
            config: Arc::new(start.config.into_iter().map(|(k, v)| (k, v.into_vec())).collect()),
            family: start.family.map(|(name, members)| Family::new(name, members)),
            // The host refuses out-of-process plugins that `use` libraries.
            libraries: Default::default(),
            log_rate,
        };
        let abi = plugin.abi_version();
        let restored = start.restored.map(serde_bytes::ByteBuf::into_vec);
        let instance = NativeInstance::new(plugin, env, restored.as_deref()).await.map_err(|e| Fault::of(&e))?;
        let outbox = Outbox { gateway, key, batch: Arc::default() };
        self.running = Some(Running { instance, grants, outbox });
        Ok(abi)
    }

    async fn deliver(&mut self, bytes: &[u8]) -> Handled {
        let Some(running) = self.running.as_mut() else {
            return Handled {
                answers: Vec::new(),
                fault: Some(fault(ErrorCode::Unavailable, "the plugin has not started")),
            };
        };
        let delivery: Delivery = match wire::decode("delivery", bytes) {
            Ok(d) => d,
            Err(e) => return Handled { answers: Vec::new(), fault: Some(fault(e.code, e.message)) },
        };
        if let Some(granted) = delivery.grants {
            running.grants.replace(granted);
        }
        let outbox = running.outbox.clone();
        outbox.open();
        let inbound = Inbound {
            kind: delivery.kind,
            id: delivery.id,
            from: Arc::from(delivery.from.as_str()),
            topic: Arc::from(delivery.topic.as_str()),
            payload: delivery.payload.into(),
            reply: delivery.wants_reply.then(|| outbox.reply_to(delivery.id)),
            deadline: delivery.deadline_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
        };
        let result = running.instance.handle(inbound).await;
        Handled { answers: outbox.close(), fault: result.err().map(|e| Fault::of(&e)) }
    }
}
