//! Registration with the NameServers ([`Registrar`], Java `BrokerOuterAPI.registerBrokerAll`):
//! REGISTER_BROKER to every configured NameServer at start, periodically and whenever the
//! topic table changes; UNREGISTER_BROKER on clean shutdown.
//!
//! **ACL.** When the NameServers enforce ACL 1.0 (mini-namesrv's `NamesrvConfig::acl`), the
//! broker signs every request it sends them with its own credentials
//! ([`BrokerConfig::namesrv_credentials`](crate::BrokerConfig::namesrv_credentials): config
//! keys `accessKey` / `secretKey` / `securityToken`, flags `--access-key` / `--secret-key` /
//! `--security-token`), as Apache brokers do with an `AclClientRPCHook` on their outgoing
//! client. A refused registration (NO_PERMISSION) is logged at error level with the
//! NameServer's reason; the broker keeps retrying every registration period, so fixing the
//! ACL on the NameServer side is enough.
//!
//! ```no_run
//! # async fn demo(rt: std::sync::Arc<dyn rocketmq_rs_remoting::rt::Runtime>) {
//! use rocketmq_rs_mini_broker::namesrv_registration::{BrokerIdentity, Registrar};
//! use rocketmq_rs_remoting::acl::AclCredentials;
//!
//! let id = BrokerIdentity {
//!     cluster: "DefaultCluster".into(),
//!     broker_name: "broker-a".into(),
//!     broker_id: 0,
//!     broker_addr: "10.0.0.5:10911".into(),
//!     ha_server_addr: "10.0.0.5:10912".into(),
//! };
//! let registrar = Registrar::with_credentials(
//!     rt,
//!     vec!["10.0.0.1:9876".into()],
//!     id,
//!     Some(AclCredentials::new("broker", "12345678")),
//! );
//! let accepted = registrar.register_all(Default::default()).await;
//! # let _ = accepted;
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{join_all, select, Either};
use futures::StreamExt;
use rocketmq_rs_remoting::acl::AclCredentials;
use rocketmq_rs_remoting::protocol::body::{
    JsonBody, RegisterBrokerBody, TopicConfigSerializeWrapper,
};
use rocketmq_rs_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_rs_remoting::protocol::header::{
    RegisterBrokerRequestHeader, UnRegisterBrokerRequestHeader,
};
use rocketmq_rs_remoting::protocol::RemotingCommand;
use rocketmq_rs_remoting::rt::WaitShutdown;
use rocketmq_rs_remoting::transport::{RemotingClient, TransportConfig};
use rocketmq_rs_remoting::util::MutexExt;

use crate::topic_config::TopicConfigManager;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);

/// Identity the broker registers under.
#[derive(Debug, Clone)]
pub struct BrokerIdentity {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id (0 = master).
    pub broker_id: i64,
    /// Address clients use.
    pub broker_addr: String,
    /// Replication address (Java `haServerAddr`: advertised IP, HA port) the NameServer hands
    /// to slaves; the broker address when there is none.
    pub ha_server_addr: String,
}

/// Asks a [`Registrar`] for an immediate registration (the topic table changed). Cheap to
/// clone; what the services that change topics hold instead of the registrar itself.
#[derive(Debug, Clone)]
pub struct TopicsChanged(mpsc::UnboundedSender<()>);

impl TopicsChanged {
    /// Asks for an immediate registration. A registrar that has stopped ignores it.
    pub fn notify(&self) {
        let _ = self.0.unbounded_send(());
    }
}

/// Registers the broker with its NameServers.
pub struct Registrar {
    client: RemotingClient,
    namesrv: Vec<String>,
    id: BrokerIdentity,
    trigger_tx: mpsc::UnboundedSender<()>,
    trigger_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    /// Closed while the broker is frozen ([`crate::faults::Faults::freeze`]): the periodic
    /// and triggered registrations wait.
    hold: Arc<crate::faults::HoldGate>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("namesrv", &self.namesrv)
            .field("id", &self.id)
            .finish()
    }
}

impl Registrar {
    /// A registrar for `namesrv` (may be empty: then it does nothing) sending unsigned requests.
    pub fn new(
        rt: Arc<dyn rocketmq_rs_remoting::rt::Runtime>,
        namesrv: Vec<String>,
        id: BrokerIdentity,
    ) -> Self {
        Self::with_credentials(rt, namesrv, id, None)
    }

    /// A registrar that signs every request with `credentials` (ACL 1.0; `None`: unsigned).
    pub fn with_credentials(
        rt: Arc<dyn rocketmq_rs_remoting::rt::Runtime>,
        namesrv: Vec<String>,
        id: BrokerIdentity,
        credentials: Option<AclCredentials>,
    ) -> Self {
        let (trigger_tx, trigger_rx) = mpsc::unbounded();
        let transport = {
            let mut c = TransportConfig::default();
            c.credentials = credentials;
            // Java's broker redials a NameServer on every registration; the default 5 s
            // back-off cap made a restarted NameServer wait up to 5 s past the period.
            c.reconnect_backoff_max = Duration::from_millis(500);
            c
        };
        Registrar {
            client: RemotingClient::new(rt, transport),
            namesrv,
            id,
            trigger_tx,
            trigger_rx: std::sync::Mutex::new(Some(trigger_rx)),
            hold: Arc::default(),
        }
    }

    /// The gate a freeze closes to stop the registrations of [`run`](Self::run).
    pub fn hold_gate(&self) -> Arc<crate::faults::HoldGate> {
        Arc::clone(&self.hold)
    }

    /// Asks for an immediate registration (topic table changed).
    pub fn trigger(&self) {
        let _ = self.trigger_tx.unbounded_send(());
    }

    /// A handle that only triggers registrations, for the services that change topics.
    pub fn notifier(&self) -> TopicsChanged {
        TopicsChanged(self.trigger_tx.clone())
    }

    /// Registers the topic table with every NameServer in parallel; returns how many accepted.
    pub async fn register_all(&self, wrapper: TopicConfigSerializeWrapper) -> usize {
        let body = RegisterBrokerBody {
            topic_config_serialize_wrapper: wrapper,
            filter_server_list: Vec::new(),
        }
        .to_json();
        let crc = rocketmq_rs_remoting::protocol::message::body_crc(&body) as i32;
        let futs = self.namesrv.iter().map(|addr| {
            let h = RegisterBrokerRequestHeader {
                broker_name: self.id.broker_name.clone(),
                broker_addr: self.id.broker_addr.clone(),
                cluster_name: self.id.cluster.clone(),
                ha_server_addr: self.id.ha_server_addr.clone(),
                broker_id: self.id.broker_id,
                heartbeat_timeout_millis: None,
                enable_acting_master: None,
                compressed: false,
                body_crc32: crc,
                zone_name: None,
            };
            let cmd = RemotingCommand::request(RequestCode::REGISTER_BROKER)
                .with_header(&h)
                .with_body(body.clone());
            async move {
                match self.client.invoke(addr, cmd, REQUEST_TIMEOUT).await {
                    Ok(r) if r.code == ResponseCode::SUCCESS => true,
                    Ok(r) => {
                        log_refusal(addr, "register", &r, self.signed());
                        false
                    }
                    Err(e) => {
                        tracing::warn!(namesrv = %addr, error = %e, "register broker failed");
                        false
                    }
                }
            }
        });
        join_all(futs).await.into_iter().filter(|ok| *ok).count()
    }

    /// Sends UNREGISTER_BROKER to every NameServer.
    pub async fn unregister_all(&self) {
        let futs = self.namesrv.iter().map(|addr| {
            let h = UnRegisterBrokerRequestHeader {
                broker_name: self.id.broker_name.clone(),
                broker_addr: self.id.broker_addr.clone(),
                cluster_name: self.id.cluster.clone(),
                broker_id: self.id.broker_id,
            };
            let cmd = RemotingCommand::request(RequestCode::UNREGISTER_BROKER).with_header(&h);
            async move {
                match self.client.invoke(addr, cmd, Duration::from_secs(3)).await {
                    Ok(r) if r.code == ResponseCode::SUCCESS => {}
                    Ok(r) => log_refusal(addr, "unregister", &r, self.signed()),
                    Err(e) => {
                        tracing::warn!(namesrv = %addr, error = %e, "unregister broker failed")
                    }
                }
            }
        });
        join_all(futs).await;
    }

    /// Runs until `stop`: registers at once, then every `period` and on every trigger.
    pub async fn run(
        self: Arc<Self>,
        topics: Arc<TopicConfigManager>,
        period: Duration,
        sleep: impl Fn(Duration) -> futures::future::BoxFuture<'static, ()>,
        mut stop: WaitShutdown,
    ) {
        if self.namesrv.is_empty() {
            return;
        }
        let Some(mut rx) = self.trigger_rx.lock_unpoisoned().take() else {
            return;
        };
        loop {
            if self.hold.is_closed() {
                // Frozen: nothing goes out until thawed (then at once).
                match select(std::pin::pin!(self.hold.opened()), &mut stop).await {
                    Either::Left(_) => {}
                    Either::Right(_) => return,
                }
            }
            // Coalesce triggers queued meanwhile into this registration.
            while rx.try_recv().is_ok() {}
            self.register_all(topics.wrapper()).await;
            let wake = select(rx.next(), sleep(period));
            match select(wake, &mut stop).await {
                Either::Left(_) => {}
                Either::Right(_) => return,
            }
        }
    }

    /// Whether requests are signed (ACL credentials configured).
    pub fn signed(&self) -> bool {
        self.client.config().credentials.is_some()
    }

    /// Closes the client connections.
    pub fn close(&self) {
        self.client.shutdown();
    }
}

/// Logs a NameServer's refusal; an ACL refusal is an error an operator must fix (the broker is
/// missing from every route served by that NameServer until then).
fn log_refusal(addr: &str, what: &str, r: &RemotingCommand, signed: bool) {
    let remark = r.remark.as_deref().unwrap_or("");
    if r.code == ResponseCode::NO_PERMISSION {
        let hint = if signed {
            "check the broker's accessKey/secretKey against the NameServer's ACL accounts"
        } else {
            "the NameServer enforces ACL: set the broker's accessKey/secretKey (--access-key/--secret-key)"
        };
        tracing::error!(
            namesrv = %addr,
            code = r.code,
            remark,
            hint,
            "{what} broker refused by the NameServer's ACL: {remark}"
        );
    } else {
        tracing::warn!(namesrv = %addr, code = r.code, remark, "{what} broker refused");
    }
}
