//! The host's audit log: recent events, and a stream for subscribers.

use parking_lot::Mutex;
use std::collections::VecDeque;

use tokio::sync::broadcast;
use wasp_runtime::{AuditEvent, AuditKind};

/// How many recent events [`Host::audit_log`](crate::Host::audit_log) keeps.
pub(crate) const KEEP: usize = 1024;

/// The most bytes the recent events may hold ([`AuditEvent::size`]): the
/// oldest go first when either bound is reached.
pub(crate) const KEEP_BYTES: usize = 1 << 20;

pub(crate) struct AuditLog {
    tx: broadcast::Sender<AuditEvent>,
    recent: Mutex<Recent>,
}

/// The ring of recent events and the bytes they hold.
#[derive(Default)]
struct Recent {
    events: VecDeque<AuditEvent>,
    bytes: usize,
}

impl Recent {
    /// Keeps `event`, dropping the oldest until both bounds hold.
    fn push(&mut self, event: AuditEvent) {
        self.bytes += event.size();
        self.events.push_back(event);
        while self.events.len() > KEEP || (self.bytes > KEEP_BYTES && self.events.len() > 1) {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.size();
            }
        }
    }
}

impl AuditLog {
    pub(crate) fn new() -> Self {
        Self { tx: broadcast::channel(KEEP).0, recent: Mutex::default() }
    }

    pub(crate) fn record(&self, event: AuditEvent) {
        // Bounded however it was made (a struct literal, one from a node).
        let event = event.bounded();
        let plugin = &event.plugin;
        match &event.kind {
            AuditKind::Granted { .. } | AuditKind::QuarantineLifted | AuditKind::Reloaded => {
                tracing::info!(target: "wasp::audit", plugin, "{}", event.message);
            }
            _ => tracing::warn!(target: "wasp::audit", plugin, "{}", event.message),
        }
        self.lock().push(event.clone());
        // No receivers is fine: the event is in the log.
        let _ = self.tx.send(event);
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Recent> {
        self.recent.lock()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<AuditEvent> {
        self.tx.subscribe()
    }

    pub(crate) fn recent(&self) -> Vec<AuditEvent> {
        self.lock().events.iter().cloned().collect()
    }

    /// The bytes the recent events hold.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use wasp_protocol::Permission;

    use super::*;

    #[test]
    fn the_ring_is_bounded_in_bytes_and_in_events() {
        let log = AuditLog::new();
        let huge = "a".repeat(1 << 20);
        for _ in 0..3000 {
            let kind = AuditKind::PermissionDenied { permission: Permission::Send(huge.clone()) };
            log.record(AuditEvent {
                at: std::time::SystemTime::now(),
                plugin: huge.clone(),
                kind,
                message: huge.clone(),
            });
        }
        let (bytes, kept) = (log.bytes(), log.recent());
        assert!(bytes <= KEEP_BYTES, "{bytes} bytes kept");
        assert_eq!(bytes, kept.iter().map(AuditEvent::size).sum::<usize>());
        assert!(kept.len() > 100 && kept.len() < KEEP, "{} events kept", kept.len());
        // Small events: the count bounds the ring.
        for i in 0..3000 {
            log.record(AuditEvent::new("p", AuditKind::Reloaded, format!("{i}")));
        }
        assert_eq!(log.recent().len(), KEEP);
        assert_eq!(log.recent().last().map(|e| e.message.as_str()), Some("2999"));
    }
}
