//! Unloading, mailbox bounds and shutdown: nothing queued is lost without a word.

use std::time::Duration;

use wasp_actors::{Host, PluginState};
use wasp_protocol::ErrorCode;

use crate::common::{FORMS, Form, host, load, mp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_answers_what_was_queued_then_refuses() {
    for form in FORMS {
        let host = host();
        load(&host, form, "counter", "counter").await;
        let queued: Vec<_> = (0..50u64)
            .map(|_| {
                let host = host.clone();
                tokio::spawn(async move { host.call::<_, u64>("counter", "add", &1u64).await })
            })
            .collect();
        // Wait until all 50 are in the mailbox (or already handled).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while host.plugins().first().is_none_or(|p| p.queued + p.handled < 50) {
            assert!(std::time::Instant::now() < deadline, "requests never queued");
            tokio::task::yield_now().await;
        }
        host.unload("counter").await.unwrap();
        let mut answers: Vec<u64> = Vec::new();
        for q in queued {
            answers.push(q.await.unwrap().unwrap_or_else(|e| panic!("{form:?}: a queued request was lost: {e}")));
        }
        answers.sort_unstable();
        assert_eq!(answers, (1..=50).collect::<Vec<_>>(), "{form:?}: every queued request was handled, in turn");
        let err = host.request("counter", "get", mp(&())).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(host.plugins().is_empty());
        // The name is free again.
        load(&host, form, "counter", "counter").await;
        let v: u64 = host.call("counter", "get", &()).await.unwrap();
        assert_eq!(v, 0, "{form:?}: a fresh instance");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_answers_busy_and_loses_nothing() {
    for form in FORMS {
        let host = Host::builder().mailbox_depth(4).build().unwrap();
        load(&host, form, "spinner", "slow").await;
        // Each request is ~10-40 ms of work; 20 at once overflow a mailbox of 4.
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let host = host.clone();
                tokio::spawn(async move { host.call::<_, u64>("slow", "work", &2_000_000u64).await })
            })
            .collect();
        let (mut ok, mut busy) = (0, 0);
        for c in calls {
            match c.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) if e.code == ErrorCode::Busy => busy += 1,
                Err(e) => panic!("{form:?}: unexpected {e}"),
            }
        }
        assert_eq!(ok + busy, 20, "{form:?}: every request got exactly one answer");
        assert!(busy > 0 && ok >= 4, "{form:?}: ok {ok}, busy {busy}");
        let info = &host.plugins()[0];
        assert_eq!(info.refused, busy as u64, "{info:?}");
        assert_eq!(info.state, PluginState::Running);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_subscription_stops_on_drop_and_publish_without_subscribers_is_fine() {
    let host = host();
    load(&host, Form::Wasm, "counter", "counter").await;
    let sub = host.subscribe("counter.changed").unwrap();
    drop(sub);
    let v: u64 = host.call("counter", "add", &2u64).await.unwrap();
    assert_eq!(v, 2);
    host.publish("nobody.listens", mp(&1)).unwrap();
    let mut again = host.subscribe("counter.changed").unwrap();
    let _: u64 = host.call("counter", "add", &3u64).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), again.recv()).await.unwrap().unwrap();
    assert_eq!(ev.decode::<u64>().unwrap(), 5);
    assert_eq!(host.metrics().dead_letters, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_topics_and_oversized_payloads_are_refused_with_codes() {
    let host =
        Host::builder().limits(wasp_actors::Limits { max_message_size: 1024, ..Default::default() }).build().unwrap();
    load(&host, Form::Wasm, "echo", "echo").await;
    let err = host.request("echo", "ping", vec![0; 2048]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
    let err = host.request("echo", "", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    let err = host.send("echo", "a\u{0}b", mp(&())).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    // Garbage MessagePack is just bytes to the broker; the echo returns it as is.
    let garbage = vec![0xc1, 0xff, 0x00];
    assert_eq!(host.request("echo", "ping", garbage.clone()).await.unwrap(), garbage);
}

#[test]
fn current_thread_runtime_is_refused_with_a_clear_error() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(async { Host::builder().build().unwrap_err() });
    assert!(err.to_string().contains("multi_thread"), "{err}");
}
