//! The components of one hybrid plugin: who may message whom without a
//! permission, and which names the plugin's namespace holds.

use std::sync::Arc;

/// The components of a hybrid plugin, by address: the plugin's name (its
/// first component) and `<name>.<component>` for the others.
///
/// Components of one family may send to and request each other without
/// `send:` or `request:` permissions. Only the addresses the hybrid
/// registered are siblings: a plugin whose name merely starts with the
/// family's (`com.acme.vault` for a hybrid named `com`) is not one, and the
/// host refuses to load such a plugin beside the hybrid at all
/// ([`Family::claims`]).
///
/// ```
/// use wasp_runtime::Family;
/// let family = Family::new("sysinfo", ["sysinfo", "sysinfo.os"]);
/// assert!(family.is_sibling("sysinfo", "sysinfo.os"));
/// assert!(!family.is_sibling("sysinfo", "sysinfo"), "not itself");
/// assert!(!family.is_sibling("sysinfo", "sysinfo.other"), "not a registered component");
/// assert!(family.claims("sysinfo.other"), "but inside its namespace");
/// assert!(!family.claims("sysinfo-x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    name: Arc<str>,
    members: Arc<[Arc<str>]>,
}

impl Family {
    /// The family of the hybrid plugin `name`, whose components answer at
    /// `members`.
    pub fn new<M: Into<Arc<str>>>(name: impl Into<Arc<str>>, members: impl IntoIterator<Item = M>) -> Self {
        Self { name: name.into(), members: members.into_iter().map(Into::into).collect() }
    }

    /// The hybrid plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The addresses of its components, the plugin's own name first.
    pub fn members(&self) -> &[Arc<str>] {
        &self.members
    }

    /// Whether `address` is one of its components.
    pub fn contains(&self, address: &str) -> bool {
        self.members.iter().any(|m| &**m == address)
    }

    /// Whether the component `from` may reach `to` as a sibling: both are
    /// components of this family, and `to` is not `from` itself.
    pub fn is_sibling(&self, from: &str, to: &str) -> bool {
        from != to && self.contains(from) && self.contains(to)
    }

    /// Whether `name` lies in the family's namespace: it is the family's
    /// name or starts with it followed by `.`. No plugin outside the family
    /// may hold such a name while the family is loaded.
    pub fn claims(&self, name: &str) -> bool {
        name.strip_prefix(&*self.name).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_are_exactly_the_registered_components() {
        let com = Family::new("com", ["com"]);
        assert!(!com.is_sibling("com", "com.acme.vault"), "a name under the family is not a component");
        assert!(!com.is_sibling("com", "com"));
        let pair = Family::new("pair", ["pair", "pair.echo"]);
        assert!(pair.is_sibling("pair", "pair.echo"));
        assert!(pair.is_sibling("pair.echo", "pair"));
        assert!(!pair.is_sibling("pairing", "pair"), "only components send as siblings");
        assert!(!pair.is_sibling("pair", "pairing"));
        assert!(!pair.is_sibling("pair", "pair.other"));
    }

    #[test]
    fn the_namespace_is_the_name_and_what_follows_it_after_a_dot() {
        let com = Family::new("com", ["com"]);
        assert!(com.claims("com"));
        assert!(com.claims("com.acme.vault"));
        assert!(!com.claims("comet"));
        assert!(!com.claims("co"));
        assert!(!com.claims("x.com"));
    }
}
