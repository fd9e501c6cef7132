//! Audit events: what a plugin tried that the host refused, and what the
//! host did about it.
//!
//! An event's text is bounded when it is made ([`AuditEvent::new`]) and
//! again when the host records it ([`AuditEvent::bounded`]): a plugin that
//! names a 4 MiB address gets an event of at most a few KiB.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use wasp_protocol::{ErrorCode, Permission};

use crate::text::{truncate, truncated};

/// The longest message an [`AuditEvent`] keeps, in bytes; longer ones are
/// cut at a character boundary, ending in `… (N bytes cut)`.
pub const MAX_AUDIT_MESSAGE: usize = 1024;

/// The longest plugin name, limit, call, reason, decider or permission
/// target an [`AuditEvent`] keeps, in bytes.
pub const MAX_AUDIT_FIELD: usize = 256;

/// One security-relevant event about a plugin.
///
/// Its text is bounded: [`MAX_AUDIT_MESSAGE`] bytes of message,
/// [`MAX_AUDIT_FIELD`] bytes for each other string.
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
    /// An event happening now, its text bounded ([`AuditEvent::bounded`]).
    pub fn new(plugin: impl Into<String>, kind: AuditKind, message: impl Into<String>) -> Self {
        Self { at: SystemTime::now(), plugin: plugin.into(), kind, message: message.into() }.bounded()
    }

    /// The event with every string cut to its bound: the message to
    /// [`MAX_AUDIT_MESSAGE`] bytes, the rest to [`MAX_AUDIT_FIELD`]. The host
    /// applies it to every event it records, however it was made (a struct
    /// literal, or one decoded from another process).
    pub fn bounded(mut self) -> Self {
        truncate(&mut self.message, MAX_AUDIT_MESSAGE);
        truncate(&mut self.plugin, MAX_AUDIT_FIELD);
        self.kind = self.kind.bounded();
        self
    }

    /// The bytes the event holds, its own size included: what the host's
    /// audit ring counts against its byte bound.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.message.len() + self.plugin.len() + self.kind.text_len()
    }
}

impl AuditKind {
    /// The kind with its strings cut to [`MAX_AUDIT_FIELD`] bytes.
    fn bounded(self) -> Self {
        let field = |mut s: String| {
            truncate(&mut s, MAX_AUDIT_FIELD);
            s
        };
        match self {
            Self::PermissionDenied { permission } => Self::PermissionDenied { permission: bounded(permission) },
            Self::LimitExceeded { limit } => Self::LimitExceeded { limit: field(limit) },
            Self::InvalidCall { call } => Self::InvalidCall { call: field(call) },
            Self::Quarantined { reason } => Self::Quarantined { reason: field(reason) },
            Self::Granted { permission, by } => Self::Granted { permission: bounded(permission), by: field(by) },
            Self::Revoked { permission, by } => Self::Revoked { permission: bounded(permission), by: field(by) },
            other => other,
        }
    }

    /// Bytes of text the kind holds beyond its own size.
    fn text_len(&self) -> usize {
        match self {
            Self::PermissionDenied { permission } => permission.target().map_or(0, str::len),
            Self::LimitExceeded { limit: s } | Self::InvalidCall { call: s } | Self::Quarantined { reason: s } => {
                s.len()
            }
            Self::Granted { permission, by } | Self::Revoked { permission, by } => {
                permission.target().map_or(0, str::len) + by.len()
            }
            _ => 0,
        }
    }
}

/// `permission` with its target cut to [`MAX_AUDIT_FIELD`] bytes.
fn bounded(permission: Permission) -> Permission {
    match permission.target() {
        Some(target) if target.len() > MAX_AUDIT_FIELD => {
            let target = truncated(target, MAX_AUDIT_FIELD);
            Permission::from_parts(permission.kind(), Some(&target)).unwrap_or(permission)
        }
        _ => permission,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_of_an_event_is_bounded() {
        let huge = "a".repeat(4 << 20);
        let kinds = [
            AuditKind::PermissionDenied { permission: Permission::Send(huge.clone()) },
            AuditKind::LimitExceeded { limit: huge.clone() },
            AuditKind::InvalidCall { call: huge.clone() },
            AuditKind::Quarantined { reason: huge.clone() },
            AuditKind::Granted { permission: Permission::FsRead(huge.clone()), by: huge.clone() },
            AuditKind::Revoked { permission: Permission::Publish(huge.clone()), by: huge.clone() },
        ];
        for kind in kinds {
            let e = AuditEvent::new(huge.clone(), kind, huge.clone());
            assert!(e.message.len() <= MAX_AUDIT_MESSAGE && e.plugin.len() <= MAX_AUDIT_FIELD);
            assert!(e.size() <= std::mem::size_of::<AuditEvent>() + MAX_AUDIT_MESSAGE + 3 * MAX_AUDIT_FIELD);
            assert!(e.message.ends_with("bytes cut)"), "{}", e.message);
        }
        // A struct literal is bounded when recorded.
        let raw = AuditEvent { at: SystemTime::now(), plugin: "p".into(), kind: AuditKind::Reloaded, message: huge };
        assert!(raw.bounded().message.len() <= MAX_AUDIT_MESSAGE);
    }

    #[test]
    fn a_bounded_permission_keeps_its_kind() {
        let p = bounded(Permission::FsWrite(format!("/{}", "d".repeat(1000))));
        assert_eq!(p.kind(), "fs.write");
        assert!(p.target().is_some_and(|t| t.len() <= MAX_AUDIT_FIELD && t.starts_with("/ddd")));
    }
}
