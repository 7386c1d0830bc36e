//! An in-process RocketMQ cluster for tests (feature `embedded`): one NameServer and one or
//! more brokers (optionally each with a slave) on OS-chosen ports, in one call.
//!
//! [`EmbeddedCluster::start`] hands back a running cluster whose
//! [`namesrv_addr`](EmbeddedCluster::namesrv_addr) any RocketMQ client (this project's, Java,
//! Go, C++) can use. Stores live in a fresh temporary directory (in `/dev/shm` where it
//! exists: a test store needs no durability) that is deleted when the cluster stops. Stop it with [`EmbeddedCluster::shutdown`] (clean, awaits everything); a
//! cluster that is only dropped still closes its ports and deletes its directory, but skips
//! the clean shutdown steps.
//!
//! The cluster runs on the runtime it is given ([`rocketmq_rs_remoting::rt::Runtime`]), so it works
//! under tokio, smol and async-std alike.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
//! use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
//!
//! let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
//! let cluster = EmbeddedCluster::builder()
//!     .brokers(2)
//!     .topic("TopicTest", 4)
//!     .start(rt)
//!     .await
//!     .unwrap();
//! let ns: String = cluster.namesrv_addr(); // e.g. "127.0.0.1:40123": give it to producers
//! assert!(ns.starts_with("127.0.0.1:"));
//! assert_eq!(cluster.brokers().len(), 2);
//! assert_eq!(cluster.broker("broker-b").unwrap().topics().get("TopicTest").unwrap().write_queue_nums, 4);
//! cluster.shutdown().await;
//! # });
//! ```
//!
//! Beyond starting and stopping, the cluster is a test fixture:
//!
//! - **Virtual time** ([`EmbeddedClusterBuilder::virtual_time`], [`EmbeddedCluster::advance`]):
//!   broker and clients on a clock the test moves; hours of delay levels, timer messages,
//!   retry back-off and transaction check-backs pass in milliseconds.
//! - **Inspection** ([`EmbeddedCluster::messages`], [`EmbeddedCluster::consumer_offsets`],
//!   [`EmbeddedCluster::dlq_messages`], [`EmbeddedCluster::half_messages`],
//!   [`EmbeddedCluster::consumer_group`], ...) and **waiting**
//!   ([`EmbeddedCluster::wait_until`] and friends) with the last state seen in the error.
//! - **Faults** per broker ([`BrokerHandle::faults`](crate::BrokerHandle::faults): refused,
//!   delayed or dropped responses, freeze, full disk, a slave held behind) and crashes
//!   ([`EmbeddedCluster::kill_broker`], or a clean [`stop_broker`](EmbeddedCluster::stop_broker),
//!   then [`restart_broker`](EmbeddedCluster::restart_broker) on the same store and port,
//!   [`EmbeddedCluster::kill_namesrv`]).
//!
//! The guide `docs/TESTING.md` has a worked example of each. A complete `#[test]` producing
//! and consuming against the cluster is in the workspace README and in
//! `examples/tests/embedded_cluster.rs`.

mod inspect;
mod lifecycle;
mod wait;

pub use inspect::{ConsumerGroupView, QueueOffset, StoredMessage};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocketmq_rs_mini_namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use rocketmq_rs_remoting::protocol::body::TopicConfig;
use rocketmq_rs_remoting::rt::{Runtime, VirtualClock};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::ha::BrokerRole;
use crate::topic_config::{valid_topic_name, PERM_READ, PERM_WRITE};
use crate::{Broker, BrokerHandle};

/// Why an [`EmbeddedCluster`] could not start or change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// No async runtime given and none available ([`EmbeddedCluster::start_default`]).
    #[error("no async runtime: call EmbeddedCluster::start(rt) or run inside a tokio runtime")]
    NoRuntime,
    /// The builder's settings are unusable.
    #[error("invalid embedded cluster settings: {0}")]
    Config(String),
    /// The temporary store directory could not be created.
    #[error("cannot create the store directory {path}: {source}")]
    StoreDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The NameServer failed to start.
    #[error("name server: {0}")]
    Namesrv(#[from] rocketmq_rs_mini_namesrv::Error),
    /// A broker failed to start or to change its topic table.
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// No running (or, for a restart, killed) broker or NameServer of that name.
    #[error("no such {0}")]
    NotFound(String),
    /// A broker could not register its topics with the NameServer.
    #[error("broker {0} could not register with the name server")]
    Register(String),
    /// A virtual-time operation on a cluster started without
    /// [`virtual_time`](EmbeddedClusterBuilder::virtual_time).
    #[error("the cluster runs on real time: start it with EmbeddedCluster::builder().virtual_time(true)")]
    NotVirtual,
    /// A [`wait_until`](EmbeddedCluster::wait_until) condition did not hold in time.
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long (by the cluster's clock, virtual or real).
        waited: std::time::Duration,
        /// The state the probe reported last.
        last: String,
    },
}

/// Hook that adjusts each broker's configuration before it starts.
type Configure = Arc<dyn Fn(&mut BrokerConfig) + Send + Sync>;

/// Hook that adjusts the NameServer's configuration before it starts.
type ConfigureNamesrv = Arc<dyn Fn(&mut NamesrvConfig) + Send + Sync>;

/// Settings of an [`EmbeddedCluster`]; from [`EmbeddedCluster::builder`].
#[derive(Clone)]
pub struct EmbeddedClusterBuilder {
    cluster_name: String,
    brokers: usize,
    slaves: bool,
    topics: Vec<(String, i32)>,
    store_root: Option<PathBuf>,
    configure: Option<Configure>,
    virtual_time: bool,
    granularity: std::time::Duration,
    configure_namesrv: Option<ConfigureNamesrv>,
}

impl fmt::Debug for EmbeddedClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedClusterBuilder")
            .field("cluster_name", &self.cluster_name)
            .field("brokers", &self.brokers)
            .field("slaves", &self.slaves)
            .field("topics", &self.topics)
            .field("store_root", &self.store_root)
            .field("configure", &self.configure.is_some())
            .field("virtual_time", &self.virtual_time)
            .field("granularity", &self.granularity)
            .field("configure_namesrv", &self.configure_namesrv.is_some())
            .finish()
    }
}

impl Default for EmbeddedClusterBuilder {
    fn default() -> Self {
        EmbeddedClusterBuilder {
            cluster_name: "DefaultCluster".into(),
            brokers: 1,
            slaves: false,
            topics: Vec::new(),
            store_root: None,
            configure: None,
            virtual_time: false,
            granularity: std::time::Duration::ZERO,
            configure_namesrv: None,
        }
    }
}

impl EmbeddedClusterBuilder {
    /// Number of broker groups (masters), named `broker-a`, `broker-b`, ... (1 to 26; default 1).
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// Also start a slave (broker id 1, role `SLAVE`) for every master. The slave replicates
    /// its master's commit log and copies its topics and offsets, registers with the
    /// NameServer and appears in routes and `clusterList`, like an Apache slave.
    pub fn with_slaves(mut self, on: bool) -> Self {
        self.slaves = on;
        self
    }

    /// Cluster name (default `DefaultCluster`).
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = name.into();
        self
    }

    /// Creates `topic` with `queues` read/write queues on every master before
    /// [`start`](Self::start) returns, and registers it with the NameServer (so clients see
    /// its route at once). May be called several times.
    pub fn topic(mut self, topic: impl Into<String>, queues: i32) -> Self {
        self.topics.push((topic.into(), queues));
        self
    }

    /// Keeps the stores under `dir` (created if missing) instead of a fresh temporary
    /// directory. The directory is then left in place when the cluster stops.
    pub fn store_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_root = Some(dir.into());
        self
    }

    /// Adjusts every broker's configuration (after the embedded defaults are set: listen on
    /// `127.0.0.1:0`, name, id, NameServer, store path) — for example shorter delay levels.
    ///
    /// ```
    /// let b = rocketmq_rs_mini_broker::embedded::EmbeddedCluster::builder()
    ///     .configure(|cfg| cfg.message_delay_level = "100ms 200ms 500ms".into());
    /// # let _ = b;
    /// ```
    pub fn configure(mut self, f: impl Fn(&mut BrokerConfig) + Send + Sync + 'static) -> Self {
        self.configure = Some(Arc::new(f));
        self
    }

    /// Runs the cluster on a [`VirtualClock`]: every timer of the NameServer, the brokers and
    /// the clients built on [`EmbeddedCluster::runtime`] waits for virtual time, which moves
    /// only with [`EmbeddedCluster::advance`]. Delay levels, 5.x timer messages, retry
    /// back-off, transaction check-backs, lock and heartbeat expiry and rebalance then happen
    /// as fast as the machine runs them, in order. Sockets stay real (loopback).
    ///
    /// Give clients [`EmbeddedCluster::runtime`] (not the runtime the cluster was started
    /// with), or their timers run on real time.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
    ///
    /// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    /// let cluster = EmbeddedCluster::builder().virtual_time(true).start(rt).await.unwrap();
    /// let before = cluster.runtime().now();
    /// cluster.advance(Duration::from_secs(3600)).await.unwrap(); // an hour, at once
    /// assert!(cluster.runtime().now() - before >= Duration::from_secs(3600));
    /// cluster.shutdown().await;
    /// # });
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Self {
        self.virtual_time = on;
        self
    }

    /// Virtual time ([`virtual_time`](Self::virtual_time), switched on by this call) that
    /// stops only at multiples of `g`: see [`VirtualClock::set_granularity`]. Timers fire up
    /// to `g` late, never early; hours pass in a few hundred steps.
    pub fn virtual_time_granularity(mut self, g: std::time::Duration) -> Self {
        self.virtual_time = true;
        self.granularity = g;
        self
    }

    /// Adjusts the NameServer's configuration (after the embedded default, listening on
    /// `127.0.0.1:0`) — for example a metrics endpoint on an OS-picked port (feature
    /// `metrics-endpoint`).
    ///
    /// ```
    /// let b = rocketmq_rs_mini_broker::embedded::EmbeddedCluster::builder()
    ///     .configure_namesrv(|cfg| cfg.metrics_listen = Some("127.0.0.1:0".parse().unwrap()));
    /// # let _ = b;
    /// ```
    pub fn configure_namesrv(
        mut self,
        f: impl Fn(&mut NamesrvConfig) + Send + Sync + 'static,
    ) -> Self {
        self.configure_namesrv = Some(Arc::new(f));
        self
    }

    fn validate(&self) -> Result<(), EmbeddedError> {
        if !(1..=26).contains(&self.brokers) {
            return Err(EmbeddedError::Config(format!(
                "brokers must be in 1..=26, got {}",
                self.brokers
            )));
        }
        if self.cluster_name.is_empty() {
            return Err(EmbeddedError::Config(
                "cluster name must not be empty".into(),
            ));
        }
        for (t, q) in &self.topics {
            if !valid_topic_name(t) {
                return Err(EmbeddedError::Config(format!("invalid topic name {t:?}")));
            }
            if !(1..=1024).contains(q) {
                return Err(EmbeddedError::Config(format!(
                    "topic {t}: queue count must be in 1..=1024, got {q}"
                )));
            }
        }
        Ok(())
    }

    /// Starts the NameServer, then the brokers (each registered before this returns), then
    /// creates the requested topics. On failure everything already started is stopped.
    pub async fn start(self, rt: Arc<dyn Runtime>) -> Result<EmbeddedCluster, EmbeddedError> {
        self.validate()?;
        let (rt, clock) = if self.virtual_time {
            let clock = VirtualClock::new();
            clock.set_granularity(self.granularity);
            (clock.runtime(rt), Some(clock))
        } else {
            (rt, None)
        };
        let (root, owned) = match &self.store_root {
            Some(dir) => (dir.clone(), false),
            None => (fresh_temp_dir(), true),
        };
        std::fs::create_dir_all(&root).map_err(|source| EmbeddedError::StoreDir {
            path: root.clone(),
            source,
        })?;
        let mut ns_cfg = NamesrvConfig::with_listen_addr(SocketAddr::from(([127, 0, 0, 1], 0)));
        if let Some(f) = &self.configure_namesrv {
            f(&mut ns_cfg);
        }
        let namesrv = match NameServer::start(ns_cfg, Arc::clone(&rt)).await {
            Ok(ns) => ns,
            Err(e) => {
                if owned {
                    let _ = std::fs::remove_dir_all(&root);
                }
                return Err(e.into());
            }
        };
        let mut cluster = EmbeddedCluster {
            rt: Arc::clone(&rt),
            clock,
            killed: Vec::new(),
            namesrv_addr: None,
            namesrv: Some(namesrv),
            brokers: Vec::new(),
            root,
            owned,
        };
        if let Err(e) = self.start_brokers(&mut cluster).await {
            cluster.stop().await;
            return Err(e);
        }
        Ok(cluster)
    }

    fn broker_config(
        &self,
        cluster: &EmbeddedCluster,
        name: &str,
        id: i64,
        ns: &str,
    ) -> BrokerConfig {
        let mut cfg = BrokerConfig::for_test(cluster.root.join(format!("{name}-{id}")));
        cfg.broker_cluster_name = self.cluster_name.clone();
        cfg.broker_name = name.to_string();
        cfg.broker_id = id;
        cfg.namesrv_addrs = vec![ns.to_string()];
        // Small segments keep the temporary store light.
        cfg.commit_log_segment_size = 16 * 1024 * 1024;
        if let Some(f) = &self.configure {
            f(&mut cfg);
        }
        cfg
    }

    async fn start_brokers(&self, cluster: &mut EmbeddedCluster) -> Result<(), EmbeddedError> {
        let ns = cluster.namesrv_addr();
        for i in 0..self.brokers {
            let name = format!("broker-{}", char::from(b'a' + i as u8));
            let master = self.broker_config(cluster, &name, 0, &ns);
            let master = Broker::start(master, Arc::clone(&cluster.rt)).await?;
            let ha = master.ha_addr();
            let master_addr = master.advertised_addr().to_string();
            cluster.brokers.push(master);
            if self.slaves {
                let mut cfg = self.broker_config(cluster, &name, 1, &ns);
                cfg.broker_role = BrokerRole::Slave;
                cfg.ha_master_address = ha;
                cfg.master_addr = Some(master_addr);
                let slave = Broker::start(cfg, Arc::clone(&cluster.rt)).await?;
                cluster.brokers.push(slave);
            }
        }
        for (topic, queues) in &self.topics {
            cluster.create_topic(topic, *queues).await?;
        }
        // Registration also runs in the background; do it once more in the foreground so
        // the NameServer knows every broker (slaves included) when `start` returns.
        for b in &cluster.brokers {
            if b.register_now().await == 0 {
                return Err(EmbeddedError::Register(b.advertised_addr().to_string()));
            }
        }
        Ok(())
    }
}

/// A running in-process NameServer plus brokers; see the [module docs](self).
pub struct EmbeddedCluster {
    rt: Arc<dyn Runtime>,
    clock: Option<VirtualClock>,
    /// Configurations of killed brokers (listening on their old port), for `restart_broker`.
    killed: Vec<BrokerConfig>,
    /// The NameServer's address while it is killed.
    namesrv_addr: Option<SocketAddr>,
    namesrv: Option<NameServerHandle>,
    brokers: Vec<BrokerHandle>,
    root: PathBuf,
    owned: bool,
}

impl fmt::Debug for EmbeddedCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedCluster")
            .field("namesrv", &self.namesrv.as_ref().map(|n| n.addr()))
            .field(
                "brokers",
                &self.brokers.iter().map(|b| b.addr()).collect::<Vec<_>>(),
            )
            .field("store_root", &self.root)
            .finish()
    }
}

impl EmbeddedCluster {
    /// Settings for a cluster other than the default (one master, no topics).
    pub fn builder() -> EmbeddedClusterBuilder {
        EmbeddedClusterBuilder::default()
    }

    /// Starts a NameServer and one broker (`broker-a`, cluster `DefaultCluster`) on `rt`.
    /// Topics are auto-created on first send (8 queues), as with Apache's default settings.
    pub async fn start(rt: Arc<dyn Runtime>) -> Result<EmbeddedCluster, EmbeddedError> {
        Self::builder().start(rt).await
    }

    /// [`start`](Self::start) on [`rocketmq_rs_remoting::rt::default_runtime`] (the current tokio
    /// runtime, else smol / async-std when those features are on).
    pub async fn start_default() -> Result<EmbeddedCluster, EmbeddedError> {
        let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or(EmbeddedError::NoRuntime)?;
        Self::start(rt).await
    }

    /// The NameServer address (`127.0.0.1:port`) to give to clients.
    pub fn namesrv_addr(&self) -> String {
        self.namesrv
            .as_ref()
            .map(|n| n.addr())
            .or(self.namesrv_addr)
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// The NameServer.
    pub fn namesrv(&self) -> Option<&NameServerHandle> {
        self.namesrv.as_ref()
    }

    /// Every broker, masters and slaves, in start order (`broker-a` master, its slave if any,
    /// `broker-b` ...).
    pub fn brokers(&self) -> &[BrokerHandle] {
        &self.brokers
    }

    /// The master of broker group `name` (`"broker-a"`, ...).
    pub fn broker(&self, name: &str) -> Option<&BrokerHandle> {
        self.brokers
            .iter()
            .find(|b| b.config().broker_name == name && b.config().broker_id == 0)
    }

    /// The slave of broker group `name`, when started [`with_slaves`](EmbeddedClusterBuilder::with_slaves).
    pub fn slave(&self, name: &str) -> Option<&BrokerHandle> {
        self.brokers
            .iter()
            .find(|b| b.config().broker_name == name && b.config().broker_id != 0)
    }

    /// The masters.
    pub fn masters(&self) -> impl Iterator<Item = &BrokerHandle> {
        self.brokers.iter().filter(|b| b.config().broker_id == 0)
    }

    /// The runtime the cluster runs on: give it to the clients under test. With
    /// [`virtual_time`](EmbeddedClusterBuilder::virtual_time) it is the virtual-time runtime
    /// wrapping the one the cluster was started with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }

    /// The virtual clock, when the cluster was started with
    /// [`virtual_time`](EmbeddedClusterBuilder::virtual_time).
    pub fn virtual_clock(&self) -> Option<VirtualClock> {
        self.clock
    }

    /// Moves virtual time forward by `by`, firing every timer due on the way in order and
    /// letting the work each one sets off (deliveries, retries, check-backs, their network
    /// round trips) finish before moving on; see [`VirtualClock::advance`].
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotVirtual`] when the cluster runs on real time.
    pub async fn advance(&self, by: std::time::Duration) -> Result<(), EmbeddedError> {
        let clock = self.clock.ok_or(EmbeddedError::NotVirtual)?;
        clock.advance(by).await;
        Ok(())
    }

    /// Where the stores live.
    pub fn store_root(&self) -> &Path {
        &self.root
    }

    /// Creates (or resizes) `topic` with `queues` queues on every master and registers the
    /// change with the NameServer before returning.
    pub async fn create_topic(&self, topic: &str, queues: i32) -> Result<(), EmbeddedError> {
        if !valid_topic_name(topic) {
            return Err(EmbeddedError::Config(format!(
                "invalid topic name {topic:?}"
            )));
        }
        if !(1..=1024).contains(&queues) {
            return Err(EmbeddedError::Config(format!(
                "topic {topic}: queue count must be in 1..=1024, got {queues}"
            )));
        }
        for b in self.masters() {
            // A small JSON file write: cheap enough to do inline.
            b.topics().upsert(TopicConfig::new(
                topic,
                queues,
                queues,
                PERM_READ | PERM_WRITE,
            ))?;
            if b.register_now().await == 0 {
                return Err(EmbeddedError::Register(b.advertised_addr().to_string()));
            }
        }
        Ok(())
    }

    /// Stops the brokers (clean shutdown: offsets persisted, store flushed, unregistered),
    /// then the NameServer, and deletes the temporary store directory.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        for b in self.brokers.drain(..).rev() {
            b.shutdown().await;
        }
        if let Some(ns) = self.namesrv.take() {
            ns.shutdown().await;
        }
        self.remove_dir();
    }

    fn remove_dir(&mut self) {
        if self.owned {
            self.owned = false;
            if let Err(e) = std::fs::remove_dir_all(&self.root) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %self.root.display(), error = %e, "cannot delete the embedded cluster's store");
                }
            }
        }
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        // Dropping the handles closes the ports and stops the background tasks (the stores
        // close when their last user goes); the files can go at once: open files stay
        // readable until closed.
        self.brokers.clear();
        self.namesrv = None;
        self.remove_dir();
    }
}

/// A new, unique directory path for a store: under `/dev/shm` where that is a writable
/// directory (a test store needs no durability, and every metadata write fsyncs, which is
/// free on tmpfs and milliseconds on a busy disk), else under the system temporary directory.
fn fresh_temp_dir() -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        "mini-broker-embedded-{}-{}-{:08x}",
        std::process::id(),
        n,
        fastrand::u32(..)
    );
    let shm = Path::new("/dev/shm");
    let base = if cfg!(target_os = "linux") && shm_usable(shm) {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(name)
}

/// Whether `dir` is a directory this process can create entries in.
fn shm_usable(dir: &Path) -> bool {
    static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USABLE.get_or_init(|| {
        let probe = dir.join(format!("mini-broker-probe-{}", std::process::id()));
        let ok = std::fs::create_dir(&probe).is_ok();
        let _ = std::fs::remove_dir(&probe);
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn bad_settings_are_rejected() {
        block_on(async {
            let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
            let e = EmbeddedCluster::builder()
                .brokers(0)
                .start(rt.clone())
                .await;
            assert!(matches!(e, Err(EmbeddedError::Config(_))));
            let e = EmbeddedCluster::builder()
                .topic("bad topic", 4)
                .start(rt.clone())
                .await;
            assert!(matches!(e, Err(EmbeddedError::Config(_))));
            let e = EmbeddedCluster::builder().topic("T", 0).start(rt).await;
            assert!(matches!(e, Err(EmbeddedError::Config(_))));
        });
    }

    #[test]
    fn masters_slaves_routes_and_cleanup() {
        block_on(async {
            let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
            let cluster = EmbeddedCluster::builder()
                .brokers(2)
                .with_slaves(true)
                .cluster_name("C1")
                .topic("T1", 3)
                .start(rt)
                .await
                .unwrap();
            assert_eq!(cluster.brokers().len(), 4);
            assert_eq!(cluster.masters().count(), 2);
            let root = cluster.store_root().to_path_buf();
            assert!(root.exists());
            {
                let ns = cluster.namesrv().unwrap().processor().route_info();
                let route = ns.pickup_topic_route("T1").expect("T1 routed");
                assert_eq!(route.queue_datas.len(), 2);
                assert_eq!(
                    ns.broker_member_group("broker-a").len(),
                    2,
                    "master + slave"
                );
            }
            // Each master has its slave connected for replication.
            let rt = Arc::clone(cluster.runtime());
            for m in cluster.masters() {
                let mut n = 0;
                for _ in 0..250 {
                    n = m.connected_slaves();
                    if n == 1 {
                        break;
                    }
                    rt.sleep(std::time::Duration::from_millis(20)).await;
                }
                assert_eq!(n, 1, "slave of {} not connected", m.config().broker_name);
            }
            cluster.create_topic("T2", 2).await.unwrap();
            assert_eq!(
                cluster
                    .broker("broker-b")
                    .unwrap()
                    .topics()
                    .get("T2")
                    .unwrap()
                    .read_queue_nums,
                2
            );
            assert!(cluster.create_topic("T 3", 2).await.is_err());
            cluster.shutdown().await;
            assert!(!root.exists(), "store directory left behind");
        });
    }

    #[test]
    fn drop_removes_the_directory() {
        block_on(async {
            let cluster = EmbeddedCluster::start_default().await.unwrap();
            let root = cluster.store_root().to_path_buf();
            let addr = cluster.namesrv_addr();
            drop(cluster);
            assert!(!root.exists());
            // The port is closed.
            let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
            let mut closed = false;
            for _ in 0..50 {
                if rt.connect(addr.parse().unwrap()).await.is_err() {
                    closed = true;
                    break;
                }
                rt.sleep(std::time::Duration::from_millis(20)).await;
            }
            assert!(closed, "name server still accepting after drop");
        });
    }
}
