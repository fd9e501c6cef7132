//! The command line of `cargo wasp`: its commands and options (clap), and
//! the subcommand name cargo passes first.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use wasp_cli::build::WasmTarget;
use wasp_cli::error::CommandError;
use wasp_cli::run::RunOptions;
use wasp_cli::scaffold::Kind;
use wasp_cli::transcode::json_to_msgpack;

/// Tools for wasp plugin authors.
#[derive(Debug, Parser)]
#[command(name = "cargo-wasp", bin_name = "cargo wasp", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    New(NewArgs),
    Build(BuildArgs),
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
    Port(PortArgs),
    Validate(ValidateArgs),
    Inspect(InspectArgs),
    Run(RunArgs),
    Bench(BenchArgs),
}

/// Create a plugin crate that builds and passes its own test out of the box.
///
/// Writes `<name>/` with Cargo.toml, src/lib.rs (`ping` and `echo`),
/// plugin.toml, a test and a README. `--kind hybrid` writes a workspace with
/// a WASM `logic` part and a native `os` part. Exits with 2 when the name is
/// invalid or the folder is not empty.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The plugin's name: its address (a-z, 0-9, `-`, `_`, `.`; starts with a letter).
    pub(crate) name: String,
    /// What the plugin builds as.
    #[arg(long, value_enum, default_value_t = Kind::Wasm)]
    pub(crate) kind: Kind,
    /// The folder to create it in (default: the current one).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Depend on a local wasp-sdk checkout (the `sdk/` folder of wasp)
    /// instead of the published crate of this release.
    #[arg(long, value_name = "DIR")]
    pub(crate) sdk_path: Option<PathBuf>,
    /// The one-line description for plugin.toml.
    #[arg(long)]
    pub(crate) description: Option<String>,
}

/// Build a plugin for its target with size optimizations, put the file
/// where its plugin.toml's `entry` says, validate it, and report its size.
///
/// WASM plugins build for wasm32-unknown-unknown (wasm32-wasip1 when the
/// manifest asks for files); native and hybrid ones as this platform's
/// libraries. Exits with 1 when cargo or validation fails, 2 when the crate
/// has no plugin.toml.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The plugin crate (holding plugin.toml and Cargo.toml).
    #[arg(default_value = ".")]
    pub(crate) crate_dir: PathBuf,
    /// Force the WebAssembly target.
    #[arg(long, value_enum)]
    pub(crate) target: Option<WasmTarget>,
    /// Keep debug info (for readable backtraces and debuggers).
    #[arg(long)]
    pub(crate) debug: bool,
    /// Unroll loops with a run-time trip count N times (WebAssembly only):
    /// fewer loop back-edges, so fewer preemption checks per iteration.
    /// Measured: 2.3x faster on a tight f64 matrix product, for a slightly
    /// larger module (docs/performance.md). 8 is a good start.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=64))]
    pub(crate) unroll: Option<u32>,
    /// Cargo's target directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) target_dir: Option<PathBuf>,
}

/// Rewrite what keeps a native plugin crate from running as WebAssembly,
/// where the rewrite is mechanical; mark the rest for you.
///
/// Prints the change as a unified diff (stdout) and a summary (stderr);
/// `--apply` writes it: the sources, `src/wasp_port.rs`, `Cargo.toml`,
/// `plugin.toml` and a parity test. Exits with 0 when nothing is left to
/// decide, 1 when `// wasp port:` markers remain, 2 on error.
#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    /// The crate's directory (holding its Cargo.toml).
    pub(crate) crate_dir: PathBuf,
    /// Write the changes instead of showing them.
    #[arg(long)]
    pub(crate) apply: bool,
    /// Print the result (files with their diffs, rewrites, markers, permissions) as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Run the loader's validation on a plugin and list every problem.
///
/// Checks the manifest, then each file exactly as a host does before
/// running it: format, size, ABI version, imports, exports. A native
/// library is loaded to read its entry table, which runs its initializers.
///
/// Exits with 0 when the plugin is valid, 1 when it is not, 2 when it could
/// not be validated (a path that cannot be read, a folder with no plugin.toml).
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    pub(crate) plugin: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Show what a plugin file holds and what its manifest asks for.
///
/// Kind, size, ABI version, exports and imports of each file; name, version,
/// requested permissions and limits from the manifest (a folder's, the one
/// named, or the plugin.toml beside the file). Nothing of a WebAssembly
/// module runs; a native library is loaded to read its ABI version.
///
/// Exits with 0, 1 when its manifest is invalid, or 2 when the plugin
/// cannot be read.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    pub(crate) plugin: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Load a plugin in a one-shot host, send it one request or event, print
/// the reply.
///
/// The payload is JSON, sent as MessagePack, or raw MessagePack given in
/// hex or in a file; the reply is printed as JSON (binary as an array of
/// numbers), or as hex. --send and --publish deliver an event instead and
/// wait until the plugin has handled it. --with loads other plugins first,
/// for the plugin to talk to; --watch prints on stderr the events the
/// plugins send to the host. The plugins get none of the permissions their
/// manifests request unless granted with --grant or --grant-all.
///
/// Exits with 0 on a reply (or a handled event); 1 when a plugin is
/// refused, answers an error or faults on the event (printed as `error:
/// <code>: <message>`); 2 when the command could not run.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("message").required(true).args(["request", "send", "publish"])))]
pub(crate) struct RunArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    pub(crate) plugin: PathBuf,
    /// Send a request on TOPIC and print the reply.
    #[arg(long, value_name = "TOPIC")]
    pub(crate) request: Option<String>,
    /// Send the plugin a one-way event on TOPIC.
    #[arg(long, value_name = "TOPIC")]
    pub(crate) send: Option<String>,
    /// Publish an event on TOPIC (the plugin gets it if it subscribed).
    #[arg(long, value_name = "TOPIC")]
    pub(crate) publish: Option<String>,
    /// The payload, as JSON (a string is quoted: '"hi"').
    #[arg(value_name = "JSON", default_value = "null", allow_hyphen_values = true)]
    pub(crate) payload: String,
    /// The payload as MessagePack bytes in hex (`93010203`; spaces allowed),
    /// sent as they are.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["payload", "msgpack_file"])]
    pub(crate) msgpack_hex: Option<String>,
    /// The payload as the bytes of FILE, sent as they are (`-`: standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "payload")]
    pub(crate) msgpack_file: Option<PathBuf>,
    /// Print the reply's bytes in hex instead of as JSON.
    #[arg(long)]
    pub(crate) reply_hex: bool,
    /// Print on stderr the events the plugins send to the host or publish
    /// on topics matching PATTERN (repeatable): `echo.*`, `*`.
    #[arg(long = "watch", value_name = "PATTERN")]
    pub(crate) watch: Vec<String>,
    #[command(flatten)]
    pub(crate) host: HostArgs,
}

impl RunArgs {
    /// The payload the options give: raw bytes, or JSON encoded.
    pub(crate) fn payload(&self) -> Result<Vec<u8>, CommandError> {
        if let Some(hex) = &self.msgpack_hex {
            let digits: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
            return hex::decode(&digits)
                .map_err(|e| CommandError::Usage(format!("`--msgpack-hex {hex}` is not hex: {e}")));
        }
        if let Some(path) = &self.msgpack_file {
            let read = if path.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map(|_| bytes)
            } else {
                std::fs::read(path)
            };
            return read.map_err(|source| CommandError::Io { path: path.clone(), source });
        }
        json_to_msgpack(&self.payload)
    }
}

/// Time request round trips to a plugin through a one-shot host.
///
/// Sends one warm-up request, then --requests more, --concurrency at a
/// time, and prints count, total time, mean, p50, p99 and requests per
/// second.
///
/// Exits with 0 when every request was answered, 1 when the plugin was
/// refused or some requests failed, 2 when the command could not run.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    pub(crate) plugin: PathBuf,
    /// The requests' topic.
    #[arg(long, default_value = "ping")]
    pub(crate) topic: String,
    /// The requests' payload, as JSON.
    #[arg(long, value_name = "JSON", default_value = "null", allow_hyphen_values = true)]
    pub(crate) payload: String,
    /// How many requests to time.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub(crate) requests: u64,
    /// How many requests are in flight at once.
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency: u32,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) host: HostArgs,
}

/// The one-shot host's options, shared by `run` and `bench`.
#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// Grant a permission the manifest requests (repeatable): `clock`,
    /// `publish:notes.*`.
    #[arg(long = "grant", value_name = "PERMISSION")]
    pub(crate) grants: Vec<String>,
    /// Grant every permission the manifest requests.
    #[arg(long)]
    pub(crate) grant_all: bool,
    /// How long a request may wait for its answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub(crate) timeout_ms: u64,
    /// The host's data directory (plugin storage, `$DATA` folders); without
    /// one, `storage` is unavailable.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Offer a shared library module (repeatable): a `.wasm` library, or a
    /// folder of them, for plugins whose manifest `uses` it.
    #[arg(long = "library", value_name = "FILE|DIR")]
    pub(crate) libraries: Vec<PathBuf>,
    /// Load another plugin first (repeatable), for the plugin to talk to;
    /// --grant and --grant-all apply to it too.
    #[arg(long = "with", value_name = "PLUGIN")]
    pub(crate) with: Vec<PathBuf>,
}

impl HostArgs {
    pub(crate) fn options(&self) -> RunOptions {
        RunOptions {
            grants: self.grants.clone(),
            grant_all: self.grant_all,
            timeout: Duration::from_millis(self.timeout_ms),
            data_dir: self.data_dir.clone(),
            libraries: self.libraries.clone(),
            with: self.with.clone(),
        }
    }
}

/// The name cargo passes first when it runs `cargo wasp <args>` as
/// `cargo-wasp wasp <args>`.
pub(crate) const SUBCOMMAND: &str = "wasp";

/// The arguments without the subcommand name cargo passes: `wasp` is
/// dropped only when it is exactly the first argument, so `cargo wasp new x`
/// (`cargo-wasp wasp new x`) and `cargo-wasp new x` parse alike.
pub(crate) fn without_subcommand_name(mut args: Vec<OsString>) -> Vec<OsString> {
    if args.get(1).is_some_and(|first| first == SUBCOMMAND) {
        args.remove(1);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_subcommand_name_cargo_passes_is_dropped() {
        assert_eq!(
            without_subcommand_name(args(&["cargo-wasp", "wasp", "new", "x"])),
            args(&["cargo-wasp", "new", "x"])
        );
        assert_eq!(without_subcommand_name(args(&["cargo-wasp", "new", "x"])), args(&["cargo-wasp", "new", "x"]));
    }

    #[test]
    fn only_a_first_argument_of_exactly_wasp_is_dropped() {
        // Only the first, and only once: `cargo wasp new wasp` names a plugin `wasp`.
        assert_eq!(
            without_subcommand_name(args(&["cargo-wasp", "wasp", "new", "wasp"])),
            args(&["cargo-wasp", "new", "wasp"])
        );
        assert_eq!(without_subcommand_name(args(&["cargo-wasp", "new", "wasp"])), args(&["cargo-wasp", "new", "wasp"]));
        assert_eq!(without_subcommand_name(args(&["cargo-wasp", "Wasp"])), args(&["cargo-wasp", "Wasp"]));
        assert_eq!(without_subcommand_name(args(&["cargo-wasp", "wasp2"])), args(&["cargo-wasp", "wasp2"]));
        assert_eq!(without_subcommand_name(args(&["cargo-wasp"])), args(&["cargo-wasp"]));
        assert_eq!(without_subcommand_name(Vec::new()), Vec::<OsString>::new());
    }

    #[test]
    fn help_and_usage_say_cargo_wasp() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        let usage = command.render_usage().to_string();
        assert!(usage.contains("cargo wasp <COMMAND>"), "{usage}");
        let new = Cli::try_parse_from(["cargo-wasp", "new", "--help"]).unwrap_err().to_string();
        assert!(new.contains("Usage: cargo wasp new [OPTIONS] <NAME>"), "{new}");
        Cli::command().debug_assert();
    }
}
