//! Client metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`),
//! named as Apache RocketMQ 5.x clients name theirs, and W3C trace context in a message
//! property.
//!
//! # Metrics
//!
//! [`ClientMetrics`] is a [`SendHook`] and a [`ConsumeHook`]: register it on the producers and
//! consumers to measure. It records into whatever recorder the application installed
//! (`metrics-exporter-prometheus`, an OpenTelemetry bridge, a test recorder, ...); with none
//! installed every record is a no-op. Names and labels follow the 5.x clients
//! (`rocketmq-clients`' `MetricName` / `MetricLabels`); times are in milliseconds:
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `rocketmq_send_cost_time` | histogram | `topic`, `client_id`, `invocation_status` | one send attempt, `success` or `failure` |
//! | `rocketmq_send_messages_total` | counter | `topic`, `client_id`, `invocation_status` | messages per attempt outcome (a batch counts its messages) |
//! | `rocketmq_process_time` | histogram | `topic`, `client_id`, `consumer_group`, `invocation_status` | one listener call of a push consumer |
//! | `rocketmq_consume_messages_total` | counter | `topic`, `client_id`, `consumer_group`, `invocation_status` | messages handed to the application, by outcome |
//! | `rocketmq_delivery_latency` | histogram | `topic`, `client_id`, `consumer_group` | broker store time to the start of consumption, per message |
//! | `rocketmq_await_time` | histogram | `topic`, `client_id`, `consumer_group` | push consumer: pulled to listener call, per batch (recorded by the consumer itself) |
//! | `rocketmq_consumer_cached_messages` | gauge | `topic`, `client_id`, `consumer_group` | push consumer: messages in its process queues, every 10 s |
//! | `rocketmq_consumer_cached_bytes` | gauge | `topic`, `client_id`, `consumer_group` | push consumer: their body bytes, every 10 s |
//!
//! The two `_total` counters are ours (the 5.x clients count through the histograms); the last
//! three the push consumer records with the feature on, whether or not [`ClientMetrics`] is
//! registered, under the client id of its client instance.
//!
//! ```
//! use rocketmq_rs_client::metrics::ClientMetrics;
//! use rocketmq_rs_client::{ClientInstance, ClientConfig, Producer};
//!
//! let instance = ClientInstance::new(ClientConfig::with_name_server("127.0.0.1:9876")).unwrap();
//! let metrics = ClientMetrics::new(instance.client_id());
//! let producer = Producer::builder()
//!     .client_instance(instance)
//!     .group("pg")
//!     .send_hook(metrics.clone())
//!     .build()
//!     .unwrap();
//! # drop(producer);
//! ```
//!
//! # Trace context
//!
//! [`TraceParent`] is a W3C `traceparent` header (version 00) carried in the message property
//! [`TRACEPARENT`]: the producer side sets it from its current span
//! ([`TraceParent::set_on`]), the consumer reads it ([`TraceParent::from_message`]) and links or
//! parents its span to it. The ids come from the application's tracer (OpenTelemetry's
//! `SpanContext`, ...): this crate carries them and never depends on a tracer. The push
//! consumer's per-call `tracing` span (`rocketmq.consume`) records the first message's
//! `traceparent` as a field, which a `tracing-opentelemetry` layer or a log line can use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use metrics::{Counter, Histogram};

use crate::hook::{
    ConsumeHook, ConsumeHookContext, ConsumeHookOutcome, ConsumerKind, SendHook, SendHookContext,
    SendHookOutcome,
};
use crate::message::{Message, MessageExt};

/// The message property carrying a W3C trace context (`traceparent`, as the header is named).
pub const TRACEPARENT: &str = "traceparent";

/// Histogram: one send attempt's duration, ms.
pub const SEND_COST_TIME: &str = "rocketmq_send_cost_time";
/// Counter: messages by send outcome.
pub const SEND_MESSAGES_TOTAL: &str = "rocketmq_send_messages_total";
/// Histogram: one listener call's duration, ms.
pub const PROCESS_TIME: &str = "rocketmq_process_time";
/// Counter: messages consumed, by outcome.
pub const CONSUME_MESSAGES_TOTAL: &str = "rocketmq_consume_messages_total";
/// Histogram: store time to consumption start, ms.
pub const DELIVERY_LATENCY: &str = "rocketmq_delivery_latency";
/// Histogram: pulled to listener call, ms.
pub const AWAIT_TIME: &str = "rocketmq_await_time";
/// Gauge: messages cached by a push consumer.
pub const CONSUMER_CACHED_MESSAGES: &str = "rocketmq_consumer_cached_messages";
/// Gauge: bytes cached by a push consumer.
pub const CONSUMER_CACHED_BYTES: &str = "rocketmq_consumer_cached_bytes";

const SUCCESS: &str = "success";
const FAILURE: &str = "failure";

/// Records producer and consumer metrics through the `metrics` facade: see the module docs.
/// Cheap to clone (an `Arc`); one value may serve every producer and consumer of a client.
///
/// Each label set is registered with the recorder once, at its first use, and its handles are
/// kept: per message only a map lookup and the handle's update remain. Install the recorder
/// before the first send or consumption (as an application does at start-up): label sets
/// registered while none was installed stay no-ops.
#[derive(Debug, Clone)]
pub struct ClientMetrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client_id: String,
    /// topic → handles by outcome (index 0 success, 1 failure).
    send: RwLock<HashMap<String, [Option<SendHandles>; 2]>>,
    /// topic → group → handles.
    consume: RwLock<HashMap<String, HashMap<String, ConsumeHandles>>>,
}

#[derive(Debug, Clone)]
struct SendHandles {
    cost: Histogram,
    total: Counter,
}

#[derive(Debug, Clone)]
struct ConsumeHandles {
    delivery: Histogram,
    /// By outcome (index 0 success, 1 failure): process time and messages.
    process: [Histogram; 2],
    total: [Counter; 2],
}

impl ClientMetrics {
    /// Metrics labelled `client_id = client_id` (usually [`ClientInstance::client_id`]).
    ///
    /// [`ClientInstance::client_id`]: crate::ClientInstance::client_id
    pub fn new(client_id: impl AsRef<str>) -> Self {
        ClientMetrics {
            inner: Arc::new(Inner {
                client_id: client_id.as_ref().to_owned(),
                send: RwLock::default(),
                consume: RwLock::default(),
            }),
        }
    }

    /// The `client_id` label.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    fn send_handles(&self, topic: &str, ok: bool) -> SendHandles {
        let i = usize::from(!ok);
        if let Some(h) = self
            .inner
            .send
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .and_then(|e| e[i].clone())
        {
            return h;
        }
        let labels = [
            ("topic", topic.to_owned()),
            ("client_id", self.inner.client_id.clone()),
            ("invocation_status", status(ok).to_owned()),
        ];
        let h = SendHandles {
            cost: metrics::histogram!(SEND_COST_TIME, &labels),
            total: metrics::counter!(SEND_MESSAGES_TOTAL, &labels),
        };
        self.inner
            .send
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(topic.to_owned())
            .or_default()[i] = Some(h.clone());
        h
    }

    fn consume_handles(&self, topic: &str, group: &str) -> ConsumeHandles {
        if let Some(h) = self
            .inner
            .consume
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .and_then(|g| g.get(group))
        {
            return h.clone();
        }
        let base = [
            ("topic", topic.to_owned()),
            ("client_id", self.inner.client_id.clone()),
            ("consumer_group", group.to_owned()),
        ];
        let with_status = |ok: bool| {
            let mut l = base.to_vec();
            l.push(("invocation_status", status(ok).to_owned()));
            l
        };
        let (ok, failed) = (with_status(true), with_status(false));
        let h = ConsumeHandles {
            delivery: metrics::histogram!(DELIVERY_LATENCY, &base),
            process: [
                metrics::histogram!(PROCESS_TIME, &ok),
                metrics::histogram!(PROCESS_TIME, &failed),
            ],
            total: [
                metrics::counter!(CONSUME_MESSAGES_TOTAL, &ok),
                metrics::counter!(CONSUME_MESSAGES_TOTAL, &failed),
            ],
        };
        self.inner
            .consume
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(topic.to_owned())
            .or_default()
            .insert(group.to_owned(), h.clone());
        h
    }
}

fn status(ok: bool) -> &'static str {
    if ok {
        SUCCESS
    } else {
        FAILURE
    }
}

impl SendHook for ClientMetrics {
    fn after_send(&self, ctx: &SendHookContext<'_>, outcome: &SendHookOutcome<'_>) {
        let h = self.send_handles(ctx.topic, outcome.result.is_ok());
        h.cost.record(outcome.elapsed.as_secs_f64() * 1000.0);
        let n = if ctx.batch {
            ctx.msg_id.split(',').count()
        } else {
            1
        };
        h.total.increment(n as u64);
    }
}

impl ConsumeHook for ClientMetrics {
    fn before_consume(&self, ctx: &ConsumeHookContext<'_>) {
        let h = self.consume_handles(&ctx.queue.topic, ctx.group);
        let now = ctx.begin_timestamp_ms;
        for m in ctx.msgs {
            if m.store_timestamp > 0 {
                h.delivery.record((now - m.store_timestamp).max(0) as f64);
            }
        }
    }

    fn after_consume(&self, ctx: &ConsumeHookContext<'_>, outcome: &ConsumeHookOutcome) {
        let h = self.consume_handles(&ctx.queue.topic, ctx.group);
        let i = usize::from(!outcome.success);
        // Pull consumers hand batches over and return: no processing time to report.
        if ctx.consumer == ConsumerKind::Push {
            h.process[i].record(outcome.elapsed.as_secs_f64() * 1000.0);
        }
        h.total[i].increment(ctx.msgs.len() as u64);
    }
}

/// The push consumer's own records (await time, cache gauges).
pub(crate) fn record_await(topic: &str, client_id: &str, group: &str, ms: f64) {
    metrics::histogram!(
        AWAIT_TIME,
        "topic" => topic.to_owned(),
        "client_id" => client_id.to_owned(),
        "consumer_group" => group.to_owned()
    )
    .record(ms);
}

pub(crate) fn record_cache(topic: &str, client_id: &str, group: &str, msgs: u64, bytes: u64) {
    let labels = [
        ("topic", topic.to_owned()),
        ("client_id", client_id.to_owned()),
        ("consumer_group", group.to_owned()),
    ];
    metrics::gauge!(CONSUMER_CACHED_MESSAGES, &labels).set(msgs as f64);
    metrics::gauge!(CONSUMER_CACHED_BYTES, &labels).set(bytes as f64);
}

/// A W3C trace context (`traceparent` version 00: `00-<trace id>-<parent id>-<flags>`).
///
/// ```
/// use rocketmq_rs_client::metrics::TraceParent;
/// use rocketmq_rs_client::Message;
///
/// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(tp.sampled());
/// let mut m = Message::new("T", "body");
/// tp.set_on(&mut m);
/// assert_eq!(TraceParent::from_properties(m.property("traceparent")), Some(tp));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (not all zero).
    pub trace_id: u128,
    /// The id of the span the message was sent in (not zero).
    pub parent_id: u64,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// `None` for a zero trace or span id, which the format forbids.
    pub fn new(trace_id: u128, parent_id: u64, flags: u8) -> Option<Self> {
        (trace_id != 0 && parent_id != 0).then_some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Parses a `traceparent` value; `None` when it is not a valid version-00 value (a later
    /// version's longer value is read by its first four fields, as the spec asks).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let mut it = s.split('-');
        let (ver, trace, parent, flags) = (it.next()?, it.next()?, it.next()?, it.next()?);
        let hex = |f: &str, n: usize| {
            f.len() == n
                && f.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(ver, 2) || ver == "ff" || !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) {
            return None;
        }
        if ver == "00" && it.next().is_some() {
            return None;
        }
        TraceParent::new(
            u128::from_str_radix(trace, 16).ok()?,
            u64::from_str_radix(parent, 16).ok()?,
            u8::from_str_radix(flags, 16).ok()?,
        )
    }

    /// [`parse`](Self::parse) of an optional property value.
    pub fn from_properties(value: Option<&str>) -> Option<Self> {
        value.and_then(Self::parse)
    }

    /// The context a received message carries, if any.
    pub fn from_message(m: &MessageExt) -> Option<Self> {
        Self::from_properties(m.property(TRACEPARENT))
    }

    /// Whether the sender sampled the trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Puts this context into `m`'s [`TRACEPARENT`] property.
    pub fn set_on(&self, m: &mut Message) {
        m.properties.insert(TRACEPARENT, self.to_string());
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_registered_once_per_label_set() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snap = recorder.snapshotter();
        let m = ClientMetrics::new("cid");
        metrics::with_local_recorder(&recorder, || {
            for ok in [true, true, false] {
                m.send_handles("T", ok).total.increment(2);
            }
            m.send_handles("U", true).total.increment(1);
        });
        let mut seen: Vec<(String, String, u64)> = snap
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(k, _, _, v)| {
                let (_, key) = k.into_parts();
                let topic = key
                    .labels()
                    .find(|l| l.key() == "topic")?
                    .value()
                    .to_owned();
                let st = key
                    .labels()
                    .find(|l| l.key() == "invocation_status")?
                    .value()
                    .to_owned();
                match v {
                    metrics_util::debugging::DebugValue::Counter(n) => Some((topic, st, n)),
                    _ => None,
                }
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("T".into(), "failure".into(), 2),
                ("T".into(), "success".into(), 4),
                ("U".into(), "success".into(), 1),
            ]
        );
        assert_eq!(m.client_id(), "cid");
    }

    #[test]
    fn traceparent_round_trips_and_rejects_bad_values() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(s).unwrap();
        assert_eq!(tp.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(tp.parent_id, 0x00f067aa0ba902b7);
        assert_eq!(tp.to_string(), s);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may add fields.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|t| !t.sampled())
        );
    }
}
