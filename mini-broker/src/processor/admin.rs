//! Admin commands: UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215),
//! GET_ALL_TOPIC_CONFIG (21), GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45),
//! GET_MAX_OFFSET (30), GET_MIN_OFFSET (31),
//! SEARCH_OFFSET_BY_TIMESTAMP (29), GET_EARLIEST_MSG_STORETIME (32)
//! (docs/protocol/admin.md §1; docs/protocol/offsets.md §3).

use std::sync::Arc;

use rocketmq_rs_remoting::protocol::body::{JsonBody, TopicConfig};
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::{
    BoundaryType, CreateTopicRequestHeader, DeleteTopicRequestHeader,
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;

use rocketmq_rs_remoting::rt::{self, Runtime};

use super::{header, reply, success, Wiring};
use crate::consumer_offset::ConsumerOffsetManager;
use crate::schedule::ScheduleService;
use crate::store::MessageStore;
use crate::topic_config::{invalid_topic_reply, TopicTable, AUTO_CREATE_TOPIC};

/// Topic administration and the offset / runtime queries of admin tools.
pub(crate) struct AdminProcessor {
    topics: TopicTable,
    store: MessageStore,
    /// Deleting a topic drops its consumer offsets; GET_ALL_CONSUMER_OFFSET.
    offsets: Arc<ConsumerOffsetManager>,
    /// GET_ALL_DELAY_OFFSET.
    schedule: Arc<ScheduleService>,
    rt: Arc<dyn Runtime>,
    cluster: String,
    auto_create_topic_enable: bool,
}

impl AdminProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        AdminProcessor {
            topics: w.topics.clone(),
            store: w.store.clone(),
            offsets: Arc::clone(w.offsets),
            schedule: Arc::clone(w.schedule),
            rt: Arc::clone(w.rt),
            cluster: w.cfg.broker_cluster_name.clone(),
            auto_create_topic_enable: w.cfg.auto_create_topic_enable,
        }
    }

    /// UPDATE_AND_CREATE_TOPIC.
    pub(crate) async fn create_topic(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: CreateTopicRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Some(r) = invalid_topic_reply(&h.topic) {
            return r;
        }
        if h.topic == self.cluster || h.topic == AUTO_CREATE_TOPIC && self.auto_create_topic_enable
        {
            // Java refuses to overwrite the cluster-name topic; TBW102 is managed by config.
            if h.topic == self.cluster {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    format!("The topic[{}] is conflict with system topic.", h.topic),
                );
            }
        }
        if !(1..=65535).contains(&h.read_queue_nums) || !(1..=65535).contains(&h.write_queue_nums) {
            return reply(ResponseCode::INVALID_PARAMETER, "illegal queue nums");
        }
        let mut cfg = TopicConfig::new(&h.topic, h.read_queue_nums, h.write_queue_nums, h.perm);
        cfg.topic_filter_type = h.topic_filter_type;
        cfg.topic_sys_flag = h.topic_sys_flag.unwrap_or(0);
        cfg.order = h.order;
        if let Some(attrs) = h.attributes.as_deref().filter(|a| !a.is_empty()) {
            for kv in attrs.split(',') {
                let kv = kv.trim_start_matches('+');
                if let Some((k, v)) = kv.split_once('=') {
                    cfg.attributes.insert(k.to_string(), v.to_string());
                }
            }
        }
        match self.topics.change(move |t| Ok(((), t.upsert(cfg)?))).await {
            Ok(_) => success(),
            Err(e) => reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }

    /// DELETE_TOPIC_IN_BROKER: removes the topic config, its queues and its consumer offsets.
    pub(crate) async fn delete_topic(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: DeleteTopicRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        if let Some(r) = invalid_topic_reply(&h.topic) {
            return r;
        }
        if h.topic == AUTO_CREATE_TOPIC || h.topic == crate::store::SCHEDULE_TOPIC {
            return reply(
                ResponseCode::INVALID_PARAMETER,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            );
        }
        let t = h.topic.clone();
        // Announced below, once the queues and offsets are gone too.
        let deleted = self
            .topics
            .change(move |table| table.delete(&t).map(|_| ((), false)));
        if let Err(e) = deleted.await {
            return reply(ResponseCode::SYSTEM_ERROR, e.to_string());
        }
        if let Err(e) = self.store.delete_topic(&h.topic).await {
            return reply(ResponseCode::SYSTEM_ERROR, e.to_string());
        }
        self.offsets.remove_topic(&h.topic);
        self.topics.announce();
        success()
    }

    /// GET_ALL_TOPIC_CONFIG.
    pub(crate) fn all_topic_config(&self) -> RemotingCommand {
        success().with_body(self.topics.wrapper().to_json())
    }

    /// GET_ALL_CONSUMER_OFFSET (43): `{"offsetTable":{"topic@group":{"0":5,...}}}` (Java
    /// `ConsumerOffsetSerializeWrapper`; a slave copies it).
    pub(crate) fn all_consumer_offset(&self) -> RemotingCommand {
        let body = serde_json::json!({ "offsetTable": self.offsets.all() });
        success().with_body(body.to_string().into_bytes())
    }

    /// GET_ALL_DELAY_OFFSET (45): `{"offsetTable":{"1":12,...}}` (level → next offset in
    /// `SCHEDULE_TOPIC_XXXX`; Java answers its `delayOffset.json`).
    pub(crate) fn all_delay_offset(&self) -> RemotingCommand {
        let body = serde_json::json!({ "offsetTable": self.schedule.delay_offsets() });
        success().with_body(body.to_string().into_bytes())
    }

    /// GET_MAX_OFFSET.
    pub(crate) fn max_offset(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetMaxOffsetRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let offset = self.store.max_offset(&h.topic, h.queue_id);
        success().with_header(&GetMaxOffsetResponseHeader { offset })
    }

    /// GET_MIN_OFFSET.
    pub(crate) fn min_offset(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetMinOffsetRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let offset = self.store.min_offset(&h.topic, h.queue_id);
        success().with_header(&GetMinOffsetResponseHeader { offset })
    }

    /// DELETE_EXPIRED_COMMITLOG (329): the next retention passes delete expired commit-log
    /// segments whatever the hour and disk use (Apache `executeDeleteFilesManually`). Answers
    /// at once; the deletion runs on the store's cleaner thread.
    pub(crate) fn delete_expired_commit_log(&self) -> RemotingCommand {
        tracing::warn!("DELETE_EXPIRED_COMMITLOG: manual commit-log deletion requested");
        self.store.delete_expired_files_manually();
        success()
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP: LOWER = first offset stored at or after the time; UPPER =
    /// last offset stored at or before it.
    pub(crate) async fn search_offset(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: SearchOffsetRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let store = self.store.clone();
        let upper = h.boundary_type == Some(BoundaryType::Upper);
        let (topic, qid, ts) = (h.topic.clone(), h.queue_id, h.timestamp);
        let r = rt::run_blocking(&*self.rt, move || -> crate::store::Result<i64> {
            if upper {
                // First offset strictly after the time, minus one.
                let after = store.offset_by_timestamp(&topic, qid, ts.saturating_add(1))?;
                Ok((after - 1).max(store.min_offset(&topic, qid)).max(0))
            } else {
                store.offset_by_timestamp(&topic, qid, ts)
            }
        })
        .await;
        match r {
            Ok(offset) => success().with_header(&SearchOffsetResponseHeader { offset }),
            Err(e) => reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }

    /// GET_EARLIEST_MSG_STORETIME.
    pub(crate) async fn earliest_time(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: GetEarliestMsgStoretimeRequestHeader = match header(req) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let store = self.store.clone();
        match rt::run_blocking(&*self.rt, move || {
            store.earliest_store_time(&h.topic, h.queue_id)
        })
        .await
        {
            Ok(t) => success().with_header(&GetEarliestMsgStoretimeResponseHeader {
                timestamp: t.unwrap_or(-1),
            }),
            Err(e) => reply(ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    }
}
