//! `plugins.wasp` in `tauri.conf.json`: the plugin's configuration, read by
//! Tauri when the app starts and resolved through Tauri's path API.
//!
//! ```json
//! {
//!   "plugins": {
//!     "wasp": {
//!       "pluginDirs": ["$RESOURCE/plugins", "$APPDATA/plugins"],
//!       "autoload": true,
//!       "policy": {
//!         "trust": ["counter"],
//!         "allow": { "echo": ["publish:echo.*"] },
//!         "deny": { "com.untrusted.*": ["*"] }
//!       },
//!       "ask": "webview",
//!       "askTimeout": "5m",
//!       "limits": { "cpuBudget": "250ms", "memory": "32 MiB", "requestTimeout": "10s" },
//!       "hotReload": "debug"
//!     }
//!   }
//! }
//! ```
//!
//! Paths start with one of Tauri's base-directory variables (`$RESOURCE`,
//! `$APPDATA`, `$APPLOCALDATA`, `$APPCONFIG`, `$HOME`, …); a path without
//! one is relative to the app's resource folder, never to the working
//! directory. Everything here can also be set on [`Builder`](crate::Builder)
//! in code; where both say something, see [`Builder::build`](crate::Builder::build).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tauri::{Manager, Runtime};
use wasp_actors::{HostBuilder, Limits, Policy};
use wasp_runtime::units::{self, DURATION_HELP, SIZE_HELP, UnitError};

/// The plugin's section of `tauri.conf.json` (`plugins.wasp`). Unknown keys
/// are refused, so a misspelt setting stops the app at start with
/// Tauri's "Error deserializing 'plugins.wasp'" naming it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Plugin folders (see [`Builder::plugin_dir`](crate::Builder::plugin_dir)).
    #[serde(default)]
    pub plugin_dirs: Vec<String>,
    /// Load every plugin in the plugin folders at start.
    #[serde(default)]
    pub autoload: bool,
    /// Where the host keeps its database (default `$APPLOCALDATA/wasp`).
    pub data_dir: Option<String>,
    /// Policy rules, added to the builder's.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Who answers what the policy leaves open: `"deny"` or `"webview"`.
    pub ask: Option<AskMode>,
    /// How long a question waits, e.g. `"5m"`.
    pub ask_timeout: Option<String>,
    /// The host's limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Reload plugins when their files change: `true`, `false`, or
    /// `"debug"` (only in debug builds: on under `tauri dev`, off in a
    /// release bundle).
    pub hot_reload: Option<HotReload>,
}

/// `policy` in the configuration: the same rules as [`Policy`]'s methods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Plugins (names, or prefixes ending in `*`) granted all they ask for
    /// ([`Policy::trust`]).
    #[serde(default)]
    pub trust: Vec<String>,
    /// Plugin → permissions granted ([`Policy::allow`]).
    #[serde(default)]
    pub allow: BTreeMap<String, Vec<String>>,
    /// Plugin → permissions refused whatever else says ([`Policy::deny`]).
    #[serde(default)]
    pub deny: BTreeMap<String, Vec<String>>,
    /// Publisher keys whose signed plugins are known by the key
    /// ([`Policy::trust_publisher`]).
    #[serde(default)]
    pub trust_publishers: Vec<String>,
    /// Refuse plugins not signed by a trusted publisher
    /// ([`Policy::require_signatures`]).
    #[serde(default)]
    pub require_signatures: bool,
}

/// `ask` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AskMode {
    /// [`Ask::Deny`](crate::Ask::Deny).
    Deny,
    /// [`Ask::Webview`](crate::Ask::Webview).
    Webview,
}

/// `hotReload` in the configuration: a boolean, or `"debug"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HotReload {
    /// Always on or always off.
    Always(bool),
    /// `"debug"`: on in debug builds only.
    When(DebugOnly),
}

/// The one word `"debug"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DebugOnly {
    /// In debug builds.
    Debug,
}

impl HotReload {
    /// Whether hot reload is on in this build.
    pub fn enabled(self) -> bool {
        match self {
            Self::Always(on) => on,
            Self::When(DebugOnly::Debug) => cfg!(debug_assertions),
        }
    }
}

/// `limits` in the configuration: the host's maxima, in a plugin
/// manifest's units (`"16 MiB"`, `"250ms"`; docs/manifest.md). What is not
/// given keeps wasp's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Largest linear memory ([`Limits::max_memory`]).
    pub memory: Option<String>,
    /// Largest payload ([`Limits::max_message_size`]).
    pub message_size: Option<String>,
    /// CPU time per message ([`Limits::cpu_budget`]).
    pub cpu_budget: Option<String>,
    /// How long a request waits for its answer ([`Limits::request_timeout`]).
    pub request_timeout: Option<String>,
    /// Messages that may wait in a mailbox ([`Limits::mailbox_depth`]).
    pub mailbox: Option<usize>,
    /// Payload bytes that may wait in a mailbox ([`Limits::mailbox_bytes`]).
    pub mailbox_bytes: Option<String>,
    /// Bytes in a plugin's store ([`Limits::storage_quota`]).
    pub storage_quota: Option<String>,
    /// Instances behind one plugin's address ([`Limits::max_instances`]).
    pub instances: Option<usize>,
    /// Host calls per second ([`Limits::host_call_rate`]).
    pub host_calls_per_second: Option<u32>,
    /// Log lines per second ([`Limits::log_rate`]).
    pub log_lines_per_second: Option<u32>,
}

/// What in the configuration cannot be used: the key and why.
#[derive(Debug, thiserror::Error)]
#[error("plugins.wasp.{key} in tauri.conf.json: {reason}")]
pub struct ConfigError {
    /// The setting, as written in `tauri.conf.json` (`limits.memory`).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(key: impl Into<String>, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError { key: key.into(), reason: reason.to_string() }
}

/// `text` read by `parse` (a size or a duration, [`units`]), refused with
/// the key, what it should be and the units `help` lists.
fn read<T>(
    key: &str,
    text: &Option<String>,
    parse: fn(&str) -> Result<T, UnitError>,
    (what, help, too): (&str, &str, &str),
) -> Result<Option<T>, ConfigError> {
    text.as_deref()
        .map(|t| {
            parse(t).map_err(|e| match e {
                UnitError::Malformed => invalid(key, format!("`{t}` is not a {what}; {help}")),
                UnitError::TooLarge => invalid(key, format!("`{t}` is too {too}")),
            })
        })
        .transpose()
}

fn size(key: &str, text: &Option<String>) -> Result<Option<u64>, ConfigError> {
    read(key, text, units::parse_size, ("size", SIZE_HELP, "large"))
}

fn duration(key: &str, text: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    read(key, text, units::parse_duration, ("duration", DURATION_HELP, "long"))
}

fn usize_of(key: &str, bytes: u64) -> Result<usize, ConfigError> {
    usize::try_from(bytes).map_err(|_| invalid(key, "too large for this machine"))
}

impl LimitsConfig {
    /// `limits` with these settings applied.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first setting that is not a size,
    /// duration or count, or is zero where zero would stop every plugin.
    pub fn apply(&self, mut limits: Limits) -> Result<Limits, ConfigError> {
        if let Some(bytes) = size("limits.memory", &self.memory)? {
            limits.max_memory = usize_of("limits.memory", bytes)?;
        }
        if let Some(bytes) = size("limits.messageSize", &self.message_size)? {
            limits.max_message_size = usize_of("limits.messageSize", bytes)?;
        }
        if let Some(budget) = duration("limits.cpuBudget", &self.cpu_budget)? {
            limits.cpu_budget = budget;
        }
        if let Some(timeout) = duration("limits.requestTimeout", &self.request_timeout)? {
            limits.request_timeout = timeout;
        }
        if let Some(depth) = self.mailbox {
            limits.mailbox_depth = depth;
        }
        if let Some(bytes) = size("limits.mailboxBytes", &self.mailbox_bytes)? {
            limits.mailbox_bytes = usize_of("limits.mailboxBytes", bytes)?;
        }
        if let Some(bytes) = size("limits.storageQuota", &self.storage_quota)? {
            limits.storage_quota = bytes;
        }
        if let Some(n) = self.instances {
            limits.max_instances = n;
        }
        if let Some(rate) = self.host_calls_per_second {
            limits.host_call_rate = rate;
        }
        if let Some(rate) = self.log_lines_per_second {
            limits.log_rate = rate;
        }
        let zero = [
            ("limits.memory", limits.max_memory == 0),
            ("limits.messageSize", limits.max_message_size == 0),
            ("limits.cpuBudget", limits.cpu_budget.is_zero()),
            ("limits.requestTimeout", limits.request_timeout.is_zero()),
            ("limits.mailbox", limits.mailbox_depth == 0),
            ("limits.mailboxBytes", limits.mailbox_bytes == 0),
            ("limits.instances", limits.max_instances == 0),
        ];
        match zero.into_iter().find(|(_, is_zero)| *is_zero) {
            Some((key, _)) => Err(invalid(key, "must be more than zero")),
            None => Ok(limits),
        }
    }
}

impl PolicyConfig {
    /// `policy` with these rules added.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first rule [`Policy`] refuses (a plugin
    /// pattern or permission that does not parse, a publisher key that is
    /// not `ed25519:<hex>`).
    pub fn apply(&self, mut policy: Policy) -> Result<Policy, ConfigError> {
        for plugin in &self.trust {
            policy = policy.trust(plugin).map_err(|e| invalid("policy.trust", e))?;
        }
        for (plugin, permissions) in &self.allow {
            for permission in permissions {
                policy = policy.allow(plugin, permission).map_err(|e| invalid(format!("policy.allow.{plugin}"), e))?;
            }
        }
        for (plugin, permissions) in &self.deny {
            for permission in permissions {
                policy = policy.deny(plugin, permission).map_err(|e| invalid(format!("policy.deny.{plugin}"), e))?;
            }
        }
        for key in &self.trust_publishers {
            policy = policy.trust_publisher(key).map_err(|e| invalid("policy.trustPublishers", e))?;
        }
        if self.require_signatures {
            policy = policy.require_signatures(true);
        }
        Ok(policy)
    }
}

/// A configured path: a leading Tauri base-directory variable is resolved
/// (`$APPDATA/plugins`), `..` components are dropped (as Tauri's own
/// `PathResolver::parse` does), and a relative path is taken in the app's
/// resource folder.
///
/// # Errors
///
/// [`ConfigError`] when the variable's folder cannot be found on this
/// platform.
pub fn resolve<R: Runtime>(
    app: &tauri::AppHandle<R>,
    key: &str,
    path: impl AsRef<Path>,
) -> Result<PathBuf, ConfigError> {
    let path = path.as_ref();
    let shown = path.display();
    let parsed = app.path().parse(path).map_err(|e| invalid(key, format!("`{shown}`: {e}")))?;
    if parsed.is_absolute() {
        return Ok(parsed);
    }
    let resources =
        app.path().resource_dir().map_err(|e| invalid(key, format!("`{shown}`: no resource folder: {e}")))?;
    Ok(resources.join(parsed))
}

impl Config {
    /// The configured plugin folders, resolved ([`resolve`]).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first folder that cannot be resolved.
    pub fn plugin_dirs<R: Runtime>(&self, app: &tauri::AppHandle<R>) -> Result<Vec<PathBuf>, ConfigError> {
        self.plugin_dirs.iter().map(|dir| resolve(app, "pluginDirs", dir)).collect()
    }

    /// A new host builder with the configuration's limits (over wasp's
    /// defaults) and hot reload setting. The
    /// [`Builder::configure`](crate::Builder::configure) closure runs on
    /// it afterwards, so code wins over the file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a limit that cannot be used.
    pub fn host_builder(&self) -> Result<HostBuilder, ConfigError> {
        let builder = wasp_actors::Host::builder();
        let limits = self.limits.apply(Limits::default())?;
        let mut builder = builder.limits(limits);
        if let Some(hot) = self.hot_reload {
            builder = builder.hot_reload(hot.enabled());
        }
        Ok(builder)
    }

    /// `askTimeout`, parsed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when it is not a duration.
    pub fn ask_timeout(&self) -> Result<Option<Duration>, ConfigError> {
        duration("askTimeout", &self.ask_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(
            r#"{
              "pluginDirs": ["$RESOURCE/plugins", "$APPDATA/plugins"],
              "autoload": true,
              "policy": { "trust": ["counter"], "allow": { "echo": ["publish:echo.*"] }, "deny": { "com.untrusted.*": ["*"] } },
              "ask": "webview",
              "askTimeout": "5m",
              "limits": { "cpuBudget": "250ms", "memory": "32 MiB", "requestTimeout": "10s" },
              "hotReload": "debug"
            }"#,
        )
        .expect("parses");
        assert_eq!(config.plugin_dirs, ["$RESOURCE/plugins", "$APPDATA/plugins"]);
        assert!(config.autoload);
        assert_eq!(config.ask, Some(AskMode::Webview));
        assert_eq!(config.ask_timeout().expect("a duration"), Some(Duration::from_secs(300)));
        assert_eq!(config.hot_reload, Some(HotReload::When(DebugOnly::Debug)));
        assert_eq!(config.hot_reload.map(HotReload::enabled), Some(cfg!(debug_assertions)));
        let limits = config.limits.apply(Limits::default()).expect("limits apply");
        assert_eq!(limits.cpu_budget, Duration::from_millis(250));
        assert_eq!(limits.max_memory, 32 << 20);
        assert_eq!(limits.request_timeout, Duration::from_secs(10));
        assert_eq!(limits.mailbox_depth, Limits::default().mailbox_depth, "what is not given keeps its default");
        let policy = config.policy.apply(Policy::new()).expect("rules parse");
        assert!(format!("{policy:?}").contains("counter"), "{policy:?}");
    }

    #[test]
    fn an_empty_section_is_the_default_and_a_misspelt_key_is_refused() {
        assert_eq!(parse("{}").expect("empty"), Config::default());
        let err = parse(r#"{ "pluginDir": ["plugins"] }"#).expect_err("unknown key");
        assert!(err.to_string().contains("pluginDir"), "{err}");
        let err = parse(r#"{ "limits": { "cpu_budget": "1s" } }"#).expect_err("snake case is not the file's style");
        assert!(err.to_string().contains("cpu_budget"), "{err}");
        let err = parse(r#"{ "ask": "maybe" }"#).expect_err("unknown ask");
        assert!(err.to_string().contains("maybe"), "{err}");
        let err = parse(r#"{ "hotReload": "release" }"#).expect_err("only \"debug\"");
        assert!(err.to_string().contains("hotReload") || err.to_string().contains("untagged"), "{err}");
        assert_eq!(parse(r#"{ "hotReload": false }"#).expect("bool").hot_reload, Some(HotReload::Always(false)));
    }

    #[test]
    fn bad_values_name_their_key() {
        let config = parse(r#"{ "limits": { "memory": "lots" } }"#).expect("a string");
        let err = config.limits.apply(Limits::default()).expect_err("not a size");
        assert_eq!(err.key, "limits.memory");
        assert!(err.to_string().contains("`lots` is not a size"), "{err}");
        let config = parse(r#"{ "limits": { "cpuBudget": "0ms" } }"#).expect("a string");
        let err = config.limits.apply(Limits::default()).expect_err("zero");
        assert_eq!(err.key, "limits.cpuBudget");
        let config = parse(r#"{ "policy": { "allow": { "Echo!": ["publish:x"] } } }"#).expect("a map");
        let err = config.policy.apply(Policy::new()).expect_err("not a plugin pattern");
        assert_eq!(err.key, "policy.allow.Echo!");
        let config = parse(r#"{ "policy": { "deny": { "*": ["teleport:*"] } } }"#).expect("a map");
        assert_eq!(config.policy.apply(Policy::new()).expect_err("no such permission").key, "policy.deny.*");
        let config = parse(r#"{ "askTimeout": "soon" }"#).expect("a string");
        assert_eq!(config.ask_timeout().expect_err("not a duration").key, "askTimeout");
    }
}
