//! `mini-broker`: run a compact RocketMQ broker.
//!
//! ```text
//! mini-broker --namesrv 127.0.0.1:9876 --listen 127.0.0.1:10911 --store DIR
//!             [--broker-name broker-a] [--broker-id 0] [--cluster DefaultCluster]
//!             [--flush sync|async] [--config broker.json] [--advertised-host IP]
//!             [--delay-levels "1s 5s ..."] [--no-auto-create-topic] [--log-level info]
//!             [--role ASYNC_MASTER|SYNC_MASTER|SLAVE] [--ha-listen ADDR]
//!             [--ha-master ADDR] [--master-addr ADDR] [--sync-replica-timeout-ms MS]
//!             [--ha-max-gap-bytes N] [--slave-read-enable] [--slave-suggest-lag-bytes N]
//!             [--access-key AK --secret-key SK [--security-token TOKEN]]
//!             [--max-connections N] [--enable-property-filter] [--metrics-listen ADDR]
//! ```
//!
//! `--metrics-listen 127.0.0.1:9100` (config `metricsListen`; off by default) serves Prometheus
//! metrics at `http://ADDR/metrics` (see the library's `metrics` module for the names).
//!
//! `--access-key`/`--secret-key` (config `accessKey`/`secretKey`): the ACL 1.0 credentials the
//! broker signs its NameServer requests with when the NameServers enforce an ACL.
//!
//! A slave: `--role SLAVE --broker-id 1 --ha-master MASTER_HA_ADDR --master-addr MASTER_ADDR`
//! (the master's HA port defaults to its listen port + 1).
//!
//! Flags override the config file. Stops cleanly on SIGINT / SIGTERM (flush, unregister).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, FlushDiskType};
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};

/// A compact, wire-compatible Apache RocketMQ broker.
#[derive(Debug, Parser)]
#[command(name = "mini-broker", version, about)]
struct Cli {
    /// NameServer address(es), `;` or `,` separated; may be repeated.
    #[arg(long, short = 'n', value_name = "ADDR")]
    namesrv: Vec<String>,
    /// Address to listen on [default: 0.0.0.0:10911].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Store directory [default: ./store].
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Broker name [default: broker-a].
    #[arg(long, value_name = "NAME")]
    broker_name: Option<String>,
    /// Broker id, 0 = master [default: 0].
    #[arg(long, value_name = "ID")]
    broker_id: Option<i64>,
    /// Cluster name [default: DefaultCluster].
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// IP advertised to clients [default: the listen IP, 127.0.0.1 for 0.0.0.0].
    #[arg(long, value_name = "IP")]
    advertised_host: Option<String>,
    /// Flush mode: `sync` (answer after fsync) or `async` [default: async].
    #[arg(long, value_name = "MODE", value_parser = ["sync", "async"])]
    flush: Option<String>,
    /// Delay levels, e.g. "1s 5s 10s" (units ms, s, m, h, d).
    #[arg(long, value_name = "LEVELS")]
    delay_levels: Option<String>,
    /// Do not auto-create unknown topics on send.
    #[arg(long)]
    no_auto_create_topic: bool,
    /// JSON configuration file (camelCase BrokerConfig fields).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Replication role: ASYNC_MASTER, SYNC_MASTER or SLAVE [default: ASYNC_MASTER].
    #[arg(long, value_name = "ROLE")]
    role: Option<rocketmq_rs_mini_broker::ha::BrokerRole>,
    /// Master: replication (HA) listen address [default: listen IP, listen port + 1].
    #[arg(long, value_name = "ADDR")]
    ha_listen: Option<SocketAddr>,
    /// Slave: the master's replication (HA) address.
    #[arg(long, value_name = "ADDR")]
    ha_master: Option<SocketAddr>,
    /// Slave: the master's remoting address, for copying topics and offsets.
    #[arg(long, value_name = "ADDR")]
    master_addr: Option<String>,
    /// SYNC_MASTER: longest wait for a slave acknowledgement [default: 3000].
    #[arg(long, value_name = "MS")]
    sync_replica_timeout_ms: Option<u64>,
    /// SYNC_MASTER: a slave further behind than this counts as unavailable [default: 256 MiB].
    #[arg(long, value_name = "BYTES")]
    ha_max_gap_bytes: Option<i64>,
    /// Master: suggest the slave to consumers that fall far behind.
    #[arg(long)]
    slave_read_enable: bool,
    /// Lag (bytes) beyond which the slave is suggested [default: 256 MiB].
    #[arg(long, value_name = "BYTES")]
    slave_suggest_lag_bytes: Option<i64>,
    /// ACL access key for signing NameServer requests (config `accessKey`); with --secret-key.
    #[arg(long, value_name = "AK")]
    access_key: Option<String>,
    /// ACL secret key (config `secretKey`). Prefer the config file: command lines are visible
    /// to other local users.
    #[arg(long, value_name = "SK")]
    secret_key: Option<String>,
    /// Optional ACL security token (config `securityToken`).
    #[arg(long, value_name = "TOKEN")]
    security_token: Option<String>,
    /// Most client connections open at once; more wait until one closes (config
    /// `maxConnections`) [default: 10000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Accept SQL92 subscriptions (`MessageSelector.bySql`), filtering by message properties
    /// (config `enablePropertyFilter`) [default: off, as Apache].
    #[arg(long)]
    enable_property_filter: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (config `metricsListen`) [default: off].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log filter (`info`, `debug`, `rocketmq_rs_mini_broker=debug`, ...); `RUST_LOG` when absent.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

fn build_config(cli: &Cli) -> rocketmq_rs_mini_broker::Result<BrokerConfig> {
    let mut cfg = match &cli.config {
        Some(p) => BrokerConfig::from_file(p)?,
        None => BrokerConfig::default(),
    };
    let ns: Vec<String> = cli
        .namesrv
        .iter()
        .flat_map(|s| s.split([';', ',']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !ns.is_empty() {
        cfg.namesrv_addrs = ns;
    }
    if let Some(a) = cli.listen {
        cfg.listen_addr = a;
    }
    if let Some(s) = &cli.store {
        cfg.store_path = s.clone();
    }
    if let Some(n) = &cli.broker_name {
        cfg.broker_name = n.clone();
    }
    if let Some(id) = cli.broker_id {
        cfg.broker_id = id;
    }
    if let Some(c) = &cli.cluster {
        cfg.broker_cluster_name = c.clone();
    }
    if let Some(h) = &cli.advertised_host {
        cfg.advertised_host = Some(h.clone());
    }
    match cli.flush.as_deref() {
        Some("sync") => cfg.flush_disk_type = FlushDiskType::SyncFlush,
        Some("async") => cfg.flush_disk_type = FlushDiskType::AsyncFlush,
        _ => {}
    }
    if let Some(l) = &cli.delay_levels {
        cfg.message_delay_level = l.clone();
    }
    if cli.no_auto_create_topic {
        cfg.auto_create_topic_enable = false;
    }
    if let Some(r) = cli.role {
        cfg.broker_role = r;
    }
    if let Some(a) = cli.ha_listen {
        cfg.ha_listen_addr = Some(a);
    }
    if let Some(a) = cli.ha_master {
        cfg.ha_master_address = Some(a);
    }
    if let Some(a) = &cli.master_addr {
        cfg.master_addr = Some(a.clone());
    }
    if let Some(ms) = cli.sync_replica_timeout_ms {
        cfg.sync_replica_timeout_ms = ms;
    }
    if let Some(n) = cli.ha_max_gap_bytes {
        cfg.ha_max_gap_bytes = n;
    }
    if cli.slave_read_enable {
        cfg.slave_read_enable = true;
    }
    if let Some(n) = cli.slave_suggest_lag_bytes {
        cfg.slave_suggest_lag_bytes = n;
    }
    if let Some(ak) = &cli.access_key {
        cfg.access_key = Some(ak.clone());
    }
    if let Some(sk) = &cli.secret_key {
        cfg.secret_key = Some(sk.as_str().into());
    }
    if let Some(t) = &cli.security_token {
        cfg.security_token = Some(t.as_str().into());
    }
    if let Some(n) = cli.max_connections {
        cfg.max_connections = n;
    }
    if cli.enable_property_filter {
        cfg.enable_property_filter = true;
    }
    if let Some(a) = cli.metrics_listen {
        cfg.metrics_listen = Some(a);
    }
    cfg.validate()?;
    Ok(cfg)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; waiting for SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = cli
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .init();
    let cfg = match build_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mini-broker: {e}");
            return ExitCode::from(2);
        }
    };
    let tokio_rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mini-broker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio_rt.block_on(async move {
        let rt: Arc<dyn Runtime> = match TokioRuntime::try_current() {
            Some(r) => Arc::new(r),
            None => {
                eprintln!("mini-broker: no tokio runtime");
                return ExitCode::FAILURE;
            }
        };
        let broker = match Broker::start(cfg, rt).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("mini-broker: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Tests and scripts read the bound address from this line. A reader that has gone
        // away (closed pipe) must not take the broker down, so write errors are ignored.
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "mini-broker listening on {}", broker.addr());
            if let Some(ha) = broker.ha_addr() {
                let _ = writeln!(out, "mini-broker replication listening on {ha}");
            }
            let _ = out.flush();
        }
        wait_for_signal().await;
        broker.shutdown().await;
        ExitCode::SUCCESS
    })
}
