//! Support for the workspace's integration tests (`tests/*.rs` beside this crate).
//!
//! - [`cpp`]: the official Apache RocketMQ C++ client (PyPI `rocketmq` 0.4.4) as a test peer,
//!   driven through `tests/interop/cpp_client.py`.
//! - [`apache`]: real Apache RocketMQ NameServers and Brokers (Maven Central jars, through
//!   `interop/apache/`) and `mqadmin`, with skip logic when `java`/`mvn` are missing.
//! - [`goclient`]: Apache's Go client (rocketmq-client-go v2) as a test peer, through the
//!   `interop/go` harness; [`javaclient`]: Apache's Java client (4.9.8, 5.x remoting) through
//!   `interop/java/RmqHarness.java`. [`harness`] runs such harness processes and reads their
//!   events; [`scenarios`] holds the interop scenarios shared by the Go and Java client tests.
//! - [`mqadmin`]: Apache's `mqadmin`, many commands per JVM, and output normalisation for
//!   comparing two clusters.
//! - [`ChildGuard`]: child processes that are killed when the guard drops.
//! - [`eventually`] and friends: runtime-agnostic polling with a deadline.
//! - [`init_tracing`]: idempotent test logging controlled by `RUST_LOG`.
//!
//! Servers under test bind `127.0.0.1:0` and report their address; no port-picking helper is
//! provided because a picked-then-released port can be taken by someone else before use.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apache;
pub mod bytes;
mod child;
pub mod cpp;
mod error;
pub mod goclient;
pub mod harness;
pub mod javaclient;
pub mod mqadmin;
pub mod paths;
pub mod scenarios;
mod trace;
mod wait;

pub use child::ChildGuard;
pub use error::ItError;
pub use trace::init_tracing;
pub use wait::{
    eventually, eventually_async, eventually_blocking, eventually_some, eventually_some_async,
    eventually_some_blocking, sleep, Sleep,
};
