//! Scenario 8 of the Apache interop matrix, mixed routing: an Apache Broker registered with
//! our mini-namesrv, and our mini-broker registered with an Apache NameServer (4.9.7, 5.3.3,
//! 5.5.0; see `interop/apache/`). In both, our producer sends through the mixed route and our
//! pull consumer reads every message back; Apache's `mqadmin` checks what the Apache side sees.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_it::apache::{apache_or_skip, ApacheCluster, ApacheNamesrv, V4, V5_3, V5_NEWEST};
use rocketmq_it::init_tracing;
use rocketmq_rs_client::{Message, Producer, SendStatus};
use rocketmq_rs_mini_broker::topic_config::{PERM_READ, PERM_WRITE};
use rocketmq_rs_mini_broker::{Broker, BrokerConfig};
use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};
use rocketmq_rs_remoting::protocol::body::TopicConfig;
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{default_options, pull_all_ns};

const N: usize = 12;

async fn send_n(ns: &str, rt: &Arc<dyn Runtime>, topic: &str, group: &str) -> BTreeSet<String> {
    let p = Producer::builder()
        .name_server(ns)
        .group(group)
        .send_timeout(Duration::from_secs(10))
        .runtime(Arc::clone(rt))
        .route_refresh_interval(Duration::from_secs(1))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    let mut keys = BTreeSet::new();
    for i in 0..N {
        let key = format!("mixed{i}");
        let mut m = Message::new(topic, format!("mixed body {i}"));
        m.set_keys([key.as_str()]);
        let r = p.send(m).await.expect("send");
        assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
        keys.insert(key);
    }
    p.shutdown().await;
    keys
}

/// An Apache Broker registered with our mini-namesrv: the route mini-namesrv serves from the
/// Apache registration (4.x fastjson / 5.x bodies) leads our client to the Apache broker.
fn apache_broker_mini_namesrv(version: &str) {
    let test = format!("apache_broker_mini_namesrv {version}");
    init_tracing();
    if !apache_or_skip(&test) {
        return;
    }
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::from_handle(
        tokio_rt.handle().clone(),
    ));
    let namesrv = tokio_rt
        .block_on(NameServer::start(
            NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().expect("addr")),
            Arc::clone(&rt),
        ))
        .expect("mini-namesrv");
    let ns = namesrv.addr();
    let broker = ApacheCluster::start_with_namesrv(version, ns, &default_options())
        .unwrap_or_else(|e| panic!("{test}: Apache broker: {e}"));
    let broker = Arc::new(broker);
    let topic = crate::common::unique("MixedA", version);
    tokio_rt.block_on({
        let (rt, broker, topic) = (Arc::clone(&rt), Arc::clone(&broker), topic.clone());
        async move {
            // Our UPDATE_AND_CREATE_TOPIC to the Apache broker; it re-registers with
            // mini-namesrv, which must then serve the route.
            crate::common::create_topic(&rt, &broker, &topic, 4).await;
            let keys = send_n(
                &ns.to_string(),
                &rt,
                &topic,
                &crate::common::unique("pg_mixed_a", version),
            )
            .await;
            let got = pull_all_ns(ns, &rt, &topic, N, Duration::from_secs(60)).await;
            let got: BTreeSet<String> = got
                .iter()
                .map(|m| m.keys().unwrap_or("-").to_string())
                .collect();
            assert_eq!(got, keys);
        }
    });
    // Apache's mqadmin reads the cluster table our mini-namesrv built from the registration.
    let out = broker
        .mqadmin(&["clusterList"])
        .unwrap_or_else(|e| panic!("mqadmin clusterList: {e}"));
    assert!(
        out.contains("RmqIT") && out.contains(&broker.broker_addr().to_string()),
        "clusterList via mini-namesrv:\n{out}"
    );
    drop(broker);
    tokio_rt.block_on(namesrv.shutdown());
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
}

/// Our mini-broker registered with an Apache NameServer: Apache serves its route to our
/// client, and Apache's mqadmin lists it.
fn mini_broker_apache_namesrv(version: &str) {
    let test = format!("mini_broker_apache_namesrv {version}");
    init_tracing();
    if !apache_or_skip(&test) {
        return;
    }
    let namesrv =
        ApacheNamesrv::start(version).unwrap_or_else(|e| panic!("{test}: Apache namesrv: {e}"));
    let ns = namesrv.addr();
    let store = tempfile::Builder::new()
        .prefix("apache-mixed-store-")
        .tempdir()
        .expect("store dir");
    let topic = crate::common::unique("MixedB", version);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rt: Arc<dyn Runtime> = Arc::new(rocketmq_rs_remoting::rt::TokioRuntime::from_handle(
        tokio_rt.handle().clone(),
    ));
    let broker = tokio_rt.block_on({
        let (rt, topic, store_path) = (Arc::clone(&rt), topic.clone(), store.path().to_path_buf());
        async move {
            let mut cfg = BrokerConfig::for_test(&store_path);
            cfg.namesrv_addrs = vec![ns.to_string()];
            let broker = Broker::start(cfg, Arc::clone(&rt))
                .await
                .expect("mini-broker");
            broker
                .topics()
                .upsert(TopicConfig::new(&topic, 4, 4, PERM_READ | PERM_WRITE))
                .expect("create topic");
            assert_eq!(
                broker.register_now().await,
                1,
                "mini-broker could not register with the Apache NameServer"
            );
            let keys = send_n(
                &ns.to_string(),
                &rt,
                &topic,
                &crate::common::unique("pg_mixed_b", version),
            )
            .await;
            let got = pull_all_ns(ns, &rt, &topic, N, Duration::from_secs(60)).await;
            let got: BTreeSet<String> = got
                .iter()
                .map(|m| m.keys().unwrap_or("-").to_string())
                .collect();
            assert_eq!(got, keys);
            broker
        }
    });
    // While the mini-broker is registered: Apache's own view of the route.
    let out = namesrv
        .mqadmin(&["topicRoute", "-t", &topic])
        .unwrap_or_else(|e| panic!("mqadmin topicRoute: {e}"));
    assert!(
        out.contains(&broker.addr().to_string()),
        "Apache's route of {topic} lacks the mini-broker {}:\n{out}",
        broker.addr()
    );
    tokio_rt.block_on(broker.shutdown());
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
}

per_version!(
    apache_broker_mini_namesrv,
    apache_broker_mini_namesrv_4_9_7,
    apache_broker_mini_namesrv_5_3_3,
    apache_broker_mini_namesrv_5_5_0
);
per_version!(
    mini_broker_apache_namesrv,
    mini_broker_apache_namesrv_4_9_7,
    mini_broker_apache_namesrv_5_3_3,
    mini_broker_apache_namesrv_5_5_0
);
