//! Calling a library function for a plugin: instantiate the library in the
//! store on first use, copy the input into its memory, call, copy the
//! output back (`docs/libraries.md`, "The library ABI").
//!
//! A WASM plugin's libraries live in the plugin's own store (its CPU
//! budget, epoch preemption and memory limit cover them; a library's trap
//! is the plugin's). Native and in-process plugins get a store of their own
//! per instance, [`LibraryHost`], under the same limits.

use std::fmt;
use std::sync::Arc;

use wasmtime::{AsContextMut, Instance, Memory, Store, StoreLimits, StoreLimitsBuilder, TypedFunc};
use wasp_protocol::{ErrorCode, WireError, abi};

use super::{Library, LinkedLibraries};
use crate::Limits;
use crate::router::{Answer, BoxFuture};
use crate::scheduler::SliceState;

/// Why a library call failed.
pub(crate) enum Failure {
    /// The call was refused or the library reported an error: the plugin
    /// gets a status code, and runs on.
    Call(WireError),
    /// The library trapped, spent the budget, or broke the library ABI: a
    /// fault of the store it runs in.
    Fault(wasmtime::Error),
}

/// Splits `library:<name>/<function>`; `None` for any other service.
pub(crate) fn parse_service(service: &str) -> Option<Result<(&str, &str), WireError>> {
    let rest = service.strip_prefix(abi::library::SERVICE_PREFIX)?;
    Some(rest.split_once('/').filter(|(lib, func)| !lib.is_empty() && !func.is_empty()).ok_or_else(|| {
        WireError::new(
            ErrorCode::InvalidArgument,
            format!(
                "`{service}` is not a library call; write library:<name>/<function>, such as library:json/validate"
            ),
        )
    }))
}

/// One library instantiated in a store: handles into it.
#[derive(Clone)]
pub(crate) struct LibraryInstance {
    instance: Instance,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    dealloc: TypedFunc<(i32, i32), ()>,
}

/// The libraries linked into one plugin instance, and those of them
/// instantiated so far in its store.
pub(crate) struct LiveLibraries {
    linked: LinkedLibraries,
    live: Vec<(String, LibraryInstance)>,
}

impl LiveLibraries {
    pub(crate) fn new(linked: LinkedLibraries) -> Self {
        Self { linked, live: Vec::new() }
    }
}

/// A store's data that holds its plugin's libraries.
pub(crate) trait HasLibraries {
    fn libraries(&mut self) -> &mut LiveLibraries;
}

/// An ABI break of the library: a fault naming it.
fn broke(library: &Library, detail: impl fmt::Display) -> Failure {
    Failure::Fault(wasmtime::Error::msg(format!(
        "library `{}` {} broke the library ABI: {detail}",
        library.name(),
        library.version()
    )))
}

/// Calls `function` of the library linked as `name` into `store`'s plugin,
/// with `input`; its output, at most `max` bytes.
pub(crate) async fn call<T: HasLibraries + Send + 'static>(
    mut store: impl AsContextMut<Data = T>,
    plugin: &str,
    name: &str,
    function: &str,
    input: &[u8],
    max: usize,
) -> Result<Vec<u8>, Failure> {
    let (library, live) = {
        let mut context = store.as_context_mut();
        let libraries = context.data_mut().libraries();
        let Some(library) = libraries.linked.get(name).cloned() else {
            return Err(Failure::Call(WireError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "plugin `{plugin}` does not use the library `{name}` (it uses: {}); name it in `uses` in its plugin.toml",
                    libraries.linked.names()
                ),
            )));
        };
        let live = libraries.live.iter().find(|(n, _)| n == name).map(|(_, i)| i.clone());
        (library, live)
    };
    if !library.has_function(function) {
        return Err(Failure::Call(WireError::new(
            ErrorCode::NotFound,
            format!(
                "library `{name}` {} has no function `{function}`; it has {}",
                library.version(),
                library.functions().join(", ")
            ),
        )));
    }
    if input.len() > max {
        return Err(Failure::Call(WireError::new(
            ErrorCode::TooLarge,
            format!("library:{name}/{function}: input of {} bytes exceeds the limit of {max} bytes", input.len()),
        )));
    }
    let instance = match live {
        Some(instance) => instance,
        None => {
            let instance = instantiate(&mut store, &library).await?;
            store.as_context_mut().data_mut().libraries().live.push((name.to_owned(), instance.clone()));
            instance
        }
    };
    instance.invoke(&mut store, &library, function, input, max).await
}

/// Instantiates `library` in `store` (it imports nothing).
async fn instantiate<T: Send + 'static>(
    mut store: impl AsContextMut<Data = T>,
    library: &Library,
) -> Result<LibraryInstance, Failure> {
    let module =
        library.module_for(store.as_context().engine()).map_err(|e| Failure::Fault(wasmtime::Error::msg(e)))?;
    let instance = Instance::new_async(&mut store, &module, &[]).await.map_err(|e| {
        if e.is::<wasmtime::PoolConcurrencyLimitError>() {
            // Not the plugin's fault: it may try again once slots are free.
            return Failure::Call(WireError::new(
                ErrorCode::Busy,
                format!(
                    "library `{}` {}: the host's pooling allocator is full; try again later",
                    library.name(),
                    library.version()
                ),
            ));
        }
        Failure::Fault(e.context(format!("cannot instantiate library `{}` {}", library.name(), library.version())))
    })?;
    let fault = |what: &str, e: wasmtime::Error| broke(library, format!("export `{what}`: {e}"));
    Ok(LibraryInstance {
        memory: instance
            .get_memory(&mut store, abi::EXPORT_MEMORY)
            .ok_or_else(|| broke(library, "no memory export"))?,
        alloc: instance.get_typed_func(&mut store, abi::EXPORT_ALLOC).map_err(|e| fault(abi::EXPORT_ALLOC, e))?,
        dealloc: instance.get_typed_func(&mut store, abi::EXPORT_DEALLOC).map_err(|e| fault(abi::EXPORT_DEALLOC, e))?,
        instance,
    })
}

impl LibraryInstance {
    async fn invoke<T: Send + 'static>(
        &self,
        mut store: impl AsContextMut<Data = T>,
        library: &Library,
        function: &str,
        input: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, Failure> {
        let func: TypedFunc<(i32, i32), i64> = self
            .instance
            .get_typed_func(&mut store, function)
            .map_err(|e| broke(library, format!("export `{function}`: {e}")))?;
        // A message-size limit of 2 GiB or more would let a length past i32 through.
        let len = i32::try_from(input.len()).map_err(|_| {
            Failure::Call(WireError::new(ErrorCode::TooLarge, format!("input of {} bytes", input.len())))
        })?;
        let ptr = if len == 0 {
            0
        } else {
            let ptr = self.alloc.call_async(&mut store, len).await.map_err(Failure::Fault)?;
            if ptr == 0 {
                return Err(broke(library, format!("wasp_alloc({len}) returned 0 (out of memory?)")));
            }
            let memory = self.memory.data_mut(&mut store);
            let size = memory.len();
            let dst = (ptr as u32 as usize)
                .checked_add(input.len())
                .and_then(|end| memory.get_mut(ptr as u32 as usize..end))
                .ok_or_else(|| {
                    broke(library, format!("wasp_alloc({len}) returned {ptr:#x}, outside its memory of {size} bytes"))
                })?;
            dst.copy_from_slice(input);
            ptr
        };
        let packed = func.call_async(&mut store, (ptr, len)).await.map_err(Failure::Fault)? as u64;
        if len > 0 {
            self.dealloc.call_async(&mut store, (ptr, len)).await.map_err(Failure::Fault)?;
        }
        let (out_ptr, out_len) = ((packed >> 32) as u32 as usize, packed as u32 as usize);
        let memory = self.memory.data(&store);
        let bytes = out_ptr.checked_add(out_len).and_then(|end| memory.get(out_ptr..end)).ok_or_else(|| {
            broke(
                library,
                format!(
                    "`{function}` returned {out_len} bytes at {out_ptr:#x}, outside its memory of {} bytes",
                    memory.len()
                ),
            )
        })?;
        let Some((&status, body)) = bytes.split_first() else {
            return Err(broke(library, format!("`{function}` returned no bytes; the first is the status")));
        };
        let outcome = match status {
            abi::library::OK if body.len() > max => Err(Failure::Call(WireError::new(
                ErrorCode::TooLarge,
                format!(
                    "library:{}/{function}: output of {} bytes exceeds the limit of {max} bytes",
                    library.name(),
                    body.len()
                ),
            ))),
            abi::library::OK => Ok(body.to_vec()),
            abi::library::ERR => Err(Failure::Call(WireError::new(
                ErrorCode::Plugin,
                format!("library:{}/{function}: {}", library.name(), String::from_utf8_lossy(body)),
            ))),
            other => Err(broke(library, format!("`{function}` returned status byte {other}; expected 0 or 1"))),
        };
        let out_len = out_len as i32;
        self.dealloc.call_async(&mut store, (out_ptr as i32, out_len)).await.map_err(Failure::Fault)?;
        outcome
    }
}

/// What the library store of a native or in-process plugin holds.
struct HostLibState {
    libraries: LiveLibraries,
    limits: StoreLimits,
    slices: SliceState,
}

impl HasLibraries for HostLibState {
    fn libraries(&mut self) -> &mut LiveLibraries {
        &mut self.libraries
    }
}

/// The libraries of a native or in-process plugin instance: they run in a
/// store of their own, made at the first call, under the plugin's memory
/// limit (for all its libraries together) and CPU budget (per call,
/// preempted like a WASM plugin). A trap, a spent budget or an ABI break
/// fails the call (`plugin_crashed`, `deadline_exceeded`) and discards the
/// store: the next call starts the libraries afresh. The plugin runs on.
pub(crate) struct LibraryHost {
    plugin: Arc<str>,
    linked: LinkedLibraries,
    limits: Limits,
    store: Option<Store<HostLibState>>,
}

impl LibraryHost {
    pub(crate) fn new(plugin: Arc<str>, linked: LinkedLibraries, limits: Limits) -> Self {
        Self { plugin, linked, limits, store: None }
    }

    fn store(&mut self) -> Option<&mut Store<HostLibState>> {
        if self.store.is_none() {
            let engine = self.linked.0.first()?.engine().clone();
            let n = self.linked.len();
            let state = HostLibState {
                libraries: LiveLibraries::new(self.linked.clone()),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.max_memory)
                    .table_elements(self.limits.max_table_elements as usize)
                    .instances(n)
                    .memories(n)
                    .tables(8 * n)
                    .trap_on_grow_failure(false)
                    .build(),
                slices: SliceState { slice_ticks: engine.schedule().slice_ticks(), ..SliceState::default() },
            };
            let mut store = Store::new(engine.wasmtime(), state);
            store.limiter(|s| &mut s.limits);
            store.epoch_deadline_callback(|mut cx| cx.data_mut().slices.on_deadline());
            self.store = Some(store);
        }
        self.store.as_mut()
    }

    /// Calls `function` of library `name`.
    pub(crate) async fn call(&mut self, name: &str, function: &str, input: Vec<u8>) -> Answer {
        let plugin = self.plugin.clone();
        let budget = self.limits.cpu_budget;
        let max = self.limits.max_message_size;
        let Some(engine) = self.linked.0.first().map(|l| l.engine().clone()) else {
            return Err(WireError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "plugin `{plugin}` does not use the library `{name}` (it uses: none); name it in `uses` in its plugin.toml"
                ),
            ));
        };
        let Some(store) = self.store() else {
            return Err(WireError::new(ErrorCode::Internal, "no library store"));
        };
        let schedule = engine.schedule();
        store.data_mut().slices.start(schedule.budget_slices(budget));
        store.set_epoch_deadline(schedule.slice_ticks());
        match call(&mut *store, &plugin, name, function, &input, max).await {
            Ok(output) => Ok(output),
            Err(Failure::Call(e)) => Err(e),
            Err(Failure::Fault(e)) => {
                let exceeded = store.data().slices.exceeded;
                self.store = None;
                Err(if exceeded {
                    WireError::new(
                        ErrorCode::DeadlineExceeded,
                        format!(
                            "plugin `{plugin}`: library `{name}` function `{function}` exceeded the CPU budget of {budget:?} for one call"
                        ),
                    )
                } else {
                    let trap = e
                        .downcast_ref::<wasmtime::Trap>()
                        .map_or_else(|| e.root_cause().to_string(), ToString::to_string);
                    WireError::new(
                        ErrorCode::PluginCrashed,
                        format!("plugin `{plugin}`: library `{name}` function `{function}` trapped: {trap}"),
                    )
                })
            }
        }
    }
}

/// [`LibraryHost::call`] as a host call's future.
pub(crate) fn host_call(
    host: Arc<tokio::sync::Mutex<LibraryHost>>,
    name: String,
    function: String,
    input: Vec<u8>,
) -> BoxFuture<Answer> {
    Box::pin(async move { host.lock().await.call(&name, &function, input).await })
}
