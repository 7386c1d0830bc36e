//! The broker's topic table ([`TopicConfigManager`]): `TBW102`, system topics, auto-creation
//! on send, retry/DLQ topics, persisted atomically to `config/topics.json` (Java's format).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::protocol::body::{
    DataVersion, JsonBody, TopicConfig, TopicConfigSerializeWrapper,
};
use rocketmq_rs_remoting::rt::{self, Runtime};
use rocketmq_rs_remoting::util::{now_ms, MutexExt};

use crate::error::{BrokerError, Result};
use crate::namesrv_registration::TopicsChanged;
use crate::store::{read_optional, write_atomic, SCHEDULE_TOPIC};

/// Permission bit: readable.
pub const PERM_READ: i32 = 4;
/// Permission bit: writable.
pub const PERM_WRITE: i32 = 2;
/// Permission bit: new topics may be auto-created from this one.
pub const PERM_INHERIT: i32 = 1;
/// The auto-creation template topic.
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
/// Topic of 5.x arbitrary-delivery-time (timer) messages while they wait.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// Prefix of retry topics.
pub const RETRY_PREFIX: &str = rocketmq_rs_remoting::protocol::topic::RETRY_GROUP_TOPIC_PREFIX;
/// Prefix of dead-letter topics.
pub const DLQ_PREFIX: &str = rocketmq_rs_remoting::protocol::topic::DLQ_GROUP_TOPIC_PREFIX;

/// Topics clients may not send to directly (docs/protocol/send.md §1).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    SCHEDULE_TOPIC,
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
    TIMER_TOPIC,
];

/// Whether `topic` is a legal topic name: non-blank, `[%|a-zA-Z0-9_-]`, at most 127 bytes
/// (255 for retry/DLQ topics); the one rule clients and the store apply too
/// ([`rocketmq_rs_remoting::protocol::topic::validate_topic`]).
///
/// ```
/// use rocketmq_rs_mini_broker::topic_config::valid_topic_name;
/// assert!(valid_topic_name("TopicTest"));
/// assert!(!valid_topic_name("bad topic"));
/// assert!(!valid_topic_name(""));
/// ```
pub fn valid_topic_name(topic: &str) -> bool {
    rocketmq_rs_remoting::protocol::topic::is_valid_topic(topic)
}

/// The broker's answer to an illegal topic name, `None` for a legal one: `INVALID_PARAMETER`
/// with the remark a 5.x broker gives for the rule the name breaks.
pub(crate) fn invalid_topic_reply(topic: &str) -> Option<rocketmq_rs_remoting::RemotingCommand> {
    use rocketmq_rs_remoting::protocol::topic::{validate_topic, NameError};
    let remark = match validate_topic(topic).err()? {
        NameError::Blank(_) => "The specified topic is blank.".to_owned(),
        NameError::IllegalChar { .. } => format!(
            "The specified topic[{topic}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
        ),
        NameError::TooLong { .. } => {
            format!("The specified topic[{topic}] is longer than topic max length.")
        }
    };
    Some(rocketmq_rs_remoting::RemotingCommand::response(
        rocketmq_rs_remoting::protocol::code::ResponseCode::INVALID_PARAMETER,
        Some(remark),
    ))
}

/// What the send path reads of a topic's config, copied out of the table without cloning the
/// whole [`TopicConfig`] (its name and attribute map) on every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSendInfo {
    /// Permission bits ([`PERM_READ`], [`PERM_WRITE`], [`PERM_INHERIT`]).
    pub perm: i32,
    /// Read queues.
    pub read_queue_nums: i32,
    /// Write queues.
    pub write_queue_nums: i32,
    /// Topic system flag.
    pub topic_sys_flag: i32,
}

impl From<&TopicConfig> for TopicSendInfo {
    fn from(t: &TopicConfig) -> Self {
        TopicSendInfo {
            perm: t.perm,
            read_queue_nums: t.read_queue_nums,
            write_queue_nums: t.write_queue_nums,
            topic_sys_flag: t.topic_sys_flag,
        }
    }
}

/// Result of a topic-table change that must be announced to the NameServers.
pub type Changed = bool;

struct State {
    table: BTreeMap<String, TopicConfig>,
    version: DataVersion,
}

/// The topic table. Every change bumps the data version and is persisted before the call
/// returns (blocking file I/O: async callers use `run_blocking`).
pub struct TopicConfigManager {
    state: Mutex<State>,
    path: PathBuf,
}

impl std::fmt::Debug for TopicConfigManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicConfigManager")
            .field("path", &self.path)
            .finish()
    }
}

impl TopicConfigManager {
    /// Loads `path` (if present) and adds the system topics a Java broker creates at start.
    pub fn load(
        path: PathBuf,
        cluster: &str,
        broker_name: &str,
        auto_create: bool,
        default_queue_nums: i32,
        delay_levels: usize,
    ) -> Result<Self> {
        let mut state = State {
            table: BTreeMap::new(),
            version: DataVersion {
                state_version: 0,
                timestamp: now_ms(),
                counter: 0,
            },
        };
        if let Some(bytes) = read_optional(&path)? {
            let w = TopicConfigSerializeWrapper::from_json(&bytes).map_err(|e| {
                BrokerError::Metadata {
                    path: path.clone(),
                    msg: e.to_string(),
                }
            })?;
            state.table = w.topic_config_table;
            state.version = w.data_version;
        }
        let mut system = vec![
            TopicConfig::new("SELF_TEST_TOPIC", 1, 1, PERM_READ | PERM_WRITE),
            TopicConfig::new(cluster, 16, 16, 7),
            TopicConfig::new(broker_name, 1, 1, 7),
            TopicConfig::new("OFFSET_MOVED_EVENT", 1, 1, PERM_READ | PERM_WRITE),
            TopicConfig::new(
                SCHEDULE_TOPIC,
                delay_levels as i32,
                delay_levels as i32,
                PERM_READ | PERM_WRITE,
            ),
            TopicConfig::new(TIMER_TOPIC, 1, 1, PERM_READ | PERM_WRITE),
        ];
        // With auto-creation off nothing may inherit from TBW102 (Java forces RW).
        let tbw_perm = if auto_create {
            7
        } else {
            PERM_READ | PERM_WRITE
        };
        system.push(TopicConfig::new(
            AUTO_CREATE_TOPIC,
            default_queue_nums,
            default_queue_nums,
            tbw_perm,
        ));
        for t in system {
            match state.table.get_mut(&t.topic_name) {
                Some(existing) if t.topic_name == AUTO_CREATE_TOPIC => existing.perm = tbw_perm,
                Some(_) => {}
                None => {
                    state.table.insert(t.topic_name.clone(), t);
                }
            }
        }
        let m = TopicConfigManager {
            state: Mutex::new(state),
            path,
        };
        m.persist_locked(&m.lock())?;
        Ok(m)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock_unpoisoned()
    }

    fn persist_locked(&self, s: &State) -> Result<()> {
        let w = TopicConfigSerializeWrapper {
            topic_config_table: s.table.clone(),
            data_version: s.version.clone(),
            ..Default::default()
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::Metadata {
                path: dir.to_path_buf(),
                msg: e.to_string(),
            })?;
        }
        write_atomic(&self.path, &w.to_json())?;
        Ok(())
    }

    fn bump(s: &mut State) {
        s.version.counter += 1;
        s.version.timestamp = now_ms();
    }

    /// The config of `topic`.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.lock().table.get(topic).cloned()
    }

    /// The send-path fields of `topic`'s config (cheaper than [`get`](Self::get)).
    pub fn send_info(&self, topic: &str) -> Option<TopicSendInfo> {
        self.lock().table.get(topic).map(TopicSendInfo::from)
    }

    /// Every topic name.
    pub fn topics(&self) -> Vec<String> {
        self.lock().table.keys().cloned().collect()
    }

    /// The whole table with its version (REGISTER_BROKER, GET_ALL_TOPIC_CONFIG).
    pub fn wrapper(&self) -> TopicConfigSerializeWrapper {
        let s = self.lock();
        TopicConfigSerializeWrapper {
            topic_config_table: s.table.clone(),
            data_version: s.version.clone(),
            ..Default::default()
        }
    }

    /// Current data version.
    pub fn data_version(&self) -> DataVersion {
        self.lock().version.clone()
    }

    /// Creates or replaces a topic (UPDATE_AND_CREATE_TOPIC). Blocking.
    pub fn upsert(&self, cfg: TopicConfig) -> Result<Changed> {
        let mut s = self.lock();
        if s.table.get(&cfg.topic_name) == Some(&cfg) {
            return Ok(false);
        }
        s.table.insert(cfg.topic_name.clone(), cfg);
        Self::bump(&mut s);
        self.persist_locked(&s)?;
        Ok(true)
    }

    /// Replaces the whole table and its data version with a master's (slave metadata copy,
    /// Java `SlaveSynchronize.syncTopicConfig`). Does nothing when the version is unchanged.
    /// Blocking.
    pub fn replace_all(&self, w: TopicConfigSerializeWrapper) -> Result<Changed> {
        let mut s = self.lock();
        if s.version == w.data_version && s.table == w.topic_config_table {
            return Ok(false);
        }
        s.table = w.topic_config_table;
        s.version = w.data_version;
        self.persist_locked(&s)?;
        Ok(true)
    }

    /// Removes a topic. Blocking.
    pub fn delete(&self, topic: &str) -> Result<Changed> {
        let mut s = self.lock();
        if s.table.remove(topic).is_none() {
            return Ok(false);
        }
        Self::bump(&mut s);
        self.persist_locked(&s)?;
        Ok(true)
    }

    /// Java `createTopicInSendMessageMethod`: creates `topic` from template `default_topic` if
    /// the template exists and has the INHERIT bit. Returns the (possibly pre-existing) config
    /// and whether it was created now. Two racing callers both get the topic (the table lock
    /// serialises them). Blocking.
    pub fn create_in_send(
        &self,
        topic: &str,
        default_topic: &str,
        queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Result<(Option<TopicConfig>, Changed)> {
        let mut s = self.lock();
        if let Some(t) = s.table.get(topic) {
            return Ok((Some(t.clone()), false));
        }
        let Some(tpl) = s.table.get(default_topic) else {
            return Ok((None, false));
        };
        if tpl.perm & PERM_INHERIT == 0 {
            return Ok((None, false));
        }
        let n = queue_nums.min(tpl.write_queue_nums).max(0);
        if n == 0 {
            return Ok((None, false));
        }
        let mut cfg = TopicConfig::new(topic, n, n, tpl.perm & !PERM_INHERIT);
        cfg.topic_filter_type = tpl.topic_filter_type;
        cfg.topic_sys_flag = topic_sys_flag;
        s.table.insert(topic.to_string(), cfg.clone());
        Self::bump(&mut s);
        self.persist_locked(&s)?;
        Ok((Some(cfg), true))
    }

    /// Creates a system-managed topic (retry, DLQ) with `queues` queues and `perm` if missing.
    /// Blocking.
    pub fn ensure(&self, topic: &str, queues: i32, perm: i32) -> Result<(TopicConfig, Changed)> {
        let mut s = self.lock();
        if let Some(t) = s.table.get(topic) {
            return Ok((t.clone(), false));
        }
        let cfg = TopicConfig::new(topic, queues, queues, perm);
        s.table.insert(topic.to_string(), cfg.clone());
        Self::bump(&mut s);
        self.persist_locked(&s)?;
        Ok((cfg, true))
    }
}

/// The topic table as request processors and background tasks use it: lookups straight from
/// the table; changes run off the async executor (they write `topics.json`) and a change that
/// alters the table is announced to the NameServers.
#[derive(Clone)]
pub(crate) struct TopicTable {
    table: Arc<TopicConfigManager>,
    changed: TopicsChanged,
    rt: Arc<dyn Runtime>,
}

impl TopicTable {
    pub(crate) fn new(
        table: Arc<TopicConfigManager>,
        changed: TopicsChanged,
        rt: Arc<dyn Runtime>,
    ) -> Self {
        TopicTable { table, changed, rt }
    }

    /// The table itself, for readers that never change it.
    pub(crate) fn table(&self) -> &Arc<TopicConfigManager> {
        &self.table
    }

    /// The topic's config.
    pub(crate) fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.table.get(topic)
    }

    /// What a send needs of the topic's config.
    pub(crate) fn send_info(&self, topic: &str) -> Option<TopicSendInfo> {
        self.table.send_info(topic)
    }

    /// The whole table (GET_ALL_TOPIC_CONFIG, registration).
    pub(crate) fn wrapper(&self) -> TopicConfigSerializeWrapper {
        self.table.wrapper()
    }

    /// Runs `f` on the table off the executor; announces the change when `f` reports one.
    pub(crate) async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&TopicConfigManager) -> Result<(T, Changed)> + Send + 'static,
    ) -> Result<(T, Changed)> {
        let table = Arc::clone(&self.table);
        let (value, changed) = rt::run_blocking(&*self.rt, move || f(&table)).await?;
        if changed {
            self.announce();
        }
        Ok((value, changed))
    }

    /// [`TopicConfigManager::ensure`] off the executor, announced when it creates the topic.
    pub(crate) async fn ensure(
        &self,
        topic: String,
        queues: i32,
        perm: i32,
    ) -> Result<(TopicConfig, Changed)> {
        self.change(move |t| t.ensure(&topic, queues, perm)).await
    }

    /// Asks for a registration now (a change made outside [`change`](Self::change)).
    pub(crate) fn announce(&self) {
        self.changed.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbw102_and_auto_create() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(dir.path().join("topics.json"), "c", "b", true, 8, 18)
            .unwrap();
        let tbw = m.get(AUTO_CREATE_TOPIC).unwrap();
        assert_eq!((tbw.perm, tbw.write_queue_nums), (7, 8));
        let (t, created) = m
            .create_in_send("NewTopic", AUTO_CREATE_TOPIC, 4, 0)
            .unwrap();
        assert!(created);
        let t = t.unwrap();
        assert_eq!((t.perm, t.read_queue_nums, t.write_queue_nums), (6, 4, 4));
        let (_, created) = m
            .create_in_send("NewTopic", AUTO_CREATE_TOPIC, 4, 0)
            .unwrap();
        assert!(!created);
        // A non-inheriting template does not create.
        let (t, _) = m.create_in_send("Other", "NewTopic", 4, 0).unwrap();
        assert!(t.is_none());
        let v = m.data_version().counter;
        drop(m);
        let m = TopicConfigManager::load(dir.path().join("topics.json"), "c", "b", false, 8, 18)
            .unwrap();
        assert!(m.get("NewTopic").is_some());
        assert_eq!(m.get(AUTO_CREATE_TOPIC).unwrap().perm, 6);
        assert_eq!(m.data_version().counter, v);
    }
}
