//! The running broker: [`Broker::start`] wires the store, the managers, the remoting server,
//! the background tasks and NameServer registration; [`BrokerHandle`] stops it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use rocketmq_remoting::protocol::message::UniqIdGenerator;
use rocketmq_remoting::rt::{self, Runtime, TaskGroup};
use rocketmq_remoting::transport::{RemotingServer, ServerHandle, TransportConfig};

use crate::client_manager::ClientManager;
use crate::config::BrokerConfig;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::error::{BrokerError, Result};
use crate::ha::{
    BrokerRole, ConsumerOffsetTable, HaMaster, HaSlave, MetadataSink, MetadataSync, SlaveStats,
};
use crate::lock_manager::RebalanceLockManager;
use crate::long_poll::PullHoldService;
use crate::namesrv_registration::{BrokerIdentity, Registrar};
use crate::processor::BrokerProcessor;
use crate::schedule::ScheduleService;
use crate::store::MessageStore;
use crate::topic_config::TopicConfigManager;

/// State shared by the processors and background tasks.
pub(crate) struct BrokerInner {
    pub(crate) cfg: BrokerConfig,
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) store: MessageStore,
    pub(crate) topics: Arc<TopicConfigManager>,
    pub(crate) offsets: Arc<ConsumerOffsetManager>,
    pub(crate) clients: ClientManager,
    pub(crate) locks: RebalanceLockManager,
    pub(crate) holds: Arc<PullHoldService>,
    pub(crate) schedule: Arc<ScheduleService>,
    pub(crate) transactions: Arc<crate::transaction::TransactionService>,
    pub(crate) registrar: Arc<Registrar>,
    pub(crate) tasks: TaskGroup,
    /// Address written into stored records and offset message ids.
    pub(crate) store_host: SocketAddr,
    pub(crate) uniq: UniqIdGenerator,
    /// Masters: the replication service a `SYNC_MASTER` send waits on.
    pub(crate) ha_master: Option<Arc<HaMaster>>,
}

impl BrokerInner {
    /// Runs blocking work (file I/O) off the async executor.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        rt::run_blocking(&*self.rt, f).await
    }

    /// Announces a topic-table change to the NameServers.
    pub(crate) fn topics_changed(&self) {
        self.registrar.trigger();
    }
}

/// Entry point of the broker.
#[derive(Debug, Clone, Copy)]
pub struct Broker {
    _private: (),
}

/// A running broker. Dropping it without [`shutdown`](BrokerHandle::shutdown) stops the
/// server but skips the clean shutdown steps (like a crash, minus the lost page cache).
pub struct BrokerHandle {
    inner: Arc<BrokerInner>,
    server: ServerHandle,
    addr: SocketAddr,
    stopped: AtomicBool,
    ha_slave: Option<HaSlave>,
    metadata_sync: Option<MetadataSync>,
}

/// A slave's [`MetadataSink`]: the master's tables replace the local ones (weak references:
/// the sync task must not keep a stopped broker's managers alive).
struct SlaveMetadataSink {
    topics: std::sync::Weak<TopicConfigManager>,
    offsets: std::sync::Weak<ConsumerOffsetManager>,
    schedule: std::sync::Weak<ScheduleService>,
    registrar: std::sync::Weak<Registrar>,
}

impl MetadataSink for SlaveMetadataSink {
    fn topic_configs(&self, table: rocketmq_remoting::protocol::body::TopicConfigSerializeWrapper) {
        let Some(topics) = self.topics.upgrade() else {
            return;
        };
        match topics.replace_all(table) {
            // The slave registers the master's topics so that routes keep them when the master
            // is gone.
            Ok(true) => {
                if let Some(r) = self.registrar.upgrade() {
                    r.trigger();
                }
            }
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

impl Broker {
    /// Opens the store (crash recovery included), loads metadata, starts listening, starts
    /// the background services and registers with the NameServers.
    ///
    /// ```no_run
    /// # async fn demo(rt: std::sync::Arc<dyn rocketmq_remoting::rt::Runtime>) -> mini_broker::Result<()> {
    /// let dir = std::env::temp_dir().join("mini-broker-doc");
    /// let broker = mini_broker::Broker::start(mini_broker::BrokerConfig::for_test(dir), rt).await?;
    /// println!("listening on {}", broker.addr());
    /// broker.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(cfg: BrokerConfig, rt: Arc<dyn Runtime>) -> Result<BrokerHandle> {
        cfg.validate()?;
        let levels = cfg.delay_levels()?;
        let store_cfg = cfg.store_config();
        let config_dir = cfg.store_path.join("config");
        let (store, topics, offsets) = {
            let cfg2 = cfg.clone();
            let n_levels = levels.len();
            rt::run_blocking(&*rt, move || -> Result<_> {
                let store = MessageStore::open(store_cfg)?;
                let topics = TopicConfigManager::load(
                    config_dir.join("topics.json"),
                    &cfg2.broker_cluster_name,
                    &cfg2.broker_name,
                    cfg2.auto_create_topic_enable,
                    cfg2.default_topic_queue_nums,
                    n_levels,
                )?;
                let offsets = ConsumerOffsetManager::load(config_dir.join("consumerOffset.json"))?;
                Ok((store, topics, offsets))
            })
            .await?
        };
        let schedule = {
            let (store, rt2, path) = (
                store.clone(),
                Arc::clone(&rt),
                cfg.store_path.join("config").join("delayOffset.json"),
            );
            let levels = levels.clone();
            rt::run_blocking(&*rt, move || {
                ScheduleService::load(store, rt2, levels, path)
            })
            .await?
        };
        let transactions = {
            let (store, tcfg, path) = (
                store.clone(),
                cfg.transaction_config(),
                cfg.store_path.join("config").join("transaction.json"),
            );
            // The store host is only known after binding; records written by the service get
            // it from `BrokerInner` through `set_store_host` below.
            rt::run_blocking(&*rt, move || {
                crate::transaction::TransactionService::load(store, tcfg, path)
            })
            .await?
        };
        let holds = Arc::new(PullHoldService::default());
        // Set once the replication master runs; the listener must not keep it alive.
        let ha_cell: Arc<std::sync::OnceLock<std::sync::Weak<HaMaster>>> =
            Arc::new(std::sync::OnceLock::new());
        {
            let holds = Arc::clone(&holds);
            let sched = Arc::downgrade(&schedule);
            let ha_cell = Arc::clone(&ha_cell);
            store.set_arrival_listener(Arc::new(move |topic: &str, qid: i32, max: i64| {
                holds.notify_arrival(topic, qid, max);
                if let Some(s) = sched.upgrade() {
                    s.notify_arrival(topic, qid, max);
                }
                if let Some(ha) = ha_cell.get().and_then(std::sync::Weak::upgrade) {
                    ha.notify_data();
                }
            }));
        }

        let transport = TransportConfig {
            max_frame_size: (cfg.max_message_size + (1 << 20)).max(16 << 20),
            #[cfg(feature = "tls")]
            tls_server: cfg.tls.clone(),
            ..TransportConfig::default()
        };
        let acl = match cfg
            .acl
            .as_ref()
            .map(rocketmq_remoting::acl::AclValidator::new)
        {
            None => None,
            Some(Ok(v)) => Some(Arc::new(v)),
            Some(Err(e)) => {
                store.shutdown();
                return Err(BrokerError::Config(e.to_string()));
            }
        };
        let tasks = TaskGroup::new(Arc::clone(&rt));
        // The server needs the processor and the processor needs the advertised (bound)
        // address: bind first through a placeholder cell the processor reads.
        let cell: Arc<std::sync::OnceLock<Arc<BrokerInner>>> = Arc::new(std::sync::OnceLock::new());
        let processor = Arc::new(BrokerProcessor::new(Arc::clone(&cell)).with_acl(acl));
        let server =
            match RemotingServer::start(Arc::clone(&rt), cfg.listen_addr, transport, processor)
                .await
            {
                Ok(s) => s,
                Err(source) => {
                    store.shutdown();
                    return Err(BrokerError::Bind {
                        addr: cfg.listen_addr,
                        source,
                    });
                }
            };
        let addr = server.local_addr();
        let topics_arc = Arc::new(topics);
        let offsets_arc = Arc::new(offsets);
        let store_host = match advertised(&cfg, addr) {
            Ok(a) => a,
            Err(e) => {
                server.shutdown().await;
                store.shutdown();
                return Err(e);
            }
        };
        let ha_master = if cfg.broker_role.is_master() {
            match HaMaster::start(
                store.clone(),
                cfg.ha_listen(),
                cfg.ha_config(),
                Arc::clone(&rt),
            )
            .await
            {
                Ok(m) => {
                    let m = Arc::new(m);
                    let _ = ha_cell.set(Arc::downgrade(&m));
                    Some(m)
                }
                Err(e) => {
                    server.shutdown().await;
                    store.shutdown();
                    return Err(BrokerError::Ha(e));
                }
            }
        } else {
            None
        };
        // Java `haServerAddr`: the advertised IP with the HA port.
        let ha_server_addr = ha_master
            .as_ref()
            .map(|m| SocketAddr::new(store_host.ip(), m.local_addr().port()).to_string())
            .unwrap_or_else(|| store_host.to_string());
        let registrar = Arc::new(Registrar::with_credentials(
            Arc::clone(&rt),
            cfg.namesrv_addrs.clone(),
            BrokerIdentity {
                cluster: cfg.broker_cluster_name.clone(),
                broker_name: cfg.broker_name.clone(),
                broker_id: cfg.broker_id,
                broker_addr: store_host.to_string(),
                ha_server_addr,
            },
            // Checked by `validate` above.
            cfg.namesrv_credentials().ok().flatten(),
        ));
        let is_slave = cfg.broker_role == BrokerRole::Slave;
        let slave = is_slave.then(|| {
            let ha = HaSlave::start(
                store.clone(),
                cfg.ha_master_address,
                cfg.ha_config(),
                Arc::clone(&rt),
            );
            let sink = Arc::new(SlaveMetadataSink {
                topics: Arc::downgrade(&topics_arc),
                offsets: Arc::downgrade(&offsets_arc),
                schedule: Arc::downgrade(&schedule),
                registrar: Arc::downgrade(&registrar),
            });
            let sync = MetadataSync::start_with_credentials(
                Arc::clone(&rt),
                cfg.master_addr.clone(),
                Duration::from_millis(cfg.slave_metadata_sync_interval_ms),
                sink,
                // The same identity the broker signs its NameServer requests with.
                cfg.namesrv_credentials().ok().flatten(),
            );
            (ha, sync)
        });
        let inner = Arc::new(BrokerInner {
            locks: RebalanceLockManager::new(Duration::from_millis(
                cfg.rebalance_lock_max_live_time_ms,
            ))
            .with_clock(rt.clock()),
            cfg,
            rt: Arc::clone(&rt),
            store,
            topics: topics_arc,
            offsets: offsets_arc,
            clients: ClientManager::default().with_clock(rt.clock()),
            holds,
            schedule: Arc::clone(&schedule),
            transactions: Arc::clone(&transactions),
            registrar: Arc::clone(&registrar),
            tasks: tasks.clone(),
            store_host,
            uniq: UniqIdGenerator::new(store_host.ip()),
            ha_master,
        });
        let _ = cell.set(Arc::clone(&inner));

        // A slave's commit log is the master's byte for byte: nothing may write to it locally
        // (delay delivery, transaction checks); the master does that work and it replicates.
        if !is_slave {
            schedule.start(|f| {
                tasks.spawn(f);
            });
        }
        spawn_periodic_tasks(&inner);
        transactions.set_store_host(store_host);
        {
            let b = Arc::clone(&inner);
            match inner
                .blocking(move || crate::reply::ensure_reply_topic(&b))
                .await
            {
                Ok(true) => inner.topics_changed(),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot create the reply topic"),
            }
        }
        if !is_slave {
            tasks.spawn(
                Arc::clone(&transactions).run(Arc::downgrade(&inner), tasks.signal().wait()),
            );
        }
        {
            let rt2 = Arc::clone(&rt);
            tasks.spawn(registrar.run(
                Arc::clone(&inner.topics),
                Duration::from_millis(inner.cfg.register_name_server_period_ms),
                move |d| rt2.sleep(d),
                tasks.signal().wait(),
            ));
        }
        tracing::info!(%addr, advertised = %store_host, "broker started");
        let (ha_slave, metadata_sync) = match slave {
            Some((h, s)) => (Some(h), Some(s)),
            None => (None, None),
        };
        Ok(BrokerHandle {
            inner,
            server,
            addr,
            stopped: AtomicBool::new(false),
            ha_slave,
            metadata_sync,
        })
    }
}

fn spawn_periodic_tasks(inner: &Arc<BrokerInner>) {
    // Consumer offsets: written when dirty.
    let me = Arc::clone(inner);
    inner.tasks.spawn(async move {
        let period = Duration::from_millis(me.cfg.flush_consumer_offset_interval_ms);
        let stop = me.tasks.signal().clone();
        loop {
            match select(me.rt.sleep(period), stop.wait()).await {
                Either::Left(_) => {
                    let offsets = Arc::clone(&me.offsets);
                    if let Err(e) = me.blocking(move || offsets.persist()).await {
                        tracing::error!(error = %e, "cannot persist consumer offsets");
                    }
                }
                Either::Right(_) => return,
            }
        }
    });
    // Silent clients.
    let me = Arc::clone(inner);
    inner.tasks.spawn(async move {
        let period = Duration::from_millis(me.cfg.client_scan_interval_ms);
        let expiry = Duration::from_millis(me.cfg.channel_expired_timeout_ms);
        let stop = me.tasks.signal().clone();
        loop {
            match select(me.rt.sleep(period), stop.wait()).await {
                Either::Left(_) => {
                    me.clients.scan_expired(expiry);
                }
                Either::Right(_) => return,
            }
        }
    });
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        if !self.stopped.load(Ordering::Acquire) {
            // Not shut down cleanly: at least stop the background tasks so they release the
            // store (its last clone then shuts it down).
            self.inner.schedule.stop();
            self.inner.holds.wake_all();
            self.inner.tasks.signal().trigger();
            self.inner.registrar.close();
            if let Some(ha) = &self.inner.ha_master {
                ha.close();
            }
            // Background tasks (replication among them) release their store clones only when
            // they next run; close the store now, as its last clone would, so that nothing
            // writes into the store directory after the handle is gone.
            self.inner.store.shutdown();
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
        self.inner.store_host
    }

    /// Masters: the bound replication (HA) address slaves connect to.
    pub fn ha_addr(&self) -> Option<SocketAddr> {
        self.inner.ha_master.as_ref().map(|m| m.local_addr())
    }

    /// Masters: bytes the best connected slave is behind; `None` without a slave (or on a
    /// slave).
    pub fn replication_lag(&self) -> Option<i64> {
        self.inner.ha_master.as_ref()?.replication_lag()
    }

    /// Masters: number of connected slaves.
    pub fn connected_slaves(&self) -> usize {
        self.inner
            .ha_master
            .as_ref()
            .map_or(0, |m| m.connected_slaves())
    }

    /// Slaves: replication counters.
    pub fn slave_stats(&self) -> Option<SlaveStats> {
        self.ha_slave.as_ref().map(HaSlave::stats)
    }

    /// Slaves: copies the master's topics, consumer offsets and delay offsets now (they are
    /// also copied every `slave_metadata_sync_interval_ms`).
    pub async fn sync_metadata_now(&self) -> Result<()> {
        match &self.metadata_sync {
            Some(s) => s.sync_once().await.map_err(BrokerError::Ha),
            None => Err(BrokerError::Config("not a slave".into())),
        }
    }

    /// The replication role.
    pub fn role(&self) -> BrokerRole {
        self.inner.cfg.broker_role
    }

    /// The message store (tests and embedding).
    pub fn store(&self) -> &MessageStore {
        &self.inner.store
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.cfg
    }

    /// The topic table.
    pub fn topics(&self) -> &TopicConfigManager {
        &self.inner.topics
    }

    /// Number of pulls currently held by long polling.
    pub fn held_pulls(&self) -> usize {
        self.inner.holds.held_count()
    }

    /// Registers with the NameServers now; returns how many accepted.
    pub async fn register_now(&self) -> usize {
        self.inner
            .registrar
            .register_all(self.inner.topics.wrapper())
            .await
    }

    /// Clean shutdown: stops accepting requests, answers held pulls, stops the background
    /// tasks, persists offsets and delay progress, unregisters from the NameServers, flushes
    /// and closes the store. Idempotent.
    pub async fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = &self.inner;
        inner.schedule.stop();
        inner.holds.wake_all();
        inner.tasks.shutdown(Duration::from_secs(5)).await;
        self.server.shutdown().await;
        // Replication stops before the store closes (its tasks read and append the log).
        if let Some(s) = &self.metadata_sync {
            s.shutdown().await;
        }
        if let Some(s) = &self.ha_slave {
            s.shutdown().await;
        }
        if let Some(m) = &inner.ha_master {
            m.shutdown().await;
        }
        inner.registrar.unregister_all().await;
        inner.registrar.close();
        let offsets = Arc::clone(&inner.offsets);
        let store = inner.store.clone();
        let sched = Arc::clone(&inner.schedule);
        inner
            .blocking(move || {
                if let Err(e) = offsets.persist() {
                    tracing::error!(error = %e, "cannot persist consumer offsets");
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
