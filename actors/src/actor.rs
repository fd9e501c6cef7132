//! `PluginActor`: one plugin instance behind a ractor mailbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::Instrument;
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::{Inbound, Instance};

use crate::metrics::PluginCounters;

/// The actor. Behaviour only; its state is [`PluginState`].
pub(crate) struct PluginActor;

/// What the actor owns: the running instance and its counters.
pub(crate) struct PluginActorState {
    name: Arc<str>,
    instance: Instance,
    queued: Arc<AtomicUsize>,
    counters: Arc<PluginCounters>,
}

/// Messages to a plugin actor.
pub(crate) enum PluginMsg {
    /// A message for the plugin.
    Deliver(Inbound),
}

/// What the actor is started with.
pub(crate) struct PluginArgs {
    pub(crate) name: Arc<str>,
    pub(crate) instance: Instance,
    pub(crate) queued: Arc<AtomicUsize>,
    pub(crate) counters: Arc<PluginCounters>,
}

impl Actor for PluginActor {
    type Msg = PluginMsg;
    type State = PluginActorState;
    type Arguments = PluginArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<PluginMsg>,
        args: PluginArgs,
    ) -> Result<PluginActorState, ActorProcessingErr> {
        Ok(PluginActorState { name: args.name, instance: args.instance, queued: args.queued, counters: args.counters })
    }

    async fn handle(
        &self,
        _myself: ActorRef<PluginMsg>,
        msg: PluginMsg,
        st: &mut PluginActorState,
    ) -> Result<(), ActorProcessingErr> {
        let PluginMsg::Deliver(inbound) = msg;
        st.queued.fetch_sub(1, Ordering::AcqRel);
        if let Some(deadline) = inbound.deadline
            && Instant::now() >= deadline
        {
            st.counters.expired.fetch_add(1, Ordering::Relaxed);
            if let Some(reply) = inbound.reply {
                reply.send(Err(WireError::new(
                    ErrorCode::Timeout,
                    format!("the request to `{}` expired in its mailbox", st.name),
                )));
            }
            return Ok(());
        }
        let span = tracing::debug_span!("message", plugin = %st.name, topic = %inbound.topic, msg_id = inbound.id);
        let started = Instant::now();
        let result = st.instance.handle(inbound).instrument(span).await;
        let counters = &st.counters;
        counters.handled.fetch_add(1, Ordering::Relaxed);
        counters.busy_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if let Err(fault) = result {
            counters.faults.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "wasp::audit", plugin = %st.name, code = %fault.code(), "plugin fault: {fault}");
            match st.instance.recycle().await {
                Ok(()) => {
                    counters.restarts.fetch_add(1, Ordering::Relaxed);
                    counters.failed.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.failed.store(true, Ordering::Relaxed);
                    tracing::error!(target: "wasp::audit", plugin = %st.name, "plugin could not be restarted: {e}");
                }
            }
        }
        counters.memory.store(st.instance.memory_size() as u64, Ordering::Relaxed);
        Ok(())
    }
}
