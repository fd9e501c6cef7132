//! In-process plugins: the SDK's [`Plugin`] adapted to the runtime's
//! [`InProcessPlugin`], the one place the plugin authors' crate and the
//! runtime meet (the runtime does not depend on the SDK).

use std::sync::Arc;

use wasp_protocol::{Dispatched, HostApi, Message, WireError};
use wasp_runtime::{InProcessPlugin, PluginFactory};
use wasp_sdk::{Context, Plugin};

/// A [`PluginFactory`] that makes each instance with `make`: what
/// [`Load::in_process`](crate::Load::in_process) loads, and
/// what a caller building a `wasp_runtime::PluginImage::InProcess` itself
/// hands it.
///
/// ```
/// # use wasp_sdk::prelude::*;
/// #[derive(Default)]
/// struct Echo;
/// impl Plugin for Echo {
///     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
///         Ok(Reply::bytes(msg.payload.to_vec()))
///     }
/// }
/// let image = wasp_runtime::PluginImage::InProcess(wasp_actors::in_process::factory(Echo::default));
/// # drop(image);
/// ```
pub fn factory<P: Plugin>(make: impl Fn() -> P + Send + Sync + 'static) -> PluginFactory {
    Arc::new(move || Box::new(Sdk(make())) as Box<dyn InProcessPlugin>)
}

/// A [`Plugin`] as the runtime calls it.
struct Sdk<P>(P);

impl<P: Plugin> InProcessPlugin for Sdk<P> {
    fn load(&mut self, host: &mut dyn HostApi, restored: Option<&[u8]>) -> Result<(), WireError> {
        self.0.on_load(&mut Context::with_restored(host, restored))
    }

    fn unload(&mut self, host: &mut dyn HostApi) -> Result<Option<Vec<u8>>, WireError> {
        self.0.on_unload(&mut Context::new(host))
    }

    fn handle(&mut self, host: &mut dyn HostApi, msg: Message<'_>) -> Dispatched {
        wasp_sdk::dispatch(&mut self.0, host, msg)
    }
}

#[cfg(test)]
mod tests {
    use wasp_protocol::{ErrorCode, LogLevel, MessageKind};
    use wasp_sdk::Reply;

    use super::*;

    /// Keeps the answers the plugin gives; refuses every other call.
    #[derive(Default)]
    struct Answers(Vec<(u64, Result<Vec<u8>, WireError>)>);

    fn refused<T>() -> Result<T, WireError> {
        Err(WireError::new(ErrorCode::Unavailable, "not in this test"))
    }

    impl HostApi for Answers {
        fn send(&mut self, _: &str, _: &str, _: &[u8]) -> Result<(), WireError> {
            refused()
        }
        fn publish(&mut self, _: &str, _: &[u8]) -> Result<(), WireError> {
            refused()
        }
        fn subscribe(&mut self, _: &str) -> Result<(), WireError> {
            refused()
        }
        fn unsubscribe(&mut self, _: &str) -> Result<(), WireError> {
            refused()
        }
        fn request(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<Vec<u8>, WireError> {
            refused()
        }
        fn request_async(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<u64, WireError> {
            refused()
        }
        fn reply(&mut self, id: u64, result: Result<&[u8], &WireError>) -> Result<(), WireError> {
            self.0.push((id, result.map(<[u8]>::to_vec).map_err(Clone::clone)));
            Ok(())
        }
        fn log(&mut self, _: LogLevel, _: &str) {}
        fn call(&mut self, _: &str, _: &[u8]) -> Result<Vec<u8>, WireError> {
            refused()
        }
    }

    /// Starts from a restored count, answers `get` with it, defers `later`,
    /// hands its count over on unload.
    #[derive(Default)]
    struct Counter(u8);

    impl Plugin for Counter {
        fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
            self.0 = ctx.restored().map_or(0, |state| state[0]);
            Ok(())
        }
        fn on_unload(&mut self, _: &mut Context<'_>) -> Result<Option<Vec<u8>>, WireError> {
            Ok(Some(vec![self.0]))
        }
        fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
            match msg.topic {
                "later" => Ok(Reply::deferred()),
                _ => Ok(Reply::bytes(vec![self.0])),
            }
        }
    }

    #[test]
    fn an_sdk_plugin_loads_answers_defers_and_hands_over_through_the_runtime_seam() {
        let mut plugin = factory(Counter::default)();
        let mut host = Answers::default();
        plugin.load(&mut host, Some(&[7])).expect("loads");
        let msg = |id, topic| Message { kind: MessageKind::Request, id, from: "host", topic, payload: &[0xc0] };
        assert_eq!(plugin.handle(&mut host, msg(1, "get")), Dispatched::Done);
        assert_eq!(plugin.handle(&mut host, msg(2, "later")), Dispatched::Deferred);
        assert_eq!(host.0, [(1, Ok(vec![7]))], "the request answered, the deferred one not");
        assert_eq!(plugin.unload(&mut host), Ok(Some(vec![7])));
    }
}
