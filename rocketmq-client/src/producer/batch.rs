//! Batches: the rules a batch must follow, its wire size, and [`split_batch`] to cut a large
//! list into batches under a size limit (docs/protocol/send.md §3).
//!
//! A batch is one SEND_BATCH_MESSAGE: every message has the same topic and `WAIT` value, none
//! has a delay level, the topic is not a `%RETRY%` topic, and the encoded body (22 bytes of
//! framing per message + body + properties) is at most the producer's `max_message_size`.
//! Batches are never compressed.
//!
//! ```
//! use rocketmq_rs_client::Message;
//! use rocketmq_rs_client::producer::batch::split_batch;
//!
//! let msgs: Vec<Message> = (0..10).map(|i| Message::new("T", vec![b'x'; 100 + i])).collect();
//! let batches = split_batch(msgs, 500).unwrap();
//! assert!(batches.len() > 1);
//! assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 10);
//! ```

use rocketmq_rs_remoting::protocol::message::property;

use crate::error::{Error, Result};
use crate::message::Message;

/// Framing bytes of one batch entry: totalSize, magic, bodyCRC, flag, bodyLength,
/// propertiesLength.
pub const ENTRY_OVERHEAD: usize = 22;

/// Bytes the producer adds to a message without `UNIQ_KEY`: `UNIQ_KEY` `0x01` 32 hex chars
/// `0x02` (IPv4 hosts; 56 hex chars for IPv6).
const UNIQ_KEY_RESERVE: usize = 8 + 1 + 56 + 1;

/// The encoded size of `msg` inside a batch body, counting the `UNIQ_KEY` the producer will
/// add when it has none.
pub fn entry_size(msg: &Message) -> usize {
    let reserve = if msg.uniq_key().is_some() {
        0
    } else {
        UNIQ_KEY_RESERVE
    };
    ENTRY_OVERHEAD + msg.body.len() + msg.properties.encoded_len() + reserve
}

/// Checks the batch rules (same topic, same `WAIT`, no delay, no `%RETRY%` topic, non-empty
/// list, each message valid with `max_size`).
///
/// # Errors
///
/// [`Error::InvalidMessage`] naming the rule broken.
pub fn check_batch(msgs: &[Message], max_size: usize) -> Result<()> {
    let Some(first) = msgs.first() else {
        return Err(Error::InvalidMessage("the batch is empty".into()));
    };
    if first
        .topic
        .starts_with(crate::util::namespace::RETRY_GROUP_TOPIC_PREFIX)
    {
        return Err(Error::InvalidMessage(
            "batches cannot be sent to %RETRY% topics".into(),
        ));
    }
    let wait = first.wait_store_msg_ok();
    for m in msgs {
        m.validate(max_size)?;
        if m.topic != first.topic {
            return Err(Error::InvalidMessage(format!(
                "all messages of a batch must have the same topic ({:?} and {:?})",
                first.topic, m.topic
            )));
        }
        if m.wait_store_msg_ok() != wait {
            return Err(Error::InvalidMessage(
                "all messages of a batch must have the same WAIT (wait_store_msg_ok)".into(),
            ));
        }
        if m.properties.contains_key(property::DELAY) {
            return Err(Error::InvalidMessage(
                "batches do not support delay levels; send delayed messages one by one".into(),
            ));
        }
    }
    Ok(())
}

/// Splits `msgs` into consecutive batches whose encoded size is at most `max_bytes` each
/// (order kept). Use the producer's `max_message_size` as the limit.
///
/// # Errors
///
/// [`Error::InvalidMessage`] if one message alone is larger than `max_bytes`.
pub fn split_batch(msgs: Vec<Message>, max_bytes: usize) -> Result<Vec<Vec<Message>>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut size = 0usize;
    for m in msgs {
        let n = entry_size(&m);
        if n > max_bytes {
            return Err(Error::InvalidMessage(format!(
                "a message takes {n} bytes in a batch, more than the limit of {max_bytes}; \
                 send it on its own"
            )));
        }
        if size + n > max_bytes && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += n;
        current.push(m);
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_limit_and_order() {
        let msgs: Vec<Message> = (0..50)
            .map(|i| Message::new("T", vec![b'a'; 10 + i]))
            .collect();
        let sizes: Vec<usize> = msgs.iter().map(entry_size).collect();
        let batches = split_batch(msgs, 1000).unwrap();
        let mut i = 0;
        for b in &batches {
            let total: usize = b.iter().map(entry_size).sum();
            assert!(total <= 1000, "{total}");
            for m in b {
                assert_eq!(entry_size(m), sizes[i]);
                i += 1;
            }
        }
        assert_eq!(i, 50);
        assert!(split_batch(vec![Message::new("T", vec![0; 2000])], 1000).is_err());
        assert!(split_batch(Vec::new(), 10).unwrap().is_empty());
    }

    #[test]
    fn batch_rules() {
        let ok = vec![Message::new("T", "a"), Message::new("T", "b")];
        assert!(check_batch(&ok, 100).is_ok());
        assert!(check_batch(&[], 100).is_err());
        assert!(check_batch(&[Message::new("T", "a"), Message::new("U", "b")], 100).is_err());
        let mut d = Message::new("T", "a");
        d.set_delay_level(2);
        assert!(check_batch(&[d], 100).is_err());
        let mut w = Message::new("T", "a");
        w.set_wait_store_msg_ok(false);
        assert!(check_batch(&[Message::new("T", "a"), w], 100).is_err());
        assert!(check_batch(&[Message::new("%RETRY%g", "a")], 100).is_err());
    }
}
