//! What admin tools read about topics, groups and the broker itself: GET_TOPIC_STATS_INFO (202),
//! GET_CONSUME_STATS (208), QUERY_TOPIC_CONSUME_BY_WHO (300), QUERY_TOPICS_BY_CONSUMER (343),
//! GET_TOPIC_CONFIG (351), VIEW_BROKER_STATS_DATA (315), GET_BROKER_RUNTIME_INFO (28)
//! (docs/protocol/admin.md §7–§9).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{
    ConsumeStats, GroupList, JsonBody, KVTable, MessageQueue, OffsetWrapper, TopicList,
    TopicOffset, TopicStatsTable,
};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::{
    GetConsumeStatsRequestHeader, GetTopicConfigRequestHeader, GetTopicStatsInfoRequestHeader,
    QueryTopicConsumeByWhoRequestHeader, QueryTopicsByConsumerRequestHeader,
    ViewBrokerStatsDataRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime};

use super::{header, reply, success, Wiring};
use crate::client_manager::ClientManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::schedule::ScheduleService;
use crate::stats::{human_bytes, BrokerStats, GROUP_GET_NUMS, TOPIC_PUT_NUMS};
use crate::store::{MessageStore, SCHEDULE_TOPIC};
use crate::topic_config::TopicConfigManager;

/// Apache's broker version reported in runtime info (the 5.x line our broker speaks).
const BROKER_VERSION_DESC: &str = "V5_0_0";
const BROKER_VERSION: i32 = 453;

/// Topic, group and broker statistics.
pub(crate) struct InspectProcessor {
    store: MessageStore,
    topics: Arc<TopicConfigManager>,
    offsets: Arc<ConsumerOffsetManager>,
    clients: Arc<ClientManager>,
    schedule: Arc<ScheduleService>,
    stats: Arc<BrokerStats>,
    rt: Arc<dyn Runtime>,
    broker_name: String,
    store_host: String,
    store_path: PathBuf,
}

impl InspectProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        InspectProcessor {
            store: w.store.clone(),
            topics: Arc::clone(w.topics.table()),
            offsets: Arc::clone(w.offsets),
            clients: Arc::clone(w.clients),
            schedule: Arc::clone(w.schedule),
            stats: Arc::clone(w.stats),
            rt: Arc::clone(w.rt),
            broker_name: w.cfg.broker_name.clone(),
            store_host: w.store_host.to_string(),
            store_path: w.cfg.store_path.clone(),
        }
    }

    fn mq(&self, topic: &str, queue_id: i32) -> MessageQueue {
        MessageQueue::new(topic, self.broker_name.clone(), queue_id)
    }

    /// GET_TOPIC_STATS_INFO: min/max offset and last store time of every queue
    /// (`0..max(read, write)`), and the topic's put TPS over the last minute.
    pub(crate) async fn topic_stats(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetTopicStatsInfoRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let Some(tc) = self.topics.get(&h.topic) else {
            return reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist", h.topic),
            );
        };
        let queues = tc.read_queue_nums.max(tc.write_queue_nums);
        let store = self.store.clone();
        let topic = h.topic.clone();
        let rows = rt::run_blocking(&*self.rt, move || {
            (0..queues)
                .map(|qid| {
                    let min = store.min_offset(&topic, qid).max(0);
                    let max = store.max_offset(&topic, qid).max(0);
                    let last = if max > 0 {
                        store.store_time_at(&topic, qid, max - 1)?.unwrap_or(0)
                    } else {
                        0
                    };
                    Ok((qid, min, max, last))
                })
                .collect::<crate::store::Result<Vec<_>>>()
        })
        .await;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => return reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        let table = TopicStatsTable {
            offset_table: rows
                .into_iter()
                .map(|(qid, min, max, last)| {
                    (
                        self.mq(&h.topic, qid),
                        TopicOffset {
                            min_offset: min,
                            max_offset: max,
                            last_update_timestamp: last,
                        },
                    )
                })
                .collect(),
            topic_put_tps: self.stats.minute_tps(TOPIC_PUT_NUMS, &h.topic),
        };
        success().with_body(table.to_json())
    }

    /// GET_CONSUME_STATS: per queue of each topic of the group, the broker's max offset, the
    /// committed offset and the store time of the last consumed message; the group's consume
    /// TPS over the last minute. Topics: the request's `topicList`, else its `topic`, else every
    /// topic the group committed offsets for; without `topicList`, topics an online group does
    /// not subscribe are left out (Apache's rules).
    pub(crate) async fn consume_stats(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumeStatsRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let group = h.consumer_group.clone();
        let listed: BTreeSet<String> = h
            .topic_list
            .as_deref()
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let topics: BTreeSet<String> = if !listed.is_empty() {
            listed
        } else {
            let mut t = match h.topic.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                Some(topic) => BTreeSet::from([topic.to_string()]),
                None => self.offsets.topics_of_group(&group),
            };
            let subscribed = self.clients.subscribed_topics(&group);
            if !subscribed.is_empty() {
                t.retain(|topic| subscribed.contains(topic));
            }
            t
        };
        let plan: Vec<(String, i32)> = topics
            .iter()
            .filter_map(|t| self.topics.get(t).map(|c| (t.clone(), c.read_queue_nums)))
            .collect();
        let tps: f64 = plan
            .iter()
            .map(|(t, _)| {
                self.stats
                    .minute_tps(GROUP_GET_NUMS, &format!("{t}@{group}"))
            })
            .sum();
        let (store, offsets, g) = (self.store.clone(), Arc::clone(&self.offsets), group.clone());
        let rows = rt::run_blocking(&*self.rt, move || {
            let mut rows = Vec::new();
            for (topic, queues) in plan {
                for qid in 0..queues {
                    let broker = store.max_offset(&topic, qid).max(0);
                    let consumer = offsets.query(&g, &topic, qid).unwrap_or(0).max(0);
                    let last = if consumer > 0 {
                        store.store_time_at(&topic, qid, consumer - 1)?.unwrap_or(0)
                    } else {
                        0
                    };
                    rows.push((topic.clone(), qid, broker, consumer, last));
                }
            }
            Ok::<_, crate::store::StoreError>(rows)
        })
        .await;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => return reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        let stats = ConsumeStats {
            consume_tps: tps,
            offset_table: rows
                .into_iter()
                .map(|(topic, qid, broker, consumer, last)| {
                    (
                        self.mq(&topic, qid),
                        OffsetWrapper {
                            broker_offset: broker,
                            consumer_offset: consumer,
                            // Pull positions are not tracked: what is committed is pulled.
                            pull_offset: consumer,
                            last_timestamp: last,
                        },
                    )
                })
                .collect(),
        };
        success().with_body(stats.to_json())
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO: online groups subscribing the topic, and groups with
    /// committed offsets for it.
    pub(crate) fn consumed_by(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: QueryTopicConsumeByWhoRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let mut groups = self.clients.groups_subscribing(&h.topic);
        groups.extend(self.offsets.groups_of_topic(&h.topic));
        success().with_body(GroupList { group_list: groups }.to_json())
    }

    /// QUERY_TOPICS_BY_CONSUMER: topics the group committed offsets for, with this broker's
    /// address.
    pub(crate) fn topics_of(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: QueryTopicsByConsumerRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let list = TopicList {
            topic_list: self.offsets.topics_of_group(&h.group),
            broker_addr: Some(self.store_host.clone()),
        };
        success().with_body(list.to_json())
    }

    /// GET_TOPIC_CONFIG (5.x): the topic's config (no static-topic mapping: we have none).
    pub(crate) fn topic_config(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetTopicConfigRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        match self.topics.get(&h.topic) {
            Some(tc) => success().with_body(
                serde_json::to_vec(&tc)
                    .map(bytes::Bytes::from)
                    .unwrap_or_default(),
            ),
            None => reply(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("No topic in this broker. topic: {}", h.topic),
            ),
        }
    }

    /// VIEW_BROKER_STATS_DATA: a counter's last minute / hour / day.
    pub(crate) fn stats_data(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: ViewBrokerStatsDataRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        match self.stats.stats_data(&h.stats_name, &h.stats_key) {
            Some(d) => success().with_body(d.to_json()),
            None => reply(
                ResponseCode::SYSTEM_ERROR,
                format!("The stats <{}> <{}> not exist", h.stats_name, h.stats_key),
            ),
        }
    }

    /// GET_BROKER_RUNTIME_INFO: Apache's `KVTable` keys, each with our true value or the value
    /// an Apache broker gives when the feature does not apply (docs/protocol/admin.md §9).
    pub(crate) async fn runtime_info(&self) -> RemotingCommand {
        // The statistics are sampled by the broker's clock (virtual on a virtual cluster).
        let now = self.rt.clock().now_ms();
        let mut table: BTreeMap<String, String> =
            self.stats.runtime_entries(now).into_iter().collect();
        let mut put = |k: &str, v: String| {
            table.insert(k.to_string(), v);
        };
        let st = self.store.stats();
        put(
            "commitLogMinOffset",
            self.store.commit_log_min_offset().to_string(),
        );
        put("commitLogMaxOffset", st.commit_log_max_offset.to_string());
        put(
            "remainHowManyDataToFlush",
            human_bytes((st.commit_log_max_offset - st.commit_log_flushed_offset).max(0) as u64),
        );
        put(
            "dispatchBehindBytes",
            self.store.dispatch_behind_bytes().to_string(),
        );
        let commit_log_dir = self.store_path.join("commitlog");
        let disk = disk_usage(&commit_log_dir);
        let ratio = disk.map_or(-1.0, |d| d.used_ratio());
        put("commitLogDiskRatio", format!("{ratio:?}"));
        put(
            &format!("commitLogDiskRatio_{}", commit_log_dir.display()),
            format!("{ratio:?}"),
        );
        let cq_ratio =
            disk_usage(&self.store_path.join("consumequeue")).map_or(ratio, |d| d.used_ratio());
        put("consumeQueueDiskRatio", format!("{cq_ratio:?}"));
        if let Some(d) = disk_usage(&self.store_path) {
            put(
                "commitLogDirCapacity",
                format!(
                    "Total : {}, Free : {}.",
                    human_bytes(d.total),
                    human_bytes(d.free)
                ),
            );
        }
        let store = self.store.clone();
        let earliest = rt::run_blocking(&*self.rt, move || store.earliest_message_time())
            .await
            .ok()
            .flatten()
            .unwrap_or(-1);
        put("earliestMessageTimeStamp", earliest.to_string());
        for (level, offset) in self.schedule.delay_offsets() {
            let max = self.store.max_offset(SCHEDULE_TOPIC, level - 1);
            put(
                &format!("scheduleMessageOffset_{level}"),
                format!("{offset},{max}"),
            );
        }
        // No page-cache lock, dispatch buffer, transient pool, timer wheel or request
        // queues here: Apache's values for "none".
        for (k, v) in [
            ("brokerActive", "true"),
            ("dispatchMaxBuffer", "0"),
            ("getMessageEntireTimeMax", "0"),
            ("pageCacheLockTimeMills", "0"),
            ("startAcceptSendRequestTimeStamp", "0"),
            ("remainTransientStoreBufferNumbs", "2147483647"),
            ("timerReadBehind", "0"),
            ("timerOffsetBehind", "0"),
            ("timerCongestNum", "0"),
            ("timerEnqueueTps", "0.0"),
            ("timerDequeueTps", "0.0"),
            ("sendThreadPoolQueueSize", "0"),
            ("sendThreadPoolQueueCapacity", "10000"),
            ("pullThreadPoolQueueSize", "0"),
            ("pullThreadPoolQueueCapacity", "100000"),
            ("litePullThreadPoolQueueSize", "0"),
            ("litePullThreadPoolQueueCapacity", "100000"),
            ("queryThreadPoolQueueSize", "0"),
            ("queryThreadPoolQueueCapacity", "20000"),
            ("ackThreadPoolQueueSize", "0"),
            ("ackThreadPoolQueueCapacity", "100000"),
            ("sendThreadPoolQueueHeadWaitTimeMills", "0"),
            ("pullThreadPoolQueueHeadWaitTimeMills", "0"),
            ("queryThreadPoolQueueHeadWaitTimeMills", "0"),
            ("litePullThreadPoolQueueHeadWaitTimeMills", "0"),
            ("ackThreadPoolQueueHeadWaitTimeMills", "0"),
            ("EndTransactionQueueSize", "0"),
            ("EndTransactionThreadPoolQueueCapacity", "100000"),
        ] {
            put(k, v.to_string());
        }
        put("brokerVersionDesc", BROKER_VERSION_DESC.to_string());
        put("brokerVersion", BROKER_VERSION.to_string());
        success().with_body(KVTable { table }.to_json())
    }
}

/// Space of the file system holding a path.
#[derive(Debug, Clone, Copy)]
struct DiskUsage {
    total: u64,
    free: u64,
    /// Free to unprivileged users.
    available: u64,
}

impl DiskUsage {
    /// Apache's `getDiskPartitionSpaceUsedPercent`: used / (used + available), rounded up to
    /// hundredths.
    fn used_ratio(&self) -> f64 {
        let used = self.total.saturating_sub(self.free);
        let entire = used + self.available;
        if entire == 0 {
            return -1.0;
        }
        let pct = (used * 100).div_ceil(entire);
        pct as f64 / 100.0
    }
}

#[cfg(unix)]
fn disk_usage(path: &std::path::Path) -> Option<DiskUsage> {
    let s = rustix::fs::statvfs(path).ok()?;
    let unit = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    Some(DiskUsage {
        total: s.f_blocks.saturating_mul(unit),
        free: s.f_bfree.saturating_mul(unit),
        available: s.f_bavail.saturating_mul(unit),
    })
}

#[cfg(not(unix))]
fn disk_usage(_path: &std::path::Path) -> Option<DiskUsage> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_ratio_rounds_up_like_apache() {
        let d = DiskUsage {
            total: 1000,
            free: 600,
            available: 500,
        };
        // used 400 of 900 usable-or-used: 44.4 % → 0.45.
        assert_eq!(d.used_ratio(), 0.45);
        let root = disk_usage(std::path::Path::new("/"));
        #[cfg(unix)]
        assert!(root.is_some_and(|d| (0.0..=1.0).contains(&d.used_ratio())));
        #[cfg(not(unix))]
        assert!(root.is_none());
    }
}
