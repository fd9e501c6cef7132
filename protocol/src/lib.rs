//! The message model and wire types shared by the wasp host and its plugins.
//!
//! Everything that crosses a boundary between the host, the broker and a
//! plugin is defined here, so that both sides agree on it by construction:
//!
//! - [`Message`], [`MessageKind`], [`LogLevel`], [`Dispatched`] and
//!   [`Lifecycle`]: the message model every form of plugin shares, each
//!   with its ABI number, and [`HostApi`], what a plugin may ask of the
//!   host, as every backend provides it;
//! - [`Address`]: `host` or a plugin's name, and the rule every plugin name
//!   follows; [`validate_topic`] for topics;
//! - [`WireError`] and [`ErrorCode`]: the structured error every failed
//!   request is answered with;
//! - [`ApiVersion`]: the ABI version a plugin was built against, and the rule
//!   by which the host accepts it;
//! - [`abi`]: the names and numbers of the WebAssembly ABI (`docs/abi.md`),
//!   and in [`abi::native`] the native-library ABI's `#[repr(C)]` tables;
//!   [`wit_mapping!`] maps the `wasp:plugin` WIT world onto the model;
//! - [`Permission`]: what a plugin may do, requested in its manifest and
//!   granted by the host;
//! - [`services`]: names and payloads of the host services (`call` import);
//! - [`codec`]: MessagePack encoding with a hard size limit. Decoding
//!   untrusted bytes returns an error, never panics, and never recurses
//!   deeper than [`codec::MAX_DEPTH`] levels ([`codec::check`] runs first).
//!
//! This crate compiles for `wasm32-unknown-unknown` and pulls in neither
//! wasmtime nor tokio: the SDK builds plugins on it.
//!
//! ```
//! use wasp_protocol::{codec, Address, Message, MessageKind};
//!
//! let payload = codec::to_payload(&"hi")?;
//! let from = Address::plugin("echo")?;
//! let msg = Message { kind: MessageKind::Request, id: 7, from: from.as_str(), topic: "ping", payload: &payload };
//! assert_eq!(msg.decode::<String>()?, "hi");
//! assert_eq!(MessageKind::from_abi(msg.kind.to_abi()), Some(MessageKind::Request));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod abi;
mod address;
pub mod codec;
mod error;
mod host_api;
#[cfg(feature = "json")]
pub mod json;
mod message;
mod permission;
pub mod services;
mod version;
mod wit;

pub use address::{Address, AddressError, HOST, MAX_NAME_LEN, MAX_TOPIC_LEN, validate_topic};
pub use codec::CodecError;
pub use error::{ErrorCode, WireError};
pub use host_api::HostApi;
pub use message::{Dispatched, Lifecycle, LogLevel, Message, MessageKind};
pub use permission::{DATA_DIR, KINDS as PERMISSION_KINDS, Permission, PermissionError};
pub use version::{ApiVersion, VersionError};

// The README's Rust examples compile and run as doc tests, so what crates.io
// shows is what works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
