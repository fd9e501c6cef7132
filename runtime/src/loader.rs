//! Recognising and validating plugin files before anything runs.

use std::sync::{Arc, OnceLock};

use wasmtime::{ExternType, InstancePre, Module, ValType};
use wasp_protocol::ApiVersion;
use wasp_protocol::abi::{self, FuncSig};

use crate::cache::CacheKey;
use crate::error::Problem;
use crate::wasm::GuestState;
use crate::{Engine, Error, Limits};

pub(crate) mod declared;

use declared::{Declared, Item};

/// What a plugin file is, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A core WebAssembly module (`\0asm`, version 1).
    WasmModule,
    /// A WebAssembly component (`\0asm`, component layer).
    WasmComponent,
    /// An ELF shared object (Linux `.so`).
    Elf,
    /// A PE image (Windows `.dll`).
    Pe,
    /// A Mach-O image (macOS `.dylib`).
    MachO,
    /// None of the above.
    Unknown,
}

impl FileKind {
    /// Detects the kind from magic bytes.
    ///
    /// ```
    /// use wasp_runtime::FileKind;
    /// assert_eq!(FileKind::detect(b"\0asm\x01\0\0\0"), FileKind::WasmModule);
    /// assert_eq!(FileKind::detect(b"\x7fELF\x02\x01"), FileKind::Elf);
    /// assert_eq!(FileKind::detect(b"hello"), FileKind::Unknown);
    /// ```
    pub fn detect(bytes: &[u8]) -> Self {
        match bytes {
            [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Self::WasmModule,
            [0, b'a', b's', b'm', _, _, 1, 0, ..] => Self::WasmComponent,
            [0x7f, b'E', b'L', b'F', ..] => Self::Elf,
            [b'M', b'Z', ..] => Self::Pe,
            [0xcf, 0xfa, 0xed, 0xfe, ..] | [0xce, 0xfa, 0xed, 0xfe, ..] | [0xca, 0xfe, 0xba, 0xbe, ..] => Self::MachO,
            _ => Self::Unknown,
        }
    }

    /// A phrase for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WasmModule => "a WebAssembly module",
            Self::WasmComponent => "a WebAssembly component",
            Self::Elf => "an ELF native library",
            Self::Pe => "a Windows PE native library",
            Self::MachO => "a Mach-O native library",
            Self::Unknown => "not a format wasp recognises",
        }
    }
}

/// A validated, compiled WASM plugin, ready to instantiate any number of times.
///
/// Cheap to clone; every instance of one plugin shares its compiled code.
#[derive(Clone)]
pub struct WasmPlugin {
    pub(crate) name: Arc<str>,
    pub(crate) pre: InstancePre<GuestState>,
    pub(crate) abi: ApiVersion,
    pub(crate) has_load: bool,
    pub(crate) has_initialize: bool,
    /// The module for the engine's overflow (on-demand) allocator, made
    /// when the pool is first found full.
    pub(crate) overflow: Arc<OnceLock<(InstancePre<GuestState>, Arc<Module>)>>,
    /// Keeps the module shared with later loads of the same bytes
    /// ([`Engine`]'s table holds it weakly).
    _module: Arc<Module>,
    /// The module's cache key, to share its overflow copy too.
    key: CacheKey,
}

impl std::fmt::Debug for WasmPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPlugin").field("name", &self.name).field("abi", &self.abi).finish_non_exhaustive()
    }
}

impl WasmPlugin {
    /// Validates and compiles `bytes`. Nothing of the guest runs here, and
    /// nothing compiles until every check has passed (`docs/abi.md` §1):
    /// the size, the format, then — read from the module's sections, at a
    /// cost that does not grow with its code — the ABI version, the imports
    /// and the exports. A module that breaks the ABI is validated (not
    /// compiled) so that every problem is reported together, invalid
    /// WebAssembly among them. Then the memory and tables it declares are
    /// checked against `limits`; only then is it compiled.
    ///
    /// When the engine has a [`ModuleCache`](crate::ModuleCache), the
    /// compiled code is taken from it if an intact entry for these bytes and
    /// this engine exists, and written to it after a successful compile.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::NotWasm`], [`Error::Invalid`] (every
    /// ABI problem, and [`Problem::NotValid`] when the module is not valid
    /// WebAssembly either), [`Error::OverLimit`] for a valid module that
    /// asks for more than `limits` (or the engine's pooling allocator) allows,
    /// [`Error::Malformed`] for a module that is not valid WebAssembly.
    pub fn compile(engine: &Engine, name: &str, bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_module_size {
            return Err(Error::TooLarge { plugin: name.into(), size: bytes.len(), limit: limits.max_module_size });
        }
        let kind = FileKind::detect(bytes);
        if kind != FileKind::WasmModule {
            let detail = match kind {
                FileKind::WasmComponent => "it is a WebAssembly component; compile it with `ComponentPlugin::compile` \
                     (`PluginImage::compile_wasm` tells the two apart)"
                    .to_owned(),
                FileKind::Elf | FileKind::Pe | FileKind::MachO => {
                    format!("it is {}; set `kind = \"native\"` in its plugin.toml", kind.describe())
                }
                _ => "it does not start with the WebAssembly magic bytes `\\0asm`".to_owned(),
            };
            return Err(Error::NotWasm { plugin: name.into(), detail });
        }
        let declared = Declared::read(bytes).map_err(|detail| Error::Malformed { plugin: name.into(), detail })?;
        let mut problems = Vec::new();
        let abi = check_version(declared.abi.as_deref(), &mut problems);
        check_imports(&declared, abi, &mut problems);
        let (has_load, has_initialize) = check_exports(&declared, &mut problems);
        let Some(abi) = abi.filter(|_| problems.is_empty()) else {
            // Nothing compiles for a module that breaks the ABI. Validating
            // it costs a fraction of compiling, and tells a broken module
            // it is broken too (the version comes first: a plugin built
            // for another ABI may use features this host does not enable).
            if let Err(e) = Module::validate(engine.wasmtime(), bytes) {
                problems.push(Problem::NotValid(format!("{e:#}")));
            }
            return Err(Error::Invalid { plugin: name.into(), problems });
        };
        check_limits(&declared, limits, engine.pool_size().is_some())
            .map_err(|(limit_name, detail)| Error::OverLimit { plugin: name.into(), limit_name, detail })?;
        // A cached module was compiled from these very bytes (its key is
        // their BLAKE3 hash) after they passed wasmtime's validation.
        let key = CacheKey::new(engine.cache_hash(), bytes);
        // First the module a running plugin of this engine already has (its
        // machine code is shared, not copied), then the disk cache.
        let shared = engine.shared_module(&key, false);
        let cache = engine.module_cache().filter(|_| shared.is_none());
        let cached = cache.and_then(|cache| cache.load::<Module>(engine.wasmtime(), &key));
        let compile = shared.is_none() && cached.is_none();
        let module = match (shared, cached) {
            (Some(shared), _) => shared,
            (None, Some(module)) => Arc::new(module),
            (None, None) => {
                Arc::new(Module::new(engine.wasmtime(), bytes).map_err(|e| refused(engine, name, bytes, &e))?)
            }
        };
        let pre = engine.linker().instantiate_pre(&module).map_err(|e| Error::Invalid {
            plugin: name.into(),
            problems: vec![Problem::Unlinkable(format!("{e:#}"))],
        })?;
        if compile && let Some(cache) = cache {
            cache.store(&key, &*module);
        }
        engine.share_module(key, &module, false);
        Ok(Self {
            name: name.into(),
            pre,
            abi,
            has_load,
            has_initialize,
            overflow: Arc::default(),
            key,
            _module: module,
        })
    }

    /// The plugin ready to instantiate in the engine's on-demand overflow
    /// engine (its pool is full): the same machine code, loaded there.
    pub(crate) fn overflow_pre(&self, engine: &Engine) -> Result<InstancePre<GuestState>, Error> {
        if let Some((pre, _)) = self.overflow.get() {
            return Ok(pre.clone());
        }
        let failed = |e: wasmtime::Error| {
            Error::Internal(format!(
                "plugin `{}`: the pooling allocator is full and on-demand allocation failed: {e}",
                self.name
            ))
        };
        let Some((overflow, linker)) = engine.overflow() else {
            return Err(Error::Internal(format!("plugin `{}`: the pooling allocator is full", self.name)));
        };
        // One copy of the code in the overflow engine per module, shared by
        // its plugins (each copy costs memory maps, and a process has a
        // bounded number of them).
        let module = match engine.shared_module(&self.key, true) {
            Some(module) => module,
            None => {
                let artifact = self.pre.module().serialize().map_err(failed)?;
                // SAFETY: `artifact` is what `Module::serialize` returned a
                // moment ago in this process, unmodified, as
                // `Module::deserialize` requires. The two engines share every
                // code-generation setting (only their instance allocators
                // differ); wasmtime checks that and fails safely if not.
                let module = Arc::new(unsafe { Module::deserialize(overflow, &artifact) }.map_err(failed)?);
                engine.share_module(self.key, &module, true);
                module
            }
        };
        let pre = linker.instantiate_pre(&module).map_err(failed)?;
        let pre = self.overflow.get_or_init(|| (pre, module)).0.clone();
        Ok(pre)
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ABI version the plugin was built for.
    pub fn abi_version(&self) -> ApiVersion {
        self.abi
    }
}

/// Why wasmtime refused to compile a module that passed every check
/// above: invalid WebAssembly, or (when valid) a limit of the engine's
/// pooling allocator, such as the size of an instance's context.
fn refused(engine: &Engine, name: &str, bytes: &[u8], e: &wasmtime::Error) -> Error {
    match Module::validate(engine.wasmtime(), bytes) {
        Err(invalid) => Error::Malformed { plugin: name.into(), detail: format!("{invalid:#}") },
        Ok(()) if engine.pool_size().is_some() => {
            Error::OverLimit { plugin: name.into(), limit_name: "pooling_allocator", detail: format!("{e:#}") }
        }
        Ok(()) => Error::Internal(format!("plugin `{name}`: wasmtime cannot compile this valid module: {e:#}")),
    }
}

/// The ABI version the `wasp:abi` section declares, if it is one; its
/// problems otherwise.
fn check_version(section: Option<&str>, problems: &mut Vec<Problem>) -> Option<ApiVersion> {
    let Some(text) = section else {
        problems.push(Problem::MissingAbiVersion);
        return None;
    };
    match text.parse::<ApiVersion>() {
        Err(_) => {
            problems.push(Problem::MalformedAbiVersion(text.to_owned()));
            None
        }
        Ok(v) => {
            if ApiVersion::CURRENT.accepts(v).is_err() {
                problems.push(Problem::UnsupportedAbi { plugin: v, host: ApiVersion::CURRENT });
            }
            Some(v)
        }
    }
}

/// The most tables one instance of the engine's pool holds.
const POOL_TABLES: usize = crate::engine::POOL_TABLES_PER_MODULE as usize;

/// Checks what a valid module asks for at instantiation against `limits`
/// (and, for an engine with an pooling allocator, the pool's own bounds):
/// `(limit, what the module asks for)` for the first one over.
fn check_limits(declared: &Declared, limits: &Limits, pooled: bool) -> Result<(), (&'static str, String)> {
    for (index, memory) in declared.memories.iter().enumerate() {
        let page = 1u64 << memory.page_size_log2.unwrap_or(16);
        let size = memory.initial.saturating_mul(page);
        if size > limits.max_memory as u64 {
            return Err((
                "max_memory",
                format!(
                    "its memory {index} starts at {} pages ({}), over the limit of {}",
                    memory.initial,
                    bytes(size),
                    bytes(limits.max_memory as u64)
                ),
            ));
        }
    }
    for (index, table) in declared.tables.iter().enumerate() {
        if table.initial > u64::from(limits.max_table_elements) {
            return Err((
                "max_table_elements",
                format!(
                    "its table {index} starts with {} elements, over the limit of {}",
                    table.initial, limits.max_table_elements
                ),
            ));
        }
    }
    if pooled && declared.tables.len() > POOL_TABLES {
        return Err((
            "pooling_allocator",
            format!(
                "it defines {} tables; a slot of the pooling allocator holds at most {POOL_TABLES}",
                declared.tables.len()
            ),
        ));
    }
    Ok(())
}

/// `4 GiB`, `64 MiB`, `1000 bytes`.
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

fn sig_matches(ty: &wasmparser::FuncType, sig: &FuncSig) -> bool {
    let same = |actual: &[wasmparser::ValType], wanted: &[abi::ValType]| {
        actual.len() == wanted.len()
            && actual.iter().zip(wanted).all(|(a, w)| match w {
                abi::ValType::I32 => *a == wasmparser::ValType::I32,
                abi::ValType::I64 => *a == wasmparser::ValType::I64,
            })
    };
    same(ty.params(), sig.params) && same(ty.results(), sig.results)
}

pub(crate) fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let list = |v: &mut dyn Iterator<Item = ValType>| v.map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
            let results = list(&mut f.results());
            if results.is_empty() {
                format!("a function ({})", list(&mut f.params()))
            } else {
                format!("a function ({}) -> {results}", list(&mut f.params()))
            }
        }
        ExternType::Memory(_) => "a memory".into(),
        ExternType::Table(_) => "a table".into(),
        ExternType::Global(_) => "a global".into(),
        _ => "an unsupported item".into(),
    }
}

fn check_imports(declared: &Declared, abi_version: Option<ApiVersion>, problems: &mut Vec<Problem>) {
    for import in &declared.imports {
        let (module, name) = (import.module.as_str(), import.name.as_str());
        let forbidden = || Problem::ForbiddenImport { module: module.into(), name: name.into() };
        let known = match module {
            abi::IMPORT_MODULE => abi::import(name).is_some(),
            abi::WASI_MODULE => abi::WASI_IMPORTS.contains(&name),
            _ => false,
        };
        if !known {
            problems.push(forbidden());
            continue;
        }
        let since = abi::import_since(module, name);
        if let Some(declared) = abi_version
            && declared < since
        {
            problems.push(Problem::ImportTooNew { module: module.into(), name: name.into(), since, declared });
        }
        if module == abi::WASI_MODULE {
            // Signatures of the WASI subset are checked when linking.
            continue;
        }
        let Some(sig) = abi::import(name) else {
            problems.push(forbidden());
            continue;
        };
        if !matches!(&import.item, Item::Func(Some(f)) if sig_matches(f, sig)) {
            problems.push(Problem::WrongImport {
                name: name.into(),
                expected: sig.to_string(),
                found: import.item.describe(),
            });
        }
    }
}

/// Checks exports; returns whether the optional `wasp_load` and
/// `_initialize` are present.
fn check_exports(declared: &Declared, problems: &mut Vec<Problem>) -> (bool, bool) {
    match declared.export(abi::EXPORT_MEMORY) {
        None => problems.push(Problem::MissingExport(abi::EXPORT_MEMORY.into())),
        Some(Item::Memory(m)) if !m.memory64 && !m.shared => {}
        Some(other) => problems.push(Problem::WrongExport {
            name: abi::EXPORT_MEMORY.into(),
            expected: "a 32-bit, unshared memory".into(),
            found: other.describe(),
        }),
    }
    let mut check = |sig: &FuncSig, required: bool| match declared.export(sig.name) {
        None => {
            if required {
                problems.push(Problem::MissingExport(sig.name.into()));
            }
            false
        }
        Some(Item::Func(Some(f))) if sig_matches(f, sig) => true,
        Some(other) => {
            problems.push(Problem::WrongExport {
                name: sig.name.into(),
                expected: sig.to_string(),
                found: other.describe(),
            });
            false
        }
    };
    for sig in abi::REQUIRED_EXPORTS {
        check(sig, true);
    }
    let (mut has_load, mut has_initialize) = (false, false);
    for sig in abi::OPTIONAL_EXPORTS {
        let present = check(sig, false);
        has_load |= present && sig.name == abi::EXPORT_LOAD;
        has_initialize |= present && sig.name == abi::EXPORT_INITIALIZE;
    }
    (has_load, has_initialize)
}
