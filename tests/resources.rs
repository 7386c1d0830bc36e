//! Resource hygiene of the client against live servers (the real `mini-namesrv` and
//! `mini-broker` processes):
//!
//! - start/shutdown cycles of a producer + push consumer give tasks, file descriptors, threads
//!   and memory back (1000 cycles; `ROCKETMQ_CHAOS_CYCLES` overrides);
//! - a failed `start()` leaves no task running;
//! - an idle producer + consumer wakes up only a few times a second and logs nothing
//!   repeatedly.
//!
//! `cargo test -p rocketmq-it --test resources -- --nocapture` prints the figures.

#[path = "chaos/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rocketmq_rs_client::consumer::{ConsumeContext, ConsumeFromWhere, ConsumeResult, PushConsumer};
use rocketmq_rs_client::{ClientConfig, ClientInstance, Message, MessageExt, Producer};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{CreateTopicRequestHeader, TopicFilterType};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};
use rocketmq_rs_remoting::util::MutexExt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use support::procs::{fd_count, rss_kib, thread_count, BrokerProc, BrokerSpec, NamesrvProc};

/// The measurements are per process: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Counts tracing events by level and call site, for the whole test process.
#[derive(Default)]
struct Counter {
    events: Mutex<HashMap<(Level, &'static str), usize>>,
}

impl<S: Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let m = event.metadata();
        *self
            .events
            .lock()
            .unwrap()
            .entry((*m.level(), m.name()))
            .or_default() += 1;
    }
}

struct Shared(Arc<Counter>);

impl<S: Subscriber> Layer<S> for Shared {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx)
    }
}

fn counter() -> &'static Arc<Counter> {
    static C: OnceLock<Arc<Counter>> = OnceLock::new();
    C.get_or_init(|| {
        let c = Arc::new(Counter::default());
        let sub = tracing_subscriber::registry().with(Shared(c.clone()));
        tracing::subscriber::set_global_default(sub).expect("one global subscriber");
        c
    })
}

fn snapshot() -> HashMap<(Level, &'static str), usize> {
    counter().events.lock().unwrap().clone()
}

fn self_pid() -> u32 {
    std::process::id()
}

/// Voluntary + involuntary context switches of every thread of this process.
fn context_switches() -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for t in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("status")) {
            for l in s.lines() {
                if l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
                {
                    total += l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
    }
    total
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

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

struct Servers {
    ns: NamesrvProc,
    _broker: BrokerProc,
    _dir: tempfile::TempDir,
}

async fn servers(topic: &str) -> Servers {
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvProc::start();
    let broker = BrokerProc::start(BrokerSpec::new(
        ns.addr,
        &dir.path().join("s"),
        "async",
        "broker-res",
    ));
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: 6,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: false,
        bname: None,
    };
    let req = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(&header);
    let resp = client
        .invoke(&broker.addr.to_string(), req, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(resp.code, ResponseCode::SUCCESS);
    client.shutdown();
    Servers {
        ns,
        _broker: broker,
        _dir: dir,
    }
}

fn client_config(ns: &NamesrvProc) -> ClientConfig {
    {
        let mut c = ClientConfig::default();
        c.namesrv_addrs = vec![ns.addr.to_string()];
        c.runtime = Some(runtime());
        c
    }
}

fn consumer(ns: &NamesrvProc, group: &str, topic: &str) -> PushConsumer {
    PushConsumer::builder()
        .client_config(client_config(ns))
        .group(group)
        .subscribe(topic, "*")
        .consume_from_where(ConsumeFromWhere::LastOffset)
        .listener(|_m: Vec<MessageExt>, _c: ConsumeContext| async { ConsumeResult::Success })
        .build()
        .unwrap()
}

fn producer(ns: &NamesrvProc, group: &str) -> Producer {
    Producer::builder()
        .name_server(&ns.addr.to_string())
        .group(group)
        .runtime(runtime())
        .build()
        .unwrap()
}

async fn one_cycle(s: &Servers, topic: &str, i: usize) {
    let p = producer(&s.ns, "res_pg");
    p.start().await.unwrap();
    let c = consumer(&s.ns, "res_cg", topic);
    c.start().await.unwrap();
    if i.is_multiple_of(50) {
        p.send(Message::new(topic, "cycle")).await.unwrap();
    }
    c.shutdown().await.unwrap();
    p.shutdown().await;
}

struct Usage {
    tasks: usize,
    fds: usize,
    threads: usize,
    rss: u64,
}

fn usage() -> Usage {
    Usage {
        tasks: alive_tasks(),
        fds: fd_count(self_pid()),
        threads: thread_count(self_pid()),
        rss: rss_kib(self_pid()).unwrap_or(0),
    }
}

#[test]
fn start_shutdown_cycles_return_resources_to_baseline() {
    let _s = SERIAL.lock_unpoisoned();
    counter();
    let cycles: usize = std::env::var("ROCKETMQ_CHAOS_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let rt = tokio_rt();
    rt.block_on(async {
        let topic = "ResCycles";
        let s = servers(topic).await;
        for i in 0..20 {
            one_cycle(&s, topic, i).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = usage();
        let t = Instant::now();
        for i in 0..cycles {
            one_cycle(&s, topic, i).await;
        }
        let took = t.elapsed();
        // Closed connections and finished tasks are reaped asynchronously.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut after = usage();
        while (after.tasks > before.tasks || after.fds > before.fds) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            after = usage();
        }
        println!(
            "RESOURCES cycles={cycles} in {:.1}s: tasks {} -> {}, fds {} -> {}, threads {} -> {}, rss {} -> {} KiB",
            took.as_secs_f64(),
            before.tasks,
            after.tasks,
            before.fds,
            after.fds,
            before.threads,
            after.threads,
            before.rss,
            after.rss
        );
        assert!(after.tasks <= before.tasks, "tasks leaked: {} -> {}", before.tasks, after.tasks);
        assert!(after.fds <= before.fds + 2, "fds leaked: {} -> {}", before.fds, after.fds);
        // tokio's blocking pool keeps idle threads for a while; bound, not exact.
        assert!(after.threads <= before.threads + 8, "threads: {} -> {}", before.threads, after.threads);
        assert!(after.rss <= before.rss + 32 * 1024, "rss: {} -> {} KiB", before.rss, after.rss);
    });
}

#[test]
fn failed_start_leaves_nothing_running() {
    let _s = SERIAL.lock_unpoisoned();
    counter();
    let rt = tokio_rt();
    rt.block_on(async {
        let topic = "ResFailedStart";
        let s = servers(topic).await;
        let instance = ClientInstance::new(client_config(&s.ns)).unwrap();
        let p1 = Producer::builder()
            .group("dup_pg")
            .client_instance(instance.clone())
            .build()
            .unwrap();
        p1.start().await.unwrap();
        let c1 = PushConsumer::builder()
            .client_instance(instance.clone())
            .group("dup_cg")
            .subscribe(topic, "*")
            .listener(|_m: Vec<MessageExt>, _c: ConsumeContext| async { ConsumeResult::Success })
            .build()
            .unwrap();
        c1.start().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = alive_tasks();

        // Same groups on the same client instance: both starts must fail.
        let p2 = Producer::builder()
            .group("dup_pg")
            .client_instance(instance.clone())
            .build()
            .unwrap();
        assert!(
            p2.start().await.is_err(),
            "duplicate producer group accepted"
        );
        let c2 = PushConsumer::builder()
            .client_instance(instance.clone())
            .group("dup_cg")
            .subscribe(topic, "*")
            .listener(|_m: Vec<MessageExt>, _c: ConsumeContext| async { ConsumeResult::Success })
            .build()
            .unwrap();
        assert!(
            c2.start().await.is_err(),
            "duplicate consumer group accepted"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = alive_tasks();
        println!("FAILED_START tasks {before} -> {after}");
        assert!(
            after <= before,
            "a failed start left tasks: {before} -> {after}"
        );
        // The first ones still work, and everything stops.
        p1.send(Message::new(topic, "still works")).await.unwrap();
        c1.shutdown().await.unwrap();
        p1.shutdown().await;
        let _ = c2.shutdown().await;
        p2.shutdown().await;
        instance.shutdown().await;
    });
}

#[test]
fn idle_producer_and_consumer_rarely_wake_and_do_not_log_repeatedly() {
    let _s = SERIAL.lock_unpoisoned();
    counter();
    let rt = tokio_rt();
    rt.block_on(async {
        let topic = "ResIdle";
        let s = servers(topic).await;
        let p = producer(&s.ns, "idle_pg");
        p.start().await.unwrap();
        let c = consumer(&s.ns, "idle_cg", topic);
        c.start().await.unwrap();
        p.send(Message::new(topic, "one")).await.unwrap();
        // Let start-up work (rebalance, first pulls) finish.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let window = Duration::from_secs(support::duration(Duration::from_secs(6)).as_secs().min(120));
        let logs0 = snapshot();
        let cs0 = context_switches();
        tokio::time::sleep(window).await;
        let cs1 = context_switches();
        let logs1 = snapshot();
        let per_sec = (cs1 - cs0) as f64 / window.as_secs_f64();
        let mut repeated = Vec::new();
        let mut loud = Vec::new();
        for (k, n1) in &logs1 {
            let n = n1 - logs0.get(k).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            if k.0 <= Level::INFO {
                loud.push((k.1, n));
            }
            // Periodic work logs at most once per period; more than once a second is a loop.
            if n as f64 > window.as_secs_f64() {
                repeated.push((k.1, n));
            }
        }
        println!(
            "IDLE over {:?}: {per_sec:.1} context switches/s (whole test process), info+ events {loud:?}, repeated {repeated:?}",
            window
        );
        c.shutdown().await.unwrap();
        p.shutdown().await;
        assert!(per_sec <= 25.0, "idle client wakes {per_sec:.1} times/s");
        assert!(loud.is_empty(), "idle client logged at info or above: {loud:?}");
        assert!(repeated.is_empty(), "idle client logs repeatedly: {repeated:?}");
    });
}
