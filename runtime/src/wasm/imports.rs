//! The host imports of `docs/abi.md` under the `wasp` module, by group:
//! messaging, publish/subscribe, the result slot, logging, host services.

use wasmtime::{AsContextMut, Caller, Linker};
use wasp_protocol::{ErrorCode, LogLevel, WireError, abi};

use super::memory::{CallError, bytes, bytes_mut, fail, guard, status, text, with_memory};
use super::state::GuestState;
use super::wasi::define_wasi;
use crate::library::call::{self as library, Failure};

/// The longest panic or log message kept from a guest, in bytes.
const MAX_TEXT: usize = 16 * 1024;

/// The module the `wasp` imports live in.
const M: &str = abi::IMPORT_MODULE;
/// The timeout of `request` and `request_async`: milliseconds, where 0 or
/// less means the host's default.
fn timeout_ms(ms: i32) -> Option<u32> {
    u32::try_from(ms).ok().filter(|&ms| ms > 0)
}

/// Defines every import of `docs/abi.md` under the `wasp` module, and the
/// WASI subset under `wasi_snapshot_preview1`.
pub(crate) fn define_imports(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    define_messaging(linker)?;
    define_pubsub(linker)?;
    define_result_slot(linker)?;
    define_logging(linker)?;
    define_services(linker)?;
    define_wasi(linker)
}

/// Messages to one plugin: `send`, `request`, `request_async`, `reply`.
fn define_messaging(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
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
    Ok(())
}

/// Topics: `publish`, `subscribe`, `unsubscribe`.
fn define_pubsub(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
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
    Ok(())
}

/// The result slot a failed call or an answer leaves: `result_len`,
/// `result_read`.
fn define_result_slot(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
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
    Ok(())
}

/// The plugin's voice: `log`, and `panic` (the message its trap reports).
fn define_logging(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
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
    Ok(())
}

/// Host services and shared libraries: `call`.
fn define_services(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
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
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::timeout_ms;

    #[test]
    fn a_positive_timeout_is_kept_and_zero_or_less_means_the_default() {
        assert_eq!(timeout_ms(250), Some(250));
        assert_eq!(timeout_ms(i32::MAX), Some(i32::MAX as u32));
        assert_eq!(timeout_ms(0), None);
        assert_eq!(timeout_ms(-1), None);
        assert_eq!(timeout_ms(i32::MIN), None);
    }
}
