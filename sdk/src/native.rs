//! The native-library ABI: the glue behind
//! [`export_plugin!`](crate::export_plugin) on native targets, and the C
//! types a plugin built as a `cdylib` and the host exchange (defined in
//! [`wasp_protocol::abi::native`], re-exported here).
//!
//! `docs/abi.md` §12 specifies it for authors in other languages. In short:
//! the library exports one function whose name starts with
//! [`ENTRY_PREFIX`]; it takes nothing and returns a pointer to a static
//! [`PluginVTable`]. The host checks the table's magic and ABI version, then
//! creates plugin instances through it, one thread per instance. While the
//! plugin handles a call it reaches the host through the [`HostVTable`] it
//! was handed, with the same functions, statuses and result slot as the
//! WebAssembly imports.
//!
//! Only C types cross the boundary: the plugin and the host may be built by
//! different compilers, and each keeps its own allocator. Every pointer
//! passed in a call is borrowed for that call only.

use core::ffi::c_void;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use wasp_protocol::{ApiVersion, ErrorCode, WireError, abi};

pub use wasp_protocol::abi::native::{
    ENTRY_PREFIX, EntryFn, HostVTable, MAGIC, NativeMessage, PluginVTable, STATUS_PANICKED,
};

use crate::{Context, HostApi, LogLevel, Message, MessageKind, Plugin};

/// The [`PluginVTable`] of plugin type `P`: what
/// [`export_plugin!`](crate::export_plugin) returns from the entry function.
pub const fn vtable<P: Plugin + Default>() -> PluginVTable {
    PluginVTable {
        magic: MAGIC,
        abi_major: ApiVersion::CURRENT.major as u32,
        abi_minor: ApiVersion::CURRENT.minor as u32,
        size: size_of::<PluginVTable>() as u32,
        reserved: 0,
        create: create::<P>,
        load: load::<P>,
        handle: handle::<P>,
        destroy: destroy::<P>,
    }
}

thread_local! {
    /// Set while plugin code runs under [`guarded`]: its panics are captured.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last captured panic: message and backtrace.
    static CAPTURED: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Installs (once per library) a panic hook that captures the panics of
/// plugin code instead of printing them, and leaves every other panic to
/// the hook that was there before.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let backtrace = std::backtrace::Backtrace::force_capture().to_string();
                CAPTURED.with(|c| *c.borrow_mut() = Some((info.to_string(), backtrace)));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs plugin code: a panic becomes `Err` after it is reported to the host.
fn guarded<T>(host: &HostVTable, f: impl FnOnce() -> T) -> Result<T, ()> {
    install_hook();
    CAPTURING.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(false));
    result.map_err(|payload| {
        let (text, backtrace) = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_else(|| {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_owned());
            (text, String::new())
        });
        // SAFETY: the pointers and lengths describe live strings; `ctx` is the host's.
        unsafe { (host.panic)(host.ctx, text.as_ptr(), text.len(), backtrace.as_ptr(), backtrace.len()) };
    })
}

/// What the handle of an instance points to.
struct Slot<P> {
    plugin: P,
    /// The state a `restore` message brought, until `load` hands it to `on_load`.
    restored: Option<Vec<u8>>,
}

unsafe extern "C" fn create<P: Plugin + Default>() -> *mut c_void {
    // `Default` may panic; there is no host table yet to report it to.
    match catch_unwind(P::default) {
        Ok(plugin) => Box::into_raw(Box::new(Slot { plugin, restored: None })).cast(),
        Err(_) => core::ptr::null_mut(),
    }
}

unsafe extern "C" fn destroy<P: Plugin + Default>(plugin: *mut c_void) {
    if plugin.is_null() {
        return;
    }
    // SAFETY: the host passes back a handle `create::<P>` made, once.
    let plugin = unsafe { Box::from_raw(plugin.cast::<Slot<P>>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(plugin)));
}

unsafe extern "C" fn load<P: Plugin + Default>(plugin: *mut c_void, host: *const HostVTable) -> i32 {
    // SAFETY: the host passes its live table and a handle from `create::<P>`,
    // used by one thread at a time.
    let (host, slot) = unsafe { (&*host, &mut *plugin.cast::<Slot<P>>()) };
    let mut api = NativeHost(host);
    let restored = slot.restored.take();
    let plugin = &mut slot.plugin;
    match guarded(host, || plugin.on_load(&mut Context::with_restored(&mut api, restored.as_deref()))) {
        Ok(Ok(())) => abi::status::DONE,
        Ok(Err(e)) => {
            api.log(LogLevel::Error, &e.to_string());
            i32::from(e.code.as_u16())
        }
        Err(()) => STATUS_PANICKED,
    }
}

unsafe extern "C" fn handle<P: Plugin + Default>(
    plugin: *mut c_void,
    host: *const HostVTable,
    msg: *const NativeMessage,
) -> i32 {
    // SAFETY: as in `load`; `msg` and the buffers it points to are the
    // host's, alive for the call.
    let (host, slot, msg) = unsafe { (&*host, &mut *plugin.cast::<Slot<P>>(), &*msg) };
    // SAFETY: the host's message fields describe live buffers (ABI §12).
    let (from, topic, payload) = unsafe {
        (bytes(msg.from, msg.from_len), bytes(msg.topic, msg.topic_len), bytes(msg.payload, msg.payload_len))
    };
    let mut api = NativeHost(host);
    match msg.kind {
        abi::kind::RESTORE => {
            slot.restored = Some(payload.to_vec());
            return abi::status::DONE;
        }
        abi::kind::UNLOAD => {
            return match guarded(host, || crate::dispatch_unload(&mut slot.plugin, &mut api, msg.id)) {
                Ok(()) => abi::status::DONE,
                Err(()) => STATUS_PANICKED,
            };
        }
        _ => {}
    }
    let plugin = &mut slot.plugin;
    let (Some(kind), Ok(from), Ok(topic)) =
        (MessageKind::from_abi(msg.kind), core::str::from_utf8(from), core::str::from_utf8(topic))
    else {
        let err = WireError::new(ErrorCode::InvalidMessage, "malformed message header");
        if msg.kind == abi::kind::REQUEST {
            let _ = api.reply(msg.id, Err(&err));
        }
        return abi::status::DONE;
    };
    let message = Message { kind, id: msg.id, from, topic, payload };
    match guarded(host, || crate::dispatch(plugin, &mut api, message)) {
        Ok(dispatched) => dispatched.to_abi(),
        Err(()) => STATUS_PANICKED,
    }
}

/// A borrowed byte slice from a C pointer and length (`NULL` allowed when empty).
///
/// # Safety
///
/// Unless `len` is 0, `ptr` must point to `len` readable bytes that stay
/// alive and unchanged for `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { core::slice::from_raw_parts(ptr, len) }
}

/// [`HostApi`] over a [`HostVTable`].
struct NativeHost<'a>(&'a HostVTable);

impl NativeHost<'_> {
    fn take_result(&self) -> Vec<u8> {
        let host = self.0;
        // SAFETY: the host's functions take its own `ctx`.
        let len = unsafe { (host.result_len)(host.ctx) };
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` has `len` writable bytes.
        let n = unsafe { (host.result_read)(host.ctx, buf.as_mut_ptr(), len) };
        buf.truncate(n);
        buf
    }

    fn check(&self, status: i32) -> Result<(), WireError> {
        if status == 0 {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&self.take_result()).into_owned();
        Err(WireError::new(ErrorCode::from_u16(u16::try_from(status).unwrap_or(0)), message))
    }
}

fn timeout(ms: Option<u32>) -> u32 {
    ms.unwrap_or(0)
}

impl HostApi for NativeHost<'_> {
    fn send(&mut self, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        let h = self.0;
        // SAFETY: each pointer and length describes a live slice; `ctx` is the host's.
        self.check(unsafe {
            (h.send)(h.ctx, to.as_ptr(), to.len(), topic.as_ptr(), topic.len(), payload.as_ptr(), payload.len())
        })
    }

    fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        let h = self.0;
        // SAFETY: as above.
        self.check(unsafe { (h.publish)(h.ctx, topic.as_ptr(), topic.len(), payload.as_ptr(), payload.len()) })
    }

    fn subscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        let h = self.0;
        // SAFETY: as above.
        self.check(unsafe { (h.subscribe)(h.ctx, pattern.as_ptr(), pattern.len()) })
    }

    fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        let h = self.0;
        // SAFETY: as above.
        self.check(unsafe { (h.unsubscribe)(h.ctx, pattern.as_ptr(), pattern.len()) })
    }

    fn request(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<Vec<u8>, WireError> {
        let h = self.0;
        // SAFETY: as above.
        let status = unsafe {
            (h.request)(
                h.ctx,
                to.as_ptr(),
                to.len(),
                topic.as_ptr(),
                topic.len(),
                payload.as_ptr(),
                payload.len(),
                timeout(timeout_ms),
            )
        };
        self.check(status)?;
        Ok(self.take_result())
    }

    fn request_async(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        let h = self.0;
        // SAFETY: as above.
        let id = unsafe {
            (h.request_async)(
                h.ctx,
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
            self.check(i32::try_from(-id).unwrap_or(i32::from(ErrorCode::Internal.as_u16())))?;
        }
        Ok(id as u64)
    }

    fn reply(&mut self, id: u64, result: Result<&[u8], &WireError>) -> Result<(), WireError> {
        let (status, bytes) = match result {
            Ok(payload) => (0, payload),
            Err(e) => (i32::from(e.code.as_u16()), e.message.as_bytes()),
        };
        let h = self.0;
        // SAFETY: as above.
        self.check(unsafe { (h.reply)(h.ctx, id, status, bytes.as_ptr(), bytes.len()) })
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let h = self.0;
        // SAFETY: as above.
        unsafe { (h.log)(h.ctx, level.to_abi(), message.as_ptr(), message.len()) }
    }

    fn call(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError> {
        let h = self.0;
        // SAFETY: as above.
        let status = unsafe { (h.call)(h.ctx, service.as_ptr(), service.len(), payload.as_ptr(), payload.len()) };
        self.check(status)?;
        Ok(self.take_result())
    }
}
