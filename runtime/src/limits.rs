//! Per-plugin resource limits.

use std::time::Duration;

/// Resource limits applied to each plugin.
///
/// | knob | default |
/// | --- | --- |
/// | `max_module_size` | 32 MiB |
/// | `max_memory` | 64 MiB of linear memory |
/// | `max_message_size` | 16 MiB per payload |
/// | `cpu_budget` | 1 s of CPU per message |
/// | `mailbox_depth` | 4,096 queued messages |
/// | `request_timeout` | 30 s, when the caller gives none |
///
/// ```
/// use std::time::Duration;
/// use wasp_runtime::Limits;
/// let limits = Limits { cpu_budget: Duration::from_millis(200), ..Limits::default() };
/// assert_eq!(limits.max_memory, 64 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest module file accepted, in bytes.
    pub max_module_size: usize,
    /// The largest linear memory a plugin may grow to, in bytes.
    pub max_memory: usize,
    /// The largest payload a plugin may send or receive, in bytes.
    pub max_message_size: usize,
    /// CPU time one message may take before the plugin is stopped
    /// (WASM only: native code cannot be preempted).
    pub cpu_budget: Duration,
    /// How many messages may wait in the mailbox; more are refused with `Busy`.
    pub mailbox_depth: usize,
    /// How long a request waits for its reply when the caller sets no timeout.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_module_size: 32 << 20,
            max_memory: 64 << 20,
            max_message_size: wasp_protocol::codec::DEFAULT_MAX_MESSAGE_SIZE,
            cpu_budget: Duration::from_secs(1),
            mailbox_depth: 4096,
            request_timeout: Duration::from_secs(30),
        }
    }
}
