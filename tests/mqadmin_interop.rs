//! Apache's `mqadmin` against mini-namesrv + mini-broker, compared with what the same tool
//! prints for an Apache NameServer + Broker in the same state (issue 15, scenario 3).
//!
//! Per tools version (5.5.0 against Apache 5.5.0 servers; 4.9.8, the last 4.x tools, against
//! Apache 4.9.7 servers, the last 4.x servers on Maven Central) the test starts both clusters
//! once (same cluster and broker names), gives both the same state through our client (a
//! topic, eight messages with keys and tags on chosen queues, a running producer and a running
//! push consumer that consumed everything), then runs every command of the scenario against
//! both and compares the outputs after normalising what legitimately differs (addresses,
//! message and client ids, dates, broker version strings; see [`rocketmq_it::mqadmin`]).
//! Commands run in one `mqadmin` JVM per cluster ([`MqadminBatch`]), phase by phase: read-only
//! commands, mutations, their effects, then `resetOffsetByTime` while the consumer runs.
//!
//! Commands outside the scenario must be refused cleanly by our servers
//! (`REQUEST_CODE_NOT_SUPPORTED`, no hang, no stack trace of a decoding error); a sample of
//! them runs against our cluster.
//!
//! `MQADMIN_REPORT=<file>` writes the command → outcome table that `docs/COMPATIBILITY.md`
//! quotes; `MQADMIN_DUMP=<dir>` writes each command's verdict and outputs (raw and normalised)
//! there. Without `java`/`mvn` the tests print `SKIPPED:` and pass, unless
//! `ROCKETMQ_IT_REQUIRE_APACHE=1`.

// The protocol helpers the chaos tests use against live servers (only create_topic here).
#[allow(dead_code)]
#[path = "chaos/admin.rs"]
mod live_admin;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_it::apache::{apache_or_skip, ApacheCluster, ClusterOptions};
use rocketmq_it::init_tracing;
use rocketmq_it::mqadmin::{
    diff, is_clean_refusal, key_values, mask_all_numbers, mask_numbers_after, unexpected_exception,
    MqadminBatch, Normaliser,
};
use rocketmq_rs_client::{
    ClientConfig, ClientInstance, ConsumeContext, ConsumeFromWhere, ConsumeResult, Message,
    MessageExt, MessageQueue, MessageSelector, Producer, PushConsumer, SendResult, SendStatus,
};
use rocketmq_rs_mini_broker::{Broker, BrokerConfig, BrokerHandle};
use rocketmq_rs_mini_namesrv::{NameServer, NameServerHandle, NamesrvConfig};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    GetRouteInfoRequestHeader, QueryConsumerOffsetRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{Runtime, TokioRuntime};
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};

/// Cluster and broker names of both clusters (Apache's come from `apache-rmq.sh`).
const CLUSTER: &str = "RmqIT";
const BROKER_NAME: &str = "broker-a";
/// Messages sent by our producer before the commands run; message i goes to queue i % 4.
const MESSAGES: usize = 8;
const QUEUES: i32 = 4;
const BATCH_TIMEOUT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(60);

/// Scenario commands our servers do not serve yet: what mqadmin sends that we lack, and who
/// builds it. Each must still end cleanly (no hang); the report marks them `pending`.
const PENDING: &[(&str, &str)] = &[];

/// Apache's own system topics that mini-broker has no use for (POP revive logs, RocksDB and
/// transaction-half topics, broker-member sync, the benchmark topic) and retry topics, which
/// Apache 5.x registers with the NameServer only at its next periodic registration.
fn apache_internal_topic(t: &str) -> bool {
    ["rmq_sys_", "RMQ_SYS_", "%RETRY%", "BenchmarkTest"]
        .iter()
        .any(|p| t.starts_with(p))
}

/// How a scenario command's two outputs are compared.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Equal after normalisation.
    Same,
    /// Equal after normalisation and sorting the lines: the subscription table of
    /// consumerConnection comes from a Java hash map, whose order for colliding keys follows
    /// the broker's JSON.
    SameLines,
    /// Equal after normalisation and masking every number (live statistics: TPS, disk space).
    Masked,
    /// The same topics, in any order, apart from Apache-internal system topics (the first
    /// column of each line).
    Topics,
    /// The set of `key : value` keys is equal (values are live statistics).
    SameKeys,
    /// The `key = value` settings of [`SAME_VALUES`] have equal values.
    KeysSubset,
    /// Every `key = value` key ours prints, Apache prints too.
    ConfigKeys,
}

/// `GET_BROKER_RUNTIME_INFO` keys a 4.9.7 broker has and a 5.5.0 broker has not.
const V4_ONLY_RUNTIME_KEYS: [&str; 2] = ["brokerVersion", "getTransferedTps"];

/// `GET_BROKER_RUNTIME_INFO` keys a 5.5.0 broker has and a 4.9.7 broker has not.
const V5_ONLY_RUNTIME_KEYS: [&str; 13] = [
    "ackThreadPoolQueueCapacity",
    "ackThreadPoolQueueHeadWaitTimeMills",
    "ackThreadPoolQueueSize",
    "brokerActive",
    "getTransferredTps",
    "litePullThreadPoolQueueCapacity",
    "litePullThreadPoolQueueHeadWaitTimeMills",
    "litePullThreadPoolQueueSize",
    "timerCongestNum",
    "timerDequeueTps",
    "timerEnqueueTps",
    "timerOffsetBehind",
    "timerReadBehind",
];

/// mini-namesrv settings without an Apache NameServer counterpart of the same name (Apache's
/// listenPort/bindAddress, a fixed 120 s broker expiry, a system property for the frame size).
const MINI_NAMESRV_SETTINGS: [&str; 6] = [
    "acl",
    "brokerExpiryMillis",
    "listenAddr",
    "maxFrameSize",
    "metricsListen",
    "serverChannelMaxIdleMillis",
];

/// NameServer settings of 5.x that a 4.9.7 NameServer does not have.
const NAMESRV_5X_SETTINGS: [&str; 6] = [
    "deleteTopicWithBrokerRegistration",
    "enableAllTopicList",
    "enableTopicList",
    "returnOrderTopicConfigToBroker",
    "scanNotActiveBrokerInterval",
    "supportActingMaster",
];

/// Broker settings both clusters are configured alike for.
const SAME_VALUES: [&str; 6] = [
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    "autoCreateSubscriptionGroup",
    "fileReservedTime",
];

/// One command of the scenario, with a label unique in its run.
struct Case {
    label: String,
    command: &'static str,
    args: Vec<String>,
    check: Check,
}

/// What differs per cluster in the commands' arguments.
#[derive(Clone, Debug)]
struct Vars {
    ns: String,
    broker: String,
    topic: String,
    group: String,
    producer_group: String,
    consumer_client: String,
    producer_client: String,
    sends: Vec<SendResult>,
}

/// One cluster under test: its addresses, the state we gave it, its `mqadmin` JVM.
struct Target {
    name: &'static str,
    vars: Vars,
    norm: Normaliser,
    batch: MqadminBatch,
}

impl Target {
    fn run(&mut self, cases: &[Case]) -> Vec<String> {
        let cmds: Vec<Vec<String>> = cases
            .iter()
            .map(|c| {
                let mut v = vec![c.command.to_string()];
                v.extend(c.args.iter().cloned());
                v.push("-n".into());
                v.push(self.vars.ns.clone());
                v
            })
            .collect();
        let outs = self
            .batch
            .run(&cmds, BATCH_TIMEOUT)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        outs.into_iter()
            .map(|o| {
                if o.millis > 2000 {
                    eprintln!("{}: {:?} took {} ms", self.name, o.args, o.millis);
                }
                if o.timed_out {
                    format!("@@TIMEOUT after {} ms\n{}", o.millis, o.text)
                } else {
                    o.text
                }
            })
            .collect()
    }
}

/// Runs each phase on both targets at once.
/// What a 5.x broker (which mini-broker follows) stores differently from a 4.9.7 broker: the
/// `MSG_REGION` and `TRACE_ON` properties, and so every store size and commit-log offset.
fn as_v4_store(text: &str) -> String {
    let mut s = text.to_string();
    for p in ["MSG_REGION=DefaultRegion", "TRACE_ON=true"] {
        s = s
            .replace(&format!(", {p}"), "")
            .replace(&format!("{p}, "), "")
            .replace(&format!("{{{p}}}"), "{}");
    }
    mask_numbers_after(
        &s,
        &["storeSize=", "commitLogOffset=", "CommitLog Offset: ", "@"],
    )
}

fn run_both(
    a: &mut Target,
    m: &mut Target,
    v4_servers: bool,
    cases: impl Fn(&Vars) -> Vec<Case>,
) -> Vec<Outcome> {
    let (ca, cm) = (cases(&a.vars), cases(&m.vars));
    let (oa, om) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.run(&ca));
        let om = m.run(&cm);
        (ha.join().expect("apache batch thread"), om)
    });
    ca.into_iter()
        .zip(oa)
        .zip(om)
        .map(|((case, ra), rm)| {
            let (mut apache, mut ours) = (a.norm.apply(&ra), m.norm.apply(&rm));
            if v4_servers {
                apache = as_v4_store(&apache);
                ours = as_v4_store(&ours);
            }
            Outcome {
                v4_servers,
                apache,
                ours,
                raw_ours: rm,
                case,
            }
        })
        .collect()
}

struct Outcome {
    case: Case,
    v4_servers: bool,
    apache: String,
    ours: String,
    raw_ours: String,
}

/// Our verdict on one command, for the assertions and the report.
#[derive(Debug, PartialEq)]
enum Verdict {
    Matches,
    Refused,
    Differs(String),
}

/// Masks the numbers of lines that report rates (`Consume TPS: 0.80`) and of the rows of
/// `consumerStatus -i`'s `#Consumer RT&TPS#` table (the consumer's pull and consume RT and
/// TPS): live statistics.
fn live_tps(text: &str) -> String {
    let mut in_rt_table = false;
    text.lines()
        .map(|l| {
            if l.contains("#Consumer RT&TPS#") {
                in_rt_table = true;
            } else if l.trim().is_empty() || (l.starts_with('#') && !l.starts_with("#Topic")) {
                in_rt_table = false;
            }
            if in_rt_table {
                // Fixed-width columns: a longer number has fewer spaces before it.
                mask_all_numbers(l)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            } else if l.contains("TPS") {
                mask_all_numbers(l)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn judge(o: &Outcome) -> Verdict {
    if o.raw_ours.starts_with("@@TIMEOUT") {
        return Verdict::Differs(format!("hung:\n{}", o.raw_ours));
    }
    if is_clean_refusal(&o.raw_ours) {
        return Verdict::Refused;
    }
    if let Some(line) = unexpected_exception(&o.raw_ours) {
        if unexpected_exception(&o.apache).is_none() {
            return Verdict::Differs(format!("exception `{line}`:\n{}", o.raw_ours));
        }
    }
    let d = match o.case.check {
        Check::Same => diff(&live_tps(&o.apache), &live_tps(&o.ours)),
        Check::SameLines => {
            let sorted = |s: &str| {
                let mut v: Vec<&str> = s.lines().collect();
                v.sort_unstable();
                v.join("\n")
            };
            diff(&sorted(&o.apache), &sorted(&o.ours))
        }
        Check::Masked => diff(&mask_all_numbers(&o.apache), &mask_all_numbers(&o.ours)),
        Check::Topics => {
            let topics = |s: &str| {
                let mut v: Vec<String> = s
                    .lines()
                    .filter(|l| {
                        let t = l.split(' ').find(|w| !w.is_empty() && *w != CLUSTER);
                        !t.is_some_and(apache_internal_topic)
                    })
                    .map(str::to_string)
                    .collect();
                v.sort();
                v.join("\n")
            };
            diff(&topics(&o.apache), &topics(&o.ours))
        }
        Check::ConfigKeys => {
            let keys = |s: &str| -> std::collections::BTreeSet<String> {
                s.lines()
                    .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_string()))
                    .collect()
            };
            let (ka, ko) = (keys(&o.apache), keys(&o.ours));
            let allowed = |k: &str| {
                MINI_NAMESRV_SETTINGS.contains(&k)
                    || (o.v4_servers && NAMESRV_5X_SETTINGS.contains(&k))
            };
            let mut d: String = ko
                .difference(&ka)
                .filter(|k| !allowed(k))
                .map(|k| format!("  only ours: {k}\n"))
                .collect();
            if ko.is_empty() {
                d.push_str("  no key = value lines\n");
            }
            d
        }
        Check::SameKeys | Check::KeysSubset => {
            // Per-path keys (`commitLogDiskRatio_/tmp/...`) name each broker's own store.
            let sep = if matches!(o.case.check, Check::SameKeys) {
                ':'
            } else {
                '='
            };
            let kv = |s: &str| {
                let mut m = key_values(s, sep);
                m.retain(|k, _| !k.contains('/'));
                m
            };
            let (ka, ko) = (kv(&o.apache), kv(&o.ours));
            // mini-broker serves both tool lines: the runtime keys of the other Apache line
            // are there too (4.x tools read `getTransferedTps`, 5.x tools `getTransferredTps`).
            let other_line: &[&str] = match (o.case.check, o.v4_servers) {
                (Check::SameKeys, true) => &V5_ONLY_RUNTIME_KEYS,
                (Check::SameKeys, false) => &V4_ONLY_RUNTIME_KEYS,
                _ => &[],
            };
            let mut d = String::new();
            // getBrokerConfig lists every setting a broker has: mini-broker's own ones
            // (connection limits, HA addresses, ...) have no Apache counterpart; only the
            // shared [`SAME_VALUES`] are compared there.
            if matches!(o.case.check, Check::SameKeys) {
                for k in ko.keys() {
                    if !ka.contains_key(k) && !other_line.contains(&k.as_str()) {
                        d.push_str(&format!("  only ours: {k}\n"));
                    }
                }
            }
            match o.case.check {
                Check::SameKeys => {
                    for k in ka.keys() {
                        if !ko.contains_key(k) {
                            d.push_str(&format!("  only Apache's: {k}\n"));
                        }
                    }
                }
                _ => {
                    for k in SAME_VALUES {
                        if ka.get(k) != ko.get(k) {
                            d.push_str(&format!(
                                "  {k}: Apache {:?}, ours {:?}\n",
                                ka.get(k),
                                ko.get(k)
                            ));
                        }
                    }
                }
            }
            if ko.is_empty() {
                d.push_str("  no key-value lines\n");
            }
            d
        }
    };
    if d.is_empty() {
        Verdict::Matches
    } else {
        Verdict::Differs(format!(
            "{d}--- Apache (normalised) ---\n{}--- ours (normalised) ---\n{}",
            o.apache, o.ours
        ))
    }
}

fn case(label: &str, command: &'static str, args: &[&str], check: Check) -> Case {
    Case {
        label: label.into(),
        command,
        args: args.iter().map(|s| s.to_string()).collect(),
        check,
    }
}

/// Phase 1: commands that only read.
fn read_only(v: &Vars, tools5: bool) -> Vec<Case> {
    let (b, t, g) = (v.broker.as_str(), v.topic.as_str(), v.group.as_str());
    let offid = v.sends[3].offset_msg_id.as_str();
    let uniq = v.sends[5].msg_id.as_str();
    let mut by_id = vec!["-i", offid];
    if tools5 {
        // 5.x's queryMsgById requires the topic.
        by_id.extend(["-t", t]);
    }
    vec![
        case("clusterList", "clusterList", &[], Check::Masked),
        case("brokerStatus", "brokerStatus", &["-b", b], Check::SameKeys),
        case(
            "getBrokerConfig",
            "getBrokerConfig",
            &["-b", b],
            Check::KeysSubset,
        ),
        case("topicList", "topicList", &[], Check::Topics),
        case("topicList -c", "topicList", &["-c"], Check::Topics),
        case("topicRoute", "topicRoute", &["-t", t], Check::Same),
        case("topicStatus", "topicStatus", &["-t", t], Check::Same),
        case(
            "consumerProgress -g",
            "consumerProgress",
            &["-g", g],
            Check::Same,
        ),
        case(
            "consumerConnection",
            "consumerConnection",
            &["-g", g],
            Check::SameLines,
        ),
        case(
            "producerConnection",
            "producerConnection",
            &["-g", &v.producer_group, "-t", t],
            Check::Same,
        ),
        case("consumerStatus", "consumerStatus", &["-g", g], Check::Same),
        case(
            "consumerStatus -i",
            "consumerStatus",
            &["-g", g, "-i", &v.consumer_client],
            Check::Same,
        ),
        case("queryMsgById", "queryMsgById", &by_id, Check::Same),
        case(
            "queryMsgByKey",
            "queryMsgByKey",
            &["-t", t, "-k", "mqa-key-2"],
            Check::Same,
        ),
        case(
            "queryMsgByUniqueKey",
            "queryMsgByUniqueKey",
            &["-t", t, "-i", uniq],
            Check::Same,
        ),
        case(
            "queryMsgByOffset",
            "queryMsgByOffset",
            &["-t", t, "-b", BROKER_NAME, "-i", "1", "-o", "1"],
            Check::Same,
        ),
        case(
            "printMsg",
            "printMsg",
            &["-t", t, "-d", "true"],
            Check::Same,
        ),
        case(
            "consumeMessage",
            "consumeMessage",
            &["-t", t, "-b", BROKER_NAME, "-i", "2", "-o", "0", "-c", "2"],
            Check::Same,
        ),
        case("statsAll", "statsAll", &["-t", t], Check::Masked),
    ]
}

/// Phase 2: commands that change state (each touches its own object).
fn mutations(v: &Vars) -> Vec<Case> {
    let b = v.broker.as_str();
    vec![
        case(
            "sendMessage",
            "sendMessage",
            &[
                "-t",
                &v.topic,
                "-p",
                "sent by mqadmin",
                "-k",
                "mqa-cli",
                "-c",
                "TagC",
                "-b",
                BROKER_NAME,
                "-i",
                "3",
            ],
            Check::Same,
        ),
        case(
            "updateTopic",
            "updateTopic",
            &[
                "-b",
                b,
                "-t",
                &format!("{}_new", v.topic),
                "-r",
                "2",
                "-w",
                "2",
            ],
            Check::Same,
        ),
        case(
            "updateSubGroup",
            "updateSubGroup",
            &["-b", b, "-g", &format!("{}_new", v.group), "-r", "5"],
            Check::Same,
        ),
        case(
            "updateBrokerConfig",
            "updateBrokerConfig",
            &["-b", b, "-k", "autoCreateSubscriptionGroup", "-v", "false"],
            Check::Same,
        ),
        // A retention key (read at every clean-up pass, so live on both).
        case(
            "updateBrokerConfig (fileReservedTime)",
            "updateBrokerConfig",
            &["-b", b, "-k", "fileReservedTime", "-v", "96"],
            Check::Same,
        ),
        // Starts a manual deletion of expired commit-log files; nothing is that old here.
        case(
            "deleteExpiredCommitLog",
            "deleteExpiredCommitLog",
            &["-b", b],
            Check::Same,
        ),
    ]
}

/// Phase 3: the mutations' effects, then deleting what phase 2 created.
fn effects(v: &Vars) -> Vec<Case> {
    let b = v.broker.as_str();
    let new_topic = format!("{}_new", v.topic);
    let new_group = format!("{}_new", v.group);
    vec![
        case(
            "topicRoute (new topic)",
            "topicRoute",
            &["-t", &new_topic],
            Check::Same,
        ),
        case(
            "topicStatus (after sendMessage)",
            "topicStatus",
            &["-t", &v.topic],
            Check::Same,
        ),
        case(
            "queryMsgByKey (sendMessage)",
            "queryMsgByKey",
            &["-t", &v.topic, "-k", "mqa-cli"],
            Check::Same,
        ),
        case(
            "getBrokerConfig (updated)",
            "getBrokerConfig",
            &["-b", b],
            Check::KeysSubset,
        ),
        case(
            "deleteTopic",
            "deleteTopic",
            &["-t", &new_topic, "-c", CLUSTER],
            Check::Same,
        ),
        case(
            "deleteSubGroup",
            "deleteSubGroup",
            &["-b", b, "-g", &new_group],
            Check::Same,
        ),
    ]
}

/// Commands beyond the scenario that our servers serve, compared like the scenario's: read
/// and set NameServer KV config and configuration, a group's config, a topic's clusters.
fn extras(v: &Vars) -> Vec<Case> {
    vec![
        case(
            "getConsumerConfig",
            "getConsumerConfig",
            &["-g", &v.group],
            Check::Same,
        ),
        case(
            "topicClusterList",
            "topicClusterList",
            &["-t", &v.topic],
            Check::Same,
        ),
        case(
            "getNamesrvConfig",
            "getNamesrvConfig",
            &[],
            Check::ConfigKeys,
        ),
        case(
            "updateKvConfig",
            "updateKvConfig",
            &["-s", "mqa", "-k", "k1", "-v", "v1"],
            Check::Same,
        ),
    ]
}

/// Last, once the consumers are done: KV delete, and the broker's write permission taken away
/// and given back on the NameServer (WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER),
/// each followed by the topic's route.
fn extras_last(v: &Vars) -> Vec<Case> {
    let t = v.topic.as_str();
    vec![
        case(
            "deleteKvConfig",
            "deleteKvConfig",
            &["-s", "mqa", "-k", "k1"],
            Check::Same,
        ),
        // "OK, <topics changed>": Apache's count includes its own system topics.
        case(
            "wipeWritePerm",
            "wipeWritePerm",
            &["-b", BROKER_NAME],
            Check::Masked,
        ),
        case(
            "topicRoute (write wiped)",
            "topicRoute",
            &["-t", t],
            Check::Same,
        ),
        // "OK, <topics changed>": Apache's count includes its own system topics.
        case(
            "addWritePerm",
            "addWritePerm",
            &["-b", BROKER_NAME],
            Check::Masked,
        ),
        case(
            "topicRoute (write added)",
            "topicRoute",
            &["-t", t],
            Check::Same,
        ),
    ]
}

/// Commands outside the scenario, run against our cluster only: each must end cleanly.
fn others(v: &Vars, tools5: bool) -> Vec<Case> {
    let (b, t) = (v.broker.as_str(), v.topic.as_str());
    let mut c = vec![
        case("cleanExpiredCQ", "cleanExpiredCQ", &["-b", b], Check::Same),
        case(
            "cleanUnusedTopic",
            "cleanUnusedTopic",
            &["-b", b],
            Check::Same,
        ),
        case(
            "brokerConsumeStats",
            "brokerConsumeStats",
            &["-b", b],
            Check::Same,
        ),
        case(
            "queryCq",
            "queryCq",
            &["-t", t, "-q", "0", "-i", "0"],
            Check::Same,
        ),
        // Written into the batch JVM's working directory, the test's scratch directory.
        case(
            "exportMetadata -t",
            "exportMetadata",
            &["-b", b, "-t", "-f", "."],
            Check::Same,
        ),
        case(
            "exportMetadata -g",
            "exportMetadata",
            &["-b", b, "-g", "-f", "."],
            Check::Same,
        ),
    ];
    if tools5 {
        c.extend([
            case("haStatus", "haStatus", &["-b", b], Check::Same),
            case(
                "getBrokerEpoch",
                "getBrokerEpoch",
                &["-b", BROKER_NAME],
                Check::Same,
            ),
            case(
                "getSyncStateSet",
                "getSyncStateSet",
                &["-a", b, "-b", BROKER_NAME],
                Check::Same,
            ),
            case(
                "getControllerMetaData",
                "getControllerMetaData",
                &["-a", b],
                Check::Same,
            ),
            case(
                "getColdDataFlowCtrInfo",
                "getColdDataFlowCtrInfo",
                &["-b", b],
                Check::Same,
            ),
            case("listUser", "listUser", &["-b", b], Check::Same),
            case("listAcl", "listAcl", &["-b", b], Check::Same),
            case(
                "getBrokerLiteInfo",
                "getBrokerLiteInfo",
                &["-b", b],
                Check::Same,
            ),
        ]);
    } else {
        c.extend([case(
            "clusterAclConfigVersion",
            "clusterAclConfigVersion",
            &["-b", b],
            Check::Same,
        )]);
    }
    c
}

fn unique(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}

/// A mini NameServer plus a mini broker named like Apache's (`RmqIT` / `broker-a`).
struct Mini {
    namesrv: NameServerHandle,
    broker: BrokerHandle,
    _store: tempfile::TempDir,
}

async fn start_mini(rt: &Arc<dyn Runtime>) -> Mini {
    let namesrv = NameServer::start(
        NamesrvConfig::with_listen_addr("127.0.0.1:0".parse().expect("addr")),
        Arc::clone(rt),
    )
    .await
    .expect("start mini-namesrv");
    let store = tempfile::Builder::new()
        .prefix("mqadmin-interop-")
        .tempdir()
        .expect("store dir");
    let mut cfg = BrokerConfig::for_test(store.path());
    cfg.broker_cluster_name = CLUSTER.into();
    cfg.broker_name = BROKER_NAME.into();
    cfg.namesrv_addrs = vec![namesrv.addr().to_string()];
    let broker = Broker::start(cfg, Arc::clone(rt))
        .await
        .expect("start mini-broker");
    Mini {
        namesrv,
        broker,
        _store: store,
    }
}

/// The clients that give a cluster its state and keep running while the commands run.
struct Clients {
    producer: Producer,
    consumer: PushConsumer,
    received: Arc<Mutex<Vec<MessageExt>>>,
}

fn client_config(ns: SocketAddr, rt: &Arc<dyn Runtime>, instance: &str) -> ClientConfig {
    {
        let mut c = ClientConfig::default();
        c.namesrv_addrs = vec![ns.to_string()];
        c.instance_name = Some(instance.into());
        c.route_refresh_interval = Duration::from_secs(1);
        c.heartbeat_interval = Duration::from_secs(1);
        c.rebalance_interval = Duration::from_secs(1);
        c.persist_offset_interval = Duration::from_millis(500);
        c.runtime = Some(Arc::clone(rt));
        c
    }
}

async fn wait_route(rt: &Arc<dyn Runtime>, ns: SocketAddr, topic: &str) {
    let client = RemotingClient::new(Arc::clone(rt), TransportConfig::default());
    let deadline = Instant::now() + WAIT;
    loop {
        let req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC).with_header(
            &GetRouteInfoRequestHeader {
                topic: topic.into(),
                accept_standard_json_only: None,
            },
        );
        match client
            .invoke(&ns.to_string(), req, Duration::from_secs(5))
            .await
        {
            Ok(r) if r.code == ResponseCode::SUCCESS => break,
            r => assert!(
                Instant::now() < deadline,
                "no route for {topic} at {ns}: {r:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.shutdown();
}

/// Waits until the broker has the committed offset `want` for every queue of the group.
async fn wait_committed(
    rt: &Arc<dyn Runtime>,
    broker: SocketAddr,
    topic: &str,
    group: &str,
    want: &[i64],
) {
    let client = RemotingClient::new(Arc::clone(rt), TransportConfig::default());
    let deadline = Instant::now() + WAIT;
    'outer: loop {
        assert!(
            Instant::now() < deadline,
            "{group} never committed {want:?} on {broker}"
        );
        for (q, w) in want.iter().enumerate() {
            let req = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET).with_header(
                &QueryConsumerOffsetRequestHeader {
                    consumer_group: group.into(),
                    topic: topic.into(),
                    queue_id: q as i32,
                    set_zero_if_not_found: None,
                    bname: None,
                },
            );
            let got = client
                .invoke(&broker.to_string(), req, Duration::from_secs(5))
                .await
                .ok()
                .filter(|r| r.code == ResponseCode::SUCCESS)
                .and_then(|r| {
                    r.ext_fields
                        .get("offset")
                        .and_then(|o| o.parse::<i64>().ok())
                });
            if got != Some(*w) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue 'outer;
            }
        }
        break;
    }
    client.shutdown();
}

/// Gives a cluster the scenario's state: topic, messages, running producer and consumer.
async fn populate(
    rt: Arc<dyn Runtime>,
    ns: SocketAddr,
    broker: SocketAddr,
    names: Vars,
    tag: &str,
) -> (Vars, Clients) {
    let mut vars = names;
    live_admin::create_topic(broker, &vars.topic, QUEUES, false).await;
    wait_route(&rt, ns, &vars.topic).await;
    let instance =
        ClientInstance::new(client_config(ns, &rt, &format!("p-{tag}"))).expect("instance");
    vars.producer_client = instance.client_id().to_string();
    let producer = Producer::builder()
        .client_instance(instance)
        .group(&vars.producer_group)
        .build()
        .expect("producer config");
    producer.start().await.expect("producer start");
    for i in 0..MESSAGES {
        let mut m = Message::new(&vars.topic, format!("mqadmin body {i}"));
        m.set_keys([format!("mqa-key-{i}")]);
        m.set_tags(if i % 2 == 0 { "TagA" } else { "TagB" });
        m.put_user_property("idx", i.to_string())
            .expect("user property");
        let mq = MessageQueue::new(&vars.topic, BROKER_NAME, i as i32 % QUEUES);
        let r = producer.send_to_queue(m, &mq).await.expect("send");
        assert_eq!(r.status, SendStatus::SendOk, "{tag}: {r:?}");
        vars.sends.push(r);
    }
    let received: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let rec = Arc::clone(&received);
    let instance =
        ClientInstance::new(client_config(ns, &rt, &format!("c-{tag}"))).expect("instance");
    vars.consumer_client = instance.client_id().to_string();
    let consumer = PushConsumer::builder()
        .client_instance(instance)
        .group(&vars.group)
        .subscribe(&vars.topic, MessageSelector::all())
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            rec.lock().unwrap().extend(msgs);
            std::future::ready(ConsumeResult::Success)
        })
        .build()
        .expect("consumer config");
    consumer.start().await.expect("consumer start");
    let deadline = Instant::now() + WAIT;
    while received.lock().unwrap().len() < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "{tag}: consumer got {}",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let per_queue = vec![(MESSAGES as i64) / QUEUES as i64; QUEUES as usize];
    wait_committed(&rt, broker, &vars.topic, &vars.group, &per_queue).await;
    (
        vars,
        Clients {
            producer,
            consumer,
            received,
        },
    )
}

fn normaliser(v: &Vars, ns: SocketAddr, broker: SocketAddr) -> Normaliser {
    let mut n = Normaliser::new();
    n.replace(broker.to_string(), "<broker>");
    n.replace(ns.to_string(), "<ns>");
    n.replace(&v.consumer_client, "<consumer-client>");
    n.replace(&v.producer_client, "<producer-client>");
    for (i, s) in v.sends.iter().enumerate() {
        n.replace(&s.msg_id, format!("<msgid-{i}>"));
        n.replace(&s.offset_msg_id, format!("<offid-{i}>"));
    }
    n
}

/// The whole scenario for one tools version against Apache servers of `servers`.
fn compare(tools: &str, servers: &str) {
    let test = format!("mqadmin {tools} vs Apache {servers}");
    init_tracing();
    if !apache_or_skip(&test) {
        return;
    }
    let t0 = Instant::now();
    let tools5 = tools.starts_with('5');
    let v4 = servers.starts_with('4');
    let apache = std::thread::spawn({
        let servers = servers.to_string();
        move || ApacheCluster::start(&servers, &ClusterOptions::default())
    });
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::from_handle(tokio_rt.handle().clone()));
    let mini = tokio_rt.block_on(start_mini(&rt));
    let scratch = tempfile::Builder::new()
        .prefix("mqadmin-tools-")
        .tempdir()
        .expect("tools dir");
    let batch_m = MqadminBatch::start(tools, &scratch.path().join("mini")).expect("mqadmin batch");
    let batch_a =
        MqadminBatch::start(tools, &scratch.path().join("apache")).expect("mqadmin batch");
    let apache = apache
        .join()
        .expect("apache start thread")
        .unwrap_or_else(|e| panic!("{test}: Apache {servers}: {e}"));
    eprintln!("{test}: clusters up in {:.1} s", t0.elapsed().as_secs_f64());

    let names = Vars {
        ns: String::new(),
        broker: String::new(),
        topic: unique(&format!("MqaT{}", tools.replace('.', ""))),
        group: unique("MqaCG"),
        producer_group: unique("MqaPG"),
        consumer_client: String::new(),
        producer_client: String::new(),
        sends: Vec::new(),
    };
    let (ns_a, br_a) = (apache.namesrv_addr(), apache.broker_addr());
    let (ns_m, br_m) = (mini.namesrv.addr(), mini.broker.addr());
    let with_addrs = |ns: SocketAddr, br: SocketAddr| Vars {
        ns: ns.to_string(),
        broker: br.to_string(),
        ..names.clone()
    };
    let ((va, ca), (vm, cm)) = tokio_rt.block_on(async {
        futures::join!(
            populate(
                Arc::clone(&rt),
                ns_a,
                br_a,
                with_addrs(ns_a, br_a),
                "apache"
            ),
            populate(Arc::clone(&rt), ns_m, br_m, with_addrs(ns_m, br_m), "mini"),
        )
    });
    eprintln!("{test}: state given in {:.1} s", t0.elapsed().as_secs_f64());
    let mut a = Target {
        name: "apache",
        norm: normaliser(&va, ns_a, br_a),
        vars: va,
        batch: batch_a,
    };
    let mut m = Target {
        name: "mini",
        norm: normaliser(&vm, ns_m, br_m),
        vars: vm,
        batch: batch_m,
    };

    let mut outcomes = run_both(&mut a, &mut m, v4, |v| read_only(v, tools5));
    outcomes.extend(run_both(&mut a, &mut m, v4, mutations));
    // sendMessage's message must be indexed before queryMsgByKey looks for it, and the new
    // topic registered.
    std::thread::sleep(Duration::from_secs(2));
    outcomes.extend(run_both(&mut a, &mut m, v4, effects));
    outcomes.extend(run_both(&mut a, &mut m, v4, extras));
    let others_out = {
        let cases = others(&m.vars, tools5);
        let outs = m.run(&cases);
        cases.into_iter().zip(outs).collect::<Vec<_>>()
    };

    // resetOffsetByTime while the consumers run: every message comes again, on both.
    let before = (
        ca.received.lock().unwrap().len(),
        cm.received.lock().unwrap().len(),
    );
    let at = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        - 300_000)
        .to_string();
    let reset = run_both(&mut a, &mut m, v4, |v| {
        vec![case(
            "resetOffsetByTime",
            "resetOffsetByTime",
            &["-g", &v.group, "-t", &v.topic, "-s", &at],
            Check::Same,
        )]
    });
    let deadline = Instant::now() + WAIT;
    let redelivered =
        |c: &Clients, before: usize| c.received.lock().unwrap().len() >= before + MESSAGES;
    // A refusal cannot redeliver anything: then only Apache's consumer is waited for.
    let ours_refused = is_clean_refusal(&reset[0].raw_ours);
    while !(redelivered(&ca, before.0) && (ours_refused || redelivered(&cm, before.1)))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let redelivery = (redelivered(&ca, before.0), redelivered(&cm, before.1));
    outcomes.extend(reset);
    outcomes.extend(run_both(&mut a, &mut m, v4, extras_last));

    tokio_rt.block_on(async {
        for c in [ca, cm] {
            let _ = c.consumer.shutdown().await;
            c.producer.shutdown().await;
        }
    });

    // Verdicts.
    let mut failures = Vec::new();
    let mut report = BTreeMap::new();
    for o in &outcomes {
        let v = judge(o);
        let pending = PENDING
            .iter()
            .find(|(c, _)| *c == o.case.label)
            .map(|(_, why)| *why);
        let status = match (&v, pending) {
            (Verdict::Matches, _) => "works".to_string(),
            (Verdict::Refused, Some(why)) | (Verdict::Differs(_), Some(why))
                if !o.raw_ours.starts_with("@@TIMEOUT") =>
            {
                format!("pending: {why}")
            }
            (Verdict::Refused, _) => {
                failures.push(format!(
                    "{}: refused by our servers:\n{}",
                    o.case.label, o.raw_ours
                ));
                "refused".to_string()
            }
            (Verdict::Differs(d), _) => {
                failures.push(format!(
                    "{}: differs from Apache {servers}:\n{d}",
                    o.case.label
                ));
                "differs".to_string()
            }
        };
        report.insert(o.case.label.clone(), status);
    }
    // Our consumer's statusTable (Java ConsumerStatsManager) lists its topic in
    // `consumerStatus -i`'s RT&TPS table, on both clusters.
    if let Some(o) = outcomes
        .iter()
        .find(|o| o.case.label == "consumerStatus -i")
    {
        let table = o
            .raw_ours
            .split("#Consumer RT&TPS#")
            .nth(1)
            .unwrap_or_default();
        if !table.lines().any(|l| l.starts_with(&m.vars.topic)) {
            failures.push(format!(
                "consumerStatus -i: no RT&TPS row for {}:\n{}",
                m.vars.topic, o.raw_ours
            ));
        }
    }
    if redelivery.0 && !redelivery.1 && !ours_refused {
        failures
            .push("resetOffsetByTime: Apache's consumer got everything again, ours did not".into());
    }
    if !redelivery.0 {
        failures
            .push("resetOffsetByTime: Apache's own consumer was not reset (test setup?)".into());
    }
    let mut other_report = BTreeMap::new();
    for (c, out) in &others_out {
        let status = if out.starts_with("@@TIMEOUT") {
            failures.push(format!("{}: hung:\n{out}", c.label));
            "hangs"
        } else if is_clean_refusal(out) {
            "refused"
        } else if let Some(line) = unexpected_exception(out) {
            failures.push(format!(
                "{}: not a clean refusal (`{line}`):\n{out}",
                c.label
            ));
            "malformed"
        } else {
            "answers"
        };
        other_report.insert(c.label.clone(), status.to_string());
    }
    let mut text = format!("# mqadmin {tools} (Apache servers {servers})\n");
    for (k, v) in &report {
        text.push_str(&format!("{k}\t{v}\n"));
    }
    text.push_str("# other commands, our servers only\n");
    for (k, v) in &other_report {
        text.push_str(&format!("{k}\t{v}\n"));
    }
    eprintln!("{text}");
    if let Ok(path) = std::env::var("MQADMIN_REPORT") {
        let path = format!("{path}.{tools}");
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    if let Ok(dir) = std::env::var("MQADMIN_DUMP") {
        for o in &outcomes {
            let f = format!(
                "{dir}/{tools}-{}.txt",
                o.case.label.replace([' ', '(', ')'], "_")
            );
            let _ = std::fs::write(
                f,
                format!(
                    "=== verdict\n{:?}\n=== apache\n{}=== ours\n{}=== ours raw\n{}",
                    judge(o),
                    o.apache,
                    o.ours,
                    o.raw_ours
                ),
            );
        }
        for side in ["mini", "apache"] {
            let _ = std::fs::copy(
                scratch.path().join(side).join("mqadmin-batch.err"),
                format!("{dir}/{tools}-{side}-batch.err"),
            );
        }
        for (c, out) in &others_out {
            let _ = std::fs::write(format!("{dir}/{tools}-other-{}.txt", c.label), out);
        }
    }
    drop(apache);
    tokio_rt.block_on(async {
        mini.broker.shutdown().await;
        mini.namesrv.shutdown().await;
    });
    tokio_rt.shutdown_timeout(Duration::from_secs(5));
    eprintln!("{test}: done in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "{test}: {} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn mqadmin_5_5_0() {
    compare("5.5.0", "5.5.0");
}

#[test]
fn mqadmin_4_9_8() {
    compare("4.9.8", "4.9.7");
}
