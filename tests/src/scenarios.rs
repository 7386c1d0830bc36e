//! Interop scenarios shared by the Go and Java client tests (`tests/go_interop.rs`,
//! `tests/java_interop.rs`): both harnesses speak the same sub-commands and print the same
//! [`Event`]s, so each scenario is written once against a [`Peer`].
//!
//! Every scenario starts its own in-process mini NameServer and mini broker on OS-chosen
//! ports ([`Cluster`]) with short delay levels and transaction checks, so retries, delays and
//! check-backs take about a second. Messages are compared byte for byte (body, tags, keys,
//! user properties, message id, queue and offset where the sender learns them) across client
//! pairs: peer → our pull consumer, our producer → peer consumers, peer → peer.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketmq_rs_client::{ClientConfig, Message, MessageExt, Producer, PullConsumer, PullStatus};
use rocketmq_rs_mini_broker::topic_config::{PERM_READ, PERM_WRITE};
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, BrokerHandle};
use rocketmq_rs_mini_namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use rocketmq_rs_remoting::protocol::body::TopicConfig;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::util::now_ms;

use crate::harness::{hex, Event, Finished, HarnessError, HarnessRun};
use crate::{init_tracing, sleep};

/// Longest wait for a client's `start()`.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a harness run to finish its work.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Starts one harness sub-command: `(run name, sub-command, arguments)`.
pub type Runner = dyn Fn(&str, &str, &[String]) -> Result<HarnessRun, HarnessError> + Send + Sync;

/// A foreign client reachable through a harness.
pub struct Peer {
    /// `go`, `java-4.9.8`, ...: used in run and group names.
    pub name: String,
    runner: Arc<Runner>,
}

impl Peer {
    /// A peer whose harness runs are started by `runner`.
    pub fn new(name: impl Into<String>, runner: Arc<Runner>) -> Peer {
        Peer {
            name: name.into(),
            runner,
        }
    }

    /// Starts `sub` with `args`; panics when the process cannot be started.
    pub fn run(&self, what: &str, sub: &str, args: &[String]) -> HarnessRun {
        (self.runner)(what, sub, args)
            .unwrap_or_else(|e| panic!("{} {what}: cannot start: {e}", self.name))
    }

    /// Starts `sub` and waits for its `started` event.
    pub async fn start(&self, what: &str, sub: &str, args: &[String]) -> HarnessRun {
        let run = self.run(what, sub, args);
        run.started(START_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{} {what}: {e}", self.name));
        run
    }
}

/// `["-k", "v", ...]` from pairs.
pub fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [k.to_string(), v.to_string()])
        .collect()
}

/// Runs one async test body on a fresh two-worker tokio runtime and reports its duration.
pub fn run_test<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    init_tracing();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio_rt.handle().clone()));
    let t0 = Instant::now();
    tokio_rt.block_on(body(rt));
    eprintln!("{name}: passed in {:.1} s", t0.elapsed().as_secs_f64());
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
}

/// A mini NameServer plus one mini broker registered with it, in this process.
pub struct Cluster {
    namesrv: NameServerHandle,
    broker: BrokerHandle,
    rt: Arc<dyn Runtime>,
    _store: tempfile::TempDir,
}

impl Cluster {
    /// Starts both on 127.0.0.1 with OS-chosen ports. Every delay level is one second and
    /// transactions are checked back after one second, so retries and checks are quick.
    pub async fn start(rt: &Arc<dyn Runtime>) -> Cluster {
        Cluster::start_with(rt, |_| {}).await
    }

    /// [`start`](Self::start) with the broker's configuration changed by `tweak` last.
    pub async fn start_with(
        rt: &Arc<dyn Runtime>,
        tweak: impl FnOnce(&mut BrokerConfig),
    ) -> Cluster {
        let namesrv = NameServer::start(
            NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().expect("addr")),
            Arc::clone(rt),
        )
        .await
        .expect("start the NameServer");
        let store = tempfile::Builder::new()
            .prefix("client-interop-store-")
            .tempdir()
            .expect("store dir");
        let mut cfg = BrokerConfig::for_test(store.path());
        cfg.namesrv_addrs = vec![namesrv.addr().to_string()];
        cfg.message_delay_level = vec!["1s"; 18].join(" ");
        cfg.transaction_timeout_ms = 1000;
        cfg.transaction_check_interval_ms = 1000;
        // A producer may register its group (heartbeat) only after its first sends: keep
        // unanswered halves for a minute of checks instead of 15 s.
        cfg.transaction_check_max = 60;
        // The peers' SQL92 consumers need it, as on an Apache broker.
        cfg.enable_property_filter = true;
        tweak(&mut cfg);
        let broker = Broker::start(cfg, Arc::clone(rt))
            .await
            .expect("start the broker");
        Cluster {
            namesrv,
            broker,
            rt: Arc::clone(rt),
            _store: store,
        }
    }

    /// The broker's message store.
    pub fn store(&self) -> &rocketmq_rs_mini_broker::store::MessageStore {
        self.broker.store()
    }

    /// The NameServer address clients are given.
    pub fn ns(&self) -> String {
        self.namesrv.addr().to_string()
    }

    /// The broker's address (what `mqadmin -b` takes).
    pub fn broker_addr(&self) -> String {
        self.broker.addr().to_string()
    }

    /// Creates `topic` with `queues` queues and registers it before returning.
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        self.broker
            .topics()
            .upsert(TopicConfig::new(
                topic,
                queues,
                queues,
                PERM_READ | PERM_WRITE,
            ))
            .expect("create topic");
        assert_eq!(
            self.broker.register_now().await,
            1,
            "the broker could not register {topic} with the NameServer"
        );
    }

    fn client_config(&self) -> ClientConfig {
        let mut client = ClientConfig::with_name_server(&self.ns());
        client.runtime = Some(Arc::clone(&self.rt));
        client
    }

    /// A started producer of ours.
    pub async fn rust_producer(&self, group: &str) -> Producer {
        let p = Producer::builder()
            .name_server(&self.ns())
            .runtime(Arc::clone(&self.rt))
            .group(group)
            .send_timeout(Duration::from_secs(10))
            .build()
            .expect("producer config");
        p.start().await.expect("start the Rust producer");
        p
    }

    /// Every message of `topic`, read by our pull consumer from each queue's first offset.
    pub async fn rust_pull_all(&self, topic: &str) -> Vec<MessageExt> {
        let c = PullConsumer::builder()
            .client_config(self.client_config())
            .group(format!("rust-reader-{}", topic.replace('%', "_")))
            .build()
            .expect("pull consumer config");
        c.start().await.expect("start the Rust pull consumer");
        let mut queues = c
            .fetch_subscribe_queues(topic)
            .await
            .unwrap_or_else(|e| panic!("queues of {topic}: {e}"));
        queues.sort_by_key(|q| q.queue_id);
        let mut all = Vec::new();
        for q in &queues {
            let mut offset = 0;
            loop {
                let r = c
                    .pull(q, "*", offset, 32)
                    .await
                    .unwrap_or_else(|e| panic!("pull {q:?} at {offset}: {e}"));
                if r.status != PullStatus::Found {
                    break;
                }
                all.extend(r.messages);
                offset = r.next_begin_offset;
                if offset >= r.max_offset {
                    break;
                }
            }
        }
        c.shutdown().await;
        all
    }

    /// Stops the broker, then the NameServer.
    pub async fn shutdown(self) {
        self.broker.shutdown().await;
        self.namesrv.shutdown().await;
    }
}

/// Reads `topic` with [`Cluster::rust_pull_all`] until it holds at least `n` messages (a
/// topic the broker has not created yet reads as empty), for at most `timeout`; returns what
/// it read last either way, for the caller's assertions to describe.
async fn pull_until(c: &Cluster, topic: &str, n: usize, timeout: Duration) -> Vec<MessageExt> {
    let last = std::cell::RefCell::new(Vec::new());
    let enough = crate::eventually_some_async(timeout, topic, || async {
        let got = if c.broker.topics().get(topic).is_some() {
            c.rust_pull_all(topic).await
        } else {
            Vec::new()
        };
        if got.len() >= n {
            Some(got)
        } else {
            *last.borrow_mut() = got;
            None
        }
    })
    .await;
    enough.unwrap_or_else(|_| last.into_inner())
}

fn finished(peer: &Peer, what: &str, r: Result<Finished, HarnessError>) -> Finished {
    r.unwrap_or_else(|e| panic!("{} {what}: {e}", peer.name))
}

/// The user properties both harnesses set on what they send.
const USER_PROPS: [&str; 3] = ["idx", "mode", "src"];

/// Compares what a harness reported sending with what our consumer received.
fn same_as_sent(what: &str, sent: &Event, got: &MessageExt) {
    let body = sent.body_bytes().expect("sent body");
    assert!(
        body == got.body[..],
        "{what}: body differs\n sent {}\n  got {}",
        hex(&body),
        hex(&got.body)
    );
    assert_eq!(sent.tags.as_deref(), got.tags(), "{what}: tags");
    assert_eq!(sent.keys.as_deref(), got.keys(), "{what}: keys");
    for p in USER_PROPS {
        assert_eq!(sent.prop(p), got.property(p), "{what}: property {p}");
    }
}

/// Compares a message we sent with what a harness reported receiving.
fn same_as_ours(what: &str, sent: &Message, got: &Event) {
    let body = got.body_bytes().expect("received body");
    assert!(
        body == sent.body[..],
        "{what}: body differs\n sent {}\n  got {}",
        hex(&sent.body),
        hex(&body)
    );
    assert_eq!(sent.tags(), got.tags.as_deref(), "{what}: tags");
    assert_eq!(sent.keys(), got.keys.as_deref(), "{what}: keys");
    for (k, v) in sent.properties.iter() {
        if k.chars().all(|c| c.is_ascii_lowercase()) {
            assert_eq!(Some(v), got.prop(k), "{what}: user property {k}");
        }
    }
}

fn idx_of(e: &Event) -> i64 {
    e.idx.expect("sent events carry idx")
}

/// Scenario 1: every producer mode of the peer (sync, async, oneway, batch, ordered, delay,
/// transaction with check-back), read back by our pull consumer and compared byte for byte.
pub async fn peer_producer_modes(peer: &Peer, c: &Cluster) {
    const COUNT: usize = 9;
    let modes = [
        "sync",
        "async",
        "oneway",
        "batch",
        "ordered",
        "delay",
        "transaction",
    ];
    for m in modes {
        c.create_topic(&format!("{}-{m}", peer.name), 4).await;
    }
    let ns = c.ns();
    let mut runs = Vec::new();
    for m in modes {
        let topic = format!("{}-{m}", peer.name);
        let group = format!("{}-pg-{m}", peer.name);
        let label = format!("{}-{m}", peer.name);
        // sync bodies exceed 4 KiB: the peer compresses them, we must hand back the original.
        let size = if m == "sync" { "5000" } else { "200" };
        let count = COUNT.to_string();
        let a = args(&[
            ("-ns", &ns),
            ("-group", &group),
            ("-topic", &topic),
            ("-mode", m),
            ("-count", &count),
            ("-label", &label),
            ("-size", size),
            ("-delay-level", "2"),
            ("-timeout", "90s"),
        ]);
        runs.push((m, topic, peer.run(&format!("produce {m}"), "produce", &a)));
    }
    for (m, topic, run) in runs {
        let what = format!("{} {m}", peer.name);
        let out = finished(peer, &what, run.finish(RUN_TIMEOUT).await);
        out.assert_success();
        let sent = out.of("sent");
        assert_eq!(sent.len(), COUNT, "{what}: sent events");
        for s in &sent {
            let want = match m {
                "oneway" => "ONEWAY",
                _ => "SEND_OK",
            };
            assert_eq!(s.status_text(), want, "{what}: {s:?}");
        }
        let expected: BTreeMap<i64, &Event> = sent
            .iter()
            .filter(|s| m != "transaction" || s.outcome.as_deref() != Some("rollback"))
            .map(|s| (idx_of(s), *s))
            .collect();
        if m == "transaction" {
            let checked: BTreeSet<String> = out
                .of("check")
                .iter()
                .filter_map(|e| e.prop("idx").map(str::to_string))
                .collect();
            let unknown: BTreeSet<String> = sent
                .iter()
                .filter(|s| s.outcome.as_deref() == Some("unknown"))
                .map(|s| idx_of(s).to_string())
                .collect();
            assert!(!unknown.is_empty(), "{what}: no unknown outcome was sent");
            assert_eq!(checked, unknown, "{what}: check-backs");
        }
        // Delayed and committed messages reach the topic later; wait until all arrived.
        let got = pull_until(c, &topic, expected.len(), Duration::from_secs(30)).await;
        let mut by_idx: BTreeMap<i64, &MessageExt> = BTreeMap::new();
        for g in &got {
            let idx: i64 = g
                .property("idx")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what}: message without idx: {g:?}"));
            assert!(by_idx.insert(idx, g).is_none(), "{what}: idx {idx} twice");
        }
        assert_eq!(
            by_idx.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{what}: which messages are in the topic"
        );
        for (idx, s) in &expected {
            let g = by_idx[idx];
            let what = format!("{what} idx {idx}");
            same_as_sent(&what, s, g);
            if matches!(m, "sync" | "async" | "ordered" | "delay" | "transaction") {
                assert_eq!(
                    s.msg_id.as_deref(),
                    Some(g.client_msg_id()),
                    "{what}: message id"
                );
            }
            if matches!(m, "sync" | "async" | "ordered") {
                assert_eq!(s.queue, Some(g.queue_id), "{what}: queue");
                assert_eq!(s.offset, Some(g.queue_offset), "{what}: offset");
            }
            if m == "delay" {
                assert!(
                    g.store_timestamp - g.born_timestamp >= 900,
                    "{what}: delivered {} ms after it was born, before its 1 s delay",
                    g.store_timestamp - g.born_timestamp
                );
            }
        }
        if m == "ordered" {
            // One sharding key per idx % 3: one queue per key, offsets rising with idx.
            let mut per_key: BTreeMap<i64, Vec<(i32, i64)>> = BTreeMap::new();
            for (idx, g) in &by_idx {
                per_key
                    .entry(idx % 3)
                    .or_default()
                    .push((g.queue_id, g.queue_offset));
            }
            for (k, v) in per_key {
                assert!(
                    v.windows(2).all(|w| w[0].0 == w[1].0 && w[0].1 < w[1].1),
                    "{what}: key {k} not in one queue in order: {v:?}"
                );
            }
        }
    }
}

/// The body of our `i`-th message: a readable prefix, then bytes cycling through all 256
/// values; every fifth is over 4 KiB so our producer compresses it.
fn rust_body(i: usize) -> Bytes {
    let mut b = format!("rust:{i}:").into_bytes();
    let n = if i.is_multiple_of(5) { 6000 } else { 300 };
    b.extend((0..n).map(|j| (i * 13 + j) as u8));
    Bytes::from(b)
}

fn rust_message(topic: &str, i: usize) -> Message {
    Message::builder(topic)
        .body(rust_body(i))
        .tag(if i.is_multiple_of(2) { "TagA" } else { "TagB" })
        .keys([format!("rust-{i}")])
        .property("idx", i.to_string())
        .property("src", "rust")
        .build()
        .expect("message")
}

/// Events of `kind` from `out`, keyed by the `idx` property; fails on duplicates when `unique`.
fn by_prop_idx<'a>(what: &str, evs: &[&'a Event], unique: bool) -> BTreeMap<usize, &'a Event> {
    let mut m = BTreeMap::new();
    for e in evs {
        let idx: usize = e
            .prop("idx")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: received without idx: {e:?}"));
        if m.insert(idx, *e).is_some() && unique {
            panic!("{what}: idx {idx} delivered twice");
        }
    }
    m
}

fn check_received(
    what: &str,
    sent: &BTreeMap<usize, Message>,
    want: &BTreeSet<usize>,
    got: &BTreeMap<usize, &Event>,
) {
    assert_eq!(
        got.keys().copied().collect::<BTreeSet<_>>(),
        *want,
        "{what}: which messages arrived"
    );
    for (i, e) in got {
        same_as_ours(&format!("{what} idx {i}"), &sent[i], e);
    }
}

/// Formats `ms` (epoch milliseconds, UTC) as `yyyyMMddHHmmss`, the consume-from-timestamp form.
fn timestamp_text(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Scenario 2: our producer → the peer's consumers. Push concurrent and orderly, clustering
/// with two members (rebalance), broadcasting with two members, a tag filter, an SQL92
/// filter, pull, lite pull with commit and seek, and consume from a timestamp (push and pull).
pub async fn rust_producer_to_peer_consumers(peer: &Peer, c: &Cluster) {
    const FIRST: usize = 12;
    const SECOND: usize = 8;
    const ALL: usize = FIRST + SECOND;
    let topic = format!("{}-fanout", peer.name);
    c.create_topic(&topic, 4).await;
    let ns = c.ns();
    let g = |s: &str| format!("{}-{s}", peer.name);
    let base = |group: &str| args(&[("-ns", &ns), ("-group", group), ("-topic", &topic)]);
    let with = |group: &str, extra: &[(&str, &str)]| {
        let mut a = base(group);
        a.extend(args(extra));
        a
    };
    let all = ALL.to_string();
    let tag_a = (0..ALL).filter(|i| i % 2 == 0).count().to_string();

    // Consumers start one at a time: many JVMs starting together on two cores see their
    // first NameServer requests time out.
    let concurrent = peer
        .start(
            "push concurrent",
            "push",
            &with(&g("concurrent"), &[("-expect", &all)]),
        )
        .await;
    let orderly = peer
        .start(
            "push orderly",
            "push",
            &with(&g("orderly"), &[("-expect", &all), ("-orderly", "true")]),
        )
        .await;
    let bc1 = peer
        .start(
            "broadcast 1",
            "push",
            &with(
                &g("bc"),
                &[
                    ("-expect", &all),
                    ("-model", "broadcasting"),
                    ("-instance", "bc1"),
                ],
            ),
        )
        .await;
    let bc2 = peer
        .start(
            "broadcast 2",
            "push",
            &with(
                &g("bc"),
                &[
                    ("-expect", &all),
                    ("-model", "broadcasting"),
                    ("-instance", "bc2"),
                ],
            ),
        )
        .await;
    let cl1 = peer
        .start(
            "cluster member 1",
            "push",
            &with(&g("members"), &[("-instance", "m1"), ("-timeout", "110s")]),
        )
        .await;
    let cl2 = peer
        .start(
            "cluster member 2",
            "push",
            &with(&g("members"), &[("-instance", "m2"), ("-timeout", "110s")]),
        )
        .await;
    let tags = peer
        .start(
            "tag filter",
            "push",
            &with(
                &g("tags"),
                &[("-expect", &tag_a), ("-sel", "TagA"), ("-linger", "1500ms")],
            ),
        )
        .await;
    // Numbers compared with a string property, BETWEEN, AND, TAGS as a property.
    let sql_want: BTreeSet<usize> = (0..ALL)
        .filter(|i| (3..=15).contains(i) && i % 2 == 0)
        .collect();
    let sql = peer
        .start(
            "sql filter",
            "push",
            &with(
                &g("sql"),
                &[
                    ("-sel-type", "sql"),
                    ("-sel", "idx BETWEEN 3 AND 15 AND TAGS = 'TagA'"),
                    ("-expect", &sql_want.len().to_string()),
                    ("-linger", "1500ms"),
                ],
            ),
        )
        .await;
    // Both members registered; the broker tells each about the other and they split the
    // queues before anything is sent: wait until their reported queues (`alloc`) cover every
    // queue once (a member whose first rebalance failed retries only after up to 20 s).
    let latest = |r: &HarnessRun| {
        r.events()
            .iter()
            .rev()
            .find(|e| e.ev == "alloc")
            .and_then(|e| e.queues.clone())
    };
    crate::eventually(START_TIMEOUT, || {
        let (Some(a), Some(b)) = (latest(&cl1), latest(&cl2)) else {
            return false;
        };
        let (a, b): (BTreeSet<i32>, BTreeSet<i32>) =
            (a.into_iter().collect(), b.into_iter().collect());
        !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.len() + b.len() == 4
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the two clustering members never split the 4 queues: {:?} / {:?}",
            latest(&cl1),
            latest(&cl2)
        )
    });

    let producer = c.rust_producer(&g("rust-producer")).await;
    let mut sent = BTreeMap::new();
    for i in 0..FIRST {
        let m = rust_message(&topic, i);
        producer.send(m.clone()).await.expect("send");
        sent.insert(i, m);
    }
    // Second batch strictly after a whole second boundary, for the timestamp consumers.
    let boundary = (now_ms() / 1000 + 1) * 1000;
    while now_ms() < boundary + 200 {
        sleep(Duration::from_millis(50)).await;
    }
    for i in FIRST..ALL {
        let m = rust_message(&topic, i);
        producer.send(m.clone()).await.expect("send");
        sent.insert(i, m);
    }
    producer.shutdown().await;
    let every: BTreeSet<usize> = (0..ALL).collect();
    let second: BTreeSet<usize> = (FIRST..ALL).collect();
    let second_n = SECOND.to_string();
    let ts_text = timestamp_text(boundary);
    let ts_ms = boundary.to_string();

    // A new group consuming from a timestamp: brokers (Apache's and ours) answer its
    // QUERY_CONSUMER_OFFSET with offset 0 while the queue's first message is still in memory
    // (Java's "first message still hot" rule), so a push consumer starts at 0 here; the Go,
    // Java 4.9 and 5.x clients all do. The timestamp itself is checked with pull below.
    let from_ts_n = &all;
    let from_ts = peer.run(
        "push from timestamp",
        "push",
        &with(
            &g("from-ts"),
            &[
                ("-expect", from_ts_n),
                ("-from", "timestamp"),
                ("-ts", &ts_text),
            ],
        ),
    );
    let pull = peer.run("pull", "pull", &with(&g("pull"), &[("-expect", &all)]));
    let pull_ts = peer.run(
        "pull from timestamp",
        "pull",
        &with(&g("pull-ts"), &[("-expect", &second_n), ("-ts", &ts_ms)]),
    );
    let seek_queue = sent_queue_with_messages(c, &topic).await.to_string();
    let poll = peer.run(
        "lite pull",
        "poll",
        &with(
            &g("poll"),
            &[("-expect", &all), ("-seek-queue", &seek_queue)],
        ),
    );

    let done = |what: &str, r: Result<Finished, HarnessError>| {
        let out = finished(peer, what, r);
        out.assert_success();
        out
    };
    for (what, run, unique) in [("concurrent", concurrent, true), ("orderly", orderly, true)] {
        let out = done(what, run.finish(RUN_TIMEOUT).await);
        let recv = out.of("recv");
        check_received(what, &sent, &every, &by_prop_idx(what, &recv, unique));
        if what == "orderly" {
            let mut per_queue: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
            for e in &recv {
                per_queue
                    .entry(e.queue.expect("queue"))
                    .or_default()
                    .push(e.offset.expect("offset"));
            }
            for (q, offs) in per_queue {
                assert!(
                    offs.windows(2).all(|w| w[0] < w[1]),
                    "orderly: queue {q} out of order: {offs:?}"
                );
            }
        }
    }
    for (what, run) in [("broadcast 1", bc1), ("broadcast 2", bc2)] {
        let out = done(what, run.finish(RUN_TIMEOUT).await);
        check_received(
            what,
            &sent,
            &every,
            &by_prop_idx(what, &out.of("recv"), true),
        );
    }
    let out = done("tag filter", tags.finish(RUN_TIMEOUT).await);
    let want_a: BTreeSet<usize> = (0..ALL).filter(|i| i % 2 == 0).collect();
    check_received(
        "tag filter",
        &sent,
        &want_a,
        &by_prop_idx("tag filter", &out.of("recv"), true),
    );

    // Clustering: the two members together got everything, each a part, no queue shared.
    crate::eventually(RUN_TIMEOUT, || {
        let n: BTreeSet<String> = [&cl1, &cl2]
            .iter()
            .flat_map(|r| r.events())
            .filter(|e| e.ev == "recv")
            .filter_map(|e| e.prop("idx").map(str::to_string))
            .collect();
        n.len() == ALL
    })
    .await
    .unwrap_or_else(|_| panic!("clustering members never received all {ALL} messages"));
    let m1 = finished(peer, "member 1", cl1.stop().await);
    let m2 = finished(peer, "member 2", cl2.stop().await);
    let r1 = by_prop_idx("member 1", &m1.of("recv"), false);
    let r2 = by_prop_idx("member 2", &m2.of("recv"), false);
    assert!(
        !r1.is_empty() && !r2.is_empty(),
        "clustering: one member got nothing ({} / {}): no rebalance across members",
        r1.len(),
        r2.len()
    );
    // A queue consumed by both members must have moved between them: each member owned it
    // at some point (its `alloc` reports), as a later rebalance may legally move a queue and
    // redeliver what was not committed yet.
    let q1: BTreeSet<i32> = m1.of("recv").iter().filter_map(|e| e.queue).collect();
    let q2: BTreeSet<i32> = m2.of("recv").iter().filter_map(|e| e.queue).collect();
    let allocs = |f: &Finished| -> Vec<Vec<i32>> {
        f.of("alloc")
            .iter()
            .filter_map(|e| e.queues.clone())
            .collect()
    };
    let owned = |f: &Finished| -> BTreeSet<i32> { allocs(f).into_iter().flatten().collect() };
    for q in q1.intersection(&q2) {
        assert!(
            owned(&m1).contains(q) && owned(&m2).contains(q),
            "clustering: both members consumed queue {q}, which did not move between them; \
             allocations {:?} / {:?}",
            allocs(&m1),
            allocs(&m2)
        );
    }
    for (m, qs) in [(&m1, &q1), (&m2, &q2)] {
        assert!(
            qs.is_subset(&owned(m)),
            "clustering: {} consumed queues {qs:?} but owned only {:?}",
            m.name,
            allocs(m)
        );
    }
    let mut union = r1.clone();
    union.extend(r2.iter().map(|(k, v)| (*k, *v)));
    check_received("clustering", &sent, &every, &union);

    let out = done("push from timestamp", from_ts.finish(RUN_TIMEOUT).await);
    let want_from_ts = &every;
    check_received(
        "push from timestamp",
        &sent,
        want_from_ts,
        &by_prop_idx("from ts", &out.of("recv"), true),
    );
    let out = done("pull", pull.finish(RUN_TIMEOUT).await);
    check_received(
        "pull",
        &sent,
        &every,
        &by_prop_idx("pull", &out.of("recv"), true),
    );
    let out = done("pull from timestamp", pull_ts.finish(RUN_TIMEOUT).await);
    check_received(
        "pull from timestamp",
        &sent,
        &second,
        &by_prop_idx("pull ts", &out.of("recv"), true),
    );

    let out = done("lite pull", poll.finish(RUN_TIMEOUT).await);
    let recv = out.of("recv");
    let phase1: Vec<&Event> = recv
        .iter()
        .copied()
        .filter(|e| e.phase == Some(1))
        .collect();
    let phase2: Vec<&Event> = recv
        .iter()
        .copied()
        .filter(|e| e.phase == Some(2))
        .collect();
    check_received(
        "lite pull",
        &sent,
        &every,
        &by_prop_idx("lite pull", &phase1, true),
    );
    let seek_q: i32 = seek_queue.parse().expect("queue id");
    let again = by_prop_idx("lite pull after seek", &phase2, true);
    let in_queue: BTreeSet<usize> = by_prop_idx("lite pull", &phase1, true)
        .iter()
        .filter(|(_, e)| e.queue == Some(seek_q))
        .map(|(i, _)| *i)
        .collect();
    check_received("lite pull after seek", &sent, &in_queue, &again);
    // Committed offsets: every queue at its end.
    let ends = queue_ends(c, &topic).await;
    for e in out.of("offset") {
        if e.kind.as_deref() == Some("committed") {
            let q = e.queue.expect("queue");
            assert_eq!(
                e.offset,
                ends.get(&q).copied(),
                "lite pull: committed offset of queue {q}"
            );
        }
    }

    // SQL92: exactly the messages the expression selects (mini-broker evaluates it).
    let out = done("sql filter", sql.finish(RUN_TIMEOUT).await);
    check_received(
        "sql filter",
        &sent,
        &sql_want,
        &by_prop_idx("sql filter", &out.of("recv"), true),
    );
}

/// Per queue of `topic`: how many messages it holds (its max offset).
async fn queue_ends(c: &Cluster, topic: &str) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for m in c.rust_pull_all(topic).await {
        let e = ends.entry(m.queue_id).or_insert(0);
        *e = (*e).max(m.queue_offset + 1);
    }
    ends
}

/// A queue of `topic` that holds messages.
async fn sent_queue_with_messages(c: &Cluster, topic: &str) -> i32 {
    *queue_ends(c, topic)
        .await
        .keys()
        .next()
        .expect("a queue with messages")
}

/// Scenario 3: retry and dead-letter queue. A concurrent peer consumer fails each message
/// twice (the broker redelivers through the retry topic); one fails always and, after its
/// maximum of one reconsume, the messages go to `%DLQ%group`, which we read back; an orderly
/// consumer fails each message once and retries locally.
pub async fn retry_and_dlq(peer: &Peer, c: &Cluster) {
    const N: usize = 4;
    let ns = c.ns();
    let topic_retry = format!("{}-retry", peer.name);
    let topic_dlq = format!("{}-dlq", peer.name);
    let topic_ord = format!("{}-ordretry", peer.name);
    for t in [&topic_retry, &topic_dlq, &topic_ord] {
        c.create_topic(t, 2).await;
    }
    let n = N.to_string();
    let retry_group = format!("{}-retry", peer.name);
    let dlq_group = format!("{}-dlq", peer.name);
    let ord_group = format!("{}-ordretry", peer.name);
    let retry = peer.run(
        "retry",
        "push",
        &args(&[
            ("-ns", &ns),
            ("-group", &retry_group),
            ("-topic", &topic_retry),
            ("-expect", &n),
            ("-fail-times", "2"),
        ]),
    );
    let dlq = peer.run(
        "dlq",
        "push",
        &args(&[
            ("-ns", &ns),
            ("-group", &dlq_group),
            ("-topic", &topic_dlq),
            ("-fail-times", "100"),
            ("-max-reconsume", "1"),
            ("-timeout", "110s"),
        ]),
    );
    let ord = peer.run(
        "orderly retry",
        "push",
        &args(&[
            ("-ns", &ns),
            ("-group", &ord_group),
            ("-topic", &topic_ord),
            ("-expect", &n),
            ("-fail-times", "1"),
            ("-orderly", "true"),
        ]),
    );
    for r in [&retry, &dlq, &ord] {
        r.started(START_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", r.name()));
    }
    let producer = c
        .rust_producer(&format!("{}-retry-producer", peer.name))
        .await;
    let mut sent = BTreeMap::new();
    for i in 0..N {
        for t in [&topic_retry, &topic_dlq, &topic_ord] {
            producer.send(rust_message(t, i)).await.expect("send");
        }
        sent.insert(i, rust_message(&topic_retry, i));
    }
    producer.shutdown().await;
    let every: BTreeSet<usize> = (0..N).collect();

    let out = finished(peer, "retry", retry.finish(RUN_TIMEOUT).await);
    out.assert_success();
    let recv = out.of("recv");
    for i in 0..N {
        let mut tries: Vec<(i32, String)> = recv
            .iter()
            .filter(|e| e.prop("idx") == Some(&i.to_string()))
            .map(|e| {
                (
                    e.reconsume_times.unwrap_or(-1),
                    e.result.clone().unwrap_or_default(),
                )
            })
            .collect();
        tries.sort();
        assert_eq!(
            tries,
            vec![
                (0, "RETRY_LATER".into()),
                (1, "RETRY_LATER".into()),
                (2, "SUCCESS".into())
            ],
            "retry: deliveries of idx {i}"
        );
    }
    let ok: Vec<&Event> = recv
        .iter()
        .copied()
        .filter(|e| e.result.as_deref() == Some("SUCCESS"))
        .collect();
    check_received(
        "retry (redelivered)",
        &sent,
        &every,
        &by_prop_idx("retry", &ok, true),
    );

    // Dead letters: read %DLQ%group with our consumer once all four got there.
    let dlq_topic = format!("%DLQ%{dlq_group}");
    let dead = pull_until(c, &dlq_topic, N, Duration::from_secs(60)).await;
    let out = finished(peer, "dlq", dlq.stop().await);
    let tries = out.of("recv");
    assert_eq!(
        dead.len(),
        N,
        "dead letters in {dlq_topic}; consumer saw {} deliveries",
        tries.len()
    );
    for d in &dead {
        let i: usize = d.property("idx").and_then(|v| v.parse().ok()).expect("idx");
        let m = rust_message(&topic_dlq, i);
        assert!(m.body[..] == d.body[..], "dlq idx {i}: body differs");
        assert_eq!(m.tags(), d.tags(), "dlq idx {i}: tags");
        assert_eq!(m.keys(), d.keys(), "dlq idx {i}: keys");
        let n = tries
            .iter()
            .filter(|e| e.prop("idx") == Some(&i.to_string()))
            .count();
        assert_eq!(
            n, 2,
            "dlq idx {i}: deliveries before the DLQ (max reconsume 1)"
        );
    }

    let out = finished(peer, "orderly retry", ord.finish(RUN_TIMEOUT).await);
    out.assert_success();
    let recv = out.of("recv");
    for i in 0..N {
        let results: Vec<String> = recv
            .iter()
            .filter(|e| e.prop("idx") == Some(&i.to_string()))
            .map(|e| e.result.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            results,
            ["SUSPEND", "SUCCESS"],
            "orderly retry: deliveries of idx {i}"
        );
    }
}

/// Scenario 4: request-reply. The peer's requester and the peer's replier through
/// mini-broker, and our requester against the peer's replier; replies are `reply:` + body.
pub async fn request_reply(peer: &Peer, c: &Cluster) {
    let ns = c.ns();
    let topic = format!("{}-request", peer.name);
    c.create_topic(&topic, 2).await;
    let group = format!("{}-replier", peer.name);
    let replier = peer
        .start(
            "replier",
            "push",
            &args(&[
                ("-ns", &ns),
                ("-group", &group),
                ("-topic", &topic),
                ("-reply", "true"),
                ("-timeout", "110s"),
            ]),
        )
        .await;
    let requester = peer.run(
        "requester",
        "produce",
        &args(&[
            ("-ns", &ns),
            ("-group", &format!("{}-requester", peer.name)),
            ("-topic", &topic),
            ("-mode", "request"),
            ("-count", "3"),
            // Longer than the Java client's 30 s heartbeat period: Java 5.x skips the heartbeat
            // that should follow its first rebalance when its 1 s scheduled heartbeat holds the
            // lock, so the broker (ours as Apache's) answers SUBSCRIPTION_NOT_LATEST to the
            // replier's pulls until the next periodic heartbeat, about 30 s later.
            ("-ttl", "45s"),
            ("-timeout", "90s"),
        ]),
    );
    let out = finished(peer, "requester", requester.finish(RUN_TIMEOUT).await);
    out.assert_success();
    let sent = out.of("sent");
    let replies = out.of("reply");
    assert_eq!(replies.len(), 3, "replies: {}", out.describe());
    for r in replies {
        let s = sent
            .iter()
            .find(|s| s.idx == r.idx)
            .unwrap_or_else(|| panic!("reply without request: {r:?}"));
        let mut want = b"reply:".to_vec();
        want.extend(s.body_bytes().expect("body"));
        assert_eq!(
            hex(&r.body_bytes().expect("reply body")),
            hex(&want),
            "reply to idx {:?}",
            r.idx
        );
    }

    let producer = c
        .rust_producer(&format!("{}-rust-requester", peer.name))
        .await;
    for i in 0..2 {
        let m = rust_message(&topic, i);
        let reply = producer
            .request(m.clone(), Duration::from_secs(20))
            .await
            .unwrap_or_else(|e| panic!("our request {i} to the {} replier: {e}", peer.name));
        let mut want = b"reply:".to_vec();
        want.extend_from_slice(&m.body);
        assert_eq!(hex(&reply.body), hex(&want), "reply to our request {i}");
    }
    producer.shutdown().await;
    let out = finished(peer, "replier", replier.stop().await);
    assert!(out.of("error").is_empty(), "replier: {}", out.describe());
}

/// A broker whose retention deletes at once (64 KiB commit-log segments, nothing reserved,
/// every hour a deletion hour, a pass every 100 ms), for [`peer_consumer_after_retention`].
pub fn fast_retention(cfg: &mut BrokerConfig) {
    cfg.commit_log_segment_size = 64 * 1024;
    cfg.max_message_size = 8 * 1024;
    cfg.file_reserved_time = 0.0;
    cfg.delete_when = (0..24).map(|h| h.to_string()).collect::<Vec<_>>().join(";");
    cfg.clean_resource_interval = 100;
    cfg.delete_commit_log_files_interval = 0;
    cfg.delete_consume_queue_files_interval = 0;
}

/// Retention deleted messages a group never consumed (broker from [`fast_retention`]): the
/// peer's push consumer, starting from the first offset, is answered PULL_OFFSET_MOVED to each
/// queue's minimum and must receive every message still stored, once, and nothing else.
pub async fn peer_consumer_after_retention(peer: &Peer, c: &Cluster) {
    let topic = format!("{}-retention", peer.name);
    c.create_topic(&topic, 2).await;
    let producer = Producer::builder()
        .name_server(&c.ns())
        .runtime(Arc::clone(&c.rt))
        .group("rust-retention-pg")
        .build()
        .expect("producer config");
    producer.start().await.expect("start");
    let pad = "p".repeat(1000);
    for i in 0..300 {
        producer
            .send(Message::new(topic.as_str(), format!("r{i}-{pad}")))
            .await
            .expect("send");
    }
    producer.shutdown().await;
    let store = c.store();
    crate::eventually(Duration::from_secs(30), || {
        store.min_offset(&topic, 0) > 0 && store.min_offset(&topic, 1) > 0
    })
    .await
    .expect("retention did not move the minimums");
    // Stop deleting so the minimums hold still while the peer consumes.
    let mut r = store.retention();
    r.file_reserved_time = Duration::from_secs(72 * 3600);
    store.set_retention(r).expect("retention settings");
    sleep(Duration::from_millis(300)).await;
    let want: BTreeSet<(i32, i64)> = [0, 1]
        .into_iter()
        .flat_map(|q| {
            (store.min_offset(&topic, q)..store.max_offset(&topic, q)).map(move |o| (q, o))
        })
        .collect();
    let expect = want.len().to_string();
    let group = format!("{}-retention-cg", peer.name);
    let out = peer
        .run(
            "push after retention",
            "push",
            &args(&[
                ("-ns", &c.ns()),
                ("-group", &group),
                ("-topic", &topic),
                ("-expect", &expect),
            ]),
        )
        .finish(RUN_TIMEOUT)
        .await;
    let out = finished(peer, "push after retention", out);
    out.assert_success();
    let got: Vec<(i32, i64)> = out
        .of("recv")
        .iter()
        .map(|e| (e.queue.expect("queue"), e.offset.expect("offset")))
        .collect();
    assert_eq!(
        got.len(),
        want.len(),
        "{}: duplicates or missing",
        peer.name
    );
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        want,
        "{}",
        peer.name
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_text_is_utc_civil_time() {
        assert_eq!(timestamp_text(0), "19700101000000");
        // 2026-12-07T11:16:00.999Z
        assert_eq!(timestamp_text(1_796_642_160_999), "20261207111600");
        // 2000-02-29T23:59:59Z
        assert_eq!(timestamp_text(951_868_799_000), "20000229235959");
    }
}
