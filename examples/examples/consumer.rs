//! A general consumer for scripts and manual tests:
//!
//! ```text
//! consumer --namesrv ADDR --topic T --group G [--expr '*'] [--model clustering|broadcasting]
//!          [--from first|last] [--count N] [--idle-timeout S] [--pull]
//!          [--runtime tokio|async-std|smol]
//! ```
//!
//! Prints one JSON line per message (topic, queueId, queueOffset, msgId, tags, keys,
//! properties, reconsumeTimes, body — or bodyBase64 when the body is not UTF-8) and exits
//! after N messages or S idle seconds; exit code 0 if it reached N (or no N was given).
//! `--pull` uses the lite pull consumer instead of the push consumer.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Parser, ValueEnum};
use examples::{BoxError, Cluster};
use rocketmq_rs_client::consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeResult, LitePullConsumer, MessageModel, PushConsumer,
};
use rocketmq_rs_client::message::MessageExt;
use rocketmq_rs_remoting::rt::{AsyncStdRuntime, Runtime, SmolRuntime, TokioRuntime};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Model {
    Clustering,
    Broadcasting,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum From {
    First,
    Last,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Rt {
    Tokio,
    AsyncStd,
    Smol,
}

#[derive(Debug, Parser)]
#[command(about = "Consume messages and print them as JSON lines")]
struct Args {
    /// NameServer address(es); default: $NAMESRV_ADDR, else an embedded cluster.
    #[arg(long)]
    namesrv: Option<String>,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "example_consumer")]
    group: String,
    /// Tag expression.
    #[arg(long, default_value = "*")]
    expr: String,
    #[arg(long, value_enum, default_value = "clustering")]
    model: Model,
    #[arg(long, value_enum, default_value = "first")]
    from: From,
    /// Exit after this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// Exit after this many seconds without a message.
    #[arg(long = "idle-timeout", default_value_t = 10.0)]
    idle_timeout: f64,
    /// Use the lite pull consumer.
    #[arg(long)]
    pull: bool,
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

/// The JSON line of one message.
fn to_json(m: &MessageExt) -> Value {
    let props: Map<String, Value> = m
        .properties
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut v = json!({
        "topic": m.topic,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "msgId": m.property("UNIQ_KEY").unwrap_or(&m.msg_id),
        "tags": m.property("TAGS"),
        "keys": m.property("KEYS"),
        "properties": props,
        "reconsumeTimes": m.reconsume_times,
    });
    match std::str::from_utf8(&m.body) {
        Ok(s) => v["body"] = json!(s),
        Err(_) => {
            v["bodyBase64"] = json!(base64::engine::general_purpose::STANDARD.encode(&m.body))
        }
    }
    v
}

/// Prints messages and counts them; remembers when the last one came.
struct Printer {
    printed: AtomicU64,
    last: Mutex<Instant>,
    limit: Option<u64>,
}

impl Printer {
    fn print(&self, msgs: &[MessageExt]) {
        let mut out = std::io::stdout().lock();
        for m in msgs {
            let n = self.printed.fetch_add(1, Ordering::SeqCst);
            if self.limit.is_some_and(|l| n >= l) {
                break;
            }
            let _ = writeln!(out, "{}", to_json(m));
        }
        let _ = out.flush();
        *self.last.lock().unwrap() = Instant::now();
    }

    fn done(&self, idle: Duration) -> bool {
        self.limit
            .is_some_and(|l| self.printed.load(Ordering::SeqCst) >= l)
            || self.last.lock().unwrap().elapsed() >= idle
    }
}

async fn run(a: Args, rt: Arc<dyn Runtime>) -> Result<bool, BoxError> {
    if let Some(ns) = &a.namesrv {
        std::env::set_var("NAMESRV_ADDR", ns);
    }
    let cluster = Cluster::from_env_or_embedded(rt.clone()).await?;
    let idle =
        Duration::try_from_secs_f64(a.idle_timeout).map_err(|_| "--idle-timeout must be >= 0")?;
    let printer = Arc::new(Printer {
        printed: AtomicU64::new(0),
        last: Mutex::new(Instant::now()),
        limit: a.count,
    });
    let from = match a.from {
        From::First => ConsumeFromWhere::FirstOffset,
        From::Last => ConsumeFromWhere::LastOffset,
    };
    let model = match a.model {
        Model::Clustering => MessageModel::Clustering,
        Model::Broadcasting => MessageModel::Broadcasting,
    };
    if a.pull {
        let consumer = LitePullConsumer::builder()
            .client_config(cluster.client_config())
            .group(a.group.as_str())
            .subscribe(a.topic.as_str(), a.expr.as_str())
            .message_model(model)
            .consume_from_where(from)
            .build()?;
        consumer.start().await?;
        while !printer.done(idle) {
            let msgs = consumer.poll(Duration::from_millis(200)).await?;
            if !msgs.is_empty() {
                printer.print(&msgs);
            }
        }
        consumer.shutdown().await?;
    } else {
        let p = Arc::clone(&printer);
        let consumer = PushConsumer::builder()
            .client_config(cluster.client_config())
            .group(a.group.as_str())
            .subscribe(a.topic.as_str(), a.expr.as_str())
            .message_model(model)
            .consume_from_where(from)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                p.print(&msgs);
                async { ConsumeResult::Success }
            })
            .build()?;
        consumer.start().await?;
        while !printer.done(idle) {
            rt.sleep(Duration::from_millis(50)).await;
        }
        consumer.shutdown().await?;
    }
    cluster.shutdown().await;
    let n = printer.printed.load(Ordering::SeqCst);
    let n = a.count.map_or(n, |c| n.min(c));
    eprintln!("consumed={n}");
    Ok(!matches!(a.count, Some(c) if n < c))
}
