//! `wasp`: tools for wasp plugin authors.
//!
//! ```text
//! wasp analyze <crate-dir> [--no-check] [--json] [--target-dir <dir>]
//! ```
//!
//! `analyze` reports what keeps a native plugin crate from running as
//! WebAssembly (see `wasp_cli::analyze`). Exit status: 0 when nothing
//! blocks it, 1 when something does, 2 when the analysis itself failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wasp_cli::analyze::{AnalyzeOptions, WASM_TARGET, analyze};

/// Tools for wasp plugin authors.
#[derive(Debug, Parser)]
#[command(name = "wasp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report what keeps a native plugin crate from running as WebAssembly,
    /// and the wasp host service to use instead.
    ///
    /// Exits with 0 when nothing does, 1 when something does, 2 on error.
    Analyze {
        /// The crate's directory (holding its Cargo.toml).
        crate_dir: PathBuf,
        /// Only scan the sources: skip `cargo check --target wasm32-unknown-unknown`.
        #[arg(long)]
        no_check: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The target directory of the check (default: `wasp-analyze` in the crate's).
        #[arg(long, value_name = "DIR")]
        target_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze { crate_dir, no_check, json, target_dir } => {
            if !no_check {
                eprintln!("wasp: checking {} for {WASM_TARGET}…", crate_dir.display());
            }
            let options = AnalyzeOptions { cargo_check: !no_check, target_dir };
            let report = match analyze(&crate_dir, &options) {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: cannot write the report as JSON: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{report}");
            }
            if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
    }
}
