//! [`NamesrvProcessor`]: request dispatch by code → typed headers and bodies → responses with
//! Java's codes and remarks (docs/protocol/frame.md §12; docs/protocol/route.md §1; docs/protocol/namesrv.md).
//!
//! Every command a Java/Go/C++ client or a 4.x/5.x Java broker sends to a NameServer is
//! answered as Apache's `DefaultRequestProcessor` / `ClientRequestProcessor` answer it:
//!
//! | code | command | sent by |
//! |---|---|---|
//! | 105 | GET_ROUTEINFO_BY_TOPIC | every client (start-up and every 30 s), brokers |
//! | 103 / 104 | REGISTER_BROKER / UNREGISTER_BROKER | brokers (start-up, every 30 s, shutdown) |
//! | 322 / 904 | QUERY_DATA_VERSION / BROKER_HEARTBEAT | 5.x brokers (`forceRegister=false`, acting master) |
//! | 901 | GET_BROKER_MEMBER_GROUP | 5.x brokers in acting-master mode |
//! | 217 | REGISTER_TOPIC_IN_NAMESRV | 5.x brokers (`enableSingleTopicRegister`) |
//! | 106 | GET_BROKER_CLUSTER_INFO | brokers, admin tools |
//! | 100/101/102/219 | PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE | admin tools |
//! | 206, 224, 304, 311–313 | topic lists | admin tools |
//! | 205 / 327 | WIPE / ADD_WRITE_PERM_OF_BROKER | admin tools |
//! | 216 | DELETE_TOPIC_IN_NAMESRV | admin tools |
//! | 318 / 319 | UPDATE / GET_NAMESRV_CONFIG | admin tools |
//!
//! Anything else gets `REQUEST_CODE_NOT_SUPPORTED` with Java's remark, and the connection stays
//! up.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use rocketmq_rs_remoting::protocol::body::{
    BrokerData, DataVersion, JsonBody, KVTable, QueueData, RegisterBrokerBody,
    TopicConfigSerializeWrapper, TopicList, TopicRouteData,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    BrokerHeartbeatRequestHeader, CommandHeader, DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader, GetKVConfigRequestHeader, GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader, GetRouteInfoRequestHeader, PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader, QueryDataVersionResponseHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
};
use rocketmq_rs_remoting::protocol::{LanguageCode, RemotingCommand};
use rocketmq_rs_remoting::rt::{self, Runtime};
use rocketmq_rs_remoting::transport::{Connection, RequestHandler};
use rocketmq_rs_remoting::util::RwLockExt;
use rocketmq_rs_remoting::RemotingError;
use serde::{Deserialize, Serialize};

use crate::config::{parse_properties, NamesrvConfig};
use crate::error::Error;
use crate::kv_config::{KvConfigManager, NAMESPACE_ORDER_TOPIC_CONFIG};
use crate::route_info::{
    BrokerRegistration, ConnId, RemovedBroker, RouteInfoManager, RouteOptions, MASTER_ID,
    TOPIC_SYS_FLAG_UNIT, TOPIC_SYS_FLAG_UNIT_SUB,
};

/// The `version` this NameServer puts in its responses: `V5_3_3`, as a current Java NameServer.
pub const SERVER_VERSION: i32 = 479;

/// `MQVersion.V4_9_4`: requests at or above it get route JSON with quoted map keys.
pub const STANDARD_JSON_MIN_VERSION: i32 = 401;

/// `MQVersion.V3_0_11`: brokers at or above it send a `RegisterBrokerBody` (with filter servers).
pub const REGISTER_BODY_MIN_VERSION: i32 = 37;

/// Java's FAQ suffix on user-facing error remarks.
pub const FAQ_SUFFIX: &str =
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

/// Ext field asking for zone-filtered routes (Java `MixAll.ZONE_MODE`).
const ZONE_MODE: &str = "__ZONE_MODE";
/// Ext field naming the client's or broker's zone (Java `MixAll.ZONE_NAME`).
const ZONE_NAME: &str = "__ZONE_NAME";

/// The NameServer's request handler: shared state plus dispatch.
///
/// [`crate::NameServer`] runs one behind a [`rocketmq_rs_remoting::transport::RemotingServer`];
/// it can also be driven directly with [`NamesrvProcessor::process`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rocketmq_rs_mini_namesrv::{processor::NamesrvProcessor, kv_config::KvConfigManager, NamesrvConfig};
/// use rocketmq_rs_remoting::protocol::{RemotingCommand, code::{RequestCode, ResponseCode}};
///
/// let rt = rocketmq_rs_remoting::rt::default_runtime().unwrap();
/// let p = NamesrvProcessor::new(NamesrvConfig::default(), KvConfigManager::in_memory(), rt);
/// let mut req = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
/// req.ext_fields.insert("topic", "TopicTest");
/// let resp = p.process(None, req).await;
/// assert_eq!(resp.code, ResponseCode::TOPIC_NOT_EXIST);
/// assert!(resp.remark.unwrap().starts_with("No topic route info in name server for the topic: TopicTest\nSee "));
/// # });
/// ```
#[derive(Debug)]
pub struct NamesrvProcessor {
    config: RwLock<NamesrvConfig>,
    routes: RwLock<RouteInfoManager>,
    kv: Arc<KvConfigManager>,
    rt: Arc<dyn Runtime>,
    /// ACL 1.0 check run before any processing (`NamesrvConfig::acl`).
    acl: Option<rocketmq_rs_remoting::acl::AclValidator>,
}

fn route_options(cfg: &NamesrvConfig) -> RouteOptions {
    RouteOptions {
        default_expiry: cfg.broker_expiry(),
        support_acting_master: cfg.support_acting_master,
        delete_topic_with_broker_registration: cfg.delete_topic_with_broker_registration,
    }
}

/// Why a request could not be served; turned into a `SYSTEM_ERROR` (or the given code).
struct Failure {
    code: i32,
    remark: String,
}

impl From<RemotingError> for Failure {
    fn from(e: RemotingError) -> Self {
        let remark = match e {
            // Java's `decodeCommandCustomHeader` wording.
            RemotingError::MissingField { field } => format!("the custom field <{field}> is null"),
            other => other.to_string(),
        };
        Failure {
            code: ResponseCode::SYSTEM_ERROR,
            remark,
        }
    }
}

fn system_error(remark: impl Into<String>) -> Failure {
    Failure {
        code: ResponseCode::SYSTEM_ERROR,
        remark: remark.into(),
    }
}

type Outcome = Result<RemotingCommand, Failure>;

fn success() -> RemotingCommand {
    RemotingCommand::response(ResponseCode::SUCCESS, None)
}

fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, Failure> {
    H::read_from(&req.ext_fields).map_err(Failure::from)
}

/// A required string ext field (for the few headers this crate defines itself).
fn required<'a>(req: &'a RemotingCommand, field: &'static str) -> Result<&'a str, Failure> {
    req.ext_fields
        .get(field)
        .ok_or_else(|| Failure::from(RemotingError::MissingField { field }))
}

/// GET_BROKER_MEMBER_GROUP (901) response body (Java `GetBrokerMemberGroupResponseBody`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetBrokerMemberGroupResponseBody {
    /// The group.
    pub broker_member_group: BrokerMemberGroup,
}

/// A broker group's members (Java `BrokerMemberGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerMemberGroup {
    /// Cluster name as asked.
    pub cluster: Option<String>,
    /// Broker name.
    pub broker_name: String,
    /// Broker id → address.
    pub broker_addrs: BTreeMap<i64, String>,
}

fn json_bytes<T: Serialize>(v: &T) -> Bytes {
    // Serializing plain maps/strings/numbers cannot fail.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

impl NamesrvProcessor {
    /// A processor with the given configuration and KV store.
    pub fn new(config: NamesrvConfig, kv: KvConfigManager, rt: Arc<dyn Runtime>) -> Self {
        let routes = RouteInfoManager::new(route_options(&config));
        let acl = config.acl.as_ref().map(|acl| {
            rocketmq_rs_remoting::acl::AclValidator::new(acl).unwrap_or_else(|e| {
                // Fail closed: an empty ACL refuses everything.
                tracing::error!(error = %e, "invalid ACL config: every request will be refused");
                rocketmq_rs_remoting::acl::AclValidator::new(&Default::default())
                    .unwrap_or_else(|_| unreachable!("the empty ACL config is valid"))
            })
        });
        NamesrvProcessor {
            acl,
            config: RwLock::new(config),
            routes: RwLock::new(routes),
            kv: Arc::new(kv),
            rt,
        }
    }

    fn cfg(&self) -> RwLockReadGuard<'_, NamesrvConfig> {
        // Locks guard plain data updated in single steps: a poisoned lock is still consistent.
        self.config.read_unpoisoned()
    }

    fn routes(&self) -> RwLockReadGuard<'_, RouteInfoManager> {
        self.routes.read_unpoisoned()
    }

    fn routes_mut(&self) -> RwLockWriteGuard<'_, RouteInfoManager> {
        self.routes.write_unpoisoned()
    }

    /// A copy of the current configuration (including run-time updates).
    pub fn config(&self) -> NamesrvConfig {
        self.cfg().clone()
    }

    /// The KV store.
    pub fn kv(&self) -> &KvConfigManager {
        &self.kv
    }

    /// Read access to the routing state (for inspection; do not hold it across an `.await`).
    pub fn route_info(&self) -> RwLockReadGuard<'_, RouteInfoManager> {
        self.routes()
    }

    /// Removes expired brokers (the periodic scan).
    pub fn scan_not_active_brokers(&self) -> Vec<RemovedBroker> {
        let now = self.rt.now();
        self.routes_mut().scan_not_active_brokers(now)
    }

    /// Removes the brokers that registered over a connection that has closed.
    pub fn connection_closed(&self, conn: ConnId) -> Vec<RemovedBroker> {
        let removed = self.routes_mut().on_connection_closed(conn);
        for r in &removed {
            tracing::info!(
                cluster = %r.cluster_name, addr = %r.broker_addr, conn,
                "broker connection closed; broker unregistered"
            );
        }
        removed
    }

    /// Handles one request that arrived on connection `conn` (`None` when not from a
    /// connection) and returns the response. The transport copies the request's opaque and
    /// serialize type into it, and drops it for oneway requests.
    pub async fn process(&self, conn: Option<ConnId>, req: RemotingCommand) -> RemotingCommand {
        let code = req.code;
        let outcome = match code {
            RequestCode::GET_ROUTEINFO_BY_TOPIC => self.get_route_info(&req),
            RequestCode::REGISTER_BROKER => self.register_broker(conn, &req),
            RequestCode::UNREGISTER_BROKER => self.unregister_broker(&req),
            RequestCode::QUERY_DATA_VERSION => self.query_data_version(&req),
            RequestCode::BROKER_HEARTBEAT => self.broker_heartbeat(&req),
            RequestCode::GET_BROKER_MEMBER_GROUP => self.get_broker_member_group(&req),
            RequestCode::GET_BROKER_CLUSTER_INFO => Ok(self.get_broker_cluster_info(&req)),
            RequestCode::PUT_KV_CONFIG => self.put_kv_config(&req).await,
            RequestCode::GET_KV_CONFIG => self.get_kv_config(&req),
            RequestCode::DELETE_KV_CONFIG => self.delete_kv_config(&req).await,
            RequestCode::GET_KVLIST_BY_NAMESPACE => self.get_kv_list(&req),
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => self.get_all_topic_list(),
            RequestCode::GET_TOPICS_BY_CLUSTER => self.get_topics_by_cluster(&req),
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS => Ok(self.get_system_topic_list()),
            RequestCode::GET_UNIT_TOPIC_LIST => {
                self.topic_list_by_flag(|f| f & TOPIC_SYS_FLAG_UNIT != 0)
            }
            RequestCode::GET_HAS_UNIT_SUB_TOPIC_LIST => {
                self.topic_list_by_flag(|f| f & TOPIC_SYS_FLAG_UNIT_SUB != 0)
            }
            RequestCode::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => self.topic_list_by_flag(|f| {
                f & TOPIC_SYS_FLAG_UNIT == 0 && f & TOPIC_SYS_FLAG_UNIT_SUB != 0
            }),
            RequestCode::WIPE_WRITE_PERM_OF_BROKER => self.change_write_perm(&req, false),
            RequestCode::ADD_WRITE_PERM_OF_BROKER => self.change_write_perm(&req, true),
            RequestCode::DELETE_TOPIC_IN_NAMESRV => self.delete_topic(&req),
            RequestCode::REGISTER_TOPIC_IN_NAMESRV => self.register_topic(&req),
            RequestCode::UPDATE_NAMESRV_CONFIG => self.update_config(&req),
            RequestCode::GET_NAMESRV_CONFIG => Ok(self.get_config()),
            _ => Err(Failure {
                code: ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                remark: format!(" request type {code} not supported"),
            }),
        };
        let mut resp = outcome.unwrap_or_else(|f| {
            if f.code != ResponseCode::REQUEST_CODE_NOT_SUPPORTED {
                tracing::warn!(code, remark = %f.remark, "request failed");
            } else {
                tracing::debug!(code, "request code not supported");
            }
            RemotingCommand::response(f.code, Some(f.remark))
        });
        resp.version = SERVER_VERSION;
        resp.language = LanguageCode::Java;
        resp
    }

    fn get_route_info(&self, req: &RemotingCommand) -> Outcome {
        let h: GetRouteInfoRequestHeader = header(req)?;
        let Some(mut route) = self.routes().pickup_topic_route(&h.topic) else {
            return Ok(RemotingCommand::response(
                ResponseCode::TOPIC_NOT_EXIST,
                Some(format!(
                    "No topic route info in name server for the topic: {}{FAQ_SUFFIX}",
                    h.topic
                )),
            ));
        };
        if self.cfg().order_message_enable {
            route.order_topic_conf = self.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
        }
        let zone_mode = req
            .ext_fields
            .get(ZONE_MODE)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if zone_mode {
            if let Some(zone) = req
                .ext_fields
                .get(ZONE_NAME)
                .filter(|z| !z.trim().is_empty())
            {
                filter_by_zone(&mut route, zone);
            }
        }
        let standard =
            req.version >= STANDARD_JSON_MIN_VERSION || h.accept_standard_json_only == Some(true);
        let body = if standard {
            route.to_json()
        } else {
            route.to_json_legacy()
        };
        Ok(success().with_body(body))
    }

    fn register_broker(&self, conn: Option<ConnId>, req: &RemotingCommand) -> Outcome {
        let h: RegisterBrokerRequestHeader = header(req)?;
        if h.body_crc32 != 0 {
            let crc = rocketmq_rs_remoting::protocol::message::body_crc(&req.body) as i32;
            if crc != h.body_crc32 {
                tracing::warn!(peer_broker = %h.broker_addr, "register broker: crc32 not match");
                return Err(system_error("crc32 not match"));
            }
        }
        let max_inflated = self.cfg().max_frame_size.saturating_mul(8);
        let (wrapper, filter_servers) = if req.version >= REGISTER_BODY_MIN_VERSION {
            if req.body.is_empty() {
                (TopicConfigSerializeWrapper::default(), Some(Vec::new()))
            } else {
                let body = RegisterBrokerBody::decode(&req.body, h.compressed, max_inflated)
                    .map_err(|e| {
                        system_error(format!("Failed to decode RegisterBrokerBody: {e}"))
                    })?;
                (
                    body.topic_config_serialize_wrapper,
                    Some(body.filter_server_list),
                )
            }
        } else if req.body.is_empty() {
            (TopicConfigSerializeWrapper::default(), None)
        } else {
            let w = TopicConfigSerializeWrapper::from_json(&req.body).map_err(|e| {
                system_error(format!("Failed to decode TopicConfigSerializeWrapper: {e}"))
            })?;
            (w, None)
        };
        let topics = wrapper
            .topic_config_table
            .into_iter()
            .map(|(name, mut tc)| {
                if tc.topic_name.is_empty() {
                    tc.topic_name = name;
                }
                tc
            })
            .collect();
        let reg = BrokerRegistration {
            cluster_name: h.cluster_name,
            broker_addr: h.broker_addr,
            broker_name: h.broker_name,
            broker_id: h.broker_id,
            ha_server_addr: h.ha_server_addr,
            zone_name: h.zone_name,
            heartbeat_timeout: h
                .heartbeat_timeout_millis
                .filter(|ms| *ms > 0)
                .map(|ms| std::time::Duration::from_millis(ms as u64)),
            enable_acting_master: h.enable_acting_master,
            data_version: wrapper.data_version,
            topics,
            filter_servers,
            conn,
        };
        let now = self.rt.now();
        let result = self
            .routes_mut()
            .register_broker(reg, now)
            .map_err(|_| system_error("register broker failed"))?;
        let mut resp = success().with_header(&RegisterBrokerResponseHeader {
            ha_server_addr: result.ha_server_addr,
            master_addr: result.master_addr,
        });
        if self.cfg().return_order_topic_config_to_broker {
            if let Some(table) = self.kv.list(NAMESPACE_ORDER_TOPIC_CONFIG) {
                resp = resp.with_body(KVTable { table }.to_json());
            }
        }
        Ok(resp)
    }

    fn unregister_broker(&self, req: &RemotingCommand) -> Outcome {
        let h: UnRegisterBrokerRequestHeader = header(req)?;
        self.routes_mut().unregister_broker(
            &h.cluster_name,
            &h.broker_addr,
            &h.broker_name,
            h.broker_id,
        );
        Ok(success())
    }

    fn query_data_version(&self, req: &RemotingCommand) -> Outcome {
        let h: QueryDataVersionRequestHeader = header(req)?;
        let version = if req.body.is_empty() {
            None
        } else {
            Some(
                DataVersion::from_json(&req.body)
                    .map_err(|e| system_error(format!("bad DataVersion body: {e}")))?,
            )
        };
        let now = self.rt.now();
        let mut routes = self.routes_mut();
        let changed = match &version {
            Some(v) => routes.is_broker_topic_config_changed(&h.cluster_name, &h.broker_addr, v),
            None => true,
        };
        routes.touch(&h.cluster_name, &h.broker_addr, now);
        let stored = routes.query_data_version(&h.cluster_name, &h.broker_addr);
        drop(routes);
        let mut resp = success().with_header(&QueryDataVersionResponseHeader { changed });
        if let Some(v) = stored {
            resp = resp.with_body(v.to_json());
        }
        Ok(resp)
    }

    fn broker_heartbeat(&self, req: &RemotingCommand) -> Outcome {
        let h: BrokerHeartbeatRequestHeader = header(req)?;
        let now = self.rt.now();
        self.routes_mut()
            .touch(&h.cluster_name, &h.broker_addr, now);
        Ok(success())
    }

    fn get_broker_member_group(&self, req: &RemotingCommand) -> Outcome {
        let broker_name = required(req, "brokerName")?;
        let cluster = req.ext_fields.get("clusterName").map(str::to_owned);
        let broker_addrs = self.routes().broker_member_group(broker_name);
        let body = GetBrokerMemberGroupResponseBody {
            broker_member_group: BrokerMemberGroup {
                cluster,
                broker_name: broker_name.to_owned(),
                broker_addrs,
            },
        };
        Ok(success().with_body(json_bytes(&body)))
    }

    fn get_broker_cluster_info(&self, req: &RemotingCommand) -> RemotingCommand {
        let info = self.routes().cluster_info();
        // Java always sends fastjson's unquoted keys here; clients that asked for standard JSON
        // routes (version >= 401) get standard JSON, which every Java/Go/C++ reader accepts.
        let body = if req.version >= STANDARD_JSON_MIN_VERSION {
            info.to_json()
        } else {
            info.to_json_legacy()
        };
        success().with_body(body)
    }

    async fn persist_kv(&self) -> Result<(), Failure> {
        if self.kv.path().is_none() {
            return Ok(());
        }
        let kv_path = self
            .kv
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // `persist` writes the store's content as of when it takes the file lock, so concurrent
        // updates can never leave an older snapshot on disk.
        let kv = Arc::clone(&self.kv);
        let result = rt::run_blocking(&*self.rt, move || kv.persist()).await;
        result.map_err(|e: Error| {
            tracing::error!(path = %kv_path, error = %e, "persisting KV config failed");
            system_error(format!("persist kv config failed: {e}"))
        })
    }

    async fn put_kv_config(&self, req: &RemotingCommand) -> Outcome {
        let h: PutKVConfigRequestHeader = header(req)?;
        let prev = self.kv.put(&h.namespace, &h.key, &h.value);
        tracing::info!(namespace = %h.namespace, key = %h.key, value = %h.value, replaced = prev.is_some(), "put KV config");
        self.persist_kv().await?;
        Ok(success())
    }

    fn get_kv_config(&self, req: &RemotingCommand) -> Outcome {
        let h: GetKVConfigRequestHeader = header(req)?;
        match self.kv.get(&h.namespace, &h.key) {
            Some(value) => {
                Ok(success().with_header(&GetKVConfigResponseHeader { value: Some(value) }))
            }
            None => Ok(RemotingCommand::response(
                ResponseCode::QUERY_NOT_FOUND,
                Some(format!(
                    "No config item, Namespace: {} Key: {}",
                    h.namespace, h.key
                )),
            )),
        }
    }

    async fn delete_kv_config(&self, req: &RemotingCommand) -> Outcome {
        let h: DeleteKVConfigRequestHeader = header(req)?;
        if self.kv.delete(&h.namespace, &h.key).is_some() {
            tracing::info!(namespace = %h.namespace, key = %h.key, "deleted KV config");
            self.persist_kv().await?;
        }
        Ok(success())
    }

    fn get_kv_list(&self, req: &RemotingCommand) -> Outcome {
        let h: GetKVListByNamespaceRequestHeader = header(req)?;
        match self.kv.list(&h.namespace) {
            Some(table) => Ok(success().with_body(KVTable { table }.to_json())),
            None => Ok(RemotingCommand::response(
                ResponseCode::QUERY_NOT_FOUND,
                Some(format!("No config item, Namespace: {}", h.namespace)),
            )),
        }
    }

    fn get_all_topic_list(&self) -> Outcome {
        if !self.cfg().enable_all_topic_list {
            return Err(system_error("disable"));
        }
        let topics = self.routes().all_topics();
        Ok(success().with_body(
            TopicList {
                topic_list: topics.into_iter().collect(),
                broker_addr: None,
            }
            .to_json(),
        ))
    }

    fn get_topics_by_cluster(&self, req: &RemotingCommand) -> Outcome {
        if !self.cfg().enable_topic_list {
            return Err(system_error("disable"));
        }
        let cluster = required(req, "cluster")?;
        let topics = self.routes().topics_by_cluster(cluster);
        Ok(success().with_body(
            TopicList {
                topic_list: topics.into_iter().collect(),
                broker_addr: None,
            }
            .to_json(),
        ))
    }

    fn get_system_topic_list(&self) -> RemotingCommand {
        let (topics, broker_addr) = self.routes().system_topics();
        success().with_body(
            TopicList {
                topic_list: topics.into_iter().collect(),
                broker_addr,
            }
            .to_json(),
        )
    }

    fn topic_list_by_flag(&self, pred: impl Fn(i32) -> bool) -> Outcome {
        if !self.cfg().enable_topic_list {
            return Err(system_error("disable"));
        }
        let topics = self.routes().topics_with_sys_flag(pred);
        Ok(success().with_body(
            TopicList {
                topic_list: topics.into_iter().collect(),
                broker_addr: None,
            }
            .to_json(),
        ))
    }

    fn change_write_perm(&self, req: &RemotingCommand, add: bool) -> Outcome {
        let broker_name = required(req, "brokerName")?;
        let mut routes = self.routes_mut();
        let (count, field) = if add {
            (routes.add_write_perm(broker_name), "addTopicCount")
        } else {
            (routes.wipe_write_perm(broker_name), "wipeTopicCount")
        };
        drop(routes);
        tracing::info!(broker = %broker_name, add, count, "changed write perm of broker");
        let mut resp = success();
        resp.ext_fields.insert(field, count.to_string());
        Ok(resp)
    }

    fn delete_topic(&self, req: &RemotingCommand) -> Outcome {
        let h: DeleteTopicFromNamesrvRequestHeader = header(req)?;
        let cluster = h.cluster_name.as_deref().filter(|c| !c.is_empty());
        self.routes_mut().delete_topic(&h.topic, cluster);
        Ok(success())
    }

    fn register_topic(&self, req: &RemotingCommand) -> Outcome {
        let topic = required(req, "topic")?;
        if req.body.is_empty() {
            return Ok(success());
        }
        let route = TopicRouteData::from_json(&req.body)
            .map_err(|e| system_error(format!("bad TopicRouteData body: {e}")))?;
        let queue_datas: Vec<QueueData> = route.queue_datas;
        if !queue_datas.is_empty() {
            self.routes_mut().register_topic(topic, queue_datas);
        }
        Ok(success())
    }

    fn update_config(&self, req: &RemotingCommand) -> Outcome {
        if req.body.is_empty() {
            return Ok(success());
        }
        let text = String::from_utf8_lossy(&req.body);
        let props = parse_properties(&text);
        let mut cfg = self.config.write_unpoisoned();
        match cfg.apply_properties(&props, true) {
            Ok(()) => {}
            Err(Error::Config(msg)) if msg.ends_with("is in the black list") => {
                return Err(Failure {
                    code: ResponseCode::NO_PERMISSION,
                    remark: "Can not update config in black list.".into(),
                })
            }
            Err(e) => return Err(system_error(e.to_string())),
        }
        let options = route_options(&cfg);
        drop(cfg);
        self.routes_mut().set_options(options);
        tracing::info!(update = %text.trim(), "name server config updated");
        Ok(success())
    }

    fn get_config(&self) -> RemotingCommand {
        let text = self.cfg().to_properties();
        success().with_body(Bytes::from(text.into_bytes()))
    }
}

/// Java's `ZoneRouteRPCHook`: keep the broker groups of the asker's zone, plus groups without a
/// master (so their messages can still be consumed from slaves).
fn filter_by_zone(route: &mut TopicRouteData, zone: &str) {
    let (keep, removed): (Vec<BrokerData>, Vec<BrokerData>) =
        std::mem::take(&mut route.broker_datas)
            .into_iter()
            .partition(|bd| {
                !bd.broker_addrs.contains_key(&MASTER_ID)
                    || bd
                        .zone_name
                        .as_deref()
                        .is_some_and(|z| z.eq_ignore_ascii_case(zone))
            });
    route.broker_datas = keep;
    route
        .queue_datas
        .retain(|q| !removed.iter().any(|b| b.broker_name == q.broker_name));
    for bd in &removed {
        for addr in bd.broker_addrs.values() {
            route.filter_server_table.remove(addr);
        }
    }
}

impl RequestHandler for NamesrvProcessor {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        if let Some(acl) = &self.acl {
            if let Err(denied) = acl.check(&req, conn.peer_addr().ip()) {
                tracing::debug!(code = req.code, peer = %conn.peer_addr(), remark = %denied, "ACL refused request");
                return Some(denied.to_response(&req));
            }
        }
        Some(self.process(Some(conn.id()), req).await)
    }

    fn on_connected(&self, conn: &Connection) {
        tracing::debug!(peer = %conn.peer_addr(), id = conn.id(), "connection opened");
    }

    fn on_disconnected(&self, conn: &Connection) {
        tracing::debug!(peer = %conn.peer_addr(), id = conn.id(), "connection closed");
        self.connection_closed(conn.id());
    }
}
