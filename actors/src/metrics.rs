//! Counters the host exposes about its plugins and its broker.

use std::sync::atomic::{AtomicU64, Ordering};

/// Per-plugin counters, updated by its actor.
#[derive(Debug, Default)]
pub(crate) struct PluginCounters {
    pub(crate) handled: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) busy_nanos: AtomicU64,
    pub(crate) memory: AtomicU64,
    pub(crate) failed: std::sync::atomic::AtomicBool,
}

/// Broker-wide counters.
#[derive(Debug, Default)]
pub(crate) struct BrokerCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) late_replies: AtomicU64,
    pub(crate) dead_letters: AtomicU64,
    pub(crate) deadlocks_refused: AtomicU64,
}

/// Whether a plugin is taking messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PluginState {
    /// Taking messages.
    Running,
    /// Its instance could not be restarted after a fault; requests are
    /// answered `unavailable`.
    Failed,
}

/// A snapshot of one plugin, from [`Host::plugins`](crate::Host::plugins).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin's address.
    pub name: String,
    /// `wasm` or `in-process`.
    pub kind: &'static str,
    /// Running or failed.
    pub state: PluginState,
    /// Messages waiting in its mailbox.
    pub queued: u64,
    /// Messages it has handled.
    pub handled: u64,
    /// Traps, panics and spent budgets.
    pub faults: u64,
    /// Times its instance was replaced after a fault.
    pub restarts: u64,
    /// Messages refused because its mailbox was full.
    pub refused: u64,
    /// Requests that expired in its mailbox before it got to them.
    pub expired: u64,
    /// Time spent handling messages, in microseconds.
    pub busy_micros: u64,
    /// Linear memory size after the last message, in bytes (WASM only).
    pub memory_bytes: u64,
}

/// Broker-wide counters, from [`Host::metrics`](crate::Host::metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct HostMetrics {
    /// One-way sends routed.
    pub sent: u64,
    /// Publishes routed.
    pub published: u64,
    /// Requests from the host.
    pub requests: u64,
    /// Answers that arrived after their caller gave up: discarded, counted here.
    pub late_replies: u64,
    /// Messages that could not be delivered (full or missing subscriber).
    pub dead_letters: u64,
    /// Requests refused because waiting would have deadlocked.
    pub deadlocks_refused: u64,
}

impl BrokerCounters {
    pub(crate) fn snapshot(&self) -> HostMetrics {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HostMetrics {
            sent: r(&self.sent),
            published: r(&self.published),
            requests: r(&self.requests),
            late_replies: r(&self.late_replies),
            dead_letters: r(&self.dead_letters),
            deadlocks_refused: r(&self.deadlocks_refused),
        }
    }
}
