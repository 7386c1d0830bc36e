//! A compact, wire-compatible Apache RocketMQ broker: official RocketMQ clients produce to and
//! consume from it as from an Apache broker (remoting protocol, docs/protocol/).
//!
//! - [`store`]: the storage engine (commit log, consume queues, index, recovery).
//! - [`Broker`] / [`BrokerHandle`]: start and stop a broker in-process (tests bind port 0).
//! - [`processor`]: the request handlers, each holding only the services it uses;
//!   [`topic_config`], [`consumer_offset`], [`client_manager`], [`lock_manager`],
//!   [`long_poll`], [`schedule`], [`transaction`], [`ha`], [`namesrv_registration`],
//!   [`subscription_group`], [`pop`] (RocketMQ 5.x POP consumption): the broker's services.
//!
//! The library names no async runtime: pass any [`rocketmq_rs_remoting::rt::Runtime`].
//!
//! ```no_run
//! # async fn demo() -> rocketmq_rs_mini_broker::Result<()> {
//! use rocketmq_rs_mini_broker::{Broker, BrokerConfig};
//! let rt = rocketmq_rs_remoting::rt::default_runtime().expect("inside a runtime");
//! let mut cfg = BrokerConfig::for_test("/tmp/mini-broker-store");
//! cfg.namesrv_addrs = vec!["127.0.0.1:9876".into()];
//! let broker = Broker::start(cfg, rt).await?;
//! println!("broker at {}", broker.addr());
//! broker.shutdown().await;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod broker;
pub mod client_manager;
pub mod config;
pub mod consumer_offset;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod error;
pub mod faults;
pub mod filter;
pub mod ha;
pub mod lock_manager;
pub mod long_poll;
#[cfg(feature = "metrics-endpoint")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics-endpoint")))]
pub mod metrics;
pub mod namesrv_registration;
pub mod pop;
pub mod processor;
pub mod reply;
pub mod request_mode;
pub mod schedule;
pub mod stats;
pub mod store;
pub mod subscription_group;
pub mod topic_config;
pub mod transaction;

pub use broker::{Broker, BrokerHandle};
pub use config::{BrokerConfig, FlushDiskType};
pub use error::{BrokerError, Result};
