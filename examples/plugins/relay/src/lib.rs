//! `relay`: plugin-to-plugin requests, both ways a plugin can wait.
//!
//! - request `forward` with a [`Forward`]: sends `body` as a request to
//!   `to`/`topic`, waits for the answer (the plugin is suspended meanwhile),
//!   and answers with it;
//! - request `forward_async`: the same with `request_async`: the relay defers
//!   its answer, keeps serving its mailbox, and answers when the completion
//!   message arrives;
//! - request `pending`: how many `forward_async` answers it still awaits;
//! - a cancellation notice (ABI 1.3) for a `forward_async` whose caller gave
//!   up: the relay stops waiting for that answer (it would be discarded).
//!
//! Relays chain (A→B→C) by nesting a `Forward` in `body`. A relay that
//! forwards to itself, or a cycle of relays waiting on each other, gets
//! `would_deadlock` instead of hanging.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wasp_sdk::prelude::*;

/// What to forward where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The plugin to ask.
    pub to: String,
    /// The topic to ask on.
    pub topic: String,
    /// The request's payload, MessagePack.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl Forward {
    /// A forward whose body is `value` encoded.
    pub fn new<T: Serialize + ?Sized>(to: &str, topic: &str, value: &T) -> Self {
        Self { to: to.into(), topic: topic.into(), body: rmp_serde_encode(value) }
    }
}

fn rmp_serde_encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    wasp_sdk::protocol::codec::to_payload(value).unwrap_or_default()
}

/// The relay plugin: remembers which of its requests answers which caller.
#[derive(Default)]
pub struct Relay {
    /// `request_async` id → the id of the request to answer with it.
    waiting: HashMap<u64, u64>,
}

impl Plugin for Relay {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        if let Some(cancelled) = msg.cancelled_request() {
            self.waiting.retain(|_, caller| *caller != cancelled);
            return Ok(Reply::empty());
        }
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "forward") => {
                let f: Forward = msg.decode()?;
                Ok(Reply::bytes(ctx.request_raw(&f.to, &f.topic, &f.body, None)?))
            }
            (MessageKind::Request, "forward_async") => {
                let f: Forward = msg.decode()?;
                let id = ctx.request_async_raw(&f.to, &f.topic, &f.body, None)?;
                self.waiting.insert(id, msg.id);
                Ok(Reply::deferred())
            }
            (MessageKind::Request, "pending") => Reply::encode(&(self.waiting.len() as u64)),
            (MessageKind::Reply, _) => {
                if let Some(caller) = self.waiting.remove(&msg.id) {
                    ctx.reply_raw(caller, msg.payload)?;
                }
                Ok(Reply::empty())
            }
            (MessageKind::Error, _) => {
                if let (Some(caller), Some(err)) = (self.waiting.remove(&msg.id), msg.error()) {
                    ctx.reply_error(caller, &err)?;
                }
                Ok(Reply::empty())
            }
            (_, topic) => Err(WireError::new(ErrorCode::NotFound, format!("relay has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Relay);
