//! Starting a core-module instance: its store (limits, epoch deadline,
//! profiling hook), instantiation in the pooling allocator or on demand,
//! its exports and `_initialize`, and `wasp_load`.

use std::sync::Arc;

use wasmtime::{InstancePre, PoolConcurrencyLimitError, Store, StoreLimitsBuilder, TypedFunc};
use wasp_protocol::{ErrorCode, WireError, abi};

use super::Spec;
use super::fault::{fault_of, load_failure};
use super::live::{Exports, Live};
use super::preopens::Access;
use super::state::GuestState;
use crate::Error;
use crate::hostcalls::HostCalls;
use crate::library::call::LiveLibraries;
use crate::scheduler::SliceState;

impl Spec {
    /// A store for `pre`'s engine with the plugin's limits, epoch deadline
    /// and profiling hook.
    fn store(&self, pre: &InstancePre<GuestState>, state: GuestState, budget: u32) -> Store<GuestState> {
        let mut store = Store::new(pre.module().engine(), state);
        store.limiter(|s| s);
        store.data().profile.set_module(pre.module());
        // Off, this costs one atomic load a slice; while the plugin is
        // profiled, the deadline comes every tick and each takes a sample.
        store.epoch_deadline_callback(|mut cx| {
            if !cx.data().profile.active() {
                return cx.data_mut().slices.on_deadline();
            }
            let profile = Arc::clone(&cx.data().profile);
            profile.sample(&cx);
            cx.data_mut().slices.on_epoch(1)
        });
        store.data_mut().slices.start(budget);
        store.set_epoch_deadline(self.engine.schedule().slice_ticks());
        store
    }

    /// Instantiates the plugin in the engine's pooling allocator, or on demand
    /// when the pool is full.
    async fn instantiate(
        &self,
        state: GuestState,
        budget: u32,
    ) -> Result<(Store<GuestState>, wasmtime::Instance), Error> {
        let mut store = self.store(&self.plugin.pre, state, budget);
        match self.plugin.pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok((store, instance)),
            Err(e) if e.is::<PoolConcurrencyLimitError>() && self.engine.overflow().is_some() => {
                tracing::debug!(target: "wasp::engine", plugin = %self.plugin.name, "pooling allocator full; allocating on demand");
                let pre = self.plugin.overflow_pre(&self.engine)?;
                let mut store = self.store(&pre, store.into_data(), budget);
                match pre.instantiate_async(&mut store).await {
                    Ok(instance) => Ok((store, instance)),
                    Err(e) => Err(self.fault(&mut store, e)),
                }
            }
            Err(e) => Err(self.fault(&mut store, e)),
        }
    }

    /// The CPU budget of one message, in scheduler slices.
    pub(super) fn budget_slices(&self) -> u32 {
        self.engine.schedule().budget_slices(self.env.limits.cpu_budget)
    }

    /// Instantiates the plugin: its store, its exports, its `_initialize`.
    pub(super) async fn instantiate_live(&self) -> Result<Live, Error> {
        let name = &self.plugin.name;
        let schedule = self.engine.schedule();
        let fs_slots: Vec<(String, Access)> =
            self.fs_dirs().into_iter().map(|dir| (dir.clone(), self.access(&dir))).collect();
        // The plugin and each library it uses: one instance, one memory.
        let instances = 1 + self.env.libraries.len();
        let state = GuestState {
            host: HostCalls::new(self.env.clone()),
            libraries: LiveLibraries::new(self.env.libraries.clone()),
            wasi: self.wasi_ctx(&fs_slots),
            fs_slots,
            memory: None,
            result: Vec::new(),
            panic: None,
            inbound: false,
            slices: SliceState {
                slice_ticks: schedule.slice_ticks(),
                slice_len: schedule.slice,
                ..SliceState::default()
            },
            profile: self.engine.profile_slot(name),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.env.limits.max_memory)
                .table_elements(self.env.limits.max_table_elements as usize)
                .instances(instances)
                .memories(instances)
                .tables(8 * instances)
                .trap_on_grow_failure(false)
                .build(),
        };
        let budget = self.budget_slices();
        let (mut store, instance) = self.instantiate(state, budget).await?;
        let missing = |what: &str, e: wasmtime::Error| Error::GuestFault {
            plugin: name.to_string(),
            detail: format!("export `{what}`: {e}"),
        };
        let exports = Exports {
            memory: instance
                .get_memory(&mut store, abi::EXPORT_MEMORY)
                .ok_or_else(|| missing(abi::EXPORT_MEMORY, wasmtime::Error::msg("not a memory")))?,
            alloc: instance.get_typed_func(&mut store, abi::EXPORT_ALLOC).map_err(|e| missing(abi::EXPORT_ALLOC, e))?,
            dealloc: instance
                .get_typed_func(&mut store, abi::EXPORT_DEALLOC)
                .map_err(|e| missing(abi::EXPORT_DEALLOC, e))?,
            handle: instance
                .get_typed_func(&mut store, abi::EXPORT_HANDLE)
                .map_err(|e| missing(abi::EXPORT_HANDLE, e))?,
        };
        store.data_mut().memory = Some(exports.memory);
        if self.plugin.has_initialize {
            let init: TypedFunc<(), ()> = instance
                .get_typed_func(&mut store, abi::EXPORT_INITIALIZE)
                .map_err(|e| missing(abi::EXPORT_INITIALIZE, e))?;
            if let Err(e) = init.call_async(&mut store, ()).await {
                return Err(self.fault(&mut store, e));
            }
        }
        Ok(Live { store, instance, exports, buffer: None })
    }

    /// Runs the instance's `wasp_load`, if it has one.
    pub(super) async fn load(&self, live: &mut Live) -> Result<(), Error> {
        if !self.plugin.has_load {
            return Ok(());
        }
        let name = &self.plugin.name;
        let store = &mut live.store;
        let load: TypedFunc<(), i32> = live.instance.get_typed_func(&mut *store, abi::EXPORT_LOAD).map_err(|e| {
            Error::GuestFault { plugin: name.to_string(), detail: format!("export `{}`: {e}", abi::EXPORT_LOAD) }
        })?;
        store.data_mut().slices.start(self.budget_slices());
        store.set_epoch_deadline(self.engine.schedule().slice_ticks());
        match load.call_async(&mut *store, ()).await {
            Ok(abi::status::DONE) => Ok(()),
            Ok(status) => {
                let reason = store.data_mut().host.take_last_error();
                Err(Error::LoadFailed {
                    plugin: name.to_string(),
                    error: WireError::new(
                        ErrorCode::from_u16(u16::try_from(status).unwrap_or(0)),
                        load_failure("wasp_load returned status", status, reason),
                    ),
                })
            }
            Err(e) => Err(self.fault(store, e)),
        }
    }

    /// Turns a wasmtime error into a readable fault.
    pub(super) fn fault(&self, store: &mut Store<GuestState>, e: wasmtime::Error) -> Error {
        let state = store.data_mut();
        let (slices, quarantined) = (&mut state.slices, state.host.quarantined);
        fault_of(&self.plugin.name, self.env.limits.cpu_budget, slices, quarantined, state.panic.take(), &e)
    }
}
