//! Permissions: deciding them at load (policy, remembered decisions, the
//! `ask` callback, identity), and granting, revoking and quarantine at run time.

use std::collections::HashMap;

use wasp_protocol::Permission;
use wasp_runtime::manifest::Manifest;
use wasp_runtime::signature::Seal;
use wasp_runtime::{AuditKind, Family, GrantSet, Grants, Identity};

use crate::Error;
use crate::actor::PluginMsg;
use crate::exceptions::{self, RefusedBy};
use crate::identity::{Origin, publisher};
use crate::metrics::PluginState;
use crate::policy::{AskRequest, Decision, IdentityChange};

use super::Host;

/// A plugin's permissions, decided once (for every component of a hybrid).
pub(super) struct Decided {
    pub(super) granted: Vec<Permission>,
    pub(super) refused: Vec<Permission>,
    pub(super) grants: Grants,
    /// Who they were decided for.
    pub(super) identity: Identity,
}

/// A plugin's identity: its code's, known by its publisher when trusted.
pub(super) fn with_publisher(code: Identity, publisher: Option<wasp_runtime::signature::PublisherKey>) -> Identity {
    match publisher {
        Some(key) => code.signed_by(key),
        None => code,
    }
}

impl Host {
    /// The trusted publisher a plugin's code comes from: its bundle's
    /// signature checked against the policy (`seal` is `None` for bytes
    /// and manifest values). Refusals and signatures are audited.
    pub(super) fn publisher(
        &self,
        name: &str,
        seal: Option<&Seal>,
        files: &[&[u8]],
    ) -> Result<Option<wasp_runtime::signature::PublisherKey>, Error> {
        let origin = seal.map_or(Origin::Unsealed, Origin::Bundle);
        publisher(&self.inner.policy, name, origin, files, |kind, message| self.audit(name, kind, message))
    }

    /// Forgets every remembered permission decision about `plugin`,
    /// under every identity it had, and the identity last loaded under its
    /// name: its next load decides everything afresh (asking the user
    /// again). For a host that refuses plugins whose identity changed
    /// ([`IdentityChange::Refuse`]), this is how a new release is let in.
    /// A loaded plugin keeps its permissions until it is reloaded.
    ///
    /// # Errors
    ///
    /// [`Error::Wire`] when the host's database fails.
    pub async fn forget_decisions(&self, plugin: &str) -> Result<(), Error> {
        self.inner.decisions.forget(plugin).await
    }

    /// Decides each requested permission (see [`Policy`]) for the plugin
    /// known as `identity`: decisions remembered about another identity of
    /// the same name do not apply (`docs/security.md`, "Identity").
    pub(super) async fn decide(&self, manifest: &Manifest, identity: &Identity) -> Result<Decided, Error> {
        let name = &manifest.name;
        let policy = &self.inner.policy;
        let key = identity.key();
        let recalled = self.inner.decisions.recall(name, key).await?;
        let previous = recalled.last_identity.filter(|p| p != key);
        if let Some(previous) = &previous {
            let message = format!(
                "plugin `{name}` changed since it last loaded: it was {}, it is now {identity}; \
                 what was decided about it before does not apply",
                Identity::abbreviate(previous)
            );
            let kind = AuditKind::IdentityChanged { previous: previous.clone(), current: key.to_owned() };
            self.audit(name, kind, message);
            if policy.identity_change() == IdentityChange::Refuse {
                let e = Error::IdentityChanged {
                    plugin: name.clone(),
                    previous: previous.clone(),
                    current: key.to_owned(),
                };
                self.audit(name, AuditKind::LoadRefused { code: e.code() }, format!("plugin `{name}` refused: {e}"));
                return Err(e);
            }
        }
        let (mut granted, mut refused) = (Vec::new(), Vec::new());
        for wanted in &manifest.permissions {
            let rule = policy.rule(name, wanted);
            let (decision, by) = if rule == Some(Decision::Deny) {
                (Decision::Deny, "policy")
            } else if let Some(&d) = recalled.decisions.get(&wanted.to_string()) {
                (d, "stored")
            } else if rule == Some(Decision::Allow) {
                (Decision::Allow, "policy")
            } else {
                let question = AskRequest {
                    plugin: name.clone(),
                    version: manifest.version.clone(),
                    permission: wanted.clone(),
                    description: manifest.description.clone(),
                    identity: key.to_owned(),
                    publisher: identity.publisher.clone(),
                    previous_identity: previous.clone(),
                };
                match policy.ask_about(question).await {
                    Some(Some(d)) => {
                        self.inner.decisions.remember(name, key, wanted, d).await?;
                        (d, "ask")
                    }
                    Some(None) => (Decision::Deny, "unanswered"),
                    None => (Decision::Deny, "default"),
                }
            };
            let by = by.to_owned();
            match decision {
                Decision::Allow => {
                    let message = format!("plugin `{name}` was granted `{wanted}` ({by})");
                    self.audit(name, AuditKind::Granted { permission: wanted.clone(), by }, message);
                    granted.push(wanted.clone());
                }
                Decision::Deny => {
                    let message = format!("plugin `{name}` was refused `{wanted}` ({by})");
                    self.audit(name, AuditKind::Revoked { permission: wanted.clone(), by }, message);
                    refused.push(wanted.clone());
                }
            }
        }
        self.inner.decisions.loaded(name, key).await?;
        let excepted = self.narrow(name, &mut granted, &mut refused, &recalled.decisions);
        let grants = Grants::from_set(GrantSet::new(granted.clone(), excepted));
        Ok(Decided { granted, refused, grants, identity: identity.clone() })
    }

    /// The refusals narrower than a granted permission — remembered ones
    /// and the policy's `deny` rules — made exceptions to it, or for a
    /// directory the grant taken back ([`exceptions::narrow`]); audited at
    /// each load, so that the log says why they are refused.
    pub(super) fn narrow(
        &self,
        name: &str,
        granted: &mut Vec<Permission>,
        refused: &mut Vec<Permission>,
        remembered: &HashMap<String, Decision>,
    ) -> Vec<Permission> {
        let stored = remembered
            .iter()
            .filter(|(_, decision)| **decision == Decision::Deny)
            .filter_map(|(text, _)| text.parse::<Permission>().ok())
            .map(|p| (p, RefusedBy::Stored));
        let denied = self.inner.policy.denials(name).into_iter().map(|p| (p, RefusedBy::Policy));
        let narrowed = exceptions::narrow(granted, denied.chain(stored).collect());
        for (dir, denial) in narrowed.withdrawn {
            let message = format!(
                "plugin `{name}` was refused `{dir}` (policy): the policy denies `{denial}`, and a directory is \
                 granted whole"
            );
            self.audit(name, AuditKind::Revoked { permission: dir.clone(), by: "policy".into() }, message);
            refused.push(dir);
        }
        let mut excepted = Vec::with_capacity(narrowed.excepted.len());
        for (p, by, broader) in narrowed.excepted {
            let broader: Vec<String> = broader.iter().map(|g| format!("`{g}`")).collect();
            let by = by.as_str();
            let message = format!("plugin `{name}` keeps `{p}` refused ({by}), an exception to {}", broader.join(", "));
            self.audit(name, AuditKind::Revoked { permission: p.clone(), by: by.into() }, message);
            excepted.push(p);
        }
        excepted
    }

    /// Grants `permission` to a loaded plugin now; it takes effect on the
    /// plugin's next host call. The decision is remembered (across restarts
    /// when the host has a data directory).
    ///
    /// It lifts the exceptions it covers ([`Host::revoke`]): granting
    /// `request:*` again allows `request:vault` again. For a component of
    /// a hybrid plugin, the grant is the whole plugin's, and remembered
    /// under the plugin's name.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`], a malformed permission, or the database
    /// failing to remember the decision.
    pub async fn grant(&self, plugin: &str, permission: &str) -> Result<(), Error> {
        let permission: Permission = permission.parse()?;
        let route = self.route(plugin)?;
        let identity = route.family.as_ref().map_or(plugin, Family::name);
        route.grants.grant(permission.clone());
        // Refusals it overrides must not come back at the next load.
        let key = route.identity.key();
        let overridden: Vec<Permission> = self
            .inner
            .decisions
            .recall(identity, key)
            .await?
            .decisions
            .into_iter()
            .filter(|(_, decision)| *decision == Decision::Deny)
            .filter_map(|(text, _)| text.parse::<Permission>().ok())
            .filter(|p| permission.covers(p))
            .collect();
        for p in overridden.iter().chain(std::iter::once(&permission)) {
            self.inner.decisions.remember(identity, key, p, Decision::Allow).await?;
        }
        let message = format!("plugin `{plugin}` was granted `{permission}` (host)");
        self.audit(plugin, AuditKind::Granted { permission, by: "host".into() }, message);
        Ok(())
    }

    /// Takes `permission` away from a loaded plugin: every permission it
    /// holds that `permission` covers goes (`send:*` takes `send:echo`), and
    /// if it holds a broader one that covers `permission` (`request:*` for
    /// `request:vault`), `permission` becomes an exception to it: refused,
    /// while the rest of the broader grant stays. It takes effect on the
    /// plugin's next host call — including the events of its subscriptions
    /// and timers. A revoked `fs.*` directory disappears before the
    /// plugin's next message. The decision is remembered (for a component
    /// of a hybrid plugin, under the plugin's name: its permissions are the
    /// whole plugin's), exceptions included; the audit event says what the
    /// plugin lost.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`], a malformed permission, the database failing
    /// to remember the decision, or `invalid_argument` ([`Error::Wire`]),
    /// changing nothing, for a directory inside one the plugin holds (a
    /// directory is granted whole; the error names the broader grant).
    pub async fn revoke(&self, plugin: &str, permission: &str) -> Result<(), Error> {
        let permission: Permission = permission.parse()?;
        let route = self.route(plugin)?;
        let identity = route.family.as_ref().map_or(plugin, Family::name);
        let revocation = route.grants.revoke(&permission)?;
        for p in revocation.removed.iter().chain(std::iter::once(&permission)) {
            self.inner.decisions.remember(identity, route.identity.key(), p, Decision::Deny).await?;
        }
        let list = |ps: &[Permission]| ps.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        let message = match (&revocation.removed[..], &revocation.narrowed[..]) {
            ([], []) => format!(
                "plugin `{plugin}` held nothing `{permission}` covers; it is refused `{permission}` from now on (host)"
            ),
            (removed, []) if removed == [permission.clone()] => format!("plugin `{plugin}` lost `{permission}` (host)"),
            (removed, []) => format!("plugin `{plugin}` lost {} (host revoked `{permission}`)", list(removed)),
            (removed, broader) => {
                let others: Vec<Permission> = removed.iter().filter(|p| **p != permission).cloned().collect();
                let also = if others.is_empty() { String::new() } else { format!(" and {}", list(&others)) };
                format!(
                    "plugin `{plugin}` lost `{permission}`{also} (host); it keeps {} except `{permission}`",
                    list(broader)
                )
            }
        };
        self.audit(plugin, AuditKind::Revoked { permission, by: "host".into() }, message);
        Ok(())
    }

    /// The exceptions to a loaded plugin's permissions: those revoked while
    /// a broader one it holds still covers them ([`Host::revoke`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`].
    pub fn exceptions(&self, plugin: &str) -> Result<Vec<Permission>, Error> {
        Ok(self.route(plugin)?.grants.exceptions())
    }

    /// The permissions a loaded plugin holds now.
    pub fn permissions(&self, plugin: &str) -> Result<Vec<Permission>, Error> {
        Ok(self.route(plugin)?.grants.list())
    }

    /// Whether a loaded plugin holds a permission covering `permission`.
    pub fn permits(&self, plugin: &str, permission: &Permission) -> bool {
        self.route(plugin).is_ok_and(|r| r.grants.allows(permission))
    }

    /// Lifts a plugin's quarantine: it is restarted fresh (its timers
    /// stopped, its failure and violation counts cleared) and takes
    /// messages again.
    pub async fn lift_quarantine(&self, plugin: &str) -> Result<(), Error> {
        let route = self.route(plugin)?;
        if route.counters.state() != PluginState::Quarantined {
            return Err(Error::NotQuarantined(plugin.to_owned()));
        }
        // Every instance first, so that nothing queued after the lift runs
        // on an instance that has not been restarted.
        let asks = route.actors().into_iter().map(|actor| (actor, PluginMsg::Lift));
        Self::ask_each(plugin, "lifting its quarantine", asks).await
    }
}
