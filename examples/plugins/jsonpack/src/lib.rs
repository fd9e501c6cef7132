//! Example plugin using a shared library module (docs/libraries.md): it
//! links no JSON parser of its own, and asks the `json` library its
//! manifest `uses` (`uses = ["json@1"]`) instead.
//!
//! Topics (requests):
//! - `pack`: a JSON text (a MessagePack string) → the same value as
//!   MessagePack (the reply's payload is the library's output, as is);
//! - `pack-with`: `[library, text]` → calls `to_msgpack` of that library:
//!   how a plugin learns that it may reach only the libraries it `uses`.

use wasp_sdk::prelude::*;

/// Stateless: every call goes to the library.
#[derive(Default)]
pub struct JsonPack;

impl Plugin for JsonPack {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "pack" => {
                let text: String = msg.decode()?;
                Ok(Reply::bytes(ctx.library("json").call("to_msgpack", text.as_bytes())?))
            }
            "pack-with" => {
                let (library, text): (String, String) = msg.decode()?;
                Ok(Reply::bytes(ctx.library(&library).call("to_msgpack", text.as_bytes())?))
            }
            other => Err(WireError::plugin(format!("unknown topic `{other}`"))),
        }
    }
}

export_plugin!(JsonPack);
