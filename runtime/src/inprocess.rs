//! The in-process backend: a Rust value called directly, the native
//! baseline every other form is measured against.
//!
//! In-process code is trusted: it cannot be preempted, and a busy loop in it
//! holds a tokio worker thread. Panics are caught at the boundary and answered
//! like a WASM trap.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use wasp_protocol::{Dispatched, ErrorCode, HostApi, LogLevel, Message, WireError};

use crate::delivery::{self, Outcome};
use crate::hostcalls::HostCalls;
use crate::lifecycle::Unloaded;
use crate::router::Inbound;
use crate::{Error, PluginEnv};

/// A plugin the runtime calls in process: the seam through which a Rust
/// value reaches the host, in the terms of the message model
/// (`wasp-protocol`).
///
/// The runtime owns it so that it needs nothing of the plugin authors' SDK:
/// `wasp-actors` adapts every `wasp_sdk::Plugin` to it (`Load::in_process`),
/// and a test double or another language's binding can implement it
/// directly. Each call gets the plugin's [`HostApi`] for its duration; the
/// runtime catches a panic in any of them and treats it like a trap.
pub trait InProcessPlugin: Send + 'static {
    /// Starts the instance (the SDK's `on_load`). `restored` is the state a
    /// hot reload hands over from the previous instance's
    /// [`InProcessPlugin::unload`].
    ///
    /// # Errors
    ///
    /// The plugin's refusal to start: the load fails with it.
    fn load(&mut self, host: &mut dyn HostApi, restored: Option<&[u8]>) -> Result<(), WireError>;

    /// The state the next instance should start from, asked before a hot
    /// reload or an unload discards this one (the SDK's `on_unload`).
    ///
    /// # Errors
    ///
    /// The plugin's refusal: a reload stops, the old code keeps running.
    fn unload(&mut self, host: &mut dyn HostApi) -> Result<Option<Vec<u8>>, WireError>;

    /// Handles one message. A request is answered through
    /// [`HostApi::reply`] before this returns, unless the plugin returns
    /// [`Dispatched::Deferred`] and answers later.
    fn handle(&mut self, host: &mut dyn HostApi, msg: Message<'_>) -> Dispatched;
}

/// Makes a fresh instance of an in-process plugin.
pub type PluginFactory = Arc<dyn Fn() -> Box<dyn InProcessPlugin> + Send + Sync>;

/// A running in-process plugin.
pub struct InProcessInstance {
    factory: PluginFactory,
    plugin: Box<dyn InProcessPlugin>,
    host: HostCalls,
}

impl std::fmt::Debug for InProcessInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessInstance").field("plugin", self.host.name()).finish()
    }
}

/// The message of a caught panic, or `otherwise` when it carries no text.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send), otherwise: &str) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| otherwise.to_owned())
}

impl InProcessInstance {
    /// Creates the plugin with `factory` and runs its
    /// [`InProcessPlugin::load`] with `restored` (the state a hot reload
    /// hands over).
    pub fn new(factory: PluginFactory, env: PluginEnv, restored: Option<&[u8]>) -> Result<Self, Error> {
        let mut host = HostCalls::new(env);
        let plugin = Self::load(&factory, &mut host, restored)?;
        Ok(Self { factory, plugin, host })
    }

    fn load(
        factory: &PluginFactory,
        host: &mut HostCalls,
        restored: Option<&[u8]>,
    ) -> Result<Box<dyn InProcessPlugin>, Error> {
        let name = host.name().to_string();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut plugin = factory();
            let loaded = plugin.load(&mut Calls(host), restored);
            loaded.map(|()| plugin)
        }));
        match result {
            Ok(Ok(plugin)) => Ok(plugin),
            Ok(Err(error)) => Err(Error::LoadFailed { plugin: name, error }),
            Err(panic) => Err(Error::Trap {
                plugin: name,
                message: format!("panicked in on_load: {}", panic_text(&*panic, "a panic with a non-text payload")),
                backtrace: None,
            }),
        }
    }

    /// Replaces the plugin with a fresh one, answering its deferred requests
    /// with `plugin_crashed`.
    pub fn recycle(&mut self) -> Result<(), Error> {
        let err = delivery::restarted(self.host.name());
        self.host.fail_all(&err);
        self.host.quarantined = false;
        self.plugin = Self::load(&self.factory, &mut self.host, None)?;
        Ok(())
    }

    /// Asks the plugin for the state to hand to its successor
    /// ([`InProcessPlugin::unload`]). `Err` means it panicked and must be
    /// recycled; `Ok(Err(_))` is the plugin refusing.
    pub fn unload(&mut self) -> Result<Unloaded, Error> {
        let plugin = &mut self.plugin;
        let host = &mut self.host;
        catch_unwind(AssertUnwindSafe(|| plugin.unload(&mut Calls(host)))).map_err(|panic| Error::Trap {
            plugin: self.host.name().to_string(),
            message: format!("panicked in on_unload: {}", panic_text(&*panic, "a panic with a non-text payload")),
            backtrace: None,
        })
    }

    /// The factory that makes this plugin.
    pub fn factory(&self) -> &PluginFactory {
        &self.factory
    }

    /// Whether the host quarantined the plugin while it ran.
    pub fn quarantined(&self) -> bool {
        self.host.quarantined
    }

    /// Answers the requests the plugin had deferred with `unavailable` (it
    /// was quarantined). [`InProcessInstance::recycle`] starts it afresh.
    pub fn abandon(&mut self) {
        let err = delivery::quarantined(self.host.name());
        self.host.fail_all(&err);
    }

    /// Handles one message; `Err` means the plugin panicked and must be recycled.
    pub fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        let (id, kind) = (msg.id, msg.kind);
        let letter = delivery::admit(&mut self.host, msg);
        let message = Message { kind, id, from: &letter.from, topic: &letter.topic, payload: &letter.payload };
        let plugin = &mut self.plugin;
        let host = &mut self.host;
        let outcome = match catch_unwind(AssertUnwindSafe(|| plugin.handle(&mut Calls(host), message))) {
            Ok(Dispatched::Done) => Outcome::Done,
            Ok(Dispatched::Deferred) => Outcome::Deferred,
            Err(panic) => Outcome::Fault(Error::Trap {
                plugin: self.host.name().to_string(),
                message: format!("panicked: {}", panic_text(&*panic, "a panic with a non-text payload")),
                backtrace: None,
            }),
        };
        let name = self.host.name().clone();
        delivery::settle(&mut self.host, &name, id, kind, outcome)
    }
}

/// Waits for a host future from synchronous plugin code.
fn wait(fut: crate::BoxFuture<crate::Answer>) -> Result<Vec<u8>, WireError> {
    // The plugin's code is synchronous; park this worker (tokio moves its
    // other tasks elsewhere) until the answer comes.
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| WireError::new(ErrorCode::Internal, "in-process plugins run inside a tokio runtime"))?;
    tokio::task::block_in_place(|| handle.block_on(fut))
}

/// [`HostApi`] over [`HostCalls`], for code running on a tokio worker.
struct Calls<'a>(&'a mut HostCalls);

impl HostApi for Calls<'_> {
    fn send(&mut self, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        self.0.send(to, topic, payload.to_vec())
    }

    fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        self.0.publish(topic, payload.to_vec())
    }

    fn subscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        self.0.subscribe(pattern)
    }

    fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        self.0.unsubscribe(pattern)
    }

    fn request(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<Vec<u8>, WireError> {
        wait(self.0.request(to, topic, payload.to_vec(), timeout_ms))
    }

    fn call(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError> {
        wait(self.0.call(service, payload.to_vec()))
    }

    fn request_async(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        self.0.request_async(to, topic, payload.to_vec(), timeout_ms)
    }

    fn reply(&mut self, id: u64, result: Result<&[u8], &WireError>) -> Result<(), WireError> {
        self.0.reply(id, result.map(<[u8]>::to_vec).map_err(Clone::clone))
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.0.log(level, message);
    }
}
