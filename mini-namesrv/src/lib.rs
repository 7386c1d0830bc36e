//! A compact NameServer that Apache RocketMQ clients (Java, Go, C++) and brokers (4.x, 5.x)
//! accept, built on `rocketmq-remoting` (docs/protocol/namesrv.md).
//!
//! - [`config`]: [`NamesrvConfig`] (JSON or `key=value` file, run-time updates);
//! - [`route_info`]: the routing tables and Java's registration, expiry and route rules;
//! - [`kv_config`]: the namespace/key/value store, persisted atomically;
//! - [`processor`]: request dispatch with Java's response codes and remarks;
//! - [`server`]: [`NameServer::start`] / [`NameServerHandle::shutdown`], the expiry scan.
//!
//! The library never names an async runtime: pass an `Arc<dyn Runtime>`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use rocketmq_rs_mini_namesrv::{NameServer, NamesrvConfig};
//! use rocketmq_rs_remoting::protocol::{RemotingCommand, code::{RequestCode, ResponseCode}};
//! use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};
//!
//! let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
//! let ns = NameServer::start(NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().unwrap()), rt.clone())
//!     .await
//!     .unwrap();
//!
//! let client = RemotingClient::new(rt, TransportConfig::default());
//! let mut req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
//! req.ext_fields.insert("topic", "TopicTest");
//! let resp = client.invoke(&ns.addr().to_string(), req, Duration::from_secs(3)).await.unwrap();
//! assert_eq!(resp.code, ResponseCode::TOPIC_NOT_EXIST);
//!
//! client.shutdown();
//! ns.shutdown().await;
//! # });
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod kv_config;
pub mod processor;
pub mod route_info;
pub mod server;

pub use config::NamesrvConfig;
pub use error::{Error, Result};
pub use server::{NameServer, NameServerHandle};
