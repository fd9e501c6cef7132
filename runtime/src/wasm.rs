//! The WebAssembly backend: one wasmtime store per plugin instance, the host
//! imports of `docs/abi.md`, and bounds-checked access to guest memory.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::{
    AsContextMut, Caller, InstancePre, Linker, Memory, PoolConcurrencyLimitError, Store, StoreLimits,
    StoreLimitsBuilder, Trap, TypedFunc, WasmBacktrace,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasp_protocol::{ErrorCode, LogLevel, MessageKind, Permission, WireError, abi};

use crate::engine::ProfileSlot;
use crate::hostcalls::{HostCalls, MAX_PATH};
use crate::library::call::{self as library, Failure, HasLibraries, LiveLibraries};
use crate::lifecycle::{Capture, LIFECYCLE_ID, Unloaded, speaks_lifecycle};
use crate::loader::WasmPlugin;
use crate::router::Inbound;
use crate::scheduler::SliceState;
use crate::{Engine, Error, PluginEnv};

/// The longest panic or log message kept from a guest, in bytes.
const MAX_TEXT: usize = 16 * 1024;

/// What a wasmtime store holds for one plugin instance.
pub(crate) struct GuestState {
    host: HostCalls,
    /// The WASI subset's context: only granted directories are preopened.
    wasi: WasiP1Ctx,
    /// The preopened directories, in descriptor order, and how each may be
    /// used now.
    fs_slots: Vec<(String, Access)>,
    memory: Option<Memory>,
    /// The result slot of `request` and friends (`result_len` / `result_read`).
    result: Vec<u8>,
    /// The message the guest's panic hook reported, if any.
    panic: Option<String>,
    slices: SliceState,
    limits: StoreLimits,
    /// Where [`Engine::start_profile`] asks for samples.
    profile: Arc<ProfileSlot>,
    /// The shared libraries the plugin uses, instantiated in this store at
    /// their first call.
    libraries: LiveLibraries,
    /// Set while `wasp_alloc` makes room for an incoming message: memory it
    /// is refused then is the sender's doing, not a violation of the plugin.
    inbound: bool,
}

impl HasLibraries for GuestState {
    fn libraries(&mut self) -> &mut LiveLibraries {
        &mut self.libraries
    }
}

/// The store's resource limiter: wasmtime's [`StoreLimits`], plus an audit
/// event when the plugin is refused memory or table growth.
impl wasmtime::ResourceLimiter for GuestState {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed && !self.inbound {
            let limit = self.host.env.limits.max_memory;
            self.host.limit_exceeded(
                "max_memory",
                format!("plugin `{}` was refused {desired} bytes of memory; its limit is {limit}", self.host.name()),
            );
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        if !allowed {
            let limit = self.host.env.limits.max_table_elements;
            self.host.limit_exceeded(
                "max_table_elements",
                format!(
                    "plugin `{}` was refused a table of {desired} elements; its limit is {limit}",
                    self.host.name()
                ),
            );
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

type HandleFn = TypedFunc<(i32, i32, i64, i32, i32, i32), i32>;

struct Exports {
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    dealloc: TypedFunc<(i32, i32), ()>,
    handle: HandleFn,
}

struct Live {
    store: Store<GuestState>,
    exports: Exports,
    /// The guest buffer incoming messages are written to: (pointer, capacity).
    buffer: Option<(u32, u32)>,
}

impl Live {
    /// Prepares one call into the guest: a fresh CPU budget of `budget`
    /// slices, the first deadline, and no panic message left over (one
    /// belongs to the trap of the call that reported it).
    fn arm(&mut self, budget: u32) {
        let state = self.store.data_mut();
        state.panic = None;
        state.slices.start(budget);
        let first = state.first_deadline();
        self.store.set_epoch_deadline(first);
    }
}

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
    fn budget_slices(&self) -> u32 {
        self.engine.schedule().budget_slices(self.env.limits.cpu_budget)
    }

    /// The directories of the `fs.*` grants, sorted, each once: the
    /// preopens of a new instance, in descriptor order (3, 4, …).
    fn fs_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = self
            .env
            .grants
            .list()
            .into_iter()
            .filter_map(|p| match p {
                Permission::FsRead(d) | Permission::FsWrite(d) => Some(d),
                _ => None,
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// How the grants of this moment let the plugin use `dir`.
    fn access(&self, dir: &str) -> Access {
        let grants = &self.env.grants;
        if grants.allows(&Permission::FsWrite(dir.to_owned())) {
            Access::ReadWrite
        } else if grants.allows(&Permission::FsRead(dir.to_owned())) {
            Access::ReadOnly
        } else {
            Access::Revoked
        }
    }

    /// A WASI context with the given directories preopened, in order.
    fn wasi_ctx(&self, slots: &[(String, Access)]) -> WasiP1Ctx {
        let mut builder = WasiCtxBuilder::new();
        let name = &self.env.name;
        for (dir, access) in slots {
            let Some((host, guest)) = self.env.services.resolve_dir(name, dir) else {
                tracing::warn!(target: "wasp::audit", plugin = %name, "`{dir}` needs a host data directory; not preopened");
                continue;
            };
            let (host, perms) = match access {
                Access::ReadWrite => (host, FsPerms::ReadWrite),
                Access::ReadOnly => (host, FsPerms::ReadOnly),
                Access::Revoked => match revoked_dir() {
                    Some(empty) => (empty.to_owned(), FsPerms::ReadOnly),
                    None => continue,
                },
            };
            if *access == Access::ReadWrite
                && dir.starts_with(wasp_protocol::DATA_DIR)
                && let Err(e) = std::fs::create_dir_all(&host)
            {
                tracing::warn!(target: "wasp::audit", plugin = %name, "cannot create {}: {e}", host.display());
            }
            if let Err(e) = builder.preopened_dir(&host, &guest, perms) {
                tracing::warn!(target: "wasp::audit", plugin = %name, "cannot preopen {} as `{guest}`: {e}", host.display());
            }
        }
        builder.build_p1()
    }

    async fn start(&self, restored: Option<&[u8]>) -> Result<Live, Error> {
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
        let mut live = Live { store, exports, buffer: None };
        if let Some(state) = restored.filter(|_| speaks_lifecycle(self.plugin.abi_version())) {
            live.arm(budget);
            match deliver(&mut live, abi::kind::RESTORE, LIFECYCLE_ID, "host", abi::TOPIC_RESTORE, state).await {
                Ok(abi::status::DONE | abi::status::DEFERRED) => {}
                Ok(status) => {
                    return Err(Error::LoadFailed {
                        plugin: name.to_string(),
                        error: WireError::new(
                            ErrorCode::InvalidMessage,
                            format!("wasp_handle returned status {status} for the restored state"),
                        ),
                    });
                }
                Err(Fault::Guest(detail) | Fault::NoRoom(detail)) => {
                    return Err(Error::GuestFault { plugin: name.to_string(), detail });
                }
                Err(Fault::Wasm(e)) => return Err(self.fault(&mut live.store, e)),
            }
        }
        let Live { mut store, exports, buffer } = live;
        if self.plugin.has_load {
            let load: TypedFunc<(), i32> =
                instance.get_typed_func(&mut store, abi::EXPORT_LOAD).map_err(|e| missing(abi::EXPORT_LOAD, e))?;
            store.data_mut().slices.start(budget);
            store.set_epoch_deadline(schedule.slice_ticks());
            match load.call_async(&mut store, ()).await {
                Ok(abi::status::DONE) => {}
                Ok(status) => {
                    let reason = store.data_mut().host.take_last_error();
                    return Err(Error::LoadFailed {
                        plugin: name.to_string(),
                        error: WireError::new(
                            ErrorCode::from_u16(u16::try_from(status).unwrap_or(0)),
                            load_failure("wasp_load returned status", status, reason),
                        ),
                    });
                }
                Err(e) => return Err(self.fault(&mut store, e)),
            }
        }
        Ok(Live { store, exports, buffer })
    }

    /// Turns a wasmtime error into a readable fault.
    fn fault(&self, store: &mut Store<GuestState>, e: wasmtime::Error) -> Error {
        let state = store.data_mut();
        let (slices, quarantined) = (&mut state.slices, state.host.quarantined);
        fault_of(&self.plugin.name, self.env.limits.cpu_budget, slices, quarantined, state.panic.take(), &e)
    }
}

/// The message of a failed load: the status, and the last line the plugin
/// logged at error level (the SDK logs the error `on_load` returned) if any.
pub(crate) fn load_failure(what: &str, status: i32, reason: Option<String>) -> String {
    match reason {
        Some(reason) => format!("{what} {status}: {reason}"),
        None => format!("{what} {status}; the plugin logged no error to say why"),
    }
}

/// How a preopened directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
    /// Its grant was revoked: an empty, read-only directory stands in, so
    /// that the descriptors of the others stay where WASI libc expects them.
    Revoked,
}

/// An empty directory standing in for revoked ones, made once per process
/// under the temporary directory with an unguessable name.
fn revoked_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).ok()?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("wasp-revoked-{}-{tag}", std::process::id()));
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::error!(target: "wasp::audit", "cannot create {}: {e}; revoked directories are dropped instead", dir.display());
                None
            }
        }
    })
    .as_deref()
}

enum Fault {
    /// The guest broke the ABI (a bad buffer from `wasp_alloc`).
    Guest(String),
    /// `wasp_alloc` found no room for the message (it returned 0): the host
    /// could not hand it over, which is not the plugin's fault. Says how
    /// large the message was and what was asked.
    NoRoom(String),
    /// A trap or a spent budget.
    Wasm(wasmtime::Error),
}

/// Writes the message into the guest's buffer and calls `wasp_handle`.
async fn deliver(live: &mut Live, kind: i32, id: u64, from: &str, topic: &str, payload: &[u8]) -> Result<i32, Fault> {
    let needed = from.len() + topic.len() + payload.len();
    let needed32 = u32::try_from(needed)
        .map_err(|_| Fault::Guest(format!("message of {needed} bytes does not fit a 32-bit guest")))?;
    let ptr = match live.buffer {
        Some((ptr, cap)) if cap >= needed32 => ptr,
        old => {
            if let Some((ptr, cap)) = old {
                live.buffer = None;
                live.exports
                    .dealloc
                    .call_async(&mut live.store, (ptr as i32, cap as i32))
                    .await
                    .map_err(Fault::Wasm)?;
            }
            let cap = needed32.max(256).checked_next_power_of_two().unwrap_or(needed32);
            live.store.data_mut().inbound = true;
            let ptr = live.exports.alloc.call_async(&mut live.store, cap as i32).await;
            live.store.data_mut().inbound = false;
            let ptr = ptr.map_err(Fault::Wasm)? as u32;
            if ptr == 0 {
                return Err(Fault::NoRoom(format!("a message of {needed} bytes (wasp_alloc({cap}) returned 0)")));
            }
            live.buffer = Some((ptr, cap));
            ptr
        }
    };
    let memory = live.exports.memory.data_mut(&mut live.store);
    let size = memory.len();
    let dst = (ptr as usize)
        .checked_add(needed)
        .and_then(|end| memory.get_mut(ptr as usize..end))
        .ok_or_else(|| {
            Fault::Guest(format!(
                "wasp_alloc returned {ptr:#x}, but {needed} bytes from there fall outside the plugin's memory of {size} bytes"
            ))
        })?;
    let (d_from, rest) = dst.split_at_mut(from.len());
    let (d_topic, d_payload) = rest.split_at_mut(topic.len());
    d_from.copy_from_slice(from.as_bytes());
    d_topic.copy_from_slice(topic.as_bytes());
    d_payload.copy_from_slice(payload);
    live.exports
        .handle
        .call_async(
            &mut live.store,
            (ptr as i32, kind, id as i64, from.len() as i32, topic.len() as i32, payload.len() as i32),
        )
        .await
        .map_err(Fault::Wasm)
}

// ---- host imports -------------------------------------------------------

/// Why an import failed.
enum CallError {
    /// The guest broke the ABI: a pointer outside its memory, text that is
    /// not UTF-8. Audited as an invalid call.
    Abi(WireError),
    /// The call itself failed (denied, too large, not found, …).
    Call(WireError),
}

impl From<WireError> for CallError {
    fn from(e: WireError) -> Self {
        Self::Call(e)
    }
}

fn out_of_bounds(ptr: i32, len: i32, size: usize) -> CallError {
    CallError::Abi(WireError::new(
        ErrorCode::InvalidArgument,
        format!("pointer {:#x} with length {} is outside the plugin's memory of {size} bytes", ptr as u32, len as u32),
    ))
}

/// Bounds-checked view of guest memory.
fn bytes(mem: &[u8], ptr: i32, len: i32) -> Result<&[u8], CallError> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    p.checked_add(l).and_then(|end| mem.get(p..end)).ok_or_else(|| out_of_bounds(ptr, len, mem.len()))
}

/// Bounds-checked, writable view of guest memory.
fn bytes_mut(mem: &mut [u8], ptr: i32, len: i32) -> Result<&mut [u8], CallError> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    let size = mem.len();
    p.checked_add(l).and_then(|end| mem.get_mut(p..end)).ok_or_else(|| out_of_bounds(ptr, len, size))
}

fn text<'a>(mem: &'a [u8], ptr: i32, len: i32, what: &str) -> Result<&'a str, CallError> {
    std::str::from_utf8(bytes(mem, ptr, len)?)
        .map_err(|e| CallError::Abi(WireError::new(ErrorCode::InvalidArgument, format!("{what} is not UTF-8: {e}"))))
}

/// Stops the guest once the host has quarantined it.
fn guard(caller: &Caller<'_, GuestState>) -> wasmtime::Result<()> {
    if caller.data().host.quarantined {
        return Err(wasmtime::Error::msg("the plugin was quarantined"));
    }
    Ok(())
}

/// Runs an import body with guest memory and state; turns an error into a
/// status code and puts its message in the result slot.
fn with_memory<R>(
    caller: &mut Caller<'_, GuestState>,
    call: &str,
    f: impl FnOnce(&[u8], &mut GuestState) -> Result<R, CallError>,
) -> Result<R, i32> {
    let result = match caller.data().memory {
        Some(memory) => {
            let (mem, state) = memory.data_and_store_mut(&mut *caller);
            f(mem, state)
        }
        None => Err(CallError::Call(WireError::new(
            ErrorCode::Internal,
            "host call before the plugin's memory was known (from a start function?)",
        ))),
    };
    result.map_err(|e| {
        let state = caller.data_mut();
        let e = match e {
            CallError::Abi(e) => {
                state.host.invalid_call(call, &e);
                e
            }
            CallError::Call(e) => e,
        };
        fail(state, e)
    })
}

fn fail(state: &mut GuestState, e: WireError) -> i32 {
    state.result = e.message.into_bytes();
    i32::from(e.code.as_u16())
}

fn status(caller: &Caller<'_, GuestState>, r: Result<(), i32>) -> wasmtime::Result<i32> {
    guard(caller)?;
    Ok(r.err().unwrap_or(0))
}

fn timeout_ms(ms: i32) -> Option<u32> {
    u32::try_from(ms).ok().filter(|&ms| ms > 0)
}

/// Defines every import of `docs/abi.md` under the `wasp` module, and the
/// WASI subset under `wasi_snapshot_preview1`.
pub(crate) fn define_imports(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = abi::IMPORT_MODULE;
    linker.func_wrap(
        M,
        "send",
        |mut c: Caller<'_, GuestState>, tp: i32, tl: i32, sp: i32, sl: i32, pp: i32, pl: i32| {
            let r = with_memory(&mut c, "send", |mem, st| {
                let (to, topic, payload) =
                    (text(mem, tp, tl, "address")?, text(mem, sp, sl, "topic")?, bytes(mem, pp, pl)?);
                Ok(st.host.send(to, topic, payload.to_vec())?)
            });
            status(&c, r)
        },
    )?;
    linker.func_wrap(M, "publish", |mut c: Caller<'_, GuestState>, sp: i32, sl: i32, pp: i32, pl: i32| {
        let r = with_memory(&mut c, "publish", |mem, st| {
            let (topic, payload) = (text(mem, sp, sl, "topic")?, bytes(mem, pp, pl)?);
            Ok(st.host.publish(topic, payload.to_vec())?)
        });
        status(&c, r)
    })?;
    linker.func_wrap(M, "subscribe", |mut c: Caller<'_, GuestState>, sp: i32, sl: i32| {
        let r = with_memory(&mut c, "subscribe", |mem, st| Ok(st.host.subscribe(text(mem, sp, sl, "pattern")?)?));
        status(&c, r)
    })?;
    linker.func_wrap(M, "unsubscribe", |mut c: Caller<'_, GuestState>, sp: i32, sl: i32| {
        let r = with_memory(&mut c, "unsubscribe", |mem, st| Ok(st.host.unsubscribe(text(mem, sp, sl, "pattern")?)?));
        status(&c, r)
    })?;
    linker.func_wrap_async(
        M,
        "request",
        |mut c: Caller<'_, GuestState>, (tp, tl, sp, sl, pp, pl, ms): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let pending = with_memory(&mut c, "request", |mem, st| {
                    let (to, topic, payload) =
                        (text(mem, tp, tl, "address")?, text(mem, sp, sl, "topic")?, bytes(mem, pp, pl)?);
                    Ok(st.host.request(to, topic, payload.to_vec(), timeout_ms(ms)))
                });
                let fut = match pending {
                    Ok(fut) => fut,
                    Err(code) => return status(&c, Err(code)),
                };
                let answer = fut.await;
                finish_wait(&mut c, answer)
            })
        },
    )?;
    linker.func_wrap(
        M,
        "request_async",
        |mut c: Caller<'_, GuestState>, tp: i32, tl: i32, sp: i32, sl: i32, pp: i32, pl: i32, ms: i32| {
            let r = with_memory(&mut c, "request_async", |mem, st| {
                let (to, topic, payload) =
                    (text(mem, tp, tl, "address")?, text(mem, sp, sl, "topic")?, bytes(mem, pp, pl)?);
                Ok(st.host.request_async(to, topic, payload.to_vec(), timeout_ms(ms))?)
            });
            guard(&c)?;
            Ok(match r {
                Ok(id) => i64::try_from(id).unwrap_or(i64::MAX),
                Err(code) => -i64::from(code),
            })
        },
    )?;
    linker.func_wrap(M, "reply", |mut c: Caller<'_, GuestState>, id: i64, code: i32, ptr: i32, len: i32| {
        let r = with_memory(&mut c, "reply", |mem, st| {
            let body = bytes(mem, ptr, len)?;
            let answer = if code == 0 {
                Ok(body.to_vec())
            } else {
                let code = u16::try_from(code).map_or(ErrorCode::Plugin, ErrorCode::from_u16);
                Err(WireError::new(code, String::from_utf8_lossy(body).into_owned()))
            };
            Ok(st.host.reply(id as u64, answer)?)
        });
        status(&c, r)
    })?;
    linker.func_wrap(M, "result_len", |c: Caller<'_, GuestState>| c.data().result.len() as i32)?;
    linker.func_wrap(M, "result_read", |mut c: Caller<'_, GuestState>, ptr: i32, len: i32| {
        guard(&c)?;
        let Some(memory) = c.data().memory else { return Ok(-i32::from(ErrorCode::Internal.as_u16())) };
        let (mem, st) = memory.data_and_store_mut(&mut c);
        // The whole pair must lie in memory, as for every import (a length
        // is a u32), even when the slot is shorter: nothing is copied
        // otherwise.
        let read = match bytes_mut(mem, ptr, len) {
            Ok(dst) => {
                let n = dst.len().min(st.result.len()).min(i32::MAX as usize);
                dst[..n].copy_from_slice(&st.result[..n]);
                n as i32
            }
            Err(CallError::Abi(e) | CallError::Call(e)) => {
                st.host.invalid_call("result_read", &e);
                -fail(st, e)
            }
        };
        guard(&c)?;
        Ok(read)
    })?;
    linker.func_wrap(M, "log", |mut c: Caller<'_, GuestState>, level: i32, ptr: i32, len: i32| {
        let _ = with_memory(&mut c, "log", |mem, st| {
            let body = bytes(mem, ptr, len)?;
            let body = &body[..body.len().min(MAX_TEXT)];
            st.host.log(LogLevel::from_abi(level), &String::from_utf8_lossy(body));
            Ok(())
        });
        guard(&c)
    })?;
    linker.func_wrap(M, "panic", |mut c: Caller<'_, GuestState>, ptr: i32, len: i32| {
        let _ = with_memory(&mut c, "panic", |mem, st| {
            let body = bytes(mem, ptr, len)?;
            st.panic = Some(String::from_utf8_lossy(&body[..body.len().min(MAX_TEXT)]).into_owned());
            Ok(())
        });
        guard(&c)
    })?;
    linker.func_wrap_async(M, "call", |mut c: Caller<'_, GuestState>, (sp, sl, pp, pl): (i32, i32, i32, i32)| {
        Box::new(async move {
            let pending = with_memory(&mut c, "call", |mem, st| {
                let (service, payload) = (text(mem, sp, sl, "service")?, bytes(mem, pp, pl)?);
                match library::parse_service(service) {
                    None => Ok(Pending::Service(st.host.call(service, payload.to_vec()))),
                    Some(parsed) => {
                        let (name, function) = parsed?;
                        st.host.admit_library()?;
                        Ok(Pending::Library(name.to_owned(), function.to_owned(), payload.to_vec()))
                    }
                }
            });
            let fut = match pending {
                Ok(Pending::Service(fut)) => fut,
                Ok(Pending::Library(name, function, input)) => {
                    return call_library(&mut c, &name, &function, &input).await;
                }
                Err(code) => return status(&c, Err(code)),
            };
            let answer = fut.await;
            finish_wait(&mut c, answer)
        })
    })?;
    define_wasi(linker)
}

/// What a `call` import goes on to do.
enum Pending {
    /// Await a host service.
    Service(crate::BoxFuture<crate::Answer>),
    /// Run a library function in this store: library, function, input.
    Library(String, String, Vec<u8>),
}

/// A library call of the `call` import, run in the plugin's own store: its
/// CPU budget and memory limit cover the library, whose trap, spent budget
/// or ABI break is the plugin's fault (the error traps the plugin).
async fn call_library(
    c: &mut Caller<'_, GuestState>,
    name: &str,
    function: &str,
    input: &[u8],
) -> wasmtime::Result<i32> {
    let plugin = c.data().host.name().clone();
    let max = c.data().host.env.limits.max_message_size;
    match library::call(&mut *c, &plugin, name, function, input, max).await {
        Ok(output) => {
            guard(c)?;
            c.data_mut().result = output;
            Ok(0)
        }
        Err(Failure::Call(e)) => {
            let code = fail(c.data_mut(), e);
            status(c, Err(code))
        }
        Err(Failure::Fault(e)) => Err(e),
    }
}

/// After awaiting an answer inside an import: a fresh slice (waiting is
/// not CPU time), then the answer into the result slot.
fn finish_wait(c: &mut Caller<'_, GuestState>, answer: crate::Answer) -> wasmtime::Result<i32> {
    c.data_mut().slices.fresh_slice();
    let ticks = c.data_mut().first_deadline();
    c.as_context_mut().set_epoch_deadline(ticks);
    guard(c)?;
    Ok(match answer {
        Ok(reply) => {
            c.data_mut().result = reply;
            0
        }
        Err(e) => fail(c.data_mut(), e),
    })
}

/// WASI errno values the shadowed functions return.
mod errno {
    pub(super) const SUCCESS: i32 = 0;
    pub(super) const ACCES: i32 = 2;
    pub(super) const BADF: i32 = 8;
    pub(super) const PERM: i32 = 63;
    pub(super) const NOTCAPABLE: i32 = 76;
    pub(super) const FAULT: i32 = 21;
    pub(super) const INVAL: i32 = 28;
    pub(super) const NAMETOOLONG: i32 = 37;
}

/// What every WASI call wasp wraps starts with: the guest's memory and the
/// state, the WASI context given the call's fuel; `None` when the guest has
/// no memory (the caller answers EFAULT).
fn wasi_call<'a>(c: &'a mut Caller<'_, GuestState>) -> Option<(&'a mut [u8], &'a mut GuestState)> {
    let memory = c.data().memory?;
    let fuel = c.as_context_mut().hostcall_fuel();
    let (mem, state) = memory.data_and_store_mut(c);
    WasiSnapshotPreview1::set_hostcall_fuel(&mut state.wasi, fuel);
    Some((mem, state))
}

/// The WASI preview 1 subset: wasmtime-wasi's implementation, with the
/// clock and the random source behind the `clock` and `random` permissions.
fn define_wasi(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, |s: &mut GuestState| &mut s.wasi)?;
    linker.allow_shadowing(true);
    linker.func_wrap(
        abi::WASI_MODULE,
        "clock_time_get",
        |mut c: Caller<'_, GuestState>, id: i32, _precision: i64, out: i32| -> wasmtime::Result<i32> {
            guard(&c)?;
            if c.data_mut().host.wasi_require(Permission::Clock).is_err() {
                return Ok(errno::ACCES);
            }
            let nanos = match id {
                0 => SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos(),
                1..=3 => crate::hostcalls::monotonic_nanos(),
                _ => return Ok(errno::INVAL),
            };
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
            Ok(write_guest(&mut c, "clock_time_get", out, &nanos.to_le_bytes()))
        },
    )?;
    linker.func_wrap(
        abi::WASI_MODULE,
        "random_get",
        |mut c: Caller<'_, GuestState>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            guard(&c)?;
            if c.data_mut().host.wasi_require(Permission::Random).is_err() {
                return Ok(errno::ACCES);
            }
            let mut buf = vec![0u8; (len as u32 as usize).min(1 << 20)];
            if buf.len() != len as u32 as usize || getrandom::fill(&mut buf).is_err() {
                return Ok(errno::INVAL);
            }
            Ok(write_guest(&mut c, "random_get", ptr, &buf))
        },
    )?;
    // The path calls std::fs makes: wasmtime-wasi does the work; wasp
    // refuses a path outside memory with EFAULT (wasmtime-wasi would trap)
    // and audits what WASI refuses, naming the path.
    macro_rules! audited_path_call {
        ($name:ident, write: $write:expr, ($($arg:ident: $ty:ty),*), dirfd: $dirfd:ident, path: ($ptr:ident, $len:ident)) => {
            linker.func_wrap_async(
                abi::WASI_MODULE,
                stringify!($name),
                |mut c: Caller<'_, GuestState>, ($($arg,)*): ($($ty,)*)| {
                    Box::new(async move {
                        guard(&c)?;
                        let Some((mem, state)) = wasi_call(&mut c) else { return Ok(errno::FAULT) };
                        let path = match bytes(mem, $ptr, $len) {
                            Ok(b) if b.len() > MAX_PATH => {
                                let e = WireError::new(
                                    ErrorCode::InvalidArgument,
                                    format!("a path of {} bytes; paths are at most {MAX_PATH} bytes", b.len()),
                                );
                                state.host.invalid_call(stringify!($name), &e);
                                return Ok(errno::NAMETOOLONG);
                            }
                            Ok(b) => String::from_utf8_lossy(b).into_owned(),
                            Err(CallError::Abi(e) | CallError::Call(e)) => {
                                state.host.invalid_call(stringify!($name), &e);
                                return Ok(errno::FAULT);
                            }
                        };
                        let mut guest = wiggle::GuestMemory::Unshared(mem);
                        let status =
                            wasmtime_wasi::p1::wasi_snapshot_preview1::$name(&mut state.wasi, &mut guest, $($arg),*)
                                .await?;
                        if matches!(status, errno::BADF | errno::NOTCAPABLE | errno::ACCES | errno::PERM) {
                            state.denied_path($dirfd, &path, $write, status);
                        }
                        Ok(status)
                    })
                },
            )?;
        };
    }
    audited_path_call!(
        path_open,
        write: wants_write(oflags, base),
        (dirfd: i32, dirflags: i32, p: i32, l: i32, oflags: i32, base: i64, inheriting: i64, fdflags: i32, out: i32),
        dirfd: dirfd,
        path: (p, l)
    );
    audited_path_call!(path_create_directory, write: true, (fd: i32, p: i32, l: i32), dirfd: fd, path: (p, l));
    audited_path_call!(path_remove_directory, write: true, (fd: i32, p: i32, l: i32), dirfd: fd, path: (p, l));
    audited_path_call!(path_unlink_file, write: true, (fd: i32, p: i32, l: i32), dirfd: fd, path: (p, l));
    audited_path_call!(
        path_filestat_get,
        write: false,
        (fd: i32, flags: i32, p: i32, l: i32, out: i32),
        dirfd: fd,
        path: (p, l)
    );
    // `poll_oneoff` sleeps inside the host, where no epoch deadline can stop
    // it: the time asleep counts against the message's CPU budget, and a
    // sleep that outlasts what is left of it ends the message as a spent
    // budget would. So a message cannot stay in flight (holding, say, a
    // directory revoked meanwhile) longer than its budget.
    linker.func_wrap_async(
        abi::WASI_MODULE,
        "poll_oneoff",
        |mut c: Caller<'_, GuestState>, (subs, events, n, count): (i32, i32, i32, i32)| {
            Box::new(async move {
                guard(&c)?;
                let Some((mem, state)) = wasi_call(&mut c) else { return Ok(errno::FAULT) };
                let left = state.slices.time_left();
                let started = std::time::Instant::now();
                let mut guest = wiggle::GuestMemory::Unshared(mem);
                let poll = wasmtime_wasi::p1::wasi_snapshot_preview1::poll_oneoff(
                    &mut state.wasi,
                    &mut guest,
                    subs,
                    events,
                    n,
                    count,
                );
                let status = match tokio::time::timeout(left, poll).await {
                    Ok(status) => status?,
                    Err(_) => return Err(state.slices.spend_all()),
                };
                state.slices.charge_sleep(started.elapsed())?;
                Ok(status)
            })
        },
    )?;
    audited_path_call!(
        path_rename,
        write: true,
        (fd: i32, p: i32, l: i32, new_fd: i32, new_p: i32, new_l: i32),
        dirfd: fd,
        path: (p, l)
    );
    linker.allow_shadowing(false);
    Ok(())
}

/// Whether a `path_open` asks to create, truncate or write.
fn wants_write(oflags: i32, rights_base: i64) -> bool {
    const CREAT: i32 = 1;
    const TRUNC: i32 = 8;
    const FD_WRITE: i64 = 1 << 6;
    oflags & (CREAT | TRUNC) != 0 || rights_base & FD_WRITE != 0
}

impl GuestState {
    /// The ticks to the first deadline of a fresh slice: the slice, or one
    /// tick while the plugin is being profiled (each deadline takes a sample).
    fn first_deadline(&mut self) -> u64 {
        if self.profile.active() {
            self.slices.pending = 1;
            1
        } else {
            self.slices.slice_ticks
        }
    }

    /// Audits a file access WASI refused: outside every granted directory,
    /// or writing where only reading is granted.
    fn denied_path(&mut self, dirfd: i32, path: &str, write: bool, status: i32) {
        // Descriptors 3, 4, … are the preopens, in order.
        // `dirfd` is the guest's: any i32, so no arithmetic that can overflow.
        let base = dirfd
            .checked_sub(3)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.fs_slots.get(i))
            .map(|(dir, _)| dir.as_str());
        let full = match base {
            Some(dir) => format!("{}/{path}", dir.trim_end_matches('/')),
            None => format!("/{}", path.trim_start_matches('/')),
        };
        let permission = if write { Permission::FsWrite(full.clone()) } else { Permission::FsRead(full.clone()) };
        let message = format!(
            "plugin `{}` was refused `{full}` (WASI errno {status}): no `{permission}` grant covers it",
            self.host.name()
        );
        self.host.file_denied(permission, message);
    }
}

/// Copies `data` into guest memory at `ptr`; a WASI errno. A pointer
/// outside memory is an invalid call, audited like one to a `wasp` import.
fn write_guest(c: &mut Caller<'_, GuestState>, call: &str, ptr: i32, data: &[u8]) -> i32 {
    let Some(memory) = c.data().memory else { return errno::FAULT };
    let (mem, st) = memory.data_and_store_mut(&mut *c);
    // `data` is at most 1 MiB (`random_get`), so its length fits an i32.
    match bytes_mut(mem, ptr, data.len() as i32) {
        Ok(dst) => {
            dst.copy_from_slice(data);
            errno::SUCCESS
        }
        Err(CallError::Abi(e) | CallError::Call(e)) => {
            st.host.invalid_call(call, &e);
            errno::FAULT
        }
    }
}

/// What a guest's trap means, for core modules and components alike: its
/// CPU budget spent (`slices` says so), a quarantine, or a trap with the
/// panic message the guest recorded and its backtrace.
pub(crate) fn fault_of(
    plugin: &str,
    budget: std::time::Duration,
    slices: &mut crate::scheduler::SliceState,
    quarantined: bool,
    panic: Option<String>,
    e: &wasmtime::Error,
) -> Error {
    let plugin = plugin.to_owned();
    if slices.exceeded {
        slices.exceeded = false;
        return Error::DeadlineExceeded { plugin, budget };
    }
    if quarantined {
        return Error::Quarantined { plugin };
    }
    let backtrace = e.downcast_ref::<WasmBacktrace>().map(|bt| bt.to_string());
    // A host function's error (WASI's `proc_exit`, say) is the root cause
    // under wasmtime's "error while executing" context.
    let trap = e.downcast_ref::<Trap>().map_or_else(|| e.root_cause().to_string(), |t| t.to_string());
    let message = match panic {
        Some(panic) => format!("{trap} after a panic: {panic}"),
        None => trap,
    };
    Error::Trap { plugin, message, backtrace }
}
