//! The administrative commands (what `mqadmin` is used for daily), runtime-agnostic.
//!
//! Each command returns a [`Report`]: a text rendering and a JSON value; `main` prints one
//! or the other (`--json`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_client::client::{ClientApi, ClientInstance, CreateTopicOptions, TopicTarget};
use rocketmq_rs_client::{ClientConfig, MessageExt, MessageQueue};
use rocketmq_rs_remoting::protocol::body::{JsonBody, TopicList, TopicRouteData};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    BoundaryType, DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader,
    QueryConsumerOffsetRequestHeader, QueryMessageRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::message::parse_offset_msg_id;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::Runtime;
use rocketmq_rs_remoting::transport::TransportConfig;
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::output::{format_ms, message_json, user_msg_id, Table};

const PERM_READ: i32 = 4;

/// What a command produced: text for people, JSON for scripts.
#[derive(Debug, Clone)]
pub struct Report {
    /// Human-readable output (tables).
    pub text: String,
    /// Machine-readable output.
    pub json: Value,
}

/// Connection context of the commands: one client instance (connections, route cache).
#[derive(Clone)]
pub struct Ctx {
    instance: ClientInstance,
    timeout: Duration,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("namesrv", &self.api().namesrv_addrs())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A queue with the address of its broker's master.
#[derive(Debug, Clone)]
pub struct QueueAt {
    /// The queue.
    pub mq: MessageQueue,
    /// Master address (`host:port`).
    pub addr: String,
}

impl Ctx {
    /// A context talking to the NameServers `namesrv` (`;`-separated) on `rt`; every RPC waits
    /// at most `timeout`.
    pub fn new(namesrv: &str, rt: Arc<dyn Runtime>, timeout: Duration) -> Result<Ctx> {
        Ctx::with_transport(namesrv, rt, timeout, TransportConfig::default())
    }

    /// Like [`new`](Self::new), with transport settings: ACL credentials
    /// ([`TransportConfig::credentials`]) and TLS ([`TransportConfig::tls`]) apply to every
    /// request of the context and of the producers and consumers built on it.
    pub fn with_transport(
        namesrv: &str,
        rt: Arc<dyn Runtime>,
        timeout: Duration,
        transport: TransportConfig,
    ) -> Result<Ctx> {
        let mut cfg = ClientConfig::with_name_server(namesrv);
        cfg.transport = transport;
        if cfg.namesrv_addrs.is_empty() {
            return Err(CliError::Usage(
                "no NameServer address: pass --namesrv HOST:PORT or set NAMESRV_ADDR".into(),
            ));
        }
        cfg.runtime = Some(rt);
        cfg.rpc_timeout = timeout;
        cfg.instance_name = Some(format!("rocketmq-cli-{}", std::process::id()));
        let instance = ClientInstance::new(cfg)?;
        Ok(Ctx { instance, timeout })
    }

    /// The client instance (for producers and consumers built by the commands).
    pub fn instance(&self) -> &ClientInstance {
        &self.instance
    }

    /// The typed RPCs.
    pub fn api(&self) -> &ClientApi {
        self.instance.api()
    }

    /// The RPC timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.instance.shutdown().await;
    }

    /// The route of `topic`; [`CliError::NotFound`] when no NameServer knows it.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData> {
        self.api()
            .get_route_info(topic, self.timeout)
            .await?
            .ok_or_else(|| CliError::NotFound(format!("topic {topic} does not exist")))
    }

    /// Every readable queue of `topic` with its master's address, sorted.
    pub async fn read_queues(&self, topic: &str) -> Result<Vec<QueueAt>> {
        let route = self.route(topic).await?;
        let masters: BTreeMap<&str, &str> = route
            .broker_datas
            .iter()
            .filter_map(|b| Some((b.broker_name.as_str(), b.broker_addrs.get(&0)?.as_str())))
            .collect();
        let mut out = Vec::new();
        for qd in &route.queue_datas {
            if qd.perm & PERM_READ == 0 {
                continue;
            }
            let Some(addr) = masters.get(qd.broker_name.as_str()) else {
                continue;
            };
            for queue_id in 0..qd.read_queue_nums.max(0) {
                out.push(QueueAt {
                    mq: MessageQueue {
                        topic: topic.to_string(),
                        broker_name: qd.broker_name.clone(),
                        queue_id,
                    },
                    addr: addr.to_string(),
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.mq.broker_name, a.mq.queue_id).cmp(&(&b.mq.broker_name, b.mq.queue_id))
        });
        Ok(out)
    }

    /// Sends `cmd` to each NameServer in turn until one answers.
    async fn namesrv_call(&self, make: impl Fn() -> RemotingCommand) -> Result<RemotingCommand> {
        let mut last = String::new();
        for addr in self.api().namesrv_addrs() {
            match self.api().invoke(addr, make(), self.timeout).await {
                Ok(resp) => return Ok(resp),
                Err(e) => last = e.to_string(),
            }
        }
        Err(CliError::Unreachable(format!(
            "no NameServer reachable ({}): {last}",
            self.api().namesrv_addrs().join(";")
        )))
    }

    /// Master addresses per cluster (`cluster` = `None`: all clusters).
    pub(crate) async fn masters(&self, cluster: Option<&str>) -> Result<Vec<(String, String)>> {
        let info = self.api().get_broker_cluster_info(self.timeout).await?;
        if let Some(c) = cluster {
            if !info.cluster_addr_table.contains_key(c) {
                return Err(CliError::NotFound(format!("cluster {c} does not exist")));
            }
        }
        let mut out = Vec::new();
        for (c, names) in &info.cluster_addr_table {
            if cluster.is_some_and(|want| want != c) {
                continue;
            }
            for name in names {
                if let Some(addr) = info
                    .broker_addr_table
                    .get(name)
                    .and_then(|b| b.broker_addrs.get(&0))
                {
                    out.push((name.clone(), addr.clone()));
                }
            }
        }
        Ok(out)
    }
}

/// `cluster list`: every broker of every cluster.
pub async fn cluster_list(ctx: &Ctx) -> Result<Report> {
    let info = ctx.api().get_broker_cluster_info(ctx.timeout).await?;
    let mut t = Table::new(["CLUSTER", "BROKER", "ID", "ADDRESS"]);
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            if let Some(b) = info.broker_addr_table.get(name) {
                for (id, addr) in &b.broker_addrs {
                    t.row([
                        cluster.as_str(),
                        name.as_str(),
                        &id.to_string(),
                        addr.as_str(),
                    ]);
                    rows.push(json!({"cluster": cluster, "brokerName": name, "brokerId": id, "addr": addr}));
                }
            }
        }
    }
    Ok(Report {
        text: t.render(),
        json: Value::Array(rows),
    })
}

/// `topic list`: every topic the NameServer knows.
pub async fn topic_list(ctx: &Ctx) -> Result<Report> {
    let resp = ctx
        .namesrv_call(|| RemotingCommand::request(RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER))
        .await?;
    if resp.code != ResponseCode::SUCCESS {
        return Err(CliError::Failed(format!(
            "NameServer answered code {}: {}",
            resp.code,
            resp.remark.unwrap_or_default()
        )));
    }
    let list = TopicList::from_json(&resp.body)
        .map_err(|e| CliError::Failed(format!("malformed topic list: {e}")))?;
    let mut text = String::new();
    for t in &list.topic_list {
        text.push_str(t);
        text.push('\n');
    }
    Ok(Report {
        text,
        json: json!(list.topic_list),
    })
}

/// Options of `topic create`.
#[derive(Debug, Clone)]
pub struct CreateTopic {
    /// Topic.
    pub topic: String,
    /// Cluster whose masters get the topic; with `broker` unset and this unset: all clusters.
    pub cluster: Option<String>,
    /// One broker address instead of a cluster.
    pub broker: Option<String>,
    /// Read and write queues.
    pub queues: i32,
    /// Permission bits (6 = read + write).
    pub perm: i32,
    /// Ordered topic.
    pub order: bool,
}

/// `topic create` / `topic update`.
pub async fn topic_create(ctx: &Ctx, o: &CreateTopic) -> Result<Report> {
    rocketmq_rs_client::message::validate_topic(&o.topic)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if !(1..=1024).contains(&o.queues) {
        return Err(CliError::Usage("--queues must be in 1..=1024".into()));
    }
    if !(0..=7).contains(&o.perm) {
        return Err(CliError::Usage("--perm must be in 0..=7".into()));
    }
    let opts = {
        let mut c = CreateTopicOptions::default();
        c.read_queue_nums = o.queues;
        c.write_queue_nums = o.queues;
        c.perm = o.perm;
        c.order = o.order;
        c
    };
    let mut updated = Vec::new();
    match (&o.broker, &o.cluster) {
        (Some(b), _) => {
            updated.extend(
                ctx.instance
                    .create_topic(&o.topic, TopicTarget::Broker(b.clone()), &opts)
                    .await?,
            );
        }
        (None, cluster) => {
            let masters = ctx.masters(cluster.as_deref()).await?;
            if masters.is_empty() {
                return Err(CliError::NotFound("no master broker registered".into()));
            }
            for (_, addr) in masters {
                updated.extend(
                    ctx.instance
                        .create_topic(&o.topic, TopicTarget::Broker(addr), &opts)
                        .await?,
                );
            }
        }
    }
    Ok(Report {
        text: format!(
            "topic {} ({} queues, perm {}) created/updated on {}\n",
            o.topic,
            o.queues,
            o.perm,
            updated.join(", ")
        ),
        json: json!({"topic": o.topic, "queues": o.queues, "perm": o.perm, "order": o.order, "brokers": updated}),
    })
}

/// `topic delete`: removes the topic from every master of its route (or of `cluster`), then
/// from the NameServers.
pub async fn topic_delete(ctx: &Ctx, topic: &str, cluster: Option<&str>) -> Result<Report> {
    let route = ctx.route(topic).await?;
    let clusters = ctx.api().get_broker_cluster_info(ctx.timeout).await?;
    let mut brokers = Vec::new();
    for b in &route.broker_datas {
        if let Some(c) = cluster {
            let in_cluster = clusters
                .cluster_addr_table
                .get(c)
                .is_some_and(|names| names.contains(&b.broker_name));
            if !in_cluster {
                continue;
            }
        }
        for addr in b.broker_addrs.values() {
            let cmd = RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_BROKER).with_header(
                &DeleteTopicRequestHeader {
                    topic: topic.to_string(),
                    bname: None,
                },
            );
            let resp = ctx.api().invoke(addr, cmd, ctx.timeout).await?;
            if resp.code != ResponseCode::SUCCESS {
                return Err(CliError::Failed(format!(
                    "broker {addr} refused to delete {topic}: code {} {}",
                    resp.code,
                    resp.remark.unwrap_or_default()
                )));
            }
            brokers.push(addr.clone());
        }
    }
    let header = DeleteTopicFromNamesrvRequestHeader {
        topic: topic.to_string(),
        cluster_name: cluster.map(str::to_string),
    };
    for addr in ctx.api().namesrv_addrs() {
        let cmd =
            RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_NAMESRV).with_header(&header);
        let resp = ctx.api().invoke(addr, cmd, ctx.timeout).await?;
        if resp.code != ResponseCode::SUCCESS {
            return Err(CliError::Failed(format!(
                "NameServer {addr} refused to delete {topic}: code {} {}",
                resp.code,
                resp.remark.unwrap_or_default()
            )));
        }
    }
    Ok(Report {
        text: format!("topic {topic} deleted from {}\n", brokers.join(", ")),
        json: json!({"topic": topic, "brokers": brokers}),
    })
}

/// `topic route`.
pub async fn topic_route(ctx: &Ctx, topic: &str) -> Result<Report> {
    let route = ctx.route(topic).await?;
    let mut t = Table::new(["BROKER", "ID", "ADDRESS", "READ_Q", "WRITE_Q", "PERM"]);
    for b in &route.broker_datas {
        let qd = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == b.broker_name);
        for (id, addr) in &b.broker_addrs {
            t.row([
                b.broker_name.clone(),
                id.to_string(),
                addr.clone(),
                qd.map_or("-".into(), |q| q.read_queue_nums.to_string()),
                qd.map_or("-".into(), |q| q.write_queue_nums.to_string()),
                qd.map_or("-".into(), |q| perm_string(q.perm)),
            ]);
        }
    }
    let json = serde_json::to_value(&route).map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(Report {
        text: t.render(),
        json,
    })
}

fn perm_string(perm: i32) -> String {
    format!(
        "{}{}{}",
        if perm & 4 != 0 { 'R' } else { '-' },
        if perm & 2 != 0 { 'W' } else { '-' },
        if perm & 1 != 0 { 'X' } else { '-' }
    )
}

/// `topic status`: min / max offset per queue.
pub async fn topic_status(ctx: &Ctx, topic: &str) -> Result<Report> {
    let queues = ctx.read_queues(topic).await?;
    let mut t = Table::new(["BROKER", "QUEUE", "MIN_OFFSET", "MAX_OFFSET", "MESSAGES"]);
    let mut rows = Vec::new();
    let mut total = 0;
    for q in &queues {
        let min = ctx
            .api()
            .get_min_offset(&q.addr, &q.mq, ctx.timeout)
            .await?;
        let max = ctx
            .api()
            .get_max_offset(&q.addr, &q.mq, ctx.timeout)
            .await?;
        total += (max - min).max(0);
        t.row([
            q.mq.broker_name.clone(),
            q.mq.queue_id.to_string(),
            min.to_string(),
            max.to_string(),
            (max - min).max(0).to_string(),
        ]);
        rows.push(json!({"brokerName": q.mq.broker_name, "queueId": q.mq.queue_id, "minOffset": min, "maxOffset": max}));
    }
    let mut text = t.render();
    text.push_str(&format!("total messages retained: {total}\n"));
    Ok(Report {
        text,
        json: json!({"topic": topic, "queues": rows, "total": total}),
    })
}

/// `consumer progress`: broker offset, consumer offset and lag per queue of `topic`.
/// [`CliError::NotFound`] when the group has no committed offset on any queue.
pub async fn consumer_progress(ctx: &Ctx, group: &str, topic: &str) -> Result<Report> {
    let queues = ctx.read_queues(topic).await?;
    let mut t = Table::new(["BROKER", "QUEUE", "BROKER_OFFSET", "CONSUMER_OFFSET", "LAG"]);
    let mut rows = Vec::new();
    let (mut total_lag, mut known) = (0i64, 0usize);
    for q in &queues {
        let max = ctx
            .api()
            .get_max_offset(&q.addr, &q.mq, ctx.timeout)
            .await?;
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: topic.to_string(),
            queue_id: q.mq.queue_id,
            set_zero_if_not_found: Some(false),
            bname: Some(q.mq.broker_name.clone()),
        };
        let committed = ctx
            .api()
            .query_consumer_offset(&q.addr, &header, ctx.timeout)
            .await?;
        let lag = committed.map(|c| (max - c).max(0));
        if let Some(l) = lag {
            total_lag += l;
            known += 1;
        }
        t.row([
            q.mq.broker_name.clone(),
            q.mq.queue_id.to_string(),
            max.to_string(),
            committed.map_or("-".into(), |c| c.to_string()),
            lag.map_or("-".into(), |l| l.to_string()),
        ]);
        rows.push(json!({"brokerName": q.mq.broker_name, "queueId": q.mq.queue_id, "brokerOffset": max, "consumerOffset": committed, "lag": lag}));
    }
    if known == 0 {
        return Err(CliError::NotFound(format!(
            "consumer group {group} has no offsets on topic {topic}"
        )));
    }
    let mut text = t.render();
    text.push_str(&format!("total lag: {total_lag}\n"));
    Ok(Report {
        text,
        json: json!({"group": group, "topic": topic, "queues": rows, "totalLag": total_lag}),
    })
}

/// Parses a timestamp argument: epoch milliseconds, `now`, or `-<N>s|m|h|d` (relative to now).
///
/// ```
/// let now = 1_000_000_000;
/// assert_eq!(rocketmq_rs_cli::admin::parse_timestamp("1234", now).unwrap(), 1234);
/// assert_eq!(rocketmq_rs_cli::admin::parse_timestamp("now", now).unwrap(), now);
/// assert_eq!(rocketmq_rs_cli::admin::parse_timestamp("-5m", now).unwrap(), now - 300_000);
/// assert!(rocketmq_rs_cli::admin::parse_timestamp("yesterday", now).is_err());
/// ```
pub fn parse_timestamp(s: &str, now_ms: i64) -> Result<i64> {
    let bad = || {
        CliError::Usage(format!(
            "bad timestamp {s:?}: use epoch milliseconds, `now` or `-10m`"
        ))
    };
    if s == "now" {
        return Ok(now_ms);
    }
    if let Some(rel) = s.strip_prefix('-') {
        let (num, unit) = rel.split_at(rel.len().saturating_sub(1));
        let mult = match unit {
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        return n.checked_mul(mult).map(|d| now_ms - d).ok_or_else(bad);
    }
    s.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(bad)
}

/// The offline `offset reset` (`mqadmin`'s fallback when no consumer is online): sets
/// `group`'s committed offset of every queue of `topic` to the first message stored at or
/// after `timestamp_ms`; without `force` a queue whose committed offset is already below that
/// keeps it. Running consumers do not notice: they keep their in-memory offsets and overwrite
/// the reset at their next commit ([`crate::clients::offset_reset`] reaches them).
pub async fn offset_reset(
    ctx: &Ctx,
    group: &str,
    topic: &str,
    timestamp_ms: i64,
    force: bool,
) -> Result<Report> {
    let queues = ctx.read_queues(topic).await?;
    let mut t = Table::new(["BROKER", "QUEUE", "NEW_OFFSET"]);
    let mut rows = Vec::new();
    for q in &queues {
        let found = ctx
            .api()
            .search_offset_by_timestamp(
                &q.addr,
                &q.mq,
                timestamp_ms,
                BoundaryType::Lower,
                ctx.timeout,
            )
            .await?;
        let offset = if force {
            found
        } else {
            let header = QueryConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: topic.to_string(),
                queue_id: q.mq.queue_id,
                set_zero_if_not_found: Some(false),
                bname: Some(q.mq.broker_name.clone()),
            };
            match ctx
                .api()
                .query_consumer_offset(&q.addr, &header, ctx.timeout)
                .await?
            {
                Some(committed) if committed < found => committed,
                _ => found,
            }
        };
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: topic.to_string(),
            queue_id: q.mq.queue_id,
            commit_offset: offset,
            bname: Some(q.mq.broker_name.clone()),
        };
        ctx.api()
            .update_consumer_offset(&q.addr, &header, ctx.timeout)
            .await?;
        t.row([
            q.mq.broker_name.clone(),
            q.mq.queue_id.to_string(),
            offset.to_string(),
        ]);
        rows.push(
            json!({"brokerName": q.mq.broker_name, "queueId": q.mq.queue_id, "offset": offset}),
        );
    }
    let mut text = t.render();
    text.push_str(&format!(
        "group {group} reset offline on topic {topic} to {} ({timestamp_ms})\n",
        format_ms(timestamp_ms)
    ));
    Ok(Report {
        text,
        json: json!({"group": group, "topic": topic, "timestamp": timestamp_ms, "mode": "offline", "queues": rows}),
    })
}

fn messages_report(msgs: &[MessageExt]) -> Report {
    let mut text = String::new();
    for m in msgs {
        text.push_str(&format!(
            "msgId:          {}\noffsetMsgId:    {}\ntopic:          {}\nqueue:          {} @ {}\ntags:           {}\nkeys:           {}\nstored:         {} on {}\nborn:           {} by {}\nreconsumeTimes: {}\nproperties:     {}\nbody:           {}\n\n",
            user_msg_id(m),
            m.msg_id,
            m.topic,
            m.queue_id,
            m.queue_offset,
            m.property("TAGS").unwrap_or("-"),
            m.property("KEYS").unwrap_or("-"),
            format_ms(m.store_timestamp),
            m.store_host,
            format_ms(m.born_timestamp),
            m.born_host,
            m.reconsume_times,
            m.properties.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
            String::from_utf8_lossy(&m.body),
        ));
    }
    Report {
        text,
        json: Value::Array(msgs.iter().map(message_json).collect()),
    }
}

async fn query_on_masters(
    ctx: &Ctx,
    topic: &str,
    key: &str,
    max: i32,
    unique: bool,
) -> Result<Vec<MessageExt>> {
    let route = ctx.route(topic).await?;
    let mut out = Vec::new();
    for b in &route.broker_datas {
        let Some(addr) = b.broker_addrs.get(&0) else {
            continue;
        };
        let header = QueryMessageRequestHeader {
            topic: topic.to_string(),
            key: key.to_string(),
            max_num: max,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: unique.then_some(true),
            bname: None,
        };
        out.extend(ctx.api().query_message(addr, &header, ctx.timeout).await?);
    }
    // An index hit is only a hash match: keep exact matches.
    out.retain(|m| {
        if unique {
            user_msg_id(m) == key
        } else {
            m.property("KEYS")
                .is_some_and(|ks| ks.split(' ').any(|k| k == key))
        }
    });
    out.truncate(max.max(0) as usize);
    Ok(out)
}

/// `message query-key`: messages of `topic` whose keys include `key`.
pub async fn message_by_key(ctx: &Ctx, topic: &str, key: &str, max: i32) -> Result<Report> {
    let msgs = query_on_masters(ctx, topic, key, max, false).await?;
    if msgs.is_empty() {
        return Err(CliError::NotFound(format!(
            "no message with key {key} in topic {topic}"
        )));
    }
    Ok(messages_report(&msgs))
}

/// `message query-id`: by client id (`UNIQ_KEY`, needs the topic) or by the broker's offset
/// message id (contains the broker address and commit-log offset).
pub async fn message_by_id(ctx: &Ctx, topic: Option<&str>, id: &str) -> Result<Report> {
    if let Some(topic) = topic {
        let msgs = query_on_masters(ctx, topic, id, 1, true).await?;
        if !msgs.is_empty() {
            return Ok(messages_report(&msgs));
        }
    }
    let not_found = || {
        CliError::NotFound(match topic {
            Some(t) => format!("no message with id {id} in topic {t}"),
            None => format!("no message with offset id {id} (pass --topic to look up client ids)"),
        })
    };
    let Ok((addr, offset)) = parse_offset_msg_id(id) else {
        return Err(not_found());
    };
    match ctx
        .api()
        .view_message(&addr.to_string(), offset, ctx.timeout)
        .await
    {
        Ok(m) if !matches!(topic, Some(t) if t != m.topic) => Ok(messages_report(&[m])),
        Ok(_) => Err(not_found()),
        // The id may be a client id whose first bytes look like an unreachable address.
        Err(rocketmq_rs_client::Error::Broker { .. })
        | Err(rocketmq_rs_client::Error::Network { .. })
            if topic.is_some() =>
        {
            Err(not_found())
        }
        Err(rocketmq_rs_client::Error::Broker { .. }) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}
