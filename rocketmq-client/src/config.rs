//! [`ClientConfig`]: settings shared by every producer and consumer of one
//! [`ClientInstance`](crate::client::ClientInstance).
//!
//! A plain struct with public fields and Java's defaults; builders (`Producer::builder()`, the
//! consumer builders) are sugar over it. Every interval the client runs in the background is
//! configurable here: route refresh, heartbeat, offset persistence and rebalance.
//!
//! The async runtime is chosen by value: set [`ClientConfig::runtime`], or leave it `None` to
//! use [`rocketmq_rs_remoting::rt::default_runtime`] (tokio when called inside a tokio runtime,
//! else smol / async-std when those features are on). No runtime available is an
//! [`Error::Config`], never a panic.
//!
//! ```
//! use std::time::Duration;
//! use rocketmq_rs_client::config::ClientConfig;
//!
//! let mut cfg = ClientConfig::with_name_server("10.0.0.1:9876;10.0.0.2:9876");
//! cfg.heartbeat_interval = Duration::from_secs(10);
//! assert_eq!(cfg.namesrv_addrs, ["10.0.0.1:9876", "10.0.0.2:9876"]);
//! assert!(cfg.validate().is_ok());
//! ```
//!
//! # Loading from a file
//!
//! [`ClientConfig`], [`ProducerConfig`](crate::producer::ProducerConfig),
//! [`PushConsumerConfig`](crate::consumer::PushConsumerConfig) and
//! [`LitePullConsumerConfig`](crate::consumer::LitePullConsumerConfig) implement serde's
//! `Deserialize` and `Serialize`. Field names are the Rust field names; durations are integer
//! **milliseconds** in fields ending in `_ms` (`rpc_timeout` → `rpc_timeout_ms`); every field
//! is optional (missing = the default above) and unknown fields are rejected, so a typo is an
//! error rather than a silently ignored setting. The runtime and the transport settings (TLS
//! material, ACL credentials) are not part of the file format: set them in code.
//!
//! ```
//! use std::time::Duration;
//! use rocketmq_rs_client::config::ClientConfig;
//!
//! let cfg: ClientConfig = serde_json::from_str(r#"{
//!     "namesrv_addrs": "10.0.0.1:9876;10.0.0.2:9876",
//!     "namespace": "staging",
//!     "heartbeat_interval_ms": 10000
//! }"#).unwrap();
//! assert_eq!(cfg.namesrv_addrs, ["10.0.0.1:9876", "10.0.0.2:9876"]);
//! assert_eq!(cfg.heartbeat_interval, Duration::from_secs(10));
//! assert_eq!(cfg.rpc_timeout, Duration::from_secs(3)); // default
//! assert!(serde_json::from_str::<ClientConfig>(r#"{"heartbeat_interval": 1}"#).is_err());
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::rt::{default_runtime, Runtime};
use rocketmq_rs_remoting::transport::TransportConfig;
use rocketmq_rs_remoting::SerializeType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings of a client instance (Java `ClientConfig`). Loadable from a file with serde (see
/// the [module docs](self#loading-from-a-file)).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// NameServer addresses (`host:port`). Requests go to one of them and move on to the next
    /// when it fails; a dead address is skipped. In a file: a list, or one `;`-separated
    /// string as Java takes it.
    #[serde(deserialize_with = "serde_impl::addr_list")]
    pub namesrv_addrs: Vec<String>,
    /// Instance name, the second part of the client id. `None` (the default) generates a name
    /// unique per instance ([`crate::util::unique_instance_name`]); set it (e.g. to
    /// [`crate::util::DEFAULT_INSTANCE_NAME`]) only when the id must be stable across restarts,
    /// as for broadcasting consumers with local offset files.
    pub instance_name: Option<String>,
    /// The IP put into the client id and message ids; detected when `None`
    /// ([`crate::util::local_ip`]).
    pub client_ip: Option<String>,
    /// Namespace prefixed to topics and groups (`<namespace>%<resource>`); none by default.
    pub namespace: Option<String>,
    /// Unit name appended to the client id (`ip@instance@unit`).
    pub unit_name: Option<String>,
    /// Timeout of control RPCs: route lookups, heartbeats, offsets, consumer lists
    /// (Java `mqClientApiTimeout`, 3 s).
    #[serde(rename = "rpc_timeout_ms", with = "serde_impl::millis")]
    pub rpc_timeout: Duration,
    /// How often routes of used topics are refreshed (Java `pollNameServerInterval`, 30 s).
    #[serde(rename = "route_refresh_interval_ms", with = "serde_impl::millis")]
    pub route_refresh_interval: Duration,
    /// How often every broker gets a heartbeat (Java `heartbeatBrokerInterval`, 30 s).
    #[serde(rename = "heartbeat_interval_ms", with = "serde_impl::millis")]
    pub heartbeat_interval: Duration,
    /// How often consumers persist offsets (Java `persistConsumerOffsetInterval`, 5 s).
    #[serde(rename = "persist_offset_interval_ms", with = "serde_impl::millis")]
    pub persist_offset_interval: Duration,
    /// How often consumers rebalance (Java `rocketmq.client.rebalance.waitInterval`, 20 s).
    #[serde(rename = "rebalance_interval_ms", with = "serde_impl::millis")]
    pub rebalance_interval: Duration,
    /// How long shutdown waits for in-flight work (async sends, background tasks), 3 s.
    #[serde(rename = "shutdown_timeout_ms", with = "serde_impl::millis")]
    pub shutdown_timeout: Duration,
    /// The async runtime; `None` picks [`default_runtime`] when the instance is created. Not
    /// part of the file format.
    #[serde(skip)]
    pub runtime: Option<Arc<dyn Runtime>>,
    /// Header encoding of requests (JSON by default, like Java). In a file: `"JSON"` or
    /// `"ROCKETMQ"`.
    #[serde(with = "serde_impl::serialize_type")]
    pub serialize_type: SerializeType,
    /// Connection settings (frame limit, connect timeout, reconnect back-off, TLS, ACL). Not
    /// part of the file format (it holds key material): set it in code.
    #[serde(skip)]
    pub transport: TransportConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            namesrv_addrs: Vec::new(),
            instance_name: None,
            client_ip: None,
            namespace: None,
            unit_name: None,
            rpc_timeout: Duration::from_secs(3),
            route_refresh_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(30),
            persist_offset_interval: Duration::from_secs(5),
            rebalance_interval: Duration::from_secs(20),
            shutdown_timeout: Duration::from_secs(3),
            runtime: None,
            serialize_type: SerializeType::Json,
            transport: TransportConfig::default(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("namesrv_addrs", &self.namesrv_addrs)
            .field("instance_name", &self.instance_name)
            .field("client_ip", &self.client_ip)
            .field("namespace", &self.namespace)
            .field("unit_name", &self.unit_name)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("route_refresh_interval", &self.route_refresh_interval)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("persist_offset_interval", &self.persist_offset_interval)
            .field("rebalance_interval", &self.rebalance_interval)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("runtime", &self.runtime)
            .field("serialize_type", &self.serialize_type)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Defaults plus the NameServer list `addrs`, given as Java does: `;`-separated (commas and
    /// blanks are accepted too).
    pub fn with_name_server(addrs: &str) -> Self {
        ClientConfig {
            namesrv_addrs: split_addrs(addrs),
            ..ClientConfig::default()
        }
    }

    /// Signs every request with ACL 1.0 credentials (docs/protocol/acl.md §1), for brokers (and
    /// NameServers) with ACL enabled. Sets [`TransportConfig::credentials`].
    ///
    /// ```
    /// use rocketmq_rs_client::config::ClientConfig;
    /// use rocketmq_rs_remoting::acl::AclCredentials;
    ///
    /// let cfg = ClientConfig::with_name_server("127.0.0.1:9876")
    ///     .with_credentials(AclCredentials::new("RocketMQ", "12345678"));
    /// assert_eq!(cfg.transport.credentials.unwrap().access_key, "RocketMQ");
    /// ```
    pub fn with_credentials(
        mut self,
        credentials: rocketmq_rs_remoting::acl::AclCredentials,
    ) -> Self {
        self.transport.credentials = Some(credentials);
        self
    }

    /// Speaks TLS to brokers and NameServers (feature `tls`). Sets [`TransportConfig::tls`].
    ///
    /// ```no_run
    /// use rocketmq_rs_client::config::ClientConfig;
    /// use rocketmq_rs_remoting::tls::TlsClientConfig;
    ///
    /// let tls = TlsClientConfig::builder().add_ca_pem_file("ca.pem")?.build()?;
    /// let cfg = ClientConfig::with_name_server("127.0.0.1:9876").with_tls(tls);
    /// # drop(cfg);
    /// # Ok::<(), rocketmq_rs_remoting::tls::TlsConfigError>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: rocketmq_rs_remoting::tls::TlsClientConfig) -> Self {
        self.transport.tls = Some(tls);
        self
    }

    /// Checks the settings: at least one NameServer address of the form `host:port`, non-zero
    /// timeouts and intervals.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.namesrv_addrs.is_empty() {
            return Err(Error::Config(
                "no NameServer address: set namesrv_addrs, e.g. \"127.0.0.1:9876\"".into(),
            ));
        }
        for a in &self.namesrv_addrs {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
            if !ok {
                return Err(Error::Config(format!(
                    "NameServer address {a:?} is not host:port"
                )));
            }
        }
        for (name, d) in [
            ("rpc_timeout", self.rpc_timeout),
            ("route_refresh_interval", self.route_refresh_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("persist_offset_interval", self.persist_offset_interval),
            ("rebalance_interval", self.rebalance_interval),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{name} must be greater than zero")));
            }
        }
        if let Some(ns) = &self.namespace {
            if ns.contains('%') || ns.trim().is_empty() {
                return Err(Error::Config(format!(
                    "namespace {ns:?} must be non-blank and must not contain '%'"
                )));
            }
        }
        if let Some(name) = &self.instance_name {
            if name.is_empty() || name.contains('@') {
                return Err(Error::Config(format!(
                    "instance_name {name:?} must be non-empty and must not contain '@'"
                )));
            }
        }
        Ok(())
    }

    /// The configured runtime, or the default one.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when none is configured and no default is available.
    pub fn resolve_runtime(&self) -> Result<Arc<dyn Runtime>> {
        match &self.runtime {
            Some(rt) => Ok(Arc::clone(rt)),
            None => default_runtime().ok_or_else(|| {
                Error::Config(
                    "no async runtime: enable a runtime-* feature, run inside a tokio runtime, \
                     or set ClientConfig::runtime"
                        .into(),
                )
            }),
        }
    }

    /// The namespace, when one is set and non-empty.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|n| !n.is_empty())
    }

    /// Wraps `resource` (topic or group) with the namespace, if any.
    pub fn wrap(&self, resource: &str) -> String {
        match self.namespace() {
            Some(ns) => crate::util::wrap(ns, resource),
            None => resource.to_owned(),
        }
    }

    /// Removes the namespace from `resource`, if one is configured.
    pub fn unwrap(&self, resource: &str) -> String {
        match self.namespace() {
            Some(ns) => crate::util::namespace::unwrap_namespace(resource, ns),
            None => resource.to_owned(),
        }
    }
}

/// serde helpers of the config structs' file format.
pub(crate) mod serde_impl {
    use std::time::Duration;

    use rocketmq_rs_remoting::SerializeType;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A [`Duration`] as integer milliseconds.
    pub(crate) mod millis {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
            u64::try_from(d.as_millis())
                .unwrap_or(u64::MAX)
                .serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            u64::deserialize(d).map(Duration::from_millis)
        }
    }

    /// A NameServer list: a JSON list or one `;`-separated string.
    pub(crate) fn addr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Addrs {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Addrs::deserialize(d)? {
            Addrs::One(s) => super::split_addrs(&s),
            Addrs::Many(v) => v.iter().flat_map(|s| super::split_addrs(s)).collect(),
        })
    }

    /// [`SerializeType`] by its Java name.
    pub(crate) mod serialize_type {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(t: &SerializeType, s: S) -> Result<S::Ok, S::Error> {
            match t {
                SerializeType::RocketMq => "ROCKETMQ",
                _ => "JSON",
            }
            .serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<SerializeType, D::Error> {
            let name = String::deserialize(d)?;
            match name.to_ascii_uppercase().as_str() {
                "JSON" => Ok(SerializeType::Json),
                "ROCKETMQ" => Ok(SerializeType::RocketMq),
                _ => Err(serde::de::Error::invalid_value(
                    serde::de::Unexpected::Str(&name),
                    &"\"JSON\" or \"ROCKETMQ\"",
                )),
            }
        }
    }
}

/// Splits a NameServer list on `;`, `,` and whitespace, dropping empty parts.
pub(crate) fn split_addrs(addrs: &str) -> Vec<String> {
    addrs
        .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(ClientConfig::default().validate().is_err());
        assert!(ClientConfig::with_name_server("nohost").validate().is_err());
        assert!(ClientConfig::with_name_server("h:0").validate().is_err());
        assert!(ClientConfig::with_name_server("h:9876").validate().is_ok());
        let mut c = ClientConfig::with_name_server("h:9876");
        c.rpc_timeout = Duration::ZERO;
        assert!(c.validate().is_err());
        let mut c = ClientConfig::with_name_server("h:9876");
        c.namespace = Some("a%b".into());
        assert!(c.validate().is_err());
        assert_eq!(split_addrs(" a:1; b:2 ,c:3;"), ["a:1", "b:2", "c:3"]);
    }

    #[test]
    fn loads_from_json_and_round_trips() {
        let c: ClientConfig = serde_json::from_str(
            r#"{"namesrv_addrs": ["a:1", "b:2"], "rpc_timeout_ms": 1500,
                "serialize_type": "ROCKETMQ", "instance_name": "svc"}"#,
        )
        .unwrap();
        assert_eq!(c.namesrv_addrs, ["a:1", "b:2"]);
        assert_eq!(c.rpc_timeout, Duration::from_millis(1500));
        assert_eq!(c.serialize_type, SerializeType::RocketMq);
        assert_eq!(c.instance_name.as_deref(), Some("svc"));
        assert_eq!(
            c.rebalance_interval,
            Duration::from_secs(20),
            "default kept"
        );
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"rpc_timeout_ms\":1500"), "{json}");
        let back: ClientConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
        // Typos and wrong types are errors, not silently ignored settings.
        assert!(serde_json::from_str::<ClientConfig>(r#"{"rpc_timeout": 5}"#).is_err());
        assert!(serde_json::from_str::<ClientConfig>(r#"{"rpc_timeout_ms": "5s"}"#).is_err());
        assert!(serde_json::from_str::<ClientConfig>(r#"{"serialize_type": "XML"}"#).is_err());
        let empty: ClientConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(
            format!("{empty:?}"),
            format!("{:?}", ClientConfig::default())
        );
    }

    #[test]
    fn namespace_wrapping() {
        let mut c = ClientConfig::with_name_server("h:9876");
        assert_eq!(c.wrap("T"), "T");
        c.namespace = Some("ns".into());
        assert_eq!(c.wrap("T"), "ns%T");
        assert_eq!(c.unwrap("ns%T"), "T");
    }
}
