//! `chaos-consumer`: a consumer in its own process, so the chaos tests can `kill -9` it.
//! Prints `READY` once started, then one line per delivered message:
//! `D <key> <broker> <queueId> <queueOffset> <reconsumeTimes>`, and `Q <n>` whenever the number
//! of TOPIC's queues it owns changes (so tests can wait for a settled assignment).
//!
//! ```text
//! chaos-consumer NAMESRV GROUP TOPIC concurrent|orderly|pop|simple PERSIST_MS [SLEEP_MS]
//! ```
//! `concurrent` / `orderly`: a push consumer pulling owned queues. `pop`: a push consumer in
//! POP mode (`PopMode::Always`, 5 s invisible time). `simple`: a POP `SimpleConsumer` that
//! receives, prints, acks each batch with one BATCH_ACK_MESSAGE and prints `A <key>` for every
//! message of a batch the broker confirmed acked (5 s invisible time). SLEEP_MS (default 0) is
//! spent per message before it counts as consumed. Stops on stdin EOF (clean shutdown) or when
//! killed.

use std::io::Write;
use std::time::Duration;

use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeOrderlyContext, ConsumeResult, OrderlyResult, PopMode,
    PushConsumer, SimpleConsumer,
};
use rocketmq_rs_client::{ClientConfig, MessageExt};

fn print_batch(msgs: &[MessageExt], broker: &str) {
    let mut out = std::io::stdout().lock();
    for m in msgs {
        let _ = writeln!(
            out,
            "D {} {} {} {} {}",
            m.keys().unwrap_or("-"),
            broker,
            m.queue_id,
            m.queue_offset,
            m.reconsume_times
        );
    }
    let _ = out.flush();
}

/// The invisible time of the POP modes (Java's minimum for push consumers).
const POP_INVISIBLE: Duration = Duration::from_secs(5);

/// `simple` mode: receive, print, ack, print the confirmed acks; until stdin closes.
async fn run_simple(client: ClientConfig, group: String, topic: String, sleep_ms: u64) {
    let consumer = SimpleConsumer::builder()
        .client_config(client)
        .group(group)
        .subscribe(topic, "*")
        .consume_from(ConsumeFromWhere::FirstOffset)
        .await_duration(Duration::from_secs(2))
        .build()
        .expect("consumer config");
    consumer.start().await.expect("consumer start");
    println!("READY");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            sink.clear();
        }
        stop2.store(true, std::sync::atomic::Ordering::Release);
    });
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let got = match consumer.receive(32, POP_INVISIBLE).await {
            Ok(got) => got,
            Err(_) => {
                // Broker down or restarting: try again.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if got.is_empty() {
            continue;
        }
        let msgs: Vec<MessageExt> = got.iter().map(|m| m.message.clone()).collect();
        let broker = got[0].receipt.broker_name.clone();
        print_batch(&msgs, &broker);
        if sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(sleep_ms * got.len() as u64)).await;
        }
        if consumer.ack_all(&got).await.is_ok() {
            // Only acks confirmed within the invisible time count: a later ack succeeds but
            // does not stop the redelivery already under way (Apache's semantics).
            let now = rocketmq_rs_remoting::util::now_ms();
            let mut out = std::io::stdout().lock();
            for m in got.iter().filter(|m| now + 200 < m.invisible_until_ms()) {
                let _ = writeln!(out, "A {}", m.message.keys().unwrap_or("-"));
            }
            let _ = out.flush();
        }
    }
    consumer.shutdown().await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: chaos-consumer NAMESRV GROUP TOPIC concurrent|orderly|pop|simple PERSIST_MS [SLEEP_MS]"
        );
        std::process::exit(2);
    }
    let namesrv = args[1].clone();
    let group = args[2].clone();
    let topic = args[3].clone();
    let watched_topic = topic.clone();
    let mode = args[4].clone();
    let orderly = mode == "orderly";
    let persist_ms: u64 = args[5].parse().expect("PERSIST_MS");
    let sleep_ms: u64 = args
        .get(6)
        .map(|s| s.parse().expect("SLEEP_MS"))
        .unwrap_or(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let client = {
            let mut c = ClientConfig::default();
            c.namesrv_addrs = vec![namesrv];
            c.persist_offset_interval = Duration::from_millis(persist_ms);
            c.rebalance_interval = Duration::from_secs(2);
            c.heartbeat_interval = Duration::from_secs(2);
            c.route_refresh_interval = Duration::from_secs(2);
            c
        };
        if mode == "simple" {
            return run_simple(client, group, topic, sleep_ms).await;
        }
        let builder = PushConsumer::builder()
            .client_config(client)
            .group(group)
            .subscribe(topic, "*")
            .consume_from_where(ConsumeFromWhere::FirstOffset);
        let builder = if mode == "pop" {
            builder
                .pop_mode(PopMode::Always)
                .pop_invisible_time(POP_INVISIBLE)
        } else {
            builder
        };
        let builder = if orderly {
            builder.orderly_listener(move |msgs: Vec<MessageExt>, ctx: ConsumeOrderlyContext| {
                print_batch(&msgs, &ctx.queue.broker_name);
                async move {
                    if sleep_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
                    }
                    OrderlyResult::Success
                }
            })
        } else {
            builder.listener(move |msgs: Vec<MessageExt>, ctx: ConsumeContext| {
                print_batch(&msgs, &ctx.queue.broker_name);
                async move {
                    if sleep_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
                    }
                    ConsumeResult::Success
                }
            })
        };
        let consumer = builder.build().expect("consumer config");
        consumer.start().await.expect("consumer start");
        println!("READY");
        let watched = consumer.clone();
        tokio::spawn(async move {
            let mut last = usize::MAX;
            loop {
                let owned = watched
                    .assigned_queues()
                    .iter()
                    .filter(|q| q.topic == watched_topic)
                    .count();
                if owned != last {
                    println!("Q {owned}");
                    last = owned;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        // Stdin EOF = the test asks for a clean shutdown.
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                sink.clear();
            }
        })
        .await;
        let _ = consumer.shutdown().await;
    });
}
