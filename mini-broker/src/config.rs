//! Broker configuration ([`BrokerConfig`]), loadable from a JSON file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{BrokerError, Result};
use crate::ha::BrokerRole;
use crate::store::{FlushMode, StoreConfig, DEFAULT_DELAY_LEVELS};

/// How the commit log reaches the disk (Java `flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlushDiskType {
    /// Background fsync every `flush_interval_ms`; sends are answered from the page cache.
    #[default]
    AsyncFlush,
    /// Sends are answered after an fsync covering them (group commit).
    SyncFlush,
}

/// Configuration of a [`Broker`](crate::Broker). JSON field names are camelCase; every field
/// has a default, so a config file only lists what it changes.
///
/// ```
/// let cfg: rocketmq_rs_mini_broker::BrokerConfig =
///     serde_json::from_str(r#"{"brokerName":"broker-b","messageDelayLevel":"100ms 1s"}"#).unwrap();
/// assert_eq!(cfg.broker_name, "broker-b");
/// assert_eq!(cfg.delay_levels().unwrap(), vec![100, 1000]);
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// Cluster name (Java `brokerClusterName`).
    pub broker_cluster_name: String,
    /// Broker name (Java `brokerName`).
    pub broker_name: String,
    /// Broker id: 0 = master.
    pub broker_id: i64,
    /// Address to listen on; port 0 lets the OS choose.
    pub listen_addr: SocketAddr,
    /// Host (IP) clients use to reach this broker (Java `brokerIP1`); the port is the bound one.
    /// `None`: the listen IP, or 127.0.0.1 when listening on an unspecified address.
    pub advertised_host: Option<String>,
    /// NameServer addresses (`host:port`).
    pub namesrv_addrs: Vec<String>,
    /// Store root directory.
    pub store_path: PathBuf,
    /// Flush policy.
    pub flush_disk_type: FlushDiskType,
    /// Background flush period in async mode (ms).
    pub flush_interval_ms: u64,
    /// Longest wait for a sync flush (ms) before answering FLUSH_DISK_TIMEOUT.
    pub sync_flush_timeout_ms: u64,
    /// Period of consume-queue and index flushes and checkpoint writes in ms (Java
    /// `flushIntervalConsumeQueue`, 1000).
    pub flush_interval_consume_queue: u64,
    /// A periodic flush fsyncs a consume queue only once this many 4 KiB pages of it are new
    /// (or its file is full; Java `flushConsumeQueueLeastPages`, 2; 0: every queue with a new
    /// entry, every time). With thousands of queues each written now and then, this is what
    /// keeps the flush from issuing thousands of fsyncs a second. Entries not yet fsynced are
    /// re-dispatched from the commit log after a crash.
    pub flush_consume_queue_least_pages: u32,
    /// Every this many ms a flush makes every consume queue durable whatever the page count
    /// (Java `flushConsumeQueueThoroughInterval`, 60 000): bounds how much commit log a crash
    /// recovery re-reads.
    pub flush_consume_queue_thorough_interval: u64,
    /// Create unknown topics on send from the `TBW102` template (Java `autoCreateTopicEnable`).
    pub auto_create_topic_enable: bool,
    /// Queue count of `TBW102` and of topics created without a count (Java 8).
    pub default_topic_queue_nums: i32,
    /// Delay levels (`1s 5s ... 2h`; units ms, s, m, h, d).
    pub message_delay_level: String,
    /// Largest stored message record in bytes (4 MiB).
    pub max_message_size: usize,
    /// Most client connections open at once (10 000). At the cap the broker accepts the next
    /// connection only when one closes; until then it waits in the listen backlog. Each
    /// connection costs a file descriptor and buffers, so this bounds what a flood of clients
    /// can take.
    pub max_connections: usize,
    /// Address of the Prometheus scrape endpoint (`GET /metrics`, text format 0.0.4, see
    /// [`crate::metrics`]); `None` (the default) serves none. Needs the `metrics-endpoint`
    /// feature (part of `cli`); without it a set address fails the start.
    pub metrics_listen: Option<SocketAddr>,
    /// Long polling on: pulls without data are held up to their `suspendTimeoutMillis`.
    pub long_polling_enable: bool,
    /// Hold time when long polling is off (Java `shortPollingTimeMills`, 1 s).
    pub short_polling_time_ms: u64,
    /// Accept SQL92 subscriptions (`MessageSelector.bySql`) and filter by message properties
    /// (Java `enablePropertyFilter`, off by default as in Apache). Off, such consumers are
    /// refused with SYSTEM_ERROR, as Apache's broker refuses them.
    pub enable_property_filter: bool,
    /// Clients silent for longer than this are dropped (Java `channelExpiredTimeout`, 120 s).
    pub channel_expired_timeout_ms: u64,
    /// How often silent clients are looked for (10 s).
    pub client_scan_interval_ms: u64,
    /// NameServer re-registration period (Java `registerNameServerPeriod`, 30 s).
    pub register_name_server_period_ms: u64,
    /// How often dirty consumer offsets are written (Java `flushConsumerOffsetInterval`, 5 s).
    pub flush_consumer_offset_interval_ms: u64,
    /// Orderly-consumption queue lock lifetime (Java `lockMaxLiveTime`, 60 s).
    pub rebalance_lock_max_live_time_ms: u64,
    /// `retryMaxTimes` given to subscription groups the broker creates by itself (16, as
    /// Apache's default group config): deliveries before a message goes to the dead-letter
    /// queue when the client does not say. A group's own config (`mqadmin updateSubGroup -r`)
    /// wins; see [`crate::subscription_group`]. Changeable while running with
    /// UPDATE_BROKER_CONFIG (`mqadmin updateBrokerConfig -k retryMaxTimes -v N`).
    pub retry_max_times: i32,
    /// Create a consumer group's config (Apache defaults) on its first heartbeat, pull or
    /// send-back (Java `autoCreateSubscriptionGroup`, true). Off: unknown groups are refused
    /// (`SUBSCRIPTION_GROUP_NOT_EXIST`) until created with UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
    /// (`mqadmin updateSubGroup`). See [`crate::subscription_group`]. Changeable while running
    /// with UPDATE_BROKER_CONFIG (`mqadmin updateBrokerConfig -k autoCreateSubscriptionGroup -v
    /// false`); the new value is written into the config file when there is one. No other key
    /// can be changed while running (docs/protocol/admin.md §10).
    pub auto_create_subscription_group: bool,
    /// Region reported in send responses (`MSG_REGION`).
    pub region_id: String,
    /// Create the message-trace topic [`msg_trace_topic_name`](Self::msg_trace_topic_name) at
    /// start (one queue, read-write), as Java's `traceTopicEnable` does (false), so that clients
    /// with message tracing on can route their trace messages to this broker.
    pub trace_topic_enable: bool,
    /// The trace topic created with [`trace_topic_enable`](Self::trace_topic_enable) (Java
    /// `msgTraceTopicName`, `RMQ_SYS_TRACE_TOPIC`).
    pub msg_trace_topic_name: String,
    /// The consume mode QUERY_ASSIGNMENT answers for a group+topic that SET_MESSAGE_REQUEST_MODE
    /// (`mqadmin setConsumeMode`) never set (Java `defaultMessageRequestMode`, `PULL`). `POP`
    /// switches every push consumer that asks the broker (Java `setClientRebalance(false)`,
    /// ours `PopMode::FollowBroker`) to POP. Retry topics are always `PULL`.
    pub default_message_request_mode: rocketmq_rs_remoting::protocol::body::MessageRequestMode,
    /// `popShareQueueNum` of the default POP mode (Java `defaultPopShareQueueNum`, -1: every
    /// consumer pops every queue).
    pub default_pop_share_queue_num: i32,
    /// Whether QUERY_ASSIGNMENT shares the queues out among the group (Java
    /// `serverLoadBalancerEnable`, true); off, every consumer is assigned every queue.
    pub server_load_balancer_enable: bool,
    /// Commit-log segment size in bytes (1 GiB; tests use smaller).
    pub commit_log_segment_size: u64,
    /// Hours (since its last write) after which a commit-log segment may be deleted (Java
    /// `fileReservedTime`, 72; fractions allowed here, e.g. `0.5`). Retention and disk limits:
    /// [`RetentionConfig`](crate::store::RetentionConfig); all of these keys can also be
    /// changed at run time with UPDATE_BROKER_CONFIG.
    pub file_reserved_time: f64,
    /// Hours of the day (UTC, `;`-separated) in which expired segments are deleted (Java
    /// `deleteWhen`, `"04"`).
    pub delete_when: String,
    /// Disk use in percent above which expired segments are deleted at any hour (Java
    /// `diskMaxUsedSpaceRatio`, 75; clamped to 10..=95).
    pub disk_max_used_space_ratio: u32,
    /// Disk use in percent above which segments are deleted even unexpired (Java
    /// `diskSpaceCleanForciblyRatio`, 85; clamped to 30..=85).
    pub disk_space_clean_forcibly_ratio: u32,
    /// Disk use in percent above which sends are refused with SERVICE_NOT_AVAILABLE (Java
    /// `diskSpaceWarningLevelRatio`, 90; clamped to 35..=90).
    pub disk_space_warning_level_ratio: u32,
    /// Whether the forced ratio deletes unexpired segments (Java `cleanFileForciblyEnable`,
    /// true).
    pub clean_file_forcibly_enable: bool,
    /// Milliseconds between retention passes (Java `cleanResourceInterval`, 10 000).
    pub clean_resource_interval: u64,
    /// Milliseconds between two segment deletions (Java `deleteCommitLogFilesInterval`, 100).
    pub delete_commit_log_files_interval: u64,
    /// Milliseconds after deleting a queue's consume-queue files (Java
    /// `deleteConsumeQueueFilesInterval`, 100).
    pub delete_consume_queue_files_interval: u64,
    /// Java `destroyMapedFileIntervalForcibly` (120 000): accepted for config-file
    /// compatibility, no effect (segments are not memory-mapped; a file deleted while a read
    /// holds it stays readable through that read's handle).
    #[serde(rename = "destroyMapedFileIntervalForcibly")]
    pub destroy_maped_file_interval_forcibly: u64,
    /// Most segments deleted per pass (Java `deleteFileBatchMax`, 10).
    pub delete_file_batch_max: usize,
    /// A size cap in bytes for the whole store (ours, unset by default): the disk ratios above
    /// are then the store's files over this cap, and a segment that would pass it is not
    /// created. For tests and development machines.
    pub max_store_bytes: Option<u64>,
    /// A transaction half is first checked once this old (Java `transactionTimeOut`, 6 s).
    pub transaction_timeout_ms: u64,
    /// Pause between transaction check rounds (Java `transactionCheckInterval`, 30 s in 5.x).
    pub transaction_check_interval_ms: u64,
    /// Checks before a half is discarded to `TRANS_CHECK_MAX_TIME_TOPIC` (Java
    /// `transactionCheckMax`, 15).
    pub transaction_check_max: i32,
    /// Also store replies in the reply topic (Java `storeReplyMessageEnable`, true).
    pub store_reply_message_enable: bool,
    /// Replication role (Java `brokerRole`): `ASYNC_MASTER` (default), `SYNC_MASTER` or
    /// `SLAVE`. Masters have broker id 0, slaves >= 1.
    pub broker_role: BrokerRole,
    /// Master: where the replication (HA) service listens. `None`: the listen IP with the
    /// configured listen port + 1 (Java `haListenPort` = 10912 next to 10911); port 0 when the
    /// listen port is 0 (OS-chosen, see `BrokerHandle::ha_addr`).
    pub ha_listen_addr: Option<SocketAddr>,
    /// Slave: the master's replication address (Java `haMasterAddress`). Required for `SLAVE`.
    pub ha_master_address: Option<SocketAddr>,
    /// Slave: the master's remoting address (`host:port`), from which topic configs, consumer
    /// offsets and delay offsets are copied (Java `SlaveSynchronize`). `None`: no copy.
    pub master_addr: Option<String>,
    /// Slave: how often the master's metadata is copied (Java: 10 s).
    pub slave_metadata_sync_interval_ms: u64,
    /// `SYNC_MASTER`: longest wait for a slave's acknowledgement before answering
    /// FLUSH_SLAVE_TIMEOUT (Java `syncFlushTimeout` is reused there; 3 s here).
    pub sync_replica_timeout_ms: u64,
    /// `SYNC_MASTER`: a slave further behind than this many bytes counts as unavailable
    /// (SLAVE_NOT_AVAILABLE at once; Java `haMaxGapNotInSync`/`haSlaveFallbehindMax`, 256 MiB).
    pub ha_max_gap_bytes: i64,
    /// Master: let consumers read from the slave when they fall far behind (Java
    /// `slaveReadEnable`, false). Pull responses then carry `suggestWhichBrokerId` = 1.
    pub slave_read_enable: bool,
    /// With `slave_read_enable`: a consumer whose last pulled record is more than this many
    /// commit-log bytes behind the end is sent to the slave (Java derives it from 40 % of the
    /// memory; 256 MiB here).
    pub slave_suggest_lag_bytes: i64,
    /// ACL 1.0 (Java `aclEnable` + `plain_acl.yml`, here as JSON): when set, every request is
    /// checked by [`rocketmq_rs_remoting::acl::AclValidator`] and refused with `NO_PERMISSION`.
    pub acl: Option<rocketmq_rs_remoting::acl::AclConfig>,
    /// ACL 1.0 access key the broker signs its NameServer requests with (REGISTER_BROKER,
    /// UNREGISTER_BROKER): needed when the NameServers enforce an ACL (mini-namesrv's
    /// `NamesrvConfig::acl`) and the broker's IP is not white-listed there. Set it together
    /// with [`secret_key`](Self::secret_key); see [`namesrv_credentials`](Self::namesrv_credentials).
    /// Same names as Java's `SessionCredentials` (`accessKey` / `secretKey` / `securityToken`).
    pub access_key: Option<String>,
    /// ACL 1.0 secret key of [`access_key`](Self::access_key) (never sent, never printed).
    pub secret_key: Option<Secret>,
    /// Optional ACL 1.0 security (STS) token sent with [`access_key`](Self::access_key).
    pub security_token: Option<Secret>,
    /// The same credentials in Apache 5.x's spelling (`AuthConfig.innerClientAuthenticationCredentials`,
    /// the identity a 5.x broker uses for its own outgoing requests): a JSON string
    /// `{"accessKey":"…","secretKey":"…"}`. Use it or `accessKey`/`secretKey`, not both
    /// with different values.
    pub inner_client_authentication_credentials: Option<Secret>,
    /// The JSON file this config was read from ([`from_file`](Self::from_file)); live changes
    /// made with UPDATE_BROKER_CONFIG are written back into it. Not part of the file.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    /// TLS on the listening port (feature `tls`; see [`rocketmq_rs_remoting::tls`]). Not read
    /// from the JSON config: build it from PEM files in code.
    #[cfg(feature = "tls")]
    #[serde(skip)]
    pub tls: Option<rocketmq_rs_remoting::tls::TlsServerConfig>,
}

/// A configuration string that must not be printed (a secret key, a credential document):
/// its `Debug` output is `"<redacted>"`.
///
/// ```
/// let s = rocketmq_rs_mini_broker::config::Secret::from("12345678");
/// assert_eq!(s.expose(), "12345678");
/// assert_eq!(format!("{s:?}"), "\"<redacted>\"");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

/// Apache 5.x `innerClientAuthenticationCredentials` document (Java `SessionCredentials`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InnerCredentials {
    access_key: String,
    secret_key: String,
    #[serde(default)]
    security_token: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 10911)),
            advertised_host: None,
            namesrv_addrs: Vec::new(),
            store_path: PathBuf::from("store"),
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval_ms: 500,
            sync_flush_timeout_ms: 5000,
            flush_interval_consume_queue: 1000,
            flush_consume_queue_least_pages: 2,
            flush_consume_queue_thorough_interval: 60_000,
            auto_create_topic_enable: true,
            default_topic_queue_nums: 8,
            message_delay_level: DEFAULT_DELAY_LEVELS.into(),
            max_message_size: 4 * 1024 * 1024,
            max_connections: 10_000,
            metrics_listen: None,
            long_polling_enable: true,
            short_polling_time_ms: 1000,
            enable_property_filter: false,
            channel_expired_timeout_ms: 120_000,
            client_scan_interval_ms: 10_000,
            register_name_server_period_ms: 30_000,
            flush_consumer_offset_interval_ms: 5000,
            rebalance_lock_max_live_time_ms: 60_000,
            retry_max_times: 16,
            auto_create_subscription_group: true,
            region_id: "DefaultRegion".into(),
            trace_topic_enable: false,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".into(),
            default_message_request_mode:
                rocketmq_rs_remoting::protocol::body::MessageRequestMode::Pull,
            default_pop_share_queue_num: -1,
            server_load_balancer_enable: true,
            commit_log_segment_size: 1 << 30,
            file_reserved_time: 72.0,
            delete_when: "04".into(),
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_file_forcibly_enable: true,
            clean_resource_interval: 10_000,
            delete_commit_log_files_interval: 100,
            delete_consume_queue_files_interval: 100,
            destroy_maped_file_interval_forcibly: 120_000,
            delete_file_batch_max: 10,
            max_store_bytes: None,
            transaction_timeout_ms: 6000,
            transaction_check_interval_ms: 30_000,
            transaction_check_max: 15,
            store_reply_message_enable: true,
            broker_role: BrokerRole::AsyncMaster,
            ha_listen_addr: None,
            ha_master_address: None,
            master_addr: None,
            slave_metadata_sync_interval_ms: 10_000,
            sync_replica_timeout_ms: 3000,
            ha_max_gap_bytes: 256 << 20,
            slave_read_enable: false,
            slave_suggest_lag_bytes: 256 << 20,
            acl: None,
            access_key: None,
            secret_key: None,
            security_token: None,
            inner_client_authentication_credentials: None,
            config_file: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl BrokerConfig {
    /// A configuration for tests and embedding: listens on `127.0.0.1:0`, advertises
    /// 127.0.0.1, stores under `store_path`, and caps the store at 1 TiB
    /// ([`max_store_bytes`](Self::max_store_bytes)) so that retention's disk ratios, and with
    /// them forced deletions and disk-full refusals, do not depend on how full the host's disk
    /// happens to be.
    pub fn for_test(store_path: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: Some("127.0.0.1".into()),
            store_path: store_path.into(),
            commit_log_segment_size: 64 * 1024 * 1024,
            max_store_bytes: Some(1 << 40),
            ..Default::default()
        }
    }

    /// Reads a JSON config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| {
            BrokerError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let mut cfg: BrokerConfig = serde_json::from_slice(&text)
            .map_err(|e| BrokerError::Config(format!("bad config file {}: {e}", path.display())))?;
        cfg.validate()?;
        cfg.config_file = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// The settings as GET_BROKER_CONFIG answers them: Apache's key names where Apache has the
    /// setting (`brokerClusterName`, `listenPort`, `brokerIP1`, `namesrvAddr`, `flushDiskType`,
    /// `storePathRootDir`, ...), the config-file names otherwise. Secrets, ACL and TLS settings
    /// are left out.
    ///
    /// ```
    /// let p = rocketmq_rs_mini_broker::BrokerConfig::default().to_properties();
    /// assert_eq!(p["brokerName"], "broker-a");
    /// assert_eq!(p["listenPort"], "10911");
    /// assert_eq!(p["flushDiskType"], "ASYNC_FLUSH");
    /// assert!(!p.contains_key("secretKey"));
    /// ```
    pub fn to_properties(&self) -> std::collections::BTreeMap<String, String> {
        let store = |sub: &str| self.store_path.join(sub).display().to_string();
        let flush = match self.flush_disk_type {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        };
        let ip = self
            .advertised_host
            .clone()
            .unwrap_or_else(|| self.listen_addr.ip().to_string());
        let ha_port = self
            .ha_listen_addr
            .map_or(self.listen_addr.port().wrapping_add(1), |a| a.port());
        let role = self.broker_role.as_str().to_string();
        let entries: Vec<(&str, String)> = vec![
            ("brokerClusterName", self.broker_cluster_name.clone()),
            ("brokerName", self.broker_name.clone()),
            ("brokerId", self.broker_id.to_string()),
            ("brokerIP1", ip),
            ("listenPort", self.listen_addr.port().to_string()),
            ("namesrvAddr", self.namesrv_addrs.join(";")),
            ("storePathRootDir", self.store_path.display().to_string()),
            ("storePathCommitLog", store("commitlog")),
            ("storePathConsumeQueue", store("consumequeue")),
            ("storePathIndex", store("index")),
            ("flushDiskType", flush.to_string()),
            ("flushIntervalCommitLog", self.flush_interval_ms.to_string()),
            ("syncFlushTimeout", self.sync_flush_timeout_ms.to_string()),
            (
                "flushIntervalConsumeQueue",
                self.flush_interval_consume_queue.to_string(),
            ),
            (
                "flushConsumeQueueLeastPages",
                self.flush_consume_queue_least_pages.to_string(),
            ),
            (
                "flushConsumeQueueThoroughInterval",
                self.flush_consume_queue_thorough_interval.to_string(),
            ),
            (
                "autoCreateTopicEnable",
                self.auto_create_topic_enable.to_string(),
            ),
            (
                "defaultTopicQueueNums",
                self.default_topic_queue_nums.to_string(),
            ),
            (
                "autoCreateSubscriptionGroup",
                self.auto_create_subscription_group.to_string(),
            ),
            ("messageDelayLevel", self.message_delay_level.clone()),
            ("maxMessageSize", self.max_message_size.to_string()),
            (
                "mappedFileSizeCommitLog",
                self.commit_log_segment_size.to_string(),
            ),
            ("longPollingEnable", self.long_polling_enable.to_string()),
            (
                "shortPollingTimeMills",
                self.short_polling_time_ms.to_string(),
            ),
            (
                "channelExpiredTimeoutMs",
                self.channel_expired_timeout_ms.to_string(),
            ),
            (
                "clientScanIntervalMs",
                self.client_scan_interval_ms.to_string(),
            ),
            (
                "registerNameServerPeriod",
                self.register_name_server_period_ms.to_string(),
            ),
            (
                "flushConsumerOffsetInterval",
                self.flush_consumer_offset_interval_ms.to_string(),
            ),
            (
                "rebalanceLockMaxLiveTime",
                self.rebalance_lock_max_live_time_ms.to_string(),
            ),
            ("retryMaxTimes", self.retry_max_times.to_string()),
            ("regionId", self.region_id.clone()),
            ("traceTopicEnable", self.trace_topic_enable.to_string()),
            ("msgTraceTopicName", self.msg_trace_topic_name.clone()),
            (
                "defaultMessageRequestMode",
                self.default_message_request_mode.java_name().to_owned(),
            ),
            (
                "defaultPopShareQueueNum",
                self.default_pop_share_queue_num.to_string(),
            ),
            (
                "serverLoadBalancerEnable",
                self.server_load_balancer_enable.to_string(),
            ),
            (
                "transactionTimeOut",
                self.transaction_timeout_ms.to_string(),
            ),
            (
                "transactionCheckInterval",
                self.transaction_check_interval_ms.to_string(),
            ),
            (
                "transactionCheckMax",
                self.transaction_check_max.to_string(),
            ),
            (
                "storeReplyMessageEnable",
                self.store_reply_message_enable.to_string(),
            ),
            ("brokerRole", role),
            ("haListenPort", ha_port.to_string()),
            (
                "haMasterAddress",
                self.ha_master_address
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
            ("masterAddr", self.master_addr.clone().unwrap_or_default()),
            (
                "slaveMetadataSyncIntervalMs",
                self.slave_metadata_sync_interval_ms.to_string(),
            ),
            (
                "syncReplicaTimeoutMs",
                self.sync_replica_timeout_ms.to_string(),
            ),
            ("haMaxGapNotInSync", self.ha_max_gap_bytes.to_string()),
            ("slaveReadEnable", self.slave_read_enable.to_string()),
            (
                "slaveSuggestLagBytes",
                self.slave_suggest_lag_bytes.to_string(),
            ),
            ("maxConnections", self.max_connections.to_string()),
            ("fileReservedTime", self.file_reserved_time.to_string()),
            ("deleteWhen", self.delete_when.clone()),
            (
                "diskMaxUsedSpaceRatio",
                self.disk_max_used_space_ratio.to_string(),
            ),
            (
                "diskSpaceCleanForciblyRatio",
                self.disk_space_clean_forcibly_ratio.to_string(),
            ),
            (
                "diskSpaceWarningLevelRatio",
                self.disk_space_warning_level_ratio.to_string(),
            ),
            (
                "cleanFileForciblyEnable",
                self.clean_file_forcibly_enable.to_string(),
            ),
            (
                "cleanResourceInterval",
                self.clean_resource_interval.to_string(),
            ),
            (
                "deleteCommitLogFilesInterval",
                self.delete_commit_log_files_interval.to_string(),
            ),
            (
                "deleteConsumeQueueFilesInterval",
                self.delete_consume_queue_files_interval.to_string(),
            ),
            (
                "destroyMapedFileIntervalForcibly",
                self.destroy_maped_file_interval_forcibly.to_string(),
            ),
            ("deleteFileBatchMax", self.delete_file_batch_max.to_string()),
            (
                "maxStoreBytes",
                self.max_store_bytes
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
            ),
            ("aclEnable", self.acl.is_some().to_string()),
            ("brokerPermission", "6".to_string()),
        ];
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// Delay levels in milliseconds, level 1 first.
    pub fn delay_levels(&self) -> Result<Vec<i64>> {
        parse_delay_levels(&self.message_delay_level)
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(BrokerError::Config(m.to_string()));
        if let Some(acl) = &self.acl {
            if let Err(e) = rocketmq_rs_remoting::acl::AclValidator::new(acl) {
                return Err(BrokerError::Config(e.to_string()));
            }
        }
        self.namesrv_credentials()?;
        if self.broker_name.is_empty() || self.broker_cluster_name.is_empty() {
            return bad("brokerName and brokerClusterName must not be empty");
        }
        if self.trace_topic_enable
            && !crate::topic_config::valid_topic_name(&self.msg_trace_topic_name)
        {
            return bad("msgTraceTopicName must be a legal topic name ([%|a-zA-Z0-9_-], at most 127 characters)");
        }
        if self.broker_id < 0 {
            return bad("brokerId must be >= 0");
        }
        match self.broker_role {
            BrokerRole::Slave => {
                if self.broker_id < 1 {
                    return bad("a SLAVE needs brokerId >= 1");
                }
                if self.ha_master_address.is_none() {
                    return bad("a SLAVE needs haMasterAddress (the master's HA address)");
                }
            }
            _ if self.broker_id != 0 => {
                return bad("a master (ASYNC_MASTER / SYNC_MASTER) needs brokerId 0");
            }
            _ => {}
        }
        if self.ha_listen_addr.is_none() && self.listen_addr.port() == u16::MAX {
            return bad("listen port 65535 leaves no room for the default HA port (+1)");
        }
        if self.ha_max_gap_bytes <= 0 || self.slave_suggest_lag_bytes <= 0 {
            return bad("haMaxGapBytes and slaveSuggestLagBytes must be > 0");
        }
        if let Some(m) = &self.master_addr {
            if m.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(BrokerError::Config(format!("bad masterAddr {m:?}")));
            }
        }
        if self.max_connections == 0 {
            return bad("maxConnections must be > 0");
        }
        if !(1..=1024).contains(&self.default_topic_queue_nums) {
            return bad("defaultTopicQueueNums must be in 1..=1024");
        }
        if self.delay_levels()?.is_empty() {
            return bad("messageDelayLevel must list at least one level");
        }
        for (name, v) in [
            ("flushIntervalMs", self.flush_interval_ms),
            ("syncFlushTimeoutMs", self.sync_flush_timeout_ms),
            (
                "flushIntervalConsumeQueue",
                self.flush_interval_consume_queue,
            ),
            ("shortPollingTimeMs", self.short_polling_time_ms),
            ("channelExpiredTimeoutMs", self.channel_expired_timeout_ms),
            ("clientScanIntervalMs", self.client_scan_interval_ms),
            (
                "registerNameServerPeriodMs",
                self.register_name_server_period_ms,
            ),
            (
                "flushConsumerOffsetIntervalMs",
                self.flush_consumer_offset_interval_ms,
            ),
            (
                "rebalanceLockMaxLiveTimeMs",
                self.rebalance_lock_max_live_time_ms,
            ),
            (
                "transactionCheckIntervalMs",
                self.transaction_check_interval_ms,
            ),
            ("syncReplicaTimeoutMs", self.sync_replica_timeout_ms),
            (
                "slaveMetadataSyncIntervalMs",
                self.slave_metadata_sync_interval_ms,
            ),
        ] {
            if v == 0 {
                return Err(BrokerError::Config(format!("{name} must be > 0")));
            }
        }
        for a in &self.namesrv_addrs {
            if a.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(BrokerError::Config(format!("bad NameServer address {a:?}")));
            }
        }
        if !(self.file_reserved_time.is_finite() && self.file_reserved_time >= 0.0) {
            return bad("fileReservedTime must be a number of hours >= 0");
        }
        self.store_config().validate().map_err(BrokerError::Store)?;
        Ok(())
    }

    /// The ACL 1.0 credentials the broker signs every NameServer request with: from
    /// `accessKey` + `secretKey` (+ `securityToken`), or from
    /// `innerClientAuthenticationCredentials`. `None`: requests go unsigned.
    ///
    /// ```
    /// let cfg: rocketmq_rs_mini_broker::BrokerConfig =
    ///     serde_json::from_str(r#"{"accessKey":"broker","secretKey":"12345678"}"#).unwrap();
    /// assert_eq!(cfg.namesrv_credentials().unwrap().unwrap().access_key, "broker");
    /// let apache5: rocketmq_rs_mini_broker::BrokerConfig = serde_json::from_str(
    ///     r#"{"innerClientAuthenticationCredentials":"{\"accessKey\":\"broker\",\"secretKey\":\"12345678\"}"}"#,
    /// ).unwrap();
    /// assert_eq!(apache5.namesrv_credentials().unwrap(), cfg.namesrv_credentials().unwrap());
    /// let half: rocketmq_rs_mini_broker::BrokerConfig = serde_json::from_str(r#"{"accessKey":"broker"}"#).unwrap();
    /// assert!(half.validate().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// Only one of the keys given, an empty key, an unreadable
    /// `innerClientAuthenticationCredentials`, or both forms given with different values.
    pub fn namesrv_credentials(&self) -> Result<Option<rocketmq_rs_remoting::acl::AclCredentials>> {
        use rocketmq_rs_remoting::acl::AclCredentials;
        let bad = |m: &str| BrokerError::Config(m.to_string());
        let plain = match (&self.access_key, &self.secret_key) {
            (None, None) => {
                if self.security_token.is_some() {
                    return Err(bad("securityToken needs accessKey and secretKey"));
                }
                None
            }
            (Some(ak), Some(sk)) => {
                if ak.is_empty() || sk.expose().is_empty() {
                    return Err(bad("accessKey and secretKey must not be empty"));
                }
                let mut c = AclCredentials::new(ak.as_str(), sk.expose());
                if let Some(t) = &self.security_token {
                    c = c.with_security_token(t.expose());
                }
                Some(c)
            }
            _ => return Err(bad("accessKey and secretKey must be set together")),
        };
        let inner = match &self.inner_client_authentication_credentials {
            Some(doc) if !doc.expose().trim().is_empty() => {
                // The parse error is not shown: it could quote the secret.
                let c: InnerCredentials = serde_json::from_str(doc.expose()).map_err(|_| {
                    bad(
                        "innerClientAuthenticationCredentials must be a JSON string like \
                         {\"accessKey\":\"ak\",\"secretKey\":\"sk\"}",
                    )
                })?;
                if c.access_key.is_empty() || c.secret_key.is_empty() {
                    return Err(bad(
                        "innerClientAuthenticationCredentials: accessKey and secretKey must not be empty",
                    ));
                }
                let mut creds = AclCredentials::new(c.access_key, c.secret_key);
                if let Some(t) = c.security_token.filter(|t| !t.is_empty()) {
                    creds = creds.with_security_token(t);
                }
                Some(creds)
            }
            _ => None,
        };
        match (plain, inner) {
            (Some(p), Some(i)) if p != i => Err(bad(
                "accessKey/secretKey and innerClientAuthenticationCredentials disagree",
            )),
            (p, i) => Ok(p.or(i)),
        }
    }

    /// Where the replication service listens (see [`ha_listen_addr`](Self::ha_listen_addr)).
    ///
    /// ```
    /// let cfg = rocketmq_rs_mini_broker::BrokerConfig::default();
    /// assert_eq!(cfg.ha_listen(), "0.0.0.0:10912".parse().unwrap());
    /// ```
    pub fn ha_listen(&self) -> SocketAddr {
        match self.ha_listen_addr {
            Some(a) => a,
            None => {
                let port = match self.listen_addr.port() {
                    0 => 0,
                    p => p.saturating_add(1),
                };
                SocketAddr::new(self.listen_addr.ip(), port)
            }
        }
    }

    /// The replication settings derived from this one.
    pub fn ha_config(&self) -> crate::ha::HaConfig {
        crate::ha::HaConfig {
            broker_name: self.broker_name.clone(),
            max_slave_gap: self.ha_max_gap_bytes,
            max_frame_bytes: (16usize << 20).max(self.max_message_size + 4096),
            ..crate::ha::HaConfig::default()
        }
    }

    /// The transaction check-back settings derived from this one.
    pub fn transaction_config(&self) -> crate::transaction::TransactionConfig {
        crate::transaction::TransactionConfig {
            timeout: Duration::from_millis(self.transaction_timeout_ms),
            check_interval: Duration::from_millis(self.transaction_check_interval_ms.max(1)),
            check_max: self.transaction_check_max.max(0),
        }
    }

    /// The store's retention settings derived from this configuration.
    ///
    /// ```
    /// let mut cfg = rocketmq_rs_mini_broker::BrokerConfig::default();
    /// cfg.file_reserved_time = 0.5;
    /// cfg.max_store_bytes = Some(8 << 30);
    /// let r = cfg.retention_config();
    /// assert_eq!(r.file_reserved_time, std::time::Duration::from_secs(1800));
    /// assert_eq!(r.max_store_bytes, Some(8 << 30));
    /// ```
    pub fn retention_config(&self) -> crate::store::RetentionConfig {
        crate::store::RetentionConfig {
            file_reserved_time: hours(self.file_reserved_time),
            delete_when: self.delete_when.clone(),
            disk_max_used_space_ratio: self.disk_max_used_space_ratio,
            disk_space_clean_forcibly_ratio: self.disk_space_clean_forcibly_ratio,
            disk_space_warning_level_ratio: self.disk_space_warning_level_ratio,
            clean_file_forcibly_enable: self.clean_file_forcibly_enable,
            clean_resource_interval: Duration::from_millis(self.clean_resource_interval.max(1)),
            delete_commit_log_files_interval: Duration::from_millis(
                self.delete_commit_log_files_interval,
            ),
            delete_consume_queue_files_interval: Duration::from_millis(
                self.delete_consume_queue_files_interval,
            ),
            delete_file_batch_max: self.delete_file_batch_max.max(1),
            max_store_bytes: self.max_store_bytes,
        }
    }

    /// The store configuration derived from this one.
    pub fn store_config(&self) -> StoreConfig {
        let mut s = StoreConfig::new(&self.store_path);
        s.flush_mode = match self.flush_disk_type {
            FlushDiskType::AsyncFlush => FlushMode::Async {
                interval: Duration::from_millis(self.flush_interval_ms.max(1)),
            },
            FlushDiskType::SyncFlush => FlushMode::Sync {
                timeout: Duration::from_millis(self.sync_flush_timeout_ms.max(1)),
            },
        };
        s.logic_flush_interval = Duration::from_millis(self.flush_interval_consume_queue.max(1));
        s.consume_queue_flush_least_pages = self.flush_consume_queue_least_pages;
        s.consume_queue_thorough_flush_interval =
            Duration::from_millis(self.flush_consume_queue_thorough_interval);
        s.max_message_size = self.max_message_size;
        s.commit_log_segment_size = self.commit_log_segment_size;
        s.retention = self.retention_config();
        // The store only uses the levels for informational consume-queue tag codes of
        // SCHEDULE_TOPIC_XXXX and understands whole seconds; the schedule service computes due
        // times itself from the exact levels.
        s.delay_levels = match self.delay_levels() {
            Ok(levels) => levels
                .iter()
                .map(|ms| format!("{}s", (ms + 999) / 1000))
                .collect::<Vec<_>>()
                .join(" "),
            Err(_) => DEFAULT_DELAY_LEVELS.into(),
        };
        s
    }
}

/// A non-negative, finite number of hours as a duration (anything else counts as 0).
pub(crate) fn hours(h: f64) -> Duration {
    if h.is_finite() && h > 0.0 {
        Duration::from_secs_f64((h * 3600.0).min(1e12))
    } else {
        Duration::ZERO
    }
}

/// Parses Java `Properties` text (what UPDATE_BROKER_CONFIG carries): `key=value`,
/// `key:value` or `key value` lines, `#`/`!` comments, backslash escapes (`\n`, `\t`,
/// `\uXXXX`, an escaped separator) and lines continued with a trailing backslash. Later
/// duplicates win.
///
/// ```
/// let p = rocketmq_rs_mini_broker::config::parse_properties("# c\nautoCreateSubscriptionGroup=false\na\\:b : x\\\n  y\n");
/// assert_eq!(p["autoCreateSubscriptionGroup"], "false");
/// assert_eq!(p["a:b"], "xy");
/// ```
pub fn parse_properties(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let mut logical = String::new();
        let mut line = first.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        loop {
            let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
            if trailing % 2 == 1 {
                logical.push_str(&line[..line.len() - 1]);
                match lines.next() {
                    Some(next) => line = next.trim_start(),
                    None => break,
                }
            } else {
                logical.push_str(line);
                break;
            }
        }
        let chars: Vec<char> = logical.chars().collect();
        let mut i = 0;
        let mut key = String::new();
        while i < chars.len() {
            match chars[i] {
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    let (c, used) = unescape(&chars[i..]);
                    key.push(c);
                    i += used;
                }
                '=' | ':' | ' ' | '\t' | '\x0c' => break,
                c => {
                    key.push(c);
                    i += 1;
                }
            }
        }
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\x0c') {
            i += 1;
        }
        if i < chars.len() && matches!(chars[i], '=' | ':') {
            i += 1;
        }
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\x0c') {
            i += 1;
        }
        let mut value = String::new();
        while i < chars.len() {
            if chars[i] == '\\' && i + 1 < chars.len() {
                i += 1;
                let (c, used) = unescape(&chars[i..]);
                value.push(c);
                i += used;
            } else {
                value.push(chars[i]);
                i += 1;
            }
        }
        out.insert(key, value);
    }
    out
}

/// The character an escape (the text after a backslash) stands for, and how many characters
/// of `s` it used.
fn unescape(s: &[char]) -> (char, usize) {
    match s[0] {
        'n' => ('\n', 1),
        't' => ('\t', 1),
        'r' => ('\r', 1),
        'f' => ('\x0c', 1),
        'u' if s.len() >= 5 => {
            let hex: String = s[1..5].iter().collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(c) => (c, 5),
                None => ('u', 1),
            }
        }
        c => (c, 1),
    }
}

/// Parses `"100ms 1s 5m 2h 1d"` into milliseconds per level.
///
/// ```
/// assert_eq!(rocketmq_rs_mini_broker::config::parse_delay_levels("250ms 2s 1m").unwrap(), vec![250, 2000, 60000]);
/// assert!(rocketmq_rs_mini_broker::config::parse_delay_levels("5x").is_err());
/// ```
pub fn parse_delay_levels(s: &str) -> Result<Vec<i64>> {
    s.split_whitespace()
        .map(|tok| {
            let digits = tok.bytes().take_while(u8::is_ascii_digit).count();
            let (num, unit) = tok.split_at(digits);
            let mult: i64 = match unit {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return Err(BrokerError::Config(format!("bad delay level {tok:?}"))),
            };
            num.parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(mult))
                .ok_or_else(|| BrokerError::Config(format!("bad delay level {tok:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apaches_consume_queue_flush_keys_load_and_reach_the_store() {
        let d = BrokerConfig::default();
        let s = d.store_config();
        assert_eq!(s.logic_flush_interval, Duration::from_secs(1));
        assert_eq!(s.consume_queue_flush_least_pages, 2);
        assert_eq!(
            s.consume_queue_thorough_flush_interval,
            Duration::from_secs(60)
        );
        let cfg: BrokerConfig = serde_json::from_str(
            r#"{"flushIntervalConsumeQueue":200,"flushConsumeQueueLeastPages":0,
                "flushConsumeQueueThoroughInterval":5000}"#,
        )
        .unwrap();
        cfg.validate().unwrap();
        let s = cfg.store_config();
        assert_eq!(s.logic_flush_interval, Duration::from_millis(200));
        assert_eq!(s.consume_queue_flush_least_pages, 0);
        assert_eq!(
            s.consume_queue_thorough_flush_interval,
            Duration::from_secs(5)
        );
        let p = cfg.to_properties();
        assert_eq!(p["flushIntervalConsumeQueue"], "200");
        assert_eq!(p["flushConsumeQueueLeastPages"], "0");
        assert_eq!(p["flushConsumeQueueThoroughInterval"], "5000");
        let bad: BrokerConfig = serde_json::from_str(r#"{"flushIntervalConsumeQueue":0}"#).unwrap();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn apaches_retention_keys_load_from_a_config_file_and_reach_the_store() {
        let cfg: BrokerConfig = serde_json::from_str(
            r#"{"fileReservedTime":48,"deleteWhen":"03;15","diskMaxUsedSpaceRatio":80,
                "diskSpaceCleanForciblyRatio":82,"diskSpaceWarningLevelRatio":88,
                "cleanFileForciblyEnable":false,"cleanResourceInterval":5000,
                "deleteCommitLogFilesInterval":50,"deleteConsumeQueueFilesInterval":60,
                "destroyMapedFileIntervalForcibly":1000,"deleteFileBatchMax":3,
                "maxStoreBytes":10737418240}"#,
        )
        .unwrap();
        cfg.validate().unwrap();
        let r = cfg.store_config().retention;
        assert_eq!(r.file_reserved_time, Duration::from_secs(48 * 3600));
        assert_eq!(r.delete_when, "03;15");
        assert_eq!(
            (
                r.disk_max_used_space_ratio,
                r.disk_space_clean_forcibly_ratio,
                r.disk_space_warning_level_ratio
            ),
            (80, 82, 88)
        );
        assert!(!r.clean_file_forcibly_enable);
        assert_eq!(r.clean_resource_interval, Duration::from_secs(5));
        assert_eq!(
            r.delete_commit_log_files_interval,
            Duration::from_millis(50)
        );
        assert_eq!(
            r.delete_consume_queue_files_interval,
            Duration::from_millis(60)
        );
        assert_eq!(r.delete_file_batch_max, 3);
        assert_eq!(r.max_store_bytes, Some(10 << 30));
        let p = cfg.to_properties();
        assert_eq!(p["fileReservedTime"], "48");
        assert_eq!(p["destroyMapedFileIntervalForcibly"], "1000");
        let bad: BrokerConfig = serde_json::from_str(r#"{"deleteWhen":"4am"}"#).unwrap();
        assert!(bad.validate().is_err());
        let bad: BrokerConfig = serde_json::from_str(r#"{"fileReservedTime":-1}"#).unwrap();
        assert!(bad.validate().is_err());
    }
}
