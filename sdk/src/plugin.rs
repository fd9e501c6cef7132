//! The trait a plugin implements.

use wasp_protocol::WireError;

use crate::{Context, Message, Reply};

/// A wasp plugin: an actor that handles one message at a time.
///
/// The host creates the plugin with [`Default`] (or a factory, in process),
/// calls [`Plugin::on_load`] once, then [`Plugin::on_message`] for each
/// message in its mailbox, in order. If the plugin traps, panics or spends its
/// CPU budget, the host drops the instance and creates a fresh one: state that
/// must survive that belongs in host storage, not in fields.
pub trait Plugin: Send + 'static {
    /// Called once before the first message: subscribe to topics, read
    /// configuration. An error here fails the load.
    fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
        let _ = ctx;
        Ok(())
    }

    /// Handles one message.
    ///
    /// For a [`MessageKind::Request`](crate::MessageKind::Request) the
    /// returned [`Reply`] (or error) is the answer the caller receives, unless
    /// it is [`Reply::deferred`]: then the plugin answers later with
    /// [`Context::reply`]. For every other kind the returned value is
    /// ignored, except that an error is logged.
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError>;
}
