//! GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25): the broker's configuration as Java
//! `Properties` text, and live changes of the keys that can change while running
//! (docs/protocol/admin.md §10).
//!
//! GET answers every setting under Apache's name where Apache has one (`brokerName`,
//! `listenPort`, `flushDiskType`, ...) and under our config-file name otherwise, sorted, one
//! `key=value` line each; secrets and the ACL/TLS settings are left out. UPDATE accepts the
//! keys of [`LIVE_KEYS`]: they apply at once and, when the broker was started with a config
//! file, are written into it. Any other key is refused with `INVALID_PARAMETER` naming it —
//! unlike Apache, which stores keys it cannot apply until a restart and silently ignores keys it
//! does not know.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rocketmq_rs_remoting::protocol::body::DataVersion;
use rocketmq_rs_remoting::protocol::code::ResponseCode;
use rocketmq_rs_remoting::protocol::header::GetBrokerConfigResponseHeader;
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::{self, Runtime};
use rocketmq_rs_remoting::util::{now_ms, MutexExt};

use super::{reply, success, Wiring};
use crate::config::{parse_properties, BrokerConfig};
use crate::store::{MessageStore, RetentionConfig};
use crate::subscription_group::SubscriptionGroupManager;
use std::time::Duration;

/// Keys UPDATE_BROKER_CONFIG changes on a running broker.
pub const LIVE_KEYS: &[&str] = &[
    "autoCreateSubscriptionGroup",
    "retryMaxTimes",
    "fileReservedTime",
    "deleteWhen",
    "diskMaxUsedSpaceRatio",
    "diskSpaceCleanForciblyRatio",
    "diskSpaceWarningLevelRatio",
    "cleanFileForciblyEnable",
    "cleanResourceInterval",
    "deleteCommitLogFilesInterval",
    "deleteConsumeQueueFilesInterval",
    "destroyMapedFileIntervalForcibly",
    "deleteFileBatchMax",
    "maxStoreBytes",
];

/// Keys Apache never lets a remote caller change.
const BLACK_LIST: &[&str] = &["brokerConfigPath", "rocketmqHome", "configBlackList"];

/// Configuration queries and live updates.
pub(crate) struct BrokerConfigProcessor {
    cfg: BrokerConfig,
    groups: Arc<SubscriptionGroupManager>,
    store: MessageStore,
    /// Retention keys changed at run time, as GET_BROKER_CONFIG shows them.
    retention_overrides: Mutex<BTreeMap<String, String>>,
    rt: Arc<dyn Runtime>,
    /// Bumped by every accepted update (GET_BROKER_CONFIG's `version` header).
    version: Mutex<DataVersion>,
    /// Serialises updates (and their config-file writes).
    updating: futures::lock::Mutex<()>,
}

impl BrokerConfigProcessor {
    pub(crate) fn new(w: &Wiring<'_>) -> Self {
        BrokerConfigProcessor {
            cfg: w.cfg.clone(),
            groups: Arc::clone(w.groups.table()),
            store: w.store.clone(),
            retention_overrides: Mutex::new(BTreeMap::new()),
            rt: Arc::clone(w.rt),
            version: Mutex::new(DataVersion {
                state_version: 0,
                timestamp: now_ms(),
                counter: 0,
            }),
            updating: futures::lock::Mutex::new(()),
        }
    }

    /// The current settings: the startup config with the live values over it.
    fn properties(&self) -> BTreeMap<String, String> {
        let mut p = self.cfg.to_properties();
        p.insert(
            "autoCreateSubscriptionGroup".into(),
            self.groups.auto_create().to_string(),
        );
        p.insert(
            "retryMaxTimes".into(),
            self.groups.retry_max_times().to_string(),
        );
        for (k, v) in self.retention_overrides.lock_unpoisoned().iter() {
            p.insert(k.clone(), v.clone());
        }
        p
    }

    /// GET_BROKER_CONFIG.
    pub(crate) fn get(&self) -> RemotingCommand {
        let mut text = String::new();
        for (k, v) in self.properties() {
            text.push_str(&escape_key(&k));
            text.push('=');
            text.push_str(&escape_value(&v));
            text.push('\n');
        }
        let version =
            serde_json::to_string(&*self.version.lock_unpoisoned()).unwrap_or_else(|_| "{}".into());
        success()
            .with_header(&GetBrokerConfigResponseHeader { version })
            .with_body(text.into_bytes())
    }

    /// UPDATE_BROKER_CONFIG.
    pub(crate) async fn update(&self, req: &RemotingCommand) -> RemotingCommand {
        if req.body.is_empty() {
            return success();
        }
        let Ok(text) = std::str::from_utf8(&req.body) else {
            return reply(ResponseCode::SYSTEM_ERROR, "string2Properties error");
        };
        let props = parse_properties(text);
        if props.keys().any(|k| BLACK_LIST.contains(&k.as_str())) {
            return reply(
                ResponseCode::NO_PERMISSION,
                "Can not update config in black list.",
            );
        }
        let known = self.properties();
        let mut auto_create = None;
        let mut retry_max = None;
        let mut retention = self.store.retention();
        // (key, value as GET shows it, value for the JSON config file)
        let mut retention_changes: Vec<(String, String, serde_json::Value)> = Vec::new();
        for (k, v) in &props {
            if let Some(change) = RETENTION_KEYS.iter().find(|(name, _)| name == k) {
                match (change.1)(&mut retention, v.trim()) {
                    Ok(json) => {
                        retention_changes.push((k.clone(), v.trim().to_string(), json));
                        continue;
                    }
                    Err(want) => return bad_value(k, v, want),
                }
            }
            match k.as_str() {
                "autoCreateSubscriptionGroup" => match v.trim() {
                    "true" => auto_create = Some(true),
                    "false" => auto_create = Some(false),
                    _ => return bad_value(k, v, "true or false"),
                },
                "retryMaxTimes" => match v.trim().parse::<i32>() {
                    Ok(n) if n >= 0 => retry_max = Some(n),
                    _ => return bad_value(k, v, "an integer >= 0"),
                },
                _ if known.contains_key(k) => {
                    return reply(
                        ResponseCode::INVALID_PARAMETER,
                        format!(
                            "mini-broker cannot change {k} while running; set it in the broker's \
                             config file and restart. Keys changeable at run time: {}",
                            LIVE_KEYS.join(", ")
                        ),
                    )
                }
                _ => {
                    return reply(
                        ResponseCode::INVALID_PARAMETER,
                        format!(
                            "unknown broker config key {k} (mini-broker supports a subset of \
                             Apache's keys; changeable at run time: {})",
                            LIVE_KEYS.join(", ")
                        ),
                    )
                }
            }
        }
        if let Err(e) = retention.validate() {
            return reply(ResponseCode::INVALID_PARAMETER, e.to_string());
        }
        let _serial = self.updating.lock().await;
        if let Some(path) = self.cfg.config_file.clone() {
            let changes: Vec<(String, serde_json::Value)> = auto_create
                .map(|b| ("autoCreateSubscriptionGroup".to_string(), b.into()))
                .into_iter()
                .chain(retry_max.map(|n| ("retryMaxTimes".to_string(), n.into())))
                .chain(
                    retention_changes
                        .iter()
                        .map(|(k, _, json)| (k.clone(), json.clone())),
                )
                .collect();
            let written =
                rt::run_blocking(&*self.rt, move || write_config_file(&path, &changes)).await;
            if let Err(e) = written {
                return reply(ResponseCode::SYSTEM_ERROR, e);
            }
        }
        if let Some(b) = auto_create {
            self.groups.set_auto_create(b);
        }
        if let Some(n) = retry_max {
            self.groups.set_retry_max_times(n);
        }
        if !retention_changes.is_empty() {
            if let Err(e) = self.store.set_retention(retention) {
                return reply(ResponseCode::INVALID_PARAMETER, e.to_string());
            }
            let mut o = self.retention_overrides.lock_unpoisoned();
            for (k, shown, _) in retention_changes {
                o.insert(k, shown);
            }
        }
        let mut v = self.version.lock_unpoisoned();
        v.counter += 1;
        v.timestamp = now_ms();
        success()
    }
}

/// Applies one retention key's text to the settings; returns the JSON value for the config
/// file, or what was expected.
type RetentionSetter = fn(&mut RetentionConfig, &str) -> Result<serde_json::Value, &'static str>;

fn ms(v: &str) -> Result<u64, &'static str> {
    v.parse::<u64>()
        .map_err(|_| "milliseconds (an integer >= 0)")
}

fn percent(v: &str) -> Result<u32, &'static str> {
    v.parse::<u32>()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or("a percentage 0-100")
}

/// The retention keys (Apache's `MessageStoreConfig` names, read at every retention pass
/// there as here).
const RETENTION_KEYS: &[(&str, RetentionSetter)] = &[
    ("fileReservedTime", |r, v| {
        let h = v
            .parse::<f64>()
            .ok()
            .filter(|h| h.is_finite() && *h >= 0.0)
            .ok_or("a number of hours >= 0")?;
        r.file_reserved_time = crate::config::hours(h);
        Ok(h.into())
    }),
    ("deleteWhen", |r, v| {
        let mut probe = r.clone();
        probe.delete_when = v.to_string();
        probe
            .validate()
            .map_err(|_| "hours 0-23 separated by ';'")?;
        r.delete_when = v.to_string();
        Ok(v.into())
    }),
    ("diskMaxUsedSpaceRatio", |r, v| {
        r.disk_max_used_space_ratio = percent(v)?;
        Ok(r.disk_max_used_space_ratio.into())
    }),
    ("diskSpaceCleanForciblyRatio", |r, v| {
        r.disk_space_clean_forcibly_ratio = percent(v)?;
        Ok(r.disk_space_clean_forcibly_ratio.into())
    }),
    ("diskSpaceWarningLevelRatio", |r, v| {
        r.disk_space_warning_level_ratio = percent(v)?;
        Ok(r.disk_space_warning_level_ratio.into())
    }),
    ("cleanFileForciblyEnable", |r, v| {
        r.clean_file_forcibly_enable = match v {
            "true" => true,
            "false" => false,
            _ => return Err("true or false"),
        };
        Ok(r.clean_file_forcibly_enable.into())
    }),
    ("cleanResourceInterval", |r, v| {
        let n = ms(v).ok().filter(|n| *n > 0).ok_or("milliseconds > 0")?;
        r.clean_resource_interval = Duration::from_millis(n);
        Ok(n.into())
    }),
    ("deleteCommitLogFilesInterval", |r, v| {
        let n = ms(v)?;
        r.delete_commit_log_files_interval = Duration::from_millis(n);
        Ok(n.into())
    }),
    ("deleteConsumeQueueFilesInterval", |r, v| {
        let n = ms(v)?;
        r.delete_consume_queue_files_interval = Duration::from_millis(n);
        Ok(n.into())
    }),
    // Accepted for Apache compatibility; nothing is memory-mapped here.
    ("destroyMapedFileIntervalForcibly", |_, v| Ok(ms(v)?.into())),
    ("deleteFileBatchMax", |r, v| {
        let n = v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("an integer > 0")?;
        r.delete_file_batch_max = n;
        Ok(n.into())
    }),
    ("maxStoreBytes", |r, v| {
        if v.is_empty() {
            r.max_store_bytes = None;
            return Ok(serde_json::Value::Null);
        }
        let n = v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("bytes > 0, or empty for no cap")?;
        r.max_store_bytes = Some(n);
        Ok(n.into())
    }),
];

fn bad_value(key: &str, value: &str, want: &str) -> RemotingCommand {
    reply(
        ResponseCode::INVALID_PARAMETER,
        format!("bad value {value:?} for {key}: expected {want}"),
    )
}

/// Sets `changes` in the JSON config file at `path`, keeping everything else in it. Blocking.
fn write_config_file(
    path: &PathBuf,
    changes: &[(String, serde_json::Value)],
) -> Result<(), String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let mut doc: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| format!("cannot parse config file {}: {e}", path.display()))?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(format!(
            "config file {} is not a JSON object",
            path.display()
        ));
    };
    for (k, v) in changes {
        obj.insert(k.clone(), v.clone());
    }
    let out = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    crate::store::write_atomic(path, &out)
        .map_err(|e| format!("cannot write config file {}: {e}", path.display()))
}

/// Java `Properties` escaping of a key: blanks, `=`, `:`, `#`, `!` and backslashes.
fn escape_key(k: &str) -> String {
    let mut o = String::with_capacity(k.len());
    for c in k.chars() {
        if matches!(c, ' ' | '=' | ':' | '#' | '!' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Java `Properties` escaping of a value: backslashes, a leading blank and line breaks (Apache
/// writes values raw; escaping keeps `Properties.load` on the tool side reading them back
/// unchanged, e.g. Windows paths).
fn escape_value(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            ' ' if i == 0 => o.push_str("\\ "),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_through_the_parser() {
        let k = "a:b";
        let v = " C:\\store\\x";
        let line = format!("{}={}\n", escape_key(k), escape_value(v));
        let p = parse_properties(&line);
        assert_eq!(p.get(k).map(String::as_str), Some(v));
    }

    #[test]
    fn config_file_update_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broker.json");
        std::fs::write(&p, r#"{"brokerName":"b1","retryMaxTimes":16}"#).unwrap();
        write_config_file(&p, &[("retryMaxTimes".into(), 3.into())]).unwrap();
        let cfg = BrokerConfig::from_file(&p).unwrap();
        assert_eq!((cfg.broker_name.as_str(), cfg.retry_max_times), ("b1", 3));
    }
}
