//! Assisted porting (`cargo wasp port`): the blockers [`analyze`](crate::analyze)
//! finds that have a mechanical replacement, rewritten.
//!
//! [`port`] reads a native plugin crate and returns a [`Port`]: the new
//! text of every file it changes, and a summary. Nothing is written until
//! [`Port::apply`]; [`Port::diff`] shows the change as a unified diff. The
//! rewrites splice new text into the old at `syn` spans, so the rest of
//! each file stays byte for byte as it was. In order:
//!
//! 1. **Folders** (`port/folders.rs`): a folder the plugin owns under a host
//!    folder (`std::env::temp_dir()`, `dirs::data_dir()`, …) becomes its
//!    `/data`, seen through WASI: the crate switches to `wasm32-wasip1` and
//!    asks for `fs.write:$DATA`, and `std::fs` keeps working.
//! 2. **Threads** (`port/timers.rs`): a thread that does work once, after a
//!    sleep, or in a loop with a sleep becomes a timer (`ctx.set_timeout`,
//!    `ctx.set_interval`) whose event runs the same work.
//! 3. **Services** (`port/services.rs`): clocks, environment variables,
//!    randomness (`getrandom`, `rand`), blocking HTTP (`reqwest::blocking`,
//!    `ureq`, raw `TcpStream` GETs) and URL
//!    openers become calls of the host services through the plugin's
//!    `Context`, in the shape of the API they replace (`src/wasp_port.rs`,
//!    `port/shim.rs`), and the `Context` is passed down to every function that
//!    needs it (`port/context.rs`).
//! 4. **Clean-up** (`port/cleanup.rs`): what the rewrites left unused (the name
//!    of a folder that is now `/data` and what computed only that, imports)
//!    goes.
//! 5. **Markers** (`port/markers.rs`): whatever still blocks WebAssembly gets a
//!    `// wasp port:` comment naming the blocker and the choice left to the
//!    author; the code itself is left as it was.
//! 6. **Manifests** (`port/manifest.rs`): `plugin.toml` with exactly the
//!    permissions the rewrites need (and `[config]` keys), `Cargo.toml`
//!    without the crates replaced, and a parity test (`port/parity.rs`).

mod ast;
mod cleanup;
mod context;
mod edit;
mod folders;
mod manifest;
mod markers;
mod parity;
mod report;
mod reqwest;
mod rng;
mod services;
mod shim;
mod timers;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analyze::cargo::CrateManifest;
use crate::analyze::source::{self, Site, SourceFile, Target};
use crate::analyze::{AnalyzeError, BlockerKind, Location};

/// Why [`port`] could not port a crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The crate cannot be read or parsed (as for `cargo wasp analyze`).
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    /// A source file no longer parses after a rewrite: a bug of `cargo wasp port`.
    #[error("rewriting `{file}` made it invalid Rust ({message}); nothing was written")]
    Rewrite {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// `Cargo.toml` or `plugin.toml` cannot be edited.
    #[error("cannot edit `{file}`: {message}")]
    Manifest {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Writing a file failed ([`Port::apply`]).
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What [`port`] would do to a crate.
#[derive(Debug, Clone, Serialize)]
pub struct Port {
    /// The crate's package name.
    pub crate_name: String,
    /// The crate's directory.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The target the ported crate builds for: `wasm32-unknown-unknown`, or
    /// `wasm32-wasip1` when it keeps files in `/data`.
    pub target: String,
    /// Every file created or changed.
    pub files: Vec<FileChange>,
    /// The blockers rewritten, in order.
    pub rewrites: Vec<Rewrite>,
    /// Code removed because a rewrite left it unused.
    pub removed: Vec<Removed>,
    /// What is left for the author: each has a `// wasp port:` comment.
    pub markers: Vec<Marker>,
    /// The permissions `plugin.toml` asks for.
    pub permissions: Vec<String>,
    /// Things the author should know about a rewrite.
    pub notes: Vec<String>,
}

/// One file, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// Relative to the crate directory, with `/` separators.
    pub path: String,
    /// Its text before (`None`: the port creates it).
    #[serde(skip)]
    pub before: Option<String>,
    /// Its text after.
    #[serde(skip)]
    pub after: String,
    /// The unified diff.
    pub diff: String,
}

/// One blocker rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// What sort of blocker it was.
    pub kind: BlockerKind,
    /// Where it was (in the crate as it was), when the code was not moved.
    pub location: Option<Location>,
    /// What it used: `std::env::var("WASP_BOOKMARKS_MAX")`.
    pub what: String,
    /// What it became.
    pub into: String,
}

/// Code the port removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Where it was, in the crate as it was.
    pub location: Option<Location>,
    /// Its first line.
    pub code: String,
    /// Why it went.
    pub why: String,
}

/// A blocker left for the author, with its `// wasp port:` comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    /// What sort of blocker it is.
    pub kind: BlockerKind,
    /// Where, in the crate as ported (the line of the code, under the comment).
    pub location: Location,
    /// What it uses.
    pub what: String,
    /// The choice the author has to make.
    pub choice: String,
}

impl Port {
    /// Whether something is left for the author (the exit status of `cargo wasp port`).
    pub fn needs_decisions(&self) -> bool {
        !self.markers.is_empty()
    }

    /// Every change as one unified diff (`a/<file>` → `b/<file>`).
    pub fn diff(&self) -> String {
        self.files.iter().map(|f| f.diff.as_str()).collect()
    }

    /// Writes every changed file.
    ///
    /// # Errors
    ///
    /// [`PortError::Write`] when a file cannot be written; the files before
    /// it are written already.
    pub fn apply(&self) -> Result<(), PortError> {
        for file in &self.files {
            let path = self.dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| PortError::Write { path: path.clone(), source })?;
            }
            std::fs::write(&path, &file.after).map_err(|source| PortError::Write { path: path.clone(), source })?;
        }
        Ok(())
    }
}

/// One source file of the crate, as it was and as the passes leave it.
#[derive(Debug)]
pub(crate) struct Text {
    pub(crate) rel: String,
    pub(crate) original: String,
    pub(crate) current: String,
}

/// The state the passes share.
#[derive(Debug)]
pub(crate) struct Work {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: CrateManifest,
    /// The plugin's name: `plugin.toml`'s, else the package's.
    pub(crate) plugin: String,
    pub(crate) texts: Vec<Text>,
    pub(crate) target: Target,
    pub(crate) rewrites: Vec<Rewrite>,
    pub(crate) removed: Vec<Removed>,
    pub(crate) markers: Vec<Marker>,
    pub(crate) notes: Vec<String>,
    pub(crate) permissions: BTreeSet<String>,
    /// `[config]` keys the code now reads: (key, the environment variable it was).
    pub(crate) config: Vec<(String, String)>,
    /// The parts of `src/wasp_port.rs` the rewrites use.
    pub(crate) shims: BTreeSet<shim::Part>,
    /// Files other than sources: (path, before, after).
    pub(crate) other: Vec<(String, Option<String>, String)>,
    /// The choice a marker names instead of the analyzer's advice, by the finding's (file, line) in the original.
    pub(crate) choices: std::collections::BTreeMap<(String, usize), String>,
}

impl Work {
    /// Parses the current text of every source file.
    pub(crate) fn parse(&self) -> Result<Vec<SourceFile>, PortError> {
        self.texts
            .iter()
            .map(|t| {
                let ast = syn::parse_file(&t.current)
                    .map_err(|e| PortError::Rewrite { file: t.rel.clone(), message: e.to_string() })?;
                Ok(SourceFile { rel: t.rel.clone(), text: t.current.clone(), ast })
            })
            .collect()
    }

    /// The findings in the current text, for the crate's target.
    pub(crate) fn sites(&self, files: &[SourceFile]) -> Vec<Site> {
        self.sites_for(files, self.target)
    }

    /// The findings in the current text, for `target`.
    pub(crate) fn sites_for(&self, files: &[SourceFile], target: Target) -> Vec<Site> {
        let index = source::index(files);
        source::sites(files, &index, target)
    }

    /// Where a line of a file's current text was in the original, if it was there.
    pub(crate) fn original_location(&self, file: &str, line: usize, column: usize) -> Option<Location> {
        let text = self.texts.iter().find(|t| t.rel == file)?;
        let line = report::original_line(&text.original, &text.current, line)?;
        Some(Location { file: file.to_owned(), line, column })
    }

    pub(crate) fn rewrote(&mut self, kind: BlockerKind, site: Option<&Site>, what: String, into: String) {
        let location = site.and_then(|s| {
            let l = s.blocker.location.as_ref()?;
            self.original_location(&l.file, l.line, l.column)
        });
        self.rewrites.push(Rewrite { kind, location, what, into });
    }

    /// The root file of the library (or the first binary).
    pub(crate) fn root(&self) -> &str {
        self.texts.first().map_or("src/lib.rs", |t| t.rel.as_str())
    }
}

/// The text of `src/wasp_port.rs` with every part `cargo wasp port` can write:
/// what its tests build, to know each part compiles.
pub fn every_part() -> String {
    shim::text(shim::Part::ALL)
}

/// Ports the crate in `crate_dir`: see the [module documentation](self).
/// Nothing is written: see [`Port::apply`].
///
/// # Errors
///
/// [`PortError::Analyze`] when the directory is not a crate or a source
/// file cannot be read or parsed; [`PortError::Manifest`] when
/// `Cargo.toml` or `plugin.toml` cannot be edited.
pub fn port(crate_dir: &Path) -> Result<Port, PortError> {
    if !crate_dir.is_dir() {
        return Err(AnalyzeError::NoCrateDir { dir: crate_dir.to_path_buf() }.into());
    }
    let dir = std::path::absolute(crate_dir)
        .map_err(|source| AnalyzeError::Read { path: crate_dir.to_path_buf(), source })?;
    let manifest = CrateManifest::read(&dir)?;
    let files = source::load(&dir, &manifest.roots)?;
    let texts = files.into_iter().map(|f| Text { rel: f.rel, original: f.text.clone(), current: f.text }).collect();
    let plugin = manifest::plugin_name(&dir, &manifest.name);
    let mut work = Work {
        dir,
        manifest,
        plugin,
        texts,
        target: Target::Unknown,
        rewrites: Vec::new(),
        removed: Vec::new(),
        markers: Vec::new(),
        notes: Vec::new(),
        permissions: BTreeSet::new(),
        config: Vec::new(),
        shims: BTreeSet::new(),
        other: Vec::new(),
        choices: std::collections::BTreeMap::new(),
    };
    folders::run(&mut work)?;
    timers::run(&mut work)?;
    services::run(&mut work)?;
    // A call inside another rewritten call (`SystemTime::now().elapsed()`) is rewritten on a second look.
    services::run(&mut work)?;
    cleanup::run(&mut work)?;
    markers::run(&mut work)?;
    shim::add(&mut work)?;
    manifest::run(&mut work)?;
    parity::scaffold(&mut work)?;
    Ok(report::finish(work))
}

#[cfg(test)]
mod tests;
