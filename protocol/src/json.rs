//! JSON to MessagePack and back, for hosts that speak JSON to people or
//! webviews (feature `json`): the `cargo wasp` CLI and the Tauri plugin.
//!
//! Both directions are bounded. JSON nested deeper than
//! [`MAX_DEPTH`] levels is refused, as every
//! decoder refuses such MessagePack. And JSON is bigger than the MessagePack
//! it comes from (each byte of a `bin` becomes a number and a comma, each
//! value a tree node of its own), so [`to_json`] refuses a value whose JSON
//! would pass [`json_size_limit`] bytes of text ([`MAX_JSON_RATIO`] times
//! the MessagePack, at least 1 MiB, at most [`MAX_JSON_SIZE`]) or
//! [`MAX_JSON_VALUES`] values, before it builds any of it. Bulk data
//! crosses as raw MessagePack.
//!
//! ```
//! use wasp_protocol::json::{from_json, to_json};
//! let value = serde_json::json!({"text": "hi", "n": 3});
//! assert_eq!(to_json(&from_json(&value)?)?, value);
//! # Ok::<(), wasp_protocol::WireError>(())
//! ```

mod measure;

use serde_json::{Map, Number, Value as Json};

use crate::codec::{CodecError, MAX_DEPTH};
use crate::{ErrorCode, WireError};

/// The most JSON text [`to_json`] makes of one value: 16 MiB, the default
/// message size limit ([`DEFAULT_MAX_MESSAGE_SIZE`](crate::codec::DEFAULT_MAX_MESSAGE_SIZE)),
/// so the JSON path carries no more than one message's worth of text.
pub const MAX_JSON_SIZE: usize = crate::codec::DEFAULT_MAX_MESSAGE_SIZE;

/// How many times larger than its MessagePack the JSON of a value may be,
/// past [`JSON_SIZE_FLOOR`]. Ordinary data grows at most about five times
/// (`nil` is `null,`; a byte of `bin` is up to `255,`); map keys that are
/// not strings become escaped text, which doubles with each level of such
/// keys inside keys, so 91 bytes of them can make megabytes of JSON. This
/// keeps converting a value near the cost of reading it.
pub const MAX_JSON_RATIO: usize = 8;

/// The JSON text any value may take whatever its size: 1 MiB.
pub const JSON_SIZE_FLOOR: usize = 1 << 20;

/// The most JSON text [`to_json`] makes of `msgpack_len` bytes of
/// MessagePack: [`MAX_JSON_RATIO`] times as many, at least
/// [`JSON_SIZE_FLOOR`], at most [`MAX_JSON_SIZE`].
///
/// ```
/// use wasp_protocol::json::{json_size_limit, MAX_JSON_SIZE, JSON_SIZE_FLOOR};
/// assert_eq!(json_size_limit(91), JSON_SIZE_FLOOR);
/// assert_eq!(json_size_limit(1 << 20), 8 << 20);
/// assert_eq!(json_size_limit(15 << 20), MAX_JSON_SIZE);
/// ```
pub fn json_size_limit(msgpack_len: usize) -> usize {
    msgpack_len.saturating_mul(MAX_JSON_RATIO).clamp(JSON_SIZE_FLOOR, MAX_JSON_SIZE)
}

/// The most JSON values [`to_json`] makes of one value: 1,048,576. Each
/// value is a node of 32 bytes or more in memory, and each byte of a `bin`
/// is one, so a binary of 1 MiB is about the most that converts; this bound
/// keeps the tree under 64 MiB where the text bound alone would let a
/// message of small numbers grow to hundreds.
pub const MAX_JSON_VALUES: usize = 1 << 20;

/// Encodes a JSON value as MessagePack: `null` becomes `nil`, integers stay
/// integers, objects become maps with string keys.
///
/// # Errors
///
/// `invalid_argument` for arrays and objects nested deeper than
/// [`MAX_DEPTH`] levels (no plugin could decode them), or a value MessagePack
/// cannot hold.
pub fn from_json(value: &Json) -> Result<Vec<u8>, WireError> {
    if nests_deeper_than(value, MAX_DEPTH) {
        return Err(WireError::new(
            ErrorCode::InvalidArgument,
            format!("JSON nested deeper than the limit of {MAX_DEPTH} levels of arrays and objects"),
        ));
    }
    rmp_serde::to_vec(value)
        .map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("cannot encode as MessagePack: {e}")))
}

/// Whether arrays and objects in `value` nest deeper than `max`; walks it
/// without recursion.
fn nests_deeper_than(value: &Json, max: usize) -> bool {
    let mut pending = vec![(value, 0)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            Json::Array(_) | Json::Object(_) if depth >= max => return true,
            Json::Array(items) => pending.extend(items.iter().map(|child| (child, depth + 1))),
            Json::Object(map) => pending.extend(map.values().map(|child| (child, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Decodes exactly one MessagePack value as JSON; empty bytes are `null`.
/// What JSON cannot hold is mapped: binary to an array of byte values, a
/// map key that is not a string to its JSON text, an extension to
/// `{"ext": type, "data": [bytes]}`, a non-finite float to its name
/// (`"NaN"`), text that is not UTF-8 to `"<invalid UTF-8>"`.
///
/// # Errors
///
/// `invalid_message` for anything but one well-formed value — the reserved
/// marker `0xc1`, a truncated value, bytes after the value — and for arrays
/// and maps nested deeper than [`MAX_DEPTH`]; `too_large`, naming the
/// limit, for a value whose JSON would pass [`json_size_limit`] bytes
/// (16 MiB at most) or [`MAX_JSON_VALUES`] values (checked before any of
/// it is built).
pub fn to_json(bytes: &[u8]) -> Result<Json, WireError> {
    if bytes.is_empty() {
        return Ok(Json::Null);
    }
    let size = measure::json_size(bytes).map_err(|e| match e {
        CodecError::Malformed(why) => {
            WireError::new(ErrorCode::InvalidMessage, format!("not one MessagePack value: {why}"))
        }
        CodecError::TooDeep { max } => WireError::new(
            ErrorCode::InvalidMessage,
            format!("nested deeper than the limit of {max} levels of arrays and maps"),
        ),
        other => WireError::from(other),
    })?;
    let limit = json_size_limit(bytes.len());
    if size.text > limit as u64 {
        return Err(WireError::new(
            ErrorCode::TooLarge,
            format!(
                "too large for JSON: up to {} bytes of JSON text from {} bytes of MessagePack, over the limit of \
                 {limit} ({MAX_JSON_RATIO} times the MessagePack, at least {JSON_SIZE_FLOOR}, at most \
                 {MAX_JSON_SIZE}; use raw MessagePack)",
                size.text,
                bytes.len()
            ),
        ));
    }
    if size.values > MAX_JSON_VALUES as u64 {
        return Err(WireError::new(
            ErrorCode::TooLarge,
            format!(
                "too large for JSON: {} JSON values (each byte of binary is one), over the limit of {MAX_JSON_VALUES} (use raw MessagePack)",
                size.values
            ),
        ));
    }
    let mut rest = bytes;
    // The value is well formed and shallow (measured above), so this
    // recursive read stays shallow too.
    let value = rmpv::decode::read_value(&mut rest)
        .map_err(|e| WireError::new(ErrorCode::InvalidMessage, format!("not one MessagePack value: {e}")))?;
    Ok(convert(value))
}

fn convert(value: rmpv::Value) -> Json {
    use rmpv::Value;
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::from(u),
            (None, Some(s)) => Json::from(s),
            (None, None) => Json::Null,
        },
        Value::F32(x) => float(f64::from(x)),
        Value::F64(x) => float(x),
        Value::String(s) => Json::String(s.into_str().unwrap_or_else(|| "<invalid UTF-8>".into())),
        Value::Binary(bytes) => bytes_json(bytes),
        Value::Array(items) => Json::Array(items.into_iter().map(convert).collect()),
        Value::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match convert(key) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, convert(value));
            }
            Json::Object(map)
        }
        Value::Ext(kind, data) => {
            let mut map = Map::new();
            map.insert("ext".into(), Json::from(kind));
            map.insert("data".into(), bytes_json(data));
            Json::Object(map)
        }
    }
}

fn float(x: f64) -> Json {
    Number::from_f64(x).map_or_else(|| Json::String(x.to_string()), Json::Number)
}

fn bytes_json(bytes: Vec<u8>) -> Json {
    Json::Array(bytes.into_iter().map(Json::from).collect())
}
