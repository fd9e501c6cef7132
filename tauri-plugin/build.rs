//! Generates the plugin's permissions (`allow-<command>`, `deny-<command>`)
//! from its commands and the JSON schema of its scope entries (for the
//! app's capability files), and registers the global API script that
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
    "cancel",
    "serve",
    "answer",
    "withdraw",
    "grant",
    "revoke",
    "pending_permissions",
    "answer_permission",
    "audit",
    "tap",
];

/// One entry of a `wasp` scope in a capability: the schema twin of
/// `scope::Entry` (src/scope.rs), which the plugin deserializes; a unit test
/// there checks both accept the same keys.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code, reason = "only its schema is used")]
struct ScopeEntry {
    /// Plugins this window may `request` and `send` to: a name, or a prefix
    /// ending in `*`.
    plugin: Option<String>,
    /// Topics this window may `publish` and `subscribe` to: a topic, or a
    /// prefix ending in `*`.
    topic: Option<String>,
}

fn main() {
    tauri_plugin::Builder::new(COMMANDS)
        .global_api_script_path("./api-iife.js")
        .global_scope_schema(schemars::schema_for!(ScopeEntry))
        .build();
}
