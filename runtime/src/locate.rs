//! What a path names: a plugin folder, a manifest, or one plugin file. The
//! one place that decides it, for the host's loads and reloads and for the
//! `cargo wasp` command alike; a file's kind is told by its first bytes, never
//! by its name.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::manifest::{FILE_NAME, Manifest, ManifestError, ManifestKind};
use crate::signature::{Seal, read_bundle_manifest};
use crate::{Error, FileKind};

/// What [`locate`] found.
#[derive(Debug, Clone)]
pub enum Located {
    /// A manifest: a folder's `plugin.toml`, the `.toml` file named, or the
    /// `plugin.toml` beside the file named when its `entry` is that file.
    Manifest {
        /// The manifest, as read (its `dir` is the folder it was read from).
        manifest: Box<Manifest>,
        /// Where it was read from.
        path: PathBuf,
        /// What its signature covers (`docs/manifest.md`, "Signatures").
        seal: Box<Seal>,
        /// The file that runs: the file named, or the manifest's `entry`;
        /// `None` for a manifest that names none (hybrid or in-process).
        entry: Option<PathBuf>,
    },
    /// A plugin file with no manifest naming it.
    File {
        /// The file.
        path: PathBuf,
        /// [`ManifestKind::Native`] when its first bytes are a native
        /// library's (ELF, PE, Mach-O), [`ManifestKind::Wasm`] otherwise.
        kind: ManifestKind,
        /// The name it gets: the file's stem, lowercased, without the
        /// platform's library prefix for a native library (`libecho.so` →
        /// `echo`). Not validated: [`Manifest::new`] does that.
        name: String,
    },
}

/// One file of a located plugin that runs.
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

/// Why [`locate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The manifest could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The plugin file could not be opened or is not a regular file.
    #[error(transparent)]
    File(#[from] Error),
}

impl Located {
    /// The files that run: one, or one per component of a hybrid plugin;
    /// none for an in-process plugin.
    pub fn files(&self) -> Vec<PluginFile> {
        match self {
            Located::File { path, kind, name } => {
                vec![PluginFile { address: name.clone(), kind: *kind, path: path.clone() }]
            }
            Located::Manifest { manifest, entry, .. } => match manifest.kind {
                ManifestKind::Hybrid => manifest
                    .component_entries()
                    .into_iter()
                    .map(|(address, component, path)| PluginFile { address, kind: component.kind, path })
                    .collect(),
                ManifestKind::Wasm | ManifestKind::Native => entry
                    .iter()
                    .map(|path| PluginFile { address: manifest.name.clone(), kind: manifest.kind, path: path.clone() })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

/// Finds the plugin `path` names:
///
/// - a folder: its `plugin.toml` and the files it names;
/// - a `.toml` file: that manifest and the files it names;
/// - any other file: with the `plugin.toml` beside it if that manifest's
///   `entry` is this file; otherwise alone, a native library when its first
///   bytes say so and WebAssembly otherwise, named after the file's stem.
///
/// Manifests are read with their [`Seal`] ([`read_bundle_manifest`]). It
/// blocks on the file system; call it from a blocking task in async code.
///
/// # Errors
///
/// [`LocateError::Manifest`] when a manifest cannot be read or is invalid
/// (a folder without one included); [`LocateError::File`] when a file with
/// no manifest cannot be opened or is not a regular file.
///
/// ```no_run
/// use wasp_runtime::locate::{Located, locate};
/// match locate(std::path::Path::new("plugins/echo"))? {
///     Located::Manifest { manifest, .. } => println!("{} ({:?})", manifest.name, manifest.kind),
///     Located::File { name, kind, .. } => println!("{name}: a bare {kind:?} file"),
/// }
/// # Ok::<(), wasp_runtime::locate::LocateError>(())
/// ```
pub fn locate(path: &Path) -> Result<Located, LocateError> {
    let manifest_path = if path.is_dir() {
        Some(path.join(FILE_NAME))
    } else if path.extension().is_some_and(|e| e == "toml") {
        Some(path.to_owned())
    } else {
        None
    };
    if let Some(manifest_path) = manifest_path {
        let (manifest, seal) = read_bundle_manifest(&manifest_path)?;
        let entry = manifest.entry_path();
        return Ok(Located::Manifest {
            manifest: Box::new(manifest),
            path: manifest_path,
            seal: Box::new(seal),
            entry,
        });
    }
    let beside = path.parent().map(|dir| dir.join(FILE_NAME)).filter(|p| p.is_file());
    if let Some(beside) = beside {
        let (manifest, seal) = read_bundle_manifest(&beside)?;
        if manifest.entry.as_deref().is_some_and(|entry| entry.file_name() == path.file_name()) {
            return Ok(Located::Manifest {
                manifest: Box::new(manifest),
                path: beside,
                seal: Box::new(seal),
                entry: Some(path.to_owned()),
            });
        }
    }
    let kind = match sniff(path)? {
        FileKind::Elf | FileKind::Pe | FileKind::MachO => ManifestKind::Native,
        _ => ManifestKind::Wasm,
    };
    Ok(Located::File { path: path.to_owned(), kind, name: stem_name(path, kind) })
}

/// The kind of the plugin file `path`, from its first bytes.
///
/// # Errors
///
/// [`Error::NotRegularFile`] for a FIFO, a device, a socket or a folder;
/// [`Error::Io`] when it cannot be opened or read.
pub fn sniff(path: &Path) -> Result<FileKind, Error> {
    let mut head = Vec::with_capacity(8);
    // Not `File::open`: on a FIFO it would wait for a writer.
    let (file, _) = crate::open_plugin_file(path)?;
    file.take(8).read_to_end(&mut head).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    Ok(FileKind::detect(&head))
}

/// A plugin's name from its file's stem: lowercased, and for a native
/// library without the platform's prefix (`libecho.so` → `echo`).
fn stem_name(path: &Path, kind: ManifestKind) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    if kind == ManifestKind::Native
        && let Some(bare) = stem.strip_prefix(std::env::consts::DLL_PREFIX).filter(|s| !s.is_empty())
    {
        return bare.to_owned();
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("writes");
        path
    }

    #[test]
    fn a_bare_file_is_told_by_its_bytes_not_its_name() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let elf = format!("{}Echo.wasm", std::env::consts::DLL_PREFIX);
        let cases = [
            ("plain.so", &b"\0asm\x01\0\0\0"[..], ManifestKind::Wasm, "plain"),
            (elf.as_str(), &b"\x7fELF\x02\x01\x01\0"[..], ManifestKind::Native, "echo"),
            ("dos.bin", &b"MZ\x90\0\x03\0\0\0"[..], ManifestKind::Native, "dos"),
            ("empty.wasm", &b""[..], ManifestKind::Wasm, "empty"),
        ];
        for (file, bytes, want_kind, want_name) in cases {
            let path = write(dir.path(), file, bytes);
            match locate(&path).expect("located") {
                Located::File { kind, name, .. } => assert_eq!((kind, name.as_str()), (want_kind, want_name), "{file}"),
                other => panic!("{file}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_file_named_by_the_manifest_beside_it_takes_that_manifest() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write(dir.path(), FILE_NAME, b"name = \"notes\"\nversion = \"0.1.0\"\napi = \"1.2\"\nentry = \"notes.wasm\"\n");
        let named = write(dir.path(), "notes.wasm", b"\0asm\x01\0\0\0");
        let other = write(dir.path(), "other.wasm", b"\0asm\x01\0\0\0");
        let Located::Manifest { manifest, entry, .. } = locate(&named).expect("located") else { panic!("a manifest") };
        assert_eq!((manifest.name.as_str(), entry), ("notes", Some(named)));
        assert!(matches!(locate(&other), Ok(Located::File { name, .. }) if name == "other"), "not its entry");
        let Located::Manifest { entry, .. } = locate(dir.path()).expect("the folder") else { panic!("a manifest") };
        assert_eq!(entry, Some(dir.path().join("notes.wasm")));
    }

    #[test]
    fn a_folder_without_a_manifest_or_a_missing_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        assert!(matches!(locate(dir.path()), Err(LocateError::Manifest(_))));
        assert!(matches!(locate(&dir.path().join("ghost.wasm")), Err(LocateError::File(Error::Io { .. }))));
    }
}
