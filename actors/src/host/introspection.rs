//! Looking inside: plugin and host metrics, the audit log, the message
//! tap, profiles, the module cache.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::broadcast;
use wasp_runtime::{AuditEvent, Engine, Libraries, Limits, ModuleCache, PluginKind};

use crate::Error;
use crate::metrics::{HostMetrics, PluginInfo};

use super::Host;

impl Host {
    /// The shared libraries this host offers ([`HostBuilder::library`](crate::HostBuilder::library)).
    pub fn libraries(&self) -> &Libraries {
        &self.inner.libraries
    }

    /// Samples the WASM plugin `plugin` for `duration` with wasmtime's guest
    /// profiler and returns the profile: JSON in the Firefox profiler's
    /// processed format, to open at <https://profiler.firefox.com>. While
    /// the plugin runs, its stack is sampled at every epoch tick (1 ms by
    /// default); a plugin not being profiled pays nothing for it. Only time
    /// the plugin spends running shows up: send it work meanwhile.
    ///
    /// Fails for a plugin that is not loaded or not WASM.
    pub async fn profile(&self, plugin: &str, duration: Duration) -> Result<Vec<u8>, Error> {
        let route = self.route(plugin)?;
        if route.kind != PluginKind::Wasm {
            return Err(Error::Unsupported(format!(
                "plugin `{plugin}` is {}; only WASM plugins can be profiled",
                route.kind
            )));
        }
        let engine = &self.inner.engine;
        engine.start_profile(plugin)?;
        /// Ends the profile if the caller stops waiting.
        struct Stop<'a>(&'a Engine, &'a str, bool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                if !self.2 {
                    let _ = self.0.finish_profile(self.1);
                }
            }
        }
        let mut stop = Stop(engine, plugin, false);
        tokio::time::sleep(duration).await;
        stop.2 = true;
        Ok(engine.finish_profile(plugin)?)
    }

    /// The cache of compiled WASM plugins ([`HostBuilder::module_cache`](crate::HostBuilder::module_cache)),
    /// with its counters; `None` when the host has none.
    pub fn module_cache(&self) -> Option<&ModuleCache> {
        self.inner.engine.module_cache()
    }

    /// How many WASM instances the host's pooling allocator holds
    /// ([`HostBuilder::pooling_allocator`](crate::HostBuilder::pooling_allocator)); `None` when it has no pool (turned
    /// off, or its address space could not be reserved).
    pub fn pooling_allocator(&self) -> Option<u32> {
        self.inner.engine.pool_size()
    }

    /// The host's limits ([`HostBuilder::limits`](crate::HostBuilder::limits)
    /// and its single-limit knobs): the maxima that each plugin's manifest
    /// requests are held to.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether WASM plugins are compiled for a native debugger
    /// ([`HostBuilder::debug`](crate::HostBuilder::debug)).
    pub fn debug(&self) -> bool {
        self.inner.engine.debug()
    }

    /// The folder of a loaded plugin's UI panel (its manifest's `ui`), if
    /// it has one.
    /// Only a folder that really lies inside the manifest's folder counts:
    /// a `ui` that is (or passes through) a symbolic link out of it is none.
    pub fn ui_dir(&self, plugin: &str) -> Option<PathBuf> {
        let manifest = self.inner.broker.route(plugin).map(|r| r.manifest)?;
        let ui = std::fs::canonicalize(manifest.ui_path()?).ok()?;
        let home = std::fs::canonicalize(manifest.dir.as_deref()?).ok()?;
        (ui.starts_with(&home) && ui != home).then_some(ui)
    }

    /// Every audit event from now on: denied calls, exceeded limits, faults,
    /// restarts, quarantines, grants. A receiver that falls more than 1,024
    /// events behind skips the oldest (it gets `RecvError::Lagged`).
    pub fn audit_events(&self) -> broadcast::Receiver<AuditEvent> {
        self.inner.broker.audit.subscribe()
    }

    /// The most recent audit events (up to 1,024), oldest first.
    pub fn audit_log(&self) -> Vec<AuditEvent> {
        self.inner.broker.audit.recent()
    }

    /// Opens a message tap: from now until it is dropped, every message the
    /// broker routes — requests, sends, publishes (once per subscriber),
    /// `request_async` replies, timer events, from the host or between
    /// plugins — arrives on it as a [`TapRecord`](crate::TapRecord) with its
    /// size, its wait in the mailbox, its handling time and its outcome.
    ///
    /// While no tap is open, routing pays one atomic load for the feature.
    /// Taps are independent; each may fall 4,096 records behind before it
    /// skips the oldest ([`Tap::missed`](crate::Tap::missed)).
    pub fn tap(&self) -> crate::Tap {
        self.inner.broker.tap.open()
    }

    /// How many [`Tap`](crate::Tap)s are open now.
    pub fn open_taps(&self) -> usize {
        self.inner.broker.tap.open_count()
    }

    /// A snapshot of every loaded plugin, sorted by name.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        let mut list: Vec<PluginInfo> = self.inner.broker.map_routes(|name, r| {
            let c = &r.counters;
            let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let lines = self.inner.broker.log_rate_of(name);
            PluginInfo {
                name: name.to_string(),
                kind: r.kind,
                version: r.version.to_string(),
                state: c.state(),
                quarantine_reason: c.quarantine_reason.lock().clone(),
                permissions: r.grants.list().iter().map(ToString::to_string).collect(),
                exceptions: r.grants.exceptions().iter().map(ToString::to_string).collect(),
                has_ui: r.manifest.ui.is_some(),
                queued: r.mailbox.messages() as u64,
                queued_bytes: r.mailbox.bytes() as u64,
                instances: r.pool.as_ref().map_or(1, |p| p.size()),
                idle_instances: r.pool.as_ref().map(|p| p.idle()),
                // Acquire: what the actor counted before `handled` (actor.rs) is seen.
                handled: c.handled.load(Ordering::Acquire),
                faults: load(&c.faults),
                restarts: load(&c.restarts),
                refused: load(&c.refused),
                expired: load(&c.expired),
                denied: load(&c.denied),
                violations: load(&c.violations),
                dropped: load(&c.dropped),
                busy_micros: load(&c.busy_nanos) / 1000,
                memory_bytes: load(&c.memory),
                memory_peak_bytes: load(&c.memory_peak),
                log_lines: lines.as_ref().map_or(0, |l| l.written()),
                log_lines_dropped: lines.as_ref().map_or(0, |l| l.dropped()),
            }
        });
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Host-wide counters, and every plugin's.
    pub fn metrics(&self) -> HostMetrics {
        let mut metrics = self.inner.broker.counters.snapshot(self.plugins());
        metrics.audit_log_bytes = self.inner.broker.audit.bytes() as u64;
        metrics
    }
}
