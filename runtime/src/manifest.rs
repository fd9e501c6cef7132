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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use wasp_protocol::{Address, ApiVersion, Permission};

use crate::Limits;

/// The manifest's file name, beside the plugin's entry file.
pub const FILE_NAME: &str = "plugin.toml";

/// The top-level keys, in the order [`Manifest::to_toml`] writes them.
const KEYS: &[&str] = &["name", "version", "api", "kind", "entry", "description", "permissions", "limits", "config"];

/// The keys of `[limits]`.
const LIMIT_KEYS: &[&str] = &[
    "memory",
    "table_elements",
    "message_size",
    "mailbox",
    "cpu_budget",
    "outstanding_requests",
    "host_calls_per_second",
    "log_lines_per_second",
    "storage_quota",
    "timers",
];

const SIZE_HELP: &str = "write bytes or a number with B, KB, MB, GB, KiB, MiB or GiB";
const DURATION_HELP: &str = "write milliseconds or a number with us, ms, s or m";

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
    /// The limits the plugin asks for; the host caps them.
    pub limits: LimitRequests,
    /// Configuration values by key, each encoded as MessagePack (what the
    /// `config.get` host service answers).
    pub config: BTreeMap<String, Vec<u8>>,
    /// The directory the manifest was read from; `None` when it was parsed
    /// from a string or built in code.
    pub dir: Option<PathBuf>,
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
}

impl ManifestKind {
    /// The kind as written in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Native => "native",
            Self::InProcess => "in-process",
        }
    }

    fn from_name(text: &str) -> Option<Self> {
        [Self::Wasm, Self::Native, Self::InProcess].into_iter().find(|k| k.as_str() == text)
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
            cpu_budget: cap(self.cpu_budget, caps.cpu_budget),
            max_outstanding_requests: cap(self.outstanding_requests, caps.max_outstanding_requests),
            host_call_rate: cap(self.host_calls_per_second, caps.host_call_rate),
            log_rate: cap(self.log_lines_per_second, caps.log_rate),
            storage_quota: cap(self.storage_quota, caps.storage_quota),
            max_timers: cap(self.timers, caps.max_timers),
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
            limits: LimitRequests::default(),
            config: BTreeMap::new(),
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

    /// Replaces the limit requests.
    pub fn limits(mut self, limits: LimitRequests) -> Self {
        self.limits = limits;
        self
    }

    /// Sets one configuration value, encoded as MessagePack.
    ///
    /// The value must be one TOML can hold, so that [`to_toml`](Self::to_toml)
    /// can write it: strings, integers within `i64`, floats, booleans, and
    /// arrays and maps (with string keys) of those. `None` fields of a struct
    /// are left out, as TOML has no null; a null anywhere else, or an integer
    /// above `i64::MAX`, is an error. Bytes become an array of integers.
    pub fn config_value<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Result<Self, ManifestError> {
        let field = || Some(format!("config.{key}"));
        let bytes = rmp_serde::to_vec_named(value)
            .map_err(|e| ManifestError::new(field(), format!("cannot encode the value: {e}")))?;
        let value = match rmp_serde::from_slice::<ConfigValue>(&bytes) {
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
        let doc = DeTable::parse(text).map_err(|e| syntax_error(text, &e))?;
        Reader { text }.manifest(doc.get_ref())
    }

    /// Reads and parses the manifest at `path`, and sets [`dir`](Self::dir)
    /// to its directory. Errors carry the path.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let with_path = |mut e: ManifestError| {
            e.path = Some(path.to_owned());
            e
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| with_path(ManifestError::new(None, format!("cannot read the manifest: {e}"))))?;
        let mut manifest = Self::parse(&text).map_err(with_path)?;
        manifest.dir = Some(match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        });
        Ok(manifest)
    }

    /// The entry file's path: [`entry`](Self::entry) joined to
    /// [`dir`](Self::dir), or `entry` alone when there is no directory.
    pub fn entry_path(&self) -> Option<PathBuf> {
        let entry = self.entry.as_ref()?;
        Some(match &self.dir {
            Some(dir) => dir.join(entry),
            None => entry.clone(),
        })
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
        let mut out = String::new();
        let mut line = |key: &str, value: String| out.push_str(&format!("{key} = {value}\n"));
        line("name", quote(&self.name));
        line("version", quote(&self.version));
        line("api", quote(&self.api.to_string()));
        line("kind", quote(self.kind.as_str()));
        if let Some(entry) = &self.entry {
            line("entry", quote(&entry.to_string_lossy()));
        }
        if let Some(description) = &self.description {
            line("description", quote(description));
        }
        if !self.permissions.is_empty() {
            let list: Vec<String> = self.permissions.iter().map(|p| quote(&p.to_string())).collect();
            line("permissions", format!("[{}]", list.join(", ")));
        }
        let limits = self.limits_toml();
        if !limits.is_empty() {
            out.push_str("\n[limits]\n");
            out.push_str(&limits);
        }
        if !self.config.is_empty() {
            out.push_str("\n[config]\n");
            for (key, bytes) in &self.config {
                match rmp_serde::from_slice::<ConfigValue>(bytes) {
                    Ok(value) if value.is_toml() => {
                        out.push_str(&format!("{} = {}\n", toml_key(key), value.to_toml()));
                    }
                    _ => out.push_str(&format!("# {} left out: not a value TOML can hold\n", toml_key(key))),
                }
            }
        }
        out
    }

    fn limits_toml(&self) -> String {
        let l = &self.limits;
        let mut out = String::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push_str(&format!("{key} = {value}\n"));
            }
        };
        put("memory", l.memory.map(size_toml));
        put("table_elements", l.table_elements.map(count_toml));
        put("message_size", l.message_size.map(size_toml));
        put("mailbox", l.mailbox.map(count_toml));
        put("cpu_budget", l.cpu_budget.map(duration_toml));
        put("outstanding_requests", l.outstanding_requests.map(count_toml));
        put("host_calls_per_second", l.host_calls_per_second.map(count_toml));
        put("log_lines_per_second", l.log_lines_per_second.map(count_toml));
        put("storage_quota", l.storage_quota.map(size_toml));
        put("timers", l.timers.map(count_toml));
        out
    }
}

// ---------------------------------------------------------------------------
// Reading: walk the spanned TOML tree, so that every error has its line.

type Value<'i> = Spanned<DeValue<'i>>;

/// The text being parsed, for turning spans into lines.
struct Reader<'t> {
    text: &'t str,
}

impl Reader<'_> {
    fn error(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> ManifestError {
        let (line, column) = line_column(self.text, span.start);
        ManifestError {
            path: None,
            line: Some(line),
            column: Some(column),
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    fn wrong_type(&self, field: &str, value: &Value<'_>, expected: &str) -> ManifestError {
        self.error(value.span(), field, format!("expected {expected}, found {}", type_name(value.get_ref())))
    }

    fn string<'v>(&self, field: &str, value: &'v Value<'_>, expected: &str) -> Result<&'v str, ManifestError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.wrong_type(field, value, expected)),
        }
    }

    fn manifest(&self, doc: &DeTable<'_>) -> Result<Manifest, ManifestError> {
        let mut name = None;
        let mut version = None;
        let mut api = None;
        let mut kind = None;
        let mut entry = None;
        let mut description = None;
        let mut permissions = Vec::new();
        let mut limits = LimitRequests::default();
        let mut config = BTreeMap::new();
        for (key, value) in in_file_order(doc) {
            match key.get_ref().as_ref() {
                "name" => {
                    let text = self.string("name", value, "a string such as \"notes\"")?;
                    check_name(text).map_err(|m| self.error(value.span(), "name", m))?;
                    name = Some(text.to_owned());
                }
                "version" => {
                    let text = self.string("version", value, "a string such as \"0.1.0\"")?;
                    if !is_version(text) {
                        let message = format!(
                            "`{text}` is not a version; expected MAJOR.MINOR.PATCH such as \"0.1.0\", \
                             optionally followed by -pre-release and +build parts"
                        );
                        return Err(self.error(value.span(), "version", message));
                    }
                    version = Some(text.to_owned());
                }
                "api" => {
                    let expected = format!("a string such as \"{}\"", ApiVersion::CURRENT);
                    let text = self.string("api", value, &expected)?;
                    let parsed = text.parse::<ApiVersion>().map_err(|e| {
                        self.error(value.span(), "api", format!("{e}, such as \"{}\"", ApiVersion::CURRENT))
                    })?;
                    api = Some(parsed);
                }
                "kind" => {
                    let expected = "\"wasm\", \"native\" or \"in-process\"";
                    let text = self.string("kind", value, &format!("a string: {expected}"))?;
                    let parsed = ManifestKind::from_name(text).ok_or_else(|| {
                        self.error(value.span(), "kind", format!("`{text}` is not a plugin kind; expected {expected}"))
                    })?;
                    kind = Some((parsed, value.span()));
                }
                "entry" => {
                    let text = self.string("entry", value, "a string such as \"notes.wasm\"")?;
                    check_entry(text).map_err(|m| self.error(value.span(), "entry", m))?;
                    entry = Some(PathBuf::from(text));
                }
                "description" => {
                    description = Some(self.string("description", value, "a string")?.to_owned());
                }
                "permissions" => permissions = self.permissions(value)?,
                "limits" => limits = self.limits(value)?,
                "config" => config = self.config(value)?,
                other => {
                    let message = format!("unknown key `{other}`; the keys are {}", KEYS.join(", "));
                    return Err(self.error(key.span(), other, message));
                }
            }
        }
        let missing = |field: &str, example: &str, span: Range<usize>| {
            self.error(span, field, format!("missing; a manifest needs `{field}`, such as {field} = {example}"))
        };
        let name = name.ok_or_else(|| missing("name", "\"notes\"", 0..0))?;
        let version = version.ok_or_else(|| missing("version", "\"0.1.0\"", 0..0))?;
        let api = api.ok_or_else(|| missing("api", &format!("\"{}\"", ApiVersion::CURRENT), 0..0))?;
        let (kind, kind_span) = kind.unwrap_or((ManifestKind::Wasm, 0..0));
        if entry.is_none() && kind != ManifestKind::InProcess {
            let message = format!(
                "missing; a `{kind}` plugin needs `entry`, the file to load relative to the manifest, \
                 such as entry = \"{name}.{}\"",
                if kind == ManifestKind::Wasm { "wasm" } else { "so" }
            );
            return Err(self.error(kind_span, "entry", message));
        }
        Ok(Manifest { name, version, api, kind, entry, description, permissions, limits, config, dir: None })
    }

    fn permissions(&self, value: &Value<'_>) -> Result<Vec<Permission>, ManifestError> {
        let expected = "an array of strings such as [\"storage\", \"publish:notes.*\"]";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.wrong_type("permissions", value, expected));
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("permissions[{i}]");
            let text = self.string(&field, item, "a string such as \"storage\"")?;
            let permission: Permission = text.parse().map_err(|e| self.error(item.span(), &field, format!("{e}")))?;
            if seen.insert(permission.clone()) {
                out.push(permission);
            }
        }
        Ok(out)
    }

    fn limits(&self, value: &Value<'_>) -> Result<LimitRequests, ManifestError> {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.wrong_type("limits", value, "a table ([limits])"));
        };
        let mut out = LimitRequests::default();
        for (key, value) in in_file_order(table) {
            let field = format!("limits.{}", key.get_ref());
            let f = field.as_str();
            match key.get_ref().as_ref() {
                "memory" => out.memory = Some(self.size(f, value, true)?),
                "table_elements" => out.table_elements = Some(self.count(f, value, false)?),
                "message_size" => out.message_size = Some(self.size(f, value, true)?),
                "mailbox" => out.mailbox = Some(self.count(f, value, true)?),
                "cpu_budget" => out.cpu_budget = Some(self.duration(f, value)?),
                "outstanding_requests" => out.outstanding_requests = Some(self.count(f, value, false)?),
                "host_calls_per_second" => out.host_calls_per_second = Some(self.count(f, value, false)?),
                "log_lines_per_second" => out.log_lines_per_second = Some(self.count(f, value, false)?),
                "storage_quota" => out.storage_quota = Some(self.size(f, value, false)?),
                "timers" => out.timers = Some(self.count(f, value, false)?),
                other => {
                    let message = format!("unknown limit `{other}`; the limits are {}", LIMIT_KEYS.join(", "));
                    return Err(self.error(key.span(), f, message));
                }
            }
        }
        Ok(out)
    }

    /// A whole number, as written, or the error to report.
    fn whole(&self, field: &str, value: &Value<'_>, expected: &str) -> Result<u64, ManifestError> {
        let DeValue::Integer(int) = value.get_ref() else {
            return Err(self.wrong_type(field, value, expected));
        };
        match i128::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if n < 0 => Err(self.error(value.span(), field, format!("`{int}` is negative; expected {expected}"))),
            Ok(n) => u64::try_from(n).map_err(|_| self.error(value.span(), field, format!("`{int}` is too large"))),
            Err(_) => Err(self.error(value.span(), field, format!("`{int}` is too large"))),
        }
    }

    fn count<T: TryFrom<u64> + Bounded>(
        &self,
        field: &str,
        value: &Value<'_>,
        nonzero: bool,
    ) -> Result<T, ManifestError> {
        let expected = if nonzero { "a whole number of 1 or more" } else { "a whole number" };
        let n = self.whole(field, value, expected)?;
        if nonzero && n == 0 {
            return Err(self.error(value.span(), field, format!("`0` is too small; expected {expected}")));
        }
        T::try_from(n).map_err(|_| self.error(value.span(), field, format!("`{n}` is too large; at most {}", T::MAX)))
    }

    fn size(&self, field: &str, value: &Value<'_>, nonzero: bool) -> Result<u64, ManifestError> {
        let expected = "a size in bytes, or a string such as \"16 MiB\"";
        let n = match value.get_ref() {
            DeValue::String(text) => parse_size(text).map_err(|e| {
                let message = match e {
                    Unit::Malformed => format!("`{text}` is not a size; {SIZE_HELP}"),
                    Unit::TooLarge => format!("`{text}` is too large"),
                };
                self.error(value.span(), field, message)
            })?,
            _ => self.whole(field, value, expected)?,
        };
        if nonzero && n == 0 {
            return Err(self.error(value.span(), field, "a size of 0 is too small; expected 1 byte or more"));
        }
        Ok(n)
    }

    fn duration(&self, field: &str, value: &Value<'_>) -> Result<Duration, ManifestError> {
        let expected = "milliseconds, or a string such as \"200ms\"";
        let d = match value.get_ref() {
            DeValue::String(text) => parse_duration(text).map_err(|e| {
                let message = match e {
                    Unit::Malformed => format!("`{text}` is not a duration; {DURATION_HELP}"),
                    Unit::TooLarge => format!("`{text}` is too long"),
                };
                self.error(value.span(), field, message)
            })?,
            _ => Duration::from_millis(self.whole(field, value, expected)?),
        };
        if d.is_zero() {
            return Err(self.error(value.span(), field, "a duration of 0 is too short; expected 1us or more"));
        }
        Ok(d)
    }

    fn config(&self, value: &Value<'_>) -> Result<BTreeMap<String, Vec<u8>>, ManifestError> {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.wrong_type("config", value, "a table ([config])"));
        };
        let mut out = BTreeMap::new();
        for (key, value) in in_file_order(table) {
            let key = key.get_ref().as_ref();
            let converted = self.config_value(&format!("config.{key}"), value)?;
            out.insert(key.to_owned(), converted.encode());
        }
        Ok(out)
    }

    fn config_value(&self, field: &str, value: &Value<'_>) -> Result<ConfigValue, ManifestError> {
        Ok(match value.get_ref() {
            DeValue::String(s) => ConfigValue::String(s.to_string()),
            DeValue::Integer(int) => {
                ConfigValue::Integer(i64::from_str_radix(int.as_str(), int.radix()).map_err(|_| {
                    self.error(value.span(), field, format!("`{int}` does not fit a 64-bit signed integer"))
                })?)
            }
            DeValue::Float(float) => {
                let text = float.as_str();
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() || text.contains("inf") || text.contains("nan") => ConfigValue::Float(f),
                    _ => return Err(self.error(value.span(), field, format!("`{text}` does not fit a 64-bit float"))),
                }
            }
            DeValue::Boolean(b) => ConfigValue::Boolean(*b),
            DeValue::Datetime(d) => ConfigValue::String(d.to_string()),
            DeValue::Array(items) => ConfigValue::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.config_value(&format!("{field}[{i}]"), item))
                    .collect::<Result<_, _>>()?,
            ),
            DeValue::Table(table) => ConfigValue::Table(
                table
                    .iter()
                    .map(|(k, v)| {
                        let k = k.get_ref().as_ref();
                        Ok((k.to_owned(), self.config_value(&format!("{field}.{k}"), v)?))
                    })
                    .collect::<Result<_, ManifestError>>()?,
            ),
        })
    }
}

/// Integer types with a maximum, for "at most" in errors.
trait Bounded: fmt::Display {
    const MAX: Self;
}

impl Bounded for u32 {
    const MAX: Self = u32::MAX;
}

impl Bounded for usize {
    const MAX: Self = usize::MAX;
}

/// A table's entries in the order they appear in the file, so that the first
/// error reported is the first one written.
fn in_file_order<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Spanned<std::borrow::Cow<'i, str>>, &'a Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    (line, column)
}

/// A TOML syntax error, placed at its line, with the key it is in when the
/// line shows one.
fn syntax_error(text: &str, error: &toml::de::Error) -> ManifestError {
    let offset = error.span().map_or(0, |span| span.start);
    let (line, column) = line_column(text, offset);
    let message = error.message().trim().replace('\n', "; ");
    ManifestError {
        path: None,
        line: Some(line),
        column: Some(column),
        field: field_at(text, line),
        message: format!("invalid TOML: {message}"),
    }
}

/// The dotted key written on `line` (1-based), under the last table header
/// above it; a best guess for syntax errors, where no tree exists.
fn field_at(text: &str, line: usize) -> Option<String> {
    let key_of = |s: &str| {
        let s = s.trim();
        let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c));
        ok.then(|| s.split('.').map(|p| p.trim().trim_matches(['"', '\''])).collect::<Vec<_>>().join("."))
    };
    let mut table: Option<String> = None;
    for (i, current) in text.lines().enumerate() {
        let trimmed = current.trim();
        if i + 1 == line {
            if let Some(header) = trimmed.strip_prefix('[') {
                let header = header.trim_start_matches('[');
                return header.split(']').next().and_then(key_of);
            }
            let key = key_of(trimmed.split('=').next()?)?;
            return Some(match table {
                Some(table) => format!("{table}.{key}"),
                None => key,
            });
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            table = header.trim_start_matches('[').split(']').next().and_then(key_of);
        }
    }
    None
}

fn check_name(name: &str) -> Result<(), String> {
    Address::plugin(name).map(drop).map_err(|e| {
        format!(
            "`{name}` is not a valid plugin name: {e}; a name is 1 to 64 bytes of a-z, 0-9, `-`, `_` and `.`, \
             and not `host`"
        )
    })
}

/// `MAJOR.MINOR.PATCH`, then optional `-pre.release` and `+build.meta`.
fn is_version(text: &str) -> bool {
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let dotted = |s: &str| s.split('.').all(ident);
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let number = |s: &str| {
        !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| number(p)) && pre.is_none_or(dotted) && build.is_none_or(dotted)
}

fn check_entry(entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err("the entry cannot be empty; expected a file name such as \"notes.wasm\"".into());
    }
    if entry.contains('\0') {
        return Err("the entry cannot contain NUL".into());
    }
    let bytes = entry.as_bytes();
    let drive = bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic();
    if entry.starts_with(['/', '\\']) || drive || Path::new(entry).is_absolute() {
        return Err(format!("`{entry}` is an absolute path; expected a path relative to the manifest's directory"));
    }
    if entry.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!("`{entry}` leaves the manifest's directory; `..` is not allowed in `entry`"));
    }
    Ok(())
}

/// Why a size or duration string was refused.
enum Unit {
    Malformed,
    TooLarge,
}

/// Splits `"16 MiB"` into `16` and `"MiB"`.
fn number_and_unit(text: &str) -> Result<(u64, &str), Unit> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(Unit::Malformed);
    }
    let n = digits.parse::<u64>().map_err(|_| Unit::TooLarge)?;
    Ok((n, unit.trim_start()))
}

fn parse_size(text: &str) -> Result<u64, Unit> {
    let (n, unit) = number_and_unit(text)?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(Unit::Malformed),
    };
    n.checked_mul(scale).ok_or(Unit::TooLarge)
}

fn parse_duration(text: &str) -> Result<Duration, Unit> {
    let (n, unit) = number_and_unit(text)?;
    match unit {
        "us" | "µs" => Ok(Duration::from_micros(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or(Unit::TooLarge),
        _ => Err(Unit::Malformed),
    }
}

/// A size in the largest binary unit that divides it; as a string when TOML's
/// integers (`i64`) cannot hold it.
fn size_toml(n: u64) -> String {
    let unit =
        [(30, "GiB"), (20, "MiB"), (10, "KiB")].into_iter().find(|&(shift, _)| n != 0 && n.is_multiple_of(1 << shift));
    match unit {
        Some((shift, unit)) => quote(&format!("{} {unit}", n >> shift)),
        None if i64::try_from(n).is_err() => quote(&format!("{n} B")),
        None => n.to_string(),
    }
}

/// A count; TOML's integers are `i64`, and no host caps a count near that.
fn count_toml<T: TryInto<i64>>(n: T) -> String {
    n.try_into().unwrap_or(i64::MAX).to_string()
}

/// A duration in the coarsest of `s`, `ms`, `us` that holds it exactly, or
/// else the finest whose count fits `u64`; finer than microseconds is dropped.
fn duration_toml(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    let millis = u64::try_from(d.as_millis()).ok();
    let micros = u64::try_from(d.as_micros()).ok();
    let text = match (millis, micros) {
        _ if nanos == 0 => format!("{}s", d.as_secs()),
        (Some(ms), _) if nanos.is_multiple_of(1_000_000) => format!("{ms}ms"),
        (_, Some(us)) => format!("{us}us"),
        (Some(ms), None) => format!("{ms}ms"),
        (None, None) => format!("{}s", d.as_secs()),
    };
    quote(&text)
}

// ---------------------------------------------------------------------------
// Configuration values: what TOML can hold, to and from MessagePack.

/// One configuration value. `Null` only appears while decoding MessagePack.
#[derive(Debug, Clone, PartialEq)]
enum ConfigValue {
    Null,
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<ConfigValue>),
    Table(BTreeMap<String, ConfigValue>),
}

impl ConfigValue {
    /// The canonical MessagePack encoding.
    fn encode(&self) -> Vec<u8> {
        // Encoding these variants into a `Vec` cannot fail.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// Whether TOML can hold the value (no nulls).
    fn is_toml(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Array(items) => items.iter().all(Self::is_toml),
            Self::Table(entries) => entries.values().all(Self::is_toml),
            _ => true,
        }
    }

    /// The value as an inline TOML value.
    fn to_toml(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::String(s) => quote(s),
            Self::Integer(n) => n.to_string(),
            Self::Float(f) => float_toml(*f),
            Self::Boolean(b) => b.to_string(),
            Self::Array(items) => format!("[{}]", items.iter().map(Self::to_toml).collect::<Vec<_>>().join(", ")),
            Self::Table(entries) if entries.is_empty() => "{}".to_owned(),
            Self::Table(entries) => {
                let entries: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{} = {}", toml_key(k), v.to_toml())).collect();
                format!("{{ {} }}", entries.join(", "))
            }
        }
    }
}

impl Serialize for ConfigValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::String(v) => s.serialize_str(v),
            Self::Integer(v) => s.serialize_i64(*v),
            Self::Float(v) => s.serialize_f64(*v),
            Self::Boolean(v) => s.serialize_bool(*v),
            Self::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Table(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = ConfigValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value TOML can hold")
    }

    fn visit_bool<E>(self, v: bool) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigValue, E> {
        i64::try_from(v)
            .map(ConfigValue::Integer)
            .map_err(|_| E::custom(format!("{v} is above the largest TOML integer, {}", i64::MAX)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<ConfigValue, E> {
        Ok(ConfigValue::String(v.to_owned()))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Array(v.iter().map(|&b| ConfigValue::Integer(i64::from(b))).collect()))
    }

    fn visit_unit<E>(self) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Null)
    }

    fn visit_none<E>(self) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ConfigValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ConfigValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<ConfigValue>()? {
            if item == ConfigValue::Null {
                return Err(de::Error::custom("an array cannot hold null in TOML"));
            }
            items.push(item);
        }
        Ok(ConfigValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigValue, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<ConfigValue>()? {
            let ConfigValue::String(key) = key else {
                return Err(de::Error::custom("map keys must be strings in TOML"));
            };
            match map.next_value::<ConfigValue>()? {
                // TOML has no null: a `None` field is written by leaving it out.
                ConfigValue::Null => {}
                value => {
                    entries.insert(key, value);
                }
            }
        }
        Ok(ConfigValue::Table(entries))
    }
}

// ---------------------------------------------------------------------------
// Writing TOML.

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key, bare when TOML allows it.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_owned() } else { quote(key) }
}

fn float_toml(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // `Debug` is the shortest text that reads back to the same float, and
    // always has a `.` or an exponent, as TOML floats must.
    format!("{f:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name = "notes"
version = "0.1.0-beta.2+build.7"
api = "1.1"
kind = "wasm"
entry = "bin/notes.wasm"
description = "Takes notes."
permissions = ["storage", "timers", "publish:notes.*", "request:echo", "storage"]

[limits]
memory = "16 MiB"
table_elements = 10000
message_size = "1MB"
mailbox = 256
cpu_budget = "200ms"
outstanding_requests = 64
host_calls_per_second = 1000
log_lines_per_second = 50
storage_quota = 2048
timers = 16

[config]
greeting = "hello"
max_items = 100
ratio = 0.5
enabled = true
tags = ["a", "b"]
since = 1979-05-27T07:32:00Z
nested = { depth = 2, names = ["x"] }
"#;

    fn decode<T: serde::de::DeserializeOwned>(m: &Manifest, key: &str) -> T {
        rmp_serde::from_slice(&m.config[key]).unwrap()
    }

    fn err(text: &str) -> ManifestError {
        Manifest::parse(text).unwrap_err()
    }

    fn assert_err(text: &str, field: &str, line: usize, phrase: &str) {
        let e = err(text);
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.contains(phrase), "{e}");
    }

    const HEAD: &str = "name = \"notes\"\nversion = \"0.1.0\"\napi = \"1.0\"\n";

    #[test]
    fn full_manifest_parses_to_exact_values() {
        let m = Manifest::parse(FULL).unwrap();
        assert_eq!(m.name, "notes");
        assert_eq!(m.version, "0.1.0-beta.2+build.7");
        assert_eq!(m.api, ApiVersion::new(1, 1));
        assert_eq!(m.kind, ManifestKind::Wasm);
        assert_eq!(m.entry, Some(PathBuf::from("bin/notes.wasm")));
        assert_eq!(m.description.as_deref(), Some("Takes notes."));
        let expected: Vec<Permission> =
            ["storage", "timers", "publish:notes.*", "request:echo"].iter().map(|p| p.parse().unwrap()).collect();
        assert_eq!(m.permissions, expected);
        assert_eq!(
            m.limits,
            LimitRequests {
                memory: Some(16 << 20),
                table_elements: Some(10_000),
                message_size: Some(1_000_000),
                mailbox: Some(256),
                cpu_budget: Some(Duration::from_millis(200)),
                outstanding_requests: Some(64),
                host_calls_per_second: Some(1000),
                log_lines_per_second: Some(50),
                storage_quota: Some(2048),
                timers: Some(16),
            }
        );
        assert_eq!(decode::<String>(&m, "greeting"), "hello");
        assert_eq!(decode::<i64>(&m, "max_items"), 100);
        assert_eq!(decode::<f64>(&m, "ratio"), 0.5);
        assert!(decode::<bool>(&m, "enabled"));
        assert_eq!(decode::<Vec<String>>(&m, "tags"), ["a", "b"]);
        assert_eq!(decode::<String>(&m, "since"), "1979-05-27T07:32:00Z");
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Nested {
            depth: u8,
            names: Vec<String>,
        }
        assert_eq!(decode::<Nested>(&m, "nested"), Nested { depth: 2, names: vec!["x".into()] });
        assert_eq!(m.dir, None);
        assert_eq!(m.entry_path(), Some(PathBuf::from("bin/notes.wasm")));
    }

    #[test]
    fn minimal_manifest_takes_defaults() {
        let m = Manifest::parse(&format!("{HEAD}entry = \"notes.wasm\"\n")).unwrap();
        assert_eq!(m.kind, ManifestKind::Wasm);
        assert_eq!(m.description, None);
        assert!(m.permissions.is_empty());
        assert_eq!(m.limits, LimitRequests::default());
        assert!(m.config.is_empty());
        let m = Manifest::parse(&format!("{HEAD}kind = \"in-process\"\n")).unwrap();
        assert_eq!((m.kind, m.entry), (ManifestKind::InProcess, None));
    }

    #[test]
    fn sizes_and_durations_accept_every_unit() {
        for (text, bytes) in [
            ("7", 7),
            ("7B", 7),
            ("2 KB", 2000),
            ("2kB", 2000),
            ("3 MB", 3_000_000),
            ("1 GB", 1_000_000_000),
            ("2KiB", 2048),
            ("1 MiB", 1 << 20),
            ("4 GiB", 4 << 30),
        ] {
            assert_eq!(parse_size(text).ok(), Some(bytes), "{text}");
        }
        for (text, d) in [
            ("250us", Duration::from_micros(250)),
            ("20ms", Duration::from_millis(20)),
            ("3 s", Duration::from_secs(3)),
            ("2m", Duration::from_secs(120)),
        ] {
            assert_eq!(parse_duration(text).ok(), Some(d), "{text}");
        }
        let m = Manifest::parse(&format!("{HEAD}kind = \"in-process\"\n[limits]\nmemory = 65536\ncpu_budget = 1500\n"))
            .unwrap();
        assert_eq!(m.limits.memory, Some(65536));
        assert_eq!(m.limits.cpu_budget, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn apply_caps_each_field_and_falls_back_to_the_host() {
        let caps = Limits::default();
        assert_eq!(LimitRequests::default().apply(&caps), caps);
        let small = LimitRequests {
            memory: Some(1 << 20),
            table_elements: Some(10),
            message_size: Some(1000),
            mailbox: Some(8),
            cpu_budget: Some(Duration::from_millis(5)),
            outstanding_requests: Some(2),
            host_calls_per_second: Some(3),
            log_lines_per_second: Some(4),
            storage_quota: Some(5),
            timers: Some(6),
        };
        let got = small.apply(&caps);
        let expected = Limits {
            max_memory: 1 << 20,
            max_table_elements: 10,
            max_message_size: 1000,
            mailbox_depth: 8,
            cpu_budget: Duration::from_millis(5),
            max_outstanding_requests: 2,
            host_call_rate: 3,
            log_rate: 4,
            storage_quota: 5,
            max_timers: 6,
            ..caps.clone()
        };
        assert_eq!(got, expected);
        let huge = LimitRequests {
            memory: Some(u64::MAX),
            table_elements: Some(u32::MAX),
            message_size: Some(u64::MAX),
            mailbox: Some(usize::MAX),
            cpu_budget: Some(Duration::MAX),
            outstanding_requests: Some(usize::MAX),
            host_calls_per_second: Some(u32::MAX),
            log_lines_per_second: Some(u32::MAX),
            storage_quota: Some(u64::MAX),
            timers: Some(usize::MAX),
        };
        assert_eq!(huge.apply(&caps), caps);
        let partial = LimitRequests { timers: Some(1), ..LimitRequests::default() }.apply(&caps);
        assert_eq!(partial, Limits { max_timers: 1, ..caps });
    }

    #[test]
    fn missing_keys_are_named() {
        assert_err("version = \"0.1.0\"\napi = \"1.0\"\n", "name", 1, "missing");
        assert_err("name = \"a\"\napi = \"1.0\"\n", "version", 1, "missing");
        assert_err("name = \"a\"\nversion = \"0.1.0\"\n", "api", 1, "missing");
        assert_err(HEAD, "entry", 1, "needs `entry`");
        assert_err(&format!("{HEAD}kind = \"native\"\n"), "entry", 4, "`native` plugin needs `entry`");
    }

    #[test]
    fn wrong_types_are_named_with_their_line() {
        assert_err("name = 5\n", "name", 1, "expected a string");
        assert_err(&format!("{HEAD}api2 = 1\n"), "api2", 4, "unknown key `api2`");
        assert_err("name = \"a\"\nversion = \"0.1.0\"\napi = 1.1\n", "api", 3, "found a float");
        assert_err(&format!("{HEAD}permissions = \"storage\"\n"), "permissions", 4, "expected an array");
        assert_err(&format!("{HEAD}permissions = [\"storage\", 3]\n"), "permissions[1]", 4, "found an integer");
        assert_err(&format!("{HEAD}limits = 3\n"), "limits", 4, "expected a table");
        assert_err(&format!("{HEAD}[limits]\nmailbox = \"many\"\n"), "limits.mailbox", 5, "found a string");
        assert_err(&format!("{HEAD}[limits]\ntimers = -1\n"), "limits.timers", 5, "negative");
        assert_err(&format!("{HEAD}[limits]\ntable_elements = 5000000000\n"), "limits.table_elements", 5, "at most");
        assert_err(&format!("{HEAD}[limits]\nmailbox = 0\n"), "limits.mailbox", 5, "too small");
        assert_err(&format!("{HEAD}config = [1]\n"), "config", 4, "expected a table");
    }

    #[test]
    fn invalid_values_are_named_with_their_line() {
        let e = err(&format!(
            "{HEAD}entry = \"a.wasm\"\npermissions = [\n  \"storage\",\n  \"timers\",\n  \"fly:away\",\n]\n"
        ));
        assert_eq!((e.field.as_deref(), e.line, e.column), (Some("permissions[2]"), Some(8), Some(3)));
        assert!(e.message.contains("unknown kind `fly`"), "{e}");
        assert_err("name = \"Notes\"\n", "name", 1, "not a valid plugin name");
        assert_err("name = \"host\"\n", "name", 1, "reserved");
        assert_err("name = \"a\"\nversion = \"1.0\"\n", "version", 2, "not a version");
        assert_err("name = \"a\"\nversion = \"01.0.0\"\n", "version", 2, "not a version");
        assert_err("name = \"a\"\nversion = \"1.0.0-\"\n", "version", 2, "not a version");
        assert_err("name = \"a\"\nversion = \"0.1.0\"\napi = \"v1\"\n", "api", 3, "not an ABI version");
        assert_err(&format!("{HEAD}kind = \"python\"\n"), "kind", 4, "not a plugin kind");
        let e = err(&format!("{HEAD}entry = \"x.wasm\"\n[limits]\nmemory = \"12 parsecs\"\n"));
        assert_eq!(
            e.to_string(),
            "plugin.toml:6:10: field `limits.memory`: `12 parsecs` is not a size; write bytes or a number \
             with B, KB, MB, GB, KiB, MiB or GiB"
        );
        assert_err(&format!("{HEAD}[limits]\nmemory = \"99999999999 GiB\"\n"), "limits.memory", 5, "too large");
        assert_err(&format!("{HEAD}[limits]\ncpu_budget = \"fast\"\n"), "limits.cpu_budget", 5, "not a duration");
        assert_err(&format!("{HEAD}[limits]\ncpu_budget = \"10h\"\n"), "limits.cpu_budget", 5, "not a duration");
        assert_err(&format!("{HEAD}[limits]\ncpu_budget = 0\n"), "limits.cpu_budget", 5, "too short");
        assert_err(&format!("{HEAD}[limits]\nstack = 1\n"), "limits.stack", 5, "unknown limit `stack`");
        assert_err(&format!("{HEAD}[config]\nbig = 1e999\n"), "config.big", 5, "64-bit float");
    }

    #[test]
    fn entry_must_stay_inside_the_manifest_directory() {
        for (entry, phrase) in [
            ("/usr/lib/x.so", "absolute path"),
            ("\\\\\\\\server\\\\x.dll", "absolute path"),
            ("C:/x.dll", "absolute path"),
            ("../x.wasm", "`..` is not allowed"),
            ("a/../../x.wasm", "`..` is not allowed"),
            ("a\\\\..\\\\x.wasm", "`..` is not allowed"),
            ("", "cannot be empty"),
        ] {
            assert_err(&format!("{HEAD}entry = \"{entry}\"\n"), "entry", 4, phrase);
        }
        assert!(Manifest::parse(&format!("{HEAD}entry = \"a/..b/x.wasm\"\n")).is_ok());
    }

    #[test]
    fn syntax_errors_have_a_line_and_a_guessed_field() {
        let e = err("name = \"notes\"\nversion = \"0.1.0\nkind = \"wasm\"\n");
        assert_eq!((e.line, e.field.as_deref()), (Some(2), Some("version")), "{e}");
        assert!(e.message.starts_with("invalid TOML"), "{e}");
        let e = err(&format!("{HEAD}[limits]\nmemory = = 3\n"));
        assert_eq!((e.line, e.field.as_deref()), (Some(5), Some("limits.memory")), "{e}");
        let e = err("name = \"a\"\nname = \"b\"\n");
        assert_eq!((e.line, e.field.as_deref()), (Some(2), Some("name")), "{e}");
        assert!(e.message.contains("duplicate"), "{e}");
    }

    #[test]
    fn the_first_error_in_the_file_is_reported() {
        let e = err("zzz = 1\nname = \"Bad\"\n");
        assert_eq!(e.field.as_deref(), Some("zzz"));
        let e = err("name = \"Bad\"\nzzz = 1\n");
        assert_eq!(e.field.as_deref(), Some("name"));
    }

    #[test]
    fn from_file_sets_dir_and_entry_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, format!("{HEAD}entry = \"notes.wasm\"\n")).unwrap();
        let m = Manifest::from_file(&path).unwrap();
        assert_eq!(m.dir.as_deref(), Some(dir.path()));
        assert_eq!(m.entry_path(), Some(dir.path().join("notes.wasm")));

        std::fs::write(&path, format!("{HEAD}entry = 3\n")).unwrap();
        let e = Manifest::from_file(&path).unwrap_err();
        assert_eq!(e.path.as_deref(), Some(path.as_path()));
        assert!(e.to_string().starts_with(&format!("{}:4:9: field `entry`", path.display())), "{e}");

        let missing = dir.path().join("nope").join(FILE_NAME);
        let e = Manifest::from_file(&missing).unwrap_err();
        assert_eq!(e.path.as_deref(), Some(missing.as_path()));
        assert!(e.to_string().contains("cannot read the manifest"), "{e}");
        assert!(e.to_string().contains(&missing.display().to_string()), "{e}");
    }

    #[test]
    fn builder_dedups_permissions_and_encodes_config() {
        #[derive(serde::Serialize)]
        struct Settings {
            name: &'static str,
            limit: Option<u32>,
            bytes: serde_bytes::ByteBuf,
        }
        let m = Manifest::new("clock")
            .unwrap()
            .permission(Permission::Timers)
            .permissions([Permission::Timers, Permission::Clock])
            .config_value(
                "settings",
                &Settings { name: "x", limit: None, bytes: serde_bytes::ByteBuf::from(vec![1, 2]) },
            )
            .unwrap()
            .config_value("n", &7_u8)
            .unwrap();
        assert_eq!(m.permissions, [Permission::Timers, Permission::Clock]);
        assert_eq!((m.kind, &m.version, m.api), (ManifestKind::InProcess, &"0.0.0".to_owned(), ApiVersion::CURRENT));
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
        assert!(m.to_toml().contains("settings = { bytes = [1, 2], name = \"x\" }"), "{}", m.to_toml());

        let e = Manifest::new("a").unwrap().config_value("k", &None::<u8>).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.k"));
        assert!(Manifest::new("a").unwrap().config_value("k", &u64::MAX).is_err());
        assert!(Manifest::new("a").unwrap().config_value("k", &[Some(1), None]).is_err());
        assert_eq!(Manifest::new("host").unwrap_err().field.as_deref(), Some("name"));
    }

    #[test]
    fn to_toml_round_trips() {
        let mut m = Manifest::parse(FULL).unwrap();
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
        m.description = Some("quote \" backslash \\ newline \n tab \t bell \u{7} é".into());
        m.limits.cpu_budget = Some(Duration::from_micros(1500));
        m.limits.memory = Some(3 << 30);
        m.limits.message_size = Some(1001);
        m = m.config_value("weird key", &[f64::INFINITY, -0.0, 1e300, 1e-7]).unwrap();
        m = m.config_value("", &"empty key").unwrap();
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m, "{}", m.to_toml());
        m.config.insert("broken".into(), vec![0xc1]);
        assert!(m.to_toml().contains("# broken left out"));
    }
}
