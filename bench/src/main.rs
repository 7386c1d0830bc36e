//! `rmqbench`: the measuring half of the benchmark suite (bench/run.sh drives it).
//!
//! * `echo-server` / `echo-client`: the machine's ceiling — length-prefixed frames of
//!   RocketMQ's sizes (a 1 KiB send request, a send-response-sized answer) over loopback,
//!   strictly request-response or with N frames in flight, replies coalesced per read.
//! * `produce`: our `Producer` in sync / async / batch mode against any NameServer.
//! * `drain`: our `PushConsumer` reading N messages from the start of a topic.
//!
//! Every command ends with one `RESULT key=value ...` line on stdout that run.sh parses.
//! Client CPU comes from /proc/self/stat (utime + stime of the whole process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use clap::{Parser, Subcommand, ValueEnum};
use futures::stream::{FuturesUnordered, StreamExt};
use rocketmq_rs_client::client::{ClientInstance, CreateTopicOptions, TopicTarget};
use rocketmq_rs_client::config::ClientConfig;
use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::message::{Message, MessageExt};
use rocketmq_rs_client::producer::{Producer, ProducerConfig};
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::SerializeType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(
    name = "rmqbench",
    about = "RocketMQ benchmark rows (see bench/run.sh)"
)]
struct Cli {
    /// Tokio worker threads.
    #[arg(long, default_value_t = 2, global = true)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Sync,
    Async,
    Batch,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Answers every length-prefixed frame with a `--reply` byte frame.
    EchoServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Reply frame size (a SEND_MESSAGE response is ~200 bytes).
        #[arg(long, default_value_t = 200)]
        reply: usize,
    },
    /// Sends `--frame` byte frames keeping `--inflight` outstanding, over one connection.
    EchoClient {
        #[arg(long)]
        addr: String,
        /// Request frame size (a 1 KiB-body SEND_MESSAGE request is ~1.3 KiB).
        #[arg(long, default_value_t = 1300)]
        frame: usize,
        #[arg(long, default_value_t = 1)]
        inflight: usize,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Pause this long between round trips (with `--inflight 1`): the idle-latency
        /// ceiling, i.e. what waking both idle processes costs without any RocketMQ code.
        #[arg(long)]
        interval_ms: Option<f64>,
    },
    /// Sends with our Producer.
    Produce {
        #[arg(long)]
        namesrv: String,
        #[arg(long)]
        topic: String,
        #[arg(long, value_enum, default_value = "sync")]
        mode: Mode,
        /// Concurrent senders (each awaits its own sends in sync mode).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Sends (or batches) in flight per sender in async / batch mode.
        #[arg(long, default_value_t = 256)]
        inflight: usize,
        /// Messages per batch in batch mode.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, default_value_t = 1024)]
        body: usize,
        /// Stop after this many seconds ...
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// ... or this many messages, whichever first.
        #[arg(long)]
        count: Option<u64>,
        /// Cap the total send rate (messages/s), for CPU-per-message at a fixed load.
        #[arg(long)]
        rate: Option<f64>,
        /// Pause this long between sends of a sender (idle latency).
        #[arg(long)]
        interval_ms: Option<f64>,
        /// Spread the sends round-robin over this many topics `<topic>_<i>` (1: `--topic`
        /// itself), for the cost-versus-topic-count curve.
        #[arg(long, default_value_t = 1)]
        topics: usize,
        /// Sends before measuring (routes, connections, page cache).
        #[arg(long, default_value_t = 200)]
        warmup: u64,
        #[arg(long, default_value = "bench_producer")]
        group: String,
        /// Header encoding of our requests: JSON (the default, as Java) or the binary ROCKETMQ form.
        #[arg(long, value_enum, default_value_t = HeaderEncoding::Json)]
        header: HeaderEncoding,
        /// Send hooks on the producer: none, one that does nothing (the cost of the hook
        /// point itself), `metrics` (ClientMetrics with no recorder installed: the facade's
        /// no-op), `metrics-recorder` (ClientMetrics into metrics-util's in-memory recorder)
        /// or `trace` (message trace, `enable_trace`, to RMQ_SYS_TRACE_TOPIC).
        #[arg(long, value_enum, default_value_t = HookKind::None)]
        hook: HookKind,
    },
    /// Waits until a master of `--cluster` is registered with the NameServer (a started
    /// broker registers a moment after its port opens; a loaded host makes that moment long).
    WaitBroker {
        #[arg(long)]
        namesrv: String,
        #[arg(long, default_value = "DefaultCluster")]
        cluster: String,
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Creates `--count` topics `<prefix>_<i>` of `--queues` queues on every master of
    /// `--cluster` (the scale curves' set-up).
    CreateTopics {
        #[arg(long)]
        namesrv: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 8)]
        queues: i32,
        #[arg(long, default_value = "DefaultCluster")]
        cluster: String,
    },
    /// One push consumer subscribed to `--topics` topics `<prefix>_<i>`: reports how long
    /// until it owns every queue, then its CPU and memory while it idles `--secs` holding a
    /// long-poll on each queue (route refresh, heartbeats and re-issued polls included).
    Hold {
        #[arg(long)]
        namesrv: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        topics: usize,
        /// Queues per topic (to know when assignment is complete).
        #[arg(long, default_value_t = 8)]
        queues: usize,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value = "bench_hold")]
        group: String,
    },
    /// `--members` push consumers of one group in this process on `--topic`: the time from
    /// the last member's start until the queues are split among all members with no queue
    /// owned twice.
    Rebalance {
        #[arg(long)]
        namesrv: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        members: usize,
        /// The topic's queue count.
        #[arg(long)]
        queues: usize,
        #[arg(long, default_value = "bench_rebalance")]
        group: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120.0)]
        timeout: f64,
    },
    /// Reads `--count` messages from the start of the topic with our PushConsumer.
    Drain {
        #[arg(long)]
        namesrv: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        count: u64,
        /// Subscribe the topics `<topic>_<i>` for i < N instead (as `produce --topics`).
        #[arg(long, default_value_t = 1)]
        topics: usize,
        #[arg(long, default_value = "bench_drain")]
        group: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300.0)]
        timeout: f64,
    },
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let r = rt.block_on(async move {
        match cli.cmd {
            Cmd::EchoServer { listen, reply } => echo_server(&listen, reply).await,
            Cmd::EchoClient {
                addr,
                frame,
                inflight,
                duration,
                interval_ms,
            } => {
                let interval = interval_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0));
                echo_client(&addr, frame, inflight, duration, interval).await
            }
            Cmd::Produce {
                namesrv,
                topic,
                mode,
                concurrency,
                inflight,
                batch,
                body,
                duration,
                count,
                rate,
                interval_ms,
                warmup,
                group,
                header,
                hook,
                topics,
            } => {
                let p = ProduceArgs {
                    topics: topic_names(&topic, topics),
                    next_topic: AtomicU64::new(0),
                    mode,
                    concurrency: concurrency.max(1),
                    inflight: inflight.max(1),
                    batch: batch.max(1),
                    body: Bytes::from(vec![b'm'; body]),
                    duration: Duration::from_secs_f64(duration),
                    count,
                    rate,
                    interval: interval_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0)),
                    header: match header {
                        HeaderEncoding::Json => SerializeType::Json,
                        HeaderEncoding::Rocketmq => SerializeType::RocketMq,
                    },
                    warmup,
                    hook,
                };
                produce(&namesrv, &group, p).await
            }
            Cmd::WaitBroker {
                namesrv,
                cluster,
                timeout,
            } => wait_broker(&namesrv, &cluster, Duration::from_secs_f64(timeout)).await,
            Cmd::CreateTopics {
                namesrv,
                prefix,
                count,
                queues,
                cluster,
            } => create_topics(&namesrv, &prefix, count, queues, &cluster).await,
            Cmd::Hold {
                namesrv,
                prefix,
                topics,
                queues,
                secs,
                group,
            } => hold(&namesrv, &prefix, topics, queues, secs, &group).await,
            Cmd::Rebalance {
                namesrv,
                topic,
                members,
                queues,
                group,
                timeout,
            } => {
                rebalance(
                    &namesrv,
                    &topic,
                    members,
                    queues,
                    &group,
                    Duration::from_secs_f64(timeout),
                )
                .await
            }
            Cmd::Drain {
                namesrv,
                topic,
                count,
                topics,
                group,
                timeout,
            } => {
                drain(
                    &namesrv,
                    &topic_names(&topic, topics),
                    count,
                    &group,
                    Duration::from_secs_f64(timeout),
                )
                .await
            }
        }
    });
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Field 14 is index 11 after the state field (field 3 = index 0). USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn us(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

// ---------------------------------------------------------------- echo

async fn echo_server(listen: &str, reply: usize) -> Result<(), BoxError> {
    let l = TcpListener::bind(listen).await?;
    println!("listening {}", l.local_addr()?);
    let reply = Bytes::from(frame_of(reply));
    loop {
        let (s, _) = l.accept().await?;
        let reply = reply.clone();
        tokio::spawn(async move {
            let _ = echo_conn(s, reply).await;
        });
    }
}

/// A frame: 4-byte big-endian length, then `len` bytes (the remoting layout).
fn frame_of(total: usize) -> Vec<u8> {
    let total = total.max(4);
    let mut v = Vec::with_capacity(total);
    v.put_u32((total - 4) as u32);
    v.resize(total, b'e');
    v
}

/// Completes the whole frames at the front of `buf`, returning how many.
fn take_frames(buf: &mut BytesMut) -> usize {
    let mut n = 0;
    while buf.len() >= 4 {
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if buf.len() < 4 + len {
            break;
        }
        buf.advance(4 + len);
        n += 1;
    }
    n
}

async fn echo_conn(mut s: TcpStream, reply: Bytes) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let n = take_frames(&mut buf);
        out.clear();
        for _ in 0..n {
            out.extend_from_slice(&reply);
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
        }
        if buf.capacity() < 64 * 1024 {
            buf.reserve(256 * 1024);
        }
    }
}

async fn echo_client(
    addr: &str,
    frame: usize,
    inflight: usize,
    secs: f64,
    interval: Option<Duration>,
) -> Result<(), BoxError> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = frame_of(frame);
    let inflight = inflight.max(1);
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let mut out = Vec::with_capacity(req.len() * inflight);
    let mut lat = Vec::new();
    let warm_until = Instant::now() + Duration::from_millis(300);
    let mut t0 = Instant::now();
    let (mut done, mut warm) = (0u64, true);
    let mut sent_at = Instant::now();
    let cpu0 = cpu_secs();
    for _ in 0..inflight {
        out.extend_from_slice(&req);
    }
    s.write_all(&out).await?;
    loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Err("echo server closed the connection".into());
        }
        let n = take_frames(&mut buf);
        if n == 0 {
            continue;
        }
        let now = Instant::now();
        if warm && now >= warm_until {
            warm = false;
            t0 = now;
        } else if !warm {
            done += n as u64;
            if inflight == 1 {
                lat.push(us(now - sent_at));
            }
        }
        if !warm && now.duration_since(t0).as_secs_f64() >= secs {
            break;
        }
        out.clear();
        for _ in 0..n {
            out.extend_from_slice(&req);
        }
        if let Some(pause) = interval {
            tokio::time::sleep(pause).await;
        }
        sent_at = Instant::now();
        s.write_all(&out).await?;
        if buf.capacity() < 64 * 1024 {
            buf.reserve(256 * 1024);
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    lat.sort_unstable();
    println!(
        "RESULT rate={:.0} msgs={} secs={:.2} p50_us={} p99_us={} cpu_us={:.2}",
        done as f64 / el,
        done,
        el,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        cpu * 1e6 / done.max(1) as f64
    );
    Ok(())
}

// ---------------------------------------------------------------- produce

struct ProduceArgs {
    /// The topics sent to, round-robin (one for the usual rows).
    topics: Vec<String>,
    next_topic: AtomicU64,
    mode: Mode,
    concurrency: usize,
    inflight: usize,
    batch: usize,
    body: Bytes,
    duration: Duration,
    count: Option<u64>,
    rate: Option<f64>,
    interval: Option<Duration>,
    warmup: u64,
    header: SerializeType,
    hook: HookKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum HookKind {
    None,
    Noop,
    Metrics,
    MetricsRecorder,
    Trace,
}

/// A send hook that does nothing: what remains is the cost of building its context.
struct NoopHook;

impl rocketmq_rs_client::hook::SendHook for NoopHook {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum HeaderEncoding {
    Json,
    Rocketmq,
}

fn runtime() -> Arc<dyn Runtime> {
    Arc::new(TokioRuntime::from_handle(tokio::runtime::Handle::current()))
}

fn msg(topic: &str, body: &Bytes) -> Result<Message, BoxError> {
    Ok(Message::builder(topic)
        .tag("bench")
        .body(body.clone())
        .build()?)
}

fn topic_names(topic: &str, n: usize) -> Vec<String> {
    if n <= 1 {
        vec![topic.to_owned()]
    } else {
        (0..n).map(|i| format!("{topic}_{i}")).collect()
    }
}

impl ProduceArgs {
    /// The next topic in the round-robin.
    fn topic(&self) -> &str {
        if self.topics.len() == 1 {
            return &self.topics[0];
        }
        let i = self.next_topic.fetch_add(1, Ordering::Relaxed) as usize;
        &self.topics[i % self.topics.len()]
    }
}

/// Shared stop condition and counters of the senders.
struct Meter {
    start: Instant,
    deadline: Instant,
    left: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    rate: Option<f64>,
    issued: AtomicU64,
}

impl Meter {
    /// Claims `n` messages; false when the run is over.
    fn take(&self, n: u64) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(n))
            .is_ok()
    }

    /// Under `--rate`: how long to wait before issuing `n` more.
    fn pace(&self, n: u64) -> Option<Duration> {
        let rate = self.rate?;
        let issued = self.issued.fetch_add(n, Ordering::Relaxed) + n;
        let due = Duration::from_secs_f64(issued as f64 / rate);
        let el = self.start.elapsed();
        (due > el).then(|| due - el)
    }
}

async fn produce(namesrv: &str, group: &str, a: ProduceArgs) -> Result<(), BoxError> {
    let mut config = ProducerConfig::default();
    config.client.serialize_type = a.header;
    let mut builder = Producer::builder()
        .config(config)
        .name_server(namesrv)
        .runtime(runtime())
        .group(group)
        .send_timeout(Duration::from_secs(10));
    match a.hook {
        HookKind::None => {}
        HookKind::Noop => builder = builder.send_hook(NoopHook),
        HookKind::Metrics | HookKind::MetricsRecorder => {
            if a.hook == HookKind::MetricsRecorder {
                metrics_util::debugging::DebuggingRecorder::new().install()?;
            }
            builder = builder.send_hook(rocketmq_rs_client::metrics::ClientMetrics::new("bench"));
        }
        HookKind::Trace => {
            builder = builder.enable_trace(rocketmq_rs_client::trace::TraceConfig::default())
        }
    }
    let producer = builder.build()?;
    producer.start().await?;
    // Warm-up: routes, connections, the broker's first commit-log pages.
    // Every topic once at least: its route lookup belongs to the warm-up, not the measure.
    for _ in 0..a.warmup.max(a.topics.len() as u64) {
        producer.send(msg(a.topic(), &a.body)?).await?;
    }
    let start = Instant::now();
    let meter = Arc::new(Meter {
        start,
        deadline: start + a.duration,
        left: AtomicU64::new(a.count.unwrap_or(u64::MAX)),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        rate: a.rate,
        issued: AtomicU64::new(0),
    });
    let cpu0 = cpu_secs();
    let a = Arc::new(a);
    let mut workers = Vec::new();
    for _ in 0..a.concurrency {
        let (p, m, a) = (producer.clone(), Arc::clone(&meter), Arc::clone(&a));
        workers.push(tokio::spawn(async move { sender(p, m, a).await }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await??);
    }
    let el = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    producer.shutdown().await;
    lat.sort_unstable();
    let done = meter.done.load(Ordering::Relaxed);
    println!(
        "RESULT rate={:.0} msgs={} failed={} secs={:.2} p50_us={} p99_us={} cpu_us={:.2}",
        done as f64 / el,
        done,
        meter.failed.load(Ordering::Relaxed),
        el,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        cpu * 1e6 / done.max(1) as f64
    );
    Ok(())
}

/// One sender; returns its latency samples (µs; per batch in batch mode).
async fn sender(p: Producer, m: Arc<Meter>, a: Arc<ProduceArgs>) -> Result<Vec<u32>, BoxError> {
    let mut lat = Vec::new();
    let per = if a.mode == Mode::Batch {
        a.batch as u64
    } else {
        1
    };
    let window = if a.mode == Mode::Sync { 1 } else { a.inflight };
    let mut pending = FuturesUnordered::new();
    let record = |r: Result<(), String>, t: Instant, lat: &mut Vec<u32>| match r {
        Ok(()) => {
            lat.push(us(t.elapsed()));
            m.done.fetch_add(per, Ordering::Relaxed);
        }
        Err(e) => {
            if m.failed.fetch_add(per, Ordering::Relaxed) < 5 {
                eprintln!("send failed: {e}");
            }
        }
    };
    loop {
        let more = m.take(per);
        if more {
            if let Some(wait) = m.pace(per) {
                tokio::time::sleep(wait).await;
            }
            let t = Instant::now();
            match a.mode {
                Mode::Sync => {
                    let r = p.send(msg(a.topic(), &a.body)?).await;
                    record(r.map(drop).map_err(|e| e.to_string()), t, &mut lat);
                    if let Some(i) = a.interval {
                        tokio::time::sleep(i).await;
                    }
                }
                Mode::Async => {
                    // Unboxed: the bench should not add an allocation per send of its own.
                    let fut = p.send_async(msg(a.topic(), &a.body)?);
                    pending.push(futures::future::Either::Left(async move {
                        (t, fut.await.map(drop).map_err(|e| e.to_string()))
                    }));
                }
                Mode::Batch => {
                    let topic = a.topic();
                    let msgs = (0..a.batch)
                        .map(|_| msg(topic, &a.body))
                        .collect::<Result<Vec<_>, _>>()?;
                    let p = p.clone();
                    pending.push(futures::future::Either::Right(Box::pin(async move {
                        (
                            t,
                            p.send_batch(msgs)
                                .await
                                .map(drop)
                                .map_err(|e| e.to_string()),
                        )
                    })));
                }
            }
        } else if pending.is_empty() {
            return Ok(lat);
        }
        while pending.len() >= window || (!more && !pending.is_empty()) {
            let Some((t, r)) = pending.next().await else {
                break;
            };
            record(r, t, &mut lat);
        }
    }
}

// ---------------------------------------------------------------- scale curves

async fn admin(namesrv: &str) -> Result<ClientInstance, BoxError> {
    let mut cfg = ClientConfig::with_name_server(namesrv);
    cfg.runtime = Some(runtime());
    cfg.instance_name = Some(format!("rmqbench-admin-{}", std::process::id()));
    Ok(ClientInstance::new(cfg)?)
}

async fn wait_broker(namesrv: &str, cluster: &str, timeout: Duration) -> Result<(), BoxError> {
    let instance = admin(namesrv).await?;
    let t0 = Instant::now();
    let mut last;
    loop {
        match instance
            .api()
            .get_broker_cluster_info(Duration::from_secs(3))
            .await
        {
            Ok(info) => {
                let registered = info
                    .cluster_addr_table
                    .get(cluster)
                    .into_iter()
                    .flatten()
                    .filter_map(|name| info.broker_addr_table.get(name))
                    .any(|b| b.master_addr().is_some());
                if registered {
                    break;
                }
                last = format!("cluster {cluster:?} has no master yet");
            }
            Err(e) => last = e.to_string(),
        }
        if t0.elapsed() > timeout {
            instance.shutdown().await;
            return Err(
                format!("no master of {cluster:?} registered within {timeout:?}: {last}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    instance.shutdown().await;
    println!("RESULT secs={:.2}", t0.elapsed().as_secs_f64());
    Ok(())
}

async fn create_topics(
    namesrv: &str,
    prefix: &str,
    count: usize,
    queues: i32,
    cluster: &str,
) -> Result<(), BoxError> {
    let instance = admin(namesrv).await?;
    let mut opts = CreateTopicOptions::default();
    opts.read_queue_nums = queues;
    opts.write_queue_nums = queues;
    let t0 = Instant::now();
    for name in topic_names(prefix, count) {
        instance
            .create_topic(&name, TopicTarget::Cluster(cluster.to_owned()), &opts)
            .await?;
    }
    instance.shutdown().await;
    println!(
        "RESULT topics={count} queues={queues} secs={:.2}",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Peak resident set of this process (VmHWM), MiB.
fn rss_mb() -> f64 {
    status_kb("VmHWM:") / 1024.0
}

/// A `kB` field of /proc/self/status (0 when unreadable).
fn status_kb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

async fn hold(
    namesrv: &str,
    prefix: &str,
    topics: usize,
    queues: usize,
    secs: f64,
    group: &str,
) -> Result<(), BoxError> {
    // What the process holds before the consumer exists: the rest is the consumer's.
    let rss_before_kb = status_kb("VmRSS:");
    let mut client = ClientConfig::with_name_server(namesrv);
    client.runtime = Some(runtime());
    let mut b = PushConsumer::builder().client_config(client).group(group);
    for t in topic_names(prefix, topics) {
        b = b.subscribe(t, "*");
    }
    let consumer = b
        .consume_from_where(ConsumeFromWhere::LastOffset)
        .listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeContext| async { ConsumeResult::Success })
        .build()?;
    let want = topics * queues;
    let t0 = Instant::now();
    consumer.start().await?;
    // The group's retry topic (subscribed by every push consumer) is not counted.
    let owned = || {
        consumer
            .assigned_queues()
            .iter()
            .filter(|q| !q.topic.starts_with("%RETRY%"))
            .count()
    };
    while owned() < want {
        if t0.elapsed() > Duration::from_secs(300) {
            return Err(format!("owns {} of {want} queues after 300 s", owned()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let assign = t0.elapsed().as_secs_f64();
    // Let the first pulls of every queue go out and park before measuring the idle cost.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu0 = cpu_secs();
    let w0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let cpu = cpu_secs() - cpu0;
    let el = w0.elapsed().as_secs_f64();
    let rss = rss_mb();
    let rss_now_kb = status_kb("VmRSS:");
    let _ = consumer.shutdown().await;
    println!(
        "RESULT topics={topics} queues={want} assign_secs={assign:.2} idle_cpu_pct={:.2} rss_mb={rss:.0} kb_per_queue={:.1}",
        cpu * 100.0 / el,
        (rss_now_kb - rss_before_kb) / want.max(1) as f64
    );
    Ok(())
}

async fn rebalance(
    namesrv: &str,
    topic: &str,
    members: usize,
    queues: usize,
    group: &str,
    timeout: Duration,
) -> Result<(), BoxError> {
    let mut consumers = Vec::with_capacity(members);
    for i in 0..members {
        let mut client = ClientConfig::with_name_server(namesrv);
        client.runtime = Some(runtime());
        client.instance_name = Some(format!("rmqbench-{}-{i}", std::process::id()));
        let c = PushConsumer::builder()
            .client_config(client)
            .group(group)
            .subscribe(topic, "*")
            .consume_from_where(ConsumeFromWhere::LastOffset)
            .listener(|_msgs: Vec<MessageExt>, _ctx: ConsumeContext| async {
                ConsumeResult::Success
            })
            .build()?;
        c.start().await?;
        consumers.push(c);
    }
    let t0 = Instant::now();
    let mut last = String::new();
    let settled = loop {
        let mut seen = std::collections::HashSet::new();
        let mut owned = 0;
        let mut idle_members = 0;
        for c in &consumers {
            // The group's retry topic (subscribed by every push consumer) is not counted.
            let q: Vec<_> = c
                .assigned_queues()
                .into_iter()
                .filter(|q| q.topic == topic)
                .collect();
            if q.is_empty() {
                idle_members += 1;
            }
            owned += q.len();
            seen.extend(q);
        }
        // Settled: every queue owned exactly once, and as many members own queues as can.
        if owned == queues && seen.len() == queues && members - idle_members == members.min(queues)
        {
            break true;
        }
        last = format!(
            "{owned} queue assignments, {} distinct queues, {idle_members} members without a queue",
            seen.len()
        );
        if t0.elapsed() > timeout {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let secs = t0.elapsed().as_secs_f64();
    for c in consumers {
        let _ = c.shutdown().await;
    }
    if !settled {
        return Err(format!(
            "{members} members did not settle on {queues} queues within {timeout:?}; last seen: {last}"
        )
        .into());
    }
    println!("RESULT members={members} queues={queues} secs={secs:.2}");
    Ok(())
}

// ---------------------------------------------------------------- drain

async fn drain(
    namesrv: &str,
    topics: &[String],
    count: u64,
    group: &str,
    timeout: Duration,
) -> Result<(), BoxError> {
    let got = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let listener = {
        let (got, first) = (Arc::clone(&got), Arc::clone(&first));
        move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            {
                let mut f = first.lock().unwrap_or_else(|e| e.into_inner());
                f.get_or_insert_with(Instant::now);
            }
            let n = got.fetch_add(msgs.len() as u64, Ordering::Relaxed) + msgs.len() as u64;
            if n >= count {
                let _ = tx.send(());
            }
            async { ConsumeResult::Success }
        }
    };
    let mut client = ClientConfig::with_name_server(namesrv);
    client.runtime = Some(runtime());
    let mut builder = PushConsumer::builder().client_config(client).group(group);
    for t in topics {
        builder = builder.subscribe(t.as_str(), "*");
    }
    let consumer = builder
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .consume_batch_size(32)
        .pull_batch_size(32)
        .listener(listener)
        .build()?;
    let started = Instant::now();
    let cpu0 = cpu_secs();
    consumer.start().await?;
    let ok = tokio::time::timeout(timeout, rx.recv()).await.is_ok();
    let end = Instant::now();
    let cpu = cpu_secs() - cpu0;
    let n = got.load(Ordering::Relaxed);
    let from = first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(started);
    let _ = consumer.shutdown().await;
    let el = (end - from).as_secs_f64();
    println!(
        "RESULT rate={:.0} msgs={} secs={:.2} total_secs={:.2} complete={} cpu_us={:.2}",
        n as f64 / el,
        n,
        el,
        (end - started).as_secs_f64(),
        ok,
        cpu * 1e6 / n.max(1) as f64
    );
    if !ok {
        return Err(format!("drained {n} of {count} messages before the timeout").into());
    }
    Ok(())
}
