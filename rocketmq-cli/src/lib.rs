//! `rocketmq-cli`: a command-line tool for Apache RocketMQ clusters (and this project's
//! mini-namesrv / mini-broker), speaking the remoting protocol through `rocketmq-client`.
//!
//! The daily `mqadmin` operations (topics, clusters, consumer progress, offsets, message
//! lookups; subscription groups and producer/consumer connections in [`groups`] and
//! [`clients`]; questions relayed to running consumers — their offsets, running info, an
//! online offset reset — in [`clients`]), `send` / `consume`, and `bench produce` /
//! `bench consume`. Text tables by
//! default, `--json` for scripts. Exit codes ([`error`]): 0 ok, 1 failed, 2 usage,
//! 3 unreachable, 4 not found.
//!
//! The library is runtime-agnostic (commands take an `Arc<dyn Runtime>`); the binary picks
//! tokio, async-std or smol from `--runtime`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod cli;
pub mod clients;
pub mod consume;
pub mod error;
pub mod groups;
pub mod output;
pub mod produce;
pub mod stats;

pub use cli::{run, Cli, RuntimeChoice};
pub use error::CliError;
