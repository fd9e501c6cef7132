//! The host's permission policy: which requested permissions a plugin gets.

use std::future::Future;
use std::sync::Arc;

use wasp_protocol::{MAX_NAME_LEN, Permission};
use wasp_runtime::BoxFuture;
use wasp_runtime::signature::PublisherKey;

use crate::Error;

/// The answer to a permission question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Grant it.
    Allow,
    /// Refuse it.
    Deny,
}

/// A question for the [`Policy::ask`] callback: may `plugin` have `permission`?
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AskRequest {
    /// The plugin asking.
    pub plugin: String,
    /// Its version, from the manifest.
    pub version: String,
    /// What it asks for.
    pub permission: Permission,
    /// The manifest's description of the plugin, if any.
    pub description: Option<String>,
    /// Who the plugin is: the key its decisions are remembered under —
    /// `blake3:` and the hash of its code, or `ed25519:` and the trusted
    /// publisher key that signed its bundle ([`Identity::key`](wasp_runtime::Identity::key)).
    pub identity: String,
    /// The trusted publisher key that signed the plugin's bundle, if one did.
    pub publisher: Option<String>,
    /// When a plugin of this name loaded before as someone else — its code
    /// changed, and no trusted publisher vouches for the change — the
    /// identity it had then: earlier answers were about that code, not
    /// this one. A prompt says so ("`notes` changed since you allowed it").
    pub previous_identity: Option<String>,
}

/// What the host does when a plugin loads under a name it knows, with
/// another identity than last time (another module, library or set of
/// components, not signed by a trusted publisher that signed the last):
/// [`Policy::on_changed_identity`]. Either way the change is audited
/// ([`AuditKind::IdentityChanged`](wasp_runtime::AuditKind::IdentityChanged)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityChange {
    /// The decisions remembered about the old identity do not apply: each
    /// requested permission is decided afresh — rules, then the `ask`
    /// callback, which is told both identities. The default.
    #[default]
    AskAgain,
    /// The plugin is refused at load ([`Error::IdentityChanged`]) until the
    /// host forgets what it remembers about it
    /// ([`Host::forget_decisions`](crate::Host::forget_decisions)).
    Refuse,
}

type AskFn = Arc<dyn Fn(AskRequest) -> BoxFuture<Option<Decision>> + Send + Sync>;

#[derive(Debug, Clone)]
struct Rule {
    decision: Decision,
    /// A plugin name, or a prefix ending in `*`.
    plugin: String,
    /// `None`: any permission.
    permission: Option<Permission>,
}

impl Rule {
    fn matches(&self, plugin: &str, wanted: &Permission) -> bool {
        self.matches_plugin(plugin) && self.permission.as_ref().is_none_or(|p| p.covers(wanted))
    }

    fn matches_plugin(&self, plugin: &str) -> bool {
        match self.plugin.strip_suffix('*') {
            Some(prefix) => plugin.starts_with(prefix),
            None => self.plugin == plugin,
        }
    }
}

/// Decides which of the permissions a plugin's manifest requests it gets.
///
/// Everything is denied unless a rule or an answer allows it. For each
/// requested permission, in order:
///
/// 1. an explicit [`deny`](Policy::deny) rule that covers it refuses it;
/// 2. a decision remembered from an earlier [`ask`](Policy::ask) answer or a
///    run-time [`Host::grant`](crate::Host::grant) /
///    [`Host::revoke`](crate::Host::revoke) applies (remembered in the
///    host's database when it has a [data
///    directory](crate::HostBuilder::data_dir), so across restarts) — if
///    it was made about the same identity: the same code, or a bundle
///    signed by the same [trusted publisher](Policy::trust_publisher)
///    ([`IdentityChange`] says what happens otherwise);
/// 3. an [`allow`](Policy::allow) rule that covers it grants it;
/// 4. the `ask` callback, if set, decides, and its answer is remembered;
/// 5. otherwise it is refused.
///
/// A plugin only ever gets what it requested: rules say which requests to
/// honour, they do not add permissions. A `deny` rule narrower than a
/// granted permission makes an exception to it (`request:*` granted with
/// `request:secret*` denied allows every request but those), except for
/// directories, which are granted whole: the broader directory is refused.
///
/// ```
/// use wasp_actors::{Decision, Policy};
/// let policy = Policy::new()
///     .allow("notes", "storage")?
///     .allow("*", "publish:ui.*")?
///     .deny("untrusted-*", "*")?
///     .ask(|question| async move {
///         // A Tauri app would show a dialog here.
///         if question.permission.kind() == "net" { Decision::Deny } else { Decision::Allow }
///     });
/// # let _ = policy;
/// # Ok::<(), wasp_actors::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
    ask: Option<AskFn>,
    /// Publisher keys whose signed plugins are known by the key.
    publishers: Vec<PublisherKey>,
    /// Whether unsigned plugins (or plugins signed by other keys) are refused.
    require_signatures: bool,
    on_changed_identity: IdentityChange,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rules", &self.rules)
            .field("ask", &self.ask.is_some())
            .field("publishers", &self.publishers)
            .field("require_signatures", &self.require_signatures)
            .field("on_changed_identity", &self.on_changed_identity)
            .finish()
    }
}

fn parse_rule(decision: Decision, plugin: &str, permission: &str) -> Result<Rule, Error> {
    let body = plugin.strip_suffix('*').unwrap_or(plugin);
    let valid_plugin = !plugin.is_empty()
        && body.len() <= MAX_NAME_LEN
        && body.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'));
    if !valid_plugin {
        return Err(Error::InvalidName {
            name: plugin.to_owned(),
            reason: "a policy rule names a plugin, or a prefix ending in `*`".into(),
        });
    }
    let permission = match permission {
        "*" => None,
        text => Some(text.parse::<Permission>()?),
    };
    Ok(Rule { decision, plugin: plugin.to_owned(), permission })
}

impl Policy {
    /// A policy that denies everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants requests of plugins matching `plugin` (a name, or a prefix
    /// ending in `*`) for permissions covered by `permission` (a permission,
    /// or `*` for any).
    pub fn allow(mut self, plugin: &str, permission: &str) -> Result<Self, Error> {
        self.rules.push(parse_rule(Decision::Allow, plugin, permission)?);
        Ok(self)
    }

    /// Refuses such requests, whatever else says. Denials win over allow
    /// rules and remembered answers.
    pub fn deny(mut self, plugin: &str, permission: &str) -> Result<Self, Error> {
        self.rules.push(parse_rule(Decision::Deny, plugin, permission)?);
        Ok(self)
    }

    /// Grants every request of plugins matching `plugin`: for plugins the
    /// app ships itself.
    pub fn trust(mut self, plugin: &str) -> Result<Self, Error> {
        self.rules.push(parse_rule(Decision::Allow, plugin, "*")?);
        Ok(self)
    }

    /// Asks `ask` about requests no rule and no remembered answer decides.
    /// Its answers are remembered.
    pub fn ask<F, Fut>(mut self, ask: F) -> Self
    where
        F: Fn(AskRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        let ask = Arc::new(ask);
        self.ask = Some(Arc::new(move |q| {
            let answer = ask(q);
            Box::pin(async move { Some(answer.await) })
        }));
        self
    }

    /// Like [`Policy::ask`], for askers that may get no answer (a prompt
    /// nobody clicked before it timed out): `None` denies the permission
    /// this time without remembering it, so the plugin asks again at its
    /// next load.
    pub fn ask_or_skip<F, Fut>(mut self, ask: F) -> Self
    where
        F: Fn(AskRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Decision>> + Send + 'static,
    {
        self.ask = Some(Arc::new(move |q| Box::pin(ask(q))));
        self
    }

    /// Trusts the publisher key `key` (`ed25519:` and 64 hex digits): a
    /// plugin whose bundle it signed is known by the key rather than by its
    /// code, so its remembered decisions carry over to the publisher's next
    /// release (`docs/security.md`, "Identity"). A bundle whose signature
    /// does not match is refused whatever the policy.
    ///
    /// ```
    /// use wasp_actors::Policy;
    /// let key = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    /// let policy = Policy::new().trust_publisher(key)?.require_signatures(true);
    /// # let _ = policy;
    /// assert!(Policy::new().trust_publisher("ed25519:00").is_err());
    /// # Ok::<(), wasp_actors::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] when `key` is not a publisher key.
    pub fn trust_publisher(mut self, key: &str) -> Result<Self, Error> {
        let key = key.parse::<PublisherKey>().map_err(|e| Error::Signature {
            plugin: String::new(),
            code: wasp_protocol::ErrorCode::InvalidArgument,
            detail: e.to_string(),
        })?;
        if !self.publishers.contains(&key) {
            self.publishers.push(key);
        }
        Ok(self)
    }

    /// Refuses every plugin not signed by a [trusted
    /// publisher](Policy::trust_publisher): unsigned bundles, bundles
    /// signed by other keys, and plugins loaded from bytes or a manifest
    /// value (nothing to check a signature against). In-process plugins,
    /// the application's own code, are not concerned. Off by default.
    pub fn require_signatures(mut self, required: bool) -> Self {
        self.require_signatures = required;
        self
    }

    /// What happens when a plugin loads under a known name with another
    /// identity ([`IdentityChange`]; by default it is asked about again).
    pub fn on_changed_identity(mut self, what: IdentityChange) -> Self {
        self.on_changed_identity = what;
        self
    }

    pub(crate) fn trusts(&self, key: &PublisherKey) -> bool {
        self.publishers.contains(key)
    }

    pub(crate) fn requires_signatures(&self) -> bool {
        self.require_signatures
    }

    pub(crate) fn identity_change(&self) -> IdentityChange {
        self.on_changed_identity
    }

    /// What the rules say about `wanted` for `plugin`: an explicit denial
    /// wins over any allow rule; `None` when no rule covers it.
    pub(crate) fn rule(&self, plugin: &str, wanted: &Permission) -> Option<Decision> {
        let matching = |d: Decision| self.rules.iter().any(|r| r.decision == d && r.matches(plugin, wanted));
        if matching(Decision::Deny) {
            Some(Decision::Deny)
        } else if matching(Decision::Allow) {
            Some(Decision::Allow)
        } else {
            None
        }
    }

    /// The permissions `deny` rules refuse `plugin` (not the rules denying
    /// it everything): at load, those narrower than a granted permission
    /// become exceptions to it.
    pub(crate) fn denials(&self, plugin: &str) -> Vec<Permission> {
        self.rules
            .iter()
            .filter(|r| r.decision == Decision::Deny && r.matches_plugin(plugin))
            .filter_map(|r| r.permission.clone())
            .collect()
    }

    /// `None` when nobody is asked; `Some(None)` when nobody answered.
    pub(crate) async fn ask_about(&self, question: AskRequest) -> Option<Option<Decision>> {
        let ask = self.ask.clone()?;
        Some(ask(question).await)
    }
}
