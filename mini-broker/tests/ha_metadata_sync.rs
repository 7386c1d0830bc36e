//! The slave's metadata copy (SlaveSynchronize) against a fake master answering codes 21, 43,
//! 45 and 402 with Java-style (fastjson) bodies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketmq_rs_mini_broker::ha::{ConsumerOffsetTable, MetadataSink, MetadataSync};
use rocketmq_rs_remoting::protocol::body::{
    MessageRequestMode, MessageRequestModeSerializeWrapper, TopicConfigSerializeWrapper,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::{
    Connection, RemotingServer, RequestHandler, TransportConfig,
};

struct FakeMaster;

impl RequestHandler for FakeMaster {
    async fn handle(&self, _c: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        let body: &'static [u8] = match req.code {
            RequestCode::GET_ALL_TOPIC_CONFIG => br#"{"dataVersion":{"counter":3,"timestamp":1},"topicConfigTable":{"TopicA":{"topicName":"TopicA","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}}}"#,
            RequestCode::GET_ALL_CONSUMER_OFFSET => br#"{"offsetTable":{"TopicA@g1":{0:10,1:11},"%RETRY%g1@g1":{0:0}},"dataVersion":{"counter":2}}"#,
            RequestCode::GET_ALL_DELAY_OFFSET => br#"{"offsetTable":{1:5,3:9}}"#,
            RequestCode::GET_ALL_MESSAGE_REQUEST_MODE => br#"{"messageRequestModeMap":{"TopicA":{"g1":{"consumerGroup":"g1","mode":"POP","popShareQueueNum":0,"topic":"TopicA"}}}}"#,
            _ => return Some(RemotingCommand::response(ResponseCode::REQUEST_CODE_NOT_SUPPORTED, None)),
        };
        Some(
            RemotingCommand::response(ResponseCode::SUCCESS, None)
                .with_body(Bytes::from_static(body)),
        )
    }
}

#[derive(Default)]
struct Recorder {
    topics: Mutex<Option<TopicConfigSerializeWrapper>>,
    offsets: Mutex<Option<ConsumerOffsetTable>>,
    delay: Mutex<Option<BTreeMap<i32, i64>>>,
    modes: Mutex<Option<MessageRequestModeSerializeWrapper>>,
}

impl MetadataSink for Recorder {
    fn topic_configs(&self, t: TopicConfigSerializeWrapper) {
        *self.topics.lock().unwrap() = Some(t);
    }
    fn consumer_offsets(&self, t: ConsumerOffsetTable) {
        *self.offsets.lock().unwrap() = Some(t);
    }
    fn delay_offsets(&self, t: BTreeMap<i32, i64>) {
        *self.delay.lock().unwrap() = Some(t);
    }
    fn message_request_modes(&self, t: MessageRequestModeSerializeWrapper) {
        *self.modes.lock().unwrap() = Some(t);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_copies_topics_offsets_and_delay_offsets() {
    let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    let server = RemotingServer::start(
        rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
        TransportConfig::default(),
        Arc::new(FakeMaster),
    )
    .await
    .unwrap();
    let rec = Arc::new(Recorder::default());
    let sync = MetadataSync::start(
        rt.clone(),
        Some(server.local_addr().to_string()),
        Duration::from_millis(50),
        rec.clone(),
    );
    let start = Instant::now();
    while rec.delay.lock().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "periodic sync did not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sync.sync_once().await.unwrap();
    let topics = rec.topics.lock().unwrap().clone().unwrap();
    assert_eq!(topics.topic_config_table["TopicA"].read_queue_nums, 4);
    assert_eq!(topics.data_version.counter, 3);
    let offsets = rec.offsets.lock().unwrap().clone().unwrap();
    assert_eq!(offsets["TopicA@g1"][&1], 11);
    assert_eq!(offsets.len(), 2);
    assert_eq!(rec.delay.lock().unwrap().clone().unwrap()[&3], 9);
    let modes = rec.modes.lock().unwrap().clone().unwrap();
    assert_eq!(
        modes.message_request_mode_map["TopicA"]["g1"].mode,
        MessageRequestMode::Pop
    );

    // A master that does not answer: a typed error, and the sink keeps what it had.
    sync.set_master_addr(Some("127.0.0.1:1".into()));
    assert!(sync.sync_once().await.is_err());
    assert_eq!(
        rec.offsets.lock().unwrap().clone().unwrap()["TopicA@g1"][&0],
        10
    );
    sync.shutdown().await;
    server.shutdown().await;
}

/// A master that answers only requests signed with `secret` (ACL 1.0) and NO_PERMISSION
/// otherwise, as an ACL-enabled Apache master does for the slave's metadata requests.
struct AclMaster {
    secret: &'static str,
}

impl RequestHandler for AclMaster {
    async fn handle(&self, c: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        let signed = req.ext_fields.get("AccessKey") == Some("slave-ak")
            && rocketmq_rs_remoting::acl::verify_signature(&req, self.secret);
        if !signed {
            return Some(RemotingCommand::response(
                ResponseCode::NO_PERMISSION,
                Some("unsigned or badly signed request".into()),
            ));
        }
        FakeMaster.handle(c, req).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_signs_metadata_requests_to_an_acl_master() {
    let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    let server = RemotingServer::start(
        rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
        TransportConfig::default(),
        Arc::new(AclMaster { secret: "slave-sk" }),
    )
    .await
    .unwrap();
    let master = Some(server.local_addr().to_string());
    let hour = Duration::from_secs(3600);

    // Unsigned: refused, and the sink stays empty.
    let rec = Arc::new(Recorder::default());
    let unsigned = MetadataSync::start(rt.clone(), master.clone(), hour, rec.clone());
    assert!(unsigned.sync_once().await.is_err());
    assert!(rec.topics.lock().unwrap().is_none());
    unsigned.shutdown().await;

    // Wrong secret: refused too.
    let wrong = MetadataSync::start_with_credentials(
        rt.clone(),
        master.clone(),
        hour,
        rec.clone(),
        Some(rocketmq_rs_remoting::acl::AclCredentials::new(
            "slave-ak", "nope",
        )),
    );
    assert!(wrong.sync_once().await.is_err());
    wrong.shutdown().await;

    // The broker's own credentials: the copy goes through.
    let good = MetadataSync::start_with_credentials(
        rt.clone(),
        master,
        hour,
        rec.clone(),
        Some(rocketmq_rs_remoting::acl::AclCredentials::new(
            "slave-ak", "slave-sk",
        )),
    );
    good.sync_once().await.unwrap();
    let topics = rec.topics.lock().unwrap().clone().unwrap();
    assert_eq!(topics.topic_config_table["TopicA"].read_queue_nums, 4);
    good.shutdown().await;
    server.shutdown().await;
}
