//! Topic routes: [`TopicRouteData`] → publish queues ([`TopicPublishInfo`]) and subscribe
//! queues (docs/protocol/route.md §2, §3), and the [`RouteCache`] a client instance keeps: routes by
//! topic plus the broker address table (broker name → id → address) derived from them.
//!
//! - Publish queues: from `orderTopicConf` when present (`"brokerA:4;brokerB:4"`, no perm or
//!   master checks); otherwise, for each queue data sorted by broker name that has the WRITE
//!   bit and whose broker has a master (id 0), queues `0..writeQueueNums`.
//! - Subscribe queues: every queue data with the READ bit, queues `0..readQueueNums`, sorted.
//! - `TBW102` fallback: when a topic has no route, producers use the default topic's route
//!   with every queue count clipped to `min(default_topic_queue_nums, readQueueNums)`
//!   ([`clip_default_route`]).
//!
//! ```
//! use rocketmq_rs_client::client::route::{publish_info, subscribe_queues};
//! use rocketmq_rs_remoting::protocol::body::{BrokerData, QueueData, TopicRouteData};
//!
//! let mut route = TopicRouteData::default();
//! let mut b = BrokerData::new("DefaultCluster", "broker-a");
//! b.broker_addrs.insert(0, "127.0.0.1:10911".into());
//! route.broker_datas.push(b);
//! route.queue_datas.push(QueueData {
//!     broker_name: "broker-a".into(), read_queue_nums: 4, write_queue_nums: 2, perm: 6,
//!     topic_sys_flag: 0,
//! });
//! assert_eq!(publish_info("T", &route).queues.len(), 2);
//! assert_eq!(subscribe_queues("T", &route).len(), 4);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use rocketmq_rs_remoting::util::hash::KeyMap;
use std::sync::{Arc, RwLock};

use rocketmq_rs_remoting::protocol::body::TopicRouteData;
use rocketmq_rs_remoting::util::RwLockExt;

use crate::message_queue::MessageQueue;

/// Permission bit: the queue may be read (Java `PermName.PERM_READ`).
pub const PERM_READ: i32 = 4;
/// Permission bit: the queue may be written.
pub const PERM_WRITE: i32 = 2;
/// Permission bit: auto-created topics inherit from this one (`TBW102`).
pub const PERM_INHERIT: i32 = 1;
/// Permission bit: priority.
pub const PERM_PRIORITY: i32 = 8;

/// The template topic brokers auto-create topics from.
pub const DEFAULT_TOPIC: &str = "TBW102";

/// Queues a producer can write to for one topic (Java `TopicPublishInfo`).
#[derive(Debug, Clone, Default)]
pub struct TopicPublishInfo {
    /// Built from `orderTopicConf`.
    pub order_topic: bool,
    /// Writable queues in selection order.
    pub queues: Vec<MessageQueue>,
    /// The route the queues come from (the clipped `TBW102` route for a fallback).
    pub route: Arc<TopicRouteData>,
    /// Built from the default topic's route because the topic itself has none yet.
    pub from_default_topic: bool,
}

impl TopicPublishInfo {
    /// Whether there is at least one queue to send to.
    pub fn is_ok(&self) -> bool {
        !self.queues.is_empty()
    }
}

/// Builds the publish queues of `topic` from `route` (Java `topicRouteData2TopicPublishInfo`).
pub fn publish_info(topic: &str, route: &TopicRouteData) -> TopicPublishInfo {
    let mut info = TopicPublishInfo {
        route: Arc::new(route.clone()),
        ..TopicPublishInfo::default()
    };
    if let Some(conf) = route.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
        for item in conf.split(';') {
            let Some((broker, nums)) = item.split_once(':') else {
                continue;
            };
            let nums: i32 = nums.trim().parse().unwrap_or(0);
            for q in 0..nums.max(0) {
                info.queues.push(MessageQueue::new(topic, broker.trim(), q));
            }
        }
        info.order_topic = true;
        return info;
    }
    let mut qds: Vec<_> = route.queue_datas.iter().collect();
    qds.sort_by(|a, b| crate::util::java_string_cmp(&a.broker_name, &b.broker_name));
    for qd in qds {
        if qd.perm & PERM_WRITE == 0 {
            continue;
        }
        let has_master = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == qd.broker_name)
            .is_some_and(|b| b.broker_addrs.contains_key(&0));
        if !has_master {
            continue;
        }
        for q in 0..qd.write_queue_nums.max(0) {
            info.queues
                .push(MessageQueue::new(topic, &qd.broker_name, q));
        }
    }
    info
}

/// The readable queues of `topic` (Java `topicRouteData2TopicSubscribeInfo`), sorted.
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut out: Vec<MessageQueue> = route
        .queue_datas
        .iter()
        .filter(|qd| qd.perm & PERM_READ != 0)
        .flat_map(|qd| {
            (0..qd.read_queue_nums.max(0))
                .map(move |q| MessageQueue::new(topic, &qd.broker_name, q))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The default topic's route adapted for auto-creating another topic: every queue data's read
/// and write counts become `min(default_queue_nums, readQueueNums)` (Java
/// `updateTopicRouteInfoFromNameServer(topic, isDefault=true, producer)`).
pub fn clip_default_route(route: &TopicRouteData, default_queue_nums: i32) -> TopicRouteData {
    let mut out = route.clone();
    for qd in &mut out.queue_datas {
        let n = default_queue_nums.min(qd.read_queue_nums);
        qd.read_queue_nums = n;
        qd.write_queue_nums = n;
    }
    out
}

/// `route` with queue and broker datas sorted by broker name, for change detection.
fn normalized(route: &TopicRouteData) -> TopicRouteData {
    let mut r = route.clone();
    r.queue_datas
        .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    r.broker_datas
        .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    r
}

/// Whether two routes differ in anything but the order of their lists.
pub fn route_changed(old: &TopicRouteData, new: &TopicRouteData) -> bool {
    normalized(old) != normalized(new)
}

/// Keyed by topic and broker name with the cheap [`KeyMap`] hasher: every send looks up its
/// topic's publish info and its broker's address here.
#[derive(Debug, Default)]
struct Tables {
    routes: KeyMap<String, Arc<TopicRouteData>>,
    publish: KeyMap<String, Arc<TopicPublishInfo>>,
    subscribe: KeyMap<String, Arc<Vec<MessageQueue>>>,
    /// Shared strings: the send path takes the master address once per message.
    brokers: KeyMap<String, BTreeMap<i64, Arc<str>>>,
}

fn shared_addrs(addrs: &BTreeMap<i64, String>) -> BTreeMap<i64, Arc<str>> {
    addrs
        .iter()
        .map(|(id, a)| (*id, Arc::from(a.as_str())))
        .collect()
}

/// A client instance's route tables: route, publish info and subscribe queues by topic, and
/// the broker address table. Thread-safe; locks are never held across `.await`.
#[derive(Debug, Default)]
pub struct RouteCache {
    tables: RwLock<Tables>,
}

impl RouteCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read_unpoisoned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write_unpoisoned()
    }

    /// Stores `topic`'s route (publish info, subscribe queues, broker addresses); returns
    /// whether it changed.
    pub fn update(&self, topic: &str, route: TopicRouteData) -> bool {
        let mut t = self.write();
        let changed = t
            .routes
            .get(topic)
            .is_none_or(|old| route_changed(old, &route));
        for bd in &route.broker_datas {
            t.brokers
                .insert(bd.broker_name.clone(), shared_addrs(&bd.broker_addrs));
        }
        let info = publish_info(topic, &route);
        let subs = subscribe_queues(topic, &route);
        t.publish.insert(topic.to_owned(), Arc::new(info));
        t.subscribe.insert(topic.to_owned(), Arc::new(subs));
        t.routes.insert(topic.to_owned(), Arc::new(route));
        changed
    }

    /// Stores a publish info built from the (clipped) default route for `topic`, which has
    /// no route of its own yet. Broker addresses are recorded; no route is stored for the topic,
    /// so a later real route replaces it.
    pub fn update_from_default(
        &self,
        topic: &str,
        clipped: &TopicRouteData,
    ) -> Arc<TopicPublishInfo> {
        let mut info = publish_info(topic, clipped);
        info.from_default_topic = true;
        let info = Arc::new(info);
        let mut t = self.write();
        for bd in &clipped.broker_datas {
            t.brokers
                .insert(bd.broker_name.clone(), shared_addrs(&bd.broker_addrs));
        }
        t.publish.insert(topic.to_owned(), Arc::clone(&info));
        info
    }

    /// The cached route of `topic`.
    pub fn route(&self, topic: &str) -> Option<Arc<TopicRouteData>> {
        self.read().routes.get(topic).cloned()
    }

    /// The cached publish info of `topic`.
    pub fn publish_info(&self, topic: &str) -> Option<Arc<TopicPublishInfo>> {
        self.read().publish.get(topic).cloned()
    }

    /// The cached subscribe queues of `topic`.
    pub fn subscribe_queues(&self, topic: &str) -> Option<Arc<Vec<MessageQueue>>> {
        self.read().subscribe.get(topic).cloned()
    }

    /// Topics with a cached route or publish info.
    pub fn topics(&self) -> Vec<String> {
        let t = self.read();
        let mut set: HashSet<&String> = t.routes.keys().collect();
        set.extend(t.publish.keys());
        set.into_iter().cloned().collect()
    }

    /// Forgets `topic`.
    pub fn remove(&self, topic: &str) {
        let mut t = self.write();
        t.routes.remove(topic);
        t.publish.remove(topic);
        t.subscribe.remove(topic);
    }

    /// The master address (id 0) of `broker_name`; shared, so that looking it up allocates
    /// nothing.
    pub fn master_addr(&self, broker_name: &str) -> Option<Arc<str>> {
        self.read().brokers.get(broker_name)?.get(&0).cloned()
    }

    /// The address of `broker_name`'s broker `broker_id`, falling back to the master and then
    /// to any address of that broker name (for pulls that the broker redirected to a slave).
    /// Returns `(address, is_slave)`.
    pub fn broker_addr(&self, broker_name: &str, broker_id: i64) -> Option<(String, bool)> {
        let t = self.read();
        let addrs = t.brokers.get(broker_name)?;
        if let Some(a) = addrs.get(&broker_id) {
            return Some((a.to_string(), broker_id != 0));
        }
        if let Some(a) = addrs.get(&0) {
            return Some((a.to_string(), false));
        }
        addrs.iter().next().map(|(id, a)| (a.to_string(), *id != 0))
    }

    /// Every known broker: `(broker name, broker id, address)`.
    pub fn all_brokers(&self) -> Vec<(String, i64, String)> {
        let t = self.read();
        t.brokers
            .iter()
            .flat_map(|(name, addrs)| {
                addrs
                    .iter()
                    .map(move |(id, a)| (name.clone(), *id, a.to_string()))
            })
            .collect()
    }

    /// The broker name whose address table contains `addr`.
    pub fn broker_name_of(&self, addr: &str) -> Option<String> {
        let t = self.read();
        t.brokers
            .iter()
            .find(|(_, addrs)| addrs.values().any(|a| &**a == addr))
            .map(|(n, _)| n.clone())
    }

    /// Drops broker addresses that no cached route or publish info mentions any more (Java
    /// `cleanOfflineBroker`); returns the removed addresses.
    pub fn clean_offline_brokers(&self) -> Vec<String> {
        let mut t = self.write();
        let mut live: HashMap<String, HashSet<String>> = HashMap::new();
        let routes = t
            .routes
            .values()
            .map(Arc::as_ref)
            .chain(t.publish.values().map(|p| p.route.as_ref()));
        for r in routes {
            for bd in &r.broker_datas {
                live.entry(bd.broker_name.clone())
                    .or_default()
                    .extend(bd.broker_addrs.values().cloned());
            }
        }
        let mut removed = Vec::new();
        t.brokers.retain(|name, addrs| match live.get(name) {
            None => {
                removed.extend(addrs.values().map(|a| a.to_string()));
                false
            }
            Some(keep) => {
                addrs.retain(|_, a| {
                    let k = keep.contains(&**a);
                    if !k {
                        removed.push(a.to_string());
                    }
                    k
                });
                !addrs.is_empty()
            }
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketmq_rs_remoting::protocol::body::{BrokerData, QueueData};

    fn qd(name: &str, r: i32, w: i32, perm: i32) -> QueueData {
        QueueData {
            broker_name: name.into(),
            read_queue_nums: r,
            write_queue_nums: w,
            perm,
            topic_sys_flag: 0,
        }
    }

    fn bd(name: &str, addrs: &[(i64, &str)]) -> BrokerData {
        let mut b = BrokerData::new("c", name);
        for (id, a) in addrs {
            b.broker_addrs.insert(*id, (*a).into());
        }
        b
    }

    fn route() -> TopicRouteData {
        TopicRouteData {
            queue_datas: vec![
                qd("broker-b", 4, 2, 6),
                qd("broker-a", 3, 3, 6),
                qd("broker-c", 4, 4, 4), // read only
                qd("broker-d", 2, 2, 6), // slave only
                qd("broker-e", 1, 1, 6), // no broker data
            ],
            broker_datas: vec![
                bd("broker-a", &[(0, "a:1")]),
                bd("broker-b", &[(0, "b:1"), (1, "b:2")]),
                bd("broker-c", &[(0, "c:1")]),
                bd("broker-d", &[(1, "d:2")]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn publish_queues_follow_java_rules() {
        let info = publish_info("T", &route());
        let got: Vec<(String, i32)> = info
            .queues
            .iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect();
        let want: Vec<(String, i32)> = [
            ("broker-a", 0),
            ("broker-a", 1),
            ("broker-a", 2),
            ("broker-b", 0),
            ("broker-b", 1),
        ]
        .iter()
        .map(|(b, q)| (b.to_string(), *q))
        .collect();
        assert_eq!(got, want);
        assert!(!info.order_topic);
        assert!(info.queues.iter().all(|q| q.topic == "T"));
    }

    #[test]
    fn order_topic_conf_wins() {
        let mut r = route();
        r.order_topic_conf = Some("broker-x:2;broker-a:1;bad;".into());
        let info = publish_info("T", &r);
        assert!(info.order_topic);
        assert_eq!(
            info.queues,
            vec![
                MessageQueue::new("T", "broker-x", 0),
                MessageQueue::new("T", "broker-x", 1),
                MessageQueue::new("T", "broker-a", 0),
            ]
        );
        // An empty conf is ignored.
        r.order_topic_conf = Some(String::new());
        assert!(!publish_info("T", &r).order_topic);
    }

    #[test]
    fn subscribe_queues_use_read_counts() {
        let subs = subscribe_queues("T", &route());
        // a:3 + b:4 + c:4 + d:2 + e:1 (no master requirement)
        assert_eq!(subs.len(), 14);
        assert!(subs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tbw102_is_clipped() {
        let tbw = TopicRouteData {
            queue_datas: vec![qd("broker-a", 8, 8, 7), qd("broker-b", 2, 8, 7)],
            broker_datas: vec![bd("broker-a", &[(0, "a:1")]), bd("broker-b", &[(0, "b:1")])],
            ..Default::default()
        };
        let clipped = clip_default_route(&tbw, 4);
        assert_eq!(clipped.queue_datas[0].write_queue_nums, 4);
        assert_eq!(clipped.queue_datas[0].read_queue_nums, 4);
        assert_eq!(clipped.queue_datas[1].write_queue_nums, 2);
        let cache = RouteCache::new();
        let info = cache.update_from_default("New", &clipped);
        assert!(info.from_default_topic);
        assert_eq!(info.queues.len(), 6);
        assert!(info.queues.iter().all(|q| q.topic == "New"));
        assert_eq!(cache.master_addr("broker-b").as_deref(), Some("b:1"));
        assert!(cache.route("New").is_none());
    }

    #[test]
    fn cache_tracks_changes_and_cleans_brokers() {
        let cache = RouteCache::new();
        assert!(cache.update("T", route()));
        assert!(!cache.update("T", route()));
        let mut reordered = route();
        reordered.queue_datas.reverse();
        assert!(!cache.update("T", reordered));
        assert_eq!(cache.broker_addr("broker-b", 1), Some(("b:2".into(), true)));
        assert_eq!(
            cache.broker_addr("broker-b", 5),
            Some(("b:1".into(), false))
        );
        assert_eq!(cache.broker_addr("broker-d", 0), Some(("d:2".into(), true)));
        assert_eq!(cache.broker_name_of("b:2").as_deref(), Some("broker-b"));
        // broker-b loses its slave; broker-c disappears.
        let mut r = route();
        r.broker_datas[1] = bd("broker-b", &[(0, "b:1")]);
        r.broker_datas.remove(2);
        r.queue_datas.remove(2);
        assert!(cache.update("T", r));
        // The slave address went with the new broker data; the vanished broker goes here.
        assert_eq!(
            cache.broker_addr("broker-b", 1),
            Some(("b:1".into(), false))
        );
        assert_eq!(cache.clean_offline_brokers(), ["c:1"]);
        assert_eq!(cache.master_addr("broker-c"), None);
        assert_eq!(cache.all_brokers().len(), 3);
    }
}
