//! JSON on the command line, MessagePack on the wire.

use serde_json::{Map, Number, Value as Json};

use crate::error::CommandError;

/// Encodes JSON text as a MessagePack payload. Objects become maps with
/// string keys; numbers stay integers when they are.
///
/// ```
/// use wasp_cli::transcode::json_to_msgpack;
/// assert_eq!(json_to_msgpack("\"hi\"")?, [0xa2, b'h', b'i']);
/// assert!(json_to_msgpack("hi").is_err()); // a string is quoted
/// # Ok::<(), wasp_cli::error::CommandError>(())
/// ```
pub fn json_to_msgpack(text: &str) -> Result<Vec<u8>, CommandError> {
    let value: Json = serde_json::from_str(text).map_err(|e| {
        CommandError::Usage(format!("the payload `{text}` is not JSON ({e}); a string is quoted: '\"{text}\"'"))
    })?;
    rmp_serde::to_vec_named(&value).map_err(|e| CommandError::Usage(format!("cannot encode the payload: {e}")))
}

/// Decodes a MessagePack reply as JSON: `None` for an empty reply. Binary
/// becomes an array of numbers; a map key that is not a string becomes its
/// JSON text; an extension becomes `{"ext": type, "data": [bytes]}`;
/// floats JSON cannot hold (NaN, infinities) become strings.
///
/// ```
/// use wasp_cli::transcode::msgpack_to_json;
/// let json = msgpack_to_json(&[0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0xc4, 0x02, 7, 8])?;
/// assert_eq!(json, Some(serde_json::json!({"a": 1, "b": [7, 8]})));
/// assert_eq!(msgpack_to_json(&[])?, None);
/// # Ok::<(), wasp_cli::error::CommandError>(())
/// ```
pub fn msgpack_to_json(bytes: &[u8]) -> Result<Option<Json>, CommandError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    // rmpv reads the reserved marker 0xc1 as nil; rmp-serde refuses it.
    rmp_serde::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| CommandError::Reply(e.to_string()))?;
    let mut rest = bytes;
    let value = rmpv::decode::read_value(&mut rest).map_err(|e| CommandError::Reply(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CommandError::Reply(format!("{} bytes follow the first value", rest.len())));
    }
    Ok(Some(to_json(value)))
}

fn to_json(value: rmpv::Value) -> Json {
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
        Value::String(s) => match s.into_str() {
            Some(s) => Json::String(s),
            None => Json::String("<invalid UTF-8>".to_owned()),
        },
        Value::Binary(bytes) => bytes_json(bytes),
        Value::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match to_json(key) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, to_json(value));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_survives_the_round_trip() {
        let text = r#"{"n":-3,"big":18446744073709551615,"x":1.5,"list":[true,null,"s"]}"#;
        let back = msgpack_to_json(&json_to_msgpack(text).unwrap()).unwrap().unwrap();
        assert_eq!(back, serde_json::from_str::<Json>(text).unwrap());
    }

    #[test]
    fn odd_values_become_readable_json() {
        // {1: NaN} and ext type 5 holding [9].
        let map = msgpack_to_json(&[0x81, 0x01, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]).unwrap().unwrap();
        assert_eq!(map, serde_json::json!({"1": "NaN"}));
        let ext = msgpack_to_json(&[0xd4, 0x05, 0x09]).unwrap().unwrap();
        assert_eq!(ext, serde_json::json!({"ext": 5, "data": [9]}));
    }

    #[test]
    fn broken_replies_are_errors() {
        assert!(matches!(msgpack_to_json(&[0xc1]), Err(CommandError::Reply(_))));
        assert!(matches!(msgpack_to_json(&[0x91, 0xc1]), Err(CommandError::Reply(_))));
        assert!(matches!(msgpack_to_json(&[0x01, 0x02]), Err(CommandError::Reply(_))));
    }
}
