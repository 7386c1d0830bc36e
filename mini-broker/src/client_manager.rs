//! Producer and consumer group membership ([`ClientManager`]): channels registered by
//! HEART_BEAT, the per-group subscription table, expiry of silent clients and
//! NOTIFY_CONSUMER_IDS_CHANGED on membership changes (Java `ConsumerManager`,
//! `ConsumerGroupInfo`, `ProducerManager`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocketmq_rs_remoting::protocol::body::{
    Connection as Connection_, ConsumeFromWhere, ConsumeType, ConsumerConnection, ConsumerData,
    MessageModel, ProducerConnection, SubscriptionData,
};
use rocketmq_rs_remoting::protocol::code::RequestCode;
use rocketmq_rs_remoting::protocol::header::NotifyConsumerIdsChangedRequestHeader;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Clock;
use rocketmq_rs_remoting::transport::Connection;
use rocketmq_rs_remoting::util::MutexExt;
use rocketmq_rs_remoting::LanguageCode;

/// One client connection registered in a group.
#[derive(Clone)]
pub struct ClientChannel {
    /// The connection.
    pub conn: Connection,
    /// The client's instance id.
    pub client_id: String,
    /// Language of the client's last heartbeat.
    pub language: LanguageCode,
    /// `MQVersion` ordinal of the client's last heartbeat.
    pub version: i32,
    /// Last heartbeat.
    pub last_update: Instant,
}

/// Who a heartbeat says the client is: its instance id, and the language and version of the
/// request that carried it (the connection lists answer them, as Apache's broker does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Client instance id (heartbeat `clientID`).
    pub client_id: String,
    /// Request language.
    pub language: LanguageCode,
    /// Request version (`MQVersion` ordinal).
    pub version: i32,
}

impl ClientIdentity {
    fn channel(&self, conn: &Connection, now: Instant) -> ClientChannel {
        ClientChannel {
            conn: conn.clone(),
            client_id: self.client_id.clone(),
            language: self.language,
            version: self.version,
            last_update: now,
        }
    }
}

impl ClientChannel {
    /// The channel as GET_*_CONNECTION_LIST answers it; `clientAddr` is the peer address as
    /// the broker sees it.
    fn connection(&self) -> Connection_ {
        Connection_ {
            client_id: self.client_id.clone(),
            client_addr: self.conn.peer_addr().to_string(),
            language: self.language.name().to_string(),
            version: self.version,
        }
    }
}

/// Live client channels by kind, from [`ClientManager::channel_counts`].
#[non_exhaustive]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChannelCounts {
    /// (language, version) → producer channels.
    pub producers: BTreeMap<(String, i32), usize>,
    /// (group, language, version) → consumer channels.
    pub consumers: BTreeMap<(String, String, i32), usize>,
}

/// A consumer group's state.
pub struct ConsumerGroupInfo {
    /// Channels by connection id.
    pub channels: HashMap<u64, ClientChannel>,
    /// Topic → subscription (last heartbeat wins, per group).
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    /// Pull or push.
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Where a new consumer starts.
    pub consume_from_where: ConsumeFromWhere,
}

#[derive(Default)]
struct Tables {
    consumers: HashMap<String, ConsumerGroupInfo>,
    producers: HashMap<String, HashMap<u64, ClientChannel>>,
}

/// Group membership tables.
#[derive(Default)]
pub struct ClientManager {
    t: Mutex<Tables>,
    /// Times heartbeats and expiry (the runtime's clock; the OS clock by default).
    clock: Clock,
}

impl std::fmt::Debug for ClientManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientManager").finish_non_exhaustive()
    }
}

/// Sends NOTIFY_CONSUMER_IDS_CHANGED (oneway) for `group` to every connection in `targets`.
fn notify(group: &str, targets: Vec<Connection>) {
    for conn in targets {
        let h = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_string(),
            bname: None,
        };
        let cmd =
            RemotingCommand::request(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED).with_header(&h);
        if let Err(e) = conn.send_oneway(cmd) {
            tracing::debug!(group, peer = %conn.peer_addr(), error = %e, "notify consumer ids changed failed");
        }
    }
}

impl ClientManager {
    /// Tables timed by `clock` (the broker's runtime clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.t.lock_unpoisoned()
    }

    /// Registers or refreshes a producer channel.
    pub fn register_producer(&self, group: &str, conn: &Connection, who: &ClientIdentity) {
        let ch = who.channel(conn, self.clock.now());
        self.lock()
            .producers
            .entry(group.to_string())
            .or_default()
            .insert(conn.id(), ch);
    }

    /// Registers or refreshes a consumer channel and merges the subscriptions. `keep_subs`
    /// (heartbeat v2 `withoutSub`) keeps the previous subscriptions. Notifies the group's
    /// channels when a new channel joined or the set of subscribed topics changed (not for
    /// broadcasting groups, nor when `notify_enabled` — the group's `notifyConsumerIdsChangedEnable` —
    /// is off). Returns whether the group was notified.
    pub fn register_consumer(
        &self,
        data: &ConsumerData,
        conn: &Connection,
        who: &ClientIdentity,
        keep_subs: bool,
        notify_enabled: bool,
    ) -> bool {
        let targets = {
            let mut t = self.lock();
            let g = t
                .consumers
                .entry(data.group_name.clone())
                .or_insert_with(|| ConsumerGroupInfo {
                    channels: HashMap::new(),
                    subscriptions: BTreeMap::new(),
                    consume_type: data.consume_type,
                    message_model: data.message_model,
                    consume_from_where: data.consume_from_where,
                });
            g.consume_type = data.consume_type;
            g.message_model = data.message_model;
            g.consume_from_where = data.consume_from_where;
            let new_channel = g
                .channels
                .insert(conn.id(), who.channel(conn, self.clock.now()))
                .is_none();
            let mut topics_changed = false;
            if !keep_subs {
                let before: BTreeSet<String> = g.subscriptions.keys().cloned().collect();
                let mut next = BTreeMap::new();
                for s in &data.subscription_data_set {
                    let s = normalize_subscription(s.clone());
                    match g.subscriptions.get(&s.topic) {
                        Some(old) if old.sub_version >= s.sub_version => {
                            next.insert(s.topic.clone(), old.clone());
                        }
                        _ => {
                            next.insert(s.topic.clone(), s);
                        }
                    }
                }
                let after: BTreeSet<String> = next.keys().cloned().collect();
                topics_changed = before != after;
                g.subscriptions = next;
            }
            if notify_enabled
                && (new_channel || topics_changed)
                && g.message_model != MessageModel::Broadcasting
            {
                g.channels.values().map(|c| c.conn.clone()).collect()
            } else {
                Vec::new()
            }
        };
        let notified = !targets.is_empty();
        notify(&data.group_name, targets);
        notified
    }

    /// Removes a client's channel from a producer and/or consumer group (UNREGISTER_CLIENT).
    pub fn unregister(
        &self,
        conn: &Connection,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) {
        let mut targets = Vec::new();
        {
            let mut t = self.lock();
            if let Some(pg) = producer_group.filter(|g| !g.is_empty()) {
                if let Some(m) = t.producers.get_mut(pg) {
                    m.remove(&conn.id());
                    if m.is_empty() {
                        t.producers.remove(pg);
                    }
                }
            }
            if let Some(cg) = consumer_group.filter(|g| !g.is_empty()) {
                if let Some(g) = t.consumers.get_mut(cg) {
                    if g.channels.remove(&conn.id()).is_some() {
                        if g.channels.is_empty() {
                            t.consumers.remove(cg);
                        } else if g.message_model != MessageModel::Broadcasting {
                            targets.push((
                                cg.to_string(),
                                g.channels
                                    .values()
                                    .map(|c| c.conn.clone())
                                    .collect::<Vec<_>>(),
                            ));
                        }
                    }
                }
            }
        }
        for (g, conns) in targets {
            notify(&g, conns);
        }
    }

    /// Removes a closed connection from every group, notifying remaining consumers.
    pub fn connection_closed(&self, conn_id: u64) {
        let targets = self.remove_where(|id, _| id == conn_id);
        for (g, conns) in targets {
            notify(&g, conns);
        }
    }

    /// Drops channels silent for longer than `expiry` (without notification, as Java), closing
    /// their connections. Returns how many were dropped.
    pub fn scan_expired(&self, expiry: Duration) -> usize {
        let now = self.clock.now();
        let mut expired = Vec::new();
        {
            let mut t = self.lock();
            t.consumers.retain(|_, g| {
                g.channels.retain(|_, c| {
                    let keep = now.duration_since(c.last_update) <= expiry;
                    if !keep {
                        expired.push(c.conn.clone());
                    }
                    keep
                });
                !g.channels.is_empty()
            });
            t.producers.retain(|_, m| {
                m.retain(|_, c| {
                    let keep = now.duration_since(c.last_update) <= expiry;
                    if !keep {
                        expired.push(c.conn.clone());
                    }
                    keep
                });
                !m.is_empty()
            });
        }
        let n = expired.len();
        for c in expired {
            tracing::info!(peer = %c.peer_addr(), "client channel expired");
            c.close();
        }
        n
    }

    fn remove_where(
        &self,
        pred: impl Fn(u64, &ClientChannel) -> bool,
    ) -> Vec<(String, Vec<Connection>)> {
        let mut targets = Vec::new();
        let mut t = self.lock();
        t.consumers.retain(|name, g| {
            let before = g.channels.len();
            g.channels.retain(|id, c| !pred(*id, c));
            if g.channels.len() != before
                && !g.channels.is_empty()
                && g.message_model != MessageModel::Broadcasting
            {
                targets.push((
                    name.clone(),
                    g.channels.values().map(|c| c.conn.clone()).collect(),
                ));
            }
            !g.channels.is_empty()
        });
        t.producers.retain(|_, m| {
            m.retain(|id, c| !pred(*id, c));
            !m.is_empty()
        });
        targets
    }

    /// Client ids of the group's live channels (GET_CONSUMER_LIST_BY_GROUP).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let t = self.lock();
        let mut ids: Vec<String> = t
            .consumers
            .get(group)
            .map(|g| g.channels.values().map(|c| c.client_id.clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Groups with at least one consumer channel, sorted.
    pub fn consumer_groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().consumers.keys().cloned().collect();
        v.sort();
        v
    }

    /// Groups with at least one producer channel, sorted.
    pub fn producer_groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().producers.keys().cloned().collect();
        v.sort();
        v
    }

    /// GET_CONSUMER_CONNECTION_LIST: the group's channels, subscriptions and the consume
    /// settings of its last heartbeat; `None` when the group has no channel.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let t = self.lock();
        let g = t.consumers.get(group)?;
        Some(ConsumerConnection {
            connection_set: g.channels.values().map(ClientChannel::connection).collect(),
            subscription_table: g.subscriptions.clone(),
            consume_type: Some(g.consume_type),
            message_model: Some(g.message_model),
            consume_from_where: Some(g.consume_from_where),
        })
    }

    /// GET_PRODUCER_CONNECTION_LIST: the group's channels; `None` when the group has none.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let t = self.lock();
        let m = t.producers.get(group)?;
        Some(ProducerConnection {
            connection_set: m.values().map(ClientChannel::connection).collect(),
        })
    }

    /// Online consumer groups whose subscriptions include `topic` (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn groups_subscribing(&self, topic: &str) -> BTreeSet<String> {
        self.lock()
            .consumers
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The topics an online group subscribes (empty when offline).
    pub fn subscribed_topics(&self, group: &str) -> BTreeSet<String> {
        self.lock()
            .consumers
            .get(group)
            .map(|g| g.subscriptions.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The group's registered subscription for `topic`, and whether the group exists.
    pub fn subscription(
        &self,
        group: &str,
        topic: &str,
    ) -> (bool, Option<SubscriptionData>, Option<MessageModel>) {
        let t = self.lock();
        match t.consumers.get(group) {
            Some(g) => (
                true,
                g.subscriptions.get(topic).cloned(),
                Some(g.message_model),
            ),
            None => (false, None, None),
        }
    }

    /// Live channels for the metrics endpoint: producers by (language, version) and consumers
    /// by (group, language, version), each with its count.
    pub fn channel_counts(&self) -> ChannelCounts {
        let t = self.lock();
        let mut c = ChannelCounts::default();
        for ch in t.producers.values().flat_map(HashMap::values) {
            *c.producers
                .entry((ch.language.name().to_string(), ch.version))
                .or_default() += 1;
        }
        for (group, info) in &t.consumers {
            for ch in info.channels.values() {
                *c.consumers
                    .entry((group.clone(), ch.language.name().to_string(), ch.version))
                    .or_default() += 1;
            }
        }
        c
    }

    /// Number of producer channels of `group`.
    pub fn producer_count(&self, group: &str) -> usize {
        self.lock().producers.get(group).map_or(0, |m| m.len())
    }

    /// The connection of the producer client `client_id` (Java `ProducerManager.findChannel`,
    /// used to push replies to requesters).
    pub fn producer_channel_by_client_id(&self, client_id: &str) -> Option<Connection> {
        self.lock()
            .producers
            .values()
            .flat_map(|m| m.values())
            .filter(|c| c.client_id == client_id && !c.conn.is_closed())
            .max_by_key(|c| c.last_update)
            .map(|c| c.conn.clone())
    }

    /// A live connection of producer group `group`, the most recently heard from, if any
    /// (transaction check-backs go there; a closed one not yet removed is skipped).
    pub fn producer_channel(&self, group: &str) -> Option<Connection> {
        self.lock()
            .producers
            .get(group)?
            .values()
            .filter(|c| !c.conn.is_closed())
            .max_by_key(|c| c.last_update)
            .map(|c| c.conn.clone())
    }

    /// The live connection of consumer `client_id` in `group` (Java `ConsumerManager.findChannel`:
    /// exact client id), the most recently heard from when it has several.
    pub fn consumer_channel(&self, group: &str, client_id: &str) -> Option<Connection> {
        self.lock()
            .consumers
            .get(group)?
            .channels
            .values()
            .filter(|c| c.client_id == client_id && !c.conn.is_closed())
            .max_by_key(|c| c.last_update)
            .map(|c| c.conn.clone())
    }

    /// Client id and connection of every live channel of consumer group `group`, ordered by
    /// client id (the targets of broker → client admin requests).
    pub fn consumer_channels(&self, group: &str) -> Vec<(String, Connection)> {
        let mut v: Vec<(String, Connection)> = self
            .lock()
            .consumers
            .get(group)
            .map(|g| {
                g.channels
                    .values()
                    .filter(|c| !c.conn.is_closed())
                    .map(|c| (c.client_id.clone(), c.conn.clone()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Normalises a subscription as Java's `FilterAPI.buildSubscriptionData` does: `*`/empty
/// means all; otherwise tags split on `||`, trimmed, empty parts dropped, hash codes computed.
///
/// ```
/// use rocketmq_rs_remoting::protocol::body::SubscriptionData;
/// let s = rocketmq_rs_mini_broker::client_manager::normalize_subscription(SubscriptionData {
///     topic: "T".into(), sub_string: "TagA || TagB".into(), ..Default::default() });
/// assert_eq!(s.code_set.len(), 2);
/// assert!(s.tags_set.contains("TagA"));
/// ```
pub fn normalize_subscription(mut s: SubscriptionData) -> SubscriptionData {
    let expr = s.sub_string.trim();
    if expr.is_empty() || expr == "*" {
        s.sub_string = "*".into();
        s.tags_set.clear();
        s.code_set.clear();
        return s;
    }
    if s.expression_type.eq_ignore_ascii_case("TAG") {
        // C++ may omit the sets; recompute them from the expression when missing.
        if s.tags_set.is_empty() || s.code_set.len() != s.tags_set.len() {
            let tags: BTreeSet<String> = expr
                .split("||")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            s.code_set = tags
                .iter()
                .map(|t| rocketmq_rs_remoting::protocol::message::tag_hash_code(t) as i32)
                .collect();
            s.tags_set = tags;
        } else {
            // Clients that hash untrimmed tags would never match: trust the trimmed tags.
            let tags: BTreeSet<String> = s
                .tags_set
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            s.code_set = tags
                .iter()
                .map(|t| rocketmq_rs_remoting::protocol::message::tag_hash_code(t) as i32)
                .collect();
            s.tags_set = tags;
        }
    }
    s
}
