//! Names and numbers of the WebAssembly ABI, version 1.
//!
//! `docs/abi.md` is the specification; this module is its machine-readable
//! half, shared by the guest SDK and the host so they cannot drift apart.
//!
//! In short: the guest exports `memory`, [`EXPORT_ALLOC`], [`EXPORT_DEALLOC`]
//! and [`EXPORT_HANDLE`] (and optionally [`EXPORT_LOAD`]), carries its ABI
//! version in the custom section [`ABI_SECTION`], and may import only the
//! functions listed in [`IMPORTS`] from the module [`IMPORT_MODULE`].
//!
//! The typed forms of these numbers are the message model's
//! ([`MessageKind`](crate::MessageKind), [`LogLevel`](crate::LogLevel),
//! [`Dispatched`](crate::Dispatched)); [`native`] holds the native-library
//! ABI's C tables (`docs/abi.md` §12).

/// The custom section holding the plugin's ABI version as UTF-8 `MAJOR.MINOR`.
pub const ABI_SECTION: &str = "wasp:abi";

/// The only import module a plugin may import from.
pub const IMPORT_MODULE: &str = "wasp";

/// The guest's exported linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// `wasp_alloc(len: i32) -> i32`: a buffer of `len` bytes, or 0.
pub const EXPORT_ALLOC: &str = "wasp_alloc";
/// `wasp_dealloc(ptr: i32, len: i32)`: frees a buffer from `wasp_alloc`.
pub const EXPORT_DEALLOC: &str = "wasp_dealloc";
/// `wasp_handle(ptr: i32, kind: i32, id: i64, from_len: i32, topic_len: i32,
/// payload_len: i32) -> i32`: handles one message.
pub const EXPORT_HANDLE: &str = "wasp_handle";
/// Optional `wasp_load() -> i32`: called once after instantiation.
pub const EXPORT_LOAD: &str = "wasp_load";
/// Optional `_initialize()`: the WASI reactor initializer (C reactors built
/// with wasi-libc export it; Rust's wasm32-wasip1 cdylibs do not); called
/// once, before `wasp_load`.
pub const EXPORT_INITIALIZE: &str = "_initialize";

/// The WASI preview 1 import module; a plugin may import the functions in
/// [`WASI_IMPORTS`] from it.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The WASI preview 1 subset a plugin may import (ABI 1.1). Files are
/// reachable only under the directories the host granted (`fs.*`
/// permissions); `clock_time_get` and `random_get` need the `clock` and
/// `random` permissions; there are no sockets, no environment variables and
/// no arguments; standard output and error are discarded.
pub const WASI_IMPORTS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_pread",
    "fd_prestat_dir_name",
    "fd_prestat_get",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// Message kinds passed to `wasp_handle`.
pub mod kind {
    /// A request: answer it with `reply(id, ...)`.
    pub const REQUEST: i32 = 0;
    /// A one-way message (a send, or a publish to a subscribed topic).
    pub const EVENT: i32 = 1;
    /// The successful completion of the guest's `request_async` with that id.
    pub const REPLY: i32 = 2;
    /// The failed completion of the guest's `request_async` with that id; the
    /// payload is a MessagePack `WireError` map.
    pub const ERROR: i32 = 3;
    /// (1.2) The host is about to discard the instance in an orderly way: a
    /// reload replaces it with new code, or the plugin is unloaded. The guest
    /// may answer with `reply(id, 0, state)`: on a reload those bytes are
    /// handed to the new instance as a [`RESTORE`] message. Sent only to
    /// plugins built for ABI 1.2 or later.
    pub const UNLOAD: i32 = 4;
    /// (1.2) The state the previous instance saved when it was unloaded for a
    /// reload: delivered once to the new instance, before `wasp_load`. Sent
    /// only to plugins built for ABI 1.2 or later, and only when there is a
    /// state.
    pub const RESTORE: i32 = 5;
}

/// The topic of an [`kind::UNLOAD`] message.
pub const TOPIC_UNLOAD: &str = "wasp.unload";
/// The topic of a [`kind::RESTORE`] message.
pub const TOPIC_RESTORE: &str = "wasp.restore";
/// The first ABI version whose plugins receive [`kind::UNLOAD`] and
/// [`kind::RESTORE`].
pub const LIFECYCLE_SINCE: crate::ApiVersion = crate::ApiVersion::new(1, 2);
/// The topic of a cancellation notice (ABI 1.3): an event ([`kind::EVENT`])
/// from `host` whose payload is the MessagePack id (an unsigned integer) of
/// a request the plugin was sent and its caller no longer waits for. The
/// caller has been answered `cancelled` already; the plugin may stop the
/// work, and whatever it replies later is discarded. Sent only to plugins
/// built for [`CANCEL_SINCE`] or later.
pub const TOPIC_CANCEL: &str = "wasp.cancel";
/// The first ABI version whose plugins receive cancellation notices
/// ([`TOPIC_CANCEL`]).
pub const CANCEL_SINCE: crate::ApiVersion = crate::ApiVersion::new(1, 3);

/// What `wasp_handle` and `wasp_load` return.
pub mod status {
    /// Handled. For a request the guest has replied (or the host answers
    /// `no_reply`).
    pub const DONE: i32 = 0;
    /// Request only: the guest will reply later with `reply(id, ...)`.
    pub const DEFERRED: i32 = 1;
}

/// Log levels for the `log` import.
pub mod level {
    /// Very detailed.
    pub const TRACE: i32 = 0;
    /// For developers.
    pub const DEBUG: i32 = 1;
    /// Normal operation.
    pub const INFO: i32 = 2;
    /// Something unexpected.
    pub const WARN: i32 = 3;
    /// Something failed.
    pub const ERROR: i32 = 4;
}

/// A WebAssembly value type in an ABI signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

/// One function's name and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncSig {
    /// The export or import name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types (zero or one).
    pub results: &'static [ValType],
}

use ValType::{I32, I64};

/// The exports every plugin must have (besides `memory`).
pub const REQUIRED_EXPORTS: &[FuncSig] = &[
    FuncSig { name: EXPORT_ALLOC, params: &[I32], results: &[I32] },
    FuncSig { name: EXPORT_DEALLOC, params: &[I32, I32], results: &[] },
    FuncSig { name: EXPORT_HANDLE, params: &[I32, I32, I64, I32, I32, I32], results: &[I32] },
];

/// Exports a plugin may have; checked when present.
pub const OPTIONAL_EXPORTS: &[FuncSig] = &[
    FuncSig { name: EXPORT_LOAD, params: &[], results: &[I32] },
    FuncSig { name: EXPORT_INITIALIZE, params: &[], results: &[] },
];

/// Every function a plugin may import from [`IMPORT_MODULE`], with its
/// signature. `docs/abi.md` says what each does.
pub const IMPORTS: &[FuncSig] = &[
    FuncSig { name: "send", params: &[I32, I32, I32, I32, I32, I32], results: &[I32] },
    FuncSig { name: "publish", params: &[I32, I32, I32, I32], results: &[I32] },
    FuncSig { name: "subscribe", params: &[I32, I32], results: &[I32] },
    FuncSig { name: "unsubscribe", params: &[I32, I32], results: &[I32] },
    FuncSig { name: "request", params: &[I32, I32, I32, I32, I32, I32, I32], results: &[I32] },
    FuncSig { name: "request_async", params: &[I32, I32, I32, I32, I32, I32, I32], results: &[I64] },
    FuncSig { name: "reply", params: &[I64, I32, I32, I32], results: &[I32] },
    FuncSig { name: "result_len", params: &[], results: &[I32] },
    FuncSig { name: "result_read", params: &[I32, I32], results: &[I32] },
    FuncSig { name: "log", params: &[I32, I32, I32], results: &[] },
    FuncSig { name: "panic", params: &[I32, I32], results: &[] },
    FuncSig { name: "call", params: &[I32, I32, I32, I32], results: &[I32] },
];

/// The first ABI version that has the import `name` (`call` and the WASI
/// subset arrived in 1.1; the rest in 1.0).
pub fn import_since(module: &str, name: &str) -> crate::ApiVersion {
    if module == WASI_MODULE || name == "call" { crate::ApiVersion::new(1, 1) } else { crate::ApiVersion::new(1, 0) }
}

/// The signature of an import by name, if it is part of the ABI.
pub fn import(name: &str) -> Option<&'static FuncSig> {
    IMPORTS.iter().find(|f| f.name == name)
}

impl core::fmt::Display for FuncSig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| match t {
                    I32 => "i32",
                    I64 => "i64",
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "{}({})", self.name, list(self.params))?;
        if !self.results.is_empty() {
            write!(f, " -> {}", list(self.results))?;
        }
        Ok(())
    }
}

pub mod native;

/// Shared library modules (`docs/libraries.md`): WASM code that plugins
/// name in their manifest's `uses` and call through the `call` import.
pub mod library {
    /// The custom section holding a library's name and version as UTF-8
    /// `NAME@MAJOR.MINOR.PATCH`, such as `json@1.0.0`.
    pub const SECTION: &str = "wasp:library";
    /// The service-name prefix of a library call: `library:<name>/<function>`
    /// (the `call` import, `docs/abi.md` §10).
    pub const SERVICE_PREFIX: &str = "library:";
    /// The first byte of a library function's output: success, the output follows.
    pub const OK: u8 = 0;
    /// The first byte of a library function's output: failure, a UTF-8 message follows.
    pub const ERR: u8 = 1;
}
