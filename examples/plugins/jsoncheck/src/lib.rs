//! Example plugin using a shared library module (docs/libraries.md): the
//! second user of the `json` library, beside `jsonpack`. Each gets its own
//! instance of the library (its own memory); the compiled code is shared.
//!
//! Topics (requests):
//! - `check`: a JSON text (a MessagePack string) → `{ valid, error }`,
//!   with the library's message (line and column) when it is not JSON;
//! - `checked`: how many texts this instance checked.

use serde::Serialize;
use wasp_sdk::prelude::*;

/// Counts the texts it checked.
#[derive(Default)]
pub struct JsonCheck {
    checked: u64,
}

/// The answer to `check`.
#[derive(Serialize)]
struct Verdict {
    valid: bool,
    error: Option<String>,
}

impl Plugin for JsonCheck {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "check" => {
                let text: String = msg.decode()?;
                self.checked += 1;
                let verdict = match ctx.library("json").call_as::<bool>("validate", text.as_bytes()) {
                    Ok(valid) => Verdict { valid, error: None },
                    // The library's own failure (`plugin`); anything else is the host's.
                    Err(e) if e.code == ErrorCode::Plugin => Verdict { valid: false, error: Some(e.message) },
                    Err(e) => return Err(e),
                };
                Reply::encode(&verdict)
            }
            "checked" => Reply::encode(&self.checked),
            other => Err(WireError::plugin(format!("unknown topic `{other}`"))),
        }
    }
}

export_plugin!(JsonCheck);
