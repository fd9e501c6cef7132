//! Generates the plugin's permissions (`allow-<command>`, `deny-<command>`)
//! from its commands, and registers the global API script that
//! `withGlobalTauri` apps get as `window.__TAURI_PLUGIN_WASP__`.

const COMMANDS: &[&str] = &[
    "plugins",
    "load_failures",
    "load",
    "unload",
    "reload",
    "request",
    "send",
    "publish",
    "subscribe",
    "unsubscribe",
    "grant",
    "revoke",
    "pending_permissions",
    "answer_permission",
    "audit",
    "tap",
];

fn main() {
    tauri_plugin::Builder::new(COMMANDS).global_api_script_path("./api-iife.js").build();
}
