//! SQL92 subscriptions (`MessageSelector::sql92`) of the push and lite-pull consumers against
//! the in-process mini NameServer and mini broker: delivery of exactly the selected messages
//! with `enablePropertyFilter`, and the start-time check (CHECK_CLIENT_CONFIG) refusing them
//! with the broker's code and Apache's text otherwise.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{check, cluster_builder, fast_client, until};
use rocketmq_rs_client::consumer::{LitePullConsumer, MessageSelector, PushConsumerConfig};
use rocketmq_rs_client::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, Error, Message, MessageExt, Producer,
    PushConsumer,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};

const TOPIC: &str = "ItSqlTopic";
/// Messages 0..20; `n` is the index, odd ones are TagB.
const SQL: &str = "n BETWEEN 3 AND 12 AND TAGS = 'TagA' OR kind = 'special'";

fn want() -> BTreeSet<String> {
    let mut w: BTreeSet<String> = (3..=12)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("m{i}"))
        .collect();
    w.insert("m17".into());
    w
}

fn run(
    body: impl FnOnce(Arc<dyn Runtime>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio_rt.handle().clone()));
    tokio_rt.block_on(async move {
        tokio::time::timeout(Duration::from_secs(90), body(rt))
            .await
            .expect("test timed out")
    });
}

async fn cluster(rt: &Arc<dyn Runtime>, property_filter: bool) -> EmbeddedCluster {
    cluster_builder(move |cfg| cfg.enable_property_filter = property_filter)
        .topic(TOPIC, 2)
        .start(rt.clone())
        .await
        .expect("cluster starts")
}

async fn send_all(ns: &str, rt: &Arc<dyn Runtime>) {
    let p = Producer::builder()
        .name_server(ns)
        .runtime(rt.clone())
        .group("it_sql_pg")
        .build()
        .unwrap();
    p.start().await.unwrap();
    for i in 0..20 {
        let mut b = Message::builder(TOPIC)
            .body(format!("m{i}"))
            .tag(if i % 2 == 0 { "TagA" } else { "TagB" })
            .property("n", i.to_string());
        if i == 17 {
            b = b.property("kind", "special");
        }
        p.send(b.build().unwrap()).await.expect("send");
    }
    p.shutdown().await;
}

fn push(
    ns: &str,
    rt: &Arc<dyn Runtime>,
    group: &str,
    sql: &str,
    got: Arc<Mutex<Vec<String>>>,
) -> PushConsumer {
    PushConsumer::builder()
        .client_config(fast_client(ns, rt))
        .config({
            let mut c = PushConsumerConfig::default();
            c.group = group.into();
            c.consume_from_where = ConsumeFromWhere::FirstOffset;
            c.long_polling_timeout = Duration::from_secs(2);
            c
        })
        .subscribe(TOPIC, MessageSelector::sql92(sql))
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let got = got.clone();
            async move {
                for m in msgs {
                    got.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&m.body).into_owned());
                }
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap()
}

#[test]
fn push_and_lite_pull_receive_exactly_the_selected_messages() {
    run(|rt| {
        Box::pin(async move {
            let c = cluster(&rt, true).await;
            let ns = c.namesrv_addr();
            send_all(&ns, &rt).await;

            let got: Arc<Mutex<Vec<String>>> = Arc::default();
            let consumer = push(&ns, &rt, "it_sql_push", SQL, got.clone());
            consumer.start().await.expect("push consumer start");
            until(&c, "push deliveries", Duration::from_secs(30), || {
                let n = got.lock().unwrap().len();
                check(n >= want().len(), || n)
            })
            .await;
            // Committed up to the end: every pulled message went through the listener, so
            // anything that should not come would be here.
            c.wait_for_consumed("it_sql_push", TOPIC, Duration::from_secs(10))
                .await
                .unwrap();
            let seen: Vec<String> = got.lock().unwrap().clone();
            assert_eq!(seen.len(), want().len(), "duplicates or extra: {seen:?}");
            assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), want());
            consumer.shutdown().await.unwrap();

            let lite = LitePullConsumer::builder()
                .client_config(fast_client(&ns, &rt))
                .group("it_sql_lite")
                .consume_from_where(ConsumeFromWhere::FirstOffset)
                .build()
                .unwrap();
            lite.subscribe(TOPIC, MessageSelector::sql92(SQL))
                .await
                .unwrap();
            lite.start().await.expect("lite pull consumer start");
            let mut polled = Vec::new();
            let t = Instant::now();
            while polled.len() < want().len() && t.elapsed() < Duration::from_secs(30) {
                for m in lite.poll(Duration::from_millis(300)).await.unwrap() {
                    polled.push(String::from_utf8_lossy(&m.body).into_owned());
                }
            }
            for m in lite.poll(Duration::from_millis(1000)).await.unwrap() {
                polled.push(String::from_utf8_lossy(&m.body).into_owned());
            }
            assert_eq!(polled.len(), want().len(), "lite pull: {polled:?}");
            assert_eq!(polled.into_iter().collect::<BTreeSet<_>>(), want());
            lite.shutdown().await.unwrap();
            c.shutdown().await;
        })
    });
}

fn refusal(e: Error) -> (i32, String) {
    match e {
        Error::Broker { code, remark, .. } => (code, remark),
        other => panic!("expected the broker's refusal, got {other:?}"),
    }
}

#[test]
fn start_fails_when_the_broker_refuses_the_expression() {
    run(|rt| {
        Box::pin(async move {
            // Property filtering off: Apache's SYSTEM_ERROR.
            let c = cluster(&rt, false).await;
            let ns = c.namesrv_addr();
            let consumer = push(&ns, &rt, "it_sql_off", "n > 1", Arc::default());
            let (code, remark) = refusal(consumer.start().await.expect_err("refused"));
            assert_eq!(code, 1);
            assert_eq!(
                remark,
                "The broker does not support consumer to filter message by SQL92"
            );
            assert!(!consumer.is_running());
            let lite = LitePullConsumer::builder()
                .client_config(fast_client(&ns, &rt))
                .group("it_sql_off_lite")
                .build()
                .unwrap();
            lite.subscribe(TOPIC, MessageSelector::sql92("n > 1"))
                .await
                .unwrap();
            let (code, _) = refusal(lite.start().await.expect_err("refused"));
            assert_eq!(code, 1);
            c.shutdown().await;

            // On, but the expression does not compile: the compiler's message, as Apache's.
            let c = cluster(&rt, true).await;
            let ns = c.namesrv_addr();
            let consumer = push(&ns, &rt, "it_sql_bad", "n > 'x'", Arc::default());
            let (code, remark) = refusal(consumer.start().await.expect_err("refused"));
            assert_eq!(code, 23, "SUBSCRIPTION_PARSE_FAILED");
            assert_eq!(
                remark,
                "java.lang.RuntimeException: Value ''x'' cannot be compared."
            );
            c.shutdown().await;
        })
    });
}
