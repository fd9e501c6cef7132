//! The host's remembered permission decisions in the database, filed by
//! plugin name and identity (`docs/security.md`, "Identity").

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use wasp_protocol::WireError;

use super::{Op, Storage};

/// `(plugin, identity key, permission)` → allowed.
const DECISIONS: TableDefinition<(&str, &str, &str), bool> = TableDefinition::new("identity_decisions");
/// plugin → the identity key last loaded under that name.
const IDENTITIES: TableDefinition<&str, &str> = TableDefinition::new("identities");

impl Storage {
    /// The decisions recorded about `plugin` as `identity` (an
    /// [`Identity::key`](crate::Identity::key)): `(permission, allowed)`,
    /// sorted by permission. Decisions about another identity of the same
    /// name are not among them.
    ///
    /// # Errors
    ///
    /// An [`ErrorCode::Unavailable`](wasp_protocol::ErrorCode::Unavailable)
    /// error when the database fails.
    pub fn decisions(&self, plugin: &str, identity: &str) -> Result<Vec<(String, bool)>, WireError> {
        let op = Op::ReadDecisions { plugin };
        self.guarded(op, |db| {
            let txn = db.begin_read().map_err(|e| op.fail(e))?;
            let table = match txn.open_table(DECISIONS) {
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                opened => opened.map_err(|e| op.fail(e))?,
            };
            let mut decisions = Vec::new();
            for entry in table.range((plugin, identity, "")..).map_err(|e| op.fail(e))? {
                let (k, v) = entry.map_err(|e| op.fail(e))?;
                let (owner, of, permission) = k.value();
                if owner != plugin || of != identity {
                    break;
                }
                decisions.push((permission.to_string(), v.value()));
            }
            Ok(decisions)
        })
    }

    /// Records that `permission` (its text, such as `net:example.com`) was
    /// allowed or refused for `plugin` as `identity`, replacing any earlier
    /// decision about that identity.
    ///
    /// # Errors
    ///
    /// An `unavailable` error when the database fails.
    pub fn record_decision(
        &self,
        plugin: &str,
        identity: &str,
        permission: &str,
        allowed: bool,
    ) -> Result<(), WireError> {
        let op = Op::RecordDecision { plugin, permission };
        self.guarded(op, |db| {
            let txn = db.begin_write().map_err(|e| op.fail(e))?;
            {
                let mut table = txn.open_table(DECISIONS).map_err(|e| op.fail(e))?;
                table.insert((plugin, identity, permission), allowed).map_err(|e| op.fail(e))?;
            }
            txn.commit().map_err(|e| op.fail(e))
        })
    }

    /// The identity key last loaded under `plugin`'s name, if any.
    ///
    /// # Errors
    ///
    /// An `unavailable` error when the database fails.
    pub fn identity(&self, plugin: &str) -> Result<Option<String>, WireError> {
        let op = Op::ReadDecisions { plugin };
        self.guarded(op, |db| {
            let txn = db.begin_read().map_err(|e| op.fail(e))?;
            let table = match txn.open_table(IDENTITIES) {
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                opened => opened.map_err(|e| op.fail(e))?,
            };
            Ok(table.get(plugin).map_err(|e| op.fail(e))?.map(|g| g.value().to_owned()))
        })
    }

    /// Records `identity` as the one last loaded under `plugin`'s name.
    ///
    /// # Errors
    ///
    /// An `unavailable` error when the database fails.
    pub fn record_identity(&self, plugin: &str, identity: &str) -> Result<(), WireError> {
        let op = Op::RecordDecision { plugin, permission: "identity" };
        self.guarded(op, |db| {
            let txn = db.begin_write().map_err(|e| op.fail(e))?;
            {
                let mut table = txn.open_table(IDENTITIES).map_err(|e| op.fail(e))?;
                table.insert(plugin, identity).map_err(|e| op.fail(e))?;
            }
            txn.commit().map_err(|e| op.fail(e))
        })
    }

    /// Forgets every decision recorded about `plugin`, under every
    /// identity, and the identity last loaded under its name.
    ///
    /// # Errors
    ///
    /// An `unavailable` error when the database fails.
    pub fn forget_decisions(&self, plugin: &str) -> Result<(), WireError> {
        let op = Op::ForgetDecisions { plugin };
        self.guarded(op, |db| {
            let txn = db.begin_write().map_err(|e| op.fail(e))?;
            {
                let mut table = txn.open_table(DECISIONS).map_err(|e| op.fail(e))?;
                let mut keys = Vec::new();
                for entry in table.range((plugin, "", "")..).map_err(|e| op.fail(e))? {
                    let (k, _) = entry.map_err(|e| op.fail(e))?;
                    let (owner, identity, permission) = k.value();
                    if owner != plugin {
                        break;
                    }
                    keys.push((identity.to_owned(), permission.to_owned()));
                }
                for (identity, permission) in &keys {
                    table.remove((plugin, identity.as_str(), permission.as_str())).map_err(|e| op.fail(e))?;
                }
                let mut identities = txn.open_table(IDENTITIES).map_err(|e| op.fail(e))?;
                identities.remove(plugin).map_err(|e| op.fail(e))?;
            }
            txn.commit().map_err(|e| op.fail(e))
        })
    }
}
