//! The corners of `docs/abi.md` where plugins written from the page alone
//! found the host and the page disagreeing: each test runs a WAT plugin
//! doing exactly what the page says, and checks the host does what the page
//! says back (lengths as `u32`, text for people read leniently, statuses
//! outside section 7, imports from a start function, a trapping
//! `wasp_dealloc`, a timer's `bin` payload, WASI's `EFAULT`s, and the
//! section 5 recipe for adding `wasp:abi` by hand).

use std::time::Duration;

use wasp_actors::{AuditKind, Host, Load, Manifest, ManifestKind};
use wasp_protocol::ErrorCode;

use crate::common::{
    Form, WAT_ALLOC, host, info, info_after, load, load_wat, mp, wat, wat_handle, wat_plugin, wat_plugin_v11,
};

const ABI_MD: &str = include_str!("../../../docs/abi.md");

/// Loads a WAT plugin granted exactly `permissions`.
async fn load_granted(host: &Host, name: &str, bytes: &[u8], permissions: &[&str]) {
    let mut m = Manifest::new(name).expect("valid name");
    m.kind = ManifestKind::Wasm;
    let m = m.permissions(permissions.iter().map(|p| p.parse().expect("valid permission")));
    host.load(Load::bytes(bytes).described_by(m)).await.unwrap_or_else(|e| panic!("load {name}: {e}"));
}

/// The audit events of `plugin` that are invalid calls to `call`.
fn invalid_calls(host: &Host, plugin: &str, call: &str) -> usize {
    host.audit_log()
        .into_iter()
        .filter(|e| e.plugin == plugin && matches!(&e.kind, AuditKind::InvalidCall { call: c } if c == call))
        .count()
}

/// `probe`: fills the result slot (a `send` to nobody), puts the sentinel
/// `0xaa` at 4096, then answers the `result_read` results for pairs that
/// do not fit memory (a length of `0x7fffffff`, of `-1`, one straddling
/// the end), pairs that do (the last 4 bytes, the empty pair at the very
/// end), and the byte at 4096 afterwards.
fn result_reader() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (drop (call $send (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 1) (i32.const 48) (i32.const 1)))
        (i32.store8 (i32.const 4096) (i32.const 0xaa))
        (call $put (i32.const 0) (i64.extend_i32_s (call $result_read (i32.const 4096) (i32.const 0x7fffffff))))
        (call $put (i32.const 1) (i64.extend_i32_s (call $result_read (i32.const 4096) (i32.const -1))))
        (call $put (i32.const 2) (i64.extend_i32_s (call $result_read (i32.const 131068) (i32.const 8))))
        (call $put (i32.const 3) (i64.extend_i32_s (call $result_read (i32.const 131068) (i32.const 4))))
        (call $put (i32.const 4) (i64.extend_i32_s (call $result_read (i32.const 131072) (i32.const 0))))
        (call $put (i32.const 5) (i64.extend_i32_u (i32.load8_u (i32.const 4096))))
        (drop (call $reply_ints (local.get $id) (i32.const 6)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "ghost")
        (data (i32.const 32) "t")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_read_checks_the_whole_pair_as_u32_and_copies_nothing_when_it_does_not_fit() {
    let host = host();
    load_wat(&host, "reader", &result_reader()).await;
    let answers: Vec<i64> = host.call("reader", "probe", &()).await.unwrap();
    assert_eq!(
        answers,
        [-13, -13, -13, 4, 0, 0xaa],
        "0x7fffffff and -1 (4 GiB - 1) do not fit 128 KiB, nor 8 bytes 4 from the end; \
         the last 4 bytes and the empty pair at the end do; nothing was copied to 4096"
    );
    assert_eq!(invalid_calls(&host, "reader", "result_read"), 3, "each pair outside memory is a violation");
    let i = info(&host, "reader");
    assert_eq!((i.violations, i.faults), (3, 0), "{i:?}");
}

/// A plugin whose `wasp_load` logs `bad \xff\xfe line` at error level and
/// returns `status`.
fn failing_load(status: i32) -> Vec<u8> {
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "bad \ff\fe line")
        (func (export "wasp_load") (result i32)
          (call $log (i32.const 4) (i32.const 16) (i32.const 11))
          (i32.const {status}))
        {WAT_ALLOC}
        {}"#,
        wat_handle("", "(i32.const 0)")
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_load_status_outside_section_7_fails_the_load_as_plugin_naming_the_status() {
    let host = host();
    let cases = [(77, ErrorCode::Plugin), (-3, ErrorCode::Plugin), (3, ErrorCode::PermissionDenied)];
    for (i, (status, code)) in cases.into_iter().enumerate() {
        let name = format!("load{i}");
        let mut m = Manifest::new(&name).expect("valid name");
        m.kind = ManifestKind::Wasm;
        let m = m.permissions(["log".parse().expect("valid permission")]);
        let err = host.load(Load::bytes(failing_load(status)).described_by(m)).await.unwrap_err();
        assert_eq!(err.code(), code, "status {status}: {err}");
        let text = err.to_string();
        // The error-level line is read leniently: U+FFFD for each bad byte.
        let expected = format!("wasp_load returned status {status}: bad \u{fffd}\u{fffd} line");
        assert!(text.contains(&expected), "status {status}: `{expected}` not in {text}");
        assert!(host.plugins().iter().all(|p| p.name != name), "a failed load is not registered");
    }
}

/// Requests: logs `no\xffgood` at level 2, then answers with error code
/// 1000 and that text.
fn lossy_replier() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (call $log (i32.const 2) (i32.const 16) (i32.const 7))
        (drop (call $reply (local.get $id) (i32.const 1000) (i32.const 16) (i32.const 7)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "no\ffgood")
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_log_and_reply_text_is_replaced_not_refused() {
    let host = host();
    load_wat(&host, "lossy", &lossy_replier()).await;
    let err = host.request("lossy", "x", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Plugin, "{err}");
    assert_eq!(err.message, "no\u{fffd}good");
    let i = info_after(&host, "lossy", 1).await;
    assert_eq!((i.violations, i.faults), (0, 0), "text for people is not a violation: {i:?}");
    assert_eq!(invalid_calls(&host, "lossy", "log") + invalid_calls(&host, "lossy", "reply"), 0);
}

/// A start function calling every kind of import, keeping what each
/// returned at 2048: `send`'s status, `result_len`, `result_read`,
/// `request_async` (an i64 at 2064); `log` and `panic` are called too.
/// `wasp_load` keeps `result_len` at 2072. Requests are answered with
/// `[send, result_len, result_read, request_async, result_len in
/// wasp_load]`.
fn start_caller() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (call $put (i32.const 0) (i64.extend_i32_s (i32.load (i32.const 2048))))
        (call $put (i32.const 1) (i64.extend_i32_s (i32.load (i32.const 2052))))
        (call $put (i32.const 2) (i64.extend_i32_s (i32.load (i32.const 2056))))
        (call $put (i32.const 3) (i64.load (i32.const 2064)))
        (call $put (i32.const 4) (i64.extend_i32_s (i32.load (i32.const 2072))))
        (drop (call $reply_ints (local.get $id) (i32.const 5)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "wat.start")
        (data (i32.const 32) "\c0")
        (data (i32.const 48) "started")
        (func $init
          (i32.store (i32.const 2048)
            (call $send (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 9) (i32.const 32) (i32.const 1)))
          (i32.store (i32.const 2052) (call $result_len))
          (i32.store (i32.const 2056) (call $result_read (i32.const 4096) (i32.const 16)))
          (i64.store (i32.const 2064)
            (call $request_async (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 9) (i32.const 32) (i32.const 1) (i32.const 0)))
          (call $log (i32.const 4) (i32.const 48) (i32.const 7))
          (call $panic (i32.const 48) (i32.const 7)))
        (start $init)
        (func (export "wasp_load") (result i32)
          (i32.store (i32.const 2072) (call $result_len))
          (i32.const 0))
        {WAT_ALLOC}
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_called_from_a_start_function_answer_as_documented() {
    let host = host();
    let mut events = host.subscribe("wat.*").unwrap();
    load_wat(&host, "starter", &start_caller()).await;
    let got: Vec<i64> = host.call("starter", "get", &()).await.unwrap();
    let [send, len, read, request_async, len_in_load] = got[..] else { panic!("five values: {got:?}") };
    assert_eq!(send, 1, "a status import returns 1 (internal)");
    let message = "host call before the plugin's memory was known (from a start function?)";
    assert_eq!(len, message.len() as i64, "result_len answers: the slot holds the failure's message");
    assert_eq!(read, -1, "result_read returns -internal");
    assert_eq!(request_async, -1, "request_async returns -internal");
    assert_eq!(len_in_load, len, "the slot keeps its message into wasp_load");
    assert!(events.try_recv().is_none(), "nothing the start function sent arrived");
    let i = info(&host, "starter");
    assert_eq!((i.violations, i.faults), (0, 0), "none of it is a violation: {i:?}");
}

/// [`WAT_ALLOC`]'s 64 KiB buffer, with a `wasp_dealloc` that traps.
fn trapping_dealloc() -> Vec<u8> {
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
          (if (result i32) (i32.le_u (local.get $len) (i32.const 65536))
            (then (i32.const 65536)) (else (i32.const 0))))
        (func $dealloc (export "wasp_dealloc") (param i32 i32) unreachable)
        {handle}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_wasp_dealloc_fails_only_its_message_and_the_fresh_instance_answers() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    load_wat(&host, "dropper", &trapping_dealloc()).await;
    let small = mp(&serde_bytes::ByteBuf::from(vec![1u8; 10]));
    let big = mp(&serde_bytes::ByteBuf::from(vec![2u8; 300]));
    assert_eq!(host.request("dropper", "x", small.clone()).await.unwrap(), small, "a 256-byte buffer");
    // 300 bytes need a bigger buffer: the old one is freed first, and that traps.
    let err = host.request("dropper", "x", big.clone()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("unreachable"), "the trap is named: {err}");
    // The fresh instance has no buffer to free: it allocates one, and answers.
    assert_eq!(host.request("dropper", "x", big.clone()).await.unwrap(), big);
    let i = info_after(&host, "dropper", 3).await;
    assert_eq!((i.faults, i.restarts), (1, 1), "{i:?}");
    assert_eq!(host.request("echo", "ping", mp(&"bystander")).await.unwrap(), mp(&"bystander"));
}

/// An ABI 1.1 plugin: a request `arm` sets a 1 ms timeout whose `call`
/// payload is the request's payload; a timer event (from `host`) is sent
/// on to `host` under the event's own topic, with the event's payload.
fn timer_plugin() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.eqz (local.get $kind))
          (then
            (call $put (i32.const 0) (i64.extend_i32_s
              (call $call (i32.const 16) (i32.const 17) (global.get $payload) (global.get $payload_len))))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (if (call $from_is (i32.const 0) (i32.const 4))
          (then (drop (call $send (i32.const 0) (i32.const 4)
                  (global.get $topic) (global.get $topic_len) (global.get $payload) (global.get $payload_len)))))
        (i32.const 0)"#,
    );
    wat_plugin_v11(
        "",
        &format!(
            r#"
            (data (i32.const 16) "timer.set_timeout")
            {WAT_ALLOC}
            {handle}"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timers_bin_payload_arrives_as_its_contents() {
    #[derive(serde::Serialize)]
    struct Set<'a> {
        ms: u64,
        topic: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<&'a serde_bytes::Bytes>,
    }
    let host = host();
    load_granted(&host, "ticker", &timer_plugin(), &["timers", "send:host"]).await;
    let mut events = host.subscribe("wat.*").unwrap();
    let contents = [0x93u8, 1, 2, 3];
    for (topic, payload, expected) in
        [("wat.with", Some(serde_bytes::Bytes::new(&contents)), &contents[..]), ("wat.without", None, &[0xc0][..])]
    {
        let set = mp(&Set { ms: 1, topic, payload });
        let status = host.request("ticker", "arm", set).await.unwrap();
        let status: Vec<i64> = wasp_protocol::codec::from_payload(&status).unwrap();
        assert_eq!(status, [0], "timer.set_timeout");
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("a tick").expect("alive");
        assert_eq!((ev.from.as_str(), ev.topic.as_str()), ("ticker", topic));
        assert_eq!(ev.payload, expected, "{topic}: the bin's contents, not the bin");
    }
    let tick: Vec<i32> = wasp_protocol::codec::from_payload(&contents).unwrap();
    assert_eq!(tick, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_clock_and_random_answer_efault_and_einval_as_section_11_says() {
    let imports = r#"
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))"#;
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (call $put (i32.const 0) (i64.extend_i32_s (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 131068))))
        (call $put (i32.const 1) (i64.extend_i32_s (call $random_get (i32.const 131070) (i32.const 4))))
        (call $put (i32.const 2) (i64.extend_i32_s (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 4097))))
        (call $put (i32.const 3) (i64.extend_i32_s (call $random_get (i32.const 0) (i32.const 0x100001))))
        (call $put (i32.const 4) (i64.extend_i32_s (call $random_get (i32.const 4099) (i32.const 7))))
        (drop (call $reply_ints (local.get $id) (i32.const 5)))
        (i32.const 0)"#,
    );
    let bytes = wat_plugin_v11(imports, &format!("{WAT_ALLOC} {handle}"));
    let host = host();
    load_granted(&host, "wasi", &bytes, &["clock", "random"]).await;
    let got: Vec<i64> = host.call("wasi", "probe", &()).await.unwrap();
    assert_eq!(got, [21, 21, 0, 28, 0], "EFAULT outside memory, no alignment needed, EINVAL past 1 MiB");
    assert_eq!(invalid_calls(&host, "wasi", "clock_time_get") + invalid_calls(&host, "wasi", "random_get"), 2);
    let i = info(&host, "wasi");
    assert_eq!((i.violations, i.faults), (2, 0), "{i:?}");
}

/// The bytes of the `printf '…'` in section 5 that appends `wasp:abi`.
fn doc_section_bytes() -> Vec<u8> {
    let section = ABI_MD.split("\n## 5.").nth(1).expect("docs/abi.md has a section 5");
    let start = section.find("`printf '").expect("section 5 shows the printf") + "`printf '".len();
    let end = start + section[start..].find('\'').expect("the printf's text is closed");
    let text = &section.as_bytes()[start..end];
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            let digits = std::str::from_utf8(&text[i + 1..i + 4]).expect("three octal digits");
            out.push(u8::from_str_radix(digits, 8).expect("octal"));
            i += 4;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_recipe_for_an_assembler_without_custom_sections_gives_a_loadable_plugin() {
    let section = ABI_MD.split("\n## 5.").nth(1).expect("section 5");
    let start = section.find("```wat\n").expect("a ```wat block") + "```wat\n".len();
    let echo = &section[start..start + section[start..].find("```").expect("closed")];
    // What an assembler without `@custom` gets: the example without it.
    let annotation = r#"(@custom "wasp:abi" "1.0")"#;
    assert!(echo.contains(annotation), "{echo}");
    let mut bytes = wat(&echo.replace(annotation, ""));
    let host = host();
    let err = host.load(Load::bytes(&bytes).named("bare")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "no wasp:abi section: {err}");
    bytes.extend_from_slice(&doc_section_bytes());
    let r = host.load(Load::bytes(&bytes).named("stamped")).await.unwrap();
    assert_eq!(r.abi_version(), Some(wasp_protocol::ApiVersion::new(1, 0)));
    assert_eq!(host.request("stamped", "ping", mp(&"hi")).await.unwrap(), mp(&"hi"));
}
