//! A start that fails half-way leaves nothing behind: the listen port is free again, the store
//! is closed cleanly (its threads joined, the `abort` marker removed) and the same directory
//! and port start a broker at once. One test per binary: it counts the process's threads.

mod broker_util;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use broker_util::rt;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, BrokerError};

/// A port that was free a moment ago (the OS does not hand it out again right away).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Names of the store's threads still running in this process (Linux: `/proc/self/task`).
fn store_threads() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| c.starts_with("store-"))
        .collect()
}

fn assert_nothing_left(dir: &Path, listen: SocketAddr) {
    assert!(
        !dir.join("abort").exists(),
        "the store was not shut down cleanly"
    );
    assert_eq!(store_threads(), Vec::<String>::new(), "store threads left");
    TcpListener::bind(listen).expect("the listen port is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_starts_leave_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let mut cfg = BrokerConfig::for_test(dir.path());
    cfg.listen_addr = listen;

    // 1. The replication port is taken: fails after the store is open and the listen port
    //    is bound.
    let ha_taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = cfg.clone();
    c.ha_listen_addr = Some(ha_taken.local_addr().unwrap());
    match Broker::start(c, rt()).await {
        Err(BrokerError::Ha(_)) => {}
        other => panic!("expected a replication error, got {other:?}"),
    }
    assert_nothing_left(dir.path(), listen);

    // 2. The listen port is taken: fails after the store is open.
    let taken = TcpListener::bind(listen).unwrap();
    match Broker::start(cfg.clone(), rt()).await {
        Err(BrokerError::Bind { addr, .. }) => assert_eq!(addr, listen),
        other => panic!("expected a bind error, got {other:?}"),
    }
    drop(taken);
    assert_nothing_left(dir.path(), listen);

    // 3. An unreadable topic table: fails while loading, after the store opened.
    let topics = dir.path().join("config").join("topics.json");
    std::fs::create_dir_all(topics.parent().unwrap()).unwrap();
    std::fs::write(&topics, b"{ not json").unwrap();
    match Broker::start(cfg.clone(), rt()).await {
        Err(BrokerError::Metadata { path, .. }) => assert_eq!(path, topics),
        other => panic!("expected a metadata error, got {other:?}"),
    }
    assert_nothing_left(dir.path(), listen);

    // The same directory and port serve at once.
    std::fs::remove_file(&topics).unwrap();
    let broker = Broker::start(cfg, rt())
        .await
        .expect("starts after the failures");
    assert_eq!(broker.addr(), listen);
    assert!(!store_threads().is_empty() || !Path::new("/proc/self/task").exists());
    broker.shutdown().await;
    drop(broker);
    assert_nothing_left(dir.path(), listen);
}
