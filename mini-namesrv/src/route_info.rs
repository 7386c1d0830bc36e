//! [`RouteInfoManager`]: the NameServer's routing state (docs/protocol/namesrv.md §1–§3).
//!
//! Pure state, no I/O and no clock of its own: callers pass `now`, which keeps every rule
//! testable with plain inputs. The server wraps one manager in a lock that is never held across
//! an `.await`.
//!
//! Tables, as in Java's `RouteInfoManager`:
//! - topic → broker name → [`QueueData`],
//! - broker name → [`BrokerData`] (cluster, name, broker id → address, id 0 = master),
//! - cluster → broker names,
//! - (cluster, broker address) → live entry (last update, expiry, [`DataVersion`], connection),
//! - (cluster, broker address) → filter servers (legacy; normally empty).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

pub use rocketmq_rs_remoting::protocol::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfig, TopicRouteData,
};

/// The broker id of a master.
pub const MASTER_ID: i64 = 0;

/// Permission bit: queues are readable.
pub const PERM_READ: i32 = 4;
/// Permission bit: queues are writable.
pub const PERM_WRITE: i32 = 2;
/// Permission bit: new topics may inherit this topic's configuration (`TBW102`).
pub const PERM_INHERIT: i32 = 1;

/// Topic sys flag bit: unit topic.
pub const TOPIC_SYS_FLAG_UNIT: i32 = 0x1;
/// Topic sys flag bit: topic with unit subscriptions.
pub const TOPIC_SYS_FLAG_UNIT_SUB: i32 = 0x2;

/// Prefix of the per-broker-group topic that 5.x brokers use to find their group members; its
/// route is never rewritten for acting masters (Java `TopicValidator`).
pub const SYNC_BROKER_MEMBER_GROUP_PREFIX: &str = "rmq_sys_SYNC_BROKER_MEMBER_";

/// Identifies the transport connection a broker registered over (`Connection::id`).
pub type ConnId = u64;

/// One REGISTER_BROKER request, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerRegistration {
    /// Cluster name.
    pub cluster_name: String,
    /// Address clients use (`ip:port`).
    pub broker_addr: String,
    /// Broker group name.
    pub broker_name: String,
    /// Broker id (0 = master).
    pub broker_id: i64,
    /// HA address of the broker (`ip:haPort`).
    pub ha_server_addr: String,
    /// Zone (`__ZONE_NAME` ext field), if any.
    pub zone_name: Option<String>,
    /// Expiry of this broker (header `heartbeatTimeoutMillis`); `None` = the default.
    pub heartbeat_timeout: Option<Duration>,
    /// Header `enableActingMaster`; `None` for brokers older than 5.0 (which do not send it).
    pub enable_acting_master: Option<bool>,
    /// Version of the broker's topic table.
    pub data_version: DataVersion,
    /// The broker's topics (the whole table, or only the changed ones for an incremental
    /// registration).
    pub topics: Vec<TopicConfig>,
    /// Filter servers; `None` leaves the recorded list unchanged, empty clears it.
    pub filter_servers: Option<Vec<String>>,
    /// The connection the registration arrived on.
    pub conn: Option<ConnId>,
}

/// The answer to a successful registration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterResult {
    /// For a slave: its master's address, if the master is live.
    pub master_addr: Option<String>,
    /// For a slave: its master's HA address, if the master is live.
    pub ha_server_addr: Option<String>,
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterRejected {
    /// The broker id is not registered yet and the body carries exactly one topic: a broker
    /// must register its whole topic table first (Java answers `register broker failed`).
    NotRegisteredYet,
}

/// A broker removed by unregistration, expiry or connection loss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedBroker {
    /// Cluster name.
    pub cluster_name: String,
    /// Broker address.
    pub broker_addr: String,
    /// Broker group name, when the address was still part of a group.
    pub broker_name: Option<String>,
    /// Broker id, when the address was still part of a group.
    pub broker_id: Option<i64>,
    /// The connection it had registered over.
    pub conn: Option<ConnId>,
}

#[derive(Debug, Clone)]
struct LiveBroker {
    last_update: Instant,
    timeout: Duration,
    data_version: DataVersion,
    conn: Option<ConnId>,
    ha_server_addr: String,
}

type AddrKey = (String, String);

/// Behaviour switches of the route table (a subset of [`crate::NamesrvConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteOptions {
    /// Expiry of brokers that do not announce their own.
    pub default_expiry: Duration,
    /// See [`crate::NamesrvConfig::support_acting_master`].
    pub support_acting_master: bool,
    /// See [`crate::NamesrvConfig::delete_topic_with_broker_registration`].
    pub delete_topic_with_broker_registration: bool,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            default_expiry: Duration::from_secs(120),
            support_acting_master: false,
            delete_topic_with_broker_registration: false,
        }
    }
}

/// The NameServer's routing state.
///
/// ```
/// use std::time::Instant;
/// use rocketmq_rs_mini_namesrv::route_info::*;
///
/// let mut rim = RouteInfoManager::new(RouteOptions::default());
/// let reg = BrokerRegistration {
///     cluster_name: "DefaultCluster".into(),
///     broker_addr: "10.0.0.1:10911".into(),
///     broker_name: "broker-a".into(),
///     broker_id: MASTER_ID,
///     ha_server_addr: "10.0.0.1:10912".into(),
///     topics: vec![TopicConfig::new("TopicTest", 4, 4, 6), TopicConfig::new("TBW102", 8, 8, 7)],
///     ..Default::default()
/// };
/// rim.register_broker(reg, Instant::now()).unwrap();
/// let route = rim.pickup_topic_route("TopicTest").unwrap();
/// assert_eq!(route.broker_datas[0].broker_addrs[&0], "10.0.0.1:10911");
/// assert!(rim.pickup_topic_route("Nope").is_none());
/// ```
#[derive(Debug, Default)]
pub struct RouteInfoManager {
    options: RouteOptions,
    topic_queue_table: HashMap<String, BTreeMap<String, QueueData>>,
    broker_addr_table: BTreeMap<String, BrokerData>,
    cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
    broker_live_table: HashMap<AddrKey, LiveBroker>,
    filter_server_table: HashMap<AddrKey, Vec<String>>,
}

fn key(cluster: &str, addr: &str) -> AddrKey {
    (cluster.to_owned(), addr.to_owned())
}

impl RouteInfoManager {
    /// An empty table.
    pub fn new(options: RouteOptions) -> Self {
        RouteInfoManager {
            options,
            ..Default::default()
        }
    }

    /// The current options.
    pub fn options(&self) -> RouteOptions {
        self.options
    }

    /// Replaces the options (after UPDATE_NAMESRV_CONFIG). Existing brokers keep the expiry they
    /// registered with until they register again.
    pub fn set_options(&mut self, options: RouteOptions) {
        self.options = options;
    }

    /// Registers (or refreshes) a broker, following Java's rules (docs/protocol/namesrv.md §2).
    ///
    /// Topics are only taken from masters (and, in 5.x acting-master mode, from the smallest
    /// live slave), and only when this is the broker's first registration, its data version
    /// changed, or the topic lacks queue data for this broker: an unchanged periodic
    /// re-registration touches nothing but the live entry.
    pub fn register_broker(
        &mut self,
        reg: BrokerRegistration,
        now: Instant,
    ) -> Result<RegisterResult, RegisterRejected> {
        let addr_key = key(&reg.cluster_name, &reg.broker_addr);

        // A stale registration for an id that another address holds with a newer state version
        // is ignored (5.x controller mode role changes).
        if let Some(bd) = self.broker_addr_table.get(&reg.broker_name) {
            if let Some(old_addr) = bd.broker_addrs.get(&reg.broker_id) {
                if *old_addr != reg.broker_addr {
                    if let Some(old) = self
                        .broker_live_table
                        .get(&key(&reg.cluster_name, old_addr))
                    {
                        if old.data_version.state_version > reg.data_version.state_version {
                            tracing::warn!(
                                broker = %reg.broker_name, id = reg.broker_id,
                                old = %old_addr, new = %reg.broker_addr,
                                "registration conflicts with a newer one; ignored"
                            );
                            self.broker_live_table.remove(&addr_key);
                            return Ok(RegisterResult::default());
                        }
                    }
                }
            }
        }

        let id_known = self
            .broker_addr_table
            .get(&reg.broker_name)
            .is_some_and(|bd| bd.broker_addrs.contains_key(&reg.broker_id));
        if !id_known && reg.topics.len() == 1 {
            tracing::warn!(
                broker = %reg.broker_name, id = reg.broker_id, addr = %reg.broker_addr,
                "single-topic registration before a full one; refused"
            );
            return Err(RegisterRejected::NotRegisteredYet);
        }

        self.cluster_addr_table
            .entry(reg.cluster_name.clone())
            .or_default()
            .insert(reg.broker_name.clone());

        let mut register_first = false;
        let bd = self
            .broker_addr_table
            .entry(reg.broker_name.clone())
            .or_insert_with(|| {
                register_first = true;
                BrokerData {
                    cluster: reg.cluster_name.clone(),
                    broker_name: reg.broker_name.clone(),
                    broker_addrs: BTreeMap::new(),
                    zone_name: None,
                    enable_acting_master: false,
                }
            });
        let old_version_broker = reg.enable_acting_master.is_none();
        bd.enable_acting_master = reg.enable_acting_master.unwrap_or(false);
        bd.zone_name.clone_from(&reg.zone_name);

        // A role switch (slave promoted to master) re-registers the same address under a new id;
        // one address appears under one id only.
        bd.broker_addrs
            .retain(|id, addr| *addr != reg.broker_addr || *id == reg.broker_id);
        let old_addr = bd
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.clone());
        register_first |= old_addr.as_deref().is_none_or(str::is_empty);

        let is_master = reg.broker_id == MASTER_ID;
        let is_prime_slave = !old_version_broker
            && !is_master
            && bd.broker_addrs.keys().next() == Some(&reg.broker_id);
        let acting_master = bd.enable_acting_master;

        if is_master || is_prime_slave {
            if self.options.delete_topic_with_broker_registration {
                let keep: BTreeSet<&str> =
                    reg.topics.iter().map(|t| t.topic_name.as_str()).collect();
                self.topic_queue_table.retain(|topic, qds| {
                    if !keep.contains(topic.as_str()) && qds.remove(&reg.broker_name).is_some() {
                        tracing::info!(%topic, broker = %reg.broker_name, "topic removed by registration");
                    }
                    !qds.is_empty()
                });
            }
            let version_changed = self.is_broker_topic_config_changed(
                &reg.cluster_name,
                &reg.broker_addr,
                &reg.data_version,
            );
            for tc in &reg.topics {
                let missing = self
                    .topic_queue_table
                    .get(&tc.topic_name)
                    .is_none_or(|qds| !qds.contains_key(&reg.broker_name));
                if register_first || version_changed || missing {
                    let mut perm = tc.perm;
                    if is_prime_slave && acting_master {
                        perm &= !PERM_WRITE;
                    }
                    self.upsert_queue_data(&reg.broker_name, tc, perm);
                }
            }
        }

        let prev = self.broker_live_table.insert(
            addr_key.clone(),
            LiveBroker {
                last_update: now,
                timeout: reg.heartbeat_timeout.unwrap_or(self.options.default_expiry),
                data_version: reg.data_version,
                conn: reg.conn,
                ha_server_addr: reg.ha_server_addr.clone(),
            },
        );
        if prev.is_none() {
            tracing::info!(
                cluster = %reg.cluster_name, broker = %reg.broker_name, id = reg.broker_id,
                addr = %reg.broker_addr, ha = %reg.ha_server_addr, "new broker registered"
            );
        }

        match reg.filter_servers {
            Some(list) if list.is_empty() => {
                self.filter_server_table.remove(&addr_key);
            }
            Some(list) => {
                self.filter_server_table.insert(addr_key, list);
            }
            None => {}
        }

        let mut result = RegisterResult::default();
        if !is_master {
            let master = self
                .broker_addr_table
                .get(&reg.broker_name)
                .and_then(|bd| bd.broker_addrs.get(&MASTER_ID));
            if let Some(master_addr) = master {
                if let Some(live) = self
                    .broker_live_table
                    .get(&key(&reg.cluster_name, master_addr))
                {
                    result.master_addr = Some(master_addr.clone());
                    result.ha_server_addr = Some(live.ha_server_addr.clone());
                }
            }
        }
        Ok(result)
    }

    fn upsert_queue_data(&mut self, broker_name: &str, tc: &TopicConfig, perm: i32) {
        let qd = QueueData {
            broker_name: broker_name.to_owned(),
            read_queue_nums: tc.read_queue_nums,
            write_queue_nums: tc.write_queue_nums,
            perm,
            topic_sys_flag: tc.topic_sys_flag,
        };
        let qds = self
            .topic_queue_table
            .entry(tc.topic_name.clone())
            .or_default();
        match qds.get(broker_name) {
            Some(existing) if *existing == qd => {}
            Some(existing) => {
                tracing::info!(topic = %tc.topic_name, old = ?existing, new = ?qd, "topic changed");
                qds.insert(broker_name.to_owned(), qd);
            }
            None => {
                tracing::debug!(topic = %tc.topic_name, queue = ?qd, "topic registered");
                qds.insert(broker_name.to_owned(), qd);
            }
        }
    }

    /// Whether `version` differs from the one recorded for the broker (or none is recorded).
    pub fn is_broker_topic_config_changed(
        &self,
        cluster: &str,
        addr: &str,
        version: &DataVersion,
    ) -> bool {
        self.broker_live_table
            .get(&key(cluster, addr))
            .is_none_or(|l| l.data_version != *version)
    }

    /// The data version recorded for a live broker.
    pub fn query_data_version(&self, cluster: &str, addr: &str) -> Option<DataVersion> {
        self.broker_live_table
            .get(&key(cluster, addr))
            .map(|l| l.data_version.clone())
    }

    /// Refreshes a live broker's last-update time (QUERY_DATA_VERSION, BROKER_HEARTBEAT).
    /// Returns false when the broker is not registered.
    pub fn touch(&mut self, cluster: &str, addr: &str, now: Instant) -> bool {
        match self.broker_live_table.get_mut(&key(cluster, addr)) {
            Some(live) => {
                live.last_update = now;
                true
            }
            None => false,
        }
    }

    /// Removes a broker (UNREGISTER_BROKER). Its address leaves its group; a group left empty
    /// disappears from its cluster, and its queue data from every topic (topics left without
    /// queue data disappear). Returns whether anything was removed.
    pub fn unregister_broker(
        &mut self,
        cluster: &str,
        addr: &str,
        broker_name: &str,
        broker_id: i64,
    ) -> bool {
        let addr_key = key(cluster, addr);
        let live = self.broker_live_table.remove(&addr_key);
        self.filter_server_table.remove(&addr_key);

        let mut removed_name = false;
        let mut removed_addr = false;
        if let Some(bd) = self.broker_addr_table.get_mut(broker_name) {
            let before = bd.broker_addrs.len();
            bd.broker_addrs.retain(|_, a| a != addr);
            removed_addr = bd.broker_addrs.len() != before;
            if bd.broker_addrs.is_empty() {
                self.broker_addr_table.remove(broker_name);
                removed_name = true;
            }
        }
        tracing::info!(
            %cluster, %addr, broker = %broker_name, id = broker_id,
            live = live.is_some(), removed_addr, removed_name, "broker unregistered"
        );

        if removed_name {
            if let Some(names) = self.cluster_addr_table.get_mut(cluster) {
                names.remove(broker_name);
                if names.is_empty() {
                    self.cluster_addr_table.remove(cluster);
                }
            }
            self.topic_queue_table.retain(|_, qds| {
                qds.remove(broker_name);
                !qds.is_empty()
            });
        } else if let Some(bd) = self.broker_addr_table.get(broker_name) {
            // 5.x acting-master mode: without a master the group's queues become read-only.
            if bd.enable_acting_master && !bd.broker_addrs.contains_key(&MASTER_ID) {
                for qds in self.topic_queue_table.values_mut() {
                    if let Some(qd) = qds.get_mut(broker_name) {
                        qd.perm &= !PERM_WRITE;
                    }
                }
            }
        }
        live.is_some() || removed_addr
    }

    /// Removes a live entry and unregisters the group member at its address, if any.
    fn remove_live(&mut self, addr_key: &AddrKey) -> Option<RemovedBroker> {
        let live = self.broker_live_table.get(addr_key)?;
        let conn = live.conn;
        let (cluster, addr) = addr_key;
        let member = self.broker_addr_table.values().find_map(|bd| {
            if bd.cluster != *cluster {
                return None;
            }
            bd.broker_addrs
                .iter()
                .find(|(_, a)| *a == addr)
                .map(|(id, _)| (bd.broker_name.clone(), *id))
        });
        match &member {
            Some((name, id)) => {
                self.unregister_broker(cluster, addr, name, *id);
            }
            None => {
                self.broker_live_table.remove(addr_key);
                self.filter_server_table.remove(addr_key);
            }
        }
        Some(RemovedBroker {
            cluster_name: cluster.clone(),
            broker_addr: addr.clone(),
            broker_name: member.as_ref().map(|m| m.0.clone()),
            broker_id: member.map(|m| m.1),
            conn,
        })
    }

    /// Unregisters every broker that registered over connection `conn` (it closed).
    pub fn on_connection_closed(&mut self, conn: ConnId) -> Vec<RemovedBroker> {
        let keys: Vec<AddrKey> = self
            .broker_live_table
            .iter()
            .filter(|(_, l)| l.conn == Some(conn))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.remove_live(k)).collect()
    }

    /// Unregisters every broker whose last update is older than its expiry at `now`.
    pub fn scan_not_active_brokers(&mut self, now: Instant) -> Vec<RemovedBroker> {
        let keys: Vec<AddrKey> = self
            .broker_live_table
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > l.timeout)
            .map(|(k, _)| k.clone())
            .collect();
        let removed: Vec<RemovedBroker> = keys.iter().filter_map(|k| self.remove_live(k)).collect();
        for r in &removed {
            tracing::warn!(cluster = %r.cluster_name, addr = %r.broker_addr, "broker expired");
        }
        removed
    }

    /// The route of `topic`: `Some` iff at least one of its queue datas belongs to a registered
    /// broker group. A group without a live master still appears (with only its slaves), so
    /// clients can read but not write; with `support_acting_master` the smallest slave of a
    /// read-only acting-master group is presented as id 0.
    pub fn pickup_topic_route(&self, topic: &str) -> Option<TopicRouteData> {
        let qds = self.topic_queue_table.get(topic)?;
        let mut route = TopicRouteData {
            queue_datas: qds.values().cloned().collect(),
            ..Default::default()
        };
        for broker_name in qds.keys() {
            let Some(bd) = self.broker_addr_table.get(broker_name) else {
                continue;
            };
            if !self.filter_server_table.is_empty() {
                for addr in bd.broker_addrs.values() {
                    if let Some(list) = self.filter_server_table.get(&key(&bd.cluster, addr)) {
                        route.filter_server_table.insert(addr.clone(), list.clone());
                    }
                }
            }
            route.broker_datas.push(bd.clone());
        }
        if route.broker_datas.is_empty() {
            return None;
        }
        if self.options.support_acting_master && !topic.starts_with(SYNC_BROKER_MEMBER_GROUP_PREFIX)
        {
            for bd in &mut route.broker_datas {
                if bd.broker_addrs.is_empty()
                    || bd.broker_addrs.contains_key(&MASTER_ID)
                    || !bd.enable_acting_master
                {
                    continue;
                }
                let read_only = route
                    .queue_datas
                    .iter()
                    .find(|q| q.broker_name == bd.broker_name)
                    .is_some_and(|q| q.perm & PERM_WRITE == 0);
                if read_only {
                    if let Some((_, addr)) = bd.broker_addrs.pop_first() {
                        bd.broker_addrs.insert(MASTER_ID, addr);
                    }
                }
            }
        }
        Some(route)
    }

    /// Every broker group and cluster (GET_BROKER_CLUSTER_INFO).
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.broker_addr_table.clone(),
            cluster_addr_table: self.cluster_addr_table.clone(),
        }
    }

    /// The members of one broker group (GET_BROKER_MEMBER_GROUP); empty when unknown.
    pub fn broker_member_group(&self, broker_name: &str) -> BTreeMap<i64, String> {
        self.broker_addr_table
            .get(broker_name)
            .map(|bd| bd.broker_addrs.clone())
            .unwrap_or_default()
    }

    /// Every topic with queue data, sorted.
    pub fn all_topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self.topic_queue_table.keys().cloned().collect();
        v.sort();
        v
    }

    /// Topics hosted by any broker group of `cluster`, sorted; empty for an unknown cluster.
    pub fn topics_by_cluster(&self, cluster: &str) -> Vec<String> {
        let Some(names) = self.cluster_addr_table.get(cluster) else {
            return Vec::new();
        };
        let mut v: Vec<String> = self
            .topic_queue_table
            .iter()
            .filter(|(_, qds)| names.iter().any(|n| qds.contains_key(n)))
            .map(|(t, _)| t.clone())
            .collect();
        v.sort();
        v
    }

    /// Java's "system topic list": every cluster name and broker name (brokers create topics
    /// named after both), plus the address of some registered broker.
    pub fn system_topics(&self) -> (Vec<String>, Option<String>) {
        let mut set = BTreeSet::new();
        for (cluster, names) in &self.cluster_addr_table {
            set.insert(cluster.clone());
            set.extend(names.iter().cloned());
        }
        let addr = self
            .broker_addr_table
            .values()
            .find_map(|bd| bd.broker_addrs.values().next().cloned());
        (set.into_iter().collect(), addr)
    }

    /// Topics whose (first) queue data's sys flag satisfies `pred`, sorted.
    pub fn topics_with_sys_flag(&self, pred: impl Fn(i32) -> bool) -> Vec<String> {
        let mut v: Vec<String> = self
            .topic_queue_table
            .iter()
            .filter(|(_, qds)| qds.values().next().is_some_and(|q| pred(q.topic_sys_flag)))
            .map(|(t, _)| t.clone())
            .collect();
        v.sort();
        v
    }

    /// Clears the WRITE bit of every queue data of `broker_name`; returns how many topics
    /// were affected (WIPE_WRITE_PERM_OF_BROKER).
    pub fn wipe_write_perm(&mut self, broker_name: &str) -> i32 {
        self.map_perm(broker_name, |p| p & !PERM_WRITE)
    }

    /// Sets the perm of every queue data of `broker_name` to READ|WRITE; returns how many
    /// topics were affected (ADD_WRITE_PERM_OF_BROKER).
    pub fn add_write_perm(&mut self, broker_name: &str) -> i32 {
        self.map_perm(broker_name, |_| PERM_READ | PERM_WRITE)
    }

    fn map_perm(&mut self, broker_name: &str, f: impl Fn(i32) -> i32) -> i32 {
        let mut n = 0;
        for qds in self.topic_queue_table.values_mut() {
            if let Some(qd) = qds.get_mut(broker_name) {
                qd.perm = f(qd.perm);
                n += 1;
            }
        }
        n
    }

    /// Deletes a topic everywhere, or only from the broker groups of `cluster`
    /// (DELETE_TOPIC_IN_NAMESRV).
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        match cluster {
            None => {
                self.topic_queue_table.remove(topic);
            }
            Some(cluster) => {
                let Some(names) = self.cluster_addr_table.get(cluster) else {
                    return;
                };
                if let Some(qds) = self.topic_queue_table.get_mut(topic) {
                    for n in names {
                        qds.remove(n);
                    }
                    if qds.is_empty() {
                        self.topic_queue_table.remove(topic);
                    }
                }
            }
        }
    }

    /// Adds or replaces queue data of `topic` (REGISTER_TOPIC_IN_NAMESRV). Nothing changes if
    /// any queue data names an unregistered broker group; returns whether it was applied.
    pub fn register_topic(&mut self, topic: &str, queue_datas: Vec<QueueData>) -> bool {
        if queue_datas.is_empty() {
            return false;
        }
        if let Some(bad) = queue_datas
            .iter()
            .find(|q| !self.broker_addr_table.contains_key(&q.broker_name))
        {
            tracing::warn!(%topic, broker = %bad.broker_name, "register topic names an unknown broker");
            return false;
        }
        let qds = self.topic_queue_table.entry(topic.to_owned()).or_default();
        for q in queue_datas {
            qds.insert(q.broker_name.clone(), q);
        }
        true
    }

    /// Number of live brokers.
    pub fn live_broker_count(&self) -> usize {
        self.broker_live_table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tc(name: &str, q: i32, perm: i32) -> TopicConfig {
        TopicConfig::new(name, q, q, perm)
    }

    fn reg(name: &str, id: i64, addr: &str, topics: Vec<TopicConfig>) -> BrokerRegistration {
        BrokerRegistration {
            cluster_name: "C".into(),
            broker_addr: addr.into(),
            broker_name: name.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            data_version: DataVersion {
                timestamp: 1,
                counter: 1,
                state_version: 0,
            },
            topics,
            conn: Some(id as u64 + 100),
            ..Default::default()
        }
    }

    fn two_topics() -> Vec<TopicConfig> {
        vec![tc("T", 4, 6), tc("TBW102", 8, 7)]
    }

    #[test]
    fn register_route_and_slave() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        let r = rim
            .register_broker(reg("a", 0, "m:1", two_topics()), now)
            .unwrap();
        assert_eq!(r, RegisterResult::default());
        let r = rim
            .register_broker(reg("a", 1, "s:1", two_topics()), now)
            .unwrap();
        assert_eq!(r.master_addr.as_deref(), Some("m:1"));
        assert_eq!(r.ha_server_addr.as_deref(), Some("m:1-ha"));
        let route = rim.pickup_topic_route("T").unwrap();
        assert_eq!(route.queue_datas.len(), 1);
        assert_eq!(route.queue_datas[0].read_queue_nums, 4);
        let addrs: Vec<_> = route.broker_datas[0].broker_addrs.iter().collect();
        assert_eq!(
            addrs,
            vec![(&0, &"m:1".to_string()), (&1, &"s:1".to_string())]
        );
        assert_eq!(
            rim.all_topics(),
            vec!["T".to_string(), "TBW102".to_string()]
        );
        assert_eq!(rim.topics_by_cluster("C").len(), 2);
        assert!(rim.topics_by_cluster("X").is_empty());
    }

    #[test]
    fn slaves_do_not_create_topics() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        rim.register_broker(reg("a", 1, "s:1", two_topics()), Instant::now())
            .unwrap();
        assert!(rim.pickup_topic_route("T").is_none());
        assert_eq!(
            rim.cluster_info().broker_addr_table["a"].broker_addrs.len(),
            1
        );
    }

    #[test]
    fn master_gone_leaves_slave_route() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        rim.register_broker(reg("a", 0, "m:1", two_topics()), now)
            .unwrap();
        rim.register_broker(reg("a", 1, "s:1", two_topics()), now)
            .unwrap();
        assert!(rim.unregister_broker("C", "m:1", "a", 0));
        let route = rim.pickup_topic_route("T").unwrap();
        assert_eq!(
            route.broker_datas[0]
                .broker_addrs
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            route.queue_datas[0].perm, 6,
            "old-version groups keep their perm"
        );
        assert!(rim.unregister_broker("C", "s:1", "a", 1));
        assert!(rim.pickup_topic_route("T").is_none());
        assert!(rim.all_topics().is_empty());
        assert!(rim.cluster_info().cluster_addr_table.is_empty());
        assert!(!rim.unregister_broker("C", "s:1", "a", 1));
    }

    #[test]
    fn single_topic_first_registration_is_refused() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let err = rim.register_broker(reg("a", 0, "m:1", vec![tc("T", 4, 6)]), Instant::now());
        assert_eq!(err, Err(RegisterRejected::NotRegisteredYet));
        assert!(
            rim.cluster_info().broker_addr_table.is_empty(),
            "nothing half-registered"
        );
        rim.register_broker(reg("a", 0, "m:1", two_topics()), Instant::now())
            .unwrap();
        // Incremental registration of one new topic with a new version is fine now.
        let mut inc = reg("a", 0, "m:1", vec![tc("New", 2, 6)]);
        inc.data_version.counter = 2;
        rim.register_broker(inc, Instant::now()).unwrap();
        assert!(rim.pickup_topic_route("New").is_some());
        assert!(
            rim.pickup_topic_route("T").is_some(),
            "registration is additive"
        );
    }

    #[test]
    fn unchanged_version_does_not_rewrite_topics() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        rim.register_broker(reg("a", 0, "m:1", two_topics()), now)
            .unwrap();
        let dv = DataVersion {
            timestamp: 1,
            counter: 1,
            state_version: 0,
        };
        assert!(!rim.is_broker_topic_config_changed("C", "m:1", &dv));
        // Same version but different queue counts: ignored, as in Java.
        rim.register_broker(
            reg("a", 0, "m:1", vec![tc("T", 16, 6), tc("TBW102", 8, 7)]),
            now,
        )
        .unwrap();
        assert_eq!(
            rim.pickup_topic_route("T").unwrap().queue_datas[0].read_queue_nums,
            4
        );
        let mut changed = reg("a", 0, "m:1", vec![tc("T", 16, 6), tc("TBW102", 8, 7)]);
        changed.data_version.counter = 2;
        rim.register_broker(changed, now).unwrap();
        assert_eq!(
            rim.pickup_topic_route("T").unwrap().queue_datas[0].read_queue_nums,
            16
        );
        assert!(rim.is_broker_topic_config_changed("C", "m:1", &dv));
        assert!(rim.is_broker_topic_config_changed("C", "unknown:1", &dv));
    }

    #[test]
    fn expiry_and_touch() {
        let mut rim = RouteInfoManager::new(RouteOptions {
            default_expiry: Duration::from_secs(10),
            ..Default::default()
        });
        let t0 = Instant::now();
        rim.register_broker(reg("a", 0, "m:1", two_topics()), t0)
            .unwrap();
        let mut b = reg("b", 0, "n:1", two_topics());
        b.heartbeat_timeout = Some(Duration::from_secs(30));
        rim.register_broker(b, t0).unwrap();
        assert!(rim
            .scan_not_active_brokers(t0 + Duration::from_secs(10))
            .is_empty());
        assert!(rim.touch("C", "m:1", t0 + Duration::from_secs(5)));
        assert!(!rim.touch("C", "zz:1", t0));
        assert!(rim
            .scan_not_active_brokers(t0 + Duration::from_secs(15))
            .is_empty());
        let gone = rim.scan_not_active_brokers(t0 + Duration::from_secs(16));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].broker_name.as_deref(), Some("a"));
        assert_eq!(gone[0].conn, Some(100));
        assert_eq!(rim.pickup_topic_route("T").unwrap().broker_datas.len(), 1);
        assert_eq!(
            rim.scan_not_active_brokers(t0 + Duration::from_secs(31))
                .len(),
            1
        );
        assert!(rim.pickup_topic_route("T").is_none());
        assert_eq!(rim.live_broker_count(), 0);
    }

    #[test]
    fn connection_close_removes_only_that_connection() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        rim.register_broker(reg("a", 0, "m:1", two_topics()), now)
            .unwrap();
        rim.register_broker(reg("a", 1, "s:1", two_topics()), now)
            .unwrap();
        assert!(rim.on_connection_closed(999).is_empty());
        let gone = rim.on_connection_closed(100);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].broker_id, Some(0));
        assert_eq!(rim.live_broker_count(), 1);
        // Re-registration over a new connection: the old connection's close is harmless.
        let mut again = reg("a", 0, "m:1", two_topics());
        again.conn = Some(555);
        rim.register_broker(again, now).unwrap();
        assert!(rim.on_connection_closed(100).is_empty());
        assert_eq!(rim.live_broker_count(), 2);
    }

    #[test]
    fn role_switch_keeps_one_id_per_address() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        rim.register_broker(reg("a", 1, "x:1", two_topics()), now)
            .unwrap();
        rim.register_broker(reg("a", 0, "x:1", two_topics()), now)
            .unwrap();
        let members = rim.broker_member_group("a");
        assert_eq!(members.len(), 1);
        assert_eq!(members[&0], "x:1");
        assert!(rim.pickup_topic_route("T").is_some());
    }

    #[test]
    fn stale_state_version_is_ignored() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        let mut newer = reg("a", 0, "m:1", two_topics());
        newer.data_version.state_version = 5;
        rim.register_broker(newer, now).unwrap();
        let mut stale = reg("a", 0, "m:2", two_topics());
        stale.data_version.state_version = 1;
        assert_eq!(
            rim.register_broker(stale, now),
            Ok(RegisterResult::default())
        );
        assert_eq!(rim.broker_member_group("a")[&0], "m:1");
        assert_eq!(rim.live_broker_count(), 1);
    }

    #[test]
    fn acting_master() {
        let mut rim = RouteInfoManager::new(RouteOptions {
            support_acting_master: true,
            ..Default::default()
        });
        let now = Instant::now();
        let mut m = reg("a", 0, "m:1", two_topics());
        m.enable_acting_master = Some(true);
        rim.register_broker(m, now).unwrap();
        let mut s = reg("a", 1, "s:1", two_topics());
        s.enable_acting_master = Some(true);
        rim.register_broker(s, now).unwrap();
        rim.unregister_broker("C", "m:1", "a", 0);
        let route = rim.pickup_topic_route("T").unwrap();
        assert_eq!(
            route.queue_datas[0].perm & PERM_WRITE,
            0,
            "write wiped without master"
        );
        assert_eq!(
            route.broker_datas[0].broker_addrs[&0], "s:1",
            "slave acts as master"
        );
        let sync = format!("{SYNC_BROKER_MEMBER_GROUP_PREFIX}a");
        let mut s2 = reg("a", 1, "s:1", vec![tc(&sync, 1, 1), tc("T", 4, 6)]);
        s2.enable_acting_master = Some(true);
        s2.data_version.counter = 9;
        rim.register_broker(s2, now).unwrap();
        let route = rim.pickup_topic_route(&sync).unwrap();
        assert!(!route.broker_datas[0].broker_addrs.contains_key(&0));
    }

    #[test]
    fn perms_delete_register_topic_and_lists() {
        let mut rim = RouteInfoManager::new(RouteOptions::default());
        let now = Instant::now();
        let mut topics = two_topics();
        topics.push(TopicConfig {
            topic_sys_flag: TOPIC_SYS_FLAG_UNIT,
            ..tc("U", 1, 6)
        });
        topics.push(TopicConfig {
            topic_sys_flag: TOPIC_SYS_FLAG_UNIT_SUB,
            ..tc("US", 1, 6)
        });
        rim.register_broker(reg("a", 0, "m:1", topics), now)
            .unwrap();
        assert_eq!(rim.wipe_write_perm("a"), 4);
        assert_eq!(
            rim.pickup_topic_route("TBW102").unwrap().queue_datas[0].perm,
            5
        );
        assert_eq!(rim.add_write_perm("a"), 4);
        assert_eq!(
            rim.pickup_topic_route("TBW102").unwrap().queue_datas[0].perm,
            6
        );
        assert_eq!(rim.wipe_write_perm("zz"), 0);
        assert_eq!(
            rim.topics_with_sys_flag(|f| f & TOPIC_SYS_FLAG_UNIT != 0),
            vec!["U".to_string()]
        );
        assert_eq!(
            rim.topics_with_sys_flag(|f| f & TOPIC_SYS_FLAG_UNIT_SUB != 0),
            vec!["US".to_string()]
        );
        let (sys, addr) = rim.system_topics();
        assert_eq!(sys, vec!["C".to_string(), "a".to_string()]);
        assert_eq!(addr.as_deref(), Some("m:1"));

        rim.delete_topic("U", Some("other"));
        assert!(rim.pickup_topic_route("U").is_some());
        rim.delete_topic("U", Some("C"));
        assert!(rim.pickup_topic_route("U").is_none());
        rim.delete_topic("US", None);
        assert!(rim.pickup_topic_route("US").is_none());

        let qd = QueueData {
            broker_name: "a".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            perm: 6,
            topic_sys_flag: 0,
        };
        assert!(rim.register_topic("R", vec![qd.clone()]));
        assert!(rim.pickup_topic_route("R").is_some());
        let bad = QueueData {
            broker_name: "nope".into(),
            ..qd
        };
        assert!(!rim.register_topic("R2", vec![bad]));
        assert!(rim.pickup_topic_route("R2").is_none());
    }

    #[test]
    fn delete_topic_with_registration_and_filter_servers() {
        let mut rim = RouteInfoManager::new(RouteOptions {
            delete_topic_with_broker_registration: true,
            ..Default::default()
        });
        let now = Instant::now();
        let mut r = reg(
            "a",
            0,
            "m:1",
            vec![tc("T", 4, 6), tc("Old", 1, 6), tc("TBW102", 8, 7)],
        );
        r.filter_servers = Some(vec!["f:1".into()]);
        rim.register_broker(r, now).unwrap();
        assert_eq!(
            rim.pickup_topic_route("T").unwrap().filter_server_table["m:1"],
            vec!["f:1".to_string()]
        );
        let mut r = reg("a", 0, "m:1", two_topics());
        r.data_version.counter = 2;
        r.filter_servers = Some(vec![]);
        rim.register_broker(r, now).unwrap();
        assert!(rim.pickup_topic_route("Old").is_none());
        assert!(rim
            .pickup_topic_route("T")
            .unwrap()
            .filter_server_table
            .is_empty());
    }
}
