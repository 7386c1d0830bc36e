//! Message trace and hooks: a producer and a push consumer with trace on (Apache's format, to
//! `RMQ_SYS_TRACE_TOPIC`), plus a hook of our own that prints each send's latency. After both
//! shut down (which flushes the trace), the trace topic is read back and decoded: one Pub, one
//! SubBefore and one SubAfter record per message, what `mqadmin queryMsgTraceById` shows.
//!
//! `cargo run --example trace`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, PullConsumer, PushConsumer,
};
use rocketmq_rs_client::hook::{SendHook, SendHookContext, SendHookOutcome};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_client::trace::{decode_trace_data, TraceConfig, TraceType, RMQ_SYS_TRACE_TOPIC};

const MESSAGES: usize = 3;

/// A hook of our own: the latency of every send attempt.
struct Latency;

impl SendHook for Latency {
    fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        let status = match outcome.result {
            Ok(Some(r)) => format!("{:?}", r.status),
            Ok(None) => "oneway".into(),
            Err(e) => format!("failed: {e}"),
        };
        println!(
            "send {} to {} (queue {}): {status} in {:?}",
            ctx.msg_id, ctx.broker_addr, ctx.queue_id, outcome.elapsed
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("TraceExample");
    cluster.create_topic(&topic, 2).await?;
    // A broker started with traceTopicEnable (Apache) / trace_topic_enable (mini-broker) has
    // the trace topic already; creating it again changes nothing.
    cluster.create_topic(RMQ_SYS_TRACE_TOPIC, 1).await?;

    let producer_group = unique("trace_example_pg");
    let producer = Producer::builder()
        .name_servers([cluster.namesrv.clone()])
        .runtime(rt.clone())
        .group(producer_group.as_str())
        .send_hook(Latency)
        .enable_trace(TraceConfig::default())
        .build()?;
    producer.start().await?;

    let consumer_group = unique("trace_example_cg");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(consumer_group.as_str())
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .enable_trace(TraceConfig::default())
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(msgs.len() as u64, Ordering::Relaxed);
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;

    let mut ids = Vec::new();
    for i in 0..MESSAGES {
        let msg = Message::builder(topic.as_str())
            .tag("TagA")
            .keys([format!("order-{i}")])
            .body(format!("traced message {i}"))
            .build()?;
        ids.push(producer.send(msg).await?.msg_id);
    }
    if !wait_until(&*rt, Duration::from_secs(30), || {
        received.load(Ordering::Relaxed) as usize >= MESSAGES
    })
    .await
    {
        return Err("not every message was consumed within 30 s".into());
    }
    // Shutting down sends the trace records still queued.
    consumer.shutdown().await?;
    producer.shutdown().await;
    println!("producer trace: {:?}", producer.trace_stats());

    // Read the trace topic back, as mqadmin queryMsgTraceById or the dashboard would.
    let reader = PullConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("trace_example_reader"))
        .build()?;
    reader.start().await?;
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        records.clear();
        for mq in reader.fetch_subscribe_queues(RMQ_SYS_TRACE_TOPIC).await? {
            let mut offset = 0;
            loop {
                let r = reader.pull(&mq, "*", offset, 32).await?;
                if r.messages.is_empty() {
                    break;
                }
                for m in &r.messages {
                    records.extend(decode_trace_data(std::str::from_utf8(&m.body)?)?);
                }
                offset = r.next_begin_offset;
            }
        }
        let complete = ids.iter().all(|id| {
            [TraceType::Pub, TraceType::SubBefore, TraceType::SubAfter]
                .iter()
                .all(|t| {
                    records
                        .iter()
                        .any(|r| r.trace_type == *t && r.bean.msg_id == *id)
                })
        });
        if complete {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("trace incomplete: {records:#?}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for r in records.iter().filter(|r| ids.contains(&r.bean.msg_id)) {
        println!(
            "{:<10} {:<28} {} cost {} ms, success {}",
            r.trace_type.as_str(),
            r.group_name,
            r.bean.msg_id,
            r.cost_time,
            r.success
        );
    }
    reader.shutdown().await;
    cluster.shutdown().await;
    Ok(())
}
