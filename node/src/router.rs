//! The node's [`Router`]: every host call that leaves the plugin travels
//! back to the host's gateway, and meets the host's broker there.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use ractor::rpc::CallResult;
use wasp_cluster::wire::{self, GatewayMsg, RouteAnswer, RouteCall};
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::{Answer, AuditEvent, BoxFuture, Router, TimerSpec};

/// Forwards a plugin's host calls to its host.
pub(crate) struct NodeRouter {
    pub(crate) gateway: ActorRef<GatewayMsg>,
    /// The instance's key, which the gateway asks of every document.
    pub(crate) key: Arc<str>,
    pub(crate) rt: tokio::runtime::Handle,
}

fn unreachable() -> WireError {
    WireError::new(ErrorCode::Unavailable, "the host did not answer this node's host call")
}

fn millis(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_millis() as u64)
}

impl NodeRouter {
    fn call(&self, call: &RouteCall) -> BoxFuture<Answer> {
        let gateway = self.gateway.clone();
        let bytes = wire::seal(&self.key, wire::encode(call));
        Box::pin(async move {
            match gateway.call(|port| GatewayMsg::Route(bytes, port), None).await {
                Ok(CallResult::Success(reply)) => {
                    wire::decode::<RouteAnswer>("host call answer", &reply)?.map(serde_bytes::ByteBuf::into_vec)
                }
                _ => Err(unreachable()),
            }
        })
    }

    /// Waits for a call's answer on the calling thread: a plugin's own
    /// thread, or (rarely) a runtime worker, which gives its tasks away first.
    fn wait(&self, call: &RouteCall) -> Answer {
        let fut = self.call(call);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::block_in_place(|| self.rt.block_on(fut))
        } else {
            self.rt.block_on(fut)
        }
    }

    fn value<T: serde::de::DeserializeOwned>(&self, call: &RouteCall) -> Result<T, WireError> {
        wire::decode("host call value", &self.wait(call)?)
    }
}

impl Router for NodeRouter {
    fn send(&self, _: &Arc<str>, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.wait(&RouteCall::Send { to: to.into(), topic: topic.into(), payload }).map(drop)
    }

    fn publish(&self, _: &Arc<str>, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.wait(&RouteCall::Publish { topic: topic.into(), payload }).map(drop)
    }

    fn subscribe(&self, _: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        self.wait(&RouteCall::Subscribe(pattern.into())).map(drop)
    }

    fn unsubscribe(&self, _: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        self.wait(&RouteCall::Unsubscribe(pattern.into())).map(drop)
    }

    fn request(
        &self,
        _: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> BoxFuture<Answer> {
        self.call(&RouteCall::Request {
            to: to.into(),
            topic: topic.into(),
            payload,
            timeout_ms: millis(timeout),
            wait: true,
        })
    }

    fn request_async(
        &self,
        _: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<u64, WireError> {
        self.value(&RouteCall::Request {
            to: to.into(),
            topic: topic.into(),
            payload,
            timeout_ms: millis(timeout),
            wait: false,
        })
    }

    fn audit(&self, event: AuditEvent) -> bool {
        // The host counts it (and may quarantine the plugin, which its
        // actor then enforces); the node does not wait to hear.
        let _ = self.gateway.cast(GatewayMsg::Audit(wire::seal(&self.key, wire::encode(&event))));
        false
    }

    fn set_timer(&self, _: &Arc<str>, spec: TimerSpec) -> Result<u64, WireError> {
        self.value(&RouteCall::SetTimer {
            period_ms: spec.period.as_millis() as u64,
            repeat: spec.repeat,
            topic: spec.topic,
            payload: spec.payload.to_vec(),
            max_timers: spec.max_timers as u64,
        })
    }

    fn cancel_timer(&self, _: &Arc<str>, id: u64) -> bool {
        self.value(&RouteCall::CancelTimer(id)).unwrap_or(false)
    }

    fn storage(&self, _: &Arc<str>, service: &str, payload: Vec<u8>) -> Option<BoxFuture<Answer>> {
        Some(self.call(&RouteCall::Storage { service: service.into(), payload }))
    }
}
