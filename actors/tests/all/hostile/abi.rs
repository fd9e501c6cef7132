//! Attacks on the ABI: pointers outside memory, broken text, long topics,
//! large payloads, and imports the ABI does not offer.

use wasp_actors::{AuditKind, LimitRequests, Limits, Load};
use wasp_protocol::ErrorCode;

use super::plugins::trapping_start_module;
use super::probe::{Consts, probe, prober, status, void};
use super::{assert_echo_answers, audited, host_with, is_invalid_call, is_limit, load_with, logged};
use crate::common::{Form, info, info_after, load, load_wat, mp};

// ---- 5. out-of-bounds pointers to every import ----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_pointers_to_every_import_are_invalid_argument_and_audited() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut c = Consts::default();
    let (echo, topic, nil, clock) = (c.at("echo"), c.at("t"), c.at([0xc0u8]), c.at("clock.now"));
    // -16 is 0xfffffff0; 131070 is 2 bytes before the end of the 2-page memory.
    let probes: Vec<(&str, String)> = vec![
        ("send", status(&format!("(call $send (i32.const -16) (i32.const 4) {topic} {nil})"))),
        ("send", status(&format!("(call $send {echo} {topic} (i32.const 0) (i32.const 0x7fffffff))"))),
        ("publish", status(&format!("(call $publish (i32.const -16) (i32.const 1) {nil})"))),
        ("publish", status(&format!("(call $publish {topic} (i32.const 0) (i32.const -1))"))),
        ("subscribe", status("(call $subscribe (i32.const 131070) (i32.const 4))")),
        ("unsubscribe", status("(call $unsubscribe (i32.const 0) (i32.const -1))")),
        ("request", status(&format!("(call $request (i32.const -16) (i32.const 4) {topic} {nil} (i32.const 0))"))),
        (
            "request",
            status(&format!("(call $request {echo} {topic} (i32.const 131000) (i32.const 1000) (i32.const 0))")),
        ),
        ("request_async", format!("(call $request_async {echo} (i32.const -16) (i32.const 1) {nil} (i32.const 0))")),
        ("reply", status("(call $reply (local.get $id) (i32.const 0) (i32.const -16) (i32.const 16))")),
        ("result_read", status("(call $result_read (i32.const -16) (i32.const 16))")),
        ("result_read", status("(call $result_read (i32.const 131070) (i32.const 16))")),
        ("log", void("(call $log (i32.const 2) (i32.const -16) (i32.const 16))")),
        ("log", void("(call $log (i32.const 4) (i32.const 0) (i32.const 0x7fffffff))")),
        ("panic", void("(call $panic (i32.const 0) (i32.const -1))")),
        ("call", status(&format!("(call $call (i32.const -16) (i32.const 9) {nil})"))),
        ("call", status(&format!("(call $call {clock} (i32.const 0) (i32.const 0x7fffffff))"))),
    ];
    let code: Vec<String> = probes.iter().map(|(_, p)| p.clone()).collect();
    load_wat(&host, "oob", &prober("", c, &code)).await;

    for round in 1..=2u64 {
        let answers = probe(&host, "oob").await;
        assert_eq!(answers.len(), probes.len());
        for ((call, _), (status, slot)) in probes.iter().zip(&answers) {
            let expected = match *call {
                "log" | "panic" => 0,
                "request_async" | "result_read" => -13,
                _ => 13,
            };
            assert_eq!(*status, expected, "{call}: {slot}");
            if expected != 0 {
                assert!(slot.contains("outside the plugin's memory of 131072 bytes"), "{call}: {slot}");
            }
        }
        // Nothing trapped: the plugin answers on the same instance.
        let () = host.call("oob", "ping", &()).await.unwrap();
        let i = info_after(&host, "oob", 2 * round).await;
        assert_eq!((i.faults, i.restarts), (0, 0), "{i:?}");
    }

    // Every import's misuse is audited as an invalid call, once per call.
    for call in ["send", "publish", "subscribe", "unsubscribe", "request", "request_async", "reply"]
        .into_iter()
        .chain(["result_read", "log", "panic", "call"])
    {
        let per_round = probes.iter().filter(|(c, _)| *c == call).count();
        let events = logged(&host, "oob", is_invalid_call(call));
        assert_eq!(events.len(), 2 * per_round, "InvalidCall events for `{call}`: {events:?}");
        assert!(events.iter().all(|e| e.message.starts_with(&format!("{call}: "))), "{events:?}");
    }
    assert_eq!(info(&host, "oob").violations, 2 * probes.len() as u64);
    // Nothing reached the echo; it answers the host as before.
    assert_echo_answers(&host, "after the probes").await;
    let i = info_after(&host, "echo", 3).await;
    assert_eq!(i.handled, 3, "the echo received something from the prober: {i:?}");

    // The WASI imports of ABI 1.1. The clock and the random source (the
    // host's own) answer EFAULT (21) for memory they cannot write.
    let wasi_imports = r#"
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let wasi_probes = [
        status("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const -16))"),
        status("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 131070))"),
        status("(call $random_get (i32.const -16) (i32.const 16))"),
        status("(call $random_get (i32.const 131070) (i32.const 16))"),
    ];
    let grants = ["clock", "random"];
    load_with(
        &host,
        "wasi-oob",
        &prober(wasi_imports, Consts::default(), &wasi_probes),
        &grants,
        LimitRequests::default(),
    )
    .await;
    let statuses: Vec<i64> = probe(&host, "wasi-oob").await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, [21, 21, 21, 21], "EFAULT from clock_time_get and random_get");
    // A path outside memory given to `path_open` is refused with an errno
    // (the plugin keeps running) and audited like any call with a bad pointer.
    let path_open = status(
        "(call $path_open (i32.const 3) (i32.const 0) (i32.const -16) (i32.const 16) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 3000))",
    );
    load_with(
        &host,
        "wasi-path",
        &prober(wasi_imports, Consts::default(), &[path_open]),
        &[],
        LimitRequests::default(),
    )
    .await;
    let statuses: Vec<i64> = probe(&host, "wasi-path").await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, [21], "EFAULT for a path outside memory, not a trap");
    let invalid = logged(&host, "wasi-path", |k| matches!(k, AuditKind::InvalidCall { call } if call == "path_open"));
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(info(&host, "wasi-path").faults, 0);
    assert_echo_answers(&host, "after the WASI probes").await;

    // A pointer outside memory is a broken ABI call, whichever import gets it.
    let invalid = logged(&host, "wasi-oob", |k| matches!(k, AuditKind::InvalidCall { .. }));
    assert_eq!(invalid.len(), 4, "no InvalidCall audit event for pointers outside memory given to WASI: {invalid:?}");
}

// ---- 6. bad text, long topics, large payloads -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_utf8_long_topics_and_large_payloads_are_refused_and_audited() {
    const MAX: usize = 4096;
    let host = host_with(Limits { max_message_size: MAX, ..Limits::default() });
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut c = Consts::default();
    let (bad, echo, ok, nil) = (c.at([0xffu8, 0xfe]), c.at("echo"), c.at("t.ok"), c.at([0xc0u8]));
    let (long, longest, unicode) = (c.at("a".repeat(257)), c.at("b".repeat(256)), c.at("température.ç"));
    // 5000 bytes of whatever the memory holds: the broker never decodes payloads.
    let big = "(i32.const 0) (i32.const 5000)";
    let utf8 = "is not UTF-8";
    let topic = "bad topic";
    let size = "payload of 5000 bytes exceeds the limit of 4096 bytes";
    let probes: Vec<(&str, i64, &str, String)> = vec![
        ("send", 13, utf8, status(&format!("(call $send {bad} {ok} {nil})"))),
        ("send", 13, utf8, status(&format!("(call $send {echo} {bad} {nil})"))),
        ("publish", 13, utf8, status(&format!("(call $publish {bad} {nil})"))),
        ("subscribe", 13, utf8, status(&format!("(call $subscribe {bad})"))),
        ("unsubscribe", 13, utf8, status(&format!("(call $unsubscribe {bad})"))),
        ("request", 13, utf8, status(&format!("(call $request {bad} {ok} {nil} (i32.const 0))"))),
        ("request", 13, utf8, status(&format!("(call $request {echo} {bad} {nil} (i32.const 0))"))),
        ("request_async", -13, utf8, format!("(call $request_async {bad} {ok} {nil} (i32.const 0))")),
        ("call", 13, utf8, status(&format!("(call $call {bad} {nil})"))),
        ("publish", 13, topic, status(&format!("(call $publish {long} {nil})"))),
        ("send", 13, topic, status(&format!("(call $send {echo} {long} {nil})"))),
        ("subscribe", 13, topic, status(&format!("(call $subscribe {long})"))),
        ("unsubscribe", 13, topic, status(&format!("(call $unsubscribe {long})"))),
        ("request", 13, topic, status(&format!("(call $request {echo} {long} {nil} (i32.const 0))"))),
        ("request_async", -13, topic, format!("(call $request_async {echo} {long} {nil} (i32.const 0))")),
        ("send", 14, size, status(&format!("(call $send {echo} {ok} {big})"))),
        ("publish", 14, size, status(&format!("(call $publish {ok} {big})"))),
        ("request", 14, size, status(&format!("(call $request {echo} {ok} {big} (i32.const 0))"))),
        ("request_async", -14, size, format!("(call $request_async {echo} {ok} {big} (i32.const 0))")),
        ("reply", 14, size, status(&format!("(call $reply (local.get $id) (i32.const 0) {big})"))),
        // What is allowed still is: 256 bytes, and any UTF-8.
        ("publish", 0, "", status(&format!("(call $publish {longest} {nil})"))),
        ("publish", 0, "", status(&format!("(call $publish {unicode} {nil})"))),
    ];
    let code: Vec<String> = probes.iter().map(|p| p.3.clone()).collect();
    load_wat(&host, "texts", &prober("", c, &code)).await;
    let mut audit = host.audit_events();

    let answers = probe(&host, "texts").await;
    assert_eq!(answers.len(), probes.len());
    for ((call, expected, phrase, _), (status, slot)) in probes.iter().zip(&answers) {
        assert_eq!(status, expected, "{call}: {slot}");
        assert!(slot.contains(phrase), "{call}: `{phrase}` not in {slot:?}");
    }
    // Broken text and bad topics are invalid calls; large payloads exceed a limit.
    let e = audited(&mut audit, "texts", is_invalid_call("send")).await;
    assert!(e.message.contains("address is not UTF-8"), "{e:?}");
    let invalid = logged(&host, "texts", |k| matches!(k, AuditKind::InvalidCall { .. }));
    assert_eq!(invalid.len(), 15, "{invalid:#?}");
    assert!(invalid.iter().any(|e| e.kind == AuditKind::InvalidCall { call: "call".into() }));
    let too_large = logged(&host, "texts", is_limit("max_message_size"));
    assert_eq!(too_large.len(), 5, "{too_large:#?}");
    assert!(too_large.iter().all(|e| e.message.contains(size)), "{too_large:#?}");
    let i = info(&host, "texts");
    assert_eq!((i.violations, i.faults), (20, 0), "{i:?}");

    // The host holds itself to the same rules.
    let err = host.request("echo", &"a".repeat(257), mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err}");
    let err = host.request("echo", "ping", vec![0xc4; MAX + 1]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("exceeds the limit of 4096 bytes"), "{err}");
    // None of it reached the echo, which answers as before.
    assert_echo_answers(&host, "after the bad calls").await;
    assert_eq!(info_after(&host, "echo", 3).await.handled, 3);
    let () = host.call("texts", "ping", &()).await.unwrap();
}

// ---- 10. forbidden imports ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_importing_a_forbidden_function_is_refused_before_it_runs() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let cases = [
        (r#"(import "env" "system" (func (param i32) (result i32)))"#, "env", "system"),
        (
            r#"(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))"#,
            "wasi_snapshot_preview1",
            "sock_accept",
        ),
        (
            r#"(import "wasi_snapshot_preview1" "sock_send" (func (param i32 i32 i32 i32 i32) (result i32)))"#,
            "wasi_snapshot_preview1",
            "sock_send",
        ),
        (r#"(import "wasp" "exec" (func (param i32 i32) (result i32)))"#, "wasp", "exec"),
    ];
    for (import, module, name) in cases {
        let err = host.load(Load::bytes(trapping_start_module(import)).named("importer")).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{import}: {err}");
        let text = err.to_string();
        assert!(text.contains(&format!("import `{module}::{name}` is not part of the wasp ABI")), "{text}");
        assert!(!text.contains("unreachable") && !text.contains("trapped"), "its start function ran: {text}");
        assert!(host.plugins().iter().all(|p| p.name != "importer"), "a refused plugin is registered");
        assert_echo_answers(&host, &format!("after refusing `{module}::{name}`")).await;
    }
    assert!(logged(&host, "importer", |k| matches!(k, AuditKind::Fault { .. })).is_empty(), "it ran");
    let refusals = logged(&host, "importer", |k| *k == AuditKind::LoadRefused { code: ErrorCode::InvalidArgument });
    assert_eq!(refusals.len(), cases.len(), "each refusal is audited: {refusals:?}");
    // The same module without the import is fine: it was the import.
    let err = host.load(Load::bytes(trapping_start_module("")).named("importer")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PluginCrashed, "only now does the start function run: {err}");
    assert_echo_answers(&host, "at the end").await;
}
