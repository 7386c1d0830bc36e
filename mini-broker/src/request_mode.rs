//! The per group+topic consume mode ([`MessageRequestModeManager`]): what SET_MESSAGE_REQUEST_MODE
//! (`mqadmin setConsumeMode`) set, persisted to `config/messageRequestMode.json` in Apache's
//! format (`{"messageRequestModeMap":{topic:{group:{…}}}}`), and what QUERY_ASSIGNMENT
//! answers push consumers that let the broker decide (docs/protocol/pop.md §10).
//!
//! ```
//! use rocketmq_rs_mini_broker::request_mode::MessageRequestModeManager;
//! use rocketmq_rs_remoting::protocol::body::{MessageRequestMode, SetMessageRequestModeRequestBody};
//! let dir = std::env::temp_dir().join(format!("mode-doc-{}", std::process::id()));
//! let m = MessageRequestModeManager::load(dir.join("messageRequestMode.json")).unwrap();
//! let mut body = SetMessageRequestModeRequestBody::default();
//! (body.topic, body.consumer_group, body.mode) = ("T".into(), "G".into(), MessageRequestMode::Pop);
//! m.set(body);
//! m.persist().unwrap();
//! let again = MessageRequestModeManager::load(dir.join("messageRequestMode.json")).unwrap();
//! assert_eq!(again.get("T", "G").unwrap().mode, MessageRequestMode::Pop);
//! # std::fs::remove_dir_all(dir).ok();
//! ```

use std::path::PathBuf;
use std::sync::RwLock;

use rocketmq_rs_remoting::protocol::body::{
    JsonBody, MessageRequestModeSerializeWrapper, SetMessageRequestModeRequestBody,
};

use crate::error::{BrokerError, Result};
use crate::store::{read_optional, write_atomic};

/// Topic → group → consume mode, kept in memory and written to one JSON file.
#[derive(Debug)]
pub struct MessageRequestModeManager {
    path: PathBuf,
    table: RwLock<MessageRequestModeSerializeWrapper>,
}

impl MessageRequestModeManager {
    /// Reads `path` (a missing file is an empty table). Blocking.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Metadata`] when the file cannot be read or is not the JSON above.
    pub fn load(path: PathBuf) -> Result<Self> {
        let table = match read_optional(&path)? {
            Some(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                MessageRequestModeSerializeWrapper::from_json(&bytes).map_err(|e| {
                    BrokerError::Metadata {
                        path: path.clone(),
                        msg: e.to_string(),
                    }
                })?
            }
            _ => MessageRequestModeSerializeWrapper::default(),
        };
        Ok(MessageRequestModeManager {
            path,
            table: RwLock::new(table),
        })
    }

    /// The mode set for `group` on `topic`, if any.
    pub fn get(&self, topic: &str, group: &str) -> Option<SetMessageRequestModeRequestBody> {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        t.message_request_mode_map
            .get(topic)
            .and_then(|g| g.get(group))
            .cloned()
    }

    /// Records `body` for its group and topic (in memory; [`persist`](Self::persist) writes).
    pub fn set(&self, body: SetMessageRequestModeRequestBody) {
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        t.message_request_mode_map
            .entry(body.topic.clone())
            .or_default()
            .insert(body.consumer_group.clone(), body);
    }

    /// Replaces the whole table (a slave copying its master's); `true` when it changed.
    pub fn replace_all(&self, table: MessageRequestModeSerializeWrapper) -> bool {
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        if *t == table {
            return false;
        }
        *t = table;
        true
    }

    /// The whole table (GET_ALL_MESSAGE_REQUEST_MODE).
    pub fn wrapper(&self) -> MessageRequestModeSerializeWrapper {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the table (atomically: a crash leaves the old or the new file). Blocking.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Metadata`] or an I/O error of the write.
    pub fn persist(&self) -> Result<()> {
        let bytes = self.wrapper().to_json();
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::Metadata {
                path: dir.to_path_buf(),
                msg: e.to_string(),
            })?;
        }
        Ok(write_atomic(&self.path, &bytes)?)
    }
}
