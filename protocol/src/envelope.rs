//! One routed message.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::{Address, WireError};

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Expects exactly one [`Kind::Reply`] or [`Kind::Error`] back.
    Request,
    /// The successful answer to a request (`correlation` = the request's id).
    Reply,
    /// A one-way message: a send or a publish. No answer.
    Event,
    /// The failed answer to a request; the payload is a [`WireError`].
    Error,
}

/// A message with its routing header.
///
/// The payload is opaque MessagePack bytes: the broker routes envelopes
/// without decoding what they carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per host; request ids are what replies correlate with.
    pub id: u64,
    /// For replies and errors: the id of the request they answer.
    #[serde(default)]
    pub correlation: Option<u64>,
    /// Who sent it.
    pub from: Address,
    /// Who receives it (for a publish: each subscriber in turn).
    pub to: Address,
    /// Request, reply, event or error.
    pub kind: Kind,
    /// What the message is about (`ping`, `sensor.temperature`).
    pub topic: String,
    /// MessagePack-encoded body.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

impl Envelope {
    /// A request from `from` to `to`.
    pub fn request(id: u64, from: Address, to: Address, topic: impl Into<String>, payload: Vec<u8>) -> Self {
        Self { id, correlation: None, from, to, kind: Kind::Request, topic: topic.into(), payload }
    }

    /// A one-way event.
    pub fn event(id: u64, from: Address, to: Address, topic: impl Into<String>, payload: Vec<u8>) -> Self {
        Self { kind: Kind::Event, ..Self::request(id, from, to, topic, payload) }
    }

    /// The answer to this request: a reply with `result`'s payload, or an
    /// error envelope carrying the [`WireError`].
    pub fn answer(&self, id: u64, result: Result<Vec<u8>, WireError>) -> Result<Self, CodecError> {
        let (kind, payload) = match result {
            Ok(payload) => (Kind::Reply, payload),
            Err(e) => (Kind::Error, codec::to_payload(&e)?),
        };
        Ok(Self {
            id,
            correlation: Some(self.id),
            from: self.to.clone(),
            to: self.from.clone(),
            kind,
            topic: self.topic.clone(),
            payload,
        })
    }

    /// Encodes to MessagePack, refusing anything over `max` bytes.
    pub fn encode(&self, max: usize) -> Result<Vec<u8>, CodecError> {
        codec::encode(self, max)
    }

    /// Decodes untrusted bytes; never panics.
    pub fn decode(bytes: &[u8], max: usize) -> Result<Self, CodecError> {
        codec::decode(bytes, max)
    }
}
