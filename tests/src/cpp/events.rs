//! The JSON lines printed by `tests/interop/cpp_client.py`, decoded.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ItError;

/// One line of driver output, keyed by its `type` field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DriverEvent {
    /// The client started.
    Started(Started),
    /// One send (or one batch) completed.
    Send(SendRecord),
    /// One message was delivered to the push or pull consumer.
    Message(ReceivedMessage),
    /// The queues the pull consumer will read.
    Queues(QueuesRecord),
    /// A pull status change on one queue.
    Pull(PullRecord),
    /// Something failed.
    Error(ErrorRecord),
    /// The last line of a run.
    Summary(Summary),
}

/// `type: started`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// `producer`, `push` or `pull`.
    pub role: String,
    /// The driver's process id.
    pub pid: u32,
    /// Milliseconds since the driver started.
    pub elapsed_ms: u64,
}

/// `type: send`: the result of one send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRecord {
    /// Index of the (first) message sent.
    pub index: usize,
    /// Batch mode: indexes of every message in the batch.
    #[serde(default)]
    pub indices: Vec<usize>,
    /// `SEND_OK`, `FLUSH_DISK_TIMEOUT`, `FLUSH_SLAVE_TIMEOUT`, `SLAVE_NOT_AVAILABLE`, or
    /// `ONEWAY` for oneway sends (which have no result).
    pub status: String,
    /// The message id from the send result (absent for oneway sends).
    #[serde(default)]
    pub msg_id: Option<String>,
    /// The queue offset the broker returned.
    #[serde(default)]
    pub offset: Option<i64>,
    /// Orderly mode: the sharding key (the selector's argument).
    #[serde(default)]
    pub sharding_key: Option<i64>,
    /// Orderly mode: index of the chosen queue in the client's queue list (`key % mqCount`).
    #[serde(default)]
    pub queue_index: Option<u32>,
    /// Orderly mode: how many writable queues the client saw.
    #[serde(default)]
    pub mq_count: Option<u32>,
    /// How long the send took.
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
}

impl SendRecord {
    /// Whether the broker answered `SEND_OK`.
    pub fn is_ok(&self) -> bool {
        self.status == "SEND_OK"
    }
}

/// `type: message`: one delivery, with every field the C++ client's C API exposes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedMessage {
    /// Topic.
    pub topic: String,
    /// Tags (empty when none).
    #[serde(default)]
    pub tags: Option<String>,
    /// Keys (empty when none).
    #[serde(default)]
    pub keys: Option<String>,
    /// The message id as the C++ client reports it (`GetMessageId`).
    #[serde(default)]
    pub msg_id: Option<String>,
    /// Queue id.
    pub queue_id: i32,
    /// Queue offset.
    pub queue_offset: i64,
    /// Commit log offset.
    pub commit_log_offset: i64,
    /// Reconsume times.
    pub reconsume_times: i32,
    /// Delay time level.
    pub delay_level: i32,
    /// Stored size of the record.
    pub store_size: i32,
    /// Born timestamp (ms).
    pub born_timestamp: i64,
    /// Store timestamp (ms).
    pub store_timestamp: i64,
    /// Non-empty properties among the standard keys and those asked for with `prop_keys`
    /// (the C API cannot enumerate properties).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The body, as text (`utf8`) or base64 (`base64`), cut at the first NUL byte (a limit of
    /// the Python wrapper's C-string getter).
    pub body: String,
    /// `utf8` or `base64`.
    pub body_encoding: String,
    /// Length of the (possibly cut) body in bytes.
    pub body_len: usize,
    /// Push consumer: `CONSUME_SUCCESS` or `RECONSUME_LATER` (what the driver answered).
    #[serde(default)]
    pub status: Option<String>,
    /// Delivery number within this run, from 1.
    #[serde(default)]
    pub seq: u64,
}

impl ReceivedMessage {
    /// The body bytes (decoding base64 when needed).
    pub fn body_bytes(&self) -> Result<Vec<u8>, ItError> {
        match self.body_encoding.as_str() {
            "utf8" => Ok(self.body.as_bytes().to_vec()),
            "base64" => decode_base64(&self.body),
            other => Err(ItError::Decode(format!("unknown body encoding {other:?}"))),
        }
    }

    /// A property by key, if reported.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
}

/// `type: queues`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuesRecord {
    /// The queues, in the client's order.
    pub queues: Vec<QueueRecord>,
}

/// One message queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRecord {
    /// Topic.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
}

/// `type: pull`: printed when a queue's (status, next offset) changes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRecord {
    /// Queue id.
    pub queue_id: i32,
    /// Broker name.
    pub broker_name: String,
    /// The offset pulled from.
    pub offset: i64,
    /// `FOUND`, `NO_NEW_MSG`, `NO_MATCHED_MSG`, `OFFSET_ILLEGAL` or `BROKER_TIMEOUT`.
    pub status: String,
    /// Next begin offset.
    pub next_begin_offset: i64,
    /// Min offset.
    pub min_offset: i64,
    /// Max offset.
    pub max_offset: i64,
    /// Messages found.
    pub found: u32,
}

/// `type: error`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorRecord {
    /// `import`, `start`, `send`, `consume`, `fetch-queues`, `shutdown`, `watchdog` or
    /// `internal`.
    pub stage: String,
    /// Exception class (e.g. `ProducerSendSyncFailed`).
    pub error: String,
    /// The C++ client's message.
    pub message: String,
    /// Index of the message concerned, for sends.
    #[serde(default)]
    pub index: Option<usize>,
}

/// `type: summary`: the last line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `producer`, `push` or `pull`.
    pub role: String,
    /// `done`, `timeout`, `error`, `signal` or `stdin-eof`.
    pub reason: String,
    /// The exit code the driver used.
    pub exit_code: i32,
    /// Everything asked for happened.
    pub ok: bool,
    /// Run time.
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
    /// Producer: messages sent.
    #[serde(default)]
    pub sent: Option<u64>,
    /// Producer: messages whose send failed.
    #[serde(default)]
    pub failed: Option<u64>,
    /// Consumers: messages consumed successfully.
    #[serde(default)]
    pub consumed: Option<u64>,
    /// Push: callbacks run (including `RECONSUME_LATER` answers).
    #[serde(default)]
    pub deliveries: Option<u64>,
    /// Push: `RECONSUME_LATER` answers.
    #[serde(default)]
    pub reconsume_later: Option<u64>,
}

/// Standard base64 (with or without padding) to bytes.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, ItError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(text)
        .map_err(|e| ItError::Decode(format!("bad base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_event_type() {
        let lines = [
            r#"{"elapsedMs":32,"pid":13411,"role":"producer","type":"started"}"#,
            r#"{"elapsedMs":3,"index":0,"msgId":"7F0000010000A","offset":5,"status":"SEND_OK","type":"send"}"#,
            r#"{"index":0,"status":"ONEWAY","type":"send"}"#,
            r#"{"index":4,"indices":[4,5],"msgId":"a,b","offset":1,"status":"SEND_OK","type":"send"}"#,
            r#"{"index":2,"mqCount":4,"queueIndex":2,"shardingKey":2,"msgId":"x","offset":0,"status":"SEND_OK","type":"send"}"#,
            r#"{"body":"aGk=","bodyEncoding":"base64","bodyLen":2,"bornTimestamp":1,"commitLogOffset":0,"delayLevel":0,"keys":"k","msgId":"m","properties":{"UNIQ_KEY":"u","color":"red"},"queueId":1,"queueOffset":7,"reconsumeTimes":0,"seq":1,"status":"CONSUME_SUCCESS","storeSize":100,"storeTimestamp":2,"tags":"TagA","topic":"T","type":"message"}"#,
            r#"{"queues":[{"brokerName":"b","queueId":0,"topic":"T"}],"type":"queues"}"#,
            r#"{"brokerName":"b","found":2,"maxOffset":2,"minOffset":0,"nextBeginOffset":2,"offset":0,"queueId":0,"status":"FOUND","type":"pull"}"#,
            r#"{"error":"ProducerSendSyncFailed","index":0,"message":"No route info","stage":"send","type":"error"}"#,
            r#"{"elapsedMs":46,"exitCode":3,"failed":1,"ok":false,"reason":"error","requested":3,"role":"producer","sent":0,"type":"summary"}"#,
        ];
        let events: Vec<DriverEvent> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(matches!(&events[0], DriverEvent::Started(s) if s.pid == 13411));
        assert!(matches!(&events[1], DriverEvent::Send(s) if s.is_ok() && s.offset == Some(5)));
        assert!(matches!(&events[2], DriverEvent::Send(s) if s.msg_id.is_none() && !s.is_ok()));
        assert!(matches!(&events[3], DriverEvent::Send(s) if s.indices == [4, 5]));
        assert!(
            matches!(&events[4], DriverEvent::Send(s) if s.queue_index == Some(2) && s.mq_count == Some(4))
        );
        let DriverEvent::Message(m) = &events[5] else {
            panic!("{:?}", events[5])
        };
        assert_eq!(m.body_bytes().unwrap(), b"hi");
        assert_eq!(m.property("color"), Some("red"));
        assert_eq!((m.queue_id, m.queue_offset), (1, 7));
        assert!(matches!(&events[6], DriverEvent::Queues(q) if q.queues[0].broker_name == "b"));
        assert!(matches!(&events[7], DriverEvent::Pull(p) if p.found == 2));
        assert!(matches!(&events[8], DriverEvent::Error(e) if e.index == Some(0)));
        assert!(
            matches!(&events[9], DriverEvent::Summary(s) if !s.ok && s.exit_code == 3 && s.failed == Some(1))
        );
        assert!(serde_json::from_str::<DriverEvent>(r#"{"type":"nonsense"}"#).is_err());
    }

    #[test]
    fn base64_round_trips_known_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(decode_base64(enc).unwrap(), dec.as_bytes(), "{enc}");
        }
        assert_eq!(decode_base64("//79").unwrap(), [0xff, 0xfe, 0xfd]);
        assert!(decode_base64("Zm9v!").is_err());
        assert!(decode_base64("Z").is_err());
    }
}
