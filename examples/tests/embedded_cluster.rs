//! The embedded cluster in users' tests, on each runtime: the same code as the README's
//! `#[test]` example, run under tokio, async-std and smol.

use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_client::consumer::PullConsumer;
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_client::ClientConfig;
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::{AsyncStdRuntime, Runtime, SmolRuntime, TokioRuntime};

/// Produce three messages and read them back: what a user's test would do.
async fn round_trip(rt: Arc<dyn Runtime>) {
    let cluster = EmbeddedCluster::builder()
        .topic("OrdersTopic", 2)
        .start(rt.clone())
        .await
        .expect("embedded cluster");
    let ns = cluster.namesrv_addr();

    let producer = Producer::builder()
        .name_server(&ns)
        .runtime(rt.clone())
        .group("test_pg")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    for i in 0..3 {
        producer
            .send(Message::new("OrdersTopic", format!("order {i}")))
            .await
            .unwrap();
    }

    let mut cfg = ClientConfig::with_name_server(&ns);
    cfg.runtime = Some(rt.clone());
    let consumer = PullConsumer::builder()
        .client_config(cfg)
        .group("test_cg")
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    let mut bodies = Vec::new();
    for mq in consumer
        .fetch_subscribe_queues("OrdersTopic")
        .await
        .unwrap()
    {
        let r = consumer
            .pull_blocking(&mq, "*", 0, 32, Duration::from_millis(200))
            .await
            .unwrap();
        bodies.extend(
            r.messages
                .iter()
                .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
        );
    }
    bodies.sort();
    assert_eq!(bodies, ["order 0", "order 1", "order 2"]);

    consumer.shutdown().await;
    producer.shutdown().await;
    let dir = cluster.store_root().to_path_buf();
    cluster.shutdown().await; // or just drop it
    assert!(!dir.exists(), "temporary store removed");
}

#[test]
fn on_tokio() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(round_trip(Arc::new(TokioRuntime::from_handle(
        tokio.handle().clone(),
    ))));
}

#[test]
fn on_async_std() {
    async_std::task::block_on(round_trip(Arc::new(AsyncStdRuntime::new())));
}

#[test]
fn on_smol() {
    smol::block_on(round_trip(Arc::new(SmolRuntime::new())));
}

/// The README's example, verbatim in spirit: `#[tokio::test]` and the default runtime.
#[tokio::test]
async fn readme_example() {
    let cluster = EmbeddedCluster::start_default().await.unwrap();
    let producer = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .group("my_test_pg")
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let sent = producer
        .send(Message::new("TestTopic", "hello"))
        .await
        .unwrap();
    assert_eq!(sent.message_queue.topic, "TestTopic");
    producer.shutdown().await;
    cluster.shutdown().await;
}
