//! Subscription groups (a consumer group's broker-side settings: retries, consume switches)
//! and producer connections (docs/protocol/admin.md): UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
//! (200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207),
//! GET_PRODUCER_CONNECTION_LIST (204).

use std::collections::BTreeSet;

use rocketmq_rs_remoting::protocol::body::{
    Connection, JsonBody, ProducerConnection, SubscriptionGroupConfig, SubscriptionGroupWrapper,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    DeleteSubscriptionGroupRequestHeader, GetProducerConnectionListRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use serde_json::{json, Value};

use crate::admin::{Ctx, Report};
use crate::error::{CliError, Result};
use crate::output::Table;

/// Which brokers a group command talks to.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// One broker address (`host:port`).
    pub broker: Option<String>,
    /// The masters of this cluster (all clusters when neither is set).
    pub cluster: Option<String>,
}

impl Target {
    async fn addrs(&self, ctx: &Ctx) -> Result<Vec<String>> {
        if let Some(b) = &self.broker {
            return Ok(vec![b.clone()]);
        }
        let addrs: Vec<String> = ctx
            .masters(self.cluster.as_deref())
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        if addrs.is_empty() {
            return Err(CliError::NotFound("no master broker registered".into()));
        }
        Ok(addrs)
    }
}

/// The settings `group update` changes; `None` keeps the broker's current value (or Apache's
/// default for a new group).
#[derive(Debug, Clone, Default)]
pub struct GroupSettings {
    /// Deliveries before a message goes to the dead-letter queue.
    pub retry_max_times: Option<i32>,
    /// Queues of the group's retry topic.
    pub retry_queue_nums: Option<i32>,
    /// Whether the group may consume at all.
    pub consume_enable: Option<bool>,
    /// Whether broadcasting consumers of the group may consume.
    pub consume_broadcast_enable: Option<bool>,
    /// Whether the broker tells the group's consumers when members join or leave.
    pub notify_consumer_ids_changed_enable: Option<bool>,
    /// 5.x: the group consumes in order.
    pub consume_message_orderly: Option<bool>,
    /// Broker id suggested to consumers that keep up (slave reading).
    pub broker_id: Option<i64>,
    /// Broker id suggested to consumers that fall behind (slave reading).
    pub which_broker_when_consume_slowly: Option<i64>,
}

impl GroupSettings {
    fn apply(&self, c: &mut SubscriptionGroupConfig) {
        if let Some(v) = self.retry_max_times {
            c.retry_max_times = v;
        }
        if let Some(v) = self.retry_queue_nums {
            c.retry_queue_nums = v;
        }
        if let Some(v) = self.consume_enable {
            c.consume_enable = v;
        }
        if let Some(v) = self.consume_broadcast_enable {
            c.consume_broadcast_enable = v;
        }
        if let Some(v) = self.notify_consumer_ids_changed_enable {
            c.notify_consumer_ids_changed_enable = v;
        }
        if let Some(v) = self.consume_message_orderly {
            c.consume_message_orderly = v;
        }
        if let Some(v) = self.broker_id {
            c.broker_id = v;
        }
        if let Some(v) = self.which_broker_when_consume_slowly {
            c.which_broker_when_consume_slowly = v;
        }
    }
}

fn failed(what: &str, addr: &str, resp: &RemotingCommand) -> CliError {
    CliError::Failed(format!(
        "{what}: broker {addr} answered code {} {}",
        resp.code,
        resp.remark.as_deref().unwrap_or_default()
    ))
}

/// Every subscription group one broker has (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
async fn all_groups(ctx: &Ctx, addr: &str) -> Result<SubscriptionGroupWrapper> {
    let cmd = RemotingCommand::request(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG);
    let resp = ctx.api().invoke(addr, cmd, ctx.timeout()).await?;
    if resp.code != ResponseCode::SUCCESS {
        return Err(failed("list subscription groups", addr, &resp));
    }
    SubscriptionGroupWrapper::from_json(&resp.body).map_err(|e| {
        CliError::Failed(format!(
            "broker {addr}: malformed subscription group table: {e}"
        ))
    })
}

fn config_json(addr: &str, c: &SubscriptionGroupConfig) -> Value {
    json!({
        "broker": addr,
        "groupName": c.group_name,
        "retryMaxTimes": c.retry_max_times,
        "retryQueueNums": c.retry_queue_nums,
        "consumeEnable": c.consume_enable,
        "consumeBroadcastEnable": c.consume_broadcast_enable,
        "notifyConsumerIdsChangedEnable": c.notify_consumer_ids_changed_enable,
        "consumeMessageOrderly": c.consume_message_orderly,
        "brokerId": c.broker_id,
        "whichBrokerWhenConsumeSlowly": c.which_broker_when_consume_slowly,
    })
}

fn groups_table() -> Table {
    Table::new([
        "GROUP",
        "BROKER",
        "RETRY_MAX",
        "RETRY_QUEUES",
        "CONSUME",
        "BROADCAST",
        "ORDERLY",
    ])
}

fn group_row(t: &mut Table, addr: &str, c: &SubscriptionGroupConfig) {
    t.row([
        c.group_name.clone(),
        addr.to_string(),
        c.retry_max_times.to_string(),
        c.retry_queue_nums.to_string(),
        c.consume_enable.to_string(),
        c.consume_broadcast_enable.to_string(),
        c.consume_message_orderly.to_string(),
    ]);
}

/// `group update` (alias `create`): creates or changes subscription group `group` on the
/// target brokers. Settings not given keep the broker's current value, or Apache's default for
/// a new group (16 retries, 1 retry queue, consuming enabled).
pub async fn group_update(
    ctx: &Ctx,
    group: &str,
    target: &Target,
    settings: &GroupSettings,
) -> Result<Report> {
    if group.trim().is_empty() {
        return Err(CliError::Usage("--group must not be empty".into()));
    }
    let mut t = groups_table();
    let mut rows = Vec::new();
    for addr in target.addrs(ctx).await? {
        let mut cfg = all_groups(ctx, &addr)
            .await?
            .subscription_group_table
            .remove(group)
            .unwrap_or_else(|| SubscriptionGroupConfig::new(group));
        settings.apply(&mut cfg);
        let cmd = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
            .with_body(cfg.to_json());
        let resp = ctx.api().invoke(&addr, cmd, ctx.timeout()).await?;
        if resp.code != ResponseCode::SUCCESS {
            return Err(failed(&format!("update group {group}"), &addr, &resp));
        }
        group_row(&mut t, &addr, &cfg);
        rows.push(config_json(&addr, &cfg));
    }
    Ok(Report {
        text: t.render(),
        json: Value::Array(rows),
    })
}

/// `group delete`: removes subscription group `group` from the target brokers, and with
/// `clean_offsets` its committed offsets too.
pub async fn group_delete(
    ctx: &Ctx,
    group: &str,
    target: &Target,
    clean_offsets: bool,
) -> Result<Report> {
    let mut brokers = Vec::new();
    for addr in target.addrs(ctx).await? {
        // 4.9 brokers read `removeOffset`, 5.x `cleanOffset`.
        let cmd = RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP).with_header(
            &DeleteSubscriptionGroupRequestHeader {
                group_name: group.to_string(),
                clean_offset: clean_offsets,
                remove_offset: clean_offsets,
            },
        );
        let resp = ctx.api().invoke(&addr, cmd, ctx.timeout()).await?;
        if resp.code != ResponseCode::SUCCESS {
            return Err(failed(&format!("delete group {group}"), &addr, &resp));
        }
        brokers.push(addr);
    }
    Ok(Report {
        text: format!(
            "subscription group {group} deleted from {}{}\n",
            brokers.join(", "),
            if clean_offsets { " (offsets too)" } else { "" }
        ),
        json: json!({"group": group, "brokers": brokers, "cleanOffsets": clean_offsets}),
    })
}

/// `group list`: the subscription groups of the target brokers (`group` narrows it to one;
/// [`CliError::NotFound`] when no broker has it).
pub async fn group_list(ctx: &Ctx, target: &Target, group: Option<&str>) -> Result<Report> {
    let mut t = groups_table();
    let mut rows = Vec::new();
    for addr in target.addrs(ctx).await? {
        for (name, cfg) in all_groups(ctx, &addr).await?.subscription_group_table {
            if group.is_some_and(|g| g != name) {
                continue;
            }
            group_row(&mut t, &addr, &cfg);
            rows.push(config_json(&addr, &cfg));
        }
    }
    if let (Some(g), true) = (group, rows.is_empty()) {
        return Err(CliError::NotFound(format!(
            "subscription group {g} does not exist"
        )));
    }
    Ok(Report {
        text: t.render(),
        json: Value::Array(rows),
    })
}

/// `producer connections`: the producers of `group` connected to the masters of `topic`'s
/// route (as `mqadmin producerConnection`), merged.
pub async fn producer_connections(ctx: &Ctx, group: &str, topic: &str) -> Result<Report> {
    let route = ctx.route(topic).await?;
    let mut all: BTreeSet<(String, Connection)> = BTreeSet::new();
    for b in &route.broker_datas {
        let Some(addr) = b.broker_addrs.get(&0) else {
            continue;
        };
        let cmd = RemotingCommand::request(RequestCode::GET_PRODUCER_CONNECTION_LIST).with_header(
            &GetProducerConnectionListRequestHeader {
                producer_group: group.to_string(),
            },
        );
        let resp = ctx.api().invoke(addr, cmd, ctx.timeout()).await?;
        if resp.code != ResponseCode::SUCCESS {
            // Apache: SYSTEM_ERROR "the producer group[<g>] not exist" when none is connected.
            continue;
        }
        let pc = ProducerConnection::from_json(&resp.body).map_err(|e| {
            CliError::Failed(format!("broker {addr}: malformed connection list: {e}"))
        })?;
        all.extend(pc.connection_set.into_iter().map(|c| (addr.clone(), c)));
    }
    if all.is_empty() {
        return Err(CliError::NotFound(format!(
            "producer group {group} has no producer connected to the brokers of {topic}"
        )));
    }
    let mut t = Table::new(["CLIENT_ID", "ADDRESS", "LANGUAGE", "VERSION", "BROKER"]);
    let mut rows = Vec::new();
    for (broker, c) in &all {
        t.row([
            c.client_id.clone(),
            c.client_addr.clone(),
            c.language.clone(),
            c.version.to_string(),
            broker.clone(),
        ]);
        rows.push(json!({"clientId": c.client_id, "clientAddr": c.client_addr, "language": c.language, "version": c.version, "broker": broker}));
    }
    Ok(Report {
        text: t.render(),
        json: json!({"group": group, "topic": topic, "connections": rows}),
    })
}
