//! Async send back-pressure (`ProducerConfig::async_back_pressure`, Java
//! `enableBackpressureForAsyncMode`) against an in-process fake broker that answers sends
//! late, on every runtime (tokio, smol, async-std): the sends in flight never exceed the count
//! and byte bounds, a submit waits for room, fail-fast mode and the non-async calls return the
//! typed error at once.

mod common;

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::{
    BackPressureLimit, Error, Message, Producer, ProducerBuilder, Result, SendResult,
};
use rocketmq_rs_remoting::protocol::body::{BrokerData, JsonBody, QueueData, TopicRouteData};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    CommandHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Runtime;
use rocketmq_rs_remoting::transport::{
    Connection, RemotingServer, RequestHandler, ServerHandle, TransportConfig,
};

const TOPIC: &str = "BpTopic";

/// Answers every send after `delay` (slept on the test's runtime).
struct SlowBroker {
    rt: Arc<dyn Runtime>,
    delay: Mutex<Duration>,
    sends: AtomicUsize,
    offset: AtomicUsize,
}

impl RequestHandler for SlowBroker {
    async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        match req.code {
            RequestCode::SEND_MESSAGE_V2 => {
                self.sends.fetch_add(1, Ordering::SeqCst);
                let delay = *self.delay.lock().unwrap();
                self.rt.sleep(delay).await;
                let h = SendMessageRequestHeaderV2::read_from(&req.ext_fields).unwrap();
                let resp = SendMessageResponseHeader {
                    msg_id: "7F00000100002A9F0000000000000010".into(),
                    queue_id: h.e,
                    queue_offset: self.offset.fetch_add(1, Ordering::SeqCst) as i64,
                    transaction_id: None,
                    batch_uniq_id: None,
                    recall_handle: None,
                    msg_region: None,
                    trace_on: None,
                };
                Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_header(&resp))
            }
            _ => Some(RemotingCommand::response(ResponseCode::SUCCESS, None)),
        }
    }
}

/// Routes [`TOPIC`] to the one broker.
struct Namesrv {
    route: TopicRouteData,
}

impl RequestHandler for Namesrv {
    async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        if req.code == RequestCode::GET_ROUTEINFO_BY_TOPIC
            && req.ext_fields.get("topic") == Some(TOPIC)
        {
            return Some(
                RemotingCommand::response(ResponseCode::SUCCESS, None)
                    .with_body(self.route.to_json()),
            );
        }
        Some(RemotingCommand::response(
            ResponseCode::TOPIC_NOT_EXIST,
            Some("no route".into()),
        ))
    }
}

struct Env {
    rt: Arc<dyn Runtime>,
    broker: Arc<SlowBroker>,
    servers: Vec<ServerHandle>,
}

impl Env {
    async fn start(rt: &Arc<dyn Runtime>, delay: Duration) -> Env {
        let broker = Arc::new(SlowBroker {
            rt: rt.clone(),
            delay: Mutex::new(delay),
            sends: AtomicUsize::new(0),
            offset: AtomicUsize::new(0),
        });
        let any = "127.0.0.1:0".parse().unwrap();
        let bs = RemotingServer::start(rt.clone(), any, TransportConfig::default(), broker.clone())
            .await
            .unwrap();
        let mut route = TopicRouteData::default();
        let mut b = BrokerData::new("DefaultCluster", "broker-a");
        b.broker_addrs.insert(0, bs.local_addr().to_string());
        route.broker_datas.push(b);
        route.queue_datas.push(QueueData {
            broker_name: "broker-a".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_sys_flag: 0,
        });
        let ns = RemotingServer::start(
            rt.clone(),
            any,
            TransportConfig::default(),
            Arc::new(Namesrv { route }),
        )
        .await
        .unwrap();
        Env {
            rt: rt.clone(),
            broker,
            servers: vec![ns, bs],
        }
    }

    async fn producer(&self, f: impl FnOnce(ProducerBuilder) -> ProducerBuilder) -> Producer {
        let b = Producer::builder()
            .name_server(&self.servers[0].local_addr().to_string())
            .runtime(self.rt.clone())
            .group("bp_pg")
            .send_timeout(Duration::from_secs(5));
        let p = f(b).build().unwrap();
        p.start().await.unwrap();
        // Route and connection ready: the first async sends are not slowed by the lookup.
        let d = std::mem::replace(&mut *self.broker.delay.lock().unwrap(), Duration::ZERO);
        p.send(Message::new(TOPIC, "warm-up")).await.unwrap();
        *self.broker.delay.lock().unwrap() = d;
        self.broker.sends.store(0, Ordering::SeqCst);
        p
    }

    async fn stop(self) {
        for s in &self.servers {
            s.shutdown().await;
        }
    }
}

/// Sends admitted and not yet completed, as the caller sees them: counted up when the submit
/// returns, down in the completion callback.
#[derive(Default)]
struct InFlight {
    // Signed: a completion may be counted before its admission.
    now: AtomicIsize,
    max: AtomicIsize,
    done: AtomicUsize,
    ok: AtomicUsize,
}

impl InFlight {
    fn admitted(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }

    fn callback(self: &Arc<Self>) -> impl FnOnce(Result<SendResult>) + Send + 'static {
        let me = Arc::clone(self);
        move |r| {
            me.now.fetch_sub(1, Ordering::SeqCst);
            me.done.fetch_add(1, Ordering::SeqCst);
            if r.is_ok() {
                me.ok.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

async fn eventually(rt: &dyn Runtime, what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        rt.sleep(Duration::from_millis(10)).await;
    }
}

mod scenarios {
    use super::*;

    /// 12 submits against a broker answering after 100 ms, at most 3 in flight: the caller is
    /// held back (never more than 3 admitted and unfinished), and every send succeeds.
    /// Without the bound all 12 are admitted at once.
    pub async fn count_bound_holds_and_submit_waits(rt: Arc<dyn Runtime>) {
        let env = Env::start(&rt, Duration::from_millis(100)).await;
        let p = env.producer(|b| b.async_back_pressure(3, 1 << 20)).await;
        let f = Arc::new(InFlight::default());
        let t0 = Instant::now();
        for i in 0..12 {
            p.submit_with_callback(Message::new(TOPIC, format!("m{i}")), f.callback())
                .await
                .unwrap();
            f.admitted();
        }
        // The 12th admission needed 9 sends to finish first (3 rounds of 100 ms).
        assert!(
            t0.elapsed() >= Duration::from_millis(250),
            "submits did not wait: {:?}",
            t0.elapsed()
        );
        eventually(&*rt, "all sends done", Duration::from_secs(10), || {
            f.done.load(Ordering::SeqCst) == 12
        })
        .await;
        assert_eq!(f.ok.load(Ordering::SeqCst), 12);
        let max = f.max.load(Ordering::SeqCst);
        eprintln!(
            "count bound 3: max {max} in flight, 12 sends in {:?}",
            t0.elapsed()
        );
        assert!(max <= 3, "{max} sends in flight over a bound of 3");
        assert_eq!(env.broker.sends.load(Ordering::SeqCst), 12);
        // The future form waits the same way.
        let futs: Vec<_> = {
            let mut v = Vec::new();
            for i in 0..4 {
                v.push(p.submit_async(Message::new(TOPIC, format!("f{i}"))).await);
            }
            v
        };
        for fut in futs {
            fut.await.unwrap();
        }
        p.shutdown().await;
        env.stop().await;
    }

    /// Byte bound: 1000-byte bodies under a 2500-byte bound are at most 2 in flight, though
    /// the count bound would allow 100.
    pub async fn byte_bound_holds(rt: Arc<dyn Runtime>) {
        let env = Env::start(&rt, Duration::from_millis(80)).await;
        let p = env.producer(|b| b.async_back_pressure(100, 2500)).await;
        let f = Arc::new(InFlight::default());
        for _ in 0..8 {
            p.submit_with_callback(Message::new(TOPIC, vec![b'x'; 1000]), f.callback())
                .await
                .unwrap();
            f.admitted();
        }
        eventually(&*rt, "all sends done", Duration::from_secs(10), || {
            f.done.load(Ordering::SeqCst) == 8
        })
        .await;
        assert_eq!(f.ok.load(Ordering::SeqCst), 8);
        let max = f.max.load(Ordering::SeqCst);
        assert!(
            max <= 2,
            "{max} sends of 1000 bytes in flight under 2500 bytes"
        );
        p.shutdown().await;
        env.stop().await;
    }

    /// Fail-fast mode, and the non-async calls in either mode: past the bound the call fails
    /// at once with `Error::AsyncBackPressure`, the callback is never called, and no request
    /// reaches the broker; once the sends in flight finish there is room again.
    pub async fn fail_fast_returns_typed_error(rt: Arc<dyn Runtime>) {
        let env = Env::start(&rt, Duration::from_millis(500)).await;
        let p = env
            .producer(|b| {
                b.async_back_pressure(2, 1 << 20)
                    .async_back_pressure_fail_fast(true)
            })
            .await;
        let f = Arc::new(InFlight::default());
        for i in 0..2 {
            p.submit_with_callback(Message::new(TOPIC, format!("m{i}")), f.callback())
                .await
                .unwrap();
            f.admitted();
        }
        let t0 = Instant::now();
        let refused = p
            .submit_with_callback(Message::new(TOPIC, "over"), |_| panic!("must not run"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                Error::AsyncBackPressure {
                    limit: BackPressureLimit::Count,
                    max: 2,
                    waited: Duration::ZERO
                }
            ),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("async_max_in_flight"));
        assert!(matches!(
            p.submit_async(Message::new(TOPIC, "over")).await.await,
            Err(Error::AsyncBackPressure { .. })
        ));
        assert!(matches!(
            p.send_async(Message::new(TOPIC, "over")).await,
            Err(Error::AsyncBackPressure { .. })
        ));
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "fail-fast waited"
        );
        eventually(&*rt, "the two sends done", Duration::from_secs(5), || {
            f.done.load(Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(
            env.broker.sends.load(Ordering::SeqCst),
            2,
            "refused sends went out"
        );
        p.send_async(Message::new(TOPIC, "room again"))
            .await
            .expect("room after the sends finished");
        p.shutdown().await;

        // Waiting mode: the non-async call still cannot wait.
        let p = env.producer(|b| b.async_back_pressure(1, 1 << 20)).await;
        let first = p.send_async(Message::new(TOPIC, "a"));
        let e = p
            .send_with_callback(Message::new(TOPIC, "b"), |_| panic!("must not run"))
            .unwrap_err();
        assert!(matches!(e, Error::AsyncBackPressure { .. }), "{e:?}");
        // ...while the async form waits for the first to finish.
        let second = p.submit_async(Message::new(TOPIC, "c")).await;
        first.await.unwrap();
        second.await.unwrap();
        p.shutdown().await;
        env.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------------

const SCENARIO_DEADLINE: Duration = Duration::from_secs(60);

common::for_each_runtime!(
    Some(crate::SCENARIO_DEADLINE);
    count_bound_holds_and_submit_waits,
    byte_bound_holds,
    fail_fast_returns_typed_error,
);
