//! Batch send: several messages of one topic in one request (stored as separate messages).
//! Batches must stay under the broker's size limit; `split_batch` cuts a large list.
//!
//! `cargo run --example batch`

use examples::{unique, BoxError, Cluster};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::batch::split_batch;
use rocketmq_rs_client::producer::Producer;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("BatchTopic");
    cluster.create_topic(&topic, 2).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt)
        .group("example_batch_pg")
        .build()?;
    producer.start().await?;

    let msgs = (0..100)
        .map(|i| {
            Message::builder(topic.as_str())
                .tag("batch")
                .body(format!("item {i}"))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Pieces of at most 1 KiB, to show the splitting (the real limit is 4 MiB).
    let mut stored = 0;
    for piece in split_batch(msgs, 1024)? {
        let n = piece.len();
        let r = producer.send_batch(piece).await?;
        println!(
            "batch of {n}: {:?}, queue {} first offset {}",
            r.status, r.message_queue.queue_id, r.queue_offset
        );
        stored += n;
    }
    println!("{stored} messages in batches");

    producer.shutdown().await;
    cluster.shutdown().await;
    if stored != 100 {
        return Err("not every message was sent".into());
    }
    Ok(())
}
