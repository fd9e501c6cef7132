//! The host API as a Rust trait: what a plugin may ask of the host.
//!
//! It is the imports of `docs/abi.md` §4 (and the WIT world's `host`
//! interface), one method each. Every backend provides it: the WebAssembly
//! and component glue of the SDK over the imports, the native glue over the
//! host's function table, the runtime over its host calls for in-process
//! plugins. A plugin author uses it through the SDK's `Context`.

use crate::{LogLevel, WireError};

/// The host side of a plugin, as each backend provides it.
///
/// Plugin authors never implement this: the WebAssembly glue, the in-process
/// backend and the native-library loader do. It lives in this crate so
/// that those backends, and test doubles, need nothing but the message
/// model. Payloads are MessagePack bytes; timeouts of `None` mean the
/// host's default.
pub trait HostApi {
    /// One-way message to a plugin (or `host`). Never blocks.
    fn send(&mut self, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError>;
    /// One-way message to every subscriber of `topic`. Never blocks.
    fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), WireError>;
    /// Starts receiving publishes on `pattern` (a topic, or a prefix ending in `*`).
    fn subscribe(&mut self, pattern: &str) -> Result<(), WireError>;
    /// Stops receiving publishes on `pattern`.
    fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError>;
    /// Sends a request and waits for its answer.
    fn request(&mut self, to: &str, topic: &str, payload: &[u8], timeout_ms: Option<u32>)
    -> Result<Vec<u8>, WireError>;
    /// Sends a request; the answer arrives later as a message with the returned id.
    fn request_async(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError>;
    /// Answers the request `id` (a deferred reply).
    fn reply(&mut self, id: u64, result: Result<&[u8], &WireError>) -> Result<(), WireError>;
    /// Writes a log line into the host's tracing.
    fn log(&mut self, level: LogLevel, message: &str);
    /// Calls the host service `service` (see [`services`](crate::services)).
    fn call(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError>;
}
