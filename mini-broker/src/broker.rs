//! The running broker: [`Broker::start`] builds the broker bottom-up in one order — store and
//! metadata, listener, transactions, replication, NameServer registration, processors — then
//! serves and starts the background work; [`BrokerHandle`] stops it.
//!
//! Every part that runs something is owned by a value that stops it when dropped (`Services`
//! closes the store, the bound listener releases its port, `Replication` stops the HA
//! service, `Background` signals the tasks, the `ServerHandle` stops serving). A start that
//! fails half-way therefore returns with nothing left running, and a handle dropped without
//! [`BrokerHandle::shutdown`] stops like a crash.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::{select, Either};
use rocketmq_rs_remoting::acl::AclValidator;
use rocketmq_rs_remoting::rt::{self, Runtime, ShutdownSignal, TaskGroup};
use rocketmq_rs_remoting::transport::{RemotingServer, ServerHandle, TransportConfig};

use crate::client_manager::ClientManager;
use crate::config::BrokerConfig;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::error::{BrokerError, Result};
use crate::ha::{
    BrokerRole, ConsumerOffsetTable, HaMaster, HaSlave, MetadataSink, MetadataSync, SlaveStats,
    SyncReplicas,
};
use crate::lock_manager::RebalanceLockManager;
use crate::long_poll::PullHoldService;
use crate::namesrv_registration::{BrokerIdentity, Registrar, TopicsChanged};
use crate::processor::{BrokerProcessor, Wiring};
use crate::schedule::ScheduleService;
use crate::stats::BrokerStats;
use crate::store::{ArrivalListener, ArrivedMessage, MessageStore};
use crate::subscription_group::{SubscriptionGroupManager, SubscriptionGroups};
use crate::topic_config::{TopicConfigManager, TopicTable};
use crate::transaction::{TransactionChecker, TransactionService};

/// Entry point of the broker.
#[derive(Debug, Clone, Copy)]
pub struct Broker {
    _private: (),
}

/// The broker's services: the store and the managers built over it. Processors and
/// background tasks get clones of the handles they use, never this struct.
struct Services {
    store: MessageStore,
    topics: Arc<TopicConfigManager>,
    offsets: Arc<ConsumerOffsetManager>,
    schedule: Arc<ScheduleService>,
    clients: Arc<ClientManager>,
    locks: Arc<RebalanceLockManager>,
    holds: Arc<PullHoldService>,
    groups: Arc<SubscriptionGroupManager>,
    stats: Arc<BrokerStats>,
    /// POP checkpoints rebuilt from the revive log, and parked POP requests.
    pop_tables: Arc<crate::pop::PopTables>,
    pop_waiters: Arc<crate::pop::PopWaiters>,
    /// Consume mode per group+topic.
    request_modes: Arc<crate::request_mode::MessageRequestModeManager>,
}

impl Services {
    /// Opens the store (crash recovery included) and loads the metadata files. Blocking. On
    /// error the store opened so far is closed again (its last clone is dropped).
    fn open(cfg: &BrokerConfig, rt: Arc<dyn Runtime>) -> Result<Self> {
        let levels = cfg.delay_levels()?;
        let config_dir = cfg.store_path.join("config");
        let mut store_cfg = cfg.store_config();
        store_cfg.clock = rt.clock();
        let store = MessageStore::open(store_cfg)?;
        let topics = TopicConfigManager::load(
            config_dir.join("topics.json"),
            &cfg.broker_cluster_name,
            &cfg.broker_name,
            cfg.auto_create_topic_enable,
            cfg.default_topic_queue_nums,
            levels.len(),
        )?;
        if cfg.trace_topic_enable {
            // Java's TopicConfigManager: the trace topic with one read and one write queue,
            // registered with the NameServer like any topic, so that trace producers route.
            topics.ensure(
                &cfg.msg_trace_topic_name,
                1,
                crate::topic_config::PERM_READ | crate::topic_config::PERM_WRITE,
            )?;
        }
        let offsets = ConsumerOffsetManager::load(config_dir.join("consumerOffset.json"))?;
        let groups = SubscriptionGroupManager::load_with(
            config_dir.join("subscriptionGroup.json"),
            cfg.auto_create_subscription_group,
            cfg.retry_max_times,
        )?;
        let schedule = ScheduleService::load(
            store.clone(),
            Arc::clone(&rt),
            levels,
            config_dir.join("delayOffset.json"),
        )?;
        let request_modes = crate::request_mode::MessageRequestModeManager::load(
            config_dir.join("messageRequestMode.json"),
        )?;
        let pop_tables = crate::pop::PopTables::load(&store, &offsets, &cfg.broker_cluster_name)?;
        Ok(Services {
            pop_tables: Arc::new(pop_tables),
            pop_waiters: Arc::default(),
            request_modes: Arc::new(request_modes),
            store,
            topics: Arc::new(topics),
            offsets: Arc::new(offsets),
            schedule,
            clients: Arc::new(ClientManager::default().with_clock(rt.clock())),
            locks: Arc::new(
                RebalanceLockManager::new(Duration::from_millis(
                    cfg.rebalance_lock_max_live_time_ms,
                ))
                .with_clock(rt.clock()),
            ),
            holds: Arc::new(PullHoldService::default()),
            groups: Arc::new(groups),
            stats: Arc::new(BrokerStats::new(rt.clock().now_ms())),
        })
    }

    /// What the store's arrival listener wakes: held pulls, delay delivery, replication. The
    /// schedule and the HA master hold the store, which holds the listener: weak references
    /// keep that from being a cycle.
    fn arrival_listener(&self, ha: Option<&Arc<HaMaster>>) -> ArrivalListener {
        let holds = Arc::clone(&self.holds);
        let pop_waiters = Arc::clone(&self.pop_waiters);
        let schedule = Arc::downgrade(&self.schedule);
        let ha = ha.map(Arc::downgrade);
        Arc::new(
            move |topic: &str, qid: i32, max: i64, msgs: &[ArrivedMessage<'_>]| {
                holds.notify_messages(topic, qid, msgs);
                pop_waiters.notify_arrival(topic, qid);
                if let Some(s) = schedule.upgrade() {
                    s.notify_arrival(topic, qid, max);
                }
                if let Some(ha) = ha.as_ref().and_then(Weak::upgrade) {
                    ha.notify_data();
                }
            },
        )
    }
}

impl Drop for Services {
    /// The last step of every stop, clean or not, and the undo of a failed start: once this
    /// returns nothing writes into the store directory. Background tasks release their store
    /// clones only when they next run, so the store is closed here rather than by its last
    /// clone. Idempotent.
    fn drop(&mut self) {
        self.store.shutdown();
    }
}

/// The replication parts: a master's HA service, a slave's log copy and metadata copy.
#[derive(Default)]
struct Replication {
    master: Option<Arc<HaMaster>>,
    slave: Option<HaSlave>,
    sync: Option<MetadataSync>,
}

impl Drop for Replication {
    /// The slave parts stop when dropped; the master is shared with the processors (SYNC_MASTER
    /// waits), which may outlive this value for a moment, so it is told to stop here.
    fn drop(&mut self) {
        if let Some(m) = &self.master {
            m.close();
        }
    }
}

/// The background work: periodic flushes and scans, held pulls, delay delivery, transaction
/// checks, NameServer registration — all members of one task group.
struct Background {
    tasks: TaskGroup,
    registrar: Arc<Registrar>,
    /// Delay delivery watches its own stop signal.
    schedule: Arc<ScheduleService>,
    /// Held pulls are answered at once on stop.
    holds: Arc<PullHoldService>,
}

impl Background {
    /// Stops delay delivery (persisting its progress), answers held pulls and signals every
    /// task; they end in the background.
    fn signal_stop(&self) {
        self.schedule.stop();
        self.holds.wake_all();
        self.tasks.signal().trigger();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // After a clean shutdown everything here has been done already.
        if !self.tasks.signal().is_triggered() {
            self.signal_stop();
            self.registrar.close();
        }
    }
}

/// A running broker. Dropping it without [`shutdown`](BrokerHandle::shutdown) stops the
/// server but skips the clean shutdown steps (like a crash, minus the lost page cache).
pub struct BrokerHandle {
    cfg: BrokerConfig,
    faults: Arc<crate::faults::Faults>,
    addr: SocketAddr,
    /// Address written into stored records and offset message ids.
    store_host: SocketAddr,
    stopped: AtomicBool,
    /// The Prometheus endpoint, when `metrics_listen` is set.
    #[cfg(feature = "metrics-endpoint")]
    metrics: Option<rocketmq_rs_remoting::metrics_endpoint::MetricsServer>,
    // Fields drop in declaration order: the server first, the store last.
    server: ServerHandle,
    background: Background,
    replication: Replication,
    services: Services,
}

/// A slave's [`MetadataSink`]: the master's tables replace the local ones (weak references:
/// the sync task must not keep a stopped broker's managers alive).
struct SlaveMetadataSink {
    topics: Weak<TopicConfigManager>,
    offsets: Weak<ConsumerOffsetManager>,
    schedule: Weak<ScheduleService>,
    groups: Weak<SubscriptionGroupManager>,
    request_modes: Weak<crate::request_mode::MessageRequestModeManager>,
    topics_changed: TopicsChanged,
}

impl MetadataSink for SlaveMetadataSink {
    fn message_request_modes(
        &self,
        table: rocketmq_rs_remoting::protocol::body::MessageRequestModeSerializeWrapper,
    ) {
        let Some(modes) = self.request_modes.upgrade() else {
            return;
        };
        if modes.replace_all(table) {
            if let Err(e) = modes.persist() {
                tracing::error!(error = %e, "cannot store the master's consume modes");
            }
        }
    }

    fn subscription_groups(
        &self,
        table: rocketmq_rs_remoting::protocol::body::SubscriptionGroupWrapper,
    ) {
        let Some(groups) = self.groups.upgrade() else {
            return;
        };
        // Written here like the topic table (the sync task's own pace, only on a change).
        if groups.replace_all(table) {
            if let Err(e) = groups.persist() {
                tracing::error!(error = %e, "cannot store the master's subscription groups");
            }
        }
    }

    fn topic_configs(
        &self,
        table: rocketmq_rs_remoting::protocol::body::TopicConfigSerializeWrapper,
    ) {
        let Some(topics) = self.topics.upgrade() else {
            return;
        };
        match topics.replace_all(table) {
            // The slave registers the master's topics so that routes keep them when the master
            // is gone.
            Ok(true) => self.topics_changed.notify(),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot store the master's topic table"),
        }
    }

    fn consumer_offsets(&self, table: ConsumerOffsetTable) {
        if let Some(o) = self.offsets.upgrade() {
            o.replace_all(table);
        }
    }

    fn delay_offsets(&self, table: std::collections::BTreeMap<i32, i64>) {
        if let Some(s) = self.schedule.upgrade() {
            if let Err(e) = s.replace_delay_offsets(table) {
                tracing::error!(error = %e, "cannot store the master's delay offsets");
            }
        }
    }
}

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

fn advertised(cfg: &BrokerConfig, bound: SocketAddr) -> Result<SocketAddr> {
    let ip: IpAddr = match &cfg.advertised_host {
        Some(h) => h.parse().map_err(|_| {
            BrokerError::Config(format!("advertisedHost {h:?} is not an IP address"))
        })?,
        None if bound.ip().is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        None => bound.ip(),
    };
    Ok(SocketAddr::new(ip, bound.port()))
}

fn transport_config(cfg: &BrokerConfig) -> TransportConfig {
    {
        let mut c = TransportConfig::default();
        c.max_frame_size = (cfg.max_message_size + (1 << 20)).max(16 << 20);
        c.max_connections = Some(cfg.max_connections);
        #[cfg(feature = "tls")]
        {
            c.tls_server = cfg.tls.clone();
        }
        c
    }
}

/// The registrar announcing this broker; the HA address is the master's replication port.
fn registrar(
    cfg: &BrokerConfig,
    rt: &Arc<dyn Runtime>,
    store_host: SocketAddr,
    ha_master: Option<&Arc<HaMaster>>,
) -> Registrar {
    // Java `haServerAddr`: the advertised IP with the HA port.
    let ha_server_addr = ha_master
        .map(|m| SocketAddr::new(store_host.ip(), m.local_addr().port()).to_string())
        .unwrap_or_else(|| store_host.to_string());
    Registrar::with_credentials(
        Arc::clone(rt),
        cfg.namesrv_addrs.clone(),
        BrokerIdentity {
            cluster: cfg.broker_cluster_name.clone(),
            broker_name: cfg.broker_name.clone(),
            broker_id: cfg.broker_id,
            broker_addr: store_host.to_string(),
            ha_server_addr,
        },
        // Checked by `validate`.
        cfg.namesrv_credentials().ok().flatten(),
    )
}

/// A slave's copies of its master: the commit log (HA) and the metadata tables.
fn start_slave(
    cfg: &BrokerConfig,
    rt: &Arc<dyn Runtime>,
    services: &Services,
    topics_changed: TopicsChanged,
) -> (HaSlave, MetadataSync) {
    let ha = HaSlave::start(
        services.store.clone(),
        cfg.ha_master_address,
        cfg.ha_config(),
        Arc::clone(rt),
    );
    let sink = Arc::new(SlaveMetadataSink {
        topics: Arc::downgrade(&services.topics),
        offsets: Arc::downgrade(&services.offsets),
        schedule: Arc::downgrade(&services.schedule),
        groups: Arc::downgrade(&services.groups),
        request_modes: Arc::downgrade(&services.request_modes),
        topics_changed,
    });
    let sync = MetadataSync::start_with_credentials(
        Arc::clone(rt),
        cfg.master_addr.clone(),
        Duration::from_millis(cfg.slave_metadata_sync_interval_ms),
        sink,
        // The same identity the broker signs its NameServer requests with.
        cfg.namesrv_credentials().ok().flatten(),
    );
    (ha, sync)
}

impl Broker {
    /// Opens the store (crash recovery included), loads metadata, starts listening, starts
    /// the background services and registers with the NameServers. On error everything
    /// started so far is stopped again: the store is closed cleanly and the ports are free.
    ///
    /// ```no_run
    /// # async fn demo(rt: std::sync::Arc<dyn rocketmq_rs_remoting::rt::Runtime>) -> rocketmq_rs_mini_broker::Result<()> {
    /// let dir = std::env::temp_dir().join("mini-broker-doc");
    /// let broker = rocketmq_rs_mini_broker::Broker::start(rocketmq_rs_mini_broker::BrokerConfig::for_test(dir), rt).await?;
    /// println!("listening on {}", broker.addr());
    /// broker.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(cfg: BrokerConfig, rt: Arc<dyn Runtime>) -> Result<BrokerHandle> {
        cfg.validate()?;
        let acl = match &cfg.acl {
            Some(acl) => Some(Arc::new(
                AclValidator::new(acl).map_err(|e| BrokerError::Config(e.to_string()))?,
            )),
            None => None,
        };
        let services = {
            let (cfg, rt2) = (cfg.clone(), Arc::clone(&rt));
            rt::run_blocking(&*rt, move || Services::open(&cfg, rt2)).await?
        };
        let bind_err = |source| BrokerError::Bind {
            addr: cfg.listen_addr,
            source,
        };
        // Bound now, served once the processors exist: they need the bound port (the
        // advertised address goes into every stored record).
        let listener = rt.bind(cfg.listen_addr).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let store_host = advertised(&cfg, addr)?;
        let transactions = {
            let (store, rt2, tcfg, path) = (
                services.store.clone(),
                Arc::clone(&rt),
                cfg.transaction_config(),
                cfg.store_path.join("config").join("transaction.json"),
            );
            rt::run_blocking(&*rt, move || {
                TransactionService::load(store, rt2, tcfg, path, store_host)
            })
            .await?
        };
        let mut replication = Replication::default();
        if cfg.broker_role.is_master() {
            let master = HaMaster::start(
                services.store.clone(),
                cfg.ha_listen(),
                cfg.ha_config(),
                Arc::clone(&rt),
            )
            .await?;
            replication.master = Some(Arc::new(master));
        }
        let registrar = Arc::new(registrar(
            &cfg,
            &rt,
            store_host,
            replication.master.as_ref(),
        ));
        let topics = TopicTable::new(
            Arc::clone(&services.topics),
            registrar.notifier(),
            Arc::clone(&rt),
        );
        let is_slave = cfg.broker_role == BrokerRole::Slave;
        if is_slave {
            let (ha, sync) = start_slave(&cfg, &rt, &services, registrar.notifier());
            replication.slave = Some(ha);
            replication.sync = Some(sync);
        }
        services
            .store
            .set_arrival_listener(services.arrival_listener(replication.master.as_ref()));

        let tasks = TaskGroup::new(Arc::clone(&rt));
        let replicas = SyncReplicas::new(
            cfg.broker_role,
            replication.master.as_ref(),
            Duration::from_millis(cfg.sync_replica_timeout_ms),
        );
        let groups = SubscriptionGroups::new(Arc::clone(&services.groups), Arc::clone(&rt));
        let mut holds = vec![registrar.hold_gate()];
        holds.extend(replication.master.as_ref().map(|m| m.hold_gate()));
        holds.extend(replication.slave.as_ref().map(HaSlave::hold_gate));
        holds.extend(replication.sync.as_ref().map(MetadataSync::hold_gate));
        let faults = Arc::new(crate::faults::Faults::new(
            Arc::clone(&rt),
            services.store.clone(),
            replication.slave.as_ref().map(HaSlave::gate),
            holds,
        ));
        let processor = BrokerProcessor::new(&Wiring {
            faults: &faults,
            cfg: &cfg,
            rt: &rt,
            store: &services.store,
            topics: &topics,
            offsets: &services.offsets,
            clients: &services.clients,
            locks: &services.locks,
            holds: &services.holds,
            groups: &groups,
            stats: &services.stats,
            schedule: &services.schedule,
            transactions: &transactions,
            replicas: &replicas,
            tasks: &tasks,
            store_host,
            pop_tables: &services.pop_tables,
            pop_waiters: &services.pop_waiters,
            request_modes: &services.request_modes,
        })
        .with_acl(acl);
        let server = RemotingServer::serve(
            Arc::clone(&rt),
            listener,
            transport_config(&cfg),
            Arc::new(processor),
        )
        .map_err(bind_err)?;
        #[cfg(feature = "metrics-endpoint")]
        let metrics = rocketmq_rs_remoting::metrics_endpoint::serve_configured(
            Arc::clone(&rt),
            cfg.metrics_listen,
            || {
                crate::metrics::render_fn(crate::metrics::Sources {
                    rt: Arc::clone(&rt),
                    cluster: cfg.broker_cluster_name.clone(),
                    broker_name: cfg.broker_name.clone(),
                    stats: Arc::clone(&services.stats),
                    clients: Arc::clone(&services.clients),
                    offsets: Arc::clone(&services.offsets),
                    store: services.store.clone(),
                    connections: server.connection_counter(),
                })
            },
        )
        .await
        .map_err(|(addr, source)| BrokerError::Bind { addr, source })?;
        #[cfg(not(feature = "metrics-endpoint"))]
        if cfg.metrics_listen.is_some() {
            return Err(BrokerError::Config(
                "metricsListen is set but mini-broker was built without the metrics-endpoint feature".into(),
            ));
        }

        // Created before the first registration so that it carries the topic.
        if let Err(e) = crate::reply::ensure_reply_topic(&topics, &cfg.broker_cluster_name).await {
            tracing::warn!(error = %e, "cannot create the reply topic");
        }
        let background = Background {
            tasks,
            registrar,
            schedule: Arc::clone(&services.schedule),
            holds: Arc::clone(&services.holds),
        };
        spawn_background(&background, &cfg, &services, &topics, transactions);
        tracing::info!(%addr, advertised = %store_host, "broker started");
        Ok(BrokerHandle {
            cfg,
            faults,
            addr,
            store_host,
            stopped: AtomicBool::new(false),
            #[cfg(feature = "metrics-endpoint")]
            metrics,
            server,
            background,
            replication,
            services,
        })
    }
}

/// Starts the background tasks. A slave's commit log is the master's byte for byte: nothing
/// may write to it locally (delay delivery, transaction checks); the master does that work and
/// it replicates.
fn spawn_background(
    bg: &Background,
    cfg: &BrokerConfig,
    services: &Services,
    topics: &TopicTable,
    transactions: Arc<TransactionService>,
) {
    let tasks = &bg.tasks;
    let rt = tasks.runtime();
    let is_slave = cfg.broker_role == BrokerRole::Slave;
    if !is_slave {
        services.schedule.start(|f| {
            tasks.spawn(f);
        });
    }
    tasks.spawn(flush_offsets(
        Arc::clone(&services.offsets),
        Arc::clone(rt),
        Duration::from_millis(cfg.flush_consumer_offset_interval_ms),
        tasks.signal().clone(),
    ));
    tasks.spawn(sample_stats(
        Arc::clone(&services.stats),
        Arc::clone(rt),
        tasks.signal().clone(),
    ));
    tasks.spawn(scan_clients(
        Arc::clone(&services.clients),
        Arc::clone(rt),
        Duration::from_millis(cfg.client_scan_interval_ms),
        Duration::from_millis(cfg.channel_expired_timeout_ms),
        tasks.signal().clone(),
    ));
    if !is_slave {
        let checker = TransactionChecker::new(
            transactions,
            Arc::clone(&services.clients),
            topics.clone(),
            cfg.broker_name.clone(),
        );
        tasks.spawn(checker.run(tasks.signal().wait()));
    }
    if rt.clock().is_virtual() {
        tasks.spawn(retention_ticker(
            services.store.clone(),
            Arc::clone(rt),
            tasks.signal().clone(),
        ));
    }
    let rt2 = Arc::clone(rt);
    tasks.spawn(Arc::clone(&bg.registrar).run(
        Arc::clone(topics.table()),
        Duration::from_millis(cfg.register_name_server_period_ms),
        move |d| rt2.sleep(d),
        tasks.signal().wait(),
    ));
}

/// Writes dirty consumer offsets every `period` until `stop`.
async fn flush_offsets(
    offsets: Arc<ConsumerOffsetManager>,
    rt: Arc<dyn Runtime>,
    period: Duration,
    stop: ShutdownSignal,
) {
    loop {
        match select(rt.sleep(period), stop.wait()).await {
            Either::Left(_) => {
                let offsets = Arc::clone(&offsets);
                if let Err(e) = rt::run_blocking(&*rt, move || offsets.persist()).await {
                    tracing::error!(error = %e, "cannot persist consumer offsets");
                }
            }
            Either::Right(_) => return,
        }
    }
}

/// On a virtual clock: a retention pass every `clean_resource_interval` of virtual time, so
/// that advancing the clock past `file_reserved_time` deletes expired segments. The store's
/// own `store-cleaner` thread waits on real time (a condition variable), which a virtual
/// clock cannot move; its passes go on too and read the same clock, so both agree on what
/// has expired.
async fn retention_ticker(store: MessageStore, rt: Arc<dyn Runtime>, stop: ShutdownSignal) {
    loop {
        let interval = store.retention().clean_resource_interval;
        match select(rt.sleep(interval), stop.wait()).await {
            Either::Left(_) => {
                let store = store.clone();
                if let Err(e) = rt::run_blocking(&*rt, move || store.clean_now()).await {
                    tracing::error!(error = %e, "retention pass failed");
                }
            }
            Either::Right(_) => return,
        }
    }
}

/// Samples the statistics once a second until `stop` (their TPS and minute/hour/day windows
/// are differences between samples).
async fn sample_stats(stats: Arc<BrokerStats>, rt: Arc<dyn Runtime>, stop: ShutdownSignal) {
    loop {
        match select(rt.sleep(Duration::from_secs(1)), stop.wait()).await {
            Either::Left(_) => stats.sample(rt.clock().now_ms()),
            Either::Right(_) => return,
        }
    }
}

/// Drops clients silent for longer than `expiry`, looking every `period` until `stop`.
async fn scan_clients(
    clients: Arc<ClientManager>,
    rt: Arc<dyn Runtime>,
    period: Duration,
    expiry: Duration,
    stop: ShutdownSignal,
) {
    loop {
        match select(rt.sleep(period), stop.wait()).await {
            Either::Left(_) => {
                clients.scan_expired(expiry);
            }
            Either::Right(_) => return,
        }
    }
}

impl BrokerHandle {
    /// The bound listen address (with the OS-chosen port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address advertised to clients and NameServers.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.store_host
    }

    /// Masters: the bound replication (HA) address slaves connect to.
    pub fn ha_addr(&self) -> Option<SocketAddr> {
        self.replication.master.as_ref().map(|m| m.local_addr())
    }

    /// Masters: bytes the best connected slave is behind; `None` without a slave (or on a
    /// slave).
    pub fn replication_lag(&self) -> Option<i64> {
        self.replication.master.as_ref()?.replication_lag()
    }

    /// Masters: number of connected slaves.
    pub fn connected_slaves(&self) -> usize {
        self.replication
            .master
            .as_ref()
            .map_or(0, |m| m.connected_slaves())
    }

    /// Slaves: replication counters.
    pub fn slave_stats(&self) -> Option<SlaveStats> {
        self.replication.slave.as_ref().map(HaSlave::stats)
    }

    /// Slaves: copies the master's topics, consumer offsets and delay offsets now (they are
    /// also copied every `slave_metadata_sync_interval_ms`).
    pub async fn sync_metadata_now(&self) -> Result<()> {
        match &self.replication.sync {
            Some(s) => s.sync_once().await.map_err(BrokerError::Ha),
            None => Err(BrokerError::Config("not a slave".into())),
        }
    }

    /// The replication role.
    pub fn role(&self) -> BrokerRole {
        self.cfg.broker_role
    }

    /// The message store (tests and embedding).
    pub fn store(&self) -> &MessageStore {
        &self.services.store
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.cfg
    }

    /// The topic table.
    pub fn topics(&self) -> &TopicConfigManager {
        &self.services.topics
    }

    /// The subscription-group table.
    pub fn subscription_groups(&self) -> &SubscriptionGroupManager {
        &self.services.groups
    }

    /// Faults to switch on for tests: refused, delayed or dropped responses, a freeze, a full
    /// disk ([`crate::faults`]).
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.faults
    }

    /// Consumer offsets committed to this broker.
    pub fn consumer_offsets(&self) -> &ConsumerOffsetManager {
        &self.services.offsets
    }

    /// Producers and consumers registered by heartbeat, with their subscriptions.
    pub fn clients(&self) -> &ClientManager {
        &self.services.clients
    }

    /// Number of pulls currently held by long polling.
    pub fn held_pulls(&self) -> usize {
        self.services.holds.held_count()
    }

    /// The bound address of the Prometheus endpoint (`None` unless
    /// [`BrokerConfig::metrics_listen`] is set).
    #[cfg(feature = "metrics-endpoint")]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.local_addr())
    }

    /// Number of open client connections.
    pub fn connection_count(&self) -> usize {
        self.server.connection_count()
    }

    /// Registers with the NameServers now; returns how many accepted.
    pub async fn register_now(&self) -> usize {
        self.background
            .registrar
            .register_all(self.services.topics.wrapper())
            .await
    }

    /// Clean shutdown: stops accepting requests, answers held pulls, stops the background
    /// tasks, persists offsets and delay progress, unregisters from the NameServers, flushes
    /// and closes the store. Idempotent.
    pub async fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(feature = "metrics-endpoint")]
        if let Some(m) = &self.metrics {
            m.stop();
        }
        let bg = &self.background;
        bg.schedule.stop();
        bg.holds.wake_all();
        bg.tasks.shutdown(Duration::from_secs(5)).await;
        self.server.shutdown().await;
        // Replication stops before the store closes (its tasks read and append the log).
        let repl = &self.replication;
        if let Some(s) = &repl.sync {
            s.shutdown().await;
        }
        if let Some(s) = &repl.slave {
            s.shutdown().await;
        }
        if let Some(m) = &repl.master {
            m.shutdown().await;
        }
        bg.registrar.unregister_all().await;
        bg.registrar.close();
        let offsets = Arc::clone(&self.services.offsets);
        let store = self.services.store.clone();
        let sched = Arc::clone(&self.services.schedule);
        let groups = Arc::clone(&self.services.groups);
        rt::run_blocking(&**bg.tasks.runtime(), move || {
            if let Err(e) = offsets.persist() {
                tracing::error!(error = %e, "cannot persist consumer offsets");
            }
            if let Err(e) = groups.persist() {
                tracing::error!(error = %e, "cannot persist subscription groups");
            }
            sched.stop();
            if let Err(e) = store.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
            store.shutdown();
        })
        .await;
        tracing::info!(addr = %self.addr, "broker stopped");
    }
}
