//! The native-library ABI's C types (`docs/abi.md` §12): what a plugin
//! built as a `cdylib` and the host exchange.
//!
//! The library exports one function whose name starts with
//! [`ENTRY_PREFIX`]; it takes nothing and returns a pointer to a static
//! [`PluginVTable`]. The host checks the table's magic and ABI version, then
//! creates plugin instances through it, one thread per instance. While the
//! plugin handles a call it reaches the host through the [`HostVTable`] it
//! was handed, with the same functions, statuses and result slot as the
//! WebAssembly imports.
//!
//! Only C types cross the boundary: the plugin and the host may be built by
//! different compilers, and each keeps its own allocator. Every pointer
//! passed in a call is borrowed for that call only. The Rust SDK's glue
//! (`wasp_sdk::native`) fills a [`PluginVTable`]; the runtime's loader
//! reads one and hands out a [`HostVTable`].

use core::ffi::c_void;

/// Every entry function's name starts with this; the Rust SDK appends the
/// crate's name (`wasp_native_plugin_wasp_example_echo`) so that several
/// plugin crates can be linked into one program as ordinary libraries.
pub const ENTRY_PREFIX: &str = "wasp_native_plugin";

/// The first 8 bytes of every [`PluginVTable`].
pub const MAGIC: [u8; 8] = *b"WASPNAT\0";

/// What `handle` and `load` return when the plugin panicked; it reported the
/// panic through [`HostVTable::panic`] first.
pub const STATUS_PANICKED: i32 = -1;

/// The signature of the entry function.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginVTable;

/// The table a native plugin library exports (through its entry function).
///
/// The fields up to `size` never move: a host reads `magic`, `abi_major`,
/// `abi_minor` and `size` first and refuses a table it does not speak before
/// touching the rest.
#[repr(C)]
#[derive(Debug)]
pub struct PluginVTable {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// The ABI major version the plugin was built for.
    pub abi_major: u32,
    /// The ABI minor version the plugin was built for.
    pub abi_minor: u32,
    /// `size_of::<PluginVTable>()` as the plugin was compiled.
    pub size: u32,
    /// Reserved; zero.
    pub reserved: u32,
    /// Creates one plugin instance; returns its handle (never null on success).
    pub create: unsafe extern "C" fn() -> *mut c_void,
    /// Runs `on_load`: [`abi::status::DONE`](super::status::DONE), an error code (the log says
    /// why), or [`STATUS_PANICKED`].
    pub load: unsafe extern "C" fn(plugin: *mut c_void, host: *const HostVTable) -> i32,
    /// Handles one message: [`abi::status::DONE`](super::status::DONE), [`abi::status::DEFERRED`](super::status::DEFERRED)
    /// or [`STATUS_PANICKED`].
    pub handle: unsafe extern "C" fn(plugin: *mut c_void, host: *const HostVTable, msg: *const NativeMessage) -> i32,
    /// Destroys an instance made by `create`.
    pub destroy: unsafe extern "C" fn(plugin: *mut c_void),
}

/// One message handed to [`PluginVTable::handle`], borrowed for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NativeMessage {
    /// [`abi::kind`](super::kind): request, event, reply or error.
    pub kind: i32,
    /// Reserved; zero.
    pub reserved: u32,
    /// Request id, message id, or the completed `request_async` id.
    pub id: u64,
    /// The sender's name, UTF-8.
    pub from: *const u8,
    /// Its length in bytes.
    pub from_len: usize,
    /// The topic, UTF-8.
    pub topic: *const u8,
    /// Its length in bytes.
    pub topic_len: usize,
    /// The MessagePack payload.
    pub payload: *const u8,
    /// Its length in bytes.
    pub payload_len: usize,
}

/// The host's functions, handed to the plugin for the duration of one call.
///
/// Each mirrors the WebAssembly import of the same name (`docs/abi.md` §4),
/// with the host's `ctx` as first argument: statuses are `0` or an
/// [`ErrorCode`](crate::ErrorCode) number, and an answer or an error's message waits in the
/// result slot, read with `result_len` and `result_read`.
#[repr(C)]
#[derive(Debug)]
pub struct HostVTable {
    /// `size_of::<HostVTable>()` as the host was compiled.
    pub size: u32,
    /// Reserved; zero.
    pub reserved: u32,
    /// The host's state for this call: pass it back unchanged.
    pub ctx: *mut c_void,
    /// One-way message to a plugin or `host`.
    pub send: unsafe extern "C" fn(
        ctx: *mut c_void,
        to: *const u8,
        to_len: usize,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
    ) -> i32,
    /// One-way message to every subscriber of `topic`.
    pub publish: unsafe extern "C" fn(
        ctx: *mut c_void,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
    ) -> i32,
    /// Subscribes to a topic pattern.
    pub subscribe: unsafe extern "C" fn(ctx: *mut c_void, pattern: *const u8, pattern_len: usize) -> i32,
    /// Unsubscribes from a topic pattern.
    pub unsubscribe: unsafe extern "C" fn(ctx: *mut c_void, pattern: *const u8, pattern_len: usize) -> i32,
    /// A request that waits for its answer (put in the result slot).
    pub request: unsafe extern "C" fn(
        ctx: *mut c_void,
        to: *const u8,
        to_len: usize,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
        timeout_ms: u32,
    ) -> i32,
    /// A request answered later as a message: its id (> 0), or minus an error code.
    pub request_async: unsafe extern "C" fn(
        ctx: *mut c_void,
        to: *const u8,
        to_len: usize,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
        timeout_ms: u32,
    ) -> i64,
    /// Answers a received request: `status` 0 with a payload, or an error
    /// code with a UTF-8 message.
    pub reply: unsafe extern "C" fn(ctx: *mut c_void, id: u64, status: i32, bytes: *const u8, len: usize) -> i32,
    /// The length of the result slot.
    pub result_len: unsafe extern "C" fn(ctx: *mut c_void) -> usize,
    /// Copies up to `len` bytes of the result slot to `out`; returns how many.
    pub result_read: unsafe extern "C" fn(ctx: *mut c_void, out: *mut u8, len: usize) -> usize,
    /// A log line ([`abi::level`](super::level)).
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: i32, text: *const u8, len: usize),
    /// Reports a panic (message and backtrace, UTF-8) before returning
    /// [`STATUS_PANICKED`].
    pub panic:
        unsafe extern "C" fn(ctx: *mut c_void, text: *const u8, len: usize, backtrace: *const u8, backtrace_len: usize),
    /// Calls a host service (result in the slot).
    pub call: unsafe extern "C" fn(
        ctx: *mut c_void,
        service: *const u8,
        service_len: usize,
        payload: *const u8,
        payload_len: usize,
    ) -> i32,
}
