//! The migration analyzer: what keeps a native plugin crate from running as
//! WebAssembly, and what to use instead.
//!
//! [`analyze`] does two things:
//!
//! 1. **A source scan.** Every module of the crate's library and binaries
//!    (from `src/lib.rs`, `src/main.rs`, `src/bin/`, or the paths of
//!    `[lib]`/`[[bin]]`, following `mod` declarations) is parsed and
//!    searched for APIs that compile for `wasm32-unknown-unknown` but fail
//!    there at run time, or need the operating system: `std::fs` (and host
//!    paths such as `std::env::temp_dir`), `std::net` sockets, `std::thread`,
//!    `std::process`, `extern` blocks and the functions they declare, FFI
//!    crates (`libc`, `winapi`, `windows`, `windows_sys`, `nix`),
//!    environment variables, `SystemTime::now`/`Instant::now`, and randomness
//!    crates. Each finding is reported once, at its `file:line:column`, with
//!    the wasp host service to use instead. Names imported with `use` are
//!    followed to their call sites. Tests (`#[cfg(test)]`, `#[test]`) are
//!    skipped; other `cfg`s are not, so code for every platform is reported.
//! 2. **A build check** (unless [`AnalyzeOptions::cargo_check`] is off):
//!    `cargo check --target wasm32-unknown-unknown` of the crate, in its own
//!    target directory. A dependency that fails to build becomes a
//!    [`BlockerKind::Dependency`] blocker naming the crate, the chain of
//!    dependencies that pulls it in, and the compiler's first error; errors
//!    in the analyzed crate itself become [`BlockerKind::Compile`] blockers
//!    at their location. The target is added with `rustup` when missing.
//!
//! The [`Report`] prints as text (grouped by kind, one finding a line) and
//! serializes with `serde` (the `--json` of `cargo wasp analyze`).

pub(crate) mod cargo;
pub(crate) mod catalog;
pub(crate) mod crates;
mod load;
pub(crate) mod names;
pub(crate) mod source;
pub(crate) mod types;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The target the build check compiles for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// How [`analyze`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzeOptions {
    /// Run `cargo check --target wasm32-unknown-unknown` (default `true`).
    /// Without it only the sources are scanned, and nothing is built.
    pub cargo_check: bool,
    /// The cargo target directory of the check. `None` (the default):
    /// `wasp-analyze` inside the crate's own target directory, so the check
    /// never invalidates the crate's regular builds.
    pub target_dir: Option<PathBuf>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self { cargo_check: true, target_dir: None }
    }
}

/// What keeps one crate from running as WebAssembly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The crate's package name, from its `Cargo.toml`.
    pub crate_name: String,
    /// Every finding, sorted by kind, then location.
    pub blockers: Vec<Blocker>,
    /// The result of the build check; `None` when it was not run.
    pub wasm_check: Option<WasmCheck>,
}

impl Report {
    /// Whether nothing was found (and the build check, if run, passed).
    pub fn is_clean(&self) -> bool {
        self.blockers.is_empty() && self.wasm_check.as_ref().is_none_or(|c| c.passed)
    }
}

/// One thing that keeps the crate from running as WebAssembly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// What sort of thing it is.
    pub kind: BlockerKind,
    /// Where: the use in the source, the dependency's line in `Cargo.toml`,
    /// or `None` when there is no better place.
    pub location: Option<Location>,
    /// What is used, fully resolved: `std::fs::write`,
    /// `extern "C" { getpid }`, `getrandom v0.3.4`.
    pub what: String,
    /// More about it: for a dependency, the chain that pulls it in and the
    /// compiler's first error.
    pub detail: Option<String>,
    /// The wasp host service (and its permission) or the approach to use
    /// instead.
    pub instead: String,
}

/// What sort of thing a [`Blocker`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    /// Files and host paths (`std::fs`, `std::env::temp_dir`).
    Fs,
    /// Sockets (`std::net`).
    Net,
    /// Threads and sleeping (`std::thread`).
    Thread,
    /// Child processes and exiting (`std::process`).
    Process,
    /// Foreign code: `extern` blocks, calls to what they declare, FFI crates.
    Ffi,
    /// Environment variables and arguments (`std::env`).
    Env,
    /// `SystemTime::now` and `Instant::now` (they panic on
    /// `wasm32-unknown-unknown`).
    Clock,
    /// Randomness crates (`getrandom`, `rand`).
    Random,
    /// A dependency that does not build for `wasm32-unknown-unknown`.
    Dependency,
    /// An error in the analyzed crate when built for `wasm32-unknown-unknown`.
    Compile,
}

impl BlockerKind {
    /// The heading of this kind in the text report.
    pub fn title(self) -> &'static str {
        match self {
            Self::Fs => "files (std::fs)",
            Self::Net => "sockets (std::net)",
            Self::Thread => "threads (std::thread)",
            Self::Process => "processes (std::process)",
            Self::Ffi => "foreign code (FFI)",
            Self::Env => "environment (std::env)",
            Self::Clock => "clocks (std::time)",
            Self::Random => "randomness",
            Self::Dependency => "dependencies that do not build for wasm32-unknown-unknown",
            Self::Compile => "errors in the crate for wasm32-unknown-unknown",
        }
    }
}

/// A place in the crate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The file, relative to the crate directory, with `/` separators.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The result of `cargo check --target wasm32-unknown-unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WasmCheck {
    /// The target checked ([`WASM_TARGET`]).
    pub target: String,
    /// Whether the crate and all its dependencies built.
    pub passed: bool,
}

/// Why [`analyze`] could not analyze a crate.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The crate directory does not exist.
    #[error("crate directory `{}` does not exist", dir.display())]
    NoCrateDir {
        /// The directory given.
        dir: PathBuf,
    },
    /// The directory holds no `Cargo.toml`.
    #[error("`{}` holds no Cargo.toml: it is not a crate directory", dir.display())]
    NoManifest {
        /// The directory given.
        dir: PathBuf,
    },
    /// The `Cargo.toml` is a workspace's, without a package.
    #[error("`{}` is a workspace, not a crate: analyze one of its members", dir.display())]
    Workspace {
        /// The directory given.
        dir: PathBuf,
    },
    /// The `Cargo.toml` cannot be understood.
    #[error("manifest `{}` is invalid: {message}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The crate has no library or binary source.
    #[error("crate `{}` has no src/lib.rs, src/main.rs, src/bin/ or [lib]/[[bin]] path", dir.display())]
    NoSources {
        /// The crate directory.
        dir: PathBuf,
    },
    /// A file cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A source file is not valid Rust.
    #[error("cannot parse `{file}:{line}:{column}`: {message}")]
    Parse {
        /// The file, relative to the crate directory.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A `mod name;` whose file does not exist.
    #[error(
        "module `{module}` declared at `{declared_at}` has no file (looked for `{}` and `{}`)",
        candidates[0].display(),
        candidates[1].display()
    )]
    MissingModule {
        /// The module's name.
        module: String,
        /// Where it is declared, `file:line:column`.
        declared_at: String,
        /// The files looked for.
        candidates: [PathBuf; 2],
    },
    /// The target of the build check is missing and could not be added.
    #[error("the `{target}` target is not installed and rustup could not add it: run `rustup target add {target}`")]
    TargetMissing {
        /// The target.
        target: String,
    },
    /// Cargo failed in a way that says nothing about the crate's code.
    #[error("`{command}` failed: {message}")]
    Cargo {
        /// The command line.
        command: String,
        /// What cargo said.
        message: String,
    },
}

/// Analyzes the crate in `crate_dir`: see the [module documentation](self).
///
/// Fails when the directory is not a crate, a source file cannot be read or
/// parsed, or cargo cannot run; a crate that does not build for wasm32 is a
/// successful analysis with [`BlockerKind::Dependency`] or
/// [`BlockerKind::Compile`] blockers.
pub fn analyze(crate_dir: &Path, options: &AnalyzeOptions) -> Result<Report, AnalyzeError> {
    if !crate_dir.is_dir() {
        return Err(AnalyzeError::NoCrateDir { dir: crate_dir.to_path_buf() });
    }
    // Cargo runs in the crate's directory: every path must hold from there.
    let crate_dir = &std::path::absolute(crate_dir)
        .map_err(|source| AnalyzeError::Read { path: crate_dir.to_path_buf(), source })?;
    let manifest = cargo::CrateManifest::read(crate_dir)?;
    let mut blockers = source::scan(crate_dir, &manifest.roots)?;
    let wasm_check = if options.cargo_check {
        let outcome = cargo::check(crate_dir, &manifest, options)?;
        blockers.extend(outcome.blockers);
        Some(outcome.check)
    } else {
        None
    };
    Ok(Report { crate_name: manifest.name, blockers, wasm_check })
}

/// The longest line of `detail` the text report prints, in characters.
const DETAIL_WIDTH: usize = 110;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = |b: &Blocker| b.location.as_ref().map_or_else(|| "-".to_owned(), Location::to_string);
        let place_width = self.blockers.iter().map(|b| place(b).chars().count()).max().unwrap_or(0);
        // Compiler messages align among themselves: one long message does not push every line.
        let what_width = |kind| {
            let compile = kind == BlockerKind::Compile;
            let widths = self.blockers.iter().filter(|b| (b.kind == BlockerKind::Compile) == compile);
            widths.map(|b| b.what.chars().count()).max().unwrap_or(0)
        };
        match self.blockers.len() {
            0 => writeln!(f, "{}: nothing found that blocks WebAssembly", self.crate_name)?,
            1 => writeln!(f, "{}: 1 thing blocks WebAssembly", self.crate_name)?,
            n => writeln!(f, "{}: {n} things block WebAssembly", self.crate_name)?,
        }
        let mut kind = None;
        for b in &self.blockers {
            if kind != Some(b.kind) {
                kind = Some(b.kind);
                writeln!(f, "\n{}", b.kind.title())?;
            }
            let what_width = what_width(b.kind);
            writeln!(f, "  {:place_width$}  {:what_width$}  -> {}", place(b), b.what, b.instead)?;
            if let Some(detail) = &b.detail {
                let detail = shorten(detail.lines().next().unwrap_or_default(), DETAIL_WIDTH);
                writeln!(f, "  {:place_width$}  {detail}", "")?;
            }
        }
        writeln!(f)?;
        match &self.wasm_check {
            Some(c) => {
                writeln!(f, "cargo check --target {}: {}", c.target, if c.passed { "passed" } else { "failed" })
            }
            None => writeln!(f, "cargo check --target {WASM_TARGET}: not run"),
        }
    }
}

/// `text` cut to at most `width` characters at a word boundary, with `…`
/// where it was cut: a message is never cut mid-word.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let limit = text.char_indices().nth(width.saturating_sub(1)).map_or(text.len(), |(i, _)| i);
    let head = &text[..limit];
    // A word cut in two loses its tail; a single word longer than the line is cut anyway.
    let cut = match text[limit..].chars().next() {
        Some(c) if !c.is_whitespace() => head.rfind(char::is_whitespace).unwrap_or(limit),
        _ => limit,
    };
    let head = text[..cut].trim_end().trim_end_matches([',', ';', ':']);
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn long_details_are_cut_between_words() {
        let text = "error: The wasm32-unknown-unknown targets are not supported by default; you may need to enable";
        let short = shorten(text, 60);
        assert_eq!(short, "error: The wasm32-unknown-unknown targets are not supported…");
        assert!(short.chars().count() <= 60);
        assert_eq!(shorten("short", 60), "short");
        assert_eq!(shorten("abcdefghij", 5), "abcd…", "one long word is still cut");
    }
}
