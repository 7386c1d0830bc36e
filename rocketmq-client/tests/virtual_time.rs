//! The embedded cluster on virtual time: hours of broker and client timers in well under a
//! second of real time, on tokio, smol and async-std.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::consumer::PushConsumerConfig;
use rocketmq_rs_client::{
    ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::Runtime;

mod scenarios {
    use super::*;

    /// A listener that always answers ReconsumeLater, maxReconsumeTimes 16, Apache's default
    /// delay levels (1s 5s 10s 30s 1m ... 2h): the first delivery, 16 retries at levels 3..18
    /// (4 h 46 min 40 s of back-off in all), then the DLQ. The clock stops every 5 virtual
    /// minutes (each retry up to 5 min late, never early): 7 virtual hours in under 200 stops.
    // Config structs become #[non_exhaustive] (issue 22): built by assignment, not literals.
    #[allow(clippy::field_reassign_with_default)]
    pub async fn eighteen_level_retry_schedule_ends_in_dlq(real: Arc<dyn Runtime>) {
        const T: &str = "VtRetryTopic";
        const G: &str = "vt_retry_group";
        let wall = Instant::now();
        let cluster = EmbeddedCluster::builder()
            .virtual_time_granularity(Duration::from_secs(300))
            .topic(T, 1)
            .start(real)
            .await
            .expect("cluster starts");
        let rt = cluster.runtime().clone();
        let clock = cluster.virtual_clock().expect("virtual");
        let producer = Producer::builder()
            .name_server(&cluster.namesrv_addr())
            .runtime(rt.clone())
            .group("vt_pg")
            .build()
            .unwrap();
        producer.start().await.unwrap();

        let seen: Arc<Mutex<Vec<(i32, i64)>>> = Arc::default();
        let s = seen.clone();
        let mut client = ClientConfig::with_name_server(&cluster.namesrv_addr());
        client.runtime = Some(rt.clone());
        let mut cfg = PushConsumerConfig::default();
        cfg.group = G.into();
        cfg.consume_from_where = ConsumeFromWhere::FirstOffset;
        cfg.max_reconsume_times = Some(16);
        let clock2 = clock;
        let consumer = PushConsumer::builder()
            .client_config(client)
            .config(cfg)
            .subscribe(T, "*")
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let s = s.clone();
                let t = clock2.elapsed().as_millis() as i64;
                async move {
                    for m in &msgs {
                        s.lock().unwrap().push((m.reconsume_times, t));
                    }
                    ConsumeResult::ReconsumeLater
                }
            })
            .build()
            .unwrap();
        consumer.start().await.unwrap();
        producer
            .send(Message::new(T, "always-later"))
            .await
            .expect("send");

        let dlq = format!("%DLQ%{G}");
        let broker = cluster.broker("broker-a").unwrap();
        let advancing = Instant::now();
        cluster
            .advance(Duration::from_secs(7 * 3600))
            .await
            .unwrap();
        let advanced = advancing.elapsed();
        assert_eq!(broker.store().max_offset(&dlq, 0), 1, "one DLQ entry");
        let seen = seen.lock().unwrap().clone();
        let attempts: Vec<i32> = seen.iter().map(|(r, _)| *r).collect();
        assert_eq!(
            attempts,
            (0..=16).collect::<Vec<_>>(),
            "first delivery + 16 retries"
        );
        // Each retry came after its delay level (10s, 30s, 1m, ... 2h), by the virtual clock.
        let levels_s = [
            10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
        ];
        for (i, w) in seen.windows(2).enumerate() {
            let gap = w[1].1 - w[0].1;
            assert!(
                gap >= levels_s[i] * 1000,
                "retry {} came {gap} ms after the previous delivery, before its {} s level",
                i + 1,
                levels_s[i]
            );
        }
        let real = wall.elapsed();
        eprintln!(
            "18-level retry schedule: {:?} virtual in {advanced:?} real ({} clock steps); \
             {real:?} with cluster and client start-up",
            clock.elapsed(),
            clock.steps()
        );
        consumer.shutdown().await.unwrap();
        producer.shutdown().await;
        cluster.shutdown().await;
    }
}

common::for_each_runtime!(
    None;
    eighteen_level_retry_schedule_ends_in_dlq);
