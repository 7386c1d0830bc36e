//! Every `rocketmq-cli` command, run as a process against an embedded NameServer + broker.

use std::process::{Command, Output};

use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-cli");

fn cli(ns: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--namesrv")
        .arg(ns)
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run rocketmq-cli")
}

fn ok(ns: &str, args: &[&str]) -> String {
    let out = cli(ns, args);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ok_json(ns: &str, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let text = ok(ns, &a);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{args:?}: bad JSON {e}: {text}"))
}

fn code(ns: &str, args: &[&str]) -> i32 {
    cli(ns, args).status.code().expect("exit code")
}

async fn with_cluster(f: impl FnOnce(String) + Send + 'static) {
    let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    let cluster = EmbeddedCluster::builder()
        .brokers(2)
        .start(rt)
        .await
        .unwrap();
    let ns = cluster.namesrv_addr();
    // The CLI runs as a child process: keep the runtime free while it runs.
    tokio::task::spawn_blocking(move || f(ns)).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_send_consume_and_bench() {
    with_cluster(|ns| {
        let ns = ns.as_str();
        // cluster list
        let brokers = ok_json(ns, &["cluster", "list"]);
        assert_eq!(brokers.as_array().unwrap().len(), 2, "{brokers}");
        assert!(ok(ns, &["cluster", "list"]).contains("broker-b"));

        // topic create / route / list / status
        let created = ok_json(ns, &["topic", "create", "-t", "CliTopic", "-q", "2"]);
        assert_eq!(created["brokers"].as_array().unwrap().len(), 2, "{created}");
        let route = ok_json(ns, &["topic", "route", "-t", "CliTopic"]);
        assert_eq!(route["queueDatas"].as_array().unwrap().len(), 2, "{route}");
        assert!(ok(ns, &["topic", "list"]).lines().any(|l| l == "CliTopic"));
        ok(
            ns,
            &[
                "topic",
                "update",
                "-t",
                "CliTopic",
                "-q",
                "4",
                "-c",
                "DefaultCluster",
            ],
        );
        let status = ok_json(ns, &["topic", "status", "-t", "CliTopic"]);
        assert_eq!(status["queues"].as_array().unwrap().len(), 8, "{status}");
        assert_eq!(status["total"], 0);

        // send (with tag, keys, properties)
        let sent = ok_json(
            ns,
            &[
                "send",
                "-t",
                "CliTopic",
                "--tag",
                "TagA",
                "--keys",
                "order-42",
                "--prop",
                "p=v",
                "--body",
                "hello cli",
                "--count",
                "3",
            ],
        );
        let sent = sent.as_array().unwrap();
        assert_eq!(sent.len(), 3);
        let msg_id = sent[0]["msgId"].as_str().unwrap().to_string();
        let offset_id = sent[0]["offsetMsgId"].as_str().unwrap().to_string();
        let status = ok_json(ns, &["topic", "status", "-t", "CliTopic"]);
        assert_eq!(status["total"], 3);

        // message lookups
        let by_key = ok_json(
            ns,
            &["message", "query-key", "-t", "CliTopic", "-k", "order-42"],
        );
        assert_eq!(by_key.as_array().unwrap().len(), 3, "{by_key}");
        assert_eq!(by_key[0]["body"], "hello cli");
        assert_eq!(by_key[0]["properties"]["p"], "v");
        let by_id = ok_json(
            ns,
            &["message", "query-id", "-t", "CliTopic", "-i", &msg_id],
        );
        assert_eq!(by_id[0]["msgId"], msg_id.as_str());
        let by_offset = ok_json(ns, &["message", "query-id", "-i", &offset_id]);
        assert_eq!(by_offset[0]["msgId"], msg_id.as_str());
        assert!(ok(
            ns,
            &["message", "query-id", "-t", "CliTopic", "-i", &msg_id]
        )
        .contains("hello cli"));
        assert_eq!(
            code(
                ns,
                &["message", "query-key", "-t", "CliTopic", "-k", "nope"]
            ),
            4
        );

        // consume: JSON lines, count reached, offsets committed
        let out = ok(
            ns,
            &[
                "--json",
                "consume",
                "-t",
                "CliTopic",
                "-g",
                "cli-group",
                "--count",
                "3",
                "--idle-timeout",
                "5",
                "--commit",
            ],
        );
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines
            .iter()
            .all(|m| m["tags"] == "TagA" && m["keys"] == "order-42"));
        // Asking for more than exists fails with code 1 after the idle timeout.
        assert_eq!(
            code(
                ns,
                &[
                    "consume",
                    "-t",
                    "CliTopic",
                    "--count",
                    "4",
                    "--idle-timeout",
                    "0.5"
                ]
            ),
            1
        );
        // Tag filter.
        let out = ok(
            ns,
            &[
                "--json",
                "consume",
                "-t",
                "CliTopic",
                "--expr",
                "TagB",
                "--idle-timeout",
                "0.3",
            ],
        );
        assert_eq!(out.lines().count(), 0);

        // consumer progress: committed, no lag
        let progress = ok_json(
            ns,
            &["consumer", "progress", "-g", "cli-group", "-t", "CliTopic"],
        );
        assert_eq!(progress["totalLag"], 0, "{progress}");
        assert_eq!(
            code(
                ns,
                &[
                    "consumer",
                    "progress",
                    "-g",
                    "unknown-group",
                    "-t",
                    "CliTopic"
                ]
            ),
            4
        );

        // offset reset to the beginning: lag comes back
        ok(
            ns,
            &[
                "offset",
                "reset",
                "-g",
                "cli-group",
                "-t",
                "CliTopic",
                "--timestamp",
                "0",
            ],
        );
        let progress = ok_json(
            ns,
            &["consumer", "progress", "-g", "cli-group", "-t", "CliTopic"],
        );
        assert_eq!(progress["totalLag"], 3, "{progress}");
        ok(
            ns,
            &[
                "offset",
                "reset",
                "-g",
                "cli-group",
                "-t",
                "CliTopic",
                "--timestamp",
                "-1d",
            ],
        );

        // bench produce / consume
        let bench = ok_json(
            ns,
            &[
                "bench",
                "produce",
                "-t",
                "BenchTopic",
                "--count",
                "200",
                "-c",
                "4",
                "--body-size",
                "64",
                "--quiet",
            ],
        );
        assert_eq!(bench["ok"], 200, "{bench}");
        assert_eq!(bench["failed"], 0);
        assert!(bench["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
        let bench = ok_json(
            ns,
            &[
                "bench",
                "produce",
                "-t",
                "BenchTopic",
                "--count",
                "100",
                "--mode",
                "async",
                "--quiet",
            ],
        );
        assert_eq!(bench["ok"], 100, "{bench}");
        let bench = ok_json(
            ns,
            &[
                "bench",
                "produce",
                "-t",
                "BenchTopic",
                "--count",
                "50",
                "--mode",
                "oneway",
                "--quiet",
            ],
        );
        assert_eq!(bench["ok"], 50, "{bench}");
        let text = ok(
            ns,
            &[
                "bench",
                "produce",
                "-t",
                "BenchTopic",
                "--duration",
                "0.5",
                "--quiet",
            ],
        );
        assert!(text.contains("latency ms: mean"), "{text}");
        let bench = ok_json(
            ns,
            &[
                "bench",
                "consume",
                "-t",
                "BenchTopic",
                "--count",
                "300",
                "--idle-timeout",
                "3",
                "--quiet",
            ],
        );
        assert_eq!(bench["ok"], 300, "{bench}");

        // topic delete
        ok(ns, &["topic", "delete", "-t", "CliTopic"]);
        assert_eq!(code(ns, &["topic", "route", "-t", "CliTopic"]), 4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_runtimes_and_errors() {
    with_cluster(|ns| {
        let ns = ns.as_str();
        for rt in ["async-std", "smol"] {
            ok(
                ns,
                &["--runtime", rt, "send", "-t", "RtTopic", "--body", rt],
            );
            let out = ok(
                ns,
                &[
                    "--runtime",
                    rt,
                    "--json",
                    "consume",
                    "-t",
                    "RtTopic",
                    "--expr",
                    "*",
                    "--idle-timeout",
                    "0.5",
                ],
            );
            assert!(out.contains(&format!("\"body\":\"{rt}\"")), "{out}");
        }
        // Unknown topic: 4. Unreachable NameServer: 3. Usage: 2.
        assert_eq!(code(ns, &["topic", "route", "-t", "NoSuchTopic"]), 4);
        assert_eq!(code(ns, &["topic", "status", "-t", "NoSuchTopic"]), 4);
        assert_eq!(
            code("127.0.0.1:1", &["--timeout-ms", "500", "cluster", "list"]),
            3
        );
        assert_eq!(code(ns, &["topic", "create"]), 2);
        assert_eq!(
            code(
                ns,
                &[
                    "offset",
                    "reset",
                    "-g",
                    "g",
                    "-t",
                    "RtTopic",
                    "--timestamp",
                    "yesterday"
                ]
            ),
            2
        );
        let err = cli("127.0.0.1:1", &["--timeout-ms", "300", "topic", "list"]);
        let stderr = String::from_utf8_lossy(&err.stderr);
        assert!(
            stderr.contains("error:") && stderr.contains("127.0.0.1:1"),
            "{stderr}"
        );
    })
    .await;
}
