//! The commands that reach running consumers through a broker (`offset reset` online and its
//! offline fallback, `consumer status`, `consumer running-info`), run as processes against an
//! embedded NameServer + broker while this crate's push consumer runs in the test process.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_rs_client::consumer::PushConsumerConfig;
use rocketmq_rs_client::{
    ClientConfig, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message, MessageExt, Producer,
    PushConsumer,
};
use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-cli");
const TOPIC: &str = "CliRelayTopic";
const GROUP: &str = "cli_relay_cg";

fn cli(ns: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--namesrv")
        .arg(ns)
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run rocketmq-cli")
}

fn ok_json(ns: &str, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = cli(ns, &a);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{args:?}: bad JSON {e}: {text}"))
}

/// The JSON answer, `None` when the command failed (for polling).
fn try_json(ns: &str, args: &[&str]) -> Option<Value> {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = cli(ns, &a);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn ok_text(ns: &str, args: &[&str]) -> String {
    let out = cli(ns, args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn code(ns: &str, args: &[&str]) -> i32 {
    cli(ns, args).status.code().expect("exit code")
}

fn wait_for(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn consumer(ns: &str, rt: &Arc<dyn Runtime>, bodies: Arc<Mutex<Vec<String>>>) -> PushConsumer {
    let mut client = ClientConfig::with_name_server(ns);
    client.runtime = Some(rt.clone());
    client.rebalance_interval = Duration::from_millis(1000);
    client.persist_offset_interval = Duration::from_millis(200);
    client.heartbeat_interval = Duration::from_millis(1000);
    client.route_refresh_interval = Duration::from_millis(1000);
    PushConsumer::builder()
        .client_config(client)
        .config({
            let mut c = PushConsumerConfig::default();
            c.group = GROUP.to_owned();
            c.consume_from_where = ConsumeFromWhere::FirstOffset;
            c.long_polling_timeout = Duration::from_secs(2);
            c.rebalance_join_grace = Duration::from_millis(300);
            c
        })
        .subscribe(TOPIC, "*")
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let bodies = bodies.clone();
            async move {
                for m in &msgs {
                    bodies
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&m.body).into_owned());
                }
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap()
}

/// Offsets of every queue in a `consumer status` answer, summed.
fn status_total(status: &Value) -> i64 {
    status["clients"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|rows| rows.as_array().unwrap())
        .map(|r| r["offset"].as_i64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_running_consumers() {
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().unwrap());
    let cluster = EmbeddedCluster::builder()
        .configure(|cfg| cfg.register_name_server_period_ms = 300)
        .topic(TOPIC, 4)
        .start(rt.clone())
        .await
        .unwrap();
    let ns = cluster.namesrv_addr();
    let producer = Producer::builder()
        .name_server(&ns)
        .runtime(rt.clone())
        .group("cli_relay_pg")
        .heartbeat_interval(Duration::from_millis(500))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    for i in 0..12 {
        producer
            .send(Message::new(TOPIC, format!("m{i}")))
            .await
            .unwrap();
    }
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let consumer = consumer(&ns, &rt, bodies.clone());
    consumer.start().await.unwrap();

    // The CLI runs as a child process: keep the runtime free while it runs.
    let (bodies, _client_id) = tokio::task::spawn_blocking(move || {
        let ns = ns.as_str();
        wait_for("12 messages consumed", Duration::from_secs(30), || {
            bodies.lock().unwrap().len() >= 12
        });

        // running-info: the consumer's own report, relayed by the broker.
        let info = ok_json(ns, &["consumer", "running-info", "-g", GROUP]);
        let clients = info["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 1, "{info}");
        let client_id = clients[0]["clientId"].as_str().unwrap().to_string();
        assert_eq!(
            clients[0]["properties"]["PROP_CONSUME_TYPE"], "CONSUME_PASSIVELY",
            "{info}"
        );
        let of_topic = |key: &str| {
            clients[0][key]
                .as_array()
                .unwrap()
                .iter()
                .filter(|q| q["topic"] == TOPIC)
                .count()
        };
        assert_eq!(of_topic("queues"), 4, "{info}");
        assert_eq!(of_topic("subscriptions"), 1, "{info}");
        let text = ok_text(
            ns,
            &["consumer", "running-info", "-g", GROUP, "-i", &client_id],
        );
        assert!(
            text.contains("CONSUME_PASSIVELY") && text.contains(TOPIC),
            "{text}"
        );
        assert_eq!(
            code(
                ns,
                &["consumer", "running-info", "-g", GROUP, "-i", "1.2.3.4@x"]
            ),
            4
        );
        assert_eq!(
            code(ns, &["consumer", "running-info", "-g", "nobody_cg"]),
            4
        );

        // connections: the broker's table from the heartbeats; the producer's too.
        let conns = ok_json(ns, &["consumer", "connections", "-g", GROUP]);
        assert_eq!(
            conns["connections"][0]["clientId"],
            client_id.as_str(),
            "{conns}"
        );
        assert_eq!(conns["connections"][0]["language"], "RUST", "{conns}");
        assert_eq!(conns["consumeType"], "CONSUME_PASSIVELY", "{conns}");
        assert_eq!(conns["messageModel"], "CLUSTERING", "{conns}");
        assert_eq!(conns["subscriptions"][TOPIC], "*", "{conns}");
        assert_eq!(code(ns, &["consumer", "connections", "-g", "nobody_cg"]), 4);
        let pc = ["producer", "connections", "-g", "cli_relay_pg", "-t", TOPIC];
        wait_for("the producer's heartbeat", Duration::from_secs(10), || {
            try_json(ns, &pc).is_some()
        });
        let prod = ok_json(ns, &pc);
        let prod = prod["connections"].as_array().unwrap();
        assert_eq!(prod.len(), 1, "{prod:?}");
        assert_eq!(prod[0]["language"], "RUST");
        assert_eq!(
            code(
                ns,
                &["producer", "connections", "-g", "nobody_pg", "-t", TOPIC]
            ),
            4
        );

        // status: the consumer's in-memory offsets (all 12 consumed).
        wait_for("status shows 12", Duration::from_secs(20), || {
            status_total(&ok_json(
                ns,
                &["consumer", "status", "-g", GROUP, "-t", TOPIC],
            )) == 12
        });
        let status = ok_json(
            ns,
            &[
                "consumer", "status", "-g", GROUP, "-t", TOPIC, "-i", &client_id,
            ],
        );
        assert_eq!(status["clients"][&client_id].as_array().unwrap().len(), 4);
        assert_eq!(
            code(ns, &["consumer", "status", "-g", "nobody_cg", "-t", TOPIC]),
            4
        );

        // Online reset while the consumer runs: it reads the 12 again.
        wait_for("offsets committed", Duration::from_secs(20), || {
            // Every queue committed (the online reset needs an offset on each), none behind.
            try_json(ns, &["consumer", "progress", "-g", GROUP, "-t", TOPIC]).is_some_and(|p| {
                p["queues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|q| q["consumerOffset"] == q["brokerOffset"])
            })
        });
        let reset = ok_json(
            ns,
            &[
                "offset",
                "reset",
                "-g",
                GROUP,
                "-t",
                TOPIC,
                "--timestamp",
                "0",
            ],
        );
        assert_eq!(reset["mode"], "online", "{reset}");
        assert_eq!(reset["queues"].as_array().unwrap().len(), 4, "{reset}");
        assert!(reset["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["offset"] == 0));
        wait_for("12 messages read again", Duration::from_secs(30), || {
            bodies.lock().unwrap().len() >= 24
        });
        wait_for("status back at 12", Duration::from_secs(20), || {
            status_total(&ok_json(
                ns,
                &["consumer", "status", "-g", GROUP, "-t", TOPIC],
            )) == 12
        });
        (bodies, client_id)
    })
    .await
    .unwrap();
    consumer.shutdown().await.unwrap();
    let ns = cluster.namesrv_addr();
    let after = bodies.lock().unwrap().len();
    tokio::task::spawn_blocking(move || {
        let ns = ns.as_str();
        // Nobody online: the reset falls back to rewriting the committed offsets; not forced,
        // "now" moves nothing forward.
        let reset = ok_json(
            ns,
            &[
                "offset",
                "reset",
                "-g",
                GROUP,
                "-t",
                TOPIC,
                "--timestamp",
                "0",
                "--force",
                "false",
            ],
        );
        assert_eq!(reset["mode"], "offline", "{reset}");
        let progress = ok_json(ns, &["consumer", "progress", "-g", GROUP, "-t", TOPIC]);
        assert_eq!(progress["totalLag"], 12, "{progress}");
        let reset = ok_json(
            ns,
            &[
                "offset",
                "reset",
                "-g",
                GROUP,
                "-t",
                TOPIC,
                "--timestamp",
                "now",
                "--force",
                "false",
            ],
        );
        assert_eq!(reset["mode"], "offline", "{reset}");
        let progress = ok_json(ns, &["consumer", "progress", "-g", GROUP, "-t", TOPIC]);
        assert_eq!(
            progress["totalLag"], 12,
            "not forced: stays behind: {progress}"
        );
        let reset = ok_json(
            ns,
            &[
                "offset",
                "reset",
                "-g",
                GROUP,
                "-t",
                TOPIC,
                "--timestamp",
                "now",
                "--offline",
            ],
        );
        assert_eq!(reset["mode"], "offline", "{reset}");
        let progress = ok_json(ns, &["consumer", "progress", "-g", GROUP, "-t", TOPIC]);
        assert_eq!(progress["totalLag"], 0, "{progress}");
        assert_eq!(
            code(ns, &["consumer", "status", "-g", GROUP, "-t", TOPIC]),
            4
        );
    })
    .await
    .unwrap();
    assert_eq!(bodies.lock().unwrap().len(), after);
    producer.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_groups() {
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::try_current().unwrap());
    let cluster = EmbeddedCluster::builder()
        .brokers(2)
        .start(rt.clone())
        .await
        .unwrap();
    let ns = cluster.namesrv_addr();
    let broker_a = cluster.broker("broker-a").unwrap().addr().to_string();
    tokio::task::spawn_blocking(move || {
        let ns = ns.as_str();
        let g = "cli_sub_g";
        // create on every master; both answer with the stored settings
        let created = ok_json(ns, &["group", "create", "-g", g, "--retry-max", "3"]);
        let rows = created.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{created}");
        assert!(rows.iter().all(|r| r["retryMaxTimes"] == 3
            && r["consumeEnable"] == true
            && r["retryQueueNums"] == 1));
        // update one broker: what is not given stays
        let updated = ok_json(
            ns,
            &[
                "group",
                "update",
                "-g",
                g,
                "-b",
                &broker_a,
                "--consume-enable",
                "false",
            ],
        );
        assert_eq!(updated[0]["retryMaxTimes"], 3, "{updated}");
        assert_eq!(updated[0]["consumeEnable"], false, "{updated}");
        let listed = ok_json(ns, &["group", "list", "-g", g]);
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let disabled: Vec<&str> = listed
            .iter()
            .filter(|r| r["consumeEnable"] == false)
            .map(|r| r["broker"].as_str().unwrap())
            .collect();
        assert_eq!(disabled, [broker_a.as_str()]);
        let text = ok_text(ns, &["group", "list", "-c", "DefaultCluster"]);
        assert!(text.lines().any(|l| l.starts_with(g)), "{text}");
        // delete, then it is gone
        let deleted = ok_json(ns, &["group", "delete", "-g", g, "--clean-offsets"]);
        assert_eq!(deleted["brokers"].as_array().unwrap().len(), 2, "{deleted}");
        assert_eq!(code(ns, &["group", "list", "-g", g]), 4);
        // usage errors
        assert_eq!(
            code(ns, &["group", "create", "-g", g, "--retry-max", "x"]),
            2
        );
        assert_eq!(
            code(ns, &["group", "list", "-b", "127.0.0.1:1", "-c", "C"]),
            2
        );
    })
    .await
    .unwrap();
    cluster.shutdown().await;
}
