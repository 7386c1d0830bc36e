//! The stored / pulled message record (docs/protocol/message.md §3): the commit-log format, also the body
//! of PULL_MESSAGE, QUERY_MESSAGE, VIEW_MESSAGE_BY_ID and CHECK_TRANSACTION_STATE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, Bytes, BytesMut};

use super::compress::{decompress_for_flag, UndecodableBody, DEFAULT_MAX_DECOMPRESSED_LEN};
use super::properties::{decode_properties_bytes, MAX_PROPERTIES_LEN};
use super::{body_crc, offset_msg_id, sys_flag, MessageExt};
use crate::error::{RemotingError, Result};

/// Magic code of v1 records (one-byte topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of v2 records (two-byte topic length), written by 5.x brokers for long topics.
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of the filler at the end of a commit-log file; never in network bodies.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;

/// Fixed part of a record with IPv4 hosts: every field except body, topic and properties, and
/// with a one-byte topic length.
const FIXED_V1_IPV4: usize = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2;

/// The record layout version, chosen by magic code.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::MessageVersion;
/// assert_eq!(MessageVersion::for_topic("TopicTest"), MessageVersion::V1);
/// assert_eq!(MessageVersion::for_topic(&"t".repeat(128)), MessageVersion::V2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageVersion {
    /// Magic `0xDAA320A7`, topic length in one signed byte (topics up to 127 bytes).
    #[default]
    V1,
    /// Magic `0xDAA320AB`, topic length in an i16 (topics up to 32767 bytes).
    V2,
}

impl MessageVersion {
    /// The magic code.
    pub fn magic(self) -> i32 {
        match self {
            MessageVersion::V1 => MAGIC_V1,
            MessageVersion::V2 => MAGIC_V2,
        }
    }

    /// The version of a magic code, if it is one.
    pub fn from_magic(magic: i32) -> Option<Self> {
        match magic {
            MAGIC_V1 => Some(MessageVersion::V1),
            MAGIC_V2 => Some(MessageVersion::V2),
            _ => None,
        }
    }

    /// What a 5.x broker writes (`autoMessageVersionOnTopicLen`): v1 unless the topic is longer
    /// than 127 bytes. Old clients cannot read v2, so v1 is preferred whenever it fits.
    pub fn for_topic(topic: &str) -> Self {
        if topic.len() > i8::MAX as usize {
            MessageVersion::V2
        } else {
            MessageVersion::V1
        }
    }

    fn topic_len_size(self) -> usize {
        match self {
            MessageVersion::V1 => 1,
            MessageVersion::V2 => 2,
        }
    }

    fn max_topic_len(self) -> usize {
        match self {
            MessageVersion::V1 => i8::MAX as usize,
            MessageVersion::V2 => i16::MAX as usize,
        }
    }
}

fn host_len(addr: &SocketAddr) -> usize {
    if addr.is_ipv4() {
        8
    } else {
        20
    }
}

/// Where a record's properties come from: the message's map, or bytes already in their wire
/// encoding.
#[derive(Clone, Copy)]
enum RecordProps<'a> {
    Map(&'a super::Properties),
    Encoded(&'a [u8]),
}

impl RecordProps<'_> {
    fn encoded_len(self) -> usize {
        match self {
            RecordProps::Map(p) => p.encoded_len(),
            RecordProps::Encoded(b) => b.len(),
        }
    }
}

/// The size of `msg`'s record in `version`, or an error if a field does not fit the format.
fn record_len(msg: &MessageExt, version: MessageVersion, props: RecordProps<'_>) -> Result<usize> {
    if msg.topic.len() > version.max_topic_len() {
        return Err(RemotingError::InvalidField {
            field: "topic",
            value: format!(
                "{} bytes long, {:?} records allow at most {}",
                msg.topic.len(),
                version,
                version.max_topic_len()
            ),
        });
    }
    let props_len = props.encoded_len();
    if props_len > MAX_PROPERTIES_LEN {
        return Err(RemotingError::InvalidField {
            field: "properties",
            value: format!("{props_len} bytes encoded, at most {MAX_PROPERTIES_LEN} allowed"),
        });
    }
    if let RecordProps::Map(p) = props {
        p.validate_separators()?;
    }
    let len = FIXED_V1_IPV4 - 16
        + host_len(&msg.born_host)
        + host_len(&msg.store_host)
        + (version.topic_len_size() - 1)
        + msg.body.len()
        + msg.topic.len()
        + props_len;
    if len > i32::MAX as usize {
        return Err(RemotingError::InvalidField {
            field: "body",
            value: format!(
                "{} bytes long, the record would exceed 2 GiB",
                msg.body.len()
            ),
        });
    }
    Ok(len)
}

/// Encodes `msg` as one stored record (v1 unless the topic needs v2, see
/// [`MessageVersion::for_topic`]).
///
/// The encoder derives some fields instead of trusting the struct: `totalSize` is computed, the
/// body CRC is computed over `body` as written, and the IPv6 bits of `sysFlag`
/// ([`sys_flag::BORNHOST_V6`], [`sys_flag::STOREHOSTADDRESS_V6`]) follow the address families
/// of `born_host` / `store_host`. `body` is written as it is: set the COMPRESSED bits only if it
/// holds compressed bytes.
///
/// Errors: [`RemotingError::InvalidField`] if the topic is too long, the properties exceed 32767
/// bytes or contain a 0x01/0x02 separator character (they would not decode back), or the
/// record would exceed 2 GiB.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{decode_message, encode_message, MessageExt};
/// let mut m = MessageExt::new("TopicTest", "Hello");
/// m.properties.insert("TAGS", "TagA");
/// let rec = encode_message(&m).unwrap();
/// assert_eq!(rec.len(), 91 + 5 + 9 + 10);
/// let back = decode_message(&mut rec.freeze(), true, true).unwrap();
/// assert_eq!(back.body, "Hello");
/// assert_eq!(back.tags(), Some("TagA"));
/// ```
pub fn encode_message(msg: &MessageExt) -> Result<BytesMut> {
    let mut buf = BytesMut::new();
    encode_message_into(msg, &mut buf)?;
    Ok(buf)
}

/// [`encode_message`] appending to `buf` (nothing is written on error).
pub fn encode_message_into(msg: &MessageExt, buf: &mut BytesMut) -> Result<()> {
    encode_message_with_version(msg, MessageVersion::for_topic(&msg.topic), buf)
}

/// [`encode_message_into`] with the record's properties given in their wire encoding
/// (`name 0x01 value 0x02` per pair, docs/protocol/message.md §1) instead of taken from
/// `msg.properties`, which is ignored. A broker that received a message's properties encoded
/// can store them as they are, without decoding them into a map and encoding the map again.
///
/// `properties` is written unchanged: the caller answers for it decoding to what it means.
/// Errors as [`encode_message`]'s (too long a topic, more than 32767 bytes of properties, a
/// record over 2 GiB); nothing is written on error.
///
/// ```
/// use bytes::BytesMut;
/// use rocketmq_rs_remoting::protocol::message::{
///     encode_message, encode_message_with_encoded_properties, MessageExt,
/// };
/// let mut m = MessageExt::new("TopicTest", "Hello");
/// let mut buf = BytesMut::new();
/// encode_message_with_encoded_properties(&m, b"TAGS\x01TagA\x02", &mut buf).unwrap();
/// m.properties.insert("TAGS", "TagA");
/// assert_eq!(buf, encode_message(&m).unwrap());
/// ```
pub fn encode_message_with_encoded_properties(
    msg: &MessageExt,
    properties: &[u8],
    buf: &mut BytesMut,
) -> Result<()> {
    encode_record(
        msg,
        MessageVersion::for_topic(&msg.topic),
        RecordProps::Encoded(properties),
        buf,
    )
}

/// [`encode_message_into`] with an explicit record version.
pub fn encode_message_with_version(
    msg: &MessageExt,
    version: MessageVersion,
    buf: &mut BytesMut,
) -> Result<()> {
    encode_record(msg, version, RecordProps::Map(&msg.properties), buf)
}

fn encode_record(
    msg: &MessageExt,
    version: MessageVersion,
    props: RecordProps<'_>,
    buf: &mut BytesMut,
) -> Result<()> {
    let total = record_len(msg, version, props)?;
    buf.reserve(total);
    let mut flag = msg.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOSTADDRESS_V6);
    if msg.born_host.is_ipv6() {
        flag |= sys_flag::BORNHOST_V6;
    }
    if msg.store_host.is_ipv6() {
        flag |= sys_flag::STOREHOSTADDRESS_V6;
    }
    // The record's exact size is known, so it is zero-extended once and filled through a
    // cursor: one capacity check instead of one per field (about 30 `put_*` calls a record).
    let start = buf.len();
    buf.resize(start + total, 0);
    let mut w = Cursor {
        out: &mut buf[start..],
        pos: 0,
    };
    w.put(&(total as i32).to_be_bytes());
    w.put(&version.magic().to_be_bytes());
    w.put(&body_crc(&msg.body).to_be_bytes());
    w.put(&msg.queue_id.to_be_bytes());
    w.put(&msg.flag.to_be_bytes());
    w.put(&msg.queue_offset.to_be_bytes());
    w.put(&msg.commit_log_offset.to_be_bytes());
    w.put(&flag.to_be_bytes());
    w.put(&msg.born_timestamp.to_be_bytes());
    w.host(&msg.born_host);
    w.put(&msg.store_timestamp.to_be_bytes());
    w.host(&msg.store_host);
    w.put(&msg.reconsume_times.to_be_bytes());
    w.put(&msg.prepared_transaction_offset.to_be_bytes());
    w.put(&(msg.body.len() as i32).to_be_bytes());
    w.put(&msg.body);
    match version {
        MessageVersion::V1 => w.put(&[msg.topic.len() as u8]),
        MessageVersion::V2 => w.put(&(msg.topic.len() as u16).to_be_bytes()),
    }
    w.put(msg.topic.as_bytes());
    w.put(&(props.encoded_len() as u16).to_be_bytes());
    match props {
        RecordProps::Map(p) => {
            for (k, v) in p.iter() {
                w.put(k.as_bytes());
                w.put(&[0x01]);
                w.put(v.as_bytes());
                w.put(&[0x02]);
            }
        }
        RecordProps::Encoded(b) => w.put(b),
    }
    debug_assert_eq!(w.pos, total);
    Ok(())
}

/// Writes consecutive fields into a record's pre-sized bytes.
struct Cursor<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn host(&mut self, addr: &SocketAddr) {
        match addr.ip() {
            IpAddr::V4(ip) => self.put(&ip.octets()),
            IpAddr::V6(ip) => self.put(&ip.octets()),
        }
        self.put(&i32::from(addr.port()).to_be_bytes());
    }
}

/// How [`decode_message_with`] / [`decode_messages_with`] treat bodies.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::DecodeOptions;
/// let mut opts = DecodeOptions::default();
/// opts.check_crc = true;
/// assert!(opts.read_body && opts.decompress);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Keep the body (otherwise it is skipped and left empty).
    pub read_body: bool,
    /// Decompress compressed bodies (zlib, zstd or LZ4, per `sysFlag` bits 8–10) and clear
    /// [`sys_flag::COMPRESSED`], keeping the type bits as Java does. A body that cannot be
    /// decompressed (unknown type, algorithm feature off, corrupt bytes) is a
    /// [`RemotingError::MessageBody`] naming the message, never compressed bytes handed on.
    pub decompress: bool,
    /// Fail on a body whose CRC differs from the stored `bodyCRC` (Java `checkCRC`).
    pub check_crc: bool,
    /// Largest decompressed body accepted; a larger one is an error.
    pub max_decompressed_len: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            read_body: true,
            decompress: true,
            check_crc: false,
            max_decompressed_len: DEFAULT_MAX_DECOMPRESSED_LEN,
        }
    }
}

/// Bounds-checked big-endian reads over one record.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                RemotingError::decode(format!(
                    "stored message record truncated in {what}: needs {n} bytes at offset {}, record has {}",
                    self.pos,
                    self.buf.len()
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        self.array::<4>(what).map(i32::from_be_bytes)
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        self.array::<8>(what).map(i64::from_be_bytes)
    }

    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.i32(what)?;
        usize::try_from(n)
            .map_err(|_| RemotingError::decode(format!("negative {what} {n} in stored message")))
    }

    fn host(&mut self, v6: bool, what: &str) -> Result<SocketAddr> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>(what)?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>(what)?))
        };
        let port = self.i32(what)?;
        let port = u16::try_from(port)
            .map_err(|_| RemotingError::decode(format!("{what} port {port} out of range")))?;
        Ok(SocketAddr::new(ip, port))
    }
}

/// Decodes one stored record from the front of `buf` and advances `buf` past it.
///
/// With `read_body` the body is a zero-copy slice of `buf` unless it is decompressed; without
/// it the body is left empty. With `decompress` a zlib body is inflated and the COMPRESSED bit
/// cleared, as the Java client does.
///
/// Every length is checked against the record before use: bad input gives
/// [`RemotingError::Decode`] (and leaves `buf` where it was), never a panic.
pub fn decode_message(buf: &mut Bytes, read_body: bool, decompress: bool) -> Result<MessageExt> {
    decode_message_with(
        buf,
        &DecodeOptions {
            read_body,
            decompress,
            ..DecodeOptions::default()
        },
    )
}

/// [`decode_message`] with all [`DecodeOptions`].
pub fn decode_message_with(buf: &mut Bytes, opts: &DecodeOptions) -> Result<MessageExt> {
    if buf.len() < 4 {
        return Err(RemotingError::decode(format!(
            "stored message record truncated: {} bytes left",
            buf.len()
        )));
    }
    let total_raw = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let total = usize::try_from(total_raw)
        .ok()
        .filter(|&t| t >= FIXED_V1_IPV4)
        .ok_or_else(|| {
            RemotingError::decode(format!("stored message totalSize {total_raw} is too small"))
        })?;
    if total > buf.len() {
        return Err(RemotingError::decode(format!(
            "stored message totalSize {total} exceeds the {} bytes left",
            buf.len()
        )));
    }
    let mut r = Reader {
        buf: &buf[..total],
        pos: 4,
    };
    let magic = r.i32("magicCode")?;
    let version = MessageVersion::from_magic(magic).ok_or_else(|| {
        RemotingError::decode(format!("unknown stored message magic code {magic:#010x}"))
    })?;
    let mut msg = MessageExt {
        store_size: total_raw,
        body_crc: r.i32("bodyCRC")? as u32,
        queue_id: r.i32("queueId")?,
        flag: r.i32("flag")?,
        queue_offset: r.i64("queueOffset")?,
        commit_log_offset: r.i64("physicalOffset")?,
        ..MessageExt::default()
    };
    msg.sys_flag = r.i32("sysFlag")?;
    msg.born_timestamp = r.i64("bornTimestamp")?;
    msg.born_host = r.host(
        sys_flag::check(msg.sys_flag, sys_flag::BORNHOST_V6),
        "bornHost",
    )?;
    msg.store_timestamp = r.i64("storeTimestamp")?;
    msg.store_host = r.host(
        sys_flag::check(msg.sys_flag, sys_flag::STOREHOSTADDRESS_V6),
        "storeHost",
    )?;
    msg.reconsume_times = r.i32("reconsumeTimes")?;
    msg.prepared_transaction_offset = r.i64("preparedTransactionOffset")?;
    let body_len = r.len("bodyLength")?;
    let body_start = r.pos;
    let body = r.take(body_len, "body")?;
    if opts.read_body {
        if opts.check_crc && body_crc(body) != msg.body_crc {
            return Err(RemotingError::decode(format!(
                "body CRC mismatch at commit-log offset {}",
                msg.commit_log_offset
            )));
        }
        msg.body = buf.slice(body_start..body_start + body_len);
    }
    let topic_len = match version {
        MessageVersion::V1 => i32::from(i8::from_be_bytes(r.array::<1>("topicLength")?)),
        MessageVersion::V2 => i32::from(i16::from_be_bytes(r.array::<2>("topicLength")?)),
    };
    let topic_len = usize::try_from(topic_len).map_err(|_| {
        RemotingError::decode(format!(
            "negative topicLength {topic_len} in stored message"
        ))
    })?;
    let topic = r.take(topic_len, "topic")?;
    // `from_utf8` first: much cheaper than the lossy decoder on the valid input it nearly
    // always is.
    msg.topic = match std::str::from_utf8(topic) {
        Ok(t) => t.to_owned(),
        Err(_) => String::from_utf8_lossy(topic).into_owned(),
    };
    let props_len = i16::from_be_bytes(r.array::<2>("propertiesLength")?);
    let props_len = usize::try_from(props_len).map_err(|_| {
        RemotingError::decode(format!(
            "negative propertiesLength {props_len} in stored message"
        ))
    })?;
    msg.properties = decode_properties_bytes(r.take(props_len, "properties")?);
    if r.pos != total {
        return Err(RemotingError::decode(format!(
            "stored message fields end at byte {} but totalSize is {total}",
            r.pos
        )));
    }
    // Java inflates only non-empty bodies (`bodyLen > 0`) and then clears just the COMPRESSED
    // bit: the type bits stay, so a consumer still sees which algorithm the producer used.
    if opts.read_body && opts.decompress && msg.is_compressed() && !msg.body.is_empty() {
        match decompress_for_flag(msg.sys_flag, &msg.body, opts.max_decompressed_len) {
            Ok(Some(plain)) => {
                msg.body = Bytes::from(plain);
                msg.sys_flag = sys_flag::clear_compressed(msg.sys_flag);
            }
            Ok(None) => {}
            Err(source) => {
                return Err(RemotingError::MessageBody(Box::new(UndecodableBody {
                    topic: msg.topic,
                    queue_id: msg.queue_id,
                    queue_offset: msg.queue_offset,
                    commit_log_offset: msg.commit_log_offset,
                    source,
                })))
            }
        }
    }
    msg.msg_id = offset_msg_id(msg.store_host, msg.commit_log_offset);
    buf.advance(total);
    Ok(msg)
}

/// Decodes a PULL_MESSAGE (or QUERY_MESSAGE / VIEW_MESSAGE_BY_ID) response body: consecutive
/// stored records until the body is exhausted. Compressed bodies (zlib, zstd, LZ4) are
/// decompressed (COMPRESSED bit cleared, type bits kept) and 5.x inner-batch records ([`sys_flag::INNER_BATCH`] + [`sys_flag::NEED_UNWRAP`])
/// are unwrapped into their messages, as the Java client does.
///
/// Unlike Java, which silently keeps only the records before a bad one (and so skips the rest
/// of the body, the undecodable message included), a malformed record or an undecodable body
/// ([`RemotingError::MessageBody`]) fails the whole body, so that nothing is skipped silently.
///
/// ```
/// use bytes::BytesMut;
/// use rocketmq_rs_remoting::protocol::message::{decode_messages, encode_message_into, MessageExt};
/// let mut body = BytesMut::new();
/// encode_message_into(&MessageExt::new("T", "a"), &mut body).unwrap();
/// encode_message_into(&MessageExt::new("T", "b"), &mut body).unwrap();
/// let msgs = decode_messages(body.freeze()).unwrap();
/// assert_eq!(msgs.len(), 2);
/// assert_eq!(msgs[1].body, "b");
/// assert!(decode_messages(bytes::Bytes::from_static(b"\0\0\0\x05junk")).is_err());
/// ```
pub fn decode_messages(body: Bytes) -> Result<Vec<MessageExt>> {
    decode_messages_with(body, &DecodeOptions::default())
}

/// [`decode_messages`] with all [`DecodeOptions`].
pub fn decode_messages_with(mut body: Bytes, opts: &DecodeOptions) -> Result<Vec<MessageExt>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let msg = decode_message_with(&mut body, opts)?;
        let wrapped = sys_flag::check(msg.sys_flag, sys_flag::INNER_BATCH)
            && sys_flag::check(msg.sys_flag, sys_flag::NEED_UNWRAP);
        if wrapped && opts.read_body && !msg.is_compressed() {
            out.extend(super::batch::unwrap_inner_batch(&msg)?);
        } else {
            out.push(msg);
        }
    }
    Ok(out)
}
