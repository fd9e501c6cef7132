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
//! `inspect`, `run`, `bench`, `analyze`, `port`); `args.rs` holds the command
//! line, and this file runs the commands and prints. Exit status: 0 success, 1 when the plugin (or crate) has a
//! problem or answered an error, 2 when the command itself could not run.

mod args;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use args::{
    BenchArgs, BuildArgs, Cli, Command, HostArgs, InspectArgs, NewArgs, PortArgs, RunArgs, ValidateArgs,
    without_subcommand_name,
};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use wasp_cli::analyze::{AnalyzeOptions, WASM_TARGET, analyze};
use wasp_cli::bench::{BenchOptions, bench};
use wasp_cli::build::{BuildOptions, build};
use wasp_cli::error::CommandError;
use wasp_cli::inspect::inspect;
use wasp_cli::run::OneShot;
use wasp_cli::scaffold::{NewOptions, new_plugin};
use wasp_cli::transcode::json_to_msgpack;
use wasp_cli::validate::validate;

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
