//! Hoarding: making the host keep what a plugin sends — huge names in the
//! audit log, messages bigger than their recipient takes, huge error replies.

use wasp_actors::{AuditEvent, AuditKind, LimitRequests, Limits, Load, PluginState};
use wasp_protocol::ErrorCode;
use wasp_sdk::prelude::*;

use super::plugins::{BIG_AT, Burst, long_winded, pusher, stores, taker};
use super::probe::{Consts, probe, prober, status};
use super::{assert_echo_answers, audited, host_with, is_limit, load_with, logged};
use crate::common::{Form, info, load, mp};

/// The longest message an audit event keeps, in bytes.
const AUDIT_MESSAGE: usize = 1024;
/// The longest name, limit, call or permission target it keeps, in bytes.
const AUDIT_FIELD: usize = 256;
/// The longest error message a plugin's answer keeps, in bytes.
const ERROR_TEXT: usize = 64 << 10;

/// The text an audit event holds besides its fixed fields.
fn strings(e: &AuditEvent) -> Vec<String> {
    let kind = match &e.kind {
        AuditKind::PermissionDenied { permission } => permission.to_string(),
        AuditKind::LimitExceeded { limit } => limit.clone(),
        AuditKind::InvalidCall { call } => call.clone(),
        AuditKind::Quarantined { reason } => reason.clone(),
        _ => String::new(),
    };
    vec![e.plugin.clone(), kind]
}

// ---- 12. a huge name in the audit log ------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_addresses_and_paths_are_refused_before_the_permission_check_and_audited_small() {
    const BIG: usize = 1 << 20;
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut c = Consts::default();
    let (topic, nil, resolve) = (c.at("t"), c.at([0xc0u8]), c.at("fs.resolve"));
    // A 1 MiB address of `a`s at BIG_AT; after it, the MessagePack of
    // `{ path: "/aaa…" (1 MiB), write: false }` for `fs.resolve`.
    let name = BIG_AT;
    let doc = BIG_AT + BIG;
    let mut head = vec![0x82, 0xa4, b'p', b'a', b't', b'h', 0xdb];
    head.extend_from_slice(&u32::try_from(BIG).unwrap().to_be_bytes());
    let tail = [0xa5, b'w', b'r', b'i', b't', b'e', 0xc2];
    let doc_len = head.len() + BIG + tail.len();
    let setup = format!(
        "(drop (memory.grow (i32.const {pages}))) \
         (memory.fill (i32.const {name}) (i32.const 97) (i32.const {BIG})) \
         (memory.fill (i32.const {path}) (i32.const 97) (i32.const {BIG})) {} (i32.store8 (i32.const {path}) (i32.const 47)) {}",
        stores(doc, &head),
        stores(doc + head.len() + BIG, &tail),
        pages = (doc + doc_len).div_ceil(65_536),
        path = doc + head.len(),
    );
    let huge = format!("(i32.const {name}) (i32.const {BIG})");
    let probes = [
        format!("(block (result i64) {setup} {})", status(&format!("(call $send {huge} {topic} {nil})"))),
        status(&format!("(call $request {huge} {topic} {nil} (i32.const 0))")),
        format!("(call $request_async {huge} {topic} {nil} (i32.const 0))"),
        status(&format!("(call $call {resolve} (i32.const {doc}) (i32.const {doc_len}))")),
        // WASI: a 1 MiB path (no directory is preopened: fd 3 is none).
        status(&format!(
            "(call $path_open (i32.const 3) (i32.const 0) {huge} (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 3000))"
        )),
    ];
    let imports = r#"
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    load_with(&host, "hoarder", &prober(imports, c, &probes), &["send:echo"], LimitRequests::default()).await;

    let answers = probe(&host, "hoarder").await;
    let statuses: Vec<i64> = answers.iter().map(|a| a.0).collect();
    // invalid_argument (13), before any permission is looked at; WASI's
    // ENAMETOOLONG (37) for the path.
    assert_eq!(statuses, [13, 13, -13, 13, 37], "{answers:?}");
    assert!(answers[0].1.contains("address"), "{:?}", answers[0].1);
    // Each refusal is audited, small: no event holds the name it refused.
    let events = logged(&host, "hoarder", |_| true);
    assert!(events.len() >= 5, "{events:?}");
    for e in &events {
        assert!(e.message.len() <= AUDIT_MESSAGE, "an audit message of {} bytes", e.message.len());
        assert!(strings(e).iter().all(|s| s.len() <= AUDIT_FIELD), "an audit field of {:?} bytes", strings(e));
    }
    // The host's API, which pages reach, checks an address alike.
    let name = "a".repeat(BIG);
    assert_eq!(host.send(&name, "t", mp(&())).unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(host.send_as("hoarder", &name, "t", mp(&())).unwrap_err().code, ErrorCode::InvalidArgument);
    let err = host.request_as("hoarder", &name, "t", mp(&()), None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(logged(&host, "hoarder", |k| matches!(k, AuditKind::PermissionDenied { .. })).is_empty(), "{events:?}");
    assert_eq!(info(&host, "hoarder").denied, 0);
    assert_echo_answers(&host, "after the hoarder").await;
}

// ---- 13. more than the recipient takes -------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_recipients_limit_is_refused_to_its_sender_and_never_charged_to_the_recipient() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    // The victim takes messages of 640 KiB at most, in 1 MiB of memory.
    let small = LimitRequests { message_size: Some(640 << 10), memory: Some(1 << 20), ..LimitRequests::default() };
    load_with(&host, "taker", &taker(), &[], small).await;
    let bursts = [
        Burst { topic: "big", to: "taker", len: 2 << 20, count: 5 },
        Burst { topic: "fits", to: "taker", len: 600 << 10, count: 1 },
    ];
    load_with(&host, "pusher", &pusher(&bursts), &["send:taker"], LimitRequests::default()).await;
    let mut audit = host.audit_events();

    // Five 2 MiB messages: over the taker's own limit, refused when queued,
    // to the sender, and audited against the sender.
    let counts: Vec<i64> = host.call("pusher", "big", &()).await.unwrap();
    assert_eq!(counts, [0, 5, 0, 0], "accepted, too_large, busy, other");
    let e = audited(&mut audit, "pusher", is_limit("max_message_size")).await;
    assert!(e.message.contains("`taker`") && e.message.contains("655360"), "{e:?}");
    // The host is refused alike.
    let err = host.send("taker", "note", vec![0xc0; 2 << 20]).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    let err = host.request("taker", "ping", vec![0xc0; 2 << 20]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");

    // 600 KiB is within its limit, but its memory cannot make room: the
    // host could not hand the message over, which is not the taker's fault.
    let counts: Vec<i64> = host.call("pusher", "fits", &()).await.unwrap();
    assert_eq!(counts, [1, 0, 0, 0]);
    let err = host.request("taker", "ping", vec![0xc0; 600 << 10]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("could not make room"), "{err}");

    // The taker answers, counted no event it never got, and was charged nothing.
    let counted: Vec<i64> = host.call("taker", "count", &()).await.unwrap();
    assert_eq!(counted, [0]);
    let t = info(&host, "taker");
    assert_eq!((t.faults, t.violations, t.restarts, t.state), (0, 0, 0, PluginState::Running), "{t:?}");
    let charged = logged(&host, "taker", |k| {
        matches!(k, AuditKind::Fault { .. } | AuditKind::LimitExceeded { .. } | AuditKind::Quarantined { .. })
    });
    assert!(charged.is_empty(), "{charged:?}");
    assert_eq!(logged(&host, "pusher", is_limit("max_message_size")).len(), 5);
    assert_echo_answers(&host, "after the pushing").await;
}

// ---- 14. an error reply bigger than any message ---------------------------

/// Answers `reply` with a reply_error of `len` bytes, `fail` by returning
/// such an error, and `panic` by panicking with such a message.
struct Verbose {
    len: usize,
}

impl Plugin for Verbose {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        let long = "e".repeat(self.len);
        match msg.topic {
            "reply" => {
                ctx.reply_error(msg.id, &WireError::plugin(long))?;
                Ok(Reply::deferred())
            }
            "panic" => panic!("{}", &long[..2 << 20]),
            _ => Err(WireError::plugin(long).with_context("c".repeat(self.len))),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_are_bounded_in_every_form() {
    const LONG: usize = 8 << 20;
    let host = host_with(Limits { max_message_size: 1 << 20, ..Limits::default() });
    load_with(&host, "verbose-wasm", &long_winded(LONG), &[], LimitRequests::default()).await;
    host.load(Load::in_process(|| Verbose { len: LONG }).named("verbose")).await.unwrap();
    let mut errors = vec![host.request("verbose-wasm", "any", mp(&())).await.unwrap_err()];
    for topic in ["reply", "fail", "panic"] {
        errors.push(host.request("verbose", topic, mp(&())).await.unwrap_err());
    }
    for err in &errors {
        assert!(err.message.len() <= ERROR_TEXT, "an error message of {} bytes ({:?})", err.message.len(), err.code);
        assert!(
            err.context.as_ref().is_none_or(|c| c.len() <= ERROR_TEXT),
            "{:?}",
            err.context.as_ref().map(String::len)
        );
        assert!(err.message.contains("bytes cut"), "{}", &err.message[err.message.len().saturating_sub(80)..]);
    }
    assert_eq!(errors[0].code, ErrorCode::Plugin);
    assert_eq!(errors[3].code, ErrorCode::PluginCrashed);
    // The plugin's quarantine reason and audit events are bounded too.
    for name in ["verbose", "verbose-wasm"] {
        let events = logged(&host, name, |_| true);
        assert!(
            events.iter().all(|e| e.message.len() <= AUDIT_MESSAGE),
            "{:?}",
            events.iter().map(|e| e.message.len())
        );
    }
}

#[cfg(feature = "components")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_with_no_room_for_a_message_is_replaced_without_being_charged() {
    let host = host_with(Limits::default());
    let m = crate::common::manifest("echo", "roomless")
        .limits(LimitRequests { memory: Some(4 << 20), ..LimitRequests::default() });
    host.load(Load::bytes(wasp_fixtures::component_bytes("echo")).described_by(m)).await.unwrap();
    let small = mp(&"hi");
    assert_eq!(host.request("roomless", "ping", small.clone()).await.unwrap(), small);
    // 6 MiB is within its message-size limit, not within its 4 MiB of
    // memory: the canonical ABI's `cabi_realloc` traps making room.
    let big = mp(&serde_bytes::ByteBuf::from(vec![1u8; 6 << 20]));
    let err = host.request("roomless", "ping", big).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("could not make room"), "{err}");
    // A fresh instance answers; the plugin was charged nothing.
    assert_eq!(host.request("roomless", "ping", small.clone()).await.unwrap(), small);
    let i = info(&host, "roomless");
    assert_eq!((i.faults, i.violations, i.state), (0, 0, PluginState::Running), "{i:?}");
    let charged = logged(&host, "roomless", |k| {
        matches!(k, AuditKind::Fault { .. } | AuditKind::LimitExceeded { .. } | AuditKind::Quarantined { .. })
    });
    assert!(charged.is_empty(), "{charged:?}");
}
