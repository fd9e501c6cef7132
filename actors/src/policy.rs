//! The host's permission policy: which requested permissions a plugin gets.

use std::future::Future;
use std::sync::Arc;

use wasp_protocol::{MAX_NAME_LEN, Permission};
use wasp_runtime::BoxFuture;

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
///    directory](crate::HostBuilder::data_dir), so across restarts);
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
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("rules", &self.rules).field("ask", &self.ask.is_some()).finish()
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
