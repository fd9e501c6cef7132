//! What a wasp host and its `wasp-node` processes share: the wire protocol
//! they speak over `ractor_cluster`, and the doorman that admits
//! connections.
//!
//! A host runs some native plugins out of its process, each in a child
//! `wasp-node` (`docs/distributed.md`). Both ends depend on this crate and
//! on `wasp-runtime` (whose types the documents carry), so that the node
//! links neither the host (`wasp-actors`) nor the plugin authors' SDK:
//!
//! - [`wire`]: the two actors' messages ([`wire::NodeMsg`],
//!   [`wire::GatewayMsg`]) and the MessagePack documents they carry;
//! - [`doorman`]: who may open a cluster connection, and for how long
//!   before it proves the cookie.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod doorman;
pub mod wire;
