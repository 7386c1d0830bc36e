//! Lite pull and classic pull consumer logic against the in-memory broker (the real-broker tests
//! live in `tests/`).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::rt::TokioRuntime;

use crate::config::ClientConfig;
use crate::consumer::fake_backend::{tokio_rt, Fake};
use crate::message_queue::MessageQueue;

#[test]
fn lite_pull_assign_seek_and_manual_commit() {
    use crate::consumer::LitePullConsumer;
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(1, 30, |_| "A");
        *fake.rt.lock().unwrap() = Some(Arc::new(TokioRuntime::try_current().unwrap()));
        let c = LitePullConsumer::builder()
            .client_config(ClientConfig::with_name_server("127.0.0.1:9876"))
            .group("lite")
            .auto_commit(false)
            .consume_from_where(crate::consumer::ConsumeFromWhere::FirstOffset)
            .backend(fake.clone())
            .build()
            .unwrap();
        c.start().await.unwrap();
        let mq = MessageQueue::new("T", "b", 0);
        c.assign(vec![mq.clone()]).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 30 {
            let batch = c.poll(Duration::from_secs(5)).await.unwrap();
            assert!(
                !batch.is_empty(),
                "poll timed out after {} messages",
                got.len()
            );
            got.extend(batch.into_iter().map(|m| m.queue_offset));
        }
        assert_eq!(got, (0..30).collect::<Vec<i64>>());
        assert_eq!(
            fake.committed(0),
            None,
            "manual commit: nothing committed yet"
        );
        c.commit_sync().await.unwrap();
        assert_eq!(fake.committed(0), Some(30));
        // Seek backwards: the one way an offset moves back.
        c.seek(&mq, 25).await.unwrap();
        let mut again = Vec::new();
        while again.len() < 5 {
            again.extend(
                c.poll(Duration::from_secs(5))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| m.queue_offset),
            );
        }
        assert_eq!(again, [25, 26, 27, 28, 29]);
        c.pause(std::slice::from_ref(&mq));
        c.resume(std::slice::from_ref(&mq));
        c.commit_sync().await.unwrap();
        assert_eq!(fake.committed(0), Some(30));
        assert!(c.seek(&MessageQueue::new("T", "b", 9), 0).await.is_err());
        c.shutdown().await.unwrap();
    });
}

/// The same for the lite pull consumer, started without any subscription.
#[test]
fn lite_subscribe_and_unsubscribe_after_start() {
    use crate::consumer::LitePullConsumer;
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(2, 6, |_| "A");
        *fake.rt.lock().unwrap() = Some(Arc::new(TokioRuntime::try_current().unwrap()));
        let mut client = ClientConfig::with_name_server("127.0.0.1:9876");
        client.rebalance_interval = Duration::from_secs(60);
        let c = LitePullConsumer::builder()
            .client_config(client)
            .group("lite")
            .consume_from_where(crate::consumer::ConsumeFromWhere::FirstOffset)
            .backend(fake.clone())
            .build()
            .unwrap();
        c.start().await.unwrap();
        assert!(c.assignment().is_empty());
        let beats = fake.heartbeats.load(Ordering::SeqCst);
        c.subscribe("T", "*").await.unwrap();
        assert_eq!(fake.subscribed(), ["T"]);
        assert!(fake.heartbeats.load(Ordering::SeqCst) > beats);
        let mut got = HashSet::new();
        let start = std::time::Instant::now();
        while got.len() < 12 {
            assert!(start.elapsed() < Duration::from_secs(5), "got {got:?}");
            for m in c.poll(Duration::from_millis(200)).await.unwrap() {
                got.insert((m.queue_id, m.queue_offset));
            }
        }
        assert_eq!(c.assignment().len(), 2);

        c.unsubscribe("T").await.unwrap();
        assert!(c.assignment().is_empty(), "queues handed over");
        assert!(fake.subscribed().is_empty());
        assert_eq!(fake.committed(0), Some(6), "consume position committed");
        assert_eq!(fake.committed(1), Some(6));
        c.shutdown().await.unwrap();
    });
}

/// GET_CONSUMER_RUNNING_INFO answered by the pull consumers (Java fills the consumer type,
/// settings, subscriptions and per-queue state for both).
#[test]
fn pull_consumers_answer_running_info() {
    use crate::consumer::{LitePullConsumer, PullConsumer};
    tokio_rt().block_on(async {
        let fake = Fake::with_queues(2, 6, |_| "A");
        *fake.rt.lock().unwrap() = Some(Arc::new(TokioRuntime::try_current().unwrap()));
        let c = LitePullConsumer::builder()
            .client_config(ClientConfig::with_name_server("127.0.0.1:9876"))
            .group("lite")
            .subscribe("T", "A || B")
            .consume_from_where(crate::consumer::ConsumeFromWhere::FirstOffset)
            .backend(fake.clone())
            .build()
            .unwrap();
        c.start().await.unwrap();
        let mut n = 0;
        let start = std::time::Instant::now();
        while n < 12 {
            assert!(start.elapsed() < Duration::from_secs(5));
            n += c.poll(Duration::from_millis(200)).await.unwrap().len();
        }
        let events = fake.events.lock().unwrap().clone().unwrap();
        let info = events.running_info().expect("lite consumers answer");
        assert_eq!(info.properties["PROP_CONSUME_TYPE"], "CONSUME_ACTIVELY");
        assert_eq!(info.properties["messageModel"], "CLUSTERING");
        assert_eq!(info.properties["autoCommit"], "true");
        assert!(
            info.properties["PROP_CONSUMER_START_TIMESTAMP"]
                .parse::<i64>()
                .unwrap()
                > 0
        );
        assert_eq!(info.subscription_set.len(), 1);
        assert_eq!(info.subscription_set[0].topic, "T");
        assert_eq!(info.subscription_set[0].sub_string, "A || B");
        assert_eq!(info.mq_table.len(), 2);
        for (mq, pq) in &info.mq_table {
            assert_eq!(mq.topic, "T");
            assert_eq!(pq.commit_offset, 6, "consume position of {mq:?}");
            assert_eq!(pq.cached_msg_count, 0);
            assert!(!pq.dropped);
            assert!(pq.last_pull_timestamp > 0);
        }
        // The JSON the broker relays to admin tools.
        use rocketmq_rs_remoting::protocol::body::JsonBody;
        let back =
            rocketmq_rs_remoting::protocol::body::ConsumerRunningInfo::from_json(&info.to_json())
                .unwrap();
        assert_eq!(back, info);
        c.shutdown().await.unwrap();

        let fake = Fake::with_queues(1, 3, |_| "A");
        *fake.rt.lock().unwrap() = Some(Arc::new(TokioRuntime::try_current().unwrap()));
        let p = PullConsumer::builder()
            .client_config(ClientConfig::with_name_server("127.0.0.1:9876"))
            .group("classic")
            .backend(fake.clone())
            .build()
            .unwrap();
        p.start().await.unwrap();
        p.update_consume_offset(&MessageQueue::new("T", "b", 0), 2);
        let events = fake.events.lock().unwrap().clone().unwrap();
        let info = events.running_info().expect("pull consumers answer");
        assert_eq!(info.properties["PROP_CONSUME_TYPE"], "CONSUME_ACTIVELY");
        assert_eq!(info.properties["consumerGroup"], "classic");
        let (mq, pq) = info.mq_table.iter().next().unwrap();
        assert_eq!((mq.topic.as_str(), mq.queue_id), ("T", 0));
        assert_eq!(pq.commit_offset, 2);
        p.shutdown().await;
    });
}
