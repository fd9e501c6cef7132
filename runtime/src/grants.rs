//! The permissions a plugin holds right now.

use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use wasp_protocol::{ErrorCode, Permission, WireError};

/// The live set of permissions granted to one plugin.
///
/// Shared between the plugin's instance (which checks it on every host call)
/// and the host (which grants and revokes at run time): a change takes effect
/// on the plugin's next host call, without a restart. Cloning shares the set.
///
/// Revoking a permission that a broader grant still covers makes it an
/// *exception* to that grant: `request:*` without `request:vault` allows
/// every request but those to `vault` ([`Grants::revoke`]).
///
/// ```
/// use wasp_runtime::Grants;
/// let grants = Grants::new(["publish:sensor.*".parse()?, "request:*".parse()?]);
/// assert!(grants.allows(&"publish:sensor.temp".parse()?));
/// grants.revoke(&"publish:*".parse()?)?;
/// assert!(!grants.allows(&"publish:sensor.temp".parse()?));
/// grants.revoke(&"request:vault".parse()?)?;
/// assert!(!grants.allows(&"request:vault".parse()?));
/// assert!(grants.allows(&"request:echo".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Grants {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Replaced whole on every change, so readers can keep a snapshot.
    set: RwLock<Arc<GrantSet>>,
    revision: AtomicU64,
}

/// What a plugin holds at one moment: its granted permissions, and the
/// exceptions revoked from under broader ones. Something is allowed when a
/// grant covers it and no exception does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSet {
    granted: Vec<Permission>,
    excepted: Vec<Permission>,
}

impl GrantSet {
    /// `granted`, less `excepted`.
    pub fn new(granted: Vec<Permission>, excepted: Vec<Permission>) -> Self {
        Self { granted, excepted }
    }

    /// The granted permissions, in the order they were granted.
    pub fn granted(&self) -> &[Permission] {
        &self.granted
    }

    /// The exceptions: permissions revoked while a broader grant remains.
    pub fn excepted(&self) -> &[Permission] {
        &self.excepted
    }

    /// Whether a grant covers `wanted` and no exception does.
    pub fn allows(&self, wanted: &Permission) -> bool {
        self.allows_parts(wanted.kind(), wanted.target())
    }

    /// [`GrantSet::allows`] for a permission given as kind and target,
    /// without building it (see [`Permission::covers_parts`]).
    pub fn allows_parts(&self, kind: &str, target: Option<&str>) -> bool {
        self.granted.iter().any(|g| g.covers_parts(kind, target))
            && !self.excepted.iter().any(|e| e.covers_parts(kind, target))
    }
}

/// What [`Grants::revoke`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revocation {
    /// The granted permissions it removed: those the revoked one covers.
    pub removed: Vec<Permission>,
    /// The grants still held that cover the revoked permission: it is now an
    /// exception to them. Empty when nothing broader remains.
    pub narrowed: Vec<Permission>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.read();
        f.debug_struct("Grants").field("granted", &set.granted).field("excepted", &set.excepted).finish()
    }
}

impl Grants {
    /// A set holding `granted`.
    pub fn new(granted: impl IntoIterator<Item = Permission>) -> Self {
        let this = Self::default();
        for p in granted {
            this.grant(p);
        }
        this
    }

    /// A set holding exactly `set`.
    pub fn from_set(set: GrantSet) -> Self {
        let this = Self::default();
        this.replace(set);
        this
    }

    fn read(&self) -> Arc<GrantSet> {
        self.inner.set.read().clone()
    }

    /// Applies `change` to a copy of the set and installs it if `change`
    /// says it changed anything.
    fn change<T>(&self, change: impl FnOnce(&mut GrantSet) -> (bool, T)) -> T {
        let mut set = self.inner.set.write();
        let mut next = (**set).clone();
        let (changed, out) = change(&mut next);
        if changed {
            *set = Arc::new(next);
            // Under the lock: a snapshot pairs a set with its revision.
            self.inner.revision.fetch_add(1, Ordering::AcqRel);
        }
        out
    }

    /// Whether some granted permission covers `wanted`, and no exception does.
    pub fn allows(&self, wanted: &Permission) -> bool {
        self.inner.set.read().allows(wanted)
    }

    /// [`Grants::allows`] for a permission given as kind and target, without
    /// building it (see [`Permission::covers_parts`]).
    pub fn allows_parts(&self, kind: &str, target: Option<&str>) -> bool {
        self.inner.set.read().allows_parts(kind, target)
    }

    /// The set and the revision it belongs to, for callers that cache it
    /// and look again only when [`Grants::revision`] moves.
    pub fn snapshot(&self) -> (u64, Arc<GrantSet>) {
        let set = self.inner.set.read();
        // Read under the lock: a change bumps the revision while holding it.
        (self.inner.revision.load(Ordering::Acquire), set.clone())
    }

    /// `Ok` if allowed, else a `permission_denied` error naming what is
    /// missing (the permission text is also the error's context).
    pub fn check(&self, plugin: &str, wanted: &Permission) -> Result<(), WireError> {
        if self.allows(wanted) {
            return Ok(());
        }
        Err(denied(plugin, wanted))
    }

    /// Adds a permission, and lifts the exceptions it covers (granting
    /// `request:*` again allows `request:vault` again); says whether the
    /// set changed.
    pub fn grant(&self, permission: Permission) -> bool {
        self.change(|set| {
            let before = set.excepted.len();
            set.excepted.retain(|e| !permission.covers(e));
            let mut changed = set.excepted.len() != before;
            if !set.granted.contains(&permission) {
                set.granted.push(permission);
                changed = true;
            }
            (changed, changed)
        })
    }

    /// Takes `permission` away: removes every granted permission it covers
    /// (revoking `send:*` removes `send:echo`), and, if a broader grant
    /// still covers it (revoking `request:vault` from `request:*`), makes
    /// it an exception to that grant, so that it is refused all the same.
    ///
    /// # Errors
    ///
    /// `invalid_argument`, changing nothing, when a broader `fs.*` grant
    /// covers it (a directory inside a granted one, or `fs.read` of a
    /// directory granted `fs.write`): a plugin sees a granted directory
    /// whole, so a directory grant has no exceptions. The message names the
    /// broader grant, which is what to revoke.
    pub fn revoke(&self, permission: &Permission) -> Result<Revocation, WireError> {
        self.change(|set| {
            let broader: Vec<Permission> =
                set.granted.iter().filter(|g| g.covers(permission) && !permission.covers(g)).cloned().collect();
            if let Some(dir) = broader.first().filter(|_| matches!(permission.kind(), "fs.read" | "fs.write")) {
                let err = WireError::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "`{permission}` cannot be revoked alone: the plugin holds `{dir}`, which covers it, and a \
                         directory is granted whole; revoke `{dir}` instead"
                    ),
                )
                .with_context(dir.to_string());
                return (false, Err(err));
            }
            let (removed, kept): (Vec<Permission>, Vec<Permission>) =
                std::mem::take(&mut set.granted).into_iter().partition(|g| permission.covers(g));
            set.granted = kept;
            let mut changed = !removed.is_empty();
            // Exceptions to grants that are gone go with them.
            let granted = &set.granted;
            set.excepted.retain(|e| granted.iter().any(|g| g.covers(e)));
            let excepted = set.excepted.iter().any(|e| e.covers(permission));
            if !broader.is_empty() && !excepted {
                set.excepted.retain(|e| !permission.covers(e));
                set.excepted.push(permission.clone());
                changed = true;
            }
            (changed, Ok(Revocation { removed, narrowed: broader }))
        })
    }

    /// Makes the set exactly `set` (a node process follows its host's set
    /// this way); says whether it changed.
    pub fn replace(&self, set: GrantSet) -> bool {
        self.change(|current| {
            let changed = *current != set;
            *current = set;
            (changed, changed)
        })
    }

    /// The granted permissions, in the order they were granted.
    pub fn list(&self) -> Vec<Permission> {
        self.read().granted.clone()
    }

    /// The exceptions to them ([`Grants::revoke`]).
    pub fn exceptions(&self) -> Vec<Permission> {
        self.read().excepted.clone()
    }

    /// Changes with every grant or revocation.
    pub fn revision(&self) -> u64 {
        self.inner.revision.load(Ordering::Acquire)
    }
}

/// The error for a call `plugin` has no permission for.
pub(crate) fn denied(plugin: &str, wanted: &Permission) -> WireError {
    WireError::new(ErrorCode::PermissionDenied, format!("plugin `{plugin}` lacks the permission `{wanted}`"))
        .with_context(wanted.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Permission {
        text.parse().expect("valid permission")
    }

    fn grants(held: &[&str]) -> Grants {
        Grants::new(held.iter().map(|t| p(t)))
    }

    #[test]
    fn revoking_a_narrower_permission_makes_it_an_exception_to_the_broader_grant() {
        let g = grants(&["request:*", "send:echo"]);
        let r = g.revoke(&p("request:vault")).expect("revoked");
        assert_eq!((r.removed, r.narrowed), (vec![], vec![p("request:*")]));
        assert!(!g.allows(&p("request:vault")));
        assert!(!g.allows_parts("request", Some("vault")));
        assert!(g.allows(&p("request:echo")), "the rest of `request:*` stays");
        assert_eq!(g.list(), [p("request:*"), p("send:echo")]);
        assert_eq!(g.exceptions(), [p("request:vault")]);
        // A pattern exception covers every name it matches.
        g.revoke(&p("request:com.acme.*")).expect("revoked");
        assert!(!g.allows(&p("request:com.acme.vault")));
        assert!(g.allows(&p("request:com.other")));
    }

    #[test]
    fn revoking_what_is_held_removes_it_and_what_it_covers() {
        let g = grants(&["send:echo", "send:log", "publish:a.*"]);
        let r = g.revoke(&p("send:*")).expect("revoked");
        assert_eq!((r.removed, r.narrowed), (vec![p("send:echo"), p("send:log")], vec![]));
        assert_eq!(g.list(), [p("publish:a.*")]);
        assert!(g.exceptions().is_empty(), "nothing broader remains: no exception is needed");
        let r = g.revoke(&p("storage")).expect("revoked");
        assert_eq!(r, Revocation::default(), "nothing held, nothing changed");
    }

    #[test]
    fn granting_again_lifts_the_exceptions_the_grant_covers() {
        let g = grants(&["request:*"]);
        g.revoke(&p("request:vault")).expect("revoked");
        let before = g.revision();
        assert!(g.grant(p("request:vault")));
        assert!(g.allows(&p("request:vault")));
        assert!(g.exceptions().is_empty());
        assert_ne!(g.revision(), before);
        assert!(!g.grant(p("request:vault")), "nothing left to change");
    }

    #[test]
    fn an_exception_under_a_directory_grant_is_refused_and_changes_nothing() {
        let g = grants(&["fs.write:$DATA", "fs.read:/srv"]);
        let before = g.revision();
        for narrower in ["fs.read:$DATA", "fs.write:$DATA/secret", "fs.read:/srv/private"] {
            let err = g.revoke(&p(narrower)).expect_err(narrower);
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{err}");
            assert!(err.message.contains("revoke `fs."), "{err}");
        }
        assert_eq!(g.revision(), before);
        assert!(g.allows(&p("fs.read:$DATA/secret")));
        // The whole directory can go.
        g.revoke(&p("fs.write:$DATA")).expect("revoked");
        assert!(!g.allows(&p("fs.read:$DATA")));
    }

    #[test]
    fn a_snapshot_pairs_the_set_with_its_revision() {
        let g = grants(&["request:*"]);
        let (rev, set) = g.snapshot();
        g.revoke(&p("request:vault")).expect("revoked");
        let (next, now) = g.snapshot();
        assert!(next > rev);
        assert!(set.allows_parts("request", Some("vault")), "an old snapshot is unchanged");
        assert!(!now.allows_parts("request", Some("vault")));
        assert!(Grants::from_set((*now).clone()).snapshot().1.excepted() == now.excepted());
    }
}
