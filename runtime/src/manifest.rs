//! Plugin manifests: the `plugin.toml` that ships beside a plugin's entry file.
//!
//! A manifest names the plugin, its version and ABI, what it is (a WebAssembly
//! module, a native library, or a plugin registered in process), the
//! permissions it asks for, the limits it would like and its configuration.
//! [`Manifest::parse`] reads one; every error it returns names the field and
//! the line ([`ManifestError`]). The schema is in `docs/manifest.md`.
//!
//! Everything a manifest asks for is a request: the host grants permissions
//! by its own policy, and caps limits with [`LimitRequests::apply`].

mod config;
mod read;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use wasp_protocol::{Address, ApiVersion, Permission};

use self::config::ConfigValue;
use crate::{LibraryRequirement, Limits};

/// The manifest's file name, beside the plugin's entry file.
pub const FILE_NAME: &str = "plugin.toml";

/// A plugin's manifest: who it is, what it runs, and what it asks for.
///
/// Read one from a `plugin.toml` with [`Manifest::from_file`] or
/// [`Manifest::parse`]; a host registering a plugin in code starts from
/// [`Manifest::new`] and the builder methods. [`Manifest::to_toml`] writes
/// one back.
///
/// ```
/// use std::time::Duration;
/// use wasp_protocol::Permission;
/// use wasp_runtime::manifest::{Manifest, ManifestKind};
///
/// let manifest = Manifest::parse(
///     r#"
/// name = "notes"
/// version = "0.1.0"
/// api = "1.0"
/// entry = "notes.wasm"
/// permissions = ["storage", "publish:notes.*"]
///
/// [limits]
/// memory = "16 MiB"
/// cpu_budget = "200ms"
/// "#,
/// )?;
/// assert_eq!(manifest.kind, ManifestKind::Wasm);
/// assert_eq!(manifest.permissions[1], "publish:notes.*".parse::<Permission>()?);
/// assert_eq!(manifest.limits.memory, Some(16 << 20));
/// assert_eq!(manifest.limits.cpu_budget, Some(Duration::from_millis(200)));
/// assert_eq!(Manifest::parse(&manifest.to_toml())?, manifest);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Manifest {
    /// The plugin's unique name: its address (see [`Address`]).
    pub name: String,
    /// The plugin's own version, `MAJOR.MINOR.PATCH` with optional
    /// `-pre-release` and `+build` parts.
    pub version: String,
    /// The wasp ABI version the plugin is built for.
    pub api: ApiVersion,
    /// What the entry file is.
    pub kind: ManifestKind,
    /// The entry file, relative to [`dir`](Self::dir); required for
    /// [`ManifestKind::Wasm`] and [`ManifestKind::Native`].
    pub entry: Option<PathBuf>,
    /// A one-line description for people.
    pub description: Option<String>,
    /// The permissions the plugin asks for, without duplicates, in the order
    /// written.
    pub permissions: Vec<Permission>,
    /// The shared libraries the plugin links (`uses = ["json@1"]`), each
    /// name once, in the order written: the host refuses to load the plugin
    /// unless it has a version of each that the requirement accepts
    /// (`docs/libraries.md`).
    pub uses: Vec<LibraryRequirement>,
    /// The limits the plugin asks for; the host caps them.
    pub limits: LimitRequests,
    /// How many instances the plugin asks to run behind its address
    /// (`instances = N`, an instance pool: `docs/pools.md`); `None` leaves
    /// it to [`stateless`](Self::stateless). The host caps it with
    /// [`Limits::max_instances`]; see [`pool_size`](Self::pool_size).
    pub instances: Option<usize>,
    /// Whether the plugin keeps no state between messages that matters
    /// (`stateless = true`): any instance may answer any message, so the
    /// host may run one instance per core behind its address.
    pub stateless: bool,
    /// Configuration values by key, each encoded as MessagePack (what the
    /// `config.get` host service answers).
    pub config: BTreeMap<String, Vec<u8>>,
    /// For a [`ManifestKind::Hybrid`] plugin, its components (`[[components]]`),
    /// in the order written; empty otherwise.
    pub components: Vec<Component>,
    /// A folder of static files (HTML, JS, CSS, images) relative to
    /// [`dir`](Self::dir): the plugin's UI panel, whose `index.html` a
    /// Tauri app shows in a sandboxed frame (`ui = "ui"`).
    pub ui: Option<PathBuf>,
    /// The bundle's publisher signature (`signature = "ed25519:<key>:<signature>"`),
    /// checked when the plugin loads from its folder: see
    /// [`signature`](crate::signature) and `docs/manifest.md`.
    pub signature: Option<String>,
    /// The directory the manifest was read from; `None` when it was parsed
    /// from a string or built in code.
    pub dir: Option<PathBuf>,
}

/// One component of a hybrid plugin: a WASM module or a native library that
/// runs as its own actor, under the plugin's identity and permissions.
///
/// The first component listed answers at the plugin's name; every other one
/// at `<plugin>.<component>` (`sysinfo.os`). The components of one plugin
/// may message each other without `send:` or `request:` permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The component's name: 1 to 32 bytes of a-z, 0-9, `-` and `_`,
    /// starting with a letter or a digit.
    pub name: String,
    /// [`ManifestKind::Wasm`] or [`ManifestKind::Native`].
    pub kind: ManifestKind,
    /// Its file, relative to the manifest's directory (a native entry
    /// without an extension is named the platform's way, as for
    /// [`Manifest::entry_path`]).
    pub entry: PathBuf,
}

/// The path of an entry file: native names without an extension become
/// the platform's library name.
fn entry_file(kind: ManifestKind, entry: &Path, dir: Option<&Path>) -> PathBuf {
    let mut entry = entry.to_owned();
    if kind == ManifestKind::Native
        && entry.extension().is_none()
        && let Some(stem) = entry.file_name().map(|s| s.to_string_lossy().into_owned())
    {
        use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
        entry.set_file_name(format!("{DLL_PREFIX}{stem}{DLL_SUFFIX}"));
    }
    match dir {
        Some(dir) => dir.join(entry),
        None => entry,
    }
}

/// What a manifest's entry file is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManifestKind {
    /// A WebAssembly module (`kind = "wasm"`, the default).
    #[default]
    Wasm,
    /// A native shared library (`kind = "native"`).
    Native,
    /// A plugin compiled into the host and registered in code
    /// (`kind = "in-process"`); it has no entry file.
    InProcess,
    /// Several components — WASM modules and native libraries — under one
    /// identity and one permission set (`kind = "hybrid"`, with
    /// `[[components]]` instead of `entry`).
    Hybrid,
}

impl ManifestKind {
    /// The kind as written in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Native => "native",
            Self::InProcess => "in-process",
            Self::Hybrid => "hybrid",
        }
    }

    fn from_name(text: &str) -> Option<Self> {
        [Self::Wasm, Self::Native, Self::InProcess, Self::Hybrid].into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for ManifestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits a manifest asks for; `None` leaves the host's value.
///
/// ```
/// use wasp_runtime::Limits;
/// use wasp_runtime::manifest::LimitRequests;
///
/// let host = Limits::default();
/// let asked = LimitRequests { memory: Some(1 << 40), mailbox: Some(16), ..LimitRequests::default() };
/// let granted = asked.apply(&host);
/// assert_eq!(granted.max_memory, host.max_memory); // capped
/// assert_eq!(granted.mailbox_depth, 16);
/// assert_eq!(granted.max_timers, host.max_timers); // not asked for
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitRequests {
    /// Linear memory, in bytes ([`Limits::max_memory`]).
    pub memory: Option<u64>,
    /// Table elements ([`Limits::max_table_elements`]).
    pub table_elements: Option<u32>,
    /// Largest payload, in bytes ([`Limits::max_message_size`]).
    pub message_size: Option<u64>,
    /// Mailbox depth ([`Limits::mailbox_depth`]).
    pub mailbox: Option<usize>,
    /// Payload bytes in the mailbox ([`Limits::mailbox_bytes`]).
    pub mailbox_bytes: Option<u64>,
    /// CPU time per message ([`Limits::cpu_budget`]).
    pub cpu_budget: Option<Duration>,
    /// Requests awaiting answers at once ([`Limits::max_outstanding_requests`]).
    pub outstanding_requests: Option<usize>,
    /// Host calls per second ([`Limits::host_call_rate`]).
    pub host_calls_per_second: Option<u32>,
    /// Log lines per second ([`Limits::log_rate`]).
    pub log_lines_per_second: Option<u32>,
    /// Bytes in the plugin's store ([`Limits::storage_quota`]).
    pub storage_quota: Option<u64>,
    /// Active timers ([`Limits::max_timers`]).
    pub timers: Option<usize>,
    /// Payload bytes over the active timers ([`Limits::timer_bytes`]).
    pub timer_bytes: Option<u64>,
}

impl LimitRequests {
    /// The limits a plugin runs with: each requested value, capped by the
    /// host's `caps`; the host's value where nothing is requested. Limits a
    /// manifest cannot ask for (module size, request timeout) are the host's.
    pub fn apply(&self, caps: &Limits) -> Limits {
        fn cap<T: Ord + Copy>(requested: Option<T>, cap: T) -> T {
            requested.map_or(cap, |r| r.min(cap))
        }
        let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            max_memory: cap(self.memory.map(usize_of), caps.max_memory),
            max_table_elements: cap(self.table_elements, caps.max_table_elements),
            max_message_size: cap(self.message_size.map(usize_of), caps.max_message_size),
            mailbox_depth: cap(self.mailbox, caps.mailbox_depth),
            mailbox_bytes: cap(self.mailbox_bytes.map(usize_of), caps.mailbox_bytes),
            cpu_budget: cap(self.cpu_budget, caps.cpu_budget),
            max_outstanding_requests: cap(self.outstanding_requests, caps.max_outstanding_requests),
            host_call_rate: cap(self.host_calls_per_second, caps.host_call_rate),
            log_rate: cap(self.log_lines_per_second, caps.log_rate),
            storage_quota: cap(self.storage_quota, caps.storage_quota),
            max_timers: cap(self.timers, caps.max_timers),
            timer_bytes: cap(self.timer_bytes.map(usize_of), caps.timer_bytes),
            ..caps.clone()
        }
    }
}

/// Why a manifest was refused: where, which field, and what is wrong.
///
/// Displays as `plugin.toml:3:9: field `limits.memory`: <message>`: the file
/// (`plugin.toml` when parsed from a string), the 1-based line and column
/// when known, the dotted field when known, then what is wrong and what is
/// expected.
///
/// ```
/// use wasp_runtime::manifest::Manifest;
/// let err = Manifest::parse("name = \"notes\"\nversion = \"1\"\napi = \"1.0\"\nkind = \"in-process\"\n").unwrap_err();
/// assert_eq!(err.field.as_deref(), Some("version"));
/// assert_eq!(err.line, Some(2));
/// assert!(err.to_string().starts_with("plugin.toml:2:11: field `version`: `1` is not a version"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
#[non_exhaustive]
pub struct ManifestError {
    /// The manifest file, when it was read from one.
    pub path: Option<PathBuf>,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// The dotted field name (`limits.memory`, `permissions[2]`), when known.
    pub field: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl ManifestError {
    fn new(field: Option<String>, message: String) -> Self {
        Self { path: None, line: None, column: None, field, message }
    }

    /// An error about the file `path`, with no line.
    pub(crate) fn at(path: &Path, field: Option<String>, message: String) -> Self {
        Self { path: Some(path.to_owned()), ..Self::new(field, message) }
    }

    fn render(&self) -> String {
        let mut out = match &self.path {
            Some(path) => path.display().to_string(),
            None => FILE_NAME.to_owned(),
        };
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                out.push_str(&format!(":{column}"));
            }
        }
        out.push_str(": ");
        if let Some(field) = &self.field {
            out.push_str(&format!("field `{field}`: "));
        }
        out.push_str(&self.message);
        out
    }
}

impl Manifest {
    /// A manifest for a plugin registered in code: version `0.0.0`,
    /// [`ApiVersion::CURRENT`], kind [`ManifestKind::InProcess`], no entry,
    /// no permissions, no limit requests, no configuration.
    ///
    /// ```
    /// use wasp_protocol::Permission;
    /// use wasp_runtime::manifest::{LimitRequests, Manifest};
    /// let manifest = Manifest::new("clock")?
    ///     .permission(Permission::Timers)
    ///     .limits(LimitRequests { timers: Some(4), ..LimitRequests::default() })
    ///     .config_value("tick_ms", &250)?;
    /// assert_eq!(manifest.permissions, [Permission::Timers]);
    /// assert!(Manifest::new("Not A Name").is_err());
    /// # Ok::<(), wasp_runtime::manifest::ManifestError>(())
    /// ```
    pub fn new(name: &str) -> Result<Self, ManifestError> {
        check_name(name).map_err(|message| ManifestError::new(Some("name".into()), message))?;
        Ok(Self {
            name: name.to_owned(),
            version: "0.0.0".to_owned(),
            api: ApiVersion::CURRENT,
            kind: ManifestKind::InProcess,
            entry: None,
            description: None,
            permissions: Vec::new(),
            uses: Vec::new(),
            limits: LimitRequests::default(),
            instances: None,
            stateless: false,
            config: BTreeMap::new(),
            components: Vec::new(),
            ui: None,
            signature: None,
            dir: None,
        })
    }

    /// Adds one permission, unless it is already there.
    pub fn permission(mut self, permission: Permission) -> Self {
        if !self.permissions.contains(&permission) {
            self.permissions.push(permission);
        }
        self
    }

    /// Adds permissions, skipping those already there.
    pub fn permissions<I: IntoIterator<Item = Permission>>(self, permissions: I) -> Self {
        permissions.into_iter().fold(self, Self::permission)
    }

    /// Adds a shared library requirement, replacing one of the same name.
    pub fn uses(mut self, requirement: LibraryRequirement) -> Self {
        self.uses.retain(|r| r.name() != requirement.name());
        self.uses.push(requirement);
        self
    }

    /// Replaces the limit requests.
    pub fn limits(mut self, limits: LimitRequests) -> Self {
        self.limits = limits;
        self
    }

    /// Asks for an instance pool of `n` instances (`instances = n`), as a
    /// host registering an in-process plugin may; `n` is capped by
    /// [`Limits::max_instances`] when the plugin starts.
    ///
    /// ```
    /// use wasp_runtime::{Limits, Manifest};
    /// let manifest = Manifest::new("resize")?.instances(4);
    /// assert_eq!(manifest.pool_size(&Limits::default()), 4);
    /// assert_eq!(manifest.pool_size(&Limits { max_instances: 2, ..Limits::default() }), 2);
    /// # Ok::<(), wasp_runtime::manifest::ManifestError>(())
    /// ```
    pub fn instances(mut self, n: usize) -> Self {
        self.instances = Some(n);
        self
    }

    /// Declares the plugin stateless (`stateless = true`): without
    /// [`instances`](Self::instances) it runs one instance per core.
    pub fn stateless(mut self, stateless: bool) -> Self {
        self.stateless = stateless;
        self
    }

    /// How many instances the plugin runs behind its address under the
    /// host's `caps`: `instances` when the manifest names it; otherwise,
    /// for a `stateless` plugin, one per core the process may use
    /// ([`std::thread::available_parallelism`], 1 if unknown); otherwise
    /// 1. Always at least 1 and at most `caps.max_instances` (at least 1).
    pub fn pool_size(&self, caps: &Limits) -> usize {
        let cap = caps.max_instances.max(1);
        let wanted = match self.instances {
            Some(n) => n,
            None if self.stateless => std::thread::available_parallelism().map_or(1, usize::from),
            None => 1,
        };
        wanted.clamp(1, cap)
    }

    /// Sets one configuration value, encoded as MessagePack.
    ///
    /// The value must be one TOML can hold, so that [`to_toml`](Self::to_toml)
    /// can write it: strings, integers within `i64`, floats, booleans, and
    /// arrays and maps (with string keys) of those. `None` fields of a struct
    /// are left out, as TOML has no null; a null anywhere else, or an integer
    /// above `i64::MAX`, is an error. Bytes become an array of integers.
    /// Arrays and maps may nest at most
    /// [`codec::MAX_DEPTH`](wasp_protocol::codec::MAX_DEPTH) deep, as the
    /// plugin's decoder accepts no more.
    pub fn config_value<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Result<Self, ManifestError> {
        let field = || Some(format!("config.{key}"));
        let bytes = rmp_serde::to_vec_named(value)
            .map_err(|e| ManifestError::new(field(), format!("cannot encode the value: {e}")))?;
        let value = match wasp_protocol::codec::from_slice::<ConfigValue>(&bytes) {
            Ok(ConfigValue::Null) => Err("null cannot be written in TOML".to_owned()),
            Ok(value) => Ok(value),
            Err(e) => Err(format!("the value cannot be written in TOML: {e}")),
        }
        .map_err(|message| ManifestError::new(field(), message))?;
        self.config.insert(key.to_owned(), value.encode());
        Ok(self)
    }

    /// Parses a manifest from TOML text. [`dir`](Self::dir) is `None`.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        read::manifest(text)
    }

    /// Reads and parses the manifest at `path`, and sets [`dir`](Self::dir)
    /// to its directory. Errors carry the path. Only a regular file of at
    /// most [`MAX_MANIFEST_SIZE`](crate::MAX_MANIFEST_SIZE) (64 KiB) is read:
    /// a FIFO, a device or a directory is refused without waiting on it.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        Self::from_file_with_text(path).map(|(manifest, _)| manifest)
    }

    /// [`Manifest::from_file`], with the text read.
    pub(crate) fn from_file_with_text(path: &Path) -> Result<(Self, String), ManifestError> {
        let with_path = |mut e: ManifestError| {
            e.path = Some(path.to_owned());
            e
        };
        let cannot_read =
            |e: &dyn fmt::Display| with_path(ManifestError::new(None, format!("cannot read the manifest: {e}")));
        let bytes =
            crate::read_plugin_file(path, crate::MAX_MANIFEST_SIZE, "MAX_MANIFEST_SIZE").map_err(|e| match e {
                crate::Error::Io { source, .. } => cannot_read(&source),
                other => cannot_read(&other),
            })?;
        let text = String::from_utf8(bytes).map_err(|e| cannot_read(&e))?;
        let mut manifest = Self::parse(&text).map_err(with_path)?;
        manifest.dir = Some(match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        });
        Ok((manifest, text))
    }

    /// The entry file's path: [`entry`](Self::entry) joined to
    /// [`dir`](Self::dir), or `entry` alone when there is no directory.
    ///
    /// A native entry written without an extension names the library the
    /// platform's way, so one manifest serves every platform: `entry =
    /// "echo"` is `libecho.so` on Linux, `echo.dll` on Windows and
    /// `libecho.dylib` on macOS.
    ///
    /// ```
    /// use wasp_runtime::{Manifest, ManifestKind};
    /// let manifest = Manifest::parse("name = \"echo\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"native\"\nentry = \"echo\"\n")?;
    /// assert_eq!(manifest.kind, ManifestKind::Native);
    /// let file = format!("{}echo{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    /// assert_eq!(manifest.entry_path().unwrap(), std::path::PathBuf::from(file));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entry_path(&self) -> Option<PathBuf> {
        Some(entry_file(self.kind, self.entry.as_deref()?, self.dir.as_deref()))
    }

    /// The plugin's UI folder ([`ui`](Self::ui)) joined to the manifest's
    /// directory; `None` when the manifest names none.
    pub fn ui_path(&self) -> Option<PathBuf> {
        let ui = self.ui.as_deref()?;
        Some(match self.dir.as_deref() {
            Some(dir) => dir.join(ui),
            None => ui.to_owned(),
        })
    }

    /// The address of each component of a hybrid plugin with its file's
    /// path: the first at the plugin's name, the others at
    /// `<name>.<component>`.
    pub fn component_entries(&self) -> Vec<(String, &Component, PathBuf)> {
        self.components
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let address = if i == 0 { self.name.clone() } else { format!("{}.{}", self.name, c.name) };
                (address, c, entry_file(c.kind, &c.entry, self.dir.as_deref()))
            })
            .collect()
    }

    /// Writes the manifest as TOML that [`parse`](Self::parse)s back to an
    /// equal manifest (except [`dir`](Self::dir), which the text cannot
    /// carry).
    ///
    /// Sizes are written in the largest binary unit that divides them,
    /// durations in seconds, milliseconds or microseconds (finer parts are
    /// dropped), counts above `i64::MAX` (TOML's largest integer) as
    /// `i64::MAX`. A configuration value that is not valid MessagePack, or holds
    /// something TOML cannot (see [`config_value`](Self::config_value)), is
    /// left out with a comment saying so.
    pub fn to_toml(&self) -> String {
        write::manifest(self)
    }
}

/// `text` without its `signature` line(s); see
/// [`crate::signature::unsigned_manifest`].
pub(crate) fn without_signature(text: &str) -> Result<Vec<u8>, ManifestError> {
    read::without_signature(text)
}

fn check_name(name: &str) -> Result<(), String> {
    Address::plugin(name).map(drop).map_err(|e| {
        format!(
            "`{name}` is not a valid plugin name: {e}; a name is 1 to 64 bytes of a-z, 0-9, `-`, `_` and `.`, \
             in `.`-separated parts that each start with a letter or a digit, and not `host`"
        )
    })
}
