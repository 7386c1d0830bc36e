//! Helpers shared by the broker integration tests: a broker in-process and a raw remoting
//! client speaking typed headers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, BrokerHandle};
use rocketmq_rs_remoting::protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, JsonBody, MessageModel,
    ProducerData, SubscriptionData,
};
use rocketmq_rs_remoting::protocol::code::RequestCode;
use rocketmq_rs_remoting::protocol::header::{
    PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
};
use rocketmq_rs_remoting::protocol::message::{
    decode_messages, encode_properties, MessageExt, Properties,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{default_runtime, Runtime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

pub const T: Duration = Duration::from_secs(10);

pub fn rt() -> Arc<dyn Runtime> {
    default_runtime().expect("tokio runtime")
}

pub async fn start(cfg: BrokerConfig) -> BrokerHandle {
    Broker::start(cfg, rt()).await.expect("broker starts")
}

pub fn client() -> RemotingClient {
    RemotingClient::new(rt(), TransportConfig::default())
}

pub fn send_header(topic: &str, queue_id: i32, props: &Properties) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(encode_properties(props)),
        reconsume_times: None,
        unit_mode: None,
        batch: None,
        max_reconsume_times: None,
        bname: None,
    }
}

/// SEND_MESSAGE (V1) or SEND_MESSAGE_V2.
pub async fn send(
    c: &RemotingClient,
    addr: &str,
    topic: &str,
    queue_id: i32,
    body: &'static [u8],
    props: &[(&str, &str)],
    v2: bool,
) -> RemotingCommand {
    let mut p = Properties::new();
    for (k, v) in props {
        p.insert(*k, *v);
    }
    let h = send_header(topic, queue_id, &p);
    let cmd = if v2 {
        RemotingCommand::request(RequestCode::SEND_MESSAGE_V2)
            .with_header(&SendMessageRequestHeaderV2::from(h))
    } else {
        RemotingCommand::request(RequestCode::SEND_MESSAGE).with_header(&h)
    };
    c.invoke(addr, cmd.with_body(Bytes::from_static(body)), T)
        .await
        .expect("send answered")
}

pub fn pull_header(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: 0x4, // SUBSCRIPTION
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_froward_client_id: None,
        bname: None,
    }
}

pub async fn pull(c: &RemotingClient, addr: &str, h: &PullMessageRequestHeader) -> RemotingCommand {
    let cmd = RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(h);
    c.invoke(addr, cmd, Duration::from_secs(40))
        .await
        .expect("pull answered")
}

pub fn ext_i64(r: &RemotingCommand, k: &str) -> i64 {
    r.ext_fields
        .get(k)
        .unwrap_or_else(|| panic!("missing {k} in {:?}", r.ext_fields))
        .parse()
        .unwrap()
}

pub fn msgs(r: &RemotingCommand) -> Vec<MessageExt> {
    decode_messages(r.body.clone()).expect("decodable pull body")
}

pub fn heartbeat_body(client_id: &str, group: &str, topic: &str, sub: &str) -> Bytes {
    let data = HeartbeatData {
        client_id: client_id.into(),
        producer_data_set: vec![ProducerData {
            group_name: "pg".into(),
        }],
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            subscription_data_set: vec![SubscriptionData {
                topic: topic.into(),
                sub_string: sub.into(),
                sub_version: 1,
                ..Default::default()
            }],
            unit_mode: false,
        }],
        heartbeat_fingerprint: 0,
        without_sub: false,
    };
    data.to_json()
}

/// A replication peer that says hello to the master's HA port at `offset` and then never
/// acknowledges anything (a stuck slave).
pub async fn silent_slave(master: std::net::SocketAddr, offset: i64) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(master).await.unwrap();
    let hello = rocketmq_rs_mini_broker::ha::protocol::Frame {
        kind: rocketmq_rs_mini_broker::ha::protocol::FrameKind::Hello,
        offset,
        payload: Bytes::from_static(b"broker-a"),
    };
    let mut buf = hello.header().to_vec();
    buf.extend_from_slice(&hello.payload);
    s.write_all(&buf).await.unwrap();
    s
}
