//! The broker: routing table, topic subscriptions, request/reply
//! correlation with deadlines, and deadlock detection for waiting requests.
//!
//! It is a shared structure, not an actor: routing a message is a map lookup
//! and a mailbox push on the caller's own thread, so a request costs one
//! actor hop, not two.

use parking_lot::{Mutex, RwLock};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use ractor::{ActorRef, MessagingErr};
use tokio::sync::oneshot;
use wasp_protocol::{ErrorCode, HOST, MessageKind, WireError};
use wasp_runtime::{Answer, AuditEvent, AuditKind, Family, Grants, Inbound, LogAdmission, LogRate, Manifest, ReplyTo};

mod app;
mod cancel;
mod port;
mod routes;
mod subscriptions;

use subscriptions::Origin;

pub use app::AppCall;
pub(crate) use app::app_fn;
pub(crate) use cancel::{Pending, hears_cancel};
pub(crate) use port::Port;

use crate::Supervision;
use crate::actor::PluginMsg;
use crate::audit::AuditLog;
use crate::mailbox::{Bound, Mailbox, Queued, Room};
use crate::metrics::{BrokerCounters, PluginCounters, PluginState, record};
use crate::pool::InstancePool;
use crate::tap::{TapHub, TapKind, TapOutcome};
use crate::timers::Timers;
use crate::topics::Subscription;
use crate::waits::{WaitGraph, Waiter};

/// Where messages for one plugin go.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) actor: ActorRef<PluginMsg>,
    /// What waits in its mailbox, and the bounds.
    pub(crate) mailbox: Arc<Mailbox>,
    /// The largest payload it takes ([`Limits::max_message_size`](wasp_runtime::Limits::max_message_size)).
    pub(crate) max_message_size: usize,
    pub(crate) counters: Arc<PluginCounters>,
    pub(crate) kind: wasp_runtime::PluginKind,
    pub(crate) version: Arc<str>,
    /// The plugin's live permissions.
    pub(crate) grants: Grants,
    /// For a component of a hybrid plugin, its family.
    pub(crate) family: Option<Family>,
    /// The manifest it runs under (its name is the address).
    pub(crate) manifest: Arc<Manifest>,
    /// The path it was loaded from, for [`Host::reload`](crate::Host::reload).
    pub(crate) origin: Option<Arc<Path>>,
    /// For a plugin running several instances, the pool that spreads its
    /// messages over them (`actor` is then its first instance).
    pub(crate) pool: Option<Arc<InstancePool>>,
    /// Who it is: its remembered decisions are filed under this identity.
    pub(crate) identity: wasp_runtime::Identity,
    /// Whether it is told of requests cancelled after it got them
    /// ([`hears_cancel`]).
    pub(crate) hears_cancel: bool,
}

impl Route {
    /// Every instance's actor: the pool's members, or the one actor.
    pub(crate) fn actors(&self) -> Vec<ActorRef<PluginMsg>> {
        match &self.pool {
            Some(pool) => pool.members().to_vec(),
            None => vec![self.actor.clone()],
        }
    }

    /// Room in the mailbox for a message of `size` payload bytes for plugin
    /// `name`: refused (and counted) when it is quarantined, when the
    /// message is larger than it takes (`too_large`), or when its mailbox is
    /// full (`busy`). A completion of its own request ([`Bound::Unbounded`])
    /// is refused for nothing.
    pub(crate) fn reserve(&self, name: &str, size: usize, bound: Bound) -> Result<Room, WireError> {
        if bound == Bound::Bounded {
            if self.counters.state() == PluginState::Quarantined {
                return Err(quarantined(name, &self.counters));
            }
            if size > self.max_message_size {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Err(WireError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "plugin `{name}` takes messages of at most {} bytes; this one has {size}",
                        self.max_message_size
                    ),
                ));
            }
        }
        self.mailbox.reserve(name, size, bound).inspect_err(|_| {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Puts a message in the room taken for it: an idle instance of a pool
    /// (or the pool's backlog), or instance `member` when given (a
    /// completion of that instance's own request). Hands the message back
    /// if the plugin is stopping.
    fn enqueue(&self, name: &str, queued: Queued, member: Option<usize>) -> Result<(), Box<Undelivered>> {
        let stopping = |inbound: Inbound| {
            let err = WireError::new(ErrorCode::Unavailable, format!("plugin `{name}` is stopping"));
            Err(Box::new(Undelivered { error: err, inbound }))
        };
        let actor = match (&self.pool, member) {
            (Some(pool), None) => {
                return match pool.dispatch(queued) {
                    Ok(()) => Ok(()),
                    Err(queued) => stopping(queued.inbound),
                };
            }
            (Some(pool), Some(i)) => match pool.members().get(i) {
                Some(actor) => actor,
                None => return stopping(queued.inbound),
            },
            (None, _) => &self.actor,
        };
        match actor.cast(PluginMsg::Deliver(queued)) {
            Ok(()) => Ok(()),
            Err(MessagingErr::SendErr(PluginMsg::Deliver(queued))) => stopping(queued.inbound),
            Err(_) => stopping(lost_inbound()),
        }
    }
}

/// The answer for a message to a quarantined plugin.
pub(crate) fn quarantined(name: &str, counters: &PluginCounters) -> WireError {
    let reason = counters.quarantine_reason.lock().clone().unwrap_or_default();
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
        payload: bytes::Bytes::new(),
        reply: None,
        deadline: None,
    }
}

pub(crate) struct Broker {
    me: Weak<Broker>,
    /// The route table: read and changed through the methods in `routes.rs`.
    routes: DashMap<Arc<str>, Route>,
    subscriptions: RwLock<Vec<Subscription>>,
    next_id: AtomicU64,
    /// Wait-for graph: instance → the plugin whose answer it is blocked on.
    waits: Mutex<WaitGraph>,
    pub(crate) counters: Arc<BrokerCounters>,
    pub(crate) request_timeout: Duration,
    pub(crate) audit: AuditLog,
    pub(crate) supervision: Supervision,
    /// The message tap.
    pub(crate) tap: Arc<TapHub>,
    /// Active plugin timers.
    pub(crate) timers: Timers,
    /// Each plugin's log-line budget, shared with its instances: lines the
    /// host writes because of a plugin are on its account.
    log_rates: DashMap<Arc<str>, Arc<LogRate>>,
    /// The budget of lines the host writes on its own account.
    host_lines: LogRate,
    /// The app's own functions, which plugins call (`Host::serve`).
    pub(crate) app: app::AppFunctions,
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
            waits: Mutex::default(),
            counters: Arc::default(),
            request_timeout,
            audit: AuditLog::new(),
            supervision,
            tap: Arc::new(TapHub::new()),
            timers: Timers::default(),
            log_rates: DashMap::new(),
            host_lines: LogRate::default(),
            app: app::AppFunctions::default(),
        })
    }

    /// A weak handle on the broker itself, for tasks that outlive a call.
    pub(crate) fn me(&self) -> Weak<Broker> {
        self.me.clone()
    }

    /// The log-line budget of `plugin`, at `rate` lines a second (made at
    /// its first load; a reload may change the rate).
    pub(crate) fn log_rate(&self, plugin: &str, rate: u32) -> Arc<LogRate> {
        let shared = self.log_rates.entry(Arc::from(plugin)).or_insert_with(|| Arc::new(LogRate::new(rate))).clone();
        shared.set_rate(rate);
        shared
    }

    /// The log-line budget of `plugin`, if it has one.
    pub(crate) fn log_rate_of(&self, plugin: &str) -> Option<Arc<LogRate>> {
        self.log_rates.get(plugin).map(|r| r.value().clone())
    }

    /// Writes `line`, a line plugin `cause` made the host write, within the
    /// plugin's log budget (the host's own for the host); reports the
    /// dropped lines at most once a second.
    fn line_for(&self, cause: &str, line: impl FnOnce()) {
        let own = self.log_rate_of(cause);
        let rate = own.as_deref().unwrap_or(&self.host_lines);
        match rate.admit() {
            LogAdmission::Write => line(),
            LogAdmission::Drop => {}
            LogAdmission::Report(n) if own.is_some() => {
                let kind = AuditKind::LimitExceeded { limit: "log_rate".into() };
                self.record_audit(AuditEvent::new(cause, kind, rate.report(cause, n)));
            }
            LogAdmission::Report(n) => {
                tracing::warn!(target: "wasp::audit", "{n} lines about undeliverable messages dropped since the last report");
            }
        }
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
    pub(crate) fn quarantine(&self, name: &str, route: &Route, mut reason: String) {
        if !route.counters.enter_quarantine() {
            return;
        }
        // The reason quotes the last fault, whose text the plugin wrote.
        wasp_runtime::truncate(&mut reason, wasp_runtime::MAX_AUDIT_FIELD);
        *route.counters.quarantine_reason.lock() = Some(reason.clone());
        self.cancel_timers(name);
        let message = format!("plugin `{name}` quarantined: {reason}");
        self.counters.audit_events.fetch_add(1, Ordering::Relaxed);
        self.audit.record(AuditEvent::new(name, AuditKind::Quarantined { reason }, message));
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Puts `inbound` in the room taken for it in `route`'s mailbox, with a
    /// tap stamp if a tap is open; hands it back on failure.
    pub(crate) fn push(
        &self,
        route: &Route,
        to: &str,
        inbound: Inbound,
        room: Room,
        kind: TapKind,
        member: Option<usize>,
    ) -> Result<(), Box<Undelivered>> {
        let queued = Queued { inbound, stamp: self.tap.stamp(kind), room };
        route.enqueue(to, queued, member)
    }

    /// Delivers to a plugin's mailbox; hands the message back on failure so
    /// the caller can answer it. A message larger than the recipient takes
    /// is audited against its sender.
    fn deliver(&self, to: &str, inbound: Inbound, kind: TapKind) -> Result<(), Box<Undelivered>> {
        let Some(route) = self.route(to) else {
            let undelivered = Undelivered { error: not_found(to), inbound };
            self.tap_undelivered(kind, &undelivered, to);
            return Err(Box::new(undelivered));
        };
        let result = match route.reserve(to, inbound.payload.len(), Bound::Bounded) {
            Ok(room) => self.push(&route, to, inbound, room, kind, None),
            Err(error) => {
                if error.code == ErrorCode::TooLarge && &*inbound.from != HOST {
                    let limit = AuditKind::LimitExceeded { limit: "max_message_size".into() };
                    let message = format!("plugin `{}` was refused a message: {}", inbound.from, error.message);
                    self.record_audit(AuditEvent::new(&*inbound.from, limit, message));
                }
                Err(Box::new(Undelivered { error, inbound }))
            }
        };
        if let Err(undelivered) = &result {
            self.tap_undelivered(kind, undelivered, to);
        }
        result
    }

    /// Records a message that never reached a mailbox, if a tap is open.
    fn tap_undelivered(&self, kind: TapKind, undelivered: &Undelivered, to: &str) {
        let outcome = TapOutcome::Undelivered { code: undelivered.error.code };
        let i = &undelivered.inbound;
        self.tap.immediate(kind, i.id, &i.from, to, &i.topic, i.payload.len(), outcome);
    }

    /// A message from `from` to `to` refused before it was built (no room,
    /// too large, quarantined): on the tap, and a dead letter whose line is
    /// on `cause`'s log budget.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn refused(
        &self,
        kind: TapKind,
        from: &str,
        to: &str,
        topic: &str,
        size: usize,
        error: &WireError,
        cause: &str,
    ) {
        if self.tap.is_open() {
            let outcome = TapOutcome::Undelivered { code: error.code };
            self.tap.immediate(kind, self.next_id(), from, to, topic, size, outcome);
        }
        self.dead_letter(error, from, topic, to, cause);
    }

    /// Counts a message that could not be delivered, with a line on
    /// `cause`'s log budget.
    fn dead_letter(&self, reason: &WireError, from: &str, topic: &str, to: &str, cause: &str) {
        self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
        self.line_for(cause, || {
            tracing::warn!(target: "wasp::audit", from, to, topic, "undeliverable message: {reason}");
        });
    }

    /// Sends a request from `from` and returns where its answer will arrive;
    /// dropping the [`Pending`] unanswered cancels the request.
    pub(crate) fn start_request(
        &self,
        from: Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Pending {
        let (tx, rx) = oneshot::channel();
        let counters = self.counters.clone();
        let progress = Arc::new(wasp_runtime::Progress::default());
        let reply = ReplyTo::new(move |answer| {
            if tx.send(answer).is_err() {
                counters.late_replies.fetch_add(1, Ordering::Relaxed);
            }
        })
        .cancellable(progress.clone());
        let id = self.next_id();
        let inbound = Inbound {
            kind: MessageKind::Request,
            id,
            from,
            topic: Arc::from(topic),
            payload: payload.into(),
            reply: Some(reply),
            deadline: Instant::now().checked_add(timeout),
        };
        if let Err(undelivered) = self.deliver(to, inbound, TapKind::Request)
            && let Undelivered { error, inbound: Inbound { reply: Some(reply), .. } } = *undelivered
        {
            reply.send(Err(error));
        }
        Pending { rx, watch: cancel::Watch::new(self.me(), to, id, progress) }
    }

    /// Waits for an answer with a timeout; a caller that gives up leaves the
    /// late answer to be discarded and counted, and the request cancelled.
    pub(crate) async fn await_answer(pending: Pending, to: &str, timeout: Duration) -> Answer {
        let Pending { rx, watch } = pending;
        let answer = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(WireError::new(ErrorCode::Internal, format!("the answer from `{to}` was lost"))),
            Err(_) => {
                return Err(WireError::new(
                    ErrorCode::Timeout,
                    format!("no answer from `{to}` within {} ms", timeout.as_millis()),
                ));
            }
        };
        watch.disarm();
        answer
    }

    /// Records that instance `member` of `from` now waits for `to`, unless
    /// that closes a cycle ([`WaitGraph::begin`]).
    fn begin_wait(&self, from: &Arc<str>, member: usize, to: &str) -> Result<WaitGuard, WireError> {
        let waiter = Waiter { plugin: from.clone(), member };
        match self.waits.lock().begin(&waiter, to) {
            Ok(()) => Ok(WaitGuard { broker: self.me.clone(), waiter }),
            Err(cycle) => Err(WireError::new(
                ErrorCode::WouldDeadlock,
                format!(
                    "request from `{from}` to `{to}` would deadlock: {} are waiting on each other; use request_async",
                    cycle.join(" → ")
                ),
            )),
        }
    }

    /// Forgets every subscription of a plugin (it was unloaded).
    pub(crate) fn remove_plugin(&self, name: &str) {
        self.routes.remove(name);
        self.log_rates.remove(name);
        self.cancel_timers(name);
        self.subscriptions.write().retain(|s| !s.is_plugin(name));
    }

    /// Sends a one-way message to `to` as `from` (its permission checked).
    pub(crate) fn send(&self, from: Arc<str>, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        if to == HOST {
            self.to_host(&from, topic, payload, Origin::SentToHost);
            return Ok(());
        }
        let inbound = Inbound {
            kind: MessageKind::Event,
            id: self.next_id(),
            from,
            topic: Arc::from(topic),
            payload: payload.into(),
            reply: None,
            deadline: None,
        };
        self.deliver(to, inbound, TapKind::Send).map_err(|u| u.error)
    }
}

/// Removes a wait-for edge when the waiting request ends.
pub(crate) struct WaitGuard {
    broker: Weak<Broker>,
    waiter: Waiter,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            broker.waits.lock().end(&self.waiter);
        }
    }
}
