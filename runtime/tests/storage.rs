//! The host's database: plugin key-value stores and permission decisions.
//!
//! These tests need no wasm engine, only a temporary directory each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread;

use proptest::prelude::*;
use wasp_protocol::services::MAX_KEY_LEN;
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::services::storage::{ENTRY_OVERHEAD, Storage, StorageError, entry_size};

const QUOTA: u64 = 1 << 20;

/// What an entry of plugin `p` with `key` and a value of `len` bytes counts.
fn e(key: &str, len: usize) -> u64 {
    entry_size("p", key, &vec![0; len])
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("wasp.redb");
    (dir, path)
}

fn open(path: &Path) -> Storage {
    Storage::open(path).expect("open the storage database")
}

fn all_keys(storage: &Storage, plugin: &str) -> Vec<String> {
    storage.list(plugin, "", usize::MAX).expect("list")
}

#[test]
fn set_get_delete_list_and_usage_round_trip() {
    let (_dir, path) = temp_db();
    let storage = open(&path);
    assert_eq!(storage.path(), path);

    assert_eq!(storage.get("p", "missing").unwrap(), None);
    assert_eq!(storage.usage("p").unwrap(), 0);
    assert!(all_keys(&storage, "p").is_empty());

    storage.set("p", "user.name", b"ada", QUOTA).unwrap();
    storage.set("p", "user.age", b"36", QUOTA).unwrap();
    storage.set("p", "theme", b"dark", QUOTA).unwrap();
    assert_eq!(storage.get("p", "user.name").unwrap(), Some(b"ada".to_vec()));
    assert_eq!(storage.usage("p").unwrap(), e("user.name", 3) + e("user.age", 2) + e("theme", 4));

    assert_eq!(all_keys(&storage, "p"), ["theme", "user.age", "user.name"]);
    assert_eq!(storage.list("p", "user.", 10).unwrap(), ["user.age", "user.name"]);
    assert_eq!(storage.list("p", "user.", 1).unwrap(), ["user.age"]);
    assert!(storage.list("p", "user.", 0).unwrap().is_empty());
    assert!(storage.list("p", "zzz", 10).unwrap().is_empty());

    // Replacing a key counts only the difference.
    storage.set("p", "user.name", b"ada lovelace", QUOTA).unwrap();
    assert_eq!(storage.usage("p").unwrap(), e("user.name", 12) + e("user.age", 2) + e("theme", 4));
    storage.set("p", "user.name", b"", QUOTA).unwrap();
    assert_eq!(storage.get("p", "user.name").unwrap(), Some(Vec::new()));
    assert_eq!(storage.usage("p").unwrap(), e("user.name", 0) + e("user.age", 2) + e("theme", 4));

    // Deleting frees the key and its value.
    assert!(storage.delete("p", "user.age").unwrap());
    assert!(!storage.delete("p", "user.age").unwrap());
    assert_eq!(storage.get("p", "user.age").unwrap(), None);
    assert_eq!(storage.usage("p").unwrap(), e("user.name", 0) + e("theme", 4));

    storage.clear("p").unwrap();
    assert!(all_keys(&storage, "p").is_empty());
    assert_eq!(storage.usage("p").unwrap(), 0);
    assert_eq!(storage.get("p", "theme").unwrap(), None);
}

#[test]
fn data_and_decisions_survive_reopening() {
    let (dir, _) = temp_db();
    // A path whose directories do not exist yet.
    let path = dir.path().join("app").join("data").join("wasp.redb");
    {
        let storage = open(&path);
        let clone = storage.clone();
        storage.set("notes", "draft", b"hello", QUOTA).unwrap();
        clone.set("notes", "title", b"t", QUOTA).unwrap();
        storage.record_decision("notes", A, "net:example.com", true).unwrap();
        storage.record_decision("notes", A, "fs.read:/etc", false).unwrap();
        storage.record_decision("notes", A, "clock", false).unwrap();
        storage.record_decision("notes", A, "clock", true).unwrap(); // replaces
        storage.record_decision("notes", B, "clock", false).unwrap(); // another identity of `notes`
        storage.record_identity("notes", B).unwrap();
        storage.record_decision("other", A, "random", true).unwrap();
        // Both handles dropped here, closing the file.
    }
    let storage = open(&path);
    assert_eq!(storage.get("notes", "draft").unwrap(), Some(b"hello".to_vec()));
    assert_eq!(all_keys(&storage, "notes"), ["draft", "title"]);
    let n = |key: &str, value: &[u8]| entry_size("notes", key, value);
    assert_eq!(storage.usage("notes").unwrap(), n("draft", b"hello") + n("title", b"t"));
    assert_eq!(
        storage.decisions("notes", A).unwrap(),
        [("clock".to_string(), true), ("fs.read:/etc".to_string(), false), ("net:example.com".to_string(), true)]
    );
    assert_eq!(storage.decisions("notes", B).unwrap(), [("clock".to_string(), false)]);
    assert_eq!(storage.identity("notes").unwrap().as_deref(), Some(B));
    assert_eq!(storage.identity("other").unwrap(), None);

    storage.forget_decisions("notes").unwrap();
    assert!(storage.decisions("notes", A).unwrap().is_empty());
    assert!(storage.decisions("notes", B).unwrap().is_empty());
    assert_eq!(storage.identity("notes").unwrap(), None);
    assert_eq!(storage.decisions("other", A).unwrap(), [("random".to_string(), true)]);
    // Forgetting decisions leaves the data; clearing the data leaves decisions.
    assert_eq!(storage.get("notes", "draft").unwrap(), Some(b"hello".to_vec()));
    storage.clear("other").unwrap();
    assert_eq!(storage.decisions("other", A).unwrap(), [("random".to_string(), true)]);
}

/// Two identities of one plugin (`Identity::key`).
const A: &str = "blake3:aaaa";
const B: &str = "blake3:bbbb";

#[test]
fn a_second_open_of_the_same_file_is_refused_while_the_first_lives() {
    let (_dir, path) = temp_db();
    let storage = open(&path);
    let err = Storage::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::AlreadyOpen { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    drop(storage);
    open(&path);
}

#[test]
fn plugins_never_see_each_others_keys() {
    let (_dir, path) = temp_db();
    let storage = open(&path);
    // "a" is a prefix of "ab", and "a\0" sorts between them.
    let plugins = ["a", "ab", "a\0", "a\u{10ffff}", "b"];
    let keys = ["k", "b", "bk", "\0", "\0\0", "\u{ffff}", "\u{10ffff}", "a\0b", "\n\t`"];
    for (i, plugin) in plugins.iter().enumerate() {
        for key in keys {
            storage.set(plugin, key, format!("{plugin}/{key}").as_bytes(), QUOTA).unwrap();
        }
        storage.set(plugin, &format!("only-{i}"), b"", QUOTA).unwrap();
    }
    for (i, plugin) in plugins.iter().enumerate() {
        for key in keys {
            assert_eq!(storage.get(plugin, key).unwrap(), Some(format!("{plugin}/{key}").into_bytes()));
        }
        let mut expected: Vec<String> = keys.iter().map(ToString::to_string).collect();
        expected.push(format!("only-{i}"));
        expected.sort();
        assert_eq!(all_keys(&storage, plugin), expected, "plugin {plugin:?}");
        for (j, other) in plugins.iter().enumerate() {
            if i != j {
                assert_eq!(storage.get(plugin, &format!("only-{j}")).unwrap(), None);
                assert!(storage.list(plugin, "only-", 100).unwrap() == [format!("only-{i}")]);
                assert!(!storage.delete(plugin, &format!("only-{j}")).unwrap(), "{plugin:?} deleted {other:?}'s key");
            }
        }
        // Prefixes that would straddle a plugin boundary in a flat key space.
        assert!(storage.list(plugin, "b\0", 100).unwrap().is_empty());
        assert_eq!(storage.list(plugin, "\0", 100).unwrap(), ["\0", "\0\0"]);
    }
    let usage: Vec<u64> = plugins.iter().map(|p| storage.usage(p).unwrap()).collect();
    storage.clear("a").unwrap();
    assert!(all_keys(&storage, "a").is_empty());
    for (plugin, used) in plugins.iter().zip(usage).skip(1) {
        assert_eq!(all_keys(&storage, plugin).len(), keys.len() + 1, "clearing `a` touched {plugin:?}");
        assert_eq!(storage.usage(plugin).unwrap(), used);
    }
}

#[test]
fn a_write_over_quota_fails_and_changes_nothing() {
    let (_dir, path) = temp_db();
    let storage = open(&path);
    // Each entry of `p` costs its overhead, the name `p` and its key: 130 + value.
    let q = e("a", 0) * 2 + 10;
    storage.set("p", "a", &[0; 9], q).unwrap(); // 139 bytes
    let used = e("a", 9);

    let err = storage.set("p", "b", &[0; 10], q).unwrap_err(); // 140 more: 279 > 270
    assert_eq!(err.code, ErrorCode::TooLarge);
    for number in [format!("{used} bytes"), format!("{} bytes", e("b", 10)), format!("quota of {q} bytes")] {
        assert!(err.message.contains(&number), "{number:?} missing from {:?}", err.message);
    }
    assert_eq!(storage.get("p", "b").unwrap(), None);
    assert_eq!(storage.usage("p").unwrap(), used);
    assert_eq!(all_keys(&storage, "p"), ["a"]);

    // Exactly at the quota is allowed.
    storage.set("p", "b", &[0; 1], q).unwrap();
    assert_eq!(storage.usage("p").unwrap(), q);

    // Replacing counts the difference: same size fits, one byte more does not.
    storage.set("p", "b", &[1; 1], q).unwrap();
    let err = storage.set("p", "b", &[2; 2], q).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert_eq!(storage.get("p", "b").unwrap(), Some(vec![1; 1]));
    assert_eq!(storage.usage("p").unwrap(), q);

    // Shrinking and deleting make room again.
    storage.set("p", "b", &[3; 0], q).unwrap();
    assert_eq!(storage.usage("p").unwrap(), q - 1);
    assert!(storage.delete("p", "a").unwrap());
    storage.set("p", "c", &[4; 10], q).unwrap();
    assert_eq!(storage.usage("p").unwrap(), q);

    // The quota is per plugin; even an empty entry costs its overhead.
    storage.set("q", "b", &[0; 19], q).unwrap();
    let err = storage.set("r", "x", &[], ENTRY_OVERHEAD).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
}

#[test]
fn many_tiny_entries_are_refused_before_the_file_grows_much_past_the_quota() {
    // 8,192 two-byte keys with empty values were once counted as 16 KiB
    // while the file grew by more than 700 KB.
    const QUOTA: u64 = 64 << 10;
    let (_dir, path) = temp_db();
    let storage = open(&path);
    let start = std::fs::metadata(&path).unwrap().len();
    let mut written = 0u32;
    for i in 0..8192u32 {
        let key: String =
            [char::from(b'!' + (i / 94 % 94) as u8), char::from(b'!' + (i % 94) as u8)].into_iter().collect();
        match storage.set("p", &key, b"", QUOTA) {
            Ok(()) => written += 1,
            Err(err) => {
                assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
                break;
            }
        }
    }
    assert!(written < 8192, "every write was accepted");
    assert!(storage.usage("p").unwrap() <= QUOTA);
    assert!(u64::from(written) * ENTRY_OVERHEAD <= QUOTA, "{written} entries");
    // redb starts a file with 1 MiB it gives back later: growth is measured
    // from the file as it was opened.
    let grown = std::fs::metadata(&path).unwrap().len().saturating_sub(start);
    assert!(grown <= 2 * QUOTA, "{written} entries grew the file by {grown} bytes, quota {QUOTA}");
}

#[test]
fn a_format_1_file_has_its_usage_recounted_when_opened() {
    let (_dir, path) = temp_db();
    {
        let storage = open(&path);
        storage.set("p", "k", b"vv", QUOTA).unwrap();
        storage.set("q", "key", b"", QUOTA).unwrap();
    }
    {
        // As wasp's format 1 left it: usage was key and value bytes.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(redb::TableDefinition::<&str, u32>::new("wasp_meta")).unwrap();
            meta.insert("format", 1).unwrap();
            let mut usage = txn.open_table(redb::TableDefinition::<&str, u64>::new("kv_usage")).unwrap();
            usage.insert("p", 3).unwrap();
            usage.insert("q", 3).unwrap();
            usage.insert("gone", 7).unwrap();
        }
        txn.commit().unwrap();
    }
    let storage = open(&path);
    assert_eq!(storage.usage("p").unwrap(), e("k", 2));
    assert_eq!(storage.usage("q").unwrap(), entry_size("q", "key", b""));
    assert_eq!(storage.usage("gone").unwrap(), 0);
}

#[test]
fn keys_must_be_one_to_max_key_len_bytes() {
    let (_dir, path) = temp_db();
    let storage = open(&path);
    let longest = "k".repeat(MAX_KEY_LEN);
    storage.set("p", &longest, b"v", QUOTA).unwrap();
    assert_eq!(storage.get("p", &longest).unwrap(), Some(b"v".to_vec()));
    assert_eq!(storage.usage("p").unwrap(), e(&longest, 1));

    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    for key in ["", too_long.as_str()] {
        let errors: [WireError; 3] = [
            storage.set("p", key, b"v", QUOTA).unwrap_err(),
            storage.get("p", key).unwrap_err(),
            storage.delete("p", key).unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert!(err.message.contains(&MAX_KEY_LEN.to_string()), "{:?}", err.message);
            assert!(err.message.contains(&format!("is {} bytes", key.len())), "{:?}", err.message);
        }
    }
    // A multi-byte character counts by its bytes.
    let wide = "é".repeat(MAX_KEY_LEN / 2 + 1);
    assert_eq!(storage.set("p", &wide, b"", QUOTA).unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(all_keys(&storage, "p"), [longest]);
}

fn assert_corrupt(path: &Path) {
    let err = Storage::open(path).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("not a wasp database or is corrupt"), "{message}");
    assert_eq!(WireError::from(err).code, ErrorCode::Unavailable);
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, b"{\"this is\": \"json\"}").unwrap();
    assert_corrupt(&path);
    let noise: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, noise).unwrap();
    assert_corrupt(&path);
    std::fs::write(&path, b"x").unwrap();
    assert_corrupt(&path);
    // The file was left as it was.
    assert_eq!(std::fs::read(&path).unwrap(), b"x");
}

#[test]
fn a_truncated_database_is_refused_without_panicking() {
    let (dir, path) = temp_db();
    {
        let storage = open(&path);
        for i in 0..200 {
            storage.set("p", &format!("key-{i}"), &[i as u8; 300], QUOTA).unwrap();
        }
        storage.record_decision("p", A, "clock", true).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192, "the database is only {} bytes", bytes.len());

    let copy = dir.path().join("copy.redb");
    for len in [1, 8, 9, 100, 511, 512, 4095, 4096, 4097, bytes.len() / 2, bytes.len() - 4096, bytes.len() - 1] {
        std::fs::write(&copy, &bytes[..len]).unwrap();
        assert_corrupt(&copy);
    }
}

#[test]
fn damage_found_while_running_is_an_error_not_a_panic() {
    let (_dir, path) = temp_db();
    {
        let storage = open(&path);
        for i in 0..10 {
            storage.set("p", &format!("é-{i}"), b"v", QUOTA).unwrap();
        }
        storage.set("q", "ok", b"v", QUOTA).unwrap();
    }
    // Make every stored "é" invalid UTF-8. redb does not check page
    // checksums after a clean shutdown, so this opens, and its engine panics
    // when it decodes such a key.
    let mut bytes = std::fs::read(&path).unwrap();
    let mut flipped = 0;
    for i in 0..bytes.len() - 1 {
        if bytes[i..i + 2] == *"é".as_bytes() {
            bytes[i] = 0xff;
            flipped += 1;
        }
    }
    assert!(flipped >= 10, "only {flipped} keys found in the file");
    std::fs::write(&path, bytes).unwrap();

    let storage = open(&path);
    let err = storage.list("p", "", 100).unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.starts_with("storage: cannot list keys with prefix `` of plugin `p`: "), "{}", err.message);
    assert!(err.message.contains("corrupt"), "{}", err.message);

    // A failed write may leave the engine half-updated: the handle then refuses everything.
    let err = storage.set("p", "é-0", b"w", QUOTA).unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.contains("corrupt"), "{}", err.message);
    let err = storage.usage("q").unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.contains("reopen"), "{}", err.message);
}

#[test]
fn a_redb_file_of_another_program_is_refused() {
    let (_dir, path) = temp_db();
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            // Same table name as wasp's store, different types.
            let mut table = txn.open_table(redb::TableDefinition::<u64, u64>::new("kv")).unwrap();
            table.insert(1, 2).unwrap();
        }
        txn.commit().unwrap();
    }
    assert_corrupt(&path);
}

#[test]
fn a_database_from_a_newer_wasp_is_refused() {
    let (_dir, path) = temp_db();
    drop(open(&path));
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(redb::TableDefinition::<&str, u32>::new("wasp_meta")).unwrap();
            meta.insert("format", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Storage::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::UnsupportedFormat { found: 99, .. }), "{err:?}");
}

#[test]
fn concurrent_writers_keep_usage_exact() {
    let (_dir, path) = temp_db();
    let storage = open(&path);
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let storage = storage.clone();
            thread::spawn(move || {
                for i in 0..60u32 {
                    // Every thread writes the shared keys of "shared" and its own plugin's.
                    let key = format!("k{}", i % 13);
                    let value = vec![t; (i as usize * 7 + t as usize) % 50];
                    storage.set("shared", &key, &value, QUOTA).unwrap();
                    storage.set(&format!("own-{t}"), &key, &value, QUOTA).unwrap();
                    if i % 5 == 0 {
                        storage.delete("shared", &format!("k{}", (i + 3) % 13)).unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    for plugin in std::iter::once("shared".to_string()).chain((0..8).map(|t| format!("own-{t}"))) {
        let actual: u64 = all_keys(&storage, &plugin)
            .iter()
            .map(|k| entry_size(&plugin, k, &storage.get(&plugin, k).unwrap().unwrap()))
            .sum();
        assert_eq!(storage.usage(&plugin).unwrap(), actual, "plugin {plugin}");
    }
}

#[derive(Debug, Clone)]
enum KvOp {
    Set { plugin: usize, key: String, len: usize },
    Delete { plugin: usize, key: String },
    Clear { plugin: usize },
}

const PLUGINS: [&str; 4] = ["a", "ab", "a\0", "b"];
/// Room for a few entries of overhead and up to 60 bytes of value.
const MODEL_QUOTA: u64 = 4 * ENTRY_OVERHEAD + 200;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        // A small pool, so keys collide and get replaced and deleted.
        prop::sample::select(vec!["x", "xy", "x\0", "y", "\u{ffff}"]).prop_map(String::from),
        // Any characters, NUL and astral ones included.
        prop::collection::vec(any::<char>(), 1..6).prop_map(|c| c.into_iter().collect()),
    ]
}

fn op() -> impl Strategy<Value = KvOp> {
    prop_oneof![
        6 => (0..PLUGINS.len(), key(), 0..60usize).prop_map(|(plugin, key, len)| KvOp::Set { plugin, key, len }),
        3 => (0..PLUGINS.len(), key()).prop_map(|(plugin, key)| KvOp::Delete { plugin, key }),
        1 => (0..PLUGINS.len()).prop_map(|plugin| KvOp::Clear { plugin }),
    ]
}

fn model_usage(model: &BTreeMap<(usize, String), Vec<u8>>, plugin: usize) -> u64 {
    model.iter().filter(|((p, _), _)| *p == plugin).map(|((_, k), v)| entry_size(PLUGINS[plugin], k, v)).sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_a_btreemap_model(ops in prop::collection::vec(op(), 1..60), prefix in key()) {
        let (_dir, path) = temp_db();
        let storage = open(&path);
        let mut model: BTreeMap<(usize, String), Vec<u8>> = BTreeMap::new();
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                KvOp::Set { plugin, key, len } => {
                    let value = vec![n as u8; len];
                    let old = model.get(&(plugin, key.clone())).map_or(0, |v| entry_size(PLUGINS[plugin], &key, v));
                    let after = model_usage(&model, plugin) - old + entry_size(PLUGINS[plugin], &key, &value);
                    let result = storage.set(PLUGINS[plugin], &key, &value, MODEL_QUOTA);
                    if after > MODEL_QUOTA {
                        prop_assert_eq!(result.unwrap_err().code, ErrorCode::TooLarge);
                    } else {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        model.insert((plugin, key), value);
                    }
                }
                KvOp::Delete { plugin, key } => {
                    let existed = model.remove(&(plugin, key.clone())).is_some();
                    prop_assert_eq!(storage.delete(PLUGINS[plugin], &key).unwrap(), existed);
                }
                KvOp::Clear { plugin } => {
                    model.retain(|(p, _), _| *p != plugin);
                    storage.clear(PLUGINS[plugin]).unwrap();
                }
            }
        }
        for (plugin, name) in PLUGINS.iter().enumerate() {
            let expected: Vec<String> =
                model.keys().filter(|(p, _)| *p == plugin).map(|(_, k)| k.clone()).collect();
            prop_assert_eq!(all_keys(&storage, name), expected.clone());
            for key in &expected {
                let stored = storage.get(name, key).unwrap();
                prop_assert_eq!(stored.as_ref(), model.get(&(plugin, key.clone())));
            }
            prop_assert_eq!(storage.usage(name).unwrap(), model_usage(&model, plugin));
            let with_prefix: Vec<String> = expected.iter().filter(|k| k.starts_with(&prefix)).cloned().collect();
            prop_assert_eq!(storage.list(name, &prefix, usize::MAX).unwrap(), with_prefix.clone());
            let limited: Vec<String> = with_prefix.into_iter().take(2).collect();
            prop_assert_eq!(storage.list(name, &prefix, 2).unwrap(), limited);
        }
    }
}
