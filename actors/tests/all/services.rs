//! Host services end to end: key-value storage, timers, clock, random,
//! configuration, outbound HTTP (through `notes`, in both forms) and files
//! through WASI (through `journal`, a `wasm32-wasip1` module), each behind
//! its permission, against real data directories.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wasp_actors::{
    AuditKind, Event, Host, HostBuilder, LimitRequests, Load, Manifest, Permission, PluginRef, Policy, Subscription,
};
use wasp_example_notes::{NewNote, Note, Notes, REMINDER, Remind};
use wasp_protocol::services::{ClockNow, HttpResponse, KvUsage};
use wasp_protocol::{ErrorCode, WireError};

use crate::common::{FORMS, Form, audit_where, is_denial};

mod files;

fn perm(s: &str) -> Permission {
    s.parse().expect("valid permission")
}

fn builder(policy: Policy) -> HostBuilder {
    Host::builder().request_timeout(Duration::from_secs(10)).policy(policy)
}

fn trusting() -> Policy {
    Policy::new().trust("*").expect("valid rule")
}

/// A host that grants what manifests request and keeps its data in `dir`.
fn data_host(dir: &Path) -> Host {
    builder(trusting()).data_dir(dir).build().expect("host builds")
}

fn notes_manifest() -> Manifest {
    Manifest::from_file(&wasp_fixtures::manifest_path("notes")).expect("notes manifest parses")
}

/// Loads `notes` as it ships: the WASM form from its bundle folder.
async fn load_notes(host: &Host, form: Form) -> PluginRef {
    match form {
        Form::Wasm => host.load(wasp_fixtures::wasm_bundle("notes")).await,
        Form::Native => host.load(wasp_fixtures::native_bundle("notes")).await,
        Form::InProcess => host.load(Load::in_process(Notes::default).described_by(notes_manifest())).await,
    }
    .unwrap_or_else(|e| panic!("load notes ({form:?}): {e}"))
}

/// Loads `notes` described by `manifest` instead of its own.
async fn load_notes_with(host: &Host, form: Form, manifest: Manifest) -> PluginRef {
    match form {
        Form::Wasm => host.load(Load::bytes(wasp_fixtures::wasm_bytes("notes")).described_by(manifest)).await,
        Form::Native => {
            let mut manifest = manifest;
            manifest.kind = wasp_actors::ManifestKind::Native;
            host.load(
                Load::bytes(std::fs::read(wasp_fixtures::native_library("notes")).unwrap()).described_by(manifest),
            )
            .await
        }
        Form::InProcess => host.load(Load::in_process(Notes::default).described_by(manifest)).await,
    }
    .unwrap_or_else(|e| panic!("load notes ({form:?}): {e}"))
}

async fn add(host: &Host, text: &str) -> String {
    host.call("notes", "add", &NewNote { text: text.into() }).await.expect("add")
}

async fn add_err(host: &Host, text: &str) -> WireError {
    host.call::<_, String>("notes", "add", &NewNote { text: text.into() }).await.expect_err("add fails")
}

async fn remind(host: &Host, topic: &str, id: &str, after_ms: u64) -> Result<u64, WireError> {
    host.call("notes", topic, &Remind { id: id.into(), after_ms }).await
}

async fn next_event(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("an event within 5 s")
        .expect("the host is alive")
}

/// Fails if an event arrives within `window`.
async fn assert_quiet(sub: &mut Subscription, window: Duration) {
    if let Ok(Some(event)) = tokio::time::timeout(window, sub.recv()).await {
        panic!("no event expected, got {event:?}");
    }
}

/// Waits until `notes` has handled every message queued before now (a
/// request is answered after them), then drops the events they published.
async fn settle(host: &Host, sub: &mut Subscription) {
    let _: String = host.call("notes", "greeting", &()).await.expect("greeting");
    while sub.try_recv().is_some() {}
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970")
}

// ---- storage ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_kept_listed_and_deleted_in_storage() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let empty: KvUsage = host.call("notes", "usage", &()).await.unwrap();
        assert_eq!(empty, KvUsage { used: 0, quota: 256 * 1024 }, "{form:?}: the manifest's storage_quota");

        let a = add(&host, "buy milk").await;
        let b = add(&host, "call mum").await;
        let note: Note = host.call("notes", "get", &a).await.unwrap();
        assert_eq!((note.id.as_str(), note.text.as_str()), (a.as_str(), "buy milk"), "{form:?}");
        let mut ids = vec![a.clone(), b.clone()];
        ids.sort();
        let listed: Vec<Note> = host.call("notes", "list", &()).await.unwrap();
        assert_eq!(listed.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), ids, "{form:?}: sorted by id");
        let full: KvUsage = host.call("notes", "usage", &()).await.unwrap();
        assert!(full.used > 2 * "buy milk".len() as u64, "{form:?}: {full:?}");

        assert!(host.call::<_, bool>("notes", "delete", &a).await.unwrap(), "{form:?}: it existed");
        assert!(!host.call::<_, bool>("notes", "delete", &a).await.unwrap(), "{form:?}: gone");
        let err = host.call::<_, Note>("notes", "get", &a).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound, "{form:?}: {err}");
        let listed: Vec<Note> = host.call("notes", "list", &()).await.unwrap();
        assert_eq!(listed.len(), 1, "{form:?}");
        assert_eq!(listed[0].id, b, "{form:?}");
        let after: KvUsage = host.call("notes", "usage", &()).await.unwrap();
        assert!(after.used < full.used && after.used > 0, "{form:?}: {after:?} after {full:?}");
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_quota_is_enforced() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        let limits = LimitRequests { storage_quota: Some(1024), ..notes_manifest().limits };
        load_notes_with(&host, form, notes_manifest().limits(limits)).await;
        let first = add(&host, &"x".repeat(600)).await;
        let err = add_err(&host, &"y".repeat(600)).await;
        assert_eq!(err.code, ErrorCode::TooLarge, "{form:?}: {err}");
        assert!(err.message.contains("quota of 1024 bytes"), "{form:?}: {err}");
        let usage: KvUsage = host.call("notes", "usage", &()).await.unwrap();
        assert!(usage.used <= 1024 && usage.quota == 1024, "{form:?}: {usage:?}");
        let listed: Vec<Note> = host.call("notes", "list", &()).await.unwrap();
        assert_eq!(listed.len(), 1, "{form:?}: the refused write changed nothing");
        // Deleting makes room again.
        assert!(host.call::<_, bool>("notes", "delete", &first).await.unwrap());
        add(&host, &"y".repeat(600)).await;
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_survive_a_host_restart() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let before: Vec<Note> = {
            let host = data_host(dir.path());
            load_notes(&host, form).await;
            add(&host, "first").await;
            add(&host, "second").await;
            let listed = host.call("notes", "list", &()).await.unwrap();
            host.shutdown().await;
            listed
        };
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let after: Vec<Note> = host.call("notes", "list", &()).await.unwrap();
        assert_eq!(after, before, "{form:?}");
        let mut texts: Vec<&str> = after.iter().map(|n| n.text.as_str()).collect();
        texts.sort_unstable();
        assert_eq!(texts, ["first", "second"], "{form:?}");
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_data_dir_storage_is_unavailable_and_says_why() {
    for form in FORMS {
        let host = builder(trusting()).build().unwrap();
        load_notes(&host, form).await;
        let err = host.call::<_, KvUsage>("notes", "usage", &()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable, "{form:?}: {err}");
        assert!(err.message.contains("kv.usage") && err.message.contains("without a data directory"), "{err}");
        let err = add_err(&host, "lost").await;
        assert_eq!(err.code, ErrorCode::Unavailable, "{form:?}: {err}");
        assert!(err.message.contains("without a data directory"), "{form:?}: {err}");
    }
}

// ---- configuration ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_comes_from_the_manifest_and_the_host_overrides_it() {
    for form in FORMS {
        let host = builder(trusting()).build().unwrap();
        load_notes(&host, form).await;
        let greeting: String = host.call("notes", "greeting", &()).await.unwrap();
        assert_eq!(greeting, "hello from notes", "{form:?}: from [config]");
        let max: Option<u64> = host.call("notes", "config", "max_notes").await.unwrap();
        assert_eq!(max, Some(100), "{form:?}");
        let missing: Option<String> = host.call("notes", "config", "no_such_key").await.unwrap();
        assert_eq!(missing, None, "{form:?}");

        let host = builder(trusting()).config("notes", "greeting", "hi there").unwrap().build().unwrap();
        load_notes(&host, form).await;
        let greeting: String = host.call("notes", "greeting", &()).await.unwrap();
        assert_eq!(greeting, "hi there", "{form:?}: the host's value wins");
        let max: Option<u64> = host.call("notes", "config", "max_notes").await.unwrap();
        assert_eq!(max, Some(100), "{form:?}: other keys stay");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_notes_from_the_host_caps_the_store() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = builder(trusting()).data_dir(dir.path()).config("notes", "max_notes", &2).unwrap().build().unwrap();
        load_notes(&host, form).await;
        add(&host, "one").await;
        add(&host, "two").await;
        let err = add_err(&host, "three").await;
        assert_eq!(err.code, ErrorCode::Plugin, "{form:?}: {err}");
        assert!(err.message.contains("max_notes is 2"), "{form:?}: {err}");
        host.shutdown().await;
    }
}

// ---- timers -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_publishes_one_reminder_after_its_delay() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let mut reminders = host.subscribe(REMINDER).unwrap();
        let id = add(&host, "stand up").await;
        let set = Instant::now();
        remind(&host, "remind", &id, 50).await.unwrap();
        let event = next_event(&mut reminders).await;
        assert!(set.elapsed() >= Duration::from_millis(50), "{form:?}: fired after {:?}", set.elapsed());
        assert_eq!(event.from, "notes");
        let note: Note = event.decode().unwrap();
        assert_eq!((note.id.as_str(), note.text.as_str()), (id.as_str(), "stand up"), "{form:?}");
        assert_quiet(&mut reminders, Duration::from_millis(200)).await;

        let err = remind(&host, "remind", "0000000000000000", 10).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound, "{form:?}: {err}");
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_repeats_until_cancelled() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let mut reminders = host.subscribe(REMINDER).unwrap();
        let id = add(&host, "drink water").await;
        let timer = remind(&host, "remind_every", &id, 20).await.unwrap();
        for _ in 0..3 {
            let note: Note = next_event(&mut reminders).await.decode().unwrap();
            assert_eq!(note.id, id, "{form:?}");
        }
        assert!(host.call::<_, bool>("notes", "cancel", &timer).await.unwrap(), "{form:?}: it was active");
        assert!(!host.call::<_, bool>("notes", "cancel", &timer).await.unwrap(), "{form:?}: already stopped");
        settle(&host, &mut reminders).await;
        assert_quiet(&mut reminders, Duration::from_millis(200)).await;
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_beyond_the_limit_are_busy() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let mut audit = host.audit_events();
        let id = add(&host, "later").await;
        let mut timers = Vec::new();
        for _ in 0..8 {
            timers.push(remind(&host, "remind", &id, 60_000).await.unwrap());
        }
        let err = remind(&host, "remind", &id, 60_000).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Busy, "{form:?}: {err}");
        assert!(err.message.contains("its limit is 8"), "{form:?}: {err}");
        let event = audit_where(&mut audit, |e| {
            e.plugin == "notes" && e.kind == AuditKind::LimitExceeded { limit: "max_timers".into() }
        })
        .await;
        assert!(event.message.contains("limit is 8"), "{event:?}");
        // A cancelled timer frees its place.
        assert!(host.call::<_, bool>("notes", "cancel", &timers[0]).await.unwrap());
        remind(&host, "remind", &id, 60_000).await.unwrap();
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_timers_stops_an_active_interval() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let mut reminders = host.subscribe(REMINDER).unwrap();
        let mut audit = host.audit_events();
        let id = add(&host, "stretch").await;
        remind(&host, "remind_every", &id, 20).await.unwrap();
        next_event(&mut reminders).await;
        host.revoke("notes", "timers").await.unwrap();
        let event = audit_where(&mut audit, is_denial("notes", "timers")).await;
        assert!(event.message.contains("stopped") && event.message.contains("`timers` was revoked"), "{event:?}");
        settle(&host, &mut reminders).await;
        assert_quiet(&mut reminders, Duration::from_millis(200)).await;
        let err = remind(&host, "remind", &id, 10).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied, "{form:?}: {err}");
        assert!(err.message.contains("lacks the permission `timers`"), "{form:?}: {err}");
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unloading_a_plugin_stops_its_timers() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let mut reminders = host.subscribe(REMINDER).unwrap();
        let id = add(&host, "water the plants").await;
        remind(&host, "remind_every", &id, 20).await.unwrap();
        next_event(&mut reminders).await;
        host.unload("notes").await.unwrap();
        while reminders.try_recv().is_some() {}
        assert_quiet(&mut reminders, Duration::from_millis(200)).await;
        // Loaded again, with its note still stored: the old timer does not
        // reach the new instance either.
        load_notes(&host, form).await;
        let note: Note = host.call("notes", "get", &id).await.unwrap();
        assert_eq!(note.text, "water the plants");
        assert_quiet(&mut reminders, Duration::from_millis(200)).await;
        host.shutdown().await;
    }
}

// ---- clock and random ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_reads_the_hosts_time() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let first: ClockNow = host.call("notes", "now", &()).await.unwrap();
        let second: ClockNow = host.call("notes", "now", &()).await.unwrap();
        let host_now = unix_now().as_nanos() as i128;
        let skew = (host_now - i128::from(first.unix_nanos)).abs();
        assert!(skew < 5_000_000_000, "{form:?}: plugin clock {first:?} is {skew} ns off the host's");
        assert!(second.monotonic_nanos > first.monotonic_nanos, "{form:?}: {first:?} then {second:?}");
        assert!(second.unix_nanos >= first.unix_nanos, "{form:?}");

        let id = add(&host, "timestamped").await;
        let note: Note = host.call("notes", "get", &id).await.unwrap();
        let skew = (unix_now().as_millis() as i128 - i128::from(note.created_ms)).abs();
        assert!(skew < 5_000, "{form:?}: note stamped {} ms, {skew} ms off", note.created_ms);
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_have_the_length_asked_and_differ() {
    for form in FORMS {
        let dir = tempfile::tempdir().unwrap();
        let host = data_host(dir.path());
        load_notes(&host, form).await;
        let random = |len: u32| {
            let host = host.clone();
            async move { host.call::<_, serde_bytes::ByteBuf>("notes", "random", &len).await }
        };
        let a = random(32).await.unwrap();
        let b = random(32).await.unwrap();
        assert_eq!((a.len(), b.len()), (32, 32), "{form:?}");
        assert_ne!(a, b, "{form:?}");
        assert!(random(0).await.unwrap().is_empty(), "{form:?}");
        assert_eq!(random(65_536).await.unwrap().len(), 65_536, "{form:?}: the most one call gives");
        let err = random(65_537).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{form:?}: {err}");

        // Note ids are 8 random bytes in hex.
        let (x, y) = (add(&host, "x").await, add(&host, "y").await);
        assert_ne!(x, y);
        for id in [x, y] {
            assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{form:?}: id `{id}`");
        }
        host.shutdown().await;
    }
}

// ---- permissions --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_is_denied_without_its_permission() {
    for permission in ["storage", "timers", "clock", "random", "config"] {
        for form in FORMS {
            let dir = tempfile::tempdir().unwrap();
            let policy = trusting().deny("notes", permission).unwrap();
            let host = builder(policy).data_dir(dir.path()).build().unwrap();
            let loaded = load_notes(&host, form).await;
            assert_eq!(loaded.refused(), [perm(permission)], "{form:?}");
            let mut audit = host.audit_events();
            let err = match permission {
                "storage" => host.call::<_, KvUsage>("notes", "usage", &()).await.unwrap_err(),
                "timers" => {
                    let id = add(&host, "no timers").await;
                    remind(&host, "remind", &id, 10).await.unwrap_err()
                }
                "clock" => host.call::<_, ClockNow>("notes", "now", &()).await.unwrap_err(),
                "random" => host.call::<_, serde_bytes::ByteBuf>("notes", "random", &8).await.unwrap_err(),
                _ => host.call::<_, String>("notes", "greeting", &()).await.unwrap_err(),
            };
            assert_eq!(err.code, ErrorCode::PermissionDenied, "{permission} {form:?}: {err}");
            let expected = format!("plugin `notes` lacks the permission `{permission}`");
            assert!(err.message.contains(&expected), "{permission} {form:?}: {err}");
            audit_where(&mut audit, is_denial("notes", permission)).await;
            // Adding a note needs each of them but `timers`.
            if permission != "timers" {
                let err = add_err(&host, "needs all").await;
                assert_eq!(err.code, ErrorCode::PermissionDenied, "{permission} {form:?}: {err}");
                assert!(err.message.contains(&format!("`{permission}`")), "{permission} {form:?}: {err}");
            }
            host.shutdown().await;
        }
    }
}

// ---- HTTP ---------------------------------------------------------------

/// A loopback HTTP/1.1 server answering every request `200 hello from
/// <path>` and recording request lines.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                    record.lock().unwrap().push(line);
                    let body = format!("hello from {path}");
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { port, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_reaches_a_granted_host() {
    for form in FORMS {
        let server = Server::start().await;
        let host = builder(trusting()).build().unwrap();
        load_notes_with(&host, form, notes_manifest().permission(perm("net:127.0.0.1"))).await;
        let response: HttpResponse = host.call("notes", "http", &server.url("/feed")).await.unwrap();
        assert_eq!(response.status, 200, "{form:?}");
        assert_eq!(response.body, b"hello from /feed", "{form:?}");
        assert!(response.headers.iter().any(|(n, v)| n == "content-type" && v == "text/plain"), "{response:?}");
        assert_eq!(server.seen(), ["GET /feed HTTP/1.1"], "{form:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_without_net_is_denied_and_sends_nothing() {
    for form in FORMS {
        let server = Server::start().await;
        let host = builder(trusting()).build().unwrap();
        load_notes(&host, form).await;
        let mut audit = host.audit_events();
        let err = host.call::<_, HttpResponse>("notes", "http", &server.url("/secret")).await.unwrap_err();
        let needed = format!("net:127.0.0.1:{}", server.port);
        assert_eq!(err.code, ErrorCode::PermissionDenied, "{form:?}: {err}");
        assert!(err.message.contains(&format!("lacks the permission `{needed}`")), "{form:?}: {err}");
        let event = audit_where(&mut audit, is_denial("notes", &needed)).await;
        assert!(event.message.contains(&needed), "{event:?}");
        // The answer came after the check: a request sent would already be seen.
        assert!(server.seen().is_empty(), "{form:?}: {:?}", server.seen());
    }
}
