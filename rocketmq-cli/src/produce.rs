//! `send` and `bench produce`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use serde_json::json;

use crate::admin::{Ctx, Report};
use crate::error::{CliError, Result};
use crate::stats::{BenchReport, Histogram, Progress, Stats};

/// How messages are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SendMode {
    /// Await each send's result.
    Sync,
    /// Keep several sends in flight per worker ([`Producer::send_async`]).
    Async,
    /// Fire and forget ([`Producer::send_oneway`]); no result, no latency.
    Oneway,
}

/// What to put in the messages.
#[derive(Debug, Clone, Default)]
pub struct MessageSpec {
    /// Topic.
    pub topic: String,
    /// Tag.
    pub tag: Option<String>,
    /// Keys (space-separated in the KEYS property).
    pub keys: Vec<String>,
    /// User properties.
    pub props: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl MessageSpec {
    /// Builds one message.
    pub fn build(&self) -> Result<Message> {
        let mut b = Message::builder(self.topic.clone()).body(self.body.clone());
        if let Some(t) = &self.tag {
            b = b.tag(t.clone());
        }
        if !self.keys.is_empty() {
            b = b.keys(self.keys.iter().cloned());
        }
        for (k, v) in &self.props {
            b = b.property(k, v.clone());
        }
        b.build().map_err(|e| CliError::Usage(e.to_string()))
    }
}

/// Parses `k=v`.
///
/// ```
/// assert_eq!(rocketmq_rs_cli::produce::parse_prop("a=b=c").unwrap(), ("a".to_string(), "b=c".to_string()));
/// assert!(rocketmq_rs_cli::produce::parse_prop("novalue").is_err());
/// ```
pub fn parse_prop(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// A body of `n` printable bytes.
pub fn filler_body(n: usize) -> Bytes {
    const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    Bytes::from(PATTERN.iter().copied().cycle().take(n).collect::<Vec<u8>>())
}

/// Builds and starts a producer sharing the context's client instance.
pub async fn start_producer(ctx: &Ctx, group: &str) -> Result<Producer> {
    let producer = Producer::builder()
        .client_instance(ctx.instance().clone())
        .group(group)
        .send_timeout(ctx.timeout())
        .build()?;
    producer.start().await?;
    Ok(producer)
}

/// `send`: sends `count` copies of the message synchronously and reports each result.
pub async fn send(ctx: &Ctx, spec: &MessageSpec, count: u64, group: &str) -> Result<Report> {
    let producer = start_producer(ctx, group).await?;
    let mut text = String::new();
    let mut results = Vec::new();
    let mut failed = 0u64;
    let mut first_err = None;
    for _ in 0..count {
        match producer.send(spec.build()?).await {
            Ok(r) => {
                text.push_str(&format!(
                    "{:?} msgId={} offsetMsgId={} queue={}:{} offset={}\n",
                    r.status,
                    r.msg_id,
                    r.offset_msg_id,
                    r.message_queue.broker_name,
                    r.message_queue.queue_id,
                    r.queue_offset
                ));
                results.push(json!({
                    "status": format!("{:?}", r.status),
                    "msgId": r.msg_id,
                    "offsetMsgId": r.offset_msg_id,
                    "brokerName": r.message_queue.broker_name,
                    "queueId": r.message_queue.queue_id,
                    "queueOffset": r.queue_offset,
                }));
            }
            Err(e) => {
                failed += 1;
                text.push_str(&format!("FAILED: {e}\n"));
                results.push(json!({"error": e.to_string()}));
                first_err.get_or_insert(e);
            }
        }
    }
    producer.shutdown().await;
    if let Some(e) = first_err {
        if failed == count {
            return Err(e.into());
        }
        return Err(CliError::Failed(format!(
            "{text}{failed} of {count} sends failed"
        )));
    }
    Ok(Report {
        text,
        json: json!(results),
    })
}

/// Settings of `bench produce`.
#[derive(Debug, Clone)]
pub struct ProduceBench {
    /// Message template (the body is shared, not copied).
    pub spec: MessageSpec,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Sends in flight per worker in async mode.
    pub inflight: usize,
    /// Send mode.
    pub mode: SendMode,
    /// Stop after this many messages (with `duration`, whichever comes first).
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Producer group.
    pub group: String,
    /// Show the live progress line.
    pub progress: bool,
}

/// `bench produce`: runs the workers, draws the progress line every second and returns the
/// final report.
pub async fn bench_produce(ctx: &Ctx, b: &ProduceBench) -> Result<BenchReport> {
    if b.concurrency == 0 || b.inflight == 0 {
        return Err(CliError::Usage(
            "--concurrency and --inflight must be > 0".into(),
        ));
    }
    if b.count.is_none() && b.duration.is_none() {
        return Err(CliError::Usage("give --count or --duration".into()));
    }
    b.spec.build()?; // validate once, up front
    let producer = start_producer(ctx, &b.group).await?;
    let clock = ctx.instance().runtime().clock();
    let stats = Arc::new(Stats::with_clock(clock));
    let remaining = Arc::new(AtomicU64::new(b.count.unwrap_or(u64::MAX)));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = b.duration.map(|d| clock.now() + d);
    let take = {
        let remaining = Arc::clone(&remaining);
        let stop = Arc::clone(&stop);
        move || {
            if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| clock.now() >= d) {
                return false;
            }
            remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        }
    };
    let size = b.spec.body.len();
    let workers = (0..b.concurrency).map(|_| {
        let (producer, stats, take, spec) = (
            producer.clone(),
            Arc::clone(&stats),
            take.clone(),
            b.spec.clone(),
        );
        let (mode, inflight) = (b.mode, b.inflight);
        async move {
            let mut local = Histogram::new();
            let (mut ok, mut n_since_merge) = (0u64, 0u64);
            let mut pending = FuturesUnordered::new();
            loop {
                let more = take();
                if !more && pending.is_empty() {
                    break;
                }
                let msg = if more { spec.build().ok() } else { None };
                match (mode, msg) {
                    (SendMode::Sync, Some(msg)) => {
                        let t = clock.stopwatch();
                        match producer.send(msg).await {
                            Ok(_) => {
                                local.record(t.elapsed());
                                ok += 1;
                            }
                            Err(e) => {
                                stats.failed();
                                eprintln!("send failed: {e}");
                            }
                        }
                    }
                    (SendMode::Oneway, Some(msg)) => match producer.send_oneway(msg).await {
                        Ok(()) => stats.ok_count(1, size as u64),
                        Err(e) => {
                            stats.failed();
                            eprintln!("send failed: {e}");
                        }
                    },
                    (SendMode::Async, Some(msg)) => {
                        let t = clock.stopwatch();
                        let fut = producer.send_async(msg);
                        pending.push(async move { (t, fut.await) });
                    }
                    (_, None) => {}
                }
                // Async mode: keep at most `inflight` sends pending; drain at the end.
                while pending.len() >= inflight || (!more && !pending.is_empty()) {
                    let Some((t, r)) = pending.next().await else {
                        break;
                    };
                    match r {
                        Ok(_) => {
                            local.record(t.elapsed());
                            ok += 1;
                        }
                        Err(e) => {
                            stats.failed();
                            eprintln!("send failed: {e}");
                        }
                    }
                }
                n_since_merge += 1;
                if n_since_merge >= 256 {
                    stats.merge(&local, ok, ok * size as u64);
                    local = Histogram::new();
                    ok = 0;
                    n_since_merge = 0;
                }
            }
            stats.merge(&local, ok, ok * size as u64);
        }
    });
    let all = futures::future::join_all(workers);
    run_with_progress(ctx, all, &stats, "produce", b.progress).await;
    stop.store(true, Ordering::Relaxed);
    producer.shutdown().await;
    Ok(stats.report("produce"))
}

/// Runs `work` while drawing the progress line once a second.
pub(crate) async fn run_with_progress<F: std::future::Future>(
    ctx: &Ctx,
    work: F,
    stats: &Stats,
    label: &str,
    show: bool,
) -> F::Output {
    let rt = Arc::clone(ctx.instance().runtime());
    let mut progress = Progress::with_clock(rt.clock());
    let ticker = async {
        loop {
            rt.sleep(Duration::from_secs(1)).await;
            if show {
                progress.tick(label, stats);
            }
        }
    };
    let out = {
        let work = std::pin::pin!(work);
        let ticker = std::pin::pin!(ticker);
        match futures::future::select(work, ticker).await {
            futures::future::Either::Left((out, _)) => out,
            futures::future::Either::Right(((), _)) => unreachable!("the ticker never ends"),
        }
    };
    if show {
        progress.tick(label, stats);
        progress.finish();
    }
    out
}
