//! The plugin's error type: what a command rejects with.

use std::path::PathBuf;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use wasp_protocol::WireError;

/// What a wasp command can fail with. The frontend receives it as
/// `{ code, message }` (plus `context` when there is more detail: the
/// permission a plugin lacks, a plugin's backtrace): `code` is one of wasp's stable wire codes
/// (`permission_denied`, `not_found`, `timeout`, `deadline_exceeded`,
/// `too_large`, …) or one of this plugin's own (`not_loaded`,
/// `already_loaded`, `invalid_payload`, `outside_plugin_dirs`,
/// `unsupported`, `internal`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message failed: the answer of a plugin, or of the broker.
    #[error("{}", .0.message)]
    Wire(#[from] WireError),
    /// Managing a plugin failed.
    #[error(transparent)]
    Host(#[from] wasp_actors::Error),
    /// A payload or argument the frontend sent could not be used.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// `load` was given a path outside the app's plugin directories.
    #[error("`{}` is outside the app's plugin directories", .0.display())]
    OutsidePluginDirs(PathBuf),
    /// No such pending permission question or subscription.
    #[error("{0}")]
    NotFound(String),
    /// Tauri failed (emitting an event, resolving a path).
    #[error(transparent)]
    Tauri(#[from] tauri::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The stable code the frontend sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Wire(e) => e.code.name(),
            Self::Host(wasp_actors::Error::NotLoaded(_)) => "not_loaded",
            Self::Host(wasp_actors::Error::AlreadyLoaded(_)) => "already_loaded",
            Self::Host(wasp_actors::Error::Unsupported(_)) => "unsupported",
            Self::Host(e) => e.code().name(),
            Self::InvalidPayload(_) => "invalid_payload",
            Self::OutsidePluginDirs(_) => "outside_plugin_dirs",
            Self::NotFound(_) => "not_found",
            Self::Tauri(_) => "internal",
        }
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let context = match self {
            Self::Wire(e) => e.context.as_deref(),
            Self::Host(wasp_actors::Error::Wire(w)) => w.context.as_deref(),
            _ => None,
        };
        let mut s = serializer.serialize_struct("Error", 3)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        // More detail when there is some: the missing permission, a backtrace.
        if let Some(context) = context {
            s.serialize_field("context", context)?;
        } else {
            s.skip_field("context")?;
        }
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_protocol::ErrorCode;

    #[test]
    fn errors_serialize_as_code_and_message() {
        let denied = Error::Wire(WireError::new(ErrorCode::PermissionDenied, "plugin `x` lacks `storage`"));
        assert_eq!(
            serde_json::to_value(&denied).unwrap(),
            serde_json::json!({"code": "permission_denied", "message": "plugin `x` lacks `storage`"})
        );
        let detailed = Error::Wire(WireError::new(ErrorCode::PermissionDenied, "lacks").with_context("storage"));
        assert_eq!(serde_json::to_value(&detailed).unwrap()["context"], "storage");
        let missing = Error::Host(wasp_actors::Error::NotLoaded("ghost".into()));
        assert_eq!(serde_json::to_value(&missing).unwrap()["code"], "not_loaded");
        let outside = Error::OutsidePluginDirs("/etc/passwd".into());
        assert_eq!(serde_json::to_value(&outside).unwrap()["code"], "outside_plugin_dirs");
    }
}
