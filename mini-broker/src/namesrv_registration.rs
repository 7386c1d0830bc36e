//! Registration with the NameServers ([`Registrar`], Java `BrokerOuterAPI.registerBrokerAll`):
//! REGISTER_BROKER to every configured NameServer at start, periodically and whenever the
//! topic table changes; UNREGISTER_BROKER on clean shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{join_all, select, Either};
use futures::StreamExt;
use rocketmq_remoting::protocol::body::{
    JsonBody, RegisterBrokerBody, TopicConfigSerializeWrapper,
};
use rocketmq_remoting::protocol::code::{RequestCode, ResponseCode};
use rocketmq_remoting::protocol::header::{
    RegisterBrokerRequestHeader, UnRegisterBrokerRequestHeader,
};
use rocketmq_remoting::protocol::RemotingCommand;
use rocketmq_remoting::rt::WaitShutdown;
use rocketmq_remoting::transport::{RemotingClient, TransportConfig};

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

/// Registers the broker with its NameServers.
pub struct Registrar {
    client: RemotingClient,
    namesrv: Vec<String>,
    id: BrokerIdentity,
    trigger_tx: mpsc::UnboundedSender<()>,
    trigger_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<()>>>,
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
    /// A registrar for `namesrv` (may be empty: then it does nothing).
    pub fn new(
        rt: Arc<dyn rocketmq_remoting::rt::Runtime>,
        namesrv: Vec<String>,
        id: BrokerIdentity,
    ) -> Self {
        let (trigger_tx, trigger_rx) = mpsc::unbounded();
        Registrar {
            client: RemotingClient::new(rt, TransportConfig::default()),
            namesrv,
            id,
            trigger_tx,
            trigger_rx: std::sync::Mutex::new(Some(trigger_rx)),
        }
    }

    /// Asks for an immediate registration (topic table changed).
    pub fn trigger(&self) {
        let _ = self.trigger_tx.unbounded_send(());
    }

    /// Registers the topic table with every NameServer in parallel; returns how many accepted.
    pub async fn register_all(&self, wrapper: TopicConfigSerializeWrapper) -> usize {
        let body = RegisterBrokerBody {
            topic_config_serialize_wrapper: wrapper,
            filter_server_list: Vec::new(),
        }
        .to_json();
        let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
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
                        tracing::warn!(namesrv = %addr, code = r.code, remark = ?r.remark, "register broker refused");
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
                if let Err(e) = self.client.invoke(addr, cmd, Duration::from_secs(3)).await {
                    tracing::warn!(namesrv = %addr, error = %e, "unregister broker failed");
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
        let Some(mut rx) = self
            .trigger_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        loop {
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

    /// Closes the client connections.
    pub fn close(&self) {
        self.client.shutdown();
    }
}
