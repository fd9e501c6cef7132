//! Third-party crates that keep a plugin from working as WebAssembly, at
//! their call sites, and the advice for a dependency that does not build.
//!
//! Some of these crates do not build for `wasm32-unknown-unknown` at all
//! (the build check finds them too, but only as a dependency); others build
//! and then fail where they are called: `chrono`'s `Utc::now` panics as
//! `SystemTime::now` does, `dirs` answers `None`, `rusqlite` has no file to
//! keep its database in, `env_logger` stamps every record with
//! `SystemTime::now`. Both kinds are reported where the crate is called,
//! with the wasp replacement.

use super::BlockerKind;
use super::catalog::{DEPENDENCY_ASYNC, DEPENDENCY_HTTP, DEPENDENCY_RANDOM, FFI, NET_CLIENT, RANDOM};

/// `chrono`'s clocks.
pub(crate) const CHRONO: &str = "`ctx.now()` (permission `clock`), as `chrono::DateTime::from_timestamp_nanos(now.unix_nanos as i64)`: \
     chrono builds for wasm32, but its `now` reads `SystemTime::now`, which panics there (and a plugin has no time zone)";
/// `dirs`, `directories`, `home`.
pub(crate) const DIRS: &str = "the plugin's own `/data` on wasm32-wasip1 (`fs.write:$DATA`), or `ctx.kv_set` (permission `storage`): \
     the crate builds for wasm32 but finds no folder there (`None`)";
/// `tempfile`.
pub(crate) const TEMPFILE: &str =
    "the plugin's own `/data` on wasm32-wasip1 (`fs.write:$DATA`): there is no temporary folder in WASM";
/// `rusqlite` and `sqlite`.
pub(crate) const SQLITE: &str = "`ctx.kv_get`/`ctx.kv_set` (permission `storage`), or SQLite on a file in `/data` built for \
     wasm32-wasip1 (`fs.write:$DATA`): without a file system the database lives in memory and every restart loses it";
/// `env_logger` and other loggers that stamp records with the system clock.
pub(crate) const LOGGER: &str = "`ctx.log(level, message)` (permission `log`): env_logger stamps every record with \
     `SystemTime::now`, which panics on wasm32-unknown-unknown, and writes to a stderr nobody reads";
/// `uuid`'s generated ids.
pub(crate) const UUID: &str = "`uuid::Builder::from_random_bytes(bytes).into_uuid()` with 16 bytes of `ctx.random_bytes(16)` \
     (permission `random`); without the `v4` feature uuid no longer needs getrandom";
/// `uuid`, when it does not build.
pub(crate) const DEPENDENCY_UUID: &str = "uuid without its `v4` feature (which needs getrandom): build ids with \
     `uuid::Builder::from_random_bytes` from `ctx.random_bytes(16)` (permission `random`)";
/// URL openers.
pub(crate) const OPENER: &str = "a plugin cannot start programs: publish an event the app acts on \
     (`ctx.publish`, permissions `publish:<topic>` and `ui:<topic>` to reach the UI)";
/// The OS clipboard.
pub(crate) const CLIPBOARD: &str = "no clipboard in WASM: keep this part native in a hybrid plugin, \
     or let the app read the clipboard and message the plugin";
/// Crates that need a C compiler or system libraries.
pub(crate) const NATIVE_CODE: &str = "the crate needs C code or the OS: a pure-Rust alternative that builds for wasm32, \
     or keep this part native in a hybrid plugin";

/// The blocker a resolved path of a third-party crate is, with what to
/// use instead; `None` when it works on WebAssembly.
pub(crate) fn classify(path: &[String]) -> Option<(BlockerKind, &'static str)> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let last = *segs.last()?;
    match segs.as_slice() {
        ["getrandom", ..] => Some((BlockerKind::Random, RANDOM)),
        ["rand" | "rand_core", ..] if RAND_SOURCES.contains(&last) => Some((BlockerKind::Random, RANDOM)),
        ["rand" | "rand_core", .., "from_entropy" | "from_os_rng" | "from_rng"] => Some((BlockerKind::Random, RANDOM)),
        ["chrono", .., "Utc" | "Local", "now"] | ["chrono", .., "Local", "today"] => Some((BlockerKind::Clock, CHRONO)),
        ["dirs" | "dirs_next" | "home", _] => Some((BlockerKind::Fs, DIRS)),
        ["directories" | "directories_next", _, "new" | "from" | "from_path"] => Some((BlockerKind::Fs, DIRS)),
        ["tempfile", ..] if last != "Builder" => Some((BlockerKind::Fs, TEMPFILE)),
        ["rusqlite" | "sqlite", .., "open" | "open_with_flags"] => Some((BlockerKind::Fs, SQLITE)),
        ["env_logger", ..] => Some((BlockerKind::Clock, LOGGER)),
        ["uuid", "Uuid", "new_v4" | "now_v7" | "now_v1" | "now_v6"] => Some((BlockerKind::Random, UUID)),
        ["reqwest", "blocking", _, ..] | ["ureq", _, ..] | ["attohttpc", _, ..] | ["minreq", _, ..] => {
            Some((BlockerKind::Net, NET_CLIENT))
        }
        ["reqwest", "get" | "Client"] | ["reqwest", "Client", _] => Some((BlockerKind::Net, NET_CLIENT)),
        ["webbrowser", "open" | "open_browser" | "open_browser_with_options"] => Some((BlockerKind::Process, OPENER)),
        ["open" | "opener", "that" | "that_detached" | "that_in_background" | "with" | "open" | "open_browser"] => {
            Some((BlockerKind::Process, OPENER))
        }
        ["arboard" | "copypasta" | "cli_clipboard", _, "new"] => Some((BlockerKind::Ffi, CLIPBOARD)),
        ["notify_rust", ..] | ["rodio", ..] | ["sysinfo", _, "new" | "new_all"] => {
            Some((BlockerKind::Ffi, NATIVE_CODE))
        }
        _ => None,
    }
}

/// The items of `rand` that read the operating system's randomness.
const RAND_SOURCES: &[&str] =
    &["random", "random_range", "random_bool", "random_iter", "thread_rng", "rng", "OsRng", "ThreadRng"];

/// The advice for a dependency named `name` (a crate the analyzed crate
/// depends on, or the one that failed), when there is one of its own.
pub(crate) fn dependency(name: &str) -> Option<&'static str> {
    let name = name.replace('-', "_");
    Some(match name.as_str() {
        "getrandom" | "rand" | "rand_core" => DEPENDENCY_RANDOM,
        "uuid" => DEPENDENCY_UUID,
        "reqwest" | "hyper" | "ureq" | "curl" | "isahc" | "attohttpc" | "minreq" => DEPENDENCY_HTTP,
        "tokio" | "mio" | "socket2" | "async_std" | "smol" => DEPENDENCY_ASYNC,
        "rusqlite" | "libsqlite3_sys" | "sqlite" => SQLITE,
        "arboard" | "copypasta" | "cli_clipboard" => CLIPBOARD,
        "ring" | "openssl" | "native_tls" | "aws_lc_rs" => NATIVE_CODE,
        "libc" | "winapi" | "windows" | "windows_sys" | "nix" => FFI,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn crates_that_build_but_fail_are_found_at_the_call() {
        assert_eq!(classify(&path("chrono::Utc::now")).map(|c| c.1), Some(CHRONO));
        assert_eq!(classify(&path("chrono::offset::Local::now")).map(|c| c.1), Some(CHRONO));
        assert_eq!(classify(&path("chrono::DateTime::from_timestamp")), None);
        assert_eq!(classify(&path("dirs::data_dir")).map(|c| c.0), Some(BlockerKind::Fs));
        assert_eq!(classify(&path("rusqlite::Connection::open")).map(|c| c.1), Some(SQLITE));
        assert_eq!(classify(&path("rusqlite::Connection::open_in_memory")), None);
        assert_eq!(classify(&path("env_logger::init")).map(|c| c.1), Some(LOGGER));
        assert_eq!(classify(&path("uuid::Uuid::new_v4")).map(|c| c.1), Some(UUID));
        assert_eq!(classify(&path("uuid::Uuid::parse_str")), None);
    }

    #[test]
    fn only_the_randomness_of_rand_is_a_blocker() {
        assert_eq!(classify(&path("rand::random")).map(|c| c.0), Some(BlockerKind::Random));
        assert_eq!(classify(&path("rand::thread_rng")).map(|c| c.0), Some(BlockerKind::Random));
        assert_eq!(classify(&path("rand::rngs::StdRng::from_entropy")).map(|c| c.0), Some(BlockerKind::Random));
        assert_eq!(classify(&path("rand::rngs::StdRng::seed_from_u64")), None);
        assert_eq!(classify(&path("rand::distributions::Uniform::new")), None);
    }

    #[test]
    fn http_clients_and_openers() {
        assert_eq!(classify(&path("ureq::get")).map(|c| c.0), Some(BlockerKind::Net));
        assert_eq!(classify(&path("reqwest::blocking::get")).map(|c| c.0), Some(BlockerKind::Net));
        assert_eq!(classify(&path("reqwest::blocking::Client::new")).map(|c| c.0), Some(BlockerKind::Net));
        assert_eq!(classify(&path("reqwest::StatusCode::OK")), None);
        assert_eq!(classify(&path("webbrowser::open")).map(|c| c.1), Some(OPENER));
        assert_eq!(classify(&path("open::that")).map(|c| c.1), Some(OPENER));
        assert_eq!(classify(&path("arboard::Clipboard::new")).map(|c| c.1), Some(CLIPBOARD));
    }
}
