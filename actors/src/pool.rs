//! Instance pools: several instances of one plugin behind its one address
//! (`docs/pools.md`).
//!
//! Each instance is its own [`PluginActor`](crate::actor::PluginActor) with
//! its own mailbox, so a trap recycles only that instance. The pool hands a
//! message to an idle instance, or keeps it in one shared backlog until an
//! instance finishes what it is doing: a message never waits behind a busy
//! instance while another is idle. Messages meant for one instance (the
//! completion of its own `request_async`) go to its mailbox directly.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::{ActorRef, MessagingErr};
use wasp_runtime::PluginImage;

use crate::actor::PluginMsg;
use crate::mailbox::Queued;

/// The instances of one pooled plugin and the work waiting for them.
pub(crate) struct InstancePool {
    /// Each instance's actor, by index; set once they have all started.
    members: OnceLock<Vec<ActorRef<PluginMsg>>>,
    size: usize,
    dispatch: Mutex<Dispatch>,
    /// Instances between a fault and their restart.
    restarting: AtomicUsize,
    /// The code the instances run, for an in-process reload.
    image: Mutex<PluginImage>,
}

/// Who is idle and what waits: one lock, so that an instance going idle
/// and a message being queued cannot miss each other.
struct Dispatch {
    /// Idle instances, the most recently idle last (it is handed work first:
    /// its memory is still warm).
    idle: Vec<usize>,
    backlog: VecDeque<Queued>,
}

impl InstancePool {
    /// A pool of `size` instances, all idle, running `image`.
    pub(crate) fn new(size: usize, image: PluginImage) -> Self {
        Self {
            members: OnceLock::new(),
            size,
            dispatch: Mutex::new(Dispatch { idle: (0..size).rev().collect(), backlog: VecDeque::new() }),
            restarting: AtomicUsize::new(0),
            image: Mutex::new(image),
        }
    }

    /// Records the instances' actors, once they have all started.
    pub(crate) fn set_members(&self, members: Vec<ActorRef<PluginMsg>>) {
        let _ = self.members.set(members);
    }

    /// How many instances the pool runs.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The instances' actors, by index.
    pub(crate) fn members(&self) -> &[ActorRef<PluginMsg>] {
        self.members.get().map_or(&[], Vec::as_slice)
    }

    /// How many instances are idle now.
    pub(crate) fn idle(&self) -> usize {
        self.dispatch.lock().idle.len()
    }

    /// The code the instances run.
    pub(crate) fn image(&self) -> PluginImage {
        self.image.lock().clone()
    }

    /// Records the code the instances run after a reload.
    pub(crate) fn set_image(&self, image: PluginImage) {
        *self.image.lock() = image;
    }

    /// Hands `work` to an idle instance, or queues it for the first one to
    /// finish. Hands it back if the chosen instance is stopping.
    pub(crate) fn dispatch(&self, work: Queued) -> Result<(), Box<Queued>> {
        let mut d = self.dispatch.lock();
        let Some(index) = d.idle.pop() else {
            d.backlog.push_back(work);
            return Ok(());
        };
        let Some(member) = self.members().get(index) else {
            d.idle.push(index);
            return Err(Box::new(work));
        };
        match member.cast(PluginMsg::Work(work)) {
            Ok(()) => Ok(()),
            // A stopping instance stays out of the idle list.
            Err(MessagingErr::SendErr(PluginMsg::Work(work))) => Err(Box::new(work)),
            // Not handed back: lost, its room with it, its request answered
            // `plugin_crashed` by its reply target.
            Err(_) => Ok(()),
        }
    }

    /// Instance `index` has finished a message: the next one waiting, or
    /// `None` (the instance is idle now).
    pub(crate) fn next(&self, index: usize) -> Option<Queued> {
        let mut d = self.dispatch.lock();
        let next = d.backlog.pop_front();
        if next.is_none() {
            d.idle.push(index);
        }
        next
    }

    /// An instance faulted and restarts: says whether every instance is
    /// restarting now (the address answers nothing until one is back).
    pub(crate) fn begin_restart(&self) -> bool {
        self.restarting.fetch_add(1, Ordering::AcqRel) + 1 >= self.size
    }

    /// An instance is back after its restart.
    pub(crate) fn end_restart(&self) {
        let _ = self.restarting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}
