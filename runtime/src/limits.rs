//! Per-plugin resource limits.

use std::time::Duration;

/// Resource limits applied to each plugin.
///
/// The host sets defaults and caps on its builder; a plugin's manifest may
/// ask for other values within those caps (`docs/manifest.md`).
///
/// | knob | default |
/// | --- | --- |
/// | `max_module_size` | 32 MiB (a WebAssembly module or component file) |
/// | `max_native_size` | 256 MiB (a native library file) |
/// | `load_timeout` | 60 s to read, validate and compile one plugin |
/// | `max_memory` | 64 MiB of linear memory |
/// | `max_table_elements` | 20,000 elements per table |
/// | `max_message_size` | 16 MiB per payload |
/// | `cpu_budget` | 1 s of CPU per message |
/// | `mailbox_depth` | 4,096 queued messages |
/// | `mailbox_bytes` | 64 MiB of queued payloads |
/// | `request_timeout` | 30 s, when the caller gives none |
/// | `max_outstanding_requests` | 256 requests awaiting answers |
/// | `host_call_rate` | 1,000,000 host calls per second (burst: as many) |
/// | `log_rate` | 100 log lines per second (burst: as many) |
/// | `storage_quota` | 16 MiB of keys and values |
/// | `max_timers` | 256 active timers |
/// | `timer_bytes` | 1 MiB of payloads over the active timers |
/// | `max_instances` | 64 instances of one pooled plugin |
///
/// ```
/// use std::time::Duration;
/// use wasp_runtime::Limits;
/// let limits = Limits { cpu_budget: Duration::from_millis(200), ..Limits::default() };
/// assert_eq!(limits.max_memory, 64 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest module file accepted, in bytes: WebAssembly modules,
    /// components and shared library modules. Checked against the file's
    /// length before it is read.
    pub max_module_size: usize,
    /// The largest native library file accepted, in bytes; checked before
    /// it is read.
    pub max_native_size: usize,
    /// How long reading, validating and compiling one plugin may take
    /// (its `on_load` is not counted: that runs under `cpu_budget`). A
    /// load past it fails with [`Error::LoadTimedOut`](crate::Error::LoadTimedOut);
    /// a compilation already running cannot be stopped and finishes on its
    /// own thread, its result dropped.
    pub load_timeout: Duration,
    /// The largest linear memory a plugin may grow to, in bytes.
    pub max_memory: usize,
    /// The most elements a plugin's table may hold.
    pub max_table_elements: u32,
    /// The largest payload a plugin may send or receive, in bytes.
    pub max_message_size: usize,
    /// CPU time one message may take before the plugin is stopped
    /// (WASM only: native code cannot be preempted).
    pub cpu_budget: Duration,
    /// How many messages may wait in the mailbox; more are refused with `Busy`.
    pub mailbox_depth: usize,
    /// How many payload bytes may wait in the mailbox (for a pool: in all
    /// its instances' mailboxes and its backlog); more are refused with
    /// `Busy`. An empty mailbox takes one message of any allowed size.
    pub mailbox_bytes: usize,
    /// How long a request waits for its reply when the caller sets no timeout.
    pub request_timeout: Duration,
    /// How many of the plugin's own requests may await answers at once; more
    /// are refused with `Busy`.
    pub max_outstanding_requests: usize,
    /// Host calls per second (sends, publishes, requests, services); more are
    /// refused with `Busy` and count as violations.
    pub host_call_rate: u32,
    /// Log lines per second; more are dropped and counted.
    pub log_rate: u32,
    /// Bytes of keys and values the plugin may keep in its store.
    pub storage_quota: u64,
    /// Timers the plugin may have active at once.
    pub max_timers: usize,
    /// Payload bytes the plugin's active timers may hold together (each
    /// payload is stored once and shared by every event it fires); more
    /// are refused with `TooLarge`.
    pub timer_bytes: usize,
    /// The most instances one plugin may run behind its address (an
    /// instance pool, `docs/pools.md`): a manifest's `instances` above it,
    /// or `stateless = true` on a machine with more cores, gets this many.
    /// `1` turns pools off: every plugin runs one instance.
    pub max_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_module_size: 32 << 20,
            max_native_size: 256 << 20,
            load_timeout: Duration::from_secs(60),
            max_memory: 64 << 20,
            max_table_elements: 20_000,
            max_message_size: wasp_protocol::codec::DEFAULT_MAX_MESSAGE_SIZE,
            cpu_budget: Duration::from_secs(1),
            mailbox_depth: 4096,
            mailbox_bytes: 64 << 20,
            request_timeout: Duration::from_secs(30),
            max_outstanding_requests: 256,
            host_call_rate: 1_000_000,
            log_rate: 100,
            storage_quota: 16 << 20,
            max_timers: 256,
            timer_bytes: 1 << 20,
            max_instances: 64,
        }
    }
}
