//! `wasp run`: a one-shot host holding one plugin, for sending it requests
//! from the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasp_actors::{Host, Permission, PluginRef, Policy};

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
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            grants: Vec::new(),
            grant_all: false,
            timeout: Duration::from_secs(30),
            data_dir: None,
            libraries: Vec::new(),
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
    grants: Vec<Permission>,
    timeout: Duration,
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
        match host.load(path).await {
            Ok(plugin) => Ok(Self { host, plugin, grants, timeout: options.timeout }),
            Err(e) => {
                host.shutdown().await;
                Err(e.into())
            }
        }
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
        let requested = || self.plugin.granted().iter().chain(self.plugin.refused());
        self.grants.iter().filter(|g| !requested().any(|p| g.covers(p))).collect()
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
        self.host.shutdown().await;
    }
}
