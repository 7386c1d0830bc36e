//! Commands that reach a group's running clients through a broker (docs/protocol/admin.md §3,
//! §4, §11, §12): the online offset reset (with `mqadmin`'s fallback to the offline reset when
//! no consumer is online), the consumers' offsets (`consumer status`), their running info, and
//! the group's connections.

use std::collections::BTreeMap;
use std::time::Duration;

use rocketmq_rs_client::MessageQueue;
use rocketmq_rs_remoting::protocol::body::{
    ConsumerConnection, ConsumerRunningInfo, GetConsumerListByGroupResponseBody,
    GetConsumerStatusBody, JsonBody, ResetOffsetBody,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    GetConsumerConnectionListRequestHeader, GetConsumerListByGroupRequestHeader,
    GetConsumerRunningInfoRequestHeader, GetConsumerStatusRequestHeader, ResetOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use serde_json::{json, Value};

use crate::admin::{self, Ctx, Report};
use crate::error::{CliError, Result};
use crate::output::{format_ms, Table};

/// A broker waits 10 s for a client before it answers CONSUME_MSG_TIMEOUT; waiting a little
/// longer lets that answer, rather than a bare timeout, reach the user.
const RELAY_WAIT: Duration = Duration::from_secs(12);

fn relay_timeout(ctx: &Ctx) -> Duration {
    ctx.timeout().max(RELAY_WAIT)
}

fn refused(what: &str, addr: &str, resp: &RemotingCommand) -> CliError {
    CliError::Failed(format!(
        "{what}: broker {addr} answered code {} {}",
        resp.code,
        resp.remark.as_deref().unwrap_or_default()
    ))
}

/// How `offset reset` went about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    /// Ask the brokers to reset and tell the running consumers
    /// (INVOKE_BROKER_TO_RESET_OFFSET); fall back to [`ResetMode::Offline`] when a broker says
    /// no consumer of the group is online, as `mqadmin resetOffsetByTime` does.
    Online,
    /// Only write the committed offsets (SEARCH_OFFSET_BY_TIMESTAMP, UPDATE_CONSUMER_OFFSET):
    /// running consumers do not notice and overwrite it at their next commit.
    Offline,
}

/// `offset reset`: moves `group`'s offsets of `topic` to the first message stored at or after
/// `timestamp_ms`. With `force` off a queue only moves backwards (a consumer that is behind
/// the time stays where it is). [`ResetMode::Online`] reaches running consumers: they drop
/// what they buffered and read again from the new offsets.
pub async fn offset_reset(
    ctx: &Ctx,
    group: &str,
    topic: &str,
    timestamp_ms: i64,
    force: bool,
    mode: ResetMode,
) -> Result<Report> {
    if mode == ResetMode::Offline {
        return admin::offset_reset(ctx, group, topic, timestamp_ms, force).await;
    }
    let route = ctx.route(topic).await?;
    let mut table: BTreeMap<MessageQueue, i64> = BTreeMap::new();
    for b in &route.broker_datas {
        let Some(addr) = b.broker_addrs.get(&0) else {
            continue;
        };
        let cmd = RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET).with_header(
            &ResetOffsetRequestHeader {
                group: group.to_string(),
                topic: topic.to_string(),
                queue_id: -1,
                offset: Some(-1),
                timestamp: timestamp_ms,
                is_force: force,
                bname: None,
            },
        );
        let resp = ctx.api().invoke(addr, cmd, ctx.timeout()).await?;
        match resp.code {
            ResponseCode::SUCCESS if !resp.body.is_empty() => {
                let body = ResetOffsetBody::from_json(&resp.body).map_err(|e| {
                    CliError::Failed(format!("broker {addr}: malformed reset table: {e}"))
                })?;
                table.extend(body.offset_table);
            }
            ResponseCode::CONSUMER_NOT_ONLINE => {
                let mut r = admin::offset_reset(ctx, group, topic, timestamp_ms, force).await?;
                r.text
                    .push_str("no consumer of the group is online: reset offline\n");
                r.json["mode"] = json!("offline");
                return Ok(r);
            }
            ResponseCode::SYSTEM_ERROR
                if resp
                    .remark
                    .as_deref()
                    .is_some_and(|r| r.starts_with("THe consumer group")) =>
            {
                // Java's spelling: some queue of the topic has no committed offset of the group.
                return Err(CliError::Failed(format!(
                    "online offset reset: broker {addr} found queues of {topic} the group {group} \
                     never committed; use --offline to set them anyway"
                )));
            }
            _ => return Err(refused("online offset reset", addr, &resp)),
        }
    }
    let mut t = Table::new(["BROKER", "QUEUE", "NEW_OFFSET"]);
    let mut rows = Vec::new();
    for (mq, offset) in &table {
        t.row([
            mq.broker_name.clone(),
            mq.queue_id.to_string(),
            offset.to_string(),
        ]);
        rows.push(json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": offset}));
    }
    let mut text = t.render();
    text.push_str(&format!(
        "group {group} reset online on topic {topic} to {} ({timestamp_ms}); its consumers restart there\n",
        format_ms(timestamp_ms)
    ));
    Ok(Report {
        text,
        json: json!({"group": group, "topic": topic, "timestamp": timestamp_ms, "mode": "online", "queues": rows}),
    })
}

/// `consumer status`: each online consumer's in-memory offsets of `topic`
/// (INVOKE_BROKER_TO_GET_CONSUMER_STATUS on the topic's first master; `client` narrows it to
/// one client id).
pub async fn consumer_status(
    ctx: &Ctx,
    group: &str,
    topic: &str,
    client: Option<&str>,
) -> Result<Report> {
    let route = ctx.route(topic).await?;
    let addr = route
        .broker_datas
        .iter()
        .find_map(|b| b.broker_addrs.get(&0))
        .ok_or_else(|| CliError::NotFound(format!("topic {topic} has no master broker")))?;
    let cmd = RemotingCommand::request(RequestCode::INVOKE_BROKER_TO_GET_CONSUMER_STATUS)
        .with_header(&GetConsumerStatusRequestHeader {
            topic: topic.to_string(),
            group: group.to_string(),
            client_addr: client.map(str::to_string),
        });
    let resp = ctx.api().invoke(addr, cmd, relay_timeout(ctx)).await?;
    if resp.code != ResponseCode::SUCCESS {
        let remark = resp.remark.clone().unwrap_or_default();
        if remark.starts_with("No Any Consumer online") {
            return Err(CliError::NotFound(format!(
                "consumer group {group} has no consumer online"
            )));
        }
        return Err(refused("consumer status", addr, &resp));
    }
    let body = GetConsumerStatusBody::from_json(&resp.body)
        .map_err(|e| CliError::Failed(format!("broker {addr}: malformed consumer status: {e}")))?;
    if let Some(c) = client {
        if !body.consumer_table.contains_key(c) {
            return Err(CliError::NotFound(format!(
                "client {c} of group {group} did not answer (not online?)"
            )));
        }
    }
    let mut t = Table::new(["CLIENT", "BROKER", "QUEUE", "OFFSET"]);
    let mut clients = serde_json::Map::new();
    for (client_id, offsets) in &body.consumer_table {
        let mut rows = Vec::new();
        for (mq, offset) in offsets {
            t.row([
                client_id.clone(),
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                offset.to_string(),
            ]);
            rows.push(
                json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": offset}),
            );
        }
        clients.insert(client_id.clone(), Value::Array(rows));
    }
    Ok(Report {
        text: t.render(),
        json: json!({"group": group, "topic": topic, "clients": clients}),
    })
}

/// The client ids of `group` and the master that knows them (the first master of any cluster
/// where the group has a consumer online).
async fn online_clients(ctx: &Ctx, group: &str) -> Result<(String, Vec<String>)> {
    for (_, addr) in ctx.masters(None).await? {
        let cmd = RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP).with_header(
            &GetConsumerListByGroupRequestHeader {
                consumer_group: group.to_string(),
                bname: None,
            },
        );
        let Ok(resp) = ctx.api().invoke(&addr, cmd, ctx.timeout()).await else {
            continue;
        };
        if resp.code != ResponseCode::SUCCESS || resp.body.is_empty() {
            continue;
        }
        if let Ok(list) = GetConsumerListByGroupResponseBody::from_json(&resp.body) {
            if !list.consumer_id_list.is_empty() {
                return Ok((addr, list.consumer_id_list));
            }
        }
    }
    Err(CliError::NotFound(format!(
        "consumer group {group} has no consumer online"
    )))
}

/// `consumer running-info`: what each online consumer of `group` (or just `client`) reports
/// about itself: settings, subscriptions, and per queue its offset, buffer and last pull and
/// consume times (GET_CONSUMER_RUNNING_INFO relayed by a broker).
pub async fn consumer_running_info(ctx: &Ctx, group: &str, client: Option<&str>) -> Result<Report> {
    let (addr, mut ids) = online_clients(ctx, group).await?;
    if let Some(c) = client {
        if !ids.iter().any(|id| id == c) {
            return Err(CliError::NotFound(format!(
                "client {c} is not online in consumer group {group} (online: {})",
                ids.join(", ")
            )));
        }
        ids = vec![c.to_string()];
    }
    let mut text = String::new();
    let mut out = Vec::new();
    for id in &ids {
        let cmd = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO).with_header(
            &GetConsumerRunningInfoRequestHeader {
                consumer_group: group.to_string(),
                client_id: id.clone(),
                jstack_enable: false,
            },
        );
        let resp = ctx.api().invoke(&addr, cmd, relay_timeout(ctx)).await?;
        if resp.code != ResponseCode::SUCCESS || resp.body.is_empty() {
            return Err(refused(&format!("running info of {id}"), &addr, &resp));
        }
        let info = ConsumerRunningInfo::from_json(&resp.body)
            .map_err(|e| CliError::Failed(format!("client {id}: malformed running info: {e}")))?;
        text.push_str(&running_info_text(id, &info));
        out.push(running_info_json(id, &info));
    }
    Ok(Report {
        text,
        json: json!({"group": group, "clients": out}),
    })
}

fn running_info_text(id: &str, info: &ConsumerRunningInfo) -> String {
    let prop = |k: &str| info.properties.get(k).map_or("-", String::as_str);
    let mut s = format!(
        "client {id}\n  type {}  orderly {}  version {}\n",
        prop(ConsumerRunningInfo::PROP_CONSUME_TYPE),
        prop(ConsumerRunningInfo::PROP_CONSUMEORDERLY),
        prop(ConsumerRunningInfo::PROP_CLIENT_VERSION),
    );
    for sub in &info.subscription_set {
        s.push_str(&format!(
            "  subscribes {} {} ({})\n",
            sub.topic, sub.sub_string, sub.expression_type
        ));
    }
    let mut t = Table::new([
        "TOPIC",
        "BROKER",
        "QUEUE",
        "OFFSET",
        "CACHED",
        "LAST_PULL",
        "LAST_CONSUME",
    ]);
    for (mq, pq) in &info.mq_table {
        t.row([
            mq.topic.clone(),
            mq.broker_name.clone(),
            mq.queue_id.to_string(),
            pq.commit_offset.to_string(),
            pq.cached_msg_count.to_string(),
            time_or_dash(pq.last_pull_timestamp),
            time_or_dash(pq.last_consume_timestamp),
        ]);
    }
    s.push_str(&t.render());
    for (topic, st) in &info.status_table {
        s.push_str(&format!(
            "  {topic}: pull {:.1}/s ({:.1} ms), consumed ok {:.1}/s failed {:.1}/s ({:.1} ms)\n",
            st.pull_tps, st.pull_rt, st.consume_ok_tps, st.consume_failed_tps, st.consume_rt
        ));
    }
    s.push('\n');
    s
}

fn time_or_dash(ms: i64) -> String {
    if ms > 0 {
        format_ms(ms)
    } else {
        "-".into()
    }
}

fn running_info_json(id: &str, info: &ConsumerRunningInfo) -> Value {
    let queues: Vec<Value> = info
        .mq_table
        .iter()
        .map(|(mq, pq)| {
            let mut v = serde_json::to_value(pq).unwrap_or(Value::Null);
            v["topic"] = json!(mq.topic);
            v["brokerName"] = json!(mq.broker_name);
            v["queueId"] = json!(mq.queue_id);
            v
        })
        .collect();
    json!({
        "clientId": id,
        "properties": info.properties,
        "subscriptions": info.subscription_set,
        "queues": queues,
        "status": info.status_table,
    })
}

/// `consumer connections`: the clients of `group` connected to a broker, with their address,
/// language and version, and the group's subscriptions (GET_CONSUMER_CONNECTION_LIST on the
/// first master that has the group online).
pub async fn consumer_connections(ctx: &Ctx, group: &str) -> Result<Report> {
    let mut last_refusal = None;
    for (_, addr) in ctx.masters(None).await? {
        let cmd = RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
            &GetConsumerConnectionListRequestHeader {
                consumer_group: group.to_string(),
            },
        );
        let resp = ctx.api().invoke(&addr, cmd, ctx.timeout()).await?;
        match resp.code {
            ResponseCode::SUCCESS => {
                let cc = ConsumerConnection::from_json(&resp.body).map_err(|e| {
                    CliError::Failed(format!("broker {addr}: malformed connection list: {e}"))
                })?;
                return Ok(consumer_connections_report(group, &addr, &cc));
            }
            ResponseCode::CONSUMER_NOT_ONLINE => {}
            _ => last_refusal = Some(refused("consumer connections", &addr, &resp)),
        }
    }
    Err(last_refusal.unwrap_or_else(|| {
        CliError::NotFound(format!("consumer group {group} has no consumer online"))
    }))
}

fn consumer_connections_report(group: &str, addr: &str, cc: &ConsumerConnection) -> Report {
    let mut t = Table::new(["CLIENT_ID", "ADDRESS", "LANGUAGE", "VERSION"]);
    for c in &cc.connection_set {
        t.row([
            c.client_id.clone(),
            c.client_addr.clone(),
            c.language.clone(),
            c.version.to_string(),
        ]);
    }
    let mut text = t.render();
    text.push_str(&format!(
        "type {}  model {}  from {}\n",
        wire_name(cc.consume_type),
        wire_name(cc.message_model),
        wire_name(cc.consume_from_where),
    ));
    for (topic, sub) in &cc.subscription_table {
        text.push_str(&format!("subscribes {topic} {}\n", sub.sub_string));
    }
    let connections: Vec<Value> = cc
        .connection_set
        .iter()
        .map(|c| json!({"clientId": c.client_id, "clientAddr": c.client_addr, "language": c.language, "version": c.version}))
        .collect();
    let subs: BTreeMap<&String, &String> = cc
        .subscription_table
        .iter()
        .map(|(t, s)| (t, &s.sub_string))
        .collect();
    Report {
        text,
        json: json!({
            "group": group,
            "broker": addr,
            "connections": connections,
            "subscriptions": subs,
            "consumeType": wire_name(cc.consume_type),
            "messageModel": wire_name(cc.message_model),
            "consumeFromWhere": wire_name(cc.consume_from_where),
        }),
    }
}

/// An enum's name as Java writes it (`CONSUME_PASSIVELY`), `-` when absent.
fn wire_name<T: serde::Serialize>(v: Option<T>) -> String {
    v.and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "-".into())
}
