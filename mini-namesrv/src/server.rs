//! [`NameServer`]: starts the remoting server with a [`NamesrvProcessor`] and the periodic
//! expiry scan; [`NameServerHandle`] stops both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use rocketmq_rs_remoting::rt::{self, Runtime, TaskGroup};
use rocketmq_rs_remoting::transport::{RemotingServer, ServerHandle, TransportConfig};

use crate::config::NamesrvConfig;
use crate::error::{Error, Result};
use crate::kv_config::KvConfigManager;
use crate::processor::NamesrvProcessor;

/// How long `shutdown` waits for the scan task to notice.
const SCAN_STOP_GRACE: Duration = Duration::from_secs(1);

/// Entry point: starts a NameServer in-process.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};
///
/// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
/// let config = NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap());
/// let ns = NameServer::start(config, rt).await.unwrap();
/// assert_ne!(ns.addr().port(), 0);
/// ns.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NameServer {
    _private: (),
}

impl NameServer {
    /// Loads the KV store (if a path is configured), binds `config.listen_addr` (port 0 picks a
    /// free port) and starts serving and scanning for expired brokers.
    ///
    /// # Errors
    ///
    /// An invalid configuration, an unreadable KV file, or a listen address that cannot be bound.
    pub async fn start(config: NamesrvConfig, rt: Arc<dyn Runtime>) -> Result<NameServerHandle> {
        config.validate()?;
        let kv = match config.kv_config_path.clone() {
            Some(path) => rt::run_blocking(&*rt, move || KvConfigManager::load(&path)).await?,
            None => KvConfigManager::in_memory(),
        };
        let transport = {
            let mut c = TransportConfig::default();
            c.max_frame_size = config.max_frame_size;
            c.idle_timeout = config.idle_timeout();
            #[cfg(feature = "tls")]
            {
                c.tls_server = config.tls.clone();
            }
            c
        };
        let listen = config.listen_addr;
        let processor = Arc::new(NamesrvProcessor::new(config, kv, Arc::clone(&rt)));
        let server =
            RemotingServer::start(Arc::clone(&rt), listen, transport, Arc::clone(&processor))
                .await
                .map_err(|source| Error::Bind {
                    addr: listen,
                    source,
                })?;
        let server = Arc::new(server);
        #[cfg(feature = "metrics-endpoint")]
        let metrics = rocketmq_rs_remoting::metrics_endpoint::serve_configured(
            Arc::clone(&rt),
            processor.config().metrics_listen,
            || metrics_render(Arc::clone(&processor), server.connection_counter()),
        )
        .await
        .map_err(|(addr, source)| Error::Bind { addr, source })?;
        #[cfg(not(feature = "metrics-endpoint"))]
        if processor.config().metrics_listen.is_some() {
            return Err(Error::Config(
                "metricsListen is set but mini-namesrv was built without the metrics-endpoint feature".into(),
            ));
        }
        let tasks = TaskGroup::new(Arc::clone(&rt));
        tasks.spawn(scan_loop(
            Arc::clone(&rt),
            Arc::clone(&processor),
            Arc::clone(&server),
            tasks.clone(),
        ));
        tracing::info!(addr = %server.local_addr(), "name server started");
        Ok(NameServerHandle {
            server,
            processor,
            tasks,
            #[cfg(feature = "metrics-endpoint")]
            metrics,
        })
    }

    /// [`NameServer::start`] with the default runtime of the enabled features (tokio when called
    /// inside a tokio runtime).
    pub async fn start_default(config: NamesrvConfig) -> Result<NameServerHandle> {
        let rt = rt::default_runtime().ok_or(Error::NoRuntime)?;
        Self::start(config, rt).await
    }
}

/// Removes expired brokers every `scanNotActiveBrokerInterval` (re-read each round, so
/// UPDATE_NAMESRV_CONFIG takes effect) and closes their connections, as Java does.
async fn scan_loop(
    rt: Arc<dyn Runtime>,
    processor: Arc<NamesrvProcessor>,
    server: Arc<ServerHandle>,
    tasks: TaskGroup,
) {
    let stop = tasks.signal().wait();
    futures::pin_mut!(stop);
    loop {
        let interval = processor.config().scan_interval();
        match select(stop.as_mut(), rt.sleep(interval)).await {
            Either::Left(_) => return,
            Either::Right(_) => {
                for removed in processor.scan_not_active_brokers() {
                    if let Some(conn) = removed.conn.and_then(|id| server.connection(id)) {
                        conn.close();
                    }
                }
            }
        }
    }
}

/// A running NameServer.
#[derive(Debug)]
pub struct NameServerHandle {
    server: Arc<ServerHandle>,
    processor: Arc<NamesrvProcessor>,
    tasks: TaskGroup,
    #[cfg(feature = "metrics-endpoint")]
    metrics: Option<rocketmq_rs_remoting::metrics_endpoint::MetricsServer>,
}

impl NameServerHandle {
    /// The bound address (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The request processor, for inspecting state (routes, KV, configuration).
    pub fn processor(&self) -> &Arc<NamesrvProcessor> {
        &self.processor
    }

    /// The bound address of the Prometheus endpoint (`None` unless
    /// [`NamesrvConfig::metrics_listen`] is set).
    #[cfg(feature = "metrics-endpoint")]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.local_addr())
    }

    /// Stops the expiry scan, closes every connection and frees the port. Idempotent.
    pub async fn shutdown(&self) {
        #[cfg(feature = "metrics-endpoint")]
        if let Some(m) = &self.metrics {
            m.stop();
        }
        self.tasks.shutdown(SCAN_STOP_GRACE).await;
        self.server.shutdown().await;
        tracing::info!(addr = %self.addr(), "name server stopped");
    }
}

impl Drop for NameServerHandle {
    fn drop(&mut self) {
        // Without an explicit shutdown, at least stop the scan task (the server handle stops
        // itself when its last reference goes).
        self.tasks.signal().trigger();
    }
}

/// The NameServer's metrics (text format 0.0.4; mini-namesrv's own names, Apache's NameServer
/// exports none): `rocketmq_connections` (open remoting connections),
/// `rocketmq_namesrv_live_brokers` (registered broker addresses), `rocketmq_namesrv_clusters`
/// and `rocketmq_namesrv_topics` (topics with a route), each labelled `node_type="namesrv"`.
#[cfg(feature = "metrics-endpoint")]
fn metrics_render(
    processor: Arc<NamesrvProcessor>,
    connections: Arc<dyn Fn() -> usize + Send + Sync>,
) -> rocketmq_rs_remoting::metrics_endpoint::RenderFn {
    use rocketmq_rs_remoting::metrics_endpoint::{MetricType, PromText};
    Arc::new(move || {
        let (brokers, clusters, topics) = {
            let ri = processor.route_info();
            (
                ri.live_broker_count(),
                ri.cluster_info().cluster_addr_table.len(),
                ri.all_topics().len(),
            )
        };
        let conns = connections();
        Box::pin(async move {
            let mut t = PromText::new();
            let node = [("node_type", "namesrv")];
            for (name, help, v) in [
                ("rocketmq_connections", "Open remoting connections.", conns),
                (
                    "rocketmq_namesrv_live_brokers",
                    "Registered broker addresses.",
                    brokers,
                ),
                (
                    "rocketmq_namesrv_clusters",
                    "Clusters with a registered broker.",
                    clusters,
                ),
                ("rocketmq_namesrv_topics", "Topics with a route.", topics),
            ] {
                t.family(name, help, MetricType::Gauge);
                t.sample(name, &node, v as f64);
            }
            t.finish()
        })
    })
}
