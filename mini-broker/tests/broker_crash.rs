//! Crash test with the real binary: a producer sends while the broker is killed with SIGKILL;
//! after a restart every message answered SEND_OK must still be there (sync flush), and
//! offsets committed before the kill are kept. The async-flush run reports losses.

mod broker_util;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_util::*;
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;

fn spawn_broker(store: &Path, flush: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini-broker"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--advertised-host",
            "127.0.0.1",
            "--flush",
            flush,
        ])
        .arg("--store")
        .arg(store)
        .args(["--log-level", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("broker binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("broker prints its address");
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("address on the first line")
        .to_string();
    assert!(addr.contains(':'), "unexpected first line {line:?}");
    (child, addr)
}

/// Topic `k` of a run over `topics` topics.
fn crash_topic(topics: usize, k: usize) -> String {
    if topics == 1 {
        "CrashT".into()
    } else {
        format!("CrashT{k}")
    }
}

/// Sends from 4 concurrent producers, round-robin over `topics` topics (queue 0 of each,
/// auto-created), until the broker dies; returns how many were acknowledged, recovered and
/// lost.
async fn crash_run(flush: &str, topics: usize) -> (usize, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_broker(dir.path(), flush);
    let c = client();
    // Commit a consumer offset before the kill (sync update: answered once on disk).
    let u = UpdateConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "CrashT".into(),
        queue_id: 0,
        commit_offset: 42,
        bname: None,
    };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET).with_header(&u),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0);

    let acked: Arc<Mutex<Vec<(String, i64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..4 {
        let (c, addr, acked, stop) = (
            c.clone(),
            addr.clone(),
            Arc::clone(&acked),
            Arc::clone(&stop),
        );
        producers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("p{p}-m{i}");
                let topic = crash_topic(topics, (i as usize * 4 + p) % topics);
                let mut h = send_header(&topic, 0, &Default::default());
                h.producer_group = "crash".into();
                let cmd = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2)
                    .with_header(
                        &rocketmq_rs_remoting::protocol::header::SendMessageRequestHeaderV2::from(
                            h,
                        ),
                    )
                    .with_body(body.clone().into_bytes());
                match c.invoke(&addr, cmd, Duration::from_secs(3)).await {
                    Ok(r) if r.code == ResponseCode::SUCCESS => {
                        acked
                            .lock()
                            .unwrap()
                            .push((topic, ext_i64(&r, "queueOffset"), body));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                i += 1;
            }
        }));
    }
    let t = Instant::now();
    while acked.lock().unwrap().len() < 400 {
        assert!(t.elapsed() < Duration::from_secs(30), "producers too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }
    c.close(&addr);
    let acked = acked.lock().unwrap().clone();

    let (mut child, addr) = spawn_broker(dir.path(), flush);
    let mut stored = std::collections::HashSet::new();
    for k in 0..topics {
        let topic = crash_topic(topics, k);
        let mut offset = 0;
        loop {
            let r = pull(&c, &addr, &pull_header("check", &topic, 0, offset)).await;
            if r.code != ResponseCode::SUCCESS {
                break;
            }
            for m in msgs(&r) {
                // Dense offsets: recovery neither skips nor repeats an entry.
                assert_eq!(m.queue_offset, offset, "{topic}: offsets must be dense");
                offset += 1;
                stored.insert((
                    topic.clone(),
                    m.queue_offset,
                    String::from_utf8(m.body.to_vec()).unwrap(),
                ));
            }
            assert_eq!(ext_i64(&r, "nextBeginOffset"), offset);
        }
    }
    let lost = acked.iter().filter(|a| !stored.contains(*a)).count();
    let q = QueryConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "CrashT".into(),
        queue_id: 0,
        set_zero_if_not_found: Some(false),
        bname: None,
    };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(&q),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.code, ext_i64(&r, "offset")),
        (0, 42),
        "committed offset lost"
    );
    c.shutdown();
    // SIGTERM: clean shutdown path of the binary.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "broker exit status {status}");
            break;
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("broker did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (acked.len(), stored.len(), lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_sync_flush_keeps_every_acknowledged_message() {
    let (acked, stored, lost) = crash_run("sync", 1).await;
    println!("sync flush: {acked} acknowledged, {stored} recovered, {lost} lost");
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_async_flush_reports_losses() {
    let (acked, stored, lost) = crash_run("async", 1).await;
    // A process kill leaves the page cache intact, so async flush is expected to lose
    // nothing here; only a machine crash would. Reported, not asserted.
    println!("async flush: {acked} acknowledged, {stored} recovered, {lost} lost");
}

/// Many queues, most never reaching the consume-queue flush's two pages before the kill: the
/// checkpoint stays behind them and the restart rebuilds what their files lack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_sync_flush_over_many_topics_keeps_every_acknowledged_message() {
    let (acked, stored, lost) = crash_run("sync", 64).await;
    println!("sync flush, 64 topics: {acked} acknowledged, {stored} recovered, {lost} lost");
    assert_eq!(lost, 0);
}
