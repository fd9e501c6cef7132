//! What blocks WebAssembly, and what wasp offers instead.
//!
//! Each entry names a wasp host service (a `Context` method of `wasp-sdk`)
//! and the permission it needs, as `docs/manifest.md` spells them.

use super::{BlockerKind, crates};

/// Files: the key-value store, or WASI files on `wasm32-wasip1`.
pub(crate) const FS: &str = "`ctx.kv_get`/`ctx.kv_set` (permission `storage`), or std::fs on paths from `ctx.file_path` \
     in granted directories, built for wasm32-wasip1 (`fs.write:$DATA`)";
/// Host paths (temporary, home, current directory).
pub(crate) const FS_PATHS: &str = "no host paths: `ctx.kv_set` (permission `storage`), or the plugin's own `/data` on wasm32-wasip1 \
     (`fs.write:$DATA`)";
/// Outbound connections.
pub(crate) const NET_CLIENT: &str = "`ctx.http` (permission `net:<host>`): HTTP(S) requests only, no raw sockets";
/// Listening and datagram sockets.
pub(crate) const NET_SERVER: &str =
    "no sockets: let the app or a native component own it and message the plugin (hybrid plugin)";
/// Threads.
pub(crate) const THREAD: &str =
    "no threads: `ctx.set_timeout`/`ctx.set_interval` (permission `timers`), `ctx.request_async`, or another plugin";
/// Sleeping.
pub(crate) const SLEEP: &str = "never block: `ctx.set_timeout` (permission `timers`) sends a message when time is up";
/// Child processes.
pub(crate) const PROCESS: &str =
    "no processes: keep this part native in a hybrid plugin, or publish a message the app acts on";
/// The process id.
pub(crate) const PROCESS_ID: &str = "a plugin has no process of its own: name things after the plugin (its manifest's `name`), \
     or tag them with `ctx.random_bytes(len)` (permission `random`)";
/// Ending the process.
pub(crate) const EXIT: &str = "return a `WireError`: exiting ends the WASM instance like a trap";
/// C code.
pub(crate) const FFI: &str =
    "no C code: a pure-Rust crate that builds for wasm32, or keep this part native in a hybrid plugin";
/// Environment variables and arguments.
pub(crate) const ENV_VAR: &str =
    "`ctx.config::<T>(key)` (permission `config`): the manifest's `[config]`, which the host may override";
/// Changing the environment.
pub(crate) const ENV_SET: &str = "keep settings in the plugin's state, or `ctx.kv_set` (permission `storage`)";
/// Reading the clocks.
pub(crate) const CLOCK: &str = "`ctx.now()` (permission `clock`); on wasm32-wasip1 std::time works with `clock`";
/// Randomness.
pub(crate) const RANDOM: &str =
    "`ctx.random_bytes(len)` (permission `random`); on wasm32-wasip1 getrandom works with `random`";
/// A dependency that does not build, in general.
pub(crate) const DEPENDENCY: &str =
    "a version or features that build for wasm32 (often `default-features = false`), another crate, or a hybrid plugin";
/// A randomness crate that does not build.
pub(crate) const DEPENDENCY_RANDOM: &str = "`ctx.random_bytes(len)` (permission `random`), or build for wasm32-wasip1; `wasm_js` needs JavaScript, wasp has none";
/// An HTTP client crate that does not build.
pub(crate) const DEPENDENCY_HTTP: &str = "`ctx.http` (permission `net:<host>`) instead of an HTTP client crate";
/// An async runtime or socket crate that does not build.
pub(crate) const DEPENDENCY_ASYNC: &str =
    "no async runtime or sockets: `ctx.set_timeout` (permission `timers`), `ctx.request_async`, `ctx.http`";
/// An error in the analyzed crate itself.
pub(crate) const COMPILE: &str =
    "make it build for wasm32: a wasp host service (see the other findings), or a hybrid plugin";

/// External crates whose paths are foreign code.
const FFI_CRATES: &[&str] = &["libc", "winapi", "windows", "windows_sys", "nix"];

/// The blocker a fully resolved path (`["std", "fs", "write"]`) is, with
/// what to use instead; `None` when it runs on WebAssembly.
pub(crate) fn classify(path: &[String]) -> Option<(BlockerKind, &'static str)> {
    let seg = |i: usize| path.get(i).map(String::as_str);
    let first = seg(0)?;
    // A crate's name alone (`cfg!(windows)`) uses nothing of it.
    seg(1)?;
    if FFI_CRATES.contains(&first) {
        return Some((BlockerKind::Ffi, FFI));
    }
    if first != "std" {
        return crates::classify(path);
    }
    let item = seg(2)?;
    match seg(1)? {
        "fs" => Some((BlockerKind::Fs, FS)),
        "net" => match item {
            "TcpStream" | "ToSocketAddrs" => Some((BlockerKind::Net, NET_CLIENT)),
            "TcpListener" | "UdpSocket" | "Incoming" => Some((BlockerKind::Net, NET_SERVER)),
            // Addresses are plain data and work everywhere.
            _ => None,
        },
        "thread" => match item {
            "sleep" | "sleep_ms" | "park" | "park_timeout" => Some((BlockerKind::Thread, SLEEP)),
            // Thread-locals work in a single-threaded instance.
            "LocalKey" | "AccessError" | "thread_local" => None,
            _ => Some((BlockerKind::Thread, THREAD)),
        },
        "process" => match item {
            "exit" | "abort" => Some((BlockerKind::Process, EXIT)),
            "id" => Some((BlockerKind::Process, PROCESS_ID)),
            // `ExitCode` and `Termination` only matter to `main`.
            "ExitCode" | "Termination" => None,
            _ => Some((BlockerKind::Process, PROCESS)),
        },
        "env" => match item {
            "var" | "var_os" | "vars" | "vars_os" | "args" | "args_os" => Some((BlockerKind::Env, ENV_VAR)),
            "set_var" | "remove_var" => Some((BlockerKind::Env, ENV_SET)),
            "temp_dir" | "home_dir" | "current_dir" | "set_current_dir" | "current_exe" => {
                Some((BlockerKind::Fs, FS_PATHS))
            }
            _ => None,
        },
        "time" => match (item, seg(3)) {
            ("SystemTime" | "Instant", Some("now")) => Some((BlockerKind::Clock, CLOCK)),
            _ => None,
        },
        _ => None,
    }
}

/// What to use instead of a dependency that does not build: the advice for
/// the crate the analyzed crate depends on directly (`direct`: `ureq`,
/// `uuid`), which is what its author can change, else for the failing crate
/// itself (`failing`: `getrandom`, `ring`).
pub(crate) fn instead_of_dependency(failing: &str, direct: Option<&str>) -> &'static str {
    direct.and_then(crates::dependency).or_else(|| crates::dependency(failing)).unwrap_or_else(|| {
        let name = failing.replace('-', "_");
        if FFI_CRATES.contains(&name.as_str()) || name.ends_with("_sys") { FFI } else { DEPENDENCY }
    })
}

/// The blocker a method call is, from its receiver's resolved type
/// (`None` when unknown) and the method's name.
pub(crate) fn classify_method(receiver: Option<&[String]>, method: &str) -> Option<(BlockerKind, &'static str)> {
    let ty = receiver.map(|r| r.iter().map(String::as_str).collect::<Vec<_>>());
    match (ty.as_deref(), method) {
        (Some(["std", "path", "Path" | "PathBuf"]), m) if PATH_FS_METHODS.contains(&m) => Some((BlockerKind::Fs, FS)),
        (Some(["std", "time", "Instant" | "SystemTime"]) | None, "elapsed") => Some((BlockerKind::Clock, CLOCK)),
        // A request of reqwest's blocking client.
        (
            Some(["reqwest", "blocking", "Client"]),
            "get" | "post" | "put" | "patch" | "delete" | "head" | "request" | "execute",
        ) => Some((BlockerKind::Net, NET_CLIENT)),
        // A trait method of `std::net::ToSocketAddrs`: a DNS lookup, whatever the receiver.
        (_, "to_socket_addrs") => Some((BlockerKind::Net, NET_CLIENT)),
        _ => None,
    }
}

/// The methods of `Path` that ask the file system.
pub(crate) const PATH_FS_METHODS: &[&str] = &[
    "exists",
    "try_exists",
    "is_file",
    "is_dir",
    "is_symlink",
    "metadata",
    "symlink_metadata",
    "read_dir",
    "read_link",
    "canonicalize",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn classifies_std_modules_by_item() {
        assert_eq!(classify(&path("std::fs::write")).map(|c| c.0), Some(BlockerKind::Fs));
        assert_eq!(classify(&path("std::net::TcpStream::connect")).map(|c| c.0), Some(BlockerKind::Net));
        assert_eq!(classify(&path("std::net::IpAddr")), None);
        assert_eq!(classify(&path("std::thread::sleep")).map(|c| c.1), Some(SLEEP));
        assert_eq!(classify(&path("std::thread::LocalKey")), None);
        assert_eq!(classify(&path("std::process::exit")).map(|c| c.1), Some(EXIT));
        assert_eq!(classify(&path("std::env::temp_dir")).map(|c| c.0), Some(BlockerKind::Fs));
        assert_eq!(classify(&path("std::env::consts::OS")), None);
        assert_eq!(classify(&path("std::time::Instant::now")).map(|c| c.0), Some(BlockerKind::Clock));
        assert_eq!(classify(&path("std::time::Duration::from_secs")), None);
        assert_eq!(classify(&path("libc::getpid")).map(|c| c.0), Some(BlockerKind::Ffi));
        assert_eq!(classify(&path("getrandom::fill")).map(|c| c.0), Some(BlockerKind::Random));
        assert_eq!(classify(&path("std::process::id")).map(|c| c.1), Some(PROCESS_ID));
        assert_eq!(classify(&path("serde::Serialize")), None);
        assert_eq!(classify(&path("windows")), None);
    }

    #[test]
    fn dependencies_get_advice_by_name() {
        assert_eq!(instead_of_dependency("getrandom", Some("getrandom")), DEPENDENCY_RANDOM);
        assert_eq!(instead_of_dependency("openssl-sys", None), FFI);
        assert_eq!(instead_of_dependency("something-else", Some("something-else")), DEPENDENCY);
    }

    #[test]
    fn a_dependency_is_advised_by_the_crate_the_author_chose() {
        // getrandom fails, but the author depends on ureq: the advice is ctx.http.
        assert_eq!(instead_of_dependency("getrandom", Some("ureq")), DEPENDENCY_HTTP);
        assert_eq!(instead_of_dependency("ring", Some("reqwest")), DEPENDENCY_HTTP);
        // uuid's advice is uuid's, not getrandom's feature.
        let uuid = instead_of_dependency("getrandom", Some("uuid"));
        assert!(uuid.contains("uuid::Builder::from_random_bytes") && !uuid.contains("wasm_js"), "{uuid}");
        // A direct dependency without advice of its own: the failing crate's.
        assert_eq!(instead_of_dependency("getrandom", Some("my-helpers")), DEPENDENCY_RANDOM);
    }

    #[test]
    fn methods_are_classified_by_their_receiver() {
        let p = path("std::path::PathBuf");
        assert_eq!(classify_method(Some(&p), "exists").map(|c| c.0), Some(BlockerKind::Fs));
        assert_eq!(classify_method(Some(&p), "join"), None);
        assert_eq!(classify_method(None, "exists"), None, "an unknown receiver's `exists` is not a path's");
        let t = path("std::time::Instant");
        assert_eq!(classify_method(Some(&t), "elapsed").map(|c| c.0), Some(BlockerKind::Clock));
        assert_eq!(classify_method(None, "elapsed").map(|c| c.0), Some(BlockerKind::Clock));
        assert_eq!(classify_method(Some(&path("Stopwatch")), "elapsed"), None, "the crate's own `elapsed`");
        assert_eq!(
            classify_method(Some(&path("std::string::String")), "to_socket_addrs").map(|c| c.0),
            Some(BlockerKind::Net)
        );
    }
}
