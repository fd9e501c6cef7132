//! Recognising and validating plugin files before anything runs.

use std::sync::{Arc, OnceLock};

use wasmparser::{Parser, Payload};
use wasmtime::{ExternType, FuncType, InstancePre, Module, ValType};
use wasp_protocol::ApiVersion;
use wasp_protocol::abi::{self, FuncSig};

use crate::cache::CacheKey;
use crate::error::Problem;
use crate::wasm::GuestState;
use crate::{Engine, Error, Limits};

/// What a plugin file is, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginKind {
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

impl PluginKind {
    /// Detects the kind from magic bytes.
    ///
    /// ```
    /// use wasp_runtime::PluginKind;
    /// assert_eq!(PluginKind::detect(b"\0asm\x01\0\0\0"), PluginKind::WasmModule);
    /// assert_eq!(PluginKind::detect(b"\x7fELF\x02\x01"), PluginKind::Elf);
    /// assert_eq!(PluginKind::detect(b"hello"), PluginKind::Unknown);
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
    /// Validates and compiles `bytes`. Nothing of the guest runs here: every
    /// check (size, format, WebAssembly validity, ABI version, imports,
    /// exports and their signatures) happens first, and all ABI problems are
    /// reported together.
    ///
    /// When the engine has a [`ModuleCache`](crate::ModuleCache), the
    /// compiled code is taken from it if an intact entry for these bytes and
    /// this engine exists, and written to it after a successful compile.
    pub fn compile(engine: &Engine, name: &str, bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_module_size {
            return Err(Error::TooLarge { plugin: name.into(), size: bytes.len(), limit: limits.max_module_size });
        }
        let kind = PluginKind::detect(bytes);
        if kind != PluginKind::WasmModule {
            let detail = match kind {
                PluginKind::WasmComponent => {
                    "it is a WebAssembly component; compile it with `ComponentPlugin::compile` \
                     (`PluginImage::compile_wasm` tells the two apart)"
                        .to_owned()
                }
                PluginKind::Elf | PluginKind::Pe | PluginKind::MachO => {
                    format!("it is {}; set `kind = \"native\"` in its plugin.toml", kind.describe())
                }
                _ => "it does not start with the WebAssembly magic bytes `\\0asm`".to_owned(),
            };
            return Err(Error::NotWasm { plugin: name.into(), detail });
        }
        let mut problems = Vec::new();
        let abi = match read_abi_section(bytes).map_err(|detail| Error::Malformed { plugin: name.into(), detail })? {
            None => {
                problems.push(Problem::MissingAbiVersion);
                None
            }
            Some(text) => match text.parse::<ApiVersion>() {
                Err(_) => {
                    problems.push(Problem::MalformedAbiVersion(text));
                    None
                }
                Ok(v) => {
                    if ApiVersion::CURRENT.accepts(v).is_err() {
                        problems.push(Problem::UnsupportedAbi { plugin: v, host: ApiVersion::CURRENT });
                    }
                    Some(v)
                }
            },
        };
        // A cached module was compiled from these very bytes (its key is
        // their SHA-256) after they passed wasmtime's validation; the ABI
        // checks below run on it all the same, as they read only the
        // module's imports and exports (microseconds).
        let key = CacheKey::new(engine.cache_hash(), bytes);
        // First the module a running plugin of this engine already has (its
        // machine code is shared, not copied), then the disk cache.
        let shared = engine.shared_module(&key, false);
        let cache = engine.module_cache().filter(|_| shared.is_none());
        let cached = cache.and_then(|cache| cache.load::<Module>(engine.wasmtime(), &key));
        let compile = shared.is_none() && cached.is_none();
        let compiled = match (shared, cached) {
            (Some(shared), _) => Ok(shared),
            (None, Some(module)) => Ok(Arc::new(module)),
            (None, None) => Module::new(engine.wasmtime(), bytes).map(Arc::new),
        };
        let module = match compiled {
            Ok(module) => module,
            // The version is judged before validation (docs/abi.md section 1):
            // a plugin built for another ABI may use features this host does
            // not validate, and must still be told about its version.
            Err(_) if !problems.is_empty() => return Err(Error::Invalid { plugin: name.into(), problems }),
            Err(e) => return Err(Error::Malformed { plugin: name.into(), detail: format!("{e:#}") }),
        };
        check_imports(&module, abi, &mut problems);
        let (has_load, has_initialize) = check_exports(&module, &mut problems);
        let Some(abi) = abi.filter(|_| problems.is_empty()) else {
            return Err(Error::Invalid { plugin: name.into(), problems });
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
                "plugin `{}`: the instance pool is full and on-demand allocation failed: {e}",
                self.name
            ))
        };
        let Some((overflow, linker)) = engine.overflow() else {
            return Err(Error::Internal(format!("plugin `{}`: the instance pool is full", self.name)));
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

/// The content of the `wasp:abi` custom section, if present.
pub(crate) fn read_abi_section(bytes: &[u8]) -> Result<Option<String>, String> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(section) = payload.map_err(|e| e.to_string())?
            && section.name() == abi::ABI_SECTION
        {
            return Ok(Some(String::from_utf8_lossy(section.data()).into_owned()));
        }
    }
    Ok(None)
}

fn sig_matches(ty: &FuncType, sig: &FuncSig) -> bool {
    let same = |actual: &mut dyn ExactSizeIterator<Item = ValType>, wanted: &[abi::ValType]| {
        actual.len() == wanted.len()
            && actual.zip(wanted).all(|(a, w)| match w {
                abi::ValType::I32 => matches!(a, ValType::I32),
                abi::ValType::I64 => matches!(a, ValType::I64),
            })
    };
    same(&mut ty.params(), sig.params) && same(&mut ty.results(), sig.results)
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

fn check_imports(module: &Module, declared: Option<ApiVersion>, problems: &mut Vec<Problem>) {
    for import in module.imports() {
        let forbidden = || Problem::ForbiddenImport { module: import.module().into(), name: import.name().into() };
        let known = match import.module() {
            abi::IMPORT_MODULE => abi::import(import.name()).is_some(),
            abi::WASI_MODULE => abi::WASI_IMPORTS.contains(&import.name()),
            _ => false,
        };
        if !known {
            problems.push(forbidden());
            continue;
        }
        let since = abi::import_since(import.module(), import.name());
        if let Some(declared) = declared
            && declared < since
        {
            problems.push(Problem::ImportTooNew {
                module: import.module().into(),
                name: import.name().into(),
                since,
                declared,
            });
        }
        if import.module() == abi::WASI_MODULE {
            // Signatures of the WASI subset are checked when linking.
            continue;
        }
        let Some(sig) = abi::import(import.name()) else {
            problems.push(forbidden());
            continue;
        };
        let ty = import.ty();
        if !matches!(&ty, ExternType::Func(f) if sig_matches(f, sig)) {
            problems.push(Problem::WrongImport {
                name: import.name().into(),
                expected: sig.to_string(),
                found: describe(&ty),
            });
        }
    }
}

/// Checks exports; returns whether the optional `wasp_load` and
/// `_initialize` are present.
fn check_exports(module: &Module, problems: &mut Vec<Problem>) -> (bool, bool) {
    match module.get_export(abi::EXPORT_MEMORY) {
        None => problems.push(Problem::MissingExport(abi::EXPORT_MEMORY.into())),
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => {}
        Some(other) => problems.push(Problem::WrongExport {
            name: abi::EXPORT_MEMORY.into(),
            expected: "a 32-bit, unshared memory".into(),
            found: describe(&other),
        }),
    }
    let mut check = |sig: &FuncSig, required: bool| match module.get_export(sig.name) {
        None => {
            if required {
                problems.push(Problem::MissingExport(sig.name.into()));
            }
            false
        }
        Some(ExternType::Func(f)) if sig_matches(&f, sig) => true,
        Some(other) => {
            problems.push(Problem::WrongExport {
                name: sig.name.into(),
                expected: sig.to_string(),
                found: describe(&other),
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
