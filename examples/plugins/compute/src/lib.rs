//! `compute`: CPU-bound kernels, for the WASM/native benchmark
//! (`benches/benches/compute.rs`, docs/performance.md).
//!
//! The same source runs everywhere: as a plugin (requests below) and as
//! plain `extern "C"` functions (`wasp_kernel_*`) that the benchmark calls
//! directly, in a bare wasmtime instance and in the native library, to time
//! the code without messaging around it.
//!
//! Requests, each answering a `u64` checksum of its result:
//! - `sha256` with `len: u64`: SHA-256 (the `sha2` crate's portable
//!   backend) of `len` bytes of a fixed pattern;
//! - `matmul` with `n: u64`: the product of two `n`×`n` `f64` matrices;
//! - `transform` with `copies: u64`: a JSON document of `copies` records
//!   parsed and written as MessagePack.

use sha2::{Digest, Sha256};
use wasp_sdk::prelude::*;

/// The largest input a kernel accepts, so a request cannot make the plugin
/// allocate without bound: 64 MiB for SHA-256, 512 for the matrix side,
/// 100,000 JSON records.
const MAX_SHA_LEN: u64 = 64 << 20;
const MAX_N: u64 = 512;
const MAX_COPIES: u64 = 100_000;

/// SHA-256 of `len` bytes of a fixed pattern; the first 8 bytes of the digest.
pub fn sha256(len: usize) -> u64 {
    let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect();
    let digest = Sha256::digest(&data);
    u64::from_le_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]])
}

/// Two `n`×`n` matrices of fixed values, multiplied (i-k-j order); the sum
/// of the product's entries.
pub fn matmul(n: usize) -> f64 {
    let a: Vec<f64> = (0..n * n).map(|i| (i % 7) as f64 * 0.5).collect();
    let b: Vec<f64> = (0..n * n).map(|i| (i % 5) as f64 * 0.25).collect();
    let mut c = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            let row = &b[k * n..k * n + n];
            let out = &mut c[i * n..i * n + n];
            for (o, bkj) in out.iter_mut().zip(row) {
                *o += aik * bkj;
            }
        }
    }
    c.iter().sum()
}

/// A JSON array of `copies` records, parsed into a generic value and
/// written as MessagePack; the length of the MessagePack.
pub fn transform(copies: usize) -> usize {
    let mut json = String::from("[");
    for i in 0..copies {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            r#"{{"id":{i},"name":"record {i}","tags":["a","b","c"],"score":{}.5,"active":{}}}"#,
            i % 100,
            i % 2 == 0
        ));
    }
    json.push(']');
    let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    rmp_serde::to_vec(&value).map_or(0, |v| v.len())
}

/// [`sha256`], callable without the plugin ABI.
#[unsafe(no_mangle)]
pub extern "C" fn wasp_kernel_sha256(len: u32) -> u64 {
    sha256(len.min(MAX_SHA_LEN as u32) as usize)
}

/// [`matmul`], callable without the plugin ABI.
#[unsafe(no_mangle)]
pub extern "C" fn wasp_kernel_matmul(n: u32) -> f64 {
    matmul(n.min(MAX_N as u32) as usize)
}

/// [`transform`], callable without the plugin ABI.
#[unsafe(no_mangle)]
pub extern "C" fn wasp_kernel_transform(copies: u32) -> u64 {
    transform(copies.min(MAX_COPIES as u32) as usize) as u64
}

/// The compute plugin.
#[derive(Default)]
pub struct Compute;

fn bounded(msg: &Message<'_>, max: u64) -> Result<usize, WireError> {
    let n: u64 = msg.decode()?;
    if n > max {
        return Err(WireError::new(
            ErrorCode::InvalidArgument,
            format!("`{}` takes at most {max}, not {n}", msg.topic),
        ));
    }
    Ok(n as usize)
}

impl Plugin for Compute {
    fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "sha256" => Reply::encode(&sha256(bounded(&msg, MAX_SHA_LEN)?)),
            "matmul" => Reply::encode(&matmul(bounded(&msg, MAX_N)?).to_bits()),
            "transform" => Reply::encode(&(transform(bounded(&msg, MAX_COPIES)?) as u64)),
            other => Err(WireError::new(ErrorCode::NotFound, format!("compute has no topic `{other}`"))),
        }
    }
}

export_plugin!(Compute);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_give_known_results() {
        // SHA-256 of the empty input starts e3 b0 c4 42 98 fc 1c 14.
        assert_eq!(sha256(0), u64::from_le_bytes([0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14]));
        // 2×2: a = [0, .5; 1, 1.5], b = [0, .25; .5, .75], c = [.25, .375; .75, 1.375].
        assert_eq!(matmul(2), 0.25 + 0.375 + 0.75 + 1.375);
        assert!(transform(10) > 10 * 40);
        assert_eq!(transform(0), 1, "an empty array is one byte of MessagePack");
    }
}
