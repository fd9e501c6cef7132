//! The on-disk cache of compiled WASM modules (core modules and components).
//!
//! Compiling a plugin with Cranelift takes tens to hundreds of milliseconds;
//! loading the machine code wasmtime produced for it last time takes well
//! under one. Each entry is two files named after its key:
//!
//! - the BLAKE3 hash of the module's bytes, and
//! - the BLAKE3 hash of the engine's compatibility hash
//!   ([`wasmtime::Engine::precompile_compatibility_hash`]: wasmtime's version,
//!   the target, and every setting of the `Config` that changes the code —
//!   optimization level, debug info, memory reservation and guard sizes,
//!   enabled proposals …) together with wasp's debug flag.
//!
//! `<key>.cwasm` is wasmtime's artifact exactly as
//! [`wasmtime::Module::serialize`] returned it; `<key>.wasp-module` is its
//! header:
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | magic `WASPMODC` |
//! | 4 | format version, little-endian |
//! | 32 | engine hash |
//! | 32 | module hash |
//! | 8 | artifact length, little-endian |
//! | 16 | XXH3-128 of the artifact, little-endian |
//!
//! Every field is checked before the artifact reaches
//! [`wasmtime::Module::deserialize_open_file`]: an entry that is truncated,
//! corrupted, of another format, made by another engine, or missing one of
//! its files is logged (target `wasp::cache`), deleted, and the module
//! compiled again. The artifact is *mapped*, not copied (except on Windows,
//! see [`Compiled::MAPPED`]): wasmtime uses the
//! file's pages in place (copy-on-write), so a load touches only the code it
//! runs — for the example plugins, whose DWARF makes up most of the
//! artifact, that is the difference between 1 ms and 0.1 ms.
//!
//! Files are written to a temporary name in the same folder and renamed into
//! place (the artifact first, then its header), so a reader sees whole files
//! or none, and two hosts compiling the same module at once both succeed. A
//! cache that cannot be written (read-only, full, missing folder) only costs
//! the speed-up: loading still works, with a warning.
//!
//! Why two hashes: the key must resist collisions (a plugin whose bytes
//! collided with another's would run the other's cached code), so it is
//! cryptographic; BLAKE3 hashes the 2 MiB example plugins in about 0.3 ms,
//! a quarter of SHA-256's time here. The checksum only detects accidents (a
//! torn write, a damaged disk), so it is the much faster XXH3: someone who
//! can write the folder could forge any checksum anyway.
//!
//! What the cache does not defend against: someone who can write to the
//! cache folder can plant code the host will run, like someone who can
//! write to the host's own executable. The folder is created private to the
//! user (mode 0700 on Unix); keep it in the user's own cache directory.
//! Rewriting an artifact *in place* while a host has it mapped (wasp never
//! does; it renames new files over old ones) may crash that host, as
//! wasmtime documents for `deserialize_file`.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Module;
use wasmtime::component::Component;

/// Compiled code the cache holds: a core module, or a component.
pub(crate) trait Compiled: Sized {
    /// Whether [`Compiled::load`] maps the artifact's file (core modules)
    /// rather than taking its bytes (components: wasmtime 48 has no
    /// `Component::deserialize_open_file`, and mapping by path would map a
    /// file other than the one checked if a new entry were renamed over it
    /// in between).
    const MAPPED: bool;

    /// The artifact to write.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;

    /// Loads an artifact [`Compiled::serialize`] wrote: mapped from `file`
    /// when [`Compiled::MAPPED`], otherwise from `bytes`, the file's content.
    ///
    /// # Safety
    ///
    /// As for [`Module::deserialize_open_file`]: the file (and `bytes`) must
    /// be an artifact that wasmtime serialized, unmodified, and the file must
    /// not change while the code is in use.
    unsafe fn load(engine: &wasmtime::Engine, file: fs::File, bytes: Vec<u8>) -> wasmtime::Result<Self>;
}

impl Compiled for Module {
    /// Mapped except on Windows, where a mapped file can be neither
    /// replaced nor deleted while any host uses it (a rebuilt entry could
    /// not be renamed into place), and where wine's file mappings refuse
    /// wasmtime's: there the checked bytes are copied, as before.
    const MAPPED: bool = !cfg!(windows);

    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }

    unsafe fn load(engine: &wasmtime::Engine, file: fs::File, bytes: Vec<u8>) -> wasmtime::Result<Self> {
        if Self::MAPPED {
            // SAFETY: the caller's contract is `Module::deserialize_open_file`'s.
            unsafe { Module::deserialize_open_file(engine, file) }
        } else {
            // SAFETY: the caller's contract covers `bytes`, and is
            // `Module::deserialize`'s.
            unsafe { Module::deserialize(engine, bytes) }
        }
    }
}

impl Compiled for Component {
    const MAPPED: bool = false;

    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }

    unsafe fn load(engine: &wasmtime::Engine, _: fs::File, bytes: Vec<u8>) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract covers `bytes`, and is
        // `Component::deserialize`'s, the same as `Module::deserialize`'s.
        unsafe { Component::deserialize(engine, bytes) }
    }
}

const MAGIC: &[u8; 8] = b"WASPMODC";
/// Bumped whenever the entry's layout changes; older entries are then rebuilt.
/// Format 1 was one file (header, SHA-256 checksum, artifact).
const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 32 + 32 + 8 + 16;
/// The file name suffix of entries' headers.
const SUFFIX: &str = "wasp-module";
/// The file name suffix of entries' artifacts.
const ARTIFACT_SUFFIX: &str = "cwasm";

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
        Self { module: blake3::hash(bytes).into(), engine }
    }

    /// The entry's file stem: both halves of the key, hashed.
    fn stem(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.module);
        hasher.update(&self.engine);
        hex(hasher.finalize().as_bytes())
    }
}

/// The engine half of a cache key: wasmtime's compatibility hash and
/// wasp's debug flag, through BLAKE3 (so it is the same in every process,
/// unlike `std`'s randomly keyed hashers).
pub(crate) fn engine_hash(engine: &wasmtime::Engine, debug: bool) -> [u8; 32] {
    use std::hash::Hash;
    struct Blake3(blake3::Hasher);
    impl std::hash::Hasher for Blake3 {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Blake3(blake3::Hasher::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    debug.hash(&mut hasher);
    hasher.0.finalize().into()
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

    /// The path of the header of the entry for `key`.
    pub(crate) fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.{SUFFIX}", key.stem()))
    }

    /// The path of the artifact of the entry for `key`.
    pub(crate) fn artifact_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.{ARTIFACT_SUFFIX}", key.stem()))
    }

    /// The module stored under `key`, or `None` (counted as a miss) when
    /// there is no usable entry. A bad entry is logged and deleted.
    pub(crate) fn load<C: Compiled>(&self, engine: &wasmtime::Engine, key: &CacheKey) -> Option<C> {
        let path = self.entry_path(key);
        let header = match fs::read(&path) {
            Ok(header) => header,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(target: "wasp::cache", path = %path.display(), "cannot read a cache entry: {e}");
                }
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let (length, checksum) = match check_header(&header, key) {
            Ok(expected) => expected,
            Err(why) => {
                self.reject(key, &why);
                return None;
            }
        };
        // One open file for both the check and the mapping: what was
        // checked is what wasmtime maps, even if a new entry is renamed
        // over this one in between.
        let artifact_path = self.artifact_path(key);
        let checked = fs::File::open(&artifact_path)
            .map_err(|e| format!("its artifact cannot be opened: {e}"))
            .and_then(|file| check_artifact(file, length, checksum, !C::MAPPED));
        let (file, bytes) = match checked {
            Ok(checked) => checked,
            Err(why) => {
                self.reject(key, &why);
                return None;
            }
        };
        // SAFETY: `Module::deserialize_open_file` (and `Component::deserialize`
        // for the bytes of a component's artifact) must only see a file that
        // `serialize` produced (it trusts it to be machine code that
        // keeps wasm's sandbox), and the file must not change while the
        // module lives. `check_artifact` has just read this very file
        // (through the same handle) and established that it is exactly the
        // artifact `store` wrote: its length and XXH3-128 match the header
        // (so it is neither truncated nor damaged), and the header names
        // this module's hash and this engine's compatibility hash (so it
        // was compiled from these bytes, which passed validation then, by an
        // engine with the same code generation settings). Entries are only
        // written by `store`, from `Module::serialize`, into a folder
        // private to the user, and never rewritten in place: a new entry is
        // a new file renamed over the name, which leaves this mapping's file
        // intact. See the module docs for what that leaves out. wasmtime
        // additionally checks its own version and settings and fails safely
        // on a mismatch, handled below.
        match unsafe { C::load(engine, file, bytes) } {
            Ok(module) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(module)
            }
            Err(e) => {
                self.reject(key, &format!("wasmtime refused it: {e}"));
                None
            }
        }
    }

    fn reject(&self, key: &CacheKey, why: &str) {
        let path = self.entry_path(key);
        tracing::warn!(target: "wasp::cache", path = %path.display(), "discarding a cache entry: {why}; compiling again");
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.misses.fetch_add(1, Ordering::Relaxed);
        for path in [path, self.artifact_path(key)] {
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(target: "wasp::cache", path = %path.display(), "cannot delete a bad cache entry: {e}");
            }
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
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&key.engine);
        header.extend_from_slice(&key.module);
        header.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
        header.extend_from_slice(&xxh3_128(&artifact).to_le_bytes());
        // The artifact first: a header is only ever found beside the
        // artifact it describes (or, after a race with another writer, one
        // whose checksum then fails and is rebuilt).
        self.write_file(&artifact, &self.artifact_path(key))?;
        self.write_file(&header, &self.entry_path(key))
    }

    /// Writes `bytes` to a temporary file in the cache folder and renames
    /// it to `path`.
    fn write_file(&self, bytes: &[u8], path: &Path) -> Result<(), String> {
        // A temporary name unique to this process and call, in the same
        // folder so that the rename is atomic.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = self.dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let written = fs::File::create(&tmp).and_then(|mut file| file.write_all(bytes));
        let renamed = written.and_then(|()| fs::rename(&tmp, path));
        renamed.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
    }
}

/// The XXH3-128 checksum of a cached artifact.
fn xxh3_128(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// The artifact length and checksum `header` promises, if it is a header
/// of this format for `key`; otherwise what is wrong.
fn check_header(header: &[u8], key: &CacheKey) -> Result<(u64, u128), String> {
    if header.len() != HEADER_LEN {
        return Err(format!("its header is {} bytes, not {HEADER_LEN}", header.len()));
    }
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
    let checksum = u128::from_le_bytes(checksum.try_into().unwrap_or_default());
    Ok((length, checksum))
}

/// `file`, rewound, if it holds `length` bytes whose XXH3-128 is
/// `checksum`, with those bytes when `keep` (otherwise an empty `Vec`);
/// otherwise what is wrong.
fn check_artifact(mut file: fs::File, length: u64, checksum: u128, keep: bool) -> Result<(fs::File, Vec<u8>), String> {
    use std::io::{Read, Seek};
    let size = file.metadata().map_err(|e| format!("its artifact cannot be read: {e}"))?.len();
    if size != length {
        return Err(format!("truncated or padded: its header says {length} bytes of code, the file holds {size}"));
    }
    if keep {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(|e| format!("its artifact cannot be read: {e}"))?;
        if bytes.len() as u64 != length || xxh3_128(&bytes) != checksum {
            return Err("corrupted: the checksum does not match".into());
        }
        return Ok((file, bytes));
    }
    // Read in pieces: the artifact is megabytes, the buffer stays small.
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut read = 0u64;
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("its artifact cannot be read: {e}")),
        }
    }
    if read != length || hasher.digest128() != checksum {
        return Err("corrupted: the checksum does not match".into());
    }
    file.rewind().map_err(|e| format!("its artifact cannot be read: {e}"))?;
    Ok((file, Vec::new()))
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
        assert!(check_header(b"WASPMODC", &key).unwrap_err().contains("is 8 bytes"));
        let mut header = vec![0u8; HEADER_LEN];
        assert!(check_header(&header, &key).unwrap_err().contains("magic"));
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&99u32.to_le_bytes());
        assert!(check_header(&header, &key).unwrap_err().contains("format 99"));
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        assert!(check_header(&header, &key).unwrap_err().contains("stale"));
        header[12..44].copy_from_slice(&key.engine);
        assert!(check_header(&header, &key).unwrap_err().contains("another module"));
        header[44..76].copy_from_slice(&key.module);
        header[76..84].copy_from_slice(&7u64.to_le_bytes());
        header[84..100].copy_from_slice(&5u128.to_le_bytes());
        assert_eq!(check_header(&header, &key), Ok((7, 5)));
    }

    #[test]
    fn an_artifact_is_checked_whole_and_in_pieces_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        // Longer than the read buffer, and not a multiple of it.
        let artifact: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(&path, &artifact).unwrap();
        let open = || fs::File::open(&path).unwrap();
        let sum = xxh3_128(&artifact);
        let len = artifact.len() as u64;
        for keep in [false, true] {
            let (_, bytes) = check_artifact(open(), len, sum, keep).unwrap();
            assert_eq!(bytes, if keep { artifact.clone() } else { Vec::new() });
            assert!(check_artifact(open(), len, sum ^ 1, keep).unwrap_err().contains("corrupted"));
            assert!(check_artifact(open(), len + 1, sum, keep).unwrap_err().contains("truncated"));
        }
    }
}
