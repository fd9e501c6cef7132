//! Who may open a cluster connection, and for how long before it proves
//! the cookie.
//!
//! `ractor_cluster` reads frames from a connection before it has
//! authenticated (the handshake itself travels in frames), accepts any
//! number of connections, waits on a silent one for ever, and lets every
//! peer holding the cookie see and join the process groups. A [`Doorman`]
//! watches a node server's sessions and kills the ones its [`Inbound`]
//! rule refuses: every incoming one for a host (it only dials out), and
//! for a node all but a few at a time, each given a short while to
//! authenticate, and any peer beyond its one host.

use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage};

/// The incoming connections a node server admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// None: a host connects to its nodes, never the other way.
    Refuse,
    /// At most `pending` not yet authenticated at once (more are closed at
    /// once), each closed unless it authenticates within `deadline`, and
    /// at most `peers` authenticated at once (one more is closed as soon as
    /// it authenticates).
    Admit {
        /// Unauthenticated connections open at once.
        pending: usize,
        /// How long one may take to authenticate.
        deadline: Duration,
        /// Authenticated connections open at once.
        peers: usize,
    },
}

impl Inbound {
    /// A node's rule: it serves one host at a time; two connections may be
    /// authenticating at once, for 5 s each.
    pub const NODE: Self = Self::Admit { pending: 2, deadline: Duration::from_secs(5), peers: 1 };
}

/// Enforces an [`Inbound`] rule on one node server's sessions.
pub struct Doorman {
    rule: Inbound,
    /// Incoming sessions not authenticated yet.
    pending: Arc<Mutex<HashSet<ActorId>>>,
    /// Incoming sessions authenticated.
    peers: Mutex<HashSet<ActorId>>,
}

impl Doorman {
    /// Watches `server`'s sessions from now on, under `rule`. Call it right
    /// after starting the server, before it is told to anyone.
    pub fn guard(server: &ActorRef<NodeServerMessage>, rule: Inbound) {
        let doorman = Self { rule, pending: Arc::default(), peers: Mutex::default() };
        let _ = server
            .cast(NodeServerMessage::SubscribeToEvents { id: "wasp.doorman".into(), subscription: Box::new(doorman) });
    }

    fn pending(&self) -> parking_lot::MutexGuard<'_, HashSet<ActorId>> {
        self.pending.lock()
    }
}

impl NodeEventSubscription for Doorman {
    fn node_session_opened(&self, session: NodeServerSessionInformation) {
        if !session.is_server {
            return;
        }
        let (pending, deadline) = match self.rule {
            Inbound::Refuse => {
                tracing::warn!(target: "wasp::node", peer = %session.peer_addr, "an incoming cluster connection to a host was closed");
                session.actor.kill();
                return;
            }
            Inbound::Admit { pending, deadline, .. } => (pending, deadline),
        };
        let id = session.actor.get_id();
        {
            let mut waiting = self.pending();
            if waiting.len() >= pending {
                drop(waiting);
                tracing::warn!(target: "wasp::node", peer = %session.peer_addr, "too many unauthenticated cluster connections; one was closed");
                session.actor.kill();
                return;
            }
            waiting.insert(id);
        }
        let waiting = Arc::clone(&self.pending);
        let actor = session.actor;
        let peer = session.peer_addr;
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            let late = waiting.lock().remove(&id);
            if late {
                tracing::warn!(target: "wasp::node", %peer, "a cluster connection did not authenticate within {deadline:?}; closed");
                actor.kill();
            }
        });
    }

    fn node_session_authenticated(&self, session: NodeServerSessionInformation) {
        let id = session.actor.get_id();
        if !self.pending().remove(&id) {
            return; // an outgoing session, or one already closed
        }
        let Inbound::Admit { peers: most, .. } = self.rule else { return };
        let mut peers = self.peers.lock();
        if peers.len() >= most {
            drop(peers);
            tracing::warn!(target: "wasp::node", peer = %session.peer_addr, "a second peer authenticated while the first is connected; closed");
            session.actor.kill();
            return;
        }
        peers.insert(id);
    }

    fn node_session_disconnected(&self, session: NodeServerSessionInformation) {
        let id = session.actor.get_id();
        self.pending().remove(&id);
        self.peers.lock().remove(&id);
    }
}
