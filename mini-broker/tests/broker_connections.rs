//! `max_connections`: at the cap the broker accepts the next connection only once one closes;
//! the newcomer waits (its connect succeeds in the listen backlog) and is served afterwards.

mod broker_util;

use std::time::Duration;

use broker_util::{client, start, T};
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;

async fn topics(c: &RemotingClient, addr: &str) -> i32 {
    let req = RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG);
    c.invoke(addr, req, T).await.expect("answered").code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.max_connections = 2;
    let broker = start(cfg).await;
    let addr = broker.addr().to_string();

    // Each client pools its own connection to the broker.
    let (c1, c2, c3) = (client(), client(), client());
    assert_eq!(topics(&c1, &addr).await, ResponseCode::SUCCESS);
    assert_eq!(topics(&c2, &addr).await, ResponseCode::SUCCESS);
    assert_eq!(broker.connection_count(), 2);

    let third = {
        let addr = addr.clone();
        // The client comes back with the answer: dropping it would close its connection.
        tokio::spawn(async move { (topics(&c3, &addr).await, c3) })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !third.is_finished(),
        "the third connection was served above the cap"
    );
    assert_eq!(broker.connection_count(), 2);
    // The first two still work meanwhile.
    assert_eq!(topics(&c2, &addr).await, ResponseCode::SUCCESS);

    c1.shutdown();
    let (code, c3) = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a slot was free")
        .unwrap();
    assert_eq!(code, ResponseCode::SUCCESS);
    assert_eq!(broker.connection_count(), 2);

    c2.shutdown();
    c3.shutdown();
    broker.shutdown().await;
}
