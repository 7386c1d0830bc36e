//! [`MessageExt`]: a message as stored by the broker and delivered to consumers.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use bytes::Bytes;

use super::{property, sys_flag, CompressionType, Properties};

/// A stored message: what PULL_MESSAGE, QUERY_MESSAGE, VIEW_MESSAGE_BY_ID and broker-initiated
/// requests carry, in the record format of [`super::encode_message`] /
/// [`super::decode_message`].
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{property, MessageExt};
/// let mut m = MessageExt::new("TopicTest", "hello");
/// m.properties.insert(property::TAGS, "TagA");
/// m.store_host = "10.0.0.1:10911".parse().unwrap();
/// m.commit_log_offset = 0x20;
/// m.refresh_msg_id();
/// assert_eq!(m.tags(), Some("TagA"));
/// assert_eq!(m.client_msg_id(), "0A00000100002A9F0000000000000020");
/// m.properties.insert(property::UNIQ_KEY, "7F0000010001000000000000000A0000");
/// assert_eq!(m.client_msg_id(), "7F0000010001000000000000000A0000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic.
    pub topic: String,
    /// User flag (opaque to RocketMQ).
    pub flag: i32,
    /// Body: as stored, or decompressed when the decoder decompressed it (then
    /// [`sys_flag::COMPRESSED`] is cleared in `sys_flag`).
    pub body: Bytes,
    /// Properties (tags, keys, `UNIQ_KEY`, user properties, ...).
    pub properties: Properties,
    /// Queue id.
    pub queue_id: i32,
    /// Size of the stored record in bytes (set by the decoder; ignored by the encoder).
    pub store_size: i32,
    /// Logical offset in the consume queue.
    pub queue_offset: i64,
    /// `sysFlag` bits, see [`sys_flag`].
    pub sys_flag: i32,
    /// Producer clock at send time, epoch milliseconds.
    pub born_timestamp: i64,
    /// The producer's address as the broker saw it.
    pub born_host: SocketAddr,
    /// Broker clock at store time, epoch milliseconds.
    pub store_timestamp: i64,
    /// The storing broker's address.
    pub store_host: SocketAddr,
    /// How often the message was re-delivered for consumption.
    pub reconsume_times: i32,
    /// Commit messages: the commit-log offset of the half message; otherwise 0.
    pub prepared_transaction_offset: i64,
    /// Commit-log (physical) offset of the record.
    pub commit_log_offset: i64,
    /// CRC of the stored body ([`super::body_crc`]); set by the decoder, recomputed by the encoder.
    pub body_crc: u32,
    /// The offset msgId ([`super::offset_msg_id`] of `store_host` and `commit_log_offset`), set by
    /// the decoder. Java clients call it `offsetMsgId`; see [`MessageExt::client_msg_id`] for what
    /// they call `msgId`.
    pub msg_id: String,
}

fn unspecified() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
}

impl Default for MessageExt {
    fn default() -> Self {
        MessageExt {
            topic: String::new(),
            flag: 0,
            body: Bytes::new(),
            properties: Properties::new(),
            queue_id: 0,
            store_size: 0,
            queue_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: unspecified(),
            store_timestamp: 0,
            store_host: unspecified(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            commit_log_offset: 0,
            body_crc: 0,
            msg_id: String::new(),
        }
    }
}

impl MessageExt {
    /// A message of `topic` with `body`; every other field zero / empty / `0.0.0.0:0`.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        MessageExt {
            topic: topic.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    /// The value of property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }

    /// Sets property `name` (no reserved-name check: this is the system-level setter).
    pub fn put_property(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.properties.insert(name, value);
    }

    /// The tag (`TAGS`).
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }

    /// The raw `KEYS` value (space-separated keys).
    pub fn keys(&self) -> Option<&str> {
        self.property(property::KEYS)
    }

    /// The individual business keys of `KEYS`.
    pub fn key_list(&self) -> impl Iterator<Item = &str> {
        self.keys()
            .unwrap_or("")
            .split(property::KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
    }

    /// The client-generated unique id (`UNIQ_KEY`).
    pub fn uniq_key(&self) -> Option<&str> {
        self.property(property::UNIQ_KEY)
    }

    /// What Java clients expose as `msgId`: the `UNIQ_KEY` if present, else the offset msgId.
    pub fn client_msg_id(&self) -> &str {
        self.uniq_key().unwrap_or(&self.msg_id)
    }

    /// The offset msgId (Java `offsetMsgId`), i.e. [`MessageExt::msg_id`](field@MessageExt::msg_id).
    pub fn offset_msg_id(&self) -> &str {
        &self.msg_id
    }

    /// Recomputes [`msg_id`](field@MessageExt::msg_id) from `store_host` and `commit_log_offset`.
    pub fn refresh_msg_id(&mut self) {
        self.msg_id = super::offset_msg_id(self.store_host, self.commit_log_offset);
    }

    /// The delay level (`DELAY`), if set and numeric.
    pub fn delay_level(&self) -> Option<i32> {
        self.property(property::DELAY)?.parse().ok()
    }

    /// Whether the producer asked to wait for the store (`WAIT`; absent means true).
    pub fn wait_store_msg_ok(&self) -> bool {
        self.property(property::WAIT) != Some("false")
    }

    /// The original topic of a retried message (`RETRY_TOPIC`).
    pub fn retry_topic(&self) -> Option<&str> {
        self.property(property::RETRY_TOPIC)
    }

    /// Whether the body is (still) compressed.
    pub fn is_compressed(&self) -> bool {
        sys_flag::check(self.sys_flag, sys_flag::COMPRESSED)
    }

    /// The compression algorithm of a compressed body, per `sysFlag` bits 8–10.
    pub fn compression_type(&self) -> Option<CompressionType> {
        if self.is_compressed() {
            sys_flag::compression_type(self.sys_flag)
        } else {
            None
        }
    }

    /// The transaction type bits of `sys_flag` (see [`sys_flag::transaction_type`]).
    pub fn transaction_type(&self) -> i32 {
        sys_flag::transaction_type(self.sys_flag)
    }

    /// The tag hash code the consume queue stores for this message (0 without a tag).
    pub fn tags_code(&self) -> i64 {
        self.tags().map_or(0, super::tag_hash_code)
    }
}
