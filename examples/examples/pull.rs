//! Pull consumer: the application picks queues and offsets itself and stores its progress
//! with the broker (`update_consume_offset` + `persist_offsets`).
//!
//! `cargo run --example pull`

use std::time::Duration;

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::consumer::PullConsumer;
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_client::PullStatus;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("PullTopic");
    cluster.create_topic(&topic, 2).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt)
        .group("example_pull_pg")
        .build()?;
    producer.start().await?;
    for i in 0..30 {
        producer
            .send(
                Message::builder(topic.as_str())
                    .body(format!("p{i}"))
                    .build()?,
            )
            .await?;
    }

    let consumer = PullConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_pull_cg"))
        .build()?;
    consumer.start().await?;
    let mut total = 0;
    for mq in consumer.fetch_subscribe_queues(&topic).await? {
        // Resume from the stored offset, or start at the beginning.
        let mut offset = consumer.fetch_consume_offset(&mq).await?.unwrap_or(0);
        loop {
            // Long polling: the broker holds the request up to 1 s when the queue is empty.
            let r = consumer
                .pull_blocking(&mq, "*", offset, 16, Duration::from_secs(1))
                .await?;
            match r.status {
                PullStatus::Found => {
                    total += r.messages.len();
                    offset = r.next_begin_offset;
                }
                PullStatus::NoMatchedMsg | PullStatus::OffsetIllegal => {
                    offset = r.next_begin_offset
                }
                PullStatus::NoNewMsg => break,
            }
        }
        println!("queue {}: read up to offset {offset}", mq.queue_id);
        consumer.update_consume_offset(&mq, offset);
    }
    consumer.persist_offsets().await?;
    println!("pulled {total} messages");

    consumer.shutdown().await;
    producer.shutdown().await;
    cluster.shutdown().await;
    if total != 30 {
        return Err(format!("pulled {total} of 30").into());
    }
    Ok(())
}
