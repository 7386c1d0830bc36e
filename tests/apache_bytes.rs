//! Scenario 7 of the Apache interop matrix, bytes: through a real Apache broker, what our
//! producer sends is read byte-identically by Apache's official Java client, and what the Java
//! client sends is read byte-identically by ours. Bodies cover every byte value, uncompressed
//! and compressed with each of zlib, zstd and LZ4 (`compressType`, in 4.9.8 and 5.x alike),
//! plus batches; tags and keys carry non-ASCII text; user properties have unicode names and
//! values (a 4-byte emoji, quotes).
//!
//! Java client 4.9.8 against the 4.9.7 server, 5.5.0 against the 5.x servers
//! (`interop/java/RmqHarness.java`: `bytes` produces, `pull` reads every queue from 0).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_it::apache::{ApacheCluster, V4, V5_3, V5_NEWEST};
use rocketmq_it::bytes::{check_java_bytes_read, BatchIds, UNI_KEY, UNI_VALUE};
use rocketmq_it::harness::{hex, Event};
use rocketmq_it::javaclient::{JavaClient, REQUIRE_VAR};
use rocketmq_it::scenarios::args;
use rocketmq_rs_client::{Message, Producer};
use rocketmq_rs_remoting::protocol::message::{sys_flag, CompressionType};
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{client_cfg, cluster, create_topic, pull_all, run, unique};

const RUN_TIMEOUT: Duration = Duration::from_secs(90);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages per compression type (alternately over and under the threshold) and per batch.
const PER_KIND: usize = 2;
const BIG: usize = 6000;
const SMALL: usize = 64;

/// The Java client paired with an Apache server version: 4.9.8 with 4.9.7, 5.5.0 with 5.x.
fn java_for(server: &str) -> &'static str {
    if server == V4 {
        "4.9.8"
    } else {
        "5.5.0"
    }
}

/// Every byte value, in a pattern that still compresses (a ramp with a per-message stride).
fn body(idx: usize, size: usize) -> Vec<u8> {
    let mut b = format!("rust:{idx}:").into_bytes();
    b.extend((0..size).map(|j| (idx * 7 + j * 13) as u8));
    b
}

/// One of our messages as sent, for comparing with what Java read.
struct Sent {
    body: Vec<u8>,
    tags: String,
    keys: String,
    props: BTreeMap<String, String>,
    msg_id: String,
    /// The algorithm the body went out compressed with.
    compressed: Option<CompressionType>,
}

fn our_message(topic: &str, mode: &str, idx: usize, size: usize) -> (Message, Sent) {
    let props: BTreeMap<String, String> = [
        ("idx".to_owned(), idx.to_string()),
        ("mode".to_owned(), mode.to_owned()),
        ("src".to_owned(), "rust".to_owned()),
        (UNI_KEY.to_owned(), format!("{UNI_VALUE}{idx}")),
    ]
    .into_iter()
    .collect();
    let tags = format!("Tag✓-{mode}");
    let keys = [format!("key-{idx}"), format!("kéy-{mode}")];
    let mut b = Message::builder(topic)
        .tag(tags.clone())
        .keys(keys.clone())
        .body(body(idx, size));
    for (k, v) in &props {
        b = b.property(k, v.clone());
    }
    let m = b.build().expect("message");
    let sent = Sent {
        body: m.body.to_vec(),
        tags,
        keys: keys.join(" "),
        props,
        msg_id: String::new(),
        compressed: None,
    };
    (m, sent)
}

/// Sends PER_KIND messages per compression type (a producer each) and one batch; returns
/// what was sent, by idx.
async fn send_ours(c: &ApacheCluster, rt: &Arc<dyn Runtime>, topic: &str) -> BTreeMap<usize, Sent> {
    let cfg = client_cfg(c, rt);
    let mut out = BTreeMap::new();
    let mut idx = 0;
    for kind in CompressionType::ALL {
        let p = Producer::builder()
            .name_server(&cfg.namesrv_addrs.join(";"))
            .group(format!("{topic}_pg_{kind}"))
            .send_timeout(Duration::from_secs(10))
            .runtime(Arc::clone(rt))
            .compress_type(kind)
            .build()
            .expect("producer config");
        p.start().await.expect("producer start");
        for i in 0..PER_KIND {
            let big = i % 2 == 0;
            let (m, mut s) =
                our_message(topic, &kind.to_string(), idx, if big { BIG } else { SMALL });
            let r = p
                .send(m)
                .await
                .unwrap_or_else(|e| panic!("send {idx} ({kind}): {e}"));
            s.msg_id = r.msg_id;
            s.compressed = big.then_some(kind);
            out.insert(idx, s);
            idx += 1;
        }
        p.shutdown().await;
    }
    let p = Producer::builder()
        .name_server(&cfg.namesrv_addrs.join(";"))
        .group(format!("{topic}_pg_batch"))
        .send_timeout(Duration::from_secs(10))
        .runtime(Arc::clone(rt))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    let (msgs, mut sent): (Vec<_>, Vec<_>) = (0..PER_KIND)
        .map(|i| our_message(topic, "batch", idx + i, BIG))
        .unzip();
    let r = p.send_batch(msgs).await.expect("batch send");
    for (s, id) in sent.iter_mut().zip(r.msg_id.split(',')) {
        s.msg_id = id.to_owned();
    }
    for s in sent {
        out.insert(idx, s);
        idx += 1;
    }
    p.shutdown().await;
    out
}

/// Java's `recv` events (its pull consumer, client `java`) against what we sent.
fn java_read_ours(what: &str, java: &str, sent: &BTreeMap<usize, Sent>, got: &[&Event]) {
    let by_idx: BTreeMap<usize, &Event> = got
        .iter()
        .map(|e| {
            let idx = e.prop("idx").and_then(|v| v.parse().ok());
            (idx.unwrap_or_else(|| panic!("{what}: no idx in {e:?}")), *e)
        })
        .collect();
    assert_eq!(
        by_idx.keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>(),
        "{what}: which messages Java read"
    );
    for (idx, s) in sent {
        let g = by_idx[idx];
        assert_eq!(
            g.body.as_deref(),
            Some(hex(&s.body).as_str()),
            "{what} {idx}: body"
        );
        assert_eq!(
            g.tags.as_deref(),
            Some(s.tags.as_str()),
            "{what} {idx}: tags"
        );
        assert_eq!(
            g.keys.as_deref(),
            Some(s.keys.as_str()),
            "{what} {idx}: keys"
        );
        assert_eq!(
            g.msg_id.as_deref(),
            Some(s.msg_id.as_str()),
            "{what} {idx}: msgId"
        );
        for (k, v) in &s.props {
            assert_eq!(g.prop(k), Some(v.as_str()), "{what} {idx}: property {k}");
        }
        // Java 5.x's decoder clears COMPRESSED after inflating and keeps the type bits we set;
        // 4.9.8's inflates but leaves COMPRESSED set (MessageDecoder.decode, 4.9.8 vs 5.x).
        let flag = g
            .sys_flag
            .unwrap_or_else(|| panic!("{what} {idx}: no sysFlag"));
        let want = match s.compressed {
            None => 0,
            Some(k) if java.starts_with("4.") => k.compressed_sys_flag(),
            Some(k) => k.sys_flag(),
        };
        assert_eq!(
            flag & (sys_flag::COMPRESSED | sys_flag::COMPRESSION_TYPE_MASK),
            want,
            "{what} {idx}: sysFlag {flag:#x}"
        );
    }
}

fn bytes(version: &str) {
    let test = format!("bytes {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let java = match JavaClient::get(java_for(version)) {
        Ok(Ok(j)) => j,
        Ok(Err(why)) => {
            eprintln!("SKIPPED: {test}: {why}; set {REQUIRE_VAR}=1 to make this a failure");
            return;
        }
        Err(e) => panic!("{test}: {e}"),
    };
    let label = test.clone();
    run(&test, |rt| async move {
        let test = label;
        let ours = unique("BytesFromRust", version);
        let theirs = unique("BytesFromJava", version);
        create_topic(&rt, &c, &ours, 2).await;
        create_topic(&rt, &c, &theirs, 2).await;
        let ns = c.namesrv_addr().to_string();

        // Java produces while we send.
        let jp = java
            .run(
                "bytes producer",
                "bytes",
                &args(&[
                    ("-ns", &ns),
                    ("-topic", &theirs),
                    ("-group", &unique("bytes_java_pg", version)),
                    ("-count", &PER_KIND.to_string()),
                    ("-size", &BIG.to_string()),
                ]),
            )
            .expect("java bytes producer");
        let sent = send_ours(&c, &rt, &ours).await;

        // Java reads ours while we read Java's.
        let jc = java
            .run(
                "pull",
                "pull",
                &args(&[
                    ("-ns", &ns),
                    ("-topic", &ours),
                    ("-group", &unique("bytes_java_cg", version)),
                    ("-expect", &sent.len().to_string()),
                ]),
            )
            .expect("java pull consumer");
        let produced = jp.finish(RUN_TIMEOUT).await.expect("java bytes producer");
        produced.assert_success();
        let java_sent = produced.of("sent");
        assert_eq!(
            java_sent.len(),
            4 * PER_KIND,
            "Java's sends: {}",
            produced.describe()
        );
        let got = pull_all(&c, &rt, &theirs, java_sent.len(), READ_TIMEOUT).await;
        // Apache 5.3.3 appends the batch's own properties, UNIQ_KEY included, to every message
        // of the batch (store/.../MessageExtEncoder.encodeBatch, removed for apache/rocketmq
        // issue 9416), and the last UNIQ_KEY wins in Java's decoder as in ours: every message
        // of a Java 5.x batch is read with the batch's id. (4.9.8 batches carry no such id.)
        let ids = if version == V5_3 {
            BatchIds::Shared
        } else {
            BatchIds::Own
        };
        check_java_bytes_read(&format!("{test}: ours read Java"), ids, &java_sent, &got);

        let read = jc.finish(RUN_TIMEOUT).await.expect("java pull consumer");
        read.assert_success();
        let what = format!("{test}: Java read ours");
        java_read_ours(&what, java.version(), &sent, &read.of("recv"));
    });
}

per_version!(bytes, bytes_4_9_7, bytes_5_3_3, bytes_5_5_0);
