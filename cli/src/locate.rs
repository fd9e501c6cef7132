//! What a path on the command line names: a plugin folder, a `plugin.toml`,
//! a `.wasm` file or a native library, found the way `Host::load` finds them.

use std::path::{Path, PathBuf};

use wasp_runtime::FileKind;
use wasp_runtime::manifest::{FILE_NAME, Manifest, ManifestKind};

use crate::error::CommandError;

/// A plugin as named on the command line: its manifest, if it has one, and
/// the files that run.
///
/// ```no_run
/// use std::path::Path;
/// let plugin = wasp_cli::locate::locate(Path::new("plugins/echo"))?;
/// for file in &plugin.files {
///     println!("{} runs {}", file.address, file.path.display());
/// }
/// # Ok::<(), wasp_cli::error::CommandError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Located {
    /// The manifest: the folder's `plugin.toml`, the `.toml` named, or the
    /// `plugin.toml` beside a file when its `entry` is that file.
    pub manifest: Option<Manifest>,
    /// Where the manifest was read from.
    pub manifest_path: Option<PathBuf>,
    /// The files that run: one, or one per component of a hybrid plugin;
    /// none for an in-process plugin.
    pub files: Vec<PluginFile>,
}

/// One file of a plugin: a WebAssembly module or a native library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFile {
    /// The address it answers at: the plugin's name, or
    /// `<plugin>.<component>` for a hybrid's later components.
    pub address: String,
    /// [`ManifestKind::Wasm`] or [`ManifestKind::Native`].
    pub kind: ManifestKind,
    /// The file.
    pub path: PathBuf,
}

/// Finds the plugin `path` names.
///
/// - a folder: its `plugin.toml` and the files it names;
/// - a `.toml` file: that manifest and the files it names;
/// - any other file: with the `plugin.toml` beside it if that manifest's
///   `entry` is this file; otherwise alone, a native library when its first
///   bytes say so and WebAssembly otherwise, named after the file's stem
///   (`libecho.so` → `echo`).
///
/// Errors: [`CommandError::Io`] when `path` cannot be read,
/// [`CommandError::NoManifest`] for a folder without a manifest,
/// [`CommandError::Manifest`] when the manifest is invalid.
pub fn locate(path: &Path) -> Result<Located, CommandError> {
    let metadata = std::fs::metadata(path).map_err(|source| CommandError::Io { path: path.to_owned(), source })?;
    let manifest_path = if metadata.is_dir() {
        let manifest = path.join(FILE_NAME);
        if !manifest.is_file() {
            return Err(CommandError::NoManifest(path.to_owned()));
        }
        Some(manifest)
    } else if path.extension().is_some_and(|e| e == "toml") {
        Some(path.to_owned())
    } else {
        None
    };
    if let Some(manifest_path) = manifest_path {
        let manifest = Manifest::from_file(&manifest_path)?;
        return Ok(from_manifest(manifest, manifest_path));
    }
    let beside = path.parent().map(|dir| dir.join(FILE_NAME)).filter(|p| p.is_file());
    if let Some(beside) = beside {
        let manifest = Manifest::from_file(&beside)?;
        if manifest.entry.as_deref().is_some_and(|entry| entry.file_name() == path.file_name()) {
            let files = vec![PluginFile { address: manifest.name.clone(), kind: manifest.kind, path: path.to_owned() }];
            return Ok(Located { manifest: Some(manifest), manifest_path: Some(beside), files });
        }
    }
    let kind = match sniff(path)? {
        FileKind::Elf | FileKind::Pe | FileKind::MachO => ManifestKind::Native,
        _ => ManifestKind::Wasm,
    };
    let file = PluginFile { address: stem_name(path, kind), kind, path: path.to_owned() };
    Ok(Located { manifest: None, manifest_path: None, files: vec![file] })
}

fn from_manifest(manifest: Manifest, manifest_path: PathBuf) -> Located {
    let files = match manifest.kind {
        ManifestKind::Hybrid => manifest
            .component_entries()
            .into_iter()
            .map(|(address, component, path)| PluginFile { address, kind: component.kind, path })
            .collect(),
        ManifestKind::Wasm | ManifestKind::Native => manifest
            .entry_path()
            .map(|path| PluginFile { address: manifest.name.clone(), kind: manifest.kind, path })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    Located { manifest: Some(manifest), manifest_path: Some(manifest_path), files }
}

/// The kind of a file, from its first bytes.
fn sniff(path: &Path) -> Result<FileKind, CommandError> {
    use std::io::Read;
    let io = |source| CommandError::Io { path: path.to_owned(), source };
    let mut head = Vec::with_capacity(8);
    // Not `File::open`: on a FIFO it would wait for a writer.
    let (file, _) = wasp_runtime::open_plugin_file(path)?;
    file.take(8).read_to_end(&mut head).map_err(io)?;
    Ok(FileKind::detect(&head))
}

/// A plugin's name from its file's stem, as `Host::load` names a file
/// without a manifest.
fn stem_name(path: &Path, kind: ManifestKind) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    if kind == ManifestKind::Native
        && let Some(bare) = stem.strip_prefix(std::env::consts::DLL_PREFIX).filter(|s| !s.is_empty())
    {
        return bare.to_owned();
    }
    stem
}
