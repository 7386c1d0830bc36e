//! The mini servers' Prometheus endpoints (`metrics_listen`, issue 17 part 5) scraped after a
//! known workload: 30 messages sent and consumed by a push consumer, then 5 more sent while no
//! consumer runs. The broker's counters, lag, connections and store gauges and the
//! NameServer's gauges must show exactly that workload.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::until_async;
use rocketmq_rs_client::consumer::PushConsumerConfig;
use rocketmq_rs_client::{
    ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOPIC: &str = "MetricsTopic";
const GROUP: &str = "metrics_cg";
const QUEUES: i32 = 4;
const BODY: &[u8] = b"0123456789abcdef";

/// `GET path` with a fresh connection; the status line, headers and body.
async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_string(), body.to_string())
}

async fn scrape(addr: SocketAddr) -> String {
    let (head, body) = http_get(addr, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    body
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse().expect("a number"))
}

fn family_declared(text: &str, name: &str, kind: &str) -> bool {
    text.contains(&format!("# TYPE {name} {kind}\n")) && text.contains(&format!("# HELP {name} "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Config structs are built field by field: they are becoming #[non_exhaustive].
#[allow(clippy::field_reassign_with_default)]
async fn endpoints_show_a_known_workload() {
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().expect("inside tokio"));
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let cluster = EmbeddedCluster::builder()
        .configure(move |cfg| cfg.metrics_listen = Some(any_port))
        .configure_namesrv(move |cfg| cfg.metrics_listen = Some(any_port))
        .topic(TOPIC, QUEUES)
        .start(rt.clone())
        .await
        .expect("cluster starts");
    let broker = cluster.broker("broker-a").expect("broker-a");
    let bm = broker.metrics_addr().expect("broker metrics endpoint");
    let nm = cluster
        .namesrv()
        .and_then(|n| n.metrics_addr())
        .expect("namesrv metrics endpoint");

    // Before any traffic: the families are declared, the topic has no samples yet.
    let text = scrape(bm).await;
    for (name, kind) in [
        ("rocketmq_messages_in_total", "counter"),
        ("rocketmq_messages_out_total", "counter"),
        ("rocketmq_throughput_in_total", "counter"),
        ("rocketmq_throughput_out_total", "counter"),
        ("rocketmq_consumer_lag_messages", "gauge"),
        ("rocketmq_consumer_connections", "gauge"),
        ("rocketmq_producer_connections", "gauge"),
        ("rocketmq_connections", "gauge"),
        ("rocketmq_storage_size", "gauge"),
        ("rocketmq_storage_flush_behind_bytes", "gauge"),
        ("rocketmq_storage_dispatch_behind_bytes", "gauge"),
    ] {
        assert!(family_declared(&text, name, kind), "{name}:\n{text}");
    }
    assert_eq!(
        value(&text, "rocketmq_messages_in_total", &[("topic", TOPIC)]),
        None
    );
    let (head, _) = http_get(bm, "/other").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    let producer = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .runtime(rt.clone())
        .group("metrics_pg")
        .heartbeat_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    for _ in 0..30 {
        producer
            .send(Message::new(TOPIC, BODY.to_vec()))
            .await
            .expect("send");
    }

    let consumed = Arc::new(AtomicUsize::new(0));
    let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
    client.runtime = Some(rt.clone());
    client.persist_offset_interval = Duration::from_millis(200);
    client.heartbeat_interval = Duration::from_millis(1000);
    let mut cfg = PushConsumerConfig::default();
    cfg.group = GROUP.to_owned();
    cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
    cfg.rebalance_join_grace = Duration::from_millis(300);
    cfg.long_polling_timeout = Duration::from_secs(1);
    let seen = consumed.clone();
    let consumer = PushConsumer::builder()
        .client_config(client)
        .config(cfg)
        .subscribe(TOPIC, "*")
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(msgs.len(), Ordering::SeqCst);
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    let topic_lag = |text: &str| {
        value(
            text,
            "rocketmq_consumer_lag_messages",
            &[("topic", TOPIC), ("consumer_group", GROUP)],
        )
    };
    until_async(
        &cluster,
        "30 consumed and committed (lag 0)",
        Duration::from_secs(30),
        || {
            let c = consumed.load(Ordering::SeqCst);
            async move { c >= 30 && topic_lag(&scrape(bm).await) == Some(0.0) }
        },
    )
    .await;
    let text = scrape(bm).await;
    let topic = [("topic", TOPIC)];
    let topic_group = [("topic", TOPIC), ("consumer_group", GROUP)];
    assert_eq!(
        value(&text, "rocketmq_messages_in_total", &topic),
        Some(30.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "rocketmq_messages_out_total", &topic_group),
        Some(30.0),
        "{text}"
    );
    let bytes_in = value(&text, "rocketmq_throughput_in_total", &topic).unwrap();
    let bytes_out = value(&text, "rocketmq_throughput_out_total", &topic_group).unwrap();
    // Each stored message is its body plus properties and the record header.
    assert!(bytes_in >= 30.0 * BODY.len() as f64, "{text}");
    assert!(bytes_out >= 30.0 * BODY.len() as f64, "{text}");
    assert_eq!(
        value(
            &text,
            "rocketmq_consumer_connections",
            &[("consumer_group", GROUP), ("language", "RUST")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(value(&text, "rocketmq_connections", &[("node_type", "broker")]) >= Some(2.0));
    let stored = broker.store().stats().commit_log_max_offset as f64;
    assert_eq!(
        value(&text, "rocketmq_storage_size", &[("storage_type", "local")]),
        Some(stored),
        "{text}"
    );
    assert!(value(
        &text,
        "rocketmq_messages_in_total",
        &[("cluster", "DefaultCluster"), ("node_id", "broker-a")]
    )
    .is_some());
    // The producer registers with its next heartbeat.
    until_async(
        &cluster,
        "the producer's channel",
        Duration::from_secs(10),
        || async move {
            value(
                &scrape(bm).await,
                "rocketmq_producer_connections",
                &[("language", "RUST")],
            ) >= Some(1.0)
        },
    )
    .await;

    // 5 more with nobody consuming: lag 5, 35 in, still 30 out.
    consumer.shutdown().await.expect("consumer stops");
    // A pull still held by long polling would take (and count) the new messages.
    until_async(
        &cluster,
        "no held pull",
        Duration::from_secs(10),
        || async { broker.held_pulls() == 0 },
    )
    .await;
    for _ in 0..5 {
        producer
            .send(Message::new(TOPIC, BODY.to_vec()))
            .await
            .expect("send");
    }
    let text = scrape(bm).await;
    assert_eq!(
        value(&text, "rocketmq_messages_in_total", &topic),
        Some(35.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "rocketmq_messages_out_total", &topic_group),
        Some(30.0),
        "{text}"
    );
    assert_eq!(topic_lag(&text), Some(5.0), "{text}");

    let text = scrape(nm).await;
    assert!(
        family_declared(&text, "rocketmq_namesrv_live_brokers", "gauge"),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "rocketmq_namesrv_live_brokers",
            &[("node_type", "namesrv")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "rocketmq_namesrv_clusters", &[]),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(&text, "rocketmq_namesrv_topics", &[]) >= Some(1.0),
        "{text}"
    );
    assert!(
        value(&text, "rocketmq_connections", &[]) >= Some(1.0),
        "{text}"
    );

    producer.shutdown().await;
    cluster.shutdown().await;
    // Stopped with the servers: the ports no longer accept scrapes.
    assert!(tokio::net::TcpStream::connect(bm).await.is_err());
    assert!(tokio::net::TcpStream::connect(nm).await.is_err());
}
