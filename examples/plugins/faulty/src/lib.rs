//! `faulty`: a plugin that misbehaves on request, for the fault tests.
//!
//! - request `panic` with a string `s`: panics with the message `boom: {s}`.
//!   As WASM the panic is a trap; in process it is caught at the boundary.
//!   Either way the caller gets `plugin_crashed` and the plugin is recycled;
//! - request `garbage`: answers bytes that are not MessagePack (`c1`, the one
//!   byte MessagePack never uses), which a typed caller cannot decode;
//! - request `grow` with a `u64` limit: allocates memory in 64 KiB chunks
//!   until it holds `limit` bytes (then answers how many) or an allocation
//!   fails (then it panics with `grow: out of memory after N bytes`). Under a
//!   small `max_memory` the WASM form fails; keep the limit modest in
//!   process, where the allocation is real host memory;
//! - request `forget`: claims to have answered (`Reply::sent()`) without
//!   answering; the caller gets `no_reply`;
//! - request `ping`: answers `"pong"`.

use wasp_sdk::prelude::*;

/// The faulty plugin. It keeps no state.
#[derive(Default)]
pub struct Faulty;

/// One allocation step of `grow`.
const CHUNK: usize = 64 * 1024;

/// Allocates up to `limit` bytes in chunks; the bytes held, or the bytes held
/// when an allocation failed.
fn grow(limit: u64) -> Result<u64, u64> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut held: u64 = 0;
    while held < limit {
        let mut chunk: Vec<u8> = Vec::new();
        if chunk.try_reserve_exact(CHUNK).is_err() || chunks.try_reserve(1).is_err() {
            return Err(held);
        }
        // Touch the memory so it is really used.
        chunk.resize(CHUNK, 0xa5);
        chunks.push(core::hint::black_box(chunk));
        held += CHUNK as u64;
    }
    Ok(held)
}

impl Plugin for Faulty {
    fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "panic" => {
                let what: String = msg.decode()?;
                panic!("boom: {what}");
            }
            "garbage" => Ok(Reply::bytes(vec![0xc1])),
            "grow" => match grow(msg.decode::<u64>()?) {
                Ok(held) => Reply::encode(&held),
                // The chunks are freed by now, so the panic message can be formatted.
                Err(held) => panic!("grow: out of memory after {held} bytes"),
            },
            "forget" => Ok(Reply::sent()),
            "ping" => Reply::encode("pong"),
            topic => Err(WireError::new(ErrorCode::NotFound, format!("faulty has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Faulty);
