//! Hot reload: the old instance hands its state to the new one (ABI 1.2's
//! `unload` and `restore`), nothing in flight is lost, watched files reload
//! by themselves, and a failed reload leaves the old code running.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasp_actors::{AuditEvent, AuditKind, Error, Host, Load, Policy};
use wasp_protocol::{ErrorCode, codec};

use crate::common::{
    FORMS, Form, WAT_ALLOC, audit_where, bundle_copy, host, load, load_wat, native_bundle_copy, wat_handle, wat_plugin,
    wat_plugin_v12,
};

async fn add(host: &Host, to: &str, n: u64) -> Result<u64, wasp_protocol::WireError> {
    host.call(to, "add", &n).await
}

/// Sends `total` requests to `add` 1 while `name` reloads: 100 before the
/// reload starts, the rest paced so that many are queued or running when
/// the swap happens, and at least 100 after the reload has returned.
/// Returns every answer.
async fn adds_across_a_reload(host: &Host, name: &str, total: usize) -> Vec<u64> {
    let mut calls = Vec::with_capacity(total);
    let spawn_add = |calls: &mut Vec<_>| {
        let (host, name) = (host.clone(), name.to_owned());
        calls.push(tokio::spawn(async move { add(&host, &name, 1).await }));
    };
    for _ in 0..100 {
        spawn_add(&mut calls);
    }
    let done = Arc::new(AtomicBool::new(false));
    let reload = {
        let (host, name, done) = (host.clone(), name.to_owned(), done.clone());
        tokio::spawn(async move {
            let result = host.reload(&name).await;
            done.store(true, Ordering::Release);
            result
        })
    };
    while calls.len() < total - 100 && !done.load(Ordering::Acquire) {
        for _ in 0..10 {
            spawn_add(&mut calls);
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let reloaded = reload.await.unwrap();
    reloaded.unwrap_or_else(|e| panic!("reload of `{name}` failed: {e}"));
    while calls.len() < total {
        spawn_add(&mut calls);
    }
    let mut answers = Vec::with_capacity(total);
    for call in calls {
        answers.push(call.await.unwrap().unwrap_or_else(|e| panic!("`{name}`: a request was lost: {e}")));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_in_flight_across_a_reload_are_answered_and_the_count_is_kept() {
    for form in FORMS {
        let host = host();
        let name = format!("counter-hot-{form:?}").to_lowercase();
        load(&host, form, "counter", &name).await;
        let mut answers = adds_across_a_reload(&host, &name, 1_000).await;
        // Every add saw the value the one before it left: had the new code
        // started from zero, values would repeat.
        answers.sort_unstable();
        assert_eq!(answers, (1..=1_000).collect::<Vec<u64>>(), "{form:?}: each value once, none lost");
        let now: u64 = host.call(&name, "get", &()).await.unwrap();
        assert_eq!(now, 1_000, "{form:?}");
        let reloads = host.audit_log().iter().filter(|e| e.plugin == name && e.kind == AuditKind::Reloaded).count();
        assert_eq!(reloads, 1, "{form:?}");
        // The new code subscribed afresh in its `on_load`.
        host.publish("counter.reset", codec::to_payload(&()).unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while host.call::<_, u64>(&name, "get", &()).await.unwrap() != 0 {
            assert!(std::time::Instant::now() < deadline, "{form:?}: the reset event never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        host.shutdown().await;
    }
}

// ---- the ABI, from docs/abi.md alone -----------------------------------

/// A 1.2 plugin keeping a 64-bit count at 8192. `add` adds one and answers
/// `[count]`, `get` answers it; `unload` (kind 4) runs `on_unload`,
/// `restore` (kind 5) runs `on_restore`.
fn keeper(on_unload: &str, on_restore: &str) -> Vec<u8> {
    let body = format!(
        r#"
        (if (i32.eq (local.get $kind) (i32.const 4)) (then {on_unload}))
        (if (i32.eq (local.get $kind) (i32.const 5)) (then {on_restore}))
        (if (call $is (i32.const 16) (i32.const 3))
          (then (i64.store (i32.const 8192) (i64.add (i64.load (i32.const 8192)) (i64.const 1)))))
        (call $put (i32.const 0) (i64.load (i32.const 8192)))
        (drop (call $reply_ints (local.get $id) (i32.const 1)))
        (i32.const 0)"#
    );
    wat_plugin_v12(&format!(
        r#"(data (i32.const 16) "add") (data (i32.const 32) "not now")
           {WAT_ALLOC} {}"#,
        wat_handle("", &body)
    ))
}

/// Hands over the count's 8 bytes.
const SAVE: &str =
    "(drop (call $reply (local.get $id) (i32.const 0) (i32.const 8192) (i32.const 8))) (return (i32.const 0))";
/// Takes the count back from a restore's 8-byte payload.
const TAKE: &str = "(i64.store (i32.const 8192) (i64.load (global.get $payload))) (return (i32.const 0))";

async fn count(host: &Host, name: &str) -> u64 {
    let v: Vec<i64> = host.call(name, "get", &()).await.unwrap();
    v[0] as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_written_from_the_abi_hands_its_state_over() {
    let host = host();
    load_wat(&host, "keeper", &keeper(SAVE, TAKE)).await;
    for _ in 0..3 {
        host.call::<_, Vec<i64>>("keeper", "add", &()).await.unwrap();
    }
    host.reload_bytes("keeper", &keeper(SAVE, TAKE)).await.unwrap();
    assert_eq!(count(&host, "keeper").await, 3, "the new instance restored the count");
    // Not answering `unload` is no state: the next code starts from zero.
    host.reload_bytes("keeper", &keeper("(return (i32.const 0))", TAKE)).await.unwrap();
    assert_eq!(count(&host, "keeper").await, 3);
    host.reload_bytes("keeper", &keeper(SAVE, TAKE)).await.unwrap();
    assert_eq!(count(&host, "keeper").await, 0, "no state was handed over, so no restore came");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unload_answered_with_an_error_keeps_the_old_code_and_its_state() {
    let host = host();
    let refuse =
        "(drop (call $reply (local.get $id) (i32.const 1000) (i32.const 32) (i32.const 7))) (return (i32.const 0))";
    load_wat(&host, "stubborn", &keeper(refuse, TAKE)).await;
    host.call::<_, Vec<i64>>("stubborn", "add", &()).await.unwrap();
    let mut audit = host.audit_events();
    let err = host.reload_bytes("stubborn", &keeper(SAVE, TAKE)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Plugin, "{err}");
    assert!(err.to_string().contains("not now"), "the plugin's reason is in the error: {err}");
    let event =
        audit_where(&mut audit, |e| e.plugin == "stubborn" && matches!(e.kind, AuditKind::ReloadFailed { .. })).await;
    assert_eq!(event.kind, AuditKind::ReloadFailed { code: ErrorCode::Plugin });
    assert_eq!(count(&host, "stubborn").await, 1, "the old instance runs on, count intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_the_new_code_refuses_keeps_the_old_code_and_its_subscriptions() {
    let host = host();
    // The old code subscribes to `tick` in its `wasp_load`; the new one refuses its state.
    let loads = r#"(data (i32.const 48) "tick")
        (func (export "wasp_load") (result i32) (drop (call $subscribe (i32.const 48) (i32.const 4))) (i32.const 0))"#;
    let with_load = |on_restore: &str| {
        let body = format!(
            r#"
            (if (i32.eq (local.get $kind) (i32.const 4)) (then {SAVE}))
            (if (i32.eq (local.get $kind) (i32.const 5)) (then {on_restore}))
            (if (i32.or (call $is (i32.const 16) (i32.const 3)) (call $is (i32.const 48) (i32.const 4)))
              (then (i64.store (i32.const 8192) (i64.add (i64.load (i32.const 8192)) (i64.const 1)))))
            (call $put (i32.const 0) (i64.load (i32.const 8192)))
            (if (i32.eqz (local.get $kind)) (then (drop (call $reply_ints (local.get $id) (i32.const 1)))))
            (i32.const 0)"#
        );
        wat_plugin_v12(&format!(r#"(data (i32.const 16) "add") {loads} {WAT_ALLOC} {}"#, wat_handle("", &body)))
    };
    load_wat(&host, "ticker", &with_load(TAKE)).await;
    host.call::<_, Vec<i64>>("ticker", "add", &()).await.unwrap();
    let err = host.reload_bytes("ticker", &with_load("(return (i32.const 7))")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidMessage, "{err}");
    assert!(err.to_string().contains("status 7"), "{err}");
    assert_eq!(count(&host, "ticker").await, 1, "the old instance runs on with its state");
    // Its subscription is still there: a publish on `tick` counts.
    host.publish("tick", codec::to_payload(&()).unwrap()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while count(&host, "ticker").await != 2 {
        assert!(std::time::Instant::now() < deadline, "the old code lost its subscription");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_unload_fails_the_reload_and_the_plugin_restarts() {
    let host = host();
    load_wat(&host, "fragile", &keeper("(unreachable)", TAKE)).await;
    host.call::<_, Vec<i64>>("fragile", "add", &()).await.unwrap();
    let err = host.reload_bytes("fragile", &keeper(SAVE, TAKE)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PluginCrashed, "{err}");
    // Supervision restarted the old code, without its state.
    assert_eq!(count(&host, "fragile").await, 0);
    assert_eq!(host.plugins()[0].restarts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_built_for_an_older_abi_never_see_unload_or_restore() {
    let host = host();
    // ABI 1.0: any kind above 3 traps, which would fail the reload.
    let body = r#"
        (if (i32.gt_u (local.get $kind) (i32.const 3)) (then (unreachable)))
        (drop (call $reply_ints (local.get $id) (i32.const 0)))
        (i32.const 0)"#;
    let old = wat_plugin(&format!("{WAT_ALLOC} {}", wat_handle("", body)));
    load_wat(&host, "old", &old).await;
    host.reload_bytes("old", &old).await.unwrap();
    let v: Vec<i64> = host.call("old", "get", &()).await.unwrap();
    assert!(v.is_empty());
    host.unload("old").await.unwrap();
    assert!(!host.audit_log().iter().any(|e| matches!(e.kind, AuditKind::Fault { .. })), "{:?}", host.audit_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_runs_on_unload_too() {
    // A plugin that publishes from `on_unload` shows it ran: the host hears it.
    let host = host();
    let body = format!(
        r#"(data (i32.const 64) "bye")
           {WAT_ALLOC} {}"#,
        wat_handle(
            "",
            r#"
            (if (i32.eq (local.get $kind) (i32.const 4))
              (then (drop (call $publish (i32.const 64) (i32.const 3) (i32.const 1024) (call $ints (i32.const 0))))
                    (return (i32.const 0))))
            (drop (call $reply_ints (local.get $id) (i32.const 0)))
            (i32.const 0)"#
        )
    );
    load_wat(&host, "polite", &wat_plugin_v12(&body)).await;
    let mut bye = host.subscribe("bye").unwrap();
    host.unload("polite").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), bye.recv()).await.unwrap().unwrap();
    assert_eq!((event.from.as_str(), event.topic.as_str()), ("polite", "bye"));
}

// ---- watching files -------------------------------------------------------

fn watching_host() -> Host {
    Host::builder()
        .request_timeout(Duration::from_secs(10))
        .policy(Policy::new().trust("*").unwrap())
        .hot_reload(true)
        .hot_reload_debounce(Duration::from_millis(50))
        .build()
        .unwrap()
}

/// The next `Reloaded` or `ReloadFailed` event of `plugin`.
async fn next_reload(audit: &mut tokio::sync::broadcast::Receiver<AuditEvent>, plugin: &str) -> AuditEvent {
    audit_where(audit, |e| e.plugin == plugin && matches!(e.kind, AuditKind::Reloaded | AuditKind::ReloadFailed { .. }))
        .await
}

/// Writes a file the way build tools do: a new file renamed over the old.
fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn entry_of(dir: &Path, suffix: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_plugin_reloads_when_its_files_change_and_keeps_its_state() {
    for form in [Form::Wasm, Form::Native] {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, suffix) = match form {
            Form::Wasm => (bundle_copy("counter", dir.path()), ".wasm"),
            _ => (native_bundle_copy("counter", dir.path()), std::env::consts::DLL_SUFFIX),
        };
        let entry = entry_of(&bundle, suffix);
        let good = std::fs::read(&entry).unwrap();
        let host = watching_host();
        let mut audit = host.audit_events();
        let name = host.load(&bundle).await.unwrap().name().to_owned();
        assert_eq!(add(&host, &name, 7).await.unwrap(), 7);

        // A rebuild: the module is replaced.
        replace_file(&entry, &good);
        let event = next_reload(&mut audit, &name).await;
        assert_eq!(event.kind, AuditKind::Reloaded, "{form:?}: {event:?}");
        assert_eq!(add(&host, &name, 1).await.unwrap(), 8, "{form:?}: the count survived");

        // A broken build: refused, the old code runs on, and the event says why.
        std::fs::write(&entry, b"not a plugin at all").unwrap();
        let event = next_reload(&mut audit, &name).await;
        assert!(
            matches!(event.kind, AuditKind::ReloadFailed { code: ErrorCode::InvalidArgument }),
            "{form:?}: {event:?}"
        );
        assert!(event.message.contains("old code runs on"), "{}", event.message);
        assert_eq!(add(&host, &name, 1).await.unwrap(), 9, "{form:?}");

        // Fixed again; and a change to plugin.toml alone reloads too.
        replace_file(&entry, &good);
        assert_eq!(next_reload(&mut audit, &name).await.kind, AuditKind::Reloaded, "{form:?}");
        let manifest = bundle.join("plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}\n# touched\n")).unwrap();
        assert_eq!(next_reload(&mut audit, &name).await.kind, AuditKind::Reloaded, "{form:?}");
        assert_eq!(add(&host, &name, 1).await.unwrap(), 10, "{form:?}");

        // Unloaded plugins are not watched any more.
        host.unload(&name).await.unwrap();
        replace_file(&entry, &good);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let late = host.audit_log().into_iter().filter(|e| e.plugin == name && e.kind == AuditKind::Reloaded).count();
        assert_eq!(late, 3, "{form:?}: no reload after the unload");
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_writes_reloads_once() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_copy("counter", dir.path());
    let entry = entry_of(&bundle, ".wasm");
    let good = std::fs::read(&entry).unwrap();
    let host = watching_host();
    host.load(&bundle).await.unwrap();
    // Ten writes, each meant to be well inside the 50 ms debounce of the
    // one before. On a loaded machine a 5 ms sleep can take longer: a gap
    // of half the debounce or more may let a reload through between
    // writes, so the writes' own gaps say how many reloads may happen.
    let mut split = 0;
    let mut last: Option<std::time::Instant> = None;
    for _ in 0..10 {
        std::fs::write(&entry, &good).unwrap();
        let now = std::time::Instant::now();
        if last.is_some_and(|l| now - l >= Duration::from_millis(25)) {
            split += 1;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reloads: BTreeSet<_> =
        host.audit_log().into_iter().filter(|e| e.kind == AuditKind::Reloaded).map(|e| e.at).collect();
    assert!((1..=1 + split).contains(&reloads.len()), "{split} long gaps: {:?}", host.audit_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_plugins_loaded_from_files_can_be_watched() {
    let host = host();
    load(&host, Form::InProcess, "counter", "inproc").await;
    let err = host.watch("inproc").await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    let bytes = std::fs::read(entry_of(&wasp_fixtures::wasm_bundle("echo"), ".wasm")).unwrap();
    host.load(Load::bytes(&bytes).named("frombytes")).await.unwrap();
    assert!(matches!(host.watch("frombytes").await.unwrap_err(), Error::Unsupported(_)));
    assert!(matches!(host.watch("nobody").await.unwrap_err(), Error::NotLoaded(_)));
}
