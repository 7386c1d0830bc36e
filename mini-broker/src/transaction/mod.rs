//! Transactional messages (Java `TransactionalMessageServiceImpl`, `EndTransactionProcessor`,
//! `TransactionalMessageCheckService`; docs/protocol/transaction.md §1–§3).
//!
//! * **Half messages.** A send whose `TRAN_MSG` property is `true` is stored in
//!   [`HALF_TOPIC`] queue 0 with the transaction bits reset, the destination kept in
//!   `REAL_TOPIC` / `REAL_QID` and `__transactionId__` = `UNIQ_KEY`. Consumers never see it:
//!   nobody subscribes to the half topic.
//! * **END_TRANSACTION.** Commit writes the real message (sysFlag COMMIT,
//!   `preparedTransactionOffset` = the half record's commit-log offset, `TRAN_MSG` and
//!   `REAL_*` cleared) to its topic and queue; rollback writes nothing. Both append an *op
//!   record* to [`OP_TOPIC`] queue 0 (tag `d`, body = the half queue offset, as Java) so the
//!   decided half is never checked again.
//! * **Check-back.** Every [`TransactionConfig::check_interval`] the service walks the half
//!   queue from its progress offset. A half without op record that is older than
//!   [`TransactionConfig::timeout`] (or its `CHECK_IMMUNITY_TIME_IN_SECONDS`) is written again
//!   at the end of the half queue with `TRANSACTION_CHECK_TIMES` + 1 and the copy is sent
//!   to one producer of its `PGROUP` as CHECK_TRANSACTION_STATE; the producer answers with
//!   END_TRANSACTION for the copy. A half checked [`TransactionConfig::check_max`] times is
//!   discarded: moved to [`CHECK_MAX_TIME_TOPIC`] (Java 4.9+ `resolveDiscardMsg`).
//! * **Restart safety.** Everything lives in the store (half and op queues); the two progress
//!   offsets (half queue, op queue) are written atomically to `config/transaction.json` after
//!   every round, so undecided halves are checked again after a restart.
//!
//! Like Java, delivery of a commit is at least once: an END_TRANSACTION for an older copy of a
//! half that was already re-queued for a check can, in rare races across a restart, yield a
//! second real message. Within one broker run a transaction id decided once is remembered
//! and never committed or checked again.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader,
};
use rocketmq_rs_remoting::protocol::message::{
    decode_message, encode_message, property, sys_flag, MessageExt,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime, WaitShutdown};
use rocketmq_rs_remoting::util::MutexExt;
use serde::{Deserialize, Serialize};

use crate::client_manager::ClientManager;
use crate::error::{BrokerError, Result};
use crate::ha::{ReplicaAck, SyncReplicas};
use crate::processor::Wiring;
use crate::store::{read_optional, write_atomic, GetStatus, MessageStore, PutResult, StoreError};
use crate::topic_config::{TopicTable, PERM_READ, PERM_WRITE};

/// Topic of half (prepared) messages.
pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Topic of op records (decided halves).
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Where halves checked too often go (Java `TRANS_CHECK_MAX_TIME_TOPIC`).
pub const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Tag of op records (Java `TransactionalMessageUtil.REMOVE_TAG`).
pub const REMOVE_TAG: &str = "d";

/// How many decided transaction ids are remembered in memory.
const DECIDED_CAPACITY: usize = 65_536;
/// Op records read per store call.
const OP_BATCH: usize = 256;

/// Check-back settings (Java `transactionTimeOut`, `transactionCheckInterval`,
/// `transactionCheckMax`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionConfig {
    /// A half is first checked once it is this old (Java 6 s).
    pub timeout: Duration,
    /// Pause between check rounds (Java 60 s in 4.x, 30 s in 5.x).
    pub check_interval: Duration,
    /// Checks before a half is discarded (Java 15).
    pub check_max: i32,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            timeout: Duration::from_secs(6),
            check_interval: Duration::from_secs(30),
            check_max: 15,
        }
    }
}

#[derive(Serialize, Deserialize, Default, Clone, Copy, Debug)]
#[serde(rename_all = "camelCase")]
struct Progress {
    /// Next half-queue offset to examine.
    #[serde(default)]
    half_offset: i64,
    /// First op-queue offset that may still refer to an unexamined half.
    #[serde(default)]
    op_offset: i64,
}

struct State {
    progress: Progress,
    /// Next op-queue offset to read (in memory; restarts from `progress.op_offset`).
    op_read: i64,
    /// Half offset (>= `progress.half_offset`) → op-queue offset of its op record.
    removed: BTreeMap<i64, i64>,
    decided: HashSet<String>,
    decided_order: VecDeque<String>,
}

impl State {
    fn remember(&mut self, txid: &str) {
        if txid.is_empty() || !self.decided.insert(txid.to_string()) {
            return;
        }
        self.decided_order.push_back(txid.to_string());
        if self.decided_order.len() > DECIDED_CAPACITY {
            if let Some(old) = self.decided_order.pop_front() {
                self.decided.remove(&old);
            }
        }
    }
}

/// Counters of check rounds (tests, metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// CHECK_TRANSACTION_STATE requests sent (or attempted without a producer online).
    pub checked: u64,
    /// Halves moved to [`CHECK_MAX_TIME_TOPIC`].
    pub discarded: u64,
}

/// The half-message service: prepare, commit / rollback, check-back. See the
/// [module docs](self).
pub struct TransactionService {
    cfg: TransactionConfig,
    store: MessageStore,
    /// Runs the store reads and the progress file writes off the executor.
    rt: Arc<dyn Runtime>,
    /// Written into the records this service stores (the broker's advertised address).
    store_host: SocketAddr,
    path: PathBuf,
    state: Mutex<State>,
    stats: Mutex<CheckStats>,
    /// One check round at a time.
    round: futures::lock::Mutex<()>,
}

impl std::fmt::Debug for TransactionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionService")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Whether a message sent by a producer is a transaction half (property `TRAN_MSG=true`, as
/// Java's `SendMessageProcessor` decides).
pub fn is_half(msg: &MessageExt) -> bool {
    msg.property(property::TRANSACTION_PREPARED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The transaction id of a stored half.
fn txid(msg: &MessageExt) -> &str {
    msg.property(property::TRANSACTION_ID)
        .or_else(|| msg.uniq_key())
        .unwrap_or("")
}

fn decode(mut raw: Bytes) -> Result<MessageExt> {
    decode_message(&mut raw, true, false)
        .map_err(|e| BrokerError::Store(StoreError::Decode(e.to_string())))
}

impl TransactionService {
    /// Loads the progress file `path` (missing = start of both queues). Blocking.
    /// `store_host` is written into the records the service stores (the broker's advertised
    /// address); `rt` runs its own blocking work off the executor.
    ///
    /// # Errors
    ///
    /// An unreadable or malformed progress file.
    pub fn load(
        store: MessageStore,
        rt: Arc<dyn Runtime>,
        cfg: TransactionConfig,
        path: PathBuf,
        store_host: SocketAddr,
    ) -> Result<Arc<Self>> {
        let progress: Progress = match read_optional(&path)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| BrokerError::Metadata {
                path: path.clone(),
                msg: e.to_string(),
            })?,
            None => Progress::default(),
        };
        Ok(Arc::new(TransactionService {
            cfg,
            store,
            rt,
            store_host,
            path,
            state: Mutex::new(State {
                op_read: progress.op_offset,
                progress,
                removed: BTreeMap::new(),
                decided: HashSet::new(),
                decided_order: VecDeque::new(),
            }),
            stats: Mutex::new(CheckStats::default()),
            round: futures::lock::Mutex::new(()),
        }))
    }

    fn host(&self) -> SocketAddr {
        self.store_host
    }

    /// The settings.
    pub fn config(&self) -> &TransactionConfig {
        &self.cfg
    }

    /// Counters of the check rounds so far.
    pub fn stats(&self) -> CheckStats {
        *self.stats.lock_unpoisoned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock_unpoisoned()
    }

    /// Stores `msg` (a producer's send, destination in `topic` / `queue_id`) as a half message.
    /// The result's `queue_offset` and `msg_id` are the half record's, as Java answers.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn prepare(&self, mut msg: MessageExt) -> std::result::Result<PutResult, StoreError> {
        let (topic, qid) = (std::mem::take(&mut msg.topic), msg.queue_id);
        msg.put_property(property::REAL_TOPIC, topic);
        msg.put_property(property::REAL_QUEUE_ID, qid.to_string());
        if let Some(id) = msg.uniq_key().map(str::to_string) {
            msg.put_property(property::TRANSACTION_ID, id);
        }
        msg.sys_flag =
            sys_flag::reset_transaction_type(msg.sys_flag, sys_flag::TRANSACTION_NOT_TYPE);
        msg.topic = HALF_TOPIC.to_string();
        msg.queue_id = 0;
        self.store.put_message(msg).await
    }

    /// Appends the op record marking half `half` (queue offset `half.queue_offset`) decided.
    async fn write_op(&self, half: &MessageExt) -> std::result::Result<(), StoreError> {
        let mut op = MessageExt::new(OP_TOPIC, Bytes::from(half.queue_offset.to_string()));
        op.put_property(property::TAGS, REMOVE_TAG);
        op.put_property(property::WAIT, "false");
        if !txid(half).is_empty() {
            op.put_property(property::TRANSACTION_ID, txid(half));
        }
        op.born_timestamp = self.rt.clock().now_ms();
        op.born_host = self.host();
        op.store_host = self.host();
        self.store.put_message(op).await.map(drop)?;
        let mut s = self.lock();
        s.remember(txid(half));
        if half.queue_offset >= s.progress.half_offset {
            // Recorded now so a round that starts before the op record is read skips it.
            s.removed.entry(half.queue_offset).or_insert(i64::MAX);
        }
        Ok(())
    }

    /// The real message of a committed half.
    fn real_message(&self, half: &MessageExt) -> MessageExt {
        let mut m = half.clone();
        m.topic = half
            .property(property::REAL_TOPIC)
            .unwrap_or_default()
            .to_string();
        m.queue_id = half
            .property(property::REAL_QUEUE_ID)
            .and_then(|q| q.parse().ok())
            .unwrap_or(0);
        m.properties.remove(property::REAL_TOPIC);
        m.properties.remove(property::REAL_QUEUE_ID);
        m.properties.remove(property::TRANSACTION_PREPARED);
        m.properties.remove(property::TRANSACTION_CHECK_TIMES);
        m.sys_flag =
            sys_flag::reset_transaction_type(half.sys_flag, sys_flag::TRANSACTION_COMMIT_TYPE);
        m.prepared_transaction_offset = half.commit_log_offset;
        m.store_host = self.host();
        m.queue_offset = 0;
        m.commit_log_offset = 0;
        m
    }

    /// Commits or rolls back the half stored at `header.commit_log_offset` (END_TRANSACTION).
    /// `Ok(None)`: nothing to do (state UNKNOWN). `Err` carries Java's response.
    async fn end(
        &self,
        replicas: &SyncReplicas,
        h: &EndTransactionRequestHeader,
    ) -> std::result::Result<Option<()>, RemotingCommand> {
        let commit = match h.commit_or_rollback {
            sys_flag::TRANSACTION_COMMIT_TYPE => true,
            sys_flag::TRANSACTION_ROLLBACK_TYPE => false,
            _ => return Ok(None),
        };
        let store = self.store.clone();
        let offset = h.commit_log_offset;
        let half = match rt::run_blocking(&*self.rt, move || store.message_by_commit_offset(offset))
            .await
        {
            Ok(m) if m.topic == HALF_TOPIC => m,
            _ => {
                return Err(crate::processor::reply(
                    ResponseCode::SYSTEM_ERROR,
                    "Find prepared transaction message failed",
                ))
            }
        };
        if half.property(property::PRODUCER_GROUP) != Some(h.producer_group.as_str()) {
            return Err(crate::processor::reply(
                ResponseCode::SYSTEM_ERROR,
                "The producer group wrong",
            ));
        }
        if half.queue_offset != h.tran_state_table_offset {
            return Err(crate::processor::reply(
                ResponseCode::SYSTEM_ERROR,
                "The transaction state table offset wrong",
            ));
        }
        if half.commit_log_offset != h.commit_log_offset {
            return Err(crate::processor::reply(
                ResponseCode::SYSTEM_ERROR,
                "The commit log offset wrong",
            ));
        }
        let already = self.lock().decided.contains(txid(&half));
        if commit && !already {
            let real = self.real_message(&half);
            if real.topic.is_empty() {
                return Err(crate::processor::reply(
                    ResponseCode::SYSTEM_ERROR,
                    "the prepared message has no REAL_TOPIC",
                ));
            }
            let wait = wait_store_ok(&real);
            match self.store.put_message(real).await {
                Ok(put) if wait => await_replica(replicas, &put, txid(&half)).await,
                Ok(_) => {}
                Err(e) => {
                    return Err(crate::processor::reply(
                        ResponseCode::SYSTEM_ERROR,
                        e.to_string(),
                    ))
                }
            }
        }
        if let Err(e) = self.write_op(&half).await {
            return Err(crate::processor::reply(
                ResponseCode::SYSTEM_ERROR,
                e.to_string(),
            ));
        }
        tracing::debug!(
            txid = txid(&half),
            commit,
            duplicate = already,
            from_check = h.from_transaction_check,
            "transaction ended"
        );
        Ok(Some(()))
    }

    /// Reads op records not yet seen into the `removed` map. Blocking.
    fn read_ops(&self) -> Result<()> {
        loop {
            let from = self.lock().op_read;
            let r = self
                .store
                .get_messages(OP_TOPIC, 0, from, OP_BATCH, 1 << 20, None)?;
            match r.status {
                GetStatus::Found => {}
                GetStatus::OffsetTooSmall | GetStatus::OffsetFoundNull => {
                    self.lock().op_read = r.next_begin_offset;
                    continue;
                }
                _ => return Ok(()),
            }
            let mut s = self.lock();
            for (i, raw) in r.messages.into_iter().enumerate() {
                let op_offset = from + i as i64;
                let Ok(op) = decode(raw) else { continue };
                if let Some(id) = op.property(property::TRANSACTION_ID) {
                    s.remember(id);
                }
                let body = String::from_utf8_lossy(&op.body);
                for half in body.split(',').filter_map(|t| t.trim().parse::<i64>().ok()) {
                    if half >= s.progress.half_offset {
                        let e = s.removed.entry(half).or_insert(op_offset);
                        *e = (*e).min(op_offset);
                    }
                }
            }
            s.op_read = r.next_begin_offset;
        }
    }

    /// The half at queue offset `i`: `Ok(None)` past the end; `Err(next)` when it is gone and
    /// the walk should resume at `next`. Blocking.
    fn half_at(&self, i: i64) -> Result<std::result::Result<Option<MessageExt>, i64>> {
        let r = self
            .store
            .get_messages(HALF_TOPIC, 0, i, 1, 1 << 22, None)?;
        Ok(match r.status {
            GetStatus::Found => match r.messages.into_iter().next().map(decode) {
                Some(Ok(m)) => Ok(Some(m)),
                Some(Err(e)) => {
                    tracing::warn!(offset = i, error = %e, "undecodable half message skipped");
                    Err(i + 1)
                }
                None => Ok(None),
            },
            GetStatus::OffsetTooSmall
            | GetStatus::OffsetFoundNull
            | GetStatus::MessageWasRemoving
                if r.next_begin_offset > i =>
            {
                Err(r.next_begin_offset)
            }
            _ => Ok(None),
        })
    }
}

/// The check-back task (masters only): the service plus what a round needs besides it — the
/// producers to ask, the topic table (for discarded halves) and the broker name written into
/// the checks.
pub(crate) struct TransactionChecker {
    service: Arc<TransactionService>,
    clients: Arc<ClientManager>,
    topics: TopicTable,
    broker_name: String,
}

impl TransactionChecker {
    pub(crate) fn new(
        service: Arc<TransactionService>,
        clients: Arc<ClientManager>,
        topics: TopicTable,
        broker_name: String,
    ) -> Self {
        TransactionChecker {
            service,
            clients,
            topics,
            broker_name,
        }
    }

    /// One check round (Java `TransactionalMessageServiceImpl.check`).
    ///
    /// # Errors
    ///
    /// Store errors; progress already made is kept.
    pub(crate) async fn check_once(&self) -> Result<()> {
        let svc = &*self.service;
        let _round = svc.round.lock().await;
        let start = svc.rt.clock().now_ms();
        {
            let me = Arc::clone(&self.service);
            rt::run_blocking(&*svc.rt, move || me.read_ops()).await?;
        }
        let mut i = svc.lock().progress.half_offset;
        let max = svc.store.max_offset(HALF_TOPIC, 0);
        while i < max {
            if svc.lock().removed.remove(&i).is_some() {
                i += 1;
                continue;
            }
            let me = Arc::clone(&self.service);
            let half = match rt::run_blocking(&*svc.rt, move || me.half_at(i)).await? {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(next) => {
                    i = next;
                    continue;
                }
            };
            if svc.lock().decided.contains(txid(&half)) {
                i += 1;
                continue;
            }
            if half.store_timestamp >= start {
                break;
            }
            let checks: i32 = half
                .property(property::TRANSACTION_CHECK_TIMES)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if checks >= svc.cfg.check_max {
                self.discard(half).await?;
                i += 1;
                continue;
            }
            let immunity = half
                .property(property::CHECK_IMMUNITY_TIME_IN_SECONDS)
                .and_then(|v| v.parse::<i64>().ok())
                .map(|s| s.saturating_mul(1000))
                .unwrap_or(svc.cfg.timeout.as_millis() as i64);
            let age = start - half.born_timestamp;
            if (0..immunity).contains(&age) {
                // Later halves are younger still.
                break;
            }
            self.check(half, checks + 1).await?;
            i += 1;
        }
        let progress = {
            let mut s = svc.lock();
            s.removed = s.removed.split_off(&i);
            s.progress.half_offset = i;
            let pending_op = s.removed.values().copied().filter(|o| *o != i64::MAX).min();
            s.progress.op_offset = pending_op.unwrap_or(s.op_read).min(s.op_read);
            s.progress
        };
        let path = svc.path.clone();
        rt::run_blocking(&*svc.rt, move || {
            let json = serde_json::to_vec_pretty(&progress).unwrap_or_default();
            write_atomic(&path, &json)
        })
        .await?;
        Ok(())
    }

    /// Re-queues `half` with `checks` and asks a producer of its group about it.
    async fn check(&self, half: MessageExt, checks: i32) -> Result<()> {
        let svc = &*self.service;
        let mut copy = half.clone();
        copy.put_property(property::TRANSACTION_CHECK_TIMES, checks.to_string());
        copy.store_host = svc.host();
        let put = svc.store.put_message(copy.clone()).await?;
        svc.stats.lock_unpoisoned().checked += 1;
        copy.queue_offset = put.queue_offset;
        copy.commit_log_offset = put.commit_log_offset;
        copy.store_timestamp = put.store_timestamp;
        copy.msg_id = put.msg_id.into();
        let group = half.property(property::PRODUCER_GROUP).unwrap_or_default();
        let Some(conn) = self.clients.producer_channel(group) else {
            tracing::debug!(
                group,
                txid = txid(&half),
                "no producer online for a transaction check"
            );
            return Ok(());
        };
        let header = CheckTransactionStateRequestHeader {
            topic: None,
            tran_state_table_offset: put.queue_offset,
            commit_log_offset: put.commit_log_offset,
            msg_id: copy.uniq_key().map(str::to_string),
            transaction_id: Some(txid(&copy).to_string()).filter(|t| !t.is_empty()),
            offset_msg_id: Some(put.msg_id.into()),
            bname: Some(self.broker_name.clone()),
        };
        // The producer sees the message at its destination (Java restores topic and queue).
        let mut shown = copy;
        shown.topic = half
            .property(property::REAL_TOPIC)
            .unwrap_or_default()
            .to_string();
        shown.queue_id = half
            .property(property::REAL_QUEUE_ID)
            .and_then(|q| q.parse().ok())
            .unwrap_or(0);
        let body = match encode_message(&shown) {
            Ok(b) => b.freeze(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode a half message for a check");
                return Ok(());
            }
        };
        let cmd = RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE)
            .with_header(&header)
            .with_body(body);
        if let Err(e) = conn.send_oneway(cmd) {
            tracing::debug!(group, error = %e, "transaction check not sent");
        }
        Ok(())
    }

    /// Moves a half checked too often to [`CHECK_MAX_TIME_TOPIC`].
    async fn discard(&self, half: MessageExt) -> Result<()> {
        let svc = &*self.service;
        self.topics
            .ensure(CHECK_MAX_TIME_TOPIC.to_string(), 1, PERM_READ | PERM_WRITE)
            .await?;
        tracing::info!(
            txid = txid(&half),
            "transaction checked too often; discarded to {CHECK_MAX_TIME_TOPIC}"
        );
        let mut m = half;
        m.topic = CHECK_MAX_TIME_TOPIC.to_string();
        m.queue_id = 0;
        m.store_host = svc.host();
        svc.store.put_message(m).await?;
        svc.stats.lock_unpoisoned().discarded += 1;
        Ok(())
    }

    /// Runs check rounds every [`TransactionConfig::check_interval`] until `stop`.
    pub(crate) async fn run(self, stop: WaitShutdown) {
        let mut stop = stop;
        loop {
            let sleep = self.service.rt.sleep(self.service.cfg.check_interval);
            match select(sleep, &mut stop).await {
                Either::Left(_) => {}
                Either::Right(_) => return,
            }
            let outcome = {
                let round = std::pin::pin!(self.check_once());
                match select(round, &mut stop).await {
                    Either::Left((r, _)) => Some(r),
                    Either::Right(_) => None,
                }
            };
            match outcome {
                Some(Ok(())) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "transaction check round failed"),
                None => return,
            }
        }
    }
}

/// Whether the producer asked for durable storage (property `WAIT`, default true; Java
/// `isWaitStoreMsgOK`). The real message of a commit inherits the half's properties: Java's
/// `EndTransactionProcessor` sets `waitStoreMsgOK=false` on it but then replaces the whole
/// property map with the half's, so the producer's `WAIT` is what counts there too.
fn wait_store_ok(msg: &MessageExt) -> bool {
    msg.property(property::WAIT)
        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
}

/// `SYNC_MASTER`: waits until a slave has the committed real message (the end of its record),
/// like a synchronous send, before the op record is written and the commit is answered. Java
/// puts the real message through the same store path (`CommitLog.handleHA`) and then answers
/// SUCCESS for PUT_OK, FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE alike
/// (`sendFinalMessage`): the message is stored on the master either way and the half must not
/// be checked again, so a missing acknowledgement is only logged.
async fn await_replica(replicas: &SyncReplicas, put: &PutResult, txid: &str) {
    let end = put.commit_log_offset + i64::from(put.store_size);
    let Some(ack) = replicas.wait(end).await else {
        return;
    };
    if ack != ReplicaAck::Ok {
        tracing::warn!(
            txid,
            ?ack,
            commit_log_offset = put.commit_log_offset,
            "committed transaction message not acknowledged by a slave (answered SUCCESS, as Java does)"
        );
    }
}

/// END_TRANSACTION (37).
pub(crate) struct EndTransactionProcessor {
    transactions: Arc<TransactionService>,
    /// `SYNC_MASTER`: a commit waits for a slave.
    replicas: SyncReplicas,
    broker_id: i64,
}

impl EndTransactionProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        EndTransactionProcessor {
            transactions: Arc::clone(w.transactions),
            replicas: w.replicas.clone(),
            broker_id: w.cfg.broker_id,
        }
    }

    /// END_TRANSACTION (37). `None` for UNKNOWN (Java answers nothing) and for oneway requests.
    pub(crate) async fn end_transaction(&self, req: &RemotingCommand) -> Option<RemotingCommand> {
        if self.broker_id != 0 {
            return Some(crate::processor::reply(
                ResponseCode::SLAVE_NOT_AVAILABLE,
                "Can't process transaction message in slave broker",
            ));
        }
        let h: EndTransactionRequestHeader = match crate::processor::header(req) {
            Ok(h) => h,
            Err(r) => return Some(r),
        };
        match self.transactions.end(&self.replicas, &h).await {
            Ok(None) => None,
            Ok(Some(())) => Some(crate::processor::success()),
            Err(r) => {
                tracing::warn!(remark = ?r.remark, group = %h.producer_group, "END_TRANSACTION refused");
                Some(r)
            }
        }
    }
}
