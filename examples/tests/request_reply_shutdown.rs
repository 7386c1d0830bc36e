//! A requester that shuts down as soon as its reply arrived must still have answered the
//! broker's PUSH_REPLY_MESSAGE_TO_CLIENT. Otherwise the broker sees the connection close
//! before the answer, answers the replier SYSTEM_ERROR ("push reply message to … fail."), and
//! the replier's retries push and store the reply again ("push reply message fail, channel
//! of <…> not found.") — what `cargo run --example request_reply` used to provoke.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::{unique, Cluster};
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::{create_reply, Producer};

const ROUNDS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requester_shutting_down_right_after_its_reply_loses_no_answer() {
    let rt = rocketmq_rs_remoting::rt::default_runtime().expect("a runtime");
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await.unwrap();
    let topic = unique("RequestShutdownTopic");
    cluster.create_topic(&topic, 1).await.unwrap();

    let replier = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group(unique("rr_shutdown_replier_pg"))
        .build()
        .unwrap();
    replier.start().await.unwrap();
    // Every reply send's outcome; a failed push makes it an error (after the retries).
    let outcomes: Arc<Mutex<Vec<Result<(), String>>>> = Arc::default();
    let (answering, seen) = (replier.clone(), Arc::clone(&outcomes));
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("rr_shutdown_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let (replier, seen) = (answering.clone(), Arc::clone(&seen));
            async move {
                for m in msgs {
                    let reply = create_reply(&m, m.body.clone()).expect("a request");
                    let r = replier
                        .send(reply)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string());
                    seen.lock().unwrap().push(r);
                }
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();

    for i in 0..ROUNDS {
        let requester = Producer::builder()
            .name_server(&cluster.namesrv)
            .runtime(rt.clone())
            .group(unique("rr_shutdown_requester_pg"))
            .build()
            .unwrap();
        requester.start().await.unwrap();
        let body = format!("ping-{i}");
        let reply = requester
            .request(
                Message::builder(topic.as_str())
                    .body(body.clone())
                    .build()
                    .unwrap(),
                Duration::from_secs(15),
            )
            .await
            .unwrap();
        assert_eq!(reply.body, body.as_bytes());
        // At once: the race is between this close and the answer to the push.
        requester.shutdown().await;
    }
    // Every reply send has finished (its outcome recorded) before the next round's request
    // could be answered, but the last one may still be retrying: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while outcomes.lock().unwrap().len() < ROUNDS && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    consumer.shutdown().await.unwrap();
    replier.shutdown().await;
    cluster.shutdown().await;
    let outcomes = outcomes.lock().unwrap().clone();
    let failed: Vec<_> = outcomes.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} reply sends failed: {failed:?}",
        failed.len(),
        outcomes.len()
    );
    assert_eq!(outcomes.len(), ROUNDS);
}
