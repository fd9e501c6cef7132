//! Scopes in capabilities, on the mock runtime: two windows holding the
//! same permission set with different `wasp` scopes reach different
//! plugins and topics.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tauri::ipc::RuntimeAuthority;
use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::utils::acl::resolved::{Resolved, ResolvedCommand, ResolvedScope};
use tauri::{App, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_wasp::{Builder, WaspExt};
use wasp_actors::Policy;

mod common;
use common::{invoke, set_commands};

/// A window's scope: what its capability allows and denies.
struct WindowScope {
    label: &'static str,
    allow: Vec<Value>,
    deny: Vec<Value>,
}

/// An app whose windows each hold `wasp:default` with their own scope,
/// with `echo` and `counter` loaded.
fn app(windows: &[WindowScope], data: &std::path::Path) -> (App<MockRuntime>, Vec<WebviewWindow<MockRuntime>>) {
    let mut allowed: BTreeMap<String, Vec<ResolvedCommand>> = BTreeMap::new();
    let mut command_scope = BTreeMap::new();
    for (id, window) in windows.iter().enumerate() {
        let id = id as u64;
        command_scope.insert(
            id,
            ResolvedScope {
                allow: window.allow.iter().cloned().map(Into::into).collect(),
                deny: window.deny.iter().cloned().map(Into::into).collect(),
            },
        );
        for command in set_commands("default") {
            let resolved = ResolvedCommand {
                windows: vec![glob::Pattern::new(window.label).unwrap()],
                scope_id: Some(id),
                ..Default::default()
            };
            allowed.entry(format!("plugin:wasp|{command}")).or_default().push(resolved);
        }
    }
    let mut context = mock_context(noop_assets());
    let resolved = Resolved { allowed_commands: allowed, command_scope, ..Default::default() };
    *context.runtime_authority_mut() = RuntimeAuthority::new(Default::default(), resolved);
    let policy = Policy::new().trust("echo").unwrap().trust("counter").unwrap();
    let plugin = Builder::new().policy(policy).data_dir(data).build();
    let app = mock_builder().plugin(plugin).build(context).unwrap();
    for name in ["echo", "counter"] {
        tauri::async_runtime::block_on(app.wasp().load(wasp_fixtures::wasm_bundle(name))).unwrap();
    }
    let webviews =
        windows.iter().map(|w| WebviewWindowBuilder::new(&app, w.label, Default::default()).build().unwrap()).collect();
    (app, webviews)
}

fn code(result: Result<Value, Value>) -> String {
    match result {
        Ok(value) => format!("ok: {value}"),
        Err(e) => e["code"].as_str().unwrap_or("no code").to_owned(),
    }
}

#[test]
fn two_windows_with_different_scopes_reach_different_plugins_and_topics() {
    let data = tempfile::tempdir().unwrap();
    let windows = [
        WindowScope {
            label: "main",
            allow: vec![json!({ "plugin": "echo" }), json!({ "topic": "echo.*" })],
            deny: vec![],
        },
        WindowScope {
            label: "prefs",
            allow: vec![json!({ "plugin": "counter" })],
            deny: vec![json!({ "topic": "counter.secret.*" })],
        },
    ];
    let (_app, webviews) = app(&windows, data.path());
    let (main, prefs) = (&webviews[0], &webviews[1]);
    let say = |to: &str| json!({ "to": to, "topic": "say", "payload": "hi" });

    // `main`: echo and echo's topics only.
    assert_eq!(invoke(main, "request", say("echo")).unwrap(), "hi");
    assert_eq!(code(invoke(main, "request", say("counter"))), "permission_denied");
    assert_eq!(code(invoke(main, "send", say("counter"))), "permission_denied");
    let refused = invoke(main, "request", say("counter")).unwrap_err();
    assert!(refused["message"].as_str().unwrap().contains("`counter` is outside this window's wasp plugin scope"));
    assert!(invoke(main, "subscribe", json!({ "pattern": "echo.*", "channel": "__CHANNEL__:1" })).is_ok());
    assert_eq!(
        code(invoke(main, "subscribe", json!({ "pattern": "*", "channel": "__CHANNEL__:2" }))),
        "permission_denied"
    );
    assert!(invoke(main, "publish", json!({ "topic": "echo.note", "payload": 1 })).is_ok());
    assert_eq!(code(invoke(main, "publish", json!({ "topic": "counter.reset" }))), "permission_denied");

    // `prefs`: counter only; every topic but those overlapping the denied ones.
    assert_eq!(invoke(prefs, "request", json!({ "to": "counter", "topic": "add", "payload": 2 })).unwrap(), 2);
    assert_eq!(code(invoke(prefs, "request", say("echo"))), "permission_denied");
    assert!(invoke(prefs, "subscribe", json!({ "pattern": "counter.changed", "channel": "__CHANNEL__:3" })).is_ok());
    let refused =
        invoke(prefs, "subscribe", json!({ "pattern": "counter.*", "channel": "__CHANNEL__:4" })).unwrap_err();
    assert_eq!(refused["code"], "permission_denied");
    assert!(refused["message"].as_str().unwrap().contains("`counter.secret.*`"), "{refused}");
    assert_eq!(code(invoke(prefs, "publish", json!({ "topic": "counter.secret.key" }))), "permission_denied");
    assert!(invoke(prefs, "publish", json!({ "topic": "counter.reset" })).is_ok());
}

#[test]
fn a_window_without_a_scope_reaches_every_plugin() {
    let data = tempfile::tempdir().unwrap();
    let (_app, webviews) = app(&[WindowScope { label: "main", allow: vec![], deny: vec![] }], data.path());
    let main = &webviews[0];
    assert_eq!(invoke(main, "request", json!({ "to": "echo", "topic": "say", "payload": 1 })).unwrap(), 1);
    assert_eq!(invoke(main, "request", json!({ "to": "counter", "topic": "add", "payload": 1 })).unwrap(), 1);
    assert!(invoke(main, "subscribe", json!({ "pattern": "*", "channel": "__CHANNEL__:5" })).is_ok());
}
