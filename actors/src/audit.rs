//! The host's audit log: recent events, and a stream for subscribers.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;
use wasp_runtime::{AuditEvent, AuditKind};

/// How many recent events [`Host::audit_log`](crate::Host::audit_log) keeps.
pub(crate) const KEEP: usize = 1024;

pub(crate) struct AuditLog {
    tx: broadcast::Sender<AuditEvent>,
    recent: Mutex<VecDeque<AuditEvent>>,
}

impl AuditLog {
    pub(crate) fn new() -> Self {
        Self { tx: broadcast::channel(KEEP).0, recent: Mutex::new(VecDeque::with_capacity(64)) }
    }

    pub(crate) fn record(&self, event: AuditEvent) {
        let plugin = &event.plugin;
        match &event.kind {
            AuditKind::Granted { .. } | AuditKind::QuarantineLifted | AuditKind::Reloaded => {
                tracing::info!(target: "wasp::audit", plugin, "{}", event.message);
            }
            _ => tracing::warn!(target: "wasp::audit", plugin, "{}", event.message),
        }
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(event.clone());
        drop(recent);
        // No receivers is fine: the event is in the log.
        let _ = self.tx.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<AuditEvent> {
        self.tx.subscribe()
    }

    pub(crate) fn recent(&self) -> Vec<AuditEvent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}
