//! A plugin instance's port to the broker: what the plugin asks of the
//! broker (send, publish, subscribe, request, timers) arrives here, under the
//! plugin's name and the instance's place in its pool, once its host call
//! passed the [`rules`](wasp_runtime::rules).

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasp_protocol::{ErrorCode, HOST, MessageKind, WireError, codec};
use wasp_runtime::{Answer, AuditEvent, BoxFuture, Inbound, ReplyTo, Router, TimerSpec};

use super::{Broker, Undelivered, not_found};
use crate::mailbox::Bound;
use crate::tap::TapKind;

/// The broker as one instance of a plugin sees it: everything goes to the
/// broker under the plugin's name, with the instance's place in its pool
/// (`member`, 0 for a single instance), so that what must come back to this
/// instance does (the completions of its `request_async`), the wait-for
/// graph sees each instance's wait, and its timers stop when it is recycled.
pub(crate) struct Port {
    broker: Arc<Broker>,
    member: usize,
}

impl Port {
    /// The port of instance `member` (0 for a single instance).
    pub(crate) fn open(broker: Arc<Broker>, member: usize) -> Arc<dyn Router> {
        Arc::new(Self { broker, member })
    }
}

impl Router for Port {
    fn send(&self, from: &Arc<str>, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.broker.send(from.clone(), to, topic, payload)
    }

    fn publish(&self, from: &Arc<str>, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.broker.publish(from, topic, payload);
        Ok(())
    }

    fn subscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        self.broker.subscribe(from, pattern)
    }

    fn unsubscribe(&self, from: &Arc<str>, pattern: &str) -> Result<(), WireError> {
        self.broker.unsubscribe(from, pattern);
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
        self.broker.request(from, self.member, to, topic, payload, timeout)
    }

    fn request_async(
        &self,
        from: &Arc<str>,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<u64, WireError> {
        self.broker.request_async(from, self.member, to, topic, payload, timeout)
    }

    fn audit(&self, event: AuditEvent) -> bool {
        self.broker.record_audit(event)
    }

    fn set_timer(&self, from: &Arc<str>, spec: TimerSpec) -> Result<u64, WireError> {
        self.broker.set_timer(from, self.member, spec)
    }

    fn cancel_timer(&self, from: &Arc<str>, id: u64) -> bool {
        self.broker.cancel_timer(from, id)
    }
}

/// What a plugin asks of the broker, on behalf of one instance of it.
impl Broker {
    /// A plugin's request (waited) from instance `member` of a pool (0 for a single
    /// instance): the wait-for graph records each instance's wait.
    pub(crate) fn request(
        &self,
        from: &Arc<str>,
        member: usize,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> BoxFuture<Answer> {
        let timeout = timeout.unwrap_or(self.request_timeout);
        if to == HOST {
            return self.request_app(from, topic, payload, timeout);
        }
        let guard = match self.begin_wait(from, member, to) {
            Ok(guard) => guard,
            Err(e) => {
                self.counters.deadlocks_refused.fetch_add(1, Ordering::Relaxed);
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let pending = self.start_request(from.clone(), to, topic, payload, timeout);
        let to = to.to_owned();
        Box::pin(async move {
            let answer = Self::await_answer(pending, &to, timeout).await;
            drop(guard);
            answer
        })
    }

    /// A plugin's `request_async` from instance `member` of a pool (0 for a
    /// single instance): the completion goes to that instance's mailbox,
    /// since it is the one that deferred an answer on it.
    pub(crate) fn request_async(
        &self,
        from: &Arc<str>,
        member: usize,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<u64, WireError> {
        if to == HOST && !self.app.serves(topic) {
            return Err(super::app::no_function(topic));
        }
        let requester = self.route(from).ok_or_else(|| not_found(from))?;
        let timeout = timeout.unwrap_or(self.request_timeout);
        let id = self.next_id();
        let completion = Arc::new(Completion { deliver: Mutex::new(None), timer: Mutex::new(None) });
        {
            let (from, to, topic) = (from.clone(), Arc::<str>::from(to), Arc::<str>::from(topic));
            let me = self.me.clone();
            let deliver: CompletionFn = Box::new(move |answer: Answer| {
                let Some(broker) = me.upgrade() else { return };
                // An answer larger than the requester takes becomes an error.
                let max = requester.max_message_size;
                let answer = answer.and_then(|payload| match payload.len() > max {
                    true => Err(WireError::new(
                        ErrorCode::TooLarge,
                        format!("the answer from `{to}` has {} bytes; `{from}` takes at most {max}", payload.len()),
                    )),
                    false => Ok(payload),
                });
                let (kind, payload) = match answer {
                    Ok(payload) => (MessageKind::Reply, payload),
                    Err(e) => (MessageKind::Error, codec::to_payload(&e).unwrap_or_default()),
                };
                let size = payload.len();
                let pushed = requester.reserve(&from, size, Bound::Unbounded).and_then(|room| {
                    let (from_, topic_) = (to.clone(), topic.clone());
                    let inbound = Inbound {
                        kind,
                        id,
                        from: from_,
                        topic: topic_,
                        payload: payload.into(),
                        reply: None,
                        deadline: None,
                    };
                    let member = Some(member).filter(|_| requester.pool.is_some());
                    broker.push(&requester, &from, inbound, room, TapKind::Reply, member).map_err(|u| u.error)
                });
                if let Err(error) = pushed {
                    broker.refused(TapKind::Reply, &to, &from, &topic, size, &error, &from);
                }
            });
            *completion.deliver.lock() = Some(deliver);
        }
        let on_answer = {
            let (completion, counters) = (completion.clone(), self.counters.clone());
            ReplyTo::new(move |answer| {
                if !completion.complete(answer) {
                    counters.late_replies.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        if to == HOST {
            // The app's function runs until it answers or its timeout passes.
            let _ = self.call_app(from, topic, payload, timeout, on_answer);
        } else if let Err(undelivered) =
            self.deliver(to, self.request_inbound(id, from, topic, payload, on_answer, timeout), TapKind::Request)
        {
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
        *completion.timer.lock() = Some(timer.abort_handle());
        Ok(id)
    }
}

impl Broker {
    /// The request a plugin's `request_async` queues.
    fn request_inbound(
        &self,
        id: u64,
        from: &Arc<str>,
        topic: &str,
        payload: Vec<u8>,
        reply: ReplyTo,
        timeout: Duration,
    ) -> Inbound {
        Inbound {
            kind: MessageKind::Request,
            id,
            from: from.clone(),
            topic: Arc::from(topic),
            payload: payload.into(),
            reply: Some(reply),
            deadline: Instant::now().checked_add(timeout),
        }
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
        let Some(deliver) = self.deliver.lock().take() else {
            return false;
        };
        deliver(answer);
        if let Some(timer) = self.timer.lock().take() {
            timer.abort();
        }
        true
    }
}
