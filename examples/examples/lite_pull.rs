//! Lite pull consumer: `poll()` returns the next messages of the queues rebalance assigned
//! (or that were `assign`ed); offsets are committed automatically, or with `commit_sync`.
//!
//! `cargo run --example lite_pull`

use std::time::{Duration, Instant};

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::consumer::{ConsumeFromWhere, LitePullConsumer};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("LitePullTopic");
    cluster.create_topic(&topic, 2).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt)
        .group("example_lite_pg")
        .build()?;
    producer.start().await?;
    for i in 0..25 {
        producer
            .send(
                Message::builder(topic.as_str())
                    .body(format!("l{i}"))
                    .build()?,
            )
            .await?;
    }

    let consumer = LitePullConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_lite_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .auto_commit(false)
        .build()?;
    consumer.start().await?;

    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while total < 25 && Instant::now() < deadline {
        let msgs = consumer.poll(Duration::from_millis(500)).await?;
        total += msgs.len();
        if !msgs.is_empty() {
            println!("polled {} (total {total})", msgs.len());
            consumer.commit_sync().await?; // manual commit after processing
        }
    }

    consumer.shutdown().await?;
    producer.shutdown().await;
    cluster.shutdown().await;
    if total < 25 {
        return Err(format!("polled {total} of 25").into());
    }
    Ok(())
}
