//! The seam between an executing plugin and the broker that routes its messages.
//!
//! The runtime runs plugins but knows nothing of actors: everything a plugin
//! sends leaves through a [`Router`] (implemented by `wasp-actors`' broker),
//! and everything it receives arrives as an [`Inbound`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasp_protocol::{ErrorCode, MessageKind, WireError};

use crate::audit::AuditEvent;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The result a request is answered with: the reply payload, or an error.
pub type Answer = Result<Vec<u8>, WireError>;

/// Where the answer to one request goes. Consumed exactly once: if it is
/// dropped unanswered (a plugin crashed, an actor stopped), it answers
/// [`ErrorCode::PluginCrashed`] by itself, so no request is ever left
/// without an answer.
pub struct ReplyTo {
    deliver: Option<Box<dyn FnOnce(Answer) + Send + Sync>>,
    /// Where the request stands for its caller, if the caller can cancel it.
    progress: Option<Arc<Progress>>,
}

/// Where a cancellable request stands: queued, handed to the plugin, or
/// cancelled by its caller. Shared by the caller's side and the request's
/// [`ReplyTo`], so the plugin's actor skips a request cancelled while it
/// waited in the mailbox, and the caller knows whether the plugin must be
/// told (`docs/abi.md`, cancellation).
#[derive(Debug, Default)]
pub struct Progress(AtomicU8);

const QUEUED: u8 = 0;
const HANDED: u8 = 1;
const CANCELLED: u8 = 2;

impl Progress {
    /// Marks the request handed to the plugin; `false` if its caller
    /// cancelled it first (then it must not run).
    pub fn hand_over(&self) -> bool {
        self.0.compare_exchange(QUEUED, HANDED, Ordering::AcqRel, Ordering::Acquire) != Err(CANCELLED)
    }

    /// Marks the request cancelled; says whether the plugin had it already
    /// (then it is told, as the caller no longer waits).
    pub fn cancel(&self) -> bool {
        self.0.swap(CANCELLED, Ordering::AcqRel) == HANDED
    }

    /// Whether the caller cancelled the request.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) == CANCELLED
    }
}

impl ReplyTo {
    /// A reply target that calls `deliver` with the answer.
    pub fn new(deliver: impl FnOnce(Answer) + Send + Sync + 'static) -> Self {
        Self { deliver: Some(Box::new(deliver)), progress: None }
    }

    /// The same target, for a request whose caller may cancel it: `progress`
    /// is shared with the caller.
    pub fn cancellable(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Marks the request handed to the plugin; `false` if its caller
    /// cancelled it while it was queued (then it must not run: answer it
    /// `cancelled`, which nobody awaits).
    pub fn hand_over(&self) -> bool {
        self.progress.as_ref().is_none_or(|p| p.hand_over())
    }

    /// Consumes the target without answering: the caller learned the outcome
    /// another way (the request was refused before it was queued).
    pub fn disarm(mut self) {
        self.deliver = None;
    }

    /// Delivers the answer.
    pub fn send(mut self, answer: Answer) {
        if let Some(deliver) = self.deliver.take() {
            deliver(answer);
        }
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if let Some(deliver) = self.deliver.take() {
            deliver(Err(WireError::new(
                ErrorCode::PluginCrashed,
                "the request was dropped before the plugin answered it",
            )));
        }
    }
}

impl std::fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyTo")
    }
}

/// One message delivered to a plugin.
#[derive(Debug)]
pub struct Inbound {
    /// Request, event, or completion of the plugin's own `request_async`.
    pub kind: MessageKind,
    /// Request id, message id, or the completed `request_async` id.
    pub id: u64,
    /// The sender's address.
    pub from: Arc<str>,
    /// The topic.
    pub topic: Arc<str>,
    /// MessagePack bytes, shared (a publish to several plugins, the events
    /// of one timer, hold one copy).
    pub payload: Bytes,
    /// For requests: where the answer goes.
    pub reply: Option<ReplyTo>,
    /// For requests: when the caller stops waiting. A request still queued
    /// past it is answered `Timeout` without running.
    pub deadline: Option<Instant>,
}

/// Everything a running plugin can ask of the world outside it.
///
/// `from` is always the calling plugin's name, so the implementation can check
/// its permissions and fill in the sender.
pub trait Router: Send + Sync + 'static {
    /// One-way message to `to` (a plugin or `host`). Never blocks.
    fn send(&self, from: &Arc<str>, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError>;
    /// One-way message to every subscriber of `topic`. Never blocks.
    fn publish(&self, from: &Arc<str>, topic: &str, payload: Vec<u8>) -> Result<(), WireError>;
    /// Subscribes `from` to `pattern`.
    fn subscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError>;
    /// Unsubscribes `from` from `pattern`.
    fn unsubscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError>;
    /// A request whose answer the caller awaits. Fails at once with
    /// `WouldDeadlock` when waiting would close a cycle.
    fn request(
        &self,
        from: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> BoxFuture<Answer>;
    /// A request whose answer is delivered later to `from` as a completion
    /// message carrying the returned id.
    fn request_async(
        &self,
        from: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<u64, WireError>;
    /// Records an audit event about `event.plugin`. Returns `true` when the
    /// host has quarantined the plugin (it crossed its violation threshold):
    /// the caller stops the plugin's current work.
    fn audit(&self, event: AuditEvent) -> bool;
    /// Starts a timer that delivers events to `from`; returns its id.
    /// Fails with `Busy` when `from` already has `spec.max_timers` active.
    fn set_timer(&self, from: &Arc<str>, spec: TimerSpec) -> Result<u64, WireError>;
    /// Stops a timer of `from`; says whether it was active.
    fn cancel_timer(&self, from: &Arc<str>, id: u64) -> bool;
    /// Serves a `kv.*` call of `from` (its `storage` permission checked)
    /// from a store this process does not hold: a plugin running in a
    /// `wasp-node` reaches its host's. `None` (the default): no such store.
    fn storage(&self, from: &Arc<str>, service: &str, payload: Vec<u8>) -> Option<BoxFuture<Answer>> {
        let _ = (from, service, payload);
        None
    }
}

/// A timer a plugin asked for (`timer.set_timeout` / `timer.set_interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerSpec {
    /// Delay before the first event, and the period of an interval.
    pub period: Duration,
    /// Interval (`true`) or one-shot timeout.
    pub repeat: bool,
    /// The topic of the events.
    pub topic: String,
    /// The events' MessagePack payload, stored once for every event.
    pub payload: Bytes,
    /// The most timers the plugin may have active.
    pub max_timers: usize,
    /// The most payload bytes its active timers may hold together.
    pub max_bytes: usize,
}
