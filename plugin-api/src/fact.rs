//! The facts the steps of a run pass on (`leader_ip`, `reset_index`, ...): typed keys over the
//! JSON the journal keeps. Re-exported from [`crate::step`], where they were until 1.7.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::PluginError;

/// The name and type of a fact: `facts.require(&LEADER_IP)` is a `String`, checked once here
/// instead of `facts["leader_ip"].as_str()` at every use.
pub struct FactKey<T> {
    name: &'static str,
    kind: PhantomData<fn() -> T>,
}

impl<T> FactKey<T> {
    /// The key of the fact `name`.
    pub const fn new(name: &'static str) -> Self {
        FactKey {
            name,
            kind: PhantomData,
        }
    }

    /// The fact's name in the journal.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// The facts of the Mesh workflows that steps of other plugins may read.
pub mod facts {
    use super::FactKey;

    /// The Mesh leader's address (find-leader).
    pub const LEADER_IP: FactKey<String> = FactKey::new("leader_ip");
    /// The address this host's service-discover is set up on (check-on-leader, node-preflight).
    pub const SETUP_IP: FactKey<String> = FactKey::new("setup_ip");
    /// Consul's ACL bootstrap reset index (read-reset-index).
    pub const RESET_INDEX: FactKey<u64> = FactKey::new("reset_index");
    /// The reset file written into Consul's data directory (write-reset-file).
    pub const RESET_FILE: FactKey<String> = FactKey::new("reset_file");
    /// How many Mesh servers and agents Consul listed before anything changed (preflight).
    pub const SERVERS: FactKey<u64> = FactKey::new("servers");
    /// How many agents Consul listed before anything changed (preflight).
    pub const AGENTS: FactKey<u64> = FactKey::new("agents");
    /// The AccessorID of the bootstrap token before the run (preflight), of a token the run's
    /// own bootstrap made (read-reset-index), and of the new one (verify).
    pub const OLD_ACCESSOR: FactKey<String> = FactKey::new("old_accessor");
    /// The AccessorID of a token the run's own bootstrap made (read-reset-index).
    pub const INTERIM_ACCESSOR: FactKey<String> = FactKey::new("interim_accessor");
    /// The AccessorID of the new bootstrap token (verify).
    pub const NEW_ACCESSOR: FactKey<String> = FactKey::new("new_accessor");
    /// The file a node's new archive comes from (`secret rejoin --archive FILE`).
    pub const ARCHIVE_FILE: FactKey<String> = FactKey::new("archive_file");
}

/// A fact is there but not of its key's type.
#[derive(Debug, thiserror::Error)]
#[error("fact '{name}' is not what it should be: {source}")]
pub struct FactError {
    /// The fact's name.
    pub name: &'static str,
    /// Why its value does not decode.
    pub source: serde_json::Error,
}

impl From<FactError> for PluginError {
    fn from(error: FactError) -> Self {
        PluginError::operation(error.to_string())
            .hint("the run's journal was changed or written by another version: start a new run")
    }
}

/// What the steps of a run learnt, by name; kept in the journal, so never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Facts(BTreeMap<String, Value>);

impl Facts {
    /// No facts.
    pub fn new() -> Self {
        Facts::default()
    }

    /// The fact, if a step recorded it.
    pub fn get<T: DeserializeOwned>(&self, key: &FactKey<T>) -> Result<Option<T>, FactError> {
        self.0
            .get(key.name)
            .map(|value| {
                T::deserialize(value).map_err(|source| FactError {
                    name: key.name,
                    source,
                })
            })
            .transpose()
    }

    /// The fact an earlier step must have recorded; its absence says how to go on.
    pub fn require<T: DeserializeOwned>(&self, key: &FactKey<T>) -> Result<T, PluginError> {
        self.get(key)?.ok_or_else(|| {
            PluginError::operation(format!(
                "the journal has no '{}' from an earlier step",
                key.name
            ))
            .hint("run the workflow from its start (`carbonio-mesh secret plan` shows which step provides it)")
        })
    }

    /// Records `value` under `key`.
    pub fn set<T: Serialize>(&mut self, key: &FactKey<T>, value: &T) {
        // A fact type that cannot be JSON is a programming error caught by the first test.
        let value = serde_json::to_value(value).expect("a fact is JSON");
        self.0.insert(key.name.to_owned(), value);
    }

    /// Records a fact of a site command, by the name it was declared with (`provides`).
    pub fn set_raw(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_owned(), value);
    }

    /// Whether a fact `name` was recorded.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Adds `other`'s facts (theirs win).
    pub fn extend(&mut self, other: Facts) {
        self.0.extend(other.0);
    }

    /// A fact as text, for a command's `{NAME}`: a string as it is, a number or boolean
    /// written out; `None` for anything else.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(text) => Some(text.clone()),
            value @ (Value::Number(_) | Value::Bool(_)) => Some(value.to_string()),
            _ => None,
        }
    }

    /// The names of the facts recorded.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether no fact was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_are_read_by_their_typed_key() {
        let mut facts = Facts::new();
        facts.set(&facts::RESET_INDEX, &908);
        facts.set(&facts::LEADER_IP, &"10.0.0.1".to_owned());
        assert_eq!(facts.get(&facts::RESET_INDEX).unwrap(), Some(908));
        assert_eq!(facts.require(&facts::LEADER_IP).unwrap(), "10.0.0.1");
        let missing = facts.require(&facts::SETUP_IP).unwrap_err();
        assert!(
            missing.message.contains("'setup_ip'"),
            "{}",
            missing.message
        );
        // A fact of the wrong type is named, not read as a default.
        facts.set_raw("reset_index", json!("nine hundred"));
        let wrong = facts.get(&facts::RESET_INDEX).unwrap_err();
        assert_eq!(wrong.name, "reset_index");
    }
}
