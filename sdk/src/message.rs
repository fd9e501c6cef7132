//! What a plugin answers, and the one way every backend runs a message
//! through a plugin. What it receives ([`Message`], [`MessageKind`]) is the
//! message model of `wasp-protocol`.

use serde::Serialize;
use wasp_protocol::{Dispatched, ErrorCode, HostApi, LogLevel, Message, MessageKind, WireError};

/// A plugin's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply(pub(crate) Answer);

/// What a [`Reply`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Send this payload.
    Payload(Vec<u8>),
    /// The plugin answers later.
    Deferred,
    /// The plugin has answered already, during the call.
    Sent,
}

impl Reply {
    /// Encodes `value` as the reply's MessagePack payload.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Reply, WireError> {
        encode(value).map(|bytes| Reply(Answer::Payload(bytes)))
    }

    /// A reply whose payload is already MessagePack.
    pub fn bytes(payload: Vec<u8>) -> Reply {
        Reply(Answer::Payload(payload))
    }

    /// A reply with a MessagePack `nil` payload.
    pub fn empty() -> Reply {
        Reply(Answer::Payload(vec![0xc0]))
    }

    /// No reply now: the plugin promises to call [`Context::reply`](crate::Context::reply)
    /// with the request's id later (for example when a `request_async` of its
    /// own completes). The caller's timeout still applies.
    pub fn deferred() -> Reply {
        Reply(Answer::Deferred)
    }

    /// Nothing more to send: the plugin has answered this request itself
    /// during this call, with [`Context::reply_raw`](crate::Context::reply_raw)
    /// (or [`reply`](crate::Context::reply),
    /// [`reply_error`](crate::Context::reply_error)). This answers straight
    /// from borrowed bytes, for instance from the message's own payload,
    /// without copying them into a `Vec` first — for plugins that move large
    /// blobs. A request the plugin has not answered after all gets
    /// `no_reply`, as with every form of plugin.
    ///
    /// ```
    /// use wasp_sdk::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Echo;
    ///
    /// impl Plugin for Echo {
    ///     fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
    ///         ctx.reply_raw(msg.id, msg.payload)?;
    ///         Ok(Reply::sent())
    ///     }
    /// }
    /// ```
    pub fn sent() -> Reply {
        Reply(Answer::Sent)
    }

    /// The payload to send, or `None` when deferred or sent already.
    pub fn payload(&self) -> Option<&[u8]> {
        match &self.0 {
            Answer::Payload(payload) => Some(payload),
            Answer::Deferred | Answer::Sent => None,
        }
    }

    /// Takes the payload to send, or `None` when deferred or sent already.
    pub fn into_payload(self) -> Option<Vec<u8>> {
        match self.0 {
            Answer::Payload(payload) => Some(payload),
            Answer::Deferred | Answer::Sent => None,
        }
    }
}

/// MessagePack of `value` (maps with field names, as every typed SDK call
/// sends): for a state returned from
/// [`Plugin::on_unload`](crate::Plugin::on_unload), or a payload for the
/// `*_raw` calls.
///
/// ```
/// let bytes = wasp_sdk::encode(&42u64)?;
/// assert_eq!(bytes, [42]);
/// # Ok::<(), wasp_sdk::WireError>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    rmp_serde::to_vec_named(value)
        .map_err(|e| WireError::new(ErrorCode::InvalidMessage, format!("cannot encode payload: {e}")))
}

/// Runs one message through a plugin and settles a request's answer through
/// `host.reply`. Every backend (WebAssembly glue, in process, native library)
/// calls this, so the three forms answer alike.
pub fn dispatch<P: crate::Plugin + ?Sized>(plugin: &mut P, host: &mut dyn HostApi, msg: Message<'_>) -> Dispatched {
    let result = plugin.on_message(&mut crate::Context::new(host), msg);
    match (msg.kind, result) {
        (MessageKind::Request, Ok(Reply(Answer::Payload(payload)))) => {
            let _ = host.reply(msg.id, Ok(&payload));
            Dispatched::Done
        }
        (MessageKind::Request, Ok(Reply(Answer::Sent))) => Dispatched::Done,
        (MessageKind::Request, Ok(Reply(Answer::Deferred))) => Dispatched::Deferred,
        (MessageKind::Request, Err(e)) => {
            let _ = host.reply(msg.id, Err(&e));
            Dispatched::Done
        }
        (_, Ok(_)) => Dispatched::Done,
        (kind, Err(e)) => {
            host.log(LogLevel::Warn, &format!("handling {kind:?} `{}` from `{}` failed: {e}", msg.topic, msg.from));
            Dispatched::Done
        }
    }
}

/// Runs [`Plugin::on_unload`](crate::Plugin::on_unload) for an
/// [`abi::kind::UNLOAD`](wasp_protocol::abi::kind::UNLOAD) message `id` and hands its outcome to the host: a
/// state as `host.reply(id, Ok(state))`, an error as `host.reply(id,
/// Err(..))`, no state as no reply. Every backend calls this.
pub fn dispatch_unload<P: crate::Plugin + ?Sized>(plugin: &mut P, host: &mut dyn HostApi, id: u64) {
    let result = plugin.on_unload(&mut crate::Context::new(host));
    match result {
        Ok(Some(state)) => {
            let _ = host.reply(id, Ok(&state));
        }
        Ok(None) => {}
        Err(e) => {
            let _ = host.reply(id, Err(&e));
        }
    }
}
