//! `plugins.wasp` in `tauri.conf.json`, on the mock runtime: folders
//! resolved through Tauri's path API (never the working directory), the
//! policy and limits it sets, refusals that name the setting, and autoload
//! failures the app and the page can see without a tracing subscriber.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tauri::ipc::RuntimeAuthority;
use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::utils::acl::resolved::Resolved;
use tauri::{App, Listener, Manager, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_wasp::{Builder, LOAD_FAILED_EVENT, WaspExt};

mod common;
use common::{allowed_commands, invoke};

/// An app whose `tauri.conf.json` holds `config` under `plugins.wasp`, with
/// `builder`'s settings on top; `main` holds the `default` set.
fn app_with(config: Value, builder: Builder) -> Result<(App<MockRuntime>, WebviewWindow<MockRuntime>), String> {
    let mut context = mock_context(noop_assets());
    context.config_mut().plugins.0.insert("wasp".into(), config);
    let allowed_commands = allowed_commands(&["default"], "main");
    *context.runtime_authority_mut() =
        RuntimeAuthority::new(Default::default(), Resolved { allowed_commands, ..Default::default() });
    let app = mock_builder().plugin(builder.build()).build(context).map_err(|e| e.to_string())?;
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().map_err(|e| e.to_string())?;
    Ok((app, window))
}

/// Waits (up to 60 s) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A folder of its own inside `dir`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(dir: &Path, name: &str) -> Self {
        let path = dir.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the `echo` example bundle into `dir/echo`.
fn copy_echo(dir: &Path) {
    let bundle = wasp_fixtures::wasm_bundle("echo");
    let to = dir.join("echo");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&bundle).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The app's resource folder as Tauri resolves it (beside the executable,
/// on the mock runtime too).
fn resource_dir() -> PathBuf {
    let data = tempfile::tempdir().unwrap();
    let (app, _) = app_with(json!({ "dataDir": data.path() }), Builder::new()).unwrap();
    app.path().resource_dir().unwrap()
}

#[test]
fn a_relative_plugin_folder_is_found_in_the_resource_folder_and_autoloads() {
    let resources = resource_dir();
    let scratch = Scratch::new(&resources, "wasp-config-plugins");
    copy_echo(&scratch.0);
    let relative = scratch.0.file_name().unwrap().to_str().unwrap().to_owned();
    // The working directory (tauri-plugin/ under `cargo test`) holds no such
    // folder: only the resource folder does.
    assert!(!Path::new(&relative).exists());
    let data = tempfile::tempdir().unwrap();
    let config = json!({
        "pluginDirs": [relative, "$APPDATA/plugins"],
        "autoload": true,
        "dataDir": data.path(),
        "policy": { "trust": ["echo"] },
    });
    let (app, window) = app_with(config, Builder::new()).unwrap();
    let dirs = app.wasp().plugin_dirs().to_vec();
    assert_eq!(dirs[0], scratch.0, "a relative folder is taken in the resource folder");
    assert_eq!(dirs[1], app.path().app_data_dir().unwrap().join("plugins"), "$APPDATA is Tauri's");
    wait_for("echo to autoload", || invoke(&window, "plugins", json!({})).unwrap().as_array().unwrap().len() == 1);
    let plugins = invoke(&window, "plugins", json!({})).unwrap();
    assert_eq!(plugins[0]["name"], "echo");
    // `policy.trust` granted what its manifest asks for.
    let held = plugins[0]["permissions"].as_array().unwrap();
    assert!(held.contains(&json!("publish:echo.seen")), "{plugins}");
    assert_eq!(invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": "hi"})).unwrap(), "hi");
}

#[test]
fn failed_autoloads_are_kept_and_sent_to_the_page() {
    let plugins = tempfile::tempdir().unwrap();
    copy_echo(plugins.path());
    let broken = plugins.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("plugin.toml"), "name = \"broken\"\n").unwrap();
    let missing = plugins.path().join("not-there");
    let data = tempfile::tempdir().unwrap();
    let config = json!({ "pluginDirs": [plugins.path(), missing], "autoload": true, "dataDir": data.path() });
    // Listen before the app starts loading: a plugin registered before wasp
    // is set up first (the app's own `setup` hook would run after wasp's,
    // and the failures can be sent before it).
    let (tx, rx) = mpsc::channel();
    let mut context = mock_context(noop_assets());
    context.config_mut().plugins.0.insert("wasp".into(), config);
    let allowed_commands = allowed_commands(&["default"], "main");
    *context.runtime_authority_mut() =
        RuntimeAuthority::new(Default::default(), Resolved { allowed_commands, ..Default::default() });
    let listener = tauri::plugin::Builder::<MockRuntime>::new("listener")
        .setup(move |app, _| {
            app.listen_any(LOAD_FAILED_EVENT, move |event| {
                let _ = tx.send(serde_json::from_str::<Value>(event.payload()).unwrap());
            });
            Ok(())
        })
        .build();
    let app = mock_builder().plugin(listener).plugin(Builder::new().build()).build(context).unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();

    wait_for("two failures", || app.wasp().load_failures().len() == 2);
    let failures = invoke(&window, "load_failures", json!({})).unwrap();
    let failures = failures.as_array().unwrap();
    let of = |path: &Path| {
        failures
            .iter()
            .find(|f| f["path"] == json!(path.display().to_string()))
            .unwrap_or_else(|| panic!("no failure for {}: {failures:?}", path.display()))
    };
    assert_eq!(of(&missing)["code"], "not_found");
    assert!(of(&missing)["message"].as_str().unwrap().contains("cannot be read"), "{failures:?}");
    assert_eq!(of(&broken)["code"], "invalid_argument", "{failures:?}");
    // The one good plugin loaded anyway.
    assert_eq!(invoke(&window, "request", json!({"to": "echo", "topic": "say", "payload": 1})).unwrap(), 1);
    // Each failure reached the page as an event too.
    let mut events =
        vec![rx.recv_timeout(Duration::from_secs(10)).unwrap(), rx.recv_timeout(Duration::from_secs(10)).unwrap()];
    events.sort_by_key(|e| e["path"].as_str().unwrap().to_owned());
    let mut kept = failures.clone();
    kept.sort_by_key(|e| e["path"].as_str().unwrap().to_owned());
    assert_eq!(events, kept);
}

#[test]
fn a_setting_that_cannot_be_used_stops_the_app_and_names_itself() {
    let err = app_with(json!({ "pluginDir": ["plugins"] }), Builder::new()).unwrap_err();
    assert!(err.contains("plugins.wasp") && err.contains("pluginDir"), "{err}");
    let err = app_with(json!({ "limits": { "memory": "lots" } }), Builder::new()).unwrap_err();
    assert!(err.contains("plugins.wasp.limits.memory") && err.contains("`lots` is not a size"), "{err}");
    let err = app_with(json!({ "policy": { "allow": { "echo": ["teleport:*"] } } }), Builder::new()).unwrap_err();
    assert!(err.contains("plugins.wasp.policy.allow.echo"), "{err}");
    let err = app_with(json!({ "askTimeout": "soon" }), Builder::new()).unwrap_err();
    assert!(err.contains("plugins.wasp.askTimeout"), "{err}");
}

#[test]
fn limits_come_from_the_file_and_code_wins() {
    let data = tempfile::tempdir().unwrap();
    let config = json!({ "dataDir": data.path(), "limits": { "cpuBudget": "250ms", "memory": "8 MiB", "requestTimeout": "7s" } });
    let (app, _) = app_with(config.clone(), Builder::new()).unwrap();
    let limits = app.wasp().host().limits().clone();
    assert_eq!(limits.cpu_budget, Duration::from_millis(250));
    assert_eq!(limits.max_memory, 8 << 20);
    assert_eq!(limits.request_timeout, Duration::from_secs(7));
    let other = tempfile::tempdir().unwrap();
    let mut config = config;
    config["dataDir"] = json!(other.path());
    let builder = Builder::new().configure(|host| host.cpu_budget(Duration::from_millis(40)));
    let (app, _) = app_with(config, builder).unwrap();
    let limits = app.wasp().host().limits().clone();
    assert_eq!(limits.cpu_budget, Duration::from_millis(40), "`configure` runs after the file");
    assert_eq!(limits.max_memory, 8 << 20, "what code does not set stays the file's");
}

#[test]
fn a_missing_section_is_the_builder_alone() {
    let data = tempfile::tempdir().unwrap();
    let (app, _) = app_with(Value::Null, Builder::new().data_dir(data.path())).unwrap();
    assert!(app.wasp().plugin_dirs().is_empty());
    assert!(app.wasp().load_failures().is_empty());
    assert_eq!(app.wasp().host().limits().cpu_budget, wasp_actors::Limits::default().cpu_budget);
}
