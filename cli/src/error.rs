//! The error of the plugin commands (`validate`, `inspect`, `run`, `bench`),
//! and the exit status each one means.

use std::path::PathBuf;

use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::manifest::ManifestError;

/// Why a plugin command failed.
///
/// [`exit_code`](CommandError::exit_code) sorts them: 1 when the plugin
/// failed (refused at load, or answered an error), 2 when wasp could not do
/// what was asked (a path that cannot be read, a malformed argument, a fault
/// of the host itself). [`code`](CommandError::code) is the wire's error
/// code, when there is one.
///
/// ```
/// use wasp_cli::error::CommandError;
/// use wasp_protocol::{ErrorCode, WireError};
///
/// let denied = CommandError::Request(WireError::new(ErrorCode::PermissionDenied, "no `clock`"));
/// assert_eq!(denied.exit_code(), 1);
/// assert_eq!(denied.code(), Some(ErrorCode::PermissionDenied));
/// assert_eq!(CommandError::Usage("bad JSON".into()).exit_code(), 2);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A path named on the command line cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A folder without a `plugin.toml`.
    #[error(
        "`{}` holds no plugin.toml; name a plugin folder, a plugin.toml, a .wasm file or a native library",
        .0.display()
    )]
    NoManifest(PathBuf),
    /// The plugin's manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The plugin was refused, or wasp's runtime failed.
    #[error(transparent)]
    Runtime(#[from] wasp_runtime::Error),
    /// The one-shot host refused the plugin, or failed.
    #[error(transparent)]
    Host(#[from] wasp_actors::Error),
    /// A malformed argument (a payload that is not JSON, for instance).
    #[error("{0}")]
    Usage(String),
    /// The plugin answered the request with an error.
    #[error("{}{}", .0.message, .0.context.as_deref().map(|c| format!("\n{c}")).unwrap_or_default())]
    Request(WireError),
    /// The plugin's reply is not MessagePack.
    #[error("the reply is not valid MessagePack: {0}")]
    Reply(String),
}

impl CommandError {
    /// The wire's error code, for errors that have one: a request's error,
    /// or why a plugin was refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Request(e) => Some(e.code),
            Self::Runtime(e) => Some(e.code()),
            Self::Host(e) => Some(e.code()),
            Self::Manifest(_) => Some(ErrorCode::InvalidArgument),
            Self::Io { .. } | Self::NoManifest(_) | Self::Usage(_) | Self::Reply(_) => None,
        }
    }

    /// The process exit status this error means: 1 when the plugin failed
    /// (refused, or answered an error), 2 when the command could not run.
    pub fn exit_code(&self) -> u8 {
        use wasp_actors::Error as Host;
        match self {
            Self::Request(_) | Self::Reply(_) | Self::Manifest(_) => 1,
            Self::Runtime(e) => runtime_exit_code(e),
            Self::Host(Host::Runtime(e)) => runtime_exit_code(e),
            Self::Host(Host::Manifest(_) | Host::InvalidName { .. } | Host::Unsupported(_) | Host::Wire(_)) => 1,
            Self::Host(_) | Self::Io { .. } | Self::NoManifest(_) | Self::Usage(_) => 2,
        }
    }
}

/// 2 for faults of wasp itself and unreadable files, 1 for the plugin's own.
fn runtime_exit_code(e: &wasp_runtime::Error) -> u8 {
    match e {
        wasp_runtime::Error::Internal(_) | wasp_runtime::Error::Io { .. } => 2,
        _ => 1,
    }
}
