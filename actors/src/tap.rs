//! The message tap: every envelope the broker routes, with its timing, for
//! tracing and for an inspector.
//!
//! Nothing is measured while no [`Tap`] is open: routing a message checks
//! one atomic counter and moves on. With a tap open, the broker stamps each
//! message as it enters a mailbox, and the plugin's actor writes one
//! [`TapRecord`] when it has handled it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;
use wasp_protocol::{ErrorCode, HOST};
use wasp_runtime::Inbound;

/// How many records a tap may fall behind before it skips the oldest.
pub(crate) const CAPACITY: usize = 4096;

/// How a message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TapKind {
    /// A request, answered exactly once.
    Request,
    /// A one-way message to one address.
    Send,
    /// A publish, delivered to one subscriber (one record per subscriber).
    Event,
    /// The answer to a plugin's `request_async`, delivered to it as a message.
    Reply,
    /// A plugin timer firing.
    Timer,
}

/// How handling a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TapOutcome {
    /// Handled; a request was answered with a value.
    Ok,
    /// A request was answered with an error (by the plugin, or by the host
    /// for a plugin that could not run it: quarantined, expired in its mailbox).
    Error {
        /// The wire code of the answer ([`ErrorCode`] serializes as its number).
        code: ErrorCode,
    },
    /// The handler returned without answering the request: it deferred the
    /// answer (it arrives later and is not part of this record).
    Deferred,
    /// The plugin faulted (trapped, panicked, spent its budget) handling it.
    Fault {
        /// The fault's wire code.
        code: ErrorCode,
    },
    /// The message never reached a mailbox: no such plugin, a full mailbox,
    /// a quarantined plugin, a full host subscriber.
    Undelivered {
        /// Why, as a wire code.
        code: ErrorCode,
    },
}

/// One routed message, from a [`Tap`].
///
/// Written when the recipient has handled it (or when it could not be
/// delivered), so a record carries how long it waited in the mailbox and
/// how long its handler ran. Messages for the host (sends to `host`,
/// publishes a host subscriber receives) are written as they are handed
/// over, with zero wait and handling time.
///
/// It serializes (to JSON for a webview) with snake_case field names, the
/// kind as a string and the outcome as `{"status": "ok"}` or
/// `{"status": "error", "code": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TapRecord {
    /// The message id: the request id for requests, the completed
    /// `request_async` id for replies.
    pub id: u64,
    /// How it travelled.
    pub kind: TapKind,
    /// The sender's address (`host` for the host).
    pub from: String,
    /// The recipient's address (`host` for the host).
    pub to: String,
    /// The topic.
    pub topic: String,
    /// The payload's size in bytes (MessagePack).
    pub size: usize,
    /// When it was put in the recipient's mailbox, in milliseconds since the
    /// Unix epoch (what JavaScript's `Date` takes).
    pub enqueued_unix_ms: u64,
    /// How long it waited in the mailbox, in nanoseconds.
    pub queued_nanos: u64,
    /// How long its handler ran, in nanoseconds (including time the handler
    /// spent waiting on its own requests).
    pub handled_nanos: u64,
    /// How handling it ended.
    pub outcome: TapOutcome,
}

impl TapRecord {
    /// The time waited in the mailbox.
    pub fn queued(&self) -> Duration {
        Duration::from_nanos(self.queued_nanos)
    }

    /// The time the handler ran.
    pub fn handled(&self) -> Duration {
        Duration::from_nanos(self.handled_nanos)
    }
}

/// A live stream of [`TapRecord`]s, from [`Host::tap`](crate::Host::tap).
///
/// Every message routed while it is open is recorded once. A tap that
/// falls more than 4,096 records behind skips the oldest and counts them in
/// [`missed`](Tap::missed). Dropping the last open tap turns recording off.
///
/// ```
/// use wasp_actors::{Host, Load, TapKind, TapOutcome};
/// use wasp_sdk::prelude::*;
///
/// #[derive(Default)]
/// struct Echo;
///
/// impl Plugin for Echo {
///     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
///         Ok(Reply::bytes(msg.payload.to_vec()))
///     }
/// }
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder().build()?;
/// host.load(Load::in_process(Echo::default).named("echo")).await?;
/// let mut tap = host.tap();
/// let _: String = host.call("echo", "say", &"hi").await?;
/// let record = tap.recv().await.expect("one record");
/// assert_eq!((record.kind, record.to.as_str(), record.topic.as_str()), (TapKind::Request, "echo", "say"));
/// assert_eq!(record.outcome, TapOutcome::Ok);
/// # host.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Tap {
    rx: broadcast::Receiver<TapRecord>,
    open: Arc<AtomicUsize>,
    missed: u64,
}

impl Tap {
    /// The next record; `None` once the host is gone.
    pub async fn recv(&mut self) -> Option<TapRecord> {
        loop {
            match self.rx.recv().await {
                Ok(record) => return Some(record),
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next record if one is waiting.
    pub fn try_recv(&mut self) -> Option<TapRecord> {
        loop {
            match self.rx.try_recv() {
                Ok(record) => return Some(record),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.missed += n,
                Err(_) => return None,
            }
        }
    }

    /// Records skipped because this tap fell too far behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// When and how a message entered a mailbox; made only while a tap is open.
#[derive(Debug)]
pub(crate) struct Stamp {
    kind: TapKind,
    enqueued: SystemTime,
    at: Instant,
}

impl Stamp {
    /// When the message entered the mailbox.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }
}

/// The broker's side of the tap: the open count and the channel.
pub(crate) struct TapHub {
    open: Arc<AtomicUsize>,
    tx: broadcast::Sender<TapRecord>,
}

impl TapHub {
    pub(crate) fn new() -> Self {
        Self { open: Arc::new(AtomicUsize::new(0)), tx: broadcast::channel(CAPACITY).0 }
    }

    /// Whether any tap is open: the only cost of the tap when none is.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed) != 0
    }

    /// How many taps are open.
    pub(crate) fn open_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A stamp for a message entering a mailbox now, if a tap is open.
    #[inline]
    pub(crate) fn stamp(&self, kind: TapKind) -> Option<Box<Stamp>> {
        if self.is_open() {
            Some(Box::new(Stamp { kind, enqueued: SystemTime::now(), at: Instant::now() }))
        } else {
            None
        }
    }

    pub(crate) fn open(&self) -> Tap {
        // Subscribe first: a record sent once the count is up reaches this tap.
        let rx = self.tx.subscribe();
        self.open.fetch_add(1, Ordering::AcqRel);
        Tap { rx, open: self.open.clone(), missed: 0 }
    }

    fn send(&self, record: TapRecord) {
        // No receiver left (the last tap just closed) is fine.
        let _ = self.tx.send(record);
    }

    /// Records a message its recipient has handled.
    pub(crate) fn handled(&self, stamp: &Stamp, head: Head, queued: Duration, took: Duration, outcome: TapOutcome) {
        if !self.is_open() {
            return;
        }
        self.send(TapRecord {
            id: head.id,
            kind: stamp.kind,
            from: head.from.to_string(),
            to: head.to.to_string(),
            topic: head.topic.to_string(),
            size: head.size,
            enqueued_unix_ms: unix_ms(stamp.enqueued),
            queued_nanos: nanos(queued),
            handled_nanos: nanos(took),
            outcome,
        });
    }

    /// Records a message refused before it reached a mailbox: no wait, no
    /// handling time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn immediate(
        &self,
        kind: TapKind,
        id: u64,
        from: &str,
        to: &str,
        topic: &str,
        size: usize,
        outcome: TapOutcome,
    ) {
        if !self.is_open() {
            return;
        }
        self.send(TapRecord {
            id,
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            topic: topic.to_owned(),
            size,
            enqueued_unix_ms: unix_ms(SystemTime::now()),
            queued_nanos: 0,
            handled_nanos: 0,
            outcome,
        });
    }

    /// Records an event handed to a host subscriber.
    pub(crate) fn to_host(&self, kind: TapKind, id: u64, from: &str, topic: &str, size: usize, outcome: TapOutcome) {
        if !self.is_open() {
            return;
        }
        self.send(TapRecord {
            id,
            kind,
            from: from.to_owned(),
            to: HOST.to_owned(),
            topic: topic.to_owned(),
            size,
            enqueued_unix_ms: unix_ms(SystemTime::now()),
            queued_nanos: 0,
            handled_nanos: 0,
            outcome,
        });
    }
}

/// What a record says about the message itself, taken before the handler
/// consumes it.
pub(crate) struct Head {
    pub(crate) id: u64,
    pub(crate) from: Arc<str>,
    pub(crate) to: Arc<str>,
    pub(crate) topic: Arc<str>,
    pub(crate) size: usize,
}

impl Head {
    pub(crate) fn of(inbound: &Inbound, to: &Arc<str>) -> Self {
        Self {
            id: inbound.id,
            from: inbound.from.clone(),
            to: to.clone(),
            topic: inbound.topic.clone(),
            size: inbound.payload.len(),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
