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
///
/// A hot reload is different: the host asks the old instance for its state
/// with [`Plugin::on_unload`] and starts the new code with it, where
/// [`Context::restored`] returns it during [`Plugin::on_load`].
pub trait Plugin: Send + 'static {
    /// Called once before the first message: subscribe to topics, read
    /// configuration. An error here fails the load.
    fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
        let _ = ctx;
        Ok(())
    }

    /// Called when the host discards this instance in an orderly way: a hot
    /// reload replaces it with new code, or the plugin is unloaded. Return
    /// the state the next instance should start from (any bytes;
    /// [`crate::encode`] makes MessagePack of a `serde` value); on a reload
    /// the new instance finds it in [`Context::restored`] during its
    /// [`Plugin::on_load`]. On an unload the state is dropped: use this to
    /// flush what must not be lost.
    ///
    /// An error stops a reload: the old code keeps running, and the reload
    /// fails with this error. The new instance can also fail to start: then
    /// this instance keeps running too, so do not tear anything down here.
    /// It runs under the CPU budget of one message; messages that arrive
    /// meanwhile wait and go to the new instance.
    ///
    /// ```
    /// # use wasp_sdk::prelude::*;
    /// #[derive(Default)]
    /// struct Counter {
    ///     count: u64,
    /// }
    ///
    /// impl Plugin for Counter {
    ///     fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
    ///         // `Some` only when a reload handed over the old instance's state.
    ///         if let Some(count) = ctx.restored_as::<u64>()? {
    ///             self.count = count;
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn on_unload(&mut self, _: &mut Context<'_>) -> Result<Option<Vec<u8>>, WireError> {
    ///         wasp_sdk::encode(&self.count).map(Some)
    ///     }
    ///
    ///     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
    ///         self.count += 1;
    ///         Reply::encode(&self.count)
    ///     }
    /// }
    /// # export_plugin!(Counter);
    /// # fn main() {}
    /// ```
    fn on_unload(&mut self, ctx: &mut Context<'_>) -> Result<Option<Vec<u8>>, WireError> {
        let _ = ctx;
        Ok(None)
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
