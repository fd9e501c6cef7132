//! The plugin's commands through Tauri's IPC on the mock runtime (no
//! display): real WASM plugins, a real host and database, and the access
//! control of the plugin's permission sets as `permissions/` defines them.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use tauri::ipc::{InvokeBody, InvokeResponseBody, RuntimeAuthority};
use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::utils::acl::resolved::Resolved;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_wasp::{Ask, Builder, WaspExt};
use wasp_actors::Policy;

mod common;
use common::{allowed_commands, invoke, invoke_with, set_commands};

/// An app with the wasp plugin, whose window `main` holds the given sets.
fn app(sets: &[&str], ask: Ask, data: &std::path::Path) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    app_on(mock_builder(), sets, ask, data)
}

/// [`app`] from a given builder.
fn app_on(
    builder: tauri::Builder<MockRuntime>,
    sets: &[&str],
    ask: Ask,
    data: &std::path::Path,
) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let mut context = mock_context(noop_assets());
    let allowed_commands = allowed_commands(sets, "main");
    *context.runtime_authority_mut() =
        RuntimeAuthority::new(Default::default(), Resolved { allowed_commands, ..Default::default() });
    let bundles = wasp_fixtures::wasm_bundle("echo").parent().unwrap().to_owned();
    let _ = wasp_fixtures::wasm_bundle("counter");
    let _ = wasp_fixtures::wasm_bundle("relay");
    let policy = Policy::new().allow("echo", "*").unwrap().allow("counter", "*").unwrap().allow("relay", "*").unwrap();
    let plugin = Builder::new().plugin_dir(&bundles).policy(policy).ask(ask).data_dir(data).build();
    let app = builder.plugin(plugin).build(context).unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    (app, window)
}

fn load(window: &WebviewWindow<MockRuntime>, name: &str) -> Value {
    invoke(window, "load", json!({"path": name})).unwrap_or_else(|e| panic!("load {name}: {e}"))
}

#[test]
fn requests_convert_json_once_and_raw_bytes_pass_through() {
    let data = tempfile::tempdir().unwrap();
    let (_app, window) = app(&["default", "manage"], Ask::Deny, data.path());
    let loaded = load(&window, "echo");
    assert_eq!(loaded["name"], "echo");
    assert_eq!(loaded["kind"], "wasm");

    let reply = invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": {"text": "hi", "n": 3}}));
    assert_eq!(reply.unwrap(), json!({"text": "hi", "n": 3}));

    // Raw: MessagePack in the body, the same bytes back as raw bytes.
    let packed = rmp_serde::to_vec(&("raw", 7u8)).unwrap();
    let body =
        invoke_with(&window, "request", InvokeBody::Raw(packed.clone()), &[("wasp-to", "echo"), ("wasp-topic", "say")])
            .unwrap();
    match body {
        InvokeResponseBody::Raw(bytes) => assert_eq!(bytes, packed),
        InvokeResponseBody::Json(json) => panic!("a raw request got JSON back: {json}"),
    }
    // `len` answers the payload's size in bytes: the JSON became compact MessagePack.
    let len = invoke(&window, "request", json!({"to": "echo", "topic": "len", "payload": [1, 2, 3]})).unwrap();
    assert_eq!(len, json!(rmp_serde::to_vec(&[1, 2, 3]).unwrap().len()));

    let plugins = invoke(&window, "plugins", json!({})).unwrap();
    let echo = &plugins.as_array().unwrap()[0];
    assert_eq!(echo["name"], "echo");
    assert_eq!(echo["state"], "running");
    assert_eq!(echo["hasUi"], false);
    assert!(echo["metrics"]["handled"].as_u64().unwrap() >= 3, "{echo}");
}

#[test]
fn failures_reject_with_a_code_and_a_message() {
    let data = tempfile::tempdir().unwrap();
    let (_app, window) = app(&["default", "manage"], Ask::Deny, data.path());
    let code = |r: Result<Value, Value>| r.unwrap_err()["code"].as_str().unwrap().to_owned();

    assert_eq!(code(invoke(&window, "request", json!({"to": "ghost", "topic": "x"}))), "not_found");
    assert_eq!(code(invoke(&window, "request", json!({"topic": "x"}))), "invalid_payload");
    assert_eq!(code(invoke(&window, "request", json!({"to": "echo", "topic": 5}))), "invalid_payload");
    let raw = invoke_with(&window, "request", InvokeBody::Raw(vec![0xc0]), &[("wasp-to", "echo")]);
    assert_eq!(raw.unwrap_err()["code"], "invalid_payload");
    assert_eq!(code(invoke(&window, "load", json!({"path": "/etc"}))), "outside_plugin_dirs");
    assert_eq!(code(invoke(&window, "load", json!({"path": "../../.."}))), "outside_plugin_dirs");
    assert_eq!(code(invoke(&window, "load", json!({"path": "nothing-here"}))), "not_found");
    assert_eq!(code(invoke(&window, "unload", json!({"name": "ghost"}))), "not_loaded");
    load(&window, "echo");
    assert_eq!(code(invoke(&window, "load", json!({"path": "echo"}))), "already_loaded");
    let err = invoke(&window, "grant", json!({"plugin": "echo", "permission": "no such thing"})).unwrap_err();
    assert_eq!(err["code"], "invalid_argument");
    assert!(err["message"].as_str().unwrap().contains("no such thing"), "{err}");
}

#[test]
fn the_default_set_allows_messaging_but_not_loading() {
    let data = tempfile::tempdir().unwrap();
    let (app, window) = app(&["default"], Ask::Deny, data.path());
    let refused = invoke(&window, "load", json!({"path": "echo"})).unwrap_err();
    assert!(refused.to_string().contains("not allowed"), "{refused}");
    assert!(invoke(&window, "answer_permission", json!({"id": 1, "allow": true})).is_err());
    // Host code loads; the webview talks.
    tauri::async_runtime::block_on(app.wasp().load(wasp_fixtures::wasm_bundle("echo"))).unwrap();
    assert_eq!(invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": "x"})).unwrap(), "x");
}

/// [`app`] whose webview channels are observed: what the plugin sends on
/// channel `__CHANNEL__:<n>` arrives as `(n, JSON)`.
fn app_with_channels(
    sets: &[&str],
    data: &std::path::Path,
) -> (App<MockRuntime>, WebviewWindow<MockRuntime>, mpsc::Receiver<(u32, Value)>) {
    let (tx, rx) = mpsc::channel::<(u32, Value)>();
    let tx = std::sync::Mutex::new(tx);
    let builder = mock_builder().channel_interceptor(move |_, channel, _, body| {
        if let InvokeResponseBody::Json(json) = body {
            let _ = tx.lock().unwrap().send((channel.0, serde_json::from_str(json).unwrap()));
        }
        true
    });
    let (app, window) = app_on(builder, sets, Ask::Deny, data);
    (app, window, rx)
}

#[test]
fn plugin_events_reach_the_subscribing_webviews_channel_until_unsubscribed() {
    let data = tempfile::tempdir().unwrap();
    let (app, window, rx) = app_with_channels(&["default", "manage"], data.path());
    load(&window, "counter");
    // Plugin events reach a webview on topics the plugin holds `ui:` for.
    invoke(&window, "grant", json!({"plugin": "counter", "permission": "ui:counter.*"})).unwrap();
    let subscribed =
        invoke(&window, "subscribe", json!({"pattern": "counter.*", "channel": "__CHANNEL__:41"})).unwrap();
    let id = subscribed["id"].as_u64().unwrap();
    assert_eq!(subscribed, json!({ "id": id }), "no event name to listen to: the channel is the only way in");
    for n in 1..=3 {
        invoke(&window, "request", json!({"to": "counter", "topic": "add", "payload": n})).unwrap();
    }
    // In order, on the webview's own channel.
    for total in [1, 3, 6] {
        let (channel, event) = rx.recv_timeout(Duration::from_secs(10)).expect("the event reached the webview");
        assert_eq!(channel, 41);
        assert_eq!(event, json!({"subscription": id, "topic": "counter.changed", "from": "counter", "payload": total}));
    }
    assert_eq!(app.wasp().subscriptions(), 1);

    invoke(&window, "unsubscribe", json!({"id": id})).unwrap();
    assert_eq!(app.wasp().subscriptions(), 0);
    invoke(&window, "request", json!({"to": "counter", "topic": "add", "payload": 1})).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "no event after unsubscribing");
    assert_eq!(invoke(&window, "unsubscribe", json!({"id": id})).unwrap_err()["code"], "not_found");
    let no_channel = invoke(&window, "subscribe", json!({"pattern": "counter.*"}));
    assert!(no_channel.is_err(), "a subscription needs a channel");
    let not_a_channel = invoke(&window, "subscribe", json!({"pattern": "counter.*", "channel": "wasp://event/x"}));
    assert!(not_a_channel.is_err(), "a subscription needs a channel");
}

#[test]
fn a_webview_cannot_end_another_webviews_subscription() {
    let data = tempfile::tempdir().unwrap();
    let (app, window) = app(&["default", "manage"], Ask::Deny, data.path());
    let other = WebviewWindowBuilder::new(&app, "other", Default::default()).build().unwrap();
    let id = invoke(&window, "subscribe", json!({"pattern": "x.*", "channel": "__CHANNEL__:1"})).unwrap()["id"].clone();
    // `other` holds no capability at all; give the check a chance by asking as `main`'s peer.
    assert!(invoke(&other, "unsubscribe", json!({"id": id})).is_err());
    assert_eq!(app.wasp().subscriptions(), 1);
    invoke(&window, "unsubscribe", json!({"id": id})).unwrap();
    assert_eq!(app.wasp().subscriptions(), 0);
}

#[test]
fn a_plugin_without_a_ui_grant_does_not_reach_the_webview() {
    let data = tempfile::tempdir().unwrap();
    let (_app, window, rx) = app_with_channels(&["default", "manage"], data.path());
    load(&window, "counter");
    invoke(&window, "grant", json!({"plugin": "counter", "permission": "ui:other.*"})).unwrap();
    invoke(&window, "subscribe", json!({"pattern": "counter.*", "channel": "__CHANNEL__:5"})).unwrap();
    invoke(&window, "request", json!({"to": "counter", "topic": "add", "payload": 2})).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "an event without `ui:` reached the webview");
}

#[test]
fn a_panel_acts_under_its_plugins_permissions() {
    let data = tempfile::tempdir().unwrap();
    let (app, window) = app(&["default", "manage"], Ask::Deny, data.path());
    load(&window, "counter");
    load(&window, "echo");
    // Its own plugin: always.
    let own = invoke(&window, "request", json!({"to": "counter", "topic": "add", "payload": 2, "panel": "counter"}));
    assert_eq!(own.unwrap(), 2);
    // Another plugin: only with `request:echo`, which counter lacks.
    let other = invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": 1, "panel": "counter"}));
    let err = other.unwrap_err();
    assert_eq!(err["code"], "permission_denied");
    assert!(err["message"].as_str().unwrap().contains("request:echo"), "{err}");
    let published = invoke(&window, "publish", json!({"topic": "elsewhere", "payload": 1, "panel": "counter"}));
    assert_eq!(published.unwrap_err()["code"], "permission_denied");
    invoke(&window, "publish", json!({"topic": "counter.changed", "payload": 9, "panel": "counter"})).unwrap();
    // The refusal is audited against the plugin.
    let audit = invoke(&window, "audit", json!({})).unwrap();
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["plugin"] == "counter" && e["kind"]["type"] == "permission_denied"),
        "{audit}"
    );
    assert!(app.wasp().host().plugins().iter().any(|p| p.name == "counter" && p.denied >= 2));
    // Its UI folder is known to the host, for the `wasp-ui` scheme.
    assert!(app.wasp().host().ui_dir("counter").unwrap().join("index.html").is_file());
    let plugins = invoke(&window, "plugins", json!({})).unwrap();
    assert!(plugins.as_array().unwrap().iter().any(|p| p["name"] == "counter" && p["hasUi"] == true));
}

#[test]
fn the_webview_answers_permission_questions_and_the_answer_is_remembered() {
    let data = tempfile::tempdir().unwrap();
    let (app, window) = app(&["default", "manage", "ask"], Ask::Webview, data.path());
    let (tx, rx) = mpsc::channel();
    app.listen_any("wasp://permission", move |event| {
        tx.send(serde_json::from_str::<Value>(event.payload()).unwrap()).unwrap();
    });
    // `notes` asks for permissions no rule decides: the load waits for answers.
    let _ = wasp_fixtures::wasm_bundle("notes");
    let wasp_window = window.clone();
    let loading = std::thread::spawn(move || invoke(&wasp_window, "load", json!({"path": "notes"})));
    let mut asked = Vec::new();
    while let Ok(ask) = rx.recv_timeout(Duration::from_secs(20)) {
        let pending = invoke(&window, "pending_permissions", json!({})).unwrap();
        assert!(pending.as_array().unwrap().iter().any(|p| p["id"] == ask["id"]), "{pending}");
        assert_eq!(ask["plugin"], "notes");
        let allow = ask["permission"] != "storage";
        invoke(&window, "answer_permission", json!({"id": ask["id"], "allow": allow})).unwrap();
        asked.push(ask["permission"].as_str().unwrap().to_owned());
        if asked.len() == 7 {
            break;
        }
    }
    let loaded = loading.join().unwrap().unwrap();
    assert_eq!(asked, ["storage", "timers", "clock", "random", "config", "publish:notes.*", "call:files.pick"]);
    assert_eq!(loaded["refused"], json!(["storage"]));
    let denied = invoke(&window, "request", json!({"to": "notes", "topic": "add", "payload": {"text": "x"}}));
    assert_eq!(denied.unwrap_err()["code"], "permission_denied");
    assert_eq!(
        invoke(&window, "answer_permission", json!({"id": 999, "allow": true})).unwrap_err()["code"],
        "not_found"
    );

    // Remembered: loading again asks nothing.
    invoke(&window, "unload", json!({"name": "notes"})).unwrap();
    let again = load(&window, "notes");
    assert_eq!(again["refused"], json!(["storage"]));
    assert!(rx.try_recv().is_err(), "a remembered answer was asked again");
}

#[test]
fn an_unanswered_question_denies_without_remembering() {
    let data = tempfile::tempdir().unwrap();
    let bundles = wasp_fixtures::wasm_bundle("notes").parent().unwrap().to_owned();
    let mut context = mock_context(noop_assets());
    *context.runtime_authority_mut() = RuntimeAuthority::new(Default::default(), Resolved::default());
    let plugin = Builder::new()
        .plugin_dir(&bundles)
        .ask(Ask::Webview)
        .ask_timeout(Duration::from_millis(50))
        .data_dir(data.path())
        .build();
    let app = mock_builder().plugin(plugin).build(context).unwrap();
    let loaded = tauri::async_runtime::block_on(app.wasp().load(bundles.join("notes"))).unwrap();
    assert_eq!(loaded.granted().len(), 0);
    assert_eq!(loaded.refused().len(), 7, "notes asks for seven permissions");
    let log = app.wasp().host().audit_log();
    assert!(log.iter().any(|e| e.message.contains("(unanswered)")), "{log:?}");
    // Not remembered: asked again (and unanswered again) on the next load.
    tauri::async_runtime::block_on(app.wasp().host().unload("notes")).unwrap();
    let before = app.wasp().host().audit_log().iter().filter(|e| e.message.contains("(unanswered)")).count();
    tauri::async_runtime::block_on(app.wasp().load(bundles.join("notes"))).unwrap();
    let after = app.wasp().host().audit_log().iter().filter(|e| e.message.contains("(unanswered)")).count();
    assert_eq!(after, before + 7);
}

#[test]
fn reload_swaps_the_code_and_keeps_the_name() {
    let data = tempfile::tempdir().unwrap();
    let (app, window) = app(&["default", "manage"], Ask::Deny, data.path());
    load(&window, "counter");
    invoke(&window, "request", json!({"to": "counter", "topic": "add", "payload": 4})).unwrap();
    let reloaded = invoke(&window, "reload", json!({"name": "counter"})).unwrap();
    assert_eq!(reloaded["name"], "counter");
    // New code, the same state: the counter handed its value over.
    assert_eq!(invoke(&window, "request", json!({"to": "counter", "topic": "get"})).unwrap(), 4);
    assert!(app.wasp().host().audit_log().iter().any(|e| e.plugin == "counter" && e.message.contains("reloaded")));
    assert_eq!(invoke(&window, "reload", json!({"name": "ghost"})).unwrap_err()["code"], "not_loaded");
}

#[test]
fn a_panels_subscription_follows_its_plugins_grants_event_by_event() {
    let data = tempfile::tempdir().unwrap();
    let (app, window, rx) = app_with_channels(&["default", "manage"], data.path());
    load(&window, "counter");
    let channel = "__CHANNEL__:9";
    let refused = invoke(&window, "subscribe", json!({"pattern": "news.*", "panel": "counter", "channel": channel}));
    assert_eq!(refused.unwrap_err()["code"], "permission_denied");
    invoke(&window, "grant", json!({"plugin": "counter", "permission": "subscribe:news.*"})).unwrap();
    invoke(&window, "subscribe", json!({"pattern": "news.*", "panel": "counter", "channel": channel})).unwrap();
    let host = app.wasp().host();
    host.publish("news.first", rmp_serde::to_vec(&1).unwrap()).unwrap();
    let (_, first) = rx.recv_timeout(Duration::from_secs(10)).expect("the panel got the event");
    assert_eq!(first["topic"], "news.first");
    // Revoked: the next event does not reach the panel.
    invoke(&window, "revoke", json!({"plugin": "counter", "permission": "subscribe:news.*"})).unwrap();
    host.publish("news.second", rmp_serde::to_vec(&2).unwrap()).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "a revoked panel subscription still delivered");
}

#[test]
fn a_tap_streams_every_message_to_the_webviews_channel() {
    assert!(set_commands("manage").contains(&"tap".to_owned()));
    assert!(!set_commands("default").contains(&"tap".to_owned()), "tapping is for trusted windows");
    let data = tempfile::tempdir().unwrap();
    let (app, window, rx) = app_with_channels(&["default", "manage"], data.path());
    load(&window, "echo");
    assert_eq!(app.wasp().host().open_taps(), 0);
    invoke(&window, "tap", json!({"channel": "__CHANNEL__:77"})).unwrap();
    assert_eq!(app.wasp().host().open_taps(), 1);

    assert_eq!(invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": "hi"})).unwrap(), "hi");
    let record = loop {
        let (channel, record) = rx.recv_timeout(Duration::from_secs(10)).expect("a tap record");
        assert_eq!(channel, 77);
        if record["to"] == "echo" {
            break record;
        }
    };
    assert_eq!(record["kind"], "request", "{record}");
    assert_eq!((&record["from"], &record["topic"]), (&json!("host"), &json!("say")), "{record}");
    assert_eq!(record["size"], 3, "{record}: \"hi\" is 3 bytes of MessagePack");
    assert_eq!(record["outcome"], json!({"status": "ok"}), "{record}");
    assert!(record["handled_nanos"].as_u64().unwrap() > 0, "{record}");
    assert!(record["enqueued_unix_ms"].as_u64().unwrap() > 0, "{record}");
}

/// The raw MessagePack of a relay `Forward` to the app's `function`.
fn forward_to_app(function: &str, body: &str) -> Vec<u8> {
    let mut inner = Vec::new();
    rmpv::encode::write_value(&mut inner, &rmpv::Value::from(body)).unwrap();
    let forward = rmpv::Value::Map(vec![
        ("to".into(), "host".into()),
        ("topic".into(), function.into()),
        ("body".into(), rmpv::Value::Binary(inner)),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &forward).unwrap();
    bytes
}

/// Asks relay (on another thread: the call blocks) to call the app's
/// `function`, with `headers` added to the raw request.
fn ask_relay(
    window: &WebviewWindow<MockRuntime>,
    function: &str,
    extra: &[(&'static str, &'static str)],
) -> std::thread::JoinHandle<Result<Value, Value>> {
    let (window, body) = (window.clone(), forward_to_app(function, "from the plugin"));
    let mut headers = vec![("wasp-to", "relay"), ("wasp-topic", "forward")];
    headers.extend_from_slice(extra);
    std::thread::spawn(move || {
        invoke_with(&window, "request", InvokeBody::Raw(body), &headers).map(|reply| {
            let InvokeResponseBody::Raw(bytes) = reply else { panic!("a raw reply") };
            wasp_protocol::json::to_json(&bytes).unwrap()
        })
    })
}

#[test]
fn a_webview_serves_a_function_that_plugins_call_and_answers_it() {
    let data = tempfile::tempdir().unwrap();
    let (app, window, rx) = app_with_channels(&["default", "manage", "serve"], data.path());
    load(&window, "relay");
    invoke(&window, "grant", json!({"plugin": "relay", "permission": "call:files.pick"})).unwrap();
    invoke(&window, "serve", json!({"function": "files.pick", "channel": "__CHANNEL__:7"})).unwrap();
    assert_eq!(app.wasp().host().served(), ["files.pick"]);

    // A call arrives on the page's channel; the page's answer is the plugin's.
    let asking = ask_relay(&window, "files.pick", &[]);
    let (channel, call) = rx.recv_timeout(Duration::from_secs(10)).expect("the call reached the page");
    assert_eq!(channel, 7);
    assert_eq!(
        (&call["kind"], &call["function"], &call["plugin"]),
        (&json!("call"), &json!("files.pick"), &json!("relay"))
    );
    assert_eq!(call["payload"], "from the plugin");
    // Only the serving webview answers its calls.
    let other = WebviewWindowBuilder::new(&app, "other", Default::default()).build().unwrap();
    assert!(invoke(&other, "answer", json!({"id": call["id"], "payload": "forged"})).is_err());
    invoke(&window, "answer", json!({"id": call["id"], "payload": {"name": "notes.txt"}})).unwrap();
    assert_eq!(asking.join().unwrap().unwrap(), json!({"name": "notes.txt"}));
    assert_eq!(invoke(&window, "answer", json!({"id": call["id"], "payload": 1})).unwrap_err()["code"], "not_found");

    // An error the page answers reaches the plugin with code `plugin`.
    let asking = ask_relay(&window, "files.pick", &[]);
    let (_, call) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    invoke(&window, "answer", json!({"id": call["id"], "error": "the user closed the dialog"})).unwrap();
    let err = asking.join().unwrap().unwrap_err();
    assert_eq!((err["code"].as_str(), err["message"].as_str()), (Some("plugin"), Some("the user closed the dialog")));

    // Withdrawn, the function is gone; a name is served once at a time.
    invoke(&window, "withdraw", json!({"function": "files.pick"})).unwrap();
    assert_eq!(ask_relay(&window, "files.pick", &[]).join().unwrap().unwrap_err()["code"], "not_found");
    invoke(&window, "serve", json!({"function": "files.pick", "channel": "__CHANNEL__:8"})).unwrap();
    assert!(invoke(&window, "serve", json!({"function": "files.pick", "channel": "__CHANNEL__:9"})).is_err());
    invoke(&window, "withdraw", json!({"function": "files.pick"})).unwrap();
    assert!(app.wasp().host().served().is_empty());
}

#[test]
fn a_webview_cancels_its_own_request_with_its_ticket() {
    let data = tempfile::tempdir().unwrap();
    let (app, window, rx) = app_with_channels(&["default", "manage", "serve"], data.path());
    load(&window, "relay");
    invoke(&window, "grant", json!({"plugin": "relay", "permission": "call:files.pick"})).unwrap();
    invoke(&window, "serve", json!({"function": "files.pick", "channel": "__CHANNEL__:7"})).unwrap();
    // The relay waits on the page, which does not answer; the page gives up.
    let asking = ask_relay(&window, "files.pick", &[("wasp-cancel", "ticket-1")]);
    let (_, call) = rx.recv_timeout(Duration::from_secs(10)).expect("the call reached the page");
    // Another webview's cancel with the same ticket is another ticket.
    let other = WebviewWindowBuilder::new(&app, "other", Default::default()).build().unwrap();
    let _ = invoke(&other, "cancel", json!({"ticket": "ticket-1"}));
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    invoke(&window, "cancel", json!({"ticket": "ticket-1"})).unwrap();
    let err = asking.join().unwrap().unwrap_err();
    assert_eq!(err["code"], "cancelled", "{err}");
    // The call the relay made goes on; answering it is harmless.
    invoke(&window, "answer", json!({"id": call["id"], "payload": null})).unwrap();
    // A cancel that arrives first waits for its request; bad tickets are refused.
    load(&window, "echo");
    invoke(&window, "cancel", json!({"ticket": "early"})).unwrap();
    let err = invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": 1, "cancel": "early"}));
    assert_eq!(err.unwrap_err()["code"], "cancelled");
    let long = "x".repeat(129);
    assert_eq!(invoke(&window, "cancel", json!({"ticket": long})).unwrap_err()["code"], "invalid_payload");
    assert_eq!(invoke(&window, "cancel", json!({"ticket": ""})).unwrap_err()["code"], "invalid_payload");
}
