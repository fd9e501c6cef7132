//! The wasp Tauri example: a desktop app whose page talks to wasp plugins.
//!
//! At start the app builds the example plugins (with cargo, through
//! `wasp-fixtures`: the first run compiles them) and loads `echo`,
//! `counter` (which brings its own UI panel), `spinner` and `notes`. Built
//! as a bundle (`scripts/bundle-app`, with `tauri.bundle.conf.json`), it
//! builds nothing: the plugins ship in its resource folder, which that
//! configuration names in `plugins.wasp.pluginDirs`, and `wasp-node` ships
//! beside the executable (docs/tauri.md#bundling). The
//! policy grants the first three what their manifests request; `notes`'
//! permissions are asked in the page ([`Ask::Webview`]), and its load waits
//! for the answers. The CPU budget per message is short, so `spinner`'s
//! runaway `spin` is preempted within [`CPU_BUDGET`] while the others keep
//! answering.
//!
//! The page is the static `dist/` folder (no bundler, no Node): it uses the
//! `window.__TAURI_PLUGIN_WASP__` global the plugin injects.
//!
//! Run it with `cargo run -p wasp-tauri-app`. The host's database (plugin
//! storage, remembered permission answers) lives in the app's data
//! directory, or in `$WASP_APP_DATA_DIR` when set: the end-to-end test gives
//! each run a fresh one.

use std::path::PathBuf;
use std::time::Duration;

use tauri::AppHandle;
use tauri_plugin_wasp::{Ask, WaspExt};
use wasp_actors::Policy;

/// The example plugins, in load order: `notes` last, as its load waits for
/// the user.
const PLUGINS: [&str; 4] = ["echo", "counter", "spinner", "notes"];

/// CPU time one message may take before the host stops it.
const CPU_BUDGET: Duration = Duration::from_millis(250);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let context = tauri::generate_context!();
    let source = Source::of(context.config());
    let mut wasp = tauri_plugin_wasp::Builder::new()
        .policy(policy()?)
        .ask(Ask::Webview)
        .configure(|host| host.cpu_budget(CPU_BUDGET));
    if source == Source::Built {
        wasp = wasp.plugin_dir(wasp_fixtures::target_dir().join("wasp-bundles"));
    }
    if let Some(dir) = std::env::var_os("WASP_APP_DATA_DIR") {
        wasp = wasp.data_dir(dir);
    }
    tauri::Builder::default()
        .plugin(wasp.build())
        .setup(move |app| {
            let app = app.handle().clone();
            tauri::async_runtime::spawn(async move { load_examples(&app, source).await });
            Ok(())
        })
        .run(context)?;
    Ok(())
}

/// Where the example plugins come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Built from their sources by `wasp-fixtures` (`cargo run`, the
    /// end-to-end test).
    Built,
    /// Shipped with the app, in the plugin folders `tauri.conf.json` names
    /// (`$RESOURCE/plugins` in a bundle).
    Shipped,
}

impl Source {
    /// `Shipped` when the configuration names plugin folders
    /// (`plugins.wasp.pluginDirs`, which only the bundle's has).
    fn of(config: &tauri::Config) -> Self {
        let dirs = config.plugins.0.get("wasp").and_then(|wasp| wasp.get("pluginDirs")).and_then(|d| d.as_array());
        if dirs.is_some_and(|dirs| !dirs.is_empty()) { Self::Shipped } else { Self::Built }
    }

    /// The bundle folder of the example `name`: built, or found in the
    /// plugin folders.
    async fn bundle(self, app: &AppHandle, name: &'static str) -> Result<PathBuf, String> {
        match self {
            // A failed build panics in the blocking task and says why on stderr.
            Self::Built => tauri::async_runtime::spawn_blocking(move || wasp_fixtures::wasm_bundle(name))
                .await
                .map_err(|_| "the example plugins did not build".to_owned()),
            Self::Shipped => {
                let dirs = app.wasp().plugin_dirs();
                dirs.iter()
                    .map(|dir| dir.join(name))
                    .find(|p| p.join("plugin.toml").is_file())
                    .ok_or_else(|| format!("`{name}` is in none of the plugin folders {dirs:?}"))
            }
        }
    }
}

/// What the host grants without asking: each manifest's requests of
/// `echo`, `counter` and `spinner` (which requests none).
fn policy() -> Result<Policy, wasp_actors::Error> {
    Policy::new()
        .allow("echo", "publish:echo.seen")?
        .allow("echo", "log")?
        .allow("counter", "subscribe:counter.reset")?
        .allow("counter", "publish:counter.changed")
}

/// Which of each plugin's events the page may see: a plugin's events reach
/// a webview only on topics it holds `ui:` for, and this app decides which.
const UI_TOPICS: [(&str, &str); 3] =
    [("echo", "ui:echo.seen"), ("counter", "ui:counter.changed"), ("notes", "ui:notes.*")];

/// Builds or finds the example bundles and loads them through the plugin,
/// which remembers where each came from (for `reload`).
async fn load_examples(app: &AppHandle, source: Source) {
    if source == Source::Shipped {
        // The bundled end-to-end test checks this line: the plugins come from the bundle.
        eprintln!("wasp-tauri-app: loading the example plugins from {:?}", app.wasp().plugin_dirs());
    }
    for name in PLUGINS {
        let bundle = match source.bundle(app, name).await {
            Ok(bundle) => bundle,
            Err(e) => {
                eprintln!("wasp-tauri-app: {e}");
                return;
            }
        };
        if let Err(e) = app.wasp().load(&bundle).await {
            eprintln!("wasp-tauri-app: cannot load {}: {e}", bundle.display());
            continue;
        }
        for (_, topic) in UI_TOPICS.iter().filter(|(plugin, _)| *plugin == name) {
            if let Err(e) = app.wasp().host().grant(name, topic).await {
                eprintln!("wasp-tauri-app: cannot grant {topic} to {name}: {e}");
            }
        }
    }
}
