//! What must hold for any input to the JSON conversion, shared by the
//! property tests in `codec_props.rs` and the `json_convert` fuzz target
//! (`fuzz/fuzz_targets/`, which includes this file).

use wasp_protocol::json::{MAX_JSON_SIZE, from_json, to_json};
use wasp_protocol::{ErrorCode, codec};

/// Converts `bytes` to JSON: never a panic; an error is `invalid_message`
/// or `too_large` with a message; what converts passed the codec's check,
/// has at most [`MAX_JSON_SIZE`] bytes of text, and goes back to
/// MessagePack that converts to the same JSON (unless binaries, which
/// become arrays, took it past the depth limit).
pub(crate) fn json(bytes: &[u8]) -> Result<(), String> {
    let json = match to_json(bytes) {
        Ok(json) => json,
        Err(e) if matches!(e.code, ErrorCode::InvalidMessage | ErrorCode::TooLarge) && !e.message.is_empty() => {
            return Ok(());
        }
        Err(e) => return Err(format!("{bytes:02x?} refused with {e}")),
    };
    if !bytes.is_empty() && codec::check(bytes).is_err() {
        return Err(format!("{bytes:02x?} converted but fails the check"));
    }
    let text = json.to_string();
    if text.len() > MAX_JSON_SIZE {
        return Err(format!("{} bytes of JSON from {} bytes", text.len(), bytes.len()));
    }
    match from_json(&json) {
        Ok(packed) => match to_json(&packed) {
            Ok(back) if back == json => Ok(()),
            other => Err(format!("{json} went back as {packed:02x?}, then {other:?}")),
        },
        Err(e) if e.code == ErrorCode::InvalidArgument && e.message.contains("nested deeper") => Ok(()),
        Err(e) => Err(format!("{json} does not go back to MessagePack: {e}")),
    }
}
