//! The permissions a plugin holds right now.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use wasp_protocol::{ErrorCode, Permission, WireError};

/// The live set of permissions granted to one plugin.
///
/// Shared between the plugin's instance (which checks it on every host call)
/// and the host (which grants and revokes at run time): a change takes effect
/// on the plugin's next host call, without a restart. Cloning shares the set.
///
/// ```
/// use wasp_runtime::Grants;
/// let grants = Grants::new(["publish:sensor.*".parse()?]);
/// assert!(grants.allows(&"publish:sensor.temp".parse()?));
/// grants.revoke(&"publish:*".parse()?);
/// assert!(!grants.allows(&"publish:sensor.temp".parse()?));
/// # Ok::<(), wasp_protocol::PermissionError>(())
/// ```
#[derive(Clone, Default)]
pub struct Grants {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Replaced whole on every change, so readers can keep a snapshot.
    set: RwLock<Arc<Vec<Permission>>>,
    revision: AtomicU64,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list()).finish()
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

    /// Whether some granted permission covers `wanted`.
    pub fn allows(&self, wanted: &Permission) -> bool {
        self.inner.set.read().unwrap_or_else(|p| p.into_inner()).iter().any(|g| g.covers(wanted))
    }

    /// [`Grants::allows`] for a permission given as kind and target, without
    /// building it (see [`Permission::covers_parts`]).
    pub fn allows_parts(&self, kind: &str, target: Option<&str>) -> bool {
        self.inner.set.read().unwrap_or_else(|p| p.into_inner()).iter().any(|g| g.covers_parts(kind, target))
    }

    /// The granted permissions and the revision they belong to, for callers
    /// that cache them and look again only when [`Grants::revision`] moves.
    pub fn snapshot(&self) -> (u64, Arc<Vec<Permission>>) {
        let set = self.inner.set.read().unwrap_or_else(|p| p.into_inner());
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

    /// Adds a permission; says whether the set changed.
    pub fn grant(&self, permission: Permission) -> bool {
        let mut set = self.inner.set.write().unwrap_or_else(|p| p.into_inner());
        if set.contains(&permission) {
            return false;
        }
        Arc::make_mut(&mut set).push(permission);
        self.inner.revision.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Removes every granted permission that `permission` covers (revoking
    /// `send:*` removes `send:echo`); says whether the set changed.
    pub fn revoke(&self, permission: &Permission) -> bool {
        let mut set = self.inner.set.write().unwrap_or_else(|p| p.into_inner());
        let before = set.len();
        Arc::make_mut(&mut set).retain(|g| !permission.covers(g));
        let changed = set.len() != before;
        if changed {
            self.inner.revision.fetch_add(1, Ordering::AcqRel);
        }
        changed
    }

    /// The granted permissions, in the order they were granted.
    pub fn list(&self) -> Vec<Permission> {
        self.inner.set.read().unwrap_or_else(|p| p.into_inner()).to_vec()
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
