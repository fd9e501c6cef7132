//! The one wasmtime engine a host shares between all its plugins.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Linker, OptLevel, WasmBacktraceDetails};

use crate::Error;
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
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("schedule", &self.inner.schedule).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with epoch interruption on the given schedule.
    pub fn new(schedule: Schedule) -> Result<Self, Error> {
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
        let wasmtime =
            wasmtime::Engine::new(&config).map_err(|e| Error::Internal(format!("cannot create engine: {e}")))?;
        let mut linker = Linker::new(&wasmtime);
        define_imports(&mut linker).map_err(|e| Error::Internal(format!("cannot define host imports: {e}")))?;
        start_ticker(&wasmtime, schedule.tick)?;
        Ok(Self { inner: Arc::new(EngineInner { wasmtime, linker, schedule }) })
    }

    /// The underlying wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }

    /// The tick and slice lengths.
    pub fn schedule(&self) -> Schedule {
        self.inner.schedule
    }

    pub(crate) fn linker(&self) -> &Linker<GuestState> {
        &self.inner.linker
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
