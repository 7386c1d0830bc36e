//! Namespaces, retry and dead-letter topic names (Java `NamespaceUtil`, `MixAll`).
//!
//! A namespace isolates resources on a shared cluster by prefixing topic and group names with
//! `<namespace>%`. Retry (`%RETRY%`) and dead-letter (`%DLQ%`) prefixes stay outermost:
//! group `g` in namespace `ns` has the retry topic `%RETRY%ns%g`. System topics and system
//! groups are never wrapped.

/// Retry and dead-letter topic naming (Java `MixAll`), shared with the broker.
///
/// ```
/// assert_eq!(rocketmq_rs_client::util::retry_topic("cg"), "%RETRY%cg");
/// assert_eq!(rocketmq_rs_client::util::dlq_topic("cg"), "%DLQ%cg");
/// ```
pub use rocketmq_rs_remoting::protocol::topic::{
    dlq_topic, is_dlq_topic, is_retry_topic, retry_topic, DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
};

/// Separates a namespace from the resource name.
pub const NAMESPACE_SEPARATOR: char = '%';
/// Prefix of system topics (`TopicValidator.SYSTEM_TOPIC_PREFIX`).
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// Prefix of system consumer groups (`MixAll.CID_RMQ_SYS_PREFIX`).
pub const SYSTEM_GROUP_PREFIX: &str = "CID_RMQ_SYS_";

/// Topics Java treats as system topics (`TopicValidator` system topic set).
pub const SYSTEM_TOPICS: &[&str] = &[
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
    "CHECKPOINT_TOPIC",
];

/// Whether `resource` is a system topic or a system consumer group; those are never wrapped.
///
/// ```
/// use rocketmq_rs_client::util::namespace::is_system_resource;
/// assert!(is_system_resource("TBW102"));
/// assert!(is_system_resource("rmq_sys_anything"));
/// assert!(is_system_resource("CID_RMQ_SYS_x"));
/// assert!(!is_system_resource("TopicTest"));
/// ```
pub fn is_system_resource(resource: &str) -> bool {
    !resource.is_empty()
        && (SYSTEM_TOPICS.contains(&resource)
            || resource.starts_with(SYSTEM_TOPIC_PREFIX)
            || resource.starts_with(SYSTEM_GROUP_PREFIX))
}

/// Strips a leading `%RETRY%` or `%DLQ%` (Java `withOutRetryAndDLQ`).
pub fn without_retry_and_dlq(resource: &str) -> &str {
    resource
        .strip_prefix(RETRY_GROUP_TOPIC_PREFIX)
        .or_else(|| resource.strip_prefix(DLQ_GROUP_TOPIC_PREFIX))
        .unwrap_or(resource)
}

/// Whether `resource` already carries `namespace` (after any retry/DLQ prefix).
pub fn is_already_with_namespace(resource: &str, namespace: &str) -> bool {
    if namespace.is_empty() || resource.is_empty() || is_system_resource(resource) {
        return false;
    }
    let bare = without_retry_and_dlq(resource);
    bare.len() > namespace.len()
        && bare.starts_with(namespace)
        && bare[namespace.len()..].starts_with(NAMESPACE_SEPARATOR)
}

/// Adds `namespace` to a topic or group name (Java `NamespaceUtil.wrapNamespace`).
///
/// Returns the input unchanged when the namespace or resource is empty, the resource is a
/// system resource, or it already carries this namespace. Retry/DLQ prefixes stay in front.
///
/// ```
/// use rocketmq_rs_client::util::wrap;
///
/// assert_eq!(wrap("ns", "TopicTest"), "ns%TopicTest");
/// assert_eq!(wrap("ns", "%RETRY%cg"), "%RETRY%ns%cg");
/// assert_eq!(wrap("ns", "%DLQ%cg"), "%DLQ%ns%cg");
/// assert_eq!(wrap("ns", "ns%TopicTest"), "ns%TopicTest");
/// assert_eq!(wrap("ns", "TBW102"), "TBW102");
/// assert_eq!(wrap("", "TopicTest"), "TopicTest");
/// ```
pub fn wrap(namespace: &str, resource: &str) -> String {
    if namespace.is_empty()
        || resource.is_empty()
        || is_system_resource(resource)
        || is_already_with_namespace(resource, namespace)
    {
        return resource.to_string();
    }
    let prefix = retry_dlq_prefix(resource);
    let bare = without_retry_and_dlq(resource);
    let mut out = String::with_capacity(resource.len() + namespace.len() + 1);
    out.push_str(prefix);
    out.push_str(namespace);
    out.push(NAMESPACE_SEPARATOR);
    out.push_str(bare);
    out
}

/// Removes any namespace from a topic or group name (Java
/// `NamespaceUtil.withoutNamespace(String)`): everything up to the first `%` after the
/// retry/DLQ prefix, provided that `%` is not the first character.
///
/// ```
/// use rocketmq_rs_client::util::unwrap;
///
/// assert_eq!(unwrap("ns%TopicTest"), "TopicTest");
/// assert_eq!(unwrap("%RETRY%ns%cg"), "%RETRY%cg");
/// assert_eq!(unwrap("%DLQ%ns%cg"), "%DLQ%cg");
/// assert_eq!(unwrap("TopicTest"), "TopicTest");
/// assert_eq!(unwrap("%RETRY%cg"), "%RETRY%cg");
/// ```
pub fn unwrap(resource: &str) -> String {
    if resource.is_empty() || is_system_resource(resource) {
        return resource.to_string();
    }
    let bare = without_retry_and_dlq(resource);
    match bare.find(NAMESPACE_SEPARATOR) {
        Some(i) if i > 0 => {
            let mut out = String::from(retry_dlq_prefix(resource));
            out.push_str(&bare[i + 1..]);
            out
        }
        _ => resource.to_string(),
    }
}

/// Removes `namespace` from `resource` only if it carries exactly that namespace (Java
/// `NamespaceUtil.withoutNamespace(String, String)`).
///
/// ```
/// use rocketmq_rs_client::util::namespace::unwrap_namespace;
///
/// assert_eq!(unwrap_namespace("ns%TopicTest", "ns"), "TopicTest");
/// assert_eq!(unwrap_namespace("other%TopicTest", "ns"), "other%TopicTest");
/// ```
pub fn unwrap_namespace(resource: &str, namespace: &str) -> String {
    if resource.is_empty() || namespace.is_empty() {
        return resource.to_string();
    }
    let bare = without_retry_and_dlq(resource);
    if bare.starts_with(namespace) && bare[namespace.len()..].starts_with(NAMESPACE_SEPARATOR) {
        unwrap(resource)
    } else {
        resource.to_string()
    }
}

/// The namespace a resource carries, or `""` (Java `getNamespaceFromResource`).
///
/// ```
/// use rocketmq_rs_client::util::namespace::namespace_of;
/// assert_eq!(namespace_of("%RETRY%ns%cg"), "ns");
/// assert_eq!(namespace_of("cg"), "");
/// ```
pub fn namespace_of(resource: &str) -> &str {
    if resource.is_empty() || is_system_resource(resource) {
        return "";
    }
    let bare = without_retry_and_dlq(resource);
    match bare.find(NAMESPACE_SEPARATOR) {
        Some(i) if i > 0 => &bare[..i],
        _ => "",
    }
}

/// The retry topic of `group` within `namespace`: `%RETRY%<namespace>%<group>` (Java
/// `wrapNamespaceAndRetry`).
///
/// ```
/// use rocketmq_rs_client::util::namespace::wrap_retry;
/// assert_eq!(wrap_retry("ns", "cg"), "%RETRY%ns%cg");
/// assert_eq!(wrap_retry("", "cg"), "%RETRY%cg");
/// ```
pub fn wrap_retry(namespace: &str, group: &str) -> String {
    retry_topic(&wrap(namespace, group))
}

fn retry_dlq_prefix(resource: &str) -> &'static str {
    if is_retry_topic(resource) {
        RETRY_GROUP_TOPIC_PREFIX
    } else if is_dlq_topic(resource) {
        DLQ_GROUP_TOPIC_PREFIX
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        for r in ["TopicTest", "%RETRY%cg", "%DLQ%cg", "a%b"] {
            let w = wrap("ns", r);
            assert!(is_already_with_namespace(&w, "ns"), "{w}");
            assert_eq!(unwrap_namespace(&w, "ns"), r, "{w}");
            assert_eq!(wrap("ns", &w), w, "wrap is idempotent");
        }
    }

    #[test]
    fn system_resources_are_untouched() {
        for r in SYSTEM_TOPICS {
            assert_eq!(wrap("ns", r), *r);
            assert_eq!(unwrap(r), *r);
        }
        assert_eq!(wrap("ns", "rmq_sys_x"), "rmq_sys_x");
        assert_eq!(wrap("ns", "CID_RMQ_SYS_g"), "CID_RMQ_SYS_g");
    }

    #[test]
    fn namespace_prefix_must_end_at_separator() {
        // "nsx%T" does not carry namespace "ns".
        assert!(!is_already_with_namespace("nsx%T", "ns"));
        assert_eq!(wrap("ns", "nsx%T"), "ns%nsx%T");
        assert_eq!(unwrap_namespace("nsx%T", "ns"), "nsx%T");
        // A leading '%' is not a namespace separator.
        assert_eq!(unwrap("%abc"), "%abc");
        assert_eq!(namespace_of("%RETRY%%cg"), "");
        assert_eq!(unwrap(""), "");
        assert_eq!(wrap("ns", ""), "");
    }
}
