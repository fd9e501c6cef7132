//! Hot reload: watching plugin files and reloading a plugin when they change.
//!
//! One `notify` watcher per host watches the folders that hold watched
//! plugins' files (non-recursively: editors and build tools replace a file by
//! renaming a new one over it, which a watch on the file itself would lose).
//! Events are matched to plugins by file path and debounced per plugin: the
//! reload starts once its files have been quiet for the debounce period, so
//! a build that writes a module in several steps reloads it once.

use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Error;
use crate::host::Inner;

/// The files of watched plugins, and the watcher that reports their changes.
pub(crate) struct Watcher {
    watcher: Mutex<notify::RecommendedWatcher>,
    state: Mutex<Watched>,
}

#[derive(Default)]
struct Watched {
    /// Each watched file, and the plugins it belongs to.
    files: HashMap<PathBuf, BTreeSet<String>>,
    /// Each plugin's files.
    plugins: HashMap<String, Vec<PathBuf>>,
    /// Each watched folder, and how many watched files it holds.
    dirs: HashMap<PathBuf, usize>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plugins = self.state.lock().plugins.len();
        f.debug_struct("Watcher").field("plugins", &plugins).finish_non_exhaustive()
    }
}

impl Watcher {
    /// Starts the watcher and the task that reloads plugins for `host`.
    /// Must run inside the tokio runtime.
    pub(crate) fn start(host: Weak<Inner>, debounce: Duration) -> Result<Arc<Self>, Error> {
        let (tx, rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if relevant(&event.kind) => {
                let _ = tx.send(event.paths);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "wasp::reload", "file watcher error: {e}"),
        })
        .map_err(|e| Error::Environment(format!("cannot start the file watcher for hot reload: {e}")))?;
        let this = Arc::new(Self { watcher: Mutex::new(watcher), state: Mutex::new(Watched::default()) });
        tokio::spawn(reload_loop(Arc::downgrade(&this), host, rx, debounce));
        Ok(this)
    }

    /// Watches `files` for `plugin`, in place of what it watched before.
    pub(crate) fn watch(&self, plugin: &str, files: Vec<PathBuf>) -> Result<(), Error> {
        let mut state = self.state.lock();
        let mut watcher = self.watcher.lock();
        let old = state.plugins.remove(plugin).unwrap_or_default();
        // The new files are watched before the old ones are let go, so a
        // folder watched before and after (a reload re-watches the same
        // files) is never unwatched in between: a change made meanwhile
        // would be lost.
        let mut added: Vec<PathBuf> = Vec::new();
        for file in files {
            let Some(dir) = file.parent().map(Path::to_path_buf) else { continue };
            if !state.dirs.contains_key(&dir)
                && let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive)
            {
                // Back to what was watched before.
                for file in &added {
                    state.let_go(&mut watcher, plugin, file, old.contains(file));
                }
                state.plugins.insert(plugin.to_owned(), old);
                return Err(Error::Environment(format!("cannot watch {} for hot reload: {e}", dir.display())));
            }
            *state.dirs.entry(dir).or_insert(0) += 1;
            state.files.entry(file.clone()).or_default().insert(plugin.to_owned());
            added.push(file);
        }
        for file in &old {
            state.let_go(&mut watcher, plugin, file, added.contains(file));
        }
        state.plugins.insert(plugin.to_owned(), added);
        Ok(())
    }

    /// Stops watching `plugin`'s files.
    pub(crate) fn forget(&self, plugin: &str) {
        let mut state = self.state.lock();
        let mut watcher = self.watcher.lock();
        for file in state.plugins.remove(plugin).unwrap_or_default() {
            state.unlink(&mut watcher, plugin, &file);
        }
    }

    /// Whether `plugin` is watched.
    pub(crate) fn watches(&self, plugin: &str) -> bool {
        self.state.lock().plugins.contains_key(plugin)
    }

    /// The plugins a change of `path` concerns.
    fn owners(&self, path: &Path) -> BTreeSet<String> {
        self.state.lock().files.get(path).cloned().unwrap_or_default()
    }
}

impl Watched {
    /// Lets go of one of `plugin`'s registrations of `file`: all of it, or,
    /// when it `stays` registered once more, only its folder's count.
    fn let_go(&mut self, watcher: &mut notify::RecommendedWatcher, plugin: &str, file: &Path, stays: bool) {
        if !stays {
            self.unlink(watcher, plugin, file);
        } else if let Some(count) = file.parent().and_then(|dir| self.dirs.get_mut(dir)) {
            *count -= 1;
        }
    }

    fn unlink(&mut self, watcher: &mut notify::RecommendedWatcher, plugin: &str, file: &Path) {
        if let Some(owners) = self.files.get_mut(file) {
            owners.remove(plugin);
            if owners.is_empty() {
                self.files.remove(file);
            }
        }
        let Some(dir) = file.parent() else { return };
        if let Some(count) = self.dirs.get_mut(dir) {
            *count -= 1;
            if *count == 0 {
                self.dirs.remove(dir);
                let _ = watcher.unwatch(dir);
            }
        }
    }
}

/// Whether an event may mean new content: a write, a create, a rename onto
/// the file. Reads and metadata-only changes do not.
fn relevant(kind: &EventKind) -> bool {
    use notify::event::ModifyKind;
    match kind {
        EventKind::Create(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Any | EventKind::Access(_) | EventKind::Remove(_) | EventKind::Other => false,
    }
}

/// Collects changed plugins, waits until each has been quiet for
/// `debounce`, then reloads it. Ends with the host or the watcher.
async fn reload_loop(
    watcher: Weak<Watcher>,
    host: Weak<Inner>,
    mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    debounce: Duration,
) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    loop {
        let next = due.values().min().copied();
        let paths = match next {
            None => rx.recv().await,
            Some(at) => tokio::select! {
                paths = rx.recv() => paths,
                () = tokio::time::sleep_until(at) => {
                    let now = Instant::now();
                    let ready: Vec<String> = due.iter().filter(|(_, at)| **at <= now).map(|(p, _)| p.clone()).collect();
                    for plugin in ready {
                        due.remove(&plugin);
                        let Some(inner) = host.upgrade() else { return };
                        crate::Host::from_inner(inner).reload_watched(&plugin).await;
                    }
                    continue;
                }
            },
        };
        let Some(paths) = paths else { return };
        let Some(watcher) = watcher.upgrade() else { return };
        for path in paths {
            for plugin in watcher.owners(&path) {
                tracing::debug!(target: "wasp::reload", plugin, path = %path.display(), "plugin file changed");
                due.insert(plugin, Instant::now() + debounce);
            }
        }
    }
}
