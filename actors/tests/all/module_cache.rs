//! The on-disk module cache: a hit does not compile, a bad entry is found,
//! deleted and rebuilt, a cache that cannot be written costs nothing but
//! speed, and `Host::load_all` loads several plugins at once.
//!
//! Every test gives its hosts their own cache folder, so the counters it
//! reads are its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasp_actors::{CacheStats, Host, Load, Policy};

use crate::common::{mp, wat};

fn host_with(cache: &Path, debug: bool) -> Host {
    Host::builder()
        .request_timeout(Duration::from_secs(10))
        .policy(Policy::new().trust("*").expect("valid rule"))
        .module_cache(cache)
        .debug(debug)
        .build()
        .expect("host builds")
}

fn stats(host: &Host) -> CacheStats {
    host.module_cache().expect("the host has a module cache").stats()
}

/// The files in a cache folder, sorted (temporary files included: a test
/// that expects none sees them).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = read.map(|e| e.expect("readable entry").path()).collect();
    found.sort();
    found
}

/// One cache entry: its header and the artifact it describes.
#[derive(Debug, Clone)]
struct Entry {
    header: PathBuf,
    artifact: PathBuf,
}

impl Entry {
    /// The one entry in `dir`.
    fn only_one_in(dir: &Path) -> Entry {
        let found = entries(dir);
        let [artifact, header] = found.as_slice() else { panic!("expected one entry, found {found:?}") };
        assert_eq!(artifact.extension().unwrap(), "cwasm", "{found:?}");
        assert_eq!(header.extension().unwrap(), "wasp-module", "{found:?}");
        assert_eq!(artifact.file_stem(), header.file_stem(), "{found:?}");
        Entry { header: header.clone(), artifact: artifact.clone() }
    }

    fn files(&self) -> [&PathBuf; 2] {
        [&self.artifact, &self.header]
    }
}

/// Loads the echo example from its bundle and checks that it answers.
async fn load_echo(host: &Host) {
    host.load(wasp_fixtures::wasm_bundle("echo")).await.expect("echo loads");
    let payload = mp(&"ping");
    assert_eq!(host.request("echo", "ping", payload.clone()).await.expect("echo answers"), payload);
}

/// A cache folder holding the one entry a load of echo wrote; returns it.
async fn primed(dir: &Path) -> Entry {
    let host = host_with(dir, false);
    load_echo(&host).await;
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.writes, s.rejected), (0, 1, 1, 0), "{s:?}");
    host.shutdown().await;
    Entry::only_one_in(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_load_comes_from_the_cache_without_compiling() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = primed(tmp.path()).await;
    let modified = || entry.files().map(|f| std::fs::metadata(f).unwrap().modified().unwrap());
    let before = modified();
    std::thread::sleep(Duration::from_millis(20));
    let host = host_with(tmp.path(), false);
    load_echo(&host).await;
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.writes, s.rejected), (1, 0, 0, 0), "{s:?}");
    // Nothing was rewritten.
    assert_eq!(modified(), before);
    assert_eq!(entries(tmp.path()), entry.files().map(Clone::clone).to_vec());
    // A second plugin of the same bytes in the same host shares the module
    // the first one runs: neither compiled nor read again.
    host.load(Load::path(wasp_fixtures::wasm_bundle("echo")).named("echo2")).await.unwrap();
    let s = stats(&host);
    assert_eq!((s.hits, s.misses), (1, 0), "{s:?}");
    host.shutdown().await;
}

/// Which file of an entry a test damages.
#[derive(Debug, Clone, Copy)]
enum Part {
    Header,
    Artifact,
}

/// Loads echo with one file of its entry damaged in place: the entry is
/// rejected, the plugin compiled, answers, and the entry is whole again.
async fn damaged_entry_is_rebuilt(part: Part, damage: impl FnOnce(&mut Vec<u8>)) {
    let tmp = tempfile::tempdir().unwrap();
    let entry = primed(tmp.path()).await;
    let good = entry.files().map(|f| std::fs::read(f).unwrap());
    let file = match part {
        Part::Header => &entry.header,
        Part::Artifact => &entry.artifact,
    };
    let mut bad = std::fs::read(file).unwrap();
    damage(&mut bad);
    std::fs::write(file, &bad).unwrap();
    let host = host_with(tmp.path(), false);
    load_echo(&host).await;
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.rejected, s.writes), (0, 1, 1, 1), "{part:?}: {s:?}");
    assert_eq!(entry.files().map(|f| std::fs::read(f).unwrap()), good, "the entry was rebuilt");
    // And the rebuilt entry is used by the next host.
    let next = host_with(tmp.path(), false);
    load_echo(&next).await;
    assert_eq!(stats(&next).hits, 1);
    host.shutdown().await;
    next.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_entry_is_detected_and_rebuilt() {
    damaged_entry_is_rebuilt(Part::Artifact, |bytes| bytes.truncate(bytes.len() / 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_cut_inside_its_header_is_detected_and_rebuilt() {
    damaged_entry_is_rebuilt(Part::Header, |bytes| bytes.truncate(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_entry_is_detected_and_rebuilt() {
    // One bit flipped in the machine code's file, near its end.
    damaged_entry_is_rebuilt(Part::Artifact, |bytes| {
        let at = bytes.len() - 100;
        bytes[at] ^= 0x40;
    })
    .await;
    // One bit flipped in the checksum the header keeps (its last bytes).
    damaged_entry_is_rebuilt(Part::Header, |bytes| {
        let at = bytes.len() - 1;
        bytes[at] ^= 0x01;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_entry_is_detected_and_rebuilt() {
    damaged_entry_is_rebuilt(Part::Header, Vec::clear).await;
    damaged_entry_is_rebuilt(Part::Artifact, Vec::clear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_missing_one_of_its_files_is_rebuilt() {
    // Without its artifact, a header is a bad entry: rejected and rebuilt.
    let tmp = tempfile::tempdir().unwrap();
    let entry = primed(tmp.path()).await;
    std::fs::remove_file(&entry.artifact).unwrap();
    let host = host_with(tmp.path(), false);
    load_echo(&host).await;
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.rejected, s.writes), (0, 1, 1, 1), "{s:?}");
    host.shutdown().await;
    // Without its header, an artifact is never looked at: a plain miss,
    // and the new entry replaces it.
    std::fs::remove_file(&entry.header).unwrap();
    let host = host_with(tmp.path(), false);
    load_echo(&host).await;
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.rejected, s.writes), (0, 1, 0, 1), "{s:?}");
    host.shutdown().await;
    let again = Entry::only_one_in(tmp.path());
    assert_eq!(again.files(), entry.files());
}

// The other settings are debug mode's, which needs the `debugger` feature.
#[cfg(feature = "debugger")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_from_an_engine_with_other_settings_is_stale_and_rebuilt() {
    // The same module compiled in debug mode (other code generation
    // settings) is put where the optimizing engine looks for its entry.
    let normal = tempfile::tempdir().unwrap();
    let debug = tempfile::tempdir().unwrap();
    let entry = primed(normal.path()).await;
    let good = entry.files().map(|f| std::fs::read(f).unwrap());
    let host = host_with(debug.path(), true);
    load_echo(&host).await;
    host.shutdown().await;
    let debug_entry = Entry::only_one_in(debug.path());
    assert_ne!(debug_entry.header.file_name(), entry.header.file_name(), "debug mode is part of the key");
    for (from, to) in debug_entry.files().into_iter().zip(entry.files()) {
        std::fs::copy(from, to).unwrap();
    }

    let host = host_with(normal.path(), false);
    load_echo(&host).await;
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.rejected, s.writes), (0, 1, 1, 1), "{s:?}");
    assert_eq!(entry.files().map(|f| std::fs::read(f).unwrap()), good);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_cache_folder_costs_only_the_speed_up() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder inside a regular file cannot be created (even by root).
    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let host = host_with(&file.join("modules"), false);
    load_echo(&host).await;
    host.unload("echo").await.unwrap();
    // Nothing runs the module now: it is compiled again, and again not
    // written.
    host.load(wasp_fixtures::wasm_bundle("echo")).await.expect("loads again");
    let s = stats(&host);
    assert_eq!((s.hits, s.misses, s.writes, s.write_failures), (0, 2, 0, 2), "{s:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_loading_the_same_module_at_once_share_one_whole_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts: Vec<Host> = (0..4).map(|_| host_with(tmp.path(), false)).collect();
    let tasks: Vec<_> = hosts
        .iter()
        .map(|host| {
            let host = host.clone();
            tokio::spawn(async move { load_echo(&host).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("load task");
    }
    // One entry and no temporary files left.
    Entry::only_one_in(tmp.path());
    let written: u64 = hosts.iter().map(|h| stats(h).writes).sum();
    assert!(written >= 1, "{written}");
    assert!(hosts.iter().all(|h| stats(h).rejected == 0));
    let next = host_with(tmp.path(), false);
    load_echo(&next).await;
    assert_eq!(stats(&next).hits, 1, "the entry left behind is whole");
    for host in hosts.into_iter().chain([next]) {
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_module_leaves_no_entry_and_is_refused_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    // Valid WebAssembly, but not a wasp plugin (no ABI section, no exports).
    let bytes = wat("(module (memory (export \"memory\") 1))");
    for _ in 0..2 {
        let host = host_with(tmp.path(), false);
        assert!(host.load(Load::bytes(&bytes).named("bare")).await.is_err());
        assert_eq!(stats(&host).writes, 0);
        host.shutdown().await;
    }
    assert!(entries(tmp.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_a_cache_writes_nothing() {
    let host = Host::builder().no_module_cache().build().unwrap();
    assert!(host.module_cache().is_none());
    load_echo(&host).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_all_loads_in_parallel_and_answers_in_the_order_given() {
    let tmp = tempfile::tempdir().unwrap();
    let host = host_with(tmp.path(), false);
    let missing = tmp.path().join("no-such-plugin");
    let paths = vec![wasp_fixtures::wasm_bundle("echo"), missing.clone(), wasp_fixtures::wasm_bundle("counter")];
    let outcomes = host.load_all(&paths).await;
    let order: Vec<&Path> = outcomes.iter().map(|(p, _)| p.as_path()).collect();
    assert_eq!(order, paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!(outcomes[0].1.as_ref().map(|p| p.name().to_owned()).unwrap(), "echo");
    assert!(outcomes[1].1.is_err());
    assert_eq!(outcomes[2].1.as_ref().map(|p| p.name().to_owned()).unwrap(), "counter");
    let payload = mp(&"ping");
    assert_eq!(host.request("echo", "ping", payload.clone()).await.unwrap(), payload);
    assert_eq!(stats(&host).misses, 2);
    // Loading the same plugins again: each is already loaded.
    let again = host.load_all(&paths[..1]).await;
    assert!(matches!(again[0].1, Err(wasp_actors::Error::AlreadyLoaded(_))), "{:?}", again[0].1);
    // A second host loads them from the cache.
    let next = host_with(tmp.path(), false);
    let outcomes = next.load_all([&paths[0], &paths[2]]).await;
    assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
    assert_eq!((stats(&next).hits, stats(&next).misses), (2, 0));
    host.shutdown().await;
    next.shutdown().await;
}
