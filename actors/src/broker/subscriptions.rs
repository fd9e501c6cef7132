//! Topic subscriptions: who hears a publish or a plugin's send to the host
//! (plugins, the host, UIs, panels acting as a plugin), checked against the
//! subscriber's grants of the moment at delivery ([`rules::delivery`]), and
//! a plugin's subscriptions kept across a reload.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::mpsc;
use wasp_protocol::{ErrorCode, HOST, MessageKind, Permission, WireError};
use wasp_runtime::rules::{self, Delivery};
use wasp_runtime::{AuditEvent, AuditKind, Inbound};

use super::{Broker, MAX_SUBSCRIPTIONS};
use crate::mailbox::Bound;
use crate::tap::{TapKind, TapOutcome};
use crate::topics::{Event, EventBudget, HostFilter, Subscriber, Subscription, topic_matches};

/// Where an event for subscribers comes from, which decides who hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A publish: host subscriptions (the host's own, UI ones, and panels
    /// acting as a plugin that may follow the topic) and plugins
    /// subscribed to the topic.
    Publish,
    /// A plugin's `send` to `host`: the host's own and UI subscriptions
    /// only. It is addressed to the host; a panel acting as another plugin
    /// never reads it, and plugins never do.
    SentToHost,
}

impl Broker {
    /// A plugin's subscription to `pattern` (its permission checked):
    /// `busy` past [`MAX_SUBSCRIPTIONS`].
    pub(crate) fn subscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        let mut subs = self.subscriptions.write();
        let mut held = 0;
        for s in subs.iter().filter(|s| s.is_plugin(from)) {
            if s.pattern == pattern {
                return Ok(());
            }
            held += 1;
        }
        if held >= MAX_SUBSCRIPTIONS {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("plugin `{from}` already holds {held} subscriptions, the most a plugin may hold"),
            ));
        }
        subs.push(Subscription { pattern: pattern.to_owned(), subscriber: Subscriber::Plugin(from.clone()) });
        Ok(())
    }

    /// Ends a plugin's subscription to `pattern`, if it held one.
    pub(crate) fn unsubscribe(&self, from: &str, pattern: &str) {
        self.subscriptions.write().retain(|s| !(s.pattern == pattern && s.is_plugin(from)));
    }

    /// Delivers an event to the subscribers matching `topic` that may hear
    /// an event of that `origin`. The payload is shared by the plugins'
    /// mailboxes; a subscriber with no room for it gets nothing built, and
    /// the line about it is on the sender's log budget.
    pub(super) fn to_host(&self, from: &str, topic: &str, payload: Vec<u8>, origin: Origin) {
        let subs = self.subscriptions.read();
        let kind = match origin {
            Origin::Publish => TapKind::Event,
            Origin::SentToHost => TapKind::Send,
        };
        let size = payload.len();
        let payload = Bytes::from(payload);
        let (mut closed, mut revoked) = (Vec::new(), Vec::new());
        for sub in subs.iter().filter(|s| topic_matches(&s.pattern, topic)) {
            match &sub.subscriber {
                Subscriber::Host { filter: HostFilter::Ui, .. } if !self.may_reach_ui(from, topic) => {}
                // A message to the host is the host's, not any plugin's to read.
                Subscriber::Host { filter: HostFilter::AsPlugin(_), .. } if origin == Origin::SentToHost => {}
                Subscriber::Host { filter: HostFilter::AsPlugin(plugin), .. } if !self.may_follow(plugin, topic) => {}
                Subscriber::Host { id, tx, budget, .. } => {
                    if tx.is_closed() {
                        closed.push(*id);
                    } else if tx.capacity() == 0 || !budget.take(size) {
                        let error = WireError::new(ErrorCode::Busy, "a host subscriber is full; the event was dropped");
                        self.refused(kind, from, HOST, topic, size, &error, from);
                    } else {
                        let event = Event { from: from.to_owned(), topic: topic.to_owned(), payload: payload.to_vec() };
                        match tx.try_send(event) {
                            Ok(()) => self.tap_to_host(kind, from, topic, size, TapOutcome::Ok),
                            Err(_) => budget.give(size),
                        }
                    }
                }
                Subscriber::Plugin(name) if origin == Origin::Publish => {
                    let Some(route) = self.route(name) else { continue };
                    match rules::delivery(&route.grants, &sub.pattern, topic) {
                        Delivery::Deliver => {}
                        Delivery::Skip => continue,
                        Delivery::Ended => {
                            revoked.push((name.clone(), sub.pattern.clone(), Permission::Subscribe(topic.to_owned())));
                            continue;
                        }
                    }
                    let room = match route.reserve(name, size, Bound::Bounded) {
                        Ok(room) => room,
                        Err(error) => {
                            self.refused(TapKind::Event, from, name, topic, size, &error, from);
                            continue;
                        }
                    };
                    let inbound = Inbound {
                        kind: MessageKind::Event,
                        id: self.next_id(),
                        from: Arc::from(from),
                        topic: Arc::from(topic),
                        payload: payload.clone(),
                        reply: None,
                        deadline: None,
                    };
                    if let Err(u) = self.push(&route, name, inbound, room, TapKind::Event, None) {
                        self.refused(TapKind::Event, from, name, topic, size, &u.error, from);
                    }
                }
                Subscriber::Plugin(_) => {}
            }
        }
        drop(subs);
        if !closed.is_empty() {
            self.remove_host_subscriptions(&closed);
        }
        for (plugin, pattern, wanted) in revoked {
            // A grant revoked after subscribing: the subscription ends here.
            self.unsubscribe(&plugin, &pattern);
            let message =
                format!("plugin `{plugin}` no longer holds `{wanted}`; its subscription to `{pattern}` was removed");
            self.record_audit(AuditEvent::new(&*plugin, AuditKind::PermissionDenied { permission: wanted }, message));
        }
    }

    /// Records an event handed to a host subscriber, if a tap is open.
    fn tap_to_host(&self, kind: TapKind, from: &str, topic: &str, size: usize, outcome: TapOutcome) {
        if self.tap.is_open() {
            let id = self.next_id();
            self.tap.to_host(kind, id, from, topic, size, outcome);
        }
    }

    /// Whether an event may reach a UI subscriber: the host's own, or from a
    /// plugin holding `ui:<topic>`.
    fn may_reach_ui(&self, from: &str, topic: &str) -> bool {
        from == HOST || self.route(from).is_some_and(|r| rules::reaches_ui(&r.grants, topic))
    }

    /// Publishes `payload` on `topic` as `from` (its permission checked).
    pub(crate) fn publish(&self, from: &str, topic: &str, payload: Vec<u8>) {
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        self.to_host(from, topic, payload, Origin::Publish);
    }

    /// Whether a panel acting as `plugin` may see an event on `topic`: its
    /// plugin still holds `subscribe:` or `publish:` for the topic.
    fn may_follow(&self, plugin: &str, topic: &str) -> bool {
        self.route(plugin).is_some_and(|r| rules::panel_follows(&r.grants, topic))
    }

    /// A host subscription to `pattern`: at most `capacity` events and
    /// `max_bytes` payload bytes wait in it (one event larger than that
    /// only when it is empty); more are dropped and counted.
    pub(crate) fn subscribe_host(
        &self,
        pattern: &str,
        capacity: usize,
        max_bytes: usize,
        filter: HostFilter,
    ) -> (u64, mpsc::Receiver<Event>, Arc<EventBudget>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let budget = Arc::new(EventBudget::new(max_bytes));
        let id = self.next_id();
        let subscriber = Subscriber::Host { id, tx, filter, budget: budget.clone() };
        self.subscriptions.write().push(Subscription { pattern: pattern.to_owned(), subscriber });
        (id, rx, budget)
    }

    pub(crate) fn remove_host_subscriptions(&self, ids: &[u64]) {
        self.subscriptions
            .write()
            .retain(|s| !matches!(&s.subscriber, Subscriber::Host { id, .. } if ids.contains(id)));
    }

    /// Takes a plugin's own topic subscriptions away (its new code is about
    /// to subscribe afresh) and returns them, to put back with
    /// [`Broker::restore_plugin_subscriptions`] if the new code fails.
    pub(crate) fn take_plugin_subscriptions(&self, name: &str) -> Vec<Subscription> {
        let mut subs = self.subscriptions.write();
        let (taken, kept) = std::mem::take(&mut *subs).into_iter().partition(|s| s.is_plugin(name));
        *subs = kept;
        taken
    }

    /// Replaces a plugin's own subscriptions with `taken`.
    pub(crate) fn restore_plugin_subscriptions(&self, name: &str, taken: Vec<Subscription>) {
        let mut subs = self.subscriptions.write();
        subs.retain(|s| !s.is_plugin(name));
        subs.extend(taken);
    }
}
