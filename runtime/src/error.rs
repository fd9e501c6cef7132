//! The runtime's error type, and its mapping onto the wire's `ErrorCode`.

use std::path::PathBuf;
use std::time::Duration;

use wasp_protocol::{ApiVersion, ErrorCode, WireError};

/// One thing wrong with a module, found by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The module does not carry its ABI version.
    MissingAbiVersion,
    /// The `wasp:abi` section is not `MAJOR.MINOR`.
    MalformedAbiVersion(String),
    /// The host does not speak the plugin's ABI version.
    UnsupportedAbi {
        /// What the plugin was built for.
        plugin: ApiVersion,
        /// What the host speaks.
        host: ApiVersion,
    },
    /// A required export is absent.
    MissingExport(String),
    /// An export has the wrong type or signature.
    WrongExport {
        /// The export's name.
        name: String,
        /// What the ABI requires.
        expected: String,
        /// What the module has.
        found: String,
    },
    /// An import from outside the wasp import module, or not in the ABI.
    ForbiddenImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// An import that exists only from a later ABI minor version than the
    /// module declares.
    ImportTooNew {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
        /// The ABI version that introduced it.
        since: ApiVersion,
        /// The version the module declares.
        declared: ApiVersion,
    },
    /// The module's imports cannot be linked (a WASI import with the wrong
    /// signature, for instance).
    Unlinkable(String),
    /// A native library built for another processor architecture.
    WrongArchitecture {
        /// The library's architecture.
        found: String,
        /// The host's.
        host: String,
    },
    /// A native library that exports more than one entry function.
    AmbiguousEntry(Vec<String>),
    /// A native library whose entry function returned something that is not
    /// a wasp plugin table.
    BadEntryTable(String),
    /// A component targets a version of the `wasp:plugin` world this host
    /// does not speak.
    #[cfg(feature = "components")]
    UnsupportedWorld {
        /// The import or export naming the version.
        item: String,
        /// The version it names.
        found: String,
        /// What the host speaks.
        host: crate::WorldVersion,
    },
    /// A component imports something outside the `wasp:plugin` world.
    #[cfg(feature = "components")]
    ForbiddenComponentImport(String),
    /// The module is not valid WebAssembly (reported beside its ABI
    /// problems: a module that breaks the ABI is validated, not compiled).
    NotValid(String),
    /// A wasp import with the wrong signature.
    WrongImport {
        /// The import's name.
        name: String,
        /// What the ABI requires.
        expected: String,
        /// What the module declares.
        found: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingAbiVersion => write!(
                f,
                "no `wasp:abi` custom section: the module declares no ABI version (host speaks {}); \
                 build it with wasp-sdk's `export_plugin!`",
                ApiVersion::CURRENT
            ),
            Self::MalformedAbiVersion(s) => {
                write!(f, "`wasp:abi` section holds {s:?}, expected MAJOR.MINOR such as {}", ApiVersion::CURRENT)
            }
            Self::UnsupportedAbi { plugin, host } => write!(f, "plugin requires ABI {plugin}, host speaks {host}"),
            Self::MissingExport(name) => write!(f, "missing required export `{name}`"),
            Self::WrongExport { name, expected, found } => write!(f, "export `{name}` is {found}, expected {expected}"),
            Self::ForbiddenImport { module, name } => {
                write!(f, "import `{module}::{name}` is not part of the wasp ABI")
            }
            Self::WrongImport { name, expected, found } => {
                write!(f, "import `wasp::{name}` is {found}, expected {expected}")
            }
            Self::ImportTooNew { module, name, since, declared } => write!(
                f,
                "import `{module}::{name}` exists from ABI {since}, but the module declares ABI {declared}; \
                 rebuild it with a newer wasp-sdk"
            ),
            Self::Unlinkable(detail) => write!(f, "the module's imports cannot be linked: {detail}"),
            Self::NotValid(detail) => write!(f, "not valid WebAssembly: {detail}"),
            Self::WrongArchitecture { found, host } => {
                write!(f, "the library is built for {found}, and this host runs on {host}")
            }
            Self::AmbiguousEntry(names) => {
                write!(
                    f,
                    "the library exports {} entry functions ({}); a plugin library has one",
                    names.len(),
                    names.join(", ")
                )
            }
            Self::BadEntryTable(detail) => write!(f, "bad native entry table: {detail}"),
            #[cfg(feature = "components")]
            Self::UnsupportedWorld { item, found, host } => write!(
                f,
                "component targets `{item}` ({}@{found}), host speaks {}@{host}",
                crate::WORLD_PACKAGE,
                crate::WORLD_PACKAGE
            ),
            #[cfg(feature = "components")]
            Self::ForbiddenComponentImport(name) => write!(
                f,
                "import `{name}` is not part of the `{}@{}` world",
                crate::WORLD_PACKAGE,
                crate::WORLD_VERSION
            ),
        }
    }
}

/// Everything that can go wrong loading or running a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plugin file could not be read.
    #[error("cannot read plugin file `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a module this host can run.
    #[error("plugin `{plugin}` is not a WebAssembly module: {detail}")]
    NotWasm {
        /// The plugin's file or name.
        plugin: String,
        /// What the file looks like instead.
        detail: String,
    },
    /// The file is not a native library this host can load.
    #[error("plugin `{plugin}` is not a native library for this host: {detail}")]
    NotNative {
        /// The plugin's file or name.
        plugin: String,
        /// What the file is instead, or why the system refused it.
        detail: String,
    },
    /// A plugin file is not a regular file: a FIFO, a device, a socket or
    /// a directory, which could block or never end a read.
    #[error("plugin file `{}` is {found}, not a regular file", path.display())]
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a FIFO (named pipe)`).
        found: &'static str,
    },
    /// A plugin file is over its size limit; found before it was read (or
    /// when it grew past the limit while being read).
    #[error("plugin file `{}` is {size} bytes, over the limit `{limit_name}` of {limit} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least `limit + 1` when it grew while being read).
        size: u64,
        /// The limit.
        limit: u64,
        /// The limit's name (`max_module_size`).
        limit_name: &'static str,
    },
    /// Reading, validating and compiling a plugin took longer than
    /// [`Limits::load_timeout`](crate::Limits::load_timeout).
    #[error(
        "plugin `{plugin}` took longer than {limit:?} (the limit `load_timeout`) to read, validate and compile; \
         it was not loaded"
    )]
    LoadTimedOut {
        /// The plugin.
        plugin: String,
        /// The limit.
        limit: Duration,
    },
    /// The module is over the size limit.
    #[error("plugin `{plugin}` is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The plugin's file or name.
        plugin: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A valid module that asks for more than a limit allows (a memory
    /// that starts larger than `max_memory`): refused before it compiles.
    #[error("plugin `{plugin}` is refused by the limit `{limit_name}`: {detail}")]
    OverLimit {
        /// The plugin's file or name.
        plugin: String,
        /// The limit's name (`max_memory`).
        limit_name: &'static str,
        /// What the module asks for, and what the limit allows.
        detail: String,
    },
    /// The bytes are not valid WebAssembly.
    #[error("plugin `{plugin}` is not valid WebAssembly: {detail}")]
    Malformed {
        /// The plugin's file or name.
        plugin: String,
        /// The validator's message.
        detail: String,
    },
    /// The module breaks the wasp ABI; every problem found is listed.
    #[error("plugin `{plugin}` does not follow the wasp ABI: {}", join(problems))]
    Invalid {
        /// The plugin's file or name.
        plugin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The guest trapped (including a Rust panic in the guest).
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The trap, and the panic message if the guest reported one.
        message: String,
        /// The wasm backtrace, when available.
        backtrace: Option<String>,
    },
    /// The plugin spent its CPU budget for one message.
    #[error("plugin `{plugin}` exceeded its CPU budget of {budget:?} for one message")]
    DeadlineExceeded {
        /// The plugin.
        plugin: String,
        /// The budget it spent.
        budget: Duration,
    },
    /// A native plugin's call ran past its CPU budget. Native code cannot be
    /// preempted: the watchdog answered the caller and retired the
    /// instance, whose thread runs on until the call returns.
    #[error(
        "native plugin `{plugin}` overran its budget of {budget:?} for one message ({elapsed:?} elapsed); \
         native code cannot be preempted, so its thread runs on until the call returns"
    )]
    Overrun {
        /// The plugin.
        plugin: String,
        /// Its budget.
        budget: Duration,
        /// How long the call had run when the watchdog gave up.
        elapsed: Duration,
    },
    /// The host quarantined the plugin while it ran (too many violations).
    #[error("plugin `{plugin}` was quarantined and stopped")]
    Quarantined {
        /// The plugin.
        plugin: String,
    },
    /// The guest broke the ABI at run time (bad pointer, bad status).
    #[error("plugin `{plugin}` broke the ABI: {detail}")]
    GuestFault {
        /// The plugin.
        plugin: String,
        /// What it did.
        detail: String,
    },
    /// The host could not hand a message to the plugin: its memory had no
    /// room for it (a component's `cabi_realloc` trapped making room).
    /// Not the plugin's fault, but its instance must be replaced.
    #[error("plugin `{plugin}` could not make room for {detail}")]
    NoRoom {
        /// The plugin.
        plugin: String,
        /// The message's size, and what failed.
        detail: String,
    },
    /// The plugin's `on_load` failed.
    #[error("plugin `{plugin}` failed to load: {error}")]
    LoadFailed {
        /// The plugin.
        plugin: String,
        /// What `on_load` answered.
        error: WireError,
    },
    /// The plugin refused to hand over its state for a reload (its
    /// `on_unload` returned an error): the old code keeps running.
    #[error("plugin `{plugin}` refused to hand over its state: {error}")]
    UnloadFailed {
        /// The plugin.
        plugin: String,
        /// What `on_unload` answered.
        error: WireError,
    },
    /// A shared library module is not one this host can use: not a core
    /// WebAssembly module, no or a malformed `wasp:library` section, an
    /// import, a missing or wrong export (`docs/libraries.md`).
    #[error("library `{library}` is not a valid wasp library: {detail}")]
    InvalidLibrary {
        /// The library's `name@version`, or its file until that is known.
        library: String,
        /// Everything found wrong.
        detail: String,
    },
    /// A plugin `uses` a library this host does not have.
    #[error("plugin `{plugin}` uses the library `{wanted}`, which this host does not have (it has: {offered})")]
    MissingLibrary {
        /// The plugin.
        plugin: String,
        /// Its requirement, such as `json@1`.
        wanted: String,
        /// The names of the libraries the host has, or `none`.
        offered: String,
    },
    /// A plugin `uses` a library in versions the host does not have.
    #[error("plugin `{plugin}` uses the library `{wanted}`, but this host has only version {offered} of it")]
    IncompatibleLibrary {
        /// The plugin.
        plugin: String,
        /// Its requirement, such as `json@2`.
        wanted: String,
        /// The versions the host has, such as `1.0.0, 1.2.0`.
        offered: String,
    },
    /// A plugin running in another process (a `wasp-node`) faulted there,
    /// or that process ended.
    #[error("plugin `{plugin}` (in its own process): {message}")]
    Remote {
        /// The plugin.
        plugin: String,
        /// The fault's stable code.
        code: ErrorCode,
        /// What happened.
        message: String,
    },
    /// What was asked for needs a subsystem this host was built without:
    /// a Cargo feature of `wasp-runtime` or `wasp-actors` that is off
    /// (see the crate docs, "Cargo features").
    #[error("{what}: this host was built without the `{feature}` feature")]
    FeatureDisabled {
        /// What needed the feature, such as "plugin `fs` is a native library".
        what: String,
        /// The Cargo feature, such as `native`.
        feature: &'static str,
    },
    /// A fault in wasp or wasmtime.
    #[error("internal error: {0}")]
    Internal(String),
}

fn join(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl Error {
    /// The stable wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Io { .. } => ErrorCode::NotFound,
            Self::NotWasm { .. } | Self::NotNative { .. } | Self::Malformed { .. } => ErrorCode::InvalidArgument,
            Self::TooLarge { .. } | Self::FileTooLarge { .. } | Self::OverLimit { .. } => ErrorCode::TooLarge,
            Self::NotRegularFile { .. } => ErrorCode::InvalidArgument,
            Self::LoadTimedOut { .. } => ErrorCode::Timeout,
            Self::Invalid { problems, .. } => {
                let unsupported = |p: &Problem| match p {
                    Problem::UnsupportedAbi { .. } => true,
                    #[cfg(feature = "components")]
                    Problem::UnsupportedWorld { .. } => true,
                    _ => false,
                };
                if problems.iter().any(unsupported) { ErrorCode::VersionMismatch } else { ErrorCode::InvalidArgument }
            }
            Self::Trap { .. } | Self::GuestFault { .. } => ErrorCode::PluginCrashed,
            Self::NoRoom { .. } => ErrorCode::TooLarge,
            Self::DeadlineExceeded { .. } | Self::Overrun { .. } => ErrorCode::DeadlineExceeded,
            Self::Quarantined { .. } => ErrorCode::Unavailable,
            Self::LoadFailed { error, .. } | Self::UnloadFailed { error, .. } => error.code,
            Self::InvalidLibrary { .. } => ErrorCode::InvalidArgument,
            Self::MissingLibrary { .. } => ErrorCode::NotFound,
            Self::IncompatibleLibrary { .. } => ErrorCode::VersionMismatch,
            Self::FeatureDisabled { .. } => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Remote { code, .. } => *code,
        }
    }

    /// The error as a structured wire error (code, message, context).
    pub fn to_wire(&self) -> WireError {
        let err = WireError::new(self.code(), self.to_string());
        match self {
            Self::Trap { backtrace: Some(bt), .. } => err.with_context(bt.clone()),
            _ => err,
        }
    }
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        e.to_wire()
    }
}
