//! `counter`: state that lives across messages.
//!
//! - request `add` with a `u64`: adds it, publishes `counter.changed` with the
//!   new value, and answers the new value;
//! - request `get`: answers the value;
//! - event `counter.reset` (it subscribes on load): back to zero.
//!
//! Its value survives a hot reload: `on_unload` hands it to the new code,
//! which takes it back in `on_load`.

use wasp_sdk::prelude::*;

/// The counter plugin.
#[derive(Default)]
pub struct Counter {
    value: u64,
}

impl Plugin for Counter {
    fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
        // After a reload: carry on from the old code's value.
        if let Some(value) = ctx.restored_as::<u64>()? {
            self.value = value;
        }
        ctx.subscribe("counter.reset")
    }

    fn on_unload(&mut self, _: &mut Context<'_>) -> Result<Option<Vec<u8>>, WireError> {
        wasp_sdk::encode(&self.value).map(Some)
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "add") => {
                self.value = self.value.wrapping_add(msg.decode::<u64>()?);
                ctx.publish("counter.changed", &self.value)?;
                Reply::encode(&self.value)
            }
            (MessageKind::Request, "get") => Reply::encode(&self.value),
            (MessageKind::Event, "counter.reset") => {
                self.value = 0;
                Ok(Reply::empty())
            }
            (_, topic) => Err(WireError::new(ErrorCode::NotFound, format!("counter has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Counter);
