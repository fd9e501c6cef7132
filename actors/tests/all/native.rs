//! Native plugin libraries: the examples built as `cdylib`s and loaded with
//! the system loader, and libraries the loader must refuse.

use std::time::{Duration, Instant};

use wasp_actors::{AuditKind, Error, Host, Load, Manifest, ManifestKind, Policy};
use wasp_protocol::{ApiVersion, ErrorCode};

use crate::common::{Form, audit_where, host, info_after, load, mp};

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    wasp_protocol::codec::from_payload(bytes).expect("decodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_bundle_loads_with_its_manifest_and_answers() {
    let host = host();
    let plugin = host.load(wasp_fixtures::native_bundle("counter")).await.expect("loads");
    assert_eq!(plugin.name(), "counter");
    assert_eq!(plugin.kind(), "native");
    assert_eq!(plugin.abi_version(), Some(ApiVersion::CURRENT));
    assert!(!plugin.granted().is_empty(), "the manifest's permissions were decided");
    let mut events = host.subscribe("counter.*").expect("subscribes");
    let total: u64 = decode(&host.request("counter", "add", mp(&5u64)).await.expect("answers"));
    assert_eq!(total, 5);
    let total: u64 = decode(&host.request("counter", "add", mp(&2u64)).await.expect("answers"));
    assert_eq!(total, 7);
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("an event").expect("open");
    assert_eq!(event.from, "counter");
    assert_eq!(decode::<u64>(&event.payload), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_path_without_a_manifest_loads_named_after_the_file() {
    let host = host();
    let plugin = host.load(wasp_fixtures::native_library("echo")).await.expect("loads");
    assert_eq!(plugin.name(), "wasp_example_echo");
    assert_eq!(plugin.kind(), "native");
    let back: String = decode(&host.request("wasp_example_echo", "anything", mp("hi")).await.expect("answers"));
    assert_eq!(back, "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_names_can_load_the_same_library_with_separate_state() {
    let host = host();
    load(&host, Form::Native, "counter", "a").await;
    load(&host, Form::Native, "counter", "b").await;
    host.request("a", "add", mp(&10u64)).await.expect("answers");
    let b: u64 = decode(&host.request("b", "add", mp(&1u64)).await.expect("answers"));
    assert_eq!(b, 1, "each instance has its own plugin state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_panic_is_a_crash_reply_with_its_message_and_the_plugin_restarts() {
    let host = host();
    load(&host, Form::Native, "faulty", "faulty").await;
    let err = host.request("faulty", "panic", mp("native")).await.expect_err("crashes");
    assert_eq!(err.code, ErrorCode::PluginCrashed);
    assert!(err.message.contains("boom: native"), "{}", err.message);
    assert!(err.message.contains("src/lib.rs"), "the panic's location is reported: {}", err.message);
    let pong: String = decode(&host.request("faulty", "ping", mp(&())).await.expect("restarted"));
    assert_eq!(pong, "pong");
    let info = info_after(&host, "faulty", 2).await;
    assert_eq!(info.faults, 1);
    assert_eq!(info.restarts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_host_calls_pass_the_same_permission_checks() {
    // `relay` asks for `request:*`; this host refuses it.
    let host = Host::builder()
        .request_timeout(Duration::from_secs(10))
        .policy(Policy::new().trust("*").unwrap().deny("relay", "request:*").unwrap())
        .build()
        .unwrap();
    let mut audit = host.audit_events();
    load(&host, Form::Native, "relay", "relay").await;
    load(&host, Form::Native, "echo", "echo").await;
    let forward = wasp_example_relay::Forward { to: "echo".into(), topic: "t".into(), body: mp("x") };
    let err = host.request("relay", "forward", mp(&forward)).await.expect_err("denied");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
    assert!(err.message.contains("request:echo"), "{}", err.message);
    let event = audit_where(&mut audit, |e| matches!(e.kind, AuditKind::PermissionDenied { .. })).await;
    assert_eq!(event.plugin, "relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_relay_waits_on_another_plugin_both_ways() {
    let host = host();
    load(&host, Form::Native, "relay", "relay").await;
    load(&host, Form::Wasm, "echo", "echo").await;
    let forward = wasp_example_relay::Forward { to: "echo".into(), topic: "t".into(), body: mp("x") };
    let back: String = decode(&host.request("relay", "forward", mp(&forward)).await.expect("answers"));
    assert_eq!(back, "x");
    let back: String = decode(&host.request("relay", "forward_async", mp(&forward)).await.expect("answers"));
    assert_eq!(back, "x");
}

/// A host trusting every plugin, with `budget` per message.
fn budget_host(budget: Duration) -> Host {
    Host::builder()
        .request_timeout(Duration::from_secs(30))
        .cpu_budget(budget)
        .policy(Policy::new().trust("*").unwrap())
        .build()
        .unwrap()
}

/// Rounds of `spinner`'s `work` that take far longer than the budgets below
/// (a second at the least: longer than a budget, a reload and a second
/// overrun together), yet finish.
///
/// Stranded threads are counted per plugin name for the whole process, so
/// every test that overruns uses a name of its own.
const LONG_WORK: u64 = 1_200_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrun_is_answered_deadline_exceeded_at_once_and_reported() {
    let host = budget_host(Duration::from_millis(50));
    let mut audit = host.audit_events();
    load(&host, Form::Native, "spinner", "overrunner").await;
    load(&host, Form::Native, "echo", "echo").await;
    let asked = Instant::now();
    let err = host.request("overrunner", "work", mp(&LONG_WORK)).await.expect_err("overruns");
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(err.message.contains("cannot be preempted"), "{}", err.message);
    assert!(asked.elapsed() < Duration::from_secs(20), "answered by the watchdog, not by the work finishing");
    let event = audit_where(&mut audit, |e| matches!(e.kind, AuditKind::Overrun { .. })).await;
    assert_eq!(event.plugin, "overrunner");
    assert!(matches!(event.kind, AuditKind::Overrun { budget_ms: 50, stranded: 1 }), "{event:?}");
    // Everyone else keeps answering, and the spinner restarts on a new thread.
    let back: String = decode(&host.request("echo", "t", mp("still here")).await.expect("echo answers"));
    assert_eq!(back, "still here");
    let pong: String = decode(&host.request("overrunner", "ping", mp(&())).await.expect("spinner restarted"));
    assert_eq!(pong, "pong");
    // Work within the budget is answered as usual.
    let small: u64 = decode(&host.request("overrunner", "work", mp(&1_000u64)).await.expect("answers"));
    assert_eq!(small, wasp_example_spinner::work(1_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_stranded_threads_stop_the_restarts() {
    let host = budget_host(Duration::from_millis(100));
    let mut audit = host.audit_events();
    load(&host, Form::Native, "spinner", "stranded-cap").await;
    // Each overrun leaves a thread working; the fourth reaches the cap.
    for _ in 0..wasp_runtime::MAX_STRANDED_THREADS {
        let err = host.request("stranded-cap", "work", mp(&LONG_WORK)).await.expect_err("overruns");
        assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    }
    let refused = audit_where(&mut audit, |e| {
        matches!(e.kind, AuditKind::Fault { .. }) && e.message.contains("still running past their budget")
    })
    .await;
    assert_eq!(refused.plugin, "stranded-cap");
    assert!(
        refused.message.contains(&format!("{} threads", wasp_runtime::MAX_STRANDED_THREADS)),
        "{}",
        refused.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stranded_threads_are_counted_across_a_reload() {
    let host = budget_host(Duration::from_millis(100));
    let mut audit = host.audit_events();
    let overrun = async |audit: &mut tokio::sync::broadcast::Receiver<wasp_actors::AuditEvent>| {
        let err = host.request("stranding", "work", mp(&LONG_WORK)).await.expect_err("overruns");
        assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
        match audit_where(audit, |e| matches!(e.kind, AuditKind::Overrun { .. })).await.kind {
            AuditKind::Overrun { stranded, .. } => stranded,
            _ => unreachable!(),
        }
    };
    load(&host, Form::Native, "spinner", "stranding").await;
    let first = overrun(&mut audit).await;
    host.unload("stranding").await.unwrap();
    load(&host, Form::Native, "spinner", "stranding").await;
    // The first thread is still working (hundreds of milliseconds at the least).
    let second = overrun(&mut audit).await;
    assert_eq!((first, second), (1, 2), "the reload did not reset the count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_the_host_does_not_count_against_the_budget() {
    // The host allows 20 s per message; the relay asks for 50 ms.
    let host = budget_host(Duration::from_secs(20));
    // The native relay waits on a WASM spinner doing work that takes far
    // longer than the relay's budget (and within the spinner's).
    host.load(
        Load::bytes(wasp_fixtures::wasm_bytes("spinner")).described_by(crate::common::manifest("spinner", "spinner")),
    )
    .await
    .unwrap();
    let mut relay = Manifest::from_file(&wasp_fixtures::native_bundle("relay").join("plugin.toml")).unwrap();
    relay.limits.cpu_budget = Some(Duration::from_millis(50));
    host.load(Load::manifest(relay)).await.unwrap();
    const ROUNDS: u64 = 100_000_000;
    let forward = wasp_example_relay::Forward { to: "spinner".into(), topic: "work".into(), body: mp(&ROUNDS) };
    let asked = Instant::now();
    let sum: u64 = decode(&host.request("relay", "forward", mp(&forward)).await.expect("the wait is not an overrun"));
    assert_eq!(sum, wasp_example_spinner::work(ROUNDS));
    assert!(asked.elapsed() > Duration::from_millis(50), "the wait was longer than the relay's budget");
}

fn native_manifest(name: &str) -> Manifest {
    let mut m = Manifest::new(name).unwrap();
    m.kind = ManifestKind::Native;
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_for_another_abi_major_is_refused_naming_both_versions() {
    let host = host();
    let bytes = std::fs::read(wasp_fixtures::native_fixture("wasp-fixture-abi-next")).unwrap();
    let err = host.load(Load::bytes(&bytes).described_by(native_manifest("future"))).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("2.0") && text.contains(&ApiVersion::CURRENT.to_string()), "{text}");
    assert_eq!(wasp_protocol::WireError::from(err).code, ErrorCode::VersionMismatch);
    assert!(host.plugins().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_without_an_entry_is_refused_from_its_export_table() {
    let host = host();
    let bytes = std::fs::read(wasp_fixtures::native_fixture("wasp-fixture-no-entry")).unwrap();
    let err = host.load(Load::bytes(&bytes).described_by(native_manifest("plain"))).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("wasp_native_plugin") && text.contains("cdylib"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_the_wrong_kind_are_refused_with_what_they_are() {
    let host = host();
    // A Windows library on this host (or a Linux one on Windows).
    let foreign: &[u8] = if cfg!(windows) { b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0" } else { b"MZ\x90\0\x03\0\0\0" };
    let err = host.load(Load::bytes(foreign).described_by(native_manifest("foreign"))).await.expect_err("refused");
    assert!(matches!(err, Error::Runtime(wasp_runtime::Error::NotNative { .. })), "{err}");
    assert!(err.to_string().contains("this host loads"), "{err}");
    // A WASM module under a native manifest.
    let wasm = wasp_fixtures::wasm_bytes("echo");
    let err = host.load(Load::bytes(&wasm).described_by(native_manifest("confused"))).await.expect_err("refused");
    assert!(err.to_string().contains("kind = \"wasm\""), "{err}");
    // A native library under a WASM manifest.
    let lib = std::fs::read(wasp_fixtures::native_library("echo")).unwrap();
    let mut m = Manifest::new("confused").unwrap();
    m.kind = ManifestKind::Wasm;
    let err = host.load(Load::bytes(&lib).described_by(m)).await.expect_err("refused");
    assert!(
        err.to_string().contains("kind = \\\"native\\\"") || err.to_string().contains("kind = \"native\""),
        "{err}"
    );
    // A truncated library.
    let mut header = lib[..64.min(lib.len())].to_vec();
    header.extend_from_slice(&[0xff; 16]);
    let err = host.load(Load::bytes(&header).described_by(native_manifest("truncated"))).await.expect_err("refused");
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(host.plugins().is_empty());
}

/// `journal` is a WASI plugin: natively its files go through `fs.resolve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_plugin_keeps_to_its_file_grants_through_fs_resolve() {
    use wasp_example_journal::{Entry, FILE_NAME, WriteFile};
    let (data, shared, secret) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(shared.path().join("readme.txt"), "look, don't touch").unwrap();
    std::fs::write(secret.path().join("key.txt"), "hunter2").unwrap();
    let host = Host::builder().data_dir(data.path()).policy(Policy::new().trust("*").unwrap()).build().unwrap();
    let mut audit = host.audit_events();
    let shared_dir = shared.path().to_str().unwrap().to_owned();
    let mut manifest = Manifest::from_file(&wasp_fixtures::native_bundle("journal").join("plugin.toml")).unwrap();
    manifest = manifest.permissions([wasp_protocol::Permission::FsRead(shared_dir.clone())]);
    let loaded = host.load(Load::manifest(manifest)).await.expect("loads");
    assert_eq!(loaded.kind(), "native");

    let count: u64 = host.call("journal", "append", "woke up").await.unwrap();
    assert_eq!(count, 1);
    let entries: Vec<Entry> = host.call("journal", "read", &()).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["woke up"]);
    let on_disk = std::fs::read_to_string(data.path().join("plugins/journal").join(FILE_NAME)).unwrap();
    assert!(on_disk.ends_with(" woke up\n"), "{on_disk}");
    let listed: Vec<String> = host.call("journal", "list", "/data").await.unwrap();
    assert_eq!(listed, [FILE_NAME]);

    // A read-only grant: reading works, writing is refused before the file is touched.
    // The paths the plugin sees (on Windows `/C:/…`, not `C:\…`).
    let readme = format!("{}/readme.txt", wasp_runtime::services::guest_dir(&shared_dir));
    assert_eq!(host.call::<_, String>("journal", "read_file", &readme).await.unwrap(), "look, don't touch");
    let write = WriteFile { path: readme.clone(), text: "touched".into() };
    let err = host.call::<_, ()>("journal", "write_file", &write).await.expect_err("read-only");
    assert_eq!(err.code, ErrorCode::Plugin, "{err}");
    assert_eq!(std::fs::read_to_string(shared.path().join("readme.txt")).unwrap(), "look, don't touch");
    let denied = audit_where(&mut audit, |e| matches!(e.kind, AuditKind::PermissionDenied { .. })).await;
    assert!(denied.message.contains("fs.write"), "{}", denied.message);

    // A directory it was never granted.
    let key = format!("{}/key.txt", wasp_runtime::services::guest_dir(secret.path().to_str().unwrap()));
    let err = host.call::<_, String>("journal", "read_file", &key).await.expect_err("not granted");
    assert_eq!(err.code, ErrorCode::Plugin, "{err}");
    assert!(err.message.contains("key.txt"), "{err}");
    // And `..` does not climb out of /data.
    let err = host.call::<_, String>("journal", "read_file", "/data/../../etc/passwd").await.expect_err("refused");
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hybrid_plugin_runs_a_native_and_a_wasm_component_under_one_identity() {
    use wasp_example_sysinfo_logic::{Report, workers};
    let host = host();
    let mut events = host.subscribe("sysinfo.*").unwrap();
    let plugin = host.load(wasp_fixtures::hybrid_bundle()).await.expect("loads");
    assert_eq!(plugin.name(), "sysinfo");
    assert_eq!(plugin.kind(), "hybrid");
    assert_eq!(plugin.components(), ["sysinfo.os"]);
    assert_eq!(plugin.granted(), [wasp_protocol::Permission::Publish("sysinfo.*".into())]);
    let kinds: Vec<(String, String)> = host.plugins().into_iter().map(|p| (p.name, p.kind.to_string())).collect();
    assert!(kinds.contains(&("sysinfo".into(), "wasm".into())), "{kinds:?}");
    assert!(kinds.contains(&("sysinfo.os".into(), "native".into())), "{kinds:?}");

    // The WASM logic asks its native sibling (no `request:` permission needed).
    let report: Report = host.call("sysinfo", "report", &()).await.expect("reports");
    let facts = wasp_example_sysinfo_os::facts();
    assert_eq!(report.facts.os, facts.os);
    assert_eq!(report.facts.pid, std::process::id(), "the native component runs in this process");
    assert_eq!(report.workers, workers(facts.cpus));
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap().unwrap();
    assert_eq!(event.from, "sysinfo");
    // One permission set: revoking from the plugin affects every component.
    host.revoke("sysinfo", "publish:sysinfo.*").await.unwrap();
    let err = host.call::<_, Report>("sysinfo", "report", &()).await.expect_err("publish revoked");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
    // Unloading the plugin unloads every component.
    host.unload("sysinfo").await.unwrap();
    assert!(host.plugins().is_empty(), "{:?}", host.plugins());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hybrid_component_needs_permissions_for_anyone_outside_its_plugin() {
    // A hybrid asking for nothing: a WASM relay in front of a native echo.
    let dir = tempfile::tempdir().unwrap();
    let lib = wasp_fixtures::native_file_name("wasp_example_echo");
    std::fs::copy(wasp_fixtures::wasm_plugin("relay"), dir.path().join("relay.wasm")).unwrap();
    std::fs::copy(wasp_fixtures::native_library("echo"), dir.path().join(&lib)).unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        "name = \"pair\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"hybrid\"\n\
         [[components]]\nname = \"front\"\nkind = \"wasm\"\nentry = \"relay.wasm\"\n\
         [[components]]\nname = \"echo\"\nkind = \"native\"\nentry = \"wasp_example_echo\"\n",
    )
    .unwrap();
    let host = host();
    load(&host, Form::Native, "echo", "outsider").await;
    let pair = host.load(dir.path()).await.expect("loads");
    assert!(pair.granted().is_empty());
    let to = |to: &str| wasp_example_relay::Forward { to: to.into(), topic: "t".into(), body: mp("x") };
    let back: String = decode(&host.request("pair", "forward", mp(&to("pair.echo"))).await.expect("a sibling"));
    assert_eq!(back, "x");
    let err = host.request("pair", "forward", mp(&to("outsider"))).await.expect_err("not a sibling");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
    // A name that merely starts like the plugin's is not a sibling either.
    load(&host, Form::Native, "echo", "pairing").await;
    let err = host.request("pair", "forward", mp(&to("pairing"))).await.expect_err("not a sibling");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
}

#[test]
fn a_hybrid_manifest_is_checked_like_any_other() {
    let head = "name = \"h\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"hybrid\"\n";
    let err = Manifest::parse(head).expect_err("no components");
    assert!(err.to_string().contains("[[components]]"), "{err}");
    let err = Manifest::parse(&format!(
        "{head}entry = \"x.wasm\"\n[[components]]\nname = \"a\"\nkind = \"wasm\"\nentry = \"a.wasm\"\n"
    ))
    .expect_err("entry and components");
    assert!(err.to_string().contains("has no `entry`"), "{err}");
    let err = Manifest::parse(&format!("{head}[[components]]\nname = \"a\"\nkind = \"in-process\"\nentry = \"a\"\n"))
        .expect_err("bad kind");
    assert!(err.to_string().contains("components[0].kind"), "{err}");
    let two = format!(
        "{head}[[components]]\nname = \"a\"\nkind = \"wasm\"\nentry = \"a.wasm\"\n[[components]]\nname = \"b\"\nkind = \"native\"\nentry = \"b\"\n"
    );
    let m = Manifest::parse(&two).expect("parses");
    let addresses: Vec<String> = m.component_entries().into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(addresses, ["h", "h.b"]);
    assert_eq!(Manifest::parse(&m.to_toml()).expect("round trip"), m);
    let err = Manifest::parse("name = \"w\"\nversion = \"0.1.0\"\napi = \"1.1\"\nentry = \"w.wasm\"\n[[components]]\nname = \"a\"\nkind = \"wasm\"\nentry = \"a.wasm\"\n")
        .expect_err("components on a wasm plugin");
    assert!(err.to_string().contains("only a `hybrid` plugin"), "{err}");
}
