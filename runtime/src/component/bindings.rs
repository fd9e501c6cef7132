//! The host side of the `wasp:plugin` world (`wit/plugin.wit`): the
//! generated bindings, and the `host` interface implemented over
//! [`HostCalls`], exactly as the core ABI's imports are.

use wasmtime::component::{HasSelf, Linker};
use wasp_protocol::{ErrorCode, WireError};

use super::instance::ComponentState;

wasmtime::component::bindgen!({
    path: "wit", // runtime/wit -> ../wit: a link, so the packed crate carries the world
    world: "plugin",
    imports: {
        "wasp:plugin/host.request": async | trappable,
        "wasp:plugin/host.call": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub(crate) use exports::wasp::plugin::guest::{Message, Status};
use wasp::plugin::types::Level;
pub(crate) use wasp::plugin::types::MessageKind;
pub(crate) use wasp::plugin::types::WireError as WitError;

wasp_protocol::wit_mapping!(MessageKind, Level, Status);

/// The longest panic or log message kept from a guest, in bytes.
const MAX_TEXT: usize = 16 * 1024;

/// Defines the `wasp:plugin/host` imports.
pub(crate) fn add_to_linker(linker: &mut Linker<ComponentState>) -> wasmtime::Result<()> {
    Plugin::add_to_linker::<ComponentState, HasSelf<ComponentState>>(linker, |state| state)
}

impl From<WireError> for WitError {
    fn from(e: WireError) -> Self {
        Self { code: e.code.as_u16(), message: e.message }
    }
}

impl From<WitError> for WireError {
    fn from(e: WitError) -> Self {
        Self::new(ErrorCode::from_u16(e.code), e.message)
    }
}

/// `text`, cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

type Outcome<T> = wasmtime::Result<Result<T, WitError>>;

impl ComponentState {
    /// The answer of a call, after stopping the guest if the host
    /// quarantined it meanwhile (as the core ABI's imports do).
    fn answer<T>(&self, result: Result<T, WireError>) -> Outcome<T> {
        self.guard()?;
        Ok(result.map_err(WitError::from))
    }
}

impl wasp::plugin::types::Host for ComponentState {}

impl wasp::plugin::host::Host for ComponentState {
    fn send(&mut self, to: String, topic: String, payload: Vec<u8>) -> Outcome<()> {
        let r = self.host.send(&to, &topic, payload);
        self.answer(r)
    }

    fn publish(&mut self, topic: String, payload: Vec<u8>) -> Outcome<()> {
        let r = self.host.publish(&topic, payload);
        self.answer(r)
    }

    fn subscribe(&mut self, pattern: String) -> Outcome<()> {
        let r = self.host.subscribe(&pattern);
        self.answer(r)
    }

    fn unsubscribe(&mut self, pattern: String) -> Outcome<()> {
        let r = self.host.unsubscribe(&pattern);
        self.answer(r)
    }

    async fn request(
        &mut self,
        to: String,
        topic: String,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Outcome<Vec<u8>> {
        let answer = self.host.request(&to, &topic, payload, timeout_ms).await;
        self.waited();
        self.answer(answer)
    }

    fn request_async(&mut self, to: String, topic: String, payload: Vec<u8>, timeout_ms: Option<u32>) -> Outcome<u64> {
        let r = self.host.request_async(&to, &topic, payload, timeout_ms);
        self.answer(r)
    }

    fn reply(&mut self, id: u64, answer: Result<Vec<u8>, WitError>) -> Outcome<()> {
        let r = self.host.reply(id, answer.map_err(WireError::from));
        self.answer(r)
    }

    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.host.log(level.into(), cut(&message, MAX_TEXT));
        Ok(())
    }

    fn panic(&mut self, message: String) -> wasmtime::Result<()> {
        self.panic = Some(cut(&message, MAX_TEXT).to_owned());
        Ok(())
    }

    async fn call(&mut self, service: String, payload: Vec<u8>) -> Outcome<Vec<u8>> {
        let answer = self.host.call(&service, payload).await;
        self.waited();
        self.answer(answer)
    }
}
