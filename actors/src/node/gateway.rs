//! The host's gateway for one node: the plugin's host calls come back
//! through it and meet the broker as if the plugin ran in process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::rules::{self, Call};
use wasp_runtime::services::storage::Storage;
use wasp_runtime::{AuditEvent, AuditKind, Family, Grants, LogAdmission, LogRate, Router, TimerSpec};

use super::wire::{self, Answers, GatewayMsg, RouteAnswer, RouteCall};
use super::{Pending, Shared};

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
    /// The payload bytes its timers may hold: the host's limit, whatever
    /// the node says.
    pub(crate) timer_bytes: usize,
    /// The most timers it may have active: the host's limit, whatever the
    /// node says.
    pub(crate) max_timers: usize,
    /// The largest payload it may send: the host's limit, whatever the
    /// node says.
    pub(crate) max_message_size: usize,
    /// The plugin's log-line budget: the lines written about what its node
    /// sends that cannot be opened are on it.
    pub(crate) log_rate: Arc<LogRate>,
    /// The plugin's live grants, checked again here.
    pub(crate) grants: Grants,
    /// For a component of a hybrid plugin, its family.
    pub(crate) family: Option<Family>,
    /// The instance's key ([`wire::Start::key`]): what lacks it is refused.
    pub(crate) key: String,
}

/// Hands the plugin's answers to the requests they answer. An error's text
/// is bounded here too ([`wasp_runtime::MAX_ERROR_TEXT`]): the node bounds
/// it already, and is not trusted to.
pub(crate) fn resolve(pending: &Pending, answers: Answers) {
    for (id, answer) in answers {
        let reply = pending.lock().remove(&id);
        if let Some(reply) = reply {
            reply
                .send(answer.map(serde_bytes::ByteBuf::into_vec).map_err(|e| wasp_runtime::bound_error(e, usize::MAX)));
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
            GatewayMsg::Answer(bytes) => match st.open::<Answers>("answer", &bytes) {
                Ok(answers) => resolve(&st.shared.pending, answers),
                Err(e) => st.refused(&e),
            },
            GatewayMsg::Audit(bytes) => match st.open::<AuditEvent>("audit event", &bytes) {
                Ok(mut event) => {
                    // The node speaks for its own plugin only.
                    event.plugin = st.name.to_string();
                    if st.router.audit(event) {
                        st.shared.quarantined.store(true, Ordering::Release);
                    }
                }
                Err(e) => st.refused(&e),
            },
            GatewayMsg::Route(bytes, port) => match wire::unseal(&st.key, "host call", &bytes) {
                Ok(call) => st.route(&call, port),
                Err(e) => {
                    st.refused(&e);
                    let _ = port.send(wire::encode(&RouteAnswer::Err(e)));
                }
            },
        }
        Ok(())
    }
}

impl GatewayState {
    /// Writes a line about a document from the node that was refused,
    /// within the plugin's log budget: a node sending garbage in a loop
    /// gets its lines dropped and one audited report a second.
    fn refused(&self, e: &WireError) {
        match self.log_rate.admit() {
            LogAdmission::Write => tracing::warn!(target: "wasp::node", plugin = %self.name, "{e}"),
            LogAdmission::Drop => {}
            LogAdmission::Report(n) => {
                let kind = AuditKind::LimitExceeded { limit: "log_rate".into() };
                let _ = self.router.audit(AuditEvent::new(&*self.name, kind, self.log_rate.report(&self.name, n)));
            }
        }
    }

    /// The document `bytes` seals with this instance's key, decoded.
    fn open<T: serde::de::DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T, WireError> {
        wire::decode(what, &wire::unseal(&self.key, what, bytes)?)
    }

    /// The form and the permission of a call, checked again on the host
    /// by the [`rules`] `HostCalls` applies in the node: the node checked
    /// them already, against the grants it was last sent; this catches a
    /// revocation since then, and a node that lies.
    fn permit(&self, call: &RouteCall) -> Result<(), WireError> {
        let max = self.max_message_size;
        let rule = match call {
            RouteCall::Send { to, topic, payload } | RouteCall::Request { to, topic, payload, .. } => {
                rules::check_address(to)?;
                rules::check_topic(topic)?;
                rules::check_size(payload, max)?;
                match call {
                    RouteCall::Send { .. } => Call::Send(to),
                    _ => Call::Request(to),
                }
            }
            RouteCall::Publish { topic, payload } => {
                rules::check_topic(topic)?;
                rules::check_size(payload, max)?;
                Call::Publish(topic)
            }
            RouteCall::Subscribe(pattern) => {
                rules::check_pattern(pattern)?;
                Call::Subscribe(pattern)
            }
            RouteCall::Unsubscribe(pattern) => {
                rules::check_pattern(pattern)?;
                Call::Unsubscribe
            }
            RouteCall::SetTimer { topic, .. } => {
                rules::check_topic(topic)?;
                Call::Timers
            }
            RouteCall::CancelTimer(_) => Call::Timers,
            RouteCall::Storage { .. } => Call::Storage,
        };
        if rules::allows(&self.grants, &self.name, self.family.as_ref(), rule) {
            return Ok(());
        }
        let (wanted, e) = rules::denied(&self.name, self.family.as_ref(), rule);
        let event = AuditEvent::new(&*self.name, AuditKind::PermissionDenied { permission: wanted }, e.message.clone());
        if self.router.audit(event) {
            self.shared.quarantined.store(true, Ordering::Release);
        }
        Err(e)
    }

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
        if let Err(e) = self.permit(&call) {
            return answer(port, Err(e));
        }
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
            // The node's own count of timers is not trusted: the host's limit applies.
            RouteCall::SetTimer { period_ms, repeat, topic, payload, max_timers: _ } => {
                let spec = TimerSpec {
                    period: Duration::from_millis(period_ms),
                    repeat,
                    topic,
                    payload: payload.into(),
                    max_timers: self.max_timers,
                    max_bytes: self.timer_bytes,
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

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use wasp_runtime::{Answer, BoxFuture};

    use super::*;

    /// A broker stand-in that records audit events and serves nothing.
    /// The audit events, and each timer's `(max_timers, max_bytes)`.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<AuditEvent>>, Mutex<Vec<(usize, usize)>>);

    impl Router for Recorder {
        fn send(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>) -> Result<(), WireError> {
            Ok(())
        }
        fn publish(&self, _: &Arc<str>, _: &str, _: Vec<u8>) -> Result<(), WireError> {
            Ok(())
        }
        fn subscribe(&self, _: &Arc<str>, _: &str) -> Result<(), WireError> {
            Ok(())
        }
        fn unsubscribe(&self, _: &Arc<str>, _: &str) -> Result<(), WireError> {
            Ok(())
        }
        fn request(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>, _: Option<Duration>) -> BoxFuture<Answer> {
            Box::pin(std::future::ready(Ok(Vec::new())))
        }
        fn request_async(
            &self,
            _: &Arc<str>,
            _: &str,
            _: &str,
            _: Vec<u8>,
            _: Option<Duration>,
        ) -> Result<u64, WireError> {
            Ok(1)
        }
        fn audit(&self, event: AuditEvent) -> bool {
            self.0.lock().push(event);
            true
        }
        fn set_timer(&self, _: &Arc<str>, spec: TimerSpec) -> Result<u64, WireError> {
            self.1.lock().push((spec.max_timers, spec.max_bytes));
            Ok(1)
        }
        fn cancel_timer(&self, _: &Arc<str>, _: u64) -> bool {
            false
        }
    }

    fn gateway(name: &str, family: Option<Family>, granted: &[&str]) -> (GatewayState, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let state = GatewayState {
            name: Arc::from(name),
            router: recorder.clone(),
            shared: Shared { pending: Pending::default(), quarantined: Arc::default(), notify: Arc::default() },
            storage: None,
            quota: 0,
            timer_bytes: 0,
            max_timers: 0,
            max_message_size: 1 << 20,
            log_rate: Arc::new(LogRate::new(2)),
            grants: Grants::new(granted.iter().map(|p| p.parse().expect("permission"))),
            family,
            key: "the instance's key".into(),
        };
        (state, recorder)
    }

    fn send(to: &str) -> RouteCall {
        RouteCall::Send { to: to.into(), topic: "t".into(), payload: Vec::new() }
    }

    #[test]
    fn the_host_checks_a_nodes_calls_again_and_audits_what_it_refuses() {
        let (gw, recorder) = gateway("p", None, &["send:echo", "storage"]);
        assert!(gw.permit(&send("echo")).is_ok());
        assert!(gw.permit(&RouteCall::Storage { service: "kv.get".into(), payload: Vec::new() }).is_ok());
        let err = gw.permit(&send("other")).expect_err("not granted");
        assert_eq!(err.code, ErrorCode::PermissionDenied);
        let err = gw.permit(&RouteCall::CancelTimer(1)).expect_err("not granted");
        assert_eq!(err.code, ErrorCode::PermissionDenied);
        let events = recorder.0.lock();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].plugin, "p");
        assert!(
            matches!(&events[0].kind, AuditKind::PermissionDenied { permission } if permission.to_string() == "send:other")
        );
        assert!(gw.shared.quarantined.load(Ordering::Acquire), "the host's verdict on quarantine is kept");
    }

    #[test]
    fn a_lying_node_cannot_forward_what_the_rules_refuse_in_process() {
        let (mut gw, _) = gateway("p", None, &["send:*", "publish:*", "request:*", "subscribe:*", "timers"]);
        gw.max_message_size = 8;
        let bad_topic = |topic: &str| RouteCall::Publish { topic: topic.into(), payload: Vec::new() };
        let refused = [
            (
                RouteCall::Send { to: "../etc".into(), topic: "t".into(), payload: Vec::new() },
                ErrorCode::InvalidArgument,
            ),
            (bad_topic("a\nb"), ErrorCode::InvalidArgument),
            (bad_topic(""), ErrorCode::InvalidArgument),
            (RouteCall::Subscribe(String::new()), ErrorCode::InvalidArgument),
            (RouteCall::Publish { topic: "t".into(), payload: vec![0; 9] }, ErrorCode::TooLarge),
            (
                RouteCall::Request {
                    to: "echo".into(),
                    topic: "t".into(),
                    payload: vec![0; 9],
                    timeout_ms: None,
                    wait: true,
                },
                ErrorCode::TooLarge,
            ),
            (
                RouteCall::SetTimer {
                    period_ms: 10,
                    repeat: false,
                    topic: "x".repeat(300),
                    payload: Vec::new(),
                    max_timers: 1,
                },
                ErrorCode::InvalidArgument,
            ),
        ];
        for (call, code) in refused {
            assert_eq!(gw.permit(&call).expect_err("refused").code, code, "{call:?}");
        }
        assert!(gw.permit(&RouteCall::Publish { topic: "t".into(), payload: vec![0; 8] }).is_ok(), "at the limit");
    }

    #[test]
    fn a_gateway_takes_only_documents_sealed_with_its_instances_key() {
        let (gw, _) = gateway("p", None, &[]);
        let answers: Answers = vec![(7, Ok(serde_bytes::ByteBuf::from(vec![0xc0])))];
        let body = wire::encode(&answers);
        let opened: Answers = gw.open("answer", &wire::seal(&gw.key, body.clone())).expect("its own key");
        assert_eq!(opened.len(), 1);
        for sealed in [wire::seal("another instance's key", body.clone()), body] {
            let err = gw.open::<Answers>("answer", &sealed).expect_err("refused");
            assert!(matches!(err.code, ErrorCode::PermissionDenied | ErrorCode::InvalidMessage), "{err}");
        }
    }

    #[test]
    fn a_hybrid_plugins_components_reach_each_other_without_grants() {
        let (gw, _) = gateway("fam.ui", Some(Family::new("fam", ["fam", "fam.ui", "fam.core"])), &[]);
        assert!(gw.permit(&send("fam.core")).is_ok());
        assert!(gw.permit(&send("fam")).is_ok());
        assert!(gw.permit(&send("famous")).is_err());
        // Only the components the hybrid registered, not every name under it.
        assert!(gw.permit(&send("fam.other")).is_err());
    }

    #[tokio::test]
    async fn a_node_neither_sets_its_own_timer_limit_nor_floods_the_log() {
        let (mut gw, recorder) = gateway("p", None, &["timers"]);
        (gw.max_timers, gw.timer_bytes) = (3, 4096);
        let (key, log_rate) = (gw.key.clone(), gw.log_rate.clone());
        let (actor, _) = Actor::spawn(None, Gateway, gw).await.expect("gateway starts");
        let call = RouteCall::SetTimer {
            period_ms: 10,
            repeat: true,
            topic: "tick".into(),
            payload: Vec::new(),
            max_timers: u64::MAX,
        };
        let sealed = wire::seal(&key, wire::encode(&call));
        let answer = actor.call(|port| GatewayMsg::Route(sealed, port), None).await.expect("answered");
        assert!(matches!(answer, ractor::rpc::CallResult::Success(_)));
        assert_eq!(*recorder.1.lock(), [(3, 4096)], "the host's limits, not the node's");
        // Garbage in a loop: two lines a second are written, the rest
        // dropped and reported once, as an audit event.
        for _ in 0..10 {
            actor.cast(GatewayMsg::Answer(vec![0xc1])).expect("cast");
        }
        let _ = actor.call(|port| GatewayMsg::Route(vec![0xc1], port), None).await;
        assert_eq!((log_rate.written(), log_rate.dropped()), (2, 9));
        let events = recorder.0.lock();
        let reports =
            events.iter().filter(|e| matches!(&e.kind, AuditKind::LimitExceeded { limit } if limit == "log_rate"));
        assert_eq!(reports.count(), 1, "{events:?}");
        actor.stop(None);
    }
}
