//! Transactional messages: [`TransactionProducer`] and [`TransactionListener`] (Java
//! `TransactionMQProducer`, `TransactionListener`; docs/protocol/transaction.md §3).
//!
//! 1. [`TransactionProducer::send_in_transaction`] sends the message as a *half* message
//!    (properties `TRAN_MSG=true` and `PGROUP=<group>`, sysFlag PREPARED; any `DELAY` is
//!    removed, as Java does). The broker keeps it invisible to consumers.
//! 2. It then runs the local transaction ([`TransactionListener::execute_local`]) and reports
//!    the outcome to the broker with END_TRANSACTION (oneway, as Java):
//!    [`Commit`](LocalTransactionState::Commit) makes the message visible in its topic,
//!    [`Rollback`](LocalTransactionState::Rollback) discards it,
//!    [`Unknown`](LocalTransactionState::Unknown) leaves it pending.
//! 3. For pending halves the broker later asks a producer of the group
//!    (CHECK_TRANSACTION_STATE); the producer runs [`TransactionListener::check_local`] and
//!    answers with END_TRANSACTION (`fromTransactionCheck=true`). The broker asks again every
//!    check interval, up to its maximum number of checks (Java 15), then discards the half.
//!
//! ```no_run
//! # async fn demo() -> rocketmq_rs_client::Result<()> {
//! use rocketmq_rs_client::producer::{LocalTransactionState, TransactionListener, TransactionProducer};
//! use rocketmq_rs_client::{async_trait, Message, MessageExt, Producer};
//!
//! struct Orders;
//!
//! #[async_trait]
//! impl TransactionListener for Orders {
//!     async fn execute_local(&self, msg: &Message) -> LocalTransactionState {
//!         // Write the order to the database in the same unit of work as the decision...
//!         let _ = msg;
//!         LocalTransactionState::Commit
//!     }
//!     async fn check_local(&self, msg: &MessageExt) -> LocalTransactionState {
//!         // ...and look it up again when the broker asks.
//!         let _ = msg;
//!         LocalTransactionState::Commit
//!     }
//! }
//!
//! let producer = TransactionProducer::new(
//!     Producer::builder().name_server("127.0.0.1:9876").group("order_tx_pg"),
//!     Orders,
//! )?;
//! producer.start().await?;
//! let msg = Message::builder("OrderTopic").body("order 42 paid").build()?;
//! let r = producer.send_in_transaction(msg).await?;
//! println!("{} -> {:?}", r.send_result.msg_id, r.local_state);
//! producer.shutdown().await;
//! # Ok(()) }
//! ```

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use rocketmq_rs_remoting::protocol::header::EndTransactionRequestHeader;
use rocketmq_rs_remoting::protocol::message::{parse_offset_msg_id, property, sys_flag};

use super::{Producer, ProducerBuilder};
use crate::client::{ClientInstance, TransactionCheck};
use crate::error::{Error, Result};
use crate::hook::{EndTransactionHookContext, SendHooks};
use crate::message::{Message, MessageExt, SendResult, SendStatus};

/// END_TRANSACTION is sent oneway with this connection budget (Java 3 s).
const END_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(3);

/// The outcome of a local transaction (Java `LocalTransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalTransactionState {
    /// Make the message visible (`COMMIT_MESSAGE`).
    Commit,
    /// Discard the message (`ROLLBACK_MESSAGE`).
    Rollback,
    /// Not decided yet: the broker will ask later (`UNKNOW`).
    Unknown,
}

impl LocalTransactionState {
    /// The `commitOrRollback` value of END_TRANSACTION: 8, 12 or 0.
    ///
    /// ```
    /// use rocketmq_rs_client::producer::LocalTransactionState;
    /// assert_eq!(LocalTransactionState::Commit.wire_value(), 8);
    /// assert_eq!(LocalTransactionState::Rollback.wire_value(), 12);
    /// assert_eq!(LocalTransactionState::Unknown.wire_value(), 0);
    /// ```
    pub fn wire_value(self) -> i32 {
        match self {
            LocalTransactionState::Commit => sys_flag::TRANSACTION_COMMIT_TYPE,
            LocalTransactionState::Rollback => sys_flag::TRANSACTION_ROLLBACK_TYPE,
            LocalTransactionState::Unknown => sys_flag::TRANSACTION_NOT_TYPE,
        }
    }
}

/// The application side of transactional messages. Implement it with
/// [`#[async_trait]`](crate::async_trait). A panic in either method counts as
/// [`LocalTransactionState::Unknown`] (the broker asks again later).
#[async_trait]
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction of a half message that the broker stored. The message's
    /// `__transactionId__` property holds its transaction id.
    async fn execute_local(&self, msg: &Message) -> LocalTransactionState;

    /// Answers a broker check of an undecided half message (topic and queue are the real
    /// destination; `UNIQ_KEY` / `__transactionId__` identify it).
    async fn check_local(&self, msg: &MessageExt) -> LocalTransactionState;
}

/// The result of [`TransactionProducer::send_in_transaction`].
#[derive(Debug, Clone)]
pub struct TransactionSendResult {
    /// The half message's send result (`transaction_id` set).
    pub send_result: SendResult,
    /// What the local transaction decided (Rollback when the half was not stored OK).
    pub local_state: LocalTransactionState,
}

/// A producer of transactional messages (Java `TransactionMQProducer`). Cheap to clone; see
/// the [module docs](self).
#[derive(Clone)]
pub struct TransactionProducer {
    producer: Producer,
    listener: Arc<dyn TransactionListener>,
    group: String,
}

impl std::fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

/// Runs a listener call, mapping a panic to Unknown.
async fn guarded(
    fut: impl std::future::Future<Output = LocalTransactionState>,
) -> (LocalTransactionState, Option<String>) {
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(s) => (s, None),
        Err(_) => (
            LocalTransactionState::Unknown,
            Some("the local transaction panicked".into()),
        ),
    }
}

impl TransactionProducer {
    /// Builds a transactional producer from a [`ProducerBuilder`] (NameServers, group, ...) and
    /// `listener`. The builder's own transaction check handler, if any, is replaced.
    ///
    /// # Errors
    ///
    /// As [`ProducerBuilder::build`].
    pub fn new(builder: ProducerBuilder, listener: impl TransactionListener) -> Result<Self> {
        let listener: Arc<dyn TransactionListener> = Arc::new(listener);
        // The check handler needs the instance, which exists only once built.
        let cell: Arc<OnceLock<(ClientInstance, String, SendHooks)>> = Arc::new(OnceLock::new());
        let handler = {
            let (cell, listener) = (Arc::clone(&cell), Arc::clone(&listener));
            move |check: TransactionCheck| {
                let Some((instance, group, hooks)) = cell.get().cloned() else {
                    return;
                };
                let listener = Arc::clone(&listener);
                let rt = Arc::clone(instance.runtime());
                rt.spawn(Box::pin(async move {
                    answer_check(&instance, &group, &hooks, &*listener, check).await;
                }));
            }
        };
        let producer = builder.transaction_check_handler(handler).build()?;
        let group = producer.client_instance().config().wrap(producer.group());
        let _ = cell.set((
            producer.client_instance().clone(),
            group.clone(),
            producer.send_hooks().clone(),
        ));
        Ok(TransactionProducer {
            producer,
            listener,
            group,
        })
    }

    /// The underlying producer (plain sends work too).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Starts the producer. Idempotent.
    ///
    /// # Errors
    ///
    /// As [`Producer::start`].
    pub async fn start(&self) -> Result<()> {
        self.producer.start().await
    }

    /// Shuts the producer down (see [`Producer::shutdown`]). Checks arriving afterwards are
    /// not answered; the broker asks another producer of the group or later.
    pub async fn shutdown(&self) {
        self.producer.shutdown().await;
    }

    /// Sends `msg` in a transaction decided by the listener's
    /// [`execute_local`](TransactionListener::execute_local).
    ///
    /// # Errors
    ///
    /// The half send's errors ([`Producer::send`]); [`Error::InvalidMessage`] for a message
    /// with a delay.
    pub async fn send_in_transaction(&self, msg: Message) -> Result<TransactionSendResult> {
        let listener = Arc::clone(&self.listener);
        self.send_in_transaction_with(
            msg,
            move |m| async move { listener.execute_local(&m).await },
        )
        .await
    }

    /// Sends `msg` in a transaction decided by `local` instead of the listener (the listener
    /// still answers broker checks).
    ///
    /// # Errors
    ///
    /// As [`send_in_transaction`](Self::send_in_transaction).
    pub async fn send_in_transaction_with<F, Fut>(
        &self,
        mut msg: Message,
        local: F,
    ) -> Result<TransactionSendResult>
    where
        F: FnOnce(Message) -> Fut + Send,
        Fut: std::future::Future<Output = LocalTransactionState> + Send,
    {
        // Java silently drops delays of transactional messages.
        msg.properties.remove(property::DELAY);
        msg.properties
            .insert(property::TRANSACTION_PREPARED, "true");
        msg.properties
            .insert(property::PRODUCER_GROUP, self.group.clone());
        // Only hooks need the message's tag and keys once END_TRANSACTION goes out.
        let described = (!self.producer.send_hooks().is_empty()).then(|| Described {
            tags: msg.tags().map(str::to_owned),
            keys: msg.keys().map(str::to_owned),
            region: msg.property(property::MSG_REGION).map(str::to_owned),
        });
        let mut local_msg = msg.clone();
        let send_result = self.producer.send(msg).await?;
        let (local_state, remark) = if send_result.status == SendStatus::SendOk {
            if let Some(id) = send_result
                .transaction_id
                .as_deref()
                .filter(|t| !t.is_empty())
            {
                local_msg
                    .properties
                    .insert(property::TRANSACTION_ID, id.to_owned());
            }
            if local_msg.properties.get(property::UNIQ_KEY).is_none() {
                local_msg
                    .properties
                    .insert(property::UNIQ_KEY, send_result.msg_id.clone());
            }
            guarded(local(local_msg)).await
        } else {
            (LocalTransactionState::Rollback, None)
        };
        if let Err(e) = self
            .end_after_send(&send_result, local_state, remark, described)
            .await
        {
            // The broker checks the half later: report, do not fail the send.
            tracing::warn!(error = %e, msg_id = %send_result.msg_id, "END_TRANSACTION not sent");
        }
        Ok(TransactionSendResult {
            send_result,
            local_state,
        })
    }

    async fn end_after_send(
        &self,
        sr: &SendResult,
        state: LocalTransactionState,
        remark: Option<String>,
        described: Option<Described>,
    ) -> Result<()> {
        let id = if sr.offset_msg_id.is_empty() {
            &sr.msg_id
        } else {
            &sr.offset_msg_id
        };
        let (_, commit_log_offset) = parse_offset_msg_id(id).map_err(|e| {
            Error::InvalidMessage(format!(
                "the half message id {id:?} is not an offset id: {e}"
            ))
        })?;
        let instance = self.producer.client_instance();
        let topic = instance.config().wrap(&sr.message_queue.topic);
        let addr = instance
            .master_addr_or_fetch(&sr.message_queue.broker_name, &topic)
            .await?;
        let header = EndTransactionRequestHeader {
            topic: Some(topic),
            producer_group: self.group.clone(),
            tran_state_table_offset: sr.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire_value(),
            from_transaction_check: false,
            msg_id: sr.msg_id.clone(),
            transaction_id: sr.transaction_id.clone(),
            bname: Some(sr.message_queue.broker_name.clone()),
        };
        if let Some(d) = &described {
            self.producer
                .send_hooks()
                .end_transaction(&EndTransactionHookContext {
                    group: self.producer.group(),
                    topic: &sr.message_queue.topic,
                    msg_id: &sr.msg_id,
                    transaction_id: sr.transaction_id.as_deref(),
                    broker_addr: &addr,
                    state,
                    from_transaction_check: false,
                    tags: d.tags.as_deref(),
                    keys: d.keys.as_deref(),
                    region_id: d.region.as_deref(),
                });
        }
        instance
            .api()
            .end_transaction(&addr, &header, remark, END_TRANSACTION_TIMEOUT)
            .await
    }
}

/// Answers one CHECK_TRANSACTION_STATE (Java `checkTransactionState`).
/// What END_TRANSACTION hooks see of a message sent in a transaction.
struct Described {
    tags: Option<String>,
    keys: Option<String>,
    region: Option<String>,
}

async fn answer_check(
    instance: &ClientInstance,
    group: &str,
    hooks: &SendHooks,
    listener: &dyn TransactionListener,
    check: TransactionCheck,
) {
    let (state, remark) = guarded(listener.check_local(&check.message)).await;
    let msg_id = check
        .message
        .uniq_key()
        .map(str::to_owned)
        .or_else(|| check.header.msg_id.clone())
        .unwrap_or_else(|| check.message.msg_id.clone());
    let header = EndTransactionRequestHeader {
        topic: check.header.topic.clone(),
        producer_group: group.to_owned(),
        tran_state_table_offset: check.header.tran_state_table_offset,
        commit_log_offset: check.header.commit_log_offset,
        commit_or_rollback: state.wire_value(),
        from_transaction_check: true,
        msg_id,
        transaction_id: check.header.transaction_id.clone(),
        bname: check.header.bname.clone(),
    };
    tracing::debug!(?state, broker = %check.broker_addr, "answering a transaction check");
    if !hooks.is_empty() {
        let m = &check.message;
        let topic = m
            .property(property::REAL_TOPIC)
            .unwrap_or(&m.topic)
            .to_owned();
        let topic = instance.config().unwrap(&topic);
        hooks.end_transaction(&EndTransactionHookContext {
            group: &instance.config().unwrap(group),
            topic: &topic,
            msg_id: &header.msg_id,
            transaction_id: header.transaction_id.as_deref(),
            broker_addr: &check.broker_addr,
            state,
            from_transaction_check: true,
            tags: m.tags(),
            keys: m.keys(),
            region_id: m.property(property::MSG_REGION),
        });
    }
    if let Err(e) = instance
        .api()
        .end_transaction(&check.broker_addr, &header, remark, END_TRANSACTION_TIMEOUT)
        .await
    {
        tracing::warn!(error = %e, broker = %check.broker_addr, "transaction check answer not sent");
    }
}
