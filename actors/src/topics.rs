//! Topic subscriptions: who hears a publish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// An event delivered to the host: a plugin's publish on a subscribed topic,
/// or a plugin's `send` to `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The plugin that sent it.
    pub from: String,
    /// Its topic.
    pub topic: String,
    /// MessagePack bytes.
    pub payload: Vec<u8>,
}

impl Event {
    /// Decodes the payload.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, wasp_protocol::WireError> {
        Ok(wasp_protocol::codec::from_payload(&self.payload)?)
    }
}

/// Whether `topic` matches `pattern`: equal, or `pattern` ends in `*` and
/// `topic` starts with what precedes it.
///
/// ```
/// # use wasp_actors::topic_matches;
/// assert!(topic_matches("sensor.*", "sensor.temp"));
/// assert!(topic_matches("*", "anything"));
/// assert!(!topic_matches("sensor.temp", "sensor.temperature"));
/// ```
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => topic.starts_with(prefix),
        None => pattern == topic,
    }
}

#[derive(Clone)]
pub(crate) enum Subscriber {
    Plugin(Arc<str>),
    Host { id: u64, tx: mpsc::Sender<Event>, filter: HostFilter, budget: Arc<EventBudget> },
}

/// The payload bytes waiting in one host subscription, and its bound
/// ([`HostBuilder::event_bytes`](crate::HostBuilder::event_bytes)).
#[derive(Debug)]
pub(crate) struct EventBudget {
    bytes: AtomicUsize,
    max: usize,
}

impl EventBudget {
    pub(crate) fn new(max: usize) -> Self {
        Self { bytes: AtomicUsize::new(0), max }
    }

    /// Takes room for `size` bytes, if there is room (an empty subscription
    /// takes one event of any size).
    pub(crate) fn take(&self, size: usize) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held == 0 || held.saturating_add(size) <= self.max).then(|| held.saturating_add(size))
            })
            .is_ok()
    }

    /// Gives back the room of an event taken out (or never sent).
    pub(crate) fn give(&self, size: usize) {
        let _ = self.bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| Some(held.saturating_sub(size)));
    }
}

/// Which events a host subscription may see, checked on every event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostFilter {
    /// Everything on its pattern (host code).
    All,
    /// A user interface: a plugin's events need `ui:<topic>`.
    Ui,
    /// A plugin's UI panel, acting as that plugin: only topics the plugin
    /// may subscribe to or publish, as long as it may.
    AsPlugin(Arc<str>),
}

#[derive(Clone)]
pub(crate) struct Subscription {
    pub(crate) pattern: String,
    pub(crate) subscriber: Subscriber,
}

impl Subscription {
    pub(crate) fn is_plugin(&self, name: &str) -> bool {
        matches!(&self.subscriber, Subscriber::Plugin(p) if &**p == name)
    }
}
