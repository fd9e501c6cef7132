//! The host's database: every plugin's key-value store and the host's
//! permission decisions, in one [redb](https://docs.rs/redb) file.
//!
//! A plugin's keys live under composite `(plugin, key)` keys, so one plugin
//! can never name, read or list another's. Each plugin's usage (the sum over
//! its entries of what each costs the file: [`entry_size`]) is kept in its
//! own table and updated in the same write transaction as the data, so it is
//! exact and survives a crash together with the data it counts.
//!
//! Every method is synchronous and may block on disk I/O: async callers run
//! them on `spawn_blocking`.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use wasp_protocol::services::MAX_KEY_LEN;
use wasp_protocol::{ErrorCode, WireError};

mod decisions;

/// `(plugin, key)` → value.
const DATA: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("kv");
/// plugin → bytes used by its keys and values (absent: 0).
const USAGE: TableDefinition<&str, u64> = TableDefinition::new("kv_usage");
/// `(plugin, permission)` → allowed: decisions made before they were filed
/// by identity (`decisions.rs`), no longer read; kept so the file opens.
const DECISIONS: TableDefinition<(&str, &str), bool> = TableDefinition::new("decisions");
/// Facts about the file itself; [`FORMAT_KEY`] holds the layout version.
const META: TableDefinition<&str, u32> = TableDefinition::new("wasp_meta");
const FORMAT_KEY: &str = "format";
/// The layout of the tables above. Bump it, and migrate, when they change.
/// 2: usage counts each entry's overhead and its plugin's name
/// ([`entry_size`]); a format-1 file's usage is recounted when it is opened.
const FORMAT: u32 = 2;

/// What one entry costs the database beyond its plugin's name, its key and
/// its value, in bytes: redb's own bookkeeping for it (the B-tree's slot and
/// length fields for the composite key and the value, pages never full, and
/// pages a commit frees only for later ones). Measured as the file's growth
/// when a plugin writes thousands of entries with empty values under
/// two-byte keys, one commit each: 30 to 100 bytes an entry (more for a
/// longer plugin name, which is part of every key), rounded up. Counting it
/// keeps a store of tiny entries within its quota on disk, not only in key
/// and value bytes.
pub const ENTRY_OVERHEAD: u64 = 128;

/// The host's database: plugin key-value stores and permission decisions, in
/// one redb file.
///
/// Open it once per host with [`Storage::open`] and share clones: a clone is
/// another handle on the same database, and the file stays open until the
/// last clone is dropped. Writes are transactions; a write either happens
/// whole, usage included, or not at all. Failures are [`WireError`]s ready
/// to answer a plugin with: [`ErrorCode::InvalidArgument`] for a bad key,
/// [`ErrorCode::TooLarge`] for a write over quota, [`ErrorCode::Unavailable`]
/// when the database itself fails.
///
/// ```
/// use wasp_runtime::services::storage::Storage;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
/// let path = std::env::temp_dir().join(format!("wasp-doc-{}-{nanos}.redb", std::process::id()));
///
/// let storage = Storage::open(&path)?;
/// storage.set("counter", "hits", b"42", 1024)?;
/// assert_eq!(storage.get("counter", "hits")?, Some(b"42".to_vec()));
/// assert_eq!(storage.get("other", "hits")?, None); // plugins never see each other's keys
/// // "counter" + "hits" + "42", and the entry's overhead
/// assert_eq!(storage.usage("counter")?, 7 + 4 + 2 + wasp_runtime::services::storage::ENTRY_OVERHEAD);
/// assert_eq!(storage.list("counter", "h", 10)?, vec!["hits".to_string()]);
///
/// storage.record_decision("counter", "blake3:1f2e", "net:example.com", true)?;
/// assert_eq!(storage.decisions("counter", "blake3:1f2e")?, vec![("net:example.com".to_string(), true)]);
/// assert!(storage.decisions("counter", "blake3:9a8b")?.is_empty()); // another identity
///
/// drop(storage);
/// std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    /// Always `Some` until `Inner` drops (see its `Drop`).
    db: Option<Database>,
    path: PathBuf,
    /// Set when the engine panicked during a write (see [`Storage::guarded`]).
    broken: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing writes to the file, and on a damaged file the engine may
        // panic doing so: that must not take the host down with it.
        if let Some(db) = self.db.take()
            && let Err(panic) = catch_unwind(AssertUnwindSafe(move || drop(db)))
        {
            let detail = panic_message(panic.as_ref());
            tracing::error!(target: "wasp::storage", path = %self.path.display(), %detail, "storage: cannot close the database");
        }
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// Why [`Storage::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The directory that should hold the database could not be created.
    #[error("cannot create directory `{}` for the storage database: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be read or written.
    #[error("cannot open storage database `{}`: {source}", path.display())]
    Io {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file exists but is not a wasp database, or is damaged.
    #[error("`{}` is not a wasp database or is corrupt: {detail}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The database was written by a newer wasp, in a layout this one does not know.
    #[error("storage database `{}` has format {found}, this host reads format {supported}", path.display())]
    UnsupportedFormat {
        /// The database file.
        path: PathBuf,
        /// The file's format.
        found: u32,
        /// The format this host reads and writes.
        supported: u32,
    },
    /// The database is already open elsewhere in this process (share a clone instead).
    #[error("storage database `{}` is already open; share one `Storage` and clone it", path.display())]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// Any other failure of the database engine.
    #[error("cannot open storage database `{}`: {detail}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The engine's message.
        detail: String,
    },
}

impl StorageError {
    /// The error as a structured wire error ([`ErrorCode::Unavailable`]).
    pub fn to_wire(&self) -> WireError {
        WireError::new(ErrorCode::Unavailable, self.to_string())
    }

    fn from_redb(path: &Path, err: redb::Error) -> Self {
        let path = path.to_path_buf();
        match err {
            redb::Error::DatabaseAlreadyOpen => Self::AlreadyOpen { path },
            redb::Error::Io(source) => match source.kind() {
                // redb reports a file without its magic number as `InvalidData`.
                std::io::ErrorKind::InvalidData => {
                    Self::Corrupt { path, detail: "the file is not a redb database".to_string() }
                }
                std::io::ErrorKind::UnexpectedEof => {
                    Self::Corrupt { path, detail: "the file is truncated".to_string() }
                }
                _ => Self::Io { path, source },
            },
            redb::Error::Corrupted(detail) => Self::Corrupt { path, detail },
            redb::Error::TableTypeMismatch { .. }
            | redb::Error::TableIsMultimap(_)
            | redb::Error::TableIsNotMultimap(_)
            | redb::Error::TypeDefinitionChanged { .. } => Self::Corrupt { path, detail: err.to_string() },
            other => Self::Database { path, detail: other.to_string() },
        }
    }
}

impl From<StorageError> for WireError {
    fn from(e: StorageError) -> Self {
        e.to_wire()
    }
}

impl Storage {
    /// Opens the database at `path`, creating it (and its parent directories)
    /// if it does not exist.
    ///
    /// A file that is not a redb database, or is truncated or otherwise
    /// damaged, is refused with [`StorageError::Corrupt`] naming the path.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StorageError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        // redb may panic on a file damaged in a way it does not anticipate;
        // a bad file must be an error the host can report, never a crash.
        let opened = catch_unwind(AssertUnwindSafe(|| Self::open_unguarded(path)));
        let storage = opened.unwrap_or_else(|panic| {
            let detail = format!("the database engine failed reading it ({})", panic_message(panic.as_ref()));
            Err(StorageError::Corrupt { path: path.to_path_buf(), detail })
        })?;
        tracing::debug!(path = %path.display(), "storage database open");
        Ok(storage)
    }

    fn open_unguarded(path: &Path) -> Result<Self, StorageError> {
        let fail = |e: redb::Error| StorageError::from_redb(path, e);
        let db = create_database(path).map_err(|e| fail(e.into()))?;
        // Create every table up front, so that reads never meet a missing
        // table, and so that a redb file of another program is told apart.
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        {
            txn.open_table(DATA).map_err(|e| fail(e.into()))?;
            txn.open_table(USAGE).map_err(|e| fail(e.into()))?;
            txn.open_table(DECISIONS).map_err(|e| fail(e.into()))?;
            let mut meta = txn.open_table(META).map_err(|e| fail(e.into()))?;
            let found = meta.get(FORMAT_KEY).map_err(|e| fail(e.into()))?.map(|g| g.value());
            match found {
                Some(FORMAT) => {}
                None => {
                    meta.insert(FORMAT_KEY, FORMAT).map_err(|e| fail(e.into()))?;
                }
                Some(1) => {
                    recount_usage(&txn).map_err(fail)?;
                    meta.insert(FORMAT_KEY, FORMAT).map_err(|e| fail(e.into()))?;
                }
                Some(found) => {
                    return Err(StorageError::UnsupportedFormat { path: path.to_path_buf(), found, supported: FORMAT });
                }
            }
        }
        txn.commit().map_err(|e| fail(e.into()))?;
        Ok(Self { inner: Arc::new(Inner { db: Some(db), path: path.to_path_buf(), broken: AtomicBool::new(false) }) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The value of `key` in `plugin`'s store, if it has one.
    pub fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, WireError> {
        check_key(plugin, key)?;
        let op = Op::Read { plugin, key };
        self.guarded(op, |db| {
            let txn = db.begin_read().map_err(|e| op.fail(e))?;
            let table = txn.open_table(DATA).map_err(|e| op.fail(e))?;
            let value = table.get((plugin, key)).map_err(|e| op.fail(e))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Sets `key` of `plugin`'s store to `value`, replacing any old value.
    ///
    /// Fails with [`ErrorCode::TooLarge`], and changes nothing, when the
    /// plugin's usage after the write would exceed `quota` bytes (usage is
    /// the sum over its entries of [`entry_size`]; replacing a key counts
    /// the difference).
    pub fn set(&self, plugin: &str, key: &str, value: &[u8], quota: u64) -> Result<(), WireError> {
        check_key(plugin, key)?;
        let op = Op::Write { plugin, key };
        self.guarded(op, |db| {
            let txn = db.begin_write().map_err(|e| op.fail(e))?;
            {
                let mut data = txn.open_table(DATA).map_err(|e| op.fail(e))?;
                let mut usage = txn.open_table(USAGE).map_err(|e| op.fail(e))?;
                let used = usage.get(plugin).map_err(|e| op.fail(e))?.map_or(0, |g| g.value());
                let old =
                    data.get((plugin, key)).map_err(|e| op.fail(e))?.map(|v| entry_size(plugin, key, v.value()));
                let write = entry_size(plugin, key, value);
                let after = used.saturating_sub(old.unwrap_or(0)).saturating_add(write);
                if after > quota {
                    // Dropping the uncommitted transaction discards it.
                    return Err(WireError::new(
                        ErrorCode::TooLarge,
                        format!(
                            "storage: plugin `{plugin}` uses {used} bytes; writing key `{}` ({write} bytes \
                             with the entry's overhead) would bring it to {after} bytes, over its quota of {quota} bytes",
                            key.escape_debug()
                        ),
                    ));
                }
                data.insert((plugin, key), value).map_err(|e| op.fail(e))?;
                usage.insert(plugin, after).map_err(|e| op.fail(e))?;
            }
            txn.commit().map_err(|e| op.fail(e))
        })
    }

    /// Deletes `key` from `plugin`'s store; answers whether it existed.
    pub fn delete(&self, plugin: &str, key: &str) -> Result<bool, WireError> {
        check_key(plugin, key)?;
        let op = Op::Delete { plugin, key };
        self.guarded(op, |db| {
            let txn = db.begin_write().map_err(|e| op.fail(e))?;
            let existed = {
                let mut data = txn.open_table(DATA).map_err(|e| op.fail(e))?;
                let removed =
                    data.remove((plugin, key)).map_err(|e| op.fail(e))?.map(|v| entry_size(plugin, key, v.value()));
                if let Some(freed) = removed {
                    let mut usage = txn.open_table(USAGE).map_err(|e| op.fail(e))?;
                    let used = usage.get(plugin).map_err(|e| op.fail(e))?.map_or(0, |g| g.value());
                    match used.saturating_sub(freed) {
                        0 => usage.remove(plugin).map(drop),
                        left => usage.insert(plugin, left).map(drop),
                    }
                    .map_err(|e| op.fail(e))?;
                }
                removed.is_some()
            };
            if existed {
                txn.commit().map_err(|e| op.fail(e))?;
            } else {
                txn.abort().map_err(|e| op.fail(e))?;
            }
            Ok(existed)
        })
    }

    /// The keys of `plugin`'s store that start with `prefix` (empty: every
    /// key), sorted by their bytes, at most `limit` of them.
    pub fn list(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, WireError> {
        let op = Op::List { plugin, prefix };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.guarded(op, |db| {
            let txn = db.begin_read().map_err(|e| op.fail(e))?;
            let table = txn.open_table(DATA).map_err(|e| op.fail(e))?;
            // Keys sort by plugin, then by key: the plugin's keys with the
            // prefix are one run starting at `(plugin, prefix)`.
            let mut keys = Vec::new();
            for entry in table.range((plugin, prefix)..).map_err(|e| op.fail(e))? {
                let (k, _) = entry.map_err(|e| op.fail(e))?;
                let (owner, key) = k.value();
                if owner != plugin || !key.starts_with(prefix) {
                    break;
                }
                keys.push(key.to_string());
                if keys.len() == limit {
                    break;
                }
            }
            Ok(keys)
        })
    }

    /// The bytes `plugin`'s store uses: the sum over its entries of
    /// [`entry_size`].
    pub fn usage(&self, plugin: &str) -> Result<u64, WireError> {
        let op = Op::Usage { plugin };
        self.guarded(op, |db| {
            let txn = db.begin_read().map_err(|e| op.fail(e))?;
            let table = txn.open_table(USAGE).map_err(|e| op.fail(e))?;
            let used = table.get(plugin).map_err(|e| op.fail(e))?;
            Ok(used.map_or(0, |g| g.value()))
        })
    }

    /// Forgets every key of `plugin`'s store (its permission decisions stay).
    pub fn clear(&self, plugin: &str) -> Result<(), WireError> {
        let op = Op::Clear { plugin };
        self.guarded(op, |db| {
            let txn = db.begin_write().map_err(|e| op.fail(e))?;
            {
                let mut data = txn.open_table(DATA).map_err(|e| op.fail(e))?;
                let keys = owned_keys(&data, plugin).map_err(|e| op.fail(e))?;
                for key in &keys {
                    data.remove((plugin, key.as_str())).map_err(|e| op.fail(e))?;
                }
                let mut usage = txn.open_table(USAGE).map_err(|e| op.fail(e))?;
                usage.remove(plugin).map_err(|e| op.fail(e))?;
            }
            txn.commit().map_err(|e| op.fail(e))
        })
    }

    /// Runs one operation, turning a panic of the database engine into an error.
    ///
    /// redb panics on some damage it does not detect up front (a bit flip in
    /// a stored key, say), and the file is not ours to trust. A panic in a
    /// read leaves the engine as it was; one in a write may leave it
    /// half-updated in memory, so the handle then refuses everything until
    /// the database is opened again.
    fn guarded<T>(&self, op: Op<'_>, run: impl FnOnce(&Database) -> Result<T, WireError>) -> Result<T, WireError> {
        if self.inner.broken.load(Ordering::Acquire) {
            return Err(op.unavailable("an earlier write failed inside the database engine; reopen the database"));
        }
        let Some(db) = &self.inner.db else {
            return Err(op.unavailable("the database is closed"));
        };
        catch_unwind(AssertUnwindSafe(|| run(db))).unwrap_or_else(|panic| {
            let detail = panic_message(panic.as_ref());
            if op.writes() {
                self.inner.broken.store(true, Ordering::Release);
            }
            tracing::error!(target: "wasp::storage", path = %self.inner.path.display(), %detail, "storage: cannot {op}");
            Err(op.unavailable(format_args!("the database is corrupt ({detail})")))
        })
    }
}

/// The second halves of the `(plugin, _)` keys of a table.
fn owned_keys<V: redb::Value + 'static>(
    table: &impl ReadableTable<(&'static str, &'static str), V>,
    plugin: &str,
) -> Result<Vec<String>, redb::StorageError> {
    let mut keys = Vec::new();
    for entry in table.range((plugin, "")..)? {
        let (k, _) = entry?;
        let (owner, key) = k.value();
        if owner != plugin {
            break;
        }
        keys.push(key.to_string());
    }
    Ok(keys)
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    crate::inprocess::panic_text(panic, "the database engine panicked")
}

/// What one entry counts against its plugin's quota: its plugin's name
/// (part of every key), its key, its value and [`ENTRY_OVERHEAD`].
pub fn entry_size(plugin: &str, key: &str, value: &[u8]) -> u64 {
    // usize always fits in u64 on the platforms wasp runs on.
    let bytes = u64::try_from(plugin.len() + key.len() + value.len()).unwrap_or(u64::MAX);
    bytes.saturating_add(ENTRY_OVERHEAD)
}

/// Recounts every plugin's usage from its entries (a file of an older
/// format counted them otherwise).
fn recount_usage(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    let mut used: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    {
        let data = txn.open_table(DATA)?;
        for entry in data.iter()? {
            let (k, v) = entry?;
            let (plugin, key) = k.value();
            let total = used.entry(plugin.to_owned()).or_default();
            *total = total.saturating_add(entry_size(plugin, key, v.value()));
        }
    }
    let mut usage = txn.open_table(USAGE)?;
    let stale: Vec<String> = usage.iter()?.map(|e| e.map(|(k, _)| k.value().to_owned())).collect::<Result<_, _>>()?;
    for plugin in stale {
        usage.remove(plugin.as_str())?;
    }
    for (plugin, bytes) in used {
        usage.insert(plugin.as_str(), bytes)?;
    }
    Ok(())
}

/// Refuses keys outside 1..=[`MAX_KEY_LEN`] bytes.
fn check_key(plugin: &str, key: &str) -> Result<(), WireError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(WireError::new(
            ErrorCode::InvalidArgument,
            format!("storage: key of plugin `{plugin}` is {} bytes; keys are 1 to {MAX_KEY_LEN} bytes", key.len()),
        ));
    }
    Ok(())
}

/// One storage operation, named in the errors it fails with.
#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    Read { plugin: &'a str, key: &'a str },
    Write { plugin: &'a str, key: &'a str },
    Delete { plugin: &'a str, key: &'a str },
    List { plugin: &'a str, prefix: &'a str },
    Usage { plugin: &'a str },
    Clear { plugin: &'a str },
    ReadDecisions { plugin: &'a str },
    RecordDecision { plugin: &'a str, permission: &'a str },
    ForgetDecisions { plugin: &'a str },
}

impl Op<'_> {
    /// The database failed during this operation.
    fn fail(self, err: impl Into<redb::Error>) -> WireError {
        self.unavailable(err.into())
    }

    fn unavailable(self, why: impl fmt::Display) -> WireError {
        WireError::new(ErrorCode::Unavailable, format!("storage: cannot {self}: {why}"))
    }

    /// Whether the operation writes to the database.
    fn writes(self) -> bool {
        matches!(
            self,
            Self::Write { .. }
                | Self::Delete { .. }
                | Self::Clear { .. }
                | Self::RecordDecision { .. }
                | Self::ForgetDecisions { .. }
        )
    }
}

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Read { plugin, key } => write!(f, "read key `{}` of plugin `{plugin}`", key.escape_debug()),
            Self::Write { plugin, key } => write!(f, "write key `{}` of plugin `{plugin}`", key.escape_debug()),
            Self::Delete { plugin, key } => write!(f, "delete key `{}` of plugin `{plugin}`", key.escape_debug()),
            Self::List { plugin, prefix } => {
                write!(f, "list keys with prefix `{}` of plugin `{plugin}`", prefix.escape_debug())
            }
            Self::Usage { plugin } => write!(f, "read the usage of plugin `{plugin}`"),
            Self::Clear { plugin } => write!(f, "clear the store of plugin `{plugin}`"),
            Self::ReadDecisions { plugin } => write!(f, "read the permission decisions of plugin `{plugin}`"),
            Self::RecordDecision { plugin, permission } => {
                write!(f, "record the decision on `{permission}` for plugin `{plugin}`")
            }
            Self::ForgetDecisions { plugin } => write!(f, "forget the permission decisions of plugin `{plugin}`"),
        }
    }
}

/// Opens or creates the database file: through redb's own file backend,
/// except on Windows (see `windows_file`: redb's reads there never stop at
/// the end of a truncated file).
fn create_database(path: &Path) -> Result<Database, redb::DatabaseError> {
    #[cfg(windows)]
    return Database::builder().create_with_backend(super::windows_file::WindowsFile::open(path)?);
    #[cfg(not(windows))]
    Database::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_a_shareable_handle() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Storage>();
    }

    #[test]
    fn keys_outside_the_length_limits_are_invalid_arguments() {
        for key in [String::new(), "k".repeat(MAX_KEY_LEN + 1)] {
            let err = check_key("p", &key).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert!(err.message.contains(&format!("1 to {MAX_KEY_LEN} bytes")), "{}", err.message);
        }
        assert!(check_key("p", "k").is_ok());
        assert!(check_key("p", &"k".repeat(MAX_KEY_LEN)).is_ok());
    }

    #[test]
    fn engine_failures_name_the_operation_and_are_unavailable() {
        let err = Op::Write { plugin: "p", key: "k" }.fail(redb::StorageError::DatabaseClosed);
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.starts_with("storage: cannot write key `k` of plugin `p`: "), "{}", err.message);
    }

    #[test]
    fn open_errors_become_unavailable_wire_errors() {
        let err = StorageError::Corrupt { path: PathBuf::from("/x/db"), detail: "bad".into() };
        let wire = WireError::from(err);
        assert_eq!(wire.code, ErrorCode::Unavailable);
        assert_eq!(wire.message, "`/x/db` is not a wasp database or is corrupt: bad");
    }

    #[test]
    fn entry_size_counts_plugin_key_value_and_overhead() {
        assert_eq!(entry_size("p", "abc", b"de"), 6 + ENTRY_OVERHEAD);
        assert_eq!(entry_size("p", "k", b""), 2 + ENTRY_OVERHEAD);
    }
}
