//! mini-broker's admin-plane answers next to an Apache 5.5.0 broker's for the same requests and
//! the same state: subscription-group configs (defaults, an update, the pull refusal it causes),
//! the refusals of the connection lists, stats and topic queries, and the runtime-info key set.
//! Apache is the reference: where the two differ, mini-broker is wrong.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use rocketmq_it::apache::V5_NEWEST;
use rocketmq_rs_mini_broker::{Broker, BrokerConfig};
use rocketmq_rs_remoting::protocol::body::{JsonBody, KVTable, SubscriptionGroupConfig};
use rocketmq_rs_remoting::protocol::code::RequestCode;
use rocketmq_rs_remoting::protocol::header::*;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

use crate::common::{cluster, run, unique};

const T: Duration = Duration::from_secs(10);

/// Builds a request for a group or topic name.
type Request = fn(&str) -> RemotingCommand;

/// Code, remark and body (as JSON when it is JSON) of one answer.
#[derive(Debug)]
struct Answer {
    code: i32,
    remark: Option<String>,
    body: Option<serde_json::Value>,
    raw: bytes::Bytes,
}

async fn ask(c: &RemotingClient, addr: SocketAddr, cmd: RemotingCommand) -> Answer {
    let r = c
        .invoke(&addr.to_string(), cmd, T)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    Answer {
        code: r.code,
        remark: r.remark,
        body: serde_json::from_slice(&r.body).ok(),
        raw: r.body,
    }
}

fn get_group(group: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::GET_SUBSCRIPTIONGROUP_CONFIG).with_header(
        &GetSubscriptionGroupConfigRequestHeader {
            group: group.into(),
        },
    )
}

fn pull(group: &str, topic: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::PULL_MESSAGE).with_header(&PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 1,
        sys_flag: 0x4,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_froward_client_id: None,
        bname: None,
    })
}

#[test]
fn admin_bodies_match_apache_5_5_0() {
    let Some(c) = cluster("admin_bodies_match_apache_5_5_0", V5_NEWEST) else {
        return;
    };
    let apache = c.broker_addr();
    run("admin bodies", |rt| async move {
        let dir = tempfile::tempdir().unwrap();
        let ours_h = Broker::start(BrokerConfig::for_test(dir.path()), rt.clone())
            .await
            .expect("mini-broker starts");
        let ours = ours_h.addr();
        let client = RemotingClient::new(rt.clone(), TransportConfig::default());
        let group = unique("cg_cmp", V5_NEWEST);
        let both = |cmd: Request, arg: String| {
            let client = &client;
            async move {
                let a = ask(client, apache, cmd(&arg)).await;
                let o = ask(client, ours, cmd(&arg)).await;
                (a, o)
            }
        };

        // A group looked up for the first time is created with the same defaults.
        let (a, o) = both(get_group, group.clone()).await;
        assert_eq!(a.code, 0, "Apache: {a:?}");
        assert_eq!(
            (o.code, &o.remark, &o.body),
            (a.code, &a.remark, &a.body),
            "default group config"
        );

        // The same update, then the same stored config and the same pull refusal.
        let mut cfg = SubscriptionGroupConfig::new(group.clone());
        cfg.consume_enable = false;
        cfg.retry_max_times = 3;
        cfg.retry_queue_nums = 2;
        for addr in [apache, ours] {
            let cmd = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(cfg.to_json());
            let r = ask(&client, addr, cmd).await;
            assert_eq!(r.code, 0, "{addr}: {r:?}");
        }
        let (a, o) = both(get_group, group.clone()).await;
        assert_eq!(
            (o.code, &o.remark, &o.body),
            (a.code, &a.remark, &a.body),
            "updated group config"
        );
        let topic = unique("TopicCmp", V5_NEWEST);
        let a = ask(&client, apache, pull(&group, &topic)).await;
        let o = ask(&client, ours, pull(&group, &topic)).await;
        assert_eq!((o.code, &o.remark), (a.code, &a.remark), "pull refusal");

        // Refusals of the connection, stats and topic queries.
        let checks: [(&str, Request); 5] = [
            ("consumer connections", |g| {
                RemotingCommand::request(RequestCode::GET_CONSUMER_CONNECTION_LIST).with_header(
                    &GetConsumerConnectionListRequestHeader {
                        consumer_group: g.into(),
                    },
                )
            }),
            ("producer connections", |g| {
                RemotingCommand::request(RequestCode::GET_PRODUCER_CONNECTION_LIST).with_header(
                    &GetProducerConnectionListRequestHeader {
                        producer_group: g.into(),
                    },
                )
            }),
            ("stats data", |g| {
                RemotingCommand::request(RequestCode::VIEW_BROKER_STATS_DATA).with_header(
                    &ViewBrokerStatsDataRequestHeader {
                        stats_name: "TOPIC_PUT_NUMS".into(),
                        stats_key: g.into(),
                    },
                )
            }),
            ("topic config", |t| {
                RemotingCommand::request(RequestCode::GET_TOPIC_CONFIG).with_header(
                    &GetTopicConfigRequestHeader {
                        topic: t.into(),
                        lo: Some(true),
                    },
                )
            }),
            ("topic stats", |t| {
                RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO)
                    .with_header(&GetTopicStatsInfoRequestHeader { topic: t.into() })
            }),
        ];
        let nobody = unique("nobody", V5_NEWEST);
        for (what, cmd) in checks {
            let (a, o) = both(cmd, nobody.clone()).await;
            assert_eq!((o.code, &o.remark), (a.code, &a.remark), "{what}");
        }

        // Runtime info: every key Apache answers, we answer too (plugin-free broker; the
        // per-directory disk key differs by path only).
        let keys = |raw: &[u8]| -> BTreeSet<String> {
            let kv = KVTable::from_json(raw)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(raw)));
            kv.table
                .into_keys()
                .map(|k| {
                    if k.starts_with("commitLogDiskRatio_") {
                        "commitLogDiskRatio_<dir>".into()
                    } else {
                        k
                    }
                })
                .filter(|k| !k.starts_with("scheduleMessageOffset_"))
                .collect()
        };
        let info = || RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO);
        let a = keys(&ask(&client, apache, info()).await.raw);
        let o = keys(&ask(&client, ours, info()).await.raw);
        let missing: Vec<&String> = a.difference(&o).collect();
        assert!(missing.is_empty(), "runtime-info keys we lack: {missing:?}");

        // Deleting the group: SUCCESS on both.
        for addr in [apache, ours] {
            let mut cmd = RemotingCommand::request(RequestCode::DELETE_SUBSCRIPTIONGROUP);
            cmd.ext_fields.insert("groupName", group.clone());
            cmd.ext_fields.insert("cleanOffset", "true");
            assert_eq!(ask(&client, addr, cmd).await.code, 0, "{addr}");
        }
        client.shutdown();
        ours_h.shutdown().await;
    });
}
