//! The `jsonpack` example with serde_json and rmp-serde compiled into the
//! plugin instead of reached through the shared `json` library: the
//! baseline that `benches/benches/libraries.rs` compares against
//! (docs/libraries.md, "What it saves").
//!
//! Topic (request): `pack`: a JSON text (a MessagePack string) → the same
//! value as MessagePack.

use wasp_sdk::prelude::*;

/// Stateless.
#[derive(Default)]
pub struct JsonPackEmbedded;

impl Plugin for JsonPackEmbedded {
    fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "pack" => {
                let text: String = msg.decode()?;
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| WireError::plugin(format!("not JSON: {e}")))?;
                Ok(Reply::bytes(rmp_serde::to_vec(&value).map_err(|e| WireError::plugin(e.to_string()))?))
            }
            other => Err(WireError::plugin(format!("unknown topic `{other}`"))),
        }
    }
}

export_plugin!(JsonPackEmbedded);
