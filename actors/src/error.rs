//! The actors crate's error type.

use wasp_protocol::{ErrorCode, WireError};

/// What can go wrong managing plugins through a [`Host`](crate::Host).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading, validating or starting a plugin failed.
    #[error(transparent)]
    Runtime(#[from] wasp_runtime::Error),
    /// A plugin name is malformed.
    #[error("invalid plugin name `{name}`: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// A plugin with that name is already loaded.
    #[error("a plugin named `{0}` is already loaded")]
    AlreadyLoaded(String),
    /// No plugin with that name is loaded.
    #[error("no plugin named `{0}` is loaded")]
    NotLoaded(String),
    /// The host was built outside a suitable tokio runtime.
    #[error("{0}")]
    Environment(String),
    /// A fault in the actor system.
    #[error("actor system error: {0}")]
    Actor(String),
    /// A plugin manifest could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] wasp_runtime::manifest::ManifestError),
    /// A permission string is malformed.
    #[error(transparent)]
    Permission(#[from] wasp_protocol::PermissionError),
    /// The host's database could not be opened.
    #[error("{0}")]
    Storage(String),
    /// A host service failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The plugin is not quarantined.
    #[error("plugin `{0}` is not quarantined")]
    NotQuarantined(String),
    /// This host cannot load that kind of plugin.
    #[error("{0}")]
    Unsupported(String),
    /// A plugin's publisher signature was refused: it does not match the
    /// bundle, or the policy requires a trusted signature it lacks (or a
    /// publisher key given to the policy is malformed).
    #[error("plugin `{plugin}`: {detail}")]
    Signature {
        /// The plugin (empty for a malformed key given to the policy).
        plugin: String,
        /// `permission_denied`, or `invalid_argument` for a malformed key.
        code: ErrorCode,
        /// What is wrong.
        detail: String,
    },
    /// A plugin loaded under a known name with another identity, and the
    /// policy refuses such changes ([`IdentityChange::Refuse`](crate::IdentityChange::Refuse)).
    #[error(
        "plugin `{plugin}` changed: it was {previous} and is now {current}; this host refuses changed plugins \
         until what it remembers about them is forgotten"
    )]
    IdentityChanged {
        /// The plugin.
        plugin: String,
        /// The identity key it had.
        previous: String,
        /// The identity key it has now.
        current: String,
    },
}

impl Error {
    /// The stable wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Runtime(e) => e.code(),
            Self::InvalidName { .. } => ErrorCode::InvalidArgument,
            Self::AlreadyLoaded(_) => ErrorCode::InvalidArgument,
            Self::NotLoaded(_) => ErrorCode::NotFound,
            Self::Environment(_) | Self::Actor(_) => ErrorCode::Internal,
            Self::Manifest(_) | Self::Permission(_) | Self::Unsupported(_) => ErrorCode::InvalidArgument,
            Self::Storage(_) => ErrorCode::Unavailable,
            Self::Wire(e) => e.code,
            Self::NotQuarantined(_) => ErrorCode::InvalidArgument,
            Self::Signature { code, .. } => *code,
            Self::IdentityChanged { .. } => ErrorCode::PermissionDenied,
        }
    }

    /// The error as code + message (+ context).
    pub fn to_wire(&self) -> WireError {
        match self {
            Self::Runtime(e) => e.to_wire(),
            Self::Wire(e) => e.clone(),
            other => WireError::new(other.code(), other.to_string()),
        }
    }
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        e.to_wire()
    }
}
