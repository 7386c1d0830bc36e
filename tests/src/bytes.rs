//! The byte-identity checks of the Java harness's `bytes` run (`interop/java/RmqHarness.java`):
//! shared by the Apache interop suite (scenario 7) and the mini-broker Java interop tests.

use std::collections::BTreeMap;

use rocketmq_rs_client::MessageExt;
use rocketmq_rs_remoting::protocol::message::{sys_flag, CompressionType};

use crate::harness::{hex, Event};

/// The unicode user property the harness's `bytes` run sets (its `UNI_KEY`)...
pub const UNI_KEY: &str = "ключ✓";
/// ... and the start of its value (its `UNI_VALUE`; the message index follows).
pub const UNI_VALUE: &str = "値 🚀 üé \"quoted\" ";

/// Which id the messages of a batch read back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchIds {
    /// Each its own `UNIQ_KEY`.
    Own,
    /// One id for all, none of them its own: a broker that copies the batch wrapper's
    /// properties, `UNIQ_KEY` included, into every message (Apache 4.9.x and 5.0–5.3 with a
    /// Java 5.x producer, which puts a `UNIQ_KEY` on the wrapper).
    Shared,
}

/// Checks what our consumer read (`got`) against the `sent` events of the Java harness's
/// `bytes` run: the same messages, each with the same body, tags, keys, user properties and
/// id (per `ids` for the batch), and the sysFlag type bits of the Java producer's
/// `compressType` on the compressed ones (COMPRESSED cleared, as Java 5.x's consumer does).
///
/// # Panics
///
/// On the first difference, naming `what`, the message index and the field.
pub fn check_java_bytes_read(what: &str, ids: BatchIds, sent: &[&Event], got: &[MessageExt]) {
    let by_idx: BTreeMap<i64, &MessageExt> = got
        .iter()
        .map(|m| {
            let idx = m.property("idx").and_then(|v| v.parse().ok());
            (idx.unwrap_or_else(|| panic!("{what}: no idx in {m:?}")), m)
        })
        .collect();
    if ids == BatchIds::Shared {
        shared_batch_id(what, sent, got);
    }
    let sent: BTreeMap<i64, &Event> = sent.iter().map(|e| (e.idx.expect("idx"), *e)).collect();
    assert_eq!(
        by_idx.keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>(),
        "{what}: which messages we read"
    );
    for (idx, s) in &sent {
        let m = by_idx[idx];
        assert_eq!(Some(hex(&m.body)), s.body, "{what} {idx}: body");
        assert_eq!(m.tags(), s.tags.as_deref(), "{what} {idx}: tags");
        assert_eq!(m.keys(), s.keys.as_deref(), "{what} {idx}: keys");
        let batch = s.compress_type.is_none();
        if !(batch && ids == BatchIds::Shared) {
            assert_eq!(m.uniq_key(), s.msg_id.as_deref(), "{what} {idx}: msgId");
        }
        assert_eq!(
            s.props.len(),
            4,
            "{what} {idx}: Java reported {:?}",
            s.props
        );
        for (k, v) in &s.props {
            assert_eq!(
                m.property(k),
                Some(v.as_str()),
                "{what} {idx}: property {k}"
            );
        }
        assert_eq!(
            m.property(UNI_KEY).map(|v| v.starts_with(UNI_VALUE)),
            Some(true),
            "{what} {idx}: the harness's unicode property"
        );
        // Java compressed the big non-batch bodies with its producer's type: decoded here
        // (COMPRESSED cleared, type bits kept, as Java's own consumer does).
        // (The harness's threshold is Java's default, 4096 bytes; batches are never compressed.)
        let plain_len = s.body_bytes().expect("hex body").len();
        let compressed = s.compress_type.is_some() && plain_len >= 4096;
        let want = if compressed {
            s.compress_type
                .as_deref()
                .map(|t| t.parse::<CompressionType>().expect("type name").sys_flag())
                .unwrap_or(0)
        } else {
            0
        };
        assert_eq!(
            m.sys_flag & (sys_flag::COMPRESSED | sys_flag::COMPRESSION_TYPE_MASK),
            want,
            "{what} {idx}: sysFlag {:#x}",
            m.sys_flag
        );
    }
}

/// The batch messages all carry one id, none of them its own.
fn shared_batch_id(what: &str, sent: &[&Event], got: &[MessageExt]) {
    let batch: Vec<&Event> = sent
        .iter()
        .copied()
        .filter(|e| e.compress_type.is_none())
        .collect();
    let ids: std::collections::BTreeSet<Option<&str>> = got
        .iter()
        .filter(|m| m.property("mode") == Some("batch"))
        .map(|m| m.uniq_key())
        .collect();
    assert_eq!(ids.len(), 1, "{what}: batch ids {ids:?}");
    for e in batch {
        assert!(
            !ids.contains(&e.msg_id.as_deref()),
            "{what}: {ids:?} vs {e:?}"
        );
    }
}
