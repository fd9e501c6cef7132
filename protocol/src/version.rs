//! The ABI version and its negotiation rule.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// A `major.minor` ABI version.
///
/// The rule (see [`ApiVersion::accepts`]): a host speaking `M.m` runs a
/// plugin built for `M.n` when `n <= m`. Minor versions only add optional
/// imports and exports; a new major version may change anything.
///
/// ```
/// use wasp_protocol::ApiVersion;
/// let host = ApiVersion::CURRENT;
/// assert!(host.accepts(ApiVersion::new(host.major, 0)).is_ok());
/// assert!(host.accepts(ApiVersion::new(host.major + 1, 0)).is_err());
/// assert_eq!("1.0".parse::<ApiVersion>()?, ApiVersion::new(1, 0));
/// # Ok::<(), wasp_protocol::VersionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ApiVersion {
    /// Incompatible changes bump the major version.
    pub major: u16,
    /// Additive changes bump the minor version.
    pub minor: u16,
}

impl ApiVersion {
    /// The ABI version this build of wasp speaks.
    pub const CURRENT: ApiVersion = ApiVersion::new(1, 3);

    /// A version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// Whether a host speaking `self` can run a plugin built for `plugin`.
    pub fn accepts(self, plugin: ApiVersion) -> Result<(), VersionError> {
        if plugin.major != self.major || plugin.minor > self.minor {
            return Err(VersionError::Unsupported { plugin, host: self });
        }
        Ok(())
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || VersionError::Malformed(s.chars().take(32).collect());
        // Exactly `digits.digits`: no sign, no spaces, no trailing text.
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed());
            }
            part.parse::<u16>().map_err(|_| malformed())
        };
        let (major, minor) = s.split_once('.').ok_or_else(malformed)?;
        Ok(Self { major: number(major)?, minor: number(minor)? })
    }
}

/// A version that could not be parsed or is not spoken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionError {
    /// The text is not `MAJOR.MINOR`.
    Malformed(String),
    /// The host does not speak the plugin's version.
    Unsupported {
        /// What the plugin was built for.
        plugin: ApiVersion,
        /// What the host speaks.
        host: ApiVersion,
    },
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(s) => write!(f, "`{s}` is not an ABI version of the form MAJOR.MINOR"),
            Self::Unsupported { plugin, host } => write!(
                f,
                "plugin requires ABI {}.{} or later {}.x, host speaks {host}",
                plugin.major, plugin.minor, plugin.major
            ),
        }
    }
}

impl std::error::Error for VersionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_minor_and_other_major_are_refused() {
        let host = ApiVersion::new(1, 3);
        assert!(host.accepts(ApiVersion::new(1, 0)).is_ok());
        assert!(host.accepts(ApiVersion::new(1, 3)).is_ok());
        assert!(host.accepts(ApiVersion::new(1, 4)).is_err());
        let err = host.accepts(ApiVersion::new(2, 0)).unwrap_err();
        assert!(err.to_string().contains("host speaks 1.3"), "{err}");
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!("1".parse::<ApiVersion>().is_err());
        assert!("a.b".parse::<ApiVersion>().is_err());
        assert!("1.2.3".parse::<ApiVersion>().is_err());
        assert!(" 2.7".parse::<ApiVersion>().is_err());
        assert!("1.0\n".parse::<ApiVersion>().is_err());
        assert!("+1.0".parse::<ApiVersion>().is_err());
        assert_eq!("2.7".parse::<ApiVersion>().unwrap(), ApiVersion::new(2, 7));
    }
}
