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
        }
    }

    /// The error as code + message (+ context).
    pub fn to_wire(&self) -> WireError {
        match self {
            Self::Runtime(e) => e.to_wire(),
            other => WireError::new(other.code(), other.to_string()),
        }
    }
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        e.to_wire()
    }
}
