//! The host side of the native ABI: the functions of the [`HostVTable`] a
//! native plugin calls while it handles a message. Each one decodes its
//! C arguments and hands them to [`HostCalls`], the same checks the WASM and
//! in-process backends pass through.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::Instant;

use wasp_protocol::abi::native::HostVTable;
use wasp_protocol::{ErrorCode, LogLevel, WireError};

use super::instance::Shared;
use crate::hostcalls::HostCalls;
use crate::router::{Answer, BoxFuture};

/// The host's state for one call into the plugin; the plugin holds a
/// pointer to it (`HostVTable::ctx`) until the call returns.
pub(super) struct CallCtx<'a> {
    pub(super) shared: &'a Shared,
    pub(super) rt: &'a tokio::runtime::Handle,
    /// The result slot.
    result: Vec<u8>,
    /// What the plugin reported through `panic`: message, backtrace.
    pub(super) panic: Option<(String, String)>,
}

impl<'a> CallCtx<'a> {
    pub(super) fn new(shared: &'a Shared, rt: &'a tokio::runtime::Handle) -> Self {
        Self { shared, rt, result: Vec::new(), panic: None }
    }

    /// The table to hand the plugin for this call.
    pub(super) fn vtable(&mut self) -> HostVTable {
        HostVTable {
            size: size_of::<HostVTable>() as u32,
            reserved: 0,
            ctx: (self as *mut Self).cast(),
            send,
            publish,
            subscribe,
            unsubscribe,
            request,
            request_async,
            reply,
            result_len,
            result_read,
            log,
            panic,
            call,
        }
    }

    fn calls(&self) -> parking_lot::MutexGuard<'a, HostCalls> {
        self.shared.calls()
    }

    /// Waits for a host future; the time spent waiting does not count
    /// against the plugin's budget.
    fn wait(&self, mut fut: BoxFuture<Answer>) -> Answer {
        let shared = self.shared;
        let since = Instant::now();
        shared.waiting.store(true, Ordering::Release);
        // A quick answer (a plugin that replies at once, a cached value) is
        // polled for a few microseconds before the thread parks: waking a
        // parked thread costs more than that.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut answer = None;
        while answer.is_none() && since.elapsed() < super::instance::SPIN {
            match fut.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(a) => answer = Some(a),
                std::task::Poll::Pending => std::hint::spin_loop(),
            }
        }
        let answer = answer.unwrap_or_else(|| self.rt.block_on(fut));
        shared.add_waited(since.elapsed());
        shared.waiting.store(false, Ordering::Release);
        answer
    }

    /// Bytes from the plugin: `NULL` is allowed when empty.
    fn bytes(&self, call: &str, ptr: *const u8, len: usize) -> Result<&'static [u8], WireError> {
        if len == 0 {
            return Ok(&[]);
        }
        if ptr.is_null() {
            let err = WireError::new(ErrorCode::InvalidArgument, format!("{call}: a NULL pointer with length {len}"));
            self.calls().invalid_call(call, &err);
            return Err(err);
        }
        // SAFETY: the native ABI has the plugin pass `len` readable bytes at
        // `ptr`, alive until the host function returns; the slice does not
        // outlive this host call (the `'static` is the caller's to shorten).
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    fn text(&self, call: &str, ptr: *const u8, len: usize) -> Result<&'static str, WireError> {
        std::str::from_utf8(self.bytes(call, ptr, len)?).map_err(|e| {
            let err = WireError::new(ErrorCode::InvalidArgument, format!("{call}: text is not UTF-8: {e}"));
            self.calls().invalid_call(call, &err);
            err
        })
    }
}

/// Runs one host function: its error becomes a status and the result slot
/// holds the message. A retired instance (its call overran) is refused.
fn run(ctx: *mut c_void, f: impl FnOnce(&mut CallCtx<'_>) -> Result<(), WireError>) -> i32 {
    // SAFETY: `ctx` is the `CallCtx` this host put in the table, alive while
    // the plugin's call runs, and used by this one thread.
    let c = unsafe { &mut *ctx.cast::<CallCtx<'_>>() };
    let outcome = if c.shared.retired.load(Ordering::Acquire) {
        Err(c.shared.retired_error())
    } else {
        catch_unwind(AssertUnwindSafe(|| f(c))).unwrap_or_else(|_| {
            Err(WireError::new(ErrorCode::Internal, "the host failed while serving this call (a bug in wasp)"))
        })
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            c.result = e.message.into_bytes();
            i32::from(e.code.as_u16())
        }
    }
}

/// A timeout argument: 0 means the host's default.
fn timeout(ms: u32) -> Option<u32> {
    (ms > 0).then_some(ms)
}

unsafe extern "C" fn send(
    ctx: *mut c_void,
    to: *const u8,
    to_len: usize,
    topic: *const u8,
    topic_len: usize,
    payload: *const u8,
    payload_len: usize,
) -> i32 {
    run(ctx, |c| {
        let (to, topic) = (c.text("send", to, to_len)?, c.text("send", topic, topic_len)?);
        let payload = c.bytes("send", payload, payload_len)?.to_vec();
        c.calls().send(to, topic, payload)
    })
}

unsafe extern "C" fn publish(
    ctx: *mut c_void,
    topic: *const u8,
    topic_len: usize,
    payload: *const u8,
    payload_len: usize,
) -> i32 {
    run(ctx, |c| {
        let topic = c.text("publish", topic, topic_len)?;
        let payload = c.bytes("publish", payload, payload_len)?.to_vec();
        c.calls().publish(topic, payload)
    })
}

unsafe extern "C" fn subscribe(ctx: *mut c_void, pattern: *const u8, pattern_len: usize) -> i32 {
    run(ctx, |c| {
        let pattern = c.text("subscribe", pattern, pattern_len)?;
        c.calls().subscribe(pattern)
    })
}

unsafe extern "C" fn unsubscribe(ctx: *mut c_void, pattern: *const u8, pattern_len: usize) -> i32 {
    run(ctx, |c| {
        let pattern = c.text("unsubscribe", pattern, pattern_len)?;
        c.calls().unsubscribe(pattern)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn request(
    ctx: *mut c_void,
    to: *const u8,
    to_len: usize,
    topic: *const u8,
    topic_len: usize,
    payload: *const u8,
    payload_len: usize,
    timeout_ms: u32,
) -> i32 {
    run(ctx, |c| {
        let (to, topic) = (c.text("request", to, to_len)?, c.text("request", topic, topic_len)?);
        let payload = c.bytes("request", payload, payload_len)?.to_vec();
        let fut = c.calls().request(to, topic, payload, timeout(timeout_ms));
        c.result = c.wait(fut)?;
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn request_async(
    ctx: *mut c_void,
    to: *const u8,
    to_len: usize,
    topic: *const u8,
    topic_len: usize,
    payload: *const u8,
    payload_len: usize,
    timeout_ms: u32,
) -> i64 {
    let mut id = 0;
    let status = run(ctx, |c| {
        let (to, topic) = (c.text("request_async", to, to_len)?, c.text("request_async", topic, topic_len)?);
        let payload = c.bytes("request_async", payload, payload_len)?.to_vec();
        id = c.calls().request_async(to, topic, payload, timeout(timeout_ms))?;
        Ok(())
    });
    if status == 0 { i64::try_from(id).unwrap_or(i64::MAX) } else { -i64::from(status) }
}

unsafe extern "C" fn reply(ctx: *mut c_void, id: u64, status: i32, bytes: *const u8, len: usize) -> i32 {
    run(ctx, |c| {
        let bytes = c.bytes("reply", bytes, len)?;
        let answer = match status {
            0 => Ok(bytes.to_vec()),
            code => Err(WireError::new(
                ErrorCode::from_u16(u16::try_from(code).unwrap_or(0)),
                String::from_utf8_lossy(bytes).into_owned(),
            )),
        };
        c.calls().reply(id, answer)
    })
}

unsafe extern "C" fn result_len(ctx: *mut c_void) -> usize {
    // SAFETY: as in `run`.
    let c = unsafe { &*ctx.cast::<CallCtx<'_>>() };
    c.result.len()
}

unsafe extern "C" fn result_read(ctx: *mut c_void, out: *mut u8, len: usize) -> usize {
    // SAFETY: as in `run`.
    let c = unsafe { &*ctx.cast::<CallCtx<'_>>() };
    let n = len.min(c.result.len());
    if n == 0 || out.is_null() {
        return 0;
    }
    // SAFETY: the ABI has the plugin pass `len` writable bytes at `out`; `n <= len`.
    unsafe { std::ptr::copy_nonoverlapping(c.result.as_ptr(), out, n) };
    n
}

/// The longest log line or panic text kept, as for WASM plugins; the rest
/// is cut.
const MAX_TEXT: usize = 16 * 1024;

unsafe extern "C" fn log(ctx: *mut c_void, level: i32, text: *const u8, len: usize) {
    run(ctx, |c| {
        let text = c.bytes("log", text, len.min(MAX_TEXT))?;
        c.calls().log(LogLevel::from_abi(level), &String::from_utf8_lossy(text));
        Ok(())
    });
}

unsafe extern "C" fn panic(ctx: *mut c_void, text: *const u8, len: usize, backtrace: *const u8, backtrace_len: usize) {
    // SAFETY: as in `run`.
    let c = unsafe { &mut *ctx.cast::<CallCtx<'_>>() };
    let read = |ptr: *const u8, len: usize| {
        if ptr.is_null() || len == 0 {
            return String::new();
        }
        // SAFETY: the plugin passes `len` readable bytes at `ptr` for the call.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len) }).into_owned()
    };
    c.panic = Some((read(text, len.min(MAX_TEXT)), read(backtrace, backtrace_len.min(4 * MAX_TEXT))));
}

unsafe extern "C" fn call(
    ctx: *mut c_void,
    service: *const u8,
    service_len: usize,
    payload: *const u8,
    payload_len: usize,
) -> i32 {
    run(ctx, |c| {
        let service = c.text("call", service, service_len)?;
        let payload = c.bytes("call", payload, payload_len)?.to_vec();
        let fut = c.calls().call(service, payload);
        c.result = c.wait(fut)?;
        Ok(())
    })
}
