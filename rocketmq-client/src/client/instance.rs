//! [`ClientInstance`]: the connections, routes, heartbeats and broker-request handling shared
//! by the producers and consumers of one process (Java `MQClientInstance`).
//!
//! An instance is explicit — never a hidden global. Each producer/consumer builder creates its
//! own unless given one with `.client_instance(instance.clone())`; share one to use a single
//! connection set, client id and heartbeat for several groups.
//!
//! # Lifecycle
//!
//! [`ClientInstance::new`] validates the config and picks the runtime; [`ClientInstance::start`]
//! (idempotent) installs the broker-request handler and starts two background tasks: route
//! refresh (first after 10 ms, then every [`ClientConfig::route_refresh_interval`]) and
//! offline-broker cleanup + heartbeat (first after 1 s, then every
//! [`ClientConfig::heartbeat_interval`]). [`ClientInstance::shutdown`] (idempotent) stops the
//! tasks and closes every connection.
//!
//! # Registry
//!
//! Producers and consumers register by group through two small traits:
//! [`ProducerHandle`] and [`ConsumerHandle`]. The registry feeds heartbeats (every registered
//! group is announced to every broker; to masters only while no consumer is registered) and
//! routes broker-initiated requests:
//!
//! | request | goes to |
//! |---|---|
//! | NOTIFY_CONSUMER_IDS_CHANGED (40) | [`ConsumerHandle::on_consumer_ids_changed`] |
//! | RESET_CONSUMER_CLIENT_OFFSET (220) | [`ConsumerHandle::reset_offset`] |
//! | GET_CONSUMER_RUNNING_INFO (307) | [`ConsumerHandle::running_info`] |
//! | CONSUME_MESSAGE_DIRECTLY (309) | [`ConsumerHandle::consume_message_directly`] |
//! | CHECK_TRANSACTION_STATE (39) | [`ProducerHandle::check_transaction_state`] (group from `PGROUP`) |
//! | PUSH_REPLY_MESSAGE_TO_CLIENT (326) | the waiting [`Producer::request`](crate::Producer::request) (by `CORRELATION_ID`) |
//! | anything else | `REQUEST_CODE_NOT_SUPPORTED` |
//!
//! # Routes
//!
//! [`ClientInstance::topic_publish_info`] (producers, with the `TBW102` fallback) and
//! [`ClientInstance::subscribe_queues`] (consumers) answer from the cache and fetch on a
//! miss; [`ClientInstance::update_topic_route`] forces a fetch. Broker addresses come from
//! [`ClientInstance::master_addr`] / [`ClientInstance::broker_addr`].
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use rocketmq_rs_client::{ClientInstance, config::ClientConfig};
//!
//! let a = ClientInstance::new(ClientConfig::with_name_server("127.0.0.1:9876")).unwrap();
//! let b = ClientInstance::new(ClientConfig::with_name_server("127.0.0.1:9876")).unwrap();
//! assert_ne!(a.client_id(), b.client_id()); // unique even within one process
//! a.shutdown().await;
//! # });
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use futures::future::{join_all, select, Either};
use rocketmq_rs_remoting::protocol::body::{
    ConsumeMessageDirectlyResult, ConsumerData, ConsumerRunningInfo, GetConsumerStatusBody,
    HeartbeatData, JsonBody, ProducerData, ResetOffsetBody, TopicRouteData,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    CheckTransactionStateRequestHeader, ConsumeMessageDirectlyResultRequestHeader,
    CreateTopicRequestHeader, GetConsumerRunningInfoRequestHeader, GetConsumerStatusRequestHeader,
    NotifyConsumerIdsChangedRequestHeader, ResetOffsetRequestHeader, TopicFilterType,
};
use rocketmq_rs_remoting::protocol::message::{
    decode_messages, property, MessageExt, UniqIdGenerator,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{timeout, BoxFuture, Runtime, Stopwatch, TaskGroup};
use rocketmq_rs_remoting::transport::{Connection, RemotingClient};
use rocketmq_rs_remoting::util::RwLockExt;
use tracing::Instrument;

use super::api::{ClientApi, TopicTarget};
use super::route::{clip_default_route, RouteCache, TopicPublishInfo, DEFAULT_TOPIC};
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::message_queue::MessageQueue;

/// What the instance needs from a registered producer.
pub trait ProducerHandle: Send + Sync + 'static {
    /// The producer group (with namespace).
    fn group(&self) -> &str;

    /// A broker asks for the state of a transaction (CHECK_TRANSACTION_STATE). The producer
    /// answers later with END_TRANSACTION (`fromTransactionCheck = true`) through
    /// [`ClientApi::end_transaction`] to `check.broker_addr`. The default logs and ignores it:
    /// the broker asks again later.
    fn check_transaction_state(&self, check: TransactionCheck) {
        tracing::warn!(
            group = self.group(),
            broker = %check.broker_addr,
            msg_id = ?check.header.msg_id,
            "transaction check received but this producer has no transaction listener"
        );
    }
}

/// A CHECK_TRANSACTION_STATE request from a broker.
#[derive(Debug, Clone)]
pub struct TransactionCheck {
    /// The address of the asking broker (send END_TRANSACTION there).
    pub broker_addr: String,
    /// The request header (offsets, ids).
    pub header: CheckTransactionStateRequestHeader,
    /// The half message, topic and queue restored to the real destination.
    pub message: MessageExt,
}

/// What the instance needs from a registered consumer. Only [`group`](Self::group) and
/// [`consumer_data`](Self::consumer_data) are required.
pub trait ConsumerHandle: Send + Sync + 'static {
    /// The consumer group (with namespace).
    fn group(&self) -> &str;

    /// The group's heartbeat entry: consume type, model, where to start, subscriptions.
    fn consumer_data(&self) -> ConsumerData;

    /// Topics whose routes the instance keeps fresh (default: the subscriptions' topics).
    fn subscribed_topics(&self) -> Vec<String> {
        self.consumer_data()
            .subscription_data_set
            .into_iter()
            .map(|s| s.topic)
            .collect()
    }

    /// A broker says the group's membership changed: rebalance soon.
    fn on_consumer_ids_changed(&self) {}

    /// The route refresh saw `topic`'s route change (new subscribe queues are in
    /// [`ClientInstance::subscribe_queues`]).
    fn on_route_changed(&self, _topic: &str) {}

    /// A broker asks to reset the offsets of `topic` (RESET_CONSUMER_CLIENT_OFFSET).
    fn reset_offset(&self, _topic: &str, _offsets: Vec<(MessageQueue, i64)>) {}

    /// The consumer's in-memory offsets of `topic`'s queues, for admin tools
    /// (GET_CONSUMER_STATUS_FROM_CLIENT; an empty map when this kind keeps none).
    fn consumer_status(&self, _topic: &str) -> BTreeMap<MessageQueue, i64> {
        BTreeMap::new()
    }

    /// Running info for admin tools; `None` answers `SYSTEM_ERROR`. The instance adds
    /// `PROP_NAMESERVER_ADDR` and `PROP_CLIENT_VERSION` when absent.
    fn running_info(&self) -> Option<ConsumerRunningInfo> {
        None
    }

    /// Consumes `msg` once for an admin tool (CONSUME_MESSAGE_DIRECTLY), without offset or
    /// retry side effects; `None` answers `SYSTEM_ERROR` (not supported).
    fn consume_message_directly(
        &self,
        _msg: MessageExt,
        _broker_name: Option<String>,
    ) -> Option<BoxFuture<'static, ConsumeMessageDirectlyResult>> {
        None
    }
}

/// Options of [`ClientInstance::create_topic`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateTopicOptions {
    /// Readable queues (default 8, as `mqadmin updateTopic`).
    pub read_queue_nums: i32,
    /// Writable queues (default 8).
    pub write_queue_nums: i32,
    /// Permission bits (default 6 = read + write).
    pub perm: i32,
    /// Ordered topic (default false).
    pub order: bool,
}

impl Default for CreateTopicOptions {
    fn default() -> Self {
        CreateTopicOptions {
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: 6,
            order: false,
        }
    }
}

const CREATED: u8 = 0;
const RUNNING: u8 = 1;
const SHUT_DOWN: u8 = 2;

/// The client instance shared by producers and consumers (Java `MQClientInstance`).
/// Cheap to clone; clones share everything. See the [module docs](self).
#[doc(alias = "MQClientInstance")]
#[derive(Clone)]
pub struct ClientInstance {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    rt: Arc<dyn Runtime>,
    client_id: String,
    api: ClientApi,
    routes: RouteCache,
    producers: RwLock<HashMap<String, Arc<dyn ProducerHandle>>>,
    consumers: RwLock<HashMap<String, Arc<dyn ConsumerHandle>>>,
    state: AtomicU8,
    tasks: TaskGroup,
    uniq: UniqIdGenerator,
    heartbeat_lock: futures::lock::Mutex<()>,
    replies: crate::producer::request::ReplyWaiters,
}

impl fmt::Debug for ClientInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInstance")
            .field("client_id", &self.inner.client_id)
            .field("namesrv", &self.inner.config.namesrv_addrs)
            .field("state", &self.inner.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read_unpoisoned()
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write_unpoisoned()
}

impl ClientInstance {
    /// A new instance (not started). The client id is `ip@instance[@unit]` with a generated
    /// unique instance name unless [`ClientConfig::instance_name`] is set.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid config or when no runtime is available.
    pub fn new(config: ClientConfig) -> Result<Self> {
        config.validate()?;
        let rt = config.resolve_runtime()?;
        let ip: IpAddr = match &config.client_ip {
            Some(s) => s
                .parse()
                .map_err(|_| Error::Config(format!("client_ip {s:?} is not an IP address")))?,
            None => IpAddr::V4(crate::util::local_ip()),
        };
        let instance = config
            .instance_name
            .clone()
            .unwrap_or_else(crate::util::unique_instance_name);
        let client_id =
            crate::util::client_id(&ip.to_string(), &instance, config.unit_name.as_deref());
        let remoting = RemotingClient::new(Arc::clone(&rt), config.transport.clone());
        let api = ClientApi::new(
            remoting,
            config.namesrv_addrs.clone(),
            config.serialize_type,
        );
        let inner = Arc::new(Inner {
            tasks: TaskGroup::new(Arc::clone(&rt)),
            uniq: UniqIdGenerator::new(ip),
            config,
            rt,
            client_id,
            api,
            routes: RouteCache::new(),
            producers: RwLock::new(HashMap::new()),
            consumers: RwLock::new(HashMap::new()),
            state: AtomicU8::new(CREATED),
            heartbeat_lock: futures::lock::Mutex::new(()),
            replies: Default::default(),
        });
        // The handler holds a weak reference: the remoting client lives inside `Inner`.
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        inner
            .api
            .remoting()
            .set_request_handler(Arc::new(move |conn, req| {
                let weak = weak.clone();
                Box::pin(async move {
                    match weak.upgrade() {
                        Some(inner) => inner.handle_request(conn, req).await,
                        None => None,
                    }
                })
            }));
        Ok(ClientInstance { inner })
    }

    /// The client id brokers know this instance by.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.rt
    }

    /// The typed RPCs (shares this instance's connections).
    pub fn api(&self) -> &ClientApi {
        &self.inner.api
    }

    /// The route cache.
    pub fn routes(&self) -> &RouteCache {
        &self.inner.routes
    }

    /// Requests waiting for their reply (request-reply).
    pub(crate) fn reply_waiters(&self) -> &crate::producer::request::ReplyWaiters {
        &self.inner.replies
    }

    /// A fresh client message id (`UNIQ_KEY`, Java layout).
    pub fn next_uniq_id(&self) -> String {
        self.inner.uniq.next_id()
    }

    /// Whether [`start`](Self::start) ran and [`shutdown`](Self::shutdown) did not.
    pub fn is_running(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == RUNNING
    }

    /// Starts the background tasks. Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] after [`shutdown`](Self::shutdown).
    pub fn start(&self) -> Result<()> {
        match self.inner.state.compare_exchange(
            CREATED,
            RUNNING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(RUNNING) => return Ok(()),
            Err(_) => return Err(Error::Shutdown),
        }
        let weak = Arc::downgrade(&self.inner);
        let cfg = &self.inner.config;
        self.spawn_periodic(
            "route_refresh",
            Duration::from_millis(10),
            cfg.route_refresh_interval,
            weak.clone(),
            |inner| Box::pin(async move { ClientInstance { inner }.refresh_all_routes().await }),
        );
        self.spawn_periodic(
            "heartbeat",
            Duration::from_secs(1).min(cfg.heartbeat_interval),
            cfg.heartbeat_interval,
            weak,
            |inner| {
                Box::pin(async move {
                    let me = ClientInstance { inner };
                    let removed = me.inner.routes.clean_offline_brokers();
                    for addr in removed {
                        tracing::info!(%addr, "broker left every route; closing its connection");
                        me.inner.api.remoting().close(&addr);
                    }
                    me.send_heartbeat_to_all_brokers().await;
                })
            },
        );
        tracing::info!(client_id = %self.inner.client_id, "client instance started");
        Ok(())
    }

    fn spawn_periodic(
        &self,
        name: &'static str,
        first: Duration,
        period: Duration,
        weak: Weak<Inner>,
        job: fn(Arc<Inner>) -> BoxFuture<'static, ()>,
    ) {
        let rt = Arc::clone(&self.inner.rt);
        let stop = self.inner.tasks.signal().wait();
        self.inner.tasks.spawn(
            async move {
                let mut stop = stop;
                let mut delay = first;
                loop {
                    match select(rt.sleep(delay), &mut stop).await {
                        Either::Left(_) => {}
                        Either::Right(_) => return,
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    // A job never outlives the shutdown signal.
                    match select(job(inner), &mut stop).await {
                        Either::Left(_) => {}
                        Either::Right(_) => return,
                    }
                    delay = period;
                }
            }
            .instrument(tracing::debug_span!("periodic", task = name)),
        );
    }

    /// Stops the background tasks (waiting up to [`ClientConfig::shutdown_timeout`]) and closes
    /// every connection. Idempotent. Registered producers/consumers should have unregistered
    /// first (their own `shutdown` does that).
    pub async fn shutdown(&self) {
        if self.inner.state.swap(SHUT_DOWN, Ordering::AcqRel) == SHUT_DOWN {
            return;
        }
        self.inner
            .tasks
            .shutdown(self.inner.config.shutdown_timeout)
            .await;
        self.inner.api.remoting().shutdown();
        tracing::info!(client_id = %self.inner.client_id, "client instance shut down");
    }

    /// Test fault (`testing::kill` / `testing::hang`): stops the background tasks without
    /// waiting and without unregistering anything, so the brokers stop hearing from this
    /// client; with `close_connections` every connection is dropped too. The instance counts
    /// as shut down afterwards.
    pub(crate) fn halt(&self, close_connections: bool) {
        self.inner.state.store(SHUT_DOWN, Ordering::Release);
        self.inner.tasks.signal().trigger();
        if close_connections {
            self.inner.api.remoting().shutdown();
        }
        tracing::info!(client_id = %self.inner.client_id, close_connections, "client instance halted (test fault)");
    }

    /// Registers a producer group.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the group is already registered on this instance.
    pub fn register_producer(&self, handle: Arc<dyn ProducerHandle>) -> Result<()> {
        let mut map = write(&self.inner.producers);
        let group = handle.group().to_owned();
        if map.contains_key(&group) {
            return Err(Error::Config(format!(
                "producer group {group:?} is already registered on this client instance; \
                 use another group or share the producer"
            )));
        }
        map.insert(group, handle);
        Ok(())
    }

    /// Registers a consumer group.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the group is already registered on this instance.
    pub fn register_consumer(&self, handle: Arc<dyn ConsumerHandle>) -> Result<()> {
        let mut map = write(&self.inner.consumers);
        let group = handle.group().to_owned();
        if map.contains_key(&group) {
            return Err(Error::Config(format!(
                "consumer group {group:?} is already registered on this client instance; \
                 use another group"
            )));
        }
        map.insert(group, handle);
        Ok(())
    }

    /// Removes a producer group and sends UNREGISTER_CLIENT for it to every known broker.
    pub async fn unregister_producer(&self, group: &str) {
        if write(&self.inner.producers).remove(group).is_some() {
            self.unregister_from_brokers(Some(group), None).await;
        }
    }

    /// Removes a consumer group and sends UNREGISTER_CLIENT for it to every known broker.
    pub async fn unregister_consumer(&self, group: &str) {
        if write(&self.inner.consumers).remove(group).is_some() {
            self.unregister_from_brokers(None, Some(group)).await;
        }
    }

    async fn unregister_from_brokers(&self, producer: Option<&str>, consumer: Option<&str>) {
        if self.inner.state.load(Ordering::Acquire) == SHUT_DOWN {
            return;
        }
        let timeout = self.inner.config.rpc_timeout;
        let api = &self.inner.api;
        let id = &self.inner.client_id;
        let calls = self
            .inner
            .routes
            .all_brokers()
            .into_iter()
            .map(|(_, _, addr)| async move {
                if let Err(e) = api
                    .unregister_client(&addr, id, producer, consumer, timeout)
                    .await
                {
                    tracing::debug!(%addr, error = %e, "unregister failed");
                }
            });
        join_all(calls).await;
    }

    /// The registered producer groups.
    pub fn producer_groups(&self) -> Vec<String> {
        read(&self.inner.producers).keys().cloned().collect()
    }

    /// The registered consumer of `group`.
    pub fn consumer(&self, group: &str) -> Option<Arc<dyn ConsumerHandle>> {
        read(&self.inner.consumers).get(group).cloned()
    }

    /// The heartbeat this instance sends (every registered group).
    pub fn heartbeat_data(&self) -> HeartbeatData {
        let producer_data_set = read(&self.inner.producers)
            .keys()
            .map(|g| ProducerData {
                group_name: g.clone(),
            })
            .collect();
        let consumers: Vec<_> = read(&self.inner.consumers).values().cloned().collect();
        HeartbeatData {
            client_id: self.inner.client_id.clone(),
            producer_data_set,
            consumer_data_set: consumers.iter().map(|c| c.consumer_data()).collect(),
            heartbeat_fingerprint: 0,
            without_sub: false,
        }
    }

    /// Sends a heartbeat to every known broker (masters only while no consumer is
    /// registered), concurrently; failures are logged. Returns how many brokers answered.
    pub async fn send_heartbeat_to_all_brokers(&self) -> usize {
        self.heartbeat_all().await.0
    }

    /// Like [`send_heartbeat_to_all_brokers`](Self::send_heartbeat_to_all_brokers), but fails
    /// with the [`Error::AccessDenied`] of a broker when brokers were reached and every one
    /// refused the heartbeat, at least one of them by its ACL: retrying cannot help until the
    /// credentials or the broker's ACL change, so a consumer's `start` reports it instead of
    /// running without ever receiving a message.
    pub(crate) async fn heartbeat_checked(&self) -> Result<usize> {
        match self.heartbeat_all().await {
            (0, Some(denied)) => Err(denied),
            (n, _) => Ok(n),
        }
    }

    /// Heartbeats every broker; how many accepted, and one ACL refusal if any.
    async fn heartbeat_all(&self) -> (usize, Option<Error>) {
        let _serial = self.inner.heartbeat_lock.lock().await;
        let data = self.heartbeat_data();
        if data.producer_data_set.is_empty() && data.consumer_data_set.is_empty() {
            return (0, None);
        }
        let masters_only = data.consumer_data_set.is_empty();
        let timeout = self.inner.config.rpc_timeout;
        let api = &self.inner.api;
        let data = &data;
        let calls = self
            .inner
            .routes
            .all_brokers()
            .into_iter()
            .filter(|(_, id, _)| !masters_only || *id == 0)
            .map(|(name, _, addr)| async move {
                match api.heartbeat(&addr, data, timeout).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        tracing::warn!(broker = %name, %addr, error = %e, "heartbeat failed");
                        Err(e)
                    }
                }
            });
        let mut ok = 0;
        let mut denied = None;
        for r in join_all(calls).await {
            match r {
                Ok(()) => ok += 1,
                Err(e @ Error::AccessDenied { .. }) => denied = denied.or(Some(e)),
                Err(_) => {}
            }
        }
        (ok, denied)
    }

    /// Fetches `topic`'s route from the NameServers and caches it. `Ok(None)` when the topic
    /// does not exist (the cache is left as it was). Notifies consumers subscribed to the
    /// topic when the route changed.
    ///
    /// # Errors
    ///
    /// NameServer errors.
    pub async fn update_topic_route(&self, topic: &str) -> Result<Option<Arc<TopicRouteData>>> {
        let timeout = self.inner.config.rpc_timeout;
        let Some(route) = self.inner.api.get_route_info(topic, timeout).await? else {
            return Ok(None);
        };
        if self.inner.routes.update(topic, route) {
            tracing::info!(topic, "topic route changed");
            let consumers: Vec<_> = read(&self.inner.consumers).values().cloned().collect();
            for c in consumers {
                if c.subscribed_topics().iter().any(|t| t == topic) {
                    c.on_route_changed(topic);
                }
            }
        }
        Ok(self.inner.routes.route(topic))
    }

    /// Refreshes the route of every used topic (cached ones and consumer subscriptions).
    pub async fn refresh_all_routes(&self) {
        let mut topics: HashSet<String> = self.inner.routes.topics().into_iter().collect();
        let consumers: Vec<_> = read(&self.inner.consumers).values().cloned().collect();
        for c in consumers {
            topics.extend(c.subscribed_topics());
        }
        for topic in topics {
            if let Err(e) = self.update_topic_route(&topic).await {
                tracing::debug!(%topic, error = %e, "route refresh failed");
            }
        }
    }

    /// The publish queues of `topic` (wrapped with namespace already): from the cache, else
    /// fetched; when the topic does not exist, from the `TBW102` route clipped to
    /// `default_queue_nums` queues per broker, so the broker can auto-create it.
    ///
    /// # Errors
    ///
    /// [`Error::RouteNotFound`] when neither the topic nor `TBW102` has writable queues;
    /// NameServer errors.
    pub async fn topic_publish_info(
        &self,
        topic: &str,
        default_queue_nums: i32,
    ) -> Result<Arc<TopicPublishInfo>> {
        if let Some(info) = self.inner.routes.publish_info(topic).filter(|i| i.is_ok()) {
            return Ok(info);
        }
        let timeout = self.inner.config.rpc_timeout;
        if self.update_topic_route(topic).await?.is_some() {
            if let Some(info) = self.inner.routes.publish_info(topic).filter(|i| i.is_ok()) {
                return Ok(info);
            }
            return Err(Error::RouteNotFound {
                topic: topic.to_owned(),
                detail: "the route has no writable queue on a broker with a master".into(),
            });
        }
        match self.inner.api.get_route_info(DEFAULT_TOPIC, timeout).await? {
            Some(default) => {
                let clipped = clip_default_route(&default, default_queue_nums);
                let info = self.inner.routes.update_from_default(topic, &clipped);
                if info.is_ok() {
                    tracing::debug!(topic, "topic not found; using the TBW102 route so the broker can auto-create it");
                    return Ok(info);
                }
                self.inner.routes.remove(topic);
                Err(Error::RouteNotFound {
                    topic: topic.to_owned(),
                    detail: "topic not found and TBW102 has no writable queue".into(),
                })
            }
            None => Err(Error::RouteNotFound {
                topic: topic.to_owned(),
                detail: "topic not found, and TBW102 is not registered (broker autoCreateTopicEnable=false)".into(),
            }),
        }
    }

    /// The readable queues of `topic`, sorted: from the cache, else fetched.
    ///
    /// # Errors
    ///
    /// [`Error::RouteNotFound`] when the topic does not exist; NameServer errors.
    pub async fn subscribe_queues(&self, topic: &str) -> Result<Arc<Vec<MessageQueue>>> {
        if let Some(q) = self.inner.routes.subscribe_queues(topic) {
            return Ok(q);
        }
        self.update_topic_route(topic).await?;
        self.inner
            .routes
            .subscribe_queues(topic)
            .ok_or_else(|| Error::RouteNotFound {
                topic: topic.to_owned(),
                detail: "the NameServers do not know the topic".into(),
            })
    }

    /// The master address of `broker_name` (shared: the lookup allocates nothing).
    pub fn master_addr(&self, broker_name: &str) -> Option<Arc<str>> {
        self.inner.routes.master_addr(broker_name)
    }

    /// The address of broker `broker_id` of `broker_name`, falling back to the master and
    /// then any address; `(address, is_slave)`.
    pub fn broker_addr(&self, broker_name: &str, broker_id: i64) -> Option<(String, bool)> {
        self.inner.routes.broker_addr(broker_name, broker_id)
    }

    /// The master address of `broker_name`, fetching `topic`'s route once if it is unknown.
    ///
    /// # Errors
    ///
    /// [`Error::RouteNotFound`] if still unknown; NameServer errors.
    pub async fn master_addr_or_fetch(&self, broker_name: &str, topic: &str) -> Result<String> {
        if let Some(a) = self.master_addr(broker_name) {
            return Ok(a.to_string());
        }
        self.update_topic_route(topic).await?;
        self.master_addr(broker_name)
            .map(|a| a.to_string())
            .ok_or_else(|| Error::RouteNotFound {
                topic: topic.to_owned(),
                detail: format!("broker {broker_name:?} has no master address"),
            })
    }

    /// A random master address among the brokers of `topic`'s route, or, when no master is
    /// registered (all masters down), any slave's (Java `findBrokerAddrByTopic` with
    /// `BrokerData.selectBrokerAddr`, used for GET_CONSUMER_LIST_BY_GROUP). Without the slave
    /// fallback a consumer could not rebalance, and so not read the slaves' copies, while the
    /// master is down.
    pub fn any_master_of_topic(&self, topic: &str) -> Option<String> {
        let route = self.inner.routes.route(topic)?;
        let mut picks: Vec<&str> = route
            .broker_datas
            .iter()
            .filter_map(|b| b.master_addr())
            .collect();
        if picks.is_empty() {
            picks = route
                .broker_datas
                .iter()
                .flat_map(|b| b.broker_addrs.values().map(String::as_str))
                .collect();
        }
        if picks.is_empty() {
            return None;
        }
        Some(picks[fastrand::usize(..picks.len())].to_owned())
    }

    /// Creates or updates `topic` (UPDATE_AND_CREATE_TOPIC) on one broker or on every master
    /// of a cluster — for tests and tools. Returns the broker addresses updated.
    ///
    /// # Errors
    ///
    /// [`Error::RouteNotFound`] for an unknown cluster; broker and network errors.
    pub async fn create_topic(
        &self,
        topic: &str,
        target: TopicTarget,
        opts: &CreateTopicOptions,
    ) -> Result<Vec<String>> {
        crate::message::validate_topic(topic)?;
        let timeout = self.inner.config.rpc_timeout;
        let addrs = match target {
            TopicTarget::Broker(addr) => vec![addr],
            TopicTarget::Cluster(cluster) => {
                let info = self.inner.api.get_broker_cluster_info(timeout).await?;
                let names = info
                    .cluster_addr_table
                    .get(&cluster)
                    .cloned()
                    .unwrap_or_default();
                let addrs: Vec<String> = names
                    .iter()
                    .filter_map(|n| info.broker_addr_table.get(n))
                    .filter_map(|b| b.master_addr().map(str::to_owned))
                    .collect();
                if addrs.is_empty() {
                    return Err(Error::RouteNotFound {
                        topic: topic.to_owned(),
                        detail: format!("cluster {cluster:?} has no master broker registered"),
                    });
                }
                addrs
            }
        };
        let header = CreateTopicRequestHeader {
            topic: topic.to_owned(),
            default_topic: DEFAULT_TOPIC.to_owned(),
            read_queue_nums: opts.read_queue_nums,
            write_queue_nums: opts.write_queue_nums,
            perm: opts.perm,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: Some(0),
            order: opts.order,
            attributes: None,
            force: false,
            bname: None,
        };
        for addr in &addrs {
            self.inner.api.create_topic(addr, &header, timeout).await?;
        }
        Ok(addrs)
    }
}

impl Inner {
    async fn handle_request(
        self: Arc<Self>,
        conn: Connection,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let peer = conn.peer_addr().to_string();
        let span = tracing::debug_span!("broker_request", code = req.code, %peer);
        async move {
            match req.code {
                RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                    match req.decode_header::<NotifyConsumerIdsChangedRequestHeader>() {
                        Ok(h) => match self.consumer(&h.consumer_group) {
                            Some(c) => c.on_consumer_ids_changed(),
                            None => tracing::debug!(group = %h.consumer_group, "notify for an unknown group"),
                        },
                        Err(e) => tracing::warn!(error = %e, "bad NOTIFY_CONSUMER_IDS_CHANGED"),
                    }
                    None
                }
                RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                    self.reset_offset(&req);
                    None
                }
                RequestCode::GET_CONSUMER_RUNNING_INFO => Some(self.running_info(&req)),
                RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT => Some(self.consumer_status(&req)),
                RequestCode::CONSUME_MESSAGE_DIRECTLY => Some(self.consume_directly(req).await),
                RequestCode::CHECK_TRANSACTION_STATE => {
                    self.check_transaction(&req, peer);
                    None
                }
                RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT => {
                    // Answered from here, before the requester wakes (see
                    // `on_push_answering_first`), not by returning the answer.
                    let (oneway, opaque, serialize_type) =
                        (req.is_oneway(), req.opaque, req.serialize_type);
                    self.replies.on_push_answering_first(&req, |mut answer| {
                        if oneway {
                            return;
                        }
                        answer.opaque = opaque;
                        answer.serialize_type = serialize_type;
                        if let Err(e) = conn.send_response(answer) {
                            tracing::debug!(error = %e, "cannot answer a reply push");
                        }
                    });
                    None
                }
                code => {
                    tracing::debug!(code, "unsupported broker request");
                    Some(RemotingCommand::response(
                        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                        Some(format!("request code {code} not supported by this client")),
                    ))
                }
            }
        }
        .instrument(span)
        .await
    }

    fn consumer(&self, group: &str) -> Option<Arc<dyn ConsumerHandle>> {
        read(&self.consumers).get(group).cloned()
    }

    fn reset_offset(&self, req: &RemotingCommand) {
        let h = match req.decode_header::<ResetOffsetRequestHeader>() {
            Ok(h) => h,
            Err(e) => return tracing::warn!(error = %e, "bad RESET_CONSUMER_CLIENT_OFFSET"),
        };
        let Some(c) = self.consumer(&h.group) else {
            return tracing::debug!(group = %h.group, "reset for an unknown group");
        };
        let offsets = if req.body.is_empty() {
            Vec::new()
        } else {
            match ResetOffsetBody::from_json(&req.body) {
                Ok(b) => b.offset_table.into_iter().collect(),
                Err(e) => return tracing::warn!(error = %e, "bad ResetOffsetBody"),
            }
        };
        c.reset_offset(&h.topic, offsets);
    }

    /// GET_CONSUMER_STATUS_FROM_CLIENT (Java `ClientRemotingProcessor.getConsumeStatus`):
    /// always SUCCESS, with the group's offsets of the topic (none for an unknown group).
    fn consumer_status(&self, req: &RemotingCommand) -> RemotingCommand {
        let h = match req.decode_header::<GetConsumerStatusRequestHeader>() {
            Ok(h) => h,
            Err(e) => {
                return RemotingCommand::response(ResponseCode::SYSTEM_ERROR, Some(e.to_string()))
            }
        };
        let table = self
            .consumer(&h.group)
            .map(|c| c.consumer_status(&h.topic))
            .unwrap_or_default();
        let body = GetConsumerStatusBody {
            message_queue_table: table,
            consumer_table: BTreeMap::new(),
        };
        RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(body.to_json())
    }

    fn running_info(&self, req: &RemotingCommand) -> RemotingCommand {
        let h = match req.decode_header::<GetConsumerRunningInfoRequestHeader>() {
            Ok(h) => h,
            Err(e) => {
                return RemotingCommand::response(ResponseCode::SYSTEM_ERROR, Some(e.to_string()))
            }
        };
        let info = self
            .consumer(&h.consumer_group)
            .and_then(|c| c.running_info());
        match info {
            Some(mut info) => {
                info.properties
                    .entry(ConsumerRunningInfo::PROP_NAMESERVER_ADDR.to_owned())
                    .or_insert_with(|| self.config.namesrv_addrs.join(";"));
                info.properties
                    .entry(ConsumerRunningInfo::PROP_CLIENT_VERSION.to_owned())
                    .or_insert_with(|| format!("rust-{}", env!("CARGO_PKG_VERSION")));
                RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(info.to_json())
            }
            None => RemotingCommand::response(
                ResponseCode::SYSTEM_ERROR,
                Some(format!(
                    "The Consumer Group <{}> not exist in this consumer",
                    h.consumer_group
                )),
            ),
        }
    }

    async fn consume_directly(&self, req: RemotingCommand) -> RemotingCommand {
        let h = match req.decode_header::<ConsumeMessageDirectlyResultRequestHeader>() {
            Ok(h) => h,
            Err(e) => {
                return RemotingCommand::response(ResponseCode::SYSTEM_ERROR, Some(e.to_string()))
            }
        };
        let not_here = || {
            RemotingCommand::response(
                ResponseCode::SYSTEM_ERROR,
                Some(format!(
                    "The Consumer Group <{}> not exist in this consumer",
                    h.consumer_group
                )),
            )
        };
        let Some(c) = self.consumer(&h.consumer_group) else {
            return not_here();
        };
        let msg = match decode_messages(req.body.clone()) {
            Ok(mut v) if !v.is_empty() => v.swap_remove(0),
            Ok(_) => {
                return RemotingCommand::response(
                    ResponseCode::SYSTEM_ERROR,
                    Some("no message in the body".into()),
                )
            }
            Err(e) => {
                return RemotingCommand::response(ResponseCode::SYSTEM_ERROR, Some(e.to_string()))
            }
        };
        match c.consume_message_directly(msg, h.broker_name.clone()) {
            Some(fut) => {
                let result = fut.await;
                RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(result.to_json())
            }
            None => not_here(),
        }
    }

    fn check_transaction(&self, req: &RemotingCommand, broker_addr: String) {
        let header = match req.decode_header::<CheckTransactionStateRequestHeader>() {
            Ok(h) => h,
            Err(e) => return tracing::warn!(error = %e, "bad CHECK_TRANSACTION_STATE"),
        };
        let message = match decode_messages(req.body.clone()) {
            Ok(mut v) if !v.is_empty() => v.swap_remove(0),
            Ok(_) => return tracing::warn!("CHECK_TRANSACTION_STATE without a message"),
            Err(e) => return tracing::warn!(error = %e, "bad CHECK_TRANSACTION_STATE body"),
        };
        let Some(group) = message
            .property(property::PRODUCER_GROUP)
            .map(str::to_owned)
        else {
            return tracing::warn!("CHECK_TRANSACTION_STATE message has no PGROUP");
        };
        let producer = read(&self.producers).get(&group).cloned();
        match producer {
            Some(p) => p.check_transaction_state(TransactionCheck {
                broker_addr,
                header,
                message,
            }),
            None => tracing::debug!(%group, "transaction check for an unknown producer group"),
        }
    }
}

/// `BTreeMap` of offsets for a reset, convenient for consumers.
pub fn offsets_by_queue(offsets: Vec<(MessageQueue, i64)>) -> BTreeMap<MessageQueue, i64> {
    offsets.into_iter().collect()
}

/// Runs `fut` for at most `budget`, mapping a timeout to [`Error::Timeout`] naming `op`.
///
/// # Errors
///
/// `fut`'s error, or [`Error::Timeout`].
pub async fn within<T>(
    rt: &dyn Runtime,
    op: &'static str,
    budget: Duration,
    started: Stopwatch,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match timeout(rt, budget, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            op,
            timeout: budget,
            detail: format!("gave up after {:?}", started.elapsed()),
        }),
    }
}
