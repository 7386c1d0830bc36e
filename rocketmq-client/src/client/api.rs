//! [`ClientApi`]: typed RPCs to NameServers and brokers (Java `MQClientAPIImpl`).
//!
//! Every call takes the peer address and a timeout, runs inside a `tracing` span named after
//! the command, and maps failures onto [`Error`]:
//!
//! - transport failures → [`Error::Network`] with the [`Stage`] (`Connect`, `Send`, or
//!   `Timeout` when no answer came in time), the address and the elapsed time;
//! - broker error codes → [`Error::Broker`] with the code, its name, the remark and the
//!   address;
//! - a shut-down client → [`Error::Shutdown`].
//!
//! NameServer calls ([`ClientApi::get_route_info`], [`ClientApi::get_broker_cluster_info`])
//! take no address: they go to the current NameServer and fail over to the next on network
//! errors, splitting the timeout among the remaining addresses so a black-holed NameServer
//! cannot eat the whole budget.
//!
//! Message queues in request and response bodies are converted between
//! [`crate::message_queue::MessageQueue`] and the wire type.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::body::{
    self, CheckClientRequestBody, ClusterInfo, GetConsumerListByGroupResponseBody, JsonBody,
    LockBatchRequestBody, LockBatchResponseBody, TopicRouteData,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::message::{decode_messages, MessageExt};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Clock, Runtime, Stopwatch};
use rocketmq_rs_remoting::transport::RemotingClient;
use rocketmq_rs_remoting::util::MutexExt;
use rocketmq_rs_remoting::{RemotingError, SerializeType};
use tracing::Instrument;

use crate::error::{Error, Result, Stage};
use crate::message::{PopResult, PopStatus, PullResult, PullStatus, SendResult, SendStatus};
use crate::message_queue::MessageQueue;

/// Maps a transport error of a call to `addr` that started at `started`.
pub fn network_error(addr: &str, started: Stopwatch, e: RemotingError) -> Error {
    let stage = match &e {
        RemotingError::Shutdown => return Error::Shutdown,
        RemotingError::Connect { .. } => Stage::Connect,
        RemotingError::Timeout { .. } => Stage::Timeout,
        RemotingError::Io(_) | RemotingError::ConnectionClosed { .. } => Stage::Send,
        _ => return Error::Remoting(e),
    };
    Error::Network {
        stage,
        addr: addr.to_owned(),
        elapsed: started.elapsed(),
        source: e,
    }
}

/// The error for a response with an unexpected code; `started` is when the request was sent.
/// ACL refusals become [`Error::AccessDenied`], everything else [`Error::Broker`].
pub fn broker_error(addr: &str, resp: &RemotingCommand, started: Stopwatch) -> Error {
    let remark = resp.remark.as_deref().unwrap_or_default();
    if let Some(e) = Error::access_denied(resp.code, remark, addr, started.elapsed()) {
        return e;
    }
    Error::Broker {
        code: resp.code,
        name: ResponseCode::name(resp.code).unwrap_or("UNKNOWN"),
        remark: remark.to_owned(),
        addr: addr.to_owned(),
        elapsed: started.elapsed(),
    }
}

fn malformed(addr: &str, what: &str, e: RemotingError) -> Error {
    tracing::warn!(addr, what, error = %e, "malformed response");
    Error::Remoting(e)
}

/// Where UPDATE_AND_CREATE_TOPIC goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicTarget {
    /// One broker address (`host:port`).
    Broker(String),
    /// Every master of the named cluster (looked up on the NameServers).
    Cluster(String),
}

/// Typed RPCs over a [`RemotingClient`], with NameServer failover. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientApi {
    remoting: RemotingClient,
    namesrv: Arc<Vec<String>>,
    current_ns: Arc<AtomicUsize>,
    serialize_type: SerializeType,
    /// Brokers that answered LITE_PULL_MESSAGE with REQUEST_CODE_NOT_SUPPORTED (Apache 4.x):
    /// lite pulls go to them as PULL_MESSAGE.
    no_lite_pull: Arc<Mutex<HashSet<String>>>,
    /// The runtime's clock, copied so that timing each call costs no virtual call.
    clock: Clock,
}

impl ClientApi {
    /// An API over `remoting` using the NameServers `namesrv_addrs` (must be non-empty for
    /// NameServer calls to work).
    pub fn new(
        remoting: RemotingClient,
        namesrv_addrs: Vec<String>,
        serialize_type: SerializeType,
    ) -> Self {
        let start = if namesrv_addrs.is_empty() {
            0
        } else {
            fastrand::usize(..namesrv_addrs.len())
        };
        ClientApi {
            clock: remoting.runtime().clock(),
            remoting,
            namesrv: Arc::new(namesrv_addrs),
            current_ns: Arc::new(AtomicUsize::new(start)),
            serialize_type,
            no_lite_pull: Arc::default(),
        }
    }

    /// The underlying remoting client.
    pub fn remoting(&self) -> &RemotingClient {
        &self.remoting
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.remoting.runtime()
    }

    /// The runtime's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The NameServer addresses.
    pub fn namesrv_addrs(&self) -> &[String] {
        &self.namesrv
    }

    fn request(&self, code: i32) -> RemotingCommand {
        RemotingCommand::request(code).with_serialize_type(self.serialize_type)
    }

    /// Sends `cmd` to `addr` and returns the response (any code).
    ///
    /// # Errors
    ///
    /// [`Error::Network`] / [`Error::Shutdown`].
    pub async fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let started = self.clock.stopwatch();
        let code = cmd.code;
        // Events, not a span: a span per RPC costs more than the RPC's own bookkeeping on the
        // send path, and the events carry the same fields.
        let r = self.remoting.invoke(addr, cmd, timeout).await;
        match &r {
            Ok(resp) => {
                tracing::trace!(code, addr, resp = resp.code, elapsed = ?started.elapsed(), "answered")
            }
            Err(e) => {
                tracing::debug!(code, addr, error = %e, elapsed = ?started.elapsed(), "rpc failed")
            }
        }
        r.map_err(|e| network_error(addr, started, e))
    }

    /// Sends `cmd` to `addr` oneway.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] / [`Error::Shutdown`] when no connection could be had in `timeout`.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<()> {
        let started = self.clock.stopwatch();
        let code = cmd.code;
        cmd.mark_oneway();
        self.remoting
            .invoke_oneway(addr, cmd, timeout)
            .await
            .map_err(|e| {
                tracing::debug!(code, addr, error = %e, "oneway rpc failed");
                network_error(addr, started, e)
            })
    }

    /// Sends `cmd` and requires `SUCCESS`.
    async fn invoke_ok(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let started = self.clock.stopwatch();
        let resp = self.invoke(addr, cmd, timeout).await?;
        if resp.code == ResponseCode::SUCCESS {
            Ok(resp)
        } else {
            Err(broker_error(addr, &resp, started))
        }
    }

    /// Sends a `code` request with `header` and requires `SUCCESS`: the common shape of the
    /// typed RPCs below.
    async fn call_ok<H: CommandHeader>(
        &self,
        addr: &str,
        code: i32,
        header: &H,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let cmd = self.request(code).with_header(header);
        self.invoke_ok(addr, cmd, timeout).await
    }

    /// As [`call_ok`](Self::call_ok), returning the required integer ext field `field` of the
    /// answer.
    async fn call_i64<H: CommandHeader>(
        &self,
        addr: &str,
        code: i32,
        header: &H,
        field: &'static str,
        timeout: Duration,
    ) -> Result<i64> {
        let resp = self.call_ok(addr, code, header, timeout).await?;
        required::<i64>(&resp.ext_fields, field).map_err(|e| malformed(addr, field, e))
    }

    /// Sends a `code` request with `header` oneway.
    async fn call_oneway<H: CommandHeader>(
        &self,
        addr: &str,
        code: i32,
        header: &H,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = self.request(code).with_header(header);
        self.invoke_oneway(addr, cmd, timeout).await
    }

    /// Sends `make()` to the NameServers with failover; returns the first response (any
    /// code) and the address that gave it.
    async fn invoke_namesrv(
        &self,
        make: impl Fn() -> RemotingCommand,
        timeout: Duration,
    ) -> Result<(RemotingCommand, String)> {
        let n = self.namesrv.len();
        if n == 0 {
            return Err(Error::Config("no NameServer address configured".into()));
        }
        let started = self.clock.stopwatch();
        let first = self.current_ns.load(Ordering::Relaxed);
        let mut last_error = String::new();
        for i in 0..n {
            let remaining = timeout.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                break;
            }
            let idx = (first + i) % n;
            let addr = &self.namesrv[idx];
            // Give each remaining address a fair share so one silent NameServer cannot use up
            // the whole budget; the last one gets everything left.
            let share = if i + 1 == n {
                remaining
            } else {
                remaining / (n - i) as u32
            };
            match self
                .invoke(addr, make(), share.max(Duration::from_millis(1)))
                .await
            {
                Ok(resp) => {
                    if idx != first {
                        self.current_ns.store(idx, Ordering::Relaxed);
                    }
                    return Ok((resp, addr.clone()));
                }
                Err(Error::Shutdown) => return Err(Error::Shutdown),
                Err(e) => {
                    tracing::debug!(namesrv = %addr, error = %e, "NameServer failed, trying the next one");
                    last_error = e.to_string();
                }
            }
        }
        // Start from the next address next time.
        self.current_ns.store((first + 1) % n, Ordering::Relaxed);
        if last_error.is_empty() {
            last_error = format!("deadline of {timeout:?} passed");
        }
        Err(Error::NameServerUnreachable {
            addrs: self.namesrv.join(";"),
            last_error,
        })
    }

    /// GET_ROUTEINFO_BY_TOPIC (105) with failover. `Ok(None)` when the topic does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::NameServerUnreachable`], [`Error::Broker`] for other codes, decode errors.
    pub async fn get_route_info(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Option<TopicRouteData>> {
        let header = GetRouteInfoRequestHeader::new(topic);
        let started = self.clock.stopwatch();
        let (resp, addr) = self
            .invoke_namesrv(
                || {
                    self.request(RequestCode::GET_ROUTEINFO_BY_TOPIC)
                        .with_header(&header)
                },
                timeout,
            )
            .instrument(tracing::debug_span!("get_route_info", topic))
            .await?;
        match resp.code {
            ResponseCode::SUCCESS => TopicRouteData::from_json(&resp.body)
                .map(Some)
                .map_err(|e| malformed(&addr, "TopicRouteData", e)),
            ResponseCode::TOPIC_NOT_EXIST => Ok(None),
            _ => Err(broker_error(&addr, &resp, started)),
        }
    }

    /// GET_BROKER_CLUSTER_INFO (106) with failover.
    ///
    /// # Errors
    ///
    /// As [`ClientApi::get_route_info`].
    pub async fn get_broker_cluster_info(&self, timeout: Duration) -> Result<ClusterInfo> {
        let started = self.clock.stopwatch();
        let (resp, addr) = self
            .invoke_namesrv(
                || self.request(RequestCode::GET_BROKER_CLUSTER_INFO),
                timeout,
            )
            .await?;
        if resp.code != ResponseCode::SUCCESS {
            return Err(broker_error(&addr, &resp, started));
        }
        ClusterInfo::from_json(&resp.body).map_err(|e| malformed(&addr, "ClusterInfo", e))
    }

    /// The request code of a send with `header`.
    fn send_code(header: &SendMessageRequestHeaderV2Ref<'_>) -> i32 {
        if header.m == Some(true) {
            RequestCode::SEND_BATCH_MESSAGE
        } else if header.i.is_some_and(is_reply_properties) {
            // Java sends replies (MSG_TYPE=reply) with their own code so that the broker
            // pushes them to the requester (request-reply, 4.6+).
            RequestCode::SEND_REPLY_MESSAGE_V2
        } else {
            RequestCode::SEND_MESSAGE_V2
        }
    }

    fn send_request(
        header: SendMessageRequestHeaderV2Ref<'_>,
        body: Bytes,
        serialize_type: SerializeType,
    ) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(Self::send_code(&header))
            .with_serialize_type(serialize_type)
            .with_body(body);
        header.write_to(&mut cmd.ext_fields);
        cmd
    }

    /// SEND_MESSAGE_V2 (310), or SEND_BATCH_MESSAGE (320) when `header.m == Some(true)`.
    ///
    /// `mq` is the target queue (topic as the caller wants it reported, i.e. without
    /// namespace), `msg_id` the client message id(s) to report.
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] for codes other than 0/10/11/12, network errors, a malformed answer.
    pub async fn send_message(
        &self,
        addr: &str,
        mq: &MessageQueue,
        header: &SendMessageRequestHeaderV2,
        body: Bytes,
        msg_id: String,
        timeout: Duration,
    ) -> Result<SendResult> {
        self.send_message_to(addr, mq.clone(), header, body, msg_id, timeout)
            .await
    }

    /// As [`send_message`](Self::send_message), taking the target queue by value: it becomes
    /// the result's queue (with the queue id the broker used) without another copy.
    ///
    /// # Errors
    ///
    /// As [`send_message`](Self::send_message).
    pub async fn send_message_to(
        &self,
        addr: &str,
        mq: MessageQueue,
        header: &SendMessageRequestHeaderV2,
        body: Bytes,
        msg_id: String,
        timeout: Duration,
    ) -> Result<SendResult> {
        self.send_message_ref(addr, mq, header.borrowed(), body, msg_id, timeout)
            .await
    }

    /// As [`send_message_to`](Self::send_message_to), with a borrowed header: its strings are
    /// copied once, into the request, instead of being owned by a header first.
    ///
    /// # Errors
    ///
    /// As [`send_message`](Self::send_message).
    pub async fn send_message_ref(
        &self,
        addr: &str,
        mq: MessageQueue,
        header: SendMessageRequestHeaderV2Ref<'_>,
        body: Bytes,
        msg_id: String,
        timeout: Duration,
    ) -> Result<SendResult> {
        let started = self.clock.stopwatch();
        let code = Self::send_code(&header);
        // The header goes straight into the frame and the answer's fields are read straight
        // from the received header (no field map either way): the hot path of every send.
        let resp = self
            .remoting
            .invoke_raw(addr, code, &header, body, timeout)
            .await;
        let resp = match resp {
            Ok(resp) => {
                tracing::trace!(code, addr, resp = resp.code, elapsed = ?started.elapsed(), "answered");
                resp
            }
            Err(e) => {
                tracing::debug!(code, addr, error = %e, elapsed = ?started.elapsed(), "rpc failed");
                return Err(network_error(addr, started, e));
            }
        };
        let Some(status) = SendStatus::from_code(resp.code) else {
            return Err(broker_error(addr, &resp.into_command(), started));
        };
        let h = take_send_response(resp.fields())
            .map_err(|e| malformed(addr, "SendMessageResponseHeader", e))?;
        Ok(SendResult {
            status,
            msg_id,
            offset_msg_id: h.msg_id,
            message_queue: MessageQueue {
                queue_id: h.queue_id,
                ..mq
            },
            queue_offset: h.queue_offset,
            transaction_id: h.transaction_id,
            region_id: h.msg_region,
            trace_on: h.trace_on.unwrap_or(false),
        })
    }

    /// The send request sent oneway.
    ///
    /// # Errors
    ///
    /// Network errors while getting a connection.
    pub async fn send_message_oneway(
        &self,
        addr: &str,
        header: &SendMessageRequestHeaderV2,
        body: Bytes,
        timeout: Duration,
    ) -> Result<()> {
        self.send_message_oneway_ref(addr, header.borrowed(), body, timeout)
            .await
    }

    /// As [`send_message_oneway`](Self::send_message_oneway), with a borrowed header.
    ///
    /// # Errors
    ///
    /// As [`send_message_oneway`](Self::send_message_oneway).
    pub async fn send_message_oneway_ref(
        &self,
        addr: &str,
        header: SendMessageRequestHeaderV2Ref<'_>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = Self::send_request(header, body, self.serialize_type);
        self.invoke_oneway(addr, cmd, timeout).await
    }

    /// HEART_BEAT (34); returns the broker's `version`.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn heartbeat(
        &self,
        addr: &str,
        data: &body::HeartbeatData,
        timeout: Duration,
    ) -> Result<i32> {
        let cmd = self
            .request(RequestCode::HEART_BEAT)
            .with_header(&HeartbeatRequestHeader::default())
            .with_body(data.to_json());
        let resp = self.invoke_ok(addr, cmd, timeout).await?;
        Ok(resp.version)
    }

    /// UNREGISTER_CLIENT (35) for one producer or consumer group.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn unregister_client(
        &self,
        addr: &str,
        client_id: &str,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
        timeout: Duration,
    ) -> Result<()> {
        let header = UnregisterClientRequestHeader {
            client_id: client_id.to_owned(),
            producer_group: producer_group.map(str::to_owned),
            consumer_group: consumer_group.map(str::to_owned),
            bname: None,
        };
        self.call_ok(addr, RequestCode::UNREGISTER_CLIENT, &header, timeout)
            .await
            .map(drop)
    }

    /// PULL_MESSAGE (11), or LITE_PULL_MESSAGE (361) when `lite`. Found messages are decoded
    /// (bodies decompressed); codes 0/19/20/21 map to [`PullStatus`]. A broker without
    /// LITE_PULL_MESSAGE (Apache 4.x answers REQUEST_CODE_NOT_SUPPORTED) is asked again with
    /// PULL_MESSAGE, as Apache's 4.x lite pull consumer always does, and from then on directly.
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] for other codes (e.g. `SUBSCRIPTION_NOT_EXIST`), network errors,
    /// undecodable bodies.
    pub async fn pull_message(
        &self,
        addr: &str,
        header: &PullMessageRequestHeader,
        lite: bool,
        timeout: Duration,
    ) -> Result<PullResult> {
        self.pull_message_with_body(addr, header, lite, timeout)
            .await
            .map(|(r, _)| r)
    }

    /// [`pull_message`](Self::pull_message), also returning the response body the messages were
    /// decoded from: their stored records, back to back (empty unless messages were found).
    pub(crate) async fn pull_message_with_body(
        &self,
        addr: &str,
        header: &PullMessageRequestHeader,
        lite: bool,
        timeout: Duration,
    ) -> Result<(PullResult, Bytes)> {
        let started = self.clock.stopwatch();
        let lite = lite && !self.lacks_lite_pull(addr);
        let mut resp = self.pull_once(addr, header, lite, timeout).await?;
        if lite && resp.code == ResponseCode::REQUEST_CODE_NOT_SUPPORTED {
            self.no_lite_pull.lock_unpoisoned().insert(addr.to_owned());
            let left = timeout.saturating_sub(started.elapsed());
            resp = self.pull_once(addr, header, false, left).await?;
        }
        let status = match resp.code {
            ResponseCode::SUCCESS => PullStatus::Found,
            ResponseCode::PULL_NOT_FOUND => PullStatus::NoNewMsg,
            ResponseCode::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMsg,
            ResponseCode::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
            _ => return Err(broker_error(addr, &resp, started)),
        };
        let h: PullMessageResponseHeader = resp
            .decode_header()
            .map_err(|e| malformed(addr, "PullMessageResponseHeader", e))?;
        let (messages, body) = if status == PullStatus::Found && !resp.body.is_empty() {
            let messages = decode_messages(resp.body.clone())
                .map_err(|e| malformed(addr, "pulled messages", e))?;
            (messages, resp.body)
        } else {
            (Vec::new(), Bytes::new())
        };
        let result = PullResult {
            status,
            next_begin_offset: h.next_begin_offset,
            min_offset: h.min_offset,
            max_offset: h.max_offset,
            suggest_which_broker_id: h.suggest_which_broker_id,
            messages,
        };
        Ok((result, body))
    }

    fn lacks_lite_pull(&self, addr: &str) -> bool {
        self.no_lite_pull.lock_unpoisoned().contains(addr)
    }

    async fn pull_once(
        &self,
        addr: &str,
        header: &PullMessageRequestHeader,
        lite: bool,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let code = if lite {
            RequestCode::LITE_PULL_MESSAGE
        } else {
            RequestCode::PULL_MESSAGE
        };
        let cmd = self.request(code).with_header(header);
        self.invoke(addr, cmd, timeout)
            .instrument(tracing::debug_span!(
                "pull_message",
                topic = %header.topic,
                queue = header.queue_id,
                offset = header.queue_offset,
                lite
            ))
            .await
    }

    /// QUERY_CONSUMER_OFFSET (14); `Ok(None)` when the broker has no offset
    /// (`QUERY_NOT_FOUND`).
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn query_consumer_offset(
        &self,
        addr: &str,
        header: &QueryConsumerOffsetRequestHeader,
        timeout: Duration,
    ) -> Result<Option<i64>> {
        let cmd = self
            .request(RequestCode::QUERY_CONSUMER_OFFSET)
            .with_header(header);
        let started = self.clock.stopwatch();
        let resp = self.invoke(addr, cmd, timeout).await?;
        match resp.code {
            ResponseCode::SUCCESS => {
                let h: QueryConsumerOffsetResponseHeader = resp
                    .decode_header()
                    .map_err(|e| malformed(addr, "QueryConsumerOffsetResponseHeader", e))?;
                Ok(Some(h.offset))
            }
            ResponseCode::QUERY_NOT_FOUND => Ok(None),
            _ => Err(broker_error(addr, &resp, started)),
        }
    }

    /// UPDATE_CONSUMER_OFFSET (15), waiting for the answer.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn update_consumer_offset(
        &self,
        addr: &str,
        header: &UpdateConsumerOffsetRequestHeader,
        timeout: Duration,
    ) -> Result<()> {
        self.call_ok(addr, RequestCode::UPDATE_CONSUMER_OFFSET, header, timeout)
            .await
            .map(drop)
    }

    /// UPDATE_CONSUMER_OFFSET (15) oneway (what Java does periodically).
    ///
    /// # Errors
    ///
    /// Network errors while getting a connection.
    pub async fn update_consumer_offset_oneway(
        &self,
        addr: &str,
        header: &UpdateConsumerOffsetRequestHeader,
        timeout: Duration,
    ) -> Result<()> {
        self.call_oneway(addr, RequestCode::UPDATE_CONSUMER_OFFSET, header, timeout)
            .await
    }

    /// GET_MAX_OFFSET (30): the next offset to be written in the queue.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn get_max_offset(
        &self,
        addr: &str,
        mq: &MessageQueue,
        timeout: Duration,
    ) -> Result<i64> {
        let header = GetMaxOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            committed: true,
            bname: Some(mq.broker_name.clone()),
        };
        self.call_i64(
            addr,
            RequestCode::GET_MAX_OFFSET,
            &header,
            "offset",
            timeout,
        )
        .await
    }

    /// GET_MIN_OFFSET (31): the first retained offset of the queue.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn get_min_offset(
        &self,
        addr: &str,
        mq: &MessageQueue,
        timeout: Duration,
    ) -> Result<i64> {
        let header = GetMinOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            bname: Some(mq.broker_name.clone()),
        };
        self.call_i64(
            addr,
            RequestCode::GET_MIN_OFFSET,
            &header,
            "offset",
            timeout,
        )
        .await
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn search_offset_by_timestamp(
        &self,
        addr: &str,
        mq: &MessageQueue,
        timestamp_ms: i64,
        boundary: BoundaryType,
        timeout: Duration,
    ) -> Result<i64> {
        let header = SearchOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            timestamp: timestamp_ms,
            boundary_type: Some(boundary),
            bname: Some(mq.broker_name.clone()),
        };
        self.call_i64(
            addr,
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
            &header,
            "offset",
            timeout,
        )
        .await
    }

    /// GET_EARLIEST_MSG_STORETIME (32): store time (ms) of the queue's first message.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn get_earliest_msg_store_time(
        &self,
        addr: &str,
        mq: &MessageQueue,
        timeout: Duration,
    ) -> Result<i64> {
        let header = GetEarliestMsgStoretimeRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            bname: Some(mq.broker_name.clone()),
        };
        self.call_i64(
            addr,
            RequestCode::GET_EARLIEST_MSG_STORETIME,
            &header,
            "timestamp",
            timeout,
        )
        .await
    }

    /// GET_CONSUMER_LIST_BY_GROUP (38): client ids of the group's consumers connected to the
    /// broker. A broker answers `SYSTEM_ERROR` for an unknown group (docs/protocol/pull.md §3); that is
    /// returned as an empty list.
    ///
    /// # Errors
    ///
    /// Network errors, other broker codes.
    pub async fn get_consumer_id_list(
        &self,
        addr: &str,
        group: &str,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: group.to_owned(),
            bname: None,
        };
        let cmd = self
            .request(RequestCode::GET_CONSUMER_LIST_BY_GROUP)
            .with_header(&header);
        let started = self.clock.stopwatch();
        let resp = self.invoke(addr, cmd, timeout).await?;
        match resp.code {
            ResponseCode::SUCCESS => GetConsumerListByGroupResponseBody::from_json(&resp.body)
                .map(|b| b.consumer_id_list)
                .map_err(|e| malformed(addr, "consumer id list", e)),
            ResponseCode::SYSTEM_ERROR => Ok(Vec::new()),
            _ => Err(broker_error(addr, &resp, started)),
        }
    }

    /// CHECK_CLIENT_CONFIG: whether the broker at `addr` accepts a subscription (Java
    /// `checkClientInBroker`; docs/protocol/heartbeat.md §6). A refusal is
    /// [`Error::Broker`] with the broker's code and remark (for an SQL92
    /// expression that does not compile, the compiler's message).
    pub async fn check_client_config(
        &self,
        addr: &str,
        body: &CheckClientRequestBody,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = self
            .request(RequestCode::CHECK_CLIENT_CONFIG)
            .with_body(body.to_json());
        let started = self.clock.stopwatch();
        let resp = self.invoke(addr, cmd, timeout).await?;
        match resp.code {
            ResponseCode::SUCCESS => Ok(()),
            _ => Err(broker_error(addr, &resp, started)),
        }
    }

    fn lock_body(group: &str, client_id: &str, mqs: &[MessageQueue]) -> Bytes {
        LockBatchRequestBody {
            consumer_group: group.to_owned(),
            client_id: client_id.to_owned(),
            only_this_broker: false,
            mq_set: mqs.iter().cloned().collect::<BTreeSet<_>>(),
        }
        .to_json()
    }

    /// QUERY_ASSIGNMENT (400): the queues of `topic` the broker assigns this client, each with
    /// the mode (pull or POP) to consume it in (docs/protocol/pop.md §10). `Ok(None)`: the broker
    /// has no valid answer (unknown topic, client not yet a member); keep what you have.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`] (`REQUEST_CODE_NOT_SUPPORTED` from brokers before 5.0).
    pub async fn query_assignment(
        &self,
        addr: &str,
        body: &rocketmq_rs_remoting::protocol::body::QueryAssignmentRequestBody,
        timeout: Duration,
    ) -> Result<Option<Vec<rocketmq_rs_remoting::protocol::body::MessageQueueAssignment>>> {
        let cmd = self
            .request(RequestCode::QUERY_ASSIGNMENT)
            .with_body(body.to_json());
        let resp = self.invoke_ok(addr, cmd, timeout).await?;
        let body = rocketmq_rs_remoting::protocol::body::QueryAssignmentResponseBody::from_json(
            &resp.body,
        )
        .map_err(|e| malformed(addr, "QueryAssignmentResponseBody", e))?;
        Ok(body.message_queue_assignments)
    }

    /// SET_MESSAGE_REQUEST_MODE (401): sets how `body.consumer_group` consumes `body.topic`
    /// on the broker at `addr` (`mqadmin setConsumeMode`; docs/protocol/pop.md §10).
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`] (`TOPIC_NOT_EXIST`, `SUBSCRIPTION_GROUP_NOT_EXIST`,
    /// `NO_PERMISSION` for a retry topic).
    pub async fn set_message_request_mode(
        &self,
        addr: &str,
        body: &rocketmq_rs_remoting::protocol::body::SetMessageRequestModeRequestBody,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = self
            .request(RequestCode::SET_MESSAGE_REQUEST_MODE)
            .with_body(body.to_json());
        self.invoke_ok(addr, cmd, timeout).await.map(|_| ())
    }

    /// LOCK_BATCH_MQ (41): returns the queues now locked by `client_id`.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn lock_batch_mq(
        &self,
        addr: &str,
        group: &str,
        client_id: &str,
        mqs: &[MessageQueue],
        timeout: Duration,
    ) -> Result<Vec<MessageQueue>> {
        let cmd = self
            .request(RequestCode::LOCK_BATCH_MQ)
            .with_header(&LockBatchMqRequestHeader::default())
            .with_body(Self::lock_body(group, client_id, mqs));
        let resp = self.invoke_ok(addr, cmd, timeout).await?;
        let body = LockBatchResponseBody::from_json(&resp.body)
            .map_err(|e| malformed(addr, "LockBatchResponseBody", e))?;
        Ok(body.lock_ok_mq_set.into_iter().collect())
    }

    /// UNLOCK_BATCH_MQ (42), oneway when `oneway`.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn unlock_batch_mq(
        &self,
        addr: &str,
        group: &str,
        client_id: &str,
        mqs: &[MessageQueue],
        oneway: bool,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = self
            .request(RequestCode::UNLOCK_BATCH_MQ)
            .with_header(&UnlockBatchMqRequestHeader::default())
            .with_body(Self::lock_body(group, client_id, mqs));
        if oneway {
            self.invoke_oneway(addr, cmd, timeout).await
        } else {
            self.invoke_ok(addr, cmd, timeout).await.map(drop)
        }
    }

    /// CONSUMER_SEND_MSG_BACK (36).
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn consumer_send_msg_back(
        &self,
        addr: &str,
        header: &ConsumerSendMsgBackRequestHeader,
        timeout: Duration,
    ) -> Result<()> {
        self.call_ok(addr, RequestCode::CONSUMER_SEND_MSG_BACK, header, timeout)
            .await
            .map(drop)
    }

    /// A POP-family request. Their codes do not fit the binary header's 16-bit code field, so
    /// they always travel with JSON headers (docs/protocol/pop.md §1).
    fn pop_request<H: CommandHeader>(code: i32, header: &H) -> RemotingCommand {
        RemotingCommand::request(code)
            .with_serialize_type(SerializeType::Json)
            .with_header(header)
    }

    /// POP_MESSAGE (200050) to the broker `broker_name` at `addr`: the messages get their
    /// receipt handles (property `POP_CK`) as Apache's client builds them. POLLING_TIMEOUT and
    /// PULL_NOT_FOUND are [`PopStatus::NoNewMsg`], POLLING_FULL [`PopStatus::PollingFull`].
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] for other codes (e.g. `TOPIC_NOT_EXIST`), network errors, undecodable
    /// bodies or offset info.
    pub async fn pop_message(
        &self,
        addr: &str,
        broker_name: &str,
        header: &PopMessageRequestHeader,
        timeout: Duration,
    ) -> Result<PopResult> {
        let started = self.clock.stopwatch();
        let cmd = Self::pop_request(RequestCode::POP_MESSAGE, header);
        let resp = self
            .invoke(addr, cmd, timeout)
            .instrument(tracing::debug_span!(
                "pop_message",
                topic = %header.topic,
                queue = header.queue_id,
                broker = broker_name,
                order = header.is_order()
            ))
            .await?;
        let status = match resp.code {
            ResponseCode::SUCCESS => PopStatus::Found,
            ResponseCode::POLLING_TIMEOUT | ResponseCode::PULL_NOT_FOUND => PopStatus::NoNewMsg,
            ResponseCode::POLLING_FULL => PopStatus::PollingFull,
            _ => return Err(broker_error(addr, &resp, started)),
        };
        let h: PopMessageResponseHeader = resp
            .decode_header()
            .map_err(|e| malformed(addr, "PopMessageResponseHeader", e))?;
        let mut messages = Vec::new();
        if status == PopStatus::Found && !resp.body.is_empty() {
            messages = decode_messages(resp.body.clone())
                .map_err(|e| malformed(addr, "popped messages", e))?;
            rocketmq_rs_remoting::protocol::pop::attach_receipts(
                &mut messages,
                broker_name,
                h.pop_time,
                h.invisible_time,
                h.revive_qid,
                h.start_offset_info.as_deref(),
                h.msg_offset_info.as_deref(),
                h.order_count_info.as_deref(),
            )
            .map_err(|e| {
                malformed(
                    addr,
                    "pop offset info",
                    RemotingError::InvalidField {
                        field: "startOffsetInfo",
                        value: e.to_string(),
                    },
                )
            })?;
        }
        Ok(PopResult {
            status,
            pop_time: h.pop_time,
            invisible_time: h.invisible_time,
            revive_qid: h.revive_qid,
            rest_num: h.rest_num,
            messages,
        })
    }

    /// ACK_MESSAGE (200051).
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`] (e.g. `NO_MESSAGE` for an offset the queue no longer
    /// holds).
    pub async fn ack_message(
        &self,
        addr: &str,
        header: &AckMessageRequestHeader,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = Self::pop_request(RequestCode::ACK_MESSAGE, header);
        self.invoke_ok(addr, cmd, timeout)
            .instrument(tracing::debug_span!("ack_message", topic = %header.topic, queue = header.queue_id, offset = header.offset))
            .await
            .map(drop)
    }

    /// BATCH_ACK_MESSAGE (200151): many acks of one broker in one request.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`] (`NO_MESSAGE` for an empty list).
    pub async fn batch_ack_message(
        &self,
        addr: &str,
        body: &rocketmq_rs_remoting::protocol::pop::BatchAckMessageRequestBody,
        timeout: Duration,
    ) -> Result<()> {
        let cmd = RemotingCommand::request(RequestCode::BATCH_ACK_MESSAGE)
            .with_serialize_type(SerializeType::Json)
            .with_body(body::JsonBody::to_json(body));
        self.invoke_ok(addr, cmd, timeout)
            .instrument(tracing::debug_span!(
                "batch_ack_message",
                acks = body.acks.len()
            ))
            .await
            .map(drop)
    }

    /// CHANGE_MESSAGE_INVISIBLETIME (200053): the broker's answer carries the new receipt's
    /// pop time, invisible time and revive queue.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn change_invisible_time(
        &self,
        addr: &str,
        header: &ChangeInvisibleTimeRequestHeader,
        timeout: Duration,
    ) -> Result<ChangeInvisibleTimeResponseHeader> {
        let cmd = Self::pop_request(RequestCode::CHANGE_MESSAGE_INVISIBLETIME, header);
        let resp = self
            .invoke_ok(addr, cmd, timeout)
            .instrument(tracing::debug_span!("change_invisible_time", topic = %header.topic, queue = header.queue_id, offset = header.offset))
            .await?;
        resp.decode_header()
            .map_err(|e| malformed(addr, "ChangeInvisibleTimeResponseHeader", e))
    }

    /// END_TRANSACTION (37), oneway (as Java sends it).
    ///
    /// # Errors
    ///
    /// Network errors while getting a connection.
    pub async fn end_transaction(
        &self,
        addr: &str,
        header: &EndTransactionRequestHeader,
        remark: Option<String>,
        timeout: Duration,
    ) -> Result<()> {
        let mut cmd = self
            .request(RequestCode::END_TRANSACTION)
            .with_header(header);
        cmd.remark = remark;
        self.invoke_oneway(addr, cmd, timeout).await
    }

    /// UPDATE_AND_CREATE_TOPIC (17) on one broker.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`].
    pub async fn create_topic(
        &self,
        addr: &str,
        header: &CreateTopicRequestHeader,
        timeout: Duration,
    ) -> Result<()> {
        self.call_ok(addr, RequestCode::UPDATE_AND_CREATE_TOPIC, header, timeout)
            .await
            .map(drop)
    }

    /// VIEW_MESSAGE_BY_ID (33): the message at commit-log `offset` of the broker at `addr`
    /// (see [`rocketmq_rs_remoting::protocol::message::parse_offset_msg_id`]).
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`], an empty or undecodable body.
    pub async fn view_message(
        &self,
        addr: &str,
        offset: i64,
        timeout: Duration,
    ) -> Result<MessageExt> {
        let header = ViewMessageRequestHeader {
            topic: None,
            offset,
        };
        let resp = self
            .call_ok(addr, RequestCode::VIEW_MESSAGE_BY_ID, &header, timeout)
            .await?;
        let mut msgs =
            decode_messages(resp.body.clone()).map_err(|e| malformed(addr, "message", e))?;
        if msgs.is_empty() {
            return Err(Error::Remoting(RemotingError::decode(
                "VIEW_MESSAGE_BY_ID answered without a message",
            )));
        }
        Ok(msgs.swap_remove(0))
    }

    /// QUERY_MESSAGE (12): messages by key (or by `UNIQ_KEY` when
    /// `header.unique_key_query == Some(true)`). `QUERY_NOT_FOUND` gives an empty list.
    ///
    /// # Errors
    ///
    /// Network errors, [`Error::Broker`], undecodable bodies.
    pub async fn query_message(
        &self,
        addr: &str,
        header: &QueryMessageRequestHeader,
        timeout: Duration,
    ) -> Result<Vec<MessageExt>> {
        let cmd = self.request(RequestCode::QUERY_MESSAGE).with_header(header);
        let started = self.clock.stopwatch();
        let resp = self.invoke(addr, cmd, timeout).await?;
        match resp.code {
            ResponseCode::SUCCESS => {
                decode_messages(resp.body.clone()).map_err(|e| malformed(addr, "messages", e))
            }
            ResponseCode::QUERY_NOT_FOUND => Ok(Vec::new()),
            _ => Err(broker_error(addr, &resp, started)),
        }
    }
}

/// Whether an encoded properties string marks a reply (`MSG_TYPE=reply`).
fn is_reply_properties(props: &str) -> bool {
    use rocketmq_rs_remoting::protocol::message::{decode_properties, property};
    // Cheap pre-check: most sends are not replies.
    props.contains(property::MESSAGE_TYPE)
        && decode_properties(props).get(property::MESSAGE_TYPE)
            == Some(crate::producer::request::REPLY_MESSAGE_FLAG)
}

/// The fields of a send response ([`SendMessageResponseHeader`]) the producer reports: the same
/// rules as `SendMessageResponseHeader::read_from` (required `msgId`, `queueId`, `queueOffset`;
/// unparsable optional fields are absent), in one pass over the fields (in wire order: a
/// repeated key's last value wins, as in the field map), copying only the strings the result
/// keeps.
fn take_send_response<'a>(
    fields: impl Iterator<Item = (&'a str, &'a str)>,
) -> std::result::Result<SendMessageResponseHeader, RemotingError> {
    let (mut msg_id, mut queue_id, mut queue_offset, mut transaction_id) = (None, None, None, None);
    let (mut batch_uniq_id, mut recall_handle, mut msg_region, mut trace_on) =
        (None, None, None, None);
    for (key, value) in fields {
        // By length first: each comparison is then against one constant of known size, which
        // compiles to a few word compares instead of a `memcmp` call per candidate key.
        let slot = match key.len() {
            5 if key == "msgId" => &mut msg_id,
            7 if key == "queueId" => &mut queue_id,
            11 if key == "queueOffset" => &mut queue_offset,
            11 if key == "batchUniqId" => &mut batch_uniq_id,
            13 if key == "transactionId" => &mut transaction_id,
            12 if key == "recallHandle" => &mut recall_handle,
            10 if key == "MSG_REGION" => &mut msg_region,
            8 if key == "TRACE_ON" => &mut trace_on,
            _ => continue,
        };
        *slot = Some(value);
    }
    // Checked in declaration order, so the error names the same field `read_from` would.
    let Some(msg_id) = msg_id else {
        return Err(RemotingError::MissingField { field: "msgId" });
    };
    let queue_id = required_text_of::<i32>(queue_id, "queueId")?;
    let queue_offset = required_text_of::<i64>(queue_offset, "queueOffset")?;
    Ok(SendMessageResponseHeader {
        msg_id: msg_id.to_owned(),
        queue_id,
        queue_offset,
        transaction_id: transaction_id.map(str::to_owned),
        batch_uniq_id: batch_uniq_id.map(str::to_owned),
        recall_handle: recall_handle.map(str::to_owned),
        msg_region: msg_region.map(str::to_owned),
        trace_on: trace_on.map(rocketmq_rs_remoting::protocol::header::parse_bool),
    })
}

/// A required header value already looked up: missing or unparsable are the errors
/// [`required`] gives.
fn required_text_of<T: HeaderValue>(
    text: Option<&str>,
    field: &'static str,
) -> std::result::Result<T, RemotingError> {
    match text {
        Some(v) => T::from_wire(field, v),
        None => Err(RemotingError::MissingField { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketmq_rs_remoting::ExtFields;

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn send_response_fields_are_taken_as_read_from_reads_them() {
        let full = ext(&[
            ("msgId", "0A00"),
            ("queueId", "3"),
            ("queueOffset", "42"),
            ("transactionId", "U1"),
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
        ]);
        let expected = SendMessageResponseHeader::read_from(&full).unwrap();
        assert_eq!(take_send_response(full.iter()).unwrap(), expected);
        let bad_optional = ext(&[("msgId", "x"), ("queueId", "1"), ("queueOffset", "2")]);
        let h = take_send_response(bad_optional.iter()).unwrap();
        assert_eq!((h.trace_on, h.msg_region), (None, None));
        for missing in ["msgId", "queueId", "queueOffset"] {
            let mut e = ext(&[("msgId", "x"), ("queueId", "1"), ("queueOffset", "2")]);
            e.remove(missing);
            let want = SendMessageResponseHeader::read_from(&e)
                .unwrap_err()
                .to_string();
            assert_eq!(take_send_response(e.iter()).unwrap_err().to_string(), want);
        }
        let unparsable = ext(&[("msgId", "x"), ("queueId", "q"), ("queueOffset", "2")]);
        assert!(take_send_response(unparsable.iter()).is_err());
    }
}
