//! Runs every example (built by `cargo test` next to this test) against one embedded
//! cluster, through `NAMESRV_ADDR`, and checks each exits 0; then drives the `producer` and
//! `consumer` tools.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rocketmq_rs_mini_broker::embedded::EmbeddedCluster;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/run_examples-HASH -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example {name} not built at {} (cargo test builds examples)",
        path.display()
    );
    path
}

/// Runs an example with a deadline (kills it when late).
fn run(name: &str, ns: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(example(name))
        .args(args)
        .env("NAMESRV_ADDR", ns)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "example {name} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_ok(name: &str, out: &Output) {
    assert!(
        out.status.success(),
        "example {name} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const EXAMPLES: &[&str] = &[
    "quickstart",
    "sync_send",
    "async_send",
    "oneway_send",
    "ordered",
    "batch",
    "delay",
    "push_concurrent",
    "push_orderly",
    "broadcasting",
    "pull",
    "lite_pull",
    "transaction",
    "request_reply",
    "trace",
    "runtime_tokio",
    "runtime_async_std",
    "runtime_smol",
    "client_metrics",
];

async fn with_cluster(f: impl FnOnce(String) + Send + 'static) {
    let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
    let cluster = EmbeddedCluster::start(rt).await.unwrap();
    let ns = cluster.namesrv_addr();
    tokio::task::spawn_blocking(move || f(ns)).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_runs_against_the_embedded_cluster() {
    with_cluster(|ns| {
        for name in EXAMPLES {
            let started = Instant::now();
            let out = run(name, &ns, &[], Duration::from_secs(90));
            assert_ok(name, &out);
            eprintln!("example {name}: ok in {:?}", started.elapsed());
        }
    })
    .await;
}

#[test]
fn quickstart_runs_without_any_setup() {
    // No NAMESRV_ADDR: the demo starts its own servers.
    let out = Command::new(example("quickstart"))
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap();
    assert_ok("quickstart", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("received 1000"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_consumer_tools() {
    with_cluster(|ns| {
        let limit = Duration::from_secs(60);
        for (mode, rt) in [
            ("sync", "tokio"),
            ("async", "smol"),
            ("oneway", "async-std"),
            ("batch", "tokio"),
        ] {
            let out = run(
                "producer",
                &ns,
                &[
                    "--namesrv",
                    &ns,
                    "--topic",
                    "ToolTopic",
                    "--count",
                    "5",
                    "--mode",
                    mode,
                    "--tag",
                    "T1",
                    "--keys",
                    "k1",
                    "--prop",
                    "a=b",
                    "--runtime",
                    rt,
                ],
                limit,
            );
            assert_ok("producer", &out);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.trim_end().ends_with("sent=5 ok=5 failed=0"),
                "{mode}: {text}"
            );
        }
        // 20 messages; read them with the push consumer and the lite pull consumer.
        for (extra, rt) in [(None, "tokio"), (Some("--pull"), "smol")] {
            let mut args = vec![
                "--namesrv",
                &ns,
                "--topic",
                "ToolTopic",
                "--count",
                "20",
                "--idle-timeout",
                "20",
                "--runtime",
                rt,
            ];
            let group = format!("tool_cg_{rt}");
            args.extend(["--group", group.as_str()]);
            args.extend(extra);
            let out = run("consumer", &ns, &args, limit);
            assert_ok("consumer", &out);
            let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 20, "{extra:?}");
            assert!(lines.iter().all(|m| m["topic"] == "ToolTopic"
                && m["tags"] == "T1"
                && m["keys"] == "k1"
                && m["properties"]["a"] == "b"
                && m["body"] == "hello"));
        }
        // Not enough messages: exit 1 after the idle timeout.
        let out = run(
            "consumer",
            &ns,
            &[
                "--namesrv",
                &ns,
                "--topic",
                "ToolTopic",
                "--group",
                "tool_cg_more",
                "--count",
                "21",
                "--idle-timeout",
                "3",
            ],
            limit,
        );
        assert_eq!(out.status.code(), Some(1));
        // Binary body comes out as base64.
        let out = run(
            "producer",
            &ns,
            &[
                "--namesrv",
                &ns,
                "--topic",
                "ToolBin",
                "--count",
                "1",
                "--body-size",
                "3",
            ],
            limit,
        );
        assert_ok("producer", &out);
        let out = run(
            "consumer",
            &ns,
            &[
                "--namesrv",
                &ns,
                "--topic",
                "ToolBin",
                "--count",
                "1",
                "--idle-timeout",
                "20",
            ],
            limit,
        );
        assert_ok("consumer", &out);
        let line: serde_json::Value =
            serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(line["body"], "xxx");
        // A zstd-compressed body (over the 4096-byte threshold) reads back plain.
        let out = run(
            "producer",
            &ns,
            &[
                "--namesrv",
                &ns,
                "--topic",
                "ToolZstd",
                "--count",
                "1",
                "--body-size",
                "5000",
                "--compress-type",
                "zstd",
            ],
            limit,
        );
        assert_ok("producer", &out);
        let out = run(
            "consumer",
            &ns,
            &[
                "--namesrv",
                &ns,
                "--topic",
                "ToolZstd",
                "--count",
                "1",
                "--idle-timeout",
                "20",
            ],
            limit,
        );
        assert_ok("consumer", &out);
        let line: serde_json::Value =
            serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(line["body"], "x".repeat(5000));
    })
    .await;
}
