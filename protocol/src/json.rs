//! JSON to MessagePack and back, for hosts that speak JSON to people or
//! webviews (feature `json`): the `wasp` CLI and the Tauri plugin.
//!
//! ```
//! use wasp_protocol::json::{from_json, to_json};
//! let value = serde_json::json!({"text": "hi", "n": 3});
//! assert_eq!(to_json(&from_json(&value)?)?, value);
//! # Ok::<(), wasp_protocol::WireError>(())
//! ```

use serde_json::{Map, Number, Value as Json};

use crate::{ErrorCode, WireError};

/// Encodes a JSON value as MessagePack: `null` becomes `nil`, integers stay
/// integers, objects become maps with string keys.
pub fn from_json(value: &Json) -> Result<Vec<u8>, WireError> {
    rmp_serde::to_vec(value)
        .map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("cannot encode as MessagePack: {e}")))
}

/// Decodes exactly one MessagePack value as JSON; empty bytes are `null`.
/// What JSON cannot hold is mapped: binary to an array of byte values, a
/// map key that is not a string to its JSON text, an extension to
/// `{"ext": type, "data": [bytes]}`, a non-finite float to its name
/// (`"NaN"`), text that is not UTF-8 to `"<invalid UTF-8>"`. Anything else —
/// the reserved marker `0xc1`, a truncated value, bytes after the value — is
/// an `invalid_message` error.
pub fn to_json(bytes: &[u8]) -> Result<Json, WireError> {
    if bytes.is_empty() {
        return Ok(Json::Null);
    }
    let invalid = |why: String| WireError::new(ErrorCode::InvalidMessage, format!("not one MessagePack value: {why}"));
    // rmpv reads the reserved marker 0xc1 as nil; rmp-serde refuses it.
    rmp_serde::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| invalid(e.to_string()))?;
    let mut rest = bytes;
    let value = rmpv::decode::read_value(&mut rest).map_err(|e| invalid(e.to_string()))?;
    if !rest.is_empty() {
        return Err(invalid(format!("{} bytes follow the value", rest.len())));
    }
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
