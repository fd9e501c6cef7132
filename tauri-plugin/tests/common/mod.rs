//! What the plugin's integration tests share: the permission sets of
//! `permissions/default.toml` as the mock runtime's authority, and invoking
//! a command as a webview does.
#![allow(dead_code, reason = "each test binary uses what it needs")]

use std::collections::BTreeMap;

use serde_json::Value;
use tauri::WebviewWindow;
use tauri::ipc::{CallbackFn, InvokeBody, InvokeResponseBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response};
use tauri::utils::acl::resolved::ResolvedCommand;
use tauri::webview::InvokeRequest;

/// The commands a permission set of `permissions/default.toml` allows.
pub(crate) fn set_commands(set: &str) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/permissions/default.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let permissions = if set == "default" {
        doc["default"]["permissions"].as_array().unwrap().clone()
    } else {
        let sets = doc["set"].as_array().unwrap();
        let found =
            sets.iter().find(|s| s["identifier"].as_str() == Some(set)).unwrap_or_else(|| panic!("no set {set}"));
        found["permissions"].as_array().unwrap().clone()
    };
    permissions.iter().map(|p| p.as_str().unwrap().strip_prefix("allow-").unwrap().replace('-', "_")).collect()
}

/// The commands of `sets`, allowed to the window labelled `window`.
pub(crate) fn allowed_commands(sets: &[&str], window: &str) -> BTreeMap<String, Vec<ResolvedCommand>> {
    let mut allowed = BTreeMap::new();
    for set in sets {
        for command in set_commands(set) {
            let resolved = ResolvedCommand { windows: vec![glob::Pattern::new(window).unwrap()], ..Default::default() };
            allowed.insert(format!("plugin:wasp|{command}"), vec![resolved]);
        }
    }
    allowed
}

pub(crate) fn invoke_with(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    body: InvokeBody,
    headers: &[(&'static str, &str)],
) -> Result<InvokeResponseBody, Value> {
    let mut map = tauri::http::HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, v.parse().unwrap());
    }
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: format!("plugin:wasp|{cmd}"),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: if cfg!(windows) { "http://tauri.localhost" } else { "tauri://localhost" }.parse().unwrap(),
            body,
            headers: map,
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
}

pub(crate) fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    invoke_with(window, cmd, InvokeBody::Json(args), &[]).map(|body| body.deserialize::<Value>().unwrap())
}
