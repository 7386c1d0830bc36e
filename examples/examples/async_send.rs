//! Asynchronous send: `send_async` returns a future at once, so many sends can be in flight;
//! `send_with_callback` runs a closure with the result instead.
//!
//! `cargo run --example async_send`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("AsyncTopic");
    cluster.create_topic(&topic, 4).await?;

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_async_pg")
        .build()?;
    producer.start().await?;

    // 1. Futures: start 20 sends, then await them all.
    let pending: Vec<_> = (0..20)
        .map(|i| {
            Message::builder(topic.as_str())
                .body(format!("async {i}"))
                .build()
                .map(|m| producer.send_async(m))
        })
        .collect::<Result<_, _>>()?;
    let results = futures::future::join_all(pending).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!("send_async: {ok}/20 stored");

    // 2. Callbacks: the closure runs on a runtime task once the broker answered.
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..5 {
        let done = Arc::clone(&done);
        producer.send_with_callback(
            Message::builder(topic.as_str())
                .body(format!("callback {i}"))
                .build()?,
            move |r| {
                match r {
                    Ok(r) => println!("callback: stored at offset {}", r.queue_offset),
                    Err(e) => eprintln!("callback: failed: {e}"),
                }
                done.fetch_add(1, Ordering::Relaxed);
            },
        )?;
    }
    let all = wait_until(&*rt, Duration::from_secs(10), || {
        done.load(Ordering::Relaxed) == 5
    })
    .await;

    producer.shutdown().await;
    cluster.shutdown().await;
    if ok != 20 || !all {
        return Err("some asynchronous sends failed".into());
    }
    Ok(())
}
