//! Opening a consumer's side of the client and closing it again, the same steps for every
//! queue-owning consumer; the consumer's own lifecycle state stays with it.

use std::sync::Arc;
use std::time::Duration;

use rocketmq_rs_remoting::protocol::body::SubscriptionData;

use crate::consumer::backend::{ConsumerEvents, HeartbeatSource};
use crate::consumer::ExpressionType;
use crate::error::{Error, Result};

use super::ConsumerCore;

impl<X: Send + 'static> ConsumerCore<X> {
    /// Opens the consumer's side of the client: starts the client, loads the offsets, registers
    /// the group with `hooks` for heartbeats and broker events.
    ///
    /// # Errors
    ///
    /// Client start and offset load errors; [`Error::Config`] if the group is registered in
    /// this client already.
    pub(crate) async fn open<H: HeartbeatSource + ConsumerEvents>(&self, hooks: H) -> Result<()> {
        self.backend.start().await?;
        self.store.load().await?;
        let hooks = Arc::new(hooks);
        if !self
            .backend
            .register_consumer(&self.group, hooks.clone(), hooks)
        {
            return Err(Error::Config(format!(
                "consumer group `{}` is already registered in this client",
                self.group
            )));
        }
        Ok(())
    }

    /// Java `checkClientInBroker`: every non-tag subscription is shown to a broker of its
    /// topic first (CHECK_CLIENT_CONFIG), so a broker without SQL92 filtering, or an
    /// expression that does not compile, fails the start with the broker's answer.
    pub(crate) async fn check_in_broker(&self) -> Result<()> {
        let subs: Vec<SubscriptionData> = self
            .subs()
            .iter()
            .filter(|(_, s)| s.selector.expression_type() != ExpressionType::Tag)
            .map(|(topic, s)| s.selector.to_subscription_data(topic, s.version))
            .collect();
        for sub in subs {
            self.backend.check_client_config(&self.group, sub).await?;
        }
        Ok(())
    }

    /// Makes the subscriptions known: the routes of the subscribed topics first, so the
    /// heartbeat that follows reaches every broker serving them.
    ///
    /// # Errors
    ///
    /// [`Error::AccessDenied`] when every broker reached refused the heartbeat, one of them by
    /// its ACL (wrong credentials, or no permission for the group or a subscribed topic).
    pub(crate) async fn announce(&self) -> Result<()> {
        for topic in self.topics() {
            if let Err(e) = self.backend.subscribe_queues(&topic).await {
                tracing::debug!(group = %self.group, %topic, error = %e, "no route yet");
            }
        }
        self.backend.heartbeat_checked().await
    }

    /// Shutdown, first step: the services stop (no more rebalance rounds), then every pull
    /// loop (each given up to `grace`).
    pub(crate) async fn stop_pulling(&self, grace: Duration) {
        self.services.shutdown(grace).await;
        for e in self.queues().values() {
            e.stop.trigger();
        }
        self.pulls.shutdown(grace).await;
    }

    /// Shutdown, last step: every owned queue is dropped, the group unregistered from the
    /// brokers and the client closed (if the consumer owns it).
    pub(crate) async fn close(&self) {
        for e in self.queues().values() {
            e.pq.set_dropped();
        }
        self.backend.unregister_consumer(&self.group).await;
        self.backend.close().await;
    }
}
