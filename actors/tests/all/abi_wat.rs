//! Plugins written in WAT from `docs/abi.md` alone: if these pass, the spec
//! says enough to write a plugin without the SDK, and says it correctly.
//!
//! The shared prelude (every `wasp` import, the memory layout, small
//! helpers) is `common::WAT_PRELUDE`; each test adds its own `wasp_handle`.

use std::time::Duration;

use wasp_actors::{Event, Load, Subscription};
use wasp_protocol::{ErrorCode, WireError};

use crate::common::{Form, WAT_ALLOC, host, info, info_after, load, load_wat, mp, wat, wat_handle, wat_plugin};

/// The spec itself: the section 5 example is taken from the document, so
/// the document's example is what runs.
const ABI_MD: &str = include_str!("../../../docs/abi.md");

/// The ```wat block of `docs/abi.md` section 5.
fn doc_echo_wat() -> &'static str {
    let section = ABI_MD.split("\n## 5.").nth(1).expect("docs/abi.md has a section 5");
    let start = section.find("```wat\n").expect("section 5 has a ```wat block") + "```wat\n".len();
    let len = section[start..].find("```").expect("the ```wat block is closed");
    &section[start..start + len]
}

async fn next_event(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("an event within 5 s").expect("host alive")
}

/// The integers a WAT plugin sent with `$send_ints`.
async fn next_ints(sub: &mut Subscription, topic: &str) -> Vec<i64> {
    let ev = next_event(sub).await;
    assert_eq!(ev.topic, topic, "{ev:?}");
    ev.decode().unwrap_or_else(|e| panic!("{topic}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doc_section_5_echo_plugin_answers_requests() {
    let host = host();
    let bytes = wat(doc_echo_wat());
    let r = host.load(Load::bytes(&bytes).named("wat-echo")).await.unwrap();
    assert_eq!(r.abi_version(), Some(wasp_protocol::ApiVersion::new(1, 0)));
    for size in [0usize, 1, 200, 1000, 4096, 60_000] {
        let payload = mp(&serde_bytes::ByteBuf::from(vec![0x5a; size]));
        assert_eq!(host.request("wat-echo", "ping", payload.clone()).await.unwrap(), payload, "{size} bytes");
    }
    let s: String = host.call("wat-echo", "any.topic", &"typed").await.unwrap();
    assert_eq!(s, "typed");
    // Events are ignored.
    host.send("wat-echo", "note", mp(&1)).unwrap();
    assert_eq!(host.request("wat-echo", "ping", mp(&2)).await.unwrap(), mp(&2));
    // "a larger request fails the alloc (returns 0)": the plugin has no
    // room for it, answered too_large; no fault, and it answers on.
    let big = mp(&serde_bytes::ByteBuf::from(vec![1u8; 70_000]));
    let err = host.request("wat-echo", "ping", big).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("wasp_alloc"), "{err}");
    assert_eq!(host.request("wat-echo", "ping", mp(&3)).await.unwrap(), mp(&3));
    let i = info_after(&host, "wat-echo", 11).await;
    assert_eq!((i.faults, i.restarts, i.handled), (0, 0, 11), "{i:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wat_plugin_subscribed_in_wasp_load_receives_publishes_as_events() {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (local.get $kind)))
            (call $put (i32.const 1) (local.get $id))
            (call $put (i32.const 2) (i64.extend_i32_u (call $from_is (i32.const 0) (i32.const 4))))
            (drop (call $send_ints (i32.const 48) (i32.const 8) (i32.const 3)))
            (drop (call $send (i32.const 0) (i32.const 4) (i32.const 80) (i32.const 9) (global.get $topic) (global.get $topic_len)))
            (drop (call $send (i32.const 0) (i32.const 4) (i32.const 32) (i32.const 9) (global.get $payload) (global.get $payload_len)))))
        (if (i32.and (i32.eqz (local.get $kind)) (call $is (i32.const 64) (i32.const 4)))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (call $unsubscribe (i32.const 16) (i32.const 6))))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))))
        (i32.const 0)"#,
    );
    let bytes = wat_plugin(&format!(
        r#"
        (data (i32.const 16) "news.*")
        (data (i32.const 32) "wat.heard")
        (data (i32.const 48) "wat.meta")
        (data (i32.const 64) "stop")
        (data (i32.const 80) "wat.topic")
        (func (export "wasp_load") (result i32)
          (call $subscribe (i32.const 16) (i32.const 6)))
        {WAT_ALLOC}
        {handle}"#
    ));
    let host = host();
    load_wat(&host, "listener", &bytes).await;
    let mut heard = host.subscribe("wat.*").unwrap();
    host.publish("sports.score", mp(&0)).unwrap();
    host.publish("news.today", mp(&"hello")).unwrap();
    host.publish("news.tomorrow", mp(&2)).unwrap();
    for (topic, payload) in [("news.today", mp(&"hello")), ("news.tomorrow", mp(&2))] {
        let meta = next_ints(&mut heard, "wat.meta").await;
        assert_eq!(meta[0], 1, "kind 1, an event");
        assert!(meta[1] > 0, "ids are > 0: {meta:?}");
        assert_eq!(meta[2], 1, "from `host`");
        assert_eq!(next_event(&mut heard).await.payload, topic.as_bytes());
        let ev = next_event(&mut heard).await;
        assert_eq!((ev.from.as_str(), ev.topic.as_str(), ev.payload), ("listener", "wat.heard", payload));
    }
    // `unsubscribe` undoes it.
    let status: Vec<i64> = host.call("listener", "stop", &()).await.unwrap();
    assert_eq!(status, [0]);
    host.publish("news.later", mp(&3)).unwrap();
    // A request after the publish: once it is answered, the publish had its chance.
    let _: Vec<i64> = host.call("listener", "stop", &()).await.unwrap();
    assert!(heard.try_recv().is_none(), "an event arrived after unsubscribe (or for `sports.score`)");
}

/// Forwards each request to the plugin named by its topic, with `request`
/// (topic `ping`, same payload, default timeout), and answers with the
/// result slot: the reply on status 0, else the status as error code and the
/// slot as its message.
fn caller_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "(local $status i32) (local $n i32) (local $got i32)",
        r#"
        (if (i32.eqz (local.get $kind))
          (then
            (local.set $status (call $request (global.get $topic) (global.get $topic_len) (i32.const 16) (i32.const 4)
                                              (global.get $payload) (global.get $payload_len) (i32.const 0)))
            (local.set $n (call $result_len))
            ;; result_read copies at most `len` bytes.
            (if (i32.and (i32.gt_s (local.get $n) (i32.const 1))
                         (i32.ne (call $result_read (i32.const 4096) (i32.const 1)) (i32.const 1)))
              (then (drop (call $reply (local.get $id) (i32.const 1000) (i32.const 32) (i32.const 10)))
                    (return (i32.const 0))))
            (local.set $got (call $result_read (i32.const 4096) (local.get $n)))
            (if (i32.ne (local.get $got) (local.get $n))
              (then (drop (call $reply (local.get $id) (i32.const 1000) (i32.const 32) (i32.const 10)))
                    (return (i32.const 0))))
            (drop (call $reply (local.get $id) (local.get $status) (i32.const 4096) (local.get $got)))))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "ping")
        (data (i32.const 32) "short read")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wat_request_import_reaches_another_plugin_and_the_result_slot_holds_the_answer() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    load(&host, Form::InProcess, "echo", "native-echo").await;
    load_wat(&host, "caller", &caller_plugin()).await;
    for to in ["echo", "native-echo"] {
        for size in [0usize, 5, 30_000] {
            let payload = mp(&serde_bytes::ByteBuf::from(vec![9u8; size]));
            assert_eq!(host.request("caller", to, payload.clone()).await.unwrap(), payload, "via {to}, {size} bytes");
        }
    }
    // A failed request: the status is the code, the result slot the message.
    let err = host.request("caller", "ghost", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err}");
    assert!(err.message.contains("ghost"), "{err}");
    // A request to `host` calls the app's function named by its topic, which
    // `request:*` does not cover: that takes `call:<function>`.
    let err = host.request("caller", "host", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PermissionDenied, "requests to `host` need call:<function>: {err}");
    let err = host.request("caller", "caller", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::WouldDeadlock, "{err}");
    assert!(err.message.contains("caller → caller"), "{err}");
    assert_eq!(info(&host, "caller").faults, 0);
}

/// On a request: `request_async` to the plugin named by the topic (topic
/// `ping`, 200 ms timeout), sends `[id]` to the host on `wat.async`, defers.
/// On its completion (kind 2 or 3): sends `[kind, id, topic is ping]` on
/// `wat.done` and the sender on `wat.from`, then answers the deferred request
/// with the completion's payload. A `request_async` failure is answered at
/// once with its code.
fn asker_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "(local $a i64)",
        r#"
        (if (i32.eqz (local.get $kind))
          (then
            (local.set $a (call $request_async (global.get $topic) (global.get $topic_len) (i32.const 16) (i32.const 4)
                                               (global.get $payload) (global.get $payload_len) (i32.const 200)))
            (if (i64.lt_s (local.get $a) (i64.const 0))
              (then
                (drop (call $reply (local.get $id) (i32.wrap_i64 (i64.sub (i64.const 0) (local.get $a))) (i32.const 64) (i32.const 20)))
                (return (i32.const 0))))
            (global.set $pending (local.get $id))
            (call $put (i32.const 0) (local.get $a))
            (drop (call $send_ints (i32.const 32) (i32.const 9) (i32.const 1)))
            (return (i32.const 1))))
        (if (i32.ge_u (local.get $kind) (i32.const 2))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (local.get $kind)))
            (call $put (i32.const 1) (local.get $id))
            (call $put (i32.const 2) (i64.extend_i32_u (call $is (i32.const 16) (i32.const 4))))
            (drop (call $send_ints (i32.const 48) (i32.const 8) (i32.const 3)))
            (drop (call $send (i32.const 0) (i32.const 4) (i32.const 96) (i32.const 8) (global.get $from) (global.get $from_len)))
            (drop (call $reply (global.get $pending) (i32.const 0) (global.get $payload) (global.get $payload_len)))))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $pending (mut i64) (i64.const 0))
        (data (i32.const 16) "ping")
        (data (i32.const 32) "wat.async")
        (data (i32.const 48) "wat.done")
        (data (i32.const 64) "request_async failed")
        (data (i32.const 96) "wat.from")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Defers every request and never answers.
fn sink_plugin() -> Vec<u8> {
    wat_plugin(&format!("{WAT_ALLOC} {}", wat_handle("", "(i32.const 1)")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_async_returns_an_id_and_the_answer_arrives_as_kind_2_with_that_id() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    load_wat(&host, "asker", &asker_plugin()).await;
    let mut events = host.subscribe("wat.*").unwrap();
    for word in ["one", "two"] {
        let reply: String = host.call("asker", "echo", &word).await.unwrap();
        assert_eq!(reply, word);
        let [id] = next_ints(&mut events, "wat.async").await[..] else { panic!("one id") };
        assert!(id > 0, "request_async returns an id > 0, got {id}");
        assert_eq!(next_ints(&mut events, "wat.done").await, [2, id, 1], "kind 2, the same id, the request's topic");
        assert_eq!(next_event(&mut events).await.payload, b"echo", "from is who answered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_async_without_an_answer_completes_as_kind_3_timeout() {
    let host = host();
    load_wat(&host, "sink", &sink_plugin()).await;
    load_wat(&host, "asker", &asker_plugin()).await;
    let mut events = host.subscribe("wat.*").unwrap();
    // The asker answers with the kind-3 payload: a MessagePack error map.
    let payload = host.request("asker", "sink", mp(&())).await.unwrap();
    let [id] = next_ints(&mut events, "wat.async").await[..] else { panic!("one id") };
    assert_eq!(next_ints(&mut events, "wat.done").await, [3, id, 1], "kind 3, the same id");
    let err: WireError = wasp_protocol::codec::from_payload(&payload).unwrap();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    // Section 7: a map of `code`, `message`, `context`, in that order.
    let head = [&[0x83, 0xa4][..], b"code", &[5, 0xa7], b"message"].concat();
    assert!(payload.starts_with(&head), "{payload:x?}");
    let context = [&[0xa7][..], b"context"].concat();
    assert!(payload[head.len()..].windows(context.len()).any(|w| w == context), "{payload:x?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_async_failure_detected_at_once_returns_minus_code_and_nothing_later() {
    let host = host();
    load_wat(&host, "asker", &asker_plugin()).await;
    let mut events = host.subscribe("wat.*").unwrap();
    // `request:*` covers plugins, not the app's functions (`call:ping`).
    for (to, code) in [("ghost", ErrorCode::NotFound), ("host", ErrorCode::PermissionDenied)] {
        let err = host.request("asker", to, mp(&())).await.unwrap_err();
        assert_eq!(err.code, code, "{to}: {err}");
        assert_eq!(err.message, "request_async failed");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(events.try_recv().is_none(), "nothing arrives after a refused request_async");
}

/// `hold`: defers. `release`: replies to the held request with its own
/// payload, twice, and sends `[first status, second status, result_len]` on
/// `wat.status`; then replies to itself twice and to an unknown id, and
/// sends those three statuses too. Events: replies to the event's id and
/// sends that status. Any other request: returns 0 without replying.
fn holder_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0))
          (then
            (call $put (i32.const 0) (i64.extend_i32_s (call $reply (local.get $id) (i32.const 0) (i32.const 64) (i32.const 1))))
            (drop (call $send_ints (i32.const 48) (i32.const 10) (i32.const 1)))
            (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4))
          (then (global.set $held (local.get $id)) (return (i32.const 1))))
        (if (call $is (i32.const 32) (i32.const 7))
          (then
            (call $put (i32.const 0) (i64.extend_i32_s
              (call $reply (global.get $held) (i32.const 0) (global.get $payload) (global.get $payload_len))))
            (call $put (i32.const 1) (i64.extend_i32_s
              (call $reply (global.get $held) (i32.const 0) (global.get $payload) (global.get $payload_len))))
            (call $put (i32.const 2) (i64.extend_i32_s (call $result_len)))
            (drop (call $send_ints (i32.const 48) (i32.const 10) (i32.const 3)))
            (call $put (i32.const 0) (i64.extend_i32_s (call $reply (local.get $id) (i32.const 0) (i32.const 64) (i32.const 1))))
            (call $put (i32.const 1) (i64.extend_i32_s (call $reply (local.get $id) (i32.const 0) (i32.const 64) (i32.const 1))))
            (call $put (i32.const 2) (i64.extend_i32_s (call $reply (i64.const 987654321) (i32.const 0) (i32.const 64) (i32.const 1))))
            (drop (call $send_ints (i32.const 48) (i32.const 10) (i32.const 3)))
            (return (i32.const 0))))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $held (mut i64) (i64.const 0))
        (data (i32.const 16) "hold")
        (data (i32.const 32) "release")
        (data (i32.const 48) "wat.status")
        (data (i32.const 64) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_reply_reaches_the_caller_later_and_a_second_reply_is_not_found() {
    let host = host();
    load_wat(&host, "holder", &holder_plugin()).await;
    let mut status = host.subscribe("wat.status").unwrap();
    let held = {
        let host = host.clone();
        tokio::spawn(async move { host.request("holder", "hold", mp(&"first")).await })
    };
    while info(&host, "holder").handled == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!held.is_finished(), "a deferred request is not answered on return");
    let () = host.call("holder", "release", &"later").await.unwrap();
    assert_eq!(held.await.unwrap().unwrap(), mp(&"later"), "the deferred answer");
    let statuses = next_ints(&mut status, "wat.status").await;
    assert_eq!(statuses[..2], [0, 2], "the first reply works, the second fails with not_found (2)");
    assert!(statuses[2] > 0, "the failed reply left its message in the result slot");
    assert_eq!(next_ints(&mut status, "wat.status").await, [0, 2, 2], "own id twice, then an unknown id");
    // An event's id is not something to reply to.
    host.send("holder", "note", mp(&())).unwrap();
    assert_eq!(next_ints(&mut status, "wat.status").await, [2]);
    assert_eq!(info(&host, "holder").faults, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_request_still_times_out_for_its_caller() {
    let host = host();
    load_wat(&host, "holder", &holder_plugin()).await;
    let mut status = host.subscribe("wat.status").unwrap();
    let err = host.request_with_timeout("holder", "hold", mp(&()), Duration::from_millis(50)).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    // The plugin may still answer; the answer is discarded and counted.
    let () = host.call("holder", "release", &"too late").await.unwrap();
    assert_eq!(next_ints(&mut status, "wat.status").await[..2], [0, 2]);
    assert_eq!(host.metrics().late_replies, 1);
}

/// Topic `none`: returns 0 without replying. `seven`: returns 7.
/// `replied-seven`: replies nil, then returns 7. Anything else: replies nil.
/// Events: return 7.
fn status_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 7))))
        (if (call $is (i32.const 16) (i32.const 4)) (then (return (i32.const 0))))
        (if (call $is (i32.const 32) (i32.const 5)) (then (return (i32.const 7))))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 64) (i32.const 1)))
        (if (call $is (i32.const 48) (i32.const 13)) (then (return (i32.const 7))))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "none")
        (data (i32.const 32) "seven")
        (data (i32.const 48) "replied-seven")
        (data (i32.const 64) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_0_without_replying_answers_no_reply() {
    let host = host();
    load_wat(&host, "statuses", &status_plugin()).await;
    let err = host.request("statuses", "none", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NoReply, "{err}");
    assert!(err.message.contains("statuses"), "{err}");
    let () = host.call("statuses", "ok", &()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_status_answers_invalid_message_and_the_plugin_keeps_running() {
    let host = host();
    load_wat(&host, "statuses", &status_plugin()).await;
    let err = host.request("statuses", "seven", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidMessage, "{err}");
    assert!(err.message.contains("status 7"), "{err}");
    // An event answered 7 is simply done.
    host.send("statuses", "note", mp(&())).unwrap();
    // A request already answered keeps its answer.
    let () = host.call("statuses", "replied-seven", &()).await.unwrap();
    let () = host.call("statuses", "ok", &()).await.unwrap();
    let i = info_after(&host, "statuses", 4).await;
    assert_eq!((i.faults, i.restarts, i.handled), (0, 0, 4), "{i:?}");
}

/// Answers every request with error code = the int32 in its payload
/// (`d2` + 4 bytes big-endian) and the message `custom failure`.
fn failer_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "(local $p i32) (local $code i32)",
        r#"
        (local.set $p (i32.add (global.get $payload) (i32.const 1)))
        (local.set $code
          (i32.or
            (i32.or (i32.shl (i32.load8_u (local.get $p)) (i32.const 24))
                    (i32.shl (i32.load8_u (i32.add (local.get $p) (i32.const 1))) (i32.const 16)))
            (i32.or (i32.shl (i32.load8_u (i32.add (local.get $p) (i32.const 2))) (i32.const 8))
                    (i32.load8_u (i32.add (local.get $p) (i32.const 3))))))
        (drop (call $reply (local.get $id) (local.get $code) (i32.const 16) (i32.const 14)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "custom failure")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_with_plugin_or_unknown_code_reaches_the_caller_as_plugin_error() {
    let host = host();
    load_wat(&host, "failer", &failer_plugin()).await;
    let cases = [
        (1000, ErrorCode::Plugin),
        (4242, ErrorCode::Plugin),
        (999, ErrorCode::Plugin),
        (70_000, ErrorCode::Plugin),
        (-5, ErrorCode::Plugin),
        (2, ErrorCode::NotFound),
        (14, ErrorCode::TooLarge),
    ];
    for (code, expected) in cases {
        let mut payload = vec![0xd2];
        payload.extend_from_slice(&i32::to_be_bytes(code));
        let err = host.request("failer", "fail", payload).await.unwrap_err();
        assert_eq!(err.code, expected, "code {code}: {err}");
        assert_eq!(err.message, "custom failure", "code {code}");
    }
}

/// Records every `wasp_alloc` and `wasp_dealloc` call. Request `stats`
/// answers `[allocs, last alloc len, deallocs, last dealloc ptr, last
/// dealloc len, every alloc len was a power of two >= 256]`; any other
/// request answers nil.
fn recording_alloc_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 5))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (global.get $allocs)))
            (call $put (i32.const 1) (i64.extend_i32_u (global.get $alloc_len)))
            (call $put (i32.const 2) (i64.extend_i32_u (global.get $deallocs)))
            (call $put (i32.const 3) (i64.extend_i32_u (global.get $dealloc_ptr)))
            (call $put (i32.const 4) (i64.extend_i32_u (global.get $dealloc_len)))
            (call $put (i32.const 5) (i64.extend_i32_u (global.get $pow2)))
            (drop (call $reply_ints (local.get $id) (i32.const 6)))
            (return (i32.const 0))))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 32) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $allocs (mut i32) (i32.const 0))
        (global $alloc_len (mut i32) (i32.const 0))
        (global $deallocs (mut i32) (i32.const 0))
        (global $dealloc_ptr (mut i32) (i32.const 0))
        (global $dealloc_len (mut i32) (i32.const 0))
        (global $pow2 (mut i32) (i32.const 1))
        (data (i32.const 16) "stats")
        (data (i32.const 32) "\c0")
        (func (export "wasp_alloc") (param $len i32) (result i32)
          (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
          (global.set $alloc_len (local.get $len))
          (if (i32.or (i32.lt_u (local.get $len) (i32.const 256)) (i32.ne (i32.popcnt (local.get $len)) (i32.const 1)))
            (then (global.set $pow2 (i32.const 0))))
          (if (result i32) (i32.le_u (local.get $len) (i32.const 65536))
            (then (i32.const 65536)) (else (i32.const 0))))
        (func (export "wasp_dealloc") (param $ptr i32) (param $len i32)
          (global.set $deallocs (i32.add (global.get $deallocs) (i32.const 1)))
          (global.set $dealloc_ptr (local.get $ptr))
          (global.set $dealloc_len (local.get $len)))
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_buffer_is_reused_while_messages_fit_and_freed_with_its_exact_pointer_and_capacity() {
    let host = host();
    load_wat(&host, "recorder", &recording_alloc_plugin()).await;
    let stats =
        |host: wasp_actors::Host| async move { host.call::<_, Vec<i64>>("recorder", "stats", &()).await.unwrap() };
    // The first message gets the smallest buffer: 256 bytes.
    assert_eq!(stats(host.clone()).await, [1, 256, 0, 0, 0, 1]);
    // Messages that fit reuse it.
    for _ in 0..3 {
        host.request("recorder", "x", vec![0xc0; 100]).await.unwrap();
    }
    assert_eq!(stats(host.clone()).await, [1, 256, 0, 0, 0, 1]);
    // A bigger one: the old buffer is freed with its pointer and capacity,
    // and the new capacity is the next power of two.
    host.request("recorder", "x", vec![0xc0; 300]).await.unwrap();
    assert_eq!(stats(host.clone()).await, [2, 512, 1, 65536, 256, 1]);
    host.request("recorder", "x", vec![0xc0; 5000]).await.unwrap();
    host.request("recorder", "x", vec![0xc0; 10]).await.unwrap();
    assert_eq!(stats(host.clone()).await, [3, 8192, 2, 65536, 512, 1]);
}
