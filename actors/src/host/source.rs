//! What to load: [`Load`], the one argument of [`Host::load`](crate::Host::load),
//! and the naming rules that turn it into a manifest and a place to find
//! code (the pure half of the pipeline's first stage).

use std::path::{Path, PathBuf};

use wasp_runtime::manifest::{Manifest, ManifestKind};
use wasp_runtime::{FileKind, PluginFactory};
use wasp_sdk::Plugin;

use crate::Error;

use super::handles::Prepared;

/// What [`Host::load`](crate::Host::load) loads, and how: a source (a path,
/// a manifest value, bytes, prepared code or a Rust type) with options.
///
/// | source | reads | named after |
/// | --- | --- | --- |
/// | [`Load::path`] (or a `&str`, `String`, `&Path`, `PathBuf`) | a folder, a `plugin.toml` or a plugin file | its manifest, else the file's stem |
/// | [`Load::manifest`] | the manifest's entry file (a hybrid's component files) | the manifest |
/// | [`Load::bytes`] | nothing: the bytes given | [`Load::named`], or the manifest given with [`Load::described_by`] |
/// | [`Load::prepared`] | nothing: code compiled once by [`Host::prepare`](crate::Host::prepare) | likewise |
/// | [`Load::in_process`] | nothing: a Rust type compiled into the app | likewise |
///
/// Options: [`Load::named`] loads under another name (the manifest's is
/// ignored); [`Load::described_by`] describes bytes, prepared code or a Rust
/// type (its kind, permissions, limits and configuration; its `entry` is
/// not read). Without a manifest, a plugin gets default limits and no
/// permissions.
///
/// ```
/// # use wasp_actors::{Host, Load, Manifest, ManifestKind};
/// # use wasp_sdk::prelude::*;
/// #[derive(Default)]
/// struct Echo;
/// impl Plugin for Echo {
///     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
///         Ok(Reply::bytes(msg.payload.to_vec()))
///     }
/// }
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder().build()?;
/// // A Rust type, under a name.
/// host.load(Load::in_process(Echo::default).named("echo")).await?;
/// // Bytes, described by a manifest.
/// let mut manifest = Manifest::new("empty")?;
/// manifest.kind = ManifestKind::Wasm;
/// let bytes = wat::parse_str(r#"(module
///     (@custom "wasp:abi" "1.0")
///     (memory (export "memory") 1)
///     (func (export "wasp_alloc") (param i32) (result i32) i32.const 1024)
///     (func (export "wasp_dealloc") (param i32 i32))
///     (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0))"#)?;
/// host.load(Load::bytes(bytes).described_by(manifest)).await?;
/// // A path needs no `Load`: `host.load("plugins/echo")`.
/// assert!(host.load("no/such/plugin").await.is_err());
/// assert_eq!(host.plugins().len(), 2);
/// # host.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Load {
    source: Source,
    name: Option<String>,
    manifest: Option<Manifest>,
}

/// Where a [`Load`]'s code comes from.
enum Source {
    Path(PathBuf),
    /// The entry file of a manifest.
    Entry(Box<Manifest>),
    Bytes(Vec<u8>),
    Prepared(Prepared),
    InProcess(PluginFactory),
}

/// A [`Load`] with its naming rules applied, before anything is read.
pub(super) enum Resolved {
    /// A path, to locate on disk, and the name to load it under if not its own.
    Path(PathBuf, Option<String>),
    /// A manifest, under the plugin's name, and where its code is.
    Described(Box<Manifest>, Place),
}

/// Where a described plugin's code is.
pub(super) enum Place {
    /// An entry file, to read.
    File(PathBuf),
    /// The component files of a hybrid plugin.
    Hybrid,
    /// In hand.
    Code(Code),
}

/// A plugin's code in hand: what the pipeline's second stage (read) hands
/// the third (image).
pub(super) enum Code {
    /// A WASM module or a native library, with the name of the file it
    /// came from (or would have).
    Bytes(Vec<u8>, Option<String>),
    /// Validated and compiled already.
    Prepared(Prepared),
    /// A Rust type's factory.
    InProcess(PluginFactory),
}

impl Load {
    fn of(source: Source) -> Self {
        Self { source, name: None, manifest: None }
    }

    /// A plugin at `path`:
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
    /// A bundle's signature is checked against the host's policy; the
    /// plugin is reloaded from this path ([`Host::reload`](crate::Host::reload)).
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self::of(Source::Path(path.into()))
    }

    /// The plugin `manifest` describes, reading its entry file (a hybrid
    /// plugin's component files). A manifest value carries no text to check
    /// a signature against: the plugin is unsigned (load its folder with
    /// [`Load::path`] to have its signature checked).
    pub fn manifest(manifest: Manifest) -> Self {
        Self::of(Source::Entry(Box::new(manifest)))
    }

    /// A WASM module or a native library for this platform (told apart by
    /// their magic bytes unless [`Load::described_by`] gives the kind), named
    /// by [`Load::named`] or by the manifest given. The bytes are copied.
    pub fn bytes(bytes: impl AsRef<[u8]>) -> Self {
        Self::of(Source::Bytes(bytes.as_ref().to_vec()))
    }

    /// Code [prepared](crate::Host::prepare) once, started without reading
    /// or compiling anything, named by [`Load::named`] or by the manifest
    /// given (whose kind must be the prepared code's).
    pub fn prepared(prepared: &Prepared) -> Self {
        Self::of(Source::Prepared(prepared.clone()))
    }

    /// A plugin compiled into the app, run in process (no WASM), created
    /// (and re-created after a panic) by `factory` — `MyPlugin::default`
    /// for a type that is `Default` — named by [`Load::named`] or by the
    /// manifest given, which gives it the same permissions, limits and
    /// configuration as its WASM form would get.
    pub fn in_process<P: Plugin>(factory: impl Fn() -> P + Send + Sync + 'static) -> Self {
        Self::of(Source::InProcess(crate::in_process::factory(factory)))
    }

    /// Loads the plugin under `name` (a manifest's name is ignored).
    pub fn named(self, name: impl Into<String>) -> Self {
        Self { name: Some(name.into()), ..self }
    }

    /// Describes bytes, prepared code or a Rust type with `manifest`: its
    /// kind, name, permissions, limits and configuration (its `entry` is not
    /// read). A path's plugin is described by its files and refuses one.
    pub fn described_by(self, manifest: Manifest) -> Self {
        Self { manifest: Some(manifest), ..self }
    }

    /// Applies the naming rules (see [`Load`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for code given with neither a name nor a
    /// manifest, or a name a bare manifest refuses;
    /// [`Error::Unsupported`] for a manifest given with a path (the files
    /// have theirs) or whose kind is not the prepared code's.
    pub(super) fn resolve(self) -> Result<Resolved, Error> {
        let Self { source, name, manifest } = self;
        let code = match source {
            Source::Path(path) => {
                if manifest.is_some() {
                    return Err(Error::Unsupported(format!(
                        "{} is loaded with the manifest its files hold; load a manifest value with `Load::manifest`",
                        path.display()
                    )));
                }
                return Ok(Resolved::Path(path, name));
            }
            Source::Entry(own) => {
                let mut manifest = manifest.unwrap_or(*own);
                if let Some(name) = name {
                    manifest.name = name;
                }
                let place = if manifest.kind == ManifestKind::Hybrid {
                    Place::Hybrid
                } else {
                    Place::File(manifest.entry_path().ok_or_else(|| {
                        Error::Runtime(wasp_runtime::Error::Internal(format!(
                            "manifest of `{}` names no entry file; in-process plugins are loaded with `Load::in_process`",
                            manifest.name
                        )))
                    })?)
                };
                return Ok(Resolved::Described(Box::new(manifest), place));
            }
            Source::Bytes(bytes) => (kind_of(&bytes), Code::Bytes(bytes, None)),
            Source::Prepared(prepared) => (prepared.kind, Code::Prepared(prepared)),
            Source::InProcess(factory) => (ManifestKind::InProcess, Code::InProcess(factory)),
        };
        let (kind, mut code) = code;
        let manifest = describe(name, manifest, kind)?;
        match &mut code {
            Code::Bytes(_, file) => *file = entry_file_name(&manifest),
            Code::Prepared(prepared) if manifest.kind != prepared.kind => {
                return Err(Error::Unsupported(format!(
                    "plugin `{}` has kind `{}` in its manifest, but the prepared plugin is `{}`",
                    manifest.name,
                    manifest.kind.as_str(),
                    prepared.kind.as_str()
                )));
            }
            Code::Prepared(_) | Code::InProcess(_) => {}
        }
        Ok(Resolved::Described(Box::new(manifest), Place::Code(code)))
    }
}

/// The manifest code given without files runs under: the one given,
/// renamed to `name` if there is one; else a bare one (default limits, no
/// permissions) named `name`, of kind `kind`.
fn describe(name: Option<String>, manifest: Option<Manifest>, kind: ManifestKind) -> Result<Manifest, Error> {
    match (manifest, name) {
        (Some(mut manifest), name) => {
            if let Some(name) = name {
                manifest.name = name;
            }
            Ok(manifest)
        }
        (None, Some(name)) => {
            let mut manifest =
                Manifest::new(&name).map_err(|e| Error::InvalidName { name: name.clone(), reason: e.message })?;
            manifest.kind = kind;
            Ok(manifest)
        }
        (None, None) => Err(Error::InvalidName {
            name: String::new(),
            reason: "code given without a manifest needs a name: give one with `Load::named`".into(),
        }),
    }
}

/// The kind of plugin `bytes` are: a native library when their magic
/// bytes say so, else WebAssembly (whose validation names any problem).
pub(super) fn kind_of(bytes: &[u8]) -> ManifestKind {
    match FileKind::detect(bytes) {
        FileKind::Elf | FileKind::Pe | FileKind::MachO => ManifestKind::Native,
        _ => ManifestKind::Wasm,
    }
}

/// The name of the file at `path`, as errors and native loaders show it.
pub(super) fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|f| f.to_string_lossy().into_owned())
}

/// The file name of a manifest's entry, for code given without its file.
pub(super) fn entry_file_name(manifest: &Manifest) -> Option<String> {
    manifest.entry_path().as_deref().and_then(file_name)
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Path(path) => format!("path {}", path.display()),
            Source::Entry(manifest) => format!("manifest of `{}`", manifest.name),
            Source::Bytes(bytes) => format!("{} bytes", bytes.len()),
            Source::Prepared(prepared) => format!("prepared {}", prepared.kind.as_str()),
            Source::InProcess(_) => "in process".to_owned(),
        };
        f.debug_struct("Load")
            .field("source", &source)
            .field("name", &self.name)
            .field("manifest", &self.manifest.as_ref().map(|m| &m.name))
            .finish()
    }
}

impl From<&str> for Load {
    fn from(path: &str) -> Self {
        Self::path(path)
    }
}

impl From<String> for Load {
    fn from(path: String) -> Self {
        Self::path(path)
    }
}

impl From<&String> for Load {
    fn from(path: &String) -> Self {
        Self::path(path)
    }
}

impl From<&Path> for Load {
    fn from(path: &Path) -> Self {
        Self::path(path)
    }
}

impl From<PathBuf> for Load {
    fn from(path: PathBuf) -> Self {
        Self::path(path)
    }
}

impl From<&PathBuf> for Load {
    fn from(path: &PathBuf) -> Self {
        Self::path(path)
    }
}

#[cfg(test)]
mod tests {
    use wasp_runtime::{Identity, PluginImage};
    use wasp_sdk::prelude::*;

    use super::*;

    #[derive(Default)]
    struct Quiet;
    impl Plugin for Quiet {
        fn on_message(&mut self, _: &mut Context<'_>, _: Message<'_>) -> Result<Reply, WireError> {
            Ok(Reply::empty())
        }
    }

    const WASM: &[u8] = b"\0asm\x01\0\0\0";
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";

    fn manifest(name: &str, kind: ManifestKind) -> Manifest {
        let mut m = Manifest::new(name).expect("a good name");
        m.kind = kind;
        m
    }

    /// The manifest and place a load resolves to, or the error.
    fn described(load: Load) -> Result<(Manifest, Place), Error> {
        match load.resolve()? {
            Resolved::Described(manifest, place) => Ok((*manifest, place)),
            Resolved::Path(path, _) => panic!("{} resolved to a path", path.display()),
        }
    }

    /// Why a load does not resolve.
    fn refused(load: Load) -> Error {
        match load.resolve() {
            Err(e) => e,
            Ok(_) => panic!("the load resolved"),
        }
    }

    fn prepared(kind: ManifestKind) -> Prepared {
        let image = PluginImage::InProcess(crate::in_process::factory(Quiet::default));
        Prepared { kind, image, code: Identity::in_process() }
    }

    #[test]
    fn every_path_form_is_a_path_source_under_its_own_name() {
        let path = PathBuf::from("plugins/echo");
        for load in [
            Load::from("plugins/echo"),
            Load::from(String::from("plugins/echo")),
            Load::from(&String::from("plugins/echo")),
            Load::from(path.as_path()),
            Load::from(&path),
            Load::from(path.clone()),
        ] {
            match load.resolve() {
                Ok(Resolved::Path(p, None)) => assert_eq!(p, path),
                _ => panic!("not the path {}", path.display()),
            }
        }
        match Load::path("a.wasm").named("b").resolve() {
            Ok(Resolved::Path(p, Some(name))) => assert_eq!((p.as_path(), name.as_str()), (Path::new("a.wasm"), "b")),
            _ => panic!("not a named path"),
        }
    }

    #[test]
    fn a_path_refuses_a_manifest_its_files_would_contradict() {
        let err = Load::path("plugins/echo").described_by(manifest("echo", ManifestKind::Wasm)).resolve();
        assert!(matches!(err, Err(Error::Unsupported(m)) if m.contains("plugins/echo")));
    }

    #[test]
    fn bytes_without_a_manifest_get_a_bare_one_of_the_kind_their_magic_says() {
        let (m, place) = described(Load::bytes(WASM).named("w")).expect("resolves");
        assert_eq!((m.name.as_str(), m.kind), ("w", ManifestKind::Wasm));
        assert!(m.permissions.is_empty());
        assert!(matches!(place, Place::Code(Code::Bytes(b, None)) if b == WASM));
        let (m, _) = described(Load::bytes(ELF).named("n")).expect("resolves");
        assert_eq!(m.kind, ManifestKind::Native);
        let (m, _) = described(Load::bytes(b"garbage".as_slice()).named("g")).expect("resolves");
        assert_eq!(m.kind, ManifestKind::Wasm, "validation, not detection, names what is wrong");
    }

    #[test]
    fn bytes_described_by_a_manifest_keep_its_kind_and_its_entry_file_name() {
        let mut m = manifest("lib", ManifestKind::Native);
        m.entry = Some("liblib.so".into());
        let (m, place) = described(Load::bytes(WASM).described_by(m)).expect("resolves");
        assert_eq!((m.name.as_str(), m.kind), ("lib", ManifestKind::Native));
        assert!(matches!(place, Place::Code(Code::Bytes(_, Some(f))) if f == "liblib.so"));
    }

    #[test]
    fn a_name_wins_over_the_manifests() {
        let (m, _) =
            described(Load::bytes(WASM).described_by(manifest("a", ManifestKind::Wasm)).named("b")).expect("resolves");
        assert_eq!(m.name, "b");
        let (m, _) =
            described(Load::in_process(Quiet::default).named("b").described_by(manifest("a", ManifestKind::InProcess)))
                .expect("resolves");
        assert_eq!(m.name, "b", "whatever the order of the options");
    }

    #[test]
    fn code_with_neither_name_nor_manifest_is_refused() {
        for load in [Load::bytes(WASM), Load::in_process(Quiet::default), Load::prepared(&prepared(ManifestKind::Wasm))]
        {
            assert!(matches!(load.resolve(), Err(Error::InvalidName { name, .. }) if name.is_empty()));
        }
    }

    #[test]
    fn a_bad_name_is_refused_with_the_manifests_reason() {
        let err = refused(Load::bytes(WASM).named("no spaces"));
        assert!(matches!(err, Error::InvalidName { name, reason } if name == "no spaces" && !reason.is_empty()));
    }

    #[test]
    fn in_process_code_is_of_kind_in_process() {
        let (m, place) = described(Load::in_process(Quiet::default).named("q")).expect("resolves");
        assert_eq!(m.kind, ManifestKind::InProcess);
        assert!(matches!(place, Place::Code(Code::InProcess(_))));
    }

    #[test]
    fn prepared_code_takes_its_kind_and_refuses_a_manifest_of_another() {
        let (m, _) = described(Load::prepared(&prepared(ManifestKind::Native)).named("n")).expect("resolves");
        assert_eq!(m.kind, ManifestKind::Native);
        let err =
            refused(Load::prepared(&prepared(ManifestKind::Native)).described_by(manifest("n", ManifestKind::Wasm)));
        assert!(err.to_string().contains("prepared plugin is `native`"), "{err}");
    }

    #[test]
    fn a_manifest_source_reads_its_entry_and_a_hybrid_its_components() {
        let mut m = manifest("echo", ManifestKind::Wasm);
        m.entry = Some("echo.wasm".into());
        m.dir = Some(PathBuf::from("plugins/echo"));
        let (m, place) = described(Load::manifest(m)).expect("resolves");
        assert!(matches!(place, Place::File(f) if f == Path::new("plugins/echo/echo.wasm")));
        let mut hybrid = m;
        hybrid.kind = ManifestKind::Hybrid;
        let (_, place) = described(Load::manifest(hybrid)).expect("resolves");
        assert!(matches!(place, Place::Hybrid));
        let err = refused(Load::manifest(manifest("bare", ManifestKind::Wasm)));
        assert!(err.to_string().contains("names no entry file"), "{err}");
    }
}
