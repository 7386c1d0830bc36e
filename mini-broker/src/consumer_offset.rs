//! Consumer offsets ([`ConsumerOffsetManager`]): `topic@group` → queue → next offset to
//! consume, persisted atomically to `config/consumerOffset.json` in Java's format.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use rocketmq_rs_remoting::util::MutexExt;

use crate::error::{BrokerError, Result};
use crate::store::{read_optional, write_atomic};

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OffsetFile {
    #[serde(default)]
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// Committed consumer offsets. Updates are in memory; [`persist`](Self::persist) writes the
/// table when it changed since the last write.
pub struct ConsumerOffsetManager {
    table: Mutex<HashMap<String, BTreeMap<i32, i64>>>,
    path: PathBuf,
    /// Bumped by every update; `persisted` holds the value last written.
    version: AtomicU64,
    persisted: Mutex<u64>,
}

impl std::fmt::Debug for ConsumerOffsetManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerOffsetManager")
            .field("path", &self.path)
            .finish()
    }
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl ConsumerOffsetManager {
    /// Loads `path` if it exists. Blocking.
    pub fn load(path: PathBuf) -> Result<Self> {
        let table = match read_optional(&path)? {
            Some(b) => {
                let f: OffsetFile =
                    serde_json::from_slice(&b).map_err(|e| BrokerError::Metadata {
                        path: path.clone(),
                        msg: e.to_string(),
                    })?;
                f.offset_table.into_iter().collect()
            }
            None => HashMap::new(),
        };
        Ok(ConsumerOffsetManager {
            table: Mutex::new(table),
            path,
            version: AtomicU64::new(0),
            persisted: Mutex::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<i32, i64>>> {
        self.table.lock_unpoisoned()
    }

    /// Stored offset of (group, topic, queue).
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.lock().get(&key(topic, group))?.get(&queue_id).copied()
    }

    /// Records `offset` as the next offset to consume.
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let mut t = self.lock();
        let e = t.entry(key(topic, group)).or_default();
        if e.insert(queue_id, offset) != Some(offset) {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The whole table, `topic@group` → queue → offset (GET_ALL_CONSUMER_OFFSET).
    pub fn all(&self) -> BTreeMap<String, BTreeMap<i32, i64>> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Replaces the whole table with a master's (slave metadata copy); persisted by the next
    /// [`persist`](Self::persist) when it differs.
    pub fn replace_all(&self, table: BTreeMap<String, BTreeMap<i32, i64>>) {
        let mut t = self.lock();
        let same = t.len() == table.len() && table.iter().all(|(k, v)| t.get(k) == Some(v));
        if !same {
            *t = table.into_iter().collect();
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Forgets every offset of `topic`.
    pub fn remove_topic(&self, topic: &str) {
        let prefix = format!("{topic}@");
        let mut t = self.lock();
        let before = t.len();
        t.retain(|k, _| !k.starts_with(&prefix));
        if t.len() != before {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Forgets every offset of consumer `group` (DELETE_SUBSCRIPTIONGROUP with `cleanOffset`).
    pub fn remove_group(&self, group: &str) {
        let suffix = format!("@{group}");
        let mut t = self.lock();
        let before = t.len();
        t.retain(|k, _| !k.ends_with(&suffix));
        if t.len() != before {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Topics `group` has committed offsets for (QUERY_TOPICS_BY_CONSUMER, GET_CONSUME_STATS).
    pub fn topics_of_group(&self, group: &str) -> std::collections::BTreeSet<String> {
        self.lock()
            .keys()
            .filter_map(|k| k.rsplit_once('@'))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_string())
            .collect()
    }

    /// Groups with committed offsets for `topic` (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn groups_of_topic(&self, topic: &str) -> std::collections::BTreeSet<String> {
        self.lock()
            .keys()
            .filter_map(|k| k.split_once('@'))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_string())
            .collect()
    }

    /// Writes the table if it changed since the last write. Blocking.
    pub fn persist(&self) -> Result<()> {
        let mut persisted = self.persisted.lock_unpoisoned();
        let v = self.version.load(Ordering::Acquire);
        if v == *persisted {
            return Ok(());
        }
        let file = OffsetFile {
            offset_table: self
                .lock()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| BrokerError::Metadata {
            path: self.path.clone(),
            msg: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::Metadata {
                path: dir.to_path_buf(),
                msg: e.to_string(),
            })?;
        }
        write_atomic(&self.path, &bytes)?;
        *persisted = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config").join("consumerOffset.json");
        let m = ConsumerOffsetManager::load(p.clone()).unwrap();
        m.commit("g", "T", 1, 42);
        m.persist().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"T@g\""), "{text}");
        let m = ConsumerOffsetManager::load(p).unwrap();
        assert_eq!(m.query("g", "T", 1), Some(42));
        assert_eq!(m.query("g", "T", 0), None);
    }

    #[test]
    fn by_group_and_topic() {
        let dir = tempfile::tempdir().unwrap();
        let m = ConsumerOffsetManager::load(dir.path().join("o.json")).unwrap();
        m.commit("g1", "T1", 0, 1);
        m.commit("g1", "T2", 0, 1);
        m.commit("g2", "T1", 0, 1);
        m.commit("g10", "T1", 0, 1);
        assert_eq!(
            m.topics_of_group("g1").into_iter().collect::<Vec<_>>(),
            ["T1", "T2"]
        );
        assert_eq!(
            m.groups_of_topic("T1").into_iter().collect::<Vec<_>>(),
            ["g1", "g10", "g2"]
        );
        m.remove_group("g1");
        assert!(m.topics_of_group("g1").is_empty());
        assert_eq!(m.query("g10", "T1", 0), Some(1));
    }
}
