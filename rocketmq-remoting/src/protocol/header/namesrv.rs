//! Headers of NameServer commands (docs/protocol/route.md §1; docs/protocol/namesrv.md §4–§7).

use super::command_header;

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105) request (docs/protocol/route.md §1).
    pub struct GetRouteInfoRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// 5.x: answer with standard JSON whatever the request version.
        accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly", optional;
    }
}

impl GetRouteInfoRequestHeader {
    /// A request for `topic`'s route.
    pub fn new(topic: impl Into<String>) -> Self {
        GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: None,
        }
    }
}

command_header! {
    /// REGISTER_BROKER (103) request (docs/protocol/namesrv.md §4).
    pub struct RegisterBrokerRequestHeader {
        /// Broker name.
        broker_name: String = "brokerName", required;
        /// `ip:port` for clients.
        broker_addr: String = "brokerAddr", required;
        /// Cluster name.
        cluster_name: String = "clusterName", required;
        /// `ip:haPort`.
        ha_server_addr: String = "haServerAddr", required;
        /// 0 = master.
        broker_id: i64 = "brokerId", required;
        /// Expiry override (slave-acting-master mode).
        heartbeat_timeout_millis: Option<i64> = "heartbeatTimeoutMillis", optional;
        /// 5.x.
        enable_acting_master: Option<bool> = "enableActingMaster", optional;
        /// The body is zlib-compressed (Java default false).
        compressed: bool = "compressed", default false;
        /// CRC32 of the body masked with 0x7FFFFFFF; 0 = don't check (Java default 0).
        body_crc32: i32 = "bodyCrc32", default 0;
        /// 5.x zone name.
        zone_name: Option<String> = "__ZONE_NAME", optional;
    }
}

command_header! {
    /// Response to REGISTER_BROKER.
    #[derive(Default)]
    pub struct RegisterBrokerResponseHeader {
        /// Master's HA address (slaves only).
        ha_server_addr: Option<String> = "haServerAddr", optional;
        /// Master's address (slaves only).
        master_addr: Option<String> = "masterAddr", optional;
    }
}

command_header! {
    /// UNREGISTER_BROKER (104) request: `UnRegisterBrokerRequestHeader` (docs/protocol/namesrv.md §5).
    pub struct UnRegisterBrokerRequestHeader {
        /// Broker name.
        broker_name: String = "brokerName", required;
        /// Broker address.
        broker_addr: String = "brokerAddr", required;
        /// Cluster name.
        cluster_name: String = "clusterName", required;
        /// Broker id.
        broker_id: i64 = "brokerId", required;
    }
}

command_header! {
    /// QUERY_DATA_VERSION (322) request (docs/protocol/namesrv.md §6).
    pub struct QueryDataVersionRequestHeader {
        /// Broker name.
        broker_name: String = "brokerName", required;
        /// Broker address.
        broker_addr: String = "brokerAddr", required;
        /// Cluster name.
        cluster_name: String = "clusterName", required;
        /// Broker id.
        broker_id: i64 = "brokerId", required;
    }
}

command_header! {
    /// Response to QUERY_DATA_VERSION.
    pub struct QueryDataVersionResponseHeader {
        /// The broker's data version differs from the stored one.
        changed: bool = "changed", required;
    }
}

command_header! {
    /// BROKER_HEARTBEAT (904) request (docs/protocol/namesrv.md §6).
    pub struct BrokerHeartbeatRequestHeader {
        /// Cluster name.
        cluster_name: String = "clusterName", required;
        /// Broker address.
        broker_addr: String = "brokerAddr", required;
        /// Broker name.
        broker_name: String = "brokerName", required;
        /// Broker id.
        broker_id: Option<i64> = "brokerId", optional;
        /// Controller epoch.
        epoch: Option<i32> = "epoch", optional;
        /// Max commit-log offset.
        max_offset: Option<i64> = "maxOffset", optional;
        /// Confirmed offset.
        confirm_offset: Option<i64> = "confirmOffset", optional;
        /// Liveness timeout (Java's spelling).
        heartbeat_timeout_mills: Option<i64> = "heartbeatTimeoutMills", optional;
        /// Election priority.
        election_priority: Option<i32> = "electionPriority", optional;
    }
}

command_header! {
    /// PUT_KV_CONFIG (100) request (docs/protocol/namesrv.md §7).
    pub struct PutKVConfigRequestHeader {
        /// Namespace.
        namespace: String = "namespace", required;
        /// Key.
        key: String = "key", required;
        /// Value.
        value: String = "value", required;
    }
}

command_header! {
    /// GET_KV_CONFIG (101) request.
    pub struct GetKVConfigRequestHeader {
        /// Namespace.
        namespace: String = "namespace", required;
        /// Key.
        key: String = "key", required;
    }
}

command_header! {
    /// Response to GET_KV_CONFIG.
    #[derive(Default)]
    pub struct GetKVConfigResponseHeader {
        /// The value.
        value: Option<String> = "value", optional;
    }
}

command_header! {
    /// DELETE_KV_CONFIG (102) request.
    pub struct DeleteKVConfigRequestHeader {
        /// Namespace.
        namespace: String = "namespace", required;
        /// Key.
        key: String = "key", required;
    }
}

command_header! {
    /// GET_KVLIST_BY_NAMESPACE (219) request.
    pub struct GetKVListByNamespaceRequestHeader {
        /// Namespace.
        namespace: String = "namespace", required;
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV (216) request: `DeleteTopicFromNamesrvRequestHeader`.
    pub struct DeleteTopicFromNamesrvRequestHeader {
        /// Topic.
        topic: String = "topic", required;
        /// Restrict to one cluster.
        cluster_name: Option<String> = "clusterName", optional;
    }
}
