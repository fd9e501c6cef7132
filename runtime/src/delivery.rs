//! One message's path through a plugin instance, written once for every
//! backend.
//!
//! Around the guest's own handling of a message the host keeps the same
//! books whatever runs the plugin: a completion of the plugin's
//! `request_async` lowers its count of outstanding requests, a request is
//! registered with its reply target and deadline before the guest sees it
//! ([`admit`]), and how the guest came back ([`Outcome`]) decides what the
//! caller hears and whether the instance must be recycled ([`settle`]).
//!
//! Backends that keep one store per instance (core modules, components)
//! share the rest of the lifecycle too, through [`Running`]: starting an
//! instance (made, handed the state a hot reload restored, loaded), the
//! instance slot, the `unavailable` answer when it is empty, `unload`,
//! `recycle`, `abandon`. Such a backend provides a [`Backend`]: make an
//! instance, load it, and hand a message to a running one. Native libraries (on their worker
//! thread) and in-process plugins call [`admit`] and [`settle`] themselves.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use wasp_protocol::{ErrorCode, Lifecycle, MessageKind, WireError, abi};

use crate::Error;
use crate::hostcalls::HostCalls;
use crate::lifecycle::{Capture, LIFECYCLE_ID, Unloaded};
use crate::router::Inbound;

/// What a message handed to a guest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A message of the message model: a request, an event, a completion.
    Message(MessageKind),
    /// From the host about the instance itself: `unload` or `restore`.
    Lifecycle(Lifecycle),
}

impl Kind {
    /// The ABI number of the kind ([`abi::kind`]).
    pub(crate) fn to_abi(self) -> i32 {
        match self {
            Self::Message(kind) => kind.to_abi(),
            Self::Lifecycle(which) => which.to_abi(),
        }
    }
}

/// A message as a guest receives it, its reply target kept by the host.
#[derive(Debug)]
pub(crate) struct Letter {
    pub(crate) kind: Kind,
    /// Request id, message id, or the completed `request_async` id.
    pub(crate) id: u64,
    /// The sender's address.
    pub(crate) from: Arc<str>,
    pub(crate) topic: Arc<str>,
    pub(crate) payload: Bytes,
}

impl Letter {
    /// An `unload` or `restore` message from the host.
    pub(crate) fn lifecycle(which: Lifecycle, payload: Bytes) -> Self {
        let topic = match which {
            Lifecycle::Unload => abi::TOPIC_UNLOAD,
            Lifecycle::Restore => abi::TOPIC_RESTORE,
        };
        Self {
            kind: Kind::Lifecycle(which),
            id: LIFECYCLE_ID,
            from: Arc::from("host"),
            topic: Arc::from(topic),
            payload,
        }
    }
}

/// How a guest came back from one message.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It handled the message; a request it did not answer is answered
    /// `no_reply`.
    Done,
    /// It kept the request, to answer later with `reply`.
    Deferred,
    /// Its `wasp_handle` returned a status the core ABI does not define
    /// (components and native libraries cannot, or fault instead): the
    /// message fails with `invalid_message`; the instance is sound.
    Unknown(i32),
    /// The host could not hand the message over: the guest had no room for
    /// it (says how large it was and what was asked). A request is answered
    /// `too_large`; the instance is sound.
    Undelivered(String),
    /// The instance faulted on the message (a trap, a spent budget, a broken
    /// ABI, or no room it could make without trapping, [`Error::NoRoom`]):
    /// the message is answered with the fault and the instance must be
    /// recycled.
    Fault(Error),
}

/// Before the guest sees `msg`: a completion of one of the plugin's
/// `request_async` calls is counted, a request is registered with its reply
/// target and deadline. Returns what the guest receives.
pub(crate) fn admit(host: &mut HostCalls, msg: Inbound) -> Letter {
    if matches!(msg.kind, MessageKind::Reply | MessageKind::Error) {
        host.completion_arrived();
    }
    if let Some(reply) = msg.reply {
        host.begin_request(msg.id, reply, msg.deadline);
    }
    Letter { kind: Kind::Message(msg.kind), id: msg.id, from: msg.from, topic: msg.topic, payload: msg.payload }
}

/// After the guest came back from message `id` of `kind`: answers what must
/// be answered. `Err` means the instance faulted and must be recycled.
///
/// # Errors
///
/// The fault of [`Outcome::Fault`].
pub(crate) fn settle(
    host: &mut HostCalls,
    plugin: &str,
    id: u64,
    kind: MessageKind,
    outcome: Outcome,
) -> Result<(), Error> {
    match outcome {
        Outcome::Done if kind == MessageKind::Request => host.end_request(id),
        Outcome::Done | Outcome::Deferred => {}
        Outcome::Unknown(status) => host.fail_request(
            id,
            WireError::new(
                ErrorCode::InvalidMessage,
                format!("plugin `{plugin}`: wasp_handle returned unknown status {status}"),
            ),
        ),
        Outcome::Undelivered(detail) => {
            let err = Error::NoRoom { plugin: plugin.to_owned(), detail };
            host.undelivered(id, kind, err.to_wire());
        }
        Outcome::Fault(err) => {
            if matches!(err, Error::NoRoom { .. }) {
                host.undelivered(id, kind, err.to_wire());
            } else {
                host.fail_request(id, err.to_wire());
            }
            return Err(err);
        }
    }
    Ok(())
}

/// What the plugin's answer to its `unload` message gives, once the guest
/// came back: the state it replied (or none, or its refusal), or the fault
/// that ends the instance.
///
/// # Errors
///
/// The instance faulted: it must be recycled.
fn unloaded(plugin: &str, outcome: Outcome, capture: Capture) -> Result<Unloaded, Error> {
    match outcome {
        Outcome::Done | Outcome::Deferred => Ok(capture.state()),
        Outcome::Unknown(status) => Ok(capture.state().and_then(|_| {
            Err(WireError::new(
                ErrorCode::InvalidMessage,
                format!("plugin `{plugin}`: wasp_handle returned unknown status {status} for `unload`"),
            ))
        })),
        Outcome::Undelivered(detail) => Err(Error::GuestFault { plugin: plugin.to_owned(), detail }),
        Outcome::Fault(err) => Err(err),
    }
}

/// Whether the state handed to a fresh instance was taken in.
///
/// # Errors
///
/// The instance faulted on it, or returned a status the ABI does not
/// define: it does not start.
fn restored(plugin: &str, outcome: Outcome) -> Result<(), Error> {
    match outcome {
        Outcome::Done | Outcome::Deferred => Ok(()),
        Outcome::Unknown(status) => Err(Error::LoadFailed {
            plugin: plugin.to_owned(),
            error: WireError::new(
                ErrorCode::InvalidMessage,
                format!("wasp_handle returned status {status} for the restored state"),
            ),
        }),
        Outcome::Undelivered(detail) => Err(Error::GuestFault { plugin: plugin.to_owned(), detail }),
        Outcome::Fault(err) => Err(err),
    }
}

/// Starts an instance of `backend`: made, handed the state a hot reload
/// `restored` (as a `restore` message, when the plugin speaks the
/// lifecycle messages), then loaded.
///
/// # Errors
///
/// The instance could not be made, faulted, or refused to load.
async fn launch<B: Backend>(backend: &B, restored_state: Option<&[u8]>) -> Result<B::Live, Error> {
    let mut live = backend.instantiate().await?;
    if let Some(state) = restored_state.filter(|_| backend.speaks_lifecycle()) {
        let letter = Letter::lifecycle(Lifecycle::Restore, Bytes::copy_from_slice(state));
        let outcome = backend.deliver(&mut live, letter).await;
        restored(backend.name(), outcome)?;
    }
    backend.load(&mut live).await?;
    Ok(live)
}

/// What the requests an instance had deferred are answered with when it is
/// replaced by a fresh one.
pub(crate) fn restarted(plugin: &str) -> WireError {
    WireError::new(ErrorCode::PluginCrashed, format!("plugin `{plugin}` was restarted"))
}

/// What the requests an instance had deferred are answered with when its
/// plugin is quarantined.
pub(crate) fn quarantined(plugin: &str) -> WireError {
    WireError::new(ErrorCode::Unavailable, format!("plugin `{plugin}` was quarantined"))
}

/// A backend whose instances each hold their own store: what [`Running`]
/// needs of it.
pub(crate) trait Backend: Sync {
    /// A running instance: its store and the entry points the host calls.
    type Live: Send;

    /// The plugin's name, for the answers the lifecycle gives.
    fn name(&self) -> &str;

    /// Whether the plugin receives `unload` and `restore` messages.
    fn speaks_lifecycle(&self) -> bool;

    /// Makes an instance, not yet loaded.
    fn instantiate(&self) -> impl Future<Output = Result<Self::Live, Error>> + Send;

    /// Runs the plugin's `on_load` in a fresh instance.
    fn load(&self, live: &mut Self::Live) -> impl Future<Output = Result<(), Error>> + Send;

    /// The host calls of a running instance.
    fn host(live: &Self::Live) -> &HostCalls;

    /// The host calls of a running instance, to keep its books.
    fn host_mut(live: &mut Self::Live) -> &mut HostCalls;

    /// Hands `letter` to the running guest under a fresh CPU budget and says
    /// how it came back. A fault is described with what the store knows
    /// (its panic message, its spent budget); the instance stays in place.
    fn deliver(&self, live: &mut Self::Live, letter: Letter) -> impl Future<Output = Outcome> + Send;
}

/// A backend and its running instance, if any: the per-message lifecycle
/// of every backend that keeps a store per instance.
pub(crate) struct Running<B: Backend> {
    pub(crate) backend: B,
    /// `None` after [`Running::abandon`], or when a restart failed.
    pub(crate) live: Option<B::Live>,
}

impl<B: Backend> Running<B> {
    /// Starts a first instance of `backend`, with the state a hot reload
    /// `restored`.
    ///
    /// # Errors
    ///
    /// The instance could not start.
    pub(crate) async fn start(backend: B, restored: Option<&[u8]>) -> Result<Self, Error> {
        let live = launch(&backend, restored).await?;
        Ok(Self { backend, live: Some(live) })
    }

    /// Handles one message. `Ok` means the instance is healthy (the message
    /// itself may have failed and been answered with an error); `Err` means
    /// it faulted, the message was answered with the fault, and the
    /// instance must be recycled. With no running instance, a request is
    /// answered `unavailable`.
    ///
    /// # Errors
    ///
    /// The instance faulted.
    pub(crate) async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        let Some(live) = self.live.as_mut() else {
            if let Some(reply) = msg.reply {
                let name = self.backend.name();
                reply.send(Err(WireError::new(
                    ErrorCode::Unavailable,
                    format!("plugin `{name}` has no running instance"),
                )));
            }
            return Ok(());
        };
        let (id, kind) = (msg.id, msg.kind);
        let letter = admit(B::host_mut(live), msg);
        let outcome = self.backend.deliver(live, letter).await;
        settle(B::host_mut(live), self.backend.name(), id, kind, outcome)
    }

    /// Asks the instance for the state to hand to its successor (an
    /// `unload` message). `Err` means the instance faulted and must be
    /// recycled; `Ok(Err(_))` is the plugin refusing. A plugin that does not
    /// speak the lifecycle messages, or with no running instance, has no
    /// state.
    ///
    /// # Errors
    ///
    /// The instance faulted.
    pub(crate) async fn unload(&mut self) -> Result<Unloaded, Error> {
        if !self.backend.speaks_lifecycle() {
            return Ok(Ok(None));
        }
        let Some(live) = self.live.as_mut() else { return Ok(Ok(None)) };
        let (capture, reply) = Capture::new();
        B::host_mut(live).begin_request(LIFECYCLE_ID, reply, None);
        let outcome = self.backend.deliver(live, Letter::lifecycle(Lifecycle::Unload, Bytes::new())).await;
        B::host_mut(live).end_request(LIFECYCLE_ID);
        unloaded(self.backend.name(), outcome, capture)
    }

    /// Drops the current instance (answering its deferred requests with
    /// `plugin_crashed`) and starts a fresh one.
    ///
    /// # Errors
    ///
    /// The fresh instance could not start; none runs then.
    pub(crate) async fn recycle(&mut self) -> Result<(), Error> {
        if let Some(mut old) = self.live.take() {
            B::host_mut(&mut old).fail_all(&restarted(self.backend.name()));
        }
        self.live = Some(launch(&self.backend, None).await?);
        Ok(())
    }

    /// Whether the host quarantined the plugin while it ran.
    pub(crate) fn quarantined(&self) -> bool {
        self.live.as_ref().is_some_and(|live| B::host(live).quarantined)
    }

    /// Drops the instance without starting another (the plugin was
    /// quarantined), answering the requests it had deferred with
    /// `unavailable`. [`Running::recycle`] starts a fresh one.
    pub(crate) fn abandon(&mut self) {
        if let Some(mut old) = self.live.take() {
            B::host_mut(&mut old).fail_all(&quarantined(self.backend.name()));
        }
    }
}

#[cfg(test)]
mod tests;
