//! Hybrid namespaces: a hybrid plugin `f` owns `f` and every name `f.<x>`,
//! so that no other plugin can sit among its components' addresses.

use wasp_runtime::Family;

/// Why `name` (of the hybrid `family`, if it is a component of one) may not
/// be loaded beside the plugins in `loaded` (each name with its family):
///
/// - `name` lies in the namespace of a loaded hybrid it is not a component
///   of (`com.acme.vault` while the hybrid `com` is loaded);
/// - `name` is a component of a hybrid whose namespace holds a loaded
///   plugin outside it (the hybrid `com` while `com.acme.vault` is loaded).
///
/// `None` when it may. Names already taken are not this function's concern.
pub(crate) fn clash<'a>(
    loaded: impl IntoIterator<Item = (&'a str, Option<&'a Family>)>,
    name: &str,
    family: Option<&Family>,
) -> Option<String> {
    let same = |other: Option<&Family>| match (family, other) {
        (Some(a), Some(b)) => a.name() == b.name(),
        _ => false,
    };
    for (other, other_family) in loaded {
        if let Some(theirs) = other_family
            && !same(Some(theirs))
            && theirs.claims(name)
        {
            let owner = theirs.name();
            return Some(format!(
                "`{name}` lies in the namespace of the hybrid plugin `{owner}` (`{owner}` and `{owner}.*` are its \
                 components' addresses); choose another name"
            ));
        }
        if let Some(ours) = family
            && !same(other_family)
            && ours.claims(other)
        {
            let hybrid = ours.name();
            return Some(format!(
                "the hybrid plugin `{hybrid}` would take the loaded plugin `{other}` into its namespace \
                 (`{hybrid}` and `{hybrid}.*`); unload `{other}` or choose another name"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(loaded: &[(&str, Option<&Family>)], name: &str, family: Option<&Family>) -> Option<String> {
        clash(loaded.iter().copied(), name, family)
    }

    #[test]
    fn a_plugin_inside_a_loaded_hybrids_namespace_is_refused() {
        let com = Family::new("com", ["com"]);
        let loaded = [("com", Some(&com))];
        let reason = check(&loaded, "com.acme.vault", None).expect("refused");
        assert!(reason.contains("namespace of the hybrid plugin `com`"), "{reason}");
        assert_eq!(check(&loaded, "comet", None), None);
        assert_eq!(check(&loaded, "acme.com", None), None);
        // Another hybrid whose components would fall inside it, too.
        let inner = Family::new("com.acme", ["com.acme"]);
        assert!(check(&loaded, "com.acme", Some(&inner)).is_some());
    }

    #[test]
    fn a_hybrid_whose_namespace_holds_a_loaded_plugin_is_refused() {
        let com = Family::new("com", ["com"]);
        let loaded = [("com.acme.vault", None), ("echo", None)];
        let reason = check(&loaded, "com", Some(&com)).expect("refused");
        assert!(reason.contains("would take the loaded plugin `com.acme.vault`"), "{reason}");
        let sysinfo = Family::new("sysinfo", ["sysinfo", "sysinfo.os"]);
        assert_eq!(check(&loaded, "sysinfo", Some(&sysinfo)), None);
    }

    #[test]
    fn a_hybrids_own_components_register_one_after_another() {
        let sysinfo = Family::new("sysinfo", ["sysinfo", "sysinfo.os"]);
        let loaded = [("sysinfo", Some(&sysinfo))];
        assert_eq!(check(&loaded, "sysinfo.os", Some(&sysinfo)), None);
        assert!(check(&loaded, "sysinfo.os", None).is_some(), "but not as a plugin of its own");
    }
}
