//! Master/slave replication and multi-group clusters with the real `mini-namesrv` /
//! `mini-broker` processes (so that a broker can be `kill -9`ed) and this project's client:
//!
//! 1. `SYNC_MASTER` + `SLAVE`: kill -9 the master after N acknowledged sends; the slave's
//!    commit log equals the master's byte for byte and a consumer reading the slave gets all N.
//! 3. Slave restart and master restart mid-stream: the slave's log is the master's, no gap, no
//!    duplicate.
//! 4. Two broker groups (each master + slave): one master is killed while a producer keeps
//!    sending; no error burst is longer than one send timeout and a clustering push consumer
//!    gets every acknowledged message.
//!
//! (2, ASYNC_MASTER lag, and 5, SLAVE_NOT_AVAILABLE / slave refusal, run in-process in
//! `mini-broker/tests/ha_cluster.rs`.) Each scenario prints a `CLUSTER <name>:` line with its
//! figures (`-- --nocapture`). Everything listens on 127.0.0.1 with OS-chosen ports.

#[path = "chaos/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::{
    ClientConfig, Message, MessageExt, Producer, PullConsumer, PullStatus, SendStatus,
};
use rocketmq_rs_mini_broker::store::MessageStore;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::message::decode_messages;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::util::MutexExt;

use support::procs::{BrokerProc, BrokerSpec, NamesrvProc};

/// The scenarios kill processes and measure times: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SEGMENT: u64 = 1 << 20;
const MAX_MSG: usize = 64 * 1024;
const SEND_TIMEOUT: Duration = Duration::from_secs(3);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock_unpoisoned()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runtime() -> Arc<dyn Runtime> {
    Arc::new(TokioRuntime::try_current().expect("inside tokio"))
}

/// A port the OS considers free now (the HA port must survive a master restart, so it is
/// fixed up front rather than chosen at each start).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn master(ns: SocketAddr, dir: &Path, name: &str, role: &str) -> (BrokerProc, u16) {
    let ha = free_port();
    let mut spec = BrokerSpec::new(ns, &dir.join(format!("{name}-m")), "async", name);
    spec.extra_json = Some(format!(
        r#"{{"brokerRole":"{role}","haListenAddr":"127.0.0.1:{ha}","commitLogSegmentSize":{SEGMENT},"maxMessageSize":{MAX_MSG},"syncReplicaTimeoutMs":3000}}"#
    ));
    (BrokerProc::start(spec), ha)
}

fn slave(ns: SocketAddr, dir: &Path, name: &str, m: &BrokerProc, ha: u16) -> BrokerProc {
    let mut spec = BrokerSpec::new(ns, &dir.join(format!("{name}-s")), "async", name);
    spec.id = 1;
    spec.extra_json = Some(format!(
        r#"{{"brokerRole":"SLAVE","brokerId":1,"haMasterAddress":"127.0.0.1:{ha}","masterAddr":"{}","slaveMetadataSyncIntervalMs":500,"commitLogSegmentSize":{SEGMENT},"maxMessageSize":{MAX_MSG}}}"#,
        m.addr
    ));
    BrokerProc::start(spec)
}

async fn create_topic(broker: SocketAddr, topic: &str, queues: i32) {
    support::admin::create_topic(broker, topic, queues, false).await
}

fn client_cfg(ns: SocketAddr) -> ClientConfig {
    {
        let mut c = ClientConfig::default();
        c.namesrv_addrs = vec![ns.to_string()];
        c.route_refresh_interval = Duration::from_secs(1);
        c.heartbeat_interval = Duration::from_secs(1);
        c.rebalance_interval = Duration::from_secs(1);
        c.persist_offset_interval = Duration::from_millis(500);
        c
    }
}

async fn producer(ns: SocketAddr, group: &str) -> Producer {
    let p = Producer::builder()
        .name_server(&ns.to_string())
        .group(group)
        .send_timeout(SEND_TIMEOUT)
        .runtime(runtime())
        .route_refresh_interval(Duration::from_secs(1))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    p
}

fn msg(topic: &str, key: &str) -> Message {
    let mut m = Message::new(topic, format!("body of {key} {}", "p".repeat(200)));
    m.set_keys([key]);
    m
}

/// Sends until one send is fully acknowledged (the slave is connected and caught up).
async fn until_send_ok(p: &Producer, topic: &str, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut acked = Vec::new();
    for n in 0.. {
        assert!(Instant::now() < deadline, "no SEND_OK within 30 s");
        let key = format!("{prefix}-{n}");
        if let Ok(r) = p.send(msg(topic, &key)).await {
            if r.status == SendStatus::SendOk {
                acked.push(key);
                return acked;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

fn open_store(dir: &Path) -> MessageStore {
    let mut c = BrokerConfig::for_test(dir);
    c.commit_log_segment_size = SEGMENT;
    c.max_message_size = MAX_MSG;
    MessageStore::open(c.store_config()).expect("open store")
}

/// Compares the commit logs of two stopped brokers over the slave's extent; returns
/// `(master end, slave end)`.
fn compare_logs(master_dir: &Path, slave_dir: &Path) -> (i64, i64) {
    let m = open_store(master_dir);
    let s = open_store(slave_dir);
    let (me, se) = (m.commit_log_max_offset(), s.commit_log_max_offset());
    assert!(se <= me, "slave log ({se}) longer than the master's ({me})");
    let mut from = 0;
    while from < se {
        let a = m.read_commit_log(from, 1 << 20).unwrap();
        let b = s.read_commit_log(from, 1 << 20).unwrap();
        assert!(!b.is_empty(), "slave log unreadable at {from}");
        let n = a.len().min(b.len());
        assert_eq!(
            a[..n],
            b[..n],
            "commit logs differ in [{from}, {})",
            from + n as i64
        );
        from += n as i64;
    }
    m.shutdown();
    s.shutdown();
    (me, se)
}

/// Every message key in a stopped broker's queues of `topic`, with its count.
fn keys_in_store(dir: &Path, topic: &str, queues: i32) -> HashMap<String, usize> {
    let s = open_store(dir);
    let mut out = HashMap::new();
    for q in 0..queues {
        let mut off = 0;
        loop {
            let r = s.get_messages(topic, q, off, 64, usize::MAX, None).unwrap();
            if r.messages.is_empty() {
                break;
            }
            for b in &r.messages {
                for m in decode_messages(b.clone()).unwrap() {
                    *out.entry(m.keys().unwrap_or("-").to_string()).or_insert(0) += 1;
                }
            }
            off = r.next_begin_offset;
        }
    }
    s.shutdown();
    out
}

/// Pulls every queue of `topic` from the beginning through the NameServer's route (the
/// master is gone: the client falls back to the slave). Retries until `want` is covered.
async fn pull_all(ns: SocketAddr, topic: &str, want: &HashSet<String>) -> HashSet<String> {
    let c = PullConsumer::builder()
        .client_config(client_cfg(ns))
        .group("cluster-pull")
        .build()
        .unwrap();
    c.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = HashSet::new();
    let mut errors = 0;
    let mut last_error = String::new();
    while !want.is_subset(&got) {
        assert!(
            Instant::now() < deadline,
            "consumer got {} of {} (errors {errors}, last: {last_error})",
            got.intersection(want).count(),
            want.len()
        );
        let mqs = match c.fetch_subscribe_queues(topic).await {
            Ok(m) => m,
            Err(e) => {
                errors += 1;
                last_error = e.to_string();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for mq in mqs {
            let mut off = 0;
            loop {
                match c.pull(&mq, "*", off, 32).await {
                    Ok(r) if r.status == PullStatus::Found => {
                        got.extend(
                            r.messages
                                .iter()
                                .map(|m| m.keys().unwrap_or("-").to_string()),
                        );
                        off = r.next_begin_offset;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        errors += 1;
                        last_error = e.to_string();
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
    }
    c.shutdown().await;
    got
}

#[test]
fn sync_master_killed_slave_has_every_acknowledged_message() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let (mut m, ha) = master(ns.addr, dir.path(), "broker-a", "SYNC_MASTER");
    let mut s = slave(ns.addr, dir.path(), "broker-a", &m, ha);
    let rt = tokio_rt();
    const N: usize = 300;
    let acked: Vec<String> = rt.block_on(async {
        create_topic(m.addr, "HaKill", 4).await;
        let p = producer(ns.addr, "ha-kill-p").await;
        let mut acked = until_send_ok(&p, "HaKill", "warm").await;
        let t = Instant::now();
        let mut other = 0;
        while acked.len() < N + 1 {
            let key = format!("k-{}", acked.len());
            match p.send(msg("HaKill", &key)).await {
                Ok(r) if r.status == SendStatus::SendOk => acked.push(key),
                _ => other += 1,
            }
        }
        println!(
            "CLUSTER sync_kill: {} SYNC_MASTER sends acknowledged in {:?} ({other} not SEND_OK)",
            acked.len(),
            t.elapsed()
        );
        p.shutdown().await;
        acked
    });
    // The slave copies topic configs every slaveMetadataSyncIntervalMs (500 ms here; Apache's
    // SlaveSynchronize every 60 s): a topic created moments before the master dies is unknown
    // to the slave, which then answers TOPIC_NOT_EXIST although it holds the data (Apache
    // behaves the same). Once the sends are fast that window can cover the whole run, so wait
    // until the slave's topic table has the topic before the kill: this test is about
    // acknowledged data.
    rt.block_on(async {
        rocketmq_it::eventually_async(Duration::from_secs(30), || {
            support::admin::topic_known(s.addr, "HaKill")
        })
        .await
        .expect("slave learns topic HaKill from its master");
    });
    m.kill9();
    let want: HashSet<String> = acked.iter().cloned().collect();
    let t = Instant::now();
    let got = rt.block_on(pull_all(ns.addr, "HaKill", &want));
    println!(
        "CLUSTER sync_kill: consumer read all {} acknowledged messages from the slave {:?} after the kill",
        want.len(),
        t.elapsed()
    );
    s.stop();
    let (me, se) = compare_logs(
        &dir.path().join("broker-a-m"),
        &dir.path().join("broker-a-s"),
    );
    println!("CLUSTER sync_kill: master log end {me}, slave log end {se}, equal bytes over the slave's extent");
    assert!(got.is_superset(&want));
    let keys = keys_in_store(&dir.path().join("broker-a-s"), "HaKill", 4);
    for k in &want {
        assert_eq!(keys.get(k), Some(&1), "key {k} on the slave");
    }
}

#[test]
fn slave_and_master_restarts_leave_no_gap_and_no_duplicate() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let (mut m, ha) = master(ns.addr, dir.path(), "broker-r", "SYNC_MASTER");
    let mut s = slave(ns.addr, dir.path(), "broker-r", &m, ha);
    let rt = tokio_rt();
    let p = rt.block_on(async {
        create_topic(m.addr, "HaRestart", 4).await;
        let p = producer(ns.addr, "ha-restart-p").await;
        until_send_ok(&p, "HaRestart", "warm").await;
        p
    });
    // The producer runs on the runtime while this thread restarts processes.
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let task = {
        let (p, stop, stats) = (p.clone(), Arc::clone(&stop), Arc::clone(&stats));
        rt.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                let key = format!("r-{n}");
                n += 1;
                let label = match p.send(msg("HaRestart", &key)).await {
                    Ok(r) => format!("{:?}", r.status),
                    Err(_) => "error".to_string(),
                };
                *stats.lock().unwrap().entry(label).or_insert(0) += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    s.restart();
    std::thread::sleep(Duration::from_secs(3));
    m.restart();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Release);
    rt.block_on(task).unwrap();
    // A final acknowledged send: everything before it is on the slave.
    rt.block_on(async {
        until_send_ok(&p, "HaRestart", "final").await;
        p.shutdown().await;
    });
    println!(
        "CLUSTER restarts: send outcomes {:?}",
        stats.lock().unwrap()
    );
    s.stop();
    m.stop();
    let (me, se) = compare_logs(
        &dir.path().join("broker-r-m"),
        &dir.path().join("broker-r-s"),
    );
    assert_eq!(me, se, "the slave has the master's whole log");
    let mk = keys_in_store(&dir.path().join("broker-r-m"), "HaRestart", 4);
    let sk = keys_in_store(&dir.path().join("broker-r-s"), "HaRestart", 4);
    assert_eq!(mk, sk, "same messages in the consume queues");
    let dups = sk.values().filter(|&&c| c > 1).count();
    println!(
        "CLUSTER restarts: log end {se} bytes identical on both, {} messages, {dups} keys stored twice (producer retries)",
        sk.values().sum::<usize>()
    );
    assert!(
        stats.lock().unwrap().get("SendOk").copied().unwrap_or(0) > 100,
        "traffic flowed"
    );
}

#[test]
fn two_groups_survive_a_master_kill() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let (mut ma, ha_a) = master(ns.addr, dir.path(), "broker-a", "SYNC_MASTER");
    let _sa = slave(ns.addr, dir.path(), "broker-a", &ma, ha_a);
    let (mb, ha_b) = master(ns.addr, dir.path(), "broker-b", "SYNC_MASTER");
    let _sb = slave(ns.addr, dir.path(), "broker-b", &mb, ha_b);
    let rt = tokio_rt();
    let received: Arc<Mutex<HashSet<String>>> = Arc::default();
    let p = rt.block_on(async {
        create_topic(ma.addr, "HaTwo", 4).await;
        create_topic(mb.addr, "HaTwo", 4).await;
        let p = producer(ns.addr, "ha-two-p").await;
        // Both groups replicate before the clock starts.
        until_send_ok(&p, "HaTwo", "warm").await;
        p
    });
    let stop = Arc::new(AtomicBool::new(false));
    // (time since start, ok) per send, and the keys acknowledged.
    let log: Arc<Mutex<Vec<(Duration, bool)>>> = Arc::default();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let t0 = Instant::now();
    let task = {
        let (p, stop, log, acked) = (
            p.clone(),
            Arc::clone(&stop),
            Arc::clone(&log),
            Arc::clone(&acked),
        );
        rt.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                let key = format!("t-{n}");
                n += 1;
                let ok = match p.send(msg("HaTwo", &key)).await {
                    Ok(r) if r.status == SendStatus::SendOk => {
                        acked.lock().unwrap().push(key);
                        true
                    }
                    _ => false,
                };
                log.lock().unwrap().push((t0.elapsed(), ok));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    let killed_at = t0.elapsed();
    ma.kill9();
    std::thread::sleep(Duration::from_secs(7));
    stop.store(true, Ordering::Release);
    rt.block_on(task).unwrap();
    // Longest stretch without a successful send, from the first failure to the next success.
    let log = log.lock().unwrap().clone();
    let (mut longest, mut fail_start, mut failures) = (Duration::ZERO, None, 0);
    for &(at, ok) in &log {
        if ok {
            if let Some(s) = fail_start.take() {
                longest = longest.max(at - s);
            }
        } else {
            failures += 1;
            fail_start.get_or_insert(at);
        }
    }
    if let Some(s) = fail_start {
        longest = longest.max(log.last().unwrap().0 - s);
    }
    let want: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    // The consumer group starts now, with broker-a's master gone: broker-a's queues are read
    // (offsets included) from its slave.
    let t = Instant::now();
    let consumer = rt.block_on(async {
        let rec = Arc::clone(&received);
        let consumer = PushConsumer::builder()
            .client_config(client_cfg(ns.addr))
            .group("ha-two-c")
            .subscribe("HaTwo", "*")
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let mut r = rec.lock().unwrap();
                for m in &msgs {
                    r.insert(m.keys().unwrap_or("-").to_string());
                }
                async { ConsumeResult::Success }
            })
            .build()
            .unwrap();
        consumer.start().await.unwrap();
        consumer
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let missing = want.difference(&received.lock().unwrap()).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumer is missing {missing} of {} acknowledged messages",
            want.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "CLUSTER two_groups: {} sends, {failures} failed, {} acknowledged; master of broker-a killed at {killed_at:?}; longest error burst {longest:?}; consumer had every acknowledged message {:?} after the producer stopped",
        log.len(),
        want.len(),
        t.elapsed()
    );
    assert!(longest < SEND_TIMEOUT, "error burst {longest:?}");
    rt.block_on(async {
        consumer.shutdown().await.ok();
        p.shutdown().await;
    });
}
