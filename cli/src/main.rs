//! `cargo wasp`: tools for wasp plugin authors, as a cargo subcommand.
//!
//! The binary is `cargo-wasp`; `cargo install wasp-cli` puts it beside cargo,
//! and cargo runs `cargo wasp <args>` as `cargo-wasp wasp <args>`. Run
//! directly (`cargo-wasp <args>`, or `cargo run -p wasp-cli -- <args>` in the
//! wasp repository) it takes the same arguments without the `wasp`.
//!
//! ```text
//! cargo wasp new <name> [--kind wasm|native|hybrid] [--dir <parent>] [--sdk-path <dir>]
//! cargo wasp build [<crate-dir>] [--target <triple>] [--debug] [--unroll <n>] [--target-dir <dir>]
//! cargo wasp analyze <crate-dir> [--no-check] [--json] [--target-dir <dir>]
//! cargo wasp port <crate-dir> [--apply] [--json]
//! cargo wasp validate <plugin> [--json]
//! cargo wasp inspect <plugin> [--json]
//! cargo wasp run <plugin> (--request|--send|--publish) <topic> [<json> | --msgpack-hex <hex> | --msgpack-file <file>]
//!                [--with <plugin>]… [--watch <pattern>]… [--reply-hex] [--grant <perm>]… [--grant-all] [--timeout-ms <ms>]
//! cargo wasp bench <plugin> [--topic <t>] [--payload <json>] [--requests <n>] [--concurrency <c>] [--json]
//! ```
//!
//! A `<plugin>` is a plugin folder, its `plugin.toml`, a `.wasm` file or a
//! native library. The work is done by the library (`wasp_cli::validate`,
//! `inspect`, `run`, `bench`, `analyze`, `port`); this file parses arguments and
//! prints. Exit status: 0 success, 1 when the plugin (or crate) has a
//! problem or answered an error, 2 when the command itself could not run.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use wasp_cli::analyze::{AnalyzeOptions, WASM_TARGET, analyze};
use wasp_cli::bench::{BenchOptions, bench};
use wasp_cli::build::{BuildOptions, WasmTarget, build};
use wasp_cli::error::CommandError;
use wasp_cli::inspect::inspect;
use wasp_cli::run::{OneShot, RunOptions};
use wasp_cli::scaffold::{Kind, NewOptions, new_plugin};
use wasp_cli::transcode::json_to_msgpack;
use wasp_cli::validate::validate;

/// Tools for wasp plugin authors.
#[derive(Debug, Parser)]
#[command(name = "cargo-wasp", bin_name = "cargo wasp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
struct NewArgs {
    /// The plugin's name: its address (a-z, 0-9, `-`, `_`, `.`; starts with a letter).
    name: String,
    /// What the plugin builds as.
    #[arg(long, value_enum, default_value_t = Kind::Wasm)]
    kind: Kind,
    /// The folder to create it in (default: the current one).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Depend on a local wasp-sdk checkout (the `sdk/` folder of wasp)
    /// instead of the published crate of this release.
    #[arg(long, value_name = "DIR")]
    sdk_path: Option<PathBuf>,
    /// The one-line description for plugin.toml.
    #[arg(long)]
    description: Option<String>,
}

/// Build a plugin for its target with size optimizations, put the file
/// where its plugin.toml's `entry` says, validate it, and report its size.
///
/// WASM plugins build for wasm32-unknown-unknown (wasm32-wasip1 when the
/// manifest asks for files); native and hybrid ones as this platform's
/// libraries. Exits with 1 when cargo or validation fails, 2 when the crate
/// has no plugin.toml.
#[derive(Debug, Args)]
struct BuildArgs {
    /// The plugin crate (holding plugin.toml and Cargo.toml).
    #[arg(default_value = ".")]
    crate_dir: PathBuf,
    /// Force the WebAssembly target.
    #[arg(long, value_enum)]
    target: Option<WasmTarget>,
    /// Keep debug info (for readable backtraces and debuggers).
    #[arg(long)]
    debug: bool,
    /// Unroll loops with a run-time trip count N times (WebAssembly only):
    /// fewer loop back-edges, so fewer preemption checks per iteration.
    /// Measured: 2.3x faster on a tight f64 matrix product, for a slightly
    /// larger module (docs/performance.md). 8 is a good start.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=64))]
    unroll: Option<u32>,
    /// Cargo's target directory.
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

/// Rewrite what keeps a native plugin crate from running as WebAssembly,
/// where the rewrite is mechanical; mark the rest for you.
///
/// Prints the change as a unified diff (stdout) and a summary (stderr);
/// `--apply` writes it: the sources, `src/wasp_port.rs`, `Cargo.toml`,
/// `plugin.toml` and a parity test. Exits with 0 when nothing is left to
/// decide, 1 when `// wasp port:` markers remain, 2 on error.
#[derive(Debug, Args)]
struct PortArgs {
    /// The crate's directory (holding its Cargo.toml).
    crate_dir: PathBuf,
    /// Write the changes instead of showing them.
    #[arg(long)]
    apply: bool,
    /// Print the result (files with their diffs, rewrites, markers, permissions) as JSON.
    #[arg(long)]
    json: bool,
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
struct ValidateArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    plugin: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
struct InspectArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    plugin: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
struct RunArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    plugin: PathBuf,
    /// Send a request on TOPIC and print the reply.
    #[arg(long, value_name = "TOPIC")]
    request: Option<String>,
    /// Send the plugin a one-way event on TOPIC.
    #[arg(long, value_name = "TOPIC")]
    send: Option<String>,
    /// Publish an event on TOPIC (the plugin gets it if it subscribed).
    #[arg(long, value_name = "TOPIC")]
    publish: Option<String>,
    /// The payload, as JSON (a string is quoted: '"hi"').
    #[arg(value_name = "JSON", default_value = "null", allow_hyphen_values = true)]
    payload: String,
    /// The payload as MessagePack bytes in hex (`93010203`; spaces allowed),
    /// sent as they are.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["payload", "msgpack_file"])]
    msgpack_hex: Option<String>,
    /// The payload as the bytes of FILE, sent as they are (`-`: standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "payload")]
    msgpack_file: Option<PathBuf>,
    /// Print the reply's bytes in hex instead of as JSON.
    #[arg(long)]
    reply_hex: bool,
    /// Print on stderr the events the plugins send to the host or publish
    /// on topics matching PATTERN (repeatable): `echo.*`, `*`.
    #[arg(long = "watch", value_name = "PATTERN")]
    watch: Vec<String>,
    #[command(flatten)]
    host: HostArgs,
}

impl RunArgs {
    /// The payload the options give: raw bytes, or JSON encoded.
    fn payload(&self) -> Result<Vec<u8>, CommandError> {
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
struct BenchArgs {
    /// A plugin folder, its plugin.toml, a .wasm file or a native library.
    plugin: PathBuf,
    /// The requests' topic.
    #[arg(long, default_value = "ping")]
    topic: String,
    /// The requests' payload, as JSON.
    #[arg(long, value_name = "JSON", default_value = "null", allow_hyphen_values = true)]
    payload: String,
    /// How many requests to time.
    #[arg(long, short = 'n', default_value_t = 1000)]
    requests: u64,
    /// How many requests are in flight at once.
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    host: HostArgs,
}

/// The one-shot host's options, shared by `run` and `bench`.
#[derive(Debug, Args)]
struct HostArgs {
    /// Grant a permission the manifest requests (repeatable): `clock`,
    /// `publish:notes.*`.
    #[arg(long = "grant", value_name = "PERMISSION")]
    grants: Vec<String>,
    /// Grant every permission the manifest requests.
    #[arg(long)]
    grant_all: bool,
    /// How long a request may wait for its answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    timeout_ms: u64,
    /// The host's data directory (plugin storage, `$DATA` folders); without
    /// one, `storage` is unavailable.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Offer a shared library module (repeatable): a `.wasm` library, or a
    /// folder of them, for plugins whose manifest `uses` it.
    #[arg(long = "library", value_name = "FILE|DIR")]
    libraries: Vec<PathBuf>,
    /// Load another plugin first (repeatable), for the plugin to talk to;
    /// --grant and --grant-all apply to it too.
    #[arg(long = "with", value_name = "PLUGIN")]
    with: Vec<PathBuf>,
}

impl HostArgs {
    fn options(&self) -> RunOptions {
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
const SUBCOMMAND: &str = "wasp";

/// The arguments without the subcommand name cargo passes: `wasp` is
/// dropped only when it is exactly the first argument, so `cargo wasp new x`
/// (`cargo-wasp wasp new x`) and `cargo-wasp new x` parse alike.
fn without_subcommand_name(mut args: Vec<OsString>) -> Vec<OsString> {
    if args.get(1).is_some_and(|first| first == SUBCOMMAND) {
        args.remove(1);
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(without_subcommand_name(std::env::args_os().collect()));
    match cli.command {
        Command::New(args) => new_command(&args),
        Command::Build(args) => build_command(&args),
        Command::Analyze { crate_dir, no_check, json, target_dir } => {
            analyze_command(&crate_dir, no_check, json, target_dir)
        }
        Command::Port(args) => port_command(&args),
        Command::Validate(args) => validate_command(&args),
        Command::Inspect(args) => inspect_command(&args),
        Command::Run(args) => run_command(&args),
        Command::Bench(args) => bench_command(&args),
    }
}

fn new_command(args: &NewArgs) -> ExitCode {
    let mut options = NewOptions::default();
    options.sdk_path.clone_from(&args.sdk_path);
    options.description.clone_from(&args.description);
    match new_plugin(&args.dir, &args.name, args.kind, &options) {
        Ok(made) => {
            let mut text = format!("created {} plugin `{}` in {}\n", made.kind, made.name, made.dir.display());
            for file in &made.files {
                text.push_str(&format!("  {}\n", file.display()));
            }
            text.push_str(&format!("next: cd {} && cargo wasp build && cargo test\n", made.dir.display()));
            match out(&text) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn build_command(args: &BuildArgs) -> ExitCode {
    let mut options = BuildOptions::default();
    options.target = args.target;
    options.debug = args.debug;
    options.unroll = args.unroll;
    options.target_dir.clone_from(&args.target_dir);
    match build(&args.crate_dir, &options) {
        Ok(artifact) => match out(&artifact.to_string()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(e @ wasp_cli::build::BuildError::NoManifest(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn analyze_command(crate_dir: &Path, no_check: bool, json: bool, target_dir: Option<PathBuf>) -> ExitCode {
    if !no_check {
        eprintln!("wasp: checking {} for {WASM_TARGET}…", crate_dir.display());
    }
    let options = AnalyzeOptions { cargo_check: !no_check, target_dir };
    let report = match analyze(crate_dir, &options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(code) = show(&report, json) {
        return code;
    }
    if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn port_command(args: &PortArgs) -> ExitCode {
    let port = match wasp_cli::port::port(&args.crate_dir) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.apply
        && let Err(e) = port.apply()
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let shown = if args.json {
        print_json(&port)
    } else if args.apply {
        out(&port.to_string())
    } else {
        eprint!("{port}");
        out(&port.diff())
    };
    if let Err(code) = shown {
        return code;
    }
    if port.needs_decisions() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn validate_command(args: &ValidateArgs) -> ExitCode {
    let validation = match with_spinner(format!("validating {}", args.plugin.display()), || validate(&args.plugin)) {
        Ok(validation) => validation,
        Err(e) => return fail(&e),
    };
    if let Err(code) = show(&validation, args.json) {
        return code;
    }
    if validation.is_valid() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn inspect_command(args: &InspectArgs) -> ExitCode {
    let inspection = match with_spinner(format!("reading {}", args.plugin.display()), || inspect(&args.plugin)) {
        Ok(inspection) => inspection,
        Err(e) => return fail(&e),
    };
    if let Err(code) = show(&inspection, args.json) {
        return code;
    }
    ExitCode::SUCCESS
}

fn run_command(args: &RunArgs) -> ExitCode {
    let payload = match args.payload() {
        Ok(payload) => payload,
        Err(e) => return fail(&e),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let mut target = match start(&runtime, &args.plugin, &args.host) {
        Ok(target) => target,
        Err(code) => return code,
    };
    for pattern in &args.watch {
        if let Err(e) = target.watch(pattern) {
            runtime.block_on(target.shutdown());
            return fail(&e);
        }
    }
    let (result, outcome) = runtime.block_on(async {
        let result = match (&args.request, &args.send, &args.publish) {
            (Some(topic), _, _) => target.request(topic, payload).await.map(Some),
            (_, Some(topic), _) => target.send(topic, payload).map(|()| None),
            (_, _, Some(topic)) => target.publish(topic, payload).map(|()| None),
            (None, None, None) => Err(CommandError::Usage("nothing to send".into())),
        };
        (result, target.finish().await)
    });
    for event in &outcome.events {
        let payload = match wasp_cli::transcode::msgpack_to_json(&event.payload) {
            Ok(Some(json)) => json.to_string(),
            Ok(None) => "(empty)".into(),
            Err(_) => format!("(not MessagePack) {}", hex::encode(&event.payload)),
        };
        eprintln!("wasp: event `{}` from `{}`: {payload}", event.topic, event.from);
    }
    match result {
        Err(e) => fail(&e),
        Ok(Some(reply)) => print_reply(&reply, args.reply_hex),
        Ok(None) => match outcome.faults.last() {
            // The fault the event caused; the request-less way to see it.
            Some(fault) => fail(&CommandError::Request(fault.clone())),
            None => ExitCode::SUCCESS,
        },
    }
}

/// Prints a reply as JSON, or its bytes in hex.
fn print_reply(reply: &[u8], hex: bool) -> ExitCode {
    if hex {
        return match out(&format!("{}\n", hex::encode(reply))) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        };
    }
    match wasp_cli::transcode::msgpack_to_json(reply) {
        Ok(Some(json)) => match print_json(&json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Ok(None) => {
            eprintln!("wasp: the reply is empty");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn bench_command(args: &BenchArgs) -> ExitCode {
    let (payload, runtime, target) = match prepare(&args.payload, &args.plugin, &args.host) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let options = BenchOptions {
        topic: args.topic.clone(),
        payload,
        requests: args.requests,
        concurrency: args.concurrency as usize,
    };
    let bar = ProgressBar::new(args.requests);
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar.set_message(format!("{} `{}`", target.plugin().name(), args.topic));
    let ticker = bar.clone();
    let report = runtime.block_on(async {
        let report = bench(&target, &options, move || ticker.inc(1)).await;
        target.shutdown().await;
        report
    });
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    if args.json {
        if let Err(code) = print_json(&report) {
            return code;
        }
    } else if let Err(code) = out(&report.to_string()) {
        return code;
    }
    if report.errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// What `run` and `bench` need before their first request: the payload as
/// MessagePack, a runtime, and the plugin loaded in a one-shot host.
fn prepare(
    payload: &str,
    plugin: &Path,
    host: &HostArgs,
) -> Result<(Vec<u8>, tokio::runtime::Runtime, OneShot), ExitCode> {
    let payload = json_to_msgpack(payload).map_err(|e| fail(&e))?;
    let runtime = runtime()?;
    let target = start(&runtime, plugin, host)?;
    Ok((payload, runtime, target))
}

/// Starts the one-shot host with the plugin (and the `--with` ones), and
/// says on stderr what each was not granted.
fn start(runtime: &tokio::runtime::Runtime, plugin: &Path, host: &HostArgs) -> Result<OneShot, ExitCode> {
    let options = host.options();
    let target =
        with_spinner(format!("loading {}", plugin.display()), || runtime.block_on(OneShot::start(plugin, &options)))
            .map_err(|e| fail(&e))?;
    let loaded = target.plugin();
    for unused in target.unused_grants() {
        match target.with() {
            [] => eprintln!("wasp: warning: `{}` does not request `{unused}`, so it is not granted", loaded.name()),
            _ => eprintln!("wasp: warning: no plugin requests `{unused}`, so it is not granted"),
        }
    }
    for loaded in target.with().iter().chain([loaded]) {
        if !loaded.refused().is_empty() {
            let refused: Vec<String> = loaded.refused().iter().map(ToString::to_string).collect();
            eprintln!(
                "wasp: `{}` runs without {} (grant with --grant <permission> or --grant-all)",
                loaded.name(),
                refused.join(", ")
            );
        }
    }
    Ok(target)
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(2)
    })
}

/// Prints `error: <code>: <message>` (or `error: <message>` when there is
/// no code) and returns the error's exit status.
fn fail(e: &CommandError) -> ExitCode {
    match e.code() {
        Some(code) => eprintln!("error: {code}: {e}"),
        None => eprintln!("error: {e}"),
    }
    ExitCode::from(e.exit_code())
}

/// Prints a result as JSON or as text.
fn show<T: Serialize + std::fmt::Display>(value: &T, json: bool) -> Result<(), ExitCode> {
    if json { print_json(value) } else { out(&value.to_string()) }
}

fn print_json<T: Serialize>(value: &T) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => out(&(text + "\n")),
        Err(e) => {
            eprintln!("error: cannot write the result as JSON: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Writes `text` to stdout. A reader that went away (`cargo wasp inspect …
/// | head`) is not an error.
fn out(text: &str) -> Result<(), ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write the result: {e}");
            Err(ExitCode::from(2))
        }
        _ => Ok(()),
    }
}

/// Runs `work`, showing a spinner on stderr (when it is a terminal) if it
/// takes more than a second.
fn with_spinner<T>(message: String, work: impl FnOnce() -> T) -> T {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if finished.recv_timeout(Duration::from_secs(1)) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            let spinner = ProgressBar::new_spinner().with_message(format!("{message}…"));
            spinner.enable_steady_tick(Duration::from_millis(100));
            let _ = finished.recv();
            spinner.finish_and_clear();
        });
        let out = work();
        drop(done);
        out
    })
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
