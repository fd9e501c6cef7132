//! Publisher signatures on plugin bundles: an ed25519 signature, by a
//! publisher's key, over a digest of the bundle's `plugin.toml` and code
//! (`docs/manifest.md`, "Signatures").
//!
//! A signature says who published a bundle. The host trusts some publisher
//! keys (`Policy::trust_publisher` in `wasp-actors`): a plugin signed by
//! one of them is known by that key, and keeps its remembered permission
//! decisions when its code changes; any other plugin is known by the hash
//! of its code.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::MAX_SIGNATURE_SIZE;
use crate::manifest::{Manifest, ManifestError};

/// The sidecar file that may hold a bundle's signature, beside its
/// `plugin.toml` (instead of a `signature` key in it).
pub const SIGNATURE_FILE: &str = "plugin.sig";

/// The BLAKE3 key-derivation context of a bundle digest: it keeps a bundle
/// signature from ever meaning anything else.
const DIGEST_CONTEXT: &str = "wasp bundle signature v1";

/// A publisher's ed25519 public key, written `ed25519:` and 64 hex digits.
///
/// ```
/// use wasp_runtime::signature::{PublisherKey, PublisherSecret};
/// let secret = PublisherSecret::from_bytes([7; 32]);
/// let key: PublisherKey = secret.public_key().to_string().parse()?;
/// assert_eq!(key, secret.public_key());
/// assert!(key.to_string().starts_with("ed25519:"));
/// assert!("ed25519:1234".parse::<PublisherKey>().is_err());
/// # Ok::<(), wasp_runtime::signature::SignatureError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherKey(VerifyingKey);

impl PublisherKey {
    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Display for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(self.0.to_bytes()))
    }
}

impl fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublisherKey {
    type Err = SignatureError;

    fn from_str(text: &str) -> Result<Self, SignatureError> {
        let malformed =
            || SignatureError::Malformed(format!("`{text}` is not a publisher key: expected ed25519:<64 hex digits>"));
        let digits = text.strip_prefix("ed25519:").ok_or_else(malformed)?;
        let bytes: [u8; 32] = hex::decode(digits).ok().and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        VerifyingKey::from_bytes(&bytes).map(Self).map_err(|_| malformed())
    }
}

/// A publisher's secret key, to sign bundles with ([`sign_bundle`]).
/// Keep it out of the bundle and out of the repository.
pub struct PublisherSecret(SigningKey);

impl PublisherSecret {
    /// A fresh random key, from the operating system's generator.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Malformed`] if the system has no random source.
    pub fn generate() -> Result<Self, SignatureError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SignatureError::Malformed(format!("no random source: {e}")))?;
        Ok(Self::from_bytes(seed))
    }

    /// The key with these 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&bytes))
    }

    /// The 32 secret bytes (to store the key).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key, the one a host trusts.
    pub fn public_key(&self) -> PublisherKey {
        PublisherKey(self.0.verifying_key())
    }
}

impl fmt::Debug for PublisherSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublisherSecret").field(&self.public_key()).finish()
    }
}

/// A bundle's signature: the publisher's key and the ed25519 signature of
/// the [bundle digest](bundle_digest), written
/// `ed25519:<64 hex digits of the key>:<128 hex digits of the signature>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BundleSignature {
    key: PublisherKey,
    signature: Signature,
}

impl BundleSignature {
    /// Who signed.
    pub fn publisher(&self) -> PublisherKey {
        self.key
    }

    /// Checks the signature against the bundle's digest.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Mismatch`] when the bundle is not what was signed.
    pub fn verify(&self, digest: &[u8; 32]) -> Result<(), SignatureError> {
        self.key.0.verify(digest, &self.signature).map_err(|_| SignatureError::Mismatch(Box::new(self.key)))
    }
}

impl fmt::Display for BundleSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key, hex::encode(self.signature.to_bytes()))
    }
}

impl fmt::Debug for BundleSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for BundleSignature {
    type Err = SignatureError;

    fn from_str(text: &str) -> Result<Self, SignatureError> {
        let malformed = || {
            SignatureError::Malformed(format!(
                "not a bundle signature: expected ed25519:<64 hex digits of the key>:<128 hex digits of the signature>, \
                 found {} characters",
                text.len()
            ))
        };
        let (key, signature) = text.rsplit_once(':').ok_or_else(malformed)?;
        let key: PublisherKey = key.parse().map_err(|_| malformed())?;
        let bytes: [u8; 64] = hex::decode(signature).ok().and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        Ok(Self { key, signature: Signature::from_bytes(&bytes) })
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The text is not a key or a signature.
    #[error("{0}")]
    Malformed(String),
    /// The signature does not match the bundle: a file changed since it
    /// was signed, or it was signed with another key.
    #[error("the signature by {0} does not match the bundle: its plugin.toml or code changed since it was signed")]
    Mismatch(Box<PublisherKey>),
    /// The bundle has a `signature` in its manifest and a `plugin.sig` too.
    #[error("the bundle is signed twice, by `signature` in plugin.toml and by plugin.sig; keep one")]
    Twice,
}

/// The digest a bundle's signature covers: BLAKE3 in key-derivation mode
/// with the context `wasp bundle signature v1`, over the length (a
/// little-endian u64) and bytes of the unsigned manifest ([`unsigned_manifest`]),
/// then the length and bytes of each file in order — the entry file, or a
/// hybrid's component files in the order `[[components]]` lists them.
///
/// ```
/// use wasp_runtime::signature::bundle_digest;
/// let a = bundle_digest(b"name = \"x\"\n", &[b"\0asm"]);
/// assert_ne!(a, bundle_digest(b"name = \"x\"\n", &[b"\0asn"]));
/// // Lengths are framed: moving a byte between files changes the digest.
/// assert_ne!(bundle_digest(b"ab", &[b"c"]), bundle_digest(b"a", &[b"bc"]));
/// ```
pub fn bundle_digest(unsigned_manifest: &[u8], files: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    for part in std::iter::once(unsigned_manifest).chain(files.iter().copied()) {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    *hasher.finalize().as_bytes()
}

/// `plugin.toml`'s text as it is signed: without the lines that hold its
/// top-level `signature` key and value (the whole text when it has none).
///
/// ```
/// use wasp_runtime::signature::unsigned_manifest;
/// let signed = "name = \"notes\"\nsignature = \"ed25519:ab:cd\"\nversion = \"0.1.0\"\n";
/// assert_eq!(unsigned_manifest(signed)?, b"name = \"notes\"\nversion = \"0.1.0\"\n");
/// # Ok::<(), wasp_runtime::manifest::ManifestError>(())
/// ```
///
/// # Errors
///
/// A [`ManifestError`] when the text is not TOML.
pub fn unsigned_manifest(text: &str) -> Result<Vec<u8>, ManifestError> {
    crate::manifest::without_signature(text)
}

/// Signs a bundle: the unsigned manifest text and its files in order (see
/// [`bundle_digest`]). Write the result as `signature = "…"` on a line of
/// its own among plugin.toml's top-level keys, or alone in `plugin.sig`.
///
/// ```
/// use wasp_runtime::signature::{PublisherSecret, bundle_digest, sign_bundle};
/// let secret = PublisherSecret::from_bytes([1; 32]);
/// let manifest = b"name = \"notes\"\nversion = \"0.1.0\"\napi = \"1.2\"\nentry = \"notes.wasm\"\n";
/// let signature = sign_bundle(&secret, manifest, &[b"\0asm\x01\0\0\0"]);
/// assert_eq!(signature.publisher(), secret.public_key());
/// signature.verify(&bundle_digest(manifest, &[b"\0asm\x01\0\0\0"]))?;
/// assert!(signature.verify(&bundle_digest(manifest, &[b"\0asm\x01\0\0\x01"])).is_err());
/// # Ok::<(), wasp_runtime::signature::SignatureError>(())
/// ```
pub fn sign_bundle(secret: &PublisherSecret, unsigned_manifest: &[u8], files: &[&[u8]]) -> BundleSignature {
    let digest = bundle_digest(unsigned_manifest, files);
    BundleSignature { key: secret.public_key(), signature: secret.0.sign(&digest) }
}

/// What a bundle's signature covers besides its files, and the signature
/// itself: read with its manifest by [`read_bundle_manifest`].
#[derive(Debug, Clone)]
pub struct Seal {
    /// The manifest text without its `signature` line.
    pub unsigned: Vec<u8>,
    /// The bundle's signature, from the manifest's `signature` key or its
    /// `plugin.sig`, if it has one.
    pub signature: Option<BundleSignature>,
}

impl Seal {
    /// Checks the signature, if any, against the bundle's `files` (its
    /// entry, or its components in order): its publisher when it matches,
    /// `None` for an unsigned bundle.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Mismatch`] when the bundle is not what was signed.
    pub fn verify(&self, files: &[&[u8]]) -> Result<Option<PublisherKey>, SignatureError> {
        let Some(signature) = &self.signature else { return Ok(None) };
        signature.verify(&bundle_digest(&self.unsigned, files))?;
        Ok(Some(signature.publisher()))
    }
}

/// Reads the manifest at `path` (as [`Manifest::from_file`] does: a regular
/// file of at most 64 KiB) with its [`Seal`]: its `signature` key, or the
/// [`SIGNATURE_FILE`] beside it (a regular file of at most
/// [`MAX_SIGNATURE_SIZE`] bytes).
///
/// # Errors
///
/// A [`ManifestError`] naming the file: unreadable, invalid, a malformed
/// signature, or a bundle signed twice.
pub fn read_bundle_manifest(path: &Path) -> Result<(Manifest, Seal), ManifestError> {
    let (manifest, text) = Manifest::from_file_with_text(path)?;
    let error = |at: &Path, message: String| ManifestError::at(at, Some("signature".into()), message);
    let unsigned = unsigned_manifest(&text).map_err(|e| error(path, e.message))?;
    let in_manifest = manifest.signature.as_deref().map(str::parse::<BundleSignature>).transpose();
    let in_manifest = in_manifest.map_err(|e| error(path, e.to_string()))?;
    let sidecar = path.parent().unwrap_or(Path::new(".")).join(SIGNATURE_FILE);
    let beside = match std::fs::symlink_metadata(&sidecar) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        _ => {
            let bytes = crate::read_plugin_file(&sidecar, MAX_SIGNATURE_SIZE, "MAX_SIGNATURE_SIZE")
                .map_err(|e| error(&sidecar, e.to_string()))?;
            let text = String::from_utf8_lossy(&bytes);
            Some(text.trim().parse::<BundleSignature>().map_err(|e| error(&sidecar, e.to_string()))?)
        }
    };
    let signature = match (in_manifest, beside) {
        (Some(_), Some(_)) => return Err(error(path, SignatureError::Twice.to_string())),
        (one, other) => one.or(other),
    };
    Ok((manifest, Seal { unsigned, signature }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_round_trips_as_text() {
        let secret = PublisherSecret::from_bytes([3; 32]);
        let signature = sign_bundle(&secret, b"m", &[b"f"]);
        let text = signature.to_string();
        assert_eq!(text.len(), "ed25519:".len() + 64 + 1 + 128);
        assert_eq!(text.parse::<BundleSignature>().unwrap(), signature);
        for bad in ["", "ed25519:", "rsa:00:00", &text[..text.len() - 2], &format!("{text}00")] {
            assert!(matches!(bad.parse::<BundleSignature>(), Err(SignatureError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn a_key_is_exactly_64_hex_digits() {
        let good = format!("ed25519:{}", "0".repeat(64));
        let key = PublisherSecret::from_bytes([3; 32]).public_key().to_string();
        assert!(key.parse::<PublisherKey>().is_ok(), "{key}");
        for bad in [
            &good[..good.len() - 1],
            &format!("{good}0"),
            &format!("ed25519:{}", "zz".repeat(32)),
            &format!("ed25519:{}", "é".repeat(32)),
        ] {
            assert!(bad.parse::<PublisherKey>().is_err(), "{bad}");
        }
    }
}
