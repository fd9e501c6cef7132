//! Messaging from the host's side: requests, sends, publishes and
//! subscriptions, as the host or on behalf of a plugin (`*_as`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use wasp_protocol::{ErrorCode, HOST, WireError, codec};
use wasp_runtime::AuditKind;
use wasp_runtime::rules::{self, Call};

use crate::broker::Broker;
use crate::topics::HostFilter;

use super::Host;
use super::handles::Subscription;

impl Host {
    /// What the host or a panel sends is checked by the same [`rules`] as
    /// a plugin's own calls: a valid address and topic, a payload within
    /// the host's largest message.
    fn check_outbound(&self, to: Option<&str>, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        if let Some(to) = to {
            rules::check_address(to)?;
        }
        rules::check_topic(topic)?;
        rules::check_size(payload, self.inner.limits.max_message_size)
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
        self.check_outbound(Some(to), topic, &payload)?;
        let broker = &self.inner.broker;
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let pending = broker.start_request(self.inner.host.clone(), to, topic, payload, timeout);
        Broker::await_answer(pending, to, timeout).await
    }

    /// [`Host::request`] that its caller can cancel: when `cancel` completes
    /// before the answer, the answer is `cancelled`. A request still queued
    /// then never runs; a plugin that has it already is told (an event from
    /// `host` on `wasp.cancel` carrying the request's id, `docs/abi.md`
    /// "Cancellation") and its late reply is discarded. Dropping the future
    /// of any request cancels it the same way.
    ///
    /// ```
    /// # async fn demo(host: wasp_actors::Host) {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let answer = host.request_cancellable("slow", "work", vec![0xc0], async move {
    ///     let _ = stopped.await;
    /// });
    /// # drop(stop);
    /// # let _ = answer.await;
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`Host::request`], and `cancelled`.
    pub async fn request_cancellable(
        &self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<u8>, WireError> {
        self.request_until(None, to, topic, payload, None, cancel).await
    }

    /// The general request: as the host (`as_plugin` `None`) or on behalf of
    /// a plugin's UI panel (checked as [`Host::request_as`] does), within
    /// `timeout` (the configured request timeout if `None`), until `cancel`
    /// completes ([`Host::request_cancellable`]). `tauri-plugin-wasp`'s
    /// `request` command, whose page may pass an `AbortSignal`, is this.
    ///
    /// # Errors
    ///
    /// Those of [`Host::request`] and [`Host::request_as`], and `cancelled`.
    pub async fn request_until(
        &self,
        as_plugin: Option<&str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<u8>, WireError> {
        self.check_outbound(Some(to), topic, &payload)?;
        if let Some(plugin) = as_plugin {
            self.check_acting(plugin, Call::Request(to))?;
        }
        let from = as_plugin.map_or_else(|| self.inner.host.clone(), Arc::from);
        let broker = &self.inner.broker;
        let timeout = timeout.unwrap_or(self.inner.limits.request_timeout);
        broker.counters.requests.fetch_add(1, Ordering::Relaxed);
        let pending = broker.start_request(from, to, topic, payload, timeout);
        Broker::await_answer_until(pending, to, timeout, cancel).await
    }

    /// A typed request: encodes `value`, decodes the reply as `R`.
    ///
    /// # Errors
    ///
    /// Those of [`Host::request`]; `invalid_message` for a reply that is not
    /// exactly one MessagePack value (trailing bytes included, as `cargo wasp run`
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
        self.check_outbound(Some(to), topic, &payload)?;
        self.inner.broker.send(self.inner.host.clone(), to, topic, payload)
    }

    /// Publishes to every subscriber of `topic`, plugins and host alike.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(None, topic, &payload)?;
        self.inner.broker.publish(HOST, topic, payload);
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

    /// Checks that `plugin`'s UI panel may make `call` on its behalf
    /// ([`rules::panel_allows`]). A refusal is audited against the plugin.
    pub(super) fn check_acting(&self, plugin: &str, call: Call<'_>) -> Result<(), WireError> {
        let route = self.route(plugin).map_err(|e| e.to_wire())?;
        if rules::panel_allows(&route.grants, plugin, route.family.as_ref(), call) {
            return Ok(());
        }
        let (wanted, denied) = rules::denied(plugin, route.family.as_ref(), call);
        let err = WireError::new(ErrorCode::PermissionDenied, format!("{} (asked by its UI)", denied.message))
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
        self.request_until(Some(plugin), to, topic, payload, timeout, std::future::pending()).await
    }

    /// [`Host::send`] on behalf of `plugin` (`send:<to>`).
    pub fn send_as(&self, plugin: &str, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(Some(to), topic, &payload)?;
        self.check_acting(plugin, Call::Send(to))?;
        self.inner.broker.send(Arc::from(plugin), to, topic, payload)
    }

    /// [`Host::publish`] on behalf of `plugin` (`publish:<topic>`).
    pub fn publish_as(&self, plugin: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.check_outbound(None, topic, &payload)?;
        self.check_acting(plugin, Call::Publish(topic))?;
        self.inner.broker.publish(plugin, topic, payload);
        Ok(())
    }

    /// [`Host::subscribe`] on behalf of `plugin`: it needs `subscribe:` or
    /// `publish:` for the pattern (a panel may follow its plugin's own topics).
    pub fn subscribe_as(&self, plugin: &str, pattern: &str) -> Result<Subscription, WireError> {
        rules::check_pattern(pattern)?;
        self.check_acting(plugin, Call::Subscribe(pattern))?;
        // Checked again on every event: a revoked grant ends the flow.
        self.subscribe_inner(pattern, HostFilter::AsPlugin(Arc::from(plugin)))
    }

    pub(super) fn subscribe_inner(&self, pattern: &str, filter: HostFilter) -> Result<Subscription, WireError> {
        rules::check_pattern(pattern)?;
        let (capacity, bytes) = (self.inner.event_capacity, self.inner.event_bytes);
        let (id, rx, budget) = self.inner.broker.subscribe_host(pattern, capacity, bytes, filter);
        Ok(Subscription { id, rx, budget, broker: Arc::downgrade(&self.inner.broker) })
    }
}
