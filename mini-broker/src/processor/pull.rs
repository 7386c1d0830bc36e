//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) with long polling and tag / SQL92 filtering
//! (docs/protocol/pull.md §1, §4, §5).

use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::body::SubscriptionData;
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime, TaskGroup};
use rocketmq_rs_remoting::transport::Connection;

use super::{header, reply, Wiring};
use crate::client_manager::{normalize_subscription, ClientManager};
use crate::consumer_offset::ConsumerOffsetManager;
use crate::filter::{is_tag_type, FilterCache, MessageFilter, SQL92};
use crate::long_poll::PullHoldService;
use crate::store::{GetStatus, MessageStore, PropertiesFilter};
use crate::topic_config::{TopicConfigManager, PERM_READ};

const FLAG_COMMIT_OFFSET: i32 = 0x1;
const FLAG_SUSPEND: i32 = 0x2;
const FLAG_SUBSCRIPTION: i32 = 0x4;

/// Pulls, answered at once or held until data arrives (long polling).
pub(crate) struct PullProcessor {
    store: MessageStore,
    topics: Arc<TopicConfigManager>,
    /// Subscriptions registered by heartbeats.
    clients: Arc<ClientManager>,
    /// Pulls may commit the consumer's offset.
    offsets: Arc<ConsumerOffsetManager>,
    holds: Arc<PullHoldService>,
    /// Group configs: `consumeEnable` / `consumeBroadcastEnable` refuse pulls.
    groups: crate::subscription_group::SubscriptionGroups,
    /// GROUP_GET_NUMS and the get totals.
    stats: Arc<crate::stats::BrokerStats>,
    /// Held pulls run here and end with the broker.
    tasks: TaskGroup,
    rt: Arc<dyn Runtime>,
    master: bool,
    slave_read_enable: bool,
    slave_suggest_lag_bytes: i64,
    long_polling_enable: bool,
    short_polling_time: Duration,
    /// SQL92 subscriptions accepted (Java `enablePropertyFilter`).
    enable_property_filter: bool,
    /// Compiled SQL92 expressions.
    filters: FilterCache,
}

/// How often a held pull re-checks its queue whatever arrived (Java's hold service wakes every
/// 5 s with long polling, every `shortPollingTimeMills` without): a pull held past messages
/// its filter rejected is then answered, so the consumer's offset moves past them.
const LONG_POLLING_CHECK: Duration = Duration::from_secs(5);

/// Result of one execution of a pull.
enum Outcome {
    Respond(RemotingCommand),
    /// Nothing new at the requested offset: may be held.
    NotFound(RemotingCommand),
}

fn offsets_response(
    code: i32,
    next: i64,
    min: i64,
    max: i64,
    remark: Option<&str>,
) -> RemotingCommand {
    offsets_response_to(code, next, min, max, remark, 0)
}

fn offsets_response_to(
    code: i32,
    next: i64,
    min: i64,
    max: i64,
    remark: Option<&str>,
    suggest_which_broker_id: i64,
) -> RemotingCommand {
    let h = PullMessageResponseHeader {
        suggest_which_broker_id,
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    };
    RemotingCommand::response(code, remark.map(str::to_string)).with_header(&h)
}

impl PullProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        PullProcessor {
            store: w.store.clone(),
            topics: Arc::clone(w.topics.table()),
            clients: Arc::clone(w.clients),
            offsets: Arc::clone(w.offsets),
            holds: Arc::clone(w.holds),
            groups: w.groups.clone(),
            stats: Arc::clone(w.stats),
            tasks: w.tasks.clone(),
            rt: Arc::clone(w.rt),
            master: w.cfg.broker_role.is_master(),
            slave_read_enable: w.cfg.slave_read_enable,
            slave_suggest_lag_bytes: w.cfg.slave_suggest_lag_bytes,
            long_polling_enable: w.cfg.long_polling_enable,
            short_polling_time: Duration::from_millis(w.cfg.short_polling_time_ms),
            enable_property_filter: w.cfg.enable_property_filter,
            filters: FilterCache::default(),
        }
    }

    /// Java's answer to a non-tag subscription on a broker without property filtering.
    fn property_filter_disabled(expression_type: &str) -> RemotingCommand {
        reply(
            ResponseCode::SYSTEM_ERROR,
            format!("The broker does not support consumer to filter message by {expression_type}"),
        )
    }

    /// The filter of a tag subscription.
    fn tag_filter(sub: &SubscriptionData) -> MessageFilter {
        if sub.sub_string == "*" || sub.code_set.is_empty() {
            MessageFilter::All
        } else {
            MessageFilter::Tags(sub.code_set.iter().copied().collect())
        }
    }

    /// Resolves the subscription used to filter (request or heartbeat), or the error response.
    // The Err is the ready-made error response, built once per bad request and sent as is.
    #[allow(clippy::result_large_err)]
    fn subscription(
        &self,
        h: &PullMessageRequestHeader,
    ) -> Result<(SubscriptionData, MessageFilter), RemotingCommand> {
        if h.sys_flag & FLAG_SUBSCRIPTION != 0 {
            let expr_type = h.expression_type.as_deref();
            if is_tag_type(expr_type) {
                let sub = normalize_subscription(SubscriptionData {
                    topic: h.topic.clone(),
                    sub_string: h.subscription.clone().unwrap_or_default(),
                    sub_version: h.sub_version,
                    expression_type: "TAG".into(),
                    ..Default::default()
                });
                let filter = Self::tag_filter(&sub);
                return Ok((sub, filter));
            }
            let expr_type = expr_type.unwrap_or_default();
            let sub_string = h.subscription.clone().unwrap_or_default();
            if sub_string.is_empty() {
                return Err(reply(
                    ResponseCode::SUBSCRIPTION_PARSE_FAILED,
                    "parse the consumer's subscription failed",
                ));
            }
            if !self.enable_property_filter {
                return Err(Self::property_filter_disabled(expr_type));
            }
            // Apache filters nothing when the expression does not compile (or the type is
            // unknown) on this path: only the heartbeat path refuses it.
            let filter = match expr_type {
                SQL92 => self
                    .filters
                    .compile(&sub_string)
                    .map_or(MessageFilter::All, MessageFilter::Sql),
                _ => MessageFilter::All,
            };
            let sub = SubscriptionData {
                topic: h.topic.clone(),
                sub_string,
                sub_version: h.sub_version,
                expression_type: expr_type.to_string(),
                ..Default::default()
            };
            return Ok((sub, filter));
        }
        // A single broker always allows broadcast consumption (Java `consumeBroadcastEnable`).
        let (exists, sub, _model) = self.clients.subscription(&h.consumer_group, &h.topic);
        if !exists {
            return Err(reply(
                ResponseCode::SUBSCRIPTION_NOT_EXIST,
                format!("the consumer's group info not exist{}", super::send_faq()),
            ));
        }
        let Some(sub) = sub else {
            return Err(reply(
                ResponseCode::SUBSCRIPTION_NOT_EXIST,
                format!("the consumer's subscription not exist{}", super::send_faq()),
            ));
        };
        if sub.sub_version < h.sub_version {
            return Err(reply(
                ResponseCode::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest",
            ));
        }
        if is_tag_type(Some(&sub.expression_type)) {
            let filter = Self::tag_filter(&sub);
            return Ok((sub, filter));
        }
        // Apache keeps the compiled expression registered from heartbeats; one that did not
        // compile is not registered.
        let compiled = match sub.expression_type.as_str() {
            SQL92 => self.filters.compile(&sub.sub_string).ok(),
            _ => None,
        };
        let Some(compiled) = compiled else {
            return Err(reply(
                ResponseCode::FILTER_DATA_NOT_EXIST,
                "The broker's consumer filter data is not exist!Your expression may be wrong!",
            ));
        };
        if !self.enable_property_filter {
            return Err(Self::property_filter_disabled(&sub.expression_type));
        }
        Ok((sub, MessageFilter::Sql(compiled)))
    }

    /// Java `whichBrokerWhenConsumeSlowly`: a master with `slave_read_enable` sends a consumer to
    /// the slave (id 1) when the last record it pulled is more than `slave_suggest_lag_bytes`
    /// behind the end of the commit log; otherwise (and always on a slave) the master (0).
    fn suggest_broker(&self, messages: &[bytes::Bytes]) -> i64 {
        if !self.slave_read_enable || !self.master {
            return 0;
        }
        // Bytes 28..36 of a stored record: its commit-log (physical) offset.
        let Some(phys) = messages
            .last()
            .and_then(|m| m.get(28..36))
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(i64::from_be_bytes)
        else {
            return 0;
        };
        if self.store.commit_log_max_offset() - phys > self.slave_suggest_lag_bytes {
            1
        } else {
            0
        }
    }

    /// PULL_OFFSET_MOVED, except on a slave: its queues may merely lag behind the master's, so it
    /// answers PULL_RETRY_IMMEDIATELY and keeps the requested offset (Java: no offset check in a
    /// slave, `offsetCheckInSlave` false). The remark is the store status's name, as Apache's.
    fn offset_moved(&self, requested: i64, next: i64, min: i64, max: i64, why: &str) -> Outcome {
        if self.master {
            Outcome::Respond(offsets_response(
                ResponseCode::PULL_OFFSET_MOVED,
                next,
                min,
                max,
                Some(why),
            ))
        } else {
            Outcome::Respond(offsets_response(
                ResponseCode::PULL_RETRY_IMMEDIATELY,
                requested,
                min,
                max,
                Some(why),
            ))
        }
    }

    /// Reads the queue once and maps the store status to Java's response codes.
    async fn execute(&self, h: &PullMessageRequestHeader, filter: &MessageFilter) -> Outcome {
        let store = self.store.clone();
        let (topic, qid, offset) = (h.topic.clone(), h.queue_id, h.queue_offset);
        let max_count = h.max_msg_nums.max(1) as usize;
        let max_bytes = h
            .max_msg_bytes
            .filter(|n| *n > 0)
            .map_or(usize::MAX, |n| n as usize);
        let filter = filter.clone();
        let r = rt::run_blocking(&*self.rt, move || {
            let by_tag = |tag: i64| filter.matches_tag_code(tag);
            let by_props = |props: &[u8]| filter.matches_properties(props);
            let tags: Option<&dyn Fn(i64) -> bool> = match filter {
                MessageFilter::Tags(_) => Some(&by_tag),
                _ => None,
            };
            let props: Option<&PropertiesFilter<'_>> = if filter.needs_properties() {
                Some(&by_props)
            } else {
                None
            };
            store.get_messages_filtered(&topic, qid, offset, max_count, max_bytes, tags, props)
        })
        .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => return Outcome::Respond(reply(ResponseCode::SYSTEM_ERROR, e.to_string())),
        };
        let (min, max) = (r.min_offset, r.max_offset);
        match r.status {
            GetStatus::Found => {
                let (n, size) = (r.messages.len() as u64, r.body.len() as u64);
                self.stats
                    .on_get_found(&h.consumer_group, &h.topic, n, size);
                let suggest = self.suggest_broker(&r.messages);
                Outcome::Respond(
                    offsets_response_to(
                        ResponseCode::SUCCESS,
                        r.next_begin_offset,
                        min,
                        max,
                        None,
                        suggest,
                    )
                    .with_body(r.body),
                )
            }
            GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue => {
                self.stats.on_get_miss();
                let why = if r.status == GetStatus::NoMatchedLogicQueue {
                    "NO_MATCHED_LOGIC_QUEUE"
                } else {
                    "NO_MESSAGE_IN_QUEUE"
                };
                if offset != 0 {
                    self.offset_moved(offset, 0, min, max, why)
                } else {
                    Outcome::NotFound(offsets_response(
                        ResponseCode::PULL_NOT_FOUND,
                        0,
                        min,
                        max,
                        Some(why),
                    ))
                }
            }
            GetStatus::OffsetOverflowOne => Outcome::NotFound(offsets_response(
                ResponseCode::PULL_NOT_FOUND,
                r.next_begin_offset,
                min,
                max,
                Some("OFFSET_OVERFLOW_ONE"),
            )),
            // A consumer behind the retained data (retention deleted what it had not read
            // yet) is sent to the oldest message still stored.
            GetStatus::OffsetTooSmall => {
                self.offset_moved(offset, r.next_begin_offset, min, max, "OFFSET_TOO_SMALL")
            }
            GetStatus::OffsetOverflowBadly => self.offset_moved(
                offset,
                r.next_begin_offset,
                min,
                max,
                "OFFSET_OVERFLOW_BADLY",
            ),
            // Apache: the consume-queue file holding the offset is gone (retention raced the
            // pull): not found, with the next file's start as the next offset.
            GetStatus::OffsetFoundNull => Outcome::NotFound(offsets_response(
                ResponseCode::PULL_NOT_FOUND,
                r.next_begin_offset,
                min,
                max,
                Some("OFFSET_FOUND_NULL"),
            )),
            GetStatus::NoMatchedMessage | GetStatus::MessageWasRemoving => {
                let why = if r.status == GetStatus::MessageWasRemoving {
                    "MESSAGE_WAS_REMOVING"
                } else {
                    "NO_MATCHED_MESSAGE"
                };
                Outcome::Respond(offsets_response(
                    ResponseCode::PULL_RETRY_IMMEDIATELY,
                    r.next_begin_offset,
                    min,
                    max,
                    Some(why),
                ))
            }
        }
    }

    /// PULL_MESSAGE: answers now, or holds the request (returns `None`) and answers it later
    /// through the connection.
    pub(crate) async fn pull_message(
        self: &Arc<Self>,
        conn: &Connection,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let h: PullMessageRequestHeader = match header(&req) {
            Ok(h) => h,
            Err(r) => return Some(r),
        };
        let with_sub = h.sys_flag & FLAG_SUBSCRIPTION != 0;
        let group_check =
            self.groups
                .pull_refusal(&h.consumer_group, &h.topic, with_sub, &self.clients);
        if let Some(refused) = group_check.await {
            return Some(refused);
        }
        let Some(tc) = self.topics.get(&h.topic) else {
            return Some(reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!(
                    "topic[{}] not exist, apply first please!{}",
                    h.topic,
                    super::send_faq()
                ),
            ));
        };
        if tc.perm & PERM_READ == 0 {
            return Some(reply(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{}] pulling message is forbidden", h.topic),
            ));
        }
        if h.queue_id < 0 || h.queue_id >= tc.read_queue_nums {
            return Some(reply(
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                    h.queue_id,
                    h.topic,
                    tc.read_queue_nums,
                    conn.peer_addr()
                ),
            ));
        }
        let filter = match self.subscription(&h) {
            Ok((_, filter)) => filter,
            Err(r) => return Some(r),
        };
        // A slave never takes offsets from pulls: its table is the master's copy. Committed
        // before the read, not after it (Apache's order): the read waits on a blocking task, and
        // an UPDATE_CONSUMER_OFFSET the client sent after this pull (a reset offset, a
        // hand-over) is applied at once, so committing after the read let this older offset
        // overwrite the newer one.
        if h.sys_flag & FLAG_COMMIT_OFFSET != 0 && self.master {
            self.offsets
                .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
        }
        let outcome = self.execute(&h, &filter).await;
        let resp = match outcome {
            Outcome::Respond(r) => return Some(r),
            Outcome::NotFound(r) => r,
        };
        if h.sys_flag & FLAG_SUSPEND == 0 || self.tasks.signal().is_triggered() {
            return Some(resp);
        }
        let hold = if self.long_polling_enable {
            Duration::from_millis(h.suspend_timeout_millis.max(0) as u64)
        } else {
            self.short_polling_time
        };
        if hold.is_zero() {
            return Some(resp);
        }
        let me = Arc::clone(self);
        let conn = conn.clone();
        let check = if self.long_polling_enable {
            LONG_POLLING_CHECK
        } else {
            self.short_polling_time
        };
        let spawned = self.tasks.spawn(async move {
            let clock = me.rt.clock();
            let deadline = clock.now() + hold;
            let final_resp = loop {
                let (id, rx) = me
                    .holds
                    .hold(&h.topic, h.queue_id, h.queue_offset, filter.clone());
                // A message stored between the read above and the registration would not wake us.
                let mut run = me.store.max_offset(&h.topic, h.queue_id) > h.queue_offset;
                if !run {
                    let left = deadline.saturating_duration_since(clock.now());
                    let stop = me.tasks.signal().wait();
                    // Woken only by a message the filter accepts (docs/protocol/pull.md §4).
                    match select(select(rx, stop), me.rt.sleep(left.min(check))).await {
                        Either::Left(_) => run = true,
                        Either::Right(_) => {
                            me.holds.cancel(&h.topic, h.queue_id, id);
                            // The periodic check: anything new, matching or not, is answered.
                            run = me.store.max_offset(&h.topic, h.queue_id) > h.queue_offset;
                        }
                    }
                } else {
                    me.holds.cancel(&h.topic, h.queue_id, id);
                }
                let expired = clock.now() >= deadline || me.tasks.signal().is_triggered();
                if !run && !expired {
                    continue;
                }
                match me.execute(&h, &filter).await {
                    Outcome::Respond(r) => break r,
                    Outcome::NotFound(r) if expired => break r,
                    // Woken by a race (the data was read already): wait again.
                    Outcome::NotFound(_) => continue,
                }
            };
            let mut out = final_resp;
            out.opaque = req.opaque;
            out.serialize_type = req.serialize_type;
            if let Err(e) = conn.send_response(out) {
                tracing::debug!(error = %e, "held pull: client gone");
            }
        });
        // Shutting down: answer at once instead of holding.
        if spawned {
            None
        } else {
            Some(resp)
        }
    }
}
