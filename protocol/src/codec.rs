//! MessagePack encoding with a hard size limit, and decoding behind a
//! structure check.
//!
//! Structures are encoded as maps with field names (`rmp_serde`'s "named"
//! form), so plugins in any language can read them without knowing field
//! order.
//!
//! Every decoder here runs [`check`] first: the input must be exactly one
//! MessagePack value, nested at most [`MAX_DEPTH`] arrays and maps deep. The
//! decoders behind it recurse once per level, so bytes from a plugin, a
//! webview or another process can never make them go deep enough to
//! exhaust a stack. The broker never decodes payloads, so routing pays
//! nothing for it; a decoder pays one pass over the markers (strings and
//! binaries are skipped by their length).

mod check;

use core::fmt;

use serde::{Deserialize, Serialize};

#[cfg(feature = "json")]
pub(crate) use check::{Item, walk};
pub use check::{MAX_DEPTH, check};

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
///
/// # Errors
///
/// [`CodecError::TooLarge`] over `max`; whatever [`check`] refuses (not
/// exactly one value, nested past [`MAX_DEPTH`]); [`CodecError::Decode`]
/// when the value is not a `T`.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], max: usize) -> Result<T, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::TooLarge { size: bytes.len(), max });
    }
    from_slice(bytes)
}

/// Decodes untrusted bytes whose size a limit has bounded already (a
/// message the host delivered, a reply it admitted): [`decode`] without the
/// size check. Never panics.
///
/// ```
/// use wasp_protocol::codec::{self, CodecError};
/// assert_eq!(codec::from_slice::<u8>(&[0x07])?, 7);
/// assert!(matches!(codec::from_slice::<u8>(&[0x07, 0x07]), Err(CodecError::Malformed(_))));
/// # Ok::<(), CodecError>(())
/// ```
///
/// # Errors
///
/// Whatever [`check`] refuses; [`CodecError::Decode`] when the value is not
/// a `T`.
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    check(bytes)?;
    rmp_serde::from_slice(bytes).map_err(|e| CodecError::Decode(e.to_string()))
}

/// Encodes a payload with the default limit.
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode(value, DEFAULT_MAX_MESSAGE_SIZE)
}

/// Decodes a payload with the default limit.
///
/// # Errors
///
/// As [`decode`].
pub fn from_payload<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
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
    /// The bytes are not exactly one well-formed MessagePack value: empty,
    /// truncated, the reserved marker `0xc1`, or bytes after the value.
    Malformed(String),
    /// Arrays and maps nest deeper than the decoders accept ([`MAX_DEPTH`]).
    TooDeep {
        /// The limit in levels.
        max: usize,
    },
    /// The bytes are well-formed MessagePack but not the expected type.
    Decode(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, max } => write!(f, "message of {size} bytes exceeds the limit of {max} bytes"),
            Self::Encode(e) => write!(f, "cannot encode message: {e}"),
            Self::Malformed(why) => write!(f, "malformed MessagePack: {why}"),
            Self::TooDeep { max } => {
                write!(f, "MessagePack nested deeper than the limit of {max} levels of arrays and maps")
            }
            Self::Decode(e) => write!(f, "invalid MessagePack: {e}"),
        }
    }
}

impl std::error::Error for CodecError {}
