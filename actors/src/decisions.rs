//! Remembered permission decisions, filed by plugin name and identity: in
//! the host's database when it has one, in memory otherwise.
//!
//! A decision belongs to the identity it was made about (`Identity::key`:
//! the code's hash, or the trusted publisher key that signed it). A plugin
//! that loads under a known name with another identity finds none of them:
//! it is asked again. The identity last loaded under each name is kept
//! beside them, so the policy can say what changed.

use parking_lot::Mutex;
use std::collections::HashMap;

use wasp_protocol::Permission;
#[cfg(feature = "storage")]
use wasp_runtime::services::storage::Storage;

use crate::Error;
use crate::policy::Decision;

/// What is remembered about one plugin name, for one identity.
#[derive(Debug, Default)]
pub(crate) struct Recalled {
    /// The decisions made about this identity, by permission text.
    pub(crate) decisions: HashMap<String, Decision>,
    /// The identity key last loaded under this name, if any.
    pub(crate) last_identity: Option<String>,
}

/// The host's remembered decisions.
#[derive(Default)]
pub(crate) struct Decisions {
    #[cfg(feature = "storage")]
    storage: Option<Storage>,
    /// `(plugin, identity key, permission)` → decision, without a database.
    memory: Mutex<HashMap<(String, String, String), Decision>>,
    /// plugin → identity key last loaded, without a database.
    identities: Mutex<HashMap<String, String>>,
}

impl Decisions {
    /// Decisions kept in `storage`, or in memory when there is none.
    #[cfg(feature = "storage")]
    pub(crate) fn new(storage: Option<Storage>) -> Self {
        Self { storage, ..Self::default() }
    }

    /// Everything remembered about `plugin` as `identity`: one read of the
    /// database.
    pub(crate) async fn recall(&self, plugin: &str, identity: &str) -> Result<Recalled, Error> {
        match self.stored() {
            #[cfg(feature = "storage")]
            Some(storage) => {
                let decision = |allowed: bool| if allowed { Decision::Allow } else { Decision::Deny };
                let (plugin, identity) = (plugin.to_owned(), identity.to_owned());
                let (decisions, last_identity) =
                    blocking(move || Ok((storage.decisions(&plugin, &identity)?, storage.identity(&plugin)?))).await?;
                let decisions = decisions.into_iter().map(|(p, allowed)| (p, decision(allowed))).collect();
                Ok(Recalled { decisions, last_identity })
            }
            None => Ok(Recalled {
                decisions: self
                    .memory
                    .lock()
                    .iter()
                    .filter(|((p, i, _), _)| p == plugin && i == identity)
                    .map(|((_, _, text), d)| (text.clone(), *d))
                    .collect(),
                last_identity: self.identities.lock().get(plugin).cloned(),
            }),
        }
    }

    /// Remembers a decision about `plugin` as `identity`.
    pub(crate) async fn remember(
        &self,
        plugin: &str,
        identity: &str,
        permission: &Permission,
        decision: Decision,
    ) -> Result<(), Error> {
        let text = permission.to_string();
        match self.stored() {
            #[cfg(feature = "storage")]
            Some(storage) => {
                let (plugin, identity) = (plugin.to_owned(), identity.to_owned());
                let allowed = decision == Decision::Allow;
                blocking(move || storage.record_decision(&plugin, &identity, &text, allowed)).await
            }
            None => {
                self.memory.lock().insert((plugin.to_owned(), identity.to_owned(), text), decision);
                Ok(())
            }
        }
    }

    /// Records `identity` as the one last loaded under `plugin`.
    pub(crate) async fn loaded(&self, plugin: &str, identity: &str) -> Result<(), Error> {
        match self.stored() {
            #[cfg(feature = "storage")]
            Some(storage) => {
                let (plugin, identity) = (plugin.to_owned(), identity.to_owned());
                blocking(move || storage.record_identity(&plugin, &identity)).await
            }
            None => {
                self.identities.lock().insert(plugin.to_owned(), identity.to_owned());
                Ok(())
            }
        }
    }

    /// Forgets every decision about `plugin`, under every identity, and
    /// the identity last loaded.
    pub(crate) async fn forget(&self, plugin: &str) -> Result<(), Error> {
        match self.stored() {
            #[cfg(feature = "storage")]
            Some(storage) => {
                let plugin = plugin.to_owned();
                blocking(move || storage.forget_decisions(&plugin)).await
            }
            None => {
                self.memory.lock().retain(|(p, _, _), _| p != plugin);
                self.identities.lock().remove(plugin);
                Ok(())
            }
        }
    }
}

impl Decisions {
    /// The database the decisions are kept in, if any (never without the
    /// `storage` feature: decisions then live in memory only).
    #[cfg(feature = "storage")]
    fn stored(&self) -> Option<Storage> {
        self.storage.clone()
    }

    #[cfg(not(feature = "storage"))]
    fn stored(&self) -> Option<std::convert::Infallible> {
        None
    }
}

/// Runs a database call off the async workers.
#[cfg(feature = "storage")]
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, wasp_protocol::WireError> + Send + 'static,
) -> Result<T, Error> {
    Ok(tokio::task::spawn_blocking(call).await.map_err(|e| Error::Actor(format!("storage task failed: {e}")))??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decisions_belong_to_the_identity_they_were_made_about() {
        #[cfg(feature = "storage")]
        let dir = tempfile::tempdir().unwrap();
        #[cfg(feature = "storage")]
        let stored = Decisions::new(Some(Storage::open(&dir.path().join("wasp.redb")).unwrap()));
        #[cfg(feature = "storage")]
        let all = [Decisions::default(), stored];
        #[cfg(not(feature = "storage"))]
        let all = [Decisions::default()];
        for decisions in all {
            let storage: Permission = "storage".parse().unwrap();
            decisions.remember("notes", "blake3:aa", &storage, Decision::Allow).await.unwrap();
            decisions.loaded("notes", "blake3:aa").await.unwrap();
            let same = decisions.recall("notes", "blake3:aa").await.unwrap();
            assert_eq!(same.decisions.get("storage"), Some(&Decision::Allow));
            let other = decisions.recall("notes", "blake3:bb").await.unwrap();
            assert!(other.decisions.is_empty());
            assert_eq!(other.last_identity.as_deref(), Some("blake3:aa"));
            assert!(decisions.recall("other", "blake3:aa").await.unwrap().decisions.is_empty());
            decisions.forget("notes").await.unwrap();
            let forgotten = decisions.recall("notes", "blake3:aa").await.unwrap();
            assert!(forgotten.decisions.is_empty() && forgotten.last_identity.is_none());
        }
    }
}
