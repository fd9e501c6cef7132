//! `cargo wasp build`: builds a plugin crate into the files its `plugin.toml`
//! names, and checks them with the loader a host uses.
//!
//! [`build`] reads the crate's `plugin.toml`, builds with cargo each crate
//! that makes one of its entry files — a `wasm` entry for WebAssembly, a
//! `native` entry for this machine, every component of a `hybrid` plugin —
//! copies each built file beside the manifest under the name its `entry`
//! gives, and validates it: `PluginImage::compile_wasm` for a module (or
//! a component), `NativePlugin::open` for a library.
//!
//! # Flags
//!
//! Builds are `cargo build --release`, with the release profile tuned
//! through cargo's environment (`CARGO_PROFILE_RELEASE_*`, which take
//! precedence over the crate's own `[profile.release]`):
//!
//! | setting | WebAssembly | native | why |
//! | --- | --- | --- | --- |
//! | `opt-level` | `3` | `3` | measured smallest *and* fastest, see below |
//! | `lto` | `true` | `true` | whole-program: drops what the plugin never calls |
//! | `codegen-units` | `1` | `1` | lets LTO see everything at once |
//! | `panic` | `abort` | unchanged (`unwind`) | no unwinding code in the module; a panic traps, and the host restarts the plugin. A native plugin must unwind: the SDK catches its panics at the boundary, where an abort would end the host |
//! | `strip` | `debuginfo` | `debuginfo` | unless [`BuildOptions::debug`]; symbols and the `wasp:abi` section stay |
//! | `debug` | `false` | `false` | `true` with [`BuildOptions::debug`] (and `strip = "none"`) |
//! | target features | `+simd128` | unchanged | every wasp host runs fixed-width SIMD, so LLVM may vectorize (a 128×128 `f64` matrix product ran 1.3× faster with it, docs/performance.md) |
//! | loop unrolling | with [`BuildOptions::unroll`] | unchanged | fewer back-edges, fewer preemption checks (the same product: 2.3× faster again) |
//!
//! Why `opt-level = 3` for WebAssembly too, when `s` and `z` are meant to
//! shrink code: measured on the plugin `cargo wasp new` writes (rustc 1.95, with
//! the other settings of the table), the module came out at 35.5 KB with
//! `3`, 43.9 KB with `s` and 47.2 KB with `z` (the size levels do not pay
//! off here), while a plain `cargo build --release` gave 38.5 KB. Round trips through a host were
//! within the measurement's noise for every level (the host's own work and
//! wasmtime's compilation dominate), so nothing argued for trading speed.
//!
//! # Target
//!
//! WebAssembly builds for `wasm32-unknown-unknown` unless told otherwise:
//! [`BuildOptions::target`] first, then `target` in the crate's
//! `[package.metadata.wasp]` (`"wasm32-wasip1"` for a plugin that uses
//! `std::fs` through WASI), then `wasm32-wasip1` when the manifest asks for
//! an `fs.read` or `fs.write` permission (files reach a WebAssembly plugin
//! only through WASI).

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;
#[cfg(feature = "native")]
use wasp_runtime::NativePlugin;
use wasp_runtime::{Engine, Limits, Manifest, ManifestKind, PluginImage, Problem, Schedule};

/// The target features of WebAssembly builds.
const SIMD_FLAGS: &str = "-C target-feature=+simd128";

/// The rustflags of a WebAssembly build: the user's own for the target
/// first, then SIMD, then the unrolling asked for.
fn wasm_rustflags(own: Option<&str>, unroll: Option<u32>) -> String {
    let mut flags: Vec<String> = own.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).into_iter().collect();
    flags.push(SIMD_FLAGS.to_owned());
    if let Some(n) = unroll {
        flags.push(format!("-C llvm-args=-unroll-runtime -C llvm-args=-unroll-count={n}"));
    }
    flags.join(" ")
}

/// A WebAssembly target `cargo wasp build` can build for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum WasmTarget {
    /// `wasm32-unknown-unknown`: no system interface (the default).
    #[default]
    #[value(name = "wasm32-unknown-unknown")]
    Unknown,
    /// `wasm32-wasip1`: the standard library's files through WASI.
    #[value(name = "wasm32-wasip1")]
    Wasip1,
}

impl WasmTarget {
    /// The target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Self::Unknown => "wasm32-unknown-unknown",
            Self::Wasip1 => "wasm32-wasip1",
        }
    }

    fn from_triple(triple: &str) -> Option<Self> {
        [Self::Unknown, Self::Wasip1].into_iter().find(|t| t.triple() == triple)
    }
}

impl fmt::Display for WasmTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.triple())
    }
}

/// Choices for [`build`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The WebAssembly target; `None` decides as the [module docs](self#target) say.
    pub target: Option<WasmTarget>,
    /// Keep debug information (`debug = true`, nothing stripped).
    pub debug: bool,
    /// Unroll loops whose trip count is known only at run time this many
    /// times (WebAssembly only; LLVM's `-unroll-runtime -unroll-count=N`).
    /// Each loop back-edge carries the host's preemption check, so fewer
    /// back-edges make tight loops faster (docs/performance.md); the module
    /// grows a little. `None` leaves unrolling to LLVM.
    pub unroll: Option<u32>,
    /// Cargo's target directory (`--target-dir`); `None` leaves it to cargo
    /// (and `CARGO_TARGET_DIR`).
    pub target_dir: Option<PathBuf>,
    /// Pass `--quiet` to cargo and keep its output: it then appears only in
    /// a [`BuildError::Cargo`].
    pub quiet: bool,
}

/// One file [`build`] wrote beside the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuiltFile {
    /// For a hybrid plugin, the component's name; `None` otherwise.
    pub component: Option<String>,
    /// Where it was written: the manifest's `entry`, in the manifest's folder.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// What it was built for: a WebAssembly triple, or `native`.
    pub target: String,
}

/// What [`build`] produced: a plugin folder a host can load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Artifact {
    /// The plugin's name, from its manifest.
    pub name: String,
    /// The `plugin.toml` the files sit beside.
    pub manifest: PathBuf,
    /// The entry files built: one, or one per component of a hybrid plugin.
    pub files: Vec<BuiltFile>,
}

impl Artifact {
    /// The entry file's path (the first component's, for a hybrid plugin).
    pub fn path(&self) -> &Path {
        &self.files[0].path
    }

    /// The total size of the built files, in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let component = file.component.as_ref().map(|c| format!(" (component `{c}`)")).unwrap_or_default();
            writeln!(f, "{}  {}  {}{component}", file.path.display(), human_size(file.size), file.target)?;
        }
        Ok(())
    }
}

/// A size for people: bytes, KiB or MiB.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// Why [`build`] produced nothing loadable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The folder holds no `plugin.toml`.
    #[error("{} has no plugin.toml: `cargo wasp build` builds a plugin crate (create one with `cargo wasp new`)", .0.display())]
    NoManifest(PathBuf),
    /// The manifest does not parse or does not say what to build.
    #[error("{0}")]
    Manifest(String),
    /// Cargo could not be started.
    #[error("cannot run cargo: {0}")]
    CargoMissing(std::io::Error),
    /// Cargo failed.
    #[error("cargo failed ({status}) building {what}{}", if output.is_empty() { String::new() } else { format!(":\n{output}") })]
    Cargo {
        /// Cargo's exit status.
        status: ExitStatus,
        /// What it was building.
        what: String,
        /// Its error output, when [`BuildOptions::quiet`] kept it.
        output: String,
    },
    /// No crate of the folder makes the file an entry names.
    #[error("no crate here builds `{entry}`: {reason}")]
    NoCrate {
        /// The entry.
        entry: String,
        /// What was looked for.
        reason: String,
    },
    /// Cargo succeeded but reported no library file for the crate.
    #[error("cargo built `{package}` but reported no {what} (is its crate-type \"cdylib\"?)")]
    ArtifactMissing {
        /// The Cargo package.
        package: String,
        /// What was expected.
        what: String,
    },
    /// The built file fails the loader's validation.
    #[error("{} does not pass validation:{}", file.display(), problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The loader refused the built file for another reason.
    #[error("{} cannot be loaded: {message}", file.display())]
    Rejected {
        /// The file.
        file: PathBuf,
        /// The loader's error.
        message: String,
    },
    /// Reading or copying a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// A Cargo package of the folder, from `cargo metadata`.
struct Package {
    name: String,
    id: String,
    dir: PathBuf,
    /// Its `cdylib` target's name (the file stem cargo gives the library).
    cdylib: Option<String>,
    /// `target` of `[package.metadata.wasp]`.
    wasm_target: Option<String>,
}

/// One file to build: an entry of the manifest.
struct Job<'a> {
    component: Option<String>,
    kind: ManifestKind,
    dest: PathBuf,
    package: &'a Package,
}

/// Builds the plugin crate (or hybrid workspace) in `crate_dir`, writes
/// its entry files beside its `plugin.toml`, validates them, and says what
/// it wrote. See the [module docs](self) for the flags and the target.
pub fn build(crate_dir: &Path, options: &BuildOptions) -> Result<Artifact, BuildError> {
    let manifest_path = crate_dir.join(wasp_runtime::manifest::FILE_NAME);
    if !manifest_path.is_file() {
        return Err(BuildError::NoManifest(crate_dir.to_owned()));
    }
    let manifest = Manifest::from_file(&manifest_path).map_err(|e| BuildError::Manifest(e.to_string()))?;
    let packages = packages(crate_dir)?;

    let entries: Vec<(Option<String>, ManifestKind, PathBuf, PathBuf)> = match manifest.kind {
        ManifestKind::Wasm | ManifestKind::Native => {
            let entry =
                manifest.entry.clone().ok_or_else(|| BuildError::Manifest("the manifest names no `entry`".into()))?;
            let dest = manifest.entry_path().unwrap_or_else(|| crate_dir.join(&entry));
            vec![(None, manifest.kind, entry, dest)]
        }
        ManifestKind::Hybrid => manifest
            .component_entries()
            .into_iter()
            .map(|(_, c, dest)| (Some(c.name.clone()), c.kind, c.entry.clone(), dest))
            .collect(),
        other => return Err(BuildError::Manifest(format!("a `{other}` plugin has nothing to build"))),
    };
    let mut jobs = Vec::new();
    for (component, kind, entry, dest) in entries {
        let package = find_package(&packages, component.as_deref(), &entry)?;
        jobs.push(Job { component, kind, dest, package });
    }

    let wants_wasi = manifest
        .permissions
        .iter()
        .any(|p| p.to_string().starts_with("fs.read:") || p.to_string().starts_with("fs.write:"));
    let mut files = Vec::new();
    for job in &jobs {
        let (target, target_name) = match job.kind {
            ManifestKind::Native => (None, "native".to_owned()),
            _ => {
                let from_crate = job.package.wasm_target.as_deref().and_then(WasmTarget::from_triple);
                let target = options.target.or(from_crate).unwrap_or(if wants_wasi {
                    WasmTarget::Wasip1
                } else {
                    WasmTarget::Unknown
                });
                (Some(target), target.triple().to_owned())
            }
        };
        let built = cargo_build(crate_dir, job.package, target, options)?;
        std::fs::copy(&built, &job.dest).map_err(|source| BuildError::Io { path: job.dest.clone(), source })?;
        let bytes = std::fs::read(&job.dest).map_err(|source| BuildError::Io { path: job.dest.clone(), source })?;
        validate(&manifest.name, job, &bytes)?;
        files.push(BuiltFile {
            component: job.component.clone(),
            path: job.dest.clone(),
            size: bytes.len() as u64,
            target: target_name,
        });
    }
    Ok(Artifact { name: manifest.name, manifest: manifest_path, files })
}

/// The cargo to run: the one running us (tests, `cargo run`), or `cargo`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The packages of the crate or workspace in `dir`.
fn packages(dir: &Path) -> Result<Vec<Package>, BuildError> {
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        return Err(BuildError::NoCrate {
            entry: "the plugin".into(),
            reason: format!("{} has no Cargo.toml", dir.display()),
        });
    }
    let output = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(&cargo_toml)
        .stderr(Stdio::piped())
        .output()
        .map_err(BuildError::CargoMissing)?;
    if !output.status.success() {
        return Err(BuildError::Cargo {
            status: output.status,
            what: format!("the metadata of {}", cargo_toml.display()),
            output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| BuildError::Manifest(format!("cannot read cargo's metadata: {e}")))?;
    let members: Vec<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let packages = metadata["packages"].as_array().into_iter().flatten();
    Ok(packages
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .map(|p| Package {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            id: p["id"].as_str().unwrap_or_default().to_owned(),
            dir: p["manifest_path"]
                .as_str()
                .map(Path::new)
                .and_then(Path::parent)
                .map(Path::to_owned)
                .unwrap_or_default(),
            cdylib: p["targets"].as_array().into_iter().flatten().find_map(|t| {
                let cdylib = t["crate_types"].as_array()?.iter().any(|k| k == "cdylib");
                cdylib.then(|| t["name"].as_str().map(|n| n.replace('-', "_"))).flatten()
            }),
            wasm_target: p["metadata"]["wasp"]["target"].as_str().map(str::to_owned),
        })
        .collect())
}

/// The package that builds `entry`: the one whose library has the entry's
/// name, else (for a component) the one in the folder named after the
/// component, else the only package with a `cdylib`.
fn find_package<'a>(packages: &'a [Package], component: Option<&str>, entry: &Path) -> Result<&'a Package, BuildError> {
    let stem = entry.file_stem().map(|s| s.to_string_lossy().replace('-', "_")).unwrap_or_default();
    let stem = stem.strip_prefix(std::env::consts::DLL_PREFIX).filter(|_| entry.extension().is_some()).unwrap_or(&stem);
    let libraries: Vec<&Package> = packages.iter().filter(|p| p.cdylib.is_some()).collect();
    let by_name = libraries.iter().find(|p| p.cdylib.as_deref() == Some(stem));
    let by_folder = component.and_then(|c| libraries.iter().find(|p| p.dir.file_name().is_some_and(|d| d == c)));
    let only = (component.is_none() && libraries.len() == 1).then(|| &libraries[0]);
    by_name.or(by_folder).or(only).copied().ok_or_else(|| BuildError::NoCrate {
        entry: entry.display().to_string(),
        reason: if libraries.is_empty() {
            "no package has crate-type \"cdylib\"".into()
        } else {
            format!(
                "none of the packages with a cdylib ({}) is named `{stem}`{}",
                libraries.iter().map(|p| format!("`{}`", p.name)).collect::<Vec<_>>().join(", "),
                component.map(|c| format!(" or lives in a folder `{c}`")).unwrap_or_default()
            )
        },
    })
}

/// Runs `cargo build` for one package and returns the library it made.
fn cargo_build(
    dir: &Path,
    package: &Package,
    target: Option<WasmTarget>,
    options: &BuildOptions,
) -> Result<PathBuf, BuildError> {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args(["-p", &package.name]);
    if let Some(target) = target {
        cmd.args(["--target", target.triple()]);
        // Every wasp host runs fixed-width SIMD (docs/abi.md §1): let loops
        // vectorize as they do natively. Flags the user set for the target
        // come first; RUSTFLAGS, if set, overrides both, as cargo does.
        let var = format!("CARGO_TARGET_{}_RUSTFLAGS", target.triple().to_uppercase().replace('-', "_"));
        cmd.env(&var, wasm_rustflags(std::env::var(&var).ok().as_deref(), options.unroll));
    }
    if let Some(target_dir) = &options.target_dir {
        cmd.arg("--target-dir").arg(target_dir);
    }
    if options.quiet {
        cmd.arg("--quiet");
    }
    let profile = |key: &str| format!("CARGO_PROFILE_RELEASE_{key}");
    cmd.env(profile("LTO"), "true").env(profile("CODEGEN_UNITS"), "1");
    cmd.env(profile("OPT_LEVEL"), "3");
    if target.is_some() {
        cmd.env(profile("PANIC"), "abort");
    }
    if options.debug {
        cmd.env(profile("DEBUG"), "true").env(profile("STRIP"), "none");
    } else {
        cmd.env(profile("DEBUG"), "false").env(profile("STRIP"), "debuginfo");
    }
    cmd.stdout(Stdio::piped()).stderr(if options.quiet { Stdio::piped() } else { Stdio::inherit() });
    let what = format!("`{}` for {}", package.name, target.map_or("this machine", WasmTarget::triple));
    let mut child = cmd.spawn().map_err(BuildError::CargoMissing)?;
    // Drain stderr on its own thread so that neither pipe can fill and stall cargo.
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        })
    });
    let mut library = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
            if message["reason"] != "compiler-artifact" || message["package_id"] != package.id.as_str() {
                continue;
            }
            let is_cdylib =
                message["target"]["crate_types"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib"));
            if !is_cdylib {
                continue;
            }
            let wanted = |f: &&str| match target {
                Some(_) => f.ends_with(".wasm"),
                None => f.ends_with(std::env::consts::DLL_SUFFIX),
            };
            let mut files = message["filenames"].as_array().into_iter().flatten().filter_map(Value::as_str);
            if let Some(file) = files.find(wanted) {
                library = Some(PathBuf::from(file));
            }
        }
    }
    let status = child.wait().map_err(BuildError::CargoMissing)?;
    let output = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(BuildError::Cargo { status, what, output: output.trim().to_owned() });
    }
    library.ok_or_else(|| BuildError::ArtifactMissing {
        package: package.name.clone(),
        what: match target {
            Some(_) => "`.wasm` file".to_owned(),
            None => format!("`{}` library", std::env::consts::DLL_SUFFIX),
        },
    })
}

/// Checks a built file with the loader a host uses.
fn validate(plugin: &str, job: &Job<'_>, bytes: &[u8]) -> Result<(), BuildError> {
    let name = match &job.component {
        Some(c) => format!("{plugin}.{c}"),
        None => plugin.to_owned(),
    };
    let rejected = |e: wasp_runtime::Error| match e {
        wasp_runtime::Error::Invalid { problems, .. } => BuildError::Invalid { file: job.dest.clone(), problems },
        other => BuildError::Rejected { file: job.dest.clone(), message: other.to_string() },
    };
    match job.kind {
        #[cfg(feature = "native")]
        ManifestKind::Native => {
            let file_name = job.dest.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            NativePlugin::open(&name, &file_name, bytes).map(drop).map_err(rejected)
        }
        #[cfg(not(feature = "native"))]
        ManifestKind::Native => Err(rejected(wasp_runtime::Error::FeatureDisabled {
            what: format!("plugin `{name}` is a native library"),
            feature: "native",
        })),
        _ => {
            let engine = Engine::new(Schedule::default()).map_err(rejected)?;
            PluginImage::compile_wasm(&engine, &name, bytes, &Limits::default()).map(drop).map_err(rejected)
        }
    }
}

#[cfg(test)]
mod flag_tests {
    use super::wasm_rustflags;

    #[test]
    fn wasm_builds_get_simd_after_the_users_flags_and_unrolling_on_request() {
        assert_eq!(wasm_rustflags(None, None), "-C target-feature=+simd128");
        assert_eq!(wasm_rustflags(Some("  "), None), "-C target-feature=+simd128");
        assert_eq!(wasm_rustflags(Some("-C opt-level=2"), None), "-C opt-level=2 -C target-feature=+simd128");
        assert_eq!(
            wasm_rustflags(None, Some(8)),
            "-C target-feature=+simd128 -C llvm-args=-unroll-runtime -C llvm-args=-unroll-count=8"
        );
    }
}
