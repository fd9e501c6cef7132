//! Cancelling a request (ABI 1.3): the caller stops waiting, and the plugin
//! that was sent the request hears of it.
//!
//! A request in flight is a [`Pending`]: where its answer arrives, and a
//! watch on it. When a `Pending` goes away unanswered — its caller cancelled
//! (`Host::request_cancellable`, the webview's `AbortSignal`), gave up (the
//! timeout), or was itself stopped — the request is marked cancelled: still
//! queued, it never runs (its plugin's actor skips it); already handed to the
//! plugin, the plugin is sent a notice, an event from `host` on
//! [`abi::TOPIC_CANCEL`] whose payload is the request's id, if it is built
//! for ABI 1.3 or later (`docs/abi.md`, "Cancellation").

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use wasp_protocol::{ErrorCode, HOST, MessageKind, WireError, abi, codec};
use wasp_runtime::{Answer, Inbound, PluginImage, PluginKind, Progress};

use super::Broker;
use crate::mailbox::Bound;
use crate::tap::TapKind;

/// A request in flight: its answer, and the watch that cancels it if the
/// answer is never taken.
pub(crate) struct Pending {
    pub(super) rx: oneshot::Receiver<Answer>,
    pub(super) watch: Watch,
}

/// Cancels its request when dropped, unless disarmed (the answer came).
pub(crate) struct Watch {
    armed: Option<Armed>,
}

/// What cancelling a request takes: the broker, the plugin it went to, its
/// id and its progress.
struct Armed {
    broker: Weak<Broker>,
    to: Arc<str>,
    id: u64,
    progress: Arc<Progress>,
}

impl Watch {
    pub(super) fn new(broker: Weak<Broker>, to: &str, id: u64, progress: Arc<Progress>) -> Self {
        Self { armed: Some(Armed { broker, to: Arc::from(to), id, progress }) }
    }

    /// The request was answered: nothing to cancel.
    pub(super) fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(Armed { broker, to, id, progress }) = self.armed.take()
            && let Some(broker) = broker.upgrade()
        {
            broker.cancel(&to, id, &progress);
        }
    }
}

/// The error a cancelled request is answered with.
pub(crate) fn cancelled(to: &str) -> WireError {
    WireError::new(ErrorCode::Cancelled, format!("the request to `{to}` was cancelled by its caller"))
}

/// Whether a plugin of this image hears of its cancelled requests: built for
/// ABI 1.3 or later, or in process (built against this host's SDK). A
/// component has a WIT world version instead, whose world has no notice yet.
pub(crate) fn hears_cancel(image: &PluginImage) -> bool {
    // Built for `CANCEL_SINCE` or a later minor version of its major one.
    match image.abi_version() {
        Some(built) => built.accepts(abi::CANCEL_SINCE).is_ok(),
        None => image.kind() == PluginKind::InProcess,
    }
}

impl Broker {
    /// Waits for a request's answer, at most `timeout`, or until `cancel`
    /// completes: then the answer is `cancelled` (and the plugin told).
    pub(crate) async fn await_answer_until(
        pending: Pending,
        to: &str,
        timeout: Duration,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Answer {
        tokio::select! {
            biased;
            answer = Self::await_answer(pending, to, timeout) => answer,
            () = cancel => Err(cancelled(to)),
        }
    }

    /// Cancels request `id` sent to plugin `to`: a queued request is skipped
    /// when its turn comes; a plugin that has it already is sent a notice,
    /// into each of its instances' mailboxes (a pool's member holding it is
    /// not known), if it has room.
    fn cancel(&self, to: &str, id: u64, progress: &Progress) {
        if !progress.cancel() {
            return;
        }
        let Some(route) = self.route(to) else { return };
        if !route.hears_cancel {
            return;
        }
        let Ok(payload) = codec::to_payload(&id) else { return };
        let payload = bytes::Bytes::from(payload);
        let members = route.pool.as_ref().map_or(1, |pool| pool.members().len());
        for member in 0..members {
            let Ok(room) = route.reserve(to, payload.len(), Bound::Bounded) else {
                // A full mailbox: the notice is lost, the caller was answered.
                continue;
            };
            let inbound = Inbound {
                kind: MessageKind::Event,
                id: self.next_id(),
                from: Arc::from(HOST),
                topic: Arc::from(abi::TOPIC_CANCEL),
                payload: payload.clone(),
                reply: None,
                deadline: None,
            };
            let member = route.pool.as_ref().map(|_| member);
            let _ = self.push(&route, to, inbound, room, TapKind::Send, member);
        }
    }
}
