//! Client metrics and trace context (feature `metrics`): a producer and a push consumer with
//! [`ClientMetrics`] hooks record Apache RocketMQ 5.x client metrics through the `metrics`
//! facade; each message carries a W3C `traceparent` the consumer reads back. An in-memory
//! recorder (metrics-util's debugging recorder) stands in for a real exporter; the program
//! prints what was recorded and checks the counts.
//!
//! `cargo run --example client_metrics`
//!
//! In an application, install an exporter instead (for example
//! `metrics_exporter_prometheus::PrometheusBuilder::new().install()`); nothing else changes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::{unique, wait_until, BoxError, Cluster};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::metrics::{ClientMetrics, TraceParent};
use rocketmq_rs_client::producer::Producer;

const N: usize = 20;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install()?;

    let rt = rocketmq_rs_remoting::rt::default_runtime().ok_or("no runtime")?;
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let topic = unique("MetricsTopic");
    cluster.create_topic(&topic, 4).await?;
    // One label value for both clients here; an application would use its client instance's id.
    let metrics = ClientMetrics::new("example-client");

    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt.clone())
        .group("example_metrics_pg")
        .send_hook(metrics.clone())
        .build()?;
    producer.start().await?;
    for i in 0..N {
        let mut m = Message::new(topic.as_str(), format!("msg {i}"));
        // In an application: the ids of the current span (OpenTelemetry's SpanContext).
        let tp = TraceParent::new(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736, i as u64 + 1, 1)
            .ok_or("zero id")?;
        tp.set_on(&mut m);
        producer.send(m).await?;
    }

    let consumed = Arc::new(AtomicUsize::new(0));
    let traced = Arc::new(AtomicUsize::new(0));
    let (c, t) = (Arc::clone(&consumed), Arc::clone(&traced));
    let consumer = PushConsumer::builder()
        .client_config(cluster.client_config())
        .group(unique("example_metrics_cg"))
        .subscribe(topic.as_str(), "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .consume_hook(metrics.clone())
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let (c, t) = (Arc::clone(&c), Arc::clone(&t));
            async move {
                for m in &msgs {
                    // The consumer side links its span to the producer's through this.
                    if TraceParent::from_message(m).is_some() {
                        t.fetch_add(1, Ordering::Relaxed);
                    }
                }
                c.fetch_add(msgs.len(), Ordering::Relaxed);
                ConsumeResult::Success
            }
        })
        .build()?;
    consumer.start().await?;
    let all = wait_until(&*rt, Duration::from_secs(40), || {
        consumed.load(Ordering::Relaxed) >= N
    })
    .await;
    consumer.shutdown().await?;
    producer.shutdown().await;
    cluster.shutdown().await;
    if !all {
        return Err(format!("consumed {} of {N}", consumed.load(Ordering::Relaxed)).into());
    }

    let mut sent_ok = 0;
    let mut consumed_ok = 0;
    let mut send_latencies = 0;
    println!("metrics recorded:");
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let shown = match &value {
            DebugValue::Counter(n) => n.to_string(),
            DebugValue::Gauge(g) => g.to_string(),
            DebugValue::Histogram(v) => format!("{} samples", v.len()),
        };
        println!("  {}{{{}}} {shown}", key.name(), labels.join(","));
        let success = key
            .labels()
            .any(|l| l.key() == "invocation_status" && l.value() == "success");
        match (key.name(), value) {
            ("rocketmq_send_messages_total", DebugValue::Counter(n)) if success => sent_ok += n,
            ("rocketmq_consume_messages_total", DebugValue::Counter(n)) if success => {
                consumed_ok += n
            }
            ("rocketmq_send_cost_time", DebugValue::Histogram(v)) if success => {
                send_latencies += v.len()
            }
            _ => {}
        }
    }
    println!(
        "sent {sent_ok}, consumed {consumed_ok}, {} with a traceparent",
        traced.load(Ordering::Relaxed)
    );
    if sent_ok != N as u64 || consumed_ok != N as u64 || send_latencies != N {
        return Err(format!(
            "expected {N} sends, consumes and send latencies; got {sent_ok}, {consumed_ok}, {send_latencies}"
        )
        .into());
    }
    if traced.load(Ordering::Relaxed) != N {
        return Err("a consumed message lost its traceparent".into());
    }
    Ok(())
}
