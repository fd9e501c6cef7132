//! Shared library modules: WebAssembly code that plugins name in their
//! manifest (`uses = ["json@1"]`), compiled once per engine and
//! instantiated into each plugin that uses it (`docs/libraries.md`).
//!
//! A library is a core module that carries `NAME@MAJOR.MINOR.PATCH` in its
//! `wasp:library` custom section, imports nothing, and exports `memory`,
//! `wasp_alloc`, `wasp_dealloc` and functions `(ptr: i32, len: i32) -> i64`.
//! Plugins call them with the `call` import, service
//! `library:<name>/<function>`: the host copies the input into the
//! library's memory and the output back ([`call`]).

pub(crate) mod call;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use wasmparser::{Parser, Payload};
use wasmtime::{ExternType, Module, ValType};
use wasp_protocol::abi;

use crate::cache::CacheKey;
use crate::{Engine, Error, FileKind};

/// The largest library file accepted, in bytes.
const MAX_LIBRARY_SIZE: usize = 64 << 20;

/// A library's version: `MAJOR.MINOR.PATCH`, ordered as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LibraryVersion {
    /// Incompatible changes.
    pub major: u64,
    /// Compatible additions.
    pub minor: u64,
    /// Compatible fixes.
    pub patch: u64,
}

impl fmt::Display for LibraryVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Up to three dot-separated numbers without leading zeros.
fn numbers(text: &str) -> Option<Vec<u64>> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            let digits = !p.is_empty() && p.len() <= 19 && p.bytes().all(|b| b.is_ascii_digit());
            (digits && (*p == "0" || !p.starts_with('0'))).then(|| p.parse().ok()).flatten()
        })
        .collect()
}

impl FromStr for LibraryVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match numbers(text).as_deref() {
            Some(&[major, minor, patch]) => Ok(Self { major, minor, patch }),
            _ => Err(format!("`{text}` is not a version; expected MAJOR.MINOR.PATCH such as 1.0.0")),
        }
    }
}

/// Checks a library name: 1 to 32 bytes of a-z, 0-9, `-` and `_`.
fn check_library_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a library name; use 1 to 32 characters of a-z, 0-9, `-` and `_`"))
    }
}

/// What a plugin's manifest asks for in `uses`: a library name and the
/// versions it accepts, written `NAME@MAJOR[.MINOR[.PATCH]]`, with Cargo's
/// caret rule.
///
/// | written | accepts |
/// | --- | --- |
/// | `json@1` | any `1.x.y` |
/// | `json@1.2` | `1.x.y` with `x.y >= 2.0` |
/// | `json@1.2.3` | `1.x.y` with `x.y >= 2.3` |
/// | `json@0.3` | `0.3.y` |
/// | `json@0.0.3` | `0.0.3` only |
///
/// ```
/// use wasp_runtime::{LibraryRequirement, LibraryVersion};
///
/// let wanted: LibraryRequirement = "json@1.2".parse()?;
/// assert_eq!(wanted.name(), "json");
/// assert!(wanted.accepts("1.4.0".parse::<LibraryVersion>()?));
/// assert!(!wanted.accepts("1.1.9".parse::<LibraryVersion>()?));
/// assert!(!wanted.accepts("2.0.0".parse::<LibraryVersion>()?));
/// assert_eq!(wanted.to_string(), "json@1.2");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LibraryRequirement {
    name: String,
    major: u64,
    minor: Option<u64>,
    patch: Option<u64>,
}

impl LibraryRequirement {
    /// The library's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `version` satisfies the requirement.
    pub fn accepts(&self, version: LibraryVersion) -> bool {
        if version.major != self.major {
            return false;
        }
        let minor = self.minor.unwrap_or(0);
        let patch = self.patch.unwrap_or(0);
        match (self.major, self.minor, self.patch) {
            (0, None, _) => true,
            (0, Some(0), Some(p)) => version.minor == 0 && version.patch == p,
            (0, Some(m), _) => version.minor == m && version.patch >= patch,
            _ => (version.minor, version.patch) >= (minor, patch),
        }
    }
}

impl fmt::Display for LibraryRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.major)?;
        if let Some(minor) = self.minor {
            write!(f, ".{minor}")?;
        }
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

impl FromStr for LibraryRequirement {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((name, version)) = text.split_once('@') else {
            return Err(format!("`{text}` names no version; write NAME@MAJOR such as \"json@1\""));
        };
        check_library_name(name)?;
        let parts = numbers(version).ok_or_else(|| {
            format!("`{version}` in `{text}` is not a version; write MAJOR, MAJOR.MINOR or MAJOR.MINOR.PATCH")
        })?;
        Ok(Self { name: name.to_owned(), major: parts[0], minor: parts.get(1).copied(), patch: parts.get(2).copied() })
    }
}

/// A validated, compiled library module, ready to be instantiated into any
/// number of plugins. Cheap to clone: every plugin shares its machine code
/// (made once per engine, or taken from the [`ModuleCache`](crate::ModuleCache)),
/// never its memory.
///
/// Hosts register libraries with `HostBuilder::library`; plugins reach the
/// ones their manifest `uses` ([`Libraries::resolve`]).
#[derive(Clone)]
pub struct Library(Arc<Inner>);

struct Inner {
    name: String,
    version: LibraryVersion,
    functions: Vec<String>,
    module: Arc<Module>,
    key: CacheKey,
    engine: Engine,
    /// The module for the engine's on-demand allocator, made when a plugin
    /// that overflowed the instance pool first calls the library.
    overflow: OnceLock<Arc<Module>>,
}

impl fmt::Debug for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Library")
            .field("name", &self.0.name)
            .field("version", &self.0.version)
            .field("functions", &self.0.functions)
            .finish_non_exhaustive()
    }
}

/// The content of the `wasp:library` section, if present.
fn read_section(bytes: &[u8]) -> Result<Option<String>, String> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(section) = payload.map_err(|e| e.to_string())?
            && section.name() == abi::library::SECTION
        {
            return Ok(Some(String::from_utf8_lossy(section.data()).into_owned()));
        }
    }
    Ok(None)
}

/// The export names a library may not call functions by.
const RESERVED: &[&str] = &[abi::EXPORT_MEMORY, abi::EXPORT_ALLOC, abi::EXPORT_DEALLOC];

impl Library {
    /// Validates and compiles a library module. `origin` names it in errors
    /// (its file, say) until its own name is known. Nothing of it runs here.
    ///
    /// Refused (with [`Error::InvalidLibrary`]): a file that is not a core
    /// WebAssembly module, a missing or malformed `wasp:library` section,
    /// any import, a missing or wrong `memory`, `wasp_alloc` or
    /// `wasp_dealloc`, and an exported function whose signature is not
    /// `(i32, i32) -> i64`. In a build without the `libraries` feature,
    /// every library is refused with [`Error::FeatureDisabled`].
    pub fn compile(engine: &Engine, origin: &str, bytes: &[u8]) -> Result<Self, Error> {
        crate::features::require("libraries", || format!("the shared library {origin}"))?;
        let invalid = |detail: String| Error::InvalidLibrary { library: origin.to_owned(), detail };
        if bytes.len() > MAX_LIBRARY_SIZE {
            return Err(invalid(format!("it is {} bytes, over the limit of {MAX_LIBRARY_SIZE}", bytes.len())));
        }
        if FileKind::detect(bytes) != FileKind::WasmModule {
            return Err(invalid("it is not a core WebAssembly module".into()));
        }
        let declared =
            read_section(bytes).map_err(|e| invalid(format!("not valid WebAssembly: {e}")))?.ok_or_else(|| {
                invalid(format!(
                    "no `{}` custom section: a library declares NAME@MAJOR.MINOR.PATCH there (wasp-sdk's \
                     `export_library!` writes it)",
                    abi::library::SECTION
                ))
            })?;
        let (name, version) = declared.split_once('@').ok_or_else(|| {
            invalid(format!("`{}` section holds {declared:?}, expected NAME@MAJOR.MINOR.PATCH", abi::library::SECTION))
        })?;
        check_library_name(name).map_err(&invalid)?;
        let version: LibraryVersion = version.parse().map_err(&invalid)?;
        let label = format!("{name}@{version}");
        let invalid = |detail: String| Error::InvalidLibrary { library: label.clone(), detail };

        let key = CacheKey::new(engine.cache_hash(), bytes);
        let shared = engine.shared_module(&key, false);
        let cache = engine.module_cache().filter(|_| shared.is_none());
        let cached = cache.and_then(|cache| cache.load::<Module>(engine.wasmtime(), &key));
        let compile = shared.is_none() && cached.is_none();
        let module = match (shared, cached) {
            (Some(shared), _) => shared,
            (None, Some(module)) => Arc::new(module),
            (None, None) => Arc::new(
                Module::new(engine.wasmtime(), bytes).map_err(|e| invalid(format!("not valid WebAssembly: {e:#}")))?,
            ),
        };
        let functions = check_module(&module).map_err(|problems| invalid(problems.join("; ")))?;
        if compile && let Some(cache) = cache {
            cache.store(&key, &*module);
        }
        engine.share_module(key, &module, false);
        Ok(Self(Arc::new(Inner {
            name: name.to_owned(),
            version,
            functions,
            module,
            key,
            engine: engine.clone(),
            overflow: OnceLock::new(),
        })))
    }

    /// The name it declares.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The version it declares.
    pub fn version(&self) -> LibraryVersion {
        self.0.version
    }

    /// The functions plugins may call, sorted.
    pub fn functions(&self) -> &[String] {
        &self.0.functions
    }

    /// Whether it exports the callable function `name`.
    pub(crate) fn has_function(&self, name: &str) -> bool {
        self.0.functions.binary_search_by(|f| f.as_str().cmp(name)).is_ok()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The compiled module for a store of `wasmtime`: the engine's own, or
    /// (for a plugin that overflowed the instance pool) the same machine
    /// code loaded into the overflow engine.
    pub(crate) fn module_for(&self, wasmtime: &wasmtime::Engine) -> Result<Arc<Module>, String> {
        if wasmtime::Engine::same(wasmtime, self.0.module.engine()) {
            return Ok(self.0.module.clone());
        }
        if let Some(module) = self.0.overflow.get() {
            return Ok(module.clone());
        }
        let Some((overflow, _)) = self.0.engine.overflow().filter(|(e, _)| wasmtime::Engine::same(e, wasmtime)) else {
            return Err(format!("library `{}` was compiled for another engine", self.0.name));
        };
        let module = match self.0.engine.shared_module(&self.0.key, true) {
            Some(module) => module,
            None => {
                let artifact = self.0.module.serialize().map_err(|e| e.to_string())?;
                // SAFETY: `artifact` is what `Module::serialize` returned a
                // moment ago in this process, unmodified. The two engines
                // share every code-generation setting (only their instance
                // allocators differ); wasmtime checks that and fails safely
                // if not.
                let module = Arc::new(unsafe { Module::deserialize(overflow, &artifact) }.map_err(|e| e.to_string())?);
                self.0.engine.share_module(self.0.key, &module, true);
                module
            }
        };
        Ok(self.0.overflow.get_or_init(|| module).clone())
    }
}

/// Checks a library's imports and exports; its callable functions, sorted.
fn check_module(module: &Module) -> Result<Vec<String>, Vec<String>> {
    let mut problems = Vec::new();
    for import in module.imports() {
        problems.push(format!(
            "it imports `{}::{}`; a library imports nothing (its code is pure computation)",
            import.module(),
            import.name()
        ));
    }
    let func = |params: &[ValType], results: &[ValType], ty: &ExternType| match ty {
        ExternType::Func(f) => {
            f.params().len() == params.len()
                && f.params().zip(params).all(|(a, b)| ValType::eq(&a, b))
                && f.results().len() == results.len()
                && f.results().zip(results).all(|(a, b)| ValType::eq(&a, b))
        }
        _ => false,
    };
    match module.get_export(abi::EXPORT_MEMORY) {
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => {}
        Some(other) => problems.push(format!(
            "export `memory` is {}, expected a 32-bit, unshared memory",
            crate::loader::describe(&other)
        )),
        None => problems.push("missing required export `memory`".into()),
    }
    for (name, params, results, shown) in [
        (abi::EXPORT_ALLOC, &[ValType::I32][..], &[ValType::I32][..], "a function (i32) -> i32"),
        (abi::EXPORT_DEALLOC, &[ValType::I32, ValType::I32][..], &[][..], "a function (i32, i32)"),
    ] {
        match module.get_export(name) {
            Some(ty) if func(params, results, &ty) => {}
            Some(other) => {
                problems.push(format!("export `{name}` is {}, expected {shown}", crate::loader::describe(&other)))
            }
            None => problems.push(format!("missing required export `{name}`")),
        }
    }
    let mut functions = Vec::new();
    for export in module.exports() {
        let ty = export.ty();
        if RESERVED.contains(&export.name()) || !matches!(ty, ExternType::Func(_)) {
            continue;
        }
        if func(&[ValType::I32, ValType::I32], &[ValType::I64], &ty) {
            functions.push(export.name().to_owned());
        } else {
            problems.push(format!(
                "export `{}` is {}, expected a function (i32, i32) -> i64",
                export.name(),
                crate::loader::describe(&ty)
            ));
        }
    }
    if functions.is_empty() && problems.is_empty() {
        problems.push("it exports no function (i32, i32) -> i64 for plugins to call".into());
    }
    functions.sort();
    if problems.is_empty() { Ok(functions) } else { Err(problems) }
}

/// The libraries a host offers, by name and version.
///
/// ```no_run
/// # fn main() -> Result<(), wasp_runtime::Error> {
/// use wasp_runtime::{Engine, Libraries, Library, Schedule};
///
/// let engine = Engine::new(Schedule::default())?;
/// let mut libraries = Libraries::default();
/// let bytes = std::fs::read("json.wasm").map_err(|e| wasp_runtime::Error::Internal(e.to_string()))?;
/// libraries.add(Library::compile(&engine, "json.wasm", &bytes)?)?;
/// let linked = libraries.resolve("notes", &["json@1".parse().map_err(wasp_runtime::Error::Internal)?])?;
/// assert_eq!(linked.get("json").map(|l| l.version().major), Some(1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Libraries {
    by_name: BTreeMap<String, Vec<Library>>,
}

impl Libraries {
    /// Offers `library`. Several versions of one name may be offered; the
    /// same name and version twice is refused.
    pub fn add(&mut self, library: Library) -> Result<(), Error> {
        let versions = self.by_name.entry(library.name().to_owned()).or_default();
        if versions.iter().any(|l| l.version() == library.version()) {
            return Err(Error::InvalidLibrary {
                library: format!("{}@{}", library.name(), library.version()),
                detail: "this host already has a library of that name and version".into(),
            });
        }
        versions.push(library);
        versions.sort_by_key(Library::version);
        Ok(())
    }

    /// Every library offered, by name, then version.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.by_name.values().flatten()
    }

    /// Whether no library is offered.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The libraries `plugin` gets for its manifest's `uses`: for each
    /// requirement, the newest version offered that it accepts. A name not
    /// offered is [`Error::MissingLibrary`]; a name offered only in versions
    /// it does not accept is [`Error::IncompatibleLibrary`].
    pub fn resolve(&self, plugin: &str, uses: &[LibraryRequirement]) -> Result<LinkedLibraries, Error> {
        let mut linked = Vec::with_capacity(uses.len());
        for wanted in uses {
            let Some(versions) = self.by_name.get(wanted.name()) else {
                let offered: Vec<String> = self.by_name.keys().cloned().collect();
                return Err(Error::MissingLibrary {
                    plugin: plugin.to_owned(),
                    wanted: wanted.to_string(),
                    offered: if offered.is_empty() { "none".into() } else { offered.join(", ") },
                });
            };
            let Some(library) = versions.iter().rev().find(|l| wanted.accepts(l.version())) else {
                return Err(Error::IncompatibleLibrary {
                    plugin: plugin.to_owned(),
                    wanted: wanted.to_string(),
                    offered: versions.iter().map(|l| l.version().to_string()).collect::<Vec<_>>().join(", "),
                });
            };
            linked.push(library.clone());
        }
        Ok(LinkedLibraries(linked.into()))
    }
}

/// The libraries linked into one plugin ([`Libraries::resolve`]), one per
/// name: what its `library:<name>/…` calls reach. Empty by default.
#[derive(Debug, Clone, Default)]
pub struct LinkedLibraries(Arc<[Library]>);

impl LinkedLibraries {
    /// The library linked under `name`.
    pub fn get(&self, name: &str) -> Option<&Library> {
        self.0.iter().find(|l| l.name() == name)
    }

    /// How many libraries are linked.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names linked, for error messages.
    pub(crate) fn names(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0.iter().map(|l| format!("{}@{}", l.name(), l.version())).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> LibraryVersion {
        text.parse().unwrap()
    }

    fn req(text: &str) -> LibraryRequirement {
        text.parse().unwrap()
    }

    #[test]
    fn caret_rule_matches_cargo() {
        assert!(req("json@1").accepts(v("1.0.0")));
        assert!(req("json@1").accepts(v("1.9.3")));
        assert!(!req("json@1").accepts(v("2.0.0")));
        assert!(!req("json@1").accepts(v("0.9.0")));
        assert!(req("json@1.2").accepts(v("1.2.0")));
        assert!(!req("json@1.2").accepts(v("1.1.7")));
        assert!(req("json@1.2.3").accepts(v("1.3.0")));
        assert!(!req("json@1.2.3").accepts(v("1.2.2")));
        assert!(req("json@0").accepts(v("0.7.1")));
        assert!(req("json@0.3").accepts(v("0.3.9")));
        assert!(!req("json@0.3").accepts(v("0.4.0")));
        assert!(req("json@0.3.1").accepts(v("0.3.2")));
        assert!(!req("json@0.3.1").accepts(v("0.3.0")));
        assert!(req("json@0.0.3").accepts(v("0.0.3")));
        assert!(!req("json@0.0.3").accepts(v("0.0.4")));
    }

    #[test]
    fn requirements_round_trip_and_bad_ones_say_why() {
        for text in ["json@1", "json@1.2", "json@0.0.3", "my-lib_2@10.0"] {
            assert_eq!(req(text).to_string(), text);
        }
        let no_version = "json".parse::<LibraryRequirement>().unwrap_err();
        assert!(no_version.contains("names no version"), "{no_version}");
        let bad_name = "JSON@1".parse::<LibraryRequirement>().unwrap_err();
        assert!(bad_name.contains("not a library name"), "{bad_name}");
        for bad in ["json@", "json@1.2.3.4", "json@01", "json@x", "json@1..2"] {
            let e = bad.parse::<LibraryRequirement>().unwrap_err();
            assert!(e.contains("is not a version"), "{bad}: {e}");
        }
    }

    #[test]
    fn versions_are_three_numbers() {
        assert_eq!(v("1.2.3"), LibraryVersion { major: 1, minor: 2, patch: 3 });
        assert!("1.2".parse::<LibraryVersion>().is_err());
        assert!("1.2.3-beta".parse::<LibraryVersion>().is_err());
        assert!(v("1.10.0") > v("1.9.9"));
    }
}
