//! Request-reply end to end against the in-process mini NameServer and mini broker: a round
//! trip (request → replier → SEND_REPLY_MESSAGE_V2 → PUSH_REPLY_MESSAGE_TO_CLIENT) and a
//! request nobody answers. The replier reads requests straight from the broker's store so the
//! test covers the reply path only. Test bodies take an `Arc<dyn Runtime>`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_rs_client::producer::create_reply;
use rocketmq_rs_client::{Error, Message, Producer};
use rocketmq_rs_mini_broker::store::GetStatus;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig};
use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};
use rocketmq_rs_remoting::protocol::message::{decode_message, property};
use rocketmq_rs_remoting::rt::Runtime;

const TOPIC: &str = "ItRequestTopic";

fn producer(ns: &str, rt: &Arc<dyn Runtime>, group: &str) -> Producer {
    Producer::builder()
        .name_server(ns)
        .group(group)
        .runtime(rt.clone())
        .build()
        .unwrap()
}

async fn warm_up(rt: &dyn Runtime, p: &Producer) {
    let t = Instant::now();
    loop {
        match p.send(Message::new("ItRrWarmup", "w")).await {
            Ok(_) => return,
            Err(_) if t.elapsed() < Duration::from_secs(10) => {
                rt.sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("broker never became routable: {e}"),
        }
    }
}

async fn round_trip_and_timeout(rt: Arc<dyn Runtime>) {
    let ns = NameServer::start(
        NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap()),
        rt.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.namesrv_addrs = vec![ns.addr().to_string()];
    cfg.register_name_server_period_ms = 200;
    let broker = Arc::new(Broker::start(cfg, rt.clone()).await.unwrap());
    let ns_addr = ns.addr().to_string();

    let requester = producer(&ns_addr, &rt, "it_rr_requester");
    requester.start().await.unwrap();
    warm_up(&*rt, &requester).await;
    let replier = producer(&ns_addr, &rt, "it_rr_replier");
    replier.start().await.unwrap();

    // The replier: answers each request stored in TOPIC with "pong:<body>".
    let serve = {
        let (broker, replier, rt) = (broker.clone(), replier.clone(), rt.clone());
        async move {
            let mut next = std::collections::HashMap::<i32, i64>::new();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(15) {
                let store = broker.store();
                for q in store.queue_ids(TOPIC) {
                    let from = *next.get(&q).unwrap_or(&0);
                    let r = store
                        .get_messages(TOPIC, q, from, 32, 1 << 20, None)
                        .unwrap();
                    if r.status != GetStatus::Found {
                        continue;
                    }
                    next.insert(q, r.next_begin_offset);
                    if let Some(mut raw) = r.messages.into_iter().next() {
                        let req = decode_message(&mut raw, true, true).unwrap();
                        let mut body = b"pong:".to_vec();
                        body.extend_from_slice(&req.body);
                        let reply = create_reply(&req, body).unwrap();
                        replier.send(reply).await.unwrap();
                        return;
                    }
                }
                rt.sleep(Duration::from_millis(20)).await;
            }
            panic!("no request arrived");
        }
    };
    let (tx, rx) = futures::channel::oneshot::channel();
    rt.spawn(Box::pin(async move {
        serve.await;
        let _ = tx.send(());
    }));

    let started = Instant::now();
    let reply = requester
        .request(Message::new(TOPIC, "ping"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(reply.body, "pong:ping");
    assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
    assert_eq!(reply.property(property::MESSAGE_TYPE), Some("reply"));
    assert!(reply.property(property::CORRELATION_ID).is_some());
    assert!(reply.property(property::PUSH_REPLY_TIME).is_some());
    assert!(reply
        .property(property::REPLY_MESSAGE_ARRIVE_TIME)
        .is_some());
    assert!(started.elapsed() < Duration::from_secs(10));
    rx.await.unwrap();
    // The reply was also stored in the reply topic (storeReplyMessageEnable).
    assert_eq!(
        broker.store().max_offset("DefaultCluster_REPLY_TOPIC", 0),
        1
    );

    // Nobody answers: the request times out within its budget.
    let started = Instant::now();
    let err = requester
        .request(
            Message::new("ItNobodyListens", "hello?"),
            Duration::from_millis(800),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { op: "request", .. }), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A reply for an unknown requester is refused by the broker (channel not found).
    let mut stray = rocketmq_rs_client::MessageExt::new(TOPIC, "x");
    stray.put_property(property::CLUSTER, "DefaultCluster");
    stray.put_property(property::REPLY_TO_CLIENT, "10.9.9.9@nobody");
    stray.put_property(property::CORRELATION_ID, "nope");
    let err = replier
        .send(create_reply(&stray, "late").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");

    requester.shutdown().await;
    replier.shutdown().await;
    broker.shutdown().await;
    ns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_on_tokio() {
    round_trip_and_timeout(rocketmq_rs_remoting::rt::default_runtime().unwrap()).await;
}

#[cfg(feature = "runtime-smol")]
#[test]
fn request_reply_on_smol() {
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::SmolRuntime::new());
    futures::executor::block_on(round_trip_and_timeout(rt));
}

#[cfg(feature = "runtime-async-std")]
#[test]
fn request_reply_on_async_std() {
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::AsyncStdRuntime::new());
    futures::executor::block_on(round_trip_and_timeout(rt));
}
