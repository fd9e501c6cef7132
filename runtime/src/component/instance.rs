//! A running component plugin: one wasmtime store, the same scheduler,
//! budget, limits and host calls as a core module's.

use wasmtime::{PoolConcurrencyLimitError, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};

use super::ComponentPlugin;
use super::bindings::{Message, MessageKind, Plugin, Status};
use crate::delivery::{Backend, Kind, Letter, Outcome, Running};
use crate::hostcalls::HostCalls;
use crate::lifecycle::Unloaded;
use crate::router::Inbound;
use crate::scheduler::SliceState;
use crate::{Engine, Error, PluginEnv};

/// What a component's store holds.
pub(crate) struct ComponentState {
    pub(super) host: HostCalls,
    /// The message the guest's panic hook reported, if any.
    pub(super) panic: Option<String>,
    slices: SliceState,
    limits: StoreLimits,
    /// Set when a host call finished waiting (a `request`, a service): the
    /// wait is not CPU time, so the next deadline starts a fresh slice
    /// instead of counting the one the wait overran.
    waited: bool,
    /// Set while a message is handed to the guest: memory refused then is
    /// audited once the call ends, unless it was the host making room for
    /// the message (not the plugin's doing).
    delivering: bool,
    /// The first memory refusal while delivering, not audited yet.
    refused_memory: Option<String>,
}

impl ComponentState {
    /// Stops the guest once the host has quarantined it.
    pub(super) fn guard(&self) -> wasmtime::Result<()> {
        if self.host.quarantined {
            return Err(wasmtime::Error::msg("the plugin was quarantined"));
        }
        Ok(())
    }

    /// After a host call waited: a fresh slice from the next deadline on.
    pub(super) fn waited(&mut self) {
        self.slices.fresh_slice();
        self.waited = true;
    }

    fn on_deadline(&mut self) -> wasmtime::Result<UpdateDeadline> {
        if std::mem::take(&mut self.waited) {
            return Ok(UpdateDeadline::Continue(self.slices.fresh_slice()));
        }
        self.slices.on_deadline()
    }
}

/// The store's resource limiter: wasmtime's [`StoreLimits`], plus an audit
/// event when the plugin is refused memory or table growth (as for core
/// modules).
impl wasmtime::ResourceLimiter for ComponentState {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed {
            let limit = self.host.env.limits.max_memory;
            let message =
                format!("plugin `{}` was refused {desired} bytes of memory; its limit is {limit}", self.host.name());
            if !self.delivering {
                self.host.limit_exceeded("max_memory", message);
            } else if self.refused_memory.is_none() {
                self.refused_memory = Some(message);
            }
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        if !allowed {
            let limit = self.host.env.limits.max_table_elements;
            let message = format!(
                "plugin `{}` was refused a table of {desired} elements; its limit is {limit}",
                self.host.name()
            );
            self.host.limit_exceeded("max_table_elements", message);
        }
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

struct Live {
    store: Store<ComponentState>,
    bindings: Plugin,
}

/// A running instance of a [`ComponentPlugin`].
///
/// The component counterpart of [`WasmInstance`](crate::WasmInstance), with
/// the same contract: one message at a time under the engine's scheduler;
/// after a fault (trap, spent budget) call [`ComponentInstance::recycle`].
pub struct ComponentInstance {
    run: Running<Spec>,
}

/// What an instance is made from, kept apart from the live store.
struct Spec {
    engine: Engine,
    plugin: ComponentPlugin,
    env: PluginEnv,
}

impl std::fmt::Debug for ComponentInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentInstance")
            .field("plugin", &self.run.backend.plugin.name)
            .field("live", &self.run.live.is_some())
            .finish()
    }
}

/// Why a call into the component failed.
type Fault = wasmtime::Error;

impl ComponentInstance {
    /// Instantiates the component and calls its `load`. `restored` is the
    /// state a hot reload hands over, delivered as a `restore` message first.
    ///
    /// # Errors
    ///
    /// The component failed to instantiate, faulted, or refused to load.
    pub async fn new(
        engine: &Engine,
        plugin: ComponentPlugin,
        env: PluginEnv,
        restored: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let spec = Spec { engine: engine.clone(), plugin, env };
        Ok(Self { run: Running::start(spec, restored).await? })
    }

    /// The compiled component this instance runs.
    pub fn plugin(&self) -> &ComponentPlugin {
        &self.run.backend.plugin
    }

    /// Asks the instance for the state to hand to its successor (an
    /// `unload` message). `Err` means the instance faulted and must be
    /// recycled; `Ok(Err(_))` is the plugin refusing.
    ///
    /// # Errors
    ///
    /// The instance faulted.
    pub async fn unload(&mut self) -> Result<Unloaded, Error> {
        self.run.unload().await
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
    /// `unavailable`.
    pub fn abandon(&mut self) {
        self.run.abandon();
    }

    /// Handles one message. `Ok` means the instance is healthy (the message
    /// itself may have failed and been answered with an error); `Err` means
    /// it faulted, the message was answered with the fault, and the
    /// instance must be recycled.
    ///
    /// # Errors
    ///
    /// The instance faulted.
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        self.run.handle(msg).await
    }
}

/// The component backend: messages go in through the canonical ABI, as
/// arguments of the guest's `handle`.
impl Backend for Spec {
    type Live = Live;

    fn name(&self) -> &str {
        &self.plugin.name
    }

    /// The `wasp:plugin` world has had `unload` and `restore` from the start.
    fn speaks_lifecycle(&self) -> bool {
        true
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
        arm(&mut live.store, self.budget_slices());
        // A lifecycle message carries nothing of a sender's: the memory it
        // takes, and a failure to make room for it, are the plugin's doing.
        let (kind, from_sender) = match letter.kind {
            Kind::Message(kind) => (MessageKind::from(kind), true),
            Kind::Lifecycle(which) => (which.into(), false),
        };
        let size = letter.from.len() + letter.topic.len() + letter.payload.len();
        let delivered = message(kind, letter.id, &letter.from, &letter.topic, letter.payload.into());
        live.store.data_mut().delivering = from_sender;
        let result = live.bindings.wasp_plugin_guest().call_handle(&mut live.store, &delivered).await;
        let state = live.store.data_mut();
        state.delivering = false;
        let refused_memory = state.refused_memory.take();
        if let Err(e) = &result
            && from_sender
            && making_room(e)
            && !state.slices.exceeded
            && !state.host.quarantined
        {
            // The canonical ABI copies the message in through the guest's
            // `cabi_realloc` before the handler runs: it found no room.
            let detail = format!("a message of {size} bytes (its cabi_realloc trapped)");
            return Outcome::Fault(Error::NoRoom { plugin: self.plugin.name.to_string(), detail });
        }
        if let Some(message) = refused_memory {
            state.host.limit_exceeded("max_memory", message);
        }
        match result {
            Ok(Status::Done) => Outcome::Done,
            Ok(Status::Deferred) => Outcome::Deferred,
            Err(e) => Outcome::Fault(self.fault(&mut live.store, e)),
        }
    }
}

impl Spec {
    /// The CPU budget of one message, in scheduler slices.
    fn budget_slices(&self) -> u32 {
        self.engine.schedule().budget_slices(self.env.limits.cpu_budget)
    }

    /// Instantiates the component in a fresh store.
    async fn instantiate_live(&self) -> Result<Live, Error> {
        let name = &self.plugin.name;
        let slice_ticks = self.engine.schedule().slice_ticks();
        let state = ComponentState {
            host: HostCalls::new(self.env.clone()),
            panic: None,
            slices: SliceState { slice_ticks, ..SliceState::default() },
            // A component made from one core module holds a few core
            // instances (the module and wit-component's adapter shims).
            limits: StoreLimitsBuilder::new()
                .memory_size(self.env.limits.max_memory)
                .table_elements(self.env.limits.max_table_elements as usize)
                .instances(16)
                .memories(1)
                .tables(8)
                .trap_on_grow_failure(false)
                .build(),
            waited: false,
            delivering: false,
            refused_memory: None,
        };
        let budget = self.budget_slices();
        let mut store = new_store(self.engine.wasmtime(), state, budget);
        let bindings = match self.plugin.pre.instantiate_async(&mut store).await {
            Ok(bindings) => bindings,
            Err(e) if e.is::<PoolConcurrencyLimitError>() && self.engine.overflow().is_some() => {
                tracing::debug!(target: "wasp::engine", plugin = %name, "instance pool full; allocating the component on demand");
                let pre = self.plugin.overflow_pre(&self.engine)?;
                store = new_store(pre.engine(), store.into_data(), budget);
                match pre.instantiate_async(&mut store).await {
                    Ok(bindings) => bindings,
                    Err(e) => return Err(self.fault(&mut store, e)),
                }
            }
            Err(e) => return Err(self.fault(&mut store, e)),
        };
        Ok(Live { store, bindings })
    }

    /// Calls the component's `load`.
    async fn load(&self, live: &mut Live) -> Result<(), Error> {
        arm(&mut live.store, self.budget_slices());
        match live.bindings.wasp_plugin_guest().call_load(&mut live.store).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::LoadFailed { plugin: self.plugin.name.to_string(), error: e.into() }),
            Err(e) => Err(self.fault(&mut live.store, e)),
        }
    }

    /// Turns a wasmtime error into a readable fault, as for core modules.
    fn fault(&self, store: &mut Store<ComponentState>, e: Fault) -> Error {
        let state = store.data_mut();
        let (slices, quarantined) = (&mut state.slices, state.host.quarantined);
        crate::wasm::fault_of(
            &self.plugin.name,
            self.env.limits.cpu_budget,
            slices,
            quarantined,
            state.panic.take(),
            &e,
        )
    }
}

/// A store for `engine` with the plugin's limits and the scheduler's
/// deadline policy, armed for one call.
fn new_store(engine: &wasmtime::Engine, state: ComponentState, budget: u32) -> Store<ComponentState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| s);
    store.epoch_deadline_callback(|mut cx| cx.data_mut().on_deadline());
    arm(&mut store, budget);
    store
}

/// Prepares one call into the guest: a fresh CPU budget, the first
/// deadline, and no panic message left over.
fn arm(store: &mut Store<ComponentState>, budget: u32) {
    let state = store.data_mut();
    state.panic = None;
    state.waited = false;
    state.slices.start(budget);
    let ticks = state.slices.slice_ticks;
    store.set_epoch_deadline(ticks);
}

/// Whether a call failed making room for its arguments: the trap's
/// outermost wasm frame is the guest's `cabi_realloc`, called by the host
/// to copy the message in before any of the handler ran.
fn making_room(e: &Fault) -> bool {
    e.downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|bt| bt.frames().last())
        .and_then(|frame| frame.func_name())
        .is_some_and(|name| name.contains("cabi_realloc"))
}

fn message(kind: MessageKind, id: u64, from: &str, topic: &str, payload: Vec<u8>) -> Message {
    Message { kind, id, sender: from.to_owned(), topic: topic.to_owned(), payload }
}
