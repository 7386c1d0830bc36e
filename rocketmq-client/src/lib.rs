//! An async, runtime-agnostic Apache RocketMQ client: producers, push and pull consumers,
//! speaking RocketMQ's remoting protocol to Apache brokers and NameServers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod consumer;
pub mod error;
pub mod message_queue;
pub mod producer;
pub mod util;

pub use error::{Error, Result, Stage};
