//! Producer scenarios against the in-process mini NameServer and mini broker. Every scenario is
//! one async body taking an `Arc<dyn Runtime>`, instantiated once per runtime (tokio, smol,
//! async-std) by `for_each_runtime!` at the bottom.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::producer::selector::{JavaHashCode, SelectByHash};
use rocketmq_rs_client::{
    ClientConfig, Message, MessageExt, MessageQueue, Producer, PullConsumer, PullStatus,
    SendResult, SendStatus,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::{timeout, Runtime};

const BROKER: &str = "broker-a";
/// Level 1 of the embedded brokers' delay table (`message_delay_level` below).
const DELAY_LEVEL_1: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

struct Env {
    cluster: EmbeddedCluster,
    producer: Producer,
    reader: PullConsumer,
}

impl Env {
    async fn start(rt: &Arc<dyn Runtime>, topics: &[(&str, i32)]) -> Env {
        let mut b = EmbeddedCluster::builder().configure(|cfg| {
            cfg.register_name_server_period_ms = 300;
            cfg.message_delay_level = "500ms 1s".into();
        });
        for (t, n) in topics {
            b = b.topic(*t, *n);
        }
        let cluster = b.start(rt.clone()).await.expect("cluster starts");
        let producer = Producer::builder()
            .name_server(&cluster.namesrv_addr())
            .runtime(rt.clone())
            .group("it_producer_rt_pg")
            .send_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        producer.start().await.unwrap();
        let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
        client.runtime = Some(rt.clone());
        let reader = PullConsumer::builder()
            .client_config(client)
            .group("it_producer_rt_reader")
            .build()
            .unwrap();
        reader.start().await.unwrap();
        Env {
            cluster,
            producer,
            reader,
        }
    }

    /// Every message of `topic` from offset 0 of each queue, by queue id, in queue order.
    async fn read_all(&self, topic: &str) -> BTreeMap<i32, Vec<MessageExt>> {
        let mut out = BTreeMap::new();
        let queues = self
            .reader
            .fetch_subscribe_queues(topic)
            .await
            .expect("subscribe queues");
        for mq in queues {
            let mut offset = 0;
            let mut msgs = Vec::new();
            loop {
                let r = self.reader.pull(&mq, "*", offset, 32).await.expect("pull");
                if r.status != PullStatus::Found {
                    break;
                }
                assert!(r.next_begin_offset > offset, "pull made no progress");
                offset = r.next_begin_offset;
                msgs.extend(r.messages);
            }
            out.insert(mq.queue_id, msgs);
        }
        out
    }

    /// Reads `topic` until `cond` holds for its messages (bounded).
    async fn read_until(
        &self,
        topic: &str,
        what: &str,
        cond: impl Fn(&BTreeMap<i32, Vec<MessageExt>>) -> bool,
    ) -> BTreeMap<i32, Vec<MessageExt>> {
        self.cluster
            .wait_until(what, Duration::from_secs(15), || async {
                let all = self.read_all(topic).await;
                if cond(&all) {
                    Ok(all)
                } else {
                    Err(bodies(&all))
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn stop(self) {
        self.reader.shutdown().await;
        self.producer.shutdown().await;
        self.cluster.shutdown().await;
    }
}

fn body(m: &MessageExt) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}

fn bodies(all: &BTreeMap<i32, Vec<MessageExt>>) -> Vec<String> {
    all.values().flatten().map(body).collect()
}

fn assert_ok(r: &SendResult, topic: &str) {
    assert_eq!(r.status, SendStatus::SendOk);
    assert_eq!(r.message_queue.topic, topic);
    assert_eq!(r.message_queue.broker_name, BROKER);
    assert!(r.queue_offset >= 0);
    assert!(!r.msg_id.is_empty());
}

/// A listener that accepts TCP connections and never answers (a black hole).
struct SilentListener {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    rt: Arc<dyn Runtime>,
}

impl SilentListener {
    async fn start(rt: &Arc<dyn Runtime>) -> SilentListener {
        let mut listener = rt.bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (s, d) = (stop.clone(), done.clone());
        rt.spawn(Box::pin(async move {
            // Held, never read nor written, until the listener stops.
            let mut held = Vec::new();
            while !s.load(Ordering::Acquire) {
                match listener.accept().await {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => break,
                }
            }
            drop(held);
            d.store(true, Ordering::Release);
        }));
        SilentListener {
            addr,
            stop,
            done,
            rt: rt.clone(),
        }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the pending accept so the task sees the flag.
        let _ = self.rt.connect(self.addr).await;
        let start = Instant::now();
        while !self.done.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(5) {
            self.rt.sleep(Duration::from_millis(10)).await;
        }
        assert!(
            self.done.load(Ordering::Acquire),
            "silent listener did not stop"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

mod scenarios {
    use super::*;

    /// (1) Every send mode; every message is read back from the broker exactly once.
    pub async fn every_send_mode_reads_back(rt: Arc<dyn Runtime>) {
        const T: &str = "ItProdModes";
        let env = Env::start(&rt, &[(T, 4)]).await;
        let p = &env.producer;
        let mut expected: Vec<String> = Vec::new();

        // Sync.
        for i in 0..5 {
            let b = format!("sync-{i}");
            let msg = Message::builder(T)
                .tag("TagA")
                .keys([format!("k-{i}")])
                .body(b.clone())
                .build()
                .unwrap();
            assert_ok(&p.send(msg).await.expect("sync send"), T);
            expected.push(b);
        }
        // Async future.
        let futs: Vec<_> = (0..5)
            .map(|i| {
                let b = format!("future-{i}");
                expected.push(b.clone());
                p.send_async(Message::new(T, b))
            })
            .collect();
        for f in futs {
            assert_ok(&f.await.expect("async send"), T);
        }
        // Callback: each completes exactly once.
        let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..5).map(|_| AtomicUsize::new(0)).collect());
        let results = Arc::new(Mutex::new(Vec::new()));
        for i in 0..5 {
            let b = format!("callback-{i}");
            expected.push(b.clone());
            let (calls, results) = (calls.clone(), results.clone());
            p.send_with_callback(Message::new(T, b), move |r| {
                calls[i].fetch_add(1, Ordering::SeqCst);
                results.lock().unwrap().push(r.map_err(|e| e.to_string()));
            })
            .expect("callback send accepted");
        }
        env.cluster
            .wait_until("the 5 callbacks", Duration::from_secs(10), || async {
                match results.lock().unwrap().len() {
                    n if n >= 5 => Ok(()),
                    n => Err(n),
                }
            })
            .await
            .unwrap();
        // Oneway.
        for i in 0..5 {
            let b = format!("oneway-{i}");
            expected.push(b.clone());
            p.send_oneway(Message::new(T, b)).await.expect("oneway");
        }
        // To a given queue.
        for i in 0..3 {
            let b = format!("queue2-{i}");
            expected.push(b.clone());
            let mq = MessageQueue::new(T, BROKER, 2);
            let r = p
                .send_to_queue(Message::new(T, b), &mq)
                .await
                .expect("send to queue");
            assert_ok(&r, T);
            assert_eq!(r.message_queue.queue_id, 2);
        }
        // Batch.
        let batch: Vec<Message> = (0..10)
            .map(|i| {
                let b = format!("batch-{i}");
                expected.push(b.clone());
                Message::new(T, b)
            })
            .collect();
        let batch = p.send_batch(batch).await.expect("batch");
        assert_ok(&batch, T);
        assert_eq!(
            batch.msg_id.split(',').count(),
            10,
            "one id per batch entry"
        );

        rt.sleep(Duration::from_millis(100)).await;
        for (i, c) in calls.iter().enumerate() {
            assert_eq!(
                c.load(Ordering::SeqCst),
                1,
                "callback {i} ran more than once"
            );
        }
        for r in results.lock().unwrap().iter() {
            assert!(r.is_ok(), "callback send failed: {r:?}");
        }

        let n = expected.len();
        let all = env
            .read_until(T, "every message", |all| {
                all.values().map(Vec::len).sum::<usize>() >= n
            })
            .await;
        let mut got = bodies(&all);
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "every message exactly once");
        // The queue-2 sends keep their order; the batch is contiguous and in order.
        let q2: Vec<String> = all[&2]
            .iter()
            .map(body)
            .filter(|b| b.starts_with("queue2-"))
            .collect();
        assert_eq!(q2, ["queue2-0", "queue2-1", "queue2-2"]);
        let bq = &all[&batch.message_queue.queue_id];
        let first = bq
            .iter()
            .position(|m| m.queue_offset == batch.queue_offset)
            .expect("batch head in its queue");
        let got_batch: Vec<String> = bq[first..first + 10].iter().map(body).collect();
        let want_batch: Vec<String> = (0..10).map(|i| format!("batch-{i}")).collect();
        assert_eq!(got_batch, want_batch);
        for msgs in all.values() {
            for m in msgs {
                let b = body(m);
                if b.starts_with("sync-") {
                    assert_eq!(m.properties.get("TAGS"), Some("TagA"));
                    assert!(m.properties.get("KEYS").unwrap().starts_with("k-"));
                }
            }
        }
        eprintln!("every send mode: {n} messages read back");
        env.stop().await;
    }

    /// (2) Ordered: messages with the same key go to one queue, in send order.
    pub async fn ordered_by_key(rt: Arc<dyn Runtime>) {
        const T: &str = "ItProdOrdered";
        const QUEUES: i32 = 4;
        let env = Env::start(&rt, &[(T, QUEUES)]).await;
        let keys = ["order-A", "order-B", "order-C", "order-D", "order-E"];
        let mut sent: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
        for i in 0..10 {
            for k in keys {
                let msg = Message::builder(T)
                    .keys([k])
                    .body(format!("{k}:{i}"))
                    .build()
                    .unwrap();
                let r = env
                    .producer
                    .send_with_selector(msg, &SelectByHash, k)
                    .await
                    .expect("ordered send");
                assert_ok(&r, T);
                sent.entry(k)
                    .or_default()
                    .push((r.message_queue.queue_id, r.queue_offset));
            }
        }
        for k in keys {
            let s = &sent[k];
            let q = s[0].0;
            let want = SelectByHash::index_for_hash(k.java_hash_code(), QUEUES as usize).unwrap();
            assert_eq!(q as usize, want, "key {k}: the Java hash picks the queue");
            assert!(s.iter().all(|(qq, _)| *qq == q), "key {k} spread: {s:?}");
            assert!(
                s.windows(2).all(|w| w[0].1 < w[1].1),
                "key {k}: offsets not increasing: {s:?}"
            );
        }
        let all = env
            .read_until(T, "ordered messages", |all| {
                all.values().map(Vec::len).sum::<usize>() >= 50
            })
            .await;
        for k in keys {
            let q = sent[k][0].0;
            let got: Vec<(i64, String)> = all[&q]
                .iter()
                .filter(|m| body(m).starts_with(&format!("{k}:")))
                .map(|m| (m.queue_offset, body(m)))
                .collect();
            let want: Vec<(i64, String)> = sent[k]
                .iter()
                .enumerate()
                .map(|(i, (_, off))| (*off, format!("{k}:{i}")))
                .collect();
            assert_eq!(got, want, "key {k}: queue order = send order");
        }
        env.stop().await;
    }

    /// (3) Delay level 1 is delivered no earlier than the level's delay.
    pub async fn delay_level_one(rt: Arc<dyn Runtime>) {
        const T: &str = "ItProdDelay";
        let env = Env::start(&rt, &[(T, 1)]).await;
        let sent_at = Instant::now();
        let msg = Message::builder(T)
            .body("delayed")
            .delay_level(1)
            .build()
            .unwrap();
        let r = env.producer.send(msg).await.expect("delayed send");
        assert_eq!(r.status, SendStatus::SendOk);
        // Not visible right away.
        let early = env.read_all(T).await;
        if sent_at.elapsed() < DELAY_LEVEL_1 {
            assert!(
                bodies(&early).is_empty(),
                "delivered before the delay: {:?}",
                bodies(&early)
            );
        }
        let all = env
            .read_until(T, "the delayed message", |all| {
                all.values().map(Vec::len).sum::<usize>() >= 1
            })
            .await;
        let seen = sent_at.elapsed();
        let m = &all[&0][0];
        assert_eq!(body(m), "delayed");
        let stored_after = m.store_timestamp - m.born_timestamp;
        eprintln!(
            "delay level 1 ({DELAY_LEVEL_1:?}): visible after {seen:?}, stored {stored_after} ms after birth"
        );
        assert!(seen >= DELAY_LEVEL_1, "visible after {seen:?}");
        assert!(
            stored_after >= DELAY_LEVEL_1.as_millis() as i64 - 5,
            "stored {stored_after} ms after birth"
        );
        env.stop().await;
    }

    /// (4) A 10 KiB body is compressed on the wire and reads back intact.
    pub async fn compressed_body_round_trips(rt: Arc<dyn Runtime>) {
        const T: &str = "ItProdCompress";
        let env = Env::start(&rt, &[(T, 1)]).await;
        // Compressible but not trivially repetitive.
        let mut x: u32 = 12345;
        let big: Vec<u8> = (0..10 * 1024)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b'a' + ((x >> 16) % 8) as u8
            })
            .collect();
        let r = env
            .producer
            .send(Message::new(T, big.clone()))
            .await
            .expect("big send");
        assert_eq!(r.status, SendStatus::SendOk);
        let all = env
            .read_until(T, "the big message", |all| {
                all.values().map(Vec::len).sum::<usize>() >= 1
            })
            .await;
        let m = &all[&0][0];
        // The broker holds the compressed form (the client decompresses on pull).
        let raw = env
            .cluster
            .broker(BROKER)
            .expect("broker-a")
            .store()
            .message_by_commit_offset(m.commit_log_offset)
            .expect("stored record");
        assert_eq!(
            raw.sys_flag & 1,
            1,
            "stored compressed (sys flag {})",
            raw.sys_flag
        );
        assert!(
            raw.body.len() < big.len() / 2,
            "stored body {} B for a {} B message",
            raw.body.len(),
            big.len()
        );
        eprintln!(
            "compression: {} B body stored as {} B",
            big.len(),
            raw.body.len()
        );
        assert_eq!(m.body.len(), big.len());
        assert!(m.body[..] == big[..], "body differs after the round trip");
        env.stop().await;
    }

    /// (5) A NameServer that accepts TCP and never answers: send fails within its timeout.
    pub async fn black_hole_send_timeout(rt: Arc<dyn Runtime>) {
        const SEND_TIMEOUT: Duration = Duration::from_millis(800);
        let hole = SilentListener::start(&rt).await;
        let producer = Producer::builder()
            .name_server(&hole.addr.to_string())
            .runtime(rt.clone())
            .group("it_producer_rt_blackhole")
            .send_timeout(SEND_TIMEOUT)
            .shutdown_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        producer.start().await.unwrap();
        let start = Instant::now();
        let r = producer.send(Message::new("ItProdBlackHole", "x")).await;
        let took = start.elapsed();
        let overshoot = took.saturating_sub(SEND_TIMEOUT);
        eprintln!("black hole: send returned {r:?} after {took:?} (overshoot {overshoot:?})");
        assert!(r.is_err(), "a send to a silent NameServer succeeded");
        assert!(
            took < SEND_TIMEOUT + Duration::from_millis(500),
            "send took {took:?}, timeout {SEND_TIMEOUT:?}"
        );
        timeout(&*rt, Duration::from_secs(10), producer.shutdown())
            .await
            .expect("shutdown hung");
        hole.stop().await;
    }

    /// (6) Shutdown with 50 async sends in flight: each completes exactly once, none hangs.
    pub async fn shutdown_with_inflight_async(rt: Arc<dyn Runtime>) {
        const T: &str = "ItProdShutdown";
        const N: usize = 50;
        let env = Env::start(&rt, &[(T, 4)]).await;
        // Route known, so the sends are really in flight.
        env.producer
            .send(Message::new(T, "warm-up"))
            .await
            .expect("warm-up");
        let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
        let ok = Arc::new(AtomicUsize::new(0));
        let mut futs = Vec::new();
        for i in 0..N {
            let body = format!("inflight-{i}");
            if i % 2 == 0 {
                futs.push((i, env.producer.send_async(Message::new(T, body))));
            } else {
                let (calls, ok) = (calls.clone(), ok.clone());
                env.producer
                    .send_with_callback(Message::new(T, body), move |r| {
                        calls[i].fetch_add(1, Ordering::SeqCst);
                        if r.is_ok() {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                    .expect("callback send accepted");
            }
        }
        let started = Instant::now();
        timeout(&*rt, Duration::from_secs(15), env.producer.shutdown())
            .await
            .expect("shutdown hung");
        let shutdown_took = started.elapsed();
        for (i, f) in futs {
            let r = timeout(&*rt, Duration::from_secs(5), f)
                .await
                .unwrap_or_else(|_| panic!("send_async {i} never completed"));
            calls[i].fetch_add(1, Ordering::SeqCst);
            if r.is_ok() {
                ok.fetch_add(1, Ordering::SeqCst);
            }
        }
        let start = Instant::now();
        while calls.iter().any(|c| c.load(Ordering::SeqCst) == 0) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "a callback never ran"
            );
            rt.sleep(Duration::from_millis(10)).await;
        }
        // Late double completions would show up here.
        rt.sleep(Duration::from_millis(200)).await;
        for (i, c) in calls.iter().enumerate() {
            assert_eq!(
                c.load(Ordering::SeqCst),
                1,
                "send {i} completed more than once"
            );
        }
        let ok = ok.load(Ordering::SeqCst);
        eprintln!(
            "shutdown with {N} in flight: {ok} Ok, {} Err, shutdown took {shutdown_took:?}",
            N - ok
        );
        assert!(
            env.producer.send(Message::new(T, "late")).await.is_err(),
            "send after shutdown succeeded"
        );
        // Every Ok send is stored.
        let all = env.read_all(T).await;
        let stored = bodies(&all)
            .iter()
            .filter(|b| b.starts_with("inflight-"))
            .count();
        assert!(stored >= ok, "{ok} sends acknowledged but {stored} stored");
        env.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------------

const SCENARIO_DEADLINE: Duration = Duration::from_secs(60);

common::for_each_runtime!(
    Some(crate::SCENARIO_DEADLINE);
    every_send_mode_reads_back,
    ordered_by_key,
    delay_level_one,
    compressed_body_round_trips,
    black_hole_send_timeout,
    shutdown_with_inflight_async,
);
