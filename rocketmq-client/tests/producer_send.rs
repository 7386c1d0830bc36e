//! Producer behaviour against in-process fake NameServer and brokers (built on
//! `RemotingServer`): queue choice, retries across brokers, deadlines, compression, batches,
//! selectors, async completion and shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::client::route::DEFAULT_TOPIC;
use rocketmq_rs_client::producer::selector::SelectByHash;
use rocketmq_rs_client::{ClientConfig, ClientInstance, Error, Message, Producer, SendStatus};
use rocketmq_rs_remoting::protocol::body::{BrokerData, JsonBody, QueueData, TopicRouteData};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    CommandHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use rocketmq_rs_remoting::protocol::message::{
    decode_batch, decode_properties, decompress, property,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::default_runtime;
use rocketmq_rs_remoting::transport::{
    Connection, RemotingServer, RequestHandler, ServerHandle, TransportConfig,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Ok,
    Code(i32),
    Silent,
}

/// A fake broker: records every send request and answers per its behaviour.
struct FakeBroker {
    behaviour: Mutex<Behaviour>,
    sends: Mutex<Vec<RemotingCommand>>,
    heartbeats: AtomicUsize,
    unregisters: AtomicUsize,
    offset: AtomicUsize,
}

impl RequestHandler for FakeBroker {
    async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        match req.code {
            RequestCode::HEART_BEAT => {
                self.heartbeats.fetch_add(1, Ordering::SeqCst);
                Some(RemotingCommand::response(ResponseCode::SUCCESS, None))
            }
            RequestCode::UNREGISTER_CLIENT => {
                self.unregisters.fetch_add(1, Ordering::SeqCst);
                Some(RemotingCommand::response(ResponseCode::SUCCESS, None))
            }
            RequestCode::SEND_MESSAGE_V2 | RequestCode::SEND_BATCH_MESSAGE => {
                self.sends.lock().unwrap().push(req.clone());
                let b = *self.behaviour.lock().unwrap();
                match b {
                    Behaviour::Silent => None,
                    Behaviour::Code(c) => Some(RemotingCommand::response(
                        c,
                        Some(format!("fake error {c}")),
                    )),
                    Behaviour::Ok => {
                        let h = SendMessageRequestHeaderV2::read_from(&req.ext_fields).unwrap();
                        let props = decode_properties(h.i.as_deref().unwrap_or(""));
                        let resp = SendMessageResponseHeader {
                            msg_id: "7F00000100002A9F0000000000000010".into(),
                            queue_id: h.e,
                            queue_offset: self.offset.fetch_add(1, Ordering::SeqCst) as i64,
                            transaction_id: props.get(property::UNIQ_KEY).map(str::to_owned),
                            batch_uniq_id: None,
                            recall_handle: None,
                            msg_region: Some("DefaultRegion".into()),
                            trace_on: Some(true),
                        };
                        Some(
                            RemotingCommand::response(ResponseCode::SUCCESS, None)
                                .with_header(&resp),
                        )
                    }
                }
            }
            _ => Some(RemotingCommand::response(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                None,
            )),
        }
    }
}

/// A fake NameServer answering GET_ROUTEINFO_BY_TOPIC from a table.
struct FakeNamesrv {
    routes: Mutex<HashMap<String, TopicRouteData>>,
    lookups: AtomicUsize,
}

impl RequestHandler for FakeNamesrv {
    async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        if req.code != RequestCode::GET_ROUTEINFO_BY_TOPIC {
            return Some(RemotingCommand::response(
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                None,
            ));
        }
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let topic = req.ext_fields.get("topic").unwrap_or_default().to_owned();
        match self.routes.lock().unwrap().get(&topic) {
            Some(r) => {
                Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(r.to_json()))
            }
            None => Some(RemotingCommand::response(
                ResponseCode::TOPIC_NOT_EXIST,
                Some(format!(
                    "No topic route info in name server for the topic: {topic}"
                )),
            )),
        }
    }
}

struct Cluster {
    ns: Arc<FakeNamesrv>,
    ns_server: ServerHandle,
    brokers: Vec<(String, Arc<FakeBroker>, ServerHandle)>,
}

impl Cluster {
    async fn start(names: &[&str]) -> Cluster {
        let rt = default_runtime().unwrap();
        let mut brokers = Vec::new();
        for name in names {
            let fb = Arc::new(FakeBroker {
                behaviour: Mutex::new(Behaviour::Ok),
                sends: Mutex::new(Vec::new()),
                heartbeats: AtomicUsize::new(0),
                unregisters: AtomicUsize::new(0),
                offset: AtomicUsize::new(0),
            });
            let server = RemotingServer::start(
                rt.clone(),
                "127.0.0.1:0".parse().unwrap(),
                TransportConfig::default(),
                Arc::clone(&fb),
            )
            .await
            .unwrap();
            brokers.push((name.to_string(), fb, server));
        }
        let ns = Arc::new(FakeNamesrv {
            routes: Mutex::new(HashMap::new()),
            lookups: AtomicUsize::new(0),
        });
        let ns_server = RemotingServer::start(
            rt,
            "127.0.0.1:0".parse().unwrap(),
            TransportConfig::default(),
            Arc::clone(&ns),
        )
        .await
        .unwrap();
        Cluster {
            ns,
            ns_server,
            brokers,
        }
    }

    fn route(&self, queues: i32, perm: i32) -> TopicRouteData {
        let mut r = TopicRouteData::default();
        for (name, _, server) in &self.brokers {
            let mut b = BrokerData::new("DefaultCluster", name.as_str());
            b.broker_addrs.insert(0, server.local_addr().to_string());
            r.broker_datas.push(b);
            r.queue_datas.push(QueueData {
                broker_name: name.clone(),
                read_queue_nums: queues,
                write_queue_nums: queues,
                perm,
                topic_sys_flag: 0,
            });
        }
        r
    }

    fn add_topic(&self, topic: &str, queues: i32) {
        let r = self.route(queues, 6);
        self.ns.routes.lock().unwrap().insert(topic.to_owned(), r);
    }

    fn ns_addr(&self) -> String {
        self.ns_server.local_addr().to_string()
    }

    fn broker(&self, name: &str) -> &Arc<FakeBroker> {
        &self.brokers.iter().find(|b| b.0 == name).unwrap().1
    }

    fn set(&self, name: &str, b: Behaviour) {
        *self.broker(name).behaviour.lock().unwrap() = b;
    }

    fn sends(&self, name: &str) -> Vec<RemotingCommand> {
        self.broker(name).sends.lock().unwrap().clone()
    }

    fn all_sends(&self) -> Vec<(String, RemotingCommand)> {
        let mut v = Vec::new();
        for (n, b, _) in &self.brokers {
            for s in b.sends.lock().unwrap().iter() {
                v.push((n.clone(), s.clone()));
            }
        }
        v
    }

    async fn stop(&self) {
        for (_, _, s) in &self.brokers {
            s.shutdown().await;
        }
        self.ns_server.shutdown().await;
    }
}

fn header(cmd: &RemotingCommand) -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2::read_from(&cmd.ext_fields).unwrap()
}

fn uniq_of(cmd: &RemotingCommand) -> String {
    decode_properties(header(cmd).i.as_deref().unwrap())
        .get(property::UNIQ_KEY)
        .unwrap()
        .to_owned()
}

async fn producer(
    c: &Cluster,
    f: impl FnOnce(rocketmq_rs_client::ProducerBuilder) -> rocketmq_rs_client::ProducerBuilder,
) -> Producer {
    let b = Producer::builder()
        .name_server(&c.ns_addr())
        .group("test_pg")
        .retry_backoff(Duration::from_millis(1));
    let p = f(b).build().unwrap();
    p.start().await.unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_send_fills_header_and_result() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 4);
    let p = producer(&c, |b| b).await;
    let msg = Message::builder("T")
        .tag("TagA")
        .keys(["k1"])
        .body("hello")
        .build()
        .unwrap();
    let r = p.send(msg).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    assert_eq!(r.msg_id.len(), 32);
    assert_eq!(r.transaction_id.as_deref(), Some(r.msg_id.as_str()));
    assert_eq!(r.offset_msg_id, "7F00000100002A9F0000000000000010");
    assert_eq!(r.message_queue.topic, "T");
    assert_eq!(r.message_queue.broker_name, "broker-a");
    assert_eq!(r.region_id.as_deref(), Some("DefaultRegion"));
    assert!(r.trace_on);
    let sends = c.sends("broker-a");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].code, RequestCode::SEND_MESSAGE_V2);
    let h = header(&sends[0]);
    assert_eq!(
        (h.a.as_str(), h.b.as_str(), h.c.as_str(), h.d),
        ("test_pg", "T", DEFAULT_TOPIC, 4)
    );
    assert_eq!(h.e, r.message_queue.queue_id);
    assert_eq!(h.f, 0);
    assert_eq!(h.m, Some(false));
    assert_eq!(h.n.as_deref(), Some("broker-a"));
    let props = decode_properties(h.i.as_deref().unwrap());
    assert_eq!(props.get(property::TAGS), Some("TagA"));
    assert_eq!(props.get(property::KEYS), Some("k1"));
    assert_eq!(props.get(property::UNIQ_KEY), Some(r.msg_id.as_str()));
    assert_eq!(&sends[0].body[..], b"hello");
    // Round robin over the 4 queues.
    let mut queues = std::collections::HashSet::new();
    for _ in 0..4 {
        queues.insert(
            p.send(Message::new("T", "x"))
                .await
                .unwrap()
                .message_queue
                .queue_id,
        );
    }
    assert_eq!(queues.len(), 4);
    p.shutdown().await;
    assert_eq!(c.broker("broker-a").unregisters.load(Ordering::SeqCst), 1);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_goes_to_other_broker_and_keeps_uniq_key() {
    let c = Cluster::start(&["broker-a", "broker-b"]).await;
    c.add_topic("T", 2);
    c.set("broker-a", Behaviour::Code(ResponseCode::SYSTEM_ERROR));
    let p = producer(&c, |b| b).await;
    for _ in 0..8 {
        let r = p.send(Message::new("T", "x")).await.unwrap();
        assert_eq!(r.message_queue.broker_name, "broker-b");
    }
    let sends = c.all_sends();
    let failed: Vec<_> = sends.iter().filter(|(n, _)| n == "broker-a").collect();
    assert!(
        !failed.is_empty(),
        "round robin must have hit broker-a at least once"
    );
    // Every failed attempt was followed by a success on broker-b with the same UNIQ_KEY.
    for (_, f) in &failed {
        let id = uniq_of(f);
        let retried: Vec<_> = sends.iter().filter(|(_, s)| uniq_of(s) == id).collect();
        assert_eq!(retried.len(), 2, "one failure then one success");
        assert_eq!(retried[1].0, "broker-b");
    }
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_retryable_code_fails_fast_with_details() {
    let c = Cluster::start(&["broker-a", "broker-b"]).await;
    c.add_topic("T", 2);
    c.set("broker-a", Behaviour::Code(ResponseCode::MESSAGE_ILLEGAL));
    c.set("broker-b", Behaviour::Code(ResponseCode::MESSAGE_ILLEGAL));
    let p = producer(&c, |b| b).await;
    let e = p.send(Message::new("T", "x")).await.unwrap_err();
    match &e {
        Error::Broker {
            code,
            name,
            remark,
            addr,
            elapsed,
        } => {
            assert!(*elapsed < Duration::from_secs(3), "{elapsed:?}");
            assert_eq!(*code, 13);
            assert_eq!(*name, "MESSAGE_ILLEGAL");
            assert_eq!(remark, "fake error 13");
            assert!(addr.starts_with("127.0.0.1:"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(e.response_code(), Some(13));
    assert_eq!(c.all_sends().len(), 1);
    // Retriable everywhere: 3 attempts, then the last error.
    c.set("broker-a", Behaviour::Code(ResponseCode::SYSTEM_BUSY));
    c.set("broker-b", Behaviour::Code(ResponseCode::SYSTEM_BUSY));
    let e = p.send(Message::new("T", "x")).await.unwrap_err();
    assert_eq!(e.response_code(), Some(2));
    assert_eq!(c.all_sends().len(), 4);
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_honours_its_deadline() {
    let c = Cluster::start(&["broker-a", "broker-b"]).await;
    c.add_topic("T", 2);
    c.set("broker-a", Behaviour::Silent);
    c.set("broker-b", Behaviour::Silent);
    let p = producer(&c, |b| b.send_timeout(Duration::from_millis(300))).await;
    let t = Instant::now();
    let e = p.send(Message::new("T", "x")).await.unwrap_err();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(
        took < Duration::from_millis(400),
        "send overran its deadline: {took:?}"
    );
    assert!(
        matches!(e, Error::Timeout { .. } | Error::Network { .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());
    // A dead NameServer: the route lookup is inside the budget too.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let p2 = Producer::builder()
        .name_server(&dead)
        .group("pg2")
        .send_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    p2.start().await.unwrap();
    let t = Instant::now();
    assert!(p2.send(Message::new("T", "x")).await.is_err());
    assert!(t.elapsed() < Duration::from_millis(300));
    p2.shutdown().await;
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesrv_failover_skips_dead_address() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let p = Producer::builder()
        .name_servers([dead.clone(), c.ns_addr(), dead])
        .group("pg")
        .build()
        .unwrap();
    p.start().await.unwrap();
    for _ in 0..3 {
        p.send(Message::new("T", "x")).await.unwrap();
    }
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_compressed() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    let p = producer(&c, |b| b).await;
    let big = vec![b'z'; 5000];
    p.send(Message::new("T", big.clone())).await.unwrap();
    p.send(Message::new("T", vec![b'y'; 4095])).await.unwrap();
    let sends = c.sends("broker-a");
    let h = header(&sends[0]);
    assert_eq!(h.f, 0x301);
    assert!(sends[0].body.len() < 5000);
    assert_eq!(decompress(&sends[0].body, 1 << 20).unwrap(), big);
    assert_eq!(header(&sends[1]).f, 0);
    assert_eq!(sends[1].body.len(), 4095);
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tbw102_fallback_is_clipped() {
    let c = Cluster::start(&["broker-a"]).await;
    let tbw = c.route(8, 7);
    c.ns.routes
        .lock()
        .unwrap()
        .insert(DEFAULT_TOPIC.into(), tbw);
    let p = producer(&c, |b| b.default_topic_queue_nums(3)).await;
    let queues = p.fetch_publish_queues("NewTopic").await.unwrap();
    assert_eq!(queues.len(), 3);
    for _ in 0..6 {
        let r = p.send(Message::new("NewTopic", "x")).await.unwrap();
        assert!(r.message_queue.queue_id < 3);
    }
    assert!(c.sends("broker-a").iter().all(|s| header(s).d == 3));
    // No TBW102 either: a route error that says what to do.
    let c2 = Cluster::start(&["broker-a"]).await;
    let p2 = producer(&c2, |b| b).await;
    let e = p2.send(Message::new("Nope", "x")).await.unwrap_err();
    assert!(matches!(e, Error::RouteNotFound { .. }), "{e:?}");
    p.shutdown().await;
    p2.shutdown().await;
    c.stop().await;
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_send_and_limits() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    let p = producer(&c, |b| b.max_message_size(1000)).await;
    let msgs: Vec<Message> = (0..3)
        .map(|i| {
            Message::builder("T")
                .tag("t")
                .body(format!("m{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let r = p.send_batch(msgs).await.unwrap();
    let ids: Vec<&str> = r.msg_id.split(',').collect();
    assert_eq!(ids.len(), 3);
    let sends = c.sends("broker-a");
    assert_eq!(sends[0].code, RequestCode::SEND_BATCH_MESSAGE);
    let h = header(&sends[0]);
    assert_eq!(h.m, Some(true));
    assert_eq!(h.f, 0);
    let wrapper = decode_properties(h.i.as_deref().unwrap());
    assert_eq!(wrapper.get(property::WAIT), Some("true"));
    // No batch-level id: pre-5.4 Apache brokers copy header properties into every message,
    // where it would replace the messages' own ids.
    assert_eq!(wrapper.get(property::UNIQ_KEY), None);
    let inner = decode_batch(sends[0].body.clone()).unwrap();
    assert_eq!(inner.len(), 3);
    for (m, id) in inner.iter().zip(&ids) {
        assert_eq!(m.properties.get(property::UNIQ_KEY), Some(*id));
    }
    // Too large as a whole.
    let big: Vec<Message> = (0..5).map(|_| Message::new("T", vec![b'x'; 300])).collect();
    assert!(matches!(
        p.send_batch(big.clone()).await,
        Err(Error::InvalidMessage(_))
    ));
    let parts = rocketmq_rs_client::producer::batch::split_batch(big, 1000).unwrap();
    assert!(parts.len() >= 2);
    for part in parts {
        p.send_batch(part).await.unwrap();
    }
    // Mixed topics are refused.
    assert!(p
        .send_batch(vec![Message::new("T", "a"), Message::new("U", "b")])
        .await
        .is_err());
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selector_sends_are_never_rerouted() {
    let c = Cluster::start(&["broker-a", "broker-b"]).await;
    c.add_topic("T", 2);
    let p = producer(&c, |b| b).await;
    // Same key, same queue.
    let q1 = p
        .send_with_selector(Message::new("T", "1"), &SelectByHash, "order-7")
        .await
        .unwrap()
        .message_queue;
    let q2 = p
        .send_with_selector(Message::new("T", "2"), &SelectByHash, "order-7")
        .await
        .unwrap()
        .message_queue;
    assert_eq!(q1, q2);
    // The chosen broker fails: one attempt, an error.
    c.set(&q1.broker_name, Behaviour::Code(ResponseCode::SYSTEM_ERROR));
    let before = c.all_sends().len();
    assert!(p
        .send_with_selector(Message::new("T", "3"), &SelectByHash, "order-7")
        .await
        .is_err());
    assert_eq!(c.all_sends().len(), before + 1);
    // A closure selector, and an out-of-range index.
    let first = |_qs: &[rocketmq_rs_client::MessageQueue], _a: &()| Some(0usize);
    let other = if q1.broker_name == "broker-a" {
        "broker-b"
    } else {
        "broker-a"
    };
    let _ = other;
    let bad = |qs: &[rocketmq_rs_client::MessageQueue], _a: &()| Some(qs.len());
    assert!(matches!(
        p.send_with_selector(Message::new("T", "4"), &bad, &())
            .await,
        Err(Error::InvalidMessage(_))
    ));
    c.set(&q1.broker_name, Behaviour::Ok);
    let r = p
        .send_with_selector(Message::new("T", "5"), &first, &())
        .await
        .unwrap();
    assert_eq!(r.message_queue.queue_id, 0);
    // Explicit queue.
    let mq = rocketmq_rs_client::MessageQueue::new("T", "broker-b", 1);
    assert_eq!(
        p.send_to_queue(Message::new("T", "6"), &mq)
            .await
            .unwrap()
            .message_queue,
        mq
    );
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_sends_complete_exactly_once() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    let p = producer(&c, |b| {
        b.retry_times_async(0).send_timeout(Duration::from_secs(5))
    })
    .await;
    // Future form.
    let r = p.send_async(Message::new("T", "a")).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    // The broker dies mid-flight: each callback still runs exactly once.
    c.set("broker-a", Behaviour::Silent);
    let calls = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let calls = Arc::clone(&calls);
        let errors = Arc::clone(&errors);
        p.send_with_callback(Message::new("T", "b"), move |r| {
            calls.fetch_add(1, Ordering::SeqCst);
            if r.is_err() {
                errors.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    }
    // Wait until the requests reached the broker, then kill it.
    let t = Instant::now();
    while c.sends("broker-a").len() < 6 && t.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.brokers[0].2.shutdown().await;
    let t = Instant::now();
    while calls.load(Ordering::SeqCst) < 5 && t.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "callbacks must fire when the connection dies"
    );
    p.shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(errors.load(Ordering::SeqCst), 5);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_inflight_then_cancels() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    c.set("broker-a", Behaviour::Silent);
    let p = producer(&c, |b| {
        b.shutdown_timeout(Duration::from_millis(100))
            .send_timeout(Duration::from_secs(10))
    })
    .await;
    let pending = p.send_async(Message::new("T", "x"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    p.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(matches!(pending.await, Err(Error::Shutdown)));
    // Idempotent, and sends are refused.
    p.shutdown().await;
    assert!(matches!(
        p.send(Message::new("T", "x")).await,
        Err(Error::Shutdown)
    ));
    assert!(p
        .send_with_callback(Message::new("T", "x"), |_| panic!("must not run"))
        .is_err());
    assert!(matches!(
        p.send_async(Message::new("T", "x")).await,
        Err(Error::Shutdown)
    ));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_started_and_invalid_messages() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    let p = Producer::builder()
        .name_server(&c.ns_addr())
        .group("pg")
        .build()
        .unwrap();
    assert!(matches!(
        p.send(Message::new("T", "x")).await,
        Err(Error::NotRunning(_))
    ));
    p.start().await.unwrap();
    p.start().await.unwrap();
    assert!(matches!(
        p.send(Message::new("T", "")).await,
        Err(Error::InvalidMessage(_))
    ));
    assert!(matches!(
        p.send(Message::new("bad topic", "x")).await,
        Err(Error::InvalidMessage(_))
    ));
    assert!(matches!(
        p.send(Message::new("T", vec![0u8; 4 * 1024 * 1024 + 1]))
            .await,
        Err(Error::InvalidMessage(_))
    ));
    assert!(c.all_sends().is_empty());
    assert!(Producer::builder()
        .name_server(&c.ns_addr())
        .build()
        .is_err());
    assert!(Producer::builder().group("g").build().is_err());
    assert!(Producer::builder()
        .name_server(&c.ns_addr())
        .group("DEFAULT_PRODUCER")
        .build()
        .is_err());
    p.shutdown().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_instance_heartbeats_and_unique_ids() {
    let c = Cluster::start(&["broker-a"]).await;
    c.add_topic("T", 1);
    let mut cfg = ClientConfig::with_name_server(&c.ns_addr());
    cfg.heartbeat_interval = Duration::from_millis(50);
    let instance = ClientInstance::new(cfg.clone()).unwrap();
    let other = ClientInstance::new(cfg).unwrap();
    assert_ne!(instance.client_id(), other.client_id());
    let p1 = Producer::builder()
        .group("g1")
        .client_instance(instance.clone())
        .build()
        .unwrap();
    let p2 = Producer::builder()
        .group("g2")
        .client_instance(instance.clone())
        .build()
        .unwrap();
    p1.start().await.unwrap();
    p2.start().await.unwrap();
    let dup = Producer::builder()
        .group("g1")
        .client_instance(instance.clone())
        .build()
        .unwrap();
    assert!(matches!(dup.start().await, Err(Error::Config(_))));
    p1.send(Message::new("T", "x")).await.unwrap();
    let t = Instant::now();
    while c.broker("broker-a").heartbeats.load(Ordering::SeqCst) < 2
        && t.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c.broker("broker-a").heartbeats.load(Ordering::SeqCst) >= 2);
    let hb = instance.heartbeat_data();
    let mut groups: Vec<_> = hb
        .producer_data_set
        .iter()
        .map(|p| p.group_name.clone())
        .collect();
    groups.sort();
    assert_eq!(groups, ["g1", "g2"]);
    // A producer on a shared instance leaves it running.
    p1.shutdown().await;
    assert!(instance.is_running());
    p2.send(Message::new("T", "y")).await.unwrap();
    p2.shutdown().await;
    instance.shutdown().await;
    instance.shutdown().await;
    other.shutdown().await;
    c.stop().await;
}

#[test]
fn futures_are_send_and_producer_is_clone() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_clone_sync<T: Clone + Send + Sync + 'static>() {}
    assert_clone_sync::<Producer>();
    assert_clone_sync::<ClientInstance>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Producer::builder()
            .name_server("127.0.0.1:9")
            .group("g")
            .build()
            .unwrap();
        let m = Message::new("T", "x");
        let mq = rocketmq_rs_client::MessageQueue::new("T", "b", 0);
        assert_send(&p.send(m.clone()));
        assert_send(&p.send_oneway(m.clone()));
        assert_send(&p.send_async(m.clone()));
        assert_send(&p.send_to_queue(m.clone(), &mq));
        assert_send(&p.send_with_selector(m.clone(), &SelectByHash, "k"));
        assert_send(&p.send_batch(vec![m.clone()]));
        assert_send(&p.start());
        assert_send(&p.shutdown());
    });
}
