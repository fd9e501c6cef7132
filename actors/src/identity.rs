//! Checking a bundle's publisher signature against the host's [`Policy`]:
//! who published a plugin, as far as the host trusts it.

use wasp_protocol::ErrorCode;
use wasp_runtime::AuditKind;
use wasp_runtime::signature::{PublisherKey, Seal};

use crate::Error;
use crate::policy::Policy;

/// Where a plugin's code came from, for the signature check.
pub(crate) enum Origin<'a> {
    /// A bundle read from its folder, with what its signature covers.
    Bundle(&'a Seal),
    /// Bytes or a manifest value handed to the host: nothing to check a
    /// signature against.
    Unsealed,
}

/// The publisher key a plugin is known by: `Some` only for a bundle whose
/// signature matches it and whose key the policy trusts.
///
/// A signature that does not match refuses the plugin whatever the policy
/// says (the bundle was changed since it was signed); so does an unsigned
/// bundle, or one signed by a key the policy does not trust, under
/// [`Policy::require_signatures`]. Each outcome is audited through `audit`.
pub(crate) fn publisher(
    policy: &Policy,
    plugin: &str,
    origin: Origin<'_>,
    files: &[&[u8]],
    audit: impl Fn(AuditKind, String),
) -> Result<Option<PublisherKey>, Error> {
    let refuse = |code: ErrorCode, detail: String| {
        let e = Error::Signature { plugin: plugin.to_owned(), code, detail };
        audit(AuditKind::LoadRefused { code }, format!("plugin `{plugin}` refused: {e}"));
        Err(e)
    };
    let signed = match origin {
        Origin::Bundle(seal) => match seal.verify(files) {
            Ok(signed) => signed,
            Err(e) => return refuse(ErrorCode::PermissionDenied, e.to_string()),
        },
        Origin::Unsealed => None,
    };
    let Some(key) = signed else {
        if policy.requires_signatures() {
            let how = match origin {
                Origin::Bundle(_) => "its bundle is not signed",
                Origin::Unsealed => "it was not loaded from a signed bundle (bytes, or a manifest value)",
            };
            return refuse(ErrorCode::PermissionDenied, format!("the host requires signed plugins, and {how}"));
        }
        return Ok(None);
    };
    let trusted = policy.trusts(&key);
    let publisher = key.to_string();
    if !trusted && policy.requires_signatures() {
        return refuse(
            ErrorCode::PermissionDenied,
            format!("it is signed by {publisher}, a key the host does not trust"),
        );
    }
    let message = if trusted {
        format!("plugin `{plugin}` is signed by the trusted publisher {publisher}")
    } else {
        format!("plugin `{plugin}` is signed by {publisher}, a key the host does not trust: it is known by its code")
    };
    audit(AuditKind::Signed { publisher, trusted }, message);
    Ok(trusted.then_some(key))
}
