//! The broker's Prometheus scrape endpoint ([`BrokerConfig::metrics_listen`],
//! `mini-broker --metrics-listen ADDR`; off by default).
//!
//! `GET /metrics` answers in the text exposition format 0.0.4. Names follow Apache RocketMQ
//! 5.x's broker and store metrics where Apache has one (`BrokerMetricsConstant`,
//! `DefaultStoreMetricsConstant`); every sample carries `cluster`, `node_type="broker"` and
//! `node_id` (the broker name):
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `rocketmq_messages_in_total` | counter | `topic` | messages stored since start |
//! | `rocketmq_throughput_in_total` | counter | `topic` | bytes stored since start |
//! | `rocketmq_messages_out_total` | counter | `topic`, `consumer_group` | messages pulled |
//! | `rocketmq_throughput_out_total` | counter | `topic`, `consumer_group` | bytes pulled |
//! | `rocketmq_consumer_lag_messages` | gauge | `topic`, `consumer_group`, `is_retry` | broker max offset minus committed offset, summed over the queues |
//! | `rocketmq_producer_connections` | gauge | `language`, `version` | producer channels |
//! | `rocketmq_consumer_connections` | gauge | `consumer_group`, `language`, `version` | consumer channels |
//! | `rocketmq_storage_size` | gauge | `storage_type`, `storage_medium` | commit-log bytes retained |
//! | `rocketmq_storage_flush_behind_bytes` | gauge | | written but not yet fsynced |
//! | `rocketmq_storage_dispatch_behind_bytes` | gauge | | written but not yet indexed in consume queues |
//!
//! mini-broker's own (no Apache counterpart): `rocketmq_connections` (open remoting
//! connections), `rocketmq_topic_put_tps` / `rocketmq_consumer_get_tps` (messages per second
//! over the last minute, the numbers `mqadmin statsAll` shows as InTPS / OutTPS) and
//! `rocketmq_send_back_messages_total` (`SNDBCK_PUT_NUMS`). Rates of the counters are
//! Prometheus' `rate()`.
//!
//! [`BrokerConfig::metrics_listen`]: crate::BrokerConfig::metrics_listen

use std::collections::BTreeMap;
use std::sync::Arc;

use rocketmq_rs_remoting::metrics_endpoint::{MetricType, PromText, RenderFn};
use rocketmq_rs_remoting::rt::{self, Runtime};

use crate::client_manager::ClientManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::stats::{
    BrokerStats, GROUP_GET_NUMS, GROUP_GET_SIZE, SNDBCK_PUT_NUMS, TOPIC_PUT_NUMS, TOPIC_PUT_SIZE,
};
use crate::store::MessageStore;

/// What one scrape reads.
pub(crate) struct Sources {
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) cluster: String,
    pub(crate) broker_name: String,
    pub(crate) stats: Arc<BrokerStats>,
    pub(crate) clients: Arc<ClientManager>,
    pub(crate) offsets: Arc<ConsumerOffsetManager>,
    pub(crate) store: MessageStore,
    pub(crate) connections: Arc<dyn Fn() -> usize + Send + Sync>,
}

/// The render function of the endpoint.
pub(crate) fn render_fn(src: Sources) -> RenderFn {
    let src = Arc::new(src);
    Arc::new(move || {
        let src = Arc::clone(&src);
        Box::pin(async move { render(&src).await })
    })
}

fn split_key(key: &str) -> (&str, &str) {
    // Topic and group names cannot contain '@' (Apache's name check).
    key.split_once('@').unwrap_or((key, ""))
}

async fn render(src: &Sources) -> String {
    let node = [
        ("cluster", src.cluster.as_str()),
        ("node_type", "broker"),
        ("node_id", src.broker_name.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        node.iter()
            .chain(extra.iter())
            .map(|(k, v)| (*k, v.to_string()))
            .collect()
    };
    let mut t = PromText::new();
    let emit = |t: &mut PromText, name: &str, labels: Vec<(&'static str, String)>, v: f64| {
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        t.sample(name, &l, v);
    };

    let by_topic = [
        (
            "rocketmq_messages_in_total",
            "Messages stored, by topic.",
            TOPIC_PUT_NUMS,
        ),
        (
            "rocketmq_throughput_in_total",
            "Bytes of messages stored, by topic.",
            TOPIC_PUT_SIZE,
        ),
    ];
    for (name, help, family) in by_topic {
        t.family(name, help, MetricType::Counter);
        for (topic, v) in src.stats.key_totals(family) {
            emit(&mut t, name, with(&[("topic", &topic)]), v as f64);
        }
    }
    let by_group = [
        (
            "rocketmq_messages_out_total",
            "Messages pulled by consumers, by topic and group.",
            GROUP_GET_NUMS,
        ),
        (
            "rocketmq_throughput_out_total",
            "Bytes of messages pulled by consumers, by topic and group.",
            GROUP_GET_SIZE,
        ),
        (
            "rocketmq_send_back_messages_total",
            "Messages consumers sent back for a retry, by original topic and group.",
            SNDBCK_PUT_NUMS,
        ),
    ];
    for (name, help, family) in by_group {
        t.family(name, help, MetricType::Counter);
        for (key, v) in src.stats.key_totals(family) {
            let (topic, group) = split_key(&key);
            emit(
                &mut t,
                name,
                with(&[("topic", topic), ("consumer_group", group)]),
                v as f64,
            );
        }
    }

    t.family(
        "rocketmq_topic_put_tps",
        "Messages stored per second over the last minute, by topic (statsAll InTPS).",
        MetricType::Gauge,
    );
    for (topic, _) in src.stats.key_totals(TOPIC_PUT_NUMS) {
        let tps = src.stats.minute_tps(TOPIC_PUT_NUMS, &topic);
        emit(
            &mut t,
            "rocketmq_topic_put_tps",
            with(&[("topic", &topic)]),
            tps,
        );
    }
    t.family(
        "rocketmq_consumer_get_tps",
        "Messages pulled per second over the last minute, by topic and group (statsAll OutTPS).",
        MetricType::Gauge,
    );
    for (key, _) in src.stats.key_totals(GROUP_GET_NUMS) {
        let tps = src.stats.minute_tps(GROUP_GET_NUMS, &key);
        let (topic, group) = split_key(&key);
        emit(
            &mut t,
            "rocketmq_consumer_get_tps",
            with(&[("topic", topic), ("consumer_group", group)]),
            tps,
        );
    }

    // Lag: the offset table and the queues' max offsets (in memory, but queue lookups take the
    // store's locks: off the async workers).
    let (store, offsets) = (src.store.clone(), Arc::clone(&src.offsets));
    let lags: BTreeMap<String, i64> = rt::run_blocking(&*src.rt, move || {
        offsets
            .all()
            .into_iter()
            .map(|(key, queues)| {
                let topic = split_key(&key).0;
                let lag: i64 = queues
                    .iter()
                    .map(|(qid, committed)| (store.max_offset(topic, *qid) - committed).max(0))
                    .sum();
                (key, lag)
            })
            .collect()
    })
    .await;
    t.family(
        "rocketmq_consumer_lag_messages",
        "Messages not yet consumed (max offset minus committed offset over the queues), by topic and group.",
        MetricType::Gauge,
    );
    for (key, lag) in &lags {
        let (topic, group) = split_key(key);
        let retry = topic.starts_with("%RETRY%").to_string();
        emit(
            &mut t,
            "rocketmq_consumer_lag_messages",
            with(&[
                ("topic", topic),
                ("consumer_group", group),
                ("is_retry", &retry),
            ]),
            *lag as f64,
        );
    }

    let channels = src.clients.channel_counts();
    t.family(
        "rocketmq_producer_connections",
        "Producer channels, by client language and version.",
        MetricType::Gauge,
    );
    for ((lang, version), n) in &channels.producers {
        emit(
            &mut t,
            "rocketmq_producer_connections",
            with(&[("language", lang), ("version", &version.to_string())]),
            *n as f64,
        );
    }
    t.family(
        "rocketmq_consumer_connections",
        "Consumer channels, by group, client language and version.",
        MetricType::Gauge,
    );
    for ((group, lang, version), n) in &channels.consumers {
        emit(
            &mut t,
            "rocketmq_consumer_connections",
            with(&[
                ("consumer_group", group),
                ("language", lang),
                ("version", &version.to_string()),
            ]),
            *n as f64,
        );
    }
    t.family(
        "rocketmq_connections",
        "Open remoting connections (clients, NameServer-less admin tools, slaves' metadata copies).",
        MetricType::Gauge,
    );
    emit(
        &mut t,
        "rocketmq_connections",
        with(&[]),
        (src.connections)() as f64,
    );

    let st = src.store.stats();
    t.family(
        "rocketmq_storage_size",
        "Bytes of the commit log retained on disk.",
        MetricType::Gauge,
    );
    let size = (st.commit_log_max_offset - src.store.commit_log_min_offset()).max(0);
    emit(
        &mut t,
        "rocketmq_storage_size",
        with(&[("storage_type", "local"), ("storage_medium", "disk")]),
        size as f64,
    );
    t.family(
        "rocketmq_storage_flush_behind_bytes",
        "Commit-log bytes written but not yet fsynced.",
        MetricType::Gauge,
    );
    emit(
        &mut t,
        "rocketmq_storage_flush_behind_bytes",
        with(&[]),
        (st.commit_log_max_offset - st.commit_log_flushed_offset).max(0) as f64,
    );
    t.family(
        "rocketmq_storage_dispatch_behind_bytes",
        "Commit-log bytes written but not yet indexed in the consume queues.",
        MetricType::Gauge,
    );
    emit(
        &mut t,
        "rocketmq_storage_dispatch_behind_bytes",
        with(&[]),
        src.store.dispatch_behind_bytes() as f64,
    );
    t.finish()
}
