//! `cargo wasp run`: a one-shot host holding one plugin (and the plugins it
//! talks to), for sending it a request or an event from the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasp_actors::{AuditKind, Event, Host, Permission, PluginRef, Policy, Subscription};
use wasp_protocol::WireError;

use crate::error::CommandError;
use crate::transcode::{json_to_msgpack, msgpack_to_json};

/// How the one-shot host treats its plugin.
///
/// The default grants nothing: the plugin's requested permissions are all
/// refused unless [`grant_all`](RunOptions::grant_all) is set or
/// [`grants`](RunOptions::grants) names them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Permissions to grant, when the plugin's manifest requests them
    /// (`storage`, `publish:notes.*`). A grant covers the requests it
    /// matches: `publish:*` grants `publish:notes.changed`.
    pub grants: Vec<String>,
    /// Grant everything the manifest requests.
    pub grant_all: bool,
    /// How long a request may wait for its answer.
    pub timeout: Duration,
    /// The host's data directory (plugin storage, `$DATA` folders); none
    /// by default, and then `storage` does not work.
    pub data_dir: Option<PathBuf>,
    /// Shared library modules to offer the plugin (`docs/libraries.md`):
    /// files, or folders of `*.wasm`.
    pub libraries: Vec<PathBuf>,
    /// Other plugins to load first, in this order, so that the plugin can
    /// talk to them (from its `wasp_load` on): paths as for the plugin.
    pub with: Vec<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            grants: Vec::new(),
            grant_all: false,
            timeout: Duration::from_secs(30),
            data_dir: None,
            libraries: Vec::new(),
            with: Vec::new(),
        }
    }
}

/// A host with one plugin loaded: made for one command, shut down after it.
///
/// ```no_run
/// use std::path::Path;
/// use wasp_cli::run::{OneShot, RunOptions};
///
/// # async fn demo() -> Result<(), wasp_cli::error::CommandError> {
/// let host = OneShot::start(Path::new("plugins/echo"), &RunOptions::default()).await?;
/// let reply = host.request_json("say", "\"hi\"").await?;
/// assert_eq!(reply, Some(serde_json::json!("hi")));
/// host.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OneShot {
    host: Host,
    plugin: PluginRef,
    with: Vec<PluginRef>,
    grants: Vec<Permission>,
    timeout: Duration,
    watches: Vec<Subscription>,
    /// How many faults of the plugin the audit log held once it was loaded.
    faults_at_start: usize,
}

/// What happened after the last message, once every plugin has handled
/// everything queued for it: see [`OneShot::finish`].
#[derive(Debug, Default)]
pub struct Outcome {
    /// The events the host received on the [watched](OneShot::watch)
    /// patterns: pattern by pattern, each in the order they arrived.
    pub events: Vec<Event>,
    /// The plugin's faults since it was loaded (traps, spent budgets), as
    /// the code and message of their audit events.
    pub faults: Vec<WireError>,
}

impl OneShot {
    /// Builds the host and loads the plugin at `path`: a folder, a
    /// `plugin.toml`, a `.wasm` or a native library, as `Host::load` takes
    /// them. Must run inside a multi-threaded tokio runtime.
    pub async fn start(path: &Path, options: &RunOptions) -> Result<Self, CommandError> {
        let mut policy = Policy::new();
        let mut grants = Vec::new();
        if options.grant_all {
            policy = policy.trust("*")?;
        }
        for grant in &options.grants {
            let permission: Permission = grant
                .parse()
                .map_err(|e| CommandError::Usage(format!("`--grant {grant}` is not a permission: {e}")))?;
            policy = policy.allow("*", grant)?;
            grants.push(permission);
        }
        let mut builder = Host::builder().policy(policy).request_timeout(options.timeout);
        if let Some(dir) = &options.data_dir {
            builder = builder.data_dir(dir);
        }
        for library in &options.libraries {
            builder = if library.is_dir() { builder.libraries(library) } else { builder.library(library) };
        }
        let host = builder.build()?;
        let mut with = Vec::new();
        for other in &options.with {
            match host.load(other).await {
                Ok(plugin) => with.push(plugin),
                Err(e) => {
                    host.shutdown().await;
                    return Err(e.into());
                }
            }
        }
        match host.load(path).await {
            Ok(plugin) => {
                let faults_at_start = faults_of(&host, plugin.name()).len();
                let timeout = options.timeout;
                Ok(Self { host, plugin, with, grants, timeout, watches: Vec::new(), faults_at_start })
            }
            Err(e) => {
                host.shutdown().await;
                Err(e.into())
            }
        }
    }

    /// The plugins loaded with [`RunOptions::with`], in order.
    pub fn with(&self) -> &[PluginRef] {
        &self.with
    }

    /// The loaded plugin: its name, kind, ABI version, granted and refused
    /// permissions.
    pub fn plugin(&self) -> &PluginRef {
        &self.plugin
    }

    /// The host, for more than one request at a time.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// How long a request may wait for its answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The `--grant` permissions that cover nothing the plugin requested
    /// (and so grant nothing: a policy honours requests, it does not add
    /// permissions).
    pub fn unused_grants(&self) -> Vec<&Permission> {
        let plugins = || std::iter::once(&self.plugin).chain(&self.with);
        let requested = || plugins().flat_map(|p| p.granted().iter().chain(p.refused()));
        self.grants.iter().filter(|g| !requested().any(|p| g.covers(p))).collect()
    }

    /// Keeps the events the plugins send to `host`, or publish, on topics
    /// matching `pattern` (a topic, or a prefix ending in `*`), for
    /// [`finish`](Self::finish) to return.
    ///
    /// # Errors
    ///
    /// [`CommandError::Usage`] for a pattern that is not one.
    pub fn watch(&mut self, pattern: &str) -> Result<(), CommandError> {
        let subscription = self
            .host
            .subscribe(pattern)
            .map_err(|e| CommandError::Usage(format!("`--watch {pattern}`: {}", e.message)))?;
        self.watches.push(subscription);
        Ok(())
    }

    /// Sends the plugin a one-way event (kind 1, from `host`) with a
    /// MessagePack payload; [`finish`](Self::finish) waits until it has
    /// been handled.
    ///
    /// # Errors
    ///
    /// [`CommandError::Request`] when the host refuses it at once (a bad
    /// topic, too large, the plugin's mailbox full).
    pub fn send(&self, topic: &str, payload: Vec<u8>) -> Result<(), CommandError> {
        self.host.send(self.plugin.name(), topic, payload).map_err(CommandError::Request)
    }

    /// Publishes an event from `host` on `topic`: it reaches every plugin
    /// subscribed to a matching pattern (and holding `subscribe:` for it).
    ///
    /// # Errors
    ///
    /// [`CommandError::Request`] when the host refuses it (a bad topic, too
    /// large).
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), CommandError> {
        self.host.publish(topic, payload).map_err(CommandError::Request)
    }

    /// Sends one request with a MessagePack payload and waits for the
    /// answer; the plugin's error answer is [`CommandError::Request`].
    pub async fn request(&self, topic: &str, payload: Vec<u8>) -> Result<Vec<u8>, CommandError> {
        self.host
            .request_with_timeout(self.plugin.name(), topic, payload, self.timeout)
            .await
            .map_err(CommandError::Request)
    }

    /// [`request`](Self::request) with JSON text as the payload and the
    /// reply decoded as JSON (`None` for an empty reply).
    pub async fn request_json(&self, topic: &str, json: &str) -> Result<Option<serde_json::Value>, CommandError> {
        let reply = self.request(topic, json_to_msgpack(json)?).await?;
        msgpack_to_json(&reply)
    }

    /// Stops the plugin and the host.
    pub async fn shutdown(self) {
        self.finish().await;
    }

    /// Stops the plugin once it has handled everything queued for it (an
    /// unload waits for its mailbox), then the other plugins likewise, and
    /// says what happened meanwhile.
    pub async fn finish(mut self) -> Outcome {
        let _ = self.host.unload(self.plugin.name()).await;
        self.host.shutdown().await;
        let mut events = Vec::new();
        for watch in &mut self.watches {
            while let Some(event) = watch.try_recv() {
                events.push(event);
            }
        }
        let faults = faults_of(&self.host, self.plugin.name()).into_iter().skip(self.faults_at_start).collect();
        Outcome { events, faults }
    }
}

/// The faults of `plugin` in the host's audit log, oldest first.
fn faults_of(host: &Host, plugin: &str) -> Vec<WireError> {
    host.audit_log()
        .into_iter()
        .filter(|e| e.plugin == plugin)
        .filter_map(|e| match e.kind {
            AuditKind::Fault { code } => Some(WireError::new(code, e.message)),
            _ => None,
        })
        .collect()
}
