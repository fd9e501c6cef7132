//! The host's gateway for one node: the plugin's host calls come back
//! through it and meet the broker as if the plugin ran in process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::services::storage::Storage;
use wasp_runtime::{AuditEvent, Router, TimerSpec};

use super::wire::{self, Answers, GatewayMsg, RouteAnswer, RouteCall};
use super::{Pending, Shared, lock};

/// The actor; its state is [`GatewayState`].
pub(crate) struct Gateway;

/// The plugin it serves, and where its calls go.
pub(crate) struct GatewayState {
    pub(crate) name: Arc<str>,
    pub(crate) router: Arc<dyn Router>,
    pub(crate) shared: Shared,
    /// The host's store, and the plugin's quota in it.
    pub(crate) storage: Option<Storage>,
    pub(crate) quota: u64,
}

/// Hands the plugin's answers to the requests they answer.
pub(crate) fn resolve(pending: &Pending, answers: Answers) {
    for (id, answer) in answers {
        let reply = lock(pending).remove(&id);
        if let Some(reply) = reply {
            reply.send(answer.map(serde_bytes::ByteBuf::into_vec));
        }
    }
}

fn value<T: serde::Serialize>(v: &T) -> RouteAnswer {
    Ok(serde_bytes::ByteBuf::from(wire::encode(v)))
}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayState;

    async fn pre_start(&self, _: ActorRef<GatewayMsg>, args: GatewayState) -> Result<GatewayState, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        st: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GatewayMsg::Answer(bytes) => match wire::decode::<Answers>("answer", &bytes) {
                Ok(answers) => resolve(&st.shared.pending, answers),
                Err(e) => tracing::warn!(target: "wasp::node", plugin = %st.name, "{e}"),
            },
            GatewayMsg::Audit(bytes) => match wire::decode::<AuditEvent>("audit event", &bytes) {
                Ok(mut event) => {
                    // The node speaks for its own plugin only.
                    event.plugin = st.name.to_string();
                    if st.router.audit(event) {
                        st.shared.quarantined.store(true, Ordering::Release);
                    }
                }
                Err(e) => tracing::warn!(target: "wasp::node", plugin = %st.name, "{e}"),
            },
            GatewayMsg::Route(bytes, port) => st.route(&bytes, port),
        }
        Ok(())
    }
}

impl GatewayState {
    /// Serves one host call. A waited request is answered from a task, so
    /// the gateway keeps serving while the plugin waits.
    fn route(&self, bytes: &[u8], port: RpcReplyPort<Vec<u8>>) {
        let answer = |port: RpcReplyPort<Vec<u8>>, a: RouteAnswer| {
            let _ = port.send(wire::encode(&a));
        };
        let call = match wire::decode::<RouteCall>("host call", bytes) {
            Ok(call) => call,
            Err(e) => return answer(port, Err(e)),
        };
        let (from, router) = (&self.name, &self.router);
        let nil = || value(&());
        let result = match call {
            RouteCall::Send { to, topic, payload } => router.send(from, &to, &topic, payload).and_then(|()| nil()),
            RouteCall::Publish { topic, payload } => router.publish(from, &topic, payload).and_then(|()| nil()),
            RouteCall::Subscribe(pattern) => router.subscribe(from, &pattern).and_then(|()| nil()),
            RouteCall::Unsubscribe(pattern) => router.unsubscribe(from, &pattern).and_then(|()| nil()),
            RouteCall::Request { to, topic, payload, timeout_ms, wait: false } => router
                .request_async(from, &to, &topic, payload, timeout_ms.map(Duration::from_millis))
                .and_then(|id| value(&id)),
            RouteCall::Request { to, topic, payload, timeout_ms, wait: true } => {
                let fut = router.request(from, &to, &topic, payload, timeout_ms.map(Duration::from_millis));
                tokio::spawn(async move {
                    answer(port, fut.await.map(serde_bytes::ByteBuf::from));
                });
                return;
            }
            RouteCall::SetTimer { period_ms, repeat, topic, payload, max_timers } => {
                let spec = TimerSpec {
                    period: Duration::from_millis(period_ms),
                    repeat,
                    topic,
                    payload,
                    max_timers: usize::try_from(max_timers).unwrap_or(usize::MAX),
                };
                router.set_timer(from, spec).and_then(|id| value(&id))
            }
            RouteCall::CancelTimer(id) => value(&router.cancel_timer(from, id)),
            RouteCall::Storage { service, payload } => {
                let served = match self.storage.clone() {
                    Some(storage) => {
                        wasp_runtime::services::serve_storage(storage, from.clone(), self.quota, &service, &payload)
                    }
                    None => Err(WireError::new(
                        ErrorCode::Unavailable,
                        format!("{service}: this host keeps no plugin storage (it was built without a data directory)"),
                    )),
                };
                match served {
                    Ok(fut) => {
                        tokio::spawn(async move { answer(port, fut.await.map(serde_bytes::ByteBuf::from)) });
                    }
                    Err(e) => answer(port, Err(e)),
                }
                return;
            }
        };
        answer(port, result);
    }
}
