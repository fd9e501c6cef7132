//! The plugin's managed state: the host, the plugin directories, the
//! subscriptions that forward plugin events to webviews' channels, and the
//! load failures.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tauri::async_runtime::JoinHandle;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, Runtime};
use wasp_actors::{Host, PluginRef, Subscription};

use crate::asks::Asks;
use crate::convert;
use crate::error::{Error, Result};
use crate::models::{LoadFailure, PermissionAsk, Subscribed, WaspEvent};

/// How many load failures are kept; older ones are dropped first.
pub const MAX_LOAD_FAILURES: usize = 256;

/// The longest message a kept failure holds, in bytes; longer ones are cut.
pub const MAX_FAILURE_MESSAGE: usize = 4096;

/// The event every webview gets for each [`LoadFailure`].
pub const LOAD_FAILED_EVENT: &str = "wasp://load-failed";

/// wasp inside a Tauri app, reached with [`WaspExt::wasp`](crate::WaspExt::wasp).
pub struct Wasp<R: Runtime> {
    app: AppHandle<R>,
    host: Host,
    dirs: Vec<PathBuf>,
    asks: Arc<Asks>,
    forwards: Mutex<HashMap<u64, Forward>>,
    next_subscription: AtomicU64,
    failures: Mutex<std::collections::VecDeque<LoadFailure>>,
    /// The webviews' cancellable requests.
    pub(crate) cancels: crate::calls::Cancels,
    /// The functions webviews serve, and their calls in flight.
    pub(crate) served: Arc<crate::calls::Served>,
}

/// A webview subscription: the task forwarding its events.
struct Forward {
    webview: String,
    task: JoinHandle<()>,
    /// Cleared by `unsubscribe` before it returns: aborting the task takes
    /// effect only at its next await, and an event already received must
    /// not reach the webview after its unsubscribe has answered.
    alive: Arc<AtomicBool>,
}

impl<R: Runtime> std::fmt::Debug for Wasp<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wasp").field("host", &self.host).field("dirs", &self.dirs).finish_non_exhaustive()
    }
}

impl<R: Runtime> Wasp<R> {
    pub(crate) fn new(app: AppHandle<R>, host: Host, dirs: Vec<PathBuf>, asks: Arc<Asks>) -> Self {
        let dirs = dirs.iter().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone())).collect();
        Self {
            app,
            host,
            dirs,
            asks,
            forwards: Mutex::default(),
            next_subscription: AtomicU64::new(1),
            failures: Mutex::default(),
            cancels: crate::calls::Cancels::default(),
            served: Arc::default(),
        }
    }

    /// The host: load plugins, send them messages, subscribe to their
    /// events, read metrics and the audit log — the same broker the
    /// webview's commands reach.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The directories the `load` command may load from.
    pub fn plugin_dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Loads a plugin from `path` (any path: host code is trusted); it can
    /// be reloaded later by name.
    pub async fn load(&self, path: impl AsRef<Path>) -> Result<PluginRef> {
        Ok(self.host.load(path.as_ref()).await?)
    }

    /// Loads every plugin folder (one holding a `plugin.toml`) in the plugin
    /// directories; returns each folder with its outcome, in name order.
    /// They are compiled in parallel and start in name order
    /// ([`Host::load_all`]). Each failure, and each plugin directory that
    /// cannot be read, is also kept for [`Wasp::load_failures`] and sent
    /// to every webview as the event `wasp://load-failed`.
    pub async fn load_all(&self) -> Vec<(PathBuf, Result<PluginRef>)> {
        let mut found = Vec::new();
        for dir in &self.dirs {
            let mut entries = match tokio::fs::read_dir(dir).await {
                Ok(entries) => entries,
                Err(e) => {
                    let message = format!("plugin directory `{}` cannot be read: {e}", dir.display());
                    let code = if e.kind() == std::io::ErrorKind::NotFound { "not_found" } else { "internal" };
                    self.failed(dir, code, message);
                    continue;
                }
            };
            while let Ok(Some(entry)) = entries.next_entry().await {
                let path = entry.path();
                if tokio::fs::try_exists(path.join("plugin.toml")).await.unwrap_or(false) {
                    found.push(path);
                }
            }
        }
        found.sort();
        let outcomes: Vec<_> = self
            .host
            .load_all(found)
            .await
            .into_iter()
            .map(|(path, result)| (path, result.map_err(Error::from)))
            .collect();
        for (path, result) in &outcomes {
            if let Err(e) = result {
                self.failed(path, e.code(), e.to_string());
            }
        }
        outcomes
    }

    /// The plugin folders that failed to load and the plugin directories
    /// that could not be read, oldest first (the last
    /// [`MAX_LOAD_FAILURES`]). An app needs no tracing subscriber to see
    /// why a plugin is missing.
    pub fn load_failures(&self) -> Vec<LoadFailure> {
        self.failures.lock().iter().cloned().collect()
    }

    /// Keeps, sends and logs one failure.
    fn failed(&self, path: &Path, code: &str, mut message: String) {
        tracing::warn!(target: "wasp::tauri", path = %path.display(), "{message}");
        if message.len() > MAX_FAILURE_MESSAGE {
            let mut end = MAX_FAILURE_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let failure = LoadFailure { path: path.display().to_string(), code: code.to_owned(), message };
        {
            let mut failures = self.failures.lock();
            if failures.len() == MAX_LOAD_FAILURES {
                failures.pop_front();
            }
            failures.push_back(failure.clone());
        }
        if let Err(e) = self.app.emit(LOAD_FAILED_EVENT, &failure) {
            tracing::warn!(target: "wasp::tauri", "cannot send {LOAD_FAILED_EVENT}: {e}");
        }
    }

    /// A path the frontend asked to load, checked to lie inside a plugin
    /// directory. A relative path is looked up in each directory in turn.
    pub(crate) fn resolve(&self, path: &str) -> Result<PathBuf> {
        let wanted = Path::new(path);
        let candidates: Vec<PathBuf> = if wanted.is_absolute() {
            vec![wanted.to_owned()]
        } else {
            self.dirs.iter().map(|d| d.join(wanted)).collect()
        };
        for candidate in candidates {
            // Canonical forms, so neither `..` nor a symbolic link leads out.
            let Ok(real) = std::fs::canonicalize(&candidate) else { continue };
            if self.dirs.iter().filter_map(|d| std::fs::canonicalize(d).ok()).any(|d| real.starts_with(&d)) {
                return Ok(real);
            }
            return Err(Error::OutsidePluginDirs(candidate));
        }
        if wanted.is_absolute() {
            return Err(Error::OutsidePluginDirs(wanted.to_owned()));
        }
        Err(Error::NotFound(format!("no plugin `{path}` in the app's plugin directories")))
    }

    /// Subscribes webview `label` to plugin events on `pattern`: each
    /// arrives on `channel`, the webview's own `tauri::ipc::Channel` (in
    /// order, to that one consumer; no event name another page could
    /// listen to). With `panel`, the subscription is that plugin's, under
    /// its permissions; otherwise it is a UI subscription (a plugin's
    /// events need `ui:<topic>`).
    pub(crate) fn subscribe(
        &self,
        label: &str,
        pattern: &str,
        panel: Option<&str>,
        channel: Channel<WaspEvent>,
    ) -> Result<Subscribed> {
        let subscription = match panel {
            Some(plugin) => self.host.subscribe_as(plugin, pattern)?,
            None => self.host.subscribe_ui(pattern)?,
        };
        let id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        let alive = Arc::new(AtomicBool::new(true));
        let task = tauri::async_runtime::spawn(forward(label.to_owned(), id, channel, subscription, alive.clone()));
        self.lock().insert(id, Forward { webview: label.to_owned(), task, alive });
        Ok(Subscribed { id })
    }

    /// Ends subscription `id` of webview `label`.
    pub(crate) fn unsubscribe(&self, label: &str, id: u64) -> Result<()> {
        let mut forwards = self.lock();
        match forwards.get(&id) {
            Some(f) if f.webview == label => {}
            _ => return Err(Error::NotFound(format!("this webview has no subscription #{id}"))),
        }
        if let Some(forward) = forwards.remove(&id) {
            forward.alive.store(false, Ordering::Release);
            forward.task.abort();
        }
        Ok(())
    }

    /// Ends every subscription of a webview (it closed or navigated away).
    pub(crate) fn drop_webview(&self, label: &str) {
        self.lock().retain(|_, f| {
            let keep = f.webview != label;
            if !keep {
                f.alive.store(false, Ordering::Release);
                f.task.abort();
            }
            keep
        });
        self.cancels.drop_webview(label);
        self.served.drop_webview(&self.host, label);
    }

    /// How many webview subscriptions are live.
    pub fn subscriptions(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn pending_permissions(&self) -> Vec<PermissionAsk> {
        self.asks.pending()
    }

    pub(crate) fn answer_permission(&self, id: u64, allow: bool) -> Result<()> {
        self.asks.answer(id, allow)
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<u64, Forward>> {
        self.forwards.lock()
    }
}

/// Forwards one subscription's events to its webview's channel until it
/// ends (or the webview's page is gone: the channel then refuses).
async fn forward(
    label: String,
    id: u64,
    channel: Channel<WaspEvent>,
    mut subscription: Subscription,
    alive: Arc<AtomicBool>,
) {
    while let Some(event) = subscription.recv().await {
        if !alive.load(Ordering::Acquire) {
            return;
        }
        let payload = match convert::to_json(&event.payload, &event.from) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(target: "wasp::tauri", topic = %event.topic, "event dropped: {e}");
                continue;
            }
        };
        let event = WaspEvent { subscription: id, topic: event.topic, from: event.from, payload };
        if let Err(e) = channel.send(event) {
            tracing::warn!(target: "wasp::tauri", webview = %label, "cannot deliver an event: {e}");
        }
    }
}
