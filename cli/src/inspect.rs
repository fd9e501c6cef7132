//! `cargo wasp inspect`: what a plugin file holds (kind, ABI version, exports,
//! imports, size) and what its manifest asks for (permissions, limits).

mod files;

use std::fmt;
use std::path::Path;

use serde::Serialize;
use wasp_runtime::manifest::{LimitRequests, Manifest};

use crate::error::CommandError;
use crate::locate::locate;

pub use files::{FileReport, Item};

/// What a plugin is made of and asks for.
///
/// Displays as a readable summary; serializes as JSON for tools.
///
/// ```no_run
/// use std::path::Path;
/// let inspection = wasp_cli::inspect::inspect(Path::new("plugins/echo"))?;
/// for file in &inspection.files {
///     println!("{}: ABI {:?}, {} imports", file.path, file.abi, file.imports.len());
/// }
/// # Ok::<(), wasp_cli::error::CommandError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// The path inspected, as given.
    pub path: String,
    /// The manifest, when the plugin has one.
    pub manifest: Option<ManifestReport>,
    /// Each file that runs (one per component of a hybrid plugin).
    pub files: Vec<FileReport>,
}

/// What a plugin's manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ManifestReport {
    /// Where it was read from.
    pub path: String,
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The ABI version the manifest declares.
    pub api: String,
    /// `wasm`, `native`, `hybrid` or `in-process`.
    pub kind: String,
    /// The one-line description.
    pub description: Option<String>,
    /// The permissions it requests, in order.
    pub permissions: Vec<String>,
    /// The limits it requests (only those it names).
    pub limits: LimitsReport,
    /// The keys of its configuration values.
    pub config: Vec<String>,
}

/// The limits a manifest requests, in plain units; absent ones are the
/// host's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LimitsReport {
    /// Linear memory, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Table elements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_elements: Option<u32>,
    /// Largest payload, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_size: Option<u64>,
    /// Mailbox depth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<usize>,
    /// CPU time per message, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_budget_ms: Option<u128>,
    /// Requests awaiting answers at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding_requests: Option<usize>,
    /// Host calls per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_calls_per_second: Option<u32>,
    /// Log lines per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_lines_per_second: Option<u32>,
    /// Bytes in the plugin's store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_quota: Option<u64>,
    /// Active timers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timers: Option<usize>,
}

impl LimitsReport {
    fn new(limits: &LimitRequests) -> Self {
        Self {
            memory: limits.memory,
            table_elements: limits.table_elements,
            message_size: limits.message_size,
            mailbox: limits.mailbox,
            cpu_budget_ms: limits.cpu_budget.map(|d| d.as_millis()),
            outstanding_requests: limits.outstanding_requests,
            host_calls_per_second: limits.host_calls_per_second,
            log_lines_per_second: limits.log_lines_per_second,
            storage_quota: limits.storage_quota,
            timers: limits.timers,
        }
    }

    /// Each requested limit as `name = value`, values in readable units.
    pub fn lines(&self) -> Vec<String> {
        let count = |name: &str, v: Option<u64>| v.map(|v| format!("{name} = {v}"));
        let size = |name: &str, v: Option<u64>| v.map(|v| format!("{name} = {}", files::bytes(v)));
        [
            size("memory", self.memory),
            count("table_elements", self.table_elements.map(u64::from)),
            size("message_size", self.message_size),
            count("mailbox", self.mailbox.map(|v| v as u64)),
            self.cpu_budget_ms.map(|ms| format!("cpu_budget = {ms}ms")),
            count("outstanding_requests", self.outstanding_requests.map(|v| v as u64)),
            count("host_calls_per_second", self.host_calls_per_second.map(u64::from)),
            count("log_lines_per_second", self.log_lines_per_second.map(u64::from)),
            size("storage_quota", self.storage_quota),
            count("timers", self.timers.map(|v| v as u64)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl ManifestReport {
    fn new(manifest: &Manifest, path: &Path) -> Self {
        Self {
            path: path.display().to_string(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            api: manifest.api.to_string(),
            kind: manifest.kind.as_str().to_owned(),
            description: manifest.description.clone(),
            permissions: manifest.permissions.iter().map(ToString::to_string).collect(),
            limits: LimitsReport::new(&manifest.limits),
            config: manifest.config.keys().cloned().collect(),
        }
    }
}

/// Inspects the plugin `path` names (see [`locate`](crate::locate::locate())).
///
/// A WebAssembly module is read, never compiled or run: its ABI version
/// comes from its `wasp:abi` custom section, as the loader reads it. A
/// native library's exports and imports come from its symbol tables; its
/// ABI version lives in the table its entry function returns, so reading
/// it loads the library as the loader does (running its initializers).
/// A file too broken to read fully is still reported, with what could be
/// read and a note saying what went wrong.
pub fn inspect(path: &Path) -> Result<Inspection, CommandError> {
    let located = locate(path)?;
    let manifest = match (&located.manifest, &located.manifest_path) {
        (Some(manifest), Some(manifest_path)) => Some(ManifestReport::new(manifest, manifest_path)),
        _ => None,
    };
    let files = located.files.iter().map(files::report).collect::<Result<Vec<_>, _>>()?;
    Ok(Inspection { path: path.display().to_string(), manifest, files })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = &self.manifest {
            writeln!(f, "{} {} ({}, manifest ABI {})", m.name, m.version, m.kind, m.api)?;
            if let Some(description) = &m.description {
                writeln!(f, "  {description}")?;
            }
            writeln!(f, "manifest: {}", m.path)?;
            if m.permissions.is_empty() {
                writeln!(f, "permissions: none requested")?;
            } else {
                writeln!(f, "permissions ({}):", m.permissions.len())?;
                for p in &m.permissions {
                    writeln!(f, "  {p}")?;
                }
            }
            let limits = m.limits.lines();
            if limits.is_empty() {
                writeln!(f, "limits: none requested (the host's defaults apply)")?;
            } else {
                writeln!(f, "limits:")?;
                for line in limits {
                    writeln!(f, "  {line}")?;
                }
            }
            if !m.config.is_empty() {
                writeln!(f, "config: {}", m.config.join(", "))?;
            }
        } else {
            writeln!(f, "no manifest: no permissions requested, the host's limits apply")?;
        }
        for file in &self.files {
            writeln!(f)?;
            write!(f, "{file}")?;
        }
        Ok(())
    }
}
