//! What a plugin receives and what it answers.

use serde::{Deserialize, Serialize};
use wasp_protocol::{ErrorCode, WireError, abi};

/// What kind of message [`Plugin::on_message`](crate::Plugin::on_message) received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Someone waits for the answer.
    Request,
    /// A one-way message: a send, or a publish on a subscribed topic.
    Event,
    /// The reply to this plugin's own [`Context::request_async`](crate::Context::request_async);
    /// [`Message::id`] is the id that call returned.
    Reply,
    /// The failure of this plugin's own `request_async`; the payload is a
    /// [`WireError`], see [`Message::error`].
    Error,
}

impl MessageKind {
    /// The ABI number of the kind.
    pub const fn to_abi(self) -> i32 {
        match self {
            Self::Request => abi::kind::REQUEST,
            Self::Event => abi::kind::EVENT,
            Self::Reply => abi::kind::REPLY,
            Self::Error => abi::kind::ERROR,
        }
    }

    /// The kind for an ABI number.
    pub const fn from_abi(n: i32) -> Option<Self> {
        match n {
            abi::kind::REQUEST => Some(Self::Request),
            abi::kind::EVENT => Some(Self::Event),
            abi::kind::REPLY => Some(Self::Reply),
            abi::kind::ERROR => Some(Self::Error),
            _ => None,
        }
    }
}

/// One message, borrowed from the host for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Request, event, or the completion of an earlier `request_async`.
    pub kind: MessageKind,
    /// The request id (answer it with this id when deferring), or the id
    /// `request_async` returned, for completions.
    pub id: u64,
    /// The sender: `host` or a plugin's name.
    pub from: &'a str,
    /// What the message is about.
    pub topic: &'a str,
    /// MessagePack bytes.
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// Decodes the payload as `T`.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::InvalidMessage`], naming the topic, for a payload that
    /// is not exactly one MessagePack value, nests arrays and maps deeper
    /// than [`codec::MAX_DEPTH`](wasp_protocol::codec::MAX_DEPTH), or is not
    /// a `T`: the same check as every decoder of the host
    /// ([`codec::check`](wasp_protocol::codec::check)), so no sender can
    /// exhaust the plugin's stack.
    pub fn decode<T: Deserialize<'a>>(&self) -> Result<T, WireError> {
        wasp_protocol::codec::from_slice(self.payload).map_err(|e| {
            WireError::new(
                ErrorCode::InvalidMessage,
                format!("payload of `{}` is not what the plugin expects: {e}", self.topic),
            )
        })
    }

    /// For [`MessageKind::Error`]: the error the request failed with.
    pub fn error(&self) -> Option<WireError> {
        if self.kind != MessageKind::Error {
            return None;
        }
        Some(
            wasp_protocol::codec::from_slice(self.payload).unwrap_or_else(|e| {
                WireError::new(ErrorCode::InvalidMessage, format!("undecodable error payload: {e}"))
            }),
        )
    }
}

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

/// What became of a message after [`dispatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// Fully handled; a request has been answered.
    Done,
    /// A request whose answer the plugin deferred.
    Deferred,
}

/// Runs one message through a plugin and settles a request's answer through
/// `host.reply`. Every backend (WebAssembly glue, in process, native library)
/// calls this, so the three forms answer alike.
pub fn dispatch<P: crate::Plugin + ?Sized>(
    plugin: &mut P,
    host: &mut dyn crate::HostApi,
    msg: Message<'_>,
) -> Dispatched {
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
            host.log(
                crate::LogLevel::Warn,
                &format!("handling {kind:?} `{}` from `{}` failed: {e}", msg.topic, msg.from),
            );
            Dispatched::Done
        }
    }
}

/// Runs [`Plugin::on_unload`](crate::Plugin::on_unload) for an
/// [`abi::kind::UNLOAD`] message `id` and hands its outcome to the host: a
/// state as `host.reply(id, Ok(state))`, an error as `host.reply(id,
/// Err(..))`, no state as no reply. Every backend calls this.
pub fn dispatch_unload<P: crate::Plugin + ?Sized>(plugin: &mut P, host: &mut dyn crate::HostApi, id: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"x": [[[…nil…]]], "text": "hi"}`, the arrays nested `levels` deep.
    fn deep(levels: usize) -> Vec<u8> {
        [&[0x82, 0xa1, b'x'][..], &vec![0x91; levels], &[0xc0, 0xa4], b"text", &[0xa2], b"hi"].concat()
    }

    #[derive(Debug, Deserialize)]
    struct Note {
        text: String,
    }

    fn message(kind: MessageKind, payload: &[u8]) -> Message<'_> {
        Message { kind, id: 1, from: "host", topic: "add", payload }
    }

    #[test]
    fn a_payload_nested_ten_thousand_deep_is_an_invalid_message_on_a_small_stack() {
        let (decoded, error) = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let bytes = deep(10_000);
                let decoded = message(MessageKind::Request, &bytes).decode::<Note>().map(|n| n.text);
                (decoded, message(MessageKind::Error, &bytes).error())
            })
            .expect("thread starts")
            .join()
            .expect("no overflow");
        for err in [decoded.expect_err("refused"), error.expect("an error")] {
            assert_eq!(err.code, ErrorCode::InvalidMessage);
            assert!(err.message.contains("deeper than the limit of 32 levels"), "{err}");
        }
        let bytes = deep(wasp_protocol::codec::MAX_DEPTH - 1);
        assert_eq!(message(MessageKind::Request, &bytes).decode::<Note>().expect("decodes").text, "hi");
    }

    #[test]
    fn bytes_after_the_payload_are_an_invalid_message() {
        let err = message(MessageKind::Request, &[0xa2, b'h', b'i', 0xc0]).decode::<String>().expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidMessage);
        assert!(err.message.contains("trailing bytes"), "{err}");
    }
}
