//! What every backend does when its plugin calls the host: the one place the
//! semantics of the host API live, so WASM and in-process plugins behave alike.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasp_protocol::{ErrorCode, WireError, validate_topic};
use wasp_sdk::LogLevel;

use crate::Limits;
use crate::router::{Answer, BoxFuture, ReplyTo, Router};

/// A request the plugin has received and not answered yet.
struct Pending {
    reply: ReplyTo,
    deadline: Option<Instant>,
}

/// Per-plugin host state shared by the backends.
pub(crate) struct HostCalls {
    pub(crate) name: Arc<str>,
    router: Arc<dyn Router>,
    pub(crate) limits: Limits,
    pending: HashMap<u64, Pending>,
}

impl HostCalls {
    pub(crate) fn new(name: Arc<str>, router: Arc<dyn Router>, limits: Limits) -> Self {
        Self { name, router, limits, pending: HashMap::new() }
    }

    pub(crate) fn router(&self) -> Arc<dyn Router> {
        self.router.clone()
    }

    fn check_size(&self, payload: &[u8]) -> Result<(), WireError> {
        if payload.len() > self.limits.max_message_size {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!(
                    "payload of {} bytes exceeds the limit of {} bytes",
                    payload.len(),
                    self.limits.max_message_size
                ),
            ));
        }
        Ok(())
    }

    fn check_topic(topic: &str) -> Result<(), WireError> {
        validate_topic(topic).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad topic: {e}")))
    }

    fn timeout(ms: Option<u32>) -> Option<Duration> {
        ms.filter(|&ms| ms > 0).map(|ms| Duration::from_millis(ms.into()))
    }

    pub(crate) fn send(&self, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        Self::check_topic(topic)?;
        self.check_size(&payload)?;
        self.router.send(&self.name, to, topic, payload)
    }

    pub(crate) fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        Self::check_topic(topic)?;
        self.check_size(&payload)?;
        self.router.publish(&self.name, topic, payload)
    }

    pub(crate) fn subscribe(&self, pattern: &str) -> Result<(), WireError> {
        Self::check_topic(pattern)?;
        self.router.subscribe(&self.name, pattern)
    }

    pub(crate) fn unsubscribe(&self, pattern: &str) -> Result<(), WireError> {
        Self::check_topic(pattern)?;
        self.router.unsubscribe(&self.name, pattern)
    }

    pub(crate) fn request(
        &self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> BoxFuture<Answer> {
        if let Err(e) = Self::check_topic(topic).and_then(|()| self.check_size(&payload)) {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.router.request(&self.name, to, topic, payload, Self::timeout(timeout_ms))
    }

    pub(crate) fn request_async(
        &self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        Self::check_topic(topic)?;
        self.check_size(&payload)?;
        self.router.request_async(&self.name, to, topic, payload, Self::timeout(timeout_ms))
    }

    /// Answers a pending request the plugin received.
    pub(crate) fn reply(&mut self, id: u64, answer: Answer) -> Result<(), WireError> {
        if let Ok(payload) = &answer {
            self.check_size(payload)?;
        }
        let pending = self
            .pending
            .remove(&id)
            .ok_or_else(|| WireError::new(ErrorCode::NotFound, format!("no unanswered request with id {id}")))?;
        pending.reply.send(answer);
        Ok(())
    }

    pub(crate) fn log(&self, level: LogLevel, message: &str) {
        let plugin = &*self.name;
        match level {
            LogLevel::Trace => tracing::trace!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "wasp::plugin", plugin, "{message}"),
        }
    }

    /// Registers a request about to be handed to the plugin.
    pub(crate) fn begin_request(&mut self, id: u64, reply: ReplyTo, deadline: Option<Instant>) {
        if self.pending.len() >= 64 {
            // Deferred requests whose callers gave up: their answers would be discarded anyway.
            let now = Instant::now();
            self.pending.retain(|_, p| p.deadline.is_none_or(|d| d > now));
        }
        self.pending.insert(id, Pending { reply, deadline });
    }

    /// After the plugin returned from a request without deferring it:
    /// answers `no_reply` if it did not reply.
    pub(crate) fn end_request(&mut self, id: u64) {
        if let Some(pending) = self.pending.remove(&id) {
            pending.reply.send(Err(WireError::new(
                ErrorCode::NoReply,
                format!("plugin `{}` finished handling the request without replying", self.name),
            )));
        }
    }

    /// Answers one pending request with `error` (the plugin faulted on it).
    pub(crate) fn fail_request(&mut self, id: u64, error: WireError) {
        if let Some(pending) = self.pending.remove(&id) {
            pending.reply.send(Err(error));
        }
    }

    /// Answers every pending request with `error` (the instance is gone).
    pub(crate) fn fail_all(&mut self, error: &WireError) {
        for (_, pending) in self.pending.drain() {
            pending.reply.send(Err(error.clone()));
        }
    }
}
