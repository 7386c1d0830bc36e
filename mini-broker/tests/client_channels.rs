//! Which connection the broker picks when it calls a client (transaction check-backs go to
//! `producer_channel`, admin relays to `consumer_channel` / `consumer_channels`): a live one,
//! the most recently heard from, even while a closed one is still in the table (its removal
//! runs on disconnect, a moment later).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_rs_mini_broker::client_manager::{ClientIdentity, ClientManager};
use rocketmq_rs_remoting::protocol::body::{ConsumerData, SubscriptionData};
use rocketmq_rs_remoting::protocol::{LanguageCode, RemotingCommand};
use rocketmq_rs_remoting::rt::{default_runtime, Runtime};
use rocketmq_rs_remoting::transport::{
    Connection, RemotingClient, RemotingServer, RequestHandler, TransportConfig,
};

const T: Duration = Duration::from_secs(10);

/// Registers the caller as producer of `pg` and consumer of `cg` under the client id in the
/// request's `id` field; never removes anything (so closed channels stay in the table).
struct Registrar {
    mgr: Arc<ClientManager>,
}

impl RequestHandler for Registrar {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        let who = ClientIdentity {
            client_id: req.ext_fields.get("id").unwrap_or_default().to_string(),
            language: LanguageCode::Rust,
            version: 0,
        };
        self.mgr.register_producer("pg", conn, &who);
        let data = ConsumerData {
            group_name: "cg".into(),
            subscription_data_set: vec![SubscriptionData {
                topic: "T".into(),
                sub_string: "*".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        self.mgr.register_consumer(&data, conn, &who, false, false);
        Some(RemotingCommand::response(0, None))
    }
}

async fn register(c: &RemotingClient, addr: &str, id: &str) {
    let mut cmd = RemotingCommand::request(34);
    cmd.ext_fields.insert("id", id);
    assert_eq!(c.invoke(addr, cmd, T).await.unwrap().code, 0);
}

fn id_of(mgr: &ClientManager, client_id: &str) -> Option<u64> {
    mgr.producer_channel_by_client_id(client_id).map(|c| c.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_to_a_live_channel_most_recent_first() {
    let rt: Arc<dyn Runtime> = default_runtime().unwrap();
    let mgr = Arc::new(ClientManager::default());
    let server = RemotingServer::start(
        rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
        TransportConfig::default(),
        Arc::new(Registrar {
            mgr: Arc::clone(&mgr),
        }),
    )
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let a = RemotingClient::new(rt.clone(), TransportConfig::default());
    let b = RemotingClient::new(rt.clone(), TransportConfig::default());
    register(&a, &addr, "a").await;
    rt.sleep(Duration::from_millis(5)).await;
    register(&b, &addr, "b").await;
    let (ida, idb) = (id_of(&mgr, "a").unwrap(), id_of(&mgr, "b").unwrap());
    assert_ne!(ida, idb);

    // Both live: the most recently heard from.
    assert_eq!(mgr.producer_channel("pg").map(|c| c.id()), Some(idb));
    rt.sleep(Duration::from_millis(5)).await;
    register(&a, &addr, "a").await;
    assert_eq!(mgr.producer_channel("pg").map(|c| c.id()), Some(ida));
    assert_eq!(mgr.consumer_channel("cg", "b").map(|c| c.id()), Some(idb));
    assert_eq!(
        mgr.consumer_channels("cg")
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );

    // a's connection closes; the table still holds it, but nobody is sent there.
    a.shutdown();
    let t = Instant::now();
    while id_of(&mgr, "a").is_some() {
        assert!(t.elapsed() < T, "a's server side never saw the close");
        rt.sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(mgr.producer_count("pg"), 2, "still in the table");
    assert_eq!(mgr.producer_channel("pg").map(|c| c.id()), Some(idb));
    assert!(mgr.consumer_channel("cg", "a").is_none());
    assert_eq!(
        mgr.consumer_channels("cg")
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );

    b.shutdown();
    let t = Instant::now();
    while mgr.producer_channel("pg").is_some() {
        assert!(t.elapsed() < T, "b's server side never saw the close");
        rt.sleep(Duration::from_millis(5)).await;
    }
    assert!(mgr.consumer_channels("cg").is_empty());
    server.shutdown().await;
}
