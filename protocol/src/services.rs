//! Host services: names and payloads of the `call` import (ABI 1.1).
//!
//! A plugin reaches a host service with one call, `call(service, payload)`,
//! whose payload and reply are MessagePack. Each service is behind a
//! [`Permission`](crate::Permission); `docs/abi.md` §7 is the specification.
//! Structs are encoded as maps with these field names.
//!
//! | service | payload | reply | permission |
//! | --- | --- | --- | --- |
//! | [`KV_GET`] | [`KvKey`] | bin or nil | `storage` |
//! | [`KV_SET`] | [`KvSet`] | nil | `storage` |
//! | [`KV_DELETE`] | [`KvKey`] | bool: it existed | `storage` |
//! | [`KV_LIST`] | [`KvList`] | array of str, sorted | `storage` |
//! | [`KV_USAGE`] | nil | [`KvUsage`] | `storage` |
//! | [`TIMER_SET_TIMEOUT`] | [`TimerSet`] | u64 timer id | `timers` |
//! | [`TIMER_SET_INTERVAL`] | [`TimerSet`] | u64 timer id | `timers` |
//! | [`TIMER_CANCEL`] | [`TimerCancel`] | bool: it was active | `timers` |
//! | [`CLOCK_NOW`] | nil | [`ClockNow`] | `clock` |
//! | [`RANDOM_BYTES`] | [`RandomBytes`] | bin | `random` |
//! | [`CONFIG_GET`] | [`ConfigGet`] | the value, or nil | `config` |
//! | [`HTTP_FETCH`] | [`HttpRequest`] | [`HttpResponse`] | `net:<host>` |

use serde::{Deserialize, Serialize};

/// Reads one key of the plugin's store.
pub const KV_GET: &str = "kv.get";
/// Writes one key (within the plugin's quota).
pub const KV_SET: &str = "kv.set";
/// Deletes one key.
pub const KV_DELETE: &str = "kv.delete";
/// Lists keys with a prefix.
pub const KV_LIST: &str = "kv.list";
/// Bytes used and the quota.
pub const KV_USAGE: &str = "kv.usage";
/// A one-shot timer delivered as an event.
pub const TIMER_SET_TIMEOUT: &str = "timer.set_timeout";
/// A repeating timer delivered as events.
pub const TIMER_SET_INTERVAL: &str = "timer.set_interval";
/// Cancels a timer.
pub const TIMER_CANCEL: &str = "timer.cancel";
/// Wall-clock and monotonic time.
pub const CLOCK_NOW: &str = "clock.now";
/// Random bytes.
pub const RANDOM_BYTES: &str = "random.bytes";
/// One configuration value.
pub const CONFIG_GET: &str = "config.get";
/// One outbound HTTP request.
pub const HTTP_FETCH: &str = "http.fetch";
/// The host path of a file as a WASI plugin sees it (`/data/…`), for native
/// and in-process plugins, which have no preopened directories.
pub const FS_RESOLVE: &str = "fs.resolve";

/// Every service name, in the order of the table above.
pub const ALL: &[&str] = &[
    KV_GET,
    KV_SET,
    KV_DELETE,
    KV_LIST,
    KV_USAGE,
    TIMER_SET_TIMEOUT,
    TIMER_SET_INTERVAL,
    TIMER_CANCEL,
    CLOCK_NOW,
    RANDOM_BYTES,
    CONFIG_GET,
    HTTP_FETCH,
    FS_RESOLVE,
];

/// The longest key in a plugin's store, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The most bytes one `random.bytes` call returns.
pub const MAX_RANDOM_BYTES: u32 = 64 * 1024;
/// The shortest timer period, in milliseconds (shorter ones are raised to it).
pub const MIN_TIMER_MS: u64 = 1;
/// The timer topic used when a [`TimerSet`] gives none.
pub const DEFAULT_TIMER_TOPIC: &str = "timer";

/// `{ key }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvKey {
    /// 1 to [`MAX_KEY_LEN`] bytes of UTF-8.
    pub key: String,
}

/// `{ key, value }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvSet {
    /// 1 to [`MAX_KEY_LEN`] bytes of UTF-8.
    pub key: String,
    /// The bytes to store (bin).
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// `{ prefix }`
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KvList {
    /// Only keys starting with this (empty: every key).
    #[serde(default)]
    pub prefix: String,
}

/// `{ used, quota }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvUsage {
    /// Bytes the store uses: each entry's key, value, the plugin's name and
    /// the host's per-entry overhead (128 bytes on a wasp host).
    pub used: u64,
    /// The most bytes the plugin may store.
    pub quota: u64,
}

/// `{ ms, topic, payload }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerSet {
    /// Delay (timeout) or period (interval) in milliseconds.
    pub ms: u64,
    /// The topic of the event the timer delivers (default [`DEFAULT_TIMER_TOPIC`]).
    #[serde(default)]
    pub topic: Option<String>,
    /// The event's payload, MessagePack (bin; default nil).
    #[serde(default, with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
}

/// `{ id }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerCancel {
    /// The id `timer.set_*` returned.
    pub id: u64,
}

/// `{ unix_nanos, monotonic_nanos }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockNow {
    /// Nanoseconds since 1970-01-01 UTC.
    pub unix_nanos: u64,
    /// Nanoseconds since an arbitrary point fixed for the host's lifetime.
    pub monotonic_nanos: u64,
}

/// `{ len }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomBytes {
    /// How many bytes, at most [`MAX_RANDOM_BYTES`].
    pub len: u32,
}

/// `{ path, write }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsResolve {
    /// An absolute path as a WASI plugin sees it: `/data/…` (its data
    /// directory) or under a directory of an `fs.*` grant.
    pub path: String,
    /// Whether the plugin means to write (needs `fs.write:`), or only to
    /// read (`fs.read:` or `fs.write:`).
    pub write: bool,
}

/// `{ key }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigGet {
    /// The configuration key.
    pub key: String,
}

/// `{ method, url, headers, body, timeout_ms }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, … (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Request headers as `[name, value]` pairs.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The request body (bin).
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Gives up after this many milliseconds (default: the host's).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
}

fn default_method() -> String {
    "GET".into()
}

/// `{ status, headers, body }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers as `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The response body (bin).
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}
