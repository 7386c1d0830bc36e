//! Producer against the in-process mini NameServer and mini broker: TBW102 auto-creation,
//! an explicitly created topic, sync/async/oneway/batch/selector sends, and shutdown.

use std::time::Duration;

use rocketmq_rs_client::client::{CreateTopicOptions, TopicTarget};
use rocketmq_rs_client::producer::selector::SelectByHash;
use rocketmq_rs_client::{Message, Producer, SendStatus};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::default_runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_sends_to_mini_broker() {
    let rt = default_runtime().unwrap();
    // The broker is registered (TBW102 routable) when `start` returns.
    let cluster = EmbeddedCluster::builder()
        .configure(|cfg| cfg.register_name_server_period_ms = 200)
        .start(rt)
        .await
        .unwrap();
    let broker = cluster.broker("broker-a").unwrap();

    let producer = Producer::builder()
        .name_server(&cluster.namesrv_addr())
        .group("it_pg")
        .build()
        .unwrap();
    producer.start().await.unwrap();

    let first = producer
        .send(Message::new("ItAutoTopic", "hello"))
        .await
        .expect("TBW102 is routable at once");
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
    // The broker registers the new topic on its own schedule.
    cluster
        .wait_until("ItTopic routable", Duration::from_secs(10), || async {
            match producer
                .client_instance()
                .update_topic_route("ItTopic")
                .await
            {
                Ok(Some(route)) => Ok(route),
                other => Err(format!("{other:?}")),
            }
        })
        .await
        .unwrap();
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
    cluster.shutdown().await;
}
