//! A plugin's mailbox bounds: how many messages, and how many payload
//! bytes, may wait for it. Room is taken before a message is built, and
//! given back when the message leaves the mailbox, however it leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::Inbound;

use crate::tap::Stamp;

/// A message in a mailbox: the message, its tap stamp if a tap was open
/// when it was queued, and its room.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) inbound: Inbound,
    pub(crate) stamp: Option<Box<Stamp>>,
    pub(crate) room: Room,
}

/// What waits in one plugin's mailbox (for a pool: in its instances'
/// mailboxes and its backlog), and the bounds.
#[derive(Debug)]
pub(crate) struct Mailbox {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    /// The most messages that may wait ([`Limits::mailbox_depth`](wasp_runtime::Limits::mailbox_depth)).
    depth: usize,
    /// The most payload bytes that may wait ([`Limits::mailbox_bytes`](wasp_runtime::Limits::mailbox_bytes)).
    max_bytes: usize,
}

/// A message's room in a [`Mailbox`]: while it lives, the message counts
/// against the bounds; dropping it (the message was taken out, handed
/// back, or lost) gives the room back.
#[derive(Debug)]
pub(crate) struct Room {
    mailbox: Arc<Mailbox>,
    bytes: usize,
}

impl Drop for Room {
    fn drop(&mut self) {
        self.mailbox.messages.fetch_sub(1, Ordering::AcqRel);
        self.mailbox.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Whether a message may be refused for want of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Refused with `busy` past the depth or the byte budget.
    Bounded,
    /// Never refused: the completion of the plugin's own request, already
    /// bounded by its outstanding requests.
    Unbounded,
}

impl Mailbox {
    pub(crate) fn new(depth: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self { messages: AtomicUsize::new(0), bytes: AtomicUsize::new(0), depth, max_bytes })
    }

    /// Messages waiting.
    pub(crate) fn messages(&self) -> usize {
        self.messages.load(Ordering::Acquire)
    }

    /// Payload bytes waiting.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Room for a message of `bytes` payload bytes for plugin `name`, or
    /// `busy` saying which bound it would pass. A message larger than the
    /// whole budget is taken only into an empty mailbox, so that the
    /// largest message allowed can always get through.
    pub(crate) fn reserve(self: &Arc<Self>, name: &str, bytes: usize, bound: Bound) -> Result<Room, WireError> {
        let before = self.messages.fetch_add(1, Ordering::AcqRel);
        let held = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        // From here on, dropping `room` gives back what was just taken.
        let room = Room { mailbox: self.clone(), bytes };
        if bound == Bound::Unbounded {
            return Ok(room);
        }
        if before >= self.depth {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("plugin `{name}` has {before} messages queued, its mailbox limit is {}", self.depth),
            ));
        }
        if held > 0 && held.saturating_add(bytes) > self.max_bytes {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!(
                    "plugin `{name}` has {held} bytes queued; {bytes} more would pass its mailbox limit of {} bytes",
                    self.max_bytes
                ),
            ));
        }
        Ok(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_refused_past_either_bound_and_given_back_on_drop() {
        let mailbox = Mailbox::new(3, 100);
        let a = mailbox.reserve("p", 60, Bound::Bounded).expect("room");
        let err = mailbox.reserve("p", 50, Bound::Bounded).expect_err("over the bytes");
        assert!(err.message.contains("60 bytes queued; 50 more would pass its mailbox limit of 100 bytes"), "{err}");
        assert_eq!((mailbox.messages(), mailbox.bytes()), (1, 60), "a refusal takes nothing");
        let b = mailbox.reserve("p", 40, Bound::Bounded).expect("room");
        let c = mailbox.reserve("p", 0, Bound::Bounded).expect("room");
        let err = mailbox.reserve("p", 0, Bound::Bounded).expect_err("over the depth");
        assert!(err.message.contains("3 messages queued, its mailbox limit is 3"), "{err}");
        // A completion is never refused, and still counted.
        let d = mailbox.reserve("p", 500, Bound::Unbounded).expect("room");
        assert_eq!((mailbox.messages(), mailbox.bytes()), (4, 600));
        drop((a, b, c, d));
        assert_eq!((mailbox.messages(), mailbox.bytes()), (0, 0));
        // An empty mailbox takes one message larger than the budget.
        let big = mailbox.reserve("p", 1000, Bound::Bounded).expect("room");
        assert!(mailbox.reserve("p", 1, Bound::Bounded).is_err());
        drop(big);
    }
}
