//! The WebAssembly backend: one wasmtime store per plugin instance, the host
//! imports of `docs/abi.md`, and bounds-checked access to guest memory.

use std::sync::Arc;

use wasmtime::{
    AsContextMut, Caller, Linker, Memory, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc, WasmBacktrace,
};
use wasp_protocol::{ErrorCode, WireError, abi};
use wasp_sdk::{LogLevel, MessageKind};

use crate::hostcalls::HostCalls;
use crate::loader::WasmPlugin;
use crate::router::{Inbound, Router};
use crate::scheduler::SliceState;
use crate::{Engine, Error, Limits};

/// The longest panic or log message kept from a guest, in bytes.
const MAX_TEXT: usize = 16 * 1024;

/// What a wasmtime store holds for one plugin instance.
pub(crate) struct GuestState {
    host: HostCalls,
    memory: Option<Memory>,
    /// The result slot of `request` and friends (`result_len` / `result_read`).
    result: Vec<u8>,
    /// The message the guest's panic hook reported, if any.
    panic: Option<String>,
    slices: SliceState,
    limits: StoreLimits,
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

/// A running instance of a [`WasmPlugin`].
///
/// It handles one message at a time under the engine's scheduler. After a
/// fault (trap, spent budget, broken ABI) call [`WasmInstance::recycle`] to
/// replace the instance with a fresh one.
pub struct WasmInstance {
    engine: Engine,
    plugin: WasmPlugin,
    router: Arc<dyn Router>,
    limits: Limits,
    live: Option<Live>,
}

impl std::fmt::Debug for WasmInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmInstance").field("plugin", &self.plugin.name).field("live", &self.live.is_some()).finish()
    }
}

impl WasmInstance {
    /// Instantiates the plugin and runs its `wasp_load`.
    pub async fn new(
        engine: &Engine,
        plugin: WasmPlugin,
        router: Arc<dyn Router>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let mut this = Self { engine: engine.clone(), plugin, router, limits, live: None };
        this.live = Some(this.start().await?);
        Ok(this)
    }

    /// Drops the current instance (answering its deferred requests with
    /// `plugin_crashed`) and starts a fresh one.
    pub async fn recycle(&mut self) -> Result<(), Error> {
        if let Some(mut old) = self.live.take() {
            let err = WireError::new(ErrorCode::PluginCrashed, format!("plugin `{}` was restarted", self.plugin.name));
            old.store.data_mut().host.fail_all(&err);
        }
        self.live = Some(self.start().await?);
        Ok(())
    }

    /// Current size of the instance's linear memory, in bytes.
    pub fn memory_size(&self) -> usize {
        self.live.as_ref().map_or(0, |l| l.exports.memory.data_size(&l.store))
    }

    fn budget_slices(&self) -> u32 {
        self.engine.schedule().budget_slices(self.limits.cpu_budget)
    }

    async fn start(&self) -> Result<Live, Error> {
        let name = &self.plugin.name;
        let schedule = self.engine.schedule();
        let state = GuestState {
            host: HostCalls::new(name.clone(), self.router.clone(), self.limits.clone()),
            memory: None,
            result: Vec::new(),
            panic: None,
            slices: SliceState { slice_ticks: schedule.slice_ticks(), ..SliceState::default() },
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.max_memory)
                .instances(1)
                .memories(1)
                .tables(8)
                .build(),
        };
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut cx| cx.data_mut().slices.on_deadline());
        let budget = self.budget_slices();
        store.data_mut().slices.start(budget);
        store.set_epoch_deadline(schedule.slice_ticks());
        let instance = match self.plugin.pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => return Err(self.fault(&mut store, e)),
        };
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
        if self.plugin.has_load {
            let load: TypedFunc<(), i32> =
                instance.get_typed_func(&mut store, abi::EXPORT_LOAD).map_err(|e| missing(abi::EXPORT_LOAD, e))?;
            store.data_mut().slices.start(budget);
            store.set_epoch_deadline(schedule.slice_ticks());
            match load.call_async(&mut store, ()).await {
                Ok(abi::status::DONE) => {}
                Ok(status) => {
                    return Err(Error::LoadFailed {
                        plugin: name.to_string(),
                        error: WireError::new(
                            ErrorCode::from_u16(u16::try_from(status).unwrap_or(0)),
                            format!("wasp_load returned status {status}; the plugin's log says why"),
                        ),
                    });
                }
                Err(e) => return Err(self.fault(&mut store, e)),
            }
        }
        Ok(Live { store, exports, buffer: None })
    }

    /// Handles one message. `Ok` means the instance is healthy (the message
    /// itself may have failed and been answered with an error); `Err` means
    /// the instance faulted, the message was answered with the fault, and the
    /// instance must be recycled.
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        let budget = self.budget_slices();
        let slice_ticks = self.engine.schedule().slice_ticks();
        let name = self.plugin.name.clone();
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
        if let Some(reply) = msg.reply {
            live.store.data_mut().host.begin_request(msg.id, reply, msg.deadline);
        }
        live.store.data_mut().slices.start(budget);
        live.store.set_epoch_deadline(slice_ticks);
        let result = deliver(live, msg.kind, msg.id, &msg.from, &msg.topic, &msg.payload).await;
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
                let err = self.fault(&mut live.store, e);
                self.live = Some(live);
                err
            }
            None => Error::Internal(e.to_string()),
        }
    }

    /// Turns a wasmtime error into a readable fault.
    fn fault(&self, store: &mut Store<GuestState>, e: wasmtime::Error) -> Error {
        let plugin = self.plugin.name.to_string();
        let state = store.data_mut();
        if state.slices.exceeded {
            state.slices.exceeded = false;
            return Error::DeadlineExceeded { plugin, budget: self.limits.cpu_budget };
        }
        let backtrace = e.downcast_ref::<WasmBacktrace>().map(|bt| bt.to_string());
        let trap = e.downcast_ref::<Trap>().map_or_else(|| format!("{e}"), |t| t.to_string());
        let message = match state.panic.take() {
            Some(panic) => format!("{trap} after a panic: {panic}"),
            None => trap,
        };
        Error::Trap { plugin, message, backtrace }
    }
}

enum Fault {
    /// The guest broke the ABI (a bad buffer from `wasp_alloc`).
    Guest(String),
    /// A trap or a spent budget.
    Wasm(wasmtime::Error),
}

/// Writes the message into the guest's buffer and calls `wasp_handle`.
async fn deliver(
    live: &mut Live,
    kind: MessageKind,
    id: u64,
    from: &str,
    topic: &str,
    payload: &[u8],
) -> Result<i32, Fault> {
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
            let ptr = live.exports.alloc.call_async(&mut live.store, cap as i32).await.map_err(Fault::Wasm)? as u32;
            if ptr == 0 {
                return Err(Fault::Guest(format!("wasp_alloc({cap}) returned 0 (out of memory?)")));
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
            (ptr as i32, kind.to_abi(), id as i64, from.len() as i32, topic.len() as i32, payload.len() as i32),
        )
        .await
        .map_err(Fault::Wasm)
}

// ---- host imports -------------------------------------------------------

fn out_of_bounds(ptr: i32, len: i32, size: usize) -> WireError {
    WireError::new(
        ErrorCode::InvalidArgument,
        format!("pointer {:#x} with length {} is outside the plugin's memory of {size} bytes", ptr as u32, len as u32),
    )
}

/// Bounds-checked view of guest memory.
fn bytes(mem: &[u8], ptr: i32, len: i32) -> Result<&[u8], WireError> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    p.checked_add(l).and_then(|end| mem.get(p..end)).ok_or_else(|| out_of_bounds(ptr, len, mem.len()))
}

fn text<'a>(mem: &'a [u8], ptr: i32, len: i32, what: &str) -> Result<&'a str, WireError> {
    std::str::from_utf8(bytes(mem, ptr, len)?)
        .map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("{what} is not UTF-8: {e}")))
}

/// Runs an import body with guest memory and state; turns an error into a
/// status code and puts its message in the result slot.
fn with_memory<R>(
    caller: &mut Caller<'_, GuestState>,
    f: impl FnOnce(&[u8], &mut GuestState) -> Result<R, WireError>,
) -> Result<R, i32> {
    let result = match caller.data().memory {
        Some(memory) => {
            let (mem, state) = memory.data_and_store_mut(&mut *caller);
            f(mem, state)
        }
        None => Err(WireError::new(ErrorCode::Internal, "host call before the plugin's memory was known")),
    };
    result.map_err(|e| fail(caller.data_mut(), e))
}

fn fail(state: &mut GuestState, e: WireError) -> i32 {
    state.result = e.message.into_bytes();
    i32::from(e.code.as_u16())
}

fn status(r: Result<(), i32>) -> i32 {
    r.err().unwrap_or(0)
}

fn timeout_ms(ms: i32) -> Option<u32> {
    u32::try_from(ms).ok().filter(|&ms| ms > 0)
}

/// Defines every import of `docs/abi.md` under the `wasp` module.
pub(crate) fn define_imports(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = abi::IMPORT_MODULE;
    linker.func_wrap(
        M,
        "send",
        |mut c: Caller<'_, GuestState>, tp: i32, tl: i32, sp: i32, sl: i32, pp: i32, pl: i32| {
            status(with_memory(&mut c, |mem, st| {
                st.host.send(text(mem, tp, tl, "address")?, text(mem, sp, sl, "topic")?, bytes(mem, pp, pl)?.to_vec())
            }))
        },
    )?;
    linker.func_wrap(M, "publish", |mut c: Caller<'_, GuestState>, sp: i32, sl: i32, pp: i32, pl: i32| {
        status(with_memory(&mut c, |mem, st| {
            st.host.publish(text(mem, sp, sl, "topic")?, bytes(mem, pp, pl)?.to_vec())
        }))
    })?;
    linker.func_wrap(M, "subscribe", |mut c: Caller<'_, GuestState>, sp: i32, sl: i32| {
        status(with_memory(&mut c, |mem, st| st.host.subscribe(text(mem, sp, sl, "pattern")?)))
    })?;
    linker.func_wrap(M, "unsubscribe", |mut c: Caller<'_, GuestState>, sp: i32, sl: i32| {
        status(with_memory(&mut c, |mem, st| st.host.unsubscribe(text(mem, sp, sl, "pattern")?)))
    })?;
    linker.func_wrap_async(
        M,
        "request",
        |mut c: Caller<'_, GuestState>, (tp, tl, sp, sl, pp, pl, ms): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let pending = with_memory(&mut c, |mem, st| {
                    Ok(st.host.request(
                        text(mem, tp, tl, "address")?,
                        text(mem, sp, sl, "topic")?,
                        bytes(mem, pp, pl)?.to_vec(),
                        timeout_ms(ms),
                    ))
                });
                let answer = match pending {
                    Ok(fut) => fut.await,
                    Err(code) => return code,
                };
                // Time spent waiting is not CPU time: start a fresh slice.
                let ticks = c.data().slices.slice_ticks;
                c.as_context_mut().set_epoch_deadline(ticks);
                match answer {
                    Ok(reply) => {
                        c.data_mut().result = reply;
                        0
                    }
                    Err(e) => fail(c.data_mut(), e),
                }
            })
        },
    )?;
    linker.func_wrap(
        M,
        "request_async",
        |mut c: Caller<'_, GuestState>, tp: i32, tl: i32, sp: i32, sl: i32, pp: i32, pl: i32, ms: i32| -> i64 {
            match with_memory(&mut c, |mem, st| {
                st.host.request_async(
                    text(mem, tp, tl, "address")?,
                    text(mem, sp, sl, "topic")?,
                    bytes(mem, pp, pl)?.to_vec(),
                    timeout_ms(ms),
                )
            }) {
                Ok(id) => i64::try_from(id).unwrap_or(i64::MAX),
                Err(code) => -i64::from(code),
            }
        },
    )?;
    linker.func_wrap(M, "reply", |mut c: Caller<'_, GuestState>, id: i64, code: i32, ptr: i32, len: i32| {
        status(with_memory(&mut c, |mem, st| {
            let body = bytes(mem, ptr, len)?;
            let answer = if code == 0 {
                Ok(body.to_vec())
            } else {
                let code = u16::try_from(code).map_or(ErrorCode::Plugin, ErrorCode::from_u16);
                Err(WireError::new(code, String::from_utf8_lossy(body).into_owned()))
            };
            st.host.reply(id as u64, answer)
        }))
    })?;
    linker.func_wrap(M, "result_len", |c: Caller<'_, GuestState>| c.data().result.len() as i32)?;
    linker.func_wrap(M, "result_read", |mut c: Caller<'_, GuestState>, ptr: i32, len: i32| -> i32 {
        let Some(memory) = c.data().memory else { return -i32::from(ErrorCode::Internal.as_u16()) };
        let (mem, st) = memory.data_and_store_mut(&mut c);
        let n = (len.max(0) as usize).min(st.result.len());
        let size = mem.len();
        match (ptr as u32 as usize).checked_add(n).and_then(|end| mem.get_mut(ptr as u32 as usize..end)) {
            Some(dst) => {
                dst.copy_from_slice(&st.result[..n]);
                n as i32
            }
            None => {
                let e = out_of_bounds(ptr, len, size);
                -fail(st, e)
            }
        }
    })?;
    linker.func_wrap(M, "log", |mut c: Caller<'_, GuestState>, level: i32, ptr: i32, len: i32| {
        let _ = with_memory(&mut c, |mem, st| {
            let body = bytes(mem, ptr, len)?;
            let body = &body[..body.len().min(MAX_TEXT)];
            st.host.log(LogLevel::from_abi(level), &String::from_utf8_lossy(body));
            Ok(())
        });
    })?;
    linker.func_wrap(M, "panic", |mut c: Caller<'_, GuestState>, ptr: i32, len: i32| {
        let _ = with_memory(&mut c, |mem, st| {
            let body = bytes(mem, ptr, len)?;
            st.panic = Some(String::from_utf8_lossy(&body[..body.len().min(MAX_TEXT)]).into_owned());
            Ok(())
        });
    })?;
    Ok(())
}
