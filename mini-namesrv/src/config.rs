//! [`NamesrvConfig`]: every knob of the NameServer, loadable from a JSON or Java-style
//! `key=value` properties file and updatable at run time by UPDATE_NAMESRV_CONFIG (318).
//!
//! Keys use the Java `NamesrvConfig` spelling where Java has the same knob
//! (`scanNotActiveBrokerInterval`, `orderMessageEnable`, `kvConfigPath`, ...), so a Java
//! `namesrv.properties` mostly carries over; keys this server does not know are ignored with a
//! warning, as Java ignores properties that match no field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Keys that UPDATE_NAMESRV_CONFIG may not change: Java's fixed black list
/// (`configBlackList`, `configStorePath`, `kvConfigPath`, `rocketmqHome`) plus the listen
/// address, which only takes effect at start-up here.
pub const CONFIG_BLACK_LIST: &[&str] = &[
    "configBlackList",
    "configStorePath",
    "kvConfigPath",
    "rocketmqHome",
    "listenAddr",
    "listenPort",
    "acl",
    "metricsListen",
];

/// NameServer configuration.
///
/// ```
/// use std::time::Duration;
/// use rocketmq_rs_mini_namesrv::NamesrvConfig;
///
/// let mut cfg = NamesrvConfig::default();
/// assert_eq!(cfg.broker_expiry(), Duration::from_secs(120));
/// cfg.apply_properties_str("scanNotActiveBrokerInterval=1000\norderMessageEnable=true\n").unwrap();
/// assert_eq!(cfg.scan_interval(), Duration::from_secs(1));
/// assert!(cfg.order_message_enable);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct NamesrvConfig {
    /// Address to listen on. Default `0.0.0.0:9876` (Java's default port on all interfaces).
    pub listen_addr: SocketAddr,
    /// Default broker expiry in milliseconds: a broker that has not re-registered (or sent
    /// QUERY_DATA_VERSION / BROKER_HEARTBEAT) for this long is removed. A registration's
    /// `heartbeatTimeoutMillis` header overrides it for that broker. Default 120 000 (Java's
    /// fixed `DEFAULT_BROKER_CHANNEL_EXPIRED_TIME`).
    pub broker_expiry_millis: u64,
    /// How often expired brokers are looked for, in milliseconds. Default 5 000 (Java).
    pub scan_not_active_broker_interval: u64,
    /// Where the KV config is persisted (Java format `{"configTable":{...}}`). `None` keeps it in
    /// memory only. Default `None`.
    pub kv_config_path: Option<PathBuf>,
    /// Put `orderTopicConf` (KV namespace `ORDER_TOPIC_CONFIG`, key = topic) into routes.
    /// Default false (Java).
    pub order_message_enable: bool,
    /// Return the `ORDER_TOPIC_CONFIG` KV table in REGISTER_BROKER responses. Default true (Java).
    pub return_order_topic_config_to_broker: bool,
    /// Answer GET_ALL_TOPIC_LIST_FROM_NAMESERVER; when false it gets `SYSTEM_ERROR` "disable".
    /// Default true (Java).
    pub enable_all_topic_list: bool,
    /// Answer GET_TOPICS_BY_CLUSTER and the unit topic lists; when false they get
    /// `SYSTEM_ERROR` "disable". Default true (Java).
    pub enable_topic_list: bool,
    /// 5.x slave-acting-master support: routes of a broker group without a master present the
    /// smallest live slave as id 0 when its queues are read-only. Default false (Java).
    pub support_acting_master: bool,
    /// A master's registration removes its queue data for topics missing from the body.
    /// Default false (Java).
    pub delete_topic_with_broker_registration: bool,
    /// Close connections idle (no read, no write) for this many milliseconds; a broker whose
    /// connection is closed is unregistered at once. `0` disables. Default 120 000 (Java
    /// `serverChannelMaxIdleTimeSeconds`).
    pub server_channel_max_idle_millis: u64,
    /// Largest accepted frame (value of the length prefix). Default 16 MiB (Java).
    pub max_frame_size: usize,
    /// ACL 1.0 (see [`rocketmq_rs_remoting::acl`]): when set, every request is checked and refused
    /// with `NO_PERMISSION` unless allowed. Brokers must then sign their registrations or be
    /// white-listed. Fixed at start-up (in [`CONFIG_BLACK_LIST`]). Default `None`.
    pub acl: Option<rocketmq_rs_remoting::acl::AclConfig>,
    /// Address of the Prometheus scrape endpoint (`GET /metrics`; see
    /// `NameServerHandle::metrics_addr`); `None` (the default) serves none. Fixed at start-up.
    /// Needs the `metrics-endpoint` feature (part of `cli`); without it a set address fails
    /// the start.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS on the listening port (feature `tls`; see [`rocketmq_rs_remoting::tls`]). Not read
    /// from files: build it from PEM files in code.
    #[cfg(feature = "tls")]
    #[serde(skip)]
    pub tls: Option<rocketmq_rs_remoting::tls::TlsServerConfig>,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 9876)),
            broker_expiry_millis: 120_000,
            scan_not_active_broker_interval: 5_000,
            kv_config_path: None,
            order_message_enable: false,
            return_order_topic_config_to_broker: true,
            enable_all_topic_list: true,
            enable_topic_list: true,
            support_acting_master: false,
            delete_topic_with_broker_registration: false,
            server_channel_max_idle_millis: 120_000,
            max_frame_size: 16 * 1024 * 1024,
            acl: None,
            metrics_listen: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl NamesrvConfig {
    /// A default configuration listening on `addr` (use port 0 for an OS-chosen port).
    pub fn with_listen_addr(addr: SocketAddr) -> Self {
        NamesrvConfig {
            listen_addr: addr,
            ..Default::default()
        }
    }

    /// The default broker expiry as a [`Duration`].
    pub fn broker_expiry(&self) -> Duration {
        Duration::from_millis(self.broker_expiry_millis)
    }

    /// The expiry scan interval as a [`Duration`].
    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.scan_not_active_broker_interval)
    }

    /// The idle timeout of connections, `None` when disabled.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.server_channel_max_idle_millis > 0)
            .then(|| Duration::from_millis(self.server_channel_max_idle_millis))
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<()> {
        if let Some(acl) = &self.acl {
            rocketmq_rs_remoting::acl::AclValidator::new(acl)
                .map_err(|e| Error::Config(e.to_string()))?;
        }
        if self.broker_expiry_millis == 0 {
            return Err(Error::Config("brokerExpiryMillis must be > 0".into()));
        }
        if self.scan_not_active_broker_interval == 0 {
            return Err(Error::Config(
                "scanNotActiveBrokerInterval must be > 0".into(),
            ));
        }
        if self.max_frame_size < 1024 {
            return Err(Error::Config("maxFrameSize must be at least 1024".into()));
        }
        Ok(())
    }

    /// Loads a configuration file on top of the defaults: JSON when the content starts with
    /// `{`, Java-style properties (`key=value` lines, `#`/`!` comments) otherwise.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            op: "read",
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = NamesrvConfig::default();
        if text.trim_start().starts_with('{') {
            let obj: Map<String, Value> =
                serde_json::from_str(&text).map_err(|e| Error::Parse {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            let props = obj
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect::<Vec<_>>();
            cfg.apply_properties(&props, false)?;
        } else {
            cfg.apply_properties(&parse_properties(&text), false)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies `key=value` properties text (the body of UPDATE_NAMESRV_CONFIG).
    pub fn apply_properties_str(&mut self, text: &str) -> Result<()> {
        self.apply_properties(&parse_properties(text), false)
    }

    /// Applies properties. Values are parsed according to the type of the field they set
    /// (an empty value clears an optional field); `listenPort` sets the port of `listenAddr`.
    /// With `enforce_black_list`, a key from [`CONFIG_BLACK_LIST`] makes the whole update fail.
    /// Unknown keys are ignored (logged). On error nothing is changed.
    pub fn apply_properties(
        &mut self,
        props: &[(String, String)],
        enforce_black_list: bool,
    ) -> Result<()> {
        if enforce_black_list {
            if let Some((k, _)) = props
                .iter()
                .find(|(k, _)| CONFIG_BLACK_LIST.contains(&k.as_str()))
            {
                return Err(Error::Config(format!("{k} is in the black list")));
            }
        }
        let mut current = match serde_json::to_value(&*self) {
            Ok(Value::Object(m)) => m,
            _ => return Err(Error::Config("configuration is not serializable".into())),
        };
        for (key, raw) in props {
            let raw = raw.trim();
            if key == "listenPort" {
                let port: u16 = raw
                    .parse()
                    .map_err(|_| Error::Config(format!("listenPort: invalid port {raw:?}")))?;
                let mut addr = self.listen_addr;
                if let Some(Value::String(s)) = current.get("listenAddr") {
                    addr = s.parse().unwrap_or(addr);
                }
                addr.set_port(port);
                current.insert("listenAddr".into(), Value::String(addr.to_string()));
                continue;
            }
            let Some(slot) = current.get_mut(key.as_str()) else {
                tracing::warn!(key = %key, "ignoring unknown name server config key");
                continue;
            };
            let new = match (&*slot, key.as_str()) {
                (Value::Bool(_), _) => match raw.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => {
                        return Err(Error::Config(format!(
                            "{key}: expected true/false, got {raw:?}"
                        )))
                    }
                },
                (Value::Number(_), _) => raw
                    .parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| Error::Config(format!("{key}: expected a number, got {raw:?}")))?,
                // An empty value clears an optional field (kvConfigPath, acl, ...).
                (Value::Null, _) | (_, "kvConfigPath") if raw.is_empty() => Value::Null,
                _ => Value::String(raw.to_owned()),
            };
            *slot = new;
        }
        let updated: NamesrvConfig = serde_json::from_value(Value::Object(current))
            .map_err(|e| Error::Config(e.to_string()))?;
        updated.validate()?;
        *self = updated;
        Ok(())
    }

    /// The configuration as Java-style properties text (`key=value` lines, sorted by key), the
    /// body of a GET_NAMESRV_CONFIG response.
    pub fn to_properties(&self) -> String {
        let Ok(Value::Object(map)) = serde_json::to_value(self) else {
            return String::new();
        };
        let mut entries: Vec<(String, String)> = map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        entries.sort();
        let mut out = String::new();
        for (k, v) in entries {
            out.push_str(&k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
        out
    }
}

/// Parses Java-style properties: one `key=value` (or `key:value`) per line, blank lines and
/// lines starting with `#` or `!` ignored, whitespace around key and value trimmed.
///
/// ```
/// let p = rocketmq_rs_mini_namesrv::config::parse_properties("# c\na=1\n b : x y \n\nflag\n");
/// assert_eq!(p, vec![("a".into(), "1".into()), ("b".into(), "x y".into()), ("flag".into(), "".into())]);
/// ```
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| match l.find(['=', ':']) {
            Some(i) => (l[..i].trim().to_owned(), l[i + 1..].trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_roundtrip() {
        let cfg = NamesrvConfig::default();
        let text = cfg.to_properties();
        assert!(text.contains("brokerExpiryMillis=120000\n"));
        assert!(text.contains("kvConfigPath=\n"));
        let mut again = NamesrvConfig::default();
        again.apply_properties_str(&text).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn listen_port_and_bad_values() {
        let mut cfg = NamesrvConfig::default();
        cfg.apply_properties_str("listenPort=9999\nrocketmqHome=/x\n")
            .unwrap();
        assert_eq!(cfg.listen_addr.port(), 9999);
        let before = cfg.clone();
        assert!(cfg.apply_properties_str("orderMessageEnable=yes").is_err());
        assert!(cfg.apply_properties_str("brokerExpiryMillis=-1").is_err());
        assert!(cfg.apply_properties_str("brokerExpiryMillis=0").is_err());
        assert!(cfg.apply_properties_str("listenAddr=nonsense").is_err());
        assert_eq!(cfg, before, "failed updates change nothing");
    }

    #[test]
    fn black_list() {
        let mut cfg = NamesrvConfig::default();
        let props = vec![("kvConfigPath".to_owned(), "/tmp/x".to_owned())];
        assert!(cfg.apply_properties(&props, true).is_err());
        cfg.apply_properties(&props, false).unwrap();
        assert_eq!(cfg.kv_config_path.as_deref(), Some(Path::new("/tmp/x")));
    }

    #[test]
    fn json_and_properties_files() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("c.json");
        std::fs::write(
            &json,
            r#"{"listenAddr":"127.0.0.1:0","brokerExpiryMillis":3000,"orderMessageEnable":true,"unknown":1}"#,
        )
        .unwrap();
        let cfg = NamesrvConfig::from_file(&json).unwrap();
        assert_eq!(cfg.broker_expiry(), Duration::from_secs(3));
        assert!(cfg.order_message_enable);
        assert_eq!(cfg.listen_addr, "127.0.0.1:0".parse().unwrap());

        let props = dir.path().join("namesrv.properties");
        std::fs::write(&props, "listenPort=19876\nkvConfigPath=/var/kv.json\n").unwrap();
        let cfg = NamesrvConfig::from_file(&props).unwrap();
        assert_eq!(cfg.listen_addr.port(), 19876);
        assert_eq!(
            cfg.kv_config_path.as_deref(),
            Some(Path::new("/var/kv.json"))
        );

        std::fs::write(&json, "{not json").unwrap();
        assert!(matches!(
            NamesrvConfig::from_file(&json),
            Err(Error::Parse { .. })
        ));
        assert!(matches!(
            NamesrvConfig::from_file(&dir.path().join("missing")),
            Err(Error::File { .. })
        ));
    }
}
