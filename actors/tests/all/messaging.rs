//! Request/reply, one-way sends, publish/subscribe and plugin-to-plugin
//! requests, in both forms.

use std::time::Duration;

use wasp_example_relay::Forward;
use wasp_protocol::ErrorCode;

use crate::common::{FORMS, Form, host, load, mp, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_with_its_payload_in_every_form() {
    for form in FORMS {
        let host = host();
        load(&host, form, "echo", "echo").await;
        for size in [0usize, 16, 1024, 64 * 1024, 1 << 20] {
            let payload = mp(&serde_bytes::ByteBuf::from(vec![7u8; size]));
            let reply = host.request("echo", "ping", payload.clone()).await.unwrap();
            assert_eq!(reply, payload, "{form:?} at {size} bytes");
        }
        let len: u64 = host.call("echo", "len", &"abc").await.unwrap();
        assert_eq!(len, 4, "{form:?}: a 3-char string is 4 bytes of MessagePack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_keeps_state_and_publishes_changes() {
    for form in FORMS {
        let host = host();
        load(&host, form, "counter", "counter").await;
        let mut changes = host.subscribe("counter.*").unwrap();
        for i in 1..=5u64 {
            let v: u64 = host.call("counter", "add", &i).await.unwrap();
            assert_eq!(v, i * (i + 1) / 2, "{form:?}");
        }
        let mut seen = Vec::new();
        for _ in 0..5 {
            let ev = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await.unwrap().unwrap();
            assert_eq!(ev.from, "counter");
            assert_eq!(ev.topic, "counter.changed");
            seen.push(ev.decode::<u64>().unwrap());
        }
        assert_eq!(seen, vec![1, 3, 6, 10, 15], "{form:?}");
        // The plugin subscribed to `counter.reset` in on_load.
        host.publish("counter.reset", mp(&())).unwrap();
        let v: u64 = host.call("counter", "get", &()).await.unwrap();
        assert_eq!(v, 0, "{form:?}: reset by a publish");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_sends_arrive_in_order() {
    for form in FORMS {
        let host = host();
        load(&host, form, "echo", "echo").await;
        let mut seen = host.subscribe("echo.seen").unwrap();
        for i in 0..100u32 {
            host.send("echo", "note", mp(&i)).unwrap();
        }
        for i in 0..100u32 {
            let ev = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await.unwrap().unwrap();
            assert_eq!(ev.decode::<u32>().unwrap(), i, "{form:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_address_is_answered_not_found() {
    let host = host();
    let err = host.request("ghost", "ping", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(err.message.contains("ghost"), "{err}");
    let err = host.send("ghost", "ping", mp(&())).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_errors_reach_the_caller_with_their_code() {
    for form in FORMS {
        let host = host();
        load(&host, form, "counter", "counter").await;
        let err = host.request("counter", "nope", mp(&())).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound, "{form:?}");
        assert!(err.message.contains("nope"), "{err}");
        let err = host.request("counter", "add", mp(&"not a number")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMessage, "{form:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_chain_a_to_b_to_c_in_every_form_mix() {
    for relay_form in FORMS {
        for echo_form in FORMS {
            let host = host();
            load(&host, relay_form, "relay", "a").await;
            load(&host, echo_form, "relay", "b").await;
            load(&host, echo_form, "echo", "c").await;
            let inner = Forward::new("c", "ping", &"hello");
            let outer = Forward::new("b", "forward", &inner);
            for topic in ["forward", "forward_async"] {
                let reply: String = host.call("a", topic, &outer).await.unwrap();
                assert_eq!(reply, "hello", "{relay_form:?}/{echo_form:?} via {topic}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_requesting_itself_gets_would_deadlock_not_a_hang() {
    for form in FORMS {
        let host = host();
        load(&host, form, "relay", "loop").await;
        let err = host.request("loop", "forward", mp(&Forward::new("loop", "pending", &()))).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::WouldDeadlock, "{form:?}: {err}");
        // With request_async the same self-request succeeds: the relay keeps
        // serving its mailbox while it waits.
        let n: u64 = host.call("loop", "forward_async", &Forward::new("loop", "pending", &())).await.unwrap();
        assert_eq!(n, 1, "{form:?}: its own forward is the one pending");
        assert_eq!(host.metrics().deadlocks_refused, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_of_waiting_plugins_is_refused() {
    for form in FORMS {
        let host = host();
        load(&host, form, "relay", "x").await;
        load(&host, form, "relay", "y").await;
        // x waits on y, which would wait on x.
        let back = Forward::new("x", "pending", &());
        let err = host.request("x", "forward", mp(&Forward::new("y", "forward", &back))).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::WouldDeadlock, "{form:?}: {err}");
        assert!(err.message.contains("y → x → y"), "{err}");
        // Both are still responsive.
        let n: u64 = host.call("y", "pending", &()).await.unwrap();
        assert_eq!(n, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_request_to_a_missing_plugin_fails_the_forward() {
    for form in FORMS {
        let host = host();
        load(&host, form, "relay", "r").await;
        let err = host.request("r", "forward_async", mp(&Forward::new("ghost", "ping", &()))).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound, "{form:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_leaves_only_a_counted_late_reply() {
    let host = host();
    load(&host, Form::Wasm, "spinner", "spinner").await;
    load(&host, Form::Wasm, "echo", "echo").await;
    // ~50 ms of work, but the caller waits 5 ms.
    let err =
        host.request_with_timeout("spinner", "work", mp(&20_000_000u64), Duration::from_millis(5)).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout);
    // The next request gets its own answer, not the late one.
    let pong: String = host.call("spinner", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    let m = host.metrics();
    assert_eq!(m.late_replies, 1, "{m:?}");
    // A dropped future behaves the same.
    let fut = host.request("spinner", "work", mp(&20_000_000u64));
    drop(tokio::time::timeout(Duration::from_millis(2), fut).await);
    let pong: String = host.call("spinner", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    // Counted when the abandoned request is answered: if its work ran past
    // the CPU budget (a slow machine), that is as its instance is replaced,
    // which may come after the ping's answer.
    wait_until(|| host.metrics().late_replies >= 2).await;
    assert_eq!(host.metrics().late_replies, 2);
}
