//! A plugin's identity: who it is beyond its name, so that what was decided
//! about one plugin is never handed to another that takes its name.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signature::PublisherKey;

/// Who a plugin is: the BLAKE3 hash of its code and, when its bundle is
/// signed by a publisher key the host trusts, that key.
///
/// Remembered permission decisions belong to an identity's
/// [`key`](Identity::key): the publisher key when there is one (so a
/// publisher's new release keeps them), the code hash otherwise (so any
/// other change of code is asked about again).
///
/// ```
/// use wasp_runtime::Identity;
/// let one = Identity::of_code(b"\0asm\x01\0\0\0");
/// let other = Identity::of_code(b"\0asm\x01\0\0\0\0");
/// assert_ne!(one.key(), other.key());
/// assert!(one.key().starts_with("blake3:"));
/// assert_eq!(Identity::of_code(b"\0asm\x01\0\0\0"), one);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// `blake3:` and the 64 hex digits of the code's hash: of the module
    /// or library file, of a hybrid's files together, or `in-process` for
    /// a plugin compiled into the application.
    pub code: String,
    /// `ed25519:` and the 64 hex digits of the trusted publisher key that
    /// signed the bundle, if one did.
    pub publisher: Option<String>,
}

impl Identity {
    /// The identity of one file of code (a module, a component or a
    /// library), unsigned: BLAKE3 of its bytes, the hash the module cache
    /// names a module by.
    pub fn of_code(bytes: &[u8]) -> Self {
        Self { code: format!("blake3:{}", blake3::hash(bytes).to_hex()), publisher: None }
    }

    /// The identity of a hybrid plugin's components, unsigned: BLAKE3 over
    /// each component's name and code identity, in the order given.
    pub fn of_parts<'a>(parts: impl IntoIterator<Item = (&'a str, &'a Identity)>) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key("wasp hybrid identity v1");
        for (name, part) in parts {
            for text in [name, part.code.as_str()] {
                hasher.update(&(text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
        Self { code: format!("blake3:{}", hasher.finalize().to_hex()), publisher: None }
    }

    /// A plugin compiled into the application: its code is the app's own.
    pub fn in_process() -> Self {
        Self { code: "in-process".to_owned(), publisher: None }
    }

    /// This identity, known by the publisher key that signed it.
    pub fn signed_by(mut self, publisher: PublisherKey) -> Self {
        self.publisher = Some(publisher.to_string());
        self
    }

    /// What remembered decisions are filed under: the publisher key when
    /// there is one, else the code hash.
    pub fn key(&self) -> &str {
        self.publisher.as_deref().unwrap_or(&self.code)
    }
}

impl fmt::Display for Identity {
    /// `blake3:1f2e3d4c5b6a7988` (the first 16 digits), then `, signed by
    /// ed25519:…` when signed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Self::abbreviate(&self.code))?;
        if let Some(publisher) = &self.publisher {
            write!(f, ", signed by {}", Self::abbreviate(publisher))?;
        }
        Ok(())
    }
}

impl Identity {
    /// An identity key cut to its scheme and 16 hex digits, for people:
    /// `blake3:1f2e3d4c5b6a7988`.
    pub fn abbreviate(key: &str) -> &str {
        match key.find(':') {
            Some(colon) => key.get(..key.len().min(colon + 17)).unwrap_or(key),
            None => key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::PublisherSecret;

    #[test]
    fn a_publisher_key_is_the_key_of_a_signed_identity() {
        let publisher = PublisherSecret::from_bytes([9; 32]).public_key();
        let signed = Identity::of_code(b"a").signed_by(publisher);
        assert_eq!(signed.key(), publisher.to_string());
        assert_eq!(Identity::of_code(b"b").signed_by(publisher).key(), signed.key());
        assert!(signed.to_string().contains(", signed by ed25519:"), "{signed}");
    }

    #[test]
    fn a_hybrid_identity_depends_on_every_part_and_its_name() {
        let (a, b) = (Identity::of_code(b"a"), Identity::of_code(b"b"));
        let both = Identity::of_parts([("logic", &a), ("os", &b)]);
        assert_ne!(both, Identity::of_parts([("logic", &a), ("os", &a)]));
        assert_ne!(both, Identity::of_parts([("os", &a), ("logic", &b)]));
        assert_eq!(both, Identity::of_parts([("logic", &a), ("os", &b)]));
    }

    #[test]
    fn abbreviate_keeps_the_scheme_and_16_digits() {
        assert_eq!(Identity::abbreviate("blake3:0123456789abcdef0123"), "blake3:0123456789abcdef");
        assert_eq!(Identity::abbreviate("in-process"), "in-process");
    }
}
