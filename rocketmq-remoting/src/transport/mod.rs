//! Connections, the client connection pool, and the server.
//!
//! - [`Connection`]: one TCP connection carrying concurrent requests in both directions
//!   (docs/protocol/frame.md §1). A reader task decodes frames, routes responses to their waiting
//!   requests by `opaque`, and runs inbound requests through a [`RequestHandler`]; a single
//!   writer task coalesces queued frames into as few write calls as possible.
//! - [`RemotingClient`]: dials and pools one connection per address, with dial de-duplication
//!   and capped exponential back-off for dead peers.
//! - [`RemotingServer`]: an accept loop handing every connection to a [`RequestHandler`].
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rocketmq_rs_remoting::protocol::{RemotingCommand, code::ResponseCode};
//! use rocketmq_rs_remoting::rt::default_runtime;
//! use rocketmq_rs_remoting::transport::{
//!     Connection, RemotingClient, RemotingServer, RequestHandler, TransportConfig,
//! };
//!
//! struct Echo;
//! impl RequestHandler for Echo {
//!     async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
//!         Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(req.body))
//!     }
//! }
//!
//! let rt = default_runtime().unwrap();
//! let server = RemotingServer::start(
//!     rt.clone(),
//!     "127.0.0.1:0".parse().unwrap(),
//!     TransportConfig::default(),
//!     Arc::new(Echo),
//! )
//! .await
//! .unwrap();
//! let addr = server.local_addr().to_string();
//!
//! let client = RemotingClient::new(rt, TransportConfig::default());
//! let req = RemotingCommand::request(105).with_body(&b"ping"[..]);
//! let resp = client.invoke(&addr, req, Duration::from_secs(3)).await.unwrap();
//! assert_eq!(&resp.body[..], b"ping");
//!
//! client.shutdown();
//! server.shutdown().await;
//! # });
//! ```

mod client;
mod config;
mod connection;
mod server;

pub use client::{ClientRequestHandler, RemotingClient};
pub use config::TransportConfig;
pub use connection::{Connection, RequestHandler, Response};
pub use server::{RemotingServer, ServerHandle};
