//! The broker's replication role ([`BrokerRole`], Java `brokerRole`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Replication role of a broker (Java `BrokerRole`; config key `brokerRole`).
///
/// Serialised (JSON config, command line) as Apache spells it: `ASYNC_MASTER`, `SYNC_MASTER`,
/// `SLAVE`.
///
/// ```
/// use rocketmq_rs_mini_broker::ha::BrokerRole;
/// let r: BrokerRole = "SYNC_MASTER".parse().unwrap();
/// assert_eq!(r, BrokerRole::SyncMaster);
/// assert!(r.is_master());
/// assert_eq!(serde_json::to_string(&BrokerRole::Slave).unwrap(), "\"SLAVE\"");
/// assert!("LEADER".parse::<BrokerRole>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BrokerRole {
    /// Master that answers sends at once and ships data to its slaves behind them.
    #[default]
    AsyncMaster,
    /// Master that answers a send only after a slave acknowledged it (or the wait timed out).
    SyncMaster,
    /// Read-only replica of a master (same broker name, broker id >= 1).
    Slave,
}

impl BrokerRole {
    /// Whether the role accepts writes (either master role).
    pub fn is_master(self) -> bool {
        !matches!(self, BrokerRole::Slave)
    }

    /// Apache's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

impl fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`BrokerRole`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown broker role {0:?} (expected ASYNC_MASTER, SYNC_MASTER or SLAVE)")]
pub struct ParseRoleError(pub String);

impl FromStr for BrokerRole {
    type Err = ParseRoleError;

    /// Case-insensitive; `-` is accepted for `_` (`sync-master`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            _ => Err(ParseRoleError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for r in [
            BrokerRole::AsyncMaster,
            BrokerRole::SyncMaster,
            BrokerRole::Slave,
        ] {
            assert_eq!(r.as_str().parse::<BrokerRole>().unwrap(), r);
            let j = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<BrokerRole>(&j).unwrap(), r);
        }
        assert_eq!(
            "sync-master".parse::<BrokerRole>().unwrap(),
            BrokerRole::SyncMaster
        );
        assert!(serde_json::from_str::<BrokerRole>("\"MASTER\"").is_err());
        assert!(!BrokerRole::Slave.is_master());
    }
}
