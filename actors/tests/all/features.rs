//! A host built without a Cargo feature refuses what needs it, naming the
//! feature, with `unavailable`: no panic, no silent no-op. These tests run
//! in the minimal build (`scripts/test` runs this binary with
//! `--no-default-features`); with a feature on, what it adds is tested in
//! its own module.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test runs in a build without its feature; the helpers serve whichever do"
)]

use std::time::Duration;

use wasp_actors::{Error, Host, Load, Manifest};
use wasp_protocol::{ErrorCode, Permission};
use wasp_sdk::prelude::*;

use crate::common::host;

#[derive(Default)]
struct Quiet;

impl Plugin for Quiet {
    fn on_message(&mut self, _: &mut Context<'_>, _: Message<'_>) -> Result<Reply, WireError> {
        Ok(Reply::empty())
    }
}

/// Asserts `err` is the refusal for a build without `feature`.
fn assert_refused(err: &Error, feature: &str) {
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    let wanted = format!("this host was built without the `{feature}` feature");
    assert!(err.to_string().ends_with(&wanted), "{err}");
    assert!(
        matches!(err, Error::Runtime(wasp_runtime::Error::FeatureDisabled { feature: f, .. }) if *f == feature),
        "{err:?}"
    );
}

/// Loads a manifest asking for `permission` through the in-process path
/// (no file, no compilation: the refusal comes from admission).
async fn register_asking(host: &Host, permission: &str) -> Result<(), Error> {
    let permission: Permission = permission.parse().expect("a permission");
    let manifest = Manifest::new("asker").expect("a name").permission(permission);
    host.load(Load::in_process(Quiet::default).described_by(manifest)).await.map(drop)
}

#[cfg(not(feature = "storage"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_asking_for_storage_is_refused_naming_the_feature() {
    let host = host();
    let err = register_asking(&host, "storage").await.expect_err("no storage in this build");
    assert_refused(&err, "storage");
    assert!(err.to_string().starts_with("plugin `asker` asks for `storage`"), "{err}");
    assert!(host.plugins().is_empty(), "nothing was started");
}

#[cfg(not(feature = "http"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_asking_for_the_network_is_refused_naming_the_feature() {
    let host = host();
    let err = register_asking(&host, "net:example.com").await.expect_err("no http in this build");
    assert_refused(&err, "http");
    assert!(host.plugins().is_empty(), "nothing was started");
}

#[cfg(not(feature = "native"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_plugin_is_refused_naming_the_feature() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("plugin.toml"),
        "name = \"lib\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"native\"\nentry = \"liblib.so\"\n",
    )
    .expect("writes");
    std::fs::write(dir.path().join("liblib.so"), b"\x7fELF not really").expect("writes");
    let host = host();
    let mut audit = host.audit_events();
    let err = host.load(dir.path()).await.expect_err("no native plugins in this build");
    assert_refused(&err, "native");
    assert!(host.plugins().is_empty(), "nothing was started");
    let event = audit.try_recv().expect("the refusal is audited");
    assert_eq!(event.plugin, "lib");
    assert!(event.message.contains("`native` feature"), "{}", event.message);
}

#[cfg(not(feature = "hot-reload"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_hot_reload_is_refused_naming_the_feature() {
    let err = Host::builder().hot_reload(true).build().expect_err("no watcher in this build");
    assert_refused(&err, "hot-reload");
    let host = host();
    host.load(Load::in_process(Quiet::default).named("quiet")).await.expect("registers");
    assert_refused(&host.watch("quiet").await.expect_err("no watcher"), "hot-reload");
}

#[cfg(not(feature = "profiling"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiling_is_refused_naming_the_feature() {
    let host = host();
    host.load(Load::path(wasp_fixtures::wasm_bundle("echo")).named("echo")).await.expect("echo loads");
    let err = host.profile("echo", Duration::from_millis(10)).await.expect_err("no profiler in this build");
    assert_refused(&err, "profiling");
    let len: u64 = host.call("echo", "len", &vec![1u8; 10]).await.expect("echo still answers");
    assert_eq!(len, 11, "ten small integers are 11 bytes of MessagePack");
}

#[cfg(not(feature = "debugger"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_mode_is_refused_naming_the_feature() {
    let err = Host::builder().debug(true).build().expect_err("no GDB JIT interface in this build");
    assert_refused(&err, "debugger");
    let err = wasp_runtime::Engine::with_debug(wasp_runtime::Schedule::default(), true).expect_err("nor for an engine");
    assert!(matches!(err, wasp_runtime::Error::FeatureDisabled { feature: "debugger", .. }), "{err}");
    assert!(!Host::builder().debug(false).build().expect("debug off builds").debug());
}

#[cfg(not(feature = "libraries"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_using_a_library_is_refused_naming_the_feature() {
    let host = host();
    let manifest = Manifest::new("user").expect("a name").uses("json@1".parse().expect("a requirement"));
    let err = host
        .load(Load::in_process(Quiet::default).described_by(manifest))
        .await
        .expect_err("no libraries in this build");
    assert_refused(&err, "libraries");
}
