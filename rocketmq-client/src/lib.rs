//! An async, runtime-agnostic Apache RocketMQ client: producers, push and pull consumers,
//! speaking RocketMQ's remoting protocol to Apache brokers and NameServers.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod consumer;
pub mod error;
pub mod hook;
pub mod message;
pub mod message_queue;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod producer;
pub mod testing;
pub mod trace;
pub mod util;

pub use client::ClientInstance;
pub use config::ClientConfig;
pub use consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeOrderlyContext, ConsumeResult, LitePullConsumer,
    MessageListener, MessageModel, MessageSelector, OrderlyListener, OrderlyResult, PullConsumer,
    PushConsumer,
};
pub use error::{AccessDenied, BackPressureLimit, Error, Result, Stage};
pub use message::{
    Message, MessageExt, PopResult, PopStatus, PullResult, PullStatus, SendResult, SendStatus,
};
pub use message_queue::MessageQueue;
pub use producer::{
    LocalTransactionState, Producer, ProducerBuilder, ProducerConfig, TransactionListener,
    TransactionProducer,
};

/// Re-exported for implementing [`TransactionListener`] without adding the dependency.
pub use async_trait::async_trait;

/// The testing guide `docs/TESTING.md` (embedded cluster: virtual time, inspection, faults,
/// crashes), compiled and run as doc tests so its examples stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/TESTING.md")]
pub struct TestingGuide;
