//! The batch body of SEND_BATCH_MESSAGE (docs/protocol/send.md §3), also the body of 5.x inner-batch
//! records.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::properties::{decode_properties_bytes, MAX_PROPERTIES_LEN};
use super::{offset_msg_id, MessageExt, Properties};
use crate::error::{RemotingError, Result};

/// One message inside a batch body: the topic, queue and sysFlag are the batch's.
///
/// ```
/// use rocketmq_rs_remoting::protocol::message::{decode_batch, encode_batch, BatchMessage};
/// let mut m = BatchMessage::new("hi");
/// m.properties.insert("UNIQ_KEY", "0A0000010001000000010000000A0000");
/// let body = encode_batch(&[m.clone(), BatchMessage::new("there")]).unwrap();
/// let back = decode_batch(body).unwrap();
/// assert_eq!(back, vec![m, BatchMessage::new("there")]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchMessage {
    /// User flag.
    pub flag: i32,
    /// Body (never compressed inside batches).
    pub body: Bytes,
    /// Properties, including this message's own `UNIQ_KEY`, `TAGS`, `KEYS`, `WAIT`.
    pub properties: Properties,
}

impl BatchMessage {
    /// An entry with `body`, flag 0 and no properties.
    pub fn new(body: impl Into<Bytes>) -> Self {
        BatchMessage {
            flag: 0,
            body: body.into(),
            properties: Properties::new(),
        }
    }
}

/// Fixed part of an entry: totalSize, magic, bodyCRC, flag, bodyLength, propertiesLength.
const ENTRY_FIXED: usize = 4 + 4 + 4 + 4 + 4 + 2;

fn entry_len(m: &BatchMessage) -> Result<usize> {
    let props_len = m.properties.encoded_len();
    if props_len > MAX_PROPERTIES_LEN {
        return Err(RemotingError::InvalidField {
            field: "properties",
            value: format!("{props_len} bytes encoded, at most {MAX_PROPERTIES_LEN} allowed"),
        });
    }
    m.properties.validate_separators()?;
    let len = ENTRY_FIXED + m.body.len() + props_len;
    if len > i32::MAX as usize {
        return Err(RemotingError::InvalidField {
            field: "body",
            value: format!(
                "{} bytes long, a batch entry must stay below 2 GiB",
                m.body.len()
            ),
        });
    }
    Ok(len)
}

/// Encodes a SEND_BATCH_MESSAGE body exactly as Java's `MessageDecoder.encodeMessages` (and the
/// Go client): per entry `totalSize`, magic 0, body CRC 0, flag, body, properties.
///
/// Errors: [`RemotingError::InvalidField`] if an entry's properties exceed 32767 bytes or
/// contain a 0x01/0x02 separator character, or an entry would exceed 2 GiB.
pub fn encode_batch(msgs: &[BatchMessage]) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    encode_batch_into(msgs, &mut buf)?;
    Ok(buf.freeze())
}

/// [`encode_batch`] appending to `buf` (nothing is written on error).
pub fn encode_batch_into(msgs: &[BatchMessage], buf: &mut BytesMut) -> Result<()> {
    let mut total = 0usize;
    for m in msgs {
        total = total.saturating_add(entry_len(m)?);
    }
    buf.reserve(total);
    for m in msgs {
        let props_len = m.properties.encoded_len();
        buf.put_i32((ENTRY_FIXED + m.body.len() + props_len) as i32);
        buf.put_i32(0);
        buf.put_i32(0);
        buf.put_i32(m.flag);
        buf.put_i32(m.body.len() as i32);
        buf.put_slice(&m.body);
        buf.put_u16(props_len as u16);
        for (k, v) in m.properties.iter() {
            buf.put_slice(k.as_bytes());
            buf.put_u8(0x01);
            buf.put_slice(v.as_bytes());
            buf.put_u8(0x02);
        }
    }
    Ok(())
}

fn truncated(what: &str, at: usize) -> RemotingError {
    RemotingError::decode(format!("batch body truncated in {what} at byte {at}"))
}

/// Decodes a batch body (bodies are zero-copy slices of `body`).
///
/// Like the Java broker, the entry fields are read in sequence and the `totalSize`, magic and
/// CRC words are not trusted (clients write 0 for the latter two).
///
/// Errors: [`RemotingError::Decode`] for a truncated entry or a negative length.
pub fn decode_batch(body: Bytes) -> Result<Vec<BatchMessage>> {
    let mut out = Vec::new();
    let mut rest = body.clone();
    while !rest.is_empty() {
        let at = body.len() - rest.len();
        if rest.len() < 20 {
            return Err(truncated("entry header", at));
        }
        rest.advance(12); // totalSize, magicCode, bodyCRC
        let flag = rest.get_i32();
        let body_len = rest.get_i32();
        let body_len = usize::try_from(body_len).map_err(|_| {
            RemotingError::decode(format!(
                "negative bodyLength {body_len} in batch entry at byte {at}"
            ))
        })?;
        if rest.len() < body_len {
            return Err(truncated("body", at));
        }
        let msg_body = rest.split_to(body_len);
        if rest.len() < 2 {
            return Err(truncated("propertiesLength", at));
        }
        let props_len = rest.get_i16();
        let props_len = usize::try_from(props_len).map_err(|_| {
            RemotingError::decode(format!(
                "negative propertiesLength {props_len} in batch entry at byte {at}"
            ))
        })?;
        if rest.len() < props_len {
            return Err(truncated("properties", at));
        }
        let properties = decode_properties_bytes(&rest[..props_len]);
        rest.advance(props_len);
        out.push(BatchMessage {
            flag,
            body: msg_body,
            properties,
        });
    }
    Ok(out)
}

/// Unwraps a 5.x inner-batch record (sysFlag INNER_BATCH + NEED_UNWRAP; its body is a batch
/// body) into its messages the way the Java client does: entry `i` gets queue offset
/// `record.queue_offset + i`, its own flag, body and properties, and the record's topic, queue,
/// hosts, timestamps, sysFlag and commit-log offset.
///
/// Errors: as [`decode_batch`] on the record's body.
pub fn unwrap_inner_batch(record: &MessageExt) -> Result<Vec<MessageExt>> {
    let entries = decode_batch(record.body.clone())?;
    let msg_id = offset_msg_id(record.store_host, record.commit_log_offset);
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| MessageExt {
            topic: record.topic.clone(),
            flag: e.flag,
            body: e.body,
            properties: e.properties,
            queue_id: record.queue_id,
            store_size: 0,
            queue_offset: record.queue_offset.saturating_add(i as i64),
            sys_flag: record.sys_flag,
            born_timestamp: record.born_timestamp,
            born_host: record.born_host,
            store_timestamp: record.store_timestamp,
            store_host: record.store_host,
            reconsume_times: record.reconsume_times,
            prepared_transaction_offset: record.prepared_transaction_offset,
            commit_log_offset: record.commit_log_offset,
            body_crc: 0,
            msg_id: msg_id.clone(),
        })
        .collect())
}
