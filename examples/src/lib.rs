//! Shared plumbing of the examples: where the cluster comes from.
//!
//! Every example talks to the NameServer in `NAMESRV_ADDR` when it is set (a real Apache
//! cluster, or mini-namesrv / mini-broker processes) and otherwise starts an embedded
//! NameServer + broker in-process ([`rocketmq_rs_mini_broker::embedded::EmbeddedCluster`]), so
//! `cargo run --example NAME` works on a fresh machine.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_rs_client::client::{ClientInstance, CreateTopicOptions, TopicTarget};
use rocketmq_rs_client::ClientConfig;
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::Runtime;

/// Boxed error of the examples.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The cluster an example runs against.
#[derive(Debug)]
pub struct Cluster {
    /// NameServer address(es) for clients.
    pub namesrv: String,
    embedded: Option<EmbeddedCluster>,
    rt: Arc<dyn Runtime>,
}

impl Cluster {
    /// `NAMESRV_ADDR` if set, else a new embedded NameServer + broker on `rt`.
    pub async fn from_env_or_embedded(rt: Arc<dyn Runtime>) -> Result<Cluster, BoxError> {
        if let Ok(ns) = std::env::var("NAMESRV_ADDR") {
            if !ns.trim().is_empty() {
                return Ok(Cluster {
                    namesrv: ns,
                    embedded: None,
                    rt,
                });
            }
        }
        let embedded = EmbeddedCluster::builder()
            // Apache's levels, except level 3 (the first redelivery after `ReconsumeLater`):
            // 1 s instead of 10 s, so the examples stay fast.
            .configure(|cfg| {
                cfg.message_delay_level =
                    "1s 5s 1s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".into()
            })
            .start(Arc::clone(&rt))
            .await?;
        Ok(Cluster {
            namesrv: embedded.namesrv_addr(),
            embedded: Some(embedded),
            rt,
        })
    }

    /// Whether the cluster was started in-process.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The embedded cluster, if any.
    pub fn embedded(&self) -> Option<&EmbeddedCluster> {
        self.embedded.as_ref()
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }

    /// Client settings for this cluster on this runtime.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::with_name_server(&self.namesrv);
        cfg.runtime = Some(Arc::clone(&self.rt));
        cfg
    }

    /// Creates `topic` with `queues` queues on every master (as `mqadmin updateTopic`) and
    /// waits until the NameServer routes it.
    pub async fn create_topic(&self, topic: &str, queues: i32) -> Result<(), BoxError> {
        if let Some(e) = &self.embedded {
            e.create_topic(topic, queues).await?;
            return Ok(());
        }
        let client = ClientInstance::new(self.client_config())?;
        let info = client
            .api()
            .get_broker_cluster_info(Duration::from_secs(3))
            .await?;
        let opts = {
            let mut c = CreateTopicOptions::default();
            c.read_queue_nums = queues;
            c.write_queue_nums = queues;
            c
        };
        for cluster in info.cluster_addr_table.keys() {
            client
                .create_topic(topic, TopicTarget::Cluster(cluster.clone()), &opts)
                .await?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while client
            .api()
            .get_route_info(topic, Duration::from_secs(3))
            .await?
            .is_none()
        {
            if Instant::now() > deadline {
                return Err(format!("topic {topic} not routed after 10 s").into());
            }
            self.rt.sleep(Duration::from_millis(200)).await;
        }
        client.shutdown().await;
        Ok(())
    }

    /// Stops the embedded cluster (nothing to do for an external one).
    pub async fn shutdown(self) {
        if let Some(e) = self.embedded {
            e.shutdown().await;
        }
    }
}

/// `name` plus a per-run suffix, so repeated runs against one cluster do not mix messages.
pub fn unique(name: &str) -> String {
    format!("{name}_{}_{:04x}", std::process::id(), fastrand_u16())
}

fn fastrand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16)) as u16
}

/// Waits until `cond` holds, checking every 20 ms, for at most `timeout`.
pub async fn wait_until(
    rt: &dyn Runtime,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        rt.sleep(Duration::from_millis(20)).await;
    }
    true
}
