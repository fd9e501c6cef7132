//! Attacks with the files of a bundle: an `entry` or a `plugin.toml` that
//! is a FIFO (a reader would wait for a writer forever), an entry far over
//! the size limit, a module too slow to compile. Each is refused with an
//! error naming the file and why, quickly, and the bundles beside it load.

use std::path::Path;
use std::time::{Duration, Instant};

use wasp_actors::{AuditKind, Error, Limits, Load};
use wasp_protocol::ErrorCode;

#[cfg(unix)]
use super::assert_echo_answers;
use super::{host_with, logged};
use crate::common::bundle_copy;

/// A bundle folder `dir/name` whose `plugin.toml` names `entry`.
fn bundle(dir: &Path, name: &str, entry: &str) -> std::path::PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let manifest = format!("name = \"{name}\"\nversion = \"0.1.0\"\napi = \"1.0\"\nentry = \"{entry}\"\n");
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    folder
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// The runtime error inside a host error (panics on any other).
fn runtime(err: &Error) -> &wasp_runtime::Error {
    match err {
        Error::Runtime(e) => e,
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_entry_fails_at_once_and_the_bundles_beside_it_load() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = bundle(dir.path(), "stuck", "stuck.wasm");
    mkfifo(&fifo.join("stuck.wasm"));
    let paths = [bundle_copy("echo", dir.path()), fifo, bundle_copy("counter", dir.path())];
    let host = host_with(Limits::default());
    let started = Instant::now();
    let outcomes = tokio::time::timeout(Duration::from_secs(10), host.load_all(&paths))
        .await
        .expect("load_all returns although one entry is a FIFO nobody writes to");
    assert!(started.elapsed() < Duration::from_secs(2), "load_all took {:?}", started.elapsed());
    assert_eq!(outcomes[0].1.as_ref().map(|p| p.name()).ok(), Some("echo"), "{:?}", outcomes[0].1);
    assert_eq!(outcomes[2].1.as_ref().map(|p| p.name()).ok(), Some("counter"), "{:?}", outcomes[2].1);
    let err = outcomes[1].1.as_ref().expect_err("a FIFO entry is refused");
    assert!(
        matches!(runtime(err), wasp_runtime::Error::NotRegularFile { found: "a FIFO (named pipe)", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("stuck.wasm` is a FIFO (named pipe), not a regular file"), "{err}");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_echo_answers(&host, "after a FIFO bundle").await;
    // A plain `load` of it fails the same way, at once.
    let err = tokio::time::timeout(Duration::from_secs(2), host.load(&paths[1])).await.expect("load returns");
    assert!(matches!(err, Err(Error::Runtime(wasp_runtime::Error::NotRegularFile { .. }))), "{err:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_manifest_is_refused_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("pipe");
    std::fs::create_dir_all(&folder).unwrap();
    mkfifo(&folder.join("plugin.toml"));
    let host = host_with(Limits::default());
    let err = tokio::time::timeout(Duration::from_secs(2), host.load(&folder))
        .await
        .expect("load returns although plugin.toml is a FIFO")
        .expect_err("a FIFO manifest is refused");
    assert!(matches!(err, Error::Manifest(_)), "{err:?}");
    assert!(err.to_string().contains("plugin.toml` is a FIFO (named pipe), not a regular file"), "{err}");
    // A manifest that is a directory is refused the same way.
    let folder = dir.path().join("dir");
    std::fs::create_dir_all(folder.join("plugin.toml")).unwrap();
    let err = host.load(&folder).await.expect_err("a directory is no manifest");
    assert!(err.to_string().contains("is a directory, not a regular file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_over_the_size_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let folder = bundle(dir.path(), "huge", "huge.wasm");
    // 256 MiB, sparse: costs no disk, and would cost 256 MiB of memory read.
    let file = std::fs::File::create(folder.join("huge.wasm")).unwrap();
    file.set_len(256 << 20).unwrap();
    drop(file);
    let host = host_with(Limits::default());
    let started = Instant::now();
    let err = host.load(&folder).await.expect_err("a 256 MiB module is refused");
    // Reading 256 MiB of zeros and then refusing it takes longer than this.
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
    match runtime(&err) {
        wasp_runtime::Error::FileTooLarge { size, limit, limit_name, .. } => {
            assert_eq!((*size, *limit, *limit_name), (256 << 20, 32 << 20, "max_module_size"));
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("is 268435456 bytes, over the limit `max_module_size` of 33554432 bytes"));
    assert_eq!(err.code(), ErrorCode::TooLarge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_slower_to_compile_than_the_load_timeout_is_refused_and_audited() {
    // 20,000 functions compile in far more than a millisecond.
    let funcs = "(func (result i32) i32.const 1 i32.const 2 i32.add)".repeat(20_000);
    let bytes = wat::parse_str(format!(
        "(module {funcs} (@custom \"wasp:abi\" \"1.0\") (memory (export \"memory\") 1) \
         (func (export \"wasp_alloc\") (param i32) (result i32) i32.const 1024) \
         (func (export \"wasp_dealloc\") (param i32 i32)) \
         (func (export \"wasp_handle\") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0))"
    ))
    .unwrap();
    let host = wasp_actors::Host::builder()
        .limits(Limits { load_timeout: Duration::from_millis(1), ..Limits::default() })
        .no_module_cache()
        .build()
        .unwrap();
    let err = host.load(Load::bytes(&bytes).named("slow")).await.expect_err("compiling takes longer than 1 ms");
    assert!(matches!(runtime(&err), wasp_runtime::Error::LoadTimedOut { .. }), "{err:?}");
    assert!(err.to_string().contains("(the limit `load_timeout`)"), "{err}");
    assert_eq!(err.code(), ErrorCode::Timeout);
    let refused = logged(&host, "slow", |k| matches!(k, AuditKind::LoadRefused { code: ErrorCode::Timeout }));
    assert_eq!(refused.len(), 1, "{:?}", host.audit_log());
}
