//! WebAssembly components: the second guest format, beside the core ABI.
//!
//! A component targets the `wasp:plugin` WIT world (`wit/plugin.wit`): it
//! imports `wasp:plugin/host` and exports `wasp:plugin/guest`. It gets the
//! same messages and the same host calls as a core module, through
//! [`HostCalls`](crate::hostcalls::HostCalls), so permissions, limits and
//! audit are one implementation; it runs on the same engine, under the same
//! epoch scheduler and CPU budget. See `docs/components.md`.

mod bindings;
mod instance;

use std::sync::{Arc, OnceLock};

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};

use crate::cache::CacheKey;
use crate::error::Problem;
use crate::loader::FileKind;
use crate::{Engine, Error, Limits};

pub(crate) use bindings::PluginPre;
pub use instance::ComponentInstance;
pub(crate) use instance::ComponentState;

/// The WIT package a component plugin targets.
pub const WORLD_PACKAGE: &str = "wasp:plugin";

/// The version of the `wasp:plugin` world this host speaks (`wit/plugin.wit`).
pub const WORLD_VERSION: WorldVersion = WorldVersion { major: 1, minor: 0, patch: 0 };

/// The interfaces a component may import: what the host offers, and the
/// types it shares with the guest.
const IMPORTABLE: [&str; 2] = ["host", "types"];
/// The interface a component exports: what the host calls.
const GUEST_INTERFACE: &str = "guest";

/// A version of the `wasp:plugin` WIT world (`MAJOR.MINOR.PATCH`).
///
/// A host speaking `M.m.p` runs a component targeting `M.n.q` with `n <= m`
/// (any patch): the same rule as the core ABI's, one level down.
///
/// ```
/// use wasp_runtime::WorldVersion;
/// let v: WorldVersion = "1.0.0".parse().unwrap();
/// assert!(wasp_runtime::WORLD_VERSION.accepts(v));
/// assert!(!wasp_runtime::WORLD_VERSION.accepts("2.0.0".parse().unwrap()));
/// assert_eq!(v.to_string(), "1.0.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorldVersion {
    /// Incompatible changes.
    pub major: u32,
    /// Additions: a newer minor may import what an older host lacks.
    pub minor: u32,
    /// Fixes that change no signature.
    pub patch: u32,
}

impl WorldVersion {
    /// Whether a host speaking `self` runs a component targeting `plugin`.
    pub fn accepts(self, plugin: WorldVersion) -> bool {
        self.major == plugin.major && plugin.minor <= self.minor
    }
}

impl std::fmt::Display for WorldVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::str::FromStr for WorldVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a version MAJOR.MINOR.PATCH");
        let mut parts = s.split('.');
        let mut next = || -> Result<u32, String> {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let v = Self { major: next()?, minor: next()?, patch: next()? };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

/// A validated, compiled component plugin, ready to instantiate any number
/// of times.
///
/// Cheap to clone; every instance shares its compiled code.
#[derive(Clone)]
pub struct ComponentPlugin {
    pub(crate) name: Arc<str>,
    pub(crate) pre: PluginPre<ComponentState>,
    world: WorldVersion,
    /// The component for the engine's overflow (on-demand) allocator, made
    /// when the pooling allocator is first found full.
    overflow: Arc<OnceLock<PluginPre<ComponentState>>>,
}

impl std::fmt::Debug for ComponentPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentPlugin").field("name", &self.name).field("world", &self.world).finish_non_exhaustive()
    }
}

impl ComponentPlugin {
    /// Validates and compiles `bytes`, a component targeting the
    /// `wasp:plugin` world. Nothing of the guest runs here. In this order:
    /// size, the component header, WebAssembly validation (compiling), then
    /// the world: every import must be an interface of `wasp:plugin` at a
    /// version this host speaks ([`WORLD_VERSION`]), and `wasp:plugin/guest`
    /// must be exported; every problem found is reported together, and a
    /// wrong version names both versions.
    pub fn compile(engine: &Engine, name: &str, bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_module_size {
            return Err(Error::TooLarge { plugin: name.into(), size: bytes.len(), limit: limits.max_module_size });
        }
        let kind = FileKind::detect(bytes);
        if kind != FileKind::WasmComponent {
            return Err(Error::NotWasm {
                plugin: name.into(),
                detail: format!("it is {}, not a WebAssembly component", kind.describe()),
            });
        }
        // The module cache holds components too: its key is the SHA-256 of
        // these bytes (a component's differ from any module's by the
        // header) and the engine's settings; an entry was written only
        // after the same bytes compiled, so validation passed.
        let key = CacheKey::new(engine.cache_hash(), bytes);
        let cache = engine.module_cache();
        let (component, compiled) = match cache.and_then(|cache| cache.load::<Component>(engine.wasmtime(), &key)) {
            Some(component) => (component, false),
            None => {
                let component = Component::new(engine.wasmtime(), bytes)
                    .map_err(|e| Error::Malformed { plugin: name.into(), detail: format!("{e:#}") })?;
                (component, true)
            }
        };
        let mut problems = Vec::new();
        let world = check_world(engine, &component, &mut problems);
        let Some(world) = world.filter(|_| problems.is_empty()) else {
            return Err(Error::Invalid { plugin: name.into(), problems });
        };
        let linker = linker_for(engine.wasmtime())?;
        let unlinkable = |e: wasmtime::Error| Error::Invalid {
            plugin: name.into(),
            problems: vec![Problem::Unlinkable(format!("{e:#}"))],
        };
        let pre = linker.instantiate_pre(&component).map_err(unlinkable)?;
        let pre = PluginPre::new(pre).map_err(unlinkable)?;
        if compiled && let Some(cache) = cache {
            cache.store(&key, &component);
        }
        Ok(Self { name: name.into(), pre, world, overflow: Arc::default() })
    }

    /// The plugin ready to instantiate in the engine's on-demand overflow
    /// engine (its pool is full): the same machine code, loaded there.
    pub(crate) fn overflow_pre(&self, engine: &Engine) -> Result<PluginPre<ComponentState>, Error> {
        if let Some(pre) = self.overflow.get() {
            return Ok(pre.clone());
        }
        let failed = |e: wasmtime::Error| {
            Error::Internal(format!(
                "plugin `{}`: the pooling allocator is full and on-demand allocation failed: {e:#}",
                self.name
            ))
        };
        let Some((overflow, _)) = engine.overflow() else {
            return Err(Error::Internal(format!("plugin `{}`: the instance pool is full", self.name)));
        };
        let artifact = self.pre.instance_pre().component().serialize().map_err(failed)?;
        // SAFETY: `artifact` is what `Component::serialize` returned a
        // moment ago in this process, unmodified, as
        // `Component::deserialize` requires. The two engines share every
        // code-generation setting (only their instance allocators differ);
        // wasmtime checks that and fails safely if not.
        let component = unsafe { Component::deserialize(overflow, &artifact) }.map_err(failed)?;
        let pre = linker_for(overflow)?.instantiate_pre(&component).map_err(failed)?;
        let pre = PluginPre::new(pre).map_err(failed)?;
        Ok(self.overflow.get_or_init(|| pre).clone())
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version of the `wasp:plugin` world the component targets.
    pub fn world_version(&self) -> WorldVersion {
        self.world
    }
}

/// A linker holding the `wasp:plugin/host` imports, for `engine`.
fn linker_for(engine: &wasmtime::Engine) -> Result<Linker<ComponentState>, Error> {
    let mut linker = Linker::new(engine);
    bindings::add_to_linker(&mut linker)
        .map_err(|e| Error::Internal(format!("cannot define the component host imports: {e:#}")))?;
    Ok(linker)
}

/// Splits `wasp:plugin/host@1.0.0` into (`wasp:plugin`, `host`, `1.0.0`).
fn split_name(name: &str) -> Option<(&str, &str, Option<&str>)> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (package, interface) = path.split_once('/')?;
    Some((package, interface, version))
}

/// Checks the component's imports and exports against the world; returns
/// the version it targets (the one its `guest` export names).
fn check_world(engine: &Engine, component: &Component, problems: &mut Vec<Problem>) -> Option<WorldVersion> {
    let ty = component.component_type();
    let version_of = |name: &str, problems: &mut Vec<Problem>| -> Option<WorldVersion> {
        let Some((WORLD_PACKAGE, _, version)) = split_name(name) else { return None };
        let found = version.unwrap_or("");
        match found.parse::<WorldVersion>() {
            Ok(v) if WORLD_VERSION.accepts(v) => Some(v),
            Ok(_) | Err(_) => {
                let found = if found.is_empty() { "no version".to_owned() } else { found.to_owned() };
                // One problem per version named, however many items name it.
                let named =
                    problems.iter().any(|p| matches!(p, Problem::UnsupportedWorld { found: f, .. } if *f == found));
                if !named {
                    problems.push(Problem::UnsupportedWorld { item: name.to_owned(), found, host: WORLD_VERSION });
                }
                None
            }
        }
    };
    for (name, _) in ty.imports(engine.wasmtime()) {
        match split_name(name) {
            Some((WORLD_PACKAGE, interface, _)) if IMPORTABLE.contains(&interface) => {
                version_of(name, problems);
            }
            _ => problems.push(Problem::ForbiddenComponentImport(name.to_owned())),
        }
    }
    let mut world = None;
    for (name, item) in ty.exports(engine.wasmtime()) {
        if let Some((WORLD_PACKAGE, GUEST_INTERFACE, _)) = split_name(name) {
            if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                problems.push(Problem::WrongExport {
                    name: name.to_owned(),
                    expected: "an instance of the `guest` interface".into(),
                    found: "another kind of item".into(),
                });
                continue;
            }
            if let Some(v) = version_of(name, problems) {
                world = Some(v);
            }
        }
    }
    let exported = ty
        .exports(engine.wasmtime())
        .any(|(name, _)| matches!(split_name(name), Some((WORLD_PACKAGE, GUEST_INTERFACE, _))));
    if !exported {
        problems.push(Problem::MissingExport(format!("{WORLD_PACKAGE}/{GUEST_INTERFACE}@{WORLD_VERSION}")));
    }
    world
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly_and_follow_the_minor_rule() {
        assert_eq!("1.2.3".parse(), Ok(WorldVersion { major: 1, minor: 2, patch: 3 }));
        for bad in ["1.0", "1.0.0.0", "1.x.0", "", " 1.0.0", "1.0.0-rc1", "+1.0.0"] {
            assert!(bad.parse::<WorldVersion>().is_err(), "{bad:?} parsed");
        }
        let host = WorldVersion { major: 1, minor: 2, patch: 0 };
        assert!(host.accepts("1.0.7".parse().unwrap()));
        assert!(host.accepts("1.2.9".parse().unwrap()));
        assert!(!host.accepts("1.3.0".parse().unwrap()));
        assert!(!host.accepts("2.0.0".parse().unwrap()));
        assert!(!host.accepts("0.2.0".parse().unwrap()));
    }

    #[test]
    fn the_loader_checks_kind_size_validity_then_the_world() {
        let engine = Engine::new(crate::Schedule::default()).unwrap();
        let limits = Limits::default();
        let err = ComponentPlugin::compile(&engine, "m", b"\0asm\x01\0\0\0", &limits).unwrap_err();
        assert!(matches!(&err, Error::NotWasm { detail, .. } if detail.contains("a WebAssembly module")), "{err}");
        let small = Limits { max_module_size: 4, ..Limits::default() };
        let err = ComponentPlugin::compile(&engine, "c", b"\0asm\x0d\0\x01\0", &small).unwrap_err();
        assert!(matches!(err, Error::TooLarge { size: 8, limit: 4, .. }), "{err}");
        // The header alone is a valid, empty component: it exports nothing.
        let err = ComponentPlugin::compile(&engine, "c", b"\0asm\x0d\0\x01\0", &limits).unwrap_err();
        let missing = Problem::MissingExport("wasp:plugin/guest@1.0.0".into());
        assert!(matches!(&err, Error::Invalid { problems, .. } if problems == &[missing]), "{err}");
        let err = ComponentPlugin::compile(&engine, "c", b"\0asm\x0d\0\x01\0\x07garbage", &limits).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
    }

    #[test]
    fn names_split_into_package_interface_and_version() {
        assert_eq!(split_name("wasp:plugin/host@1.0.0"), Some(("wasp:plugin", "host", Some("1.0.0"))));
        assert_eq!(split_name("wasi:cli/environment"), Some(("wasi:cli", "environment", None)));
        assert_eq!(split_name("log"), None);
    }
}
