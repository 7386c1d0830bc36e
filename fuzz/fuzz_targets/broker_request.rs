//! Sends arbitrary requests (any handled request code, fuzzed ext fields and body, sometimes
//! oneway) to a live in-process broker over loopback. A panic anywhere in the broker aborts the
//! process (libFuzzer's panic hook), so handler tasks are covered too; every 128 inputs the
//! broker must still answer a well-formed request.
#![no_main]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, BrokerHandle};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

/// Every code the broker's processor dispatches, plus a few it must refuse politely.
const CODES: &[i32] = &[
    RequestCode::SEND_MESSAGE,
    RequestCode::SEND_MESSAGE_V2,
    RequestCode::SEND_BATCH_MESSAGE,
    RequestCode::CONSUMER_SEND_MSG_BACK,
    RequestCode::END_TRANSACTION,
    RequestCode::SEND_REPLY_MESSAGE,
    RequestCode::SEND_REPLY_MESSAGE_V2,
    RequestCode::PULL_MESSAGE,
    RequestCode::LITE_PULL_MESSAGE,
    RequestCode::QUERY_CONSUMER_OFFSET,
    RequestCode::UPDATE_CONSUMER_OFFSET,
    RequestCode::GET_CONSUMER_LIST_BY_GROUP,
    RequestCode::HEART_BEAT,
    RequestCode::UNREGISTER_CLIENT,
    RequestCode::CHECK_CLIENT_CONFIG,
    RequestCode::LOCK_BATCH_MQ,
    RequestCode::UNLOCK_BATCH_MQ,
    RequestCode::UPDATE_AND_CREATE_TOPIC,
    RequestCode::DELETE_TOPIC_IN_BROKER,
    RequestCode::GET_ALL_TOPIC_CONFIG,
    RequestCode::GET_MAX_OFFSET,
    RequestCode::GET_MIN_OFFSET,
    RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
    RequestCode::GET_EARLIEST_MSG_STORETIME,
    RequestCode::GET_BROKER_RUNTIME_INFO,
    RequestCode::VIEW_MESSAGE_BY_ID,
    RequestCode::QUERY_MESSAGE,
    -1,
    0,
    i32::MAX,
];

struct Harness {
    tokio: tokio::runtime::Runtime,
    client: RemotingClient,
    addr: String,
    _broker: BrokerHandle,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio.handle().clone()));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = BrokerConfig::for_test(dir.path());
        // Small segments (still > maxMessageSize + 8): fuzzed sends must not fill the disk during a long run.
        cfg.commit_log_segment_size = 16 * 1024 * 1024;
        let broker = tokio
            .block_on(Broker::start(cfg, rt.clone()))
            .expect("broker starts");
        let addr = broker.addr().to_string();
        let client = RemotingClient::new(rt, TransportConfig::default());
        Harness {
            tokio,
            client,
            addr,
            _broker: broker,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let h = harness();
    let mut input = common::Input::new(data);
    let code = CODES[usize::from(input.byte()) % CODES.len()];
    let flags = input.byte();
    let ext = input.ext_fields();
    let body = Bytes::copy_from_slice(input.rest());
    let mut req = RemotingCommand::request(code).with_body(body);
    req.ext_fields = ext;
    h.tokio.block_on(async {
        if flags & 1 == 1 {
            let _ = h
                .client
                .invoke_oneway(&h.addr, req, Duration::from_millis(500))
                .await;
        } else {
            // Errors (closed connection, timeout of a held pull) are fine; panics are not.
            let _ = h
                .client
                .invoke(&h.addr, req, Duration::from_millis(500))
                .await;
        }
        if RUNS.fetch_add(1, Ordering::Relaxed) % 128 == 0 {
            let probe = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO);
            let resp = h
                .client
                .invoke(&h.addr, probe, Duration::from_secs(10))
                .await
                .expect("the broker still answers a good client");
            assert_eq!(resp.code, ResponseCode::SUCCESS, "{resp:?}");
        }
    });
});
