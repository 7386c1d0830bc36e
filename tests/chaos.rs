//! Chaos scenarios against the real `mini-namesrv` / `mini-broker` processes and our client:
//! faults (kill -9 + restart, SIGSTOP/SIGCONT, a TCP fault proxy, consumer kill) while a
//! producer sends and consumers consume; a history of every send and delivery is then checked
//! (lost, duplicates, order, offset uniqueness, recovery time; see `chaos/history.rs`).
//!
//! Short form (CI): `cargo test -p rocketmq-it --test chaos` (each scenario 10–20 s of
//! traffic; they run one at a time). Soak form: `ROCKETMQ_CHAOS_SOAK_SECS=600 cargo test -p
//! rocketmq-it --test chaos -- --nocapture` makes every scenario run that long, repeating its
//! faults. Each scenario prints its figures on a `CHAOS <name>:` line (`--nocapture`).
//!
//! Everything listens on 127.0.0.1 (OS-chosen ports) and every process and task is stopped
//! when its owner drops.

#[path = "chaos/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client::producer::selector::SelectByHash;
use rocketmq_client::{Message, Producer};
use rocketmq_it::ChildGuard;
use rocketmq_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_remoting::protocol::header::{CreateTopicRequestHeader, TopicFilterType};
use rocketmq_remoting::protocol::RemotingCommand;
use rocketmq_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_remoting::transport::{RemotingClient, TransportConfig};

use support::history::{queue_label, History, Outcome, Report};
use support::procs::{BrokerProc, BrokerSpec, NamesrvProc};
use support::proxy::Proxy;

/// Scenarios are timing-sensitive: run them one at a time even under the parallel harness.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
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

/// Offsets a consumer process persists this often (the uncommitted window).
const PERSIST_MS: u64 = 1000;

/// Creates `topic` on a broker (which then re-registers with its NameServer).
async fn create_topic(broker: SocketAddr, topic: &str, queues: i32, order: bool) {
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_sys_flag: Some(0),
        order,
        attributes: None,
        force: false,
        bname: None,
    };
    let req = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(&header);
    let resp = client
        .invoke(&broker.to_string(), req, Duration::from_secs(5))
        .await
        .expect("create topic");
    assert_eq!(resp.code, ResponseCode::SUCCESS, "{resp:?}");
    client.shutdown();
}

/// Max offsets of `topic`'s queues on a broker (diagnostics).
async fn max_offsets(broker: SocketAddr, topic: &str, queues: i32) -> Vec<String> {
    use rocketmq_remoting::protocol::header::{
        GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    };
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let mut out = Vec::new();
    for q in 0..queues {
        let header = GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id: q,
            committed: true,
            bname: None,
        };
        let req = RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&header);
        out.push(
            match client
                .invoke(&broker.to_string(), req, Duration::from_secs(3))
                .await
            {
                Ok(r) if r.code == ResponseCode::SUCCESS => r
                    .decode_header::<GetMaxOffsetResponseHeader>()
                    .map(|h| h.offset.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                Ok(r) => format!("code {} {:?}", r.code, r.remark),
                Err(e) => e.to_string(),
            },
        );
    }
    client.shutdown();
    out
}

/// The NameServer's route of `topic`, as JSON text (diagnostics).
async fn route_text(namesrv: SocketAddr, topic: &str) -> String {
    use rocketmq_remoting::protocol::header::GetRouteInfoRequestHeader;
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC)
        .with_header(&GetRouteInfoRequestHeader::new(topic));
    let out = match client
        .invoke(&namesrv.to_string(), req, Duration::from_secs(3))
        .await
    {
        Ok(r) => format!("code {} {}", r.code, String::from_utf8_lossy(&r.body)),
        Err(e) => e.to_string(),
    };
    client.shutdown();
    out
}

async fn producer(namesrv: SocketAddr, group: &str, timeout: Duration) -> Producer {
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
async fn wait_route(p: &Producer, topic: &str, queues: usize) {
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
struct ConsumerProc {
    name: String,
    guard: Option<ChildGuard>,
    stdin: Option<ChildStdin>,
}

impl ConsumerProc {
    fn start(
        name: &str,
        namesrv: SocketAddr,
        group: &str,
        topic: &str,
        orderly: bool,
        h: &Arc<History>,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaos-consumer"));
        cmd.arg(namesrv.to_string())
            .arg(group)
            .arg(topic)
            .arg(if orderly { "orderly" } else { "concurrent" })
            .arg(PERSIST_MS.to_string())
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
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "READY" {
                    let _ = tx.send(());
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
        }
    }

    /// `kill -9`: no offset commit, no unregistration.
    fn kill9(&mut self) {
        self.stdin.take();
        if let Some(mut g) = self.guard.take() {
            g.kill().unwrap();
        }
    }

    /// Clean shutdown (stdin EOF), bounded.
    fn stop(&mut self) {
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
async fn send_loop(
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
fn settle(h: &History, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !h.all_acked_delivered() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1500));
}

fn print(name: &str, r: &Report, extra: &str) {
    println!(
        "CHAOS {name}: {r} {extra} (soak={:?})",
        support::soak().map(|d| d.as_secs())
    );
}

/// Fault instants: every `period` from `first` until `dur - tail` (once in the short form).
fn fault_times(dur: Duration, first: Duration, period: Duration, tail: Duration) -> Vec<Duration> {
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

struct Cluster {
    ns: NamesrvProc,
    broker: BrokerProc,
    _dir: tempfile::TempDir,
}

fn cluster(flush: &'static str, extra_json: Option<&str>) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let mut spec = BrokerSpec::new(ns.addr, &dir.path().join("store-a"), flush, "broker-a");
    spec.extra_json = extra_json.map(str::to_string);
    let broker = BrokerProc::start(spec);
    Cluster {
        ns,
        broker,
        _dir: dir,
    }
}

/// Runs `send` on the runtime while `faults` runs on this thread's scope.
fn with_faults<T: Send>(
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

fn sleep_until(t0: Instant, at: Duration) {
    let now = t0.elapsed();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Sync flush + broker kill -9 and restart: no acknowledged message may be lost.
#[test]
fn sync_flush_broker_kill_loses_no_acknowledged_message() {
    let _s = serial();
    let rt = tokio_rt();
    let mut c = cluster("sync", None);
    let topic = "ChaosSyncKill";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(12));
    let p = rt.block_on(async {
        create_topic(c.broker.addr, topic, 4, false).await;
        let p = producer(c.ns.addr, "chaos_pg_sync", Duration::from_secs(3)).await;
        wait_route(&p, topic, 4).await;
        p
    });
    let mut consumer = ConsumerProc::start("c1", c.ns.addr, "chaos_cg_sync", topic, false, &h);
    let t0 = Instant::now();
    let until = t0 + dur;
    let broker = &mut c.broker;
    let hh = h.clone();
    let sent = with_faults(
        &rt,
        send_loop(&p, &h, topic, "sync", until, None),
        move || {
            for at in fault_times(
                dur,
                Duration::from_secs(4),
                Duration::from_secs(15),
                Duration::from_secs(5),
            ) {
                sleep_until(t0, at);
                hh.fault("broker kill -9");
                broker.kill9();
                std::thread::sleep(Duration::from_millis(500));
                broker.restart();
            }
        },
    );
    settle(&h, Duration::from_secs(60));
    consumer.stop();
    rt.block_on(p.shutdown());
    let r = h.check();
    print("sync_flush_broker_kill", &r, &format!("sent_calls={sent}"));
    assert!(r.acknowledged > 100, "{r}");
    assert_eq!(r.lost, 0, "acknowledged messages lost: {r}");
    assert_eq!(r.offset_conflicts, 0, "{r}");
    assert_eq!(r.acked_more_than_once, 0, "{r}");
    assert!(r.max_recovery().is_some(), "never recovered: {r}");
}

/// Async flush + broker kill -9: any loss is reported and lies within the unflushed window
/// (acknowledged shortly before the kill).
#[test]
fn async_flush_broker_kill_loss_stays_in_unflushed_window() {
    let _s = serial();
    let rt = tokio_rt();
    let mut c = cluster("async", None);
    let topic = "ChaosAsyncKill";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(12));
    let p = rt.block_on(async {
        create_topic(c.broker.addr, topic, 4, false).await;
        let p = producer(c.ns.addr, "chaos_pg_async", Duration::from_secs(3)).await;
        wait_route(&p, topic, 4).await;
        p
    });
    let mut consumer = ConsumerProc::start("c1", c.ns.addr, "chaos_cg_async", topic, false, &h);
    let t0 = Instant::now();
    let kills = Arc::new(Mutex::new(Vec::new()));
    let broker = &mut c.broker;
    let hh = h.clone();
    let k2 = kills.clone();
    with_faults(
        &rt,
        send_loop(&p, &h, topic, "async", t0 + dur, None),
        move || {
            for at in fault_times(
                dur,
                Duration::from_secs(4),
                Duration::from_secs(15),
                Duration::from_secs(5),
            ) {
                sleep_until(t0, at);
                k2.lock().unwrap().push(hh.fault("broker kill -9"));
                broker.kill9();
                std::thread::sleep(Duration::from_millis(500));
                broker.restart();
            }
        },
    );
    settle(&h, Duration::from_secs(60));
    consumer.stop();
    rt.block_on(p.shutdown());
    let r = h.check();
    // The broker's async flush runs every flushIntervalMs (500 ms default); allow 2 s.
    let window = Duration::from_secs(2);
    let delivered: HashSet<String> = h.deliveries().into_iter().map(|d| d.key).collect();
    let kills = kills.lock().unwrap().clone();
    let mut outside = Vec::new();
    for s in h.sends().iter().filter(|s| s.outcome == Outcome::Ok) {
        if !delivered.contains(&s.key)
            && !kills
                .iter()
                .any(|k| s.end <= *k && k.saturating_duration_since(s.end) <= window)
        {
            outside.push(s.key.clone());
        }
    }
    print(
        "async_flush_broker_kill",
        &r,
        &format!("lost_outside_window={}", outside.len()),
    );
    assert!(r.acknowledged > 100, "{r}");
    assert!(
        outside.is_empty(),
        "lost outside the unflushed window: {outside:?} {r}"
    );
    assert_eq!(r.offset_conflicts, 0, "{r}");
}

/// Broker restart: a running push consumer resumes within 5 s, without being restarted.
#[test]
fn push_consumer_resumes_after_broker_restart() {
    let _s = serial();
    let rt = tokio_rt();
    let mut c = cluster("sync", None);
    let topic = "ChaosResume";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(12));
    let p = rt.block_on(async {
        create_topic(c.broker.addr, topic, 4, false).await;
        let p = producer(c.ns.addr, "chaos_pg_resume", Duration::from_secs(3)).await;
        wait_route(&p, topic, 4).await;
        p
    });
    let mut consumer = ConsumerProc::start("c1", c.ns.addr, "chaos_cg_resume", topic, false, &h);
    let t0 = Instant::now();
    let ready = Arc::new(Mutex::new(Vec::new()));
    let broker = &mut c.broker;
    let hh = h.clone();
    let r2 = ready.clone();
    with_faults(
        &rt,
        send_loop(&p, &h, topic, "resume", t0 + dur, None),
        move || {
            for at in fault_times(
                dur,
                Duration::from_secs(4),
                Duration::from_secs(15),
                Duration::from_secs(8),
            ) {
                sleep_until(t0, at);
                hh.fault("broker kill -9 + restart");
                broker.kill9();
                std::thread::sleep(Duration::from_millis(500));
                broker.restart();
                r2.lock().unwrap().push(Instant::now());
            }
        },
    );
    settle(&h, Duration::from_secs(60));
    consumer.stop();
    rt.block_on(p.shutdown());
    let r = h.check();
    // Resume time: broker ready again -> first delivery of a message sent after that.
    let sends = h.sends();
    let start_of: HashMap<&str, Instant> =
        sends.iter().map(|s| (s.key.as_str(), s.start)).collect();
    let deliveries = h.deliveries();
    let mut worst = Duration::ZERO;
    for &t in ready.lock().unwrap().iter() {
        let first = deliveries
            .iter()
            .filter(|d| start_of.get(d.key.as_str()).is_some_and(|s| *s >= t))
            .map(|d| d.at)
            .min()
            .expect("no delivery after the broker restart");
        worst = worst.max(first.saturating_duration_since(t));
    }
    print(
        "broker_restart_consumer_resume",
        &r,
        &format!("resume={:.2}s", worst.as_secs_f64()),
    );
    assert_eq!(r.lost, 0, "{r}");
    assert!(worst <= Duration::from_secs(5), "resumed after {worst:?}");
}

/// One of three consumers is killed (-9): nothing is lost, and duplicates appear only on the
/// queues it held, for messages it got within the uncommitted window before dying.
#[test]
fn consumer_kill_in_group_of_three_duplicates_only_uncommitted_window() {
    let _s = serial();
    let rt = tokio_rt();
    let c = cluster("sync", None);
    let topic = "ChaosGroupKill";
    let group = "chaos_cg_group";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(14));
    let p = rt.block_on(async {
        create_topic(c.broker.addr, topic, 6, false).await;
        let p = producer(c.ns.addr, "chaos_pg_group", Duration::from_secs(3)).await;
        wait_route(&p, topic, 6).await;
        p
    });
    let mut consumers: Vec<ConsumerProc> = (0..3)
        .map(|i| ConsumerProc::start(&format!("m{i}"), c.ns.addr, group, topic, false, &h))
        .collect();
    // Let the three members settle their assignment before traffic starts.
    std::thread::sleep(Duration::from_secs(5));
    let t0 = Instant::now();
    let kill_at = Arc::new(Mutex::new(Vec::new()));
    let k2 = kill_at.clone();
    let hh = h.clone();
    let victims: Vec<&mut ConsumerProc> = consumers.iter_mut().take(2).collect();
    let soak = support::soak().is_some();
    with_faults(
        &rt,
        send_loop(&p, &h, topic, "grp", t0 + dur, None),
        move || {
            // Short form: kill m0 once. Soak: kill m0, later m1 (one member stays).
            for (i, v) in victims.into_iter().enumerate() {
                if i == 1 && !soak {
                    break;
                }
                sleep_until(t0, dur / 3 * (i as u32 + 1));
                k2.lock()
                    .unwrap()
                    .push((v.name.clone(), hh.fault("consumer kill -9")));
                v.kill9();
            }
        },
    );
    settle(&h, Duration::from_secs(90));
    for c in &mut consumers {
        c.stop();
    }
    rt.block_on(p.shutdown());
    let r = h.check();
    // Every duplicate is on a queue that changed owner because of a kill (the killed member's
    // queues, and queues the survivors re-balanced among themselves), for a message its previous
    // owner got within the uncommitted window (persist interval + slack) before the kill.
    let window = Duration::from_millis(PERSIST_MS) + Duration::from_secs(2);
    let kills = kill_at.lock().unwrap().clone();
    let mut seen: HashMap<String, (String, String, Instant)> = HashMap::new();
    let mut bad = Vec::new();
    let mut moved_dups = 0usize;
    for d in h.deliveries() {
        match seen.get(&d.key) {
            None => {
                seen.insert(d.key.clone(), (d.consumer.clone(), d.queue.clone(), d.at));
            }
            Some((who, q, at)) => {
                let moved = *who != d.consumer && *q == d.queue;
                let in_window = kills
                    .iter()
                    .any(|(_, k)| at <= k && k.saturating_duration_since(*at) <= window);
                if moved && in_window {
                    moved_dups += 1;
                } else if bad.len() < 10 {
                    bad.push(format!(
                        "{} first by {who} on {q}, again by {} on {}",
                        d.key, d.consumer, d.queue
                    ));
                }
            }
        }
    }
    print(
        "consumer_kill_group_of_3",
        &r,
        &format!(
            "dups_on_moved_queues_in_window={moved_dups} dups_outside_window={}",
            bad.len()
        ),
    );
    assert_eq!(r.lost, 0, "{r}");
    assert!(
        bad.is_empty(),
        "duplicates outside the uncommitted window: {bad:?} {r}"
    );
}

/// Orderly consumption across a consumer kill + restart and a broker kill + restart: per
/// sharding key, acknowledged sends arrive in order.
#[test]
fn orderly_consumption_keeps_order_across_restarts() {
    let _s = serial();
    let rt = tokio_rt();
    // Locks of a killed consumer expire quickly so that the survivor can take its queues.
    let mut c = cluster("sync", Some(r#"{"rebalanceLockMaxLiveTimeMs": 3000}"#));
    let topic = "ChaosOrderly";
    let group = "chaos_cg_orderly";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(16));
    let p = rt.block_on(async {
        create_topic(c.broker.addr, topic, 4, true).await;
        let p = producer(c.ns.addr, "chaos_pg_orderly", Duration::from_secs(3)).await;
        wait_route(&p, topic, 4).await;
        p
    });
    let ns = c.ns.addr;
    let mut a = ConsumerProc::start("oa", ns, group, topic, true, &h);
    let mut b = ConsumerProc::start("ob", ns, group, topic, true, &h);
    std::thread::sleep(Duration::from_secs(3));
    let t0 = Instant::now();
    let hh = h.clone();
    let broker = &mut c.broker;
    let hist = h.clone();
    let restarted = Arc::new(Mutex::new(None));
    let r2 = restarted.clone();
    with_faults(
        &rt,
        send_loop(&p, &h, topic, "ord", t0 + dur, Some(16)),
        move || {
            let mut round = 0u32;
            for at in fault_times(
                dur,
                Duration::from_secs(4),
                Duration::from_secs(20),
                Duration::from_secs(8),
            ) {
                sleep_until(t0, at);
                hh.fault("consumer kill -9");
                a.kill9();
                std::thread::sleep(Duration::from_secs(1));
                round += 1;
                a = ConsumerProc::start(&format!("oa{round}"), ns, group, topic, true, &hist);
                sleep_until(t0, at + Duration::from_secs(4));
                hh.fault("broker kill -9");
                broker.kill9();
                std::thread::sleep(Duration::from_millis(500));
                broker.restart();
            }
            *r2.lock().unwrap() = Some(a);
        },
    );
    settle(&h, Duration::from_secs(90));
    if let Some(mut a) = restarted.lock().unwrap().take() {
        a.stop();
    }
    b.stop();
    rt.block_on(p.shutdown());
    let r = h.check();
    print("orderly_across_restarts", &r, "");
    assert!(r.sharding_keys >= 16, "{r}");
    assert_eq!(r.order_violations, 0, "{r}");
    assert_eq!(r.lost, 0, "{r}");
}

/// A frozen broker (SIGSTOP): sends fail within their timeout, and succeed again soon after
/// SIGCONT.
#[test]
fn frozen_broker_sends_fail_within_timeout_and_recover() {
    let _s = serial();
    let rt = tokio_rt();
    let mut c = cluster("sync", None);
    let topic = "ChaosFrozen";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(12));
    let timeout = Duration::from_secs(1);
    let p = rt.block_on(async {
        create_topic(c.broker.addr, topic, 4, false).await;
        let p = producer(c.ns.addr, "chaos_pg_frozen", timeout).await;
        wait_route(&p, topic, 4).await;
        p
    });
    let mut consumer = ConsumerProc::start("c1", c.ns.addr, "chaos_cg_frozen", topic, false, &h);
    let t0 = Instant::now();
    let broker = &mut c.broker;
    let hh = h.clone();
    with_faults(
        &rt,
        send_loop(&p, &h, topic, "frz", t0 + dur, None),
        move || {
            for at in fault_times(
                dur,
                Duration::from_secs(3),
                Duration::from_secs(15),
                Duration::from_secs(8),
            ) {
                sleep_until(t0, at);
                hh.fault("broker SIGSTOP 4s");
                broker.freeze();
                std::thread::sleep(Duration::from_secs(4));
                broker.thaw();
            }
        },
    );
    settle(&h, Duration::from_secs(60));
    consumer.stop();
    rt.block_on(p.shutdown());
    let r = h.check();
    let slowest = h
        .sends()
        .iter()
        .map(|s| s.end - s.start)
        .max()
        .unwrap_or_default();
    print(
        "frozen_broker",
        &r,
        &format!("slowest_send={:.2}s", slowest.as_secs_f64()),
    );
    assert!(
        r.failed + r.unknown > 0,
        "the freeze caused no failure: {r}"
    );
    assert!(
        slowest <= timeout + Duration::from_millis(1500),
        "a send took {slowest:?}"
    );
    let rec = r.max_recovery().expect("recovered");
    // Recovery counts from the first failure, which is up to one timeout into the 4 s freeze.
    assert!(
        rec <= Duration::from_secs(4) + Duration::from_secs(5),
        "{r}"
    );
    assert_eq!(r.lost, 0, "{r}");
}

/// Async sends (callbacks) complete exactly once, within their timeout, under every fault:
/// connection drops, black hole, latency (through the fault proxy), SIGSTOP, kill -9 + restart.
#[test]
fn async_sends_complete_exactly_once_under_every_fault() {
    let _s = serial();
    let rt = tokio_rt();
    let mut c = cluster("sync", None);
    let topic = "ChaosAsyncOnce";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(22));
    let timeout = Duration::from_secs(2);
    let (ns_proxy, broker_proxy) = rt.block_on(async {
        create_topic(c.broker.addr, topic, 4, false).await;
        let bp = Proxy::start(c.broker.addr).await;
        let np = Proxy::start(c.ns.addr).await;
        // Route data from the NameServer names the broker proxy instead of the broker.
        np.add_rewrite(&c.broker.addr.to_string(), &bp.addr.to_string());
        (np, bp)
    });
    let p = rt.block_on(async {
        let p = producer(ns_proxy.addr, "chaos_pg_once", timeout).await;
        wait_route(&p, topic, 4).await;
        p
    });
    let mut consumer = ConsumerProc::start("c1", c.ns.addr, "chaos_cg_once", topic, false, &h);
    let calls: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let submitted = Arc::new(AtomicU32::new(0));
    let late = Arc::new(AtomicU32::new(0));
    let t0 = Instant::now();
    let broker = &mut c.broker;
    let hh = h.clone();
    let bp = &broker_proxy;
    let send = {
        let (h, calls, submitted, late, p) = (
            h.clone(),
            calls.clone(),
            submitted.clone(),
            late.clone(),
            p.clone(),
        );
        async move {
            let mut n = 0u32;
            while t0.elapsed() < dur {
                let key = format!("once-{n}");
                let mut msg = Message::new(topic, format!("body {n}"));
                msg.set_keys([key.as_str()]);
                let (h2, calls2, late2, k2) = (h.clone(), calls.clone(), late.clone(), key.clone());
                let start = Instant::now();
                let r = p.send_with_callback(msg, move |res| {
                    if start.elapsed() > timeout + Duration::from_secs(2) {
                        late2.fetch_add(1, Ordering::Relaxed);
                    }
                    h2.record_send(&k2, None, start, &res);
                    *calls2.lock().unwrap().entry(k2).or_default() += 1;
                });
                if r.is_ok() {
                    submitted.fetch_add(1, Ordering::Relaxed);
                    calls.lock().unwrap().entry(key).or_default();
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    with_faults(&rt, send, move || {
        let step = Duration::from_secs(3);
        let mut at = Duration::from_secs(2);
        let mut i = 0usize;
        while at + step < dur || i < 5 {
            sleep_until(t0, at);
            match i % 5 {
                0 => {
                    hh.fault("proxy drop connections");
                    bp.drop_connections();
                }
                1 => {
                    hh.fault("proxy black hole 2s");
                    bp.set_blackhole(true);
                    std::thread::sleep(Duration::from_secs(2));
                    bp.set_blackhole(false);
                    bp.drop_connections();
                }
                2 => {
                    hh.fault("proxy latency 300ms for 2s");
                    bp.set_latency(Duration::from_millis(300));
                    std::thread::sleep(Duration::from_secs(2));
                    bp.set_latency(Duration::ZERO);
                }
                3 => {
                    hh.fault("broker SIGSTOP 2s");
                    broker.freeze();
                    std::thread::sleep(Duration::from_secs(2));
                    broker.thaw();
                }
                _ => {
                    hh.fault("broker kill -9 + restart");
                    broker.kill9();
                    std::thread::sleep(Duration::from_millis(500));
                    broker.restart();
                }
            }
            i += 1;
            at += step + Duration::from_secs(1);
        }
    });
    // Every callback must have fired within the timeout (plus slack) after the last submit.
    std::thread::sleep(timeout + Duration::from_secs(3));
    settle(&h, Duration::from_secs(60));
    consumer.stop();
    rt.block_on(p.shutdown());
    let calls = calls.lock().unwrap().clone();
    let never: Vec<_> = calls
        .iter()
        .filter(|(_, &n)| n == 0)
        .map(|(k, _)| k.clone())
        .collect();
    let twice: Vec<_> = calls
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(k, _)| k.clone())
        .collect();
    let r = h.check();
    print(
        "async_sends_exactly_once",
        &r,
        &format!(
            "submitted={} callbacks_missing={} callbacks_twice={} late={}",
            submitted.load(Ordering::Relaxed),
            never.len(),
            twice.len(),
            late.load(Ordering::Relaxed)
        ),
    );
    assert!(
        never.is_empty(),
        "callbacks never called: {:?}",
        &never[..never.len().min(10)]
    );
    assert!(twice.is_empty(), "callbacks called twice: {twice:?}");
    assert_eq!(
        late.load(Ordering::Relaxed),
        0,
        "callbacks later than the timeout"
    );
    assert_eq!(r.lost, 0, "{r}");
    drop(ns_proxy);
    drop(broker_proxy);
    let _ = std::io::stdout().flush();
}

/// SYNC_MASTER + SLAVE: the master is killed (-9, not restarted) while sending; every
/// acknowledged message must still be delivered, from the slave.
#[test]
fn sync_master_kill_loses_nothing_acknowledged() {
    let _s = serial();
    let rt = tokio_rt();
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let mut mspec = BrokerSpec::new(ns.addr, &dir.path().join("master"), "async", "broker-ha");
    mspec.extra_json = Some(r#"{"brokerRole": "SYNC_MASTER"}"#.into());
    let mut master = BrokerProc::start(mspec);
    let ha = master
        .ha_addr()
        .expect("the master prints its replication address");
    let mut sspec = BrokerSpec::new(ns.addr, &dir.path().join("slave"), "async", "broker-ha");
    sspec.id = 1;
    sspec.extra_json = Some(format!(
        r#"{{"brokerRole": "SLAVE", "brokerId": 1, "haMasterAddress": "{ha}", "masterAddr": "{}"}}"#,
        master.addr
    ));
    let slave = BrokerProc::start(sspec);
    let topic = "ChaosHa";
    let h = Arc::new(History::new());
    let dur = support::duration(Duration::from_secs(12));
    let p = rt.block_on(async {
        create_topic(master.addr, topic, 4, false).await;
        let p = producer(ns.addr, "chaos_pg_ha", Duration::from_secs(3)).await;
        wait_route(&p, topic, 4).await;
        p
    });
    // The slave copies topic configs from the master periodically; make sure it has the topic
    // too, so it can serve reads after the master dies.
    rt.block_on(create_topic(slave.addr, topic, 4, false));
    let mut consumer = ConsumerProc::start("c1", ns.addr, "chaos_cg_ha", topic, false, &h);
    let t0 = Instant::now();
    let hh = h.clone();
    let m = &mut master;
    with_faults(
        &rt,
        send_loop(&p, &h, topic, "ha", t0 + dur, None),
        move || {
            sleep_until(t0, dur * 2 / 3);
            hh.fault("master kill -9");
            m.kill9();
        },
    );
    settle(&h, Duration::from_secs(60));
    let r = h.check();
    // Acknowledged messages the first consumer did not get before the master died must be
    // readable from the slave: a fresh group reads the whole topic from it.
    let h2 = Arc::new(History::new());
    let mut fresh = ConsumerProc::start("c2", ns.addr, "chaos_cg_ha_fresh", topic, false, &h2);
    let acked: HashSet<String> = h
        .sends()
        .into_iter()
        .filter(|s| s.outcome == Outcome::Ok)
        .map(|s| s.key)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let got: HashSet<String> = h2.deliveries().into_iter().map(|d| d.key).collect();
        let missing: Vec<&String> = acked.iter().filter(|k| !got.contains(*k)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.len();
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let slave_offsets = rt.block_on(max_offsets(slave.addr, topic, 4));
    let route = rt.block_on(route_text(ns.addr, topic));
    consumer.stop();
    fresh.stop();
    rt.block_on(p.shutdown());
    print(
        "sync_master_kill",
        &r,
        &format!("acked_missing_on_slave={missing} slave_max_offsets={slave_offsets:?} route_after_kill={route}"),
    );
    assert!(r.acknowledged > 100, "{r}");
    assert_eq!(
        missing, 0,
        "acknowledged messages missing on the slave: {r}"
    );
    assert_eq!(r.lost, 0, "{r}");
    drop(slave);
}
