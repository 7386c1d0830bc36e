//! Interop with the official Apache RocketMQ C++ client (PyPI `rocketmq` 0.4.4, driven through
//! `tests/interop/cpp_client.py`): each test starts its own mini NameServer and mini broker on
//! OS-chosen ports in-process, runs C++ producers and consumers (and, where said, our Rust
//! client) against them, and checks that every message arrives intact.
//!
//! The tests run in parallel on a small machine: every wait is bounded but generous, consumers
//! are waited for (`started`) before anything is produced, and nothing depends on a fixed sleep.
//! The first run creates the C++ client's venv (`pip install rocketmq==0.4.4`), see
//! [`rocketmq_it::cpp`].
//!
//! Notes on what the C++ client can show (found by the harness): properties are only readable by
//! name (`prop_keys`), bodies are cut at the first NUL byte (so bodies here are text), and a send
//! result's `msgId` is the message's `UNIQ_KEY`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_it::cpp::{
    CppClient, DriverEvent, DriverOutput, DriverRun, MessageModel, ProduceOptions, PullOptions,
    PushOptions, ReceivedMessage, SendMode, SendRecord,
};
use rocketmq_it::{eventually_some, init_tracing, ItError};
use rocketmq_rs_client::{
    ClientConfig, ConsumeContext, ConsumeResult, Message, MessageExt, MessageQueue, Producer,
    PushConsumer,
};
use rocketmq_rs_mini_broker::topic_config::{PERM_READ, PERM_WRITE};
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, BrokerHandle};
use rocketmq_rs_mini_namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use rocketmq_rs_remoting::protocol::body::TopicConfig;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};

/// Longest wait for a C++ client's `start()` (it resolves routes and registers first).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for deliveries once everything was sent.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole-run bound handed to each C++ driver.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);
/// User properties every consumer reports (the C API cannot list them).
const PROP_KEYS: [&str; 2] = ["mode", "idx"];

// ------------------------------------------------------------------------------------------
// Fixture

/// Runs one async test body on a fresh two-worker tokio runtime and reports its duration.
///
/// The venv is prepared before the runtime starts (it may block for minutes the first time).
fn run<F, Fut>(name: &str, body: F)
where
    F: FnOnce(CppClient, Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    init_tracing();
    let cpp = CppClient::get().unwrap_or_else(|e| panic!("{name}: C++ client setup: {e}"));
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio_rt.handle().clone()));
    let t0 = Instant::now();
    tokio_rt.block_on(body(cpp, rt));
    eprintln!("{name}: passed in {:.1} s", t0.elapsed().as_secs_f64());
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
}

/// A mini NameServer plus one mini broker registered with it.
struct Cluster {
    namesrv: NameServerHandle,
    broker: BrokerHandle,
    _store: tempfile::TempDir,
}

impl Cluster {
    async fn start(rt: &Arc<dyn Runtime>) -> Cluster {
        let namesrv = NameServer::start(
            NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().expect("addr")),
            Arc::clone(rt),
        )
        .await
        .expect("start the NameServer");
        let store = tempfile::Builder::new()
            .prefix("cpp-interop-store-")
            .tempdir()
            .expect("store dir");
        let mut cfg = BrokerConfig::for_test(store.path());
        cfg.namesrv_addrs = vec![namesrv.addr().to_string()];
        let broker = Broker::start(cfg, Arc::clone(rt))
            .await
            .expect("start the broker");
        Cluster {
            namesrv,
            broker,
            _store: store,
        }
    }

    /// The NameServer address clients are given.
    fn ns(&self) -> String {
        self.namesrv.addr().to_string()
    }

    /// Creates `topic` with `queues` read/write queues and registers it before returning, so
    /// consumers find its route on their first lookup.
    async fn create_topic(&self, topic: &str, queues: i32) {
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

    async fn shutdown(self) {
        self.broker.shutdown().await;
        self.namesrv.shutdown().await;
    }
}

/// The C++ client's log files under a driver's `$HOME` (last 32 KiB), for failure messages.
fn cpp_log(home: &Path) -> String {
    let dir = home.join("logs").join("rocketmq-cpp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).unwrap_or_default());
    }
    let start = all.len().saturating_sub(32 * 1024);
    String::from_utf8_lossy(&all[start..]).into_owned()
}

/// Unwraps a wait on a running driver, or fails with its error and the C++ client's log.
fn waited<T>(run: &DriverRun, what: &str, r: Result<T, ItError>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "{what}: {e}\nevents so far: {:?}\n--- C++ client log ---\n{}",
            run.events().iter().rev().take(10).collect::<Vec<_>>(),
            cpp_log(run.home())
        )
    })
}

/// A finished driver that must have done everything it was asked.
fn succeeded(what: &str, out: DriverOutput) -> DriverOutput {
    if out.is_success() {
        return out;
    }
    let log = out.cpp_log();
    let summary = format!("{:?}", out.summary());
    let errors = format!("{:?}", out.errors());
    let stderr = out.stderr.clone();
    panic!(
        "{what} failed: exit {:?}, summary {summary}, errors {errors}\nstderr:\n{stderr}\n\
         --- C++ client log ---\n{log}",
        out.exit_code
    );
}

/// Runs a C++ producer to completion; returns its send records.
async fn cpp_produce(cpp: &CppClient, opts: &ProduceOptions) -> Vec<SendRecord> {
    let what = format!("C++ producer ({:?}, {})", opts.mode, opts.common.group);
    let run = cpp.produce(opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = run.finish().await.expect("driver output");
    let out = succeeded(&what, out);
    let sends: Vec<SendRecord> = out.sends().into_iter().cloned().collect();
    let covered: usize = sends.iter().map(|s| s.indices.len().max(1)).sum::<usize>();
    assert_eq!(covered, opts.count, "{what}: sends {sends:?}");
    for s in &sends {
        let expected = if opts.mode == SendMode::Oneway {
            "ONEWAY"
        } else {
            "SEND_OK"
        };
        assert_eq!(s.status, expected, "{what}: {s:?}");
    }
    sends
}

/// Starts a C++ push consumer and waits until its `start()` returned.
async fn cpp_push(cpp: &CppClient, opts: &PushOptions) -> DriverRun {
    let what = format!("C++ push consumer {}", opts.common.group);
    let run = cpp.push(opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    let r = run.started(START_TIMEOUT).await;
    waited(&run, &format!("{what} start"), r);
    run
}

fn produce_opts(cluster: &Cluster, topic: &str, group: &str, count: usize) -> ProduceOptions {
    let mut o = ProduceOptions::new(cluster.ns(), topic, group, count);
    o.common.timeout = DRIVER_TIMEOUT;
    o
}

fn push_opts(cluster: &Cluster, topic: &str, group: &str, count: usize) -> PushOptions {
    let mut o = PushOptions::new(cluster.ns(), topic, group, count);
    o.common.timeout = DRIVER_TIMEOUT;
    o.prop_keys = PROP_KEYS.iter().map(|k| (*k).to_owned()).collect();
    o
}

/// Produce options for messages tagged, keyed and carrying `mode`/`idx` properties, with
/// bodies `"{mode}-{i}"`.
fn labelled(
    cluster: &Cluster,
    topic: &str,
    mode_name: &str,
    tag: &str,
    count: usize,
) -> ProduceOptions {
    let mut o = produce_opts(cluster, topic, &format!("PG_{topic}_{mode_name}"), count);
    o.body_prefix = Some(mode_name.to_owned());
    o.tag = Some(tag.to_owned());
    o.keys = Some(format!("{mode_name}-key-{{i}} alt-{{i}}"));
    o.props = vec![
        ("mode".into(), mode_name.to_owned()),
        ("idx".into(), "{i}".into()),
    ];
    o
}

/// Checks one received C++ message against what [`labelled`] sent for `(mode, index)`.
fn assert_labelled(m: &ReceivedMessage, topic: &str, mode_name: &str, tag: &str, index: usize) {
    let ctx = format!("{mode_name}-{index}: {m:?}");
    assert_eq!(m.topic, topic, "{ctx}");
    assert_eq!(m.body_encoding, "utf8", "{ctx}");
    assert_eq!(m.body, format!("{mode_name}-{index}"), "{ctx}");
    assert_eq!(m.tags.as_deref(), Some(tag), "{ctx}");
    assert_eq!(
        m.keys.as_deref(),
        Some(format!("{mode_name}-key-{index} alt-{index}").as_str()),
        "{ctx}"
    );
    assert_eq!(m.property("mode"), Some(mode_name), "{ctx}");
    assert_eq!(m.property("idx"), Some(index.to_string().as_str()), "{ctx}");
    assert!(
        m.property("UNIQ_KEY").is_some_and(|u| !u.is_empty()),
        "{ctx}"
    );
}

/// Messages by body; fails on a body delivered twice.
fn by_body<'a>(
    what: &str,
    msgs: impl IntoIterator<Item = &'a ReceivedMessage>,
) -> BTreeMap<String, &'a ReceivedMessage> {
    let mut map = BTreeMap::new();
    for m in msgs {
        if let Some(prev) = map.insert(m.body.clone(), m) {
            panic!("{what}: {:?} delivered twice:\n{prev:?}\n{m:?}", m.body);
        }
    }
    map
}

/// A Rust producer on `rt`, started.
async fn rust_producer(cluster: &Cluster, rt: &Arc<dyn Runtime>, group: &str) -> Producer {
    let p = Producer::builder()
        .name_server(&cluster.ns())
        .runtime(Arc::clone(rt))
        .group(group)
        .send_timeout(Duration::from_secs(10))
        .build()
        .expect("producer config");
    p.start().await.expect("start the Rust producer");
    p
}

/// Every delivery to a Rust push consumer, in order.
type Received = Arc<Mutex<Vec<MessageExt>>>;

/// A Rust push consumer (concurrent listener, `*`), started; its deliveries go to the result.
async fn rust_push(
    cluster: &Cluster,
    rt: &Arc<dyn Runtime>,
    topic: &str,
    group: &str,
) -> (PushConsumer, Received) {
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    let mut client = ClientConfig::with_name_server(&cluster.ns());
    client.runtime = Some(Arc::clone(rt));
    client.rebalance_interval = Duration::from_secs(2);
    client.heartbeat_interval = Duration::from_secs(2);
    client.persist_offset_interval = Duration::from_secs(1);
    let consumer = PushConsumer::builder()
        .client_config(client)
        .group(group)
        .subscribe(topic, "*")
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().expect("receipts").extend(msgs);
                ConsumeResult::Success
            }
        })
        .build()
        .expect("push consumer config");
    consumer
        .start()
        .await
        .expect("start the Rust push consumer");
    (consumer, received)
}

/// Waits until the Rust consumer owns exactly `n` queues of `topic`.
async fn rust_owns(consumer: &PushConsumer, topic: &str, n: usize) -> BTreeSet<i32> {
    eventually_some(START_TIMEOUT, || {
        let owned: BTreeSet<i32> = consumer
            .assigned_queues()
            .iter()
            .filter(|q| q.topic == topic)
            .map(|q| q.queue_id)
            .collect();
        (owned.len() == n).then_some(owned)
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the Rust consumer never owned {n} queues of {topic} (has {:?}): {e}",
            consumer.assigned_queues()
        )
    })
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

// ------------------------------------------------------------------------------------------
// C++ ↔ C++ through our NameServer and broker

/// C++ producer (sync, oneway, orderly, batch) → C++ push consumer (clustering, `*`, orderly
/// listener): every message arrives once with body, tags, keys and user properties intact, and
/// the orderly ones arrive in their queue in send order.
///
/// Traceability: issue "mini-namesrv" — the official C++ client resolves routes through
/// mini-namesrv, sends and consumes.
#[test]
fn cpp_client_routes_through_mini_namesrv() {
    run(
        "cpp_client_routes_through_mini_namesrv",
        |cpp, rt| async move {
            let cluster = Cluster::start(&rt).await;
            let topic = "ItCppRoutesTopic";
            cluster.create_topic(topic, 4).await;

            // (mode, tag, count); the consumer uses the orderly listener so that per-queue delivery
            // order is meaningful (it also exercises LOCK_BATCH_MQ).
            let plan: [(SendMode, &str, &str, usize); 4] = [
                (SendMode::Sync, "sync", "TagSync", 10),
                (SendMode::Oneway, "oneway", "TagOneway", 10),
                (SendMode::Orderly, "orderly", "TagOrderly", 16),
                (SendMode::Batch, "batch", "TagBatch", 12),
            ];
            let total: usize = plan.iter().map(|p| p.3).sum();
            let mut push = push_opts(&cluster, topic, "CG_ItCppRoutes", total);
            push.orderly = true;
            push.linger = Some(Duration::from_secs(1));
            let consumer = cpp_push(&cpp, &push).await;

            let mut records = HashMap::new();
            for (mode, name, tag, count) in plan {
                let mut o = labelled(&cluster, topic, name, tag, count);
                o.mode = mode;
                match mode {
                    SendMode::Orderly => o.queues = Some(4),
                    SendMode::Batch => o.batch_size = Some(4),
                    _ => {}
                }
                records.insert(name, cpp_produce(&cpp, &o).await);
            }

            let r = consumer.wait_messages(total, DELIVERY_TIMEOUT).await;
            waited(&consumer, "C++ push consumer deliveries", r);
            let out = succeeded(
                "C++ push consumer",
                consumer.finish().await.expect("output"),
            );
            let got = by_body("C++ push consumer", out.messages());
            assert_eq!(got.len(), total, "bodies: {:?}", got.keys());
            for (_, name, tag, count) in plan {
                for i in 0..count {
                    let m = got
                        .get(&format!("{name}-{i}"))
                        .unwrap_or_else(|| panic!("{name}-{i} never arrived"));
                    assert_labelled(m, topic, name, tag, i);
                    assert_eq!(m.status.as_deref(), Some("CONSUME_SUCCESS"));
                }
            }
            // A sync send's msgId is the UNIQ_KEY the consumer sees, and its offset the queue offset.
            for s in &records["sync"] {
                let m = got[&format!("sync-{}", s.index)];
                assert_eq!(
                    s.msg_id.as_deref(),
                    m.property("UNIQ_KEY"),
                    "{s:?} vs {m:?}"
                );
                assert_eq!(s.offset, Some(m.queue_offset), "{s:?} vs {m:?}");
            }
            // Orderly: each message went to the queue its key selected (one broker, so the client's
            // queue index is the queue id), and each queue delivered them in send order.
            let mut per_queue: BTreeMap<i32, Vec<(u64, i64, usize)>> = BTreeMap::new();
            for s in &records["orderly"] {
                assert_eq!(s.mq_count, Some(4), "{s:?}");
                let m = got[&format!("orderly-{}", s.index)];
                assert_eq!(Some(m.queue_id as u32), s.queue_index, "{s:?} vs {m:?}");
                assert_eq!(s.offset, Some(m.queue_offset), "{s:?} vs {m:?}");
                per_queue
                    .entry(m.queue_id)
                    .or_default()
                    .push((m.seq, m.queue_offset, s.index));
            }
            assert_eq!(per_queue.len(), 4, "orderly messages cover every queue");
            for (q, mut v) in per_queue {
                v.sort();
                let by_delivery: Vec<usize> = v.iter().map(|e| e.2).collect();
                let mut sorted = by_delivery.clone();
                sorted.sort();
                assert_eq!(by_delivery, sorted, "queue {q}: delivery order {v:?}");
                assert!(
                    v.windows(2).all(|w| w[0].1 < w[1].1),
                    "queue {q}: offsets {v:?}"
                );
            }
            cluster.shutdown().await;
        },
    );
}

/// A C++ push consumer subscribed with `TagA || TagB` receives every TagA and TagB message and
/// no TagC message. (The C++ client heartbeats `codeSet: [0, 0]` for this expression, so this
/// also checks that the broker hashes the tags itself.)
#[test]
fn cpp_push_tag_expression_filters() {
    run("cpp_push_tag_expression_filters", |cpp, rt| async move {
        let cluster = Cluster::start(&rt).await;
        let topic = "ItCppTagTopic";
        cluster.create_topic(topic, 4).await;
        let mut push = push_opts(&cluster, topic, "CG_ItCppTag", 20);
        push.expr = "TagA || TagB".into();
        push.linger = Some(Duration::from_secs(2));
        let consumer = cpp_push(&cpp, &push).await;

        // TagC between the wanted ones, so filtered messages sit inside every queue's range.
        for (name, tag) in [("a", "TagA"), ("c", "TagC"), ("b", "TagB"), ("c2", "TagC")] {
            cpp_produce(&cpp, &labelled(&cluster, topic, name, tag, 10)).await;
        }
        let r = consumer.wait_messages(20, DELIVERY_TIMEOUT).await;
        waited(&consumer, "TagA/TagB deliveries", r);
        let out = succeeded(
            "C++ push consumer",
            consumer.finish().await.expect("output"),
        );
        let got = by_body("C++ push consumer", out.messages());
        for m in got.values() {
            assert!(
                matches!(m.tags.as_deref(), Some("TagA" | "TagB")),
                "unexpected delivery {m:?}"
            );
        }
        for (name, tag) in [("a", "TagA"), ("b", "TagB")] {
            for i in 0..10 {
                let m = got
                    .get(&format!("{name}-{i}"))
                    .unwrap_or_else(|| panic!("{name}-{i} never arrived"));
                assert_labelled(m, topic, name, tag, i);
            }
        }
        assert_eq!(got.len(), 20);
        cluster.shutdown().await;
    });
}

/// Two C++ push consumers of one group in broadcasting mode each receive every message.
#[test]
fn cpp_push_broadcasting_each_instance_gets_everything() {
    run(
        "cpp_push_broadcasting_each_instance_gets_everything",
        |cpp, rt| async move {
            let cluster = Cluster::start(&rt).await;
            let topic = "ItCppBroadcastTopic";
            cluster.create_topic(topic, 4).await;
            let group = "CG_ItCppBroadcast";
            let mut consumers = Vec::new();
            for n in 1..=2 {
                let mut o = push_opts(&cluster, topic, group, 0);
                o.model = MessageModel::Broadcasting;
                o.instance = Some(format!("broadcast-{n}"));
                consumers.push(cpp_push(&cpp, &o).await);
            }

            // A broadcasting C++ consumer without a local offset starts at the queue's end, so
            // anything sent before it pulls a queue is legitimately missed. Warm up: send one
            // message to every queue per round until each consumer has had one from every queue
            // (from then on it sees everything later in those queues).
            let producer = rust_producer(&cluster, &rt, "PG_ItCppBroadcastWarm").await;
            let queues = producer
                .fetch_publish_queues(topic)
                .await
                .expect("publish queues");
            assert_eq!(queues.len(), 4, "{queues:?}");
            let warm_deadline = Instant::now() + START_TIMEOUT;
            let mut round = 0;
            loop {
                for q in &queues {
                    let body = format!("warm-{round}-{}", q.queue_id);
                    producer
                        .send_to_queue(Message::new(topic, body), q)
                        .await
                        .expect("warm-up send");
                }
                round += 1;
                rocketmq_it::sleep(Duration::from_millis(300)).await;
                let ready = consumers.iter().all(|c| {
                    let seen: BTreeSet<i32> = c
                        .messages()
                        .iter()
                        .filter(|m| m.body.starts_with("warm-"))
                        .map(|m| m.queue_id)
                        .collect();
                    seen.len() == queues.len()
                });
                if ready {
                    break;
                }
                assert!(
                Instant::now() < warm_deadline,
                "broadcast consumers never pulled every queue; warm-up seen: {:?}\n--- log ---\n{}",
                consumers.iter().map(|c| c.messages().len()).collect::<Vec<_>>(),
                cpp_log(consumers[0].home())
            );
            }
            producer.shutdown().await;

            cpp_produce(&cpp, &labelled(&cluster, topic, "bc", "TagB", 20)).await;
            for c in &consumers {
                let r = c
                .wait_for("every broadcast message", DELIVERY_TIMEOUT, |ev| {
                    // Runs under the driver's lock: read `ev`, never `c.messages()`.
                    let n = ev
                        .iter()
                        .filter(|e| matches!(e, DriverEvent::Message(m) if m.body.starts_with("bc-")))
                        .count();
                    (n >= 20).then_some(())
                })
                .await;
                waited(c, "broadcast deliveries", r);
            }
            for (n, c) in consumers.into_iter().enumerate() {
                c.stop();
                let out = c.finish().await.expect("output");
                assert_eq!(out.exit_code, Some(0), "consumer {n}: {:?}", out.errors());
                let got = by_body(
                    &format!("broadcast consumer {n}"),
                    out.messages()
                        .into_iter()
                        .filter(|m| m.body.starts_with("bc-")),
                );
                assert_eq!(got.len(), 20, "consumer {n}: {:?}", got.keys());
                for i in 0..20 {
                    assert_labelled(got[&format!("bc-{i}")], topic, "bc", "TagB", i);
                }
            }
            cluster.shutdown().await;
        },
    );
}

/// The C++ pull consumer reads back everything a C++ producer sent, from every queue.
#[test]
fn cpp_pull_consumer_reads_everything() {
    run("cpp_pull_consumer_reads_everything", |cpp, rt| async move {
        let cluster = Cluster::start(&rt).await;
        let topic = "ItCppPullTopic";
        cluster.create_topic(topic, 4).await;
        let sends = cpp_produce(&cpp, &labelled(&cluster, topic, "pull", "TagP", 24)).await;

        let mut o = PullOptions::new(cluster.ns(), topic, "CG_ItCppPull", 24);
        o.common.timeout = DRIVER_TIMEOUT;
        o.max_num = Some(5);
        o.prop_keys = PROP_KEYS.iter().map(|k| (*k).to_owned()).collect();
        let run = cpp.pull(&o).expect("start the pull consumer");
        let out = succeeded("C++ pull consumer", run.finish().await.expect("output"));
        let got = by_body("C++ pull consumer", out.messages());
        assert_eq!(got.len(), 24, "{:?}", got.keys());
        for s in &sends {
            let m = got[&format!("pull-{}", s.index)];
            assert_labelled(m, topic, "pull", "TagP", s.index);
            assert_eq!(s.msg_id.as_deref(), m.property("UNIQ_KEY"));
            assert_eq!(s.offset, Some(m.queue_offset));
        }
        // Every queue was read, from offset 0 to the end the broker reported.
        let queues: BTreeSet<i32> = got.values().map(|m| m.queue_id).collect();
        assert_eq!(queues.len(), 4, "{queues:?}");
        let mut max_by_queue = BTreeMap::new();
        for e in &out.events {
            if let DriverEvent::Pull(p) = e {
                assert_ne!(p.status, "OFFSET_ILLEGAL", "{p:?}");
                let slot = max_by_queue.entry(p.queue_id).or_insert(0);
                *slot = p.max_offset.max(*slot);
            }
        }
        let total: i64 = max_by_queue.values().sum();
        assert_eq!(total, 24, "max offsets per queue {max_by_queue:?}");
        cluster.shutdown().await;
    });
}

/// A C++ push consumer of a brand-new group (default `CONSUME_FROM_LAST_OFFSET`) on a young
/// topic consumes the messages that were already there, as with an Apache broker: with no
/// stored offset and a queue whose min offset is 0, QUERY_CONSUMER_OFFSET answers 0 instead of
/// QUERY_NOT_FOUND (docs/protocol/offsets.md §1, §4 "Consequence of §1"), so "last offset" only applies
/// once a queue has been truncated.
#[test]
fn cpp_push_new_group_on_young_topic_consumes_existing_messages() {
    run(
        "cpp_push_new_group_on_young_topic_consumes_existing_messages",
        |cpp, rt| async move {
            let cluster = Cluster::start(&rt).await;
            let topic = "ItCppFreshGroupTopic";
            cluster.create_topic(topic, 4).await;
            cpp_produce(&cpp, &labelled(&cluster, topic, "old", "TagOld", 20)).await;

            let consumer = cpp_push(&cpp, &push_opts(&cluster, topic, "CG_ItCppFresh", 25)).await;
            let r = consumer.wait_messages(20, DELIVERY_TIMEOUT).await;
            waited(&consumer, "the existing messages", r);
            // And new messages still follow.
            cpp_produce(&cpp, &labelled(&cluster, topic, "new", "TagNew", 5)).await;
            let out = succeeded(
                "C++ push consumer",
                consumer.finish().await.expect("output"),
            );
            let got = by_body("C++ push consumer", out.messages());
            assert_eq!(got.len(), 25, "{:?}", got.keys());
            for i in 0..20 {
                assert_labelled(got[&format!("old-{i}")], topic, "old", "TagOld", i);
            }
            for i in 0..5 {
                assert_labelled(got[&format!("new-{i}")], topic, "new", "TagNew", i);
            }
            // Each queue was consumed from offset 0.
            let mut first: BTreeMap<i32, i64> = BTreeMap::new();
            for m in got.values() {
                let e = first.entry(m.queue_id).or_insert(i64::MAX);
                *e = (*e).min(m.queue_offset);
            }
            assert!(first.values().all(|&o| o == 0), "first offsets {first:?}");
            cluster.shutdown().await;
        },
    );
}

// ------------------------------------------------------------------------------------------
// Our client ↔ the C++ client

/// Our Rust producer → C++ push consumer: tags, keys, user properties and bodies intact,
/// including zlib-compressed bodies over 4 KiB and a batch.
#[test]
fn rust_producer_to_cpp_push_consumer() {
    run("rust_producer_to_cpp_push_consumer", |cpp, rt| async move {
        let cluster = Cluster::start(&rt).await;
        let topic = "ItRustToCppTopic";
        cluster.create_topic(topic, 4).await;
        let mut push = push_opts(&cluster, topic, "CG_ItRustToCpp", 0);
        push.prop_keys.push("color".into());
        let consumer = cpp_push(&cpp, &push).await;

        let producer = rust_producer(&cluster, &rt, "PG_ItRustToCpp").await;
        let mut expected: BTreeMap<String, (String, String, String, Option<String>)> =
            BTreeMap::new();
        let message = |i: usize, body: String| {
            Message::builder(topic)
                .body(body)
                .tag("TagR")
                .keys([format!("rk-{i}"), format!("alt-{i}")])
                .property("color", format!("c-{i}"))
                .build()
                .expect("message")
        };
        for i in 0..10 {
            let body = format!("rust-{i}");
            let r = producer.send(message(i, body.clone())).await.expect("send");
            expected.insert(
                body,
                (
                    "TagR".into(),
                    format!("rk-{i} alt-{i}"),
                    format!("c-{i}"),
                    Some(r.msg_id),
                ),
            );
        }
        // Bodies over the 4 KiB threshold go out zlib-compressed (sysFlag bit 0).
        for i in 10..12 {
            let body = format!("big-{i}-{}", "y".repeat(6000));
            let r = producer
                .send(message(i, body.clone()))
                .await
                .expect("send big");
            expected.insert(
                body,
                (
                    "TagR".into(),
                    format!("rk-{i} alt-{i}"),
                    format!("c-{i}"),
                    Some(r.msg_id),
                ),
            );
        }
        let batch: Vec<Message> = (12..16)
            .map(|i| message(i, format!("rbatch-{i}")))
            .collect();
        producer.send_batch(batch).await.expect("send batch");
        for i in 12..16 {
            expected.insert(
                format!("rbatch-{i}"),
                (
                    "TagR".into(),
                    format!("rk-{i} alt-{i}"),
                    format!("c-{i}"),
                    None,
                ),
            );
        }
        producer.shutdown().await;

        let r = consumer
            .wait_messages(expected.len(), DELIVERY_TIMEOUT)
            .await;
        waited(&consumer, "the Rust producer's messages", r);
        consumer.stop();
        let out = consumer.finish().await.expect("output");
        assert_eq!(out.exit_code, Some(0), "{:?}", out.errors());
        let got = by_body("C++ push consumer", out.messages());
        assert_eq!(got.len(), expected.len(), "{:?}", got.keys());
        for (body, (tag, keys, color, uniq)) in &expected {
            let m = got
                .get(body)
                .unwrap_or_else(|| panic!("{} never arrived", &body[..body.len().min(20)]));
            assert_eq!(m.topic, topic);
            assert_eq!(m.body_len, body.len(), "{m:?}");
            assert_eq!(m.tags.as_deref(), Some(tag.as_str()), "{m:?}");
            assert_eq!(m.keys.as_deref(), Some(keys.as_str()), "{m:?}");
            assert_eq!(m.property("color"), Some(color.as_str()), "{m:?}");
            if let Some(u) = uniq {
                assert_eq!(m.property("UNIQ_KEY"), Some(u.as_str()), "{m:?}");
            }
        }
        cluster.shutdown().await;
    });
}

/// C++ producer (sync, orderly, batch, compressed) → our push consumer: every message intact.
#[test]
fn cpp_producer_to_rust_push_consumer() {
    run("cpp_producer_to_rust_push_consumer", |cpp, rt| async move {
        let cluster = Cluster::start(&rt).await;
        let topic = "ItCppToRustTopic";
        cluster.create_topic(topic, 4).await;
        let (consumer, received) = rust_push(&cluster, &rt, topic, "CG_ItCppToRust").await;
        rust_owns(&consumer, topic, 4).await;

        let mut records = BTreeMap::new();
        let mut plan = Vec::new();
        for (mode, name, tag, count) in [
            (SendMode::Sync, "sync", "TagSync", 10usize),
            (SendMode::Orderly, "orderly", "TagOrderly", 8),
            (SendMode::Batch, "batch", "TagBatch", 8),
            (SendMode::Sync, "big", "TagBig", 2),
        ] {
            let mut o = labelled(&cluster, topic, name, tag, count);
            o.mode = mode;
            match name {
                "orderly" => o.queues = Some(4),
                "batch" => o.batch_size = Some(4),
                // Over the C++ client's 4096-byte threshold: sent zlib-compressed.
                "big" => o.body_size = Some(6000),
                _ => {}
            }
            records.insert(name, cpp_produce(&cpp, &o).await);
            plan.push((o, name, tag));
        }
        let total: usize = plan.iter().map(|p| p.0.count).sum();
        eventually_some(DELIVERY_TIMEOUT, || {
            (received.lock().expect("receipts").len() >= total).then_some(())
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "our consumer got {} of {total}: {e}",
                received.lock().expect("receipts").len()
            )
        });
        // Linger a little to catch duplicates.
        rocketmq_it::sleep(Duration::from_millis(500)).await;
        consumer.shutdown().await.expect("consumer shutdown");

        let received = received.lock().expect("receipts").clone();
        let mut got: BTreeMap<String, &MessageExt> = BTreeMap::new();
        for m in &received {
            let body = text(&m.body);
            if let Some(prev) = got.insert(body.clone(), m) {
                panic!("{body:.40} delivered twice: {prev:?} / {m:?}");
            }
        }
        assert_eq!(got.len(), total);
        for (o, name, tag) in &plan {
            let sends = &records[name];
            for i in 0..o.count {
                let mut body = o.body_of(i);
                if let Some(size) = o.body_size {
                    body.push_str(&"x".repeat(size - body.len()));
                }
                let m = got
                    .get(&body)
                    .unwrap_or_else(|| panic!("{name}-{i} never arrived"));
                let ctx = format!("{name}-{i}: {m:?}");
                assert_eq!(m.topic, topic, "{ctx}");
                assert_eq!(m.tags(), Some(*tag), "{ctx}");
                assert_eq!(
                    m.keys(),
                    Some(format!("{name}-key-{i} alt-{i}").as_str()),
                    "{ctx}"
                );
                assert_eq!(m.property("mode"), Some(*name), "{ctx}");
                assert_eq!(m.property("idx"), Some(i.to_string().as_str()), "{ctx}");
                if let Some(s) = sends.iter().find(|s| s.index == i && s.indices.is_empty()) {
                    assert_eq!(s.msg_id.as_deref(), m.property("UNIQ_KEY"), "{ctx}");
                    assert_eq!(s.offset, Some(m.queue_offset), "{ctx}");
                    if let Some(q) = s.queue_index {
                        assert_eq!(q as i32, m.queue_id, "{ctx}");
                    }
                }
            }
        }
        cluster.shutdown().await;
    });
}

/// Our push consumer and a C++ push consumer in one clustering group: once the group has
/// rebalanced, the queues are split between them without overlap and together they receive
/// every message exactly once.
#[test]
fn rust_and_cpp_push_consumers_share_a_group() {
    run(
        "rust_and_cpp_push_consumers_share_a_group",
        |cpp, rt| async move {
            let cluster = Cluster::start(&rt).await;
            let topic = "ItMixedGroupTopic";
            let group = "CG_ItMixedGroup";
            let queues = 8usize;
            cluster.create_topic(topic, queues as i32).await;

            let (rust, rust_got) = rust_push(&cluster, &rt, topic, group).await;
            rust_owns(&rust, topic, queues).await;
            let cpp_consumer = cpp_push(&cpp, &push_opts(&cluster, topic, group, 0)).await;

            // First wave, one message per queue per round, until the group has settled: our
            // consumer owns half the queues and the C++ consumer has received a message sent after
            // that from each of the other half.
            let producer = rust_producer(&cluster, &rt, "PG_ItMixedGroup").await;
            let mqs: Vec<MessageQueue> = producer
                .fetch_publish_queues(topic)
                .await
                .expect("publish queues");
            assert_eq!(mqs.len(), queues);
            let deadline = Instant::now() + START_TIMEOUT;
            let mut round = 0;
            let rust_half = loop {
                let owned: BTreeSet<i32> = rust
                    .assigned_queues()
                    .iter()
                    .filter(|q| q.topic == topic)
                    .map(|q| q.queue_id)
                    .collect();
                let marker = format!("warm-{round}-");
                for q in &mqs {
                    producer
                        .send_to_queue(Message::new(topic, format!("{marker}{}", q.queue_id)), q)
                        .await
                        .expect("first-wave send");
                }
                rocketmq_it::sleep(Duration::from_millis(500)).await;
                if owned.len() == queues / 2 {
                    let cpp_seen: BTreeSet<i32> = cpp_consumer
                        .messages()
                        .iter()
                        .filter(|m| m.body.starts_with(&marker))
                        .map(|m| m.queue_id)
                        .collect();
                    let rest: BTreeSet<i32> =
                        (0..queues as i32).filter(|q| !owned.contains(q)).collect();
                    let still_owned: BTreeSet<i32> = rust
                        .assigned_queues()
                        .iter()
                        .filter(|q| q.topic == topic)
                        .map(|q| q.queue_id)
                        .collect();
                    if cpp_seen == rest && still_owned == owned {
                        break owned;
                    }
                }
                round += 1;
                assert!(
                    Instant::now() < deadline,
                    "the group never settled: ours {:?}, C++ got {} messages\n--- C++ log ---\n{}",
                    owned,
                    cpp_consumer.messages().len(),
                    cpp_log(cpp_consumer.home())
                );
            };

            // The measured wave: 5 messages per queue.
            let per_queue = 5;
            for k in 0..per_queue {
                for q in &mqs {
                    producer
                        .send_to_queue(Message::new(topic, format!("m-{}-{k}", q.queue_id)), q)
                        .await
                        .expect("measured send");
                }
            }
            producer.shutdown().await;
            let total = per_queue * queues;
            let measured = |b: &str| b.starts_with("m-");
            eventually_some(DELIVERY_TIMEOUT, || {
                let ours = rust_got
                    .lock()
                    .expect("receipts")
                    .iter()
                    .filter(|m| measured(&text(&m.body)))
                    .count();
                let theirs = cpp_consumer
                    .messages()
                    .iter()
                    .filter(|m| measured(&m.body))
                    .count();
                (ours + theirs >= total).then_some(())
            })
            .await
            .unwrap_or_else(|e| panic!("the measured wave did not arrive: {e}"));
            rocketmq_it::sleep(Duration::from_secs(1)).await;

            cpp_consumer.stop();
            let out = cpp_consumer.finish().await.expect("output");
            rust.shutdown().await.expect("consumer shutdown");
            assert_eq!(out.exit_code, Some(0), "{:?}", out.errors());

            let ours: Vec<(String, i32)> = rust_got
                .lock()
                .expect("receipts")
                .iter()
                .map(|m| (text(&m.body), m.queue_id))
                .filter(|(b, _)| measured(b))
                .collect();
            let theirs: Vec<(String, i32)> = out
                .messages()
                .iter()
                .map(|m| (m.body.clone(), m.queue_id))
                .filter(|(b, _)| measured(b))
                .collect();
            let our_queues: BTreeSet<i32> = ours.iter().map(|m| m.1).collect();
            let their_queues: BTreeSet<i32> = theirs.iter().map(|m| m.1).collect();
            assert_eq!(our_queues, rust_half, "ours {ours:?}");
            assert!(
                our_queues.is_disjoint(&their_queues),
                "both consumed queues {:?}",
                our_queues.intersection(&their_queues).collect::<Vec<_>>()
            );
            let mut all = BTreeMap::new();
            for (body, q) in ours.iter().chain(theirs.iter()) {
                assert!(
                    all.insert(body.clone(), *q).is_none(),
                    "{body} delivered twice"
                );
            }
            assert_eq!(all.len(), total, "union {:?}", all.keys());
            for (body, q) in &all {
                assert!(
                    body.starts_with(&format!("m-{q}-")),
                    "{body} came from queue {q}"
                );
            }
            cluster.shutdown().await;
        },
    );
}
