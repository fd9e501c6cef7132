//! The one wasmtime engine a host shares between all its plugins.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

#[cfg(feature = "profiling")]
use wasmtime::GuestProfiler;
use wasmtime::{
    Config, InstanceAllocationStrategy, Linker, Module, OptLevel, PoolingAllocationConfig, WasmBacktraceDetails,
};

use crate::Error;
use crate::cache::{CacheKey, ModuleCache, engine_hash};
use crate::scheduler::Schedule;
use crate::wasm::{GuestState, define_imports};

/// One wasmtime engine with epoch interruption, its epoch ticker thread, and
/// the linker holding the wasp host imports.
///
/// Create one per host and share it: compiled modules belong to the engine
/// that compiled them. Cloning is cheap. The ticker thread holds only a weak
/// reference, so dropping the last clone stops it.
///
/// ```
/// use wasp_runtime::{Engine, Schedule};
/// let engine = Engine::new(Schedule::default())?;
/// assert_eq!(engine.schedule().slice_ticks(), 10);
/// # Ok::<(), wasp_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    wasmtime: wasmtime::Engine,
    linker: Linker<GuestState>,
    schedule: Schedule,
    debug: bool,
    /// The engine half of module cache keys.
    hash: [u8; 32],
    /// Where compiled modules are kept between runs, if anywhere.
    cache: Option<ModuleCache>,
    /// With a pool: the on-demand engine instances go to when the pool is
    /// full, with its linker; and the pool's size.
    overflow: Option<(wasmtime::Engine, Linker<GuestState>)>,
    pool: Option<u32>,
    /// The modules plugins of this engine run, by cache key: a module
    /// loaded again while a plugin still runs it shares its machine code
    /// instead of holding a copy.
    modules: Mutex<HashMap<CacheKey, Weak<Module>>>,
    /// The same for the overflow engine's copies.
    overflow_modules: Mutex<HashMap<CacheKey, Weak<Module>>>,
    /// The profiling slot of each WASM plugin, by name.
    profiles: Mutex<HashMap<String, Arc<ProfileSlot>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("schedule", &self.inner.schedule)
            .field("debug", &self.inner.debug)
            .field("module_cache", &self.inner.cache.as_ref().map(ModuleCache::dir))
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with epoch interruption on the given schedule.
    pub fn new(schedule: Schedule) -> Result<Self, Error> {
        Self::with_debug(schedule, false)
    }

    /// An engine with epoch interruption on the given schedule, in debug
    /// mode when `debug` is true: plugin code is compiled without
    /// optimization, with native unwind information and with the plugin's
    /// DWARF translated for the host, and registered with the GDB JIT
    /// interface, so that gdb or lldb attached to the host can set
    /// breakpoints in plugin functions and step through their source.
    /// Compiling is slower and the code runs slower: use it for debugging
    /// only (docs/debugging.md).
    ///
    /// # Errors
    ///
    /// [`Error::FeatureDisabled`] when `debug` is true and this build lacks
    /// the `debugger` feature (the GDB JIT interface is wasmtime's
    /// `debug-builtins`); [`Error::Internal`] when wasmtime refuses the
    /// configuration.
    ///
    /// ```
    /// use wasp_runtime::{Engine, Schedule};
    /// let engine = Engine::with_debug(Schedule::default(), true)?;
    /// assert!(engine.debug());
    /// # Ok::<(), wasp_runtime::Error>(())
    /// ```
    pub fn with_debug(schedule: Schedule, debug: bool) -> Result<Self, Error> {
        Self::with_options(schedule, EngineOptions { debug, ..EngineOptions::default() })
    }

    /// An engine with epoch interruption on the given schedule, configured
    /// by `options` (debug mode, module cache).
    ///
    /// # Errors
    ///
    /// As [`Engine::with_debug`]: debug mode without the `debugger`
    /// feature, or a configuration wasmtime refuses.
    ///
    /// ```
    /// use wasp_runtime::{Engine, EngineOptions, Schedule};
    /// let dir = std::env::temp_dir().join("wasp-doc-cache");
    /// let options = EngineOptions { module_cache: Some(dir.clone()), ..EngineOptions::default() };
    /// let engine = Engine::with_options(Schedule::default(), options)?;
    /// assert_eq!(engine.module_cache().map(|c| c.dir()), Some(dir.as_path()));
    /// # Ok::<(), wasp_runtime::Error>(())
    /// ```
    pub fn with_options(schedule: Schedule, options: EngineOptions) -> Result<Self, Error> {
        let EngineOptions { debug, module_cache, pool } = options;
        if debug {
            crate::features::require("debugger", || "debug mode (plugins compiled for gdb and lldb)".to_owned())?;
        }
        let on_demand = Self::config(debug);
        // The pool reserves address space for every slot up front (about
        // 4 GiB of it per linear memory, so that guard pages replace bounds
        // checks): where that cannot be had, the engine allocates on demand.
        let (wasmtime, overflow, pool) = match pool.filter(|p| p.total_instances > 0) {
            None => (Self::build(&on_demand)?, None, None),
            Some(pool) => {
                let mut pooled = on_demand.clone();
                pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool.config()));
                match wasmtime::Engine::new(&pooled) {
                    Ok(engine) => {
                        let overflow = Self::build(&on_demand)?;
                        let linker = Self::linker_for(&overflow)?;
                        start_ticker(&overflow, schedule.tick)?;
                        (engine, Some((overflow, linker)), Some(pool.total_instances))
                    }
                    Err(e) => {
                        tracing::warn!(target: "wasp::engine", "cannot reserve a pool of {} instances ({e:#}); allocating each instance on demand", pool.total_instances);
                        (Self::build(&on_demand)?, None, None)
                    }
                }
            }
        };
        let linker = Self::linker_for(&wasmtime)?;
        start_ticker(&wasmtime, schedule.tick)?;
        let profiles = Mutex::new(HashMap::new());
        let hash = engine_hash(&wasmtime, debug);
        let cache = module_cache.map(ModuleCache::new);
        let (modules, overflow_modules) = (Mutex::default(), Mutex::default());
        let inner = EngineInner {
            wasmtime,
            linker,
            schedule,
            debug,
            hash,
            cache,
            overflow,
            pool,
            modules,
            overflow_modules,
            profiles,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The wasmtime configuration, with the on-demand allocator.
    fn config(debug: bool) -> Config {
        let mut config = Config::new();
        // The proposals a plugin may use are part of the ABI (docs/abi.md §1):
        // set them explicitly so a wasmtime upgrade cannot widen them.
        config
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .wasm_backtrace_details(WasmBacktraceDetails::Enable)
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            .wasm_bulk_memory(true)
            .wasm_multi_value(true)
            .wasm_tail_call(true)
            .wasm_extended_const(true)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false);
        if debug {
            config.debug_info(true).cranelift_opt_level(OptLevel::None).native_unwind_info(true);
        }
        config
    }

    fn build(config: &Config) -> Result<wasmtime::Engine, Error> {
        wasmtime::Engine::new(config).map_err(|e| Error::Internal(format!("cannot create engine: {e}")))
    }

    fn linker_for(engine: &wasmtime::Engine) -> Result<Linker<GuestState>, Error> {
        let mut linker = Linker::new(engine);
        define_imports(&mut linker).map_err(|e| Error::Internal(format!("cannot define host imports: {e}")))?;
        Ok(linker)
    }

    /// How many instances the pooling allocator holds, when the engine has
    /// one ([`EngineOptions::pool`]); instances beyond it are allocated on
    /// demand.
    pub fn pool_size(&self) -> Option<u32> {
        self.inner.pool
    }

    /// The on-demand engine and linker instances overflow to when the pool
    /// is full.
    pub(crate) fn overflow(&self) -> Option<&(wasmtime::Engine, Linker<GuestState>)> {
        self.inner.overflow.as_ref()
    }

    /// The underlying wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }

    /// The tick and slice lengths.
    pub fn schedule(&self) -> Schedule {
        self.inner.schedule
    }

    /// Whether the engine compiles plugins for a native debugger (see
    /// [`Engine::with_debug`]).
    pub fn debug(&self) -> bool {
        self.inner.debug
    }

    /// The module cache compiled plugins are kept in, if any.
    pub fn module_cache(&self) -> Option<&ModuleCache> {
        self.inner.cache.as_ref()
    }

    /// The engine half of module cache keys.
    pub(crate) fn cache_hash(&self) -> [u8; 32] {
        self.inner.hash
    }

    /// The module under `key` that a live plugin of this engine already
    /// runs, if any.
    pub(crate) fn shared_module(&self, key: &CacheKey, overflow: bool) -> Option<Arc<Module>> {
        let table = if overflow { &self.inner.overflow_modules } else { &self.inner.modules };
        let modules = table.lock();
        modules.get(key).and_then(Weak::upgrade)
    }

    /// Shares `module` under `key` for as long as a plugin holds it.
    pub(crate) fn share_module(&self, key: CacheKey, module: &Arc<Module>, overflow: bool) {
        let table = if overflow { &self.inner.overflow_modules } else { &self.inner.modules };
        let mut modules = table.lock();
        modules.retain(|_, m| m.strong_count() > 0);
        modules.insert(key, Arc::downgrade(module));
    }

    pub(crate) fn linker(&self) -> &Linker<GuestState> {
        &self.inner.linker
    }

    /// The profiling slot of the WASM plugin `plugin`, made on first use.
    pub(crate) fn profile_slot(&self, plugin: &str) -> Arc<ProfileSlot> {
        let mut profiles = self.inner.profiles.lock();
        Arc::clone(profiles.entry(plugin.to_owned()).or_default())
    }

    /// Starts sampling the WASM plugin `plugin` with wasmtime's guest
    /// profiler: from now on, while it runs, its stack is sampled at every
    /// epoch tick. Until then its instances pay nothing for it. End with
    /// [`Engine::finish_profile`].
    ///
    /// Fails when no WASM instance of `plugin` has started on this engine
    /// or it is being profiled already, and with [`Error::FeatureDisabled`]
    /// in a build without the `profiling` feature.
    pub fn start_profile(&self, plugin: &str) -> Result<(), Error> {
        self.start_profiler(plugin)
    }

    #[cfg(not(feature = "profiling"))]
    fn start_profiler(&self, plugin: &str) -> Result<(), Error> {
        Err(profiling_off(plugin))
    }

    #[cfg(feature = "profiling")]
    fn start_profiler(&self, plugin: &str) -> Result<(), Error> {
        let slot = self.profile_slot(plugin);
        let mut state = slot.lock();
        let Some(module) = state.module.clone() else {
            return Err(Error::Internal(format!("plugin `{plugin}` has no WASM instance to profile")));
        };
        if state.profiler.is_some() {
            return Err(Error::Internal(format!("plugin `{plugin}` is being profiled already")));
        }
        let profiler =
            GuestProfiler::new(&self.inner.wasmtime, plugin, self.inner.schedule.tick, [(plugin.to_owned(), module)])
                .map_err(|e| Error::Internal(format!("cannot profile plugin `{plugin}`: {e}")))?;
        state.profiler = Some(profiler);
        state.last = Instant::now();
        slot.active.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops sampling `plugin` and returns the profile: a JSON document in
    /// the Firefox profiler's processed format, to open at
    /// <https://profiler.firefox.com>.
    ///
    /// Fails when [`Engine::start_profile`] was not called for `plugin`,
    /// and with [`Error::FeatureDisabled`] in a build without the
    /// `profiling` feature.
    pub fn finish_profile(&self, plugin: &str) -> Result<Vec<u8>, Error> {
        self.finish_profiler(plugin)
    }

    #[cfg(not(feature = "profiling"))]
    fn finish_profiler(&self, plugin: &str) -> Result<Vec<u8>, Error> {
        Err(profiling_off(plugin))
    }

    #[cfg(feature = "profiling")]
    fn finish_profiler(&self, plugin: &str) -> Result<Vec<u8>, Error> {
        let slot = self.profile_slot(plugin);
        slot.active.store(false, Ordering::Release);
        let profiler = slot.lock().profiler.take();
        let Some(profiler) = profiler else {
            return Err(Error::Internal(format!("plugin `{plugin}` is not being profiled")));
        };
        let mut json = Vec::new();
        profiler
            .finish(&mut json)
            .map_err(|e| Error::Internal(format!("cannot write the profile of plugin `{plugin}`: {e}")))?;
        Ok(json)
    }
}

/// The refusal of a profile in a build without the `profiling` feature.
#[cfg(not(feature = "profiling"))]
fn profiling_off(plugin: &str) -> Error {
    Error::FeatureDisabled { what: format!("profiling plugin `{plugin}`"), feature: "profiling" }
}

/// How an [`Engine`] is made: [`Engine::with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Debug mode (see [`Engine::with_debug`]). Off by default.
    pub debug: bool,
    /// The folder of the on-disk [`ModuleCache`] of compiled plugins; none
    /// by default (every load compiles). [`ModuleCache::default_dir`] is
    /// the platform's folder for it.
    pub module_cache: Option<PathBuf>,
    /// wasmtime's pooling allocator, sized for this many instances; none by
    /// default (each instance maps its memory on demand).
    pub pool: Option<Pool>,
}

/// The pooling allocator's size: slots for `total_instances` instances,
/// each with one linear memory of at most `max_memory` bytes and tables of
/// at most `max_table_elements` elements.
///
/// Every memory slot keeps wasmtime's default 4 GiB reservation and guard
/// region, so compiled code needs no explicit bounds checks; the address
/// space is reserved when the engine is made (about 4 GiB per slot). When it
/// cannot be reserved the engine allocates on demand instead; when all slots
/// are taken, further instances are allocated on demand. Memory protection
/// keys stay off, and a freed slot keeps no memory resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Instances (and linear memories, tables, async stacks) in the pool.
    pub total_instances: u32,
    /// The largest linear memory of one instance, in bytes
    /// ([`Limits::max_memory`](crate::Limits::max_memory)).
    pub max_memory: usize,
    /// The most elements of one table
    /// ([`Limits::max_table_elements`](crate::Limits::max_table_elements)).
    pub max_table_elements: u32,
}

/// The most tables one instance of the pool holds (the loader refuses a
/// module defining more, naming this bound).
pub(crate) const POOL_TABLES_PER_MODULE: u32 = 8;

impl Pool {
    /// A pool of `total_instances` sized from `limits`.
    pub fn new(total_instances: u32, limits: &crate::Limits) -> Self {
        Self { total_instances, max_memory: limits.max_memory, max_table_elements: limits.max_table_elements }
    }

    fn config(&self) -> PoolingAllocationConfig {
        // Guard regions stay: memory protection keys (which would stripe
        // memories without guards) are not compiled into this wasmtime.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(self.total_instances)
            .total_memories(self.total_instances)
            .total_tables(self.total_instances)
            .total_stacks(self.total_instances)
            .max_memories_per_module(1)
            .max_tables_per_module(POOL_TABLES_PER_MODULE)
            .max_memory_size(self.max_memory)
            .table_elements(self.max_table_elements as usize)
            // An idle or freed slot holds nothing resident: freed memory and
            // tables are decommitted with madvise, not zeroed in place.
            .linear_memory_keep_resident(0)
            .table_keep_resident(0)
            .async_stack_keep_resident(0);
        pool
    }
}

/// Where the instances of one WASM plugin and [`Engine::start_profile`]
/// meet. The epoch callback of an instance reads only `active` unless the
/// plugin is being profiled.
#[derive(Default)]
pub(crate) struct ProfileSlot {
    active: AtomicBool,
    state: Mutex<ProfileState>,
}

struct ProfileState {
    /// The module of the plugin's latest instance.
    module: Option<Module>,
    #[cfg(feature = "profiling")]
    profiler: Option<GuestProfiler>,
    /// When the last sample was taken.
    last: Instant,
}

impl Default for ProfileState {
    fn default() -> Self {
        Self {
            module: None,
            #[cfg(feature = "profiling")]
            profiler: None,
            last: Instant::now(),
        }
    }
}

impl ProfileSlot {
    fn lock(&self) -> parking_lot::MutexGuard<'_, ProfileState> {
        self.state.lock()
    }

    /// Records the module a new instance runs, for profiles started later.
    pub(crate) fn set_module(&self, module: &Module) {
        self.lock().module = Some(module.clone());
    }

    /// Whether the plugin is being profiled.
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Samples the guest stack of `store`, when the plugin is being profiled.
    pub(crate) fn sample(&self, store: impl wasmtime::AsContext) {
        let mut state = self.lock();
        let now = Instant::now();
        let delta = now.saturating_duration_since(state.last);
        state.last = now;
        #[cfg(feature = "profiling")]
        if let Some(profiler) = state.profiler.as_mut() {
            profiler.sample(store, delta);
        }
        #[cfg(not(feature = "profiling"))]
        let _ = (store, delta);
    }
}

fn start_ticker(engine: &wasmtime::Engine, tick: Duration) -> Result<(), Error> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasp-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|e| Error::Internal(format!("cannot start the epoch ticker: {e}")))
}
