//! `rocketmq-cli`'s commands that reach clients through a broker, against Apache brokers
//! (4.9.7 and 5.5.0) while our push consumer runs: `consumer connections`, `running-info`,
//! `status`, `producer connections`, `group update/list/delete`, and `offset reset` (online on both; after the consumer stops, 4.9.7 answers
//! CONSUMER_NOT_ONLINE and the command resets offline, while 5.5.0 resets on the server).
//! The same commands run against mini-broker in `rocketmq-cli/tests/clients.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_it::apache::{V4, V5_NEWEST};
use rocketmq_rs_cli::admin::Ctx;
use rocketmq_rs_cli::clients::{self, ResetMode};
use rocketmq_rs_cli::groups;
use rocketmq_rs_client::{
    ClientInstance, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt,
    MessageSelector, Producer, PushConsumer,
};
use rocketmq_rs_remoting::rt::Runtime;

use crate::common::{client_cfg, cluster, create_topic, run, unique};

const TIMEOUT: Duration = Duration::from_secs(60);

async fn wait_until(rt: &dyn Runtime, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        rt.sleep(Duration::from_millis(100)).await;
    }
}

fn cli_commands(version: &str) {
    let test = format!("cli_commands {version}");
    let Some(c) = cluster(&test, version) else {
        return;
    };
    let topic = unique("CliT", version);
    let group = unique("cg_cli", version);
    run(&test, |rt| async move {
        create_topic(&rt, &c, &topic, 2).await;
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let instance = ClientInstance::new(client_cfg(&c, &rt)).expect("client instance");
        let client_id = instance.client_id().to_string();
        let b2 = Arc::clone(&bodies);
        let consumer = PushConsumer::builder()
            .client_instance(instance)
            .group(&group)
            .subscribe(&topic, MessageSelector::all())
            .consume_from_where(ConsumeFromWhere::FirstOffset)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                b2.lock().unwrap().extend(
                    msgs.iter()
                        .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                );
                std::future::ready(ConsumeResult::Success)
            })
            .build()
            .expect("consumer config");
        consumer.start().await.expect("consumer start");
        let p = Producer::builder()
            .name_server(&c.namesrv_addr().to_string())
            .group(unique("pg_cli", version))
            .heartbeat_interval(Duration::from_secs(1))
            .runtime(Arc::clone(&rt))
            .build()
            .expect("producer config");
        p.start().await.expect("producer start");
        for i in 0..6 {
            p.send(Message::new(&topic, format!("cli body {i}")))
                .await
                .expect("send");
        }
        wait_until(&*rt, "6 messages consumed", || {
            bodies.lock().unwrap().len() >= 6
        })
        .await;

        let ctx = Ctx::new(
            &c.namesrv_addr().to_string(),
            Arc::clone(&rt),
            Duration::from_secs(5),
        )
        .expect("cli context");

        // producer connections: our producer, once its heartbeat reached the broker.
        let pg = unique("pg_cli", version);
        let start = Instant::now();
        let r = loop {
            match groups::producer_connections(&ctx, &pg, &topic).await {
                Ok(r) => break r,
                Err(e) => assert!(start.elapsed() < TIMEOUT, "producer connections: {e}"),
            }
            rt.sleep(Duration::from_millis(200)).await;
        };
        let conns = r.json["connections"].as_array().unwrap();
        assert_eq!(conns.len(), 1, "{}", r.json);
        assert_eq!(conns[0]["language"], "RUST", "{}", r.json);
        p.shutdown().await;

        // subscription groups on the broker: create, change one setting, list, delete.
        let sub = unique("cli_sub", version);
        let target = groups::Target {
            broker: Some(c.broker_addr().to_string()),
            cluster: None,
        };
        let settings = groups::GroupSettings {
            retry_max_times: Some(3),
            ..Default::default()
        };
        groups::group_update(&ctx, &sub, &target, &settings)
            .await
            .expect("group create");
        let settings = groups::GroupSettings {
            consume_enable: Some(false),
            ..Default::default()
        };
        groups::group_update(&ctx, &sub, &target, &settings)
            .await
            .expect("group update");
        let r = groups::group_list(&ctx, &target, Some(&sub))
            .await
            .expect("group list");
        assert_eq!(r.json[0]["retryMaxTimes"], 3, "{}", r.json);
        assert_eq!(r.json[0]["consumeEnable"], false, "{}", r.json);
        groups::group_delete(&ctx, &sub, &target, true)
            .await
            .expect("group delete");
        assert!(groups::group_list(&ctx, &target, Some(&sub)).await.is_err());

        // connections: the broker's table from our heartbeats.
        let r = clients::consumer_connections(&ctx, &group)
            .await
            .expect("consumer connections");
        let conns = r.json["connections"].as_array().unwrap();
        assert!(
            conns
                .iter()
                .any(|c| c["clientId"] == client_id.as_str() && c["language"] == "RUST"),
            "{}",
            r.json
        );
        assert_eq!(r.json["consumeType"], "CONSUME_PASSIVELY", "{}", r.json);
        assert_eq!(r.json["messageModel"], "CLUSTERING", "{}", r.json);
        assert!(r.text.contains(&client_id), "{}", r.text);

        // running-info: relayed to our client by Apache's broker.
        let r = clients::consumer_running_info(&ctx, &group, Some(&client_id))
            .await
            .expect("running info");
        let info = &r.json["clients"][0];
        assert_eq!(info["properties"]["PROP_CONSUME_TYPE"], "CONSUME_PASSIVELY");
        let queues = info["queues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["topic"] == topic.as_str())
            .count();
        assert_eq!(queues, 2, "{}", r.json);

        // status: 221 to our client, the offsets it holds.
        let mut total = 0;
        let start = Instant::now();
        while total != 6 {
            assert!(start.elapsed() < TIMEOUT, "status never showed 6");
            let r = clients::consumer_status(&ctx, &group, &topic, None)
                .await
                .expect("consumer status");
            total = r.json["clients"][&client_id]
                .as_array()
                .map(|rows| rows.iter().map(|q| q["offset"].as_i64().unwrap()).sum())
                .unwrap_or(0);
            rt.sleep(Duration::from_millis(200)).await;
        }

        // online reset: the running consumer reads the 6 again.
        let r = clients::offset_reset(&ctx, &group, &topic, 0, true, ResetMode::Online)
            .await
            .expect("online reset");
        assert_eq!(r.json["mode"], "online", "{}", r.json);
        wait_until(&*rt, "6 messages read again", || {
            bodies.lock().unwrap().len() >= 12
        })
        .await;
        consumer.shutdown().await.expect("consumer shutdown");

        // Nobody online: 4.x answers CONSUMER_NOT_ONLINE and the command resets offline; 5.x
        // resets on the server.
        let r = clients::offset_reset(&ctx, &group, &topic, 0, true, ResetMode::Online)
            .await
            .expect("reset without consumers");
        let want = if version == V4 { "offline" } else { "online" };
        assert_eq!(r.json["mode"], want, "{}", r.json);
        assert!(clients::consumer_status(&ctx, &group, &topic, None)
            .await
            .is_err());
        ctx.close().await;
    });
}

#[test]
fn cli_commands_4_9_7() {
    cli_commands(V4);
}

#[test]
fn cli_commands_5_5_0() {
    cli_commands(V5_NEWEST);
}
