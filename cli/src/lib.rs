//! `cargo wasp`: tools for wasp plugin authors.
//!
//! The crate's binary, `cargo-wasp`, is a cargo subcommand (`cargo install
//! wasp-cli`, then `cargo wasp <command>`). Each of its commands is a
//! function here:
//!
//! - [`scaffold::new_plugin`] (`cargo wasp new`): a plugin crate that builds and
//!   passes its own test out of the box, WASM, native or hybrid;
//! - [`build::build`] (`cargo wasp build`): builds it with size optimizations,
//!   places the file its `plugin.toml` names, validates it;
//! - [`validate::validate`] (`cargo wasp validate`): the loader's checks, every
//!   problem listed;
//! - [`inspect::inspect`] (`cargo wasp inspect`): ABI version, imports, exports,
//!   permissions, limits, size;
//! - [`run::OneShot`] (`cargo wasp run`) and [`bench::bench`] (`cargo wasp bench`): a
//!   one-shot host for a request, or for timed round trips;
//! - [`analyze`] (`cargo wasp analyze`): the migration analyzer, which reports what
//!   keeps a native plugin crate from running as WebAssembly and which host
//!   service to use instead (`docs/migration.md`);
//! - [`port::port`] (`cargo wasp port`): rewrites what has a mechanical
//!   replacement, marks the rest, writes `plugin.toml` and a parity test.
//!
//! ```no_run
//! use std::path::Path;
//! use wasp_cli::analyze::{AnalyzeOptions, analyze};
//!
//! let report = analyze(Path::new("examples/migration/legacy"), &AnalyzeOptions::default())?;
//! for blocker in &report.blockers {
//!     println!("{} -> {}", blocker.what, blocker.instead);
//! }
//! print!("{report}"); // the same, grouped, with file:line:column
//! # Ok::<(), wasp_cli::AnalyzeError>(())
//! ```

pub mod analyze;
pub mod bench;
pub mod build;
pub mod error;
pub mod inspect;
pub mod locate;
pub mod port;
pub mod run;
pub mod scaffold;
pub mod transcode;
pub mod validate;

pub use analyze::AnalyzeError;
