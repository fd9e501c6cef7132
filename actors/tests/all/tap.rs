//! The message tap: every routed message, with its timing and outcome.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasp_actors::{Tap, TapKind, TapOutcome, TapRecord};
use wasp_example_relay::Forward;
use wasp_protocol::ErrorCode;

use crate::common::{Form, host, load, mp};

/// The next record matching `wanted`, skipping others.
async fn next(tap: &mut Tap, wanted: impl Fn(&TapRecord) -> bool) -> TapRecord {
    loop {
        let record = tokio::time::timeout(Duration::from_secs(10), tap.recv())
            .await
            .expect("a record within 10 s")
            .expect("the host is alive");
        if wanted(&record) {
            return record;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_echo_is_recorded_with_its_size_and_timing() {
    for form in [Form::Wasm, Form::InProcess] {
        let host = host();
        load(&host, form, "echo", "echo").await;
        let mut tap = host.tap();
        let payload = mp(&"hello, tap");
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let reply = host.request("echo", "ping", payload.clone()).await.unwrap();
        assert_eq!(reply, payload);
        let r = next(&mut tap, |r| r.to == "echo").await;
        assert_eq!(r.kind, TapKind::Request, "{form:?}");
        assert_eq!((r.from.as_str(), r.to.as_str(), r.topic.as_str()), ("host", "echo", "ping"), "{form:?}");
        assert_eq!(r.size, payload.len(), "{form:?}");
        assert_eq!(r.outcome, TapOutcome::Ok, "{form:?}");
        assert!(r.handled_nanos > 0, "{form:?}: the handler ran for some time");
        assert_eq!(r.handled(), Duration::from_nanos(r.handled_nanos));
        assert!(r.queued() < Duration::from_secs(10), "{form:?}: {:?} in the mailbox", r.queued());
        assert!(r.enqueued_unix_ms >= before && r.enqueued_unix_ms < before + 10_000, "{form:?}");
        assert_eq!(tap.missed(), 0);
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_undelivered_messages_carry_their_code() {
    let host = host();
    load(&host, Form::InProcess, "counter", "counter").await;
    let mut tap = host.tap();

    let err = host.request("counter", "missing", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    let r = next(&mut tap, |r| r.topic == "missing").await;
    assert_eq!((r.kind, r.to.as_str()), (TapKind::Request, "counter"));
    assert_eq!(r.outcome, TapOutcome::Error { code: ErrorCode::NotFound });

    // No plugin at all: recorded as undelivered, not handled.
    let err = host.request("ghost", "anything", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    let r = next(&mut tap, |r| r.to == "ghost").await;
    assert_eq!(r.outcome, TapOutcome::Undelivered { code: ErrorCode::NotFound });
    assert_eq!((r.queued_nanos, r.handled_nanos), (0, 0));

    // A publish reaching a host subscriber is recorded as an event to `host`.
    let mut changes = host.subscribe("counter.changed").unwrap();
    let _: u64 = host.call("counter", "add", &2u64).await.unwrap();
    changes.recv().await.unwrap();
    let r = next(&mut tap, |r| r.topic == "counter.changed").await;
    assert_eq!((r.kind, r.from.as_str(), r.to.as_str()), (TapKind::Event, "counter", "host"));
    assert_eq!(r.outcome, TapOutcome::Ok);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_to_plugin_requests_and_async_replies_are_recorded() {
    let host = host();
    load(&host, Form::Wasm, "relay", "relay").await;
    load(&host, Form::InProcess, "echo", "echo").await;
    let mut tap = host.tap();

    let forward = Forward::new("echo", "ping", &"hi");
    let reply: String = host.call("relay", "forward", &forward).await.unwrap();
    assert_eq!(reply, "hi");
    let inner = next(&mut tap, |r| r.to == "echo").await;
    assert_eq!((inner.kind, inner.from.as_str(), inner.topic.as_str()), (TapKind::Request, "relay", "ping"));
    assert_eq!(inner.outcome, TapOutcome::Ok);
    // The outer request ends after the inner one, and took at least as long.
    let outer = next(&mut tap, |r| r.to == "relay").await;
    assert_eq!((outer.from.as_str(), outer.topic.as_str(), outer.outcome), ("host", "forward", TapOutcome::Ok));
    assert!(outer.handled_nanos >= inner.handled_nanos);

    // With request_async the relay defers its answer; the answer reaches it
    // as a reply message, which it handles by answering the host.
    let reply: String = host.call("relay", "forward_async", &forward).await.unwrap();
    assert_eq!(reply, "hi");
    let deferred = next(&mut tap, |r| r.topic == "forward_async" && r.kind == TapKind::Request).await;
    assert_eq!(deferred.outcome, TapOutcome::Deferred);
    let completion = next(&mut tap, |r| r.kind == TapKind::Reply).await;
    assert_eq!((completion.from.as_str(), completion.to.as_str()), ("echo", "relay"));
    assert_eq!(completion.outcome, TapOutcome::Ok);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_tap_stops_recording() {
    let host = host();
    load(&host, Form::InProcess, "echo", "echo").await;
    assert_eq!(host.open_taps(), 0);
    let first = host.tap();
    let mut second = host.tap();
    assert_eq!(host.open_taps(), 2);
    drop(first);
    assert_eq!(host.open_taps(), 1, "the other tap still records");
    let _: String = host.call("echo", "ping", &"still").await.unwrap();
    assert_eq!(next(&mut second, |r| r.to == "echo").await.outcome, TapOutcome::Ok);
    drop(second);
    assert_eq!(host.open_taps(), 0);
    // Nothing is recorded now: a tap opened later sees only what follows it.
    let _: String = host.call("echo", "ping", &"unseen").await.unwrap();
    let mut third = host.tap();
    assert!(third.try_recv().is_none());
    let _: String = host.call("echo", "seen", &"seen").await.unwrap();
    assert_eq!(next(&mut third, |_| true).await.topic, "seen");
    host.shutdown().await;
}
