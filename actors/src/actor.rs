//! `PluginActor`: one plugin instance behind a ractor mailbox, supervised.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr};
use tokio::sync::oneshot;
use tracing::Instrument;
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::{AuditEvent, AuditKind, Engine, Inbound, Instance, PluginEnv, PluginImage, ReplyTo};

use crate::broker::{Broker, quarantined};
use crate::mailbox::Queued;
use crate::metrics::{PluginCounters, PluginState, record};
use crate::pool::InstancePool;
use crate::tap::{Head, Stamp, TapOutcome};

/// The actor. Behaviour only; its state is [`PluginActorState`].
pub(crate) struct PluginActor;

/// What the actor owns: the running instance and its counters.
pub(crate) struct PluginActorState {
    name: Arc<str>,
    instance: Instance,
    counters: Arc<PluginCounters>,
    broker: Weak<Broker>,
    member: Option<Member>,
}

/// Which instance of which pool an actor is.
pub(crate) struct Member {
    pub(crate) pool: Arc<InstancePool>,
    pub(crate) index: usize,
}

/// Messages to a plugin actor.
pub(crate) enum PluginMsg {
    /// A message for the plugin, stamped if a tap was open when it was
    /// queued; its room in the mailbox is given back when it is taken out.
    Deliver(Queued),
    /// A message the pool handed to this idle instance; once it is handled
    /// the instance takes the next one waiting for the pool, if any.
    Work(Queued),
    /// Swaps in an instance of a pool's new code (a pool's reload), between
    /// two messages: the old instance's `on_unload` runs as a flush and its
    /// state is dropped.
    Swap(Box<Instance>, oneshot::Sender<Result<(), wasp_runtime::Error>>),
    /// Lift the quarantine: restart the plugin fresh and take messages again.
    Lift(oneshot::Sender<Result<(), wasp_runtime::Error>>),
    /// Restart the plugin fresh, between two messages.
    Restart(oneshot::Sender<Result<(), wasp_runtime::Error>>),
    /// Replace the instance with one of new code (a reload), between two
    /// messages: the old instance hands its state to the new one, and
    /// messages queued behind this one go to the new instance. On failure
    /// the old instance keeps running.
    Replace(Box<Replacement>, oneshot::Sender<Result<(), wasp_runtime::Error>>),
    /// The plugin's process (a `wasp-node`) ended by itself between
    /// messages: restart it as after a fault.
    Exited(String),
}

// `ractor_cluster` turns on `ractor/cluster`, which drops ractor's blanket
// `Message` impl: a message that never leaves the process says so itself.
// Without `out-of-process` the blanket impl covers it.
#[cfg(feature = "out-of-process")]
impl ractor::Message for PluginMsg {}

/// New code for a running plugin: what a [`PluginMsg::Replace`] starts.
pub(crate) struct Replacement {
    /// The new code; `None` restarts the running code (an in-process plugin).
    pub(crate) image: Option<PluginImage>,
    pub(crate) engine: Engine,
    pub(crate) env: PluginEnv,
}

/// What the actor is started with.
pub(crate) struct PluginArgs {
    pub(crate) name: Arc<str>,
    pub(crate) instance: Instance,
    pub(crate) counters: Arc<PluginCounters>,
    pub(crate) broker: Weak<Broker>,
    /// For an instance of a pool: the pool and its index in it.
    pub(crate) member: Option<Member>,
}

impl Actor for PluginActor {
    type Msg = PluginMsg;
    type State = PluginActorState;
    type Arguments = PluginArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PluginMsg>,
        mut args: PluginArgs,
    ) -> Result<PluginActorState, ActorProcessingErr> {
        watch_exit(&mut args.instance, &myself);
        Ok(PluginActorState {
            name: args.name,
            instance: args.instance,
            counters: args.counters,
            broker: args.broker,
            member: args.member,
        })
    }

    /// An orderly stop (an unload, a shutdown): the plugin's `on_unload`
    /// runs, so it can flush what it must not lose; its state goes nowhere.
    async fn post_stop(
        &self,
        _myself: ActorRef<PluginMsg>,
        st: &mut PluginActorState,
    ) -> Result<(), ActorProcessingErr> {
        st.flush().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<PluginMsg>,
        msg: PluginMsg,
        st: &mut PluginActorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PluginMsg::Work(queued) => st.work(queued, &myself).await,
            PluginMsg::Swap(instance, done) => {
                st.flush().await;
                st.swap(*instance);
                let _ = done.send(Ok(()));
            }
            PluginMsg::Deliver(queued) => st.take(queued).await,
            PluginMsg::Lift(done) => {
                let result = st.lift().await;
                let _ = done.send(result);
            }
            PluginMsg::Restart(done) => {
                let result = st.restart().await;
                let _ = done.send(result);
            }
            PluginMsg::Replace(next, done) => {
                let result = st.replace(*next).await;
                watch_exit(&mut st.instance, &myself);
                let _ = done.send(result);
            }
            PluginMsg::Exited(how) => st.exited(how).await,
        }
        Ok(())
    }
}

/// Has an out-of-process instance tell the actor when its process ends by itself.
fn watch_exit(instance: &mut Instance, actor: &ActorRef<PluginMsg>) {
    if let Instance::Remote(remote) = instance {
        let actor = actor.clone();
        remote.on_exit(Arc::new(move |how| {
            let _ = actor.cast(PluginMsg::Exited(how));
        }));
    }
}

impl PluginActorState {
    /// Runs the plugin's `on_unload` so it can flush what it must not lose;
    /// its state goes nowhere. Not for a quarantined instance.
    async fn flush(&mut self) {
        if self.counters.state() != PluginState::Quarantined && !self.instance.quarantined() {
            match self.instance.unload().await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(target: "wasp::host", plugin = %self.name, "on_unload failed: {e}"),
                Err(fault) => {
                    self.audit(AuditKind::Fault { code: fault.code() }, format!("plugin fault in on_unload: {fault}"));
                }
            }
        }
    }

    /// Handles a message the pool handed over, then takes the next one
    /// waiting for the pool. The next one goes through the mailbox, so a
    /// restart or reload queued meanwhile runs between the two; when the
    /// mailbox takes nothing more (the plugin is being unloaded), it is
    /// handled here, so nothing queued for the pool is lost.
    async fn work(&mut self, first: Queued, myself: &ActorRef<PluginMsg>) {
        let Some(index) = self.member.as_ref().map(|m| m.index) else {
            // Only pool members are handed work; answer it all the same.
            self.take(first).await;
            return;
        };
        let mut work = Some(first);
        while let Some(queued) = work.take() {
            self.take(queued).await;
            let next = self.member.as_ref().and_then(|m| m.pool.next(index));
            if let Some(queued) = next {
                match myself.cast(PluginMsg::Work(queued)) {
                    Ok(()) => {}
                    Err(MessagingErr::SendErr(PluginMsg::Work(queued))) => work = Some(queued),
                    // Not handed back: dropped (its room with it), its
                    // request answered `plugin_crashed` by its reply target.
                    Err(_) => {}
                }
            }
        }
    }

    /// Takes a message out of the mailbox (its room is free again) and
    /// handles it.
    async fn take(&mut self, queued: Queued) {
        let Queued { inbound, stamp, room } = queued;
        drop(room);
        match stamp {
            None => drop(self.deliver(inbound).await),
            Some(stamp) => self.deliver_tapped(inbound, &stamp).await,
        }
    }

    /// Stops the timers this instance set (all the plugin's, for a single
    /// instance): it is about to be recycled.
    fn cancel_own_timers(&self, broker: &Broker) {
        match &self.member {
            Some(m) => broker.cancel_member_timers(&self.name, m.index),
            None => broker.cancel_timers(&self.name),
        }
    }

    /// The plugin's process ended between messages (what it held was
    /// answered `plugin_crashed`): a fault like any other. Nothing to do
    /// if the instance was restarted since (the crash came mid-message).
    async fn exited(&mut self, how: String) {
        let Instance::Remote(remote) = &self.instance else { return };
        if remote.exited().is_none() {
            return;
        }
        self.counters.faults.fetch_add(1, Ordering::Relaxed);
        self.audit(AuditKind::Fault { code: ErrorCode::PluginCrashed }, format!("plugin fault: {how}"));
        self.supervise(&how).await;
    }

    fn audit(&self, kind: AuditKind, message: String) {
        if let Some(broker) = self.broker.upgrade() {
            broker.record_audit(AuditEvent::new(&*self.name, kind, message));
        }
    }

    /// [`deliver`](Self::deliver), recording the message on the tap: its
    /// wait, its handling time, and how the request was answered.
    async fn deliver_tapped(&mut self, mut inbound: Inbound, stamp: &Stamp) {
        let started = Instant::now();
        let head = Head::of(&inbound, &self.name);
        // Learn the answer on its way to the caller.
        let answered = Arc::new(OnceLock::new());
        if let Some(reply) = inbound.reply.take() {
            let answered = answered.clone();
            inbound.reply = Some(ReplyTo::new(move |answer| {
                let _ = answered.set(answer.as_ref().err().map(|e| e.code));
                reply.send(answer);
            }));
        } else {
            let _ = answered.set(None);
        }
        let queued = started.saturating_duration_since(stamp.at());
        // An event for a quarantined plugin is dropped unhandled.
        let dropped = inbound.reply.is_none() && self.counters.state() == PluginState::Quarantined;
        let (fault, took) = self.deliver(inbound).await;
        let outcome = match (fault, answered.get()) {
            _ if dropped => TapOutcome::Undelivered { code: ErrorCode::Unavailable },
            (Some(code), _) => TapOutcome::Fault { code },
            (None, Some(None)) => TapOutcome::Ok,
            (None, Some(Some(code))) => TapOutcome::Error { code: *code },
            (None, None) => TapOutcome::Deferred,
        };
        if let Some(broker) = self.broker.upgrade() {
            broker.tap.handled(stamp, head, queued, took, outcome);
        }
    }

    /// Handles one message; returns the fault's code if the plugin faulted,
    /// and how long its handler ran (zero if it did not run).
    async fn deliver(&mut self, inbound: Inbound) -> (Option<ErrorCode>, Duration) {
        if self.counters.state() == PluginState::Quarantined {
            // Fail closed: answer, never run (and answer what it had deferred).
            self.instance.abandon();
            let err = quarantined(&self.name, &self.counters);
            match inbound.reply {
                Some(reply) => reply.send(Err(err)),
                None => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    if let Some(broker) = self.broker.upgrade() {
                        broker.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            return (None, Duration::ZERO);
        }
        if let Some(deadline) = inbound.deadline
            && Instant::now() >= deadline
        {
            self.counters.expired.fetch_add(1, Ordering::Relaxed);
            if let Some(reply) = inbound.reply {
                reply.send(Err(WireError::new(
                    ErrorCode::Timeout,
                    format!("the request to `{}` expired in its mailbox", self.name),
                )));
            }
            return (None, Duration::ZERO);
        }
        if inbound.reply.as_ref().is_some_and(|reply| !reply.hand_over()) {
            // Its caller cancelled it while it waited: it never runs (the
            // caller was answered `cancelled` already).
            if let Some(reply) = inbound.reply {
                reply.disarm();
            }
            return (None, Duration::ZERO);
        }
        let span = tracing::debug_span!("message", plugin = %self.name, topic = %inbound.topic, msg_id = inbound.id);
        let started = Instant::now();
        let result = match self.instance.handle(inbound).instrument(span).await {
            // The host could not hand the message over (its sender was
            // answered): the instance is replaced, the plugin not charged.
            Err(wasp_runtime::Error::NoRoom { .. }) => self.replace_quietly().await,
            other => other,
        };
        let counters = &self.counters;
        let took = started.elapsed();
        counters.busy_nanos.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        counters.record_memory(self.instance.memory_size() as u64);
        if result.is_err() {
            counters.faults.fetch_add(1, Ordering::Relaxed);
        }
        // Last, so that whoever sees the message counted sees the rest too.
        counters.handled.fetch_add(1, Ordering::Release);
        let mut faulted = None;
        if let Err(fault) = result {
            faulted = Some(fault.code());
            self.audit(AuditKind::Fault { code: fault.code() }, format!("plugin fault: {fault}"));
            self.supervise(&fault.to_string()).await;
        }
        if self.counters.state() == PluginState::Quarantined || self.instance.quarantined() {
            // Nothing it deferred will be answered by it now.
            self.instance.abandon();
        }
        (faulted, took)
    }

    /// Replaces an instance that is not at fault (the host found no room in
    /// it for a message): no backoff, no failure or violation counted. A
    /// replacement that fails to start is a fault like any other.
    async fn replace_quietly(&mut self) -> Result<(), wasp_runtime::Error> {
        if let Some(broker) = self.broker.upgrade() {
            self.cancel_own_timers(&broker);
        }
        self.instance.recycle().await?;
        self.counters.restarts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// After a fault: restart with backoff, or quarantine a repeat offender.
    async fn supervise(&mut self, fault: &str) {
        let Some(broker) = self.broker.upgrade() else { return };
        let policy = broker.supervision.clone();
        let mut last = fault.to_owned();
        loop {
            // A quarantined plugin is restarted when the quarantine is lifted.
            if self.counters.state() == PluginState::Quarantined || self.instance.quarantined() {
                return;
            }
            let failures = record(&self.counters.recent_failures, policy.failure_window);
            if failures >= policy.max_failures {
                let window = policy.failure_window.as_secs_f64();
                let reason = format!("{failures} failures within {window} s; the last: {last}");
                if let Some(route) = broker.route(&self.name) {
                    broker.quarantine(&self.name, &route, reason);
                }
                return;
            }
            let delay = policy.backoff(failures);
            // A pool answers while any instance runs: it is restarting only
            // when all of them are.
            let all = self.member.as_ref().is_none_or(|m| m.pool.begin_restart());
            if all {
                self.counters.set_state(PluginState::Restarting);
            }
            self.cancel_own_timers(&broker);
            self.audit(
                AuditKind::Restarted { failures, delay },
                format!("plugin `{}` restarts in {} ms (failure {failures})", self.name, delay.as_millis()),
            );
            // Messages that arrive meanwhile wait in the mailbox for the new instance.
            tokio::time::sleep(delay).await;
            let recycled = self.instance.recycle().await;
            if let Some(m) = &self.member {
                m.pool.end_restart();
            }
            match recycled {
                Ok(()) => {
                    self.counters.restarts.fetch_add(1, Ordering::Relaxed);
                    if self.counters.state() == PluginState::Restarting {
                        self.counters.set_state(PluginState::Running);
                    }
                    return;
                }
                Err(e) => {
                    self.counters.faults.fetch_add(1, Ordering::Relaxed);
                    self.audit(AuditKind::Fault { code: e.code() }, format!("plugin could not be restarted: {e}"));
                    last = e.to_string();
                }
            }
        }
    }

    async fn restart(&mut self) -> Result<(), wasp_runtime::Error> {
        if let Some(broker) = self.broker.upgrade() {
            self.cancel_own_timers(&broker);
        }
        self.instance.recycle().await?;
        self.counters.restarts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A hot reload, between two messages: asks the old instance for its
    /// state (`on_unload`), starts the new code with it (`on_load`), and
    /// swaps. The old code's subscriptions and timers go once the new code
    /// has started (it makes its own in `on_load`); if it fails to start,
    /// they are put back and the old instance runs on.
    async fn replace(&mut self, next: Replacement) -> Result<(), wasp_runtime::Error> {
        let gone = || wasp_runtime::Error::Internal("the host is shutting down".into());
        let broker = self.broker.upgrade().ok_or_else(gone)?;
        let quarantined = self.counters.state() == PluginState::Quarantined || self.instance.quarantined();
        // A quarantined instance is not asked: it must not run again.
        let state = if quarantined {
            None
        } else {
            match self.instance.unload().await {
                Ok(Ok(state)) => state,
                Ok(Err(error)) => {
                    return Err(wasp_runtime::Error::UnloadFailed { plugin: self.name.to_string(), error });
                }
                Err(fault) => {
                    self.counters.faults.fetch_add(1, Ordering::Relaxed);
                    self.audit(AuditKind::Fault { code: fault.code() }, format!("plugin fault in on_unload: {fault}"));
                    self.supervise(&fault.to_string()).await;
                    return Err(fault);
                }
            }
        };
        let subscriptions = broker.take_plugin_subscriptions(&self.name);
        let timers = broker.timer_ids(&self.name);
        // The new code's `on_load` sets its own timers; the old ones go if it starts.
        broker.retire_timers(&timers, true);
        let image = next.image.unwrap_or_else(|| self.instance.image());
        match image.instantiate_with(&next.engine, next.env, state.as_deref()).await {
            Ok(instance) => {
                broker.cancel_timers_by(&self.name, &timers, true);
                self.swap(instance);
                Ok(())
            }
            Err(e) => {
                broker.cancel_timers_by(&self.name, &timers, false);
                broker.retire_timers(&timers, false);
                broker.restore_plugin_subscriptions(&self.name, subscriptions);
                Err(e)
            }
        }
    }

    /// Swaps in a reloaded instance. What the old one deferred is answered
    /// (`unavailable`); a quarantine ends, since the code that earned it is gone.
    fn swap(&mut self, instance: Instance) {
        let mut old = std::mem::replace(&mut self.instance, instance);
        old.abandon();
        drop(old);
        self.counters.record_memory(self.instance.memory_size() as u64);
        self.counters.recent_failures.lock().clear();
        self.counters.recent_violations.lock().clear();
        *self.counters.quarantine_reason.lock() = None;
        self.counters.set_state(PluginState::Running);
    }

    async fn lift(&mut self) -> Result<(), wasp_runtime::Error> {
        let broker = self.broker.upgrade();
        if let Some(broker) = &broker {
            self.cancel_own_timers(broker);
        }
        self.instance.recycle().await?;
        self.counters.recent_failures.lock().clear();
        self.counters.recent_violations.lock().clear();
        *self.counters.quarantine_reason.lock() = None;
        self.counters.restarts.fetch_add(1, Ordering::Relaxed);
        self.counters.set_state(PluginState::Running);
        // A pool's quarantine is lifted once, by its first instance.
        if self.member.as_ref().is_none_or(|m| m.index == 0) {
            self.audit(AuditKind::QuarantineLifted, format!("the quarantine of plugin `{}` was lifted", self.name));
        }
        Ok(())
    }
}
