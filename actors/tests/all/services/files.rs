//! Files through WASI, through `journal` (a `wasm32-wasip1` module): only
//! granted directories are reachable, read-only or read-write as granted,
//! and grant changes keep every other directory where WASI libc expects it.

use std::path::Path;

use wasp_actors::{AuditKind, Host, Load, Manifest, Permission, PluginRef};
use wasp_example_journal::{Entry, FILE_NAME, WriteFile};
use wasp_protocol::{ErrorCode, WireError};

use crate::common::audit_where;

use super::{data_host, perm, unix_now};

fn journal_manifest() -> Manifest {
    Manifest::from_file(&wasp_fixtures::manifest_path("journal")).expect("journal manifest parses")
}

/// Loads `journal` with its manifest's permissions and `extra` ones.
async fn load_journal(host: &Host, extra: &[Permission]) -> PluginRef {
    let manifest = journal_manifest().permissions(extra.iter().cloned());
    host.load(Load::bytes(wasp_fixtures::wasm_bytes("journal")).described_by(manifest)).await.expect("journal loads")
}

fn fs_read(dir: &Path) -> Permission {
    Permission::FsRead(dir.to_str().expect("UTF-8 temp path").to_owned())
}

/// The path the plugin sees for a granted host directory (`/C:/…` on Windows).
fn seen(dir: &Path) -> String {
    wasp_runtime::services::guest_dir(dir.to_str().expect("UTF-8 temp path"))
}

async fn journal<R: serde::de::DeserializeOwned>(host: &Host, topic: &str, value: &str) -> Result<R, WireError> {
    host.call("journal", topic, value).await
}

async fn write_file(host: &Host, path: &str, text: &str) -> Result<(), WireError> {
    host.call("journal", "write_file", &WriteFile { path: path.into(), text: text.into() }).await
}

/// Asserts a file operation failed inside the plugin, which named `path`.
fn assert_refused(result: Result<impl std::fmt::Debug, WireError>, path: &str) {
    let err = result.expect_err("the file operation fails");
    assert_eq!(err.code, ErrorCode::Plugin, "{err}");
    assert!(err.message.contains(&format!("`{path}`")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_appends_and_reads_back_under_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let host = data_host(dir.path());
    let loaded = host.load(wasp_fixtures::wasm_bundle("journal")).await.expect("the wasip1 module loads");
    assert_eq!(loaded.granted(), [perm("fs.write:$DATA"), perm("clock")]);
    let empty: Vec<Entry> = host.call("journal", "read", &()).await.unwrap();
    assert!(empty.is_empty());
    assert_eq!(journal::<u64>(&host, "append", "woke up").await.unwrap(), 1);
    assert_eq!(journal::<u64>(&host, "append", "had tea").await.unwrap(), 2);
    let entries: Vec<Entry> = host.call("journal", "read", &()).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["woke up", "had tea"]);
    let skew = (unix_now().as_millis() as i128 - i128::from(entries[0].at_ms)).abs();
    assert!(skew < 5_000, "stamped {} ms, {skew} ms off (WASI clock)", entries[0].at_ms);

    let on_disk = std::fs::read_to_string(dir.path().join("plugins/journal").join(FILE_NAME)).unwrap();
    assert_eq!(on_disk.lines().count(), 2, "{on_disk}");
    assert!(on_disk.ends_with(" had tea\n"), "{on_disk}");
    let listed: Vec<String> = journal(&host, "list", "/data").await.unwrap();
    assert_eq!(listed, [FILE_NAME]);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_directory_can_be_read_but_not_written() {
    let (dir, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(shared.path().join("readme.txt"), "look, don't touch").unwrap();
    let host = data_host(dir.path());
    load_journal(&host, &[fs_read(shared.path())]).await;
    let root = &seen(shared.path());
    let listed: Vec<String> = journal(&host, "list", root).await.unwrap();
    assert_eq!(listed, ["readme.txt"]);
    let readme = format!("{root}/readme.txt");
    assert_eq!(journal::<String>(&host, "read_file", &readme).await.unwrap(), "look, don't touch");

    assert_refused(write_file(&host, &readme, "touched").await, &readme);
    let new = format!("{root}/new.txt");
    assert_refused(write_file(&host, &new, "hello").await, &new);
    assert_eq!(std::fs::read_to_string(shared.path().join("readme.txt")).unwrap(), "look, don't touch");
    assert!(!shared.path().join("new.txt").exists());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_granted_directories_are_refused() {
    let (dir, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(elsewhere.path().join("secret.txt"), "mine").unwrap();
    let host = data_host(dir.path());
    load_journal(&host, &[]).await;
    let outside = elsewhere.path().to_str().unwrap();
    let secret = format!("{outside}/secret.txt");
    assert_refused(journal::<String>(&host, "read_file", &secret).await, &secret);
    assert_refused(journal::<Vec<String>>(&host, "list", outside).await, outside);
    let planted = format!("{outside}/planted.txt");
    assert_refused(write_file(&host, &planted, "x").await, &planted);
    assert!(!elsewhere.path().join("planted.txt").exists());
    // `..` does not climb out of the data directory.
    assert_refused(write_file(&host, "/data/../escaped.txt", "x").await, "/data/../escaped.txt");
    assert!(!dir.path().join("plugins/escaped.txt").exists());
    assert_refused(journal::<String>(&host, "read_file", "/etc/passwd").await, "/etc/passwd");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_fs_write_stops_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let host = data_host(dir.path());
    load_journal(&host, &[]).await;
    let mut audit = host.audit_events();
    assert_eq!(journal::<u64>(&host, "append", "before").await.unwrap(), 1);
    host.revoke("journal", "fs.write:$DATA").await.unwrap();
    audit_where(&mut audit, |e| {
        e.plugin == "journal" && e.kind == AuditKind::Revoked { permission: perm("fs.write:$DATA"), by: "host".into() }
    })
    .await;
    assert_refused(journal::<u64>(&host, "append", "after").await, wasp_example_journal::JOURNAL);
    let on_disk = std::fs::read_to_string(dir.path().join("plugins/journal").join(FILE_NAME)).unwrap();
    assert_eq!(on_disk.lines().count(), 1, "{on_disk}");
    host.shutdown().await;
}

// The guest's libc reads the table of preopened directories once and keeps
// it; these two hold as long as a directory keeps its place in that table
// when others come and go.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_one_directory_leaves_the_others_where_they_were() {
    let (dir, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(shared.path().join("readme.txt"), "shared").unwrap();
    let host = data_host(dir.path());
    load_journal(&host, &[fs_read(shared.path())]).await;
    let root = &seen(shared.path());
    assert_eq!(journal::<Vec<String>>(&host, "list", root).await.unwrap(), ["readme.txt"]);
    assert_eq!(journal::<u64>(&host, "append", "before").await.unwrap(), 1);
    host.revoke("journal", &fs_read(shared.path()).to_string()).await.unwrap();
    // The revoked directory is replaced by an empty, read-only one
    // (docs/abi.md §11): its files are gone, and its path leads nowhere else.
    assert_eq!(journal::<Vec<String>>(&host, "list", root).await.unwrap(), Vec::<String>::new());
    let readme = format!("{root}/readme.txt");
    assert_refused(journal::<String>(&host, "read_file", &readme).await, &readme);
    let stray = format!("{root}/stray.txt");
    assert_refused(write_file(&host, &stray, "x").await, &stray);
    assert!(!dir.path().join("plugins/journal/stray.txt").exists(), "the write landed in the data directory");
    // The data directory still works.
    assert_eq!(journal::<u64>(&host, "append", "after").await.unwrap(), 2);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_granted_at_run_time_appears_at_the_next_restart_and_the_others_stay() {
    let (dir, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(shared.path().join("readme.txt"), "shared").unwrap();
    let host = data_host(dir.path());
    load_journal(&host, &[]).await;
    assert_eq!(journal::<u64>(&host, "append", "before").await.unwrap(), 1);
    let root = &seen(shared.path());
    host.grant("journal", &fs_read(shared.path()).to_string()).await.unwrap();
    // WASI libc read its table of directories once: the new one is not in it
    // yet (docs/abi.md §11), and nothing else moved.
    assert_eq!(journal::<u64>(&host, "append", "after").await.unwrap(), 2, "/data is still the data directory");
    let err = journal::<Vec<String>>(&host, "list", root).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Plugin, "{err}");
    host.restart("journal").await.unwrap();
    assert_eq!(journal::<Vec<String>>(&host, "list", root).await.unwrap(), ["readme.txt"]);
    assert_eq!(journal::<u64>(&host, "append", "after the restart").await.unwrap(), 3);
    host.shutdown().await;
}
