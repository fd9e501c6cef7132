//! The WebAssembly backend: one wasmtime store per plugin instance, the host
//! imports of `docs/abi.md`, and bounds-checked access to guest memory.
//!
//! One idea per file: [`WasmInstance`] here (what the actor drives);
//! `start.rs` makes an instance (store, instantiation, `wasp_load`);
//! `live.rs` is a running one and hands it a message; `state.rs` what its
//! store holds; `memory.rs` the bounds-checked access to guest memory;
//! `imports.rs` the `wasp` imports; `wasi.rs` the WASI subset;
//! `preopens.rs` the directories it sees; `fault.rs` what its traps mean.

mod fault;
mod imports;
mod live;
mod memory;
mod preopens;
mod start;
mod state;
mod wasi;

use wasp_protocol::{ErrorCode, MessageKind, WireError, abi};

use crate::lifecycle::{Capture, LIFECYCLE_ID, Unloaded, speaks_lifecycle};
use crate::loader::WasmPlugin;
use crate::router::Inbound;
use crate::{Engine, Error, PluginEnv};

pub(crate) use fault::{fault_of, load_failure};
pub(crate) use imports::define_imports;
pub(crate) use state::GuestState;

use fault::Fault;
use live::{Live, deliver};
use preopens::Access;

/// A running instance of a [`WasmPlugin`].
///
/// It handles one message at a time under the engine's scheduler. After a
/// fault (trap, spent budget, broken ABI) call [`WasmInstance::recycle`] to
/// replace the instance with a fresh one.
pub struct WasmInstance {
    spec: Spec,
    live: Option<Live>,
    /// The grants revision last looked at, to notice `fs.*` changes cheaply.
    grants_seen: u64,
}

/// What an instance is made from. Kept apart from the live store, which is
/// `Send` but not `Sync`, so that starting an instance can borrow it across
/// awaits.
struct Spec {
    engine: Engine,
    plugin: WasmPlugin,
    env: PluginEnv,
}

impl std::fmt::Debug for WasmInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmInstance")
            .field("plugin", &self.spec.plugin.name)
            .field("live", &self.live.is_some())
            .finish()
    }
}

impl WasmInstance {
    /// Instantiates the plugin and runs its `wasp_load`. `restored` is the
    /// state a hot reload hands over: a plugin built for ABI 1.2 or later
    /// receives it as a `restore` message before `wasp_load`.
    pub async fn new(
        engine: &Engine,
        plugin: WasmPlugin,
        env: PluginEnv,
        restored: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let grants_seen = env.grants.revision();
        let spec = Spec { engine: engine.clone(), plugin, env };
        let live = Some(spec.start(restored).await?);
        Ok(Self { spec, live, grants_seen })
    }

    /// Asks the instance for the state to hand to its successor (an
    /// `unload` message, ABI 1.2). `Err` means the instance faulted and must
    /// be recycled; `Ok(Err(_))` is the plugin refusing. A plugin built for
    /// an older ABI, or with no running instance, has no state.
    pub async fn unload(&mut self) -> Result<Unloaded, Error> {
        if !speaks_lifecycle(self.spec.plugin.abi_version()) || self.live.is_none() {
            return Ok(Ok(None));
        }
        let (capture, reply) = Capture::new();
        let budget = self.spec.budget_slices();
        let name = self.spec.plugin.name.clone();
        let Some(live) = self.live.as_mut() else { return Ok(Ok(None)) };
        live.store.data_mut().host.begin_request(LIFECYCLE_ID, reply, None);
        live.arm(budget);
        let result = deliver(live, abi::kind::UNLOAD, LIFECYCLE_ID, "host", abi::TOPIC_UNLOAD, &[]).await;
        live.store.data_mut().host.end_request(LIFECYCLE_ID);
        match result {
            Ok(abi::status::DONE | abi::status::DEFERRED) => Ok(capture.state()),
            Ok(status) => Ok(capture.state().and_then(|_| {
                Err(WireError::new(
                    ErrorCode::InvalidMessage,
                    format!("plugin `{name}`: wasp_handle returned unknown status {status} for `unload`"),
                ))
            })),
            Err(Fault::Guest(detail) | Fault::NoRoom(detail)) => {
                Err(Error::GuestFault { plugin: name.to_string(), detail })
            }
            Err(Fault::Wasm(e)) => Err(self.fault_live(e)),
        }
    }

    /// The compiled module this instance runs.
    pub fn plugin(&self) -> &WasmPlugin {
        &self.spec.plugin
    }

    /// Drops the current instance (answering its deferred requests with
    /// `plugin_crashed`) and starts a fresh one.
    pub async fn recycle(&mut self) -> Result<(), Error> {
        if let Some(mut old) = self.live.take() {
            let name = &self.spec.plugin.name;
            let err = WireError::new(ErrorCode::PluginCrashed, format!("plugin `{name}` was restarted"));
            old.store.data_mut().host.fail_all(&err);
        }
        self.live = Some(self.spec.start(None).await?);
        Ok(())
    }

    /// Whether the host quarantined the plugin while it ran.
    pub fn quarantined(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.store.data().host.quarantined)
    }

    /// Drops the instance without starting another (the plugin was
    /// quarantined), answering the requests it had deferred with
    /// `unavailable`. [`WasmInstance::recycle`] starts a fresh one.
    pub fn abandon(&mut self) {
        if let Some(mut old) = self.live.take() {
            let name = &self.spec.plugin.name;
            let err = WireError::new(ErrorCode::Unavailable, format!("plugin `{name}` was quarantined"));
            old.store.data_mut().host.fail_all(&err);
        }
    }

    /// Current size of the instance's linear memory, in bytes.
    pub fn memory_size(&self) -> usize {
        self.live.as_ref().map_or(0, |l| l.exports.memory.data_size(&l.store))
    }

    /// Rebuilds the WASI context if the `fs.*` grants of its directories
    /// changed: a revoked directory turns into an empty, read-only one
    /// before the next message (files open in it are closed), a downgraded
    /// one turns read-only. Every directory keeps its descriptor, because
    /// WASI libc reads the table of preopens once and caches it; for the same
    /// reason a directory granted later appears when the plugin restarts.
    fn refresh_wasi(&mut self) {
        let Some(live) = self.live.as_ref() else { return };
        let slots: Vec<(String, Access)> =
            live.store.data().fs_slots.iter().map(|(dir, _)| (dir.clone(), self.spec.access(dir))).collect();
        if live.store.data().fs_slots == slots {
            return;
        }
        let wasi = self.spec.wasi_ctx(&slots);
        if let Some(live) = self.live.as_mut() {
            let state = live.store.data_mut();
            state.wasi = wasi;
            state.fs_slots = slots;
        }
    }

    /// Handles one message. `Ok` means the instance is healthy (the message
    /// itself may have failed and been answered with an error); `Err` means
    /// the instance faulted, the message was answered with the fault, and the
    /// instance must be recycled.
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        if self.spec.env.grants.revision() != self.grants_seen {
            self.grants_seen = self.spec.env.grants.revision();
            self.refresh_wasi();
        }
        let budget = self.spec.budget_slices();
        let name = self.spec.plugin.name.clone();
        let Some(live) = self.live.as_mut() else {
            if let Some(reply) = msg.reply {
                reply.send(Err(WireError::new(
                    ErrorCode::Unavailable,
                    format!("plugin `{name}` has no running instance"),
                )));
            }
            return Ok(());
        };
        let is_request = msg.kind == MessageKind::Request;
        if matches!(msg.kind, MessageKind::Reply | MessageKind::Error) {
            live.store.data().host.completion_arrived();
        }
        if let Some(reply) = msg.reply {
            live.store.data_mut().host.begin_request(msg.id, reply, msg.deadline);
        }
        live.arm(budget);
        let result = deliver(live, msg.kind.to_abi(), msg.id, &msg.from, &msg.topic, &msg.payload).await;
        let host = &mut live.store.data_mut().host;
        match result {
            Ok(abi::status::DONE) if is_request => host.end_request(msg.id),
            Ok(abi::status::DONE | abi::status::DEFERRED) => {}
            Ok(status) => host.fail_request(
                msg.id,
                WireError::new(
                    ErrorCode::InvalidMessage,
                    format!("plugin `{name}`: wasp_handle returned unknown status {status}"),
                ),
            ),
            Err(Fault::NoRoom(detail)) => {
                let err =
                    WireError::new(ErrorCode::TooLarge, format!("plugin `{name}` could not make room for {detail}"));
                host.undelivered(msg.id, msg.kind, err);
            }
            Err(Fault::Guest(detail)) => {
                let err = Error::GuestFault { plugin: name.to_string(), detail };
                host.fail_request(msg.id, err.to_wire());
                return Err(err);
            }
            Err(Fault::Wasm(e)) => {
                let err = self.fault_live(e);
                if let Some(live) = self.live.as_mut() {
                    live.store.data_mut().host.fail_request(msg.id, err.to_wire());
                }
                return Err(err);
            }
        }
        Ok(())
    }

    fn fault_live(&mut self, e: wasmtime::Error) -> Error {
        match self.live.take() {
            Some(mut live) => {
                let err = self.spec.fault(&mut live.store, e);
                self.live = Some(live);
                err
            }
            None => Error::Internal(e.to_string()),
        }
    }
}
