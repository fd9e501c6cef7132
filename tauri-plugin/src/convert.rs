//! JSON from the webview to MessagePack for plugins, and back — once, in Rust.

use rmpv::Value as Msg;
use serde_json::{Map, Number, Value as Json};

use crate::error::{Error, Result};

/// Encodes a JSON value as MessagePack. `null` (or a missing payload)
/// becomes MessagePack `nil`; integers stay integers; objects become maps
/// with string keys.
pub(crate) fn to_msgpack(value: &Json) -> Result<Vec<u8>> {
    rmp_serde::to_vec(value).map_err(|e| Error::InvalidPayload(format!("cannot encode as MessagePack: {e}")))
}

/// Decodes a plugin's MessagePack as JSON. An empty payload is `null`.
/// What JSON cannot hold is mapped: binary to an array of byte values, a
/// map key that is not a string to its JSON text, an extension to
/// `{"ext": type, "data": [bytes]}`, a non-finite float to `null`.
/// Garbage is an `invalid_message` error naming the plugin.
pub(crate) fn to_json(bytes: &[u8], from: &str) -> Result<Json> {
    if bytes.is_empty() {
        return Ok(Json::Null);
    }
    let invalid = |why: String| {
        Error::Wire(wasp_protocol::WireError::new(
            wasp_protocol::ErrorCode::InvalidMessage,
            format!("`{from}` sent bytes that are not one MessagePack value: {why}"),
        ))
    };
    let mut reader = bytes;
    let value = rmpv::decode::read_value(&mut reader).map_err(|e| invalid(e.to_string()))?;
    if !reader.is_empty() {
        return Err(invalid(format!("{} bytes follow the value", reader.len())));
    }
    Ok(json(value))
}

fn json(value: Msg) -> Json {
    match value {
        Msg::Nil => Json::Null,
        Msg::Boolean(b) => Json::Bool(b),
        Msg::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::Number(u.into()),
            (None, Some(s)) => Json::Number(s.into()),
            (None, None) => Json::Null,
        },
        Msg::F32(f) => Number::from_f64(f64::from(f)).map_or(Json::Null, Json::Number),
        Msg::F64(f) => Number::from_f64(f).map_or(Json::Null, Json::Number),
        Msg::String(s) => match s.into_str() {
            Some(s) => Json::String(s),
            None => Json::Null,
        },
        Msg::Binary(bytes) => bytes_json(&bytes),
        Msg::Array(items) => Json::Array(items.into_iter().map(json).collect()),
        Msg::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    Msg::String(s) if s.is_str() => s.into_str().unwrap_or_default(),
                    other => json(other).to_string(),
                };
                map.insert(key, json(v));
            }
            Json::Object(map)
        }
        Msg::Ext(kind, data) => serde_json::json!({"ext": kind, "data": bytes_json(&data)}),
    }
}

fn bytes_json(bytes: &[u8]) -> Json {
    Json::Array(bytes.iter().map(|&b| Json::Number(b.into())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_messagepack() {
        let value = json!({"text": "hello", "n": -3, "big": u64::MAX, "pi": 3.5, "list": [true, null, "x"]});
        let bytes = to_msgpack(&value).unwrap();
        assert_eq!(to_json(&bytes, "p").unwrap(), value);
        // An integer stays an integer on the wire (plugins decode u64).
        assert_eq!(to_msgpack(&json!(7)).unwrap(), vec![0x07]);
        assert_eq!(to_msgpack(&Json::Null).unwrap(), vec![0xc0]);
    }

    #[test]
    fn what_json_cannot_hold_is_mapped() {
        let bin = rmp_serde::to_vec(&serde_bytes::Bytes::new(&[1, 2, 255])).unwrap();
        assert_eq!(to_json(&bin, "p").unwrap(), json!([1, 2, 255]));
        let mut map = Vec::new();
        rmpv::encode::write_value(&mut map, &Msg::Map(vec![(Msg::from(5), Msg::from("five"))])).unwrap();
        assert_eq!(to_json(&map, "p").unwrap(), json!({"5": "five"}));
        assert_eq!(to_json(&[], "p").unwrap(), Json::Null);
    }

    #[test]
    fn garbage_is_an_invalid_message_naming_the_plugin() {
        for garbage in [&[0x92, 0x01][..], &[0xa5, b'a'], &[0x01, 0x02]] {
            let err = to_json(garbage, "liar").unwrap_err();
            assert_eq!(err.code(), "invalid_message", "{garbage:?}");
            assert!(err.to_string().contains("`liar`"), "{err}");
        }
    }
}
