//! The message model: what a plugin is handed, of which kind, what it
//! logs, and how its handler ended.
//!
//! One enum each, with its ABI number (`docs/abi.md`): every form of plugin
//! (WebAssembly, component, native library, in process, out of process)
//! and the host use these types, and the WIT world maps onto them in one
//! place ([`wit_mapping!`](crate::wit_mapping)).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ErrorCode, WireError, abi};

/// What kind of message a plugin's handler received.
///
/// On the node wire it travels as its ABI number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Someone waits for the answer.
    Request,
    /// A one-way message: a send, or a publish on a subscribed topic.
    Event,
    /// The reply to the plugin's own `request_async`; [`Message::id`] is
    /// the id that call returned.
    Reply,
    /// The failure of the plugin's own `request_async`; the payload is a
    /// [`WireError`], see [`Message::error`].
    Error,
}

impl MessageKind {
    /// Every kind, in ABI order.
    pub const ALL: [MessageKind; 4] = [Self::Request, Self::Event, Self::Reply, Self::Error];

    /// The ABI number of the kind ([`abi::kind`]).
    pub const fn to_abi(self) -> i32 {
        match self {
            Self::Request => abi::kind::REQUEST,
            Self::Event => abi::kind::EVENT,
            Self::Reply => abi::kind::REPLY,
            Self::Error => abi::kind::ERROR,
        }
    }

    /// The kind for an ABI number; `None` for a lifecycle message
    /// ([`Lifecycle`]) or a number the ABI does not define.
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

impl Serialize for MessageKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The ABI numbers are 0 to 3: a byte, as the node wire has always carried them.
        s.serialize_u8(self.to_abi() as u8)
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(d)?;
        Self::from_abi(i32::from(n))
            .ok_or_else(|| serde::de::Error::custom(format_args!("{n} is not a message kind (0 to 3)")))
    }
}

/// A message the host sends a plugin about its own life rather than on
/// anyone's behalf (ABI 1.2, [`abi::LIFECYCLE_SINCE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// The instance is about to be discarded in an orderly way: the plugin
    /// may answer with the state its successor should start from.
    Unload,
    /// The state the previous instance saved, before the new one's load.
    Restore,
}

impl Lifecycle {
    /// The ABI number of the message ([`abi::kind`]).
    pub const fn to_abi(self) -> i32 {
        match self {
            Self::Unload => abi::kind::UNLOAD,
            Self::Restore => abi::kind::RESTORE,
        }
    }

    /// The lifecycle message for an ABI number, if it is one.
    pub const fn from_abi(n: i32) -> Option<Self> {
        match n {
            abi::kind::UNLOAD => Some(Self::Unload),
            abi::kind::RESTORE => Some(Self::Restore),
            _ => None,
        }
    }

    /// The topic the message carries.
    pub const fn topic(self) -> &'static str {
        match self {
            Self::Unload => abi::TOPIC_UNLOAD,
            Self::Restore => abi::TOPIC_RESTORE,
        }
    }
}

/// Severity of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// For developers.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Every level, least severe first.
    pub const ALL: [LogLevel; 5] = [Self::Trace, Self::Debug, Self::Info, Self::Warn, Self::Error];

    /// The ABI number of the level ([`abi::level`]).
    pub const fn to_abi(self) -> i32 {
        match self {
            Self::Trace => abi::level::TRACE,
            Self::Debug => abi::level::DEBUG,
            Self::Info => abi::level::INFO,
            Self::Warn => abi::level::WARN,
            Self::Error => abi::level::ERROR,
        }
    }

    /// The level for an ABI number; out-of-range numbers clamp (a guest's
    /// log line is never refused for its level).
    pub const fn from_abi(n: i32) -> Self {
        match n {
            i32::MIN..=abi::level::TRACE => Self::Trace,
            abi::level::DEBUG => Self::Debug,
            abi::level::INFO => Self::Info,
            abi::level::WARN => Self::Warn,
            _ => Self::Error,
        }
    }
}

/// How a plugin's handler left a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// Fully handled; a request has been answered.
    Done,
    /// A request whose answer the plugin deferred: it answers later with
    /// `reply(id, ...)`.
    Deferred,
}

impl Dispatched {
    /// What `wasp_handle` returns for it ([`abi::status`]).
    pub const fn to_abi(self) -> i32 {
        match self {
            Self::Done => abi::status::DONE,
            Self::Deferred => abi::status::DEFERRED,
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
    /// than [`codec::MAX_DEPTH`](crate::codec::MAX_DEPTH), or is not
    /// a `T`: the same check as every decoder of the host
    /// ([`codec::check`](crate::codec::check)), so no sender can
    /// exhaust the plugin's stack.
    pub fn decode<T: Deserialize<'a>>(&self) -> Result<T, WireError> {
        crate::codec::from_slice(self.payload).map_err(|e| {
            WireError::new(
                ErrorCode::InvalidMessage,
                format!("payload of `{}` is not what the plugin expects: {e}", self.topic),
            )
        })
    }

    /// For a cancellation notice (ABI 1.3): the id of the request the
    /// plugin was sent and whose caller cancelled it — an event from `host`
    /// on [`abi::TOPIC_CANCEL`]. The caller was answered `cancelled`; stop
    /// the work if it is still going, and whatever you reply to that id is
    /// discarded. `None` for every other message.
    ///
    /// ```
    /// use wasp_protocol::{Message, MessageKind, abi, codec};
    /// let id = codec::to_payload(&42u64)?;
    /// let notice = Message { kind: MessageKind::Event, id: 7, from: "host", topic: abi::TOPIC_CANCEL, payload: &id };
    /// assert_eq!(notice.cancelled_request(), Some(42));
    /// let forged = Message { from: "mallory", ..notice };
    /// assert_eq!(forged.cancelled_request(), None, "only the host cancels");
    /// # Ok::<(), wasp_protocol::CodecError>(())
    /// ```
    pub fn cancelled_request(&self) -> Option<u64> {
        if self.kind != MessageKind::Event || self.from != crate::HOST || self.topic != abi::TOPIC_CANCEL {
            return None;
        }
        crate::codec::from_slice(self.payload).ok()
    }

    /// For [`MessageKind::Error`]: the error the request failed with.
    pub fn error(&self) -> Option<WireError> {
        if self.kind != MessageKind::Error {
            return None;
        }
        Some(
            crate::codec::from_slice(self.payload).unwrap_or_else(|e| {
                WireError::new(ErrorCode::InvalidMessage, format!("undecodable error payload: {e}"))
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_abi_number() {
        let numbers: Vec<i32> = MessageKind::ALL.iter().map(|k| k.to_abi()).collect();
        assert_eq!(numbers, [abi::kind::REQUEST, abi::kind::EVENT, abi::kind::REPLY, abi::kind::ERROR]);
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::from_abi(kind.to_abi()), Some(kind));
        }
        for lifecycle in [Lifecycle::Unload, Lifecycle::Restore] {
            assert_eq!(Lifecycle::from_abi(lifecycle.to_abi()), Some(lifecycle));
            assert_eq!(MessageKind::from_abi(lifecycle.to_abi()), None, "{lifecycle:?} is no message kind");
        }
        for other in [-1, 6, i32::MAX] {
            assert_eq!((MessageKind::from_abi(other), Lifecycle::from_abi(other)), (None, None), "{other}");
        }
        assert_eq!(Lifecycle::Unload.topic(), "wasp.unload");
        assert_eq!(Lifecycle::Restore.topic(), "wasp.restore");
    }

    #[test]
    fn a_kind_travels_as_the_byte_of_its_abi_number() {
        for kind in MessageKind::ALL {
            let bytes = crate::codec::to_payload(&kind).expect("encodes");
            assert_eq!(bytes, crate::codec::to_payload(&(kind.to_abi() as u8)).expect("encodes"));
            assert_eq!(crate::codec::from_payload::<MessageKind>(&bytes).expect("decodes"), kind);
        }
        let err = crate::codec::from_payload::<MessageKind>(&[4]).expect_err("a lifecycle number is refused");
        assert!(err.to_string().contains("4 is not a message kind"), "{err}");
    }

    #[test]
    fn levels_round_trip_and_out_of_range_numbers_clamp() {
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::from_abi(level.to_abi()), level);
        }
        assert_eq!(LogLevel::from_abi(-7), LogLevel::Trace);
        assert_eq!(LogLevel::from_abi(i32::MIN), LogLevel::Trace);
        assert_eq!(LogLevel::from_abi(5), LogLevel::Error);
        assert_eq!(LogLevel::from_abi(i32::MAX), LogLevel::Error);
        assert!(LogLevel::Trace < LogLevel::Error);
    }

    #[test]
    fn handled_messages_map_onto_the_abi_statuses() {
        assert_eq!(Dispatched::Done.to_abi(), abi::status::DONE);
        assert_eq!(Dispatched::Deferred.to_abi(), abi::status::DEFERRED);
    }

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
        let bytes = deep(crate::codec::MAX_DEPTH - 1);
        assert_eq!(message(MessageKind::Request, &bytes).decode::<Note>().expect("decodes").text, "hi");
    }

    #[test]
    fn bytes_after_the_payload_are_an_invalid_message() {
        let err = message(MessageKind::Request, &[0xa2, b'h', b'i', 0xc0]).decode::<String>().expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidMessage);
        assert!(err.message.contains("trailing bytes"), "{err}");
    }
}
