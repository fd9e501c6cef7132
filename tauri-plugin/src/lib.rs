//! # tauri-plugin-wasp
//!
//! The [wasp](https://example.invalid/wasp) plugin runtime as a Tauri v2
//! plugin: WebAssembly and native plugin actors behind one broker, reachable
//! from Rust through managed state and from the webview through commands
//! and events.
//!
//! Its Cargo features are wasp's (`native`, `out-of-process`, `http`,
//! `storage`, `hot-reload`, `profiling`, `components`, `libraries`), all on
//! by default and forwarded to `wasp-actors`; an app that runs only
//! WebAssembly modules depends on it with `default-features = false`. See
//! `wasp_actors`' crate docs and `docs/features.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use tauri_plugin_wasp::wasp::Policy;
//! use tauri_plugin_wasp::{Ask, WaspExt};
//!
//! // `context` is `tauri::generate_context!()` in your app's `main`.
//! fn run(context: tauri::Context) -> Result<(), Box<dyn std::error::Error>> {
//!     let policy = Policy::new().allow("echo", "publish:echo.*")?;
//!     tauri::Builder::default()
//!         .plugin(
//!             tauri_plugin_wasp::Builder::new()
//!                 .plugin_dir("plugins")
//!                 .autoload(true)
//!                 .policy(policy)
//!                 .ask(Ask::Webview)
//!                 .configure(|host| host.cpu_budget(Duration::from_millis(250)))
//!                 .build(),
//!         )
//!         .setup(|app| {
//!             // Host code reaches the same broker the commands use.
//!             let host = app.wasp().host().clone();
//!             tauri::async_runtime::spawn(async move {
//!                 let reply = host.call::<_, String>("echo", "say", "hi").await;
//!                 println!("{reply:?}");
//!             });
//!             Ok(())
//!         })
//!         .run(context)?;
//!     Ok(())
//! }
//! ```
//!
//! The frontend uses `guest-js` (`tauri-plugin-wasp-api`), or, with
//! `app.withGlobalTauri`, `window.__TAURI_PLUGIN_WASP__`. See `docs/tauri.md`
//! for the commands, the permission sets (`wasp:default`, `wasp:manage`,
//! `wasp:ask`), plugin events and plugin UI panels.

mod asks;
mod calls;
mod commands;
pub mod config;
mod convert;
mod error;
mod models;
mod panel;
pub mod scope;
mod state;

use std::path::PathBuf;
use std::time::Duration;

use tauri::plugin::{PluginApi, TauriPlugin};
use tauri::{Manager, RunEvent, Runtime, WindowEvent};
use wasp_actors::{HostBuilder, Policy};

pub use asks::{Ask, AskFuture};
pub use calls::{MAX_CALLS, MAX_TICKETS, ServedMessage};
pub use config::Config;
pub use error::{Error, Result};
pub use models::{AuditEntry, LoadFailure, Loaded, PermissionAsk, PluginEntry, PluginMetrics, Subscribed, WaspEvent};
pub use state::{LOAD_FAILED_EVENT, MAX_FAILURE_MESSAGE, MAX_LOAD_FAILURES, Wasp};
/// The host crate, re-exported so an app needs no separate `wasp-actors`
/// dependency (`tauri_plugin_wasp::wasp::Policy`).
pub use wasp_actors as wasp;

/// How long closing the app waits for plugins to finish their queued messages.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How long a permission question waits for the user before it is denied.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(300);

type Configure = Box<dyn FnOnce(HostBuilder) -> HostBuilder + Send>;

/// Configures the wasp plugin: where plugins may be loaded from, who
/// decides their permissions, and the host's limits.
pub struct Builder {
    dirs: Vec<PathBuf>,
    autoload: bool,
    policy: Policy,
    ask: Option<Ask>,
    ask_timeout: Option<Duration>,
    data_dir: Option<PathBuf>,
    configure: Option<Configure>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("dirs", &self.dirs)
            .field("autoload", &self.autoload)
            .field("policy", &self.policy)
            .field("ask", &self.ask)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// No plugin directories, a policy that denies every permission, no
    /// questions asked, and the host's default limits. The host's database
    /// (plugin storage, remembered permission answers) lives in the app's
    /// local data directory, under `wasp/` (see [`Builder::data_dir`]).
    pub fn new() -> Self {
        Self {
            dirs: Vec::new(),
            autoload: false,
            policy: Policy::new(),
            ask: None,
            ask_timeout: None,
            data_dir: None,
            configure: None,
        }
    }

    /// A directory of plugins: the `load` command accepts only paths inside
    /// the directories given here (relative paths are looked up in them).
    /// Rust code can load from anywhere with [`Wasp::host`].
    ///
    /// Like `pluginDirs` in `tauri.conf.json` ([`config`]), the path may
    /// start with a Tauri base-directory variable (`$RESOURCE/plugins`,
    /// `$APPDATA/plugins`), and a relative path is taken in the app's
    /// resource folder — never in the working directory, which differs
    /// between `tauri dev`, `cargo run` and an installed app.
    pub fn plugin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push(dir.into());
        self
    }

    /// Loads every plugin found in the plugin directories (each folder
    /// holding a `plugin.toml`) when the app starts, in path order, in the
    /// background. Each failure — a folder that cannot be read, a plugin
    /// refused — is kept for [`Wasp::load_failures`], sent to every webview
    /// as the event `wasp://load-failed`, and logged (refused modules are
    /// also audited).
    pub fn autoload(mut self, autoload: bool) -> Self {
        self.autoload = autoload;
        self
    }

    /// The rules that decide the permissions plugins request (see
    /// [`Policy`]). What no rule decides goes to [`Builder::ask`].
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Who answers the permission questions the policy leaves open. Answers
    /// are remembered in the host's database.
    pub fn ask(mut self, ask: Ask) -> Self {
        self.ask = Some(ask);
        self
    }

    /// How long a question waits for an answer before the permission is
    /// denied ([`DEFAULT_ASK_TIMEOUT`]). A denial by timeout is not
    /// remembered: the plugin asks again when it is next loaded.
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.ask_timeout = Some(timeout);
        self
    }

    /// Where the host keeps its database, instead of `wasp` in the app's
    /// local data directory (`%LOCALAPPDATA%\<identifier>\wasp` on Windows,
    /// `$XDG_DATA_HOME/<identifier>/wasp` on Linux, `~/Library/Application
    /// Support/<identifier>/wasp` on macOS).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Adjusts the host: limits, CPU budget, schedule, supervision,
    /// configuration overrides (see [`HostBuilder`]). The policy and data
    /// directory given to this builder win over those set here.
    pub fn configure(mut self, configure: impl FnOnce(HostBuilder) -> HostBuilder + Send + 'static) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// The Tauri plugin, named `wasp`, configured by this builder and by
    /// `plugins.wasp` in `tauri.conf.json` ([`config`]): plugin folders
    /// from both; the policy's rules from both (denials win, as always);
    /// autoload if either asks; for `ask`, `askTimeout` and the data
    /// folder, what the builder sets wins over the file; the file's limits
    /// and hot reload first, then [`Builder::configure`].
    pub fn build<R: Runtime>(self) -> TauriPlugin<R, Option<Config>> {
        tauri::plugin::Builder::<R, Option<Config>>::new("wasp")
            .invoke_handler(tauri::generate_handler![
                commands::plugins,
                commands::load_failures,
                commands::load,
                commands::unload,
                commands::reload,
                commands::request,
                commands::send,
                commands::publish,
                commands::subscribe,
                commands::unsubscribe,
                commands::cancel,
                commands::serve,
                commands::answer,
                commands::withdraw,
                commands::grant,
                commands::revoke,
                commands::pending_permissions,
                commands::answer_permission,
                commands::audit,
                commands::tap,
            ])
            .setup(move |app, api| {
                app.manage(commands::Taps::default());
                self.setup(app, api)
            })
            .register_asynchronous_uri_scheme_protocol(panel::SCHEME, panel::handle)
            .on_page_load(|webview, payload| {
                // A page that (re)loads has lost its listeners.
                if payload.event() == tauri::webview::PageLoadEvent::Started
                    && let Some(wasp) = webview.try_state::<Wasp<R>>()
                {
                    wasp.drop_webview(webview.label());
                }
                if payload.event() == tauri::webview::PageLoadEvent::Started
                    && let Some(taps) = webview.try_state::<commands::Taps>()
                {
                    taps.drop_webview(webview.label());
                }
            })
            .on_event(|app, event| {
                if let RunEvent::WindowEvent { label, event: WindowEvent::Destroyed, .. } = event {
                    if let Some(wasp) = app.try_state::<Wasp<R>>() {
                        wasp.drop_webview(label);
                    }
                    if let Some(taps) = app.try_state::<commands::Taps>() {
                        taps.drop_webview(label);
                    }
                }
                if let RunEvent::Exit = event
                    && let Some(wasp) = app.try_state::<Wasp<R>>()
                {
                    // Plugins finish what is queued, but closing the app waits
                    // at most a few seconds for them.
                    let host = wasp.host().clone();
                    tauri::async_runtime::block_on(async move {
                        let _ = tokio::time::timeout(SHUTDOWN_GRACE, host.shutdown()).await;
                    });
                }
            })
            .build()
    }

    fn setup<R: Runtime>(
        self,
        app: &tauri::AppHandle<R>,
        api: PluginApi<R, Option<Config>>,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let config = api.config().clone().unwrap_or_default();
        let mut dirs = config.plugin_dirs(app)?;
        for dir in &self.dirs {
            dirs.push(config::resolve(app, "plugin_dir", dir)?);
        }
        let data_dir = match (self.data_dir, &config.data_dir) {
            (Some(dir), _) => dir,
            (None, Some(dir)) => config::resolve(app, "dataDir", dir)?,
            // The local (not roaming) data folder: `%LOCALAPPDATA%\<identifier>`
            // on Windows; the same folder as the app's data elsewhere.
            (None, None) => app.path().app_local_data_dir()?.join("wasp"),
        };
        let ask = self.ask.unwrap_or(match config.ask {
            Some(config::AskMode::Webview) => Ask::Webview,
            Some(config::AskMode::Deny) | None => Ask::Deny,
        });
        let ask_timeout = match self.ask_timeout {
            Some(timeout) => timeout,
            None => config.ask_timeout()?.unwrap_or(DEFAULT_ASK_TIMEOUT),
        };
        let policy = config.policy.apply(self.policy)?;
        let asks = asks::Asks::new(ask_timeout);
        let policy = asks.attach(ask, policy, app.clone());
        let mut builder = config.host_builder()?;
        if let Some(configure) = self.configure {
            builder = configure(builder);
        }
        let builder = builder.policy(policy).data_dir(data_dir);
        // The host starts its timers and clients on Tauri's tokio runtime.
        let host = {
            let _runtime = tauri::async_runtime::handle().inner().enter();
            builder.build()?
        };
        app.manage(Wasp::new(app.clone(), host, dirs, asks));
        if self.autoload || config.autoload {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                // Failures are kept, sent to the webviews and logged by `load_all`.
                app.state::<Wasp<R>>().load_all().await;
            });
        }
        Ok(())
    }
}

/// The plugin with default settings (see [`Builder::new`]): no plugin
/// directories and every permission denied; host code loads plugins with
/// [`WaspExt::wasp`].
pub fn init<R: Runtime>() -> TauriPlugin<R, Option<Config>> {
    Builder::new().build()
}

/// Reaches the wasp host from an `App`, `AppHandle`, `Window` or `Webview`.
pub trait WaspExt<R: Runtime> {
    /// The plugin's state: the [`Host`](wasp_actors::Host) and the webview
    /// subscriptions.
    ///
    /// # Panics
    ///
    /// If the plugin was not added to the app (`.plugin(tauri_plugin_wasp::init())`).
    fn wasp(&self) -> &Wasp<R>;
}

impl<R: Runtime, T: Manager<R>> WaspExt<R> for T {
    fn wasp(&self) -> &Wasp<R> {
        self.state::<Wasp<R>>().inner()
    }
}
