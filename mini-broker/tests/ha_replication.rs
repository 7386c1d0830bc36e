//! Replication between two stores through the HA service on 127.0.0.1 (no broker): byte-exact
//! copies, restarts of either side, corrupted frames, SYNC_MASTER acknowledgements, async lag.

mod broker_util;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketmq_rs_mini_broker::ha::protocol::{read_frame, write_frame, Frame, FrameKind};
use rocketmq_rs_mini_broker::ha::{HaConfig, HaMaster, HaSlave, ReplicaAck};
use rocketmq_rs_mini_broker::store::{MessageStore, PutResult, StoreConfig};
use rocketmq_rs_remoting::protocol::message::{decode_messages, MessageExt};
use rocketmq_rs_remoting::rt::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEGMENT: u64 = 64 * 1024;

fn store_cfg(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    // Small segments: replication crosses many segment ends (blank fillers).
    c.commit_log_segment_size = SEGMENT;
    c.consume_queue_entries_per_file = 64;
    c.index_slots = 256;
    c.index_entries_per_file = 1000;
    c.max_message_size = 16 * 1024;
    c
}

fn open(dir: &Path) -> MessageStore {
    MessageStore::open(store_cfg(dir)).unwrap()
}

fn ha_cfg() -> HaConfig {
    {
        let mut c = HaConfig::default();
        c.broker_name = "broker-a".into();
        c.transfer_batch_bytes = 8 * 1024;
        c.heartbeat_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_secs(2);
        c.poll_interval = Duration::from_millis(5);
        c.reconnect_backoff_min = Duration::from_millis(20);
        c.reconnect_backoff_max = Duration::from_millis(200);
        c
    }
}

fn rt() -> Arc<dyn Runtime> {
    rocketmq_rs_remoting::rt::default_runtime().unwrap()
}

fn msg(i: usize) -> MessageExt {
    let body = format!("message-{i:06}-{}", "x".repeat(100 + (i * 37) % 700));
    let mut m = MessageExt::new("TopicHA", Bytes::from(body));
    m.queue_id = (i % 4) as i32;
    m.born_host = "10.0.0.1:5555".parse().unwrap();
    m.store_host = "127.0.0.1:10911".parse().unwrap();
    m.put_property("KEYS", format!("k{i}"));
    m
}

async fn put(store: &MessageStore, i: usize) -> PutResult {
    store.put_message(msg(i)).await.unwrap()
}

/// The commit log up to `max`, read from the segment files.
fn log_bytes(dir: &Path, max: i64) -> Vec<u8> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let start: i64 = f.file_name().unwrap().to_str().unwrap().parse().unwrap();
        if start >= max {
            continue;
        }
        let data = std::fs::read(&f).unwrap();
        let n = ((max - start) as usize).min(data.len());
        assert_eq!(out.len() as i64, start, "segments are contiguous");
        out.extend_from_slice(&data[..n]);
    }
    out
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_synced(master: &MessageStore, slave: &MessageStore) {
    let m = master.clone();
    let s = slave.clone();
    wait_until("slave to catch up", Duration::from_secs(20), move || {
        s.commit_log_max_offset() == m.commit_log_max_offset() && s.dispatch_behind_bytes() == 0
    })
    .await;
}

/// Every message of TopicHA on `store`, by queue, as bodies.
fn all_bodies(store: &MessageStore) -> Vec<String> {
    let mut out = Vec::new();
    for q in 0..4 {
        let mut off = 0;
        loop {
            let r = store
                .get_messages("TopicHA", q, off, 32, usize::MAX, None)
                .unwrap();
            if r.messages.is_empty() {
                break;
            }
            for b in &r.messages {
                for m in decode_messages(b.clone()).unwrap() {
                    out.push(String::from_utf8(m.body.to_vec()).unwrap());
                }
            }
            off = r.next_begin_offset;
        }
    }
    out.sort();
    out
}

fn assert_identical(md: &Path, m: &MessageStore, sd: &Path, s: &MessageStore) {
    let max = m.commit_log_max_offset();
    assert_eq!(s.commit_log_max_offset(), max);
    let (a, b) = (log_bytes(md, max), log_bytes(sd, max));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "commit logs differ");
    for q in 0..4 {
        assert_eq!(
            s.max_offset("TopicHA", q),
            m.max_offset("TopicHA", q),
            "queue {q}"
        );
    }
    assert_eq!(all_bodies(s), all_bodies(m));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_copy_is_byte_identical() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ms, ss) = (open(md.path()), open(sd.path()));
    // Some data before the slave exists, some after.
    for i in 0..150 {
        put(&ms, i).await;
    }
    let master = HaMaster::start(ms.clone(), "127.0.0.1:0".parse().unwrap(), ha_cfg(), rt())
        .await
        .unwrap();
    let slave = HaSlave::start(ss.clone(), Some(master.local_addr()), ha_cfg(), rt());
    for i in 150..400 {
        put(&ms, i).await;
    }
    assert!(
        ms.commit_log_max_offset() > 3 * SEGMENT as i64,
        "crosses segments"
    );
    wait_synced(&ms, &ss).await;
    assert_identical(md.path(), &ms, sd.path(), &ss);
    assert_eq!(all_bodies(&ss).len(), 400);
    // The slave's index works too.
    assert_eq!(
        ss.query_by_key("TopicHA", "k321", 4, 0, i64::MAX)
            .unwrap()
            .len(),
        1
    );
    let st = slave.stats();
    assert!(st.connected && st.sessions == 1 && st.errors == 0, "{st:?}");
    assert_eq!(master.connected_slaves(), 1);
    wait_until("ack", Duration::from_secs(5), || {
        master.acked_offset() == ms.commit_log_max_offset()
    })
    .await;
    slave.shutdown().await;
    master.shutdown().await;
    ms.shutdown();
    ss.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_restarts_mid_stream_without_gap_or_duplicate() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ms = open(md.path());
    let master = HaMaster::start(ms.clone(), "127.0.0.1:0".parse().unwrap(), ha_cfg(), rt())
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ms, done) = (ms.clone(), done.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::Acquire) || i < 600 {
                put(&ms, i).await;
                i += 1;
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            i
        })
    };
    for round in 0..3 {
        let ss = open(sd.path());
        let slave = HaSlave::start(ss.clone(), Some(master.local_addr()), ha_cfg(), rt());
        let before = ss.commit_log_max_offset();
        wait_until("progress", Duration::from_secs(10), || {
            ss.commit_log_max_offset() > before + 4096
        })
        .await;
        slave.shutdown().await;
        // Alternate a clean stop and a crash of the slave's store.
        if round % 2 == 0 {
            ss.simulate_crash();
        } else {
            ss.shutdown();
        }
    }
    done.store(true, Ordering::Release);
    let n = writer.await.unwrap();
    let ss = open(sd.path());
    let slave = HaSlave::start(ss.clone(), Some(master.local_addr()), ha_cfg(), rt());
    wait_synced(&ms, &ss).await;
    assert_identical(md.path(), &ms, sd.path(), &ss);
    assert_eq!(all_bodies(&ss).len(), n);
    slave.shutdown().await;
    master.shutdown().await;
    ms.shutdown();
    ss.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_restarts_mid_stream_without_gap_or_duplicate() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ss = open(sd.path());
    let mut cfg = ha_cfg();
    // A small window so the slave is still behind when the master goes down.
    cfg.transfer_batch_bytes = 1024;
    let mut addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut slave: Option<HaSlave> = None;
    let mut i = 0;
    for round in 0..3 {
        let ms = open(md.path());
        let master = match HaMaster::start(ms.clone(), addr, cfg.clone(), rt()).await {
            Ok(m) => m,
            // The old port may be taken meanwhile: follow the master to its new port.
            Err(_) => HaMaster::start(
                ms.clone(),
                "127.0.0.1:0".parse().unwrap(),
                cfg.clone(),
                rt(),
            )
            .await
            .unwrap(),
        };
        addr = master.local_addr();
        match &slave {
            None => slave = Some(HaSlave::start(ss.clone(), Some(addr), cfg.clone(), rt())),
            Some(s) => s.set_master_addr(Some(addr)),
        }
        for _ in 0..250 {
            put(&ms, i).await;
            i += 1;
        }
        master.shutdown().await;
        // The slave may lag: it resumes from its own end with the next master.
        if round % 2 == 0 {
            ms.simulate_crash();
        } else {
            ms.shutdown();
        }
    }
    let ms = open(md.path());
    let master = HaMaster::start(
        ms.clone(),
        "127.0.0.1:0".parse().unwrap(),
        cfg.clone(),
        rt(),
    )
    .await
    .unwrap();
    let slave = slave.unwrap();
    slave.set_master_addr(Some(master.local_addr()));
    wait_synced(&ms, &ss).await;
    assert_identical(md.path(), &ms, sd.path(), &ss);
    assert_eq!(all_bodies(&ss).len(), i);
    assert!(slave.stats().sessions >= 2, "{:?}", slave.stats());
    slave.shutdown().await;
    master.shutdown().await;
    ms.shutdown();
    ss.shutdown();
}

/// A proxy between slave and master that flips one byte of the master's first frame on the
/// first connection only.
async fn corrupting_proxy(master: SocketAddr) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((client, _)) = l.accept().await {
            let upstream = tokio::net::TcpStream::connect(master).await.unwrap();
            let corrupt = std::mem::replace(&mut first, false);
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut uw).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = 0usize;
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    // Byte 40 is inside the first data frame's payload.
                    if corrupt && seen <= 40 && 40 < seen + n {
                        buf[40 - seen] ^= 0x5A;
                    }
                    seen += n;
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_frame_closes_and_reconnects() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ms, ss) = (open(md.path()), open(sd.path()));
    for i in 0..100 {
        put(&ms, i).await;
    }
    let master = HaMaster::start(ms.clone(), "127.0.0.1:0".parse().unwrap(), ha_cfg(), rt())
        .await
        .unwrap();
    let proxy = corrupting_proxy(master.local_addr()).await;
    let slave = HaSlave::start(ss.clone(), Some(proxy), ha_cfg(), rt());
    wait_synced(&ms, &ss).await;
    let st = slave.stats();
    assert!(
        st.errors >= 1 && st.sessions >= 2,
        "the bad frame forced a reconnect: {st:?}"
    );
    assert_identical(md.path(), &ms, sd.path(), &ss);
    slave.shutdown().await;
    master.shutdown().await;
    ms.shutdown();
    ss.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_replica_ok_timeout_not_available() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ms, ss) = (open(md.path()), open(sd.path()));
    let mut cfg = ha_cfg();
    cfg.max_slave_gap = 4096;
    let master = Arc::new(
        HaMaster::start(
            ms.clone(),
            "127.0.0.1:0".parse().unwrap(),
            cfg.clone(),
            rt(),
        )
        .await
        .unwrap(),
    );
    let end = |r: &PutResult| r.commit_log_offset + r.store_size as i64;

    // No slave: NotAvailable, at once.
    let r = put(&ms, 0).await;
    let t = Instant::now();
    assert_eq!(
        master
            .wait_for_replica(end(&r), Duration::from_secs(2))
            .await,
        ReplicaAck::NotAvailable
    );
    assert!(t.elapsed() < Duration::from_millis(200));
    assert!(!master.is_slave_ok(end(&r)));

    // A connected slave that never acknowledges: Timeout after the deadline.
    let max = ms.commit_log_max_offset();
    let silent = broker_util::silent_slave(master.local_addr(), max).await;
    wait_until("silent slave", Duration::from_secs(5), || {
        master.connected_slaves() == 1
    })
    .await;
    let r = put(&ms, 1).await;
    let t = Instant::now();
    assert_eq!(
        master
            .wait_for_replica(end(&r), Duration::from_millis(300))
            .await,
        ReplicaAck::Timeout
    );
    assert!(t.elapsed() >= Duration::from_millis(290));
    // Far behind (more than max_slave_gap): NotAvailable at once.
    for i in 2..40 {
        put(&ms, i).await;
    }
    let far = ms.commit_log_max_offset();
    assert!(far - max > 4096);
    let t = Instant::now();
    assert_eq!(
        master.wait_for_replica(far, Duration::from_secs(2)).await,
        ReplicaAck::NotAvailable
    );
    assert!(t.elapsed() < Duration::from_millis(200));
    drop(silent);
    wait_until("silent slave gone", Duration::from_secs(5), || {
        master.connected_slaves() == 0
    })
    .await;

    master.shutdown().await;
    // A real slave: Ok, and many concurrent senders are released together (a master with the
    // default 256 MiB gap: 64 concurrent puts run ahead of the slave by more than 4 KiB).
    let master = Arc::new(
        HaMaster::start(ms.clone(), "127.0.0.1:0".parse().unwrap(), ha_cfg(), rt())
            .await
            .unwrap(),
    );
    let slave = HaSlave::start(ss.clone(), Some(master.local_addr()), ha_cfg(), rt());
    wait_synced(&ms, &ss).await;
    let mut waits = Vec::new();
    for i in 100..164 {
        let (ms, master) = (ms.clone(), master.clone());
        waits.push(tokio::spawn(async move {
            let r = put(&ms, i).await;
            master
                .wait_for_replica(
                    r.commit_log_offset + r.store_size as i64,
                    Duration::from_secs(5),
                )
                .await
        }));
    }
    for w in waits {
        assert_eq!(w.await.unwrap(), ReplicaAck::Ok);
    }
    assert_eq!(
        master.wait_for_replica(0, Duration::from_millis(1)).await,
        ReplicaAck::Ok
    );
    slave.shutdown().await;
    master.shutdown().await;
    ms.shutdown();
    ss.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_refuses_slave_ahead_or_of_other_broker() {
    let md = tempfile::tempdir().unwrap();
    let ms = open(md.path());
    put(&ms, 0).await;
    let master = HaMaster::start(ms.clone(), "127.0.0.1:0".parse().unwrap(), ha_cfg(), rt())
        .await
        .unwrap();
    for (name, offset) in [("broker-a", 1_000_000i64), ("broker-b", 0)] {
        let s = tokio::net::TcpStream::connect(master.local_addr())
            .await
            .unwrap();
        let (r, w) = s.into_split();
        let mut r = tokio_util_compat(r);
        let mut w = tokio_util_compat_w(w);
        let hello = Frame {
            kind: FrameKind::Hello,
            offset,
            payload: Bytes::copy_from_slice(name.as_bytes()),
        };
        write_frame(&mut w, &hello).await.unwrap();
        let f = read_frame(&mut r, 1 << 20).await.unwrap();
        assert_eq!(f.kind, FrameKind::Error, "{name} {offset}");
    }
    assert_eq!(master.connected_slaves(), 0);
    master.shutdown().await;
    ms.shutdown();
}

// Minimal tokio -> futures::io adapters for the raw-frame tests.
struct Compat<T>(T);
fn tokio_util_compat(r: tokio::net::tcp::OwnedReadHalf) -> Compat<tokio::net::tcp::OwnedReadHalf> {
    Compat(r)
}
fn tokio_util_compat_w(
    w: tokio::net::tcp::OwnedWriteHalf,
) -> Compat<tokio::net::tcp::OwnedWriteHalf> {
    Compat(w)
}
impl futures::io::AsyncRead for Compat<tokio::net::tcp::OwnedReadHalf> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut rb = tokio::io::ReadBuf::new(buf);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.0), cx, &mut rb) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(rb.filled().len())),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}
impl futures::io::AsyncWrite for Compat<tokio::net::tcp::OwnedWriteHalf> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.0), cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.0), cx)
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.0), cx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_replication_lag_is_measured() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ms, ss) = (open(md.path()), open(sd.path()));
    let mut cfg = ha_cfg();
    cfg.transfer_batch_bytes = 64 * 1024;
    let master = Arc::new(
        HaMaster::start(
            ms.clone(),
            "127.0.0.1:0".parse().unwrap(),
            cfg.clone(),
            rt(),
        )
        .await
        .unwrap(),
    );
    // Wire new-data notifications as the broker does (arrival listener).
    {
        let m = Arc::downgrade(&master);
        ms.set_arrival_listener(Arc::new(move |_: &str, _: i32, _: i64, _: &[_]| {
            if let Some(m) = m.upgrade() {
                m.notify_data();
            }
        }));
    }
    let slave = HaSlave::start(ss.clone(), Some(master.local_addr()), cfg, rt());
    wait_until("connect", Duration::from_secs(5), || {
        master.connected_slaves() == 1
    })
    .await;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (master, samples, sampling) = (master.clone(), samples.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Acquire) {
                if let Some(l) = master.replication_lag() {
                    samples.lock().unwrap().push(l);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let n = 3000;
    let t = Instant::now();
    let mut pending = Vec::new();
    for i in 0..n {
        pending.push(ms.put_message(msg(i)));
        if pending.len() == 64 {
            for p in pending.drain(..) {
                p.await.unwrap();
            }
        }
    }
    for p in pending.drain(..) {
        p.await.unwrap();
    }
    let write_time = t.elapsed();
    wait_synced(&ms, &ss).await;
    assert_eq!(slave.stats().errors, 0, "{:?}", slave.last_error());
    let catch_up = t.elapsed() - write_time;
    sampling.store(false, Ordering::Release);
    sampler.await.unwrap();
    let s = samples.lock().unwrap().clone();
    let max_lag = s.iter().copied().max().unwrap_or(0);
    let mean = s.iter().sum::<i64>() as f64 / s.len().max(1) as f64;
    println!(
        "async replication: {n} msgs / {} bytes written in {write_time:?}; lag max {max_lag} B, \
         mean {mean:.0} B over {} samples; slave caught up {catch_up:?} after the last put",
        ms.commit_log_max_offset(),
        s.len()
    );
    assert!(catch_up < Duration::from_secs(5));
    assert_identical(md.path(), &ms, sd.path(), &ss);
    slave.shutdown().await;
    master.shutdown().await;
    ms.shutdown();
    ss.shutdown();
}
