//! JSON on the command line, MessagePack on the wire.

use serde_json::Value as Json;

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
    wasp_protocol::json::from_json(&value).map_err(|e| CommandError::Usage(e.message))
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
    wasp_protocol::json::to_json(bytes).map(Some).map_err(|e| CommandError::Reply(e.message))
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
    fn nesting_past_the_limit_is_an_error_both_ways_on_a_small_stack() {
        let (reply, payload, deeper) = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
                (
                    msgpack_to_json(&[vec![0x91; 10_000], vec![0xc0]].concat()),
                    json_to_msgpack(&nested(10_000)),
                    json_to_msgpack(&nested(wasp_protocol::codec::MAX_DEPTH + 1)),
                )
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(
            matches!(reply, Err(CommandError::Reply(ref m)) if m.contains("deeper than the limit of 32")),
            "{reply:?}"
        );
        assert!(matches!(payload, Err(CommandError::Usage(ref m)) if m.contains("recursion limit")), "{payload:?}");
        assert!(
            matches!(deeper, Err(CommandError::Usage(ref m)) if m.contains("deeper than the limit of 32")),
            "{deeper:?}"
        );
    }

    #[test]
    fn broken_replies_are_errors() {
        assert!(matches!(msgpack_to_json(&[0xc1]), Err(CommandError::Reply(_))));
        assert!(matches!(msgpack_to_json(&[0x91, 0xc1]), Err(CommandError::Reply(_))));
        assert!(matches!(msgpack_to_json(&[0x01, 0x02]), Err(CommandError::Reply(_))));
    }
}
