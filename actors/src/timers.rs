//! Plugin timers: which are active, what their payloads hold, and their
//! firing into the plugin's mailbox.
//!
//! A timer's payload is stored once and shared by every event it fires
//! ([`bytes::Bytes`]); the payloads of a plugin's active timers together
//! stay under its [`Limits::timer_bytes`](wasp_runtime::Limits::timer_bytes).
//! A firing its mailbox has no room for builds nothing.

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use wasp_protocol::{ErrorCode, HOST, MessageKind, Permission, WireError};
use wasp_runtime::{AuditEvent, AuditKind, Inbound, TimerSpec};

use crate::broker::Broker;
use crate::mailbox::Bound;
use crate::tap::TapKind;

/// The active timers of every plugin, by id.
#[derive(Default)]
pub(crate) struct Timers {
    active: DashMap<u64, Timer>,
}

/// One active plugin timer.
struct Timer {
    /// The plugin that set it.
    owner: Arc<str>,
    /// The instance of a pool that set it (0 for a single instance): it
    /// stops when that instance is recycled.
    member: usize,
    /// Its payload's size, counted against the owner's `timer_bytes`.
    bytes: usize,
    task: tokio::task::AbortHandle,
    /// Set by a reload while the new code starts: the timer stops if the
    /// new code starts, so it does not count against the limits meanwhile.
    retiring: bool,
}

impl Timers {
    /// Stops the timers `hit` selects.
    fn cancel_where(&self, hit: impl Fn(u64, &Timer) -> bool) {
        self.active.retain(|id, t| {
            let hit = hit(*id, t);
            if hit {
                t.task.abort();
            }
            !hit
        });
    }

    /// Whether `owner` may set one more timer with a payload of `bytes`:
    /// `busy` at `max_timers` active, `too_large` past `max_bytes` of
    /// payloads. Retiring timers (a reload's old code) do not count.
    fn admit(&self, owner: &str, bytes: usize, max_timers: usize, max_bytes: usize) -> Result<(), WireError> {
        let (active, held) = self.held(owner);
        if active >= max_timers {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("plugin `{owner}` already has {active} timers active, its limit is {max_timers}"),
            ));
        }
        if held.saturating_add(bytes) > max_bytes {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!(
                    "plugin `{owner}`'s timers hold {held} bytes of payloads; one of {bytes} more would pass its limit of {max_bytes} bytes"
                ),
            ));
        }
        Ok(())
    }

    /// How many timers `owner` has active, and the bytes of their payloads.
    fn held(&self, owner: &str) -> (usize, usize) {
        self.active
            .iter()
            .filter(|t| &*t.owner == owner && !t.retiring)
            .fold((0, 0), |(n, bytes), t| (n + 1, bytes + t.bytes))
    }
}

impl Broker {
    /// Stops every timer of `plugin`.
    pub(crate) fn cancel_timers(&self, plugin: &str) {
        self.timers.cancel_where(|_, t| &*t.owner == plugin);
    }

    /// Stops the timers that instance `member` of the pool `plugin` set.
    pub(crate) fn cancel_member_timers(&self, plugin: &str, member: usize) {
        self.timers.cancel_where(|_, t| &*t.owner == plugin && t.member == member);
    }

    /// Cancels a plugin's timers: those in `ids` when `among` is true, the
    /// others when it is false.
    pub(crate) fn cancel_timers_by(&self, plugin: &str, ids: &[u64], among: bool) {
        self.timers.cancel_where(|id, t| &*t.owner == plugin && ids.contains(&id) == among);
    }

    /// Stops timer `id` of `owner`; says whether it was active.
    pub(crate) fn cancel_timer(&self, owner: &Arc<str>, id: u64) -> bool {
        match self.timers.active.remove_if(&id, |_, t| t.owner == *owner) {
            Some((_, t)) => {
                t.task.abort();
                true
            }
            None => false,
        }
    }

    /// The ids of a plugin's active timers.
    pub(crate) fn timer_ids(&self, plugin: &str) -> Vec<u64> {
        self.timers.active.iter().filter(|t| &*t.value().owner == plugin).map(|t| *t.key()).collect()
    }

    /// Marks the timers `ids` as retiring (a reload's new code is starting
    /// and will replace them), or no longer so (it failed to start).
    pub(crate) fn retire_timers(&self, ids: &[u64], retiring: bool) {
        for id in ids {
            if let Some(mut t) = self.timers.active.get_mut(id) {
                t.retiring = retiring;
            }
        }
    }

    /// A plugin's timer ([`Router::set_timer`](wasp_runtime::Router::set_timer)) for instance
    /// `member` (0 for a single instance): the timer stops when that
    /// instance is recycled; its events go to the plugin's address (any
    /// idle instance of a pool). `busy` past `max_timers`, `too_large`
    /// past `max_bytes` of payloads.
    pub(crate) fn set_timer(&self, from: &Arc<str>, member: usize, spec: TimerSpec) -> Result<u64, WireError> {
        let bytes = spec.payload.len();
        self.timers.admit(from, bytes, spec.max_timers, spec.max_bytes)?;
        let id = self.next_id();
        let (me, plugin, topic) = (self.me(), from.clone(), Arc::<str>::from(spec.topic));
        let (period, repeat, payload) = (spec.period, spec.repeat, spec.payload);
        let task = tokio::spawn(async move {
            let mut next = tokio::time::Instant::now() + period;
            loop {
                tokio::time::sleep_until(next).await;
                let Some(broker) = me.upgrade() else { return };
                if !broker.fire_timer(&plugin, id, &topic, &payload) || !repeat {
                    broker.timers.active.remove(&id);
                    return;
                }
                // A late wake-up skips the missed periods instead of bursting.
                next = (next + period).max(tokio::time::Instant::now());
            }
        });
        let timer = Timer { owner: from.clone(), member, bytes, task: task.abort_handle(), retiring: false };
        self.timers.active.insert(id, timer);
        Ok(id)
    }

    /// Delivers one timer event, sharing the timer's payload; `false` stops
    /// the timer. An event the mailbox has no room for is a dead letter,
    /// its line on the plugin's log budget.
    fn fire_timer(&self, plugin: &Arc<str>, id: u64, topic: &Arc<str>, payload: &Bytes) -> bool {
        let Some(route) = self.route(plugin) else { return false };
        if !self.timers.active.contains_key(&id) {
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
        let room = match route.reserve(plugin, payload.len(), Bound::Bounded) {
            Ok(room) => room,
            Err(error) => {
                self.refused(TapKind::Timer, HOST, plugin, topic, payload.len(), &error, plugin);
                return true;
            }
        };
        let inbound = Inbound {
            kind: MessageKind::Event,
            id: self.next_id(),
            from: Arc::from(HOST),
            topic: topic.clone(),
            payload: payload.clone(),
            reply: None,
            deadline: None,
        };
        if let Err(undelivered) = self.push(&route, plugin, inbound, room, TapKind::Timer, None) {
            let u = undelivered.inbound;
            self.refused(TapKind::Timer, HOST, plugin, topic, u.payload.len(), &undelivered.error, plugin);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer of `owner` whose task sleeps until it is aborted.
    fn timer(owner: &str, member: usize, bytes: usize) -> (Timer, tokio::task::JoinHandle<()>) {
        let task = tokio::spawn(std::future::pending());
        let timer = Timer { owner: Arc::from(owner), member, bytes, task: task.abort_handle(), retiring: false };
        (timer, task)
    }

    #[tokio::test]
    async fn a_plugin_is_held_to_its_count_and_bytes_others_are_not_counted() {
        let timers = Timers::default();
        timers.active.insert(1, timer("a", 0, 600).0);
        timers.active.insert(2, timer("a", 0, 300).0);
        timers.active.insert(3, timer("b", 0, 5000).0);
        assert_eq!(timers.held("a"), (2, 900));
        assert_eq!(timers.admit("a", 100, 3, 1000), Ok(()), "exactly at the byte limit");
        assert_eq!(timers.admit("a", 101, 3, 1000).map_err(|e| e.code), Err(ErrorCode::TooLarge));
        assert_eq!(timers.admit("a", 0, 2, 1000).map_err(|e| e.code), Err(ErrorCode::Busy));
        let busy = timers.admit("a", 0, 2, 1000).unwrap_err();
        assert!(busy.message.contains("already has 2 timers active, its limit is 2"), "{}", busy.message);
        assert_eq!(timers.admit("c", 1000, 1, 1000), Ok(()), "a plugin with none");
    }

    #[tokio::test]
    async fn retiring_timers_do_not_count() {
        let timers = Timers::default();
        let (mut old, _task) = timer("a", 0, 900);
        old.retiring = true;
        timers.active.insert(1, old);
        assert_eq!(timers.held("a"), (0, 0));
        assert_eq!(timers.admit("a", 1000, 1, 1000), Ok(()));
    }

    #[tokio::test]
    async fn cancelling_aborts_exactly_the_timers_selected() {
        let timers = Timers::default();
        let (t1, task1) = timer("a", 0, 1);
        let (t2, task2) = timer("a", 1, 1);
        let (t3, task3) = timer("b", 1, 1);
        timers.active.insert(1, t1);
        timers.active.insert(2, t2);
        timers.active.insert(3, t3);
        timers.cancel_where(|_, t| &*t.owner == "a" && t.member == 1);
        let ids: Vec<u64> =
            timers.active.iter().map(|t| *t.key()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        assert_eq!(ids, [1, 3]);
        assert!(task2.await.unwrap_err().is_cancelled(), "the cancelled timer's task stops");
        assert!(!task1.is_finished() && !task3.is_finished(), "the others run on");
    }
}
