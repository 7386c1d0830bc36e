//! Message trace against Apache brokers with `traceTopicEnable=true`, both ways with Apache's
//! own code: our producer and push consumer trace, Apache's Java client (trace on) produces and
//! consumes the same topic, then
//!
//! - every record of `RMQ_SYS_TRACE_TOPIC` decodes with our `decode_trace_data`, and the Java
//!   client's Pub / SubBefore / SubAfter records say what the Java run reported;
//! - Apache's `mqadmin queryMsgTraceById` (same version as the server) finds our message's trace
//!   by its id and prints our Pub and both groups' Sub lines.
//!
//! Java client 4.9.8 against the 4.9.7 server, 5.5.0 against the 5.x servers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_it::apache::{V4, V5_3, V5_NEWEST};
use rocketmq_it::javaclient::{JavaClient, REQUIRE_VAR};
use rocketmq_it::scenarios::args;
use rocketmq_rs_client::producer::ProducerConfig;
use rocketmq_rs_client::trace::{
    decode_trace_data, TraceConfig, TraceContext, TraceType, RMQ_SYS_TRACE_TOPIC,
};
use rocketmq_rs_client::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer, PushConsumer,
};

use crate::common::{
    client_cfg, cluster_with, create_topic, default_options, pull_all, run, unique, wait_route,
};

const RUN_TIMEOUT: Duration = Duration::from_secs(90);
const OURS: usize = 3;
const JAVAS: usize = 2;

fn java_for(server: &str) -> &'static str {
    if server == V4 {
        "4.9.8"
    } else {
        "5.5.0"
    }
}

fn trace(version: &str) {
    let test = format!("trace {version}");
    let mut opts = default_options();
    opts.broker_props
        .push(("traceTopicEnable".into(), "true".into()));
    let Some(c) = cluster_with(&test, version, &opts) else {
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
    let c2 = Arc::clone(&c);
    let (our_ids, our_pg, our_cg, java_cg) = run(&test, |rt| async move {
        let (test, c) = (label, c2);
        let topic = unique("Traced", version);
        create_topic(&rt, &c, &topic, 2).await;
        wait_route(&rt, &c, RMQ_SYS_TRACE_TOPIC).await;
        let ns = c.namesrv_addr().to_string();
        let our_pg = unique("trace_rust_pg", version);
        let our_cg = unique("trace_rust_cg", version);
        let java_pg = unique("trace_java_pg", version);
        let java_cg = unique("trace_java_cg", version);
        let mut tc = TraceConfig::default();
        tc.flush_interval = Duration::from_millis(50);

        // Java consumes everything with trace on, while we send and Java sends.
        let jc = java
            .run(
                "java push",
                "push",
                &args(&[
                    ("-ns", &ns),
                    ("-topic", &topic),
                    ("-group", &java_cg),
                    ("-expect", &(OURS + JAVAS).to_string()),
                    ("-trace", "true"),
                ]),
            )
            .expect("java push consumer");
        let jp = java
            .run(
                "java producer",
                "produce",
                &args(&[
                    ("-ns", &ns),
                    ("-topic", &topic),
                    ("-group", &java_pg),
                    ("-count", &JAVAS.to_string()),
                    ("-tag", "JavaTag"),
                    ("-label", "jtrace"),
                    ("-trace", "true"),
                ]),
            )
            .expect("java producer");

        let mut pc = ProducerConfig::default();
        pc.client = client_cfg(&c, &rt);
        pc.group = our_pg.clone();
        let producer = Producer::builder()
            .config(pc)
            .enable_trace(tc.clone())
            .build()
            .unwrap();
        producer.start().await.unwrap();
        let mut our_ids = Vec::new();
        for i in 0..OURS {
            let msg = Message::builder(topic.as_str())
                .tag("RustTag")
                .keys([format!("rtrace-{i}")])
                .body(format!("traced {i}"))
                .build()
                .unwrap();
            our_ids.push(producer.send(msg).await.unwrap().msg_id);
        }
        let consumed = Arc::new(AtomicUsize::new(0));
        let counter = consumed.clone();
        let consumer = PushConsumer::builder()
            .client_config(client_cfg(&c, &rt))
            .group(our_cg.as_str())
            .subscribe(topic.as_str(), "*")
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .enable_trace(tc.clone())
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let c = counter.clone();
                async move {
                    c.fetch_add(msgs.len(), Ordering::Relaxed);
                    ConsumeResult::Success
                }
            })
            .build()
            .unwrap();
        consumer.start().await.unwrap();

        let produced = jp.finish(RUN_TIMEOUT).await.expect("java producer");
        produced.assert_success();
        let java_sent = produced.of("sent");
        assert_eq!(java_sent.len(), JAVAS, "{}", produced.describe());
        let t = Instant::now();
        while consumed.load(Ordering::Relaxed) < OURS + JAVAS {
            assert!(
                t.elapsed() < RUN_TIMEOUT,
                "{test}: our consumer got {consumed:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let java_read = jc.finish(RUN_TIMEOUT).await.expect("java push consumer");
        java_read.assert_success();
        consumer.shutdown().await.unwrap();
        producer.shutdown().await;
        assert_eq!(producer.trace_stats().unwrap().dropped, 0);

        // The trace topic, decoded with ours: until every record we expect is there.
        let deadline = Instant::now() + RUN_TIMEOUT;
        let records: Vec<TraceContext> = loop {
            let msgs = pull_all(&c, &rt, RMQ_SYS_TRACE_TOPIC, 1, Duration::from_secs(10)).await;
            let mut all = Vec::new();
            for m in &msgs {
                let body = std::str::from_utf8(&m.body).expect("trace bodies are UTF-8");
                all.extend(decode_trace_data(body).unwrap_or_else(|e| {
                    panic!("{test}: a trace message does not decode: {e}\n{body:?}")
                }));
            }
            let has = |kind: TraceType, group: &str, id: &str| {
                all.iter()
                    .any(|r| r.trace_type == kind && r.group_name == group && r.bean.msg_id == id)
            };
            let java_ids: Vec<String> = java_sent
                .iter()
                .map(|e| e.msg_id.clone().unwrap_or_default())
                .collect();
            let everything = java_ids.iter().all(|id| {
                has(TraceType::Pub, &java_pg, id)
                    && has(TraceType::SubAfter, &java_cg, id)
                    && has(TraceType::SubAfter, &our_cg, id)
            }) && our_ids.iter().all(|id| {
                has(TraceType::Pub, &our_pg, id)
                    && has(TraceType::SubAfter, &java_cg, id)
                    && has(TraceType::SubAfter, &our_cg, id)
            });
            if everything {
                break all;
            }
            assert!(
                Instant::now() < deadline,
                "{test}: trace records missing; have {all:#?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };

        // The Java client's records, field by field against what its run reported.
        for e in &java_sent {
            let id = e.msg_id.as_deref().unwrap();
            let p = records
                .iter()
                .find(|r| r.trace_type == TraceType::Pub && r.bean.msg_id == id)
                .unwrap();
            assert_eq!(p.group_name, java_pg);
            assert_eq!(p.bean.topic, topic);
            assert_eq!(p.bean.tags.as_deref(), Some("JavaTag"));
            assert_eq!(p.bean.keys, e.keys);
            assert_eq!(Some(&p.bean.offset_msg_id), e.offset_msg_id.as_ref());
            assert_eq!(p.bean.store_host, c.broker_addr().to_string());
            assert!(p.success);
            assert!(!p.region_id.is_empty());
            let before: Vec<&TraceContext> = records
                .iter()
                .filter(|r| {
                    r.trace_type == TraceType::SubBefore
                        && r.group_name == java_cg
                        && r.bean.msg_id == id
                })
                .collect();
            assert!(!before.is_empty(), "{test}: Java's SubBefore of {id}");
            let after = records
                .iter()
                .find(|r| {
                    r.trace_type == TraceType::SubAfter
                        && r.group_name == java_cg
                        && r.bean.msg_id == id
                })
                .unwrap();
            assert!(before.iter().any(|b| b.request_id == after.request_id));
            assert!(after.success);
        }
        (our_ids, our_pg, our_cg, java_cg)
    });

    // Apache's reader finds our message's trace by its id.
    let out = c
        .mqadmin(&["queryMsgTraceById", "-i", &our_ids[0]])
        .expect("mqadmin queryMsgTraceById");
    eprintln!(
        "{test}: mqadmin queryMsgTraceById -i {}:\n{out}",
        our_ids[0]
    );
    let pub_line = out
        .lines()
        .find(|l| l.starts_with("Pub "))
        .unwrap_or_else(|| panic!("{test}: no Pub line in\n{out}"));
    assert!(pub_line.contains(&our_pg), "{test}: {pub_line}");
    assert!(pub_line.contains("success"), "{test}: {pub_line}");
    for group in [&our_cg, &java_cg] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("Sub ") && l.contains(group.as_str())),
            "{test}: no Sub line of {group} in\n{out}"
        );
    }
}

per_version!(trace, trace_4_9_7, trace_5_3_3, trace_5_5_0);
