//! The broker: routing table, topic subscriptions, request/reply
//! correlation with deadlines, and deadlock detection for waiting requests.
//!
//! It is a shared structure, not an actor: routing a message is a map lookup
//! and a mailbox push on the caller's own thread, so a request costs one
//! actor hop, not two.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use ractor::{ActorRef, MessagingErr};
use tokio::sync::{mpsc, oneshot};
use wasp_protocol::{ErrorCode, HOST, Permission, WireError, codec};
use wasp_runtime::{Answer, AuditEvent, AuditKind, BoxFuture, Grants, Inbound, Manifest, ReplyTo, Router, TimerSpec};
use wasp_sdk::MessageKind;

use crate::Supervision;
use crate::actor::PluginMsg;
use crate::audit::AuditLog;
use crate::metrics::{BrokerCounters, PluginCounters, PluginState, record};
use crate::pool::InstancePool;
use crate::tap::{Stamp, TapHub, TapKind, TapOutcome};
use crate::topics::{Event, HostFilter, Subscriber, Subscription, topic_matches};

/// Where messages for one plugin go.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) actor: ActorRef<PluginMsg>,
    /// Messages in the mailbox, for the bound.
    pub(crate) queued: Arc<AtomicUsize>,
    pub(crate) mailbox_depth: usize,
    pub(crate) counters: Arc<PluginCounters>,
    pub(crate) kind: &'static str,
    pub(crate) version: Arc<str>,
    /// The plugin's live permissions.
    pub(crate) grants: Grants,
    /// For a component of a hybrid plugin, the plugin's name.
    pub(crate) family: Option<Arc<str>>,
    /// The manifest it runs under (its name is the address).
    pub(crate) manifest: Arc<Manifest>,
    /// The path it was loaded from, for [`Host::reload`](crate::Host::reload).
    pub(crate) origin: Option<Arc<Path>>,
    /// For a plugin running several instances, the pool that spreads its
    /// messages over them (`actor` is then its first instance).
    pub(crate) pool: Option<Arc<InstancePool>>,
    /// Who it is: its remembered decisions are filed under this identity.
    pub(crate) identity: wasp_runtime::Identity,
}

impl Route {
    /// Every instance's actor: the pool's members, or the one actor.
    pub(crate) fn actors(&self) -> Vec<ActorRef<PluginMsg>> {
        match &self.pool {
            Some(pool) => pool.members().to_vec(),
            None => vec![self.actor.clone()],
        }
    }

    /// Pushes into the mailbox, with its tap stamp if a tap is open: of an
    /// idle instance of a pool (or the pool's backlog), or of instance
    /// `member` when given (a completion of that instance's own request).
    /// `bounded` is false for completions of the plugin's own requests,
    /// which must never be refused.
    fn push(
        &self,
        name: &str,
        inbound: Inbound,
        stamp: Option<Box<Stamp>>,
        bounded: bool,
        member: Option<usize>,
    ) -> Result<(), Box<Undelivered>> {
        if bounded && self.counters.state() == PluginState::Quarantined {
            let err = quarantined(name, &self.counters);
            return Err(Box::new(Undelivered { error: err, inbound }));
        }
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        if bounded && before >= self.mailbox_depth {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            let err = WireError::new(
                ErrorCode::Busy,
                format!("plugin `{name}` has {before} messages queued, its mailbox limit is {}", self.mailbox_depth),
            );
            return Err(Box::new(Undelivered { error: err, inbound }));
        }
        let stopping = |queued: &AtomicUsize, inbound: Inbound| {
            queued.fetch_sub(1, Ordering::AcqRel);
            let err = WireError::new(ErrorCode::Unavailable, format!("plugin `{name}` is stopping"));
            Err(Box::new(Undelivered { error: err, inbound }))
        };
        let actor = match (&self.pool, member) {
            (Some(pool), None) => {
                return match pool.dispatch((inbound, stamp)) {
                    Ok(()) => Ok(()),
                    Err((inbound, _)) => stopping(&self.queued, inbound),
                };
            }
            (Some(pool), Some(i)) => match pool.members().get(i) {
                Some(actor) => actor,
                None => return stopping(&self.queued, inbound),
            },
            (None, _) => &self.actor,
        };
        match actor.cast(PluginMsg::Deliver(inbound, stamp)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                let err = WireError::new(ErrorCode::Unavailable, format!("plugin `{name}` is stopping"));
                let inbound = match e {
                    MessagingErr::SendErr(PluginMsg::Deliver(inbound, _)) => inbound,
                    _ => lost_inbound(),
                };
                Err(Box::new(Undelivered { error: err, inbound }))
            }
        }
    }
}

/// The answer for a message to a quarantined plugin.
pub(crate) fn quarantined(name: &str, counters: &PluginCounters) -> WireError {
    let reason = counters.quarantine_reason.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
    WireError::new(ErrorCode::Unavailable, format!("plugin `{name}` is quarantined ({reason}); the host can lift it"))
}

/// A message that could not be queued, handed back with the reason so the
/// caller can answer it (as ractor hands back a failed cast).
pub(crate) struct Undelivered {
    pub(crate) error: WireError,
    pub(crate) inbound: Inbound,
}

/// Placeholder for a message ractor did not hand back (it always does for a
/// failed cast; this keeps the types total).
pub(crate) fn lost_inbound() -> Inbound {
    Inbound {
        kind: MessageKind::Event,
        id: 0,
        from: Arc::from(HOST),
        topic: Arc::from("lost"),
        payload: Vec::new(),
        reply: None,
        deadline: None,
    }
}

pub(crate) struct Broker {
    me: Weak<Broker>,
    pub(crate) routes: DashMap<Arc<str>, Route>,
    subscriptions: RwLock<Vec<Subscription>>,
    next_id: AtomicU64,
    /// Wait-for graph: plugin → the plugin whose answer it is blocked on.
    waits: Mutex<HashMap<Arc<str>, Arc<str>>>,
    pub(crate) counters: Arc<BrokerCounters>,
    pub(crate) request_timeout: Duration,
    pub(crate) audit: AuditLog,
    pub(crate) supervision: Supervision,
    /// The message tap.
    pub(crate) tap: Arc<TapHub>,
    /// Active plugin timers by id.
    timers: DashMap<u64, Timer>,
}

/// One active plugin timer.
struct Timer {
    /// The plugin that set it.
    owner: Arc<str>,
    /// The instance of a pool that set it (0 for a single instance): it
    /// stops when that instance is recycled.
    member: usize,
    task: tokio::task::AbortHandle,
    /// Set by a reload while the new code starts: the timer stops if the
    /// new code starts, so it does not count against the limit meanwhile.
    retiring: bool,
}

/// The most topic patterns one plugin may subscribe to (`docs/abi.md` §4).
const MAX_SUBSCRIPTIONS: usize = 1024;

fn not_found(to: &str) -> WireError {
    WireError::new(ErrorCode::NotFound, format!("no plugin named `{to}` is loaded"))
}

impl Broker {
    pub(crate) fn new(request_timeout: Duration, supervision: Supervision) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            routes: DashMap::new(),
            subscriptions: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
            waits: Mutex::new(HashMap::new()),
            counters: Arc::default(),
            request_timeout,
            audit: AuditLog::new(),
            supervision,
            tap: Arc::new(TapHub::new()),
            timers: DashMap::new(),
        })
    }

    /// Records an audit event; counts violations and quarantines a plugin
    /// that crosses the threshold. Returns whether the plugin is quarantined.
    pub(crate) fn record_audit(&self, event: AuditEvent) -> bool {
        self.counters.audit_events.fetch_add(1, Ordering::Relaxed);
        let route = self.route(&event.plugin);
        let violation = event.kind.is_violation();
        let denied = matches!(event.kind, AuditKind::PermissionDenied { .. });
        let plugin = event.plugin.clone();
        self.audit.record(event);
        let Some(route) = route else { return false };
        let c = &route.counters;
        if denied {
            c.denied.fetch_add(1, Ordering::Relaxed);
        }
        if violation {
            c.violations.fetch_add(1, Ordering::Relaxed);
            let s = &self.supervision;
            let n = record(&c.recent_violations, s.violation_window);
            if n >= s.max_violations {
                let window = s.violation_window.as_secs_f64();
                self.quarantine(&plugin, &route, format!("{n} violations within {window} s"));
            }
        }
        c.state() == PluginState::Quarantined
    }

    /// Puts a plugin in quarantine: its timers stop, new messages are
    /// refused with `unavailable`, queued ones are answered so.
    pub(crate) fn quarantine(&self, name: &str, route: &Route, reason: String) {
        if !route.counters.enter_quarantine() {
            return;
        }
        *route.counters.quarantine_reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
        self.cancel_timers(name);
        let message = format!("plugin `{name}` quarantined: {reason}");
        self.counters.audit_events.fetch_add(1, Ordering::Relaxed);
        self.audit.record(AuditEvent::new(name, AuditKind::Quarantined { reason }, message));
    }

    /// Stops every timer of `plugin`.
    pub(crate) fn cancel_timers(&self, plugin: &str) {
        self.timers.retain(|_, t| {
            let keep = &*t.owner != plugin;
            if !keep {
                t.task.abort();
            }
            keep
        });
    }

    /// Stops the timers that instance `member` of the pool `plugin` set.
    pub(crate) fn cancel_member_timers(&self, plugin: &str, member: usize) {
        self.timers.retain(|_, t| {
            let keep = &*t.owner != plugin || t.member != member;
            if !keep {
                t.task.abort();
            }
            keep
        });
    }

    /// Delivers one timer event; `false` stops the timer.
    fn fire_timer(&self, plugin: &Arc<str>, id: u64, topic: &Arc<str>, payload: &[u8]) -> bool {
        let Some(route) = self.route(plugin) else { return false };
        if !self.timers.contains_key(&id) {
            return false;
        }
        if !route.grants.allows(&Permission::Timers) {
            let message = format!("timer {id} of plugin `{plugin}` stopped: the permission `timers` was revoked");
            self.record_audit(AuditEvent::new(
                &**plugin,
                AuditKind::PermissionDenied { permission: Permission::Timers },
                message,
            ));
            return false;
        }
        let inbound = Inbound {
            kind: MessageKind::Event,
            id: self.next_id(),
            from: Arc::from(HOST),
            topic: topic.clone(),
            payload: payload.to_vec(),
            reply: None,
            deadline: None,
        };
        if let Err(undelivered) = route.push(plugin, inbound, self.tap.stamp(TapKind::Timer), true, None) {
            self.tap_undelivered(TapKind::Timer, &undelivered, plugin);
            self.dead_letter(&undelivered.error, &undelivered.inbound, plugin);
        }
        true
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn route(&self, to: &str) -> Option<Route> {
        self.routes.get(to).map(|r| r.value().clone())
    }

    /// Delivers to a plugin's mailbox; hands the message back on failure so
    /// the caller can answer it.
    fn deliver(&self, to: &str, inbound: Inbound, kind: TapKind) -> Result<(), Box<Undelivered>> {
        let result = match self.route(to) {
            Some(route) => route.push(to, inbound, self.tap.stamp(kind), true, None),
            None => Err(Box::new(Undelivered { error: not_found(to), inbound })),
        };
        if let Err(undelivered) = &result {
            self.tap_undelivered(kind, undelivered, to);
        }
        result
    }

    /// Records a message that never reached a mailbox, if a tap is open.
    fn tap_undelivered(&self, kind: TapKind, undelivered: &Undelivered, to: &str) {
        let outcome = TapOutcome::Undelivered { code: undelivered.error.code };
        self.tap.immediate(kind, &undelivered.inbound, to, outcome);
    }

    fn dead_letter(&self, reason: &WireError, inbound: &Inbound, to: &str) {
        self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(target: "wasp::audit", from = %inbound.from, to, topic = %inbound.topic, "undeliverable message: {reason}");
    }

    /// Sends a request from `from` and returns where its answer will arrive.
    pub(crate) fn start_request(
        &self,
        from: Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        let counters = self.counters.clone();
        let reply = ReplyTo::new(move |answer| {
            if tx.send(answer).is_err() {
                counters.late_replies.fetch_add(1, Ordering::Relaxed);
            }
        });
        let inbound = Inbound {
            kind: MessageKind::Request,
            id: self.next_id(),
            from,
            topic: Arc::from(topic),
            payload,
            reply: Some(reply),
            deadline: Instant::now().checked_add(timeout),
        };
        if let Err(undelivered) = self.deliver(to, inbound, TapKind::Request)
            && let Undelivered { error, inbound: Inbound { reply: Some(reply), .. } } = *undelivered
        {
            reply.send(Err(error));
        }
        rx
    }

    /// Waits for an answer with a timeout; a caller that gives up leaves the
    /// late answer to be discarded and counted.
    pub(crate) async fn await_answer(rx: oneshot::Receiver<Answer>, to: &str, timeout: Duration) -> Answer {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(WireError::new(ErrorCode::Internal, format!("the answer from `{to}` was lost"))),
            Err(_) => Err(WireError::new(
                ErrorCode::Timeout,
                format!("no answer from `{to}` within {} ms", timeout.as_millis()),
            )),
        }
    }

    /// Records that `from` now waits for `to`, unless that closes a cycle.
    fn begin_wait(&self, from: &Arc<str>, to: &str) -> Result<WaitGuard, WireError> {
        let mut waits = lock(&self.waits);
        let mut chain = vec![from.to_string(), to.to_owned()];
        let mut current: &str = to;
        for _ in 0..=waits.len() {
            if current == &**from {
                return Err(WireError::new(
                    ErrorCode::WouldDeadlock,
                    format!(
                        "request from `{from}` to `{to}` would deadlock: {} are waiting on each other; use request_async",
                        chain.join(" → ")
                    ),
                ));
            }
            match waits.get(current) {
                Some(next) => {
                    chain.push(next.to_string());
                    current = next;
                }
                None => break,
            }
        }
        waits.insert(from.clone(), Arc::from(to));
        Ok(WaitGuard { broker: self.me.clone(), from: from.clone() })
    }

    /// Delivers an event to host subscribers matching `topic`.
    fn to_host(&self, event: Event, plugins_too: bool) {
        let subs = self.subscriptions.read().unwrap_or_else(|p| p.into_inner());
        let kind = if plugins_too { TapKind::Event } else { TapKind::Send };
        let mut closed = Vec::new();
        let mut revoked = Vec::new();
        for sub in subs.iter().filter(|s| topic_matches(&s.pattern, &event.topic)) {
            match &sub.subscriber {
                Subscriber::Host { filter: HostFilter::Ui, .. } if !self.may_reach_ui(&event) => {}
                Subscriber::Host { filter: HostFilter::AsPlugin(plugin), .. } if !self.may_follow(plugin, &event) => {}
                Subscriber::Host { id, tx, .. } => match tx.try_send(event.clone()) {
                    Ok(()) => self.tap_to_host(kind, &event, TapOutcome::Ok),
                    Err(mpsc::error::TrySendError::Closed(_)) => closed.push(*id),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.tap_to_host(kind, &event, TapOutcome::Undelivered { code: ErrorCode::Busy });
                        self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(target: "wasp::audit", topic = %event.topic, "host subscriber is full; event dropped");
                    }
                },
                Subscriber::Plugin(name) if plugins_too => {
                    if self.route(name).is_some_and(|r| !r.grants.allows_parts("subscribe", Some(&event.topic))) {
                        let wanted = Permission::Subscribe(event.topic.clone());
                        revoked.push((name.clone(), sub.pattern.clone(), wanted));
                        continue;
                    }
                    let inbound = Inbound {
                        kind: MessageKind::Event,
                        id: self.next_id(),
                        from: Arc::from(event.from.as_str()),
                        topic: Arc::from(event.topic.as_str()),
                        payload: event.payload.clone(),
                        reply: None,
                        deadline: None,
                    };
                    if let Err(undelivered) = self.deliver(name, inbound, TapKind::Event) {
                        self.dead_letter(&undelivered.error, &undelivered.inbound, name);
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
            let _ = Router::unsubscribe(self, &plugin, &pattern);
            let message =
                format!("plugin `{plugin}` no longer holds `{wanted}`; its subscription to `{pattern}` was removed");
            self.record_audit(AuditEvent::new(&*plugin, AuditKind::PermissionDenied { permission: wanted }, message));
        }
    }

    /// Records an event handed to a host subscriber, if a tap is open.
    fn tap_to_host(&self, kind: TapKind, event: &Event, outcome: TapOutcome) {
        if self.tap.is_open() {
            let id = self.next_id();
            self.tap.to_host(kind, id, &event.from, &event.topic, event.payload.len(), outcome);
        }
    }

    /// Whether an event may reach a UI subscriber: the host's own, or from a
    /// plugin holding `ui:<topic>`.
    fn may_reach_ui(&self, event: &Event) -> bool {
        event.from == HOST || self.route(&event.from).is_some_and(|r| r.grants.allows_parts("ui", Some(&event.topic)))
    }

    pub(crate) fn publish_from(&self, from: &str, topic: &str, payload: Vec<u8>) {
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        self.to_host(Event { from: from.to_owned(), topic: topic.to_owned(), payload }, true);
    }

    /// Whether a panel acting as `plugin` may see `event`: its plugin still
    /// holds `subscribe:` or `publish:` for the topic.
    fn may_follow(&self, plugin: &str, event: &Event) -> bool {
        self.route(plugin).is_some_and(|r| {
            r.grants.allows_parts("subscribe", Some(&event.topic))
                || r.grants.allows_parts("publish", Some(&event.topic))
        })
    }

    pub(crate) fn subscribe_host(
        &self,
        pattern: &str,
        capacity: usize,
        filter: HostFilter,
    ) -> (u64, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.next_id();
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Subscription { pattern: pattern.to_owned(), subscriber: Subscriber::Host { id, tx, filter } });
        (id, rx)
    }

    pub(crate) fn remove_host_subscriptions(&self, ids: &[u64]) {
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| !matches!(&s.subscriber, Subscriber::Host { id, .. } if ids.contains(id)));
    }

    /// Takes a plugin's own topic subscriptions away (its new code is about
    /// to subscribe afresh) and returns them, to put back with
    /// [`Broker::restore_plugin_subscriptions`] if the new code fails.
    pub(crate) fn take_plugin_subscriptions(&self, name: &str) -> Vec<Subscription> {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        let (taken, kept) = std::mem::take(&mut *subs).into_iter().partition(|s| s.is_plugin(name));
        *subs = kept;
        taken
    }

    /// Replaces a plugin's own subscriptions with `taken`.
    pub(crate) fn restore_plugin_subscriptions(&self, name: &str, taken: Vec<Subscription>) {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| !s.is_plugin(name));
        subs.extend(taken);
    }

    /// The ids of a plugin's active timers.
    pub(crate) fn timer_ids(&self, plugin: &str) -> Vec<u64> {
        self.timers.iter().filter(|t| &*t.value().owner == plugin).map(|t| *t.key()).collect()
    }

    /// Marks the timers `ids` as retiring (a reload's new code is starting
    /// and will replace them), or no longer so (it failed to start).
    pub(crate) fn retire_timers(&self, ids: &[u64], retiring: bool) {
        for id in ids {
            if let Some(mut t) = self.timers.get_mut(id) {
                t.retiring = retiring;
            }
        }
    }

    /// Cancels a plugin's timers: those in `ids` when `among` is true, the
    /// others when it is false.
    pub(crate) fn cancel_timers_by(&self, plugin: &str, ids: &[u64], among: bool) {
        self.timers.retain(|id, t| {
            let hit = &*t.owner == plugin && ids.contains(id) == among;
            if hit {
                t.task.abort();
            }
            !hit
        });
    }

    /// Forgets every subscription of a plugin (it was unloaded).
    pub(crate) fn remove_plugin(&self, name: &str) {
        self.routes.remove(name);
        self.cancel_timers(name);
        self.subscriptions.write().unwrap_or_else(|p| p.into_inner()).retain(|s| !s.is_plugin(name));
    }

    pub(crate) fn send_from(&self, from: Arc<str>, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        if to == HOST {
            self.to_host(Event { from: from.to_string(), topic: topic.to_owned(), payload }, false);
            return Ok(());
        }
        let inbound = Inbound {
            kind: MessageKind::Event,
            id: self.next_id(),
            from,
            topic: Arc::from(topic),
            payload,
            reply: None,
            deadline: None,
        };
        self.deliver(to, inbound, TapKind::Send).map_err(|u| u.error)
    }
}

/// Removes a wait-for edge when the waiting request ends.
pub(crate) struct WaitGuard {
    broker: Weak<Broker>,
    from: Arc<str>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            lock(&broker.waits).remove(&self.from);
        }
    }
}

fn host_requests_unsupported(to: &str) -> WireError {
    WireError::new(ErrorCode::NotFound, format!("`{to}` answers no requests from plugins; send it events instead"))
}

/// What a plugin asks of the broker, on behalf of one instance of it.
impl Broker {
    /// [`Router::set_timer`] for instance `member` (0 for a single
    /// instance): the timer stops when that instance is recycled; its
    /// events go to the plugin's address (any idle instance of a pool).
    pub(crate) fn set_timer_for(&self, from: &Arc<str>, member: usize, spec: TimerSpec) -> Result<u64, WireError> {
        let active = self.timers.iter().filter(|t| t.value().owner == *from && !t.value().retiring).count();
        if active >= spec.max_timers {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("plugin `{from}` already has {active} timers active, its limit is {}", spec.max_timers),
            ));
        }
        let id = self.next_id();
        let (me, plugin, topic) = (self.me.clone(), from.clone(), Arc::<str>::from(spec.topic));
        let (period, repeat, payload) = (spec.period, spec.repeat, spec.payload);
        let task = tokio::spawn(async move {
            let mut next = tokio::time::Instant::now() + period;
            loop {
                tokio::time::sleep_until(next).await;
                let Some(broker) = me.upgrade() else { return };
                if !broker.fire_timer(&plugin, id, &topic, &payload) || !repeat {
                    broker.timers.remove(&id);
                    return;
                }
                // A late wake-up skips the missed periods instead of bursting.
                next = (next + period).max(tokio::time::Instant::now());
            }
        });
        self.timers.insert(id, Timer { owner: from.clone(), member, task: task.abort_handle(), retiring: false });
        Ok(id)
    }

    /// [`Router::request_async`] for instance `member` of a pool (0 for a
    /// single instance): the completion goes to that instance's mailbox,
    /// since it is the one that deferred an answer on it.
    pub(crate) fn request_async_for(
        &self,
        from: &Arc<str>,
        member: usize,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<u64, WireError> {
        if to == HOST {
            return Err(host_requests_unsupported(to));
        }
        let requester = self.route(from).ok_or_else(|| not_found(from))?;
        let timeout = timeout.unwrap_or(self.request_timeout);
        let id = self.next_id();
        let completion = Arc::new(Completion { deliver: Mutex::new(None), timer: Mutex::new(None) });
        {
            let (from, to, topic) = (from.clone(), Arc::<str>::from(to), Arc::<str>::from(topic));
            let (counters, tap) = (self.counters.clone(), self.tap.clone());
            let deliver: CompletionFn = Box::new(move |answer: Answer| {
                let (kind, payload) = match answer {
                    Ok(payload) => (MessageKind::Reply, payload),
                    Err(e) => (MessageKind::Error, codec::to_payload(&e).unwrap_or_default()),
                };
                let inbound = Inbound { kind, id, from: to, topic, payload, reply: None, deadline: None };
                if let Err(undelivered) = requester.push(
                    &from,
                    inbound,
                    tap.stamp(TapKind::Reply),
                    false,
                    Some(member).filter(|_| requester.pool.is_some()),
                ) {
                    let outcome = TapOutcome::Undelivered { code: undelivered.error.code };
                    tap.immediate(TapKind::Reply, &undelivered.inbound, &from, outcome);
                    counters.dead_letters.fetch_add(1, Ordering::Relaxed);
                    let err = undelivered.error;
                    tracing::warn!(target: "wasp::audit", plugin = %from, id, "completion undeliverable: {err}");
                }
            });
            *lock(&completion.deliver) = Some(deliver);
        }
        let on_answer = {
            let (completion, counters) = (completion.clone(), self.counters.clone());
            ReplyTo::new(move |answer| {
                if !completion.complete(answer) {
                    counters.late_replies.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let inbound = Inbound {
            kind: MessageKind::Request,
            id,
            from: from.clone(),
            topic: Arc::from(topic),
            payload,
            reply: Some(on_answer),
            deadline: Instant::now().checked_add(timeout),
        };
        if let Err(undelivered) = self.deliver(to, inbound, TapKind::Request) {
            let Undelivered { error, inbound } = *undelivered;
            if let Some(reply) = inbound.reply {
                reply.disarm();
            }
            return Err(error);
        }
        let to = to.to_owned();
        let timer = {
            let completion = completion.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                completion.complete(Err(WireError::new(
                    ErrorCode::Timeout,
                    format!("no answer from `{to}` within {} ms", timeout.as_millis()),
                )));
            })
        };
        *lock(&completion.timer) = Some(timer.abort_handle());
        Ok(id)
    }
}

impl Router for Broker {
    fn audit(&self, event: AuditEvent) -> bool {
        self.record_audit(event)
    }

    fn set_timer(&self, from: &Arc<str>, spec: TimerSpec) -> Result<u64, WireError> {
        self.set_timer_for(from, 0, spec)
    }

    fn cancel_timer(&self, from: &Arc<str>, id: u64) -> bool {
        match self.timers.remove_if(&id, |_, t| t.owner == *from) {
            Some((_, t)) => {
                t.task.abort();
                true
            }
            None => false,
        }
    }

    fn send(&self, from: &Arc<str>, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.send_from(from.clone(), to, topic, payload)
    }

    fn publish(&self, from: &Arc<str>, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.publish_from(from, topic, payload);
        Ok(())
    }

    fn subscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
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

    fn unsubscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| !(s.pattern == pattern && s.is_plugin(from)));
        Ok(())
    }

    fn request(
        &self,
        from: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> BoxFuture<Answer> {
        if to == HOST {
            return Box::pin(std::future::ready(Err(host_requests_unsupported(to))));
        }
        let guard = match self.begin_wait(from, to) {
            Ok(guard) => guard,
            Err(e) => {
                self.counters.deadlocks_refused.fetch_add(1, Ordering::Relaxed);
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let timeout = timeout.unwrap_or(self.request_timeout);
        let rx = self.start_request(from.clone(), to, topic, payload, timeout);
        let to = to.to_owned();
        Box::pin(async move {
            let answer = Self::await_answer(rx, &to, timeout).await;
            drop(guard);
            answer
        })
    }

    fn request_async(
        &self,
        from: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<u64, WireError> {
        self.request_async_for(from, 0, to, topic, payload, timeout)
    }
}

type CompletionFn = Box<dyn FnOnce(Answer) + Send>;

/// The answer to a plugin's `request_async`: delivered once, by the reply or
/// by the timer, whichever comes first.
struct Completion {
    deliver: Mutex<Option<CompletionFn>>,
    timer: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Completion {
    /// Delivers `answer` unless an answer was delivered already; says whether it did.
    fn complete(&self, answer: Answer) -> bool {
        let Some(deliver) = lock(&self.deliver).take() else {
            return false;
        };
        deliver(answer);
        if let Some(timer) = lock(&self.timer).take() {
            timer.abort();
        }
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
