//! What must hold for any input to the protocol's parsers, shared by the
//! property tests in `codec_props.rs` and the `envelope_decode` and
//! `permission_parse` fuzz targets (`fuzz/fuzz_targets/`, which include this
//! file), so CI runs the fuzz targets' checks on every test run.
//!
//! Each check returns what went wrong instead of panicking, so a property
//! test can shrink it and a fuzz target can report it.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasp_protocol::codec::{self, CodecError};
use wasp_protocol::{Address, Permission, WireError};

/// A routed message with its header, as a MessagePack document: numbers,
/// an option, [`Address`]es, an enum, text and bytes. The wire's documents
/// are made of these parts; this one is the codec's test subject (the
/// fuzz corpora of `envelope_decode` are documents of this shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) correlation: Option<u64>,
    pub(crate) from: Address,
    pub(crate) to: Address,
    pub(crate) kind: Kind,
    pub(crate) topic: String,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
}

/// What an [`Envelope`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Request,
    Reply,
    Event,
    Error,
}

impl Envelope {
    /// A one-way event.
    pub(crate) fn event(id: u64, from: Address, to: Address, topic: &str, payload: Vec<u8>) -> Self {
        Self { id, correlation: None, from, to, kind: Kind::Event, topic: topic.to_owned(), payload }
    }

    /// Encodes to MessagePack, refusing anything over `max` bytes.
    pub(crate) fn encode(&self, max: usize) -> Result<Vec<u8>, CodecError> {
        codec::encode(self, max)
    }

    /// Decodes untrusted bytes; never panics.
    pub(crate) fn decode(bytes: &[u8], max: usize) -> Result<Self, CodecError> {
        codec::decode(bytes, max)
    }
}

/// Decodes `bytes` under `limit` as an [`Envelope`] and as a [`WireError`]:
/// never a panic; input over the limit is refused as `TooLarge`; whatever
/// decodes encodes again to bytes that decode to the same value.
pub(crate) fn decode(bytes: &[u8], limit: usize) -> Result<(), String> {
    decodes_to_itself::<Envelope>(bytes, limit)?;
    decodes_to_itself::<WireError>(bytes, limit)
}

fn decodes_to_itself<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    bytes: &[u8],
    limit: usize,
) -> Result<(), String> {
    let what = std::any::type_name::<T>();
    let decoded = codec::decode::<T>(bytes, limit);
    if bytes.len() > limit {
        return match decoded {
            Err(CodecError::TooLarge { size, max }) if size == bytes.len() && max == limit => Ok(()),
            other => Err(format!("{what}: {} bytes over a limit of {limit} gave {other:?}", bytes.len())),
        };
    }
    let Ok(value) = decoded else { return Ok(()) };
    // The encoding may be longer than the input (named fields, wider
    // integers), so the second pass has no limit.
    let again = codec::encode(&value, usize::MAX).map_err(|e| format!("{what}: {value:?} does not encode: {e}"))?;
    match codec::decode::<T>(&again, usize::MAX) {
        Ok(back) if back == value => Ok(()),
        other => Err(format!("{what}: {value:?} encoded as {again:02x?} decodes to {other:?}")),
    }
}

/// Parses `text` as a [`Permission`]: never a panic; a permission displays
/// as exactly the text it came from, parses back to itself and covers
/// itself; an error names the text and gives a reason.
pub(crate) fn permission(text: &str) -> Result<(), String> {
    match text.parse::<Permission>() {
        Ok(p) => {
            let shown = p.to_string();
            if shown != text {
                return Err(format!("{text:?} parsed to {p:?}, which displays as {shown:?}"));
            }
            match shown.parse::<Permission>() {
                Ok(back) if back == p => {}
                other => return Err(format!("{shown:?} parsed back as {other:?}, not {p:?}")),
            }
            if !p.covers(&p) {
                return Err(format!("{p:?} does not cover itself"));
            }
            Ok(())
        }
        Err(e) if e.text == text && !e.reason.is_empty() => Ok(()),
        Err(e) => Err(format!("{text:?} was refused with {e:?}, which does not name it or say why")),
    }
}

/// Runs [`codec::check`] on `bytes`: never a panic; what passes is one
/// value that rmpv (a decoder independent of the check) reads to the last
/// byte; an error is `TooDeep` at [`codec::MAX_DEPTH`] or `Malformed` with a
/// reason.
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    match codec::check(bytes) {
        Ok(()) => {
            let mut rest = bytes;
            match rmpv::decode::read_value(&mut rest) {
                Ok(_) if rest.is_empty() => Ok(()),
                Ok(value) => Err(format!("{bytes:02x?} passed with {} bytes after {value}", rest.len())),
                Err(e) => Err(format!("{bytes:02x?} passed but rmpv refuses it: {e}")),
            }
        }
        Err(CodecError::TooDeep { max }) if max == codec::MAX_DEPTH => Ok(()),
        Err(CodecError::Malformed(why)) if !why.is_empty() => Ok(()),
        Err(other) => Err(format!("{bytes:02x?} refused with {other:?}")),
    }
}
