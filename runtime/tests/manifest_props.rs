//! Property tests for `plugin.toml` parsing: `Manifest::parse` reads files
//! plugin authors (and attackers) write, so it must never panic, must place
//! every error on a line, and `to_toml` must write what `parse` reads back.
//!
//! Its own binary because it links no wasmtime code and builds fast; fold it
//! into the crate's single integration binary when one exists.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use serde::Serialize;
use wasp_protocol::{ApiVersion, Permission};
use wasp_runtime::manifest::{LimitRequests, Manifest, ManifestKind};

const VALID: &str = r#"name = "notes"
version = "0.1.0-beta.2+build.7"
api = "1.0"
kind = "wasm"
entry = "bin/notes.wasm"
description = "Takes notes."
permissions = ["storage", "timers", "publish:notes.*", "request:echo", "fs.read:$DATA/x", "net:*.example.com:443"]

[limits]
memory = "16 MiB"
table_elements = 10000
message_size = "1 MB"
mailbox = 256
cpu_budget = "200ms"
outstanding_requests = 64
host_calls_per_second = 1000
log_lines_per_second = 50
storage_quota = 2048
timers = 16

[config]
greeting = "hello"
max_items = 100
ratio = 0.5
tags = ["a", 1, 2.5, true]
since = 1979-05-27T07:32:00Z
nested = { depth = 2, names = ["x"], deeper = { ok = false } }

[[config.items]]
a = 1
"#;

const PERMISSIONS: &[&str] = &[
    "send:echo",
    "send:host",
    "send:*",
    "request:relay-*",
    "publish:sensor.*",
    "subscribe:a.b",
    "ui:status",
    "fs.read:/var/data",
    "fs.write:$DATA",
    "fs.write:$DATA/cache",
    "net:example.com",
    "net:127.0.0.1:8080",
    "net:*.example.com",
    "storage",
    "timers",
    "clock",
    "random",
    "config",
    "log",
];

/// Parses `text`; whatever it is, no panic, and an error has a line. What
/// parses must write back to itself.
fn check_any(text: &str) -> Result<(), TestCaseError> {
    match Manifest::parse(text) {
        Ok(manifest) => {
            let written = manifest.to_toml();
            let back = Manifest::parse(&written).map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
            prop_assert_eq!(back, manifest, "{}", written);
        }
        Err(e) => {
            prop_assert!(e.line.is_some_and(|l| l >= 1 && l <= text.lines().count().max(1) + 1), "{e}");
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Simple {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Ints(Vec<i64>),
    Map(BTreeMap<String, String>),
}

fn simple() -> impl Strategy<Value = Simple> {
    prop_oneof![
        any::<String>().prop_map(Simple::Text),
        any::<i64>().prop_map(Simple::Int),
        any::<f64>().prop_filter("TOML's nan has no payload", |f| !f.is_nan()).prop_map(Simple::Float),
        any::<bool>().prop_map(Simple::Bool),
        prop::collection::vec(any::<i64>(), 0..4).prop_map(Simple::Ints),
        prop::collection::btree_map(".{0,8}", ".{0,8}", 0..4).prop_map(Simple::Map),
    ]
}

fn version() -> impl Strategy<Value = String> {
    let ident = "[0-9A-Za-z-]{1,6}(\\.[0-9A-Za-z-]{1,6}){0,2}";
    (0..10_000u32, 0..10_000u32, 0..10_000u32, prop::option::of(ident), prop::option::of(ident)).prop_map(
        |(major, minor, patch, pre, build)| {
            let mut v = format!("{major}.{minor}.{patch}");
            if let Some(pre) = pre {
                v = format!("{v}-{pre}");
            }
            if let Some(build) = build {
                v = format!("{v}+{build}");
            }
            v
        },
    )
}

fn limits() -> impl Strategy<Value = LimitRequests> {
    let size = || prop::option::of(prop_oneof![1..=u64::MAX, (1..=1u64 << 33).prop_map(|n| n << 10)]);
    let count = || prop::option::of(0..=i64::MAX as usize);
    let budget = (0..1_000_000_000_000u64, 0..1_000_000u32)
        .prop_map(|(secs, micros)| Duration::new(secs, micros * 1000))
        .prop_filter("a budget is at least 1us", |d| !d.is_zero());
    (
        (size(), prop::option::of(any::<u32>()), size(), prop::option::of(1..=i64::MAX as usize)),
        (prop::option::of(budget), count(), prop::option::of(any::<u32>()), prop::option::of(any::<u32>())),
        (prop::option::of(any::<u64>()), count(), size(), prop::option::of(any::<u64>())),
    )
        .prop_map(
            |(
                (memory, table_elements, message_size, mailbox),
                (cpu_budget, outstanding_requests, host_calls_per_second, log_lines_per_second),
                (storage_quota, timers, mailbox_bytes, timer_bytes),
            )| {
                LimitRequests {
                    memory,
                    table_elements,
                    message_size,
                    mailbox,
                    cpu_budget,
                    outstanding_requests,
                    host_calls_per_second,
                    log_lines_per_second,
                    storage_quota,
                    timers,
                    mailbox_bytes,
                    timer_bytes,
                }
            },
        )
}

prop_compose! {
    fn manifest()(
        // Dot-separated parts, each starting with a letter or a digit (docs/manifest.md).
        name in "[a-z0-9][a-z0-9_-]{0,9}(\\.[a-z0-9][a-z0-9_-]{0,9}){0,4}".prop_filter("a valid name (not `host`, no device name)", |n| wasp_protocol::Address::plugin(n).is_ok()),
        version in version(),
        api in (any::<u16>(), any::<u16>()),
        kind in prop::sample::select(vec![ManifestKind::Wasm, ManifestKind::Native, ManifestKind::InProcess]),
        entry in prop::option::of("[a-z0-9_ ]{1,8}(/[a-z0-9_]{1,8}){0,2}\\.(wasm|so)"),
        description in prop::option::of(any::<String>()),
        permissions in prop::collection::vec(prop::sample::select(PERMISSIONS), 0..8),
        limits in limits(),
        config in prop::collection::btree_map(any::<String>(), simple(), 0..5),
        ui in prop::option::of("[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}"),
        instances in prop::option::of(1..=i64::MAX as usize),
        stateless in any::<bool>(),
    ) -> Manifest {
        let mut m = Manifest::new(&name)
            .unwrap()
            .permissions(permissions.iter().map(|p| p.parse::<Permission>().unwrap()))
            .limits(limits);
        m.version = version;
        m.api = ApiVersion::new(api.0, api.1);
        m.kind = kind;
        m.entry = match (kind, entry) {
            (ManifestKind::InProcess, entry) => entry.map(Into::into),
            (_, entry) => Some(entry.unwrap_or_else(|| "plugin.wasm".into()).into()),
        };
        m.description = description;
        m.ui = ui.map(Into::into);
        m.instances = instances;
        // `stateless = false` is not written, so every pairing round-trips.
        m.stateless = stateless;
        for (key, value) in &config {
            m = m.config_value(key, value).unwrap();
        }
        m
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_any(&text)?;
    }

    #[test]
    fn toml_like_text_never_panics(text in "[a-z_.\\[\\]=\" 0-9\n{},#'-]{0,200}") {
        check_any(&text)?;
    }

    #[test]
    fn mutated_manifests_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8)
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, byte),
            }
        }
        check_any(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn generated_manifests_round_trip(m in manifest()) {
        let text = m.to_toml();
        let back = Manifest::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &m, "{}", text);
    }
}

#[test]
fn the_valid_manifest_is_valid() {
    let m = Manifest::parse(VALID).unwrap();
    assert_eq!(m.permissions.len(), 6);
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
}
