//! One plugin instance behind one type, whatever its backend.

#[cfg(feature = "components")]
use crate::component::{ComponentInstance, ComponentPlugin};
use crate::inprocess::{InProcessInstance, PluginFactory};
use crate::lifecycle::Unloaded;
use crate::loader::FileKind;
use crate::loader::WasmPlugin;
#[cfg(feature = "native")]
use crate::native::{NativeInstance, NativePlugin};
use crate::remote::{RemoteImage, RemoteInstance};
use crate::router::Inbound;
use crate::wasm::WasmInstance;
use crate::{Engine, Error, Limits, PluginEnv};

/// What a plugin is made from: compiled WASM (a core module or a
/// component), a native library, or an in-process factory.
#[derive(Clone)]
pub enum PluginImage {
    /// A validated, compiled WebAssembly module.
    Wasm(WasmPlugin),
    /// A validated, compiled WebAssembly component (`wasp:plugin` world).
    #[cfg(feature = "components")]
    Component(ComponentPlugin),
    /// A validated, loaded native library.
    #[cfg(feature = "native")]
    Native(NativePlugin),
    /// A Rust type registered in process.
    InProcess(PluginFactory),
    /// Code that runs in another process (a `wasp-node` child).
    Remote(std::sync::Arc<dyn RemoteImage>),
}

impl std::fmt::Debug for PluginImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wasm(p) => p.fmt(f),
            #[cfg(feature = "components")]
            Self::Component(p) => p.fmt(f),
            #[cfg(feature = "native")]
            Self::Native(p) => p.fmt(f),
            Self::InProcess(_) => f.write_str("InProcess"),
            Self::Remote(r) => r.fmt(f),
        }
    }
}

impl PluginImage {
    /// Validates and compiles a WebAssembly plugin file (manifest
    /// `kind = "wasm"`): a core module ([`WasmPlugin::compile`]) or a
    /// component ([`ComponentPlugin::compile`]), told apart by the header.
    pub fn compile_wasm(engine: &Engine, name: &str, bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        match FileKind::detect(bytes) {
            #[cfg(feature = "components")]
            FileKind::WasmComponent => ComponentPlugin::compile(engine, name, bytes, limits).map(Self::Component),
            #[cfg(not(feature = "components"))]
            FileKind::WasmComponent => Err(Error::FeatureDisabled {
                what: format!("plugin `{name}` is a WebAssembly component"),
                feature: "components",
            }),
            _ => WasmPlugin::compile(engine, name, bytes, limits).map(Self::Wasm),
        }
    }

    /// The form of code it runs.
    pub fn kind(&self) -> crate::PluginKind {
        use crate::PluginKind;
        match self {
            Self::Wasm(_) => PluginKind::Wasm,
            #[cfg(feature = "components")]
            Self::Component(_) => PluginKind::Component,
            #[cfg(feature = "native")]
            Self::Native(_) => PluginKind::Native,
            Self::InProcess(_) => PluginKind::InProcess,
            Self::Remote(r) => r.kind(),
        }
    }

    /// The ABI version a WASM module or native library was built for
    /// (`None` in process: the host's own; `None` for a component, which
    /// has a world version instead, [`ComponentPlugin::world_version`];
    /// `None` for code in another process until an instance has started).
    pub fn abi_version(&self) -> Option<wasp_protocol::ApiVersion> {
        match self {
            Self::Wasm(p) => Some(p.abi_version()),
            #[cfg(feature = "native")]
            Self::Native(p) => Some(p.abi_version()),
            #[cfg(feature = "components")]
            Self::Component(_) => None,
            Self::InProcess(_) => None,
            Self::Remote(r) => r.abi_version(),
        }
    }

    /// Starts an instance in `env` (its name, router, limits, grants, services).
    pub async fn instantiate(&self, engine: &Engine, env: PluginEnv) -> Result<Instance, Error> {
        self.instantiate_with(engine, env, None).await
    }

    /// [`PluginImage::instantiate`] for a hot reload: `restored` is the state
    /// the old instance handed over ([`Instance::unload`]), which the new
    /// one receives before its `on_load` (plugins built for ABI 1.2 or
    /// later; older ones start without it).
    pub async fn instantiate_with(
        &self,
        engine: &Engine,
        env: PluginEnv,
        restored: Option<&[u8]>,
    ) -> Result<Instance, Error> {
        Ok(match self {
            Self::Wasm(plugin) => {
                Instance::Wasm(Box::new(WasmInstance::new(engine, plugin.clone(), env, restored).await?))
            }
            #[cfg(feature = "components")]
            Self::Component(plugin) =>
            {
                #[cfg(feature = "components")]
                Instance::Component(Box::new(ComponentInstance::new(engine, plugin.clone(), env, restored).await?))
            }
            #[cfg(feature = "native")]
            Self::Native(plugin) =>
            {
                #[cfg(feature = "native")]
                Instance::Native(Box::new(NativeInstance::new(plugin.clone(), env, restored).await?))
            }
            Self::InProcess(factory) => {
                Instance::InProcess(Box::new(InProcessInstance::new(factory.clone(), env, restored)?))
            }
            Self::Remote(image) => Instance::Remote(image.instantiate(env, restored.map(<[u8]>::to_vec)).await?),
        })
    }
}

/// A running plugin instance.
#[derive(Debug)]
pub enum Instance {
    /// Running in wasmtime.
    Wasm(Box<WasmInstance>),
    /// A component, running in wasmtime.
    #[cfg(feature = "components")]
    Component(Box<ComponentInstance>),
    /// A native library's plugin, on its own thread.
    #[cfg(feature = "native")]
    Native(Box<NativeInstance>),
    /// Running in process.
    InProcess(Box<InProcessInstance>),
    /// Running in another process.
    Remote(Box<dyn RemoteInstance>),
}

impl Instance {
    /// Handles one message. `Err` means the instance faulted (the message was
    /// answered with the fault) and must be [recycled](Instance::recycle).
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        match self {
            Self::Wasm(w) => w.handle(msg).await,
            #[cfg(feature = "components")]
            Self::Component(c) => c.handle(msg).await,
            #[cfg(feature = "native")]
            Self::Native(n) => n.handle(msg).await,
            Self::InProcess(p) => p.handle(msg),
            Self::Remote(r) => r.handle(msg).await,
        }
    }

    /// Asks the instance for the state to hand to its successor in a hot
    /// reload: the plugin's `on_unload` (an `unload` message, ABI 1.2), under
    /// the CPU budget of one message. `Err` means the instance faulted and
    /// must be [recycled](Instance::recycle); `Ok(Err(_))` is the plugin
    /// refusing (the reload must not go on); `Ok(Ok(None))` is no state
    /// (also for plugins built for an older ABI).
    pub async fn unload(&mut self) -> Result<Unloaded, Error> {
        match self {
            Self::Wasm(w) => w.unload().await,
            #[cfg(feature = "components")]
            Self::Component(c) => c.unload().await,
            #[cfg(feature = "native")]
            Self::Native(n) => n.unload().await,
            Self::InProcess(p) => p.unload(),
            Self::Remote(r) => r.unload().await,
        }
    }

    /// What the instance was made from.
    pub fn image(&self) -> PluginImage {
        match self {
            Self::Wasm(w) => PluginImage::Wasm(w.plugin().clone()),
            #[cfg(feature = "components")]
            Self::Component(c) => PluginImage::Component(c.plugin().clone()),
            #[cfg(feature = "native")]
            Self::Native(n) => PluginImage::Native(n.plugin().clone()),
            Self::InProcess(p) => PluginImage::InProcess(p.factory().clone()),
            Self::Remote(r) => PluginImage::Remote(r.image()),
        }
    }

    /// Replaces the instance with a fresh one of the same plugin.
    pub async fn recycle(&mut self) -> Result<(), Error> {
        match self {
            Self::Wasm(w) => w.recycle().await,
            #[cfg(feature = "components")]
            Self::Component(c) => c.recycle().await,
            #[cfg(feature = "native")]
            Self::Native(n) => n.recycle().await,
            Self::InProcess(p) => p.recycle(),
            Self::Remote(r) => r.recycle().await,
        }
    }

    /// Whether the host quarantined the plugin during the last message: the
    /// instance must not run again until the quarantine is lifted.
    pub fn quarantined(&self) -> bool {
        match self {
            Self::Wasm(w) => w.quarantined(),
            #[cfg(feature = "components")]
            Self::Component(c) => c.quarantined(),
            #[cfg(feature = "native")]
            Self::Native(n) => n.quarantined(),
            Self::InProcess(p) => p.quarantined(),
            Self::Remote(r) => r.quarantined(),
        }
    }

    /// Stops using the instance (its plugin was quarantined): requests it
    /// had deferred are answered `unavailable` at once. Call
    /// [`Instance::recycle`] to start it afresh.
    pub fn abandon(&mut self) {
        match self {
            Self::Wasm(w) => w.abandon(),
            #[cfg(feature = "components")]
            Self::Component(c) => c.abandon(),
            #[cfg(feature = "native")]
            Self::Native(n) => n.abandon(),
            Self::InProcess(p) => p.abandon(),
            Self::Remote(r) => r.abandon(),
        }
    }

    /// Linear memory in use, in bytes (0 for components, whose memory is
    /// not exported, and for native, in-process and remote plugins).
    pub fn memory_size(&self) -> usize {
        match self {
            Self::Wasm(w) => w.memory_size(),
            _ => 0,
        }
    }
}
