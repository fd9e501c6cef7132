//! Component-model plugins (`docs/components.md`): the example plugins built
//! from the same sources with wasp-sdk's `component` feature, loaded from
//! their component bytes, behave as their core-module builds do — same
//! answers, same permission errors, same faults and preemption — and what
//! does not target this host's `wasp:plugin` world is refused before it runs.

use std::time::{Duration, Instant};

use wasp_actors::{Error, Host, Load, Manifest, PluginRef};
use wasp_protocol::ErrorCode;
use wasp_runtime::Problem;

use crate::common::{Form, host, info_after, load, manifest, mp};

/// Loads the example `plugin`, built as a component, under `name` with its
/// manifest (permissions included).
async fn load_component(host: &Host, plugin: &str, name: &str) -> PluginRef {
    load_component_with(host, manifest(plugin, name), plugin).await
}

async fn load_component_with(host: &Host, manifest: Manifest, plugin: &str) -> PluginRef {
    host.load(Load::bytes(wasp_fixtures::component_bytes(plugin)).described_by(manifest))
        .await
        .unwrap_or_else(|e| panic!("load the {plugin} component: {e}"))
}

/// Loads `bytes` and expects a refusal; nothing is registered.
async fn refused(host: &Host, name: &str, bytes: &[u8]) -> Error {
    let err = host.load(Load::bytes(bytes).named(name)).await.expect_err("the component must be refused");
    assert!(host.plugins().iter().all(|p| p.name != name), "a refused component is registered: {err}");
    err
}

fn problems(err: &Error) -> &[Problem] {
    match err {
        Error::Runtime(wasp_runtime::Error::Invalid { problems, .. }) => problems,
        other => panic!("expected an invalid-plugin error, got {other:?}"),
    }
}

/// The WIT of the `wasp:plugin` world at `version`, with `extra` added to
/// the world (another import, say).
fn world(version: &str, extra: &str) -> String {
    let wit = std::fs::read_to_string(wasp_fixtures::workspace_root().join("wit/plugin.wit")).expect("wit/plugin.wit");
    wit.replace("package wasp:plugin@1.0.0;", &format!("package wasp:plugin@{version};"))
        .replace("    export guest;\n", &format!("    export guest;\n{extra}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_component_answers_requests_like_the_core_module() {
    let host = host();
    let r = load_component(&host, "echo", "echo").await;
    assert_eq!(r.kind(), "component");
    load(&host, Form::Wasm, "echo", "core-echo").await;
    for (topic, payload) in [("ping", mp(&"hi")), ("len", mp(&vec![7u8; 300])), ("big", mp(&"x".repeat(100_000)))] {
        let component = host.request("echo", topic, payload.clone()).await.unwrap();
        let core = host.request("core-echo", topic, payload).await.unwrap();
        assert_eq!(component, core, "topic `{topic}`");
    }
    let n: u64 = host.call("echo", "len", &vec![1u8; 10]).await.unwrap();
    assert_eq!(n, 11, "a bin of 10 bytes is 11 bytes of MessagePack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_events_arrive_and_its_publishes_reach_subscribers() {
    let host = host();
    load_component(&host, "echo", "echo").await;
    let mut seen = host.subscribe("echo.seen").unwrap();
    for i in 0..50u32 {
        host.send("echo", "note", mp(&i)).unwrap();
    }
    for i in 0..50u32 {
        let ev = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await.unwrap().unwrap();
        assert_eq!(ev.decode::<u32>().unwrap(), i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_requests_another_plugin_when_permitted() {
    let host = host();
    load_component(&host, "relay", "relay").await;
    load_component(&host, "echo", "echo").await;
    let forward = wasp_example_relay::Forward::new("echo", "ping", &"through");
    let answer: String = host.call("relay", "forward", &forward).await.unwrap();
    assert_eq!(answer, "through");
    // `request_async`: the answer comes back as a `reply` message, then the caller is answered.
    let answer: String = host.call("relay", "forward_async", &forward).await.unwrap();
    assert_eq!(answer, "through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_host_call_fails_as_it_does_for_the_core_module() {
    let mut errors = Vec::new();
    for component in [true, false] {
        let host = host();
        let mut m = manifest("relay", "relay");
        m.permissions.clear();
        if component {
            load_component_with(&host, m, "relay").await;
        } else {
            host.load(Load::bytes(wasp_fixtures::wasm_bytes("relay")).described_by(m)).await.unwrap();
        }
        load(&host, Form::Wasm, "echo", "echo").await;
        let forward = wasp_example_relay::Forward::new("echo", "ping", &"through");
        let err = host.call::<_, String>("relay", "forward", &forward).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
        assert!(err.message.contains("lacks the permission `request:echo`"), "{err}");
        errors.push((err.code, err.message));
        // The relay keeps running: the denial is an answer, not a fault.
        let i = info_after(&host, "relay", 1).await;
        assert_eq!(i.faults, 0, "{i:?}");
    }
    assert_eq!(errors[0], errors[1], "component and core module differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_trap_is_plugin_crashed_with_its_panic_and_the_instance_comes_back() {
    let host = host();
    load_component(&host, "faulty", "faulty").await;
    let err = host.request("faulty", "panic", mp(&"component boom")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(
        err.message.contains("after a panic") && err.message.contains("component boom"),
        "the panic is lost: {err}"
    );
    let pong: String = host.call("faulty", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    let i = info_after(&host, "faulty", 2).await;
    assert_eq!((i.faults, i.restarts), (1, 1), "{i:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_component_is_preempted_and_others_keep_answering() {
    let budget = Duration::from_millis(300);
    let host = Host::builder().cpu_budget(budget).build().unwrap();
    load_component(&host, "spinner", "spinner").await;
    load_component(&host, "echo", "echo").await;
    let spin = {
        let host = host.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            (host.request("spinner", "spin", mp(&())).await, started.elapsed())
        })
    };
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (mut answered, mut last) = (0, Duration::ZERO);
    while !spin.is_finished() {
        assert_eq!(host.request("echo", "ping", mp(&"hi")).await.unwrap(), mp(&"hi"));
        answered += 1;
        last = started.elapsed();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (result, took) = spin.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(took >= Duration::from_millis(250), "stopped after {took:?}, before its budget");
    // Echo kept answering through the spin, not only before it got going:
    // answers came until past half the budget (how many depends on the
    // machine's speed, which a loaded Windows-under-wine run shows).
    assert!(answered >= 2, "only {answered} answers while the component spun");
    assert!(last >= budget / 2, "the last answer came {last:?} into a spin of {took:?}");
    let pong: String = host.call("spinner", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_of_another_world_version_is_refused_naming_both_versions() {
    let host = host();
    for version in ["2.0.0", "1.1.0", "0.9.0"] {
        let bytes = wasp_fixtures::component_from_wit(&world(version, "")).unwrap();
        let err = refused(&host, "future", &bytes).await;
        let wire = err.to_wire();
        assert_eq!(wire.code, ErrorCode::VersionMismatch, "{err}");
        assert!(wire.message.contains(&format!("wasp:plugin@{version}")), "{err}");
        assert!(wire.message.contains("host speaks wasp:plugin@1.0.0"), "{err}");
        assert!(problems(&err).iter().all(|p| matches!(p, Problem::UnsupportedWorld { .. })), "{:?}", problems(&err));
    }
    // The same world at this host's version passes validation: its
    // (dummy) `load` runs, and traps.
    let bytes = wasp_fixtures::component_from_wit(&world("1.0.0", "")).unwrap();
    let err = host.load(Load::bytes(&bytes).named("current")).await.expect_err("its functions trap in `load`");
    assert_eq!(err.to_wire().code, ErrorCode::PluginCrashed, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_importing_outside_the_world_is_refused_before_running() {
    let host = host();
    let extra = "    import wasi:cli/environment@0.2.0;";
    let wit = world("1.0.0", extra)
        + "\npackage wasi:cli@0.2.0 {\n    interface environment {\n        get-arguments: func() -> list<string>;\n    }\n}\n";
    let bytes = wasp_fixtures::component_from_wit(&wit).unwrap();
    let err = refused(&host, "wasi", &bytes).await;
    assert_eq!(err.to_wire().code, ErrorCode::InvalidArgument, "{err}");
    assert_eq!(problems(&err), [Problem::ForbiddenComponentImport("wasi:cli/environment@0.2.0".into())]);
    assert!(err.to_string().contains("is not part of the `wasp:plugin@1.0.0` world"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_behind_a_component_header_is_refused_as_malformed() {
    let host = host();
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.extend_from_slice(b"this is not a component at all");
    let err = refused(&host, "garbage", &bytes).await;
    assert!(matches!(err, Error::Runtime(wasp_runtime::Error::Malformed { .. })), "{err:?}");
    assert_eq!(err.to_wire().code, ErrorCode::InvalidArgument);
    // The header alone is a valid, empty component: refused for what it lacks.
    let err = refused(&host, "header", &bytes[..8]).await;
    assert_eq!(problems(&err), [Problem::MissingExport("wasp:plugin/guest@1.0.0".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_hands_the_state_over_between_core_module_and_component() {
    let host = host();
    load(&host, Form::Wasm, "counter", "counter").await;
    let add = |n: u64| {
        let host = host.clone();
        async move { host.call::<_, u64>("counter", "add", &n).await.unwrap() }
    };
    assert_eq!(add(3).await, 3);
    // Core module to component: `unload` from the module, `restore` into the component.
    let r = host.reload_bytes("counter", &wasp_fixtures::component_bytes("counter")).await.unwrap();
    assert_eq!(r.kind(), "component");
    assert_eq!(add(4).await, 7, "the count survived the change of form");
    // Component to component, and back to the core module.
    host.reload_bytes("counter", &wasp_fixtures::component_bytes("counter")).await.unwrap();
    assert_eq!(add(1).await, 8);
    let r = host.reload_bytes("counter", &wasp_fixtures::wasm_bytes("counter")).await.unwrap();
    assert_eq!(r.kind(), "wasm");
    assert_eq!(add(2).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_load_of_a_component_comes_from_the_module_cache() {
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        Host::builder()
            .policy(wasp_actors::Policy::new().trust("*").expect("valid rule"))
            .module_cache(dir.path())
            .build()
            .expect("host builds")
    };
    let first = build();
    load_component(&first, "echo", "echo").await;
    let s = first.module_cache().unwrap().stats();
    assert_eq!((s.hits, s.misses, s.writes), (0, 1, 1), "{s:?}");
    first.shutdown().await;
    let second = build();
    load_component(&second, "echo", "echo").await;
    let s = second.module_cache().unwrap().stats();
    assert_eq!((s.hits, s.misses, s.writes), (1, 0, 0), "{s:?}");
    assert_eq!(second.request("echo", "ping", mp(&"cached")).await.unwrap(), mp(&"cached"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_share_the_pooling_allocator_and_overflow_it() {
    let host = Host::builder()
        .policy(wasp_actors::Policy::new().trust("*").expect("valid rule"))
        .pooling_allocator(2)
        .no_module_cache()
        .build()
        .expect("host builds");
    let names: Vec<String> = (0..5).map(|i| format!("echo{i}")).collect();
    for name in &names {
        load_component(&host, "echo", name).await;
    }
    load(&host, Form::Wasm, "echo", "core").await;
    for name in names.iter().chain([&"core".to_owned()]) {
        let payload = mp(name.as_str());
        assert_eq!(host.request(name, "ping", payload.clone()).await.unwrap(), payload, "{name}");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_with_a_changed_signature_at_this_version_is_refused_as_unlinkable() {
    let host = host();
    let send = "send: func(to: string, topic: string, payload: list<u8>) -> result<_, wire-error>;";
    let wit = world("1.0.0", "").replace(send, "send: func(to: u32);");
    assert_ne!(wit, world("1.0.0", ""), "the test must change the signature");
    let bytes = wasp_fixtures::component_from_wit(&wit).unwrap();
    let err = refused(&host, "changed", &bytes).await;
    assert_eq!(err.to_wire().code, ErrorCode::InvalidArgument, "{err}");
    assert!(matches!(problems(&err), [Problem::Unlinkable(detail)] if detail.contains("send")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_denials_quarantine_a_component_until_the_host_lifts_it() {
    let host = Host::builder()
        .policy(wasp_actors::Policy::new().trust("*").expect("valid rule"))
        .supervision(wasp_actors::Supervision { max_violations: 5, ..wasp_actors::Supervision::default() })
        .build()
        .expect("host builds");
    let mut m = manifest("relay", "relay");
    m.permissions.clear();
    load_component_with(&host, m, "relay").await;
    load_component(&host, "echo", "echo").await;
    let forward = wasp_example_relay::Forward::new("echo", "ping", &"through");
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(host.call::<_, String>("relay", "forward", &forward).await.unwrap_err().code);
    }
    assert_eq!(codes[0], ErrorCode::PermissionDenied);
    assert_eq!(*codes.last().unwrap(), ErrorCode::Unavailable, "{codes:?}");
    assert_eq!(crate::common::info(&host, "relay").state, wasp_actors::PluginState::Quarantined);
    // Echo is untouched; once lifted, the relay answers (and is denied) again.
    assert_eq!(host.request("echo", "ping", mp(&"still")).await.unwrap(), mp(&"still"));
    host.lift_quarantine("relay").await.unwrap();
    let err = host.call::<_, String>("relay", "forward", &forward).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
}
