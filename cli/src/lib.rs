//! The `wasp` command: tools for wasp plugin authors.
//!
//! For now it holds one tool, the migration analyzer ([`analyze`]): it reads
//! a native plugin crate and reports what keeps it from running as
//! WebAssembly, and which wasp host service to use instead. The `wasp`
//! binary runs it as `wasp analyze <crate-dir>`; `docs/migration.md` walks
//! through a migration with it.
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

pub use analyze::AnalyzeError;
