//! `echo`: answers every request with the payload it was sent.
//!
//! The smallest useful plugin, and the one the benchmarks time: it measures
//! what wasp itself costs per message. Besides echoing, it answers `len` with
//! the payload's size, and publishes `echo.seen` for every event it receives.

use wasp_sdk::prelude::*;

/// The echo plugin. It keeps no state.
#[derive(Default)]
pub struct Echo;

impl Plugin for Echo {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "len") => Reply::encode(&(msg.payload.len() as u64)),
            // Answered straight from the message's bytes: no copy, no allocation.
            (MessageKind::Request, _) => {
                ctx.reply_raw(msg.id, msg.payload)?;
                Ok(Reply::sent())
            }
            (MessageKind::Event, topic) => {
                ctx.publish_raw("echo.seen", msg.payload)?;
                ctx.log(LogLevel::Debug, &format!("event `{topic}` from `{}`", msg.from));
                Ok(Reply::empty())
            }
            _ => Ok(Reply::empty()),
        }
    }
}

export_plugin!(Echo);
