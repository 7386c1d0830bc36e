//! Scenario 3 of the Apache interop matrix: our pull and lite-pull consumers against real
//! Apache RocketMQ NameServer + Broker (4.9.7, 5.3.3, 5.5.0; see `interop/apache/`).
//!
//! Offsets our consumers commit are read back with Apache's own `mqadmin consumerProgress`.
//! One cluster per version is shared by this binary's tests; each has its own topic and group.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_it::apache::{ApacheCluster, V4, V5_3, V5_NEWEST};
use rocketmq_rs_client::{
    ConsumeFromWhere, LitePullConsumer, Message, MessageQueue, Producer, PullConsumer, PullStatus,
    SendStatus,
};
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{client_cfg, cluster, create_topic, run, unique};

const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(60);

async fn produce(c: &ApacheCluster, rt: &Arc<dyn Runtime>, topic: &str, n: usize) {
    let p = Producer::builder()
        .name_server(&c.namesrv_addr().to_string())
        .group(unique("pg_pull", c.version()))
        .send_timeout(SEND_TIMEOUT)
        .runtime(Arc::clone(rt))
        .route_refresh_interval(Duration::from_secs(1))
        .build()
        .expect("producer config");
    p.start().await.expect("producer start");
    // Round-robin over the queues by hand, so every queue holds n / queues messages.
    let queues = p.fetch_publish_queues(topic).await.expect("queues");
    for i in 0..n {
        let mut m = Message::new(topic, format!("pull body {i}"));
        m.set_keys([format!("k{i}")]);
        let r = p
            .send_to_queue(m, &queues[i % queues.len()])
            .await
            .expect("send");
        assert_eq!(r.status, SendStatus::SendOk, "{r:?}");
    }
    p.shutdown().await;
}

/// `mqadmin consumerProgress` finds a group's broker through the route of `%RETRY%<group>`,
/// which only push consumers create (Apache 4.9.7 and 5.x tools,
/// `ConsumerProgressSubCommand` / `examineConsumeStats`): create it for pull-only groups.
async fn make_progress_visible(c: &ApacheCluster, rt: &Arc<dyn Runtime>, group: &str) {
    create_topic(rt, c, &format!("%RETRY%{group}"), 1).await;
}

/// `mqadmin consumerProgress -g group`: Apache's consumer offset per queue id of `topic`.
fn apache_offsets(c: &ApacheCluster, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let out = c
        .mqadmin(&["consumerProgress", "-g", group])
        .unwrap_or_else(|e| panic!("mqadmin consumerProgress: {e}"));
    let header = out
        .lines()
        .find(|l| l.contains("#Consumer Offset"))
        .unwrap_or_else(|| panic!("no consumerProgress table:\n{out}"));
    // Column names contain spaces ("#Broker Name"): split the header on '#'; the values
    // before the consumer offset (topic, broker, queue id, broker offset) are single words.
    let names: Vec<&str> = header
        .split('#')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let col = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no {name} column in {names:?}"))
    };
    let (qid, off) = (col("QID"), col("Consumer Offset"));
    let mut map = BTreeMap::new();
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() == Some(&topic) && cols.len() > off {
            if let (Ok(q), Ok(o)) = (cols[qid].parse::<i32>(), cols[off].parse::<i64>()) {
                map.insert(q, o);
            }
        }
    }
    map
}

/// Waits until Apache reports `want` as the group's offsets (our commit is a oneway-style
/// update on some paths, so the broker may see it a moment later).
fn wait_apache_offsets(c: &ApacheCluster, group: &str, topic: &str, want: &BTreeMap<i32, i64>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = apache_offsets(c, group, topic);
        // 5.x also lists the queues the group never committed, with offset 0.
        if want.iter().all(|(q, o)| got.get(q) == Some(o)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Apache's offsets of {group} on {topic}: {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// PullConsumer: pull every queue from 0, store offsets, persist; Apache reports them, and a
/// second consumer of the group reads them back (fetch_consume_offset).
fn pull_consumer(version: &str) {
    let test = format!("pull_consumer {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("PullPlain", version);
    let group = unique("cg_pull", version);
    let want = run(&test, |rt| {
        let (c, topic, group) = (Arc::clone(&c), topic.clone(), group.clone());
        async move {
            create_topic(&rt, &c, &topic, 4).await;
            produce(&c, &rt, &topic, 20).await;
            let pc = PullConsumer::builder()
                .client_config(client_cfg(&c, &rt))
                .group(&group)
                .build()
                .expect("pull consumer config");
            pc.start().await.expect("start");
            let queues = pc.fetch_subscribe_queues(&topic).await.expect("queues");
            assert_eq!(queues.len(), 4);
            let mut keys = BTreeSet::new();
            let mut committed = BTreeMap::new();
            for q in &queues {
                assert_eq!(pc.min_offset(q).await.expect("min offset"), 0);
                assert_eq!(pc.max_offset(q).await.expect("max offset"), 5);
                // Read 3 of the 5 and commit there: Apache must report 3, not the max.
                let r = pc.pull(q, "*", 0, 3).await.expect("pull");
                assert_eq!(r.status, PullStatus::Found, "{q:?}");
                assert_eq!(r.messages.len(), 3);
                assert_eq!(r.next_begin_offset, 3);
                keys.extend(r.messages.iter().map(|m| m.keys().unwrap().to_string()));
                pc.update_consume_offset(q, r.next_begin_offset);
                committed.insert(q.queue_id, r.next_begin_offset);
                // Past the end: no new message.
                let r = pc.pull(q, "*", 5, 32).await.expect("pull at max");
                assert_ne!(r.status, PullStatus::Found, "{q:?} at max offset");
            }
            assert_eq!(keys.len(), 12);
            pc.persist_offsets().await.expect("persist");
            pc.shutdown().await;

            let pc2 = PullConsumer::builder()
                .client_config(client_cfg(&c, &rt))
                .group(&group)
                .build()
                .expect("pull consumer config");
            pc2.start().await.expect("start");
            for q in &queues {
                assert_eq!(
                    pc2.fetch_consume_offset(q).await.expect("fetch offset"),
                    Some(3),
                    "{q:?}"
                );
            }
            pc2.shutdown().await;
            make_progress_visible(&c, &rt, &group).await;
            committed
        }
    });
    wait_apache_offsets(&c, &group, &topic, &want);
}

/// LitePullConsumer, subscribe mode: polls every message, commits; Apache reports the end
/// offsets.
fn lite_subscribe(version: &str) {
    let test = format!("lite_subscribe {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("LiteSub", version);
    let group = unique("cg_lite_sub", version);
    run(&test, |rt| {
        let (c, topic, group) = (Arc::clone(&c), topic.clone(), group.clone());
        async move {
            create_topic(&rt, &c, &topic, 4).await;
            produce(&c, &rt, &topic, 20).await;
            let lc = LitePullConsumer::builder()
                .client_config(client_cfg(&c, &rt))
                .group(&group)
                .subscribe(&topic, "*")
                .auto_commit(false)
                .consume_from_where(ConsumeFromWhere::FirstOffset)
                .build()
                .expect("lite consumer config");
            lc.start().await.expect("start");
            let mut keys = BTreeSet::new();
            let deadline = Instant::now() + TIMEOUT;
            while keys.len() < 20 {
                assert!(Instant::now() < deadline, "polled only {keys:?}");
                for m in lc.poll(Duration::from_secs(1)).await.expect("poll") {
                    keys.insert(m.keys().unwrap().to_string());
                }
            }
            assert_eq!(keys.len(), 20);
            lc.commit_sync().await.expect("commit");
            lc.shutdown().await.expect("shutdown");
            make_progress_visible(&c, &rt, &group).await;
        }
    });
    let want: BTreeMap<i32, i64> = (0..4).map(|q| (q, 5)).collect();
    wait_apache_offsets(&c, &group, &topic, &want);
}

/// LitePullConsumer, assign mode: seek to an offset, to the beginning, to a timestamp;
/// committed offsets read back through `committed` and Apache.
fn lite_assign_seek(version: &str) {
    let test = format!("lite_assign_seek {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("LiteAssign", version);
    let group = unique("cg_lite_assign", version);
    run(&test, |rt| {
        let (c, topic, group) = (Arc::clone(&c), topic.clone(), group.clone());
        async move {
            create_topic(&rt, &c, &topic, 2).await;
            produce(&c, &rt, &topic, 10).await;
            let between = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis() as i64;
            tokio::time::sleep(Duration::from_millis(1200)).await;
            produce(&c, &rt, &topic, 4).await;
            let lc = LitePullConsumer::builder()
                .client_config(client_cfg(&c, &rt))
                .group(&group)
                .auto_commit(false)
                .build()
                .expect("lite consumer config");
            lc.start().await.expect("start");
            let mut queues: Vec<MessageQueue> =
                lc.fetch_message_queues(&topic).await.expect("queues");
            queues.sort_by_key(|q| q.queue_id);
            assert_eq!(queues.len(), 2);
            let q0 = queues[0].clone();
            lc.assign(vec![q0.clone()]).await.expect("assign");
            // Each queue holds 5 then 2 messages: offsets 0..7.
            lc.seek(&q0, 3).await.expect("seek");
            let got = poll_n(&lc, 4).await;
            let offs: Vec<i64> = got.iter().map(|x| x.1).collect();
            assert_eq!(offs, [3, 4, 5, 6], "after seek(3)");
            lc.seek_to_begin(&q0).await.expect("seek to begin");
            let got = poll_n(&lc, 7).await;
            assert_eq!(got.first().map(|x| x.1), Some(0), "after seek_to_begin");
            lc.seek_to_timestamp(&q0, between)
                .await
                .expect("seek to time");
            // Apache 4.9.7 answers SEARCH_OFFSET_BY_TIMESTAMP with the message whose store
            // time is *nearest* the timestamp, on either side (store/.../ConsumeQueue.java
            // getOffsetInQueueByTime, 4.9.7): here offset 4, stored milliseconds before
            // `between`, not 5, stored 1.2 s after. 5.x answers the first message stored at or
            // after it (BoundaryType.LOWER, the default).
            let want: &[i64] = if c.version().starts_with("4.") {
                &[4, 5, 6]
            } else {
                &[5, 6]
            };
            let got = poll_n(&lc, want.len()).await;
            assert_eq!(
                got.iter().map(|x| x.1).collect::<Vec<_>>(),
                want,
                "after seek_to_timestamp"
            );
            lc.commit_sync().await.expect("commit");
            assert_eq!(lc.committed(&q0).await.expect("committed"), Some(7));
            lc.shutdown().await.expect("shutdown");
            make_progress_visible(&c, &rt, &group).await;
        }
    });
    let want: BTreeMap<i32, i64> = [(0, 7)].into_iter().collect();
    wait_apache_offsets(&c, &group, &topic, &want);
}

/// Polls until `n` messages arrived; returns (queue id, offset) in arrival order.
async fn poll_n(lc: &LitePullConsumer, n: usize) -> Vec<(i32, i64)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while got.len() < n {
        assert!(Instant::now() < deadline, "polled only {got:?}, want {n}");
        for m in lc.poll(Duration::from_secs(1)).await.expect("poll") {
            got.push((m.queue_id, m.queue_offset));
        }
    }
    got
}

per_version!(
    pull_consumer,
    pull_consumer_4_9_7,
    pull_consumer_5_3_3,
    pull_consumer_5_5_0
);
per_version!(
    lite_subscribe,
    lite_subscribe_4_9_7,
    lite_subscribe_5_3_3,
    lite_subscribe_5_5_0
);
per_version!(
    lite_assign_seek,
    lite_assign_seek_4_9_7,
    lite_assign_seek_5_3_3,
    lite_assign_seek_5_5_0
);
