//! Config structs load from files (serde): every field optional with the documented default,
//! durations in `_ms` integer fields, unknown fields rejected, and a save/load round trip.

use std::time::Duration;

use rocketmq_rs_client::consumer::{LitePullConsumerConfig, PushConsumerConfig};
use rocketmq_rs_client::producer::ProducerConfig;
use rocketmq_rs_client::{ClientConfig, ConsumeFromWhere, MessageModel};

fn load<T: serde::de::DeserializeOwned>(json: &str) -> T {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client.json");
    std::fs::write(&path, json).unwrap();
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn producer_config_from_file() {
    let cfg: ProducerConfig = load(
        r#"{
            "group": "order_service",
            "client": {
                "namesrv_addrs": ["10.0.0.1:9876", "10.0.0.2:9876"],
                "namespace": "prod",
                "rpc_timeout_ms": 2500
            },
            "send_timeout_ms": 5000,
            "retry_times": 4,
            "retry_backoff_ms": 20,
            "compress_over": 8192,
            "fault": { "enabled": true, "penalties_ms": [[100, 0], [1000, 30000]] },
            "async_back_pressure": true,
            "async_max_in_flight": 256
        }"#,
    );
    assert_eq!(cfg.group, "order_service");
    assert_eq!(cfg.client.namesrv_addrs.len(), 2);
    assert_eq!(cfg.client.namespace.as_deref(), Some("prod"));
    assert_eq!(cfg.client.rpc_timeout, Duration::from_millis(2500));
    assert_eq!(cfg.client.heartbeat_interval, Duration::from_secs(30));
    assert_eq!(cfg.send_timeout, Duration::from_secs(5));
    assert_eq!(cfg.retry_times, 4);
    assert_eq!(cfg.retry_times_async, 2, "default");
    assert_eq!(cfg.retry_backoff, Duration::from_millis(20));
    assert_eq!(cfg.compress_over, 8192);
    assert!(cfg.async_back_pressure);
    assert_eq!(cfg.async_max_in_flight, 256);
    assert_eq!(
        cfg.async_max_in_flight_bytes,
        100 * 1024 * 1024,
        "Java's default"
    );
    assert!(!cfg.async_back_pressure_fail_fast, "default: wait, as Java");
    assert_eq!(
        cfg.max_message_size,
        ProducerConfig::default().max_message_size
    );
    assert!(cfg.fault.enabled);
    assert_eq!(
        cfg.fault.penalties,
        [
            (Duration::from_millis(100), Duration::ZERO),
            (Duration::from_secs(1), Duration::from_secs(30))
        ]
    );
    assert_eq!(
        cfg.fault.isolation_latency,
        ProducerConfig::default().fault.isolation_latency
    );
    cfg.validate().unwrap();

    let json = serde_json::to_string_pretty(&cfg).unwrap();
    let back: ProducerConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(format!("{back:?}"), format!("{cfg:?}"));
    assert!(serde_json::from_str::<ProducerConfig>(r#"{"send_timeout": 5}"#).is_err());
    assert!(serde_json::from_str::<ProducerConfig>(r#"{"client": {"bogus": 1}}"#).is_err());
}

#[test]
fn push_consumer_config_from_file() {
    let cfg: PushConsumerConfig = load(
        r#"{
            "group": "billing",
            "message_model": "BROADCASTING",
            "consume_from_where": { "TIMESTAMP": 1700000000000 },
            "consume_concurrency": 8,
            "max_reconsume_times": 3,
            "long_polling_timeout_ms": 15000,
            "await_termination_ms": 2000,
            "consume_timeout_ms": 60000,
            "local_offset_dir": "/var/lib/app/offsets"
        }"#,
    );
    let d = PushConsumerConfig::default();
    assert_eq!(cfg.group, "billing");
    assert_eq!(cfg.message_model, MessageModel::Broadcasting);
    assert_eq!(
        cfg.consume_from_where,
        ConsumeFromWhere::Timestamp(1_700_000_000_000)
    );
    assert_eq!(cfg.consume_concurrency, 8);
    assert_eq!(cfg.max_reconsume_times, Some(3));
    assert_eq!(cfg.long_polling_timeout, Duration::from_secs(15));
    assert_eq!(cfg.await_termination, Duration::from_secs(2));
    assert_eq!(cfg.consume_timeout, Duration::from_secs(60));
    assert_eq!(
        d.consume_timeout,
        Duration::from_secs(15 * 60),
        "Java's consumeTimeout"
    );
    assert_eq!(cfg.pull_timeout, d.pull_timeout, "default kept");
    assert_eq!(cfg.pull_threshold_for_queue, d.pull_threshold_for_queue);
    assert_eq!(
        cfg.local_offset_dir.as_deref(),
        Some(std::path::Path::new("/var/lib/app/offsets"))
    );
    cfg.validate().unwrap();
    let back: PushConsumerConfig =
        serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(format!("{back:?}"), format!("{cfg:?}"));
    assert!(serde_json::from_str::<PushConsumerConfig>(r#"{"message_model": "GOSSIP"}"#).is_err());
}

#[test]
fn lite_pull_and_client_config_from_file() {
    let cfg: LitePullConsumerConfig = load(
        r#"{"group": "etl", "auto_commit": false, "consume_from_where": "FIRST_OFFSET",
            "auto_commit_interval_ms": 1000, "rebalance_join_grace_ms": 0}"#,
    );
    assert_eq!(cfg.group, "etl");
    assert!(!cfg.auto_commit);
    assert_eq!(cfg.consume_from_where, ConsumeFromWhere::FirstOffset);
    assert_eq!(cfg.auto_commit_interval, Duration::from_secs(1));
    assert_eq!(cfg.rebalance_join_grace, Duration::ZERO);
    assert_eq!(cfg.pull_batch_size, 10, "default");

    let client: ClientConfig = load(r#"{"namesrv_addrs": "a:9876; b:9876"}"#);
    assert_eq!(client.namesrv_addrs, ["a:9876", "b:9876"]);
    client.validate().unwrap();
}
