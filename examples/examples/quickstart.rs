//! The demo: `cargo run --release --example quickstart`.
//!
//! Starts a NameServer and a broker in this process (temporary store), creates a topic,
//! runs a push consumer and a producer, shows a live progress line, and exits 0 when every
//! message came back. With `NAMESRV_ADDR` set it uses that cluster instead.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;

const MESSAGES: u64 = 1000;

fn step(text: &str) {
    print!("▶ {text} ... ");
    let _ = std::io::stdout().flush();
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;

    step("starting NameServer + broker");
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    match cluster.embedded() {
        Some(e) => println!(
            "ok (in-process: namesrv {}, broker {}, store {})",
            cluster.namesrv,
            e.brokers()[0].addr(),
            e.store_root().display()
        ),
        None => println!("using NAMESRV_ADDR={}", cluster.namesrv),
    }

    let topic = unique("QuickstartTopic");
    step(&format!("creating topic {topic} with 4 queues"));
    cluster.create_topic(&topic, 4).await?;
    println!("ok");

    step("starting push consumer (group quickstart_cg)");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("quickstart_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(msgs.len() as u64, Ordering::Relaxed);
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;
    println!("ok");

    step("starting producer (group quickstart_pg)");
    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("quickstart_pg")
        .build()?;
    producer.start().await?;
    println!("ok");

    println!("▶ sending {MESSAGES} messages, receiving them with the consumer:");
    let first = producer
        .send(
            Message::builder(topic.as_str())
                .tag("demo")
                .body("hello #0")
                .build()?,
        )
        .await?;
    println!(
        "  first send: {:?}, msgId {}, queue {}:{} offset {}",
        first.status,
        first.msg_id,
        first.message_queue.broker_name,
        first.message_queue.queue_id,
        first.queue_offset
    );
    let mut sent = 1u64;
    let tty = std::io::stdout().is_terminal();
    let send_started = Instant::now();
    let mut last_draw = Instant::now();
    let draw = |sent: u64, done: bool| {
        let line = format!(
            "  sent {sent:>5}/{MESSAGES}   received {:>5}/{MESSAGES}",
            received.load(Ordering::Relaxed)
        );
        if tty {
            print!("\r{line}");
            if done {
                println!();
            }
        } else if done {
            println!("{line}");
        }
        let _ = std::io::stdout().flush();
    };
    // Ten sends in flight at a time: async sends are awaited in small groups.
    while sent < MESSAGES {
        let batch: Vec<_> = (sent..(sent + 10).min(MESSAGES))
            .map(|i| {
                let msg = Message::builder(topic.as_str())
                    .tag("demo")
                    .keys([format!("key-{i}")])
                    .body(format!("hello #{i}"))
                    .build();
                msg.map(|m| producer.send_async(m))
            })
            .collect::<Result<_, _>>()?;
        for r in futures::future::join_all(batch).await {
            r?;
            sent += 1;
        }
        if last_draw.elapsed() > Duration::from_millis(100) {
            draw(sent, false);
            last_draw = Instant::now();
        }
    }
    let send_time = send_started.elapsed();
    let all_back = wait_until(&*rt, Duration::from_secs(30), || {
        if last_draw.elapsed() > Duration::from_millis(100) {
            draw(sent, false);
            last_draw = Instant::now();
        }
        received.load(Ordering::Relaxed) >= MESSAGES
    })
    .await;
    draw(sent, true);

    step("shutting down");
    producer.shutdown().await;
    consumer.shutdown().await?;
    cluster.shutdown().await;
    println!("ok");

    let got = received.load(Ordering::Relaxed);
    println!(
        "✔ sent {sent} (in {:.2}s), received {got}, total {:.2}s",
        send_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if !all_back {
        return Err(format!("only {got} of {MESSAGES} messages came back within 30 s").into());
    }
    Ok(())
}
