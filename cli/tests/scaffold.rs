//! `cargo wasp new` and `cargo wasp build` as a library: scaffold each kind of plugin,
//! build it, load the result in a real host and send it requests.
//!
//! Every build shares one cargo target directory under the workspace's
//! `target/` (`target/wasp-cli-tests`), and every scaffolded crate gets the
//! workspace's `Cargo.lock`, so `wasp-sdk` and its dependencies compile once
//! and warm runs only link the plugins.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasp_actors::Host;
use wasp_cli::build::{BuildError, BuildOptions, WasmTarget, build};
use wasp_cli::scaffold::{Kind, NewOptions, SDK_VERSION, ScaffoldError, new_plugin};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned()
}

fn target_dir() -> PathBuf {
    repo().join("target/wasp-cli-tests")
}

fn options() -> NewOptions {
    NewOptions::with_sdk_path(repo().join("sdk"))
}

/// Scaffolds `name` in a fresh temporary folder, pinned to the workspace's
/// dependency versions.
fn scaffold(name: &str, kind: Kind) -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().expect("a temporary folder");
    let made = new_plugin(parent.path(), name, kind, &options()).expect("scaffolding");
    assert_eq!(made.dir, parent.path().join(name));
    std::fs::copy(repo().join("Cargo.lock"), made.dir.join("Cargo.lock")).expect("copying Cargo.lock");
    (parent, made.dir)
}

fn build_options() -> BuildOptions {
    let mut options = BuildOptions::default();
    options.target_dir = Some(target_dir());
    options.quiet = true;
    options
}

fn nil() -> Vec<u8> {
    rmp_serde::to_vec(&()).expect("nil")
}

async fn request_str(host: &Host, to: &str, topic: &str) -> String {
    let reply = host.request(to, topic, nil()).await.unwrap_or_else(|e| panic!("request `{topic}` to `{to}`: {e}"));
    rmp_serde::from_slice(&reply).expect("a string reply")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_plugin_builds_loads_answers_and_passes_its_own_test() {
    let (_tmp, dir) = scaffold("hello-wasm", Kind::Wasm);
    for file in ["Cargo.toml", "plugin.toml", "src/lib.rs", "tests/plugin.rs", "README.md", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("\n[workspace]\n"), "the crate stands alone:\n{cargo_toml}");
    assert!(cargo_toml.contains("crate-type = [\"cdylib\", \"rlib\"]"));

    let artifact = build(&dir, &build_options()).expect("cargo wasp build");
    assert_eq!(artifact.name, "hello-wasm");
    assert_eq!(artifact.path(), dir.join("hello-wasm.wasm"));
    assert_eq!(artifact.files[0].target, "wasm32-unknown-unknown");
    let size = std::fs::metadata(artifact.path()).unwrap().len();
    assert_eq!(artifact.size(), size);
    assert!(size > 1000 && size < 1_000_000, "a plausible size: {size}");
    assert!(artifact.to_string().contains("hello-wasm.wasm"), "{artifact}");

    let host = Host::builder().build().expect("a host");
    let plugin = host.load(&dir).await.expect("the built plugin loads");
    assert_eq!(plugin.kind(), "wasm");
    assert_eq!(request_str(&host, "hello-wasm", "ping").await, "pong");
    let payload = rmp_serde::to_vec(&("hi", 7)).unwrap();
    assert_eq!(host.request("hello-wasm", "echo", payload.clone()).await.unwrap(), payload);
    let error = host.request("hello-wasm", "nope", nil()).await.unwrap_err();
    assert!(error.message.contains("unknown topic `nope`"), "{error}");
    host.shutdown().await;

    // The crate's own test, as its author runs it.
    let output = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--target-dir"])
        .arg(target_dir())
        .current_dir(&dir)
        .output()
        .expect("running cargo test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the scaffolded crate's tests fail:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 passed"), "{stdout}");

    // Formatted, and clean under clippy.
    for args in [&["fmt", "--check"][..], &["clippy", "--quiet", "--all-targets", "--target-dir"][..]] {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(args).current_dir(&dir);
        if args[0] == "clippy" {
            cmd.arg(target_dir()).args(["--", "-D", "warnings"]);
        }
        let output = cmd.output().expect("running cargo");
        assert!(
            output.status.success(),
            "cargo {args:?} fails on the scaffolded crate:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_native_plugin_builds_loads_and_answers() {
    let (_tmp, dir) = scaffold("hello.native", Kind::Native);
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    assert!(manifest.contains("kind = \"native\"") && manifest.contains("entry = \"hello_native\""), "{manifest}");

    let artifact = build(&dir, &build_options()).expect("cargo wasp build");
    let file = format!("{}hello_native{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    assert_eq!(artifact.path(), dir.join(file));
    assert_eq!(artifact.files[0].target, "native");

    let host = Host::builder().build().expect("a host");
    let plugin = host.load(&dir).await.expect("the built plugin loads");
    assert_eq!(plugin.kind(), "native");
    assert_eq!(request_str(&host, "hello.native", "ping").await, "pong");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hybrid_plugin_builds_both_components_which_talk_to_each_other() {
    let (_tmp, dir) = scaffold("duo", Kind::Hybrid);
    for file in ["logic/Cargo.toml", "logic/src/lib.rs", "logic/tests/plugin.rs", "os/src/lib.rs", "os/tests/plugin.rs"]
    {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }

    let artifact = build(&dir, &build_options()).expect("cargo wasp build");
    let components: Vec<_> = artifact.files.iter().map(|f| (f.component.clone().unwrap(), f.target.clone())).collect();
    assert_eq!(components, [("logic".into(), "wasm32-unknown-unknown".into()), ("os".into(), "native".into())]);
    assert!(artifact.files.iter().all(|f| f.path.is_file() && f.size > 0));

    let host = Host::builder().build().expect("a host");
    let plugin = host.load(&dir).await.expect("the built plugin loads");
    assert_eq!(plugin.kind(), "hybrid");
    assert_eq!(request_str(&host, "duo", "ping").await, "pong");
    assert_eq!(request_str(&host, "duo.os", "ping").await, "pong");
    // The WASM logic asks the native component.
    assert_eq!(request_str(&host, "duo", "os").await, std::env::consts::OS);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_asking_for_files_builds_for_wasi() {
    let (_tmp, dir) = scaffold("filer", Kind::Wasm);
    // Files reach a WebAssembly plugin only through WASI: the permission picks the target.
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    std::fs::write(dir.join("plugin.toml"), manifest.replace("permissions = []", "permissions = [\"fs.read:$DATA\"]"))
        .unwrap();
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), cargo_toml.replace("target = \"wasm32-unknown-unknown\"\n", "")).unwrap();

    let artifact = build(&dir, &build_options()).expect("cargo wasp build");
    assert_eq!(artifact.files[0].target, "wasm32-wasip1");
    let host = Host::builder().build().expect("a host");
    host.load(&dir).await.expect("the built plugin loads");
    assert_eq!(request_str(&host, "filer", "ping").await, "pong");
    host.shutdown().await;
}

#[test]
fn names_that_cannot_name_a_plugin_or_its_crate_are_refused() {
    let parent = tempfile::tempdir().unwrap();
    for (name, says) in [
        ("Hello", "not a valid plugin name"),
        ("has space", "not a valid plugin name"),
        ("", "not a valid plugin name"),
        ("host", "not a valid plugin name"),
        (&"a".repeat(65), "not a valid plugin name"),
        ("1st", "start with a letter"),
        ("-dash", "start with a letter"),
        ("fn", "Rust keyword"),
        ("std", "standard crate"),
    ] {
        let error = new_plugin(parent.path(), name, Kind::Wasm, &options()).unwrap_err();
        assert!(matches!(error, ScaffoldError::InvalidName { .. }), "{name}: {error:?}");
        assert!(error.to_string().contains(says), "{name}: {error}");
    }
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_folder_that_holds_files_is_refused_and_an_empty_one_is_used() {
    let parent = tempfile::tempdir().unwrap();
    std::fs::create_dir(parent.path().join("taken")).unwrap();
    std::fs::write(parent.path().join("taken/notes.txt"), "mine").unwrap();
    let error = new_plugin(parent.path(), "taken", Kind::Wasm, &options()).unwrap_err();
    assert!(matches!(error, ScaffoldError::NotEmpty(_)), "{error:?}");
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(std::fs::read_to_string(parent.path().join("taken/notes.txt")).unwrap(), "mine");

    std::fs::create_dir(parent.path().join("empty")).unwrap();
    let made = new_plugin(parent.path(), "empty", Kind::Hybrid, &options()).expect("an empty folder is fine");
    assert!(made.files.contains(&PathBuf::from("logic/src/lib.rs")));
    let error = new_plugin(parent.path(), "empty", Kind::Hybrid, &options()).unwrap_err();
    assert!(matches!(error, ScaffoldError::NotEmpty(_)), "a second time: {error:?}");
}

#[test]
fn the_published_sdk_is_the_default_dependency() {
    let parent = tempfile::tempdir().unwrap();
    let made = new_plugin(parent.path(), "plain", Kind::Wasm, &NewOptions::default()).unwrap();
    let cargo_toml = std::fs::read_to_string(made.dir.join("Cargo.toml")).unwrap();
    // The caret requirement of this CLI's own version: "0.1" for 0.1.x.
    assert!(cargo_toml.contains(&format!("wasp-sdk = \"{SDK_VERSION}\"")), "{cargo_toml}");
    assert!(env!("CARGO_PKG_VERSION").starts_with(SDK_VERSION), "{SDK_VERSION}");
    let manifest = wasp_runtime::Manifest::from_file(&made.dir.join("plugin.toml")).unwrap();
    assert_eq!(manifest.api, wasp_protocol::ApiVersion::CURRENT);
    assert_eq!(manifest.entry.as_deref(), Some(Path::new("plain.wasm")));
}

#[test]
fn build_errors_are_messages() {
    let empty = tempfile::tempdir().unwrap();
    let error = build(empty.path(), &build_options()).unwrap_err();
    assert!(matches!(error, BuildError::NoManifest(_)), "{error:?}");
    assert!(error.to_string().contains("no plugin.toml"), "{error}");

    // A crate that does not compile: cargo's status and its diagnostics.
    let (_tmp, dir) = scaffold("broken", Kind::Wasm);
    std::fs::write(dir.join("src/lib.rs"), "this is not rust").unwrap();
    let mut options = build_options();
    options.target = Some(WasmTarget::Unknown);
    let error = build(&dir, &options).unwrap_err();
    assert!(matches!(error, BuildError::Cargo { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("cargo failed") && message.contains("exit status"), "{message}");
}
