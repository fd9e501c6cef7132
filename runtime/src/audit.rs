//! Audit events: what a plugin tried that the host refused, and what the
//! host did about it.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use wasp_protocol::{ErrorCode, Permission};

/// One security-relevant event about a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    pub at: SystemTime,
    /// The plugin concerned.
    pub plugin: String,
    /// What happened.
    pub kind: AuditKind,
    /// A sentence for logs and UIs.
    pub message: String,
}

/// What an [`AuditEvent`] records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditKind {
    /// A host call or route was refused for want of a permission.
    PermissionDenied {
        /// What it would have needed.
        permission: Permission,
    },
    /// A limit was hit (rate, outstanding requests, quota, memory, …).
    LimitExceeded {
        /// Which limit.
        limit: String,
    },
    /// The plugin broke the ABI: a pointer outside its memory, a bad
    /// argument, text that is not UTF-8.
    InvalidCall {
        /// The import or service called.
        call: String,
    },
    /// The plugin trapped, panicked or spent its CPU budget.
    Fault {
        /// The error code its caller got.
        code: ErrorCode,
    },
    /// A native plugin's call ran past its CPU budget: the caller was
    /// answered `deadline_exceeded`, and the thread, which cannot be
    /// stopped, runs on until the call returns.
    Overrun {
        /// The budget, in milliseconds.
        budget_ms: u64,
        /// How many of the plugin's threads now run past their budget.
        stranded: usize,
    },
    /// A plugin was refused at load: its module or manifest failed
    /// validation (a forbidden import, a broken ABI, an unsupported version).
    LoadRefused {
        /// The error code the loader answered.
        code: ErrorCode,
    },
    /// The plugin's instance was replaced after a fault.
    Restarted {
        /// Failures within the supervision window, this one included.
        failures: u32,
        /// How long the restart waited.
        #[serde(with = "millis")]
        delay: Duration,
    },
    /// Too many failures or violations: the plugin stops taking messages
    /// until the host lifts the quarantine.
    Quarantined {
        /// Why.
        reason: String,
    },
    /// The host lifted the quarantine.
    QuarantineLifted,
    /// The host replaced the plugin's code with a new build (a reload);
    /// no queued message was lost.
    Reloaded,
    /// A reload failed (the new code did not build, validate or start, or
    /// the old instance refused to hand over its state): the old code runs
    /// on.
    ReloadFailed {
        /// The error code the reload failed with.
        code: ErrorCode,
    },
    /// A permission was granted (at load, or at run time).
    Granted {
        /// The permission.
        permission: Permission,
        /// Who decided: `policy`, `ask`, `stored` or `host`.
        by: String,
    },
    /// A plugin loaded under a name it had loaded under before, with
    /// another identity (another module, library or set of components, not
    /// vouched for by the trusted publisher that signed the last): the
    /// decisions remembered about the old identity do not apply.
    IdentityChanged {
        /// The identity key it had (`blake3:…` or `ed25519:…`).
        previous: String,
        /// The identity key it has now.
        current: String,
    },
    /// The plugin's bundle carries a publisher signature that matches it.
    Signed {
        /// The publisher key (`ed25519:…`).
        publisher: String,
        /// Whether the host trusts that key (if not, the plugin is known
        /// by its code, as an unsigned one).
        trusted: bool,
    },
    /// A requested permission was refused at load, or revoked at run time.
    Revoked {
        /// The permission.
        permission: Permission,
        /// Who decided: `policy`, `ask`, `stored`, `default`, `unanswered` (an asked question timed out; not remembered) or `host`.
        by: String,
    },
}

impl AuditKind {
    /// Whether the event counts against the plugin's violation threshold.
    pub fn is_violation(&self) -> bool {
        matches!(self, Self::PermissionDenied { .. } | Self::LimitExceeded { .. } | Self::InvalidCall { .. })
    }
}

impl AuditEvent {
    /// An event happening now.
    pub fn new(plugin: impl Into<String>, kind: AuditKind, message: impl Into<String>) -> Self {
        Self { at: SystemTime::now(), plugin: plugin.into(), kind, message: message.into() }
    }
}

mod millis {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}
