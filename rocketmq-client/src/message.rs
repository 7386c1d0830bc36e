//! Messages: [`Message`] (what producers send), [`MessageExt`] (what consumers receive),
//! [`SendResult`] / [`SendStatus`], and [`PullResult`] / [`PullStatus`].
//!
//! A [`Message`] owns its topic, body (`bytes::Bytes`, so clones are cheap), user flag and
//! properties (tags, keys, delay, user properties…). Producers add the client message id
//! (`UNIQ_KEY`) the way Java does, once per message: it survives retries, and a message that
//! already has one keeps it.
//!
//! Received messages are [`MessageExt`] from `rocketmq-remoting`, decoded from the broker's
//! stored-record format (bodies already decompressed). Its `msg_id` field is the *offset* msg
//! id; [`MessageExt::client_msg_id`] is what Java calls `getMsgId()` (the `UNIQ_KEY`).
//!
//! ```
//! use std::time::Duration;
//! use rocketmq_rs_client::message::Message;
//!
//! let msg = Message::builder("TopicTest")
//!     .tag("TagA")
//!     .keys(["order-1", "user-7"])
//!     .property("region", "eu")
//!     .body("hello")
//!     .build()
//!     .unwrap();
//! assert_eq!(msg.tags(), Some("TagA"));
//! assert_eq!(msg.keys(), Some("order-1 user-7"));
//! assert_eq!(msg.property("region"), Some("eu"));
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
pub use rocketmq_rs_remoting::protocol::message::MessageExt;
use rocketmq_rs_remoting::protocol::message::{property, Properties, MAX_PROPERTIES_LEN};

use crate::error::{Error, Result};
use crate::message_queue::MessageQueue;

/// Longest topic name a broker accepts (docs/protocol/send.md §1; Java
/// `TopicValidator.TOPIC_MAX_LENGTH`).
pub const MAX_TOPIC_LEN: usize = rocketmq_rs_remoting::protocol::topic::TOPIC_MAX_LENGTH;

/// Default largest body a producer sends (Java `maxMessageSize`, 4 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Topics a producer may not send to: the broker answers `NO_PERMISSION` (docs/protocol/send.md §1).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// A message to send (Java `Message`).
///
/// Build one with [`Message::new`] or [`Message::builder`]. Fields are public; the typed
/// accessors and setters below keep the Java property conventions (single tag in `TAGS`,
/// space-separated `KEYS`, `DELAY` level, `WAIT`).
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic (without namespace; the producer adds its namespace).
    pub topic: String,
    /// Body; must be non-empty to be sent.
    pub body: Bytes,
    /// User flag, opaque to RocketMQ.
    pub flag: i32,
    /// Properties: tags, keys, system and user properties.
    pub properties: Properties,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies can be large and binary; show the length only.
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("body_len", &self.body.len())
            .field("flag", &self.flag)
            .field("properties", &self.properties)
            .finish()
    }
}

impl Message {
    /// A message of `topic` with `body` and no properties.
    ///
    /// ```
    /// let m = rocketmq_rs_client::Message::new("TopicTest", "hello");
    /// assert_eq!(&m.body[..], b"hello");
    /// ```
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties: Properties::new(),
        }
    }

    /// A builder for a message of `topic`.
    pub fn builder(topic: impl Into<String>) -> MessageBuilder {
        MessageBuilder {
            msg: Message::new(topic, Bytes::new()),
            error: None,
        }
    }

    /// A property value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }

    /// The tag, if any.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(property::TAGS)
    }

    /// Sets the tag (a message has at most one).
    pub fn set_tags(&mut self, tag: impl Into<String>) {
        // `insert_str`: `insert` would copy the constant name into a `String` first.
        self.properties.insert_str(property::TAGS, &tag.into());
    }

    /// The business keys, space-separated.
    pub fn keys(&self) -> Option<&str> {
        self.properties.get(property::KEYS)
    }

    /// Sets the business keys (indexed by the broker for QUERY_MESSAGE).
    pub fn set_keys<I, S>(&mut self, keys: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        for k in keys {
            if !joined.is_empty() {
                joined.push_str(property::KEY_SEPARATOR);
            }
            joined.push_str(k.as_ref());
        }
        self.properties.insert_str(property::KEYS, &joined);
    }

    /// The delay level (1..=18 on a default broker), if set.
    pub fn delay_level(&self) -> Option<i32> {
        self.properties.get(property::DELAY)?.parse().ok()
    }

    /// Sets the delay level: the broker delivers the message after the level's delay
    /// (1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h by default). 0 clears it.
    pub fn set_delay_level(&mut self, level: i32) {
        if level > 0 {
            self.properties.insert(property::DELAY, level.to_string());
        } else {
            self.properties.remove(property::DELAY);
        }
    }

    /// Asks a 5.x broker (timer wheel) to deliver the message at `at`
    /// (`TIMER_DELIVER_MS`). 4.x brokers ignore it and deliver at once.
    pub fn set_deliver_time(&mut self, at: SystemTime) {
        let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        self.properties
            .insert(property::TIMER_DELIVER_MS, ms.to_string());
    }

    /// Asks a 5.x broker to deliver the message `delay` after it stores it (`TIMER_DELAY_MS`).
    pub fn set_deliver_after(&mut self, delay: Duration) {
        self.properties
            .insert(property::TIMER_DELAY_MS, delay.as_millis().to_string());
    }

    /// Whether the broker should answer only after the message is flushed/replicated as its
    /// configuration says (`WAIT`, default true).
    pub fn wait_store_msg_ok(&self) -> bool {
        self.properties.get(property::WAIT) != Some("false")
    }

    /// Sets `WAIT`.
    pub fn set_wait_store_msg_ok(&mut self, wait: bool) {
        self.properties
            .insert(property::WAIT, if wait { "true" } else { "false" });
    }

    /// Sets a user property.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`] for a reserved system name (`TAGS`, `UNIQ_KEY`, … — Java
    /// throws too), an empty name or value, or a 0x01/0x02 character.
    ///
    /// ```
    /// let mut m = rocketmq_rs_client::Message::new("T", "x");
    /// assert!(m.put_user_property("color", "red").is_ok());
    /// assert!(m.put_user_property("UNIQ_KEY", "x").is_err());
    /// ```
    pub fn put_user_property(&mut self, name: &str, value: impl Into<String>) -> Result<()> {
        let value = value.into();
        if property::is_reserved(name) {
            return Err(Error::InvalidMessage(format!(
                "property name {name:?} is reserved by RocketMQ; choose another name"
            )));
        }
        check_property(name, &value)?;
        self.properties.insert_str(name, &value);
        Ok(())
    }

    /// The client message id (`UNIQ_KEY`) once a producer has set it.
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.get(property::UNIQ_KEY)
    }

    /// Checks what a Java producer checks before sending (Java `Validators.checkMessage`):
    /// topic rules, non-empty body of at most `max_size` bytes, properties encodable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`] saying what to fix.
    pub fn validate(&self, max_size: usize) -> Result<()> {
        validate_topic(&self.topic)?;
        if NOT_ALLOWED_SEND_TOPICS.contains(&self.topic.as_str()) {
            return Err(Error::InvalidMessage(format!(
                "topic {:?} is a system topic that producers may not send to",
                self.topic
            )));
        }
        if self.body.is_empty() {
            return Err(Error::InvalidMessage(
                "the body is empty; brokers reject empty messages".into(),
            ));
        }
        if self.body.len() > max_size {
            return Err(Error::InvalidMessage(format!(
                "the body is {} bytes, more than the maximum message size of {max_size} bytes; \
                 split it or raise max_message_size (and the broker's maxMessageSize)",
                self.body.len()
            )));
        }
        for (k, v) in self.properties.iter() {
            check_property(k, v)?;
        }
        // Room for the UNIQ_KEY/WAIT the producer adds.
        if self.properties.encoded_len() + 64 > MAX_PROPERTIES_LEN {
            return Err(Error::InvalidMessage(format!(
                "properties take {} bytes encoded; at most about {} are allowed",
                self.properties.encoded_len(),
                MAX_PROPERTIES_LEN - 64
            )));
        }
        Ok(())
    }
}

fn check_property(name: &str, value: &str) -> Result<()> {
    // One pass per string (every property of every message is checked before it is sent).
    let bad = |s: &str| s.bytes().any(|b| b == 1 || b == 2);
    if name.is_empty() || value.is_empty() {
        return Err(Error::InvalidMessage(format!(
            "property {name:?} has an empty name or value; brokers drop such properties"
        )));
    }
    if bad(name) || bad(value) {
        return Err(Error::InvalidMessage(format!(
            "property {name:?} contains a 0x01/0x02 character, which the wire format reserves"
        )));
    }
    Ok(())
}

/// Checks a topic name: non-blank, at most 127 characters of `[%|a-zA-Z0-9_-]`, 255 for
/// retry and dead-letter topics (Java `Validators.checkTopic`; the rule itself is
/// [`rocketmq_rs_remoting::protocol::topic::validate_topic`], which the broker applies too).
///
/// # Errors
///
/// [`Error::InvalidMessage`] saying what is wrong.
///
/// ```
/// use rocketmq_rs_client::message::validate_topic;
/// assert!(validate_topic("Topic_Test-1").is_ok());
/// assert!(validate_topic("bad topic").is_err());
/// assert!(validate_topic(&"x".repeat(128)).is_err());
/// ```
pub fn validate_topic(topic: &str) -> Result<()> {
    rocketmq_rs_remoting::protocol::topic::validate_topic(topic)
        .map_err(|e| Error::InvalidMessage(e.to_string()))
}

/// Builder of a [`Message`]; errors (e.g. a reserved property name) surface in
/// [`build`](MessageBuilder::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct MessageBuilder {
    msg: Message,
    error: Option<String>,
}

impl MessageBuilder {
    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.msg.body = body.into();
        self
    }

    /// Sets the tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.msg.set_tags(tag);
        self
    }

    /// Sets the business keys.
    pub fn keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.msg.set_keys(keys);
        self
    }

    /// Sets the user flag.
    pub fn flag(mut self, flag: i32) -> Self {
        self.msg.flag = flag;
        self
    }

    /// Adds a user property (reserved names are rejected by `build`).
    pub fn property(mut self, name: impl AsRef<str>, value: impl Into<String>) -> Self {
        if let Err(e) = self.msg.put_user_property(name.as_ref(), value) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// Sets the delay level (see [`Message::set_delay_level`]).
    pub fn delay_level(mut self, level: i32) -> Self {
        self.msg.set_delay_level(level);
        self
    }

    /// Delivery at an absolute time (5.x brokers; see [`Message::set_deliver_time`]).
    pub fn deliver_at(mut self, at: SystemTime) -> Self {
        self.msg.set_deliver_time(at);
        self
    }

    /// Delivery after a delay (5.x brokers; see [`Message::set_deliver_after`]).
    pub fn deliver_after(mut self, delay: Duration) -> Self {
        self.msg.set_deliver_after(delay);
        self
    }

    /// Sets `WAIT` (see [`Message::set_wait_store_msg_ok`]).
    pub fn wait_store_msg_ok(mut self, wait: bool) -> Self {
        self.msg.set_wait_store_msg_ok(wait);
        self
    }

    /// The message.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`] for a bad topic, an empty body or a rejected property.
    pub fn build(self) -> Result<Message> {
        if let Some(e) = self.error {
            return Err(Error::InvalidMessage(e));
        }
        validate_topic(&self.msg.topic)?;
        if self.msg.body.is_empty() {
            return Err(Error::InvalidMessage(
                "the body is empty; brokers reject empty messages".into(),
            ));
        }
        Ok(self.msg)
    }
}

/// Outcome of a stored send (Java `SendStatus`). Anything else is an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendStatus {
    /// Stored (and flushed / replicated as the broker is configured).
    SendOk,
    /// Stored, but the synchronous flush timed out.
    FlushDiskTimeout,
    /// Stored, but replication to the slave timed out.
    FlushSlaveTimeout,
    /// Stored, but no slave is available for synchronous replication.
    SlaveNotAvailable,
}

impl SendStatus {
    /// The status for a broker response code, `None` for codes that are errors.
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(SendStatus::SendOk),
            10 => Some(SendStatus::FlushDiskTimeout),
            12 => Some(SendStatus::FlushSlaveTimeout),
            11 => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        }
    }
}

/// The result of a send (Java `SendResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// Store status.
    pub status: SendStatus,
    /// Client message id (`UNIQ_KEY`); for a batch, the inner ids joined with commas.
    pub msg_id: String,
    /// Offset message id(s) returned by the broker (address of the store + commit-log offset).
    pub offset_msg_id: String,
    /// The queue the message went to (topic without namespace).
    pub message_queue: MessageQueue,
    /// Logical offset in the queue (first message of a batch).
    pub queue_offset: i64,
    /// Transaction id (= `UNIQ_KEY`), when the broker returned one.
    pub transaction_id: Option<String>,
    /// Broker region (`MSG_REGION`), when returned.
    pub region_id: Option<String>,
    /// Whether the broker has message tracing on (`TRACE_ON`).
    pub trace_on: bool,
}

/// Outcome of a pull (Java `PullStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullStatus {
    /// Messages were found (`SUCCESS`).
    Found,
    /// No new message past the offset (`PULL_NOT_FOUND`).
    NoNewMsg,
    /// Messages exist but none matched the filter (`PULL_RETRY_IMMEDIATELY`).
    NoMatchedMsg,
    /// The offset is outside the queue (`PULL_OFFSET_MOVED`); continue at `next_begin_offset`.
    OffsetIllegal,
}

/// The result of a PULL_MESSAGE (Java `PullResult` plus the broker's suggestion).
///
/// `messages` are decoded from the body, bodies decompressed, without client-side tag
/// filtering (the consumer filters by its subscription's tag set).
#[derive(Debug, Clone)]
pub struct PullResult {
    /// Status.
    pub status: PullStatus,
    /// Offset to pull from next.
    pub next_begin_offset: i64,
    /// The queue's min offset.
    pub min_offset: i64,
    /// The queue's max offset.
    pub max_offset: i64,
    /// Broker id to pull from next (0 = master).
    pub suggest_which_broker_id: i64,
    /// Messages found (empty unless `status == Found`).
    pub messages: Vec<MessageExt>,
}

/// Outcome of one POP_MESSAGE (Java `PopStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopStatus {
    /// Messages were popped.
    Found,
    /// Nothing to pop before the long poll ended (POLLING_TIMEOUT or PULL_NOT_FOUND).
    NoNewMsg,
    /// The broker's long-poll tables are full (POLLING_FULL): back off before popping again.
    PollingFull,
}

/// Result of one POP_MESSAGE: the messages, each carrying its receipt handle in property
/// `POP_CK` (docs/protocol/pop.md §3).
#[derive(Debug, Clone)]
pub struct PopResult {
    /// Status.
    pub status: PopStatus,
    /// Broker time of the pop.
    pub pop_time: i64,
    /// Invisible time granted, ms.
    pub invisible_time: i64,
    /// Revive queue (999 for orderly pops).
    pub revive_qid: i32,
    /// Backlog left in the queues read.
    pub rest_num: i64,
    /// Messages popped (bodies decompressed).
    pub messages: Vec<MessageExt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        let ok = Message::new("T", "x");
        assert!(ok.validate(10).is_ok());
        assert!(Message::new("T", "").validate(10).is_err());
        assert!(Message::new("T", "12345678901").validate(10).is_err());
        assert!(Message::new("SCHEDULE_TOPIC_XXXX", "x")
            .validate(10)
            .is_err());
        assert!(Message::new("a b", "x").validate(10).is_err());
        assert!(Message::new("%RETRY%g", "x").validate(10).is_ok());
        let mut m = Message::new("T", "x");
        m.properties.insert("k", "a\u{1}b");
        assert!(m.validate(10).is_err());
        let mut m = Message::new("T", "x");
        m.properties.insert("big", "v".repeat(MAX_PROPERTIES_LEN));
        assert!(m.validate(10).is_err());
    }

    #[test]
    fn builder_and_setters() {
        let m = Message::builder("T")
            .body("b")
            .tag("TagA")
            .keys(["k1", "k2"])
            .delay_level(3)
            .flag(7)
            .wait_store_msg_ok(false)
            .build()
            .unwrap();
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.keys(), Some("k1 k2"));
        assert_eq!(m.delay_level(), Some(3));
        assert_eq!(m.flag, 7);
        assert!(!m.wait_store_msg_ok());
        assert!(Message::builder("T")
            .body("b")
            .property("TAGS", "x")
            .build()
            .is_err());
        assert!(Message::builder("T").build().is_err());
        let mut m = m;
        m.set_delay_level(0);
        assert_eq!(m.delay_level(), None);
        m.set_deliver_time(UNIX_EPOCH + Duration::from_millis(1234));
        assert_eq!(m.property(property::TIMER_DELIVER_MS), Some("1234"));
    }

    #[test]
    fn send_status_codes() {
        assert_eq!(SendStatus::from_code(0), Some(SendStatus::SendOk));
        assert_eq!(
            SendStatus::from_code(10),
            Some(SendStatus::FlushDiskTimeout)
        );
        assert_eq!(
            SendStatus::from_code(11),
            Some(SendStatus::SlaveNotAvailable)
        );
        assert_eq!(
            SendStatus::from_code(12),
            Some(SendStatus::FlushSlaveTimeout)
        );
        assert_eq!(SendStatus::from_code(1), None);
    }
}
