//! MessagePack encoding with a hard size limit.
//!
//! Structures are encoded as maps with field names (`rmp_serde`'s "named"
//! form), so plugins in any language can read them without knowing field
//! order.

use core::fmt;

use serde::{Serialize, de::DeserializeOwned};

/// The default cap on one encoded message: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Encodes `value`, refusing a result over `max` bytes.
pub fn encode<T: Serialize + ?Sized>(value: &T, max: usize) -> Result<Vec<u8>, CodecError> {
    let bytes = rmp_serde::to_vec_named(value).map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > max {
        return Err(CodecError::TooLarge { size: bytes.len(), max });
    }
    Ok(bytes)
}

/// Decodes untrusted bytes, refusing input over `max` bytes. Never panics.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::TooLarge { size: bytes.len(), max });
    }
    rmp_serde::from_slice(bytes).map_err(|e| CodecError::Decode(e.to_string()))
}

/// Encodes a payload with the default limit.
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode(value, DEFAULT_MAX_MESSAGE_SIZE)
}

/// Decodes a payload with the default limit.
pub fn from_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode(bytes, DEFAULT_MAX_MESSAGE_SIZE)
}

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The message is larger than the limit.
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The value cannot be represented in MessagePack.
    Encode(String),
    /// The bytes are not valid MessagePack for the expected type.
    Decode(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, max } => write!(f, "message of {size} bytes exceeds the limit of {max} bytes"),
            Self::Encode(e) => write!(f, "cannot encode message: {e}"),
            Self::Decode(e) => write!(f, "invalid MessagePack: {e}"),
        }
    }
}

impl std::error::Error for CodecError {}
