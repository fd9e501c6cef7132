//! JSON from the webview to MessagePack for plugins, and back — once, in Rust.

use serde_json::Value as Json;

use crate::error::{Error, Result};

/// Encodes a JSON value as MessagePack (see [`wasp_protocol::json`]).
pub(crate) fn to_msgpack(value: &Json) -> Result<Vec<u8>> {
    wasp_protocol::json::from_json(value).map_err(|e| Error::InvalidPayload(e.message))
}

/// Decodes a plugin's MessagePack as JSON (see [`wasp_protocol::json`]);
/// garbage is an `invalid_message` error naming the plugin.
pub(crate) fn to_json(bytes: &[u8], from: &str) -> Result<Json> {
    wasp_protocol::json::to_json(bytes).map_err(|mut e| {
        e.message = format!("`{from}` sent bytes that are {}", e.message);
        Error::Wire(e)
    })
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
        let five = rmpv::Value::Map(vec![(rmpv::Value::from(5), rmpv::Value::from("five"))]);
        rmpv::encode::write_value(&mut map, &five).unwrap();
        assert_eq!(to_json(&map, "p").unwrap(), json!({"5": "five"}));
        assert_eq!(to_json(&[], "p").unwrap(), Json::Null);
    }

    #[test]
    fn a_payload_nested_ten_thousand_deep_is_refused_both_ways_on_a_small_stack() {
        let (reply, request) = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let deep = [vec![0x91; 10_000], vec![0xc0]].concat();
                let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
                let json: Json = serde_json::from_str(&nested(100)).unwrap();
                (to_json(&deep, "deep").map(|_| ()), to_msgpack(&json).map(|_| ()))
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        let err = reply.unwrap_err();
        assert_eq!(err.code(), "invalid_message");
        assert!(err.to_string().contains("`deep` sent bytes that are nested deeper than the limit of 32"), "{err}");
        let err = request.unwrap_err();
        assert_eq!(err.code(), "invalid_payload");
        assert!(err.to_string().contains("deeper than the limit of 32"), "{err}");
    }

    #[test]
    fn a_reply_too_large_for_json_is_refused_naming_the_limit() {
        let big = rmp_serde::to_vec(&serde_bytes::ByteBuf::from(vec![255u8; 15 << 20])).unwrap();
        let err = to_json(&big, "big").unwrap_err();
        assert_eq!(err.code(), "too_large");
        assert!(err.to_string().contains("over the limit of 16777216"), "{err}");
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
