//! Feeds arbitrary ext fields to every typed header's `read_from`, and arbitrary bytes to the
//! JSON bodies and the properties decoder. Nothing may panic; a header that decodes must
//! re-encode and decode back to itself (the broker answers with what it decoded).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use rocketmq_rs_remoting::protocol::body::{
    ClusterInfo, HeartbeatData, JsonBody, SubscriptionData, TopicRouteData,
};
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::{decode_properties, decode_properties_bytes};

fn roundtrip<H: CommandHeader + PartialEq + std::fmt::Debug>(ext: &rocketmq_rs_remoting::ExtFields) {
    if let Ok(h) = H::read_from(ext) {
        let again = H::read_from(&h.to_ext_fields()).expect("a decoded header re-decodes");
        assert_eq!(again, h, "header changed across encode/decode");
    }
}

macro_rules! all_headers {
    ($ext:expr; $($h:ty),* $(,)?) => { $( roundtrip::<$h>($ext); )* };
}

fuzz_target!(|data: &[u8]| {
    let mut input = common::Input::new(data);
    match input.byte() % 4 {
        0 | 1 => {
            let ext = input.ext_fields();
            all_headers!(&ext;
                SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
                PullMessageRequestHeader, PullMessageResponseHeader, QueryMessageRequestHeader,
                QueryMessageResponseHeader, QueryConsumerOffsetRequestHeader,
                QueryConsumerOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
                CreateTopicRequestHeader, DeleteTopicRequestHeader, SearchOffsetRequestHeader,
                SearchOffsetResponseHeader, GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
                GetMinOffsetRequestHeader, GetMinOffsetResponseHeader,
                GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
                ViewMessageRequestHeader, HeartbeatRequestHeader, HeartbeatResponseHeader,
                UnregisterClientRequestHeader, ConsumerSendMsgBackRequestHeader,
                EndTransactionRequestHeader, CheckTransactionStateRequestHeader,
                GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
                LockBatchMqRequestHeader, UnlockBatchMqRequestHeader, ResetOffsetRequestHeader,
                GetConsumerStatusRequestHeader, GetConsumerRunningInfoRequestHeader,
                ConsumeMessageDirectlyResultRequestHeader, GetTopicStatsInfoRequestHeader,
                GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
                QueryConsumeTimeSpanRequestHeader, QueryTopicConsumeByWhoRequestHeader,
                ReplyMessageRequestHeader, GetRouteInfoRequestHeader, RegisterBrokerRequestHeader,
                RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
                QueryDataVersionRequestHeader, QueryDataVersionResponseHeader,
                BrokerHeartbeatRequestHeader, PutKVConfigRequestHeader, GetKVConfigRequestHeader,
                GetKVConfigResponseHeader, DeleteKVConfigRequestHeader,
                GetKVListByNamespaceRequestHeader, DeleteTopicFromNamesrvRequestHeader,
            );
            // The V1 <-> V2 send header conversion must be lossless both ways.
            if let Ok(h) = SendMessageRequestHeader::read_from(&ext) {
                let v2: SendMessageRequestHeaderV2 = h.clone().into();
                assert_eq!(SendMessageRequestHeader::from(v2), h);
            }
        }
        2 => {
            let body = input.rest();
            let _ = HeartbeatData::from_json(body);
            let _ = SubscriptionData::from_json(body);
            let _ = TopicRouteData::from_json(body);
            let _ = ClusterInfo::from_json(body);
        }
        _ => {
            let body = input.rest();
            let _ = decode_properties_bytes(body);
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = decode_properties(text);
            }
        }
    }
});
