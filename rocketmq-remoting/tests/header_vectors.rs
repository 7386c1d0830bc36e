//! Decodes the ext fields of every captured client request (`tests/codec_vectors/`) into its typed header.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::codec::decode_frame;
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::{RemotingCommand, RemotingError};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/codec_vectors")
}

fn load(name: &str) -> RemotingCommand {
    let text = std::fs::read_to_string(vectors_dir().join(name)).expect("vector file");
    let hex: String = text.split_whitespace().collect();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    decode_frame(Bytes::from(bytes)).expect("frame decodes")
}

fn c2s_vectors() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("-c2s-") && n.ends_with(".hex"))
        .collect();
    v.sort();
    v
}

/// Decodes the header of request `cmd` by its code; returns a short description.
fn decode_typed(cmd: &RemotingCommand) -> Result<String, RemotingError> {
    Ok(match cmd.code {
        RequestCode::SEND_MESSAGE => {
            let h: SendMessageRequestHeader = cmd.decode_header()?;
            assert!(!h.topic.is_empty() && !h.producer_group.is_empty());
            let v2 = SendMessageRequestHeaderV2::from(h.clone());
            assert_eq!(SendMessageRequestHeader::from(v2), h);
            format!("send {} q{} sys{}", h.topic, h.queue_id, h.sys_flag)
        }
        RequestCode::SEND_MESSAGE_V2 | RequestCode::SEND_BATCH_MESSAGE => {
            let h: SendMessageRequestHeaderV2 = cmd.decode_header()?;
            assert!(h.g > 1_600_000_000_000, "bornTimestamp parsed");
            format!("send-v2 {} q{}", h.b, h.e)
        }
        RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
            let h: PullMessageRequestHeader = cmd.decode_header()?;
            assert!(h.max_msg_nums > 0);
            format!(
                "pull {} q{} off{} sys{}",
                h.topic, h.queue_id, h.queue_offset, h.sys_flag
            )
        }
        RequestCode::QUERY_CONSUMER_OFFSET => {
            let h: QueryConsumerOffsetRequestHeader = cmd.decode_header()?;
            format!("query-offset {} q{}", h.topic, h.queue_id)
        }
        RequestCode::UPDATE_CONSUMER_OFFSET => {
            let h: UpdateConsumerOffsetRequestHeader = cmd.decode_header()?;
            format!(
                "update-offset {} q{} {}",
                h.topic, h.queue_id, h.commit_offset
            )
        }
        RequestCode::GET_ROUTEINFO_BY_TOPIC => {
            let h: GetRouteInfoRequestHeader = cmd.decode_header()?;
            format!("route {}", h.topic)
        }
        RequestCode::HEART_BEAT => {
            let _: HeartbeatRequestHeader = cmd.decode_header()?;
            "heartbeat".into()
        }
        RequestCode::UNREGISTER_CLIENT => {
            let h: UnregisterClientRequestHeader = cmd.decode_header()?;
            format!("unregister {}", h.client_id)
        }
        RequestCode::GET_CONSUMER_LIST_BY_GROUP => {
            let h: GetConsumerListByGroupRequestHeader = cmd.decode_header()?;
            format!("consumer-list {}", h.consumer_group)
        }
        other => panic!("no typed header mapped for request code {other}"),
    })
}

#[test]
fn every_c2s_vector_decodes_into_its_typed_header() {
    let names = c2s_vectors();
    assert!(
        names.len() >= 25,
        "expected the captured vectors, found {}",
        names.len()
    );
    for name in names {
        let cmd = load(&name);
        assert!(!cmd.is_response(), "{name}");
        assert!(
            RequestCode::name(cmd.code).is_some(),
            "{name}: unnamed code {}",
            cmd.code
        );
        let desc = decode_typed(&cmd).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!desc.is_empty());
    }
}

#[test]
fn cpp_send_reads_numbers_and_zero_one_booleans() {
    let cmd = load("cpp-c2s-10-send-sync-small.hex");
    let h: SendMessageRequestHeader = cmd.decode_header().unwrap();
    assert_eq!(h.default_topic, "TBW102");
    assert_eq!(h.default_topic_queue_nums, 4);
    assert_eq!(h.batch, Some(false));
    assert_eq!(h.unit_mode, Some(false));
    assert_eq!(h.reconsume_times, Some(0));
    assert!(h.properties.as_deref().unwrap().contains("UNIQ_KEY\u{1}"));
}

#[test]
fn alions_send_v2_reads_json_numbers_and_booleans() {
    let cmd = load("alions-c2s-310-send-v2-small.hex");
    let h: SendMessageRequestHeaderV2 = cmd.decode_header().unwrap();
    assert_eq!(h.c, "TBW102");
    assert_eq!(h.k, Some(false));
    assert_eq!(h.l, None);
    assert_eq!(h.m, None);
    let v1 = SendMessageRequestHeader::from(h.clone());
    assert_eq!(v1.topic, h.b);
}

#[test]
fn pull_variants() {
    let cpp: PullMessageRequestHeader = load("cpp-c2s-11-pull-push-consumer.hex")
        .decode_header()
        .unwrap();
    assert_eq!((cpp.sys_flag, cpp.max_msg_nums), (6, 32));
    assert_eq!(cpp.subscription.as_deref(), Some("*"));
    assert_eq!(cpp.expression_type, None);
    let rust: PullMessageRequestHeader = load("rust-c2s-11-pull-push-consumer.hex")
        .decode_header()
        .unwrap();
    assert_eq!(rust.sys_flag, 2);
    assert_eq!(rust.subscription.as_deref(), Some(""));
    assert_eq!(rust.max_msg_bytes, Some(262_144));
    let lite: PullMessageRequestHeader =
        load("rust-c2s-361-lite-pull.hex").decode_header().unwrap();
    assert_eq!((lite.sys_flag, lite.suspend_timeout_millis), (22, 20_000));
}

#[test]
fn cpp_unregister_sends_empty_other_group() {
    let h: UnregisterClientRequestHeader = load("cpp-c2s-35-unregister-producer.hex")
        .decode_header()
        .unwrap();
    assert_eq!(h.consumer_group.as_deref(), Some(""));
    assert!(h.producer_group.as_deref().is_some_and(|g| !g.is_empty()));
}

#[test]
fn s2c_response_headers_decode() {
    let send: SendMessageResponseHeader = load("cpp-s2c-10-send-ok.hex").decode_header().unwrap();
    assert!(!send.msg_id.is_empty());
    assert!(send.msg_region.is_some() && send.trace_on.is_some());
    let pull = load("cpp-s2c-11-pull-not-found.hex");
    assert_eq!(pull.code, ResponseCode::PULL_NOT_FOUND);
    let p: PullMessageResponseHeader = pull.decode_header().unwrap();
    assert!(p.max_offset >= p.min_offset);
    let q: QueryConsumerOffsetResponseHeader = load("cpp-s2c-14-query-offset-ok.hex")
        .decode_header()
        .unwrap();
    assert_eq!(q.offset, 0);
    let hb: HeartbeatResponseHeader = load("cpp-s2c-34-heartbeat-ok.hex").decode_header().unwrap();
    assert_eq!(hb.is_support_heart_beat_v2, Some(true));
    let n: NotifyConsumerIdsChangedRequestHeader =
        load("cpp-s2c-40-notify-consumer-ids-changed.hex")
            .decode_header()
            .unwrap();
    assert!(!n.consumer_group.is_empty());
}
