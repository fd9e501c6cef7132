//! Loading: every entry point (a path, a folder of bundles, a manifest, bytes,
//! prepared code, a Rust type) and how each finds, reads and compiles what
//! it starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(feature = "out-of-process")]
use std::sync::OnceLock;

use tokio::sync::oneshot;
#[cfg(feature = "native")]
use wasp_runtime::NativePlugin;
use wasp_runtime::locate::{LocateError, Located};
use wasp_runtime::manifest::{Manifest, ManifestKind};
use wasp_runtime::signature::Seal;
use wasp_runtime::{AuditKind, Family, FileKind, Identity, Limits, PluginImage, PluginKind};
use wasp_sdk::Plugin;

use crate::Error;

use super::Host;
use super::handles::{PluginRef, Prepared};
use super::permissions::with_publisher;

/// A plugin of [`Host::load_all`] between its two passes.
pub(super) enum Staged {
    /// Validated and compiled, waiting to start.
    Image(Box<(Manifest, PluginImage, Identity)>),
    /// A hybrid plugin, loaded whole in the second pass.
    Hybrid,
}

/// Finds the manifest, the entry file and, when there is a manifest file,
/// the bundle's seal (what its signature covers) for [`Host::load`]
/// ([`wasp_runtime::locate`](wasp_runtime::locate::locate) decides what
/// the path names). A file with no manifest gets one named after it, with
/// no permissions.
pub(super) async fn locate(path: &Path) -> Result<(Manifest, PathBuf, Option<Seal>), Error> {
    let owned = path.to_owned();
    let located = tokio::task::spawn_blocking(move || wasp_runtime::locate::locate(&owned))
        .await
        .map_err(|e| Error::Actor(format!("locate task failed: {e}")))?;
    match located {
        Ok(Located::Manifest { manifest, seal, entry, .. }) => {
            if manifest.kind == ManifestKind::Hybrid {
                let dir = manifest.dir.clone().unwrap_or_default();
                return Ok((*manifest, dir, Some(*seal)));
            }
            let entry = entry.ok_or_else(|| {
                Error::Runtime(wasp_runtime::Error::Internal(format!(
                    "manifest of `{}` names no entry file",
                    manifest.name
                )))
            })?;
            Ok((*manifest, entry, Some(*seal)))
        }
        Ok(Located::File { path, kind, name }) => {
            let mut manifest =
                Manifest::new(&name).map_err(|e| Error::InvalidName { name: name.clone(), reason: e.message })?;
            manifest.kind = kind;
            Ok((manifest, path, None))
        }
        Err(LocateError::Manifest(e)) => Err(e.into()),
        Err(LocateError::File(e)) => Err(e.into()),
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

impl Host {
    /// Loads a plugin from `path`:
    ///
    /// - a directory: its `plugin.toml`, and the entry file it names;
    /// - a `.toml` file: that manifest, and its entry file;
    /// - any other file: with the `plugin.toml` beside it if that manifest's
    ///   `entry` is this file; otherwise with no manifest — a native library
    ///   when its first bytes say so (its name says nothing), WebAssembly
    ///   otherwise, named after the file's stem (`plugins/echo.wasm` →
    ///   `echo`, `libecho.so` → `echo`), with default limits and no
    ///   permissions.
    ///
    /// The manifest's requested permissions are decided by the host's
    /// [`Policy`](crate::Policy) before the plugin starts.
    pub async fn load(&self, path: impl AsRef<Path>) -> Result<PluginRef, Error> {
        let (manifest, entry, seal) = locate(path.as_ref()).await?;
        self.load_entry(manifest, &entry, Some(path.as_ref()), seal.as_ref()).await
    }

    /// [`Host::load`] under another name (the manifest's is ignored).
    pub async fn load_as(&self, name: &str, path: impl AsRef<Path>) -> Result<PluginRef, Error> {
        let (mut manifest, entry, seal) = locate(path.as_ref()).await?;
        name.clone_into(&mut manifest.name);
        self.load_entry(manifest, &entry, Some(path.as_ref()), seal.as_ref()).await
    }

    /// Loads the plugin a manifest describes, reading its entry file. A
    /// manifest value carries no text to check a signature against: the
    /// plugin is unsigned (load its folder with [`Host::load`] to have its
    /// signature checked).
    pub async fn load_manifest(&self, manifest: Manifest) -> Result<PluginRef, Error> {
        if manifest.kind == ManifestKind::Hybrid {
            return self.load_hybrid(manifest, None).await;
        }
        let entry = manifest.entry_path().ok_or_else(|| {
            Error::Runtime(wasp_runtime::Error::Internal(format!(
                "manifest of `{}` names no entry file; in-process plugins are registered with `Host::register_manifest`",
                manifest.name
            )))
        })?;
        self.load_entry(manifest, &entry, None, None).await
    }

    pub(super) async fn load_entry(
        &self,
        manifest: Manifest,
        entry: &Path,
        origin: Option<&Path>,
        seal: Option<&Seal>,
    ) -> Result<PluginRef, Error> {
        if manifest.kind == ManifestKind::Hybrid {
            return self.load_hybrid(manifest, seal).await;
        }
        self.check_name(&manifest.name)?;
        let limits = manifest.limits.apply(&self.inner.limits);
        let bytes = read_entry(&manifest.name, entry, manifest.kind, &limits).await?;
        let file_name = entry.file_name().map(|f| f.to_string_lossy().into_owned());
        let origin = origin.map(absolute);
        let plugin = self.load_image(manifest, bytes, file_name, origin, seal).await?;
        self.watch_if_hot(&plugin).await;
        Ok(plugin)
    }

    /// Loads several plugins, each as [`Host::load`] would, and returns each
    /// path with its outcome, in the order given.
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
    pub async fn load_all<P: AsRef<Path>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> Vec<(PathBuf, Result<PluginRef, Error>)> {
        let paths: Vec<PathBuf> = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        let permits = std::thread::available_parallelism().map_or(2, usize::from);
        let gate = Arc::new(tokio::sync::Semaphore::new(permits));
        let limit = self.inner.limits.load_timeout;
        let mut staging = Vec::with_capacity(paths.len());
        for path in &paths {
            let (host, path, gate) = (self.clone(), path.clone(), gate.clone());
            let (tx, rx) = oneshot::channel();
            tokio::spawn(async move {
                let staged = match tokio::time::timeout(limit, host.stage(&path, &gate)).await {
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
                Ok(Ok(Staged::Hybrid)) => self.load(&path).await,
                Ok(Ok(Staged::Image(staged))) => {
                    let (manifest, image, identity) = *staged;
                    match self.start_image(manifest, image, Some(absolute(&path)), identity).await {
                        Ok(plugin) => {
                            self.watch_if_hot(&plugin).await;
                            Ok(plugin)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            outcomes.push((path, outcome));
        }
        outcomes
    }

    /// The first, parallel half of [`Host::load_all`] for one path: find,
    /// read, validate and compile (holding a permit of `gate` to compile).
    pub(super) async fn stage(&self, path: &Path, gate: &tokio::sync::Semaphore) -> Result<Staged, Error> {
        let (manifest, entry, seal) = locate(path).await?;
        if manifest.kind == ManifestKind::Hybrid {
            return Ok(Staged::Hybrid);
        }
        self.check_name(&manifest.name)?;
        let limits = manifest.limits.apply(&self.inner.limits);
        let bytes = read_entry(&manifest.name, &entry, manifest.kind, &limits).await?;
        let publisher = self.publisher(&manifest.name, seal.as_ref(), &[&bytes])?;
        let file_name = entry.file_name().map(|f| f.to_string_lossy().into_owned());
        let _permit = gate.acquire().await;
        let (image, code) = self.image(&manifest.name, manifest.kind, bytes, file_name, limits).await?;
        Ok(Staged::Image(Box::new((manifest, image, with_publisher(code, publisher)))))
    }

    /// Loads a plugin from bytes, with no manifest: default limits and no
    /// permissions. The bytes may be a WebAssembly module or a native
    /// library for this platform (told apart by their magic bytes).
    /// Validation happens before any plugin code runs: a file that is
    /// neither, breaks the ABI, or asks for a major ABI version this host
    /// does not speak is refused with an error naming the problem.
    pub async fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<PluginRef, Error> {
        let mut manifest =
            Manifest::new(name).map_err(|e| Error::InvalidName { name: name.into(), reason: e.message })?;
        manifest.kind = match FileKind::detect(bytes) {
            FileKind::Elf | FileKind::Pe | FileKind::MachO => ManifestKind::Native,
            _ => ManifestKind::Wasm,
        };
        self.load_bytes_with(manifest, bytes).await
    }

    /// Loads a plugin from bytes, described by `manifest` (its kind, name,
    /// permissions, limits and configuration; its `entry` is not read).
    pub async fn load_bytes_with(&self, manifest: Manifest, bytes: &[u8]) -> Result<PluginRef, Error> {
        let file_name = manifest.entry_path().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        self.load_image(manifest, bytes.to_vec(), file_name, None, None).await
    }

    /// Validates and compiles a WASM module (or checks and maps a native
    /// library) once, without starting it: [`Host::load_prepared`] then
    /// starts it under as many names as the application wants, each start
    /// skipping the reading, hashing and compiling of the bytes. For a
    /// host that runs many copies of one plugin (one per document, per
    /// connection, per tenant …).
    ///
    /// `manifest` gives the kind (`wasm` or `native`), the name used in
    /// errors and audit events, and the limits the module is checked
    /// against (its size); its permissions and configuration are not used
    /// here, but those of each manifest given to `load_prepared`.
    ///
    /// ```
    /// # use wasp_actors::{Host, Manifest, ManifestKind};
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let host = Host::builder().build()?;
    /// let bytes = wat::parse_str(r#"(module
    ///     (@custom "wasp:abi" "1.0")
    ///     (memory (export "memory") 1)
    ///     (func (export "wasp_alloc") (param i32) (result i32) i32.const 1024)
    ///     (func (export "wasp_dealloc") (param i32 i32))
    ///     (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0))"#)?;
    /// let manifest = |name: &str| -> Result<Manifest, Box<dyn std::error::Error>> {
    ///     let mut m = Manifest::new(name)?;
    ///     m.kind = ManifestKind::Wasm;
    ///     Ok(m)
    /// };
    /// let prepared = host.prepare(&manifest("worker")?, &bytes).await?;
    /// for i in 0..3 {
    ///     host.load_prepared(manifest(&format!("worker-{i}"))?, &prepared).await?;
    /// }
    /// assert_eq!(host.plugins().len(), 3);
    /// # host.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn prepare(&self, manifest: &Manifest, bytes: &[u8]) -> Result<Prepared, Error> {
        let name = &manifest.name;
        if manifest.kind == ManifestKind::Hybrid {
            return Err(Error::Unsupported(format!(
                "plugin `{name}` is a hybrid of several files; load it from its folder or plugin.toml"
            )));
        }
        let file_name = manifest.entry_path().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        let limits = manifest.limits.apply(&self.inner.limits);
        let (image, code) = self.image(name, manifest.kind, bytes.to_vec(), file_name, limits).await?;
        Ok(Prepared { kind: manifest.kind, image, code })
    }

    /// Starts a plugin [prepared](Host::prepare) earlier, described by
    /// `manifest` (its name, permissions, limits and configuration; its
    /// kind must be the prepared one's, its `entry` is not read). Like
    /// [`Host::load_bytes_with`], without reading or compiling anything:
    /// the plugin's permissions are decided, its actor started and its
    /// instance made from the prepared code.
    pub async fn load_prepared(&self, manifest: Manifest, prepared: &Prepared) -> Result<PluginRef, Error> {
        if manifest.kind != prepared.kind {
            return Err(Error::Unsupported(format!(
                "plugin `{}` has kind `{}` in its manifest, but the prepared plugin is `{}`",
                manifest.name,
                manifest.kind.as_str(),
                prepared.kind.as_str()
            )));
        }
        let publisher = self.publisher(&manifest.name, None, &[])?;
        let identity = with_publisher(prepared.code.clone(), publisher);
        self.start_image(manifest, prepared.image.clone(), None, identity).await
    }

    /// Validates, then starts, a WASM module or a native library (with
    /// its bundle's seal when read from a folder).
    pub(super) async fn load_image(
        &self,
        manifest: Manifest,
        bytes: Vec<u8>,
        file_name: Option<String>,
        origin: Option<PathBuf>,
        seal: Option<&Seal>,
    ) -> Result<PluginRef, Error> {
        let name = manifest.name.clone();
        self.check_name(&name)?;
        if manifest.kind == ManifestKind::Hybrid {
            return Err(Error::Unsupported(format!(
                "plugin `{name}` is a hybrid of several files; load it from its folder or plugin.toml"
            )));
        }
        let limits = manifest.limits.apply(&self.inner.limits);
        let publisher = self.publisher(&name, seal, &[&bytes])?;
        let (image, code) = self.image(&name, manifest.kind, bytes, file_name, limits).await?;
        self.start_image(manifest, image, origin, with_publisher(code, publisher)).await
    }

    /// Starts a validated WASM module or native library: checks the
    /// manifest's API, decides its permissions, starts its actor.
    pub(super) async fn start_image(
        &self,
        manifest: Manifest,
        image: PluginImage,
        origin: Option<PathBuf>,
        identity: Identity,
    ) -> Result<PluginRef, Error> {
        self.check_name(&manifest.name)?;
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let decided = self.decide(&manifest, &identity).await?;
        self.start(manifest, image, &decided, None, origin).await
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
                    "plugin `{name}` is an in-process plugin; register it with `Host::register_manifest`"
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
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let entries = manifest.component_entries();
        let family = Family::new(manifest.name.as_str(), entries.iter().map(|(address, _, _)| address.as_str()));
        for (address, _, _) in &entries {
            self.check_name_in(address, Some(&family))?;
        }
        let limits = manifest.limits.apply(&self.inner.limits);
        let mut files = Vec::new();
        for (address, component, path) in &entries {
            files.push(read_entry(address, path, component.kind, &limits).await?);
        }
        let signed: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
        let publisher = self.publisher(&manifest.name, seal, &signed)?;
        let mut images = Vec::new();
        let mut codes = Vec::new();
        for ((address, component, path), bytes) in entries.iter().zip(files) {
            let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned());
            let (image, code) = self.image(address, component.kind, bytes, file_name, limits.clone()).await?;
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

    /// Registers a plugin type in process (no WASM), created with `Default`,
    /// with no manifest: default limits and no permissions.
    pub async fn register<P: Plugin + Default>(&self, name: &str) -> Result<PluginRef, Error> {
        self.register_with(name, P::default).await
    }

    /// Registers a plugin in process, created (and re-created after a panic)
    /// by `factory`, with no manifest.
    pub async fn register_with<P: Plugin>(
        &self,
        name: &str,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<PluginRef, Error> {
        let manifest = Manifest::new(name).map_err(|e| Error::InvalidName { name: name.into(), reason: e.message })?;
        self.register_manifest(manifest, factory).await
    }

    /// Registers a plugin in process, described by `manifest`: the same
    /// permissions, limits and configuration as its WASM form would get.
    pub async fn register_manifest<P: Plugin>(
        &self,
        manifest: Manifest,
        factory: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<PluginRef, Error> {
        self.check_name(&manifest.name)?;
        let factory = crate::in_process::factory(factory);
        Self::check_api(&manifest)?;
        self.check_uses(&manifest)?;
        let decided = self.decide(&manifest, &Identity::in_process()).await?;
        self.start(manifest, PluginImage::InProcess(factory), &decided, None, None).await
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
