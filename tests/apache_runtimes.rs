//! The send + push round trip of the Apache interop matrix on the smol and async-std runtimes
//! (the other scenarios run on tokio), against each Apache version's shared cluster.
//!
//! Each body runs under its executor's own `block_on` and uses nothing of tokio: topic creation,
//! the producer, the push consumer and every wait go through the [`Runtime`] given to it.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_it::apache::{ApacheCluster, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::producer::ProducerConfig;
use rocketmq_rs_client::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, MessageSelector,
    Producer, PushConsumer, SendStatus,
};
use rocketmq_rs_remoting::rt::{AsyncStdRuntime, Runtime, SmolRuntime};
use rocketmq_rs_remoting::transport::TransportConfig;

use crate::common::{client_cfg, cluster, unique};
use crate::security::create_topic_over;

const MESSAGES: usize = 20;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends [`MESSAGES`] messages (sync, with keys) and waits until a push consumer started before
/// them has received every key.
async fn round_trip(rt: Arc<dyn Runtime>, c: Arc<ApacheCluster>, label: &str) {
    let t0 = Instant::now();
    let topic = unique(&format!("Rt{label}"), c.version());
    create_topic_over(&rt, &c, &topic, TransportConfig::default()).await;

    let got: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let got2 = Arc::clone(&got);
    let consumer = PushConsumer::builder()
        .client_config(client_cfg(&c, &rt))
        .group(unique(&format!("cg_rt_{label}"), c.version()))
        .subscribe(&topic, MessageSelector::all())
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let mut g = got2.lock().unwrap();
            g.extend(msgs.iter().filter_map(|m| m.keys().map(String::from)));
            std::future::ready(ConsumeResult::Success)
        })
        .build()
        .expect("push consumer config");
    consumer.start().await.expect("push consumer start");

    let p = Producer::builder()
        .config({
            let mut conf = ProducerConfig::default();
            conf.group = unique(&format!("pg_rt_{label}"), c.version());
            conf.client = client_cfg(&c, &rt);
            conf.send_timeout = Duration::from_secs(10);
            conf
        })
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    let mut want = BTreeSet::new();
    for i in 0..MESSAGES {
        let key = format!("{label}-{i}");
        let mut m = Message::new(&topic, format!("round trip on {label}: {i}"));
        m.set_keys([key.as_str()]);
        let r = p
            .send(m)
            .await
            .unwrap_or_else(|e| panic!("{label}: send {key}: {e}"));
        assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
        want.insert(key);
    }

    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    while *got.lock().unwrap() != want {
        assert!(
            Instant::now() < deadline,
            "{label} on Apache {}: received {:?} of {} messages",
            c.version(),
            got.lock().unwrap().len(),
            want.len()
        );
        rt.sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await.expect("consumer shutdown");
    p.shutdown().await;
    eprintln!(
        "{label} round trip on Apache {}: {MESSAGES} messages in {:.1} s",
        c.version(),
        t0.elapsed().as_secs_f64()
    );
}

/// Runs `body` to completion on smol's executor.
fn on_smol<F: Future<Output = ()>>(body: impl FnOnce(Arc<dyn Runtime>) -> F) {
    smol::block_on(body(Arc::new(SmolRuntime::new())));
}

/// Runs `body` to completion on async-std's executor.
fn on_async_std<F: Future<Output = ()>>(body: impl FnOnce(Arc<dyn Runtime>) -> F) {
    async_std::task::block_on(body(Arc::new(AsyncStdRuntime::new())));
}

fn smol_round_trip(version: &str) {
    let Some(c) = cluster(&format!("smol round trip {version}"), version) else {
        return;
    };
    on_smol(|rt| round_trip(rt, c, "smol"));
}

fn async_std_round_trip(version: &str) {
    let Some(c) = cluster(&format!("async-std round trip {version}"), version) else {
        return;
    };
    on_async_std(|rt| round_trip(rt, c, "asyncstd"));
}

per_version!(smol_round_trip, smol_v4, smol_v5_3, smol_v5_newest);
per_version!(
    async_std_round_trip,
    async_std_v4,
    async_std_v5_3,
    async_std_v5_newest
);
