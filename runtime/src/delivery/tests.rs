//! The per-message books, without a guest: what the caller hears for each
//! [`Outcome`], and which outcomes end the instance.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use wasp_protocol::{ErrorCode, MessageKind, WireError};

use super::{Kind, Letter, Outcome, admit, restored, settle, unloaded};
use crate::audit::AuditEvent;
use crate::hostcalls::HostCalls;
use crate::lifecycle::Capture;
use crate::router::{Answer, BoxFuture, Inbound, ReplyTo, Router, TimerSpec};
use crate::{Error, PluginEnv};

/// A router that reaches no one: these tests only keep books.
struct Nowhere;

impl Router for Nowhere {
    fn send(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>) -> Result<(), WireError> {
        Ok(())
    }
    fn publish(&self, _: &Arc<str>, _: &str, _: Vec<u8>) -> Result<(), WireError> {
        Ok(())
    }
    fn subscribe(&self, _: &Arc<str>, _: &str) -> Result<(), WireError> {
        Ok(())
    }
    fn unsubscribe(&self, _: &Arc<str>, _: &str) -> Result<(), WireError> {
        Ok(())
    }
    fn request(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>, _: Option<Duration>) -> BoxFuture<Answer> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    fn request_async(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>, _: Option<Duration>) -> Result<u64, WireError> {
        Ok(1)
    }
    fn audit(&self, _: AuditEvent) -> bool {
        false
    }
    fn set_timer(&self, _: &Arc<str>, _: TimerSpec) -> Result<u64, WireError> {
        Ok(1)
    }
    fn cancel_timer(&self, _: &Arc<str>, _: u64) -> bool {
        false
    }
}

fn host() -> HostCalls {
    HostCalls::new(PluginEnv::new("p", Arc::new(Nowhere)))
}

/// Where one request's answer lands.
type Slot = Arc<Mutex<Option<Answer>>>;

/// A request from `caller` with id `id`, and where its answer lands.
fn request(id: u64) -> (Inbound, Slot) {
    let slot: Slot = Arc::new(Mutex::new(None));
    let target = slot.clone();
    let reply = ReplyTo::new(move |answer| *target.lock() = Some(answer));
    let msg = Inbound {
        kind: MessageKind::Request,
        id,
        from: Arc::from("caller"),
        topic: Arc::from("ping"),
        payload: Bytes::from_static(b"\x90"),
        reply: Some(reply),
        deadline: None,
    };
    (msg, slot)
}

/// The request `id`, admitted and settled with `outcome`: what settling
/// returned and what the caller heard.
fn settled(id: u64, outcome: Outcome) -> (Result<(), Error>, Option<Answer>) {
    let mut host = host();
    let (msg, slot) = request(id);
    let letter = admit(&mut host, msg);
    assert_eq!((letter.kind, letter.id, &*letter.topic), (Kind::Message(MessageKind::Request), id, "ping"));
    let result = settle(&mut host, "p", id, MessageKind::Request, outcome);
    let answer = slot.lock().take();
    (result, answer)
}

fn error_of(answer: Option<Answer>) -> WireError {
    match answer {
        Some(Err(e)) => e,
        other => panic!("expected an error answer, got {other:?}"),
    }
}

#[test]
fn a_request_done_without_a_reply_is_answered_no_reply() {
    let (result, answer) = settled(7, Outcome::Done);
    assert!(result.is_ok());
    let err = error_of(answer);
    assert_eq!(err.code, ErrorCode::NoReply);
    assert_eq!(err.message, "plugin `p` finished handling the request without replying");
}

#[test]
fn a_deferred_request_waits_for_its_reply_until_the_instance_goes() {
    let mut host = host();
    let (msg, slot) = request(7);
    admit(&mut host, msg);
    assert!(settle(&mut host, "p", 7, MessageKind::Request, Outcome::Deferred).is_ok());
    assert!(slot.lock().is_none(), "a deferred request is answered by the plugin, later");
    host.fail_all(&super::restarted("p"));
    let err = error_of(slot.lock().take());
    assert_eq!((err.code, err.message.as_str()), (ErrorCode::PluginCrashed, "plugin `p` was restarted"));
}

#[test]
fn an_unknown_status_fails_the_message_and_keeps_the_instance() {
    let (result, answer) = settled(7, Outcome::Unknown(42));
    assert!(result.is_ok(), "the instance is sound");
    let err = error_of(answer);
    assert_eq!(err.code, ErrorCode::InvalidMessage);
    assert_eq!(err.message, "plugin `p`: wasp_handle returned unknown status 42");
}

#[test]
fn an_undelivered_request_is_answered_too_large_and_keeps_the_instance() {
    let (result, answer) = settled(7, Outcome::Undelivered("a message of 9 bytes (wasp_alloc(256) returned 0)".into()));
    assert!(result.is_ok(), "not the plugin's fault");
    let err = error_of(answer);
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert_eq!(err.message, "plugin `p` could not make room for a message of 9 bytes (wasp_alloc(256) returned 0)");
}

#[test]
fn a_fault_answers_the_request_with_it_and_ends_the_instance() {
    let trap = Error::Trap { plugin: "p".into(), message: "unreachable".into(), backtrace: None };
    let (result, answer) = settled(7, Outcome::Fault(trap));
    assert!(matches!(result, Err(Error::Trap { .. })), "{result:?}");
    assert_eq!(error_of(answer).code, ErrorCode::PluginCrashed);

    let no_room = Error::NoRoom { plugin: "p".into(), detail: "a message of 9 bytes".into() };
    let (result, answer) = settled(8, Outcome::Fault(no_room));
    assert!(matches!(result, Err(Error::NoRoom { .. })), "{result:?}");
    let err = error_of(answer);
    assert_eq!(
        (err.code, err.message.as_str()),
        (ErrorCode::TooLarge, "plugin `p` could not make room for a message of 9 bytes")
    );
}

#[test]
fn an_event_is_never_answered_whatever_the_outcome() {
    for outcome in [Outcome::Done, Outcome::Unknown(3), Outcome::Undelivered("x".into())] {
        let mut host = host();
        let letter = admit(
            &mut host,
            Inbound {
                kind: MessageKind::Event,
                id: 1,
                from: Arc::from("a"),
                topic: Arc::from("t"),
                payload: Bytes::new(),
                reply: None,
                deadline: None,
            },
        );
        assert_eq!(letter.kind, Kind::Message(MessageKind::Event));
        assert!(settle(&mut host, "p", 1, MessageKind::Event, outcome).is_ok());
    }
}

#[test]
fn lifecycle_letters_come_from_the_host_with_the_reserved_id() {
    let letter = Letter::lifecycle(wasp_protocol::Lifecycle::Unload, Bytes::new());
    assert_eq!((&*letter.from, &*letter.topic, letter.id), ("host", "wasp.unload", crate::lifecycle::LIFECYCLE_ID));
    assert_eq!(letter.kind.to_abi(), wasp_protocol::abi::kind::UNLOAD);
}

#[test]
fn unloading_gives_the_state_replied_or_the_fault() {
    let (capture, reply) = Capture::new();
    reply.send(Ok(b"state".to_vec()));
    assert!(matches!(unloaded("p", Outcome::Done, capture), Ok(Ok(Some(s))) if s == b"state"));

    let (capture, _reply) = Capture::new();
    assert!(matches!(unloaded("p", Outcome::Deferred, capture), Ok(Ok(None))));

    let (capture, _reply) = Capture::new();
    match unloaded("p", Outcome::Unknown(9), capture) {
        Ok(Err(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidMessage);
            assert_eq!(e.message, "plugin `p`: wasp_handle returned unknown status 9 for `unload`");
        }
        other => panic!("an unknown status refuses the hand-over, got {other:?}"),
    }

    let (capture, _reply) = Capture::new();
    let result = unloaded("p", Outcome::Undelivered("a message of 10 bytes".into()), capture);
    assert!(matches!(result, Err(Error::GuestFault { detail, .. }) if detail == "a message of 10 bytes"));

    let (capture, _reply) = Capture::new();
    let trap = Error::Trap { plugin: "p".into(), message: "unreachable".into(), backtrace: None };
    assert!(matches!(unloaded("p", Outcome::Fault(trap), capture), Err(Error::Trap { .. })));
}

#[test]
fn a_restore_the_guest_took_in_lets_the_instance_load_and_anything_else_stops_it() {
    assert!(restored("p", Outcome::Done).is_ok());
    assert!(restored("p", Outcome::Deferred).is_ok());
    match restored("p", Outcome::Unknown(5)) {
        Err(Error::LoadFailed { plugin, error }) => {
            assert_eq!(plugin, "p");
            assert_eq!(error.code, ErrorCode::InvalidMessage);
            assert_eq!(error.message, "wasp_handle returned status 5 for the restored state");
        }
        other => panic!("an unknown status fails the load, got {other:?}"),
    }
    let result = restored("p", Outcome::Undelivered("a message of 3 bytes".into()));
    assert!(matches!(result, Err(Error::GuestFault { detail, .. }) if detail == "a message of 3 bytes"));
    let trap = Error::Trap { plugin: "p".into(), message: "unreachable".into(), backtrace: None };
    assert!(matches!(restored("p", Outcome::Fault(trap)), Err(Error::Trap { .. })));
}
