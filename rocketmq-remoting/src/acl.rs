//! ACL 1.0: request signing for clients and access checks for servers (docs/protocol/acl.md §1).
//!
//! **Client side.** [`sign`] adds `AccessKey`, optionally `SecurityToken`, and `Signature` to a
//! request, exactly as Apache's `AclClientRPCHook`: the signature is
//! `Base64(HMAC-SHA1(secretKey, values of all ext fields but Signature, sorted by key, then the
//! body))`. Set [`TransportConfig::credentials`](crate::transport::TransportConfig::credentials)
//! and every request a connection sends is signed just before it is written.
//!
//! **Server side.** [`AclValidator`] enforces an [`AclConfig`] (the accounts, permissions and
//! white lists of Apache's `plain_acl.yml`) the way Apache 4.x's `PlainAccessValidator` does, and
//! answers a refused request with `NO_PERMISSION` (16), as 5.x brokers do.
//!
//! ```
//! use rocketmq_rs_remoting::acl::{self, AclConfig, AclCredentials, AclValidator};
//! use rocketmq_rs_remoting::protocol::{RemotingCommand, code::RequestCode};
//!
//! let creds = AclCredentials::new("RocketMQ", "12345678");
//! let mut req = RemotingCommand::request(RequestCode::PULL_MESSAGE);
//! req.ext_fields.insert("topic", "TopicTest");
//! req.ext_fields.insert("consumerGroup", "cg");
//! acl::sign(&mut req, &creds);
//! assert!(acl::verify_signature(&req, "12345678"));
//!
//! let config: AclConfig = serde_json::from_str(r#"{
//!     "accounts": [{
//!         "accessKey": "RocketMQ", "secretKey": "12345678",
//!         "defaultTopicPerm": "DENY", "defaultGroupPerm": "SUB",
//!         "topicPerms": ["TopicTest=SUB"]
//!     }]
//! }"#).unwrap();
//! let validator = AclValidator::new(&config).unwrap();
//! let peer = "10.0.0.7".parse().unwrap();
//! assert!(validator.check(&req, peer).is_ok());
//!
//! req.ext_fields.insert("topic", "Secret");
//! acl::sign(&mut req, &creds);
//! let denied = validator.check(&req, peer).unwrap_err();
//! assert_eq!(denied.remark, "No default permission for topic=Secret");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

use crate::protocol::body::{HeartbeatData, JsonBody, LockBatchRequestBody};
use crate::protocol::code::{RequestCode, ResponseCode};
use crate::protocol::RemotingCommand;
use crate::util::java_string_cmp;

/// Ext field carrying the access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext field carrying the signature.
pub const SIGNATURE: &str = "Signature";
/// Ext field carrying the optional security (STS) token.
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Ext field that clients ≤ 4.9.3 added after signing; servers leave it out of the check for
/// those versions (Java `MixAll.UNIQUE_MSG_QUERY_FLAG`).
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";
/// `MQVersion.V4_9_3` ordinal: requests at or below it get the [`UNIQUE_KEY_QUERY`] exemption.
const V4_9_3: i32 = 399;

type HmacSha1 = Hmac<Sha1>;

/// The identity a client signs its requests with (Java `SessionCredentials`).
///
/// `Debug` output hides the secret and the token.
///
/// ```
/// use rocketmq_rs_remoting::acl::AclCredentials;
/// let c = AclCredentials::new("ak", "sk").with_security_token("token");
/// assert_eq!(c.security_token.as_deref(), Some("token"));
/// assert!(!format!("{c:?}").contains("sk"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AclCredentials {
    /// The access key, sent in clear as `AccessKey`.
    pub access_key: String,
    /// The secret key: the HMAC key, never sent.
    pub secret_key: String,
    /// An optional security token, sent as `SecurityToken` and covered by the signature.
    pub security_token: Option<String>,
}

impl AclCredentials {
    /// Credentials without a security token.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        AclCredentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// Adds a security token.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }
}

impl fmt::Debug for AclCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Signs `cmd` in place: sets `AccessKey` (and `SecurityToken` when configured), then
/// `Signature` over every other ext field and the body (Java `AclClientRPCHook.doBeforeRequest`).
///
/// Call it last: any ext field added afterwards invalidates the signature. The transport does
/// this for you when [`TransportConfig::credentials`](crate::transport::TransportConfig) is set.
///
/// ```
/// use rocketmq_rs_remoting::acl::{sign, AclCredentials};
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
///
/// let mut cmd = RemotingCommand::request(105);
/// cmd.ext_fields.insert("topic", "TopicTest");
/// sign(&mut cmd, &AclCredentials::new("ak", "sk"));
/// assert_eq!(cmd.ext_fields.get("AccessKey"), Some("ak"));
/// // HMAC-SHA1("sk", "ak" + "TopicTest"), Base64.
/// assert_eq!(cmd.ext_fields.get("Signature"), Some("bUNDfLxxr02vTlIhHg73lpRhduQ="));
/// ```
pub fn sign(cmd: &mut RemotingCommand, creds: &AclCredentials) {
    cmd.ext_fields.insert(ACCESS_KEY, creds.access_key.as_str());
    if let Some(token) = &creds.security_token {
        cmd.ext_fields.insert(SECURITY_TOKEN, token.as_str());
    }
    let signature = compute_signature(cmd, &creds.secret_key, false);
    cmd.ext_fields.insert(SIGNATURE, signature);
}

/// Whether `cmd` carries a `Signature` that `secret` produces, checked as an Apache server does
/// (the `_UNIQUE_KEY_QUERY` field is left out for requests of version ≤ 4.9.3). The comparison
/// takes the same time wherever the strings differ.
pub fn verify_signature(cmd: &RemotingCommand, secret: &str) -> bool {
    let Some(received) = cmd.ext_fields.get(SIGNATURE) else {
        return false;
    };
    let expected = compute_signature(cmd, secret, cmd.version <= V4_9_3);
    constant_time_eq(expected.as_bytes(), received.as_bytes())
}

/// The bytes that are signed (Java `AclUtils.combineRequestContent`): the values of every ext
/// field except `Signature`, ordered by key as Java orders `String`s (UTF-16 code units),
/// concatenated without separators, then the body. `skip_unique_key_query` leaves out
/// `_UNIQUE_KEY_QUERY` as servers do for old clients.
///
/// Signing does not build this buffer (it feeds the HMAC incrementally); it is public for
/// debugging and cross-checking.
///
/// ```
/// use rocketmq_rs_remoting::acl::canonical_content;
/// use rocketmq_rs_remoting::protocol::RemotingCommand;
///
/// let mut cmd = RemotingCommand::request(10).with_body(&b"!"[..]);
/// cmd.ext_fields.insert("b", "2");
/// cmd.ext_fields.insert("a", "1");
/// cmd.ext_fields.insert("Signature", "ignored");
/// cmd.ext_fields.insert("AccessKey", "ak");
/// assert_eq!(canonical_content(&cmd, false), b"ak12!");
/// ```
pub fn canonical_content(cmd: &RemotingCommand, skip_unique_key_query: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, value) in sorted_signed_fields(cmd, skip_unique_key_query) {
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&cmd.body);
    out
}

/// `Base64(HMAC-SHA1(secret, content))` (Java `AclUtils.calSignature`).
///
/// ```
/// // RFC 2202 test case 2.
/// let sig = rocketmq_rs_remoting::acl::calculate_signature(b"what do ya want for nothing?", "Jefe");
/// assert_eq!(sig, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
/// ```
pub fn calculate_signature(content: &[u8], secret: &str) -> String {
    let mut mac = new_mac(secret);
    mac.update(content);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn new_mac(secret: &str) -> HmacSha1 {
    // HMAC takes keys of any length (long keys are hashed), so this cannot fail.
    <HmacSha1 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
}

fn compute_signature(cmd: &RemotingCommand, secret: &str, skip_unique_key_query: bool) -> String {
    let mut mac = new_mac(secret);
    for (_, value) in sorted_signed_fields(cmd, skip_unique_key_query) {
        mac.update(value.as_bytes());
    }
    mac.update(&cmd.body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn sorted_signed_fields(cmd: &RemotingCommand, skip_unique_key_query: bool) -> Vec<(&str, &str)> {
    let mut fields: Vec<(&str, &str)> = cmd
        .ext_fields
        .iter()
        .filter(|(k, _)| *k != SIGNATURE && !(skip_unique_key_query && *k == UNIQUE_KEY_QUERY))
        .collect();
    fields.sort_unstable_by(|a, b| java_string_cmp(a.0, b.0));
    fields
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ------------------------------------------------------------------------------------------------
// Server side
// ------------------------------------------------------------------------------------------------

/// The ACL configuration of a server, with the field names of Apache's `plain_acl.yml`.
///
/// It is loaded from JSON (serde): a `plain_acl.yml` converts mechanically (for example
/// `yq -o json plain_acl.yml`). YAML itself is not parsed, to keep the dependency set small.
///
/// Permissions are `"DENY"`, `"PUB"`, `"SUB"` or `"PUB|SUB"`; `topicPerms` and `groupPerms` hold
/// `"name=PERM"` entries. White-list addresses are an IPv4 pattern (each of the four parts a
/// number, `*`, a range `a-b` or a set `{a,b,c}`; `192.168.*` means `192.168.*.*`), `*` for
/// every address, or an exact IPv6 address.
///
/// ```
/// use rocketmq_rs_remoting::acl::AclConfig;
/// let config: AclConfig = serde_json::from_str(r#"{
///   "globalWhiteRemoteAddresses": ["10.10.103.*", "192.168.0.{1,2}"],
///   "accounts": [
///     {"accessKey": "RocketMQ", "secretKey": "12345678", "whiteRemoteAddress": "192.168.0.*",
///      "admin": false, "defaultTopicPerm": "DENY", "defaultGroupPerm": "SUB",
///      "topicPerms": ["topicA=DENY", "topicB=PUB|SUB", "topicC=SUB"],
///      "groupPerms": ["groupA=DENY", "groupB=PUB|SUB", "groupC=SUB"]},
///     {"accessKey": "rocketmq2", "secretKey": "12345678", "admin": true}
///   ]
/// }"#).unwrap();
/// assert_eq!(config.accounts.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AclConfig {
    /// Peers matching any of these patterns skip every check (no signature needed).
    #[serde(default)]
    pub global_white_remote_addresses: Vec<String>,
    /// The accounts.
    #[serde(default)]
    pub accounts: Vec<AclAccount>,
}

/// One account of an [`AclConfig`] (Java `PlainAccessConfig`).
///
/// `Debug` output hides the secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclAccount {
    /// The access key clients send.
    pub access_key: String,
    /// The secret the signature is checked with.
    pub secret_key: String,
    /// Requests of this account from a matching peer are accepted without a signature check.
    #[serde(default)]
    pub white_remote_address: Option<String>,
    /// Admin accounts may send admin requests (create/delete topics and groups, broker config)
    /// and, without `topicPerms`/`groupPerms`, reach every resource.
    #[serde(default)]
    pub admin: bool,
    /// Permission on topics not in `topicPerms`. Default `DENY`.
    #[serde(default)]
    pub default_topic_perm: Option<String>,
    /// Permission on groups not in `groupPerms`. Default `DENY`.
    #[serde(default)]
    pub default_group_perm: Option<String>,
    /// `"topic=PERM"` entries.
    #[serde(default)]
    pub topic_perms: Vec<String>,
    /// `"group=PERM"` entries.
    #[serde(default)]
    pub group_perms: Vec<String>,
}

impl fmt::Debug for AclAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclAccount")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("white_remote_address", &self.white_remote_address)
            .field("admin", &self.admin)
            .field("default_topic_perm", &self.default_topic_perm)
            .field("default_group_perm", &self.default_group_perm)
            .field("topic_perms", &self.topic_perms)
            .field("group_perms", &self.group_perms)
            .finish()
    }
}

/// A permission set (Java `Permission`): a bit set of `DENY` (1), `ANY` (2), `PUB` (4), `SUB` (8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission(u8);

impl Permission {
    /// Nothing allowed; wins over any other bit.
    pub const DENY: Permission = Permission(1);
    /// Needed by requests that accept either `PUB` or `SUB`.
    pub const ANY: Permission = Permission(2);
    /// Publish.
    pub const PUB: Permission = Permission(4);
    /// Subscribe.
    pub const SUB: Permission = Permission(8);

    /// Parses `DENY`, `PUB`, `SUB`, `PUB|SUB` or `SUB|PUB` (surrounding spaces allowed).
    ///
    /// ```
    /// use rocketmq_rs_remoting::acl::Permission;
    /// assert_eq!(Permission::parse("PUB|SUB"), Some(Permission::PUB.union(Permission::SUB)));
    /// assert_eq!(Permission::parse("READ"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Permission> {
        match s.trim() {
            "DENY" => Some(Self::DENY),
            "PUB" => Some(Self::PUB),
            "SUB" => Some(Self::SUB),
            "PUB|SUB" | "SUB|PUB" => Some(Self::PUB.union(Self::SUB)),
            _ => None,
        }
    }

    /// Both sets of bits.
    pub const fn union(self, other: Permission) -> Permission {
        Permission(self.0 | other.0)
    }

    /// Whether an owner of `self` may do what needs `needed` (Java `Permission.checkPermission`).
    pub fn allows(self, needed: Permission) -> bool {
        if self.0 & Self::DENY.0 != 0 {
            return false;
        }
        if needed.0 & Self::ANY.0 != 0 {
            return self.0 & (Self::PUB.0 | Self::SUB.0) != 0;
        }
        needed.0 & self.0 != 0
    }
}

/// Why an [`AclConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ACL config: {0}")]
pub struct AclConfigError(String);

/// A refused request. `remark` says why, in the words of Apache's `AclException` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{remark}")]
pub struct AclDenied {
    /// The explanation sent back to the client as the response remark.
    pub remark: String,
}

impl AclDenied {
    fn new(remark: impl Into<String>) -> Self {
        AclDenied {
            remark: remark.into(),
        }
    }

    /// The `NO_PERMISSION` (16) response to `request` carrying the remark.
    pub fn to_response(&self, request: &RemotingCommand) -> RemotingCommand {
        RemotingCommand::response_to(
            request,
            ResponseCode::NO_PERMISSION,
            Some(self.remark.clone()),
        )
    }
}

/// Request codes only admin accounts may send: Apache's `Permission.ADMIN_CODE` (17, 25, 215,
/// 200, 207), plus the other requests that change cluster state: static topics (513), ACL
/// management (50, 51, 52), NameServer KV/config/topic writes (100, 102, 216, 217, 318), broker
/// write permission (205, 327) and the 5.x user/ACL management codes (3001..=3010).
pub fn is_admin_code(code: i32) -> bool {
    matches!(
        code,
        RequestCode::UPDATE_AND_CREATE_TOPIC
            | RequestCode::UPDATE_AND_CREATE_TOPIC_LIST
            | RequestCode::UPDATE_BROKER_CONFIG
            | RequestCode::DELETE_TOPIC_IN_BROKER
            | RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
            | RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST
            | RequestCode::DELETE_SUBSCRIPTIONGROUP
            | RequestCode::UPDATE_AND_CREATE_STATIC_TOPIC
            | RequestCode::PUT_KV_CONFIG
            | RequestCode::DELETE_KV_CONFIG
            | RequestCode::DELETE_TOPIC_IN_NAMESRV
            | RequestCode::REGISTER_TOPIC_IN_NAMESRV
            | RequestCode::UPDATE_NAMESRV_CONFIG
            | RequestCode::WIPE_WRITE_PERM_OF_BROKER
            | RequestCode::ADD_WRITE_PERM_OF_BROKER
            // UPDATE_AND_CREATE_ACL_CONFIG, DELETE_ACL_CONFIG, UPDATE_GLOBAL_WHITE_ADDRS_CONFIG
            | 50..=52
            | 3001..=3010
    )
}

/// A resource a request touches. Groups are keyed as their retry topic, like Java does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Topic(String),
    Group(String),
}

impl Resource {
    /// A topic name; retry topics stand for their group.
    fn topic(name: &str) -> Resource {
        // A group `g` is checked as the resource `%RETRY%g` (Java `MixAll.getRetryTopic`).
        match crate::protocol::topic::retry_topic_group(name) {
            Some(group) => Resource::Group(group.to_owned()),
            None => Resource::Topic(name.to_owned()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Resource::Topic(t) => format!("topic={t}"),
            Resource::Group(g) => format!("group={g}"),
        }
    }
}

/// What a request needs (Java `PlainAccessResource.parse`).
fn needed_resources(cmd: &RemotingCommand) -> Result<Vec<(Resource, Permission)>, AclDenied> {
    let ext = &cmd.ext_fields;
    let mut out = Vec::new();
    // Absent or empty names are not checked (Java skips nulls; an empty group is what the C++
    // producer puts into UNREGISTER_CLIENT).
    let topic = |out: &mut Vec<_>, name: Option<&str>, perm| {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            out.push((Resource::topic(n), perm));
        }
    };
    let group = |out: &mut Vec<_>, name: Option<&str>| {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            out.push((Resource::Group(n.to_owned()), Permission::SUB));
        }
    };
    match cmd.code {
        // A send to a retry topic is a consumer sending back: it needs SUB on that group (Java
        // looks the group up in another header field; the retry topic names the same group).
        RequestCode::SEND_MESSAGE | RequestCode::SEND_REPLY_MESSAGE => {
            let t = ext.get("topic");
            let perm = send_perm(t);
            topic(&mut out, t, perm);
        }
        RequestCode::SEND_MESSAGE_V2
        | RequestCode::SEND_BATCH_MESSAGE
        | RequestCode::SEND_REPLY_MESSAGE_V2 => {
            let t = ext.get("b");
            let perm = send_perm(t);
            topic(&mut out, t, perm);
        }
        RequestCode::CONSUMER_SEND_MSG_BACK => group(&mut out, ext.get("group")),
        RequestCode::PULL_MESSAGE | RequestCode::LITE_PULL_MESSAGE => {
            topic(&mut out, ext.get("topic"), Permission::SUB);
            group(&mut out, ext.get("consumerGroup"));
        }
        RequestCode::QUERY_MESSAGE => topic(&mut out, ext.get("topic"), Permission::SUB),
        RequestCode::UPDATE_CONSUMER_OFFSET | RequestCode::QUERY_CONSUMER_OFFSET => {
            group(&mut out, ext.get("consumerGroup"));
            topic(&mut out, ext.get("topic"), Permission::SUB);
        }
        RequestCode::UNREGISTER_CLIENT | RequestCode::GET_CONSUMER_LIST_BY_GROUP => {
            group(&mut out, ext.get("consumerGroup"));
        }
        RequestCode::HEART_BEAT => {
            let hb = HeartbeatData::from_json(&cmd.body)
                .map_err(|e| AclDenied::new(format!("Cannot read the heartbeat body: {e}")))?;
            for consumer in &hb.consumer_data_set {
                group(&mut out, Some(&consumer.group_name));
                for sub in &consumer.subscription_data_set {
                    topic(&mut out, Some(&sub.topic), Permission::SUB);
                }
            }
        }
        RequestCode::LOCK_BATCH_MQ | RequestCode::UNLOCK_BATCH_MQ => {
            let body = LockBatchRequestBody::from_json(&cmd.body)
                .map_err(|e| AclDenied::new(format!("Cannot read the lock request body: {e}")))?;
            group(&mut out, Some(&body.consumer_group));
        }
        _ => {}
    }
    Ok(out)
}

fn send_perm(topic: Option<&str>) -> Permission {
    match topic {
        Some(t) if crate::protocol::topic::is_retry_topic(t) => Permission::SUB,
        _ => Permission::PUB,
    }
}

/// One compiled white-list pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AddressPattern {
    Any,
    V4([Vec<(u8, u8)>; 4]),
    Exact(IpAddr),
}

impl AddressPattern {
    fn parse(s: &str) -> Result<AddressPattern, AclConfigError> {
        let s = s.trim();
        let bad = || AclConfigError(format!("bad white-list address pattern {s:?}"));
        if s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*" {
            return Ok(AddressPattern::Any);
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AddressPattern::Exact(canonical_ip(ip)));
        }
        let parts: Vec<&str> = s.split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            return Err(bad());
        }
        if parts.len() < 4 && parts.last() != Some(&"*") {
            return Err(bad());
        }
        let mut segs: [Vec<(u8, u8)>; 4] = Default::default();
        for (i, seg) in segs.iter_mut().enumerate() {
            let part = parts.get(i).copied().unwrap_or("*");
            *seg = parse_segment(part).ok_or_else(bad)?;
        }
        Ok(AddressPattern::V4(segs))
    }

    fn matches(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (AddressPattern::Any, _) => true,
            (AddressPattern::Exact(want), ip) => *want == ip,
            (AddressPattern::V4(segs), IpAddr::V4(v4)) => segs
                .iter()
                .zip(v4.octets())
                .all(|(ranges, o)| ranges.iter().any(|&(lo, hi)| lo <= o && o <= hi)),
            (AddressPattern::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// `*`, `n`, `a-b` or `{a,b,c}` as inclusive ranges.
fn parse_segment(part: &str) -> Option<Vec<(u8, u8)>> {
    let part = part.trim();
    if part == "*" {
        return Some(vec![(0, 255)]);
    }
    if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        return inner
            .split(',')
            .map(|n| n.trim().parse::<u8>().ok().map(|n| (n, n)))
            .collect();
    }
    if let Some((lo, hi)) = part.split_once('-') {
        let (lo, hi) = (lo.trim().parse::<u8>().ok()?, hi.trim().parse::<u8>().ok()?);
        return (lo <= hi).then(|| vec![(lo, hi)]);
    }
    part.parse::<u8>().ok().map(|n| vec![(n, n)])
}

/// IPv4-mapped IPv6 peers (dual-stack sockets) are matched as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug)]
struct Account {
    secret_key: String,
    white: Option<AddressPattern>,
    admin: bool,
    default_topic: Permission,
    default_group: Permission,
    topics: HashMap<String, Permission>,
    groups: HashMap<String, Permission>,
}

/// Enforces an [`AclConfig`] on incoming requests. Cheap to share (`Arc`) between connections.
///
/// The check follows Apache 4.x `PlainPermissionManager.validate`, in this order:
/// 1. a peer matching a global white-list pattern is accepted;
/// 2. a request without `AccessKey` is refused (`No accessKey is configured`), as is an unknown
///    key (`No acl config for <ak>`);
/// 3. a peer matching the account's `whiteRemoteAddress` is accepted;
/// 4. the signature must match (`Check signature failed for accessKey=<ak>`);
/// 5. admin request codes ([`is_admin_code`]) need an admin account;
/// 6. every topic and group the request touches needs the permission: `PUB` on the topic of a
///    send, `SUB` on topic and group for pulls, offsets, heartbeats, consumer lists, locks, and
///    `SUB` on the group for send-backs and sends to its retry topic. Explicit entries win over
///    the defaults; an admin account without explicit entries reaches everything.
///
/// See the [module documentation](self) for an example.
#[derive(Debug)]
pub struct AclValidator {
    global_white: Vec<AddressPattern>,
    accounts: HashMap<String, Account>,
}

impl AclValidator {
    /// Compiles `config`.
    ///
    /// # Errors
    ///
    /// An unknown permission name, a malformed `name=PERM` entry or white-list pattern, or two
    /// accounts with the same access key. (Apache silently treats an unknown permission as
    /// `DENY`; a typo in an access-control file is better reported.)
    pub fn new(config: &AclConfig) -> Result<AclValidator, AclConfigError> {
        let global_white = config
            .global_white_remote_addresses
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| AddressPattern::parse(p))
            .collect::<Result<_, _>>()?;
        let mut accounts = HashMap::new();
        for a in &config.accounts {
            if a.access_key.is_empty() {
                return Err(AclConfigError("an account has an empty accessKey".into()));
            }
            let perm = |p: &Option<String>, what: &str| match p {
                None => Ok(Permission::DENY),
                Some(s) => Permission::parse(s)
                    .ok_or_else(|| AclConfigError(format!("{}: bad {what} {s:?}", a.access_key))),
            };
            let table =
                |entries: &[String]| -> Result<HashMap<String, Permission>, AclConfigError> {
                    entries
                        .iter()
                        .map(|e| {
                            let (name, p) = e.rsplit_once('=').ok_or_else(|| {
                                AclConfigError(format!("{}: bad entry {e:?}", a.access_key))
                            })?;
                            let p = Permission::parse(p).ok_or_else(|| {
                                AclConfigError(format!("{}: bad permission in {e:?}", a.access_key))
                            })?;
                            Ok((name.trim().to_owned(), p))
                        })
                        .collect()
                };
            let account = Account {
                secret_key: a.secret_key.clone(),
                white: match a.white_remote_address.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(p) => Some(AddressPattern::parse(p)?),
                },
                admin: a.admin,
                default_topic: perm(&a.default_topic_perm, "defaultTopicPerm")?,
                default_group: perm(&a.default_group_perm, "defaultGroupPerm")?,
                topics: table(&a.topic_perms)?,
                groups: table(&a.group_perms)?,
            };
            if accounts.insert(a.access_key.clone(), account).is_some() {
                return Err(AclConfigError(format!(
                    "accessKey {} is configured twice",
                    a.access_key
                )));
            }
        }
        Ok(AclValidator {
            global_white,
            accounts,
        })
    }

    /// Checks `cmd`, received from `peer`.
    ///
    /// # Errors
    ///
    /// [`AclDenied`] with the reason; answer with [`AclDenied::to_response`] and do not process
    /// the request.
    pub fn check(&self, cmd: &RemotingCommand, peer: IpAddr) -> Result<(), AclDenied> {
        let peer = canonical_ip(peer);
        if self.global_white.iter().any(|p| p.matches(peer)) {
            return Ok(());
        }
        let Some(ak) = cmd.ext_fields.get(ACCESS_KEY) else {
            return Err(AclDenied::new("No accessKey is configured"));
        };
        let Some(account) = self.accounts.get(ak) else {
            return Err(AclDenied::new(format!("No acl config for {ak}")));
        };
        if account.white.as_ref().is_some_and(|p| p.matches(peer)) {
            return Ok(());
        }
        if !verify_signature(cmd, &account.secret_key) {
            return Err(AclDenied::new(format!(
                "Check signature failed for accessKey={ak}"
            )));
        }
        if is_admin_code(cmd.code) && !account.admin {
            return Err(AclDenied::new(format!(
                "Need admin permission for request code={}, but accessKey={ak} is not",
                cmd.code
            )));
        }
        let needed = needed_resources(cmd)?;
        if account.admin && account.topics.is_empty() && account.groups.is_empty() {
            return Ok(());
        }
        for (resource, perm) in needed {
            let (explicit, default) = match &resource {
                Resource::Topic(t) => (account.topics.get(t), account.default_topic),
                Resource::Group(g) => (account.groups.get(g), account.default_group),
            };
            match explicit {
                Some(owned) if !owned.allows(perm) => {
                    return Err(AclDenied::new(format!(
                        "No permission for {}",
                        resource.describe()
                    )))
                }
                Some(_) => {}
                None if !default.allows(perm) => {
                    return Err(AclDenied::new(format!(
                        "No default permission for {}",
                        resource.describe()
                    )))
                }
                None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn java_order_is_utf16_order() {
        // U+FF5E (BMP, above the surrogates) sorts after U+1F600 in UTF-16, before it in UTF-8.
        assert_eq!(java_string_cmp("\u{1F600}", "\u{FF5E}"), Ordering::Less);
        assert_eq!(java_string_cmp("AccessKey", "a"), Ordering::Less);
        assert_eq!(java_string_cmp("b", "a"), Ordering::Greater);
    }

    #[test]
    fn address_patterns() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let p = |s: &str| AddressPattern::parse(s).unwrap();
        assert!(p("*").matches(ip("1.2.3.4")));
        assert!(p("192.168.0.{1,2}").matches(ip("192.168.0.2")));
        assert!(!p("192.168.0.{1,2}").matches(ip("192.168.0.3")));
        assert!(p("192.168.1-3.*").matches(ip("192.168.2.200")));
        assert!(!p("192.168.1-3.*").matches(ip("192.168.4.1")));
        assert!(p("10.10.*").matches(ip("10.10.103.9")));
        assert!(p("127.0.0.1").matches(canonical_ip(ip("::ffff:127.0.0.1"))));
        assert!(!p("127.0.0.1").matches(ip("127.0.0.2")));
        assert!(p("::1").matches(ip("::1")));
        for bad in [
            "300.1.1.1",
            "1.2.3",
            "a.b.c.d",
            "1.2.3.4.5",
            "1.2.5-3.4",
            "{1,x}.1.1.1",
        ] {
            assert!(AddressPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permission_rules() {
        let ps = Permission::PUB.union(Permission::SUB);
        assert!(ps.allows(Permission::PUB) && ps.allows(Permission::SUB));
        assert!(!Permission::PUB.allows(Permission::SUB));
        assert!(Permission::SUB.allows(Permission::ANY));
        assert!(!Permission::DENY.allows(Permission::ANY));
        assert!(!Permission::DENY
            .union(Permission::PUB)
            .allows(Permission::PUB));
    }
}
