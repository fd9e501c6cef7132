//! Host services behind the `call` import: key-value storage, outbound HTTP,
//! and the plugin data directories the WASI subset preopens.

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "storage")]
pub mod storage;
#[cfg(windows)]
mod windows_file;

use std::path::{Component, Path, PathBuf};

use wasp_protocol::DATA_DIR;

#[cfg(feature = "storage")]
pub use crate::hostcalls::serve_storage;

#[cfg(feature = "http")]
use self::http::HttpClient;
#[cfg(feature = "storage")]
use self::storage::Storage;

/// The services a host offers its plugins. Cheap to clone.
#[derive(Clone, Default)]
pub struct Services {
    /// The database behind `kv.*` (none: those calls answer `unavailable`).
    /// Only with the `storage` feature.
    #[cfg(feature = "storage")]
    pub storage: Option<Storage>,
    /// The client behind `http.fetch` (none: it answers `unavailable`).
    /// Only with the `http` feature.
    #[cfg(feature = "http")]
    pub http: Option<HttpClient>,
    /// Where plugins' own directories live (`<data_root>/<plugin>`); the
    /// `$DATA` of `fs.*` permissions. None: `$DATA` grants are refused.
    pub data_root: Option<PathBuf>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Services");
        #[cfg(feature = "storage")]
        s.field("storage", &self.storage.as_ref().map(|s| s.path().to_owned()));
        #[cfg(feature = "http")]
        s.field("http", &self.http.is_some());
        s.field("data_root", &self.data_root).finish()
    }
}

impl Services {
    /// A plugin's own data directory, if the host has a data root: always a
    /// direct child of the root, named after the plugin.
    ///
    /// Plugin names never name anything else ([`Address`](wasp_protocol::Address)
    /// refuses `.`, `..` and separators); this checks again, so that no name
    /// that slipped past the rule can reach the root itself, its parent
    /// (where the host's database lives) or another plugin's folder: such a
    /// name has no directory (`None`).
    ///
    /// ```
    /// use wasp_runtime::Services;
    /// let services = Services { data_root: Some("/app/plugins".into()), ..Services::default() };
    /// assert_eq!(services.plugin_dir("notes"), Some("/app/plugins/notes".into()));
    /// assert_eq!(services.plugin_dir(".."), None);
    /// assert_eq!(services.plugin_dir("."), None);
    /// assert_eq!(services.plugin_dir("a/../b"), None);
    /// ```
    pub fn plugin_dir(&self, plugin: &str) -> Option<PathBuf> {
        let root = self.data_root.as_ref()?;
        single_step(plugin).then(|| root.join(plugin))
    }

    /// Resolves the directory of an `fs.*` permission for `plugin`: the host
    /// path to open and the path the plugin sees. `$DATA[/sub]` maps to the
    /// plugin's data directory, seen as `/data[/sub]`; an absolute path is
    /// seen under [`guest_dir`] of it (its own name on Unix). A `sub` that
    /// would lead out of the data directory (`..`, or on Windows a drive or
    /// a root that restarts the path) resolves to nothing.
    pub fn resolve_dir(&self, plugin: &str, dir: &str) -> Option<(PathBuf, String)> {
        match dir.strip_prefix(DATA_DIR) {
            Some(rest) => {
                let base = self.plugin_dir(plugin)?;
                let rest = rest.trim_start_matches('/');
                let inside =
                    Path::new(rest).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                if !inside {
                    return None;
                }
                let host = if rest.is_empty() { base } else { base.join(Path::new(rest)) };
                let guest = if rest.is_empty() { "/data".to_owned() } else { format!("/data/{rest}") };
                Some((host, guest))
            }
            None => Some((PathBuf::from(dir), guest_dir(dir))),
        }
    }
}

/// Whether `name`, joined onto a folder, names a direct child of it: one
/// normal path component, spelled exactly as given (on Windows a trailing
/// `.` or space would be dropped, making another plugin's folder).
fn single_step(name: &str) -> bool {
    let mut steps = Path::new(name).components();
    let one = matches!((steps.next(), steps.next()), (Some(Component::Normal(step)), None) if step == name);
    one && !name.ends_with(['.', ' '])
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

#[cfg(test)]
mod tests {
    use super::*;

    // Without `storage` and `http`, `data_root` is every field.
    #[allow(clippy::needless_update)]
    fn services() -> Services {
        Services { data_root: Some(PathBuf::from("/app/data/plugins")), ..Services::default() }
    }

    #[test]
    fn a_plugin_dir_is_a_direct_child_of_the_root_whatever_the_name() {
        let s = services();
        assert_eq!(s.plugin_dir("notes"), Some(PathBuf::from("/app/data/plugins/notes")));
        assert_eq!(s.plugin_dir("sysinfo.os"), Some(PathBuf::from("/app/data/plugins/sysinfo.os")));
        for name in ["", ".", "..", "a/b", "../x", "/etc", "a.", "a ", r"a\..\b"] {
            if cfg!(windows) || name != r"a\..\b" {
                assert_eq!(s.plugin_dir(name), None, "{name:?}");
            }
        }
        assert_eq!(Services::default().plugin_dir("notes"), None, "no data root");
    }

    #[test]
    fn a_data_sub_directory_stays_inside_the_plugins_folder() {
        let s = services();
        let (host, guest) = s.resolve_dir("notes", "$DATA/cache/x").expect("inside");
        assert_eq!((host, guest.as_str()), (PathBuf::from("/app/data/plugins/notes/cache/x"), "/data/cache/x"));
        assert_eq!(s.resolve_dir("notes", "$DATA").map(|(h, _)| h), Some(PathBuf::from("/app/data/plugins/notes")));
        assert_eq!(s.resolve_dir("..", "$DATA"), None);
        assert_eq!(s.resolve_dir("notes", "$DATA/../other"), None);
        if cfg!(windows) {
            assert_eq!(s.resolve_dir("notes", "$DATA/C:/Windows"), None);
        }
    }
}
