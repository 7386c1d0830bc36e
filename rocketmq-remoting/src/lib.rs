//! The Apache RocketMQ "remoting" protocol, spoken over TCP by every RocketMQ client, broker and
//! NameServer.
//!
//! - [`protocol`]: the frame codec (JSON and binary ROCKETMQ headers), request and response codes,
//!   typed command headers and JSON bodies, and the message encodings (properties string, stored
//!   message records, batches, message ids, compression).
//! - [`transport`]: client connections (requests matched by `opaque`, oneway, broker-initiated
//!   requests), a connection pool, and a server that the mini NameServer and broker build on.
//! - [`acl`]: ACL 1.0 request signing (clients) and access checks (servers).
//! - `tls` (feature `tls`): TLS for clients and servers over rustls.
//! - `metrics_endpoint` (feature `metrics-endpoint`): a Prometheus scrape endpoint for servers.
//! - [`rt`]: the pluggable async [`rt::Runtime`], with tokio, async-std and smol implementations
//!   behind the `runtime-tokio` (default), `runtime-async-std` and `runtime-smol` features.
//!
//! ```
//! use rocketmq_rs_remoting::protocol::{RemotingCommand, code::RequestCode};
//!
//! let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
//! cmd.ext_fields.insert("topic", "TopicTest");
//! assert!(!cmd.is_response());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod acl;
pub mod error;
#[cfg(feature = "metrics-endpoint")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics-endpoint")))]
pub mod metrics_endpoint;
pub mod protocol;
pub mod rt;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod transport;
pub mod util;

pub use error::RemotingError;
pub use protocol::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
