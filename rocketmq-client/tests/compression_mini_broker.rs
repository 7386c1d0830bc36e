//! Every compression type end to end through the in-process mini broker (which stores bodies
//! as sent): our producer with `compress_type` zlib / zstd / LZ4 sends a large body with a tag,
//! a key and a unicode property; the pull consumer (with a tag filter), QUERY_MESSAGE by key
//! and VIEW_MESSAGE_BY_ID all return the original bytes, with Java's sysFlag (COMPRESSED
//! cleared, type bits kept).

use std::time::Duration;

use rocketmq_rs_client::client::{CreateTopicOptions, TopicTarget};
use rocketmq_rs_client::{Message, Producer, PullConsumer, PullStatus};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::protocol::header::QueryMessageRequestHeader;
use rocketmq_rs_remoting::protocol::message::{parse_offset_msg_id, sys_flag, CompressionType};
use rocketmq_rs_remoting::rt::default_runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_type_reads_back_plain_through_mini_broker() {
    let rt = default_runtime().unwrap();
    let cluster = EmbeddedCluster::builder()
        .configure(|cfg| cfg.register_name_server_period_ms = 200)
        .start(rt)
        .await
        .unwrap();
    let ns = cluster.namesrv_addr();
    let addr = cluster.broker("broker-a").unwrap().addr().to_string();
    let topic = "CompressTopic";

    let consumer = PullConsumer::builder()
        .name_server(&ns)
        .group("compress_cg")
        .build()
        .unwrap();
    consumer.start().await.unwrap();

    // Creates the topic and makes the VIEW / QUERY calls.
    let admin = Producer::builder()
        .name_server(&ns)
        .group("compress_admin")
        .build()
        .unwrap();
    admin.start().await.unwrap();
    let opts = {
        let mut c = CreateTopicOptions::default();
        c.read_queue_nums = 1;
        c.write_queue_nums = 1;
        c
    };
    admin
        .client_instance()
        .create_topic(topic, TopicTarget::Broker(addr.clone()), &opts)
        .await
        .unwrap();

    for (i, kind) in CompressionType::ALL
        .into_iter()
        .filter(|k| k.is_available())
        .enumerate()
    {
        let producer = Producer::builder()
            .name_server(&ns)
            .group(format!("compress_pg_{i}"))
            .compress_type(kind)
            .compress_level(3)
            .compress_over(1024)
            .build()
            .unwrap();
        producer.start().await.unwrap();
        let body: Vec<u8> = format!("{kind} body ✓ ").repeat(300).into_bytes();
        let key = format!("key-{kind}");
        let msg = Message::builder(topic)
            .tag(format!("Tag{kind}"))
            .keys([key.clone()])
            .property("名前", "値 ✓ 🚀")
            .body(body.clone())
            .build()
            .unwrap();
        // The broker registers the topic it was asked to create on its own schedule.
        let sent = cluster
            .wait_until(
                &format!("{kind}: a send"),
                Duration::from_secs(10),
                || async { producer.send(msg.clone()).await.map_err(|e| e.to_string()) },
            )
            .await
            .unwrap();
        producer.shutdown().await;

        // Pull with a tag filter: the tag code in the consume queue is unaffected by the
        // compression bits.
        let queues = consumer.fetch_subscribe_queues(topic).await.unwrap();
        let r = consumer
            .pull(
                &queues[0],
                format!("Tag{kind}").as_str(),
                sent.queue_offset,
                32,
            )
            .await
            .unwrap();
        assert_eq!(r.status, PullStatus::Found, "{kind}");
        let got = &r.messages[0];
        assert_eq!(got.body, body, "{kind}: pulled body");
        assert_eq!(
            got.sys_flag & sys_flag::COMPRESSION_TYPE_MASK,
            kind.sys_flag()
        );
        assert!(!got.is_compressed());
        assert_eq!(got.keys().map(|k| k.to_owned()), Some(key.clone()));
        assert_eq!(got.property("名前"), Some("値 ✓ 🚀"));

        // VIEW_MESSAGE_BY_ID with the offset message id.
        let (_, offset) = parse_offset_msg_id(&sent.offset_msg_id).unwrap();
        let viewed = admin
            .client_instance()
            .api()
            .view_message(&addr, offset, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(viewed.body, body, "{kind}: viewed body");

        // QUERY_MESSAGE by key (the index is built in the background).
        let header = QueryMessageRequestHeader {
            topic: topic.into(),
            key: key.clone(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: None,
            bname: None,
        };
        let found = cluster
            .wait_until(
                &format!("{kind}: indexed"),
                Duration::from_secs(10),
                || async {
                    let found = admin
                        .client_instance()
                        .api()
                        .query_message(&addr, &header, Duration::from_secs(5))
                        .await
                        .unwrap();
                    if found.is_empty() {
                        Err("not found by key")
                    } else {
                        Ok(found)
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{kind}: query by key");
        assert_eq!(found[0].body, body, "{kind}: queried body");
    }
    consumer.shutdown().await;
    admin.shutdown().await;
    cluster.shutdown().await;
}
