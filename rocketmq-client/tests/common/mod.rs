//! Shared by the integration tests: run one scenario on tokio, smol or async-std, optionally
//! under a deadline so that a hung scenario fails with "scenario hung" instead of blocking the
//! suite. Each test binary uses a part of it.
#![allow(dead_code, unused_macros, unused_imports)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::rt::{timeout, AsyncStdRuntime, Runtime, SmolRuntime, TokioRuntime};

async fn guarded<Fut: Future<Output = ()>>(
    rt: Arc<dyn Runtime>,
    deadline: Option<Duration>,
    fut: Fut,
) {
    match deadline {
        Some(d) => timeout(&*rt, d, fut).await.expect("scenario hung"),
        None => fut.await,
    }
}

/// Runs `scenario` on a two-worker tokio runtime.
pub fn run_tokio<F, Fut>(deadline: Option<Duration>, scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio.handle().clone()));
    tokio.block_on(guarded(rt.clone(), deadline, scenario(rt)));
}

/// Runs `scenario` on smol.
pub fn run_smol<F, Fut>(deadline: Option<Duration>, scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt: Arc<dyn Runtime> = Arc::new(SmolRuntime::new());
    smol::block_on(guarded(rt.clone(), deadline, scenario(rt)));
}

/// Runs `scenario` on async-std.
pub fn run_async_std<F, Fut>(deadline: Option<Duration>, scenario: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt: Arc<dyn Runtime> = Arc::new(AsyncStdRuntime::new());
    async_std::task::block_on(guarded(rt.clone(), deadline, scenario(rt)));
}

/// `for_each_runtime!(DEADLINE; a, b, ...)`: a `#[test]` per scenario `scenarios::a` (a
/// function of the calling file taking `Arc<dyn Runtime>`) on each runtime, in the modules
/// `tokio_rt`, `smol_rt` and `async_std_rt`. `DEADLINE` is an `Option<Duration>` expression
/// written with paths from the crate root (`Some(crate::SCENARIO_DEADLINE)`, `None`).
macro_rules! for_each_runtime {
    ($deadline:expr; $($name:ident),* $(,)?) => {
        mod tokio_rt {
            $( #[test] fn $name() { $crate::common::run_tokio($deadline, super::scenarios::$name) } )*
        }
        mod smol_rt {
            $( #[test] fn $name() { $crate::common::run_smol($deadline, super::scenarios::$name) } )*
        }
        mod async_std_rt {
            $( #[test] fn $name() { $crate::common::run_async_std($deadline, super::scenarios::$name) } )*
        }
    };
}
pub(crate) use for_each_runtime;

// ---------------------------------------------------------------------------------------------
// Set-up shared by the tests against the embedded cluster
// ---------------------------------------------------------------------------------------------

use std::fmt::Debug;

use rocketmq_rs_client::{ClientConfig, Message, MessageQueue, Producer};
use rocketmq_rs_mini_broker::embedded::{EmbeddedCluster, EmbeddedClusterBuilder};
use rocketmq_rs_mini_broker::{BrokerConfig, BrokerHandle};

/// The broker group of a one-broker embedded cluster.
pub const BROKER: &str = "broker-a";

/// An embedded cluster (one broker, registering every 300 ms) with a started producer.
pub struct Env {
    /// The runtime clients must use: the cluster's (its virtual-time runtime when the cluster
    /// was built with `virtual_time`).
    pub rt: Arc<dyn Runtime>,
    pub cluster: EmbeddedCluster,
    pub producer: Producer,
}

impl Env {
    /// A cluster with `topics` (name, queue count) and a producer of group `producer_group`.
    pub async fn start(rt: &Arc<dyn Runtime>, producer_group: &str, topics: &[(&str, i32)]) -> Env {
        Env::start_with(rt, producer_group, topics, cluster_builder(|_| {})).await
    }

    /// [`start`](Self::start) from a builder the caller configured ([`cluster_builder`] with
    /// other broker settings, virtual time).
    pub async fn start_with(
        rt: &Arc<dyn Runtime>,
        producer_group: &str,
        topics: &[(&str, i32)],
        builder: EmbeddedClusterBuilder,
    ) -> Env {
        let mut b = builder;
        for (t, n) in topics {
            b = b.topic(*t, *n);
        }
        let cluster = b.start(rt.clone()).await.expect("cluster starts");
        let rt = cluster.runtime().clone();
        let producer = Producer::builder()
            .name_server(&cluster.namesrv_addr())
            .runtime(rt.clone())
            .group(producer_group)
            .build()
            .unwrap();
        producer.start().await.unwrap();
        Env {
            rt,
            cluster,
            producer,
        }
    }

    pub fn ns(&self) -> String {
        self.cluster.namesrv_addr()
    }

    /// The master `broker-a`.
    pub fn broker(&self) -> &BrokerHandle {
        self.cluster.broker(BROKER).expect("broker-a runs")
    }

    /// [`fast_client`] for this cluster.
    pub fn client(&self) -> ClientConfig {
        fast_client(&self.ns(), &self.rt)
    }

    /// [`fast_client`] with its own instance name (several clients of one group in a process).
    pub fn client_named(&self, instance: &str) -> ClientConfig {
        let mut c = self.client();
        c.instance_name = Some(instance.to_owned());
        c
    }

    /// Sends `n` messages `<prefix><i>` round-robin; returns their (queue, offset).
    pub async fn send(&self, topic: &str, prefix: &str, n: usize) -> Vec<(i32, i64)> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let r = self
                .producer
                .send(Message::new(topic, format!("{prefix}{i}")))
                .await
                .expect("send");
            out.push((r.message_queue.queue_id, r.queue_offset));
        }
        out
    }

    /// [`send`](Self::send), returning the bodies sent.
    pub async fn send_bodies(
        &self,
        topic: &str,
        prefix: &str,
        n: usize,
    ) -> std::collections::BTreeSet<String> {
        self.send(topic, prefix, n).await;
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    /// Sends `body` to queue `queue` of `topic` on `broker-a`; returns (queue, offset).
    pub async fn send_to(&self, topic: &str, queue: i32, body: String) -> (i32, i64) {
        let mq = MessageQueue::new(topic, BROKER, queue);
        let r = self
            .producer
            .send_to_queue(Message::new(topic, body), &mq)
            .await
            .expect("send to queue");
        (r.message_queue.queue_id, r.queue_offset)
    }

    /// Waits (the cluster's [`wait_until`](EmbeddedCluster::wait_until): real or virtual
    /// time) until `probe` returns `Ok`; panics with the state it returned last.
    pub async fn until<T, S: Debug>(
        &self,
        what: &str,
        timeout: Duration,
        probe: impl FnMut() -> Result<T, S>,
    ) -> T {
        until(&self.cluster, what, timeout, probe).await
    }

    pub async fn stop(self) {
        self.producer.shutdown().await;
        self.cluster.shutdown().await;
    }
}

/// Waits with `cluster`'s [`wait_until`](EmbeddedCluster::wait_until) (real or virtual time)
/// until `probe` returns `Ok`; panics with the state it returned last.
pub async fn until<T, S: Debug>(
    cluster: &EmbeddedCluster,
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, S>,
) -> T {
    cluster
        .wait_until(what, timeout, || std::future::ready(probe()))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`until`] for a yes/no condition that is itself async (asks a broker, reads an endpoint).
pub async fn until_async<F, Fut>(
    cluster: &EmbeddedCluster,
    what: &str,
    timeout: Duration,
    mut cond: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    cluster
        .wait_until(what, timeout, || {
            let holds = cond();
            async move { check(holds.await, || "not yet") }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The tests' cluster: one broker registering every 300 ms, its configuration then changed
/// by `tweak`.
pub fn cluster_builder(
    tweak: impl Fn(&mut BrokerConfig) + Send + Sync + 'static,
) -> EmbeddedClusterBuilder {
    EmbeddedCluster::builder().configure(move |cfg| {
        cfg.register_name_server_period_ms = 300;
        tweak(cfg);
    })
}

/// A client of `ns` on `rt` with the short intervals the tests want: rebalance, heartbeat and
/// route refresh every second, offsets persisted every 200 ms.
pub fn fast_client(ns: &str, rt: &Arc<dyn Runtime>) -> ClientConfig {
    let mut c = ClientConfig::with_name_server(ns);
    c.runtime = Some(rt.clone());
    c.rebalance_interval = Duration::from_millis(1000);
    c.persist_offset_interval = Duration::from_millis(200);
    c.heartbeat_interval = Duration::from_millis(1000);
    c.route_refresh_interval = Duration::from_millis(1000);
    c
}

/// `Ok(())` when `cond` holds, else the state to show on timeout: for [`Env::until`].
pub fn check<S>(cond: bool, state: impl FnOnce() -> S) -> Result<(), S> {
    if cond {
        Ok(())
    } else {
        Err(state())
    }
}
