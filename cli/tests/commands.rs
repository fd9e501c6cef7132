//! The plugin commands (`validate`, `inspect`, `run`, `bench`) as a user
//! runs them: the real `cargo-wasp` binary on the example plugins' bundles,
//! run directly, as cargo runs it (`cargo-wasp wasp …`), and through cargo.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use wasp_cli::scaffold::SDK_VERSION;
use wasp_protocol::ApiVersion;

/// The binary under test.
const BINARY: &str = env!("CARGO_BIN_EXE_cargo-wasp");

/// Runs `cargo-wasp` directly with `args` (as `cargo run -p wasp-cli -- <args>` does).
fn wasp<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(BINARY).args(args).output().expect("the cargo-wasp binary runs")
}

/// Runs `cargo-wasp` the way cargo runs `cargo wasp <args>`: the
/// subcommand's name first.
fn as_cargo_runs_it<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(BINARY).arg("wasp").args(args).output().expect("the cargo-wasp binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status, showing both streams when it is another.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output));
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(output)))
}

fn bundle(name: &str) -> PathBuf {
    wasp_fixtures::wasm_bundle(name)
}

/// Writes `bytes` to `name` in a fresh temporary folder.
fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    (dir, path)
}

#[test]
fn validate_accepts_a_good_bundle() {
    let output = wasp([Path::new("validate"), &bundle("echo")]);
    assert_exit(&output, 0);
    let valid = format!("plugin `echo` is valid (ABI {})", ApiVersion::CURRENT);
    assert!(stdout(&output).contains(&valid), "{}", stdout(&output));
}

#[test]
fn validate_checks_components_with_the_component_loader() {
    let output = wasp([Path::new("validate"), &wasp_fixtures::component_bundle("echo")]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("plugin `echo` is valid (ABI wasp:plugin@1.0.0)"), "{}", stdout(&output));
    let (_dir, path) = temp_file("garbage.wasm", b"\0asm\x0d\0\x01\0not a component");
    let output = wasp([Path::new("validate"), &path]);
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("is not valid WebAssembly"), "{}", stdout(&output));
}

#[test]
fn validate_refuses_a_file_that_is_not_a_plugin() {
    let (_dir, path) = temp_file("garbage.wasm", b"this is not a module");
    let output = wasp([Path::new("validate"), &path]);
    assert_exit(&output, 1);
    let text = stdout(&output);
    assert!(text.contains("magic bytes"), "{text}");
    assert!(text.contains("is invalid: 1 problem"), "{text}");
}

#[test]
fn validate_lists_every_problem_of_a_module() {
    // A forbidden import, a wasp import with the wrong signature, no ABI
    // section and none of the required functions: each is listed.
    let module = wat::parse_str(
        r#"(module
            (import "env" "steal" (func))
            (import "wasp" "log" (func (param i64)))
            (memory (export "memory") 1))"#,
    )
    .expect("valid text");
    let (_dir, path) = temp_file("bad.wasm", &module);
    let output = wasp([Path::new("validate"), &path]);
    assert_exit(&output, 1);
    let text = stdout(&output);
    for expected in [
        "import `env::steal` is not part of the wasp ABI",
        "import `wasp::log` is a function (i64), expected",
        "no `wasp:abi` custom section",
        "missing required export `wasp_alloc`",
        "missing required export `wasp_dealloc`",
        "missing required export `wasp_handle`",
        "is invalid: 6 problems",
    ] {
        assert!(text.contains(expected), "`{expected}` missing from:\n{text}");
    }

    let output = wasp([Path::new("validate"), &path, Path::new("--json")]);
    assert_exit(&output, 1);
    let report = json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(6), "{report:#}");
    assert_eq!(report["problems"][0]["file"], path.display().to_string());
}

#[test]
fn validate_and_run_refuse_a_module_over_a_limit_alike() {
    // Valid WebAssembly and a valid plugin, but its memory starts at 4 GiB:
    // a default host refuses it, so `validate` must too, naming the limit.
    let module = wat::parse_str(
        r#"(module
            (memory (export "memory") 65536)
            (func (export "wasp_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "wasp_dealloc") (param i32 i32))
            (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0)
            (@custom "wasp:abi" "1.0"))"#,
    )
    .expect("valid text");
    let (_dir, path) = temp_file("big.wasm", &module);
    let refusal = "plugin `big` is refused by the limit `max_memory`: its memory 0 starts at 65536 pages (4 GiB), \
                   over the limit of 64 MiB";
    let output = wasp([Path::new("validate"), &path]);
    assert_exit(&output, 1);
    assert!(stdout(&output).contains(refusal), "{}", stdout(&output));
    assert!(!stdout(&output).contains("not valid WebAssembly"), "{}", stdout(&output));
    let output = wasp([Path::new("run"), &path, Path::new("--request"), Path::new("ping")]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains(refusal), "{}", stderr(&output));
}

#[cfg(unix)]
#[test]
fn validate_refuses_a_fifo_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("stuck.wasm");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    let output = wasp([Path::new("validate"), &fifo]);
    assert!(stderr(&output).contains("is a FIFO (named pipe), not a regular file"), "{}", stderr(&output));
    assert_exit(&output, 1);
}

#[test]
fn validate_says_when_it_cannot_run() {
    let output = wasp(["validate", "/no/such/plugin"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).starts_with("error: cannot read `/no/such/plugin`"), "{}", stderr(&output));

    let empty = tempfile::tempdir().expect("temp dir");
    let output = wasp([Path::new("validate"), empty.path()]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("holds no plugin.toml"), "{}", stderr(&output));
}

#[test]
fn validate_checks_native_libraries_with_the_loader() {
    let output = wasp([Path::new("validate"), &wasp_fixtures::native_bundle("echo")]);
    assert_exit(&output, 0);
    let valid = format!("plugin `echo` is valid (ABI {})", ApiVersion::CURRENT);
    assert!(stdout(&output).contains(&valid), "{}", stdout(&output));

    let output = wasp([Path::new("validate"), &wasp_fixtures::native_fixture("wasp-fixture-no-entry")]);
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("missing required export `wasp_native_plugin"), "{}", stdout(&output));

    let output = wasp([Path::new("validate"), &wasp_fixtures::native_fixture("wasp-fixture-abi-next")]);
    assert_exit(&output, 1);
    let refused = format!("plugin requires ABI 2.0, host speaks {}", ApiVersion::CURRENT);
    assert!(stdout(&output).contains(&refused), "{}", stdout(&output));
}

#[test]
fn inspect_shows_echo_permissions_imports_and_abi() {
    let output = wasp([Path::new("inspect"), &bundle("echo")]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let abi = format!("ABI: {}", ApiVersion::CURRENT);
    for expected in [
        "echo 0.1.0 (wasm, manifest ABI 1.1)",
        "permissions (2):\n  publish:echo.seen\n  log\n",
        "limits: none requested",
        abi.as_str(),
        "wasp_handle ",
        "wasp::log ",
        "wasp::publish ",
        "memory",
    ] {
        assert!(text.contains(expected), "`{expected}` missing from:\n{text}");
    }

    let output = wasp([Path::new("inspect"), &bundle("echo"), Path::new("--json")]);
    assert_exit(&output, 0);
    let report = json(&output);
    assert_eq!(report["manifest"]["permissions"], serde_json::json!(["publish:echo.seen", "log"]));
    let file = &report["files"][0];
    assert_eq!(file["abi"], wasp_protocol::ApiVersion::CURRENT.to_string());
    let size = std::fs::metadata(bundle("echo").join("echo.wasm")).expect("echo.wasm").len();
    assert_eq!(file["size"], size);
    let imports: Vec<&str> =
        file["imports"].as_array().expect("imports").iter().filter_map(|i| i["name"].as_str()).collect();
    assert!(imports.contains(&"wasp::publish") && imports.contains(&"wasp::log"), "{imports:?}");
    let handle = file["exports"].as_array().expect("exports").iter().find(|e| e["name"] == "wasp_handle");
    assert_eq!(handle.map(|e| e["type"].clone()), Some("func (i32, i32, i64, i32, i32, i32) -> i32".into()));
}

#[test]
fn inspect_shows_requested_limits() {
    let output = wasp([Path::new("inspect"), &bundle("notes"), Path::new("--json")]);
    assert_exit(&output, 0);
    let limits = &json(&output)["manifest"]["limits"];
    assert_eq!(*limits, serde_json::json!({"storage_quota": 256 * 1024, "timers": 8}));
}

#[test]
fn run_prints_the_reply_as_json() {
    let output =
        wasp([Path::new("run"), &bundle("echo"), Path::new("--request"), Path::new("say"), Path::new("\"hi\"")]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).trim(), "\"hi\"");

    let payload = r#"{"list":[1,-2,2.5,null,true],"nested":{"k":"v"}}"#;
    let output =
        wasp([Path::new("run"), &bundle("echo"), Path::new("--request"), Path::new("say"), Path::new(payload)]);
    assert_exit(&output, 0);
    assert_eq!(json(&output), serde_json::from_str::<Value>(payload).expect("JSON"));
}

#[test]
fn run_offers_the_libraries_it_is_given() {
    let jsonpack = bundle("jsonpack");
    let ask =
        [Path::new("run"), &jsonpack, Path::new("--request"), Path::new("pack"), Path::new(r#""[1, {\"a\": 2}]""#)];
    let output = wasp(ask);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("error: not_found: plugin `jsonpack` uses the library `json@1`, which this host"), "{err}");

    let library = wasp_fixtures::wasm_library("json");
    let mut args: Vec<&Path> = ask.to_vec();
    args.extend([Path::new("--library"), &library]);
    let output = wasp(args);
    assert_exit(&output, 0);
    assert_eq!(json(&output), serde_json::json!([1, {"a": 2}]));
}

#[test]
fn run_grants_nothing_unless_asked() {
    let notes = bundle("notes");
    let output = wasp([Path::new("run"), &notes, Path::new("--request"), Path::new("now")]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("error: permission_denied: "), "{err}");
    assert!(err.contains("runs without storage, timers, clock"), "{err}");
    assert!(stdout(&output).is_empty());

    for grant in [["--grant", "clock"], ["--grant-all", "--timeout-ms=5000"]] {
        let mut args = vec!["run".into(), notes.clone().into_os_string(), "--request".into(), "now".into()];
        args.extend(grant.iter().map(Into::into));
        let output = wasp(&args);
        assert_exit(&output, 0);
        assert!(json(&output)["unix_nanos"].as_u64().is_some_and(|n| n > 0), "{}", stdout(&output));
    }
}

#[test]
fn run_reports_errors_with_their_code() {
    let spinner = bundle("spinner");
    let output = wasp([
        OsStr::new("run"),
        spinner.as_os_str(),
        OsStr::new("--request"),
        OsStr::new("spin"),
        OsStr::new("--timeout-ms"),
        OsStr::new("200"),
    ]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("error: timeout: no answer from `spinner` within 200 ms"), "{}", stderr(&output));

    let output = wasp([OsStr::new("run"), spinner.as_os_str(), OsStr::new("--request"), OsStr::new("nope")]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("error: not_found: spinner has no topic `nope`"), "{}", stderr(&output));

    let output = wasp([Path::new("run"), &bundle("echo"), Path::new("--request"), Path::new("say"), Path::new("hi")]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is not JSON"), "{}", stderr(&output));

    let output = wasp([Path::new("run"), &bundle("faulty"), Path::new("--request"), Path::new("garbage")]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("the reply is not valid MessagePack"), "{}", stderr(&output));
}

/// `{to: "echo", topic: "ping", body: bin(msgpack "hi")}`: a relay `Forward`.
const FORWARD_TO_ECHO: &str = "83 a2746f a46563686f a5746f706963 a470696e67 a4626f6479 c403 a26869";

#[test]
fn run_sends_raw_msgpack_and_prints_the_reply_in_hex() {
    let echo = bundle("echo");
    let run = |extra: &[&OsStr]| {
        let mut args = vec![OsStr::new("run"), echo.as_os_str(), OsStr::new("--request"), OsStr::new("say")];
        args.extend_from_slice(extra);
        wasp(args)
    };
    let output = run(&[OsStr::new("--msgpack-hex"), OsStr::new("93 01 02 03")]);
    assert_exit(&output, 0);
    assert_eq!(json(&output), serde_json::json!([1, 2, 3]));
    let output = run(&[OsStr::new("--msgpack-hex"), OsStr::new("93010203"), OsStr::new("--reply-hex")]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "93010203\n");
    // Bytes that are not MessagePack travel as they are; the reply in hex shows them.
    let (_dir, path) = temp_file("payload.bin", &[0xc1, 0xff]);
    let output = run(&[OsStr::new("--msgpack-file"), path.as_os_str(), OsStr::new("--reply-hex")]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "c1ff\n");

    let output = run(&[OsStr::new("--msgpack-hex"), OsStr::new("9g")]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("`--msgpack-hex 9g` is not hex"), "{}", stderr(&output));
    let output = run(&[OsStr::new("--msgpack-hex"), OsStr::new("c0"), OsStr::new("null")]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("cannot be used with"), "{}", stderr(&output));
}

#[test]
fn run_with_loads_the_plugins_the_plugin_talks_to() {
    let relay = bundle("relay");
    let ask = |with: &[&OsStr]| {
        let mut args = vec![
            OsStr::new("run"),
            relay.as_os_str(),
            OsStr::new("--request"),
            OsStr::new("forward"),
            OsStr::new("--msgpack-hex"),
            OsStr::new(FORWARD_TO_ECHO),
            OsStr::new("--grant-all"),
        ];
        args.extend_from_slice(with);
        wasp(args)
    };
    let output = ask(&[]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("error: not_found: "), "{}", stderr(&output));
    let echo = bundle("echo");
    let output = ask(&[OsStr::new("--with"), echo.as_os_str()]);
    assert_exit(&output, 0);
    assert_eq!(json(&output), serde_json::json!("hi"));
}

/// A bundle whose plugin subscribes to `news.*` in `wasp_load` and sends
/// every event on to `host` as `heard`, with the event's payload.
fn listener_bundle() -> tempfile::TempDir {
    let module = wat::parse_str(
        r#"(module
            (import "wasp" "subscribe" (func $subscribe (param i32 i32) (result i32)))
            (import "wasp" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 2)
            (data (i32.const 0) "host")
            (data (i32.const 16) "news.*")
            (data (i32.const 32) "heard")
            (func (export "wasp_alloc") (param i32) (result i32) (i32.const 65536))
            (func (export "wasp_dealloc") (param i32 i32))
            (func (export "wasp_load") (result i32) (call $subscribe (i32.const 16) (i32.const 6)))
            (func (export "wasp_handle") (param $ptr i32) (param $kind i32) (param $id i64)
                  (param $from_len i32) (param $topic_len i32) (param $payload_len i32) (result i32)
              (if (i32.eq (local.get $kind) (i32.const 1))
                (then (drop (call $send (i32.const 0) (i32.const 4) (i32.const 32) (i32.const 5)
                  (i32.add (local.get $ptr) (i32.add (local.get $from_len) (local.get $topic_len)))
                  (local.get $payload_len)))))
              (i32.const 0))
            (@custom "wasp:abi" "1.0"))"#,
    )
    .expect("valid text");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("listener.wasm"), module).expect("write");
    let manifest = "name = \"listener\"\nversion = \"0.1.0\"\napi = \"1.0\"\nentry = \"listener.wasm\"\n\
                    permissions = [\"subscribe:news.*\", \"send:host\"]\n";
    std::fs::write(dir.path().join("plugin.toml"), manifest).expect("write");
    dir
}

#[test]
fn run_sends_and_publishes_events_and_shows_what_comes_back() {
    // `--send`: echo republishes an event it receives on `echo.seen`.
    let output = wasp([
        Path::new("run"),
        &bundle("echo"),
        Path::new("--send"),
        Path::new("note"),
        Path::new("\"hi\""),
        Path::new("--grant-all"),
        Path::new("--watch"),
        Path::new("echo.*"),
    ]);
    assert_exit(&output, 0);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(stderr(&output).contains("wasp: event `echo.seen` from `echo`: \"hi\""), "{}", stderr(&output));

    // `--publish`: a subscriber hears it; without the grant, it cannot subscribe.
    let listener = listener_bundle();
    let publish = |extra: &[&str]| {
        let mut args = vec![OsStr::new("run"), listener.path().as_os_str(), OsStr::new("--publish")];
        args.extend(["news.today", "[1,2]", "--watch", "heard"].map(OsStr::new));
        args.extend(extra.iter().map(OsStr::new));
        wasp(args)
    };
    let output = publish(&["--grant-all"]);
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("wasp: event `heard` from `listener`: [1,2]"), "{}", stderr(&output));
    let output = publish(&[]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("error: permission_denied: "), "{}", stderr(&output));

    // A fault while handling the event is the command's error.
    let output =
        wasp([Path::new("run"), &bundle("faulty"), Path::new("--send"), Path::new("panic"), Path::new("\"now\"")]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("error: plugin_crashed: ") && err.contains("boom: now"), "{err}");
}

#[test]
fn bench_prints_its_stats() {
    let output = wasp([Path::new("bench"), &bundle("echo"), Path::new("--requests"), Path::new("200")]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    for expected in ["echo `ping`, concurrency 1", "requests    200", "total ", "mean ", "p50 ", "p99 ", "requests/s "]
    {
        assert!(text.contains(expected), "`{expected}` missing from:\n{text}");
    }

    let args = ["--topic", "len", "--payload", "[1,2,3]", "-n", "100", "-c", "4", "--json"];
    let output =
        wasp([Path::new("bench"), &bundle("echo")].into_iter().map(Path::as_os_str).chain(args.map(OsStr::new)));
    assert_exit(&output, 0);
    let report = json(&output);
    assert_eq!((report["count"].as_u64(), report["errors"].as_u64()), (Some(100), Some(0)), "{report:#}");
    assert_eq!(report["concurrency"], 4);
    let (p50, p99) = (report["p50_us"].as_f64().unwrap_or(-1.0), report["p99_us"].as_f64().unwrap_or(-1.0));
    assert!(0.0 < p50 && p50 <= p99, "{report:#}");
    assert!(report["requests_per_second"].as_f64().is_some_and(|r| r > 0.0), "{report:#}");
}

#[test]
fn runs_alike_as_cargo_runs_it_and_directly() {
    let echo = bundle("echo");
    let cases: [Vec<&OsStr>; 3] = [
        vec![OsStr::new("--version")],
        vec![OsStr::new("validate"), echo.as_os_str()],
        vec![OsStr::new("validate"), echo.as_os_str(), OsStr::new("--json")],
    ];
    for args in cases {
        let direct = wasp(&args);
        let through_cargo = as_cargo_runs_it(&args);
        assert_exit(&direct, 0);
        assert_exit(&through_cargo, 0);
        assert_eq!(stdout(&direct), stdout(&through_cargo), "{args:?}");
        assert_eq!(stderr(&direct), stderr(&through_cargo), "{args:?}");
    }
    let version = stdout(&wasp(["--version"]));
    assert_eq!(version, format!("cargo-wasp {}\n", env!("CARGO_PKG_VERSION")));
    assert!(stdout(&wasp([OsStr::new("validate"), echo.as_os_str()])).contains("plugin `echo` is valid"));

    // A failure too: same status, same words.
    let direct = wasp(["validate", "/no/such/plugin"]);
    let through_cargo = as_cargo_runs_it(["validate", "/no/such/plugin"]);
    assert_exit(&direct, 2);
    assert_exit(&through_cargo, 2);
    assert_eq!(stderr(&direct), stderr(&through_cargo));

    // Only a first argument of exactly `wasp` is cargo's: elsewhere it is
    // an argument like any other.
    assert_exit(&as_cargo_runs_it(["wasp", "--version"]), 2);
    assert_exit(&wasp(["Wasp", "--version"]), 2);
}

#[test]
fn help_and_usage_say_cargo_wasp() {
    for output in [wasp(["--help"]), as_cargo_runs_it(["--help"])] {
        assert_exit(&output, 0);
        let help = stdout(&output);
        assert!(help.contains("Usage: cargo wasp <COMMAND>"), "{help}");
        assert!(!help.contains("Usage: wasp"), "{help}");
    }
    for output in [wasp(["validate", "--help"]), as_cargo_runs_it(["validate", "--help"])] {
        assert_exit(&output, 0);
        assert!(stdout(&output).contains("Usage: cargo wasp validate [OPTIONS] <PLUGIN>"), "{}", stdout(&output));
    }
    // A usage error says how to run it too, and exits with 2.
    let output = as_cargo_runs_it(["validate"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("Usage: cargo wasp validate"), "{}", stderr(&output));
}

#[test]
fn cargo_finds_cargo_wasp_on_the_path() {
    // `cargo wasp` runs the first `cargo-wasp` on PATH: the one just built,
    // with its folder first. `cargo test` says which cargo runs it.
    let folder = Path::new(BINARY).parent().expect("the binary's folder");
    let path = std::env::join_paths(
        std::iter::once(folder.to_owned()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH can hold the folder");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo).arg("wasp").arg("--version").env("PATH", path).output().expect("cargo runs");
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("cargo-wasp {}\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(stdout(&output), stdout(&wasp(["--version"])));
}

#[test]
fn every_command_has_help() {
    for command in ["analyze", "validate", "inspect", "run", "bench"] {
        let output = wasp([command, "--help"]);
        assert_exit(&output, 0);
        assert!(stdout(&output).contains(&format!("Usage: cargo wasp {command}")), "{}", stdout(&output));
    }
    let output = wasp(["run", "--help"]);
    for flag in [
        "--request <TOPIC>",
        "--send <TOPIC>",
        "--publish <TOPIC>",
        "--msgpack-hex <HEX>",
        "--msgpack-file <FILE>",
        "--reply-hex",
        "--watch <PATTERN>",
        "--with <PLUGIN>",
        "--grant <PERMISSION>",
        "--grant-all",
        "--timeout-ms <MS>",
    ] {
        assert!(stdout(&output).contains(flag), "`{flag}` missing from:\n{}", stdout(&output));
    }
}

/// A plugin author's first minutes, with the binary alone: `new`, `build`,
/// `validate`, `run`.
#[test]
fn new_build_validate_and_run_a_fresh_plugin() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let made = wasp(["new", "hello-cli", "--dir"].map(OsStr::new).into_iter().chain([
        dir.path().as_os_str(),
        OsStr::new("--sdk-path"),
        root.join("sdk").as_os_str(),
    ]));
    assert_exit(&made, 0);
    assert!(stdout(&made).contains("created wasm plugin `hello-cli`"), "{}", stdout(&made));
    let crate_dir = dir.path().join("hello-cli");
    // The workspace's lock keeps the dependency versions the tests were built with.
    std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    let built = wasp([
        OsStr::new("build"),
        crate_dir.as_os_str(),
        OsStr::new("--target-dir"),
        root.join("target/wasp-cli-tests").as_os_str(),
    ]);
    assert_exit(&built, 0);
    assert!(stdout(&built).contains("KiB"), "the size is reported: {}", stdout(&built));
    assert!(crate_dir.join("hello-cli.wasm").is_file() || crate_dir.join("hello_cli.wasm").is_file());

    assert_exit(&wasp([OsStr::new("validate"), crate_dir.as_os_str()]), 0);
    let pong = wasp([OsStr::new("run"), crate_dir.as_os_str(), OsStr::new("--request"), OsStr::new("ping")]);
    assert_exit(&pong, 0);
    assert_eq!(stdout(&pong).trim(), "\"pong\"");

    // Built again with loops unrolled: still a valid plugin that answers.
    let unrolled = wasp([
        OsStr::new("build"),
        crate_dir.as_os_str(),
        OsStr::new("--unroll"),
        OsStr::new("8"),
        OsStr::new("--target-dir"),
        root.join("target/wasp-cli-tests").as_os_str(),
    ]);
    assert_exit(&unrolled, 0);
    let pong = wasp([OsStr::new("run"), crate_dir.as_os_str(), OsStr::new("--request"), OsStr::new("ping")]);
    assert_exit(&pong, 0);
    assert_eq!(stdout(&pong).trim(), "\"pong\"");
    assert_exit(&wasp([OsStr::new("build"), crate_dir.as_os_str(), OsStr::new("--unroll"), OsStr::new("1")]), 2);

    // A second `new` into the same place is refused, and says why.
    let again = wasp(["new", "hello-cli", "--dir"].map(OsStr::new).into_iter().chain([dir.path().as_os_str()]));
    assert_exit(&again, 2);
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    assert_exit(&wasp(["build", "/nonexistent-wasp-crate"]), 2);
    for command in ["new", "build"] {
        assert_exit(&wasp([command, "--help"]), 0);
    }
    // Without --sdk-path the crate depends on the published SDK of this
    // release, even for a `cargo wasp` built from a checkout.
    let default = wasp(["new", "plain", "--dir"].map(OsStr::new).into_iter().chain([dir.path().as_os_str()]));
    assert_exit(&default, 0);
    let manifest = std::fs::read_to_string(dir.path().join("plain/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("\nwasp-sdk = \"{SDK_VERSION}\"\n")), "{manifest}");
    assert!(!manifest.contains("path ="), "{manifest}");
}
