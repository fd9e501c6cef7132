//! What a path on the command line names: a plugin folder, a `plugin.toml`,
//! a `.wasm` file or a native library, found the way `Host::load` finds them.

use std::path::{Path, PathBuf};

use wasp_runtime::locate::LocateError;
use wasp_runtime::manifest::{FILE_NAME, Manifest};

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
pub use wasp_runtime::locate::PluginFile;

/// Finds the plugin `path` names, as `Host::load` does
/// ([`wasp_runtime::locate::locate`]):
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
/// [`CommandError::Manifest`] when the manifest is invalid,
/// [`CommandError::Runtime`] when a plugin file is not a regular file.
pub fn locate(path: &Path) -> Result<Located, CommandError> {
    let metadata = std::fs::metadata(path).map_err(|source| CommandError::Io { path: path.to_owned(), source })?;
    if metadata.is_dir() && !path.join(FILE_NAME).is_file() {
        return Err(CommandError::NoManifest(path.to_owned()));
    }
    let located = wasp_runtime::locate::locate(path).map_err(|e| match e {
        LocateError::Manifest(e) => CommandError::Manifest(e),
        LocateError::File(e) => CommandError::Runtime(e),
    })?;
    let files = located.files();
    Ok(match located {
        wasp_runtime::locate::Located::Manifest { manifest, path, .. } => {
            Located { manifest: Some(*manifest), manifest_path: Some(path), files }
        }
        wasp_runtime::locate::Located::File { .. } => Located { manifest: None, manifest_path: None, files },
    })
}
