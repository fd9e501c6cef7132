//! The on-disk cache of compiled WASM modules (core modules and components).
//!
//! Compiling a plugin with Cranelift takes tens to hundreds of milliseconds;
//! loading the machine code wasmtime produced for it last time takes well
//! under one. Each entry is one file, named after its key:
//!
//! - the SHA-256 of the module's bytes, and
//! - the SHA-256 of the engine's compatibility hash
//!   ([`wasmtime::Engine::precompile_compatibility_hash`]: wasmtime's version,
//!   the target, and every setting of the `Config` that changes the code —
//!   optimization level, debug info, memory reservation and guard sizes,
//!   enabled proposals …) together with wasp's debug flag.
//!
//! An entry is a header followed by wasmtime's artifact
//! ([`wasmtime::Module::serialize`]):
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | magic `WASPMODC` |
//! | 4 | format version, little-endian |
//! | 32 | engine hash |
//! | 32 | module hash |
//! | 8 | artifact length, little-endian |
//! | 32 | SHA-256 of the artifact |
//! | n | the artifact |
//!
//! Every field is checked before the artifact reaches
//! [`wasmtime::Module::deserialize`]: an entry that is truncated, corrupted,
//! of another format, or made by another engine is logged (target
//! `wasp::cache`), deleted, and the module compiled again. Entries are
//! written to a temporary file in the same folder and renamed into place, so
//! a reader sees a whole entry or none, and two hosts compiling the same
//! module at once both succeed. A cache that cannot be written (read-only,
//! full, missing folder) only costs the speed-up: loading still works, with
//! a warning.
//!
//! What the cache does not defend against: someone who can write to the
//! cache folder can plant code the host will run, like someone who can
//! write to the host's own executable. The folder is created private to the
//! user (mode 0700 on Unix); keep it in the user's own cache directory.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Module;
use wasmtime::component::Component;

/// Compiled code the cache holds: a core module, or a component.
pub(crate) trait Compiled: Sized {
    /// The artifact to write.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;

    /// Loads an artifact [`Compiled::serialize`] wrote.
    ///
    /// # Safety
    ///
    /// As for [`Module::deserialize`]: `bytes` must be an artifact that
    /// wasmtime serialized, unmodified.
    unsafe fn deserialize(engine: &wasmtime::Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
}

impl Compiled for Module {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }

    unsafe fn deserialize(engine: &wasmtime::Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is `Module::deserialize`'s.
        unsafe { Module::deserialize(engine, bytes) }
    }
}

impl Compiled for Component {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }

    unsafe fn deserialize(engine: &wasmtime::Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is `Component::deserialize`'s, the
        // same as `Module::deserialize`'s.
        unsafe { Component::deserialize(engine, bytes) }
    }
}

const MAGIC: &[u8; 8] = b"WASPMODC";
/// Bumped whenever the header changes; older entries are then rebuilt.
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 32 + 32 + 8 + 32;
/// The file name suffix of entries.
const SUFFIX: &str = "wasp-module";

/// A folder of compiled modules, shared by every engine that uses it.
///
/// Made by [`Engine::with_options`](crate::Engine::with_options) from
/// [`EngineOptions::module_cache`](crate::EngineOptions::module_cache);
/// reached with [`Engine::module_cache`](crate::Engine::module_cache).
#[derive(Debug)]
pub struct ModuleCache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    writes: AtomicU64,
    write_failures: AtomicU64,
}

/// What a [`ModuleCache`] did since its engine was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules loaded from an entry (not compiled).
    pub hits: u64,
    /// Modules compiled because no usable entry existed (this counts the
    /// rejected entries below too).
    pub misses: u64,
    /// Entries found truncated, corrupted, of another format or another
    /// engine, and deleted.
    pub rejected: u64,
    /// Entries written.
    pub writes: u64,
    /// Entries that could not be written (the module still loaded).
    pub write_failures: u64,
}

/// The key of one module for one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    module: [u8; 32],
    engine: [u8; 32],
}

impl CacheKey {
    pub(crate) fn new(engine: [u8; 32], bytes: &[u8]) -> Self {
        Self { module: Sha256::digest(bytes).into(), engine }
    }

    fn file_name(&self) -> String {
        let mut sha = Sha256::new();
        sha.update(self.module);
        sha.update(self.engine);
        format!("{}.{SUFFIX}", hex(&sha.finalize()))
    }
}

/// The engine half of a cache key: wasmtime's compatibility hash and
/// wasp's debug flag, through SHA-256 (so it is the same in every process,
/// unlike `std`'s randomly keyed hashers).
pub(crate) fn engine_hash(engine: &wasmtime::Engine, debug: bool) -> [u8; 32] {
    use std::hash::Hash;
    struct Sha(Sha256);
    impl std::hash::Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut sha = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut sha);
    debug.hash(&mut sha);
    sha.0.finalize().into()
}

impl ModuleCache {
    /// A cache in `dir`, created when the first entry is written.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
        }
    }

    /// The platform's folder for wasp's compiled modules:
    ///
    /// | platform | folder |
    /// | --- | --- |
    /// | Windows | `%LOCALAPPDATA%\wasp\modules` |
    /// | macOS | `~/Library/Caches/wasp/modules` |
    /// | Linux and other Unix | `$XDG_CACHE_HOME/wasp/modules`, or `~/.cache/wasp/modules` |
    ///
    /// `None` when the environment names no such folder (no `HOME`, no
    /// `LOCALAPPDATA`); relative paths in those variables are ignored.
    pub fn default_dir() -> Option<PathBuf> {
        platform_dir(std::env::consts::OS, |var| std::env::var_os(var))
    }

    /// The folder holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The counters since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
        }
    }

    /// The path of the entry for `key`.
    pub(crate) fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// The module stored under `key`, or `None` (counted as a miss) when
    /// there is no usable entry. A bad entry is logged and deleted.
    pub(crate) fn load<C: Compiled>(&self, engine: &wasmtime::Engine, key: &CacheKey) -> Option<C> {
        let path = self.entry_path(key);
        let entry = match fs::read(&path) {
            Ok(entry) => entry,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(target: "wasp::cache", path = %path.display(), "cannot read a cache entry: {e}");
                }
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let artifact = match check_entry(&entry, key) {
            Ok(artifact) => artifact,
            Err(why) => {
                self.reject(&path, &why);
                return None;
            }
        };
        // SAFETY: `Module::deserialize` must only see bytes that
        // `Module::serialize` produced (it trusts them to be machine code
        // that keeps wasm's sandbox). `check_entry` has established that
        // `artifact` is exactly the artifact `store` wrote: the SHA-256
        // written beside it matches (so it is neither truncated nor
        // corrupted), and the header names this module's hash and this
        // engine's compatibility hash (so it was compiled from these bytes,
        // which passed validation then, by an engine with the same code
        // generation settings). Entries are only written by `store`, from
        // `Module::serialize`, into a folder private to the user; see the
        // module docs for what that leaves out. wasmtime additionally
        // checks its own version and settings and fails safely on a
        // mismatch, handled below.
        match unsafe { C::deserialize(engine, artifact) } {
            Ok(module) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(module)
            }
            Err(e) => {
                self.reject(&path, &format!("wasmtime refused it: {e}"));
                None
            }
        }
    }

    fn reject(&self, path: &Path, why: &str) {
        tracing::warn!(target: "wasp::cache", path = %path.display(), "discarding a cache entry: {why}; compiling again");
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.misses.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(target: "wasp::cache", path = %path.display(), "cannot delete a bad cache entry: {e}");
        }
    }

    /// Writes `module` under `key`. A failure is logged and counted, never
    /// returned: the module is loaded either way.
    pub(crate) fn store<C: Compiled>(&self, key: &CacheKey, module: &C) {
        match self.try_store(key, module) {
            Ok(()) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.write_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "wasp::cache", dir = %self.dir.display(), "cannot write a compiled module to the cache (loading is unaffected, but the next load compiles again): {e}");
            }
        }
    }

    fn try_store<C: Compiled>(&self, key: &CacheKey, module: &C) -> Result<(), String> {
        let artifact = module.serialize().map_err(|e| format!("cannot serialize the module: {e}"))?;
        create_private_dir(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let mut entry = Vec::with_capacity(HEADER_LEN + artifact.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        entry.extend_from_slice(&key.engine);
        entry.extend_from_slice(&key.module);
        entry.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
        entry.extend_from_slice(&Sha256::digest(&artifact));
        entry.extend_from_slice(&artifact);
        // A temporary name unique to this process and call, in the same
        // folder so that the rename is atomic.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            key.file_name(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::File::create(&tmp).and_then(|mut file| file.write_all(&entry));
        let renamed = written.and_then(|()| fs::rename(&tmp, self.entry_path(key)));
        renamed.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("cannot write {}: {e}", tmp.display())
        })
    }
}

/// The artifact inside `entry`, if its header matches `key` and its
/// checksum its content; otherwise what is wrong.
fn check_entry<'a>(entry: &'a [u8], key: &CacheKey) -> Result<&'a [u8], String> {
    if entry.len() < HEADER_LEN {
        return Err(format!("truncated: {} bytes, shorter than its header", entry.len()));
    }
    let (header, artifact) = entry.split_at(HEADER_LEN);
    let (magic, rest) = header.split_at(8);
    let (version, rest) = rest.split_at(4);
    let (engine, rest) = rest.split_at(32);
    let (module, rest) = rest.split_at(32);
    let (length, checksum) = rest.split_at(8);
    if magic != MAGIC {
        return Err("not a wasp module cache entry (wrong magic bytes)".into());
    }
    let version = u32::from_le_bytes(version.try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(format!("entry format {version}, this host writes {FORMAT_VERSION}"));
    }
    if engine != key.engine {
        return Err("stale: compiled by an engine with other settings or another wasmtime".into());
    }
    if module != key.module {
        return Err("made for another module".into());
    }
    let length = u64::from_le_bytes(length.try_into().unwrap_or_default());
    if length != artifact.len() as u64 {
        return Err(format!(
            "truncated or padded: header says {length} bytes of code, the file holds {}",
            artifact.len()
        ));
    }
    if Sha256::digest(artifact).as_slice() != checksum {
        return Err("corrupted: the checksum does not match".into());
    }
    Ok(artifact)
}

/// [`ModuleCache::default_dir`] for operating system `os` (as in
/// [`std::env::consts::OS`]) and environment `var`.
fn platform_dir(os: &str, var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    // Judged by the target platform's rules, not the running one's (a Unix
    // path has no drive letter, so `Path::is_absolute` on Windows would refuse it).
    let absolute =
        |name: &str| var(name).filter(|v| os == "windows" || v.to_string_lossy().starts_with('/')).map(PathBuf::from);
    let base = match os {
        "windows" => var("LOCALAPPDATA").map(PathBuf::from).filter(|p| !p.as_os_str().is_empty())?,
        "macos" | "ios" => absolute("HOME")?.join("Library").join("Caches"),
        _ => match absolute("XDG_CACHE_HOME") {
            Some(dir) => dir,
            None => absolute("HOME")?.join(".cache"),
        },
    };
    Some(base.join("wasp").join("modules"))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn default_dir_follows_each_platform() {
        let local = r"C:\Users\ann\AppData\Local";
        assert_eq!(
            platform_dir("windows", env(&[("LOCALAPPDATA", local), ("HOME", "/x")])),
            Some(PathBuf::from(local).join("wasp").join("modules"))
        );
        assert_eq!(platform_dir("windows", env(&[("HOME", "/home/ann")])), None);
        assert_eq!(
            platform_dir("macos", env(&[("HOME", "/Users/ann"), ("XDG_CACHE_HOME", "/tmp/x")])),
            Some(PathBuf::from("/Users/ann/Library/Caches/wasp/modules"))
        );
        assert_eq!(
            platform_dir("linux", env(&[("HOME", "/home/ann"), ("XDG_CACHE_HOME", "/var/cache/ann")])),
            Some(PathBuf::from("/var/cache/ann/wasp/modules"))
        );
        assert_eq!(
            platform_dir("linux", env(&[("HOME", "/home/ann")])),
            Some(PathBuf::from("/home/ann/.cache/wasp/modules"))
        );
        // The XDG spec says to ignore relative paths.
        assert_eq!(
            platform_dir("linux", env(&[("HOME", "/home/ann"), ("XDG_CACHE_HOME", "rel")])),
            Some(PathBuf::from("/home/ann/.cache/wasp/modules"))
        );
        assert_eq!(platform_dir("freebsd", env(&[])), None);
    }

    #[test]
    fn a_short_or_foreign_header_is_refused() {
        let key = CacheKey::new([1; 32], b"module");
        assert!(check_entry(b"WASPMODC", &key).unwrap_err().contains("truncated"));
        let mut entry = vec![0u8; HEADER_LEN + 4];
        assert!(check_entry(&entry, &key).unwrap_err().contains("magic"));
        entry[..8].copy_from_slice(MAGIC);
        entry[8..12].copy_from_slice(&99u32.to_le_bytes());
        assert!(check_entry(&entry, &key).unwrap_err().contains("format 99"));
    }
}
