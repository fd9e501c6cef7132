//! `cargo wasp new`: a new plugin crate that builds and passes its own test out
//! of the box.
//!
//! [`new_plugin`] writes a folder named after the plugin holding a Cargo
//! crate (or, for a hybrid plugin, a Cargo workspace of two crates), its
//! `plugin.toml`, a test that drives the plugin in process through
//! `wasp-sdk` alone, a README and a `.gitignore`. The plugin answers `ping`
//! with `"pong"` and `echo` with the payload it was sent. Every generated
//! `Cargo.toml` holds a `[workspace]` table, so the crate stands alone even
//! when created inside another workspace.
//!
//! ```no_run
//! use std::path::Path;
//! use wasp_cli::scaffold::{Kind, NewOptions, new_plugin};
//!
//! let made = new_plugin(Path::new("."), "hello", Kind::Wasm, &NewOptions::default())?;
//! println!("created {}", made.dir.display());
//! # Ok::<(), wasp_cli::scaffold::ScaffoldError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use wasp_protocol::ApiVersion;
use wasp_runtime::Manifest;

/// The version requirement on `wasp-sdk` a generated crate depends on when
/// [`NewOptions::sdk_path`] is not given: the SDK released with this CLI
/// (wasp's crates share one version), written as `cargo add` writes a caret
/// requirement. Derived from this crate's version at compile time by
/// [`caret_requirement`]: `"0.1"` for 0.1.x, `"1"` for 1.x.y.
pub const SDK_VERSION: &str = caret_requirement(env!("CARGO_PKG_VERSION"));

/// The caret requirement (written without the `^`, as `cargo add` does) for
/// the versions compatible with `version`: the major version from 1.0
/// (`"1.4.2"` → `"1"`), major.minor below it (`"0.3.1"` → `"0.3"`), and for
/// 0.0.z the version itself (`"0.0.3"`), the only compatible one. A
/// pre-release (`"0.2.0-rc.1"`) is kept whole, since a shorter requirement
/// would not match it; build metadata (`+…`) is dropped.
pub const fn caret_requirement(version: &str) -> &str {
    let bytes = version.as_bytes();
    // The version without build metadata, and where its pre-release starts.
    let mut end = 0;
    let mut pre_release = false;
    while end < bytes.len() && bytes[end] != b'+' {
        pre_release |= bytes[end] == b'-';
        end += 1;
    }
    if pre_release {
        return version.split_at(end).0;
    }
    // The ends of the major and minor parts.
    let mut major_end = 0;
    while major_end < end && bytes[major_end] != b'.' {
        major_end += 1;
    }
    let mut minor_end = if major_end < end { major_end + 1 } else { end };
    while minor_end < end && bytes[minor_end] != b'.' {
        minor_end += 1;
    }
    let keep = if !is_zero(bytes, 0, major_end) {
        major_end
    } else if !is_zero(bytes, major_end + 1, minor_end) {
        minor_end
    } else {
        end
    };
    version.split_at(keep).0
}

/// Whether `bytes[from..to]` is the number `0`.
const fn is_zero(bytes: &[u8], from: usize, to: usize) -> bool {
    to == from + 1 && bytes[from] == b'0'
}

/// What kind of plugin to create.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Kind {
    /// A WebAssembly module, sandboxed (the default).
    #[default]
    Wasm,
    /// A native shared library, for code that needs the operating system.
    Native,
    /// A Cargo workspace of two components under one identity: a native `os`
    /// part and a WebAssembly `logic` part.
    Hybrid,
}

impl Kind {
    /// The kind as written in a manifest (`wasm`, `native`, `hybrid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Native => "native",
            Self::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Choices for [`new_plugin`] besides the name and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewOptions {
    /// Depend on the `wasp-sdk` crate in this folder (the `sdk/` of a wasp
    /// checkout) instead of the published version [`SDK_VERSION`]. The
    /// generated manifest records it as an absolute path.
    pub sdk_path: Option<PathBuf>,
    /// The one-line description for `Cargo.toml` and `plugin.toml`.
    pub description: Option<String>,
}

impl NewOptions {
    /// Options that depend on the `wasp-sdk` in `sdk_path`.
    pub fn with_sdk_path(sdk_path: impl Into<PathBuf>) -> Self {
        Self { sdk_path: Some(sdk_path.into()), ..Self::default() }
    }
}

/// What [`new_plugin`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scaffolded {
    /// The new plugin's folder: `<parent>/<name>`.
    pub dir: PathBuf,
    /// The plugin's name (its address in a host).
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// The files written, relative to [`dir`](Self::dir), in the order written.
    pub files: Vec<PathBuf>,
}

/// Why [`new_plugin`] created nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    /// The name cannot name a plugin, or cannot name its crate.
    #[error("`{name}` cannot be a plugin's name: {reason}")]
    InvalidName {
        /// The name asked for.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The plugin's folder exists and holds files.
    #[error("{} already exists and is not empty; choose another name or remove it", .0.display())]
    NotEmpty(PathBuf),
    /// The `wasp-sdk` folder of [`NewOptions::sdk_path`] holds no `Cargo.toml`.
    #[error("{} is not the wasp-sdk crate (it has no Cargo.toml)", .0.display())]
    NoSdk(PathBuf),
    /// Reading or writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Creates the plugin `name` of kind `kind` in `<parent>/<name>`.
///
/// The name follows the manifest's rules (1 to 64 bytes of `a-z`, `0-9`,
/// `-`, `_`, `.`; not `host`) and must also make a Cargo package name: it
/// starts with a letter and is not a Rust keyword. A `.` becomes `-` in the
/// package name. The folder may exist if it is empty. Nothing is written
/// when the name or the folder is refused.
pub fn new_plugin(parent: &Path, name: &str, kind: Kind, options: &NewOptions) -> Result<Scaffolded, ScaffoldError> {
    check_name(name)?;
    let dir = parent.join(name);
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ScaffoldError::NotEmpty(dir));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Err(ScaffoldError::NotEmpty(dir)),
        Err(source) => return Err(ScaffoldError::Io { path: dir, source }),
    }
    let sdk = match &options.sdk_path {
        Some(path) => {
            let path = std::path::absolute(path).map_err(|source| ScaffoldError::Io { path: path.clone(), source })?;
            if !path.join("Cargo.toml").is_file() {
                return Err(ScaffoldError::NoSdk(path));
            }
            format!("{{ path = {} }}", toml_string(&path.to_string_lossy()))
        }
        None => format!("{:?}", SDK_VERSION),
    };
    let names = Names::new(name, options.description.as_deref());
    let files = match kind {
        Kind::Wasm | Kind::Native => single_crate(&names, kind, &sdk),
        Kind::Hybrid => hybrid(&names, &sdk),
    };
    debug_assert!(files.iter().all(|(path, text)| path != "plugin.toml" || Manifest::parse(text).is_ok()));
    let mut written = Vec::with_capacity(files.len());
    for (path, text) in files {
        let full = dir.join(&path);
        if let Some(folder) = full.parent() {
            std::fs::create_dir_all(folder).map_err(|source| ScaffoldError::Io { path: folder.to_owned(), source })?;
        }
        std::fs::write(&full, text).map_err(|source| ScaffoldError::Io { path: full.clone(), source })?;
        written.push(PathBuf::from(path));
    }
    format_sources(&dir, &written);
    Ok(Scaffolded { dir, name: name.to_owned(), kind, files: written })
}

/// Runs `rustfmt` over the generated sources, so that they stay formatted
/// however long the plugin's name makes a line. Best effort: without
/// `rustfmt` they are still valid, only less tidy.
fn format_sources(dir: &Path, files: &[PathBuf]) {
    let sources: Vec<PathBuf> =
        files.iter().filter(|f| f.extension().is_some_and(|e| e == "rs")).map(|f| dir.join(f)).collect();
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let _ = std::process::Command::new(rustfmt)
        .args(["--edition", "2024"])
        .args(&sources)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// The `.gitignore` of every plugin: cargo's output, and what `cargo wasp
/// build` writes beside `plugin.toml`.
const GITIGNORE: &str =
    "/target\n# What `cargo wasp build` writes beside plugin.toml.\n/*.wasm\n/*.so\n/*.dylib\n/*.dll\n";

/// The Rust keywords (strict and reserved) and the names of the standard
/// crates: none can be a crate's name.
const RESERVED: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
];

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let invalid = |reason: String| ScaffoldError::InvalidName { name: name.to_owned(), reason };
    // The manifest's own rule, with its own message.
    Manifest::new(name).map_err(|e| invalid(e.to_string()))?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("it must start with a letter, as it also names the plugin's Cargo package".into()));
    }
    let lib = name.replace(['.', '-'], "_");
    if RESERVED.contains(&lib.as_str()) {
        return Err(invalid("it is a Rust keyword or a standard crate's name, which no Cargo package can take".into()));
    }
    Ok(())
}

/// The names a plugin's files use.
struct Names {
    /// The plugin's name and address.
    plugin: String,
    /// The Cargo package: the name with `.` as `-`.
    package: String,
    /// The library (and cdylib) name: the name with `.` and `-` as `_`.
    lib: String,
    /// The name in CamelCase.
    camel: String,
    /// The plugin type: the name in CamelCase, then `Plugin`.
    ty: String,
    /// The one-line description.
    description: String,
}

impl Names {
    fn new(name: &str, description: Option<&str>) -> Self {
        let ty: String = name
            .split(['.', '-', '_'])
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect::<String>()
            })
            .collect();
        Self {
            plugin: name.to_owned(),
            package: name.replace('.', "-"),
            lib: name.replace(['.', '-'], "_"),
            ty: format!("{ty}Plugin"),
            camel: ty,
            description: description
                .map(str::to_owned)
                .unwrap_or_else(|| format!("The `{name}` wasp plugin: answers `ping` and `echo`.")),
        }
    }
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The files of a `wasm` or `native` plugin: one crate.
fn single_crate(n: &Names, kind: Kind, sdk: &str) -> Vec<(String, String)> {
    let entry = match kind {
        // A `.` would read as the file's extension and defeat the platform naming.
        Kind::Native => n.plugin.replace('.', "_"),
        _ => format!("{}.wasm", n.plugin),
    };
    let manifest = format!(
        "# The manifest of the `{name}` plugin: what a wasp host reads to load it\n\
         # (the schema is in wasp's docs/manifest.md). `cargo wasp build` writes the\n\
         # entry file beside it.\n\
         name = {name_str}\n\
         version = \"0.1.0\"\n\
         # The wasp ABI the plugin is built for: the version of wasp-sdk's.\n\
         api = \"{api}\"\n\
         kind = \"{kind}\"\n\
         {entry_comment}\
         entry = {entry}\n\
         description = {description}\n\
         # Everything is denied by default: list what the plugin needs, such as\n\
         # \"storage\", \"timers\", \"log\", \"publish:{name}.*\".\n\
         permissions = []\n",
        name = n.plugin,
        name_str = toml_string(&n.plugin),
        api = ApiVersion::CURRENT,
        kind = kind.as_str(),
        entry_comment = if kind == Kind::Native {
            "# No extension: the platform's library name (lib<entry>.so, <entry>.dll, lib<entry>.dylib).\n"
        } else {
            ""
        },
        entry = toml_string(&entry),
        description = toml_string(&n.description),
    );
    let target_comment = match kind {
        Kind::Native => "# A native plugin: `cargo wasp build` builds the cdylib for this machine.\n".to_owned(),
        _ => "# What `cargo wasp build` builds for: \"wasm32-unknown-unknown\", or\n\
              # \"wasm32-wasip1\" for a plugin that uses std::fs through WASI.\n\
              [package.metadata.wasp]\n\
              target = \"wasm32-unknown-unknown\"\n"
            .to_owned(),
    };
    let cargo = format!(
        "[package]\n\
         name = {package}\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         description = {description}\n\
         publish = false\n\
         \n\
         # cdylib: the .wasm (or native library) a host loads; rlib: what the tests link.\n\
         [lib]\n\
         crate-type = [\"cdylib\", \"rlib\"]\n\
         \n\
         [dependencies]\n\
         wasp-sdk = {sdk}\n\
         \n\
         {target_comment}\
         \n\
         # A crate of its own, even inside another Cargo workspace.\n\
         [workspace]\n",
        package = toml_string(&n.package),
        description = toml_string(&n.description),
    );
    let kind_line = match kind {
        Kind::Native => "a native library",
        _ => "a WebAssembly module",
    };
    let readme = format!(
        "# {name}\n\n\
         {description}\n\n\
         A [wasp](https://example.invalid/wasp) plugin, built as {kind_line}. It answers two requests:\n\n\
         - `ping` → `\"pong\"`;\n\
         - `echo` → the payload it was sent.\n\n\
         ## Build\n\n\
         ```sh\n\
         cargo wasp build    # writes {entry_file} beside plugin.toml and checks it loads\n\
         ```\n\n\
         Then load this folder in a host (`host.load(\"path/to/{name}\")`), or try it:\n\n\
         ```sh\n\
         cargo wasp run . --request ping null\n\
         ```\n\n\
         ## Test\n\n\
         ```sh\n\
         cargo test          # drives the plugin in process, see tests/plugin.rs\n\
         ```\n\n\
         The plugin is `src/lib.rs`; what it may do is `plugin.toml`'s `permissions`.\n",
        name = n.plugin,
        description = n.description,
        entry_file = if kind == Kind::Native { format!("the library for `{entry}`") } else { format!("`{entry}`") },
    );
    let gitignore = GITIGNORE.to_owned();
    vec![
        ("Cargo.toml".into(), cargo),
        ("plugin.toml".into(), manifest),
        ("src/lib.rs".into(), plugin_source(n, &n.ty, None)),
        ("tests/plugin.rs".into(), plugin_test(&n.lib, &n.ty, false)),
        ("README.md".into(), readme),
        (".gitignore".into(), gitignore),
    ]
}

/// The files of a hybrid plugin: a workspace of `logic` (wasm) and `os` (native).
fn hybrid(n: &Names, sdk: &str) -> Vec<(String, String)> {
    let logic_lib = format!("{}_logic", n.lib);
    let os_lib = format!("{}_os", n.lib);
    let logic_ty = format!("{}Logic", n.camel);
    let os_ty = format!("{}Os", n.camel);
    let manifest = format!(
        "# The manifest of the hybrid plugin `{name}` (schema: wasp's docs/manifest.md).\n\
         # Two components run under one identity and one permission set: `logic`,\n\
         # WebAssembly and sandboxed, and `os`, a native library for what needs the\n\
         # operating system. `cargo wasp build` writes both entry files beside it.\n\
         name = {name_str}\n\
         version = \"0.1.0\"\n\
         api = \"{api}\"\n\
         kind = \"hybrid\"\n\
         description = {description}\n\
         permissions = []\n\
         \n\
         # The first component answers at `{name}`.\n\
         [[components]]\n\
         name = \"logic\"\n\
         kind = \"wasm\"\n\
         entry = \"{logic_lib}.wasm\"\n\
         \n\
         # This one answers at `{name}.os`. No extension: the platform's library name.\n\
         [[components]]\n\
         name = \"os\"\n\
         kind = \"native\"\n\
         entry = \"{os_lib}\"\n",
        name = n.plugin,
        name_str = toml_string(&n.plugin),
        api = ApiVersion::CURRENT,
        description = toml_string(&n.description),
    );
    let workspace = format!(
        "# The hybrid plugin `{name}`: one crate per component.\n\
         [workspace]\n\
         members = [\"logic\", \"os\"]\n\
         resolver = \"3\"\n\
         \n\
         [workspace.package]\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         \n\
         [workspace.dependencies]\n\
         wasp-sdk = {sdk}\n",
        name = n.plugin,
    );
    let member = |part: &str, what: &str, metadata: &str| {
        format!(
            "[package]\n\
             name = {package}\n\
             description = {description}\n\
             version.workspace = true\n\
             edition.workspace = true\n\
             publish = false\n\
             \n\
             [lib]\n\
             crate-type = [\"cdylib\", \"rlib\"]\n\
             \n\
             [dependencies]\n\
             wasp-sdk.workspace = true\n\
             {metadata}",
            package = toml_string(&format!("{}-{part}", n.package)),
            description = toml_string(&format!("The `{}` plugin's {part} component: {what}.", n.plugin)),
        )
    };
    let logic_cargo = member(
        "logic",
        "WebAssembly",
        "\n[package.metadata.wasp]\n\
         # What `cargo wasp build` builds this component for (or \"wasm32-wasip1\").\n\
         target = \"wasm32-unknown-unknown\"\n",
    );
    let os_cargo = member("os", "a native library", "");
    let readme = format!(
        "# {name}\n\n\
         {description}\n\n\
         A hybrid [wasp](https://example.invalid/wasp) plugin: two components under one\n\
         identity and one permission set.\n\n\
         - `logic/` — WebAssembly, answers at `{name}`: `ping` → `\"pong\"`, `echo` → the\n  \
           payload, `os` → asks the `os` component and passes its answer on.\n\
         - `os/` — a native library, answers at `{name}.os`: `ping` → `\"pong\"`, `os` → the\n  \
           operating system's name.\n\n\
         ## Build and test\n\n\
         ```sh\n\
         cargo wasp build    # {logic_lib}.wasm and the os library, beside plugin.toml\n\
         cargo test          # both components, in process\n\
         ```\n",
        name = n.plugin,
        description = n.description,
    );
    let to_os = format!("{}.os", n.plugin);
    vec![
        ("Cargo.toml".into(), workspace),
        ("plugin.toml".into(), manifest),
        ("logic/Cargo.toml".into(), logic_cargo),
        ("logic/src/lib.rs".into(), plugin_source(n, &logic_ty, Some(Part::Logic(&to_os)))),
        ("logic/tests/plugin.rs".into(), plugin_test(&logic_lib, &logic_ty, true)),
        ("os/Cargo.toml".into(), os_cargo),
        ("os/src/lib.rs".into(), plugin_source(n, &os_ty, Some(Part::Os))),
        ("os/tests/plugin.rs".into(), plugin_test(&os_lib, &os_ty, false)),
        ("README.md".into(), readme),
        (".gitignore".into(), GITIGNORE.into()),
    ]
}

/// Which component of a hybrid plugin a source is.
#[derive(Clone, Copy)]
enum Part<'a> {
    /// The WebAssembly part; it asks the component at this address.
    Logic(&'a str),
    /// The native part.
    Os,
}

/// `src/lib.rs` of a plugin or component.
fn plugin_source(n: &Names, ty: &str, part: Option<Part<'_>>) -> String {
    let (title, extra_doc, extra_arm) = match part {
        None => (format!("`{}`: a wasp plugin.", n.plugin), String::new(), String::new()),
        Some(Part::Logic(os)) => (
            format!("`{}`'s logic component: WebAssembly, answering at `{}`.", n.plugin, n.plugin),
            format!("//! `os` asks the native component (`{os}`) and passes its answer on.\n"),
            format!(
                "            // The components of one plugin may message each other without permissions.\n            \
                 (MessageKind::Request, \"os\") => ctx.request_raw({os:?}, \"os\", msg.payload, None).map(Reply::bytes),\n"
            ),
        ),
        Some(Part::Os) => (
            format!("`{}`'s os component: a native library, answering at `{}.os`.", n.plugin, n.plugin),
            "//! `os` answers the operating system's name: native code may ask the OS.\n".to_owned(),
            "            (MessageKind::Request, \"os\") => Reply::encode(std::env::consts::OS),\n".to_owned(),
        ),
    };
    let ctx = if matches!(part, Some(Part::Logic(_))) { "ctx" } else { "_ctx" };
    format!(
        "//! {title}\n\
         //!\n\
         //! It answers `ping` with `\"pong\"` and `echo` with the payload it was sent.\n\
         {extra_doc}\
         //! Every message arrives through `on_message`; everything the plugin does to\n\
         //! the outside world goes through its `Context`, which the host checks\n\
         //! against `plugin.toml`'s permissions.\n\
         \n\
         use wasp_sdk::prelude::*;\n\
         \n\
         /// The plugin. Its fields are its state; the host creates it with `Default`\n\
         /// (and again after a crash, so keep what must survive in host storage).\n\
         #[derive(Default)]\n\
         pub struct {ty};\n\
         \n\
         impl Plugin for {ty} {{\n    \
             fn on_message(&mut self, {ctx}: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {{\n        \
                 match (msg.kind, msg.topic) {{\n            \
                     (MessageKind::Request, \"ping\") => Reply::encode(\"pong\"),\n            \
                     (MessageKind::Request, \"echo\") => Ok(Reply::bytes(msg.payload.to_vec())),\n\
                     {extra_arm}            \
                     (MessageKind::Request, other) => Err(WireError::plugin(format!(\"unknown topic `{{other}}`\"))),\n            \
                     // Events, and answers to requests of its own: nothing to do.\n            \
                     _ => Ok(Reply::empty()),\n        \
                 }}\n    \
             }}\n\
         }}\n\
         \n\
         // The entry points: the WebAssembly ABI on wasm32, the native one elsewhere.\n\
         export_plugin!({ty});\n"
    )
}

/// `tests/plugin.rs`: drives the plugin in process, with no host at all.
fn plugin_test(lib: &str, ty: &str, asks_os: bool) -> String {
    let os_test = if asks_os {
        ("\n\
             #[test]\n\
             fn os_passes_on_what_the_os_component_answers() {\n    \
                 let mut host = TestHost { answer: Some(Reply::encode(\"linux\").unwrap()) };\n    \
                 let reply = request_via(&mut Default::default(), &mut host, \"os\", NIL).unwrap();\n    \
                 assert_eq!(reply, Reply::encode(\"linux\").unwrap());\n\
             }\n")
            .to_owned()
    } else {
        String::new()
    };
    format!(
        "//! Drives the plugin in process: each test calls `on_message` the way a\n\
         //! host does, with a stand-in for the host.\n\
         \n\
         use wasp_sdk::prelude::*;\n\
         use wasp_sdk::HostApi;\n\
         use {lib}::{ty};\n\
         \n\
         /// MessagePack `nil`: the payload of a request that carries nothing.\n\
         const NIL: &[u8] = &[0xc0];\n\
         \n\
         /// A stand-in for the host: answers requests with `answer`, refuses the rest.\n\
         #[derive(Default)]\n\
         struct TestHost {{\n    \
             answer: Option<Reply>,\n\
         }}\n\
         \n\
         fn refused() -> WireError {{\n    \
             WireError::new(ErrorCode::PermissionDenied, \"the test host allows nothing\")\n\
         }}\n\
         \n\
         impl HostApi for TestHost {{\n    \
             fn send(&mut self, _: &str, _: &str, _: &[u8]) -> Result<(), WireError> {{\n        Err(refused())\n    }}\n    \
             fn publish(&mut self, _: &str, _: &[u8]) -> Result<(), WireError> {{\n        Err(refused())\n    }}\n    \
             fn subscribe(&mut self, _: &str) -> Result<(), WireError> {{\n        Err(refused())\n    }}\n    \
             fn unsubscribe(&mut self, _: &str) -> Result<(), WireError> {{\n        Err(refused())\n    }}\n    \
             fn request(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<Vec<u8>, WireError> {{\n        \
                 self.answer.clone().and_then(Reply::into_payload).ok_or_else(refused)\n    }}\n    \
             fn request_async(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<u64, WireError> {{\n        Err(refused())\n    }}\n    \
             fn reply(&mut self, _: u64, _: Result<&[u8], &WireError>) -> Result<(), WireError> {{\n        Err(refused())\n    }}\n    \
             fn log(&mut self, _: LogLevel, _: &str) {{}}\n    \
             fn call(&mut self, _: &str, _: &[u8]) -> Result<Vec<u8>, WireError> {{\n        Err(refused())\n    }}\n\
         }}\n\
         \n\
         /// Sends the plugin a request, as a host would, and returns its answer.\n\
         fn request_via(plugin: &mut {ty}, host: &mut TestHost, topic: &str, payload: &[u8]) -> Result<Reply, WireError> {{\n    \
             let msg = Message {{ kind: MessageKind::Request, id: 1, from: \"test\", topic, payload }};\n    \
             plugin.on_message(&mut Context::new(host), msg)\n\
         }}\n\
         \n\
         fn request(topic: &str, payload: &[u8]) -> Result<Reply, WireError> {{\n    \
             request_via(&mut Default::default(), &mut TestHost::default(), topic, payload)\n\
         }}\n\
         \n\
         #[test]\n\
         fn ping_answers_pong() {{\n    \
             assert_eq!(request(\"ping\", NIL).unwrap(), Reply::encode(\"pong\").unwrap());\n\
         }}\n\
         \n\
         #[test]\n\
         fn echo_answers_the_payload() {{\n    \
             let payload = Reply::encode(&(\"hello\", 42)).unwrap().into_payload().unwrap();\n    \
             assert_eq!(request(\"echo\", &payload).unwrap().payload(), Some(&payload[..]));\n\
         }}\n\
         \n\
         #[test]\n\
         fn an_unknown_topic_is_an_error() {{\n    \
             let error = request(\"nope\", NIL).unwrap_err();\n    \
             assert_eq!(error.code, ErrorCode::Plugin);\n    \
             assert!(error.message.contains(\"nope\"), \"{{error}}\");\n\
         }}\n\
         {os_test}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_requirement_is_the_caret_range_of_this_version() {
        assert_eq!(caret_requirement("0.1.0"), "0.1");
        assert_eq!(caret_requirement("0.1.7"), "0.1");
        assert_eq!(caret_requirement("0.12.3"), "0.12");
        assert_eq!(caret_requirement("1.0.0"), "1");
        assert_eq!(caret_requirement("1.4.2"), "1");
        assert_eq!(caret_requirement("10.0.1"), "10");
        assert_eq!(caret_requirement("0.0.3"), "0.0.3");
        assert_eq!(caret_requirement("0.2.0-rc.1"), "0.2.0-rc.1");
        assert_eq!(caret_requirement("1.0.0-alpha+build.5"), "1.0.0-alpha");
        assert_eq!(caret_requirement("0.3.1+build.5"), "0.3");
        assert_eq!(caret_requirement("2.1.0+x-y"), "2");
    }

    #[test]
    fn the_sdk_requirement_follows_this_crate() {
        // major.minor of this crate's version for 0.x, major from 1.0.
        let version = env!("CARGO_PKG_VERSION");
        let parts: Vec<&str> = version.split('.').collect();
        let expected = match parts[..] {
            ["0", "0", _] => version.to_owned(),
            ["0", minor, _] => format!("0.{minor}"),
            [major, ..] => major.to_owned(),
            [] => unreachable!("cargo versions have three parts"),
        };
        if !version.contains(['-', '+']) {
            assert_eq!(SDK_VERSION, expected);
        }
    }
}
