//! Loading-time validation (`docs/abi.md` section 1): every bad file or
//! module is refused before any of its code runs, with an error naming the
//! problem, and the host keeps working.
//!
//! Every refused module below also has a start function that executes
//! `unreachable`: had it been instantiated, the load would fail with a trap
//! instead of the validation error the tests expect.

use std::time::{Duration, Instant};

use wasp_actors::{Error, Host, Limits, Load};
use wasp_protocol::{ApiVersion, ErrorCode};
use wasp_runtime::Problem;

use crate::common::{FORMS, Form, host, load, mp, wat};

const MEMORY: &str = r#"(memory (export "memory") 1)"#;
const ALLOC: &str = r#"(func (export "wasp_alloc") (param i32) (result i32) (i32.const 1024))"#;
const DEALLOC: &str = r#"(func (export "wasp_dealloc") (param i32 i32))"#;
const HANDLE: &str = r#"(func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i32.const 0))"#;

/// A start function that traps: proof, when a load fails with something
/// else, that instantiation never began.
const TRAP_ON_START: &str = "(func $start unreachable) (start $start)";

/// A module of `items`, with a trapping start function and, if given, the
/// `wasp:abi` section.
fn module(items: &[&str], abi: Option<&str>) -> Vec<u8> {
    let section = abi.map(|v| format!("(@custom \"wasp:abi\" \"{v}\")")).unwrap_or_default();
    wat(&format!("(module {} {TRAP_ON_START} {section})", items.join("\n")))
}

/// `extra` (imports come first in WAT text), then all four required items,
/// as ABI 1.0.
fn with_all(extra: &[&str]) -> Vec<u8> {
    let mut items = extra.to_vec();
    items.extend_from_slice(&[MEMORY, ALLOC, DEALLOC, HANDLE]);
    module(&items, Some("1.0"))
}

/// Loads `bytes`, expects a refusal, and checks nothing was registered.
async fn refused(host: &Host, name: &str, bytes: &[u8]) -> Error {
    let err = host.load(Load::bytes(bytes).named(name)).await.expect_err("the module must be refused");
    assert!(host.plugins().iter().all(|p| p.name != name), "a refused plugin is registered: {err}");
    err
}

/// The ABI problems of an `Invalid` error (panics on any other error).
fn problems(err: &Error) -> &[Problem] {
    match err {
        Error::Runtime(wasp_runtime::Error::Invalid { problems, .. }) => problems,
        other => panic!("expected an ABI validation error, got {other:?}"),
    }
}

/// A `wasp:abi` custom section, built by hand (section id 0, LEB128 size,
/// LEB128 name length, name, content).
fn abi_section(version: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"wasp:abi";
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(version.as_bytes());
    let mut section = vec![0u8];
    leb128(body.len(), &mut section);
    section.extend(body);
    section
}

/// A host whose default echo answers, to show it survived a refusal.
async fn assert_host_works(host: &Host) {
    let name = format!("probe-{}", host.plugins().len());
    load(host, Form::Wasm, "echo", &name).await;
    assert_eq!(host.request(&name, "ping", mp(&"still here")).await.unwrap(), mp(&"still here"));
}

#[cfg(feature = "native")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_wasm_are_refused_saying_what_they_are() {
    let host = host();
    // Deterministic "random" bytes.
    let mut x: u32 = 0x2545_f491;
    let noise: Vec<u8> = (0..512)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    // A component header goes to the component loader instead (see
    // `components::garbage_behind_a_component_header_is_refused_as_malformed`).
    let cases: [(&str, Vec<u8>, &str); 2] = [("noise", noise, "magic bytes"), ("empty", Vec::new(), "magic bytes")];
    for (name, bytes, says) in cases {
        let err = refused(&host, name, &bytes).await;
        assert!(matches!(err, Error::Runtime(wasp_runtime::Error::NotWasm { .. })), "{name}: {err:?}");
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{name}");
        let text = err.to_string();
        assert!(text.contains("not a WebAssembly module") && text.contains(says), "{name}: {text}");
    }
    // Native libraries are told apart by their magic bytes and go to the
    // native loader, which refuses these: a bare header, and another
    // platform's format.
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0".to_vec();
    elf.resize(256, 0);
    let (foreign, foreign_says) =
        if cfg!(windows) { (elf.clone(), "ELF") } else { (b"MZ\x90\0\x03\0\0\0".to_vec(), "Windows PE") };
    let native_cases: [(&str, Vec<u8>, &str); 2] =
        [("elf", elf, "wasp_native_plugin"), ("foreign", foreign, foreign_says)];
    for (name, bytes, says) in native_cases {
        if name == "elf" && cfg!(windows) {
            continue;
        }
        let err = refused(&host, name, &bytes).await;
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{name}: {err}");
        let text = err.to_string();
        assert!(text.contains(says), "{name}: {text}");
    }
    assert_host_works(&host).await;
}

#[cfg(feature = "native")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_native_library_file_is_refused_when_loaded_by_path() {
    let host = host();
    let dir = std::env::temp_dir().join(format!("wasp-loading-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    let path = dir.join(format!("{DLL_PREFIX}native{DLL_SUFFIX}"));
    // This platform's magic and nothing after it: an ELF header of zeros
    // parses to no exports; a PE file without its `PE` header cannot be read.
    let (mut bytes, why) = if cfg!(windows) {
        (b"MZ".to_vec(), "cannot read a Windows PE")
    } else {
        (b"\x7fELF\x02\x01\x01\0".to_vec(), "wasp_native_plugin")
    };
    bytes.resize(4096, 0);
    std::fs::write(&path, &bytes).unwrap();
    let err = host.load(&path).await.unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    let text = err.to_string();
    assert!(text.contains("plugin `native`") && text.contains(why), "{text}");
    assert!(host.plugins().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_missing_wasp_handle_is_refused_before_running() {
    let host = host();
    let err = refused(&host, "nohandle", &module(&[MEMORY, ALLOC, DEALLOC], Some("1.0"))).await;
    assert_eq!(problems(&err), [Problem::MissingExport("wasp_handle".into())]);
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.to_string().contains("missing required export `wasp_handle`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_handle_with_a_wrong_signature_is_refused_before_running() {
    let host = host();
    // `id` as i32 instead of i64.
    let handle = r#"(func (export "wasp_handle") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 0))"#;
    let err = refused(&host, "badhandle", &module(&[MEMORY, ALLOC, DEALLOC, handle], Some("1.0"))).await;
    let [Problem::WrongExport { name, expected, found }] = problems(&err) else { panic!("{err:?}") };
    assert_eq!(name, "wasp_handle");
    assert_eq!(expected, "wasp_handle(i32, i32, i64, i32, i32, i32) -> i32");
    assert_eq!(found, "a function (i32, i32, i32, i32, i32, i32) -> i32");
    assert!(
        err.to_string().contains("export `wasp_handle` is a function (i32, i32, i32, i32, i32, i32) -> i32"),
        "{err}"
    );
    // A global under the name is as wrong as a bad signature.
    let handle = r#"(global (export "wasp_handle") i32 (i32.const 0))"#;
    let err = refused(&host, "badhandle", &module(&[MEMORY, ALLOC, DEALLOC, handle], Some("1.0"))).await;
    assert!(matches!(problems(&err), [Problem::WrongExport { found, .. }] if found == "a global"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_without_memory_is_refused_before_running() {
    let host = host();
    let err = refused(&host, "nomemory", &module(&[ALLOC, DEALLOC, HANDLE], Some("1.0"))).await;
    assert_eq!(problems(&err), [Problem::MissingExport("memory".into())]);
    assert!(err.to_string().contains("missing required export `memory`"), "{err}");
    // Exported under another name is missing too.
    let err =
        refused(&host, "nomemory", &module(&[r#"(memory (export "mem") 1)"#, ALLOC, DEALLOC, HANDLE], Some("1.0")))
            .await;
    assert_eq!(problems(&err), [Problem::MissingExport("memory".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_problem_of_a_module_is_reported_together() {
    let host = host();
    // No memory, a wasp_alloc without a result, a forbidden import.
    let alloc = r#"(func (export "wasp_alloc") (param i32))"#;
    let import = r#"(import "env" "foo" (func))"#;
    let err = refused(&host, "broken", &module(&[import, alloc, DEALLOC, HANDLE], Some("1.0"))).await;
    let found = problems(&err);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&Problem::MissingExport("memory".into())), "{found:?}");
    assert!(found.contains(&Problem::ForbiddenImport { module: "env".into(), name: "foo".into() }), "{found:?}");
    assert!(found.iter().any(|p| matches!(p, Problem::WrongExport { name, .. } if name == "wasp_alloc")), "{found:?}");
    let text = err.to_string();
    for part in ["`memory`", "`wasp_alloc`", "`env::foo`"] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
    // Exactly two problems: both named.
    let err = refused(&host, "broken", &module(&[ALLOC, DEALLOC], Some("1.0"))).await;
    assert_eq!(problems(&err), [Problem::MissingExport("memory".into()), Problem::MissingExport("wasp_handle".into())]);
    let text = err.to_string();
    assert!(text.contains("`memory`") && text.contains("`wasp_handle`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_importing_outside_wasp_is_refused_before_running() {
    let host = host();
    let cases = [
        (r#"(import "env" "foo" (func))"#, "env", "foo"),
        // WASI outside the subset of docs/abi.md (no sockets).
        (
            r#"(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))"#,
            "wasi_snapshot_preview1",
            "sock_accept",
        ),
        // The right module, a name the ABI does not have.
        (r#"(import "wasp" "exec" (func))"#, "wasp", "exec"),
        // Imported memory, table or global from outside.
        (r#"(import "env" "table" (table 1 funcref))"#, "env", "table"),
        (r#"(import "env" "g" (global i32))"#, "env", "g"),
    ];
    for (import, module_name, name) in cases {
        let err = refused(&host, "importer", &with_all(&[import])).await;
        assert_eq!(
            problems(&err),
            [Problem::ForbiddenImport { module: module_name.into(), name: name.into() }],
            "{import}"
        );
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(
            err.to_string().contains(&format!("import `{module_name}::{name}` is not part of the wasp ABI")),
            "{err}"
        );
    }
    // An imported memory beside the plugin's own is two memories: the
    // multi-memory proposal is off, so validation refuses it too, and both
    // are reported.
    let err = refused(&host, "importer", &with_all(&[r#"(import "env" "memory" (memory 1))"#])).await;
    let [Problem::ForbiddenImport { .. }, Problem::NotValid(detail)] = problems(&err) else { panic!("{err:?}") };
    assert!(detail.contains("multiple memories"), "{err}");
    assert_host_works(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_import_with_a_wrong_signature_is_refused_before_running() {
    let host = host();
    // `reply` takes (i64, i32, i32, i32) -> i32; here the id is an i32.
    let import = r#"(import "wasp" "reply" (func (param i32 i32 i32 i32) (result i32)))"#;
    let err = refused(&host, "importer", &with_all(&[import])).await;
    let [Problem::WrongImport { name, expected, found }] = problems(&err) else { panic!("{err:?}") };
    assert_eq!((name.as_str(), expected.as_str()), ("reply", "reply(i64, i32, i32, i32) -> i32"));
    assert_eq!(found, "a function (i32, i32, i32, i32) -> i32");
    assert!(err.to_string().contains("import `wasp::reply` is a function (i32, i32, i32, i32) -> i32"), "{err}");
    // A missing result, and an ABI name imported as a global, are wrong too.
    for import in
        [r#"(import "wasp" "send" (func (param i32 i32 i32 i32 i32 i32)))"#, r#"(import "wasp" "log" (global i32))"#]
    {
        let err = refused(&host, "importer", &with_all(&[import])).await;
        assert!(matches!(problems(&err), [Problem::WrongImport { .. }]), "{import}: {err:?}");
    }
    // Importing a correct subset is fine.
    let subset = r#"(import "wasp" "reply" (func (param i64 i32 i32 i32) (result i32)))
                    (import "wasp" "log" (func (param i32 i32 i32)))"#;
    let ok = wat(&format!("(module {subset} {MEMORY} {ALLOC} {DEALLOC} {HANDLE} (@custom \"wasp:abi\" \"1.0\"))"));
    host.load(Load::bytes(&ok).named("subset")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_without_abi_section_is_refused_before_running() {
    let host = host();
    let err = refused(&host, "noabi", &module(&[MEMORY, ALLOC, DEALLOC, HANDLE], None)).await;
    assert_eq!(problems(&err), [Problem::MissingAbiVersion]);
    assert!(err.to_string().contains("no `wasp:abi` custom section"), "{err}");
    // A section under another name does not count.
    let mut bytes = module(&[MEMORY, ALLOC, DEALLOC, HANDLE], None);
    bytes.extend(abi_section("1.0").iter().map(|&b| if b == b':' { b'_' } else { b }));
    assert_eq!(problems(&refused(&host, "noabi", &bytes).await), [Problem::MissingAbiVersion]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_module_without_abi_section_is_refused_without_compiling() {
    // 200,000 functions: compiling them takes seconds and a lot of memory;
    // reading the sections and validating takes a fraction of that.
    let funcs = "(func (result i32) i32.const 7)".repeat(200_000);
    let bytes = wat(&format!("(module {MEMORY} {ALLOC} {DEALLOC} {HANDLE} {funcs})"));
    let cache = tempfile::tempdir().unwrap();
    let host = Host::builder().module_cache(cache.path()).build().unwrap();
    let started = Instant::now();
    let err = refused(&host, "huge", &bytes).await;
    let elapsed = started.elapsed();
    assert_eq!(problems(&err), [Problem::MissingAbiVersion]);
    assert!(err.to_string().contains("no `wasp:abi` custom section"), "{err}");
    // Nothing was compiled: no cache lookup, no write.
    let stats = host.module_cache().unwrap().stats();
    assert_eq!((stats.misses, stats.hits, stats.writes), (0, 0, 0), "{stats:?}");
    assert!(elapsed < Duration::from_secs(5), "refusing took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_without_abi_section_and_with_a_type_error_is_told_both() {
    let host = host();
    let bad = r#"(func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i64.const 0))"#;
    let err = refused(&host, "broken", &module(&[MEMORY, ALLOC, DEALLOC, bad], None)).await;
    let [Problem::MissingAbiVersion, Problem::NotValid(detail)] = problems(&err) else { panic!("{err:?}") };
    assert!(detail.contains("type mismatch"), "{detail}");
    let text = err.to_string();
    assert!(text.contains("no `wasp:abi` custom section") && text.contains("not valid WebAssembly"), "{text}");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_module_over_a_limit_is_refused_by_that_limit() {
    let host = host();
    // 65,536 pages: 4 GiB, far over the default 64 MiB.
    let big = r#"(memory (export "memory") 65536)"#;
    let err = refused(&host, "big", &module(&[big, ALLOC, DEALLOC, HANDLE], Some("1.0"))).await;
    let Error::Runtime(wasp_runtime::Error::OverLimit { limit_name, detail, .. }) = &err else { panic!("{err:?}") };
    assert_eq!(*limit_name, "max_memory");
    assert_eq!(detail, "its memory 0 starts at 65536 pages (4 GiB), over the limit of 64 MiB");
    assert!(!err.to_string().contains("not valid WebAssembly"), "{err}");
    assert_eq!(err.code(), ErrorCode::TooLarge);
    // A manifest asking for less memory than the module starts with: the same.
    let mut manifest = wasp_actors::Manifest::new("small").unwrap();
    manifest.kind = wasp_actors::ManifestKind::Wasm;
    manifest.limits.memory = Some(64 << 10);
    let two_pages = module(&[r#"(memory (export "memory") 2)"#, ALLOC, DEALLOC, HANDLE], Some("1.0"));
    let err = host.load(Load::bytes(&two_pages).described_by(manifest)).await.expect_err("2 pages over a 64 KiB limit");
    assert!(err.to_string().contains("refused by the limit `max_memory`"), "{err}");
    // A table over `max_table_elements`.
    let table = "(table 30000 funcref)";
    let err = refused(&host, "table", &module(&[MEMORY, ALLOC, DEALLOC, HANDLE, table], Some("1.0"))).await;
    assert!(err.to_string().contains("refused by the limit `max_table_elements`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn major_abi_version_2_is_refused_naming_both_versions() {
    let host = host();
    let err = refused(&host, "future", &module(&[MEMORY, ALLOC, DEALLOC, HANDLE], Some("2.0"))).await;
    assert_eq!(err.code(), ErrorCode::VersionMismatch);
    assert_eq!(problems(&err), [Problem::UnsupportedAbi { plugin: ApiVersion::new(2, 0), host: ApiVersion::CURRENT }]);
    let text = err.to_string();
    assert!(
        text.contains(&format!("plugin requires ABI 2.0, host speaks {}", ApiVersion::CURRENT)),
        "the wording of docs/abi.md: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_minor_abi_version_is_refused() {
    let host = host();
    for version in ["1.9", "1.4", "0.9"] {
        let err = refused(&host, "newer", &module(&[MEMORY, ALLOC, DEALLOC, HANDLE], Some(version))).await;
        assert_eq!(err.code(), ErrorCode::VersionMismatch, "{version}");
        assert!(matches!(problems(&err), [Problem::UnsupportedAbi { .. }]), "{version}: {err:?}");
        let text = err.to_string();
        assert!(text.contains(version) && text.contains(&ApiVersion::CURRENT.to_string()), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_abi_version_text_is_refused() {
    let host = host();
    for text in ["garbage", "", "1", "1.0.0", "v1.0", "1.x", "1.0\\00"] {
        let err = refused(&host, "garbled", &module(&[MEMORY, ALLOC, DEALLOC, HANDLE], Some(text))).await;
        assert!(matches!(problems(&err), [Problem::MalformedAbiVersion(_)]), "{text:?}: {err:?}");
        assert!(err.to_string().contains("expected MAJOR.MINOR"), "{err}");
    }
    // Not UTF-8 at all.
    let mut bytes = module(&[MEMORY, ALLOC, DEALLOC, HANDLE], None);
    let mut section = abi_section("1.0");
    let last = section.len() - 1;
    section[last] = 0xff;
    bytes.extend(section);
    assert!(matches!(problems(&refused(&host, "garbled", &bytes).await), [Problem::MalformedAbiVersion(_)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abi_section_from_the_wat_annotation_or_appended_by_hand_is_accepted() {
    let host = host();
    let items = [MEMORY, ALLOC, DEALLOC, HANDLE];
    let body = items.join("\n");
    // The `wat` crate understands `(@custom "wasp:abi" "1.0")`: the section it
    // emits is exactly the one built by hand.
    let annotated = wat(&format!("(module {body} (@custom \"wasp:abi\" \"1.0\"))"));
    let mut by_hand = wat(&format!("(module {body})"));
    by_hand.extend(abi_section("1.0"));
    assert!(annotated.ends_with(&abi_section("1.0")), "the annotation does not produce the expected custom section");
    assert_eq!(annotated, by_hand);
    for (name, bytes) in [("annotated", annotated), ("by-hand", by_hand)] {
        let r = host.load(Load::bytes(&bytes).named(name)).await.unwrap();
        assert_eq!(r.abi_version(), Some(ApiVersion::new(1, 0)));
        assert_eq!(r.kind(), "wasm");
    }
    // A section placed first, before every other section, counts as well.
    let plain = wat(&format!("(module {body})"));
    let mut first = plain[..8].to_vec();
    first.extend(abi_section("1.0"));
    first.extend_from_slice(&plain[8..]);
    host.load(Load::bytes(&first).named("first")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_module_is_refused_by_size() {
    let host = Host::builder().limits(Limits { max_module_size: 1024, ..Limits::default() }).build().unwrap();
    let padding = format!("(data (i32.const 0) \"{}\")", "x".repeat(2000));
    let big = with_all(&[padding.as_str()]);
    let err = refused(&host, "big", &big).await;
    let Error::Runtime(wasp_runtime::Error::TooLarge { size, limit, .. }) = &err else { panic!("{err:?}") };
    assert_eq!((*size, *limit), (big.len(), 1024));
    assert_eq!(err.code(), ErrorCode::TooLarge);
    let text = err.to_string();
    assert!(text.contains(&big.len().to_string()) && text.contains("1024"), "{text}");
    // Size comes first: oversized garbage is refused for its size.
    let err = refused(&host, "big", &vec![0x42; 4096]).await;
    assert_eq!(err.code(), ErrorCode::TooLarge, "{err}");
    // Under the limit the same host loads a module.
    let small = wat(&format!("(module {MEMORY} {ALLOC} {DEALLOC} {HANDLE} (@custom \"wasp:abi\" \"1.0\"))"));
    assert!(small.len() <= 1024);
    host.load(Load::bytes(&small).named("small")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_function_that_never_returns_is_stopped_within_the_cpu_budget() {
    let budget = Duration::from_millis(200);
    let host = Host::builder().cpu_budget(budget).build().unwrap();
    let spin = r#"(func $spin (loop $forever (br $forever))) (start $spin)"#;
    let bytes = wat(&format!("(module {MEMORY} {ALLOC} {DEALLOC} {HANDLE} {spin} (@custom \"wasp:abi\" \"1.0\"))"));
    let started = Instant::now();
    let err = host.load(Load::bytes(&bytes).named("spin")).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Runtime(wasp_runtime::Error::DeadlineExceeded { .. })), "{err:?}");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    assert!(took >= budget - Duration::from_millis(20), "stopped after {took:?}, before its budget");
    assert!(took < budget * 10, "took {took:?} to stop a {budget:?} budget");
    assert!(host.plugins().is_empty());
    // The host keeps working, and the name is free again.
    assert_host_works(&host).await;
    load(&host, Form::Wasm, "echo", "spin").await;
    assert_eq!(host.request("spin", "ping", mp(&1)).await.unwrap(), mp(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_load_that_never_returns_is_stopped_within_the_cpu_budget() {
    let budget = Duration::from_millis(200);
    let host = Host::builder().cpu_budget(budget).build().unwrap();
    let load_fn = r#"(func (export "wasp_load") (result i32) (loop $forever (br $forever)) (i32.const 0))"#;
    let bytes = wat(&format!("(module {MEMORY} {ALLOC} {DEALLOC} {HANDLE} {load_fn} (@custom \"wasp:abi\" \"1.0\"))"));
    let started = Instant::now();
    let err = host.load(Load::bytes(&bytes).named("spin")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded, "{err}");
    assert!(started.elapsed() < budget * 10);
    assert_host_works(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_load_returning_non_zero_fails_the_load_with_that_code() {
    let host = host();
    for (status, code) in [(3, ErrorCode::PermissionDenied), (12, ErrorCode::Unavailable), (4242, ErrorCode::Plugin)] {
        let load_fn = format!(r#"(func (export "wasp_load") (result i32) (i32.const {status}))"#);
        let bytes =
            wat(&format!("(module {MEMORY} {ALLOC} {DEALLOC} {HANDLE} {load_fn} (@custom \"wasp:abi\" \"1.0\"))"));
        let err = host.load(Load::bytes(&bytes).named("loadfail")).await.unwrap_err();
        assert!(matches!(err, Error::Runtime(wasp_runtime::Error::LoadFailed { .. })), "{err:?}");
        assert_eq!(err.code(), code, "status {status}: {err}");
        assert!(err.to_string().contains(&status.to_string()), "{err}");
        assert!(host.plugins().is_empty());
    }
    // `wasp_load` returning 0 loads.
    let load_fn = r#"(func (export "wasp_load") (result i32) (i32.const 0))"#;
    let bytes = wat(&format!("(module {MEMORY} {ALLOC} {DEALLOC} {HANDLE} {load_fn} (@custom \"wasp:abi\" \"1.0\"))"));
    host.load(Load::bytes(&bytes).named("loadok")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_that_is_not_valid_webassembly_is_refused() {
    let host = host();
    // Well-formed sections, but a function body of the wrong type.
    let bad = r#"(func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i64.const 0))"#;
    let err = refused(&host, "invalid", &module(&[MEMORY, ALLOC, DEALLOC, bad], Some("1.0"))).await;
    assert!(matches!(err, Error::Runtime(wasp_runtime::Error::Malformed { .. })), "{err:?}");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.to_string().contains("not valid WebAssembly"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abi_version_is_judged_before_webassembly_validation() {
    // docs/abi.md: "In this order: file size, the magic bytes, the `wasp:abi`
    // section, WebAssembly validation, then imports and exports". A plugin
    // for another ABI is refused for its version even when this host cannot
    // validate it.
    let host = host();
    let bad = r#"(func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i64.const 0))"#;
    let err = refused(&host, "future", &module(&[MEMORY, ALLOC, DEALLOC, bad], Some("2.0"))).await;
    assert_eq!(err.code(), ErrorCode::VersionMismatch, "{err}");
    let wording = format!("plugin requires ABI 2.0, host speaks {}", wasp_protocol::ApiVersion::CURRENT);
    assert!(err.to_string().contains(&wording), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_plugin_name_is_refused() {
    let host = host();
    load(&host, Form::Wasm, "echo", "echo").await;
    let err = host.load(Load::path(wasp_fixtures::wasm_plugin("echo")).named("echo")).await.unwrap_err();
    assert!(matches!(&err, Error::AlreadyLoaded(name) if name == "echo"), "{err:?}");
    assert!(err.to_string().contains("`echo`"), "{err}");
    let err = host.load(Load::in_process(wasp_example_echo::Echo::default).named("echo")).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyLoaded(_)), "{err:?}");
    // The first one is untouched.
    assert_eq!(host.plugins().len(), 1);
    assert_eq!(host.request("echo", "ping", mp(&"one")).await.unwrap(), mp(&"one"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_plugin_names_are_refused() {
    let host = host();
    let bytes = wasp_fixtures::wasm_bytes("echo");
    let long = "a".repeat(65);
    for name in ["", "Echo", "has space", "a/b", "host", "é", long.as_str()] {
        let err = host.load(Load::bytes(&bytes).named(name)).await.unwrap_err();
        assert!(matches!(&err, Error::InvalidName { name: n, .. } if n == name), "{name:?}: {err:?}");
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.to_string().contains("invalid plugin name"), "{err}");
        let err = host.load(Load::in_process(wasp_example_echo::Echo::default).named(name)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err:?}");
    }
    assert!(host.plugins().is_empty());
    // The longest and the oddest valid names load.
    let longest = "a".repeat(64);
    for name in [longest.as_str(), "a-b_c.d9"] {
        host.load(Load::bytes(&bytes).named(name)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonexistent_path_is_an_io_error() {
    let host = host();
    let path = std::env::temp_dir().join(format!("wasp-no-such-dir-{}/ghost.wasm", std::process::id()));
    let err = host.load(&path).await.unwrap_err();
    let Error::Runtime(wasp_runtime::Error::Io { path: p, source }) = &err else { panic!("{err:?}") };
    assert_eq!(p, &path);
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert!(err.to_string().contains("ghost.wasm"), "{err}");
    assert!(host.plugins().is_empty());
}

#[cfg(feature = "native")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_on_load_says_why_in_every_form() {
    // The default policy grants nothing: `counter`'s `on_load` cannot
    // subscribe. The SDK logs the error before it returns the status; the
    // host reports that line even though `log` is not granted either.
    for form in FORMS {
        let host = Host::builder().build().unwrap();
        let bundle = match form {
            Form::Wasm => wasp_fixtures::wasm_bundle("counter"),
            Form::Native => wasp_fixtures::native_bundle("counter"),
            Form::InProcess => {
                let m = crate::common::manifest("counter", "counter");
                let err = host
                    .load(Load::in_process(wasp_example_counter::Counter::default).described_by(m))
                    .await
                    .unwrap_err();
                assert!(err.to_string().contains("lacks the permission `subscribe:counter.reset`"), "{err}");
                continue;
            }
        };
        let err = host.load(&bundle).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{form:?}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("status 3: ") && text.contains("lacks the permission `subscribe:counter.reset`"),
            "{form:?}: {text}"
        );
    }
}

#[cfg(feature = "native")]
/// `Host::prepare` compiles once; `Load::prepared` starts copies that
/// keep their own state, in both forms that have files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_plugin_starts_as_many_independent_copies() {
    let cache = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .request_timeout(Duration::from_secs(10))
        .policy(wasp_actors::Policy::new().trust("*").unwrap())
        .module_cache(cache.path())
        .build()
        .unwrap();
    let wasm = std::fs::read(wasp_fixtures::wasm_plugin("counter")).unwrap();
    let native = std::fs::read(wasp_fixtures::native_library("counter")).unwrap();
    for (form, bytes, kind) in
        [("wasm", wasm, wasp_actors::ManifestKind::Wasm), ("native", native, wasp_actors::ManifestKind::Native)]
    {
        let mut m = crate::common::manifest("counter", &format!("{form}-template"));
        m.kind = kind;
        let prepared = host.prepare(&m, &bytes).await.unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(prepared.kind(), form);
        assert_eq!(prepared.abi_version(), Some(ApiVersion::CURRENT));
        let stats = host.module_cache().unwrap().stats();
        for i in 1..=3u64 {
            let mut copy = m.clone();
            copy.name = format!("{form}-{i}");
            let started = host.load(Load::prepared(&prepared).described_by(copy)).await.unwrap();
            assert_eq!(started.kind(), form);
            // Copy i adds i once: each has its own state.
            let got: u64 = host.call(&format!("{form}-{i}"), "add", &i).await.unwrap();
            assert_eq!(got, i, "{form}-{i}");
        }
        for i in 1..=3u64 {
            let got: u64 = host.call(&format!("{form}-{i}"), "get", &()).await.unwrap();
            assert_eq!(got, i, "{form}-{i} kept its own count");
        }
        // Starting copies touched neither the compiler nor the cache.
        assert_eq!(host.module_cache().unwrap().stats(), stats, "{form}");
        // A name in use is refused, as for any load.
        let mut again = m.clone();
        again.name = format!("{form}-1");
        assert!(matches!(host.load(Load::prepared(&prepared).described_by(again)).await, Err(Error::AlreadyLoaded(_))));
        // The manifest must say what was prepared.
        let mut wrong = m.clone();
        wrong.name = format!("{form}-wrong");
        wrong.kind = if kind == wasp_actors::ManifestKind::Wasm {
            wasp_actors::ManifestKind::Native
        } else {
            wasp_actors::ManifestKind::Wasm
        };
        let err = host.load(Load::prepared(&prepared).described_by(wrong)).await.unwrap_err();
        assert!(err.to_string().contains("prepared plugin is"), "{err}");
    }
    assert_eq!(host.plugins().len(), 6);
    // Bad bytes are refused by `prepare` as by any load, and audited.
    let mut m = wasp_actors::Manifest::new("garbage").unwrap();
    // `Manifest::new` describes an in-process plugin, which has no bytes.
    let err = host.prepare(&m, b"").await.unwrap_err();
    assert!(err.to_string().contains("in-process"), "{err}");
    m.kind = wasp_actors::ManifestKind::Wasm;
    let err = host.prepare(&m, b"\0asm\x01\0\0\0garbage").await.unwrap_err();
    assert!(err.to_string().contains("not valid WebAssembly"), "{err}");
    assert!(
        host.audit_log()
            .iter()
            .any(|e| e.plugin == "garbage" && matches!(e.kind, wasp_actors::AuditKind::LoadRefused { .. }))
    );
    host.shutdown().await;
}
