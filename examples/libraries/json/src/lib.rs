//! `json@1.0.0`: an example shared library module (docs/libraries.md).
//!
//! Two functions for plugins that name `json@1` in their manifest's `uses`:
//!
//! - `to_msgpack`: JSON text in, the same value as MessagePack out;
//! - `validate`: JSON text in, MessagePack `true` out, or an error naming
//!   the line and column of the first mistake.
//!
//! Built as a `cdylib` for `wasm32-unknown-unknown`, it carries
//! `json@1.0.0` in its `wasp:library` section. serde_json and rmp-serde are
//! compiled once, here, instead of into every plugin that parses JSON.

/// JSON text to MessagePack.
pub fn to_msgpack(input: &[u8]) -> Result<Vec<u8>, String> {
    let value: serde_json::Value = serde_json::from_slice(input).map_err(|e| format!("not JSON: {e}"))?;
    rmp_serde::to_vec(&value).map_err(|e| format!("cannot encode as MessagePack: {e}"))
}

/// Checks that `input` is JSON: MessagePack `true`, or where it is not.
pub fn validate(input: &[u8]) -> Result<Vec<u8>, String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(input).map_err(|e| format!("not JSON: {e}"))?;
    Ok(vec![0xc3])
}

wasp_sdk::export_library! {
    name = "json",
    version = "1.0.0",
    functions = { to_msgpack => to_msgpack, validate => validate },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_validates() {
        let packed = to_msgpack(br#"{"a":[1,true,null]}"#).unwrap();
        let back: serde_json::Value = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back, serde_json::json!({"a": [1, true, null]}));
        assert_eq!(validate(b"[1, 2]").unwrap(), [0xc3]);
        let e = validate(b"{\"a\": }").unwrap_err();
        assert!(e.contains("line 1 column 7"), "{e}");
    }
}
