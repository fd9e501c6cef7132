//! Messaging from the host's side: requests, sends, publishes and
//! subscriptions, as the host or on behalf of a plugin (`*_as`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use wasp_protocol::{Address, ErrorCode, HOST, Permission, WireError, codec, validate_topic};
use wasp_runtime::AuditKind;

use crate::broker::Broker;
use crate::topics::HostFilter;

use super::Host;
use super::handles::Subscription;

/// Refuses an address that is neither `host` nor a valid plugin name before
/// anything is looked up or checked with it (a page may send anything).
pub(super) fn check_address(to: &str) -> Result<(), WireError> {
    Address::parse(to).map(drop).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad address: {e}")))
}

impl Host {
    pub(super) fn check_outbound(&self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        validate_topic(topic).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad topic: {e}")))?;
        let max = self.inner.limits.max_message_size;
        if payload.len() > max {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!("payload of {} bytes exceeds the limit of {max} bytes", payload.len()),
            ));
        }
        Ok(())
    }

    /// Sends a request with a MessagePack payload and waits for the answer,
    /// at most the configured request timeout.
    pub async fn request(&self, to: &str, topic: &str, payload: Vec<u8>) -> Result<Vec<u8>, WireError> {
        self.request_with_timeout(to, topic, payload, self.inner.limits.request_timeout).await
    }

    /// [`Host::request`] with an explicit timeout. If the timeout passes (or
    /// the future is dropped), the late answer is discarded and counted in
    /// [`HostMetrics::late_replies`](crate::HostMetrics::late_replies).
    pub async fn request_with_timeout(
        &self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, WireError> {
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        let broker = &self.inner.broker;
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let rx = broker.start_request(self.inner.host.clone(), to, topic, payload, timeout);
        Broker::await_answer(rx, to, timeout).await
    }

    /// A typed request: encodes `value`, decodes the reply as `R`.
    ///
    /// # Errors
    ///
    /// Those of [`Host::request`]; `invalid_message` for a reply that is not
    /// exactly one MessagePack value (trailing bytes included, as `wasp run`
    /// refuses them), nests deeper than
    /// [`codec::MAX_DEPTH`](wasp_protocol::codec::MAX_DEPTH), or is not an `R`.
    pub async fn call<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        to: &str,
        topic: &str,
        value: &T,
    ) -> Result<R, WireError> {
        let reply = self.request(to, topic, codec::encode(value, self.inner.limits.max_message_size)?).await?;
        Ok(codec::decode(&reply, self.inner.limits.max_message_size)?)
    }

    /// Sends a one-way message with a MessagePack payload.
    pub fn send(&self, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        self.inner.broker.send_from(self.inner.host.clone(), to, topic, payload)
    }

    /// Publishes to every subscriber of `topic`, plugins and host alike.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(topic, &payload)?;
        self.inner.broker.publish_from(HOST, topic, payload);
        Ok(())
    }

    /// Receives plugin publishes matching `pattern` (a topic, or a prefix
    /// ending in `*`) and plugin sends to `host` on matching topics.
    pub fn subscribe(&self, pattern: &str) -> Result<Subscription, WireError> {
        self.subscribe_inner(pattern, HostFilter::All)
    }

    /// Like [`Host::subscribe`], for a user interface: a plugin's events
    /// arrive only if it holds `ui:<topic>` (the host's own always do).
    /// `tauri-plugin-wasp` subscribes webviews this way.
    pub fn subscribe_ui(&self, pattern: &str) -> Result<Subscription, WireError> {
        self.subscribe_inner(pattern, HostFilter::Ui)
    }

    /// Checks that `plugin` may do `kind` on `target`, as its host calls
    /// would be checked: a plugin may always message itself and the other
    /// components of its hybrid. A refusal is audited against the plugin.
    pub(super) fn check_acting(&self, plugin: &str, kind: &str, target: &str) -> Result<(), WireError> {
        let route = self.route(plugin).map_err(|e| e.to_wire())?;
        let own = matches!(kind, "send" | "request")
            && (target == plugin || route.family.as_ref().is_some_and(|f| f.is_sibling(plugin, target)));
        // A panel may listen to its plugin's own topics as well as those it subscribes to.
        let listens = kind == "subscribe" && route.grants.allows_parts("publish", Some(target));
        if own || listens || route.grants.allows_parts(kind, Some(target)) {
            return Ok(());
        }
        let wanted = Permission::from_parts(kind, Some(target)).unwrap_or(Permission::Log);
        let err = WireError::new(
            ErrorCode::PermissionDenied,
            format!("plugin `{plugin}` lacks the permission `{wanted}` (asked by its UI)"),
        )
        .with_context(wanted.to_string());
        self.audit(plugin, AuditKind::PermissionDenied { permission: wanted }, err.message.clone());
        Err(err)
    }

    /// [`Host::request`] on behalf of `plugin` — for its UI panel: checked
    /// against the plugin's permissions (`request:<to>`, its own address
    /// always allowed), and seen by `to` as coming from `plugin`.
    pub async fn request_as(
        &self,
        plugin: &str,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, WireError> {
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        self.check_acting(plugin, "request", to)?;
        let broker = &self.inner.broker;
        let timeout = timeout.unwrap_or(self.inner.limits.request_timeout);
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let rx = broker.start_request(Arc::from(plugin), to, topic, payload, timeout);
        Broker::await_answer(rx, to, timeout).await
    }

    /// [`Host::send`] on behalf of `plugin` (`send:<to>`).
    pub fn send_as(&self, plugin: &str, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        check_address(to)?;
        self.check_outbound(topic, &payload)?;
        self.check_acting(plugin, "send", to)?;
        self.inner.broker.send_from(Arc::from(plugin), to, topic, payload)
    }

    /// [`Host::publish`] on behalf of `plugin` (`publish:<topic>`).
    pub fn publish_as(&self, plugin: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(topic, &payload)?;
        self.check_acting(plugin, "publish", topic)?;
        self.inner.broker.publish_from(plugin, topic, payload);
        Ok(())
    }

    /// [`Host::subscribe`] on behalf of `plugin`: it needs `subscribe:` or
    /// `publish:` for the pattern (a panel may follow its plugin's own topics).
    pub fn subscribe_as(&self, plugin: &str, pattern: &str) -> Result<Subscription, WireError> {
        validate_topic(pattern).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad pattern: {e}")))?;
        self.check_acting(plugin, "subscribe", pattern)?;
        // Checked again on every event: a revoked grant ends the flow.
        self.subscribe_inner(pattern, HostFilter::AsPlugin(Arc::from(plugin)))
    }

    pub(super) fn subscribe_inner(&self, pattern: &str, filter: HostFilter) -> Result<Subscription, WireError> {
        validate_topic(pattern).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad pattern: {e}")))?;
        let (capacity, bytes) = (self.inner.event_capacity, self.inner.event_bytes);
        let (id, rx, budget) = self.inner.broker.subscribe_host(pattern, capacity, bytes, filter);
        Ok(Subscription { id, rx, budget, broker: Arc::downgrade(&self.inner.broker) })
    }
}
