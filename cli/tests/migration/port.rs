//! `cargo wasp port` end to end: on `examples/migration/legacy` it makes a crate
//! that builds for WebAssembly and answers like the legacy native library,
//! and on four crates written the native way it makes the change checked
//! in beside each (`tests/fixtures/port/<crate>.diff`); the ported
//! `weather` (reqwest's blocking client and rand's generators) builds for
//! WebAssembly too.
//!
//! Set `WASP_BLESS=1` to write the expected files from what the port does now.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use wasp_testing::{Form, Parity, Script, Step, Subject};

#[path = "legacy_script.rs"]
mod legacy_script;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/port")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `actual` equals the file `expected`, or (with `WASP_BLESS=1`) becomes it.
fn same_as_file(actual: &str, expected: &Path) {
    if std::env::var_os("WASP_BLESS").is_some() {
        std::fs::write(expected, actual).unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
        return;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
    assert!(
        actual == want,
        "{} differs from what `cargo wasp port` does now (WASP_BLESS=1 rewrites it):\n{actual}",
        expected.display()
    );
}

/// Runs the `cargo-wasp` binary directly.
fn wasp(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-wasp")).args(args).output().expect("cargo-wasp runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A workspace of its own for a copy of `legacy`: this workspace's
/// `[workspace.package]`, dependencies (paths made absolute), lints and
/// lock file, so the copy builds offline as the original does, plus a
/// crate holding every part `cargo wasp port` can write, so they all build too.
fn legacy_workspace(root: &Path) -> PathBuf {
    offline_workspace(root, &["legacy", "shim-check"]);
    copy_dir(&workspace().join("examples/migration/legacy"), &root.join("legacy"));
    let check = root.join("shim-check");
    std::fs::create_dir_all(check.join("src")).expect("mkdir");
    std::fs::write(
        check.join("Cargo.toml"),
        "[package]\nname = \"shim-check\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nwasp-sdk.workspace = true\nserde.workspace = true\nserde_json.workspace = true\n",
    )
    .expect("write");
    std::fs::write(check.join("src/lib.rs"), "//! Every part of `src/wasp_port.rs`.\nmod wasp_port;\n").expect("write");
    std::fs::write(check.join("src/wasp_port.rs"), wasp_cli::port::every_part()).expect("write");
    root.join("legacy")
}

/// This workspace's manifest with `members`, at `root`, and its lock file,
/// so crates there build offline with the crates this workspace has.
fn offline_workspace(root: &Path, members: &[&str]) {
    let text = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("the workspace manifest");
    let mut doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
    let ws = doc["workspace"].as_table_mut().expect("[workspace]");
    ws.remove("exclude");
    ws.insert("members", toml_edit::value(members.iter().copied().collect::<toml_edit::Array>()));
    let deps = ws["dependencies"].as_table_mut().expect("[workspace.dependencies]");
    let keys: Vec<String> = deps.iter().map(|(k, _)| k.to_owned()).collect();
    let base = std::fs::canonicalize(workspace()).expect("the workspace");
    for key in keys {
        if let Some(path) = deps[&key].get("path").and_then(|p| p.as_str()).map(str::to_owned) {
            deps[&key]["path"] = toml_edit::value(base.join(path).display().to_string());
        }
    }
    std::fs::write(root.join("Cargo.toml"), doc.to_string()).expect("write");
    std::fs::copy(workspace().join("Cargo.lock"), root.join("Cargo.lock")).expect("lock file");
}

/// Each dependency of the crate at `dir` that the workspace has becomes
/// `workspace = true` (keeping its features), as a crate of this workspace
/// would say it: the registry is not there offline.
fn inherit_dependencies(dir: &Path) {
    let path = dir.join("Cargo.toml");
    let mut doc: toml_edit::DocumentMut =
        std::fs::read_to_string(&path).expect("the manifest").parse().expect("valid TOML");
    for table in ["dependencies", "dev-dependencies"] {
        let Some(deps) = doc.get_mut(table).and_then(toml_edit::Item::as_table_like_mut) else { continue };
        let names: Vec<String> = deps.iter().map(|(k, _)| k.to_owned()).collect();
        for name in names {
            let features = deps.get(&name).and_then(|d| d.get("features")).cloned();
            let mut inherited = toml_edit::InlineTable::new();
            inherited.insert("workspace", true.into());
            if let Some(toml_edit::Item::Value(features)) = features {
                inherited.insert("features", features);
            }
            deps.insert(&name, toml_edit::Item::Value(inherited.into()));
        }
    }
    doc.remove("dev-dependencies");
    std::fs::write(&path, doc.to_string()).expect("write");
}

#[derive(Serialize)]
struct NewBookmark {
    title: String,
    url: String,
}

fn new(title: &str, url: &str) -> NewBookmark {
    NewBookmark { title: title.into(), url: url.into() }
}

/// The script of `testing/tests/parity/migration.rs`: everything but
/// `fetch` (the network) and `open` (a browser before, the app now).
fn migration_script() -> Script {
    Script::new()
        .step(Step::request("count", &()))
        .step(Step::request("add", &new("wasp", "https://example.com/wasp")))
        .step(Step::request("add", &new("docs", "https://example.com/docs")))
        .step(Step::request("add", &new("abi", "https://example.com/abi")))
        .step(Step::request("remove", &2u64))
        .step(Step::request("remove", &2u64))
        .step(Step::request("get", &2u64))
        .step(Step::request("add", &new("", "https://example.com")))
        .step(Step::request("add", &new("bell\u{7}", "https://example.com")))
        .step(Step::request("add", &new("four", "https://example.com/4")))
        .step(Step::request("get", &3u64))
        .step(Step::request("list", &()))
        .step(Step::request("count", &()))
        .step(Step::request("backup", &()))
        .step(Step::request("nope", &()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ported_legacy_builds_for_wasm_and_answers_like_the_native_one() {
    let root = tempfile::tempdir().expect("temp dir");
    let crate_dir = legacy_workspace(root.path());
    let dir = crate_dir.to_str().expect("a UTF-8 path");

    // Shown first: the diff checked in, and what is left for the author.
    let (code, diff, summary) = wasp(&["port", dir]);
    assert_eq!(code, 0, "nothing in legacy needs a decision:\n{summary}");
    same_as_file(&diff, &fixtures().join("legacy.diff"));
    assert!(summary.contains("builds for wasm32-wasip1"), "{summary}");

    // Applied: no marker is left, and the parity script is the one this test runs.
    let (code, applied, _) = wasp(&["port", dir, "--apply"]);
    assert_eq!(code, 0, "{applied}");
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).expect("the ported source");
    assert!(!lib.contains("// wasp port:"), "{lib}");
    let script = std::fs::read_to_string(crate_dir.join("tests/parity/script.rs")).expect("the scaffolded script");
    same_as_file(&script, &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migration/legacy_script.rs"));

    // It builds for the target the port chose (with every part of the port's module, for the record).
    let target_dir = wasp_fixtures::target_dir();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root.path())
        .args(["build", "--release", "--target", "wasm32-wasip1", "-p", "wasp-example-legacy", "-p", "shim-check"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", wasp_fixtures::WASM_RUSTFLAGS)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the ported legacy builds for wasm32-wasip1");

    // The WASM bundle: the port's plugin.toml and the module it names.
    let bundle = root.path().join("bundle");
    std::fs::create_dir_all(&bundle).expect("mkdir");
    std::fs::copy(crate_dir.join("plugin.toml"), bundle.join("plugin.toml")).expect("manifest");
    let wasm = target_dir.join("wasm32-wasip1/release/wasp_example_legacy.wasm");
    std::fs::copy(&wasm, bundle.join(format!("{}.wasm", legacy_script::NAME))).expect("module");

    for script in [legacy_script::script(), migration_script()] {
        let subject = Subject::new(legacy_script::NAME).native(wasp_fixtures::migration_bundle("legacy")).wasm(&bundle);
        let report = Parity::new(subject)
            .forms(&[Form::Native, Form::Wasm])
            .run(&script)
            .await
            .expect("the parity run completes");
        println!("{report}");
        report.assert_same();
    }
}

#[test]
fn native_crates_are_ported_as_checked_in() {
    for name in ["todo-json", "feed-reader", "clipboard-history", "weather"] {
        let port = wasp_cli::port::port(&fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        same_as_file(&port.diff(), &fixtures().join(format!("{name}.diff")));
        same_as_file(&port.to_string(), &fixtures().join(format!("{name}.summary")));
    }
}

/// The ported `weather`: reqwest's blocking client and rand's generators
/// through the host, with no decision left, and it builds for WebAssembly
/// (its native form needs reqwest and rand, which do not).
#[test]
fn the_ported_weather_builds_for_wasm() {
    let root = tempfile::tempdir().expect("temp dir");
    offline_workspace(root.path(), &["weather"]);
    let crate_dir = root.path().join("weather");
    copy_dir(&fixtures().join("weather"), &crate_dir);
    let (code, summary, err) = wasp(&["port", crate_dir.to_str().expect("a UTF-8 path"), "--apply"]);
    assert_eq!(code, 0, "nothing in weather needs a decision:\n{summary}{err}");
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).expect("the ported source");
    assert!(lib.contains("use crate::wasp_port::reqwest::blocking::Client;"), "{lib}");
    assert!(!lib.contains("rand::"), "{lib}");
    inherit_dependencies(&crate_dir);
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root.path())
        .args(["build", "--offline", "--release", "--target", "wasm32-unknown-unknown", "-p", "weather"])
        .env("CARGO_TARGET_DIR", wasp_fixtures::target_dir())
        .env("RUSTFLAGS", wasp_fixtures::WASM_RUSTFLAGS)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the ported weather builds for wasm32-unknown-unknown");
}

#[test]
fn port_exits_1_with_markers_and_prints_json() {
    let (code, json, _) = wasp(&["port", fixtures().join("clipboard-history").to_str().expect("utf-8"), "--json"]);
    assert_eq!(code, 1, "the clipboard is left to the author");
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["crate_name"], "clipboard-history");
    assert!(value["markers"].as_array().is_some_and(|m| !m.is_empty()), "{json}");
    assert!(value["files"].as_array().is_some_and(|f| f.iter().any(|f| f["path"] == "src/lib.rs")), "{json}");
    let (code, _, err) = wasp(&["port", "/no/such/crate"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}
