//! Where a message goes: the host, or a plugin by name.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The reserved address of the host application.
pub const HOST: &str = "host";

/// The longest plugin name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The longest topic, in bytes.
pub const MAX_TOPIC_LEN: usize = 256;

/// The sender or receiver of a message.
///
/// On the wire an address is a string: `"host"`, or a plugin's name. Plugin
/// names are 1 to 64 bytes of lower-case ASCII letters, digits, `-`, `_` and
/// `.`, never `host`, and made of `.`-separated segments that each start with
/// a letter or a digit: `sysinfo.os` is a name, `.`, `..`, `a..b`, `.a`,
/// `a.` and `-a` are not. A name is also the plugin's folder under the host's
/// data directory, so it can never be one that a file system reads as a
/// path step (`.`, `..`) or strips (a trailing `.` on Windows), and no
/// segment is a name Windows keeps for a device (`con`, `prn`, `aux`, `nul`,
/// `com0`–`com9`, `lpt0`–`lpt9`): on every platform, so that a plugin that
/// loads on one loads on all.
///
/// ```
/// use wasp_protocol::Address;
/// assert_eq!(Address::parse("host")?, Address::Host);
/// assert_eq!(Address::parse("echo")?.to_string(), "echo");
/// assert!(Address::parse("Bad Name").is_err());
/// # Ok::<(), wasp_protocol::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    /// The host application (Tauri commands, host Rust code).
    Host,
    /// A plugin, by its unique name.
    Plugin(String),
}

impl Address {
    /// Parses `"host"` or a valid plugin name.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        if s == HOST {
            return Ok(Self::Host);
        }
        Self::plugin(s)
    }

    /// A plugin address; refuses invalid names and `host`.
    pub fn plugin(name: &str) -> Result<Self, AddressError> {
        validate_name(name)?;
        Ok(Self::Plugin(name.to_owned()))
    }

    /// The address as its wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Host => HOST,
            Self::Plugin(name) => name,
        }
    }
}

/// Checks a plugin name against the rules of [`Address`]: the one rule
/// every way of naming a plugin goes through (manifests, every load path of
/// the host, the wire).
pub(crate) fn validate_name(name: &str) -> Result<(), AddressError> {
    if name == HOST {
        return Err(AddressError::Reserved);
    }
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(AddressError::Length(name.len()));
    }
    if let Some(c) =
        name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(AddressError::Character(c));
    }
    if name.split('.').any(|segment| !segment.starts_with(|c: char| c.is_ascii_alphanumeric())) {
        return Err(AddressError::Segment);
    }
    if let Some(device) = name.split('.').find(|segment| is_windows_device(segment)) {
        return Err(AddressError::Device(device.to_owned()));
    }
    Ok(())
}

/// Whether `segment` is a name Windows opens as a device whatever the
/// folder (`nul`, `com1`, …), also with an extension (`nul.txt`).
fn is_windows_device(segment: &str) -> bool {
    match segment.as_bytes() {
        b"con" | b"prn" | b"aux" | b"nul" => true,
        [b'c', b'o', b'm', d] | [b'l', b'p', b't', d] => d.is_ascii_digit(),
        _ => false,
    }
}

/// Checks a topic: 1 to [`MAX_TOPIC_LEN`] bytes, no control characters.
///
/// A topic is free text such as `sensor.temperature`; a subscription pattern
/// may end in `*` to match every topic with that prefix.
pub fn validate_topic(topic: &str) -> Result<(), AddressError> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(AddressError::TopicLength(topic.len()));
    }
    if let Some(c) = topic.chars().find(|c| c.is_control()) {
        return Err(AddressError::Character(c));
    }
    Ok(())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a name or topic is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// `host` is reserved for the host application.
    Reserved,
    /// A plugin name must be 1 to 64 bytes.
    Length(usize),
    /// A topic must be 1 to 256 bytes.
    TopicLength(usize),
    /// A character that is not allowed.
    Character(char),
    /// A `.`-separated segment of a plugin name is empty or does not start
    /// with a letter or a digit (`.`, `..`, `a..b`, `.a`, `a.`, `-a`).
    Segment,
    /// A `.`-separated segment of a plugin name is a Windows device name
    /// (`con`, `nul`, `com1`, …), which cannot name a folder there.
    Device(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reserved => write!(f, "`{HOST}` is reserved for the host and cannot name a plugin"),
            Self::Length(n) => write!(f, "a plugin name must be 1 to {MAX_NAME_LEN} bytes, got {n}"),
            Self::TopicLength(n) => write!(f, "a topic must be 1 to {MAX_TOPIC_LEN} bytes, got {n}"),
            Self::Character(c) => write!(f, "character {c:?} is not allowed"),
            Self::Segment => f.write_str(
                "each `.`-separated part of a plugin name must be non-empty and start with a letter or a digit",
            ),
            Self::Device(d) => write!(
                f,
                "`{d}` is a device name on Windows and cannot be part of a plugin name (its data folder could not exist there)"
            ),
        }
    }
}

impl std::error::Error for AddressError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert!(Address::plugin("echo-2.v1_x").is_ok());
        assert_eq!(Address::plugin("host"), Err(AddressError::Reserved));
        assert_eq!(Address::plugin(""), Err(AddressError::Length(0)));
        assert_eq!(Address::plugin("Echo"), Err(AddressError::Character('E')));
        assert!(Address::plugin(&"a".repeat(65)).is_err());
    }

    #[test]
    fn a_name_is_dot_separated_segments_each_starting_with_a_letter_or_digit() {
        for good in ["a", "7", "sysinfo.os", "com.acme.vault", "a-b_c.d9", "x.1-y_"] {
            assert_eq!(Address::plugin(good).map(|a| a.to_string()), Ok(good.to_owned()), "{good}");
        }
        for bad in [".", "..", "...", "a..b", ".a", "a.", "-a", "_a", "a.-b", "a._b", "./a", "a/..", ".hidden"] {
            let err = Address::plugin(bad).expect_err(bad);
            assert!(matches!(err, AddressError::Segment | AddressError::Character('/')), "{bad}: {err:?}");
        }
        assert_eq!(Address::parse(".."), Err(AddressError::Segment));
        assert!(
            Address::plugin("a.").expect_err("trailing dot").to_string().contains("start with a letter or a digit")
        );
    }

    #[test]
    fn topics_refuse_control_characters_and_length() {
        assert!(validate_topic("sensor.temp/x y").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a\nb").is_err());
        assert!(validate_topic(&"t".repeat(257)).is_err());
    }

    #[test]
    fn no_part_of_a_name_is_a_windows_device() {
        for bad in ["con", "nul", "aux", "prn", "com1", "lpt9", "com0", "nul.x", "fam.con", "a.lpt3.b"] {
            assert!(matches!(Address::plugin(bad), Err(AddressError::Device(_))), "{bad}");
        }
        for good in ["cons", "console", "com", "com10", "lpt", "nulls", "a.conx", "icon", "aux-tool", "com1x"] {
            assert!(Address::plugin(good).is_ok(), "{good}");
        }
    }
}
