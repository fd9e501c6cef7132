//! Faults: traps, panics and bad answers are answered, and the plugin comes back.
//!
//! In every case the caller gets a structured error, the host and other
//! plugins keep answering, and the faulty plugin answers its next message
//! (after being recycled when the fault was fatal to its instance).

use std::time::Duration;

use wasp_actors::{Host, Limits};
use wasp_protocol::ErrorCode;

use crate::common::{FORMS, Form, WAT_ALLOC, host, info, info_after, load, load_wat, mp, wat_handle, wat_plugin};

/// Checks that `other` (an echo) still answers, and returns once `name` has
/// handled `handled` messages with `faults` faults and as many restarts.
async fn assert_recovered(host: &Host, name: &str, other: &str, handled: u64, faults: u64) {
    assert_eq!(host.request(other, "ping", mp(&"alive")).await.unwrap(), mp(&"alive"), "`{other}` stopped answering");
    let i = info_after(host, name, handled).await;
    assert_eq!((i.handled, i.faults, i.restarts), (handled, faults, faults), "{i:?}");
    assert_eq!(i.state, wasp_actors::PluginState::Running);
}

/// `trap`: `unreachable`. `panic`: calls the `panic` import, then
/// `unreachable`. `recurse`: unbounded recursion. `hold`: defers. Anything
/// else: echoes its payload.
fn trapper_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4)) (then (call $boom)))
        (if (call $is (i32.const 32) (i32.const 5))
          (then (call $panic (i32.const 48) (i32.const 19)) (unreachable)))
        (if (call $is (i32.const 80) (i32.const 4)) (then (return (i32.const 1))))
        (if (call $is (i32.const 96) (i32.const 7)) (then (drop (call $recurse (i32.const 0)))))
        (drop (call $reply (local.get $id) (i32.const 0) (global.get $payload) (global.get $payload_len)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "trap")
        (data (i32.const 32) "panic")
        (data (i32.const 48) "oh no: custom panic")
        (data (i32.const 80) "hold")
        (data (i32.const 96) "recurse")
        (func $boom unreachable)
        (func $recurse (param i32) (result i32)
          (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_in_the_guest_is_plugin_crashed_with_a_wasm_backtrace() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    load_wat(&host, "trapper", &trapper_plugin()).await;
    let err = host.request("trapper", "trap", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("trapper") && err.message.contains("unreachable"), "{err}");
    let backtrace = err.context.as_deref().unwrap_or_default();
    assert!(!backtrace.is_empty(), "no backtrace in the context: {err:?}");
    assert!(backtrace.contains("boom") && backtrace.contains("handle"), "frames by name: {backtrace}");
    // Recycled: it answers its next message.
    assert_eq!(host.request("trapper", "ping", mp(&1)).await.unwrap(), mp(&1));
    assert_recovered(&host, "trapper", "echo", 2, 1).await;

    // The `panic` import's message is carried by the next trap.
    let err = host.request("trapper", "panic", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("oh no: custom panic"), "{err}");
    // Stack exhaustion is a trap like any other.
    let err = host.request("trapper", "recurse", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("stack"), "{err}");
    assert_eq!(host.request("trapper", "ping", mp(&2)).await.unwrap(), mp(&2));
    assert_recovered(&host, "trapper", "echo", 5, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_deferred_by_a_crashed_instance_are_answered_plugin_crashed() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    load_wat(&host, "trapper", &trapper_plugin()).await;
    let held = {
        let host = host.clone();
        tokio::spawn(async move { host.request("trapper", "hold", mp(&())).await })
    };
    info_after(&host, "trapper", 1).await;
    let err = host.request("trapper", "trap", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed);
    let held =
        tokio::time::timeout(Duration::from_secs(5), held).await.expect("answered at once").unwrap().unwrap_err();
    assert_eq!(held.code, ErrorCode::PluginCrashed, "{held}");
    assert!(held.message.contains("restarted"), "{held}");
    assert_eq!(host.request("trapper", "ping", mp(&3)).await.unwrap(), mp(&3));
    assert_recovered(&host, "trapper", "echo", 3, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_panic_is_plugin_crashed_naming_the_panic_in_every_form() {
    for form in FORMS {
        // A generous CPU budget: a native panic captures a backtrace, which
        // under wine on a loaded machine has taken over the default 1 s, and
        // the watchdog then reports `deadline_exceeded` instead of the crash
        // this test is about.
        let host = Host::builder()
            .request_timeout(Duration::from_secs(30))
            .cpu_budget(Duration::from_secs(20))
            .policy(wasp_actors::Policy::new().trust("*").expect("valid rule"))
            .build()
            .expect("host builds");
        load(&host, form, "faulty", "faulty").await;
        load(&host, form, "echo", "echo").await;
        let err = host.request("faulty", "panic", mp(&"payload-x")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PluginCrashed, "{form:?}: {err}");
        assert!(err.message.contains("boom: payload-x"), "{form:?}: {err}");
        let pong: String = host.call("faulty", "ping", &()).await.unwrap();
        assert_eq!(pong, "pong", "{form:?}");
        assert_recovered(&host, "faulty", "echo", 2, 1).await;
        // And again: recycling is not a one-off.
        let err = host.request("faulty", "panic", mp(&"again")).await.unwrap_err();
        assert!(err.message.contains("boom: again"), "{form:?}: {err}");
        let pong: String = host.call("faulty", "ping", &()).await.unwrap();
        assert_eq!(pong, "pong", "{form:?}");
        assert_recovered(&host, "faulty", "echo", 4, 2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_that_is_not_messagepack_fails_a_typed_call_with_invalid_message() {
    for form in FORMS {
        let host = host();
        load(&host, form, "faulty", "faulty").await;
        load(&host, form, "echo", "echo").await;
        // The broker never decodes payloads: the raw bytes come through.
        assert_eq!(host.request("faulty", "garbage", mp(&())).await.unwrap(), [0xc1], "{form:?}");
        let err = host.call::<_, String>("faulty", "garbage", &()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMessage, "{form:?}: {err}");
        // Not a fault of the plugin: nothing recycled.
        let pong: String = host.call("faulty", "ping", &()).await.unwrap();
        assert_eq!(pong, "pong");
        assert_recovered(&host, "faulty", "echo", 3, 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_exhaustion_under_max_memory_is_plugin_crashed_and_recycled() {
    let max_memory = 2 << 20;
    let host = Host::builder().limits(Limits { max_memory, ..Limits::default() }).build().unwrap();
    load(&host, Form::Wasm, "faulty", "faulty").await;
    load(&host, Form::Wasm, "echo", "echo").await;
    // Within the limit, allocation works.
    let held: u64 = host.call("faulty", "grow", &(256u64 << 10)).await.unwrap();
    assert_eq!(held, 256 << 10);
    let err = host.request("faulty", "grow", mp(&(1u64 << 30))).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("out of memory"), "{err}");
    let pong: String = host.call("faulty", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    assert_recovered(&host, "faulty", "echo", 3, 1).await;
    let i = info_after(&host, "faulty", 3).await;
    assert!(i.memory_bytes as usize <= max_memory, "{i:?}");
    // In process the same request is bounded by its own limit only.
    load(&host, Form::InProcess, "faulty", "native").await;
    let held: u64 = host.call("native", "grow", &(1u64 << 20)).await.unwrap();
    assert_eq!(held, 1 << 20);
}

/// Calls every import with pointers and lengths outside memory and answers
/// the statuses; topic `why` answers one failure's code with the result
/// slot as message.
fn prober_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "(local $status i32) (local $n i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 64) (i32.const 3))
          (then
            (local.set $status (call $send (i32.const 0xFFFFFFF0) (i32.const 4) (i32.const 32) (i32.const 5) (i32.const 48) (i32.const 1)))
            (local.set $n (call $result_len))
            (drop (call $result_read (i32.const 4096) (local.get $n)))
            (drop (call $reply (local.get $id) (local.get $status) (i32.const 4096) (local.get $n)))
            (return (i32.const 0))))
        (if (call $is (i32.const 80) (i32.const 4))
          (then
            (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1)))
            (return (i32.const 0))))
        ;; 0: `to` far outside memory
        (call $put (i32.const 0) (i64.extend_i32_s
          (call $send (i32.const 0xFFFFFFF0) (i32.const 4) (i32.const 32) (i32.const 5) (i32.const 48) (i32.const 1))))
        ;; 1: a huge payload length
        (call $put (i32.const 1) (i64.extend_i32_s
          (call $send (i32.const 0) (i32.const 4) (i32.const 32) (i32.const 5) (i32.const 0) (i32.const 0x7FFFFFFF))))
        ;; 2: a negative length
        (call $put (i32.const 2) (i64.extend_i32_s
          (call $publish (i32.const 32) (i32.const 5) (i32.const 48) (i32.const -1))))
        ;; 3: both
        (call $put (i32.const 3) (i64.extend_i32_s
          (call $publish (i32.const 0xFFFFFFF0) (i32.const 0x7FFFFFFF) (i32.const 48) (i32.const 1))))
        ;; 4: straddling the end of memory (2 pages = 131072 bytes)
        (call $put (i32.const 4) (i64.extend_i32_s (call $subscribe (i32.const 131070) (i32.const 4))))
        (call $put (i32.const 5) (i64.extend_i32_s (call $unsubscribe (i32.const -16) (i32.const 4))))
        (call $put (i32.const 6) (i64.extend_i32_s
          (call $request (i32.const 0xFFFFFFF0) (i32.const 4) (i32.const 32) (i32.const 5) (i32.const 48) (i32.const 1) (i32.const 0))))
        ;; 7: request_async returns -code
        (call $put (i32.const 7)
          (call $request_async (i32.const 0) (i32.const 4) (i32.const 32) (i32.const 5) (i32.const 0) (i32.const 0x7FFFFFFF) (i32.const 0)))
        (call $put (i32.const 8) (i64.extend_i32_s
          (call $reply (local.get $id) (i32.const 0) (i32.const 0xFFFFFFF0) (i32.const 16))))
        (call $put (i32.const 9) (i64.extend_i32_s
          (call $reply (local.get $id) (i32.const 1000) (i32.const 0) (i32.const -1))))
        ;; log and panic have no status; they must not trap
        (call $log (i32.const 2) (i32.const 0xFFFFFFF0) (i32.const 16))
        (call $panic (i32.const 0) (i32.const 0x7FFFFFFF))
        ;; 10, 11: result_read to a pointer outside memory, or straddling its end
        (call $put (i32.const 10) (i64.extend_i32_s (call $result_read (i32.const 0xFFFFFFF0) (i32.const 16))))
        (call $put (i32.const 11) (i64.extend_i32_s (call $result_read (i32.const 131070) (i32.const 16))))
        ;; 12: the result slot holds the last failure's message
        (call $put (i32.const 12) (i64.extend_i32_s (call $result_len)))
        (drop (call $reply_ints (local.get $id) (i32.const 13)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 32) "topic")
        (data (i32.const 48) "\c0")
        (data (i32.const 64) "why")
        (data (i32.const 80) "ping")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_imports_refuse_out_of_bounds_pointers_with_invalid_argument() {
    let host = host();
    load_wat(&host, "prober", &prober_plugin()).await;
    let statuses: Vec<i64> = host.call("prober", "probe", &()).await.unwrap();
    assert_eq!(
        statuses[..8],
        [13, 13, 13, 13, 13, 13, 13, -13],
        "send, publish, subscribe, unsubscribe, request, request_async"
    );
    assert_eq!(statuses[8..10], [13, 13], "reply");
    assert!(statuses[10] < 0 && statuses[11] < 0, "result_read out of bounds returns a negative code: {statuses:?}");
    assert_eq!(statuses[10..12], [-13, -13]);
    assert!(statuses[12] > 0, "the result slot holds a message");
    let err = host.request("prober", "why", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.contains("0xfffffff0") && err.message.contains("outside"), "{err}");
    // The plugin keeps running: nothing trapped, nothing recycled.
    let () = host.call("prober", "ping", &()).await.unwrap();
    let i = info_after(&host, "prober", 3).await;
    assert_eq!((i.faults, i.restarts), (0, 0), "{i:?}");
}

/// Topics and addresses that are not valid text.
fn texts_plugin() -> Vec<u8> {
    let long = "a".repeat(257);
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        ;; 0: a topic that is not UTF-8
        (call $put (i32.const 0) (i64.extend_i32_s (call $publish (i32.const 16) (i32.const 2) (i32.const 48) (i32.const 1))))
        ;; 1: a control character; 2: empty; 3: 257 bytes
        (call $put (i32.const 1) (i64.extend_i32_s (call $publish (i32.const 64) (i32.const 9) (i32.const 48) (i32.const 1))))
        (call $put (i32.const 2) (i64.extend_i32_s (call $publish (i32.const 32) (i32.const 0) (i32.const 48) (i32.const 1))))
        (call $put (i32.const 3) (i64.extend_i32_s (call $publish (i32.const 200) (i32.const 257) (i32.const 48) (i32.const 1))))
        ;; 4: a pattern that is not UTF-8; 5: a send's topic; 6: a send's address
        (call $put (i32.const 4) (i64.extend_i32_s (call $subscribe (i32.const 16) (i32.const 2))))
        (call $put (i32.const 5) (i64.extend_i32_s
          (call $send (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 2) (i32.const 48) (i32.const 1))))
        (call $put (i32.const 6) (i64.extend_i32_s
          (call $send (i32.const 80) (i32.const 4) (i32.const 32) (i32.const 8) (i32.const 48) (i32.const 1))))
        ;; 7: 256 bytes is fine, and so is a publish nobody hears
        (call $put (i32.const 7) (i64.extend_i32_s (call $publish (i32.const 200) (i32.const 256) (i32.const 48) (i32.const 1))))
        (drop (call $reply_ints (local.get $id) (i32.const 8)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "\ff\fe")
        (data (i32.const 32) "ok.topic")
        (data (i32.const 48) "\c0")
        (data (i32.const 64) "bad\01topic")
        (data (i32.const 80) "ech\ff")
        (data (i32.const 200) "{long}")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_or_bad_topics_in_imports_are_invalid_argument() {
    let host = host();
    load_wat(&host, "texts", &texts_plugin()).await;
    let statuses: Vec<i64> = host.call("texts", "probe", &()).await.unwrap();
    assert_eq!(statuses, [13, 13, 13, 13, 13, 13, 13, 0]);
    let statuses: Vec<i64> = host.call("texts", "probe", &()).await.unwrap();
    assert_eq!(statuses[0], 13, "and again: the plugin keeps running");
    let i = info_after(&host, "texts", 2).await;
    assert_eq!((i.faults, i.restarts), (0, 0), "{i:?}");
}

/// Echoes; its `wasp_alloc` serves up to 256 bytes properly, and for larger
/// buffers returns `big` (an address).
fn bad_alloc_plugin(big: u32) -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.eqz (local.get $kind))
          (then (drop (call $reply (local.get $id) (i32.const 0) (global.get $payload) (global.get $payload_len)))))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (func (export "wasp_alloc") (param $len i32) (result i32)
          (if (result i32) (i32.le_u (local.get $len) (i32.const 256))
            (then (i32.const 65536)) (else (i32.const {big}))))
        (func (export "wasp_dealloc") (param i32 i32))
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_alloc_too_close_to_the_end_is_plugin_crashed_and_returning_zero_is_no_room() {
    // 16 bytes before the end of the 2-page memory: a broken ABI, a fault;
    // 0: no room for the message, answered `too_large`, not the plugin's fault.
    let cases = [
        (131_072 - 16, ErrorCode::PluginCrashed, "outside the plugin's memory", 1),
        (0u32, ErrorCode::TooLarge, "could not make room for a message of", 0),
    ];
    for (big, code, says, faults) in cases {
        let host = host();
        load(&host, Form::Wasm, "echo", "echo").await;
        load_wat(&host, "badalloc", &bad_alloc_plugin(big)).await;
        assert_eq!(host.request("badalloc", "ping", mp(&"small")).await.unwrap(), mp(&"small"));
        let large = mp(&"x".repeat(1000));
        let err = host.request("badalloc", "ping", large).await.unwrap_err();
        assert_eq!(err.code, code, "{err}");
        assert!(err.message.contains("wasp_alloc") && err.message.contains(says), "{err}");
        assert_eq!(host.request("badalloc", "ping", mp(&"again")).await.unwrap(), mp(&"again"));
        assert_recovered(&host, "badalloc", "echo", 3, faults).await;
        assert_eq!(info(&host, "badalloc").violations, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_that_expired_while_queued_is_answered_timeout_without_running() {
    let host = Host::builder().cpu_budget(Duration::from_secs(10)).build().unwrap();
    load(&host, Form::Wasm, "spinner", "spinner").await;
    // ~100 ms of work. Polling the request once puts it in the mailbox.
    let slow = host.request("spinner", "work", mp(&40_000_000u64));
    tokio::pin!(slow);
    assert!(tokio::time::timeout(Duration::from_millis(1), &mut slow).await.is_err(), "the work finished at once");
    // Queued behind it, with a caller that waits 5 ms.
    let err = host.request_with_timeout("spinner", "ping", mp(&()), Duration::from_millis(5)).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    slow.await.unwrap();
    let pong: String = host.call("spinner", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    let i = info_after(&host, "spinner", 2).await;
    // `work` and the last `ping` ran; the expired `ping` did not.
    assert_eq!((i.handled, i.expired, i.faults), (2, 1, 0), "{i:?}");
}

/// `Reply::sent()` tells the host the plugin answered already; one that
/// did not is reported to its caller as `no_reply`, alike in every form,
/// and the plugin keeps working (it is not a fault).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_an_answer_never_sent_is_no_reply_in_every_form() {
    for form in FORMS {
        let host = host();
        load(&host, form, "faulty", "faulty").await;
        load(&host, form, "echo", "echo").await;
        let err = host.request("faulty", "forget", mp(&())).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NoReply, "{form:?}: {err}");
        let pong: String = host.call("faulty", "ping", &()).await.unwrap();
        assert_eq!(pong, "pong", "{form:?}");
        // And echo, which answers through `reply_raw` + `Reply::sent()`,
        // answers every request exactly once, small and large.
        for size in [0, 16, 1 << 20] {
            let payload = mp(&serde_bytes::ByteBuf::from(vec![7u8; size]));
            assert_eq!(host.request("echo", "ping", payload.clone()).await.unwrap(), payload, "{form:?}");
        }
        assert_eq!(info(&host, "faulty").restarts, 0, "{form:?}");
    }
}
