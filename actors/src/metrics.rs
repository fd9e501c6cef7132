//! Counters the host exposes about its plugins and its broker.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Per-plugin counters and health, shared by its route and its actor.
#[derive(Debug, Default)]
pub(crate) struct PluginCounters {
    pub(crate) handled: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) busy_nanos: AtomicU64,
    pub(crate) memory: AtomicU64,
    pub(crate) memory_peak: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) violations: AtomicU64,
    pub(crate) dropped: AtomicU64,
    state: AtomicU8,
    /// Recent faults and violations, for the supervision thresholds.
    pub(crate) recent_failures: Mutex<VecDeque<Instant>>,
    pub(crate) recent_violations: Mutex<VecDeque<Instant>>,
    pub(crate) quarantine_reason: Mutex<Option<String>>,
}

impl PluginCounters {
    pub(crate) fn state(&self) -> PluginState {
        match self.state.load(Ordering::Acquire) {
            1 => PluginState::Restarting,
            2 => PluginState::Quarantined,
            _ => PluginState::Running,
        }
    }

    pub(crate) fn set_state(&self, state: PluginState) {
        let n = match state {
            PluginState::Running => 0,
            PluginState::Restarting => 1,
            PluginState::Quarantined => 2,
        };
        self.state.store(n, Ordering::Release);
    }

    /// Moves to `Quarantined` unless already there; says whether it moved.
    pub(crate) fn enter_quarantine(&self) -> bool {
        self.state.swap(2, Ordering::AcqRel) != 2
    }

    pub(crate) fn record_memory(&self, bytes: u64) {
        self.memory.store(bytes, Ordering::Relaxed);
        self.memory_peak.fetch_max(bytes, Ordering::Relaxed);
    }
}

/// Records one event now in `window`, forgets those older than `within`,
/// and returns how many remain.
pub(crate) fn record(window: &Mutex<VecDeque<Instant>>, within: Duration) -> u32 {
    let mut w = window.lock();
    let now = Instant::now();
    w.push_back(now);
    while w.front().is_some_and(|&t| now.duration_since(t) > within) {
        w.pop_front();
    }
    // Never keep more than the largest threshold could need.
    while w.len() > 100_000 {
        w.pop_front();
    }
    w.len() as u32
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
    pub(crate) audit_events: AtomicU64,
}

/// Whether a plugin is taking messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PluginState {
    /// Taking messages.
    Running,
    /// Its instance faulted and is being restarted after a backoff delay;
    /// messages wait in its mailbox for the new instance.
    Restarting,
    /// Too many faults or violations: requests are answered `unavailable`
    /// at once until the host lifts the quarantine
    /// ([`Host::lift_quarantine`](crate::Host::lift_quarantine)).
    Quarantined,
}

/// A snapshot of one plugin, from [`Host::plugins`](crate::Host::plugins).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin's address.
    pub name: String,
    /// The form of code it runs (serialized as its word: `wasm`,
    /// `component`, `native`, `in-process` or `hybrid`).
    pub kind: wasp_runtime::PluginKind,
    /// The version from its manifest (`0.0.0` without one).
    pub version: String,
    /// Running, restarting or quarantined.
    pub state: PluginState,
    /// Why it is quarantined, when it is.
    pub quarantine_reason: Option<String>,
    /// The permissions it holds now.
    pub permissions: Vec<String>,
    /// Permissions revoked from it that one it holds still covers: refused
    /// all the same, exceptions to those ([`Host::revoke`](crate::Host::revoke)).
    pub exceptions: Vec<String>,
    /// Whether its manifest names a UI folder (`ui`), served to a Tauri
    /// app's panels; see [`Host::ui_dir`](crate::Host::ui_dir).
    pub has_ui: bool,
    /// Messages waiting in its mailbox (for a pool: waiting for any of
    /// its instances, in their mailboxes or its backlog).
    pub queued: u64,
    /// Payload bytes waiting in its mailbox (bounded by its
    /// [`Limits::mailbox_bytes`](wasp_runtime::Limits::mailbox_bytes)).
    pub queued_bytes: u64,
    /// How many instances run behind its address: 1, or the size of its
    /// instance pool (`docs/pools.md`).
    pub instances: usize,
    /// For a pool, how many of its instances are idle now; `None` for a
    /// single instance.
    pub idle_instances: Option<usize>,
    /// Messages it has handled.
    pub handled: u64,
    /// Traps, panics and spent budgets.
    pub faults: u64,
    /// Times its instance was replaced after a fault.
    pub restarts: u64,
    /// Messages refused because its mailbox was full (or too large for it).
    pub refused: u64,
    /// Requests that expired in its mailbox before it got to them.
    pub expired: u64,
    /// Host calls refused for want of a permission.
    pub denied: u64,
    /// Denied calls, exceeded limits and broken ABI calls, in total.
    pub violations: u64,
    /// Events that reached it while quarantined, and were dropped (counted
    /// as dead letters too).
    pub dropped: u64,
    /// Time spent handling messages, in microseconds (including time a
    /// handler spent waiting on its own requests).
    pub busy_micros: u64,
    /// Linear memory size after the last message, in bytes (WASM only).
    pub memory_bytes: u64,
    /// The largest linear memory seen, in bytes (WASM only).
    pub memory_peak_bytes: u64,
    /// Log lines written on its account: its own, and the host's about
    /// messages it caused that could not be delivered.
    pub log_lines: u64,
    /// Log lines on its account dropped for its
    /// [`Limits::log_rate`](wasp_runtime::Limits::log_rate).
    pub log_lines_dropped: u64,
}

/// Counters of the whole host, from [`Host::metrics`](crate::Host::metrics).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
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
    /// Messages that could not be delivered (full or missing subscriber,
    /// quarantined plugin).
    pub dead_letters: u64,
    /// Requests refused because waiting would have deadlocked.
    pub deadlocks_refused: u64,
    /// Audit events recorded.
    pub audit_events: u64,
    /// Bytes the audit log's recent events hold
    /// ([`Host::audit_log`](crate::Host::audit_log); at most 1 MiB).
    pub audit_log_bytes: u64,
    /// Every plugin's counters, sorted by name (as [`Host::plugins`](crate::Host::plugins)).
    pub plugins: Vec<PluginInfo>,
}

impl BrokerCounters {
    pub(crate) fn snapshot(&self, plugins: Vec<PluginInfo>) -> HostMetrics {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HostMetrics {
            sent: r(&self.sent),
            published: r(&self.published),
            requests: r(&self.requests),
            late_replies: r(&self.late_replies),
            dead_letters: r(&self.dead_letters),
            deadlocks_refused: r(&self.deadlocks_refused),
            audit_events: r(&self.audit_events),
            audit_log_bytes: 0,
            plugins,
        }
    }
}
