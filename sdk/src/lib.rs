//! Write a wasp plugin once; run it as WebAssembly, as a native library or
//! in process.
//!
//! A plugin is a type that implements [`Plugin`]. [`export_plugin!`] turns it
//! into a WebAssembly module when the crate is built for `wasm32`, and into
//! a native plugin library's entry point otherwise ([`native`]); the host
//! can also register the very same type in process. Every form behaves the
//! same: messages arrive through [`Plugin::on_message`], and everything the
//! plugin does to the outside world goes through its [`Context`].
//!
//! What a plugin receives and logs ([`Message`], [`MessageKind`],
//! [`LogLevel`]) and the host API every backend provides ([`HostApi`]) are
//! the message model of `wasp-protocol` (also reachable as [`protocol`]),
//! re-exported here; this crate adds what an author writes against:
//! [`Plugin`], [`Context`], [`Reply`] and the glue behind the macros.
//!
//! ```
//! use wasp_sdk::prelude::*;
//!
//! #[derive(Default)]
//! pub struct Counter {
//!     count: u64,
//! }
//!
//! impl Plugin for Counter {
//!     fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
//!         match msg.topic {
//!             "add" => {
//!                 self.count += msg.decode::<u64>()?;
//!                 ctx.publish("counter.changed", &self.count)?;
//!                 Reply::encode(&self.count)
//!             }
//!             "get" => Reply::encode(&self.count),
//!             other => Err(WireError::plugin(format!("unknown topic `{other}`"))),
//!         }
//!     }
//! }
//!
//! export_plugin!(Counter);
//! # fn main() {}
//! ```
//!
//! Payloads are MessagePack: [`Message::decode`], [`Reply::encode`] and the
//! typed [`Context`] methods take any `serde` type; the `*_raw` variants take
//! bytes you encoded yourself.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

// The component glue's generated code names this crate by its path.
#[cfg(all(target_arch = "wasm32", feature = "component"))]
extern crate self as wasp_sdk;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
#[doc(hidden)]
pub mod component;
mod context;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest_alloc;
#[doc(hidden)]
pub mod library;
mod message;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
mod plugin;
#[cfg(all(target_arch = "wasm32", not(feature = "component")))]
#[doc(hidden)]
pub mod wasm;

pub use context::{Context, FileAccess};
pub use library::Library;
pub use message::{Reply, dispatch, dispatch_unload, encode};
pub use plugin::Plugin;
pub use wasp_protocol::services::{ClockNow, HttpRequest, HttpResponse, KvUsage};
// The message model is `wasp-protocol`'s, under the names plugin code uses.
pub use wasp_protocol::{
    self as protocol, ApiVersion, Dispatched, ErrorCode, HostApi, LogLevel, Message, MessageKind, WireError,
};

/// Everything a plugin author needs, in one import.
pub mod prelude {
    pub use crate::{
        Context, ErrorCode, FileAccess, LogLevel, Message, MessageKind, Plugin, Reply, WireError, export_plugin,
    };
}

/// Emits the entry points that make a [`Plugin`] type loadable by the host.
///
/// Invoke it once per plugin crate with a type that implements [`Plugin`] and
/// [`Default`]. One source gives all three forms of the plugin:
///
/// - on `wasm32` it exports the WebAssembly ABI of `docs/abi.md`
///   (`wasp_alloc`, `wasp_dealloc`, `wasp_load`, `wasp_handle`) and writes
///   the ABI version into the `wasp:abi` custom section; with this crate's
///   `component` feature it exports the `wasp:plugin` WIT world instead
///   (a core module that `wit-component` turns into a component,
///   `docs/components.md`);
/// - on every other target it exports the native entry point of
///   `docs/abi.md` §12, `wasp_native_plugin_<crate name>`, which a host
///   finds in the crate's `cdylib` (`.so`, `.dll`, `.dylib`) — see
///   [`native`](crate::native) (the crate name in the symbol lets several
///   plugin crates link into one program as ordinary libraries);
/// - the same type registers in process with the host, which uses neither.
///
/// ```
/// # use wasp_sdk::prelude::*;
/// #[derive(Default)]
/// struct Echo;
/// impl Plugin for Echo {
///     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
///         Ok(Reply::bytes(msg.payload.to_vec()))
///     }
/// }
/// export_plugin!(Echo);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            $crate::__wasp_wasm_exports!($plugin);
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[unsafe(export_name = concat!("wasp_native_plugin_", env!("CARGO_CRATE_NAME")))]
            extern "C" fn wasp_native_plugin() -> *const $crate::native::PluginVTable {
                static VTABLE: $crate::native::PluginVTable = $crate::native::vtable::<$plugin>();
                &VTABLE
            }
        };
    };
}

/// The `wasm32` exports of [`export_plugin!`]: the core ABI of `docs/abi.md`.
#[cfg(not(feature = "component"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_wasm_exports {
    ($plugin:ty) => {
        ::std::thread_local! {
            static WASP_PLUGIN: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                const { ::core::cell::RefCell::new(::core::option::Option::None) };
        }

        #[unsafe(link_section = "wasp:abi")]
        #[used]
        static WASP_ABI_VERSION: [u8; $crate::wasm::ABI_VERSION_LEN] = $crate::wasm::ABI_VERSION;

        #[unsafe(no_mangle)]
        extern "C" fn wasp_alloc(len: i32) -> i32 {
            $crate::wasm::alloc(len)
        }

        #[unsafe(no_mangle)]
        extern "C" fn wasp_dealloc(ptr: i32, len: i32) {
            // SAFETY: the ABI only lets the host free what `wasp_alloc` gave it, with its length.
            unsafe { $crate::wasm::dealloc(ptr, len) }
        }

        #[unsafe(no_mangle)]
        extern "C" fn wasp_load() -> i32 {
            WASP_PLUGIN.with(|cell| $crate::wasm::load::<$plugin>(cell))
        }

        #[unsafe(no_mangle)]
        extern "C" fn wasp_handle(
            ptr: i32,
            kind: i32,
            id: i64,
            from_len: i32,
            topic_len: i32,
            payload_len: i32,
        ) -> i32 {
            WASP_PLUGIN.with(|cell| {
                // SAFETY: the ABI has the host write `from_len + topic_len + payload_len`
                // bytes at `ptr`, in a buffer it got from `wasp_alloc`.
                unsafe { $crate::wasm::handle::<$plugin>(cell, ptr, kind, id, from_len, topic_len, payload_len) }
            })
        }
    };
}

/// The `wasm32` exports of [`export_plugin!`] with the `component` feature:
/// the `wasp:plugin` WIT world's `guest` interface.
#[cfg(feature = "component")]
#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_wasm_exports {
    ($plugin:ty) => {
        ::std::thread_local! {
            static WASP_PLUGIN: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                const { ::core::cell::RefCell::new(::core::option::Option::None) };
        }

        struct WaspComponent;

        impl $crate::component::exports::wasp::plugin::guest::Guest for WaspComponent {
            fn load() -> ::core::result::Result<(), $crate::component::wasp::plugin::types::WireError> {
                WASP_PLUGIN.with(|cell| $crate::component::load::<$plugin>(cell))
            }

            fn handle(
                message: $crate::component::wasp::plugin::types::Message,
            ) -> $crate::component::wasp::plugin::types::Status {
                WASP_PLUGIN.with(|cell| $crate::component::handle::<$plugin>(cell, message))
            }
        }

        $crate::component::__wasp_export_component!(WaspComponent with_types_in $crate::component);
    };
}

// The README's Rust examples compile and run as doc tests, so what crates.io
// shows is what works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
