//! The crate's manifest, and the build check with cargo.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::source::relative;
use super::{AnalyzeError, AnalyzeOptions, Blocker, BlockerKind, Location, WASM_TARGET, WasmCheck, catalog};

/// What the analyzer needs of a `Cargo.toml`.
#[derive(Debug)]
pub(crate) struct CrateManifest {
    /// The package name.
    pub(crate) name: String,
    /// The manifest file.
    pub(crate) path: PathBuf,
    /// Its text.
    pub(crate) text: String,
    /// The root source files of the library and the binaries.
    pub(crate) roots: Vec<PathBuf>,
}

impl CrateManifest {
    /// Reads `<dir>/Cargo.toml` and finds the crate's root source files.
    pub(crate) fn read(dir: &Path) -> Result<Self, AnalyzeError> {
        let path = dir.join("Cargo.toml");
        if !path.is_file() {
            return Err(AnalyzeError::NoManifest { dir: dir.to_path_buf() });
        }
        let text =
            std::fs::read_to_string(&path).map_err(|source| AnalyzeError::Read { path: path.clone(), source })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| AnalyzeError::Manifest { path: path.clone(), message: e.to_string() })?;
        let Some(package) = table.get("package") else {
            if table.contains_key("workspace") {
                return Err(AnalyzeError::Workspace { dir: dir.to_path_buf() });
            }
            return Err(AnalyzeError::Manifest { path, message: "it has no [package]".into() });
        };
        let Some(name) = package.get("name").and_then(toml::Value::as_str) else {
            return Err(AnalyzeError::Manifest { path, message: "[package] has no `name`".into() });
        };
        let name = name.to_owned();

        let mut roots = Vec::new();
        let mut add = |file: PathBuf| {
            if file.is_file() && !roots.contains(&file) {
                roots.push(file);
            }
        };
        let explicit = |section: &toml::Value| section.get("path").and_then(toml::Value::as_str).map(|p| dir.join(p));
        add(table.get("lib").and_then(explicit).unwrap_or_else(|| dir.join("src/lib.rs")));
        add(dir.join("src/main.rs"));
        for bin in table.get("bin").and_then(toml::Value::as_array).into_iter().flatten() {
            if let Some(file) = explicit(bin) {
                add(file);
            }
        }
        if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
            let mut bins: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            bins.sort();
            for bin in bins {
                if bin.extension().is_some_and(|e| e == "rs") {
                    add(bin);
                } else {
                    add(bin.join("main.rs"));
                }
            }
        }
        if roots.is_empty() {
            return Err(AnalyzeError::NoSources { dir: dir.to_path_buf() });
        }
        Ok(Self { name, path, text, roots })
    }
}

/// The build check's result and the blockers it found.
#[derive(Debug)]
pub(crate) struct CheckOutcome {
    pub(crate) check: WasmCheck,
    pub(crate) blockers: Vec<Blocker>,
}

/// One package of `cargo metadata`.
#[derive(Debug)]
struct Package {
    name: String,
    version: String,
}

/// What `cargo metadata` says about the crate.
#[derive(Debug)]
struct Metadata {
    /// The analyzed crate's package id.
    root: String,
    packages: HashMap<String, Package>,
    /// Normal (not build or dev) dependencies of each package on the target.
    deps: HashMap<String, Vec<String>>,
    target_directory: PathBuf,
    workspace_root: PathBuf,
}

/// The cargo to run: the one running us (tests, `cargo run`), else `cargo`.
fn cargo_command(crate_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(crate_dir);
    // A cargo that runs us may have set these for its own build.
    cmd.env_remove("CARGO_TARGET_DIR").env_remove("RUSTC_WORKSPACE_WRAPPER").env_remove("RUSTC_WRAPPER");
    cmd
}

fn command_line(cmd: &Command) -> String {
    let mut line = Path::new(cmd.get_program()).file_name().unwrap_or(cmd.get_program()).to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `cmd`, returning its stdout, stderr and whether it succeeded.
fn run(cmd: &mut Command) -> Result<(String, String, bool), AnalyzeError> {
    let output =
        cmd.output().map_err(|e| AnalyzeError::Cargo { command: command_line(cmd), message: e.to_string() })?;
    Ok((
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    ))
}

/// The last lines of cargo's error output, for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn metadata(crate_dir: &Path, manifest: &CrateManifest) -> Result<Metadata, AnalyzeError> {
    let mut cmd = cargo_command(crate_dir);
    cmd.args(["metadata", "--format-version", "1", "--filter-platform", WASM_TARGET, "--manifest-path"])
        .arg(&manifest.path);
    let (stdout, stderr, ok) = run(&mut cmd)?;
    let fail = |message: String| AnalyzeError::Cargo { command: command_line(&cmd), message };
    if !ok {
        return Err(fail(tail(&stderr)));
    }
    let json: Value = serde_json::from_str(&stdout).map_err(|e| fail(format!("its output is not JSON: {e}")))?;
    let own_manifest = manifest.path.canonicalize().unwrap_or_else(|_| manifest.path.clone());
    let mut packages = HashMap::new();
    let mut root = None;
    for p in json["packages"].as_array().into_iter().flatten() {
        let (Some(id), Some(name), Some(version)) = (p["id"].as_str(), p["name"].as_str(), p["version"].as_str())
        else {
            continue;
        };
        let path = p["manifest_path"].as_str().map(PathBuf::from);
        if path.and_then(|p| p.canonicalize().ok()).is_some_and(|p| p == own_manifest) {
            root = Some(id.to_owned());
        }
        packages.insert(id.to_owned(), Package { name: name.to_owned(), version: version.to_owned() });
    }
    let mut deps = HashMap::new();
    for node in json["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = node["id"].as_str() else { continue };
        let normal = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null()))
            .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
            .collect();
        deps.insert(id.to_owned(), normal);
    }
    let root = root.ok_or_else(|| fail(format!("it does not list the package `{}`", manifest.name)))?;
    let dir = |key: &str| json[key].as_str().map(PathBuf::from).unwrap_or_else(|| crate_dir.join("target"));
    Ok(Metadata {
        root,
        packages,
        deps,
        target_directory: dir("target_directory"),
        workspace_root: dir("workspace_root"),
    })
}

/// Makes sure the standard library of `target` is installed, adding it with
/// rustup when it is not (as `wasp-fixtures` does).
fn ensure_target(crate_dir: &Path, target: &str) -> Result<(), AnalyzeError> {
    let installed = || {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        Command::new(rustc)
            .current_dir(crate_dir)
            .args(["--print", "sysroot"])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .is_some_and(|root| root.join("lib/rustlib").join(target).is_dir())
    };
    if installed() {
        return Ok(());
    }
    let added = Command::new("rustup").current_dir(crate_dir).args(["target", "add", target]).status();
    if added.is_ok_and(|s| s.success()) && installed() {
        Ok(())
    } else {
        Err(AnalyzeError::TargetMissing { target: target.to_owned() })
    }
}

/// Runs the build check of the crate.
pub(crate) fn check(
    crate_dir: &Path,
    manifest: &CrateManifest,
    options: &AnalyzeOptions,
) -> Result<CheckOutcome, AnalyzeError> {
    let meta = metadata(crate_dir, manifest)?;
    ensure_target(crate_dir, WASM_TARGET)?;
    // Cargo runs in the crate's directory: a relative directory is the caller's.
    let target_dir = match &options.target_dir {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
        None => meta.target_directory.join("wasp-analyze"),
    };
    let mut cmd = cargo_command(crate_dir);
    cmd.args(["check", "--target", WASM_TARGET, "--message-format=json", "--keep-going", "--manifest-path"])
        .arg(&manifest.path)
        .arg("--target-dir")
        .arg(&target_dir);
    let (stdout, stderr, ok) = run(&mut cmd)?;

    // Failing packages in the order cargo reported them, with their first error.
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut fail = |id: &str, error: String| {
        if !failures.iter().any(|(f, _)| f == id) {
            failures.push((id.to_owned(), error));
        }
    };
    let mut own_errors = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        if msg["reason"] != "compiler-message" || msg["message"]["level"] != "error" {
            continue;
        }
        let text = msg["message"]["message"].as_str().unwrap_or_default();
        if text.starts_with("aborting due to") {
            continue;
        }
        let code = msg["message"]["code"]["code"].as_str().unwrap_or_default();
        if code == "E0463" && (text.contains("`core`") || text.contains("`std`")) {
            return Err(AnalyzeError::TargetMissing { target: WASM_TARGET.to_owned() });
        }
        let Some(id) = msg["package_id"].as_str() else { continue };
        let build_script = msg["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "custom-build"));
        if id == meta.root && !build_script {
            own_errors.push((text.to_owned(), primary_span(&msg["message"], &meta.workspace_root, crate_dir)));
            continue;
        }
        let prefix = if build_script { "build script: " } else { "" };
        fail(id, format!("{prefix}error: {text}"));
    }
    // Build scripts that fail to run say so on stderr only.
    for line in stderr.lines() {
        let Some(rest) = line.split("failed to run custom build command for `").nth(1) else { continue };
        let spec = rest.split('`').next().unwrap_or_default();
        let mut words = spec.split_whitespace();
        let (name, version) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
        let version = version.trim_start_matches('v');
        if let Some((id, _)) = meta.packages.iter().find(|(_, p)| p.name == name && p.version == version) {
            fail(id, "its build script failed".to_owned());
        }
    }

    let mut blockers = Vec::new();
    for (id, error) in &failures {
        if *id == meta.root {
            blockers.push(Blocker {
                kind: BlockerKind::Compile,
                location: None,
                what: format!("the build script of {}", manifest.name),
                detail: Some(error.clone()),
                instead: catalog::COMPILE.to_owned(),
            });
            continue;
        }
        let (name, version) = meta.packages.get(id).map_or((id.as_str(), ""), |p| (&p.name, &p.version));
        let chain = chain(&meta, id);
        let names: Vec<&str> = chain.iter().map(|c| meta.packages.get(c).map_or(c.as_str(), |p| &p.name)).collect();
        let location = names.get(1).and_then(|direct| dependency_line(&manifest.text, direct));
        let mut detail = String::new();
        if names.len() > 1 {
            detail = format!("via {}", names.join(" -> "));
        }
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(error.lines().next().unwrap_or_default());
        blockers.push(Blocker {
            kind: BlockerKind::Dependency,
            location,
            what: if version.is_empty() { name.to_owned() } else { format!("{name} v{version}") },
            detail: (!detail.is_empty()).then_some(detail),
            instead: catalog::instead_of_dependency(name, names.get(1).copied()).to_owned(),
        });
    }
    for (text, location) in own_errors {
        blockers.push(Blocker {
            kind: BlockerKind::Compile,
            location,
            what: text.lines().next().unwrap_or_default().to_owned(),
            detail: None,
            instead: catalog::COMPILE.to_owned(),
        });
    }
    if !ok && blockers.is_empty() {
        return Err(AnalyzeError::Cargo { command: command_line(&cmd), message: tail(&stderr) });
    }
    blockers.sort_by(|a, b| (a.kind, &a.location, &a.what).cmp(&(b.kind, &b.location, &b.what)));
    Ok(CheckOutcome { check: WasmCheck { target: WASM_TARGET.to_owned(), passed: ok }, blockers })
}

/// The primary span of a compiler diagnostic, relative to the crate.
fn primary_span(message: &Value, workspace_root: &Path, crate_dir: &Path) -> Option<Location> {
    let span = message["spans"].as_array()?.iter().find(|s| s["is_primary"] == true)?;
    let file = PathBuf::from(span["file_name"].as_str()?);
    let file = if file.is_absolute() { file } else { workspace_root.join(file) };
    let crate_dir = crate_dir.canonicalize().unwrap_or_else(|_| crate_dir.to_path_buf());
    let file = file.canonicalize().unwrap_or(file);
    Some(Location {
        file: relative(&crate_dir, &file),
        line: usize::try_from(span["line_start"].as_u64()?).ok()?,
        column: usize::try_from(span["column_start"].as_u64()?).ok()?,
    })
}

/// The shortest chain of normal dependencies from the crate to `id`,
/// both included (just `[id]` when there is none).
fn chain(meta: &Metadata, id: &str) -> Vec<String> {
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from([meta.root.as_str()]);
    while let Some(at) = queue.pop_front() {
        if at == id {
            let mut out = vec![at.to_owned()];
            let mut cur = at;
            while let Some(p) = parent.get(cur) {
                out.push((*p).to_owned());
                cur = p;
            }
            out.reverse();
            return out;
        }
        for dep in meta.deps.get(at).into_iter().flatten() {
            if dep != &meta.root && !parent.contains_key(dep.as_str()) {
                parent.insert(dep, at);
                queue.push_back(dep);
            }
        }
    }
    vec![id.to_owned()]
}

/// Where the manifest declares the dependency `name`: a `name = …` or
/// `name.workspace = …` line of a dependencies table, or a
/// `[dependencies.name]` header.
fn dependency_line(manifest: &str, name: &str) -> Option<Location> {
    let mut in_deps = false;
    for (i, line) in manifest.lines().enumerate() {
        let trimmed = line.trim_start();
        let column = line.len() - trimmed.len() + 1;
        let at = || Some(Location { file: "Cargo.toml".to_owned(), line: i + 1, column });
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = header.trim_end().trim_end_matches(']').trim();
            if header.ends_with(&format!("dependencies.{name}")) {
                return at();
            }
            in_deps = header.ends_with("dependencies");
            continue;
        }
        if in_deps {
            let key = trimmed.split(['=', '.']).next().unwrap_or_default().trim().trim_matches('"');
            if key == name {
                return at();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_declaring_a_dependency() {
        let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nserde = \"1\"\n  getrandom.workspace = true\n\n\
                        [dev-dependencies]\nrand = \"1\"\n[target.'cfg(unix)'.dependencies.libc]\nversion = \"0.2\"\n";
        let line = |name| dependency_line(manifest, name).map(|l| (l.line, l.column));
        assert_eq!(line("getrandom"), Some((6, 3)));
        assert_eq!(line("serde"), Some((5, 1)));
        assert_eq!(line("rand"), Some((9, 1)));
        assert_eq!(line("libc"), Some((10, 1)));
        assert_eq!(line("name"), None);
    }
}
