//! Loading: the one pipeline every [`Load`] goes through — locate → read →
//! image → decide → start — its batch form ([`Host::load_all`]), and
//! [`Host::prepare`].
//!
//! 1. **locate**: the [`Load`]'s naming rules ([`Load::resolve`]), and for
//!    a path, [`wasp_runtime::locate`](wasp_runtime::locate::locate): the
//!    manifest, under the plugin's name, and where its code is. The name is
//!    checked once, here, before anything is read.
//! 2. **read**: the entry file, within its size limit and `load_timeout`.
//! 3. **image**: the publisher's signature checked, the code validated and
//!    compiled (a WASM module) or checked and mapped (a native library).
//! 4. **decide**: the manifest's API and libraries checked, its permissions
//!    decided for the code's identity.
//! 5. **start**: the actors started and the route admitted
//!    ([`Host::start`], in `start.rs`).
//!
//! A hybrid plugin leaves after *locate* for [`Host::load_hybrid`], which
//! runs the same stages for each component; a reload (`reload.rs`) runs
//! *locate*, *read* and *image*, then swaps the new code in.

use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(feature = "out-of-process")]
use std::sync::OnceLock;

use tokio::sync::{Semaphore, oneshot};
#[cfg(feature = "native")]
use wasp_runtime::NativePlugin;
use wasp_runtime::locate::{LocateError, Located};
use wasp_runtime::manifest::{Manifest, ManifestKind};
use wasp_runtime::signature::Seal;
use wasp_runtime::{AuditKind, Family, Identity, Limits, PluginImage, PluginKind};

use crate::Error;

use super::Host;
use super::handles::{PluginRef, Prepared};
use super::permissions::with_publisher;
use super::source::{Code, Load, Place, Resolved, entry_file_name, file_name};

/// A plugin located (stage 1): its manifest under the name it loads under,
/// and where its code is.
pub(super) struct Found {
    pub(super) manifest: Manifest,
    pub(super) place: Place,
    /// The path it was loaded from, absolute, to reload it from.
    pub(super) origin: Option<PathBuf>,
    /// What a bundle's signature covers, for a plugin read from a folder.
    pub(super) seal: Option<Seal>,
}

/// A plugin's code in hand (stage 2), with the limits it runs under.
pub(super) struct Read {
    pub(super) manifest: Manifest,
    pub(super) code: Code,
    pub(super) limits: Limits,
    pub(super) origin: Option<PathBuf>,
    pub(super) seal: Option<Seal>,
    /// Whether it came from files, which hot reload watches.
    pub(super) from_files: bool,
}

/// A plugin's validated code and its identity (stage 3), ready to start.
pub(super) struct Imaged {
    pub(super) manifest: Manifest,
    pub(super) image: PluginImage,
    pub(super) identity: Identity,
    pub(super) origin: Option<PathBuf>,
    pub(super) from_files: bool,
}

/// A plugin of [`Host::load_all`] between its two passes.
enum Staged {
    /// Validated and compiled, waiting to start.
    Imaged(Box<Imaged>),
    /// A hybrid plugin, loaded whole in the second pass.
    Hybrid(Box<Found>),
}

/// Stage 1, for a path: finds the manifest, the entry file and, when there
/// is a manifest file, the bundle's seal (what its signature covers)
/// ([`wasp_runtime::locate`](wasp_runtime::locate::locate) decides what the
/// path names). A file with no manifest gets one named after it, with no
/// permissions.
pub(super) async fn locate_path(path: &Path) -> Result<Found, Error> {
    let owned = path.to_owned();
    let located = tokio::task::spawn_blocking(move || wasp_runtime::locate::locate(&owned))
        .await
        .map_err(|e| Error::Actor(format!("locate task failed: {e}")))?;
    let (manifest, place, seal) = match located {
        Ok(Located::Manifest { manifest, seal, entry, .. }) => {
            if manifest.kind == ManifestKind::Hybrid {
                (*manifest, Place::Hybrid, Some(*seal))
            } else {
                let entry = entry.ok_or_else(|| {
                    Error::Runtime(wasp_runtime::Error::Internal(format!(
                        "manifest of `{}` names no entry file",
                        manifest.name
                    )))
                })?;
                (*manifest, Place::File(entry), Some(*seal))
            }
        }
        Ok(Located::File { path, kind, name }) => {
            let mut manifest =
                Manifest::new(&name).map_err(|e| Error::InvalidName { name: name.clone(), reason: e.message })?;
            manifest.kind = kind;
            (manifest, Place::File(path), None)
        }
        Err(LocateError::Manifest(e)) => return Err(e.into()),
        Err(LocateError::File(e)) => return Err(e.into()),
    };
    Ok(Found { manifest, place, origin: Some(absolute(path)), seal })
}

/// Stage 1: what `load` names, under the plugin's name, and where its code is.
pub(super) async fn locate(load: Load) -> Result<Found, Error> {
    match load.resolve()? {
        Resolved::Path(path, name) => {
            let mut found = locate_path(&path).await?;
            if let Some(name) = name {
                found.manifest.name = name;
            }
            Ok(found)
        }
        Resolved::Described(manifest, place) => Ok(Found { manifest: *manifest, place, origin: None, seal: None }),
    }
}

/// Reads a plugin's entry file: a regular file within the size limit of
/// its kind, read within `load_timeout`.
pub(super) async fn read_entry(
    plugin: &str,
    entry: &Path,
    kind: ManifestKind,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let (limit, limit_name) = match kind {
        ManifestKind::Native => (limits.max_native_size, "max_native_size"),
        _ => (limits.max_module_size, "max_module_size"),
    };
    let read = wasp_runtime::read_plugin_file_async(entry, limit as u64, limit_name);
    match tokio::time::timeout(limits.load_timeout, read).await {
        Ok(bytes) => Ok(bytes?),
        Err(_) => {
            Err(wasp_runtime::Error::LoadTimedOut { plugin: plugin.to_owned(), limit: limits.load_timeout }.into())
        }
    }
}

/// `path` made absolute against the working directory, so a later reload
/// finds it wherever the process has moved.
pub(super) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The refusal of a hybrid plugin's manifest where one file is expected.
fn hybrid_refused(name: &str) -> Error {
    Error::Unsupported(format!("plugin `{name}` is a hybrid of several files; load it from its folder or plugin.toml"))
}

impl Host {
    /// Loads a plugin: from a path (`host.load("plugins/echo")`), a
    /// manifest value, bytes, code [prepared](Host::prepare) once, or a Rust
    /// type run in process — see [`Load`] for each source, its options and
    /// how the plugin is named.
    ///
    /// Every source goes through the same stages: the plugin is located
    /// and its name checked, its code read and validated (or compiled)
    /// before any of it runs, its manifest's requested permissions decided
    /// by the host's [`Policy`](crate::Policy), then it starts (its
    /// `on_load` runs). A plugin loaded from files is watched when the host
    /// [hot-reloads](crate::HostBuilder::hot_reload).
    ///
    /// ```
    /// # use wasp_actors::{Host, Load};
    /// # use wasp_sdk::prelude::*;
    /// # #[derive(Default)]
    /// # struct Echo;
    /// # impl Plugin for Echo {
    /// #     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
    /// #         Ok(Reply::bytes(msg.payload.to_vec()))
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let host = Host::builder().build()?;
    /// let echo = host.load(Load::in_process(Echo::default).named("echo")).await?;
    /// assert_eq!(echo.name(), "echo");
    /// let err = host.load(Load::in_process(Echo::default).named("echo")).await.unwrap_err();
    /// assert!(matches!(err, wasp_actors::Error::AlreadyLoaded(_)));
    /// assert!(host.load("no/such/plugin.wasm").await.is_err());
    /// # host.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name that is not a plugin address or
    /// clashes with a hybrid plugin's namespace, [`Error::AlreadyLoaded`]
    /// for a name in use; a [`wasp_runtime::Error`] ([`Error::Runtime`]) for
    /// a file that cannot be found or read, is too large, takes longer than
    /// [`Limits::load_timeout`], or fails validation (not WebAssembly or a
    /// library for this platform, a broken ABI, an ABI major version this
    /// host does not speak, a feature this build lacks), and when `on_load`
    /// fails; [`Error::Manifest`] for a manifest that does not parse;
    /// [`Error::Signature`] for a signature the policy refuses;
    /// [`Error::Unsupported`] for a source and options that do not go
    /// together (see [`Load`]); [`Error::IdentityChanged`] when the policy
    /// refuses a plugin whose code changed. Refusals are audited
    /// ([`AuditKind::LoadRefused`]).
    pub async fn load(&self, source: impl Into<Load>) -> Result<PluginRef, Error> {
        let found = locate(source.into()).await?;
        let staged = self.stage(found, None).await?;
        self.finish(staged).await
    }

    /// Stages 2 and 3 for a located plugin, after its name is checked
    /// (holding a permit of `gate`, when given, to compile); a hybrid
    /// plugin is left whole for [`Host::finish`].
    async fn stage(&self, found: Found, gate: Option<&Semaphore>) -> Result<Staged, Error> {
        if let Place::Hybrid = found.place {
            return Ok(Staged::Hybrid(Box::new(found)));
        }
        self.check_name(&found.manifest.name)?;
        let read = self.read(found).await?;
        Ok(Staged::Imaged(Box::new(self.image_of(read, gate).await?)))
    }

    /// Stages 4 and 5 for a staged plugin; a hybrid plugin's stages, for
    /// each of its components.
    async fn finish(&self, staged: Staged) -> Result<PluginRef, Error> {
        match staged {
            Staged::Imaged(imaged) => self.decide_and_start(*imaged).await,
            Staged::Hybrid(found) => self.load_hybrid(found.manifest, found.seal.as_ref()).await,
        }
    }

    /// Stage 2: reads the entry file of a plugin located in files.
    pub(super) async fn read(&self, found: Found) -> Result<Read, Error> {
        let Found { manifest, place, origin, seal } = found;
        let limits = self.limits_for(&manifest);
        let (code, from_files) = match place {
            Place::File(entry) => {
                let bytes = read_entry(&manifest.name, &entry, manifest.kind, &limits).await?;
                (Code::Bytes(bytes, file_name(&entry)), true)
            }
            Place::Code(code) => (code, false),
            Place::Hybrid => return Err(hybrid_refused(&manifest.name)),
        };
        Ok(Read { manifest, code, limits, origin, seal, from_files })
    }

    /// Stage 3: checks the publisher's signature of code read from files or
    /// given as bytes, and validates and compiles it (holding a permit of
    /// `gate`, when given, to compile); an in-process plugin is its own
    /// image.
    pub(super) async fn image_of(&self, read: Read, gate: Option<&Semaphore>) -> Result<Imaged, Error> {
        let Read { manifest, code, limits, origin, seal, from_files } = read;
        let name = &manifest.name;
        let (image, identity) = match code {
            Code::Bytes(bytes, file_name) => {
                if manifest.kind == ManifestKind::Hybrid {
                    return Err(hybrid_refused(name));
                }
                let publisher = self.publisher(name, seal.as_ref(), &[&bytes])?;
                let _permit = match gate {
                    Some(gate) => Some(gate.acquire().await),
                    None => None,
                };
                let (image, code) = self.image(name, manifest.kind, bytes, file_name, limits).await?;
                (image, with_publisher(code, publisher))
            }
            Code::Prepared(prepared) => {
                let publisher = self.publisher(name, None, &[])?;
                (prepared.image, with_publisher(prepared.code, publisher))
            }
            Code::InProcess(factory) => (PluginImage::InProcess(factory), Identity::in_process()),
        };
        Ok(Imaged { manifest, image, identity, origin, from_files })
    }

    /// Stages 4 and 5: checks the manifest, decides its permissions, starts
    /// the plugin, and watches its files when the host hot-reloads.
    pub(super) async fn decide_and_start(&self, imaged: Imaged) -> Result<PluginRef, Error> {
        let Imaged { manifest, image, identity, origin, from_files } = imaged;
        self.check_manifest(&manifest)?;
        let decided = self.decide(&manifest, &identity).await?;
        let plugin = self.start(manifest, image, &decided, None, origin).await?;
        if from_files {
            self.watch_if_hot(&plugin).await;
        }
        Ok(plugin)
    }

    /// Loads several plugins, each as [`Host::load`] would a path, and
    /// returns each path with its outcome, in the order given.
    ///
    /// Their files are read, validated and compiled in parallel (as many
    /// compiled at once as the machine has cores; a plugin found in the
    /// [module cache](crate::HostBuilder::module_cache) is not compiled at all),
    /// each within [`Limits::load_timeout`]; each then starts as soon as it
    /// and every plugin before it are ready, in the order given, so a
    /// plugin that talks to an earlier one in `on_load` finds it running,
    /// as with successive [`Host::load`] calls. Hybrid plugins are loaded
    /// in that second pass. One plugin failing does not stop the others,
    /// and one slow to read or compile holds up those after it for at most
    /// `load_timeout`, when it fails with
    /// [`LoadTimedOut`](wasp_runtime::Error::LoadTimedOut); a file that
    /// could block a reader (a FIFO, a device) is refused at once.
    ///
    /// It takes paths, not every [`Load`]: its outcomes are told apart by
    /// path, and only files have reading and compiling to overlap.
    ///
    /// # Errors
    ///
    /// Each outcome has the errors of [`Host::load`].
    pub async fn load_all<P: AsRef<Path>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> Vec<(PathBuf, Result<PluginRef, Error>)> {
        let paths: Vec<PathBuf> = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        let permits = std::thread::available_parallelism().map_or(2, usize::from);
        let gate = Arc::new(Semaphore::new(permits));
        let limit = self.inner.limits.load_timeout;
        let mut staging = Vec::with_capacity(paths.len());
        for path in &paths {
            let (host, path, gate) = (self.clone(), path.clone(), gate.clone());
            let (tx, rx) = oneshot::channel();
            tokio::spawn(async move {
                let staged = async { host.stage(locate_path(&path).await?, Some(&gate)).await };
                let staged = match tokio::time::timeout(limit, staged).await {
                    Ok(staged) => staged,
                    Err(_) => {
                        let plugin = path.display().to_string();
                        let e = wasp_runtime::Error::LoadTimedOut { plugin: plugin.clone(), limit };
                        host.audit(&plugin, AuditKind::LoadRefused { code: e.code() }, format!("{e}"));
                        Err(e.into())
                    }
                };
                let _ = tx.send(staged);
            });
            staging.push(rx);
        }
        let mut outcomes = Vec::with_capacity(paths.len());
        for (path, staged) in paths.into_iter().zip(staging) {
            let outcome = match staged.await {
                Err(_) => Err(Error::Actor(format!("the load task of {} failed", path.display()))),
                Ok(Err(e)) => Err(e),
                Ok(Ok(staged)) => self.finish(staged).await,
            };
            outcomes.push((path, outcome));
        }
        outcomes
    }

    /// Validates and compiles a WASM module (or checks and maps a native
    /// library) once, without starting it: [`Load::prepared`] then starts
    /// it under as many names as the application wants, each start
    /// skipping the reading, hashing and compiling of the bytes. For a
    /// host that runs many copies of one plugin (one per document, per
    /// connection, per tenant …).
    ///
    /// `manifest` gives the kind (`wasm` or `native`), the name used in
    /// errors and audit events, and the limits the module is checked
    /// against (its size); its permissions and configuration are not used
    /// here, but those of each start's manifest (or none, for a start
    /// only [named](Load::named)).
    ///
    /// ```
    /// # use wasp_actors::{Host, Load, Manifest, ManifestKind};
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let host = Host::builder().build()?;
    /// let bytes = wat::parse_str(r#"(module
    ///     (@custom "wasp:abi" "1.0")
    ///     (memory (export "memory") 1)
    ///     (func (export "wasp_alloc") (param i32) (result i32) i32.const 1024)
    ///     (func (export "wasp_dealloc") (param i32 i32))
    ///     (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0))"#)?;
    /// let mut manifest = Manifest::new("worker")?;
    /// manifest.kind = ManifestKind::Wasm;
    /// let prepared = host.prepare(&manifest, &bytes).await?;
    /// for i in 0..3 {
    ///     host.load(Load::prepared(&prepared).named(format!("worker-{i}"))).await?;
    /// }
    /// assert_eq!(host.plugins().len(), 3);
    /// # host.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a hybrid or in-process manifest; the
    /// validation errors of [`Host::load`] (audited).
    pub async fn prepare(&self, manifest: &Manifest, bytes: &[u8]) -> Result<Prepared, Error> {
        let name = &manifest.name;
        if manifest.kind == ManifestKind::Hybrid {
            return Err(hybrid_refused(name));
        }
        let file_name = entry_file_name(manifest);
        let limits = self.limits_for(manifest);
        let (image, code) = self.image(name, manifest.kind, bytes.to_vec(), file_name, limits).await?;
        Ok(Prepared { kind: manifest.kind, image, code })
    }

    /// Validates and prepares one plugin file: compiles a WASM module, or
    /// checks and maps a native library; with the identity of its code. A
    /// refusal is audited.
    pub(super) async fn image(
        &self,
        name: &str,
        kind: ManifestKind,
        bytes: Vec<u8>,
        file_name: Option<String>,
        limits: Limits,
    ) -> Result<(PluginImage, Identity), Error> {
        let native = match kind {
            ManifestKind::Wasm => false,
            ManifestKind::Native => true,
            _ => {
                return Err(Error::Unsupported(format!(
                    "plugin `{name}` is an in-process plugin; load it with `Load::in_process`"
                )));
            }
        };
        let file_name = file_name.unwrap_or_else(|| {
            use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
            if native { format!("{DLL_PREFIX}{name}{DLL_SUFFIX}") } else { format!("{name}.wasm") }
        });
        let engine = self.inner.engine.clone();
        let timeout = limits.load_timeout;
        // Compiling (or mapping a library) takes milliseconds of CPU and
        // file I/O: keep it off the async workers.
        let task_name = name.to_owned();
        #[cfg(feature = "out-of-process")]
        let cluster = (native && self.inner.nodes.isolates(name)).then(|| self.inner.cluster.clone());
        #[cfg(not(feature = "out-of-process"))]
        let cluster = (native && self.inner.nodes.isolates(name)).then_some(());
        let remote = self.inner.nodes.remote.get(name).copied();
        let work = tokio::task::spawn_blocking(move || {
            let code = Identity::of_code(&bytes);
            let image = if let Some(cluster) = cluster {
                isolated_image(task_name, file_name, bytes, cluster, remote)
            } else if native {
                native_image(&task_name, &file_name, &bytes)
            } else {
                PluginImage::compile_wasm(&engine, &task_name, &bytes, &limits)
            };
            image.map(|image| (image, code))
        });
        // A compilation cannot be stopped: past the deadline it finishes
        // on its blocking thread and its result is dropped.
        let image = match tokio::time::timeout(timeout, work).await {
            Ok(done) => done.map_err(|e| Error::Actor(format!("load task failed: {e}")))?,
            Err(_) => Err(wasp_runtime::Error::LoadTimedOut { plugin: name.to_owned(), limit: timeout }),
        };
        image.map_err(|e| {
            self.audit(name, AuditKind::LoadRefused { code: e.code() }, format!("plugin `{name}` refused: {e}"));
            e.into()
        })
    }

    /// Loads a hybrid plugin: every component is validated first, the
    /// permissions are decided once, then each component starts as its own
    /// actor sharing them. If one fails to start, the others are unloaded.
    pub(super) async fn load_hybrid(&self, manifest: Manifest, seal: Option<&Seal>) -> Result<PluginRef, Error> {
        self.check_manifest(&manifest)?;
        let entries = manifest.component_entries();
        let family = Family::new(manifest.name.as_str(), entries.iter().map(|(address, _, _)| address.as_str()));
        for (address, _, _) in &entries {
            self.check_name_in(address, Some(&family))?;
        }
        let limits = self.limits_for(&manifest);
        let mut files = Vec::new();
        for (address, component, path) in &entries {
            files.push(read_entry(address, path, component.kind, &limits).await?);
        }
        let signed: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
        let publisher = self.publisher(&manifest.name, seal, &signed)?;
        let mut images = Vec::new();
        let mut codes = Vec::new();
        for ((address, component, path), bytes) in entries.iter().zip(files) {
            let (image, code) = self.image(address, component.kind, bytes, file_name(path), limits.clone()).await?;
            images.push((address.clone(), component.kind, image));
            codes.push((component.name.as_str(), code));
        }
        let code = Identity::of_parts(codes.iter().map(|(name, code)| (*name, code)));
        let identity = with_publisher(code, publisher);
        let decided = self.decide(&manifest, &identity).await?;
        let mut started: Vec<PluginRef> = Vec::new();
        for (address, kind, image) in images {
            let mut part = manifest.clone();
            part.name = address;
            part.kind = kind;
            part.components.clear();
            match self.start(part, image, &decided, Some(family.clone()), None).await {
                Ok(plugin) => started.push(plugin),
                Err(e) => {
                    for plugin in started.iter().rev() {
                        let _ = self.unload_one(plugin.name()).await;
                    }
                    return Err(e);
                }
            }
        }
        let mut main = started.remove(0);
        main.kind = PluginKind::Hybrid;
        main.components = started.into_iter().map(|p| p.name).collect();
        Ok(main)
    }
}

/// A native library that runs in a `wasp-node`: checked here, loaded only
/// in its own process.
#[cfg(feature = "out-of-process")]
fn isolated_image(
    name: String,
    file_name: String,
    bytes: Vec<u8>,
    cluster: Arc<crate::node::Cluster>,
    remote: Option<std::net::SocketAddr>,
) -> Result<PluginImage, wasp_runtime::Error> {
    NativePlugin::check(&name, &bytes).map(|()| {
        PluginImage::Remote(Arc::new(crate::node::NodeImage {
            name,
            file_name,
            library: Arc::new(bytes),
            abi: OnceLock::new(),
            cluster,
            remote,
        }))
    })
}

#[cfg(not(feature = "out-of-process"))]
fn isolated_image(
    name: String,
    _: String,
    _: Vec<u8>,
    (): (),
    _: Option<std::net::SocketAddr>,
) -> Result<PluginImage, wasp_runtime::Error> {
    Err(wasp_runtime::Error::FeatureDisabled {
        what: format!("plugin `{name}` is set to run out of process"),
        feature: "out-of-process",
    })
}

/// A native library loaded into the host's process.
#[cfg(feature = "native")]
fn native_image(name: &str, file_name: &str, bytes: &[u8]) -> Result<PluginImage, wasp_runtime::Error> {
    NativePlugin::open(name, file_name, bytes).map(PluginImage::Native)
}

#[cfg(not(feature = "native"))]
fn native_image(name: &str, _: &str, _: &[u8]) -> Result<PluginImage, wasp_runtime::Error> {
    Err(wasp_runtime::Error::FeatureDisabled {
        what: format!("plugin `{name}` is a native library"),
        feature: "native",
    })
}
