//! Asynchronous send: `send_async` returns a future at once, so many sends can be in flight;
//! `send_with_callback` runs a closure with the result instead. With back-pressure on,
//! `submit_async` waits while too many sends are in flight, so a fast loop cannot pile up
//! pending sends in memory.
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

    // 3. Back-pressure (Java enableBackpressureForAsyncMode): at most 8 sends and 1 MiB of
    //    bodies in flight; each `submit_async(..).await` waits for room, then returns the
    //    send's future.
    let bounded = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_async_bp_pg")
        .async_back_pressure(8, 1024 * 1024)
        .build()?;
    bounded.start().await?;
    let mut pending = Vec::new();
    for i in 0..100 {
        let msg = Message::builder(topic.as_str())
            .body(format!("bounded {i}"))
            .build()?;
        pending.push(bounded.submit_async(msg).await);
    }
    let bounded_ok = futures::future::join_all(pending)
        .await
        .iter()
        .filter(|r| r.is_ok())
        .count();
    println!(
        "submit_async with back-pressure: {bounded_ok}/100 stored, never more than 8 in flight"
    );
    bounded.shutdown().await;

    cluster.shutdown().await;
    if ok != 20 || !all || bounded_ok != 100 {
        return Err("some asynchronous sends failed".into());
    }
    Ok(())
}
