//! Permissions: default deny, the host's policy, asking, remembering, and
//! grants and revocations that take effect on the plugin's next host call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasp_actors::{AuditKind, Decision, Host, Load, Manifest, Permission, Policy};
use wasp_example_relay::Forward;
use wasp_protocol::ErrorCode;

use crate::common::{FORMS, Form, audit_where, host, info, is_denial, load, manifest, mp};

fn perm(s: &str) -> Permission {
    s.parse().expect("valid permission")
}

/// Loads `relay` in `form` with a manifest requesting nothing.
async fn bare_relay(host: &Host, form: Form, name: &str) {
    match form {
        Form::Wasm => {
            host.load(Load::bytes(wasp_fixtures::wasm_bytes("relay")).named(name)).await.unwrap();
        }
        Form::Native => {
            host.load(Load::bytes(std::fs::read(wasp_fixtures::native_library("relay")).unwrap()).named(name))
                .await
                .unwrap();
        }
        Form::InProcess => {
            host.load(Load::in_process(wasp_example_relay::Relay::default).named(name)).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_without_a_manifest_may_do_nothing_but_answer() {
    for form in FORMS {
        let host = host();
        load(&host, Form::Wasm, "echo", "echo").await;
        bare_relay(&host, form, "relay").await;
        let mut audit = host.audit_events();
        let err = host.call::<_, Vec<u8>>("relay", "forward", &Forward::new("echo", "ping", &1)).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied, "{form:?}: {err}");
        assert!(err.message.contains("lacks the permission `request:echo`"), "{form:?}: {err}");
        let event = audit_where(&mut audit, is_denial("relay", "request:echo")).await;
        assert!(event.message.contains("request:echo"), "{event:?}");
        let i = info(&host, "relay");
        assert_eq!((i.denied, i.violations), (1, 1), "{form:?}: {i:?}");
        assert!(i.permissions.is_empty());
        // The plugin still answers, and so does everyone else.
        assert_eq!(host.request("echo", "ping", mp(&2)).await.unwrap(), mp(&2));
        let pending: u64 = host.call("relay", "pending", &()).await.unwrap();
        assert_eq!(pending, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_grants_only_what_was_requested_and_denials_win() {
    let policy = Policy::new()
        .allow("relay*", "request:*")
        .unwrap()
        .deny("relay-untrusted", "request:secret*")
        .unwrap()
        .trust("counter")
        .unwrap();
    let host = Host::builder().policy(policy).build().unwrap();
    let m = manifest("relay", "relay-untrusted").permissions([perm("request:secret-store"), perm("publish:x")]);
    let loaded = host.load(Load::in_process(wasp_example_relay::Relay::default).described_by(m)).await.unwrap();
    assert_eq!(loaded.granted(), [perm("request:*")]);
    assert_eq!(loaded.refused(), [perm("request:secret-store"), perm("publish:x")]);
    // The denial wins inside `request:*` too: an exception to it.
    assert!(!host.permits("relay-untrusted", &perm("request:secret-store")));
    assert!(host.permits("relay-untrusted", &perm("request:echo")));
    assert_eq!(host.exceptions("relay-untrusted").unwrap(), [perm("request:secret*")]);
    // `trust` honours requests; it adds nothing that was not requested.
    let counter = host
        .load(Load::in_process(wasp_example_counter::Counter::default).described_by(manifest("counter", "counter")))
        .await;
    assert_eq!(counter.unwrap().granted(), [perm("subscribe:counter.reset"), perm("publish:counter.changed")]);
    let log = host.audit_log();
    let refused = log
        .iter()
        .find(|e| matches!(&e.kind, AuditKind::Revoked { permission, by } if *permission == perm("request:secret-store") && by == "policy"))
        .expect("the refusal is audited");
    assert_eq!(refused.plugin, "relay-untrusted");
    assert!(log.iter().any(|e| matches!(&e.kind, AuditKind::Revoked { by, .. } if by == "default")));
    assert!(log.iter().any(|e| e.message
        == "plugin `relay-untrusted` keeps `request:secret*` refused (policy), an exception to `request:*`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_denying_a_directory_inside_a_requested_one_refuses_the_whole_directory() {
    let data = tempfile::tempdir().unwrap();
    let policy = Policy::new().trust("journal").unwrap().deny("journal", "fs.read:$DATA/keys").unwrap();
    let host = Host::builder().data_dir(data.path()).policy(policy).build().unwrap();
    let journal = Manifest::from_file(&wasp_fixtures::manifest_path("journal")).unwrap();
    let loaded = host.load(Load::bytes(wasp_fixtures::wasm_bytes("journal")).described_by(journal)).await.unwrap();
    assert_eq!(loaded.granted(), [perm("clock")]);
    assert_eq!(loaded.refused(), [perm("fs.write:$DATA")]);
    assert!(!host.permits("journal", &perm("fs.read:$DATA/keys/k")));
    let event =
        host.audit_log().into_iter().find(|e| e.plugin == "journal" && matches!(e.kind, AuditKind::Revoked { .. }));
    let message = event.expect("the refusal is audited").message;
    assert!(message.contains("the policy denies `fs.read:$DATA/keys`"), "{message}");
}

#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_decides_what_no_rule_does_and_its_answers_are_remembered_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let ask_policy = |asked: Arc<AtomicUsize>| {
        Policy::new().allow("counter", "publish:*").unwrap().ask(move |q| {
            asked.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(q.plugin, "counter");
                assert_eq!(q.version, "0.1.0");
                if q.permission == "subscribe:counter.reset".parse().unwrap() {
                    Decision::Deny
                } else {
                    Decision::Allow
                }
            }
        })
    };
    {
        let host = Host::builder().data_dir(dir.path()).policy(ask_policy(asked.clone())).build().unwrap();
        let m = manifest("counter", "counter").permission(perm("log"));
        // `counter` subscribes in on_load: refused, that fails its load.
        let err = host
            .load(Load::in_process(wasp_example_counter::Counter::default).described_by(m.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        assert_eq!(asked.load(Ordering::SeqCst), 2, "asked about subscribe and log, not publish (a rule allows it)");
        // Loading again asks nobody: the answers were remembered.
        let _ = host.load(Load::in_process(wasp_example_counter::Counter::default).described_by(m)).await.unwrap_err();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        host.shutdown().await;
    }
    // A new host on the same data directory remembers them too.
    let asked_again = Arc::new(AtomicUsize::new(0));
    let host = Host::builder().data_dir(dir.path()).policy(ask_policy(asked_again.clone())).build().unwrap();
    let m = manifest("counter", "counter").permission(perm("log"));
    let err = host.load(Load::in_process(wasp_example_counter::Counter::default).described_by(m)).await.unwrap_err();
    assert!(err.to_string().contains("subscribe:counter.reset"), "{err}");
    assert_eq!(asked_again.load(Ordering::SeqCst), 0, "nothing asked after a restart");
    assert!(host.audit_log().iter().any(|e| matches!(&e.kind, AuditKind::Granted { by, .. } if by == "stored")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_revocations_take_effect_on_the_next_call_without_a_restart() {
    for form in FORMS {
        let host = host();
        load(&host, Form::Wasm, "echo", "echo").await;
        bare_relay(&host, form, "relay").await;
        let forward = Forward::new("echo", "ping", &"hi");
        let denied = host.call::<_, String>("relay", "forward", &forward).await.unwrap_err();
        assert_eq!(denied.code, ErrorCode::PermissionDenied);

        host.grant("relay", "request:echo").await.unwrap();
        assert!(host.permits("relay", &perm("request:echo")));
        let reply: String = host.call("relay", "forward", &forward).await.unwrap();
        assert_eq!(reply, "hi", "{form:?}");
        // Waiting and request_async alike.
        let reply: String = host.call("relay", "forward_async", &forward).await.unwrap();
        assert_eq!(reply, "hi", "{form:?}");

        host.revoke("relay", "request:*").await.unwrap();
        assert!(host.permissions("relay").unwrap().is_empty());
        let err = host.call::<_, String>("relay", "forward", &forward).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied, "{form:?}: {err}");
        let i = info(&host, "relay");
        assert_eq!(i.restarts, 0, "no restart was needed");
        assert!(host.audit_log().iter().any(|e| matches!(&e.kind, AuditKind::Revoked { by, .. } if by == "host")));
    }
}

#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_narrower_permission_refuses_exactly_it_across_restarts_and_the_audit_says_so() {
    let data = tempfile::tempdir().unwrap();
    let forward = |to: &str| Forward::new(to, "ping", &"hi");
    // Three starts of the app on one data directory: the revocation, then
    // the grant that lifts it, are each remembered.
    for start in 0..3 {
        let host = Host::builder().data_dir(data.path()).policy(Policy::new().trust("*").unwrap()).build().unwrap();
        load(&host, Form::Wasm, "echo", "echo").await;
        load(&host, Form::Wasm, "echo", "victim").await;
        load(&host, Form::Wasm, "relay", "relay").await;
        let mut audit = host.audit_events();
        if start == 0 {
            host.revoke("relay", "request:victim").await.unwrap();
            let event = audit_where(&mut audit, |e| matches!(e.kind, AuditKind::Revoked { .. })).await;
            assert_eq!(event.plugin, "relay");
            assert_eq!(event.kind, AuditKind::Revoked { permission: perm("request:victim"), by: "host".into() });
            assert_eq!(
                event.message,
                "plugin `relay` lost `request:victim` (host); it keeps `request:*` except `request:victim`"
            );
        }
        let to_victim = host.call::<_, String>("relay", "forward", &forward("victim")).await;
        if start < 2 {
            let err = to_victim.expect_err("the exception holds");
            assert_eq!(err.code, ErrorCode::PermissionDenied, "start {start}: {err}");
            assert!(err.message.contains("lacks the permission `request:victim`"), "{err}");
            audit_where(&mut audit, is_denial("relay", "request:victim")).await;
            let err = host.call::<_, String>("relay", "forward_async", &forward("victim")).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::PermissionDenied, "request_async alike: {err}");
            assert_eq!(host.permissions("relay").unwrap(), [perm("request:*")]);
            assert_eq!(host.exceptions("relay").unwrap(), [perm("request:victim")]);
            assert_eq!(info(&host, "relay").exceptions, ["request:victim"]);
            assert!(!host.permits("relay", &perm("request:victim")));
        } else {
            assert_eq!(to_victim.unwrap(), "hi", "the grant was remembered");
            assert!(host.exceptions("relay").unwrap().is_empty());
        }
        // The rest of `request:*` stays.
        assert_eq!(host.call::<_, String>("relay", "forward", &forward("echo")).await.unwrap(), "hi");
        if start == 1 {
            host.grant("relay", "request:*").await.unwrap();
            assert_eq!(host.call::<_, String>("relay", "forward", &forward("victim")).await.unwrap(), "hi");
        }
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_audits_only_what_the_plugin_lost() {
    let host = host();
    let relay = manifest("relay", "relay").permissions([perm("send:echo"), perm("send:log")]);
    host.load(Load::in_process(wasp_example_relay::Relay::default).described_by(relay)).await.unwrap();
    let mut audit = host.audit_events();
    let revoked = |audit: &mut tokio::sync::broadcast::Receiver<wasp_actors::AuditEvent>| {
        let event = audit.try_recv().expect("one event per revocation");
        assert!(matches!(event.kind, AuditKind::Revoked { .. }), "{event:?}");
        event.message
    };
    host.revoke("relay", "send:*").await.unwrap();
    assert_eq!(revoked(&mut audit), "plugin `relay` lost `send:echo`, `send:log` (host revoked `send:*`)");
    host.revoke("relay", "request:*").await.unwrap();
    assert_eq!(revoked(&mut audit), "plugin `relay` lost `request:*` (host)");
    host.revoke("relay", "storage").await.unwrap();
    assert_eq!(
        revoked(&mut audit),
        "plugin `relay` held nothing `storage` covers; it is refused `storage` from now on (host)"
    );
    assert!(host.permissions("relay").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_inside_a_granted_one_cannot_be_revoked_alone() {
    let data = tempfile::tempdir().unwrap();
    let host = Host::builder().data_dir(data.path()).policy(Policy::new().trust("*").unwrap()).build().unwrap();
    let journal = Manifest::from_file(&wasp_fixtures::manifest_path("journal")).unwrap();
    host.load(Load::bytes(wasp_fixtures::wasm_bytes("journal")).described_by(journal)).await.unwrap();
    let held = host.permissions("journal").unwrap();
    assert!(held.contains(&perm("fs.write:$DATA")));
    for narrower in ["fs.read:$DATA", "fs.write:$DATA/private"] {
        let err = host.revoke("journal", narrower).await.expect_err("a directory is granted whole");
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(err.to_string().contains("revoke `fs.write:$DATA` instead"), "{err}");
    }
    assert_eq!(host.permissions("journal").unwrap(), held, "nothing changed");
    assert!(host.exceptions("journal").unwrap().is_empty());
    assert!(
        !host.audit_log().iter().any(|e| matches!(&e.kind, AuditKind::Revoked { by, .. } if by == "host")),
        "a refused revocation is not audited as one"
    );
    let files: Vec<String> = host.call("journal", "list", "/data").await.unwrap();
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_subscription_stops_delivering() {
    for form in FORMS {
        let host = host();
        load(&host, form, "counter", "counter").await;
        let add = |n: u64| {
            let host = host.clone();
            async move { host.call::<_, u64>("counter", "add", &n).await }
        };
        assert_eq!(add(5).await.unwrap(), 5);
        host.publish("counter.reset", mp(&())).unwrap();
        // The reset event is queued before the next request: it has run by then.
        assert_eq!(add(1).await.unwrap(), 1, "{form:?}: the subscription works");

        let mut audit = host.audit_events();
        host.revoke("counter", "subscribe:counter.reset").await.unwrap();
        host.publish("counter.reset", mp(&())).unwrap();
        assert_eq!(add(1).await.unwrap(), 2, "{form:?}: the reset was not delivered");
        audit_where(&mut audit, is_denial("counter", "subscribe:counter.reset")).await;
        // The subscription is gone for good, even after a new grant.
        host.grant("counter", "subscribe:counter.reset").await.unwrap();
        host.publish("counter.reset", mp(&())).unwrap();
        assert_eq!(add(1).await.unwrap(), 3, "{form:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_subscribers_hear_only_plugins_holding_ui_permissions() {
    let host = host();
    load(&host, Form::Wasm, "counter", "counter").await;
    let mut all = host.subscribe("counter.*").unwrap();
    let mut ui = host.subscribe_ui("counter.*").unwrap();
    let _: u64 = host.call("counter", "add", &1u64).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), all.recv()).await.unwrap().unwrap();
    assert_eq!(event.topic, "counter.changed");
    assert!(ui.try_recv().is_none(), "no `ui:` grant, nothing for the UI");
    // The host's own events always reach the UI.
    host.publish("counter.note", mp(&"from host")).unwrap();
    assert_eq!(ui.recv().await.unwrap().topic, "counter.note");

    host.grant("counter", "ui:counter.changed").await.unwrap();
    let _: u64 = host.call("counter", "add", &1u64).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), ui.recv()).await.unwrap().unwrap();
    assert_eq!((event.from.as_str(), event.topic.as_str()), ("counter", "counter.changed"));
    assert_eq!(event.decode::<u64>().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_asks_for_limits_and_the_host_caps_them() {
    let host = Host::builder().cpu_budget(Duration::from_secs(2)).policy(Policy::new().trust("*").unwrap()).build();
    let host = host.unwrap();
    let mut m = manifest("spinner", "quick");
    m.limits.cpu_budget = Some(Duration::from_millis(100));
    let mut greedy = manifest("spinner", "greedy");
    greedy.limits.cpu_budget = Some(Duration::from_secs(3600));
    greedy.limits.mailbox = Some(1);
    let bytes = wasp_fixtures::wasm_bytes("spinner");
    host.load(Load::bytes(&bytes).described_by(m)).await.unwrap();
    host.load(Load::bytes(&bytes).described_by(greedy)).await.unwrap();

    let err = host.request("quick", "spin", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    assert!(err.message.contains("100ms"), "the manifest's budget: {err}");

    // The greedy one asked for an hour and got the host's 2 s; its mailbox
    // holds one message, so of three requests sent at once while it spins,
    // the third is refused `busy` at once.
    let spin = tokio::spawn({
        let host = host.clone();
        async move { host.request("greedy", "spin", mp(&())).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = tokio::spawn({
        let host = host.clone();
        async move { host.request("greedy", "ping", mp(&())).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let busy = host.request("greedy", "ping", mp(&())).await.unwrap_err();
    assert_eq!(busy.code, ErrorCode::Busy, "{busy}");
    let err = spin.await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    assert!(err.message.contains("2s"), "capped at the host's budget: {err}");
    assert_eq!(queued.await.unwrap().unwrap(), mp(&"pong"), "the queued request is answered by the new instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_publish_permission_stops_a_plugins_events() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut events = host.subscribe("*").unwrap();
    // `echo` republishes the events it gets on `echo.seen`, as its manifest asks.
    host.send("echo", "hello", mp(&1)).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap().unwrap();
    assert_eq!((event.from.as_str(), event.topic.as_str()), ("echo", "echo.seen"));
    host.revoke("echo", "publish:*").await.unwrap();
    let mut audit = host.audit_events();
    host.send("echo", "hello", mp(&2)).unwrap();
    audit_where(&mut audit, is_denial("echo", "publish:echo.seen")).await;
    assert!(events.try_recv().is_none());
}

/// A plugin that, on any request, logs `n` lines (n = the payload's first
/// byte as a positive fixint) and then tries `table.grow` by 100 elements,
/// answering `[n, grow result]`.
fn logger_plugin() -> Vec<u8> {
    let handle = crate::common::wat_handle(
        "(local $i i32) (local $n i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (local.set $n (i32.load8_u (global.get $payload)))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (call $log (i32.const 2) (i32.const 16) (i32.const 5))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (call $put (i32.const 0) (i64.extend_i32_u (local.get $n)))
        (call $put (i32.const 1) (i64.extend_i32_s (table.grow $t (ref.null func) (i32.const 100))))
        (call $reply_ints (local.get $id) (i32.const 2))"#,
    );
    crate::common::wat_plugin(&format!(
        r#"(data (i32.const 16) "hello")
           (table $t 1 funcref)
           {}
           {handle}"#,
        crate::common::WAT_ALLOC
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_need_the_log_permission_and_are_rate_limited_and_tables_are_bounded() {
    let host = host();
    let mut quiet = wasp_actors::Manifest::new("quiet").unwrap();
    quiet.kind = wasp_actors::ManifestKind::Wasm;
    quiet.limits.table_elements = Some(50);
    let mut chatty = wasp_actors::Manifest::new("chatty").unwrap().permission(perm("log"));
    chatty.kind = wasp_actors::ManifestKind::Wasm;
    chatty.limits.log_lines_per_second = Some(10);
    host.load(Load::bytes(logger_plugin()).described_by(quiet)).await.unwrap();
    host.load(Load::bytes(logger_plugin()).described_by(chatty)).await.unwrap();

    // Without `log`: lines are dropped; one audit event says so, not one per line.
    let reply: Vec<i64> = host.call("quiet", "go", &100u8).await.unwrap();
    assert_eq!(reply, [100, -1], "the table may not grow past 50 elements");
    let reply: Vec<i64> = host.call("quiet", "go", &100u8).await.unwrap();
    assert_eq!(reply[0], 100);
    let denials = host
        .audit_log()
        .iter()
        .filter(|e| e.plugin == "quiet" && e.kind == AuditKind::PermissionDenied { permission: perm("log") })
        .count();
    assert_eq!(denials, 1);

    // With `log` at 10 lines per second: 100 lines in a burst, one report.
    let reply: Vec<i64> = host.call("chatty", "go", &100u8).await.unwrap();
    assert_eq!(reply, [100, 1], "the default table limit allows the growth; the old size was 1");
    let limits: Vec<_> = host
        .audit_log()
        .into_iter()
        .filter(|e| {
            e.plugin == "chatty" && matches!(&e.kind, AuditKind::LimitExceeded { limit } if limit == "log_rate")
        })
        .collect();
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert!(limits[0].message.contains("10 log lines per second"), "{}", limits[0].message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_calls_outside_every_grant_are_refused_and_audited_naming_the_path() {
    let host = host();
    let imports = r#"
      (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_filestat_get" (func $stat (param i32 i32 i32 i32 i32) (result i32)))"#;
    // Answers the three errnos; no `fs.*` grant, so fd 3 is no directory.
    let handle = crate::common::wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (call $put (i32.const 0) (i64.extend_i32_u (call $mkdir (i32.const 3) (i32.const 16) (i32.const 7))))
        (call $put (i32.const 1) (i64.extend_i32_u (call $unlink (i32.const 3) (i32.const 32) (i32.const 10))))
        (call $put (i32.const 2) (i64.extend_i32_u (call $stat (i32.const 3) (i32.const 0) (i32.const 32) (i32.const 10) (i32.const 4096))))
        (call $reply_ints (local.get $id) (i32.const 3))"#,
    );
    let module = crate::common::wat_plugin_v11(
        imports,
        &format!(
            r#"(data (i32.const 16) "secrets") (data (i32.const 32) "etc/passwd") {} {handle}"#,
            crate::common::WAT_ALLOC
        ),
    );
    let mut m = wasp_actors::Manifest::new("snoop").unwrap();
    m.kind = wasp_actors::ManifestKind::Wasm;
    host.load(Load::bytes(&module).described_by(m)).await.unwrap();
    let errnos: Vec<i64> = host.call("snoop", "go", &()).await.unwrap();
    assert_eq!(errnos, [8, 8, 8], "EBADF: no directory is granted");
    let log = host.audit_log();
    for wanted in ["fs.write:/secrets", "fs.write:/etc/passwd", "fs.read:/etc/passwd"] {
        let event = log
            .iter()
            .find(|e| e.plugin == "snoop" && e.kind == AuditKind::PermissionDenied { permission: perm(wanted) })
            .unwrap_or_else(|| panic!("no denial of `{wanted}` audited: {log:?}"));
        assert!(event.message.contains("no `") && event.message.contains(wanted), "{}", event.message);
    }
    assert_eq!(info(&host, "snoop").denied, 3);
}
