//! Retry / dead-letter, delay levels and timer messages, including delivery across a restart.

mod broker_util;

use std::time::{Duration, Instant};

use broker_util::*;
use rocketmq_rs_mini_broker::BrokerConfig;
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::ConsumerSendMsgBackRequestHeader;
use rocketmq_rs_remoting::protocol::message::{property, MessageExt};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::RemotingClient;
use rocketmq_rs_remoting::util::now_ms;

/// Long-polls (topic, 0) from `offset` until a message arrives or `within` passes.
async fn wait_message(
    c: &RemotingClient,
    addr: &str,
    topic: &str,
    offset: i64,
    within: Duration,
) -> MessageExt {
    let deadline = Instant::now() + within;
    loop {
        let mut h = pull_header("waiter", topic, 0, offset);
        h.sys_flag |= 0x2;
        h.suspend_timeout_millis = 1000;
        let r = pull(c, addr, &h).await;
        if r.code == ResponseCode::SUCCESS {
            return msgs(&r).remove(0);
        }
        assert!(
            matches!(
                r.code,
                ResponseCode::PULL_NOT_FOUND | ResponseCode::TOPIC_NOT_EXIST
            ),
            "unexpected pull code {} {:?}",
            r.code,
            r.remark
        );
        if r.code == ResponseCode::TOPIC_NOT_EXIST {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            Instant::now() < deadline,
            "no message on {topic} within {within:?}"
        );
    }
}

async fn send_back(c: &RemotingClient, addr: &str, offset: i64, max: i32) -> RemotingCommand {
    let h = ConsumerSendMsgBackRequestHeader {
        offset,
        group: "rg".into(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some("RetryT".into()),
        unit_mode: false,
        max_reconsume_times: Some(max),
        bname: None,
    };
    c.invoke(
        addr,
        RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK).with_header(&h),
        T,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::for_test(dir.path());
    // Levels 3.. are used by retries (3 + reconsumeTimes).
    cfg.message_delay_level = "10ms 20ms 100ms 150ms 200ms 250ms 300ms".into();
    let b = start(cfg).await;
    let addr = b.addr().to_string();
    let c = client();
    assert_eq!(
        send(
            &c,
            &addr,
            "RetryT",
            0,
            b"payload",
            &[(property::TAGS, "T1")],
            true
        )
        .await
        .code,
        0
    );
    let mut m = msgs(&pull(&c, &addr, &pull_header("rg", "RetryT", 0, 0)).await).remove(0);
    let uniq = m.uniq_key().unwrap().to_string();
    const MAX: i32 = 3;
    let delays = [100i64, 150, 200];
    for n in 1..=MAX {
        let t0 = now_ms();
        assert_eq!(send_back(&c, &addr, m.commit_log_offset, MAX).await.code, 0);
        m = wait_message(
            &c,
            &addr,
            "%RETRY%rg",
            (n - 1) as i64,
            Duration::from_secs(5),
        )
        .await;
        let late = m.store_timestamp - t0;
        println!(
            "retry {n}: delivered {late} ms after send-back (level delay {} ms)",
            delays[n as usize - 1]
        );
        assert!(
            late >= delays[n as usize - 1] - 5,
            "retry {n} too early: {late} ms"
        );
        assert_eq!(m.reconsume_times, n);
        assert_eq!(&m.body[..], b"payload");
        assert_eq!(m.property(property::RETRY_TOPIC), Some("RetryT"));
        assert_eq!(m.uniq_key(), Some(&*uniq));
        assert!(m.property(property::DELAY).is_none());
    }
    // reconsumeTimes == max → dead-letter queue.
    assert_eq!(send_back(&c, &addr, m.commit_log_offset, MAX).await.code, 0);
    let d = wait_message(&c, &addr, "%DLQ%rg", 0, Duration::from_secs(5)).await;
    assert_eq!(&d.body[..], b"payload");
    assert_eq!(d.reconsume_times, MAX + 1);
    assert_eq!(b.store().max_offset("%RETRY%rg", 0), MAX as i64);

    // A client fallback send to %RETRY% beyond the max goes to the DLQ as well.
    let mut p = rocketmq_rs_remoting::protocol::message::Properties::new();
    p.insert(property::DELAY, "3");
    let mut h = send_header("%RETRY%rg", 0, &p);
    h.reconsume_times = Some(MAX + 1);
    h.max_reconsume_times = Some(MAX);
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::SEND_MESSAGE)
                .with_header(&h)
                .with_body(&b"fallback"[..]),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    let d = wait_message(&c, &addr, "%DLQ%rg", 1, Duration::from_secs(5)).await;
    assert_eq!(&d.body[..], b"fallback");
    c.shutdown();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_and_timer_delivered_late_also_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mk = || {
        let mut cfg = BrokerConfig::for_test(dir.path());
        cfg.message_delay_level = "300ms 1500ms".into();
        cfg
    };
    let c = client();
    // Without restart: level 1 = 300 ms, timer 400 ms.
    let b = start(mk()).await;
    let addr = b.addr().to_string();
    let t0 = now_ms();
    assert_eq!(
        send(
            &c,
            &addr,
            "DelayT",
            0,
            b"d1",
            &[(property::DELAY, "1")],
            true
        )
        .await
        .code,
        0
    );
    let m = wait_message(&c, &addr, "DelayT", 0, Duration::from_secs(5)).await;
    let late = m.store_timestamp - t0;
    println!("delay level 1 (300 ms): delivered after {late} ms");
    assert!((295..1300).contains(&late), "late {late}");
    assert_eq!(&m.body[..], b"d1");
    assert!(m.property(property::DELAY).is_none());
    let t0 = now_ms();
    assert_eq!(
        send(
            &c,
            &addr,
            "TimerT",
            0,
            b"t1",
            &[(property::TIMER_DELAY_MS, "400")],
            true
        )
        .await
        .code,
        0
    );
    let m = wait_message(&c, &addr, "TimerT", 0, Duration::from_secs(5)).await;
    let late = m.store_timestamp - t0;
    println!("timer 400 ms: delivered after {late} ms");
    assert!((395..1400).contains(&late), "late {late}");

    // Across a restart: level 2 (1500 ms) and a timer at +1200 ms, broker down meanwhile.
    let t0 = now_ms();
    assert_eq!(
        send(
            &c,
            &addr,
            "DelayT",
            0,
            b"d2",
            &[(property::DELAY, "2")],
            true
        )
        .await
        .code,
        0
    );
    let at = (t0 + 1200).to_string();
    assert_eq!(
        send(
            &c,
            &addr,
            "TimerT",
            0,
            b"t2",
            &[(property::TIMER_DELIVER_MS, Box::leak(at.into_boxed_str()))],
            true
        )
        .await
        .code,
        0
    );
    c.close(&addr);
    b.shutdown().await;
    assert!(
        now_ms() - t0 < 1000,
        "restart began too late for the test to mean anything"
    );
    let b = start(mk()).await;
    let addr = b.addr().to_string();
    let m = wait_message(&c, &addr, "TimerT", 1, Duration::from_secs(5)).await;
    let late = m.store_timestamp - t0;
    println!("timer +1200 ms across restart: delivered after {late} ms");
    assert_eq!(&m.body[..], b"t2");
    assert!((1195..2700).contains(&late), "late {late}");
    let m = wait_message(&c, &addr, "DelayT", 1, Duration::from_secs(5)).await;
    let late = m.store_timestamp - t0;
    println!("delay level 2 (1500 ms) across restart: delivered after {late} ms");
    assert_eq!(&m.body[..], b"d2");
    assert!((1495..3000).contains(&late), "late {late}");
    // Nothing is delivered twice after another restart.
    c.close(&addr);
    b.shutdown().await;
    let b = start(mk()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.store().max_offset("DelayT", 0), 2);
    assert_eq!(b.store().max_offset("TimerT", 0), 2);
    c.shutdown();
    b.shutdown().await;
}
