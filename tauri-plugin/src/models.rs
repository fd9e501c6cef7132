//! What the commands return and the events carry, as the frontend sees them
//! (camelCase JSON; the TypeScript types in `guest-js/index.ts` match).

use serde::Serialize;
use wasp_actors::{PluginInfo, PluginRef, PluginState};
use wasp_runtime::AuditEvent;

/// A loaded plugin, from the `plugins` command.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PluginEntry {
    /// Its address.
    pub name: String,
    /// `wasm`, `native` or `in-process`.
    pub kind: String,
    /// The version from its manifest.
    pub version: String,
    /// `running`, `restarting` or `quarantined`.
    pub state: &'static str,
    /// Why it is quarantined, when it is.
    pub quarantine_reason: Option<String>,
    /// The permissions it holds now.
    pub permissions: Vec<String>,
    /// Whether it ships a UI panel (served at `wasp-ui://localhost/<name>/`).
    pub has_ui: bool,
    /// Its counters.
    pub metrics: PluginMetrics,
}

/// One plugin's counters (see [`wasp_actors::PluginInfo`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PluginMetrics {
    /// Messages waiting in its mailbox.
    pub queued: u64,
    /// Messages handled.
    pub handled: u64,
    /// Traps, panics and spent budgets.
    pub faults: u64,
    /// Instances replaced after a fault, or restarted.
    pub restarts: u64,
    /// Messages refused because the mailbox was full.
    pub refused: u64,
    /// Requests that expired in the mailbox.
    pub expired: u64,
    /// Host calls refused for want of a permission.
    pub denied: u64,
    /// Denied calls, exceeded limits and broken ABI calls.
    pub violations: u64,
    /// Events dropped while quarantined.
    pub dropped: u64,
    /// Time spent handling messages, in microseconds.
    pub busy_micros: u64,
    /// Linear memory after the last message (WASM only).
    pub memory_bytes: u64,
    /// The most linear memory it has held.
    pub memory_peak_bytes: u64,
}

impl From<PluginInfo> for PluginEntry {
    fn from(p: PluginInfo) -> Self {
        Self {
            state: match p.state {
                PluginState::Running => "running",
                PluginState::Restarting => "restarting",
                PluginState::Quarantined => "quarantined",
                _ => "unknown",
            },
            metrics: PluginMetrics {
                queued: p.queued,
                handled: p.handled,
                faults: p.faults,
                restarts: p.restarts,
                refused: p.refused,
                expired: p.expired,
                denied: p.denied,
                violations: p.violations,
                dropped: p.dropped,
                busy_micros: p.busy_micros,
                memory_bytes: p.memory_bytes,
                memory_peak_bytes: p.memory_peak_bytes,
            },
            name: p.name,
            kind: p.kind.to_string(),
            version: p.version,
            quarantine_reason: p.quarantine_reason,
            permissions: p.permissions,
            has_ui: p.has_ui,
        }
    }
}

/// A plugin just loaded or reloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Loaded {
    /// Its address.
    pub name: String,
    /// `wasm`, `native`, `in-process` or `hybrid`.
    pub kind: String,
    /// The requested permissions it was granted.
    pub granted: Vec<String>,
    /// The requested permissions it was refused.
    pub refused: Vec<String>,
    /// For a hybrid plugin, its other components' addresses.
    pub components: Vec<String>,
}

impl From<PluginRef> for Loaded {
    fn from(p: PluginRef) -> Self {
        Self {
            name: p.name().to_owned(),
            kind: p.kind().to_string(),
            granted: p.granted().iter().map(ToString::to_string).collect(),
            refused: p.refused().iter().map(ToString::to_string).collect(),
            components: p.components().to_vec(),
        }
    }
}

/// A permission question for the user (with [`Ask::Webview`](crate::Ask::Webview)):
/// the `wasp://permission` event carries it, and `pending_permissions` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PermissionAsk {
    /// Answer with `answer_permission { id, allow }`.
    pub id: u64,
    /// The plugin asking.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The permission, as written in manifests (`storage`, `net:example.com`).
    pub permission: String,
    /// The plugin's description from its manifest.
    pub description: Option<String>,
    /// Who the plugin is: the key its answers are remembered under
    /// (`blake3:…` of its code, or `ed25519:…` of the trusted publisher
    /// that signed it).
    pub identity: String,
    /// The trusted publisher key that signed its bundle, if one did.
    pub publisher: Option<String>,
    /// Set when a plugin of this name loaded before as someone else (its
    /// code changed): the identity it had then. Say so: "`notes` changed
    /// since you last allowed it".
    pub previous_identity: Option<String>,
}

/// An audit event, from the `audit` command.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditEntry {
    /// The plugin concerned.
    pub plugin: String,
    /// What happened: `{ "type": "permission_denied", "permission": … }` and so on.
    pub kind: serde_json::Value,
    /// A sentence for people.
    pub message: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl From<AuditEvent> for AuditEntry {
    fn from(e: AuditEvent) -> Self {
        let at = e.at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Self { kind: serde_json::to_value(&e.kind).unwrap_or_default(), plugin: e.plugin, message: e.message, at }
    }
}

/// A plugin event delivered to a webview subscription, as a message on the
/// subscription's `tauri::ipc::Channel`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WaspEvent {
    /// The subscription it matched.
    pub subscription: u64,
    /// The topic it was published on (or sent with, to `host`).
    pub topic: String,
    /// The plugin that published it (`host` for the host's own).
    pub from: String,
    /// The payload, converted from MessagePack.
    pub payload: serde_json::Value,
}

/// A new webview subscription, from the `subscribe` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Subscribed {
    /// Pass it to `unsubscribe`; events carry it as `subscription`.
    pub id: u64,
}

/// A plugin folder that did not load when the app started (autoload), or a
/// plugin directory that could not be read: from
/// [`Wasp::load_failures`](crate::Wasp::load_failures), the
/// `load_failures` command and the event `wasp://load-failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LoadFailure {
    /// The plugin folder, or the plugin directory that could not be read.
    pub path: String,
    /// The stable error code (`not_found`, `permission_denied`,
    /// `invalid_argument`, `unavailable`, …).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}
