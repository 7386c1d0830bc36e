//! The command line (clap) and its dispatch to the command implementations.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rocketmq_rs_remoting::rt::Runtime;
use serde_json::json;

use crate::admin::{self, CreateTopic, Ctx, Report};
use crate::clients::{self, ResetMode};
use crate::consume::{self, ConsumeOpts, StartFrom};
use crate::error::{CliError, Result};
use crate::groups;
use crate::output::message_json;
use crate::produce::{self, filler_body, parse_prop, MessageSpec, ProduceBench, SendMode};

/// Which async runtime runs the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeChoice {
    /// tokio (multi-threaded).
    Tokio,
    /// async-std.
    AsyncStd,
    /// smol.
    Smol,
}

/// Operate an Apache RocketMQ (or mini-broker) cluster: topics, clusters, offsets,
/// messages, send/consume and benchmarks.
///
/// Exit codes: 0 ok, 1 operation failed, 2 bad usage, 3 NameServer/broker unreachable,
/// 4 topic/message/group not found.
#[derive(Debug, Parser)]
#[command(name = "rocketmq-cli", version, about, long_about = None)]
pub struct Cli {
    /// NameServer address(es), `host:port[;host:port]`.
    #[arg(
        short = 'n',
        long = "namesrv",
        env = "NAMESRV_ADDR",
        global = true,
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Timeout of each request, in milliseconds.
    #[arg(long = "timeout-ms", global = true, default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Async runtime.
    #[arg(long, value_enum, global = true, default_value = "tokio")]
    pub runtime: RuntimeChoice,
    /// ACL access key: every request is signed with it and `--secret-key` (ACL 1.0; Apache
    /// 5.x brokers with ACL 2.0 accept the same signature, user = access key).
    #[arg(
        long = "access-key",
        env = "ROCKETMQ_ACCESS_KEY",
        global = true,
        requires = "secret_key"
    )]
    pub access_key: Option<String>,
    /// ACL secret key (see `--access-key`).
    #[arg(
        long = "secret-key",
        env = "ROCKETMQ_SECRET_KEY",
        global = true,
        hide_env_values = true,
        requires = "access_key"
    )]
    pub secret_key: Option<String>,
    /// Speak TLS to NameServers and brokers, trusting the CA certificate(s) in this PEM file.
    #[arg(long = "tls-ca", value_name = "PEM", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// With `--tls-ca`: check certificates against this name instead of the host dialled
    /// (routes carry IP addresses; certificates often name a host).
    #[arg(long = "tls-server-name", global = true, requires = "tls_ca")]
    pub tls_server_name: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Clusters and brokers.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Topics: create, update, delete, route, status, list.
    #[command(subcommand)]
    Topic(TopicCmd),
    /// Consumer groups.
    #[command(subcommand)]
    Consumer(ConsumerCmd),
    /// Subscription groups: a consumer group's settings on the brokers (retries, switches).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Producer groups.
    #[command(subcommand)]
    Producer(ProducerCmd),
    /// Consumer offsets.
    #[command(subcommand)]
    Offset(OffsetCmd),
    /// Look messages up.
    #[command(subcommand)]
    Message(MessageCmd),
    /// Send messages.
    Send(SendArgs),
    /// Read messages from every queue of a topic and print them (one JSON line each with --json).
    Consume(ConsumeArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
}

/// `cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Every broker of every cluster.
    List,
}

/// `topic ...`
#[derive(Debug, Subcommand)]
pub enum TopicCmd {
    /// Create or update a topic on the masters of a cluster (default: all) or one broker.
    #[command(visible_alias = "update")]
    Create {
        /// Topic.
        #[arg(short, long)]
        topic: String,
        /// Cluster.
        #[arg(short, long, conflicts_with = "broker")]
        cluster: Option<String>,
        /// One broker address (`host:port`).
        #[arg(short, long)]
        broker: Option<String>,
        /// Read and write queues.
        #[arg(short, long, default_value_t = 8)]
        queues: i32,
        /// Permission bits: 2 write, 4 read, 6 both.
        #[arg(short, long, default_value_t = 6)]
        perm: i32,
        /// Ordered topic.
        #[arg(long)]
        order: bool,
    },
    /// Delete a topic from its brokers and the NameServers.
    Delete {
        /// Topic.
        #[arg(short, long)]
        topic: String,
        /// Only this cluster.
        #[arg(short, long)]
        cluster: Option<String>,
    },
    /// Brokers and queues of a topic.
    Route {
        /// Topic.
        #[arg(short, long)]
        topic: String,
    },
    /// Min / max offset per queue.
    Status {
        /// Topic.
        #[arg(short, long)]
        topic: String,
    },
    /// All topics.
    List,
}

/// `consumer ...`
#[derive(Debug, Subcommand)]
pub enum ConsumerCmd {
    /// Committed offset and lag per queue.
    Progress {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
        /// Topic.
        #[arg(short, long)]
        topic: String,
    },
    /// Each online consumer's in-memory offset per queue of a topic (asked through a broker).
    Status {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
        /// Topic.
        #[arg(short, long)]
        topic: String,
        /// Only this client id.
        #[arg(short = 'i', long = "client")]
        client: Option<String>,
    },
    /// What each online consumer reports about itself: settings, subscriptions, per-queue
    /// offset, buffered messages, last pull and consume times, rates.
    RunningInfo {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
        /// Only this client id.
        #[arg(short = 'i', long = "client")]
        client: Option<String>,
    },
    /// The group's connected clients (id, address, language, version) and subscriptions.
    Connections {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
    },
}

/// Which brokers a `group` command talks to.
#[derive(Debug, Clone, Args)]
pub struct GroupTarget {
    /// One broker address (`host:port`).
    #[arg(short, long, conflicts_with = "cluster")]
    pub broker: Option<String>,
    /// The masters of this cluster (default: every master of every cluster).
    #[arg(short, long)]
    pub cluster: Option<String>,
}

impl GroupTarget {
    fn target(&self) -> groups::Target {
        groups::Target {
            broker: self.broker.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

/// `group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a subscription group or change its settings; settings not given keep their
    /// current value (Apache's defaults for a new group: 16 retries, 1 retry queue, consuming
    /// enabled).
    #[command(visible_alias = "create")]
    Update {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
        /// Where.
        #[command(flatten)]
        target: GroupTarget,
        /// Deliveries before a message goes to the dead-letter queue.
        #[arg(long = "retry-max")]
        retry_max: Option<i32>,
        /// Queues of the group's retry topic.
        #[arg(long = "retry-queues")]
        retry_queues: Option<i32>,
        /// Whether the group may consume at all.
        #[arg(long = "consume-enable")]
        consume_enable: Option<bool>,
        /// Whether broadcasting consumers of the group may consume.
        #[arg(long = "broadcast-enable")]
        broadcast_enable: Option<bool>,
        /// Whether the broker tells the group's consumers when members join or leave.
        #[arg(long = "notify-enable")]
        notify_enable: Option<bool>,
        /// The group consumes in order (5.x).
        #[arg(long)]
        orderly: Option<bool>,
        /// Broker id suggested to consumers that keep up (slave reading).
        #[arg(long = "broker-id")]
        broker_id: Option<i64>,
        /// Broker id suggested to consumers that fall behind (slave reading).
        #[arg(long = "slow-broker-id")]
        slow_broker_id: Option<i64>,
    },
    /// Delete a subscription group.
    Delete {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
        /// Where.
        #[command(flatten)]
        target: GroupTarget,
        /// Drop the group's committed offsets too.
        #[arg(long = "clean-offsets")]
        clean_offsets: bool,
    },
    /// The subscription groups of the brokers (with --group: just that one; exit code 4 when
    /// no broker has it).
    List {
        /// Only this group.
        #[arg(short, long)]
        group: Option<String>,
        /// Where.
        #[command(flatten)]
        target: GroupTarget,
    },
}

/// `producer ...`
#[derive(Debug, Subcommand)]
pub enum ProducerCmd {
    /// The group's producers connected to the brokers of a topic (id, address, language,
    /// version).
    Connections {
        /// Producer group.
        #[arg(short, long)]
        group: String,
        /// A topic the producers send to (its brokers are asked).
        #[arg(short, long)]
        topic: String,
    },
}

/// `offset ...`
#[derive(Debug, Subcommand)]
pub enum OffsetCmd {
    /// Reset a group's offsets of a topic to a point in time. Running consumers are told to
    /// restart there (through their brokers); when none is online the committed offsets are
    /// rewritten instead, as `mqadmin resetOffsetByTime` does.
    Reset {
        /// Consumer group.
        #[arg(short, long)]
        group: String,
        /// Topic.
        #[arg(short, long)]
        topic: String,
        /// Epoch milliseconds, `now`, or relative like `-10m`, `-2h`, `-1d`.
        #[arg(long, allow_hyphen_values = true)]
        timestamp: String,
        /// `false`: only move queues backwards (a queue whose offset is already before the
        /// time keeps it).
        #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
        force: bool,
        /// Only rewrite the committed offsets, without asking the brokers to reach running
        /// consumers (which then overwrite the reset at their next commit).
        #[arg(long)]
        offline: bool,
    },
}

/// `message ...`
#[derive(Debug, Subcommand)]
pub enum MessageCmd {
    /// By message id: the client id (needs --topic) or the broker's offset id.
    QueryId {
        /// Message id.
        #[arg(short, long)]
        id: String,
        /// Topic.
        #[arg(short, long)]
        topic: Option<String>,
    },
    /// By key.
    QueryKey {
        /// Topic.
        #[arg(short, long)]
        topic: String,
        /// Key.
        #[arg(short, long)]
        key: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 32)]
        max: i32,
    },
}

/// Message content options.
#[derive(Debug, Clone, Args)]
pub struct MessageArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Key (repeatable).
    #[arg(long = "keys")]
    pub keys: Vec<String>,
    /// User property `k=v` (repeatable).
    #[arg(long = "prop", value_parser = parse_prop)]
    pub props: Vec<(String, String)>,
    /// Body text.
    #[arg(long, conflicts_with = "body_size")]
    pub body: Option<String>,
    /// Body of this many bytes (filler).
    #[arg(long = "body-size")]
    pub body_size: Option<usize>,
}

impl MessageArgs {
    fn spec(&self, default_size: usize) -> MessageSpec {
        let body = match (&self.body, self.body_size) {
            (Some(b), _) => bytes::Bytes::from(b.clone()),
            (None, Some(n)) => filler_body(n),
            (None, None) => filler_body(default_size),
        };
        MessageSpec {
            topic: self.topic.clone(),
            tag: self.tag.clone(),
            keys: self.keys.clone(),
            props: self.props.clone(),
            body,
        }
    }
}

/// `send`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Message content.
    #[command(flatten)]
    pub msg: MessageArgs,
    /// Number of messages.
    #[arg(long, default_value_t = 1)]
    pub count: u64,
    /// Producer group.
    #[arg(long, default_value = "rocketmq_cli_producer")]
    pub group: String,
}

/// `consume` and `bench consume`
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Consumer group (for --from committed and --commit).
    #[arg(short, long, default_value = "rocketmq_cli_consumer")]
    pub group: String,
    /// Tag expression: `*` or `tagA || tagB`.
    #[arg(long, default_value = "*")]
    pub expr: String,
    /// Where to start.
    #[arg(long, value_enum, default_value = "first")]
    pub from: StartFrom,
    /// Stop after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds without a message.
    #[arg(long = "idle-timeout", default_value_t = 3.0)]
    pub idle_timeout: f64,
    /// Stop after this many seconds in total.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Commit the group's offsets when done.
    #[arg(long)]
    pub commit: bool,
}

impl ConsumeArgs {
    fn opts(&self) -> Result<ConsumeOpts> {
        Ok(ConsumeOpts {
            topic: self.topic.clone(),
            group: self.group.clone(),
            expr: self.expr.clone(),
            from: self.from,
            count: self.count,
            idle_timeout: secs(self.idle_timeout, "--idle-timeout")?,
            duration: self.duration.map(|d| secs(d, "--duration")).transpose()?,
            commit: self.commit,
        })
    }
}

fn secs(v: f64, name: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| CliError::Usage(format!("{name} must be >= 0")))
}

/// `bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Send as fast as possible; report TPS and latency percentiles.
    Produce {
        /// Message content (default body: 128 bytes).
        #[command(flatten)]
        msg: MessageArgs,
        /// Concurrent senders.
        #[arg(short, long, default_value_t = 4)]
        concurrency: usize,
        /// Sends in flight per sender (async mode).
        #[arg(long, default_value_t = 32)]
        inflight: usize,
        /// Send mode.
        #[arg(long, value_enum, default_value = "sync")]
        mode: SendMode,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds (default 10 when --count is absent).
        #[arg(long)]
        duration: Option<f64>,
        /// Producer group.
        #[arg(long, default_value = "rocketmq_cli_bench")]
        group: String,
        /// No progress line.
        #[arg(long)]
        quiet: bool,
    },
    /// Read as fast as possible; report TPS and end-to-end latency (born → received).
    Consume {
        /// What to read.
        #[command(flatten)]
        args: ConsumeArgs,
        /// No progress line.
        #[arg(long)]
        quiet: bool,
    },
}

/// Runs `cli` on `rt`, printing results to stdout. Errors are returned for `main` to print
/// and map to an exit code.
pub async fn run(cli: Cli, rt: Arc<dyn Runtime>) -> Result<()> {
    let ctx = Ctx::with_transport(
        &cli.namesrv,
        rt,
        Duration::from_millis(cli.timeout_ms.max(1)),
        security(&cli)?,
    )?;
    let r = dispatch(&cli, &ctx).await;
    ctx.close().await;
    r
}

/// The ACL credentials and TLS settings of the command line, on a default transport.
fn security(cli: &Cli) -> Result<rocketmq_rs_remoting::transport::TransportConfig> {
    let mut t = rocketmq_rs_remoting::transport::TransportConfig::default();
    if let (Some(ak), Some(sk)) = (&cli.access_key, &cli.secret_key) {
        t.credentials = Some(rocketmq_rs_remoting::acl::AclCredentials::new(ak, sk));
    }
    if let Some(ca) = &cli.tls_ca {
        let bad = |e: rocketmq_rs_remoting::tls::TlsConfigError| {
            CliError::Usage(format!("--tls-ca: {e}"))
        };
        let mut tls = rocketmq_rs_remoting::tls::TlsClientConfig::builder()
            .add_ca_pem_file(ca)
            .map_err(bad)?
            .build()
            .map_err(bad)?;
        if let Some(name) = &cli.tls_server_name {
            tls = tls.with_server_name(name).map_err(bad)?;
        }
        t.tls = Some(tls);
    }
    Ok(t)
}

fn print(cli: &Cli, r: Report) {
    if cli.json {
        println!("{}", r.json);
    } else {
        print!("{}", r.text);
    }
}

async fn dispatch(cli: &Cli, ctx: &Ctx) -> Result<()> {
    let report = match &cli.command {
        Command::Cluster(ClusterCmd::List) => admin::cluster_list(ctx).await?,
        Command::Topic(TopicCmd::List) => admin::topic_list(ctx).await?,
        Command::Topic(TopicCmd::Create {
            topic,
            cluster,
            broker,
            queues,
            perm,
            order,
        }) => {
            admin::topic_create(
                ctx,
                &CreateTopic {
                    topic: topic.clone(),
                    cluster: cluster.clone(),
                    broker: broker.clone(),
                    queues: *queues,
                    perm: *perm,
                    order: *order,
                },
            )
            .await?
        }
        Command::Topic(TopicCmd::Delete { topic, cluster }) => {
            admin::topic_delete(ctx, topic, cluster.as_deref()).await?
        }
        Command::Topic(TopicCmd::Route { topic }) => admin::topic_route(ctx, topic).await?,
        Command::Topic(TopicCmd::Status { topic }) => admin::topic_status(ctx, topic).await?,
        Command::Consumer(ConsumerCmd::Progress { group, topic }) => {
            admin::consumer_progress(ctx, group, topic).await?
        }
        Command::Consumer(ConsumerCmd::Status {
            group,
            topic,
            client,
        }) => clients::consumer_status(ctx, group, topic, client.as_deref()).await?,
        Command::Consumer(ConsumerCmd::RunningInfo { group, client }) => {
            clients::consumer_running_info(ctx, group, client.as_deref()).await?
        }
        Command::Consumer(ConsumerCmd::Connections { group }) => {
            clients::consumer_connections(ctx, group).await?
        }
        Command::Group(GroupCmd::Update {
            group,
            target,
            retry_max,
            retry_queues,
            consume_enable,
            broadcast_enable,
            notify_enable,
            orderly,
            broker_id,
            slow_broker_id,
        }) => {
            let settings = groups::GroupSettings {
                retry_max_times: *retry_max,
                retry_queue_nums: *retry_queues,
                consume_enable: *consume_enable,
                consume_broadcast_enable: *broadcast_enable,
                notify_consumer_ids_changed_enable: *notify_enable,
                consume_message_orderly: *orderly,
                broker_id: *broker_id,
                which_broker_when_consume_slowly: *slow_broker_id,
            };
            groups::group_update(ctx, group, &target.target(), &settings).await?
        }
        Command::Group(GroupCmd::Delete {
            group,
            target,
            clean_offsets,
        }) => groups::group_delete(ctx, group, &target.target(), *clean_offsets).await?,
        Command::Group(GroupCmd::List { group, target }) => {
            groups::group_list(ctx, &target.target(), group.as_deref()).await?
        }
        Command::Producer(ProducerCmd::Connections { group, topic }) => {
            groups::producer_connections(ctx, group, topic).await?
        }
        Command::Offset(OffsetCmd::Reset {
            group,
            topic,
            timestamp,
            force,
            offline,
        }) => {
            let ts = admin::parse_timestamp(timestamp, rocketmq_rs_remoting::util::now_ms())?;
            let mode = if *offline {
                ResetMode::Offline
            } else {
                ResetMode::Online
            };
            clients::offset_reset(ctx, group, topic, ts, *force, mode).await?
        }
        Command::Message(MessageCmd::QueryId { id, topic }) => {
            admin::message_by_id(ctx, topic.as_deref(), id).await?
        }
        Command::Message(MessageCmd::QueryKey { topic, key, max }) => {
            admin::message_by_key(ctx, topic, key, *max).await?
        }
        Command::Send(a) => produce::send(ctx, &a.msg.spec(16), a.count, &a.group).await?,
        Command::Consume(a) => {
            let o = a.opts()?;
            let json = cli.json;
            let n = consume::consume(ctx, &o, |m| {
                if json {
                    println!("{}", message_json(m));
                } else {
                    println!(
                        "{} {}:{}@{} tags={} keys={} body={}",
                        crate::output::user_msg_id(m),
                        m.topic,
                        m.queue_id,
                        m.queue_offset,
                        m.property("TAGS").unwrap_or("-"),
                        m.property("KEYS").unwrap_or("-"),
                        String::from_utf8_lossy(&m.body)
                    );
                }
            })
            .await?;
            eprintln!("consumed {n} message(s)");
            if let Some(c) = o.count {
                if n < c {
                    return Err(CliError::Failed(format!("consumed {n} of {c} messages")));
                }
            }
            return Ok(());
        }
        Command::Bench(BenchCmd::Produce {
            msg,
            concurrency,
            inflight,
            mode,
            count,
            duration,
            group,
            quiet,
        }) => {
            let duration = match (duration, count) {
                (Some(d), _) => Some(secs(*d, "--duration")?),
                (None, None) => Some(Duration::from_secs(10)),
                (None, Some(_)) => None,
            };
            let b = ProduceBench {
                spec: msg.spec(128),
                concurrency: *concurrency,
                inflight: *inflight,
                mode: *mode,
                count: *count,
                duration,
                group: group.clone(),
                progress: !quiet,
            };
            let r = produce::bench_produce(ctx, &b).await?;
            bench_report(cli, &r);
            if r.failed > 0 || count.is_some_and(|c| r.ok < c) {
                return Err(CliError::Failed(format!("{} send(s) failed", r.failed)));
            }
            return Ok(());
        }
        Command::Bench(BenchCmd::Consume { args, quiet }) => {
            let o = args.opts()?;
            let r = consume::bench_consume(ctx, &o, !quiet).await?;
            bench_report(cli, &r);
            if o.count.is_some_and(|c| r.ok < c) {
                return Err(CliError::Failed(format!("consumed {} messages", r.ok)));
            }
            return Ok(());
        }
    };
    print(cli, report);
    Ok(())
}

fn bench_report(cli: &Cli, r: &crate::stats::BenchReport) {
    if cli.json {
        println!("{}", json!(r));
    } else {
        println!("{r}");
    }
}

#[cfg(test)]
mod security_flags {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(["rocketmq-cli"].iter().chain(args).copied())
    }

    #[test]
    fn keys_come_in_pairs_and_tls_needs_a_readable_ca() {
        assert!(parse(&["--access-key", "ak", "cluster", "list"]).is_err());
        assert!(parse(&["--secret-key", "sk", "cluster", "list"]).is_err());
        assert!(parse(&["--tls-server-name", "h", "cluster", "list"]).is_err());
        let cli = parse(&[
            "--access-key",
            "ak",
            "--secret-key",
            "sk",
            "cluster",
            "list",
        ])
        .unwrap();
        let t = security(&cli).unwrap();
        assert_eq!(t.credentials.unwrap().access_key, "ak");
        assert!(t.tls.is_none());

        let cli = parse(&["--tls-ca", "/nonexistent/ca.pem", "cluster", "list"]).unwrap();
        match security(&cli) {
            Err(CliError::Usage(m)) => assert!(m.contains("--tls-ca"), "{m}"),
            other => panic!("want a usage error, got {other:?}"),
        }
    }
}
