//! Producer against the in-process mini NameServer and mini broker: TBW102 auto-creation,
//! an explicitly created topic, sync/async/oneway/batch/selector sends, and shutdown.

use std::time::{Duration, Instant};

use rocketmq_rs_client::client::{CreateTopicOptions, TopicTarget};
use rocketmq_rs_client::producer::selector::SelectByHash;
use rocketmq_rs_client::{Message, Producer, SendStatus};
use rocketmq_rs_mini_broker::{Broker, BrokerConfig};
use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};
use rocketmq_rs_remoting::rt::default_runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_sends_to_mini_broker() {
    let rt = default_runtime().unwrap();
    let ns = NameServer::start(
        NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap()),
        rt.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.namesrv_addrs = vec![ns.addr().to_string()];
    cfg.register_name_server_period_ms = 200;
    let broker = Broker::start(cfg, rt.clone()).await.unwrap();

    let producer = Producer::builder()
        .name_server(&ns.addr().to_string())
        .group("it_pg")
        .build()
        .unwrap();
    producer.start().await.unwrap();

    // Wait for the broker's registration (TBW102 becomes routable).
    let t = Instant::now();
    let first = loop {
        match producer.send(Message::new("ItAutoTopic", "hello")).await {
            Ok(r) => break r,
            Err(e) if t.elapsed() < Duration::from_secs(10) => {
                tracing::debug!(error = %e, "not ready yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("broker never became routable: {e}"),
        }
    };
    assert_eq!(first.status, SendStatus::SendOk);
    assert_eq!(first.queue_offset, 0);

    // An explicitly created topic on the broker.
    let addr = broker.addr().to_string();
    let opts = {
        let mut c = CreateTopicOptions::default();
        c.read_queue_nums = 2;
        c.write_queue_nums = 2;
        c
    };
    producer
        .client_instance()
        .create_topic("ItTopic", TopicTarget::Broker(addr), &opts)
        .await
        .unwrap();
    let t = Instant::now();
    loop {
        match producer
            .client_instance()
            .update_topic_route("ItTopic")
            .await
        {
            Ok(Some(_)) => break,
            _ if t.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("topic never routable: {other:?}"),
        }
    }
    let big = vec![b'q'; 10_000];
    let r = producer
        .send(
            Message::builder("ItTopic")
                .tag("TagA")
                .body(big)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    let r1 = producer
        .send_with_selector(Message::new("ItTopic", "o1"), &SelectByHash, "k")
        .await
        .unwrap();
    let r2 = producer
        .send_with_selector(Message::new("ItTopic", "o2"), &SelectByHash, "k")
        .await
        .unwrap();
    assert_eq!(r1.message_queue, r2.message_queue);
    assert_eq!(r2.queue_offset, r1.queue_offset + 1);
    let batch: Vec<Message> = (0..4)
        .map(|i| Message::new("ItTopic", format!("b{i}")))
        .collect();
    let rb = producer.send_batch(batch).await.unwrap();
    assert_eq!(rb.msg_id.split(',').count(), 4);
    assert_eq!(
        producer
            .send_async(Message::new("ItTopic", "async"))
            .await
            .unwrap()
            .status,
        SendStatus::SendOk
    );
    producer
        .send_oneway(Message::new("ItTopic", "oneway"))
        .await
        .unwrap();

    producer.shutdown().await;
    broker.shutdown().await;
    ns.shutdown().await;
}
