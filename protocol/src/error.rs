//! The structured error every failed request is answered with.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stable error code. The numbers are part of the wire ABI and never change
/// meaning; new codes may be added in minor ABI versions.
///
/// Codes from 1 to 999 are reserved for wasp. A plugin that answers with a
/// number wasp does not know is reported as [`ErrorCode::Plugin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u16)]
pub enum ErrorCode {
    /// A fault inside wasp itself.
    Internal = 1,
    /// No plugin, topic handler or pending request has that address.
    NotFound = 2,
    /// The sender lacks the permission the operation needs.
    PermissionDenied = 3,
    /// The target's mailbox is full; try again later.
    Busy = 4,
    /// The caller's own timeout ran out before a reply came.
    Timeout = 5,
    /// The plugin spent its CPU budget for this message and was stopped.
    DeadlineExceeded = 6,
    /// The plugin trapped or panicked while the request was in flight.
    PluginCrashed = 7,
    /// A message could not be decoded or is malformed.
    InvalidMessage = 8,
    /// The plugin and the host speak different ABI versions.
    VersionMismatch = 9,
    /// Waiting for this reply would deadlock (a request cycle).
    WouldDeadlock = 10,
    /// The plugin finished handling a request without replying to it.
    NoReply = 11,
    /// The plugin exists but cannot take messages now (stopped, quarantined).
    Unavailable = 12,
    /// An argument is out of range or malformed.
    InvalidArgument = 13,
    /// A message is larger than the configured limit.
    TooLarge = 14,
    /// The caller cancelled the request before it was answered (ABI 1.3).
    Cancelled = 15,
    /// An error the plugin itself reported.
    Plugin = 1000,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 16] = [
        Self::Internal,
        Self::NotFound,
        Self::PermissionDenied,
        Self::Busy,
        Self::Timeout,
        Self::DeadlineExceeded,
        Self::PluginCrashed,
        Self::InvalidMessage,
        Self::VersionMismatch,
        Self::WouldDeadlock,
        Self::NoReply,
        Self::Unavailable,
        Self::InvalidArgument,
        Self::TooLarge,
        Self::Cancelled,
        Self::Plugin,
    ];

    /// The code's number on the wire.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The code for a number; unknown numbers are [`ErrorCode::Plugin`].
    pub fn from_u16(n: u16) -> Self {
        Self::ALL.iter().copied().find(|c| c.as_u16() == n).unwrap_or(Self::Plugin)
    }

    /// A short, stable, snake_case name (`permission_denied`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::NotFound => "not_found",
            Self::PermissionDenied => "permission_denied",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::PluginCrashed => "plugin_crashed",
            Self::InvalidMessage => "invalid_message",
            Self::VersionMismatch => "version_mismatch",
            Self::WouldDeadlock => "would_deadlock",
            Self::NoReply => "no_reply",
            Self::Unavailable => "unavailable",
            Self::InvalidArgument => "invalid_argument",
            Self::TooLarge => "too_large",
            Self::Cancelled => "cancelled",
            Self::Plugin => "plugin",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u16::deserialize(d).map(Self::from_u16)
    }
}

/// A structured error: a stable [`ErrorCode`], a human-readable message, and
/// optional context (a wasm backtrace, the name of a missing permission...).
///
/// On the wire it is a MessagePack map `{"code": u16, "message": str,
/// "context": str | nil}`.
///
/// ```
/// use wasp_protocol::{ErrorCode, WireError};
/// let err = WireError::new(ErrorCode::NotFound, "no plugin `ghost`");
/// assert_eq!(err.to_string(), "not_found: no plugin `ghost`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// What failed, and with which value.
    pub message: String,
    /// More detail, such as a backtrace.
    #[serde(default)]
    pub context: Option<String>,
}

impl WireError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), context: None }
    }

    /// An error a plugin reports about its own domain ([`ErrorCode::Plugin`]).
    pub fn plugin(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Plugin, message)
    }

    /// Adds context (a backtrace, a permission name...).
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for WireError {}

impl From<crate::CodecError> for WireError {
    fn from(e: crate::CodecError) -> Self {
        let code = match e {
            crate::CodecError::TooLarge { .. } => ErrorCode::TooLarge,
            _ => ErrorCode::InvalidMessage,
        };
        Self::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_numbers() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u16(code.as_u16()), code);
        }
        assert_eq!(ErrorCode::from_u16(4242), ErrorCode::Plugin);
        assert_eq!(ErrorCode::from_u16(0), ErrorCode::Plugin);
    }
}
