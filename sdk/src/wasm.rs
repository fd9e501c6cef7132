//! The WebAssembly glue behind [`export_plugin!`](crate::export_plugin).
//!
//! Not for plugin authors: the macro calls these functions. They implement the
//! guest side of `docs/abi.md`.

use core::cell::RefCell;

use wasp_protocol::{ErrorCode, WireError, abi};

use crate::{Context, HostApi, LogLevel, Message, MessageKind, Plugin};

/// Length of [`ABI_VERSION`].
pub const ABI_VERSION_LEN: usize = 3;
/// The `wasp:abi` custom section's content.
pub const ABI_VERSION: [u8; ABI_VERSION_LEN] = *b"1.3";

const _: () = assert!(wasp_protocol::ApiVersion::CURRENT.major == 1 && wasp_protocol::ApiVersion::CURRENT.minor == 3);

std::thread_local! {
    /// The state a `restore` message brought, until `wasp_load` hands it to `on_load`.
    static RESTORED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

#[link(wasm_import_module = "wasp")]
unsafe extern "C" {
    fn send(
        to: *const u8,
        to_len: usize,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
    ) -> i32;
    fn publish(topic: *const u8, topic_len: usize, payload: *const u8, payload_len: usize) -> i32;
    fn subscribe(pattern: *const u8, pattern_len: usize) -> i32;
    fn unsubscribe(pattern: *const u8, pattern_len: usize) -> i32;
    fn request(
        to: *const u8,
        to_len: usize,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
        timeout_ms: i32,
    ) -> i32;
    fn request_async(
        to: *const u8,
        to_len: usize,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
        timeout_ms: i32,
    ) -> i64;
    fn reply(id: i64, status: i32, ptr: *const u8, len: usize) -> i32;
    fn result_len() -> i32;
    fn result_read(ptr: *mut u8, len: usize) -> i32;
    fn log(level: i32, ptr: *const u8, len: usize);
    fn panic(ptr: *const u8, len: usize);
    fn call(service: *const u8, service_len: usize, payload: *const u8, payload_len: usize) -> i32;
}

pub use crate::guest_alloc::{alloc, dealloc};

/// `wasp_load`: creates the plugin and calls `on_load`.
pub fn load<P: Plugin + Default>(cell: &RefCell<Option<P>>) -> i32 {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        // SAFETY: the pointer and length describe `text`, alive for the call.
        unsafe { panic(text.as_ptr(), text.len()) }
    }));
    let mut plugin = P::default();
    let mut host = WasmHost;
    let restored = RESTORED.with(|r| r.borrow_mut().take());
    let result = plugin.on_load(&mut Context::with_restored(&mut host, restored.as_deref()));
    *cell.borrow_mut() = Some(plugin);
    match result {
        Ok(()) => abi::status::DONE,
        Err(e) => {
            let text = e.to_string();
            // SAFETY: as above.
            unsafe { log(abi::level::ERROR, text.as_ptr(), text.len()) };
            e.code.as_u16() as i32
        }
    }
}

/// `wasp_handle`.
///
/// # Safety
///
/// `ptr` must point to `from_len + topic_len + payload_len` readable bytes,
/// as the ABI has the host guarantee.
pub unsafe fn handle<P: Plugin + Default>(
    cell: &RefCell<Option<P>>,
    ptr: i32,
    kind: i32,
    id: i64,
    from_len: i32,
    topic_len: i32,
    payload_len: i32,
) -> i32 {
    let total = from_len as usize + topic_len as usize + payload_len as usize;
    // SAFETY: the host wrote `total` bytes at `ptr` (the caller's contract).
    let bytes = unsafe { core::slice::from_raw_parts(ptr as *const u8, total) };
    let (from, rest) = bytes.split_at(from_len as usize);
    let (topic, payload) = rest.split_at(topic_len as usize);
    let id = id as u64;
    let mut host = WasmHost;
    match kind {
        abi::kind::RESTORE => {
            RESTORED.with(|r| *r.borrow_mut() = Some(payload.to_vec()));
            return abi::status::DONE;
        }
        abi::kind::UNLOAD => {
            if let Some(plugin) = cell.borrow_mut().as_mut() {
                crate::dispatch_unload(plugin, &mut host, id);
            }
            return abi::status::DONE;
        }
        _ => {}
    }
    let (Some(kind), Ok(from), Ok(topic)) =
        (MessageKind::from_abi(kind), core::str::from_utf8(from), core::str::from_utf8(topic))
    else {
        let err = WireError::new(ErrorCode::InvalidMessage, "malformed message header");
        if kind == abi::kind::REQUEST {
            let _ = host.reply(id, Err(&err));
        }
        return abi::status::DONE;
    };
    let mut slot = cell.borrow_mut();
    let plugin = slot.get_or_insert_with(P::default);
    let msg = Message { kind, id, from, topic, payload };
    crate::dispatch(plugin, &mut host, msg).to_abi()
}

/// The host API over the `wasp` imports.
struct WasmHost;

fn take_result() -> Vec<u8> {
    // SAFETY: `result_len` takes no arguments.
    let len = unsafe { result_len() }.max(0) as usize;
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` has `len` writable bytes.
    let n = unsafe { result_read(buf.as_mut_ptr(), len) }.max(0) as usize;
    buf.truncate(n);
    buf
}

fn check(status: i32) -> Result<(), WireError> {
    if status == 0 {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&take_result()).into_owned();
    Err(WireError::new(ErrorCode::from_u16(status as u16), message))
}

fn timeout(ms: Option<u32>) -> i32 {
    ms.map_or(0, |ms| ms.min(i32::MAX as u32) as i32)
}

impl HostApi for WasmHost {
    fn send(&mut self, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        // SAFETY: each pointer and length describes a live slice.
        check(unsafe { send(to.as_ptr(), to.len(), topic.as_ptr(), topic.len(), payload.as_ptr(), payload.len()) })
    }

    fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        // SAFETY: each pointer and length describes a live slice.
        check(unsafe { publish(topic.as_ptr(), topic.len(), payload.as_ptr(), payload.len()) })
    }

    fn subscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        // SAFETY: the pointer and length describe a live slice.
        check(unsafe { subscribe(pattern.as_ptr(), pattern.len()) })
    }

    fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        // SAFETY: the pointer and length describe a live slice.
        check(unsafe { unsubscribe(pattern.as_ptr(), pattern.len()) })
    }

    fn request(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<Vec<u8>, WireError> {
        // SAFETY: each pointer and length describes a live slice.
        let status = unsafe {
            request(
                to.as_ptr(),
                to.len(),
                topic.as_ptr(),
                topic.len(),
                payload.as_ptr(),
                payload.len(),
                timeout(timeout_ms),
            )
        };
        check(status)?;
        Ok(take_result())
    }

    fn request_async(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        // SAFETY: each pointer and length describes a live slice.
        let id = unsafe {
            request_async(
                to.as_ptr(),
                to.len(),
                topic.as_ptr(),
                topic.len(),
                payload.as_ptr(),
                payload.len(),
                timeout(timeout_ms),
            )
        };
        if id < 0 {
            check((-id) as i32)?;
        }
        Ok(id as u64)
    }

    fn reply(&mut self, id: u64, result: Result<&[u8], &WireError>) -> Result<(), WireError> {
        let (status, bytes) = match result {
            Ok(payload) => (0, payload),
            Err(e) => (e.code.as_u16() as i32, e.message.as_bytes()),
        };
        // SAFETY: the pointer and length describe a live slice.
        check(unsafe { reply(id as i64, status, bytes.as_ptr(), bytes.len()) })
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        // SAFETY: the pointer and length describe a live slice.
        unsafe { log(level.to_abi(), message.as_ptr(), message.len()) }
    }

    fn call(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError> {
        // SAFETY: each pointer and length describes a live slice.
        check(unsafe { call(service.as_ptr(), service.len(), payload.as_ptr(), payload.len()) })?;
        Ok(take_result())
    }
}
