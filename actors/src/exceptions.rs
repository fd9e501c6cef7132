//! Refusals narrower than a grant, at load: a remembered refusal or a
//! policy denial of `request:vault` for a plugin granted `request:*`
//! becomes an exception to that grant, so that it is refused all the same.

use wasp_protocol::Permission;

/// Who refused a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusedBy {
    /// A policy `deny` rule.
    Policy,
    /// A remembered decision (an answer, or `Host::revoke`).
    Stored,
}

impl RefusedBy {
    /// As audit events name it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Stored => "stored",
        }
    }
}

/// What the refusals did to the granted permissions.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Narrowed {
    /// Exceptions to the grants: each refused permission, who refused it,
    /// and the grants it narrows.
    pub(crate) excepted: Vec<(Permission, RefusedBy, Vec<Permission>)>,
    /// Directory grants taken back whole, each with the policy denial of a
    /// directory inside it (a directory has no exceptions).
    pub(crate) withdrawn: Vec<(Permission, Permission)>,
}

fn is_dir(p: &Permission) -> bool {
    matches!(p.kind(), "fs.read" | "fs.write")
}

/// Applies `refusals` to `granted`. A refusal that a granted permission
/// covers more broadly becomes an exception to it. For directories, which
/// have none: a policy denial takes back the broader grant (denials win
/// over allow rules); a remembered one is left out (it was about another
/// directory than the one now granted).
pub(crate) fn narrow(granted: &mut Vec<Permission>, mut refusals: Vec<(Permission, RefusedBy)>) -> Narrowed {
    refusals.sort_by(|a, b| a.0.cmp(&b.0));
    refusals.dedup_by(|a, b| a.0 == b.0);
    let broader = |granted: &[Permission], p: &Permission| -> Vec<Permission> {
        granted.iter().filter(|g| g.covers(p) && !p.covers(g)).cloned().collect()
    };
    let mut out = Narrowed::default();
    for (p, _) in refusals.iter().filter(|(p, by)| is_dir(p) && *by == RefusedBy::Policy) {
        for g in broader(granted, p) {
            granted.retain(|held| *held != g);
            out.withdrawn.push((g, p.clone()));
        }
    }
    for (p, by) in refusals.into_iter().filter(|(p, _)| !is_dir(p)) {
        let over = broader(granted, &p);
        if !over.is_empty() {
            out.excepted.push((p, by, over));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Permission {
        text.parse().expect("valid permission")
    }

    #[test]
    fn a_refusal_under_a_broader_grant_becomes_an_exception_to_it() {
        let mut granted = vec![p("request:*"), p("publish:a.*")];
        let out = narrow(
            &mut granted,
            vec![
                (p("request:vault"), RefusedBy::Stored),
                (p("request:secret*"), RefusedBy::Policy),
                (p("send:echo"), RefusedBy::Stored),
                (p("publish:a.*"), RefusedBy::Stored),
            ],
        );
        assert_eq!(
            out.excepted,
            [
                (p("request:secret*"), RefusedBy::Policy, vec![p("request:*")]),
                (p("request:vault"), RefusedBy::Stored, vec![p("request:*")]),
            ]
        );
        assert!(out.withdrawn.is_empty());
        assert_eq!(granted, [p("request:*"), p("publish:a.*")], "an equal refusal is no exception");
    }

    #[test]
    fn a_policy_denial_inside_a_granted_directory_takes_the_directory_back() {
        let mut granted = vec![p("fs.write:$DATA"), p("fs.read:/srv"), p("request:*")];
        let out = narrow(
            &mut granted,
            vec![(p("fs.read:$DATA/keys"), RefusedBy::Policy), (p("fs.read:/srv/private"), RefusedBy::Stored)],
        );
        assert_eq!(out.withdrawn, [(p("fs.write:$DATA"), p("fs.read:$DATA/keys"))]);
        assert!(out.excepted.is_empty(), "directories have no exceptions");
        assert_eq!(granted, [p("fs.read:/srv"), p("request:*")]);
    }
}
