//! Shared by the `apache_*` tests (included with `#[path]`): a tokio runtime per test, one
//! Apache cluster per version per test binary, topic creation, a pull-everything reader and
//! `mqadmin` output parsing.
#![allow(dead_code)]

/// One `#[test]` per Apache version for a scenario `fn(&str)`; the version constants `V4`,
/// `V5_3` and `V5_NEWEST` must be in scope where it is used.
macro_rules! per_version {
    ($scenario:ident, $v4:ident, $v53:ident, $v5n:ident) => {
        #[test]
        fn $v4() {
            $scenario(V4);
        }
        #[test]
        fn $v53() {
            $scenario(V5_3);
        }
        #[test]
        fn $v5n() {
            $scenario(V5_NEWEST);
        }
    };
}

// The same protocol helpers the chaos and cluster tests use against live servers.
#[path = "chaos/admin.rs"]
mod live_admin;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_it::apache::{apache_or_skip, ApacheCluster, ClusterOptions};
use rocketmq_it::init_tracing;
use rocketmq_rs_client::{ClientConfig, MessageExt, PullConsumer, PullStatus};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::GetRouteInfoRequestHeader;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

/// Every test's topics and groups carry this process's id, so reruns against a kept cluster
/// never collide.
pub fn unique(name: &str, version: &str) -> String {
    format!("{name}_{}_{}", version.replace('.', ""), std::process::id())
}

/// Apache's `messageDelayLevel` with short retry levels: level 2 stays 5 s (the delay test
/// checks it) and levels 3.. (what `%RETRY%` redelivery uses: 3 + reconsumeTimes) are 2 s, so
/// a retry-then-DLQ run takes seconds instead of Apache's default 10 s, 30 s, 1 min ...
pub const DELAY_LEVELS: &str = "1s 5s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s";

/// The options every `apache_*` test binary shares a cluster with.
pub fn default_options() -> ClusterOptions {
    ClusterOptions {
        broker_props: vec![("messageDelayLevel".into(), DELAY_LEVELS.into())],
        ..ClusterOptions::default()
    }
}

/// The shared cluster for `version` with [`default_options`], or `None` when the test must
/// skip (printed). Blocks: call before entering a runtime.
pub fn cluster(test: &str, version: &str) -> Option<Arc<ApacheCluster>> {
    cluster_with(test, version, &default_options())
}

/// Like [`cluster`], with options (a separate shared cluster per distinct options).
pub fn cluster_with(
    test: &str,
    version: &str,
    opts: &ClusterOptions,
) -> Option<Arc<ApacheCluster>> {
    init_tracing();
    if !apache_or_skip(test) {
        return None;
    }
    let t0 = Instant::now();
    let c = ApacheCluster::shared(version, opts)
        .unwrap_or_else(|e| panic!("{test}: Apache {version} cluster: {e}"));
    if opts.auto_create_topic {
        // The ready line can come before the NameServer serves TBW102 (seen on 5.3.3), and a
        // send to an unknown topic fails at once without that route, in Java as in ours.
        let c2 = Arc::clone(&c);
        run("TBW102 route", |rt| async move {
            wait_route(&rt, &c2, "TBW102").await
        });
    }
    eprintln!(
        "{test}: Apache {version} cluster ready in {:.1} s (namesrv {}, broker {})",
        t0.elapsed().as_secs_f64(),
        c.namesrv_addr(),
        c.broker_addr()
    );
    Some(c)
}

/// Runs an async test body on a fresh two-worker tokio runtime; returns what it returns.
pub fn run<F, Fut, T>(name: &str, body: F) -> T
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = T>,
{
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio_rt.handle().clone()));
    let t0 = Instant::now();
    let out = tokio_rt.block_on(body(rt));
    eprintln!("{name}: body done in {:.1} s", t0.elapsed().as_secs_f64());
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
    out
}

/// Client settings for tests: the cluster's NameServer and short refresh intervals, so a
/// topic created a moment ago is found within a second.
pub fn client_cfg(c: &ApacheCluster, rt: &Arc<dyn Runtime>) -> ClientConfig {
    client_cfg_ns(c.namesrv_addr(), rt)
}

/// [`client_cfg`] for any NameServer.
pub fn client_cfg_ns(ns: SocketAddr, rt: &Arc<dyn Runtime>) -> ClientConfig {
    {
        let mut c = ClientConfig::default();
        c.namesrv_addrs = vec![ns.to_string()];
        c.route_refresh_interval = Duration::from_secs(1);
        c.heartbeat_interval = Duration::from_secs(1);
        c.rebalance_interval = Duration::from_secs(1);
        c.persist_offset_interval = Duration::from_millis(500);
        c.runtime = Some(Arc::clone(rt));
        c
    }
}

/// Creates `topic` on the Apache broker with our own UPDATE_AND_CREATE_TOPIC request (faster
/// than a JVM per `mqadmin updateTopic`), then waits until the NameServer serves its route:
/// 5.x brokers register the new topic in the background, so a client asking at once may be
/// told the topic does not exist.
pub async fn create_topic(rt: &Arc<dyn Runtime>, c: &ApacheCluster, topic: &str, queues: i32) {
    create_topic_with(rt, c, topic, queues, false).await
}

/// Like [`create_topic`]; `order` marks the topic ordered.
pub async fn create_topic_with(
    rt: &Arc<dyn Runtime>,
    c: &ApacheCluster,
    topic: &str,
    queues: i32,
    order: bool,
) {
    live_admin::create_topic(c.broker_addr(), topic, queues, order).await;
    wait_route(rt, c, topic).await;
}

/// Waits (up to 60 s) until the cluster's NameServer serves a route for `topic`.
pub async fn wait_route(rt: &Arc<dyn Runtime>, c: &ApacheCluster, topic: &str) {
    wait_route_with(rt, c, topic, "").await
}

/// Waits (up to 60 s) until the route the NameServer serves for `topic` mentions `needle`
/// (e.g. a slave's address).
pub async fn wait_route_with(rt: &Arc<dyn Runtime>, c: &ApacheCluster, topic: &str, needle: &str) {
    let client = RemotingClient::new(Arc::clone(rt), TransportConfig::default());
    let ns = c.namesrv_addr().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC).with_header(
            &GetRouteInfoRequestHeader {
                topic: topic.into(),
                accept_standard_json_only: None,
            },
        );
        match client.invoke(&ns, req, Duration::from_secs(5)).await {
            Ok(r)
                if r.code == ResponseCode::SUCCESS
                    && String::from_utf8_lossy(&r.body).contains(needle) =>
            {
                break
            }
            r => assert!(
                Instant::now() < deadline,
                "the NameServer has no route for {topic} with {needle:?} after 60 s: {r:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.shutdown();
}

/// Reads every message of `topic` (all queues, from offset 0) with our pull consumer until
/// `want` messages arrived or `timeout` passed; returns them in (queue, offset) order.
pub async fn pull_all(
    c: &ApacheCluster,
    rt: &Arc<dyn Runtime>,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<MessageExt> {
    pull_all_ns(c.namesrv_addr(), rt, topic, want, timeout).await
}

/// [`pull_all`] through any NameServer.
pub async fn pull_all_ns(
    ns: SocketAddr,
    rt: &Arc<dyn Runtime>,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<MessageExt> {
    let group = format!("pull_all_{}", topic);
    let consumer = PullConsumer::builder()
        .client_config(client_cfg_ns(ns, rt))
        .group(group)
        .build()
        .expect("pull consumer config");
    consumer.start().await.expect("pull consumer start");
    let deadline = Instant::now() + timeout;
    let queues = loop {
        match consumer.fetch_subscribe_queues(topic).await {
            Ok(q) if !q.is_empty() => break q,
            r => assert!(
                Instant::now() < deadline,
                "no queues for {topic} within {timeout:?}: {r:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut next: BTreeMap<i32, i64> = queues.iter().map(|q| (q.queue_id, 0)).collect();
    let mut got: BTreeMap<(i32, i64), MessageExt> = BTreeMap::new();
    while got.len() < want && Instant::now() < deadline {
        let mut progressed = false;
        for q in &queues {
            let off = next[&q.queue_id];
            match consumer.pull(q, "*", off, 32).await {
                Ok(r) if r.status == PullStatus::Found => {
                    for m in r.messages {
                        got.insert((m.queue_id, m.queue_offset), m);
                    }
                    next.insert(q.queue_id, r.next_begin_offset);
                    progressed = true;
                }
                Ok(r) => {
                    if r.next_begin_offset > off {
                        next.insert(q.queue_id, r.next_begin_offset);
                    }
                }
                Err(e) => tracing::debug!("pull {q:?} at {off}: {e}"),
            }
        }
        if !progressed {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let _ = consumer.shutdown().await;
    got.into_values().collect()
}

/// Sums the `#Max Offset` column of `mqadmin topicStatus` (what Apache itself says it
/// stored), or panics with the output.
pub fn apache_stored_count(c: &ApacheCluster, topic: &str) -> i64 {
    let out = c
        .mqadmin(&["topicStatus", "-t", topic])
        .unwrap_or_else(|e| panic!("mqadmin topicStatus: {e}"));
    let mut total = 0;
    let mut rows = 0;
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // #Broker Name  #QID  #Min Offset  #Max Offset  #Last Updated
        if cols.len() >= 4 && cols[0] == "broker-a" {
            if let (Ok(_), Ok(max)) = (cols[1].parse::<i32>(), cols[3].parse::<i64>()) {
                total += max;
                rows += 1;
            }
        }
    }
    assert!(rows > 0, "no queue rows in topicStatus of {topic}:\n{out}");
    total
}

/// Each queue's max offset of `topic` on the broker at `addr` (`None` for a queue the broker
/// cannot answer for, e.g. a slave that has not copied the topic yet).
pub async fn max_offsets(
    rt: &Arc<dyn Runtime>,
    addr: SocketAddr,
    topic: &str,
    queues: i32,
) -> Vec<Option<i64>> {
    use rocketmq_rs_remoting::protocol::header::{
        GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    };
    let client = RemotingClient::new(Arc::clone(rt), TransportConfig::default());
    let mut out = Vec::new();
    for q in 0..queues {
        let req = RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(
            &GetMaxOffsetRequestHeader {
                topic: topic.into(),
                queue_id: q,
                committed: true,
                bname: None,
            },
        );
        out.push(
            match client
                .invoke(&addr.to_string(), req, Duration::from_secs(5))
                .await
            {
                Ok(r) if r.code == ResponseCode::SUCCESS => r
                    .decode_header::<GetMaxOffsetResponseHeader>()
                    .ok()
                    .map(|h| h.offset),
                _ => None,
            },
        );
    }
    client.shutdown();
    out
}

/// Whether the broker at `addr` has `topic` in its topic table (GET_ALL_TOPIC_CONFIG).
pub async fn broker_knows_topic(rt: &Arc<dyn Runtime>, addr: SocketAddr, topic: &str) -> bool {
    let client = RemotingClient::new(Arc::clone(rt), TransportConfig::default());
    let req = RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG);
    let known = match client
        .invoke(&addr.to_string(), req, Duration::from_secs(5))
        .await
    {
        Ok(r) if r.code == ResponseCode::SUCCESS => {
            String::from_utf8_lossy(&r.body).contains(&format!("\"{topic}\""))
        }
        _ => false,
    };
    client.shutdown();
    known
}
