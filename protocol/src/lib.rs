//! Wire types shared by the wasp host and its plugins.
//!
//! Everything that crosses a boundary between the host, the broker and a
//! plugin is defined here, so that both sides agree on it by construction:
//!
//! - [`Envelope`], [`Kind`] and [`Address`]: one routed message;
//! - [`WireError`] and [`ErrorCode`]: the structured error every failed
//!   request is answered with;
//! - [`ApiVersion`]: the ABI version a plugin was built against, and the rule
//!   by which the host accepts it;
//! - [`abi`]: the names and numbers of the WebAssembly ABI (`docs/abi.md`);
//! - [`Permission`]: what a plugin may do, requested in its manifest and
//!   granted by the host;
//! - [`services`]: names and payloads of the host services (`call` import);
//! - [`codec`]: MessagePack encoding with a hard size limit. Decoding
//!   untrusted bytes returns an error, never panics, and never recurses
//!   deeper than [`codec::MAX_DEPTH`] levels ([`codec::check`] runs first).
//!
//! This crate compiles for `wasm32-unknown-unknown` and pulls in neither
//! wasmtime nor tokio.
//!
//! ```
//! use wasp_protocol::{codec, Address, Envelope, Kind};
//!
//! let env = Envelope::request(7, Address::Host, Address::plugin("echo")?, "ping", codec::to_payload(&"hi")?);
//! let bytes = env.encode(codec::DEFAULT_MAX_MESSAGE_SIZE)?;
//! let back = Envelope::decode(&bytes, codec::DEFAULT_MAX_MESSAGE_SIZE)?;
//! assert_eq!(back, env);
//! assert_eq!(back.kind, Kind::Request);
//! let text: String = codec::from_payload(&back.payload)?;
//! assert_eq!(text, "hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod abi;
mod address;
pub mod codec;
mod envelope;
mod error;
#[cfg(feature = "json")]
pub mod json;
mod permission;
pub mod services;
mod version;

pub use address::{Address, AddressError, HOST, MAX_NAME_LEN, MAX_TOPIC_LEN, validate_topic};
pub use codec::CodecError;
pub use envelope::{Envelope, Kind};
pub use error::{ErrorCode, WireError};
pub use permission::{DATA_DIR, KINDS as PERMISSION_KINDS, Permission, PermissionError};
pub use version::{ApiVersion, VersionError};
