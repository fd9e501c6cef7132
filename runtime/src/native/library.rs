//! Finding, checking and loading a native plugin library.
//!
//! Everything that can be checked without running the library's code is
//! checked first, from the file's bytes: its format is this platform's
//! (ELF, PE or Mach-O), its architecture is the host's, and it exports
//! exactly one entry function. Only then is it loaded — which runs its
//! initializers — and its table's magic and ABI version read.
//!
//! Libraries are never unloaded: a native plugin's code may still run on a
//! thread the watchdog gave up on, or on threads the plugin started itself,
//! and unmapping code under a running thread crashes the process. Loading
//! the same bytes again reuses the mapped library; loading changed bytes
//! (a rebuilt plugin) maps a copy of the new file beside the old one.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};

use object::{Object, ObjectSymbol};
use sha2::{Digest, Sha256};
use wasp_protocol::ApiVersion;
use wasp_protocol::abi::native::{ENTRY_PREFIX, EntryFn, MAGIC, PluginVTable};

use crate::Error;
use crate::error::Problem;
use crate::loader::FileKind;

/// A loaded native library: its entry table, which lives as long as the
/// process (libraries are never unloaded).
pub(crate) struct Library {
    /// Keeps the library mapped; never dropped (see the module docs).
    _lib: libloading::Library,
    vtable: &'static PluginVTable,
    abi: ApiVersion,
    symbol: String,
    path: PathBuf,
}

impl Library {
    pub(crate) fn vtable(&self) -> &'static PluginVTable {
        self.vtable
    }
}

/// A validated, loaded native plugin library, ready to instantiate.
///
/// Cheap to clone; every instance shares the library's code.
#[derive(Clone)]
pub struct NativePlugin {
    pub(crate) name: Arc<str>,
    pub(crate) lib: Arc<Library>,
    /// Threads of this plugin (by name, across reloads) still running a
    /// call the watchdog gave up on.
    pub(crate) stranded: Arc<AtomicUsize>,
}

impl std::fmt::Debug for NativePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativePlugin")
            .field("name", &self.name)
            .field("abi", &self.lib.abi)
            .field("symbol", &self.lib.symbol)
            .finish_non_exhaustive()
    }
}

/// The native format of the platform this host was built for.
pub(crate) fn host_format() -> FileKind {
    if cfg!(windows) {
        FileKind::Pe
    } else if cfg!(target_vendor = "apple") {
        FileKind::MachO
    } else {
        FileKind::Elf
    }
}

fn host_architecture() -> Option<object::Architecture> {
    use object::Architecture as A;
    Some(match std::env::consts::ARCH {
        "x86_64" => A::X86_64,
        "x86" => A::I386,
        "aarch64" => A::Aarch64,
        "arm" => A::Arm,
        "riscv64" => A::Riscv64,
        "loongarch64" => A::LoongArch64,
        "powerpc64" => A::PowerPc64,
        "s390x" => A::S390x,
        _ => return None,
    })
}

/// The entry symbol of a library, from its export table, without loading it.
fn inspect(name: &str, bytes: &[u8]) -> Result<String, Error> {
    let kind = FileKind::detect(bytes);
    let host = host_format();
    if kind != host {
        let detail = match kind {
            FileKind::WasmModule | FileKind::WasmComponent => {
                format!("it is {}; set `kind = \"wasm\"` in its plugin.toml", kind.describe())
            }
            _ => format!("it is {}, and this host loads {}", kind.describe(), host.describe()),
        };
        return Err(Error::NotNative { plugin: name.into(), detail });
    }
    let unreadable = |e: object::Error| Error::NotNative {
        plugin: name.into(),
        detail: format!("cannot read {}: {e}", kind.describe()),
    };
    let file = object::File::parse(bytes).map_err(unreadable)?;
    let mut problems = Vec::new();
    if let Some(arch) = host_architecture()
        && file.architecture() != arch
        && file.architecture() != object::Architecture::Unknown
    {
        problems.push(Problem::WrongArchitecture {
            found: format!("{:?}", file.architecture()).to_lowercase(),
            host: std::env::consts::ARCH.to_owned(),
        });
    }
    let exports = file.exports().map_err(unreadable)?;
    let mut entries: Vec<String> = exports
        .iter()
        .filter_map(|e| std::str::from_utf8(e.name()).ok())
        // Mach-O prefixes C symbols with an underscore.
        .map(|s| if kind == FileKind::MachO { s.strip_prefix('_').unwrap_or(s) } else { s })
        .filter(|s| s.starts_with(ENTRY_PREFIX))
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        // ELF libraries list their exports as dynamic symbols.
        entries = file
            .dynamic_symbols()
            .filter(|s| s.is_definition() && s.is_global())
            .filter_map(|s| s.name().ok())
            .filter(|s| s.starts_with(ENTRY_PREFIX))
            .map(str::to_owned)
            .collect();
    }
    entries.sort();
    entries.dedup();
    match entries.len() {
        0 => problems.push(Problem::MissingExport(format!(
            "{ENTRY_PREFIX}… (the entry function `export_plugin!` emits in a crate whose crate-type includes \"cdylib\")"
        ))),
        1 => {}
        _ => problems.push(Problem::AmbiguousEntry(entries.clone())),
    }
    if !problems.is_empty() {
        return Err(Error::Invalid { plugin: name.into(), problems });
    }
    Ok(entries.remove(0))
}

/// The libraries loaded so far, by the SHA-256 of their bytes.
fn loaded() -> &'static Mutex<HashMap<[u8; 32], Arc<Library>>> {
    static LOADED: OnceLock<Mutex<HashMap<[u8; 32], Arc<Library>>>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

/// The count of threads still running a call the watchdog gave up on, per
/// plugin name: kept across unloads, so that reloading a plugin does not
/// let it strand another batch of threads.
fn stranded(name: &str) -> Arc<AtomicUsize> {
    static STRANDED: OnceLock<Mutex<HashMap<String, Arc<AtomicUsize>>>> = OnceLock::new();
    let mut all = STRANDED.get_or_init(Mutex::default).lock();
    all.entry(name.to_owned()).or_default().clone()
}

/// Writes `bytes` to a content-addressed copy named like the original, so
/// that the original can be rebuilt (or, on Windows, overwritten) while the
/// copy stays loaded.
fn shadow_copy(hash: &[u8; 32], file_name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join("wasp-native").join(hex);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(file_name);
    if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
        return Ok(path);
    }
    let tmp = dir.join(format!(".{file_name}.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The ABI version that introduced native libraries: no table declares less.
const FIRST_NATIVE_ABI: ApiVersion = ApiVersion::new(1, 1);

/// The fields every version of the table starts with.
#[repr(C)]
#[derive(Clone, Copy)]
struct Header {
    magic: [u8; 8],
    abi_major: u32,
    abi_minor: u32,
    size: u32,
}

/// [`PluginVTable`] as raw words, to check its function pointers for NULL
/// before they are read as Rust function pointers (which cannot be NULL).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawTable {
    header: Header,
    reserved: u32,
    functions: [*const std::ffi::c_void; 4],
}

const _: () = assert!(size_of::<RawTable>() == size_of::<PluginVTable>());
const _: () = assert!(align_of::<RawTable>() == align_of::<PluginVTable>());

impl NativePlugin {
    /// Checks and loads a native plugin library from its bytes.
    ///
    /// `file_name` names the loaded copy (so that backtraces and debuggers
    /// show a recognisable name). The export table, format and architecture
    /// are checked before the library is loaded; loading runs its
    /// initializers, then its entry table's magic and ABI version are
    /// checked. A plugin built for an ABI major version the host does not
    /// speak is refused with an error naming both versions.
    pub fn open(name: &str, file_name: &str, bytes: &[u8]) -> Result<Self, Error> {
        let symbol = inspect(name, bytes)?;
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let mut loaded = loaded().lock();
        let lib = match loaded.get(&hash) {
            Some(lib) => lib.clone(),
            None => {
                let lib = Arc::new(load(name, file_name, bytes, &hash, symbol)?);
                loaded.insert(hash, lib.clone());
                lib
            }
        };
        drop(loaded);
        Ok(Self { name: name.into(), lib, stranded: stranded(name) })
    }

    /// Checks a native plugin library from its bytes without loading it:
    /// its format and architecture are this host's, and it exports exactly
    /// one entry function. What [`NativePlugin::open`] checks before it runs
    /// any of the library's code; a host that runs the library in another
    /// process checks this much before handing the bytes over.
    pub fn check(name: &str, bytes: &[u8]) -> Result<(), Error> {
        inspect(name, bytes).map(drop)
    }

    /// The ABI version the library was built for.
    pub fn abi_version(&self) -> ApiVersion {
        self.lib.abi
    }

    /// The entry function's name.
    pub fn entry_symbol(&self) -> &str {
        &self.lib.symbol
    }

    /// The loaded copy of the library.
    pub fn path(&self) -> &Path {
        &self.lib.path
    }
}

fn load(name: &str, file_name: &str, bytes: &[u8], hash: &[u8; 32], symbol: String) -> Result<Library, Error> {
    let path = shadow_copy(hash, file_name, bytes).map_err(|source| Error::Io { path: file_name.into(), source })?;
    let failed = |detail: String| Error::NotNative { plugin: name.into(), detail };
    // SAFETY: a native plugin is trusted code (docs/security.md): loading it
    // runs its initializers in this process. Its format, architecture and
    // entry symbol were checked above.
    let lib = unsafe { libloading::Library::new(&path) }
        .map_err(|e| failed(format!("the system cannot load {}: {e}", path.display())))?;
    // SAFETY: the symbol is the plugin's entry function, whose signature the
    // ABI fixes (`EntryFn`).
    let entry =
        unsafe { lib.get::<EntryFn>(symbol.as_bytes()) }.map_err(|e| failed(format!("cannot find `{symbol}`: {e}")))?;
    // SAFETY: the entry function takes nothing and returns a pointer to a static table.
    let table = unsafe { entry() };
    match check_table(table, &symbol) {
        Ok((vtable, abi)) => Ok(Library { _lib: lib, vtable, abi, symbol, path }),
        Err(problem) => {
            // A library refused here stays loaded: its initializers ran.
            std::mem::forget(lib);
            Err(Error::Invalid { plugin: name.into(), problems: vec![problem] })
        }
    }
}

/// Checks what a library's entry function returned: a usable pointer, the
/// magic, a version this host speaks (and that has native libraries), a
/// large enough table with no NULL function.
fn check_table(table: *const PluginVTable, symbol: &str) -> Result<(&'static PluginVTable, ApiVersion), Problem> {
    let bad = |detail: String| Err(Problem::BadEntryTable(detail));
    if table.is_null() || !table.is_aligned() {
        return bad(format!("`{symbol}` returned an unusable pointer {table:p}"));
    }
    // SAFETY: the pointer is non-null and aligned, and every version of the
    // table starts with the header's fields.
    let header = unsafe { table.cast::<Header>().read() };
    if header.magic != MAGIC {
        return bad(format!("`{symbol}` returned a table that does not start with the wasp magic bytes"));
    }
    let abi = ApiVersion::new(
        u16::try_from(header.abi_major).unwrap_or(u16::MAX),
        u16::try_from(header.abi_minor).unwrap_or(u16::MAX),
    );
    if ApiVersion::CURRENT.accepts(abi).is_err() {
        return Err(Problem::UnsupportedAbi { plugin: abi, host: ApiVersion::CURRENT });
    }
    if abi < FIRST_NATIVE_ABI {
        return bad(format!("it declares ABI {abi}, but native libraries exist from ABI {FIRST_NATIVE_ABI}"));
    }
    // Every 1.x table so far has the same fields; a later minor version
    // that adds some will need its own minimum here (never more than the
    // plugin's declared version requires).
    let needed = size_of::<PluginVTable>();
    if (header.size as usize) < needed {
        return bad(format!("its table is {} bytes, ABI {abi} needs {needed}", header.size));
    }
    // SAFETY: the table is at least `needed` bytes (its declared size) and aligned.
    let raw = unsafe { table.cast::<RawTable>().read() };
    let names = ["create", "load", "handle", "destroy"];
    if let Some(i) = raw.functions.iter().position(|f| f.is_null()) {
        return bad(format!("its `{}` function pointer is NULL", names[i]));
    }
    // SAFETY: the table is the plugin's static `PluginVTable` (checked magic,
    // version, size and functions); the library is never unloaded, so it
    // lives for the rest of the process.
    Ok((unsafe { &*table }, abi))
}
