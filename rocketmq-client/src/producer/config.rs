//! [`ProducerConfig`] and [`ProducerBuilder`].

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use rocketmq_rs_remoting::protocol::message::{
    CompressionError, CompressionType, DEFAULT_COMPRESS_LEVEL,
};
use rocketmq_rs_remoting::rt::Runtime;

use super::fault::FaultConfig;
use super::Producer;
use crate::client::{ClientInstance, TransactionCheck};
use crate::config::{split_addrs, ClientConfig};
use crate::error::{Error, Result};
use crate::hook::{SendHook, SendHooks};
use crate::message::DEFAULT_MAX_MESSAGE_SIZE;

/// The Java default producer group, which Java refuses for real producers.
pub const DEFAULT_PRODUCER_GROUP: &str = "DEFAULT_PRODUCER";

/// A handler for broker transaction checks (see [`crate::client::ProducerHandle`]).
pub type TransactionCheckHandler = Arc<dyn Fn(TransactionCheck) + Send + Sync>;

/// Producer settings (Java `DefaultMQProducer` fields). Plain struct with Java's defaults;
/// [`ProducerBuilder`] is sugar over it.
///
/// Loadable from a file with serde: every field optional, durations in `_ms` integer fields,
/// the client settings nested under `client` (see [`crate::config`] for the format).
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_client::producer::ProducerConfig;
///
/// let cfg: ProducerConfig = serde_json::from_str(r#"{
///     "group": "order_service",
///     "client": { "namesrv_addrs": "127.0.0.1:9876" },
///     "send_timeout_ms": 5000,
///     "retry_times": 4,
///     "fault": { "enabled": true }
/// }"#).unwrap();
/// assert_eq!(cfg.send_timeout, Duration::from_secs(5));
/// assert_eq!(cfg.compress_over, 4096); // default
/// assert!(cfg.fault.enabled);
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Producer group (required; the namespace, if any, is added).
    pub group: String,
    /// Client instance settings (NameServers, namespace, intervals, runtime...).
    pub client: ClientConfig,
    /// Overall budget of one send, route lookup and retries included (3 s).
    #[serde(rename = "send_timeout_ms", with = "crate::config::serde_impl::millis")]
    pub send_timeout: Duration,
    /// Extra attempts of a sync send on retriable errors, each on another broker when there is
    /// one (2).
    pub retry_times: u32,
    /// Extra attempts of an async send (2).
    pub retry_times_async: u32,
    /// Pause before a retry, doubled per attempt and capped at 1 s, never beyond the deadline
    /// (10 ms).
    #[serde(
        rename = "retry_backoff_ms",
        with = "crate::config::serde_impl::millis"
    )]
    pub retry_backoff: Duration,
    /// Retry on another broker when the broker stored the message but answered a non-OK
    /// status (flush/slave timeout); may duplicate the message (false, as Java).
    pub retry_another_broker_when_not_store_ok: bool,
    /// Bodies of at least this many bytes are compressed with [`ProducerConfig::compress_type`]
    /// (4096, Java's `compressMsgBodyOverHowmuch`). `usize::MAX` disables. Batches are never
    /// compressed, as in Java.
    pub compress_over: usize,
    /// Level for [`ProducerConfig::compress_type`] (5, Java's `compressLevel`): zlib 0–9,
    /// zstd 0–22, ignored by LZ4 (as in Java).
    pub compress_level: u32,
    /// Algorithm for bodies over [`ProducerConfig::compress_over`]: `zlib` (the default, as
    /// Java's `compressType`), `zstd` or `lz4`. The producer sets the COMPRESSED bit and the
    /// type in `sysFlag` bits 8–10 as Java 4.9.8+ / 5.x producers do.
    ///
    /// Consumers must know the type: Java clients since 4.9.4 and this crate read all three;
    /// older Java clients and some other-language clients read only zlib, so keep the default
    /// when they consume the topic.
    ///
    /// ```
    /// use rocketmq_rs_client::producer::ProducerConfig;
    /// use rocketmq_rs_remoting::protocol::message::CompressionType;
    ///
    /// let cfg: ProducerConfig = serde_json::from_str(
    ///     r#"{"group": "g", "compress_type": "zstd", "compress_level": 3}"#,
    /// ).unwrap();
    /// assert_eq!(cfg.compress_type, CompressionType::Zstd);
    /// assert!(cfg.validate().is_ok());
    /// ```
    pub compress_type: CompressionType,
    /// Largest body (and batch) accepted (4 MiB).
    pub max_message_size: usize,
    /// Queues per broker a new topic gets when auto-created from `TBW102` (4).
    pub default_topic_queue_nums: i32,
    /// Latency fault tolerance (off by default, as Java). In a file:
    /// `{"enabled": true, "penalties_ms": [[latency_ms, unavailable_ms], ...],
    /// "isolation_latency_ms": 30000}` (missing parts keep the defaults).
    #[serde(with = "fault_serde")]
    pub fault: FaultConfig,
    /// Bound the async sends in flight (Java `enableBackpressureForAsyncMode`; off by default,
    /// as in Java). When on, every async send ([`Producer::send_async`],
    /// [`Producer::send_with_callback`], [`Producer::submit_async`],
    /// [`Producer::submit_with_callback`]) holds one of [`async_max_in_flight`] permits and
    /// as many of [`async_max_in_flight_bytes`] as its body has bytes, from admission until
    /// its completion has run, so the memory held by pending sends stays bounded whatever the
    /// caller's pace.
    ///
    /// Past the bound, `submit_async` / `submit_with_callback` wait for room up to
    /// `send_timeout` (Java's behaviour), or fail at once with [`Error::AsyncBackPressure`]
    /// when [`async_back_pressure_fail_fast`] is set; the non-async `send_async` /
    /// `send_with_callback` cannot wait and always fail at once. Off, async sends are not
    /// bounded: await their futures to pace yourself.
    ///
    /// ```
    /// use rocketmq_rs_client::producer::ProducerConfig;
    ///
    /// let cfg: ProducerConfig = serde_json::from_str(r#"{
    ///     "group": "g",
    ///     "async_back_pressure": true,
    ///     "async_max_in_flight": 512,
    ///     "async_max_in_flight_bytes": 16777216
    /// }"#).unwrap();
    /// assert!(cfg.async_back_pressure);
    /// assert!(!cfg.async_back_pressure_fail_fast); // default: wait
    /// assert!(cfg.validate().is_ok());
    /// ```
    ///
    /// [`Producer::send_async`]: super::Producer::send_async
    /// [`Producer::send_with_callback`]: super::Producer::send_with_callback
    /// [`Producer::submit_async`]: super::Producer::submit_async
    /// [`Producer::submit_with_callback`]: super::Producer::submit_with_callback
    /// [`async_max_in_flight`]: Self::async_max_in_flight
    /// [`async_max_in_flight_bytes`]: Self::async_max_in_flight_bytes
    /// [`async_back_pressure_fail_fast`]: Self::async_back_pressure_fail_fast
    pub async_back_pressure: bool,
    /// Most async sends in flight under [`async_back_pressure`](Self::async_back_pressure)
    /// (Java `backPressureForAsyncSendNum`, 10000).
    pub async_max_in_flight: usize,
    /// Most body bytes of the async sends in flight under
    /// [`async_back_pressure`](Self::async_back_pressure) (Java `backPressureForAsyncSendSize`,
    /// 100 MiB). Bodies count as sent (after compression); a body larger than the bound is
    /// admitted alone.
    pub async_max_in_flight_bytes: usize,
    /// Under [`async_back_pressure`](Self::async_back_pressure): fail at once with
    /// [`Error::AsyncBackPressure`] instead of waiting up to `send_timeout` for room (false;
    /// Java always waits).
    pub async_back_pressure_fail_fast: bool,
}

/// [`FaultConfig`] in the file format (durations in milliseconds).
mod fault_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::FaultConfig;

    #[derive(Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct FaultFile {
        enabled: bool,
        penalties_ms: Vec<(u64, u64)>,
        isolation_latency_ms: u64,
    }

    fn ms(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    impl From<&FaultConfig> for FaultFile {
        fn from(f: &FaultConfig) -> Self {
            FaultFile {
                enabled: f.enabled,
                penalties_ms: f.penalties.iter().map(|(l, p)| (ms(*l), ms(*p))).collect(),
                isolation_latency_ms: ms(f.isolation_latency),
            }
        }
    }

    impl Default for FaultFile {
        fn default() -> Self {
            FaultFile::from(&FaultConfig::default())
        }
    }

    pub(super) fn serialize<S: Serializer>(f: &FaultConfig, s: S) -> Result<S::Ok, S::Error> {
        FaultFile::from(f).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FaultConfig, D::Error> {
        let f = FaultFile::deserialize(d)?;
        Ok(FaultConfig {
            enabled: f.enabled,
            penalties: f
                .penalties_ms
                .into_iter()
                .map(|(l, p)| (Duration::from_millis(l), Duration::from_millis(p)))
                .collect(),
            isolation_latency: Duration::from_millis(f.isolation_latency_ms),
        })
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            group: String::new(),
            client: ClientConfig::default(),
            send_timeout: Duration::from_secs(3),
            retry_times: 2,
            retry_times_async: 2,
            retry_backoff: Duration::from_millis(10),
            retry_another_broker_when_not_store_ok: false,
            compress_over: 4096,
            compress_level: DEFAULT_COMPRESS_LEVEL,
            compress_type: CompressionType::Zlib,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            default_topic_queue_nums: 4,
            fault: FaultConfig::default(),
            async_back_pressure: false,
            async_max_in_flight: 10_000,
            async_max_in_flight_bytes: 100 * 1024 * 1024,
            async_back_pressure_fail_fast: false,
        }
    }
}

impl ProducerConfig {
    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        validate_group(&self.group)?;
        if self.group == DEFAULT_PRODUCER_GROUP {
            return Err(Error::Config(format!(
                "producer group must not be {DEFAULT_PRODUCER_GROUP}; pick your own group name"
            )));
        }
        if self.send_timeout.is_zero() {
            return Err(Error::Config(
                "send_timeout must be greater than zero".into(),
            ));
        }
        if self.max_message_size == 0 {
            return Err(Error::Config(
                "max_message_size must be greater than zero".into(),
            ));
        }
        if self.default_topic_queue_nums <= 0 {
            return Err(Error::Config(
                "default_topic_queue_nums must be positive".into(),
            ));
        }
        if self.async_back_pressure
            && (self.async_max_in_flight == 0 || self.async_max_in_flight_bytes == 0)
        {
            return Err(Error::Config(
                "async_max_in_flight and async_max_in_flight_bytes must be greater than zero \
                 when async_back_pressure is on"
                    .into(),
            ));
        }
        self.compress_type
            .check_level(self.compress_level)
            .map_err(|e| Error::Config(format!("compress_level: {e}")))?;
        if !self.compress_type.is_available() {
            return Err(Error::Config(format!(
                "compress_type {}: {}",
                self.compress_type,
                CompressionError::Disabled(self.compress_type)
            )));
        }
        Ok(())
    }
}

/// Checks a group name the way Java's `Validators.checkGroup` does: non-blank, at most 255
/// characters of `[%|a-zA-Z0-9_-]`.
///
/// # Errors
///
/// [`Error::Config`] saying what is wrong.
pub fn validate_group(group: &str) -> Result<()> {
    rocketmq_rs_remoting::protocol::topic::validate_group(group)
        .map_err(|e| Error::Config(e.to_string()))
}

/// Builds a [`Producer`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use rocketmq_rs_client::Producer;
///
/// let producer = Producer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("example_pg")
///     .send_timeout(Duration::from_secs(3))
///     .retry_times(2)
///     .build()
///     .unwrap();
/// assert_eq!(producer.group(), "example_pg");
/// # });
/// ```
#[derive(Default)]
#[must_use]
pub struct ProducerBuilder {
    config: ProducerConfig,
    instance: Option<ClientInstance>,
    check: Option<TransactionCheckHandler>,
    hooks: SendHooks,
    trace: Option<crate::trace::TraceConfig>,
}

impl ProducerBuilder {
    /// Starts from a full configuration.
    pub fn config(mut self, config: ProducerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the NameServer list (`;`-separated, as Java).
    pub fn name_server(mut self, addrs: &str) -> Self {
        self.config.client.namesrv_addrs = split_addrs(addrs);
        self
    }

    /// Sets the NameServer list.
    pub fn name_servers<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.client.namesrv_addrs = addrs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the producer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.config.group = group.into();
        self
    }

    /// Sets the overall send budget.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.config.send_timeout = timeout;
        self
    }

    /// Sets the extra attempts of sync sends.
    pub fn retry_times(mut self, n: u32) -> Self {
        self.config.retry_times = n;
        self
    }

    /// Sets the extra attempts of async sends.
    pub fn retry_times_async(mut self, n: u32) -> Self {
        self.config.retry_times_async = n;
        self
    }

    /// Sets the first retry pause.
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.config.retry_backoff = d;
        self
    }

    /// Retries on another broker after a stored-but-not-OK status.
    pub fn retry_another_broker_when_not_store_ok(mut self, on: bool) -> Self {
        self.config.retry_another_broker_when_not_store_ok = on;
        self
    }

    /// Sets the compression threshold in bytes.
    pub fn compress_over(mut self, bytes: usize) -> Self {
        self.config.compress_over = bytes;
        self
    }

    /// Sets the compression level (zlib 0–9, zstd 0–22, ignored by LZ4; default 5).
    pub fn compress_level(mut self, level: u32) -> Self {
        self.config.compress_level = level;
        self
    }

    /// Sets the compression algorithm for bodies over the threshold (zlib by default, as Java).
    ///
    /// ```
    /// use rocketmq_rs_client::Producer;
    /// use rocketmq_rs_remoting::protocol::message::CompressionType;
    ///
    /// let producer = Producer::builder()
    ///     .group("order_service")
    ///     .name_server("127.0.0.1:9876")
    ///     .compress_type(CompressionType::Zstd)
    ///     .compress_level(3)
    ///     .compress_over(8 * 1024)
    ///     .build();
    /// assert!(producer.is_ok());
    /// ```
    pub fn compress_type(mut self, kind: CompressionType) -> Self {
        self.config.compress_type = kind;
        self
    }

    /// Sets the maximum body / batch size.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// Sets the queue count of auto-created topics.
    pub fn default_topic_queue_nums(mut self, n: i32) -> Self {
        self.config.default_topic_queue_nums = n;
        self
    }

    /// Bounds the async sends in flight (see [`ProducerConfig::async_back_pressure`]): at most
    /// `max_in_flight` sends and `max_bytes` body bytes.
    ///
    /// ```
    /// use rocketmq_rs_client::Producer;
    ///
    /// let producer = Producer::builder()
    ///     .group("metrics_pg")
    ///     .name_server("127.0.0.1:9876")
    ///     .async_back_pressure(1_000, 8 * 1024 * 1024)
    ///     .build()
    ///     .unwrap();
    /// assert!(producer.config().async_back_pressure);
    /// ```
    pub fn async_back_pressure(mut self, max_in_flight: usize, max_bytes: usize) -> Self {
        self.config.async_back_pressure = true;
        self.config.async_max_in_flight = max_in_flight;
        self.config.async_max_in_flight_bytes = max_bytes;
        self
    }

    /// Past the async back-pressure bound, fail at once instead of waiting up to the send
    /// timeout (see [`ProducerConfig::async_back_pressure_fail_fast`]).
    ///
    /// ```
    /// use rocketmq_rs_client::Producer;
    ///
    /// let producer = Producer::builder()
    ///     .group("metrics_pg")
    ///     .name_server("127.0.0.1:9876")
    ///     .async_back_pressure(1_000, 8 * 1024 * 1024)
    ///     .async_back_pressure_fail_fast(true)
    ///     .build()
    ///     .unwrap();
    /// assert!(producer.config().async_back_pressure_fail_fast);
    /// ```
    pub fn async_back_pressure_fail_fast(mut self, on: bool) -> Self {
        self.config.async_back_pressure_fail_fast = on;
        self
    }

    /// Sets the namespace.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.config.client.namespace = Some(ns.into());
        self
    }

    /// Sets the instance name (client id part).
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.config.client.instance_name = Some(name.into());
        self
    }

    /// Overrides the client IP.
    pub fn client_ip(mut self, ip: impl Into<String>) -> Self {
        self.config.client.client_ip = Some(ip.into());
        self
    }

    /// Sets the unit name.
    pub fn unit_name(mut self, unit: impl Into<String>) -> Self {
        self.config.client.unit_name = Some(unit.into());
        self
    }

    /// Sets the runtime (default: [`rocketmq_rs_remoting::rt::default_runtime`]).
    pub fn runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.config.client.runtime = Some(rt);
        self
    }

    /// Turns latency fault tolerance on or off.
    pub fn latency_fault_tolerance(mut self, on: bool) -> Self {
        self.config.fault = self.config.fault.clone().with_enabled(on);
        self
    }

    /// Sets the fault tolerance configuration.
    pub fn fault_config(mut self, fault: FaultConfig) -> Self {
        self.config.fault = fault;
        self
    }

    /// Sets the route refresh interval.
    pub fn route_refresh_interval(mut self, d: Duration) -> Self {
        self.config.client.route_refresh_interval = d;
        self
    }

    /// Sets the heartbeat interval.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.config.client.heartbeat_interval = d;
        self
    }

    /// Sets the shutdown grace period (in-flight async sends, background tasks).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.client.shutdown_timeout = d;
        self
    }

    /// Uses a shared client instance (its config then replaces the client settings here;
    /// `shutdown` leaves the instance running).
    pub fn client_instance(mut self, instance: ClientInstance) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Handles broker transaction checks (CHECK_TRANSACTION_STATE) for this group.
    pub fn transaction_check_handler(
        mut self,
        f: impl Fn(TransactionCheck) + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(f));
        self
    }

    /// Adds a [`SendHook`] (called in the order added). See [`crate::hook`].
    ///
    /// ```
    /// use rocketmq_rs_client::hook::{SendHook, SendHookContext};
    /// use rocketmq_rs_client::Producer;
    ///
    /// struct Log;
    /// impl SendHook for Log {
    ///     fn before_send(&self, ctx: &SendHookContext<'_>) {
    ///         println!("{} -> {}", ctx.msg_id, ctx.broker_addr);
    ///     }
    /// }
    /// let p = Producer::builder()
    ///     .name_server("127.0.0.1:9876")
    ///     .group("pg")
    ///     .send_hook(Log)
    ///     .build();
    /// assert!(p.is_ok());
    /// ```
    pub fn send_hook(mut self, hook: impl SendHook) -> Self {
        self.hooks.push(std::sync::Arc::new(hook));
        self
    }

    /// Turns message trace on (Java `enableMsgTrace`; the topic in `cfg` is Java's
    /// `customizedTraceTopic`): a Pub record per stored send and an EndTransaction record per
    /// transaction end, sent in batches to the trace topic. See [`crate::trace`].
    ///
    /// ```
    /// use rocketmq_rs_client::trace::TraceConfig;
    /// use rocketmq_rs_client::Producer;
    ///
    /// let p = Producer::builder()
    ///     .name_server("127.0.0.1:9876")
    ///     .group("pg")
    ///     .enable_trace(TraceConfig::default())
    ///     .build();
    /// assert!(p.is_ok());
    /// ```
    pub fn enable_trace(mut self, cfg: crate::trace::TraceConfig) -> Self {
        self.trace = Some(cfg);
        self
    }

    /// Validates and builds the producer (not started).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for invalid settings or when no runtime is available.
    pub fn build(self) -> Result<Producer> {
        let mut config = self.config;
        let (instance, owned) = match self.instance {
            Some(i) => {
                config.client = i.config().clone();
                (i, false)
            }
            None => (ClientInstance::new(config.client.clone())?, true),
        };
        config.validate()?;
        let mut hooks = self.hooks;
        let trace = match self.trace {
            Some(tc) => {
                let d = crate::trace::TraceDispatcher::new(
                    tc,
                    instance.config(),
                    std::sync::Arc::clone(instance.runtime()),
                    &config.group,
                    crate::trace::DispatcherKind::Produce,
                )?;
                hooks.push(std::sync::Arc::new(crate::trace::SendTraceHook(
                    std::sync::Arc::clone(&d),
                )));
                Some(d)
            }
            None => None,
        };
        Ok(Producer::from_parts(
            config, instance, owned, self.check, hooks, trace,
        ))
    }
}
