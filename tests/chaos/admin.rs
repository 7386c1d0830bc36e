//! Protocol helpers for tests against live servers: create a topic, read max offsets, ask a
//! NameServer for a route. Each call opens its own short-lived client on the current tokio
//! runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{CreateTopicRequestHeader, TopicFilterType};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

/// The current tokio runtime as the client's runtime handle.
pub fn runtime() -> Arc<dyn Runtime> {
    Arc::new(TokioRuntime::try_current().expect("inside tokio"))
}

/// Creates `topic` on a broker (which then re-registers with its NameServer).
pub async fn create_topic(broker: SocketAddr, topic: &str, queues: i32, order: bool) {
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_sys_flag: Some(0),
        order,
        attributes: None,
        force: false,
        bname: None,
    };
    let req = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC).with_header(&header);
    let resp = client
        .invoke(&broker.to_string(), req, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("create topic {topic} on {broker}: {e}"));
    assert_eq!(
        resp.code,
        ResponseCode::SUCCESS,
        "create topic {topic}: {resp:?}"
    );
    client.shutdown();
}

/// Max offsets of `topic`'s queues on a broker (diagnostics; errors as text).
pub async fn max_offsets(broker: SocketAddr, topic: &str, queues: i32) -> Vec<String> {
    use rocketmq_rs_remoting::protocol::header::{
        GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    };
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let mut out = Vec::new();
    for q in 0..queues {
        let header = GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id: q,
            committed: true,
            bname: None,
        };
        let req = RemotingCommand::request(RequestCode::GET_MAX_OFFSET).with_header(&header);
        out.push(
            match client
                .invoke(&broker.to_string(), req, Duration::from_secs(3))
                .await
            {
                Ok(r) if r.code == ResponseCode::SUCCESS => r
                    .decode_header::<GetMaxOffsetResponseHeader>()
                    .map(|h| h.offset.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                Ok(r) => format!("code {} {:?}", r.code, r.remark),
                Err(e) => e.to_string(),
            },
        );
    }
    client.shutdown();
    out
}

/// Asks a NameServer for `topic`'s route: the response code, or `None` when it did not answer.
pub async fn route_code(namesrv: SocketAddr, topic: &str) -> Option<i32> {
    use rocketmq_rs_remoting::protocol::header::GetRouteInfoRequestHeader;
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC)
        .with_header(&GetRouteInfoRequestHeader::new(topic));
    let out = client
        .invoke(&namesrv.to_string(), req, Duration::from_secs(1))
        .await
        .ok()
        .map(|r| r.code);
    client.shutdown();
    out
}

/// The NameServer's route of `topic`, as JSON text (diagnostics).
pub async fn route_text(namesrv: SocketAddr, topic: &str) -> String {
    use rocketmq_rs_remoting::protocol::header::GetRouteInfoRequestHeader;
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC)
        .with_header(&GetRouteInfoRequestHeader::new(topic));
    let out = match client
        .invoke(&namesrv.to_string(), req, Duration::from_secs(3))
        .await
    {
        Ok(r) => format!("code {} {}", r.code, String::from_utf8_lossy(&r.body)),
        Err(e) => e.to_string(),
    };
    client.shutdown();
    out
}

/// Whether a broker's topic table holds `topic` (GET_ALL_TOPIC_CONFIG); `false` when the broker
/// does not answer. A slave learns topics from its master only at its metadata sync.
pub async fn topic_known(broker: SocketAddr, topic: &str) -> bool {
    use rocketmq_rs_remoting::protocol::body::{JsonBody, TopicConfigSerializeWrapper};
    let client = RemotingClient::new(runtime(), TransportConfig::default());
    let req = RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG);
    let known = match client
        .invoke(&broker.to_string(), req, Duration::from_secs(3))
        .await
    {
        Ok(r) if r.code == ResponseCode::SUCCESS => TopicConfigSerializeWrapper::from_json(&r.body)
            .map(|w| w.topic_config_table.contains_key(topic))
            .unwrap_or(false),
        _ => false,
    };
    client.shutdown();
    known
}
