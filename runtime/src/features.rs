//! What this build of the runtime leaves out: its Cargo features, and the
//! refusal, naming the feature, of whatever needs one that is off.
//!
//! A host built without a subsystem still reads every manifest and every
//! builder knob; what would need the missing code answers
//! [`Error::FeatureDisabled`] instead of panicking or doing nothing.

use wasp_protocol::{ErrorCode, Permission, WireError};

use crate::Error;
use crate::manifest::{Manifest, ManifestKind};

/// The Cargo features of `wasp-runtime` this build has, by name.
pub const ENABLED: &[&str] = &[
    #[cfg(feature = "native")]
    "native",
    #[cfg(feature = "http")]
    "http",
    #[cfg(feature = "storage")]
    "storage",
    #[cfg(feature = "profiling")]
    "profiling",
    #[cfg(feature = "debugger")]
    "debugger",
    #[cfg(feature = "components")]
    "components",
    #[cfg(feature = "libraries")]
    "libraries",
];

/// Whether this build has the Cargo feature `feature`.
pub fn enabled(feature: &str) -> bool {
    ENABLED.contains(&feature)
}

/// `Ok` when this build has `feature`, else [`Error::FeatureDisabled`]
/// saying `what` needed it.
///
/// # Errors
///
/// [`Error::FeatureDisabled`] when the feature is off.
pub fn require(feature: &'static str, what: impl FnOnce() -> String) -> Result<(), Error> {
    require_of(enabled(feature), feature, what)
}

/// [`require`] for a feature of another crate (`wasp-actors`' `hot-reload`,
/// say): `on` says whether that crate has it.
///
/// # Errors
///
/// [`Error::FeatureDisabled`] when `on` is false.
pub fn require_of(on: bool, feature: &'static str, what: impl FnOnce() -> String) -> Result<(), Error> {
    if on { Ok(()) } else { Err(Error::FeatureDisabled { what: what(), feature }) }
}

/// The answer to a host-service call (`service`) that needs `feature`,
/// which this build lacks.
pub(crate) fn wire_off(service: &str, feature: &'static str) -> WireError {
    WireError::new(ErrorCode::Unavailable, format!("{service}: this host was built without the `{feature}` feature"))
}

/// Refuses a manifest that needs a feature this build lacks: a native
/// library (`native`), a permission for a service that is not built in
/// (`net:` needs `http`, `storage` needs `storage`), shared libraries
/// (`uses` needs `libraries`); for a hybrid plugin, each of its components.
///
/// # Errors
///
/// [`Error::FeatureDisabled`] naming the plugin, what it asked for and the
/// first missing feature.
pub fn check_manifest(manifest: &Manifest) -> Result<(), Error> {
    let name = &manifest.name;
    let natives = manifest.components.iter().filter(|c| c.kind == ManifestKind::Native);
    if manifest.kind == ManifestKind::Native {
        require("native", || format!("plugin `{name}` is a native library"))?;
    }
    if let Some(component) = natives.into_iter().next() {
        require("native", || format!("plugin `{name}`: its component `{}` is a native library", component.name))?;
    }
    for permission in &manifest.permissions {
        match permission {
            Permission::Net(_) => require("http", || format!("plugin `{name}` asks for `{permission}`"))?,
            Permission::Storage => require("storage", || format!("plugin `{name}` asks for `{permission}`"))?,
            _ => {}
        }
    }
    if let Some(wanted) = manifest.uses.first() {
        require("libraries", || format!("plugin `{name}` uses the library `{wanted}`"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_feature_is_named_in_the_refusal() {
        let missing =
            ["native", "http", "storage", "profiling", "components", "libraries"].into_iter().find(|f| !enabled(f));
        match missing {
            Some(feature) => {
                let e = require(feature, || "plugin `x` wants it".into()).expect_err("off");
                assert_eq!(e.code(), wasp_protocol::ErrorCode::Unavailable);
                assert_eq!(
                    e.to_string(),
                    format!("plugin `x` wants it: this host was built without the `{feature}` feature")
                );
            }
            None => assert!(require("native", String::new).is_ok()),
        }
    }

    #[test]
    fn a_manifest_is_refused_for_the_first_feature_it_lacks() {
        let mut manifest = Manifest::new("store").expect("a valid name");
        manifest.permissions.push(Permission::Storage);
        match check_manifest(&manifest) {
            Ok(()) => assert!(enabled("storage")),
            Err(Error::FeatureDisabled { what, feature }) => {
                assert_eq!((what.as_str(), feature), ("plugin `store` asks for `storage`", "storage"));
            }
            Err(other) => panic!("unexpected {other}"),
        }
        manifest.permissions.clear();
        manifest.kind = ManifestKind::Native;
        assert_eq!(check_manifest(&manifest).is_ok(), enabled("native"));
    }
}
