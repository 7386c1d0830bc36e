//! Producers: [`Producer`] and its builder, queue selectors, fault tolerance and batches.
//!
//! - [`Producer`] (`send.rs`): sync / async / callback / oneway sends, to a queue, with a
//!   selector, batches; retries within the send deadline; graceful shutdown; optional
//!   back-pressure on async sends (`back_pressure.rs`,
//!   [`ProducerConfig::async_back_pressure`]).
//! - [`ProducerBuilder`], [`ProducerConfig`] (`config.rs`).
//! - [`selector`]: [`QueueSelector`](selector::QueueSelector) with hash, round-robin and random
//!   selectors (closures work too).
//! - [`fault`]: latency fault tolerance and the round-robin queue choice.
//! - [`batch`]: batch rules and [`split_batch`](batch::split_batch).
//! - [`TransactionProducer`] (`transaction.rs`): transactional messages with a
//!   [`TransactionListener`].
//! - [`Producer::request`] and [`create_reply`] (`request.rs`): request-reply.

mod back_pressure;
pub mod batch;
pub mod config;
pub mod fault;
pub mod request;
pub mod selector;
mod send;
pub mod transaction;

pub use config::{ProducerBuilder, ProducerConfig, TransactionCheckHandler};
pub use request::{create_reply, reply_topic, REPLY_MESSAGE_FLAG, REPLY_TOPIC_POSTFIX};
pub use send::{Producer, SendFuture};
pub use transaction::{
    LocalTransactionState, TransactionListener, TransactionProducer, TransactionSendResult,
};
