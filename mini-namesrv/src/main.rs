//! `mini-namesrv`: run a RocketMQ NameServer.
//!
//! ```text
//! mini-namesrv --listen 127.0.0.1:9876 [--config namesrv.properties] [--broker-expiry-secs 120]
//!              [--scan-interval-ms 5000] [--kv-config-path kvConfig.json] [--log-level info]
//!              [--metrics-listen 127.0.0.1:9101]
//! ```
//!
//! `--metrics-listen ADDR` (config `metricsListen`; off by default) serves Prometheus metrics at
//! `http://ADDR/metrics`.
//!
//! Flags override the config file. Stops cleanly on SIGINT / SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};

/// A compact, wire-compatible Apache RocketMQ NameServer.
#[derive(Debug, Parser)]
#[command(name = "mini-namesrv", version, about)]
struct Cli {
    /// Address to listen on [default: 0.0.0.0:9876, or the config file's listenAddr/listenPort].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Configuration file: JSON (`{"brokerExpiryMillis":120000,...}`) or Java-style
    /// `key=value` properties (`scanNotActiveBrokerInterval=5000`, ...).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Remove a broker that has not re-registered for this many seconds [default: 120].
    #[arg(long, value_name = "SECS")]
    broker_expiry_secs: Option<u64>,
    /// How often to look for expired brokers, in milliseconds [default: 5000].
    #[arg(long, value_name = "MS")]
    scan_interval_ms: Option<u64>,
    /// Persist the KV config to this JSON file (Java kvConfig.json format) [default: memory only].
    #[arg(long, value_name = "FILE")]
    kv_config_path: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (config `metricsListen`) [default: off].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive such as
    /// `rocketmq_rs_mini_namesrv=debug`). `RUST_LOG` is used when this is absent.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

fn build_config(cli: &Cli) -> Result<NamesrvConfig, rocketmq_rs_mini_namesrv::Error> {
    let mut cfg = match &cli.config {
        Some(path) => NamesrvConfig::from_file(path)?,
        None => NamesrvConfig::default(),
    };
    if let Some(addr) = cli.listen {
        cfg.listen_addr = addr;
    }
    if let Some(secs) = cli.broker_expiry_secs {
        cfg.broker_expiry_millis = secs.saturating_mul(1000);
    }
    if let Some(ms) = cli.scan_interval_ms {
        cfg.scan_not_active_broker_interval = ms;
    }
    if let Some(a) = cli.metrics_listen {
        cfg.metrics_listen = Some(a);
    }
    if let Some(path) = &cli.kv_config_path {
        cfg.kv_config_path = Some(path.clone());
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
        tracing::info!("Ctrl-C received");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match &cli.log_level {
        Some(level) => tracing_subscriber::EnvFilter::try_new(level),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new("info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mini-namesrv: invalid --log-level: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let cfg = match build_config(&cli) {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt: Arc<dyn Runtime> = match TokioRuntime::try_current() {
        Some(rt) => Arc::new(rt),
        None => {
            tracing::error!("no tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let ns = match NameServer::start(cfg, rt).await {
        Ok(ns) => ns,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %ns.addr(), "The Name Server boot success.");
    wait_for_signal().await;
    ns.shutdown().await;
    ExitCode::SUCCESS
}
