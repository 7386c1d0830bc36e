//! Request-reply end to end against the in-process mini NameServer and mini broker: a round
//! trip (request → replier → SEND_REPLY_MESSAGE_V2 → PUSH_REPLY_MESSAGE_TO_CLIENT) and a
//! request nobody answers. The replier reads requests straight from the broker's store so the
//! test covers the reply path only. Test bodies take an `Arc<dyn Runtime>`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_rs_client::producer::create_reply;
use rocketmq_rs_client::{Error, Message, Producer};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::protocol::message::property;
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

async fn round_trip_and_timeout(rt: Arc<dyn Runtime>) {
    // The broker is registered (TBW102 routable) when `start` returns.
    let cluster = EmbeddedCluster::builder()
        .configure(|cfg| cfg.register_name_server_period_ms = 200)
        .start(rt.clone())
        .await
        .unwrap();
    let broker = cluster.broker("broker-a").unwrap();
    let ns_addr = cluster.namesrv_addr();

    let requester = producer(&ns_addr, &rt, "it_rr_requester");
    requester.start().await.unwrap();
    let replier = producer(&ns_addr, &rt, "it_rr_replier");
    replier.start().await.unwrap();

    // The replier: answers the request stored in TOPIC with "pong:<body>".
    let serve = async {
        let stored = cluster
            .wait_for_messages(TOPIC, 1, Duration::from_secs(15))
            .await
            .expect("a request arrives");
        let req = &stored[0].message;
        let mut body = b"pong:".to_vec();
        body.extend_from_slice(&req.body);
        let reply = create_reply(req, body).unwrap();
        replier.send(reply).await.unwrap();
    };

    let started = Instant::now();
    let ((), reply) = futures::join!(
        serve,
        requester.request(Message::new(TOPIC, "ping"), Duration::from_secs(10))
    );
    let reply = reply.unwrap();
    assert_eq!(reply.body, "pong:ping");
    assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
    assert_eq!(reply.property(property::MESSAGE_TYPE), Some("reply"));
    assert!(reply.property(property::CORRELATION_ID).is_some());
    assert!(reply.property(property::PUSH_REPLY_TIME).is_some());
    assert!(reply
        .property(property::REPLY_MESSAGE_ARRIVE_TIME)
        .is_some());
    assert!(started.elapsed() < Duration::from_secs(10));
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
    cluster.shutdown().await;
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
