//! Consumers: push and pull consumers, rebalancing and offset storage.
//!
//! - [`PushConsumer`]: the broker "pushes" (the client long-polls every assigned queue and hands
//!   batches to an async listener), with clustering or broadcasting, concurrent or orderly
//!   consumption, retries and dead-letter queues; in POP mode ([`PopMode`]) the broker hands
//!   out the messages instead and consumers may outnumber queues.
//! - [`PullConsumer`]: the classic pull API (pull a queue from an offset, manage offsets).
//! - [`LitePullConsumer`]: `poll()`-style consumption with rebalance or manual assignment.
//! - [`SimpleConsumer`]: RocketMQ 5.x POP consumption (receive / ack / change invisible
//!   duration); the broker hands out messages, consumers may outnumber queues. See
//!   [`simple`] for when to choose it over push.
//!
//! Inside, the three share one core (`core/`: applying rebalance results, the per-queue process
//! queue, the offset hand-over between owners), the allocation strategies ([`rebalance`]), the
//! offset stores ([`offset_store`]) and one seam to the brokers (`backend.rs`, faked in tests).

pub(crate) mod backend;
mod builder;
pub(crate) mod client_backend;
pub(crate) mod core;
#[cfg(test)]
pub(crate) mod fake_backend;
pub mod offset_store;
pub mod pull;
pub mod push;
pub mod rebalance;
mod selector;
pub mod simple;
pub(crate) mod stats;
pub(crate) mod sync;
mod types;

pub use backend::{PullResult, PullStatus};
pub use pull::{
    LitePullConsumer, LitePullConsumerBuilder, LitePullConsumerConfig, PullConsumer,
    PullConsumerBuilder,
};
pub use push::{
    ConsumeContext, ConsumeOrderlyContext, MessageListener, OrderlyListener, PopMode, PushConsumer,
    PushConsumerBuilder, PushConsumerConfig, QueueStats,
};
pub use selector::{ExpressionType, MessageSelector};
pub use simple::{ReceivedMessage, SimpleConsumer, SimpleConsumerBuilder};
pub use types::{ConsumeFromWhere, ConsumeResult, MessageModel, OrderlyResult};
