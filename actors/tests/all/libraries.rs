//! Shared library modules (docs/libraries.md): two plugins use one
//! compiled library, each with its own instance; every form of a plugin
//! calls it the same way; loading refuses a missing library or an
//! incompatible version, and building a host refuses a malformed library;
//! a plugin reaches only the libraries it `uses`; a library's trap, runaway
//! loop or ABI break is handled like the plugin's own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use wasp_actors::{Host, HostBuilder, LimitRequests, Load, Manifest, Policy};
use wasp_protocol::ErrorCode;

use crate::common::{FORMS, Form, load, mp, wat};

fn builder() -> HostBuilder {
    Host::builder().request_timeout(Duration::from_secs(10)).policy(Policy::new().trust("*").expect("valid rule"))
}

/// A host offering the example `json` library, and any extra library files.
fn host_with(extra: &[&Path]) -> Host {
    let mut b = builder().library(wasp_fixtures::wasm_library("json"));
    for path in extra {
        b = b.library(*path);
    }
    b.build().expect("host builds")
}

/// A library in WAT named `id` (`name@version`) whose `to_msgpack` runs `body`
/// (the `$count` global, the bump allocator and memory at 16 are there to use).
fn wat_library(id: &str, body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $count (mut i32) (i32.const 0))
  (func (export "wasp_alloc") (param i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 0)))
    (local.get $p))
  (func (export "wasp_dealloc") (param i32 i32))
  (func (export "to_msgpack") (param i32 i32) (result i64)
    {body})
  (@custom "wasp:library" "{id}"))"#
    ))
}

/// docs/libraries.md, whose WAT library the tests run as written.
const LIBRARIES_MD: &str = include_str!("../../../docs/libraries.md");

/// The ```wat block of docs/libraries.md: the `tally@1.2.0` library.
fn documented_library() -> Vec<u8> {
    let block = LIBRARIES_MD.split("```wat\n").nth(1).and_then(|rest| rest.split("```").next());
    wat(block.expect("docs/libraries.md shows a library in WAT"))
}

/// `to_msgpack` of a counting library: one more each call, answered as a
/// MessagePack positive fixint (status byte 0, then the count).
const COUNT: &str = r#"
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 17) (global.get $count))
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 2))"#;

/// Writes `bytes` to `dir/<name>.wasm`.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write library file");
    path
}

/// The jsonpack example (WASM) named `name`, using `uses`.
async fn load_jsonpack(
    host: &Host,
    name: &str,
    uses: &[&str],
    limits: LimitRequests,
) -> Result<(), wasp_actors::Error> {
    let mut m = Manifest::from_file(&wasp_fixtures::manifest_path("jsonpack")).expect("manifest parses");
    name.clone_into(&mut m.name);
    m.uses = uses.iter().map(|u| u.parse().expect("valid requirement")).collect();
    m.limits = limits;
    let bytes = std::fs::read(wasp_fixtures::wasm_plugin("jsonpack")).expect("jsonpack.wasm");
    host.load(Load::bytes(&bytes).described_by(m)).await.map(drop)
}

fn decode(bytes: &[u8]) -> Value {
    wasp_protocol::codec::from_payload(bytes).expect("MessagePack")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plugins_use_one_library_each_through_its_own_instance() {
    let tmp = tempfile::tempdir().unwrap();
    // The library of docs/libraries.md, exactly as the page shows it.
    let tally = file(tmp.path(), "tally", &documented_library());
    let host = host_with(&[&tally]);
    let offered: Vec<String> = host.libraries().iter().map(|l| format!("{}@{}", l.name(), l.version())).collect();
    assert_eq!(offered, ["json@1.0.0", "tally@1.2.0"]);

    host.load(wasp_fixtures::wasm_bundle("jsonpack")).await.expect("jsonpack loads");
    host.load(wasp_fixtures::wasm_bundle("jsoncheck")).await.expect("jsoncheck loads");
    let packed = host.request("jsonpack", "pack", mp(r#"{"a": [1, true, null], "b": "x"}"#)).await.expect("packs");
    assert_eq!(decode(&packed), json!({"a": [1, true, null], "b": "x"}));
    let valid = host.request("jsoncheck", "check", mp("[1, 2]")).await.expect("checks");
    assert_eq!(decode(&valid), json!({"valid": true, "error": null}));
    let invalid = decode(&host.request("jsoncheck", "check", mp("{\"a\": }")).await.expect("checks"));
    assert_eq!(invalid["valid"], json!(false));
    let error = invalid["error"].as_str().expect("an error message");
    assert!(error.contains("library:json/validate: not JSON") && error.contains("line 1 column 7"), "{error}");

    // Memory isolation: each plugin counts in its own instance of `tally`.
    for name in ["a", "b"] {
        load_jsonpack(&host, name, &["tally@1.1"], LimitRequests::default()).await.expect("loads");
    }
    let count = |to: &'static str| {
        let host = host.clone();
        async move { decode(&host.request(to, "pack-with", mp(&("tally", "{}"))).await.expect("tally answers")) }
    };
    assert_eq!(count("a").await, json!(1));
    assert_eq!(count("a").await, json!(2));
    assert_eq!(count("b").await, json!(1));
    assert_eq!(count("a").await, json!(3));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_of_a_plugin_calls_the_library_the_same_way() {
    let host = host_with(&[]);
    for form in FORMS {
        let name = format!("jsonpack-{form:?}").to_lowercase();
        if form == Form::InProcess {
            let mut m = Manifest::from_file(&wasp_fixtures::manifest_path("jsonpack")).expect("manifest parses");
            name.clone_into(&mut m.name);
            host.load(Load::in_process(wasp_example_jsonpack::JsonPack::default).described_by(m))
                .await
                .expect("registers");
        } else {
            load(&host, form, "jsonpack", &name).await;
        }
        let packed = host.request(&name, "pack", mp(r#"{"n": 42}"#)).await.unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert_eq!(decode(&packed), json!({"n": 42}), "{form:?}");
        let e = host.request(&name, "pack", mp("nope")).await.expect_err("not JSON");
        assert_eq!(e.code, ErrorCode::Plugin, "{form:?}: {e}");
        assert!(e.message.contains("library:json/to_msgpack: not JSON"), "{form:?}: {e}");
        let e = host.request(&name, "pack-with", mp(&("regex", "{}"))).await.expect_err("not in uses");
        assert_eq!(e.code, ErrorCode::PermissionDenied, "{form:?}: {e}");
        assert!(e.message.contains("does not use the library `regex` (it uses: json@1.0.0)"), "{form:?}: {e}");
        // Still answering after the refusals.
        host.request(&name, "pack", mp("[]")).await.unwrap_or_else(|e| panic!("{form:?}: {e}"));
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_library_refuses_the_load_and_names_it() {
    let host = builder().build().expect("host builds");
    let e = host.load(wasp_fixtures::wasm_bundle("jsonpack")).await.expect_err("no json library");
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");
    assert_eq!(
        e.to_string(),
        "plugin `jsonpack` uses the library `json@1`, which this host does not have (it has: none)"
    );
    assert!(host.plugins().is_empty());

    let host = host_with(&[]);
    let e = load_jsonpack(&host, "p", &["json@1", "yaml@2"], LimitRequests::default()).await.expect_err("no yaml");
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");
    assert!(e.to_string().contains("`yaml@2`, which this host does not have (it has: json)"), "{e}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_version_refuses_the_load_and_names_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let old = file(tmp.path(), "json-old", &wat_library("json@0.9.0", COUNT));
    let host = host_with(&[&old]);
    for wanted in ["json@2", "json@1.1", "json@0.8"] {
        let e = load_jsonpack(&host, "p", &[wanted], LimitRequests::default()).await.expect_err("incompatible");
        assert_eq!(e.code(), ErrorCode::VersionMismatch, "{e}");
        assert_eq!(
            e.to_string(),
            format!("plugin `p` uses the library `{wanted}`, but this host has only version 0.9.0, 1.0.0 of it")
        );
    }
    // The newest accepted version is linked: `json@0.9` gets the WAT one.
    load_jsonpack(&host, "old", &["json@0.9"], LimitRequests::default()).await.expect("0.9 is offered");
    assert_eq!(decode(&host.request("old", "pack", mp("{}")).await.expect("answers")), json!(1));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_library_fails_the_host_build_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let plugin_not_library = wat(r#"(module (memory (export "memory") 1) (@custom "wasp:abi" "1.2"))"#);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"not wasm at all".to_vec(), "it is not a core WebAssembly module"),
        ("no-section", plugin_not_library, "no `wasp:library` custom section"),
        ("no-version", wat_library("json", COUNT), "expected NAME@MAJOR.MINOR.PATCH"),
        ("bad-version", wat_library("json@1.0", COUNT), "`1.0` is not a version"),
        ("bad-name", wat_library("JSON@1.0.0", COUNT), "`JSON` is not a library name"),
        (
            "imports",
            wat(r#"(module (import "wasp" "log" (func (param i32 i32 i32))) (@custom "wasp:library" "x@1.0.0"))"#),
            "it imports `wasp::log`; a library imports nothing",
        ),
        (
            "wrong-function",
            wat(r#"(module
                (memory (export "memory") 1)
                (func (export "wasp_alloc") (param i32) (result i32) (i32.const 0))
                (func (export "wasp_dealloc") (param i32 i32))
                (func (export "f") (param i32) (result i32) (i32.const 0))
                (@custom "wasp:library" "x@1.0.0"))"#),
            "export `f` is a function (i32) -> i32, expected a function (i32, i32) -> i64",
        ),
        (
            "no-alloc",
            wat(r#"(module
                (memory (export "memory") 1)
                (func (export "f") (param i32 i32) (result i64) (i64.const 0))
                (@custom "wasp:library" "x@1.0.0"))"#),
            "missing required export `wasp_alloc`; missing required export `wasp_dealloc`",
        ),
        ("invalid-wasm", b"\0asm\x01\0\0\0\x05\x03garbage".to_vec(), "not valid WebAssembly"),
    ];
    for (name, bytes, says) in cases {
        let path = file(tmp.path(), name, &bytes);
        let e = builder().library(&path).no_module_cache().build().expect_err(name);
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{name}: {e}");
        let text = e.to_string();
        assert!(text.contains("is not a valid wasp library") && text.contains(says), "{name}: {text}");
    }
    // The same name and version twice.
    let dir = tmp.path().join("folder");
    std::fs::create_dir(&dir).unwrap();
    file(&dir, "one", &wat_library("x@1.0.0", COUNT));
    file(&dir, "two", &wat_library("x@1.0.0", "(i64.const 0)"));
    let e = builder().libraries(&dir).build().expect_err("duplicate");
    assert!(e.to_string().contains("library `x@1.0.0` is not a valid wasp library: this host already has"), "{e}");
    let e = builder().library(tmp.path().join("absent.wasm")).build().expect_err("no file");
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_fault_is_the_plugins_fault_and_it_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let boom = file(tmp.path(), "boom", &wat_library("boom@1.0.0", "unreachable"));
    let spin = file(tmp.path(), "spin", &wat_library("spin@1.0.0", "(loop $l (br $l)) (i64.const 0)"));
    let liar = file(
        tmp.path(),
        "liar",
        &wat_library("liar@1.0.0", "(i64.or (i64.shl (i64.const 65000) (i64.const 32)) (i64.const 4096))"),
    );
    let host = host_with(&[&boom, &spin, &liar]);
    let limits = LimitRequests { cpu_budget: Some(Duration::from_millis(100)), ..LimitRequests::default() };
    let uses = ["json@1", "boom@1", "spin@1", "liar@1"];
    load_jsonpack(&host, "w", &uses, limits.clone()).await.expect("loads");
    let mut m = Manifest::from_file(&wasp_fixtures::manifest_path("jsonpack")).expect("manifest parses");
    m.name = "i".into();
    m.uses = uses.iter().map(|u| u.parse().expect("valid")).collect();
    m.limits = limits;
    host.load(Load::in_process(wasp_example_jsonpack::JsonPack::default).described_by(m)).await.expect("registers");

    for (library, wasm_code, in_process_code, says) in [
        ("boom", ErrorCode::PluginCrashed, ErrorCode::PluginCrashed, "unreachable"),
        ("spin", ErrorCode::DeadlineExceeded, ErrorCode::DeadlineExceeded, "budget"),
        ("liar", ErrorCode::PluginCrashed, ErrorCode::PluginCrashed, "broke the library ABI"),
    ] {
        for (plugin, code) in [("w", wasm_code), ("i", in_process_code)] {
            let e = host.request(plugin, "pack-with", mp(&(library, "{}"))).await.expect_err("faults");
            assert_eq!(e.code, code, "{plugin} {library}: {e}");
            assert!(e.message.contains(says), "{plugin} {library}: {e}");
            // The plugin (restarted, for WASM) and the library answer again.
            let answer = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match host.request(plugin, "pack", mp("[1]")).await {
                        Ok(bytes) => break bytes,
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
            .await
            .expect("the plugin answers again");
            assert_eq!(decode(&answer), json!([1]), "{plugin} {library}");
        }
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_is_compiled_once_and_then_comes_from_the_module_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let first = builder().module_cache(tmp.path()).library(wasp_fixtures::wasm_library("json")).build().unwrap();
    let s = first.module_cache().expect("a cache").stats();
    assert_eq!((s.misses, s.writes, s.hits), (1, 1, 0), "{s:?}");
    // Plugins that use it link the compiled library: nothing more is compiled for it.
    first.load(wasp_fixtures::wasm_bundle("jsonpack")).await.expect("loads");
    first.load(wasp_fixtures::wasm_bundle("jsoncheck")).await.expect("loads");
    let s = first.module_cache().expect("a cache").stats();
    assert_eq!((s.misses, s.writes), (3, 3), "one compile each for the two plugins: {s:?}");
    first.request("jsonpack", "pack", mp("{}")).await.expect("answers");
    first.shutdown().await;

    let second = builder().module_cache(tmp.path()).library(wasp_fixtures::wasm_library("json")).build().unwrap();
    let s = second.module_cache().expect("a cache").stats();
    assert_eq!((s.misses, s.hits), (0, 1), "{s:?}");
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pooling_allocator_answers_busy_and_the_plugin_runs_on() {
    let host =
        builder().pooling_allocator(1).library(wasp_fixtures::wasm_library("json")).build().expect("host builds");
    if host.pooling_allocator().is_none() {
        // This machine could not reserve the pool: everything is on demand.
        return;
    }
    host.load(wasp_fixtures::wasm_bundle("jsonpack")).await.expect("loads");
    let e = host.request("jsonpack", "pack", mp("{}")).await.expect_err("no slot for the library");
    assert_eq!(e.code, ErrorCode::Busy, "{e}");
    assert!(e.message.contains("library `json` 1.0.0: the host's pooling allocator is full"), "{e}");
    let info = crate::common::info(&host, "jsonpack");
    assert_eq!(info.restarts, 0, "{info:?}");
    host.shutdown().await;
}

/// A plugin in WAT from `docs/abi.md` §10.1 alone: every request calls
/// `library:<payload as the library name>/to_msgpack` with no input and
/// answers with the result slot: the output, or the error's code and message.
const WAT_CALLER: &str = r#"(module
  (import "wasp" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "wasp" "result_len" (func $result_len (result i32)))
  (import "wasp" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasp" "reply" (func $reply (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "library:")
  (func (export "wasp_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "wasp_dealloc") (param i32 i32))
  ;; The payload is the library's name as a MessagePack fixstr (one header byte).
  (func (export "wasp_handle") (param $ptr i32) (param $kind i32) (param $id i64)
        (param $from_len i32) (param $topic_len i32) (param $payload_len i32) (result i32)
    (local $name i32) (local $name_len i32) (local $status i32) (local $n i32)
    (local.set $name (i32.add (i32.add (local.get $ptr) (i32.add (local.get $from_len) (local.get $topic_len))) (i32.const 1)))
    (local.set $name_len (i32.sub (local.get $payload_len) (i32.const 1)))
    ;; "library:" + name + "/to_msgpack" at 512
    (memory.copy (i32.const 520) (local.get $name) (local.get $name_len))
    (memory.copy (i32.add (i32.const 520) (local.get $name_len)) (i32.const 600) (i32.const 11))
    (local.set $status
      (call $call (i32.const 512) (i32.add (i32.const 19) (local.get $name_len)) (i32.const 0) (i32.const 0)))
    (local.set $n (call $result_len))
    (drop (call $result_read (i32.const 1024) (local.get $n)))
    (drop (call $reply (local.get $id) (local.get $status) (i32.const 1024) (local.get $n)))
    (i32.const 0))
  (data (i32.const 600) "/to_msgpack")
  (@custom "wasp:abi" "1.1"))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_written_from_the_abi_calls_a_library() {
    let tmp = tempfile::tempdir().unwrap();
    let tally = file(tmp.path(), "tally", &documented_library());
    let host = host_with(&[&tally]);
    let mut m = Manifest::new("caller").expect("valid name").uses("tally@1".parse().expect("valid"));
    m.kind = wasp_actors::ManifestKind::Wasm;
    host.load(Load::bytes(wat(WAT_CALLER)).described_by(m)).await.expect("loads");
    for n in 1..=3 {
        assert_eq!(host.request("caller", "go", mp("tally")).await.expect("answers"), [n]);
    }
    let e = host.request("caller", "go", mp("json")).await.expect_err("not in uses");
    assert_eq!(e.code, ErrorCode::PermissionDenied, "{e}");
    assert_eq!(
        e.message,
        "plugin `caller` does not use the library `json` (it uses: tally@1.2.0); name it in `uses` in its plugin.toml"
    );
    host.shutdown().await;
}
