//! [`KvConfigManager`]: the NameServer's namespace → key → value store (docs/protocol/namesrv.md §7),
//! optionally persisted to a JSON file in Java's `kvConfig.json` format
//! (`{"configTable":{"<namespace>":{"<key>":"<value>"}}}`), so a Java NameServer's file can be
//! reused.
//!
//! Writes go to a temporary file next to the target, which is then renamed over it: a crash
//! leaves either the old or the new file, never a torn one.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};

use rocketmq_rs_remoting::util::{MutexExt, RwLockExt};

use crate::error::{Error, Result};

/// The namespace whose keys are topics and whose values are `orderTopicConf` strings
/// (`"brokerA:4;brokerB:4"`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

type Table = HashMap<String, HashMap<String, String>>;

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FileFormat {
    #[serde(default)]
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

/// The KV config store.
///
/// ```
/// use rocketmq_rs_mini_namesrv::kv_config::KvConfigManager;
///
/// let kv = KvConfigManager::in_memory();
/// kv.put("ns", "k", "v");
/// assert_eq!(kv.get("ns", "k").as_deref(), Some("v"));
/// assert_eq!(kv.list("ns").unwrap().get("k").map(String::as_str), Some("v"));
/// kv.delete("ns", "k");
/// assert_eq!(kv.get("ns", "k"), None);
/// assert!(kv.list("ns").unwrap().is_empty(), "the namespace stays, empty, as in Java");
/// assert!(kv.list("other").is_none());
/// ```
#[derive(Debug)]
pub struct KvConfigManager {
    table: RwLock<Table>,
    path: Option<PathBuf>,
    /// Serializes file writes so that an older snapshot never overwrites a newer one.
    persist_lock: Mutex<()>,
}

impl KvConfigManager {
    /// A store that is never persisted.
    pub fn in_memory() -> Self {
        KvConfigManager {
            table: RwLock::default(),
            path: None,
            persist_lock: Mutex::new(()),
        }
    }

    /// A store persisted at `path`, loaded from it if it exists. A file that exists but cannot
    /// be parsed is an error (it is not overwritten).
    pub fn load(path: &Path) -> Result<Self> {
        let mut table = Table::new();
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => {
                let file: FileFormat = serde_json::from_str(&text).map_err(|e| Error::Parse {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                for (ns, kv) in file.config_table {
                    table.insert(ns, kv.into_iter().collect());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::File {
                    op: "read",
                    path: path.to_owned(),
                    source,
                })
            }
        }
        Ok(KvConfigManager {
            table: RwLock::new(table),
            path: Some(path.to_owned()),
            persist_lock: Mutex::new(()),
        })
    }

    /// The file this store is persisted to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        // Every critical section is a single map operation: a poisoned lock is still consistent.
        self.table.read_unpoisoned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write_unpoisoned()
    }

    /// Sets a value in memory; call [`persist`](Self::persist) to save it. Returns the previous
    /// value.
    pub fn put(&self, namespace: &str, key: &str, value: &str) -> Option<String> {
        self.write()
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned())
    }

    /// A value.
    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.read().get(namespace).and_then(|t| t.get(key).cloned())
    }

    /// Removes a value in memory; call [`persist`](Self::persist) to save. The namespace stays
    /// (possibly empty), as in Java. Returns the removed value.
    pub fn delete(&self, namespace: &str, key: &str) -> Option<String> {
        self.write().get_mut(namespace).and_then(|t| t.remove(key))
    }

    /// Every key of a namespace, sorted; `None` when the namespace was never written.
    pub fn list(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.read()
            .get(namespace)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Writes the current content to the file (no-op for an in-memory store). Blocking: call it
    /// off the async executor.
    pub fn persist(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let _guard = self.persist_lock.lock_unpoisoned();
        let snapshot = FileFormat {
            config_table: self
                .read()
                .iter()
                .map(|(ns, kv)| {
                    (
                        ns.clone(),
                        kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    )
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&snapshot).map_err(|e| Error::Parse {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(path, &json)
    }
}

/// Writes `data` to a sibling temporary file, syncs it, and renames it over `path`.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::File {
        op: "create directory",
        path: dir.clone(),
        source,
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::File {
            op: "write",
            path: tmp,
            source,
        });
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::File {
            op: "rename",
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads_in_java_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kvConfig.json");
        let kv = KvConfigManager::load(&path).unwrap();
        kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "T", "a:4;b:4");
        kv.put("ns", "k", "v");
        kv.persist().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["configTable"]["ORDER_TOPIC_CONFIG"]["T"], "a:4;b:4");

        let again = KvConfigManager::load(&path).unwrap();
        assert_eq!(again.get("ns", "k").as_deref(), Some("v"));
        assert_eq!(again.delete("ns", "k").as_deref(), Some("v"));
        again.persist().unwrap();
        let third = KvConfigManager::load(&path).unwrap();
        assert_eq!(third.get("ns", "k"), None);
        assert!(third.list("ns").unwrap().is_empty());
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_file_is_an_error_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.json");
        std::fs::write(&path, "{broken").unwrap();
        assert!(matches!(
            KvConfigManager::load(&path),
            Err(Error::Parse { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{broken");
    }

    #[test]
    fn java_file_with_extra_members_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.json");
        std::fs::write(
            &path,
            r#"{"configTable":{"ns":{"a":"1"}},"dataVersion":{"counter":1}}"#,
        )
        .unwrap();
        let kv = KvConfigManager::load(&path).unwrap();
        assert_eq!(kv.get("ns", "a").as_deref(), Some("1"));
    }
}
