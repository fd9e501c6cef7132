//! Host services behind the `call` import: key-value storage, outbound HTTP,
//! and the plugin data directories the WASI subset preopens.

pub mod http;
pub mod storage;
#[cfg(windows)]
mod windows_file;

use std::path::{Path, PathBuf};

use wasp_protocol::DATA_DIR;

pub use crate::hostcalls::serve_storage;

use self::http::HttpClient;
use self::storage::Storage;

/// The services a host offers its plugins. Cheap to clone.
#[derive(Clone, Default)]
pub struct Services {
    /// The database behind `kv.*` (none: those calls answer `unavailable`).
    pub storage: Option<Storage>,
    /// The client behind `http.fetch` (none: it answers `unavailable`).
    pub http: Option<HttpClient>,
    /// Where plugins' own directories live (`<data_root>/<plugin>`); the
    /// `$DATA` of `fs.*` permissions. None: `$DATA` grants are refused.
    pub data_root: Option<PathBuf>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("storage", &self.storage.as_ref().map(|s| s.path().to_owned()))
            .field("http", &self.http.is_some())
            .field("data_root", &self.data_root)
            .finish()
    }
}

impl Services {
    /// A plugin's own data directory, if the host has a data root.
    pub fn plugin_dir(&self, plugin: &str) -> Option<PathBuf> {
        self.data_root.as_ref().map(|root| root.join(plugin))
    }

    /// Resolves the directory of an `fs.*` permission for `plugin`: the host
    /// path to open and the path the plugin sees. `$DATA[/sub]` maps to the
    /// plugin's data directory, seen as `/data[/sub]`; an absolute path is
    /// seen under [`guest_dir`] of it (its own name on Unix).
    pub fn resolve_dir(&self, plugin: &str, dir: &str) -> Option<(PathBuf, String)> {
        match dir.strip_prefix(DATA_DIR) {
            Some(rest) => {
                let base = self.plugin_dir(plugin)?;
                let rest = rest.trim_start_matches('/');
                let host = if rest.is_empty() { base } else { base.join(Path::new(rest)) };
                let guest = if rest.is_empty() { "/data".to_owned() } else { format!("/data/{rest}") };
                Some((host, guest))
            }
            None => Some((PathBuf::from(dir), guest_dir(dir))),
        }
    }
}

/// The path under which a plugin sees an absolute host directory granted to
/// it (`fs.read:<dir>`): WASI paths start with `/` and separate with `/`.
///
/// On Unix that is the directory's own path. On Windows the separators
/// become `/` and a drive path gains a leading `/`: `C:\Users\me\notes` is
/// seen as `/C:/Users/me/notes`, and `\\server\share` as `//server/share`.
///
/// ```
/// let seen = wasp_runtime::services::guest_dir("/srv/shared");
/// if cfg!(windows) {
///     assert_eq!(wasp_runtime::services::guest_dir(r"C:\Users\me"), "/C:/Users/me");
/// } else {
///     assert_eq!(seen, "/srv/shared");
/// }
/// ```
pub fn guest_dir(dir: &str) -> String {
    if !cfg!(windows) {
        return dir.to_owned();
    }
    let slashed = dir.replace('\\', "/");
    if slashed.starts_with('/') { slashed } else { format!("/{slashed}") }
}
