//! Consumer-group settings ([`SubscriptionGroupManager`]): one
//! [`SubscriptionGroupConfig`] per group, persisted to `config/subscriptionGroup.json` in
//! Apache's format (`{"dataVersion":…,"forbiddenTable":{},"subscriptionGroupTable":{…}}`), and
//! honoured where Apache honours them (docs/protocol/admin.md §5):
//!
//! | member | effect in mini-broker |
//! |---|---|
//! | `consumeEnable` | `false`: pulls answer `NO_PERMISSION` `subscription group no permission, <group>` |
//! | `consumeBroadcastEnable` | `false`: pulls of a group whose heartbeat says BROADCASTING answer `NO_PERMISSION` |
//! | `retryMaxTimes` | dead-letter threshold of CONSUMER_SEND_MSG_BACK and of direct sends to `%RETRY%<g>` (a client's `maxReconsumeTimes` wins) |
//! | `retryQueueNums` | queue count of `%RETRY%<g>` (created on heartbeat and send-back); `<= 0`: sent-back messages are dropped |
//! | `notifyConsumerIdsChangedEnable` | `false`: no NOTIFY_CONSUMER_IDS_CHANGED pushes to the group |
//! | others | stored and answered as given |
//!
//! A group not in the table is created with Apache's defaults on its first heartbeat, pull or
//! send-back while `autoCreateSubscriptionGroup` is on (the default); with it off such a
//! group's heartbeats register nothing and its pulls and send-backs answer
//! `SUBSCRIPTION_GROUP_NOT_EXIST`. Groups can be created, changed and deleted with
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) and DELETE_SUBSCRIPTIONGROUP (207), e.g.
//! `mqadmin updateSubGroup -g G -r 3`.
//!
//! ```
//! use rocketmq_rs_mini_broker::subscription_group::SubscriptionGroupManager;
//! let dir = std::env::temp_dir().join(format!("sg-doc-{}", std::process::id()));
//! let m = SubscriptionGroupManager::load(dir.join("subscriptionGroup.json"), true).unwrap();
//! let (cfg, created) = m.find_or_create("my_group");
//! assert!(created);
//! assert_eq!(cfg.unwrap().retry_max_times, 16);
//! m.persist().unwrap();
//! # std::fs::remove_dir_all(dir).ok();
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rocketmq_rs_remoting::protocol::body::{
    DataVersion, JsonBody, SubscriptionGroupConfig, SubscriptionGroupWrapper,
};
use rocketmq_rs_remoting::rt::{self, Runtime};
use rocketmq_rs_remoting::util::{now_ms, MutexExt};

use crate::error::{BrokerError, Result};
use crate::store::{read_optional, write_atomic};

/// Groups every Apache broker has from the start (the tools' pull consumer among them).
pub const SYSTEM_GROUPS: &[&str] = &[
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
];

/// Apache's default `retryMaxTimes`.
pub const DEFAULT_RETRY_MAX_TIMES: i32 = 16;

/// Longest group name a broker creates by itself (Apache `Validators.CHARACTER_MAX_LENGTH`).
const MAX_GROUP_LEN: usize = 255;

/// Whether `group` may be auto-created: non-empty, at most 255 bytes of `[%|a-zA-Z0-9_-]`.
///
/// ```
/// use rocketmq_rs_mini_broker::subscription_group::valid_group_name;
/// assert!(valid_group_name("please_rename_unique_group_name"));
/// assert!(!valid_group_name("bad group"));
/// ```
pub fn valid_group_name(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= MAX_GROUP_LEN
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
}

struct State {
    table: HashMap<String, Arc<SubscriptionGroupConfig>>,
    forbidden: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i32>>,
    version: DataVersion,
}

/// The subscription-group table. Lookups take a shared lock only; changes are made in memory
/// and written by [`persist`](Self::persist) (blocking: async callers go through
/// `run_blocking`, as the broker's processors do).
pub struct SubscriptionGroupManager {
    state: RwLock<State>,
    path: PathBuf,
    auto_create: AtomicBool,
    /// `retryMaxTimes` of auto-created groups.
    retry_max_times: std::sync::atomic::AtomicI32,
    /// Bumped by every change; `persisted` holds the value last written.
    changes: AtomicU64,
    persisted: Mutex<u64>,
}

impl std::fmt::Debug for SubscriptionGroupManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionGroupManager")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SubscriptionGroupManager {
    /// Loads `path` if it exists (Apache's or our `subscriptionGroup.json`) and adds the
    /// [`SYSTEM_GROUPS`]. `auto_create`: Apache `autoCreateSubscriptionGroup`. Blocking.
    pub fn load(path: PathBuf, auto_create: bool) -> Result<Self> {
        Self::load_with(path, auto_create, DEFAULT_RETRY_MAX_TIMES)
    }

    /// [`load`](Self::load), with `retry_max_times` as the `retryMaxTimes` of groups created
    /// from now on by [`find_or_create`](Self::find_or_create) (the broker config's
    /// `retryMaxTimes`; Apache's is always 16). Blocking.
    pub fn load_with(path: PathBuf, auto_create: bool, retry_max_times: i32) -> Result<Self> {
        let mut state = State {
            table: HashMap::new(),
            forbidden: Default::default(),
            version: DataVersion {
                state_version: 0,
                timestamp: now_ms(),
                counter: 0,
            },
        };
        if let Some(bytes) = read_optional(&path)? {
            let w =
                SubscriptionGroupWrapper::from_json(&bytes).map_err(|e| BrokerError::Metadata {
                    path: path.clone(),
                    msg: e.to_string(),
                })?;
            state.table = w
                .subscription_group_table
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect();
            state.forbidden = w.forbidden_table;
            state.version = w.data_version;
        }
        let mut added = false;
        for g in SYSTEM_GROUPS {
            if !state.table.contains_key(*g) {
                state
                    .table
                    .insert((*g).to_string(), Arc::new(SubscriptionGroupConfig::new(*g)));
                added = true;
            }
        }
        let m = SubscriptionGroupManager {
            state: RwLock::new(state),
            path,
            auto_create: AtomicBool::new(auto_create),
            retry_max_times: std::sync::atomic::AtomicI32::new(retry_max_times),
            changes: AtomicU64::new(u64::from(added)),
            persisted: Mutex::new(0),
        };
        m.persist()?;
        Ok(m)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, s: &mut State) {
        s.version.counter += 1;
        s.version.timestamp = now_ms();
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether unknown groups are created on first use.
    pub fn auto_create(&self) -> bool {
        self.auto_create.load(Ordering::Relaxed)
    }

    /// Turns auto-creation on or off (UPDATE_BROKER_CONFIG `autoCreateSubscriptionGroup`).
    pub fn set_auto_create(&self, on: bool) {
        self.auto_create.store(on, Ordering::Relaxed);
    }

    /// `retryMaxTimes` given to groups created from now on.
    pub fn retry_max_times(&self) -> i32 {
        self.retry_max_times.load(Ordering::Relaxed)
    }

    /// Changes the `retryMaxTimes` of groups created from now on (UPDATE_BROKER_CONFIG
    /// `retryMaxTimes`); existing groups keep theirs.
    pub fn set_retry_max_times(&self, n: i32) {
        self.retry_max_times.store(n, Ordering::Relaxed);
    }

    /// The config of `group`, if it exists.
    pub fn get(&self, group: &str) -> Option<Arc<SubscriptionGroupConfig>> {
        self.read().table.get(group).cloned()
    }

    /// Apache `findSubscriptionGroupConfig`: the group's config, created with the defaults when
    /// missing, auto-creation is on and the name is legal. Returns whether it was created now
    /// (the caller persists then). In memory only.
    pub fn find_or_create(&self, group: &str) -> (Option<Arc<SubscriptionGroupConfig>>, bool) {
        if let Some(c) = self.get(group) {
            return (Some(c), false);
        }
        if !self.auto_create() || !valid_group_name(group) {
            return (None, false);
        }
        let mut s = self.write();
        if let Some(c) = s.table.get(group) {
            return (Some(Arc::clone(c)), false);
        }
        let c = Arc::new(SubscriptionGroupConfig {
            retry_max_times: self.retry_max_times(),
            ..SubscriptionGroupConfig::new(group)
        });
        s.table.insert(group.to_string(), Arc::clone(&c));
        self.bump(&mut s);
        tracing::info!(group, "auto-created subscription group");
        (Some(c), true)
    }

    /// Creates or replaces a group's config (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP). In memory.
    pub fn upsert(&self, cfg: SubscriptionGroupConfig) {
        let mut s = self.write();
        if s.table.get(&cfg.group_name).map(|c| &**c) == Some(&cfg) {
            return;
        }
        s.table.insert(cfg.group_name.clone(), Arc::new(cfg));
        self.bump(&mut s);
    }

    /// Removes a group's config; returns whether it existed. In memory.
    pub fn delete(&self, group: &str) -> bool {
        let mut s = self.write();
        s.forbidden.remove(group);
        if s.table.remove(group).is_none() {
            return false;
        }
        self.bump(&mut s);
        true
    }

    /// Replaces the table and its version with a master's (slave metadata copy, Apache
    /// `SlaveSynchronize.syncSubscriptionGroupConfig`). Returns whether anything changed; the
    /// caller persists then. In memory.
    pub fn replace_all(&self, w: SubscriptionGroupWrapper) -> bool {
        let mut s = self.write();
        let same = s.version == w.data_version
            && s.table.len() == w.subscription_group_table.len()
            && w.subscription_group_table
                .iter()
                .all(|(k, v)| s.table.get(k).map(|c| &**c) == Some(v));
        if same {
            return false;
        }
        s.table = w
            .subscription_group_table
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        s.forbidden = w.forbidden_table;
        s.version = w.data_version;
        self.changes.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// The whole table with its version (GET_ALL_SUBSCRIPTIONGROUP_CONFIG; the file's content).
    pub fn wrapper(&self) -> SubscriptionGroupWrapper {
        let s = self.read();
        SubscriptionGroupWrapper {
            data_version: s.version.clone(),
            forbidden_table: s.forbidden.clone(),
            subscription_group_table: s
                .table
                .iter()
                .map(|(k, v)| (k.clone(), (**v).clone()))
                .collect(),
        }
    }

    /// Current data version.
    pub fn data_version(&self) -> DataVersion {
        self.read().version.clone()
    }

    /// Writes the table if it changed since the last write. Blocking.
    pub fn persist(&self) -> Result<()> {
        let mut persisted = self.persisted.lock_unpoisoned();
        let v = self.changes.load(Ordering::Acquire);
        if v == *persisted && self.path.exists() {
            return Ok(());
        }
        let bytes = self.wrapper().to_json();
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

/// The table as processors use it: lookups straight from memory, writes of the file off the
/// async executor.
#[derive(Clone)]
pub(crate) struct SubscriptionGroups {
    table: Arc<SubscriptionGroupManager>,
    rt: Arc<dyn Runtime>,
}

impl SubscriptionGroups {
    pub(crate) fn new(table: Arc<SubscriptionGroupManager>, rt: Arc<dyn Runtime>) -> Self {
        SubscriptionGroups { table, rt }
    }

    /// The table itself.
    pub(crate) fn table(&self) -> &Arc<SubscriptionGroupManager> {
        &self.table
    }

    async fn persist(&self) -> Result<()> {
        let t = Arc::clone(&self.table);
        rt::run_blocking(&*self.rt, move || t.persist()).await
    }

    /// [`SubscriptionGroupManager::find_or_create`], persisting a created group. A failed write
    /// is logged, not fatal: the group exists in memory and the next change writes it.
    pub(crate) async fn find(&self, group: &str) -> Option<Arc<SubscriptionGroupConfig>> {
        let (cfg, created) = self.table.find_or_create(group);
        if created {
            if let Err(e) = self.persist().await {
                tracing::error!(error = %e, "cannot persist subscription groups");
            }
        }
        cfg
    }

    /// Apache's group checks of a pull (docs/protocol/admin.md §5): the refusal to answer, or
    /// `None` to go on. `with_subscription`: the pull carries its own subscription (sysFlag
    /// bit 4), in which case the broadcast check is skipped, as on Apache.
    pub(crate) async fn pull_refusal(
        &self,
        group: &str,
        topic: &str,
        with_subscription: bool,
        clients: &crate::client_manager::ClientManager,
    ) -> Option<rocketmq_rs_remoting::RemotingCommand> {
        use rocketmq_rs_remoting::protocol::body::MessageModel;
        use rocketmq_rs_remoting::protocol::code::ResponseCode;
        let refuse = |code: i32, remark: String, forbidden: i32| {
            let mut r = rocketmq_rs_remoting::RemotingCommand::response(code, Some(remark));
            // Apache's `ForbiddenType`: GROUP_FORBIDDEN 2, BROADCASTING_DISABLE_FORBIDDEN 4.
            if forbidden != 0 {
                r.ext_fields.insert("forbiddenType", forbidden.to_string());
            }
            r
        };
        let Some(cfg) = self.find(group).await else {
            return Some(refuse(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!(
                    "subscription group [{group}] does not exist, {}",
                    crate::processor::send_faq()
                ),
                0,
            ));
        };
        if !cfg.consume_enable {
            return Some(refuse(
                ResponseCode::NO_PERMISSION,
                format!("subscription group no permission, {group}"),
                2,
            ));
        }
        if !with_subscription && !cfg.consume_broadcast_enable {
            let (_, _, model) = clients.subscription(group, topic);
            if model == Some(MessageModel::Broadcasting) {
                return Some(refuse(
                    ResponseCode::NO_PERMISSION,
                    format!("the consumer group[{group}] can not consume by broadcast way"),
                    4,
                ));
            }
        }
        None
    }

    /// Creates or replaces a group and writes the file.
    pub(crate) async fn upsert(&self, cfg: SubscriptionGroupConfig) -> Result<()> {
        self.table.upsert(cfg);
        self.persist().await
    }

    /// Deletes a group and writes the file; returns whether it existed.
    pub(crate) async fn delete(&self, group: &str) -> Result<bool> {
        let existed = self.table.delete(group);
        self.persist().await?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_groups_auto_create_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config").join("subscriptionGroup.json");
        let m = SubscriptionGroupManager::load(p.clone(), true).unwrap();
        assert!(m.get("TOOLS_CONSUMER").is_some());
        let v0 = m.data_version().counter;
        let (c, created) = m.find_or_create("g1");
        assert!(created && c.is_some());
        assert_eq!(m.data_version().counter, v0 + 1);
        assert!(!m.find_or_create("g1").1);
        assert_eq!(m.find_or_create("bad name"), (None, false));
        let mut cfg = SubscriptionGroupConfig::new("g2");
        cfg.retry_max_times = 2;
        cfg.consume_enable = false;
        m.upsert(cfg.clone());
        m.persist().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"subscriptionGroupTable\""), "{text}");
        assert!(text.contains("\"dataVersion\""), "{text}");

        let m = SubscriptionGroupManager::load(p.clone(), false).unwrap();
        assert_eq!(m.get("g2").as_deref(), Some(&cfg));
        assert!(m.get("g1").is_some());
        assert_eq!(m.data_version().counter, v0 + 2);
        // Auto-creation off: unknown groups stay unknown.
        assert_eq!(m.find_or_create("g3"), (None, false));
        assert!(m.delete("g2"));
        assert!(!m.delete("g2"));
        m.persist().unwrap();
        let m = SubscriptionGroupManager::load(p, true).unwrap();
        assert!(m.get("g2").is_none());
    }

    #[test]
    fn reads_an_apache_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subscriptionGroup.json");
        // As an Apache 5.x broker writes it (pretty-printed, with forbiddenTable).
        std::fs::write(
            &p,
            r#"{
	"dataVersion":{"counter":7,"stateVersion":0,"timestamp":1700000000000},
	"forbiddenTable":{},
	"subscriptionGroupTable":{
		"CG":{"attributes":{},"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":false,
		"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,
		"groupName":"CG","groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0,
		"notifyConsumerIdsChangedEnable":true,"retryMaxTimes":5,"retryQueueNums":1,
		"whichBrokerWhenConsumeSlowly":1}
	}
}"#,
        )
        .unwrap();
        let m = SubscriptionGroupManager::load(p, true).unwrap();
        let c = m.get("CG").unwrap();
        assert!(!c.consume_enable);
        assert_eq!(c.retry_max_times, 5);
        assert_eq!(m.data_version().counter, 7);
    }
}
