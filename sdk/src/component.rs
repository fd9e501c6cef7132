//! The component glue behind [`export_plugin!`](crate::export_plugin), with
//! the `component` feature on `wasm32`.
//!
//! Not for plugin authors: the macro calls these functions. They implement
//! the guest side of the `wasp:plugin` WIT world (`wit/plugin.wit`,
//! `docs/components.md`) with wit-bindgen, over the same [`Plugin`] trait
//! and [`Context`] as the core ABI's glue: one source builds either form.

use core::cell::RefCell;

use wasp_protocol::WireError;

use wasp_protocol::Lifecycle;

use crate::{Context, HostApi, LogLevel, Plugin};

pub use wit_bindgen;

wit_bindgen::generate!({
    path: "wit", // sdk/wit -> ../wit: a link, so the packed crate carries the world
    world: "plugin",
    pub_export_macro: true,
    export_macro_name: "__wasp_export_component",
    default_bindings_module: "wasp_sdk::component",
    runtime_path: "wasp_sdk::component::wit_bindgen::rt",
});

use wasp::plugin::host;
use wasp::plugin::types::{Level, Message, MessageKind, Status, WireError as WitError};

wasp_protocol::wit_mapping!(MessageKind, Level, Status);

std::thread_local! {
    /// The state a `restore` message brought, until `load` hands it to `on_load`.
    static RESTORED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

fn to_wit(e: &WireError) -> WitError {
    WitError { code: e.code.as_u16(), message: e.message.clone() }
}

fn from_wit(e: WitError) -> WireError {
    WireError::new(wasp_protocol::ErrorCode::from_u16(e.code), e.message)
}

/// `guest.load`: creates the plugin and calls `on_load`.
pub fn load<P: Plugin + Default>(cell: &RefCell<Option<P>>) -> Result<(), WitError> {
    std::panic::set_hook(Box::new(|info| host::panic(&info.to_string())));
    let mut plugin = P::default();
    let mut host = ComponentHost;
    let restored = RESTORED.with(|r| r.borrow_mut().take());
    let result = plugin.on_load(&mut Context::with_restored(&mut host, restored.as_deref()));
    *cell.borrow_mut() = Some(plugin);
    result.map_err(|e| {
        // As the core glue does: the line is the reason a failed load reports in the log.
        host::log(Level::Error, &e.to_string());
        to_wit(&e)
    })
}

/// `guest.handle`.
pub fn handle<P: Plugin + Default>(cell: &RefCell<Option<P>>, message: Message) -> Status {
    let mut host = ComponentHost;
    let kind = match crate::MessageKind::try_from(message.kind) {
        Ok(kind) => kind,
        Err(Lifecycle::Restore) => {
            RESTORED.with(|r| *r.borrow_mut() = Some(message.payload));
            return Status::Done;
        }
        Err(Lifecycle::Unload) => {
            if let Some(plugin) = cell.borrow_mut().as_mut() {
                crate::dispatch_unload(plugin, &mut host, message.id);
            }
            return Status::Done;
        }
    };
    let mut slot = cell.borrow_mut();
    let plugin = slot.get_or_insert_with(P::default);
    let msg = crate::Message {
        kind,
        id: message.id,
        from: &message.sender,
        topic: &message.topic,
        payload: &message.payload,
    };
    crate::dispatch(plugin, &mut host, msg).into()
}

/// The host API over the `wasp:plugin/host` imports.
struct ComponentHost;

impl HostApi for ComponentHost {
    fn send(&mut self, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        host::send(to, topic, payload).map_err(from_wit)
    }

    fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        host::publish(topic, payload).map_err(from_wit)
    }

    fn subscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        host::subscribe(pattern).map_err(from_wit)
    }

    fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        host::unsubscribe(pattern).map_err(from_wit)
    }

    fn request(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<Vec<u8>, WireError> {
        host::request(to, topic, payload, timeout_ms).map_err(from_wit)
    }

    fn request_async(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        host::request_async(to, topic, payload, timeout_ms).map_err(from_wit)
    }

    fn reply(&mut self, id: u64, result: Result<&[u8], &WireError>) -> Result<(), WireError> {
        match result {
            Ok(payload) => host::reply(id, Ok(payload)),
            Err(e) => host::reply(id, Err(&to_wit(e))),
        }
        .map_err(from_wit)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        host::log(level.into(), message);
    }

    fn call(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError> {
        host::call(service, payload).map_err(from_wit)
    }
}
