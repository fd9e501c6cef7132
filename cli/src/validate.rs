//! `cargo wasp validate`: the loader's own validation of a plugin, every problem
//! listed.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use wasp_protocol::ApiVersion;
#[cfg(feature = "native")]
use wasp_runtime::NativePlugin;
use wasp_runtime::manifest::{Manifest, ManifestKind};
use wasp_runtime::{Engine, EngineOptions, Error, Limits, PluginImage, Pool, Problem, Schedule};

use crate::error::CommandError;
use crate::locate::{PluginFile, locate};

/// What validating a plugin found.
///
/// Displays as one line per problem (`<file>: <problem>`), or one line
/// saying the plugin is valid.
///
/// ```no_run
/// use std::path::Path;
/// let validation = wasp_cli::validate::validate(Path::new("plugins/echo"))?;
/// if !validation.is_valid() {
///     eprint!("{validation}");
/// }
/// # Ok::<(), wasp_cli::error::CommandError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Validation {
    /// The path validated, as given.
    pub path: String,
    /// The plugin's name, from its manifest when it has one.
    pub plugin: Option<String>,
    /// Whether nothing is wrong.
    pub valid: bool,
    /// The files that were checked.
    pub files: Vec<CheckedFile>,
    /// Every problem found.
    pub problems: Vec<Finding>,
}

/// One file that was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckedFile {
    /// The address it answers at.
    pub address: String,
    /// The file.
    pub path: String,
    /// `wasm` or `native`.
    pub kind: String,
    /// The ABI version it was built for (`1.2`), or for a component the
    /// world it targets (`wasp:plugin@1.0.0`), when it passed.
    pub abi: Option<String>,
}

/// One problem, and the file it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The file (a module, a library or a manifest); `None` when the
    /// message names it already.
    pub file: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Validation {
    /// Whether nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            match &problem.file {
                Some(file) => writeln!(f, "{file}: {}", problem.message)?,
                None => writeln!(f, "{}", problem.message)?,
            }
        }
        let name =
            self.plugin.as_deref().map(|p| format!("plugin `{p}`")).unwrap_or_else(|| format!("`{}`", self.path));
        match self.problems.len() {
            0 => {
                let abi: Vec<String> = self.files.iter().filter_map(|f| f.abi.clone()).collect();
                let abi = if abi.is_empty() { String::new() } else { format!(" (ABI {})", abi.join(", ")) };
                writeln!(f, "{name} is valid{abi}")
            }
            1 => writeln!(f, "{name} is invalid: 1 problem"),
            n => writeln!(f, "{name} is invalid: {n} problems"),
        }
    }
}

/// Validates the plugin `path` names (see [`locate`](crate::locate::locate())):
/// its manifest, then each of its files exactly as the host's loader would
/// before running it (read as `Host::load` reads it, then
/// `PluginImage::compile_wasm` for a module or a component, in an engine
/// made as a default host makes its own, or `NativePlugin::open`), with the
/// limits the manifest asks for under the default host's caps: a module a
/// default host refuses for a limit is refused here naming that limit.
///
/// Validating a native library loads it, as the loader does: that runs its
/// initializers.
///
/// A plugin that is invalid is an `Ok` with problems; `Err` means the
/// validation itself could not run (a path that cannot be read, a folder
/// without a manifest, a fault creating the engine).
pub fn validate(path: &Path) -> Result<Validation, CommandError> {
    let mut validation = Validation {
        path: path.display().to_string(),
        plugin: None,
        valid: false,
        files: Vec::new(),
        problems: Vec::new(),
    };
    let located = match locate(path) {
        Ok(located) => located,
        Err(CommandError::Manifest(e)) => {
            validation.problems.push(Finding { file: None, message: e.to_string() });
            return Ok(validation);
        }
        Err(e) => return Err(e),
    };
    let limits = match &located.manifest {
        Some(manifest) => manifest.limits.apply(&Limits::default()),
        None => Limits::default(),
    };
    if let (Some(manifest), Some(manifest_path)) = (&located.manifest, &located.manifest_path) {
        validation.plugin = Some(manifest.name.clone());
        check_manifest(manifest, &manifest_path.display().to_string(), &mut validation.problems);
    }
    let mut engine = None;
    for file in &located.files {
        let display = file.path.display().to_string();
        let mut checked = CheckedFile {
            address: file.address.clone(),
            path: display.clone(),
            kind: file.kind.as_str().to_owned(),
            abi: None,
        };
        match check_file(file, &limits, &mut engine) {
            Ok(abi) => checked.abi = Some(abi),
            Err(Error::Invalid { problems, .. }) => {
                validation.problems.extend(problems.iter().map(|p| finding(&display, p)));
            }
            Err(Error::Internal(detail)) => return Err(Error::Internal(detail).into()),
            Err(e) => validation.problems.push(Finding { file: Some(display), message: e.to_string() }),
        }
        validation.files.push(checked);
    }
    validation.valid = validation.is_valid();
    Ok(validation)
}

/// What the host checks of a manifest beyond parsing it.
fn check_manifest(manifest: &Manifest, path: &str, problems: &mut Vec<Finding>) {
    if ApiVersion::CURRENT.accepts(manifest.api).is_err() {
        let problem = Problem::UnsupportedAbi { plugin: manifest.api, host: ApiVersion::CURRENT };
        problems.push(finding(path, &problem));
    }
}

fn finding(file: &str, problem: &Problem) -> Finding {
    Finding { file: Some(file.to_owned()), message: problem.to_string() }
}

/// Runs the loader's checks on one file; creates the engine on first need.
/// Returns the version the file was built for: its ABI (`1.2`), or for a
/// component the world it targets (`wasp:plugin@1.0.0`).
fn check_file(file: &PluginFile, limits: &Limits, engine: &mut Option<Engine>) -> Result<String, Error> {
    let (limit, limit_name) = match file.kind {
        ManifestKind::Native => (limits.max_native_size, "max_native_size"),
        _ => (limits.max_module_size, "max_module_size"),
    };
    let bytes = wasp_runtime::read_plugin_file(&file.path, limit as u64, limit_name)?;
    if file.kind == ManifestKind::Native {
        let file_name = file.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        #[cfg(feature = "native")]
        return NativePlugin::open(&file.address, &file_name, &bytes).map(|p| p.abi_version().to_string());
        #[cfg(not(feature = "native"))]
        return Err(Error::FeatureDisabled { what: format!("`{file_name}` is a native library"), feature: "native" });
    }
    let engine = match engine {
        Some(engine) => engine,
        // Made as a default host makes its own, instance pool included: a
        // module the pool could not hold is refused here as it is there.
        None => {
            let pool = Some(Pool::new(1, &Limits::default()));
            engine
                .insert(Engine::with_options(Schedule::default(), EngineOptions { pool, ..EngineOptions::default() })?)
        }
    };
    Ok(match PluginImage::compile_wasm(engine, &file.address, &bytes, limits)? {
        PluginImage::Component(c) => format!("{}@{}", wasp_runtime::WORLD_PACKAGE, c.world_version()),
        image => image.abi_version().map(|v| v.to_string()).unwrap_or_default(),
    })
}
