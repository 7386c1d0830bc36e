//! A general producer for scripts and manual tests:
//!
//! ```text
//! producer --namesrv ADDR --topic T --count N [--mode sync|async|oneway|batch] [--tag TAG]
//!          [--keys K] [--prop k=v]... [--body TEXT | --body-size BYTES] [--group G]
//!          [--compress-type zlib|zstd|lz4] [--runtime tokio|async-std|smol]
//! ```
//!
//! Prints one line per failure and a final `sent=N ok=N failed=N`; exits 0 only if every
//! message was sent. Without `--namesrv` (and `NAMESRV_ADDR`) it starts an embedded cluster.

use std::sync::Arc;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use examples::{BoxError, Cluster};
use rocketmq_rs_client::message::Message;
use rocketmq_rs_client::producer::Producer;
use rocketmq_rs_remoting::protocol::message::CompressionType;
use rocketmq_rs_remoting::rt::{AsyncStdRuntime, Runtime, SmolRuntime, TokioRuntime};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Sync,
    Async,
    Oneway,
    Batch,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Rt {
    Tokio,
    AsyncStd,
    Smol,
}

#[derive(Debug, Parser)]
#[command(about = "Send N messages to a topic")]
struct Args {
    /// NameServer address(es); default: $NAMESRV_ADDR, else an embedded cluster.
    #[arg(long)]
    namesrv: Option<String>,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value_t = 1)]
    count: u64,
    #[arg(long, value_enum, default_value = "sync")]
    mode: Mode,
    #[arg(long)]
    tag: Option<String>,
    #[arg(long)]
    keys: Option<String>,
    /// User property k=v (repeatable).
    #[arg(long = "prop")]
    props: Vec<String>,
    #[arg(long, conflicts_with = "body_size")]
    body: Option<String>,
    #[arg(long = "body-size")]
    body_size: Option<usize>,
    #[arg(long, default_value = "example_producer")]
    group: String,
    /// Algorithm for bodies of 4096 bytes or more (Java's `compressType`).
    #[arg(long = "compress-type", default_value = "zlib")]
    compress_type: CompressionType,
    #[arg(long, value_enum, default_value = "tokio")]
    runtime: Rt,
}

fn main() {
    let args = Args::parse();
    let result = match args.runtime {
        Rt::Tokio => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(BoxError::from)
            .and_then(|t| {
                t.block_on(async {
                    let rt: Arc<dyn Runtime> =
                        Arc::new(TokioRuntime::from_handle(tokio::runtime::Handle::current()));
                    run(args, rt).await
                })
            }),
        Rt::AsyncStd => async_std::task::block_on(run(args, Arc::new(AsyncStdRuntime::new()))),
        Rt::Smol => smol::block_on(run(args, Arc::new(SmolRuntime::new()))),
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

fn message(a: &Args, body: &Bytes) -> Result<Message, BoxError> {
    let mut b = Message::builder(a.topic.as_str()).body(body.clone());
    if let Some(t) = &a.tag {
        b = b.tag(t.as_str());
    }
    if let Some(k) = &a.keys {
        b = b.keys(k.split_whitespace());
    }
    for p in &a.props {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--prop {p:?}: expected k=v"))?;
        b = b.property(k, v);
    }
    Ok(b.build()?)
}

/// Returns whether every message was sent.
async fn run(a: Args, rt: Arc<dyn Runtime>) -> Result<bool, BoxError> {
    let cluster = match &a.namesrv {
        Some(ns) => {
            std::env::set_var("NAMESRV_ADDR", ns);
            Cluster::from_env_or_embedded(rt.clone()).await?
        }
        None => Cluster::from_env_or_embedded(rt.clone()).await?,
    };
    let body = match (&a.body, a.body_size) {
        (Some(t), _) => Bytes::from(t.clone()),
        (None, Some(n)) => Bytes::from(vec![b'x'; n]),
        (None, None) => Bytes::from_static(b"hello"),
    };
    message(&a, &body)?; // validate the arguments once
    let producer = Producer::builder()
        .name_server(&cluster.namesrv)
        .runtime(rt)
        .group(a.group.as_str())
        .compress_type(a.compress_type)
        .build()?;
    producer.start().await?;

    let (mut ok, mut failed) = (0u64, 0u64);
    let mut report = |i: u64, r: Result<(), String>| match r {
        Ok(()) => ok += 1,
        Err(e) => {
            failed += 1;
            println!("message {i} failed: {e}");
        }
    };
    match a.mode {
        Mode::Sync => {
            for i in 0..a.count {
                report(
                    i,
                    producer
                        .send(message(&a, &body)?)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                );
            }
        }
        Mode::Oneway => {
            for i in 0..a.count {
                report(
                    i,
                    producer
                        .send_oneway(message(&a, &body)?)
                        .await
                        .map_err(|e| e.to_string()),
                );
            }
        }
        Mode::Async => {
            // Up to 64 in flight.
            let mut i = 0;
            while i < a.count {
                let n = (a.count - i).min(64);
                let futs = (0..n)
                    .map(|_| message(&a, &body).map(|m| producer.send_async(m)))
                    .collect::<Result<Vec<_>, _>>()?;
                for (j, r) in futures::future::join_all(futs)
                    .await
                    .into_iter()
                    .enumerate()
                {
                    report(i + j as u64, r.map(drop).map_err(|e| e.to_string()));
                }
                i += n;
            }
        }
        Mode::Batch => {
            let mut i = 0;
            while i < a.count {
                let n = (a.count - i).min(32);
                let msgs = (0..n)
                    .map(|_| message(&a, &body))
                    .collect::<Result<Vec<_>, _>>()?;
                let r = producer
                    .send_batch(msgs)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string());
                for j in 0..n {
                    report(i + j, r.clone());
                }
                i += n;
            }
        }
    }
    producer.shutdown().await;
    cluster.shutdown().await;
    println!("sent={} ok={ok} failed={failed}", a.count);
    Ok(failed == 0 && ok == a.count)
}
