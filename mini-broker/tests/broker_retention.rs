//! Retention through the broker: min offsets reported by GET_MIN_OFFSET and topicStatus, a
//! consumer behind the minimum sent to the oldest message as Apache does (PULL_OFFSET_MOVED /
//! OFFSET_TOO_SMALL), sends refused on a full disk with Apache's remark, the live config keys,
//! DELETE_EXPIRED_COMMITLOG, and (feature `fault-injection`, real binary) ENOSPC and a crash in
//! the middle of a deletion.

mod broker_util;

use std::time::{Duration, Instant};

use broker_util::*;
use bytes::Bytes;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::body::{JsonBody, TopicStatsTable};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    GetMinOffsetRequestHeader, GetTopicStatsInfoRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;

static BODY: [u8; 1000] = [b'r'; 1000];

fn small_broker(dir: &std::path::Path) -> BrokerConfig {
    let mut cfg = BrokerConfig::for_test(dir);
    cfg.commit_log_segment_size = 64 * 1024;
    cfg.max_message_size = 8 * 1024;
    cfg.clean_resource_interval = 100;
    cfg.delete_commit_log_files_interval = 0;
    cfg.delete_consume_queue_files_interval = 0;
    cfg
}

async fn call(c: &RemotingClient, addr: &str, cmd: RemotingCommand) -> RemotingCommand {
    c.invoke(addr, cmd, T).await.expect("answered")
}

async fn min_offset(c: &RemotingClient, addr: &str, topic: &str, q: i32) -> i64 {
    let r = call(
        c,
        addr,
        RemotingCommand::request(RequestCode::GET_MIN_OFFSET).with_header(
            &GetMinOffsetRequestHeader {
                topic: topic.into(),
                queue_id: q,
                bname: None,
            },
        ),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    ext_i64(&r, "offset")
}

/// Sends `n` 1 KB messages to queue 0; returns (queue offset, commit-log offset) of each.
async fn produce(c: &RemotingClient, addr: &str, topic: &str, n: usize) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = send(c, addr, topic, 0, &BODY, &[], true).await;
        assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
        let id = r.ext_fields.get("msgId").unwrap();
        let phys = i64::from_str_radix(&id[id.len() - 16..], 16).unwrap();
        out.push((ext_i64(&r, "queueOffset"), phys));
    }
    out
}

/// Pulls queue 0 from `from` to the end; returns the queue offsets received.
async fn drain(c: &RemotingClient, addr: &str, topic: &str, from: i64) -> Vec<i64> {
    let mut got = Vec::new();
    let mut off = from;
    loop {
        let r = pull(c, addr, &pull_header("rg", topic, 0, off)).await;
        if r.code != ResponseCode::SUCCESS {
            assert_eq!(r.code, ResponseCode::PULL_NOT_FOUND, "{:?}", r.remark);
            return got;
        }
        got.extend(msgs(&r).iter().map(|m| m.queue_offset));
        off = ext_i64(&r, "nextBeginOffset");
    }
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_behind_the_minimum_continues_from_the_oldest_retained_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_broker(dir.path());
    // Everything is expired at once and every hour is a deletion hour.
    cfg.file_reserved_time = 0.0;
    cfg.delete_when = (0..24).map(|h| h.to_string()).collect::<Vec<_>>().join(";");
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();
    let sent = produce(&c, &addr, "RetB", 300).await;
    wait_for("retention moves the minimum", async || {
        min_offset(&c, &addr, "RetB", 0).await > 0
    })
    .await;
    // Stop the deletions so the minimum holds still for the checks.
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG)
            .with_body(Bytes::from("fileReservedTime=72\n")),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log_min = b.store().commit_log_min_offset();
    let min = min_offset(&c, &addr, "RetB", 0).await;
    let want_min = sent.iter().find(|(_, p)| *p >= log_min).unwrap().0;
    assert_eq!(min, want_min, "first message whose record still exists");

    // topicStatus reports the same minimum.
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO).with_header(
            &GetTopicStatsInfoRequestHeader {
                topic: "RetB".into(),
            },
        ),
    )
    .await;
    let table = TopicStatsTable::from_json(&r.body).unwrap();
    let (_, q0) = table
        .offset_table
        .iter()
        .find(|(mq, _)| mq.queue_id == 0)
        .unwrap();
    assert_eq!((q0.min_offset, q0.max_offset), (min, 300));

    // Apache's answer to an offset below the minimum: PULL_OFFSET_MOVED, remark
    // OFFSET_TOO_SMALL, nextBeginOffset = the minimum.
    let r = pull(&c, &addr, &pull_header("rg", "RetB", 0, 0)).await;
    assert_eq!(r.code, ResponseCode::PULL_OFFSET_MOVED);
    assert_eq!(r.remark.as_deref(), Some("OFFSET_TOO_SMALL"));
    assert_eq!(ext_i64(&r, "nextBeginOffset"), min);
    assert_eq!(ext_i64(&r, "minOffset"), min);
    // From there the consumer gets every message that still exists, in order.
    let got = drain(&c, &addr, "RetB", ext_i64(&r, "nextBeginOffset")).await;
    assert_eq!(got, (min..300).collect::<Vec<_>>());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_with_apaches_remark_until_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_broker(dir.path());
    cfg.clean_file_forcibly_enable = false;
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "FullB", 50).await;
    // A cap just above what the store holds: past the warning level.
    let used = b.store().store_bytes();
    let cap = (used * 100 / 95).max(64 * 1024);
    let update = |body: String| {
        RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG).with_body(Bytes::from(body))
    };
    let r = call(&c, &addr, update(format!("maxStoreBytes={cap}\n"))).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    wait_for("disk-full mark", async || b.store().is_disk_full()).await;
    let r = send(&c, &addr, "FullB", 0, &BODY, &[], true).await;
    assert_eq!(r.code, ResponseCode::SERVICE_NOT_AVAILABLE);
    let remark = r.remark.unwrap();
    assert!(
        remark.starts_with(
            "service not available now. It may be caused by one of the following reasons: \
             the broker's disk is full [CL: "
        ) && remark
            .ends_with("], messages are put to the slave, message store has been shut down, etc."),
        "{remark}"
    );
    // GET_BROKER_CONFIG shows the live value.
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::GET_BROKER_CONFIG),
    )
    .await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.contains(&format!("maxStoreBytes={cap}\n")), "{text}");
    assert!(text.contains("fileReservedTime=72\n"), "{text}");
    // Bad values are refused.
    let r = call(&c, &addr, update("deleteWhen=25\n".into())).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);
    let r = call(&c, &addr, update("diskMaxUsedSpaceRatio=x\n".into())).await;
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);

    // Space freed: sends are taken again and queue offsets continue without a gap.
    let r = call(&c, &addr, update("maxStoreBytes=\n".into())).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    let r = call(&c, &addr, update(format!("maxStoreBytes={}\n", 1u64 << 40))).await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    wait_for("disk-full mark cleared", async || !b.store().is_disk_full()).await;
    let r = send(&c, &addr, "FullB", 0, &BODY, &[], true).await;
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    assert_eq!(ext_i64(&r, "queueOffset"), 50);
    assert_eq!(
        drain(&c, &addr, "FullB", 0).await,
        (0..51).collect::<Vec<_>>()
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_expired_commitlog_deletes_outside_the_delete_when_hours() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_broker(dir.path());
    cfg.file_reserved_time = 0.0;
    // Some hour that is not now.
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24;
    cfg.delete_when = ((hour + 12) % 24).to_string();
    cfg.max_store_bytes = Some(1 << 40);
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();
    produce(&c, &addr, "ManB", 200).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.store().commit_log_min_offset(), 0, "nothing due yet");
    let r = call(
        &c,
        &addr,
        RemotingCommand::request(RequestCode::DELETE_EXPIRED_COMMITLOG),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SUCCESS);
    wait_for("manual deletion", async || {
        min_offset(&c, &addr, "ManB", 0).await > 0
    })
    .await;
    assert!(b.store().commit_log_min_offset() > 0);
    b.shutdown().await;
}

/// The real binary with a fault file (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
mod with_faults {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    fn spawn_broker(store: &Path, fault: &Path, config: &str) -> (Child, String) {
        let cfg_path = store.with_extension("json");
        std::fs::write(&cfg_path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mini-broker"))
            .args(["--listen", "127.0.0.1:0", "--advertised-host", "127.0.0.1"])
            .args(["--flush", "sync"])
            .arg("--store")
            .arg(store)
            .arg("-c")
            .arg(&cfg_path)
            .args(["--log-level", "warn"])
            .env("MINI_BROKER_FAULT_FILE", fault)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("broker binary starts");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).expect("broker prints its address");
        // Keep reading its log so the broker's writes never hit a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let addr = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(addr.contains(':'), "unexpected first line {line:?}");
        (child, addr)
    }

    fn stop(mut child: Child) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let t = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("broker did not stop");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    const CONFIG: &str = r#"{
        "commitLogSegmentSize": 65536,
        "maxMessageSize": 8192,
        "fileReservedTime": 0,
        "deleteWhen": "",
        "cleanResourceInterval": 100,
        "deleteCommitLogFilesInterval": 0,
        "maxStoreBytes": 1099511627776
    }"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_between_segment_and_queue_deletion_recovers_the_right_minimum() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let fault = dir.path().join("fault");
        let (mut child, addr) = spawn_broker(&store, &fault, CONFIG);
        let c = client();
        let sent = produce(&c, &addr, "CrashRet", 300).await;
        let segs_before = std::fs::read_dir(store.join("commitlog")).unwrap().count();
        std::fs::write(&fault, "crash-after-segment-delete").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = call(
            &c,
            &addr,
            RemotingCommand::request(RequestCode::DELETE_EXPIRED_COMMITLOG),
        )
        .await;
        assert_eq!(r.code, ResponseCode::SUCCESS);
        // The broker aborts right after its first segment deletion.
        let t = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "broker did not abort"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success());
        let segs_after = std::fs::read_dir(store.join("commitlog")).unwrap().count();
        assert_eq!(segs_after, segs_before - 1, "exactly one segment deleted");
        assert!(
            store.join("abort").exists(),
            "the store was not shut down cleanly"
        );

        // Restart without faults and with nothing more to delete.
        std::fs::remove_file(&fault).unwrap();
        let config = CONFIG.replace(r#""fileReservedTime": 0"#, r#""fileReservedTime": 72"#);
        let (child, addr) = spawn_broker(&store, &fault, &config);
        let log_min = 64 * 1024;
        let want_min = sent.iter().find(|(_, p)| *p >= log_min).unwrap().0;
        assert!(want_min > 0);
        assert_eq!(min_offset(&c, &addr, "CrashRet", 0).await, want_min);
        let r = pull(&c, &addr, &pull_header("rg", "CrashRet", 0, 0)).await;
        assert_eq!(r.code, ResponseCode::PULL_OFFSET_MOVED);
        assert_eq!(ext_i64(&r, "nextBeginOffset"), want_min);
        assert_eq!(
            drain(&c, &addr, "CrashRet", want_min).await,
            (want_min..300).collect::<Vec<_>>(),
            "every message whose record still exists"
        );
        // Still writable, offsets continue.
        let p = produce(&c, &addr, "CrashRet", 1).await;
        assert_eq!(p[0].0, 300);
        stop(child);
    }

    /// ENOSPC on the consume queue (the commit-log write went through): the send that hit it
    /// is stored and answered SEND_OK, becomes pullable once there is space again, and later
    /// sends wait (refused) instead of leaving a gap; after a kill -9 while waiting, recovery
    /// dispatches it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enospc_on_the_consume_queue_loses_nothing_at_run_time_or_after_a_kill() {
        for kill in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            let fault = dir.path().join("fault");
            let config = CONFIG.replace(r#""fileReservedTime": 0"#, r#""fileReservedTime": 72"#);
            let (mut child, addr) = spawn_broker(&store, &fault, &config);
            let c = client();
            produce(&c, &addr, "CqFull", 50).await;
            std::fs::write(&fault, "enospc-dispatch").unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r = send(&c, &addr, "CqFull", 0, &BODY, &[], true).await;
            assert_eq!(r.code, ResponseCode::SUCCESS, "stored in the commit log");
            assert_eq!(ext_i64(&r, "queueOffset"), 50);
            for _ in 0..5 {
                let r = send(&c, &addr, "CqFull", 0, &BODY, &[], true).await;
                assert_eq!(r.code, ResponseCode::SERVICE_NOT_AVAILABLE, "kill={kill}");
            }
            assert_eq!(drain(&c, &addr, "CqFull", 0).await.len(), 50);
            if kill {
                // Let a checkpoint (every second) be written first: it must not claim the
                // record whose consume-queue entry is missing.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                child.kill().unwrap();
                let _ = child.wait();
                std::fs::remove_file(&fault).unwrap();
                let (c2, a2) = spawn_broker(&store, &fault, &config);
                child = c2;
                assert_eq!(
                    drain(&c, &a2, "CqFull", 0).await,
                    (0..51).collect::<Vec<_>>(),
                    "recovery dispatched the stored message"
                );
                let p = produce(&c, &a2, "CqFull", 1).await;
                assert_eq!(p[0].0, 51);
            } else {
                std::fs::remove_file(&fault).unwrap();
                let t = Instant::now();
                loop {
                    let r = send(&c, &addr, "CqFull", 0, &BODY, &[], true).await;
                    if r.code == ResponseCode::SUCCESS {
                        assert_eq!(ext_i64(&r, "queueOffset"), 51, "no gap");
                        break;
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(20),
                        "writes did not resume"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                assert_eq!(
                    drain(&c, &addr, "CqFull", 0).await,
                    (0..52).collect::<Vec<_>>()
                );
            }
            stop(child);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enospc_refuses_sends_without_damage_and_writes_resume_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let fault = dir.path().join("fault");
        let config = CONFIG.replace(r#""fileReservedTime": 0"#, r#""fileReservedTime": 72"#);
        let (child, addr) = spawn_broker(&store, &fault, &config);
        let c = client();
        produce(&c, &addr, "NoSpace", 100).await;
        std::fs::write(&fault, "enospc").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..20 {
            let r = send(&c, &addr, "NoSpace", 0, &BODY, &[], true).await;
            assert_eq!(r.code, ResponseCode::SERVICE_NOT_AVAILABLE);
            assert!(
                r.remark
                    .as_deref()
                    .unwrap()
                    .contains("the broker's disk is full"),
                "{:?}",
                r.remark
            );
        }
        std::fs::remove_file(&fault).unwrap();
        // The fault file is re-read every 20 ms and a pass clears the disk-full mark.
        let mut first = None;
        let t = Instant::now();
        while first.is_none() {
            let r = send(&c, &addr, "NoSpace", 0, &BODY, &[], true).await;
            if r.code == ResponseCode::SUCCESS {
                first = Some(ext_i64(&r, "queueOffset"));
            } else {
                assert_eq!(r.code, ResponseCode::SERVICE_NOT_AVAILABLE);
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "writes did not resume"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert_eq!(first, Some(100), "refused sends took no queue offset");
        produce(&c, &addr, "NoSpace", 10).await;
        stop(child);
        // After a restart every acknowledged message, and nothing else, is there.
        let (child, addr) = spawn_broker(&store, &fault, &config);
        assert_eq!(
            drain(&c, &addr, "NoSpace", 0).await,
            (0..111).collect::<Vec<_>>()
        );
        stop(child);
    }
}

/// Soak: produce ~1 MB/s for `SOAK_SECS` (default 300) and print the store's disk use every 10
/// s. The first 60 % of the run uses time-based retention (`fileReservedTime` 0.005 h = 18 s,
/// every hour a deletion hour); then it switches live (UPDATE_BROKER_CONFIG) to a 64 MiB
/// `maxStoreBytes` cap with 72 h reservation, so only the ratios delete. Run with
/// `cargo test -p rocketmq-rs-mini-broker --test broker_retention -- --ignored soak --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak measurement, minutes long"]
async fn soak_disk_use_stays_bounded_with_retention_on() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.commit_log_segment_size = 4 << 20;
    cfg.max_message_size = 1 << 20;
    cfg.file_reserved_time = 0.005;
    cfg.delete_when = (0..24).map(|h| h.to_string()).collect::<Vec<_>>().join(";");
    cfg.clean_resource_interval = 1000;
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut producers = Vec::new();
    for p in 0..4u64 {
        let (c, addr, stop, sent, refused) = (
            c.clone(),
            addr.clone(),
            stop.clone(),
            sent.clone(),
            refused.clone(),
        );
        producers.push(tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            // 250 messages of 1 KB per second each: ~1 MB/s in all.
            let mut tick = tokio::time::interval(Duration::from_millis(4));
            let mut i = 0u64;
            while !stop.load(Relaxed) {
                tick.tick().await;
                let uniq = format!("SOAK{p}-{i}");
                i += 1;
                let r = send(
                    &c,
                    &addr,
                    "SoakT",
                    (i % 4) as i32,
                    &BODY,
                    &[("UNIQ_KEY", &uniq)],
                    true,
                )
                .await;
                if r.code == ResponseCode::SUCCESS {
                    sent.fetch_add(1, Relaxed);
                } else {
                    refused.fetch_add(1, Relaxed);
                }
            }
        }));
    }
    let t0 = Instant::now();
    let mut switched = false;
    println!("t_s\tsent_MB\tstore_MB\tcommitlog_segments\tq0_min\tq0_max\trefused\tmode");
    while t0.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        if !switched && t0.elapsed() >= Duration::from_secs(secs * 6 / 10) {
            let r = call(
                &c,
                &addr,
                RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG).with_body(Bytes::from(
                    format!("fileReservedTime=72\nmaxStoreBytes={}\n", 64u64 << 20),
                )),
            )
            .await;
            assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
            switched = true;
        }
        let s = b.store();
        let n = sent.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "{}\t{:.1}\t{:.1}\t{}\t{}\t{}\t{}\t{}",
            t0.elapsed().as_secs(),
            n as f64 * 1100.0 / 1e6,
            s.store_bytes() as f64 / 1e6,
            std::fs::read_dir(dir.path().join("commitlog"))
                .unwrap()
                .count(),
            s.min_offset("SoakT", 0),
            s.max_offset("SoakT", 0),
            refused.load(std::sync::atomic::Ordering::Relaxed),
            if switched { "cap64MiB" } else { "reserved18s" },
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }
    // Whatever retention kept is readable from the reported minimum on.
    let min = min_offset(&c, &addr, "SoakT", 0).await;
    let got = drain_queue(&c, &addr, "SoakT", 0, min).await;
    assert_eq!(got.first().copied(), Some(min));
    assert_eq!(got.len() as i64, b.store().max_offset("SoakT", 0) - min);
    b.shutdown().await;
}

async fn drain_queue(c: &RemotingClient, addr: &str, topic: &str, q: i32, from: i64) -> Vec<i64> {
    let mut got = Vec::new();
    let mut off = from;
    loop {
        let r = pull(c, addr, &pull_header("rg", topic, q, off)).await;
        if r.code != ResponseCode::SUCCESS {
            return got;
        }
        got.extend(msgs(&r).iter().map(|m| m.queue_offset));
        off = ext_i64(&r, "nextBeginOffset");
    }
}

/// A real full file system: `RETENTION_FS_DIR` names a directory on a small dedicated file
/// system (at most 1 GiB, e.g. `mount -t tmpfs -o size=48m tmpfs /mnt/small`). Sends go on
/// until the broker refuses them; every acknowledged message must still be readable, forced
/// cleaning (switched on live) must make room so sends are taken again, and a restart must find
/// the store intact. Twice: with a retention pass every 200 ms (the 90 % mark refuses first)
/// and every 30 s (the writes hit ENOSPC first). Run with
/// `RETENTION_FS_DIR=/mnt/small cargo test -p rocketmq-rs-mini-broker --test broker_retention -- --ignored full_file_system --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RETENTION_FS_DIR on a small dedicated file system"]
async fn a_full_file_system_refuses_sends_keeps_the_store_and_recovers() {
    let root = std::path::PathBuf::from(
        std::env::var("RETENTION_FS_DIR").expect("RETENTION_FS_DIR: a small dedicated file system"),
    );
    let fs = rustix::fs::statvfs(&root).expect("statvfs");
    assert!(
        fs.f_blocks * fs.f_frsize <= 1 << 30,
        "RETENTION_FS_DIR must be on a file system of at most 1 GiB: this test fills it"
    );
    for interval in [200, 30_000] {
        let dir = tempfile::tempdir_in(&root).unwrap();
        let mut cfg = small_broker(dir.path());
        cfg.commit_log_segment_size = 4 << 20;
        cfg.max_message_size = 1 << 20;
        cfg.max_store_bytes = None;
        cfg.clean_file_forcibly_enable = false;
        cfg.clean_resource_interval = interval;
        let b = start(cfg.clone()).await;
        let addr = b.addr().to_string();
        let c = client();
        let used = || {
            let s = rustix::fs::statvfs(&root).unwrap();
            1.0 - s.f_bavail as f64 / s.f_blocks as f64
        };
        let mut acked = 0i64;
        let remark = loop {
            let r = send(&c, &addr, "FsFull", 0, &BODY, &[], true).await;
            if r.code != ResponseCode::SUCCESS {
                assert_eq!(
                    r.code,
                    ResponseCode::SERVICE_NOT_AVAILABLE,
                    "{:?}",
                    r.remark
                );
                break r.remark.unwrap_or_default();
            }
            assert_eq!(ext_i64(&r, "queueOffset"), acked);
            acked += 1;
        };
        println!(
            "pass every {interval} ms: refused after {acked} sends at {:.1} % used: {remark}",
            used() * 100.0
        );
        assert!(remark.contains("the broker's disk is full"), "{remark}");
        assert_eq!(
            drain(&c, &addr, "FsFull", 0).await,
            (0..acked).collect::<Vec<_>>()
        );
        // Make room the way an operator would: allow forced cleaning.
        let r = call(
            &c,
            &addr,
            RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG)
                .with_body(Bytes::from("cleanFileForciblyEnable=true\n")),
        )
        .await;
        assert_eq!(r.code, ResponseCode::SUCCESS);
        let t = Instant::now();
        while send(&c, &addr, "FsFull", 0, &BODY, &[], true).await.code != ResponseCode::SUCCESS {
            assert!(
                t.elapsed() < Duration::from_millis(2 * interval + 20_000),
                "sends not taken again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let min = min_offset(&c, &addr, "FsFull", 0).await;
        let max = b.store().max_offset("FsFull", 0);
        println!(
            "after forced cleaning ({:.1} s): {:.1} % used, queue [{min}, {max})",
            t.elapsed().as_secs_f64(),
            used() * 100.0
        );
        assert!(min > 0 && max > acked);
        assert_eq!(
            drain(&c, &addr, "FsFull", min).await,
            (min..max).collect::<Vec<_>>()
        );
        b.shutdown().await;
        let b = start(cfg).await;
        let addr = b.addr().to_string();
        assert_eq!(
            drain(&c, &addr, "FsFull", min).await,
            (min..max).collect::<Vec<_>>()
        );
        b.shutdown().await;
    }
}
