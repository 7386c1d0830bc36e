//! Shared set-up and plumbing of the chaos scenarios (`tests/chaos.rs`): a NameServer + broker
//! pair, topic creation, a producer, push consumers in their own processes, the send loop,
//! fault scheduling and figure printing.
//!
//! A scenario usually starts with [`setup`]:
//!
//! ```text
//! let (mut env, p) = setup(Spec::new("ChaosSyncKill", Duration::from_secs(12)));
//! let mut consumer = env.consumer("c1", "chaos_cg_sync", false);
//! // ... traffic and faults (with_faults / send_loop / fault_times) ...
//! let r = env.finish(&p, [&mut consumer], Duration::from_secs(60));
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_it::ChildGuard;
use rocketmq_rs_client::producer::selector::SelectByHash;
use rocketmq_rs_client::{Message, Producer};

use rocketmq_rs_remoting::util::MutexExt;

use crate::support;
pub use crate::support::admin::{create_topic, max_offsets, route_code, route_text, runtime};
use crate::support::history::{queue_label, History, Report};
use crate::support::procs::{BrokerProc, BrokerSpec, NamesrvProc};

/// Scenarios are timing-sensitive: run them one at a time even under the parallel harness.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the scenario lock (a panicking scenario does not poison the others).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock_unpoisoned()
}

/// The runtime the test thread drives the producer with.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Offsets a consumer process persists this often (the uncommitted window).
pub const PERSIST_MS: u64 = 1000;

/// A started producer of `group` (route refresh every 2 s).
pub async fn producer(namesrv: SocketAddr, group: &str, timeout: Duration) -> Producer {
    let p = Producer::builder()
        .name_server(&namesrv.to_string())
        .group(group)
        .send_timeout(timeout)
        .runtime(runtime())
        .route_refresh_interval(Duration::from_secs(2))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    p
}

/// Waits until the producer sees `queues` writable queues of `topic`.
pub async fn wait_route(p: &Producer, topic: &str, queues: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(q) = p.fetch_publish_queues(topic).await {
            if q.len() >= queues {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no route for {topic}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A push consumer in its own process (`chaos-consumer`), feeding the history.
pub struct ConsumerProc {
    /// Its name in the history.
    pub name: String,
    guard: Option<ChildGuard>,
    stdin: Option<ChildStdin>,
    /// Queues of the topic it last reported owning (-1 before its first report).
    owned: Arc<AtomicI64>,
    /// `simple` mode: keys whose ack the broker confirmed, and when.
    acked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl ConsumerProc {
    /// Starts one and waits until it reports `READY`.
    pub fn start(
        name: &str,
        namesrv: SocketAddr,
        group: &str,
        topic: &str,
        orderly: bool,
        h: &Arc<History>,
    ) -> Self {
        let mode = if orderly { "orderly" } else { "concurrent" };
        Self::start_mode(name, namesrv, group, topic, mode, 0, h)
    }

    /// Starts one in `mode` (`concurrent`, `orderly`, `pop`, `simple`; see
    /// `chaos/bin/consumer.rs`), spending `sleep_ms` per message, and waits for `READY`.
    pub fn start_mode(
        name: &str,
        namesrv: SocketAddr,
        group: &str,
        topic: &str,
        mode: &str,
        sleep_ms: u64,
        h: &Arc<History>,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaos-consumer"));
        cmd.arg(namesrv.to_string())
            .arg(group)
            .arg(topic)
            .arg(mode)
            .arg(PERSIST_MS.to_string())
            .arg(sleep_ms.to_string())
            .env("RUST_LOG", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn(name, &mut cmd).expect("spawn consumer");
        let stdin = guard.child_mut().stdin.take();
        let stdout = guard.child_mut().stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let h = h.clone();
        let me = name.to_string();
        let owned = Arc::new(AtomicI64::new(-1));
        let owned_w = Arc::clone(&owned);
        let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let acked_w = Arc::clone(&acked);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "READY" {
                    let _ = tx.send(());
                    continue;
                }
                if let Some(key) = line.strip_prefix("A ") {
                    acked_w
                        .lock_unpoisoned()
                        .insert(key.to_owned(), Instant::now());
                    continue;
                }
                if let Some(n) = line.strip_prefix("Q ").and_then(|n| n.parse().ok()) {
                    owned_w.store(n, Ordering::Release);
                    continue;
                }
                let f: Vec<&str> = line.split(' ').collect();
                if f.len() == 6 && f[0] == "D" {
                    let qid: i32 = f[3].parse().unwrap_or(-1);
                    h.record_delivery_parts(
                        f[1],
                        queue_label(f[2], qid),
                        f[4].parse().unwrap_or(-1),
                        f[5].parse().unwrap_or(-1),
                        &me,
                    );
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("consumer {name} did not start"));
        ConsumerProc {
            name: name.into(),
            guard: Some(guard),
            stdin,
            owned,
            acked,
        }
    }

    /// `simple` mode: the keys whose ack the broker confirmed, with the time the line arrived.
    pub fn acked(&self) -> HashMap<String, Instant> {
        self.acked.lock_unpoisoned().clone()
    }

    /// How many of the topic's queues it owns, as last reported (-1 before its first report).
    pub fn owned_queues(&self) -> i64 {
        self.owned.load(Ordering::Acquire)
    }

    /// `kill -9`: no offset commit, no unregistration.
    pub fn kill9(&mut self) {
        self.stdin.take();
        if let Some(mut g) = self.guard.take() {
            g.kill().unwrap();
        }
    }

    /// Clean shutdown (stdin EOF), bounded.
    pub fn stop(&mut self) {
        self.stdin.take();
        if let Some(mut g) = self.guard.take() {
            if g.wait_timeout(Duration::from_secs(20)).unwrap().is_none() {
                g.kill().unwrap();
            }
        }
    }
}

/// Sends `prefix-N` messages one after another until `until`; orderly by `shards` sharding keys
/// when given. Returns how many were sent.
pub async fn send_loop(
    p: &Producer,
    h: &History,
    topic: &str,
    prefix: &str,
    until: Instant,
    shards: Option<usize>,
) -> usize {
    let mut n = 0usize;
    while Instant::now() < until {
        let key = format!("{prefix}-{n}");
        let mut msg = Message::new(topic, format!("body of {key}"));
        msg.set_keys([key.as_str()]);
        let start = Instant::now();
        let (res, sk) = match shards {
            Some(s) => {
                let sk = format!("sk{}", n % s);
                (
                    p.send_with_selector(msg, &SelectByHash, sk.as_str()).await,
                    Some(sk),
                )
            }
            None => (p.send(msg).await, None),
        };
        let ok = res.is_ok();
        h.record_send(&key, sk.as_deref(), start, &res);
        n += 1;
        tokio::time::sleep(Duration::from_millis(if ok { 4 } else { 50 })).await;
    }
    n
}

/// Waits until every acknowledged message was delivered (or `limit` passes), then a little
/// more for late duplicates.
pub fn settle(h: &History, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !h.all_acked_delivered() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1500));
}

/// Prints a scenario's figures on one `CHAOS <name>:` line.
pub fn print(name: &str, r: &Report, extra: &str) {
    println!(
        "CHAOS {name}: {r} {extra} (soak={:?})",
        support::soak().map(|d| d.as_secs())
    );
}

/// Fault instants: every `period` from `first` until `dur - tail` (once in the short form).
pub fn fault_times(
    dur: Duration,
    first: Duration,
    period: Duration,
    tail: Duration,
) -> Vec<Duration> {
    let mut v = vec![first];
    if support::soak().is_some() {
        let mut t = first + period;
        while t + tail < dur {
            v.push(t);
            t += period;
        }
    }
    v
}

/// A NameServer and one broker, with the broker's store in a temporary directory.
pub struct Cluster {
    /// The NameServer.
    pub ns: NamesrvProc,
    /// The broker.
    pub broker: BrokerProc,
    /// Holds the store until the cluster is dropped.
    _dir: tempfile::TempDir,
}

/// Starts a [`Cluster`]; `extra_json` holds extra broker config keys, `env` extra environment
/// variables of the broker process.
pub fn cluster(flush: &'static str, extra_json: Option<&str>, env: &[(&str, String)]) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let mut spec = BrokerSpec::new(ns.addr, &dir.path().join("store-a"), flush, "broker-a");
    spec.extra_json = extra_json.map(str::to_string);
    spec.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let broker = BrokerProc::start(spec);
    Cluster {
        ns,
        broker,
        _dir: dir,
    }
}

/// What a scenario needs set up before its traffic starts.
pub struct Spec {
    /// Topic to create.
    pub topic: &'static str,
    /// Broker flush mode: `sync` or `async`.
    pub flush: &'static str,
    /// Read/write queues of the topic.
    pub queues: i32,
    /// Whether the topic is orderly.
    pub order: bool,
    /// Extra broker config (JSON object text).
    pub extra_json: Option<String>,
    /// Extra broker environment (e.g. `MINI_BROKER_FAULT_FILE`).
    pub broker_env: Vec<(&'static str, String)>,
    /// The producer's send timeout.
    pub send_timeout: Duration,
    /// Traffic length in the short (CI) form; the soak length replaces it.
    pub short: Duration,
}

impl Spec {
    /// A sync-flush broker, a 4-queue unordered topic, 3 s send timeout.
    pub fn new(topic: &'static str, short: Duration) -> Self {
        Spec {
            topic,
            flush: "sync",
            queues: 4,
            order: false,
            extra_json: None,
            broker_env: Vec::new(),
            send_timeout: Duration::from_secs(3),
            short,
        }
    }
}

/// A running scenario environment: runtime, cluster, history, traffic length.
pub struct Env {
    /// Runtime for the producer and protocol helpers.
    pub rt: tokio::runtime::Runtime,
    /// NameServer + broker.
    pub c: Cluster,
    /// The scenario's history.
    pub h: Arc<History>,
    /// Traffic length (short form or soak).
    pub dur: Duration,
    /// The topic.
    pub topic: &'static str,
    /// Its queue count.
    pub queues: i32,
    /// The producer's send timeout.
    pub send_timeout: Duration,
}

impl Env {
    /// Starts the cluster and creates the topic.
    pub fn start(spec: &Spec) -> Env {
        let rt = tokio_rt();
        let c = cluster(spec.flush, spec.extra_json.as_deref(), &spec.broker_env);
        rt.block_on(create_topic(
            c.broker.addr,
            spec.topic,
            spec.queues,
            spec.order,
        ));
        Env {
            rt,
            c,
            h: Arc::new(History::new()),
            dur: support::duration(spec.short),
            topic: spec.topic,
            queues: spec.queues,
            send_timeout: spec.send_timeout,
        }
    }

    /// A producer (group `chaos_pg_<topic>`) talking to the NameServer at `namesrv`, once it
    /// sees every queue of the topic.
    pub fn producer_via(&self, namesrv: SocketAddr) -> Producer {
        let group = format!("chaos_pg_{}", self.topic);
        self.rt.block_on(async {
            let p = producer(namesrv, &group, self.send_timeout).await;
            wait_route(&p, self.topic, self.queues as usize).await;
            p
        })
    }

    /// A push consumer process of `group` on the scenario's topic.
    pub fn consumer(&self, name: &str, group: &str, orderly: bool) -> ConsumerProc {
        ConsumerProc::start(name, self.c.ns.addr, group, self.topic, orderly, &self.h)
    }

    /// A consumer process in `mode` (see [`ConsumerProc::start_mode`]).
    pub fn consumer_mode(
        &self,
        name: &str,
        group: &str,
        mode: &str,
        sleep_ms: u64,
    ) -> ConsumerProc {
        ConsumerProc::start_mode(
            name,
            self.c.ns.addr,
            group,
            self.topic,
            mode,
            sleep_ms,
            &self.h,
        )
    }

    /// Settles (every acknowledged message delivered, or `limit`), stops the consumers and the
    /// producer, and runs the checkers.
    pub fn finish<'a>(
        &self,
        p: &Producer,
        consumers: impl IntoIterator<Item = &'a mut ConsumerProc>,
        limit: Duration,
    ) -> Report {
        settle(&self.h, limit);
        for c in consumers {
            c.stop();
        }
        self.rt.block_on(p.shutdown());
        self.h.check()
    }
}

/// [`Env::start`] plus a producer through the real NameServer.
pub fn setup(spec: Spec) -> (Env, Producer) {
    let env = Env::start(&spec);
    let p = env.producer_via(env.c.ns.addr);
    (env, p)
}

/// Runs `send` on the runtime while `faults` runs on a scoped thread.
pub fn with_faults<T: Send>(
    rt: &tokio::runtime::Runtime,
    send: impl std::future::Future<Output = T>,
    faults: impl FnOnce() + Send,
) -> T {
    std::thread::scope(|s| {
        let f = s.spawn(faults);
        let out = rt.block_on(send);
        f.join().expect("fault thread");
        out
    })
}

/// Sleeps until `at` after `t0` (returns at once if that has passed).
pub fn sleep_until(t0: Instant, at: Duration) {
    let now = t0.elapsed();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Runs one future to completion on a private current-thread runtime (for fault threads that
/// need a protocol call while the main runtime drives the traffic).
pub fn block_on_side<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Logs `what` as a fault, kills the broker with -9, waits 0.5 s and restarts it on the same
/// port and store. Returns (kill instant, broker serving again).
pub fn kill_restart(broker: &mut BrokerProc, h: &History, what: &str) -> (Instant, Instant) {
    let at = h.fault(what);
    broker.kill9();
    std::thread::sleep(Duration::from_millis(500));
    broker.restart();
    (at, Instant::now())
}
