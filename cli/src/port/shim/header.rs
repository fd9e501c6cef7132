//! What `cargo wasp port` put in place of what a WebAssembly plugin cannot
//! do itself. Each item has the shape of the std or crate API it replaced,
//! so the code around each call stays as it was, and goes through the
//! plugin's `Context` to a wasp host service, under the permission named.
#![allow(dead_code, unused_imports)]

use wasp_sdk::{Context, WireError};
