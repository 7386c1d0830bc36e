//! The slave's periodic copy of the master's metadata ([`MetadataSync`], Apache
//! `SlaveSynchronize`): topic configs (GET_ALL_TOPIC_CONFIG 21), consumer offsets
//! (GET_ALL_CONSUMER_OFFSET 43), delay-level progress (GET_ALL_DELAY_OFFSET 45),
//! subscription groups (GET_ALL_SUBSCRIPTIONGROUP_CONFIG 201) and the POP consume modes
//! (GET_ALL_MESSAGE_REQUEST_MODE 402), fetched
//! from the master's ordinary remoting port and handed to a [`MetadataSink`].
//!
//! Staleness: a slave's copy is at most one [`interval`](MetadataSync::start) plus one request
//! round trip older than the master's in-memory state (Apache: 10 s). Offsets committed on the
//! master in that window are not on the slave: a consumer that fails over to the slave may
//! re-consume up to one interval of messages (at-least-once, as with Apache).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{select, Either};
use rocketmq_rs_remoting::protocol::body::{
    normalize_fastjson, JsonBody, TopicConfigSerializeWrapper,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TaskGroup};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};
use rocketmq_rs_remoting::util::MutexExt;
use serde::Deserialize;

use super::HaError;

/// Consumer offsets as Apache keys them: `"topic@group"` → queue id → next offset.
pub type ConsumerOffsetTable = BTreeMap<String, BTreeMap<i32, i64>>;

/// Receives what [`MetadataSync`] fetched. The broker implements it over its managers
/// (replace the topic table, overwrite the consumer offsets, overwrite the delay offsets) and
/// persists as usual. Called from an async task: must not block for long.
pub trait MetadataSink: Send + Sync + 'static {
    /// The master's whole topic table.
    fn topic_configs(&self, table: TopicConfigSerializeWrapper);
    /// The master's whole consumer-offset table.
    fn consumer_offsets(&self, table: ConsumerOffsetTable);
    /// The master's delay-level progress: level → next offset in `SCHEDULE_TOPIC_XXXX`.
    fn delay_offsets(&self, table: BTreeMap<i32, i64>);
    /// The master's subscription-group table (GET_ALL_SUBSCRIPTIONGROUP_CONFIG 201), copied as
    /// Apache's slaves copy it. Ignored by default.
    fn subscription_groups(
        &self,
        _table: rocketmq_rs_remoting::protocol::body::SubscriptionGroupWrapper,
    ) {
    }
    /// The master's consume-mode table (GET_ALL_MESSAGE_REQUEST_MODE 402), copied as Apache's
    /// slaves copy it. Ignored by default.
    fn message_request_modes(
        &self,
        _table: rocketmq_rs_remoting::protocol::body::MessageRequestModeSerializeWrapper,
    ) {
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetBody<K: Ord> {
    #[serde(default)]
    offset_table: BTreeMap<K, serde_json::Value>,
}

/// Parses a GET_ALL_CONSUMER_OFFSET body (Java `ConsumerOffsetSerializeWrapper`, fastjson
/// integer keys accepted).
///
/// ```
/// let t = rocketmq_rs_mini_broker::ha::sync::parse_consumer_offsets(
///     br#"{"offsetTable":{"T@g":{0:5,1:7}},"dataVersion":{"counter":1}}"#).unwrap();
/// assert_eq!(t["T@g"][&1], 7);
/// ```
pub fn parse_consumer_offsets(body: &[u8]) -> Result<ConsumerOffsetTable, HaError> {
    let bad = |e: String| HaError::MetadataSync(format!("bad consumer offset body: {e}"));
    let norm = normalize_fastjson(body).map_err(|e| bad(e.to_string()))?;
    let raw: OffsetBody<String> = serde_json::from_slice(&norm).map_err(|e| bad(e.to_string()))?;
    raw.offset_table
        .into_iter()
        .map(|(k, v)| {
            let q: BTreeMap<i32, i64> =
                serde_json::from_value(v).map_err(|e| bad(format!("{k}: {e}")))?;
            Ok((k, q))
        })
        .collect()
}

/// Parses a GET_ALL_DELAY_OFFSET body (`{"offsetTable":{1:12,...}}`, fastjson keys accepted).
///
/// ```
/// let t = rocketmq_rs_mini_broker::ha::sync::parse_delay_offsets(br#"{"offsetTable":{1:12,3:4}}"#).unwrap();
/// assert_eq!(t[&3], 4);
/// ```
pub fn parse_delay_offsets(body: &[u8]) -> Result<BTreeMap<i32, i64>, HaError> {
    let bad = |e: String| HaError::MetadataSync(format!("bad delay offset body: {e}"));
    let norm = normalize_fastjson(body).map_err(|e| bad(e.to_string()))?;
    let raw: OffsetBody<i32> = serde_json::from_slice(&norm).map_err(|e| bad(e.to_string()))?;
    raw.offset_table
        .into_iter()
        .map(|(k, v)| {
            Ok((
                k,
                serde_json::from_value(v).map_err(|e| bad(e.to_string()))?,
            ))
        })
        .collect()
}

struct SyncInner {
    client: RemotingClient,
    master: Mutex<Option<String>>,
    sink: Arc<dyn MetadataSink>,
    timeout: Duration,
    /// One sync at a time: a periodic sync that fetched a table before a change on the master
    /// and delivered it after an on-demand sync would put the older table back.
    running: futures::lock::Mutex<()>,
    /// Closed while the broker is frozen: the periodic copy waits.
    hold: Arc<crate::faults::HoldGate>,
}

/// Periodically copies the master's metadata to a slave (see the module docs).
pub struct MetadataSync {
    inner: Arc<SyncInner>,
    tasks: TaskGroup,
}

impl std::fmt::Debug for MetadataSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataSync")
            .field("master", &self.master_addr())
            .finish()
    }
}

impl Drop for MetadataSync {
    fn drop(&mut self) {
        self.tasks.signal().trigger();
    }
}

impl MetadataSync {
    /// Starts syncing from `master` (its remoting address `host:port`; `None`: idle until
    /// [`set_master_addr`](Self::set_master_addr)) every `interval`, the first time at once.
    pub fn start(
        rt: Arc<dyn Runtime>,
        master: Option<String>,
        interval: Duration,
        sink: Arc<dyn MetadataSink>,
    ) -> MetadataSync {
        Self::start_with_credentials(rt, master, interval, sink, None)
    }

    /// [`start`](Self::start), signing every request to the master with `credentials`: an
    /// ACL-enabled master refuses unsigned GET_ALL_TOPIC_CONFIG and friends, as Apache's does.
    pub fn start_with_credentials(
        rt: Arc<dyn Runtime>,
        master: Option<String>,
        interval: Duration,
        sink: Arc<dyn MetadataSink>,
        credentials: Option<rocketmq_rs_remoting::acl::AclCredentials>,
    ) -> MetadataSync {
        let transport = {
            let mut c = TransportConfig::default();
            c.credentials = credentials;
            c
        };
        let inner = Arc::new(SyncInner {
            client: RemotingClient::new(Arc::clone(&rt), transport),
            master: Mutex::new(master),
            sink,
            timeout: Duration::from_secs(5),
            running: futures::lock::Mutex::new(()),
            hold: Arc::default(),
        });
        let tasks = TaskGroup::new(Arc::clone(&rt));
        let me = Arc::clone(&inner);
        let stop = tasks.signal().clone();
        let interval = interval.max(Duration::from_millis(10));
        tasks.spawn(async move {
            loop {
                if me.hold.is_closed() {
                    match select(std::pin::pin!(me.hold.opened()), stop.wait()).await {
                        Either::Left(_) => {}
                        Either::Right(_) => return,
                    }
                }
                if me.master().is_some() {
                    if let Err(e) = me.sync_all().await {
                        tracing::warn!(error = %e, "slave metadata sync failed");
                    }
                }
                match select(rt.sleep(interval), stop.wait()).await {
                    Either::Left(_) => {}
                    Either::Right(_) => return,
                }
            }
        });
        MetadataSync { inner, tasks }
    }

    /// The gate a broker freeze closes ([`crate::faults::Faults::freeze`]): while closed no
    /// periodic copy is made.
    pub fn hold_gate(&self) -> Arc<crate::faults::HoldGate> {
        Arc::clone(&self.inner.hold)
    }

    /// Changes the master to copy from.
    pub fn set_master_addr(&self, addr: Option<String>) {
        *self.inner.master.lock_unpoisoned() = addr;
    }

    /// The master currently copied from.
    pub fn master_addr(&self) -> Option<String> {
        self.inner.master()
    }

    /// Fetches all three tables now. Each table is delivered independently: a failure of one
    /// request does not hold back the others; the first error is returned.
    pub async fn sync_once(&self) -> Result<(), HaError> {
        self.inner.sync_all().await
    }

    /// Stops the periodic task and closes the connection. Idempotent.
    pub async fn shutdown(&self) {
        self.tasks.shutdown(Duration::from_secs(3)).await;
        self.inner.client.shutdown();
    }
}

impl SyncInner {
    fn master(&self) -> Option<String> {
        self.master.lock_unpoisoned().clone()
    }

    async fn fetch(&self, addr: &str, code: i32) -> Result<bytes::Bytes, HaError> {
        self.fetch_if_supported(addr, code).await?.ok_or_else(|| {
            HaError::MetadataSync(format!(
                "request {code} to {addr} answered {}: not supported",
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED
            ))
        })
    }

    /// `None` when the master does not know the request (an older Apache master).
    async fn fetch_if_supported(
        &self,
        addr: &str,
        code: i32,
    ) -> Result<Option<bytes::Bytes>, HaError> {
        let resp = self
            .client
            .invoke(addr, RemotingCommand::request(code), self.timeout)
            .await
            .map_err(|e| HaError::MetadataSync(format!("request {code} to {addr}: {e}")))?;
        match resp.code {
            ResponseCode::SUCCESS => Ok(Some(resp.body)),
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED => Ok(None),
            other => Err(HaError::MetadataSync(format!(
                "request {code} to {addr} answered {other}: {}",
                resp.remark.unwrap_or_default()
            ))),
        }
    }

    async fn sync_all(&self) -> Result<(), HaError> {
        let _one_at_a_time = self.running.lock().await;
        let Some(addr) = self.master() else {
            return Err(HaError::MetadataSync("no master address".into()));
        };
        let mut first: Option<HaError> = None;
        let mut note = |e: HaError| {
            if first.is_none() {
                first = Some(e);
            }
        };
        match self
            .fetch(&addr, RequestCode::GET_ALL_TOPIC_CONFIG)
            .await
            .and_then(|b| {
                TopicConfigSerializeWrapper::from_json(&b)
                    .map_err(|e| HaError::MetadataSync(format!("bad topic config body: {e}")))
            }) {
            Ok(t) => self.sink.topic_configs(t),
            Err(e) => note(e),
        }
        match self
            .fetch(&addr, RequestCode::GET_ALL_CONSUMER_OFFSET)
            .await
            .and_then(|b| parse_consumer_offsets(&b))
        {
            Ok(t) => self.sink.consumer_offsets(t),
            Err(e) => note(e),
        }
        match self
            .fetch(&addr, RequestCode::GET_ALL_DELAY_OFFSET)
            .await
            .and_then(|b| parse_delay_offsets(&b))
        {
            Ok(t) => self.sink.delay_offsets(t),
            Err(e) => note(e),
        }
        // A master without a group table or consume modes (one that answers
        // REQUEST_CODE_NOT_SUPPORTED; masters before 5.0 have no modes) leaves the slave's own
        // table alone.
        match self
            .fetch_if_supported(&addr, RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
            .await
        {
            Ok(Some(b)) => {
                match rocketmq_rs_remoting::protocol::body::SubscriptionGroupWrapper::from_json(&b)
                {
                    Ok(t) => self.sink.subscription_groups(t),
                    Err(e) => note(HaError::MetadataSync(format!(
                        "bad subscription group body: {e}"
                    ))),
                }
            }
            Ok(None) => {}
            Err(e) => note(e),
        }
        match self
            .fetch_if_supported(&addr, RequestCode::GET_ALL_MESSAGE_REQUEST_MODE)
            .await
        {
            Ok(Some(b)) => {
                match rocketmq_rs_remoting::protocol::body::MessageRequestModeSerializeWrapper::from_json(&b) {
                    Ok(t) => self.sink.message_request_modes(t),
                    Err(e) => note(HaError::MetadataSync(format!(
                        "bad message request mode body: {e}"
                    ))),
                }
            }
            Ok(None) => {}
            Err(e) => note(e),
        }
        match first {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}
