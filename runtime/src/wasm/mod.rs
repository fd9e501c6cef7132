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

use wasp_protocol::abi;

use crate::delivery::{Backend, Letter, Outcome, Running};
use crate::hostcalls::HostCalls;
use crate::lifecycle::{Unloaded, speaks_lifecycle};
use crate::loader::WasmPlugin;
use crate::router::Inbound;
use crate::{Engine, Error, PluginEnv};

#[cfg(feature = "components")]
pub(crate) use fault::fault_of;
#[cfg(feature = "native")]
pub(crate) use fault::load_failure;
pub(crate) use imports::define_imports;
pub(crate) use state::GuestState;

use fault::Fault;
use live::Live;
use preopens::Access;

/// A running instance of a [`WasmPlugin`].
///
/// It handles one message at a time under the engine's scheduler. After a
/// fault (trap, spent budget, broken ABI) call [`WasmInstance::recycle`] to
/// replace the instance with a fresh one.
pub struct WasmInstance {
    run: Running<Spec>,
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
            .field("plugin", &self.run.backend.plugin.name)
            .field("live", &self.run.live.is_some())
            .finish()
    }
}

impl WasmInstance {
    /// Instantiates the plugin and runs its `wasp_load`. `restored` is the
    /// state a hot reload hands over: a plugin built for ABI 1.2 or later
    /// receives it as a `restore` message before `wasp_load`.
    ///
    /// # Errors
    ///
    /// The plugin failed to instantiate, faulted, or refused to load.
    pub async fn new(
        engine: &Engine,
        plugin: WasmPlugin,
        env: PluginEnv,
        restored: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let grants_seen = env.grants.revision();
        let spec = Spec { engine: engine.clone(), plugin, env };
        let run = Running::start(spec, restored).await?;
        Ok(Self { run, grants_seen })
    }

    /// Asks the instance for the state to hand to its successor (an
    /// `unload` message, ABI 1.2). `Err` means the instance faulted and must
    /// be recycled; `Ok(Err(_))` is the plugin refusing. A plugin built for
    /// an older ABI, or with no running instance, has no state.
    ///
    /// # Errors
    ///
    /// The instance faulted.
    pub async fn unload(&mut self) -> Result<Unloaded, Error> {
        self.run.unload().await
    }

    /// The compiled module this instance runs.
    pub fn plugin(&self) -> &WasmPlugin {
        &self.run.backend.plugin
    }

    /// Drops the current instance (answering its deferred requests with
    /// `plugin_crashed`) and starts a fresh one.
    ///
    /// # Errors
    ///
    /// The fresh instance could not start.
    pub async fn recycle(&mut self) -> Result<(), Error> {
        self.run.recycle().await
    }

    /// Whether the host quarantined the plugin while it ran.
    pub fn quarantined(&self) -> bool {
        self.run.quarantined()
    }

    /// Drops the instance without starting another (the plugin was
    /// quarantined), answering the requests it had deferred with
    /// `unavailable`. [`WasmInstance::recycle`] starts a fresh one.
    pub fn abandon(&mut self) {
        self.run.abandon();
    }

    /// Current size of the instance's linear memory, in bytes.
    pub fn memory_size(&self) -> usize {
        self.run.live.as_ref().map_or(0, |l| l.exports.memory.data_size(&l.store))
    }

    /// Rebuilds the WASI context if the `fs.*` grants of its directories
    /// changed: a revoked directory turns into an empty, read-only one
    /// before the next message (files open in it are closed), a downgraded
    /// one turns read-only. Every directory keeps its descriptor, because
    /// WASI libc reads the table of preopens once and caches it; for the same
    /// reason a directory granted later appears when the plugin restarts.
    fn refresh_wasi(&mut self) {
        let Running { backend: spec, live } = &mut self.run;
        let Some(live) = live.as_mut() else { return };
        let slots: Vec<(String, Access)> =
            live.store.data().fs_slots.iter().map(|(dir, _)| (dir.clone(), spec.access(dir))).collect();
        if live.store.data().fs_slots == slots {
            return;
        }
        let wasi = spec.wasi_ctx(&slots);
        let state = live.store.data_mut();
        state.wasi = wasi;
        state.fs_slots = slots;
    }

    /// Handles one message. `Ok` means the instance is healthy (the message
    /// itself may have failed and been answered with an error); `Err` means
    /// the instance faulted, the message was answered with the fault, and the
    /// instance must be recycled.
    ///
    /// # Errors
    ///
    /// The instance faulted.
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        let revision = self.run.backend.env.grants.revision();
        if revision != self.grants_seen {
            self.grants_seen = revision;
            self.refresh_wasi();
        }
        self.run.handle(msg).await
    }
}

/// The core-module backend: instances started from the [`Spec`], messages
/// written into the guest's buffer and handed to `wasp_handle`.
impl Backend for Spec {
    type Live = Live;

    fn name(&self) -> &str {
        &self.plugin.name
    }

    fn speaks_lifecycle(&self) -> bool {
        speaks_lifecycle(self.plugin.abi_version())
    }

    async fn instantiate(&self) -> Result<Live, Error> {
        self.instantiate_live().await
    }

    async fn load(&self, live: &mut Live) -> Result<(), Error> {
        Spec::load(self, live).await
    }

    fn host(live: &Live) -> &HostCalls {
        &live.store.data().host
    }

    fn host_mut(live: &mut Live) -> &mut HostCalls {
        &mut live.store.data_mut().host
    }

    async fn deliver(&self, live: &mut Live, letter: Letter) -> Outcome {
        live.arm(self.budget_slices());
        let kind = letter.kind.to_abi();
        match live.hand_over(kind, letter.id, &letter.from, &letter.topic, &letter.payload).await {
            Ok(abi::status::DONE) => Outcome::Done,
            Ok(abi::status::DEFERRED) => Outcome::Deferred,
            Ok(status) => Outcome::Unknown(status),
            Err(Fault::NoRoom(detail)) => Outcome::Undelivered(detail),
            Err(Fault::Guest(detail)) => {
                Outcome::Fault(Error::GuestFault { plugin: self.plugin.name.to_string(), detail })
            }
            Err(Fault::Wasm(e)) => Outcome::Fault(self.fault(&mut live.store, e)),
        }
    }
}
